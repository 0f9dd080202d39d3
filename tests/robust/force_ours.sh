#!/usr/bin/env bash
# force_ours.sh (issue 14, item 6): --force never deletes what is not ours.  A directory holding a
# file named manifest.h5 plus an unrelated work.c (before: replaced by convert --force, work.c
# deleted), or a real dataset with an extra file next to its shards, is refused even with
# --force and left as it was; a directory that is entirely a dataset is still replaced.
source "$(dirname "$0")/lib.sh"
tiny_data good.data
C=("$bin/trib-data" convert --format movielens-100k --shards 2 --input good.data)
"${C[@]}" --output ds >/dev/null || fail "convert"
# a) manifest.h5 (a real one) next to work.c
mkdir x && cp ds/manifest.h5 x/ && echo 'int main(void) { return 0; }' >x/work.c
rc=0
"${C[@]}" --output x --force >a.log 2>&1 || rc=$?
((rc != 0)) || fail "a) convert --force replaced a directory holding work.c"
[[ -f x/work.c && -f x/manifest.h5 ]] || fail "a) the directory was changed: $(ls x)"
grep -q "x holds 'work.c', which is not a file of the dataset there" a.log || fail "a) message: $(cat a.log)"
echo "a) exit $rc: $(grep -o "x holds 'work.c'[^(]*" a.log)"
# b) a real dataset with an extra file
cp -r ds y && echo notes >y/notes.txt
rc=0
"${C[@]}" --output y --force >b.log 2>&1 || rc=$?
((rc != 0)) || fail "b) convert --force replaced a dataset directory holding notes.txt"
[[ -f y/notes.txt ]] || fail "b) notes.txt was deleted"
echo "b) exit $rc: $(grep -o "y holds 'notes.txt'[^(]*" b.log)"
# c) a file named manifest.h5 that is not a manifest
mkdir z && echo junk >z/manifest.h5
rc=0
"${C[@]}" --output z --force >c.log 2>&1 || rc=$?
((rc != 0)) || fail "c) convert --force replaced a directory whose manifest.h5 is not a manifest"
[[ $(cat z/manifest.h5) == junk ]] || fail "c) z/manifest.h5 changed"
echo "c) exit $rc: $(grep -o "z holds a file named manifest.h5 [^:]*" c.log)"
# d) entirely a dataset: replaced
"${C[@]}" --output ds --force >d.log 2>&1 || fail "d) --force over a dataset: $(cat d.log)"
"$bin/trib-data" inspect --verify ds >/dev/null || fail "d) the replaced dataset does not verify"
echo "d) a directory that is entirely a dataset is replaced"
