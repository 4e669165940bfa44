//! Shared fixtures: private podman storage under a tempdir, busybox-based
//! images built by podman itself, and a fresh store. Tool failures panic
//! with the tool's stderr: these tests never skip silently.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use layerstore::Store;
use tempfile::TempDir;

/// Runs a command and returns stdout, panicking loudly on failure.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e} (is it installed? see crates/layerstore/README)")
    });
    if !out.status.success() {
        panic!(
            "{cmd:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A podman with its own storage, so tests run in parallel and leave
/// nothing behind.
pub struct Podman {
    pub dir: TempDir,
}

impl Podman {
    pub fn new() -> Podman {
        Podman {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    pub fn runroot(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(self.root())
            .arg("--runroot")
            .arg(self.runroot())
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

    pub fn podman(&self, args: &[&str]) -> String {
        run(self.cmd().args(args))
    }

    /// `podman image inspect` field via a Go template.
    pub fn inspect(&self, image: &str, format: &str) -> String {
        self.podman(&["image", "inspect", "--format", format, image])
            .trim()
            .to_string()
    }

    /// A one-layer image of busybox-static: bin/busybox plus a few applet
    /// links, imported by podman.
    pub fn busybox(&self, name: &str) -> String {
        let ctx = self
            .dir
            .path()
            .join(format!("rootfs-{}", name.replace(['/', ':'], "_")));
        fs::create_dir_all(ctx.join("bin")).unwrap();
        fs::create_dir_all(ctx.join("etc")).unwrap();
        fs::copy("/bin/busybox", ctx.join("bin/busybox"))
            .expect("busybox-static must be installed at /bin/busybox");
        for applet in ["sh", "ls", "cat", "echo", "mkdir", "rm", "ln"] {
            std::os::unix::fs::symlink("busybox", ctx.join("bin").join(applet)).unwrap();
        }
        fs::write(ctx.join("etc/motd"), "hello from strata tests\n").unwrap();
        let tarball = ctx.with_extension("tar");
        run(Command::new("tar")
            .arg("-C")
            .arg(&ctx)
            .arg("-cf")
            .arg(&tarball)
            .arg("."));
        self.podman(&["import", tarball.to_str().unwrap(), name]);
        self.inspect(name, "{{.Id}}")
    }

    /// A three-layer image built by podman: a hard link in layer 2, and in
    /// layer 3 a deleted file (whiteout) and a directory replaced.
    pub fn multi_layer(&self, base: &str, name: &str) -> String {
        let ctx = self
            .dir
            .path()
            .join(format!("ctx-{}", name.replace(['/', ':'], "_")));
        fs::create_dir_all(&ctx).unwrap();
        fs::write(
            ctx.join("Containerfile"),
            format!(
                "FROM {base}\n\
                 RUN [\"/bin/busybox\", \"sh\", \"-c\", \"mkdir -p /etc/d /x/sub && echo hi > /etc/d/f && echo a > /x/a && echo s > /x/sub/s && ln /etc/d/f /etc/d/hl && echo long > /etc/d/{long}\"]\n\
                 RUN [\"/bin/busybox\", \"sh\", \"-c\", \"rm -rf /etc/d/f /x /etc/motd && mkdir /x && echo b > /x/b\"]\n\
                 CMD [\"/bin/sh\"]\n",
                long = "n".repeat(150)
            ),
        )
        .unwrap();
        self.podman(&[
            "build",
            "--isolation",
            "chroot",
            "-q",
            "-t",
            name,
            ctx.to_str().unwrap(),
        ]);
        self.inspect(name, "{{.Id}}")
    }

    pub fn diff_ids(&self, image: &str) -> Vec<String> {
        self.inspect(image, "{{range .RootFS.Layers}}{{.}} {{end}}")
            .split_whitespace()
            .map(String::from)
            .collect()
    }
}

/// A fresh store in a tempdir.
pub fn store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("store")).unwrap();
    (dir, s)
}

/// Asserts the store is consistent and holds no images.
pub fn assert_clean_and_empty(store: &Store) {
    let r = layerstore::fsck::fsck(store).unwrap();
    assert!(r.is_clean(), "fsck found problems: {:?}", r.problems);
    assert!(
        layerstore::images::list(store).unwrap().is_empty(),
        "an image was stored"
    );
}

/// Number of files under a store directory (objects/, layers/, blobs/).
pub fn count_files(dir: &Path) -> usize {
    walk(dir).len()
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Hand-made archives, for inputs no well-behaved tool would write.
pub mod craft {
    use layerstore::Digest;
    use serde_json::json;

    /// One tar entry with its name and link written verbatim (the tar
    /// crate's builder refuses `..`, which is the point of some tests).
    pub struct Raw<'a> {
        pub name: &'a [u8],
        pub kind: tar::EntryType,
        pub link: &'a [u8],
        pub data: &'a [u8],
    }

    pub fn file<'a>(name: &'a str, data: &'a [u8]) -> Raw<'a> {
        Raw {
            name: name.as_bytes(),
            kind: tar::EntryType::Regular,
            link: b"",
            data,
        }
    }
    pub fn dir(name: &str) -> Raw<'_> {
        Raw {
            name: name.as_bytes(),
            kind: tar::EntryType::Directory,
            link: b"",
            data: b"",
        }
    }
    pub fn symlink<'a>(name: &'a str, target: &'a str) -> Raw<'a> {
        Raw {
            name: name.as_bytes(),
            kind: tar::EntryType::Symlink,
            link: target.as_bytes(),
            data: b"",
        }
    }
    pub fn hardlink<'a>(name: &'a str, target: &'a str) -> Raw<'a> {
        Raw {
            name: name.as_bytes(),
            kind: tar::EntryType::Link,
            link: target.as_bytes(),
            data: b"",
        }
    }

    /// A PAX extended header entry (`XHeader` for the next entry,
    /// `XGlobalHeader` for the archive) holding `records`.
    pub fn pax(kind: tar::EntryType, records: &[u8]) -> Raw<'_> {
        Raw {
            name: b"PaxHeaders/0",
            kind,
            link: b"",
            data: records,
        }
    }

    /// One PAX record, `LEN KEY=VALUE\n`, LEN counting the whole record.
    pub fn record(key: &str, value: &[u8]) -> Vec<u8> {
        let body = [key.as_bytes(), b"=", value, b"\n"].concat();
        let mut len = body.len() + 2;
        while len.to_string().len() + 1 + body.len() != len {
            len += 1;
        }
        [format!("{len} ").as_bytes(), &body].concat()
    }

    pub fn header(name: &[u8], kind: tar::EntryType, size: u64, link: &[u8]) -> [u8; 512] {
        let mut h = tar::Header::new_ustar();
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_size(size);
        h.set_entry_type(kind);
        let o = h.as_old_mut();
        o.name[..name.len()].copy_from_slice(name);
        o.linkname[..link.len()].copy_from_slice(link);
        h.set_cksum();
        *h.as_bytes()
    }

    /// A tar of `entries`, with the end-of-archive marker.
    pub fn tar(entries: &[Raw]) -> Vec<u8> {
        let mut out = Vec::new();
        for e in entries {
            out.extend_from_slice(&header(e.name, e.kind, e.data.len() as u64, e.link));
            out.extend_from_slice(e.data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    /// An image config for uncompressed layer tars.
    pub fn config(layers: &[&[u8]]) -> Vec<u8> {
        let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
        serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": { "Cmd": ["/bin/sh"] },
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
            "history": layers.iter().map(|_| json!({"created_by": "test"})).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    /// A classic docker-archive of `layers` (uncompressed tars) tagged
    /// `tag`, with the config named by its digest.
    pub fn docker_archive(layers: &[&[u8]], tag: &str) -> Vec<u8> {
        let cfg = config(layers);
        let cfg_name = format!("{}.json", Digest::of(&cfg).hex());
        let names: Vec<String> = (0..layers.len())
            .map(|i| format!("l{i}/layer.tar"))
            .collect();
        let manifest = json!([{ "Config": cfg_name, "RepoTags": [tag], "Layers": names }]);
        let mut members: Vec<(String, Vec<u8>)> = vec![(cfg_name, cfg)];
        for (n, l) in names.iter().zip(layers) {
            members.push((n.clone(), l.to_vec()));
        }
        members.push((
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        ));
        archive(&members)
    }

    /// A tar of named regular files.
    pub fn archive(members: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (n, d) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(d.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(0);
            b.append_data(&mut h, n, &d[..]).unwrap();
        }
        b.into_inner().unwrap()
    }
}
