//! Applying one operation to one mount, and what it saw as text that the
//! two mounts must agree on.

use std::fmt;
use std::fs::{self, File, OpenOptions, Permissions};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use memmap2::MmapOptions;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::sys::uio::RemoteIoVec;
use nix::unistd::Pid;

use crate::common::{ls, nix_io, show};
use crate::ops::{Node, Op, SLOTS};

/// Times from here on were set by the operations as they ran ("now"), so
/// they differ between the mounts; earlier ones come from the fixture or
/// from utimensat and must match to the nanosecond.
const RECENT: i64 = 1_700_000_000;

/// The most a whole-file read takes in: the biggest fixture file is 8 MiB,
/// and a character device (/dev/zero) never ends.
const READ_CAP: u64 = 9 << 20;

/// The descriptors a sequence keeps open on one mount, by slot.
#[derive(Default)]
pub struct Fds([Option<File>; SLOTS]);

impl Fds {
    pub fn get(&mut self, slot: usize) -> Option<&mut File> {
        self.0[slot].as_mut()
    }

    pub fn set(&mut self, slot: usize, f: Option<File>) {
        self.0[slot] = f;
    }
}

/// What one operation saw: its result, and after a change, the state of
/// what it changed (so a change that "succeeds" differently shows at once).
#[derive(Debug, PartialEq)]
pub struct Seen {
    pub result: String,
    pub after: String,
}

/// The result, then "->" and the state after.
impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.result)?;
        if !self.after.is_empty() {
            write!(f, " -> {}", self.after)?;
        }
        Ok(())
    }
}

pub fn apply(op: &Op, root: &Path, fds: &mut Fds) -> Seen {
    let result = result(op, root, fds);
    Seen {
        result,
        after: after(op, root, fds),
    }
}

fn result(op: &Op, root: &Path, fds: &mut Fds) -> String {
    let p = |s: &str| root.join(s);
    match op {
        Op::Open {
            slot,
            path,
            flags,
            mode,
        } => show(open(&p(path), *flags, *mode).and_then(|f| {
            let st = describe(&f.metadata()?);
            fds.0[*slot] = Some(f);
            Ok(st)
        })),
        Op::Close { slot } => show(fds.0[*slot].take().map(drop).ok_or_else(ebadf)),
        Op::Read { slot, len } => with(fds, *slot, |f| {
            let mut b = vec![0; *len];
            let n = f.read(&mut b)?;
            Ok(lossy(&b[..n]))
        }),
        Op::Pread { slot, off, len } => with(fds, *slot, |f| {
            let mut b = vec![0; *len];
            let n = f.read_at(&mut b, *off)?;
            Ok(lossy(&b[..n]))
        }),
        Op::Write { slot, data } => with(fds, *slot, |f| f.write(data)),
        Op::Pwrite { slot, off, data } => with(fds, *slot, |f| f.write_at(data, *off)),
        // A directory's offsets are cookies of the filesystem's choosing
        // (and SEEK_END means what it likes): on one, only rewinding is
        // compared.
        Op::Seek { slot, pos } => with(fds, *slot, |f| {
            if f.metadata()?.is_dir() {
                return f.rewind().map(|()| None);
            }
            f.seek(*pos).map(Some)
        }),
        Op::Ftruncate { slot, len } => with(fds, *slot, |f| f.set_len(*len)),
        Op::Fallocate { slot, off, len } => with(fds, *slot, |f| {
            nix_io(nix::fcntl::fallocate(
                f.as_raw_fd(),
                nix::fcntl::FallocateFlags::empty(),
                *off as i64,
                *len as i64,
            ))
        }),
        Op::CopyRange { from, to, len } => match (&fds.0[*from], &fds.0[*to]) {
            (Some(a), Some(b)) => show(nix_io(nix::fcntl::copy_file_range(a, None, b, None, *len))),
            _ => show::<()>(Err(ebadf())),
        },
        Op::Fstat { slot } => with(fds, *slot, |f| Ok(describe(&f.metadata()?))),
        Op::Fchmod { slot, mode } => with(fds, *slot, |f| {
            f.set_permissions(Permissions::from_mode(*mode))
        }),
        Op::Getdents { slot } => with(fds, *slot, getdents),
        Op::MmapRead { slot, off, len } => with(fds, *slot, |f| mmap_read(f, *off, *len)),
        Op::MmapWrite { slot, off, data } => with(fds, *slot, |f| mmap_write(f, *off, data)),
        Op::Stat { path } => show(lstat(&p(path))),
        Op::ReadFile { path } => show(read_file(&p(path))),
        Op::ReadDir { path } => show(ls(&p(path))),
        Op::ReadLink { path } => show(fs::read_link(p(path))),
        Op::Truncate { path, len } => show(nix_io(nix::unistd::truncate(&p(path), *len as i64))),
        Op::Rename { from, to, flags } => show(nix_io(nix::fcntl::renameat2(
            None,
            &p(from),
            None,
            &p(to),
            *flags,
        ))),
        Op::Link { from, to } => show(fs::hard_link(p(from), p(to))),
        Op::Unlink { path } => show(fs::remove_file(p(path))),
        Op::Rmdir { path } => show(fs::remove_dir(p(path))),
        Op::Mkdir { path, mode } => show(fs::DirBuilder::new().mode(*mode).create(p(path))),
        Op::Mknod { path, node } => {
            let (kind, dev) = match *node {
                Node::Fifo => (SFlag::S_IFIFO, 0),
                Node::Socket => (SFlag::S_IFSOCK, 0),
                Node::Char(major, minor) => (SFlag::S_IFCHR, libc::makedev(major, minor)),
            };
            show(nix_io(nix::sys::stat::mknod(
                &p(path),
                kind,
                Mode::from_bits_truncate(0o644),
                dev,
            )))
        }
        Op::Symlink { target, path } => show(std::os::unix::fs::symlink(target, p(path))),
        Op::Chmod { path, mode } => {
            show(fs::set_permissions(p(path), Permissions::from_mode(*mode)))
        }
        Op::Chown { path, uid, gid } => show(std::os::unix::fs::lchown(p(path), *uid, *gid)),
        Op::Utimes { path, mtime } => show(nix_io(nix::sys::stat::utimensat(
            None,
            &p(path),
            &TimeSpec::UTIME_OMIT,
            &mtime.map_or(TimeSpec::UTIME_NOW, |(s, ns)| TimeSpec::new(s, ns)),
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        ))),
        Op::SetXattr { path, name, value } => show(xattr::set(p(path), name, value)),
        Op::GetXattr { path, name } => {
            show(xattr::get(p(path), name).map(|v| v.map(|v| lossy(&v))))
        }
        Op::RemoveXattr { path, name } => show(xattr::remove(p(path), name)),
        Op::ListXattr { path } => show(xattr::list(p(path)).map(|l| {
            // Security modules may label files; the unions need not agree.
            let mut v: Vec<String> = l
                .map(|n| n.to_string_lossy().into_owned())
                .filter(|n| !n.starts_with("security."))
                .collect();
            v.sort();
            v
        })),
    }
}

