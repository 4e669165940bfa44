//! [`Store`]: an opened store root — its layout, metadata database, and the
//! operations that add layers and images to it.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use oci_spec::image::{DescriptorBuilder, ImageConfiguration, ImageManifestBuilder, MediaType};

use crate::blobs;
use crate::compression::{decoder, detect, Compression};
use crate::db::{Db, ImageRow, NewLayer};
use crate::digest::{Digest, MaybeHashingReader};
use crate::error::{one_line, Error, IoContext, Result};
use crate::index::{Kind, LayerIndex};
use crate::layout::{Layout, StoreLock};
use crate::objects::Staged;
use crate::tarimport::{attach, import_tar, validate_on, Below};

/// An open store.
pub struct Store {
    layout: Layout,
    db: Db,
}

/// What an archive says a layer blob should be; every known fact is checked.
#[derive(Default, Clone, Debug)]
pub struct LayerExpect {
    /// Digest of the uncompressed tar (from the image config).
    pub diff_id: Option<Digest>,
    /// Digest of the blob as stored in the archive (maybe compressed).
    pub blob_digest: Option<Digest>,
    /// Size of that blob in bytes.
    pub blob_size: Option<u64>,
}

/// An image (or bare layers) being added: a staging area and the store
/// lock held shared. Dropping it discards everything staged.
pub struct Pending {
    staging: tempfile::TempDir,
    staged: Staged,
    /// Staging areas of layers read by a [`LayerImporter`] and attached.
    detached: Vec<Staged>,
    /// Layers so far, bottom first, and whether each is new to the store.
    layers: Vec<(Arc<LayerIndex>, bool)>,
    /// Numbers the staging areas handed to [`LayerImporter`]s.
    importers: Arc<AtomicUsize>,
    /// Declared last so it is released after the staging area is removed.
    _lock: StoreLock,
}

/// An image as recorded in the store.
#[derive(Clone, Debug)]
pub struct StoredImage {
    pub id: Digest,
    pub tags: Vec<String>,
}

impl Store {
    /// The default root: `$STRATA_ROOT`, else `/var/lib/strata` for root,
    /// else `$XDG_DATA_HOME/strata` (`~/.local/share/strata`).
    pub fn default_root() -> PathBuf {
        if let Some(r) = std::env::var_os("STRATA_ROOT") {
            return PathBuf::from(r);
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            return PathBuf::from("/var/lib/strata");
        }
        if let Some(x) = std::env::var_os("XDG_DATA_HOME") {
            return PathBuf::from(x).join("strata");
        }
        let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
        PathBuf::from(home).join(".local/share/strata")
    }

    /// Opens the store at `root`, creating it if needed.
    pub fn open(root: &Path) -> Result<Store> {
        let layout = Layout::create(root)?;
        // Creating the schema and switching to WAL want the database alone;
        // the exclusive lock serialises only that first step.
        let db = {
            let _init = layout.init_lock()?;
            Db::open(&layout.db_path())?
        };
        Ok(Store { layout, db })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    pub fn root(&self) -> &Path {
        self.layout.root()
    }
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }
    pub(crate) fn db_mut(&mut self) -> &mut Db {
        &mut self.db
    }

    /// Loads a stored layer's index.
    pub fn layer(&self, diff_id: &Digest) -> Result<LayerIndex> {
        LayerIndex::load(&self.layout, diff_id)
    }

    /// Starts adding content: takes the store lock shared (so gc waits) and
    /// opens a staging area. Nothing is visible until [`Store::commit`].
    pub fn begin(&self) -> Result<Pending> {
        let lock = self.layout.lock(false)?;
        let staging = self.layout.staging()?;
        let staged = Staged::new(staging.path().join("objects"))?;
        Ok(Pending {
            _lock: lock,
            staging,
            staged,
            detached: Vec::new(),
            layers: Vec::new(),
            importers: Arc::default(),
        })
    }

    /// The layers of a stored image, bottom first.
    pub fn image_layers(&self, id: &Digest) -> Result<Vec<Digest>> {
        self.db.image_layers(id)
    }

