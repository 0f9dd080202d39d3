/*
 * allreduce_types.c - everything MPI_Allreduce accepts, through trib_allreduce:
 * every predefined datatype with every predefined operation the MPI standard
 * defines on it, derived datatypes and user-defined operations (commutative
 * and not), at any p (ctest runs p = 1, 2, 3, 4, 5, 7, 8).
 *
 * Part A, the (type, op) matrix.  Types: every C integer type and fixed-width
 * integer, MPI_AINT/OFFSET/COUNT, MPI_BYTE, MPI_C_BOOL, float, double, long
 * double, the three C complex types and the six pair types.  Ops: those the
 * standard allows on each (sum, prod, min, max, land, lor, lxor, band, bor,
 * bxor, minloc, maxloc).  Every pair runs with every algorithm at p <= 8
 * (about a second at p = 8 on 2 cores); above 8 ranks each pair runs with
 * one algorithm (rotating), to keep the time small.  Each (pair, algorithm) is one case, its count / buffer mode /
 * segment size rotating over: count 1 in place (MPI_IN_PLACE); count
 * 2p + 3 with separate buffers and a 2-element segment (multi-segment
 * paths); count 61 with send buffer == receive buffer.
 * The reference is computed here, independently of the library: inputs are
 * a pure function of (case, rank, index), integers wrap modulo 2^bits,
 * floating inputs are small integers (exact in any order), complex products
 * use Gaussian units, pairs have many ties (MPI's rule: the smaller index).
 *
 * Part B, derived datatypes and user-defined operations, on every
 * algorithm, counts {1, p + 1, 2500}, separate buffers and MPI_IN_PLACE:
 *   - a commutative user op (element-wise wrapping sum) on MPI_INT (a named
 *     type), on MPI_Type_contiguous(3, MPI_INT), on a strided
 *     MPI_Type_vector of doubles (gaps: the packed path) and on a struct
 *     {int; double} (padding: the packed path);
 *   - a non-commutative user op (2x2 matrix product modulo 2^32, which
 *     must come out as M0 M1 ... Mp-1) on a contiguous type and on a strided
 *     one; with ring or hier forced it must be refused (TRIB_ERR_UNSUPPORTED);
 *   - the gap bytes of a receive buffer are left untouched;
 *   - a predefined op on a derived type: refused as MPI refuses it.
 * Every result must be identical on all ranks (a hash of the values).
 *
 * Usage: allreduce_types [--algo NAME]
 */
#include <complex.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "core/rng.h"
#include "coll_test.h"
#include "core/timer.h"
#include "tributary/allreduce.h"

static int rank, nprocs;
static long n_cases, n_fail;
static int n_printed;

/* ------------------------------------------------------------ type table */

typedef enum { K_SINT, K_UINT, K_FLT, K_CPLX, K_BOOL, K_BYTE, K_PAIR } kind_t;
typedef enum { O_SUM, O_PROD, O_MIN, O_MAX, O_LAND, O_LOR, O_LXOR, O_BAND, O_BOR, O_BXOR, O_MINLOC, O_MAXLOC, O_N } op_t;
static const char *const op_name[O_N] = {"sum",  "prod", "min", "max",  "land",   "lor",
                                         "lxor", "band", "bor", "bxor", "minloc", "maxloc"};

typedef struct {
    const char *name;
    MPI_Datatype t;
    kind_t kind;
    int sub;     /* integers: bytes; floats/complex: 0 float, 1 double, 2 long double; pairs: which */
    int multi;   /* MPI_AINT, MPI_OFFSET, MPI_COUNT: no logical ops */
    size_t size; /* sizeof the C type (the element stride) */
} tdesc_t;

typedef struct { int v, i; } p2i_t;
typedef struct { float v; int i; } pfi_t;
typedef struct { double v; int i; } pdi_t;
typedef struct { long v; int i; } pli_t;
typedef struct { short v; int i; } psi_t;
typedef struct { long double v; int i; } pldi_t;
static const size_t pair_size[6] = {sizeof(p2i_t), sizeof(pfi_t), sizeof(pdi_t),
                                    sizeof(pli_t), sizeof(psi_t), sizeof(pldi_t)};

#define NTYPES 37
static tdesc_t types[NTYPES];
static int ntypes;

static void add_type(const char *name, MPI_Datatype t, kind_t kind, int sub, int multi, size_t size)
{
    tdesc_t d = {name, t, kind, sub, multi, size};
    types[ntypes++] = d;
}

#define INT_T(name, T, k) add_type(#name, name, k, (int)sizeof(T), 0, sizeof(T))

