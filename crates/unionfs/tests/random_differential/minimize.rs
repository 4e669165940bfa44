//! Cutting a failing sequence down (Zeller's delta debugging, ddmin).

use crate::ops::Op;

/// The shortest sub-sequence of `ops` found that still fails. `fails` runs
/// a candidate on fresh mounts and returns None if it does not fail the
/// same way, else how many of its operations the failure needs (the
/// operations after the one that differed are dropped). Gives up removing
/// after `budget` runs and returns what it has.
pub fn minimize(
    mut ops: Vec<Op>,
    budget: usize,
    mut fails: impl FnMut(&[Op]) -> Option<usize>,
) -> Vec<Op> {
    let mut runs = 0;
    let mut chunks = 2;
    while ops.len() >= 2 && runs < budget {
        let size = ops.len().div_ceil(chunks);
        let mut cut = false;
        for start in (0..ops.len()).step_by(size) {
            if runs == budget {
                break;
            }
            runs += 1;
            let candidate: Vec<Op> = ops[..start]
                .iter()
                .chain(&ops[(start + size).min(ops.len())..])
                .cloned()
                .collect();
            if let Some(needed) = fails(&candidate) {
                ops = candidate;
                ops.truncate(needed);
                chunks = (chunks - 1).max(2);
                cut = true;
                break;
            }
        }
        if !cut {
            if size == 1 {
                break;
            }
            chunks = (chunks * 2).min(ops.len());
        }
    }
    ops
}
