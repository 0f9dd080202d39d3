/*
 * matrix_common.h - shared helpers of the MPI allreduce test programs:
 * the datatypes and operations under test, input generation, the exact
 * reference, and a bitwise hash for cross-rank / run-to-run comparison.
 *
 * Inputs are a pure function of (case seed, rank, index), so every rank can
 * compute every other rank's contribution, and the reference of an
 * element is the rank-order combination of those contributions in the
 * element type's own arithmetic:
 *   - integers: any value (sums and products wrap modulo 2^bits, which is
 *     associative and commutative, so the reference is exact);
 *   - float/double sum and avg: small integers (every partial sum is exactly
 *     representable, so any order gives the exact result);
 *   - float/double prod: values from {+-0.5, 1, 1.5, 2} (exact products);
 *   - float/double min/max: integers with occasional +-inf.
 * Random (non-integer) float inputs are checked separately against a
 * tolerance (see allreduce_matrix.c).
 */
#ifndef TRIB_TESTS_MATRIX_COMMON_H
#define TRIB_TESTS_MATRIX_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mpi.h>

#include "core/rng.h"
#include "tributary/allreduce.h"

typedef enum { K_FLOAT, K_DOUBLE, K_INT, K_INT32, K_INT64, K_UINT8, K_NTYPES } tkind_t;
typedef enum { O_SUM, O_PROD, O_MIN, O_MAX, O_AVG, O_NOPS } okind_t;

static const char *const tkind_name[K_NTYPES] = {"float", "double", "int", "int32", "int64", "uint8"};
static const size_t tkind_size[K_NTYPES] = {4, 8, sizeof(int), 4, 8, 1};
static const char *const okind_name[O_NOPS] = {"sum", "prod", "min", "max", "avg"};

static inline MPI_Datatype tkind_mpi(tkind_t t)
{
    switch (t) {
    case K_FLOAT: return MPI_FLOAT;
    case K_DOUBLE: return MPI_DOUBLE;
    case K_INT: return MPI_INT;
    case K_INT32: return MPI_INT32_T;
    case K_INT64: return MPI_INT64_T;
    default: return MPI_UINT8_T;
    }
}

static inline MPI_Op okind_mpi(okind_t o)
{
    switch (o) {
    case O_SUM: return MPI_SUM;
    case O_PROD: return MPI_PROD;
    case O_MIN: return MPI_MIN;
    case O_MAX: return MPI_MAX;
    default: return TRIB_OP_AVG;
    }
}

static inline int tkind_is_float(tkind_t t) { return t == K_FLOAT || t == K_DOUBLE; }

static inline int pair_valid(tkind_t t, okind_t o) { return o != O_AVG || tkind_is_float(t); }

/* A value of any tested type: floats in d, integers in u (two's complement bits). */
typedef struct {
    double d;
    uint64_t u;
} val_t;

/* The input of `rank` at index i. */
static inline val_t input_value(tkind_t t, okind_t o, uint64_t seed, int rank, size_t i)
{
    val_t v = {0, 0};
    uint64_t h = trib_rng_at(trib_hash64(seed, (uint64_t)rank), i);
    if (!tkind_is_float(t)) {
        v.u = h;
        return v;
    }
    switch (o) {
    case O_PROD: {
        static const double f[6] = {0.5, -0.5, 1.0, 1.5, 2.0, -1.0};
        v.d = f[h % 6];
        break;
    }
    case O_MIN:
    case O_MAX:
        v.d = (double)((int64_t)(h % 2001) - 1000);
        if (h % 89 == 7)
            v.d = (h & 1) ? INFINITY : -INFINITY;
        break;
    default: v.d = (double)((int64_t)(h % 101) - 50); break;
    }
    return v;
}

