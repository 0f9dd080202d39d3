#!/usr/bin/env bash
# network.sh - synchronous training on the emulated cluster (netcluster: one rank per node) or on
# this node, several synchronisation settings in turn: what the item-block allreduce costs.
#
#   benchmarks/train/network.sh > network.txt              4 ranks, 1 Gbit/s, 100 us
#   NET=0 RANKS=2 benchmarks/train/network.sh              the same settings on this node
#
# For each shape of SHAPES (default "ml25m ml1m", the planted shapes of scale.sh, made once under
# WORK) and each setting of CONFIGS (';'-separated trib-train options, default the whole block,
# the changed rows, and the changed rows as bf16), REPEAT (default 2) runs of EPOCHS (default 3)
# epochs, the settings taking turns.  Per run: M ratings/s over the epochs, the share of the epochs
# spent in the allreduce, the share of the item rows sent per synchronisation, rounds per epoch, the
# test RMSE after the last epoch, and the test RMSE after every epoch against the training time so far
# (quality against time); then the medians per setting.
# Environment: NET (1: netcluster, default; 0: mpirun on this node), RANKS (default 4), RATE (1gbit),
#   DELAY (100us), KS ("ml25m:64 ml1m:32": k per shape), BUILD_DIR (build), WORK ($BUILD_DIR/scale).
# With NET=1 the cluster is brought up (or reused if it is up with the same ranks) and left up.
BUILD_DIR=${BUILD_DIR:-build}
WORK=${WORK:-$BUILD_DIR/scale}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
NET=${NET:-1}
RANKS=${RANKS:-4}
RATE=${RATE:-1gbit}
DELAY=${DELAY:-100us}
SHAPES=${SHAPES:-ml25m ml1m}
KS=${KS:-ml25m:64 ml1m:32}
EPOCHS=${EPOCHS:-3}
REPEAT=${REPEAT:-2}
CONFIGS=${CONFIGS:---sync-rows all;--sync-rows auto;--sync-rows auto --sync-precision bf16}
nc=benchmarks/netcluster/netcluster
[[ -x $bin/trib-train && -x $bin/trib-data ]] || { echo "network.sh: build first ($bin/trib-train missing)" >&2; exit 1; }

if [[ $NET == 1 ]]; then
  if ! "$nc" status 2>/dev/null | grep -q "^netcluster: up: $RANKS nodes x 1 rank"; then
    "$nc" down >/dev/null 2>&1 || true
    "$nc" up -n "$RANKS" -r "$RATE" -d "$DELAY" >&2
  fi
  where="netcluster, $RANKS nodes x 1 rank, $RATE, $DELAY one way"
else
  where="this node, $RANKS ranks"
fi
echo "== $(date -u +%FT%TZ) $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $where, $EPOCHS epochs per run, $REPEAT runs per setting, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

# summary JSON LABEL: one line of figures from a metrics file
summary() {
  python3 - "$1" "$2" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
t = sum(r["seconds"] for r in rows)
c = sum(r["comm_seconds"] for r in rows)
n = sum(r["ratings"] for r in rows)
sr = [r.get("sync_rows") for r in rows if r.get("sync_rows") is not None]
acc, path = 0.0, []
for r in rows:  # test RMSE after each epoch @ training seconds so far: quality against time
    acc += r["seconds"]
    path.append("%.4f@%.1fs" % (r["test_rmse"], acc))
print("%s | %.2f | %.1f%% | %s | %d | %.4f | %s" % (sys.argv[2], n / t / 1e6, 100 * c / t,
      "%.3f" % (sum(sr) / len(sr)) if sr else "-", rows[-1]["rounds"], rows[-1]["test_rmse"], " ".join(path)))
PY
}

IFS=';' read -r -a configs <<<"$CONFIGS"
for shape in $SHAPES; do
  read -r u i n <<<"$(shape_args "$shape")"
  make_shape "$shape" "$u" "$i" "$n"
  k=32
  for sk in $KS; do [[ ${sk%%:*} == "$shape" ]] && k=${sk##*:}; done
  echo "== $shape, k = $k: setting | M ratings/s | allreduce share | rows sent | rounds/epoch | test RMSE |" \
    "test RMSE after each epoch @ training seconds so far"
  declare -A rates=()
  for ((r = 0; r < REPEAT; r++)); do
    for cfg in "${configs[@]}"; do
      json=$WORK/network.json
      rm -f "$json"
      # shellcheck disable=SC2086
      args=(--train "$WORK/$shape-train" --test "$WORK/$shape-test" --k "$k" --epochs "$EPOCHS" --no-train-eval
            --quiet --metrics-json "$json" $cfg)
      if [[ $NET == 1 ]]; then
        echo "\$ $nc run -np $RANKS -- $bin/trib-train ${args[*]}" >&2
        "$nc" run -np "$RANKS" -- "$bin/trib-train" "${args[@]}" >/dev/null
      else
        echo "\$ mpirun -np $RANKS --oversubscribe $bin/trib-train ${args[*]}" >&2
        mpirun -np "$RANKS" --oversubscribe "$bin/trib-train" "${args[@]}" >/dev/null
      fi
      line=$(summary "$json" "$cfg")
      echo "$shape k=$k run $((r + 1)): $line"
      rates[$cfg]="${rates[$cfg]:-} $(cut -d'|' -f2 <<<"$line" | tr -d ' ')"
    done
  done
  for cfg in "${configs[@]}"; do
    m=$(tr ' ' '\n' <<<"${rates[$cfg]}" | sed '/^$/d' | sort -g |
      awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
    echo "$shape k=$k median M ratings/s [$cfg]:${rates[$cfg]} -> $m"
  done
  unset rates
done
echo "== $(date -u +%FT%TZ) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
