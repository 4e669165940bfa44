//! Layer import and byte-identical rebuild, on tars written by GNU tar in
//! each of its formats and by the tar crate (PAX xattrs, devices, long
//! names), plain and compressed; and the read API over a stored layer.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use common::{run, store};
use layerstore::rebuild::verified_tar;
use layerstore::store::LayerExpect;
use layerstore::{Digest, Kind};

fn sample_tree(dir: &Path) {
    let deep = dir.join("a").join("b".repeat(120)).join("c".repeat(90));
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("f".repeat(100)), b"deep file").unwrap();
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::write(dir.join("etc/one"), b"same content").unwrap();
    fs::write(dir.join("etc/two"), b"same content").unwrap();
    fs::write(dir.join("etc/empty"), b"").unwrap();
    fs::write(dir.join("big"), vec![7u8; 3 << 20]).unwrap();
    fs::hard_link(dir.join("etc/one"), dir.join("etc/hard")).unwrap();
    std::os::unix::fs::symlink("../".repeat(3) + &"t".repeat(200), dir.join("etc/longlink"))
        .unwrap();
    std::os::unix::fs::symlink("one", dir.join("etc/sym")).unwrap();
    run(Command::new("mkfifo").arg(dir.join("etc/fifo")));
}

fn add_layer(
    s: &mut layerstore::Store,
    blob: &[u8],
    expect: &LayerExpect,
) -> std::sync::Arc<layerstore::LayerIndex> {
    let mut p = s.begin().unwrap();
    s.add_layer(&mut p, "test layer", blob, expect).unwrap();
    s.commit_layers(p).unwrap().pop().unwrap()
}

