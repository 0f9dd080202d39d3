#!/usr/bin/env bash
# scaling.sh - training throughput, 2 ranks vs 1 rank, on MovieLens-1M-shaped planted data
# (6,040 users x 3,706 items, 1M ratings, k_true 16), k = 32, 6 epochs, no train-set evaluation,
# default sync settings (or SYNC_EVERY=N, ALGO=A).  Per run, over epochs 2..6 (epoch 1 warms caches):
#   ratings/s   ratings updated by all ranks / wall seconds of the epochs' training
#   comm        share of that wall time spent inside the item-block allreduce (mean over ranks;
#               includes waiting for the other rank)
#   per CPU-s   ratings / CPU seconds of all ranks (process CPU time; MPI polls while it waits,
#               so waiting costs CPU time too).  On a machine shared with other jobs the wall-clock
#               figures depend on how much CPU the ranks got; this one does much less.
# Each configuration runs REPEAT times (default 3); the run with the median ratings/s is reported.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
REPEAT=${REPEAT:-3}
ALGO=${ALGO:-auto}
SYNC=()
[[ -n ${SYNC_EVERY:-} ]] && SYNC=(--sync-every "$SYNC_EVERY")
make_planted ml1m 6040 3706 1M 16
# stats FILE -> "ratings_per_s comm_share ratings_per_cpu_s"
stats() {
  awk -F'[,:}]' 'NR > 1 { for (i = 1; i < NF; i++) { if ($i == "\"ratings\"") n += $(i+1);
      if ($i == "\"seconds\"") s += $(i+1); if ($i == "\"comm_seconds\"") c += $(i+1);
      if ($i == "\"cpu_seconds\"") u += $(i+1) } }
      END { printf "%.0f %.4f %.0f\n", n / s, c / s, n / u }' "$1"
}
declare -A row
for np in 1 2; do
  runs=()
  for ((i = 0; i < REPEAT; i++)); do
    json=$WORK/scaling-$np-$i.jsonl
    train "$np" --train "$WORK/ml1m-train" --test "$WORK/ml1m-test" --k 32 --epochs 6 --no-train-eval \
      --allreduce "$ALGO" "${SYNC[@]}" --metrics-json "$json" >/dev/null
    runs+=("$(stats "$json")")
  done
  row[$np]=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n "$(( (REPEAT + 1) / 2 ))p")
  echo "ranks $np (ratings/s comm-share ratings/cpu-s): $(printf '[%s] ' "${runs[@]}")-> median [${row[$np]}]" >&2
done
read -r r1 c1 u1 <<<"${row[1]}"
read -r r2 c2 u2 <<<"${row[2]}"
echo "load average before/after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "| ranks | M ratings/s (median of $REPEAT) | allreduce share | M ratings per CPU-s | speed-up (wall) | CPU efficiency |"
echo "|---|---|---|---|---|---|"
awk -v r="$r1" -v c="$c1" -v u="$u1" 'BEGIN{printf "| 1 | %.1f | %.1f%% | %.1f | 1.00x | 1.00 |\n", r/1e6, 100*c, u/1e6}'
awk -v r="$r2" -v c="$c2" -v u="$u2" -v r1="$r1" -v u1="$u1" \
  'BEGIN{printf "| 2 | %.1f | %.1f%% | %.1f | %.2fx | %.2f |\n", r/1e6, 100*c, u/1e6, r/r1, u/u1}'
