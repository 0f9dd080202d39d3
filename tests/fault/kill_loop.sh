#!/usr/bin/env bash
# kill_loop.sh: 6 short 3-rank trainings under trib-run, each with a random rank killed (kill -9,
# from outside) at a random moment (also while a checkpoint is being written: one every 5
# rounds).  Every job must finish, resume only from valid checkpoints (the final model is bitwise
# identical to an uninterrupted run's, which a damaged checkpoint could not give; the test RMSE is
# also checked within 1%), and the total number of restarts is printed.
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$here/lib.sh"
make_data
runs=${TRIB_FAULT_KILL_RUNS:-6} # more: TRIB_FAULT_KILL_RUNS=100
common=(--train "$work/tr" --test "$work/te" "${train_args[@]}" --epochs 3)
# Each job is bounded (a run takes seconds): a hang fails with the processes still there listed,
# instead of running into the test's timeout with nothing said.
limit=$((120 * ${TRIB_TEST_TIMEOUT_SCALE:-1}))
hung() {
  local procs
  procs=$(ps -eo pid,ppid,stat,etime,args | grep -E '[t]rib-|[m]pi|[o]rted' | cut -c1-160)
  pkill -9 -f -- "$work" || true # what is left of the job, so that it does not hold the cores for the tests after
  fail "$1 did not end in $limit s; processes then: $procs"
}
t0=$(date +%s.%N)
rc=0
timeout -k 5 "$limit" "$mpiexec" -np 3 --oversubscribe "$bin/trib-train" "${common[@]}" --model-out "$work/ref.h5" \
  >"$work/ref.log" 2>&1 || rc=$?
((rc != 124 && rc != 137)) || hung "the reference run"
((rc == 0)) || fail "reference: $(cat "$work/ref.log")"
span=$(python3 -c "import sys; print(max(0.5, float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(date +%s.%N)")
ref=$(final_rmse "$work/ref.log")
restarts=0 killed=0
for ((i = 1; i <= runs; i++)); do
  ck=$work/ck-$i
  timeout -k 5 "$limit" "$bin/trib-run" --max-restarts 3 --restart-delay 0 -- \
    "$mpiexec" -np 3 --oversubscribe "$bin/trib-train" "${common[@]}" --model-out "$work/m-$i.h5" --checkpoint-dir "$ck" --checkpoint-every "5 steps" \
    >"$work/run-$i.log" 2>&1 &
  job=$!
  # a random moment of the training: after the ranks started, within the first third of a run
  # (the wait ends when the 3 ranks are there or the job ended; the 150 s cap only guards a hang)
  for ((w = 0; w < 6000; w++)); do
    (($(rank_pids "$ck" | wc -l) == 3)) && break
    kill -0 "$job" 2>/dev/null || break
    sleep 0.025
  done
  delay=$(python3 -c "import random, sys; print(round(random.uniform(0.0, 0.35 * float(sys.argv[1])), 2))" "$span")
  victim=$((RANDOM % 3))
  sleep "$delay"
  mapfile -t pids < <(rank_pids "$ck")
  what="not killed (the job had no rank $victim running after ${delay} s)"
  if ((${#pids[@]} == 3)); then
    # rank of each pid: the one whose environment says OMPI_COMM_WORLD_RANK=victim
    for p in "${pids[@]}"; do
      if tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" | grep -qx "OMPI_COMM_WORLD_RANK=$victim"; then
        kill -9 "$p" 2>/dev/null && { what="killed rank $victim ${delay} s after start"; killed=$((killed + 1)); }
      fi
    done
  fi
  rc=0
  wait "$job" || rc=$?
  ((rc != 124 && rc != 137)) || hung "run $i ($what)"
  ((rc == 0)) || fail "run $i ($what): trib-run exited $rc: $(cat "$work/run-$i.log")"
  n=$(grep -c "^trib-run: restart [0-9]* of at most" "$work/run-$i.log" || true)
  restarts=$((restarts + n))
  same_factors "$work/ref.h5" "$work/m-$i.h5" || fail "run $i ($what): the final model differs"
  got=$(final_rmse "$work/run-$i.log")
  within_1pct "$got" "$ref" || fail "run $i: test RMSE $got not within 1% of $ref"
  from=$( (grep -o "resumed from [^ ]*" "$work/run-$i.log" || true) | tail -1 | sed 's/.*\///')
  echo "run $i: $what; $n restart(s)${from:+, resumed from $from}; test RMSE $got"
  rm -rf "$ck" "$work/m-$i.h5"
done
echo "kill loop: $runs runs, $killed kills, $restarts restarts in total; every run finished with the uninterrupted model (test RMSE $ref)"
((killed > 0)) || fail "no rank was ever killed: the loop tested nothing"
