#!/usr/bin/env bash
# text_input.sh (issue 14, item 9), through trib-data convert as a user meets it: a UTF-8 byte-order
# mark at the start of a CSV without a header is skipped (before: user id "\uFEFF1", and the user
# column silently switched to string ids); a line ending in \r\r\n is refused with the stray \r shown
# escaped (before: "not a number '3.5'", the \r invisible).
source "$(dirname "$0")/lib.sh"
printf '\xef\xbb\xbf1,10,4.5\n2,11,3\n3,10,2\n' >bom.csv
"$bin/trib-data" convert --format csv --input bom.csv --output bom >convert.log 2>&1 || fail "BOM csv: $(cat convert.log)"
h5dump -H -d /user_ids bom/manifest.h5 | grep -q H5T_STD_I64LE ||
  fail "BOM csv: user ids are not integers: $(h5dump -H -d /user_ids bom/manifest.h5)"
"$bin/trib-data" inspect bom >inspect.log || fail "inspect: $(cat inspect.log)"
grep -q '^top users *1 (1), 2 (1), 3 (1)$' inspect.log || fail "BOM csv: users are not 1, 2, 3: $(grep 'top users' inspect.log)"
echo "BOM: $(grep 'top users' inspect.log)"
printf '1,10,4.5\n2,11,3.5\r\r\n' >crcr.csv
rc=0
"$bin/trib-data" convert --format csv --input crcr.csv --output crcr >crcr.log 2>&1 || rc=$?
((rc != 0)) || fail "\\r\\r\\n: converted: $(cat crcr.log)"
grep -qF "crcr.csv:2: rating: not a number '3.5\\r'" crcr.log || fail "\\r\\r\\n: message: $(cat -A crcr.log)"
! grep -q $'\r' crcr.log || fail "\\r\\r\\n: a raw carriage return in the message: $(cat -A crcr.log)"
echo "CR: exit $rc: $(cat crcr.log)"
echo PASS
