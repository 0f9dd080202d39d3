/*
 * test_coll_units.c - units of the allreduce library that need no MPI job:
 * reduce kernels (every type x op, NaN/inf, integer wrap, aliasing), the
 * block/segment arithmetic, type/op tables, algorithm names, the built-in
 * selection rule, the tuning-file parser and lookup, and the status returned
 * before MPI_Init.  Links the static library (internal symbols are hidden in
 * the shared one).
 */
#include "trib_cunit.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coll/coll_internal.h"
#include "coll/tuning.h"
#include "core/rng.h"

/* ----------------------------------------------------------------- kernels */

#define N 37 /* not a multiple of any vector width: the loop tail runs too */

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void test_kernels_float_regular(void)
{
    float a[N], b[N], d[N];
    for (int i = 0; i < N; i++) {
        a[i] = (float)(i - 18) * 0.5f;
        b[i] = (float)(7 - i) * 0.25f;
    }
    trib_coll_kernel(TRIB_TYPE_FLOAT, TRIB_OPK_SUM)(d, a, b, N);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(d[i], a[i] + b[i]);
    trib_coll_kernel(TRIB_TYPE_FLOAT, TRIB_OPK_PROD)(d, a, b, N);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(d[i], a[i] * b[i]);
    trib_coll_kernel(TRIB_TYPE_FLOAT, TRIB_OPK_MIN)(d, a, b, N);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(d[i], a[i] < b[i] ? a[i] : b[i]);
    trib_coll_kernel(TRIB_TYPE_FLOAT, TRIB_OPK_MAX)(d, a, b, N);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(d[i], a[i] > b[i] ? a[i] : b[i]);
}

static void test_kernels_double_regular(void)
{
    double a[N], b[N], d[N];
    for (int i = 0; i < N; i++) {
        a[i] = (i - 18) * 1.0 / 3.0;
        b[i] = (7 - i) * 0.1;
    }
    trib_coll_kernel(TRIB_TYPE_DOUBLE, TRIB_OPK_SUM)(d, a, b, N);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(d[i], a[i] + b[i]);
    trib_coll_kernel(TRIB_TYPE_DOUBLE, TRIB_OPK_PROD)(d, a, b, N);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(d[i], a[i] * b[i]);
    trib_coll_kernel(TRIB_TYPE_DOUBLE, TRIB_OPK_MIN)(d, a, b, N);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(d[i], a[i] < b[i] ? a[i] : b[i]);
    trib_coll_kernel(TRIB_TYPE_DOUBLE, TRIB_OPK_MAX)(d, a, b, N);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(d[i], a[i] > b[i] ? a[i] : b[i]);
}

static void test_kernels_nan_inf(void)
{
    float nan1, nan2;
    uint32_t u1 = 0x7fc00001u, u2 = 0x7fc00002u; /* quiet NaNs with distinct payloads */
    memcpy(&nan1, &u1, 4);
    memcpy(&nan2, &u2, 4);
    float a[6] = {INFINITY, nan1, 1.0f, -INFINITY, nan1, -0.0f};
    float b[6] = {-INFINITY, 1.0f, nan2, 3.0f, nan2, 0.0f};
    float d[6];
    trib_coll_kernel(TRIB_TYPE_FLOAT, TRIB_OPK_SUM)(d, a, b, 6);
    CU_ASSERT(isnan(d[0])); /* inf + -inf */
    CU_ASSERT(isnan(d[1]) && isnan(d[2]));
    CU_ASSERT_EQUAL(d[3], -INFINITY);
    trib_coll_kernel(TRIB_TYPE_FLOAT, TRIB_OPK_MIN)(d, a, b, 6);
    CU_ASSERT_EQUAL(d[0], -INFINITY);
    CU_ASSERT_EQUAL(fbits(d[1]), u1); /* NaN in a: a's payload */
    CU_ASSERT_EQUAL(fbits(d[2]), u2); /* NaN only in b: b's payload */
    CU_ASSERT_EQUAL(d[3], -INFINITY);
    CU_ASSERT_EQUAL(fbits(d[4]), u1); /* NaN in both: a's payload (operand order fixes it) */
    CU_ASSERT_EQUAL(fbits(d[5]), fbits(0.0f)); /* equal operands: b */
    trib_coll_kernel(TRIB_TYPE_FLOAT, TRIB_OPK_MAX)(d, a, b, 6);
    CU_ASSERT_EQUAL(d[0], INFINITY);
    CU_ASSERT_EQUAL(fbits(d[1]), u1);
    CU_ASSERT_EQUAL(fbits(d[2]), u2);
    CU_ASSERT_EQUAL(d[3], 3.0f);
    CU_ASSERT_EQUAL(fbits(d[4]), u1);
    trib_coll_kernel(TRIB_TYPE_FLOAT, TRIB_OPK_PROD)(d, a, b, 6);
    CU_ASSERT_EQUAL(d[0], -INFINITY);
    CU_ASSERT(isnan(d[1]) && isnan(d[2]));
    CU_ASSERT_EQUAL(d[3], -INFINITY);

    double da[3] = {INFINITY, NAN, 0.0}, db[3] = {0.0, -INFINITY, -INFINITY}, dd[3];
    trib_coll_kernel(TRIB_TYPE_DOUBLE, TRIB_OPK_PROD)(dd, da, db, 3);
    CU_ASSERT(isnan(dd[0])); /* inf * 0 */
    CU_ASSERT(isnan(dd[1]));
    CU_ASSERT(isnan(dd[2]));
    trib_coll_kernel(TRIB_TYPE_DOUBLE, TRIB_OPK_MAX)(dd, da, db, 3);
    CU_ASSERT_EQUAL(dd[0], INFINITY);
    CU_ASSERT(isnan(dd[1]));
    CU_ASSERT_EQUAL(dd[2], 0.0);
}

