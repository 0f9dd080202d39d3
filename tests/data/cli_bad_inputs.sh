#!/usr/bin/env bash
# cli_bad_inputs.sh TRIB_DATA: every bad input gives a one-line error naming the
# problem, a non-zero exit, and leaves no output (no DIR, no DIR.tmp-*).
set -u
bin=$1
work=$(mktemp -d /tmp/trib-cli-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0

# expect_fail NAME PATTERN OUTDIR -- command...
expect_fail() {
  local name=$1 pattern=$2 out=$3
  shift 4
  "$@" >stdout.txt 2>stderr.txt
  local rc=$?
  local lines
  lines=$(wc -l <stderr.txt)
  if [[ $rc -eq 0 ]]; then
    echo "FAIL $name: exit status 0"; fails=$((fails + 1))
  elif [[ $lines -ne 1 ]]; then
    echo "FAIL $name: $lines lines on stderr:"; cat stderr.txt; fails=$((fails + 1))
  elif ! grep -q -- "$pattern" stderr.txt; then
    echo "FAIL $name: message lacks '$pattern': $(cat stderr.txt)"; fails=$((fails + 1))
  elif [[ -n $out && ( -e $out || -n $(compgen -G "$out.tmp-*") ) ]]; then
    echo "FAIL $name: output $out left behind"; fails=$((fails + 1))
  else
    echo "ok   $name: $(cat stderr.txt)"
  fi
}

printf '1\t1\t5\t100\n1\t2\t3\t101\n2\t1\t4\t102\n' > good.data
printf '1\t1\t5\t100\n1\t2\tabc\t101\n' > malformed.data
printf '1\t1\t5\t100\n1\t2\tnan\t101\n' > nonfinite.data
: > empty.data
printf '1\t1\t5\t100\n99999999999999999999\t2\t3\t101\n' > overflow.data
printf '1\t1\t5\t100\n1\t2\t3\t101\n1\t1\t4\t102\n' > dup.data
printf '1\t1\t5\n' > fields.data

C="$bin convert --format movielens-100k --shards 2"
expect_fail malformed      "malformed.data:2: rating: not a number 'abc'" o1 -- $C --input malformed.data --output o1
expect_fail non-finite     "nonfinite.data:2: rating: not a finite number 'nan'" o2 -- $C --input nonfinite.data --output o2
expect_fail empty-input    "empty.data: no ratings found" o3 -- $C --input empty.data --output o3
expect_fail id-overflow    "overflow.data:2: user: id overflows" o4 -- $C --input overflow.data --output o4
expect_fail duplicate      "dup.data:3: duplicate rating" o5 -- $C --input dup.data --output o5
expect_fail missing-fields "fields.data:1: expected 4 fields" o6 -- $C --input fields.data --output o6
expect_fail no-input-file  "nosuch.data: No such file" o7 -- $C --input nosuch.data --output o7

# --skip-bad: the malformed line is skipped and counted
if $C --input malformed.data --output skip --skip-bad >/dev/null 2>err.txt && grep -q "skipped 1 bad lines" err.txt; then
  echo "ok   skip-bad: $(cat err.txt)"
else
  echo "FAIL skip-bad"; cat err.txt; fails=$((fails + 1))
fi

# existing dataset refused without --force, replaced with it
$C --input good.data --output ds >/dev/null || { echo "FAIL: good conversion"; fails=$((fails + 1)); }
fp=$($bin inspect --json ds | sed 's/.*"fingerprint":"\([0-9a-f]*\)".*/\1/')
expect_fail existing-dataset "ds already holds a dataset (use --force" "" -- $C --input good.data --output ds
[[ $($bin inspect --json ds | sed 's/.*"fingerprint":"\([0-9a-f]*\)".*/\1/') == "$fp" ]] || { echo "FAIL: ds changed"; fails=$((fails + 1)); }
$C --input good.data --output ds --force --shards 3 >/dev/null && [[ $($bin inspect --json ds | grep -c '"n_shards":3') == 1 ]] \
  && echo "ok   --force replaces the dataset" || { echo "FAIL --force"; fails=$((fails + 1)); }
[[ -z $(compgen -G "ds.tmp-*") ]] || { echo "FAIL: temporary directory left"; fails=$((fails + 1)); }

# broken datasets
make() { rm -rf "$1"; $bin synth --users 50 --items 40 --ratings 600 --shards 3 --seed "${2:-1}" --output "$1" >/dev/null; }
make m; rm m/shard-00002.h5
expect_fail missing-shard "m/shard-00002.h5: shard file missing" "" -- $bin inspect m
make t; truncate -s 2000 t/shard-00001.h5
expect_fail truncated-shard "t/shard-00001.h5" "" -- $bin inspect --verify t
make c; head -c 4000 /dev/urandom > c/shard-00000.h5
expect_fail corrupt-shard "c/shard-00000.h5: not a readable HDF5 file" "" -- $bin inspect --verify c
make a 1; make b 2; cp b/shard-00001.h5 a/shard-00001.h5
expect_fail foreign-shard "a/shard-00001.h5: shard of another dataset" "" -- $bin inspect --verify a
make n; truncate -s 300 n/manifest.h5
expect_fail corrupt-manifest "n/manifest.h5: not a readable HDF5 file" "" -- $bin inspect n
expect_fail not-a-dataset "nowhere: no such dataset directory" "" -- $bin inspect nowhere
mkdir notds
expect_fail no-manifest "notds: no manifest.h5" "" -- $bin inspect notds

# bad options
expect_fail bad-format "unknown format 'xml'" o8 -- $bin convert --format xml --input good.data --output o8
expect_fail bad-shards "--shards: '0'" o9 -- $C --input good.data --output o9 --shards 0
expect_fail synth-too-many "do not fit" o10 -- $bin synth --users 2 --items 2 --ratings 5 --output o10
expect_fail split-fraction "--test-fraction: '1.5'" "" -- $bin split --input ds --test-fraction 1.5 --train x --test y
printf '1,1,5\n1,2,3\n2,1,4\n' > nots.csv
$bin convert --format csv --input nots.csv --output nots >/dev/null
expect_fail split-no-time "nots has no timestamps" "x2" -- $bin split --input nots --test-fraction 0.5 --train x2 --test y2 --by time
expect_fail unknown-command "unknown command 'frobnicate'" "" -- $bin frobnicate

for sub in convert synth split inspect; do
  $bin $sub --help | grep "Usage: trib-data $sub" >/dev/null || { echo "FAIL: $sub --help"; fails=$((fails + 1)); }
done
echo "cli_bad_inputs: $fails failures"
exit $((fails > 0))
