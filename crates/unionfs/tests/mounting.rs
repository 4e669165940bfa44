//! strata-fs as the tools that run fuse-overlayfs call it: the three command
//! line shapes, podman's mount_program, unprivileged and user-namespace
//! mounts, a killed daemon, OCI `.wh.` whiteouts, and bad input.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn dirs(base: &Path, names: &[&str]) {
    for n in names {
        fs::create_dir_all(base.join(n)).unwrap();
    }
}

/// OCI `.wh.NAME` / `.wh..wh..opq` markers in a lower read the same as the
/// kernel's char-device / xattr form does under kernel overlayfs.
#[test]
fn oci_whiteouts_read_like_kernel_form() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    for (form, lower) in [("oci", b.join("oci")), ("kernel", b.join("kern"))] {
        write(&lower.join("bottom/keep"), b"k");
        write(&lower.join("bottom/gone"), b"g");
        write(&lower.join("bottom/d/old"), b"o");
        write(&lower.join("top/d/new"), b"n");
        write(&lower.join("top/fresh"), b"f");
        if form == "oci" {
            write(&lower.join("top/.wh.gone"), b"");
            write(&lower.join("top/d/.wh..wh..opq"), b"");
        } else {
            mknod(&lower.join("top/gone"), libc::S_IFCHR, 0, 0);
            set_xattr(&lower.join("top/d"), "trusted.overlay.opaque", b"y");
        }
    }
    dirs(b, &["m1", "m2"]);
    let oci = {
        let _m = Mount::strata(
            &[&b.join("oci/top"), &b.join("oci/bottom")],
            None,
            &b.join("m1"),
            "",
        );
        snapshot(&b.join("m1"))
    };
    let kern = {
        let _m = Mount::kernel(
            &[&b.join("kern/top"), &b.join("kern/bottom")],
            None,
            &b.join("m2"),
        );
        snapshot(&b.join("m2"))
    };
    let names =
        |s: &std::collections::BTreeMap<String, Entry>| s.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&oci), vec!["d", "d/new", "fresh", "keep"]);
    assert_eq!(names(&oci), names(&kern));
}

/// A read-only union (only lowerdir=) refuses writes with EROFS.
#[test]
fn read_only_union_refuses_writes() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    write(&b.join("l/file"), b"data");
    dirs(b, &["m"]);
    let _m = Mount::strata(&[&b.join("l")], None, &b.join("m"), "");
    assert_eq!(fs::read(b.join("m/file")).unwrap(), b"data");
    let e = fs::write(b.join("m/new"), b"x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));
    let e = fs::remove_file(b.join("m/file")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));
}

/// As root, a mount with no options gets fuse-overlayfs's defaults
/// (`allow_other,suid`): a process that changed only its effective uid may
/// read a world-readable file, and setuid bits are honoured.
#[test]
fn root_defaults_let_other_users_in() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    fs::set_permissions(b, fs::Permissions::from_mode(0o755)).unwrap();
    write(&b.join("l/readable"), b"data");
    dirs(b, &["m"]);
    let _m = Mount::strata(&[&b.join("l")], None, &b.join("m"), "");
    let mut cat = Command::new("cat");
    cat.arg(b.join("m/readable"));
    // SAFETY: seteuid is async-signal-safe; the child only execs afterwards.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cat, || {
            if libc::seteuid(1) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    assert_eq!(run(&mut cat), "data", "euid 1 reads through a root mount");
    let opts = run(Command::new("findmnt")
        .args(["-no", "OPTIONS"])
        .arg(b.join("m")));
    assert!(!opts.contains("nosuid"), "mounted nosuid: {opts}");
}

