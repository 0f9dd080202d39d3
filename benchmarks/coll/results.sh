#!/usr/bin/env bash
# results.sh OUTDIR [shm|net DELAY|mtu|hier|hier-tuned|all]: the runs behind benchmarks/RESULTS.md "## Collectives".
# Run from the repository root after a Release build (scripts/setup.sh); `net` needs root.
# Writes OUTDIR/*.csv and prints each run's Markdown comparison (benchmarks/coll/compare.sh).
# auto uses the shipped tuning files (TRIB_TUNING_FILE), as a user who installs them would.
# NETCLUSTER_MTU (default 1500) sets the emulated links' MTU; `mtu` adds a ring-only run at MTU 9000
# (jumbo frames) for the framing share of the bound.  `hier`: 2 nodes x 1 rank (the floor), then 2 nodes x 2
# and 2 nodes x 4 ranks (netcluster --ranks-per-node, 1 Gbit/s, 100 us), every algorithm with the built-in
# selection (no tuning file), then MPI_Allreduce under Open MPI's coll/han (--mca coll_han_priority 100);
# `hier-tuned`: the same layouts with a tuning file made there by `trib-bench tune`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
out=${1:?usage: results.sh OUTDIR [shm|net DELAY|mtu|hier|hier-tuned|all]}
what=${2:-all}
mkdir -p "$out"
out=$(cd "$out" && pwd)
bench=${BUILD_DIR:-build}/bin/trib-bench
nc=benchmarks/netcluster/netcluster
cmp=benchmarks/coll/compare.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1

say() { echo; echo "\$ $*"; }

run_shm() {
  local p
  for p in 2 4; do
    say TRIB_TUNING_FILE=benchmarks/tuning/shm.tuning mpirun -np $p --oversubscribe $bench allreduce \
      --algo ring,tree,rd,shm,auto,mpi --min-bytes 8 --max-bytes 16M --factor 2 --check --csv "$out/shm-$p.csv"
    TRIB_TUNING_FILE=benchmarks/tuning/shm.tuning mpirun -np $p --oversubscribe $bench allreduce \
      --algo ring,tree,rd,shm,auto,mpi --min-bytes 8 --max-bytes 16M --factor 2 --check --csv "$out/shm-$p.csv" \
      --quiet
    $cmp "$out/shm-$p.csv" auto mpi
  done
  # Open MPI's forced algorithms (1 basic linear, 2 nonoverlapping, 3 recursive doubling, 4 ring,
  # 5 segmented ring, 6 rabenseifner), for "the best forced one" at 2 ranks.
  local n
  for n in 1 2 3 4 5 6; do
    say OMPI_MCA_coll_tuned_use_dynamic_rules=1 OMPI_MCA_coll_tuned_allreduce_algorithm=$n mpirun -np 2 $bench \
      allreduce --algo mpi --min-bytes 16K --max-bytes 16M --factor 4 --csv "$out/shm-2-ompi-alg$n.csv"
    OMPI_MCA_coll_tuned_use_dynamic_rules=1 OMPI_MCA_coll_tuned_allreduce_algorithm=$n mpirun -np 2 $bench \
      allreduce --algo mpi --min-bytes 16K --max-bytes 16M --factor 4 --csv "$out/shm-2-ompi-alg$n.csv" --quiet
  done
}

run_net() {
  local delay=$1 p max
  "$nc" up -n 8 -r 1gbit -d "$delay" -m "${NETCLUSTER_MTU:-1500}"
  trap '"$nc" down' EXIT
  for p in 4 8; do
    max=16M
    [ "$p" = 4 ] && [ "$delay" = 100us ] && max=64M
    say "$nc" run -np $p -- env TRIB_TUNING_FILE=benchmarks/tuning/net-1gbit-$delay.tuning $bench allreduce \
      --algo ring,tree,rd,auto,mpi --min-bytes 16 --max-bytes $max --factor 4 --link-rate 1G --link-delay "$delay" \
      --check --csv "$out/net-$delay-$p.csv"
    "$nc" run -np $p -- env TRIB_TUNING_FILE="$root/benchmarks/tuning/net-1gbit-$delay.tuning" "$root/$bench" \
      allreduce --algo ring,tree,rd,auto,mpi --min-bytes 16 --max-bytes $max --factor 4 --link-rate 1G \
      --link-delay "$delay" --check --csv "$out/net-$delay-$p.csv" --quiet
    $cmp "$out/net-$delay-$p.csv" auto mpi
  done
  "$nc" down
  trap - EXIT
}

# Ring only, 4 ranks, 100 us, jumbo frames: how much of the gap to the bound is Ethernet/TCP framing.
run_mtu() {
  "$nc" up -n 4 -r 1gbit -d 100us -m 9000
  trap '"$nc" down' EXIT
  say "$nc" run -np 4 -- $bench allreduce --algo ring --min-bytes 4M --max-bytes 64M --factor 4 --link-rate 1G \
    --link-delay 100us --check --csv "$out/net-100us-4-mtu9000.csv"
  "$nc" run -np 4 -- "$root/$bench" allreduce --algo ring --min-bytes 4M --max-bytes 64M --factor 4 --link-rate 1G \
    --link-delay 100us --check --csv "$out/net-100us-4-mtu9000.csv"
  "$nc" down
  trap - EXIT
}

