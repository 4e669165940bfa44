//! Differential test: the same operations on a kernel overlayfs mount and a
//! strata-fs mount of identical layers must give the same results (values,
//! errnos, data) and leave the same trees; and a kernel overlayfs mount of
//! strata-fs's upper dir afterwards must show that tree too.

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirEntryExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use common::*;

/// Panics listing every step whose outcome differs between the kernel's
/// run and strata-fs's.
fn assert_same_steps(what: &str, kernel: &[(String, String)], strata: &[(String, String)]) {
    assert_eq!(kernel.len(), strata.len(), "{what}: different step counts");
    let diffs: Vec<String> = kernel
        .iter()
        .zip(strata)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| format!("step {i} {}:\n   kernel {}\n   strata {}", a.0, a.1, b.1))
        .collect();
    assert!(diffs.is_empty(), "{what} differ:\n{}", diffs.join("\n"));
}

/// Stat summary that two unions must agree on (no inode or device numbers).
fn st(p: &Path) -> io::Result<String> {
    let m = fs::symlink_metadata(p)?;
    Ok(format!(
        "mode={:o} uid={} gid={} size={} nlink={} mtime_fixed={}",
        m.mode(),
        m.uid(),
        m.gid(),
        if m.is_dir() { 0 } else { m.size() },
        if m.is_dir() { 0 } else { m.nlink() },
        m.mtime() == FIXED_TIME
    ))
}

fn rename2(m: &Path, a: &str, b: &str, flags: nix::fcntl::RenameFlags) -> io::Result<()> {
    nix_io(nix::fcntl::renameat2(
        None,
        &m.join(a),
        None,
        &m.join(b),
        flags,
    ))
}

