//! `strata pull` against a misbehaving registry (a small HTTP server in
//! the test, on 127.0.0.1): wrong digests, truncated blobs, dropped
//! connections (resumed with Range), 500 then 200 (retried), oversized
//! manifests, 1,000 layers, redirect loops, a server that never answers,
//! unknown tags. A failure is one line and exit 1 with nothing stored and
//! fsck clean; a recoverable fault still pulls the right image.

mod common;

use std::collections::HashMap;
use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::http::{respond, Request, Server};
use common::registry::{noise, Layout};
use common::{ok, out};
use serde_json::json;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    None,
    WrongDigest,
    Truncate,
    DropOnce,
    Error500Once,
    BigManifest,
    ManyLayers,
    RedirectLoop,
    Hang,
}

/// A registry serving one image (`f/img:v1`) from an OCI layout, with
/// one fault.
struct FaultyRegistry {
    server: Server,
    id: String,
    /// Requests that asked for a range.
    ranges: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

impl FaultyRegistry {
    fn start(fault: Fault) -> FaultyRegistry {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Layout::new(&dir.path().join("layout"));
        let big = noise(4 << 20, 7);
        let (desc, id) = l.image(
            "amd64",
            None,
            &[&[("etc/small", b"small\n")], &[("data/big", &big)]],
        );
        l.tag("img", desc.clone());
        let blob = |d: &str| {
            fs::read(
                l.dir
                    .join("blobs/sha256")
                    .join(d.strip_prefix("sha256:").unwrap()),
            )
            .unwrap()
        };
        let manifest = blob(desc["digest"].as_str().unwrap());
        let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        let big_digest = m["layers"][1]["digest"].as_str().unwrap().to_string();
        let mut blobs: HashMap<String, Vec<u8>> = HashMap::new();
        for d in m["layers"].as_array().unwrap().iter().chain([&m["config"]]) {
            let d = d["digest"].as_str().unwrap();
            blobs.insert(d.to_string(), blob(d));
        }
        let manifest = match fault {
            Fault::ManyLayers => {
                let layer = m["layers"][0].clone();
                let mut many = m.clone();
                many["layers"] = json!(vec![layer; 1000]);
                many.to_string().into_bytes()
            }
            _ => manifest,
        };
        let ranges = Arc::new(AtomicUsize::new(0));
        let hits = AtomicUsize::new(0);
        let r = ranges.clone();
        let handler = move |req: &Request, conn: &mut TcpStream, stop: &AtomicBool| {
            let json_hdr = ("Content-Type", "application/json".to_string());
            let path = req.target.split('?').next().unwrap_or("");
            if path == "/v2/" {
                return respond(conn, "200 OK", &[json_hdr], b"{}");
            }
            if let Some(reference) = path.strip_prefix("/v2/f/img/manifests/") {
                if fault == Fault::Hang {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    return;
                }
                if fault == Fault::Error500Once && hits.fetch_add(1, Ordering::Relaxed) == 0 {
                    return respond(conn, "500 Internal Server Error", &[], b"");
                }
                if reference != "v1" {
                    let body =
                        br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
                    return respond(conn, "404 Not Found", &[json_hdr], body);
                }
                let ct = (
                    "Content-Type",
                    "application/vnd.oci.image.manifest.v1+json".to_string(),
                );
                if fault == Fault::BigManifest {
                    let mut big = manifest.clone();
                    big.resize(10 << 20, b' ');
                    return respond(conn, "200 OK", &[ct], &big);
                }
                return respond(conn, "200 OK", &[ct], &manifest);
            }
            let Some(digest) = path.strip_prefix("/v2/f/img/blobs/") else {
                return respond(conn, "404 Not Found", &[], b"");
            };
            let Some(data) = blobs.get(digest) else {
                return respond(conn, "404 Not Found", &[], b"");
            };
            let is_big = digest == big_digest;
            let range = req
                .headers
                .get("range")
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|s| s.parse::<usize>().ok());
            match fault {
                Fault::RedirectLoop if is_big => {
                    return respond(
                        conn,
                        "307 Temporary Redirect",
                        &[("Location", req.target.clone())],
                        b"",
                    );
                }
                Fault::WrongDigest if is_big => {
                    let mut bad = data.clone();
                    let mid = bad.len() / 2;
                    bad[mid] ^= 0xff;
                    return respond(conn, "200 OK", &[], &bad);
                }
                // Every answer is short but consistent with itself.
                Fault::Truncate if is_big => {
                    return respond(conn, "200 OK", &[], &data[..data.len() / 2])
                }
                Fault::DropOnce if is_big && range.is_none() => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                        data.len()
                    );
                    use std::io::Write;
                    let _ = conn.write_all(head.as_bytes());
                    let _ = conn.write_all(&data[..data.len() / 3]);
                    return; // closed mid-body
                }
                _ => {}
            }
            match range {
                Some(start) => {
                    r.fetch_add(1, Ordering::Relaxed);
                    let cr = format!("bytes {start}-{}/{}", data.len() - 1, data.len());
                    respond(
                        conn,
                        "206 Partial Content",
                        &[("Content-Range", cr)],
                        &data[start..],
                    )
                }
                None => respond(conn, "200 OK", &[], data),
            }
        };
        FaultyRegistry {
            server: Server::start(Arc::new(handler)),
            id,
            ranges,
            _dir: dir,
        }
    }

    fn reference(&self, tag: &str) -> String {
        format!("{}/f/img:{tag}", self.server.host())
    }
}

