/*
 * pmpi_conformance.c - a plain MPI program (no Tributary header) that calls
 * MPI_Allreduce with a mix of what MPI accepts, for the libtributary_mpi
 * tests (conformance.sh): run once as it is, once with the library
 * preloaded or linked, the printed results must be identical, and the
 * library's summary must show that it served every call except those on
 * MPI_COMM_SELF and on an inter-communicator.
 *
 * Calls: predefined types and ops (int, double, float, long, unsigned,
 * MPI_C_BOOL, MPI_BYTE, short, int8, int64, long double, double complex,
 * MPI_2INT / MPI_DOUBLE_INT with MINLOC / MAXLOC), MPI_IN_PLACE, count 0,
 * a derived vector type with gaps and a struct type with a commutative user
 * op, a non-commutative user op (2x2 matrix product), a split
 * sub-communicator, then MPI_COMM_SELF and an inter-communicator (from
 * MPI_Intercomm_create; p >= 2), which must pass through to MPI.
 * Inputs are exact in any order (small integers), and 8/16-bit sums stay in
 * range, so MPI and Tributary must agree bit for bit.  (Open MPI 4.1
 * saturates overflowing 8- and 16-bit sums, where Tributary wraps as the
 * standard says: a difference on purpose, kept out of this comparison.)
 *
 * Output, one line per rank and case: "rank R case NAME hash H" (FNV-1a of
 * the value bytes of the result; the padding of pair and long double types
 * is left out), and on rank 0: "calls C passthrough S" (its own
 * MPI_Allreduce calls, and how many went to MPI_COMM_SELF or the
 * inter-communicator).
 */
#include <complex.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

static int rank, nprocs;
static long calls, passthrough;

/* The bytes of an element that hold values: up to 3 spans of one element. */
typedef struct {
    size_t stride;
    int n;
    size_t off[3], len[3];
} layout_t;

static layout_t plain(size_t size, MPI_Datatype t)
{
    layout_t l = {size, 1, {0}, {size}};
    if (t == MPI_LONG_DOUBLE && size == 16)
        l.len[0] = 10; /* x87 extended: 10 value bytes, 6 of padding */
    return l;
}

static uint64_t hash_result(const void *buf, size_t count, layout_t l)
{
    const unsigned char *b = buf;
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < count; i++)
        for (int s = 0; s < l.n; s++)
            for (size_t k = 0; k < l.len[s]; k++) {
                h ^= b[i * l.stride + l.off[s] + k];
                h *= UINT64_C(1099511628211);
            }
    return h;
}

static uint64_t mix(size_t i, int r) { return (uint64_t)(i + 1) * UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t)(r + 7) * UINT64_C(0xD1B54A32D192ED03); }

static void check_rc(int rc, const char *name)
{
    if (rc != MPI_SUCCESS) {
        fprintf(stderr, "rank %d case %s: MPI_Allreduce returned %d\n", rank, name, rc);
        MPI_Abort(MPI_COMM_WORLD, 3);
    }
}

static void allreduce(const char *name, const void *sb, void *rb, int count, MPI_Datatype t, MPI_Op op, MPI_Comm comm,
                      layout_t l, int is_passthrough)
{
    calls++;
    passthrough += is_passthrough;
    check_rc(MPI_Allreduce(sb, rb, count, t, op, comm), name);
    printf("rank %d case %s hash %016llx\n", rank, name, (unsigned long long)hash_result(rb, (size_t)count, l));
}

/* Fills n elements of C type T with expression E (of i and rank), reduces, prints. */
#define CASE(name, T, mpit, op, n, E, inplace, comm, pass)                                                            \
    do {                                                                                                           \
        T *s_ = calloc((n) + 1, sizeof(T)), *r_ = calloc((n) + 1, sizeof(T));                                      \
        if (!s_ || !r_)                                                                                            \
            MPI_Abort(MPI_COMM_WORLD, 2);                                                                          \
        size_t n_ = (size_t)(n);                                                                                   \
        for (size_t i = 0; i < n_; i++)                                                                            \
            (inplace ? r_ : s_)[i] = (T)(E);                                                                       \
        allreduce(name, inplace ? MPI_IN_PLACE : (const void *)s_, r_, (n), mpit, op, comm, plain(sizeof(T), mpit), pass); \
        free(s_);                                                                                                  \
        free(r_);                                                                                                  \
    } while (0)