/// The operation sequence; every step's outcome is recorded.
fn exercise(m: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut rec = |label: &str, v: String| out.push((label.to_string(), v));
    let p = |s: &str| m.join(s);

    rec("read lower", show(fs::read_to_string(p("plain"))));
    rec("readdir root", show(ls(m)));
    rec("readdir merged", show(ls(&p("merged"))));
    rec("readdir opaque lower", show(ls(&p("opq"))));
    rec("whited out file", show(st(&p("gone"))));
    rec("whited out dir", show(st(&p("gonedir"))));
    rec("type swap", show(ls(&p("typeswap"))));
    rec("stat setuid", show(st(&p("setuid"))));
    rec("readlink", show(fs::read_link(p("link"))));
    rec("lstat link", show(st(&p("link"))));
    rec(
        "stat dangling",
        show(fs::metadata(p("dangling")).map(|_| ())),
    );
    rec("xattr get", show(xattr::get(p("plain"), "user.color")));
    rec(
        "xattr trusted",
        show(xattr::get(p("plain"), "trusted.secret")),
    );
    let ino_before = fs::metadata(p("plain")).map(|m| m.ino()).ok();

    // copy-up by append keeps owner, mode, xattrs and the data.
    rec(
        "append lower",
        show(
            OpenOptions::new()
                .append(true)
                .open(p("plain"))
                .and_then(|mut f| f.write_all(b"more\n")),
        ),
    );
    rec("read after append", show(fs::read_to_string(p("plain"))));
    rec(
        "stat after append",
        show(st(&p("plain")).map(|s| s.replace("mtime_fixed=false", "changed"))),
    );
    rec(
        "xattr after copy-up",
        show(xattr::get(p("plain"), "user.color")),
    );
    rec(
        "ino kept across copy-up",
        show(fs::metadata(p("plain")).map(|m| Some(m.ino()) == ino_before)),
    );
    // metadata-only copy-ups keep times.
    rec(
        "chmod lower",
        show(fs::set_permissions(
            p("setgid"),
            fs::Permissions::from_mode(0o2755),
        )),
    );
    rec("stat after chmod", show(st(&p("setgid"))));
    rec(
        "chown lower",
        show(std::os::unix::fs::lchown(p("owned"), Some(2000), None)),
    );
    rec("stat after chown", show(st(&p("owned"))));
    rec(
        "lchown symlink",
        show(std::os::unix::fs::lchown(p("link"), Some(9), Some(10))),
    );
    rec("lstat symlink after chown", show(st(&p("link"))));
    rec(
        "chown setuid drops bit",
        show(std::os::unix::fs::lchown(p("setuid"), Some(5), Some(5))),
    );
    rec("stat setuid after chown", show(st(&p("setuid"))));
    rec(
        "utimensat omit atime",
        show(nix_io(nix::sys::stat::utimensat(
            None,
            &p("dir1/x"),
            &nix::sys::time::TimeSpec::UTIME_OMIT,
            &nix::sys::time::TimeSpec::new(1_234_567_890, 5),
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        ))),
    );
    rec(
        "mtime after utimensat",
        show(
            fs::metadata(p("dir1/x")).map(|m| (m.mtime(), m.mtime_nsec(), m.atime() == FIXED_TIME)),
        ),
    );
    rec("parent dir times kept by copy-up", show(st(&p("dir1"))));
    rec(
        "xattr dir after child copy-up",
        show(xattr::get(p("dir1"), "user.dir")),
    );
    // sparse copy-up keeps holes
    rec(
        "truncate lower",
        show(
            OpenOptions::new()
                .write(true)
                .open(p("plain2"))
                .and_then(|f| f.set_len(3)),
        ),
    );
    rec("read truncated", show(fs::read_to_string(p("plain2"))));
    rec(
        "open O_TRUNC lower",
        show(
            OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(p("top"))
                .map(drop),
        ),
    );
    rec(
        "stat truncated",
        show(st(&p("top")).map(|s| s.contains("size=0"))),
    );
    // unlink and rmdir
    rec("unlink lower", show(fs::remove_file(p("dir1/y"))));
    rec("stat unlinked", show(st(&p("dir1/y"))));
    rec("readdir after unlink", show(ls(&p("dir1"))));
    rec("unlink missing", show(fs::remove_file(p("dir1/nothere"))));
    rec("unlink dir", show(fs::remove_file(p("dir1"))));
    rec("rmdir file", show(fs::remove_dir(p("top"))));
    rec("rmdir non-empty merged", show(fs::remove_dir(p("merged"))));
    for f in ["a", "b", "c"] {
        rec(
            "unlink merged child",
            show(fs::remove_file(p("merged").join(f))),
        );
    }
    rec("readdir emptied merged", show(ls(&p("merged"))));
    rec("rmdir emptied merged", show(fs::remove_dir(p("merged"))));
    rec("mkdir over removed dir", show(fs::create_dir(p("merged"))));
    rec("readdir recreated (opaque)", show(ls(&p("merged"))));
    rec("rmdir lower empty", show(fs::remove_dir(p("emptydir"))));
    rec(
        "remove_dir_all lower tree",
        show(fs::remove_dir_all(p("rmtree"))),
    );
    rec("stat removed tree", show(st(&p("rmtree"))));
    rec("create over whiteout", show(fs::write(p("gone"), b"back")));
    rec("read recreated", show(fs::read_to_string(p("gone"))));
    rec("mkdir over whiteout", show(fs::create_dir(p("gonedir"))));
    rec("readdir dir over whiteout", show(ls(&p("gonedir"))));
    // create / mkdir errors
    rec("mkdir existing", show(fs::create_dir(p("dir1"))));
    rec(
        "create excl existing",
        show(
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p("plain"))
                .map(drop),
        ),
    );
    rec(
        "create 255 name",
        show(fs::write(p(&"n".repeat(255)), b"ok")),
    );
    rec(
        "create 256 name",
        show(fs::write(p(&"n".repeat(256)), b"no")),
    );
    rec("stat 256 name", show(st(&p(&"q".repeat(256)))));
    rec(
        "create mode",
        show(
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o640)
                .open(p("newfile"))
                .and_then(|mut f| f.write_all(b"abc")),
        ),
    );
    rec(
        "stat new",
        show(st(&p("newfile")).map(|s| s.replace("mtime_fixed=false", ""))),
    );
    // rename
    rec(
        "rename lower file",
        show(fs::rename(p("hard1"), p("renamed"))),
    );
    rec("stat old name", show(st(&p("hard1"))));
    rec("read renamed", show(fs::read_to_string(p("renamed"))));
    rec("stat other hard link", show(st(&p("hard2"))));
    rec(
        "rename lower dir",
        show(fs::rename(p("dir1"), p("dir1-moved"))),
    );
    rec(
        "rename merged dir",
        show(fs::rename(p("typeswap"), p("ts2"))),
    );
    rec("mkdir new", show(fs::create_dir(p("newdir"))));
    rec("write in new", show(fs::write(p("newdir/f"), b"f")));
    rec(
        "rename new dir",
        show(fs::rename(p("newdir"), p("newdir2"))),
    );
    rec("readdir renamed new dir", show(ls(&p("newdir2"))));
    rec(
        "rename file over file",
        show(fs::rename(p("plain2"), p("top"))),
    );
    rec("read replaced", show(fs::read_to_string(p("top"))));
    rec(
        "rename file over dir",
        show(fs::rename(p("top"), p("newdir2"))),
    );
    rec(
        "rename dir over file",
        show(fs::rename(p("newdir2"), p("top"))),
    );
    // The kernel refuses to move a directory with lower content (EXDEV)
    // before it looks at whether the replaced directory is empty.
    rec(
        "rename lower dir over non-empty upper dir",
        show(fs::rename(p("merged"), p("newdir2"))),
    );
    rec(
        "rename lower dir over non-empty lower dir",
        show(fs::rename(p("opq"), p("merged"))),
    );
    rec(
        "rename dir over non-empty",
        show(fs::rename(p("gonedir"), p("newdir2"))),
    );
    rec(
        "rename dir over empty dir",
        show(fs::rename(p("newdir2"), p("gonedir"))),
    );
    rec("readdir moved over", show(ls(&p("gonedir"))));
    rec(
        "rename noreplace",
        show(rename2(
            m,
            "renamed",
            "top",
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        )),
    );
    rec(
        "rename exchange upper files",
        show(rename2(
            m,
            "newfile",
            "gone",
            nix::fcntl::RenameFlags::RENAME_EXCHANGE,
        )),
    );
    rec(
        "read after exchange",
        show(fs::read_to_string(p("newfile"))),
    );
    rec("rename missing", show(fs::rename(p("nothere"), p("x"))));
    rec(
        "rename into missing dir",
        show(fs::rename(p("renamed"), p("nodir/x"))),
    );
    // links
    rec(
        "hard link lower",
        show(fs::hard_link(p("big"), p("big-link"))),
    );
    rec(
        "nlink after link",
        show(fs::metadata(p("big")).map(|m| m.nlink())),
    );
    rec("link existing", show(fs::hard_link(p("big"), p("renamed"))));
    rec("link dir", show(fs::hard_link(p("opq"), p("opq-link"))));
    rec(
        "symlink new",
        show(std::os::unix::fs::symlink("target/x", p("newlink"))),
    );
    rec("readlink new", show(fs::read_link(p("newlink"))));
    rec(
        "readlink lower dangling",
        show(fs::read_link(p("dangling"))),
    );
    // special files
    rec(
        "mkfifo",
        show(nix_io(nix::unistd::mkfifo(
            &p("newfifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        ))),
    );
    rec(
        "mknod char",
        show(nix_io(nix::sys::stat::mknod(
            &p("newchr"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o644),
            libc::makedev(1, 5),
        ))),
    );
    rec(
        "stat mknod",
        show(fs::symlink_metadata(p("newchr")).map(|m| m.rdev())),
    );
    rec(
        "unix socket",
        show(std::os::unix::net::UnixListener::bind(p("sock")).map(drop)),
    );
    rec(
        "chmod fifo copy-up",
        show(fs::set_permissions(
            p("fifo"),
            fs::Permissions::from_mode(0o600),
        )),
    );
    rec("stat fifo", show(st(&p("fifo"))));
    rec(
        "chmod chardev copy-up",
        show(fs::set_permissions(
            p("chardev"),
            fs::Permissions::from_mode(0o666),
        )),
    );
    // xattrs
    rec(
        "setxattr lower",
        show(xattr::set(p("top"), "user.new", b"v")),
    );
    rec(
        "listxattr",
        show(xattr::list(p("plain")).map(|l| {
            let mut v: Vec<String> = l.map(|n| n.to_string_lossy().into_owned()).collect();
            v.sort();
            v
        })),
    );
    rec("removexattr", show(xattr::remove(p("plain"), "user.color")));
    rec(
        "removexattr missing",
        show(xattr::remove(p("plain"), "user.none")),
    );
    rec(
        "getxattr missing",
        show(xattr::get(p("plain"), "user.none")),
    );
    rec(
        "xattr on lower dir",
        show(xattr::set(p("opq"), "user.d", b"1")),
    );
    rec(
        "overlay xattr hidden",
        show(xattr::get(p("opq"), "trusted.overlay.opaque")),
    );
    // open files
    rec(
        "unlinked open file",
        show((|| {
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(p("tmpf"))?;
            f.write_all(b"still here")?;
            fs::remove_file(p("tmpf"))?;
            let n = f.metadata()?.nlink();
            f.seek(SeekFrom::Start(0))?;
            let mut s = String::new();
            f.read_to_string(&mut s)?;
            Ok((n, s))
        })()),
    );
    rec(
        "unlinked open lower file",
        show((|| {
            let f = File::open(p("setuid"))?;
            fs::remove_file(p("setuid"))?;
            Ok(f.metadata()?.nlink())
        })()),
    );
    rec(
        "fallocate",
        show(
            OpenOptions::new()
                .write(true)
                .open(p("gone"))
                .and_then(|f| {
                    nix_io(nix::fcntl::fallocate(
                        f.as_raw_fd(),
                        nix::fcntl::FallocateFlags::empty(),
                        0,
                        1 << 16,
                    ))?;
                    Ok(f.metadata()?.len())
                }),
        ),
    );
    // Shared writable mappings of a lower file copy it up at open and
    // write through to the upper copy; read-only ones read the lower data.
    rec(
        "mmap write lower",
        show((|| {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(p("mapped"))?;
            // SAFETY: the mapping is private to this test and dropped before
            // anything else touches the file.
            let mut m = unsafe { memmap2::MmapMut::map_mut(&f)? };
            m[..6].copy_from_slice(b"MAPPED");
            m.flush()?;
            drop(m);
            fs::read_to_string(p("mapped"))
        })()),
    );
    rec(
        "mmap read lower",
        show((|| {
            let f = File::open(p("hard2"))?;
            // SAFETY: as above; nothing writes the file while it is mapped.
            let m = unsafe { memmap2::Mmap::map(&f)? };
            Ok(String::from_utf8_lossy(&m).into_owned())
        })()),
    );
    rec(
        "copy_file_range",
        show((|| {
            let src = File::open(p("big"))?;
            let dst = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p("bigcopy"))?;
            let n = nix_io(nix::fcntl::copy_file_range(&src, None, &dst, None, 1 << 20))?;
            Ok(n)
        })()),
    );
    rec(
        "flock",
        show(File::open(p("opq/new")).and_then(|f| {
            nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock)
                .map(drop)
                .map_err(|(_, e)| io::Error::from(e))
        })),
    );
    rec(
        "fsync",
        show(
            OpenOptions::new()
                .write(true)
                .open(p("gone"))
                .and_then(|f| f.sync_all()),
        ),
    );
    rec(
        "statfs namelen",
        show(nix_io(nix::sys::statfs::statfs(m)).map(|s| s.maximum_name_length())),
    );
    rec(
        "write then read big",
        show((|| {
            let data: Vec<u8> = (0..(3u32 << 20)).map(|i| (i % 251) as u8).collect();
            fs::write(p("written"), &data)?;
            Ok(fs::read(p("written"))? == data)
        })()),
    );
    // deep paths: deeper than PATH_MAX, walked with *at calls.
    rec("deep path", show(deep(m)));
    rec("final root listing", show(ls(m)));
    out
}

/// Builds a directory chain longer than PATH_MAX below `m` with *at calls
/// and a file at the bottom; returns what it could observe there.
fn deep(m: &Path) -> io::Result<(usize, String)> {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::{mkdirat, Mode};
    let comp = "d".repeat(100);
    let mut fd = nix_io(nix::fcntl::open(
        m,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY,
        Mode::empty(),
    ))?;
    let mut depth = 0;
    for _ in 0..50 {
        nix_io(mkdirat(
            Some(fd),
            comp.as_str(),
            Mode::from_bits_truncate(0o755),
        ))?;
        let next = nix_io(openat(
            Some(fd),
            comp.as_str(),
            OFlag::O_DIRECTORY | OFlag::O_RDONLY,
            Mode::empty(),
        ))?;
        nix_io(nix::unistd::close(fd))?;
        fd = next;
        depth += 1;
    }
    let f = nix_io(openat(
        Some(fd),
        "leaf",
        OFlag::O_CREAT | OFlag::O_WRONLY,
        Mode::from_bits_truncate(0o644),
    ))?;
    nix_io(nix::unistd::write(unsafe_fd(f), b"deep"))?;
    nix_io(nix::unistd::close(f))?;
    let st = nix_io(nix::sys::stat::fstatat(
        Some(fd),
        "leaf",
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    ))?;
    nix_io(nix::unistd::close(fd))?;
    Ok((depth * 101, format!("size={}", st.st_size)))
}

fn unsafe_fd(fd: std::os::fd::RawFd) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: the caller keeps `fd` open for as long as the borrow is used.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

struct Side {
    lowers: Vec<std::path::PathBuf>,
    upper: std::path::PathBuf,
    work: std::path::PathBuf,
    mnt: std::path::PathBuf,
}

fn side(base: &Path) -> Side {
    let lowers = build_layers(&base.join("layers"));
    let s = Side {
        lowers,
        upper: base.join("upper"),
        work: base.join("work"),
        mnt: base.join("mnt"),
    };
    for d in [&s.upper, &s.work, &s.mnt] {
        fs::create_dir_all(d).unwrap();
    }
    s
}

fn lower_refs(s: &Side) -> Vec<&Path> {
    s.lowers.iter().map(|p| p.as_path()).collect()
}

/// st_ino: the same from readdir and stat, unchanged after the kernel
/// forgets every inode, and never shared by two different files (the two
/// names of the fixture's lower hard link are one file).
#[test]
fn inode_numbers_are_stable_and_unique() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let s = side(&tmp.path().join("s"));
    let _m = Mount::strata(&lower_refs(&s), Some((&s.upper, &s.work)), &s.mnt, "");
    // Some upper content, a copied-up file and a replaced one.
    fs::write(s.mnt.join("fresh"), b"new").unwrap();
    fs::write(s.mnt.join("plain2"), b"replaced").unwrap();
    fs::set_permissions(s.mnt.join("top"), fs::Permissions::from_mode(0o600)).unwrap();
    let walk = || {
        let mut out = std::collections::BTreeMap::new();
        let mut stack = vec![s.mnt.clone()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let m = fs::symlink_metadata(e.path()).unwrap();
                assert_eq!(
                    e.ino(),
                    m.ino(),
                    "readdir and stat disagree on {:?}",
                    e.path()
                );
                if m.is_dir() && e.path().as_os_str().len() < 1024 {
                    stack.push(e.path());
                }
                out.insert(e.path(), m.ino());
            }
        }
        out
    };
    let before = walk();
    fs::write("/proc/sys/vm/drop_caches", "2").unwrap();
    let after = walk();
    assert_eq!(
        before, after,
        "inode numbers changed after the kernel forgot them"
    );
    let mut seen = std::collections::HashMap::new();
    for (p, ino) in &before {
        if let Some(other) = seen.insert(*ino, p.clone()) {
            let names = [other.file_name(), p.file_name()];
            assert!(
                names == [Some(os("hard1")), Some(os("hard2"))],
                "{} and {} share st_ino {ino}",
                other.display(),
                p.display()
            );
        }
    }
}

