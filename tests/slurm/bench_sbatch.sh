#!/usr/bin/env bash
# bench_sbatch.sh: slurm/bench.sbatch end to end on a real single-host Slurm.
#
# Submits the script as it is (only environment variables and a smaller allocation on the
# command line) for a short sweep at 2 and 4 ranks, waits for it, and checks: the job
# COMPLETED; for each rank count a CSV with trib-bench's column header, one row per size and
# algorithm, the right rank count and no errors; a JSON file that parses; both plots.
# TRIB_BENCH_HIER=1 forces the hierarchical comparison on this one node: hier joins the sweep and
# a second sweep of MPI_Allreduce under coll/han writes allreduce-pN-han.csv.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${TRIB_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
bin=${TRIB_BUILD_DIR:-$src/build}/bin
# shellcheck source=lib/harness.sh
source "$here/lib/harness.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -x $bin/trib-bench ]] || fail "no $bin/trib-bench (build it first)"

trib_slurm_up 1
work=$TRIB_SLURM_DIR/work
cd "$work"
export TRIB_BIN=$bin TRIB_OUT=$work/bench TRIB_BENCH_RANKS="2 4" TRIB_BENCH_ALGOS=ring,tree,rd,auto,mpi \
  TRIB_BENCH_MIN_BYTES=8 TRIB_BENCH_MAX_BYTES=32K TRIB_BENCH_FACTOR=8 TRIB_BENCH_ARGS="--iters 20 --warmup 2" \
  TRIB_BENCH_HIER=1
id=$(trib_slurm_submit -n 4 --ntasks-per-node=4 -o bench.out "$src/slurm/bench.sbatch")
st=$(trib_slurm_wait "$id" 150) || true
echo "bench job $id: $st"
cat bench.out
[[ $st == COMPLETED ]] || fail "bench job ended $st"

header='ranks,bytes,count,type,op,algo,iters,time_us_min,time_us_avg,time_us_max,time_us_median,time_us_p90,algbw_gbs,busbw_gbs,bound_ratio,errors'
sizes=$(awk 'BEGIN { n = 0; for (b = 8; b <= 32768; b *= 8) n++; print n }')
for p in 2 4; do
  csv=$TRIB_OUT/allreduce-p$p.csv
  [[ -s $csv ]] || fail "missing $csv"
  grep -qx "$header" "$csv" || fail "$csv: no column header"
  rows=$(grep -v -e '^#' -e '^ranks,' "$csv" | wc -l)
  ((rows == sizes * 6)) || fail "$csv: $rows rows, expected $((sizes * 6)) ($sizes sizes x 6 algorithms, hier included)"
  grep -q ',hier,' "$csv" || fail "$csv: no hier rows"
  han=$TRIB_OUT/allreduce-p$p-han.csv
  [[ -s $han ]] || fail "missing $han (the coll/han sweep)"
  rows=$(grep -v -e '^#' -e '^ranks,' "$han" | wc -l)
  ((rows == sizes)) || fail "$han: $rows rows, expected $sizes (MPI_Allreduce under coll/han)"
  awk -F, '!/^#/ && $1 != "ranks" && ($6 != "mpi" || $16 != 0) { bad = 1 } END { exit bad }' "$han" ||
    fail "$han: a row that is not mpi or has errors"
  grep -Eq 'coll_han_priority[= ]100' bench.out || fail "the job output does not show the coll/han run"
  awk -F, -v p="$p" '!/^#/ && $1 != "ranks" && ($1 != p || $16 != 0) { bad = 1 } END { exit bad }' "$csv" ||
    fail "$csv: a row with the wrong rank count or errors"
  python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$TRIB_OUT/allreduce-p$p.json" ||
    fail "allreduce-p$p.json does not parse"
  for png in time busbw; do
    f=$TRIB_OUT/allreduce-p$p-$png.png
    if [[ ! -s $f || $(head -c 4 "$f" | tail -c 3) != PNG ]]; then fail "missing or not a PNG: $f"; fi
  done
  echo "rank count $p: $rows CSV rows, no errors, JSON and both plots present"
done

trib_slurm_down
trib_slurm_check_clean
echo "bench.sbatch test passed"
