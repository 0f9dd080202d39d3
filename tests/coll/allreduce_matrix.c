/*
 * allreduce_matrix.c - the correctness matrix of trib_allreduce, run by ctest
 * at p = 1, 2, 3, 4, 5, 7, 8.
 *
 * For every algorithm (ring, tree, rd, mpi, auto, hier; shm when the ranks
 * share a node and the build has it) this checks:
 *   A. every type x op (MPI_FLOAT, MPI_DOUBLE, MPI_INT, MPI_INT32_T,
 *      MPI_INT64_T, MPI_UINT8_T x sum, prod, min, max, avg-on-floats) at
 *      counts {0, 1, p-1, p, p+1, 1000}, in three buffer modes: separate
 *      buffers (the send buffer must come back unchanged), sendbuf ==
 *      recvbuf, and MPI_IN_PLACE; every element against the exact reference
 *      (matrix_common.h);
 *   B. tiny segment sizes so every algorithm's multi-segment paths run on
 *      small inputs: 3 elements at count p+1, 40 elements at count 1000
 *      (several segments per ring block even at p = 8, with a short last one);
 *   C. large counts {1000003, 2^24+3}, sum, on float and int32 (for AUTO
 *      only when it resolves to an algorithm that is not run explicitly);
 *   D. random (non-integer) float and double inputs, sum and avg, checked
 *      against a double / long double reference within the tolerance
 *        |got - ref| <= (p - 1) * eps(type) * sum_r |x_r| + tiny
 *      (the standard bound for p - 1 floating-point additions in any order).
 * For every case the hash of the result bytes must be identical on all
 * ranks (bitwise equality; compared in batches, matrix_common.h).  The
 * random-input cases (D) run twice with the same inputs and the two results
 * must be bitwise identical (run-to-run determinism); the others are checked
 * exactly against the reference, which leaves a correct result one bit
 * pattern, so they run once.
 *
 * A failure prints the case (algorithm, type, op, count, mode, segment, rank,
 * index, got, expected) and the program exits non-zero after finishing the
 * matrix.  Rank 0 prints one summary line.
 *
 * Usage: allreduce_matrix [--quick] [--large-counts N] [--algo NAME] [--expect-nodes N]
 *   --quick skips part C; --large-counts 1 runs part C at its first count only
 *   (1000003: the sanitizer build, where 2^24 + 3 costs most of the time and
 *   takes the same large-message paths); --algo runs one algorithm only (for debugging);
 *   --expect-nodes fails unless the library sees N nodes (the layouts faked
 *   with TRIB_FAKE_RANKS_PER_NODE, where hier runs across "nodes").
 */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "coll_test.h"
#include "core/timer.h"
#include "matrix_common.h"

typedef enum { M_OUT, M_SAME, M_INPLACE, M_NMODES } mode_t_;
static const char *const mode_name[M_NMODES] = {"separate", "send==recv", "MPI_IN_PLACE"};

typedef struct {
    trib_algo_t algo;
    tkind_t type;
    okind_t op;
    size_t count;
    mode_t_ mode;
    size_t segment_bytes;
    int random; /* D: random float inputs, tolerance check */
    uint64_t seed;
} case_t;

static int rank, nprocs;
static long n_cases, n_fail_cases, n_printed;
#define MAX_PRINTED 20

static void report(const case_t *c, const char *what, size_t index, const char *got, const char *expected)
{
    if (n_printed++ >= MAX_PRINTED)
        return;
    fprintf(stderr,
            "FAIL p=%d algo=%s type=%s op=%s count=%zu mode=%s segment=%zu%s rank=%d: %s index=%zu got=%s "
            "expected=%s\n",
            nprocs, trib_algo_name(c->algo), tkind_name[c->type], okind_name[c->op], c->count, mode_name[c->mode],
            c->segment_bytes, c->random ? " random-inputs" : "", rank, what, index, got, expected);
}

/* Fills buf with this rank's inputs. */
static void fill_inputs(const case_t *c, void *buf)
{
    if (c->random) {
        trib_rng_t g;
        trib_rng_init(&g, c->seed, (uint64_t)rank);
        for (size_t i = 0; i < c->count; i++) {
            double x = 2.0 * trib_rng_uniform(&g) - 1.0;
            if (c->type == K_FLOAT)
                ((float *)buf)[i] = (float)x;
            else
                ((double *)buf)[i] = x;
        }
        return;
    }
    for (size_t i = 0; i < c->count; i++)
        store_value(c->type, buf, i, input_value(c->type, c->op, c->seed, rank, i));
}

