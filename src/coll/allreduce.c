/* allreduce.c - placeholder dispatcher: delegates to MPI_Allreduce (replaced by the real library). */
#include "tributary/allreduce.h"

#include <limits.h>

void trib_allreduce_opts_init(trib_allreduce_opts_t *opts)
{
    trib_allreduce_opts_t d = TRIB_ALLREDUCE_OPTS_INIT;
    *opts = d;
}

MPI_Op trib_op_avg(void) { return MPI_OP_NULL; }

int trib_allreduce_ex(const void *sendbuf, void *recvbuf, size_t count, MPI_Datatype type, MPI_Op op,
                      MPI_Comm comm, const trib_allreduce_opts_t *opts)
{
    (void)opts;
    if (count > INT_MAX)
        return TRIB_ERR_UNSUPPORTED;
    if (sendbuf == recvbuf)
        sendbuf = MPI_IN_PLACE;
    return MPI_Allreduce(sendbuf, recvbuf, (int)count, type, op, comm) == MPI_SUCCESS ? TRIB_OK : TRIB_ERR_MPI;
}

int trib_allreduce(const void *sendbuf, void *recvbuf, size_t count, MPI_Datatype type, MPI_Op op, MPI_Comm comm)
{
    return trib_allreduce_ex(sendbuf, recvbuf, count, type, op, comm, NULL);
}
