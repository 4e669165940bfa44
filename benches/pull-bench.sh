#!/usr/bin/env bash
# Pull/push benchmark against Debian's docker-registry on 127.0.0.1, in one
# run: a ~200 MB, 3-layer image pushed there by skopeo, then
#   strata pull   vs  podman pull (vfs and overlay)  vs  skopeo copy to a dir
#   a second image differing in one file: time and bytes downloaded
#   strata push   vs  skopeo copy to the registry
# Run as root from the repository root (builds strata in release mode):
#   benches/pull-bench.sh            # REPS=3 by default; SIZE_MB=200
# Prints a markdown table (median seconds of REPS, and ratios).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "pull-bench: run as root" >&2; exit 1; }
for t in docker-registry skopeo podman; do
  command -v $t >/dev/null || { echo "pull-bench: $t missing (scripts/setup.sh)" >&2; exit 1; }
done
REPS=${REPS:-3}
SIZE_MB=${SIZE_MB:-200}
cargo build -q --release --bin strata
STRATA=$PWD/target/release/strata
W=$(mktemp -d /var/tmp/pull-bench.XXXXXX)
cleanup() {
  for p in "${REGS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  for d in "$W"/podman-*; do
    [ -d "$d" ] && podman --root "$d/root" --runroot "$d/run" system reset --force >/dev/null 2>&1 || true
  done
  rm -rf "$W"
}
trap cleanup EXIT

REGS=()
start_registry() { # NAME: a docker-registry in $W/NAME; sets H to its host:port
  local port; port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  H=127.0.0.1:$port
  mkdir -p "$W/$1"
  cat > "$W/$1/config.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $W/$1/data
http:
  addr: $H
YML
  docker-registry serve "$W/$1/config.yml" >"$W/$1/log" 2>&1 &
  REGS+=($!)
  for _ in $(seq 100); do curl -fs "http://$H/v2/" >/dev/null && break; sleep 0.1; done
}
start_registry registry
SRC=$H

# The images: three layers of 1 MiB word-salad files (gzip gets about
# 2:1), SIZE_MB in all; v2 differs from v1 in one file of the top layer.
mk_layer() { # DIR SEED MB
  mkdir -p "$1"
  python3 - "$1" "$2" "$3" <<'PY'
import os, random, sys
d, seed, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
words = [bytes(r.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(3, 9))) for _ in range(5000)]
for i in range(mb):
    buf = bytearray()
    while len(buf) < 1 << 20:
        buf += r.choice(words) + b" "
    open(os.path.join(d, f"f{i:04d}"), "wb").write(buf[: 1 << 20])
PY
}
PER=$((SIZE_MB / 3))
for i in 1 2 3; do mk_layer "$W/l$i/layer$i" "$i" "$PER"; done
cp -a "$W/l3" "$W/l3b" && echo changed > "$W/l3b/layer3/f0000"
for l in l1 l2 l3 l3b; do tar -C "$W/$l" --sort=name --mtime=@0 -cf "$W/$l.tar" .; done
python3 - "$W" <<'PY'
import hashlib, json, os, sys
w = sys.argv[1]
lay = os.path.join(w, "layout"); blobs = os.path.join(lay, "blobs/sha256"); os.makedirs(blobs)
def put(b):
    d = hashlib.sha256(b).hexdigest(); open(os.path.join(blobs, d), "wb").write(b); return "sha256:" + d
def image(tag, names):
    ls = []
    for n in names:
        b = open(os.path.join(w, n), "rb").read(); ls.append((put(b), len(b)))
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": [d for d, _ in ls]}, "history": []}).encode()
    m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(cfg), "size": len(cfg)},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s} for d, s in ls]}).encode()
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(m), "size": len(m),
            "annotations": {"org.opencontainers.image.ref.name": tag,
                            "io.containerd.image.name": "bench/img:" + tag}}
json.dump({"schemaVersion": 2, "manifests": [image("v1", ["l1.tar", "l2.tar", "l3.tar"]),
                                             image("v2", ["l1.tar", "l2.tar", "l3b.tar"])]},
          open(os.path.join(lay, "index.json"), "w"))
