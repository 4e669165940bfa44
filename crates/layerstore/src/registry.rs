//! The state of a registry served from this store (`strata serve`):
//! which blobs each repository may see, its manifests (with their subject
//! for the referrers API), and its tags — tables `registry_*` in
//! `strata.db`. Blob and manifest bytes live in `blobs/sha256/` beside the
//! store's own configs and manifests; gc keeps every blob a repository
//! links or a manifest row names.
//!
//! A pushed image manifest is also imported ([`import_image`]) so the image
//! is an ordinary stored image: its layers go through the same verified
//! file-level import as `load`, and it is tagged `REPO:TAG` locally. The
//! import runs after the push is acknowledged, from a queue in the database
//! (`registry_imports`), so a server killed before it finishes does it when
//! it starts again.

use std::fs::File;
use std::path::Path;

use rusqlite::{params, OptionalExtension};

use crate::blobs;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::layout::rename_noreplace;
use crate::reference::Reference;
use crate::store::{parse_config, LayerExpect, Store, StoredImage};

/// The registry's tables, appended to the store schema by `db`.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS registry_blobs (
    repo   TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (repo, digest)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS registry_blobs_digest ON registry_blobs(digest);
CREATE TABLE IF NOT EXISTS registry_manifests (
    repo          TEXT NOT NULL,
    digest        TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    size          INTEGER NOT NULL,
    artifact_type TEXT,
    annotations   TEXT,
    subject       TEXT,
    image_id      TEXT,
    PRIMARY KEY (repo, digest)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS registry_manifests_subject ON registry_manifests(repo, subject);
CREATE INDEX IF NOT EXISTS registry_manifests_digest ON registry_manifests(digest);
CREATE TABLE IF NOT EXISTS registry_tags (
    repo   TEXT NOT NULL,
    tag    TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (repo, tag),
    FOREIGN KEY (repo, digest) REFERENCES registry_manifests(repo, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS registry_imports (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    repo   TEXT NOT NULL,
    digest TEXT NOT NULL,
    UNIQUE (repo, digest)
);
";

/// Blobs the registry keeps (for gc) and fsck checks.
pub(crate) const REFERENCED_BLOBS: &str =
    "SELECT digest FROM registry_blobs UNION SELECT digest FROM registry_manifests";

/// A manifest as the registry records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestRow {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    /// The manifest's `artifactType`, else its config's media type (what
    /// the referrers API reports).
    pub artifact_type: Option<String>,
    /// The manifest's `annotations`, as JSON text.
    pub annotations: Option<String>,
    pub subject: Option<Digest>,
    /// The stored image imported from it, if it is an image manifest.
    pub image_id: Option<Digest>,
}

fn digest(s: String) -> rusqlite::Result<Digest> {
    Digest::from_hex(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// The store tag of a pushed `repo:tag` (`busybox:1` is
/// `docker.io/library/busybox:1`, as any local name).
fn local_tag(repo: &str, tag: &str) -> Result<String> {
    Ok(format!("{repo}:{tag}").parse::<Reference>()?.to_string())
}

fn local_tags(repo: &str, tags: &[impl AsRef<str>]) -> Result<Vec<String>> {
    tags.iter().map(|t| local_tag(repo, t.as_ref())).collect()
}

/// The tags of `repo` that name manifest `d`.
fn tags_of(store: &Store, repo: &str, d: &Digest) -> Result<Vec<String>> {
    let mut st = store
        .db()
        .conn()
        .prepare("SELECT tag FROM registry_tags WHERE repo = ?1 AND digest = ?2")?;
    let v = st
        .query_map(params![repo, d.hex()], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Moves a verified upload (`file`, whose content hashes to `d`) into
/// `blobs/sha256/`. A concurrent upload of the same content may have won
/// the rename; either way one copy remains and `file` is gone.
pub fn put_blob_file(store: &Store, file: &Path, d: &Digest) -> Result<()> {
    let dest = store.layout().blob_path(d);
    if !rename_noreplace(file, &dest)? {
        std::fs::remove_file(file).ctx(|| format!("removing {}", file.display()))?;
    }
    Ok(())
}

/// Whether repository `repo` may see blob `d` (pushed or mounted there,
/// or one of its manifests) and its bytes are present.
pub fn blob_linked(store: &Store, repo: &str, d: &Digest) -> Result<bool> {
    let linked = store
        .db()
        .conn()
        .query_row(
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM registry_blobs WHERE repo = ?1 AND digest = ?2)
                OR EXISTS (SELECT 1 FROM registry_manifests WHERE repo = ?1 AND digest = ?2)",
            params![repo, d.hex()],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    Ok(linked && store.layout().blob_path(d).exists())
}

/// Makes blob `d` (already in `blobs/sha256/`) visible in `repo`.
pub fn link_blob(store: &Store, repo: &str, d: &Digest) -> Result<()> {
    store.db().conn().execute(
        "INSERT OR IGNORE INTO registry_blobs (repo, digest) VALUES (?1, ?2)",
        params![repo, d.hex()],
    )?;
    Ok(())
}

/// Removes blob `d` from `repo`; its bytes go at the next gc if nothing
/// else keeps them. Returns whether it was linked.
pub fn unlink_blob(store: &Store, repo: &str, d: &Digest) -> Result<bool> {
    Ok(store.db().conn().execute(
        "DELETE FROM registry_blobs WHERE repo = ?1 AND digest = ?2",
        params![repo, d.hex()],
    )? > 0)
}

/// Records a pushed manifest (its bytes already stored) and points every
/// one of `tags` at it, in one transaction: a push naming several tags
/// (`?tag=a&tag=b`) applies all of them or none. An image manifest
/// (`import`) not yet imported is queued for [`import_image`], whose
/// [`finish_import`] gives it the local tag `repo:tag` of each; one
/// already imported gets them at once.
pub fn put_manifest(
    store: &mut Store,
    repo: &str,
    m: &ManifestRow,
    tags: &[&str],
    import: bool,
) -> Result<()> {
    let locals = local_tags(repo, tags)?;
    let tx = store.db_mut().immediate()?;
    // Not `INSERT OR REPLACE`: replacing the row would cascade to its tags.
    tx.execute(
        "INSERT INTO registry_manifests
         (repo, digest, media_type, size, artifact_type, annotations, subject)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (repo, digest) DO NOTHING",
        params![
            repo,
            m.digest.hex(),
            m.media_type,
            m.size as i64,
            m.artifact_type,
            m.annotations,
            m.subject.as_ref().map(|d| d.hex().to_string()),
        ],
    )?;
    for t in tags {
        tx.execute(
            "INSERT OR REPLACE INTO registry_tags (repo, tag, digest) VALUES (?1, ?2, ?3)",
            params![repo, t, m.digest.hex()],
        )?;
    }
    let image: Option<String> = tx.query_row(
        "SELECT image_id FROM registry_manifests WHERE repo = ?1 AND digest = ?2",
        params![repo, m.digest.hex()],
        |r| r.get(0),
    )?;
    match image {
        Some(id) => {
            for name in &locals {
                tx.execute(
                    "INSERT OR REPLACE INTO tags (name, image_id) SELECT ?1, id FROM images WHERE id = ?2",
                    params![name, id],
                )?;
            }
        }
        None if import => {
            tx.execute(
                "INSERT OR IGNORE INTO registry_imports (repo, digest) VALUES (?1, ?2)",
                params![repo, m.digest.hex()],
            )?;
        }
        None => {}
    }
    tx.commit()?;
    Ok(())
}

/// Queued imports, oldest first: (repository, manifest digest).
pub fn pending_imports(store: &Store) -> Result<Vec<(String, Digest)>> {
    let mut st = store
        .db()
        .conn()
        .prepare("SELECT repo, digest FROM registry_imports ORDER BY seq")?;
    let v = st
        .query_map([], |r| Ok((r.get(0)?, digest(r.get(1)?)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Ends a queued import: records the image made from manifest `d` (none
/// if the import failed) and gives it the local tags of every tag of `repo`
/// that points at `d` now.
pub fn finish_import(
    store: &mut Store,
    repo: &str,
    d: &Digest,
    image: Option<&Digest>,
) -> Result<()> {
    let tags = tags_of(store, repo, d)?;
    let locals = local_tags(repo, &tags)?;
    let tx = store.db_mut().immediate()?;
    tx.execute(
        "DELETE FROM registry_imports WHERE repo = ?1 AND digest = ?2",
        params![repo, d.hex()],
    )?;
    if let Some(id) = image {
        tx.execute(
            "UPDATE registry_manifests SET image_id = ?3 WHERE repo = ?1 AND digest = ?2",
            params![repo, d.hex(), id.hex()],
        )?;
        for name in &locals {
            tx.execute(
                "INSERT OR REPLACE INTO tags (name, image_id) VALUES (?1, ?2)",
                params![name, id.hex()],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The manifest `d` of `repo`, if it was pushed there.
pub fn manifest(store: &Store, repo: &str, d: &Digest) -> Result<Option<ManifestRow>> {
    Ok(manifest_rows(
        store,
        "WHERE repo = ?1 AND digest = ?2",
        params![repo, d.hex()],
    )?
    .pop())
}

/// What `tag` of `repo` points at.
pub fn resolve_tag(store: &Store, repo: &str, tag: &str) -> Result<Option<Digest>> {
    let s: Option<String> = store
        .db()
        .conn()
        .query_row(
            "SELECT digest FROM registry_tags WHERE repo = ?1 AND tag = ?2",
            params![repo, tag],
            |r| r.get(0),
        )
        .optional()?;
    Ok(s.map(digest).transpose()?)
}

/// Manifests of `repo` whose subject is `subject`, by digest.
pub fn referrers(store: &Store, repo: &str, subject: &Digest) -> Result<Vec<ManifestRow>> {
    manifest_rows(
        store,
        "WHERE repo = ?1 AND subject = ?2 ORDER BY digest",
        params![repo, subject.hex()],
    )
}

fn manifest_rows(
    store: &Store,
    filter: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<ManifestRow>> {
    let sql = format!(
        "SELECT digest, media_type, size, artifact_type, annotations, subject, image_id
         FROM registry_manifests {filter}"
    );
    let mut st = store.db().conn().prepare(&sql)?;
    let rows = st.query_map(p, |r| {
        Ok(ManifestRow {
            digest: digest(r.get(0)?)?,
            media_type: r.get(1)?,
            size: r.get::<_, i64>(2)? as u64,
            artifact_type: r.get(3)?,
            annotations: r.get(4)?,
            subject: r.get::<_, Option<String>>(5)?.map(digest).transpose()?,
            image_id: r.get::<_, Option<String>>(6)?.map(digest).transpose()?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Deletes manifest `d` of `repo` and the tags pointing at it (and their
/// local tags). The stored image stays until pruned. Returns whether it
/// existed.
pub fn delete_manifest(store: &mut Store, repo: &str, d: &Digest) -> Result<bool> {
    let tags = tags_of(store, repo, d)?;
    let image = manifest(store, repo, d)?.and_then(|m| m.image_id);
    let locals = local_tags(repo, &tags)?;
    let tx = store.db_mut().immediate()?;
    let n = tx.execute(
        "DELETE FROM registry_manifests WHERE repo = ?1 AND digest = ?2",
        params![repo, d.hex()],
    )?;
    if let Some(id) = &image {
        for name in &locals {
            tx.execute(
                "DELETE FROM tags WHERE name = ?1 AND image_id = ?2",
                params![name, id.hex()],
            )?;
        }
    }
    tx.commit()?;
    Ok(n > 0)
}

/// Deletes `tag` of `repo` (and the local tag, if it still names the
/// manifest's image). Returns whether it existed.
pub fn delete_tag(store: &mut Store, repo: &str, tag: &str) -> Result<bool> {
    let Some(d) = resolve_tag(store, repo, tag)? else {
        return Ok(false);
    };
    let image = manifest(store, repo, &d)?.and_then(|m| m.image_id);
    let local = local_tag(repo, tag)?;
    let tx = store.db_mut().immediate()?;
    let n = tx.execute(
        "DELETE FROM registry_tags WHERE repo = ?1 AND tag = ?2",
        params![repo, tag],
    )?;
    if let Some(id) = image {
        tx.execute(
            "DELETE FROM tags WHERE name = ?1 AND image_id = ?2",
            params![local, id.hex()],
        )?;
    }
    tx.commit()?;
    Ok(n > 0)
}

/// Whether `repo` has anything: a manifest or a blob.
pub fn repo_exists(store: &Store, repo: &str) -> Result<bool> {
    Ok(store
        .db()
        .conn()
        .query_row(
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM registry_manifests WHERE repo = ?1)
                OR EXISTS (SELECT 1 FROM registry_blobs WHERE repo = ?1)",
            [repo],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Up to `n` tags of `repo` after `last`, in lexical (byte) order.
pub fn tags(store: &Store, repo: &str, last: Option<&str>, n: u64) -> Result<Vec<String>> {
    strings(
        store,
        "SELECT tag FROM registry_tags WHERE repo = ?1 AND tag > ?2 ORDER BY tag LIMIT ?3",
        params![repo, last.unwrap_or(""), limit(n)],
    )
}

/// Up to `n` repositories with a manifest after `last`, sorted.
pub fn repositories(store: &Store, last: Option<&str>, n: u64) -> Result<Vec<String>> {
    strings(
        store,
        "SELECT DISTINCT repo FROM registry_manifests WHERE repo > ?1 ORDER BY repo LIMIT ?2",
        params![last.unwrap_or(""), limit(n)],
    )
}

fn limit(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

fn strings(store: &Store, sql: &str, p: impl rusqlite::Params) -> Result<Vec<String>> {
    let mut st = store.db().conn().prepare(sql)?;
    let v = st
        .query_map(p, |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// Checks that `config` is an image config with one diff_id per layer
/// (what can be known before the layers are read).
pub fn check_image_config(config: &[u8], config_digest: &Digest, layers: usize) -> Result<()> {
    diff_ids(config, config_digest, layers).map(drop)
}

fn diff_ids(config: &[u8], config_digest: &Digest, layers: usize) -> Result<Vec<Digest>> {
    let what = format!("config {config_digest}");
    let parsed = parse_config(config, &what)?;
    let ids = parsed.rootfs().diff_ids();
    if ids.len() != layers {
        return Err(Error::BadJson {
            path: what,
            reason: format!("{} diff_ids for {layers} layers", ids.len()),
        });
    }
    ids.iter().map(|d| d.parse()).collect()
}

/// Imports a pushed image manifest's image, untagged (see
/// [`finish_import`]): `layers` are the layer blob digests (in
/// `blobs/sha256/`, verified on upload), bottom first, checked against the
/// config's diff_ids as they are imported. Layers the store has are not
/// read.
pub fn import_image(
    store: &mut Store,
    config: &[u8],
    config_digest: &Digest,
    layers: &[Digest],
) -> Result<StoredImage> {
    let diff_ids = diff_ids(config, config_digest, layers.len())?;
    let mut pending = store.begin()?;
    for (blob, diff_id) in layers.iter().zip(diff_ids) {
        let expect = LayerExpect {
            diff_id: Some(diff_id),
            ..LayerExpect::default()
        };
        // A layer the store has is not read again (add_layer skips it).
        let path = store.layout().blob_path(blob);
        let r = File::open(&path).ctx(|| format!("opening {}", path.display()))?;
        store.add_layer(&mut pending, &blob.to_string(), r, &expect)?;
    }
    store.commit(pending, config, Some(config_digest), &[])
}

/// Reads a small blob (a config) of the registry, refusing big ones.
pub fn read_small_blob(store: &Store, d: &Digest) -> Result<Vec<u8>> {
    let p = store.layout().blob_path(d);
    let f = File::open(&p).ctx(|| format!("opening {}", p.display()))?;
    blobs::read_bounded(f, &format!("blob {d}"))
}
