# lib.sh - shared by the robust tests: a small synthetic dataset and the trainer command line.
# Sourced; needs TRIB_BUILD_DIR (set by ctest) and a work directory as $work.
set -euo pipefail
bin=${TRIB_BUILD_DIR:?}/bin
mpiexec=${TRIB_MPIEXEC:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
export OMPI_MCA_rmaps_base_oversubscribe=1
fail() { echo "FAIL: $*" >&2; exit 1; }

make_data() {
  "$bin/trib-data" synth --users 200 --items 100 --ratings 8000 --rank 4 --noise 0.3 --seed 7 --shards 2 \
    --output "$work/all" >/dev/null
}

# train ARGS...: mpirun -np 2 trib-train on the dataset
train() { "$mpiexec" -np 2 --oversubscribe "$bin/trib-train" --train "$work/all" --quiet "$@"; }

# digest DIR: one checksum over every file below DIR (names and contents)
digest() { (cd "$1" && find . -type f ! -name LOCK | sort | xargs sha256sum) | sha256sum | cut -d' ' -f1; }
