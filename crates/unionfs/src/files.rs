//! Open files: handles, their I/O mode (FUSE passthrough or not),
//! directory snapshots.
//!
//! The kernel insists that every open of one inode uses one I/O mode, and
//! when passing through, one backing file (see [`IoMode`]); the backing
//! file of an open inode cannot change. A lower file is passed through to
//! its lower file like any other, so when an open needs its upper copy
//! (a writer's, or any open once a copy-up happened) while such opens are
//! live, the file moves to a new node id and the open is answered ESTALE:
//! the kernel then walks the path again, revalidating every name, finds
//! the new id and opens that (see [`UnionFs::open_over_lower`]). Opens we
//! serve instead move to the upper copy when it is made
//! ([`UnionFs::follow_copy_up`]) and read what writers write, as through
//! kernel overlayfs.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use fuser::{BackingId, FileHandle as Fh, FopenFlags, ReplyOpen};

use crate::handles::{DirEntry, FileHandle, IoMode};
use crate::inode::Node;
use crate::union::{err, UnionFs};

/// Who opens a file: the kernel's node id and the calling thread.
pub(crate) struct OpenRequest {
    pub kid: u64,
    pub tid: u32,
    /// It writes (and so needs the upper copy).
    pub write: bool,
}

impl UnionFs {
    /// The I/O mode for an open of kernel node `kid` on `fd`: the one its
    /// open handles share, else passthrough if the kernel accepts the
    /// backing file, else served by us. `Err` holds a shared mode passing
    /// through to a lower file while `fd` is the upper copy.
    fn io_mode(
        &self,
        kid: u64,
        fd: &OwnedFd,
        upper: bool,
        open: impl FnOnce(BorrowedFd<'_>) -> io::Result<BackingId>,
    ) -> Result<Arc<IoMode>, Arc<IoMode>> {
        let mut slot = self.io_modes.entry(kid).or_default();
        if let Some(mode) = slot.upgrade() {
            return match *mode {
                IoMode::Passthrough { lower: true, .. } if upper => Err(mode),
                _ => Ok(mode),
            };
        }
        let may_pass = self.passthrough.load(Ordering::Relaxed);
        let mode = match may_pass.then(|| open(fd.as_fd())) {
            Some(Ok(backing)) => IoMode::Passthrough {
                backing,
                lower: !upper,
            },
            Some(Err(e)) => {
                tracing::debug!("passthrough refused ({e}); serving reads and writes ourselves");
                if e.raw_os_error() == Some(libc::EPERM) {
                    self.passthrough.store(false, Ordering::Relaxed);
                }
                IoMode::Daemon
            }
            None => IoMode::Daemon,
        };
        let mode = Arc::new(mode);
        *slot = Arc::downgrade(&mode);
        Ok(mode)
    }

    /// An open of `who.kid` has the upper copy in hand while opens passing
    /// through to the lower file (`live`) bind the kernel's inode to it.
    /// The file moves to a new node id (once) and the open is refused with
    /// ESTALE, which makes the kernel look the path up again with every
    /// name revalidated: the lookup answers the new id, the kernel drops
    /// its entry for the old one and opens the new node.
    ///
    /// The retry can only come back to the old node when the name walked
    /// was the old open file itself (a `/proc/PID/fd` link): a reader's
    /// retry then shares `live` and reads what the other old opens read;
    /// a writer's cannot be served and fails with ESTALE.
    fn open_over_lower(&self, who: &OpenRequest, live: Arc<IoMode>) -> io::Result<Arc<IoMode>> {
        let old = self.inodes.get(who.kid).ok_or_else(|| err(libc::ESTALE))?;
        if !old.is_retired() {
            let _g = self.tree.write();
            if !old.is_retired() {
                self.retire(&old)?;
            }
        } else if !who.write && old.refused_tid.load(Ordering::Relaxed) == who.tid {
            return Ok(live);
        }
        old.refused_tid.store(who.tid, Ordering::Relaxed);
        Err(err(libc::ESTALE))
    }

    /// Gives the file of `old` (copied up) a new node id; new lookups of
    /// its names find that one. Caller holds `tree` for writing.
    fn retire(&self, old: &Node) -> io::Result<()> {
        let st = self.upper()?.at(&self.path_of(old.ino)?)?.lstat()?;
        let new = self.inodes.retire(old, self.upper_key(&st));
        tracing::debug!("node {} continues as node {}", old.ino, new.ino);
        // What the kernel cached of the old node goes stale once the file
        // changes through the new one (its later answers are not cached:
        // see `attr_ttl`).
        if let Some(n) = self.notifier.get() {
            let _ = n.inval_inode(fuser::INodeNo(old.ino), -1, 0);
        }
        Ok(())
    }

    /// Registers an open fd of `who.kid`'s file as a handle. Returns the
    /// handle, the open flags to reply with, and the inode's I/O mode.
    pub(crate) fn register_open(
        &self,
        who: &OpenRequest,
        fd: OwnedFd,
        upper: bool,
        open_backing: impl FnOnce(BorrowedFd<'_>) -> io::Result<BackingId>,
    ) -> io::Result<(Fh, FopenFlags, Arc<IoMode>)> {
        let mode = match self.io_mode(who.kid, &fd, upper, open_backing) {
            Ok(mode) => mode,
            Err(live) => self.open_over_lower(who, live)?,
        };
        let fh = self.new_fh();
        // Lower data never changes, and upper data only through the mount,
        // so the kernel's page cache stays valid across opens, unless
        // passthrough writes went past it; close needs no round trip (we
        // keep no state to flush).
        let keep_cache = !upper || !self.passthrough.load(Ordering::Relaxed);
        let flags = match *mode {
            IoMode::Daemon if keep_cache => {
                FopenFlags::FOPEN_KEEP_CACHE | FopenFlags::FOPEN_NOFLUSH
            }
            _ => FopenFlags::FOPEN_NOFLUSH,
        };
        let handle = Arc::new(FileHandle::new(who.kid, fd, upper, mode.clone()));
        self.files.insert(fh, handle.clone());
        // A copy-up may have been installed since `fd` was opened; it
        // moved the handles it found, and this one was not among them.
        if !upper && self.node(who.kid).is_ok_and(|n| n.state.lock().upper) {
            let _g = self.tree.read();
            self.move_up(&handle);
        }
        Ok((Fh(fh), flags, mode))
    }

    pub(crate) fn reply_opened(
        &self,
        reply: ReplyOpen,
        who: &OpenRequest,
        fd: OwnedFd,
        upper: bool,
    ) {
        match self.register_open(who, fd, upper, |f| reply.open_backing(f)) {
            Ok((fh, flags, mode)) => match &*mode {
                IoMode::Passthrough { backing, .. } => reply.opened_passthrough(fh, flags, backing),
                IoMode::Daemon => reply.opened(fh, flags),
            },
            Err(e) => reply.error(fuser::Errno::from_i32(crate::sys::errno(&e))),
        }
    }

    /// Drops a closed handle, and its inode's I/O mode with the last one.
    pub(crate) fn release_handle(&self, fh: u64) {
        if let Some((_, h)) = self.files.remove(&fh) {
            let ino = h.ino;
            drop(h);
            self.io_modes.remove_if(&ino, |_, m| m.strong_count() == 0);
        }
    }

    /// After `ino` was copied up: moves its handles of the lower file to
    /// the upper copy, so those we serve read what later writes change, as
    /// reads through kernel overlayfs do, and all answer `fstat` for the
    /// copy. Caller holds `tree`.
    pub(crate) fn follow_copy_up(&self, ino: u64) {
        if self
            .io_modes
            .get(&ino)
            .is_none_or(|m| m.strong_count() == 0)
        {
            return;
        }
        let lower: Vec<Arc<FileHandle>> = self
            .files
            .iter()
            .filter(|h| h.ino == ino && !h.is_upper())
            .map(|h| h.value().clone())
            .collect();
        for h in lower {
            self.move_up(&h);
        }
    }

    /// Reopens a handle's file in the upper layer. Caller holds `tree`.
    fn move_up(&self, h: &FileHandle) {
        let opened = self.path_of(h.ino).and_then(|p| {
            self.upper()?
                .at(&p)?
                .open(libc::O_RDONLY | libc::O_NOFOLLOW, 0)
        });
        match opened {
            Ok(fd) => h.move_up(fd),
            // It goes on reading the lower file, which stays as it was.
            Err(e) => tracing::debug!("a handle of node {} stays on the lower file: {e}", h.ino),
        }
    }

    /// The listing of directory `ino` for a readdir at `offset`: taken anew
    /// when reading from the start and kept until the end has been read.
    /// (Directories are not opened through us: see `opendir`.)
    pub(crate) fn dir_snapshot(&self, ino: u64, offset: u64) -> io::Result<Arc<Vec<DirEntry>>> {
        if offset != 0 {
            if let Some(l) = self.dirs.get(&ino) {
                return Ok(l.clone());
            }
        }
        let node = self.node(ino)?;
        let listing = Arc::new(self.list_dir(&node)?);
        self.dirs.insert(ino, listing.clone());
        Ok(listing)
    }

    /// Forgets a listing once a reader has asked past its end.
    pub(crate) fn dir_read_to(&self, ino: u64, offset: u64, len: usize) {
        if offset as usize >= len {
            self.dirs.remove(&ino);
        }
    }

    /// Some open handle of `ino`'s file (those of a node it took over from
    /// too), for questions about a file that has no name left.
    pub(crate) fn any_handle(&self, ino: u64) -> Option<Arc<FileHandle>> {
        self.files
            .iter()
            .find(|h| h.ino == ino || self.inodes.live(h.ino).is_some_and(|n| n.ino == ino))
            .map(|h| h.value().clone())
    }
}
