#!/usr/bin/env bash
# relaunch.sh TRIB_RUN MINI_TRAINER WORKDIR: the recovery path end to end with a real mpirun.
#   A  a rank crashes (--fail-at 17:1); trib-run relaunches once with --resume auto; the final
#      model is bit-identical to an uninterrupted run's, and exactly one restart is logged
#   B  the same with --shrink-on-failure: 3 ranks -> 2, rows re-partitioned from the checkpoint
#   C  SIGTERM to trib-run: the job checkpoints and trib-run exits 75; a later --resume auto run
#      finishes with the uninterrupted run's model
set -u
trib_run=$1 prog=$2 work=$3
mpiexec=${TRIB_MPIEXEC:-mpiexec}
rm -rf "$work"
mkdir -p "$work"
failures=0 n=0
check() {
  n=$((n + 1))
  if "${@:2}"; then echo "ok $n - $1"; else echo "FAILED $n - $1"; failures=$((failures + 1)); fi
}
mpi() { "$mpiexec" --oversubscribe "$@"; }
same() { cmp -s "$1" "$2"; }

# Uninterrupted references (the model does not depend on the rank count).
mpi -n 3 "$prog" --steps 40 --rows 1001 --out "$work/ref.txt"
mpi -n 2 "$prog" --steps 40 --rows 1001 --out "$work/ref2.txt"
check "reference runs agree across rank counts" same "$work/ref.txt" "$work/ref2.txt"

# A. crash at step 17 on rank 1; checkpoints every 5 steps.
"$trib_run" --max-restarts 3 --restart-delay 0 --log "$work/a.log" -- \
  "$mpiexec" --oversubscribe -n 3 "$prog" --steps 40 --rows 1001 --checkpoint-dir "$work/a" \
  --checkpoint-every "5 steps" --fail-at 17:1 --out "$work/a.txt" >"$work/a.out" 2>&1
rc=$?
check "A: trib-run exits 0" [ "$rc" = 0 ]
check "A: exactly one restart logged" [ "$(grep -c 'restart [0-9]* of at most' "$work/a.log")" = 1 ]
check "A: summary line" grep -q "trib-run: finished after 1 restart(s)" "$work/a.out"
check "A: resumed from step 15" grep -q "resumed from .*ckpt-000000000015 (step 15, written by 3 ranks) on 3 ranks" "$work/a.out"
check "A: final model identical to the uninterrupted run" same "$work/ref.txt" "$work/a.txt"

# B. crash at step 23 on rank 2, relaunch with one rank fewer.
"$trib_run" --shrink-on-failure --max-restarts 2 --restart-delay 0 -- \
  "$mpiexec" --oversubscribe -n 3 "$prog" --steps 40 --rows 1001 --checkpoint-dir "$work/b" \
  --checkpoint-every "10 steps" --fail-at 23:2 --out "$work/b.txt" >"$work/b.out" 2>&1
rc=$?
check "B: trib-run exits 0" [ "$rc" = 0 ]
check "B: relaunched with 2 ranks" grep -q "relaunching with 2 rank(s)" "$work/b.out"
check "B: 3-rank checkpoint re-partitioned over 2 ranks" grep -q "(step 20, written by 3 ranks) on 2 ranks" "$work/b.out"
check "B: final model identical to the uninterrupted run" same "$work/ref.txt" "$work/b.txt"

# C. SIGTERM to trib-run once the job has checkpointed at least once.
mpi -n 2 "$prog" --steps 400 --rows 1001 --out "$work/ref400.txt"
"$trib_run" --restart-delay 0 -- "$mpiexec" --oversubscribe -n 2 "$prog" --steps 400 --rows 1001 \
  --checkpoint-dir "$work/c" --checkpoint-every "20 steps" --step-delay 20 --out "$work/c.txt" >"$work/c.out" 2>&1 &
tr_pid=$!
for _ in $(seq 1 600); do
  compgen -G "$work/c/ckpt-*" >/dev/null && break
  sleep 0.05
done
kill -TERM $tr_pid
wait $tr_pid
rc=$?
check "C: trib-run exits 75 after SIGTERM" [ "$rc" = 75 ]
check "C: the job checkpointed on the signal" grep -q "checkpointed at step" "$work/c.out"
check "C: it stopped early" [ ! -e "$work/c.txt" ]
mpi -n 2 "$prog" --steps 400 --rows 1001 --checkpoint-dir "$work/c" --resume auto --out "$work/c.txt" 2>"$work/c2.out"
check "C: resumed from the signal's checkpoint" grep -q "resumed from" "$work/c2.out"
check "C: final model identical to the uninterrupted run" same "$work/ref400.txt" "$work/c.txt"

echo "relaunch: $n checks, $failures failed"
[ "$failures" = 0 ]
