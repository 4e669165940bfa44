//! Changes to names: create, mkdir, mknod, symlink, link, unlink, rmdir and
//! rename, with overlayfs's rules for what they leave behind in the upper
//! layer (whiteouts over removed lower names, opaque directories over
//! replaced ones, EXDEV for directories that have lower content).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use fuser::{FileAttr, FileType};

use crate::ids::{Override, OVERRIDE_XATTR};
use crate::inode::{Key, Node, NodeState};
use crate::sys::{self, At};
use crate::union::{err, Resolved, UnionFs};
use crate::unlinked::Kept;

/// The xattr holding a directory's default ACL.
const ACL_DEFAULT: &[u8] = b"system.posix_acl_default";

/// What to create.
pub enum NewKind<'a> {
    File { flags: i32 },
    Dir,
    Node { rdev: u32 },
    Symlink { target: &'a [u8] },
}

/// Who creates it (ids as seen in the mount).
#[derive(Clone, Copy)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    /// For creations: the caller's umask, ours to apply when the kernel
    /// enforces ACLs (`FUSE_DONT_MASK`); otherwise the kernel applied it.
    pub umask: u32,
}

impl UnionFs {
    fn resolve_opt(&self, parent: &Node, name: &[u8]) -> io::Result<Option<Resolved>> {
        match self.resolve(parent, name) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the lower stack has anything (visible or whited out) at `path`
    /// below `parent`, which then needs a whiteout or an opaque marker.
    fn lower_has(&self, parent: &Node, path: &[u8]) -> io::Result<bool> {
        let (p_lower, p_opaque) = {
            let s = parent.state.lock();
            (s.lower, s.opaque)
        };
        if p_lower.is_none() || p_opaque {
            return Ok(false);
        }
        Ok(self.lowers.hit(path)?.is_some())
    }

    /// Creates an entry. Returns the node, its attributes and, for files, the open fd.
    pub(crate) fn create_entry(
        &self,
        parent: &Arc<Node>,
        name: &[u8],
        mode: u32,
        kind: NewKind<'_>,
        caller: Caller,
    ) -> io::Result<(Arc<Node>, FileAttr, Option<OwnedFd>)> {
        let _g = self.tree.write();
        if self.resolve_opt(parent, name)?.is_some() {
            return Err(err(libc::EEXIST));
        }
        // A character device 0/0 is a whiteout: nobody makes one through
        // the union (kernel overlayfs refuses it the same way).
        if matches!(kind, NewKind::Node { rdev: 0 }) && mode & libc::S_IFMT == libc::S_IFCHR {
            return Err(err(libc::EPERM));
        }
        let upper = self.upper()?;
        self.copy_up(parent)?;
        let ppath = self.path_of(parent.ino)?;
        let path = sys::join(&ppath, name);
        let parent_at = upper.at(&ppath)?;
        // With FUSE_DONT_MASK the umask is ours to apply, except under a
        // default ACL, which the upper filesystem applies instead (as any
        // filesystem with POSIX ACLs does). Otherwise the kernel applied it.
        let umask =
            if self.posix_acl && caller.umask != 0 && parent_at.get_xattr(ACL_DEFAULT)?.is_none() {
                caller.umask
            } else {
                0
            };
        let mode = mode & !(umask & 0o777);
        let over_lower = self.lower_has(parent, &path)?;
        if over_lower {
            // Whiteouts only ever stand over lower names.
            upper.clear_whiteout(&path)?;
        }
        let at = upper.at(&path)?;
        let parent_st = parent_at.lstat()?;
        let mut fd = None;
        let perm = mode & 0o7777;
        let dir_bits = if parent_st.st_mode & libc::S_ISGID != 0 {
            libc::S_ISGID
        } else {
            0
        };
        match kind {
            NewKind::File { flags } => {
                let f = at.open(
                    (flags & !(libc::O_APPEND | libc::O_DIRECT | libc::O_NOCTTY))
                        | libc::O_CREAT
                        | libc::O_EXCL,
                    perm,
                )?;
                fd = Some(f);
            }
            NewKind::Dir => at.mkdir(perm)?,
            NewKind::Node { rdev } => at.mknod(mode, rdev as libc::dev_t)?,
            NewKind::Symlink { target } => at.symlink(target)?,
        }
        let is_dir = matches!(kind, NewKind::Dir);
        let done = self.own_new(&at, &parent_st, mode, is_dir, dir_bits, caller);
        let done = done.and_then(|()| {
            if is_dir && over_lower {
                upper.set_opaque(&path)
            } else {
                Ok(())
            }
        });
        if let Err(e) = done {
            let _ = at.unlink(is_dir);
            return Err(e);
        }
        let st = at.lstat()?;
        let key = Key::real(upper.dev, st.st_ino);
        let ino = self
            .inodes
            .ino_for(key, || self.xino.map(upper.dev, st.st_ino));
        let node = self.inodes.found(
            ino,
            parent.ino,
            name,
            NodeState {
                links: Vec::new(),
                kind: crate::lower::kind_of_mode(st.st_mode),
                upper: true,
                lower: None,
                opaque: is_dir && over_lower,
            },
        );
        let attr = self.show(&node, st)?;
        Ok((node, attr, fd))
    }

    /// Gives a new upper entry its owner: the caller, or the directory's
    /// group under a setgid directory (as the kernel does on a real fs).
    fn own_new(
        &self,
        at: &At<'_>,
        parent_st: &libc::stat,
        mode: u32,
        is_dir: bool,
        dir_bits: u32,
        caller: Caller,
    ) -> io::Result<()> {
        let gid = if dir_bits != 0 {
            None
        } else {
            Some(caller.gid)
        };
        let disk_uid = self.owners.uid_map.to_disk(caller.uid);
        let disk_gid = gid.map(|g| self.owners.gid_map.to_disk(g));
        if self.privileged && !self.owners.use_override {
            if (disk_uid, disk_gid) != (self.own_ids.0, Some(self.own_ids.1)) {
                at.chown(Some(disk_uid), disk_gid)?;
            }
            // chown clears setuid/setgid; put back those bits only (the
            // rest may have been narrowed by a default ACL at creation).
            let setid = mode & (libc::S_ISUID | libc::S_ISGID);
            if setid != 0 && mode & libc::S_IFMT != libc::S_IFLNK {
                at.chmod((at.lstat()?.st_mode & 0o1777) | setid)?;
            }
        } else if self.owners.use_override && mode & libc::S_IFMT != libc::S_IFLNK {
            let o = Override {
                uid: disk_uid,
                gid: disk_gid.unwrap_or(parent_st.st_gid),
                mode: mode & 0o7777 | if is_dir { dir_bits } else { 0 },
                kind: None,
            };
            at.set_xattr(OVERRIDE_XATTR, o.format(mode).as_bytes(), 0)?;
        }
        if is_dir && dir_bits != 0 {
            let st = at.lstat()?;
            at.chmod((st.st_mode & 0o7777) | dir_bits)?;
        }
        Ok(())
    }

    /// Hard link `node` as `name` in `parent`.
    pub(crate) fn link_entry(
        &self,
        node: &Arc<Node>,
        parent: &Arc<Node>,
        name: &[u8],
    ) -> io::Result<FileAttr> {
        let _g = self.tree.write();
        if node.kind() == FileType::Directory {
            return Err(err(libc::EPERM));
        }
        if self.resolve_opt(parent, name)?.is_some() {
            return Err(err(libc::EEXIST));
        }
        let upper = self.upper()?;
        self.copy_up(node)?;
        self.copy_up(parent)?;
        let src = self.path_of(node.ino)?;
        let dst = sys::join(&self.path_of(parent.ino)?, name);
        upper.clear_whiteout(&dst)?;
        upper.at(&src)?.link_to(&upper.at(&dst)?)?;
        node.state.lock().links.push((parent.ino, name.to_vec()));
        let st = upper.at(&dst)?.lstat()?;
        self.show(node, st)
    }

    /// Unlink (`dir == false`) or rmdir (`dir == true`).
    pub(crate) fn remove_entry(
        &self,
        parent: &Arc<Node>,
        name: &[u8],
        dir: bool,
    ) -> io::Result<()> {
        let _g = self.tree.write();
        let r = self.resolve(parent, name)?;
        let is_dir = r.kind == FileType::Directory;
        if dir && !is_dir {
            return Err(err(libc::ENOTDIR));
        }
        if !dir && is_dir {
            return Err(err(libc::EISDIR));
        }
        if is_dir && !self.merged_is_empty(&r)? {
            return Err(err(libc::ENOTEMPTY));
        }
        let upper = self.upper()?;
        let victim = self.ino_of(&r);
        let kept = self.keep_for_unlink(victim, parent.ino, name, &r);
        self.copy_up(parent)?;
        // Resolving already looked in the lower stack.
        let needs_whiteout = r.lower.is_some();
        let at = upper.at(&r.path)?;
        if let Some(st) = &r.upper {
            if is_dir {
                // Move it out first: it may still hold whiteouts. With
                // RENAME_WHITEOUT the whiteout appears in the same step.
                let tmp = upper.scratch_at()?;
                let flags = if needs_whiteout && upper.form.device_whiteouts {
                    libc::RENAME_WHITEOUT
                } else {
                    0
                };
                at.rename_to(&tmp, flags)?;
                if needs_whiteout && flags == 0 {
                    upper.whiteout(&r.path)?;
                }
                upper.remove_tree(&tmp)?;
            } else {
                let flags = if needs_whiteout && upper.form.device_whiteouts {
                    libc::RENAME_WHITEOUT
                } else {
                    0
                };
                if flags != 0 {
                    let tmp = upper.scratch_at()?;
                    at.rename_to(&tmp, flags)?;
                    tmp.unlink(false)?;
                } else {
                    at.unlink(false)?;
                    if needs_whiteout {
                        upper.whiteout(&r.path)?;
                    }
                }
            }
            let last = st.st_nlink <= 1 || is_dir;
            let key = Key::real(upper.dev, st.st_ino);
            self.unlinked(victim, parent.ino, name, last.then_some(key), kept);
        } else {
            upper.whiteout(&r.path)?;
            self.unlinked(victim, parent.ino, name, None, kept);
        }
        Ok(())
    }

    /// Drops the (parent, name) link from the node `ino`; `gone` is the
    /// identity of an upper file that no longer exists anywhere, `kept`
    /// what reaches the file now that the node has no name left.
    fn unlinked(&self, ino: u64, parent: u64, name: &[u8], gone: Option<Key>, kept: Option<Kept>) {
        if let Some(node) = self.inodes.get(ino) {
            node.state
                .lock()
                .links
                .retain(|(p, n)| !(*p == parent && n == name));
        }
        if let Some(k) = kept {
            self.kept.insert(ino, k);
        }
        if let Some(key) = gone {
            self.inodes.forget_key(key, ino);
        }
    }

    /// An empty merged directory has no visible names in any layer.
    fn merged_is_empty(&self, r: &Resolved) -> io::Result<bool> {
        if let Some(_st) = &r.upper {
            let (real, _wh) = self.upper()?.list(&r.path)?;
            if !real.is_empty() {
                return Ok(false);
            }
        }
        if r.lower_visible().is_some() {
            let idx = self.lowers.dir(&r.path)?;
            if r.upper.is_none() {
                return Ok(idx.entries.is_empty());
            }
            // Lower names count unless the upper layer whites them out.
            let upper = self.upper()?;
            for name in idx.entries.keys() {
                let p = sys::join(&r.path, name);
                if !matches!(upper.entry(&p, true)?, crate::upper::UpperEntry::Whiteout) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// rename(2) / renameat2 with RENAME_NOREPLACE or RENAME_EXCHANGE.
    pub(crate) fn rename_entry(
        &self,
        parent: &Arc<Node>,
        name: &[u8],
        newparent: &Arc<Node>,
        newname: &[u8],
        flags: u32,
    ) -> io::Result<()> {
        let _g = self.tree.write();
        if newname.len() > 255 {
            return Err(err(libc::ENAMETOOLONG));
        }
        let src = self.resolve(parent, name)?;
        let dst = self.resolve_opt(newparent, newname)?;
        let src_dir = src.kind == FileType::Directory;
        if flags & libc::RENAME_WHITEOUT != 0 {
            return Err(err(libc::EINVAL));
        }
        let exchange = flags & libc::RENAME_EXCHANGE != 0;
        if exchange && dst.is_none() {
            return Err(err(libc::ENOENT));
        }
        if flags & libc::RENAME_NOREPLACE != 0 && dst.is_some() {
            return Err(err(libc::EEXIST));
        }
        if let Some(d) = &dst {
            if self.ino_of(d) == self.ino_of(&src) {
                return Ok(()); // two names of one file: nothing to do
            }
            let dst_dir = d.kind == FileType::Directory;
            if !exchange && src_dir != dst_dir {
                return Err(err(if src_dir { libc::ENOTDIR } else { libc::EISDIR }));
            }
        }
        // The kernel's order (vfs_rename, then ovl_rename): the type checks
        // above, then EXDEV for directories with lower content (they cannot
        // move without redirects), and only then whether the replaced
        // directory is empty. `mv` and rsync pick their fallback by errno.
        let moves_lower_dir =
            |r: &Resolved| r.kind == FileType::Directory && r.lower_visible().is_some();
        if moves_lower_dir(&src) || (exchange && dst.as_ref().is_some_and(moves_lower_dir)) {
            return Err(err(libc::EXDEV));
        }
        if let Some(d) = dst
            .as_ref()
            .filter(|d| !exchange && d.kind == FileType::Directory)
        {
            if !self.merged_is_empty(d)? {
                return Err(err(libc::ENOTEMPTY));
            }
        }
        let dst_node = match (&dst, exchange) {
            (Some(d), true) => Some(self.node(self.ino_of(d))?),
            _ => None,
        };
        let upper = self.upper()?;
        let src_node = self.node(self.ino_of(&src))?;
        self.inodes.make_primary(&src_node, parent.ino, name);
        self.copy_up(parent)?;
        self.copy_up(newparent)?;
        if !src_dir {
            self.copy_up(&src_node)?;
        }
        let src_hides = src.lower.is_some();
        let src_path = self.path_of(src_node.ino)?;
        let dst_path = sys::join(&self.path_of(newparent.ino)?, newname);
        let dst_hides = self.lower_has(newparent, &dst_path)?;
        let from = upper.at(&src_path)?;
        let to = upper.at(&dst_path)?;
        if let Some(dnode) = dst_node {
            // Both names stay, so no whiteout: both sides just live upstairs.
            let dst_dir = dnode.kind() == FileType::Directory;
            if !dst_dir {
                self.inodes.make_primary(&dnode, newparent.ino, newname);
                self.copy_up(&dnode)?;
            }
            from.rename_to(&to, libc::RENAME_EXCHANGE)?;
            // A directory that lands over lower content must hide it.
            if src_dir && dst_hides {
                upper.set_opaque(&dst_path)?;
            }
            if dst_dir && src_hides {
                upper.set_opaque(&src_path)?;
            }
            self.relink(&src_node, parent.ino, name, newparent.ino, newname);
            self.relink(&dnode, newparent.ino, newname, parent.ino, name);
            for (n, opaque) in [
                (&src_node, src_dir && dst_hides),
                (&dnode, dst_dir && src_hides),
            ] {
                let mut s = n.state.lock();
                s.upper = true;
                s.lower = None;
                s.opaque |= opaque;
            }
            return Ok(());
        }
        // Clear what sits at the destination in the upper layer.
        let mut replaced = None;
        if let Some(d) = &dst {
            let last = d
                .upper
                .as_ref()
                .is_some_and(|st| st.st_nlink <= 1 || d.kind == FileType::Directory);
            let key = d.upper.as_ref().map(|st| Key::real(upper.dev, st.st_ino));
            let ino = self.ino_of(d);
            let kept = self.keep_for_unlink(ino, newparent.ino, newname, d);
            replaced = Some((ino, if last { key } else { None }, kept));
            if d.upper.is_some() && d.kind == FileType::Directory {
                // Empty in the union, but it may hold whiteouts.
                let tmp = upper.scratch_at()?;
                to.rename_to(&tmp, 0)?;
                upper.remove_tree(&tmp)?;
            }
        }
        if dst
            .as_ref()
            .is_none_or(|d| d.upper.is_none() || d.kind == FileType::Directory)
        {
            upper.clear_whiteout(&dst_path)?;
        }
        let wh_flag = if src_hides && upper.form.device_whiteouts {
            libc::RENAME_WHITEOUT
        } else {
            0
        };
        from.rename_to(&to, wh_flag)?;
        if src_hides && wh_flag == 0 {
            upper.whiteout(&src_path)?;
        }
        if src_dir && dst_hides {
            upper.set_opaque(&dst_path)?;
        }
        if let Some((ino, gone, kept)) = replaced {
            self.unlinked(ino, newparent.ino, newname, gone, kept);
        }
        self.relink(&src_node, parent.ino, name, newparent.ino, newname);
        let mut s = src_node.state.lock();
        s.upper = true;
        s.lower = None;
        if src_dir && dst_hides {
            s.opaque = true;
        }
        Ok(())
    }

    fn relink(&self, node: &Node, from_p: u64, from_n: &[u8], to_p: u64, to_n: &[u8]) {
        let mut s = node.state.lock();
        s.links.retain(|(p, n)| !(*p == from_p && n == from_n));
        s.links.retain(|(p, n)| !(*p == to_p && n == to_n));
        s.links.insert(0, (to_p, to_n.to_vec()));
    }

    /// Opens a node's data; writers copy it up first.
    pub(crate) fn open_node(&self, node: &Arc<Node>, flags: i32) -> io::Result<(OwnedFd, bool)> {
        let write = flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        // (A truncating open has been copied up without data already: see
        // `before_truncation`.)
        if write && !node.state.lock().upper {
            self.copy_up_unlocked(node)?;
        }
        let flags = flags
            & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY | libc::O_APPEND | libc::O_DIRECT);
        let (upper, lower) = {
            let s = node.state.lock();
            (s.upper, s.lower)
        };
        let path = self.path_of(node.ino)?;
        if upper {
            let fd = self.upper()?.at(&path)?.open(flags | libc::O_NOFOLLOW, 0)?;
            Ok((fd, true))
        } else {
            let l = lower.ok_or_else(|| err(libc::ENOENT))?;
            let fd = self.lowers.layers[l].open(&path, flags & !libc::O_ACCMODE)?;
            Ok((fd, false))
        }
    }

    /// Before an open with `O_TRUNC` by process `pid` empties regular file
    /// `node`: copies it up without its data and clears what truncation
    /// clears on any filesystem (`setattr_should_drop_suidgid`): setuid,
    /// and setgid when the file is group-executable or the process is not
    /// in its group, unless the process holds CAP_FSETID over the file.
    /// With `FUSE_ATOMIC_O_TRUNC` the kernel leaves this to us; it is done
    /// first so a failure leaves the bits cleared rather than the data gone
    /// with them kept.
    pub(crate) fn before_truncation(&self, node: &Arc<Node>, pid: u32) -> io::Result<()> {
        if !node.state.lock().upper {
            self.copy_up_truncated(node)?;
        }
        let attr = self.node_attr(node, None)?;
        let mode = u32::from(attr.perm);
        if mode & (libc::S_ISUID | libc::S_ISGID) == 0 {
            return Ok(());
        }
        let who = Opener::of(pid);
        if who.cap_fsetid_over(attr.uid, attr.gid) {
            return Ok(());
        }
        let mut kill = mode & libc::S_ISUID;
        if mode & libc::S_ISGID != 0 && (mode & libc::S_IXGRP != 0 || !who.in_group(attr.gid)) {
            kill |= libc::S_ISGID;
        }
        self.clear_set_id(node, mode, kill)
    }

    /// Setting an access ACL by process `pid` clears setgid unless the
    /// process is in the file's group or holds CAP_FSETID over it
    /// (`posix_acl_update_mode`). The upper filesystem applies that rule
    /// with our credentials, which always qualify, and the kernel's
    /// `FUSE_SETXATTR_ACL_KILL_SGID` needs an extension fuser 0.18 does
    /// not negotiate, so it is applied here.
    pub(crate) fn access_acl_set_by(&self, node: &Arc<Node>, pid: u32) -> io::Result<()> {
        let attr = self.node_attr(node, None)?;
        let mode = u32::from(attr.perm);
        if mode & libc::S_ISGID == 0 {
            return Ok(());
        }
        let who = Opener::of(pid);
        if who.in_group(attr.gid) || who.cap_fsetid_over(attr.uid, attr.gid) {
            return Ok(());
        }
        self.clear_set_id(node, mode, libc::S_ISGID)
    }

    /// Clears the `kill` bits of `mode` and tells the kernel, which caches
    /// the mode and would otherwise keep showing, and exec-ing, the old one.
    fn clear_set_id(&self, node: &Arc<Node>, mode: u32, kill: u32) -> io::Result<()> {
        if kill == 0 {
            return Ok(());
        }
        self.set_attrs(node, None, Some(mode & !kill), None, None, None, None)?;
        if let Some(n) = self.notifier.get() {
            let _ = n.inval_inode(fuser::INodeNo(node.ino), -1, 0);
        }
        Ok(())
    }

    /// Applies setattr changes; the node is copied up first.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn set_attrs(
        &self,
        node: &Arc<Node>,
        fd: Option<std::os::fd::BorrowedFd<'_>>,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        times: Option<[libc::timespec; 2]>,
    ) -> io::Result<FileAttr> {
        let (upper, named, kind) = {
            let s = node.state.lock();
            (s.upper, !s.links.is_empty(), s.kind)
        };
        if !upper {
            if !named {
                return Err(err(nameless_copy_up_errno(kind)));
            }
            self.copy_up_unlocked(node)?;
        }
        let upper = self.upper()?;
        let path = self.path_of(node.ino).ok();
        let at = match &path {
            Some(p) => Some(upper.at(p)?),
            None => None,
        };
        let at_or_stale = || at.as_ref().ok_or_else(|| err(libc::ESTALE));
        if uid.is_some() || gid.is_some() {
            let hu = uid.map(|u| self.owners.uid_map.to_disk(u));
            let hg = gid.map(|g| self.owners.gid_map.to_disk(g));
            if self.owners.use_override {
                self.update_override(at_or_stale()?, |o| {
                    if let Some(u) = hu {
                        o.uid = u;
                    }
                    if let Some(g) = hg {
                        o.gid = g;
                    }
                    // chown drops setuid, and setgid on group-executable files.
                    o.mode &= !libc::S_ISUID;
                })?;
            } else {
                match fd {
                    Some(fd) if node.state.lock().links.is_empty() => {
                        let st = sys::fstat(fd)?;
                        sys::fchown(fd, hu.unwrap_or(st.st_uid), hg.unwrap_or(st.st_gid))?
                    }
                    _ => at_or_stale()?.chown(hu, hg)?,
                }
            }
        }
        if let Some(m) = mode {
            if self.owners.use_override {
                self.update_override(at_or_stale()?, |o| o.mode = m & 0o7777)?;
            } else {
                match fd {
                    Some(fd) => sys::fchmod(fd, m & 0o7777)?,
                    None => at_or_stale()?.chmod(m & 0o7777)?,
                }
            }
        }
        if let Some(sz) = size {
            match fd {
                Some(fd) if self.fd_writable(fd) => sys::ftruncate(fd, sz)?,
                _ => {
                    let f = at_or_stale()?.open(libc::O_WRONLY | libc::O_NOFOLLOW, 0)?;
                    sys::ftruncate(f.as_fd(), sz)?;
                }
            }
        }
        if let Some(t) = times {
            match fd {
                Some(fd) if node.state.lock().links.is_empty() => sys::futimens(fd, &t)?,
                _ => at_or_stale()?.utimens(&t)?,
            }
        }
        match (fd, &at) {
            (_, Some(at)) => {
                let st = at.lstat()?;
                self.show(node, st)
            }
            (Some(fd), None) => self.node_attr(node, Some(fd)),
            (None, None) => Err(err(libc::ESTALE)),
        }
    }

    fn fd_writable(&self, fd: std::os::fd::BorrowedFd<'_>) -> bool {
        sys::fd_flags(fd)
            .map(|f| f & libc::O_ACCMODE != libc::O_RDONLY)
            .unwrap_or(false)
    }

    /// Read-modify-write of the override xattr of an upper entry.
    fn update_override(&self, at: &At<'_>, f: impl FnOnce(&mut Override)) -> io::Result<()> {
        let st = at.lstat()?;
        let mut o = crate::ids::read_override(|name| at.get_xattr(name))?.unwrap_or(Override {
            uid: st.st_uid,
            gid: st.st_gid,
            mode: st.st_mode & 0o7777,
            kind: None,
        });
        f(&mut o);
        at.set_xattr(OVERRIDE_XATTR, o.format(st.st_mode).as_bytes(), 0)
    }

    /// The raw xattr of a node's visible side.
    pub(crate) fn get_raw_xattr(&self, node: &Node, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
        self.source(node)?.get_xattr(name)
    }
}

/// Why a lower file with no name left in the union (unlinked, or replaced
/// by a rename, while a descriptor kept it open) cannot be copied up to
/// take a change: there is no name to copy it to. Kernel overlayfs still
/// tries the name the file had, and fails placing its copy there: linking
/// a regular file's copy over the whiteout or the new file (EEXIST), or
/// renaming a directory's copy over them (ENOTDIR). A fifo's or device's
/// copy the kernel renames over whatever holds the name now, bringing the
/// removed file back (or replacing the new one); strata-fs refuses those
/// with EEXIST as well.
fn nameless_copy_up_errno(kind: FileType) -> i32 {
    if kind == FileType::Directory {
        libc::ENOTDIR
    } else {
        libc::EEXIST
    }
}

/// The capability's bit number (linux/capability.h).
const CAP_FSETID: u32 = 4;

/// What decides whether a truncation clears setuid/setgid, read from
/// `/proc/PID/status` and the process's id maps (unreadable counts as
/// unprivileged and in no group: the bits are cleared, the safe way round).
struct Opener {
    cap_fsetid: bool,
    fsgid: Option<u32>,
    groups: Vec<u32>,
    uid_map: Vec<[u32; 3]>,
    gid_map: Vec<[u32; 3]>,
}

impl Opener {
    fn of(pid: u32) -> Opener {
        let read =
            |f: &str| std::fs::read_to_string(format!("/proc/{pid}/{f}")).unwrap_or_default();
        let status = read("status");
        let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name));
        let ids = |v: &str| -> Vec<u32> {
            v.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        };
        let map = |text: String| -> Vec<[u32; 3]> {
            text.lines()
                .filter_map(|l| ids(l).try_into().ok())
                .collect()
        };
        Opener {
            cap_fsetid: field("CapEff:")
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .is_some_and(|caps| caps & (1 << CAP_FSETID) != 0),
            // Real, effective, saved, filesystem.
            fsgid: field("Gid:").and_then(|v| ids(v).get(3).copied()),
            groups: field("Groups:").map(ids).unwrap_or_default(),
            uid_map: map(read("uid_map")),
            gid_map: map(read("gid_map")),
        }
    }

    /// `capable_wrt_inode_uidgid`: the capability in the process's own user
    /// namespace counts only for files whose owner and group that namespace
    /// maps (a container's root has it for its own files, not the host's).
    fn cap_fsetid_over(&self, uid: u32, gid: u32) -> bool {
        let mapped = |map: &[[u32; 3]], id: u32| {
            map.iter()
                .any(|&[_, outside, len]| id >= outside && u64::from(id - outside) < u64::from(len))
        };
        self.cap_fsetid && mapped(&self.uid_map, uid) && mapped(&self.gid_map, gid)
    }

    fn in_group(&self, gid: u32) -> bool {
        self.fsgid == Some(gid) || self.groups.contains(&gid)
    }
}
