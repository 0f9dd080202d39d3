/*
 * vec.h - 16-float vector helpers shared by the MF kernels (internal to src/mf).
 *
 * Include it LAST in a .c file: from this point on the file is compiled with
 * floating-point contraction (fp-contract=fast, so a * b + c becomes one FMA
 * where the target has it; the project builds with -std=c11, which turns
 * contraction off) and without errno for sqrtf.  MF_CLONES makes a function
 * exist in three versions, x86-64-v4 (AVX-512), x86-64-v3 (AVX2+FMA) and the
 * baseline, of which the loader picks the best for the CPU at run time; so a
 * Release build without -march=native still runs FMA code, and the library
 * stays portable.  Define TRIB_MF_NO_CLONES to build one version only (for
 * the comparison in benchmarks/mf/run_mf_bench.sh).
 *
 * A row is processed in 64-byte chunks (rows are 64-byte aligned and padded
 * to a multiple of 16 floats with zeros, see tributary/mf.h), each one
 * generic vector of 16 floats that the compiler lowers to one zmm, two ymm or
 * four xmm registers depending on the clone.
 */
#ifndef TRIB_MF_VEC_H
#define TRIB_MF_VEC_H

#include <string.h>

#include "tributary/mf.h"

#pragma GCC optimize("fp-contract=fast", "no-math-errno")
/* vf16 values never cross a call (every helper is always_inline), so the
 * warning about the vector-passing ABI of the baseline clone does not apply
 * (GCC reports it at the end of the file, so it stays off from here on). */
#pragma GCC diagnostic ignored "-Wpsabi"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(TRIB_MF_NO_CLONES)
#define MF_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MF_CLONES
#endif
#define MF_INLINE static inline __attribute__((always_inline))
#define CHUNK TRIB_MF_STRIDE_FLOATS

/* One 64-byte chunk of a row; the casts below are valid because chunks are 64-byte aligned. */
typedef float vf16 __attribute__((vector_size(64)));

MF_INLINE vf16 load16(const float *p) { return *(const vf16 *)p; }
/* A macro, not a function: a 64-byte vector parameter draws an ABI note from GCC. */
#define STORE16(p, v) (*(vf16 *)(p) = (v))

/*
 * Sum of the 16 lanes in a fixed pairwise order (the same result every run):
 * halves added as vectors (16 -> 8 -> 4 lanes), then (l0 + l2) + (l1 + l3).
 * Written with shuffles so it stays a few vector instructions instead of
 * sixteen scalar extracts.
 */
typedef float vf8 __attribute__((vector_size(32)));
typedef float vf4 __attribute__((vector_size(16)));

MF_INLINE float hsum16(const vf16 *v)
{
    vf16 a = *v; /* by pointer: a 64-byte vector parameter draws an ABI note from GCC */
    vf8 s8 = __builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7) +
             __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15);
    vf4 s4 = __builtin_shufflevector(s8, s8, 0, 1, 2, 3) + __builtin_shufflevector(s8, s8, 4, 5, 6, 7);
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

/* p.q over the padded stride; two accumulators halve the FMA dependency chain. */
MF_INLINE float dot_rows(const float *restrict p, const float *restrict q, size_t stride)
{
    vf16 a0 = {0}, a1 = {0};
    size_t j = 0;
    for (; j + 2 * CHUNK <= stride; j += 2 * CHUNK) {
        a0 += load16(p + j) * load16(q + j);
        a1 += load16(p + j + CHUNK) * load16(q + j + CHUNK);
    }
    if (j < stride)
        a0 += load16(p + j) * load16(q + j);
    a0 += a1;
    return hsum16(&a0);
}

#endif
