#!/usr/bin/env bash
# bench_cli.sh BENCH: end-to-end checks of trib-bench's command line and output files.
#   - --help works, bad options fail with a one-line message naming the problem
#   - --type/--op beyond float sum (int32 and uint8 bor, double and int32 user op) pass --check
#   - CSV: '#' header naming MPI library, ranks, host, date, options; the exact column list; one row per point
#   - JSON parses and holds the same points; --link-rate fills bound_ratio
#   - --interleave measures the same points and says so in the CSV and JSON
#   - tune writes a well-formed tuning file (header, groups ending in inf, known algorithms)
set -euo pipefail
bench=$1
mpiexec=${TRIB_MPIEXEC:-mpiexec}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$bench" allreduce --help | grep -- '--link-rate' >/dev/null || fail "allreduce --help does not list --link-rate"
"$bench" tune --help | grep -- '--verify' >/dev/null || fail "tune --help does not list --verify"

expect_error() { # expect_error PATTERN ARGS...: exit 1 and PATTERN on stderr
  local pattern=$1; shift
  if "$bench" "$@" >"$tmp/out" 2>"$tmp/err"; then fail "'$*' succeeded"; fi
  grep -q -- "$pattern" "$tmp/err" || fail "'$*': expected '$pattern' in: $(cat "$tmp/err")"
}
expect_error "unknown command" frobnicate
expect_error "unknown option" allreduce --bogus
expect_error "--min-bytes" allreduce --min-bytes 12X
expect_error "unknown algorithm 'foo'" allreduce --algo ring,foo
expect_error "--factor" allreduce --factor 1
expect_error "--type" allreduce --type complex
expect_error "--op" allreduce --op xor
expect_error "--link-rate" allreduce --link-rate fast
expect_error "larger than" allreduce --min-bytes 1M --max-bytes 1K
expect_error "needs --link-rate" allreduce --link-delay 1ms
expect_error "needs an integer --type" allreduce --type float --op bor

# --type/--op beyond float sum, checked: int32 bor, double and int32 with a user-defined op.
for to in "int32 bor" "double user" "int32 user" "uint8 bor"; do
  set -- $to
  "$mpiexec" -n 3 --oversubscribe "$bench" allreduce --algo ring,tree,rd,mpi,auto --type "$1" --op "$2" \
    --min-bytes 8 --max-bytes 64K --factor 16 --iters 2 --warmup 1 --check --csv "$tmp/t.csv" >"$tmp/table" \
    || fail "--type $1 --op $2 failed: $(cat "$tmp/table")"
  grep -v '^#' "$tmp/t.csv" | tail -n +2 | awk -F, -v t="$1" -v o="$2" \
    '$4 != t || $5 != o || $16 != 0 {bad = 1} END {exit bad || NR == 0}' \
    || fail "--type $1 --op $2: rows with another type/op or errors: $(cat "$tmp/t.csv")"
done

"$mpiexec" -n 2 --oversubscribe "$bench" allreduce --algo ring,mpi --min-bytes 8 --max-bytes 8K --factor 4 \
  --iters 3 --warmup 1 --check --csv "$tmp/r.csv" --json "$tmp/r.json" --link-rate 1G --link-delay 100us \
  >"$tmp/table"
grep -q '^ *8 ' "$tmp/table" || fail "no table row for 8 bytes"
grep -q ' \*' "$tmp/table" || fail "no fastest mark in the table"
for key in mpi_library ranks host date options command; do
  grep -q "^# $key: ." "$tmp/r.csv" || fail "CSV header lacks '$key'"
done
header='ranks,bytes,count,type,op,algo,iters,time_us_min,time_us_avg,time_us_max,time_us_median,time_us_p90,algbw_gbs,busbw_gbs,bound_ratio,errors'
[ "$(grep -v '^#' "$tmp/r.csv" | head -1)" = "$header" ] || fail "CSV columns differ from the specification"
rows=$(grep -v '^#' "$tmp/r.csv" | tail -n +2 | wc -l)
[ "$rows" -eq 12 ] || fail "expected 6 sizes x 2 algorithms = 12 CSV rows, got $rows"
awk -F, '!/^#/ && NR > 1 && $1 != "ranks" {
  if (NF != 16 || $1 != 2 || $15 == "" || $16 != 0 || $9 <= 0) { print "bad row: " $0; bad = 1 } }
  END { exit bad }' "$tmp/r.csv" || fail "malformed CSV rows"
python3 - "$tmp/r.json" <<'PY' || fail "JSON does not match"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ranks"] == 2 and d["mpi_library"] and d["options"]["check"] is True
assert len(d["results"]) == 12
assert all(r["status"] == "ok" and r["errors"] == 0 and r["bound_ratio"] > 0 for r in d["results"])
assert sum(r["fastest"] for r in d["results"]) == 6
PY

# --interleave: the same points (every algorithm, every size, the requested iterations), recorded in the header
"$mpiexec" -n 3 --oversubscribe "$bench" allreduce --algo ring,tree,mpi --min-bytes 8 --max-bytes 8K --factor 32 \
  --iters 4 --warmup 1 --check --interleave --csv "$tmp/i.csv" --json "$tmp/i.json" --quiet
grep -q '^# options: .*--interleave' "$tmp/i.csv" || fail "CSV options line lacks --interleave"
awk -F, '!/^#/ && $1 != "ranks" { n++; if ($7 != 4 || $16 != 0 || $11 <= 0) bad = 1 } END { exit bad || n != 9 }' \
  "$tmp/i.csv" || fail "interleaved CSV: expected 3 sizes x 3 algorithms with 4 iterations each"
grep -q '"interleave": true' "$tmp/i.json" || fail "JSON options lack interleave"

"$mpiexec" -n 2 --oversubscribe "$bench" tune -o "$tmp/t.txt" --algo ring,tree,rd,mpi --min-bytes 8 \
  --max-bytes 64K --factor 8 --iters 3 --warmup 1 --network "test" >"$tmp/tune.out"
[ "$(head -1 "$tmp/t.txt")" = "tributary-tuning 1" ] || fail "tuning file header"
grep -q '^# measured by: ' "$tmp/t.txt" || fail "tuning file does not say how it was measured"
grep -q '^layout 1 2$' "$tmp/t.txt" || fail "tuning file does not record the layout (one node, 2 ranks)"
awk '!/^#/ && !/^layout / && NR > 1 {
  if (NF != 4 || $1 != 2 || $3 !~ /^(ring|tree|rd|mpi|shm|hier)$/ || $4 !~ /^[0-9]+$/) { print "bad rule: " $0; bad = 1 }
  if (last != "" && $2 != "inf" && $2 + 0 <= last + 0) { print "not ascending: " $0; bad = 1 }
  last = $2 } END { if (last != "inf") { print "last rule is not inf"; bad = 1 } exit bad }' "$tmp/t.txt" \
  || fail "malformed tuning file"
# --append keeps other rank counts' rules.
printf 'tributary-tuning 1\n7 inf ring 0\n' >"$tmp/a.txt"
"$mpiexec" -n 2 --oversubscribe "$bench" tune -o "$tmp/a.txt" --append --algo rd,mpi --min-bytes 8 \
  --max-bytes 64 --factor 8 --iters 2 --warmup 0 >/dev/null
grep -q '^7 \+inf \+ring \+0' "$tmp/a.txt" || fail "--append dropped the 7-rank group"
grep -q '^2 ' "$tmp/a.txt" || fail "--append did not add the 2-rank group"
echo "bench_cli: all checks passed"
