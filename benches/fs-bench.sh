#!/usr/bin/env bash
# Whole-process filesystem benchmark: the same workloads on kernel overlayfs,
# fuse-overlayfs 1.10 (Debian, C), fuse-overlayfs 2.0 (Rust, if built with
# FOVL2=1) and strata-fs, in one run; prints seconds and ratios to kernel
# overlayfs. Run as root from the repository root:
#
#   benches/fs-bench.sh            # full size (1 GiB files, 20k/60k entries)
#   SCALE=8 benches/fs-bench.sh    # everything 8x smaller, for a quick look
#   FOVL2=1 benches/fs-bench.sh    # also cargo-install fuse-overlayfs 2.0 into benches/work
#   REPS=5 benches/fs-bench.sh     # repetitions (default 3); the median is reported
#   ROOTLESS=1 benches/fs-bench.sh # FUSE daemons and workloads as uid 65534 (fusermount3,
#                                  # no passthrough); kernel overlayfs still mounted by root
#   BASELINE=BIN benches/fs-bench.sh  # also an earlier strata-fs build (column "before"),
#                                  # to show a change made no workload slower
#   FSES="kernel strata" ...       # only these filesystems
#   WORKLOADS="untar create" ...   # only these workloads
#
# Each repetition mounts every filesystem afresh (in turn, so drift on a
# shared VM hits them alike) and runs every workload once.
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${SCALE:-1}
REPS=${REPS:-3}
WORK=${WORK:-$PWD/benches/work}
MIB=$((1024 / SCALE))          # "1 GiB" workloads, in MiB
COPYUP_MIB=$((512 / SCALE))
SMALL=$((20000 / SCALE))
TREE_DIRS=$((2000 / SCALE))    # x 10 files x 3 lowers ~ 60k entries
UNTAR_MIB=$((300 / SCALE))

[ "$(id -u)" = 0 ] || { echo "fs-bench: run as root (kernel overlayfs and drop_caches need it)" >&2; exit 1; }
cargo build --release -q -p unionfs
STRATA=$PWD/target/release/strata-fs
command -v fuse-overlayfs >/dev/null || { echo "fs-bench: apt-get install fuse-overlayfs fio" >&2; exit 1; }
FOVL1=$(command -v fuse-overlayfs)
FOVL2_BIN=""
if [ "${FOVL2:-0}" = 1 ]; then
  if [ ! -x "$WORK/fovl2/bin/fuse-overlayfs" ]; then
    cargo install -q --root "$WORK/fovl2" fuse-overlayfs
  fi
  FOVL2_BIN=$WORK/fovl2/bin/fuse-overlayfs
fi

mkdir -p "$WORK"
L="$WORK/lowers"
if [ ! -f "$L/.done-$SCALE" ]; then
  rm -rf "$L"; mkdir -p "$L/l1" "$L/l2" "$L/l3"
  head -c "$((MIB))M" /dev/urandom > "$L/l3/big"
  head -c "$((COPYUP_MIB))M" /dev/urandom > "$L/l3/copyup"
  for l in l1 l2 l3; do
    for d in $(seq 1 "$TREE_DIRS"); do
      mkdir -p "$L/$l/tree/d$d"
      for f in 0 1 2 3 4 5 6 7 8 9; do : > "$L/$l/tree/d$d/$l-f$f"; done
    done
  done
  mkdir -p "$WORK/tarsrc"
  for i in $(seq 1 $((UNTAR_MIB / 4))); do
    mkdir -p "$WORK/tarsrc/p$((i % 50))"
    head -c 4M /dev/urandom > "$WORK/tarsrc/p$((i % 50))/f$i"
  done
  tar -C "$WORK/tarsrc" -cf "$WORK/untar.tar" .
  rm -rf "$WORK/tarsrc"
  touch "$L/.done-$SCALE"
fi
chmod 0666 "$L/l3/copyup" "$L/l3/big"   # so an unprivileged writer (ROOTLESS=1) may write them

# ROOTLESS=1: the FUSE daemons and every workload run as this user.
AS=()
if [ "${ROOTLESS:-0}" = 1 ]; then
  AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  chmod 0666 /dev/fuse   # as Debian's udev rule sets it; some VMs ship 0600