static void build_types(void)
{
    INT_T(MPI_SIGNED_CHAR, signed char, K_SINT);
    INT_T(MPI_UNSIGNED_CHAR, unsigned char, K_UINT);
    INT_T(MPI_SHORT, short, K_SINT);
    INT_T(MPI_UNSIGNED_SHORT, unsigned short, K_UINT);
    INT_T(MPI_INT, int, K_SINT);
    INT_T(MPI_UNSIGNED, unsigned, K_UINT);
    INT_T(MPI_LONG, long, K_SINT);
    INT_T(MPI_UNSIGNED_LONG, unsigned long, K_UINT);
    INT_T(MPI_LONG_LONG, long long, K_SINT);
    INT_T(MPI_UNSIGNED_LONG_LONG, unsigned long long, K_UINT);
    INT_T(MPI_INT8_T, int8_t, K_SINT);
    INT_T(MPI_INT16_T, int16_t, K_SINT);
    INT_T(MPI_INT32_T, int32_t, K_SINT);
    INT_T(MPI_INT64_T, int64_t, K_SINT);
    INT_T(MPI_UINT8_T, uint8_t, K_UINT);
    INT_T(MPI_UINT16_T, uint16_t, K_UINT);
    INT_T(MPI_UINT32_T, uint32_t, K_UINT);
    INT_T(MPI_UINT64_T, uint64_t, K_UINT);
    add_type("MPI_AINT", MPI_AINT, K_SINT, (int)sizeof(MPI_Aint), 1, sizeof(MPI_Aint));
    add_type("MPI_OFFSET", MPI_OFFSET, K_SINT, (int)sizeof(MPI_Offset), 1, sizeof(MPI_Offset));
    add_type("MPI_COUNT", MPI_COUNT, K_SINT, (int)sizeof(MPI_Count), 1, sizeof(MPI_Count));
    add_type("MPI_BYTE", MPI_BYTE, K_BYTE, 1, 0, 1);
    add_type("MPI_C_BOOL", MPI_C_BOOL, K_BOOL, 1, 0, sizeof(_Bool));
    add_type("MPI_FLOAT", MPI_FLOAT, K_FLT, 0, 0, sizeof(float));
    add_type("MPI_DOUBLE", MPI_DOUBLE, K_FLT, 1, 0, sizeof(double));
    add_type("MPI_LONG_DOUBLE", MPI_LONG_DOUBLE, K_FLT, 2, 0, sizeof(long double));
    add_type("MPI_C_FLOAT_COMPLEX", MPI_C_FLOAT_COMPLEX, K_CPLX, 0, 0, sizeof(float _Complex));
    add_type("MPI_C_DOUBLE_COMPLEX", MPI_C_DOUBLE_COMPLEX, K_CPLX, 1, 0, sizeof(double _Complex));
    add_type("MPI_C_LONG_DOUBLE_COMPLEX", MPI_C_LONG_DOUBLE_COMPLEX, K_CPLX, 2, 0, sizeof(long double _Complex));
    MPI_Datatype pairs[6] = {MPI_2INT, MPI_FLOAT_INT, MPI_DOUBLE_INT, MPI_LONG_INT, MPI_SHORT_INT, MPI_LONG_DOUBLE_INT};
    const char *pnames[6] = {"MPI_2INT", "MPI_FLOAT_INT", "MPI_DOUBLE_INT", "MPI_LONG_INT", "MPI_SHORT_INT",
                             "MPI_LONG_DOUBLE_INT"};
    for (int i = 0; i < 6; i++)
        add_type(pnames[i], pairs[i], K_PAIR, i, 0, pair_size[i]);
}

/* The standard's table (MPI-3.1 5.9.2). */
static int allowed(const tdesc_t *d, op_t o)
{
    int cint = (d->kind == K_SINT || d->kind == K_UINT) && !d->multi;
    int multi = d->multi;
    switch (o) {
    case O_MIN:
    case O_MAX: return cint || multi || d->kind == K_FLT;
    case O_SUM:
    case O_PROD: return cint || multi || d->kind == K_FLT || d->kind == K_CPLX;
    case O_LAND:
    case O_LOR:
    case O_LXOR: return cint || d->kind == K_BOOL;
    case O_BAND:
    case O_BOR:
    case O_BXOR: return cint || multi || d->kind == K_BYTE;
    default: return d->kind == K_PAIR;
    }
}

static MPI_Op mpi_op(op_t o)
{
    MPI_Op ops[O_N] = {MPI_SUM, MPI_PROD, MPI_MIN,  MPI_MAX, MPI_LAND,   MPI_LOR,
                       MPI_LXOR, MPI_BAND, MPI_BOR, MPI_BXOR, MPI_MINLOC, MPI_MAXLOC};
    return ops[o];
}

