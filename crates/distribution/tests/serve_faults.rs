//! `strata serve` under faults and load: clients that go away mid-upload,
//! stale sessions, the same blob pushed at once by several clients, 50
//! concurrent pulls, and gc/fsck over what the registry keeps.

mod serve_common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use serve_common::*;

#[test]
fn client_gone_mid_upload_leaves_no_blob_and_can_resume() {
    let s = TestServer::start();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let d = sha256(&data);
    let r = client().post(s.url("/v2/r/blobs/uploads/")).send().unwrap();
    let loc = r.headers()["Location"].to_str().unwrap().to_string();

    // A PATCH announcing the whole blob that sends a quarter and hangs up.
    let mut c = TcpStream::connect(s.addr).unwrap();
    write!(
        c,
        "PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        data.len()
    )
    .unwrap();
    c.write_all(&data[..50_000]).unwrap();
    drop(c);

    // Nothing is visible, now or after the server noticed.
    std::thread::sleep(Duration::from_millis(300));
    let r = client()
        .head(s.url(&format!("/v2/r/blobs/{d}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(!s.blob_file(&d).exists());
    // What arrived is kept: the client resumes from the offset it is told.
    let r = client().get(s.url(&loc)).send().unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["Range"], "0-49999");
    let r = client()
        .put(s.url(&format!("{loc}?digest={d}")))
        .header("Content-Range", format!("50000-{}", data.len() - 1))
        .body(data[50_000..].to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let got = client()
        .get(s.url(&format!("/v2/r/blobs/{d}")))
        .send()
        .unwrap();
    assert_eq!(got.bytes().unwrap().as_ref(), &data[..]);

    // A monolithic upload cut short never becomes a blob.
    let other: Vec<u8> = vec![3u8; 100_000];
    let od = sha256(&other);
    let mut c = TcpStream::connect(s.addr).unwrap();
    write!(
        c,
        "POST /v2/r/blobs/uploads/?digest={od} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        other.len()
    )
    .unwrap();
    c.write_all(&other[..10_000]).unwrap();
    drop(c);
    std::thread::sleep(Duration::from_millis(300));
    let r = client()
        .head(s.url(&format!("/v2/r/blobs/{od}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(!s.blob_file(&od).exists());
}

#[test]
fn stale_sessions_expire() {
    let s = TestServer::with(|c| c.upload_timeout = Duration::from_millis(500));
    let r = client().post(s.url("/v2/r/blobs/uploads/")).send().unwrap();
    let loc = r.headers()["Location"].to_str().unwrap().to_string();
    client()
        .patch(s.url(&loc))
        .body(vec![1u8; 1000])
        .send()
        .unwrap();
    assert_eq!(s.tmp_files().len(), 1);
    std::thread::sleep(Duration::from_millis(1500));
    let r = client().get(s.url(&loc)).send().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "BLOB_UPLOAD_UNKNOWN");
    assert!(s.tmp_files().is_empty(), "{:?}", s.tmp_files());
}

#[test]
fn same_blob_pushed_at_once_is_stored_once() {
    let s = TestServer::start();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let d = sha256(&data);
    std::thread::scope(|scope| {
        for i in 0..8 {
            let (s, data, d) = (&s, &data, &d);
            scope.spawn(move || {
                // Half chunked, half monolithic.
                let repo = format!("r{}", i % 2);
                if i % 2 == 0 {
                    let r = client()
                        .post(s.url(&format!("/v2/{repo}/blobs/uploads/?digest={d}")))
                        .body(data.clone())
                        .send()
                        .unwrap();
                    assert_eq!(r.status(), 201);
                } else {
                    let r = client()
                        .post(s.url(&format!("/v2/{repo}/blobs/uploads/")))
                        .send()
                        .unwrap();
                    let loc = r.headers()["Location"].to_str().unwrap().to_string();
                    for (n, chunk) in data.chunks(1 << 20).enumerate() {
                        let start = n << 20;
                        let r = client()
                            .patch(s.url(&loc))
                            .header(
                                "Content-Range",
                                format!("{start}-{}", start + chunk.len() - 1),
                            )
                            .body(chunk.to_vec())
                            .send()
                            .unwrap();
                        assert_eq!(r.status(), 202);
                    }
                    let r = client()
                        .put(s.url(&format!("{loc}?digest={d}")))
                        .send()
                        .unwrap();
                    assert_eq!(r.status(), 201);
                }
            });
        }
    });
    let blobs: Vec<_> = std::fs::read_dir(s.root().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(blobs, vec![std::ffi::OsString::from(&d["sha256:".len()..])]);
    assert!(s.tmp_files().is_empty(), "{:?}", s.tmp_files());
    for repo in ["r0", "r1"] {
        let r = client()
            .head(s.url(&format!("/v2/{repo}/blobs/{d}")))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

#[test]
fn fifty_concurrent_pulls() {
    let s = TestServer::start();
    let big: Vec<u8> = (0..4_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let img = TinyImage::new(&[("big", &big), ("small", b"x")]);
    s.push_image("pull/me", "v1", &img);
    let layer = sha256(&img.layer);
    std::thread::scope(|scope| {
        for _ in 0..50 {
            let (s, img, layer) = (&s, &img, &layer);
            scope.spawn(move || {
                let c = client();
                let m = c.get(s.url("/v2/pull/me/manifests/v1")).send().unwrap();
                assert_eq!(m.status(), 200);
                assert_eq!(m.bytes().unwrap().as_ref(), &img.manifest[..]);
                let b = c
                    .get(s.url(&format!("/v2/pull/me/blobs/{layer}")))
                    .send()
                    .unwrap();
                assert_eq!(b.status(), 200);
                assert_eq!(sha256(&b.bytes().unwrap()), *layer);
            });
        }
    });
}

#[test]
fn gc_keeps_what_the_registry_references() {
    let s = TestServer::start();
    let img = TinyImage::new(&[("f", b"kept")]);
    let md = s.push_image("r", "v1", &img);
    let loose = s.push_blob("r", b"a blob no manifest names");
    // An upload in progress: pruning may drop it (the client restarts),
    // never what was pushed.
    let r = client().post(s.url("/v2/r/blobs/uploads/")).send().unwrap();
    let loc = r.headers()["Location"].to_str().unwrap().to_string();
    s.wait_for_images(1);
    {
        let mut store = layerstore::Store::open(&s.root()).unwrap();
        // Untag locally: the image is dangling and prune deletes it, but
        // the registry's blobs stay.
        layerstore::images::remove(&mut store, &["r:v1".to_string()], false).unwrap();
        layerstore::gc::prune(&mut store).unwrap();
        assert!(layerstore::fsck::fsck(&store).unwrap().is_clean());
    }
    for path in [
        format!("/v2/r/manifests/{md}"),
        format!("/v2/r/blobs/{}", sha256(&img.layer)),
        format!("/v2/r/blobs/{loose}"),
    ] {
        let r = client().get(s.url(&path)).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = client().patch(s.url(&loc)).body("x").send().unwrap();
    assert_eq!(r.status(), 404);

    // Deleted from the registry, the blobs go at the next prune.
    client()
        .delete(s.url(&format!("/v2/r/manifests/{md}")))
        .send()
        .unwrap();
    for d in [sha256(&img.layer), sha256(&img.config), loose.clone()] {
        client()
            .delete(s.url(&format!("/v2/r/blobs/{d}")))
            .send()
            .unwrap();
    }
    let mut store = layerstore::Store::open(&s.root()).unwrap();
    layerstore::gc::prune(&mut store).unwrap();
    assert!(!s.blob_file(&loose).exists());
    assert!(!s.blob_file(&sha256(&img.layer)).exists());
    assert!(layerstore::fsck::fsck(&store).unwrap().is_clean());
}

#[test]
fn fsck_reports_a_missing_registry_blob() {
    let s = TestServer::start();
    let d = s.push_blob("r", b"will vanish");
    std::fs::remove_file(s.blob_file(&d)).unwrap();
    let store = layerstore::Store::open(&s.root()).unwrap();
    let report = layerstore::fsck::fsck(&store).unwrap();
    assert_eq!(report.problems, vec![format!("registry: blob {d} missing")]);
}
