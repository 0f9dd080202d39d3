/*
 * iallreduce_matrix.c - trib_iallreduce against trib_allreduce_ex, run by
 * ctest at p = 1..8.
 *
 * For every algorithm (ring, tree, rd, mpi, auto; shm and hier when the ranks share a
 * node) this checks:
 *   A. every type x op of the blocking matrix (matrix_common.h) at counts
 *      {0, 1, p-1, p+1, 1000}, in the three buffer modes (separate,
 *      sendbuf == recvbuf, MPI_IN_PLACE), and at count 1000 with a 40-byte
 *      segment (many segments per block): the non-blocking result is
 *      bitwise equal to the blocking call's with the same inputs and
 *      options, equal to the exact reference, and its hash is the same on
 *      every rank (compared in batches); the send buffer comes back unchanged;
 *   B. five requests in flight at once (different types, ops, counts, one
 *      in place, one with a 40-byte segment), completed in different
 *      orders (trib_waitall; trib_wait from the last; trib_test loops):
 *      each bitwise equal to its blocking twin; a blocking call while
 *      requests are pending (it completes them first), on all ranks, and
 *      on odd ranks only while the even ones wait for the requests;
 *   C. the generic path: a non-commutative user op on MPI_INT and a
 *      commutative user op on a strided vector type (gaps, packed),
 *      non-blocking == blocking (ring is refused for the non-commutative
 *      op by both, with the same status);
 *   D. the 16-bit wire (bf16, fp16) on random floats, sum and avg:
 *      non-blocking == blocking bitwise, the same on every rank, and within
 *      the documented bound p u sum|x| (+ the division of avg) of the exact
 *      sum; MPI_DOUBLE with a 16-bit wire is TRIB_ERR_UNSUPPORTED;
 *   E. check mode: ranks passing different counts get TRIB_ERR_MISMATCH
 *      from the wait, on every rank, and the communicator still works;
 *   F. compute between start and wait that calls trib_test now and then
 *      sees the request complete before any wait (ring, tree, rd, auto).
 * A failure prints the case and the compared values; the program exits
 * non-zero at the end.
 */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "coll_test.h"
#include "matrix_common.h"