#[test]
fn strata_matches_kernel_overlayfs() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let k = side(&tmp.path().join("kernel"));
    let s = side(&tmp.path().join("strata"));

    let (kres, ktree) = {
        let _m = Mount::kernel(&lower_refs(&k), Some((&k.upper, &k.work)), &k.mnt);
        (exercise(&k.mnt), snapshot(&k.mnt))
    };
    let (sres, stree) = {
        let _m = Mount::strata(&lower_refs(&s), Some((&s.upper, &s.work)), &s.mnt, "");
        (exercise(&s.mnt), snapshot(&s.mnt))
    };
    assert_same_steps("operation results", &kres, &sres);
    assert_same_tree("after the operations", &ktree, &stree);

    // The upper dir strata wrote is valid overlayfs: the kernel reads it the same.
    let kern_on_strata = {
        let w2 = tmp.path().join("work2");
        fs::create_dir_all(&w2).unwrap();
        let _m = Mount::kernel(&lower_refs(&s), Some((&s.upper, &w2)), &s.mnt);
        snapshot(&s.mnt)
    };
    assert_same_tree(
        "kernel overlayfs on strata's upper",
        &ktree,
        &kern_on_strata,
    );

    // And strata reads the kernel's upper the same.
    let strata_on_kernel = {
        let w3 = tmp.path().join("work3");
        fs::create_dir_all(&w3).unwrap();
        let _m = Mount::strata(&lower_refs(&k), Some((&k.upper, &w3)), &k.mnt, "");
        snapshot(&k.mnt)
    };
    assert_same_tree("strata on the kernel's upper", &ktree, &strata_on_kernel);
}

