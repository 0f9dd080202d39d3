/*
 * agree.c - trib_agree, the one cross-rank error agreement of the library
 * (checkpoints, the trainer, the collective dataset reader, trib-recommend
 * and trib-bench all use it).
 *
 * The rule: every rank brings its local status; if all are TRIB_OK every rank
 * returns TRIB_OK.  Otherwise the lowest-numbered failing rank R wins: every
 * rank, R included, returns R's status and holds R's detail message prefixed
 * with "rank R: " (trib_last_error), so whichever rank prints says the same.
 * A message that already starts with "rank N: " (it passed through an inner
 * agreement) is kept as it is, so nested agreements do not stack prefixes.
 *
 * Cost: one MPI_Allreduce of one int when everything went well; a failure
 * adds two broadcasts from R.  A failed MPI call is never ignored: it makes
 * the call return TRIB_ERR_MPI (with MPI's default error handler a failing
 * collective aborts the job before that).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "tributary/allreduce.h"

enum { AGREE_MSG = 1024 };

/* 1 when msg starts with "rank <digits>: ". */
static int names_a_rank(const char *msg)
{
    if (strncmp(msg, "rank ", 5) != 0)
        return 0;
    const char *p = msg + 5;
    if (*p < '0' || *p > '9')
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    return p[0] == ':' && p[1] == ' ';
}

int trib_agree(MPI_Comm comm, int rc)
{
    int rank;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "agreement: MPI_Comm_rank failed");
    int mine = rc == TRIB_OK ? INT_MAX : rank, first = INT_MAX;
    if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "agreement: MPI_Allreduce failed");
    if (first == INT_MAX)
        return TRIB_OK;
    char msg[AGREE_MSG] = {0};
    int code = rc;
    if (rank == first)
        snprintf(msg, sizeof msg, "%s", trib_last_error(rc));
    if (MPI_Bcast(&code, 1, MPI_INT, first, comm) != MPI_SUCCESS ||
        MPI_Bcast(msg, AGREE_MSG, MPI_CHAR, first, comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "agreement: MPI_Bcast of rank %d's error failed", first);
    msg[AGREE_MSG - 1] = '\0';
    if (names_a_rank(msg))
        return trib_errorf(code, "%s", msg);
    return trib_errorf(code, "rank %d: %s", first, msg);
}
