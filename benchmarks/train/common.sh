# common.sh - shared by the training benchmarks (sourced, not run).
#   BUILD_DIR  build with the programs (default build)
#   WORK       where datasets and outputs go (default $BUILD_DIR/bench-train)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
BUILD_DIR=${BUILD_DIR:-build}
WORK=${WORK:-$BUILD_DIR/bench-train}
bin=$BUILD_DIR/bin
mkdir -p "$WORK"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1

# make_planted NAME USERS ITEMS RATINGS RANK: planted data split 90/10 into $WORK/NAME-{train,test}.
make_planted() {
  local name=$1 users=$2 items=$3 ratings=$4 rank=$5
  if [[ ! -f $WORK/$name-train/manifest.h5 ]]; then
    "$bin/trib-data" synth --users "$users" --items "$items" --ratings "$ratings" --rank "$rank" --noise 0.5 \
      --seed 1 --shards 4 --output "$WORK/$name" --force >/dev/null
    "$bin/trib-data" split --input "$WORK/$name" --test-fraction 0.1 --seed 1 \
      --train "$WORK/$name-train" --test "$WORK/$name-test" --force >/dev/null
  fi
}

# train NP ARGS...: runs trib-train quietly, echoes the command, prints its final line.
train() {
  local np=$1; shift
  echo "\$ mpirun -np $np --oversubscribe $bin/trib-train $*" >&2
  if [[ $np -eq 1 ]]; then
    "$bin/trib-train" --quiet "$@" | grep '^final:'
  else
    mpirun -np "$np" --oversubscribe "$bin/trib-train" --quiet "$@" | grep '^final:'
  fi
}

# field NAME LINE: the number after NAME in a final line ("test RMSE 0.5216" -> 0.5216).
field() { sed -n "s/.*$1 \([0-9.]*\).*/\1/p" <<<"$2"; }

# The planted shapes of scale.sh and ranks.sh (power-law activity, --rank 16 --noise 0.5 --seed 3).
# make_shape NAME USERS ITEMS RATINGS: $WORK/NAME-{train,test}, made once.
make_shape() {
  local name=$1 users=$2 items=$3 ratings=$4
  if [[ ! -f $WORK/$name-train/manifest.h5 || ! -f $WORK/$name-test/manifest.h5 ]]; then
    echo "\$ $bin/trib-data synth --users $users --items $items --ratings $ratings --rank 16 --noise 0.5 --seed 3 --shards 8 --output $WORK/$name --force" >&2
    "$bin/trib-data" synth --users "$users" --items "$items" --ratings "$ratings" --rank 16 --noise 0.5 \
      --seed 3 --shards 8 --output "$WORK/$name" --force >&2
    echo "\$ $bin/trib-data split --input $WORK/$name --test-fraction 0.05 --seed 1 --train $WORK/$name-train --test $WORK/$name-test --force" >&2
    "$bin/trib-data" split --input "$WORK/$name" --test-fraction 0.05 --seed 1 \
      --train "$WORK/$name-train" --test "$WORK/$name-test" --force >&2
    rm -rf "${WORK:?}/$name" # only the split halves are used
  fi
}

# shape_args NAME: "USERS ITEMS RATINGS" of a named shape (ml1m, ml25m, netflix).
shape_args() {
  case $1 in
  ml1m) echo "6040 3706 1M" ;;
  ml25m) echo "162541 59047 25M" ;;
  netflix) echo "480189 17770 100480507" ;;
  *) echo "unknown shape '$1'" >&2; exit 1 ;;
  esac
}