/// Runs `sh -c script` as uid/gid 65534, or as root; "ok" or the error text.
fn sh_as(nobody: bool, script: &str) -> String {
    let mut c = if nobody {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "sh"]);
        c
    } else {
        std::process::Command::new("sh")
    };
    let o = c.args(["-c", script]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    // Messages name the mount point; keep only the reason.
    let why = err.rsplit(": ").next().unwrap_or("").trim().to_string();
    format!(
        "{} {}{}",
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).trim(),
        why
    )
}

/// What other users may do: POSIX ACLs (what they grant and deny, default
/// ACLs instead of the umask on creation, ACLs carried through copy-up,
/// set and changed through the mount), and the setuid/setgid bits a
/// truncating open clears.
fn exercise_acls(m: &Path) -> Vec<(String, String)> {
    let p = |n: &str| m.join(n).display().to_string();
    let acl = |n: &str| sh_as(false, &format!("getfacl -cp {} | sort", p(n)));
    let steps: Vec<(&str, String)> = vec![
        (
            "acl grants nobody",
            sh_as(true, &format!("cat {}", p("granted"))),
        ),
        (
            "no acl denies nobody",
            sh_as(true, &format!("cat {}", p("private"))),
        ),
        (
            "create under default acl",
            sh_as(
                false,
                &format!(
                    "umask 022 && touch {f} && mkdir {d} && stat -c %A {f} {d}",
                    f = p("inherit/new"),
                    d = p("inherit/sub")
                ),
            ),
        ),
        ("inherited acl", acl("inherit/new")),
        ("inherited default acl", acl("inherit/sub")),
        (
            "umask without default acl",
            sh_as(
                false,
                &format!("umask 027 && touch {f} && stat -c %A {f}", f = p("masked")),
            ),
        ),
        (
            "copy-up keeps acl",
            sh_as(false, &format!("echo more >> {}", p("granted"))),
        ),
        ("acl after copy-up", acl("granted")),
        (
            "acl still grants",
            sh_as(true, &format!("cat {}", p("granted"))),
        ),
        (
            "setfacl through the mount",
            sh_as(false, &format!("setfacl -m u:65534:r {}", p("private"))),
        ),
        (
            "set acl grants",
            sh_as(true, &format!("cat {}", p("private"))),
        ),
        (
            "chmod moves the mask",
            sh_as(
                false,
                &format!("chmod 600 {f} && stat -c %A {f}", f = p("private")),
            ),
        ),
        ("acl after chmod", acl("private")),
        (
            "masked acl denies",
            sh_as(true, &format!("cat {}", p("private"))),
        ),
        // Truncation by a process without CAP_FSETID clears setuid, and
        // setgid on group-executable files; root's keeps them.
        (
            "nobody truncates setuid lower",
            sh_as(true, &format!(": > {f} && stat -c %A {f}", f = p("suid"))),
        ),
        (
            "root truncates setuid lower",
            sh_as(
                false,
                &format!(": > {f} && stat -c %A {f}", f = p("suid_root")),
            ),
        ),
        (
            "copy-up keeps setuid",
            sh_as(
                false,
                &format!("echo x >> {f} && stat -c %A {f}", f = p("suid_up")),
            ),
        ),
        (
            "nobody truncates setuid upper",
            sh_as(
                true,
                &format!(": > {f} && stat -c %A {f}", f = p("suid_up")),
            ),
        ),
        // The kernel must see the cleared bit at once: a program written
        // into a setuid file by nobody runs as nobody.
        (
            "nobody rewrites a setuid program",
            sh_as(
                true,
                &format!("cat /usr/bin/id > {f} && {f} -u", f = p("suid_exec")),
            ),
        ),
        // A user namespace's root holds CAP_FSETID only over files whose
        // owner and group that namespace maps.
        (
            "userns root truncates a host setuid file",
            sh_as(
                true,
                &format!("unshare -Ur sh -c ': > {f}' && stat -c %A {f}", f = p("suid_userns")),
            ),
        ),
        // Asked-for setuid comes back after the ownership change, the
        // default ACL's narrowing stays.
        (
            "setuid create under a default acl",
            sh_as(
                true,
                &format!(
                    "perl -MFcntl -e 'sysopen(F, $ARGV[0], O_CREAT|O_WRONLY, 04777) or die $!' {f} && stat -c %A {f}",
                    f = p("narrow/f")
                ),
            ),
        ),
        // Setting an ACL on a setgid file in a group its owner is not in
        // clears setgid.
        (
            "owner outside the group sets an acl",
            sh_as(
                true,
                &format!("setfacl -m u:65534:rwx {f} && stat -c %A {f}", f = p("sgid_owned")),
            ),
        ),
        (
            "setgid without group exec stays",
            sh_as(
                true,
                &format!(": > {f} && stat -c %A {f}", f = p("sgid_noexec")),
            ),
        ),
    ];
    steps.into_iter().map(|(n, r)| (n.to_string(), r)).collect()
}

