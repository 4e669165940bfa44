//! Volumes of every kind, and mounts that a symlink in the image tries to
//! send outside the container's root.

mod common;

use common::Fixture;
use runner::volumes::{parse_tmpfs, parse_volume};

#[test]
fn bind_named_anonymous_and_tmpfs_volumes() {
    let f = Fixture::new();
    let host = f.tmp.path().join("host-data");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in"), "from the host\n").unwrap();
    let spec = |v: &str| parse_volume(v).unwrap();

    // rw bind: the container reads the host's file and writes one back.
    let mut opts = f.opts(&["sh", "-c", "cat /data/in && echo back > /data/out"]);
    opts.mounts = vec![spec(&format!("{}:/data", host.display()))];
    let (code, out, err) = f.run(opts);
    assert_eq!((code, out.as_str()), (0, "from the host\n"), "{err}");
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "back\n");

    // ro bind: writing fails.
    let mut opts = f.opts(&["sh", "-c", "echo no > /data/ro"]);
    opts.mounts = vec![spec(&format!("{}:/data:ro", host.display()))];
    assert_ne!(f.run(opts).0, 0);
    assert!(!host.join("ro").exists());

    // A named volume outlives the container that filled it.
    let mut opts = f.opts(&["sh", "-c", "echo kept > /v/file"]);
    opts.mounts = vec![spec("shared:/v")];
    assert_eq!(f.run(opts).0, 0);
    let mut opts = f.opts(&["cat", "/v/file"]);
    opts.mounts = vec![spec("shared:/v")];
    assert_eq!(f.run(opts).1, "kept\n");

    // Anonymous volumes (from -v /path and the image's VOLUME) and a tmpfs
    // are mounted; the image's VOLUME is not in the writable layer.
    let mut opts = f.opts(&[
        "sh",
        "-c",
        "echo x > /cache/f; grep -E ' /(scratch|cache|run) ' /proc/mounts | cut -d' ' -f2,3 | sort",
    ]);
    opts.image_config.volumes = vec!["/cache".into()];
    opts.mounts = vec![spec("/scratch"), parse_tmpfs("/run:size=1m").unwrap()];
    let id = f.start(opts).unwrap();
    assert_eq!(f.rt.wait(&id).unwrap(), 0);
    let mut out = Vec::new();
    f.rt.logs(&id, false, &mut out, &mut Vec::new()).unwrap();
    let mounts = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = mounts.lines().collect();
    assert_eq!(lines.len(), 3, "{mounts}");
    assert!(
        lines[0].starts_with("/cache ")
            && lines[1] == "/run tmpfs"
            && lines[2].starts_with("/scratch "),
        "{mounts}"
    );
    assert!(!f.rt.store().dir(&id).join("upper/cache/f").exists());
    f.rt.remove(&id, false).unwrap();
}

#[test]
fn a_symlink_in_the_image_cannot_move_a_mount_outside_the_root() {
    let f = Fixture::new();
    let outside = f.tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    // Absolute and climbing links, as a hostile image would ship them.
    std::os::unix::fs::symlink(&outside, f.image.join("abs")).unwrap();
    std::os::unix::fs::symlink("../../../../../../..", f.image.join("etc/up")).unwrap();
    let host = f.tmp.path().join("payload");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("marker"), "payload\n").unwrap();
    let mut opts = f.opts(&["sh", "-c", "cat /abs/x/marker /etc/up/tmp/y/marker"]);
    opts.mounts = vec![
        parse_volume(&format!("{}:/abs/x", host.display())).unwrap(),
        parse_volume(&format!("{}:/etc/up/tmp/y", host.display())).unwrap(),
    ];
    let (code, out, err) = f.run(opts);
    assert_eq!((code, out.as_str()), (0, "payload\npayload\n"), "{err}");
    // Nothing was created or mounted on the host side of the links.
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert!(!std::path::Path::new("/tmp/y").exists());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(outside.to_str().unwrap()));
}

