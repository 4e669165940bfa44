#!/usr/bin/env bash
# The main job end to end, on a fresh Debian 12 machine as root: installs
# what is missing, builds strata, imports a real image (a busybox-static
# root filesystem) into a private store, serves a private registry on
# 127.0.0.1 with `strata serve`, pushes the image to it, removes it, pulls
# it back and runs a container from it on a strata-fs root with memory, pid
# and CPU limits, shows that the image's layers stayed untouched, then
# mounts the union by hand with strata-fs and shows the overlayfs-format
# upper that kernel overlayfs reads the same.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -q
BIN=$PWD/target/release
D=$(mktemp -d /tmp/strata-demo.XXXXXX)
SERVE_PID=""
cleanup() {
  [ -z "$SERVE_PID" ] || kill "$SERVE_PID" 2>/dev/null || true
  for m in "$D/merged" "$D/kernel"; do mountpoint -q "$m" && umount "$m"; done
  rm -rf "$D"
}
trap cleanup EXIT
S="$BIN/strata --root $D/store"

echo "== import a busybox-static root filesystem as an image"
mkdir -p "$D/rootfs/bin" "$D/rootfs/etc"
cp /bin/busybox "$D/rootfs/bin/"
for c in sh ls cat echo ps head tr hostname; do ln -s busybox "$D/rootfs/bin/$c"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$D/rootfs/etc/passwd"
echo "hello from a stored image" > "$D/rootfs/etc/motd"
tar -C "$D/rootfs" -cf "$D/rootfs.tar" .
$S import "$D/rootfs.tar" demo/busybox:1 --change 'CMD ["cat", "/etc/motd"]'
$S images

echo "== a private registry: strata serve on 127.0.0.1, push, remove, pull back"
$BIN/strata --root "$D/registry" serve --addr 127.0.0.1:0 > "$D/serve.out" &
SERVE_PID=$!
until line=$(head -n1 "$D/serve.out") && [ -n "$line" ]; do sleep 0.1; done
echo "$line"
ADDR=${line##*://}
$S tag demo/busybox:1 "$ADDR/demo/busybox:1"
$S push "$ADDR/demo/busybox:1"
curl -s "http://$ADDR/v2/_catalog"; echo
$S rmi demo/busybox:1 "$ADDR/demo/busybox:1"
$S pull "$ADDR/demo/busybox:1"
$S tag "$ADDR/demo/busybox:1" demo/busybox:1
$S images --digests

echo "== strata run with limits: the root is strata-fs serving the stored layers"
$S run --rm --memory 64m --pids-limit 32 --cpus 0.5 --hostname demo demo/busybox:1
$S run --rm --memory 64m --pids-limit 32 --cpus 0.5 --hostname demo demo/busybox:1 \
  sh -c 'echo "pid $$ on $(hostname)"; grep " / " /proc/mounts; ps; rm /etc/motd; ls /etc'
echo "== a new container still sees the image unchanged"
$S run --rm demo/busybox:1
echo "== exit status and OOM kill under --memory 16m"
set +e
$S run --rm demo/busybox:1 sh -c 'exit 3'; echo "exit status: $?"
$S run --rm --memory 16m --memory-swap 16m demo/busybox:1 \
  sh -c "x=\$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived"; echo "exit status: $?"
set -e
$S system df

echo "== strata-fs by hand: lowerdir=app:base, write through it, show the upper"
mkdir -p "$D"/{app/etc,upper,work,merged,kernel,kwork}
echo "app layer" > "$D/app/etc/app.conf"
"$BIN/strata-fs" -o "lowerdir=$D/app:$D/rootfs,upperdir=$D/upper,workdir=$D/work" "$D/merged"
echo "written through strata-fs" > "$D/merged/etc/new"
rm "$D/merged/bin/cat"
chmod 700 "$D/merged/etc/motd"
umount "$D/merged"
find "$D/upper" -printf '%M %u %p\n' | sed "s|$D/||"
echo "== kernel overlayfs reading the same upper"
mount -t overlay overlay -o "lowerdir=$D/app:$D/rootfs,upperdir=$D/upper,workdir=$D/kwork" "$D/kernel"
ls -l "$D/kernel/etc" "$D/kernel/bin"
