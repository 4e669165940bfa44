//! `strata pull`/`push`/`login` against Debian's docker-registry on
//! 127.0.0.1: images pushed there by skopeo (Docker schema2 and OCI, gzip
//! and zstd, a multi-arch index), push then pull back with the same image
//! ID, an htpasswd registry, TLS with a CA made here, and the Bearer token
//! flow with a token service started by the test.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::registry::{
    make_tls, noise, skopeo_copy, DockerRegistry, Layout, RegistryConfig, TokenService, ISSUER,
    SERVICE,
};
use common::{busybox_rootfs, ok, out, tar_of};

/// A private home (credentials), store and scratch space for one test.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("home")).unwrap();
        fs::create_dir_all(dir.path().join("run")).unwrap();
        Env { dir }
    }
    fn path(&self, p: &str) -> std::path::PathBuf {
        self.dir.path().join(p)
    }
    /// `strata` on store `store`, with this test's home.
    fn strata(&self, store: &str) -> Command {
        let mut c = common::strata(&self.path(store));
        c.env("HOME", self.path("home"))
            .env("XDG_RUNTIME_DIR", self.path("run"))
            .env_remove("DOCKER_CONFIG")
            .env_remove("REGISTRY_AUTH_FILE");
        c
    }
    fn id(&self, store: &str, image: &str) -> String {
        let v: serde_json::Value =
            serde_json::from_str(&ok(self.strata(store).args(["image", "inspect", image])))
                .unwrap();
        v[0]["Id"].as_str().unwrap().to_string()
    }
    fn fsck(&self, store: &str) {
        ok(self.strata(store).arg("fsck"));
    }
}

/// A two-layer image (the second about 3 MiB, so it streams) in an OCI
/// layout as `oci:DIR:img`; returns the layout dir and the image ID.
fn two_layer_layout(env: &Env) -> (String, String) {
    let mut l = Layout::new(&env.path("layout"));
    let big = noise(3 << 20, 1);
    let (desc, id) = l.image(
        "amd64",
        None,
        &[
            &[("etc/hostname", b"strata\n"), ("bin/tool", b"#!/bin/sh\n")],
            &[("data/big", &big), ("etc/motd", b"hi\n")],
        ],
    );
    l.tag("img", desc);
    (l.dir.display().to_string(), id)
}

#[test]
fn pulls_schema2_and_oci_gzip_and_zstd() {
    let env = Env::new();
    let (layout, id) = two_layer_layout(&env);
    let home = env.path("home");
    let reg = DockerRegistry::start(RegistryConfig::default());
    let h = reg.host();
    skopeo_copy(
        &home,
        &[
            "--format",
            "v2s2",
            &format!("oci:{layout}:img"),
            &format!("docker://{h}/t/s2:v1"),
        ],
    );
    skopeo_copy(
        &home,
        &[
            "--format",
            "oci",
            &format!("oci:{layout}:img"),
            &format!("docker://{h}/t/oci:v1"),
        ],
    );
    // zstd in a registry of its own: skopeo would reuse the gzip blobs.
    let zreg = DockerRegistry::start(RegistryConfig::default());
    let zh = zreg.host();
    skopeo_copy(
        &env.path("zhome"),
        &[
            "--format",
            "oci",
            "--dest-compress-format",
            "zstd",
            &format!("oci:{layout}:img"),
            &format!("docker://{zh}/t/zst:v1"),
        ],
    );
    let raw = ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{zh}/t/zst:v1"),
    ]));
    assert!(
        raw.contains("tar+zstd"),
        "skopeo did not push zstd layers: {raw}"
    );
    let raw = ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{h}/t/s2:v1"),
    ]));
    assert!(
        raw.contains("application/vnd.docker.distribution.manifest.v2+json"),
        "{raw}"
    );

    for (store, r) in [
        ("s1", format!("{h}/t/s2:v1")),
        ("s2", format!("{h}/t/oci:v1")),
        ("s3", format!("{zh}/t/zst:v1")),
    ] {
        let stdout = ok(env.strata(store).args(["pull", &r]));
        assert!(
            stdout.contains("Pull complete") && stdout.ends_with(&format!("{r}\n")),
            "{stdout}"
        );
        assert_eq!(env.id(store, &r), id, "{r}");
        env.fsck(store);
    }
    // A second pull of the same image into a store that has it downloads
    // nothing; pulling the OCI one next to it shares the layers.
    let again = ok(env.strata("s1").args(["pull", &format!("{h}/t/s2:v1")]));
    assert!(
        again.contains("Image is up to date") && !again.contains("Pull complete"),
        "{again}"
    );
    let oci = ok(env.strata("s1").args(["pull", &format!("{h}/t/oci:v1")]));
    assert!(oci.matches("Already exists").count() == 2, "{oci}");

    // RepoDigests name the manifest, and pulling by digest resolves.
    let v: serde_json::Value = serde_json::from_str(&ok(env.strata("s1").args([
        "image",
        "inspect",
        &format!("{h}/t/s2:v1"),
    ])))
    .unwrap();
    let digests: Vec<&str> = v[0]["RepoDigests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(digests.len(), 2, "{digests:?}");
    let s2 = digests
        .iter()
        .find(|d| d.contains("/t/s2@sha256:"))
        .unwrap();
    let listed = ok(env.strata("s1").args(["images", "--digests"]));
    assert!(
        listed.contains(&s2[s2.find('@').unwrap() + 1..]),
        "{listed}"
    );
    let by_digest = ok(env.strata("s4").args(["pull", "-q", s2]));
    assert_eq!(by_digest.trim(), format!("{s2}"));
    assert_eq!(env.id("s4", s2), id);
    env.fsck("s4");
}

