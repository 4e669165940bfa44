#!/usr/bin/env bash
# FUSE round trips over /dev/fuse against FUSE-over-io_uring, same daemon,
# same workload: the prototype in benches/uring-proto serves an in-memory
# filesystem either way, and benches/fuse-ops.sh times each request from the
# kernel's side. Run as root from anywhere:
#
#   REPS=5 N=20000 benches/uring-proto.sh
#
# VIAS lists the daemons to compare (default "devfuse uring"): `devfuse:K`
# serves /dev/fuse with K reader threads (default one per CPU, as strata-fs),
# `uring:D` registers D entries per CPU queue (default 8).
#
# Per repetition and transport (interleaved): a fresh mount, then
#   touch   seq 1 N | xargs touch
#   stat    seq 1 N | xargs stat   (after dropping dentries, so each is looked up)
#   delete  find . -delete
# Turns /sys/module/fuse/parameters/enable_uring on for the run and puts it
# back as it was. Raw outputs go to benches/work/uring-proto/; the summary
# (medians over the repetitions) to stdout.
set -euo pipefail
REPS=${REPS:-5}
N=${N:-20000}
VIAS=${VIAS:-devfuse uring}
cd "$(dirname "$0")"
T=/sys/kernel/tracing
P=/sys/module/fuse/parameters/enable_uring
[ "$(id -u)" = 0 ] || { echo "uring-proto: run as root" >&2; exit 1; }
[ -e "$P" ] || { echo "uring-proto: this kernel has no FUSE over io_uring" >&2; exit 1; }
(cd uring-proto && cargo build -q --release --examples)
BIN=uring-proto/target/release/examples/uring_proto
OUT=work/uring-proto/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
MNT=$(mktemp -d /tmp/uring-proto.XXXXXX)
was=$(cat "$P")
filter() {
  echo "$1" > "$T/events/fuse/fuse_request_send/filter"
  echo "$1" > "$T/events/fuse/fuse_request_end/filter"
}
cleanup() {
  ! mountpoint -q "$MNT" || umount "$MNT"
  rmdir "$MNT"
  filter 0
  echo "$was" > "$P"
}
trap cleanup EXIT
echo Y > "$P"

for rep in $(seq 1 "$REPS"); do
  for via in $VIAS; do
    log=$OUT/${via/:/-}.$rep
    # shellcheck disable=SC2086 # the thread or depth count, if any
    "$BIN" "$MNT" ${via/:/ } 2> "$log.daemon" &
    pid=$!
    until grep -qs '^ready' "$log.daemon"; do
      kill -0 "$pid" || { cat "$log.daemon" >&2; exit 1; }
      sleep 0.05
    done
    # fuse-ops.sh pairs requests by id across every FUSE connection: keep
    # only this mount's (other mounts may be busy on a shared machine).
    conn=$(awk -v m="$MNT" '$5 == m { split($3, d, ":"); print d[2] }' /proc/self/mountinfo)
    filter "connection == $conn"
    uptime > "$log.load"
    ./fuse-ops.sh sh -c "cd $MNT && seq 1 $N | xargs touch" > "$log.touch"
    echo 2 > /proc/sys/vm/drop_caches
    ./fuse-ops.sh sh -c "cd $MNT && seq 1 $N | xargs stat -c %i > /dev/null" > "$log.stat"
    ./fuse-ops.sh sh -c "cd $MNT && find . -delete" > "$log.delete"
    filter 0
    umount "$MNT"
    wait "$pid"
  done
done

echo "raw: $OUT; $(nproc) CPUs, kernel $(uname -r), $REPS repetitions of N=$N"
# One "phase opcode transport count mean median" line per run and opcode
# (wall time as opcode "wall", in ms), then the median of each over the runs.
for f in "$OUT"/*.touch "$OUT"/*.stat "$OUT"/*.delete; do
  b=${f##*/}
  awk -v tr="${b%%.*}" -v ph="${b##*.}" '
    $1 == "wall" { wall = $2; printf "%s wall %s 0 %.3f 0\n", ph, tr, wall * 1e3 }
    $1 ~ /^FUSE_/ { printf "%s %s %s %d %s %s\n", ph, $1, tr, $2, $4, $7 }
    $1 ~ /^FUSE_/ && $1 != "FUSE_RELEASE" { rt += $2 }
    END { printf "%s wall/rt %s %d %.3f 0\n", ph, tr, rt, wall * 1e6 / rt }' "$f"
done | sort -k1,1 -k2,2 -k3,3 | awk '
  function med(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function flush() {
    if (key != "") printf "%-7s %-18s %-8s %7d %9.2f %9.2f\n", k[1], k[2], k[3], med(c), med(m), med(d)
  }
  { cur = $1 " " $2 " " $3 }
  cur != key { flush(); key = cur; split(key, k, " "); c = m = d = "" }
  { c = c " " $4; m = m " " $5; d = d " " $6 }
  BEGIN { printf "%-7s %-18s %-8s %7s %9s %9s\n", "phase", "opcode", "via", "count", "mean us", "median us" }
  END { flush() }'
echo "(\"wall\": the command's wall time in ms; \"wall/rt\": that time in us divided by"
echo " the round trips the command waited for, every request but the asynchronous RELEASE)"
