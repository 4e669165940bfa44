//! Files whose last name is gone while the kernel still holds them.
//!
//! Kernel overlayfs answers `fstat`, and changes made through a descriptor,
//! from the real file the overlay inode holds, after its name is gone too.
//! Through FUSE that takes an open handle of ours, which a regular file
//! opened for I/O has; a fifo, a device or a directory is opened without
//! one (FUSE sends no OPEN for the first two, and directories are not
//! opened through us: see `opendir`). So when a node the kernel knows
//! loses its last name, strata-fs keeps what reaches its file until the
//! kernel forgets the node: an `O_PATH` descriptor of an upper file, taken
//! before it is removed, or the layer and path of a lower one (a lower
//! layer never changes; the whiteout only hides the file in the union).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use fuser::FileType;

use crate::inode::Node;
use crate::union::{Resolved, UnionFs};

/// What reaches the file of a node with no name left.
pub enum Kept {
    Upper(Arc<OwnedFd>),
    Lower { layer: usize, path: Vec<u8> },
}

impl UnionFs {
    /// What will reach node `ino`'s file once (`parent`, `name`), resolved
    /// as `r`, is removed, if that is the last name of the node the kernel
    /// knows (`None` if the kernel holds no such node). Called before the
    /// removal, with `tree` held for writing.
    pub(crate) fn keep_for_unlink(
        &self,
        ino: u64,
        parent: u64,
        name: &[u8],
        r: &Resolved,
    ) -> Option<Kept> {
        let node = self.inodes.get(ino)?;
        let last = node
            .state
            .lock()
            .links
            .iter()
            .all(|(p, n)| *p == parent && n == name);
        if !last {
            return None;
        }
        match (&r.upper, &r.lower) {
            // A regular file is only reachable without a name through a
            // descriptor, that is through one of our open handles: nothing
            // to keep (and no descriptor to open on every unlink).
            (Some(_), _) if r.kind == FileType::RegularFile => None,
            (Some(st), _) if st.st_nlink <= 1 || r.kind == FileType::Directory => {
                let at = self.upper.as_ref()?.at(&r.path).ok()?;
                let fd = at.open(libc::O_PATH | libc::O_NOFOLLOW, 0);
                fd.map(|fd| Kept::Upper(Arc::new(fd))).ok()
            }
            // Other names keep this file, and the kernel may then cache
            // its inode until memory runs short (its link count is not 0):
            // a descriptor kept for each such file could exhaust ours.
            (Some(_), _) => None,
            (None, Some(hit)) => Some(Kept::Lower {
                layer: hit.layer,
                path: r.path.clone(),
            }),
            (None, None) => None,
        }
    }

    /// Drops what was kept for node `ino` once the kernel has forgotten it.
    pub(crate) fn release_unlinked(&self, ino: u64) {
        self.kept
            .remove_if(&ino, |_, _| self.inodes.get(ino).is_none());
    }

    /// The real stat of a node with no name left, from what was kept for
    /// it; `None` while it has a name (or nothing was kept).
    pub(crate) fn unlinked_stat(&self, node: &Node) -> Option<io::Result<libc::stat>> {
        if !node.state.lock().links.is_empty() {
            return None;
        }
        Some(match &*self.kept.get(&node.ino)? {
            Kept::Upper(fd) => crate::sys::fstat(fd.as_fd()),
            Kept::Lower { layer, path } => self.lowers.layers[*layer].stat(path),
        })
    }

    /// A descriptor of an upper file with no name left, for changes made
    /// through a descriptor of it: the kept `O_PATH` one, or for a regular
    /// file a copy of an open handle's.
    pub(crate) fn unlinked_upper_fd(&self, node: &Node) -> Option<OwnedFd> {
        if !node.state.lock().links.is_empty() {
            return None;
        }
        if let Some(kept) = self.kept.get(&node.ino) {
            return match &*kept {
                Kept::Upper(fd) => fd.try_clone().ok(),
                Kept::Lower { .. } => None,
            };
        }
        let h = self.any_handle(node.ino).filter(|h| h.is_upper())?;
        let fd = h.fd().try_clone().ok();
        fd
    }
}
