#!/bin/sh
# check_exports.sh LIB: libtributary_mpi must export the MPI functions it interposes and nothing else.
got=$(nm -D --defined-only "$1" | awk '$2 ~ /^[TDBRVWi]$/ {print $3}' \
      | grep -v -E '^(_init|_fini|_edata|_end|__bss_start)$' | sort | tr '\n' ' ')
want="MPI_Allreduce MPI_Finalize MPI_Iallreduce MPI_Test MPI_Testall MPI_Testany MPI_Testsome MPI_Wait MPI_Waitall \
MPI_Waitany MPI_Waitsome "
if [ "$got" != "$want" ]; then
  echo "$1 exports: $got(expected: $want)"
  exit 1
fi
echo "$1: exports $want only"
