//! Where images came from: the registry manifests they were pulled from or
//! pushed to (`RepoDigests`), and for each layer the compressed blobs that
//! carried it, per registry and repository. The store keeps no compressed
//! bytes; these rows let a push back to a registry HEAD the blob it already
//! has instead of recompressing and uploading it.
//!
//! The rows hang off `images` and `layers` with `ON DELETE CASCADE`, so
//! `rmi` and gc remove them with what they describe.

use rusqlite::{params, TransactionBehavior};

use crate::digest::Digest;
use crate::error::Result;
use crate::store::Store;

/// A compressed blob that carries a stored layer in one repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerBlob {
    /// Registry host as in references (`docker.io`, `host:5000`).
    pub registry: String,
    /// Repository path within it (`library/busybox`).
    pub repository: String,
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

/// What one pull or push taught about an image.
#[derive(Clone, Debug, Default)]
pub struct ImageOrigin {
    /// `(repository, manifest digest)`; the repository fully qualified
    /// (`docker.io/library/busybox`).
    pub repo_digest: Option<(String, Digest)>,
    /// `(diff_id, blob)` for each layer.
    pub layers: Vec<(Digest, LayerBlob)>,
}

fn digest(s: String) -> rusqlite::Result<Digest> {
    Digest::from_hex(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

impl Store {
    /// Records `origin` for the stored image `image`, in one transaction.
    pub fn record_origin(&mut self, image: &Digest, origin: &ImageOrigin) -> Result<()> {
        let tx = self
            .db_mut()
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some((repo, manifest)) = &origin.repo_digest {
            tx.execute(
                "INSERT OR IGNORE INTO repo_digests (image_id, repository, manifest) VALUES (?1, ?2, ?3)",
                params![image.hex(), repo, manifest.hex()],
            )?;
        }
        for (diff_id, b) in &origin.layers {
            tx.execute(
                "INSERT OR REPLACE INTO layer_blobs (diff_id, registry, repository, blob, size, media_type) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![diff_id.hex(), b.registry, b.repository, b.digest.hex(), b.size as i64, b.media_type],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// `repository@sha256:…` for each manifest the image is known by,
    /// repositories fully qualified, sorted.
    pub fn repo_digests(&self, image: &Digest) -> Result<Vec<(String, Digest)>> {
        let mut st = self.db().conn.prepare(
            "SELECT repository, manifest FROM repo_digests WHERE image_id = ?1 ORDER BY repository, manifest",
        )?;
        let v = st
            .query_map([image.hex()], |r| Ok((r.get(0)?, digest(r.get(1)?)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    /// The image a repository's manifest digest was recorded for.
    pub fn image_by_repo_digest(
        &self,
        repository: &str,
        manifest: &Digest,
    ) -> Result<Option<Digest>> {
        let mut st = self
            .db()
            .conn
            .prepare("SELECT image_id FROM repo_digests WHERE repository = ?1 AND manifest = ?2")?;
        let mut rows = st.query_map(params![repository, manifest.hex()], |r| digest(r.get(0)?))?;
        Ok(rows.next().transpose()?)
    }

    /// Blobs known to carry layer `diff_id` on `registry`, those of
    /// `repository` first.
    pub fn layer_blobs(
        &self,
        diff_id: &Digest,
        registry: &str,
        repository: &str,
    ) -> Result<Vec<LayerBlob>> {
        let mut st = self.db().conn.prepare(
            "SELECT registry, repository, blob, size, media_type FROM layer_blobs \
             WHERE diff_id = ?1 AND registry = ?2 ORDER BY repository != ?3, repository, blob",
        )?;
        let v = st
            .query_map(params![diff_id.hex(), registry, repository], |r| {
                Ok(LayerBlob {
                    registry: r.get(0)?,
                    repository: r.get(1)?,
                    digest: digest(r.get(2)?)?,
                    size: r.get::<_, i64>(3)? as u64,
                    media_type: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }
}
