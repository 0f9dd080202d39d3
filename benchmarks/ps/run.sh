#!/usr/bin/env bash
# benchmarks/ps/run.sh - parameter-server mode against sync mode on MovieLens-1M-shaped
# synthetic data (6,040 users, 3,706 items, 1M ratings, k_true 16, noise 0.5).
#
#   BUILD_DIR=build EPOCHS=5 benchmarks/ps/run.sh > ps-bench.txt
#
# For each layout in LAYOUTS (S:W = servers:workers, default "1:2", the layout of the targets in
# issue-style comparisons; "1:2 1:3 2:2" for more), sync mode on W ranks (the same users per rank as
# the W workers) and ps mode in each of PS_MODES (default "async async-static bsp ssp ssp-static": async
# with the default balance, which shares the work; async with --ps-balance static; bsp; ssp s=2 with the
# default balance (shared work, the bound counted in chunks); ssp s=2 with --ps-balance static (each
# worker its own users, the bound in each worker's clocks); "ssp:S" is ssp with --staleness S), without and with a straggler (worker rank 0 sleeping 4x its SGD time), at the same
# mini-batch (BATCH; default: trib-train's ps default):
#   - one row per epoch: ratings/s, wall time since the start of training, test RMSE;
#   - the last epoch's per-worker line (ratings/s, waiting, epochs each worker had done when the
#     slowest finished the epoch: workers run free);
#   - with BREAKDOWN=1 (default), the mean time per mini-batch of the workers (SGD, pack, pull, push, claim)
#     and the servers' busy time per message pair, from the trib-train info log.
# Then the straggler runs again under a wall-time budget (--time-limit; BUDGET, default bsp's wall time
# with the straggler above) with no epoch limit: the total ratings/s each model achieves in that time.
# Everything also goes to $WORK/ps-rmse-time.csv (label,epoch,elapsed_s,test_rmse,ratings_per_s) for plots.
# Last, REPEAT (default 5) runs of each mode without a straggler, in turn: medians and ratios to sync mode
# (REPEAT_BUILDS="A B": the runs of two builds take turns as well, for a before/after comparison).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
BUILD_DIR=${BUILD_DIR:-build}
WORK=${WORK:-$BUILD_DIR/bench-ps}
EPOCHS=${EPOCHS:-5}
LAYOUTS=${LAYOUTS:-1:2}
BREAKDOWN=${BREAKDOWN:-1}
bin=$BUILD_DIR/bin
mkdir -p "$WORK"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1

if [[ ! -f $WORK/ml1m-train/manifest.h5 ]]; then
  "$bin/trib-data" synth --users 6040 --items 3706 --ratings 1000000 --rank 16 --noise 0.5 --seed 1 --shards 4 \
    --output "$WORK/ml1m" --force >/dev/null
  "$bin/trib-data" split --input "$WORK/ml1m" --test-fraction 0.1 --seed 1 --train "$WORK/ml1m-train" \
    --test "$WORK/ml1m-test" --force >/dev/null
fi
# the mini-batch: BATCH, else what trib-train uses in ps mode without --sync-every
BATCH=${BATCH:-$(sed -n 's/^#define TRIB_TRAIN_PS_DEFAULT_SYNC_EVERY \([0-9]*\).*/\1/p' include/tributary/train.h)}

common=(--train "$WORK/ml1m-train" --test "$WORK/ml1m-test" --k 32 --sync-every "$BATCH" --seed 1 --no-train-eval)
length=(--epochs "$EPOCHS") # the budget runs replace it
csv=$WORK/ps-rmse-time.csv
echo "label,epoch,elapsed_s,test_rmse,ratings_per_s" >"$csv"

