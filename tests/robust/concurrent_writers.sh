#!/usr/bin/env bash
# concurrent_writers.sh (issue 14, item 7): two `trib-data convert ... --output OUT` at once:
# exactly one wins, the other fails with "OUT appeared while writing" and removes its output
# (before: both exited 0 and printed "-> OUT", and one dataset vanished).  Deterministic, no
# timing: writer A reads its input from a FIFO, so it is held between creating its temporary
# directory (before it opens the input) and its commit until this script writes the data; writer
# B runs to completion meanwhile.
source "$(dirname "$0")/lib.sh"
trap 'exec 3>&- 2>/dev/null; rm -rf "$work"' EXIT
tiny_data a.data
printf '7\t1\t5\t100\n8\t2\t3\t101\n9\t3\t4\t102\n9\t4\t1\t103\n' >b.data
mkfifo in.fifo
"$bin/trib-data" convert --format movielens-100k --input in.fifo --output OUT >a.log 2>&1 &
a=$!
exec 3>in.fifo # returns once A has opened its input: A's temporary directory exists by then
"$bin/trib-data" convert --format movielens-100k --input b.data --output OUT >b.log 2>&1 || fail "B: $(cat b.log)"
cat a.data >&3
exec 3>&-
rc=0
wait "$a" || rc=$?
((rc != 0)) || fail "A also exited 0: $(cat a.log)"
grep -q "OUT appeared while writing" a.log || fail "A: no 'OUT appeared while writing': $(cat a.log)"
"$bin/trib-data" inspect --verify OUT >inspect.log 2>&1 || fail "OUT does not verify: $(cat inspect.log)"
grep -q "ratings *4" inspect.log || grep -q "4 ratings" inspect.log || fail "OUT is not B's dataset (4 ratings): $(cat inspect.log)"
left=$(ls -a | grep -c '^OUT\.tmp-' || true)
((left == 0)) || fail "A left its temporary output behind: $(ls -a)"
echo "A exit $rc: $(grep -o 'OUT appeared while writing[^;]*' a.log); B's dataset in place, nothing left behind"
