//! One run of a sequence: kernel overlayfs and strata-fs over the same
//! layers, each operation applied to both in turn and compared; then the
//! two trees; then, unmounted, each upper dir as the other filesystem
//! reads it (the on-disk format).

use std::collections::BTreeMap;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use crate::common::{build_layers, snapshot, tree_diffs, Entry, Mount};
use crate::exec::{apply, maps_the_file_opened, Fds, Seen};
use crate::ops::Op;
use crate::shadow::Shadows;

/// The three lower layers, built once and shared by every run: both
/// unions only read them, which each run checks.
pub struct Layers {
    dir: PathBuf,
    lowers: Vec<PathBuf>,
    pristine: BTreeMap<String, Entry>,
}

impl Layers {
    pub fn build(dir: &Path) -> Layers {
        let lowers = build_layers(dir);
        Layers {
            dir: dir.to_path_buf(),
            lowers,
            pristine: snapshot(dir),
        }
    }

    fn refs(&self) -> Vec<&Path> {
        self.lowers.iter().map(PathBuf::as_path).collect()
    }
}

/// Where and how the two filesystems first parted.
pub struct Difference {
    /// The operation that saw different things; None for a later check.
    pub at: Option<usize>,
    /// What kind of difference it is, without paths or data: what the
    /// minimizer keeps while it removes operations.
    pub signature: String,
    pub detail: String,
}

impl Difference {
    /// How many of the `ran` operations the difference needs: those up to
    /// the one that differed, or all for a later check.
    pub fn ops_needed(&self, ran: usize) -> usize {
        self.at.map_or(ran, |i| i + 1)
    }
}

pub struct Run {
    /// What each operation saw on the kernel's mount and on strata-fs's.
    pub seen: Vec<(Seen, Seen)>,
    pub difference: Option<Difference>,
}

/// Runs `ops` on fresh upper dirs under `scratch`, stopping at the first
/// difference.
pub fn run(layers: &Layers, scratch: &Path, ops: &[Op]) -> Run {
    let dir = tempfile::tempdir_in(scratch).unwrap();
    let sub = |name: &str| {
        let p = dir.path().join(name);
        fs::create_dir(&p).unwrap();
        p
    };
    let (k_upper, k_work, k_mnt) = (sub("k-upper"), sub("k-work"), sub("k-mnt"));
    let (s_upper, s_work, s_mnt) = (sub("s-upper"), sub("s-work"), sub("s-mnt"));
    let lowers = layers.refs();
    let mut seen = Vec::new();
    let expected = {
        let _kernel = Mount::kernel(&lowers, Some((&k_upper, &k_work)), &k_mnt);
        // Kernel overlayfs mounted by root opens devices; so must FUSE.
        let _strata = Mount::strata(&lowers, Some((&s_upper, &s_work)), &s_mnt, "dev");
        // Declared after the mounts: closed before they are unmounted.
        let (mut k_fds, mut s_fds) = (Fds::default(), Fds::default());
        let mut shadows = Shadows::default();
        for (i, op) in ops.iter().enumerate() {
            let lower_only = Shadows::lower_only(op, &s_upper);
            let pos = shadows.position(op, &mut s_fds);
            let k = apply(op, &k_mnt, &mut k_fds);
            let s = apply(op, &s_mnt, &mut s_fds);
            shadows.track(op, &s, lower_only, &mut s_fds, &lowers);
            if k != s
                && !shadows.reads_lower(op, pos, &s)
                && !maps_the_file_opened(op, &k, &s, &mut k_fds, &mut s_fds)
            {
                let difference = op_difference(i, op, &k, &s);
                seen.push((k, s));
                return Run {
                    seen,
                    difference: Some(difference),
                };
            }
            seen.push((k, s));
        }
        drop((k_fds, s_fds));
        let expected = match tree(&k_mnt) {
            Ok(t) => t,
            Err(e) => panic!("kernel overlayfs could not be walked: {e}"),
        };
        if let Some(d) = compare("tree after the operations", &expected, &s_mnt) {
            return Run {
                seen,
                difference: Some(d),
            };
        }
        expected
    };
    let crossed = [
        ("kernel overlayfs on strata-fs's upper", &s_upper, false),
        ("strata-fs on the kernel's upper", &k_upper, true),
    ];
    for (what, upper, strata) in crossed {
        let work = tempfile::tempdir_in(dir.path()).unwrap();
        let _m = if strata {
            Mount::strata(&lowers, Some((upper, work.path())), &k_mnt, "dev")
        } else {
            Mount::kernel(&lowers, Some((upper, work.path())), &k_mnt)
        };
        if let Some(d) = compare(what, &expected, &k_mnt) {
            return Run {
                seen,
                difference: Some(d),
            };
        }
    }
    let changed = tree_diffs(&layers.pristine, &snapshot(&layers.dir));
    assert!(
        changed.is_empty(),
        "a lower layer changed, so every later run would be wrong:\n{}",
        changed.join("\n")
    );
    Run {
        seen,
        difference: None,
    }
}

