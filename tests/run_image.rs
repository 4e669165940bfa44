//! The main job end to end: a real rootfs (busybox-static) imported into the
//! store, then run as a container whose root is strata-fs serving the
//! stored layers, with cgroup limits; the image's CMD, the exit status, an
//! OOM kill under --memory, and the image left untouched by the container.

use std::fs;
use std::path::Path;

mod common;
use common::{busybox_rootfs, out, require_root, strata, tar_of};

fn import_busybox(dir: &Path, root: &Path) {
    let rootfs = busybox_rootfs(
        dir,
        &[
            "sh", "cat", "echo", "ps", "head", "tr", "rm", "ls", "hostname", "grep",
        ],
    );
    fs::write(rootfs.join("etc/motd"), "from the stored image\n").unwrap();
    let tar = dir.join("rootfs.tar");
    tar_of(&rootfs, &tar);
    let (code, _, err) = out(strata(root)
        .arg("import")
        .arg(&tar)
        .arg("localhost/bb:1")
        .args(["--change", r#"CMD ["cat", "/etc/motd"]"#]));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn run_a_stored_image_with_limits() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    import_busybox(t.path(), &root);

    // The image's CMD, on a FUSE root served from the store.
    let (code, stdout, err) = out(strata(&root).args([
        "run",
        "--rm",
        "--memory",
        "64m",
        "--pids-limit",
        "64",
        "--cpus",
        "1",
        "localhost/bb:1",
    ]));
    assert_eq!(
        (code, stdout.as_str()),
        (0, "from the stored image\n"),
        "{err}"
    );

    // Arguments replace CMD; the container's status is ours; pid 1 is the command;
    // the root is strata-fs.
    let (code, stdout, err) = out(strata(&root).args([
        "run",
        "--rm",
        "localhost/bb:1",
        "sh",
        "-c",
        "echo $$; grep ' / ' /proc/mounts | cut -d' ' -f1,3; rm /etc/motd; exit 7",
    ]));
    assert_eq!(code, 7, "{err}");
    assert_eq!(stdout, "1\nstrata-fs fuse\n");

    // The deletion stayed in that container's upper: the image is unchanged.
    let (code, stdout, _) = out(strata(&root).args(["run", "--rm", "localhost/bb:1"]));
    assert_eq!((code, stdout.as_str()), (0, "from the stored image\n"));

    // --memory: a process that needs more is OOM-killed, status 137.
    let (code, _, err) = out(strata(&root).args([
        "run",
        "--rm",
        "--memory",
        "32m",
        "--memory-swap",
        "32m",
        "localhost/bb:1",
        "sh",
        "-c",
        "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
    ]));
    assert_eq!(code, 137, "{err}");

    // No container is left behind, and the store is consistent.
    let (_, ps, _) = out(strata(&root).args(["ps", "-a", "-q"]));
    assert_eq!(ps.trim(), "");
    let (code, _, err) = out(strata(&root).arg("fsck"));
    assert_eq!(code, 0, "{err}");
}

/// no_new_privs is off unless asked for, as in Docker (setuid tools in
/// images need it off); `--security-opt no-new-privileges` turns it on.
#[test]
fn no_new_privileges_only_when_asked() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    import_busybox(t.path(), &root);
    let nnp = |extra: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["localhost/bb:1", "grep", "NoNewPrivs", "/proc/self/status"]);
        out(strata(&root).args(&args))
    };
    let (code, stdout, err) = nnp(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.trim_end().ends_with('0'), "{stdout}");
    let (code, stdout, err) = nnp(&["--security-opt", "no-new-privileges"]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.trim_end().ends_with('1'), "{stdout}");
    let (code, _, err) = nnp(&["--security-opt", "seccomp=unconfined"]);
    assert_eq!(code, 125);
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn run_unknown_image_is_docker_125() {
    let t = tempfile::tempdir().unwrap();
    let (code, _, err) = out(strata(&t.path().join("store")).args(["run", "--rm", "nosuch:1"]));
    assert_eq!(code, 125);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("nosuch"), "{err}");
}
