#!/usr/bin/env bash
# harness_selftest.sh NODES: proves the Slurm test harness itself, with no Tributary program.
#
# Brings up a real cluster of NODES (1 or 2) slurmd on this host, then
#   1. a trivial `sbatch --wrap` job runs and completes, and `sacct -c` (jobcomp/filetxt) lists it;
#   2. a tiny MPI program, compiled here with mpicc, runs as 4 ranks through `srun --mpi=pmix`
#      and through `mpirun` inside sbatch: each must print all 4 ranks and a correct allreduce,
#      and with 2 nodes the ranks must be spread over n1 and n2;
# then tears the cluster down and checks that no daemon or job process is left and the
# temporary directory is gone.
set -euo pipefail
nodes=${1:-1}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/harness.sh
source "$here/lib/harness.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }

trib_slurm_up "$nodes"
work=$TRIB_SLURM_DIR/work
cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
# Two "nodes" on one host: Open MPI's shared-memory transport between them is unreliable
# (it crashed in about half of such runs); TCP over loopback is not.
((nodes > 1)) && export OMPI_MCA_btl=self,tcp

# 1. trivial job
id=$(trib_slurm_submit -o trivial.out --wrap 'echo "trivial job $SLURM_JOB_ID on $SLURMD_NODENAME"')
st=$(trib_slurm_wait "$id" 60) || true
echo "trivial job $id: $st: $(cat trivial.out 2>/dev/null)"
[[ $st == COMPLETED ]] || fail "trivial job ended $st"
grep -qx "trivial job $id on n1" trivial.out || fail "trivial job output: $(cat trivial.out)"
sacct -c -n -j "$id" -o JobID,State | grep COMPLETED >/dev/null || fail "sacct -c does not list job $id as COMPLETED"

# 2. MPI through srun --mpi=pmix and through mpirun
mpicc -o mpi_hello "$here/mpi_hello.c"
per=$((4 / nodes))
a=$(trib_slurm_submit -o srun.out -N "$nodes" --ntasks-per-node="$per" --wrap "srun --mpi=pmix ./mpi_hello")
b=$(trib_slurm_submit -o mpirun.out -N "$nodes" --ntasks-per-node="$per" --wrap "mpirun -np 4 ./mpi_hello")
sa=$(trib_slurm_wait "$a" 90) || true
sb=$(trib_slurm_wait "$b" 90) || true
for pair in "srun:$a:$sa" "mpirun:$b:$sb"; do
  IFS=: read -r how jid st <<<"$pair"
  out=$how.out
  echo "== $how job $jid: $st"
  cat "$out"
  [[ $st == COMPLETED ]] || fail "$how job ended $st"
  grep -q '^mpi_hello: 4 ranks, allreduce sum 10 (expected 10) OK$' "$out" || fail "$how: no correct allreduce line"
  [[ $(grep -c '^rank [0-3] of 4 on node n[12]$' "$out") == 4 ]] || fail "$how: not 4 distinct rank lines"
  for ((i = 1; i <= nodes; i++)); do
    grep -q "on node n$i\$" "$out" || fail "$how: no rank ran on node n$i"
  done
done

trib_slurm_down
trib_slurm_check_clean
echo "harness self-test with $nodes node(s) passed"
