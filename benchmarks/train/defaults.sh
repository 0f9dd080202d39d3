#!/usr/bin/env bash
# defaults.sh - the comparison behind the trainer's optimiser defaults: 1 rank, k = 32, 20 epochs,
# final test RMSE / noise for a few candidate settings on two planted data sets (k_true 16, noise 0.5,
# 1M ratings, 90/10 split):
#   quality: 2,000 users x 1,000 items          ml1m: 6,040 users x 3,706 items (MovieLens-1M shape)
# Prints a Markdown table.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
make_planted quality 2000 1000 1M 16
make_planted ml1m 6040 3706 1M 16
candidates=(
  "--schedule plain --lr 0.08 --lr-decay 1 --reg 0.02 --init-std 0.1"
  "--schedule plain --lr 0.08 --lr-decay 1 --reg 0.05 --init-std 0.1"
  "--schedule plain --lr 0.08 --lr-decay 1 --reg 0.02 --init-std 0.5"
  "--schedule plain --lr 0.05 --lr-decay 0.5 --reg 0.02 --init-std 0.1"
  "--schedule adagrad --lr 0.05 --reg 0.05 --init-std 0.1"
  "--schedule adagrad --lr 0.1 --reg 0.02 --init-std 0.5"
  "--schedule adagrad --lr 0.1 --reg 0.02 --init-std 0.1"
)
echo "| options | quality: test/noise | ml1m: test/noise |"
echo "|---|---|---|"
for c in "${candidates[@]}"; do
  row="| \`$c\`"
  for d in quality ml1m; do
    # shellcheck disable=SC2086
    line=$(train 1 --train "$WORK/$d-train" --test "$WORK/$d-test" --k 32 --epochs 20 $c)
    row="$row | $(field "test\/noise" "$line")"
  done
  echo "$row |"
done
