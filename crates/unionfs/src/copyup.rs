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

use crate::ids::{Override, OVERRIDE_XATTR};
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

impl UnionFs {
    /// Makes sure `node` exists in the upper layer. Caller holds `tree` for writing.
    pub(crate) fn copy_up(&self, node: &Node) -> io::Result<()> {
        let upper = self.upper()?;
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
            return Ok(());
        }
        let layer = lower.ok_or_else(|| err(libc::ENOENT))?;
        let parent = self.node(parent.ok_or_else(|| err(libc::ENOENT))?)?;
        self.copy_up(&parent)?;
        let path = self.path_of(node.ino)?;
        let lower = &self.lowers.layers[layer];
        let st = lower.stat(&path)?;
        let tmp = upper.scratch_at()?;
        let mode = st.st_mode & 0o7777;
        match kind {
            FileType::Directory => tmp.mkdir(0o700)?,
            FileType::RegularFile => {
                let src = lower.open(&path, 0)?;
                let dst = tmp.open(libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY, 0o600)?;
                sys::copy_sparse(src.as_fd(), dst.as_fd(), st.st_size as u64)?;
            }
            FileType::Symlink => tmp.symlink(&lower.readlink(&path)?)?,
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
        if let Err(e) = self.copy_meta(&tmp, &path, layer, &st, kind, mode) {
            let _ = tmp.unlink(kind == FileType::Directory);
            return Err(e);
        }
        let (ppath, _) = split(&path);
        let parent_at = upper.at(ppath)?;
        let parent_times = parent_at.lstat().ok().map(|s| times_of(&s));
        if let Err(e) = tmp.rename_to(&upper.at(&path)?, libc::RENAME_NOREPLACE) {
            let _ = tmp.unlink(kind == FileType::Directory);
            return Err(e);
        }
        if let Some(t) = parent_times {
            let _ = parent_at.utimens(&t);
        }
        let new = upper.at(&path)?.lstat()?;
        let key = Key::real(upper.dev, new.st_ino);
        self.inodes.alias(key, node.ino);
        let mut s = node.state.lock();
        s.upper = true;
        if kind != FileType::Directory {
            s.lower = None;
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
            has_override |= name == OVERRIDE_XATTR;
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
