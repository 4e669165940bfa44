//! Layers read independently (as parallel downloads read them) and then
//! attached in order: the result is the image a sequential import gives,
//! hard links to lower files included, and the stack rules still hold.

mod common;

use std::io::Read;
use std::path::Path;

use common::craft::{self, dir, file, hardlink, symlink};
use common::{assert_clean_and_empty, count_files, store};
use layerstore::store::LayerExpect;
use layerstore::view::ImageView;
use layerstore::Digest;

/// Imports `layers` on one thread each, the top one first, then attaches
/// them bottom first and commits as `tag`.
fn import_detached(
    s: &mut layerstore::Store,
    layers: &[&[u8]],
    tag: &str,
) -> layerstore::Result<()> {
    let mut pending = s.begin()?;
    let importer = pending.importer(s);
    let detached: Vec<_> = std::thread::scope(|sc| {
        let handles: Vec<_> = layers
            .iter()
            .enumerate()
            .rev()
            .map(|(i, l)| {
                let importer = importer.clone();
                sc.spawn(move || {
                    let expect = LayerExpect {
                        diff_id: Some(Digest::of(l)),
                        ..Default::default()
                    };
                    importer.import(&format!("layer {i}"), *l, &expect)
                })
            })
            .collect();
        handles
            .into_iter()
            .rev()
            .map(|h| h.join().unwrap())
            .collect()
    });
    for (i, d) in detached.into_iter().enumerate() {
        s.attach_layer(&mut pending, &format!("layer {i}"), d?)?;
    }
    s.commit(pending, &craft::config(layers), None, &[tag.to_string()])?;
    Ok(())
}

#[test]
fn hard_links_to_lower_files_are_resolved() {
    let lower = craft::tar(&[dir("etc"), file("etc/passwd", b"root:x:0:0\n")]);
    let upper = craft::tar(&[
        dir("bin"),
        hardlink("bin/pw", "etc/passwd"),
        file("bin/own", b"o"),
        hardlink("bin/own2", "bin/own"),
    ]);
    let (_d, mut s) = store();
    import_detached(&mut s, &[&lower, &upper], "docker.io/library/hl:1").unwrap();
    let v = ImageView::open(&s, "hl:1").unwrap();
    let top = &v.layers()[0];
    for (path, want) in [("bin/pw", &b"root:x:0:0\n"[..]), ("bin/own2", b"o")] {
        let e = top.lookup(Path::new(path)).unwrap();
        let mut got = Vec::new();
        top.open(e).unwrap().read_to_end(&mut got).unwrap();
        assert_eq!(got, want, "{path}");
        assert_eq!(e.size, want.len() as u64, "{path}");
    }
    let r = layerstore::fsck::fsck(&s).unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
}

#[test]
fn stack_rules_hold_for_detached_layers() {
    let cases: [(Vec<u8>, Vec<u8>, &str); 3] = [
        (
            craft::tar(&[dir("etc"), symlink("l", "/etc")]),
            craft::tar(&[file("l/passwd", b"x")]),
            "not a directory",
        ),
        (
            craft::tar(&[dir("etc")]),
            craft::tar(&[hardlink("x", "etc/missing")]),
            "hard link target does not exist",
        ),
        (
            craft::tar(&[dir("etc")]),
            craft::tar(&[hardlink("x", "etc")]),
            "hard link to a directory",
        ),
    ];
    for (lower, upper, want) in cases {
        let (_d, mut s) = store();
        let err =
            import_detached(&mut s, &[&lower, &upper], "docker.io/library/bad:1").unwrap_err();
        assert!(err.to_string().contains(want), "{err} lacks {want:?}");
        assert_clean_and_empty(&s);
        for sub in ["objects", "layers", "tmp"] {
            assert_eq!(count_files(&s.root().join(sub)), 0, "{sub}/ after {want:?}");
        }
    }
}
