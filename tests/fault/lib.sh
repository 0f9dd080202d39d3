# lib.sh - shared by the fault tests: a small synthetic dataset, the trainer
# command line and helpers.  Sourced; needs TRIB_BUILD_DIR and TRIB_MPIEXEC
# (set by ctest) and a work directory as $work.
source "$(dirname "${BASH_SOURCE[0]}")/../common/mpi_env.sh"

# Settings that converge in a few epochs, so the rank count changes the final test RMSE by far
# less than 1% (delta-sum synchronisation) and one run takes about a second.
train_args=(--k 4 --sync-every 500 --reg 0.02 --lr 0.1 --sync-method delta-sum --quiet)

make_data() {
  "$bin/trib-data" synth --users 400 --items 200 --ratings 40000 --rank 4 --noise 0.3 --seed 7 --shards 2 \
    --output "$work/all" >/dev/null
  "$bin/trib-data" split --input "$work/all" --test-fraction 0.1 --seed 7 --train "$work/tr" \
    --test "$work/te" >/dev/null
}

# train NP ARGS...: mpirun -np NP trib-train on the dataset
train() {
  local np=$1
  shift
  "$mpiexec" -np "$np" --oversubscribe "$bin/trib-train" --train "$work/tr" --test "$work/te" \
    "${train_args[@]}" "$@"
}

# same_factors A B: every dataset of the two model files holds the same values
same_factors() {
  local n=0 ds
  while read -r ds; do
    h5diff -q "$1" "$2" "$ds" "$ds" || { echo "dataset $ds differs" >&2; return 1; }
    n=$((n + 1))
  done < <(h5ls -r "$1" | awk '$2 == "Dataset" { print $1 }')
  ((n >= 4)) || { echo "only $n datasets in $1" >&2; return 1; }
}

# final_rmse LOG: the test RMSE of the "final:" line
final_rmse() { sed -n 's/^final: .*test RMSE \([0-9.]*\).*/\1/p' "$1" | tail -1; }

# within_pct P A B: |A - B| <= P% of B
within_pct() {
  python3 -c 'import sys; p, a, b = map(float, sys.argv[1:]); sys.exit(abs(a - b) > p / 100 * b)' "$1" "$2" "$3"
}
within_1pct() { within_pct 1 "$1" "$2"; }

# epoch_test_rmse JSONL N: the test RMSE of epoch N in a --metrics-json file
epoch_test_rmse() {
  python3 -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("epoch") == int(sys.argv[2]):
        print(m["test_rmse"])' "$1" "$2"
}

# signal_pending PID NAME: the process has signal NAME (TERM, USR1, ...) pending, for the process
# or one of its threads
signal_pending() {
  local n mask t
  n=$(kill -l "$2") || return 1
  for t in /proc/"$1"/task/*/status /proc/"$1"/status; do
    for mask in $(awk '$1 == "SigPnd:" || $1 == "ShdPnd:" { print $2 }' "$t" 2>/dev/null); do
      (((16#$mask >> (n - 1)) & 1)) && return 0
    done
  done
  return 1
}

# all_stopped PID: every thread of the process is stopped (SIGSTOP took effect everywhere, so a
# signal sent now stays pending until SIGCONT)
all_stopped() {
  local t st
  for t in /proc/"$1"/task/*/status; do
    st=$(awk '$1 == "State:" { print $2 }' "$t" 2>/dev/null)
    [[ -z $st || $st == T ]] || return 1
  done
  [[ -d /proc/$1 ]]
}

# rank_pids TAG: pids of the trib-train processes whose command line contains TAG
rank_pids() {
  local p
  for p in $(pgrep -x trib-train || true); do
    tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -F -- "$1" >/dev/null && echo "$p"
  done
  return 0
}
