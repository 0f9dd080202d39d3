# suites.sh - sourced by scripts/test.sh and scripts/stress-tests.sh: the two builds the
# test suite runs in and the ctest selection of each, defined once.
#
#   build_suite opt|asan     configure and build build/ (Release) or build-asan/ (ASan + UBSan)
#   run_suite opt|asan [ARGS...]  ctest in that build with the suite's selection; extra
#                            ctest arguments (for example -O LOG) are appended
#
# The sanitizer run leaves out tests labelled "perf" (timings mean nothing under ASan),
# "long" (the count > INT_MAX allreduce: 9 GB of buffers, minutes under ASan; it runs in the
# optimised build) and "fuzz" (the libFuzzer target is built by its own clang command with
# -fsanitize=fuzzer,address,undefined whatever the build type, so both builds would run the
# very same binary for the same TRIB_FUZZ_SECONDS).  CTEST_ARGS (for example "-L mpi") narrows both runs.
suite_dir() { case $1 in opt) echo build ;; asan) echo build-asan ;; *) echo "unknown suite $1" >&2; return 1 ;; esac; }

build_suite() {
  case $1 in
    opt) bash scripts/setup.sh ;;
    asan) BUILD_DIR=build-asan BUILD_TYPE=Debug CMAKE_ARGS="-DTRIB_SANITIZE=ON -DTRIB_BUILD_BENCHMARKS=ON" \
            bash scripts/setup.sh ;;
    *) echo "unknown suite $1" >&2; return 1 ;;
  esac
}

run_suite() {
  local which=$1 dir
  shift
  dir=$(suite_dir "$which") || return 1
  local sel=()
  [[ $which == asan ]] && sel=(-LE "perf|long|fuzz")
  # shellcheck disable=SC2086
  (cd "$dir" && ctest -j "$(nproc)" --output-on-failure "${sel[@]}" ${CTEST_ARGS:-} "$@")
}
