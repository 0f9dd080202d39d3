#!/usr/bin/env bash
# ps_resume_bsp.sh: parameter-server mode, bsp (deterministic), 3 workers + 1 server.  A run loses
# a worker (--fail-at 4:1:1), another run loses the server (--fail-at 4:1:3); each then resumes with
# --resume auto and its final model is bitwise identical to an uninterrupted run's.  A third case
# checks that the early-stopping state survives a resume: the uninterrupted run stops early, the
# run that crashes in the epoch where it stops resumes and stops after the same epoch.
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$here/lib.sh"
make_data
ps=(--mode ps --servers 1 --consistency bsp)
train 4 "${ps[@]}" --epochs 6 --model-out "$work/ref.h5" >"$work/ref.log" 2>&1 || fail "reference run: $(cat "$work/ref.log")"
for victim in 1 3; do
  ck=$work/ck-$victim
  rm -f "$work/a.h5"
  if train 4 "${ps[@]}" --epochs 6 --model-out "$work/a.h5" --checkpoint-dir "$ck" --checkpoint-every 1 --fail-at 4:1:$victim \
    >"$work/a1.log" 2>&1; then fail "the run with --fail-at 4:1:$victim succeeded"; fi
  grep -q -- "--fail-at 4:1:$victim: rank $victim exits" "$work/a1.log" || fail "rank $victim did not fail: $(cat "$work/a1.log")"
  [[ ! -e $work/a.h5 ]] || fail "the failed run wrote a model"
  train 4 "${ps[@]}" --epochs 6 --model-out "$work/a.h5" --checkpoint-dir "$ck" --checkpoint-every 1 --resume auto >"$work/a2.log" 2>&1 ||
    fail "resume after losing rank $victim: $(cat "$work/a2.log")"
  grep -q "resumed from .*ckpt-.* at epoch 3 round 0" "$work/a2.log" || fail "no resume from epoch 3: $(cat "$work/a2.log")"
  same_factors "$work/ref.h5" "$work/a.h5" || fail "lost rank $victim: the resumed model differs from the uninterrupted one"
  [[ $(final_rmse "$work/a2.log") == "$(final_rmse "$work/ref.log")" ]] || fail "final RMSE differs"
  echo "ps bsp, lost rank $victim in epoch 4, resumed at epoch 3: model bitwise identical (test RMSE $(final_rmse "$work/ref.log"))"
done

# Early stopping: where does the uninterrupted run stop?
es=(--epochs 40 --early-stop 2 --schedule plain) # plain SGD over-fits this small set within 40 epochs
train 4 "${ps[@]}" "${es[@]}" --model-out "$work/es-ref.h5" --metrics-json "$work/es-ref.jsonl" >"$work/es-ref.log" 2>&1 ||
  fail "early-stop reference: $(cat "$work/es-ref.log")"
stop=$(wc -l <"$work/es-ref.jsonl")
((stop > 2 && stop < 40)) || fail "the early-stop reference ran $stop epochs: early stopping did not happen"
if train 4 "${ps[@]}" "${es[@]}" --model-out "$work/es.h5" --metrics-json "$work/es.jsonl" --checkpoint-dir "$work/ck-es" --checkpoint-every 1 \
  --fail-at "$stop:1:2" >"$work/es1.log" 2>&1; then fail "the early-stop run with --fail-at succeeded"; fi
train 4 "${ps[@]}" "${es[@]}" --model-out "$work/es.h5" --metrics-json "$work/es.jsonl" --checkpoint-dir "$work/ck-es" --checkpoint-every 1 \
  --resume auto >"$work/es2.log" 2>&1 || fail "early-stop resume: $(cat "$work/es2.log")"
grep -q "resumed from .* at epoch $((stop - 1)) round 0" "$work/es2.log" || fail "no resume from epoch $((stop - 1)): $(cat "$work/es2.log")"
got=$(wc -l <"$work/es.jsonl")
((got == stop)) || fail "early stopping: the resumed job ran $got epochs in all, the uninterrupted one $stop"
same_factors "$work/es-ref.h5" "$work/es.h5" || fail "early stopping: the resumed model differs"
rmse() { sed 's/.*"test_rmse":\([^,]*\),.*/\1/' "$1"; }
[[ $(rmse "$work/es.jsonl") == "$(rmse "$work/es-ref.jsonl")" ]] || fail "early stopping: per-epoch test RMSE differs"
echo "early stop after epoch $stop, also when the job crashed in that epoch and resumed (model identical)"