static void test_kernels_int_wrap(void)
{
    int32_t a32[4] = {INT32_MAX, INT32_MIN, 65536, -7}, b32[4] = {1, -1, 65536, 3}, d32[4];
    trib_coll_kernel(TRIB_TYPE_INT32, TRIB_OPK_SUM)(d32, a32, b32, 4);
    CU_ASSERT_EQUAL(d32[0], INT32_MIN);
    CU_ASSERT_EQUAL(d32[1], INT32_MAX);
    CU_ASSERT_EQUAL(d32[2], 131072);
    CU_ASSERT_EQUAL(d32[3], -4);
    trib_coll_kernel(TRIB_TYPE_INT32, TRIB_OPK_PROD)(d32, a32, b32, 4);
    CU_ASSERT_EQUAL(d32[0], INT32_MAX);
    CU_ASSERT_EQUAL(d32[1], INT32_MIN); /* INT32_MIN * -1 wraps to itself */
    CU_ASSERT_EQUAL(d32[2], 0);         /* 2^32 mod 2^32 */
    CU_ASSERT_EQUAL(d32[3], -21);
    trib_coll_kernel(TRIB_TYPE_INT32, TRIB_OPK_MIN)(d32, a32, b32, 4);
    CU_ASSERT_EQUAL(d32[0], 1);
    CU_ASSERT_EQUAL(d32[1], INT32_MIN);
    CU_ASSERT_EQUAL(d32[3], -7);
    trib_coll_kernel(TRIB_TYPE_INT32, TRIB_OPK_MAX)(d32, a32, b32, 4);
    CU_ASSERT_EQUAL(d32[0], INT32_MAX);
    CU_ASSERT_EQUAL(d32[3], 3);

    int64_t a64[3] = {INT64_MAX, INT64_C(1) << 32, -5}, b64[3] = {1, INT64_C(1) << 32, -9}, d64[3];
    trib_coll_kernel(TRIB_TYPE_INT64, TRIB_OPK_SUM)(d64, a64, b64, 3);
    CU_ASSERT_EQUAL(d64[0], INT64_MIN);
    CU_ASSERT_EQUAL(d64[2], -14);
    trib_coll_kernel(TRIB_TYPE_INT64, TRIB_OPK_PROD)(d64, a64, b64, 3);
    CU_ASSERT_EQUAL(d64[0], INT64_MAX);
    CU_ASSERT_EQUAL(d64[1], 0); /* 2^64 wraps */
    CU_ASSERT_EQUAL(d64[2], 45);
    trib_coll_kernel(TRIB_TYPE_INT64, TRIB_OPK_MIN)(d64, a64, b64, 3);
    CU_ASSERT_EQUAL(d64[2], -9);
    trib_coll_kernel(TRIB_TYPE_INT64, TRIB_OPK_MAX)(d64, a64, b64, 3);
    CU_ASSERT_EQUAL(d64[0], INT64_MAX);

    uint8_t a8[4] = {255, 16, 255, 3}, b8[4] = {1, 16, 255, 200}, d8[4];
    trib_coll_kernel(TRIB_TYPE_UINT8, TRIB_OPK_SUM)(d8, a8, b8, 4);
    CU_ASSERT_EQUAL(d8[0], 0);
    CU_ASSERT_EQUAL(d8[1], 32);
    CU_ASSERT_EQUAL(d8[2], 254);
    trib_coll_kernel(TRIB_TYPE_UINT8, TRIB_OPK_PROD)(d8, a8, b8, 4);
    CU_ASSERT_EQUAL(d8[1], 0); /* 256 */
    CU_ASSERT_EQUAL(d8[2], 1); /* 65025 mod 256 */
    CU_ASSERT_EQUAL(d8[3], 88); /* 600 mod 256 */
    trib_coll_kernel(TRIB_TYPE_UINT8, TRIB_OPK_MIN)(d8, a8, b8, 4);
    CU_ASSERT_EQUAL(d8[0], 1);
    CU_ASSERT_EQUAL(d8[3], 3);
    trib_coll_kernel(TRIB_TYPE_UINT8, TRIB_OPK_MAX)(d8, a8, b8, 4);
    CU_ASSERT_EQUAL(d8[0], 255);
    CU_ASSERT_EQUAL(d8[3], 200);
}

/* dst may be the same array as either operand. */
static void test_kernels_aliasing(void)
{
    int32_t a[N], b[N], ref[N];
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < N; i++) {
            a[i] = i * 3 - 40;
            b[i] = 100 - i;
            ref[i] = a[i] - b[i] < 0 ? a[i] : b[i]; /* min */
        }
        if (t == 0)
            trib_coll_kernel(TRIB_TYPE_INT32, TRIB_OPK_MIN)(a, a, b, N);
        else
            trib_coll_kernel(TRIB_TYPE_INT32, TRIB_OPK_MIN)(b, a, b, N);
        CU_ASSERT_EQUAL(memcmp(t == 0 ? a : b, ref, sizeof ref), 0);
    }
}

static void test_kernel_table_and_divide(void)
{
    for (int t = 0; t < TRIB_TYPE_COUNT; t++) {
        for (int o = 0; o < TRIB_OPK_COUNT; o++) {
            trib_coll_kernel_fn f = trib_coll_kernel((trib_coll_type_t)t, (trib_coll_op_t)o);
            int floaty = t == TRIB_TYPE_FLOAT || t == TRIB_TYPE_DOUBLE || t == TRIB_TYPE_LDOUBLE;
            int integer = (t >= TRIB_TYPE_INT32 && t <= TRIB_TYPE_UINT64);
            int complex = t >= TRIB_TYPE_CFLOAT && t <= TRIB_TYPE_CLDOUBLE;
            int pair = t >= TRIB_TYPE_2INT && t <= TRIB_TYPE_LDOUBLE_INT;
            int want;
            switch (o) {
            case TRIB_OPK_SUM:
            case TRIB_OPK_PROD: want = floaty || integer || complex; break;
            case TRIB_OPK_MIN:
            case TRIB_OPK_MAX: want = floaty || integer; break;
            case TRIB_OPK_LAND:
            case TRIB_OPK_LOR:
            case TRIB_OPK_LXOR: want = integer || t == TRIB_TYPE_BOOL; break;
            case TRIB_OPK_BAND:
            case TRIB_OPK_BOR:
            case TRIB_OPK_BXOR: want = integer; break;
            case TRIB_OPK_MINLOC:
            case TRIB_OPK_MAXLOC: want = pair; break;
            default: want = 0; break; /* AVG, USER */
            }
            CU_ASSERT_EQUAL(f != NULL, want);
            CU_ASSERT_EQUAL(trib_coll_pair_supported((trib_coll_type_t)t, (trib_coll_op_t)o),
                            want || (o == TRIB_OPK_AVG && (t == TRIB_TYPE_FLOAT || t == TRIB_TYPE_DOUBLE)));
        }
    }
    CU_ASSERT_PTR_NULL(trib_coll_kernel(TRIB_TYPE_COUNT, TRIB_OPK_SUM));
    float f[3] = {3, 6, -9};
    trib_coll_divide(TRIB_TYPE_FLOAT, f, 3, 3);
    CU_ASSERT(f[0] == 1 && f[1] == 2 && f[2] == -3);
    double d[2] = {1, 10};
    trib_coll_divide(TRIB_TYPE_DOUBLE, d, 2, 4);
    CU_ASSERT(d[0] == 0.25 && d[1] == 2.5);
}

