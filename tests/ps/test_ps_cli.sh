#!/usr/bin/env bash
# test_ps_cli.sh - trib-train --mode ps end to end.
#
#   - bad configurations (S >= P, S = 0 with mode ps, --servers in sync mode, staleness < 0,
#     unknown consistency, a straggler that is a server, bad --straggler syntax, an unknown
#     TRIB_PS_IDLE): one clear error line from rank 0, non-zero exit, no training, no model file;
#   - acceptance: mpirun -np 4 trib-train --mode ps --servers 1 --consistency ssp --staleness 2
#     reaches a final test RMSE within 2% of sync mode's (same data, same seed, 3 sync ranks =
#     the same users per rank as the 3 workers); per-worker throughput is in the epoch log;
#   - the ps model file has the sync model file's datasets and shapes, and trib-recommend reads it;
#   - without --sync-every ps mode uses its own default mini-batch (50000), sync mode auto;
#   - TRIB_PS_IDLE=bell: the doorbells are in use and leave nothing in /dev/shm;
#   - --ps-balance: bad values and combinations are refused; async and ssp share the work by default
#     (ssp: static when the workers' copies of the ratings would not fit, TRIB_PS_NODE_MEMORY) and async
#     writes the same model file layout.
set -euo pipefail
B=${TRIB_BUILD_DIR:?}/bin
MPI=${TRIB_MPIEXEC:-mpiexec}
W=$(mktemp -d "${TMPDIR:-/tmp}/trib-ps-cli-XXXXXX")
trap 'rm -rf "$W"' EXIT
fails=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
mpi() { local np=$1; shift; timeout $((120 * ${TRIB_TEST_TIMEOUT_SCALE:-1})) "$MPI" -n "$np" --oversubscribe "$@"; }

"$B/trib-data" synth --users 600 --items 300 --ratings 30k --rank 4 --noise 0.5 --seed 5 --shards 2 \
  --output "$W/all" >/dev/null
"$B/trib-data" split --input "$W/all" --test-fraction 0.1 --seed 1 --train "$W/tr" --test "$W/te" >/dev/null

expect_error() {
  local np=$1 pattern=$2; shift 2
  local rc=0
  mpi "$np" "$B/trib-train" "$@" >"$W/stdout" 2>"$W/stderr" || rc=$?
  local lines; lines=$(grep -c "^trib-train: " "$W/stderr" || true)
  if [[ $rc -eq 0 ]]; then fail "$* (np $np): exit status 0"; fi
  if [[ $rc -eq 124 ]]; then fail "$* (np $np): timed out (hang)"; fi
  if [[ $lines -ne 1 ]]; then fail "$* (np $np): $lines error lines, expected 1"; cat "$W/stderr" >&2; fi
  if ! grep -q "^trib-train: .*$pattern" "$W/stderr"; then
    fail "$* (np $np): message does not match '$pattern'"; cat "$W/stderr" >&2
  fi
  if grep -q '^epoch' "$W/stdout"; then fail "$* (np $np): training started"; fi
  if compgen -G "$W/out*" >/dev/null; then fail "$* (np $np): output file left"; rm -f "$W"/out*; fi
  echo "ok: $* (np $np) -> $(grep "^trib-train: " "$W/stderr" | head -1)"
}

d=(--train "$W/tr" --test "$W/te" --model-out "$W/out.h5" --epochs 2)
expect_error 2 "at least one worker" "${d[@]}" --mode ps --servers 2
expect_error 3 "at least one worker" "${d[@]}" --mode ps --servers 5
expect_error 2 "needs --servers" "${d[@]}" --mode ps
expect_error 2 "needs --servers" "${d[@]}" --mode ps --servers 0
expect_error 2 "only --mode ps has servers" "${d[@]}" --servers 1
expect_error 2 "staleness" "${d[@]}" --mode ps --servers 1 --staleness -1
expect_error 2 "not async, bsp or ssp" "${d[@]}" --mode ps --servers 1 --consistency eventual
expect_error 3 "is a server" "${d[@]}" --mode ps --servers 1 --straggler 2:4
expect_error 2 "RANK:FACTOR" "${d[@]}" --mode ps --servers 1 --straggler 4
expect_error 2 "clock-every" "${d[@]}" --mode ps --servers 1 --clock-every 0
TRIB_PS_IDLE=fast expect_error 3 "TRIB_PS_IDLE=fast: expected block, sleep or bell" "${d[@]}" --mode ps --servers 1
expect_error 3 "'sometimes' is not auto, static or dynamic" "${d[@]}" --mode ps --servers 1 --ps-balance sometimes
expect_error 3 "dynamic needs --consistency async or ssp" "${d[@]}" --mode ps --servers 1 --consistency bsp \
  --ps-balance dynamic
