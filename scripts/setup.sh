#!/usr/bin/env bash
# Installs the system packages strata's demo, tests and benchmarks use
# (Debian 12, as root). Safe to run again. docker.io: tests/serve_docker.rs
# starts its own dockerd (private dirs, no bridge, no iptables rules).
set -euo pipefail
PKGS="fuse3 fuse-overlayfs busybox-static attr acl podman runc crun skopeo umoci fio bc
      hyperfine util-linux tar curl openssl apache2-utils docker-registry python3
      docker.io"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq $missing >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo (Rust stable) is required" >&2; exit 1; }
# fuse-overlayfs 2.0 (the Rust rewrite, only on crates.io): the tests check
# that strata-fs reads the uppers it writes, as they do for Debian's 1.10.
if [ ! -x target/peers/bin/fuse-overlayfs ]; then
  cargo install -q --locked --root target/peers fuse-overlayfs --version 2.0.0
fi