#[test]
fn other_users_match_kernel_overlayfs() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    // uid 65534 must reach the mount points.
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let exercise_on = |name: &str, strata: bool| {
        let base = tmp.path().join(name);
        let (lower, upper, work, mnt) = (
            base.join("lower"),
            base.join("upper"),
            base.join("work"),
            base.join("mnt"),
        );
        for d in [&lower, &upper, &work, &mnt] {
            fs::create_dir_all(d).unwrap();
        }
        for (f, mode) in [
            ("granted", 0o600),
            ("private", 0o640),
            ("suid", 0o6777),
            ("suid_root", 0o4755),
            ("suid_up", 0o4777),
            ("sgid_noexec", 0o2666),
            ("suid_exec", 0o4777),
            ("suid_userns", 0o4777),
        ] {
            write(&lower.join(f), format!("{f}\n").as_bytes());
            fs::set_permissions(lower.join(f), fs::Permissions::from_mode(mode)).unwrap();
        }
        write(&lower.join("sgid_owned"), b"x");
        std::os::unix::fs::chown(lower.join("sgid_owned"), Some(65534), Some(0)).unwrap();
        fs::set_permissions(lower.join("sgid_owned"), fs::Permissions::from_mode(0o2775)).unwrap();
        fs::create_dir(lower.join("inherit")).unwrap();
        fs::create_dir(lower.join("narrow")).unwrap();
        fs::set_permissions(lower.join("narrow"), fs::Permissions::from_mode(0o777)).unwrap();
        for (args, f) in [
            (&["-m", "u:65534:r"][..], "granted"),
            (&["-d", "-m", "g::rwx,u:65534:rx"][..], "inherit"),
            (&["-d", "-m", "o::---"][..], "narrow"),
        ] {
            run(std::process::Command::new("setfacl")
                .args(args)
                .arg(lower.join(f)));
        }
        let _m = if strata {
            Mount::strata(&[&lower], Some((&upper, &work)), &mnt, "allow_other,suid")
        } else {
            Mount::kernel(&[&lower], Some((&upper, &work)), &mnt)
        };
        exercise_acls(&mnt)
    };
    let kernel = exercise_on("kernel", false);
    let strata = exercise_on("strata", true);
    assert!(
        kernel
            .iter()
            .any(|(n, r)| n == "acl grants nobody" && r.starts_with("0 granted")),
        "the oracle does not grant through the ACL: {kernel:?}"
    );
    assert_same_steps("results for other users", &kernel, &strata);
}

