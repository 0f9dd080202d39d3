#!/usr/bin/env bash
# scale.sh - training at realistic scale: the blocked visiting order against the shuffled one.
#
# Builds planted datasets once (cached in $WORK, default build/scale) and trains each
# shape x k x ranks with --order shuffle and --order blocked back to back (paired, the
# pair's first run alternating), so both orders see the same machine load.  Prints the CPU
# model, the L2 size and the load average before and after, every command on stderr,
# and the table on stdout:
#   M upd/s       ratings updated by all ranks / wall seconds of training, epochs 2..E
#                 (epoch 1 warms caches; with 1 epoch, epoch 1)
#   per CPU-s     the same per CPU second of all ranks (process CPU time): on a shared
#                 machine the wall-clock rate depends on the CPU the ranks got, this less so
#   epoch s       mean wall seconds of those epochs
#   allreduce     share of the wall time inside the item-block allreduce (mean over ranks)
#   RSS MB        peak resident set of the largest rank (/usr/bin/time -v, per rank)
#   load s        data loading (MPI_Init to the first epoch, rank 0: read, route, grid)
#   test RMSE     after the last epoch;  vs shuffle: blocked / shuffle (rate), RMSE change
#
# Shapes (planted: trib-data synth --rank 16 --noise 0.5):
#   ml1m     6,040 x 3,706, 1M ratings, --seed 3 --shards 8, split --test-fraction 0.05 --seed 1
#   ml25m    162,541 x 59,047, 25M ratings, same options (the ML-25M shape)
#   netflix  480,189 x 17,770, 100,480,507 ratings (opt-in: SCALE_NETFLIX=1; minutes, ~3 GB on disk)
# Environment: SHAPES (default "ml1m ml25m"), KS (default "32 64 128"), RANKS (default "1 2"),
#   EPOCHS (default 20), ORDERS (default "shuffle blocked"), REPEAT (pairs per configuration,
#   default 1), NETFLIX_KS (default 64), NETFLIX_RANKS (default 2), NETFLIX_EPOCHS (default 3),
#   BUILD_DIR (default build), WORK (default $BUILD_DIR/scale), EXTRA (more trib-train options).
BUILD_DIR=${BUILD_DIR:-build}
WORK=${WORK:-$BUILD_DIR/scale}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SHAPES=${SHAPES:-ml1m ml25m}
KS=${KS:-32 64 128}
RANKS=${RANKS:-1 2}
EPOCHS=${EPOCHS:-20}
ORDERS=${ORDERS:-shuffle blocked}
REPEAT=${REPEAT:-1}
read -r -a extra <<<"${EXTRA:-}"
[[ ${SCALE_NETFLIX:-0} == 1 ]] && SHAPES="$SHAPES netflix"
[[ -x $bin/trib-train && -x $bin/trib-data ]] || { echo "scale.sh: build first ($bin/trib-train missing)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "scale.sh: /usr/bin/time (GNU time) is needed for peak RSS" >&2; exit 1; }

# stats FILE -> "ratings_per_s ratings_per_cpu_s epoch_seconds comm_share test_rmse" (epochs 2..E).
stats() {
  awk -F'[,:}]' '{ for (i = 1; i < NF; i++) { v[$i] = $(i+1) } ; rmse = v["\"test_rmse\""]
      if (NR > 1 || skip == 0) { n += v["\"ratings\""]; s += v["\"seconds\""]; c += v["\"comm_seconds\""];
        u += v["\"cpu_seconds\""]; e++ } }
      END { printf "%.0f %.0f %.4f %.4f %s\n", n / s, n / u, s / e, c / s, rmse }' skip=$(( EPOCHS > 1 )) "$1"
}

