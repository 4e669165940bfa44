//! The store through the `strata` command line: an import killed with
//! SIGKILL at any moment leaves no visible image and a clean fsck; load
//! reads stdin; errors are one line with a non-zero exit.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::{out, strata};
use std::time::Duration;

/// A flat rootfs tar of `n` distinct 64 KiB files.
fn rootfs_tar(dir: &Path, n: usize) -> std::path::PathBuf {
    let src = dir.join("src");
    fs::create_dir_all(src.join("d")).unwrap();
    for i in 0..n {
        let data: Vec<u8> = (0..16384u32)
            .flat_map(|j| (j ^ (i as u32).wrapping_mul(2_654_435_761)).to_le_bytes())
            .collect();
        fs::write(src.join(format!("d/f{i}")), data).unwrap();
    }
    let tar = dir.join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&src)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    tar
}

#[test]
fn kill_9_during_import_leaves_store_consistent() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    let tar = rootfs_tar(t.path(), 800);
    let mut killed = 0;
    for delay_ms in [20, 80, 160, 320, 600] {
        let mut child = strata(&root)
            .arg("import")
            .arg(&tar)
            .arg("big:1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let finished = child.wait().unwrap().success();
        killed += usize::from(!finished);
        let (code, _, err) = out(strata(&root).arg("fsck"));
        assert_eq!(code, 0, "fsck after a kill at {delay_ms} ms: {err}");
        let (_, images, _) = out(strata(&root).args(["images", "-q"]));
        if finished {
            assert_eq!(images.lines().count(), 1);
            let (code, _, err) = out(strata(&root).args(["rmi", "big:1"]));
            assert_eq!(code, 0, "{err}");
        } else {
            assert_eq!(images.trim(), "", "a killed import left a visible image");
        }
    }
    assert!(killed >= 2, "imports finished before they could be killed");
    let (code, _, err) = out(strata(&root).args(["system", "prune"]));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn load_from_stdin_and_one_line_errors() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    let tar = rootfs_tar(t.path(), 3);
    let (code, _, err) = out(strata(&root).arg("import").arg(&tar).arg("small:1"));
    assert_eq!(code, 0, "{err}");
    let saved = t.path().join("saved.tar");
    let (code, _, err) = out(strata(&root)
        .args(["save", "-o"])
        .arg(&saved)
        .arg("small:1"));
    assert_eq!(code, 0, "{err}");
    // Load it into a second store through stdin.
    let root2 = t.path().join("store2");
    let (code, stdout, err) = out(strata(&root2)
        .arg("load")
        .stdin(fs::File::open(&saved).unwrap()));
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("small:1"), "{stdout}");
    let id1 = out(strata(&root).args(["images", "-q"])).1;
    let id2 = out(strata(&root2).args(["images", "-q"])).1;
    assert_eq!(id1, id2, "image ID changed across save/load");

    // Bad input: one line on stderr, non-zero exit, store still clean.
    let truncated = t.path().join("truncated.tar");
    let bytes = fs::read(&saved).unwrap();
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    for args in [
        vec![
            "load".to_string(),
            "-i".into(),
            truncated.display().to_string(),
        ],
        vec!["rmi".into(), "nosuch:tag".into()],
        vec!["export".into(), "nosuch".into()],
        vec!["import".into(), "/nonexistent.tar".into()],
    ] {
        let (code, _, err) = out(strata(&root2).args(&args));
        assert_ne!(code, 0, "{args:?} should fail");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("strata: "), "{args:?}: {err}");
    }
    let (code, _, err) = out(strata(&root2).arg("fsck"));
    assert_eq!(code, 0, "{err}");
}