static void test_type_op_tables(void)
{
    trib_coll_type_t t;
    CU_ASSERT(trib_coll_type_from_mpi(MPI_FLOAT, &t) == TRIB_OK && t == TRIB_TYPE_FLOAT);
    CU_ASSERT(trib_coll_type_from_mpi(MPI_DOUBLE, &t) == TRIB_OK && t == TRIB_TYPE_DOUBLE);
    CU_ASSERT(trib_coll_type_from_mpi(MPI_INT, &t) == TRIB_OK && t == TRIB_TYPE_INT32);
    CU_ASSERT(trib_coll_type_from_mpi(MPI_INT32_T, &t) == TRIB_OK && t == TRIB_TYPE_INT32);
    CU_ASSERT(trib_coll_type_from_mpi(MPI_INT64_T, &t) == TRIB_OK && t == TRIB_TYPE_INT64);
    CU_ASSERT(trib_coll_type_from_mpi(MPI_UINT8_T, &t) == TRIB_OK && t == TRIB_TYPE_UINT8);
    CU_ASSERT(trib_coll_type_from_mpi(MPI_SHORT, &t) == TRIB_OK && t == TRIB_TYPE_INT16);
    CU_ASSERT(trib_coll_type_from_mpi(MPI_UNSIGNED_LONG, &t) == TRIB_OK && t == TRIB_TYPE_UINT64);
    CU_ASSERT(trib_coll_type_from_mpi(MPI_AINT, &t) == TRIB_OK && t == TRIB_TYPE_INT64);
    CU_ASSERT(trib_coll_type_from_mpi(MPI_BYTE, &t) == TRIB_OK && t == TRIB_TYPE_UINT8);
    CU_ASSERT(trib_coll_type_from_mpi(MPI_C_BOOL, &t) == TRIB_OK && t == TRIB_TYPE_BOOL);
    CU_ASSERT(trib_coll_type_from_mpi(MPI_C_DOUBLE_COMPLEX, &t) == TRIB_OK && t == TRIB_TYPE_CDOUBLE);
    CU_ASSERT_EQUAL(trib_coll_type_from_mpi(MPI_CHAR, &t), TRIB_ERR_UNSUPPORTED);
    trib_coll_op_t o;
    CU_ASSERT(trib_coll_op_from_mpi(MPI_SUM, &o) == TRIB_OK && o == TRIB_OPK_SUM);
    CU_ASSERT(trib_coll_op_from_mpi(MPI_PROD, &o) == TRIB_OK && o == TRIB_OPK_PROD);
    CU_ASSERT(trib_coll_op_from_mpi(MPI_MIN, &o) == TRIB_OK && o == TRIB_OPK_MIN);
    CU_ASSERT(trib_coll_op_from_mpi(MPI_MAX, &o) == TRIB_OK && o == TRIB_OPK_MAX);
    CU_ASSERT(trib_coll_op_from_mpi(MPI_BAND, &o) == TRIB_OK && o == TRIB_OPK_BAND);
    CU_ASSERT(trib_coll_op_from_mpi(MPI_MAXLOC, &o) == TRIB_OK && o == TRIB_OPK_MAXLOC);
    CU_ASSERT_EQUAL(trib_coll_op_from_mpi(MPI_OP_NULL, &o), TRIB_ERR_UNSUPPORTED);
    CU_ASSERT_EQUAL(trib_coll_type_size(TRIB_TYPE_INT64), 8);
    CU_ASSERT_STRING_EQUAL(trib_coll_type_name(TRIB_TYPE_UINT8), "uint8");
    CU_ASSERT_STRING_EQUAL(trib_coll_op_name(TRIB_OPK_AVG), "avg");
}

/* ---------------------------------------------------------- blocks/segments */

/* The blocks tile [0, count) in order, sizes differ by <= 1, early blocks larger. */
static int blocks_tile(size_t count, int p)
{
    trib_blocks_t b;
    trib_blocks_init(&b, count, p);
    if (trib_block_offset(&b, 0) != 0 || trib_block_offset(&b, p) != count)
        return 0;
    size_t first = trib_block_count(&b, 0);
    for (int i = 0; i < p; i++) {
        size_t n = trib_block_count(&b, i);
        if (trib_block_offset(&b, i) + n != trib_block_offset(&b, i + 1))
            return 0;
        if (n > first || first - n > 1)
            return 0;
        if (i > 0 && n > trib_block_count(&b, i - 1))
            return 0;
    }
    return 1;
}

/* The segments of n elements tile [0, n) in order, each 1..seg long. */
static int segments_tile(size_t n, size_t seg)
{
    size_t nseg = trib_segment_count(n, seg), next = 0;
    for (size_t s = 0; s < nseg; s++) {
        size_t off, len;
        trib_segment(n, seg, s, &off, &len);
        if (off != next || len == 0 || len > seg)
            return 0;
        next = off + len;
    }
    return next == n;
}

