#!/usr/bin/env bash
# Installs what the tests need, then runs the whole test suite (as root:
# the tests mount kernel overlayfs and FUSE for real and run podman) and
# prints one summary line of all the test binaries' counts.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --workspace --all-targets -q
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { p += $4; f += $6; i += $8 }
     END { printf "summary: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
exit "$status"
