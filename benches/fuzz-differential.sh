#!/usr/bin/env bash
# The randomized differential test (crates/unionfs/tests/random_differential.rs)
# over many seeds: random operation sequences on kernel overlayfs and
# strata-fs, compared step by step, then as trees and as upper dirs each
# reads back from the other. CI runs 5 seeds; this runs SEEDS of them,
# starting at FIRST (so they are not CI's), OPS operations each.
# Run as root from the repository root:
#
#   benches/fuzz-differential.sh            (SEEDS=300 OPS=200 FIRST=1000)
#
# Prints one line per seed ("same" or the kind of its first difference),
# a summary line, then for each kind of difference its seeds and the
# shortest failing sequence found, with what each operation saw on both
# mounts; exit status 1 if any seed differs. A seed reruns alone with
# STRATA_FUZZ_SEEDS=N cargo test -p unionfs --test random_differential.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-300}
OPS=${OPS:-200}
FIRST=${FIRST:-1000}
[ "$(id -u)" = 0 ] || { echo "fuzz-differential: run as root (kernel overlayfs mounts)" >&2; exit 1; }
cargo test -q -p unionfs --test random_differential --no-run
s=$(date +%s)
status=0
RUST_BACKTRACE=0 STRATA_FUZZ_SEEDS="$FIRST..$((FIRST + SEEDS))" STRATA_FUZZ_OPS="$OPS" \
  cargo test -q -p unionfs --test random_differential -- --nocapture || status=$?
echo "wall $(( $(date +%s) - s )) s"
exit "$status"
