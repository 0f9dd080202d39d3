#!/usr/bin/env bash
# train_array_sbatch.sh: slurm/train-array.sbatch with the real trib-train on a real Slurm,
# on a tiny synthetic dataset made with trib-data. Registered only when trib-train is built.
#
# A 3-point grid (k, reg) as a 3-task array of 1-rank tasks. Checks: every task COMPLETED; each
# task's own directory holds its model and metrics; table.tsv has the header and one row per
# grid point, in task order, with that point's k and reg, the configured epoch count and the
# task's final train/test RMSE exactly as its metrics file reports them; the RMSEs are finite
# and positive.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${TRIB_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
bin=${TRIB_BUILD_DIR:-$src/build}/bin
# shellcheck source=lib/harness.sh
source "$here/lib/harness.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
for p in trib-train trib-data; do [[ -x $bin/$p ]] || fail "no $bin/$p (build it first)"; done
last_metric() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])[sys.argv[2]])' "$1" "$2"; }

trib_slurm_up 1
work=$TRIB_SLURM_DIR/work
cd "$work"
mkdir -p "$work/data"
"$bin/trib-data" synth --users 300 --items 200 --ratings 12000 --rank 4 --noise 0.3 --seed 11 --shards 1 \
  --output "$work/all" >/dev/null
"$bin/trib-data" split --input "$work/all" --test-fraction 0.1 --seed 11 --train "$work/data/train" \
  --test "$work/data/test" >/dev/null
epochs=4
# The sweep runs with checkpoints (the script's default) when trib-train has them; a trib-train
# without --checkpoint-dir runs it with TRIB_CHECKPOINT_EVERY=0 (said below; the requeue test,
# slurm_train, fails for such a trib-train).
if ! "$bin/trib-train" --help 2>&1 | grep -e --checkpoint-dir >/dev/null; then
  echo "NOTE: trib-train has no --checkpoint-dir: this sweep runs with TRIB_CHECKPOINT_EVERY=0"
  export TRIB_CHECKPOINT_EVERY=0
fi
export TRIB_BIN=$bin TRIB_DATA=$work/data TRIB_OUT=$work/sweep TRIB_EPOCHS=$epochs TRIB_SEED=5 \
  TRIB_GRID="4:0.02 8:0.05 16:0.1"
id=$(trib_slurm_submit --array=0-2 -N 1 --ntasks-per-node=1 -o "array-%a.out" "$src/slurm/train-array.sbatch")
for t in 0 1 2; do
  st=$(trib_slurm_wait "${id}_$t" 150) || true
  echo "== task ${id}_$t: $st"
  cat "array-$t.out"
  [[ $st == COMPLETED ]] || fail "array task $t ended $st"
done

table=$TRIB_OUT/table.tsv
[[ -s $table ]] || fail "no $table"
echo "== $table"; cat "$table"
[[ $(head -1 "$table") == $'task\tk\treg\tepochs\ttrain_rmse\ttest_rmse\ttest_mae\trestarts\tjob' ]] || fail "table header"
[[ $(tail -n +2 "$table" | wc -l) == 3 ]] || fail "table does not have 3 rows"
grid=("4 0.02" "8 0.05" "16 0.1")
for t in 0 1 2; do
  row=$(awk -F'\t' -v t="$t" 'NR > 1 && $1 == t' "$table")
  read -r k reg <<<"${grid[t]}"
  m=$TRIB_OUT/task-$t/metrics.jsonl
  [[ -s $TRIB_OUT/task-$t/model.h5 ]] || fail "task $t: no model"
  IFS=$'\t' read -r rt rk rreg rep rtrain rtest _ <<<"$row"
  [[ $rt == "$t" && $rk == "$k" && $rreg == "$reg" && $rep == "$epochs" ]] ||
    fail "task $t: row '$row' does not match grid point k=$k reg=$reg epochs=$epochs"
  python3 - "$m" "$rtrain" "$rtest" <<'EOF' || fail "task $t: table RMSEs do not match its metrics, or are not finite"
import json, math, sys
last = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
train, test = float(sys.argv[2]), float(sys.argv[3])
ok = all(math.isfinite(v) and v > 0 for v in (train, test))
ok = ok and math.isclose(train, float(last["train_rmse"]), rel_tol=1e-12)
ok = ok and math.isclose(test, float(last["test_rmse"]), rel_tol=1e-12)
sys.exit(0 if ok else 1)
EOF
done
grep -q "all 3 results collected" array-*.out || fail "no task reported collecting the table"

trib_slurm_down
trib_slurm_check_clean
echo "train-array.sbatch test passed"