fn strata(root: &Path) -> std::process::Command {
    let mut c = common::strata(root);
    c.env("STRATA_REGISTRY_TIMEOUT", "1");
    c
}

/// The pull failed with one line, and the store holds nothing.
fn assert_refused(fault: Fault, tag: &str, expect: &str) {
    let reg = FaultyRegistry::start(fault);
    let root = tempfile::tempdir().unwrap();
    let (code, stdout, err) = out(strata(root.path()).args(["pull", "-q", &reg.reference(tag)]));
    assert_eq!(code, 1, "{fault:?}: {stdout}{err}");
    assert_eq!(err.lines().count(), 1, "{fault:?}: {err}");
    assert!(err.contains(expect), "{fault:?}: {err:?} lacks {expect:?}");
    assert_eq!(
        ok(strata(root.path()).args(["images", "-q"])),
        "",
        "{fault:?}"
    );
    for d in ["objects", "layers", "tmp"] {
        let n = fs::read_dir(root.path().join(d)).unwrap().count();
        assert_eq!(n, 0, "{fault:?}: {d}/ is not empty");
    }
    ok(strata(root.path()).arg("fsck"));
}

#[test]
fn wrong_digest() {
    assert_refused(Fault::WrongDigest, "v1", "digest mismatch");
}

#[test]
fn truncated_blob() {
    assert_refused(Fault::Truncate, "v1", "truncated");
}

#[test]
fn oversized_manifest() {
    assert_refused(Fault::BigManifest, "v1", "larger than");
}

#[test]
fn thousand_layers() {
    assert_refused(Fault::ManyLayers, "v1", "1000 layers");
}

#[test]
fn redirect_loop() {
    assert_refused(Fault::RedirectLoop, "v1", "redirect");
}

#[test]
fn never_answers() {
    assert_refused(Fault::Hang, "v1", "timed out");
}

#[test]
fn unknown_tag() {
    assert_refused(Fault::None, "nope", "manifest unknown");
}

/// Pulls despite the fault, and gets the right image.
fn assert_recovers(fault: Fault) -> FaultyRegistry {
    let reg = FaultyRegistry::start(fault);
    let root = tempfile::tempdir().unwrap();
    let r = reg.reference("v1");
    ok(strata(root.path()).args(["pull", &r]));
    let v: serde_json::Value =
        serde_json::from_str(&ok(strata(root.path()).args(["image", "inspect", &r]))).unwrap();
    assert_eq!(v[0]["Id"], reg.id.as_str(), "{fault:?}");
    ok(strata(root.path()).arg("fsck"));
    reg
}

#[test]
fn dropped_connection_resumes_with_range() {
    let reg = assert_recovers(Fault::DropOnce);
    assert_eq!(
        reg.ranges.load(Ordering::Relaxed),
        1,
        "resumed once with Range"
    );
}

#[test]
fn server_error_then_success_is_retried() {
    assert_recovers(Fault::Error500Once);
}

#[test]
fn unknown_repository_host_and_bad_reference() {
    let root = tempfile::tempdir().unwrap();
    let (code, _, err) = out(strata(root.path()).args(["pull", "Bad/Name"]));
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    // Nothing listens on this port: connection refused, after retries.
    let port = common::registry::free_port();
    let (code, _, err) = out(strata(root.path()).args(["pull", &format!("127.0.0.1:{port}/x:1")]));
    assert_eq!((code, err.lines().count()), (1, 1), "{err}");
    assert!(err.contains("refused") || err.contains("connect"), "{err}");
}
