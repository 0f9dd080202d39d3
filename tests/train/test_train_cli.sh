#!/usr/bin/env bash
# test_train_cli.sh - end-to-end tests of trib-train and trib-recommend.
#
#   - bad options and impossible combinations: a clear one-line error from rank 0,
#     non-zero exit on every rank, no hang (timeout), no output file left behind;
#   - a normal run: per-epoch lines, metrics JSON keys, final line, model file;
#   - determinism: two runs with the same seed and ranks give identical factor and
#     bias datasets (compared with h5dump);
#   - trib-recommend: --users and --all-users (3 ranks, output in user order)
#     checked against a brute-force ranking (tests/train/topk_reference.c);
#     --eval prints precision/recall/NDCG; bad input is one error line.
set -euo pipefail
B=${TRIB_BUILD_DIR:?}/bin
T=${TRIB_BUILD_DIR}/tests
MPI=${TRIB_MPIEXEC:-mpiexec}
W=$(mktemp -d "${TMPDIR:-/tmp}/trib-train-cli-XXXXXX")
trap 'rm -rf "$W"' EXIT
fails=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
mpi() { local np=$1; shift; timeout $((120 * ${TRIB_TEST_TIMEOUT_SCALE:-1})) "$MPI" -n "$np" --oversubscribe "$@"; }

"$B/trib-data" synth --users 300 --items 150 --ratings 15k --rank 4 --noise 0.5 --seed 5 --shards 2 \
  --output "$W/all" >/dev/null
"$B/trib-data" split --input "$W/all" --test-fraction 0.1 --seed 1 --train "$W/tr" --test "$W/te" >/dev/null
"$B/trib-data" synth --users 200 --items 150 --ratings 5k --rank 4 --noise 0.5 --seed 6 --output "$W/other" >/dev/null
"$B/trib-data" synth --users 2 --items 50 --ratings 60 --rank 2 --noise 0.5 --seed 7 --output "$W/tiny" >/dev/null

# expect_error NP PATTERN PROGRAM ARGS...: non-zero exit, exactly one "PROGRAM: ..." line on
# stderr matching PATTERN, no per-epoch output, no file at $W/out* left behind.
expect_error() {
  local np=$1 pattern=$2 prog=$3; shift 3
  local rc=0
  mpi "$np" "$B/$prog" "$@" >"$W/stdout" 2>"$W/stderr" || rc=$?
  local lines; lines=$(grep -c "^$prog: " "$W/stderr" || true)
  if [[ $rc -eq 0 ]]; then fail "$prog $* (np $np): exit status 0"; fi
  if [[ $rc -eq 124 ]]; then fail "$prog $* (np $np): timed out (hang)"; fi
  if [[ $lines -ne 1 ]]; then fail "$prog $* (np $np): $lines error lines, expected 1"; cat "$W/stderr" >&2; fi
  if ! grep -q "^$prog: .*$pattern" "$W/stderr"; then
    fail "$prog $* (np $np): message does not match '$pattern'"; cat "$W/stderr" >&2
  fi
  if grep -q '^epoch' "$W/stdout"; then fail "$prog $* (np $np): training started"; fi
  if compgen -G "$W/out*" >/dev/null; then fail "$prog $* (np $np): output file left: $(ls "$W"/out*)"; rm -f "$W"/out*; fi
  echo "ok: $prog $* (np $np) -> $(grep "^$prog: " "$W/stderr" | head -1)"
}

