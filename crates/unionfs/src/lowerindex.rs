//! The merged view of the read-only lower stack, one directory at a time.
//!
//! Lower layers never change under a mount, so the first visit to a
//! directory lists it once in every layer that contributes to it and keeps
//! the merge: afterwards a lookup or readdir costs one hash probe instead of
//! a stat per layer plus a `.wh.` probe per layer.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use dashmap::DashMap;
use fuser::FileType;

use crate::lower::Lower;
use crate::sys;

/// The visible lower entry for one name.
#[derive(Clone, Debug)]
pub struct LowerHit {
    /// Topmost layer holding the name; its data and attributes are the ones seen.
    pub layer: usize,
    pub kind: FileType,
    pub ino: u64,
    /// For directories: every layer, top to bottom, whose directory of this
    /// name merges into the view (a non-directory or whiteout below ends it).
    pub dir_layers: Vec<usize>,
    /// Place of the name in [`DirIndex::order`].
    pub pos: usize,
}

/// The merged lower content of one directory.
#[derive(Debug, Default)]
pub struct DirIndex {
    pub entries: HashMap<Vec<u8>, LowerHit>,
    /// Names in a stable order for readdir (topmost layer's order first).
    pub order: Vec<Vec<u8>>,
}

pub struct LowerStack {
    pub layers: Vec<Box<dyn Lower>>,
    dirs: DashMap<Vec<u8>, Arc<DirIndex>>,
}

impl LowerStack {
    pub fn new(layers: Vec<Box<dyn Lower>>) -> Self {
        LowerStack {
            layers,
            dirs: DashMap::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The merged directory at `path`; empty when no lower layer has it.
    pub fn dir(&self, path: &[u8]) -> io::Result<Arc<DirIndex>> {
        if let Some(d) = self.dirs.get(path) {
            return Ok(d.clone());
        }
        let layers: Vec<usize> = if path.is_empty() {
            (0..self.layers.len()).collect()
        } else {
            let (parent, name) = split(path);
            match self.dir(parent)?.entries.get(name) {
                Some(hit) => hit.dir_layers.clone(),
                None => Vec::new(),
            }
        };
        let idx = Arc::new(self.build(path, &layers)?);
        self.dirs.insert(path.to_vec(), idx.clone());
        Ok(idx)
    }

    /// The merged directory at `path` if it was already built.
    pub fn cached(&self, path: &[u8]) -> Option<Arc<DirIndex>> {
        self.dirs.get(path).map(|d| d.clone())
    }

    /// The visible lower entry at `path`, if any.
    pub fn hit(&self, path: &[u8]) -> io::Result<Option<LowerHit>> {
        if path.is_empty() {
            return Ok(None);
        }
        let (parent, name) = split(path);
        Ok(self.dir(parent)?.entries.get(name).cloned())
    }

    fn build(&self, path: &[u8], layers: &[usize]) -> io::Result<DirIndex> {
        let mut idx = DirIndex::default();
        // Names whose merge chain has ended (hidden below by a whiteout,
        // a non-directory, or an entry that is not a directory).
        let mut closed: HashMap<Vec<u8>, ()> = HashMap::new();
        for &l in layers {
            let listing = match self.layers[l].list(path) {
                Ok(listing) => listing,
                Err(e) if sys::is_enoent(&e) => continue,
                Err(e) => return Err(e),
            };
            for e in listing.entries {
                if closed.contains_key(&e.name) {
                    continue;
                }
                match (idx.entries.get_mut(&e.name), e.kind) {
                    (Some(hit), Some(FileType::Directory)) if hit.kind == FileType::Directory => {
                        hit.dir_layers.push(l);
                    }
                    (Some(_), _) => {
                        closed.insert(e.name, ());
                    }
                    (None, None) => {
                        closed.insert(e.name, ());
                    }
                    (None, Some(kind)) => {
                        let dir_layers = if kind == FileType::Directory {
                            vec![l]
                        } else {
                            closed.insert(e.name.clone(), ());
                            Vec::new()
                        };
                        let pos = idx.order.len();
                        idx.order.push(e.name.clone());
                        idx.entries.insert(
                            e.name,
                            LowerHit {
                                layer: l,
                                kind,
                                ino: e.ino,
                                dir_layers,
                                pos,
                            },
                        );
                    }
                }
            }
            if listing.opaque {
                break;
            }
        }
        Ok(idx)
    }
}

/// Splits `a/b/c` into (`a/b`, `c`) and `c` into (``, `c`).
pub fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}
