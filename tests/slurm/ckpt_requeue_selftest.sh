#!/usr/bin/env bash
# ckpt_requeue_selftest.sh MINI_TRAINER: HARNESS SELF-TEST of slurm/train.sbatch with the real
# checkpoint library and real MPI ranks, through tests/ckpt/mini_trainer (driven by
# mini-trainer-as-trib-train), NOT the test of trib-train itself (train_sbatch.sh).
#   R. an uninterrupted run, 1 node x 2 ranks: the reference digest of the final state;
#   A. the same run on two nodes (two slurmd, --nodes=2, one rank each), requeued with
#      `scontrol requeue` once it has written a checkpoint: SIGTERM -> checkpoint -> exit 75,
#      Slurm restarts it (restart count 1), train.sbatch passes --resume auto, mini_trainer
#      reports the resume, and the final digest equals R's bit for bit;
#   U. the same on one node, sent `scancel --batch --signal=USR1` (what --signal=B:USR1 does
#      before the time limit): train.sbatch forwards SIGUSR1 through srun, mini_trainer
#      checkpoints and exits 75, the script requeues the job itself, it resumes, same digest.
set -euo pipefail
mini=${1:?usage: ckpt_requeue_selftest.sh MINI_TRAINER}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${TRIB_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
# shellcheck source=lib/harness.sh
source "$here/lib/harness.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -x $mini ]] || fail "no $mini"
run_section() { awk -v r="restart $2 " '/^train.sbatch \[job / { on = index($0, r) > 0 } on' "$1"; }

trib_slurm_up 2
work=$TRIB_SLURM_DIR/work
cd "$work"
mkdir bin
cp "$here/mini-trainer-as-trib-train" bin/trib-train
export TRIB_BIN=$work/bin MINI_TRAINER=$mini OMPI_MCA_btl=self,tcp TRIB_EPOCHS=80 TRIB_CHECKPOINT_EVERY="10 steps"

r=$(TRIB_OUT=$work/R trib_slurm_submit -N 1 --ntasks-per-node=2 -o R.out "$src/slurm/train.sbatch")
a=$(TRIB_OUT=$work/A trib_slurm_submit -N 2 --ntasks-per-node=1 -o A.out "$src/slurm/train.sbatch")
trib_slurm_wait_state "$a" RUNNING 60
for ((i = 0; i < 600; i++)); do
  [[ -n $(ls "$work/A/checkpoints" 2>/dev/null) ]] && break
  sleep 0.05
done
[[ -n $(ls "$work/A/checkpoints" 2>/dev/null) ]] || fail "A: no checkpoint appeared"
[[ -e $work/A/model.h5 ]] && fail "A: finished before it could be requeued"
echo "A: requeueing job $a (checkpoints: $(ls "$work/A/checkpoints" | tr '\n' ' '))"
scontrol requeue "$a"

st=$(trib_slurm_wait "$r" 120) || true
echo "== R: job $r $st"; cat R.out
[[ $st == COMPLETED ]] || fail "R: job ended $st"
st=$(trib_slurm_wait "$a" 150) || true
echo "== A: job $a $st, restarts $(trib_slurm_field "$a" Restarts)"; cat A.out
[[ $st == COMPLETED ]] || fail "A: job ended $st"
[[ $(trib_slurm_field "$a" Restarts) == 1 ]] || fail "A: expected exactly one restart"
grep -q "start on n\[1-2\] (2 tasks)" A.out || fail "A: did not run on n1 and n2"
run_section A.out 0 | grep "mini_trainer: signal .*checkpointed at step .*exiting 75" >/dev/null || fail "A: no checkpoint on SIGTERM"
run_section A.out 0 | grep "trainer checkpointed (exit 75)" >/dev/null || fail "A: the script did not see exit 75"
run_section A.out 1 | grep "start on .*restart count 1" >/dev/null || fail "A: the log does not name restart count 1"
run_section A.out 1 | grep "run: .* --resume auto" >/dev/null || fail "A: the restart did not pass --resume auto"
run_section A.out 1 | grep "mini_trainer: resumed from" >/dev/null || fail "A: the restarted run did not resume"
echo "R: $(cat "$work/R/model.h5")"
echo "A: $(cat "$work/A/model.h5")"
[[ $(cat "$work/A/model.h5") == "$(cat "$work/R/model.h5")" && $(cat "$work/R/model.h5") == "steps 80 digest "* ]] ||
  fail "A's final state differs from the uninterrupted run's"
echo "A: requeued on two nodes, resumed from a checkpoint, final state identical to R's"

u=$(TRIB_OUT=$work/U trib_slurm_submit -N 1 --ntasks-per-node=2 -o U.out "$src/slurm/train.sbatch")
trib_slurm_wait_state "$u" RUNNING 60
for ((i = 0; i < 600; i++)); do
  [[ -n $(ls "$work/U/checkpoints" 2>/dev/null) ]] && break
  sleep 0.05
done
[[ -e $work/U/model.h5 ]] && fail "U: finished before it could be signalled"
scancel --batch --signal=USR1 "$u"
st=$(trib_slurm_wait "$u" 150) || true
echo "== U: job $u $st, restarts $(trib_slurm_field "$u" Restarts)"; cat U.out
[[ $st == COMPLETED ]] || fail "U: job ended $st"
[[ $(trib_slurm_field "$u" Restarts) == 1 ]] || fail "U: expected exactly one restart"
run_section U.out 0 | grep "received SIGUSR1" >/dev/null || fail "U: the script did not get SIGUSR1"
run_section U.out 0 | grep "mini_trainer: signal 10: checkpointed at step .*exiting 75" >/dev/null || fail "U: no checkpoint on SIGUSR1"
run_section U.out 0 | grep "trainer checkpointed (exit 75); requeueing job $u" >/dev/null || fail "U: the script did not requeue"
run_section U.out 1 | grep "mini_trainer: resumed from" >/dev/null || fail "U: the restarted run did not resume"
[[ $(cat "$work/U/model.h5") == "$(cat "$work/R/model.h5")" ]] || fail "U's final state differs from R's"
echo "U: SIGUSR1 forwarded, self-requeued, resumed, final state identical to R's"

trib_slurm_down
trib_slurm_check_clean
echo "checkpoint requeue self-test (mini_trainer) passed"
