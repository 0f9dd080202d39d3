#!/usr/bin/env bash
# run_identity.sh (issue 14, item 1): a checkpoint belongs to its run.
#  a) a fresh run (no --resume) pointed at a directory holding another run's checkpoints refuses
#     (exit 2, the message lists them) and leaves them untouched (before: it wrote over them);
#  b) the observed case: trib-run with --fail-at relaunching with --resume auto must not resume
#     the other run's newest checkpoint (before: "resumed from C/ckpt-000000000004", exit 0);
#  c) --resume auto with another --lr names the setting and refuses; --allow-changed-settings
#     resumes; the run id is kept across the resume;
#  d) --replace-checkpoints starts fresh and replaces them.
source "$(dirname "$0")/lib.sh"
make_data
train --k 8 --epochs 4 --checkpoint-dir "$work/C" --checkpoint-every 1 --keep 0 >"$work/first.log" 2>&1 ||
  fail "first run: $(cat "$work/first.log")"
before=$(digest "$work/C")

# a) fresh run over another run's checkpoints
rc=0
train --k 8 --epochs 8 --seed 7 --lr 0.02 --checkpoint-dir "$work/C" --checkpoint-every 1 >"$work/a.log" 2>&1 || rc=$?
((rc == 2)) || fail "a) a fresh run over another run's checkpoints exited $rc, expected 2: $(cat "$work/a.log")"
grep -q "checkpoint directory $work/C holds 4 checkpoint(s) of another run" "$work/a.log" ||
  fail "a) no refusal naming the directory: $(cat "$work/a.log")"
[[ $(digest "$work/C") == "$before" ]] || fail "a) the other run's checkpoints changed"
echo "a) fresh run refused: $(grep -o 'checkpoint directory .* of another run' "$work/a.log" | head -1)"

# b) the observed case under trib-run
rc=0
"$bin/trib-run" --max-restarts 2 --restart-delay 0 -- "$mpiexec" -np 2 --oversubscribe "$bin/trib-train" \
  --train "$work/all" --quiet --sync-every 1M --k 8 --epochs 8 --seed 7 --lr 0.02 --checkpoint-dir "$work/C" --checkpoint-every 1 \
  --fail-at 3:1:0 >"$work/b.log" 2>&1 || rc=$?
((rc != 0)) || fail "b) trib-run exited 0: $(cat "$work/b.log")"
if grep -q "resumed from" "$work/b.log"; then fail "b) resumed another run's checkpoint: $(cat "$work/b.log")"; fi
[[ $(digest "$work/C") == "$before" ]] || fail "b) the other run's checkpoints changed"
echo "b) trib-run exit $rc, nothing resumed, the other run's checkpoints intact"

# c) --resume auto with another lr: refused naming lr; allowed with --allow-changed-settings
rc=0
train --k 8 --epochs 6 --lr 0.02 --checkpoint-dir "$work/C" --resume auto >"$work/c1.log" 2>&1 || rc=$?
((rc == 2)) || fail "c) resume with another --lr exited $rc, expected 2: $(cat "$work/c1.log")"
grep -q "belongs to a run with lr .*, this run has lr 0.02" "$work/c1.log" ||
  fail "c) the refusal does not name lr: $(cat "$work/c1.log")"
echo "c) $(grep -o 'checkpoint .* this run has lr [0-9.]*' "$work/c1.log" | head -1)"
# run_id CKPT: the run id bytes of a checkpoint's manifest (the data block of h5dump)
run_id() { h5dump -d /config/run_id "$1/manifest.h5" | sed -n '/DATA {/,/}/p'; }
id0=$(run_id "$work/C/ckpt-000000000004")
[[ -n $id0 ]] || fail "c) no run id in the checkpoint"
train --k 8 --epochs 6 --lr 0.02 --checkpoint-dir "$work/C" --checkpoint-every 1 --resume auto \
  --allow-changed-settings >"$work/c2.log" 2>&1 || fail "c) --allow-changed-settings: $(cat "$work/c2.log")"
grep -q "resumed from .*ckpt-000000000004" "$work/c2.log" || fail "c) did not resume: $(cat "$work/c2.log")"
id1=$(run_id "$work/C/ckpt-000000000006")
[[ $id0 == "$id1" ]] || fail "c) the resumed run wrote another run id"
echo "c) --allow-changed-settings resumed; run id kept across the resume"

# d) --replace-checkpoints
train --k 8 --epochs 2 --checkpoint-dir "$work/C" --checkpoint-every 1 --keep 0 --replace-checkpoints \
  >"$work/d.log" 2>&1 || fail "d) --replace-checkpoints: $(cat "$work/d.log")"
[[ $(ls "$work/C" | grep -c '^ckpt-') == 2 ]] || fail "d) expected only the new run's 2 checkpoints: $(ls "$work/C")"
echo "d) --replace-checkpoints: fresh start, old checkpoints replaced"
