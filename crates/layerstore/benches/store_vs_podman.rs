//! Whole-operation timings of the store against the tools it replaces, as
//! ratios measured in one run (absolute times mean nothing on a shared
//! machine): load vs `podman load` and vs `tar -xf` of the same content
//! (the floor), import vs `podman import`, save vs `podman save`, and the
//! disk cost of a second image that differs from the first in one file.
//!
//! Content: the root filesystem named by `STRATA_BENCH_ROOTFS` (a Debian
//! minbase made by debootstrap, ~6,700 entries), else `/etc`, `/usr/sbin`
//! and `/usr/share/doc` of this machine (~150 MB, ~6,800 entries). Run: `cargo bench -p layerstore`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use layerstore::archive::{self, Format, SaveItem};
use layerstore::rootfs::{import, ImportOptions};
use layerstore::{gc, images, Store};

const RUNS: usize = 3;

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn podman(root: &Path) -> Command {
    let mut c = Command::new("podman");
    c.arg("--root")
        .arg(root.join("root"))
        .arg("--runroot")
        .arg(root.join("run"))
        .args(["--storage-driver", "vfs", "--events-backend", "file"]);
    c
}

/// Best of `RUNS` timings of `f`, each on fresh state from `setup`.
fn best<S>(mut setup: impl FnMut(usize) -> S, mut f: impl FnMut(S)) -> Duration {
    (0..RUNS)
        .map(|i| {
            let s = setup(i);
            let t = Instant::now();
            f(s);
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn du(p: &Path) -> u64 {
    let out = Command::new("du").args(["-sb"]).arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn main() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let rootfs = w.join("rootfs.tar");
    // STRATA_BENCH_ROOTFS names a root filesystem to use (e.g. one made by
    // `debootstrap --variant=minbase bookworm DIR`); else host directories.
    match std::env::var_os("STRATA_BENCH_ROOTFS") {
        Some(dir) => run(Command::new("tar")
            .arg("-C")
            .arg(dir)
            .arg("-cf")
            .arg(&rootfs)
            .arg(".")),
        None => run(Command::new("tar")
            .args(["-C", "/", "--ignore-failed-read", "-cf"])
            .arg(&rootfs)
            .args(["etc", "usr/sbin", "usr/share/doc"])),
    }
    let tar_bytes = fs::metadata(&rootfs).unwrap().len();
    let fresh = |name: &str, i: usize| -> PathBuf {
        let d = w.join(format!("{name}-{i}"));
        fs::create_dir_all(&d).unwrap();
        d
    };

    // A docker-archive of the content, made by podman.
    let p0 = fresh("p0", 0);
    run(podman(&p0).arg("import").arg(&rootfs).arg("bench:1"));
    let archive_path = w.join("bench.tar");
    run(podman(&p0)
        .args(["save", "-o"])
        .arg(&archive_path)
        .arg("bench:1"));

    let t_tar = best(
        |i| fresh("tar", i),
        |d| {
            run(Command::new("tar")
                .arg("-C")
                .arg(&d)
                .arg("-xf")
                .arg(&rootfs))
        },
    );
    // strata makes a load durable (one syncfs before the database names it);
    // the same for tar is the durable floor.
    let t_tar_sync = best(
        |i| fresh("tars", i),
        |d| {
            run(Command::new("tar")
                .arg("-C")
                .arg(&d)
                .arg("-xf")
                .arg(&rootfs));
            run(Command::new("sync").arg("-f").arg(&d));
        },
    );
    let t_load = best(
        |i| Store::open(&fresh("sl", i)).unwrap(),
        |mut s| {
            archive::load(&mut s, &archive_path).unwrap();
        },
    );
    let t_pload = best(
        |i| fresh("pl", i),
        |d| run(podman(&d).args(["load", "-q", "-i"]).arg(&archive_path)),
    );
    let t_import = best(
        |i| Store::open(&fresh("si", i)).unwrap(),
        |mut s| {
            import(&mut s, &rootfs, Some("bench:1"), &ImportOptions::default()).unwrap();
        },
    );
    let t_pimport = best(
        |i| fresh("pi", i),
        |d| run(podman(&d).arg("import").arg(&rootfs).arg("bench:1")),
    );

    let mut s = Store::open(&w.join("sl-0")).unwrap();
    let id = images::resolve(&s, "localhost/bench:1").unwrap().id;
    let t_save = best(
        |i| w.join(format!("save-{i}.tar")),
        |out| {
            archive::save(
                &s,
                &[SaveItem {
                    id: id.clone(),
                    tags: vec![],
                }],
                Format::DockerArchive,
                &out,
            )
            .unwrap()
        },
    );
    let t_psave = best(
        |i| w.join(format!("psave-{i}.tar")),
        |out| run(podman(&p0).args(["save", "-o"]).arg(&out).arg("bench:1")),
    );

    // A second image that differs in one file.
    let rootfs2 = w.join("rootfs2.tar");
    fs::copy(&rootfs, &rootfs2).unwrap();
    let extra = w.join("extra");
    fs::create_dir_all(extra.join("etc")).unwrap();
    fs::write(extra.join("etc/changed"), b"one more file").unwrap();
    run(Command::new("tar")
        .arg("-C")
        .arg(&extra)
        .arg("-rf")
        .arg(&rootfs2)
        .arg("etc/changed"));
    let before = gc::disk_usage_report(&s).unwrap().on_disk_bytes;
    import(&mut s, &rootfs2, Some("bench:2"), &ImportOptions::default()).unwrap();
    let after = gc::disk_usage_report(&s).unwrap().on_disk_bytes;
    let p_before = du(&p0.join("root"));
    run(podman(&p0).arg("import").arg(&rootfs2).arg("bench:2"));
    let p_after = du(&p0.join("root"));

    let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!("content: {} MB tar", tar_bytes / 1_000_000);
    println!("| operation | strata | other | ratio |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| load vs tar -xf (floor) | {t_load:.2?} | {t_tar:.2?} | {:.2}x |",
        r(t_load, t_tar)
    );
    println!(
        "| load vs tar -xf + syncfs (durable floor) | {t_load:.2?} | {t_tar_sync:.2?} | {:.2}x |",
        r(t_load, t_tar_sync)
    );
    println!(
        "| load vs podman load | {t_load:.2?} | {t_pload:.2?} | {:.2}x |",
        r(t_load, t_pload)
    );
    println!(
        "| import vs tar -xf (floor) | {t_import:.2?} | {t_tar:.2?} | {:.2}x |",
        r(t_import, t_tar)
    );
    println!(
        "| import vs tar -xf + syncfs (durable floor) | {t_import:.2?} | {t_tar_sync:.2?} | {:.2}x |",
        r(t_import, t_tar_sync)
    );
    println!(
        "| import vs podman import | {t_import:.2?} | {t_pimport:.2?} | {:.2}x |",
        r(t_import, t_pimport)
    );
    println!(
        "| save vs podman save | {t_save:.2?} | {t_psave:.2?} | {:.2}x |",
        r(t_save, t_psave)
    );
    println!(
        "| 2nd image, one file differs: extra disk | +{:.2}% | +{:.2}% (podman vfs) | |",
        (after - before) as f64 * 100.0 / before as f64,
        (p_after - p_before) as f64 * 100.0 / p_before as f64
    );
}
