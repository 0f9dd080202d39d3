#!/usr/bin/env bash
# messages.sh (issue 14, item 10): messages say what is wrong, once.  Before: an error wrapped in its
# own context read the buffer it was writing ("longline4.csv:2: longline4.csv:2: ...", "--exclude-rated
# X: --exclude-rated X: ..."), and `--lr 1e9` said "'1e9' is not a number >= 0" while the limit is 1e6.
source "$(dirname "$0")/lib.sh"
# once OUT NEEDLE: NEEDLE occurs exactly once in file OUT
once() {
  local n
  n=$(grep -oF -- "$2" "$1" | wc -l)
  ((n == 1)) || fail "'$2' occurs $n times in: $(cat "$1")"
}
# refused LOG CMD...: CMD fails (its output in LOG)
refused() {
  local log=$1 rc=0
  shift
  "$@" >"$log" 2>&1 || rc=$?
  ((rc != 0)) || fail "exit 0: $*: $(cat "$log")"
}
# 1. an id longer than 4096 bytes on line 2 of a CSV with string ids (convert)
{
  echo "a,1,3"
  printf '%05000d,2,4\n' 7 | tr 0 b
} >longline.csv
refused long.log "$bin/trib-data" convert --format csv --input longline.csv --output out
once long.log "longline.csv:2: "
grep -q "id longer than 4096 bytes" long.log || fail "long id: $(cat long.log)"
echo "long id: $(cat long.log)"
# 2. trib-recommend --exclude-rated with a missing dataset
make_data
train --k 4 --epochs 1 --model-out "$work/m.h5" >train.log 2>&1 || fail "training: $(cat train.log)"
refused excl.log "$bin/trib-recommend" --model m.h5 --users 0 --top 3 --exclude-rated nothere
once excl.log "--exclude-rated"
echo "exclude-rated: $(grep -m1 -- --exclude-rated excl.log)"
# 3. --lr beyond its limit names the limit
refused lr.log "$bin/trib-train" --train all --lr 1e9
grep -q "1e+06\|1e6\|1000000" lr.log || fail "--lr 1e9: the limit is not named: $(cat lr.log)"
once lr.log "1e9"
echo "lr: $(grep -m1 1e9 lr.log)"
echo PASS
