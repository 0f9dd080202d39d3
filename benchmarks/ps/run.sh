#!/usr/bin/env bash
# benchmarks/ps/run.sh - parameter-server mode against sync mode on MovieLens-1M-shaped
# synthetic data (6,040 users, 3,706 items, 1M ratings, k_true 16, noise 0.5).
#
#   BUILD_DIR=build EPOCHS=5 benchmarks/ps/run.sh > ps-bench.txt
#
# For each layout (1 server + 3 workers, 2 servers + 2 workers; 4 processes on however many
# cores the machine has) and each mode (sync on 4 ranks, async, bsp, ssp s=2), with and
# without a straggler (worker rank 0 sleeping 4x its SGD time), prints one row per epoch:
# ratings/s and test RMSE, plus the per-worker ratings/s of the last epoch.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
BUILD_DIR=${BUILD_DIR:-build}
WORK=${WORK:-$BUILD_DIR/bench-ps}
EPOCHS=${EPOCHS:-5}
BATCH=${BATCH:-20000}
bin=$BUILD_DIR/bin
mkdir -p "$WORK"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1

if [[ ! -f $WORK/ml1m-train/manifest.h5 ]]; then
  "$bin/trib-data" synth --users 6040 --items 3706 --ratings 1000000 --rank 16 --noise 0.5 --seed 1 --shards 4 \
    --output "$WORK/ml1m" --force >/dev/null
  "$bin/trib-data" split --input "$WORK/ml1m" --test-fraction 0.1 --seed 1 --train "$WORK/ml1m-train" \
    --test "$WORK/ml1m-test" --force >/dev/null
fi

common=(--train "$WORK/ml1m-train" --test "$WORK/ml1m-test" --k 32 --epochs "$EPOCHS" --sync-every "$BATCH"
        --seed 1 --no-train-eval)

# [NP=n] run LABEL ARGS...: one trib-train run on NP (default 4) processes; per-epoch "label epoch ratings/s test-rmse".
run() {
  local label=$1; shift
  local out=$WORK/run.log json=$WORK/run.json
  local np=${NP:-4}
  echo "\$ mpirun -np $np --oversubscribe $bin/trib-train ${common[*]} --metrics-json run.json $*" >&2
  mpirun -np "$np" --oversubscribe "$bin/trib-train" "${common[@]}" --metrics-json "$json" "$@" >"$out"
  sed -n 's/.*"epoch":\([0-9]*\).*"test_rmse":\([0-9.]*\).*"ratings_per_s":\([0-9.e+]*\).*/\1 \3 \2/p' "$json" |
    awk -v l="$label" '{ printf "%-28s epoch %s  %6.3f M ratings/s  test RMSE %.4f\n", l, $1, $2 / 1e6, $3 }'
  local w; w=$(grep '^    ps workers' "$out" | tail -1 | sed 's/^ *ps workers M ratings\/s: //; s/  wait.*//' || true)
  if [[ -n $w ]]; then echo "$label   last epoch per worker (M ratings/s): $w"; fi
  grep '^    ps workers' "$out" | tail -1 | sed 's/.*| /    /' || true
}

echo "== $(date -u +%FT%TZ) $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for straggler in none 0:4; do
  extra=()
  [[ $straggler != none ]] && extra=(--straggler "$straggler")
  echo "== straggler: $straggler"
  if [[ $straggler == none ]]; then # --straggler is a ps-mode option
    NP=4 run "sync 4 ranks"
    NP=3 run "sync 3 ranks (= 3 workers' users)"
    NP=2 run "sync 2 ranks (= 2 workers' users)"
  fi
  for S in 1 2; do
    for cons in async bsp "ssp --staleness 2"; do
      # shellcheck disable=SC2086
      run "ps ${S}s+$((4 - S))w ${cons%% *}" --mode ps --servers "$S" --consistency $cons "${extra[@]}"
    done
  done
done
echo "== $(date -u +%FT%TZ) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
