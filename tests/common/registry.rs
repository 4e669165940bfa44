//! Registries for the pull/push tests, all on 127.0.0.1: Debian's
//! `docker-registry` with its own config (optionally htpasswd, TLS with a
//! CA made here, or token auth backed by [`TokenService`]), OCI layouts
//! built by hand for skopeo to push there, and certificates from openssl.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use layerstore::Digest;
use serde_json::{json, Value};

use super::http::{respond, Request, Server};
use super::ok;

/// `n` bytes that compress poorly but are the same every run.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[derive(Default)]
pub struct RegistryConfig {
    /// (user, password) for an htpasswd file.
    pub htpasswd: Option<(String, String)>,
    /// (cert, key) PEM files.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Token auth: (realm URL, issuer, service, root cert bundle).
    pub token: Option<(String, String, String, PathBuf)>,
}

/// A `docker-registry` process with its own storage; killed on drop.
pub struct DockerRegistry {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl DockerRegistry {
    pub fn start(cfg: RegistryConfig) -> DockerRegistry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut y = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((cert, key)) = &cfg.tls {
            y.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        if let Some((user, pass)) = &cfg.htpasswd {
            let file = dir.path().join("htpasswd");
            ok(Command::new("htpasswd")
                .args(["-Bbc"])
                .arg(&file)
                .args([user, pass]));
            y.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                file.display()
            ));
        }
        if let Some((realm, issuer, service, bundle)) = &cfg.token {
            y.push_str(&format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                bundle.display()
            ));
        }
        let conf = dir.path().join("config.yml");
        fs::write(&conf, y).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.path().join("log")).unwrap())
            .spawn()
            .expect("docker-registry installed (scripts/setup.sh)");
        let r = DockerRegistry { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start: {}",
                r.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `skopeo copy` with TLS verification off (the registries are plain
/// HTTP on 127.0.0.1) and a private blob-info cache, so one test's
/// compressed blobs are never reused by another's copy.
pub fn skopeo_copy(home: &Path, args: &[&str]) -> String {
    ok(Command::new("skopeo")
        .env("HOME", home)
        .env("XDG_DATA_HOME", home)
        .arg("copy")
        .args(["--dest-tls-verify=false", "--src-tls-verify=false", "-q"])
        .args(args))
}

/// An OCI image layout written blob by blob.
pub struct Layout {
    pub dir: PathBuf,
    refs: Vec<Value>,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        Layout {
            dir: dir.to_path_buf(),
            refs: Vec::new(),
        }
    }

    fn blob(&self, bytes: &[u8], media_type: &str) -> Value {
        let d = Digest::of(bytes);
        fs::write(self.dir.join("blobs/sha256").join(d.hex()), bytes).unwrap();
        json!({"mediaType": media_type, "digest": d.to_string(), "size": bytes.len()})
    }

    /// An image for `arch` whose layers hold these files (uncompressed
    /// tars, made deterministic); returns its manifest descriptor and its
    /// image ID (the config digest).
    pub fn image(
        &self,
        arch: &str,
        variant: Option<&str>,
        layers: &[&[(&str, &[u8])]],
    ) -> (Value, String) {
        let work = tempfile::tempdir().unwrap();
        let mut descs = Vec::new();
        let mut diff_ids = Vec::new();
        for (i, files) in layers.iter().enumerate() {
            let root = work.path().join(format!("l{i}"));
            for (name, data) in *files {
                let p = root.join(name);
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(&p, data).unwrap();
            }
            fs::create_dir_all(&root).unwrap();
            let tar = work.path().join(format!("l{i}.tar"));
            ok(Command::new("tar")
                .args([
                    "--sort=name",
                    "--mtime=@0",
                    "--owner=0",
                    "--group=0",
                    "--numeric-owner",
                    "-C",
                ])
                .arg(&root)
                .arg("-cf")
                .arg(&tar)
                .arg("."));
            let bytes = fs::read(&tar).unwrap();
            diff_ids.push(Digest::of(&bytes).to_string());
            descs.push(self.blob(&bytes, "application/vnd.oci.image.layer.v1.tar"));
        }
        let mut config = json!({
            "architecture": arch, "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [],
        });
        if let Some(v) = variant {
            config["variant"] = json!(v);
        }
        let config = self.blob(
            config.to_string().as_bytes(),
            "application/vnd.oci.image.config.v1+json",
        );
        let id = config["digest"].as_str().unwrap().to_string();
        let manifest = json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config, "layers": descs,
        });
        let mut d = self.blob(
            manifest.to_string().as_bytes(),
            "application/vnd.oci.image.manifest.v1+json",
        );
        d["platform"] = json!({"architecture": arch, "os": "linux"});
        if let Some(v) = variant {
            d["platform"]["variant"] = json!(v);
        }
        (d, id)
    }

    /// An index of these manifests; returns its descriptor.
    pub fn index(&self, manifests: Vec<Value>) -> Value {
        let index = json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        self.blob(
            index.to_string().as_bytes(),
            "application/vnd.oci.image.index.v1+json",
        )
    }

    /// Names `desc` in index.json (`oci:DIR:NAME`).
    pub fn tag(&mut self, name: &str, mut desc: Value) {
        desc["annotations"] = json!({"org.opencontainers.image.ref.name": name});
        self.refs.push(desc);
        fs::write(
            self.dir.join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        let index = json!({"schemaVersion": 2, "manifests": self.refs});
        fs::write(self.dir.join("index.json"), index.to_string()).unwrap();
    }
}

