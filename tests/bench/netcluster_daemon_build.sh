#!/usr/bin/env bash
# netcluster_daemon_build.sh NETCLUSTER: `netcluster up` from a checkout whose bin directory has no
# trib-nfq-delay builds the delay daemon itself (cc with pkg-config's flags for libnetfilter_queue),
# and the cluster it brings up delays packets: ping round trip >= 2 x 1 ms.  Then `down` removes
# everything, the built daemon included.
# Needs root, a C compiler and libnetfilter-queue-dev: otherwise it fails (it does not skip).
set -euo pipefail
nc=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "the netcluster test needs root (it creates network namespaces); run ctest as root or exclude -LE netcluster"
export NETCLUSTER_STATE=/run/trib-netcluster-build-test NETCLUSTER_PREFIX=tribncb NETCLUSTER_SUBNET=10.80.0
unset NETCLUSTER_NFQ_DELAY
tmp=$(mktemp -d)
export NETCLUSTER_BIN_DIR=$tmp/bin # empty: no trib-nfq-delay there, and the PATH is not searched
mkdir -p "$NETCLUSTER_BIN_DIR"
trap 'rm -rf "$tmp"' EXIT

"$nc" up -n 1 -r 100mbit -d 1ms 2>"$tmp/up.err" || fail "up failed: $(cat "$tmp/up.err")"
trap '"$nc" down >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
grep -q "building the delay daemon" "$tmp/up.err" || fail "the daemon was not built on demand: $(cat "$tmp/up.err")"
[ -x "$NETCLUSTER_STATE/trib-nfq-delay" ] || fail "no daemon built in $NETCLUSTER_STATE"
"$nc" status >"$tmp/status"
grep -q "delay daemon: pid" "$tmp/status" || fail "delay daemon not running: $(cat "$tmp/status")"
rtt=$(ip netns exec tribncb-head ping -c 3 -i 0.2 -q 10.80.0.1 | awk -F/ '/^rtt|^round-trip/ {print $5}')
awk -v r="$rtt" 'BEGIN { exit !(r >= 2.0) }' || fail "ping round trip $rtt ms, expected >= 2 ms (2 x 1 ms delay)"
echo "round trip $rtt ms through the daemon built on demand"
"$nc" down
[ ! -e "$NETCLUSTER_STATE" ] || fail "state directory left behind"
left=$(ip netns list | awk '{print $1}' | grep '^tribncb-' || true)
[ -z "$left" ] || fail "namespaces left behind: $left"
echo "netcluster daemon build: passed"
