/*
 * mpi.c - the baseline: the MPI library's own MPI_Allreduce.
 *
 * How it works:
 *
 *   [ chunk 0 | chunk 1 | ... | chunk k ]     each chunk: MPI_Allreduce
 *
 * The vector is handed to MPI_Allreduce in chunks of at most
 * segment_bytes (default and cap 1 GiB), so counts above INT_MAX work and
 * no call's int count overflows.  A chunk of the whole vector when it fits
 * is exactly what a user calling MPI_Allreduce gets: the baseline every
 * benchmark compares against.
 *
 * Cost: whatever the MPI library chooses (Open MPI's tuned component picks
 * among recursive doubling, ring, segmented ring, ... by size).
 *
 * Reduction order: the MPI library's.  Open MPI's algorithms are
 * deterministic for a given rank count and count, and combine in an order
 * that gives every rank the same bits for the commutative predefined ops on
 * finite values; the correctness matrix checks both properties for this
 * algorithm too.  (NaN payloads may differ between ranks: that is outside
 * what we control here.)
 *
 * One exception to "the MPI library's own reduction": Open MPI 4.1's AVX
 * reduction component computes MPI_SUM on 8-bit integers with saturating
 * instructions (255 + 1 = 255 instead of 0; open-mpi/ompi issue 8045, closed
 * as won't-fix for 4.1), so for MPI_UINT8_T sums this passes a user-defined
 * commutative op running our wrapping kernel.  The schedule is still Open
 * MPI's; only the arithmetic is ours, and the answer is right.
 *
 * Limits: uses the caller's datatype and a predefined op (or the op above),
 * so only what the dispatcher validated reaches it.
 */
#include "coll/coll_internal.h"

/* The wrapping uint8 sum handed to MPI (see above). */
static void uint8_sum(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    trib_coll_kernel(TRIB_TYPE_UINT8, TRIB_OPK_SUM)(inout, in, inout, (size_t)*len);
}

static MPI_Op uint8_sum_op = MPI_OP_NULL;

/* The op to give MPI_Allreduce for this call. */
static int mpi_op_for_call(const trib_coll_args_t *a, MPI_Op *op)
{
    *op = a->mpi_op;
    if (a->type != TRIB_TYPE_UINT8 || a->op != TRIB_OPK_SUM)
        return TRIB_OK;
    if (uint8_sum_op == MPI_OP_NULL) {
        int mpi_rc = MPI_Op_create(uint8_sum, 1, &uint8_sum_op);
        if (mpi_rc != MPI_SUCCESS) {
            uint8_sum_op = MPI_OP_NULL;
            return trib_coll_mpi_error(mpi_rc, "MPI_Op_create");
        }
    }
    *op = uint8_sum_op;
    return TRIB_OK;
}

int trib_coll_mpi(const trib_coll_args_t *a)
{
    MPI_Op op;
    int rc = mpi_op_for_call(a, &op);
    if (rc != TRIB_OK)
        return rc;
    size_t seg = trib_segment_elems(a->segment_bytes, a->elem_size);
    size_t nseg = trib_segment_count(a->count, seg);
    int in_place = a->sendbuf == a->recvbuf;
    for (size_t s = 0; s < nseg; s++) {
        size_t off, len;
        trib_segment(a->count, seg, s, &off, &len);
        const void *src = in_place ? MPI_IN_PLACE : (const void *)trib_coll_at(a, (void *)a->sendbuf, off);
        TRIB_MPI_TRY(MPI_Allreduce(src, trib_coll_at(a, a->recvbuf, off), (int)len, a->mpi_type, op,
                                   a->comm));
    }
    return TRIB_OK;
error:
    return rc;
}
