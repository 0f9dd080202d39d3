#!/usr/bin/env bash
# requeue_selftest.sh: HARNESS SELF-TEST of slurm/train.sbatch's requeue mechanics, run with
# fake-trib-train (a stand-in that trains nothing), NOT the test of the real trainer
# (that is train_sbatch.sh). It proves, on a real Slurm, the wiring that any trainer obeying
# the contract (checkpoint + exit 75 on SIGUSR1/SIGTERM, --resume auto) relies on:
#   A. operator requeue: `scontrol requeue` of the running job -> SIGTERM reaches the trainer,
#      which checkpoints and exits 75; Slurm restarts the job (restart count 1), the script
#      passes --resume auto, the trainer continues from its checkpoint and finishes.
#   B. time limit: --time=1 with --signal=B:USR1@50 -> Slurm signals the batch script before
#      the limit, the script forwards SIGUSR1 to the srun step, the trainer exits 75, the script
#      runs `scontrol requeue`, the restarted job resumes and completes (never TIMEOUT).
#   C. the mpirun fallback (TRIB_LAUNCHER=mpirun): SIGUSR1 to the batch script reaches every
#      rank through mpirun, and the job requeues and resumes the same way.
#   E. scancel: the trainer checkpoints on SIGTERM and exits 75, but the job is being cancelled,
#      so the script does not requeue it: it stays CANCELLED with restart count 0.
#   D. slurm/train-array.sbatch: a 3-point grid as a 3-task array; each task gets its own (k, reg)
#      and output directory, and the last task writes table.tsv with one line per task.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${TRIB_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
# shellcheck source=lib/harness.sh
source "$here/lib/harness.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }

trib_slurm_up 1
work=$TRIB_SLURM_DIR/work
cd "$work"
mkdir fakebin
cp "$here/fake-trib-train" fakebin/trib-train
export TRIB_BIN=$work/fakebin OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
script=$src/slurm/train.sbatch

# Epochs the fake has logged in DIR's metrics so far.
epochs_done() { [[ -f $1/metrics.jsonl ]] && wc -l <"$1/metrics.jsonl" || echo 0; }

# Checks a finished case: COMPLETED after exactly one restart, a first run that checkpointed
# (exit 75) and a second run, with restart count 1, that resumed from that checkpoint and
# reached the last epoch.
check_case() { # name id outdir epochs
  local name=$1 id=$2 out=$3 epochs=$4 st restarts first second ck from
  st=$(trib_slurm_wait "$id" 150) || true
  restarts=$(trib_slurm_field "$id" Restarts)
  echo "== case $name: job $id $st, restarts $restarts"
  grep -v '^epoch ' "$name.out" || true
  echo "-- fake-runs.log:"; cat "$out/fake-runs.log" 2>/dev/null || true
  [[ $st == COMPLETED ]] || fail "$name: job ended $st"
  [[ $restarts == 1 ]] || fail "$name: Restarts=$restarts, expected 1"
  # Rank 0's lines (the only rank that writes them).
  first=$(sed -n 1p "$out/fake-runs.log")
  second=$(sed -n 2p "$out/fake-runs.log")
  [[ $(wc -l <"$out/fake-runs.log") == 2 ]] || fail "$name: expected 2 runs of rank 0"
  [[ $first =~ ^run\ restart=0\ resumed_from=none\ start_epoch=0\ end=75$ ]] || fail "$name: first run: $first"
  ck=$(ls "$out/checkpoints" | sed -n 's/^ckpt-//p' | sort -n | tail -1)
  [[ -n $ck ]] || fail "$name: no checkpoint written"
  from=$(sed -n 's/.*resumed_from=\([0-9]*\).*/\1/p' <<<"$second")
  [[ $second == "run restart=1 resumed_from=$ck start_epoch=$ck end=0" ]] ||
    fail "$name: second run should resume from checkpoint $ck: $second"
  grep -q "restart 0 .*start on .*restart count 0" "$name.out" || fail "$name: no log of the first start"
  grep -q "restart 1 .*start on .*restart count 1" "$name.out" || fail "$name: log does not name restart count 1"
  grep -q "restart 1 .*run: .* --resume auto" "$name.out" || fail "$name: restarted run without --resume auto"
  grep -q "restart 0 .*run: .* --resume auto" "$name.out" && fail "$name: first run passed --resume auto"
  grep -q "restart 1 .*training finished after 1 restart" "$name.out" || fail "$name: no 'finished' line"
  [[ -s $out/model.h5 ]] || fail "$name: no model written"
  [[ $(tail -n 1 "$out/metrics.jsonl") == "{\"epoch\": $epochs,"* ]] || fail "$name: last epoch is not $epochs"
  echo "case $name: checkpoint at epoch $ck, resumed at restart 1 from epoch $from, finished epoch $epochs"
}

# A and B run side by side (2 CPUs each of the node's 4).
a=$(TRIB_OUT=$work/A TRIB_EPOCHS=20 FAKE_EPOCH_SECONDS=0.3 FAKE_RESUMED_EPOCH_SECONDS=0.05 \
  trib_slurm_submit -n 2 --ntasks-per-node=2 -o A.out "$script")
