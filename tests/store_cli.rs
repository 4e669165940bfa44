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

/// Runs a strata command that must fail and returns its stderr, which must
/// be exactly one printable line however hostile the input.
fn refused(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(!o.status.success(), "{cmd:?} should fail");
    let err = String::from_utf8(o.stderr).expect("stderr is UTF-8");
    let line = err.strip_suffix('\n').unwrap_or("");
    assert!(
        line.starts_with("strata: ") && !line.chars().any(char::is_control),
        "{cmd:?}: stderr is not one printable line: {err:?}"
    );
    line.to_string()
}

/// A "layer" that is not a tar: a first block whose name and checksum
/// fields hold line breaks and terminal escapes (the tar parser quotes
/// both in its error), then pseudo-random bytes.
fn hostile_bytes() -> Vec<u8> {
    let mut b = vec![0u8; 512];
    let name = b"\x1b]0;pwned\x07\x1b[2J\rline one\x0bline two\nthree\xff";
    b[..name.len()].copy_from_slice(name);
    b[148..156].copy_from_slice(b"\x1b[31m\x0b\r\n");
    let mut x = 0x2545_f491_u32;
    b.extend((0..8192).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    }));
    b
}

/// Creates `tar` from one file named `name` under `dir`, with extra
/// `tar` arguments.
fn tar_of(dir: &Path, name: &str, args: &[&str], tar: &Path) {
    let src = dir.join("src-hostile");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join(name), b"data").unwrap();
    let st = Command::new("tar")
        .args(args)
        .arg("-C")
        .arg(&src)
        .arg("-cf")
        .arg(tar)
        .arg(name)
        .status()
        .unwrap();
    assert!(st.success());
    fs::remove_dir_all(&src).unwrap();
}

#[test]
fn hostile_input_gives_one_escaped_error_line() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    let junk = t.path().join("junk\n\x1b[31m.bin");
    fs::write(&junk, hostile_bytes()).unwrap();
    let err = refused(strata(&root).arg("import").arg(&junk));
    assert!(
        err.contains("junk\\n\\x1b[31m.bin: invalid tar stream"),
        "{err}"
    );
    assert!(
        err.contains("\\x1b[31m\\x0b\\r\\n when getting cksum"),
        "{err}"
    );
    refused(strata(&root).args(["load", "-i"]).arg(&junk));
    refused(
        strata(&root)
            .arg("load")
            .stdin(fs::File::open(&junk).unwrap()),
    );

    // A tar entry named with a line break and an escape sequence.
    let name = "evil\n\x1b[2J";
    let escapes = t.path().join("escapes.tar");
    tar_of(t.path(), name, &["-P", "--transform", "s|^|../|"], &escapes);
    let err = refused(strata(&root).arg("import").arg(&escapes));
    assert!(
        err.ends_with(
            "tar entry \"../evil\\n\\x1b[2J\": path escapes the layer root (\"..\" component)"
        ),
        "{err}"
    );

    // A PAX size Go refuses (GNU tar writes the record as a comment of
    // the same length, which is then overwritten).
    let pax = t.path().join("pax.tar");
    let placeholder = "comment=XXXXXXXXXXXXXXXXXXXX";
    let args = [
        "--format=posix",
        "--pax-option",
        &format!("{}:={}", "comment", &placeholder[8..]),
    ];
    tar_of(t.path(), "f", &args, &pax);
    let bytes = fs::read(&pax).unwrap();
    let at = bytes
        .windows(placeholder.len())
        .position(|w| w == placeholder.as_bytes())
        .unwrap();
    let mut bytes = bytes;
    bytes[at..at + placeholder.len()].copy_from_slice(b"size=99999999999999999999999");
    fs::write(&pax, bytes).unwrap();
    let err = refused(strata(&root).arg("import").arg(&pax));
    assert!(
        err.ends_with("tar entry \"f\": PAX record \"size=99999999999999999999999\": not a decimal number from 0 to 9223372036854775807"),
        "{err}"
    );

    let (code, _, err) = out(strata(&root).arg("fsck"));
    assert_eq!(code, 0, "{err}");
    let (_, images, _) = out(strata(&root).args(["images", "-q"]));
    assert_eq!(images, "", "a refused import left an image");
}
