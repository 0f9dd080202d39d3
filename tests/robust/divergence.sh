#!/usr/bin/env bash
# divergence.sh (issue 14, item 3): --lr 1e5 --no-train-eval without --test forms no RMSE, yet the
# run must stop with "training diverged" before any model or checkpoint is written (before: exit
# 0 and a model of NaN biases).  Also with --sync-every small, so the check after a
# synchronisation (not only at the epoch's end) is what stops it.
source "$(dirname "$0")/lib.sh"
make_data
for extra in "" "--sync-every 500"; do
  rm -rf "$work/m.h5" "$work/C"
  rc=0
  # shellcheck disable=SC2086
  train --lr 1e5 --no-train-eval --epochs 3 --model-out "$work/m.h5" --checkpoint-dir "$work/C" \
    --checkpoint-every '1 steps' $extra >"$work/a.log" 2>&1 || rc=$?
  ((rc == 1)) || fail "[$extra] exit $rc, expected 1: $(cat "$work/a.log")"
  grep -q "training diverged in epoch 1" "$work/a.log" || fail "[$extra] no 'training diverged': $(cat "$work/a.log")"
  [[ ! -e $work/m.h5 ]] || fail "[$extra] a model was written"
  if ls "$work/C" 2>/dev/null | grep -q '^ckpt-'; then fail "[$extra] a checkpoint was written: $(ls "$work/C")"; fi
  echo "[${extra:-default}] $(grep -o 'training diverged.*' "$work/a.log" | head -1); no model, no checkpoint"
done
