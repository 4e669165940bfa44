//! Image archive formats: reading Docker save archives and OCI layouts into
//! the store ([`load`]), and writing them back out ([`save`]).

mod docker;
mod oci;
mod save;
mod source;

pub use save::{save, Format, SaveItem};
use std::path::Path;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::store::{parse_config, LayerExpect, Store, StoredImage};
use source::Source;

/// One image to load: its config and where its layer blobs are.
struct Plan {
    config: Vec<u8>,
    config_digest: Option<Digest>,
    tags: Vec<String>,
    layers: Vec<(String, LayerExpect)>,
}

/// Loads every image in the archive or layout at `input` (`-` = stdin).
/// Each image becomes visible only once all of it is stored and verified.
pub fn load(store: &mut Store, input: &Path) -> Result<Vec<StoredImage>> {
    // Held across spooling too, so gc never removes the spool directory.
    let _lock = store.layout().lock(false)?;
    let spool = store.layout().staging()?;
    let src = Source::open(input, spool.path())?;
    let plans = plan(&src)?;
    let mut loaded = Vec::new();
    for p in plans {
        let mut pending = store.begin()?;
        for (member, expect) in &p.layers {
            let label = format!("{member} in {}", src.name());
            let stored = match &expect.diff_id {
                Some(d) => store.db().has_layer(d)?,
                None => false,
            };
            // A layer the store has is not read again (nor its blob checked).
            let progress = Progress::bytes(format!("Loading {member}"), expect.blob_size);
            let r: Box<dyn std::io::Read> = if stored {
                Box::new(std::io::empty())
            } else {
                Box::new(progress.wrap(src.open_member(member)?))
            };
            store.add_layer(&mut pending, &label, r, expect)?;
        }
        loaded.push(store.commit(pending, &p.config, p.config_digest.as_ref(), &p.tags)?);
    }
    Ok(loaded)
}

/// Reads the archive's manifests and configs, checking that each config
/// matches its digest and lists one diff_id per layer, before any layer is
/// read.
fn plan(src: &Source) -> Result<Vec<Plan>> {
    let plans: Vec<Plan> = if src.exists("manifest.json") {
        docker::read(src)?
            .into_iter()
            .map(|i| Plan {
                config: i.config,
                config_digest: i.config_digest,
                tags: i.tags,
                layers: i
                    .layers
                    .into_iter()
                    .map(|(m, d)| {
                        (
                            m,
                            LayerExpect {
                                blob_digest: d,
                                ..Default::default()
                            },
                        )
                    })
                    .collect(),
            })
            .collect()
    } else if src.exists("index.json") {
        oci::read(src)?
            .into_iter()
            .map(|i| Plan {
                config: i.config,
                config_digest: Some(i.config_digest),
                tags: i.tags,
                layers: i
                    .layers
                    .into_iter()
                    .map(|(m, d, size)| {
                        (
                            m,
                            LayerExpect {
                                blob_digest: Some(d),
                                blob_size: Some(size),
                                ..Default::default()
                            },
                        )
                    })
                    .collect(),
            })
            .collect()
    } else {
        return Err(Error::BadArchive {
            archive: src.name(),
            reason: "neither manifest.json nor index.json found: not a Docker or OCI image archive"
                .into(),
        });
    };
    plans
        .into_iter()
        .map(|mut p| {
            if let Some(d) = &p.config_digest {
                let got = Digest::of(&p.config);
                if got != *d {
                    return Err(Error::DigestMismatch {
                        what: format!("{}: image config", src.name()),
                        expected: d.to_string(),
                        actual: got.to_string(),
                    });
                }
            }
            let cfg = parse_config(&p.config, &format!("{}: image config", src.name()))?;
            let diff_ids = cfg.rootfs().diff_ids();
            if diff_ids.len() != p.layers.len() {
                return Err(Error::BadArchive {
                    archive: src.name(),
                    reason: format!(
                        "image config lists {} diff_ids but the manifest {} layers",
                        diff_ids.len(),
                        p.layers.len()
                    ),
                });
            }
            for ((_, e), d) in p.layers.iter_mut().zip(diff_ids) {
                e.diff_id = Some(d.parse()?);
            }
            p.tags = p
                .tags
                .iter()
                .map(|t| Ok(t.parse::<Reference>()?.with_default_tag().to_string()))
                .collect::<Result<_>>()?;
            Ok(p)
        })
        .collect()
}