/// The state of what `op` changed, read back after it.
fn after(op: &Op, root: &Path, fds: &mut Fds) -> String {
    let stat = |path: &str| show(lstat(&root.join(path)));
    match op {
        Op::Write { slot, .. }
        | Op::Pwrite { slot, .. }
        | Op::Ftruncate { slot, .. }
        | Op::Fallocate { slot, .. }
        | Op::Fchmod { slot, .. }
        | Op::MmapWrite { slot, .. }
        | Op::CopyRange { to: slot, .. } => with(fds, *slot, |f| Ok(describe(&f.metadata()?))),
        Op::Truncate { path, .. }
        | Op::Unlink { path }
        | Op::Rmdir { path }
        | Op::Mkdir { path, .. }
        | Op::Mknod { path, .. }
        | Op::Symlink { path, .. }
        | Op::Chmod { path, .. }
        | Op::Chown { path, .. }
        | Op::Utimes { path, .. } => stat(path),
        Op::Rename { from, to, .. } | Op::Link { from, to } => {
            format!("{}; {}", stat(from), stat(to))
        }
        Op::SetXattr { path, name, .. } | Op::RemoveXattr { path, name } => {
            show(xattr::get(root.join(path), name).map(|v| v.map(|v| lossy(&v))))
        }
        _ => String::new(),
    }
}

/// Opens with O_NONBLOCK, so that opening a fifo does not wait for the
/// other end, and O_CLOEXEC, so that the mount helpers other tests start
/// meanwhile do not inherit it.
fn open(path: &Path, flags: OFlag, mode: u32) -> io::Result<File> {
    let fd = nix_io(nix::fcntl::open(
        path,
        flags | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    ))?;
    // SAFETY: `open` just returned this descriptor and nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn ebadf() -> io::Error {
    io::Error::from_raw_os_error(libc::EBADF)
}

