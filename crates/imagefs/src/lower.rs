//! A stored image layer served as a union lower, straight from the store:
//! metadata from the layer index, file data opened from the object pool.
//! Nothing is extracted, so mounting an image costs reading its indexes.

use std::hash::{Hash, Hasher};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use layerstore::view::LayerView;
use layerstore::{Entry, Kind};
use unionfs::lower::{FileType, ListEntry, Listing, Lower};
use unionfs::whiteout;

pub struct ImageLower {
    layer: LayerView,
    /// A device number of our own per layer, so (dev, ino) pairs of different
    /// layers never collide.
    dev: u64,
    /// Where the objects live, for statfs.
    store_root: PathBuf,
}

fn enoent() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

fn path_of(p: &[u8]) -> &Path {
    Path::new(std::ffi::OsStr::from_bytes(p))
}

/// Stable inode number for a path in a layer; hard links share their target's.
fn ino_of(e: &Entry) -> u64 {
    let p = match (e.kind, e.link_target()) {
        (Kind::Hardlink, Some(t)) => t.as_os_str().as_bytes().to_vec(),
        _ => e.path().as_os_str().as_bytes().to_vec(),
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    p.hash(&mut h);
    h.finish() | 2
}

fn file_type(k: Kind) -> FileType {
    match k {
        Kind::Dir => FileType::Directory,
        Kind::Symlink => FileType::Symlink,
        Kind::Fifo => FileType::NamedPipe,
        Kind::CharDevice => FileType::CharDevice,
        Kind::BlockDevice => FileType::BlockDevice,
        Kind::File | Kind::Hardlink => FileType::RegularFile,
    }
}

fn type_bits(k: Kind) -> u32 {
    match k {
        Kind::Dir => libc::S_IFDIR,
        Kind::Symlink => libc::S_IFLNK,
        Kind::Fifo => libc::S_IFIFO,
        Kind::CharDevice => libc::S_IFCHR,
        Kind::BlockDevice => libc::S_IFBLK,
        Kind::File | Kind::Hardlink => libc::S_IFREG,
    }
}

impl ImageLower {
    pub fn new(layer: LayerView, dev: u64, store_root: &Path) -> Self {
        ImageLower {
            layer,
            dev,
            store_root: store_root.to_path_buf(),
        }
    }

    fn entry(&self, path: &[u8]) -> io::Result<&Entry> {
        self.layer.lookup(path_of(path)).ok_or_else(enoent)
    }

    fn stat_of(&self, e: Option<&Entry>) -> libc::stat {
        // SAFETY: libc::stat is plain data; all-zero is a valid value.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        st.st_dev = self.dev;
        st.st_nlink = 1;
        st.st_blksize = 4096;
        match e {
            None => {
                st.st_ino = 1;
                st.st_mode = libc::S_IFDIR | 0o755;
            }
            Some(e) => {
                st.st_ino = ino_of(e);
                st.st_mode = type_bits(e.kind) | (e.mode & 0o7777);
                st.st_uid = e.uid as u32;
                st.st_gid = e.gid as u32;
                st.st_size = match e.kind {
                    Kind::Symlink => e.link_target().map_or(0, |t| t.as_os_str().len()) as i64,
                    Kind::Dir => 4096,
                    _ => e.size as i64,
                };
                st.st_blocks = (st.st_size + 511) / 512;
                st.st_mtime = e.mtime as i64;
                st.st_atime = e.mtime as i64;
                st.st_ctime = e.mtime as i64;
                st.st_rdev = libc::makedev(e.rdev_major, e.rdev_minor);
            }
        }
        st
    }
}

impl Lower for ImageLower {
    fn describe(&self) -> String {
        format!("layer {}", self.layer.diff_id())
    }

    fn list(&self, dir: &[u8]) -> io::Result<Listing> {
        if !dir.is_empty() && self.entry(dir)?.kind != Kind::Dir {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        let mut listing = Listing::default();
        let mut whiteouts = Vec::new();
        for e in self.layer.read_dir(path_of(dir)) {
            let Some(name) = e.path().file_name() else {
                continue;
            };
            let name = name.as_bytes();
            if name == whiteout::OPAQUE_MARKER {
                listing.opaque = true;
            } else if let Some(t) = whiteout::whiteout_target(name) {
                whiteouts.push(t.to_vec());
            } else {
                listing.entries.push(ListEntry {
                    name: name.to_vec(),
                    ino: ino_of(e),
                    kind: Some(file_type(e.kind)),
                });
            }
        }
        listing.add_whiteouts(whiteouts);
        Ok(listing)
    }

    fn stat(&self, path: &[u8]) -> io::Result<libc::stat> {
        if path.is_empty() {
            return Ok(self.stat_of(self.layer.lookup(Path::new(""))));
        }
        Ok(self.stat_of(Some(self.entry(path)?)))
    }

    fn readlink(&self, path: &[u8]) -> io::Result<Vec<u8>> {
        let e = self.entry(path)?;
        match (e.kind, e.link_target()) {
            (Kind::Symlink, Some(t)) => Ok(t.as_os_str().as_bytes().to_vec()),
            _ => Err(io::Error::from_raw_os_error(libc::EINVAL)),
        }
    }

    fn open(&self, path: &[u8], _flags: i32) -> io::Result<OwnedFd> {
        let e = self.entry(path)?;
        if e.size == 0 && e.object.is_none() {
            // Empty files need no object: any empty read-only file will do.
            return Ok(std::fs::File::open("/dev/null")?.into());
        }
        let f = self
            .layer
            .open(e)
            .map_err(|err| io::Error::other(err.to_string()))?;
        Ok(f.into())
    }

    fn get_xattr(&self, path: &[u8], name: &[u8]) -> io::Result<Option<Vec<u8>>> {
        let e = self.entry(path)?;
        Ok(e.xattrs()
            .find(|(n, _)| n.as_bytes() == name)
            .map(|(_, v)| v.to_vec()))
    }

    fn list_xattr(&self, path: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        let e = self.entry(path)?;
        Ok(e.xattrs().map(|(n, _)| n.as_bytes().to_vec()).collect())
    }

    fn statfs(&self) -> io::Result<libc::statvfs> {
        nix::sys::statvfs::statvfs(&self.store_root)
            .map(|s| {
                // SAFETY: plain data; filled field by field below.
                let mut v: libc::statvfs = unsafe { std::mem::zeroed() };
                v.f_bsize = s.block_size();
                v.f_frsize = s.fragment_size();
                v.f_blocks = s.blocks();
                v.f_bfree = s.blocks_free();
                v.f_bavail = s.blocks_available();
                v.f_files = s.files();
                v.f_ffree = s.files_free();
                v.f_namemax = s.name_max();
                v
            })
            .map_err(io::Error::from)
    }
}