fn op_difference(i: usize, op: &Op, k: &Seen, s: &Seen) -> Difference {
    // "ok" or the errno.
    let class = |r: &str| {
        if r.starts_with("ok") {
            "ok".to_string()
        } else {
            r.to_string()
        }
    };
    let what = if k.result == s.result {
        "same result, different state after".to_string()
    } else if class(&k.result) == class(&s.result) {
        "different results".to_string()
    } else {
        format!("kernel {} / strata {}", class(&k.result), class(&s.result))
    };
    Difference {
        at: Some(i),
        signature: format!("{}: {what}", op.kind()),
        detail: format!("op {i}: {op}\n      kernel {k}\n      strata {s}"),
    }
}

/// A mount's tree, or why it could not be walked (`snapshot` panics on a
/// directory it cannot list).
fn tree(mnt: &Path) -> Result<BTreeMap<String, Entry>, String> {
    catch_unwind(AssertUnwindSafe(|| snapshot(mnt))).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "snapshot panicked".into())
    })
}

/// `expected` (kernel overlayfs's tree) against the tree at `mnt`.
fn compare(what: &str, expected: &BTreeMap<String, Entry>, mnt: &Path) -> Option<Difference> {
    let got = match tree(mnt) {
        Ok(t) => t,
        Err(e) => {
            return Some(Difference {
                at: None,
                signature: format!("{what}: cannot be walked"),
                detail: e,
            })
        }
    };
    let diffs = tree_diffs(expected, &got);
    if diffs.is_empty() {
        return None;
    }
    Some(Difference {
        at: None,
        signature: format!("{what}: {}", first_kind(expected, &got)),
        detail: format!(
            "{what} (first: kernel overlayfs's tree after the operations):\n{}",
            diffs[..diffs.len().min(40)].join("\n")
        ),
    })
}

/// What differs at the first path where two trees differ: a path only one
/// has, or the names of the fields that differ.
fn first_kind(a: &BTreeMap<String, Entry>, b: &BTreeMap<String, Entry>) -> String {
    let path = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .min()
        .expect("the trees differ");
    match (a.get(path), b.get(path)) {
        (Some(x), Some(y)) => {
            let fields = [
                ("kind", x.kind != y.kind),
                ("mode", x.mode != y.mode),
                ("uid", x.uid != y.uid),
                ("gid", x.gid != y.gid),
                ("size", x.size != y.size),
                ("nlink", x.nlink != y.nlink),
                ("rdev", x.rdev != y.rdev),
                ("target", x.target != y.target),
                ("content", x.content != y.content),
                ("xattrs", x.xattrs != y.xattrs),
                ("mtime", x.mtime_fixed != y.mtime_fixed),
            ];
            let names: Vec<&str> = fields.iter().filter(|f| f.1).map(|f| f.0).collect();
            format!("{} differ", names.join(", "))
        }
        (Some(_), None) => "an entry only the kernel shows".into(),
        _ => "an entry only the kernel does not show".into(),
    }
}
