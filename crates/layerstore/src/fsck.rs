//! `fsck`: re-hashes every object and blob, checks every layer index
//! against the objects it needs and rebuilds each layer tar against its
//! diff_id, and checks that every image's config, manifest and layers exist,
//! as do the blobs a served registry links.

use std::collections::HashSet;
use std::fs;
use std::io;

use crate::digest::{Digest, HashingReader};
use crate::error::{IoContext, Result};
use crate::index::LayerIndex;
use crate::rebuild::check_layer;
use crate::store::Store;

/// What fsck found.
#[derive(Clone, Debug, Default)]
pub struct FsckReport {
    pub objects: usize,
    pub blobs: usize,
    pub layers: usize,
    pub images: usize,
    /// One line per problem; empty means the store is sound.
    pub problems: Vec<String>,
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

fn hash_file(p: &std::path::Path) -> Result<Digest> {
    let f = fs::File::open(p).ctx(|| format!("opening {}", p.display()))?;
    let (d, _) = HashingReader::new(io::BufReader::new(f))
        .finish()
        .ctx(|| format!("reading {}", p.display()))?;
    Ok(d)
}

pub fn fsck(store: &Store) -> Result<FsckReport> {
    let l = store.layout();
    let mut r = FsckReport::default();
    let mut present = HashSet::new();
    for shard in fs::read_dir(l.objects_dir()).ctx(|| "reading objects/".to_string())? {
        let shard = shard.ctx(|| "reading objects/".to_string())?;
        for e in fs::read_dir(shard.path()).ctx(|| format!("reading {}", shard.path().display()))? {
            let p = e.ctx(|| "reading objects/".to_string())?.path();
            r.objects += 1;
            let name = p
                .strip_prefix(l.objects_dir())
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('/', "");
            match Digest::from_hex(&name) {
                Ok(d) => {
                    let got = hash_file(&p)?;
                    if got != d {
                        r.problems
                            .push(format!("object {d}: content hashes to {got}"));
                    } else {
                        present.insert(d);
                    }
                }
                Err(_) => r
                    .problems
                    .push(format!("stray file in objects/: {}", p.display())),
            }
        }
    }
    for e in fs::read_dir(l.blobs_dir()).ctx(|| "reading blobs/".to_string())? {
        let p = e.ctx(|| "reading blobs/".to_string())?.path();
        r.blobs += 1;
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        match Digest::from_hex(&name) {
            Ok(d) => {
                let got = hash_file(&p)?;
                if got != d {
                    r.problems
                        .push(format!("blob {d}: content hashes to {got}"));
                }
            }
            Err(_) => r
                .problems
                .push(format!("stray file in blobs/: {}", p.display())),
        }
    }
    for d in store.db().all_layers()? {
        r.layers += 1;
        let idx = match LayerIndex::load(l, &d) {
            Ok(i) => i,
            Err(e) => {
                r.problems.push(format!("layer {d}: {e}"));
                continue;
            }
        };
        let missing: Vec<String> = idx
            .entries()
            .iter()
            .filter_map(|e| e.object.as_ref())
            .filter(|o| !present.contains(o))
            .map(|o| o.to_string())
            .collect();
        if !missing.is_empty() {
            r.problems.push(format!(
                "layer {d}: {} objects missing or damaged (first {})",
                missing.len(),
                missing[0]
            ));
        } else if let Err(e) = check_layer(l, &idx) {
            r.problems.push(format!("layer {d}: {e}"));
        }
    }
    for img in store.db().images()? {
        r.images += 1;
        for b in [&img.id, &img.manifest] {
            if !l.blob_path(b).exists() {
                r.problems
                    .push(format!("image {}: blob {b} missing", img.id));
            }
        }
        for d in store.db().image_layers(&img.id)? {
            if !l.layer_dir(&d).exists() {
                r.problems
                    .push(format!("image {}: layer {d} missing", img.id));
            }
        }
    }
    for d in store.db().registry_blobs()? {
        if !l.blob_path(&d).exists() {
            r.problems.push(format!("registry: blob {d} missing"));
        }
    }
    Ok(r)
}
