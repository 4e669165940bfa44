//! `strata serve` with real clients on 127.0.0.1: skopeo (copy both ways,
//! inspect, list-tags, delete), podman (push and pull), curl, over HTTP and
//! over HTTPS with htpasswd auth; a pushed image runs with `strata run`;
//! and `kill -9` of the server in the middle of pushes leaves `strata
//! fsck` clean.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::serve::{busybox_archive, busybox_image, wait_listed, Serve, BUSYBOX};
use common::{busybox_rootfs, ok, out, require_root, strata, tar_of, Podman};

fn skopeo() -> Command {
    let mut c = Command::new("skopeo");
    c.arg("--insecure-policy");
    c
}

/// A busybox image saved as an OCI layout directory; returns the layout.
fn busybox_layout(dir: &Path, extra_file: Option<(&str, &[u8])>) -> PathBuf {
    let src = busybox_image(dir, extra_file);
    let layout = dir.join("layout");
    ok(strata(&src)
        .args(["save", "--format", "oci-dir", "-o"])
        .arg(&layout)
        .arg(BUSYBOX));
    layout
}

fn inspect_raw(addr: &str, image: &str) -> String {
    ok(skopeo().args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{addr}/{image}"),
    ]))
}

#[test]
fn skopeo_curl_and_strata_run() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let layout = busybox_layout(t.path(), None);
    let root = t.path().join("server");
    let s = Serve::start(&root, &[]);
    let a = &s.addr;

    ok(skopeo()
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}", layout.display()))
        .arg(format!("docker://{a}/test/busybox:v1")));
    let info = ok(skopeo().args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{a}/test/busybox:v1"),
    ]));
    assert!(info.contains("\"RepoTags\": [\n        \"v1\""), "{info}");
    let tags = ok(skopeo().args([
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{a}/test/busybox"),
    ]));
    assert!(tags.contains("\"v1\""), "{tags}");

    // A stored image on the server's store, which runs.
    let images = wait_listed(&root, "test/busybox");
    assert!(images.contains("v1"), "{images}");
    let (code, stdout, err) = out(strata(&root).args(["run", "--rm", "test/busybox:v1"]));
    assert_eq!(
        (code, stdout.as_str()),
        (0, "hello from the registry\n"),
        "{err}"
    );

    // Pulled back, pushed again with the same digests: the blobs come back
    // byte for byte.
    let back = t.path().join("back");
    ok(skopeo()
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{a}/test/busybox:v1"))
        .arg(format!("oci:{}", back.display())));
    ok(skopeo()
        .args(["copy", "--preserve-digests", "--dest-tls-verify=false"])
        .arg(format!("oci:{}", back.display()))
        .arg(format!("docker://{a}/copy/busybox:v1")));
    assert_eq!(
        inspect_raw(a, "test/busybox:v1"),
        inspect_raw(a, "copy/busybox:v1")
    );
    for e in std::fs::read_dir(back.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let served = root.join("blobs/sha256").join(e.file_name());
        assert_eq!(
            std::fs::read(e.path()).unwrap(),
            std::fs::read(served).unwrap()
        );
    }

    let catalog = ok(Command::new("curl").args(["-sf", &format!("http://{a}/v2/_catalog")]));
    assert_eq!(
        catalog,
        r#"{"repositories":["copy/busybox","test/busybox"]}"#
    );

    ok(skopeo().args([
        "delete",
        "--tls-verify=false",
        &format!("docker://{a}/copy/busybox:v1"),
    ]));
    let (code, _, err) = out(skopeo().args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{a}/copy/busybox:v1"),
    ]));
    assert_ne!(code, 0);
    assert!(err.contains("manifest unknown"), "{err}");
    let fsck = ok(strata(&root).arg("fsck"));
    assert!(fsck.contains("ok"), "{fsck}");
}

#[test]
fn podman_push_and_pull() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let archive = busybox_archive(t.path());
    let root = t.path().join("server");
    let s = Serve::start(&root, &[]);
    let a = &s.addr;
    let podman = Podman::new();

    // podman → strata serve
    ok(podman.cmd().arg("load").arg("-i").arg(&archive));
    ok(podman
        .cmd()
        .args(["push", "--tls-verify=false", BUSYBOX])
        .arg(format!("{a}/pod/busybox:1")));
    wait_listed(&root, "pod/busybox");

    // strata serve → podman
    ok(podman.cmd().args(["rmi", "-a", "-f"]));
    ok(podman
        .cmd()
        .args(["pull", "--tls-verify=false"])
        .arg(format!("{a}/pod/busybox:1")));
    let listed = ok(podman
        .cmd()
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert!(listed.contains(&format!("{a}/pod/busybox:1")), "{listed}");
    let fsck = ok(strata(&root).arg("fsck"));
    assert!(fsck.contains("ok"), "{fsck}");
}