    /// Whether the store has the layer with this diff_id.
    pub fn has_layer(&self, diff_id: &Digest) -> Result<bool> {
        self.db.has_layer(diff_id)
    }

    /// Adds the next layer (bottom first) of the image being built in
    /// `pending`, from a possibly compressed tar stream. Every expectation
    /// is checked; on any error the pending image should be dropped, which
    /// discards everything staged for it.
    pub fn add_layer(
        &mut self,
        pending: &mut Pending,
        label: &str,
        blob: impl Read,
        expect: &LayerExpect,
    ) -> Result<Arc<LayerIndex>> {
        let lower = topmost_first(&pending.layers);
        if let Some(d) = &expect.diff_id {
            if self.db.has_layer(d)? {
                let l = Arc::new(self.layer(d)?);
                validate_on(label, &l, &lower)?;
                pending.layers.push((l.clone(), false));
                return Ok(l);
            }
        }
        let (index, _) = import_blob(
            &self.layout,
            label,
            blob,
            expect,
            Below::Known(&lower),
            &mut pending.staged,
        )?;
        let l = Arc::new(index);
        pending.layers.push((l.clone(), true));
        Ok(l)
    }

    /// Adds the next layer (bottom first) of `pending` from a layer that
    /// [`LayerImporter::import`] read on its own: checks it against the
    /// layers below as [`Store::add_layer`] would have while reading it.
    pub fn attach_layer(
        &mut self,
        pending: &mut Pending,
        label: &str,
        layer: DetachedLayer,
    ) -> Result<Arc<LayerIndex>> {
        let DetachedLayer {
            mut index,
            unresolved,
            staged,
        } = layer;
        {
            let lower = topmost_first(&pending.layers);
            attach(label, &mut index, &unresolved, &lower)?;
        }
        pending.detached.push(staged);
        let l = Arc::new(index);
        pending.layers.push((l.clone(), true));
        Ok(l)
    }

    /// Moves a pending image's staged objects and layer indexes into the
    /// store and records the layers, without an image (gc will remove them
    /// unless an image comes to use them). Returns the layers, bottom first.
    pub fn commit_layers(&mut self, pending: Pending) -> Result<Vec<Arc<LayerIndex>>> {
        let Pending {
            _lock,
            staging,
            staged,
            detached,
            layers,
            ..
        } = pending;
        staged.commit(&self.layout)?;
        for s in detached {
            s.commit(&self.layout)?;
        }
        let mut fresh = Vec::new();
        for (i, (index, new)) in layers.iter().enumerate() {
            let diff_id = index.diff_id();
            if !new || self.db.has_layer(diff_id)? {
                continue;
            }
            let dir = staging.path().join(format!("layer-{i}"));
            std::fs::create_dir(&dir).ctx(|| format!("creating {}", dir.display()))?;
            index.write_to(&dir)?;
            LayerIndex::publish(&self.layout, &dir, diff_id)?;
            fresh.push(index);
        }
        // Objects and indexes reach the disk before the database names them,
        // so a power cut never leaves a recorded layer with missing content.
        self.layout.sync()?;
        for index in fresh {
            let mut objects: Vec<(Digest, u64)> = index
                .entries()
                .iter()
                .filter(|e| e.kind == Kind::File)
                .filter_map(|e| e.object.clone().map(|o| (o, e.size)))
                .collect();
            objects.sort();
            objects.dedup();
            self.db.insert_layer(&NewLayer {
                diff_id: index.diff_id(),
                tar_size: index.tar_size(),
                content_size: index.content_size(),
                entries: index.entries().len() as u64,
                objects,
            })?;
        }
        Ok(layers.into_iter().map(|(l, _)| l).collect())
    }