/// Opening a lower file with O_TRUNC copies none of its data up (the
/// kernel's copy-up skips it too): on an upper with less room than the
/// file, the open still succeeds and leaves an empty file.
#[test]
fn truncating_open_copies_no_data() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let lower = tmp.path().join("lower");
    write(&lower.join("big"), &vec![7u8; 8 << 20]);
    for fs in ["kernel", "strata"] {
        let base = tmp.path().join(fs);
        let room = base.join("room");
        fs::create_dir_all(&room).unwrap();
        run(std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(&room));
        let _room = Mount {
            path: room.clone(),
            kind: "tmpfs",
        };
        let (upper, work, mnt) = (room.join("upper"), room.join("work"), base.join("mnt"));
        for d in [&upper, &work, &mnt] {
            fs::create_dir_all(d).unwrap();
        }
        let _m = match fs {
            "kernel" => Mount::kernel(&[&lower], Some((&upper, &work)), &mnt),
            _ => Mount::strata(&[&lower], Some((&upper, &work)), &mnt, ""),
        };
        let r = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(mnt.join("big"))
            .and_then(|mut f| f.write_all(b"small"));
        assert!(r.is_ok(), "{fs}: truncating open of a lower file: {r:?}");
        assert_eq!(fs::read(mnt.join("big")).unwrap(), b"small", "{fs}");
    }
}

/// Descriptors a process opened on a lower file before another one wrote
/// it (copying it up): what reads, `fstat` and mappings through them show,
/// step by step. The mapping's contents are returned apart, since there
/// the kernel's answer is not one FUSE can give (README, design notes).
fn exercise_old_descriptors(m: &Path) -> (Vec<(String, String)>, String) {
    use std::os::unix::fs::FileExt;
    let mut out: Vec<(String, String)> = Vec::new();
    let mut rec = |label: &str, v: String| out.push((label.to_string(), v));
    let p = |s: &str| m.join(s);
    let read = |f: &File| -> io::Result<String> {
        let mut buf = vec![0u8; 64];
        let n = f.read_at(&mut buf, 0)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    };
    let rw = |name: &str| OpenOptions::new().read(true).write(true).open(p(name));
    let fstat = |f: &File| {
        f.metadata()
            .map(|m| (m.len(), m.mode() & 0o7777, m.nlink()))
    };
    // A failed open fails every step that uses it, the same way.
    let opened = |f: &io::Result<File>| -> io::Result<File> {
        match f {
            Ok(f) => f.try_clone(),
            Err(e) => Err(io::Error::from_raw_os_error(e.raw_os_error().unwrap_or(0))),
        }
    };

    // A write open copies the file up while the reader holds it.
    let r = File::open(p("log")).unwrap();
    rec("reader reads lower", show(read(&r)));
    let w = OpenOptions::new().write(true).open(p("log"));
    rec("write open during read", show(opened(&w).map(drop)));
    rec(
        "write",
        show(opened(&w).and_then(|w| w.write_at(b"NEW", 0))),
    );
    rec("reader after write", show(read(&r)));
    rec("reader fstat", show(fstat(&r)));
    rec(
        "write at the end",
        show(opened(&w).and_then(|w| w.write_at(b"+\n", 13))),
    );
    drop(w);
    rec("reader after writer closed", show(read(&r)));
    rec("reader fstat after close", show(fstat(&r)));
    rec("read by path", show(fs::read_to_string(p("log"))));

    // A truncating open copies up no data.
    let r = File::open(p("trunc")).unwrap();
    let w = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(p("trunc"));
    rec("truncating open during read", show(opened(&w).map(drop)));
    rec("reader after truncation", show(read(&r)));
    rec("reader fstat after truncation", show(fstat(&r)));
    rec(
        "write after truncation",
        show(opened(&w).and_then(|w| w.write_at(b"xy", 0))),
    );
    rec("reader after rewrite", show(read(&r)));

    // A chmod copies the file up with no writer involved.
    let r = File::open(p("meta")).unwrap();
    rec(
        "chmod during read",
        show(fs::set_permissions(
            p("meta"),
            fs::Permissions::from_mode(0o600),
        )),
    );
    rec("reader fstat after chmod", show(fstat(&r)));
    rec("reader after chmod", show(read(&r)));
    rec(
        "write after chmod",
        show(rw("meta").and_then(|w| w.write_at(b"ZZ", 0))),
    );
    rec("reader after chmod and write", show(read(&r)));

    // The copied-up file is renamed, then written under its new name.
    let r = File::open(p("moved")).unwrap();
    rec(
        "write before rename",
        show(rw("moved").and_then(|w| w.write_at(b"DD", 0))),
    );
    rec("rename", show(fs::rename(p("moved"), p("moved2"))));
    rec("reader after rename", show(read(&r)));
    rec(
        "write after rename",
        show(rw("moved2").and_then(|w| w.write_at(b"EE", 2))),
    );
    rec("reader after write to new name", show(read(&r)));
    rec("reader fstat after rename", show(fstat(&r)));

    // Opened for writing first, then chmod; a reader opened in between.
    let w = OpenOptions::new().write(true).open(p("chmodded")).unwrap();
    let r = File::open(p("chmodded")).unwrap();
    rec(
        "chmod with writer open",
        show(fs::set_permissions(
            p("chmodded"),
            fs::Permissions::from_mode(0o444),
        )),
    );
    rec("write after chmod to 0444", show(w.write_at(b"W", 0)));
    rec("reader sees writer", show(read(&r)));
    rec("writer fstat", show(fstat(&w)));
    rec("reader fstat", show(fstat(&r)));

    // Unlinked after the copy-up.
    let r = File::open(p("unlinked")).unwrap();
    rec(
        "write then unlink",
        show(
            rw("unlinked")
                .and_then(|w| w.write_at(b"UU", 0))
                .and(fs::remove_file(p("unlinked"))),
        ),
    );
    rec("reader after unlink", show(read(&r)));
    rec("reader fstat after unlink", show(fstat(&r)));

    // A mapping made before the copy-up.
    let r = File::open(p("mapped")).unwrap();
    // SAFETY: the mapping is private to this test; the file only grows.
    let map = unsafe { memmap2::Mmap::map(&r) }.unwrap();
    rec(
        "mapping before write",
        show(Ok(String::from_utf8_lossy(&map).into_owned())),
    );
    rec(
        "write to mapped file",
        show(rw("mapped").and_then(|w| w.write_at(b"MM", 0))),
    );
    rec("reader of mapped file", show(read(&r)));
    let mapped = String::from_utf8_lossy(&map).into_owned();

    // Another process writes a file this one reads; a third open by path
    // then reads what it wrote, under the same inode number.
    let r = File::open(p("shared")).unwrap();
    let ino_before = fs::metadata(p("shared")).unwrap().ino();
    let other = std::process::Command::new("sh")
        .args([
            "-c",
            "printf OTHER 1<>\"$0\"",
            &p("shared").to_string_lossy(),
        ])
        .status()
        .map(|s| s.code());
    rec("another process writes", show(other));
    rec("third open reads", show(fs::read_to_string(p("shared"))));
    let ino_after = fs::metadata(p("shared")).map(|m| m.ino());
    rec(
        "inode number kept",
        show(ino_after.map(|a| a == ino_before)),
    );
    rec(
        "reader's inode number",
        show(r.metadata().map(|m| m.ino() == ino_before)),
    );
    rec("reader after other process", show(read(&r)));
    let fd_path = format!("/proc/self/fd/{}", r.as_raw_fd());
    rec(
        "reader reopened by /proc",
        show(File::open(&fd_path).and_then(|f| read(&f))),
    );
    rec(
        "reader reopened by /proc for writing",
        show(OpenOptions::new().write(true).open(&fd_path).map(drop)),
    );
    drop(r);
    rec(
        "reopen for writing once the reader closed",
        show(rw("shared").and_then(|w| w.write_at(b"!", 0))),
    );

    // Copy-ups by truncate(2), link and rename while a reader holds the
    // file, each followed by opens of the copy (which must not fail).
    let r = File::open(p("cut")).unwrap();
    rec(
        "truncate(2) during read",
        show(nix_io(nix::unistd::truncate(&p("cut"), 3))),
    );
    rec("reader fstat after truncate(2)", show(fstat(&r)));
    rec("reader after truncate(2)", show(read(&r)));
    rec("read after truncate(2)", show(fs::read_to_string(p("cut"))));
    let r = File::open(p("linked")).unwrap();
    rec(
        "link during read",
        show(fs::hard_link(p("linked"), p("linked2"))),
    );
    rec("read new link", show(fs::read_to_string(p("linked2"))));
    rec(
        "write after link",
        show(rw("linked").and_then(|w| w.write_at(b"LL", 0))),
    );
    rec("reader after link and write", show(read(&r)));
    rec(
        "links after write",
        show(fs::metadata(p("linked2")).map(|m| (m.nlink(), m.len()))),
    );
    let r = File::open(p("renamed")).unwrap();
    rec(
        "rename during read",
        show(fs::rename(p("renamed"), p("renamed2"))),
    );
    rec(
        "write after rename",
        show(rw("renamed2").and_then(|w| w.write_at(b"RR", 0))),
    );
    rec("reader after rename and write", show(read(&r)));
    rec("read by new name", show(fs::read_to_string(p("renamed2"))));
    rec("read by old name", show(fs::read_to_string(p("renamed"))));
    (out, mapped)
}

