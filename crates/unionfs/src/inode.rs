//! The inode table: which union file each FUSE node id stands for.
//!
//! A node remembers where it is (parent and name, several for hard links)
//! rather than a full path, so a rename touches one node. Node ids are
//! handed out once per underlying file identity (device, inode) and that
//! mapping is kept for the life of the mount, so a file keeps its node
//! across forget/lookup and across copy-up. The inode number a node shows
//! is separate (see [`crate::xino`]): the names of a lower hard link are
//! separate nodes showing one number.
//!
//! One exception to "one id per file": a file opened with FUSE passthrough
//! to its lower file is bound to that file in the kernel while those opens
//! live, so when it needs its upper copy opened meanwhile it gets a new id
//! ([`InodeTable::retire`]) and the old one forwards to it.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use fuser::FileType;
use parking_lot::Mutex;

pub const ROOT_INO: u64 = 1;

/// Identity of an underlying file: st_dev and st_ino of the layer file, and
/// for lower non-directories also the path. Kernel overlayfs without an
/// index breaks lower hard links on copy-up; keeping each name of a lower
/// file its own node lets one name be copied up while the others still
/// show the lower file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    dev: u64,
    ino: u64,
    path: u64,
}

impl Key {
    pub fn real(dev: u64, ino: u64) -> Key {
        Key { dev, ino, path: 0 }
    }

    pub fn lower_file(dev: u64, ino: u64, path: &[u8]) -> Key {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        path.hash(&mut h);
        Key {
            dev,
            ino,
            path: h.finish() | 1,
        }
    }
}

#[derive(Debug)]
pub struct NodeState {
    /// Where the node is: (parent id, name); the first is used for paths.
    pub links: Vec<(u64, Vec<u8>)>,
    pub kind: FileType,
    /// The path exists in the upper layer (the data lives there).
    pub upper: bool,
    /// Topmost lower layer holding the path, when the data is still there
    /// (files) or lower content merges in (directories).
    pub lower: Option<usize>,
    /// The upper directory hides all lower content.
    pub opaque: bool,
}

#[derive(Debug)]
pub struct Node {
    pub ino: u64,
    pub state: Mutex<NodeState>,
    /// Held while the node is copied up without the namespace lock.
    pub copy_lock: Mutex<()>,
    lookups: AtomicU64,
    /// No identity leads to this id any more (its file is gone): the
    /// number it shows is dropped with the node.
    orphan: AtomicBool,
    /// The id that took over this node's file (0: none). A retired node
    /// only serves the kernel references it still has; every operation on
    /// the file is done on the successor, which it holds one lookup of.
    successor: AtomicU64,
    /// The thread last refused an open of this retired node (see
    /// `UnionFs::open_over_lower`).
    pub refused_tid: AtomicU32,
}

impl Node {
    fn new(ino: u64, state: NodeState, lookups: u64) -> Node {
        Node {
            ino,
            state: Mutex::new(state),
            copy_lock: Mutex::new(()),
            lookups: AtomicU64::new(lookups),
            orphan: AtomicBool::new(false),
            successor: AtomicU64::new(0),
            refused_tid: AtomicU32::new(0),
        }
    }

    pub fn kind(&self) -> FileType {
        self.state.lock().kind
    }

    pub fn is_retired(&self) -> bool {
        self.successor.load(Ordering::Acquire) != 0
    }
}

pub struct InodeTable {
    nodes: DashMap<u64, Arc<Node>>,
    keys: DashMap<Key, u64>,
    /// The inode number each node id shows: fixed when the id is handed
    /// out and kept as long as the id, so forget/lookup never changes it.
    shown: DashMap<u64, u64>,
    next: AtomicU64,
}

impl InodeTable {
    pub fn new(
        root_key: Key,
        root_shown: u64,
        root_upper: bool,
        root_lower: Option<usize>,
    ) -> Self {
        let t = InodeTable {
            nodes: DashMap::new(),
            keys: DashMap::new(),
            shown: DashMap::new(),
            next: AtomicU64::new(ROOT_INO + 1),
        };
        t.keys.insert(root_key, ROOT_INO);
        t.shown.insert(ROOT_INO, root_shown);
        let root = NodeState {
            links: vec![(0, Vec::new())],
            kind: FileType::Directory,
            upper: root_upper,
            lower: root_lower,
            opaque: false,
        };
        t.nodes
            .insert(ROOT_INO, Arc::new(Node::new(ROOT_INO, root, 1)));
        t
    }

