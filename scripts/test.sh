#!/usr/bin/env bash
# test.sh: setup, then the whole test suite through ctest, then the same suite
# in the sanitizer build (ASan + UBSan).  Exit status non-zero on any failure.
#
#   scripts/test.sh               everything
#   SKIP_SANITIZE=1 scripts/test.sh   only the optimised build's suite
#   CTEST_ARGS="-L mpi" scripts/test.sh   pass a selection to both ctest runs
#
# scripts/stress-tests.sh runs the same two suites several times beside a background load.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
source scripts/suites.sh

start=$(date +%s)
build_suite opt
echo "== ctest: optimised build (build/)"
run_suite opt

if [[ -z ${SKIP_SANITIZE:-} ]]; then
  echo "== ctest: sanitizer build (build-asan/, ASan + UBSan)"
  build_suite asan
  run_suite asan
fi
echo "test.sh: all suites passed in $(( $(date +%s) - start )) s"
