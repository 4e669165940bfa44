//! `commit` and `export` of containers, end to end through the `strata`
//! binary: a container that adds, deletes and replaces content is committed;
//! the new image runs with those changes, loads into podman with the same
//! tree, and exports the same tree as the container; the container's export
//! equals a kernel overlayfs mount of its upper dir over the image (the
//! oracle). Bad input is one line and a non-zero exit.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{ok, out, require_root, strata, Mounted, Podman};

/// A busybox-static root filesystem with a tree to delete and replace, and
/// a hard-linked pair, imported as `localhost/cx:1`; returns its directory.
fn import_image(dir: &Path, root: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "etc", "data/sub", "keep"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static installed");
    for a in [
        "sh", "cat", "echo", "rm", "mkdir", "ls", "ln", "chmod", "test", "sleep", "true",
    ] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::write(rootfs.join("etc/motd"), "from the image\n").unwrap();
    fs::write(rootfs.join("data/a"), "a\n").unwrap();
    fs::write(rootfs.join("data/sub/b"), "b\n").unwrap();
    fs::write(rootfs.join("keep/one"), "linked\n").unwrap();
    fs::hard_link(rootfs.join("keep/one"), rootfs.join("keep/two")).unwrap();
    assert!(Command::new("setfattr")
        .args(["-n", "user.note", "-v", "kept"])
        .arg(rootfs.join("etc/passwd"))
        .status()
        .expect("attr installed")
        .success());
    let tar = dir.join("rootfs.tar");
    assert!(Command::new("tar")
        .args(["--xattrs", "--xattrs-include=user.*", "-C"])
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap()
        .success());
    ok(strata(root)
        .arg("import")
        .arg(&tar)
        .arg("localhost/cx:1")
        .args(["-c", "ENV FROM_PARENT=yes"]));
    rootfs
}

/// What a tree entry is, comparable across tars and mounted trees:
/// "kind mode uid:gid content-hash link-target user-xattrs". Hard links
/// read as files.
type Listing = Vec<(String, String)>;

fn hash(data: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

/// The listing of a tar, unpacked by GNU tar (owners and modes kept).
fn tar_listing(t: &Path) -> Listing {
    let dir = t.with_extension("unpacked");
    fs::create_dir(&dir).unwrap();
    assert!(Command::new("tar")
        .args([
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=user.*",
            "-xpf"
        ])
        .arg(t)
        .arg("-C")
        .arg(&dir)
        .status()
        .unwrap()
        .success());
    tree_listing(&dir)
}

fn tree_listing(root: &Path) -> Listing {
    fn walk(root: &Path, rel: &Path, out: &mut Listing) {
        for e in fs::read_dir(root.join(rel)).unwrap() {
            let e = e.unwrap();
            let rel = rel.join(e.file_name());
            let full = root.join(&rel);
            let md = fs::symlink_metadata(&full).unwrap();
            let (kind, sum, link) = if md.is_dir() {
                ("dir", 0, String::new())
            } else if md.file_type().is_symlink() {
                let l = fs::read_link(&full).unwrap().display().to_string();
                ("symlink", 0, l)
            } else if md.is_file() {
                ("file", hash(&fs::read(&full).unwrap()), String::new())
            } else {
                panic!("unexpected file type at {}", full.display())
            };
            let line = format!(
                "{kind} {:o} {}:{} {sum:x} {link}",
                md.permissions().mode() & 0o7777,
                md.uid(),
                md.gid()
            );
            out.push((rel.display().to_string(), line));
            if md.is_dir() {
                walk(root, &rel, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, Path::new(""), &mut out);
    let xattrs = user_xattrs(root);
    for (path, line) in &mut out {
        if let Some(x) = xattrs.get(path.as_str()) {
            line.push_str(&format!(" {x}"));
        }
    }
    out.sort();
    out
}

/// `user.*` xattrs under `root` by relative path, as `name=value,...`.
fn user_xattrs(root: &Path) -> std::collections::HashMap<String, String> {
    let o = Command::new("getfattr")
        .args(["-R", "-h", "-d", "-m", "^user\\.", "--absolute-names"])
        .arg(root)
        .output()
        .expect("attr installed");
    let text = String::from_utf8_lossy(&o.stdout);
    let prefix = format!("{}/", root.display());
    let mut out = std::collections::HashMap::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines();
        let Some(file) = lines.next().and_then(|l| l.strip_prefix("# file: ")) else {
            continue;
        };
        let rel = file.strip_prefix(&prefix).unwrap_or(file).to_string();
        out.insert(rel, lines.collect::<Vec<_>>().join(","));
    }
    out
}

/// The mount points the runtime makes (in `export`, never in `commit`).
fn without_runtime_mounts(l: Listing) -> Listing {
    let runtime = [
        "dev",
        "proc",
        "sys",
        "etc/hosts",
        "etc/hostname",
        "etc/resolv.conf",
    ];
    l.into_iter()
        .filter(|(p, _)| !runtime.contains(&p.as_str()))
        .collect()
}

/// Removes the named containers on drop, so a failing test leaves none
/// running.
struct Containers<'a>(&'a Path, &'a [&'a str]);

impl Drop for Containers<'_> {
    fn drop(&mut self) {
        for c in self.1 {
            let _ = out(strata(self.0).args(["rm", "-f", c]));
        }
    }
}

