//! Copy-up: bringing a lower entry into the upper layer before it changes.
//!
//! The copy is assembled in the scratch directory with the data (holes
//! kept), owner, mode including setuid/setgid, xattrs and times of the lower
//! file, then renamed into place in one step, so a crash leaves either no
//! copy or a whole one. The parent's times are put back afterwards, as the
//! kernel does, so copying a child up does not look like a change to the parent.

use std::io;
use std::os::fd::AsFd;

use fuser::FileType;

use crate::ids::{Override, OVERRIDE_XATTR, OVERRIDE_XATTRS};
use crate::inode::{Key, Node, ROOT_INO};
use crate::lowerindex::split;
use crate::sys::{self, At};
use crate::union::{err, UnionFs};
use crate::whiteout;

fn times_of(st: &libc::stat) -> [libc::timespec; 2] {
    [
        libc::timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec,
        },
        libc::timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec,
        },
    ]
}

/// A copy-up's inputs: where the entry is and what its lower side is.
struct Plan {
    path: Vec<u8>,
    layer: usize,
    st: libc::stat,
    kind: FileType,
    /// Copy a regular file's data (not when it is about to be truncated).
    data: bool,
}

impl UnionFs {
    /// Makes sure `node` exists in the upper layer. Caller holds `tree` for writing.
    pub(crate) fn copy_up(&self, node: &Node) -> io::Result<()> {
        let Some(plan) = self.plan(node)? else {
            return Ok(());
        };
        let tmp = self.upper()?.scratch_at()?;
        self.build(&plan, &tmp)?;
        self.install(node, &plan, &tmp)
    }

    /// Like [`UnionFs::copy_up`], but takes the namespace lock itself and
    /// does not hold it while a file's data is copied, so copying up a large
    /// file does not stall every other lookup and change meanwhile.
    pub(crate) fn copy_up_unlocked(&self, node: &Node) -> io::Result<()> {
        self.copy_up_file(node, true)
    }

    /// Copy-up for an open with `O_TRUNC`: everything but the data, which
    /// the open discards anyway (as the kernel does).
    pub(crate) fn copy_up_truncated(&self, node: &Node) -> io::Result<()> {
        self.copy_up_file(node, false)
    }

    fn copy_up_file(&self, node: &Node, data: bool) -> io::Result<()> {
        // One copy-up of a node at a time; a second caller finds it done.
        let _one = node.copy_lock.lock();
        let plan = {
            let _g = self.tree.write();
            match self.plan(node)? {
                Some(p) if p.kind == FileType::RegularFile => Plan { data, ..p },
                Some(_) => return self.copy_up(node),
                None => return Ok(()),
            }
        };
        let tmp = self.upper()?.scratch_at()?;
        self.build(&plan, &tmp)?;
        let _g = self.tree.write();
        // While the data was copied the file may have been removed, or
        // copied up by an operation that had to do it under the lock.
        let (upper, linked) = {
            let s = node.state.lock();
            (s.upper, !s.links.is_empty())
        };
        let same_place = self.path_of(node.ino).ok().as_deref() == Some(&plan.path[..]);
        if upper || !linked || !same_place {
            let _ = tmp.unlink(false);
            return if upper {
                Ok(())
            } else {
                Err(err(libc::ENOENT))
            };
        }
        self.install(node, &plan, &tmp)
    }

    /// What copying `node` up takes, read under the namespace lock (held by
    /// the caller); copies its parents up first. `None` when it is up already.
    fn plan(&self, node: &Node) -> io::Result<Option<Plan>> {
        let (is_upper, lower, kind, parent) = {
            let st = node.state.lock();
            (
                st.upper,
                st.lower,
                st.kind,
                st.links.first().map(|(p, _)| *p),
            )
        };
        if is_upper || node.ino == ROOT_INO {
            return Ok(None);
        }
        let layer = lower.ok_or_else(|| err(libc::ENOENT))?;
        let parent = self.node(parent.ok_or_else(|| err(libc::ENOENT))?)?;
        self.copy_up(&parent)?;
        let path = self.path_of(node.ino)?;
        let st = self.lowers.layers[layer].stat(&path)?;
        Ok(Some(Plan {
            path,
            layer,
            st,
            kind,
            data: true,
        }))
    }

