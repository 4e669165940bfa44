//! Image-level commands through the library: import with --change, export
//! of a merged tree with whiteouts and opaque dirs, tag/rmi/images,
//! inspect, history, df, prune and fsck (including damage detection).

mod common;

use std::fs;
use std::io::Read;
use std::path::Path;

use common::craft::{self, dir, file, hardlink, symlink};
use common::store;
use layerstore::rootfs::{export, import, ImportOptions};
use layerstore::{archive, fsck, gc, images};

fn export_listing(s: &layerstore::Store, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    export(s, name, &mut out).unwrap();
    let mut ar = tar::Archive::new(&out[..]);
    let mut v = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().display().to_string();
        let mut data = String::new();
        let kind = e.header().entry_type();
        if kind.is_file() {
            e.read_to_string(&mut data).unwrap();
        } else if let Some(l) = e.link_name().unwrap() {
            data = format!("-> {}", l.display());
        }
        v.push(format!("{p} {data}").trim_end().to_string());
    }
    v
}

#[test]
fn import_with_changes_and_export() {
    let (d, mut s) = store();
    let t = d.path().join("rootfs.tar");
    fs::write(
        &t,
        craft::tar(&[dir("bin"), file("bin/sh", b"#!"), symlink("bin/ash", "sh")]),
    )
    .unwrap();
    let opts = ImportOptions {
        changes: vec![
            "CMD [\"/bin/sh\"]".into(),
            "ENV A=1".into(),
            "EXPOSE 8080".into(),
            "ONBUILD RUN x".into(),
        ],
        message: None,
    };
    let img = import(&mut s, &t, Some("imp"), &opts).unwrap();
    assert_eq!(img.tags, vec!["docker.io/library/imp:latest".to_string()]);
    let v = images::inspect(&s, "imp").unwrap();
    assert_eq!(v["Id"], img.id.to_string());
    assert_eq!(v["RepoTags"][0], "imp:latest");
    assert_eq!(v["Config"]["Cmd"][0], "/bin/sh");
    assert_eq!(v["Config"]["Env"][0], "A=1");
    assert!(v["Config"]["ExposedPorts"]["8080/tcp"].is_object());
    assert_eq!(v["Config"]["OnBuild"][0], "RUN x");
    let h = images::history(&s, "imp").unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].image, img.id.to_string());
    assert!(h[0].comment.starts_with("Imported from"));
    assert_eq!(
        export_listing(&s, "imp"),
        vec!["bin", "bin/ash -> sh", "bin/sh #!"]
    );
    // A bad --change stores nothing.
    let bad = ImportOptions {
        changes: vec!["FROM x".into()],
        message: None,
    };
    assert!(import(&mut s, &t, Some("bad"), &bad)
        .unwrap_err()
        .to_string()
        .contains("--change"));
    assert_eq!(images::list(&s).unwrap().len(), 1);
}

#[test]
fn export_applies_whiteouts_and_opaque_dirs() {
    let l1 = craft::tar(&[
        dir("a"),
        file("a/keep", b"k"),
        file("a/gone", b"g"),
        dir("o"),
        file("o/old", b"o"),
        file("f", b"file"),
        hardlink("a/hl", "a/gone"),
    ]);
    let l2 = craft::tar(&[
        dir("a"),
        file("a/.wh.gone", b""),
        dir("o"),
        file("o/.wh..wh..opq", b""),
        file("o/new", b"n"),
        file(".wh.f", b""),
        dir("f"),
        file("f/inner", b"i"),
    ]);
    let (d, mut s) = store();
    let p = d.path().join("a.tar");
    fs::write(&p, craft::docker_archive(&[&l1, &l2], "wh:1")).unwrap();
    archive::load(&mut s, &p).unwrap();
    assert_eq!(
        export_listing(&s, "wh:1"),
        vec!["a", "a/hl g", "a/keep k", "f", "f/inner i", "o", "o/new n"]
    );
    // The per-layer read API keeps the markers for a union fs to apply.
    let v = layerstore::view::ImageView::open(&s, "wh:1").unwrap();
    let top = &v.layers()[0];
    assert!(top
        .lookup(Path::new("o/.wh..wh..opq"))
        .unwrap()
        .is_opaque_marker());
    let wh = top.lookup(Path::new("a/.wh.gone")).unwrap();
    assert_eq!(wh.whiteout_target().unwrap(), "gone");
    let hl = v.layers()[1].lookup(Path::new("a/hl")).unwrap();
    let mut data = String::new();
    v.layers()[1]
        .open(hl)
        .unwrap()
        .read_to_string(&mut data)
        .unwrap();
    assert_eq!(data, "g");
}