/* ------------------------------------------------------------ user ops */

typedef struct {
    int a;
    double b;
} ist_t;

static MPI_Datatype vec_t, struct_t, mat_t;

static void user_sum(void *in, void *inout, int *len, MPI_Datatype *type)
{
    for (int i = 0; i < *len; i++) {
        if (*type == vec_t) { /* doubles 0 and 3 of every 4 */
            ((double *)inout)[4 * i] += ((const double *)in)[4 * i];
            ((double *)inout)[4 * i + 3] += ((const double *)in)[4 * i + 3];
        } else if (*type == struct_t) {
            ((ist_t *)inout)[i].a += ((const ist_t *)in)[i].a;
            ((ist_t *)inout)[i].b += ((const ist_t *)in)[i].b;
        } else {
            ((int *)inout)[i] += ((const int *)in)[i];
        }
    }
}

/* inout = in x inout, 2x2 matrices of uint32 (mod 2^32): not commutative. */
static void mat_mul(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    for (int i = 0; i < *len; i++) {
        const uint32_t *x = (const uint32_t *)in + 4 * i;
        uint32_t *y = (uint32_t *)inout + 4 * i;
        uint32_t e = y[0], f = y[1], g = y[2], h = y[3];
        y[0] = x[0] * e + x[1] * g;
        y[1] = x[0] * f + x[1] * h;
        y[2] = x[2] * e + x[3] * g;
        y[3] = x[2] * f + x[3] * h;
    }
}

static void derived_cases(void)
{
    MPI_Op sum, mat;
    MPI_Op_create(user_sum, 1, &sum);
    MPI_Op_create(mat_mul, 0, &mat);
    MPI_Datatype tmp;
    MPI_Type_vector(2, 1, 3, MPI_DOUBLE, &vec_t);
    MPI_Type_commit(&vec_t);
    int bl[2] = {1, 1};
    MPI_Aint disp[2] = {offsetof(ist_t, a), offsetof(ist_t, b)};
    MPI_Datatype tt[2] = {MPI_INT, MPI_DOUBLE};
    MPI_Type_create_struct(2, bl, disp, tt, &tmp);
    MPI_Type_create_resized(tmp, 0, sizeof(ist_t), &struct_t);
    MPI_Type_free(&tmp);
    MPI_Type_commit(&struct_t);
    MPI_Type_contiguous(4, MPI_UINT32_T, &mat_t);
    MPI_Type_commit(&mat_t);

    size_t n = 500;
    double *vs = calloc(4 * n, sizeof(double)), *vr = calloc(4 * n, sizeof(double));
    ist_t *ss = calloc(n, sizeof(ist_t)), *sr = calloc(n, sizeof(ist_t));
    uint32_t *ms = calloc(4 * n, sizeof(uint32_t)), *mr = calloc(4 * n, sizeof(uint32_t));
    int *is = calloc(n, sizeof(int));
    if (!vs || !vr || !ss || !sr || !ms || !mr || !is)
        MPI_Abort(MPI_COMM_WORLD, 2);
    for (size_t i = 0; i < n; i++) {
        uint64_t h = mix(i, rank);
        vs[4 * i] = (double)(h % 1000);
        vs[4 * i + 3] = -(double)(h % 77);
        ss[i].a = (int)(h % 5000);
        ss[i].b = (double)(h % 300) - 150;
        ms[4 * i] = 1 + (uint32_t)(h % 3);
        ms[4 * i + 1] = (uint32_t)(h >> 8) % 5;
        ms[4 * i + 2] = (uint32_t)(h >> 16) % 7;
        ms[4 * i + 3] = 1;
        is[i] = (int)(h % 100000);
    }
    layout_t lv = {4 * sizeof(double), 2, {0, 3 * sizeof(double)}, {sizeof(double), sizeof(double)}};
    layout_t ls = {sizeof(ist_t), 2, {offsetof(ist_t, a), offsetof(ist_t, b)}, {sizeof(int), sizeof(double)}};
    allreduce("vector-gaps-userop", vs, vr, (int)n, vec_t, sum, MPI_COMM_WORLD, lv, 0);
    allreduce("struct-userop", ss, sr, 77, struct_t, sum, MPI_COMM_WORLD, ls, 0);
    allreduce("matrix-noncommutative", ms, mr, 100, mat_t, mat, MPI_COMM_WORLD, plain(4 * sizeof(uint32_t), mat_t), 0);
    allreduce("int-userop-inplace", MPI_IN_PLACE, is, 10, MPI_INT, sum, MPI_COMM_WORLD, plain(sizeof(int), MPI_INT), 0);
    free(vs);
    free(vr);
    free(ss);
    free(sr);
    free(ms);
    free(mr);
    free(is);
    MPI_Type_free(&vec_t);
    MPI_Type_free(&struct_t);
    MPI_Type_free(&mat_t);
    MPI_Op_free(&sum);
    MPI_Op_free(&mat);
}

