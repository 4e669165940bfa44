//! Docker `save` archives: `manifest.json` listing each image's config,
//! tags and layer members. Covers the classic layout (`<id>/layer.tar`,
//! `<hex>.json`) and the newer one whose members live in `blobs/sha256/`.

use serde::{Deserialize, Serialize};

use crate::archive::source::Source;
use crate::blobs::read_bounded;
use crate::digest::Digest;
use crate::error::{Error, Result};

/// One image in `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManifestItem {
    pub config: String,
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    pub layers: Vec<String>,
}

/// What a Docker archive says about one image.
pub struct DockerImage {
    pub config: Vec<u8>,
    /// The config digest the member name promises, if it names one.
    pub config_digest: Option<Digest>,
    pub tags: Vec<String>,
    /// Member name of each layer and the blob digest its name promises.
    pub layers: Vec<(String, Option<Digest>)>,
}

/// The 64-hex digest a member name embeds (`HEX.json`, `blobs/sha256/HEX`),
/// if any. Classic `<id>/layer.tar` names embed a v1 ID, not a digest.
fn digest_in_name(name: &str) -> Option<Digest> {
    let base = name.trim_end_matches(".json");
    if let Some(hex) = base.strip_prefix("blobs/sha256/") {
        return Digest::from_hex(hex).ok();
    }
    if name.ends_with(".json") {
        return Digest::from_hex(base.rsplit('/').next().unwrap_or(base)).ok();
    }
    None
}

/// Reads `manifest.json` and each image's config.
pub fn read(src: &Source) -> Result<Vec<DockerImage>> {
    let bytes = read_bounded(src.open_member("manifest.json")?, "manifest.json")?;
    let items: Vec<ManifestItem> = serde_json::from_slice(&bytes).map_err(|e| Error::BadJson {
        path: format!("{}: manifest.json", src.name()),
        reason: e.to_string(),
    })?;
    if items.is_empty() {
        return Err(Error::BadArchive {
            archive: src.name(),
            reason: "manifest.json lists no images".into(),
        });
    }
    items
        .into_iter()
        .map(|it| {
            let config = read_bounded(src.open_member(&it.config)?, &it.config)?;
            Ok(DockerImage {
                config_digest: digest_in_name(&it.config),
                config,
                tags: it.repo_tags.unwrap_or_default(),
                layers: it
                    .layers
                    .iter()
                    .map(|l| {
                        let d = l
                            .strip_prefix("blobs/sha256/")
                            .and_then(|h| Digest::from_hex(h).ok());
                        (l.clone(), d)
                    })
                    .collect(),
            })
        })
        .collect()
}
