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
  # Install without starting the packages' system services (docker.io's
  # dockerd would add a bridge and firewall rules to this machine's network,
  # docker-registry would take port 5000): the tests start their own, on
  # private sockets, directories and free loopback ports.
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
  fi
  apt-get update -qq
  apt-get install -y -qq $missing >/dev/null
  [ -z "$policy" ] || rm -f "$policy"
  # ... nor at the next boot (only the units of what was just installed).
  if command -v systemctl >/dev/null; then
    case " $missing " in *" docker.io "*)
      systemctl disable docker.service docker.socket >/dev/null 2>&1 || true ;; esac
    case " $missing " in *" docker-registry "*)
      systemctl disable docker-registry.service >/dev/null 2>&1 || true ;; esac
  fi
fi
command -v cargo >/dev/null || { echo "setup: cargo (Rust stable) is required" >&2; exit 1; }
# fuse-overlayfs 2.0 (the Rust rewrite, only on crates.io): the tests check
# that strata-fs reads the uppers it writes, as they do for Debian's 1.10.
if [ ! -x target/peers/bin/fuse-overlayfs ]; then
  cargo install -q --locked --root target/peers fuse-overlayfs --version 2.0.0
fi
