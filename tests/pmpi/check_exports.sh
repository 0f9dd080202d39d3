#!/bin/sh
# check_exports.sh LIB: libtributary_mpi must export MPI_Allreduce and MPI_Finalize and nothing else.
got=$(nm -D --defined-only "$1" | awk '$2 ~ /^[TDBRVWi]$/ {print $3}' \
      | grep -v -E '^(_init|_fini|_edata|_end|__bss_start)$' | sort | tr '\n' ' ')
if [ "$got" != "MPI_Allreduce MPI_Finalize " ]; then
  echo "$1 exports: $got(expected: MPI_Allreduce MPI_Finalize)"
  exit 1
fi
echo "$1: exports MPI_Allreduce and MPI_Finalize only"
