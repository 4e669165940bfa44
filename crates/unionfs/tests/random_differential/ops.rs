//! The operations a random sequence is made of, drawn from a seed over a
//! small name space so that they collide: the same few paths are created,
//! renamed, linked, unlinked and reopened while descriptors opened on them
//! earlier stay open and keep being used.

use std::fmt;
use std::io::SeekFrom;

use fastrand::Rng;
use nix::fcntl::{OFlag, RenameFlags};

/// Descriptor slots: an operation names a slot, and the descriptor in it
/// stays open across the operations that follow until reopened or closed.
pub const SLOTS: usize = 4;

/// What the operations name: the fixture's entries of every kind (see
/// `common::build_layers`: merged, opaque and type-swapped directories,
/// entries whited out or hidden below an opaque directory, lower hard
/// links, a fifo and a device, a sparse and a big file), the mount's root
/// and fresh names, some inside directories that do not exist yet.
const PATHS: &[&str] = &[
    "",
    "plain",
    "plain2",
    "mapped",
    "sparse",
    "big",
    "setuid",
    "setgid",
    "owned",
    "top",
    "link",
    "dangling",
    "dangling-target",
    "hard1",
    "hard2",
    "fifo",
    "chardev",
    "gone",
    "gonedir",
    "gonedir/z",
    "dir1",
    "dir1/x",
    "dir1/y",
    "dir1/w",
    "dir1/n1",
    "merged",
    "merged/a",
    "merged/b",
    "merged/c",
    "merged/n1",
    "opq",
    "opq/new",
    "opq/old",
    "typeswap",
    "typeswap/inner",
    "emptydir",
    "emptydir/n1",
    "rmtree",
    "rmtree/sub",
    "rmtree/sub/f",
    "empty-after",
    "empty-after/only",
    "n1",
    "n2",
    "n1/n1",
    "d1",
    "d1/n1",
    "d1/sub",
    "d1/sub/n1",
];

/// Extended attribute names. Not the overlay's own namespaces: strata-fs
/// keeps `trusted.overlay.*` and `user.overlay.*` private (it honours both
/// forms of opaque directory in every layer, as fuse-overlayfs does),
/// where kernel overlayfs mounted by root (6.7 and later) stores
/// `trusted.overlay.*` escaped and treats `user.overlay.*` as ordinary.
const XATTRS: &[&str] = &["user.a", "user.b", "trusted.t"];

/// Special files mknod makes.
#[derive(Clone, Copy, Debug)]
pub enum Node {
    Fifo,
    Socket,
    /// A character device (major, minor); 0/0 is what a whiteout is made of.
    Char(u32, u32),
}

#[derive(Clone, Debug)]
pub enum Op {
    Open {
        slot: usize,
        path: &'static str,
        flags: OFlag,
        mode: u32,
    },
    Close {
        slot: usize,
    },
    Read {
        slot: usize,
        len: usize,
    },
    Pread {
        slot: usize,
        off: u64,
        len: usize,
    },
    Write {
        slot: usize,
        data: Vec<u8>,
    },
    Pwrite {
        slot: usize,
        off: u64,
        data: Vec<u8>,
    },
    Seek {
        slot: usize,
        pos: SeekFrom,
    },
    Ftruncate {
        slot: usize,
        len: u64,
    },
    Fallocate {
        slot: usize,
        off: u64,
        len: u64,
    },
    CopyRange {
        from: usize,
        to: usize,
        len: usize,
    },
    Fstat {
        slot: usize,
    },
    Fchmod {
        slot: usize,
        mode: u32,
    },
    Getdents {
        slot: usize,
    },
    MmapRead {
        slot: usize,
        off: u64,
        len: usize,
    },
    MmapWrite {
        slot: usize,
        off: u64,
        data: Vec<u8>,
    },
    Stat {
        path: &'static str,
    },
    ReadFile {
        path: &'static str,
    },
    ReadDir {
        path: &'static str,
    },
    ReadLink {
        path: &'static str,
    },
    Truncate {
        path: &'static str,
        len: u64,
    },
    Rename {
        from: &'static str,
        to: &'static str,
        flags: RenameFlags,
    },
    Link {
        from: &'static str,
        to: &'static str,
    },
    Unlink {
        path: &'static str,
    },
    Rmdir {
        path: &'static str,
    },
    Mkdir {
        path: &'static str,
        mode: u32,
    },
    Mknod {
        path: &'static str,
        node: Node,
    },
    Symlink {
        target: &'static str,
        path: &'static str,
    },
    Chmod {
        path: &'static str,
        mode: u32,
    },
    Chown {
        path: &'static str,
        uid: Option<u32>,
        gid: Option<u32>,
    },
    /// Sets the mtime (seconds, nanoseconds) without following a symlink;
    /// None sets it to now.
    Utimes {
        path: &'static str,
        mtime: Option<(i64, i64)>,
    },
    SetXattr {
        path: &'static str,
        name: &'static str,
        value: Vec<u8>,
    },
    GetXattr {
        path: &'static str,
        name: &'static str,
    },
    RemoveXattr {
        path: &'static str,
        name: &'static str,
    },
    ListXattr {
        path: &'static str,
    },
}

