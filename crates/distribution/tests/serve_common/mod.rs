//! Shared pieces of the `serve` tests: a real server on 127.0.0.1 (in this
//! process, its own runtime, stopped on drop) over a fresh store, an HTTP
//! client, and tiny images built from real tar layers.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use distribution::server::{Config, Server};
use reqwest::blocking::{Client, Response};
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::with(|_| {})
    }

    /// A server over a new store, its config adjusted by `f`.
    pub fn with(f: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            addr: "127.0.0.1:0".parse().unwrap(),
            root: dir.path().join("store"),
            tls: None,
            htpasswd: None,
            read_only: false,
            max_upload: 1 << 30,
            upload_timeout: Duration::from_secs(600),
        };
        f(&mut config);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, addr) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let server = Server::bind(config).await.expect("server binds");
                ready.send(server.local_addr()).unwrap();
                server
                    .run_until(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr.recv().expect("server started");
        TestServer {
            addr,
            dir,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// `blobs/sha256/HEX` of the server's store.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        self.root()
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// Files left in the store's `tmp/`.
    pub fn tmp_files(&self) -> Vec<String> {
        std::fs::read_dir(self.root().join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// The store's images once `n` are there (pushed images are imported
    /// just after the push is acknowledged).
    pub fn wait_for_images(&self, n: usize) -> Vec<layerstore::images::ImageSummary> {
        for _ in 0..300 {
            let store = layerstore::Store::open(&self.root()).unwrap();
            let list = layerstore::images::list(&store).unwrap();
            if list.len() >= n {
                return list;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("fewer than {n} images after 15 s");
    }

    /// Pushes `data` as a blob of `repo` in one request; returns its digest.
    pub fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let d = sha256(data);
        let r = client()
            .post(self.url(&format!("/v2/{repo}/blobs/uploads/?digest={d}")))
            .body(data.to_vec())
            .send()
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
        d
    }

    /// Pushes `bytes` as a manifest of `repo` under `reference`.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Response {
        client()
            .put(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header("Content-Type", media_type)
            .body(bytes.to_vec())
            .send()
            .unwrap()
    }

    /// Pushes `image` to `repo:tag`, blobs first.
    pub fn push_image(&self, repo: &str, tag: &str, image: &TinyImage) -> String {
        self.push_blob(repo, &image.layer);
        self.push_blob(repo, &image.config);
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &image.manifest);
        assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
        sha256(&image.manifest)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Sends `request` (raw HTTP/1.1, as a client that does not normalise
/// paths would) and returns the status and the whole response.
pub fn raw(addr: std::net::SocketAddr, request: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, out)
}

/// A client that follows no redirects (status codes are what is tested).
pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The first error code of a spec error body.
pub fn error_code(r: Response) -> String {
    let v: serde_json::Value = r.json().expect("JSON error body");
    v["errors"][0]["code"].as_str().unwrap_or("").to_string()
}

/// An image of one uncompressed tar layer (files `name` → content), its
/// config and OCI manifest.
pub struct TinyImage {
    pub layer: Vec<u8>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl TinyImage {
    pub fn new(files: &[(&str, &[u8])]) -> TinyImage {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        for (name, content) in files {
            std::fs::write(root.join(name), content).unwrap();
        }
        let layer = tar_of(&root, &dir.path().join("layer.tar"));
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": { "Cmd": ["/bin/sh"] },
            "rootfs": { "type": "layers", "diff_ids": [sha256(&layer)] },
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(&config),
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": sha256(&layer),
                "size": layer.len(),
            }],
        }))
        .unwrap();
        TinyImage {
            layer,
            config,
            manifest,
        }
    }
}

fn tar_of(dir: &Path, out: &Path) -> Vec<u8> {
    let st = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["--owner=0", "--group=0", "-cf"])
        .arg(out)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read(out).unwrap()
}
