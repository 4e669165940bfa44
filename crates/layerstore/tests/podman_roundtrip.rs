//! Compatibility with real tools: archives written by podman and skopeo
//! load, and archives strata writes load back into podman with the same
//! image ID and diff_ids.

mod common;

use std::path::Path;
use std::process::Command;

use common::{run, store, Podman};
use layerstore::archive::{self, Format};
use layerstore::images;

fn save_all(s: &layerstore::Store, name: &str, format: Format, out: &Path) {
    let r = images::resolve(s, name).unwrap();
    archive::save(
        s,
        &[archive::SaveItem {
            id: r.id,
            tags: r.tag.into_iter().collect(),
        }],
        format,
        out,
    )
    .unwrap();
}

/// podman save (docker-archive and oci-archive) → load → save (all three
/// formats) → podman load in a fresh podman: same ID and diff_ids.
#[test]
fn podman_archives_roundtrip() {
    let p = Podman::new();
    p.busybox("localhost/bb:1");
    let id = p.multi_layer("localhost/bb:1", "localhost/multi:2");
    let diff_ids = p.diff_ids("localhost/multi:2");
    assert_eq!(diff_ids.len(), 3);
    let work = p.dir.path();

    for fmt in ["docker-archive", "oci-archive"] {
        let (_d, mut s) = store();
        let arch = work.join(format!("podman-{fmt}.tar"));
        p.podman(&[
            "save",
            "--format",
            fmt,
            "-o",
            arch.to_str().unwrap(),
            "localhost/multi:2",
        ]);
        let loaded = archive::load(&mut s, &arch).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].id.hex(), id, "image ID changed on load of {fmt}");
        assert_eq!(loaded[0].tags, vec!["localhost/multi:2".to_string()]);
        let stored: Vec<String> = s_layers(&s, "localhost/multi:2");
        assert_eq!(stored, diff_ids);

        for (out_fmt, ext, transport) in [
            (Format::DockerArchive, "tar", "docker-archive"),
            (Format::OciArchive, "tar", "oci-archive"),
            (Format::OciDir, "d", "oci"),
        ] {
            let out = work.join(format!("strata-{fmt}-{transport}.{ext}"));
            save_all(&s, "localhost/multi:2", out_fmt, &out);
            let q = Podman::new();
            let out = if out_fmt == Format::OciDir {
                // podman load cannot read a layout directory; skopeo can.
                let via = work.join(format!("via-skopeo-{fmt}.tar"));
                run(Command::new("skopeo")
                    .args(["copy", "-q"])
                    .arg(format!("oci:{}", out.display()))
                    .arg(format!("docker-archive:{}", via.display())));
                via
            } else {
                out
            };
            q.podman(&["load", "-i", out.to_str().unwrap()]);
            let name = if out_fmt == Format::DockerArchive {
                "localhost/multi:2".to_string()
            } else {
                let listed = q.podman(&["images", "-q", "--no-trunc"]);
                listed.lines().next().unwrap().trim().to_string()
            };
            assert_eq!(
                q.inspect(&name, "{{.Id}}"),
                id,
                "podman sees another ID after {transport}"
            );
            assert_eq!(
                q.diff_ids(&name),
                diff_ids,
                "diff_ids changed after {transport}"
            );
        }
        let fsck = layerstore::fsck::fsck(&s).unwrap();
        assert!(fsck.is_clean(), "{:?}", fsck.problems);
    }
}

