//! Several processes on one store: concurrent loads of the same archive
//! both succeed and store one copy; a load killed with SIGKILL at any
//! moment leaves no visible image and a clean fsck.
//!
//! The child processes are this test binary re-run on the ignored test
//! `child_load`, which loads `STRATA_CHILD_ARCHIVE` into `STRATA_CHILD_ROOT`.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::craft::{self, dir, file};
use layerstore::{archive, fsck, images, Store};

#[test]
#[ignore = "helper run as a child process by the tests below"]
fn child_load() {
    let (Some(root), Some(input)) = (
        std::env::var_os("STRATA_CHILD_ROOT"),
        std::env::var_os("STRATA_CHILD_ARCHIVE"),
    ) else {
        return;
    };
    let mut s = Store::open(Path::new(&root)).unwrap();
    archive::load(&mut s, Path::new(&input)).unwrap();
    if let Some(out) = std::env::var_os("STRATA_CHILD_HWM") {
        // Peak RSS of this process image alone (the counter restarts at
        // exec, unlike rusage, which includes the parent's pages before it).
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let hwm = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        fs::write(out, hwm.split_whitespace().nth(1).unwrap()).unwrap();
    }
}

fn spawn_load(root: &Path, input: &Path) -> Child {
    child_command(root, input).spawn().unwrap()
}

fn child_command(root: &Path, input: &Path) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--ignored",
        "--exact",
        "child_load",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("STRATA_CHILD_ROOT", root)
    .env("STRATA_CHILD_ARCHIVE", input)
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    c
}

/// An archive with `files` distinct 64 KiB files and each also duplicated.
fn big_archive(path: &Path, files: usize) {
    let contents: Vec<Vec<u8>> = (0..files)
        .map(|i| {
            (0..16384u32)
                .flat_map(|j| (j ^ (i as u32).wrapping_mul(2654435761)).to_le_bytes())
                .collect()
        })
        .collect();
    let names: Vec<(String, String)> = (0..files)
        .map(|i| (format!("d/f{i}"), format!("d/copy{i}")))
        .collect();
    let mut entries = vec![dir("d")];
    for (i, (a, b)) in names.iter().enumerate() {
        entries.push(file(a, &contents[i]));
        entries.push(file(b, &contents[i]));
    }
    let layer = craft::tar(&entries);
    fs::write(path, craft::docker_archive(&[&layer], "big:1")).unwrap();
}

#[test]
fn concurrent_loads_store_one_copy() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("store");
    Store::open(&root).unwrap();
    let input = d.path().join("big.tar");
    big_archive(&input, 300);
    let children: Vec<Child> = (0..2).map(|_| spawn_load(&root, &input)).collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a concurrent load failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let s = Store::open(&root).unwrap();
    assert_eq!(images::list(&s).unwrap().len(), 1);
    assert_eq!(common::count_files(&root.join("objects")), 300);
    assert_eq!(common::count_files(&root.join("layers")), 1);
    let r = fsck::fsck(&s).unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
}

#[test]
fn kill_9_during_load_leaves_store_consistent() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("store");
    Store::open(&root).unwrap();
    let input = d.path().join("big.tar");
    big_archive(&input, 600);
    let mut killed = 0;
    for delay_ms in [30, 120, 250, 400, 700] {
        let mut c = spawn_load(&root, &input);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = c.kill(); // SIGKILL
        let finished = c.wait().unwrap().success();
        killed += usize::from(!finished);
        let s = Store::open(&root).unwrap();
        let r = fsck::fsck(&s).unwrap();
        assert!(r.is_clean(), "after kill at {delay_ms}ms: {:?}", r.problems);
        let n = images::list(&s).unwrap().len();
        assert!(n == 0 || finished, "a killed load left a visible image");
        if n == 1 {
            // The image is whole: it rebuilds.
            let v = layerstore::view::ImageView::open(&s, "big:1").unwrap();
            assert_eq!(v.layers().len(), 1);
            images::remove(
                &mut Store::open(&root).unwrap(),
                &["big:1".to_string()],
                false,
            )
            .unwrap();
        }
    }
    assert!(killed >= 2, "loads finished before they could be killed");
    // Leftovers of the killed loads are garbage that gc removes.
    let mut s = Store::open(&root).unwrap();
    layerstore::gc::prune(&mut s).unwrap();
    for sub in ["objects", "layers", "blobs", "tmp"] {
        assert_eq!(
            common::count_files(&root.join(sub)),
            0,
            "{sub}/ not emptied by prune"
        );
    }
    archive::load(&mut s, &input).unwrap();
    assert!(fsck::fsck(&s).unwrap().is_clean());
}

/// Emits a tar holding one file of `size` zero bytes, without ever holding
/// it in memory.
struct ZeroTar {
    header: Vec<u8>,
    pos: u64,
    size: u64,
}

impl ZeroTar {
    fn new(size: u64) -> ZeroTar {
        ZeroTar {
            header: craft::header(b"zeros", tar::EntryType::Regular, size, b"").to_vec(),
            pos: 0,
            size,
        }
    }
    fn total(&self) -> u64 {
        512 + self.size.div_ceil(512) * 512 + 1024
    }
}

impl std::io::Read for ZeroTar {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.total() - self.pos;
        let n = (buf.len() as u64).min(left) as usize;
        buf[..n].fill(0);
        if self.pos < 512 {
            let h = &self.header[self.pos as usize..];
            let m = h.len().min(n);
            buf[..m].copy_from_slice(&h[..m]);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// A layer that decompresses 1000:1 into a 128 MiB file loads with the
/// loading process's memory staying small: everything streams.
#[test]
fn decompression_bomb_memory_stays_bounded() {
    let size = 128 << 20;
    let d = tempfile::tempdir().unwrap();
    let mut hashed = layerstore::digest::HashingReader::new(ZeroTar::new(size));
    let mut enc = zstd::Encoder::new(Vec::new(), 3).unwrap();
    std::io::copy(&mut hashed, &mut enc).unwrap();
    let blob = enc.finish().unwrap();
    let (diff_id, _) = hashed.finish().unwrap();
    assert!(blob.len() < 1 << 20);
    let cfg = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [diff_id.to_string()] },
    });
    let cfg = serde_json::to_vec(&cfg).unwrap();
    let cfg_name = format!("{}.json", layerstore::Digest::of(&cfg).hex());
    let manifest = serde_json::json!([{ "Config": cfg_name, "RepoTags": ["bomb:1"], "Layers": ["l.tar.zst"] }]);
    let input = d.path().join("bomb.tar");
    fs::write(
        &input,
        craft::archive(&[
            (cfg_name, cfg),
            ("l.tar.zst".into(), blob),
            (
                "manifest.json".into(),
                serde_json::to_vec(&manifest).unwrap(),
            ),
        ]),
    )
    .unwrap();
    let root = d.path().join("store");
    let hwm_file = d.path().join("hwm");
    let out = child_command(&root, &input)
        .env("STRATA_CHILD_HWM", &hwm_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "load failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hwm_kib: u64 = fs::read_to_string(&hwm_file).unwrap().parse().unwrap();
    assert!(
        hwm_kib < 100 << 10,
        "loading a 128 MiB layer peaked at {} MiB",
        hwm_kib >> 10
    );
    let s = Store::open(&root).unwrap();
    let v = layerstore::view::ImageView::open(&s, "bomb:1").unwrap();
    assert_eq!(v.layers()[0].lookup(Path::new("zeros")).unwrap().size, size);
}
