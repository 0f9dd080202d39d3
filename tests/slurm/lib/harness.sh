# harness.sh: a real, throw-away Slurm cluster on this one host, for tests.
#
# Source it from a bash test script (set -euo pipefail is fine), then:
#
#   trib_slurm_up [NODES]        start munged + slurmctld + NODES slurmd (1 or 2) from a
#                                fresh temporary directory and wait until every node is idle.
#                                Installs an EXIT/INT/TERM trap that always tears down.
#   trib_slurm_submit ARGS...    sbatch --parsable ARGS...; prints the job id.
#   trib_slurm_wait ID [SECS]    poll `scontrol show job` until the job reaches a final state
#                                (COMPLETED, FAILED, ...); prints that state; returns 1 on timeout.
#   trib_slurm_wait_state ID STATE [SECS]   poll until the job is in STATE (e.g. RUNNING).
#   trib_slurm_field ID NAME     one field of `scontrol show job -o` (JobState, Restarts, ExitCode...).
#   trib_slurm_down              cancel every job, stop the daemons by PID (TERM, then KILL),
#                                kill any process still tagged with this cluster, remove the
#                                temporary directory. Idempotent; run by the trap.
#   trib_slurm_check_clean       fails (returns 1) if any process started by this cluster is left.
#
# A test that runs longer than TRIB_SLURM_DEADLINE seconds (default 800) is sent SIGTERM by a
# watchdog, so it still tears down: a ctest timeout kills with SIGKILL, which no trap can catch.
# Keep the ctest TIMEOUT above the deadline.
#
# After trib_slurm_up: SLURM_CONF is exported (every client command uses it), TRIB_SLURM_DIR is
# the temporary directory (TRIB_SLURM_DIR/work is a scratch directory for the test's jobs) and
# TRIB_SLURM_NODES lists the node names (n1, n2).
#
# How processes are accounted for: every daemon is started with TRIB_SLURM_TAG=<dir> in its
# environment, and trib_slurm_submit passes the same tag into each job, so slurmstepd and every
# job process inherit it. "Left over" means: a process whose environment carries the tag. The
# daemons themselves are stopped by the PIDs in their pid files, never by name.
#
# Configuration choices (verified on Debian 12, Slurm 22.05, Open MPI 4.1):
#  - SlurmctldHost must equal `hostname -s`; nodes are n1/n2 at 127.0.0.1 with their own ports
#    (two slurmd on one host: per-node %n spool, pid, log and TmpFS paths).
#  - munge runs on a private socket (directory mode 0755); cred_expire=5 keeps the delay before
#    a requeued job starts again at a few seconds instead of minutes.
#  - SlurmdParameters=config_overrides lets each node advertise 4 CPUs on a 2-core machine.
#  - Ports are picked at random among free ones, so a cluster never collides with a site's Slurm.
#  - MpiDefault=pmix: `srun --mpi=pmix` is what launches Open MPI ranks (pmi2/none do not).

TRIB_SLURM_DIR=${TRIB_SLURM_DIR:-}
TRIB_SLURM_NODES=()
TRIB_SLURM_PIDFILES=()
TRIB_SLURM_CPUS=${TRIB_SLURM_CPUS:-4}

trib_slurm_log() { printf '[slurm-harness %s] %s\n' "$(date +%T)" "$*" >&2; }

