//! Hostile and broken input: each case fails with one clear error, and the
//! store is left consistent (fsck clean), with no image and nothing of the
//! failed load stored.

mod common;

use std::fs;
use std::path::Path;

use common::craft::{self, dir, file, hardlink, symlink};
use common::{assert_clean_and_empty, count_files, store};
use layerstore::archive;
use layerstore::Digest;
use serde_json::json;

/// Loads `bytes` as an archive file, expecting an error containing `want`,
/// and checks nothing was stored.
fn expect_refused(bytes: &[u8], want: &str) {
    let (d, mut s) = store();
    let path = d.path().join("in.tar");
    fs::write(&path, bytes).unwrap();
    expect_refused_path(&mut s, &path, want);
}

fn expect_refused_path(s: &mut layerstore::Store, path: &Path, want: &str) {
    let err = archive::load(s, path).expect_err("bad input was accepted");
    let msg = err.to_string();
    assert!(
        msg.contains(want),
        "error {msg:?} does not mention {want:?}"
    );
    assert!(!msg.contains('\n'), "error is not one line: {msg:?}");
    assert_clean_and_empty(s);
    for sub in ["objects", "layers", "blobs"] {
        assert_eq!(
            count_files(&s.root().join(sub)),
            0,
            "{sub}/ not empty after {want:?}"
        );
    }
    assert_eq!(count_files(&s.root().join("tmp")), 0, "staging left behind");
}

#[test]
fn path_escapes_are_refused() {
    let ok = file("ok", b"fine");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            craft::tar(&[ok, file("../evil", b"x")]),
            "escapes the layer root",
        ),
        (
            craft::tar(&[dir("a"), file("a/../../evil", b"x")]),
            "escapes the layer root",
        ),
        (
            craft::tar(&[symlink("l", "/etc"), file("l/passwd", b"x")]),
            "not a directory",
        ),
        (
            craft::tar(&[file("f", b"x"), file("f/g", b"y")]),
            "not a directory",
        ),
        (
            craft::tar(&[hardlink("h", "../../etc/passwd")]),
            "escapes the layer root",
        ),
        (
            craft::tar(&[hardlink("h", "missing")]),
            "hard link target does not exist",
        ),
        (
            craft::tar(&[dir("d"), hardlink("h", "d")]),
            "hard link to a directory",
        ),
        (
            craft::tar(&[file("dup", b"1"), file("dup", b"2")]),
            "duplicate path",
        ),
    ];
    for (layer, want) in cases {
        expect_refused(&craft::docker_archive(&[&layer], "bad:1"), want);
    }
}

/// A symlink placed by a lower layer cannot be written through by an upper
/// one, and the lower layer, already verified, is not kept either.
#[test]
fn write_through_lower_symlink_is_refused() {
    let lower = craft::tar(&[
        dir("etc"),
        symlink("l", "/etc"),
        file("keep", b"lower data"),
    ]);
    let upper = craft::tar(&[file("l/passwd", b"x")]);
    expect_refused(
        &craft::docker_archive(&[&lower, &upper], "bad:2"),
        "not a directory",
    );
}

#[test]
fn absolute_names_are_normalised() {
    let layer = craft::tar(&[file("/abs/file", b"data"), file("./rel", b"r")]);
    let (d, mut s) = store();
    let path = d.path().join("in.tar");
    fs::write(&path, craft::docker_archive(&[&layer], "abs:1")).unwrap();
    archive::load(&mut s, &path).unwrap();
    let v = layerstore::view::ImageView::open(&s, "abs:1").unwrap();
    let l = &v.layers()[0];
    assert!(l.lookup(Path::new("abs/file")).is_some());
    assert!(l.lookup(Path::new("/rel")).is_some());
}

fn good_layers() -> (Vec<u8>, Vec<u8>) {
    let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    (
        craft::tar(&[dir("bin"), file("bin/tool", &big)]),
        craft::tar(&[file("etc-file", b"upper"), file("bin/other", b"x")]),
    )
}

#[test]
fn truncated_and_corrupt_archives_are_refused() {
    let (l1, l2) = good_layers();
    let good = craft::docker_archive(&[&l1, &l2], "good:1");
    for cut in [good.len() / 3, good.len() / 2, good.len() - 700] {
        expect_refused(&good[..cut], "");
    }
    // A flipped byte inside file data: the layer no longer hashes to its
    // diff_id.
    let mut flipped = good.clone();
    let at = flipped
        .windows(8)
        .position(|w| {
            w == 7u32
                .to_le_bytes()
                .iter()
                .chain(&8u32.to_le_bytes())
                .copied()
                .collect::<Vec<_>>()
        })
        .unwrap();
    flipped[at] ^= 0xff;
    expect_refused(&flipped, "diff_id");
    // A config whose name promises another digest.
    let cfg = craft::config(&[&l1]);
    let wrong = format!("{}.json", Digest::of(b"other").hex());
    let manifest = json!([{ "Config": wrong, "RepoTags": ["x:1"], "Layers": ["l.tar"] }]);
    let a = craft::archive(&[
        (wrong.clone(), cfg),
        ("l.tar".into(), l1.clone()),
        (
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        ),
    ]);
    expect_refused(&a, "digest mismatch");
    // A manifest naming a member the archive lacks, or one outside it.
    for (member, want) in [
        ("nope.tar", "missing nope.tar"),
        ("../../etc/passwd", "escapes"),
    ] {
        let cfg = craft::config(&[&l1]);
        let name = format!("{}.json", Digest::of(&cfg).hex());
        let manifest = json!([{ "Config": name, "RepoTags": ["x:1"], "Layers": [member] }]);
        let a = craft::archive(&[
            (name, cfg),
            (
                "manifest.json".into(),
                serde_json::to_vec(&manifest).unwrap(),
            ),
        ]);
        expect_refused(&a, want);
    }
    expect_refused(
        b"definitely not a tar archive, just some text that is long enough",
        "",
    );
}

