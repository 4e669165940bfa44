//! The whiteout and opaque-directory rules, in one place.
//!
//! Reading, both forms are honoured in every layer, the upper one included
//! (a mount program switched from fuse-overlayfs finds its uppers):
//! - kernel overlayfs form: a whiteout is a character device 0/0; an opaque
//!   directory carries `trusted.overlay.opaque=y` (or `user.overlay.opaque=y`
//!   when the layer was written without privilege, overlayfs `userxattr`);
//! - OCI / AUFS form: a whiteout is a file named `.wh.NAME`; an opaque
//!   directory contains `.wh..wh..opq`;
//! - fuse-overlayfs's rootless opaque mark, `user.fuseoverlayfs.opaque=y`.
//!
//! Writing, the upper layer gets the kernel form where the kernel lets us make
//! it (so a kernel overlayfs mount of the same upper sees the same tree), and
//! the `.wh.` form only where mknod is refused.

use std::io;
use std::os::fd::BorrowedFd;

use crate::ids::OVERRIDE_XATTRS;
use crate::sys::At;

pub const WH_PREFIX: &[u8] = b".wh.";
pub const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
pub const OPAQUE_XATTR_TRUSTED: &[u8] = b"trusted.overlay.opaque";
pub const OPAQUE_XATTR_USER: &[u8] = b"user.overlay.opaque";
/// fuse-overlayfs marks opaque directories this way where it cannot set
/// `trusted.overlay.opaque` (rootless).
pub const OPAQUE_XATTR_FUSE_OVERLAYFS: &[u8] = b"user.fuseoverlayfs.opaque";

/// True for a character device 0/0, the kernel's whiteout.
pub fn is_whiteout_stat(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0
}

/// For `.wh.NAME`, returns NAME; `None` for ordinary names and the opaque marker.
pub fn whiteout_target(name: &[u8]) -> Option<&[u8]> {
    if name == OPAQUE_MARKER {
        return None;
    }
    name.strip_prefix(WH_PREFIX).filter(|n| !n.is_empty())
}

/// Prefixes of overlay bookkeeping xattrs: the kernel's (`trusted.` as root,
/// `user.` with `userxattr`) and fuse-overlayfs's (`user.fuseoverlayfs.opaque`
/// and the like). Never shown through the union, never copied up.
const PRIVATE_PREFIXES: [&[u8]; 4] = [
    b"trusted.overlay.",
    b"user.overlay.",
    b"user.fuseoverlayfs.",
    b"security.fuseoverlayfs.",
];

/// Overlay bookkeeping (the ownership overrides aside: they travel with
/// the file on copy-up).
pub fn is_private_xattr(name: &[u8]) -> bool {
    PRIVATE_PREFIXES.iter().any(|p| name.starts_with(p)) && !OVERRIDE_XATTRS.contains(&name)
}

/// What readers never see, as with fuse-overlayfs: the bookkeeping and every
/// ownership override (`user.containers.override_*` included).
pub fn is_hidden_xattr(name: &[u8]) -> bool {
    PRIVATE_PREFIXES.iter().any(|p| name.starts_with(p))
        || name.starts_with(b"user.containers.override_")
}

/// Whether the directory at `at` is opaque by xattr: the kernel's (either
/// namespace) or fuse-overlayfs's own.
pub fn has_opaque_xattr(at: &At<'_>) -> io::Result<bool> {
    for name in [
        OPAQUE_XATTR_TRUSTED,
        OPAQUE_XATTR_USER,
        OPAQUE_XATTR_FUSE_OVERLAYFS,
    ] {
        if let Some(v) = at.get_xattr(name)? {
            if v == b"y" {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// How the upper layer records whiteouts and opaque directories.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteForm {
    /// Whether char 0/0 devices can be made (else `.wh.NAME` files).
    pub device_whiteouts: bool,
    /// Whether `trusted.*` xattrs can be set (else `user.overlay.*`).
    pub trusted_xattrs: bool,
}

impl WriteForm {
    pub fn opaque_xattr(&self) -> &'static [u8] {
        if self.trusted_xattrs {
            OPAQUE_XATTR_TRUSTED
        } else {
            OPAQUE_XATTR_USER
        }
    }
}

/// Makes `at` a whiteout; `wh_at` names its `.wh.NAME` sibling, used where
/// mknod is refused.
pub fn write_whiteout(form: WriteForm, at: &At<'_>, wh_at: &At<'_>) -> io::Result<()> {
    if form.device_whiteouts {
        at.mknod(libc::S_IFCHR, 0)
    } else {
        wh_at
            .open(libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW, 0o600)
            .map(drop)
    }
}

/// Marks the directory `at` opaque; `marker_at` names its `.wh..wh..opq`
/// entry, used only where the filesystem has no user xattrs.
pub fn write_opaque(form: WriteForm, at: &At<'_>, marker_at: &At<'_>) -> io::Result<()> {
    match at.set_xattr(form.opaque_xattr(), b"y", 0) {
        Ok(()) => Ok(()),
        Err(e) if form.trusted_xattrs => Err(e),
        Err(_) => marker_at
            .open(libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW, 0o600)
            .map(drop),
    }
}

/// Probes what the upper filesystem allows, in `work` (our scratch dir).
pub fn probe_write_form(work: BorrowedFd<'_>) -> WriteForm {
    let probe = b".strata-probe";
    let Ok(p) = At::resolve(work, probe) else {
        return WriteForm {
            device_whiteouts: false,
            trusted_xattrs: false,
        };
    };
    let _ = p.unlink(false);
    let device_whiteouts = p.mknod(libc::S_IFCHR, 0).is_ok();
    let _ = p.unlink(false);
    let _ = p.open(libc::O_CREAT | libc::O_WRONLY, 0o600);
    let trusted_xattrs = p
        .set_xattr(b"trusted.overlay.strata-probe", b"y", 0)
        .is_ok();
    let _ = p.unlink(false);
    WriteForm {
        device_whiteouts,
        trusted_xattrs,
    }
}
