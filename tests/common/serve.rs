//! `strata serve` under a test: started on a free port of 127.0.0.1, and
//! the wait for a pushed image to reach its store, and the busybox image
//! the clients push.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use super::{busybox_rootfs, ok, strata, tar_of};

/// `strata serve` on a free port of 127.0.0.1; killed (SIGKILL) on drop.
pub struct Serve {
    child: Child,
    pub addr: String,
}

impl Serve {
    pub fn start(root: &Path, extra: &[&str]) -> Serve {
        let mut child = strata(root)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit("://")
            .next()
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| panic!("serve did not start: {line:?}"))
            .to_string();
        Serve { child, addr }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `strata images` of `root` once it lists `name` (pushed images are
/// imported just after the push is acknowledged).
pub fn wait_listed(root: &Path, name: &str) -> String {
    for _ in 0..300 {
        let images = ok(strata(root).arg("images"));
        if images.contains(name) {
            return images;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name} not listed after 30 s");
}

/// The name of the image [`busybox_image`] stores.
pub const BUSYBOX: &str = "localhost/bb:1";

/// A store `DIR/src-store` holding [`BUSYBOX`]: busybox-static whose CMD
/// says "hello from the registry", plus `extra_file` if given; returns the
/// store.
pub fn busybox_image(dir: &Path, extra_file: Option<(&str, &[u8])>) -> PathBuf {
    let rootfs = busybox_rootfs(dir, &["sh", "echo", "cat"]);
    if let Some((name, content)) = extra_file {
        std::fs::write(rootfs.join(name), content).unwrap();
    }
    let tar = dir.join("rootfs.tar");
    tar_of(&rootfs, &tar);
    let src = dir.join("src-store");
    ok(strata(&src)
        .arg("import")
        .arg(&tar)
        .arg(BUSYBOX)
        .args(["-c", r#"CMD ["echo", "hello from the registry"]"#]));
    src
}

/// [`BUSYBOX`] saved as a docker-archive (what `podman load` and `docker
/// load` read); returns the archive.
pub fn busybox_archive(dir: &Path) -> PathBuf {
    let archive = dir.join("bb.tar");
    ok(strata(&busybox_image(dir, None))
        .args(["save", "-o"])
        .arg(&archive)
        .arg(BUSYBOX));
    archive
}
