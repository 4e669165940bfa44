//! Shared pieces of the end-to-end tests: the `strata` binary under a
//! private store, podman under private storage, busybox-static root
//! filesystems, and guards that clean up after a failing test.

#![allow(dead_code)]

pub mod http;
pub mod registry;
pub mod serve;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// These tests mount FUSE and kernel overlayfs and run containers: root only
/// (CI runs as root; the unprivileged paths are tested by dropping privilege).
pub fn require_root() {
    assert!(nix::unistd::geteuid().is_root(), "these tests need root");
}

/// `strata --root ROOT`.
pub fn strata(root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_strata"));
    c.arg("--root").arg(root);
    c
}

/// Exit code, stdout and stderr of a command.
pub fn out(cmd: &mut Command) -> (i32, String, String) {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs and returns stdout, failing the test with stderr otherwise.
pub fn ok(cmd: &mut Command) -> String {
    let (code, stdout, err) = out(cmd);
    assert_eq!(code, 0, "{cmd:?}: {stdout}{err}");
    stdout
}

/// A podman with private storage (vfs, cgroupfs, file events), so tests
/// run in parallel and never touch the host's images.
pub struct Podman(pub tempfile::TempDir);

impl Podman {
    pub fn new() -> Podman {
        Podman(tempfile::tempdir().unwrap())
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(self.0.path().join("root"))
            .arg("--runroot")
            .arg(self.0.path().join("run"))
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
            ]);
        c
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd().args(["system", "reset", "--force"]).output();
    }
}

/// A mount that is unmounted on drop.
pub struct Mounted(pub PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// `DIR/rootfs` with busybox-static, the given applets and a root-only
/// /etc/passwd; returns the rootfs directory.
pub fn busybox_rootfs(dir: &Path, applets: &[&str]) -> PathBuf {
    let rootfs = dir.join("rootfs");
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    fs::create_dir_all(rootfs.join("etc")).unwrap();
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static installed");
    for a in applets {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    rootfs
}

/// A tar of the directory `src` (its contents at the archive root).
pub fn tar_of(src: &Path, tar: &Path) {
    ok(Command::new("tar")
        .arg("-C")
        .arg(src)
        .arg("-cf")
        .arg(tar)
        .arg("."));
}
