#!/usr/bin/env bash
# preload.sh: plain MPI_Allreduce calls timed with and without libtributary_mpi, the way an
# unmodified MPI program meets the interposition library (LD_PRELOAD at launch, so each
# variant is its own mpirun).  Runs `trib-bench allreduce --algo plain` PAIRS times per
# variant, alternating which goes first, and prints per size the median over runs of each
# run's mean time per call (OSU's latency) and of its median iteration time, and the speed-ups
# (plain MPI / with libtributary_mpi).
#
#   benchmarks/coll/preload.sh [-n NP] [-p PAIRS] [-b BUILD_DIR] [-o OUT_DIR] [-- trib-bench allreduce options]
#   benchmarks/coll/preload.sh -n 2 -p 5 -- --min-bytes 4 --max-bytes 256 --type float --iters 2000
#
# First one short preloaded run with TRIB_LOG_LEVEL=info, so libtributary_mpi logs at
# MPI_Finalize how many calls it served: the script fails if any call was passed through to MPI
# (the benchmark's communicator is MPI_COMM_WORLD, which Tributary serves) or if no call was
# served at all (the preload did not take).  The timed runs leave TRIB_LOG_LEVEL as it is (at
# info level the library also times every call for its summary, which the users who do not ask
# for the summary do not pay).  CSVs and logs stay in OUT_DIR (default: a
# temporary directory, removed at exit unless -o is given).
# MPIRUN (default mpirun) and MPIRUN_ARGS (default --oversubscribe, plus --allow-run-as-root
# as root) can be overridden.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
np=2 pairs=3 build=${TRIB_BUILD_DIR:-$here/../../build} out=
usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    -n) np=${2:?-n needs a rank count}; shift 2 ;;
    -p) pairs=${2:?-p needs a count}; shift 2 ;;
    -b) build=${2:?-b needs a build directory}; shift 2 ;;
    -o) out=${2:?-o needs a directory}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) echo "preload.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $np =~ ^[1-9][0-9]*$ ]] || { echo "preload.sh: -n must be a positive integer, not '$np'" >&2; exit 2; }
[[ $pairs =~ ^[1-9][0-9]*$ ]] || { echo "preload.sh: -p must be a positive integer, not '$pairs'" >&2; exit 2; }
bench=$build/bin/trib-bench
lib=$(ls "$build"/lib/libtributary_mpi.so 2>/dev/null || true)
[[ -x $bench ]] || { echo "preload.sh: no $bench (build first: scripts/setup.sh)" >&2; exit 1; }
[[ -n $lib ]] || { echo "preload.sh: no libtributary_mpi.so in $build/lib" >&2; exit 1; }
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
for a in "$@"; do
  [[ $a == --algo* || $a == --csv* || $a == --json* ]] &&
    { echo "preload.sh: $a is set by the script (--algo plain, one CSV per run)" >&2; exit 2; }
done
if [[ -z $out ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
mpirun=${MPIRUN:-mpirun}
if [[ -z ${MPIRUN_ARGS+x} ]]; then
  MPIRUN_ARGS=--oversubscribe
  ((EUID == 0)) && MPIRUN_ARGS+=" --allow-run-as-root"
fi
read -r -a margs <<<"$MPIRUN_ARGS"

run() { # run VARIANT INDEX [trib-bench options]; VARIANT: mpi, tributary, or served (the check run)
  local v=$1 i=$2 env=()
  shift 2
  [[ $v == tributary ]] && env=(-x "LD_PRELOAD=$lib")
  [[ $v == served ]] && env=(-x "LD_PRELOAD=$lib" -x TRIB_LOG_LEVEL=info)
  "$mpirun" -np "$np" "${margs[@]}" "${env[@]}" "$bench" allreduce --algo plain --quiet \
    --csv "$out/$v-$i.csv" "$@" >"$out/$v-$i.log" 2>&1 ||
    { cat "$out/$v-$i.log" >&2; echo "preload.sh: the $v run $i failed" >&2; exit 1; }
  if [[ $v == served ]]; then
    local line
    line=$(grep -m1 'libtributary_mpi: [0-9]* MPI_Allreduce calls' "$out/$v-$i.log" || true)
    [[ -n $line ]] || { cat "$out/$v-$i.log" >&2; echo "preload.sh: the check run: libtributary_mpi did not report (was it preloaded?)" >&2; exit 1; }
    [[ $line =~ ([0-9]+)\ served.*\ ([0-9]+)\ passed ]] || { echo "preload.sh: cannot read '$line'" >&2; exit 1; }
    ((BASH_REMATCH[1] > 0 && BASH_REMATCH[2] == 0)) ||
      { echo "preload.sh: the check run: $line (expected every call served)" >&2; exit 1; }
    echo "$line" >>"$out/served.txt"
  fi
}
run served 0 "$@" --iters 20
for ((i = 1; i <= pairs; i++)); do
  if ((i % 2)); then order=(mpi tributary); else order=(tributary mpi); fi
  for v in "${order[@]}"; do run "$v" "$i" "$@"; done
done

cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
echo "# plain MPI_Allreduce, $np ranks, $pairs runs per variant (alternating), $(mpirun --version 2>/dev/null | head -1)"
echo "# CPU: $cpu; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# trib-bench options: ${*:-(defaults)}"
echo "# the check run, preloaded at TRIB_LOG_LEVEL=info: $(sed 's/.*libtributary_mpi: //' "$out/served.txt")"
# Per size, the median over runs of two per-run statistics (CSV columns 9 and 11):
#  - the mean time per call (each rank's mean over the iterations, averaged over the ranks): OSU's
#    osu_allreduce latency, the cost of back-to-back calls;
#  - the median iteration time (each iteration taken at its slowest rank). At 2 ranks, back-to-back
#    calls can settle into turns (one rank waits in the even calls, the other in the odd ones), so
#    every iteration has a slow rank and this median reports the slow turn while the mean is lower.
python3 - "$out" "$pairs" <<'EOF'
import csv, glob, os, statistics, sys
out, pairs = sys.argv[1], int(sys.argv[2])
def load(v, col):
    per = {}
    for f in sorted(glob.glob(os.path.join(out, v + "-*.csv"))):
        for row in csv.reader(l for l in open(f) if not l.startswith("#")):
            if row[0] == "ranks":
                continue
            per.setdefault(int(row[1]), []).append(float(row[col]))
    return per
cols = {"mean": 8, "median": 10}
m = {k: load("mpi", c) for k, c in cols.items()}
t = {k: load("tributary", c) for k, c in cols.items()}
print("| bytes | MPI_Allreduce mean us | with libtributary_mpi mean us | speed-up (mean) "
      "| MPI_Allreduce median us | with libtributary_mpi median us | speed-up (median) |")
print("|---:|---:|---:|---:|---:|---:|---:|")
worst = {k: None for k in cols}
for b in sorted(m["mean"]):
    cells = []
    for k in cols:
        a, c = statistics.median(m[k][b]), statistics.median(t[k].get(b, [float("nan")]))
        x = a / c if c > 0 else float("nan")
        worst[k] = x if worst[k] is None or x < worst[k] else worst[k]
        cells += [f"{a:.2f}", f"{c:.2f}", f"{x:.2f}x"]
    print(f"| {b} | " + " | ".join(cells) + " |")
print(f"# slowest speed-up over the sizes: {worst['mean']:.2f}x by the mean, {worst['median']:.2f}x by the median")
EOF