/// `noacl` (a fuse-overlayfs option) leaves ACLs as plain xattrs: the
/// kernel then checks the mode bits alone. By default an ACL's grant holds.
#[test]
fn noacl_leaves_acls_unenforced() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    fs::set_permissions(b, fs::Permissions::from_mode(0o755)).unwrap();
    write(&b.join("l/granted"), b"data");
    fs::set_permissions(b.join("l/granted"), fs::Permissions::from_mode(0o600)).unwrap();
    run(Command::new("setfacl")
        .args(["-m", "u:65534:r"])
        .arg(b.join("l/granted")));
    for (opts, readable) in [("allow_other", true), ("allow_other,noacl", false)] {
        dirs(b, &["m"]);
        let _m = Mount::strata(&[&b.join("l")], None, &b.join("m"), opts);
        let read = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
            .arg(b.join("m/granted"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert_eq!(read, readable, "-o {opts}");
    }
}

/// `mount -t fuse.strata-fs SOURCE DIR -o lowerdir=…` goes through
/// mount.fuse3, which calls `strata-fs SOURCE DIR -o rw,lowerdir=…,dev,suid`.
#[test]
fn mount_fuse3_shape_via_mount_command() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    write(&b.join("l/a:b/f"), b"colon dir");
    dirs(b, &["u", "w", "m"]);
    let opts = format!(
        "lowerdir={},upperdir={},workdir={},dev,suid",
        b.join("l").display(),
        b.join("u").display(),
        b.join("w").display()
    );
    // mount(8) runs `mount.fuse3 TYPE#SOURCE DIR -o OPTS`; calling it with the
    // binary's full path as TYPE avoids installing into the system PATH.
    run(Command::new("mount.fuse3")
        .arg(format!("{}#strata", strata_fs().display()))
        .arg(b.join("m"))
        .args(["-o", &opts]));
    let guard = Mount {
        path: b.join("m"),
        kind: "strata",
    };
    assert_eq!(fs::read(b.join("m/a:b/f")).unwrap(), b"colon dir");
    fs::write(b.join("m/new"), b"through mount(8)").unwrap();
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        mounts
            .lines()
            .any(|l| l.starts_with("strata ") && !l.contains("nodev")),
        "{mounts}"
    );
    drop(guard);
    assert_eq!(fs::read(b.join("u/new")).unwrap(), b"through mount(8)");
}

/// `kill -9` of the daemon: the mountpoint fails with ENOTCONN instead of
/// hanging, it unmounts, mounts again, and the upper is intact.
#[test]
fn killed_daemon_leaves_a_recoverable_mount() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    write(&b.join("l/f"), b"lower");
    dirs(b, &["u", "w", "m"]);
    let m = b.join("m");
    let mut child = Command::new(strata_fs())
        .arg("-f")
        .arg("-o")
        .arg(format!(
            "lowerdir={},upperdir={},workdir={}",
            b.join("l").display(),
            b.join("u").display(),
            b.join("w").display()
        ))
        .arg(&m)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !is_mounted(&m) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "mount never appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    fs::write(m.join("written"), b"before the kill").unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    // stat must fail, not hang: do it in a thread with a deadline.
    let probe = m.join("written");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(fs::metadata(&probe).map(drop));
    });
    let res = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("stat on a dead mount hung");
    assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ENOTCONN));
    unmount(&m);
    assert!(!is_mounted(&m));
    let _again = Mount::strata(&[&b.join("l")], Some((&b.join("u"), &b.join("w"))), &m, "");
    assert_eq!(fs::read(m.join("written")).unwrap(), b"before the kill");
    assert_eq!(fs::read(m.join("f")).unwrap(), b"lower");
}