#[test]
fn multi_arch_index_and_all_tags() {
    let env = Env::new();
    let mut l = Layout::new(&env.path("layout"));
    let (amd, amd_id) = l.image("amd64", None, &[&[("arch", b"amd64\n")]]);
    let (arm64, arm64_id) = l.image("arm64", Some("v8"), &[&[("arch", b"arm64\n")]]);
    let (arm6, arm6_id) = l.image("arm", Some("v6"), &[&[("arch", b"armv6\n")]]);
    let index = l.index(vec![arm6, arm64, amd]);
    l.tag("multi", index);
    let reg = DockerRegistry::start(RegistryConfig::default());
    let h = reg.host();
    let src = format!("oci:{}:multi", l.dir.display());
    skopeo_copy(
        &env.path("home"),
        &["--all", &src, &format!("docker://{h}/m/app:v1")],
    );
    skopeo_copy(
        &env.path("home"),
        &["--all", &src, &format!("docker://{h}/m/app:v2")],
    );
    let r = format!("{h}/m/app:v1");

    ok(env.strata("a").args(["pull", &r]));
    assert_eq!(env.id("a", &r), amd_id, "this machine is amd64");
    ok(env
        .strata("b")
        .args(["pull", "--platform", "linux/arm64", &r]));
    assert_eq!(env.id("b", &r), arm64_id);
    // No v7 image: the ladder goes down to v6.
    ok(env
        .strata("c")
        .args(["pull", "--platform", "linux/arm/v7", &r]));
    assert_eq!(env.id("c", &r), arm6_id);
    let (code, stdout, err) = out(env
        .strata("d")
        .args(["pull", "--platform", "linux/s390x", &r]));
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no image for linux/s390x") && err.contains("linux/arm/v6"),
        "{err}"
    );
    assert!(!ok(env.strata("d").arg("images")).contains("m/app"));

    let all = ok(env
        .strata("e")
        .args(["pull", "-a", "-q", &format!("{h}/m/app")]));
    assert_eq!(all, format!("{h}/m/app:v1\n{h}/m/app:v2\n"));
    for s in ["a", "b", "c", "e"] {
        env.fsck(s);
    }
}

/// A one-layer busybox image imported into store `store` as `name`; the
/// same layer tar every time in one test.
fn busybox_image(env: &Env, store: &str, name: &str) -> String {
    let tar = env.path("bb.tar");
    if !tar.exists() {
        tar_of(&busybox_rootfs(&env.path("bb"), &["sh", "ls"]), &tar);
    }
    ok(env.strata(store).arg("import").arg(&tar).arg(name))
        .trim()
        .to_string()
}

fn digest_line(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| {
            l.split_once(": digest: ")
                .map(|(_, d)| d.split(' ').next().unwrap().to_string())
        })
        .unwrap_or_else(|| panic!("no digest line in {stdout}"))
}