    /// Node `ino` itself, retired or not (for what the kernel holds of it).
    pub fn get(&self, ino: u64) -> Option<Arc<Node>> {
        self.nodes.get(&ino).map(|n| n.clone())
    }

    /// The node that stands for node `ino`'s file now: `ino`'s own, or
    /// the successor of a retired one.
    pub fn live(&self, ino: u64) -> Option<Arc<Node>> {
        let mut node = self.get(ino)?;
        loop {
            match node.successor.load(Ordering::Acquire) {
                0 => return Some(node),
                next => node = self.get(next)?,
            }
        }
    }

    /// Moves `old`'s file, an upper file with identity `key`, to a new id
    /// showing the same number; `old` forwards to it from now on.
    pub fn retire(&self, old: &Node, key: Key) -> Arc<Node> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.shown.insert(id, self.shown(old.ino));
        let state = fresh_clone(&old.state.lock());
        // The lookup `old` holds: the successor lives as long as it does.
        let new = Arc::new(Node::new(id, state, 1));
        self.nodes.insert(id, new.clone());
        self.keys.insert(key, id);
        old.successor.store(id, Ordering::Release);
        new
    }

    /// The id for `key`, allocating one the first time the identity is
    /// seen; `shown` gives the inode number a new id shows.
    pub fn ino_for(&self, key: Key, shown: impl FnOnce() -> u64) -> u64 {
        if let Some(id) = self.known(key) {
            return id;
        }
        // Worked out before taking the shard lock: it may read an xattr.
        let number = shown();
        *self.keys.entry(key).or_insert_with(|| {
            let id = self.next.fetch_add(1, Ordering::Relaxed);
            self.shown.insert(id, number);
            id
        })
    }

    /// The inode number node `id` shows (`st_ino`, readdir's `d_ino`).
    pub fn shown(&self, id: u64) -> u64 {
        let n = self.shown.get(&id).map(|n| *n);
        debug_assert!(n.is_some(), "node {id} was handed out without a number");
        n.unwrap_or(id)
    }

    /// Node `id` shows another file's number from now on (a copy-up that
    /// broke a lower hard link).
    pub fn reshow(&self, id: u64, number: u64) {
        self.shown.insert(id, number);
    }

    /// The id already given to `key`, if any.
    pub fn known(&self, key: Key) -> Option<u64> {
        self.keys.get(&key).map(|v| *v)
    }

    /// Binds another identity (an upper copy) to an existing id.
    pub fn alias(&self, key: Key, ino: u64) {
        self.keys.insert(key, ino);
    }

    /// Drops an identity whose file is gone, so a recycled inode number of
    /// the upper filesystem does not inherit our id, and the number the id
    /// shows once no node needs it (files created and deleted by the
    /// million would otherwise each leave one behind).
    pub fn forget_key(&self, key: Key, ino: u64) {
        if self.keys.remove_if(&key, |_, v| *v == ino).is_none() {
            return;
        }
        match self.nodes.get(&ino) {
            Some(node) => node.orphan.store(true, Ordering::Release),
            None => {
                self.shown.remove(&ino);
            }
        }
    }

    /// The node for a looked-up entry, creating or refreshing it, and
    /// counting one kernel lookup.
    pub fn found(&self, ino: u64, parent: u64, name: &[u8], fresh: NodeState) -> Arc<Node> {
        let node = {
            let entry = self.nodes.entry(ino).or_insert_with(|| {
                let state = NodeState {
                    links: Vec::new(),
                    ..fresh_clone(&fresh)
                };
                Arc::new(Node::new(ino, state, 0))
            });
            // Counted under the shard lock, so a concurrent forget cannot
            // drop the node between here and the reply.
            entry.lookups.fetch_add(1, Ordering::Relaxed);
            entry.clone()
        };
        {
            let mut st = node.state.lock();
            if st.kind != fresh.kind {
                st.links.clear();
            }
            st.kind = fresh.kind;
            st.upper = fresh.upper;
            st.lower = fresh.lower;
            st.opaque = fresh.opaque;
            if !st.links.iter().any(|(p, n)| *p == parent && n == name) {
                if st.kind == FileType::Directory {
                    st.links.clear();
                }
                st.links.push((parent, name.to_vec()));
            }
        }
        node
    }

    /// Makes (parent, name) the link paths are built from, for an operation
    /// that names the file that way (one of several hard links).
    pub fn make_primary(&self, node: &Node, parent: u64, name: &[u8]) {
        let mut s = node.state.lock();
        if let Some(i) = s.links.iter().position(|(p, n)| *p == parent && n == name) {
            let l = s.links.remove(i);
            s.links.insert(0, l);
        }
    }

    /// The kernel took one more reference (a reply that returns an entry).
    pub fn add_lookup(&self, node: &Node) {
        node.lookups.fetch_add(1, Ordering::Relaxed);
    }

    /// The kernel dropped `n` references; an unreferenced node leaves the
    /// table (its id stays reserved for its identity).
    pub fn forget(&self, ino: u64, n: u64) {
        if ino == ROOT_INO {
            return;
        }
        let remove = match self.nodes.get(&ino) {
            Some(node) => node.lookups.fetch_sub(n, Ordering::AcqRel) <= n,
            None => false,
        };
        if remove {
            let gone = self
                .nodes
                .remove_if(&ino, |_, node| node.lookups.load(Ordering::Acquire) == 0);
            if let Some((_, node)) = gone {
                if node.orphan.load(Ordering::Acquire) {
                    self.shown.remove(&ino);
                }
                match node.successor.load(Ordering::Acquire) {
                    0 => {}
                    next => self.forget(next, 1),
                }
            }
        }
    }

    /// The path of node `ino`'s file relative to the union root, built
    /// from parent links.
    pub fn path(&self, ino: u64) -> Option<Vec<u8>> {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut cur = ino;
        while cur != ROOT_INO {
            let node = self.live(cur)?;
            let st = node.state.lock();
            let (p, name) = st.links.first()?.clone();
            drop(st);
            parts.push(name);
            cur = p;
            if parts.len() > 100_000 {
                return None;
            }
        }
        let mut out = Vec::new();
        for (i, p) in parts.iter().rev().enumerate() {
            if i > 0 {
                out.push(b'/');
            }
            out.extend_from_slice(p);
        }
        Some(out)
    }
}

