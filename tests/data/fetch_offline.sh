#!/usr/bin/env bash
# fetch_offline.sh SCRIPT: without network, fetch-movielens.sh must fail fast with a clear message
# and leave nothing behind.  Network is made unreachable by pointing the proxy at a closed port and
# the download URL base at a reserved address (TEST-NET-1, RFC 5737).
set -u
script=$1
out=$(mktemp -d /tmp/trib-fetch-XXXXXX)
trap 'rm -rf "$out"' EXIT
start=$(date +%s)
TRIB_MOVIELENS_URL=http://192.0.2.1/movielens TRIB_FETCH_TIMEOUT=5 bash "$script" 100k "$out/ml" >"$out/o.txt" 2>"$out/e.txt"
rc=$?
secs=$(( $(date +%s) - start ))
cat "$out/e.txt"
if [[ $rc -eq 0 ]]; then echo "FAIL: exit status 0 without network"; exit 1; fi
if ! grep -q "cannot download" "$out/e.txt"; then echo "FAIL: no clear message"; exit 1; fi
if [[ -e $out/ml ]]; then echo "FAIL: output directory left behind"; exit 1; fi
if (( secs > 30 )); then echo "FAIL: took $secs s"; exit 1; fi
bash "$script" 3m "$out/x" 2>"$out/e2.txt" && { echo "FAIL: accepted an unknown size"; exit 1; }
grep -q "unknown dataset '3m'" "$out/e2.txt" || { echo "FAIL: unknown size message"; cat "$out/e2.txt"; exit 1; }
echo "fetch_offline: failed cleanly in $secs s (exit $rc)"
