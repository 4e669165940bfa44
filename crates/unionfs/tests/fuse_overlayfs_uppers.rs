//! A user who switches podman's mount_program from fuse-overlayfs to
//! strata-fs keeps the containers fuse-overlayfs made: an upper (and lower)
//! written by fuse-overlayfs, rootful or rootless, must read through
//! strata-fs exactly as it reads through fuse-overlayfs itself.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Changes that make fuse-overlayfs write every kind of upper bookkeeping:
/// whiteouts over lower files and directories, an opaque directory over a
/// lower one, ownership and mode changes (kept in an override xattr when
/// rootless), a user xattr, new files, a symlink and a copied-up file.
const CHANGES: &str = "cd \"$1\"
rm keep/gone
rm -r dir
rm -r opq
mkdir opq
echo fresh > opq/new
echo appended >> keep/file
chmod 0640 keep/file
setfattr -n user.note -v kept keep/file
mkdir -p newdir/deeper
ln -s keep/file newdir/link
echo x > newdir/deeper/x";

/// What a reader sees: names, types, modes, owners, sizes, link targets,
/// contents and xattrs. Run as the user who mounted.
const DUMP: &str = "cd \"$1\"
find . -printf '%p %y %#m %U:%G %s %l\\n' | sort
find . -type f -exec md5sum {} + | sort
getfattr -R -h -d -m - . 2>/dev/null | grep -v '^$' | grep -v '^security\\.' || true";

fn sh(as_nobody: bool, script: &str, arg: &Path) -> String {
    let mut c = Command::new("setpriv");
    if as_nobody {
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    }
    run(c.args(["sh", "-ec", script, "sh"]).arg(arg))
}

/// Mounts `program` over the layers in `b` as root or nobody, runs
/// `script` in the mount, unmounts, and returns what the script printed.
fn through(program: &Path, b: &Path, as_nobody: bool, script: &str) -> String {
    let m = b.join("m");
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        b.join("l").display(),
        b.join("u").display(),
        b.join("w").display()
    );
    let mount = format!("{} -o {opts} \"$1\"", program.display());
    sh(as_nobody, &mount, &m);
    let out = std::panic::catch_unwind(|| sh(as_nobody, script, &m));
    unmount(&m);
    out.unwrap_or_else(|e| std::panic::resume_unwind(e))
}

fn layers(b: &Path, owner: Option<u32>) {
    write(&b.join("l/keep/file"), b"lower\n");
    write(&b.join("l/keep/gone"), b"g");
    write(&b.join("l/dir/inner"), b"i");
    write(&b.join("l/opq/hidden"), b"h");
    for d in ["u", "w", "m"] {
        fs::create_dir_all(b.join(d)).unwrap();
    }
    fs::set_permissions(b, fs::Permissions::from_mode(0o755)).unwrap();
    if let Some(uid) = owner {
        for d in ["l", "u", "w", "m"] {
            run(Command::new("chown")
                .arg("-R")
                .arg(format!("{uid}:{uid}"))
                .arg(b.join(d)));
        }
    }
}

/// fuse-overlayfs 1.10 (Debian's, which podman drives) and 2.0 (the Rust
/// rewrite; scripts/setup.sh installs it under target/peers).
fn fuse_overlayfs_versions() -> [PathBuf; 2] {
    let v2 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/peers/bin/fuse-overlayfs");
    assert!(
        v2.exists(),
        "{} is missing: run scripts/setup.sh",
        v2.display()
    );
    [PathBuf::from("/usr/bin/fuse-overlayfs"), v2]
}

/// Each fuse-overlayfs writes an upper (as `writer_nobody` says), then it
/// and strata-fs each read it (as `reader_nobody` says).
fn same_tree(writer_nobody: bool, reader_nobody: bool) {
    require_root();
    fuse_device_open_to_users();
    for fovl in fuse_overlayfs_versions() {
        let t = tempfile::tempdir().unwrap();
        let b = t.path();
        layers(b, writer_nobody.then_some(65534));
        through(&fovl, b, writer_nobody, CHANGES);
        let want = through(&fovl, b, reader_nobody, DUMP);
        let got = through(&strata_fs(), b, reader_nobody, DUMP);
        assert_eq!(got, want, "strata-fs (left) vs {} (right)", fovl.display());
        assert!(!want.contains("gone"), "whiteouts lost: {want}");
        // fuse-overlayfs 2.0.0 writes no opaque mark for a directory made
        // over a deleted lower one (its own remount shows the lower entries
        // again); strata-fs reads that upper as it does.
        if fovl.starts_with("/usr") {
            assert!(!want.contains("hidden"), "opaque dir lost: {want}");
        }
    }
}

#[test]
fn rootful_fuse_overlayfs_upper() {
    same_tree(false, false);
}

#[test]
fn rootless_fuse_overlayfs_upper() {
    same_tree(true, true);
}

/// A rootless upper (`.wh.` files, `user.` xattrs) read by root, whose own
/// uppers would use devices and `trusted.` xattrs.
#[test]
fn rootless_upper_read_by_root() {
    same_tree(true, false);
}

/// Older fuse-overlayfs kept ownership in `user.fuseoverlayfs.override_stat`
/// and marked opaque directories with `user.fuseoverlayfs.opaque`; both are
/// honoured and, like every overlay xattr, hidden from readers.
#[test]
fn older_fuse_overlayfs_xattrs() {
    require_root();
    fuse_device_open_to_users();
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    layers(b, Some(65534));
    write(&b.join("u/keep/file"), b"upper\n");
    run(Command::new("chown")
        .arg("-R")
        .arg("65534:65534")
        .arg(b.join("u")));
    set_xattr(
        &b.join("u/keep/file"),
        "user.fuseoverlayfs.override_stat",
        b"12:34:0604",
    );
    fs::create_dir(b.join("u/opq")).unwrap();
    run(Command::new("chown")
        .arg("65534:65534")
        .arg(b.join("u/opq")));
    set_xattr(&b.join("u/opq"), "user.fuseoverlayfs.opaque", b"y");
    let got = through(&strata_fs(), b, true, DUMP);
    assert!(got.contains("./keep/file f 0604 12:34 6"), "{got}");
    assert!(
        !got.contains("hidden"),
        "opaque dir shows lower entries: {got}"
    );
    assert!(
        !got.contains("fuseoverlayfs"),
        "private xattrs shown: {got}"
    );
}
