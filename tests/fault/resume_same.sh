#!/usr/bin/env bash
# resume_same.sh: a 4-rank run that loses rank 1 in epoch 3 (--fail-at), then resumes with
# --resume auto on 4 ranks, ends with a model whose every dataset equals an uninterrupted run's.
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$here/lib.sh"
make_data
train 4 --epochs 6 --model-out "$work/ref.h5" >"$work/ref.log" 2>&1 || fail "reference run: $(cat "$work/ref.log")"
if train 4 --epochs 6 --model-out "$work/a.h5" --checkpoint-dir "$work/ck" --checkpoint-every 1 \
  --fail-at 3:5:1 >"$work/a1.log" 2>&1; then fail "the run with --fail-at succeeded"; fi
grep -q -- "--fail-at 3:5:1: rank 1 exits" "$work/a1.log" || fail "rank 1 did not fail: $(cat "$work/a1.log")"
[[ ! -e $work/a.h5 ]] || fail "the failed run wrote a model"
train 4 --epochs 6 --model-out "$work/a.h5" --checkpoint-dir "$work/ck" --resume auto >"$work/a2.log" 2>&1 ||
  fail "resume: $(cat "$work/a2.log")"
grep -q "resumed from .*ckpt-.* at epoch 2 round 0" "$work/a2.log" || fail "no resume from epoch 2: $(cat "$work/a2.log")"
same_factors "$work/ref.h5" "$work/a.h5" || fail "the resumed model differs from the uninterrupted one"
[[ $(final_rmse "$work/a2.log") == "$(final_rmse "$work/ref.log")" ]] || fail "final RMSE differs"
echo "resumed run on 4 ranks: model bitwise identical to the uninterrupted run (test RMSE $(final_rmse "$work/ref.log"))"
