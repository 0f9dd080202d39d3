/*
 * half.c - the 16-bit wire formats (trib_allreduce_opts_t.wire): bfloat16
 * and IEEE binary16, for float32 data.
 *
 * How a 16-bit wire works (allreduce.c, trib_coll_call_begin/end): the
 * caller's float32 vector is rounded once into a 16-bit working vector; the
 * chosen algorithm runs on that vector unchanged (2-byte elements, sent as
 * MPI_UINT16_T) with the combining step below, which widens both operands
 * to float32, adds in float32 and rounds the sum back to 16 bits; at the
 * end the 16-bit result is widened exactly into the caller's buffer.  So
 * each algorithm's fixed combination order still gives every rank the same
 * bits, and the rounding points are: the input (once), every combination
 * (once per hop), none at the end.  The error bound is in the public
 * header.
 *
 * Conversions are done in software (no compiler extension types): round
 * to nearest, ties to even; NaN stays a quiet NaN with its sign; fp16
 * overflows to +-inf from 65520 up (the first value that rounds past 65504)
 * and has subnormals down to 2^-24.
 *
 * fp16 in software costs ~10 ns per conversion; on x86 CPUs with F16C
 * (checked once at run time) the vector conversions (VCVTPS2PH with
 * round-to-nearest-even, VCVTPH2PS) do the same job, 8 elements at a
 * time.  NaNs: widening makes them quiet, and a sum with a NaN operand is
 * that NaN (the left one when both are) on both paths.  They give the same bits as the software path (the unit tests
 * compare both over every fp16 value and a sweep of float bit patterns),
 * assuming the default floating-point environment (no flush-to-zero).
 *
 * The `mpi` algorithm cannot take a kernel: it gets the same step as a
 * commutative user op on MPI_UINT16_T (created on first use, freed with
 * MPI).
 */
#include "coll/coll_internal.h"

#include <string.h>

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t trib_coll_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep the sign and the top payload bits, quiet */
        return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u); /* ties to even; overflow carries into inf */
    return (uint16_t)(u >> 16);
}

float trib_coll_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t trib_coll_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* NaN */
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    if (ax >= 0x477ff000u) /* >= 65520 (and inf): inf */
        return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) { /* below 2^-14: subnormal or zero */
        if (ax <= 0x33000000u) /* <= 2^-25: zero (2^-25 is a tie, to the even zero) */
            return sign;
        uint32_t e = ax >> 23; /* 102 .. 112 */
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* value = m 2^(e-150); subnormal unit 2^-24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u)))
            r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = (ax - 0x38000000u) >> 13; /* rebias the exponent (127 -> 15), keep 10 mantissa bits */
    uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u)))
        r++; /* a carry into the exponent is the right result */
    return (uint16_t)(sign | r);
}

float trib_coll_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) {
        if (m == 0)
            return bits_f32(sign);
        e = 113; /* normalise the subnormal */
        while (!(m & 0x400u)) {
            m <<= 1;
            e--;
        }
        return bits_f32(sign | (e << 23) | ((m & 0x3ffu) << 13));
    }
    if (e == 31) /* inf, or NaN made quiet (as the hardware conversion does) */
        return bits_f32(sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0u));
    return bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}

/*
 * x + y in float32 with the NaN rule of x86's add spelled out (the compiler
 * may swap the operands of a plain x + y): a NaN operand gives that NaN,
 * x's when both are; inf - inf gives the default NaN.
 */
static inline float add_nan_ordered(float x, float y)
{
    float s = x + y;
    if (s != s)
        s = x != x ? x : y != y ? y : s;
    return s;
}

/* ---------------------------------------------------------------- F16C */

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define HAVE_F16C_PATH 1

static int use_f16c(void)
{
    static int v = -1;
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
    }
    return v;
}

#define F16C_RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

__attribute__((target("avx,f16c"))) static void narrow_f16c(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), F16C_RNE));
    for (; i < n; i++)
        dst[i] = trib_coll_f32_to_f16(src[i]);
}

__attribute__((target("avx,f16c"))) static void widen_f16c(float *dst, const uint16_t *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++)
        dst[i] = trib_coll_f16_to_f32(src[i]);
}