fi
MNT=$WORK/mnt; UPFS=$WORK/upfs; UPIMG=$WORK/upper.img; UPDEV=""
# Every mount gets its upper and work dirs on a freshly made, journaled ext4
# (a direct-I/O loop device), so each filesystem starts from the same state:
# on an ext4 without a journal (as some VM images ship) the inode allocator
# skips every inode freed in the last ~30 s, one inode-table read each, so a
# create right after the previous filesystem's 20,000 unlinks would pay for
# them.
mount_fs() { # name
  umount_fs
  truncate -s 4G "$UPIMG"
  UPDEV=$(losetup --direct-io=on -f --show "$UPIMG")
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$UPDEV"
  mkdir -p "$UPFS" "$MNT"; mount "$UPDEV" "$UPFS"
  local UP=$UPFS/upper WK=$UPFS/work
  mkdir -p "$UP" "$WK"
  [ ${#AS[@]} = 0 ] || chown 65534:65534 "$UP" "$WK" "$MNT"
  local o="lowerdir=$L/l1:$L/l2:$L/l3,upperdir=$UP,workdir=$WK"
  case $1 in
    kernel) mount -t overlay overlay -o "$o,redirect_dir=off,index=off,metacopy=off" "$MNT" ;;
    fovl1) "${AS[@]}" "$FOVL1" -o "$o" "$MNT" ;;
    fovl2) "${AS[@]}" "$FOVL2_BIN" -o "$o" "$MNT" ;;
    strata) "${AS[@]}" "$STRATA" -o "$o" "$MNT" ;;
    before) "${AS[@]}" "$BASELINE" -o "$o" "$MNT" ;;
  esac
}
# Mount table, not mountpoint(1): root may not stat another user's FUSE mount.
mounted() { grep -qs " $1 " /proc/self/mounts; }
umount_fs() {
  if mounted "$MNT"; then umount "$MNT"; sleep 0.2; fi
  if mounted "$UPFS"; then umount "$UPFS"; fi
  if [ -n "$UPDEV" ]; then losetup -d "$UPDEV"; UPDEV=""; fi
  rm -f "$UPIMG"
}
trap umount_fs EXIT
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
t() { local s e; s=$(date +%s.%N); "${AS[@]}" "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }

w_read_cold() { drop; t dd if="$MNT/big" of=/dev/null bs=1M; }
w_read_warm() { "${AS[@]}" cat "$MNT/big" >/dev/null; t dd if="$MNT/big" of=/dev/null bs=1M; }
w_write() { t dd if=/dev/zero of="$MNT/out" bs=1M count="$MIB" conv=fsync; }
w_write4k() { t dd if=/dev/zero of="$MNT/out4k" bs=4k count=$((MIB * 64)); }
w_randread() { t fio --name=r --filename="$MNT/big" --rw=randread --bs=4k --size="${MIB}M" --io_size=$((MIB / 4))M --ioengine=psync --direct=0 --readonly; }
w_copyup() { drop; t sh -c "printf x >> '$MNT/copyup'"; }
w_overwrite() { drop; t sh -c "echo x > '$MNT/big'"; }   # O_TRUNC of a 1 GiB lower file (after the reads)
w_create() { t sh -c "mkdir '$MNT/small' && cd '$MNT/small' && seq 1 $SMALL | xargs touch"; }
w_stat() { t sh -c "cd '$MNT/small' && find . -type f -exec stat -c %s {} + >/dev/null"; }
w_readdir() { t sh -c "ls -f '$MNT/small' | wc -l"; }
w_unlink() { t sh -c "cd '$MNT/small' && find . -type f -delete"; }
w_find_cold() { drop; t sh -c "find '$MNT/tree' -exec stat -c %i {} + >/dev/null"; }
w_find_warm() { t sh -c "find '$MNT/tree' -exec stat -c %i {} + >/dev/null"; }
w_untar() { t tar -C "$MNT" -xf "$WORK/untar.tar"; }

WORKLOADS=${WORKLOADS:-"read_cold read_warm write write4k randread copyup overwrite create stat readdir unlink find_cold find_warm untar"}
if [ -z "${FSES:-}" ]; then
  FSES="kernel fovl1 strata"
  [ -n "$FOVL2_BIN" ] && FSES="kernel fovl1 fovl2 strata"
fi
[ -n "${BASELINE:-}" ] && FSES="$FSES before"
declare -A R
for rep in $(seq 1 "$REPS"); do
  for fs in $FSES; do
    mount_fs "$fs"
    for w in $WORKLOADS; do
      R[$fs,$w]="${R[$fs,$w]:-} $("w_$w")"
    done
    umount_fs
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A M
for fs in $FSES; do for w in $WORKLOADS; do M[$fs,$w]=$(echo "${R[$fs,$w]}" | median); done; done

printf '%-10s' workload; for fs in $FSES; do printf '%12s' "$fs"; done
for fs in $FSES; do [ "$fs" = kernel ] || printf '%12s' "$fs/k"; done; echo
for w in $WORKLOADS; do
  printf '%-10s' "$w"
  for fs in $FSES; do printf '%12.3f' "${M[$fs,$w]}"; done
  for fs in $FSES; do
    [ "$fs" = kernel ] || printf '%12.2f' "$(echo "${M[$fs,$w]} / ${M[kernel,$w]}" | bc -l)"
  done
  echo
done
echo "(median seconds of $REPS runs;${AS[*]:+ as uid 65534 (ROOTLESS=1);} x/k = time relative to kernel overlayfs; SCALE=$SCALE, $(nproc) cores, $(uname -r))"
