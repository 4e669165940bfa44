#!/usr/bin/env bash
# Which FUSE requests a command makes, and how long each kind takes from the
# kernel's point of view (queued until answered), from the kernel's fuse
# tracepoints (Linux 6.13+). Run as root against any FUSE mount:
#
#   benches/fuse-ops.sh sh -c 'cd MNT/dir && seq 1 5000 | xargs touch'
#
# Prints the command's wall time, then one line per opcode: count, mean and
# median latency in microseconds, and the total. This is how the per-write
# GETXATTR and the round trips behind a create were found (README, design notes).
set -euo pipefail
T=/sys/kernel/tracing
[ "$(id -u)" = 0 ] || { echo "fuse-ops: run as root (tracefs)" >&2; exit 1; }
[ $# -gt 0 ] || { echo "usage: fuse-ops.sh COMMAND [ARGS...]" >&2; exit 2; }
[ -d "$T/events" ] || mount -t tracefs nodev "$T"
[ -d "$T/events/fuse" ] || { echo "fuse-ops: this kernel has no fuse tracepoints" >&2; exit 1; }
off() {
  echo 0 > "$T/tracing_on"
  echo 0 > "$T/events/fuse/fuse_request_send/enable"
  echo 0 > "$T/events/fuse/fuse_request_end/enable"
}
trap off EXIT
off
echo > "$T/trace"
echo 65536 > "$T/buffer_size_kb"
echo 1 > "$T/events/fuse/fuse_request_send/enable"
echo 1 > "$T/events/fuse/fuse_request_end/enable"
echo 1 > "$T/tracing_on"
s=$(date +%s.%N)
"$@"
e=$(date +%s.%N)
off
echo "wall $(echo "$e - $s" | bc) s"
# One "OPCODE microseconds" line per answered request, sorted by opcode and
# latency, then summed per opcode (plain awk: mawk has no sort of its own).
awk '
  /fuse_request_(send|end):/ {
    for (i = 1; i <= NF; i++) if ($i ~ /^fuse_request_(send|end):$/) break
    t = $(i - 1); sub(/:$/, "", t)
    for (j = i; j <= NF; j++) if ($j == "req") req = $(j + 1)
    if ($i == "fuse_request_send:") {
      sent[req] = t
      for (j = i; j <= NF; j++) if ($j == "opcode") { o = $(j + 2); gsub(/[()]/, "", o); op[req] = o }
    } else if (req in sent) {
      printf "%s %.1f\n", op[req], (t - sent[req]) * 1e6
      delete sent[req]; delete op[req]
    }
  }' "$T/trace" | sort -k1,1 -k2,2g | awk '
  function flush() {
    if (n) printf "%-22s %8d  mean %8.1f us  median %8.1f us  total %9.1f ms\n", cur, n, sum / n, v[int((n + 1) / 2)], sum / 1e3
  }
  $1 != cur { flush(); cur = $1; n = 0; sum = 0 }
  { v[++n] = $2; sum += $2 }
  END { flush() }' | sort -k10,10gr
