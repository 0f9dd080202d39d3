#!/usr/bin/env bash
# crash.sh PROGRAM DIR: kill -9 a random rank of a job that writes checkpoints
# in a loop, at a random moment, several times; after every kill, discovery
# must return a valid, fully readable checkpoint (never a partial one), never
# an older one than before the kill, and leave no temporary directory behind.
# Each relaunch resumes after the newest checkpoint with a rank count of 1-3,
# so checkpoints written by one rank count are validated after another.
#   CRASH_KILLS (default 10), CRASH_ROWS (default 60000 rows of the test model)
set -u
prog=$1 dir=$2
mpiexec=${TRIB_MPIEXEC:-mpiexec}
kills=${CRASH_KILLS:-10}
rows=${CRASH_ROWS:-60000}
pids="$dir.pids"
rm -rf "$dir" "$pids"
prev=0 interrupted=0 seqs=""
fail() { echo "crash: FAILED: $*" >&2; exit 1; }

for i in $(seq 1 "$kills"); do
  np=$(( (i % 3) + 1 ))
  rm -rf "$pids"
  $mpiexec -n $np --oversubscribe "$prog" crashloop "$dir" "$rows" >"$dir.log.$i" 2>&1 &
  job=$!
  # Wait until every rank is up (it writes its pid), at most 30 s.
  for _ in $(seq 1 1500); do
    [ "$(find "$pids" -name 'rank-*' 2>/dev/null | wc -l)" -ge $np ] && break
    kill -0 $job 2>/dev/null || fail "job $i ended before it was killed: $(cat "$dir.log.$i")"
    sleep 0.02
  done
  sleep "$(printf '0.%03d' $(( RANDOM % 600 )))"
  victim=$(( RANDOM % np ))
  kill -9 "$(cat "$pids/rank-$victim")" 2>/dev/null || fail "rank $victim of job $i was not running"
  wait $job 2>/dev/null
  for f in "$pids"/rank-*; do kill -9 "$(cat "$f")" 2>/dev/null; done
  if ls -d "$dir"/.tmp-ckpt-* >/dev/null 2>&1; then interrupted=$((interrupted + 1)); fi

  out=$($mpiexec -n 1 "$prog" check "$dir" "$rows" 2>"$dir.check.$i") || fail "check after kill $i: $(cat "$dir.check.$i")"
  seq=$(printf '%s\n' "$out" | sed -n 's/^seq //p')
  [ -n "$seq" ] || fail "no result from the check after kill $i"
  if [ "$seq" = none ]; then
    [ "$prev" = 0 ] || fail "after kill $i no checkpoint is found, but $prev was before"
  else
    [ "$seq" -ge "$prev" ] || fail "after kill $i the newest checkpoint is $seq, older than $prev"
    prev=$seq
  fi
  ls -d "$dir"/.tmp-ckpt-* >/dev/null 2>&1 && fail "temporary directory left after discovery (kill $i)"
  seqs="$seqs $seq"
  echo "kill $i: rank $victim of $np killed; newest valid checkpoint: $seq"
done
[ "$prev" -gt 0 ] || fail "no checkpoint was ever committed (rows too many for the kill delays?)"
[ "$interrupted" -gt 0 ] || fail "no kill landed during a checkpoint write; the test exercised nothing"
echo "crash: $kills kills, $interrupted of them during a checkpoint write; newest valid after each:$seqs"
rm -rf "$pids" "$dir".log.* "$dir".check.*
