//! End to end: an image built by podman (several layers, whiteouts, an
//! opaque directory, hard links) is saved by podman, loaded by `strata
//! load`, and mounted by `strata mount` straight from the store; the tree
//! must be the one podman itself shows for the image. Then a writable mount
//! over the same image keeps its changes in an overlayfs-format upper.
//! Inode numbers come from the layer index: one per file, shared by its
//! hard links, stable across mounts.

use std::collections::BTreeMap;
use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::{DirEntryExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{busybox_rootfs, ok, require_root, strata, tar_of, Mounted, Podman};

fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let t = m.file_type();
            let kind = if t.is_dir() {
                stack.push(p.clone());
                "dir"
            } else if t.is_symlink() {
                "link"
            } else if t.is_fifo() {
                "fifo"
            } else if t.is_char_device() || t.is_block_device() {
                "dev"
            } else {
                "file"
            };
            let content = if kind == "file" {
                let mut h = DefaultHasher::new();
                fs::read(&p).unwrap().hash(&mut h);
                h.finish()
            } else {
                0
            };
            let target = fs::read_link(&p)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            let size = if kind == "file" { m.size() } else { 0 };
            out.insert(
                p.strip_prefix(root).unwrap().display().to_string(),
                format!(
                    "{kind} {:o} {}:{} size={size} content={content:x} target={target}",
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid()
                ),
            );
        }
    }
    out
}

#[test]
fn stored_image_mounts_with_podmans_tree() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    let p = Podman::new();
    // A base image from busybox-static, then two more layers built by podman.
    let rootfs = busybox_rootfs(b, &["sh", "ls", "cat"]);
    fs::write(rootfs.join("etc/motd"), "base\n").unwrap();
    tar_of(&rootfs, &b.join("base.tar"));
    ok(p.cmd()
        .args(["import"])
        .arg(b.join("base.tar"))
        .arg("localhost/base"));
    let ctx = b.join("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(
        ctx.join("Containerfile"),
        "FROM localhost/base\n\
         RUN [\"/bin/busybox\", \"sh\", \"-c\", \"mkdir -p /d/keep /d/drop /o && echo 1 > /d/keep/f && echo 2 > /d/drop/g && echo 3 > /o/old && ln /d/keep/f /d/keep/hl && chmod 4755 /d/keep/f && mkfifo /d/fifo\"]\n\
         RUN [\"/bin/busybox\", \"sh\", \"-c\", \"rm -rf /d/drop /etc/motd /o && mkdir /o && echo 4 > /o/new && echo 5 > /d/keep/added\"]\n",
    )
    .unwrap();
    ok(p.cmd()
        .args([
            "build",
            "--isolation",
            "chroot",
            "-q",
            "-t",
            "localhost/layered",
        ])
        .arg(&ctx));
    ok(p.cmd()
        .args(["save", "--format", "docker-archive", "-o"])
        .arg(b.join("img.tar"))
        .arg("localhost/layered"));

    let store = b.join("store");
    ok(strata(&store).arg("load").arg("-i").arg(b.join("img.tar")));

    // What podman shows for the image.
    let podman_root =
        PathBuf::from(ok(p.cmd().args(["image", "mount", "localhost/layered"])).trim());
    let want = snapshot(&podman_root);
    ok(p.cmd().args(["image", "unmount", "localhost/layered"]));

    // Read-only mount straight from the store.
    let m = b.join("m");
    fs::create_dir_all(&m).unwrap();
    let started = Instant::now();
    ok(strata(&store).arg("mount").arg("localhost/layered").arg(&m));
    let mount_time = started.elapsed();
    let guard = Mounted(m.clone());
    let got = snapshot(&m);
    assert_eq!(got, want, "strata mount differs from podman's tree");
    assert!(
        !m.join("etc/motd").exists() && !m.join("o/old").exists() && !m.join("d/drop").exists()
    );
    let e = fs::write(m.join("x"), b"x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));
    drop(guard);
    // Mounting reads indexes only; no extraction (generous bound: CI machines vary).
    assert!(
        mount_time < Duration::from_secs(5),
        "mount took {mount_time:?}"
    );

    // Writable: changes land in an overlayfs-format upper.
    let (u, w) = (b.join("upper"), b.join("work"));
    fs::create_dir_all(&u).unwrap();
    fs::create_dir_all(&w).unwrap();
    ok(strata(&store)
        .arg("mount")
        .arg("localhost/layered")
        .arg(&m)
        .arg("--upper")
        .arg(&u)
        .arg("--work")
        .arg(&w));
    let guard = Mounted(m.clone());
    fs::write(m.join("d/keep/f"), b"changed\n").unwrap();
    fs::remove_file(m.join("bin/cat")).unwrap();
    assert_eq!(fs::read(m.join("d/keep/f")).unwrap(), b"changed\n");
    drop(guard);
    assert_eq!(fs::read(u.join("d/keep/f")).unwrap(), b"changed\n");
    let wh = fs::symlink_metadata(u.join("bin/cat")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "whiteout for bin/cat"
    );
    // The store is untouched and consistent.
    ok(strata(&store).arg("fsck"));
}