#[test]
fn push_then_pull_back() {
    let env = Env::new();
    let reg = DockerRegistry::start(RegistryConfig::default());
    let h = reg.host();
    let r = format!("{h}/me/bb:1");
    let id = busybox_image(&env, "src", &r);

    let first = ok(env.strata("src").args(["push", &r]));
    assert!(first.contains("Pushed"), "{first}");
    let second = ok(env.strata("src").args(["push", &r]));
    assert!(
        second.contains("Layer already exists") && !second.contains("Pushed"),
        "{second}"
    );
    assert_eq!(digest_line(&first), digest_line(&second));

    // Another store pushing the same layer (in an image with another
    // creation time) compresses it to the same bytes.
    busybox_image(&env, "src2", &format!("{h}/me/other:1"));
    ok(env
        .strata("src2")
        .args(["push", &format!("{h}/me/other:1")]));
    let layers = |r: &str| {
        let raw = ok(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{r}"),
        ]));
        serde_json::from_str::<serde_json::Value>(&raw).unwrap()["layers"].clone()
    };
    assert_eq!(
        layers(&r),
        layers(&format!("{h}/me/other:1")),
        "compression is deterministic"
    );

    // Same registry, another repository: the blob is mounted.
    ok(env
        .strata("src")
        .args(["tag", &r, &format!("{h}/you/bb:1")]));
    let mounted = ok(env.strata("src").args(["push", &format!("{h}/you/bb:1")]));
    assert!(mounted.contains("Mounted from me/bb"), "{mounted}");

    ok(env.strata("dst").args(["pull", &r]));
    assert_eq!(env.id("dst", &r), id);
    let inspect = ok(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{r}"),
    ]));
    assert!(
        inspect.contains(&format!("\"Digest\": \"{}\"", digest_line(&first))),
        "{inspect}"
    );

    // zstd on request; pulled back, the same image.
    let z = format!("{h}/me/bbz:1");
    ok(env.strata("src").args(["tag", &r, &z]));
    let zpush = ok(env
        .strata("src")
        .args(["push", "--compression-format", "zstd", &z]));
    assert!(zpush.contains("Pushed"), "{zpush}");
    let raw = ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{z}"),
    ]));
    assert!(raw.contains("tar+zstd"), "{raw}");
    ok(env.strata("dstz").args(["pull", &z]));
    assert_eq!(env.id("dstz", &z), id);
    for s in ["src", "src2", "dst", "dstz"] {
        env.fsck(s);
    }
}

#[test]
fn htpasswd_login_and_logout() {
    let env = Env::new();
    let reg = DockerRegistry::start(RegistryConfig {
        htpasswd: Some(("alice".into(), "s3cret".into())),
        ..Default::default()
    });
    let h = reg.host();
    let r = format!("{h}/al/bb:1");
    busybox_image(&env, "src", &r);

    let (code, _, err) = out(env.strata("src").args(["push", &r]));
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    assert!(err.contains("unauthorized"), "{err}");

    let (code, _, err) = out(env
        .strata("src")
        .args(["login", "-u", "alice", "-p", "wrong", &h]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.lines().last().unwrap().contains("unauthorized"),
        "{err}"
    );
    let config = env.path("home/.docker/config.json");
    assert!(!config.exists());

    let mut login = env.strata("src");
    login
        .args(["login", "-u", "alice", "--password-stdin", &h])
        .stdin(std::process::Stdio::piped());
    login
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"s3cret\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Login Succeeded"));
    let v: serde_json::Value = serde_json::from_slice(&fs::read(&config).unwrap()).unwrap();
    assert_eq!(
        v["auths"][&h]["auth"], "YWxpY2U6czNjcmV0",
        "base64 of alice:s3cret"
    );
    assert_eq!(
        fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o600
    );

    ok(env.strata("src").args(["push", &r]));
    ok(env.strata("dst").args(["pull", &r]));

    assert!(ok(env.strata("src").args(["logout", &h])).contains("Removing login credentials"));
    let v: serde_json::Value = serde_json::from_slice(&fs::read(&config).unwrap()).unwrap();
    assert!(v["auths"].get(&h).is_none(), "{v}");
    let (code, _, err) = out(env.strata("dst2").args(["pull", &r]));
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");

    // podman's auth.json is read too.
    let podman_auth = env.path("run/containers/auth.json");
    fs::create_dir_all(podman_auth.parent().unwrap()).unwrap();
    fs::write(
        &podman_auth,
        format!(r#"{{"auths":{{"{h}":{{"auth":"YWxpY2U6czNjcmV0"}}}}}}"#),
    )
    .unwrap();
    ok(env.strata("dst2").args(["pull", &r]));
    env.fsck("dst2");
}