open(os.path.join(lay, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
SK="skopeo copy -q --dest-tls-verify=false --src-tls-verify=false"
HOME=$W/skhome $SK "oci:$W/layout:v1" "docker://$H/b/img:v1"
HOME=$W/skhome $SK "oci:$W/layout:v2" "docker://$H/b/img:v2"
COMPRESSED=$(du -sm "$W/registry/data" | cut -f1)

now() { date +%s.%N; }
lo_rx() { awk '$1 == "lo:" {print $2}' /proc/net/dev; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A T
timeit() { # NAME SETUP CMD: median of REPS, SETUP (untimed) before each
  local name=$1 setup=$2 cmd=$3 xs=()
  for r in $(seq "$REPS"); do
    eval "$setup"
    sync; echo 3 > /proc/sys/vm/drop_caches
    local t0; t0=$(now)
    eval "$cmd" >>"$W/commands.log"
    xs+=("$(echo "$(now) - $t0" | bc)")
  done
  T[$name]=$(printf '%s\n' "${xs[@]}" | median)
}
pm() { # podman with private storage, driver $1, in dir $2
  echo "podman --root $2/root --runroot $2/run --storage-driver $1 --cgroup-manager cgroupfs --events-backend file"
}
fresh() { rm -rf "$1"; mkdir -p "$1"; }
reset_pm() { [ -d "$2/root" ] && $(pm "$1" "$2") system reset --force >/dev/null 2>&1; fresh "$2"; }

timeit strata "fresh $W/s1" "$STRATA --root $W/s1 pull -q $H/b/img:v1"
timeit podman_vfs "reset_pm vfs $W/podman-vfs" "$(pm vfs "$W/podman-vfs") pull -q --tls-verify=false $H/b/img:v1"
timeit podman_overlay "reset_pm overlay $W/podman-ovl" "$(pm overlay "$W/podman-ovl") pull -q --tls-verify=false $H/b/img:v1"
timeit skopeo_dir "fresh $W/dir" "$SK docker://$H/b/img:v1 dir:$W/dir/img"

# The second image, into a store that has the first.
rx0=$(lo_rx); timeit strata_v2 "fresh $W/s2; $STRATA --root $W/s2 pull -q $H/b/img:v1 >/dev/null; rx0=\$(lo_rx)" \
  "$STRATA --root $W/s2 pull -q $H/b/img:v2"; STRATA_V2_MB=$(( ($(lo_rx) - rx0) / 1048576 ))
timeit podman_v2 "reset_pm overlay $W/podman-ovl; $(pm overlay "$W/podman-ovl") pull -q --tls-verify=false $H/b/img:v1 >/dev/null; rx0=\$(lo_rx)" \
  "$(pm overlay "$W/podman-ovl") pull -q --tls-verify=false $H/b/img:v2"; PODMAN_V2_MB=$(( ($(lo_rx) - rx0) / 1048576 ))

# Push to a registry that has none of the blobs (a fresh one each time:
# skopeo's blob-info cache, /var/lib/containers/cache for root, would
# otherwise mount what an earlier copy uploaded), of an image strata loaded
# from the layout, so it knows no compressed blob: compress and upload.
H=$SRC
fresh "$W/s3"; $STRATA --root "$W/s3" load -q -i "$W/layout" >/dev/null
N=0
timeit strata_push "N=\$((N+1)); start_registry push\$N; $STRATA --root $W/s3 tag bench/img:v1 \$H/p/img:v1" "$STRATA --root $W/s3 push -q \$H/p/img:v1"
timeit skopeo_push "N=\$((N+1)); start_registry push\$N" "$SK oci:$W/layout:v1 docker://\$H/q/img:v1"
H=$SRC

r() { echo "scale=2; $1 / $2" | bc; }
cat <<MD
Image: $SIZE_MB MB in 3 layers (${COMPRESSED} MB gzip in the registry), docker-registry on $H; median of $REPS, caches dropped before each.

| operation | seconds | ratio |
| --- | ---: | --- |
| strata pull | ${T[strata]} | |
| podman pull (vfs) | ${T[podman_vfs]} | strata/podman-vfs $(r "${T[strata]}" "${T[podman_vfs]}") |
| podman pull (overlay) | ${T[podman_overlay]} | strata/podman-overlay $(r "${T[strata]}" "${T[podman_overlay]}") |
| skopeo copy to dir | ${T[skopeo_dir]} | strata/skopeo $(r "${T[strata]}" "${T[skopeo_dir]}") |
| strata pull of v2 (one file differs) | ${T[strata_v2]} | ${STRATA_V2_MB} MB over loopback |
| podman pull of v2 (overlay) | ${T[podman_v2]} | ${PODMAN_V2_MB} MB over loopback |
| strata push (gzip, upload) | ${T[strata_push]} | strata/skopeo $(r "${T[strata_push]}" "${T[skopeo_push]}") |
| skopeo copy to the registry | ${T[skopeo_push]} | |
MD