/// After umount the daemon ends and lets go of every fd on the layers, so
/// the filesystems holding them unmount next (no EBUSY), every time.
#[test]
fn unmount_releases_the_layers() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    dirs(b, &["fs", "m"]);
    for round in 0..5 {
        run(Command::new("mount")
            .args(["-t", "tmpfs", "tmpfs"])
            .arg(b.join("fs")));
        let fs_guard = Mount {
            path: b.join("fs"),
            kind: "tmpfs",
        };
        write(&b.join("fs/l/d/f"), b"lower");
        dirs(&b.join("fs"), &["u", "w"]);
        let m = Mount::strata(
            &[&b.join("fs/l")],
            Some((&b.join("fs/u"), &b.join("fs/w"))),
            &b.join("m"),
            "",
        );
        let keep_open = fs::File::open(b.join("m/d/f")).unwrap();
        fs::write(b.join("m/d/new"), b"upper").unwrap();
        drop(keep_open);
        drop(m);
        // The daemon may take a moment to exit after umount returns.
        let mut tries = 0;
        loop {
            let st = Command::new("umount")
                .arg(b.join("fs"))
                .stderr(Stdio::null())
                .status()
                .unwrap();
            if st.success() {
                break;
            }
            tries += 1;
            assert!(
                tries < 20,
                "round {round}: layer filesystem still busy 1s after umount"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(fs_guard);
    }
}

/// Copying a large file up does not hold up other operations: while its
/// data is being copied (its half-built copy visible in the scratch dir), a
/// lookup of another file completes.
#[test]
fn large_copy_up_does_not_stall_lookups() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    dirs(b, &["l", "u", "w", "m"]);
    write(&b.join("l/other"), b"o");
    run(Command::new("dd")
        .args(["if=/dev/zero", "bs=1M", "count=768", "status=none"])
        .arg(format!("of={}", b.join("l/big").display())));
    let _m = Mount::strata(
        &[&b.join("l")],
        Some((&b.join("u"), &b.join("w"))),
        &b.join("m"),
        "",
    );
    let scratch = b.join("w/strata-work");
    let big = b.join("m/big");
    let writer = std::thread::spawn(move || {
        let mut f = fs::OpenOptions::new().append(true).open(big).unwrap();
        std::io::Write::write_all(&mut f, b"x").unwrap();
    });
    let copying = || {
        fs::read_dir(&scratch)
            .map(|d| d.count() > 0)
            .unwrap_or(false)
    };
    let t0 = std::time::Instant::now();
    while !copying() {
        assert!(
            !writer.is_finished(),
            "copy-up finished before it could be observed"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "copy-up never started"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // A name the kernel has not seen: the lookup must reach the daemon.
    assert_eq!(fs::read(b.join("m/other")).unwrap(), b"o");
    assert!(copying(), "the lookup waited for the copy-up to finish");
    writer.join().unwrap();
    assert_eq!(
        fs::metadata(b.join("u/big")).unwrap().len(),
        (768 << 20) + 1
    );
    assert!(!copying(), "scratch dir not emptied");
}

fn chown_tree(p: &Path, uid: u32) {
    run(Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{uid}"))
        .arg(p));
}

/// As an unprivileged user (fusermount3): copy-up, whiteouts and ownership
/// changes kept in user.containers.override_stat.
#[test]
fn unprivileged_user_mount() {
    require_root();
    fuse_device_open_to_users();
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    fs::set_permissions(b, fs::Permissions::from_mode(0o755)).unwrap();
    write(&b.join("l/owned-by-root"), b"root's");
    write(&b.join("l/dir/inner"), b"i");
    dirs(b, &["u", "w", "m"]);
    chown_tree(&b.join("l/dir"), 65534);
    chown_tree(&b.join("u"), 65534);
    chown_tree(&b.join("w"), 65534);
    chown_tree(&b.join("m"), 65534);
    // A lower written by rootless containers/storage: real owner nobody,
    // intended owner and mode in the override xattr.
    write(&b.join("l/suid-root"), b"x");
    chown_tree(&b.join("l/suid-root"), 65534);
    set_xattr(
        &b.join("l/suid-root"),
        "user.containers.override_stat",
        b"0:0:04755:file",
    );
    let as_nobody = |script: &str| run_as_nobody(&["sh", "-ec", script]);
    let m = b.join("m");
    as_nobody(&format!(
        "{} -o lowerdir={},upperdir={},workdir={} {}",
        strata_fs().display(),
        b.join("l").display(),
        b.join("u").display(),
        b.join("w").display(),
        m.display()
    ));
    let guard = Mount {
        path: m.clone(),
        kind: "strata",
    };
    let out = as_nobody(&format!(
        "cd {m}; stat -c '%u %a' owned-by-root; echo new > mine; rm dir/inner; chmod 600 mine; stat -c '%u %a' mine; ls dir | wc -l; stat -c '%u %g %a' suid-root; getfattr -d -m- suid-root | grep -c override || true",
        m = m.display()
    ));
    assert_eq!(out, "0 644\n65534 600\n0\n0 0 4755\n0\n");
    // chmod kept the real file writable by its owner and the mode in the xattr.
    let real = fs::metadata(b.join("u/mine")).unwrap();
    assert_eq!(real.uid(), 65534);
    let o = xattr::get(b.join("u/mine"), "user.containers.override_stat")
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o), "65534:65534:0600:file");
    // The upper holds a whiteout for dir/inner, in a form made without privilege.
    let up = b.join("u/dir");
    let names: Vec<_> = fs::read_dir(&up)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    as_nobody(&format!("fusermount3 -u {}", m.display()));
    drop(guard);
    assert!(!is_mounted(&m));
    assert_eq!(fs::read(b.join("u/mine")).unwrap(), b"new\n");
}

