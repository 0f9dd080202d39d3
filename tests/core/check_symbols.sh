#!/bin/sh
# check_symbols.sh LIB...: fails when a shared library exports a defined
# function or object whose name does not start with trib_ (the public prefix).
status=0
for lib in "$@"; do
  bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' \
        | grep -v -E '^(trib_|_init$|_fini$|_edata$|_end$|__bss_start$)' || true)
  if [ -n "$bad" ]; then
    echo "$lib exports symbols without the trib_ prefix:"
    echo "$bad" | sed 's/^/  /'
    status=1
  else
    echo "$lib: $(nm -D --defined-only "$lib" | grep -c ' T trib_') exported trib_ functions, no others"
  fi
done
exit $status
