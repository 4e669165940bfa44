//! Open files: handles, their I/O mode (FUSE passthrough or not),
//! directory snapshots.
//!
//! The kernel insists that every open of one inode uses one I/O mode, and
//! when passing through, one backing file (see [`IoMode`]); the backing
//! file of an open inode cannot change. So a file still in a lower layer of
//! a writable union is never passed through: a copy-up may come while it
//! is open, and then its readers would keep reading the lower file and
//! every other open of the copy would fail. Served by us, its handles move
//! to the upper copy when it is made ([`UnionFs::follow_copy_up`]) and read
//! what writers write, as through kernel overlayfs.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use fuser::{BackingId, FileHandle as Fh, FopenFlags, ReplyOpen};

use crate::handles::{DirEntry, FileHandle, IoMode};
use crate::union::UnionFs;

impl UnionFs {
    /// The I/O mode for an open of `ino` on `fd`: the one its open handles
    /// share, else passthrough where the module doc allows it and the
    /// kernel accepts the backing file, else served by us.
    fn io_mode(
        &self,
        ino: u64,
        fd: &OwnedFd,
        upper: bool,
        open: impl FnOnce(BorrowedFd<'_>) -> io::Result<BackingId>,
    ) -> Arc<IoMode> {
        let mut slot = self.io_modes.entry(ino).or_default();
        if let Some(mode) = slot.upgrade() {
            return mode;
        }
        let may_pass = self.passthrough.load(Ordering::Relaxed) && (upper || self.upper.is_none());
        let mode = match may_pass.then(|| open(fd.as_fd())) {
            Some(Ok(b)) => IoMode::Passthrough(b),
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
        mode
    }

    /// Registers an open fd as a handle. Returns the handle, the open
    /// flags to reply with, and the inode's I/O mode.
    pub(crate) fn register_open(
        &self,
        ino: u64,
        fd: OwnedFd,
        upper: bool,
        open_backing: impl FnOnce(BorrowedFd<'_>) -> io::Result<BackingId>,
    ) -> (Fh, FopenFlags, Arc<IoMode>) {
        let fh = self.new_fh();
        let mode = self.io_mode(ino, &fd, upper, open_backing);
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
        let handle = Arc::new(FileHandle::new(ino, fd, upper, mode.clone()));
        self.files.insert(fh, handle.clone());
        // A copy-up may have been installed since `fd` was opened; it
        // moved the handles it found, and this one was not among them.
        if !upper && self.node(ino).is_ok_and(|n| n.state.lock().upper) {
            let _g = self.tree.read();
            self.move_up(&handle);
        }
        (Fh(fh), flags, mode)
    }

    pub(crate) fn reply_opened(&self, reply: ReplyOpen, ino: u64, fd: OwnedFd, upper: bool) {
        let (fh, flags, mode) = self.register_open(ino, fd, upper, |f| reply.open_backing(f));
        match &*mode {
            IoMode::Passthrough(b) => reply.opened_passthrough(fh, flags, b),
            IoMode::Daemon => reply.opened(fh, flags),
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
    /// the upper copy, so they read what later writes change, as reads
    /// through kernel overlayfs do (only handles we serve can be on a lower
    /// file here: see the module doc). Caller holds `tree`.
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

    /// Some open handle of `ino`, for questions about a file that has no name left.
    pub(crate) fn any_handle(&self, ino: u64) -> Option<Arc<FileHandle>> {
        self.files
            .iter()
            .find(|h| h.ino == ino)
            .map(|h| h.value().clone())
    }
}
