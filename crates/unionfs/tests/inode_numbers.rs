//! Inode numbers against kernel overlayfs, on the same lower directories:
//! every name of a lower hard link shows the lower file's one number (so
//! `find -samefile`, `du` and `tar` see one file), a copied-up file keeps
//! its lower number across remounts, readdir's `d_ino` is stat's `st_ino`,
//! and layers on several filesystems get xino's unique numbers.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirEntryExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Every entry under `m` (relative path → `st_ino`), checking on the way
/// that readdir's `d_ino` is the `st_ino` stat gives.
fn numbers(m: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![m.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let st = fs::symlink_metadata(e.path()).unwrap();
            let rel = e.path().strip_prefix(m).unwrap().display().to_string();
            assert_eq!(
                e.ino(),
                st.ino(),
                "{}: d_ino is not st_ino",
                e.path().display()
            );
            if st.is_dir() {
                stack.push(e.path());
            }
            out.insert(rel, st.ino());
        }
    }
    out
}

/// The real inode numbers of everything in the lower layers.
fn lower_inos(lowers: &[PathBuf]) -> HashSet<u64> {
    lowers
        .iter()
        .flat_map(|l| numbers(l).into_values())
        .collect()
}

/// `numbers` comparable across two mounts with their own upper dirs: a
/// lower file's number as it is, any other by order of first appearance.
fn labels(nums: &BTreeMap<String, u64>, lower: &HashSet<u64>) -> BTreeMap<String, String> {
    let mut others = HashMap::new();
    nums.iter()
        .map(|(p, n)| {
            let label = if lower.contains(n) {
                format!("lower {n}")
            } else {
                let k = others.len();
                format!("upper #{}", others.entry(*n).or_insert(k))
            };
            (p.clone(), label)
        })
        .collect()
}

fn sh(script: &str, m: &Path) -> String {
    run(Command::new("sh").arg("-c").arg(script).arg("sh").arg(m))
}

/// What `find -samefile`, `du` and `tar` make of the tree under `m`.
fn tools_view(m: &Path) -> Vec<String> {
    let samefile = sh(
        "cd \"$1\" && find . -samefile hard1 | sort; find . -samefile links/a | sort",
        m,
    );
    let du = sh("cd \"$1\" && du -a -b . | sort -k2", m);
    // tar names a hard link after the first name it met: the pair, sorted.
    let tar = sh("tar -C \"$1\" -cf - . | tar -tvf - | grep ' link to '", m);
    let mut links: Vec<String> = tar
        .lines()
        .map(|l| {
            let (from, to) = l.split_once(" link to ").unwrap();
            let from = from.rsplit(' ').next().unwrap();
            let mut pair = [from.to_string(), to.to_string()];
            pair.sort();
            pair.join(" = ")
        })
        .collect();
    links.sort();
    vec![samefile, du, links.join("\n")]
}

/// Lower layers on the root filesystem: the shared fixture plus a layer of
/// names of one file in several directories.
fn layers(base: &Path) -> Vec<PathBuf> {
    let top = base.join("l0");
    write(&top.join("links/a"), b"one file, three names");
    for d in ["links/sub", "merged"] {
        fs::create_dir_all(top.join(d)).unwrap();
    }
    fs::hard_link(top.join("links/a"), top.join("links/sub/b")).unwrap();
    fs::hard_link(top.join("links/a"), top.join("merged/c2")).unwrap();
    fix_times(&top);
    let mut lowers = vec![top];
    lowers.extend(build_layers(base));
    lowers
}

struct Pair {
    kernel: Mount,
    strata: Mount,
}

/// Kernel overlayfs and strata-fs over the same lowers, each with its own
/// upper and work dir under `base` (kept, so they can be mounted again).
fn mount_pair(base: &Path, lowers: &[PathBuf]) -> Pair {
    let refs: Vec<&Path> = lowers.iter().map(|p| p.as_path()).collect();
    let d = |n: &str| {
        let p = base.join(n);
        fs::create_dir_all(&p).unwrap();
        p
    };
    let kernel = Mount::kernel(&refs, Some((&d("ku"), &d("kw"))), &d("km"));
    let strata = Mount::strata(&refs, Some((&d("su"), &d("sw"))), &d("sm"), "");
    Pair { kernel, strata }
}

#[test]
fn lower_hard_links_show_one_number_like_kernel() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let lowers = layers(&tmp.path().join("layers"));
    let pair = mount_pair(tmp.path(), &lowers);
    let (k, s) = (&pair.kernel.path, &pair.strata.path);

    let kn = numbers(k);
    let sn = numbers(s);
    assert_eq!(kn, sn, "strata shows other numbers than the kernel");
    assert_eq!(sn["hard1"], sn["hard2"]);
    assert_eq!(sn["links/a"], sn["links/sub/b"]);
    assert_eq!(sn["links/a"], sn["merged/c2"]);
    assert_ne!(sn["hard1"], sn["links/a"]);
    let nlink = |p: &str| fs::symlink_metadata(s.join(p)).unwrap().nlink();
    assert_eq!((nlink("hard2"), nlink("links/sub/b")), (2, 3));

    let kt = tools_view(k);
    assert_eq!(kt, tools_view(s), "find/du/tar see another tree");
    assert!(kt[2].contains("./hard1 = ./hard2"), "{}", kt[2]);
    assert!(
        kt[0].lines().filter(|l| l.contains("hard")).count() == 2,
        "{}",
        kt[0]
    );
}

