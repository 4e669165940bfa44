//! OCI image layouts (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), as
//! a directory or a tar archive. Nested indexes are followed to the
//! manifest for this machine's platform.

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};

use crate::archive::source::Source;
use crate::blobs::read_bounded;
use crate::digest::Digest;
use crate::error::{Error, Result};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYERS: [&str; 4] = [
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
];

/// Annotations naming the image a manifest is for.
const CONTAINERD_NAME: &str = "io.containerd.image.name";
const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// One image found in a layout.
pub struct OciImage {
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub tags: Vec<String>,
    /// Layer blob descriptors: member name, digest, size.
    pub layers: Vec<(String, Digest, u64)>,
}

fn digest_of(src: &Source, d: &Descriptor) -> Result<Digest> {
    d.digest()
        .to_string()
        .parse::<Digest>()
        .map_err(|_| Error::BadArchive {
            archive: src.name(),
            reason: format!("unsupported digest {}", d.digest()),
        })
}

fn blob_member(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// Reads a small blob and checks its digest and size against `desc`.
fn read_verified(src: &Source, desc: &Descriptor) -> Result<Vec<u8>> {
    let d = digest_of(src, desc)?;
    let bytes = read_bounded(src.open_member(&blob_member(&d))?, &blob_member(&d))?;
    let got = Digest::of(&bytes);
    if got != d {
        return Err(Error::DigestMismatch {
            what: format!("{}: blob", src.name()),
            expected: d.to_string(),
            actual: got.to_string(),
        });
    }
    if bytes.len() as u64 != desc.size() {
        return Err(Error::SizeMismatch {
            what: format!("{}: blob {d}", src.name()),
            expected: desc.size(),
            actual: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

fn json_err(src: &Source, what: &str, e: impl std::fmt::Display) -> Error {
    Error::BadJson {
        path: format!("{}: {what}", src.name()),
        reason: e.to_string(),
    }
}

/// The name a manifest descriptor gives its image. A bare tag (`latest`,
/// as `skopeo copy oci:dir:latest` writes) names no repository, so the image
/// loads untagged, as `docker load` does.
fn tag_of(desc: &Descriptor) -> Option<String> {
    let ann = desc.annotations().as_ref()?;
    if let Some(n) = ann.get(CONTAINERD_NAME) {
        return Some(n.clone());
    }
    ann.get(OCI_REF_NAME)
        .filter(|n| n.contains('/') || n.contains(':'))
        .cloned()
}

fn host_platform_matches(desc: &Descriptor) -> bool {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    desc.platform()
        .as_ref()
        .is_none_or(|p| p.os().to_string() == "linux" && p.architecture().to_string() == arch)
}

/// Reads `index.json` and every image it (transitively) names.
pub fn read(src: &Source) -> Result<Vec<OciImage>> {
    let bytes = read_bounded(src.open_member("index.json")?, "index.json")?;
    let index: ImageIndex =
        serde_json::from_slice(&bytes).map_err(|e| json_err(src, "index.json", e))?;
    let mut out = Vec::new();
    for desc in index.manifests() {
        collect(src, desc, tag_of(desc), 0, &mut out)?;
    }
    if out.is_empty() {
        return Err(Error::BadArchive {
            archive: src.name(),
            reason: "index.json lists no images".into(),
        });
    }
    Ok(out)
}

fn collect(
    src: &Source,
    desc: &Descriptor,
    tag: Option<String>,
    depth: u32,
    out: &mut Vec<OciImage>,
) -> Result<()> {
    let mt = desc.media_type().to_string();
    let is_index = *desc.media_type() == MediaType::ImageIndex || mt == DOCKER_LIST;
    let is_manifest = *desc.media_type() == MediaType::ImageManifest || mt == DOCKER_MANIFEST;
    if is_index {
        if depth > 4 {
            return Err(Error::BadArchive {
                archive: src.name(),
                reason: "image indexes nested too deeply".into(),
            });
        }
        let bytes = read_verified(src, desc)?;
        let idx: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|e| json_err(src, "nested index", e))?;
        let chosen = idx
            .manifests()
            .iter()
            .find(|m| host_platform_matches(m))
            .ok_or_else(|| Error::BadArchive {
                archive: src.name(),
                reason: "no manifest for this platform in the image index".into(),
            })?;
        return collect(src, chosen, tag.or_else(|| tag_of(chosen)), depth + 1, out);
    }
    if !is_manifest {
        return Err(Error::UnknownMediaType(mt));
    }
    let bytes = read_verified(src, desc)?;
    let m: ImageManifest =
        serde_json::from_slice(&bytes).map_err(|e| json_err(src, "manifest", e))?;
    let cmt = m.config().media_type();
    if *cmt != MediaType::ImageConfig && cmt.to_string() != DOCKER_CONFIG {
        return Err(Error::UnknownMediaType(cmt.to_string()));
    }
    let config = read_verified(src, m.config())?;
    let mut layers = Vec::new();
    for l in m.layers() {
        let lmt = l.media_type();
        let known = matches!(
            lmt,
            MediaType::ImageLayer
                | MediaType::ImageLayerGzip
                | MediaType::ImageLayerZstd
                | MediaType::ImageLayerNonDistributable
                | MediaType::ImageLayerNonDistributableGzip
                | MediaType::ImageLayerNonDistributableZstd
        ) || DOCKER_LAYERS.contains(&lmt.to_string().as_str());
        if !known {
            return Err(Error::UnknownMediaType(lmt.to_string()));
        }
        let d = digest_of(src, l)?;
        layers.push((blob_member(&d), d, l.size()));
    }
    out.push(OciImage {
        config_digest: digest_of(src, m.config())?,
        config,
        tags: tag.into_iter().collect(),
        layers,
    });
    Ok(())
}
