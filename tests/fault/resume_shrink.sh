#!/usr/bin/env bash
# resume_shrink.sh: a 4-rank run checkpoints and loses a rank; the job resumes on 3 ranks (users
# re-partitioned by global id), finishes, and its test RMSE is within 1% of the uninterrupted 4-rank run's.
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$here/lib.sh"
make_data
train 4 --epochs 6 >"$work/ref.log" 2>&1 || fail "reference run: $(cat "$work/ref.log")"
if train 4 --epochs 6 --checkpoint-dir "$work/ck" --checkpoint-every 1 --fail-at 4:2:3 >"$work/a1.log" 2>&1; then
  fail "the run with --fail-at succeeded"
fi
train 3 --epochs 6 --checkpoint-dir "$work/ck" --resume auto --model-out "$work/b.h5" >"$work/a2.log" 2>&1 ||
  fail "resume on 3 ranks: $(cat "$work/a2.log")"
grep -q "resumed from .*ckpt-.* at epoch 3 round 0" "$work/a2.log" || fail "no resume from epoch 3: $(cat "$work/a2.log")"
[[ -s $work/b.h5 ]] || fail "no model"
ref=$(final_rmse "$work/ref.log") got=$(final_rmse "$work/a2.log")
within_1pct "$got" "$ref" || fail "test RMSE $got after 4 -> 3 ranks is not within 1% of $ref"
echo "4 -> 3 ranks: test RMSE $got, uninterrupted 4 ranks $ref (within 1%)"