fn fresh_clone(s: &NodeState) -> NodeState {
    NodeState {
        links: s.links.clone(),
        kind: s.kind,
        upper: s.upper,
        lower: s.lower,
        opaque: s.opaque,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> NodeState {
        NodeState {
            links: Vec::new(),
            kind: FileType::RegularFile,
            upper: true,
            lower: None,
            opaque: false,
        }
    }

    #[test]
    fn numbers_live_as_long_as_their_ids_are_reachable() {
        let t = InodeTable::new(Key::real(1, 2), 2, true, None);
        let key = Key::real(1, 50);
        let id = t.ino_for(key, || 50);
        assert_eq!(t.ino_for(key, || unreachable!("known")), id);
        let node = t.found(id, ROOT_INO, b"f", state());
        t.forget(id, 1);
        assert_eq!(t.shown(id), 50, "kept across forget/lookup");
        t.found(id, ROOT_INO, b"f", state());
        drop(node);
        // Deleted while the kernel still holds the node: the number stays
        // until the node goes.
        t.forget_key(key, id);
        assert_eq!(t.shown(id), 50);
        t.forget(id, 1);
        assert!(t.shown.get(&id).is_none());
    }

    #[test]
    fn a_retired_node_forwards_and_keeps_its_successor() {
        let t = InodeTable::new(Key::real(1, 2), 2, true, None);
        let old = t.ino_for(Key::lower_file(3, 7, b"f"), || 70);
        let node = t.found(old, ROOT_INO, b"f", state());
        let key = Key::real(1, 60);
        let new = t.retire(&node, key).ino;
        assert_ne!(new, old);
        assert_eq!(t.known(key), Some(new), "lookups find the new id");
        assert_eq!(t.live(old).map(|n| n.ino), Some(new));
        assert_eq!(t.shown(new), 70, "same inode number");
        assert_eq!(t.path(old).as_deref(), Some(&b"f"[..]));
        // The kernel looks the new id up and forgets it: the old node
        // still holds it.
        t.found(new, ROOT_INO, b"f", state());
        t.forget(new, 1);
        assert!(t.get(new).is_some());
        t.forget(old, 1);
        assert!(t.get(old).is_none() && t.get(new).is_none());
    }
}