/// The steps at which a descriptor opened with FUSE passthrough on a lower
/// file reads that file's data where kernel overlayfs reads the copy made
/// since: the kernel binds the open file to its backing file, so it keeps
/// reading what it opened (README, design notes), with the file named.
/// Everything else, its `fstat` included, matches.
const PASSTHROUGH_READS_LOWER: &[(&str, &str)] = &[
    // Another descriptor wrote the copy.
    ("reader after write", "log"),
    ("reader after writer closed", "log"),
    // A truncating open emptied the copy, then wrote it.
    ("reader after truncation", "trunc"),
    ("reader after rewrite", "trunc"),
    // Written after a chmod made the copy.
    ("reader after chmod and write", "meta"),
    // Written, then renamed and written again.
    ("reader after rename", "moved"),
    ("reader after write to new name", "moved"),
    // Written, then unlinked.
    ("reader after unlink", "unlinked"),
    // Written while also mapped (the mapping too keeps the lower data, as
    // the kernel's does).
    ("reader of mapped file", "mapped"),
    // Written by another process.
    ("reader after other process", "shared"),
    // A reopen through /proc of the reader's descriptor names its node,
    // which still passes through to the lower file.
    ("reader reopened by /proc", "shared"),
    // truncate(2), then link and write, then rename and write.
    ("reader after truncate(2)", "cut"),
    ("reader after link and write", "linked"),
    ("reader after rename and write", "renamed"),
];

/// What strata-fs is expected to answer at a step where it differs from
/// kernel overlayfs with passthrough on; `None`: the kernel's answer.
fn passthrough_answer(label: &str) -> Option<String> {
    // That node cannot pass a writer through to the copy, and the retried
    // open names it again (README, design notes).
    if label == "reader reopened by /proc for writing" {
        return Some(show::<()>(Err(io::Error::from_raw_os_error(libc::ESTALE))));
    }
    PASSTHROUGH_READS_LOWER
        .iter()
        .find(|(l, _)| *l == label)
        .map(|(_, f)| show(Ok(format!("lower {f} data\n"))))
}