/*
 * The large cases use inputs with a closed-form sum so the reference costs
 * O(count), not O(p count): x_r[i] = (r + 1) * g(i), g(i) in [-30, 30],
 * sum = g(i) p (p + 1) / 2 (exact in float and int32).
 */
static int64_t large_g(size_t i) { return (int64_t)(i % 61) - 30; }

static void fill_large(const case_t *c, void *buf)
{
    for (size_t i = 0; i < c->count; i++) {
        int64_t v = (rank + 1) * large_g(i);
        if (c->type == K_FLOAT)
            ((float *)buf)[i] = (float)v;
        else
            ((int32_t *)buf)[i] = (int32_t)v;
    }
}

static int check_large(const case_t *c, const void *buf)
{
    int64_t tri = (int64_t)nprocs * (nprocs + 1) / 2;
    for (size_t i = 0; i < c->count; i++) {
        int64_t want = large_g(i) * tri;
        int64_t got = c->type == K_FLOAT ? (int64_t)((const float *)buf)[i] : ((const int32_t *)buf)[i];
        if (got != want || (c->type == K_FLOAT && ((const float *)buf)[i] != (float)want)) {
            char g[64], e[64];
            snprintf(g, sizeof g, "%lld", (long long)got);
            snprintf(e, sizeof e, "%lld", (long long)want);
            report(c, "value", i, g, e);
            return 1;
        }
    }
    return 0;
}

/* Tolerance check of random float inputs against a wide reference. */
static int check_random(const case_t *c, const void *buf)
{
    trib_rng_t *g = malloc((size_t)nprocs * sizeof *g);
    if (!g)
        return 1;
    for (int r = 0; r < nprocs; r++)
        trib_rng_init(&g[r], c->seed, (uint64_t)r);
    double eps = c->type == K_FLOAT ? FLT_EPSILON : DBL_EPSILON;
    int bad = 0;
    for (size_t i = 0; i < c->count && !bad; i++) {
        long double ref = 0, mag = 0;
        for (int r = 0; r < nprocs; r++) {
            double x = 2.0 * trib_rng_uniform(&g[r]) - 1.0;
            long double xv = c->type == K_FLOAT ? (long double)(float)x : (long double)x;
            ref += xv;
            mag += fabsl(xv);
        }
        long double got = c->type == K_FLOAT ? ((const float *)buf)[i] : ((const double *)buf)[i];
        long double scale = c->op == O_AVG ? nprocs : 1;
        /* +1 rounding for the division of AVG. */
        long double tol = ((nprocs - 1) + (c->op == O_AVG)) * eps * mag / scale + 1e-30L;
        if (fabsl(got - ref / scale) > tol) {
            char gs[64], es[64];
            snprintf(gs, sizeof gs, "%.17Lg", got);
            snprintf(es, sizeof es, "%.17Lg (tolerance %.3Lg)", ref / scale, tol);
            report(c, "value", i, gs, es);
            bad = 1;
        }
    }
    free(g);
    return bad;
}

static int check_exact(const case_t *c, const void *buf)
{
    for (size_t i = 0; i < c->count; i++) {
        val_t want = expected_value(c->type, c->op, c->seed, nprocs, i);
        val_t got = load_value(c->type, buf, i);
        if (!values_equal(c->type, got, want)) {
            char g[64], e[64];
            format_value(c->type, got, g, sizeof g);
            format_value(c->type, want, e, sizeof e);
            report(c, "value", i, g, e);
            return 1;
        }
    }
    return 0;
}