#[test]
fn volumes_from_shares_named_and_anonymous_volumes() {
    let f = Fixture::new();
    let mut data = f.opts(&["sh", "-c", "echo n > /named/f; echo a > /anon/f"]);
    data.name = Some("data".into());
    data.mounts = vec![
        parse_volume("vol1:/named").unwrap(),
        parse_volume("/anon").unwrap(),
        parse_tmpfs("/t").unwrap(),
    ];
    let id = f.start(data).unwrap();
    assert_eq!(f.rt.wait(&id).unwrap(), 0);

    let mut reader = f.opts(&[
        "sh",
        "-c",
        "cat /named/f /anon/f; test -e /t/x || echo no-tmpfs-shared; echo more >> /anon/f",
    ]);
    reader.volumes_from = vec!["data".into()];
    let (code, out, err) = f.run(reader);
    assert_eq!(
        (code, out.as_str()),
        (0, "n\na\nno-tmpfs-shared\n"),
        "{err}"
    );
    let mut ro = f.opts(&["sh", "-c", "echo x > /anon/f"]);
    ro.volumes_from = vec!["data:ro".into()];
    assert_ne!(f.run(ro).0, 0);
    let anon = f.rt.store().dir(&id).join("volumes");
    let file = std::fs::read_dir(&anon)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("f");
    assert_eq!(std::fs::read_to_string(file).unwrap(), "a\nmore\n");
    f.rt.remove(&id, false).unwrap();
    // The named volume outlives both containers; the anonymous one went with its container.
    assert!(runner::volumes::named_dir(f.rt.store().root(), "vol1")
        .join("f")
        .exists());
    assert!(!anon.exists());
}

#[test]
fn new_volumes_start_with_the_images_content() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    std::fs::create_dir_all(f.image.join("data/sub")).unwrap();
    std::fs::write(f.image.join("data/seed"), "seeded\n").unwrap();
    std::fs::set_permissions(
        f.image.join("data/seed"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::os::unix::fs::symlink("../seed", f.image.join("data/sub/link")).unwrap();

    // An image VOLUME becomes an anonymous volume holding the image's files.
    let mut opts = f.opts(&[
        "sh",
        "-c",
        "cat /data/sub/link; stat -c %a /data/seed; echo new > /data/new",
    ]);
    opts.image_config.volumes = vec!["/data".into()];
    let id = f.start(opts).unwrap();
    assert_eq!(f.rt.wait(&id).unwrap(), 0);
    let mut out = Vec::new();
    f.rt.logs(&id, false, &mut out, &mut Vec::new()).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "seeded\n640\n");
    assert!(!f.rt.store().dir(&id).join("upper/data/new").exists());
    f.rt.remove(&id, false).unwrap();

    // A named volume is filled on first use only.
    let mut first = f.opts(&["sh", "-c", "cat /data/seed; echo changed > /data/seed"]);
    first.mounts = vec![parse_volume("seeded:/data").unwrap()];
    assert_eq!(f.run(first).1, "seeded\n");
    let mut second = f.opts(&["cat", "/data/seed"]);
    second.mounts = vec![parse_volume("seeded:/data").unwrap()];
    assert_eq!(f.run(second).1, "changed\n");
}

#[test]
fn named_volume_commands() {
    let f = Fixture::new();
    let vols = runner::volumes::NamedVolumes::new(f.rt.store());
    vols.create("made").unwrap();
    assert!(vols.create("bad name").is_err());
    let mut opts = f.opts(&["sh", "-c", "echo x > /v/f"]);
    opts.mounts = vec![parse_volume("used:/v").unwrap()];
    opts.name = Some("user".into());
    let id = f.start(opts).unwrap();
    assert_eq!(f.rt.wait(&id).unwrap(), 0);
    assert_eq!(vols.list().unwrap(), ["made", "used"]);
    let info = vols.inspect("used").unwrap();
    assert_eq!(info["UsedBy"], serde_json::json!(["user"]));
    assert!(std::path::Path::new(info["Mountpoint"].as_str().unwrap())
        .join("f")
        .exists());
    let err = vols.remove("used").unwrap_err();
    assert!(
        err.to_string().contains("in use by container user"),
        "{err}"
    );
    f.rt.remove(&id, false).unwrap();
    vols.remove("used").unwrap();
    vols.remove("made").unwrap();
    assert!(vols.list().unwrap().is_empty());
    assert!(vols.remove("made").is_err());
}
