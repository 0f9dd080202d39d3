#!/usr/bin/env bash
# quality.sh - planted data (2,000 users x 1,000 items, 1M ratings, k_true 16, noise 0.5, 90/10 split):
# final test RMSE after 20 epochs with the default configuration, for 1, 2 and 4 ranks.
# Target (issue 4): test RMSE <= 1.05 x noise.  Prints a Markdown table.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
make_planted quality 2000 1000 1M 16
echo "| ranks | train RMSE | test RMSE | test / noise | wall s |"
echo "|---|---|---|---|---|"
for np in 1 2 4; do
  line=$(train "$np" --train "$WORK/quality-train" --test "$WORK/quality-test" --k 32 --epochs 20)
  r=$(field "test RMSE" "$line")
  echo "| $np | $(field "train RMSE" "$line") | $r | $(awk -v r="$r" 'BEGIN{printf "%.3f", r/0.5}') | $(sed -n 's/.*(\([0-9.]*\) s).*/\1/p' <<<"$line") |"
done
