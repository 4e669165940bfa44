//! Hostile and broken input: each case fails with one clear error, and the
//! store is left consistent (fsck clean), with no image and nothing of the
//! failed load stored.

mod common;

use std::fs;
use std::path::Path;

use common::craft::{self, dir, file, hardlink, pax, record, symlink};
use common::{assert_clean_and_empty, count_files, store};
use layerstore::archive;
use layerstore::Digest;
use serde_json::json;
use tar::EntryType::{GNULongName, XGlobalHeader, XHeader};

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
    assert!(
        !msg.chars().any(char::is_control),
        "error is not one printable line: {msg:?}"
    );
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

/// Extended headers Go's archive/tar refuses, or that the tar crate would
/// read differently from it, refuse the layer: one line naming the layer
/// and the entry, nothing stored.
#[test]
fn malformed_pax_records_are_refused() {
    let rec = |k: &str, v: &str| record(k, v.as_bytes());
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            rec("size", "99999999999999999999999"),
            "f\": PAX record \"size=99999999999999999999999\": not a decimal number",
        ),
        (
            rec("size", "9223372036854775808"),
            "f\": PAX record \"size=9223372036854775808\": not a decimal number",
        ),
        (rec("size", "-1"), "f\": PAX record \"size=-1\": not a decimal number"),
        (rec("uid", "12ab"), "f\": PAX record \"uid=12ab\": not a decimal number"),
        (
            rec("gid", "99999999999999999999"),
            "f\": PAX record \"gid=99999999999999999999\": not a decimal number",
        ),
        (rec("mtime", "1.2.3"), "f\": PAX record \"mtime=1.2.3\": not a time"),
        (rec("mtime", "-5"), "f\": PAX record \"mtime=-5\": not a time"),
        (rec("atime", "soon"), "f\": PAX record \"atime=soon\": not a time"),
        (rec("ctime", "1e9"), "f\": PAX record \"ctime=1e9\": not a time"),
        (
            b"99 size=1\n".to_vec(),
            "f\": malformed PAX record \"99 size=1\\n\": length 99 out of range",
        ),
        (
            b"11 size=1\n".to_vec(),
            "f\": malformed PAX record \"11 size=1\\n\": length 11 out of range",
        ),
        (
            b"4 a=\n".to_vec(),
            "f\": malformed PAX record \"4 a=\\n\": length 4 out of range",
        ),
        (
            b"x size=1\n".to_vec(),
            "f\": malformed PAX record \"x size=1\\n\": the length is not a decimal number",
        ),
        (
            b"9 size=12\n".to_vec(),
            "f\": malformed PAX record \"9 size=12\\n\": the record does not end with its only line break",
        ),
        // Well formed for Go, but the tar crate splits records at line
        // breaks: it sees a `path` record (the entry's name here) that Go
        // does not.
        (
            rec("comment", "x\n13 path=evil"),
            "evil\": malformed PAX record \"26 comment=x\\n13 path=evil\\n\": the record does not end",
        ),
        (
            [rec("uid", "1"), rec("uid", "2")].concat(),
            "f\": PAX record \"uid=2\": key repeated in one header",
        ),
        (
            rec("GNU.sparse.major", "1"),
            "f\": PAX record \"GNU.sparse.major=1\": GNU sparse files are not supported",
        ),
        // Go keeps the ustar name "f"; the tar crate takes the empty one.
        (rec("path", ""), "\": PAX record \"path=\": empty name"),
        (
            rec("path", "a\0b"),
            "a\\x00b\": malformed PAX record \"12 path=a\\x00b\\n\": empty key or NUL byte",
        ),
    ];
    for (records, want) in cases {
        let layer = craft::tar(&[pax(XHeader, &records), file("f", b"data")]);
        let (d, mut s) = store();
        let path = d.path().join("in.tar");
        fs::write(&path, craft::docker_archive(&[&layer], "pax:1")).unwrap();
        let want = format!(
            "layer l0/layer.tar in {}: tar entry \"{want}",
            path.display()
        );
        expect_refused_path(&mut s, &path, &want);
    }
    // Malformed records in a global header are refused too, as Go does.
    let layer = craft::tar(&[pax(XGlobalHeader, b"9 size=12\n"), file("f", b"data")]);
    expect_refused(
        &craft::docker_archive(&[&layer], "pax:2"),
        "malformed PAX record",
    );
    // A local header before a global one: Go drops it, the tar crate
    // applies its size to the global header.
    let layer = craft::tar(&[
        pax(XHeader, &record("size", b"0")),
        pax(XGlobalHeader, &record("comment", b"c")),
        file("f", b"data"),
    ]);
    expect_refused(
        &craft::docker_archive(&[&layer], "pax:3"),
        "a local PAX header describes a global one",
    );
}