fn rebuild(s: &layerstore::Store, d: &Digest) -> Vec<u8> {
    let idx = s.layer(d).unwrap();
    let mut out = Vec::new();
    verified_tar(s.layout(), &idx)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn gnu_tar_formats_rebuild_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    sample_tree(&tree);
    let (_d, mut s) = store();
    for format in ["gnu", "posix", "oldgnu", "v7"] {
        let t = dir.path().join(format!("{format}.tar"));
        let mut c = Command::new("tar");
        c.arg(format!("--format={format}"));
        if format == "v7" {
            // v7 cannot hold the long names or the fifo.
            c.args([
                "--exclude",
                "./a",
                "--exclude",
                "./etc/longlink",
                "--exclude",
                "./etc/fifo",
            ]);
        }
        c.arg("-C").arg(&tree).arg("-cf").arg(&t).arg(".");
        run(&mut c);
        let bytes = fs::read(&t).unwrap();
        let diff_id = Digest::of(&bytes);
        for compressed in [
            bytes.clone(),
            gzip(&bytes),
            zstd::encode_all(&bytes[..], 3).unwrap(),
        ] {
            let expect = LayerExpect {
                diff_id: Some(diff_id.clone()),
                blob_digest: Some(Digest::of(&compressed)),
                blob_size: Some(compressed.len() as u64),
            };
            let l = add_layer(&mut s, &compressed, &expect);
            assert_eq!(*l.diff_id(), diff_id);
        }
        assert_eq!(
            rebuild(&s, &diff_id),
            bytes,
            "{format} tar not rebuilt identically"
        );
        let idx = s.layer(&diff_id).unwrap();
        assert_eq!(
            idx.lookup(Path::new("etc/two")).unwrap().object,
            idx.lookup(Path::new("etc/one")).unwrap().object
        );
        let hard = idx
            .lookup(Path::new("etc/hard"))
            .or(idx.lookup(Path::new("etc/one")))
            .unwrap();
        assert!(hard.object.is_some());
    }
    // "same content" is stored once across files and formats; objects are
    // read-only.
    let objects = common::walk(&s.root().join("objects"));
    let same = Digest::of(b"same content");
    let hits: Vec<_> = objects
        .iter()
        .filter(|p| p.to_string_lossy().replace('/', "").ends_with(same.hex()))
        .collect();
    assert_eq!(hits.len(), 1);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(hits[0]).unwrap().permissions().mode() & 0o777,
        0o444
    );
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// PAX xattrs, devices and global headers survive, and the read API serves
/// metadata and data.
#[test]
fn pax_xattrs_devices_and_read_api() {
    let mut b = tar::Builder::new(Vec::new());
    let hdr = || {
        let mut h = tar::Header::new_ustar();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h
    };
    let mut dir = hdr();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    b.append_data(&mut dir.clone(), "./", std::io::empty())
        .unwrap();
    b.append_data(&mut dir, "usr/bin", std::io::empty())
        .unwrap();
    b.append_pax_extensions([
        ("SCHILY.xattr.security.capability", &b"\x01\x00\x00\x02"[..]),
        ("SCHILY.xattr.user.k", b"v"),
    ])
    .unwrap();
    let mut f = hdr();
    f.set_mode(0o4755);
    f.set_uid(1000);
    f.set_gid(1001);
    f.set_mtime(1_700_000_000);
    f.set_size(5);
    b.append_data(&mut f, "usr/bin/ping", &b"ping!"[..])
        .unwrap();
    let mut dev = hdr();
    dev.set_entry_type(tar::EntryType::Char);
    dev.set_mode(0o666);
    dev.set_device_major(1).unwrap();
    dev.set_device_minor(3).unwrap();
    dev.set_size(0);
    b.append_data(&mut dev, "dev/null", std::io::empty())
        .unwrap();
    let bytes = b.into_inner().unwrap();

    let (_d, mut s) = store();
    let l = add_layer(&mut s, &bytes, &LayerExpect::default());
    assert_eq!(rebuild(&s, l.diff_id()), bytes);
    let ping = l.lookup(Path::new("/usr/bin/ping")).unwrap();
    assert_eq!(
        (ping.mode, ping.uid, ping.gid, ping.mtime, ping.size),
        (0o4755, 1000, 1001, 1_700_000_000, 5)
    );
    let x: Vec<_> = ping
        .xattrs()
        .map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_vec()))
        .collect();
    assert_eq!(
        x,
        vec![
            (
                "security.capability".to_string(),
                b"\x01\x00\x00\x02".to_vec()
            ),
            ("user.k".to_string(), b"v".to_vec())
        ]
    );
    let null = l.lookup(Path::new("dev/null")).unwrap();
    assert_eq!(
        (null.kind, null.rdev_major, null.rdev_minor),
        (Kind::CharDevice, 1, 3)
    );
    let names: Vec<_> = l
        .read_dir(Path::new("usr/bin"))
        .map(|e| e.path().to_owned())
        .collect();
    assert_eq!(names, vec![Path::new("usr/bin/ping").to_owned()]);
    // "dev" exists only as a parent: it is synthesised as a directory.
    assert_eq!(l.read_dir(Path::new("dev")).count(), 1);
    let dev = l.lookup(Path::new("dev")).unwrap();
    assert_eq!((dev.kind, dev.mode, dev.uid), (Kind::Dir, 0o755, 0));
    let top: Vec<_> = l
        .read_dir(Path::new("/"))
        .map(|e| e.path().to_owned())
        .collect();
    assert_eq!(
        top,
        vec![Path::new("usr").to_owned(), Path::new("dev").to_owned()]
    );
    assert_eq!(l.lookup(Path::new("")).unwrap().kind, Kind::Dir);
}

/// The empty layer Docker writes for metadata-only steps (1024 zero bytes)
/// imports, rebuilds, and can appear twice in one image.
#[test]
fn empty_layers() {
    let empty = vec![0u8; 1024];
    assert_eq!(
        Digest::of(&empty).to_string(),
        "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
    );
    let (d, mut s) = store();
    let p = d.path().join("e.tar");
    fs::write(
        &p,
        common::craft::docker_archive(&[&empty, &empty], "empty:1"),
    )
    .unwrap();
    layerstore::archive::load(&mut s, &p).unwrap();
    assert_eq!(rebuild(&s, &Digest::of(&empty)), empty);
    let v = layerstore::view::ImageView::open(&s, "empty:1").unwrap();
    assert_eq!(v.layers().len(), 2);
    assert!(layerstore::fsck::fsck(&s).unwrap().is_clean());
}
