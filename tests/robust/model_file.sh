#!/usr/bin/env bash
# model_file.sh (issue 14, item 5): model files are checked.  One byte changed inside
# /users/factors must make trib-recommend fail naming the dataset (before: scores of 4e29, exit
# 0); a NaN in one user's factors, with the checksum made to match, must make it fail naming
# that user (before: that user was silently left out of the output).
source "$(dirname "$0")/lib.sh"
make_data
train --k 4 --epochs 2 --model-out "$work/m.h5" >"$work/train.log" 2>&1 || fail "training: $(cat "$work/train.log")"
"$bin/trib-recommend" --model "$work/m.h5" --users 0,1,2 --top 3 >"$work/ok.log" 2>&1 ||
  fail "the intact model is refused: $(cat "$work/ok.log")"
h5dump -d /users/factors -b LE -o "$work/factors.bin" "$work/m.h5" >/dev/null
user=$(h5dump -d /users/ids "$work/m.h5" | sed -n 's/^ *(0): \([0-9-]*\),.*/\1/p')
[[ -n $user ]] || fail "cannot read the first user id"
# patch MODE: rewrites m.h5 into bad.h5; flip: one byte of /users/factors changes; nan: row 0's
# first factor becomes NaN and the dataset's crc32c attribute is updated to match
patch() {
  python3 - "$work/m.h5" "$work/factors.bin" "$work/bad.h5" "$1" <<'PY'
import struct, sys
def crc32c(data):
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    c = 0xFFFFFFFF
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF
f = bytearray(open(sys.argv[1], "rb").read())
d = open(sys.argv[2], "rb").read()
at = f.find(d)
assert at >= 0 and f.find(d, at + 1) < 0, "factors not found once in the file"
if sys.argv[4] == "flip":
    f[at + len(d) // 2] ^= 0x40
else:
    new = bytearray(d)
    new[0:4] = struct.pack("<f", float("nan"))
    old_crc, new_crc = struct.pack("<I", crc32c(d)), struct.pack("<I", crc32c(bytes(new)))
    assert f.count(old_crc) == 1, "crc32c attribute not found once"
    f[at:at + len(d)] = new
    i = f.find(old_crc)
    f[i:i + 4] = new_crc
open(sys.argv[3], "wb").write(f)
PY
}
patch flip || fail "cannot patch the model file"
rc=0
"$bin/trib-recommend" --model "$work/bad.h5" --users 0,1,2 --top 3 >"$work/flip.log" 2>&1 || rc=$?
((rc != 0)) || fail "flip: a damaged model was used: $(cat "$work/flip.log")"
grep -q "dataset 'factors': CRC32C .* differs" "$work/flip.log" || fail "flip: no checksum error: $(cat "$work/flip.log")"
echo "flip: exit $rc, $(grep -o "dataset 'factors': CRC32C .* differs[^)]*" "$work/flip.log" | head -1)"
patch nan || fail "cannot patch the model file"
rc=0
"$bin/trib-recommend" --model "$work/bad.h5" --users 0,1,2 --top 3 >"$work/nan.log" 2>&1 || rc=$?
((rc != 0)) || fail "nan: a model with a NaN factor was used: $(cat "$work/nan.log")"
grep -q "user $user (row 0) has a non-finite factor or bias" "$work/nan.log" ||
  fail "nan: no error naming user $user: $(cat "$work/nan.log")"
echo "nan: exit $rc, $(grep -o "user $user (row 0) has a non-finite factor or bias" "$work/nan.log")"
