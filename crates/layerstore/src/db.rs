//! The SQLite metadata database (`strata.db`, WAL, foreign keys on).
//!
//! Images, tags, layers and which image uses which layer at which position;
//! `layer_objects` records which pool objects each layer needs, so gc and
//! `system df` are queries, not walks over every index. Reference counts are
//! derived by these joins rather than stored, so they cannot drift.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::digest::Digest;
use crate::error::Result;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS layers (
    diff_id      TEXT PRIMARY KEY,
    tar_size     INTEGER NOT NULL,
    content_size INTEGER NOT NULL,
    entries      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS layer_objects (
    diff_id TEXT NOT NULL REFERENCES layers(diff_id) ON DELETE CASCADE,
    object  TEXT NOT NULL,
    size    INTEGER NOT NULL,
    PRIMARY KEY (diff_id, object)
);
CREATE INDEX IF NOT EXISTS layer_objects_object ON layer_objects(object);
CREATE TABLE IF NOT EXISTS images (
    id       TEXT PRIMARY KEY,
    manifest TEXT NOT NULL,
    created  TEXT,
    size     INTEGER NOT NULL,
    added    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    diff_id  TEXT NOT NULL REFERENCES layers(diff_id),
    PRIMARY KEY (image_id, position)
);
CREATE INDEX IF NOT EXISTS image_layers_diff ON image_layers(diff_id);
CREATE TABLE IF NOT EXISTS tags (
    name     TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS repo_digests (
    image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    repository TEXT NOT NULL,
    manifest   TEXT NOT NULL,
    PRIMARY KEY (image_id, repository, manifest)
);
CREATE TABLE IF NOT EXISTS layer_blobs (
    diff_id    TEXT NOT NULL REFERENCES layers(diff_id) ON DELETE CASCADE,
    registry   TEXT NOT NULL,
    repository TEXT NOT NULL,
    blob       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    PRIMARY KEY (diff_id, registry, repository, blob)
);
CREATE INDEX IF NOT EXISTS layer_blobs_registry ON layer_blobs(diff_id, registry);
";

/// One image row with its tags.
#[derive(Clone, Debug)]
pub struct ImageRow {
    /// Config digest: the image ID.
    pub id: Digest,
    /// Digest of the stored manifest blob.
    pub manifest: Digest,
    /// RFC 3339 creation time from the image config.
    pub created: Option<String>,
    /// Logical size: bytes of file content over all the image's layers.
    pub size: u64,
    /// Fully qualified tags, sorted.
    pub tags: Vec<String>,
}

/// What to record for a new layer.
pub struct NewLayer<'a> {
    pub diff_id: &'a Digest,
    pub tar_size: u64,
    pub content_size: u64,
    pub entries: u64,
    pub objects: Vec<(Digest, u64)>,
}

/// Connection to the metadata database.
pub struct Db {
    pub(crate) conn: Connection,
}

fn digest(s: String) -> rusqlite::Result<Digest> {
    Digest::from_hex(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

impl Db {
    /// Opens (creating if needed) the database. Callers serialise the first
    /// open of a store, since switching to WAL needs the database to itself.
    pub fn open(path: &Path) -> Result<Db> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(120))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(crate::registry::SCHEMA)?;
        Ok(Db { conn })
    }

    /// For modules that own their own tables (`registry`).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
    /// A write transaction that takes the database's write lock at once,
    /// so two writers queue instead of one failing half way.
    pub(crate) fn immediate(&mut self) -> rusqlite::Result<rusqlite::Transaction<'_>> {
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
    }

    pub fn has_layer(&self, diff_id: &Digest) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM layers WHERE diff_id = ?1",
                [diff_id.hex()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Records a layer (idempotent: a concurrent import may have done it).
    pub fn insert_layer(&mut self, l: &NewLayer) -> Result<()> {
        let tx = self.immediate()?;
        let added = tx.execute(
            "INSERT OR IGNORE INTO layers (diff_id, tar_size, content_size, entries) VALUES (?1, ?2, ?3, ?4)",
            params![l.diff_id.hex(), l.tar_size as i64, l.content_size as i64, l.entries as i64],
        )?;
        if added > 0 {
            let mut st = tx.prepare(
                "INSERT OR IGNORE INTO layer_objects (diff_id, object, size) VALUES (?1, ?2, ?3)",
            )?;
            for (d, size) in &l.objects {
                st.execute(params![l.diff_id.hex(), d.hex(), *size as i64])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Records an image, its layers and tags in one transaction, so an image
    /// is either fully visible or not at all. Tags move to the new image.
    pub fn insert_image(&mut self, img: &ImageRow, layers: &[Digest]) -> Result<()> {
        let tx = self.immediate()?;
        let now = chrono::Utc::now().timestamp();
        let added = tx.execute(
            "INSERT OR IGNORE INTO images (id, manifest, created, size, added) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![img.id.hex(), img.manifest.hex(), img.created, img.size as i64, now],
        )?;
        if added > 0 {
            for (i, l) in layers.iter().enumerate() {
                tx.execute(
                    "INSERT INTO image_layers (image_id, position, diff_id) VALUES (?1, ?2, ?3)",
                    params![img.id.hex(), i as i64, l.hex()],
                )?;
            }
        }
        for t in &img.tags {
            tx.execute(
                "INSERT OR REPLACE INTO tags (name, image_id) VALUES (?1, ?2)",
                params![t, img.id.hex()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// All images, newest first.
    pub fn images(&self) -> Result<Vec<ImageRow>> {
        self.image_rows(
            "SELECT id, manifest, created, size FROM images ORDER BY created DESC, id",
            [],
        )
    }

    pub fn image(&self, id: &Digest) -> Result<Option<ImageRow>> {
        Ok(self
            .image_rows(
                "SELECT id, manifest, created, size FROM images WHERE id = ?1",
                [id.hex()],
            )?
            .pop())
    }

    fn image_rows<P: rusqlite::Params>(&self, sql: &str, params: P) -> Result<Vec<ImageRow>> {
        let mut st = self.conn.prepare(sql)?;
        let rows = st.query_map(params, |r| {
            Ok(ImageRow {
                id: digest(r.get(0)?)?,
                manifest: digest(r.get(1)?)?,
                created: r.get(2)?,
                size: r.get::<_, i64>(3)? as u64,
                tags: Vec::new(),
            })
        })?;
        let mut out = Vec::new();
        for r in rows {
            let mut row = r?;
            row.tags = self.tags_of(&row.id)?;
            out.push(row);
        }
        Ok(out)
    }

    pub fn tags_of(&self, id: &Digest) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name")?;
        let v = st
            .query_map([id.hex()], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    /// Layers of an image, bottom first.
    pub fn image_layers(&self, id: &Digest) -> Result<Vec<Digest>> {
        let mut st = self
            .conn
            .prepare("SELECT diff_id FROM image_layers WHERE image_id = ?1 ORDER BY position")?;
        let v = st
            .query_map([id.hex()], |r| digest(r.get(0)?))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    pub fn tag_target(&self, name: &str) -> Result<Option<Digest>> {
        let s: Option<String> = self
            .conn
            .query_row("SELECT image_id FROM tags WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(s.map(digest).transpose()?)
    }

    /// Image IDs starting with `prefix` (hex).
    pub fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<Digest>> {
        let mut st = self
            .conn
            .prepare("SELECT id FROM images WHERE substr(id, 1, ?2) = ?1")?;
        let v = st
            .query_map(params![prefix, prefix.len() as i64], |r| digest(r.get(0)?))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    pub fn set_tag(&mut self, name: &str, id: &Digest) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO tags (name, image_id) VALUES (?1, ?2)",
            params![name, id.hex()],
        )?;
        Ok(())
    }

    pub fn remove_tag(&mut self, name: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM tags WHERE name = ?1", [name])?
            > 0)
    }

    /// Deletes an image row (its layer rows and tags go with it).
    pub fn delete_image(&mut self, id: &Digest) -> Result<()> {
        self.conn
            .execute("DELETE FROM images WHERE id = ?1", [id.hex()])?;
        Ok(())
    }

    /// Untagged images (Docker's "dangling").
    pub fn dangling_images(&self) -> Result<Vec<Digest>> {
        let mut st = self
            .conn
            .prepare("SELECT id FROM images WHERE id NOT IN (SELECT image_id FROM tags)")?;
        let v = st
            .query_map([], |r| digest(r.get(0)?))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    /// Deletes layer rows no image uses and returns their diff_ids.
    pub fn delete_unused_layers(&mut self) -> Result<Vec<Digest>> {
        let tx = self.immediate()?;
        let ids: Vec<Digest> = {
            let mut st = tx.prepare(
                "SELECT diff_id FROM layers WHERE diff_id NOT IN (SELECT diff_id FROM image_layers)",
            )?;
            let v = st
                .query_map([], |r| digest(r.get(0)?))?
                .collect::<rusqlite::Result<_>>()?;
            v
        };
        for d in &ids {
            tx.execute("DELETE FROM layers WHERE diff_id = ?1", [d.hex()])?;
        }
        tx.commit()?;
        Ok(ids)
    }

    pub fn all_layers(&self) -> Result<Vec<Digest>> {
        self.digests("SELECT diff_id FROM layers")
    }

    pub fn referenced_objects(&self) -> Result<Vec<Digest>> {
        self.digests("SELECT DISTINCT object FROM layer_objects")
    }

    /// Blobs images point at (their configs, = IDs, and manifests) and
    /// those a served registry keeps.
    pub fn referenced_blobs(&self) -> Result<Vec<Digest>> {
        self.digests(&format!(
            "SELECT id FROM images UNION SELECT manifest FROM images UNION {}",
            crate::registry::REFERENCED_BLOBS
        ))
    }

    /// Blobs a served registry links or names as manifests.
    pub fn registry_blobs(&self) -> Result<Vec<Digest>> {
        self.digests(crate::registry::REFERENCED_BLOBS)
    }

    fn digests(&self, sql: &str) -> Result<Vec<Digest>> {
        let mut st = self.conn.prepare(sql)?;
        let v = st
            .query_map([], |r| digest(r.get(0)?))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    /// (distinct layers' file bytes, the same counted once per object).
    pub fn logical_and_unique_bytes(&self) -> Result<(u64, u64)> {
        let logical: i64 = self.conn.query_row(
            "SELECT COALESCE(SUM(content_size), 0) FROM layers",
            [],
            |r| r.get(0),
        )?;
        let unique: i64 = self.conn.query_row(
            "SELECT COALESCE(SUM(size), 0) FROM (SELECT object, MAX(size) AS size FROM layer_objects GROUP BY object)",
            [],
            |r| r.get(0),
        )?;
        Ok((logical as u64, unique as u64))
    }
}