fn s_layers(s: &layerstore::Store, name: &str) -> Vec<String> {
    let v = images::inspect(s, name).unwrap();
    v["RootFS"]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

/// skopeo copy to `oci:` (gzip layers, bare tag) and `docker-archive:`
/// both load to the same image; loading twice stores nothing new.
#[test]
fn skopeo_layouts_load() {
    let p = Podman::new();
    p.busybox("localhost/bb:1");
    let id = p.multi_layer("localhost/bb:1", "localhost/multi:2");
    let work = p.dir.path();
    let arch = work.join("p.tar");
    p.podman(&[
        "save",
        "--format",
        "docker-archive",
        "-o",
        arch.to_str().unwrap(),
        "localhost/multi:2",
    ]);
    let oci = work.join("oci");
    let da = work.join("da.tar");
    run(Command::new("skopeo")
        .args(["copy", "-q"])
        .arg(format!("docker-archive:{}", arch.display()))
        .arg(format!("oci:{}:v1", oci.display())));
    run(Command::new("skopeo")
        .args(["copy", "-q"])
        .arg(format!("docker-archive:{}", arch.display()))
        .arg(format!(
            "docker-archive:{}:example.com/ns/app:7",
            da.display()
        )));

    let (_d, mut s) = store();
    let a = archive::load(&mut s, &oci).unwrap();
    assert_eq!(a[0].id.hex(), id);
    assert!(a[0].tags.is_empty(), "a bare OCI tag names no repository");
    let files_before = common::count_files(&s.root().join("objects"));
    let b = archive::load(&mut s, &da).unwrap();
    assert_eq!(b[0].id.hex(), id);
    assert_eq!(b[0].tags, vec!["example.com/ns/app:7".to_string()]);
    assert_eq!(common::count_files(&s.root().join("objects")), files_before);
    let rows = images::list(&s).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].repository.as_str(), rows[0].tag.as_str()),
        ("example.com/ns/app", "7")
    );
    // Short ID prefixes resolve.
    assert_eq!(images::resolve(&s, &id[..12]).unwrap().id.hex(), id);
}

/// The merged tree strata exports equals what podman exports for a
/// container of the same image (whiteouts and hard links applied).
#[test]
fn export_matches_podman() {
    let p = Podman::new();
    p.busybox("localhost/bb:1");
    p.multi_layer("localhost/bb:1", "localhost/multi:2");
    let work = p.dir.path();
    let arch = work.join("p.tar");
    p.podman(&["save", "-o", arch.to_str().unwrap(), "localhost/multi:2"]);
    let (_d, mut s) = store();
    archive::load(&mut s, &arch).unwrap();

    let ours = work.join("ours.tar");
    let mut f = std::fs::File::create(&ours).unwrap();
    layerstore::rootfs::export(&s, "localhost/multi:2", &mut f).unwrap();
    drop(f);
    let ctr = p
        .podman(&["create", "localhost/multi:2"])
        .trim()
        .to_string();
    let theirs = work.join("theirs.tar");
    p.podman(&["export", "-o", theirs.to_str().unwrap(), &ctr]);
    p.podman(&["rm", &ctr]);

    let listing = |t: &Path| -> Vec<String> {
        let mut v: Vec<String> = tar_entries(t)
            .into_iter()
            // podman's container export adds mount points it creates.
            .filter(|(p, _)| {
                ![
                    "dev",
                    "proc",
                    "sys",
                    "run",
                    "etc/hostname",
                    "etc/hosts",
                    "etc/resolv.conf",
                    "run/.containerenv",
                ]
                .contains(&p.as_str())
            })
            .map(|(p, d)| format!("{p} {d}"))
            .collect();
        v.sort();
        v
    };
    let (a, b) = (listing(&ours), listing(&theirs));
    assert_eq!(a, b);
    assert!(a.iter().any(|l| l.starts_with("x/b ")));
    assert!(!a
        .iter()
        .any(|l| l.starts_with("x/a ") || l.starts_with("etc/d/f ") || l.starts_with("etc/motd ")));
    assert!(a.iter().any(|l| l.starts_with("etc/d/hl ")));
}

