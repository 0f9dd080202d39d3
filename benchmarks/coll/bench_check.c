/*
 * bench_check.c - deterministic benchmark inputs and the result checker.
 *
 * Rank r's element i is a small value computed from (r, i) alone, chosen per
 * operation so that the exact reduction over any rank count is representable
 * in every type:
 *   sum, avg  ((7i + 13r) mod 9) - 4        |partial sums| <= 4p, exact in float for p < 2^20
 *   prod      2 when (i + r) mod 4 == 0, -1 when (i + 3r) mod 5 == 0, else 1
 *                                           (a signed power of two: exact while 2^p fits)
 *   min, max  ((31i + 17r) mod 101) - 50
 *   bor       (37i + 11r) mod 128           (integer types only)
 *   user      as sum (the op is a user-defined sum)
 * Unsigned bytes use the values modulo 256; integer sums and products wrap
 * modulo 2^bits, as MPI_Allreduce does.  The checker recomputes the expected
 * reduction element by element from the same formula (O(p) per element), so
 * it needs no second allreduce to compare against and is itself a plain
 * function that a unit test can feed a deliberately wrong result.
 */
#include "bench.h"

#include <math.h>
#include <string.h>

/* The contribution of rank r to element i, as a signed integer (before conversion to the type). */
static long long input_value(size_t i, int r, bench_op_t op)
{
    unsigned long long ui = (unsigned long long)i, ur = (unsigned long long)r;
    switch (op) {
    case BENCH_SUM:
    case BENCH_USER:
    case BENCH_AVG: return (long long)((7 * ui + 13 * ur) % 9) - 4;
    case BENCH_BOR: return (long long)((37 * ui + 11 * ur) % 128);
    case BENCH_PROD:
        if ((ui + ur) % 4 == 0)
            return 2;
        return ((ui + 3 * ur) % 5 == 0) ? -1 : 1;
    case BENCH_MIN:
    case BENCH_MAX: return (long long)((31 * ui + 17 * ur) % 101) - 50;
    default: return 0;
    }
}

void bench_fill_input(void *buf, size_t count, bench_type_t type, bench_op_t op, int rank)
{
    for (size_t i = 0; i < count; i++) {
        long long v = input_value(i, rank, op);
        switch (type) {
        case BENCH_FLOAT: ((float *)buf)[i] = (float)v; break;
        case BENCH_DOUBLE: ((double *)buf)[i] = (double)v; break;
        case BENCH_INT32: ((int32_t *)buf)[i] = (int32_t)v; break;
        case BENCH_INT64: ((int64_t *)buf)[i] = (int64_t)v; break;
        case BENCH_UINT8: ((uint8_t *)buf)[i] = (uint8_t)v; break;
        default: break;
        }
    }
}

/* Reduces in unsigned arithmetic of `bits` width (wrap-around, no undefined behaviour). */
static unsigned long long reduce_int(size_t i, bench_op_t op, int nranks, int bits, int is_signed)
{
    unsigned long long mask = bits == 64 ? ~0ULL : ((1ULL << bits) - 1);
    unsigned long long acc = (unsigned long long)input_value(i, 0, op) & mask;
    for (int r = 1; r < nranks; r++) {
        unsigned long long v = (unsigned long long)input_value(i, r, op) & mask;
        switch (op) {
        case BENCH_SUM:
        case BENCH_USER:
        case BENCH_AVG: acc = (acc + v) & mask; break;
        case BENCH_BOR: acc |= v; break;
        case BENCH_PROD: acc = (acc * v) & mask; break;
        case BENCH_MIN:
        case BENCH_MAX: {
            int less;
            if (is_signed) {
                long long a = input_value(i, r, op);
                long long b = (long long)acc;
                if (bits < 64 && (acc >> (bits - 1)) & 1)
                    b = (long long)(acc | ~mask); /* sign-extend */
                less = a < b;
            } else {
                less = v < acc;
            }
            if ((op == BENCH_MIN) == less)
                acc = v;
            break;
        }
        default: break;
        }
    }
    return acc;
}

