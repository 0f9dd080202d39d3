#!/usr/bin/env bash
# corrupt_data.sh (issue 14, item 4): corrupt data never trains.  Before: one changed byte inside a
# shard's rating values trained with exit 0 and `trib-data split` copied the damage into two outputs
# that pass `inspect --verify`; a manifest user_counts entry of 1.3e19 also trained.  Now every
# reader checks the rows against the shard fingerprints and the manifest's counts and rating range:
# trib-train (2 and 3 ranks: whole shards and row ranges), split and inspect refuse, naming the file.
source "$(dirname "$0")/lib.sh"
make_data
# patch SRC DST FILE DATASET MODE [INDEX VALUE]: copies dataset SRC to DST with FILE's DATASET changed:
#   flip   the low byte of the first rating strictly inside (min, max): the value moves by one ulp
#   f32    element INDEX becomes the float VALUE          u64  element INDEX becomes the integer VALUE
#   move   one count moves from element INDEX to element INDEX+1 (the sum stays n_ratings)
patch() {
  local src=$1 dst=$2 file=$3 dset=$4
  rm -rf "$dst" && cp -r "$src" "$dst"
  h5dump -d "/$dset" -b LE -o "$work/col.bin" "$src/$file" >/dev/null || fail "h5dump $src/$file /$dset"
  python3 - "$src/$file" "$work/col.bin" "$dst/$file" "${@:5}" <<'PY'
import struct, sys
f = bytearray(open(sys.argv[1], "rb").read())
d = open(sys.argv[2], "rb").read()
at = f.find(d)
assert at >= 0 and f.find(d, at + 1) < 0, "column not found once in the file"
mode = sys.argv[4]
if mode == "flip":
    v = struct.unpack("<%df" % (len(d) // 4), d)
    i = next(i for i, x in enumerate(v) if min(v) < x < max(v))
    f[at + 4 * i] ^= 1
elif mode == "f32":
    struct.pack_into("<f", f, at + 4 * int(sys.argv[5]), float(sys.argv[6]))
elif mode == "u64":
    struct.pack_into("<Q", f, at + 8 * int(sys.argv[5]), int(sys.argv[6]))
else:
    i = int(sys.argv[5])
    a, b = struct.unpack_from("<QQ", f, at + 8 * i)
    assert a > 0
    struct.pack_into("<QQ", f, at + 8 * i, a - 1, b + 1)
open(sys.argv[3], "wb").write(f)
PY
}
# refused NAME EXPECTED CMD...: CMD must fail, print EXPECTED (an extended regex) and create no output
refused() {
  local name=$1 want=$2 rc=0
  shift 2
  "$@" >"$work/$name.log" 2>&1 || rc=$?
  ((rc != 0)) || fail "$name: exit 0 on damaged data: $(tail -3 "$work/$name.log")"
  grep -Eq "$want" "$work/$name.log" || fail "$name: expected /$want/, got: $(cat "$work/$name.log")"
  echo "$name: exit $rc: $(grep -Eo "${want}[^;]*" "$work/$name.log" | head -1)"
}
# the intact data passes everywhere (so what follows fails for the damage, not for the setup)
train --k 4 --epochs 1 >"$work/ok.log" 2>&1 || fail "intact data refused: $(cat "$work/ok.log")"
"$bin/trib-data" split --input "$work/all" --test-fraction 0.1 --seed 7 --train "$work/tr" --test "$work/te" \
  >/dev/null || fail "split of intact data"
split_of() { "$bin/trib-data" split --input "$1" --test-fraction 0.1 --seed 7 --train "$work/t1" --test "$work/t2"; }
train_on() { "$mpiexec" -np "$1" --oversubscribe "$bin/trib-train" --train "$2" --quiet --k 4 --epochs 1; }

# 1. one byte of one rating value (the value stays inside the manifest's range)
patch "$work/all" "$work/flip" shard-00000.h5 rating flip
want="flip/shard-00000.h5: the ratings read do not match the shard's fingerprint"
refused flip_train2 "$want" train_on 2 "$work/flip"
refused flip_train3 "$want" train_on 3 "$work/flip" # 3 ranks, 2 shards: row ranges, summed across ranks
refused flip_split "$want" split_of "$work/flip"
[[ ! -e $work/t1 && ! -e $work/t2 ]] || fail "flip: split left outputs behind: $(ls "$work")"
refused flip_verify "$want" "$bin/trib-data" inspect --verify "$work/flip"
# 2. a rating outside the manifest's range
patch "$work/all" "$work/huge" shard-00001.h5 rating f32 3 1e30
refused range_train "huge/shard-00001.h5: row 3: rating 1e\\+30 outside the manifest's range" train_on 2 "$work/huge"
refused range_split "huge/shard-00001.h5: row 3: rating 1e\\+30 outside" split_of "$work/huge"
# 3. manifest user_counts: one user with 1.3e19 ratings
patch "$work/all" "$work/uc" manifest.h5 user_counts u64 5 13000000000000000000
want="uc/manifest.h5: user_counts\\[5\\] = 13000000000000000000 exceeds n_ratings 8000"
refused counts_train "$want" train_on 2 "$work/uc"
refused counts_split "$want" split_of "$work/uc"
refused counts_inspect "$want" "$bin/trib-data" inspect "$work/uc"
# 4. manifest item_counts: one rating moved from item 3 to item 4 (the totals still add up, the
#    dataset fingerprint does not cover the counts)
patch "$work/all" "$work/ic" manifest.h5 item_counts move 3
want="ic/manifest.h5: item_counts\\[3\\] = [0-9]+ but the shards hold [0-9]+ ratings of that item"
refused move_train "$want" train_on 3 "$work/ic"
refused move_split "$want" split_of "$work/ic"
# 5. manifest user_counts: one rating moved from user 7 to user 8 (each rank checks the users it owns)
patch "$work/all" "$work/uc2" manifest.h5 user_counts move 7
want="uc2/manifest.h5: user_counts\\[[78]\\] = [0-9]+ but the shards hold [0-9]+ ratings of that user"
refused umove_train2 "$want" train_on 2 "$work/uc2"
refused umove_train3 "$want" train_on 3 "$work/uc2"
refused umove_split "$want" split_of "$work/uc2"
# 6. the same move between users of different shards, with the checks off: each rank reads its own row range
#    of every shard, placed by user_counts, so the per-shard sums are checked before any row is read
shard_refusals=0
for i in 0 1 2 3 4 5 6 7 8 9; do
  patch "$work/all" "$work/uc3" manifest.h5 user_counts move $i
  rc=0
  TRIB_DATA_VERIFY=0 train_on 2 "$work/uc3" >"$work/uc3.log" 2>&1 || rc=$?
  if grep -Eq "uc3/manifest.h5: the user_counts of the users hashed to shard [01] add up to [0-9]+ ratings, shard_counts says [0-9]+" "$work/uc3.log"; then
    shard_refusals=$((shard_refusals + 1))
    ((rc != 0)) || fail "move $i: the shard-sum message but exit 0"
  elif ((rc != 0)); then # same shard, different ranks: a row lands in the other rank's range
    grep -Eq "uc3/shard-0000[01].h5: row [0-9]+ holds user [0-9]+, but the manifest's user_counts place rows" \
      "$work/uc3.log" || fail "move $i: unexpected refusal: $(cat "$work/uc3.log")"
  fi
done
((shard_refusals > 0)) || fail "no move between users 0-10 crossed a shard: the shard-sum check never ran"
echo "user_counts moves with TRIB_DATA_VERIFY=0: $shard_refusals of 10 refused by the per-shard sums"
# the off switch skips the fingerprint, never the range check
TRIB_DATA_VERIFY=0 train_on 2 "$work/flip" >"$work/off.log" 2>&1 || fail "TRIB_DATA_VERIFY=0: $(cat "$work/off.log")"
TRIB_DATA_VERIFY=0 refused range_off "rating 1e\\+30 outside" train_on 2 "$work/huge"
echo "PASS"
