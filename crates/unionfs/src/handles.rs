//! Open files and open directories.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use fuser::{BackingId, FileType};
use parking_lot::{RwLock, RwLockReadGuard};

/// How the kernel does an inode's I/O while it is open. The kernel insists
/// that all opens of one inode agree: each passes through to the same
/// backing file, or none does (else the open fails with EIO), so the mode
/// is shared by an inode's handles and lives as long as one of them.
pub enum IoMode {
    /// Passes through to `backing`, a lower layer's file when `lower`.
    Passthrough { backing: BackingId, lower: bool },
    /// Reads and writes come to us; the kernel caches the data.
    Daemon,
}

pub struct FileHandle {
    /// The node the kernel opened (a retired node's handles keep its id).
    pub ino: u64,
    /// Behind a lock because a handle of a lower file moves to the upper
    /// copy when the file is copied up (`UnionFs::follow_copy_up`). With
    /// passthrough the kernel reads the backing file it was given at open,
    /// and this fd only answers for the file's attributes.
    fd: RwLock<OwnedFd>,
    /// The fd is on the upper layer (writable), not a lower file.
    upper: AtomicBool,
    /// Keeps the inode's I/O mode (and any passthrough registration) alive.
    pub mode: Arc<IoMode>,
}

impl FileHandle {
    pub fn new(ino: u64, fd: OwnedFd, upper: bool, mode: Arc<IoMode>) -> Self {
        FileHandle {
            ino,
            fd: RwLock::new(fd),
            upper: AtomicBool::new(upper),
            mode,
        }
    }

    pub fn fd(&self) -> RwLockReadGuard<'_, OwnedFd> {
        self.fd.read()
    }

    pub fn is_upper(&self) -> bool {
        self.upper.load(Ordering::Acquire)
    }

    /// Swaps in `fd`, an open file of the upper copy, unless that was done already.
    pub fn move_up(&self, fd: OwnedFd) {
        let mut cur = self.fd.write();
        if !self.is_upper() {
            *cur = fd;
            self.upper.store(true, Ordering::Release);
        }
    }
}

/// One entry of a directory listing snapshot.
#[derive(Clone, Debug)]
pub struct DirEntry {
    pub ino: u64,
    pub kind: FileType,
    pub name: Vec<u8>,
}
