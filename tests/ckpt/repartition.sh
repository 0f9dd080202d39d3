#!/bin/sh
# repartition.sh PROGRAM DIR: a checkpoint written by 4 ranks is read back by
# 3 ranks (the usual "lost a node" case), and by 1 and 5: every rank reads every
# part bit for bit and the rows re-partitioned by global id cover the model once.
set -eu
prog=$1 dir=$2
mpiexec=${TRIB_MPIEXEC:-mpiexec}
rows=1003
rm -rf "$dir"
$mpiexec -n 4 --oversubscribe "$prog" write "$dir" 12 $rows
for np in 3 1 5; do
  $mpiexec -n $np --oversubscribe "$prog" readall "$dir" $rows
done
echo "repartition: written by 4 ranks, read by 3, 1 and 5: passed"
