#!/usr/bin/env bash
# all_damaged.sh (issue 14, item 2): with --resume auto, checkpoints present but none valid is an
# error listing them, and they are kept byte for byte (before: a silent fresh start from epoch 0
# that wrote over them); under trib-run neither; --replace-checkpoints allows a fresh start.
source "$(dirname "$0")/lib.sh"
make_data
train --k 4 --epochs 3 --checkpoint-dir "$work/C" --checkpoint-every 1 --keep 0 >"$work/first.log" 2>&1 ||
  fail "first run: $(cat "$work/first.log")"
for p in "$work"/C/ckpt-*/part-00001.h5; do
  python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) - 100] ^= 0x10; open(p, "wb").write(b)' "$p"
done
before=$(digest "$work/C")
rc=0
train --k 4 --epochs 3 --checkpoint-dir "$work/C" --checkpoint-every 1 --resume auto >"$work/a.log" 2>&1 || rc=$?
((rc != 0)) || fail "--resume auto over damaged checkpoints exited 0: $(cat "$work/a.log")"
grep -q "none of the 3 checkpoints in '$work/C' is valid (ckpt-000000000003, ckpt-000000000002, ckpt-000000000001)" \
  "$work/a.log" || fail "no error listing the checkpoints: $(cat "$work/a.log")"
[[ $(digest "$work/C") == "$before" ]] || fail "the damaged checkpoints were changed"
echo "resume auto: exit $rc, $(grep -o "none of the .* is valid ([^)]*)" "$work/a.log" | head -1)"
rc=0
"$bin/trib-run" --max-restarts 2 --restart-delay 0 -- "$mpiexec" -np 2 --oversubscribe "$bin/trib-train" \
  --train "$work/all" --sync-every 1M --k 4 --epochs 3 --checkpoint-dir "$work/C" --checkpoint-every 1 --resume auto \
  >"$work/b.log" 2>&1 || rc=$?
((rc != 0)) || fail "trib-run exited 0: $(cat "$work/b.log")"
if grep -q "training starts at epoch 0" "$work/b.log"; then fail "trib-run restarted from epoch 0: $(cat "$work/b.log")"; fi
[[ $(digest "$work/C") == "$before" ]] || fail "trib-run: the damaged checkpoints were changed"
echo "trib-run: exit $rc, no restart from epoch 0, checkpoints kept"
train --k 4 --epochs 3 --checkpoint-dir "$work/C" --checkpoint-every 1 --keep 0 --resume auto \
  --replace-checkpoints >"$work/c.log" 2>&1 || fail "--replace-checkpoints: $(cat "$work/c.log")"
(("$("$bin/trib-train" --help 2>&1 | grep -c -- --replace-checkpoints)" > 0)) || fail "--help does not list --replace-checkpoints"
n=0
for c in "$work"/C/ckpt-*; do h5dump -H "$c/manifest.h5" >/dev/null && n=$((n + 1)); done
echo "--replace-checkpoints: fresh start, $n new checkpoints"
