/*
 * agree.c - the collective decision "did every rank succeed?".
 *
 * Each rank brings its local status.  One MPI_Allreduce with MPI_MINLOC over
 * (status, rank) finds a failing rank if there is one (statuses are <= 0, so
 * the minimum is a failure whenever any rank failed); that rank then
 * broadcasts its detail message so every rank returns the same status with
 * the same explanation, e.g. "rank 2: part-00002.h5: writing dataset 'P'
 * failed".  A rank that dies instead of failing cleanly takes the whole job
 * down under Open MPI, so no checkpoint can be committed without it either.
 */
#include <stdio.h>
#include <string.h>

#include "ckpt/internal.h"

enum { AGREE_MSG = 512 };

int trib_ckpt_agree(MPI_Comm comm, int local_rc)
{
    int rank;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "checkpoint: MPI_Comm_rank failed");
    struct {
        int rc;
        int rank;
    } in = {local_rc, rank}, out;
    if (MPI_Allreduce(&in, &out, 1, MPI_2INT, MPI_MINLOC, comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "checkpoint: agreement (MPI_Allreduce) failed");
    if (out.rc == TRIB_OK)
        return TRIB_OK;
    char msg[AGREE_MSG];
    if (rank == out.rank)
        snprintf(msg, sizeof msg, "%s", trib_last_error(out.rc));
    if (MPI_Bcast(msg, AGREE_MSG, MPI_CHAR, out.rank, comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "checkpoint: broadcast of the failure message failed");
    msg[AGREE_MSG - 1] = '\0';
    if (rank == out.rank)
        return out.rc;
    return trib_errorf(out.rc, "rank %d: %s", out.rank, msg);
}