__attribute__((target("avx,f16c"))) static void sum_f16_f16c(void *dst_, const void *a_, const void *b_, size_t n)
{
    uint16_t *dst = dst_;
    const uint16_t *a = a_, *b = b_;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256 y = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + i)));
        __m256 sum = _mm256_add_ps(x, y); /* then add_nan_ordered's NaN rule, whatever the operand order */
        sum = _mm256_blendv_ps(sum, y, _mm256_cmp_ps(y, y, _CMP_UNORD_Q));
        sum = _mm256_blendv_ps(sum, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(sum, F16C_RNE));
    }
    for (; i < n; i++)
        dst[i] = trib_coll_f32_to_f16(add_nan_ordered(trib_coll_f16_to_f32(a[i]), trib_coll_f16_to_f32(b[i])));
}
#else
static int use_f16c(void) { return 0; }
#endif

static void sum_bf16(void *dst_, const void *a_, const void *b_, size_t n)
{
    uint16_t *dst = dst_;
    const uint16_t *a = a_, *b = b_;
    for (size_t i = 0; i < n; i++)
        dst[i] = trib_coll_f32_to_bf16(add_nan_ordered(trib_coll_bf16_to_f32(a[i]), trib_coll_bf16_to_f32(b[i])));
}

static void sum_f16(void *dst_, const void *a_, const void *b_, size_t n)
{
    uint16_t *dst = dst_;
    const uint16_t *a = a_, *b = b_;
    for (size_t i = 0; i < n; i++)
        dst[i] = trib_coll_f32_to_f16(add_nan_ordered(trib_coll_f16_to_f32(a[i]), trib_coll_f16_to_f32(b[i])));
}

trib_coll_kernel_fn trib_coll_wire_kernel(trib_wire_t wire)
{
#ifdef HAVE_F16C_PATH
    if (wire == TRIB_WIRE_FP16 && use_f16c())
        return sum_f16_f16c;
#endif
    return wire == TRIB_WIRE_BF16 ? sum_bf16 : wire == TRIB_WIRE_FP16 ? sum_f16 : NULL;
}

/* MPI's user function: inout = in (+) inout, `in` being the lower ranks' data. */
static void op_bf16(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    sum_bf16(inout, in, inout, (size_t)*len);
}

static void op_f16(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    sum_f16(inout, in, inout, (size_t)*len);
}

static MPI_Op wire_ops[2] = {MPI_OP_NULL, MPI_OP_NULL};

int trib_coll_wire_op(trib_wire_t wire, MPI_Op *op)
{
    if (wire != TRIB_WIRE_BF16 && wire != TRIB_WIRE_FP16)
        return trib_errorf(TRIB_ERR_INTERNAL, "allreduce: no wire op for precision %d", (int)wire);
    int w = wire == TRIB_WIRE_BF16 ? 0 : 1;
    if (wire_ops[w] == MPI_OP_NULL) {
        int mpi_rc = MPI_Op_create(w == 0 ? op_bf16 : op_f16, 1, &wire_ops[w]);
        if (mpi_rc != MPI_SUCCESS) {
            wire_ops[w] = MPI_OP_NULL;
            return trib_coll_mpi_error(mpi_rc, "MPI_Op_create");
        }
    }
    *op = wire_ops[w];
    return TRIB_OK;
}

void trib_coll_wire_narrow(trib_wire_t wire, uint16_t *dst, const float *src, size_t n)
{
    if (wire == TRIB_WIRE_BF16) {
        for (size_t i = 0; i < n; i++)
            dst[i] = trib_coll_f32_to_bf16(src[i]);
    } else {
#ifdef HAVE_F16C_PATH
        if (use_f16c()) {
            narrow_f16c(dst, src, n);
            return;
        }
#endif
        for (size_t i = 0; i < n; i++)
            dst[i] = trib_coll_f32_to_f16(src[i]);
    }
}

void trib_coll_wire_widen(trib_wire_t wire, float *dst, const uint16_t *src, size_t n)
{
    if (wire == TRIB_WIRE_BF16) {
        for (size_t i = 0; i < n; i++)
            dst[i] = trib_coll_bf16_to_f32(src[i]);
    } else {
#ifdef HAVE_F16C_PATH
        if (use_f16c()) {
            widen_f16c(dst, src, n);
            return;
        }
#endif
        for (size_t i = 0; i < n; i++)
            dst[i] = trib_coll_f16_to_f32(src[i]);
    }
}
