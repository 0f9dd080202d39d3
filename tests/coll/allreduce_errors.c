/*
 * allreduce_errors.c - error paths of trib_allreduce under MPI (any p).
 *
 * Each check is collective-safe: every rank makes the same failing call (so
 * no rank is left waiting), except the check-mode cases, whose point is that
 * ranks passing different arguments all return instead of hanging:
 *   - NULL send / receive buffer with count > 0      -> TRIB_ERR_INVALID_ARG
 *   - NULL buffers with count 0                      -> TRIB_OK
 *   - MPI_COMM_NULL                                  -> TRIB_ERR_INVALID_ARG
 *   - AVG on MPI_INT32_T / MPI_UINT8_T               -> TRIB_ERR_UNSUPPORTED
 *   - MPI_SUM on MPI_C_BOOL, MPI_MINLOC on MPI_INT,
 *     MPI_OP_NULL, MPI_REPLACE (MPI rejects them)    -> TRIB_ERR_INVALID_ARG
 *   - a non-commutative user op with ring forced     -> TRIB_ERR_UNSUPPORTED
 *     (by opts and by TRIB_ALLREDUCE_ALGO; at p > 1); auto serves it
 *   - algorithm value 99                             -> TRIB_ERR_INVALID_ARG
 *   - TRIB_ALLREDUCE_ALGO=bogus                      -> TRIB_ERR_INVALID_ARG
 *   - TRIB_ALLREDUCE_ALGO=ring overrides AUTO        (trib_allreduce_select)
 *   - check mode, rank 0 passes count + 1            -> TRIB_ERR_MISMATCH everywhere
 *   - check mode, rank 0 passes another op / algo    -> TRIB_ERR_MISMATCH everywhere
 *   - check mode, rank 0 passes a NULL buffer        -> INVALID_ARG on rank 0,
 *                                                       MISMATCH on the others
 *   - check mode via env TRIB_CHECK=1                -> TRIB_ERR_MISMATCH
 *   - check mode with agreeing arguments             -> TRIB_OK and the right sum
 *   - a user communicator freed and a new one used  (context cache)
 * After the error cases, a normal allreduce must still work (nothing left
 * half-done).  Any unexpected status is printed with the case and the
 * program exits non-zero.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "tributary/allreduce.h"

static int rank, nprocs, failures;

static void expect(const char *what, int got, int want)
{
    if (got != want) {
        fprintf(stderr, "FAIL p=%d rank=%d %s: got %s (%s), expected %s\n", nprocs, rank, what, trib_err_name(got),
                trib_last_error(got), trib_err_name(want));
        failures++;
    }
}

/* A non-commutative op: keeps the left operand (the lower rank's value). */
static void first_of_two(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    for (int i = 0; i < *len; i++)
        ((int *)inout)[i] = ((const int *)in)[i];
}

static trib_allreduce_opts_t opts_with(trib_algo_t algo, int check)
{
    trib_allreduce_opts_t o;
    trib_allreduce_opts_init(&o);
    o.algo = algo;
    o.check = check;
    return o;
}

