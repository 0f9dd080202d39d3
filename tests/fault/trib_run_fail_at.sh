#!/usr/bin/env bash
# trib_run_fail_at.sh (issue 6, acceptance 2): trib-run --max-restarts 3 -- mpirun -np 4 trib-train
# ... --fail-at 2:5:1 --checkpoint-every 1: rank 1 dies in epoch 2, trib-run relaunches once with
# --resume auto, the job finishes; the log shows exactly one restart and the model equals an
# uninterrupted run's.  Environment (ctest sets it for the ps variant): TRIB_FAULT_MODE extra
# trib-train options, TRIB_FAULT_FAIL_AT the --fail-at point (default 2:5:1; ps mode: 2:1:1, a
# round being an epoch there).
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$here/lib.sh"
make_data
read -r -a mode <<<"${TRIB_FAULT_MODE:-}"
fail_at=${TRIB_FAULT_FAIL_AT:-2:5:1}
common=(--train "$work/tr" --test "$work/te" "${train_args[@]}" "${mode[@]}" --epochs 4)
"$mpiexec" -np 4 --oversubscribe "$bin/trib-train" "${common[@]}" --model-out "$work/ref.h5" >"$work/ref.log" 2>&1 ||
  fail "reference: $(cat "$work/ref.log")"
"$bin/trib-run" --max-restarts 3 --restart-delay 0 -- "$mpiexec" -np 4 --oversubscribe "$bin/trib-train" \
  "${common[@]}" --model-out "$work/a.h5" --checkpoint-dir "$work/ck" --fail-at "$fail_at" --checkpoint-every 1 \
  >"$work/run.log" 2>&1 || fail "trib-run failed: $(cat "$work/run.log")"
grep "^trib-run:" "$work/run.log"
n=$(grep -c "^trib-run: restart [0-9]* of at most" "$work/run.log" || true)
((n == 1)) || fail "expected exactly one restart, the log shows $n"
grep -q "^trib-run: finished after 1 restart(s)" "$work/run.log" || fail "no 'finished after 1 restart(s)'"
grep -q "resumed from .*ckpt-.* at epoch 1 round 0" "$work/run.log" || fail "the relaunch did not resume from epoch 1"
same_factors "$work/ref.h5" "$work/a.h5" || fail "the recovered model differs from the uninterrupted one"
echo "${mode[*]:+${mode[*]}: }one restart; recovered model bitwise identical to the uninterrupted run"
