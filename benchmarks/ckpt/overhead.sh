#!/usr/bin/env bash
# overhead.sh [BUILD_DIR]: the trainer-level checkpoint figures of benchmarks/RESULTS.md
# ("## Checkpoints", "Overhead at the default interval and time to training again").
#
#  1. Overhead: the same training job without checkpoints, with --checkpoint-every 1 (every epoch)
#     and with the default interval (auto), keep 2, durable writes; REPS repetitions, the three
#     interleaved.  Reported per job: the wall time of the job (trib-train's "final: ... (S s)",
#     MPI_Init to the end), and from the job's own log the number of checkpoints and the write
#     time of each ("checkpoint ... written in X ms").
#  2. Time to training again: a job under trib-run loses rank 1 (--fail-at) in epoch 3; trib-run
#     relaunches it with --resume auto.  Every output line is time-stamped as it arrives; the figure
#     is the time from trib-run's "restart 1" line to the relaunched job's "training starts" line
#     (mpirun start, MPI_Init, reading the dataset, the resume itself).  The same job started fresh
#     (no checkpoint) gives the part that is not due to the resume.
#
# Both for sync mode (2 ranks) and ps mode (3 workers + 1 server, bsp).  Environment: REPS (5),
# EPOCHS (100), K (64), PARTS ("overhead relaunch"), DATA (a directory to keep the synthetic
# dataset in; default under BUILD_DIR).
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
bin=$build/bin
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
export OMPI_MCA_rmaps_base_oversubscribe=1
reps=${REPS:-5} epochs=${EPOCHS:-100} k=${K:-64} parts=${PARTS:-overhead relaunch}
data=${DATA:-$build/ckpt-overhead-data}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

if [[ ! -d $data/tr ]]; then
  mkdir -p "$data"
  "$bin/trib-data" synth --users 6040 --items 3706 --ratings 1M --rank 16 --noise 0.5 --seed 7 --shards 4 \
    --output "$data/all" >/dev/null
  "$bin/trib-data" split --input "$data/all" --test-fraction 0.1 --seed 7 --train "$data/tr" --test "$data/te" >/dev/null
fi
echo "# $(date -u +%FT%TZ), $(nproc) cores, load at start: $(load); k $k, $epochs epochs, $reps repetitions"

declare -A np_of=([sync]=2 [ps]=4)
declare -A args_of=([sync]="" [ps]="--mode ps --servers 1 --consistency bsp")
job() { # MODE EXTRA...: one training job, output in $work/log
  local mode=$1
  shift
  # shellcheck disable=SC2086
  mpirun -np "${np_of[$mode]}" "$bin/trib-train" --train "$data/tr" --test "$data/te" --k "$k" \
    --epochs "$epochs" ${args_of[$mode]} "$@"
}
wall() { sed -n 's/^final: .*(\([0-9.]*\) s).*/\1/p' "$1"; }

for mode in sync ps; do
  [[ $parts == *overhead* ]] || break
  for v in plain every1 auto; do : >"$work/$v.wall" && : >"$work/$v.writes" && : >"$work/$v.count"; done
  for ((r = 1; r <= reps; r++)); do
    line="  $mode rep $r:"
    for v in plain every1 auto; do
      rm -rf "$work/ckdir"
      case $v in
        plain) extra=() ;;
        every1) extra=(--checkpoint-dir "$work/ckdir" --checkpoint-every 1) ;;
        auto) extra=(--checkpoint-dir "$work/ckdir") ;; # the default interval
      esac
      job "$mode" "${extra[@]}" >"$work/log" 2>&1 || { cat "$work/log"; exit 1; }
      wall "$work/log" >>"$work/$v.wall"
      sed -n 's/^trib-train: checkpoint .* written in \([0-9.]*\) ms$/\1/p' "$work/log" >"$work/w"
      cat "$work/w" >>"$work/$v.writes"
      grep -c . "$work/w" >>"$work/$v.count" || true
      line+=" $v $(tail -1 "$work/$v.wall") s ($(tail -1 "$work/$v.count") ckpts);"
    done
    echo "$line load $(load)"
  done
  p=$(median <"$work/plain.wall")
  for v in every1 auto; do
    c=$(median <"$work/$v.wall") w=$(median <"$work/$v.writes") n=$(median <"$work/$v.count")
    echo "$mode, ${np_of[$mode]} ranks, --checkpoint-every ${v/every1/1}: job wall time median $c s against $p s" \
      "without checkpoints ($(awk -v a="$c" -v b="$p" 'BEGIN { printf "%+.1f%%", 100 * (a - b) / b }'));" \
      "$n checkpoints per job, write time median $w ms (min $(sort -g "$work/$v.writes" | head -1)," \
      "max $(sort -g "$work/$v.writes" | tail -1)); checkpoints' share of the job (count x median write /" \
      "median wall time): $(awk -v n="$n" -v w="$w" -v b="$c" 'BEGIN { printf "%.1f%%", 100 * n * w / 1000 / b }'); load $(load)"
  done