/* ---------------------------------------------------------------- values */

typedef struct {
    uint64_t u;        /* integers, bool, byte (sign-extended for signed types) */
    long double re, im; /* floats, complex, pair values */
    int idx;            /* pair index */
} val_t;

static uint64_t norm_int(const tdesc_t *d, uint64_t u)
{
    int bits = d->kind == K_BOOL ? 1 : 8 * d->sub;
    if (bits >= 64)
        return u;
    u &= (UINT64_C(1) << bits) - 1;
    if (d->kind == K_SINT && (u >> (bits - 1)) & 1)
        u |= ~((UINT64_C(1) << bits) - 1);
    return u;
}

static void store(const tdesc_t *d, void *buf, size_t i, val_t v)
{
    char *p = (char *)buf + i * d->size;
    switch (d->kind) {
    case K_SINT:
    case K_UINT:
    case K_BYTE: {
        uint64_t u = v.u;
        int8_t a8 = (int8_t)u;
        int16_t a16 = (int16_t)u;
        int32_t a32 = (int32_t)u;
        switch (d->sub) {
        case 1: memcpy(p, &a8, 1); break;
        case 2: memcpy(p, &a16, 2); break;
        case 4: memcpy(p, &a32, 4); break;
        default: memcpy(p, &u, 8); break;
        }
        break;
    }
    case K_BOOL: *(_Bool *)p = v.u != 0; break;
    case K_FLT:
        if (d->sub == 0)
            *(float *)p = (float)v.re;
        else if (d->sub == 1)
            *(double *)p = (double)v.re;
        else
            *(long double *)p = v.re;
        break;
    case K_CPLX:
        if (d->sub == 0)
            *(float _Complex *)p = (float)v.re + (float)v.im * I;
        else if (d->sub == 1)
            *(double _Complex *)p = (double)v.re + (double)v.im * I;
        else
            *(long double _Complex *)p = v.re + v.im * I;
        break;
    case K_PAIR:
        switch (d->sub) {
        case 0: ((p2i_t *)p)->v = (int)v.re; ((p2i_t *)p)->i = v.idx; break;
        case 1: ((pfi_t *)p)->v = (float)v.re; ((pfi_t *)p)->i = v.idx; break;
        case 2: ((pdi_t *)p)->v = (double)v.re; ((pdi_t *)p)->i = v.idx; break;
        case 3: ((pli_t *)p)->v = (long)v.re; ((pli_t *)p)->i = v.idx; break;
        case 4: ((psi_t *)p)->v = (short)v.re; ((psi_t *)p)->i = v.idx; break;
        default: ((pldi_t *)p)->v = v.re; ((pldi_t *)p)->i = v.idx; break;
        }
        break;
    }
}

static val_t load(const tdesc_t *d, const void *buf, size_t i)
{
    const char *p = (const char *)buf + i * d->size;
    val_t v = {0, 0, 0, 0};
    switch (d->kind) {
    case K_SINT:
    case K_UINT:
    case K_BYTE: {
        uint64_t u = 0;
        memcpy(&u, p, (size_t)d->sub); /* little-endian host: the low bytes */
        v.u = norm_int(d, u);
        break;
    }
    case K_BOOL: v.u = *(const _Bool *)p; break;
    case K_FLT:
        v.re = d->sub == 0 ? *(const float *)p : d->sub == 1 ? *(const double *)p : *(const long double *)p;
        break;
    case K_CPLX:
        if (d->sub == 0) {
            v.re = crealf(*(const float _Complex *)p);
            v.im = cimagf(*(const float _Complex *)p);
        } else if (d->sub == 1) {
            v.re = creal(*(const double _Complex *)p);
            v.im = cimag(*(const double _Complex *)p);
        } else {
            v.re = creall(*(const long double _Complex *)p);
            v.im = cimagl(*(const long double _Complex *)p);
        }
        break;
    case K_PAIR:
        switch (d->sub) {
        case 0: v.re = ((const p2i_t *)p)->v; v.idx = ((const p2i_t *)p)->i; break;
        case 1: v.re = ((const pfi_t *)p)->v; v.idx = ((const pfi_t *)p)->i; break;
        case 2: v.re = ((const pdi_t *)p)->v; v.idx = ((const pdi_t *)p)->i; break;
        case 3: v.re = ((const pli_t *)p)->v; v.idx = ((const pli_t *)p)->i; break;
        case 4: v.re = ((const psi_t *)p)->v; v.idx = ((const psi_t *)p)->i; break;
        default: v.re = ((const pldi_t *)p)->v; v.idx = ((const pldi_t *)p)->i; break;
        }
        break;
    }
    return v;
}

