#!/usr/bin/env bash
# ckpt_lock.sh (issue 14, item 1): the lock of a checkpoint directory.  A job whose directory is
# locked by a live process gets "checkpoint directory D is in use by PID p on host h" and touches
# nothing (before: both jobs wrote into D); a lock file left by a process that is gone is free
# and taken over; the lock is released when the job ends.  No timing: the live holder is this
# script's shell (flock on the file, held until the job has failed), the dead one a child that
# was waited for.
source "$(dirname "$0")/lib.sh"
make_data
host=$(hostname)
mkdir -p "$work/C"
exec 9>"$work/C/LOCK"
flock -n 9 || fail "cannot take the lock for the test"
echo "$$ $host" >&9
rc=0
train --k 4 --epochs 2 --checkpoint-dir "$work/C" >"$work/busy.log" 2>&1 || rc=$?
((rc != 0)) || fail "a job ran in a directory locked by PID $$: $(cat "$work/busy.log")"
grep -q "checkpoint directory $work/C is in use by PID $$ on host $host" "$work/busy.log" ||
  fail "no 'in use by PID' message: $(cat "$work/busy.log")"
if ls "$work/C" | grep -q '^ckpt-'; then fail "the refused job wrote a checkpoint"; fi
echo "busy: $(grep -o "checkpoint directory .* on host [^ ]*" "$work/busy.log" | head -1)"
rc=0
TRIB_CKPT_LOCK_WAIT=soon train --k 4 --epochs 2 --checkpoint-dir "$work/C" >"$work/wait.log" 2>&1 || rc=$?
((rc != 0)) || fail "TRIB_CKPT_LOCK_WAIT=soon was accepted"
grep -q "TRIB_CKPT_LOCK_WAIT: 'soon' is not a number of seconds" "$work/wait.log" ||
  fail "no message naming TRIB_CKPT_LOCK_WAIT: $(cat "$work/wait.log")"
exec 9>&- # the holder is gone: its lock with it
sh -c 'exit 0' &
dead=$!
wait "$dead"
echo "$dead $host" >"$work/C/LOCK"
train --k 4 --epochs 2 --checkpoint-dir "$work/C" >"$work/stale.log" 2>&1 ||
  fail "a stale lock (PID $dead gone) was not taken over: $(cat "$work/stale.log")"
ls "$work/C" | grep -q '^ckpt-' || fail "no checkpoint after taking over the stale lock"
[[ ! -e $work/C/LOCK ]] || fail "the lock was not released at the end: $(cat "$work/C/LOCK")"
echo "stale lock of PID $dead taken over; lock released at the end"
