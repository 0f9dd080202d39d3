#!/usr/bin/env bash
# run.sh [BUILD_DIR]: the checkpoint measurements of benchmarks/RESULTS.md ("## Checkpoints").
# MovieLens-1M shape (6,040 users, 3,706 items, k = 64) and 10x (60,400 x 37,060),
# 1 and 4 ranks, the library's layout (one file per rank) and one parallel-HDF5 file.
set -euo pipefail
build=${1:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
dir=${CKPT_BENCH_DIR:-$build/ckpt-bench-tmp}
reps=${CKPT_BENCH_REPS:-9}
echo "# $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg), dir: $dir ($(df -T "$(dirname "$dir")" | awk 'NR==2 {print $2}'))"
for shape in "--users 6040 --items 3706" "--users 60400 --items 37060"; do
  for np in 1 4; do
    for layout in perrank shared; do
      # shellcheck disable=SC2086
      mpirun -np $np --oversubscribe "$build/bin/ckpt_bench" $shape --k 64 --reps "$reps" --layout $layout --dir "$dir"
    done
  done
done
