#!/bin/sh
# fake_job.sh ARGS...: stands in for `mpirun ... trib-train ...` in the trib-run tests.
# Appends its arguments as one line to $FAKE_STATE/args, then, while it has run
# at most $FAKE_FAILS times, fails: with exit code $FAKE_RC (default 1), or by
# killing itself with signal $FAKE_SIGNAL.  Afterwards it exits 0.  With
# FAKE_WAIT_TERM=1 it instead waits for SIGTERM or SIGUSR1, records which in
# $FAKE_STATE/signals and exits $FAKE_STOP_RC (default 75, checkpointed).
set -u
state=${FAKE_STATE:?}
printf '%s\n' "$*" >>"$state/args"
runs=$(wc -l <"$state/args")
if [ "${FAKE_WAIT_TERM:-0}" = 1 ]; then
  # Like mpirun after forwarding a signal: exits with ${FAKE_STOP_RC:-75}.
  trap 'echo term >>"$state/signals"; exit "${FAKE_STOP_RC:-75}"' TERM
  trap 'echo usr1 >>"$state/signals"; exit "${FAKE_STOP_RC:-75}"' USR1
  echo $$ >"$state/pid"
  i=0
  while [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  exit 0
fi
if [ "$runs" -le "${FAKE_FAILS:-0}" ]; then
  if [ -n "${FAKE_SIGNAL:-}" ]; then kill -s "$FAKE_SIGNAL" $$; sleep 5; fi
  exit "${FAKE_RC:-1}"
fi
exit 0
