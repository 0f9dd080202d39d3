#!/usr/bin/env bash
# netcluster_smoke.sh NETCLUSTER BENCH: up / run / down of the emulated cluster at 2 ranks, 100 Mbit/s.
#   - a 1 MiB allreduce must not beat the emulated links: its fastest iteration must take at least
#     0.8 x the physical bound 2(p-1)/p x n / rate (0.8: tbf's 128 KB burst passes at memory speed)
#   - a second `up` is refused while the cluster is up
#   - `down` leaves no namespace and no state behind, and a second `down` succeeds
#   - with --ranks-per-node 2 (2 nodes x 2 ranks): Open MPI puts two ranks in each node (host names),
#     the library sees 2 nodes x 2 ranks (MPI_Comm_split_type), hier and ring give exact results,
#     and `down` again leaves nothing behind
# Needs root: as another user it fails (it does not skip).
set -euo pipefail
nc=$1
bench=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "the netcluster test needs root (it creates network namespaces); run ctest as root or exclude -LE netcluster"
# A cluster of its own (names, addresses, state), so it cannot collide with one a user has up.
export NETCLUSTER_STATE=/run/trib-netcluster-test NETCLUSTER_PREFIX=tribnct NETCLUSTER_SUBNET=10.78.0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$nc" up -n 2 -r 100mbit -d 100us
# Only a cluster this test made is taken down on failure.
trap '"$nc" down >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
if "$nc" up -n 2 -r 100mbit -d 100us 2>"$tmp/err"; then fail "a second up succeeded"; fi
grep -q "already up" "$tmp/err" || fail "second up: unexpected message: $(cat "$tmp/err")"

"$nc" run -- "$bench" allreduce --algo ring,mpi --min-bytes 8 --max-bytes 1M --factor 131072 --iters 3 \
  --warmup 1 --check --link-rate 100M --link-delay 100us --csv "$tmp/r.csv"
awk -F, '!/^#/ && $1 != "ranks" && $2 == 1048576 {
    bound_us = 2 * ($1 - 1) / $1 * $2 * 8 / 1e8 * 1e6
    n++
    printf "1 MiB %s: fastest rank mean %.0f us, median %.0f us, bound %.0f us\n", $6, $8, $11, bound_us
    if ($8 < 0.8 * bound_us) { print "faster than the emulated link allows"; bad = 1 }
    if ($8 > 20 * bound_us) { print "far slower than the link: shaping or launch broken"; bad = 1 }
    if ($16 != 0) { print "wrong values"; bad = 1 }
  } END { if (n != 2) { print "missing 1 MiB rows"; bad = 1 } exit bad }' "$tmp/r.csv" || fail "1 MiB timing"

check_down() {
  "$nc" down
  left=$(ip netns list | awk '{print $1}' | grep '^tribnct-' || true)
  [ -z "$left" ] || fail "namespaces left behind: $left"
  [ ! -e "$NETCLUSTER_STATE" ] || fail "state directory left behind"
  "$nc" down || fail "a second down failed"
}
check_down

# Multi-rank nodes.
"$nc" up -n 2 -r 100mbit -d 100us --ranks-per-node 2
grep -q '^ranks=4$' "$NETCLUSTER_STATE/config" || fail "config: $(cat "$NETCLUSTER_STATE/config")"
hosts=$("$nc" run -- hostname | sort | uniq -c | awk '{print $2 ":" $1}' | tr '\n' ' ')
[ "$hosts" = "tribnct-r0:2 tribnct-r1:2 " ] || fail "ranks per host: expected 2 on each node, got '$hosts'"
"$nc" run -- "$bench" allreduce --algo hier,ring --min-bytes 8 --max-bytes 256K --factor 64 --iters 2 --warmup 1 \
  --check --csv "$tmp/h.csv" >"$tmp/h.out"
grep -q "4 ranks (2 nodes x 2 ranks)" "$tmp/h.out" || fail "layout not seen as 2 nodes x 2 ranks: $(head -1 "$tmp/h.out")"
awk -F, '!/^#/ && $1 != "ranks" { n++; if ($16 != 0) { print "wrong values: " $0; bad = 1 } }
  END { if (n != 6) { print "expected 6 rows, got " n; bad = 1 } exit bad }' "$tmp/h.csv" || fail "multi-rank nodes"
check_down
echo "netcluster smoke: passed"
