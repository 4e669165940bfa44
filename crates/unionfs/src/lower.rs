//! Read-only layer sources. The union only ever asks a lower layer these
//! questions, so a plain directory and a store's layer index are
//! interchangeable beneath it.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

pub use fuser::FileType;

use crate::sys::{self, At};
use crate::whiteout;

/// One visible name in one layer's directory; `kind == None` is a whiteout.
#[derive(Clone, Debug)]
pub struct ListEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub kind: Option<FileType>,
}

/// A directory of one layer with its whiteouts already interpreted.
#[derive(Debug, Default)]
pub struct Listing {
    pub entries: Vec<ListEntry>,
    /// The directory hides everything below it in lower layers.
    pub opaque: bool,
}

/// A read-only layer. Paths are relative to the layer root, `/`-separated,
/// without a leading slash; the empty path is the root.
pub trait Lower: Send + Sync {
    /// Human-readable origin, for messages.
    fn describe(&self) -> String;
    /// The directory `dir`, whiteouts interpreted; ENOENT/ENOTDIR if absent.
    fn list(&self, dir: &[u8]) -> io::Result<Listing>;
    /// `lstat` of an entry.
    fn stat(&self, path: &[u8]) -> io::Result<libc::stat>;
    fn readlink(&self, path: &[u8]) -> io::Result<Vec<u8>>;
    /// Opens file data read-only (`O_RDONLY` plus the caller's flags such as `O_DIRECTORY`).
    fn open(&self, path: &[u8], flags: i32) -> io::Result<OwnedFd>;
    fn get_xattr(&self, path: &[u8], name: &[u8]) -> io::Result<Option<Vec<u8>>>;
    fn list_xattr(&self, path: &[u8]) -> io::Result<Vec<Vec<u8>>>;
    /// Space figures of the filesystem holding the layer (for a union with no upper).
    fn statfs(&self) -> io::Result<libc::statvfs>;
}

impl Listing {
    /// Adds `.wh.NAME` whiteouts to a listing of real entries. A `.wh.NAME`
    /// hides NAME in lower layers only; a NAME in this same layer stays
    /// visible (OCI image spec).
    pub fn add_whiteouts(&mut self, whiteouts: Vec<Vec<u8>>) {
        for w in whiteouts {
            if !self.entries.iter().any(|e| e.name == w) {
                self.entries.push(ListEntry {
                    name: w,
                    ino: 0,
                    kind: None,
                });
            }
        }
    }
}

/// A plain directory in overlayfs (or OCI `.wh.`) format: what `lowerdir=` names.
pub struct DirLower {
    path: PathBuf,
    root: OwnedFd,
}

impl DirLower {
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(DirLower {
            path: path.to_path_buf(),
            root: sys::open_dir_path(path)?,
        })
    }

    fn at(&self, path: &[u8]) -> io::Result<At<'_>> {
        At::resolve(self.root.as_fd(), path)
    }
}

pub fn kind_of_dtype(dtype: u8) -> Option<FileType> {
    Some(match dtype {
        libc::DT_DIR => FileType::Directory,
        libc::DT_REG => FileType::RegularFile,
        libc::DT_LNK => FileType::Symlink,
        libc::DT_FIFO => FileType::NamedPipe,
        libc::DT_SOCK => FileType::Socket,
        libc::DT_BLK => FileType::BlockDevice,
        libc::DT_CHR => FileType::CharDevice,
        _ => return None,
    })
}

pub fn kind_of_mode(mode: u32) -> FileType {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFSOCK => FileType::Socket,
        libc::S_IFBLK => FileType::BlockDevice,
        libc::S_IFCHR => FileType::CharDevice,
        _ => FileType::RegularFile,
    }
}

impl Lower for DirLower {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn list(&self, dir: &[u8]) -> io::Result<Listing> {
        let at = self.at(dir)?;
        let fd = at.open(libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
        let mut listing = Listing {
            entries: Vec::new(),
            opaque: whiteout::has_opaque_xattr(&at)?,
        };
        let raw = sys::read_dir_fd(fd)?;
        let mut whiteouts = Vec::new();
        for d in raw {
            if d.name == whiteout::OPAQUE_MARKER {
                listing.opaque = true;
                continue;
            }
            if let Some(target) = whiteout::whiteout_target(&d.name) {
                whiteouts.push(target.to_vec());
                continue;
            }
            let mut kind = kind_of_dtype(d.dtype);
            if kind.is_none() || kind == Some(FileType::CharDevice) {
                let child = sys::join(dir, &d.name);
                let st = self.stat(&child)?;
                kind = if whiteout::is_whiteout_stat(&st) {
                    None
                } else {
                    Some(kind_of_mode(st.st_mode))
                };
            }
            listing.entries.push(ListEntry {
                name: d.name,
                ino: d.ino,
                kind,
            });
        }
        listing.add_whiteouts(whiteouts);
        Ok(listing)
    }

    fn stat(&self, path: &[u8]) -> io::Result<libc::stat> {
        self.at(path)?.lstat()
    }

    fn readlink(&self, path: &[u8]) -> io::Result<Vec<u8>> {
        self.at(path)?.readlink()
    }

    fn open(&self, path: &[u8], flags: i32) -> io::Result<OwnedFd> {
        self.at(path)?
            .open(libc::O_RDONLY | libc::O_NOFOLLOW | flags, 0)
    }

    fn get_xattr(&self, path: &[u8], name: &[u8]) -> io::Result<Option<Vec<u8>>> {
        self.at(path)?.get_xattr(name)
    }

    fn list_xattr(&self, path: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        self.at(path)?.list_xattr()
    }

    fn statfs(&self) -> io::Result<libc::statvfs> {
        sys::fstatvfs(self.root.as_fd())
    }
}