/// Entries that carry no data must say so: Go ignores the size of a
/// symlink, directory or device, the tar crate would read past it, and
/// what it skipped (here, a hidden header) Go would unpack.
#[test]
fn header_only_entries_with_a_size_are_refused() {
    let hidden = craft::header(b"etc/passwd", tar::EntryType::Regular, 0, b"");
    let ustar_size = craft::tar(&[
        craft::Raw {
            name: b"l",
            kind: tar::EntryType::Symlink,
            link: b"target",
            data: &hidden,
        },
        file("after", b"x"),
    ]);
    let pax_size = [
        &craft::header(b"PaxHeaders/d", XHeader, 12, b"")[..],
        b"12 size=512\n",
        &[0; 500],
        &craft::header(b"d", tar::EntryType::Directory, 0, b""),
        &hidden,
        &craft::tar(&[file("after", b"x")]),
    ]
    .concat();
    for layer in [ustar_size, pax_size] {
        expect_refused(
            &craft::docker_archive(&[&layer], "hidden:1"),
            "carries no data, yet its size is 512",
        );
    }
}

/// Go ends a GNU long name at its first NUL; the tar crate keeps the rest.
#[test]
fn nul_in_long_names_is_refused() {
    let layer = craft::tar(&[
        craft::Raw {
            name: b"././@LongLink",
            kind: GNULongName,
            link: b"",
            data: b"innocent\0etc/passwd\0",
        },
        file("ignored", b"x"),
    ]);
    expect_refused(
        &craft::docker_archive(&[&layer], "nul:1"),
        "NUL byte in the name",
    );
}

/// Names with line breaks and escape sequences, in a layer and in the
/// archive's manifest, come out escaped on one line.
#[test]
fn hostile_names_are_escaped_in_errors() {
    let layer = craft::tar(&[file("a\n\x1b[2J/../../x", b"data")]);
    expect_refused(
        &craft::docker_archive(&[&layer], "esc:1"),
        "tar entry \"a\\n\\x1b[2J/../../x\"",
    );
    let not_a_tar: Vec<u8> = (0..4096u32).map(|i| (i * 7 + i / 13) as u8).collect();
    let cfg = craft::config(&[&not_a_tar]);
    let cfg_name = format!("{}.json", Digest::of(&cfg).hex());
    let member = "la\nyer\x1b[31m\u{202e}.tar";
    let manifest = json!([{ "Config": cfg_name, "RepoTags": ["x:1"], "Layers": [member] }]);
    let a = craft::archive(&[
        (cfg_name.clone(), cfg),
        (member.into(), not_a_tar),
        (
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        ),
    ]);
    expect_refused(&a, "layer la\\nyer\\x1b[31m\\u{202e}.tar in ");
}

/// A layer using PAX as Go and GNU tar write it — long names and link
/// targets, a uid past 32 bits, sub-second times, xattrs, a global header
/// — loads with the PAX values and is saved back byte for byte.
#[test]
fn well_formed_pax_loads_and_saves_identically() {
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(140));
    let target = "t".repeat(300);
    let file_records = [
        record("path", long.as_bytes()),
        record("uid", b"5000000000"),
        record("gid", b"70000"),
        record("mtime", b"1700000000.123456789"),
        record("atime", b"1700000001.5"),
        record("ctime", b"1700000002"),
        record("SCHILY.xattr.user.note", b"v=1"),
    ]
    .concat();
    let link_records = [record("linkpath", target.as_bytes())].concat();
    let layer = craft::tar(&[
        pax(XGlobalHeader, &record("comment", b"made by hand")),
        pax(XHeader, &file_records),
        file("short-name", b"content"),
        pax(XHeader, &link_records),
        symlink("link", "short"),
    ]);
    let (d, mut s) = store();
    let path = d.path().join("in.tar");
    fs::write(&path, craft::docker_archive(&[&layer], "pax:ok")).unwrap();
    archive::load(&mut s, &path).unwrap();
    let v = layerstore::view::ImageView::open(&s, "pax:ok").unwrap();
    let l = &v.layers()[0];
    let f = l.lookup(Path::new(&long)).expect("PAX path applied");
    assert_eq!(
        (f.uid, f.gid, f.mtime),
        (5_000_000_000, 70000, 1_700_000_000)
    );
    let xattrs: Vec<_> = f
        .xattrs()
        .map(|(k, v)| (k.to_owned(), v.to_vec()))
        .collect();
    assert_eq!(xattrs, vec![("user.note".into(), b"v=1".to_vec())]);
    let link = l.lookup(Path::new("link")).unwrap();
    assert_eq!(link.link_target(), Some(Path::new(&target)));
    assert_eq!(link.mtime, 1_600_000_000, "ustar mtime kept without PAX");

    let out = d.path().join("saved.tar");
    let item = layerstore::archive::SaveItem {
        id: layerstore::images::resolve(&s, "pax:ok").unwrap().id,
        tags: vec!["pax:ok".into()],
    };
    archive::save(&s, &[item], archive::Format::DockerArchive, &out).unwrap();
    let mut saved = tar::Archive::new(fs::File::open(&out).unwrap());
    let same = saved.entries().unwrap().any(|e| {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut e.unwrap(), &mut bytes).unwrap();
        bytes == layer
    });
    assert!(same, "the saved archive lacks the layer byte for byte");
}