expect_error 3 "clock-every needs --ps-balance static" "${d[@]}" --mode ps --servers 1 --consistency ssp --clock-every 2
expect_error 2 "ps-balance: only --mode ps" "${d[@]}" --ps-balance static
TRIB_PS_NODE_MEMORY=lots expect_error 3 "TRIB_PS_NODE_MEMORY=lots: expected a number of bytes" "${d[@]}" --mode ps \
  --servers 1

# --ps-balance auto under ssp: work sharing, unless the workers' copies of the ratings would not fit
# in half of a node's memory (TRIB_PS_NODE_MEMORY stands in for it): then static, with a warning.
mpi 3 "$B/trib-train" --train "$W/tr" --test "$W/te" --epochs 1 --mode ps --servers 1 >"$W/auto.log" 2>&1 ||
  { fail "ps ssp, auto balance: non-zero exit"; tail -5 "$W/auto.log" >&2; }
grep -q '^ *ps-balance *dynamic$' "$W/auto.log" || fail "ssp without --ps-balance: not the dynamic default"
TRIB_PS_NODE_MEMORY=100000 mpi 3 -x TRIB_PS_NODE_MEMORY "$B/trib-train" --train "$W/tr" --test "$W/te" --epochs 1 \
  --mode ps --servers 1 >"$W/auto.log" 2>&1 || { fail "ps ssp, auto balance, small node: non-zero exit"; tail -5 "$W/auto.log" >&2; }
grep -q '^ *ps-balance *static$' "$W/auto.log" || fail "auto balance on a small node: not static"
grep -q 'ps-balance auto chose static: work sharing would have every worker hold all .* of a node.s memory' \
  "$W/auto.log" || { fail "auto balance on a small node: no warning"; cat "$W/auto.log" >&2; }

# Without --sync-every, ps mode takes its own mini-batch (the consistency models differ there), sync mode auto.
mpi 3 "$B/trib-train" --train "$W/tr" --test "$W/te" --epochs 1 --mode ps --servers 1 >"$W/default.log"
grep -q '^ *sync-every *50000$' "$W/default.log" || { fail "ps mode without --sync-every: not the 50000 default"; grep sync-every "$W/default.log" >&2; }
mpi 2 "$B/trib-train" --train "$W/tr" --test "$W/te" --epochs 1 >"$W/default.log"
grep -q '^ *sync-every *auto (4 rounds per epoch per rank)$' "$W/default.log" || fail "sync mode without --sync-every: not the auto default"

# Waiting on doorbells (TRIB_PS_IDLE=bell; the default when ranks outnumber cores): the log says they
# are in use (not the fallback to plain sleeps), and the run ends normally.
# The run is async, so the workers share the work (the default balance there): its model file is checked below.
TRIB_PS_IDLE=bell TRIB_LOG_LEVEL=info mpi 3 -x TRIB_PS_IDLE -x TRIB_LOG_LEVEL "$B/trib-train" --train "$W/tr" \
  --test "$W/te" --epochs 2 --k 16 --mode ps --servers 1 --consistency async --model-out "$W/dyn.h5" >"$W/bell.log" 2>&1 ||
  { fail "ps with doorbells: non-zero exit"; tail -5 "$W/bell.log" >&2; }
grep -q '^ *ps-balance *dynamic$' "$W/bell.log" || fail "async without --ps-balance: not the dynamic default"
grep -q 'waiting by sleeping on doorbells' "$W/bell.log" || { fail "TRIB_PS_IDLE=bell: doorbells not in use"; grep 'ps: ' "$W/bell.log" >&2; }
ls /dev/shm 2>/dev/null | grep -q '^trib-ps-bell-' && fail "a doorbell segment was left in /dev/shm"