static int rank, nprocs;
static long n_cases, n_fail;

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        if (n_fail++ < 30) {                                                                       \
            fprintf(stderr, "FAIL p=%d rank=%d: ", nprocs, rank);                                  \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static int same_on_all_ranks(uint64_t h)
{
    uint64_t v[2] = {h, ~h};
    MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    return v[0] == h && v[1] == ~h;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", n);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    return p;
}

static trib_allreduce_opts_t opts_for(trib_algo_t algo, size_t segment)
{
    trib_allreduce_opts_t o;
    trib_allreduce_opts_init(&o);
    o.algo = algo;
    o.segment_bytes = segment;
    return o;
}

/* ---------------------------------------------------------------- A */

/* The cross-rank hashes of part A, compared in batches (matrix_common.h). */
static hash_batch_t batch;

/* --quick (ctest at p = 4, 6, 7, 8): part A runs the counts p+1 and 1000 (segmented), and one type x op pair
 * in three, rotating with p, so the full runs at p = 1, 2, 3, 5 see every pair and the quick ones still
 * cover each algorithm, each buffer mode and many pairs at their p. */
static int quick;

static void part_a(trib_algo_t algo)
{
    const size_t full_counts[] = {0, 1, (size_t)(nprocs - 1), (size_t)nprocs + 1, 1000, 1000};
    const size_t quick_counts[] = {(size_t)nprocs + 1, 1000, 1000};
    const size_t *counts = quick ? quick_counts : full_counts;
    const int ncounts = quick ? 3 : 6;
    size_t maxb = 1000 * 8;
    char *send = xmalloc(maxb), *copy = xmalloc(maxb), *nb = xmalloc(maxb), *bl = xmalloc(maxb);
    int idx = 0;
    for (int t = 0; t < K_NTYPES; t++) {
        for (int op = 0; op < O_NOPS; op++) {
            if (!pair_valid((tkind_t)t, (okind_t)op) || (quick && (t * O_NOPS + op) % 3 != nprocs % 3))
                continue;
            for (int ci = 0; ci < ncounts; ci++, idx++) {
                size_t count = counts[ci], es = tkind_size[t], bytes = count * es;
                size_t seg = ci == ncounts - 1 ? 40 : 0;
                int mode = idx % 3;
                uint64_t seed = 1000u + (uint64_t)idx;
                trib_allreduce_opts_t o = opts_for(algo, seg);
                for (size_t i = 0; i < count; i++)
                    store_value((tkind_t)t, send, i, input_value((tkind_t)t, (okind_t)op, seed, rank, i));
                memcpy(copy, send, bytes);
                /* Blocking twin. */
                memcpy(bl, send, bytes);
                int rcb = trib_allreduce_ex(mode == 0 ? send : bl, bl, count, tkind_mpi((tkind_t)t),
                                            okind_mpi((okind_t)op), MPI_COMM_WORLD, &o);
                /* Non-blocking. */
                memset(nb, 0xA5, bytes);
                const void *sb = send;
                if (mode != 0) {
                    memcpy(nb, send, bytes);
                    sb = mode == 1 ? (const void *)nb : MPI_IN_PLACE;
                }
                trib_request_t req;
                int rc = trib_iallreduce_ex(sb, nb, count, tkind_mpi((tkind_t)t), okind_mpi((okind_t)op),
                                            MPI_COMM_WORLD, &o, &req);
                if (rc == TRIB_OK)
                    rc = trib_wait(&req);
                n_cases++;
                const char *what = trib_algo_name(algo);
                char label[HASH_BATCH_LABEL];
                snprintf(label, sizeof label, "A algo=%s type=%s op=%s count=%zu mode=%d segment=%zu", what,
                         tkind_name[t], okind_name[op], count, mode, seg);
                if (rc != TRIB_OK || rcb != TRIB_OK) {
                    FAIL("%s: status nb=%s blocking=%s (%s)", label, trib_err_name(rc), trib_err_name(rcb),
                         trib_last_error(rc != TRIB_OK ? rc : rcb));
                    n_fail += hash_batch_add(&batch, 0, 1, label, MPI_COMM_WORLD, rank, 30);
                    continue;
                }
                if (req != TRIB_REQUEST_NULL)
                    FAIL("A algo=%s: the request is not TRIB_REQUEST_NULL after trib_wait", what);
                if (bytes > 0 && memcmp(nb, bl, bytes) != 0)
                    FAIL("A algo=%s type=%s op=%s count=%zu mode=%d segment=%zu: non-blocking result differs from "
                         "the blocking one (hash %016llx vs %016llx)",
                         what, tkind_name[t], okind_name[op], count, mode, seg,
                         (unsigned long long)hash_bytes(nb, bytes), (unsigned long long)hash_bytes(bl, bytes));
                if (mode == 0 && bytes > 0 && memcmp(send, copy, bytes) != 0)
                    FAIL("A algo=%s type=%s op=%s count=%zu: the send buffer changed", what, tkind_name[t],
                         okind_name[op], count);
                for (size_t i = 0; i < count; i++) {
                    val_t want = expected_value((tkind_t)t, (okind_t)op, seed, nprocs, i);
                    val_t got = load_value((tkind_t)t, nb, i);
                    if (!values_equal((tkind_t)t, got, want)) {
                        char g[64], e[64];
                        format_value((tkind_t)t, got, g, sizeof g);
                        format_value((tkind_t)t, want, e, sizeof e);
                        FAIL("A algo=%s type=%s op=%s count=%zu mode=%d index=%zu: got %s expected %s", what,
                             tkind_name[t], okind_name[op], count, mode, i, g, e);
                        break;
                    }
                }
                n_fail += hash_batch_add(&batch, hash_bytes(nb, bytes), 0, label, MPI_COMM_WORLD, rank, 30);
            }
        }
    }
    n_fail += hash_batch_flush(&batch, MPI_COMM_WORLD, rank, 30);
    free(send);
    free(copy);
    free(nb);
    free(bl);
}

/* ---------------------------------------------------------------- B */

#define NREQ 5

static void part_b(trib_algo_t algo)
{
    const tkind_t types[NREQ] = {K_FLOAT, K_DOUBLE, K_INT32, K_FLOAT, K_INT64};
    const okind_t ops[NREQ] = {O_SUM, O_AVG, O_MAX, O_SUM, O_PROD};
    const size_t counts[NREQ] = {1000, 333, (size_t)nprocs + 1, 2049, 17};
    const size_t segs[NREQ] = {0, 0, 0, 40, 0};
    for (int order = 0; order < 4; order++) {
        void *in[NREQ], *nb[NREQ], *bl[NREQ];
        trib_request_t req[NREQ];
        for (int k = 0; k < NREQ; k++) {
            size_t bytes = counts[k] * tkind_size[types[k]];
            in[k] = xmalloc(bytes);
            nb[k] = xmalloc(bytes);
            bl[k] = xmalloc(bytes);
            for (size_t i = 0; i < counts[k]; i++)
                store_value(types[k], in[k], i, input_value(types[k], ops[k], 77u + (uint64_t)k, rank, i));
            memcpy(nb[k], in[k], bytes);
        }
        for (int k = 0; k < NREQ; k++) {
            trib_allreduce_opts_t o = opts_for(algo, segs[k]);
            int rc = trib_iallreduce_ex(k == 3 ? MPI_IN_PLACE : in[k], nb[k], counts[k], tkind_mpi(types[k]),
                                        okind_mpi(ops[k]), MPI_COMM_WORLD, &o, &req[k]);
            if (rc != TRIB_OK)
                FAIL("B algo=%s request %d: start failed: %s", trib_algo_name(algo), k, trib_last_error(rc));
        }
        int rc = TRIB_OK;
        if (order == 0) {
            rc = trib_waitall(NREQ, req);
        } else if (order == 1) {
            for (int k = NREQ - 1; k >= 0 && rc == TRIB_OK; k--)
                rc = trib_wait(&req[k]);
        } else if (order == 3) {
            /* Asymmetric: odd ranks make a blocking call while the requests are pending, even ranks
             * wait for the requests first (they need the odd ranks to move them: the blocking call
             * completes them before its own traffic). */
            float one = 1, sum = 0;
            trib_allreduce_opts_t o = opts_for(algo, 0);
            int rcb = TRIB_OK;
            if (rank % 2)
                rcb = trib_allreduce_ex(&one, &sum, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &o);
            rc = trib_waitall(NREQ, req);
            if (rank % 2 == 0)
                rcb = trib_allreduce_ex(&one, &sum, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &o);
            if (rcb != TRIB_OK || sum != (float)nprocs)
                FAIL("B algo=%s: blocking call before/after the wait: %s, sum %g (expected %d)", trib_algo_name(algo),
                     trib_err_name(rcb), (double)sum, nprocs);
        } else {
            /* A blocking call with requests pending completes them first; then test loops. */
            float one = 1, sum = 0;
            trib_allreduce_opts_t o = opts_for(algo, 0);
            int rcb = trib_allreduce_ex(&one, &sum, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &o);
            if (rcb != TRIB_OK || sum != (float)nprocs)
                FAIL("B algo=%s: blocking call among pending requests: %s, sum %g (expected %d)",
                     trib_algo_name(algo), trib_err_name(rcb), (double)sum, nprocs);
            for (int k = 0; k < NREQ && rc == TRIB_OK; k++) {
                int done = 0;
                while (!done && rc == TRIB_OK)
                    rc = trib_test(&req[k], &done);
            }
        }
        n_cases++;
        if (rc != TRIB_OK)
            FAIL("B algo=%s order=%d: completion failed: %s", trib_algo_name(algo), order, trib_last_error(rc));
        for (int k = 0; k < NREQ; k++) {
            size_t bytes = counts[k] * tkind_size[types[k]];
            trib_allreduce_opts_t o = opts_for(algo, segs[k]);
            int rcb = trib_allreduce_ex(in[k], bl[k], counts[k], tkind_mpi(types[k]), okind_mpi(ops[k]),
                                        MPI_COMM_WORLD, &o);
            if (rcb != TRIB_OK || memcmp(nb[k], bl[k], bytes) != 0)
                FAIL("B algo=%s order=%d request %d (%s %s count %zu): non-blocking hash %016llx, blocking %016llx "
                     "(%s)", trib_algo_name(algo), order, k, tkind_name[types[k]], okind_name[ops[k]], counts[k],
                     (unsigned long long)hash_bytes(nb[k], bytes), (unsigned long long)hash_bytes(bl[k], bytes),
                     trib_err_name(rcb));
            if (req[k] != TRIB_REQUEST_NULL)
                FAIL("B algo=%s request %d not TRIB_REQUEST_NULL after completion", trib_algo_name(algo), k);
            free(in[k]);
            free(nb[k]);
            free(bl[k]);
        }
    }
}

/* ---------------------------------------------------------------- C */

/*
 * Associative, not commutative: pairs (a, b) stand for t -> a t + b, and
 * x (+) y is "x, then y": (ax, bx) (+) (ay, by) = (ax ay, ay bx + by) mod 2^32.
 */
static void affine_op(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type; /* MPI_2INT */
    const unsigned *x = in;
    unsigned *y = inout;
    for (int i = 0; i < *len; i++) {
        unsigned a = x[2 * i] * y[2 * i], b = y[2 * i] * x[2 * i + 1] + y[2 * i + 1];
        y[2 * i] = a;
        y[2 * i + 1] = b;
    }
}

/* Commutative sum of ints, element by element of whatever the datatype covers. */
static void int_sum_op(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type; /* used on a vector of 2 ints with a stride of 3 */
    const int *x = in;
    int *y = inout;
    for (int i = 0; i < *len; i++) {
        y[3 * i] += x[3 * i];
        y[3 * i + 1] += x[3 * i + 1];
    }
}

static void part_c(trib_algo_t algo)
{
    MPI_Op affine, isum;
    MPI_Op_create(affine_op, 0, &affine);
    MPI_Op_create(int_sum_op, 1, &isum);
    MPI_Datatype vec;
    MPI_Type_vector(2, 1, 1, MPI_INT, &vec); /* two ints ... */
    MPI_Datatype strided;
    MPI_Type_create_resized(vec, 0, 3 * (MPI_Aint)sizeof(int), &strided); /* ... every three: a gap */
    MPI_Type_commit(&strided);
    const size_t n = 257;
    int *in = xmalloc(3 * n * sizeof(int)), *nb = xmalloc(3 * n * sizeof(int)), *bl = xmalloc(3 * n * sizeof(int));
    for (int which = 0; which < 2; which++) {
        for (size_t i = 0; i < 3 * n; i++) {
            in[i] = (int)(trib_rng_at(trib_hash64(55u + (uint64_t)which, (uint64_t)rank), i) % 1000);
            nb[i] = bl[i] = -7; /* gaps must stay untouched */
        }
        MPI_Datatype type = which == 0 ? MPI_2INT : strided;
        MPI_Op op = which == 0 ? affine : isum;
        size_t count = n;
        trib_allreduce_opts_t o = opts_for(algo, which == 0 ? 64 : 0);
        trib_request_t req;
        int rcb = trib_allreduce_ex(in, bl, count, type, op, MPI_COMM_WORLD, &o);
        int rc = trib_iallreduce_ex(in, nb, count, type, op, MPI_COMM_WORLD, &o, &req);
        if (rc == TRIB_OK)
            rc = trib_wait(&req);
        n_cases++;
        if (rc != rcb) {
            FAIL("C algo=%s %s: status non-blocking %s, blocking %s", trib_algo_name(algo),
                 which == 0 ? "non-commutative op" : "strided type", trib_err_name(rc), trib_err_name(rcb));
            continue;
        }
        if (rc == TRIB_OK && memcmp(nb, bl, 3 * n * sizeof(int)) != 0)
            FAIL("C algo=%s %s: non-blocking result differs from blocking", trib_algo_name(algo),
                 which == 0 ? "non-commutative op" : "strided type");
        if (rc == TRIB_OK && which == 0) {
            /* Rank-order reference: x0 (+) x1 (+) ... (+) x_p-1. */
            for (size_t i = 0; i < count; i++) {
                unsigned a = 1, b = 0;
                for (int r = 0; r < nprocs; r++) {
                    unsigned ar = (unsigned)(trib_rng_at(trib_hash64(55u, (uint64_t)r), 2 * i) % 1000);
                    unsigned br = (unsigned)(trib_rng_at(trib_hash64(55u, (uint64_t)r), 2 * i + 1) % 1000);
                    b = ar * b + br;
                    a = a * ar;
                }
                if ((unsigned)nb[2 * i] != a || (unsigned)nb[2 * i + 1] != b) {
                    FAIL("C algo=%s non-commutative index %zu: got (%u, %u) expected (%u, %u)", trib_algo_name(algo),
                         i, (unsigned)nb[2 * i], (unsigned)nb[2 * i + 1], a, b);
                    break;
                }
            }
        }
        if (rc == TRIB_OK && which == 1 && nb[2] != -7)
            FAIL("C algo=%s strided type: a gap was written (%d)", trib_algo_name(algo), nb[2]);
    }
    free(in);
    free(nb);
    free(bl);
    MPI_Type_free(&strided);
    MPI_Type_free(&vec);
    MPI_Op_free(&affine);
    MPI_Op_free(&isum);
}

/* ---------------------------------------------------------------- D */

static void part_d(trib_algo_t algo)
{
    const size_t counts[] = {1, 5, 1000};
    const trib_wire_t wires[] = {TRIB_WIRE_BF16, TRIB_WIRE_FP16};
    for (int w = 0; w < 2; w++) {
        double u = wires[w] == TRIB_WIRE_BF16 ? 1.0 / 256 : 1.0 / 2048;
        for (int ci = 0; ci < 3; ci++) {
            for (int avg = 0; avg < 2; avg++) {
                size_t n = counts[ci];
                uint64_t seed = 9000u + (uint64_t)(w * 10 + ci * 2 + avg);
                float *in = xmalloc(n * sizeof(float)), *nb = xmalloc(n * sizeof(float)),
                      *bl = xmalloc(n * sizeof(float));
                for (size_t i = 0; i < n; i++)
                    in[i] = (float)(2.0 * ((double)(trib_rng_at(trib_hash64(seed, (uint64_t)rank), i) >> 11) /
                                           9007199254740992.0) - 1.0);
                trib_allreduce_opts_t o = opts_for(algo, ci == 2 && avg ? 40 : 0);
                o.wire = wires[w];
                MPI_Op op = avg ? TRIB_OP_AVG : MPI_SUM;
                int rcb = trib_allreduce_ex(in, bl, n, MPI_FLOAT, op, MPI_COMM_WORLD, &o);
                memcpy(nb, in, n * sizeof(float));
                trib_request_t req;
                int rc = trib_iallreduce_ex(MPI_IN_PLACE, nb, n, MPI_FLOAT, op, MPI_COMM_WORLD, &o, &req);
                if (rc == TRIB_OK)
                    rc = trib_wait(&req);
                n_cases++;
                const char *wn = trib_wire_name(wires[w]);
                if (rc != TRIB_OK || rcb != TRIB_OK) {
                    FAIL("D algo=%s wire=%s count=%zu: status nb=%s blocking=%s (%s)", trib_algo_name(algo), wn, n,
                         trib_err_name(rc), trib_err_name(rcb), trib_last_error(rc != TRIB_OK ? rc : rcb));
                } else {
                    if (memcmp(nb, bl, n * sizeof(float)) != 0)
                        FAIL("D algo=%s wire=%s count=%zu avg=%d: non-blocking differs from blocking",
                             trib_algo_name(algo), wn, n, avg);
                    if (!same_on_all_ranks(hash_bytes(nb, n * sizeof(float))))
                        FAIL("D algo=%s wire=%s count=%zu: results differ between ranks", trib_algo_name(algo), wn,
                             n);
                    for (size_t i = 0; i < n; i++) {
                        double ref = 0, mag = 0;
                        for (int r = 0; r < nprocs; r++) {
                            double x = (double)(float)(2.0 * ((double)(trib_rng_at(trib_hash64(seed, (uint64_t)r), i) >> 11) /
                                                              9007199254740992.0) - 1.0);
                            ref += x;
                            mag += fabs(x);
                        }
                        double scale = avg ? nprocs : 1;
                        double tol = (nprocs * u * mag * 1.0001 + (avg ? FLT_EPSILON * mag : 0)) / scale + 1e-30;
                        if (fabs((double)nb[i] - ref / scale) > tol) {
                            FAIL("D algo=%s wire=%s count=%zu avg=%d index %zu: got %.9g expected %.9g (bound %.3g)",
                                 trib_algo_name(algo), wn, n, avg, i, (double)nb[i], ref / scale, tol);
                            break;
                        }
                    }
                }
                free(in);
                free(nb);
                free(bl);
            }
        }
    }
    /* A 16-bit wire on anything but float sum/avg is refused. */
    double x = 1, y = 0;
    trib_allreduce_opts_t o = opts_for(algo, 0);
    o.wire = TRIB_WIRE_BF16;
    trib_request_t req;
    int rc = trib_iallreduce_ex(&x, &y, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &o, &req);
    int rcb = trib_allreduce_ex(&x, &y, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &o);
    n_cases++;
    if (rc != TRIB_ERR_UNSUPPORTED || rcb != TRIB_ERR_UNSUPPORTED || req != TRIB_REQUEST_NULL)
        FAIL("D algo=%s: bf16 wire on MPI_DOUBLE: non-blocking %s, blocking %s (expected TRIB_ERR_UNSUPPORTED)",
             trib_algo_name(algo), trib_err_name(rc), trib_err_name(rcb));
}

/* ---------------------------------------------------------------- E */

static void part_e(trib_algo_t algo)
{
    if (nprocs < 2)
        return;
    float in[16] = {0}, out[16];
    trib_allreduce_opts_t o = opts_for(algo, 0);
    o.check = 1;
    trib_request_t req;
    int rc = trib_iallreduce_ex(in, out, rank == 0 ? 10 : 11, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &o, &req);
    if (rc == TRIB_OK)
        rc = trib_wait(&req);
    n_cases++;
    if (rc != TRIB_ERR_MISMATCH)
        FAIL("E algo=%s: different counts in check mode gave %s (expected TRIB_ERR_MISMATCH)", trib_algo_name(algo),
             trib_err_name(rc));
    /* Still usable, with the check on. */
    for (int i = 0; i < 16; i++)
        in[i] = (float)(rank + i);
    rc = trib_iallreduce_ex(in, out, 16, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &o, &req);
    if (rc == TRIB_OK)
        rc = trib_wait(&req);
    float want = (float)(nprocs * (nprocs - 1) / 2);
    if (rc != TRIB_OK || out[0] != want)
        FAIL("E algo=%s: after the mismatch: %s, out[0] = %g (expected %g)", trib_algo_name(algo), trib_err_name(rc),
             (double)out[0], (double)want);
}

/* ---------------------------------------------------------------- F */

static volatile double sink;

static void part_f(trib_algo_t algo)
{
    size_t n = (size_t)1 << 17;
    float *in = xmalloc(n * sizeof(float)), *out = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        in[i] = (float)((i + (size_t)rank) % 7);
    trib_allreduce_opts_t o = opts_for(algo, 0);
    trib_request_t req;
    int rc = trib_iallreduce_ex(in, out, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &o, &req);
    int done = 0;
    long tests = 0;
    double t0 = MPI_Wtime();
    /* Compute in small pieces, testing between them, until the request is done (bounded: 120 s). */
    while (rc == TRIB_OK && !done && MPI_Wtime() - t0 < 120) {
        double acc = 0;
        for (int i = 0; i < 20000; i++)
            acc += (double)i * 1e-9;
        sink = acc;
        rc = trib_test(&req, &done);
        tests++;
    }
    n_cases++;
    if (rc != TRIB_OK || !done) {
        FAIL("F algo=%s: the request did not complete during compute (status %s, %ld tests)", trib_algo_name(algo),
             trib_err_name(rc), tests);
        trib_wait(&req);
    } else {
        float want0 = 0;
        for (int r = 0; r < nprocs; r++)
            want0 += (float)((size_t)r % 7);
        if (out[0] != want0)
            FAIL("F algo=%s: out[0] = %g, expected %g", trib_algo_name(algo), (double)out[0], (double)want0);
    }
    free(in);
    free(out);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nprocs);
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--algo") == 0 && i + 1 < argc)
            only = argv[++i];
    }
    trib_algo_t algos[8];
    int nalgo = 0;
    algos[nalgo++] = TRIB_ALGO_RING;
    algos[nalgo++] = TRIB_ALGO_TREE;
    algos[nalgo++] = TRIB_ALGO_RD;
    algos[nalgo++] = TRIB_ALGO_MPI;
    if (have_shm()) {
        algos[nalgo++] = TRIB_ALGO_SHM;
        algos[nalgo++] = TRIB_ALGO_HIER; /* no schedule: runs inside trib_iallreduce, like shm */
    }
    algos[nalgo++] = TRIB_ALGO_AUTO;
    for (int i = 0; i < nalgo; i++) {
        trib_algo_t algo = algos[i];
        if (only && strcmp(only, trib_algo_name(algo)) != 0)
            continue;
        part_a(algo);
        part_b(algo);
        part_c(algo);
        part_d(algo);
        part_e(algo);
        if (algo != TRIB_ALGO_MPI && algo != TRIB_ALGO_SHM && algo != TRIB_ALGO_HIER)
            part_f(algo);
    }
    long fails = n_fail, all_fails = 0;
    MPI_Allreduce(&fails, &all_fails, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("iallreduce_matrix p=%d: %ld cases per rank, %ld failures on all ranks\n", nprocs, n_cases, all_fails);
    MPI_Finalize();
    return all_fails != 0;
}
