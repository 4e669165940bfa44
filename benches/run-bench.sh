#!/usr/bin/env bash
# Whole-process container start: `strata run --rm IMAGE true` against
# `crun run` and `runc run` of a prepared bundle of the same rootfs, and
# `podman run --rm` of the same image, in one run (hyperfine, RUNS each).
# Then where strata's time goes: the FUSE mount of the stored image alone.
# Run as root from the repository root:  benches/run-bench.sh   (RUNS=50)
#
# crun refuses hybrid cgroup hosts (v1 controllers plus a cgroup2 mount);
# there it runs in a private mount namespace without the cgroup2 mount,
# which crun then treats as a v1 host.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-50}
[ "$(id -u)" = 0 ] || { echo "run-bench: run as root" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "run-bench: apt-get install hyperfine crun runc podman" >&2; exit 1; }
cargo build --release -q
BIN=$PWD/target/release
W=$(mktemp -d /tmp/strata-runbench.XXXXXX)
cleanup() { mountpoint -q "$W/m" && umount "$W/m"; rm -rf "$W"; }
trap cleanup EXIT

mkdir -p "$W/bundle/rootfs/bin" "$W/bundle/rootfs/etc" "$W/m"
cp /bin/busybox "$W/bundle/rootfs/bin/"
for c in sh true; do ln -s busybox "$W/bundle/rootfs/bin/$c"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$W/bundle/rootfs/etc/passwd"
tar -C "$W/bundle/rootfs" -cf "$W/rootfs.tar" .
(cd "$W/bundle" && crun spec && python3 - <<'EOF'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open("config.json", "w"))
EOF
)
S="$BIN/strata --root $W/store"
$S import "$W/rootfs.tar" bench/bb:1 >/dev/null
cat > "$W/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
P="podman --root $W/podman --runroot $W/podrun --runtime runc --storage-driver overlay --storage-opt overlay.mount_program=$BIN/strata-fs"
CONTAINERS_CONF=$W/containers.conf $P import "$W/rootfs.tar" localhost/bb >/dev/null

CRUN="crun run --bundle $W/bundle bench-crun"
if grep -q "cgroup2" /proc/mounts && grep -q "^cgroup " /proc/mounts; then
  CRUN="unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun run --bundle $W/bundle bench-crun'"
fi

export CONTAINERS_CONF=$W/containers.conf
hyperfine -w 3 -r "$RUNS" -N \
  -n crun "$CRUN" \
  -n runc "runc run --bundle $W/bundle bench-runc" \
  -n strata "$S run --rm --network none bench/bb:1 true" \
  -n "podman (strata-fs mount_program, runc)" "$P run --rm --network none localhost/bb true" \
  --export-markdown "$W/run.md" >/dev/null
cat "$W/run.md"
echo
echo "Where strata's time goes (same image):"
hyperfine -w 3 -r "$RUNS" -N \
  -n "strata mount + umount of the stored image" "sh -c '$S mount bench/bb:1 $W/m && umount $W/m'" \
  -n "strata run --rm true (whole)" "$S run --rm --network none bench/bb:1 true" \
  --export-markdown "$W/parts.md" >/dev/null
cat "$W/parts.md"
echo "($(nproc) cores, $(uname -r))"
