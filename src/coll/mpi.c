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
 * as won't-fix for 4.1), and signed 16-bit sums too (the type matrix,
 * tests/coll/allreduce_types.c, found MPI_SHORT and MPI_INT16_T sums stuck at
 * 32767 / -32768 at 61 elements), so for every 8- and 16-bit integer sum
 * this passes a user-defined commutative op running our wrapping kernel (the
 * wrapping sum of a signed type has the same bits as the unsigned one).  The
 * schedule is still Open MPI's; only the arithmetic is ours, and the answer
 * is right.
 *
 * Calls without a native kernel (derived datatypes, user-defined ops) get
 * the caller's datatype and op unchanged, unpacked (reduce_local.c); Open
 * MPI keeps rank order for a non-commutative op.
 *
 * Limits: uses the caller's datatype and a predefined op (or the op above),
 * so only what the dispatcher validated reaches it.
 */
#include "coll/coll_internal.h"

/* The wrapping 8- and 16-bit sums handed to MPI (see above). */
static void wrap_sum8(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    trib_coll_kernel(TRIB_TYPE_UINT8, TRIB_OPK_SUM)(inout, in, inout, (size_t)*len);
}

static void wrap_sum16(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    trib_coll_kernel(TRIB_TYPE_UINT16, TRIB_OPK_SUM)(inout, in, inout, (size_t)*len);
}

static MPI_Op wrap_sum_op[2] = {MPI_OP_NULL, MPI_OP_NULL}; /* 8-bit, 16-bit */

/* The op to give MPI_Allreduce for this call. */
static int mpi_op_for_call(const trib_coll_args_t *a, MPI_Op *op)
{
    *op = a->mpi_op;
    if (a->op != TRIB_OPK_SUM)
        return TRIB_OK;
    int w;
    if (a->type == TRIB_TYPE_UINT8 || a->type == TRIB_TYPE_INT8)
        w = 0;
    else if (a->type == TRIB_TYPE_UINT16 || a->type == TRIB_TYPE_INT16)
        w = 1;
    else
        return TRIB_OK;
    if (wrap_sum_op[w] == MPI_OP_NULL) {
        int mpi_rc = MPI_Op_create(w == 0 ? wrap_sum8 : wrap_sum16, 1, &wrap_sum_op[w]);
        if (mpi_rc != MPI_SUCCESS) {
            wrap_sum_op[w] = MPI_OP_NULL;
            return trib_coll_mpi_error(mpi_rc, "MPI_Op_create");
        }
    }
    *op = wrap_sum_op[w];
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