#[test]
fn copied_up_files_keep_their_numbers_like_kernel() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let lowers = layers(&tmp.path().join("layers"));
    let lower = lower_inos(&lowers);
    let ops = |m: &Path| {
        let p = |s: &str| m.join(s);
        let append = |s: &str| {
            let mut f = OpenOptions::new().append(true).open(p(s)).unwrap();
            f.write_all(b"more").unwrap();
        };
        fs::set_permissions(p("top"), fs::Permissions::from_mode(0o600)).unwrap();
        append("plain2");
        fs::rename(p("plain2"), p("moved")).unwrap();
        append("hard1"); // copies one name of a hard link: now its own file
        fs::hard_link(p("setgid"), p("setgid-link")).unwrap();
        append("links/sub/b");
        fs::write(p("fresh"), b"new").unwrap();
        fs::create_dir(p("newdir")).unwrap();
        fs::write(p("merged/newfile"), b"new").unwrap();
    };
    let (kn, sn) = {
        let pair = mount_pair(tmp.path(), &lowers);
        for m in [&pair.kernel.path, &pair.strata.path] {
            // Listed first, so the kernel has cached the listings too.
            numbers(m);
            ops(m);
        }
        let sn = numbers(&pair.strata.path);
        fs::write("/proc/sys/vm/drop_caches", "2").unwrap();
        assert_eq!(sn, numbers(&pair.strata.path), "changed after forget");
        (numbers(&pair.kernel.path), sn)
    };
    let (kl, sl) = (labels(&kn, &lower), labels(&sn, &lower));
    assert_eq!(kl, sl, "copy-up numbers differ from the kernel's");
    let top = fs::metadata(lowers[1].join("top")).unwrap().ino();
    assert_eq!(sn["top"], top, "a copy-up keeps the lower number");
    let plain2 = fs::metadata(lowers[2].join("plain2")).unwrap().ino();
    assert_eq!(sn["moved"], plain2, "and keeps it when renamed");
    assert_eq!(sn["setgid"], sn["setgid-link"]);
    assert_ne!(sn["hard1"], sn["hard2"], "a broken hard link is two files");
    assert_eq!(sn["links/a"], sn["merged/c2"]);
    assert_ne!(sn["links/a"], sn["links/sub/b"]);

    // Mounted again on the same upper dirs: the same numbers.
    let pair = mount_pair(tmp.path(), &lowers);
    assert_eq!(numbers(&pair.strata.path), sn, "changed across remount");
    assert_eq!(numbers(&pair.kernel.path), kn, "the kernel's changed");
}

/// A tmpfs mounted on a directory of the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn new(at: PathBuf) -> Tmpfs {
        fs::create_dir_all(&at).unwrap();
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", "inode32", "tmpfs"])
            .arg(&at));
        Tmpfs(at)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        unmount(&self.0);
    }
}

#[test]
fn layers_on_several_filesystems_get_unique_numbers_like_xino() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path();
    // Fresh tmpfs mounts count inode numbers from the same start, so the
    // lower on one and the upper on the other share raw numbers.
    let t1 = Tmpfs::new(b.join("t1"));
    let t2 = Tmpfs::new(b.join("t2"));
    let low1 = t1.0.join("low");
    write(&low1.join("d/f"), b"tmpfs file");
    fs::hard_link(low1.join("d/f"), low1.join("g")).unwrap();
    write(&low1.join("merged/x"), b"x");
    for i in 0..40 {
        write(&low1.join(format!("many/{i}")), b"");
    }
    let low2 = b.join("ext");
    write(&low2.join("merged/y"), b"y");
    write(&low2.join("e"), b"root fs file");
    let lowers = [low1.as_path(), low2.as_path()];
    let dirs = |names: &[&str]| -> Vec<PathBuf> {
        names
            .iter()
            .map(|n| {
                let p = t2.0.join(n);
                fs::create_dir_all(&p).unwrap();
                p
            })
            .collect()
    };
    let [ku, kw, su, sw] = <[PathBuf; 4]>::try_from(dirs(&["ku", "kw", "su", "sw"])).unwrap();
    let (km, sm) = (b.join("km"), b.join("sm"));
    fs::create_dir_all(&km).unwrap();
    fs::create_dir_all(&sm).unwrap();
    let _k = Mount::kernel_xino(&lowers, Some((&ku, &kw)), &km, "on");
    let _s = Mount::strata(&lowers, Some((&su, &sw)), &sm, "");

    let sn = numbers(&sm);
    assert_eq!(numbers(&km), sn, "strata lays numbers out unlike xino");
    assert_eq!(sn["d/f"], sn["g"]);
    for i in 0..20 {
        fs::write(sm.join(format!("new{i}")), b"upper file").unwrap();
    }
    let raw = |p: &Path| fs::symlink_metadata(p).unwrap().ino();
    let lower_raw: HashSet<u64> = numbers(&low1).into_values().collect();
    let upper_raw: HashSet<u64> = (0..20).map(|i| raw(&su.join(format!("new{i}")))).collect();
    assert!(
        !lower_raw.is_disjoint(&upper_raw),
        "the layers should share raw inode numbers for this test to mean anything"
    );
    let sn = numbers(&sm);
    let mut files: HashMap<u64, BTreeSet<&String>> = HashMap::new();
    for (p, n) in &sn {
        files.entry(*n).or_default().insert(p);
    }
    let shared: Vec<_> = files.values().filter(|ps| ps.len() > 1).collect();
    assert_eq!(
        shared,
        [&BTreeSet::from([&"d/f".to_string(), &"g".to_string()])],
        "only the two names of one file may share a number"
    );
}
