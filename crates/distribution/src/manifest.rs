//! Manifests as registries carry them: Docker schema2 and OCI image
//! manifests, manifest lists and OCI indexes, parsed leniently enough for
//! both families (they share a shape) and strictly where it matters (the
//! digests). Client and server both read manifests through this module.

use serde::{Deserialize, Serialize};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// What an `Accept` header asks a registry for: every manifest kind strata
/// reads (schema1 only so that it can be refused with a clear message).
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.5";

/// A content descriptor (OCI image spec, descriptor.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// The platform of one entry of a manifest list / index.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

/// An image manifest (Docker schema2 or OCI).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A manifest list (Docker) or image index (OCI).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A parsed manifest of either kind.
// One lives per request being handled; boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Manifest {
    Image(ImageManifest),
    Index(Index),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("deprecated schema1 image: the registry only has a Docker schema1 manifest, which strata does not read (push it again with a current client)")]
    Schema1,
    #[error("unsupported manifest media type {0:?}")]
    UnknownMediaType(String),
    #[error("malformed manifest: {0}")]
    Malformed(String),
}

impl Manifest {
    /// Parses `bytes`, typed by `content_type` (the HTTP header, which may
    /// be missing or generic) or else by the document's own `mediaType`
    /// and shape.
    pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed(e.to_string()))?;
        let own = v.get("mediaType").and_then(|m| m.as_str());
        let header = content_type
            .map(|c| c.split(';').next().unwrap_or("").trim())
            .filter(|c| !c.is_empty() && *c != "application/json" && *c != "text/plain");
        let kind = match (own, header) {
            (Some(o), _) => o.to_string(),
            (None, Some(h)) => h.to_string(),
            (None, None) if v.get("manifests").is_some() => OCI_INDEX.into(),
            (None, None) if v.get("config").is_some() => OCI_MANIFEST.into(),
            (None, None) if v.get("fsLayers").is_some() => DOCKER_SCHEMA1.into(),
            (None, None) => return Err(ManifestError::Malformed("no mediaType".into())),
        };
        let malformed = |e: serde_json::Error| ManifestError::Malformed(e.to_string());
        match kind.as_str() {
            DOCKER_MANIFEST | OCI_MANIFEST => {
                let m: ImageManifest = serde_json::from_value(v).map_err(malformed)?;
                if m.schema_version != 2 {
                    return Err(ManifestError::Malformed(format!(
                        "schemaVersion {}",
                        m.schema_version
                    )));
                }
                Ok(Manifest::Image(m))
            }
            DOCKER_LIST | OCI_INDEX => {
                let i: Index = serde_json::from_value(v).map_err(malformed)?;
                if i.schema_version != 2 {
                    return Err(ManifestError::Malformed(format!(
                        "schemaVersion {}",
                        i.schema_version
                    )));
                }
                Ok(Manifest::Index(i))
            }
            DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED => Err(ManifestError::Schema1),
            other => Err(ManifestError::UnknownMediaType(other.to_string())),
        }
    }

    /// The media type to serve this manifest with.
    pub fn media_type(&self) -> &str {
        match self {
            Manifest::Image(m) => m.media_type.as_deref().unwrap_or(OCI_MANIFEST),
            Manifest::Index(i) => i.media_type.as_deref().unwrap_or(OCI_INDEX),
        }
    }

    /// Every descriptor the manifest names (config and layers, or the
    /// index's manifests), and its subject if any.
    pub fn references(&self) -> Vec<&Descriptor> {
        match self {
            Manifest::Image(m) => std::iter::once(&m.config)
                .chain(&m.layers)
                .chain(&m.subject)
                .collect(),
            Manifest::Index(i) => i.manifests.iter().chain(&i.subject).collect(),
        }
    }

    pub fn subject(&self) -> Option<&Descriptor> {
        match self {
            Manifest::Image(m) => m.subject.as_ref(),
            Manifest::Index(i) => i.subject.as_ref(),
        }
    }
}

/// Layer media types that are not to be downloaded: Windows foreign layers
/// and OCI non-distributable ones (their blobs live elsewhere by licence).
pub fn is_foreign_layer(media_type: &str) -> bool {
    media_type == DOCKER_LAYER_FOREIGN || media_type.contains(".nondistributable.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_families_and_schema1() {
        let oci = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aa","size":2},
            "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:bb","size":3}]}"#;
        let Manifest::Image(m) = Manifest::parse(None, oci).unwrap() else {
            panic!("not an image manifest")
        };
        assert_eq!(m.layers.len(), 1);
        // No mediaType field: the header decides, else the shape.
        let bare = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            Manifest::parse(Some(DOCKER_LIST), bare),
            Ok(Manifest::Index(_))
        ));
        assert!(matches!(
            Manifest::parse(None, bare),
            Ok(Manifest::Index(_))
        ));
        let s1 = br#"{"schemaVersion":1,"fsLayers":[]}"#;
        assert_eq!(
            Manifest::parse(Some(DOCKER_SCHEMA1_SIGNED), s1).unwrap_err(),
            ManifestError::Schema1
        );
        assert_eq!(
            Manifest::parse(None, s1).unwrap_err(),
            ManifestError::Schema1
        );
        assert!(Manifest::parse(None, b"[1,2]").is_err());
    }
}
