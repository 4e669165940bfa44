//! The conformance suite of `strata serve`, written from the OCI
//! distribution spec v1.1 (endpoints end-1 … end-14, Docker's `_catalog`,
//! the error codes): every endpoint against a real server on 127.0.0.1,
//! its status codes and headers, and what the store holds afterwards.

mod serve_common;

use serde_json::{json, Value};
use serve_common::*;

fn header(r: &reqwest::blocking::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[test]
fn base_and_unknown_paths() {
    let s = TestServer::start();
    let r = client().get(s.url("/v2/")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "Docker-Distribution-API-Version"),
        "registry/2.0"
    );
    assert_eq!(client().get(s.url("/v3/")).send().unwrap().status(), 404);
    // A verb an endpoint does not have.
    let r = client().post(s.url("/v2/a/manifests/x")).send().unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(error_code(r), "UNSUPPORTED");
}

#[test]
fn names_and_digests_are_checked() {
    let s = TestServer::start();
    // Sent raw: HTTP client libraries resolve `..` before sending.
    for path in [
        "/v2/UPPER/tags/list",
        "/v2/a/../b/tags/list",
        "/v2/../../etc/tags/list",
        "/v2//etc/tags/list",
        "/v2/a//b/manifests/latest",
        "/v2/a./blobs/uploads/",
        "/v2/a/%2e%2e/b/tags/list",
    ] {
        let (status, text) = raw(
            s.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(status, 400, "{path}");
        assert!(text.contains("NAME_INVALID"), "{path}: {text}");
    }
    for path in [
        "/v2/a/blobs/sha256:abc",
        "/v2/a/blobs/sha512:00",
        &format!("/v2/a/blobs/sha256:{}", "A".repeat(64)),
        "/v2/a/manifests/sha256:zz",
        &format!("/v2/a/referrers/md5:{}", "0".repeat(32)),
    ] {
        let r = client().get(s.url(path)).send().unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(error_code(r), "DIGEST_INVALID", "{path}");
    }
    let r = client()
        .post(s.url("/v2/a/blobs/uploads/?digest=sha256:short"))
        .body("x")
        .send()
        .unwrap();
    assert_eq!(error_code(r), "DIGEST_INVALID");
    // Nothing of those requests reached the store.
    assert!(s.tmp_files().is_empty());
}

#[test]
fn monolithic_upload_and_blob_reads() {
    let s = TestServer::start();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let d = sha256(&data);
    let r = client()
        .post(s.url(&format!("/v2/r/blobs/uploads/?digest={d}")))
        .body(data.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "Location"), format!("/v2/r/blobs/{d}"));
    assert_eq!(header(&r, "Docker-Content-Digest"), d);

    let r = client()
        .head(s.url(&format!("/v2/r/blobs/{d}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "Content-Length"), data.len().to_string());
    assert_eq!(header(&r, "Docker-Content-Digest"), d);
    let r = client()
        .get(s.url(&format!("/v2/r/blobs/{d}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), &data[..]);

    // Ranges: 206 with Content-Range, 416 past the end.
    let r = client()
        .get(s.url(&format!("/v2/r/blobs/{d}")))
        .header("Range", "bytes=10-19")
        .send()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        header(&r, "Content-Range"),
        format!("bytes 10-19/{}", data.len())
    );
    assert_eq!(r.bytes().unwrap().as_ref(), &data[10..20]);
    let r = client()
        .get(s.url(&format!("/v2/r/blobs/{d}")))
        .header("Range", "bytes=99990-")
        .send()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().unwrap().as_ref(), &data[99990..]);
    let r = client()
        .get(s.url(&format!("/v2/r/blobs/{d}")))
        .header("Range", "bytes=100000-")
        .send()
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(header(&r, "Content-Range"), "bytes */100000");

    // Visible in its repository only.
    let r = client()
        .get(s.url(&format!("/v2/other/blobs/{d}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "BLOB_UNKNOWN");
    let r = client()
        .head(s.url(&format!("/v2/other/blobs/{d}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);

    // Content that does not hash to the digest is refused and not kept.
    let wrong = sha256(b"something else");
    let r = client()
        .post(s.url(&format!("/v2/r/blobs/uploads/?digest={wrong}")))
        .body(data.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "DIGEST_INVALID");
    assert!(!s.blob_file(&wrong).exists());
    assert!(s.tmp_files().is_empty(), "{:?}", s.tmp_files());

    // Delete: 202, then unknown.
    let r = client()
        .delete(s.url(&format!("/v2/r/blobs/{d}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = client()
        .get(s.url(&format!("/v2/r/blobs/{d}")))
        .send()
        .unwrap();
    assert_eq!(error_code(r), "BLOB_UNKNOWN");
    let r = client()
        .delete(s.url(&format!("/v2/r/blobs/{d}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn chunked_upload() {
    let s = TestServer::start();
    let data: Vec<u8> = (0..30u8).collect();
    let d = sha256(&data);
    let r = client().post(s.url("/v2/r/blobs/uploads/")).send().unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "Range"), "0-0");
    let loc = header(&r, "Location");
    assert!(loc.starts_with("/v2/r/blobs/uploads/"), "{loc}");
    assert!(!header(&r, "Docker-Upload-UUID").is_empty());

    let patch = |range: &str, body: &[u8]| {
        client()
            .patch(s.url(&loc))
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", range)
            .body(body.to_vec())
            .send()
            .unwrap()
    };
    let r = patch("0-9", &data[..10]);
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "Range"), "0-9");
    assert_eq!(header(&r, "Location"), loc);
    // Out of order: 416 with the range the server has.
    let r = patch("20-29", &data[20..]);
    assert_eq!(r.status(), 416);
    assert_eq!(header(&r, "Range"), "0-9");
    // A Content-Range that disagrees with the body length.
    let r = patch("10-12", &data[10..20]);
    assert_eq!(r.status(), 416);
    // Status: 204 and the offset.
    let r = client().get(s.url(&loc)).send().unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "Range"), "0-9");
    assert_eq!(header(&r, "Location"), loc);
    // A chunk without Content-Range is appended (Docker's streaming PATCH).
    let r = client()
        .patch(s.url(&loc))
        .body(data[10..20].to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "Range"), "0-19");
    // The session is not visible from another repository.
    let other = loc.replace("/v2/r/", "/v2/q/");
    let r = client().get(s.url(&other)).send().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "BLOB_UPLOAD_UNKNOWN");
    // Not a blob until finished.
    let r = client()
        .head(s.url(&format!("/v2/r/blobs/{d}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    // PUT without a digest is refused; with the last chunk it finishes.
    let r = client().put(s.url(&loc)).send().unwrap();
    assert_eq!(error_code(r), "DIGEST_INVALID");
    let r = client()
        .put(s.url(&format!("{loc}?digest={d}")))
        .header("Content-Range", "20-29")
        .body(data[20..].to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "Location"), format!("/v2/r/blobs/{d}"));
    assert_eq!(header(&r, "Docker-Content-Digest"), d);
    let r = client()
        .get(s.url(&format!("/v2/r/blobs/{d}")))
        .send()
        .unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), &data[..]);
    // The session is gone.
    let r = client().get(s.url(&loc)).send().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "BLOB_UPLOAD_UNKNOWN");

    // A finishing PUT whose content does not match: 400, nothing stored.
    let r = client().post(s.url("/v2/r/blobs/uploads")).send().unwrap();
    let loc = header(&r, "Location");
    let wrong = sha256(b"x");
    let r = client()
        .put(s.url(&format!("{loc}?digest={wrong}")))
        .body(b"y".to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "DIGEST_INVALID");
    assert!(!s.blob_file(&wrong).exists());

    // Cancel: 204, then unknown; its file is removed.
    let r = client().post(s.url("/v2/r/blobs/uploads/")).send().unwrap();
    let loc = header(&r, "Location");
    client()
        .patch(s.url(&loc))
        .body(vec![1u8; 100])
        .send()
        .unwrap();
    let r = client().delete(s.url(&loc)).send().unwrap();
    assert_eq!(r.status(), 204);
    let r = client().delete(s.url(&loc)).send().unwrap();
    assert_eq!(r.status(), 404);
    assert!(s.tmp_files().is_empty(), "{:?}", s.tmp_files());
    let r = client()
        .patch(s.url("/v2/r/blobs/uploads/0123abcd"))
        .body("x")
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "BLOB_UPLOAD_UNKNOWN");
}

#[test]
fn cross_repository_mount() {
    let s = TestServer::start();
    let d = s.push_blob("a", b"shared layer");
    let r = client()
        .post(s.url(&format!("/v2/b/blobs/uploads/?mount={d}&from=a")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "Location"), format!("/v2/b/blobs/{d}"));
    assert_eq!(header(&r, "Docker-Content-Digest"), d);
    let r = client()
        .get(s.url(&format!("/v2/b/blobs/{d}")))
        .send()
        .unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), b"shared layer");
    // From a repository that does not have it: an upload session instead.
    let r = client()
        .post(s.url(&format!("/v2/c/blobs/uploads/?mount={d}&from=nothere")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(header(&r, "Location").starts_with("/v2/c/blobs/uploads/"));
    let r = client()
        .head(s.url(&format!("/v2/c/blobs/{d}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn manifests() {
    let s = TestServer::start();
    let img = TinyImage::new(&[("hello", b"hello world\n")]);
    let md = sha256(&img.manifest);

    // Blobs it names must be there first.
    let r = s.put_manifest("app", "v1", OCI_MANIFEST, &img.manifest);
    assert_eq!(r.status(), 400);
    let v: Value = r.json().unwrap();
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{v}");
    assert!(errors.iter().all(|e| e["code"] == "MANIFEST_BLOB_UNKNOWN"));
    assert_eq!(errors[0]["detail"]["digest"], sha256(&img.config));

    s.push_blob("app", &img.layer);
    s.push_blob("app", &img.config);
    // By digest, the body must hash to it.
    let r = s.put_manifest("app", &sha256(b"other"), OCI_MANIFEST, &img.manifest);
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "DIGEST_INVALID");
    let r = s.put_manifest("app", "v1", OCI_MANIFEST, b"{not json");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "MANIFEST_INVALID");
    // A descriptor whose size is not the blob's.
    let mut lying: Value = serde_json::from_slice(&img.manifest).unwrap();
    lying["layers"][0]["size"] = json!(1);
    let r = s.put_manifest(
        "app",
        "v1",
        OCI_MANIFEST,
        &serde_json::to_vec(&lying).unwrap(),
    );
    assert_eq!(error_code(r), "MANIFEST_INVALID");
    // A config that does not list one diff_id per layer.
    let mut config: Value = serde_json::from_slice(&img.config).unwrap();
    config["rootfs"]["diff_ids"] = json!([sha256(&img.layer), sha256(&img.layer)]);
    let config = serde_json::to_vec(&config).unwrap();
    s.push_blob("app", &config);
    let mut two: Value = serde_json::from_slice(&img.manifest).unwrap();
    two["config"]["digest"] = json!(sha256(&config));
    two["config"]["size"] = json!(config.len());
    let r = s.put_manifest(
        "app",
        "v1",
        OCI_MANIFEST,
        &serde_json::to_vec(&two).unwrap(),
    );
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "MANIFEST_INVALID");
    // Too large: 413.
    let big = vec![b' '; (4 << 20) + 1];
    let r = s.put_manifest("app", "v1", OCI_MANIFEST, &big);
    assert_eq!(r.status(), 413);

    let r = s.put_manifest("app", "v1", OCI_MANIFEST, &img.manifest);
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "Location"), format!("/v2/app/manifests/{md}"));
    assert_eq!(header(&r, "Docker-Content-Digest"), md);

    for reference in ["v1", md.as_str()] {
        let r = client()
            .get(s.url(&format!("/v2/app/manifests/{reference}")))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "Content-Type"), OCI_MANIFEST);
        assert_eq!(header(&r, "Docker-Content-Digest"), md);
        assert_eq!(r.bytes().unwrap().as_ref(), &img.manifest[..]);
        let r = client()
            .head(s.url(&format!("/v2/app/manifests/{reference}")))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "Content-Length"), img.manifest.len().to_string());
        assert_eq!(header(&r, "Docker-Content-Digest"), md);
    }
    // The image is a stored image, tagged app:v1.
    {
        let list = s.wait_for_images(1);
        let store = layerstore::Store::open(&s.root()).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(
            (list[0].repository.as_str(), list[0].tag.as_str()),
            ("app", "v1")
        );
        assert_eq!(list[0].id.to_string(), sha256(&img.config));
        assert!(layerstore::fsck::fsck(&store).unwrap().is_clean());
    }

    let r = client()
        .get(s.url("/v2/app/manifests/nope"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "MANIFEST_UNKNOWN");
    let r = client()
        .get(s.url("/v2/nothing/manifests/v1"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "NAME_UNKNOWN");

    // Delete by tag removes the tag; by digest the manifest.
    s.put_manifest("app", "v2", OCI_MANIFEST, &img.manifest);
    let r = client()
        .delete(s.url("/v2/app/manifests/v1"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = client().get(s.url("/v2/app/manifests/v1")).send().unwrap();
    assert_eq!(error_code(r), "MANIFEST_UNKNOWN");
    let r = client().get(s.url("/v2/app/manifests/v2")).send().unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .delete(s.url(&format!("/v2/app/manifests/{md}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    for reference in ["v2", md.as_str()] {
        let r = client()
            .get(s.url(&format!("/v2/app/manifests/{reference}")))
            .send()
            .unwrap();
        assert_eq!(error_code(r), "MANIFEST_UNKNOWN");
    }
    let r = client()
        .delete(s.url(&format!("/v2/app/manifests/{md}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    // Its local tags went with it.
    let store = layerstore::Store::open(&s.root()).unwrap();
    assert!(layerstore::images::list(&store)
        .unwrap()
        .iter()
        .all(|i| i.tag == "<none>"));
}

/// `PUT /v2/NAME/manifests/DIGEST?tag=…` (end-7 with tags): every tag is
/// applied with the manifest, each answered by an `OCI-Tag` header, and
/// the stored image gets each as a local tag.
#[test]
fn manifest_push_by_digest_with_tags() {
    let s = TestServer::start();
    let img = TinyImage::new(&[("hello", b"hello world\n")]);
    let md = sha256(&img.manifest);
    s.push_blob("app", &img.layer);
    s.push_blob("app", &img.config);
    let oci_tags = |r: &reqwest::blocking::Response| -> Vec<String> {
        r.headers()
            .get_all("OCI-Tag")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    };

    // An invalid tag refuses the whole push: nothing is stored.
    let r = s.put_manifest(
        "app",
        &format!("{md}?tag=v1&tag=-bad"),
        OCI_MANIFEST,
        &img.manifest,
    );
    assert_eq!(r.status(), 400);
    assert!(oci_tags(&r).is_empty());
    assert_eq!(error_code(r), "MANIFEST_INVALID");
    for reference in ["v1", md.as_str()] {
        let r = client()
            .get(s.url(&format!("/v2/app/manifests/{reference}")))
            .send()
            .unwrap();
        assert_eq!(error_code(r), "MANIFEST_UNKNOWN", "{reference}");
    }
    assert!(!s.blob_file(&md).exists());

    // Several tags at once (the image is queued for import with all).
    let r = s.put_manifest(
        "app",
        &format!("{md}?tag=v1&tag=stable&tag=latest"),
        OCI_MANIFEST,
        &img.manifest,
    );
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "Docker-Content-Digest"), md);
    assert_eq!(oci_tags(&r), ["v1", "stable", "latest"]);
    // One more, alone.
    let r = s.put_manifest("app", &format!("{md}?tag=v2"), OCI_MANIFEST, &img.manifest);
    assert_eq!(r.status(), 201);
    assert_eq!(oci_tags(&r), ["v2"]);
    // Without `?tag=`, none (and a push by tag answers none either).
    let r = s.put_manifest("app", &md, OCI_MANIFEST, &img.manifest);
    assert_eq!(r.status(), 201);
    assert!(oci_tags(&r).is_empty());

    for tag in ["v1", "stable", "latest", "v2"] {
        let r = client()
            .get(s.url(&format!("/v2/app/manifests/{tag}")))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{tag}");
        assert_eq!(header(&r, "Docker-Content-Digest"), md);
    }
    let v: Value = client()
        .get(s.url("/v2/app/tags/list"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["tags"], json!(["latest", "stable", "v1", "v2"]));

    // The stored image is tagged app:TAG for each.
    let list = s.wait_for_images(4);
    let mut local: Vec<(String, String)> = list
        .iter()
        .map(|i| (i.repository.clone(), i.tag.clone()))
        .collect();
    local.sort();
    let want: Vec<(String, String)> = ["latest", "stable", "v1", "v2"]
        .iter()
        .map(|t| ("app".to_string(), t.to_string()))
        .collect();
    assert_eq!(local, want);
    assert!(list.iter().all(|i| i.id.to_string() == sha256(&img.config)));
}

#[test]
fn an_image_the_store_refuses_is_kept_but_not_stored() {
    let s = TestServer::start();
    let good = TinyImage::new(&[("f", b"good")]);
    let bad = TinyImage::new(&[("f", b"bad")]);
    // The config names another layer's diff_id: found only on import.
    let mut config: Value = serde_json::from_slice(&bad.config).unwrap();
    config["rootfs"]["diff_ids"] = json!([sha256(&good.layer)]);
    let config = serde_json::to_vec(&config).unwrap();
    let mut manifest: Value = serde_json::from_slice(&bad.manifest).unwrap();
    manifest["config"]["digest"] = json!(sha256(&config));
    manifest["config"]["size"] = json!(config.len());
    let manifest = serde_json::to_vec(&manifest).unwrap();
    s.push_blob("r", &bad.layer);
    s.push_blob("r", &config);
    let r = s.put_manifest("r", "bad", OCI_MANIFEST, &manifest);
    assert_eq!(r.status(), 201);
    // The next push is imported after it; the refused one never is.
    s.push_image("r", "good", &good);
    let list = s.wait_for_images(1);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].tag, "good");
    let store = layerstore::Store::open(&s.root()).unwrap();
    assert!(layerstore::registry::pending_imports(&store)
        .unwrap()
        .is_empty());
    let r = client().get(s.url("/v2/r/manifests/bad")).send().unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn image_index_needs_its_manifests() {
    let s = TestServer::start();
    let img = TinyImage::new(&[("f", b"1")]);
    let child = sha256(&img.manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": OCI_MANIFEST, "digest": child, "size": img.manifest.len(),
            "platform": { "architecture": "amd64", "os": "linux" },
        }],
    }))
    .unwrap();
    let r = s.put_manifest(
        "multi",
        "latest",
        "application/vnd.oci.image.index.v1+json",
        &index,
    );
    assert_eq!(error_code(r), "MANIFEST_BLOB_UNKNOWN");
    s.push_blob("multi", &img.layer);
    s.push_blob("multi", &img.config);
    let r = s.put_manifest("multi", &child, OCI_MANIFEST, &img.manifest);
    assert_eq!(r.status(), 201);
    let r = s.put_manifest(
        "multi",
        "latest",
        "application/vnd.oci.image.index.v1+json",
        &index,
    );
    assert_eq!(r.status(), 201);
    let r = client()
        .get(s.url("/v2/multi/manifests/latest"))
        .send()
        .unwrap();
    assert_eq!(
        header(&r, "Content-Type"),
        "application/vnd.oci.image.index.v1+json"
    );
}

#[test]
fn tags_and_catalog_paging() {
    let s = TestServer::start();
    let img = TinyImage::new(&[("f", b"tags")]);
    for tag in ["b", "a", "d", "c"] {
        s.push_image("r", tag, &img);
    }
    let tags = |q: &str| {
        client()
            .get(s.url(&format!("/v2/r/tags/list{q}")))
            .send()
            .unwrap()
    };
    let r = tags("");
    assert_eq!(r.status(), 200);
    assert!(header(&r, "Link").is_empty());
    assert_eq!(
        r.json::<Value>().unwrap(),
        json!({"name": "r", "tags": ["a", "b", "c", "d"]})
    );
    let r = tags("?n=2");
    assert_eq!(
        header(&r, "Link"),
        "</v2/r/tags/list?n=2&last=b>; rel=\"next\""
    );
    assert_eq!(r.json::<Value>().unwrap()["tags"], json!(["a", "b"]));
    let r = tags("?n=2&last=b");
    assert!(header(&r, "Link").is_empty());
    assert_eq!(r.json::<Value>().unwrap()["tags"], json!(["c", "d"]));
    let r = tags("?last=c");
    assert_eq!(r.json::<Value>().unwrap()["tags"], json!(["d"]));
    let r = tags("?n=0");
    assert_eq!(r.json::<Value>().unwrap()["tags"], json!([]));
    let r = tags("?n=x");
    assert_eq!(r.status(), 400);
    let r = client().get(s.url("/v2/none/tags/list")).send().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r), "NAME_UNKNOWN");

    s.push_image("q/x", "1", &img);
    s.push_image("a", "1", &img);
    let r = client().get(s.url("/v2/_catalog")).send().unwrap();
    assert_eq!(
        r.json::<Value>().unwrap(),
        json!({"repositories": ["a", "q/x", "r"]})
    );
    let r = client().get(s.url("/v2/_catalog?n=1")).send().unwrap();
    assert_eq!(
        header(&r, "Link"),
        "</v2/_catalog?n=1&last=a>; rel=\"next\""
    );
    assert_eq!(r.json::<Value>().unwrap()["repositories"], json!(["a"]));
    let r = client()
        .get(s.url("/v2/_catalog?n=5&last=a"))
        .send()
        .unwrap();
    assert_eq!(
        r.json::<Value>().unwrap()["repositories"],
        json!(["q/x", "r"])
    );
}

#[test]
fn referrers() {
    let s = TestServer::start();
    let img = TinyImage::new(&[("f", b"subject")]);
    let subject = s.push_image("r", "v1", &img);
    let empty = s.push_blob("r", b"{}");
    let sbom = s.push_blob("r", b"{\"sbom\":true}");
    let artifact = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom",
        "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2 },
        "layers": [{ "mediaType": "application/json", "digest": sbom, "size": 13 }],
        "subject": { "mediaType": OCI_MANIFEST, "digest": subject, "size": img.manifest.len() },
        "annotations": { "org.example.k": "v" },
    }))
    .unwrap();
    let ad = sha256(&artifact);
    let r = s.put_manifest("r", &ad, OCI_MANIFEST, &artifact);
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "OCI-Subject"), subject);

    let r = client()
        .get(s.url(&format!("/v2/r/referrers/{subject}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "Content-Type"),
        "application/vnd.oci.image.index.v1+json"
    );
    let v: Value = r.json().unwrap();
    assert_eq!(v["schemaVersion"], 2);
    let m = &v["manifests"];
    assert_eq!(m.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(m[0]["digest"], ad);
    assert_eq!(m[0]["size"], artifact.len());
    assert_eq!(m[0]["artifactType"], "application/vnd.example.sbom");
    assert_eq!(m[0]["annotations"]["org.example.k"], "v");

    let r = client()
        .get(s.url(&format!(
            "/v2/r/referrers/{subject}?artifactType=application/other"
        )))
        .send()
        .unwrap();
    assert_eq!(header(&r, "OCI-Filters-Applied"), "artifactType");
    assert_eq!(r.json::<Value>().unwrap()["manifests"], json!([]));
    // Nothing refers to the artifact: an empty index, not a 404.
    let r = client()
        .get(s.url(&format!("/v2/r/referrers/{ad}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["manifests"], json!([]));
    // The artifact is kept by the registry but is not an image.
    assert_eq!(s.wait_for_images(1).len(), 1);
}

#[test]
fn basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(&htpasswd, format!("# users\nalice:{hash}\n")).unwrap();
    let s = TestServer::with(|c| c.htpasswd = Some(htpasswd.clone()));
    let r = client().get(s.url("/v2/")).send().unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(header(&r, "WWW-Authenticate"), "Basic realm=\"strata\"");
    assert_eq!(error_code(r), "UNAUTHORIZED");
    let r = client()
        .get(s.url("/v2/"))
        .basic_auth("alice", Some("wrong"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client()
        .get(s.url("/v2/"))
        .basic_auth("bob", Some("s3cret"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    // Bad names are not reported before authentication.
    let r = client().get(s.url("/v2/UPPER/tags/list")).send().unwrap();
    assert_eq!(r.status(), 401);
    for _ in 0..2 {
        let r = client()
            .get(s.url("/v2/"))
            .basic_auth("alice", Some("s3cret"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = client()
        .get(s.url("/v2/_catalog"))
        .basic_auth("alice", Some("s3cret"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn read_only_and_upload_limit() {
    let s = TestServer::with(|c| c.read_only = true);
    let r = client().post(s.url("/v2/r/blobs/uploads/")).send().unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(r), "DENIED");
    let r = client().delete(s.url("/v2/r/manifests/x")).send().unwrap();
    assert_eq!(error_code(r), "DENIED");
    assert_eq!(
        client().get(s.url("/v2/_catalog")).send().unwrap().status(),
        200
    );

    let s = TestServer::with(|c| c.max_upload = 1000);
    let data = vec![7u8; 2000];
    let d = sha256(&data);
    let r = client()
        .post(s.url(&format!("/v2/r/blobs/uploads/?digest={d}")))
        .body(data)
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(r), "SIZE_INVALID");
    assert!(!s.blob_file(&d).exists());
    assert!(s.tmp_files().is_empty(), "{:?}", s.tmp_files());
}