    /// Commits a pending image: its layers (see [`Store::commit_layers`]),
    /// then its config (checked against `expected_id` if given) and a
    /// manifest describing the uncompressed layers the store can rebuild,
    /// and finally the image row and tags in one transaction — the moment
    /// it becomes visible.
    pub fn commit(
        &mut self,
        pending: Pending,
        config_bytes: &[u8],
        expected_id: Option<&Digest>,
        tags: &[String],
    ) -> Result<StoredImage> {
        let config = parse_config(config_bytes, "image config")?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != pending.layers.len()
            || diff_ids
                .iter()
                .zip(&pending.layers)
                .any(|(d, (l, _))| *d != l.diff_id().to_string())
        {
            return Err(Error::BadJson {
                path: "image config".into(),
                reason: "rootfs.diff_ids do not match the image's layers".into(),
            });
        }
        let id = Digest::of(config_bytes);
        if let Some(e) = expected_id {
            if *e != id {
                return Err(Error::DigestMismatch {
                    what: "image config".into(),
                    expected: e.to_string(),
                    actual: id.to_string(),
                });
            }
        }
        let layers = self.commit_layers(pending)?;
        self.add_image(config_bytes, &config, &layers, tags)
    }

    fn add_image(
        &mut self,
        config_bytes: &[u8],
        config: &ImageConfiguration,
        layers: &[Arc<LayerIndex>],
        tags: &[String],
    ) -> Result<StoredImage> {
        let id = blobs::put(&self.layout, config_bytes, None)?;
        let manifest = storage_manifest(&id, config_bytes.len() as u64, layers)?;
        let manifest_digest = blobs::put(&self.layout, &manifest, None)?;
        let row = ImageRow {
            id: id.clone(),
            manifest: manifest_digest,
            created: config.created().clone(),
            size: layers.iter().map(|l| l.content_size()).sum(),
            tags: tags.to_vec(),
        };
        let diff: Vec<Digest> = layers.iter().map(|l| l.diff_id().clone()).collect();
        self.layout.sync()?;
        self.db.insert_image(&row, &diff)?;
        tracing::info!(id = %id, tags = ?tags, "image stored");
        Ok(StoredImage {
            id,
            tags: tags.to_vec(),
        })
    }
}

impl Pending {
    /// An importer for reading this image's layers on other threads, each
    /// before the layers below it are known (parallel downloads). Its
    /// staging areas live in this pending image's, so dropping the pending
    /// image discards them too.
    pub fn importer(&self, store: &Store) -> LayerImporter {
        LayerImporter {
            layout: store.layout.clone(),
            dir: self.staging.path().to_path_buf(),
            next: self.importers.clone(),
        }
    }
}

/// Reads layers of one pending image independently of each other: a layer
/// read this way is checked on its own (digests, sizes, tar rules within
/// the layer), and [`Store::attach_layer`] checks it against the layers
/// below, in order, before the image can be committed.
#[derive(Clone)]
pub struct LayerImporter {
    layout: Layout,
    dir: PathBuf,
    next: Arc<AtomicUsize>,
}

/// A layer read by a [`LayerImporter`], not yet placed on its lower layers.
pub struct DetachedLayer {
    index: LayerIndex,
    /// Hard links whose targets must come from the lower layers.
    unresolved: Vec<usize>,
    staged: Staged,
}

impl DetachedLayer {
    pub fn diff_id(&self) -> &Digest {
        self.index.diff_id()
    }
}

impl LayerImporter {
    /// Streams one possibly compressed layer blob into its own staging
    /// area, verifying everything `expect` says.
    pub fn import(
        &self,
        label: &str,
        blob: impl Read,
        expect: &LayerExpect,
    ) -> Result<DetachedLayer> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut staged = Staged::new(self.dir.join(format!("detached-{n}")))?;
        let (index, unresolved) =
            import_blob(&self.layout, label, blob, expect, Below::Later, &mut staged)?;
        Ok(DetachedLayer {
            index,
            unresolved,
            staged,
        })
    }
}