typedef struct {
    int v, i;
} int2_t;
typedef struct {
    double v;
    int i;
} dint_t;

static void pair_cases(void)
{
    size_t n = 50;
    int2_t *a = calloc(n, sizeof *a), *ar = calloc(n, sizeof *ar);
    dint_t *b = calloc(n, sizeof *b), *br = calloc(n, sizeof *br);
    if (!a || !ar || !b || !br)
        MPI_Abort(MPI_COMM_WORLD, 2);
    for (size_t i = 0; i < n; i++) {
        uint64_t h = mix(i, rank);
        a[i].v = (int)(h % 4);
        a[i].i = rank;
        b[i].v = (double)(h % 3);
        b[i].i = (int)(h >> 20) % 40;
    }
    layout_t l2 = {sizeof(int2_t), 1, {0}, {sizeof(int2_t)}};
    layout_t ld = {sizeof(dint_t), 2, {offsetof(dint_t, v), offsetof(dint_t, i)}, {sizeof(double), sizeof(int)}};
    allreduce("2int-minloc", a, ar, (int)n, MPI_2INT, MPI_MINLOC, MPI_COMM_WORLD, l2, 0);
    allreduce("double_int-maxloc", b, br, (int)n, MPI_DOUBLE_INT, MPI_MAXLOC, MPI_COMM_WORLD, ld, 0);
    free(a);
    free(ar);
    free(b);
    free(br);
}

/* ------------------------------------------------------------ MPI_Iallreduce */

static long icalls, ipassthrough;

static void print_hash(const char *name, const void *buf, int count, size_t size)
{
    printf("rank %d case %s hash %016llx\n", rank, name,
           (unsigned long long)hash_result(buf, (size_t)count, plain(size, MPI_INT)));
}

/*
 * Non-blocking cases, completed by every completion call the library
 * interposes: MPI_Wait, an MPI_Test loop, MPI_Waitall with a plain
 * point-to-point pair among the requests, MPI_Waitany, MPI_Testall,
 * MPI_Waitsome; plus one on MPI_COMM_SELF (passed through).  Values are
 * small integers, so every reduction order gives the same bits.
 */
