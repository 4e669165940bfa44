//! The union itself: how a name resolves through the upper layer and the
//! lower stack, and what attributes the result shows.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use fuser::{FileAttr, FileType, INodeNo};
use parking_lot::RwLock;

use crate::handles::{DirEntry, FileHandle, IoMode};
use crate::ids::{Override, Ownership};
use crate::inode::{InodeTable, Key, Node, NodeState};
use crate::lower::{kind_of_mode, Lower};
use crate::lowerindex::{LowerHit, LowerStack};
use crate::origin::Origin;
use crate::readahead::Readahead;
use crate::sys::{self, At};
use crate::unlinked::Kept;
use crate::upper::{Upper, UpperEntry};
use crate::xino::InoSpace;

/// What `strata-fs` was asked to mount.
pub struct UnionConfig {
    /// Topmost first.
    pub lowers: Vec<Box<dyn Lower>>,
    pub upper: Option<(PathBuf, PathBuf)>,
    pub timeout: Duration,
    pub ownership: Ownership,
    /// Try FUSE passthrough for open files (kernel 6.9+, privileged).
    pub passthrough: bool,
    /// Honour fsync (off with `fsync=0` / `volatile`).
    pub fsync: bool,
    /// Report nlink 1 for directories instead of counting.
    pub static_nlink: bool,
    /// Hide all xattrs (`noxattrs=1`).
    pub noxattrs: bool,
    /// Let the kernel enforce and cache POSIX ACLs (off with `noacl`).
    /// Only with plain ownership: ACL entries name on-disk ids, which
    /// mappings, squashing and the override xattr would misstate.
    pub posix_acl: bool,
}

pub struct UnionFs {
    pub(crate) lowers: Arc<LowerStack>,
    pub(crate) readahead: Readahead,
    pub(crate) upper: Option<Upper>,
    pub(crate) inodes: InodeTable,
    /// Namespace changes (create, remove, rename, copy-up) take it for
    /// writing; lookups for reading, so they never see half a change.
    pub(crate) tree: RwLock<()>,
    pub(crate) files: DashMap<u64, Arc<FileHandle>>,
    /// Directory listings being read, by directory node.
    pub(crate) dirs: DashMap<u64, Arc<Vec<DirEntry>>>,
    /// What reaches the files of nodes with no name left (see [`crate::unlinked`]).
    pub(crate) kept: DashMap<u64, Kept>,
    pub(crate) next_fh: AtomicU64,
    pub(crate) ttl: Duration,
    pub(crate) owners: Ownership,
    pub(crate) want_passthrough: bool,
    /// The I/O mode each open inode's handles share.
    pub(crate) io_modes: DashMap<u64, std::sync::Weak<IoMode>>,
    pub(crate) passthrough: AtomicBool,
    pub(crate) fsync: bool,
    pub(crate) static_nlink: bool,
    pub(crate) noxattrs: bool,
    pub(crate) posix_acl: bool,
    /// Set once the session exists: tells the kernel when attributes it
    /// caches changed without a request for them.
    pub notifier: Arc<std::sync::OnceLock<fuser::Notifier>>,
    /// We may chown for real.
    pub(crate) privileged: bool,
    /// Our own uid and gid: what a new file gets without a chown.
    pub(crate) own_ids: (u32, u32),
    pub(crate) layer_devs: Vec<u64>,
    /// How the layers' inode numbers become the ones the mount shows.
    pub(crate) xino: InoSpace,
}

/// How a name resolved.
pub struct Resolved {
    pub path: Vec<u8>,
    pub kind: FileType,
    pub upper: Option<libc::stat>,
    pub lower: Option<LowerHit>,
    pub opaque: bool,
}

impl Resolved {
    /// Lower content merges in (files: the data is there; dirs: entries show).
    pub fn lower_visible(&self) -> Option<usize> {
        match (&self.upper, &self.lower) {
            (None, Some(h)) => Some(h.layer),
            (Some(_), Some(h))
                if self.kind == FileType::Directory
                    && h.kind == FileType::Directory
                    && !self.opaque =>
            {
                Some(h.layer)
            }
            _ => None,
        }
    }
}

