# shellcheck shell=bash disable=SC2034
# mpi_env.sh - the environment of the script tests that run the programs (sourced by tests/*/lib.sh):
# strict shell, $bin and $mpiexec from ctest's TRIB_BUILD_DIR and TRIB_MPIEXEC, mpirun as root and
# oversubscribed with yielding ranks, and fail MESSAGE.
set -euo pipefail
bin=${TRIB_BUILD_DIR:?}/bin
mpiexec=${TRIB_MPIEXEC:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
export OMPI_MCA_rmaps_base_oversubscribe=1
fail() { echo "FAIL: $*" >&2; exit 1; }
