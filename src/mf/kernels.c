/*
 * kernels.c - instantiates the MF inner loops per ISA level and picks one at run time.
 *
 * On x86-64 with GCC, kernel_impl.inc is compiled three times:
 *   _v4    target("arch=x86-64-v4"), 16-float vectors (AVX-512: zmm)
 *   _v3    target("arch=x86-64-v3"),  8-float vectors (AVX2 + FMA: ymm)
 *   _base  the build's own target,    4-float vectors (SSE2 on plain x86-64)
 * and the highest level the CPU supports is used, so a Release build without
 * -march=native still runs FMA code and the library still runs anywhere.
 * The environment variable TRIB_MF_ISA (v4, v3 or base) can lower the level,
 * e.g. to compare the levels on one machine; it can never raise it.
 * Elsewhere (or with -DTRIB_MF_NO_CLONES) there is one instance whose vector
 * width follows the compiler's target macros.
 *
 * Everything here is compiled with floating-point contraction on
 * (fp-contract=fast: a * b + c becomes one FMA where the level has it; the
 * project's -std=c11 turns contraction off) and without errno for sqrtf
 * (AdaGrad's accumulators are >= 1).  Checked with objdump: the _v4 batch
 * functions use vfmadd...ps on zmm, the _v3 ones on ymm, and the _base ones
 * mulps/addps (benchmarks/mf/run_mf_bench.sh, step "codegen").
 */
#pragma GCC optimize("fp-contract=fast", "no-math-errno")

#include "kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef float vf4 __attribute__((vector_size(16)));
typedef float vf8 __attribute__((vector_size(32)));

/*
 * Software prefetch distances.  In a shuffled order every rating, user row
 * and item row is a cache miss waiting to happen (the ratings alone are 12 MB
 * for MovieLens-1M), and the row addresses are known only once the rating is
 * loaded.  So rating i + PF_RATING is prefetched, and the rows of rating
 * i + PF_ROWS (whose rating arrived meanwhile).
 */
#define PF_RATING 24
#define PF_ROWS 8
#ifndef TRIB_MF_PREFETCH /* -DTRIB_MF_PREFETCH=0 turns it off, to measure what it buys */
#define TRIB_MF_PREFETCH 1
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(TRIB_MF_NO_CLONES)
#define MF_MULTI_ISA 1

#define KVW 16
#define KSFX _v4
#define KTARGET __attribute__((target("arch=x86-64-v4")))
#include "kernel_impl.inc"
#undef KVW
#undef KSFX
#undef KTARGET

#define KVW 8
#define KSFX _v3
#define KTARGET __attribute__((target("arch=x86-64-v3")))
#include "kernel_impl.inc"
#undef KVW
#undef KSFX
#undef KTARGET

#define KVW 4
#define KSFX _base
#define KTARGET
#include "kernel_impl.inc"
#undef KVW
#undef KSFX
#undef KTARGET

#else
#define MF_MULTI_ISA 0
#if defined(__AVX512F__)
#define KVW 16
#elif defined(__AVX2__)
#define KVW 8
#else
#define KVW 4
#endif
#define KSFX _base
#define KTARGET
#include "kernel_impl.inc"
#endif

typedef enum { ISA_BASE = 0, ISA_V3 = 1, ISA_V4 = 2 } isa_t;

/* The level to use: the CPU's best, lowered by TRIB_MF_ISA when set. */
static isa_t pick_isa(void)
{
#if MF_MULTI_ISA
    __builtin_cpu_init();
    isa_t best = __builtin_cpu_supports("x86-64-v4") ? ISA_V4 : __builtin_cpu_supports("x86-64-v3") ? ISA_V3 : ISA_BASE;
    const char *env = getenv("TRIB_MF_ISA");
    isa_t want = best;
    if (env && strcmp(env, "base") == 0)
        want = ISA_BASE;
    else if (env && strcmp(env, "v3") == 0)
        want = ISA_V3;
    return want < best ? want : best;
#else
    return ISA_BASE;
#endif
}

const char *trib_mf_kernel_isa(void)
{
#if MF_MULTI_ISA
    static const char *names[] = {"x86-64 baseline (4-float vectors)", "x86-64-v3 (AVX2+FMA, 8-float vectors)",
                                  "x86-64-v4 (AVX-512, 16-float vectors)"};
    return names[pick_isa()];
#else
    return KVW == 16 ? "native (16-float vectors)" : KVW == 8 ? "native (8-float vectors)" : "generic (4-float vectors)";
#endif
}

size_t trib_mf_kernel_sgd(const trib_mf_batch_t *bt, size_t begin, size_t end, int adagrad)
{
#if MF_MULTI_ISA
    switch (pick_isa()) {
    case ISA_V4: return sgd_v4(bt, begin, end, adagrad);
    case ISA_V3: return sgd_v3(bt, begin, end, adagrad);
    case ISA_BASE: break;
    }
#endif
    return sgd_base(bt, begin, end, adagrad);
}

size_t trib_mf_kernel_error_sums(const trib_mf_model_t *m, const trib_mf_rating_t *ratings, size_t n, double *sq,
                                 double *ab)
{
#if MF_MULTI_ISA
    switch (pick_isa()) {
    case ISA_V4: return error_sums_v4(m, ratings, n, sq, ab);
    case ISA_V3: return error_sums_v3(m, ratings, n, sq, ab);
    case ISA_BASE: break;
    }
#endif
    return error_sums_base(m, ratings, n, sq, ab);
}

float trib_mf_kernel_predict(const trib_mf_model_t *m, uint32_t user, uint32_t item)
{
#if MF_MULTI_ISA
    switch (pick_isa()) {
    case ISA_V4: return predict_v4(m, user, item);
    case ISA_V3: return predict_v3(m, user, item);
    case ISA_BASE: break;
    }
#endif
    return predict_base(m, user, item);
}
