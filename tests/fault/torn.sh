#!/usr/bin/env bash
# torn.sh: the newest checkpoint is damaged (a part truncated; in a second case one byte of a part
# flipped): trib-train --resume auto warns that it skips it, resumes from the previous one, and the
# final model is still bitwise identical to an uninterrupted run's.
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$here/lib.sh"
make_data
train 4 --epochs 5 --model-out "$work/ref.h5" >"$work/ref.log" 2>&1 || fail "reference run: $(cat "$work/ref.log")"
if train 4 --epochs 5 --checkpoint-dir "$work/ck" --checkpoint-every 1 --keep 3 --fail-at 4:3:2 \
  >"$work/a1.log" 2>&1; then fail "the run with --fail-at succeeded"; fi
mapfile -t cks < <(ls -d "$work"/ck/ckpt-* | sort)
((${#cks[@]} == 3)) || fail "expected 3 checkpoints (epochs 1-3), found ${#cks[@]}"
newest=${cks[2]} previous=${cks[1]}
for damage in truncate flip; do
  rm -rf "$work/ck2" "$work/b.h5"
  cp -r "$work/ck" "$work/ck2"
  part=$work/ck2/$(basename "$newest")/part-00001.h5
  size=$(stat -c %s "$part")
  if [[ $damage == truncate ]]; then
    truncate -s $((size / 2)) "$part"
  else
    python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) - 100] ^= 0x10; open(p, "wb").write(b)' "$part"
  fi
  train 4 --epochs 5 --model-out "$work/b.h5" --checkpoint-dir "$work/ck2" --resume auto >"$work/b.log" 2>&1 ||
    fail "$damage: resume failed: $(cat "$work/b.log")"
  grep -q "checkpoint .*$(basename "$newest") skipped" "$work/b.log" || fail "$damage: no warning: $(cat "$work/b.log")"
  grep -q "resumed from .*$(basename "$previous") at epoch 2 round 0" "$work/b.log" ||
    fail "$damage: did not resume from the previous checkpoint: $(cat "$work/b.log")"
  same_factors "$work/ref.h5" "$work/b.h5" || fail "$damage: the resumed model differs from the uninterrupted one"
  echo "$damage: $(grep -o "checkpoint .* skipped[^:]*" "$work/b.log" | head -1); resumed from $(basename "$previous"), model identical"
done