/// The sequence of `len` operations seed `seed` stands for.
pub fn generate(seed: u64, len: usize) -> Vec<Op> {
    let mut rng = Rng::with_seed(seed);
    (0..len).map(|_| one(&mut rng)).collect()
}

/// One operation; about half use a kept descriptor, and opens are frequent
/// so that descriptors of every kind and age are around.
fn one(rng: &mut Rng) -> Op {
    let slot = rng.usize(..SLOTS);
    let path = pick(rng, PATHS);
    match rng.u32(0..100) {
        0..=11 => Op::Open {
            slot,
            path,
            flags: open_flags(rng),
            mode: pick(rng, &[0o644, 0o600, 0o4777, 0o2755]),
        },
        12..=14 => Op::Close { slot },
        15..=17 => Op::Read {
            slot,
            len: rng.usize(1..=64),
        },
        18..=21 => Op::Pread {
            slot,
            off: offset(rng),
            len: rng.usize(1..=64),
        },
        22..=24 => Op::Write {
            slot,
            data: data(rng),
        },
        25..=27 => Op::Pwrite {
            slot,
            off: offset(rng),
            data: data(rng),
        },
        28 => Op::Seek {
            slot,
            pos: match rng.u8(0..3) {
                0 => SeekFrom::Start(offset(rng)),
                1 => SeekFrom::End(-rng.i64(0..8)),
                _ => SeekFrom::Current(rng.i64(-4..8)),
            },
        },
        29..=30 => Op::Ftruncate {
            slot,
            len: length(rng),
        },
        31 => Op::Fallocate {
            slot,
            off: offset(rng),
            len: rng.u64(1..8192),
        },
        32 => Op::CopyRange {
            from: slot,
            to: rng.usize(..SLOTS),
            len: rng.usize(1..64),
        },
        33..=35 => Op::Fstat { slot },
        36 => Op::Fchmod {
            slot,
            mode: mode(rng),
        },
        37..=38 => Op::Getdents { slot },
        39..=40 => Op::MmapRead {
            slot,
            off: offset(rng),
            len: rng.usize(1..=64),
        },
        41..=42 => Op::MmapWrite {
            slot,
            off: offset(rng),
            data: data(rng),
        },
        43..=47 => Op::Stat { path },
        48..=49 => Op::ReadFile { path },
        50..=52 => Op::ReadDir { path },
        53 => Op::ReadLink { path },
        54..=55 => Op::Truncate {
            path,
            len: length(rng),
        },
        56..=62 => Op::Rename {
            from: path,
            to: pick(rng, PATHS),
            flags: match rng.u8(0..40) {
                0..=27 => RenameFlags::empty(),
                28..=33 => RenameFlags::RENAME_NOREPLACE,
                34..=38 => RenameFlags::RENAME_EXCHANGE,
                _ => RenameFlags::RENAME_WHITEOUT,
            },
        },
        63..=65 => Op::Link {
            from: path,
            to: pick(rng, PATHS),
        },
        66..=69 => Op::Unlink { path },
        70..=72 => Op::Rmdir { path },
        73..=76 => Op::Mkdir {
            path,
            mode: pick(rng, &[0o755, 0o700, 0o2775]),
        },
        77..=78 => Op::Mknod {
            path,
            node: match rng.u8(0..5) {
                0 => Node::Fifo,
                1 => Node::Socket,
                2 => Node::Char(1, 3),
                3 => Node::Char(1, 5),
                _ => Node::Char(0, 0),
            },
        },
        79..=80 => Op::Symlink {
            target: if rng.u8(0..8) == 0 {
                "nowhere"
            } else {
                pick(rng, &PATHS[1..])
            },
            path,
        },
        81..=82 => Op::Chmod {
            path,
            mode: mode(rng),
        },
        83..=84 => Op::Chown {
            path,
            uid: id(rng),
            gid: id(rng),
        },
        85..=86 => Op::Utimes {
            path,
            mtime: (rng.u8(0..4) != 0).then(|| {
                (
                    1_000_000_000 + rng.i64(0..1000) * 1000,
                    pick(rng, &[0, 5, 999_999_999]),
                )
            }),
        },
        87..=90 => Op::SetXattr {
            path,
            name: pick(rng, XATTRS),
            value: if rng.bool() { b"y".to_vec() } else { data(rng) },
        },
        91..=93 => Op::GetXattr {
            path,
            name: pick(rng, XATTRS),
        },
        94..=96 => Op::RemoveXattr {
            path,
            name: pick(rng, XATTRS),
        },
        _ => Op::ListXattr { path },
    }
}

