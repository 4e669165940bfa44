//! A rootless container: the same runtime driven by an unprivileged user
//! (uid 65534) runs in a user namespace where only root is mapped.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use common::Fixture;

const DIR_VAR: &str = "STRATA_TEST_ROOTLESS_DIR";
const NOBODY: u32 = 65534;

fn chown_tree(p: &Path) {
    std::os::unix::fs::lchown(p, Some(NOBODY), Some(NOBODY)).unwrap();
    if p.is_dir() && !p.is_symlink() {
        for e in std::fs::read_dir(p).unwrap() {
            chown_tree(&e.unwrap().path());
        }
    }
}

/// Runs [`rootless_inner`] in this test binary as uid 65534.
#[test]
fn rootless_run_as_an_unprivileged_user() {
    let f = Fixture::new();
    let work = f.tmp.path().join("rootless");
    std::fs::create_dir(&work).unwrap();
    std::fs::create_dir(work.join("root")).unwrap();
    chown_tree(&work);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(f.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "rootless_inner",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_VAR, f.tmp.path())
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

#[test]
#[ignore = "run as uid 65534 by rootless_run_as_an_unprivileged_user"]
fn rootless_inner() {
    let base = PathBuf::from(std::env::var_os(DIR_VAR).expect("started by the rootless test"));
    assert_ne!(nix::unistd::geteuid().as_raw(), 0, "must run unprivileged");
    let rt = runner::Runtime::new(Some(base.join("rootless/root")))
        .with_shim(PathBuf::from(env!("CARGO_BIN_EXE_strata-shim")));
    let script = "id -u; cat /proc/self/uid_map; echo new > /etc/new; cat /etc/new; test -c /dev/null && echo devnull; ls /sys/class/net";
    let opts = runner::RunOptions {
        image: "busybox-test".into(),
        rootfs: Some(runner::RootfsSource::Dirs(vec![base.join("image")])),
        image_config: runner::ImageConfig {
            env: vec!["PATH=/bin".into()],
            ..Default::default()
        },
        args: vec!["sh".into(), "-c".into(), script.into()],
        resources: runner::Resources {
            memory: Some(64 << 20),
            ..Default::default()
        },
        ..Default::default()
    };
    let id = rt.create(opts.clone()).unwrap();
    // Not delegated here: one warning, and the container runs anyway.
    let warnings = rt.start(&id).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("resource limits not applied"),
        "{warnings:?}"
    );
    assert_eq!(rt.wait(&id).unwrap(), 0);
    let mut out = Vec::new();
    rt.logs(&id, false, &mut out, &mut Vec::new()).unwrap();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        ["0", &format!("0 {NOBODY} 1"), "new", "devnull", "lo"],
        "{out}"
    );
    // The write landed in the upper layer, owned by the user on the host.
    let upper = rt.store().dir(&id).join("upper/etc/new");
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&upper).unwrap()),
        NOBODY
    );

    rt.remove(&id, false).unwrap();
    assert!(!rt.store().dir(&id).exists());

    // exec joins the container's user namespace first, then the others.
    let id = rt
        .create(runner::RunOptions {
            args: vec!["sleep".into(), "100".into()],
            resources: Default::default(),
            ..opts
        })
        .unwrap();
    rt.start(&id).unwrap();
    let check = runner::exec::ExecOptions {
        args: vec![
            "sh".into(),
            "-c".into(),
            "[ \"$(tr '\\0' ' ' < /proc/1/cmdline)\" = 'sleep 100 ' ] && [ \"$(id -u)\" = 0 ]"
                .into(),
        ],
        ..Default::default()
    };
    assert_eq!(rt.exec(&id, &check).unwrap(), 0);
    rt.remove(&id, true).unwrap();
    assert!(!rt.store().dir(&id).exists());
}