b=$(TRIB_OUT=$work/B TRIB_EPOCHS=90 FAKE_EPOCH_SECONDS=1 FAKE_RESUMED_EPOCH_SECONDS=0.05 \
  trib_slurm_submit -n 2 --ntasks-per-node=2 --time=1 --signal=B:USR1@50 -o B.out "$script")
trib_slurm_wait_state "$a" RUNNING 60
for ((i = 0; i < 1200; i++)); do (($(epochs_done A) >= 3)) && break; sleep 0.1; done
(($(epochs_done A) >= 3)) || fail "A: the fake trainer did not start"
echo "A: requeueing job $a by hand after $(epochs_done A) epochs"
scontrol requeue "$a"
check_case A "$a" "$work/A" 20

c=$(TRIB_OUT=$work/C TRIB_LAUNCHER=mpirun TRIB_EPOCHS=20 FAKE_EPOCH_SECONDS=0.3 FAKE_RESUMED_EPOCH_SECONDS=0.05 \
  trib_slurm_submit -n 2 --ntasks-per-node=2 -o C.out "$script")
trib_slurm_wait_state "$c" RUNNING 60
for ((i = 0; i < 1200; i++)); do (($(epochs_done C) >= 3)) && break; sleep 0.1; done
(($(epochs_done C) >= 3)) || fail "C: the fake trainer did not reach epoch 3 in 120 s"
echo "C: sending SIGUSR1 to the batch script of job $c after $(epochs_done C) epochs"
scancel --batch --signal=USR1 "$c"
check_case C "$c" "$work/C" 20
grep -q "launcher: mpirun" C.out || fail "C: did not use mpirun"
grep -q "received SIGUSR1" C.out || fail "C: the batch script did not report SIGUSR1"

e=$(TRIB_OUT=$work/E TRIB_EPOCHS=100 FAKE_EPOCH_SECONDS=0.3 \
  trib_slurm_submit -n 1 --ntasks-per-node=1 -o E.out "$script")
trib_slurm_wait_state "$e" RUNNING 60
for ((i = 0; i < 1200; i++)); do (($(epochs_done E) >= 2)) && break; sleep 0.1; done
(($(epochs_done E) >= 2)) || fail "E: the fake trainer did not reach epoch 2 in 120 s"
scancel "$e"
st=$(trib_slurm_wait "$e" 60) || true
sleep 8 # longer than the delay before a requeued job would start again
st2=$(trib_slurm_field "$e" JobState)
echo "== case E: job $e $st, then $st2, restarts $(trib_slurm_field "$e" Restarts)"
grep -v '^epoch ' E.out
[[ $st == CANCELLED && $st2 == CANCELLED ]] || fail "E: a cancelled job did not stay cancelled ($st, then $st2)"
[[ $(trib_slurm_field "$e" Restarts) == 0 ]] || fail "E: a cancelled job was requeued"
grep -q "is ending (.*), so it is not requeued" E.out || fail "E: no log line saying why it is not requeued"
[[ -n $(ls "$work/E/checkpoints") ]] || fail "E: no checkpoint written on SIGTERM"
echo "case E: cancelled job checkpointed and stayed cancelled"

d=$(TRIB_OUT=$work/D TRIB_GRID="4:0.1 8:0.2 16:0.3" TRIB_EPOCHS=5 FAKE_EPOCH_SECONDS=0.1 \
  trib_slurm_submit --array=0-2 -n 1 --ntasks-per-node=1 -o D-%a.out "$src/slurm/train-array.sbatch")
for t in 0 1 2; do
  st=$(trib_slurm_wait "${d}_$t" 120) || true
  echo "== case D: array task ${d}_$t $st"
  [[ $st == COMPLETED ]] || { cat "D-$t.out"; fail "D: array task $t ended $st"; }
done
cat D-*.out | grep -v '^epoch '
table=$work/D/table.tsv
[[ -s $table ]] || fail "D: no table.tsv"
cat "$table"
[[ $(head -1 "$table") == $'task\tk\treg\tepochs\ttrain_rmse\ttest_rmse\ttest_mae\trestarts\tjob' ]] || fail "D: table header"
[[ $(tail -n +2 "$table" | cut -f1-4 | tr '\t' ' ' | tr '\n' ';') == "0 4 0.1 5;1 8 0.2 5;2 16 0.3 5;" ]] ||
  fail "D: table rows do not match the grid"
for t in 0 1 2; do
  grep -q "^fake model k=$(cut -d' ' -f$((t + 1)) <<<"4 8 16") " "$work/D/task-$t/model.h5" || fail "D: task $t trained with the wrong k"
done
grep -q "all 3 results collected" D-*.out || fail "D: no task reported the collection"
echo "case D: 3 array tasks, table.tsv with one row per grid point"

check_case B "$b" "$work/B" 90
grep -q "restart 0 .*received SIGUSR1 (time limit near)" B.out || fail "B: no SIGUSR1 before the time limit"
grep -q "restart 0 .*requeueing job $b" B.out || fail "B: the script did not requeue itself"

trib_slurm_down
trib_slurm_check_clean
echo "requeue self-test (fake trainer) passed"