/// An OCI layout with one gzip layer, as a directory; `tweak` edits the
/// manifest JSON before it is written.
fn oci_layout(dir: &Path, layer: &[u8], tweak: impl Fn(&mut serde_json::Value)) {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(layer).unwrap();
    let blob = gz.finish().unwrap();
    let cfg = craft::config(&[layer]);
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |b: &[u8]| {
        let d = Digest::of(b);
        fs::write(blobs.join(d.hex()), b).unwrap();
        d
    };
    let (bd, cd) = (put(&blob), put(&cfg));
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": cfg.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": bd.to_string(), "size": blob.len() }],
    });
    tweak(&mut m);
    let mb = serde_json::to_vec(&m).unwrap();
    let md = put(&mb);
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({ "schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md.to_string(), "size": mb.len(),
        "annotations": { "org.opencontainers.image.ref.name": "example.org/oci/test:1" } }] });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// An edit of a manifest's JSON.
type Tweak = dyn Fn(&mut serde_json::Value);

#[test]
fn oci_layout_faults_are_refused() {
    let (l1, _) = good_layers();
    let other = Digest::of(b"not there").to_string();
    let cases: Vec<(Box<Tweak>, &str)> = vec![
        (Box::new(|_| {}), ""),
        (
            Box::new(move |m| m["layers"][0]["digest"] = json!(other.clone())),
            "missing blobs/sha256/",
        ),
        (
            Box::new(|m| m["layers"][0]["size"] = json!(12)),
            "size mismatch",
        ),
        (
            Box::new(|m| m["layers"][0]["mediaType"] = json!("application/x-unknown")),
            "unsupported media type",
        ),
        (
            Box::new(|m| m["config"]["size"] = json!(3)),
            "size mismatch",
        ),
    ];
    for (i, (tweak, want)) in cases.into_iter().enumerate() {
        let (d, mut s) = store();
        let layout = d.path().join("layout");
        oci_layout(&layout, &l1, tweak);
        if i == 0 {
            let loaded = archive::load(&mut s, &layout).unwrap();
            assert_eq!(loaded[0].tags, vec!["example.org/oci/test:1".to_string()]);
            continue;
        }
        expect_refused_path(&mut s, &layout, want);
    }
    // A blob whose bytes do not match its name.
    let (d, mut s) = store();
    let layout = d.path().join("layout");
    oci_layout(&layout, &l1, |_| {});
    let idx: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let m: Digest = idx["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mj: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(m.hex())).unwrap())
            .unwrap();
    let layer_digest: Digest = mj["layers"][0]["digest"].as_str().unwrap().parse().unwrap();
    let p = layout.join("blobs/sha256").join(layer_digest.hex());
    let mut b = fs::read(&p).unwrap();
    let n = b.len();
    b[n - 9] ^= 1; // inside the gzip trailer's CRC: decompresses, then fails
    fs::write(&p, b).unwrap();
    expect_refused_path(&mut s, &layout, "");
}

/// A PAX header claiming gigabytes is refused once it passes the header
/// bound, however well it compresses: memory stays bounded.
#[test]
fn oversized_headers_and_bombs_are_refused() {
    use std::io::Write;
    let huge: u64 = 1 << 30;
    let mut enc = zstd::Encoder::new(Vec::new(), 1).unwrap();
    enc.write_all(&craft::header(
        b"PaxHeaders/x",
        tar::EntryType::XHeader,
        huge,
        b"",
    ))
    .unwrap();
    let zeros = vec![b'a'; 1 << 20];
    for _ in 0..(huge >> 20) {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "bomb should be small compressed");
    expect_refused(&craft::docker_archive(&[&bomb], "bomb:1"), "larger than");
}

/// A layer the store already holds is checked again on the stack of the
/// image reusing it: here it would write through a lower symlink.
#[test]
fn stored_layer_reused_on_hostile_stack_is_refused() {
    let x = craft::tar(&[file("l/passwd", b"x")]);
    let (d, mut s) = store();
    let first = d.path().join("first.tar");
    fs::write(&first, craft::docker_archive(&[&x], "benign:1")).unwrap();
    archive::load(&mut s, &first).unwrap();
    let lower = craft::tar(&[symlink("l", "/etc")]);
    let second = d.path().join("second.tar");
    fs::write(&second, craft::docker_archive(&[&lower, &x], "hostile:1")).unwrap();
    let err = archive::load(&mut s, &second).unwrap_err().to_string();
    assert!(err.contains("not a directory"), "{err}");
    assert_eq!(layerstore::images::list(&s).unwrap().len(), 1);
    assert!(layerstore::fsck::fsck(&s).unwrap().is_clean());
}
