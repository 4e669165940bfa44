#!/usr/bin/env bash
# Installs what the tests need, then runs the whole test suite (as root:
# the tests mount kernel overlayfs and FUSE for real).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --workspace --all-targets -q
cargo test --workspace -q