static void local_errors(void)
{
    float x[4] = {1, 2, 3, 4}, y[4];
    int32_t xi[4] = {1, 2, 3, 4}, yi[4];
    trib_allreduce_opts_t o = opts_with(TRIB_ALGO_AUTO, 0);
    expect("NULL sendbuf", trib_allreduce(NULL, y, 4, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), TRIB_ERR_INVALID_ARG);
    expect("NULL recvbuf", trib_allreduce(x, NULL, 4, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), TRIB_ERR_INVALID_ARG);
    expect("NULL buffers, count 0", trib_allreduce(NULL, NULL, 0, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), TRIB_OK);
    expect("MPI_COMM_NULL", trib_allreduce(x, y, 4, MPI_FLOAT, MPI_SUM, MPI_COMM_NULL), TRIB_ERR_INVALID_ARG);
    expect("AVG on int32", trib_allreduce(xi, yi, 4, MPI_INT32_T, TRIB_OP_AVG, MPI_COMM_WORLD),
           TRIB_ERR_UNSUPPORTED);
    expect("AVG on uint8", trib_allreduce(xi, yi, 4, MPI_UINT8_T, TRIB_OP_AVG, MPI_COMM_WORLD),
           TRIB_ERR_UNSUPPORTED);
    expect("SUM on MPI_C_BOOL", trib_allreduce(xi, yi, 4, MPI_C_BOOL, MPI_SUM, MPI_COMM_WORLD), TRIB_ERR_INVALID_ARG);
    expect("MINLOC on MPI_INT", trib_allreduce(xi, yi, 2, MPI_INT, MPI_MINLOC, MPI_COMM_WORLD), TRIB_ERR_INVALID_ARG);
    expect("MPI_OP_NULL", trib_allreduce(xi, yi, 4, MPI_INT, MPI_OP_NULL, MPI_COMM_WORLD), TRIB_ERR_INVALID_ARG);
    expect("MPI_REPLACE", trib_allreduce(xi, yi, 4, MPI_INT, MPI_REPLACE, MPI_COMM_WORLD), TRIB_ERR_INVALID_ARG);
    expect("MPI_DATATYPE_NULL", trib_allreduce(xi, yi, 4, MPI_DATATYPE_NULL, MPI_SUM, MPI_COMM_WORLD),
           TRIB_ERR_INVALID_ARG);
    {
        MPI_Op nc;
        MPI_Op_create(first_of_two, 0, &nc);
        o.algo = TRIB_ALGO_RING;
        int refused = nprocs > 1 ? TRIB_ERR_UNSUPPORTED : TRIB_OK; /* one rank combines nothing */
        expect("non-commutative op, ring forced", trib_allreduce_ex(xi, yi, 4, MPI_INT, nc, MPI_COMM_WORLD, &o),
               refused);
        o.algo = TRIB_ALGO_AUTO;
        setenv("TRIB_ALLREDUCE_ALGO", "ring", 1);
        expect("non-commutative op, TRIB_ALLREDUCE_ALGO=ring", trib_allreduce(xi, yi, 4, MPI_INT, nc, MPI_COMM_WORLD),
               refused);
        unsetenv("TRIB_ALLREDUCE_ALGO");
        expect("non-commutative op, auto", trib_allreduce(xi, yi, 4, MPI_INT, nc, MPI_COMM_WORLD), TRIB_OK);
        if (yi[0] != 1 || yi[3] != 4) {
            fprintf(stderr, "FAIL p=%d rank=%d non-commutative op: got %d %d, expected 1 4 (rank 0's)\n", nprocs,
                    rank, (int)yi[0], (int)yi[3]);
            failures++;
        }
        MPI_Op_free(&nc);
    }
    o.algo = (trib_algo_t)99;
    expect("algo 99", trib_allreduce_ex(x, y, 4, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &o), TRIB_ERR_INVALID_ARG);
    o.algo = TRIB_ALGO_AUTO;
    o.tag = -5;
    expect("negative tag", trib_allreduce_ex(x, y, 4, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &o), TRIB_ERR_INVALID_ARG);

    setenv("TRIB_ALLREDUCE_ALGO", "bogus", 1);
    expect("TRIB_ALLREDUCE_ALGO=bogus", trib_allreduce(x, y, 4, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
           TRIB_ERR_INVALID_ARG);
    setenv("TRIB_ALLREDUCE_ALGO", "tree", 1);
    trib_algo_t algo = TRIB_ALGO_AUTO;
    size_t seg = 0;
    expect("select with env", trib_allreduce_select(4, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, NULL, &algo, &seg),
           TRIB_OK);
    expect("env TRIB_ALLREDUCE_ALGO=tree chooses tree", (int)algo, (int)TRIB_ALGO_TREE);
    trib_allreduce_opts_t ring = opts_with(TRIB_ALGO_RING, 0);
    expect("explicit algo beats env", trib_allreduce_select(4, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &ring, &algo, &seg),
           TRIB_OK);
    expect("explicit ring chosen", (int)algo, (int)TRIB_ALGO_RING);
    unsetenv("TRIB_ALLREDUCE_ALGO");
}

static void mismatches(void)
{
    if (nprocs < 2)
        return;
    double x[8] = {0}, y[8];
    int want = TRIB_ERR_MISMATCH;
    trib_allreduce_opts_t o = opts_with(TRIB_ALGO_RING, 1);
    expect("check: different counts", trib_allreduce_ex(x, y, rank == 0 ? 5 : 4, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &o),
           want);
    expect("check: different ops",
           trib_allreduce_ex(x, y, 4, MPI_DOUBLE, rank == 0 ? MPI_MAX : MPI_SUM, MPI_COMM_WORLD, &o), want);
    trib_allreduce_opts_t o2 = opts_with(rank == 0 ? TRIB_ALGO_TREE : TRIB_ALGO_RING, 1);
    expect("check: different algorithms", trib_allreduce_ex(x, y, 4, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &o2), want);
    expect("check: NULL buffer on rank 0",
           trib_allreduce_ex(rank == 0 ? NULL : x, y, 4, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &o),
           rank == 0 ? TRIB_ERR_INVALID_ARG : TRIB_ERR_MISMATCH);
    expect("check: different types",
           trib_allreduce_ex(x, y, 4, rank == 0 ? MPI_FLOAT : MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &o), want);
    setenv("TRIB_CHECK", "1", 1);
    o.check = -1; /* from the environment */
    expect("TRIB_CHECK=1: different counts",
           trib_allreduce_ex(x, y, rank == 0 ? 3 : 4, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &o), want);
    unsetenv("TRIB_CHECK");
}

static void agreeing_check_and_recovery(void)
{
    int32_t x[5], y[5];
    for (int i = 0; i < 5; i++)
        x[i] = rank + i;
    trib_allreduce_opts_t o = opts_with(TRIB_ALGO_AUTO, 1);
    expect("check with agreeing arguments", trib_allreduce_ex(x, y, 5, MPI_INT32_T, MPI_SUM, MPI_COMM_WORLD, &o),
           TRIB_OK);
    for (int i = 0; i < 5; i++)
        expect("value after check", y[i], nprocs * (nprocs - 1) / 2 + nprocs * i);

    /* A fresh communicator, used and freed twice: its context comes and goes. */
    for (int round = 0; round < 2; round++) {
        MPI_Comm dup;
        MPI_Comm_dup(MPI_COMM_WORLD, &dup);
        expect("allreduce on a duplicate", trib_allreduce(x, y, 5, MPI_INT32_T, MPI_MAX, dup), TRIB_OK);
        expect("max on a duplicate", y[4], nprocs - 1 + 4);
        MPI_Comm_free(&dup);
    }
}

int main(int argc, char **argv)
{
    float x = 1, y;
    int before = trib_allreduce(&x, &y, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nprocs);
    expect("before MPI_Init", before, TRIB_ERR_STATE);
    local_errors();
    mismatches();
    agreeing_check_and_recovery();
    int total = 0;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("allreduce errors p=%d: %d failures\n", nprocs, total);
    MPI_Finalize();
    return total ? 1 : 0;
}