tr=(--train "$W/tr" --test "$W/te" --model-out "$W/out.h5")
expect_error 2 "k: '0'\|1..4096" trib-train "${tr[@]}" --k 0
expect_error 2 "missing" trib-train --train "$W/missing" --model-out "$W/out.h5"
expect_error 2 "needs --test" trib-train --train "$W/tr" --early-stop 3 --model-out "$W/out.h5"
expect_error 3 "3 ranks but only 2 users" trib-train --train "$W/tiny" --model-out "$W/out.h5"
expect_error 2 "another id space" trib-train --train "$W/tr" --test "$W/other" --model-out "$W/out.h5"
expect_error 2 "unknown option" trib-train "${tr[@]}" --bogus
expect_error 2 "is not auto, ring, tree" trib-train "${tr[@]}" --allreduce foo
expect_error 2 "parameter-server" trib-train "${tr[@]}" --mode ps
expect_error 2 "fp32, bf16 or fp16" trib-train "${tr[@]}" --sync-precision fp8
expect_error 2 "mode sync only" trib-train "${tr[@]}" --mode ps --servers 1 --sync-precision bf16
expect_error 2 "is not auto, users, items or larger" trib-train "${tr[@]}" --bands diagonal
expect_error 2 "needs --order blocked" trib-train "${tr[@]}" --bands items --order shuffle
expect_error 2 "is not average, delta-sum or strata" trib-train "${tr[@]}" --sync-method median
expect_error 2 "strata needs --order blocked" trib-train "${tr[@]}" --sync-method strata --order shuffle
expect_error 2 "sync-rows all does not apply to --sync-method strata" trib-train "${tr[@]}" --sync-method strata --sync-rows all
expect_error 2 "allreduce ring does not apply to --sync-method strata" trib-train "${tr[@]}" --sync-method strata --allreduce ring
expect_error 2 "strata needs item bands" trib-train "${tr[@]}" --sync-method strata --bands users
expect_error 2 "strata applies to --mode sync only" trib-train "${tr[@]}" --mode ps --servers 1 --sync-method strata
expect_error 2 "is not auto, all or touched" trib-train "${tr[@]}" --sync-rows some
expect_error 2 "needs --overlap off" trib-train "${tr[@]}" --sync-rows touched --overlap on
expect_error 2 "mode sync only" trib-train "${tr[@]}" --mode ps --servers 1 --sync-rows all
expect_error 2 "not writable" trib-train --train "$W/tr" --model-out "$W/no/such/dir/out.h5"
expect_error 1 "epochs" trib-train "${tr[@]}" --epochs x
expect_error 2 "sync-every" trib-train "${tr[@]}" --sync-every 0
expect_error 2 "is not auto or a whole number" trib-train "${tr[@]}" --sync-every often
expect_error 2 "required" trib-train --test "$W/te" --model-out "$W/out.h5"
expect_error 2 "is not a duration > 0" trib-train "${tr[@]}" --time-limit 0
expect_error 2 "is not a duration > 0" trib-train "${tr[@]}" --time-limit 5x

# --time-limit: a run of a million epochs ends on the budget with exit 0, a message naming the
# position, the final line, a model file, and fewer metrics lines than epochs.
rc=0
mpi 2 "$B/trib-train" --train "$W/tr" --test "$W/te" --k 8 --epochs 1000000 --time-limit 2s \
  --model-out "$W/tl.h5" --metrics-json "$W/tl.json" >"$W/tl.out" 2>"$W/tl.err" || rc=$?
[[ $rc -eq 0 ]] || { fail "--time-limit: exit $rc"; cat "$W/tl.err" >&2; }
grep -q '^trib-train: time limit of 2 s reached: training stopped' "$W/tl.err" || fail "--time-limit: no message"
grep -q '^final: .*test RMSE' "$W/tl.out" || fail "--time-limit: no final line"
[[ -s "$W/tl.h5" ]] || fail "--time-limit: no model file"
grep -q '^  time-limit     2 s' "$W/tl.out" || fail "--time-limit: not in the configuration"

# --help and --version
"$B/trib-train" --help | grep -- '--sync-every' >/dev/null || fail "trib-train --help"
"$B/trib-train" --version | grep '^trib-train ' >/dev/null || fail "trib-train --version"
"$B/trib-recommend" --help | grep -- '--all-users' >/dev/null || fail "trib-recommend --help"

# A normal run on 2 ranks.
mpi 2 "$B/trib-train" --train "$W/tr" --test "$W/te" --k 8 --epochs 4 --sync-every 2k --seed 3 \
  --check-sync --model-out "$W/m1.h5" --metrics-json "$W/m1.json" >"$W/run1.out"
