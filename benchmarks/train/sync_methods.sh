#!/usr/bin/env bash
# sync_methods.sh - model averaging vs delta summation at several --sync-every N, 2 and 4 ranks,
# test RMSE after epoch 1 and after 20 epochs.  Prints a Markdown table.
#   DATA=quality (default): 2,000 x 1,000, 1M ratings, k_true 16;  DATA=ml1m: 6,040 x 3,706, 1M ratings
#   SYNC_EVERY="10k 30k 100k 1M" (default), RANKS="2 4" (default)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
DATA=${DATA:-quality}
make_planted quality 2000 1000 1M 16
make_planted ml1m 6040 3706 1M 16
echo "| method | sync-every | ranks | rounds/epoch | test RMSE epoch 1 | test RMSE epoch 20 | test / noise |"
echo "|---|---|---|---|---|---|---|"
for method in average delta-sum; do
  for n in ${SYNC_EVERY:-10k 30k 100k 1M}; do
    for np in ${RANKS:-2 4}; do
      json=$WORK/sync-$DATA-$method-$n-$np.jsonl
      train "$np" --train "$WORK/$DATA-train" --test "$WORK/$DATA-test" --k 32 --epochs 20 \
        --sync-method "$method" --sync-every "$n" --metrics-json "$json" >/dev/null 2>&1 || true
      e1=$(sed -n '1s/.*"test_rmse":\([0-9.]*\).*/\1/p' "$json")
      e20=$(sed -n '20s/.*"test_rmse":\([0-9.]*\).*/\1/p' "$json")
      rounds=$(sed -n '1s/.*"rounds":\([0-9]*\).*/\1/p' "$json")
      fmt() { if [[ -n $1 ]]; then printf %.4f "$1"; else printf "diverged"; fi; }
      ratio=$([[ -n $e20 ]] && awk -v r="$e20" 'BEGIN{printf "%.3f", r/0.5}' || echo "-")
      echo "| $method | $n | $np | ${rounds:--} | $(fmt "$e1") | $(fmt "$e20") | $ratio |"
    done
  done
done
