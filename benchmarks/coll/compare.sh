#!/usr/bin/env bash
# compare.sh FILE.csv [ALGO] [BASE]: a Markdown table comparing ALGO (default auto) with BASE
# (default mpi) and with the fastest algorithm at each size, from a trib-bench allreduce CSV.
#
# Columns: size | ALGO median us | BASE median us | BASE/ALGO | fastest (median) | ALGO/fastest |
#          ring busbw GB/s | ring busbw / link (when the CSV has bound_ratio: link from the options line)
# All ratios use the median iteration time (of the slowest rank), as trib-bench's '*' does.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 FILE.csv [ALGO] [BASE]" >&2; exit 2; }
csv=$1 algo=${2:-auto} base=${3:-mpi}
[ -r "$csv" ] || { echo "compare.sh: cannot read $csv" >&2; exit 1; }
rate=$(sed -n 's/^# options: .*--link-rate \([0-9.e+]*\)\([kmg]\{0,1\}\)bit.*/\1 \2/p' "$csv" | head -1)
awk -F, -v algo="$algo" -v base="$base" -v rate="$rate" '
  function human(b) { return b >= 1048576 && b % 1048576 == 0 ? b / 1048576 "M" : b >= 1024 && b % 1024 == 0 ? b / 1024 "K" : b }
  BEGIN {
    split(rate, r, " "); link = r[1] * (r[2] == "g" ? 1e9 : r[2] == "m" ? 1e6 : r[2] == "k" ? 1e3 : 1) / 8 / 1e9
  }
  /^#/ || $1 == "ranks" { next }
  {
    b = $2; if (!(b in seen)) { seen[b] = 1; order[++n] = b }
    med[b, $6] = $11; busbw[b, $6] = $14
    if (!((b, "best") in med) || $11 < med[b, "best"]) { med[b, "best"] = $11; best[b] = $6 }
  }
  END {
    hdr = "| size | " algo " us | " base " us | " base "/" algo " | fastest | " algo "/fastest | ring busbw GB/s |"
    sep = "|---:|---:|---:|---:|:--|---:|---:|"
    if (link > 0) { hdr = hdr " ring busbw/link |"; sep = sep "---:|" }
    print hdr; print sep
    for (i = 1; i <= n; i++) {
      b = order[i]
      a = med[b, algo]; m = med[b, base]
      line = sprintf("| %s | %s | %s | %s | %s (%.1f) | %s | %s |", human(b),
        a == "" ? "-" : sprintf("%.1f", a), m == "" ? "-" : sprintf("%.1f", m),
        (a > 0 && m > 0) ? sprintf("%.2f", m / a) : "-", best[b], med[b, "best"],
        a > 0 ? sprintf("%.2f", a / med[b, "best"]) : "-",
        busbw[b, "ring"] == "" ? "-" : sprintf("%.3f", busbw[b, "ring"]))
      if (link > 0) line = line sprintf(" %s |", busbw[b, "ring"] == "" ? "-" : sprintf("%.2f", busbw[b, "ring"] / link))
      print line
    }
  }' "$csv"
