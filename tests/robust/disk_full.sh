#!/usr/bin/env bash
# disk_full.sh (issue 14, item 8): a full disk during `trib-data convert`, `synth` and `split` is one
# error naming the file ("No space left on device") and exit 1, with nothing left behind (before: the
# error was printed, then the process crashed with exit 139 in HDF5's exit handler, H5F__close_cb from
# H5F_term_package).  Each tool writes onto a small tmpfs of 16 sizes from 8 KiB up to what the output
# needs, so the failure lands in each shard and in the manifest (with the id maps); a size with room
# for everything must succeed.  Needs to mount a tmpfs (root or CAP_SYS_ADMIN): exits 77 (SKIP) if that
# is impossible.
source "$(dirname "$0")/lib.sh"
mnt=$work/mnt
mkdir "$mnt"
trap 'umount "$mnt" 2>/dev/null || true; rm -rf "$work"' EXIT
if ! err=$(mount -t tmpfs -o size=64k tmpfs "$mnt" 2>&1); then
  echo "SKIP: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): $err"
  exit 77
fi
umount "$mnt"
# inputs: a CSV with string user ids (so convert writes a string id map) and a dataset to split
python3 - <<'PY'
import random
random.seed(1)
with open("in.csv", "w") as f:
    for u in range(1, 1500):
        for i in random.sample(range(1, 800), 20):
            f.write("u%d,%d,%d,%d\n" % (u, i, random.randint(1, 5), 880000000 + random.randint(0, 10**6)))
PY
"$bin/trib-data" synth --users 1500 --items 800 --ratings 30000 --rank 4 --seed 7 --shards 4 --output src >/dev/null
convert() { "$bin/trib-data" convert --format csv --input in.csv --shards 4 --output "$mnt/out"; }
synth() {
  "$bin/trib-data" synth --users 1500 --items 800 --ratings 30000 --rank 4 --seed 7 --shards 4 --compress 3 \
    --output "$mnt/out"
}
split() { "$bin/trib-data" split --input src --test-fraction 0.2 --seed 1 --train "$mnt/out" --test "$mnt/out2"; }
# on_tmpfs KB CMD: runs CMD with a fresh tmpfs of KB KiB at $mnt; sets rc
on_tmpfs() {
  local kb=$1
  shift
  mount -t tmpfs -o "size=${kb}k" tmpfs "$mnt" || fail "mount of ${kb}k"
  rc=0
  "$@" >run.log 2>&1 || rc=$?
}
for tool in convert synth split; do
  on_tmpfs 65536 "$tool"
  ((rc == 0)) || fail "$tool with room: exit $rc: $(cat run.log)"
  need=$(du -sk "$mnt" | cut -f1)
  manifest=$(du -sk "$mnt/out/manifest.h5" | cut -f1)
  umount "$mnt"
  sizes=$(python3 -c "n=$need; print(*sorted({8 + (n - 8) * k // 16 // 4 * 4 for k in range(16)} | {n - $manifest + 4}))")
  where="" bad=""
  for kb in $sizes; do
    on_tmpfs "$kb" "$tool"
    left=$(ls -A "$mnt")
    umount "$mnt"
    ((rc != 139)) || fail "$tool on ${kb}k: crashed (exit 139): $(cat run.log)"
    ((rc == 0)) && continue # HDF5 files are smaller than du says at some sizes: room enough
    ((rc == 1)) || fail "$tool on ${kb}k: exit $rc, expected 1: $(cat run.log)"
    # a crash at any size is the first thing to report: the other checks fail after the sweep
    grep -q "No space left on device" run.log || bad+="$tool on ${kb}k: no disk-full message: $(cat run.log)"$'\n'
    [[ $(wc -l <run.log) == 1 ]] || bad+="$tool on ${kb}k: more than one line: $(cat run.log)"$'\n'
    [[ -z $left ]] || bad+="$tool on ${kb}k: left behind: $left"$'\n'
    where+=" $(grep -o '[a-z]*-*[0-9]*\.h5' run.log)"
  done
  [[ -z $bad ]] || fail "$bad"
  echo "$tool (needs ${need}k): failed cleanly at $(tr -s ' ' '\n' <<<"$where" | sed '/^$/d' | sort | uniq -c | tr -s ' \n' ' ')"
  for f in shard-00000.h5 shard-00003.h5 manifest.h5; do
    [[ $where == *$f* ]] || fail "$tool: no size made the failure land in $f (sizes $sizes: $where)"
  done
done
echo PASS