[[ $(grep -c '^epoch ' "$W/run1.out") -eq 4 ]] || fail "expected 4 epoch lines"
grep -q '^final: .*test RMSE' "$W/run1.out" || fail "no final line"
grep -q '^  sync-every     2000' "$W/run1.out" || fail "configuration not printed"
[[ $(wc -l <"$W/m1.json") -eq 4 ]] || fail "metrics JSON: expected 4 lines"
for key in epoch train_rmse test_rmse test_mae ratings_per_s seconds comm_seconds; do
  [[ $(grep -c "\"$key\":" "$W/m1.json") -eq 4 ]] || fail "metrics JSON: key $key missing"
done
compgen -G "$W/m1.h5.tmp*" >/dev/null && fail "temporary model file left behind"

# Determinism: same seed, same ranks -> identical factor and bias datasets.
mpi 2 "$B/trib-train" --train "$W/tr" --test "$W/te" --k 8 --epochs 4 --sync-every 2k --seed 3 \
  --model-out "$W/m2.h5" --quiet >/dev/null
for d in /users/factors /users/bias /items/factors /items/bias; do
  h5dump -d "$d" "$W/m1.h5" | tail -n +2 >"$W/d1"
  h5dump -d "$d" "$W/m2.h5" | tail -n +2 >"$W/d2"
  [[ $(wc -l <"$W/d1") -gt 5 ]] || fail "h5dump $d printed nothing"
  cmp -s "$W/d1" "$W/d2" || fail "dataset $d differs between two identical runs"
done
echo "ok: determinism (h5dump of factors and biases identical)"
# A different seed gives a different model (the comparison above can fail).
mpi 2 "$B/trib-train" --train "$W/tr" --k 8 --epochs 1 --seed 4 --model-out "$W/m3.h5" --quiet >/dev/null
h5dump -d /items/factors "$W/m3.h5" | tail -n +2 >"$W/d3"
h5dump -d /items/factors "$W/m1.h5" | tail -n +2 >"$W/d1"
cmp -s "$W/d1" "$W/d3" && fail "different seeds gave identical item factors"

# trib-recommend --users against the brute-force reference.
"$B/trib-recommend" --model "$W/m1.h5" --users 0,5,17,299 --top 10 --exclude-rated "$W/tr" --output "$W/recs.tsv"
[[ $(grep -vc '^#' "$W/recs.tsv") -eq 40 ]] || fail "--users: expected 40 lines"
"$T/topk_reference" "$W/m1.h5" "$W/tr" 10 "$W/recs.tsv" || fail "--users top-K differs from brute force"
"$B/trib-recommend" --model "$W/m1.h5" --users 3 --top 5 >"$W/recs2.tsv"
"$T/topk_reference" "$W/m1.h5" - 5 "$W/recs2.tsv" || fail "--users without exclusion differs from brute force"

# --all-users on 3 ranks: every user, in user order, each matching the reference.
mpi 3 "$B/trib-recommend" --model "$W/m1.h5" --all-users --top 7 --exclude-rated "$W/tr" --output "$W/all.tsv"
[[ $(grep -v '^#' "$W/all.tsv" | cut -f1 | uniq | wc -l) -eq 300 ]] || fail "--all-users: not 300 users"
grep -v '^#' "$W/all.tsv" | cut -f1 | sort -n -c || fail "--all-users: output not in user order"
"$T/topk_reference" "$W/m1.h5" "$W/tr" 7 "$W/all.tsv" || fail "--all-users top-K differs from brute force"

# --eval on 2 ranks.
mpi 2 "$B/trib-recommend" --model "$W/m1.h5" --eval "$W/te" --top 5 --exclude-rated "$W/tr" >"$W/eval.out"
for m in precision@5 recall@5 ndcg@5; do grep -q "^$m 0\.[0-9]*$" "$W/eval.out" || fail "--eval: no $m"; done
cat "$W/eval.out"

# trib-recommend errors.
expect_error 1 "not in the model" trib-recommend --model "$W/m1.h5" --users 0,99999 --top 3 --output "$W/out.tsv"
expect_error 2 "missing.h5" trib-recommend --model "$W/missing.h5" --users 1 --top 3
expect_error 2 "exactly one of" trib-recommend --model "$W/m1.h5" --users 1 --all-users
expect_error 2 "another id space" trib-recommend --model "$W/m1.h5" --eval "$W/other" --top 3

if ((fails)); then
  echo "test_train_cli: $fails failures" >&2
  exit 1
fi
echo "test_train_cli: all checks passed"
