//! Randomized differential test: seeded random sequences of operations
//! (opens, reads, writes, mmap through descriptors kept open across the
//! operations that follow; renames, links, unlinks, special files, modes,
//! owners, times, xattrs) on kernel overlayfs and on strata-fs over the same
//! three layers, compared operation by operation, then as trees, then as
//! upper dirs each filesystem reads back from the other. A failing sequence
//! is cut down to the shortest one found that fails the same way and
//! printed with its seed. The hand-written sequence in differential.rs
//! checks what we thought of; this finds the orders we did not.
//!
//! `STRATA_FUZZ_SEEDS`: `A..B`, `A,B,C` or `A` (default `0..5`);
//! `STRATA_FUZZ_OPS`: operations per seed (default 200).
//! `benches/fuzz-differential.sh` runs hundreds of seeds.

mod common;
#[path = "random_differential/exec.rs"]
mod exec;
#[path = "random_differential/minimize.rs"]
mod minimize;
#[path = "random_differential/ops.rs"]
mod ops;
#[path = "random_differential/run.rs"]
mod run;
#[path = "random_differential/shadow.rs"]
mod shadow;

use std::collections::BTreeMap;
use std::path::Path;

use common::require_root;
use ops::Op;
use run::{run, Layers};

/// Runs the minimizer may spend on one kind of difference.
const MINIMIZE_RUNS: usize = 300;

fn seeds() -> Vec<u64> {
    let spec = std::env::var("STRATA_FUZZ_SEEDS").unwrap_or_else(|_| "0..5".into());
    let num = |s: &str| -> u64 {
        s.trim()
            .parse()
            .unwrap_or_else(|_| panic!("STRATA_FUZZ_SEEDS={spec}: want A..B, A,B,C or A"))
    };
    match spec.split_once("..") {
        Some((a, b)) => (num(a)..num(b)).collect(),
        None => spec
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(num)
            .collect(),
    }
}

fn ops_per_seed() -> usize {
    std::env::var("STRATA_FUZZ_OPS").map_or(200, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("STRATA_FUZZ_OPS={v}: want a number"))
    })
}

/// A seed that failed, and the operations up to and including the one
/// that differed.
struct Failure {
    seed: u64,
    ops: Vec<Op>,
}

#[test]
fn random_operations_match_kernel_overlayfs() {
    require_root();
    let (seeds, len) = (seeds(), ops_per_seed());
    let tmp = tempfile::tempdir().unwrap();
    let layers = Layers::build(&tmp.path().join("layers"));
    let mut by_kind: BTreeMap<String, Vec<Failure>> = BTreeMap::new();
    for &seed in &seeds {
        let ops = ops::generate(seed, len);
        match run(&layers, tmp.path(), &ops).difference {
            None => eprintln!("seed {seed}: same"),
            Some(d) => {
                eprintln!("seed {seed}: {}", d.signature);
                let needed = d.ops_needed(ops.len());
                by_kind.entry(d.signature).or_default().push(Failure {
                    seed,
                    ops: ops[..needed].to_vec(),
                });
            }
        }
    }
    let failed: usize = by_kind.values().map(Vec::len).sum();
    eprintln!(
        "random differential: {} seeds x {len} operations: {} same, {failed} differ ({} kinds)",
        seeds.len(),
        seeds.len() - failed,
        by_kind.len()
    );
    let reports: Vec<String> = by_kind
        .iter()
        .map(|(signature, failures)| report(&layers, tmp.path(), signature, failures))
        .collect();
    assert!(
        reports.is_empty(),
        "strata-fs and kernel overlayfs differ:\n{}",
        reports.join("\n")
    );
}

/// One kind of difference: its seeds, and the shortest failing sequence
/// found from the seed that failed soonest, with what each operation saw.
fn report(layers: &Layers, scratch: &Path, signature: &str, failures: &[Failure]) -> String {
    let first = failures
        .iter()
        .min_by_key(|f| f.ops.len())
        .expect("a kind has a failure");
    let ops = minimize::minimize(first.ops.clone(), MINIMIZE_RUNS, |candidate| {
        let d = run(layers, scratch, candidate).difference?;
        (d.signature == signature).then(|| d.ops_needed(candidate.len()))
    });
    let seeds: Vec<String> = failures.iter().map(|f| f.seed.to_string()).collect();
    let mut out = format!(
        "\n== {signature}\n   seeds {}; shortest sequence found from seed {} ({} of its first {} operations):\n",
        seeds.join(", "),
        first.seed,
        ops.len(),
        first.ops.len()
    );
    let again = run(layers, scratch, &ops);
    for (i, op) in ops.iter().enumerate() {
        out += &format!("   {i:3} {op}\n");
        match again.seen.get(i) {
            Some((k, s)) if k == s => out += &format!("         both   {k}\n"),
            Some((k, s)) => out += &format!("         kernel {k}\n         strata {s}\n"),
            None => {}
        }
    }
    match again.difference {
        Some(d) if d.at.is_none() => out += &format!("   then: {}\n", d.detail),
        Some(_) => {}
        None => out += "   (this sequence did not fail again: the failure is intermittent)\n",
    }
    out
}

/// Sequences random seeds once found differing, cut down: descriptors of
/// files whose last name went (a removed directory, an unlinked fifo
/// whose open FUSE does not send, fchmod through an unlinked or replaced
/// file, the link count of an unlinked lower file), and a mapping through
/// a descriptor opened before a truncating copy-up (a difference the
/// comparison allows: see `exec::maps_the_file_opened`).
#[test]
fn sequences_found_before_match_kernel_overlayfs() {
    use nix::fcntl::{OFlag, RenameFlags};
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let layers = Layers::build(&tmp.path().join("layers"));
    let open = |path, flags| Op::Open {
        slot: 0,
        path,
        flags,
        mode: 0o644,
    };
    let (ro, rw) = (OFlag::O_RDONLY, OFlag::O_RDWR);
    let fstat = Op::Fstat { slot: 0 };
    let fchmod = Op::Fchmod {
        slot: 0,
        mode: 0o600,
    };
    let sequences = [
        vec![
            open("emptydir", ro),
            Op::Rmdir { path: "emptydir" },
            Op::Getdents { slot: 0 },
        ],
        vec![
            open("fifo", rw),
            Op::Unlink { path: "fifo" },
            fstat.clone(),
            Op::Seek {
                slot: 0,
                pos: std::io::SeekFrom::Start(0),
            },
        ],
        vec![
            open("owned", rw),
            Op::Unlink { path: "owned" },
            fchmod.clone(),
        ],
        vec![
            open("owned", ro),
            Op::Unlink { path: "owned" },
            fstat.clone(),
        ],
        vec![open("hard2", ro), Op::Unlink { path: "hard2" }, fstat],
        vec![
            open("plain2", ro),
            Op::Rename {
                from: "top",
                to: "plain2",
                flags: RenameFlags::empty(),
            },
            fchmod,
        ],
        vec![
            open("dir1/x", ro | OFlag::O_CREAT),
            Op::Truncate {
                path: "dir1/x",
                len: 0,
            },
            Op::MmapRead {
                slot: 0,
                off: 8,
                len: 22,
            },
        ],
    ];
    let differ: Vec<String> = sequences
        .iter()
        .filter_map(|ops| run(&layers, tmp.path(), ops).difference)
        .map(|d| d.detail)
        .collect();
    assert!(
        differ.is_empty(),
        "strata-fs and kernel overlayfs differ:\n{}",
        differ.join("\n")
    );
}
