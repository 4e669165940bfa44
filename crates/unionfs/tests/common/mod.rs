//! Shared pieces of the filesystem tests: layer fixtures, real mounts of
//! kernel overlayfs and strata-fs that unmount themselves, and a tree
//! snapshot that two mounts can be compared by.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every fixture entry gets this mtime, so copies of a tree compare equal
/// and a changed mtime is visible.
pub const FIXED_TIME: i64 = 1_600_000_000;

pub fn strata_fs() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_strata-fs"))
}

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests mount kernel overlayfs and need root (CI runs as root)"
    );
}

/// Debian's udev rule makes /dev/fuse 0666 so users (and user namespaces,
/// where setuid fusermount3 does not help) can mount; some minimal hosts
/// leave it 0600. Put it back the way Debian ships it.
pub fn fuse_device_open_to_users() {
    let mode = fs::metadata("/dev/fuse")
        .expect("/dev/fuse exists")
        .permissions()
        .mode();
    if mode & 0o666 != 0o666 {
        fs::set_permissions("/dev/fuse", fs::Permissions::from_mode(mode | 0o666)).unwrap();
    }
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command as uid/gid 65534 with no groups; returns its stdout.
pub fn run_as_nobody(args: &[&str]) -> String {
    run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(args))
}

pub fn is_mounted(p: &Path) -> bool {
    let canon = fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = canon.to_string_lossy().replace(' ', "\\040");
    info.lines()
        .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

/// A mounted union that is unmounted when dropped.
pub struct Mount {
    pub path: PathBuf,
    pub kind: &'static str,
}

impl Mount {
    pub fn kernel(lowers: &[&Path], upper: Option<(&Path, &Path)>, mnt: &Path) -> Mount {
        Mount::kernel_xino(lowers, upper, mnt, "off")
    }

    /// Kernel overlayfs with `xino=` set to `xino` (`on` lays out inode
    /// numbers of layers on several filesystems as strata-fs always does).
    pub fn kernel_xino(
        lowers: &[&Path],
        upper: Option<(&Path, &Path)>,
        mnt: &Path,
        xino: &str,
    ) -> Mount {
        let mut opts = format!("lowerdir={}", join_paths(lowers));
        if let Some((u, w)) = upper {
            opts.push_str(&format!(
                ",upperdir={},workdir={}",
                u.display(),
                w.display()
            ));
        }
        opts.push_str(&format!(
            ",redirect_dir=off,index=off,metacopy=off,xino={xino}"
        ));
        run(Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(mnt));
        Mount {
            path: mnt.to_path_buf(),
            kind: "kernel",
        }
    }

    pub fn strata(
        lowers: &[&Path],
        upper: Option<(&Path, &Path)>,
        mnt: &Path,
        extra: &str,
    ) -> Mount {
        let mut opts = format!("lowerdir={}", join_paths(lowers));
        if let Some((u, w)) = upper {
            opts.push_str(&format!(
                ",upperdir={},workdir={}",
                u.display(),
                w.display()
            ));
        }
        if !extra.is_empty() {
            opts.push(',');
            opts.push_str(extra);
        }
        run(Command::new(strata_fs()).args(["-o", &opts]).arg(mnt));
        assert!(
            is_mounted(mnt),
            "strata-fs returned before {} was mounted",
            mnt.display()
        );
        Mount {
            path: mnt.to_path_buf(),
            kind: "strata",
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        unmount(&self.path);
    }
}

pub fn unmount(p: &Path) {
    if !is_mounted(p) {
        return;
    }
    let ok = Command::new("umount")
        .arg(p)
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        let _ = Command::new("umount").arg("-l").arg(p).status();
    }
    let t = Instant::now();
    while is_mounted(p) && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn join_paths(ps: &[&Path]) -> String {
    ps.iter()
        .map(|p| p.to_string_lossy().replace(':', "\\:"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Sets every entry's times to FIXED_TIME, children before parents.
pub fn fix_times(root: &Path) {
    run(Command::new("find").arg(root).args([
        "-depth",
        "-exec",
        "touch",
        "-h",
        "-d",
        &format!("@{FIXED_TIME}"),
        "{}",
        "+",
    ]));
}

pub fn set_xattr(p: &Path, name: &str, value: &[u8]) {
    xattr::set(p, name, value)
        .unwrap_or_else(|e| panic!("setxattr {name} on {}: {e}", p.display()));
}

pub fn mknod(p: &Path, kind: libc::mode_t, mode: u32, dev: u64) {
    nix::sys::stat::mknod(
        p,
        nix::sys::stat::SFlag::from_bits_truncate(kind),
        nix::sys::stat::Mode::from_bits_truncate(mode),
        dev,
    )
    .unwrap_or_else(|e| panic!("mknod {}: {e}", p.display()));
}

pub fn write(p: &Path, data: &[u8]) {
    if let Some(d) = p.parent() {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(p, data).unwrap();
}

/// Three lower layers (topmost first) exercising every kind of entry and
/// every whiteout/opaque form the kernel reads.
pub fn build_layers(base: &Path) -> Vec<PathBuf> {
    let top = base.join("l1");
    let mid = base.join("l2");
    let bot = base.join("l3");
    for d in [&top, &mid, &bot] {
        fs::create_dir_all(d).unwrap();
    }
    // bottom layer
    write(&bot.join("plain"), b"hello lower\n");
    write(&bot.join("mapped"), b"mapped lower file\n");
    let sparse = fs::File::create(bot.join("sparse")).unwrap();
    sparse.set_len(8 << 20).unwrap();
    nix::sys::uio::pwrite(&sparse, b"tail", (8 << 20) - 4).unwrap();
    nix::sys::uio::pwrite(&sparse, b"head", 0).unwrap();
    drop(sparse);
    write(&bot.join("setuid"), b"#!/bin/sh\n");
    fs::set_permissions(bot.join("setuid"), fs::Permissions::from_mode(0o4755)).unwrap();
    write(&bot.join("setgid"), b"x");
    fs::set_permissions(bot.join("setgid"), fs::Permissions::from_mode(0o2750)).unwrap();
    write(&bot.join("owned"), b"owned by 1000");
    std::os::unix::fs::lchown(bot.join("owned"), Some(1000), Some(1001)).unwrap();
    symlink("plain", bot.join("link")).unwrap();
    symlink("dangling-target", bot.join("dangling")).unwrap();
    std::os::unix::fs::lchown(bot.join("link"), Some(7), Some(8)).unwrap();
    write(&bot.join("hard1"), b"hard linked");
    fs::hard_link(bot.join("hard1"), bot.join("hard2")).unwrap();
    mknod(&bot.join("fifo"), libc::S_IFIFO, 0o640, 0);
    mknod(
        &bot.join("chardev"),
        libc::S_IFCHR,
        0o600,
        libc::makedev(1, 3),
    );
    set_xattr(&bot.join("plain"), "user.color", b"blue");
    set_xattr(&bot.join("plain"), "trusted.secret", b"s3");
    write(&bot.join("dir1/x"), b"x");
    write(&bot.join("dir1/y"), b"y");
    write(&bot.join("merged/a"), b"a");
    write(&bot.join("opq/old"), b"hidden by opaque");
    write(&bot.join("gone"), b"whited out above");
    write(&bot.join("gonedir/z"), b"z");
    write(&bot.join("rmtree/sub/f"), b"f");
    write(&bot.join("empty-after/only"), b"1");
    fs::create_dir_all(bot.join("emptydir")).unwrap();
    fs::set_permissions(bot.join("dir1"), fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::lchown(bot.join("dir1"), Some(3), Some(4)).unwrap();
    set_xattr(&bot.join("dir1"), "user.dir", b"d");
    write(&bot.join("big"), &vec![7u8; 3 << 20]);
    // middle layer
    write(&mid.join("merged/b"), b"b");
    write(&mid.join("opq/new"), b"visible");
    set_xattr(&mid.join("opq"), "trusted.overlay.opaque", b"y");
    mknod(&mid.join("gone"), libc::S_IFCHR, 0, 0);
    mknod(&mid.join("gonedir"), libc::S_IFCHR, 0, 0);
    write(&mid.join("dir1/w"), b"w");
    write(&mid.join("plain2"), b"second");
    write(&mid.join("typeswap"), b"file in the middle");
    // top layer
    write(&top.join("merged/c"), b"c");
    write(&top.join("top"), b"top layer");
    fs::create_dir_all(top.join("typeswap")).unwrap();
    write(&top.join("typeswap/inner"), b"dir on top");
    for d in [&top, &mid, &bot] {
        fix_times(d);
    }
    vec![top, mid, bot]
}

/// One entry of a tree snapshot; what two equal unions must agree on.
#[derive(Debug, PartialEq, Eq, Clone, Default)]
pub struct Entry {
    pub kind: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub nlink: u64,
    pub rdev: u64,
    pub target: String,
    pub content: u64,
    pub xattrs: Vec<(String, Vec<u8>)>,
    pub mtime_fixed: bool,
}

fn kind(m: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_dir() {
        "dir"
    } else if t.is_symlink() {
        "symlink"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() {
        "chardev"
    } else if t.is_block_device() {
        "blockdev"
    } else {
        "file"
    }
}

/// The whole tree under `root`, keyed by relative path.
pub fn snapshot(root: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("readdir {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for name in names {
        let p = dir.join(&name);
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let m = match fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) => {
                // Listed but not there: record it so the diff shows it.
                out.insert(
                    rel,
                    Entry {
                        kind: format!("listed but {e}"),
                        ..Entry::default()
                    },
                );
                continue;
            }
        };
        let k = kind(&m);
        let content = if k == "file" {
            let mut h = DefaultHasher::new();
            fs::read(&p).map_err(|e| e.to_string()).hash(&mut h);
            h.finish()
        } else {
            0
        };
        let mut xattrs: Vec<(String, Vec<u8>)> = xattr::list(&p)
            .map(|l| {
                l.filter(|n| !n.to_string_lossy().starts_with("security."))
                    .map(|n| {
                        let v = xattr::get(&p, &n).ok().flatten().unwrap_or_default();
                        (n.to_string_lossy().into_owned(), v)
                    })
                    .collect()
            })
            .unwrap_or_default();
        xattrs.sort();
        out.insert(
            rel,
            Entry {
                kind: k.into(),
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
                size: if k == "dir" { 0 } else { m.size() },
                nlink: if k == "dir" { 0 } else { m.nlink() },
                rdev: m.rdev(),
                target: fs::read_link(&p)
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                content,
                xattrs,
                mtime_fixed: m.mtime() == FIXED_TIME,
            },
        );
        // Trees deeper than PATH_MAX are checked by their own step, not here.
        if k == "dir" && p.as_os_str().len() < 2048 {
            walk(root, &p, out);
        }
    }
}

/// Panics with a readable list of differences.
pub fn assert_same_tree(what: &str, a: &BTreeMap<String, Entry>, b: &BTreeMap<String, Entry>) {
    let diffs = tree_diffs(a, b);
    assert!(
        diffs.is_empty(),
        "{what}: trees differ:\n{}",
        diffs.join("\n")
    );
}

/// A readable entry per path where two snapshots differ, in path order.
pub fn tree_diffs(a: &BTreeMap<String, Entry>, b: &BTreeMap<String, Entry>) -> Vec<String> {
    let mut diffs = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => diffs.push(format!("only in first: {k}")),
            Some(w) if w != v => diffs.push(format!("{k}:\n   first  {v:?}\n   second {w:?}")),
            _ => {}
        }
    }
    for k in b.keys() {
        if !a.contains_key(k) {
            diffs.push(format!("only in second: {k}"));
        }
    }
    diffs
}

pub fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// An outcome as text two mounts can be compared by: the value, or the
/// errno's name (messages name paths, which differ between mounts).
pub fn show<T: std::fmt::Debug>(r: io::Result<T>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => match e.raw_os_error() {
            Some(n) => format!("err {:?}", nix::errno::Errno::from_raw(n)),
            None => format!("err {e}"),
        },
    }
}

pub fn nix_io<T>(r: nix::Result<T>) -> io::Result<T> {
    r.map_err(io::Error::from)
}

/// A directory's names, sorted.
pub fn ls(p: &Path) -> io::Result<Vec<String>> {
    let mut v: Vec<String> = fs::read_dir(p)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<io::Result<_>>()?;
    v.sort();
    Ok(v)
}
