#!/usr/bin/env bash
# Installs the system packages strata's demo, tests and benchmarks use
# (Debian 12, as root). Safe to run again.
set -euo pipefail
PKGS="fuse3 fuse-overlayfs busybox-static attr acl podman runc crun skopeo umoci fio bc
      hyperfine util-linux tar"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq $missing >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo (Rust stable) is required" >&2; exit 1; }
