#!/usr/bin/env bash
# check_install.sh BUILD_DIR SOURCE_DIR: installs Tributary into a temporary
# prefix, takes the example program out of README.md (its first ```c block),
# builds it outside the tree twice, with find_package(Tributary) and with
# `pkg-config tributary-coll`, and runs both under mpiexec on 2 ranks,
# checking the printed sums.  The same for the plain MPI example (its second
# ```c block) with libtributary_mpi: linked through Tributary::mpi and
# `pkg-config tributary-mpi`, and preloaded into a plain build; each run's
# TRIB_LOG_LEVEL=info summary must show its one call served by Tributary.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
for f in include/tributary/allreduce.h include/tributary/version.h lib/libtributary_coll.so lib/libtributary_coll.a \
         lib/libtributary.so lib/cmake/Tributary/TributaryConfig.cmake lib/pkgconfig/tributary-coll.pc lib/pkgconfig/tributary.pc \
         lib/libtributary_mpi.so lib/pkgconfig/tributary-mpi.pc; do
  [[ -e $prefix/$f ]] || { echo "missing after install: $f"; exit 1; }
done
mpiexec=${TRIB_MPIEXEC:-mpiexec}
expect="2 4 7"
mkdir -p "$tmp/consumer"
cp "$src/tests/install/consumer/CMakeLists.txt" "$tmp/consumer/"
awk '/^```c$/ {on=1; next} on && /^```$/ {exit} on' "$src/README.md" >"$tmp/consumer/consumer.c"
[[ -s $tmp/consumer/consumer.c ]] || { echo "no C example found in README.md"; exit 1; }
awk '/^```c$/ {n++; if (n == 2) {on=1; next}} on && /^```$/ {exit} on' "$src/README.md" >"$tmp/consumer/plain_mpi.c"
grep -q MPI_Allreduce "$tmp/consumer/plain_mpi.c" || { echo "no libtributary_mpi example found in README.md"; exit 1; }

# 1. CMake package
cmake -S "$tmp/consumer" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cfg.log"
cmake --build "$tmp/cmake-build" >"$tmp/build.log"
out=$(LD_LIBRARY_PATH="$prefix/lib" "$mpiexec" -n 2 --oversubscribe "$tmp/cmake-build/consumer")
echo "find_package build: $out"
[[ $out == "$expect" ]] || { echo "expected: $expect"; exit 1; }

# 2. pkg-config
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# shellcheck disable=SC2046
cc -o "$tmp/consumer-pc" "$tmp/consumer/consumer.c" $(pkg-config --cflags --libs tributary-coll)
out=$(LD_LIBRARY_PATH="$prefix/lib" "$mpiexec" -n 2 --oversubscribe "$tmp/consumer-pc")
echo "pkg-config build: $out"
[[ $out == "$expect" ]] || { echo "expected: $expect"; exit 1; }

# 3. libtributary_mpi: linked (CMake, pkg-config) and preloaded into a plain MPI build
plain_expect="3 10"
check_pmpi() { # what, env..., -- program
  local what=$1; shift
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  out=$(env "${envs[@]}" LD_LIBRARY_PATH="$prefix/lib" TRIB_LOG_LEVEL=info "$mpiexec" -n 2 --oversubscribe "$@" \
        2>"$tmp/pmpi.err")
  echo "$what: $out; $(grep -o '[0-9]* served by Tributary' "$tmp/pmpi.err" || echo 'no summary')"
  [[ $out == "$plain_expect" ]] || { echo "expected: $plain_expect"; exit 1; }
  grep -q 'MPI_Allreduce calls: 1 served by Tributary' "$tmp/pmpi.err" || { cat "$tmp/pmpi.err"; exit 1; }
}
check_pmpi "Tributary::mpi build" -- "$tmp/cmake-build/plain_mpi"
# shellcheck disable=SC2046
cc -o "$tmp/plain-pc" "$tmp/consumer/plain_mpi.c" $(pkg-config --cflags --libs ompi-c tributary-mpi)
check_pmpi "pkg-config tributary-mpi build" -- "$tmp/plain-pc"
# shellcheck disable=SC2046
cc -o "$tmp/plain" "$tmp/consumer/plain_mpi.c" $(pkg-config --cflags --libs ompi-c)
check_pmpi "LD_PRELOAD" LD_PRELOAD="$prefix/lib/libtributary_mpi.so" -- "$tmp/plain"
echo "install check passed"
