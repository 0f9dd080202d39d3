#!/usr/bin/env bash
# demo.sh: the main job end to end, on this machine, in about a minute.
#
#   1. setup (packages, configure, build)
#   2. a synthetic dataset from a planted model (1M ratings, rank 16, noise 0.5)
#      split 90/10 into train and test sets under build/demo/
#   3. training on 4 ranks with synchronous data-parallel SGD (allreduce of the
#      item factors), one line per epoch
#   4. the final test RMSE against the data's noise floor, and the top-5
#      recommendations for one user (items already rated left out)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
bin=build/bin
demo=build/demo
mkdir -p "$demo"

echo "== data: planted model, 2,000 users x 1,000 items, 1M ratings, rank 16, noise 0.5"
"$bin/trib-data" synth --users 2000 --items 1000 --ratings 1M --rank 16 --noise 0.5 --seed 1 --shards 4 \
  --output "$demo/ratings" --force
"$bin/trib-data" split --input "$demo/ratings" --test-fraction 0.1 --seed 1 \
  --train "$demo/train" --test "$demo/test" --force

echo "== training on 4 ranks"
mpirun -np 4 --oversubscribe "$bin/trib-train" --train "$demo/train" --test "$demo/test" \
  --k 32 --epochs 20 --allreduce auto --model-out "$demo/model.h5" --metrics-json "$demo/metrics.jsonl" \
  | tee "$demo/train.log"

final=$(grep '^final:' "$demo/train.log")
noise=$("$bin/trib-data" inspect "$demo/test" --json | sed -n 's/.*"noise_std":\([0-9.e+-]*\).*/\1/p')
rmse=$(sed -n 's/.*test RMSE \([0-9.]*\).*/\1/p' <<<"$final")
echo "== result: test RMSE $rmse, noise floor $noise: $(awk -v r="$rmse" -v n="$noise" \
  'BEGIN { printf "%.3f x the noise floor (target <= 1.05)", r / n }')"

echo "== top-5 recommendations for user 42 (items it rated in training left out)"
"$bin/trib-recommend" --model "$demo/model.h5" --users 42 --top 5 --exclude-rated "$demo/train"
