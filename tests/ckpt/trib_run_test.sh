#!/usr/bin/env bash
# trib_run_test.sh TRIB_RUN WORKDIR: the relaunch logic of trib-run, driven by
# fake_job.sh (fails the first K runs, records the arguments of every run).
set -u
trib_run=$1 work=$2
fake=$(cd "$(dirname "$0")" && pwd)/fake_job.sh
rm -rf "$work"
mkdir -p "$work"
failures=0 n=0

check() { # check DESCRIPTION COMMAND...
  n=$((n + 1))
  if "${@:2}"; then echo "ok $n - $1"; else echo "FAILED $n - $1"; failures=$((failures + 1)); fi
}

# run NAME [env...] -- trib-run args: fresh state dir $work/NAME, output in $work/NAME/out, status in $rc.
run() {
  local name=$1
  shift
  st=$work/$name
  mkdir -p "$st"
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  env FAKE_STATE="$st" "${envs[@]}" "$trib_run" --restart-delay 0 "$@" >"$st/out" 2>&1
  rc=$?
  args_lines=$(wc -l <"$st/args" 2>/dev/null || echo 0)
}
line() { sed -n "${1}p" "$st/args"; }
has() { grep -q -- "$1" "$st/out"; }

# 1. fails twice, then succeeds: 2 restarts, --resume auto added once per relaunch.
run twice FAKE_FAILS=2 -- --max-restarts 3 -- "$fake" -np 4 trib-train --epochs 5
check "exit 0 after two failures" [ "$rc" = 0 ]
check "three runs" [ "$args_lines" = 3 ]
check "first run unchanged" [ "$(line 1)" = "-np 4 trib-train --epochs 5" ]
check "second run resumes" [ "$(line 2)" = "-np 4 trib-train --epochs 5 --resume auto" ]
check "third run: --resume auto once" [ "$(line 3)" = "-np 4 trib-train --epochs 5 --resume auto" ]
check "summary line" has "trib-run: finished after 2 restart(s)"
check "restart reason logged" has "restart 1 of at most 3: the job ended with exit code 1"

# 2. shrinking: -np 4 -> 3 -> 2 -> 2 (min-ranks 2).
run shrink FAKE_FAILS=3 -- --max-restarts 5 --shrink-on-failure --min-ranks 2 -- "$fake" -np 4 prog -n 9
check "shrink: exit 0" [ "$rc" = 0 ]
check "shrink: -np 4 3 2 2" [ "$(cut -d' ' -f2 "$st/args" | tr '\n' ' ')" = "4 3 2 2 " ]
check "shrink: program's own -n untouched" [ "$(line 4)" = "-np 2 prog -n 9 --resume auto" ]
check "shrink: logged rank count" has "relaunching with 3 rank(s)"

# 3. other spellings of the rank count.
run spell_n FAKE_FAILS=1 -- --shrink-on-failure -- "$fake" -n 3 prog
check "-n N shrinks" [ "$(line 2)" = "-n 2 prog --resume auto" ]
run spell_np FAKE_FAILS=1 -- --shrink-on-failure -- "$fake" --np 3 prog
check "--np N shrinks" [ "$(line 2)" = "--np 2 prog --resume auto" ]
run spell_eq FAKE_FAILS=1 -- --shrink-on-failure -- "$fake" -np=3 prog
check "-np=N shrinks" [ "$(line 2)" = "-np=2 prog --resume auto" ]
run no_np FAKE_FAILS=1 -- --shrink-on-failure -- "$fake" prog
check "no rank count: warned, relaunched unchanged" [ "$(line 2)" = "prog --resume auto" ]
check "no rank count: warning" has "no -np/-n/--np N in the command"

# 4. gives up after N restarts with the job's exit code.
run giveup FAKE_FAILS=99 FAKE_RC=3 -- --max-restarts 2 -- "$fake" -np 2 prog
check "give up: exit code of the job" [ "$rc" = 3 ]
check "give up: 1 + 2 runs" [ "$args_lines" = 3 ]
check "give up: logged" has "giving up after 2 restart(s): the job ended with exit code 3"
run never FAKE_FAILS=99 -- --max-restarts 0 -- "$fake" prog
check "max-restarts 0: one run" [ "$args_lines" = 1 -a "$rc" = 1 ]