/* Runs the allreduce once into a fresh result buffer; returns its hash. */
static int run_once(const case_t *c, int large, void *send, void *recv, uint64_t *hash)
{
    size_t bytes = c->count * tkind_size[c->type];
    void (*fill)(const case_t *, void *) = large ? fill_large : fill_inputs;
    const void *sbuf;
    if (c->mode == M_OUT) {
        fill(c, send);
        memset(recv, 0xA5, bytes);
        sbuf = send;
    } else {
        fill(c, recv);
        sbuf = c->mode == M_SAME ? recv : MPI_IN_PLACE;
    }
    trib_allreduce_opts_t o;
    trib_allreduce_opts_init(&o);
    o.algo = c->algo;
    o.segment_bytes = c->segment_bytes;
    int rc = trib_allreduce_ex(sbuf, recv, c->count, tkind_mpi(c->type), okind_mpi(c->op), MPI_COMM_WORLD, &o);
    if (rc != TRIB_OK) {
        report(c, "status", 0, trib_err_name(rc), trib_last_error(rc));
        return 1;
    }
    *hash = hash_bytes(recv, bytes);
    if (c->mode == M_OUT && bytes > 0 && !large) {
        /* The send buffer is const: it must be unchanged. */
        void *again = malloc(bytes);
        int changed = 0;
        if (again) {
            fill(c, again);
            changed = memcmp(again, send, bytes) != 0;
            free(again);
        }
        if (changed) {
            report(c, "send buffer modified", 0, "-", "-");
            return 1;
        }
    }
    return 0;
}

static hash_batch_t batch;

static void case_label(const case_t *c, char *buf, size_t cap)
{
    snprintf(buf, cap, "p=%d algo=%s type=%s op=%s count=%zu mode=%s segment=%zu%s", nprocs, trib_algo_name(c->algo),
             tkind_name[c->type], okind_name[c->op], c->count, mode_name[c->mode], c->segment_bytes,
             c->random ? " random-inputs" : "");
}

/*
 * Runs a case and checks its values here.  Exact cases run once: their
 * values are checked exactly, so a correct result has only one bit pattern and
 * a second run could not differ without failing that check; random inputs
 * (whose rounding depends on the reduction order) run twice and must agree
 * bitwise.  The cross-rank hash goes into the batch.
 */