/// Decompresses `blob` (by its magic) into `staged` as one layer and checks
/// the blob digest and size and the diff_id against `expect`.
fn import_blob(
    layout: &Layout,
    label: &str,
    blob: impl Read,
    expect: &LayerExpect,
    below: Below,
    staged: &mut Staged,
) -> Result<(LayerIndex, Vec<usize>)> {
    let bad_stream = |e: std::io::Error| Error::BadTar {
        layer: label.to_string(),
        reason: one_line(e),
    };
    let mut blob = BufReader::with_capacity(128 << 10, blob);
    let compression = detect(blob.fill_buf().map_err(bad_stream)?);
    // An uncompressed blob is the tar itself: its digest is the diff_id
    // the import computes anyway, so it is not hashed twice.
    let hash_blob = compression != Compression::None && expect.blob_digest.is_some();
    let mut counted = MaybeHashingReader::new(blob, hash_blob);
    let (index, unresolved) = {
        let tar = decoder(compression, BufReader::new(&mut counted)).map_err(bad_stream)?;
        import_tar(layout, label, tar, below, staged)?
    };
    let (blob_digest, blob_size) = counted.finish().map_err(bad_stream)?;
    let blob_digest = blob_digest.unwrap_or_else(|| index.diff_id().clone());
    if let Some(e) = &expect.blob_digest {
        if *e != blob_digest {
            return Err(Error::DigestMismatch {
                what: format!("layer {label}"),
                expected: e.to_string(),
                actual: blob_digest.to_string(),
            });
        }
    }
    if let Some(e) = expect.blob_size {
        if e != blob_size {
            return Err(Error::SizeMismatch {
                what: format!("layer {label}"),
                expected: e,
                actual: blob_size,
            });
        }
    }
    if let Some(e) = &expect.diff_id {
        if e != index.diff_id() {
            return Err(Error::DigestMismatch {
                what: format!("layer {label} (uncompressed diff_id)"),
                expected: e.to_string(),
                actual: index.diff_id().to_string(),
            });
        }
    }
    tracing::debug!(
        layer = label,
        diff_id = %index.diff_id(),
        entries = index.entries().len(),
        "layer imported and verified"
    );
    Ok((index, unresolved))
}

/// A pending image's layers so far, topmost first: the ones below the next.
fn topmost_first(layers: &[(Arc<LayerIndex>, bool)]) -> Vec<&LayerIndex> {
    layers.iter().rev().map(|(l, _)| l.as_ref()).collect()
}

/// Parses an image config with oci-spec, tolerating configs (older Docker
/// ones among them) that omit `history`.
pub(crate) fn parse_config(bytes: &[u8], what: &str) -> Result<ImageConfiguration> {
    let bad = |e: &dyn std::fmt::Display| Error::BadJson {
        path: what.to_string(),
        reason: e.to_string(),
    };
    let mut v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(&e))?;
    if let Some(o) = v.as_object_mut() {
        o.entry("history").or_insert_with(|| serde_json::json!([]));
        if let Some(r) = o.get_mut("rootfs").and_then(|r| r.as_object_mut()) {
            r.entry("diff_ids").or_insert_with(|| serde_json::json!([]));
        }
    }
    serde_json::from_value(v).map_err(|e| bad(&e))
}

/// The OCI manifest the store keeps for an image: config plus the
/// uncompressed layers, exactly what `save` writes.
pub(crate) fn storage_manifest(
    config: &Digest,
    config_size: u64,
    layers: &[Arc<LayerIndex>],
) -> Result<Vec<u8>> {
    let err = |e: oci_spec::OciSpecError| Error::BadJson {
        path: "generated manifest".into(),
        reason: e.to_string(),
    };
    let desc = |mt: MediaType, d: &Digest, size: u64| {
        DescriptorBuilder::default()
            .media_type(mt)
            .digest(oci_spec::image::Digest::try_from(d.to_string()).expect("valid sha256 digest"))
            .size(size)
            .build()
            .map_err(err)
    };
    let layer_descs = layers
        .iter()
        .map(|l| desc(MediaType::ImageLayer, l.diff_id(), l.tar_size()))
        .collect::<Result<Vec<_>>>()?;
    let m = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(desc(MediaType::ImageConfig, config, config_size)?)
        .layers(layer_descs)
        .build()
        .map_err(err)?;
    m.to_string().map(String::into_bytes).map_err(err)
}
