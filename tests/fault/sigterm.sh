#!/usr/bin/env bash
# sigterm.sh: SIGTERM to every rank (what Slurm does), and SIGUSR1 to mpirun (which forwards it):
# the job finishes its round, writes a valid checkpoint and exits 75; --resume auto then finishes
# with a model bitwise identical to an uninterrupted run's.
# Environment (ctest sets it for the ps variant): TRIB_FAULT_NP ranks (default 2), TRIB_FAULT_MODE
# extra trib-train options (e.g. "--mode ps --servers 1 --consistency bsp": a stop request is then
# honoured after the current mini-batch), TRIB_FAULT_EPOCHS (default 30).
#
# No step depends on timing: the job runs with --fail-at 2:1:stop, so every rank stops itself
# (SIGSTOP) after the first round of epoch 2, with its handlers installed and the job far from its
# end; once every rank is stopped the signal is sent, the test waits until every rank has it
# pending, then the ranks continue (SIGCONT).
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$here/lib.sh"
make_data
np=${TRIB_FAULT_NP:-2} epochs=${TRIB_FAULT_EPOCHS:-30}
read -r -a mode <<<"${TRIB_FAULT_MODE:-}"
train "$np" "${mode[@]}" --epochs $epochs --model-out "$work/ref.h5" >"$work/ref.log" 2>&1 || fail "reference: $(cat "$work/ref.log")"
for how in TERM-ranks USR1-mpirun; do
  ck=$work/ck-$how
  rm -f "$work/a.h5" "$work/m.jsonl"
  train "$np" "${mode[@]}" --epochs $epochs --checkpoint-dir "$ck" --checkpoint-every never --model-out "$work/a.h5" \
    --metrics-json "$work/m.jsonl" --fail-at 2:1:stop >"$work/a.log" 2>&1 &
  job=$!
  # The waits end on the event; their 300 s caps only keep a broken job from hanging the test.
  for ((i = 0; i < 6000; i++)); do
    pids=$(rank_pids "$ck")
    all=$(($(wc -w <<<"$pids") == np))
    for p in $pids; do all_stopped "$p" || all=0; done
    ((all)) && break
    kill -0 $job 2>/dev/null || fail "$how: the job ended before it stopped itself: $(cat "$work/a.log")"
    sleep 0.05
  done
  ((all)) || fail "$how: the $np ranks did not all stop themselves in 300 s (found: $pids)"
  if [[ $how == TERM-ranks ]]; then sig=TERM; kill -TERM $pids; else sig=USR1; kill -USR1 $(pgrep -P $job); fi
  for ((i = 0; i < 6000; i++)); do
    all=1
    for p in $pids; do signal_pending "$p" "$sig" || all=0; done
    ((all)) && break
    sleep 0.05
  done
  ((all)) || fail "$how: SIG$sig not pending on every rank after 300 s"
  kill -CONT $pids
  rc=0
  wait $job || rc=$?
  ((rc == 75)) || fail "$how: exit $rc, expected 75: $(cat "$work/a.log")"
  grep -q "checkpointed, exiting 75" "$work/a.log" || fail "$how: no checkpoint message: $(cat "$work/a.log")"
  [[ ! -e $work/a.h5 ]] || fail "$how: a model was written"
  mapfile -t cks < <(ls -d "$ck"/ckpt-* 2>/dev/null)
  ((${#cks[@]} == 1)) || fail "$how: expected one checkpoint, found ${#cks[@]}"
  train "$np" "${mode[@]}" --epochs $epochs --checkpoint-dir "$ck" --resume auto --model-out "$work/a.h5" >"$work/b.log" 2>&1 ||
    fail "$how: resume: $(cat "$work/b.log")"
  grep -q "resumed from ${cks[0]}" "$work/b.log" || fail "$how: no resume from ${cks[0]}: $(cat "$work/b.log")"
  same_factors "$work/ref.h5" "$work/a.h5" || fail "$how: the resumed model differs"
  echo "${mode[*]:+${mode[*]}: }$how: exit 75 with $(basename "${cks[0]}"), $(grep -o "at epoch [0-9]* round [0-9]*" "$work/b.log"); resumed model identical"
done
