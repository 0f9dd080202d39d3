#!/usr/bin/env bash
# teardown_selftest.sh: the harness tears its cluster down even when a test fails or is killed.
#
# Starts two child test scripts, each bringing up its own cluster and submitting a job that
# would run for 10 minutes:
#   - one fails (a command returns non-zero under `set -e`) while the job runs;
#   - one is sent SIGTERM (as ctest does on a timeout) while the job runs.
# Each child writes its cluster's directory to a file first. After both have exited, no process
# carrying either cluster's tag (daemons, slurmstepd, the job's processes) may be alive and both
# directories must be gone.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/harness.sh
source "$here/lib/harness.sh"
trib_slurm_preflight
scratch=$(mktemp -d /tmp/trib-teardown.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

child() { # $1 = fail | term
  cat <<EOF
set -euo pipefail
source "$here/lib/harness.sh"
TRIB_SLURM_QUIET_FAIL=1
trib_slurm_up 1
echo "\$TRIB_SLURM_DIR" >"$scratch/$1.dir"
id=\$(trib_slurm_submit -o "\$TRIB_SLURM_DIR/work/job.out" --wrap 'sleep 600')
trib_slurm_wait_state "\$id" RUNNING 60
touch "$scratch/$1.running"
if [[ $1 == fail ]]; then
  false # a failing check
fi
while :; do sleep 0.2; done
EOF
}

child fail >"$scratch/fail.sh"
child term >"$scratch/term.sh"
rc=0
bash "$scratch/fail.sh" || rc=$?
echo "failing child exited $rc"
((rc != 0)) || fail "the failing child exited 0"
[[ -f $scratch/fail.running ]] || fail "the failing child's job never ran"

bash "$scratch/term.sh" &
pid=$!
for ((i = 0; i < 600; i++)); do
  [[ -f $scratch/term.running ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[[ -f $scratch/term.running ]] || fail "the second child's job never ran"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
echo "terminated child exited $rc"

bad=0
for which in fail term; do
  dir=$(cat "$scratch/$which.dir")
  # shellcheck disable=SC2034 # read by trib_slurm_tagged_pids
  TRIB_SLURM_DIR=$dir
  left=$(trib_slurm_tagged_pids | tr '\n' ' ')
  if [[ -n ${left// /} ]]; then
    echo "FAIL: $which child left processes: $left" >&2
    ps -o pid,args -p "${left// /,}" >&2 || true
    kill -KILL $left 2>/dev/null || true
    bad=1
  fi
  if [[ -e $dir ]]; then echo "FAIL: $which child left $dir" >&2; rm -rf "$dir"; bad=1; fi
  ((bad)) || echo "$which child: cluster in $dir fully torn down"
done
((bad == 0)) || exit 1
echo "teardown self-test passed"
