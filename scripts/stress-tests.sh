#!/usr/bin/env bash
# stress-tests.sh: the whole test suite of scripts/test.sh, several times, beside a background
# load, to find verdicts that depend on timing before they turn a CI run red.
#
#   scripts/stress-tests.sh                 3 rounds x (optimised + sanitizer suite), 2 busy processes
#   ROUNDS=1 LOAD=4 scripts/stress-tests.sh
#   SUITES=opt CTEST_ARGS="-L fault" scripts/stress-tests.sh
#
# The load is LOAD processes spinning on the CPU (`yes > /dev/null`), started before the first
# round and stopped on exit, whatever the exit.  Each ctest run's log goes to
# build/stress/<round>-<suite>.log; the summary lists every failed test with the round and
# suite it failed in, the load average at the end of each run, and the test times that came
# closest to their timeout.  Exit status: 0 when no test failed in any run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
source scripts/suites.sh

rounds=${ROUNDS:-3}
load=${LOAD:-2}
read -r -a suites <<<"${SUITES:-opt asan}"
out=$root/build/stress
for s in "${suites[@]}"; do build_suite "$s"; done
mkdir -p "$out"

pids=()
stop_load() { ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null || true; }
trap stop_load EXIT
for ((i = 0; i < load; i++)); do
  yes >/dev/null &
  pids+=($!)
done

cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
echo "stress: $rounds round(s) of ${suites[*]} beside $load busy processes on $(nproc) cores ($cpu)"
start=$(date +%s)
summary=$out/summary.txt
: >"$summary"
failed_runs=0
for ((r = 1; r <= rounds; r++)); do
  for s in "${suites[@]}"; do
    log=$out/$r-$s.log
    t0=$(date +%s)
    set +e
    run_suite "$s" >"$log" 2>&1
    rc=$?
    set -e
    line=$(grep -E '^[0-9]+% tests passed' "$log" | tail -1 || true)
    printf 'round %d %-4s %4d s  load %s  %s\n' "$r" "$s" $(( $(date +%s) - t0 )) \
      "$(cut -d' ' -f1-3 /proc/loadavg)" "${line:-no summary (ctest exit $rc)}" | tee -a "$summary"
    ((rc == 0)) || failed_runs=$((failed_runs + 1))
    # "  12 - name (Failed)" lines after "The following tests FAILED:"
    sed -n '/The following tests FAILED/,$p' "$log" | sed -n 's/^[[:space:]]*[0-9]* - \(.*\)$/\1/p' |
      while read -r t; do echo "  FAILED round $r $s: $t" | tee -a "$summary"; done
  done
done

echo
echo "== slowest tests relative to their timeout (last round of each suite)"
for s in "${suites[@]}"; do
  log=$out/$rounds-$s.log
  [[ -f $log ]] || continue
  python3 - "$(suite_dir "$s")" "$s" "$log" <<'PY'
import json, re, subprocess, sys
d, s, log = sys.argv[1:]
# the round's ctest output: "  12/174 Test  #12: NAME ......   Passed   1.23 sec"
txt = open(log, errors="replace").read()
times = {m.group(1): float(m.group(2))
         for m in re.finditer(r'Test +#\d+: (\S+) \.*.*?([0-9.]+) sec', txt)}
info = json.loads(subprocess.run(["ctest", "--show-only=json-v1"], cwd=d, capture_output=True, text=True).stdout)
timeouts = {}
for t in info.get("tests", []):
    for p in t.get("properties", []):
        if p["name"] == "TIMEOUT":
            timeouts[t["name"]] = float(p["value"])
rows = sorted(((times[n] / timeouts[n], n, times[n], timeouts[n]) for n in times if n in timeouts), reverse=True)[:5]
for frac, n, t, lim in rows:
    print(f"  {s:4s} {n:40s} {t:7.1f} s of {lim:5.0f} s ({100 * frac:.0f}%)")
PY
done
echo
echo "stress: $failed_runs of $((rounds * ${#suites[@]})) runs had failures, $(( $(date +%s) - start )) s in all"
grep FAILED "$summary" | sed 's/^ *FAILED round [0-9]* //' | sort | uniq -c | sed 's/^/  /' || true
exit $((failed_runs > 0))
