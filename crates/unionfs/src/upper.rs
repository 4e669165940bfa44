//! The writable upper layer: a real directory in overlayfs format, plus our
//! scratch directory inside the workdir where new entries are assembled
//! before they are renamed into place (so a crash never shows half a file).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::lowerindex::split;
use crate::sys::{self, At};
use crate::whiteout::{self, WriteForm};

/// Name of our scratch directory inside the workdir. Kernel overlayfs uses
/// `work/` and `index/` there, so the two can share one workdir.
const SCRATCH: &str = "strata-work";

pub struct Upper {
    root: OwnedFd,
    scratch: OwnedFd,
    pub dev: u64,
    pub form: WriteForm,
    counter: AtomicU64,
}

/// What the upper layer has at a path.
pub enum UpperEntry {
    Missing,
    Whiteout,
    Present(libc::stat),
}

impl Upper {
    pub fn open(upper: &Path, work: &Path) -> io::Result<Self> {
        let root = sys::open_dir_path(upper)?;
        let scratch_path = work.join(SCRATCH);
        if scratch_path.exists() {
            // Leftovers of a crash: half-built copies nobody can see. Remove them.
            std::fs::remove_dir_all(&scratch_path)?;
        }
        std::fs::create_dir(&scratch_path)?;
        let scratch = sys::open_dir_path(&scratch_path)?;
        let root_st = sys::fstat(root.as_fd())?;
        let scratch_st = sys::fstat(scratch.as_fd())?;
        if root_st.st_dev != scratch_st.st_dev {
            return Err(io::Error::other(format!(
                "workdir {} must be on the same filesystem as upperdir {}",
                work.display(),
                upper.display()
            )));
        }
        let form = whiteout::probe_write_form(scratch.as_fd());
        Ok(Upper {
            dev: root_st.st_dev,
            root,
            scratch,
            form,
            counter: AtomicU64::new(0),
        })
    }

    pub fn root_fd(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    pub fn at(&self, path: &[u8]) -> io::Result<At<'_>> {
        At::resolve(self.root.as_fd(), path)
    }

    /// A fresh unused name in the scratch directory.
    pub fn scratch_at(&self) -> io::Result<At<'_>> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        At::resolve(
            self.scratch.as_fd(),
            format!("{}-{n}", std::process::id()).as_bytes(),
        )
    }

    /// `.wh.NAME` beside `path`.
    fn wh_path(path: &[u8]) -> Vec<u8> {
        let (parent, name) = split(path);
        let mut wh = whiteout::WH_PREFIX.to_vec();
        wh.extend_from_slice(name);
        sys::join(parent, &wh)
    }

    /// What is at `path`. `hides_lower` says whether a lower entry exists
    /// there: only then can a `.wh.` whiteout matter, so only then is it probed.
    pub fn entry(&self, path: &[u8], hides_lower: bool) -> io::Result<UpperEntry> {
        match self.at(path)?.lstat() {
            Ok(st) if whiteout::is_whiteout_stat(&st) => Ok(UpperEntry::Whiteout),
            Ok(st) => Ok(UpperEntry::Present(st)),
            Err(e) if sys::is_enoent(&e) => {
                if hides_lower {
                    match self.at(&Self::wh_path(path))?.lstat() {
                        Ok(_) => return Ok(UpperEntry::Whiteout),
                        Err(e) if sys::is_enoent(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(UpperEntry::Missing)
            }
            Err(e) => Err(e),
        }
    }

    pub fn is_opaque(&self, path: &[u8]) -> io::Result<bool> {
        let at = self.at(path)?;
        if whiteout::has_opaque_xattr(&at)? {
            return Ok(true);
        }
        let marker = sys::join(path, whiteout::OPAQUE_MARKER);
        match self.at(&marker)?.lstat() {
            Ok(_) => Ok(true),
            Err(e) if sys::is_enoent(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub fn set_opaque(&self, path: &[u8]) -> io::Result<()> {
        let marker = sys::join(path, whiteout::OPAQUE_MARKER);
        whiteout::write_opaque(self.form, &self.at(path)?, &self.at(&marker)?)
    }

    /// Puts a whiteout at `path` (nothing may be there).
    pub fn whiteout(&self, path: &[u8]) -> io::Result<()> {
        whiteout::write_whiteout(self.form, &self.at(path)?, &self.at(&Self::wh_path(path))?)
    }

    /// Removes a whiteout at `path` if there is one, so a new entry can go there.
    pub fn clear_whiteout(&self, path: &[u8]) -> io::Result<()> {
        let at = self.at(path)?;
        match at.lstat() {
            Ok(st) if whiteout::is_whiteout_stat(&st) => at.unlink(false)?,
            Ok(_) => return Err(io::Error::from_raw_os_error(libc::EEXIST)),
            Err(e) if sys::is_enoent(&e) => {}
            Err(e) => return Err(e),
        }
        match self.at(&Self::wh_path(path))?.unlink(false) {
            Ok(()) => Ok(()),
            Err(e) if sys::is_enoent(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Names in the upper directory `dir`, split into real entries and whiteouts.
    pub fn list(&self, dir: &[u8]) -> io::Result<(Vec<sys::RawDirent>, Vec<Vec<u8>>)> {
        let fd = self
            .at(dir)?
            .open(libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
        let mut real = Vec::new();
        let mut whiteouts = Vec::new();
        for d in sys::read_dir_fd(fd)? {
            if d.name == whiteout::OPAQUE_MARKER {
                continue;
            }
            if let Some(t) = whiteout::whiteout_target(&d.name) {
                whiteouts.push(t.to_vec());
                continue;
            }
            if d.dtype == libc::DT_CHR || d.dtype == libc::DT_UNKNOWN {
                let st = self.at(&sys::join(dir, &d.name))?.lstat()?;
                if whiteout::is_whiteout_stat(&st) {
                    whiteouts.push(d.name);
                    continue;
                }
            }
            real.push(d);
        }
        Ok((real, whiteouts))
    }

    /// Removes a directory tree that was moved into the scratch directory.
    pub fn remove_tree(&self, at: &At<'_>) -> io::Result<()> {
        let fd = at.open(libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
        let dirfd = sys::reopen(fd.as_fd(), libc::O_PATH | libc::O_DIRECTORY)?;
        for d in sys::read_dir_fd(fd)? {
            let child = At::resolve(dirfd.as_fd(), &d.name)?;
            if d.dtype == libc::DT_DIR {
                self.remove_tree(&child)?;
            } else {
                child.unlink(false)?;
            }
        }
        at.unlink(true)
    }
}