/// The layer a node is read from: its upper entry, or a lower layer and path.
pub enum Source<'a> {
    Upper(At<'a>),
    Lower(&'a dyn Lower, Vec<u8>),
}

impl Source<'_> {
    pub fn stat(&self) -> io::Result<libc::stat> {
        match self {
            Source::Upper(at) => at.lstat(),
            Source::Lower(l, p) => l.stat(p),
        }
    }

    pub fn readlink(&self) -> io::Result<Vec<u8>> {
        match self {
            Source::Upper(at) => at.readlink(),
            Source::Lower(l, p) => l.readlink(p),
        }
    }

    pub fn get_xattr(&self, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
        match self {
            Source::Upper(at) => at.get_xattr(name),
            Source::Lower(l, p) => l.get_xattr(p, name),
        }
    }

    pub fn list_xattr(&self) -> io::Result<Vec<Vec<u8>>> {
        match self {
            Source::Upper(at) => at.list_xattr(),
            Source::Lower(l, p) => l.list_xattr(p),
        }
    }
}

pub fn err(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

impl UnionFs {
    pub fn new(cfg: UnionConfig) -> io::Result<Self> {
        let upper = match &cfg.upper {
            Some((u, w)) => Some(Upper::open(u, w)?),
            None => None,
        };
        let layer_devs = cfg
            .lowers
            .iter()
            .map(|l| l.stat(b"").map(|s| s.st_dev))
            .collect::<io::Result<Vec<_>>>()?;
        let lowers = Arc::new(LowerStack::new(cfg.lowers));
        if upper.is_none() && lowers.is_empty() {
            return Err(io::Error::other("no lowerdir and no upperdir given"));
        }
        let xino = InoSpace::new(upper.as_ref().map(|u| u.dev), &layer_devs);
        // The root shows the upper root's number, as the kernel's does.
        let (root_key, root_shown, root_lower) = match &upper {
            Some(u) => {
                let st = sys::fstat(u.root_fd())?;
                (
                    Key::real(st.st_dev, st.st_ino),
                    xino.map(st.st_dev, st.st_ino),
                    (!lowers.is_empty()).then_some(0),
                )
            }
            None => {
                let st = lowers.layers[0].stat(b"")?;
                (
                    Key::real(layer_devs[0], st.st_ino),
                    xino.map(layer_devs[0], st.st_ino),
                    Some(0),
                )
            }
        };
        let privileged = nix::unistd::geteuid().is_root();
        let posix_acl = cfg.posix_acl && !cfg.noxattrs && cfg.ownership.is_plain();
        Ok(UnionFs {
            inodes: InodeTable::new(root_key, root_shown, upper.is_some(), root_lower),
            readahead: Readahead::start(lowers.clone()),
            lowers,
            upper,
            tree: RwLock::new(()),
            files: DashMap::new(),
            dirs: DashMap::new(),
            kept: DashMap::new(),
            next_fh: AtomicU64::new(1),
            ttl: cfg.timeout,
            owners: cfg.ownership,
            want_passthrough: cfg.passthrough,
            io_modes: DashMap::new(),
            passthrough: AtomicBool::new(false),
            fsync: cfg.fsync,
            static_nlink: cfg.static_nlink,
            noxattrs: cfg.noxattrs,
            posix_acl,
            notifier: Arc::default(),
            privileged,
            own_ids: (
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            ),
            layer_devs,
            xino,
        })
    }

    pub(crate) fn upper(&self) -> io::Result<&Upper> {
        self.upper.as_ref().ok_or_else(|| err(libc::EROFS))
    }

    /// The node standing for node `ino`'s file (its successor, when the
    /// kernel names a retired node: see [`InodeTable::retire`]).
    pub(crate) fn node(&self, ino: u64) -> io::Result<Arc<Node>> {
        self.inodes.live(ino).ok_or_else(|| err(libc::ESTALE))
    }

    pub(crate) fn path_of(&self, ino: u64) -> io::Result<Vec<u8>> {
        self.inodes.path(ino).ok_or_else(|| err(libc::ENOENT))
    }

    /// Resolves `name` in the directory node `parent`.
    pub(crate) fn resolve(&self, parent: &Node, name: &[u8]) -> io::Result<Resolved> {
        if name.len() > 255 {
            return Err(err(libc::ENAMETOOLONG));
        }
        let (p_upper, p_lower, p_opaque, kind) = {
            let st = parent.state.lock();
            (st.upper, st.lower, st.opaque, st.kind)
        };
        if kind != FileType::Directory {
            return Err(err(libc::ENOTDIR));
        }
        let ppath = self.path_of(parent.ino)?;
        let path = sys::join(&ppath, name);
        let lower = if p_lower.is_some() && !(p_upper && p_opaque) {
            self.lowers.hit(&path)?
        } else {
            None
        };
        let mut upper_st = None;
        if p_upper {
            match self.upper()?.entry(&path, lower.is_some())? {
                UpperEntry::Whiteout => return Err(err(libc::ENOENT)),
                UpperEntry::Present(st) => upper_st = Some(st),
                UpperEntry::Missing => {}
            }
        }
        let (kind, opaque) = match (&upper_st, &lower) {
            (Some(st), hit) => {
                let kind = kind_of_mode(st.st_mode);
                // Opaqueness only matters over a lower directory.
                let over_dir = hit.as_ref().is_some_and(|h| h.kind == FileType::Directory);
                let opaque =
                    kind == FileType::Directory && over_dir && self.upper()?.is_opaque(&path)?;
                (kind, opaque)
            }
            (None, Some(h)) => (h.kind, false),
            (None, None) => return Err(err(libc::ENOENT)),
        };
        Ok(Resolved {
            path,
            kind,
            upper: upper_st,
            lower,
            opaque,
        })
    }

    pub(crate) fn upper_key(&self, st: &libc::stat) -> Key {
        Key::real(self.upper.as_ref().map_or(0, |u| u.dev), st.st_ino)
    }

    pub(crate) fn lower_key(&self, hit: &LowerHit, path: &[u8]) -> Key {
        let dev = self.layer_devs[hit.layer];
        if hit.kind == FileType::Directory {
            Key::real(dev, hit.ino)
        } else {
            Key::lower_file(dev, hit.ino, path)
        }
    }

    /// The number a lower entry shows: its own, laid out by its layer's
    /// filesystem. Every name of a lower hard link shows the same one.
    pub(crate) fn lower_shown(&self, hit: &LowerHit) -> u64 {
        self.xino.map(self.layer_devs[hit.layer], hit.ino)
    }

    /// The number an upper entry at `path` with inode `ino` shows: a
    /// copied-up file keeps its lower file's (see [`crate::origin`]),
    /// anything else shows its own.
    pub(crate) fn upper_shown(&self, path: &[u8], ino: u64, kind: FileType) -> u64 {
        let Some(upper) = &self.upper else {
            return ino;
        };
        let origin = (kind != FileType::Directory && !self.lowers.is_empty())
            .then(|| Origin::read(upper.form, &upper.at(path).ok()?))
            .flatten()
            .and_then(|o| self.xino.map_lower(o.dev, o.ino));
        origin.unwrap_or_else(|| self.xino.map(upper.dev, ino))
    }

    /// The id of a directory present in the upper layer and merged with a
    /// lower one (`hit`): whichever side was seen first named it. It shows
    /// the lower directory's number, as the kernel's merged directories do.
    pub(crate) fn merged_dir_ino(&self, upper: Key, lower: Key, hit: &LowerHit) -> u64 {
        let ino = self
            .inodes
            .known(upper)
            .or_else(|| self.inodes.known(lower))
            .unwrap_or_else(|| self.inodes.ino_for(lower, || self.lower_shown(hit)));
        self.inodes.alias(upper, ino);
        self.inodes.alias(lower, ino);
        ino
    }

    /// The id for a resolved entry. A directory keeps one id whether its
    /// upper or lower side was seen first; a non-directory in the upper
    /// layer is its own file (a replaced lower file does not lend its id).
    pub(crate) fn ino_of(&self, r: &Resolved) -> u64 {
        let low = r.lower_visible().and(r.lower.as_ref());
        match (&r.upper, low) {
            (Some(st), Some(h)) => {
                self.merged_dir_ino(self.upper_key(st), self.lower_key(h, &r.path), h)
            }
            (Some(st), None) => self.inodes.ino_for(self.upper_key(st), || {
                self.upper_shown(&r.path, st.st_ino, r.kind)
            }),
            (None, Some(h)) => self
                .inodes
                .ino_for(self.lower_key(h, &r.path), || self.lower_shown(h)),
            (None, None) => unreachable!("a resolved entry exists in some layer"),
        }
    }

    /// Registers a lookup of `name` in `parent` and returns the node and its attributes.
    pub(crate) fn lookup_node(
        &self,
        parent: &Node,
        name: &[u8],
    ) -> io::Result<(Arc<Node>, FileAttr)> {
        let _g = self.tree.read();
        let r = self.resolve(parent, name)?;
        let ino = self.ino_of(&r);
        let fresh = NodeState {
            links: Vec::new(),
            kind: r.kind,
            upper: r.upper.is_some(),
            lower: r.lower_visible(),
            opaque: r.opaque,
        };
        let st = self.raw_stat(&r)?;
        let node = self.inodes.found(ino, parent.ino, name, fresh);
        let attr = self.show(&node, st)?;
        Ok((node, attr))
    }

    /// The real stat of a resolved entry's visible side.
    fn raw_stat(&self, r: &Resolved) -> io::Result<libc::stat> {
        match (&r.upper, &r.lower) {
            (Some(st), _) => Ok(*st),
            (None, Some(h)) => self.lowers.layers[h.layer].stat(&r.path),
            (None, None) => Err(err(libc::ENOENT)),
        }
    }

    /// Real stat of a node now (no open file).
    pub(crate) fn stat_node(&self, node: &Node) -> io::Result<libc::stat> {
        match self.unlinked_stat(node) {
            Some(st) => st,
            None => self.source(node)?.stat(),
        }
    }

    /// Where a node's data and metadata are read from now.
    pub(crate) fn source(&self, node: &Node) -> io::Result<Source<'_>> {
        let (upper, lower) = {
            let st = node.state.lock();
            (st.upper, st.lower)
        };
        let path = self.path_of(node.ino)?;
        if upper {
            Ok(Source::Upper(self.upper()?.at(&path)?))
        } else {
            let l = lower.ok_or_else(|| err(libc::ENOENT))?;
            Ok(Source::Lower(self.lowers.layers[l].as_ref(), path))
        }
    }

    /// The override xattr of a node's visible side, when overrides are on.
    pub(crate) fn override_of(&self, node: &Node) -> io::Result<Option<Override>> {
        if !self.owners.use_override {
            return Ok(None);
        }
        let source = self.source(node)?;
        crate::ids::read_override(|name| source.get_xattr(name))
    }

    /// Attributes as the mount shows them, with inode number `ino`.
    pub(crate) fn attr(&self, ino: u64, mut st: libc::stat) -> FileAttr {
        self.owners.show(&mut st);
        let kind = kind_of_mode(st.st_mode);
        let nlink = if kind == FileType::Directory && self.static_nlink {
            1
        } else {
            st.st_nlink as u32
        };
        FileAttr {
            ino: INodeNo(ino),
            size: st.st_size as u64,
            blocks: st.st_blocks as u64,
            atime: ts(st.st_atime, st.st_atime_nsec),
            mtime: ts(st.st_mtime, st.st_mtime_nsec),
            ctime: ts(st.st_ctime, st.st_ctime_nsec),
            crtime: UNIX_EPOCH,
            kind,
            perm: (st.st_mode & 0o7777) as u16,
            nlink,
            uid: st.st_uid,
            gid: st.st_gid,
            rdev: st.st_rdev as u32,
            blksize: st.st_blksize as u32,
            flags: 0,
        }
    }

    /// Attributes of a node; `fd` is an open file of it (which also answers
    /// for a file that has been unlinked).
    pub(crate) fn node_attr(
        &self,
        node: &Node,
        fd: Option<std::os::fd::BorrowedFd<'_>>,
    ) -> io::Result<FileAttr> {
        let st = match fd {
            Some(fd) => sys::fstat(fd)?,
            None => self.stat_node(node)?,
        };
        self.show(node, st)
    }

    /// Applies overrides to a real stat of `node`.
    pub(crate) fn show(&self, node: &Node, mut st: libc::stat) -> io::Result<FileAttr> {
        let unlinked = node.state.lock().links.is_empty();
        if !unlinked {
            if let Some(o) = self.override_of(node)? {
                o.apply(&mut st);
            }
        }
        // The link count is the real file's, also once the union has
        // unlinked it (as kernel overlayfs shows): 0 for an upper file, the
        // count in its layer for a lower one, which stays linked there.
        Ok(self.attr(self.inodes.shown(node.ino), st))
    }

    pub(crate) fn new_fh(&self) -> u64 {
        self.next_fh.fetch_add(1, Ordering::Relaxed)
    }
}

fn ts(sec: i64, nsec: i64) -> SystemTime {
    if sec >= 0 {
        UNIX_EPOCH + Duration::new(sec as u64, nsec as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs((-sec) as u64) + Duration::from_nanos(nsec as u64)
    }
}
