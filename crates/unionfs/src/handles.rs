//! Open files and open directories.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use fuser::{BackingId, FileType};

pub struct FileHandle {
    pub ino: u64,
    pub fd: OwnedFd,
    /// The fd is on the upper layer (writable), not a lower file.
    pub upper: bool,
    /// Keeps the kernel's passthrough registration alive while this file is open.
    pub backing: Option<Arc<BackingId>>,
}

/// One entry of a directory listing snapshot.
#[derive(Clone, Debug)]
pub struct DirEntry {
    pub ino: u64,
    pub kind: FileType,
    pub name: Vec<u8>,
}