#[test]
fn https_with_htpasswd() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let layout = busybox_layout(t.path(), None);
    let (cert, key) = (t.path().join("cert.pem"), t.path().join("key.pem"));
    ok(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null()));
    let htpasswd = t.path().join("htpasswd");
    let line = ok(Command::new("htpasswd").args(["-Bbn", "alice", "s3cret"]));
    std::fs::write(&htpasswd, line).unwrap();
    let root = t.path().join("server");
    let s = Serve::start(
        &root,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--htpasswd",
            htpasswd.to_str().unwrap(),
        ],
    );
    let a = &s.addr;
    let dest = format!("docker://{a}/secure/busybox:v1");
    let (code, _, err) = out(skopeo()
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}", layout.display()))
        .arg(&dest));
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("unauthorized"), "{err}");
    ok(skopeo()
        .args([
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "alice:s3cret",
        ])
        .arg(format!("oci:{}", layout.display()))
        .arg(&dest));
    // Verified TLS against the certificate, with auth.
    let catalog = ok(Command::new("curl")
        .args(["-sf", "--cacert"])
        .arg(&cert)
        .args(["-u", "alice:s3cret", &format!("https://{a}/v2/_catalog")]));
    assert_eq!(catalog, r#"{"repositories":["secure/busybox"]}"#);
    let (code, stdout, _) = out(Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(&cert)
        .arg(format!("https://{a}/v2/_catalog")));
    assert_eq!((code, stdout.as_str()), (0, "401"));
}

#[test]
fn kill_9_during_pushes_leaves_fsck_clean() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    // A layer big enough that pushes are in flight when the server dies.
    let noise: Vec<u8> = (0..24_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let layout = busybox_layout(t.path(), Some(("noise", &noise)));
    let root = t.path().join("server");
    for (i, delay_ms) in [30u64, 150, 400, 800, 1500, 2500].into_iter().enumerate() {
        let mut s = Serve::start(&root, &[]);
        let mut push = skopeo()
            .args(["copy", "--dest-tls-verify=false", "--retry-times", "0"])
            .arg(format!("oci:{}", layout.display()))
            .arg(format!("docker://{}/killed/n{i}:v1", s.addr))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        s.kill();
        let _ = push.wait();
        let (code, stdout, err) = out(strata(&root).arg("fsck"));
        assert_eq!(code, 0, "after kill at {delay_ms} ms: {stdout}{err}");
    }
    // The store still works: a full push succeeds and lists.
    let s = Serve::start(&root, &[]);
    ok(skopeo()
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}", layout.display()))
        .arg(format!("docker://{}/killed/final:v1", s.addr)));
    wait_listed(&root, "killed/final");
    ok(strata(&root).args(["system", "prune"]));
    let (code, stdout, err) = out(strata(&root).arg("fsck"));
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(ok(skopeo().args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{}/killed/final:v1", s.addr)
    ]))
    .contains("Digest"));
}

/// strata's own client against strata's own server: push, pull back into
/// another store with the same image ID, run it, and push again with the
/// same manifest digest (deterministic compression).
#[test]
fn strata_pushes_to_and_pulls_from_strata_serve() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let rootfs = busybox_rootfs(dir, &["sh", "echo", "cat"]);
    let tar = dir.join("rootfs.tar");
    tar_of(&rootfs, &tar);
    let client = dir.join("client");
    ok(strata(&client)
        .arg("import")
        .arg(&tar)
        .arg("demo:1")
        .args(["-c", r#"CMD ["echo", "pulled back from strata serve"]"#]));
    let id_of = |root: &Path, image: &str| {
        let v: serde_json::Value =
            serde_json::from_str(&ok(strata(root).args(["inspect", image]))).unwrap();
        v[0]["Id"].as_str().unwrap().to_string()
    };
    let id = id_of(&client, "demo:1");
    let registry = dir.join("registry");
    let serve = Serve::start(&registry, &[]);
    let remote = format!("{}/team/demo:1", serve.addr);
    ok(strata(&client).args(["tag", "demo:1", &remote]));
    let first = ok(strata(&client).args(["push", &remote]));
    let second = ok(strata(&client).args(["push", &remote]));
    let digest = |s: &str| {
        s.split_whitespace()
            .find(|w| w.starts_with("sha256:"))
            .map(str::to_string)
    };
    assert!(digest(&first).is_some(), "push printed no digest: {first}");
    assert_eq!(digest(&first), digest(&second), "pushes differ");
    wait_listed(&registry, "team/demo");
    let puller = dir.join("puller");
    ok(strata(&puller).args(["pull", &remote]));
    assert_eq!(id_of(&puller, &remote), id, "pulled image has another ID");
    let said = ok(strata(&puller).args(["run", "--rm", "--network", "none", &remote]));
    assert_eq!(said.trim(), "pulled back from strata serve");
    ok(strata(&puller).arg("fsck"));
    ok(strata(&registry).arg("fsck"));
}
