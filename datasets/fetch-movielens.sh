#!/usr/bin/env bash
# fetch-movielens.sh 100k|1m|10m|20m|25m DIR
#
# Downloads a MovieLens archive from GroupLens, checks it against the MD5
# checksum GroupLens publishes next to it (ml-*.zip.md5), converts the ratings
# with `trib-data convert` into DIR/all and splits them (10% test, random,
# seed 1) into DIR/train and DIR/test.  Without network it fails at once.
# MovieLens may not be redistributed: keep DIR out of the repository
# (datasets/data/ is git-ignored).
#
# Environment: TRIB_DATA (trib-data binary; default build/bin/trib-data or PATH),
# TRIB_MOVIELENS_URL (base URL), TRIB_FETCH_TIMEOUT (connect timeout, s), SHARDS (default 8).
set -euo pipefail
prog=fetch-movielens.sh
die() { echo "$prog: $*" >&2; exit 1; }

[[ $# -eq 2 ]] || die "usage: $prog 100k|1m|10m|20m|25m DIR"
size=$1 out=$2
case $size in
  100k) name=ml-100k;  file=ml-100k/u.data;           format=movielens-100k ;;
  1m)   name=ml-1m;    file=ml-1m/ratings.dat;        format=movielens-dat ;;
  10m)  name=ml-10m;   file=ml-10M100K/ratings.dat;   format=movielens-dat ;;
  20m)  name=ml-20m;   file=ml-20m/ratings.csv;       format=movielens-csv ;;
  25m)  name=ml-25m;   file=ml-25m/ratings.csv;       format=movielens-csv ;;
  *) die "unknown dataset '$size' (100k, 1m, 10m, 20m or 25m)" ;;
esac
base=${TRIB_MOVIELENS_URL:-https://files.grouplens.org/datasets/movielens}
timeout=${TRIB_FETCH_TIMEOUT:-10}
shards=${SHARDS:-8}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tool=${TRIB_DATA:-}
if [[ -z $tool ]]; then
  if [[ -x $here/build/bin/trib-data ]]; then tool=$here/build/bin/trib-data
  else tool=$(command -v trib-data || true); fi
fi
[[ -n $tool && -x $tool ]] || die "trib-data not found (build the project or set TRIB_DATA)"
command -v curl >/dev/null || die "curl is needed to download"
command -v md5sum >/dev/null || die "md5sum is needed to check the download"
command -v python3 >/dev/null || die "python3 is needed to unpack the zip archive"
[[ -e $out ]] && die "$out already exists; remove it or choose another directory"

work=$(mktemp -d "${TMPDIR:-/tmp}/movielens-XXXXXX")
trap 'rm -rf "$work"' EXIT
fetch() { # URL FILE: fails fast when there is no network
  curl --fail --silent --show-error --location --connect-timeout "$timeout" --retry 0 -o "$2" "$1" 2>"$work/curl.err" \
    || die "cannot download $1: $(tail -n1 "$work/curl.err") (no network? MovieLens must be fetched from GroupLens)"
}
echo "$prog: downloading $base/$name.zip" >&2
fetch "$base/$name.zip.md5" "$work/$name.zip.md5"
fetch "$base/$name.zip" "$work/$name.zip"
want=$(grep -o -E '[0-9a-f]{32}' "$work/$name.zip.md5" | head -n1)
got=$(md5sum "$work/$name.zip" | cut -d' ' -f1)
[[ -n $want ]] || die "no checksum in $base/$name.zip.md5"
[[ $want == "$got" ]] || die "checksum mismatch for $name.zip: published $want, downloaded $got"
python3 -m zipfile -e "$work/$name.zip" "$work/x" || die "cannot unpack $name.zip"
[[ -f $work/x/$file ]] || die "$name.zip has no $file"

mkdir -p "$(dirname "$out")"
stage=$work/out
mkdir "$stage"
"$tool" convert --format "$format" --input "$work/x/$file" --output "$stage/all" --shards "$shards"
"$tool" split --input "$stage/all" --test-fraction 0.1 --seed 1 --train "$stage/train" --test "$stage/test"
mv "$stage" "$out"
echo "$prog: $out/all, $out/train and $out/test are ready (MovieLens $size; licence: see datasets/README.md)" >&2
