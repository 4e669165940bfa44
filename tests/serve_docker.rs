//! The real Docker client against `strata serve`: Debian's dockerd, started
//! by the test on private directories and without touching the host's
//! network, loads a busybox image, pushes it to strata serve over plain
//! HTTP on 127.0.0.1 (twice: the second finds the layer there), removes it,
//! pulls it back with the same image ID and runs it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::mount::{umount2, MntFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

mod common;
use common::serve::{busybox_archive, wait_listed, Serve, BUSYBOX};
use common::{ok, out, require_root, strata};

/// Debian's client, not the other `docker` earlier on PATH.
const DOCKER: &str = "/usr/bin/docker";
const DOCKERD: &str = "/usr/sbin/dockerd";

/// A dockerd whose socket, data root, exec root and pidfile live in its
/// own temporary directory, with no bridge and no iptables rules. On drop
/// it is stopped with SIGTERM (SIGKILL if it lingers), whatever it left
/// mounted under its directory is unmounted, and the directory removed.
struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Dockerd {
    fn start() -> Dockerd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let child = Command::new(DOCKERD)
            .args(["--storage-driver", "vfs"])
            .args(["--iptables=false", "--ip6tables=false", "--bridge", "none"])
            .arg("--host")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("pid"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("dockerd (Debian's docker.io) installed");
        let mut dockerd = Dockerd { child, dir };
        dockerd.wait_ready();
        dockerd
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("dockerd exited with {status}: {}", self.log());
            }
            if out(self.cmd().arg("version")).0 == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("dockerd not ready after 60 s: {}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// `/usr/bin/docker` talking to this daemon, with a private client
    /// configuration.
    fn cmd(&self) -> Command {
        let d = self.dir.path();
        let mut c = Command::new(DOCKER);
        c.env("DOCKER_CONFIG", d.join("config"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("docker.sock").display()));
        c
    }

    fn image_id(&self, image: &str) -> String {
        ok(self
            .cmd()
            .args(["image", "inspect", "-f", "{{.Id}}", image]))
        .trim()
        .to_string()
    }

    fn stop(&mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.stop();
        // Deepest first, so that nested mounts come off before their parent.
        let mut mounts = mounts_under(self.dir.path());
        mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        for m in mounts {
            let _ = umount2(&m, MntFlags::MNT_DETACH);
        }
    }
}

/// Mount points at or below `dir`, from /proc/self/mountinfo.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|m| m.starts_with(dir))
        .collect()
}

#[test]
fn docker_pushes_to_and_pulls_from_strata_serve() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let archive = busybox_archive(t.path());
    let root = t.path().join("server");
    let serve = Serve::start(&root, &[]);
    let docker = Dockerd::start();

    let loaded = ok(docker.cmd().arg("load").arg("-i").arg(&archive));
    assert!(loaded.contains(BUSYBOX), "{loaded}");
    let id = docker.image_id(BUSYBOX);
    let remote = format!("{}/ns/busybox:v1", serve.addr);
    ok(docker.cmd().args(["tag", BUSYBOX, &remote]));
    let pushed = ok(docker.cmd().args(["push", &remote]));
    assert!(pushed.contains("digest: sha256:"), "{pushed}");
    // Pushed again: the layer is found by HEAD, the manifest digest is the same.
    let again = ok(docker.cmd().args(["push", &remote]));
    assert!(again.contains("Layer already exists"), "{again}");
    let digest = |s: &str| {
        s.split_whitespace()
            .find(|w| w.starts_with("sha256:"))
            .map(str::to_string)
    };
    assert_eq!(digest(&pushed), digest(&again), "{pushed}{again}");

    // The server's store holds the image under the same ID.
    let images = wait_listed(&root, "ns/busybox");
    assert!(images.contains("v1"), "{images}");
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(strata(&root).args(["inspect", "ns/busybox:v1"]))).unwrap();
    assert_eq!(inspect[0]["Id"].as_str(), Some(id.as_str()), "{inspect}");

    ok(docker.cmd().args(["rmi", BUSYBOX, &remote]));
    let (code, _, _) = out(docker.cmd().args(["image", "inspect", &remote]));
    assert_ne!(code, 0, "{remote} still present after rmi");
    ok(docker.cmd().args(["pull", &remote]));
    assert_eq!(docker.image_id(&remote), id, "pulled image has another ID");

    let said = ok(docker
        .cmd()
        .args(["run", "--rm", "--network", "none", &remote]));
    assert_eq!(said, "hello from the registry\n");

    let fsck = ok(strata(&root).arg("fsck"));
    assert!(fsck.contains("ok"), "{fsck}");
}