# Fails at once, with the reason, when this machine cannot run the harness.
trib_slurm_preflight() {
  local missing=() c
  for c in munged mungekey slurmctld slurmd sbatch scontrol squeue sinfo srun scancel sacct; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
  if ((${#missing[@]})); then
    trib_slurm_log "FAIL: missing ${missing[*]} (install: apt-get install --no-install-recommends slurmctld slurmd slurm-client munge)"
    return 1
  fi
  if [[ $(id -u) -ne 0 ]]; then
    trib_slurm_log "FAIL: the Slurm harness runs its daemons as root (SlurmUser=root); run as root"
    return 1
  fi
}

# A port nobody listens on, with the next $1-1 ports free too.
trib_slurm_free_ports() {
  local n=$1 base p ok tries=0 used
  used=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
  while ((tries++ < 200)); do
    base=$((20000 + RANDOM % 30000))
    ok=1
    for ((p = base; p < base + n; p++)); do
      if grep -qx "$p" <<<"$used"; then ok=0; break; fi
    done
    ((ok)) && { echo "$base"; return 0; }
  done
  return 1
}

trib_slurm_write_conf() {
  local d=$1 nnodes=$2 ctlport=$3 host node i
  host=$(hostname -s)
  {
    echo "# Throw-away test cluster written by tests/slurm/lib/harness.sh"
    echo "ClusterName=trib"
    echo "SlurmctldHost=${host}(127.0.0.1)"
    echo "SlurmctldPort=${ctlport}"
    echo "SlurmUser=root"
    echo "SlurmdUser=root"
    echo "AuthType=auth/munge"
    echo "CredType=cred/munge"
    echo "AuthInfo=socket=${d}/munge/munge.socket,cred_expire=5"
    echo "MailProg=/bin/true"
    echo "ProctrackType=proctrack/linuxproc"
    echo "TaskPlugin=task/none"
    echo "JobAcctGatherType=jobacct_gather/none"
    echo "SelectType=select/cons_tres"
    echo "SelectTypeParameters=CR_Core"
    echo "SchedulerParameters=bf_interval=1,sched_interval=1"
    echo "MpiDefault=pmix"
    echo "ReturnToService=2"
    echo "AccountingStorageType=accounting_storage/none"
    echo "JobCompType=jobcomp/filetxt"
    echo "JobCompLoc=${d}/jobcomp.txt"
    echo "StateSaveLocation=${d}/state"
    echo "SlurmdSpoolDir=${d}/spool-%n"
    echo "SlurmctldPidFile=${d}/slurmctld.pid"
    echo "SlurmdPidFile=${d}/slurmd-%n.pid"
    echo "SlurmctldLogFile=${d}/slurmctld.log"
    echo "SlurmdLogFile=${d}/slurmd-%n.log"
    echo "SlurmdParameters=config_overrides"
    echo "TmpFS=${d}/tmp-%n"
    # Short timers: a killed job's processes get 5 s after SIGTERM; completed jobs stay
    # visible to `scontrol show job` for 5 minutes (the tests read their final state).
    echo "KillWait=5"
    echo "MinJobAge=300"
    echo "InactiveLimit=0"
    echo "SlurmdTimeout=30"
    echo "MessageTimeout=10"
    for ((i = 1; i <= nnodes; i++)); do
      node=n$i
      echo "NodeName=${node} NodeAddr=127.0.0.1 NodeHostname=${host} Port=$((ctlport + i)) CPUs=${TRIB_SLURM_CPUS} RealMemory=1000 State=UNKNOWN"
    done
    echo "PartitionName=debug Nodes=$(IFS=,; echo "${TRIB_SLURM_NODES[*]}") Default=YES MaxTime=INFINITE State=UP"
  } >"$d/slurm.conf"
}

# Waits up to $2 seconds for pid file $1 to name a live process; records it in TRIB_SLURM_DAEMON_PIDS.
trib_slurm_wait_pidfile() {
  local f=$1 secs=$2 i pid
  for ((i = 0; i < secs * 10; i++)); do
    if [[ -s $f ]]; then
      pid=$(tr -dc 0-9 <"$f")
      if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        TRIB_SLURM_DAEMON_PIDS="${TRIB_SLURM_DAEMON_PIDS:-} $pid"
        return 0
      fi
    fi
    sleep 0.1
  done
  return 1
}

trib_slurm_up() {
  local nnodes=${1:-1} d ctlport node i state all
  trib_slurm_preflight || return 1
  ((nnodes >= 1 && nnodes <= 2)) || { trib_slurm_log "FAIL: 1 or 2 nodes, not $nnodes"; return 1; }
  d=$(mktemp -d /tmp/trib-slurm.XXXXXX)
  TRIB_SLURM_DIR=$d
  trap 'trib_slurm_down' EXIT
  trap 'trib_slurm_log "interrupted"; exit 130' INT TERM HUP
  trap 'trib_slurm_log "command failed (exit $?, line $LINENO): $BASH_COMMAND"' ERR
  chmod 0755 "$d"
  mkdir -p "$d/munge" "$d/state" "$d/work"
  chmod 0755 "$d/munge"
  TRIB_SLURM_NODES=()
  for ((i = 1; i <= nnodes; i++)); do
    TRIB_SLURM_NODES+=("n$i")
    mkdir -p "$d/spool-n$i" "$d/tmp-n$i"
  done
  ctlport=$(trib_slurm_free_ports $((nnodes + 1))) || { trib_slurm_log "FAIL: no free ports"; return 1; }
  trib_slurm_write_conf "$d" "$nnodes" "$ctlport"
  export SLURM_CONF=$d/slurm.conf
  # Client commands must not pick up a site's settings for a different cluster.
  unset SLURM_JOB_ID SLURM_JOBID SLURM_JOB_NODELIST SLURM_NODELIST SQUEUE_FORMAT SBATCH_PARTITION

  trib_slurm_start_watchdog "${TRIB_SLURM_DEADLINE:-800}"
  trib_slurm_log "starting munged + slurmctld + ${nnodes} slurmd in $d (ports ${ctlport}-$((ctlport + nnodes)))"
  mungekey --create --keyfile="$d/munge/munge.key" --force >/dev/null 2>&1 ||
    { trib_slurm_log "FAIL: mungekey"; return 1; }
  chmod 0400 "$d/munge/munge.key"
  TRIB_SLURM_PIDFILES+=("$d/munge/munged.pid")
  TRIB_SLURM_TAG=$d munged --socket="$d/munge/munge.socket" --key-file="$d/munge/munge.key" \
    --pid-file="$d/munge/munged.pid" --log-file="$d/munge/munged.log" --seed-file="$d/munge/munged.seed" \
    --force >/dev/null 2>&1 || { trib_slurm_log "FAIL: munged did not start"; cat "$d/munge/munged.log" >&2; return 1; }
  trib_slurm_wait_pidfile "$d/munge/munged.pid" 10 || { trib_slurm_log "FAIL: munged pid"; return 1; }

  TRIB_SLURM_PIDFILES+=("$d/slurmctld.pid")
  TRIB_SLURM_TAG=$d slurmctld -f "$SLURM_CONF" -i >/dev/null 2>&1 </dev/null ||
    { trib_slurm_log "FAIL: slurmctld did not start"; trib_slurm_dump_logs; return 1; }
  trib_slurm_wait_pidfile "$d/slurmctld.pid" 20 ||
    { trib_slurm_log "FAIL: slurmctld pid"; trib_slurm_dump_logs; return 1; }
  for node in "${TRIB_SLURM_NODES[@]}"; do
    TRIB_SLURM_PIDFILES+=("$d/slurmd-$node.pid")
    TRIB_SLURM_TAG=$d slurmd -f "$SLURM_CONF" -N "$node" >/dev/null 2>&1 </dev/null ||
      { trib_slurm_log "FAIL: slurmd $node did not start"; trib_slurm_dump_logs; return 1; }
    trib_slurm_wait_pidfile "$d/slurmd-$node.pid" 20 ||
      { trib_slurm_log "FAIL: slurmd $node pid"; trib_slurm_dump_logs; return 1; }
  done

  for ((i = 0; i < 600; i++)); do
    all=1
    for node in "${TRIB_SLURM_NODES[@]}"; do
      state=$(sinfo -h -n "$node" -o %t 2>/dev/null || true)
      [[ $state == idle ]] || { all=0; break; }
    done
    ((all)) && break
    sleep 0.1
  done
  if ((!all)); then
    trib_slurm_log "FAIL: nodes not idle after 60 s"; sinfo >&2 || true; trib_slurm_dump_logs; return 1
  fi
  trib_slurm_log "cluster up: $(sinfo -h -o '%P %D %t %N' | tr '\n' ' ')"
}

# Sends SIGTERM to this test after $1 seconds (checked twice a second, so nothing lingers).
TRIB_SLURM_WATCHDOG=
trib_slurm_start_watchdog() {
  local secs=$1 me=$$
  (
    trap - EXIT INT TERM HUP
    for ((i = 0; i < secs * 2; i++)); do
      sleep 0.5
      kill -0 "$me" 2>/dev/null || exit 0
    done
    echo "[slurm-harness] deadline of ${secs}s reached: stopping the test" >&2
    kill -TERM "$me"
  ) &
  TRIB_SLURM_WATCHDOG=$!
}

trib_slurm_submit() {
  # The tag lets trib_slurm_check_clean recognise every process of the job.
  TRIB_SLURM_TAG=$TRIB_SLURM_DIR sbatch --parsable "$@" | cut -d';' -f1
}

trib_slurm_field() {
  scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
}

trib_slurm_wait_state() {
  local id=$1 want=$2 secs=${3:-60} start=$SECONDS st
  while ((SECONDS - start < secs)); do
    st=$(trib_slurm_field "$id" JobState)
    [[ $st == "$want" ]] && return 0
    sleep 0.2
  done
  trib_slurm_log "job $id not $want after ${secs}s (state ${st:-unknown})"
  return 1
}

trib_slurm_wait() {
  local id=$1 secs=${2:-120} start=$SECONDS st=
  while ((SECONDS - start < secs)); do
    st=$(trib_slurm_field "$id" JobState)
    case $st in
      COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE)
        echo "$st"; return 0 ;;
    esac
    sleep 0.3
  done
  trib_slurm_log "job $id still ${st:-unknown} after ${secs}s"
  echo "${st:-UNKNOWN}"
  return 1
}

trib_slurm_dump_logs() {
  local f
  [[ -n $TRIB_SLURM_DIR && -d $TRIB_SLURM_DIR ]] || return 0
  # the jobs' own output first (what a job printed before it failed), then the daemons'
  for f in "$TRIB_SLURM_DIR"/work/*.out "$TRIB_SLURM_DIR"/slurmctld.log "$TRIB_SLURM_DIR"/slurmd-*.log \
    "$TRIB_SLURM_DIR"/munge/munged.log; do
    [[ -f $f ]] || continue
    echo "---- last lines of ${f#"$TRIB_SLURM_DIR"/}" >&2
    tail -n 25 "$f" >&2
  done
}

# PIDs of live processes whose environment carries this cluster's tag (not this shell).
trib_slurm_tagged_pids() {
  local tag="TRIB_SLURM_TAG=$TRIB_SLURM_DIR" p pid
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    if tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qxF "$tag"; then
      # Zombies are already dead; their parent reaps them.
      [[ $(awk '{print $3}' "$p/stat" 2>/dev/null) == Z ]] && continue
      echo "$pid"
    fi
  done
}

# Sends $1 to every pid in the pid files (daemons) and waits up to $2 s for them to go.
trib_slurm_stop_pids() {
  local sig=$1 secs=$2 f pid pids=() i alive
  for f in "${TRIB_SLURM_PIDFILES[@]}"; do
    [[ -s $f ]] || continue
    pid=$(tr -dc 0-9 <"$f")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && pids+=("$pid")
  done
  ((${#pids[@]})) || return 0
  kill "-$sig" "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || return 0
    sleep 0.1
  done
  return 1
}

TRIB_SLURM_DOWN_DONE=0
trib_slurm_down() {
  local rc=$? i jobs pids node
  ((TRIB_SLURM_DOWN_DONE)) && return "$rc"
  TRIB_SLURM_DOWN_DONE=1
  [[ -n $TRIB_SLURM_DIR && -d $TRIB_SLURM_DIR ]] || return "$rc"
  trap - INT TERM HUP
  if ((rc != 0)) && [[ -z ${TRIB_SLURM_QUIET_FAIL:-} ]]; then
    trib_slurm_log "test failed (exit $rc): daemon logs follow"
    trib_slurm_dump_logs
  fi
  # 1. Jobs first: a running job's slurmstepd outlives its slurmd. Cancel until none is left
  #    (a job script may requeue itself while it is being cancelled).
  if [[ -n ${SLURM_CONF:-} ]] && [[ -s $TRIB_SLURM_DIR/slurmctld.pid ]]; then
    for ((i = 0; i < 200; i++)); do
      jobs=$(timeout 5 squeue -h -o %A 2>/dev/null | tr '\n' ' ' || true)
      [[ -z ${jobs// /} ]] && break
      if ((i % 20 == 0)); then
        trib_slurm_log "cancelling jobs: $jobs"
        # shellcheck disable=SC2086
        timeout 10 scancel $jobs 2>/dev/null || true
      fi
      sleep 0.1
    done
  fi
  # 2. Daemons by PID: slurmd, then slurmctld, then munged (pid files in that order reversed).
  local files=("${TRIB_SLURM_PIDFILES[@]}") rev=()
  for ((i = ${#files[@]} - 1; i >= 0; i--)); do rev+=("${files[i]}"); done
  TRIB_SLURM_PIDFILES=("${rev[@]}")
  if ! trib_slurm_stop_pids TERM 15; then
    trib_slurm_log "daemons did not stop on SIGTERM; sending SIGKILL"
    trib_slurm_stop_pids KILL 5 || true
  fi
  # 3. Anything else this cluster started (job processes, slurmstepd) by PID.
  pids=$(trib_slurm_tagged_pids | tr '\n' ' ')
  if [[ -n ${pids// /} ]]; then
    trib_slurm_log "killing leftover processes: $pids"
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.5
  fi
  TRIB_SLURM_REMAINING=$(trib_slurm_tagged_pids | tr '\n' ' ')
  rm -rf "$TRIB_SLURM_DIR"
  if [[ -n $TRIB_SLURM_WATCHDOG ]]; then
    kill "$TRIB_SLURM_WATCHDOG" 2>/dev/null || true
    wait "$TRIB_SLURM_WATCHDOG" 2>/dev/null || true
    TRIB_SLURM_WATCHDOG=
  fi
  trib_slurm_log "cluster down; removed $TRIB_SLURM_DIR"
  return "$rc"
}

# After trib_slurm_down: every daemon and job process is gone, and the directory too.
trib_slurm_check_clean() {
  local pid bad=0
  if [[ -n ${TRIB_SLURM_REMAINING// /} ]]; then
    trib_slurm_log "FAIL: processes left after teardown: $TRIB_SLURM_REMAINING"; bad=1
  fi
  for pid in ${TRIB_SLURM_DAEMON_PIDS:-}; do
    if kill -0 "$pid" 2>/dev/null; then trib_slurm_log "FAIL: daemon pid $pid still alive"; bad=1; fi
  done
  if [[ -n $(trib_slurm_tagged_pids) ]]; then
    trib_slurm_log "FAIL: tagged processes alive: $(trib_slurm_tagged_pids | tr '\n' ' ')"; bad=1
  fi
  if [[ -e $TRIB_SLURM_DIR ]]; then trib_slurm_log "FAIL: $TRIB_SLURM_DIR not removed"; bad=1; fi
  ((bad == 0)) && trib_slurm_log "clean: no daemon or job process left, temporary directory removed"
  return $bad
}