# NP=n run LABEL ARGS...: one trib-train run on NP processes; per-epoch rows, the last per-worker line, the breakdown.
run() {
  local label=$1; shift
  local out=$WORK/run.log json=$WORK/run.json
  local np=${NP:?}
  echo "\$ mpirun -np $np --oversubscribe $bin/trib-train ${common[*]} ${length[*]} --metrics-json run.json $*" >&2
  TRIB_LOG_LEVEL=$([[ $BREAKDOWN == 1 ]] && echo info || echo warn) \
    mpirun -np "$np" --oversubscribe -x TRIB_LOG_LEVEL "$bin/trib-train" "${common[@]}" "${length[@]}" \
    --metrics-json "$json" "$@" >"$out" 2>"$WORK/run.err"
  python3 - "$label" "$json" "$csv" <<'PY'
import json, sys
label, path, csv = sys.argv[1:]
t = 0.0
n = 0
with open(csv, "a") as out:
    for line in open(path):
        m = json.loads(line)
        t += m["seconds"] + (m.get("eval_seconds") or 0)
        n += m["ratings"]
        print("%-30s epoch %2d  %7.3f M ratings/s  %7.3f s  test RMSE %.4f"
              % (label, m["epoch"], m["ratings_per_s"] / 1e6, t, m["test_rmse"]))
        out.write("%s,%d,%.4f,%.6f,%.1f\n" % (label, m["epoch"], t, m["test_rmse"], m["ratings_per_s"]))
print("%-30s total: %d ratings in %.3f s (training and evaluation up to the last epoch line): %.3f M ratings/s"
      % (label, n, t, n / t / 1e6 if t > 0 else 0))
open(path + ".seconds", "w").write("%.3f\n" % t)
PY
  last_seconds=$(cat "$json.seconds")
  local w; w=$(grep '^    ps workers' "$out" | tail -1 | sed 's/^ *ps workers //; s/ *|.*//' || true)
  if [[ -n $w ]]; then echo "$label   last epoch per worker: $w"; fi
  if [[ $BREAKDOWN == 1 ]] && grep -q 'ms per mini-batch' "$WORK/run.err"; then
    awk -v l="$label" '
      /ps worker .* ms per mini-batch/ { for (i = 1; i <= NF; i++) { if ($i == "sgd") s += $(i+1); if ($i == "pack") k += $(i+1);
                                           if ($i == "pull") p += $(i+1); if ($i == "push") q += $(i+1);
                                           if ($i == "claim") c += $(i+1) } n++ }
      /ps server .* busy/ { for (i = 1; i <= NF; i++) if ($i == "busy") b += $(i+1); m++ }
      END { if (n) printf "%s   ms per mini-batch (mean of %d worker rounds): sgd %.3f pack %.3f pull %.3f push %.3f claim %.3f; server busy %.3f ms per push+pull\n",
                         l, n, s / n, k / n, p / n, q / n, c / n, m ? b / m : 0 }' "$WORK/run.err"
  fi
}

PS_MODES=${PS_MODES:-async async-static bsp ssp ssp-static}
mode_args() { # the trib-train options of a mode of PS_MODES / STRAGGLER_MODES
  case $1 in
    ssp:*) echo "--consistency ssp --staleness ${1#ssp:}" ;;
    ssp) echo "--consistency ssp --staleness 2" ;;
    ssp-static) echo "--consistency ssp --staleness 2 --ps-balance static" ;;
    async-static) echo "--consistency async --ps-balance static" ;;
    *) echo "--consistency $1" ;;
  esac
}