#[test]
fn tag_rmi_prune_df_and_fsck() {
    let shared: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let a = craft::tar(&[file("shared", &shared), file("only-a", b"a")]);
    let b = craft::tar(&[file("shared", &shared), file("only-b", b"b")]);
    let (d, mut s) = store();
    for (layer, tag) in [(&a, "img:a"), (&b, "img:b")] {
        let p = d.path().join(format!("{tag}.tar"));
        fs::write(&p, craft::docker_archive(&[layer], tag)).unwrap();
        archive::load(&mut s, &p).unwrap();
    }
    let df = gc::disk_usage_report(&s).unwrap();
    assert_eq!((df.images, df.layers), (2, 2));
    assert_eq!(df.logical_bytes, 2 * shared.len() as u64 + 2);
    assert_eq!(df.unique_bytes, shared.len() as u64 + 2);
    assert!(df.dedup_ratio() > 1.9);

    images::tag(&mut s, "img:a", "example.com:5000/x/y:z").unwrap();
    let rows = images::list(&s).unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .any(|r| r.repository == "example.com:5000/x/y" && r.tag == "z"));
    let a_id = images::resolve(&s, "img:a").unwrap().id;
    // By ID with two tags: refused without force.
    assert!(images::remove(&mut s, &[a_id.to_string()], false).is_err());
    let lines = images::remove(&mut s, &["img:a".to_string()], false).unwrap();
    assert_eq!(lines, vec!["Untagged: img:a".to_string()]);
    let lines = images::remove(&mut s, &["example.com:5000/x/y:z".to_string()], false).unwrap();
    assert_eq!(lines.last().unwrap(), &format!("Deleted: {a_id}"));
    // Only-a's object is gone, the shared one stays.
    assert_eq!(common::count_files(&s.root().join("objects")), 2);
    assert!(fsck::fsck(&s).unwrap().is_clean());

    // Untag b: it becomes dangling; prune removes it and everything else.
    let b_id = images::resolve(&s, "img:b").unwrap().id;
    images::tag(&mut s, "img:b", "keep:1").unwrap();
    images::remove(&mut s, &["img:b".to_string(), "keep:1".to_string()], false).unwrap();
    assert!(images::resolve(&s, &b_id.hex()[..8]).is_err());
    let r = gc::prune(&mut s).unwrap();
    assert!(r.images.is_empty());
    for sub in ["objects", "layers", "blobs"] {
        assert_eq!(common::count_files(&s.root().join(sub)), 0);
    }

    // fsck notices damage: a changed object, and a missing one.
    let p = d.path().join("again.tar");
    fs::write(&p, craft::docker_archive(&[&a], "img:a")).unwrap();
    archive::load(&mut s, &p).unwrap();
    let objects = common::walk(&s.root().join("objects"));
    let victim = &objects[0];
    let mut perms = fs::metadata(victim).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(victim, perms).unwrap();
    fs::write(victim, b"tampered").unwrap();
    let r = fsck::fsck(&s).unwrap();
    assert!(!r.is_clean());
    assert!(
        r.problems.iter().any(|p| p.contains("hashes to")),
        "{:?}",
        r.problems
    );
    fs::remove_file(&objects[1]).unwrap();
    let r = fsck::fsck(&s).unwrap();
    assert!(
        r.problems.iter().any(|p| p.contains("missing")),
        "{:?}",
        r.problems
    );
}

/// Docker 25+ archives keep members in `blobs/sha256/` beside
/// manifest.json; they load with each blob checked against its name.
#[test]
fn docker_blobs_layout_loads() {
    use layerstore::Digest;
    let layer = craft::tar(&[file("hello", b"world")]);
    let cfg = craft::config(&[&layer]);
    let (l, c) = (Digest::of(&layer), Digest::of(&cfg));
    let manifest = serde_json::json!([{
        "Config": format!("blobs/sha256/{}", c.hex()),
        "RepoTags": ["new/layout:1", "new/layout:2"],
        "Layers": [format!("blobs/sha256/{}", l.hex())],
    }]);
    let (d, mut s) = store();
    let p = d.path().join("new.tar");
    let members = vec![
        (format!("blobs/sha256/{}", l.hex()), layer.clone()),
        (format!("blobs/sha256/{}", c.hex()), cfg),
        (
            "manifest.json".to_string(),
            serde_json::to_vec(&manifest).unwrap(),
        ),
    ];
    fs::write(&p, craft::archive(&members)).unwrap();
    let loaded = archive::load(&mut s, &p).unwrap();
    assert_eq!(loaded[0].id, c);
    assert_eq!(loaded[0].tags.len(), 2);
    assert_eq!(images::list(&s).unwrap().len(), 2);
    // The same archive extracted to a directory loads too.
    let x = d.path().join("x");
    fs::create_dir(&x).unwrap();
    tar::Archive::new(&fs::read(&p).unwrap()[..])
        .unpack(&x)
        .unwrap();
    let (_d2, mut s2) = store();
    assert_eq!(archive::load(&mut s2, &x).unwrap()[0].id, c);
}

/// Hard links whose target is visible stay links; xattrs travel as PAX
/// records; a gzip-compressed archive file loads.
#[test]
fn export_keeps_links_and_xattrs() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_mode(0o755);
    h.set_size(4);
    b.append_pax_extensions([("SCHILY.xattr.user.tag", &b"blue"[..])])
        .unwrap();
    b.append_data(&mut h.clone(), "bin/tool", &b"tool"[..])
        .unwrap();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    b.append_link(&mut h, "bin/alias", "bin/tool").unwrap();
    let layer = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &craft::docker_archive(&[&layer], "links:1")).unwrap();
    let (d, mut s) = store();
    let p = d.path().join("links.tar.gz");
    fs::write(&p, gz.finish().unwrap()).unwrap();
    archive::load(&mut s, &p).unwrap();
    let mut out = Vec::new();
    export(&s, "links:1", &mut out).unwrap();
    let mut ar = tar::Archive::new(&out[..]);
    let mut seen = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().display().to_string();
        let xattrs: Vec<String> = match e.pax_extensions().unwrap() {
            Some(exts) => exts
                .map(|x| x.unwrap().key().unwrap().to_string())
                .collect(),
            None => Vec::new(),
        };
        seen.push(format!("{path} {:?} {xattrs:?}", e.header().entry_type()));
    }
    assert_eq!(
        seen,
        vec![
            // The link sorts first, so it carries the data and the xattrs.
            "bin/alias Regular [\"SCHILY.xattr.user.tag\"]".to_string(),
            "bin/tool Link []".to_string(),
        ]
    );
}