    /// Builds the copy at `tmp` in the scratch directory; on failure nothing is left.
    fn build(&self, plan: &Plan, tmp: &At<'_>) -> io::Result<()> {
        let Plan {
            path,
            layer,
            st,
            kind,
            data,
        } = plan;
        let lower = &self.lowers.layers[*layer];
        match kind {
            FileType::Directory => tmp.mkdir(0o700)?,
            FileType::RegularFile => {
                let dst = tmp.open(libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY, 0o600)?;
                let copied = match data {
                    true => lower.open(path, 0).and_then(|src| {
                        sys::copy_sparse(src.as_fd(), dst.as_fd(), st.st_size as u64)
                    }),
                    false => Ok(()),
                };
                if let Err(e) = copied {
                    let _ = tmp.unlink(false);
                    return Err(e);
                }
            }
            FileType::Symlink => tmp.symlink(&lower.readlink(path)?)?,
            _ => {
                if let Err(e) = tmp.mknod(st.st_mode, st.st_rdev) {
                    if self.privileged || !self.owners.use_override {
                        return Err(e);
                    }
                    // Rootless: keep the node as an empty file described by the override.
                    tmp.open(libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY, 0o600)?;
                }
            }
        }
        let mode = st.st_mode & 0o7777;
        if let Err(e) = self.copy_meta(tmp, path, *layer, st, *kind, mode) {
            let _ = tmp.unlink(*kind == FileType::Directory);
            return Err(e);
        }
        self.record_origin(tmp, *layer, st);
        Ok(())
    }

    /// Renames the finished copy into place (namespace lock held), keeping
    /// the parent's times, and records that the node now lives upstairs.
    fn install(&self, node: &Node, plan: &Plan, tmp: &At<'_>) -> io::Result<()> {
        let upper = self.upper()?;
        let is_dir = plan.kind == FileType::Directory;
        let (ppath, _) = split(&plan.path);
        let parent_at = upper.at(ppath)?;
        let parent_times = parent_at.lstat().ok().map(|s| times_of(&s));
        if let Err(e) = tmp.rename_to(&upper.at(&plan.path)?, libc::RENAME_NOREPLACE) {
            let _ = tmp.unlink(is_dir);
            return Err(e);
        }
        if let Some(t) = parent_times {
            let _ = parent_at.utimens(&t);
        }
        let new = upper.at(&plan.path)?.lstat()?;
        self.inodes
            .alias(Key::real(upper.dev, new.st_ino), node.ino);
        self.copied_up(node, &plan.st, new.st_ino);
        let mut s = node.state.lock();
        s.upper = true;
        if !is_dir {
            s.lower = None;
        }
        drop(s);
        self.follow_copy_up(node.ino);
        // The copy of one name of a lower hard link has one link (as the
        // kernel's copy-up without an index): the kernel must not keep the
        // link count it cached from the lower file.
        if !is_dir && new.st_nlink != plan.st.st_nlink {
            if let Some(n) = self.notifier.get() {
                let _ = n.inval_inode(fuser::INodeNo(node.ino), -1, 0);
            }
        }
        Ok(())
    }

    /// Owner, mode, xattrs and times of the lower entry onto the copy.
    fn copy_meta(
        &self,
        tmp: &At<'_>,
        path: &[u8],
        layer: usize,
        st: &libc::stat,
        kind: FileType,
        mode: u32,
    ) -> io::Result<()> {
        let lower = &self.lowers.layers[layer];
        let mut has_override = false;
        for name in lower.list_xattr(path)? {
            if whiteout::is_private_xattr(&name) {
                continue;
            }
            let Some(v) = lower.get_xattr(path, &name)? else {
                continue;
            };
            has_override |= OVERRIDE_XATTRS.contains(&name.as_slice());
            match tmp.set_xattr(&name, &v, 0) {
                Ok(()) => {}
                // trusted.* / security.* may be refused without privilege.
                Err(e) if !self.privileged && e.raw_os_error() == Some(libc::EPERM) => {}
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {}
                Err(e) => return Err(e),
            }
        }
        let rootless = self.owners.use_override && !self.privileged;
        if let Err(e) = tmp.chown(Some(st.st_uid), Some(st.st_gid)) {
            if !self.owners.use_override {
                return Err(e);
            }
        }
        if self.owners.use_override && !has_override {
            let o = Override {
                uid: st.st_uid,
                gid: st.st_gid,
                mode,
                kind: kind_is_special(kind).then_some((st.st_mode & libc::S_IFMT, st.st_rdev)),
            };
            tmp.set_xattr(OVERRIDE_XATTR, o.format(st.st_mode).as_bytes(), 0)?;
        }
        if kind != FileType::Symlink {
            // After chown, which clears setuid/setgid. Rootless, we must keep
            // access to our own copy; the override holds the real mode.
            let owner_bits = if kind == FileType::Directory {
                0o700
            } else {
                0o600
            };
            tmp.chmod(if rootless { mode | owner_bits } else { mode })?;
        }
        tmp.utimens(&times_of(st))
    }
}

fn kind_is_special(kind: FileType) -> bool {
    matches!(
        kind,
        FileType::CharDevice | FileType::BlockDevice | FileType::NamedPipe | FileType::Socket
    )
}
