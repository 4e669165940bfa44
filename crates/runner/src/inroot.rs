//! Paths inside a container's root resolved as the container would see them:
//! `openat2(RESOLVE_IN_ROOT)` makes `..` and absolute symlinks stop at the
//! root, so a symlink in an image can never send a mount outside it. Mounts
//! then target the opened file through `/proc/self/fd/N`.

use std::collections::VecDeque;
use std::ffi::{CStr, CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// An open root directory.
pub struct Root {
    fd: OwnedFd,
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The path inside the root, without leading `/` or `.` components.
fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir))
        .collect()
}

impl Root {
    pub fn open(path: &Path) -> io::Result<Root> {
        let c = cstr(path)?;
        // SAFETY: `c` is a valid NUL-terminated string for the call.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a freshly opened descriptor that nothing else owns.
        Ok(Root {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Opens `path` (relative to the root; a leading `/` is the root) with
    /// `flags`, resolving every component inside the root.
    pub fn open_in(&self, path: &Path, flags: i32, mode: u32) -> io::Result<OwnedFd> {
        let rel = relative(path);
        let c = cstr(if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &rel
        })?;
        // SAFETY: open_how is plain data; zeroed is a valid value.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (flags | libc::O_CLOEXEC) as u64;
        how.mode = if flags & libc::O_CREAT != 0 {
            mode as u64
        } else {
            0
        };
        how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
        // SAFETY: openat2 with a valid dirfd, NUL-terminated path and an
        // open_how struct whose size we pass.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.fd.as_raw_fd(),
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a freshly opened descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    /// Creates the directory `path` and its missing parents inside the root
    /// and returns it opened with `O_PATH`. Symlinks on the way, dangling
    /// ones included, are followed as the container would see them: each
    /// component is opened with `O_NOFOLLOW` below the previous one and a
    /// link's target is walked again from the root (absolute) or from where
    /// it was found (relative), with `..` never climbing above the root.
    pub fn mkdir_all(&self, path: &Path, mode: u32) -> io::Result<OwnedFd> {
        let mut todo: VecDeque<OsString> = relative(path).iter().map(OsString::from).collect();
        let mut stack: Vec<OwnedFd> =
            vec![self.open_in(Path::new(""), libc::O_PATH | libc::O_DIRECTORY, 0)?];
        let mut links = 0;
        while let Some(name) = todo.pop_front() {
            if name == ".." {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            let parent = stack
                .last()
                .expect("the root stays on the stack")
                .as_raw_fd();
            let c = cstr(Path::new(&name))?;
            let fd = match openat(parent, &c, libc::O_PATH | libc::O_NOFOLLOW) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    // SAFETY: mkdirat on an open directory with a plain name.
                    if unsafe { libc::mkdirat(parent, c.as_ptr(), mode) } != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    openat(parent, &c, libc::O_PATH | libc::O_NOFOLLOW)?
                }
                other => other?,
            };
            let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
            match st.st_mode & libc::S_IFMT {
                libc::S_IFDIR => stack.push(fd),
                libc::S_IFLNK => {
                    links += 1;
                    if links > 40 {
                        return Err(io::Error::from_raw_os_error(libc::ELOOP));
                    }
                    let target = nix::fcntl::readlinkat(Some(parent), Path::new(&name))?;
                    let target = PathBuf::from(target);
                    if target.is_absolute() {
                        stack.truncate(1);
                    }
                    for comp in relative(&target).iter().rev() {
                        todo.push_front(comp.to_os_string());
                    }
                }
                _ => return Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
            }
        }
        Ok(stack.pop().expect("the root stays on the stack"))
    }

    /// Makes sure `path` exists inside the root as a file (or, if it is
    /// already there, whatever it is) and returns it opened with `O_PATH`.
    pub fn ensure_file(&self, path: &Path) -> io::Result<OwnedFd> {
        match self.open_in(path, libc::O_PATH, 0) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                let rel = relative(path);
                if let Some(parent) = rel.parent() {
                    self.mkdir_all(parent, 0o755)?;
                }
                drop(self.open_in(path, libc::O_CREAT | libc::O_WRONLY, 0o644)?);
                self.open_in(path, libc::O_PATH, 0)
            }
            other => other,
        }
    }
}

/// `openat` of one plain name below `dir`.
fn openat(dir: i32, name: &CStr, flags: i32) -> io::Result<OwnedFd> {
    // SAFETY: openat on an open directory with a NUL-terminated name.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a freshly opened descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The `/proc/self/fd/N` path through which a mount reaches an open file.
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.join("etc/up")).unwrap();
        let r = Root::open(&root).unwrap();
        r.mkdir_all(Path::new("/escape/x"), 0o755).unwrap();
        r.ensure_file(Path::new("/etc/up/escape/f")).unwrap();
        // Both landed inside the root, following the links as the container would.
        assert!(root
            .join(outside.strip_prefix("/").unwrap())
            .join("x")
            .is_dir());
        assert!(root
            .join(outside.strip_prefix("/").unwrap())
            .join("f")
            .is_file());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }
}
