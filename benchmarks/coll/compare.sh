#!/usr/bin/env bash
# compare.sh FILE.csv [ALGO] [BASE]: a Markdown table comparing ALGO (default auto) with BASE
# (default mpi) and with the fastest algorithm at each size, from a trib-bench allreduce CSV.
#
# Columns: size | ALGO median us | BASE median us | BASE/ALGO | fastest (median) | ALGO/fastest |
#          ring busbw GB/s | ring busbw / link (when the CSV has bound_ratio: link from the options line)
# All ratios use the median iteration time (of the slowest rank), as trib-bench's '*' does.
# A last line, "Measured: ...", counts the sizes that meet each target of benchmarks/RESULTS.md.
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
      # figures for the targets of RESULTS.md (ratios of medians)
      if (a > 0 && m > 0) {
        x = m / a
        if (b >= 16384 && b <= 16777216) { mid_n++; if (x >= 1.5) mid_ok++ }
        if (b <= 8192) small[++small_n] = x
        all_n++; if (x < 0.9) { low_n++; low = low " " human(b) }
        if (b >= 1048576) { big_n++; if (x > 1) big_ok++ }
        near_n++; if (a / med[b, "best"] <= 1.1) near_ok++
      }
      if (link > 0 && b >= 16777216 && busbw[b, "ring"] != "") ringlink = ringlink sprintf(" %s: %.2f", human(b), busbw[b, "ring"] / link)
    }
    for (i = 1; i <= small_n; i++) for (j = i + 1; j <= small_n; j++) if (small[j] < small[i]) { t = small[i]; small[i] = small[j]; small[j] = t }
    med_small = small_n == 0 ? "-" : small_n % 2 ? sprintf("%.2f", small[(small_n + 1) / 2]) : sprintf("%.2f", (small[small_n / 2] + small[small_n / 2 + 1]) / 2)
    printf "\nMeasured: %s/%s >= 1.5 at %d of %d sizes from 16K to 16M; median %s/%s over 8 B-8 KiB: %s; below 0.9 at %d of %d sizes%s; %s within 1.1x of the fastest at %d of %d sizes; %s faster than %s at %d of %d sizes >= 1M", base, algo, mid_ok, mid_n, base, algo, med_small, low_n, all_n, low_n ? " (" substr(low, 2) ")" : "", algo, near_ok, near_n, algo, base, big_ok, big_n
    if (ringlink != "") printf "; ring busbw / link at >= 16M:%s", ringlink
    print "."
  }' "$csv"