/// A self-signed certificate for `cn`, valid two days, and its key.
fn self_signed(cn: &str, key: &Path, cert: &Path) {
    ok(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        ])
        .arg(format!("/CN={cn}"))
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .stderr(Stdio::null()));
}

/// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`:
/// returns (ca.crt, server.crt, server.key).
pub fn make_tls(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    self_signed("strata test CA", &p("ca.key"), &p("ca.crt"));
    ok(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr"))
        .stderr(Stdio::null()));
    fs::write(p("ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    ok(Command::new("openssl")
        .args(["x509", "-req", "-days", "2"])
        .arg("-in")
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.crt"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(p("ext"))
        .arg("-out")
        .arg(p("server.crt"))
        .stderr(Stdio::null()));
    (p("ca.crt"), p("server.crt"), p("server.key"))
}

/// A token service as Docker's spec describes: `GET /token?service=&scope=`
/// with optional Basic credentials, answering a JWT signed RS256 by a key
/// whose certificate the registry trusts. Anonymous callers get `pull`;
/// `user`/`pass` get everything asked; a wrong password gets 401.
pub struct TokenService {
    pub server: Server,
    pub bundle: PathBuf,
    _dir: tempfile::TempDir,
}

pub const ISSUER: &str = "strata-test-issuer";
pub const SERVICE: &str = "strata-test-registry";

impl TokenService {
    pub fn start(user: &str, pass: &str) -> TokenService {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let cert = dir.path().join("cert.pem");
        self_signed("token", &key, &cert);
        let der = ok_bytes(
            Command::new("openssl")
                .args(["x509", "-outform", "DER", "-in"])
                .arg(&cert),
        );
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let expected = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        let handler = move |req: &Request, conn: &mut TcpStream, _: &AtomicBool| {
            let auth = req.headers.get("authorization").cloned();
            let full = match auth.as_deref().and_then(|a| a.strip_prefix("Basic ")) {
                Some(b) if b == expected => true,
                Some(_) => {
                    respond(
                        conn,
                        "401 Unauthorized",
                        &[],
                        br#"{"details":"bad credentials"}"#,
                    );
                    return;
                }
                None => false,
            };
            let query = req.target.split_once('?').map_or("", |(_, q)| q);
            let mut access = Vec::new();
            for kv in query.split('&') {
                let Some(s) = kv.strip_prefix("scope=") else {
                    continue;
                };
                let s = percent_decode(s);
                let parts: Vec<&str> = s.split(':').collect();
                if parts.len() != 3 {
                    continue;
                }
                let actions: Vec<&str> = parts[2]
                    .split(',')
                    .filter(|a| full || *a == "pull")
                    .collect();
                access.push(json!({"type": parts[0], "name": parts[1], "actions": actions}));
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let header = json!({"alg": "RS256", "typ": "JWT", "x5c": [x5c]});
            let claims = json!({
                "iss": ISSUER, "sub": if full { "user" } else { "" }, "aud": SERVICE,
                "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", access.len()),
                "access": access,
            });
            let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let input = format!(
                "{}.{}",
                url.encode(header.to_string()),
                url.encode(claims.to_string())
            );
            let mut sign = Command::new("openssl")
                .args(["dgst", "-sha256", "-sign"])
                .arg(&key)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            std::io::Write::write_all(sign.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
            let sig = sign.wait_with_output().unwrap().stdout;
            let jwt = format!("{input}.{}", url.encode(sig));
            let body = json!({"access_token": jwt, "expires_in": 300});
            respond(
                conn,
                "200 OK",
                &[("Content-Type", "application/json".into())],
                body.to_string().as_bytes(),
            );
        };
        TokenService {
            server: Server::start(Arc::new(handler)),
            bundle: cert,
            _dir: dir,
        }
    }

    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.server.port)
    }
}

fn ok_bytes(cmd: &mut Command) -> Vec<u8> {
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{cmd:?}");
    o.stdout
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8(out).unwrap()
}
