#!/usr/bin/env bash
# benchmarks/data/run.sh [LINES] [WORKDIR]: convert throughput and read-all-shards throughput.
#
#   1. generates a MovieLens-shaped CSV of LINES ratings (default 20,000,000),
#   2. warms the page cache with cat, then times `trib-data convert` on one core
#      (taskset -c 0) RUNS times (default 3) and prints each MB/s summary line and
#      the MB per CPU-second (less sensitive to other jobs on a shared machine),
#   3. reads every shard into memory (best of 3) and compares with `cat` of the
#      same shard files to /dev/null (best of 3), both from the page cache.
set -euo pipefail
lines=${1:-20000000}
work=${2:-$(mktemp -d /tmp/trib-bench-data-XXXXXX)}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${BUILD_DIR:-$root/build}/bin
bench=${BUILD_DIR:-$root/build}/bin/bench_data
[[ -x $bench ]] || bench=$(find "${BUILD_DIR:-$root/build}" -name bench_data -type f -perm -u+x | head -n1)
mkdir -p "$work"
csv=$work/ratings.csv
echo "== generating $lines lines into $csv"
"$bench" gencsv "$csv" "$lines"
ls -l "$csv"
cat "$csv" > /dev/null
echo "== convert (one core), ${RUNS:-3} runs (the machine may be shared: the best run is the least disturbed)"
for _ in $(seq "${RUNS:-3}"); do
  rm -rf "$work/ds"
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
  /usr/bin/time -f "%U %S %e" -o "$work/time.txt" \
    taskset -c 0 "$bin/trib-data" convert --format movielens-csv --input "$csv" --output "$work/ds" --shards 16
  read -r user sys elapsed < "$work/time.txt"
  python3 -c "b=$(stat -c %s "$csv"); print('  cpu: user %.2f s + sys %.2f s = %.2f s -> %.1f MB per CPU-second (elapsed %.2f s)' % ($user, $sys, $user+$sys, b/1e6/($user+$sys), $elapsed))"
done
echo "== read all shards vs cat"
best_cat=1e9
for _ in 1 2 3; do
  t0=$(date +%s.%N); cat "$work"/ds/shard-*.h5 > /dev/null; t1=$(date +%s.%N)
  best_cat=$(python3 -c "print(min($best_cat, $t1 - $t0))")
done
bytes=$(cat "$work"/ds/shard-*.h5 | wc -c)
python3 -c "print('cat: %.1f MB of shard files in %.3f s (best of 3): %.2f GB/s' % ($bytes/1e6, $best_cat, $bytes/1e9/$best_cat))"
taskset -c 0 "$bench" read "$work/ds" 3
[[ -n ${KEEP:-} ]] || rm -rf "$work"
