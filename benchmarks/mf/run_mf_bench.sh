#!/bin/sh
# run_mf_bench.sh - the measurements behind "Matrix-factorization kernel" in benchmarks/RESULTS.md.
#
#   benchmarks/mf/run_mf_bench.sh [OUTDIR]        (from the source tree root; default OUTDIR: build-mf-bench/out)
#
# Steps (each writes OUTDIR/<step>.txt):
#   build     Release build (-O3, no -march=native) in build-mf-bench/
#   codegen   vector FMA instructions per clone of the SGD batch functions (objdump)
#   peak      core clock and FMA throughput (trib-bench-sgd --mode peak)
#   kernel    updates/s at k = 32, 64, 128, plain and AdaGrad, 3 runs
#   topk      top-10 for all 6,040 users through sgemm + heap, with and without exclusion
#   scale     the ML-25M shape (162,541 users x 59,047 items, 25M ratings): blocked and shuffled order,
#             k = 32, 64, 128, with the share of the FMA and of the memory-bandwidth limit
#   isa       the kernels at the lower ISA levels (x86-64-v3, baseline SSE2) on this machine
#   noprefetch  the kernel built without its software prefetch (build-mf-bench-nopf/)
#   sweep     default-hyper-parameter sweep (k = 32, 20 epochs, held-out RMSE)
#   robust    the best candidates of each schedule at k = 32, 64, 128 and on planted continuous data
#   planted   defaults vs the best AdaGrad point on continuous planted data (k_true 16, noise 0.5,
#             dot-product variance 1, exponents 0.8 / 1.0), MovieLens-1M shape and a denser one
#   quality   per-epoch RMSE with the chosen defaults
# Set STEPS="kernel peak" (for example) to run a subset.  Uses at most 2 build jobs.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$src/build-mf-bench/out}
steps=${STEPS:-"build codegen peak kernel scale topk isa noprefetch sweep robust planted quality"}
bld=$src/build-mf-bench
bench=$bld/bin/trib-bench-sgd
mkdir -p "$out"
export OPENBLAS_NUM_THREADS=1

# Candidates for the robustness step: the best points of each schedule in the
# sweep, the plain grid's neighbours beyond its edge (lr 0.12-0.16, decay 1.5-3),
# and other factor initialisations for the chosen point.
CANDIDATES=${CANDIDATES:-"plain:0.08:1:0.02:0.01,plain:0.04:0.3:0.02:0.01,plain:0.02:0.1:0.02:0.01,\
adagrad:0.05:0:0.01:0.01,adagrad:0.05:0:0.02:0.01,adagrad:0.1:0:0.02:0.01,\
plain:0.16:1:0.02:0.01,plain:0.16:3:0.02:0.01,plain:0.12:1.5:0.02:0.01,plain:0.08:3:0.02:0.01,\
plain:0.08:1:0.015:0.01,plain:0.08:1:0.03:0.01,plain:0.08:1:0.02:0.01:0.01,plain:0.08:1:0.02:0.01:0.3"}

run() { # step command...
  step=$1; shift
  echo "== $step: $*" | tee "$out/$step.txt"
  echo "   (load average: $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$out/$step.txt"
  "$@" 2>&1 | tee -a "$out/$step.txt"
}

for step in $steps; do
  case $step in
  build)
    run build sh -c "cmake -S '$src' -B '$bld' -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build '$bld' -j2 --target trib-bench-sgd >/dev/null && echo built"
    ;;
  codegen)
    # The _v4 / _v3 functions hold every SGD batch loop of their level (inlined);
    # the baseline loops are inlined into the dispatchers trib_mf_kernel_*.
    lib=$bld/lib/libtributary.so
    run codegen sh -c "objdump -d --no-show-raw-insn '$lib' | awk '
      /^[0-9a-f]+ <(sgd_v4|sgd_v3|error_sums_v4|error_sums_v3|trib_mf_kernel_sgd|trib_mf_kernel_error_sums)>:\$/ { name = \$2; next }
      /^\$/ { name = \"\" }
      name != \"\" && /vfmadd[0-9]+ps/ { if (\$0 ~ /zmm/) z[name]++; else if (\$0 ~ /ymm/) y[name]++; else x[name]++ }
      name != \"\" && /[^v](mulps|addps)|vmulps|vaddps/ && !/vfmadd/ { m[name]++ }
      name != \"\" { seen[name] = 1 }
      END { for (n in seen)
            printf \"%-32s vfmadd*ps zmm %4d  ymm %4d  xmm %4d   mulps/addps (incl. v-forms) %4d\\n\", n, z[n], y[n], x[n], m[n] }' | sort"
    ;;
  peak)
    run peak "$bench" --mode peak
    ;;
  topk)
    run topk "$bench" --mode topk --k 32,64,128
    run topk-skylakex env OPENBLAS_CORETYPE=SkylakeX "$bench" --mode topk --k 32,64,128
    ;;
  noprefetch)
    b=$bld-nopf
    cmake -S "$src" -B "$b" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-DTRIB_MF_PREFETCH=0 >/dev/null
    cmake --build "$b" -j2 --target trib-bench-sgd >/dev/null
    run noprefetch "$b/bin/trib-bench-sgd" --mode kernel --order shuffle --epochs 5 --schedule plain
    ;;
  kernel)
    run kernel sh -c "for i in 1 2 3; do '$bench' --mode kernel --order shuffle --epochs 5; done"
    ;;
  scale)
    for ord in blocked shuffle; do
      run "scale-$ord" "$bench" --mode kernel --order $ord --users 162541 --items 59047 --ratings 25000000 \
        --k 32,64,128 --epochs 3
    done
    ;;
  isa)
    # The same binary at each lower ISA level (TRIB_MF_ISA lowers the level the kernels use).
    for isa in v3 base; do
      run "isa-$isa" env TRIB_MF_ISA=$isa "$bench" --mode kernel --order shuffle --epochs 5
    done
    ;;
  sweep)
    run sweep "$bench" --mode sweep --k 32 --epochs 20
    ;;
  robust)
    run robust-ml1m "$bench" --mode robust --k 32,64,128 --epochs 20 --candidates "$CANDIDATES"
    run robust-planted "$bench" --mode robust --k 32 --epochs 20 --continuous --k-true 16 --noise 0.5 \
      --candidates "$CANDIDATES"
    ;;
  planted)
    for shape in "6040 3706" "2000 1000"; do
      set -- $shape
      run "planted-$1x$2" "$bench" --mode robust --k 16,32 --epochs 20 --continuous --k-true 16 --noise 0.5 \
        --signal-var 1 --alpha-users 0.8 --alpha-items 1.0 --users "$1" --items "$2" \
        --candidates "plain:0.08:1:0.02:0.01,adagrad:0.1:0:0.02:0.01"
    done
    ;;
  quality)
    run quality "$bench" --mode quality --k 32,64,128 --epochs 20
    run quality-40 "$bench" --mode quality --k 32 --epochs 40
    ;;
  *)
    echo "run_mf_bench.sh: unknown step $step" >&2
    exit 1
    ;;
  esac
done
echo "results in $out"