/// Removes a per-registry CA directory the test created under /etc.
struct CertsDir(std::path::PathBuf);
impl Drop for CertsDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn tls_with_a_test_ca() {
    common::require_root();
    let env = Env::new();
    fs::create_dir_all(env.path("tls")).unwrap();
    let (ca, cert, key) = make_tls(&env.path("tls"));
    let reg = DockerRegistry::start(RegistryConfig {
        tls: Some((cert, key)),
        ..Default::default()
    });
    let h = reg.host();
    let r = format!("{h}/tls/bb:1");
    busybox_image(&env, "src", &r);

    let (code, _, err) = out(env.strata("src").args(["push", &r]));
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    assert!(
        err.contains("certificate") || err.contains("UnknownIssuer"),
        "{err}"
    );

    // Named insecure: TLS without verification.
    ok(env
        .strata("src")
        .args(["push", "--insecure-registry", &h, &r]));

    let dir = Path::new("/etc/docker/certs.d").join(&h);
    fs::create_dir_all(&dir).unwrap();
    let _guard = CertsDir(dir.clone());
    fs::copy(&ca, dir.join("ca.crt")).unwrap();
    ok(env.strata("dst").args(["pull", &r]));
    env.fsck("dst");
}

#[test]
fn bearer_token_flow() {
    let env = Env::new();
    let tokens = TokenService::start("bob", "pw");
    let reg = DockerRegistry::start(RegistryConfig {
        token: Some((
            tokens.realm(),
            ISSUER.into(),
            SERVICE.into(),
            tokens.bundle.clone(),
        )),
        ..Default::default()
    });
    let h = reg.host();
    let r = format!("{h}/bob/bb:1");
    let id = busybox_image(&env, "src", &r);

    // Anonymous tokens only grant pull.
    let (code, _, err) = out(env.strata("src").args(["push", &r]));
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    let (code, _, err) = out(env
        .strata("src")
        .args(["login", "-u", "bob", "-p", "nope", &h]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.lines().last().unwrap().contains("unauthorized"),
        "{err}"
    );
    ok(env
        .strata("src")
        .args(["login", "-u", "bob", "-p", "pw", &h]));
    ok(env.strata("src").args(["push", &r]));
    // Cross-repository mount needs a token for two repositories.
    ok(env
        .strata("src")
        .args(["tag", &r, &format!("{h}/bob/copy:1")]));
    let m = ok(env.strata("src").args(["push", &format!("{h}/bob/copy:1")]));
    assert!(m.contains("Mounted from bob/bb"), "{m}");

    ok(env.strata("src").args(["logout", &h]));
    ok(env.strata("dst").args(["pull", &r]));
    assert_eq!(env.id("dst", &r), id);
    env.fsck("dst");
}

/// A layer larger than one upload chunk goes up in PATCHes and comes back
/// the same image.
#[test]
fn large_layer_is_pushed_in_chunks() {
    let env = Env::new();
    let reg = DockerRegistry::start(RegistryConfig::default());
    let r = format!("{}/big/img:1", reg.host());
    let root = env.path("bigroot");
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("noise"), noise(20 << 20, 3)).unwrap();
    let tar = env.path("big.tar");
    tar_of(&root, &tar);
    let id = ok(env.strata("src").arg("import").arg(&tar).arg(&r))
        .trim()
        .to_string();
    ok(env.strata("src").args(["push", &r]));
    let raw = ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{r}"),
    ]));
    let size = serde_json::from_str::<serde_json::Value>(&raw).unwrap()["layers"][0]["size"]
        .as_u64()
        .unwrap();
    assert!(
        size > distribution::client::push::CHUNK as u64,
        "layer of {size} bytes fits one chunk"
    );
    ok(env.strata("dst").args(["pull", &r]));
    assert_eq!(env.id("dst", &r), id);
    env.fsck("dst");
}