static void test_blocks_mark_every_element(void)
{
    /* Explicit marking for small counts: each element exactly once. */
    unsigned char mark[301];
    int ok = 1;
    for (int p = 1; p <= 64 && ok; p++) {
        for (size_t count = 0; count <= 300 && ok; count++) {
            memset(mark, 0, sizeof mark);
            trib_blocks_t b;
            trib_blocks_init(&b, count, p);
            for (int i = 0; i < p; i++) {
                size_t n = trib_block_count(&b, i), o = trib_block_offset(&b, i);
                for (size_t seg = 1; seg <= 4; seg += 3) {
                    for (size_t s = 0; s < trib_segment_count(n, seg); s++) {
                        size_t off, len;
                        trib_segment(n, seg, s, &off, &len);
                        for (size_t k = 0; k < len; k++)
                            mark[o + off + k]++;
                    }
                }
            }
            for (size_t k = 0; k < count; k++)
                ok &= mark[k] == 2; /* once per segment size tried */
        }
    }
    CU_ASSERT(ok);
}

static void test_blocks_all_counts(void)
{
    int ok = 1;
    for (int p = 1; p <= 64; p++)
        for (size_t count = 0; count <= 10000; count++)
            ok &= blocks_tile(count, p);
    CU_ASSERT(ok);
}

static void test_blocks_random_large(void)
{
    trib_rng_t r;
    trib_rng_init(&r, 2024, 1);
    int ok = 1;
    for (int i = 0; i < 20000; i++) {
        size_t count = (size_t)(trib_rng_u64(&r) >> (24 + trib_rng_below(&r, 30)));
        int p = 1 + (int)trib_rng_below(&r, 64);
        ok &= blocks_tile(count, p);
        trib_blocks_t b;
        trib_blocks_init(&b, count, p);
        size_t seg = 1 + (size_t)trib_rng_below(&r, 1u << 20);
        int blk = (int)trib_rng_below(&r, (uint64_t)p);
        size_t n = trib_block_count(&b, blk);
        if (n / seg < 100000) /* keep the walk short */
            ok &= segments_tile(n, seg);
        ok &= trib_segment_count(n, seg) == (n + seg - 1) / seg;
    }
    /* Blocks of counts above INT_MAX: early/late split on exact arithmetic. */
    trib_blocks_t b;
    size_t big = (size_t)INT_MAX * 3 + 6; /* = 3 mod 4 */
    trib_blocks_init(&b, big, 4);
    ok &= blocks_tile(big, 4);
    CU_ASSERT_EQUAL(trib_block_count(&b, 0), big / 4 + 1);
    CU_ASSERT_EQUAL(trib_block_count(&b, 3), big / 4);
    CU_ASSERT(ok);
}

static void test_segment_elems(void)
{
    CU_ASSERT_EQUAL(trib_segment_elems(0, 4), 1);
    CU_ASSERT_EQUAL(trib_segment_elems(3, 8), 1);
    CU_ASSERT_EQUAL(trib_segment_elems(64, 4), 16);
    CU_ASSERT_EQUAL(trib_segment_elems(SIZE_MAX, 1), TRIB_MAX_MSG_BYTES);
    CU_ASSERT(trib_segment_elems(SIZE_MAX, 1) <= INT_MAX);
    CU_ASSERT_EQUAL(trib_segment_elems(SIZE_MAX, 8), TRIB_MAX_MSG_BYTES / 8);
    CU_ASSERT(segments_tile(0, 5));
    CU_ASSERT_EQUAL(trib_segment_count(0, 5), 0);
}

/* ------------------------------------------------------- names, selection */

