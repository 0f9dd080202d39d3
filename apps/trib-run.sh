#!/usr/bin/env bash
# trib-run - relaunch a Tributary job after a failure, resuming from its newest checkpoint.
#
# Open MPI 4.1 ends the whole job when one rank dies, so a job recovers by
# restarting: trib-run runs the command; when it fails it runs it again with
# `--resume auto` (trib-train then continues from the newest valid checkpoint
# in its --checkpoint-dir), at most --max-restarts times, optionally with one
# rank fewer each time (the lost node).  See usage() for the exit codes.
#
# How the command is rewritten on a relaunch (always from the original
# command, so nothing accumulates):
#   - `--resume X` / `--resume=X` becomes `--resume auto` / `--resume=auto`;
#     without one, `--resume auto` is appended at the end (the job's own
#     arguments come last in `mpirun ... trib-train ARGS`);
#   - with --shrink-on-failure, the first -np/-n/--np/-c N (or -np=N) is
#     replaced by N-1, never below --min-ranks.
set -u

prog=trib-run
TRIB_EXIT_REQUEUE=75
TRIB_EXIT_USAGE=2

usage() {
  cat <<EOF
Usage: $prog [OPTIONS] -- COMMAND [ARGS...]

Runs COMMAND (typically: mpirun -np N trib-train ...).  When it fails, runs it
again with '--resume auto' so the job continues from its newest checkpoint.

Options:
  --max-restarts N     relaunch at most N times (default 3; 0: never)
  --shrink-on-failure  relaunch with one rank fewer after each failure
                       (rewrites -np/-n/--np/-c N in COMMAND)
  --min-ranks M        never shrink below M ranks (default 1)
  --restart-delay S    seconds to wait before a relaunch (default 1)
  --log FILE           also append the log lines to FILE
  -h, --help           this help

When is the command relaunched:
  exit 0               done: "$prog: finished after R restart(s)", exit 0
  exit 2               usage error, or the job refused to start (its checkpoint
                       directory holds another run's checkpoints, none valid,
                       or is locked by another job): never relaunched, exit 2
  exit 75              the job checkpointed and asks to be requeued (it got
                       SIGTERM/SIGUSR1; TRIB_EXIT_REQUEUE): relaunched with the
                       same rank count (counts as a restart)
  other / signal       relaunched (with one rank fewer if --shrink-on-failure)
After N restarts the last exit code is returned ("$prog: giving up ...").

Signals: SIGTERM and SIGUSR1 sent to $prog (e.g. by Slurm before a time limit)
are passed to the job as SIGUSR1: mpirun forwards SIGUSR1 to every rank and
reports their exit code, while on SIGTERM it ends the job itself and exits 1.
The job checkpoints and exits; $prog does not relaunch it and exits 75 (unless
the job exited 0 or 2) so the batch script can requeue.  SIGINT and SIGHUP are
passed on as they are (and also stop $prog); SIGUSR2 is passed on only.
$prog exits 2 on its own usage errors.
EOF
}

log_file=""
log() {
  local line="$prog: $*"
  printf '%s\n' "$line" >&2
  if [ -n "$log_file" ]; then
    printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$line" >>"$log_file" ||
      printf '%s: cannot write to log file %s\n' "$prog" "$log_file" >&2
  fi
}

die_usage() {
  printf '%s: %s (see --help)\n' "$prog" "$1" >&2
  exit $TRIB_EXIT_USAGE
}

# The command as a shell would need it typed (quoted where necessary).
quoted() { local out; printf -v out '%q ' "$@"; printf '%s' "${out% }"; }

is_count() { case $1 in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac; }

# ------------------------------------------------------------------ options
max_restarts=3 shrink=0 min_ranks=1 delay=1
while [ $# -gt 0 ]; do
  case $1 in
    --max-restarts) [ $# -ge 2 ] || die_usage "--max-restarts needs a value"; max_restarts=$2; shift 2 ;;
    --max-restarts=*) max_restarts=${1#*=}; shift ;;
    --shrink-on-failure) shrink=1; shift ;;
    --min-ranks) [ $# -ge 2 ] || die_usage "--min-ranks needs a value"; min_ranks=$2; shift 2 ;;
    --min-ranks=*) min_ranks=${1#*=}; shift ;;
    --restart-delay) [ $# -ge 2 ] || die_usage "--restart-delay needs a value"; delay=$2; shift 2 ;;
    --restart-delay=*) delay=${1#*=}; shift ;;
    --log) [ $# -ge 2 ] || die_usage "--log needs a file"; log_file=$2; shift 2 ;;
    --log=*) log_file=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) die_usage "unknown option '$1'" ;;
  esac
done
[ $# -gt 0 ] || die_usage "no command given after --"
is_count "$max_restarts" || die_usage "--max-restarts must be a non-negative integer, not '$max_restarts'"
if ! is_count "$min_ranks" || [ "$min_ranks" -lt 1 ]; then
  die_usage "--min-ranks must be a positive integer, not '$min_ranks'"
fi
case $delay in '' | *[!0-9.]*) die_usage "--restart-delay must be a number of seconds, not '$delay'" ;; esac
original=("$@")

