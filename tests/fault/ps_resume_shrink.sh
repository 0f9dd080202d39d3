#!/usr/bin/env bash
# ps_resume_shrink.sh: parameter-server mode, ssp: a 4-rank job (3 workers + 1 server) loses a
# worker and resumes on 3 ranks (2 workers + 1 server; users re-partitioned by global id); it
# finishes with a test RMSE within 1% of the uninterrupted 4-rank run's.  Then a bsp job of 2
# servers resumes with 1 server (item rows re-partitioned by id) and, with the same 3 workers,
# ends with the model of an uninterrupted 1-server run (bsp updates each row the same way
# whichever server holds it), with a warning about the change.  Last, a sync-mode job refuses
# the ps checkpoint.
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$here/lib.sh"
make_data
ssp=(--mode ps --servers 1 --consistency ssp --staleness 2 --epochs 6)
train 4 "${ssp[@]}" >"$work/ref.log" 2>&1 || fail "reference run: $(cat "$work/ref.log")"
if train 4 "${ssp[@]}" --checkpoint-dir "$work/ck" --checkpoint-every 1 --fail-at 4:1:2 >"$work/a1.log" 2>&1; then
  fail "the run with --fail-at succeeded"
fi
train 3 "${ssp[@]}" --checkpoint-dir "$work/ck" --checkpoint-every 1 --resume auto --model-out "$work/b.h5" >"$work/a2.log" 2>&1 ||
  fail "resume on 3 ranks: $(cat "$work/a2.log")"
grep -q "resumed from .*ckpt-.* at epoch 3 round 0" "$work/a2.log" || fail "no resume from epoch 3: $(cat "$work/a2.log")"
[[ -s $work/b.h5 ]] || fail "no model"
ref=$(final_rmse "$work/ref.log") got=$(final_rmse "$work/a2.log")
within_1pct "$got" "$ref" || fail "test RMSE $got after 4 -> 3 ranks is not within 1% of $ref"
echo "ps ssp, 3 -> 2 workers: test RMSE $got, uninterrupted $ref (within 1%)"

bsp=(--mode ps --consistency bsp --epochs 5)
train 4 "${bsp[@]}" --servers 1 --model-out "$work/ref1.h5" >"$work/ref1.log" 2>&1 || fail "1-server reference: $(cat "$work/ref1.log")"
if train 5 "${bsp[@]}" --servers 2 --checkpoint-dir "$work/ck2" --checkpoint-every 1 --fail-at 3:1:4 >"$work/c1.log" 2>&1; then
  fail "the 2-server run with --fail-at succeeded"
fi
train 4 "${bsp[@]}" --servers 1 --checkpoint-dir "$work/ck2" --checkpoint-every 1 --resume auto --model-out "$work/c.h5" >"$work/c2.log" 2>&1 ||
  fail "resume with 1 server: $(cat "$work/c2.log")"
grep -q "written with 2 servers.*continuing with 1 servers" "$work/c2.log" || fail "no warning about the server count: $(cat "$work/c2.log")"
same_factors "$work/ref1.h5" "$work/c.h5" || fail "2 -> 1 servers: the model differs from the 1-server run's"
echo "ps bsp, 2 -> 1 servers: model identical to an uninterrupted 1-server run's"

# A ps checkpoint is refused by a sync-mode job (mode is part of the compatibility check).
if train 4 --epochs 5 --checkpoint-dir "$work/ck2" --resume auto >"$work/d.log" 2>&1; then
  fail "a sync-mode job resumed a ps checkpoint"
fi
grep -q "has mode=ps, this run has mode=sync: refusing to resume" "$work/d.log" || fail "no clear refusal: $(cat "$work/d.log")"
echo "a sync-mode job refuses the ps checkpoint: $(grep -o "checkpoint .* refusing to resume" "$work/d.log" | head -1)"