# 5. usage error of the job: never relaunched.
run usage FAKE_FAILS=1 FAKE_RC=2 -- --max-restarts 3 -- "$fake" prog --bad
check "usage error: exit 2, one run" [ "$rc" = 2 -a "$args_lines" = 1 ]

# 6. requeue (75): relaunched with the same rank count even with --shrink-on-failure.
run requeue FAKE_FAILS=1 FAKE_RC=75 -- --shrink-on-failure -- "$fake" -np 4 prog
check "requeue: relaunched" [ "$rc" = 0 -a "$args_lines" = 2 ]
check "requeue: same rank count" [ "$(line 2)" = "-np 4 prog --resume auto" ]
check "requeue: reason" has "checkpointed, requeue requested"

# 7. an explicit --resume is turned into --resume auto, not duplicated.
run resume_path FAKE_FAILS=2 -- -- "$fake" prog --resume /ckpt/ckpt-000000000003 --x 1
check "--resume PATH -> auto" [ "$(line 3)" = "prog --resume auto --x 1" ]
run resume_eq FAKE_FAILS=1 -- -- "$fake" prog --resume=/p
check "--resume=PATH -> auto" [ "$(line 2)" = "prog --resume=auto" ]

# 8. killed by a signal.
run signal FAKE_FAILS=1 FAKE_SIGNAL=KILL -- -- "$fake" prog
check "signal: relaunched" [ "$rc" = 0 -a "$args_lines" = 2 ]
check "signal: reason names SIGKILL" has "killed by signal SIGKILL"

# 9. --log FILE.
run logfile FAKE_FAILS=1 -- --log "$work/logfile/trib-run.log" -- "$fake" prog
check "--log has the restart" grep -q "restart 1 of at most 3" "$work/logfile/trib-run.log"
check "--log has the summary" grep -q "finished after 1 restart(s)" "$work/logfile/trib-run.log"

# 10. help and usage errors of trib-run itself.
"$trib_run" --help >"$work/help" 2>&1
check "--help exits 0" [ $? = 0 ]
check "--help documents exit 75" grep -q "exit 75" "$work/help"
"$trib_run" --max-restarts x -- true >/dev/null 2>&1
check "bad --max-restarts: exit 2" [ $? = 2 ]
"$trib_run" --frobnicate -- true >/dev/null 2>&1
check "unknown option: exit 2" [ $? = 2 ]
"$trib_run" >/dev/null 2>&1
check "no command: exit 2" [ $? = 2 ]

# 11. SIGTERM to trib-run: passed on as SIGUSR1; the job checkpoints; not relaunched; 75 passed up,
#     also when the job reports another code (mpirun exits 1 when it was signalled itself).
for stop_rc in 75 1; do
  st=$work/sigterm-$stop_rc
  mkdir -p "$st"
  FAKE_STATE=$st FAKE_WAIT_TERM=1 FAKE_STOP_RC=$stop_rc "$trib_run" --restart-delay 0 -- "$fake" prog >"$st/out" 2>&1 &
  tr_pid=$!
  for _ in $(seq 1 100); do [ -s "$st/pid" ] && break; sleep 0.05; done
  kill -TERM $tr_pid
  wait $tr_pid
  rc=$?
  check "SIGTERM (job exits $stop_rc): trib-run exits 75" [ "$rc" = 75 ]
  check "SIGTERM (job exits $stop_rc): passed on as SIGUSR1" [ "$(cat "$st/signals")" = usr1 ]
  check "SIGTERM (job exits $stop_rc): one run only" [ "$(wc -l <"$st/args")" = 1 ]
  check "SIGTERM (job exits $stop_rc): logged" grep -q "stop requested (SIGTERM" "$st/out"
done

echo "trib_run_test: $n checks, $failures failed"
[ "$failures" = 0 ]
