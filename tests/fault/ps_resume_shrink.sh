#!/usr/bin/env bash
# ps_resume_shrink.sh: parameter-server mode, ssp: a 4-rank job (3 workers + 1 server) loses a
# worker and resumes on 3 ranks (2 workers + 1 server; users re-partitioned by global id).  An ssp
# result depends on the order in which pushes reach the server, so it is compared with what holds
# for every schedule: the resumed run continues from the checkpoint (its first epoch's test RMSE is
# no worse than the checkpointed epoch's, where a run restarted from scratch is near 0.6), and its
# final test RMSE is within 3% of the deterministic bsp run's on 4 ranks.  The band: 15 runs of
# each of the uninterrupted ssp job and the 4 -> 3 resume, beside a load average of 7 to 17 on 2
# cores, ended between 0.3212 and 0.3254 against bsp's 0.3245, at most 1.0% away (plain SGD, the
# default then); with the AdaGrad default, 6 runs beside two busy processes ended between 0.7082 and
# 0.7148 against bsp's 0.7145, at most 0.9% away (static balance; work sharing below).  Then a bsp job of 2
# servers resumes with 1 server (item rows re-partitioned by id) and, with the same 3 workers,
# ends with the model of an uninterrupted 1-server run (bsp updates each row the same way
# whichever server holds it), with a warning about the change.  Last, a sync-mode job refuses
# the ps checkpoint.
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$here/lib.sh"
make_data
# ssp_shrink BALANCE BELOW: the 4 -> 3 resume under ssp with that balance; its final test RMSE within 3%
# of the bsp run's (BELOW = 1: or below it).
ssp_shrink() {
  local bal=$1 below=$2
  local ssp=(--mode ps --servers 1 --consistency ssp --staleness 2 --epochs 6 --ps-balance "$bal")
  rm -rf "$work/ck" "$work"/a1.* "$work"/a2.* "$work/b.h5"
  if train 4 "${ssp[@]}" --checkpoint-dir "$work/ck" --checkpoint-every 1 --fail-at 4:1:2 \
    --metrics-json "$work/a1.jsonl" >"$work/a1.log" 2>&1; then
    fail "ssp $bal: the run with --fail-at succeeded"
  fi
  train 3 "${ssp[@]}" --checkpoint-dir "$work/ck" --checkpoint-every 1 --resume auto --model-out "$work/b.h5" \
    --metrics-json "$work/a2.jsonl" >"$work/a2.log" 2>&1 || fail "ssp $bal: resume on 3 ranks: $(cat "$work/a2.log")"
  grep -q "resumed from .*ckpt-.* at epoch 3 round 0" "$work/a2.log" ||
    fail "ssp $bal: no resume from epoch 3: $(cat "$work/a2.log")"
  [[ -s $work/b.h5 ]] || fail "ssp $bal: no model"
  local at3 at4 ref got
  at3=$(epoch_test_rmse "$work/a1.jsonl" 3) at4=$(epoch_test_rmse "$work/a2.jsonl" 4)
  [[ -n $at3 && -n $at4 ]] || fail "ssp $bal: no epoch 3 / epoch 4 metrics: $(cat "$work/a1.jsonl" "$work/a2.jsonl")"
  python3 -c 'import sys; sys.exit(float(sys.argv[1]) > float(sys.argv[2]))' "$at4" "$at3" ||
    fail "ssp $bal: the resumed run did not continue: test RMSE $at4 after its first epoch (4), $at3 at the checkpoint"
  ref=$(final_rmse "$work/ref.log") got=$(final_rmse "$work/a2.log")
  { [[ $below == 1 ]] && python3 -c 'import sys; sys.exit(float(sys.argv[1]) > float(sys.argv[2]))' "$got" "$ref"; } ||
    within_pct 3 "$got" "$ref" ||
    fail "ssp $bal: test RMSE $got after 4 -> 3 ranks is not within 3% of bsp's $ref$([[ $below == 1 ]] && echo " or below")"
  echo "ps ssp $bal, 3 -> 2 workers: test RMSE $at3 at the checkpoint, $at4 one epoch after the resume, final $got" \
    "(bsp $ref)"
}
train 4 --mode ps --servers 1 --consistency bsp --epochs 6 >"$work/ref.log" 2>&1 || fail "bsp reference run: $(cat "$work/ref.log")"
ssp_shrink static 0
# Work sharing (the default under ssp) trains one shared pass with the user rows on the servers, and
# on this small data it gets further in 6 epochs than static balance, by how much depending on the
# schedule: uninterrupted runs beside each other ended between 0.6226 and 0.6480 (5 runs), resumed
# 4 -> 3 ones between 0.6165 and 0.6486 (9 runs), so it is held to "within 3% of bsp or below"; a run
# that restarted from scratch at the resume would end near its epoch-3 RMSE (about 0.85).
ssp_shrink dynamic 1

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
