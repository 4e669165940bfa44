#!/usr/bin/env bash
# `skopeo copy` to and from `strata serve` against docker-registry
# (distribution 2.8, Debian's `docker-registry`, started here with its own
# config), on a ~210 MB image made from host files (/etc, /usr/sbin,
# /usr/share/doc, /usr/lib/python3.11) with one gzip layer. Each repetition
# starts both registries on empty stores and free ports, pushes to each
# (alternating which goes first), then pulls from each into an OCI layout.
# For strata, also the time until the pushed image is a stored image (the
# import runs after the push is acknowledged). Then the disk each registry
# uses after a second image that differs from the first in one file.
# Prints a markdown table (medians of REPS).
# Run as root from the repository root:  benches/serve-bench.sh   (REPS=5)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-5}
for t in skopeo docker-registry curl python3; do
  command -v $t >/dev/null || { echo "serve-bench: needs $t (scripts/setup.sh)" >&2; exit 1; }
done
cargo build --release -q --bin strata
STRATA=$PWD/target/release/strata
W=$(mktemp -d /tmp/strata-servebench.XXXXXX)
PIDS=()
stop() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done; PIDS=(); }
cleanup() { stop; rm -rf "$W"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do curl -sf "http://$1/v2/" >/dev/null && return; sleep 0.1; done; echo "serve-bench: $1 did not start" >&2; exit 1; }
now() { date +%s.%N; }

# The image: host files, one layer, gzip-compressed once (so pushes only
# stream bytes); image 2 differs in one file.
mkdir -p "$W/extra"
tar -C / -cf "$W/rootfs.tar" etc usr/sbin usr/share/doc usr/lib/python3.11 2>/dev/null || true
head -c 1000000 /dev/urandom > "$W/extra/changed"
cp "$W/rootfs.tar" "$W/rootfs2.tar"
tar -C "$W/extra" -rf "$W/rootfs2.tar" changed
$STRATA --root "$W/src" import "$W/rootfs.tar" bench/img:1 >/dev/null
$STRATA --root "$W/src" import "$W/rootfs2.tar" bench/img:2 >/dev/null
for n in 1 2; do
  $STRATA --root "$W/src" save --format oci-dir -o "$W/plain$n" bench/img:$n
  skopeo copy -q --dest-compress --dest-compress-format gzip "oci:$W/plain$n" "oci:$W/img$n"
done
BYTES=$(du -sb "$W/img1/blobs" | cut -f1)
TAR=$(stat -c %s "$W/rootfs.tar")

start_registries() {
  rm -rf "$W/dreg" "$W/sreg" "$W/pull-"*
  DPORT=$(free_port); SPORT=$(free_port)
  cat > "$W/dreg.yml" <<YML
version: 0.1
log: { level: error }
storage:
  filesystem: { rootdirectory: $W/dreg }
  delete: { enabled: true }
http: { addr: 127.0.0.1:$DPORT }
YML
  docker-registry serve "$W/dreg.yml" >"$W/dreg.log" 2>&1 & PIDS+=($!)
  $STRATA --root "$W/sreg" serve --addr 127.0.0.1:$SPORT >"$W/sreg.log" 2>&1 & PIDS+=($!)
  wait_up 127.0.0.1:$DPORT; wait_up 127.0.0.1:$SPORT
}
push() { local t0; t0=$(now); skopeo copy -q --dest-tls-verify=false "oci:$W/img$2" "docker://127.0.0.1:$1/bench/img:$2"; echo "$(now) - $t0" | bc; }
# Seconds from $1 (a start time) until the server's store lists bench/img:$2.
listed() { until $STRATA --root "$W/sreg" images | grep -q "^bench/img  *$2 "; do sleep 0.05; done; echo "$(now) - $1" | bc; }
pull() { local t0; t0=$(now); skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$1/bench/img:1" "oci:$W/pull-$1"; echo "$(now) - $t0" | bc; }

: > "$W/times"
for r in $(seq "$REPS"); do
  start_registries
  if [ $((r % 2)) = 1 ]; then order="D S"; else order="S D"; fi
  for who in $order; do
    if [ $who = D ]; then
      echo "push D $(push $DPORT 1)" >> "$W/times"
    else
      t0=$(now); echo "push S $(push $SPORT 1)" >> "$W/times"
      echo "stored S $(listed $t0 1)" >> "$W/times"
    fi
  done
  for who in $order; do
    if [ $who = D ]; then p=$DPORT; else p=$SPORT; fi
    echo "pull $who $(pull $p)" >> "$W/times"
  done
  if [ "$r" = "$REPS" ]; then
    sync; D1=$(du -sb "$W/dreg" | cut -f1); S1=$(du -sb "$W/sreg" | cut -f1)
    push $DPORT 2 >/dev/null; t0=$(now); push $SPORT 2 >/dev/null; listed $t0 2 >/dev/null
    sync; D2=$(du -sb "$W/dreg" | cut -f1); S2=$(du -sb "$W/sreg" | cut -f1)
    $STRATA --root "$W/sreg" images
    $STRATA --root "$W/sreg" fsck
  fi
  stop
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mb() { echo "scale=1; $BYTES / $1 / 1000000" | bc; }
echo
echo "image: $((TAR / 1000000)) MB tar, $((BYTES / 1000000)) MB of gzip blobs, one layer; REPS=$REPS, medians"
echo
echo "| | docker-registry s | strata serve s | docker-registry MB/s | strata serve MB/s | strata/docker time |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for op in push pull; do
  d=$(awk -v o=$op '$1==o && $2=="D" {print $3}' "$W/times" | median)
  s=$(awk -v o=$op '$1==o && $2=="S" {print $3}' "$W/times" | median)
  printf '| skopeo copy %s | %.2f | %.2f | %s | %s | %.2f |\n' "$op" "$d" "$s" "$(mb $d)" "$(mb $s)" "$(echo "$s / $d" | bc -l)"
done
s=$(awk '$1=="stored" {print $3}' "$W/times" | median)
printf '| push until `strata images` lists it | — | %.2f | — | %s | — |\n' "$s" "$(mb $s)"
echo
echo "disk after image 1: docker-registry $((D1 / 1000000)) MB, strata serve $((S1 / 1000000)) MB"
echo "added by image 2 (one 1 MB file changed): docker-registry $(((D2 - D1) / 1000000)) MB, strata serve $(((S2 - S1) / 1000000)) MB"