echo "== $(date -u +%FT%TZ) $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== mini-batch (--sync-every) $BATCH, $EPOCHS epochs, k = 32"
declare -A budgets=()
for layout in $LAYOUTS; do
  S=${layout%%:*} W=${layout##*:}
  for straggler in none 0:4; do
    extra=()
    [[ $straggler != none ]] && extra=(--straggler "$straggler")
    echo "== ${S} server(s) + ${W} workers, straggler: $straggler"
    if [[ $straggler == none ]]; then # --straggler is a ps-mode option
      NP=$W run "sync $W ranks"
    fi
    for mode in $PS_MODES; do
      # shellcheck disable=SC2046
      NP=$((S + W)) run "ps ${S}s+${W}w $mode${extra[*]:+ straggler}" --mode ps --servers "$S" $(mode_args "$mode") \
        "${extra[@]}"
      [[ $mode == bsp ]] && bsp_seconds=$last_seconds
    done
  done
  # A wall-time budget instead of an epoch count (--time-limit): the straggler runs again with as
  # much time as bsp needed above for its EPOCHS epochs (training and evaluation), so a fast worker that
  # runs free turns its lead into more work.  Epoch lines are the epochs the slowest worker finished.
  budget=${BUDGET:-$bsp_seconds}
  budgets[$layout]=$budget
  echo "== ${S} server(s) + ${W} workers, straggler 0:4, --time-limit $budget s (bsp's time for $EPOCHS epochs)"
  length=(--epochs 1000000 --time-limit "$budget")
  for mode in $PS_MODES; do
    # shellcheck disable=SC2046
    NP=$((S + W)) run "ps ${S}s+${W}w $mode straggler budget" --mode ps --servers "$S" $(mode_args "$mode") \
      --straggler 0:4
  done
  length=(--epochs "$EPOCHS")
  # When each budget run first reached bsp's final test RMSE (the straggler run with EPOCHS epochs).
  python3 - "$csv" "ps ${S}s+${W}w" $PS_MODES <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
pre, modes = sys.argv[2], sys.argv[3:]
bsp = [r for r in rows if r["label"] == pre + " bsp straggler"]
if bsp:
    target, t_b = float(bsp[-1]["test_rmse"]), float(bsp[-1]["elapsed_s"])
    for cons in modes:
        run = [r for r in rows if r["label"] == "%s %s straggler budget" % (pre, cons)]
        hit = next((r for r in run if float(r["test_rmse"]) <= target), None)
        print("%s %s straggler budget: bsp's final test RMSE %.4f (at %.3f s) %s" % (pre, cons, target, t_b,
              "reached at %.3f s = %.2fx bsp's time" % (float(hit["elapsed_s"]), float(hit["elapsed_s"]) / t_b)
              if hit else "not reached (best %.4f)" % min((float(r["test_rmse"]) for r in run), default=float("nan"))))
PY
done

# Repeated runs without a straggler (REPEAT, default 5; 0: none), the four modes taking turns so that a
# slow spell of a shared machine hits them alike: per mode the whole-run ratings/s of each run, their
# median, and the median's ratio to sync mode's.  One run of 20 epochs of this data lasts well under a
# second, so single runs move by +-20%; the ratio of medians is the figure to compare.  Then the same
# with the straggler (worker rank 0 sleeping 4x its SGD time) under the budget of the runs above
# (bsp's time for EPOCHS epochs), the modes of STRAGGLER_MODES (default: PS_MODES; "ssp:S" is ssp
# with --staleness S) taking turns: medians and ratios to bsp's; for each ssp:S also one run of EPOCHS
# epochs with the straggler, for its final test RMSE.
REPEAT=${REPEAT:-5}
STRAGGLER_MODES=${STRAGGLER_MODES:-$PS_MODES}
REPEAT_BUILDS=${REPEAT_BUILDS:-$BUILD_DIR} # several build directories: their runs take turns too (before/after)
total_rate() { # the whole-run ratings/s of a metrics JSON file, as in run()
  python3 -c 'import json, sys
t = n = 0
for line in open(sys.argv[1]):
    m = json.loads(line); t += m["seconds"] + (m.get("eval_seconds") or 0); n += m["ratings"]
print("%.3f" % (n / t / 1e6 if t > 0 else 0))' "$1"
}
med() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
if (( REPEAT > 0 )); then
  for layout in $LAYOUTS; do
    S=${layout%%:*} W=${layout##*:}
    echo "== ${S} server(s) + ${W} workers, no straggler, $REPEAT runs of each mode in turn (M ratings/s)"
    declare -A rates=()
    for ((i = 0; i < REPEAT; i++)); do
      for mode in sync $PS_MODES; do
        for b in $REPEAT_BUILDS; do
          json=$WORK/repeat.json
          rm -f "$json"
          if [[ $mode == sync ]]; then
            mpirun -np "$W" --oversubscribe "$b/bin/trib-train" "${common[@]}" "${length[@]}" --metrics-json "$json" \
              >/dev/null 2>"$WORK/run.err"
          else
            # shellcheck disable=SC2046
            mpirun -np $((S + W)) --oversubscribe "$b/bin/trib-train" "${common[@]}" "${length[@]}" \
              --metrics-json "$json" --mode ps --servers "$S" $(mode_args "$mode") >/dev/null 2>"$WORK/run.err"
          fi
          rates[$b:$mode]="${rates[$b:$mode]:-} $(total_rate "$json")"
        done
      done
    done
    for b in $REPEAT_BUILDS; do
      ms=$(med "${rates[$b:sync]}")
      for mode in sync $PS_MODES; do
        m=$(med "${rates[$b:$mode]}")
        printf '%s %-6s runs:%s  median %.1f  vs sync %.2fx\n' "$b" "$mode" "${rates[$b:$mode]}" "$m" \
          "$(awk -v a="$m" -v b="$ms" 'BEGIN { print (b > 0 ? a / b : 0) }')"
      done
    done
    echo "== ${S} server(s) + ${W} workers, straggler 0:4, --time-limit ${budgets[$layout]} s, $REPEAT runs of each mode in turn (M ratings/s)"
    for mode in $STRAGGLER_MODES; do
      [[ $mode == ssp:* ]] || continue
      json=$WORK/repeat.json
      rm -f "$json"
      # shellcheck disable=SC2046
      mpirun -np $((S + W)) --oversubscribe "$BUILD_DIR/bin/trib-train" "${common[@]}" "${length[@]}" \
        --metrics-json "$json" --mode ps --servers "$S" $(mode_args "$mode") --straggler 0:4 >/dev/null 2>"$WORK/run.err"
      python3 -c 'import json, sys
m = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print("%s straggler, %d epochs: final test RMSE %.4f" % (sys.argv[2], m["epoch"], m["test_rmse"]))' "$json" "$mode"
    done
    for ((i = 0; i < REPEAT; i++)); do
      for mode in $STRAGGLER_MODES; do
        for b in $REPEAT_BUILDS; do
          json=$WORK/repeat.json
          rm -f "$json"
          # shellcheck disable=SC2046
          mpirun -np $((S + W)) --oversubscribe "$b/bin/trib-train" "${common[@]}" --epochs 1000000 \
            --time-limit "${budgets[$layout]}" --metrics-json "$json" --mode ps --servers "$S" $(mode_args "$mode") \
            --straggler 0:4 >/dev/null 2>"$WORK/run.err"
          rates[$b:straggler:$mode]="${rates[$b:straggler:$mode]:-} $(total_rate "$json")"
        done
      done
    done
    for b in $REPEAT_BUILDS; do
      mb=$(med "${rates[$b:straggler:bsp]:-}")
      for mode in $STRAGGLER_MODES; do
        m=$(med "${rates[$b:straggler:$mode]}")
        printf '%s %-6s straggler runs:%s  median %.1f  vs bsp %.2fx\n' "$b" "$mode" "${rates[$b:straggler:$mode]}" \
          "$m" "$(awk -v a="$m" -v b="${mb:-0}" 'BEGIN { print (b > 0 ? a / b : 0) }')"
      done
    done
  done
fi
echo "== $(date -u +%FT%TZ) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
