//! The read API a union filesystem serves an image from, with nothing
//! extracted: an image's layers, topmost first, each an index to look paths
//! up in and list directories of, with file data opened straight from the
//! object pool. Whiteouts (`.wh.NAME`, `.wh..wh..opq`) are left for the
//! caller to interpret per layer, as overlayfs does with its lower dirs;
//! [`ImageView::merged`] applies them for callers that want the final tree.
//!
//! Two things a server should know: directories a tar leaves implicit are
//! synthesised (root-owned, 0755) so every parent can be looked up; and a
//! hard link is an entry of kind [`Kind::Hardlink`] whose `object` already
//! names its file's content (resolved at import, also across layers), so
//! [`LayerView::open`] serves it like the file — give both paths one inode
//! to keep `st_nlink` semantics (entry positions, from
//! [`LayerView::lookup_indexed`], make stable inode numbers).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::images::resolve;
use crate::index::{parent_of, Entry, Kind, LayerIndex};
use crate::layout::Layout;
use crate::objects;
use crate::store::Store;

/// One stored layer, shareable across threads.
#[derive(Clone)]
pub struct LayerView {
    layout: Layout,
    index: Arc<LayerIndex>,
}

impl LayerView {
    pub fn diff_id(&self) -> &Digest {
        self.index.diff_id()
    }
    /// The entry at a root-relative path (`""` or `/` is the root).
    pub fn lookup(&self, path: &Path) -> Option<&Entry> {
        self.index.lookup(path)
    }
    /// Entries directly inside a directory, whiteout markers included.
    pub fn read_dir(&self, path: &Path) -> impl Iterator<Item = &Entry> {
        self.index.read_dir(path)
    }
    /// [`LayerView::lookup`] with the entry's position in the layer, a
    /// number the stored index fixes (see [`LayerIndex::lookup_indexed`]).
    pub fn lookup_indexed(&self, path: &Path) -> Option<(usize, &Entry)> {
        self.index.lookup_indexed(path)
    }
    /// [`LayerView::read_dir`] with each entry's position.
    pub fn read_dir_indexed(&self, path: &Path) -> impl Iterator<Item = (usize, &Entry)> {
        self.index.read_dir_indexed(path)
    }
    /// Every entry, in tar order.
    pub fn entries(&self) -> &[Entry] {
        self.index.entries()
    }
    /// Opens the data of a regular file (or a hard link to one) read-only.
    pub fn open(&self, entry: &Entry) -> Result<File> {
        match (&entry.object, entry.kind) {
            (Some(d), Kind::File | Kind::Hardlink) => objects::open(&self.layout, d),
            _ => Err(Error::NotAFile(entry.path().to_path_buf())),
        }
    }
}

/// An image's layers, ready to serve.
pub struct ImageView {
    id: Digest,
    /// Topmost first.
    layers: Vec<LayerView>,
}

/// Where a path of the merged tree comes from: (layer from the bottom,
/// entry index in that layer).
type Origin = (usize, usize);

impl ImageView {
    /// Resolves `name` and loads its layer indexes.
    pub fn open(store: &Store, name: &str) -> Result<ImageView> {
        let id = resolve(store, name)?.id;
        let mut layers = Vec::new();
        for d in store.db().image_layers(&id)? {
            layers.push(LayerView {
                layout: store.layout().clone(),
                index: Arc::new(store.layer(&d)?),
            });
        }
        layers.reverse();
        Ok(ImageView { id, layers })
    }

    pub fn id(&self) -> &Digest {
        &self.id
    }

    /// Layers, topmost first.
    pub fn layers(&self) -> &[LayerView] {
        &self.layers
    }

    /// The merged tree with whiteouts and opaque directories applied, in
    /// path order (parents before children): each visible path and the
    /// layer (index into [`ImageView::layers`]) and entry that provide it.
    pub fn merged(&self) -> Vec<(&LayerView, &Entry)> {
        let mut visible: BTreeMap<Vec<u8>, Origin> = BTreeMap::new();
        let bottom_up: Vec<&LayerView> = self.layers.iter().rev().collect();
        for (li, layer) in bottom_up.iter().enumerate() {
            for e in layer.entries() {
                let p = e.path().as_os_str().as_encoded_bytes();
                if e.is_opaque_marker() {
                    remove_below(&mut visible, parent_of(p), li);
                } else if let Some(t) = e.whiteout_target() {
                    let mut target = parent_of(p).to_vec();
                    if !target.is_empty() {
                        target.push(b'/');
                    }
                    target.extend_from_slice(t.as_encoded_bytes());
                    if visible.get(&target).is_some_and(|o| o.0 < li) {
                        visible.remove(&target);
                    }
                    remove_below(&mut visible, &target, li);
                }
            }
            for (ei, e) in layer.entries().iter().enumerate() {
                if e.is_opaque_marker() || e.whiteout_target().is_some() {
                    continue;
                }
                let p = e.path().as_os_str().as_encoded_bytes().to_vec();
                if e.kind != Kind::Dir {
                    remove_below(&mut visible, &p, li);
                }
                visible.insert(p, (li, ei));
            }
        }
        let entry = |o: &Origin| &bottom_up[o.0].entries()[o.1];
        // A path beneath a visible non-directory (a lower layer's entry
        // under what an upper layer made a symlink or file) is not part of
        // the tree: showing it would let a reader write through the link.
        let under_non_dir = |path: &[u8]| {
            path.iter().enumerate().any(|(i, &c)| {
                c == b'/'
                    && visible
                        .get(&path[..i])
                        .is_some_and(|o| entry(o).kind != Kind::Dir)
            })
        };
        visible
            .iter()
            .filter(|(p, _)| !under_non_dir(p))
            .map(|(_, o)| (bottom_up[o.0], entry(o)))
            .collect()
    }
}

/// Removes paths strictly below `dir` that come from layers under `layer`.
fn remove_below(visible: &mut BTreeMap<Vec<u8>, Origin>, dir: &[u8], layer: usize) {
    let doomed: Vec<Vec<u8>> = if dir.is_empty() {
        visible
            .iter()
            .filter(|(k, o)| !k.is_empty() && o.0 < layer)
            .map(|(k, _)| k.clone())
            .collect()
    } else {
        let mut lo = dir.to_vec();
        lo.push(b'/');
        let mut hi = dir.to_vec();
        hi.push(b'/' + 1);
        visible
            .range(lo..hi)
            .filter(|(_, o)| o.0 < layer)
            .map(|(k, _)| k.clone())
            .collect()
    };
    for k in doomed {
        visible.remove(&k);
    }
}