static val_t input(const tdesc_t *d, op_t o, uint64_t seed, int r, size_t i)
{
    uint64_t h = trib_rng_at(trib_hash64(seed, (uint64_t)r), i);
    val_t v = {0, 0, 0, 0};
    switch (d->kind) {
    case K_SINT:
    case K_UINT:
        v.u = norm_int(d, (o == O_LAND || o == O_LOR || o == O_LXOR) && h % 3 == 0 ? 0 : h >> 3);
        break;
    case K_BYTE: v.u = h & 0xff; break;
    case K_BOOL: v.u = (h >> 7) % 4 != 0; break;
    case K_FLT:
        if (o == O_PROD) {
            static const long double f[6] = {0.5L, -0.5L, 1.0L, 1.5L, 2.0L, -1.0L};
            v.re = f[h % 6];
        } else {
            v.re = (long double)((int64_t)(h % 2001) - 1000);
        }
        break;
    case K_CPLX:
        if (o == O_PROD) {
            static const int u[6][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {1, 1}, {1, -1}};
            v.re = u[h % 6][0];
            v.im = u[h % 6][1];
        } else {
            v.re = (long double)((int64_t)(h % 201) - 100);
            v.im = (long double)((int64_t)((h >> 20) % 201) - 100);
        }
        break;
    case K_PAIR:
        v.re = (long double)((int64_t)(h % 5) - 2); /* many ties */
        v.idx = (int)((h >> 16) % 50);
        break;
    }
    return v;
}

static val_t combine(const tdesc_t *d, op_t o, val_t a, val_t b)
{
    val_t r = a;
    int sgn = d->kind == K_SINT;
    switch (d->kind) {
    case K_SINT:
    case K_UINT:
    case K_BYTE:
    case K_BOOL:
        switch (o) {
        case O_SUM: r.u = a.u + b.u; break;
        case O_PROD: r.u = a.u * b.u; break;
        case O_MIN: r = (sgn ? (int64_t)a.u < (int64_t)b.u : a.u < b.u) ? a : b; break;
        case O_MAX: r = (sgn ? (int64_t)a.u > (int64_t)b.u : a.u > b.u) ? a : b; break;
        case O_LAND: r.u = a.u && b.u; break;
        case O_LOR: r.u = a.u || b.u; break;
        case O_LXOR: r.u = !a.u != !b.u; break;
        case O_BAND: r.u = a.u & b.u; break;
        case O_BOR: r.u = a.u | b.u; break;
        default: r.u = a.u ^ b.u; break;
        }
        r.u = norm_int(d, r.u);
        break;
    case K_FLT:
        switch (o) {
        case O_SUM: r.re = a.re + b.re; break;
        case O_PROD: r.re = a.re * b.re; break;
        case O_MIN: r.re = a.re < b.re ? a.re : b.re; break;
        default: r.re = a.re > b.re ? a.re : b.re; break;
        }
        break;
    case K_CPLX:
        if (o == O_SUM) {
            r.re = a.re + b.re;
            r.im = a.im + b.im;
        } else {
            r.re = a.re * b.re - a.im * b.im;
            r.im = a.re * b.im + a.im * b.re;
        }
        break;
    case K_PAIR: {
        int first = o == O_MINLOC ? a.re < b.re : a.re > b.re;
        int second = o == O_MINLOC ? b.re < a.re : b.re > a.re;
        if (second)
            r = b;
        else if (!first)
            r.idx = a.idx < b.idx ? a.idx : b.idx;
        break;
    }
    }
    return r;
}