#[test]
fn commit_and_export_a_container() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    let image_dir = import_image(t.path(), &root);
    let _cleanup = Containers(&root, &["changer"]);

    // Add a file, delete an image file, replace a directory's contents,
    // change a mode, add a symlink and a hard link.
    ok(strata(&root).args([
        "run",
        "--name",
        "changer",
        "localhost/cx:1",
        "sh",
        "-c",
        "chmod 0600 /etc/passwd && echo new > /new && rm /etc/motd && rm -rf /data && mkdir /data && echo x > /data/x \
         && chmod 0750 /keep && ln -s ../new /keep/link && ln -s / /keep/root && ln /new /keep/new-link",
    ]));

    // The container's export is its merged tree: the same as a kernel
    // overlayfs mount of its upper dir over the image.
    let ctr_tar = t.path().join("container.tar");
    ok(strata(&root)
        .args(["export", "changer", "-o"])
        .arg(&ctr_tar));
    let ctr = tar_listing(&ctr_tar);
    let id = ok(strata(&root).args(["ps", "-a", "-q", "--no-trunc"]));
    let upper = root.join("containers").join(id.trim()).join("upper");
    let ovl = t.path().join("ovl");
    fs::create_dir(&ovl).unwrap();
    let lowerdir = format!("lowerdir={}:{}", upper.display(), image_dir.display());
    assert!(Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &lowerdir])
        .arg(&ovl)
        .status()
        .unwrap()
        .success());
    let mounted = Mounted(ovl.clone());
    assert_eq!(ctr, tree_listing(&ovl));
    drop(mounted);
    let has = |l: &Listing, p: &str| l.iter().any(|(q, _)| q == p);
    assert!(has(&ctr, "new") && has(&ctr, "data/x") && has(&ctr, "keep/link"));
    assert!(!has(&ctr, "etc/motd") && !has(&ctr, "data/a") && !has(&ctr, "data/sub"));
    assert!(!ctr.iter().any(|(p, _)| p.contains(".wh.")));
    let passwd = ctr.iter().find(|(p, _)| p == "etc/passwd").unwrap();
    assert!(passwd.1.starts_with("file 600 ") && passwd.1.ends_with(r#"user.note="kept""#));

    // Commit with Docker's options; the new image runs with the changes.
    let new_id = ok(strata(&root).args([
        "commit",
        "-a",
        "Tester <t@example.com>",
        "-m",
        "replace data",
        "-c",
        r#"CMD ["cat", "/new"]"#,
        "changer",
        "localhost/cx:2",
    ]));
    assert!(new_id.trim().starts_with("sha256:"), "{new_id}");
    assert_eq!(
        ok(strata(&root).args(["run", "--rm", "localhost/cx:2"])),
        "new\n"
    );
    let seen = ok(strata(&root).args([
        "run",
        "--rm",
        "localhost/cx:2",
        "sh",
        "-c",
        "ls /data; test -e /etc/motd && echo motd; test -e /data/sub && echo sub; cat /keep/link; echo $FROM_PARENT",
    ]));
    assert_eq!(seen, "x\nnew\nyes\n");
    let inspect = ok(strata(&root).args(["image", "inspect", "localhost/cx:2"]));
    assert!(inspect.contains("Tester <t@example.com>"), "{inspect}");
    let history = ok(strata(&root).args(["history", "localhost/cx:2"]));
    assert!(history.contains("replace data"), "{history}");

    // The committed image's tree is the container's, less the runtime's
    // mount points; top-level `export` falls back to images.
    let img_tar = t.path().join("image.tar");
    ok(strata(&root)
        .args(["export", "localhost/cx:2", "-o"])
        .arg(&img_tar));
    let img = tar_listing(&img_tar);
    assert_eq!(without_runtime_mounts(ctr.clone()), img);
    let img2_tar = t.path().join("image2.tar");
    ok(strata(&root)
        .args(["image", "export", "localhost/cx:2", "-o"])
        .arg(&img2_tar));
    assert_eq!(tar_listing(&img2_tar), img);

    // `save` of the committed image loads in podman, which sees that tree.
    let archive = t.path().join("cx2.tar");
    ok(strata(&root)
        .args(["save", "-o"])
        .arg(&archive)
        .arg("localhost/cx:2"));
    let p = Podman::new();
    ok(p.cmd().arg("load").arg("-i").arg(&archive));
    let dir = ok(p.cmd().args(["image", "mount", "localhost/cx:2"]));
    let podman_tree = tree_listing(Path::new(dir.trim()));
    ok(p.cmd().args(["image", "unmount", "localhost/cx:2"]));
    assert_eq!(podman_tree, img);

    ok(strata(&root).args(["rm", "changer"]));
    assert_eq!(ok(strata(&root).args(["ps", "-a", "-q"])).trim(), "");
    ok(strata(&root).arg("fsck"));
}

#[test]
fn commit_and_export_refuse_clearly() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    let image_dir = import_image(t.path(), &root);
    let _cleanup = Containers(&root, &["busy", "ondir", "stopped"]);
    let one_line = |(code, _, err): (i32, String, String), what: &str| {
        assert_ne!(code, 0, "{what} succeeded");
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(err.contains(what), "{err}");
        err
    };

    one_line(out(strata(&root).args(["commit", "nosuch"])), "nosuch");
    let tar = t.path().join("x.tar");
    one_line(
        out(strata(&root).args(["export", "nosuch", "-o"]).arg(&tar)),
        "nosuch",
    );
    assert!(!tar.exists());

    // A running container is not committed (it cannot be paused), but it
    // can be exported, its changes included.
    ok(strata(&root).args([
        "run",
        "-d",
        "--name",
        "busy",
        "localhost/cx:1",
        "sh",
        "-c",
        "echo running > /live && sleep 60",
    ]));
    let live = t.path().join("live.tar");
    let mut exported = false;
    for _ in 0..100 {
        ok(strata(&root).args(["export", "busy", "-o"]).arg(&live));
        if tar_listing(&live).iter().any(|(p, _)| p == "live") {
            exported = true;
            break;
        }
        fs::remove_dir_all(live.with_extension("unpacked")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(exported, "export of a running container misses its change");
    let err = one_line(
        out(strata(&root).args(["commit", "busy", "localhost/no:1"])),
        "cannot commit container",
    );
    assert!(err.contains("running"), "{err}");
    ok(strata(&root).args(["rm", "-f", "busy"]));

    // A container on a plain directory has no image to build on.
    ok(strata(&root)
        .args(["run", "--name", "ondir"])
        .arg(&image_dir)
        .arg("true"));
    let err = one_line(
        out(strata(&root).args(["commit", "ondir"])),
        "cannot commit container",
    );
    assert!(err.contains("directory"), "{err}");
    ok(strata(&root).args(["rm", "ondir"]));

    // A bad tag is refused before anything is stored.
    ok(strata(&root).args(["run", "--name", "stopped", "localhost/cx:1", "true"]));
    one_line(
        out(strata(&root).args(["commit", "stopped", "Bad:Ref!"])),
        "Bad:Ref!",
    );
    ok(strata(&root).args(["rm", "stopped"]));

    let images = ok(strata(&root).args(["images", "-q"]));
    assert_eq!(images.lines().count(), 1, "{images}");
    ok(strata(&root).arg("fsck"));
}

/// The mount points (field 5) of `strata-export-` unions in a mountinfo file.
fn export_mounts(mountinfo: &Path) -> Vec<String> {
    fs::read_to_string(mountinfo)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.contains("strata-export-"))
        .map(str::to_string)
        .collect()
}

/// A child process killed when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn export_mount_is_private_and_gone_after_kill() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    import_image(t.path(), &root);
    let _cleanup = Containers(&root, &["big"]);
    // Far more than a pipe and the export's buffers hold, so it blocks.
    ok(strata(&root).args([
        "run",
        "--name",
        "big",
        "localhost/cx:1",
        "sh",
        "-c",
        "head -c 16000000 /dev/zero > /big",
    ]));
    let mut child = Killed(
        strata(&root)
            .args(["export", "big"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Find the union in the mount view of one of the exporter's threads.
    let tasks = PathBuf::from(format!("/proc/{}/task", child.0.id()));
    let mut seen = Vec::new();
    for _ in 0..200 {
        for task in fs::read_dir(&tasks).into_iter().flatten().flatten() {
            seen.extend(export_mounts(&task.path().join("mountinfo")));
        }
        if !seen.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mountpoint = seen
        .first()
        .expect("export never mounted its union")
        .clone();
    let host = Path::new("/proc/self/mountinfo");
    assert!(
        !export_mounts(host).contains(&mountpoint),
        "the export's union is visible outside it"
    );
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    assert!(!export_mounts(host).contains(&mountpoint));
    // Nothing is mounted there (ENOTCONN would refuse this): only the
    // empty directory a killed process cannot remove is left.
    fs::remove_dir(&mountpoint).expect("export mount point left mounted or not empty");
}