/// Opens and reads through a descriptor opened before a copy-up never fail
/// and see what kernel overlayfs shows, with and without FUSE passthrough
/// (but for the reads listed in `PASSTHROUGH_READS_LOWER`).
#[test]
fn descriptors_opened_before_copy_up_match_kernel_overlayfs() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let exercise_on = |name: &str, strata: Option<&str>| {
        let base = tmp.path().join(name);
        let (lower, upper, work, mnt) = (
            base.join("lower"),
            base.join("upper"),
            base.join("work"),
            base.join("mnt"),
        );
        for d in [&upper, &work, &mnt] {
            fs::create_dir_all(d).unwrap();
        }
        for f in [
            "log", "trunc", "meta", "moved", "chmodded", "unlinked", "mapped", "shared", "cut",
            "linked", "renamed",
        ] {
            write(&lower.join(f), format!("lower {f} data\n").as_bytes());
        }
        let _m = match strata {
            Some(opts) => Mount::strata(&[&lower], Some((&upper, &work)), &mnt, opts),
            None => Mount::kernel(&[&lower], Some((&upper, &work)), &mnt),
        };
        exercise_old_descriptors(&mnt)
    };
    let (kernel, kernel_map) = exercise_on("kernel", None);
    assert_eq!(
        kernel_map, "lower mapped data\n",
        "the oracle's mapping kept the lower data"
    );
    let mut diffs = Vec::new();
    for opts in ["", "passthrough=0"] {
        let passthrough = opts.is_empty();
        let (strata, strata_map) = exercise_on(&format!("strata{opts}"), Some(opts));
        assert_eq!(kernel.len(), strata.len());
        for (a, b) in kernel.iter().zip(&strata) {
            let want = passthrough
                .then(|| passthrough_answer(&a.0))
                .flatten()
                .unwrap_or_else(|| a.1.clone());
            if b.1 != want {
                diffs.push(format!(
                    "[{opts}] {}:\n   kernel {}\n   want   {want}\n   strata {}",
                    a.0, a.1, b.1
                ));
            }
        }
        // Served by strata-fs, a mapping shares the FUSE inode's one page
        // cache and shows the new data; passed through, it maps the lower
        // file, as the kernel's does.
        let want_map = match passthrough {
            true => kernel_map.as_str(),
            false => "MMwer mapped data\n",
        };
        if strata_map != want_map {
            diffs.push(format!(
                "[{opts}] mapping made before the copy-up: {strata_map:?}"
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "old descriptors on strata-fs differ:\n{}",
        diffs.join("\n")
    );
}

/// Descriptors of files whose last name is gone (unlinked, removed or
/// replaced by a rename): what `fstat`, `getdents`, `lseek`, and changes
/// through them show, for lower and upper files of every kind (FUSE opens
/// no fifo, device or directory through the daemon, so those have no
/// handle of strata-fs's).
fn exercise_nameless_descriptors(m: &Path) -> Vec<(String, String)> {
    use nix::sys::stat::{mknod, Mode, SFlag};
    let mut out: Vec<(String, String)> = Vec::new();
    let mut rec = |label: &str, v: String| out.push((label.to_string(), v));
    let p = |s: &str| m.join(s);
    let open = |name: &str, write: bool| {
        OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(libc::O_NONBLOCK)
            .open(p(name))
            .unwrap()
    };
    let fstat = |f: &File| {
        f.metadata().map(|m| {
            let (size, nlink) = if m.is_dir() {
                (0, 0)
            } else {
                (m.len(), m.nlink())
            };
            format!(
                "mode={:o} uid={} size={size} nlink={nlink}",
                m.mode(),
                m.uid()
            )
        })
    };
    let getdents = |f: &File| -> io::Result<Vec<String>> {
        let dir = nix_io(nix::dir::Dir::from(f.try_clone()?))?;
        let mut names = Vec::new();
        for e in dir.into_iter() {
            names.push(nix_io(e)?.file_name().to_string_lossy().into_owned());
        }
        names.retain(|n| n != "." && n != "..");
        Ok(names)
    };
    let change = |f: &File| -> io::Result<()> {
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        std::os::unix::fs::fchown(f, Some(5), Some(6))?;
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(FIXED_TIME as u64))
    };
    mknod(
        &p("upfifo"),
        SFlag::S_IFIFO,
        Mode::from_bits_truncate(0o644),
        0,
    )
    .unwrap();
    fs::create_dir(p("updir")).unwrap();

    let mut keep = Vec::new();
    for (name, write, dir) in [
        ("emptydir", false, true),
        ("updir", false, true),
        ("fifo", true, false),
        ("chardev", true, false),
        ("upfifo", true, false),
        ("plain", false, false),
        ("hard2", false, false),
        ("owned", true, false),
    ] {
        let f = open(name, write);
        let removed = if dir {
            fs::remove_dir(p(name))
        } else {
            fs::remove_file(p(name))
        };
        rec(&format!("{name}: remove"), show(removed));
        rec(&format!("{name}: fstat"), show(fstat(&f)));
        if dir {
            rec(&format!("{name}: getdents"), show(getdents(&f)));
        } else {
            rec(
                &format!("{name}: lseek"),
                show((&f).seek(SeekFrom::Start(0))),
            );
        }
        // A lower fifo or device the kernel would bring back (see
        // `nameless_copy_up_errno`): not changed here.
        if !matches!(name, "fifo" | "chardev") {
            rec(&format!("{name}: change"), show(change(&f)));
            rec(&format!("{name}: fstat after"), show(fstat(&f)));
        }
        keep.push(f);
    }
    // A lower file another one was renamed over.
    let f = open("plain2", false);
    rec("replaced: rename", show(fs::rename(p("top"), p("plain2"))));
    rec("replaced: fstat", show(fstat(&f)));
    rec("replaced: change", show(change(&f)));
    rec("replaced: fstat after", show(fstat(&f)));
    rec("root", show(ls(m)));
    out
}

/// Descriptors of files with no name left in the union see what they do
/// through kernel overlayfs.
#[test]
fn nameless_descriptors_match_kernel_overlayfs() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let run_on = |name: &str, strata: bool| {
        let s = side(&tmp.path().join(name));
        let _m = if strata {
            Mount::strata(&lower_refs(&s), Some((&s.upper, &s.work)), &s.mnt, "dev")
        } else {
            Mount::kernel(&lower_refs(&s), Some((&s.upper, &s.work)), &s.mnt)
        };
        let seen = exercise_nameless_descriptors(&s.mnt);
        (seen, snapshot(&s.mnt))
    };
    let (kernel, ktree) = run_on("kernel", false);
    let (strata, stree) = run_on("strata", true);
    assert_same_steps("descriptors of nameless files", &kernel, &strata);
    assert_same_tree("after the operations", &ktree, &stree);
}