/// Runs `f` on the descriptor in `slot`; an empty slot is EBADF.
fn with<T: std::fmt::Debug>(
    fds: &mut Fds,
    slot: usize,
    f: impl FnOnce(&mut File) -> io::Result<T>,
) -> String {
    show(fds.0[slot].as_mut().ok_or_else(ebadf).and_then(f))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The stat fields a union defines (not st_ino, st_dev or st_blocks; not
/// a directory's size or link count, which depend on the upper
/// filesystem); a time as "now" when the operations set it while running.
fn describe(m: &fs::Metadata) -> String {
    let mut s = format!("mode={:o} owner={}:{}", m.mode(), m.uid(), m.gid());
    if !m.is_dir() {
        s += &format!(" size={} nlink={}", m.size(), m.nlink());
    }
    if m.rdev() != 0 {
        s += &format!(" rdev={:x}", m.rdev());
    }
    if m.mtime() < RECENT {
        s += &format!(" mtime={}.{:09}", m.mtime(), m.mtime_nsec());
    } else {
        s += " mtime=now";
    }
    s
}

fn lstat(p: &Path) -> io::Result<String> {
    fs::symlink_metadata(p).map(|m| describe(&m))
}

/// A whole file's contents: the bytes when short, else length and hash.
fn read_file(p: &Path) -> io::Result<String> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(p)?;
    let mut v = Vec::new();
    f.take(READ_CAP).read_to_end(&mut v)?;
    if v.len() <= 64 {
        return Ok(lossy(&v));
    }
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    Ok(format!("{} bytes, hash {:016x}", v.len(), h.finish()))
}

/// The names a directory descriptor lists from its start, sorted; read
/// through the same open file, so a listing the union cached for it
/// before later changes shows.
fn getdents(f: &mut File) -> io::Result<Vec<String>> {
    f.seek(SeekFrom::Start(0))?;
    let mut dir = nix_io(nix::dir::Dir::from(f.try_clone()?))?;
    let mut names = Vec::new();
    for e in dir.iter() {
        let name = nix_io(e)?.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Reads through a shared mapping of the descriptor. The mapping is
/// touched only by process_vm_readv, which reports a page past the end of
/// the file as EFAULT where a load would raise SIGBUS and end the test
/// without unmounting anything.
fn mmap_read(f: &File, off: u64, len: usize) -> io::Result<String> {
    let map = MmapOptions::new()
        .len(off as usize + len)
        .map_raw_read_only(f)?;
    let mut b = vec![0; len];
    let n = nix_io(nix::sys::uio::process_vm_readv(
        Pid::this(),
        &mut [IoSliceMut::new(&mut b)],
        &[RemoteIoVec {
            base: map.as_ptr() as usize + off as usize,
            len,
        }],
    ))?;
    Ok(lossy(&b[..n]))
}

/// Whether `k` and `s`, what `op` saw on kernel overlayfs and on strata-fs,
/// differ only where FUSE cannot follow the kernel (README, design notes:
/// what an old descriptor sees): a descriptor opened on a lower file
/// before it was copied up reads and `fstat`s the copy on both, but a
/// mapping made through it maps the lower file on the kernel (its old data
/// and size; a truncated copy's end does not apply), where FUSE maps the
/// mount's one inode, the copy. So strata-fs's mapping must show what its
/// descriptor reads, and the kernel's must not.
pub fn maps_the_file_opened(op: &Op, k: &Seen, s: &Seen, k_fds: &mut Fds, s_fds: &mut Fds) -> bool {
    let Op::MmapRead { slot, off, len } = *op else {
        return false;
    };
    let as_read = |fds: &mut Fds| with(fds, slot, |f| mapped_as_read(f, off, len));
    k.result != as_read(k_fds) && s.result == as_read(s_fds)
}

/// What a mapping of the file `f` reads shows at `off..off + len`, read
/// through `f`: its bytes, zeros from its end to the end of its last
/// page, and EFAULT from the next page on (see `mmap_read`).
fn mapped_as_read(f: &File, off: u64, len: usize) -> io::Result<String> {
    let page = nix_io(nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE))?
        .map_or(4096, |p| p as u64);
    let end = f.metadata()?.len().next_multiple_of(page);
    if off >= end {
        return Err(io::Error::from_raw_os_error(libc::EFAULT));
    }
    let mut b = vec![0; len.min((end - off) as usize)];
    f.read_at(&mut b, off)?;
    Ok(lossy(&b))
}

/// Writes through a shared writable mapping and syncs it; as `mmap_read`,
/// past the end of the file is EFAULT rather than SIGBUS.
fn mmap_write(f: &File, off: u64, data: &[u8]) -> io::Result<usize> {
    let map = MmapOptions::new()
        .len(off as usize + data.len())
        .map_raw(f)?;
    let n = nix_io(nix::sys::uio::process_vm_writev(
        Pid::this(),
        &[IoSlice::new(data)],
        &[RemoteIoVec {
            base: map.as_ptr() as usize + off as usize,
            len: data.len(),
        }],
    ))?;
    map.flush()?;
    Ok(n)
}