/// Inside a user namespace (as podman rootless runs it), the mount works
/// and ids map: root in the namespace writes files owned by the mapped user.
#[test]
fn user_namespace_mount() {
    require_root();
    fuse_device_open_to_users();
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    fs::set_permissions(b, fs::Permissions::from_mode(0o755)).unwrap();
    write(&b.join("l/f"), b"lower");
    dirs(b, &["u", "w", "m"]);
    for d in ["u", "w", "m"] {
        chown_tree(&b.join(d), 65534);
    }
    let script = format!(
        "{bin} -o lowerdir={l},upperdir={u},workdir={w} {m} && cd {m} && cat f && echo ns > g && id -u && stat -c %u g && cd / && umount {m}",
        bin = strata_fs().display(),
        l = b.join("l").display(),
        u = b.join("u").display(),
        w = b.join("w").display(),
        m = b.join("m").display()
    );
    let out = run_as_nobody(&[
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "sh",
        "-ec",
        &script,
    ]);
    assert_eq!(out, "lower0\n0\n");
    let st = fs::metadata(b.join("u/g")).unwrap();
    assert_eq!(st.uid(), 65534, "namespace root maps to the user outside");
}

/// uidmapping/gidmapping as fuse-overlayfs reads them (`DISK:SHOWN:LEN`,
/// what containers/storage passes as CONTAINER:HOST:SIZE): on-disk ids
/// show shifted, unmapped ones as 65534, and a mapped user's new files land
/// on disk with the unshifted ids; squash_to_root shows everything as root.
#[test]
fn id_mappings_apply() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    write(&b.join("l/mapped"), b"m");
    write(&b.join("l/unmapped"), b"u");
    std::os::unix::fs::lchown(b.join("l/mapped"), Some(5), Some(6)).unwrap();
    std::os::unix::fs::lchown(b.join("l/unmapped"), Some(70_000), Some(70_000)).unwrap();
    dirs(b, &["m", "u", "w"]);
    fs::set_permissions(b, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(b.join("u"), fs::Permissions::from_mode(0o777)).unwrap();
    let ids = |p: &str| {
        let m = fs::metadata(b.join("m").join(p)).unwrap();
        (m.uid(), m.gid())
    };
    {
        let _m = Mount::strata(
            &[&b.join("l")],
            Some((&b.join("u"), &b.join("w"))),
            &b.join("m"),
            "uidmapping=0:100000:65536,gidmapping=0:100000:65536",
        );
        assert_eq!(ids("mapped"), (100_005, 100_006));
        assert_eq!(ids("unmapped"), (65534, 65534));
        // fuse-overlayfs, the reference for this option, agrees.
        dirs(b, &["f"]);
        run(Command::new("fuse-overlayfs")
            .arg("-o")
            .arg(format!(
                "lowerdir={},uidmapping=0:100000:65536,gidmapping=0:100000:65536",
                b.join("l").display()
            ))
            .arg(b.join("f")));
        let fovl = |p: &str| {
            fs::metadata(b.join("f").join(p))
                .map(|m| (m.uid(), m.gid()))
                .ok()
        };
        let seen = (fovl("mapped"), fovl("unmapped"));
        unmount(&b.join("f"));
        assert_eq!(seen, (Some((100_005, 100_006)), Some((65534, 65534))));
        assert_eq!(ids(""), (100_000, 100_000), "the root dir is disk 0");
        run(Command::new("setpriv")
            .args([
                "--reuid=100007",
                "--regid=100008",
                "--clear-groups",
                "touch",
            ])
            .arg(b.join("m/made")));
        assert_eq!(ids("made"), (100_007, 100_008));
    }
    let on_disk = fs::metadata(b.join("u/made")).unwrap();
    assert_eq!((on_disk.uid(), on_disk.gid()), (7, 8));
    let _m = Mount::strata(&[&b.join("l")], None, &b.join("m"), "squash_to_root");
    assert_eq!(ids("mapped"), (0, 0));
    assert_eq!(ids("unmapped"), (0, 0));
}

