/*
 * agree_test.c - trib_agree at any rank count: all OK gives OK; one or
 * several failing ranks give, on every rank, the status of the lowest failing
 * rank and its message prefixed with "rank R: "; a message that already names
 * a rank is not prefixed twice.  Exit code 0 when every rank passed.
 */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "tributary/allreduce.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "agree_test: rank %d: ", rank);                                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    /* Nobody failed. */
    int rc = trib_agree(MPI_COMM_WORLD, TRIB_OK);
    CHECK(rc == TRIB_OK, "all OK gave %d", rc);

    /* Only the last rank fails. */
    int last = size - 1;
    int mine = rank == last ? trib_errorf(TRIB_ERR_IO, "disk %d full", rank) : TRIB_OK;
    rc = trib_agree(MPI_COMM_WORLD, mine);
    char want[128];
    snprintf(want, sizeof want, "rank %d: disk %d full", last, last);
    CHECK(rc == TRIB_ERR_IO, "one failure gave %d", rc);
    CHECK(strcmp(trib_last_error(rc), want) == 0, "message '%s', expected '%s'", trib_last_error(rc), want);

    /* Every odd rank fails with its own code: the lowest failing rank (1, or 0 when alone) wins. */
    int lowest = size == 1 ? 0 : 1;
    if (size == 1)
        mine = trib_errorf(TRIB_ERR_FORMAT, "bad %d", rank);
    else
        mine = rank % 2 ? trib_errorf(rank == 1 ? TRIB_ERR_FORMAT : TRIB_ERR_NOMEM, "bad %d", rank) : TRIB_OK;
    rc = trib_agree(MPI_COMM_WORLD, mine);
    snprintf(want, sizeof want, "rank %d: bad %d", lowest, lowest);
    CHECK(rc == TRIB_ERR_FORMAT, "several failures gave %d", rc);
    CHECK(strcmp(trib_last_error(rc), want) == 0, "message '%s', expected '%s'", trib_last_error(rc), want);

    /* A second agreement on the outcome keeps the message as it is. */
    rc = trib_agree(MPI_COMM_WORLD, rc);
    CHECK(rc == TRIB_ERR_FORMAT && strcmp(trib_last_error(rc), want) == 0, "nested agreement gave %d '%s'", rc,
          trib_last_error(rc));

    /* Works on any communicator, e.g. one with the ranks reversed. */
    MPI_Comm rev;
    MPI_Comm_split(MPI_COMM_WORLD, 0, size - rank, &rev);
    mine = rank == 0 ? trib_errorf(TRIB_ERR_MPI, "world rank 0") : TRIB_OK;
    rc = trib_agree(rev, mine);
    snprintf(want, sizeof want, "rank %d: world rank 0", size - 1);
    CHECK(rc == TRIB_ERR_MPI && strcmp(trib_last_error(rc), want) == 0, "split communicator gave %d '%s'", rc,
          trib_last_error(rc));
    MPI_Comm_free(&rev);

    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("agree_test: %d ranks, %s\n", size, all ? "FAILED" : "passed");
    MPI_Finalize();
    return all ? 1 : 0;
}