static void run_case(const case_t *c, int large, void *send, void *recv)
{
    uint64_t h1 = 0, h2 = 0;
    int fail = run_once(c, large, send, recv, &h1);
    if (!fail)
        fail = large ? check_large(c, recv) : c->random ? check_random(c, recv) : check_exact(c, recv);
    if (!fail && c->random) {
        fail = run_once(c, large, send, recv, &h2);
        if (!fail && h1 != h2) {
            report(c, "run-to-run bits differ", 0, "-", "-");
            fail = 1;
        }
    }
    char label[HASH_BATCH_LABEL];
    case_label(c, label, sizeof label);
    n_fail_cases += hash_batch_add(&batch, h1, fail, label, MPI_COMM_WORLD, rank, MAX_PRINTED);
    n_cases++;
    if (fail)
        n_fail_cases++;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nprocs);
    int quick = 0, expect_nodes = 0, n_large = 2;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--large-counts") == 0 && i + 1 < argc) {
            n_large = atoi(argv[++i]);
            if (n_large < 1 || n_large > 2) {
                fprintf(stderr, "allreduce_matrix: --large-counts must be 1 or 2\n");
                MPI_Abort(MPI_COMM_WORLD, 2);
            }
        }
        else if (strcmp(argv[i], "--algo") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--expect-nodes") == 0 && i + 1 < argc)
            expect_nodes = atoi(argv[++i]);
    }
    double t0 = trib_now();
    int nodes = 0, per_node = 0;
    int lrc = trib_allreduce_layout(MPI_COMM_WORLD, &nodes, &per_node);
    if (lrc != TRIB_OK || (expect_nodes > 0 && nodes != expect_nodes)) {
        fprintf(stderr, "FAIL rank %d: layout: %s, %d nodes (expected %d)\n", rank,
                lrc != TRIB_OK ? trib_last_error(lrc) : "ok", nodes, expect_nodes);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }

    trib_algo_t algos[7] = {TRIB_ALGO_RING, TRIB_ALGO_TREE, TRIB_ALGO_RD, TRIB_ALGO_MPI, TRIB_ALGO_AUTO,
                            TRIB_ALGO_HIER};
    int nalgos = 6;
    if (have_shm())
        algos[nalgos++] = TRIB_ALGO_SHM;
    if (only) {
        if (trib_algo_parse(only, &algos[0]) != TRIB_OK) {
            fprintf(stderr, "allreduce_matrix: unknown algorithm %s\n", only);
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
        nalgos = 1;
    }

    size_t large_counts[2] = {1000003, ((size_t)1 << 24) + 3};
    size_t max_count = large_counts[n_large - 1];
    void *send = malloc(max_count * 8), *recv = malloc(max_count * 8);
    if (!send || !recv) {
        fprintf(stderr, "allreduce_matrix: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    size_t p = (size_t)nprocs;
    size_t counts[6] = {0, 1, p - 1, p, p + 1, 1000};
    uint64_t seed = 1;

    for (int a = 0; a < nalgos; a++) {
        /* A: every type x op x count x mode. */
        for (int t = 0; t < K_NTYPES; t++)
            for (int o = 0; o < O_NOPS; o++) {
                if (!pair_valid((tkind_t)t, (okind_t)o))
                    continue;
                for (int ci = 0; ci < 6; ci++) {
                    if (ci > 0 && counts[ci] == counts[ci - 1])
                        continue; /* p - 1 == 1 at p = 2, ... */
                    for (int m = 0; m < M_NMODES; m++) {
                        case_t c = {algos[a], (tkind_t)t, (okind_t)o, counts[ci], (mode_t_)m, 0, 0, seed++};
                        run_case(&c, 0, send, recv);
                    }
                }
            }
        /* B: tiny segments on every type, sum and max. */
        for (int t = 0; t < K_NTYPES; t++)
            for (int o = O_SUM; o <= O_MAX; o += 3)
                for (int ci = 4; ci < 6; ci++) {
                    size_t seg_elems = ci == 4 ? 3 : 40;
                    case_t c = {algos[a], (tkind_t)t, (okind_t)o, counts[ci], (mode_t_)(ci % 2 ? M_INPLACE : M_OUT),
                                seg_elems * tkind_size[t], 0, seed++};
                    run_case(&c, 0, send, recv);
                }
        /* C: large counts, sum on float and int32 (AUTO only when it resolves
         * to an algorithm not run explicitly: otherwise it is the same code). */
        int auto_dup = 0;
        if (algos[a] == TRIB_ALGO_AUTO && nalgos > 1) {
            trib_algo_t chosen;
            size_t seg;
            for (int li = 0; li < n_large; li++)
                if (trib_allreduce_select(large_counts[li], MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, NULL, &chosen, &seg) ==
                    TRIB_OK)
                    for (int b = 0; b < nalgos; b++)
                        auto_dup += algos[b] == chosen;
            auto_dup = auto_dup == n_large;
        }
        for (int li = 0; li < n_large && !quick && !auto_dup; li++)
            for (int t = K_FLOAT; t <= K_INT32; t += K_INT32 - K_FLOAT) {
                case_t c = {algos[a], (tkind_t)t, O_SUM, large_counts[li], (mode_t_)(li == 0 ? M_OUT : M_INPLACE),
                            0, 0, seed++};
                run_case(&c, 1, send, recv);
            }
        /* D: random inputs, tolerance; one with tiny segments. */
        for (int t = K_FLOAT; t <= K_DOUBLE; t++)
            for (int o = O_SUM; o <= O_AVG; o += O_AVG - O_SUM) {
                case_t c = {algos[a], (tkind_t)t, (okind_t)o, 4099, M_OUT, 0, 1, seed++};
                run_case(&c, 0, send, recv);
            }
        case_t c = {algos[a], K_FLOAT, O_SUM, 1000, M_INPLACE, 3 * sizeof(float), 1, seed++};
        run_case(&c, 0, send, recv);
        n_fail_cases += hash_batch_flush(&batch, MPI_COMM_WORLD, rank, MAX_PRINTED);
    }

    long fails = 0;
    MPI_Allreduce(&n_fail_cases, &fails, 1, MPI_LONG, MPI_MAX, MPI_COMM_WORLD);
    double secs = trib_now() - t0;
    if (rank == 0) {
        printf("allreduce matrix p=%d (%d node%s, %s%d ranks per node): %ld cases over %d algorithms (", nprocs, nodes,
               nodes == 1 ? "" : "s", per_node ? "" : "uneven, up to ", per_node ? per_node : nprocs, n_cases, nalgos);
        for (int a = 0; a < nalgos; a++)
            printf("%s%s", a ? "," : "", trib_algo_name(algos[a]));
        printf("), %ld failing, %.1f s%s\n", fails, secs,
               quick ? " (quick: no large counts)" : n_large == 1 ? " (large counts: 1000003 only)" : "");
    }
    free(send);
    free(recv);
    MPI_Finalize();
    return fails ? 1 : 0;
}
