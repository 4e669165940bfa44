//! The one difference from kernel overlayfs that strata-fs makes on
//! purpose: with FUSE passthrough, a descriptor opened read-only on a file
//! still in a lower layer passes through to that lower file and keeps
//! reading it after the file is copied up (README, design notes), where
//! the kernel's reads the copy. So for each such descriptor of strata-fs a
//! descriptor of the lower file is kept, and a read that differs from the
//! kernel's is accepted when it is what that lower file answers.

use std::fs::File;
use std::io::Seek;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::fcntl::OFlag;

use crate::exec::{apply, Fds, Seen};
use crate::ops::Op;

#[derive(Default)]
pub struct Shadows {
    fds: Fds,
}

impl Shadows {
    /// Before `op` runs on strata-fs (mounted over `upper`): whether it is
    /// an open of a path the upper layer does not have yet.
    pub fn lower_only(op: &Op, upper: &Path) -> bool {
        matches!(op, Op::Open { path, .. } if upper.join(path).symlink_metadata().is_err())
    }

    /// Before a `read(2)` through a shadowed slot: where it reads from.
    pub fn position(&mut self, op: &Op, fds: &mut Fds) -> Option<u64> {
        match op {
            Op::Read { slot, .. } if self.fds.get(*slot).is_some() => {
                fds.get(*slot)?.stream_position().ok()
            }
            _ => None,
        }
    }

    /// After `op` ran on strata-fs and saw `s`: keeps a descriptor of the
    /// lower file a read-only open of a lower-only path reached (the layer
    /// file showing the inode number the descriptor shows), drops one when
    /// its slot is closed or opened anew (a failed open leaves it).
    pub fn track(&mut self, op: &Op, s: &Seen, lower_only: bool, fds: &mut Fds, lowers: &[&Path]) {
        match op {
            Op::Open { .. } if s.result.starts_with("err") => {}
            Op::Open {
                slot, path, flags, ..
            } => {
                let read_only = flags.bits() & libc::O_ACCMODE == libc::O_RDONLY
                    && !flags.contains(OFlag::O_TRUNC);
                let ino = fds.get(*slot).and_then(|f| f.metadata().ok());
                let lower = match ino {
                    Some(m) if lower_only && read_only && m.is_file() => lowers
                        .iter()
                        .map(|l| l.join(path))
                        .find(|p| p.metadata().is_ok_and(|lm| lm.ino() == m.ino()))
                        .and_then(|p| File::open(p).ok()),
                    _ => None,
                };
                self.fds.set(*slot, lower);
            }
            Op::Close { slot } => self.fds.set(*slot, None),
            _ => {}
        }
    }

    /// Whether strata-fs's answer `s` to `op` is what the lower file of its
    /// descriptor answers (`pos`: where a `read(2)` started).
    pub fn reads_lower(&mut self, op: &Op, pos: Option<u64>, s: &Seen) -> bool {
        let slot = match op {
            Op::Read { slot, .. } | Op::Pread { slot, .. } | Op::MmapRead { slot, .. } => *slot,
            _ => return false,
        };
        let Some(f) = self.fds.get(slot) else {
            return false;
        };
        if let Some(pos) = pos {
            if f.seek(std::io::SeekFrom::Start(pos)).is_err() {
                return false;
            }
        }
        apply(op, Path::new("/nonexistent"), &mut self.fds).result == s.result
    }
}