# Acceptance: ssp s=2 on 1 server + 3 workers against sync mode on 3 ranks.
common=(--train "$W/tr" --test "$W/te" --epochs 15 --k 16 --sync-every 2000 --seed 9)
mpi 3 "$B/trib-train" "${common[@]}" --model-out "$W/sync.h5" >"$W/sync.log"
mpi 4 "$B/trib-train" "${common[@]}" --mode ps --servers 1 --consistency ssp --staleness 2 \
  --model-out "$W/ps.h5" --metrics-json "$W/ps.json" >"$W/ps.log"
s=$(sed -n 's/^final: .*test RMSE \([0-9.]*\).*/\1/p' "$W/sync.log")
p=$(sed -n 's/^final: .*test RMSE \([0-9.]*\).*/\1/p' "$W/ps.log")
echo "sync test RMSE $s, ps ssp(2) test RMSE $p"
if ! awk -v s="$s" -v p="$p" 'BEGIN { exit !(s > 0 && p > 0 && p <= 1.02 * s) }'; then
  fail "ps ssp test RMSE $p is not within 2% of sync mode's $s"
fi
n=$(grep -c '^    ps workers M ratings/s: r0 [0-9.]* r1 [0-9.]* r2 [0-9.]*' "$W/ps.log" || true)
[[ $n -eq 15 ]] || fail "expected 15 per-epoch per-worker throughput lines, found $n"
n=$(grep -c '"test_rmse":[0-9]' "$W/ps.json" || true)
[[ $n -eq 15 ]] || fail "expected 15 metrics JSON lines with test_rmse, found $n"
grep -q "violations 0" "$W/ps.log" || fail "no violation count in the ps log"

# The ps model file has the same layout as the sync one.
if command -v h5ls >/dev/null; then
  a=$(h5ls -r "$W/sync.h5" | sort); b=$(h5ls -r "$W/ps.h5" | sort)
  [[ "$a" == "$b" ]] || { fail "model layouts differ"; echo "$a"; echo "$b"; }
  b=$(h5ls -r "$W/dyn.h5" | sort)
  [[ "$a" == "$b" ]] || { fail "model layouts differ (async, work sharing)"; echo "$a"; echo "$b"; }
fi
mpi 1 "$B/trib-recommend" --model "$W/ps.h5" --users 1,2 --top 5 >"$W/rec.txt" || fail "trib-recommend on the ps model"
[[ $(wc -l <"$W/rec.txt") -ge 2 ]] || fail "trib-recommend printed too little"

# A checkpoint of async with static balance resumes with work sharing on another worker count (the
# checkpoint holds items per server and users per worker either way).
mpi 3 "$B/trib-train" --train "$W/tr" --test "$W/te" --epochs 2 --k 16 --mode ps --servers 1 --consistency async \
  --ps-balance static --checkpoint-dir "$W/ck" >"$W/ck1.log" 2>&1 || fail "async static with checkpoints: non-zero exit"
mpi 4 "$B/trib-train" --train "$W/tr" --test "$W/te" --epochs 4 --k 16 --mode ps --servers 1 --consistency async \
  --checkpoint-dir "$W/ck" --resume auto >"$W/ck2.log" 2>&1 || fail "resume with work sharing: non-zero exit"
grep -q 'resumed from .* at epoch 2 round 0' "$W/ck2.log" || { fail "resume with work sharing: not from epoch 2"; tail -5 "$W/ck2.log" >&2; }
a=$(sed -n 's/^final: .*test RMSE \([0-9.]*\).*/\1/p' "$W/ck1.log"); b=$(sed -n 's/^final: .*test RMSE \([0-9.]*\).*/\1/p' "$W/ck2.log")
echo "async static 2 epochs: test RMSE $a; resumed with work sharing to 4 epochs: $b"
awk -v a="$a" -v b="$b" 'BEGIN { exit !(a > 0 && b > 0 && b < a) }' || fail "resumed run's test RMSE $b is not below $a"

if [[ $fails -ne 0 ]]; then echo "$fails failures"; exit 1; fi
echo "all ps CLI checks passed"
