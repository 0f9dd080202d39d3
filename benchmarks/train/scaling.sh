#!/usr/bin/env bash
# scaling.sh - training throughput, 2 ranks vs 1 rank, on MovieLens-1M-shaped planted data
# (6,040 users x 3,706 items, 1M ratings, k_true 16), k = 32, 6 epochs, default sync settings
# (or SYNC_EVERY=N, ALGO=A),
# no train-set evaluation.  Throughput = mean ratings/s of epochs 2..6 (epoch 1 warms caches);
# comm = share of the epoch spent in the item-block allreduce (mean over ranks).  Each
# configuration runs REPEAT times (default 3); the median run is reported.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
REPEAT=${REPEAT:-3}
ALGO=${ALGO:-auto}
SYNC=()
[[ -n ${SYNC_EVERY:-} ]] && SYNC=(--sync-every "$SYNC_EVERY")
make_planted ml1m 6040 3706 1M 16
# stats FILE -> "ratings_per_s comm_share"
stats() {
  awk -F'[,:}]' 'NR > 1 { for (i = 1; i < NF; i++) { if ($i == "\"ratings_per_s\"") r += $(i+1);
      if ($i == "\"seconds\"") s += $(i+1); if ($i == "\"comm_seconds\"") c += $(i+1) } n++ }
      END { printf "%.0f %.4f\n", r / n, c / s }' "$1"
}
declare -A rate comm
for np in 1 2; do
  runs=()
  for ((i = 0; i < REPEAT; i++)); do
    json=$WORK/scaling-$np-$i.jsonl
    train "$np" --train "$WORK/ml1m-train" --test "$WORK/ml1m-test" --k 32 --epochs 6 --no-train-eval \
      --allreduce "$ALGO" "${SYNC[@]}" --metrics-json "$json" >/dev/null
    runs+=("$(stats "$json")")
  done
  med=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n "$(( (REPEAT + 1) / 2 ))p")
  rate[$np]=${med% *}
  comm[$np]=${med#* }
  echo "ranks $np: runs (ratings/s comm-share): ${runs[*]} -> median ${rate[$np]} ${comm[$np]}" >&2
done
echo "| ranks | M ratings/s (median of $REPEAT) | allreduce share | speed-up |"
echo "|---|---|---|---|"
for np in 1 2; do
  echo "| $np | $(awk -v r="${rate[$np]}" 'BEGIN{printf "%.1f", r/1e6}') | $(awk -v c="${comm[$np]}" 'BEGIN{printf "%.1f%%", 100*c}') | $(awk -v a="${rate[$np]}" -v b="${rate[1]}" 'BEGIN{printf "%.2fx", a/b}') |"
done
