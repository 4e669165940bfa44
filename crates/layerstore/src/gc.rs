//! Reclaiming space (`system prune`, and after `rmi`) and measuring it
//! (`system df`). gc holds the store lock exclusively, so no load is between
//! staging content and recording it while unreferenced things are deleted.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::digest::Digest;
use crate::error::{IoContext, Result};
use crate::store::Store;

/// What a gc or prune removed.
#[derive(Clone, Debug, Default)]
pub struct PruneReport {
    pub images: Vec<Digest>,
    pub layers: usize,
    pub objects: usize,
    pub blobs: usize,
    pub bytes_freed: u64,
}

/// Deletes untagged images, then everything nothing references.
pub fn prune(store: &mut Store) -> Result<PruneReport> {
    let images = store.db().dangling_images()?;
    for id in &images {
        store.db_mut().delete_image(id)?;
    }
    let mut r = collect(store)?;
    r.images = images;
    Ok(r)
}

/// Deletes layers no image uses, objects no layer uses, blobs no image
/// uses, and leftovers in `tmp/` (from killed loads).
pub fn collect(store: &mut Store) -> Result<PruneReport> {
    let _lock = store.layout().lock(true)?;
    let mut r = PruneReport::default();
    store.db_mut().delete_unused_layers()?;
    let layout = store.layout().clone();

    let known: HashSet<String> = store
        .db()
        .all_layers()?
        .iter()
        .map(|d| d.hex().to_string())
        .collect();
    for e in read_dir(&layout.layers_dir())? {
        let name = e.file_name().to_string_lossy().into_owned();
        if !known.contains(&name) {
            r.bytes_freed += remove_all(&e.path())?;
            r.layers += 1;
        }
    }

    let objects: HashSet<Digest> = store.db().referenced_objects()?.into_iter().collect();
    for shard in read_dir(&layout.objects_dir())? {
        for e in read_dir(&shard.path())? {
            let hex = format!(
                "{}{}",
                shard.file_name().to_string_lossy(),
                e.file_name().to_string_lossy()
            );
            if !Digest::from_hex(&hex).is_ok_and(|d| objects.contains(&d)) {
                r.bytes_freed += remove_all(&e.path())?;
                r.objects += 1;
            }
        }
    }

    let blobs: HashSet<Digest> = store.db().referenced_blobs()?.into_iter().collect();
    for e in read_dir(&layout.blobs_dir())? {
        let keep =
            Digest::from_hex(&e.file_name().to_string_lossy()).is_ok_and(|d| blobs.contains(&d));
        if !keep {
            r.bytes_freed += remove_all(&e.path())?;
            r.blobs += 1;
        }
    }

    for e in read_dir(&layout.tmp_dir())? {
        r.bytes_freed += remove_all(&e.path())?;
    }
    tracing::info!(
        layers = r.layers,
        objects = r.objects,
        blobs = r.blobs,
        bytes = r.bytes_freed,
        "gc done"
    );
    Ok(r)
}

fn read_dir(p: &Path) -> Result<Vec<fs::DirEntry>> {
    fs::read_dir(p)
        .and_then(|it| it.collect::<std::io::Result<Vec<_>>>())
        .ctx(|| format!("reading {}", p.display()))
}

/// Removes a file or tree, returning the bytes it occupied on disk.
fn remove_all(p: &Path) -> Result<u64> {
    let bytes = disk_usage(p)?;
    let md = fs::symlink_metadata(p).ctx(|| format!("stat {}", p.display()))?;
    if md.is_dir() {
        fs::remove_dir_all(p).ctx(|| format!("removing {}", p.display()))?;
    } else {
        fs::remove_file(p).ctx(|| format!("removing {}", p.display()))?;
    }
    Ok(bytes)
}

/// Bytes allocated on disk under `p`.
fn disk_usage(p: &Path) -> Result<u64> {
    let md = fs::symlink_metadata(p).ctx(|| format!("stat {}", p.display()))?;
    let mut total = md.blocks() * 512;
    if md.is_dir() {
        for e in read_dir(p)? {
            total += disk_usage(&e.path())?;
        }
    }
    Ok(total)
}

/// `system df`.
#[derive(Clone, Debug)]
pub struct DiskUsage {
    pub images: usize,
    pub layers: usize,
    /// File content over all stored layers, as a layer-level store keeps it.
    pub logical_bytes: u64,
    /// The same content counted once per distinct object.
    pub unique_bytes: u64,
    /// Bytes allocated on disk by objects, layer indexes and blobs.
    pub on_disk_bytes: u64,
}

impl DiskUsage {
    /// logical / unique: how many times over identical files are shared.
    pub fn dedup_ratio(&self) -> f64 {
        if self.unique_bytes == 0 {
            1.0
        } else {
            self.logical_bytes as f64 / self.unique_bytes as f64
        }
    }
}

pub fn disk_usage_report(store: &Store) -> Result<DiskUsage> {
    let (logical_bytes, unique_bytes) = store.db().logical_and_unique_bytes()?;
    let l = store.layout();
    Ok(DiskUsage {
        images: store.db().images()?.len(),
        layers: store.db().all_layers()?.len(),
        logical_bytes,
        unique_bytes,
        on_disk_bytes: disk_usage(&l.objects_dir())?
            + disk_usage(&l.layers_dir())?
            + disk_usage(&l.blobs_dir())?,
    })
}
