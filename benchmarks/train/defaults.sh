#!/usr/bin/env bash
# defaults.sh - the sweep behind the trainer's defaults (1 rank, k = 32, 20 epochs, AdaGrad):
# learning rate x factor regularisation x initial scale on two planted data sets
#   quality: 2,000 x 1,000, 1M ratings, k_true 16     ml1m: 6,040 x 3,706, 1M ratings, k_true 16
# Prints the final test RMSE / noise for each point as a Markdown table.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
make_planted quality 2000 1000 1M 16
make_planted ml1m 6040 3706 1M 16
echo "| lr | reg | init-std | quality: test/noise | ml1m: test/noise |"
echo "|---|---|---|---|---|"
for lr in 0.05 0.1 0.2; do
  for reg in 0.01 0.02 0.05; do
    for init in 0.1 0.5; do
      row="| $lr | $reg | $init"
      for d in quality ml1m; do
        line=$(train 1 --train "$WORK/$d-train" --test "$WORK/$d-test" --k 32 --epochs 20 --lr $lr --reg $reg \
          --init-std $init)
        row="$row | $(field "test\/noise" "$line")"
      done
      echo "$row |"
    done
  done
done