fn pick<T: Copy>(rng: &mut Rng, from: &[T]) -> T {
    from[rng.usize(..from.len())]
}

/// An access mode and the creation and status flags that change what an
/// open does in a union (copy-up, truncation, following the last link).
fn open_flags(rng: &mut Rng) -> OFlag {
    let mut f = pick(rng, &[OFlag::O_RDONLY, OFlag::O_RDWR, OFlag::O_WRONLY]);
    for (flag, one_in) in [
        (OFlag::O_CREAT, 3),
        (OFlag::O_EXCL, 8),
        (OFlag::O_TRUNC, 7),
        (OFlag::O_APPEND, 7),
        (OFlag::O_NOFOLLOW, 10),
        (OFlag::O_DIRECTORY, 10),
    ] {
        if rng.u8(0..one_in) == 0 {
            f |= flag;
        }
    }
    f
}

/// Mostly inside small files, sometimes a page or a megabyte in (holes),
/// sometimes at the end of the 8 MiB sparse file.
fn offset(rng: &mut Rng) -> u64 {
    match rng.u8(0..10) {
        0..=6 => rng.u64(0..64),
        7 => 4096 * rng.u64(1..4),
        8 => 1 << 20,
        _ => (8 << 20) - rng.u64(1..16),
    }
}

fn length(rng: &mut Rng) -> u64 {
    match rng.u8(0..6) {
        0 => 0,
        1..=3 => rng.u64(1..64),
        4 => 4097,
        _ => 1 << 20,
    }
}

fn data(rng: &mut Rng) -> Vec<u8> {
    (0..rng.usize(1..=24))
        .map(|_| rng.alphanumeric() as u8)
        .collect()
}

fn mode(rng: &mut Rng) -> u32 {
    pick(
        rng,
        &[0o644, 0o600, 0o755, 0o640, 0o4755, 0o2775, 0o1777, 0o000],
    )
}

fn id(rng: &mut Rng) -> Option<u32> {
    pick(rng, &[None, Some(0), Some(7), Some(1000), Some(65534)])
}

impl Op {
    /// The operation's name, without its arguments.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Open { .. } => "open",
            Op::Close { .. } => "close",
            Op::Read { .. } => "read",
            Op::Pread { .. } => "pread",
            Op::Write { .. } => "write",
            Op::Pwrite { .. } => "pwrite",
            Op::Seek { .. } => "lseek",
            Op::Ftruncate { .. } => "ftruncate",
            Op::Fallocate { .. } => "fallocate",
            Op::CopyRange { .. } => "copy_file_range",
            Op::Fstat { .. } => "fstat",
            Op::Fchmod { .. } => "fchmod",
            Op::Getdents { .. } => "getdents",
            Op::MmapRead { .. } => "mmap read",
            Op::MmapWrite { .. } => "mmap write",
            Op::Stat { .. } => "lstat",
            Op::ReadFile { .. } => "read file",
            Op::ReadDir { .. } => "readdir",
            Op::ReadLink { .. } => "readlink",
            Op::Truncate { .. } => "truncate",
            Op::Rename { .. } => "rename",
            Op::Link { .. } => "link",
            Op::Unlink { .. } => "unlink",
            Op::Rmdir { .. } => "rmdir",
            Op::Mkdir { .. } => "mkdir",
            Op::Mknod { .. } => "mknod",
            Op::Symlink { .. } => "symlink",
            Op::Chmod { .. } => "chmod",
            Op::Chown { .. } => "lchown",
            Op::Utimes { .. } => "utimensat",
            Op::SetXattr { .. } => "lsetxattr",
            Op::GetXattr { .. } => "lgetxattr",
            Op::RemoveXattr { .. } => "lremovexattr",
            Op::ListXattr { .. } => "llistxattr",
        }
    }
}

