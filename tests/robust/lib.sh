# shellcheck shell=bash
# lib.sh - shared by the robust tests: the MPI environment, a work directory removed at exit ($work,
# also the current directory), the datasets and the trainer command line.
# Sourced (`source "$(dirname "$0")/lib.sh"`); needs TRIB_BUILD_DIR (set by ctest).
source "$(dirname "${BASH_SOURCE[0]}")/../common/mpi_env.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

# make_data: a small synthetic dataset in $work/all (2 shards)
make_data() {
  "$bin/trib-data" synth --users 200 --items 100 --ratings 8000 --rank 4 --noise 0.3 --seed 7 --shards 2 \
    --output "$work/all" >/dev/null
}

# tiny_data FILE: three ratings of two users in MovieLens-100k form (user item rating timestamp, tabs)
tiny_data() { printf '1\t1\t5\t100\n1\t2\t3\t101\n2\t1\t4\t102\n' >"$1"; }

# train ARGS...: mpirun -np 2 trib-train on the dataset
# One round per epoch (--sync-every 1M on this small data), so checkpoint N is the end of epoch N.
train() { "$mpiexec" -np 2 --oversubscribe "$bin/trib-train" --train "$work/all" --quiet --sync-every 1M "$@"; }

# digest DIR: one checksum over every file below DIR (names and contents)
digest() { (cd "$1" && find . -type f ! -name LOCK | sort | xargs sha256sum) | sha256sum | cut -d' ' -f1; }
