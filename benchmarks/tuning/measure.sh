#!/usr/bin/env bash
# measure.sh: re-measures the tuning files shipped in this folder (run from the repository root,
# after a Release build; the net ones need root).  Each file records its own command and date.
#
#   benchmarks/tuning/measure.sh shm          -> benchmarks/tuning/shm.tuning (2 and 4 ranks, one node)
#   benchmarks/tuning/measure.sh net DELAY    -> benchmarks/tuning/net-1gbit-DELAY.tuning (4 and 8 ranks,
#                                                emulated links of 1 Gbit/s with one-way DELAY, e.g. 100us, 1ms)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
bench=${BUILD_DIR:-build}/bin/trib-bench
nc=benchmarks/netcluster/netcluster
[ -x "$bench" ] || { echo "measure.sh: build first ($bench missing)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1

case ${1:-} in
  shm)
    out=benchmarks/tuning/shm.tuning
    rm -f "$out"
    for p in 2 4; do
      mpirun -np $p --oversubscribe "$bench" tune -o "$out" --append --algo ring,tree,rd,shm,mpi \
        --min-bytes 8 --max-bytes 64M --factor 2 \
        --network "shared memory, one node, 2 cores (oversubscribed at 4); benchmarks/tuning/measure.sh shm"
    done
    ;;
  net)
    delay=${2:?usage: measure.sh net DELAY}
    out=benchmarks/tuning/net-1gbit-$delay.tuning
    rm -f "$out"
    "$nc" up -n 8 -r 1gbit -d "$delay" -m "${NETCLUSTER_MTU:-1500}"
    trap '"$nc" down' EXIT
    for p in 4 8; do
      "$nc" run -np $p -- "$bench" tune -o "$out" --append --algo ring,tree,rd,mpi \
        --min-bytes 16 --max-bytes 16M --factor 4 --link-rate 1G --link-delay "$delay" \
        --network "emulated by netcluster up -n 8 -r 1gbit -d $delay, Open MPI over TCP; benchmarks/tuning/measure.sh net $delay"
    done
    ;;
  *) sed -n '2,8p' "$0" >&2; exit 2 ;;
esac
echo "measure.sh: wrote $out"