/// A path as the operation listing shows it: the root as `/`.
struct P(&'static str);

impl fmt::Display for P {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0)
    }
}

fn flag_names(flags: OFlag) -> String {
    let access = match flags & OFlag::O_ACCMODE {
        OFlag::O_WRONLY => "O_WRONLY",
        OFlag::O_RDWR => "O_RDWR",
        _ => "O_RDONLY",
    };
    let rest = (flags - OFlag::O_ACCMODE)
        .iter_names()
        .map(|(n, _)| format!("|{n}"));
    std::iter::once(access.to_string()).chain(rest).collect()
}

fn text(data: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(data))
}

/// One line per operation, close to the system call it makes.
impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = self.kind();
        match self {
            Op::Open {
                slot,
                path,
                flags,
                mode,
            } => write!(
                f,
                "fd{slot} = open {} {} {mode:o}",
                P(path),
                flag_names(*flags)
            ),
            Op::Close { slot } | Op::Fstat { slot } | Op::Getdents { slot } => {
                write!(f, "{k} fd{slot}")
            }
            Op::Read { slot, len } => write!(f, "{k} fd{slot} len={len}"),
            Op::Pread { slot, off, len } | Op::MmapRead { slot, off, len } => {
                write!(f, "{k} fd{slot} off={off} len={len}")
            }
            Op::Write { slot, data } => write!(f, "{k} fd{slot} {}", text(data)),
            Op::Pwrite { slot, off, data } | Op::MmapWrite { slot, off, data } => {
                write!(f, "{k} fd{slot} off={off} {}", text(data))
            }
            Op::Seek { slot, pos } => write!(f, "{k} fd{slot} {pos:?}"),
            Op::Ftruncate { slot, len } => write!(f, "{k} fd{slot} {len}"),
            Op::Fallocate { slot, off, len } => write!(f, "{k} fd{slot} off={off} len={len}"),
            Op::CopyRange { from, to, len } => write!(f, "{k} fd{from} -> fd{to} len={len}"),
            Op::Fchmod { slot, mode } => write!(f, "{k} fd{slot} {mode:o}"),
            Op::Stat { path }
            | Op::ReadFile { path }
            | Op::ReadDir { path }
            | Op::ReadLink { path }
            | Op::Unlink { path }
            | Op::Rmdir { path }
            | Op::ListXattr { path } => write!(f, "{k} {}", P(path)),
            Op::Truncate { path, len } => write!(f, "{k} {} {len}", P(path)),
            Op::Rename { from, to, flags } => {
                write!(f, "{k} {} {}", P(from), P(to))?;
                for (n, _) in flags.iter_names() {
                    write!(f, " {n}")?;
                }
                Ok(())
            }
            Op::Link { from, to } => write!(f, "{k} {} {}", P(from), P(to)),
            Op::Mkdir { path, mode } | Op::Chmod { path, mode } => {
                write!(f, "{k} {} {mode:o}", P(path))
            }
            Op::Mknod { path, node } => write!(f, "{k} {} {node:?}", P(path)),
            Op::Symlink { target, path } => write!(f, "{k} {target:?} {}", P(path)),
            Op::Chown { path, uid, gid } => write!(f, "{k} {} {uid:?}:{gid:?}", P(path)),
            Op::Utimes { path, mtime } => match mtime {
                Some((s, ns)) => write!(f, "{k} {} mtime={s}.{ns:09}", P(path)),
                None => write!(f, "{k} {} mtime=now", P(path)),
            },
            Op::SetXattr { path, name, value } => {
                write!(f, "{k} {} {name} {}", P(path), text(value))
            }
            Op::GetXattr { path, name } | Op::RemoveXattr { path, name } => {
                write!(f, "{k} {} {name}", P(path))
            }
        }
    }
}
