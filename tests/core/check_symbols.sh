#!/bin/sh
# check_symbols.sh LIB HEADER... [-- LIB HEADER...]...: for each shared library,
# the functions and objects it exports must be exactly those its public
# headers declare with TRIB_API: nothing internal leaks out (hidden visibility
# is the default), and nothing declared is missing.
status=0
check() {
  lib=$1
  shift
  exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' \
             | grep -v -E '^(_init|_fini|_edata|_end|__bss_start)$' | sort -u)
  declared=$(sed -n 's/.*TRIB_API[^(]*[^A-Za-z0-9_]\(trib_[A-Za-z0-9_]*\)[[:space:]]*(.*/\1/p' "$@" | sort -u)
  printf '%s\n' "$declared" >"$tmp_declared"
  extra=$(printf '%s\n' "$exported" | comm -23 - "$tmp_declared")
  missing=$(printf '%s\n' "$exported" | comm -13 - "$tmp_declared")
  if [ -n "$extra" ]; then
    echo "$lib exports symbols no public header declares:"
    echo "$extra" | sed 's/^/  /'
    status=1
  fi
  if [ -n "$missing" ]; then
    echo "$lib does not export functions its public headers declare:"
    echo "$missing" | sed 's/^/  /'
    status=1
  fi
  if [ -z "$extra" ] && [ -z "$missing" ]; then
    echo "$lib: exports exactly the $(printf '%s\n' "$declared" | grep -c .) declared functions"
  fi
}
tmp_declared=$(mktemp)
trap 'rm -f "$tmp_declared"' EXIT
args=""
for a in "$@"; do
  if [ "$a" = "--" ]; then
    # shellcheck disable=SC2086
    check $args
    args=""
  else
    args="$args $a"
  fi
done
# shellcheck disable=SC2086
[ -n "$args" ] && check $args
exit $status
