#!/usr/bin/env bash
# plot.sh FILE.csv [OUTDIR]: plots a trib-bench allreduce CSV with gnuplot.
#
# Writes two PNGs next to the CSV (or into OUTDIR):
#   NAME-time.png   mean time (avg over ranks) vs message size, one line per algorithm, log-log
#   NAME-busbw.png  bus bandwidth vs message size, one line per algorithm, log-log
# When the CSV has bound_ratio (trib-bench --link-rate), the physical bound
# max(2(p-1)/p n/rate, ceil(log2 p) delay) is drawn as a dashed black line.
# The title names the rank count, the MPI library and the options (from the CSV's '#' header).
set -euo pipefail

usage() { echo "usage: $0 FILE.csv [OUTDIR]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
case $1 in -h|--help) echo "usage: $0 FILE.csv [OUTDIR]  (writes NAME-time.png and NAME-busbw.png)"; exit 0;; esac
csv=$1
[ -r "$csv" ] || { echo "plot.sh: cannot read $csv" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
outdir=${2:-$(dirname "$csv")}
mkdir -p "$outdir"
name=$(basename "$csv" .csv)
header='ranks,bytes,count,type,op,algo,iters,time_us_min,time_us_avg,time_us_max,time_us_median,time_us_p90,algbw_gbs,busbw_gbs,bound_ratio,errors'
grep -qx "$header" "$csv" || { echo "plot.sh: $csv is not a trib-bench allreduce CSV (column header missing)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One data file per algorithm (bytes time_us busbw), in the CSV's order, and one for the bound.
awk -F, -v dir="$tmp" '
  /^#/ || $1 == "ranks" { next }
  {
    algo = $6
    if (!(algo in seen)) { seen[algo] = ++n; order[n] = algo }
    f = dir "/algo" seen[algo] ".dat"
    print $2, $9, $14 > f
    if ($15 != "" && $15 > 0 && !($2 in bound)) {
      bound[$2] = 1
      print $2, $9 / $15, $14 * $15 > (dir "/bound.dat")
    }
  }
  END { for (i = 1; i <= n; i++) print order[i] > (dir "/algos.txt") }' "$csv"
[ -s "$tmp/algos.txt" ] || { echo "plot.sh: $csv has no data rows" >&2; exit 1; }

ranks=$(sed -n 's/^# ranks: //p' "$csv" | head -1)
mpi=$(sed -n 's/^# mpi_library: //p' "$csv" | head -1)
opts=$(sed -n 's/^# options: //p' "$csv" | head -1 | sed 's/--algo [^ ]* //; s/--iters [^ ]* --warmup [^ ]* //')
title="trib-bench allreduce, ${ranks:-?} ranks, ${mpi:-MPI}"
subtitle=$(echo "$opts" | sed 's/"/\\"/g; s/_/\\\\_/g')

plot_cmd() { # plot_cmd COLUMN
  local col=$1 i=1 cmd="plot "
  while read -r algo; do
    cmd+="'$tmp/algo$i.dat' using 1:$col with linespoints lw 2 pt 7 ps 0.8 title '${algo//_/\\_}', "
    i=$((i + 1))
  done <"$tmp/algos.txt"
  if [ -s "$tmp/bound.dat" ]; then
    cmd+="'$tmp/bound.dat' using 1:$col with lines dt 2 lw 2 lc rgb 'black' title 'physical bound', "
  fi
  echo "${cmd%, }"
}

common="set terminal pngcairo size 1100,700 font 'Sans,11'
set datafile separator whitespace
set logscale xy 2
set logscale y 10
set grid xtics ytics mytics lc rgb '#dddddd'
set key outside right top
set xlabel 'message size (bytes)'
set format x '%.0b%B'
set title \"$title\\n{/*0.8 $subtitle}\""

gnuplot <<GP
$common
set output '$outdir/$name-time.png'
set ylabel 'time per allreduce (us, mean over ranks)'
$(plot_cmd 2)
GP
gnuplot <<GP
$common
set output '$outdir/$name-busbw.png'
set ylabel 'bus bandwidth (GB/s) = bytes/time x 2(p-1)/p'
set key outside right top
$(plot_cmd 3)
GP
echo "plot.sh: wrote $outdir/$name-time.png $outdir/$name-busbw.png"
