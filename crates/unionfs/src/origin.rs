//! Where a copied-up file came from, recorded on the upper copy so that it
//! keeps showing its lower inode number after a remount, as kernel
//! overlayfs keeps it through `trusted.overlay.origin`.
//!
//! The kernel's record is a file handle of the lower file, which only
//! privileged code can open and a store-backed layer does not have. Ours
//! is the layer's `st_dev` and the file's inode number as the layer
//! reported them, in the overlay's private xattr namespace, so the kernel,
//! fuse-overlayfs, `strata commit` and our own copy-up treat it as
//! bookkeeping and never show or copy it.

use crate::inode::Node;
use crate::sys::At;
use crate::union::UnionFs;
use crate::whiteout::WriteForm;

const ORIGIN_XATTR_TRUSTED: &[u8] = b"trusted.overlay.strata.origin";
const ORIGIN_XATTR_USER: &[u8] = b"user.overlay.strata.origin";

/// A lower file: its layer's device and its inode number there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    pub dev: u64,
    pub ino: u64,
}

fn xattr_name(form: WriteForm) -> &'static [u8] {
    if form.trusted_xattrs {
        ORIGIN_XATTR_TRUSTED
    } else {
        ORIGIN_XATTR_USER
    }
}

impl Origin {
    /// Records the origin on `at`. Best effort, as the kernel's: an upper
    /// filesystem without xattrs only loses the number across remounts.
    pub fn record(&self, form: WriteForm, at: &At<'_>) {
        let value = format!("{}:{}", self.dev, self.ino);
        let _ = at.set_xattr(xattr_name(form), value.as_bytes(), 0);
    }

    /// The origin recorded on `at`, if any (unreadable counts as none).
    pub fn read(form: WriteForm, at: &At<'_>) -> Option<Origin> {
        let v = at.get_xattr(xattr_name(form)).ok()??;
        let (dev, ino) = std::str::from_utf8(&v).ok()?.split_once(':')?;
        Some(Origin {
            dev: dev.parse().ok()?,
            ino: ino.parse().ok()?,
        })
    }
}

impl UnionFs {
    /// Records on a copy being built at `tmp` the lower file it copies (at
    /// `layer`, lower stat `st`), where the kernel would: for a
    /// non-directory with one name. A directory's number comes from its
    /// lower side by name anyway; a file with more names would share its
    /// number with the names still below, which are other files now.
    pub(crate) fn record_origin(&self, tmp: &At<'_>, layer: usize, st: &libc::stat) {
        let Some(upper) = &self.upper else {
            return;
        };
        if is_dir(st) || st.st_nlink != 1 {
            return;
        }
        let origin = Origin {
            dev: self.layer_devs[layer],
            ino: st.st_ino,
        };
        origin.record(upper.form, tmp);
    }

    /// After `node` was copied up from a lower file with stat `lower` to
    /// the upper inode `upper_ino`: a copy that broke a lower hard link
    /// shows its own number from now on. The kernel caches the old one in
    /// the node's attributes (`install` has those dropped, with the link
    /// count) and in its directory's listing, where no name changed for it
    /// to notice: that is dropped here.
    pub(crate) fn copied_up(&self, node: &Node, lower: &libc::stat, upper_ino: u64) {
        let Some(upper) = &self.upper else {
            return;
        };
        if is_dir(lower) || lower.st_nlink <= 1 {
            return;
        }
        self.inodes
            .reshow(node.ino, self.xino.map(upper.dev, upper_ino));
        let Some(n) = self.notifier.get() else {
            return;
        };
        let parents: Vec<u64> = node.state.lock().links.iter().map(|l| l.0).collect();
        for p in parents {
            let _ = n.inval_inode(fuser::INodeNo(p), 0, 0);
        }
    }
}

fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}
