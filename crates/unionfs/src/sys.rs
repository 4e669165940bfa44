//! The system-call edge: every `*at` call the filesystem makes on a layer goes
//! through here, relative to a layer's root directory fd, so no other module
//! builds absolute paths or touches raw pointers.
//!
//! Paths inside a layer are relative byte strings. The kernel refuses paths
//! longer than PATH_MAX, but a union must serve trees deeper than that (a
//! process can `chdir` step by step to any depth); [`At::resolve`] therefore
//! walks long paths one chunk at a time and hands back a nearby directory fd.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

/// Longest relative path handed to the kernel in one call; longer ones are walked.
const CHUNK: usize = 3000;

fn cstr(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn check_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// A directory fd and a path relative to it that the kernel accepts in one call.
pub struct At<'a> {
    dir: DirRef<'a>,
    path: CString,
}

enum DirRef<'a> {
    Borrowed(BorrowedFd<'a>),
    Owned(OwnedFd),
}

impl<'a> At<'a> {
    /// Resolves `rel` (relative to `root`; empty means `root` itself).
    pub fn resolve(root: BorrowedFd<'a>, rel: &[u8]) -> io::Result<At<'a>> {
        if rel.len() <= CHUNK {
            let path = if rel.is_empty() {
                cstr(b".")?
            } else {
                cstr(rel)?
            };
            return Ok(At {
                dir: DirRef::Borrowed(root),
                path,
            });
        }
        let mut dir: Option<OwnedFd> = None;
        let mut rest = rel;
        while rest.len() > CHUNK {
            // Split at the last '/' within the chunk.
            let cut = rest[..CHUNK]
                .iter()
                .rposition(|&b| b == b'/')
                .ok_or_else(|| io::Error::from_raw_os_error(libc::ENAMETOOLONG))?;
            let base = dir.as_ref().map(|d| d.as_fd()).unwrap_or(root);
            let next = open_raw(
                base,
                &rest[..cut],
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0,
            )?;
            dir = Some(next);
            rest = &rest[cut + 1..];
        }
        Ok(At {
            dir: DirRef::Owned(dir.expect("walked at least once")),
            path: cstr(rest)?,
        })
    }

    pub fn fd(&self) -> RawFd {
        match &self.dir {
            DirRef::Borrowed(b) => b.as_raw_fd(),
            DirRef::Owned(o) => o.as_raw_fd(),
        }
    }

    pub fn path(&self) -> &CStr {
        &self.path
    }

    /// A path that names this entry through `/proc/self/fd`, for the calls
    /// that have no `*at` form (the `l*xattr` family).
    fn proc_path(&self) -> io::Result<CString> {
        let mut p = format!("/proc/self/fd/{}/", self.fd()).into_bytes();
        p.extend_from_slice(self.path.as_bytes());
        cstr(&p)
    }

    pub fn lstat(&self) -> io::Result<libc::stat> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fd and path are valid for the call; st is written by the kernel on success.
        check(unsafe {
            libc::fstatat(
                self.fd(),
                self.path.as_ptr(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })?;
        // SAFETY: fstatat returned 0, so st is initialised.
        Ok(unsafe { st.assume_init() })
    }

    pub fn open(&self, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
        open_c(self.fd(), &self.path, flags, mode)
    }

    pub fn mkdir(&self, mode: libc::mode_t) -> io::Result<()> {
        // SAFETY: valid fd and NUL-terminated path.
        check(unsafe { libc::mkdirat(self.fd(), self.path.as_ptr(), mode) }).map(drop)
    }

    pub fn mknod(&self, mode: libc::mode_t, rdev: libc::dev_t) -> io::Result<()> {
        // SAFETY: valid fd and NUL-terminated path.
        check(unsafe { libc::mknodat(self.fd(), self.path.as_ptr(), mode, rdev) }).map(drop)
    }

    pub fn symlink(&self, target: &[u8]) -> io::Result<()> {
        let t = cstr(target)?;
        // SAFETY: valid fd and NUL-terminated strings.
        check(unsafe { libc::symlinkat(t.as_ptr(), self.fd(), self.path.as_ptr()) }).map(drop)
    }

    pub fn readlink(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
        // SAFETY: buf is writable for its whole length.
        let n = check_size(unsafe {
            libc::readlinkat(
                self.fd(),
                self.path.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        })?;
        buf.truncate(n);
        Ok(buf)
    }

    pub fn unlink(&self, dir: bool) -> io::Result<()> {
        let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
        // SAFETY: valid fd and NUL-terminated path.
        check(unsafe { libc::unlinkat(self.fd(), self.path.as_ptr(), flags) }).map(drop)
    }

    /// `renameat2` from this entry to `to`.
    pub fn rename_to(&self, to: &At<'_>, flags: libc::c_uint) -> io::Result<()> {
        // SAFETY: valid fds and NUL-terminated paths.
        check(unsafe {
            libc::renameat2(
                self.fd(),
                self.path.as_ptr(),
                to.fd(),
                to.path.as_ptr(),
                flags,
            )
        })
        .map(drop)
    }

    pub fn link_to(&self, to: &At<'_>) -> io::Result<()> {
        // SAFETY: valid fds and NUL-terminated paths.
        check(unsafe { libc::linkat(self.fd(), self.path.as_ptr(), to.fd(), to.path.as_ptr(), 0) })
            .map(drop)
    }

    pub fn chown(&self, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
        let u = uid.unwrap_or(u32::MAX);
        let g = gid.unwrap_or(u32::MAX);
        // SAFETY: valid fd and NUL-terminated path; -1 leaves an id unchanged.
        check(unsafe {
            libc::fchownat(
                self.fd(),
                self.path.as_ptr(),
                u,
                g,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
        .map(drop)
    }

    pub fn chmod(&self, mode: libc::mode_t) -> io::Result<()> {
        // SAFETY: valid fd and NUL-terminated path. Symlinks never reach here.
        check(unsafe { libc::fchmodat(self.fd(), self.path.as_ptr(), mode, 0) }).map(drop)
    }

    pub fn utimens(&self, times: &[libc::timespec; 2]) -> io::Result<()> {
        // SAFETY: valid fd, path and a two-element timespec array.
        check(unsafe {
            libc::utimensat(
                self.fd(),
                self.path.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
        .map(drop)
    }

    pub fn get_xattr(&self, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
        let p = self.proc_path()?;
        let n = cstr(name)?;
        // Most values are short: one call into a small buffer, and the
        // size query only for a value that does not fit.
        let mut small = [0u8; 128];
        // SAFETY: small is writable for its length.
        let got = unsafe {
            libc::lgetxattr(
                p.as_ptr(),
                n.as_ptr(),
                small.as_mut_ptr().cast(),
                small.len(),
            )
        };
        match check_size(got) {
            Ok(g) => return Ok(Some(small[..g].to_vec())),
            Err(e) if is_no_xattr(&e) => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) => {}
            Err(e) => return Err(e),
        }
        loop {
            // SAFETY: a NULL buffer of size 0 asks for the value's size.
            let size = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) };
            let size = match check_size(size) {
                Ok(s) => s,
                Err(e) if is_no_xattr(&e) => return Ok(None),
                Err(e) => return Err(e),
            };
            let mut buf = vec![0u8; size];
            // SAFETY: buf is writable for `size` bytes.
            let got = unsafe {
                libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
            };
            match check_size(got) {
                Ok(g) => {
                    buf.truncate(g);
                    return Ok(Some(buf));
                }
                Err(e) if e.raw_os_error() == Some(libc::ERANGE) => continue,
                Err(e) if is_no_xattr(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    pub fn set_xattr(&self, name: &[u8], value: &[u8], flags: libc::c_int) -> io::Result<()> {
        let p = self.proc_path()?;
        let n = cstr(name)?;
        // SAFETY: value is readable for its length; strings are NUL-terminated.
        check(unsafe {
            libc::lsetxattr(
                p.as_ptr(),
                n.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                flags,
            )
        })
        .map(drop)
    }

    pub fn remove_xattr(&self, name: &[u8]) -> io::Result<()> {
        let p = self.proc_path()?;
        let n = cstr(name)?;
        // SAFETY: NUL-terminated strings.
        check(unsafe { libc::lremovexattr(p.as_ptr(), n.as_ptr()) }).map(drop)
    }

    pub fn list_xattr(&self) -> io::Result<Vec<Vec<u8>>> {
        let p = self.proc_path()?;
        loop {
            // SAFETY: a NULL buffer of size 0 asks for the list's size.
            let size = check_size(unsafe { libc::llistxattr(p.as_ptr(), std::ptr::null_mut(), 0) });
            let size = match size {
                Ok(s) => s,
                Err(e) if is_unsupported(&e) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            if size == 0 {
                return Ok(Vec::new());
            }
            let mut buf = vec![0u8; size];
            // SAFETY: buf is writable for `size` bytes.
            let got = unsafe { libc::llistxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
            match check_size(got) {
                Ok(g) => {
                    buf.truncate(g);
                    return Ok(buf
                        .split(|&b| b == 0)
                        .filter(|s| !s.is_empty())
                        .map(<[u8]>::to_vec)
                        .collect());
                }
                Err(e) if e.raw_os_error() == Some(libc::ERANGE) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

pub fn is_no_xattr(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENODATA) || is_unsupported(e)
}

fn is_unsupported(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EOPNOTSUPP)
}

pub fn is_enoent(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
}

fn open_c(dir: RawFd, path: &CStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    // SAFETY: valid fd and NUL-terminated path; mode is only read with O_CREAT/O_TMPFILE.
    let fd = check(unsafe {
        libc::openat(
            dir,
            path.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: openat returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn open_raw(
    dir: BorrowedFd<'_>,
    path: &[u8],
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    open_c(dir.as_raw_fd(), &cstr(path)?, flags, mode)
}

/// Opens a directory given by an absolute or cwd-relative path (layer roots).
pub fn open_dir_path(path: &std::path::Path) -> io::Result<OwnedFd> {
    let c = cstr(path.as_os_str().as_bytes())?;
    open_c(libc::AT_FDCWD, &c, libc::O_PATH | libc::O_DIRECTORY, 0)
}

/// `fstat` on an open fd.
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: st is written by the kernel on success.
    check(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat returned 0.
    Ok(unsafe { st.assume_init() })
}

/// One entry of a raw directory listing.
pub struct RawDirent {
    pub name: Vec<u8>,
    pub ino: u64,
    pub dtype: u8,
}

/// Reads a whole directory with `getdents64`, skipping `.` and `..`.
pub fn read_dir_fd(dir: OwnedFd) -> io::Result<Vec<RawDirent>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: buf is writable for its length; getdents64 fills it with dirent64 records.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            break;
        }
        let mut off = 0usize;
        while off < n as usize {
            let rec = &buf[off..];
            let ino = u64::from_ne_bytes(rec[0..8].try_into().expect("8 bytes"));
            let reclen = u16::from_ne_bytes(rec[16..18].try_into().expect("2 bytes")) as usize;
            let dtype = rec[18];
            let name_bytes = &rec[19..reclen];
            let len = name_bytes
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(name_bytes.len());
            let name = &name_bytes[..len];
            if name != b"." && name != b".." {
                out.push(RawDirent {
                    name: name.to_vec(),
                    ino,
                    dtype,
                });
            }
            off += reclen;
        }
    }
    Ok(out)
}

/// Copies `len` bytes between fds in the kernel, keeping holes: data ranges
/// are found with SEEK_DATA/SEEK_HOLE and only those are copied.
pub fn copy_sparse(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    let mut pos: i64 = 0;
    let end = len as i64;
    while pos < end {
        // SAFETY: plain lseek on a valid fd.
        let data = unsafe { libc::lseek(src.as_raw_fd(), pos, libc::SEEK_DATA) };
        if data < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENXIO) {
                break; // only a hole remains
            }
            // The filesystem cannot tell holes: copy everything left.
            return copy_range(src, dst, pos, end - pos);
        }
        // SAFETY: plain lseek on a valid fd.
        let hole = unsafe { libc::lseek(src.as_raw_fd(), data, libc::SEEK_HOLE) };
        let hole = if hole < 0 { end } else { hole.min(end) };
        copy_range(src, dst, data, hole - data)?;
        pos = hole;
    }
    // SAFETY: plain ftruncate on a valid fd: sets the size, keeping a trailing hole.
    check(unsafe { libc::ftruncate(dst.as_raw_fd(), len as libc::off_t) })?;
    Ok(())
}

fn copy_range(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, start: i64, len: i64) -> io::Result<()> {
    let mut off_in = start;
    let mut off_out = start;
    let mut left = len;
    let mut use_cfr = true;
    let mut buf = Vec::new();
    while left > 0 {
        let chunk = left.min(1 << 30) as usize;
        if use_cfr {
            // SAFETY: both offsets are valid pointers to i64; fds are valid.
            let n = unsafe {
                libc::copy_file_range(
                    src.as_raw_fd(),
                    &mut off_in,
                    dst.as_raw_fd(),
                    &mut off_out,
                    chunk,
                    0,
                )
            };
            if n > 0 {
                left -= n as i64;
                continue;
            }
            if n == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EXDEV)
                | Some(libc::EINVAL)
                | Some(libc::ENOSYS)
                | Some(libc::EOPNOTSUPP) => use_cfr = false,
                Some(libc::EINTR) => continue,
                _ => return Err(e),
            }
        }
        if buf.is_empty() {
            buf = vec![0u8; 1 << 20];
        }
        let want = chunk.min(buf.len());
        // SAFETY: buf is writable for `want` bytes.
        let n = unsafe { libc::pread(src.as_raw_fd(), buf.as_mut_ptr().cast(), want, off_in) };
        let n = check_size(n)?;
        if n == 0 {
            break;
        }
        let mut written = 0;
        while written < n {
            // SAFETY: buf[written..n] is initialised and readable.
            let w = unsafe {
                libc::pwrite(
                    dst.as_raw_fd(),
                    buf[written..n].as_ptr().cast(),
                    n - written,
                    off_out + written as i64,
                )
            };
            written += check_size(w)?;
        }
        off_in += n as i64;
        off_out += n as i64;
        left -= n as i64;
    }
    Ok(())
}

/// `fchown` on an open fd, an `O_PATH` one included.
pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: valid fd and an empty NUL-terminated path.
    check(unsafe { libc::fchownat(fd.as_raw_fd(), c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH) })
        .map(drop)
}

/// `fchmod` on an open fd. fchmod refuses an `O_PATH` one (EBADF): that is
/// changed through its `/proc/self/fd` link, which chmod follows to the
/// file (as glibc's fchmodat does).
pub fn fchmod(fd: BorrowedFd<'_>, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: plain syscall on a valid fd.
    match check(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }) {
        Err(e) if e.raw_os_error() == Some(libc::EBADF) => {
            let p = proc_fd_path(fd)?;
            // SAFETY: NUL-terminated path.
            check(unsafe { libc::chmod(p.as_ptr(), mode) }).map(drop)
        }
        r => r.map(drop),
    }
}

/// `futimens` on an open fd, an `O_PATH` one included.
pub fn futimens(fd: BorrowedFd<'_>, times: &[libc::timespec; 2]) -> io::Result<()> {
    // SAFETY: valid fd, an empty NUL-terminated path and two timespecs.
    check(unsafe {
        libc::utimensat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            times.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// `ftruncate` on an open fd.
pub fn ftruncate(fd: BorrowedFd<'_>, size: u64) -> io::Result<()> {
    // SAFETY: plain syscall on a valid fd.
    check(unsafe { libc::ftruncate(fd.as_raw_fd(), size as libc::off_t) }).map(drop)
}

/// The `/proc/self/fd` link of `fd`, which path calls follow to its file.
fn proc_fd_path(fd: BorrowedFd<'_>) -> io::Result<CString> {
    cstr(format!("/proc/self/fd/{}", fd.as_raw_fd()).as_bytes())
}

/// Reopens an `O_PATH` or other fd with new flags through `/proc/self/fd`.
pub fn reopen(fd: BorrowedFd<'_>, flags: libc::c_int) -> io::Result<OwnedFd> {
    let p = proc_fd_path(fd)?;
    open_c(libc::AT_FDCWD, &p, flags, 0)
}

pub fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], off: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: buf[done..] is writable.
        let n = unsafe {
            libc::pread(
                fd.as_raw_fd(),
                buf[done..].as_mut_ptr().cast(),
                buf.len() - done,
                (off + done as u64) as libc::off_t,
            )
        };
        let n = match check_size(n) {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

pub fn pwrite(fd: BorrowedFd<'_>, buf: &[u8], off: u64) -> io::Result<usize> {
    // SAFETY: buf is readable for its length.
    let n = unsafe {
        libc::pwrite(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            off as libc::off_t,
        )
    };
    check_size(n)
}

/// The access mode and status flags of an open fd.
pub fn fd_flags(fd: BorrowedFd<'_>) -> io::Result<i32> {
    // SAFETY: F_GETFL on a valid fd takes no pointer.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })
}

pub fn fsync(fd: BorrowedFd<'_>, datasync: bool) -> io::Result<()> {
    // SAFETY: plain syscall on a valid fd.
    let r = unsafe {
        if datasync {
            libc::fdatasync(fd.as_raw_fd())
        } else {
            libc::fsync(fd.as_raw_fd())
        }
    };
    check(r).map(drop)
}

pub fn fallocate(fd: BorrowedFd<'_>, mode: i32, off: u64, len: u64) -> io::Result<()> {
    // SAFETY: plain syscall on a valid fd.
    check(unsafe { libc::fallocate(fd.as_raw_fd(), mode, off as i64, len as i64) }).map(drop)
}

pub fn lseek(fd: BorrowedFd<'_>, off: i64, whence: i32) -> io::Result<i64> {
    // SAFETY: plain syscall on a valid fd.
    let r = unsafe { libc::lseek(fd.as_raw_fd(), off, whence) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

pub fn flock(fd: BorrowedFd<'_>, op: i32) -> io::Result<()> {
    // SAFETY: plain syscall on a valid fd.
    check(unsafe { libc::flock(fd.as_raw_fd(), op) }).map(drop)
}

pub fn fcntl_lock(fd: BorrowedFd<'_>, cmd: i32, lk: &mut libc::flock) -> io::Result<()> {
    // SAFETY: lk points at a valid struct flock.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), cmd, lk as *mut libc::flock) }).map(drop)
}

pub fn copy_file_range(
    src: BorrowedFd<'_>,
    off_in: u64,
    dst: BorrowedFd<'_>,
    off_out: u64,
    len: usize,
) -> io::Result<usize> {
    let mut i = off_in as i64;
    let mut o = off_out as i64;
    // SAFETY: offsets point at local i64s; fds are valid.
    check_size(unsafe {
        libc::copy_file_range(src.as_raw_fd(), &mut i, dst.as_raw_fd(), &mut o, len, 0)
    } as libc::ssize_t)
}

pub fn fstatvfs(fd: BorrowedFd<'_>) -> io::Result<libc::statvfs> {
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: st is written by the kernel on success.
    check(unsafe { libc::fstatvfs(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstatvfs returned 0.
    Ok(unsafe { st.assume_init() })
}

/// Joins a parent relative path and a name.
pub fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    if parent.is_empty() {
        return name.to_vec();
    }
    let mut v = Vec::with_capacity(parent.len() + 1 + name.len());
    v.extend_from_slice(parent);
    v.push(b'/');
    v.extend_from_slice(name);
    v
}

pub fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}