done

# 2. time to training again
stamp() { while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N)" "$line"; done; }
for mode in sync ps; do
  [[ $parts == *relaunch* ]] || break
  : >"$work/init" && : >"$work/resume" && : >"$work/fresh_init"
  : >"$work/relaunch" && : >"$work/fresh"
  for ((r = 1; r <= reps; r++)); do
    rm -rf "$work/ckdir"
    # shellcheck disable=SC2086
    "$bin/trib-run" --max-restarts 1 --restart-delay 0 -- mpirun -np "${np_of[$mode]}" "$bin/trib-train" \
      --train "$data/tr" --test "$data/te" --k "$k" --epochs 4 ${args_of[$mode]} --checkpoint-dir "$work/ckdir" \
      --checkpoint-every 1 --fail-at "3:1:1" 2>&1 | stamp >"$work/log"
    t_restart=$(awk '/trib-run: restart 1 of/ { print $1; exit }' "$work/log")
    t_train=$(awk -v t="$t_restart" '/training starts at epoch 2/ && $1 > t { print $1; exit }' "$work/log")
    [[ -n $t_restart && -n $t_train ]] || { cat "$work/log"; exit 1; }
    awk -v a="$t_restart" -v b="$t_train" 'BEGIN { printf "%.3f\n", b - a }' >>"$work/relaunch"
    # of which: MPI_Init to training (dataset, trainer, resume) and the resume alone
    sed -n 's/.*training starts at epoch 2 round 0, \([0-9.]*\) s after MPI_Init.*/\1/p' "$work/log" | tail -1 >>"$work/init"
    sed -n 's/.*resumed from .* in \([0-9.]*\) s$/\1/p' "$work/log" | tail -1 >>"$work/resume"
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    mpirun -np "${np_of[$mode]}" "$bin/trib-train" --train "$data/tr" --test "$data/te" --k "$k" --epochs 1 \
      ${args_of[$mode]} 2>&1 | stamp >"$work/log"
    t_train=$(awk '/training starts at epoch 0/ { print $1; exit }' "$work/log")
    sed -n 's/.*training starts at epoch 0 round 0, \([0-9.]*\) s after MPI_Init.*/\1/p' "$work/log" >>"$work/fresh_init"
    awk -v a="$t0" -v b="$t_train" 'BEGIN { printf "%.3f\n", b - a }' >>"$work/fresh"
    echo "  $mode rep $r: relaunch -> training $(tail -1 "$work/relaunch") s (MPI_Init -> training $(tail -1 "$work/init") s," \
      "resume $(tail -1 "$work/resume") s); fresh start -> training $(tail -1 "$work/fresh") s (MPI_Init -> training" \
      "$(tail -1 "$work/fresh_init") s); load $(load)"
  done
  echo "$mode: time from trib-run's relaunch to training again (resumed from the epoch-2 checkpoint): median" \
    "$(median <"$work/relaunch") s (min $(sort -g "$work/relaunch" | head -1), max $(sort -g "$work/relaunch" | tail -1));" \
    "of which MPI_Init -> training $(median <"$work/init") s and the resume itself $(median <"$work/resume") s;" \
    "a fresh start of the same job: median $(median <"$work/fresh") s (MPI_Init -> training $(median <"$work/fresh_init") s);" \
    "load $(load)"
done
