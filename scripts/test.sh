#!/usr/bin/env bash
# test.sh: setup, then the whole test suite through ctest, then the same suite
# in the sanitizer build (ASan + UBSan).  Exit status non-zero on any failure.
#
#   scripts/test.sh               everything
#   SKIP_SANITIZE=1 scripts/test.sh   only the optimised build's suite
#   CTEST_ARGS="-L mpi" scripts/test.sh   pass a selection to both ctest runs
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
jobs=$(nproc)

start=$(date +%s)
bash scripts/setup.sh
echo "== ctest: optimised build (build/)"
# shellcheck disable=SC2086
(cd build && ctest -j "$jobs" --output-on-failure --timeout 900 ${CTEST_ARGS:-})

if [[ -z ${SKIP_SANITIZE:-} ]]; then
  echo "== ctest: sanitizer build (build-asan/, ASan + UBSan)"
  BUILD_DIR=build-asan BUILD_TYPE=Debug CMAKE_ARGS="-DTRIB_SANITIZE=ON -DTRIB_BUILD_BENCHMARKS=ON" \
    bash scripts/setup.sh
  # The sanitizer run leaves out tests labelled "perf" (timings mean nothing under ASan)
  # and "long" (the count > INT_MAX allreduce: 9 GB of buffers, minutes under ASan; it runs
  # in the optimised build above).
  # shellcheck disable=SC2086
  (cd build-asan && ctest -j "$jobs" --output-on-failure --timeout 1800 -LE "perf|long" ${CTEST_ARGS:-})
fi
echo "test.sh: all suites passed in $(( $(date +%s) - start )) s"
