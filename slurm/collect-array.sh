#!/bin/bash
# collect-array.sh DIR: (re)builds DIR/table.tsv from the result lines that the tasks of a
# train-array.sbatch run wrote into DIR/results/, whether or not every task has finished, and
# prints it with the best test RMSE. train-array.sbatch does this by itself when its last task
# ends; run this by hand after a task failed or was rerun.
set -euo pipefail
dir=${1:?usage: collect-array.sh DIR (the TRIB_OUT of a train-array.sbatch run)}
shopt -s nullglob
files=("$dir"/results/task-*.tsv)
((${#files[@]})) || { echo "collect-array.sh: no results in $dir/results" >&2; exit 1; }
{
  printf 'task\tk\treg\tepochs\ttrain_rmse\ttest_rmse\ttest_mae\trestarts\tjob\n'
  cat "${files[@]}" | sort -n -k1,1
} >"$dir/.table.tsv.tmp"
mv "$dir/.table.tsv.tmp" "$dir/table.tsv"
column -t -s $'\t' "$dir/table.tsv" 2>/dev/null || cat "$dir/table.tsv"
best=$(tail -n +2 "$dir/table.tsv" | sort -g -t $'\t' -k6,6 | head -1)
echo "${#files[@]} result(s); best test RMSE $(cut -f6 <<<"$best") with k=$(cut -f2 <<<"$best") reg=$(cut -f3 <<<"$best") (task $(cut -f1 <<<"$best"))"
