#!/usr/bin/env bash
# plot.sh FILE.csv [OUTDIR]: test RMSE against wall time from benchmarks/ps/run.sh's ps-rmse-time.csv.
#
# Writes NAME.png next to the CSV (or into OUTDIR): one panel without and one with the straggler, a
# line per run (label), x = seconds since the start of training (training and evaluation, summed
# over epochs), y = test RMSE after each epoch.  The CSV's columns:
# label,epoch,elapsed_s,test_rmse,ratings_per_s.
set -euo pipefail
usage() { echo "usage: $0 FILE.csv [OUTDIR]  (writes NAME.png)" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
case $1 in -h|--help) echo "usage: $0 FILE.csv [OUTDIR]  (writes NAME.png)"; exit 0;; esac
csv=$1
[ -r "$csv" ] || { echo "plot.sh: cannot read $csv" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
[[ $(head -1 "$csv") == "label,epoch,elapsed_s,test_rmse,ratings_per_s" ]] ||
  { echo "plot.sh: $csv is not a benchmarks/ps/run.sh CSV (column header missing)" >&2; exit 1; }
outdir=${2:-$(dirname "$csv")}
mkdir -p "$outdir"
name=$(basename "$csv" .csv)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One data file per label, in the CSV's order; the list of labels with and without "straggler".
awk -F, -v dir="$tmp" 'NR > 1 {
    if (!($1 in seen)) { seen[$1] = ++n; print $1 > (dir "/labels") }
    print $3, $4 > (dir "/" seen[$1] ".dat") }' "$csv"
plots() { # plots WANT: the gnuplot plot list of the labels that do (1) or do not (0) name a straggler
  local want=$1 i=0 list="" label
  while IFS= read -r label; do
    i=$((i + 1))
    has=0; [[ $label == *straggler* ]] && has=1
    [[ $has == "$want" ]] || continue
    list+="${list:+, }'$tmp/$i.dat' using 1:2 with linespoints title '${label//\'/}'"
  done <"$tmp/labels"
  echo "$list"
}
without=$(plots 0) with=$(plots 1)
{
  echo "set terminal pngcairo size 1400,560 noenhanced"
  echo "set output '$outdir/$name.png'"
  echo "set multiplot layout 1,2"
  echo "set grid; set xlabel 'wall seconds since the start of training'; set ylabel 'test RMSE'; set key top right"
  [[ -n $without ]] && echo "set title 'no straggler'; plot $without"
  [[ -n $with ]] && echo "set title 'worker 0 sleeps 4x its SGD time (--straggler 0:4)'; plot $with"
  echo "unset multiplot"
} >"$tmp/plot.gp"
gnuplot "$tmp/plot.gp"
echo "$outdir/$name.png"