# Multi-rank nodes: hier against the flat algorithms and against Open MPI's default and coll/han.  First the
# floor: the same two nodes with one rank each (hier-2x1.csv), the least time an allreduce between them takes.
run_hier() {
  local m p
  "$nc" up -n 2 -r 1gbit -d 100us --ranks-per-node 1 -m "${NETCLUSTER_MTU:-1500}"
  trap '"$nc" down' EXIT
  say "$nc" run -- $bench allreduce --algo ring,tree,rd,mpi --min-bytes 8 --max-bytes 64M --factor 4 \
    --link-rate 1G --link-delay 100us --check --csv "$out/hier-2x1.csv"
  "$nc" run -- "$root/$bench" allreduce --algo ring,tree,rd,mpi --min-bytes 8 --max-bytes 64M --factor 4 \
    --link-rate 1G --link-delay 100us --check --csv "$out/hier-2x1.csv" --quiet
  "$nc" down
  trap - EXIT
  for m in 2 4; do
    p=$((2 * m))
    "$nc" up -n 2 -r 1gbit -d 100us --ranks-per-node $m -m "${NETCLUSTER_MTU:-1500}"
    trap '"$nc" down' EXIT
    say "$nc" run -- $bench allreduce --algo ring,tree,rd,hier,auto,mpi --min-bytes 8 --max-bytes 64M --factor 4 \
      --link-rate 1G --link-delay 100us --check --csv "$out/hier-2x$m.csv"
    "$nc" run -- "$root/$bench" allreduce --algo ring,tree,rd,hier,auto,mpi --min-bytes 8 --max-bytes 64M \
      --factor 4 --link-rate 1G --link-delay 100us --check --csv "$out/hier-2x$m.csv" --quiet
    $cmp "$out/hier-2x$m.csv" auto mpi
    say "$nc" run -- --mca coll_han_priority 100 $bench allreduce --algo mpi --min-bytes 8 --max-bytes 64M \
      --factor 4 --link-rate 1G --link-delay 100us --check --csv "$out/hier-2x$m-han.csv"
    "$nc" run -- --mca coll_han_priority 100 "$root/$bench" allreduce --algo mpi --min-bytes 8 --max-bytes 64M \
      --factor 4 --link-rate 1G --link-delay 100us --check --csv "$out/hier-2x$m-han.csv" --quiet
    "$nc" down
    trap - EXIT
  done
}

# The same layouts with a tuning file made there (`trib-bench tune`, kept as OUT/hier-2xM.tuning), then the
# comparison again with auto following it (TRIB_TUNING_FILE).
run_hier_tuned() {
  local m
  for m in 2 4; do
    "$nc" up -n 2 -r 1gbit -d 100us --ranks-per-node $m -m "${NETCLUSTER_MTU:-1500}"
    trap '"$nc" down' EXIT
    say "$nc" run -- $bench tune -o "$out/hier-2x$m.tuning" --algo ring,tree,rd,hier,mpi --min-bytes 8 \
      --max-bytes 64M --factor 4 --link-rate 1G --link-delay 100us --network "netcluster 2 nodes x $m, 1gbit, 100us"
    "$nc" run -- "$root/$bench" tune -o "$out/hier-2x$m.tuning" --algo ring,tree,rd,hier,mpi --min-bytes 8 \
      --max-bytes 64M --factor 4 --link-rate 1G --link-delay 100us \
      --network "netcluster 2 nodes x $m, 1gbit, 100us" >/dev/null
    say "$nc" run -- env TRIB_TUNING_FILE="$out/hier-2x$m.tuning" $bench allreduce --algo ring,tree,rd,hier,auto,mpi \
      --min-bytes 8 --max-bytes 64M --factor 4 --link-rate 1G --link-delay 100us --check --csv "$out/hier-2x$m-tuned.csv"
    "$nc" run -- env TRIB_TUNING_FILE="$out/hier-2x$m.tuning" "$root/$bench" allreduce \
      --algo ring,tree,rd,hier,auto,mpi --min-bytes 8 --max-bytes 64M --factor 4 --link-rate 1G --link-delay 100us \
      --check --csv "$out/hier-2x$m-tuned.csv" --quiet
    $cmp "$out/hier-2x$m-tuned.csv" auto mpi
    "$nc" down
    trap - EXIT
  done
}

case $what in
  shm) run_shm ;;
  mtu) run_mtu ;;
  net) run_net "${3:?usage: results.sh OUTDIR net DELAY}" ;;
  hier) run_hier ;;
  hier-tuned) run_hier_tuned ;;
  all) run_shm; run_net 100us; run_net 1ms; run_mtu; run_hier ;;
  *) echo "usage: results.sh OUTDIR [shm|net DELAY|mtu|hier|hier-tuned|all]" >&2; exit 2 ;;
esac