#[test]
fn mount_of_unknown_image_is_one_clear_error() {
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("m");
    fs::create_dir_all(&m).unwrap();
    let out = strata(&t.path().join("store"))
        .arg("mount")
        .arg("nosuch:tag")
        .arg(&m)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("strata: ") && err.contains("nosuch"),
        "{err}"
    );
}

/// Relative path → `st_ino` of everything under `m`, checking that
/// readdir's `d_ino` is stat's `st_ino`.
fn numbers(m: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![m.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let st = fs::symlink_metadata(e.path()).unwrap();
            assert_eq!(
                e.ino(),
                st.ino(),
                "{}: d_ino is not st_ino",
                e.path().display()
            );
            if st.is_dir() {
                stack.push(e.path());
            }
            let rel = e.path().strip_prefix(m).unwrap().display().to_string();
            out.insert(rel, st.ino());
        }
    }
    out
}

/// Lines of `tar -tv` output naming hard links.
fn tar_links(tar: &mut Command) -> Vec<String> {
    ok(tar)
        .lines()
        .filter(|l| l.contains(" link to "))
        .map(str::to_string)
        .collect()
}

#[test]
fn stored_hard_links_show_one_inode() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    let rootfs = b.join("rootfs");
    for d in ["a", "b", "c"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::write(rootfs.join("a/one"), "linked\n").unwrap();
    fs::hard_link(rootfs.join("a/one"), rootfs.join("b/two")).unwrap();
    fs::write(rootfs.join("a/solo"), "alone\n").unwrap();
    // Same content, so one object in the store: still two files.
    fs::write(rootfs.join("c/same1"), "dup\n").unwrap();
    fs::write(rootfs.join("c/same2"), "dup\n").unwrap();
    tar_of(&rootfs, &b.join("rootfs.tar"));
    let store = b.join("store");
    ok(strata(&store)
        .arg("import")
        .arg(b.join("rootfs.tar"))
        .arg("localhost/links"));

    let m = b.join("m");
    fs::create_dir_all(&m).unwrap();
    let mount = |upper: Option<(&Path, &Path)>| {
        let mut c = strata(&store);
        c.arg("mount").arg("localhost/links").arg(&m);
        if let Some((u, w)) = upper {
            c.arg("--upper").arg(u).arg("--work").arg(w);
        }
        ok(&mut c);
        Mounted(m.clone())
    };
    let first = {
        let _g = mount(None);
        let n = numbers(&m);
        let nlink = |p: &str| fs::metadata(m.join(p)).unwrap().nlink();
        assert_eq!(n["a/one"], n["b/two"], "hard links show one inode");
        assert_eq!((nlink("a/one"), nlink("b/two")), (2, 2));
        assert_ne!(n["c/same1"], n["c/same2"], "shared content is not a link");
        let same = ok(Command::new("find")
            .arg(&m)
            .arg("-samefile")
            .arg(m.join("a/one")));
        assert_eq!(same.lines().count(), 2, "{same}");
        let links = tar_links(
            Command::new("sh")
                .arg("-c")
                .arg(format!("tar -C {} -cf - . | tar -tvf -", m.display())),
        );
        assert_eq!(links.len(), 1, "tar records one hard link: {links:?}");
        n
    };
    {
        let _g = mount(None);
        assert_eq!(numbers(&m), first, "numbers changed across mounts");
    }
    let exported = b.join("export.tar");
    ok(strata(&store)
        .arg("export")
        .arg("localhost/links")
        .arg("-o")
        .arg(&exported));
    let links = tar_links(Command::new("tar").arg("-tvf").arg(&exported));
    assert_eq!(links.len(), 1, "export keeps the hard link: {links:?}");

    // Writable (with the upper, numbers are laid out for two filesystems):
    // a copy-up keeps the stored number; writing one name of the hard link
    // makes it a file of its own, as on kernel overlayfs.
    let (u, w) = (b.join("upper"), b.join("work"));
    fs::create_dir_all(&u).unwrap();
    fs::create_dir_all(&w).unwrap();
    let written = {
        let _g = mount(Some((&u, &w)));
        let before = numbers(&m);
        fs::write(m.join("a/solo"), "changed\n").unwrap();
        fs::write(m.join("a/one"), "changed\n").unwrap();
        let n = numbers(&m);
        assert_eq!(n["a/solo"], before["a/solo"], "copy-up keeps the number");
        assert_ne!(n["a/one"], n["b/two"]);
        assert_eq!(n["b/two"], before["b/two"]);
        n
    };
    let _g = mount(Some((&u, &w)));
    assert_eq!(numbers(&m), written, "numbers changed across remount");
}
