//! Open files: handles, FUSE passthrough registration, directory snapshots.
//!
//! The kernel insists that every open of one inode in passthrough mode uses
//! the same backing file, so the registration is shared per inode and lives
//! as long as some handle holds it.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use fuser::{BackingId, FileHandle as Fh, FopenFlags, ReplyOpen};

use crate::handles::{DirEntry, FileHandle};
use crate::union::UnionFs;

impl UnionFs {
    /// A shared passthrough registration for `ino` backed by `fd`, or `None`
    /// when passthrough is off, refused by the kernel, or the inode is
    /// already registered with another layer's file.
    pub(crate) fn backing_for(
        &self,
        ino: u64,
        fd: &OwnedFd,
        upper: bool,
        open: impl FnOnce(BorrowedFd<'_>) -> io::Result<BackingId>,
    ) -> Option<Arc<BackingId>> {
        if !self.passthrough.load(Ordering::Relaxed) {
            return None;
        }
        let mut slot = self.backings.entry(ino).or_insert((Weak::new(), upper));
        if let Some(b) = slot.0.upgrade() {
            return (slot.1 == upper).then_some(b);
        }
        match open(fd.as_fd()) {
            Ok(b) => {
                let b = Arc::new(b);
                *slot = (Arc::downgrade(&b), upper);
                Some(b)
            }
            Err(e) => {
                tracing::debug!("passthrough refused ({e}); serving reads and writes ourselves");
                if e.raw_os_error() == Some(libc::EPERM) {
                    self.passthrough.store(false, Ordering::Relaxed);
                }
                None
            }
        }
    }

    /// Registers an open fd as a handle. Returns the handle, the open
    /// flags to reply with, and the passthrough registration when there is one.
    pub(crate) fn register_open(
        &self,
        ino: u64,
        fd: OwnedFd,
        upper: bool,
        open_backing: impl FnOnce(BorrowedFd<'_>) -> io::Result<BackingId>,
    ) -> (Fh, FopenFlags, Option<Arc<BackingId>>) {
        let fh = self.new_fh();
        let backing = self.backing_for(ino, &fd, upper, open_backing);
        // Lower data never changes under the mount, and upper data only
        // through it, so the kernel's page cache stays valid across opens;
        // close needs no round trip (we keep no state to flush).
        let flags = if backing.is_some() {
            FopenFlags::FOPEN_NOFLUSH
        } else {
            FopenFlags::FOPEN_KEEP_CACHE | FopenFlags::FOPEN_NOFLUSH
        };
        self.files.insert(
            fh,
            Arc::new(FileHandle {
                ino,
                fd,
                upper,
                backing: backing.clone(),
            }),
        );
        (Fh(fh), flags, backing)
    }

    pub(crate) fn reply_opened(&self, reply: ReplyOpen, ino: u64, fd: OwnedFd, upper: bool) {
        let (fh, flags, backing) = self.register_open(ino, fd, upper, |f| reply.open_backing(f));
        match backing {
            Some(b) => reply.opened_passthrough(fh, flags, &b),
            None => reply.opened(fh, flags),
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