static void test_algo_names(void)
{
    for (int i = 0; i < TRIB_ALGO_COUNT; i++) {
        trib_algo_t a;
        const char *name = trib_algo_name((trib_algo_t)i);
        CU_ASSERT_PTR_NOT_NULL_FATAL(name);
        CU_ASSERT_EQUAL(trib_algo_parse(name, &a), TRIB_OK);
        CU_ASSERT_EQUAL(a, (trib_algo_t)i);
    }
    trib_algo_t a = TRIB_ALGO_AUTO;
    CU_ASSERT(trib_algo_parse("recursive-doubling", &a) == TRIB_OK && a == TRIB_ALGO_RD);
    CU_ASSERT_EQUAL(trib_algo_parse("ringo", &a), TRIB_ERR_INVALID_ARG);
    CU_ASSERT(strstr(trib_last_error(TRIB_ERR_INVALID_ARG), "ringo") != NULL);
    CU_ASSERT_EQUAL(trib_algo_parse("", &a), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(trib_algo_parse(NULL, &a), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NULL(trib_algo_name((trib_algo_t)TRIB_ALGO_COUNT));
    CU_ASSERT_PTR_NULL(trib_algo_name((trib_algo_t)-1));
}

static void test_opts_defaults_and_state(void)
{
    trib_allreduce_opts_t o;
    memset(&o, 0x5a, sizeof o);
    trib_allreduce_opts_init(&o);
    CU_ASSERT_EQUAL(o.algo, TRIB_ALGO_AUTO);
    CU_ASSERT_EQUAL(o.segment_bytes, 0);
    CU_ASSERT_EQUAL(o.tag, TRIB_DEFAULT_TAG);
    CU_ASSERT_EQUAL(o.check, -1);
    CU_ASSERT_PTR_NULL(o.tuning_file);
    CU_ASSERT_EQUAL(o.wire, TRIB_WIRE_NATIVE);
    trib_wire_t w;
    CU_ASSERT(trib_wire_parse("bf16", &w) == TRIB_OK && w == TRIB_WIRE_BF16);
    CU_ASSERT(trib_wire_parse("fp16", &w) == TRIB_OK && w == TRIB_WIRE_FP16);
    CU_ASSERT(trib_wire_parse("fp32", &w) == TRIB_OK && w == TRIB_WIRE_NATIVE);
    CU_ASSERT_EQUAL(trib_wire_parse("fp8", &w), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_STRING_EQUAL(trib_wire_name(TRIB_WIRE_FP16), "fp16");
    CU_ASSERT_PTR_NULL(trib_wire_name((trib_wire_t)7));
    /* This program never initialises MPI: every call reports the state. */
    float x = 1, y = 0;
    CU_ASSERT_EQUAL(trib_allreduce(&x, &y, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), TRIB_ERR_STATE);
    trib_request_t req = (trib_request_t)&x;
    CU_ASSERT_EQUAL(trib_iallreduce(&x, &y, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req), TRIB_ERR_STATE);
    CU_ASSERT_PTR_NULL(req);
    int done = 0;
    CU_ASSERT_EQUAL(trib_test(&req, &done), TRIB_OK);
    CU_ASSERT_EQUAL(done, 1);
    CU_ASSERT_EQUAL(trib_wait(&req), TRIB_OK);
    CU_ASSERT_EQUAL(trib_waitall(1, &req), TRIB_OK);
    trib_algo_t a;
    size_t seg;
    CU_ASSERT_EQUAL(trib_allreduce_select(1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, NULL, &a, &seg), TRIB_ERR_STATE);
    CU_ASSERT(trib_op_avg() == MPI_OP_NULL);
}

static void test_builtin_rule(void)
{
    for (int p = 2; p <= 64; p++) {
        size_t seg;
        CU_ASSERT_EQUAL(trib_coll_builtin_rule(8, p, 0, &seg), TRIB_ALGO_RD);
        CU_ASSERT_EQUAL(trib_coll_builtin_rule((size_t)64 << 20, p, 0, &seg), TRIB_ALGO_RING);
        /* One crossover: once ring, ring for every larger size. */
        int seen_ring = 0, ok = 1;
        for (size_t bytes = 8; bytes <= ((size_t)1 << 28); bytes *= 2) {
            trib_algo_t a = trib_coll_builtin_rule(bytes, p, 0, &seg);
            if (a == TRIB_ALGO_RING)
                seen_ring = 1;
            else if (seen_ring)
                ok = 0;
        }
        CU_ASSERT(ok);
        /* hier.c sizes its pieces on these answers: 32 KiB on two nodes runs rd (the whole piece each way),
         * p x 32 KiB on p >= 3 runs ring (32 KiB per step): every message of a piece stays at 32 KiB. */
        trib_algo_t piece_algo = trib_coll_builtin_rule(((size_t)32 << 10) * (size_t)(p == 2 ? 1 : p), p, 0, &seg);
        CU_ASSERT_EQUAL(piece_algo, p == 2 ? TRIB_ALGO_RD : TRIB_ALGO_RING);
        /* Every rank on one node: the shared-memory algorithm. */
        CU_ASSERT_EQUAL(trib_coll_builtin_rule(8, p, 1, &seg), TRIB_ALGO_SHM);
        CU_ASSERT_EQUAL(trib_coll_builtin_rule((size_t)64 << 20, p, 1, &seg), TRIB_ALGO_SHM);
    }
}

/* The layout feeds the rules: several nodes of several ranks -> hier; one node -> shm; one rank per node -> flat. */
static void test_builtin_rule_topo(void)
{
    size_t seg;
    trib_coll_topo_t two_by_four = {2, 4, 4}, uneven = {3, 4, 1}, one_node = {1, 8, 8}, one_per_node = {8, 1, 1};
    for (size_t bytes = 8; bytes <= ((size_t)1 << 26); bytes *= 8) {
        CU_ASSERT_EQUAL(trib_coll_builtin_rule_topo(bytes, 8, &two_by_four, &seg), TRIB_ALGO_HIER);
        CU_ASSERT_EQUAL(trib_coll_builtin_rule_topo(bytes, 8, &uneven, &seg), TRIB_ALGO_HIER);
        CU_ASSERT_EQUAL(trib_coll_builtin_rule_topo(bytes, 8, &one_node, &seg), TRIB_ALGO_SHM);
        trib_algo_t flat = trib_coll_builtin_rule_topo(bytes, 8, &one_per_node, &seg);
        CU_ASSERT(flat != TRIB_ALGO_HIER && flat != TRIB_ALGO_SHM);
        CU_ASSERT_EQUAL(flat, trib_coll_builtin_rule(bytes, 8, 0, &seg));
    }
    /* hier does not keep rank order: a non-commutative op gets an order-preserving algorithm. */
    trib_allreduce_opts_t o;
    trib_allreduce_opts_init(&o);
    trib_algo_t a;
    CU_ASSERT_EQUAL(trib_coll_select_topo(1 << 20, 8, &two_by_four, 0, &o, &a, &seg), TRIB_OK);
    CU_ASSERT(trib_coll_order_preserving(a));
    o.algo = TRIB_ALGO_HIER;
    int rc = trib_coll_select_topo(1 << 20, 8, &two_by_four, 0, &o, &a, &seg);
    CU_ASSERT_EQUAL(rc, TRIB_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(rc), "tree"));
}

/* ------------------------------------------------------------ tuning files */

static char tmpdir[64];

static const char *write_file(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int tuning_suite_init(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/trib-tuning-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : 1;
}

static int tuning_suite_clean(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : 1;
}

static const char *good_file = "tributary-tuning 1\n"
                               "# comment lines start with '#'; blank lines ignored\n"
                               "\n"
                               "# ranks  max_bytes  algo  segment_bytes\n"
                               "4  8192     rd    0\n"
                               "4  1048576  tree  65536\n"
                               "4  inf      ring  262144\n"
                               "\n"
                               "8\t100\tmpi\t0\r\n"
                               "8  inf      shm   131072\n"
                               "2  inf      tree  0\n";

static void test_tuning_parse_and_lookup(void)
{
    const char *path = write_file("good.tuning", good_file);
    trib_tuning_t *t = NULL;
    CU_ASSERT_EQUAL_FATAL(trib_tuning_load(path, &t), TRIB_OK);
    CU_ASSERT_EQUAL(t->nrules, 6);
    CU_ASSERT_EQUAL(t->rules[0].line, 5);
    CU_ASSERT_EQUAL(t->rules[2].max_bytes, TRIB_TUNING_INF);
    CU_ASSERT_EQUAL(t->rules[1].segment_bytes, 65536);
    /* p = 4..7 use the 4 group; first rule with max_bytes >= bytes. */
    CU_ASSERT_EQUAL(trib_tuning_lookup(t, 4, 0)->algo, TRIB_ALGO_RD);
    CU_ASSERT_EQUAL(trib_tuning_lookup(t, 4, 8192)->algo, TRIB_ALGO_RD);
    CU_ASSERT_EQUAL(trib_tuning_lookup(t, 5, 8193)->algo, TRIB_ALGO_TREE);
    CU_ASSERT_EQUAL(trib_tuning_lookup(t, 7, 1048576)->algo, TRIB_ALGO_TREE);
    CU_ASSERT_EQUAL(trib_tuning_lookup(t, 7, 1048577)->algo, TRIB_ALGO_RING);
    CU_ASSERT_EQUAL(trib_tuning_lookup(t, 4, SIZE_MAX)->segment_bytes, 262144);
    /* p >= 8: the 8 group; p = 2, 3: the 2 group; p = 1: none <= 1, the smallest (2). */
    CU_ASSERT_EQUAL(trib_tuning_lookup(t, 8, 100)->algo, TRIB_ALGO_MPI);
    CU_ASSERT_EQUAL(trib_tuning_lookup(t, 64, 101)->algo, TRIB_ALGO_SHM);
    CU_ASSERT_EQUAL(trib_tuning_lookup(t, 3, 1 << 30)->algo, TRIB_ALGO_TREE);
    CU_ASSERT_EQUAL(trib_tuning_lookup(t, 1, 5)->algo, TRIB_ALGO_TREE);
    trib_tuning_free(t);

    /* The cache parses once per path: same object, even after the file changes. */
    const trib_tuning_t *c1, *c2;
    CU_ASSERT_EQUAL_FATAL(trib_tuning_get(path, &c1), TRIB_OK);
    write_file("good.tuning", "garbage\n");
    CU_ASSERT_EQUAL_FATAL(trib_tuning_get(path, &c2), TRIB_OK);
    CU_ASSERT_PTR_EQUAL(c1, c2);
    CU_ASSERT_EQUAL(trib_tuning_lookup(c2, 4, 1)->algo, TRIB_ALGO_RD);
}

/* Each malformed file must fail with TRIB_ERR_FORMAT and "PATH:LINE: <what>". */
static void expect_format_error(const char *text, int line, const char *what)
{
    const char *path = write_file("bad.tuning", text);
    char prefix[160];
    snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
    trib_tuning_t *t = NULL;
    int rc = trib_tuning_load(path, &t);
    CU_ASSERT_EQUAL(rc, TRIB_ERR_FORMAT);
    CU_ASSERT_PTR_NULL(t);
    const char *msg = trib_last_error(rc);
    int ok = strncmp(msg, prefix, strlen(prefix)) == 0 && strstr(msg, what) != NULL;
    if (!ok)
        fprintf(stderr, "\n  unexpected message for %s line %d: %s\n", what, line, msg);
    CU_ASSERT(ok);
}

static void test_tuning_malformed(void)
{
    expect_format_error("", 0, "empty file");
    expect_format_error("tributary-tunings 1\n4 inf ring 0\n", 1, "expected the header");
    expect_format_error("4 inf ring 0\n", 1, "expected the header");
    expect_format_error("tributary-tuning 2\n4 inf ring 0\n", 1, "version 2");
    expect_format_error("tributary-tuning 1 extra\n4 inf ring 0\n", 1, "expected the header");
    expect_format_error("tributary-tuning 1\n# nothing\n", 2, "no rules");
    expect_format_error("tributary-tuning 1\n4 inf ringo 0\n", 2, "unknown algorithm 'ringo'");
    expect_format_error("tributary-tuning 1\n4 inf auto 0\n", 2, "unknown algorithm 'auto'");
    expect_format_error("tributary-tuning 1\nfour inf ring 0\n", 2, "ranks 'four'");
    expect_format_error("tributary-tuning 1\n0 inf ring 0\n", 2, "ranks '0'");
    expect_format_error("tributary-tuning 1\n4 8k ring 0\n", 2, "max_bytes '8k'");
    expect_format_error("tributary-tuning 1\n4 -1 ring 0\n", 2, "max_bytes '-1'");
    expect_format_error("tributary-tuning 1\n4 inf ring 1.5\n", 2, "segment_bytes '1.5'");
    expect_format_error("tributary-tuning 1\n4 inf ring\n", 2, "expected 4 fields");
    expect_format_error("tributary-tuning 1\n4 inf ring 0 9\n", 2, "expected 4 fields");
    expect_format_error("tributary-tuning 1\n4 100 rd 0\n4 200 ring 0\n", 3, "does not end with an 'inf' rule");
    expect_format_error("tributary-tuning 1\n4 100 rd 0\n8 inf ring 0\n", 3, "does not end with an 'inf' rule");
    expect_format_error("tributary-tuning 1\n4 1000 rd 0\n4 100 tree 0\n4 inf ring 0\n", 3, "not above");
    expect_format_error("tributary-tuning 1\n4 100 rd 0\n4 100 tree 0\n4 inf ring 0\n", 3, "not above");
    expect_format_error("tributary-tuning 1\n4 inf rd 0\n4 inf ring 0\n", 3, "after the 'inf' rule");
    expect_format_error("tributary-tuning 1\n4 inf rd 0\n8 inf ring 0\n4 inf tree 0\n", 4, "already has a group");
}

static void test_tuning_layout(void)
{
    const char *path = write_file("layout.tuning", "tributary-tuning 1\n"
                                       "2 inf rd 0\n"        /* line 2: no layout (older files) */
                                       "layout 2 2\n"        /* line 3 */
                                       "4 1000 tree 0\n"
                                       "4 inf ring 0\n"
                                       "layout 3 mixed\n"    /* line 6 */
                                       "7 inf rd 0\n");
    trib_tuning_t *t = NULL;
    CU_ASSERT_EQUAL_FATAL(trib_tuning_load(path, &t), TRIB_OK);
    CU_ASSERT_EQUAL_FATAL(t->nrules, 4);
    CU_ASSERT_EQUAL(t->rules[0].layout_line, 0);
    CU_ASSERT_EQUAL(t->rules[1].layout_nodes, 2);
    CU_ASSERT_EQUAL(t->rules[2].layout_ranks_per_node, 2);
    CU_ASSERT_EQUAL(t->rules[2].layout_line, 3);
    CU_ASSERT_EQUAL(t->rules[3].layout_nodes, 3);
    CU_ASSERT_EQUAL(t->rules[3].layout_ranks_per_node, 0);
    CU_ASSERT_EQUAL(t->rules[3].layout_line, 6);
    trib_tuning_free(t);

    /* The selector: the file's layout or a refusal naming both layouts. */
    trib_allreduce_opts_t o;
    trib_allreduce_opts_init(&o);
    o.tuning_file = path;
    trib_algo_t a;
    size_t seg;
    trib_coll_topo_t same = {2, 2, 2}, other = {4, 1, 1}, one_node = {1, 4, 4};
    CU_ASSERT_EQUAL(trib_coll_select_topo(5000, 4, &same, 1, &o, &a, &seg), TRIB_OK);
    CU_ASSERT_EQUAL(a, TRIB_ALGO_RING);
    int rc = trib_coll_select_topo(5000, 4, &other, 1, &o, &a, &seg);
    CU_ASSERT_EQUAL(rc, TRIB_ERR_UNSUPPORTED);
    const char *msg = trib_last_error(rc);
    int ok = strstr(msg, ":3: ") && strstr(msg, "measured on 2 nodes x 2 ranks") && strstr(msg, "4 nodes x 1 rank");
    if (!ok)
        fprintf(stderr, "\n  unexpected refusal message: %s\n", msg);
    CU_ASSERT(ok);
    CU_ASSERT_EQUAL(trib_coll_select_topo(5000, 4, &one_node, 1, &o, &a, &seg), TRIB_ERR_UNSUPPORTED);
    /* The group without a layout line is used on any layout. */
    CU_ASSERT_EQUAL(trib_coll_select_topo(5000, 2, &other, 1, &o, &a, &seg), TRIB_OK);
    CU_ASSERT_EQUAL(a, TRIB_ALGO_RD);

    expect_format_error("tributary-tuning 1\nlayout 2\n4 inf ring 0\n", 2, "expected 'layout NODES RANKS_PER_NODE'");
    expect_format_error("tributary-tuning 1\nlayout 0 2\n4 inf ring 0\n", 2, "expected 'layout");
    expect_format_error("tributary-tuning 1\nlayout 2 two\n4 inf ring 0\n", 2, "expected 'layout");
    expect_format_error("tributary-tuning 1\nlayout 2 2 1\n4 inf ring 0\n", 2, "expected 'layout");
    expect_format_error("tributary-tuning 1\nlayout 2 3\n4 inf ring 0\n", 3, "the layout (line 2) is 2 nodes x 3");
    expect_format_error("tributary-tuning 1\nlayout 2 2\n4 100 rd 0\nlayout 4 1\n4 inf ring 0\n", 4,
                        "layout line inside the group of ranks 4");
}

static void test_tuning_missing_file(void)
{
    trib_tuning_t *t = NULL;
    CU_ASSERT_EQUAL(trib_tuning_load("/nonexistent/tuning.txt", &t), TRIB_ERR_IO);
    const trib_tuning_t *c;
    CU_ASSERT_EQUAL(trib_tuning_get("/nonexistent/tuning.txt", &c), TRIB_ERR_IO);
}

static CU_TestInfo kernel_tests[] = {
    {"float kernels", test_kernels_float_regular},
    {"double kernels", test_kernels_double_regular},
    {"NaN and inf", test_kernels_nan_inf},
    {"integer wrap", test_kernels_int_wrap},
    {"dst aliases an operand", test_kernels_aliasing},
    {"kernel table, pairs, divide", test_kernel_table_and_divide},
    {"type and op tables", test_type_op_tables},
    CU_TEST_INFO_NULL,
};

/* ------------------------------------------------------ 16-bit wire */

static float bits_to_f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Every fp16 and bf16 value survives widening and narrowing; NaN stays NaN. */
static void test_wire_round_trip(void)
{
    long bad_h = 0, bad_b = 0;
    for (uint32_t h = 0; h <= 0xffffu; h++) {
        float f = trib_coll_f16_to_f32((uint16_t)h);
        int nan = ((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff);
        uint16_t back = trib_coll_f32_to_f16(f);
        if (nan ? !(f != f) || ((back >> 10) & 0x1f) != 0x1f || !(back & 0x3ff) : back != h)
            bad_h++;
        float g = trib_coll_bf16_to_f32((uint16_t)h);
        uint16_t bb = trib_coll_f32_to_bf16(g);
        if (g != g ? !(trib_coll_bf16_to_f32(bb) != trib_coll_bf16_to_f32(bb)) : bb != h)
            bad_b++;
    }
    CU_ASSERT_EQUAL(bad_h, 0);
    CU_ASSERT_EQUAL(bad_b, 0);
}

/* Round to nearest, ties to even, range limits. */
static void test_wire_rounding(void)
{
    /* fp16: 1 + 2^-11 is a tie between 1 and 1 + 2^-10: to even (1). 1 + 3 * 2^-11: up to 1 + 2^-9. */
    CU_ASSERT_EQUAL(trib_coll_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    CU_ASSERT_EQUAL(trib_coll_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    CU_ASSERT_EQUAL(trib_coll_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    CU_ASSERT_EQUAL(trib_coll_f32_to_f16(65504.0f), 0x7bff);
    CU_ASSERT_EQUAL(trib_coll_f32_to_f16(65519.0f), 0x7bff);
    CU_ASSERT_EQUAL(trib_coll_f32_to_f16(65520.0f), 0x7c00);
    CU_ASSERT_EQUAL(trib_coll_f32_to_f16(-1e9f), 0xfc00);
    CU_ASSERT_EQUAL(trib_coll_f32_to_f16(0x1p-24f), 0x0001);   /* smallest subnormal */
    CU_ASSERT_EQUAL(trib_coll_f32_to_f16(0x1p-25f), 0x0000);   /* tie: to even zero */
    CU_ASSERT_EQUAL(trib_coll_f32_to_f16(0x1.8p-25f), 0x0001); /* above the tie */
    CU_ASSERT_EQUAL(trib_coll_f32_to_f16(3 * 0x1p-25f), 0x0002); /* 1.5 units: tie to even 2 */
    CU_ASSERT_EQUAL(trib_coll_f32_to_f16(-0.0f), 0x8000);
    CU_ASSERT_DOUBLE_EQUAL(trib_coll_f16_to_f32(0x3555), 0.333251953125, 0);
    /* bf16: 1 + 2^-8 is a tie: to even (1); 1 + 3 * 2^-8 up; max float rounds to inf. */
    CU_ASSERT_EQUAL(trib_coll_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
    CU_ASSERT_EQUAL(trib_coll_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
    CU_ASSERT_EQUAL(trib_coll_f32_to_bf16(bits_to_f(0x7f7fffffu)), 0x7f80);
    CU_ASSERT_EQUAL(trib_coll_f32_to_bf16(bits_to_f(0x7f7f7fffu)), 0x7f7f);
    uint16_t qnan = trib_coll_f32_to_bf16(bits_to_f(0x7f800001u)); /* signalling NaN with a low payload */
    CU_ASSERT((qnan & 0x7f80) == 0x7f80 && (qnan & 0x7f) != 0);
}

/* The wire kernels add in float32 and round the sum once. */
static void test_wire_kernels(void)
{
    uint16_t a[3], b[3], d[3];
    const float x[3] = {1.0f, 1000.0f, -2.5f}, y[3] = {0x1p-9f, 0.4f, 2.5f};
    trib_coll_wire_narrow(TRIB_WIRE_FP16, a, x, 3);
    trib_coll_wire_narrow(TRIB_WIRE_FP16, b, y, 3);
    trib_coll_wire_kernel(TRIB_WIRE_FP16)(d, a, b, 3);
    float out[3];
    trib_coll_wire_widen(TRIB_WIRE_FP16, out, d, 3);
    CU_ASSERT_DOUBLE_EQUAL(out[0], 1.0 + 0x1p-9, 0); /* exact: two fp16 ulps above 1 */
    CU_ASSERT_DOUBLE_EQUAL(out[2], 0.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(out[1], 1000.5, 0);   /* 1000 + 0.39990234375 -> nearest fp16 (step 0.5) */
    CU_ASSERT_PTR_NULL(trib_coll_wire_kernel(TRIB_WIRE_NATIVE));
}

/*
 * The vector paths (trib_coll_wire_narrow / widen / kernel; F16C where the
 * CPU has it) give the scalar software conversions' bits: every fp16 value
 * widened, a sweep of float bit patterns (every 257th, all signs,
 * exponents, NaNs) narrowed, and sums of random pairs.
 */
static void test_wire_vector_paths(void)
{
    enum { B = 4096 };
    static float f[B], w[B];
    static uint16_t h[B], g[B], a[B], b[B], d[B];
    long bad = 0;
    for (uint32_t base = 0; base <= 0xffffu; base += B) {
        for (uint32_t i = 0; i < B; i++)
            h[i] = (uint16_t)(base + i);
        trib_coll_wire_widen(TRIB_WIRE_FP16, w, h, B);
        for (uint32_t i = 0; i < B; i++) {
            float s = trib_coll_f16_to_f32(h[i]);
            if (memcmp(&s, &w[i], sizeof s) != 0 && bad++ < 5)
                fprintf(stderr, "widen %04x: vector %.9g, scalar %.9g\n", h[i], (double)w[i], (double)s);
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    bad = 0;
    uint64_t pat = 0;
    while (pat <= 0xffffffffu) {
        size_t n = 0;
        for (; n < B && pat <= 0xffffffffu; n++, pat += 257) {
            uint32_t u = (uint32_t)pat;
            memcpy(&f[n], &u, sizeof u);
        }
        trib_coll_wire_narrow(TRIB_WIRE_FP16, g, f, n);
        for (size_t i = 0; i < n; i++)
            if (g[i] != trib_coll_f32_to_f16(f[i]) && bad++ < 5)
                fprintf(stderr, "narrow %.9g: vector %04x, scalar %04x\n", (double)f[i], g[i],
                        trib_coll_f32_to_f16(f[i]));
    }
    CU_ASSERT_EQUAL(bad, 0);
    bad = 0;
    uint64_t x = 12345;
    for (int rep = 0; rep < 64; rep++) {
        for (int i = 0; i < B; i++) {
            x = x * 6364136223846793005u + 1442695040888963407u;
            a[i] = (uint16_t)(x >> 16);
            b[i] = (uint16_t)(x >> 40);
        }
        trib_coll_wire_kernel(TRIB_WIRE_FP16)(d, a, b, B);
        for (int i = 0; i < B; i++) {
            float fa = trib_coll_f16_to_f32(a[i]), fb = trib_coll_f16_to_f32(b[i]), fs = fa + fb;
            if (fs != fs) /* the documented NaN rule: a's NaN, else b's, else the default NaN */
                fs = fa != fa ? fa : fb != fb ? fb : fs;
            uint16_t want = trib_coll_f32_to_f16(fs);
            if (d[i] != want && bad++ < 5)
                fprintf(stderr, "sum %04x + %04x: vector %04x, scalar %04x\n", a[i], b[i], d[i], want);
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static CU_TestInfo wire_tests[] = {
    {"vector paths give the scalar conversions' bits", test_wire_vector_paths},
    {"fp16 and bf16 round trips (all 65536 values)", test_wire_round_trip},
    {"rounding: ties to even, range, subnormals, NaN", test_wire_rounding},
    {"wire kernels", test_wire_kernels},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo block_tests[] = {
    {"every element exactly once (p 1..64, counts 0..300)", test_blocks_mark_every_element},
    {"blocks tile (p 1..64, counts 0..10^4)", test_blocks_all_counts},
    {"random large counts", test_blocks_random_large},
    {"segment element limits", test_segment_elems},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo api_tests[] = {
    {"algorithm names", test_algo_names},
    {"option defaults, calls before MPI_Init", test_opts_defaults_and_state},
    {"built-in selection rule", test_builtin_rule},
    {"built-in rule by node layout", test_builtin_rule_topo},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo tuning_tests[] = {
    {"parse and lookup", test_tuning_parse_and_lookup},
    {"malformed files", test_tuning_malformed},
    {"layout lines", test_tuning_layout},
    {"missing file", test_tuning_missing_file},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"kernels", NULL, NULL, NULL, NULL, kernel_tests},
    {"blocks", NULL, NULL, NULL, NULL, block_tests},
    {"wire", NULL, NULL, NULL, NULL, wire_tests},
    {"api", NULL, NULL, NULL, NULL, api_tests},
    {"tuning", tuning_suite_init, tuning_suite_clean, NULL, NULL, tuning_tests},
    CU_SUITE_INFO_NULL,
};

int main(void) { return trib_cunit_run(suites); }
