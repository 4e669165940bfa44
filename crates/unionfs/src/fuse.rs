//! The FUSE face of the union: turns kernel requests into calls on
//! [`UnionFs`] and results into replies. No union logic lives here.

use std::ffi::OsStr;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use fuser::{
    AccessFlags, CopyFileRangeFlags, Errno, FileHandle as Fh, FileType, Filesystem, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyLseek, ReplyOpen,
    ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use crate::files::OpenRequest;
use crate::handles::{FileHandle, IoMode};
use crate::inode::Node;
use crate::namespace::{Caller, NewKind};
use crate::sys;
use crate::union::{err, UnionFs};
use crate::whiteout;

fn errno(e: &io::Error) -> Errno {
    Errno::from_i32(sys::errno(e))
}

fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
        umask: 0,
    }
}

fn timespec(t: Option<TimeOrNow>) -> libc::timespec {
    match t {
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        Some(TimeOrNow::Now) => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        Some(TimeOrNow::SpecificTime(t)) => {
            let (sec, nsec) = match t.duration_since(SystemTime::UNIX_EPOCH) {
                Ok(d) => (d.as_secs() as i64, d.subsec_nanos() as i64),
                Err(e) => {
                    let d = e.duration();
                    let mut sec = -(d.as_secs() as i64);
                    let mut nsec = -(d.subsec_nanos() as i64);
                    if nsec < 0 {
                        sec -= 1;
                        nsec += 1_000_000_000;
                    }
                    (sec, nsec)
                }
            };
            libc::timespec {
                tv_sec: sec,
                tv_nsec: nsec,
            }
        }
    }
}

impl UnionFs {
    /// Replies with node `id` and its attributes (whose inode number is
    /// the one the node shows, not its id).
    fn entry_reply(&self, reply: ReplyEntry, r: io::Result<(u64, fuser::FileAttr)>) {
        match r {
            Ok((id, attr)) => reply.entry_node(&self.ttl, INodeNo(id), &attr, Generation(0)),
            Err(e) => reply.error(errno(&e)),
        }
    }

    pub(crate) fn handle(&self, fh: Fh) -> Option<Arc<FileHandle>> {
        self.files.get(&fh.0).map(|h| h.clone())
    }

    fn with_fd<T>(&self, fh: Fh, f: impl FnOnce(&FileHandle) -> io::Result<T>) -> io::Result<T> {
        let h = self.handle(fh).ok_or_else(|| err(libc::EBADF))?;
        f(&h)
    }

    fn new_create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        kind: NewKind<'_>,
    ) -> io::Result<(u64, fuser::FileAttr, Option<std::os::fd::OwnedFd>)> {
        let p = self.node(parent.0)?;
        let who = Caller {
            umask,
            ..caller(req)
        };
        let (node, attr, fd) = self.create_entry(&p, name.as_bytes(), mode, kind, who)?;
        Ok((node.ino, attr, fd))
    }

    /// How long the kernel may keep attributes of kernel node `kid`, which
    /// stands for `node`: not at all once it is retired, since the file
    /// then changes through its successor without the kernel knowing.
    fn attr_ttl(&self, kid: INodeNo, node: &Node) -> std::time::Duration {
        match kid.0 == node.ino {
            true => self.ttl,
            false => std::time::Duration::ZERO,
        }
    }

    /// After a change made through kernel node `kid` on `node`: what the
    /// kernel caches of the successor of a retired node is stale.
    fn changed_through(&self, kid: INodeNo, node: &Node) {
        if kid.0 != node.ino {
            if let Some(n) = self.notifier.get() {
                let _ = n.inval_inode(INodeNo(node.ino), -1, 0);
            }
        }
    }

    fn xattr_hidden(&self, name: &[u8]) -> bool {
        whiteout::is_hidden_xattr(name)
    }
}