# run NAME K NP ORDER EPOCHS TAG -> one result line "rate cpu_rate epoch_s comm rmse rss_mb load_s"
run() {
  local name=$1 k=$2 np=$3 order=$4 epochs=$5 tag=$6
  local json=$WORK/out-$tag.jsonl err=$WORK/out-$tag.err
  rm -f "$json" "$WORK"/out-"$tag".rss.*
  local args=(--train "$WORK/$name-train" --test "$WORK/$name-test" --k "$k" --epochs "$epochs" --no-train-eval
    --order "$order" --metrics-json "$json" "${extra[@]}")
  local timed=(bash -c '/usr/bin/time -v -o "$0.${OMPI_COMM_WORLD_RANK:-0}" "$@"' "$WORK/out-$tag.rss")
  echo "\$ mpirun -np $np $bin/trib-train ${args[*]}   (each rank under /usr/bin/time -v)" >&2
  if [[ $np -eq 1 ]]; then
    "${timed[@]}" "$bin/trib-train" "${args[@]}" >/dev/null 2>"$err"
  else
    mpirun -np "$np" --oversubscribe "${timed[@]}" "$bin/trib-train" "${args[@]}" >/dev/null 2>"$err"
  fi
  local rss load
  rss=$(cat "$WORK"/out-"$tag".rss.* | awk '/Maximum resident set size/ { if ($NF > m) m = $NF } END { printf "%.0f", m / 1024 }')
  load=$(sed -n 's/.*, \([0-9.]*\) s after MPI_Init.*/\1/p' "$err" | head -1)
  echo "$(stats "$json") $rss ${load:-nan}"
}

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, L2 $(lscpu | sed -n 's/^L2 cache: *//p')" \
  "L3 $(lscpu | sed -n 's/^L3 cache: *//p')"
echo "uptime before: $(uptime)"
echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown), EPOCHS=$EPOCHS (netflix: ${NETFLIX_EPOCHS:-3})${EXTRA:+ EXTRA=$EXTRA}"
echo
echo "| shape | k | ranks | order | M upd/s | M upd/s per CPU-s | epoch s | allreduce | RSS MB/rank | load s | test RMSE | vs shuffle |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for shape in $SHAPES; do
  read -r u i n <<<"$(shape_args "$shape")"
  make_shape "$shape" "$u" "$i" "$n"
  ks=$KS ranks=$RANKS epochs=$EPOCHS
  if [[ $shape == netflix ]]; then ks=${NETFLIX_KS:-64} ranks=${NETFLIX_RANKS:-2} epochs=${NETFLIX_EPOCHS:-3}; fi
  for k in $ks; do
    for np in $ranks; do
      for ((rep = 0; rep < REPEAT; rep++)); do
        read -r -a orders <<<"$ORDERS"
        if (( rep % 2 == 1 )); then orders=("${orders[@]:1}" "${orders[0]}"); fi
        declare -A res=()
        for order in "${orders[@]}"; do
          res[$order]=$(EPOCHS=$epochs run "$shape" "$k" "$np" "$order" "$epochs" "$shape-$k-$np-$order-$rep")
        done
        for order in $ORDERS; do
          read -r rate cpu es comm rmse rss load <<<"${res[$order]}"
          vs=""
          if [[ $order != shuffle && -n ${res[shuffle]:-} ]]; then
            read -r srate _ _ _ srmse _ <<<"${res[shuffle]}"
            vs=$(awk -v a="$rate" -v b="$srate" -v x="$rmse" -v y="$srmse" \
              'BEGIN { printf "%.2fx, RMSE %+.2f%%", a / b, 100 * (x - y) / y }')
          fi
          awk -v s="$shape" -v k="$k" -v np="$np" -v o="$order" -v r="$rate" -v c="$cpu" -v e="$es" -v m="$comm" \
            -v x="$rmse" -v rss="$rss" -v l="$load" -v vs="$vs" \
            'BEGIN { printf "| %s | %s | %s | %s | %.1f | %.1f | %.3f | %.1f%% | %s | %s | %.4f | %s |\n",
                     s, k, np, o, r / 1e6, c / 1e6, e, 100 * m, rss, l, x, vs }'
        done
        unset res
      done
    done
  done
done
echo
echo "uptime after: $(uptime)"
