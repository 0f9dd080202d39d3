#!/usr/bin/env bash
# ranks.sh - quality and speed against the rank count: the same data and settings at P = 1, 2, 4, 8.
#
# For every shape and every CONFIG, trains 20 epochs (EPOCHS) at each P in RANKS and prints:
#   test RMSE     after the last epoch;  vs P=1: its change against the same CONFIG at P = 1
#   best (epoch)  the lowest test RMSE of any epoch;  last/best: how much the last epoch lost
#   M upd/s       ratings updated by all ranks / wall seconds of training, epochs 2..E
#   allreduce     share of the wall time inside the item-block allreduce (mean over ranks)
# Shapes are those of scale.sh (planted, power-law user and item activity, cached in $WORK,
# default build/scale): ml1m (6,040 x 3,706, 1M ratings) and ml25m (162,541 x 59,047, 25M).
# CONFIGS is a ';'-separated list of trib-train option sets; "default" means none (the defaults).
# Environment: SHAPES (default "ml1m ml25m"), RANKS (default "1 2 4 8"), K (default 32),
#   EPOCHS (default 20), CONFIGS (default "default;--schedule plain --sync-every 1M"),
#   BUILD_DIR (default build), WORK (default $BUILD_DIR/scale).
# P > 2 ranks share the machine's cores (--oversubscribe): their M upd/s is not a scaling figure.
BUILD_DIR=${BUILD_DIR:-build}
WORK=${WORK:-$BUILD_DIR/scale}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SHAPES=${SHAPES:-ml1m ml25m}
RANKS=${RANKS:-1 2 4 8}
K=${K:-32}
EPOCHS=${EPOCHS:-20}
CONFIGS=${CONFIGS:-default;--schedule plain --sync-every 1M}
[[ -x $bin/trib-train && -x $bin/trib-data ]] || { echo "ranks.sh: build first ($bin/trib-train missing)" >&2; exit 1; }

# summary FILE -> "last best best_epoch rate comm_share" from one --metrics-json file.
summary() {
  python3 - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
t = [r["test_rmse"] for r in rows]
timed = rows[1:] if len(rows) > 1 else rows
n = sum(r["ratings"] for r in timed); s = sum(r["seconds"] for r in timed)
c = sum(r.get("comm_seconds", 0.0) for r in timed)
b = min(t)
print(f"{t[-1]:.4f} {b:.4f} {t.index(b) + 1} {n / s:.0f} {c / s:.4f}")
PY
}

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
echo "uptime before: $(uptime)"
echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown), K=$K EPOCHS=$EPOCHS"
echo
echo "| shape | options | P | test RMSE | vs P=1 | best (epoch) | last/best | M upd/s | allreduce |"
echo "|---|---|---|---|---|---|---|---|---|"
IFS=';' read -r -a configs <<<"$CONFIGS"
for shape in $SHAPES; do
  read -r u i n <<<"$(shape_args "$shape")"
  make_shape "$shape" "$u" "$i" "$n"
  for ci in "${!configs[@]}"; do
    cfg=${configs[$ci]}
    read -r -a opts <<<"$cfg"
    [[ $cfg == default ]] && opts=()
    ref=""
    for np in $RANKS; do
      json=$WORK/ranks-$shape-$ci-$np.jsonl
      args=(--train "$WORK/$shape-train" --test "$WORK/$shape-test" --k "$K" --epochs "$EPOCHS" --no-train-eval
        --quiet --metrics-json "$json" "${opts[@]}")
      echo "\$ mpirun -np $np --oversubscribe $bin/trib-train ${args[*]}" >&2
      rm -f "$json"
      mpirun -np "$np" --oversubscribe "$bin/trib-train" "${args[@]}" >/dev/null
      read -r last best bep rate comm <<<"$(summary "$json")"
      [[ -z $ref ]] && ref=$last
      awk -v s="$shape" -v o="$cfg" -v p="$np" -v l="$last" -v r="$ref" -v b="$best" -v be="$bep" -v x="$rate" \
        -v c="$comm" 'BEGIN { printf "| %s | %s | %s | %.4f | %+.2f%% | %.4f (%d) | %+.2f%% | %.1f | %.1f%% |\n",
                               s, o, p, l, 100 * (l / r - 1), b, be, 100 * (l / b - 1), x / 1e6, 100 * c }'
    done
  done
done
echo
echo "uptime after: $(uptime)"
