//! Shared test fixtures: a busybox-static image built in a temporary
//! directory, and a runtime with its own strata root beside it.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::time::Duration;

use runner::{ImageConfig, Resources, RootfsSource, RunOptions, Runtime};

pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub rt: Runtime,
    pub image: PathBuf,
}

/// A busybox image: every applet linked in /bin, root and nobody users.
fn build_image(dir: &Path) {
    for d in ["bin", "etc", "tmp", "root", "home/nobody"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
        }
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home/nobody:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("etc/group"),
        "root:x:0:\nstaff:x:50:nobody\nnogroup:x:65534:\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/notes"), "from the image\n").unwrap();
}

impl Fixture {
    pub fn new() -> Fixture {
        let tmp = tempfile::Builder::new()
            .prefix("strata-runner-test")
            .tempdir()
            .unwrap();
        let image = tmp.path().join("image");
        build_image(&image);
        let rt = Runtime::new(Some(tmp.path().join("root")))
            .with_shim(PathBuf::from(env!("CARGO_BIN_EXE_strata-shim")));
        Fixture { tmp, rt, image }
    }

    pub fn opts(&self, args: &[&str]) -> RunOptions {
        RunOptions {
            image: "busybox-test".into(),
            rootfs: Some(RootfsSource::Dirs(vec![self.image.clone()])),
            image_config: ImageConfig {
                env: vec!["PATH=/bin".into()],
                ..Default::default()
            },
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    pub fn with_limits(&self, args: &[&str], res: Resources) -> RunOptions {
        RunOptions {
            resources: res,
            ..self.opts(args)
        }
    }

    /// Creates and starts in the background; the exit code Docker would
    /// give when the command cannot start.
    pub fn start(&self, opts: RunOptions) -> Result<String, i32> {
        // Printed so a failing test shows why a start failed.
        let report = |e: runner::Error| {
            eprintln!("start failed: {e}");
            e.exit_code()
        };
        let id = self.rt.create(opts).map_err(report)?;
        let warnings = self.rt.start(&id).map_err(report)?;
        assert!(warnings.is_empty(), "{warnings:?}");
        Ok(id)
    }

    /// Runs to the end: (exit code, stdout, stderr).
    pub fn run(&self, opts: RunOptions) -> (i32, String, String) {
        let id = match self.start(opts) {
            Ok(id) => id,
            Err(code) => return (code, String::new(), String::new()),
        };
        let code = self.rt.wait(&id).unwrap();
        // -1: the supervisor vanished without recording an end.
        if code == -1 {
            let log = self
                .rt
                .store()
                .dir(&id)
                .join(runner::supervisor::SUPERVISOR_LOG);
            eprintln!(
                "supervisor died; its log: {:?}",
                std::fs::read_to_string(log)
            );
        }
        let (mut out, mut err) = (Vec::new(), Vec::new());
        self.rt.logs(&id, false, &mut out, &mut err).unwrap();
        self.rt.remove(&id, false).unwrap();
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    /// Fails the test unless nothing of container `id` is left: directory,
    /// cgroups, processes.
    pub fn assert_gone(&self, id: &str, cgroups: &[PathBuf], pids: &[runner::state::ProcRef]) {
        assert!(
            !self.rt.store().dir(id).exists(),
            "container directory left"
        );
        for c in cgroups {
            assert!(!c.exists(), "cgroup {} left", c.display());
        }
        for p in pids {
            assert!(!p.alive(), "process {} left", p.pid);
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(id), "a mount of the container is left");
    }
}

impl Drop for Fixture {
    /// Removes whatever a failed test left running, so temp dirs go too.
    fn drop(&mut self) {
        if let Ok(list) = self.rt.list() {
            for c in list {
                let _ = self.rt.remove(&c.id, true);
            }
        }
    }
}

/// Polls `f` until it is true or `limit` passes.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}
