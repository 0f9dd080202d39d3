/*
 * shm_cma_failure.c - a failure on shm's single-copy path fails the call on every rank, and the next call works.
 *
 * TRIB_SHM_CMA_FAIL=R (a testing aid of src/coll/shm.c) makes the first single-copy call of rank R fail as if
 * a copy had been refused.  With R = the last rank and a 4 MiB float sum forced to shm:
 *   - every rank returns an error (none returns TRIB_OK, none hangs), and the message names rank R;
 *   - the next call on the same communicator returns TRIB_OK with the exact sum on every rank.
 * Where the single-copy path is not available (the ranks may not access each other's memory), the first call
 * succeeds everywhere and the test reports itself skipped (exit 77), not passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "tributary/allreduce.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size, failures = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char fail[16];
    snprintf(fail, sizeof fail, "%d", size - 1);
    setenv("TRIB_SHM_CMA_FAIL", fail, 1); /* read when the communicator's shm state is made: the first call */
    MPI_Comm comm;
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    const size_t n = (size_t)1 << 20;
    float *buf = malloc(n * sizeof *buf);
    if (!buf)
        MPI_Abort(MPI_COMM_WORLD, 2);
    trib_allreduce_opts_t o;
    trib_allreduce_opts_init(&o);
    o.algo = TRIB_ALGO_SHM;
    for (size_t i = 0; i < n; i++)
        buf[i] = (float)(rank + 1);
    int rc = trib_allreduce_ex(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, comm, &o);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", rc == TRIB_OK ? "" : trib_last_error(rc));
    int failed = rc != TRIB_OK, all_failed = 0, any_failed = 0;
    MPI_Allreduce(&failed, &all_failed, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (!any_failed) {
        if (rank == 0)
            printf("shm_cma_failure p=%d: the single-copy path is not available here (every call succeeded): "
                   "skipped\n", size);
        free(buf);
        MPI_Comm_free(&comm);
        MPI_Finalize();
        return 77;
    }
    if (!all_failed) {
        fprintf(stderr, "FAIL rank %d: first call returned %s while another rank failed\n", rank, trib_err_name(rc));
        failures++;
    }
    char want[64];
    snprintf(want, sizeof want, "failed on rank %d", size - 1);
    if (failed && !strstr(msg, want)) {
        fprintf(stderr, "FAIL rank %d: message '%s' does not name rank %d\n", rank, msg, size - 1);
        failures++;
    }
    for (size_t i = 0; i < n; i++)
        buf[i] = (float)(rank + 1);
    rc = trib_allreduce_ex(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, comm, &o);
    float want_sum = (float)(size * (size + 1) / 2);
    size_t bad = 0;
    for (size_t i = 0; rc == TRIB_OK && i < n; i++)
        bad += buf[i] != want_sum;
    if (rc != TRIB_OK || bad) {
        fprintf(stderr, "FAIL rank %d: the call after the failure returned %s, %zu wrong elements (want %g)\n", rank,
                trib_err_name(rc), bad, (double)want_sum);
        failures++;
    }
    int total = 0;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("shm_cma_failure p=%d: first call failed on %s rank (rank 0: %s); %s\n", size,
               all_failed ? "every" : "only some", msg[0] ? msg : "TRIB_OK", total ? "FAILED" : "passed");
    free(buf);
    MPI_Comm_free(&comm);
    MPI_Finalize();
    return total ? 1 : 0;
}