/// podman with mount_program = strata-fs runs a container on it.
#[test]
fn podman_runs_a_container_on_strata_fs() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    let rootfs = b.join("rootfs");
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static is installed");
    for c in ["sh", "cat", "ls", "echo", "rm", "id"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(c)).unwrap();
    }
    write(&rootfs.join("etc/motd"), b"from the image\n");
    run(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(b.join("rootfs.tar"))
        .arg("."));
    let conf = b.join("containers.conf");
    // Some hosts deny root raising RLIMIT_NOFILE/NPROC; crun refuses
    // hybrid cgroup hosts, so runc runs the container.
    fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
    )
    .unwrap();
    let _store = PodmanStore {
        conf: &conf,
        base: b,
    };
    let podman_with = |program: &Path, args: &[&str]| {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &conf)
            .arg("--root")
            .arg(b.join("root"))
            .arg("--runroot")
            .arg(b.join("runroot"))
            .args([
                "--runtime",
                "runc",
                "--storage-driver",
                "overlay",
                "--storage-opt",
            ])
            .arg(format!("overlay.mount_program={}", program.display()))
            .args(args);
        run(&mut c)
    };
    let strata = strata_fs();
    let podman = |args: &[&str]| podman_with(&strata, args);
    podman(&[
        "import",
        b.join("rootfs.tar").to_str().unwrap(),
        "localhost/strata-test",
    ]);
    let out = podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/strata-test",
        "sh",
        "-c",
        "cat /etc/motd; echo written > /etc/new; cat /etc/new; rm /etc/motd; ls /etc; grep ' / ' /proc/mounts | cut -d' ' -f3",
    ]);
    assert_eq!(
        out,
        "from the image\nwritten\nhostname\nhosts\nmtab\nnew\nfuse\n"
    );
    // A non-root container user reaches its own root filesystem (podman
    // passes no allow_other: strata-fs must add it as fuse-overlayfs does).
    let out = podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        "1000:1000",
        "localhost/strata-test",
        "sh",
        "-c",
        "id -u; cat /etc/motd",
    ]);
    assert_eq!(out, "1000\nfrom the image\n");
    // Id shifting: for a `--uidmap` container podman passes the mount
    // program `uidmapping=:0:100000:65536`; the tree it then shows must be
    // the one fuse-overlayfs shows for the same container.
    let owners_with = |program: &Path| {
        let args = ["--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"];
        podman_with(
            program,
            &[
                &["create", "--name", "shifted"],
                &args[..],
                &["localhost/strata-test", "sh"],
            ]
            .concat(),
        );
        let merged = podman_with(program, &["mount", "shifted"]);
        let owners = run(Command::new("ls")
            .args(["-lnR", "--time-style=+", "."])
            .current_dir(merged.trim()));
        podman_with(program, &["umount", "shifted"]);
        podman_with(program, &["rm", "shifted"]);
        owners
    };
    let fuse_overlayfs = Path::new("/usr/bin/fuse-overlayfs");
    assert_eq!(owners_with(&strata), owners_with(fuse_overlayfs));
}

/// Resets a test's private podman store when dropped, also when the test
/// fails: podman bind-mounts its overlay directory onto itself, and that
/// mount would outlive the test's temporary directory.
struct PodmanStore<'a> {
    conf: &'a Path,
    base: &'a Path,
}

impl Drop for PodmanStore<'_> {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .env("CONTAINERS_CONF", self.conf)
            .arg("--root")
            .arg(self.base.join("root"))
            .arg("--runroot")
            .arg(self.base.join("runroot"))
            .args(["system", "reset", "--force"])
            .output();
        unmount(&self.base.join("root/overlay"));
    }
}

/// Bad input: one clear line and a non-zero exit, nothing mounted.
#[test]
fn bad_input_gives_one_clear_error() {
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    fs::create_dir_all(b.join("l")).unwrap();
    let cases = [
        (
            format!("lowerdir={}", b.join("missing").display()),
            b.join("l"),
            "missing",
        ),
        (
            format!("lowerdir={}", b.join("l").display()),
            b.join("nomnt"),
            "nomnt",
        ),
        ("timeout=abc,lowerdir=/".to_string(), b.join("l"), "timeout"),
        (
            format!("upperdir={}", b.join("l").display()),
            b.join("l"),
            "workdir",
        ),
    ];
    for (opts, mnt, word) in cases {
        let out = Command::new(strata_fs())
            .args(["-o", &opts])
            .arg(&mnt)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{opts} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("strata-fs: ") && first.contains(word),
            "unclear error for {opts}: {err}"
        );
        assert!(!is_mounted(&mnt));
    }
}