/// (path, "kind mode content-hash link") for each entry of a tar. A hard
/// link reads as the file it links to: which path carries the data is an
/// ordering detail.
fn tar_entries(t: &Path) -> Vec<(String, String)> {
    let mut ar = tar::Archive::new(std::fs::File::open(t).unwrap());
    let clean = |p: &[u8]| {
        String::from_utf8_lossy(p)
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string()
    };
    let mut content: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = clean(&e.path_bytes());
        if path.is_empty() {
            continue;
        }
        let h = e.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        let (kind, hash) = match h.entry_type() {
            tar::EntryType::Link => {
                let target = clean(&e.link_name_bytes().unwrap());
                ("file".to_string(), content[&target])
            }
            tar::EntryType::Regular => ("file".to_string(), md5ish(&data)),
            t => (format!("{t:?}"), 0),
        };
        content.insert(path.clone(), hash);
        let link = if h.entry_type() == tar::EntryType::Symlink {
            e.link_name()
                .unwrap()
                .map(|l| l.display().to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        out.push((
            path,
            format!("{kind} {:o} {hash:x} {link}", h.mode().unwrap() & 0o7777),
        ));
    }
    out
}

fn md5ish(d: &[u8]) -> u64 {
    d.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// Several images in one archive, both ways: `podman save -m` → load, and
/// strata save of two images → podman load gets both.
#[test]
fn multi_image_archives() {
    let p = Podman::new();
    let bb = p.busybox("localhost/bb:1");
    let multi = p.multi_layer("localhost/bb:1", "localhost/multi:2");
    let work = p.dir.path();
    let arch = work.join("two.tar");
    p.podman(&[
        "save",
        "-m",
        "-o",
        arch.to_str().unwrap(),
        "localhost/bb:1",
        "localhost/multi:2",
    ]);
    let (_d, mut s) = store();
    let loaded = archive::load(&mut s, &arch).unwrap();
    let mut ids: Vec<String> = loaded.iter().map(|i| i.id.hex().to_string()).collect();
    ids.sort();
    let mut want = vec![bb.clone(), multi.clone()];
    want.sort();
    assert_eq!(ids, want);

    let out = work.join("strata-two.tar");
    let items: Vec<archive::SaveItem> = ["localhost/bb:1", "localhost/multi:2"]
        .iter()
        .map(|n| {
            let r = images::resolve(&s, n).unwrap();
            archive::SaveItem {
                id: r.id,
                tags: r.tag.into_iter().collect(),
            }
        })
        .collect();
    archive::save(&s, &items, Format::DockerArchive, &out).unwrap();
    let q = Podman::new();
    q.podman(&["load", "-i", out.to_str().unwrap()]);
    assert_eq!(q.inspect("localhost/bb:1", "{{.Id}}"), bb);
    assert_eq!(q.inspect("localhost/multi:2", "{{.Id}}"), multi);
}

/// Real content from this machine (/etc, /usr/sbin, zoneinfo: thousands of
/// entries, setuid files, symlinks, hard links, long names) through
/// podman and back: same ID, and the same tree on export.
#[test]
fn host_content_roundtrip() {
    let p = Podman::new();
    let work = p.dir.path();
    let rootfs = work.join("host.tar");
    run(Command::new("tar")
        .args(["-C", "/", "--ignore-failed-read", "-cf"])
        .arg(&rootfs)
        .args(["etc", "usr/sbin", "usr/share/zoneinfo", "bin/busybox"]));
    p.podman(&["import", rootfs.to_str().unwrap(), "localhost/host:1"]);
    let id = p.inspect("localhost/host:1", "{{.Id}}");
    let arch = work.join("host-save.tar");
    p.podman(&["save", "-o", arch.to_str().unwrap(), "localhost/host:1"]);

    let (_d, mut s) = store();
    assert_eq!(archive::load(&mut s, &arch).unwrap()[0].id.hex(), id);
    let out = work.join("strata-host.tar");
    save_all(&s, "localhost/host:1", Format::OciArchive, &out);
    let q = Podman::new();
    q.podman(&["load", "-i", out.to_str().unwrap()]);
    let listed = q.podman(&["images", "-q", "--no-trunc"]);
    assert_eq!(listed.trim().trim_start_matches("sha256:"), id);

    let ours = work.join("ours.tar");
    layerstore::rootfs::export_to_file(&s, "localhost/host:1", &ours).unwrap();
    let mut a: Vec<String> = tar_entries(&ours)
        .into_iter()
        .map(|(p, d)| format!("{p} {d}"))
        .collect();
    let mut b: Vec<String> = tar_entries(&rootfs)
        .into_iter()
        .map(|(p, d)| format!("{p} {d}"))
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a.len(), b.len());
    assert_eq!(a, b);
}