# ------------------------------------------------------- command rewriting
# Index of the rank count in `original` and its style (sep: "-np N", eq: "-np=N").
np_index=-1 np_style="" np_flag="" ranks=""
for ((i = 0; i < ${#original[@]}; i++)); do
  a=${original[i]}
  case $a in
    -np | -n | --np | --n | -c)
      if [ $((i + 1)) -lt ${#original[@]} ] && is_count "${original[i + 1]}"; then
        np_index=$((i + 1)) np_style=sep ranks=${original[i + 1]}
        break
      fi ;;
    -np=* | -n=* | --np=* | --n=* | -c=*)
      if is_count "${a#*=}"; then
        np_index=$i np_style=eq np_flag=${a%%=*} ranks=${a#*=}
        break
      fi ;;
  esac
done

# Builds `cmd` for a relaunch with `ranks` ranks and --resume auto.
build_relaunch() {
  cmd=("${original[@]}")
  if [ "$np_index" -ge 0 ]; then
    if [ "$np_style" = sep ]; then cmd[np_index]=$ranks; else cmd[np_index]="$np_flag=$ranks"; fi
  fi
  local j found=0
  for ((j = 0; j < ${#cmd[@]}; j++)); do
    case ${cmd[j]} in
      --resume)
        if [ $((j + 1)) -lt ${#cmd[@]} ]; then cmd[j + 1]=auto; found=1; fi ;;
      --resume=*) cmd[j]=--resume=auto; found=1 ;;
    esac
  done
  [ $found = 1 ] || cmd+=(--resume auto)
}

# ------------------------------------------------------------ signals
# A stop request (TERM, USR1, INT, HUP) is forwarded to the job and means:
# do not relaunch afterwards.  TERM goes to the job as USR1 (see usage()).
child=0 stop_requested="" interrupted=0
forward() {
  interrupted=1
  local to=$1
  [ "$1" = USR2 ] || stop_requested=$1
  [ "$1" = TERM ] && to=USR1
  if [ "$child" -gt 0 ]; then kill -s "$to" "$child" 2>/dev/null; fi
}
for sig in TERM USR1 USR2 INT HUP; do
  # shellcheck disable=SC2064
  trap "forward $sig" "$sig"
done

# Runs "$@" in the background (so traps run while it works); sets rc.
run_job() {
  "$@" &
  child=$!
  while :; do
    interrupted=0
    wait "$child"
    rc=$?
    # A trapped signal interrupts `wait`; the job itself may still be running.
    if [ "$interrupted" = 1 ] && kill -0 "$child" 2>/dev/null; then continue; fi
    if [ "$interrupted" = 1 ] && [ "$rc" -gt 128 ]; then
      wait "$child" 2>/dev/null
      local again=$?
      [ "$again" = 127 ] || rc=$again
    fi
    break
  done
  child=0
}

describe_exit() {
  local code=$1
  if [ "$code" = $TRIB_EXIT_REQUEUE ]; then
    printf 'exit code %d (checkpointed, requeue requested)' "$code"
  elif [ "$code" -gt 128 ] && [ "$code" -lt 192 ]; then
    local name
    name=$(kill -l $((code - 128)) 2>/dev/null) || name="?"
    printf 'exit code %d (killed by signal %s)' "$code" "SIG$name"
  else
    printf 'exit code %d' "$code"
  fi
}

# -------------------------------------------------------------- main loop
restarts=0
cmd=("${original[@]}")
log "starting: $(quoted "${cmd[@]}")"
while :; do
  start=$(date +%s)
  run_job "${cmd[@]}"
  elapsed=$(( $(date +%s) - start ))
  if [ "$rc" = 0 ]; then
    log "finished after $restarts restart(s)"
    exit 0
  fi
  why=$(describe_exit "$rc")
  if [ "$rc" = $TRIB_EXIT_USAGE ]; then
    log "usage error or refusal to start ($why) after ${elapsed} s: not relaunching; giving up after $restarts restart(s)"
    exit "$rc"
  fi
  if [ -n "$stop_requested" ]; then
    log "stop requested (SIG$stop_requested, forwarded to the job); the job ended with $why;" \
      "not relaunching after $restarts restart(s); exiting $TRIB_EXIT_REQUEUE (requeue)"
    exit $TRIB_EXIT_REQUEUE
  fi
  if [ "$restarts" -ge "$max_restarts" ]; then
    log "giving up after $restarts restart(s): the job ended with $why after ${elapsed} s"
    exit "$rc"
  fi
  restarts=$((restarts + 1))
  if [ "$shrink" = 1 ] && [ "$rc" != $TRIB_EXIT_REQUEUE ]; then
    if [ "$np_index" -lt 0 ]; then
      [ "$restarts" -gt 1 ] || log "--shrink-on-failure: no -np/-n/--np N in the command; keeping the rank count"
    elif [ "$ranks" -gt "$min_ranks" ]; then
      ranks=$((ranks - 1))
    fi
  fi
  build_relaunch
  log "restart $restarts of at most $max_restarts: the job ended with $why after ${elapsed} s;" \
    "relaunching${ranks:+ with $ranks rank(s)}: $(quoted "${cmd[@]}")"
  if [ "$delay" != 0 ]; then
    sleep "$delay" &
    sleeper=$!
    wait "$sleeper" 2>/dev/null # a forwarded signal ends the wait early
    kill "$sleeper" 2>/dev/null
  fi
  if [ -n "$stop_requested" ]; then
    log "stop requested (SIG$stop_requested) before the relaunch; exiting $TRIB_EXIT_REQUEUE (requeue)"
    exit $TRIB_EXIT_REQUEUE
  fi
done