static inline void store_value(tkind_t t, void *buf, size_t i, val_t v)
{
    switch (t) {
    case K_FLOAT: ((float *)buf)[i] = (float)v.d; break;
    case K_DOUBLE: ((double *)buf)[i] = v.d; break;
    case K_INT: ((int *)buf)[i] = (int)(int32_t)(uint32_t)v.u; break;
    case K_INT32: ((int32_t *)buf)[i] = (int32_t)(uint32_t)v.u; break;
    case K_INT64: ((int64_t *)buf)[i] = (int64_t)v.u; break;
    default: ((uint8_t *)buf)[i] = (uint8_t)v.u; break;
    }
}

static inline val_t load_value(tkind_t t, const void *buf, size_t i)
{
    val_t v = {0, 0};
    switch (t) {
    case K_FLOAT: v.d = ((const float *)buf)[i]; break;
    case K_DOUBLE: v.d = ((const double *)buf)[i]; break;
    case K_INT: v.u = (uint64_t)(int64_t)((const int *)buf)[i]; break;
    case K_INT32: v.u = (uint64_t)(int64_t)((const int32_t *)buf)[i]; break;
    case K_INT64: v.u = (uint64_t)((const int64_t *)buf)[i]; break;
    default: v.u = ((const uint8_t *)buf)[i]; break;
    }
    return v;
}

/* Truncates to the type's width (so wrapped integer results compare equal). */
static inline val_t normalise(tkind_t t, val_t v)
{
    switch (t) {
    case K_FLOAT: v.d = (float)v.d; break;
    case K_INT:
    case K_INT32: v.u = (uint64_t)(int64_t)(int32_t)(uint32_t)v.u; break;
    case K_UINT8: v.u = (uint8_t)v.u; break;
    default: break;
    }
    return v;
}

static inline int64_t as_signed(val_t v) { return (int64_t)v.u; }

/* a OP b in the reference arithmetic (inputs already normalised). */
static inline val_t combine(tkind_t t, okind_t o, val_t a, val_t b)
{
    val_t r = {0, 0};
    if (tkind_is_float(t)) {
        switch (o) {
        case O_PROD: r.d = a.d * b.d; break;
        case O_MIN: r.d = a.d < b.d ? a.d : b.d; break;
        case O_MAX: r.d = a.d > b.d ? a.d : b.d; break;
        default: r.d = a.d + b.d; break;
        }
        return normalise(t, r);
    }
    int uns = t == K_UINT8;
    switch (o) {
    case O_PROD: r.u = a.u * b.u; break;
    case O_MIN: r = (uns ? a.u < b.u : as_signed(a) < as_signed(b)) ? a : b; break;
    case O_MAX: r = (uns ? a.u > b.u : as_signed(a) > as_signed(b)) ? a : b; break;
    default: r.u = a.u + b.u; break;
    }
    return normalise(t, r);
}

/* The exact expected result at index i on p ranks. */
static inline val_t expected_value(tkind_t t, okind_t o, uint64_t seed, int p, size_t i)
{
    val_t acc = normalise(t, input_value(t, o, seed, 0, i));
    for (int r = 1; r < p; r++)
        acc = combine(t, o, acc, normalise(t, input_value(t, o, seed, r, i)));
    if (o == O_AVG)
        acc.d = (t == K_FLOAT) ? (double)((float)acc.d / (float)p) : acc.d / p;
    return acc;
}

static inline int values_equal(tkind_t t, val_t a, val_t b)
{
    if (tkind_is_float(t))
        return a.d == b.d || (a.d != a.d && b.d != b.d);
    return a.u == b.u;
}

static inline void format_value(tkind_t t, val_t v, char *buf, size_t cap)
{
    if (tkind_is_float(t))
        snprintf(buf, cap, "%.17g", v.d);
    else if (t == K_UINT8)
        snprintf(buf, cap, "%llu", (unsigned long long)v.u);
    else
        snprintf(buf, cap, "%lld", (long long)as_signed(v));
}

/* FNV-1a over the bytes: equal hashes on all ranks = bitwise-equal results. */
static inline uint64_t hash_bytes(const void *buf, size_t n)
{
    const unsigned char *b = buf;
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

#endif
