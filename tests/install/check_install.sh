#!/usr/bin/env bash
# check_install.sh BUILD_DIR SOURCE_DIR: installs Tributary into a temporary
# prefix, takes the example program out of README.md (its first ```c block),
# builds it outside the tree twice, with find_package(Tributary) and with
# `pkg-config tributary-coll`, and runs both under mpiexec on 2 ranks,
# checking the printed sums.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
for f in include/tributary/allreduce.h include/tributary/version.h lib/libtributary_coll.so lib/libtributary_coll.a \
         lib/libtributary.so lib/cmake/Tributary/TributaryConfig.cmake lib/pkgconfig/tributary-coll.pc lib/pkgconfig/tributary.pc; do
  [[ -e $prefix/$f ]] || { echo "missing after install: $f"; exit 1; }
done
mpiexec=${TRIB_MPIEXEC:-mpiexec}
expect="2 4 7"
mkdir -p "$tmp/consumer"
cp "$src/tests/install/consumer/CMakeLists.txt" "$tmp/consumer/"
awk '/^```c$/ {on=1; next} on && /^```$/ {exit} on' "$src/README.md" >"$tmp/consumer/consumer.c"
[[ -s $tmp/consumer/consumer.c ]] || { echo "no C example found in README.md"; exit 1; }

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
echo "install check passed"