/* Converts a `bits`-wide two's-complement value to double. */
static double int_to_double(unsigned long long v, int bits, int is_signed)
{
    if (is_signed && bits < 64 && ((v >> (bits - 1)) & 1))
        return (double)(long long)(v | ~((1ULL << bits) - 1));
    if (is_signed && bits == 64)
        return (double)(long long)v;
    return (double)v;
}

double bench_expected_value(size_t i, bench_type_t type, bench_op_t op, int nranks)
{
    if (type == BENCH_FLOAT || type == BENCH_DOUBLE) {
        double acc = (double)input_value(i, 0, op);
        for (int r = 1; r < nranks; r++) {
            double v = (double)input_value(i, r, op);
            switch (op) {
            case BENCH_SUM:
            case BENCH_USER:
            case BENCH_AVG: acc += v; break;
            case BENCH_PROD: acc *= v; break;
            case BENCH_MIN: acc = v < acc ? v : acc; break;
            case BENCH_MAX: acc = v > acc ? v : acc; break;
            default: break;
            }
        }
        if (op == BENCH_AVG)
            acc /= nranks;
        return type == BENCH_FLOAT ? (double)(float)acc : acc;
    }
    int bits = (int)bench_type_size(type) * 8;
    int is_signed = type != BENCH_UINT8;
    return int_to_double(reduce_int(i, op, nranks, bits, is_signed), bits, is_signed);
}

static double element_as_double(const void *buf, size_t i, bench_type_t type)
{
    switch (type) {
    case BENCH_FLOAT: return ((const float *)buf)[i];
    case BENCH_DOUBLE: return ((const double *)buf)[i];
    case BENCH_INT32: return ((const int32_t *)buf)[i];
    case BENCH_INT64: return (double)((const int64_t *)buf)[i];
    case BENCH_UINT8: return ((const uint8_t *)buf)[i];
    default: return NAN;
    }
}

/* Exact comparison, except the average, whose division may round either way. */
static int values_match(double got, double expected, bench_type_t type, bench_op_t op)
{
    if (op == BENCH_AVG && (type == BENCH_FLOAT || type == BENCH_DOUBLE)) {
        double tol = (type == BENCH_FLOAT ? 1e-5 : 1e-12) * fmax(1.0, fabs(expected));
        return fabs(got - expected) <= tol;
    }
    return got == expected; /* NaN never matches */
}

size_t bench_check_result(const void *result, size_t count, bench_type_t type, bench_op_t op, int nranks,
                          bench_check_t *report)
{
    bench_check_t rep = {0, 0, 0, 0};
    /* int64 values can exceed double's 53 bits after wrap-around; compare them as integers. */
    for (size_t i = 0; i < count; i++) {
        int ok;
        double expected;
        if (type == BENCH_INT64) {
            unsigned long long e = reduce_int(i, op, nranks, 64, 1);
            ok = (unsigned long long)((const int64_t *)result)[i] == e;
            expected = (double)(long long)e;
        } else {
            expected = bench_expected_value(i, type, op, nranks);
            ok = values_match(element_as_double(result, i, type), expected, type, op);
        }
        if (!ok) {
            if (rep.wrong == 0) {
                rep.first = i;
                rep.got = element_as_double(result, i, type);
                rep.expected = expected;
            }
            rep.wrong++;
        }
    }
    if (report)
        *report = rep;
    return rep.wrong;
}

size_t bench_check_input(const void *buf, size_t count, bench_type_t type, bench_op_t op, int rank)
{
    size_t wrong = 0;
    for (size_t i = 0; i < count; i++) {
        long long v = input_value(i, rank, op);
        switch (type) {
        case BENCH_FLOAT: wrong += ((const float *)buf)[i] != (float)v; break;
        case BENCH_DOUBLE: wrong += ((const double *)buf)[i] != (double)v; break;
        case BENCH_INT32: wrong += ((const int32_t *)buf)[i] != (int32_t)v; break;
        case BENCH_INT64: wrong += ((const int64_t *)buf)[i] != (int64_t)v; break;
        case BENCH_UINT8: wrong += ((const uint8_t *)buf)[i] != (uint8_t)v; break;
        default: break;
        }
    }
    return wrong;
}

uint64_t bench_hash(const void *buf, size_t bytes)
{
    const unsigned char *p = buf;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < bytes; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}