/* A value as bytes that are equal exactly when the values are. */
static uint64_t hash_val(uint64_t h, val_t v)
{
    int e1 = 0, e2 = 0;
    long double f1 = frexpl(v.re, &e1), f2 = frexpl(v.im, &e2);
    int64_t w[6] = {(int64_t)v.u, (int64_t)ldexpl(f1, 63), e1, (int64_t)ldexpl(f2, 63), e2, v.idx};
    const unsigned char *b = (const unsigned char *)w;
    for (size_t k = 0; k < sizeof w; k++) {
        h ^= b[k];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static int vals_equal(val_t a, val_t b) { return a.u == b.u && a.re == b.re && a.im == b.im && a.idx == b.idx; }

/* --------------------------------------------------------------- running */

static trib_algo_t algos[7];
static int nalgos;

static void fail(const char *what, const char *detail)
{
    if (n_printed++ < 20)
        fprintf(stderr, "FAIL p=%d rank=%d %s: %s\n", nprocs, rank, what, detail);
}

/* Reports an unexpected status; returns 1 (the case failed). */
static int fail_status(const char *label, int rc)
{
    char msg[400];
    snprintf(msg, sizeof msg, "status %s (%s)", trib_err_name(rc), trib_last_error(rc));
    fail(label, msg);
    return 1;
}

/* The cross-rank hashes, compared in batches (coll_test.h). */
static hash_batch_t batch;

/* Collects failures and the cross-rank hash check of one case (compared at the next flush). */
static void finish_case(const char *label, int bad, uint64_t h)
{
    n_fail += hash_batch_add(&batch, h, bad, label, MPI_COMM_WORLD, rank, 30);
    n_cases++;
    if (bad)
        n_fail++;
}

static void run_pair(const tdesc_t *d, op_t o, trib_algo_t algo, int variant, uint64_t seed, char *send, char *recv,
                     char *ref)
{
    size_t p = (size_t)nprocs;
    size_t count = variant == 0 ? 1 : variant == 1 ? 2 * p + 3 : 61;
    char label[160];
    snprintf(label, sizeof label, "algo=%s type=%s op=%s count=%zu variant=%d", trib_algo_name(algo), d->name,
             op_name[o], count, variant);
    for (size_t i = 0; i < count; i++) {
        val_t acc = input(d, o, seed, 0, i);
        for (int r = 1; r < nprocs; r++)
            acc = combine(d, o, acc, input(d, o, seed, r, i));
        store(d, ref, i, acc); /* rounds to the type */
        store(d, variant == 1 ? send : recv, i, input(d, o, seed, rank, i));
    }
    if (variant == 1)
        memset(recv, 0x5A, count * d->size);
    trib_allreduce_opts_t opts;
    trib_allreduce_opts_init(&opts);
    opts.algo = algo;
    if (variant == 1)
        opts.segment_bytes = 2 * d->size;
    const void *sb = variant == 0 ? MPI_IN_PLACE : variant == 1 ? (const void *)send : (const void *)recv;
    int rc = trib_allreduce_ex(sb, recv, count, d->t, mpi_op(o), MPI_COMM_WORLD, &opts);
    int bad = 0;
    uint64_t h = UINT64_C(14695981039346656037);
    if (rc != TRIB_OK)
        bad = fail_status(label, rc);
    for (size_t i = 0; i < count && !bad; i++) {
        val_t got = load(d, recv, i), want = load(d, ref, i);
        h = hash_val(h, got);
        if (!vals_equal(got, want)) {
            char msg[300];
            snprintf(msg, sizeof msg, "index %zu got u=%llu re=%Lg im=%Lg idx=%d, expected u=%llu re=%Lg im=%Lg idx=%d",
                     i, (unsigned long long)got.u, got.re, got.im, got.idx, (unsigned long long)want.u, want.re,
                     want.im, want.idx);
            fail(label, msg);
            bad = 1;
        }
    }
    finish_case(label, bad, h);
}

static void part_a(int full)
{
    size_t max_bytes = 64 * 32 + 4096;
    char *send = malloc(max_bytes), *recv = malloc(max_bytes), *ref = malloc(max_bytes);
    if (!send || !recv || !ref) {
        fprintf(stderr, "allreduce_types: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    uint64_t seed = 100;
    int pair_index = 0;
    for (int t = 0; t < ntypes; t++)
        for (int o = 0; o < O_N; o++) {
            if (!allowed(&types[t], (op_t)o))
                continue;
            for (int a = 0; a < nalgos; a++) {
                if (!full && a != (pair_index + nprocs) % nalgos)
                    continue;
                run_pair(&types[t], (op_t)o, algos[a], (pair_index + a) % 3, seed++, send, recv, ref);
            }
            pair_index++;
        }
    free(send);
    free(recv);
    free(ref);
}

/* ------------------------------------------------- part B: derived, user ops */

/*
 * Derived datatypes under test, each with a C view of one element:
 *   D_INT     MPI_INT (named) with a user op
 *   D_CONTIG  MPI_Type_contiguous(3, MPI_INT)                 int[3], dense
 *   D_VECTOR  MPI_Type_vector(2, 1, 3, MPI_DOUBLE)            double[4] with [0], [3] used: gaps
 *   D_STRUCT  struct {int a; double b;} (padding after a)     the packed path
 *   D_MAT     MPI_Type_contiguous(4, MPI_UINT32_T)            2x2 matrix, dense
 *   D_MATGAP  MPI_Type_vector(4, 1, 2, MPI_UINT32_T), resized to 8 uint32: a matrix with gaps
 */
enum { D_INT, D_CONTIG, D_VECTOR, D_STRUCT, D_MAT, D_MATGAP, D_N };
static const char *const dname[D_N] = {"int+userop", "contiguous(3,int)", "vector(2,1,3,double)",
                                       "struct{int;double}", "matrix(contiguous)", "matrix(vector,gaps)"};
static MPI_Datatype dtype[D_N];
static size_t dext[D_N];

typedef struct {
    int a;
    double b;
} ist_t;

/* The commutative user op: element-wise sum (wrapping for ints). */
static void user_sum(void *in, void *inout, int *len, MPI_Datatype *type)
{
    size_t n = (size_t)*len;
    if (*type == dtype[D_INT] || *type == dtype[D_CONTIG]) {
        size_t k = *type == dtype[D_INT] ? n : 3 * n;
        for (size_t i = 0; i < k; i++)
            ((int *)inout)[i] = (int)((unsigned)((int *)inout)[i] + (unsigned)((const int *)in)[i]);
    } else if (*type == dtype[D_VECTOR]) {
        for (size_t i = 0; i < n; i++) {
            ((double *)inout)[4 * i] += ((const double *)in)[4 * i];
            ((double *)inout)[4 * i + 3] += ((const double *)in)[4 * i + 3];
        }
    } else if (*type == dtype[D_STRUCT]) {
        for (size_t i = 0; i < n; i++) {
            ((ist_t *)inout)[i].a = (int)((unsigned)((ist_t *)inout)[i].a + (unsigned)((const ist_t *)in)[i].a);
            ((ist_t *)inout)[i].b += ((const ist_t *)in)[i].b;
        }
    }
}

/* The non-commutative one: inout = in x inout (2x2 matrices mod 2^32); stride 1 or 2 between entries. */
static void mat_mul(void *in, void *inout, int *len, MPI_Datatype *type)
{
    size_t st = *type == dtype[D_MATGAP] ? 2 : 1, ext = 4 * st;
    for (size_t i = 0; i < (size_t)*len; i++) {
        const uint32_t *x = (const uint32_t *)in + i * ext;
        uint32_t *y = (uint32_t *)inout + i * ext;
        uint32_t a = x[0], b = x[st], c = x[2 * st], d = x[3 * st];
        uint32_t e = y[0], f = y[st], g = y[2 * st], h = y[3 * st];
        y[0] = a * e + b * g;
        y[st] = a * f + b * h;
        y[2 * st] = c * e + d * g;
        y[3 * st] = c * f + d * h;
    }
}

static void build_derived(void)
{
    dtype[D_INT] = MPI_INT;
    dext[D_INT] = sizeof(int);
    MPI_Type_contiguous(3, MPI_INT, &dtype[D_CONTIG]);
    dext[D_CONTIG] = 3 * sizeof(int);
    MPI_Type_vector(2, 1, 3, MPI_DOUBLE, &dtype[D_VECTOR]);
    dext[D_VECTOR] = 4 * sizeof(double);
    int bl[2] = {1, 1};
    MPI_Aint disp[2] = {offsetof(ist_t, a), offsetof(ist_t, b)};
    MPI_Datatype tt[2] = {MPI_INT, MPI_DOUBLE}, tmp;
    MPI_Type_create_struct(2, bl, disp, tt, &tmp);
    MPI_Type_create_resized(tmp, 0, sizeof(ist_t), &dtype[D_STRUCT]);
    MPI_Type_free(&tmp);
    dext[D_STRUCT] = sizeof(ist_t);
    MPI_Type_contiguous(4, MPI_UINT32_T, &dtype[D_MAT]);
    dext[D_MAT] = 4 * sizeof(uint32_t);
    MPI_Type_vector(4, 1, 2, MPI_UINT32_T, &tmp);
    MPI_Type_create_resized(tmp, 0, 8 * sizeof(uint32_t), &dtype[D_MATGAP]);
    MPI_Type_free(&tmp);
    dext[D_MATGAP] = 8 * sizeof(uint32_t);
    for (int d = D_CONTIG; d < D_N; d++)
        MPI_Type_commit(&dtype[d]);
}

/* The data words of element i (the bytes the datatype covers), as uint64. */
static int dwords(int d, const char *buf, size_t i, uint64_t *w)
{
    const char *e = buf + i * dext[d];
    switch (d) {
    case D_INT: w[0] = (uint32_t) * (const int *)e; return 1;
    case D_CONTIG:
        for (int k = 0; k < 3; k++)
            w[k] = (uint32_t)((const int *)e)[k];
        return 3;
    case D_VECTOR: w[0] = (uint64_t)(int64_t)((const double *)e)[0]; w[1] = (uint64_t)(int64_t)((const double *)e)[3]; return 2;
    case D_STRUCT: w[0] = (uint32_t)((const ist_t *)e)->a; w[1] = (uint64_t)(int64_t)((const ist_t *)e)->b; return 2;
    default: {
        size_t st = d == D_MATGAP ? 2 : 1;
        for (int k = 0; k < 4; k++)
            w[k] = ((const uint32_t *)e)[k * st];
        return 4;
    }
    }
}

/* Writes rank r's element i at e (small values; matrices near the identity so products stay varied). */
static void dfill_at(int d, char *e, size_t i, int r, uint64_t seed)
{
    uint64_t h = trib_rng_at(trib_hash64(seed, (uint64_t)r), i);
    int v1 = (int)(h % 2001) - 1000, v2 = (int)((h >> 16) % 2001) - 1000, v3 = (int)((h >> 32) % 2001) - 1000;
    switch (d) {
    case D_INT: *(int *)e = (int)(h >> 1); break;
    case D_CONTIG: ((int *)e)[0] = v1; ((int *)e)[1] = (int)(h >> 3); ((int *)e)[2] = v3; break;
    case D_VECTOR: ((double *)e)[0] = v1; ((double *)e)[3] = v2; break;
    case D_STRUCT: ((ist_t *)e)->a = v1; ((ist_t *)e)->b = v2; break;
    default: {
        size_t st = d == D_MATGAP ? 2 : 1;
        uint32_t *m = (uint32_t *)e;
        m[0] = 1 + (uint32_t)(h % 3);
        m[st] = (uint32_t)((h >> 8) % 5);
        m[2 * st] = (uint32_t)((h >> 16) % 7);
        m[3 * st] = 1;
        break;
    }
    }
}

static void dfill(int d, char *buf, size_t i, int r, uint64_t seed) { dfill_at(d, buf + i * dext[d], i, r, seed); }

/* Expected words of element i: the rank-order combination, by the same user functions. */
static int dexpect(int d, size_t i, uint64_t seed, uint64_t *w)
{
    char x[64], e[64], acc[64];
    for (int r = 0; r < nprocs; r++) {
        memset(x, 0, sizeof x);
        dfill_at(d, x, i, r, seed);
        if (r == 0) {
            memcpy(acc, x, dext[d]);
            continue;
        }
        int one = 1;
        MPI_Datatype t = dtype[d];
        /* acc = acc (+) x: the user functions compute inout = in (+) inout. */
        memcpy(e, x, dext[d]);
        if (d >= D_MAT)
            mat_mul(acc, e, &one, &t);
        else
            user_sum(acc, e, &one, &t);
        memcpy(acc, e, dext[d]);
    }
    return dwords(d, acc, 0, w);
}

static MPI_Op op_sum, op_mat;

static void run_derived(int d, trib_algo_t algo, size_t count, int inplace, int tiny_seg, uint64_t seed, char *send,
                        char *recv)
{
    char label[160];
    snprintf(label, sizeof label, "algo=%s type=%s count=%zu %s%s", trib_algo_name(algo), dname[d], count,
             inplace ? "MPI_IN_PLACE" : "separate", tiny_seg ? " tiny-segments" : "");
    size_t bytes = count * dext[d];
    memset(send, 0x11, bytes);
    memset(recv, 0x77, bytes); /* gap bytes must keep this */
    for (size_t i = 0; i < count; i++)
        dfill(d, inplace ? recv : send, i, rank, seed);
    trib_allreduce_opts_t opts;
    trib_allreduce_opts_init(&opts);
    opts.algo = algo;
    if (tiny_seg)
        opts.segment_bytes = 2 * dext[d];
    MPI_Op op = d >= D_MAT ? op_mat : op_sum;
    int rc = trib_allreduce_ex(inplace ? MPI_IN_PLACE : send, recv, count, dtype[d], op, MPI_COMM_WORLD, &opts);
    int bad = 0;
    uint64_t h = UINT64_C(14695981039346656037);
    if (d >= D_MAT && (algo == TRIB_ALGO_RING || algo == TRIB_ALGO_HIER) && nprocs > 1) {
        if (rc != TRIB_ERR_UNSUPPORTED || !strstr(trib_last_error(rc), "tree")) {
            fail(label, "ring or hier forced with a non-commutative op: expected TRIB_ERR_UNSUPPORTED naming tree");
            bad = 1;
        }
        finish_case(label, bad, h);
        return;
    }
    if (rc != TRIB_OK)
        bad = fail_status(label, rc);
    for (size_t i = 0; i < count && !bad; i++) {
        uint64_t got[4], want[4];
        int n = dwords(d, recv, i, got);
        dexpect(d, i, seed, want);
        for (int k = 0; k < n; k++) {
            h ^= got[k];
            h *= UINT64_C(1099511628211);
            if (got[k] != want[k] && !bad) {
                char msg[200];
                snprintf(msg, sizeof msg, "index %zu word %d got %llu expected %llu", i, k, (unsigned long long)got[k],
                         (unsigned long long)want[k]);
                fail(label, msg);
                bad = 1;
            }
        }
    }
    /* Gap bytes untouched (vector: doubles 1 and 2; matrix with gaps: odd words; struct padding is not checked). */
    for (size_t i = 0; i < count && !bad; i++) {
        const unsigned char *e = (const unsigned char *)recv + i * dext[d];
        size_t from = 0, to = 0, step = 0;
        if (d == D_VECTOR)
            from = 8, to = 24, step = 1;
        else if (d == D_MATGAP)
            from = 4, to = 32, step = 8;
        for (size_t b = from; b < to && step; b += step)
            for (size_t k = 0; k < (d == D_MATGAP ? 4u : 1u); k++)
                if (e[b + k] != 0x77 && !bad) {
                    fail(label, "a gap byte of the receive buffer was written");
                    bad = 1;
                }
    }
    finish_case(label, bad, h);
}

static void part_b(void)
{
    build_derived();
    MPI_Op_create(user_sum, 1, &op_sum);
    MPI_Op_create(mat_mul, 0, &op_mat);
    size_t p = (size_t)nprocs, counts[3] = {1, p + 1, 2500};
    size_t max_bytes = 2500 * 64;
    char *send = malloc(max_bytes), *recv = malloc(max_bytes);
    if (!send || !recv) {
        fprintf(stderr, "allreduce_types: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    uint64_t seed = 9000;
    for (int d = 0; d < D_N; d++)
        for (int a = 0; a < nalgos; a++)
            for (int c = 0; c < 3; c++)
                for (int inplace = 0; inplace < 2; inplace++)
                    run_derived(d, algos[a], counts[c], inplace, c == 1 && !inplace, seed++, send, recv);

    /* A predefined op on a derived type: MPI refuses it, so does Tributary (on every rank, no hang). */
    int x[6] = {0}, y[6];
    int rc = trib_allreduce(x, y, 2, dtype[D_CONTIG], MPI_SUM, MPI_COMM_WORLD);
    finish_case("MPI_SUM on contiguous(3,int)", rc != TRIB_ERR_INVALID_ARG, 0);
    if (rc != TRIB_ERR_INVALID_ARG)
        fail("MPI_SUM on contiguous(3,int)", "expected TRIB_ERR_INVALID_ARG");

    MPI_Op_free(&op_sum);
    MPI_Op_free(&op_mat);
    for (int d = D_CONTIG; d < D_N; d++)
        MPI_Type_free(&dtype[d]);
    free(send);
    free(recv);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nprocs);
    double t0 = trib_now();
    build_types();
    trib_algo_t all[6] = {TRIB_ALGO_RING, TRIB_ALGO_TREE, TRIB_ALGO_RD, TRIB_ALGO_MPI, TRIB_ALGO_AUTO, TRIB_ALGO_HIER};
    for (int i = 0; i < 6; i++)
        algos[nalgos++] = all[i];
    if (have_shm())
        algos[nalgos++] = TRIB_ALGO_SHM;
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--algo") == 0) {
            if (trib_algo_parse(argv[i + 1], &algos[0]) != TRIB_OK) {
                fprintf(stderr, "allreduce_types: unknown algorithm %s\n", argv[i + 1]);
                MPI_Abort(MPI_COMM_WORLD, 2);
            }
            nalgos = 1;
        }
    }
    int full = nprocs <= 8;
    part_a(full);
    long a_cases = n_cases;
    part_b();
    long fails = 0;
    n_fail += hash_batch_flush(&batch, MPI_COMM_WORLD, rank, 30);
    MPI_Allreduce(&n_fail, &fails, 1, MPI_LONG, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0)
        printf("allreduce types p=%d: %ld cases (%ld type x op%s, %ld derived/user-op) over %d algorithms, %ld failing, "
               "%.1f s\n",
               nprocs, n_cases, a_cases, full ? "" : " sampled", n_cases - a_cases, nalgos, fails, trib_now() - t0);
    MPI_Finalize();
    return fails ? 1 : 0;
}