impl Filesystem for UnionFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        let _ = config.add_capabilities(
            InitFlags::FUSE_DO_READDIRPLUS
                | InitFlags::FUSE_READDIRPLUS_AUTO
                | InitFlags::FUSE_PARALLEL_DIROPS
                | InitFlags::FUSE_SPLICE_READ
                | InitFlags::FUSE_SPLICE_MOVE,
        );
        let _ = config.add_capabilities(InitFlags::FUSE_EXPORT_SUPPORT);
        // Opens see O_TRUNC, so a lower file about to be emptied is copied
        // up without its data (see `before_truncation`).
        let _ = config.add_capabilities(InitFlags::FUSE_ATOMIC_O_TRUNC);
        // A symlink's target never changes in place (a new target is a new
        // inode), so the kernel may keep what readlink returned.
        let _ = config.add_capabilities(InitFlags::FUSE_CACHE_SYMLINKS);
        // The kernel then checks permissions with ACLs and caches them
        // (`ls -l` asks for them on every file), and leaves the umask to us
        // so a default ACL can replace it.
        if self.posix_acl && config.add_capabilities(InitFlags::FUSE_POSIX_ACL).is_ok() {
            let _ = config.add_capabilities(InitFlags::FUSE_DONT_MASK);
        }
        let _ = config.set_max_write(1 << 20);
        let _ = config.set_max_readahead(1 << 20);
        if self.want_passthrough
            && self.privileged
            && config.add_capabilities(InitFlags::FUSE_PASSTHROUGH).is_ok()
            && config.set_max_stack_depth(2).is_ok()
        {
            self.passthrough.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let r = self
            .node(parent.0)
            .and_then(|p| self.lookup_node(&p, name.as_bytes()))
            .map(|(n, a)| (n.ino, a));
        match r {
            // A negative entry (node id 0) the kernel may cache: names only
            // appear through this mount, which the kernel sees happen.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                reply.entry(&self.ttl, &negative_attr(), Generation(0))
            }
            r => self.entry_reply(reply, r),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.inodes.forget(ino.0, nlookup);
        self.release_unlinked(ino.0);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<Fh>, reply: ReplyAttr) {
        let r = self.node(ino.0).and_then(|n| {
            // fstat of an unlinked file may come without its handle.
            let h = fh.and_then(|f| self.handle(f)).or_else(|| {
                let unlinked = n.state.lock().links.is_empty();
                unlinked.then(|| self.any_handle(n.ino)).flatten()
            });
            let a = match h {
                Some(h) => self.node_attr(&n, Some(h.fd().as_fd())),
                None => self.node_attr(&n, None),
            };
            Ok((self.attr_ttl(ino, &n), a?))
        });
        match r {
            Ok((ttl, a)) => reply.attr(&ttl, &a),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<Fh>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let times =
            (atime.is_some() || mtime.is_some()).then(|| [timespec(atime), timespec(mtime)]);
        let h = fh.and_then(|f| self.handle(f)).filter(|h| h.is_upper());
        let fd = h.as_ref().map(|h| h.fd());
        let r = self.node(ino.0).and_then(|n| {
            // Only ftruncate passes its handle: fchmod, fchown and futimens
            // of a file with no name left reach it through what was kept.
            let kept = fd.is_none().then(|| self.unlinked_upper_fd(&n)).flatten();
            let fd = fd
                .as_ref()
                .map(|fd| fd.as_fd())
                .or(kept.as_ref().map(|k| k.as_fd()));
            let a = self.set_attrs(&n, fd, mode, uid, gid, size, times)?;
            self.changed_through(ino, &n);
            Ok((self.attr_ttl(ino, &n), a))
        });
        match r {
            Ok((ttl, a)) => reply.attr(&ttl, &a),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.node(ino.0).and_then(|n| self.source(&n)?.readlink()) {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let r = self
            .new_create(req, parent, name, mode, umask, NewKind::Node { rdev })
            .map(|(id, a, _)| (id, a));
        self.entry_reply(reply, r);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let r = self
            .new_create(req, parent, name, mode | libc::S_IFDIR, umask, NewKind::Dir)
            .map(|(id, a, _)| (id, a));
        self.entry_reply(reply, r);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let r = self
            .node(parent.0)
            .and_then(|p| self.remove_entry(&p, name.as_bytes(), false));
        empty_reply(reply, r);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let r = self
            .node(parent.0)
            .and_then(|p| self.remove_entry(&p, name.as_bytes(), true));
        empty_reply(reply, r);
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let t = target.as_os_str().as_bytes();
        let r = self
            .new_create(
                req,
                parent,
                link_name,
                libc::S_IFLNK | 0o777,
                0,
                NewKind::Symlink { target: t },
            )
            .map(|(id, a, _)| (id, a));
        self.entry_reply(reply, r);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let r = self.node(parent.0).and_then(|p| {
            let np = self.node(newparent.0)?;
            self.rename_entry(&p, name.as_bytes(), &np, newname.as_bytes(), flags.bits())
        });
        empty_reply(reply, r);
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let r = self.node(ino.0).and_then(|n| {
            let np = self.node(newparent.0)?;
            let a = self.link_entry(&n, &np, newname.as_bytes())?;
            self.inodes.add_lookup(&n);
            Ok((n.ino, a))
        });
        self.entry_reply(reply, r);
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let r = self.node(ino.0).and_then(|n| {
            if flags.0 & libc::O_TRUNC != 0 && n.state.lock().kind == FileType::RegularFile {
                self.before_truncation(&n, req.pid())?;
            }
            self.open_node(&n, flags.0)
        });
        let who = OpenRequest {
            kid: ino.0,
            tid: req.pid(),
            write: flags.0 & libc::O_ACCMODE != libc::O_RDONLY || flags.0 & libc::O_TRUNC != 0,
        };
        match r {
            Ok((fd, upper)) => self.reply_opened(reply, &who, fd, upper),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: Fh,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let r = self.with_fd(fh, |h| {
            let mut buf = vec![0u8; size as usize];
            let n = sys::pread(h.fd().as_fd(), &mut buf, offset)?;
            buf.truncate(n);
            Ok(buf)
        });
        match r {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: Fh,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.with_fd(fh, |h| sys::pwrite(h.fd().as_fd(), data, offset)) {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, _fh: Fh, _lo: LockOwner, reply: ReplyEmpty) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: Fh,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.release_handle(fh.0);
        reply.ok();
    }

    fn fsync(&self, _req: &Request, _ino: INodeNo, fh: Fh, datasync: bool, reply: ReplyEmpty) {
        if !self.fsync {
            return reply.ok();
        }
        empty_reply(
            reply,
            self.with_fd(fh, |h| sys::fsync(h.fd().as_fd(), datasync)),
        );
    }

    fn opendir(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        // ENOSYS tells the kernel to stop sending opendir/releasedir and to
        // cache listings itself (every directory change passes through this
        // mount, so its cache stays right): a warm tree walk then costs no
        // round trips for directories at all.
        reply.error(Errno::ENOSYS);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: Fh,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let entries = match self.dir_snapshot(ino.0, offset) {
            Ok(e) => e,
            Err(e) => return reply.error(errno(&e)),
        };
        for (i, e) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(
                INodeNo(e.ino),
                (i + 1) as u64,
                e.kind,
                OsStr::from_bytes(&e.name),
            ) {
                break;
            }
        }
        self.dir_read_to(ino.0, offset, entries.len());
        reply.ok();
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: Fh,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let entries = match self.dir_snapshot(ino.0, offset) {
            Ok(e) => e,
            Err(e) => return reply.error(errno(&e)),
        };
        let dir = match self.node(ino.0) {
            Ok(d) => d,
            Err(e) => return reply.error(errno(&e)),
        };
        for (i, e) in entries.iter().enumerate().skip(offset as usize) {
            let full = if e.name == b"." || e.name == b".." {
                // The kernel takes no reference for these.
                let id = if e.name == b"." {
                    dir.ino
                } else {
                    self.parent_id(&dir)
                };
                match self.node(id).and_then(|n| self.node_attr(&n, None)) {
                    Ok(a) => reply.add(
                        INodeNo(id),
                        (i + 1) as u64,
                        OsStr::from_bytes(&e.name),
                        &std::time::Duration::ZERO,
                        &a,
                        Generation(0),
                    ),
                    Err(_) => continue,
                }
            } else {
                match self.lookup_node(&dir, &e.name) {
                    Ok((node, a)) => {
                        let full = reply.add(
                            INodeNo(node.ino),
                            (i + 1) as u64,
                            OsStr::from_bytes(&e.name),
                            &self.ttl,
                            &a,
                            Generation(0),
                        );
                        if full {
                            // Not sent: give back the reference lookup_node took.
                            self.inodes.forget(node.ino, 1);
                        }
                        full
                    }
                    Err(_) => continue,
                }
            };
            if full {
                break;
            }
        }
        self.dir_read_to(ino.0, offset, entries.len());
        reply.ok();
    }

    fn fsyncdir(&self, _req: &Request, _ino: INodeNo, _fh: Fh, _datasync: bool, reply: ReplyEmpty) {
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let r = match &self.upper {
            Some(u) => sys::fstatvfs(u.root_fd()),
            None => self.lowers.layers[0].statfs(),
        };
        match r {
            Ok(s) => reply.statfs(
                s.f_blocks,
                s.f_bfree,
                s.f_bavail,
                s.f_files,
                s.f_ffree,
                s.f_bsize as u32,
                255,
                s.f_frsize as u32,
            ),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn setxattr(
        &self,
        req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        if self.noxattrs {
            return reply.error(Errno::from_i32(libc::EOPNOTSUPP));
        }
        if self.xattr_hidden(name.as_bytes()) {
            return reply.error(Errno::EPERM);
        }
        let r = self.node(ino.0).and_then(|n| {
            self.copy_up_unlocked(&n)?;
            let path = self.path_of(n.ino)?;
            self.upper()?
                .at(&path)?
                .set_xattr(name.as_bytes(), value, flags)?;
            if self.posix_acl && name.as_bytes() == b"system.posix_acl_access" {
                self.access_acl_set_by(&n, req.pid())?;
            }
            self.changed_through(ino, &n);
            Ok(())
        });
        empty_reply(reply, r);
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        if self.noxattrs || self.xattr_hidden(name.as_bytes()) {
            return reply.error(Errno::from_i32(libc::ENODATA));
        }
        let r = self
            .node(ino.0)
            .and_then(|n| self.get_raw_xattr(&n, name.as_bytes()));
        match r {
            Ok(Some(v)) => xattr_reply(reply, size, &v),
            Ok(None) => reply.error(Errno::from_i32(libc::ENODATA)),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        if self.noxattrs {
            return xattr_reply(reply, size, &[]);
        }
        let r = self.node(ino.0).and_then(|n| {
            let names = self.source(&n)?.list_xattr()?;
            let mut out = Vec::new();
            for name in names.into_iter().filter(|n| !self.xattr_hidden(n)) {
                out.extend_from_slice(&name);
                out.push(0);
            }
            Ok(out)
        });
        match r {
            Ok(v) => xattr_reply(reply, size, &v),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        if self.noxattrs || self.xattr_hidden(name.as_bytes()) {
            return reply.error(Errno::from_i32(libc::ENODATA));
        }
        let r = self.node(ino.0).and_then(|n| {
            if self.get_raw_xattr(&n, name.as_bytes())?.is_none() {
                return Err(err(libc::ENODATA));
            }
            self.copy_up_unlocked(&n)?;
            let path = self.path_of(n.ino)?;
            self.upper()?.at(&path)?.remove_xattr(name.as_bytes())?;
            self.changed_through(ino, &n);
            Ok(())
        });
        empty_reply(reply, r);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        // default_permissions: the kernel checks modes itself.
        reply.ok();
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let r = self.new_create(req, parent, name, mode, umask, NewKind::File { flags });
        match r {
            Ok((ino, attr, Some(fd))) => {
                let who = OpenRequest {
                    kid: ino,
                    tid: req.pid(),
                    write: true,
                };
                let (fh, flags, mode) =
                    match self.register_open(&who, fd, true, |f| reply.open_backing(f)) {
                        Ok(r) => r,
                        Err(e) => return reply.error(errno(&e)),
                    };
                let backing = match &*mode {
                    IoMode::Passthrough { backing, .. } => Some(backing),
                    IoMode::Daemon => None,
                };
                reply.created_node(
                    &self.ttl,
                    INodeNo(ino),
                    &attr,
                    Generation(0),
                    fh,
                    flags,
                    backing,
                );
            }
            Ok((_, _, None)) => reply.error(Errno::EIO),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: Fh,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        empty_reply(
            reply,
            self.with_fd(fh, |h| sys::fallocate(h.fd().as_fd(), mode, offset, length)),
        );
    }

    fn lseek(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: Fh,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        match self.with_fd(fh, |h| sys::lseek(h.fd().as_fd(), offset, whence)) {
            Ok(o) => reply.offset(o),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn copy_file_range(
        &self,
        _req: &Request,
        _ino_in: INodeNo,
        fh_in: Fh,
        offset_in: u64,
        _ino_out: INodeNo,
        fh_out: Fh,
        offset_out: u64,
        len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        let r = self.with_fd(fh_in, |i| {
            self.with_fd(fh_out, |o| {
                sys::copy_file_range(
                    i.fd().as_fd(),
                    offset_in,
                    o.fd().as_fd(),
                    offset_out,
                    len.min(1 << 30) as usize,
                )
            })
        });
        match r {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(errno(&e)),
        }
    }
}

fn empty_reply(reply: ReplyEmpty, r: io::Result<()>) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(errno(&e)),
    }
}

fn negative_attr() -> fuser::FileAttr {
    fuser::FileAttr {
        ino: INodeNo(0),
        size: 0,
        blocks: 0,
        atime: SystemTime::UNIX_EPOCH,
        mtime: SystemTime::UNIX_EPOCH,
        ctime: SystemTime::UNIX_EPOCH,
        crtime: SystemTime::UNIX_EPOCH,
        kind: FileType::RegularFile,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 0,
        flags: 0,
    }
}

fn xattr_reply(reply: ReplyXattr, size: u32, v: &[u8]) {
    if size == 0 {
        reply.size(v.len() as u32);
    } else if (size as usize) < v.len() {
        reply.error(Errno::ERANGE);
    } else {
        reply.data(v);
    }
}
