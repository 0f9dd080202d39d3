#!/usr/bin/env bash
# demo.sh: setup, then the main job on 4 ranks.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
mpirun -np 4 --oversubscribe build/bin/trib-bench allreduce --algo ring,tree,rd,auto,mpi \
  --min-bytes 8 --max-bytes 4M --factor 8 --check
