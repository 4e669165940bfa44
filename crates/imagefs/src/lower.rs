//! A stored image layer served as a union lower, straight from the store:
//! metadata from the layer index, file data opened from the object pool.
//! Nothing is extracted, so mounting an image costs reading its indexes.

use std::collections::HashMap;
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
    links: Links,
    /// Where the objects live, for statfs.
    store_root: PathBuf,
}

/// The names each hard-linked file has in the layer. An entry's inode
/// number is its position in the layer index plus one, so it is the same
/// on every mount; a hard link shows the number of the file it names, so
/// the layer's names of one file show one inode (and `st_nlink` counts
/// them), while two files that merely share content stay two.
#[derive(Default)]
struct Links {
    /// Position of each hard link → position of the file it names. A link
    /// to a file of a lower layer names no entry here: the first link to
    /// that path stands for the file.
    file_of: HashMap<usize, usize>,
    /// How many names each linked file has in the layer.
    names: HashMap<usize, u64>,
}

impl Links {
    fn of(layer: &LayerView) -> Links {
        let mut links = Links::default();
        let mut outside: HashMap<&Path, usize> = HashMap::new();
        for (pos, e) in layer.entries().iter().enumerate() {
            let (Kind::Hardlink, Some(target)) = (e.kind, e.link_target()) else {
                continue;
            };
            // A link names what was at the target path when it was read:
            // an earlier entry of this layer, or else a lower layer's file
            // (a later entry at that path replaced the path, not the file).
            let (file, in_layer) = match layer.lookup_indexed(target) {
                Some((t, _)) if t < pos => (links.file_of.get(&t).copied().unwrap_or(t), true),
                _ => (*outside.entry(target).or_insert(pos), false),
            };
            links.file_of.insert(pos, file);
            *links.names.entry(file).or_insert(u64::from(in_layer)) += 1;
        }
        links
    }

    /// Inode number and link count of the entry at position `pos`.
    fn ino_nlink(&self, pos: usize) -> (u64, u64) {
        let file = self.file_of.get(&pos).copied().unwrap_or(pos);
        (file as u64 + 1, self.names.get(&file).copied().unwrap_or(1))
    }
}

fn enoent() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

fn path_of(p: &[u8]) -> &Path {
    Path::new(std::ffi::OsStr::from_bytes(p))
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
            links: Links::of(&layer),
            layer,
            dev,
            store_root: store_root.to_path_buf(),
        }
    }

    fn entry(&self, path: &[u8]) -> io::Result<&Entry> {
        self.layer.lookup(path_of(path)).ok_or_else(enoent)
    }

    /// The stat of the entry at position `pos`.
    fn stat_of(&self, pos: usize, e: &Entry) -> libc::stat {
        // SAFETY: libc::stat is plain data; all-zero is a valid value.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let (ino, nlink) = self.links.ino_nlink(pos);
        st.st_dev = self.dev;
        st.st_ino = ino;
        st.st_nlink = nlink;
        st.st_blksize = 4096;
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
        for (pos, e) in self.layer.read_dir_indexed(path_of(dir)) {
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
                    ino: self.links.ino_nlink(pos).0,
                    kind: Some(file_type(e.kind)),
                });
            }
        }
        listing.add_whiteouts(whiteouts);
        Ok(listing)
    }

    fn stat(&self, path: &[u8]) -> io::Result<libc::stat> {
        // The root is always there: the index supplies it when the tar does not.
        let (pos, e) = self
            .layer
            .lookup_indexed(path_of(path))
            .ok_or_else(enoent)?;
        Ok(self.stat_of(pos, e))
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
