#!/usr/bin/env bash
# The main job end to end: installs what is missing, builds strata, makes
# two real layers from busybox-static, mounts their union with strata-fs,
# writes through it, and shows the upper dir (in the format kernel overlayfs
# reads) and the same tree through a kernel overlayfs mount of that upper.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -q -p unionfs
BIN=$PWD/target/release/strata-fs
D=$(mktemp -d /tmp/strata-demo.XXXXXX)
cleanup() { for m in "$D/merged" "$D/kernel"; do mountpoint -q "$m" && umount "$m"; done; rm -rf "$D"; }
trap cleanup EXIT
mkdir -p "$D"/{base/bin,app/etc,upper,work,merged,kernel,kwork}
cp /bin/busybox "$D/base/bin/" && for c in sh ls cat; do ln -s busybox "$D/base/bin/$c"; done
echo "hello from the app layer" > "$D/app/etc/motd"
echo "== strata-fs -o lowerdir=app:base,upperdir=upper,workdir=work merged"
"$BIN" -o "lowerdir=$D/app:$D/base,upperdir=$D/upper,workdir=$D/work" "$D/merged"
echo "== write through the union"
echo "written through strata-fs" > "$D/merged/etc/new"
rm "$D/merged/bin/cat"
chmod 700 "$D/merged/etc/motd"
"$D/merged/bin/busybox" ls -l "$D/merged/etc" "$D/merged/bin"
umount "$D/merged"
echo "== the upper dir (whiteout for bin/cat is a 0/0 char device)"
find "$D/upper" -printf '%M %u %p\n' | sed "s|$D/||"
echo "== kernel overlayfs reading the same upper"
mount -t overlay overlay -o "lowerdir=$D/app:$D/base,upperdir=$D/upper,workdir=$D/kwork" "$D/kernel"
ls -l "$D/kernel/etc" "$D/kernel/bin"