static void iallreduce_cases(MPI_Comm comm)
{
    enum { N = 4099, K = 4 };
    int *in = malloc(K * N * sizeof(int)), *out = malloc(K * N * sizeof(int));
    float *f = malloc(N * sizeof(float));
    if (!in || !out || !f)
        MPI_Abort(MPI_COMM_WORLD, 2);
    for (int i = 0; i < K * N; i++)
        in[i] = (int)(mix((size_t)i, rank) % 1000);
    for (int i = 0; i < N; i++)
        f[i] = (float)(mix((size_t)i, rank) % 101) - 50;
    MPI_Request r[K + 2];
    MPI_Status st[K + 2];
    char name[64];

    /* MPI_Wait; in place on floats. */
    check_rc(MPI_Iallreduce(MPI_IN_PLACE, f, N, MPI_FLOAT, MPI_SUM, comm, &r[0]), "iallreduce-wait");
    icalls++;
    check_rc(MPI_Wait(&r[0], &st[0]), "iallreduce-wait");
    if (r[0] != MPI_REQUEST_NULL)
        MPI_Abort(MPI_COMM_WORLD, 4);
    print_hash("iallreduce-wait-float-inplace", f, N, sizeof(float));

    /* An MPI_Test loop. */
    check_rc(MPI_Iallreduce(in, out, N, MPI_INT, MPI_MAX, comm, &r[0]), "iallreduce-test");
    icalls++;
    for (int flag = 0; !flag;)
        check_rc(MPI_Test(&r[0], &flag, &st[0]), "iallreduce-test");
    print_hash("iallreduce-test-int-max", out, N, sizeof(int));

    /* K requests in flight and a point-to-point ring step, completed by MPI_Waitall. */
    int token = rank, got = -1;
    for (int k = 0; k < K; k++) {
        check_rc(MPI_Iallreduce(in + k * N, out + k * N, N - k, MPI_INT, k % 2 ? MPI_BXOR : MPI_SUM, comm, &r[k]),
                 "iallreduce-waitall");
        icalls++;
    }
    MPI_Irecv(&got, 1, MPI_INT, (rank + nprocs - 1) % nprocs, 5, MPI_COMM_WORLD, &r[K]);
    MPI_Isend(&token, 1, MPI_INT, (rank + 1) % nprocs, 5, MPI_COMM_WORLD, &r[K + 1]);
    check_rc(MPI_Waitall(K + 2, r, st), "iallreduce-waitall");
    for (int k = 0; k < K; k++) {
        snprintf(name, sizeof name, "iallreduce-waitall-%d", k);
        print_hash(name, out + k * N, N - k, sizeof(int));
    }
    printf("rank %d case iallreduce-waitall-p2p got %d\n", rank, got);

    /* MPI_Waitany until all done, then MPI_Testall and MPI_Waitsome on fresh ones. */
    for (int k = 0; k < K; k++) {
        check_rc(MPI_Iallreduce(in + k * N, out + k * N, N, MPI_INT, MPI_MIN, comm, &r[k]), "iallreduce-waitany");
        icalls++;
    }
    for (int left = K; left > 0; left--) {
        int idx = -1;
        check_rc(MPI_Waitany(K, r, &idx, &st[0]), "iallreduce-waitany");
        if (idx < 0 || idx >= K || r[idx] != MPI_REQUEST_NULL)
            MPI_Abort(MPI_COMM_WORLD, 5);
    }
    for (int k = 0; k < K; k++) {
        snprintf(name, sizeof name, "iallreduce-waitany-%d", k);
        print_hash(name, out + k * N, N, sizeof(int));
    }
    for (int k = 0; k < 2; k++) {
        check_rc(MPI_Iallreduce(in + k * N, out + k * N, N, MPI_INT, MPI_SUM, comm, &r[k]), "iallreduce-testall");
        icalls++;
    }
    for (int flag = 0; !flag;)
        check_rc(MPI_Testall(2, r, &flag, st), "iallreduce-testall");
    for (int k = 2; k < K; k++) {
        check_rc(MPI_Iallreduce(in + k * N, out + k * N, N, MPI_INT, MPI_SUM, comm, &r[k]), "iallreduce-waitsome");
        icalls++;
    }
    for (int left = 2; left > 0;) {
        int outcount = 0, idx[K];
        check_rc(MPI_Waitsome(2, r + 2, &outcount, idx, st), "iallreduce-waitsome");
        left -= outcount;
    }
    for (int k = 0; k < K; k++) {
        snprintf(name, sizeof name, "iallreduce-testall-waitsome-%d", k);
        print_hash(name, out + k * N, N, sizeof(int));
    }

    /* MPI_COMM_SELF: passed through. */
    check_rc(MPI_Iallreduce(in, out, 10, MPI_INT, MPI_SUM, MPI_COMM_SELF, &r[0]), "iallreduce-self");
    icalls++;
    ipassthrough++;
    check_rc(MPI_Wait(&r[0], &st[0]), "iallreduce-self");
    print_hash("iallreduce-self", out, 10, sizeof(int));
    free(in);
    free(out);
    free(f);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nprocs);
    MPI_Comm W = MPI_COMM_WORLD;

    CASE("int-sum", int, MPI_INT, MPI_SUM, 1000, (int)(uint32_t)mix(i, rank), 0, W, 0);
    CASE("double-sum", double, MPI_DOUBLE, MPI_SUM, 7, (double)(mix(i, rank) % 2001) - 1000, 0, W, 0);
    CASE("float-max", float, MPI_FLOAT, MPI_MAX, 100000, (float)(mix(i, rank) % 100001), 0, W, 0);
    CASE("float-sum-inplace", float, MPI_FLOAT, MPI_SUM, 5000, (float)(mix(i, rank) % 101) - 50, 1, W, 0);
    CASE("long-min", long, MPI_LONG, MPI_MIN, 33, (long)mix(i, rank), 0, W, 0);
    CASE("unsigned-bxor", unsigned, MPI_UNSIGNED, MPI_BXOR, 1000, (unsigned)mix(i, rank), 0, W, 0);
    CASE("bool-lor", _Bool, MPI_C_BOOL, MPI_LOR, 10, mix(i, rank) % 5 == 0, 0, W, 0);
    CASE("byte-band", unsigned char, MPI_BYTE, MPI_BAND, 64, mix(i, rank) | 0x81, 0, W, 0);
    CASE("short-prod", short, MPI_SHORT, MPI_PROD, 20, 1 + (short)(mix(i, rank) % 2), 0, W, 0);
    CASE("int8-sum", int8_t, MPI_INT8_T, MPI_SUM, 300, (int8_t)(mix(i, rank) % 15) - 7, 0, W, 0);
    CASE("int64-sum-inplace", int64_t, MPI_INT64_T, MPI_SUM, 1000, (int64_t)mix(i, rank), 1, W, 0);
    CASE("long-double-sum", long double, MPI_LONG_DOUBLE, MPI_SUM, 9, (long double)(mix(i, rank) % 999), 0, W, 0);
    CASE("double-complex-sum", double _Complex, MPI_C_DOUBLE_COMPLEX, MPI_SUM, 40,
         (double)(mix(i, rank) % 50) + (double)(mix(i, rank) % 7) * I, 0, W, 0);
    CASE("int-count0", int, MPI_INT, MPI_SUM, 0, 1, 0, W, 0);
    pair_cases();
    derived_cases();

    MPI_Comm half;
    MPI_Comm_split(W, rank % 2, rank, &half);
    CASE("split-int-sum", int, MPI_INT, MPI_SUM, 100, (int)(mix(i, rank) % 1000), 0, half, 0);
    MPI_Comm_free(&half);

    /* These two go to MPI unchanged. */
    CASE("self-double-sum", double, MPI_DOUBLE, MPI_SUM, 3, (double)rank + (double)i, 0, MPI_COMM_SELF, 1);
    CASE("self-int-max-inplace", int, MPI_INT, MPI_MAX, 4, rank * 10 + (int)i, 1, MPI_COMM_SELF, 1);
    if (nprocs >= 2) {
        int low = rank < nprocs / 2;
        MPI_Comm local, inter;
        MPI_Comm_split(W, low, rank, &local);
        MPI_Intercomm_create(local, 0, W, low ? nprocs / 2 : 0, 99, &inter);
        CASE("intercomm-int-sum", int, MPI_INT, MPI_SUM, 10, rank * 100 + (int)i, 0, inter, 1);
        MPI_Comm_free(&inter);
        MPI_Comm_free(&local);
    }
    iallreduce_cases(W);
    if (rank == 0) {
        printf("calls %ld passthrough %ld\n", calls, passthrough);
        printf("icalls %ld ipassthrough %ld\n", icalls, ipassthrough);
    }
    MPI_Finalize();
    return 0;
}
