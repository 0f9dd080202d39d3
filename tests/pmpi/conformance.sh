#!/usr/bin/env bash
# conformance.sh PLAIN LINKED LIB NP [linked-only]: libtributary_mpi against plain MPI.
#   PLAIN   pmpi_conformance built against MPI only
#   LINKED  the same source linked with libtributary_mpi
#   LIB     build/lib/libtributary_mpi.so (for LD_PRELOAD)
# Runs PLAIN as it is (the reference), PLAIN with LIB preloaded, LINKED, and PLAIN preloaded with
# TRIB_PMPI=off; every run must print the same results, and rank 0's TRIB_LOG_LEVEL=info summary
# must count every call, with exactly the MPI_COMM_SELF / inter-communicator ones passed through
# (all of them with TRIB_PMPI=off); the same for its MPI_Iallreduce calls (completed through
# MPI_Wait, MPI_Test, MPI_Waitall, MPI_Waitany, MPI_Testall and MPI_Waitsome).  Then the preloaded run once per forced algorithm
# (TRIB_ALLREDUCE_ALGO=tree, rd, mpi, ring).  "linked-only" (sanitizer builds, where an instrumented
# library cannot be preloaded into an uninstrumented program) skips the preloaded runs.
set -euo pipefail
plain=$1 linked=$2 lib=$3 np=$4 only=${5:-}
mpiexec=${TRIB_MPIEXEC:-mpiexec}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() { # name, env..., -- exe
  local name=$1; shift
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  env "${envs[@]}" TRIB_LOG_LEVEL=info "$mpiexec" -n "$np" --oversubscribe "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || {
    echo "FAIL: run '$name' exited non-zero"; cat "$tmp/$name.err"; exit 1; }
  grep '^rank ' "$tmp/$name.out" | sort >"$tmp/$name.res"
}

# summary NAME WANT_SERVED WANT_PASSED: checks rank 0's summary line.
summary() {
  local name=$1 want_served=$2 want_passed=$3
  local line
  line=$(grep 'libtributary_mpi: [0-9]* MPI_Allreduce calls' "$tmp/$name.err" || true)
  [[ -n $line ]] || { echo "FAIL: $name: no libtributary_mpi summary on stderr"; cat "$tmp/$name.err"; exit 1; }
  local served passed
  served=$(sed -E 's/.*calls: ([0-9]+) served.*/\1/' <<<"$line")
  passed=$(sed -E 's/.*, ([0-9]+) passed through to MPI.*/\1/' <<<"$line")
  echo "$name: $line"
  [[ $served == "$want_served" && $passed == "$want_passed" ]] || {
    echo "FAIL: $name: served $served passed $passed, expected served $want_served passed $want_passed"
    grep libtributary_mpi "$tmp/$name.err"; exit 1; }
}

# isummary NAME WANT_SERVED WANT_PASSED: the same for the MPI_Iallreduce line.
isummary() {
  local name=$1 want_served=$2 want_passed=$3
  local line
  line=$(grep 'libtributary_mpi: [0-9]* MPI_Iallreduce calls' "$tmp/$name.err" || true)
  [[ -n $line ]] || { echo "FAIL: $name: no MPI_Iallreduce summary on stderr"; cat "$tmp/$name.err"; exit 1; }
  local served passed
  served=$(sed -E 's/.*calls: ([0-9]+) served.*/\1/' <<<"$line")
  passed=$(sed -E 's/.*, ([0-9]+) passed through to MPI.*/\1/' <<<"$line")
  echo "$name: $line"
  [[ $served == "$want_served" && $passed == "$want_passed" ]] || {
    echo "FAIL: $name: MPI_Iallreduce served $served passed $passed, expected served $want_served passed $want_passed"
    exit 1; }
}

same() {
  cmp -s "$tmp/reference.res" "$tmp/$1.res" || {
    echo "FAIL: $1: results differ from plain MPI_Allreduce:"; diff "$tmp/reference.res" "$tmp/$1.res" | head -20; exit 1; }
}

run reference -- "$plain"
grep -q libtributary_mpi "$tmp/reference.err" && { echo "FAIL: the plain program printed a summary"; exit 1; }
read -r calls passthrough < <(sed -nE 's/^calls ([0-9]+) passthrough ([0-9]+)$/\1 \2/p' "$tmp/reference.out")
[[ -n ${calls:-} ]] || { echo "FAIL: no 'calls' line from rank 0"; exit 1; }
echo "reference: rank 0 made $calls MPI_Allreduce calls, $passthrough on MPI_COMM_SELF or an inter-communicator"
[[ $(wc -l <"$tmp/reference.res") -gt 0 ]]
read -r icalls ipassthrough < <(sed -nE 's/^icalls ([0-9]+) ipassthrough ([0-9]+)$/\1 \2/p' "$tmp/reference.out")
[[ -n ${icalls:-} ]] || { echo "FAIL: no 'icalls' line from rank 0"; exit 1; }

run linked -- "$linked"
same linked
summary linked $((calls - passthrough)) "$passthrough"
isummary linked $((icalls - ipassthrough)) "$ipassthrough"

if [[ $only != linked-only ]]; then
  run preload LD_PRELOAD="$lib" -- "$plain"
  same preload
  summary preload $((calls - passthrough)) "$passthrough"
  isummary preload $((icalls - ipassthrough)) "$ipassthrough"
  grep -q 'passed through (inter-communicator)' "$tmp/preload.err" || [[ $np -lt 2 ]] || {
    echo "FAIL: preload: the inter-communicator call is not reported as passed through"; exit 1; }
  run off LD_PRELOAD="$lib" TRIB_PMPI=off -- "$plain"
  same off
  summary off 0 "$calls"
  isummary off 0 "$icalls"
  # Every algorithm forced: same results.  Ring cannot serve the non-commutative op (on p > 1
  # ranks): that one call goes to MPI, reported as not served.
  for algo in tree rd mpi ring; do
    run "algo-$algo" LD_PRELOAD="$lib" TRIB_ALLREDUCE_ALGO=$algo -- "$plain"
    same "algo-$algo"
    nc=0
    [[ $algo == ring && $np -gt 1 ]] && nc=1
    summary "algo-$algo" $((calls - passthrough - nc)) $((passthrough + nc))
    isummary "algo-$algo" $((icalls - ipassthrough)) "$ipassthrough"
  done
  [[ $np -lt 2 ]] || grep -q 'passed through (not served by Tributary): 1 calls' "$tmp/algo-ring.err" || {
    echo "FAIL: ring forced: the non-commutative call is not reported as passed through"; exit 1; }
fi
echo "pmpi conformance passed on $np ranks"
