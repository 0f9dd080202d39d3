#!/usr/bin/env bash
# bench_limits.sh (issue 14, item 11): trib-bench refuses a --max-bytes whose buffers over the ranks
# of this node exceed MemAvailable, naming the figures, before allocating anything (before: 8G on 2
# ranks set out to touch ~32 GB); --min-bytes below one element of --type is refused (before: `--min-bytes
# 1` with float silently measured 4 bytes).  The size tried is the first power of two at or above the
# machine's RAM + swap, so no allocation of it could ever succeed either.
source "$(dirname "$0")/lib.sh"
bench() { "$mpiexec" -np 2 --oversubscribe "$bin/trib-bench" "$@"; }
total_kb=$(awk '$1 == "MemTotal:" || $1 == "SwapTotal:" { s += $2 } END { print s }' /proc/meminfo)
g=1
while ((g * 1048576 < total_kb)); do g=$((g * 2)); done
for cmd in allreduce tune; do
  extra=()
  [[ $cmd == tune ]] && extra=(--output "$work/t.tune")
  rc=0
  bench "$cmd" "${extra[@]}" --max-bytes "${g}G" --algo ring --iters 1 >big.log 2>&1 || rc=$?
  ((rc != 0)) || fail "$cmd --max-bytes ${g}G: exit 0: $(cat big.log)"
  grep -Eq "max-bytes ${g}G needs about [0-9.]+ GiB on this node: 2 rank\(s\) x 3 x ${g}\.00 GiB .*MemAvailable is [0-9.]+ GiB" \
    big.log || fail "$cmd --max-bytes ${g}G: no figures: $(cat big.log)"
  echo "$cmd: exit $rc: $(grep -o "max-bytes ${g}G needs.*GiB;" big.log)"
done
rc=0
bench allreduce --min-bytes 1 --max-bytes 64 --type float --algo ring --iters 1 >small.log 2>&1 || rc=$?
((rc != 0)) || fail "--min-bytes 1 with float: exit 0: $(cat small.log)"
grep -q "min-bytes 1 is less than one float (4 bytes)" small.log || fail "--min-bytes 1: message: $(cat small.log)"
echo "min-bytes: exit $rc: $(grep -o "min-bytes 1 is less.*" small.log)"
# a sweep that fits still runs
bench allreduce --min-bytes 4 --max-bytes 64 --algo ring --iters 2 --quiet >ok.log 2>&1 || fail "small sweep: $(cat ok.log)"
echo PASS
