#!/usr/bin/env bash
# test_order_shards.sh - the blocked visiting order end to end (trib-train --order).
#
#   - the same planted data written as 1 shard and as 5 shards (same seed, so the same
#     ratings in another file order) trains to bitwise-identical models with
#     --order blocked, on 1 rank and on 2 ranks (h5dump of factors and biases);
#   - --order shuffle gives a different model than --order blocked (the option is used,
#     and the comparison above can fail);
#   - the configuration printed at start names the order; a bad --order is one error line.
set -euo pipefail
B=${TRIB_BUILD_DIR:?}/bin
MPI=${TRIB_MPIEXEC:-mpiexec}
W=$(mktemp -d "${TMPDIR:-/tmp}/trib-order-XXXXXX")
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
mpi() { local np=$1; shift; timeout 120 "$MPI" -n "$np" --oversubscribe "$@"; }

for s in 1 5; do
  "$B/trib-data" synth --users 400 --items 170 --ratings 20k --rank 4 --noise 0.5 --seed 5 --shards "$s" \
    --output "$W/all$s" >/dev/null
  "$B/trib-data" split --input "$W/all$s" --test-fraction 0.1 --seed 1 --train "$W/tr$s" --test "$W/te$s" >/dev/null
done

# same_model A B: factor and bias datasets of two model files are identical.
same_model() {
  local d
  for d in /users/factors /users/bias /items/factors /items/bias; do
    h5dump -d "$d" "$1" | tail -n +2 >"$W/d1"
    h5dump -d "$d" "$2" | tail -n +2 >"$W/d2"
    [[ $(wc -l <"$W/d1") -gt 5 ]] || { echo "h5dump $d of $1 printed nothing" >&2; return 1; }
    cmp -s "$W/d1" "$W/d2" || return 1
  done
}

for np in 1 2; do
  for s in 1 5; do
    mpi "$np" "$B/trib-train" --train "$W/tr$s" --test "$W/te$s" --k 12 --epochs 3 --sync-every 3k --seed 9 \
      --order blocked --model-out "$W/b$np-$s.h5" >"$W/out-$np-$s" 2>&1 || fail "np $np shards $s: trib-train failed"
  done
  grep -q '^  order          blocked' "$W/out-$np-1" || fail "np $np: configuration does not name the order"
  if same_model "$W/b$np-1.h5" "$W/b$np-5.h5"; then
    echo "ok: np $np: --order blocked, 1 shard and 5 shards give identical models"
  else
    fail "np $np: --order blocked models differ between 1 and 5 shards"
  fi
done

mpi 2 "$B/trib-train" --train "$W/tr1" --k 12 --epochs 3 --sync-every 3k --seed 9 --order shuffle \
  --model-out "$W/s2.h5" --quiet >/dev/null || fail "--order shuffle failed"
if same_model "$W/b2-1.h5" "$W/s2.h5"; then fail "--order shuffle gave the blocked order's model"; else
  echo "ok: --order shuffle differs from --order blocked"; fi

rc=0
mpi 2 "$B/trib-train" --train "$W/tr1" --order diagonal >"$W/o" 2>"$W/e" || rc=$?
[[ $rc -ne 0 ]] || fail "--order diagonal accepted"
[[ $(grep -c "^trib-train: .*--order" "$W/e") -eq 1 ]] || { fail "--order diagonal: expected one error line"; cat "$W/e" >&2; }

[[ $fails -eq 0 ]] || { echo "$fails failure(s)" >&2; exit 1; }
echo "all passed"
