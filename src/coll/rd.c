/*
 * rd.c - recursive-doubling allreduce, with fold-in/fold-out for rank counts
 * that are not a power of two.
 *
 * How it works.  Let q be the largest power of two <= p and rem = p - q.
 *
 *   fold-in:   ranks 0..2rem-1 pair up (2i, 2i+1); the even rank sends its
 *              vector to the odd one, which combines and stays in; the even
 *              rank sits out.  Now q ranks remain, renumbered 0..q-1
 *              (odd r < 2rem -> r/2, r >= 2rem -> r - rem).
 *   doubling:  for mask = 1, 2, 4, ... < q: exchange the whole vector with
 *              new rank (me XOR mask) and combine.  After log2 q rounds
 *              every remaining rank holds the full result.
 *   fold-out:  each odd rank r < 2rem sends the result to r - 1.
 *
 *   p = 6 (q = 4, rem = 2):  fold-in 0->1, 2->3
 *     new ranks: 1:0  3:1  4:2  5:3
 *     mask 1:  (1<->3) (4<->5)      mask 2: (1<->4) (3<->5)
 *     fold-out 1->0, 3->2
 *
 * The vector travels in chunks of segment_bytes (MPI_Sendrecv per chunk),
 * which bounds the temporary buffer to one chunk and keeps every MPI count
 * below INT_MAX.
 *
 * Reduction order.  The renumbering is monotone, so the group that holds new
 * ranks [g, g + mask) always covers lower original ranks than the partner
 * group [g + mask, g + 2 mask).  Both partners compute (lower) (+) (higher)
 * with the lower group's data as the left operand, so they produce the same
 * bits (even NaN payloads), and every round is a fixed expression:
 *   p = 4: ((x0 (+) x1) (+) (x2 (+) x3)); fold-in pairs enter as (x2i (+) x2i+1).
 *
 * Cost: rounds R = log2 q (+ 2 when p is not a power of two):
 *   R alpha + R n beta + R n gamma   (+ (chunks - 1) alpha per round)
 * Fewest messages of all; every round moves the whole vector, so it is the
 * algorithm for small vectors and the wrong one for large vectors.
 *
 * Non-blocking form (trib_coll_rd_sched, for trib_iallreduce): the same
 * steps as rounds of a schedule (nb.c): an exchange of chunk j (our chunk
 * sent before it is combined) and, in the next round, its combination with
 * the same operand order as above; the fold messages in one round each.
 *
 * Limits: during the fold the 2rem paired ranks do extra work; temporary
 * memory one chunk.
 */
#include "coll/coll_internal.h"

#include "core/alloc.h"

typedef struct {
    const trib_coll_args_t *a;
    size_t seg, nseg;
    char *tmp; /* one chunk */
} rd_t;

/* Sends the whole vector to `peer`, chunk by chunk. */
static int send_vector(rd_t *d, int peer)
{
    int rc = TRIB_OK;
    const trib_coll_args_t *a = d->a;
    for (size_t s = 0; s < d->nseg; s++) {
        size_t off, len;
        trib_segment(a->count, d->seg, s, &off, &len);
        TRIB_MPI_TRY(MPI_Send(trib_coll_at(a, a->recvbuf, off), (int)len, a->mpi_type, peer, a->tag, a->comm));
    }
    return TRIB_OK;
error:
    return rc;
}

/* Receives the whole vector from `peer` into recvbuf (replacing it). */
static int recv_vector(rd_t *d, int peer)
{
    int rc = TRIB_OK;
    const trib_coll_args_t *a = d->a;
    for (size_t s = 0; s < d->nseg; s++) {
        size_t off, len;
        trib_segment(a->count, d->seg, s, &off, &len);
        TRIB_MPI_TRY(MPI_Recv(trib_coll_at(a, a->recvbuf, off), (int)len, a->mpi_type, peer, a->tag, a->comm,
                              MPI_STATUS_IGNORE));
    }
    return TRIB_OK;
error:
    return rc;
}

/*
 * Combines with `peer`'s vector.  send = 1 also sends ours (an exchange);
 * peer_is_lower says whose data is the left operand.
 */
static int combine_with(rd_t *d, int peer, int send, int peer_is_lower)
{
    int rc = TRIB_OK;
    const trib_coll_args_t *a = d->a;
    for (size_t s = 0; s < d->nseg; s++) {
        size_t off, len;
        trib_segment(a->count, d->seg, s, &off, &len);
        char *mine = trib_coll_at(a, a->recvbuf, off);
        if (send)
            TRIB_MPI_TRY(MPI_Sendrecv(mine, (int)len, a->mpi_type, peer, a->tag, d->tmp, (int)len, a->mpi_type, peer,
                                      a->tag, a->comm, MPI_STATUS_IGNORE));
        else
            TRIB_MPI_TRY(MPI_Recv(d->tmp, (int)len, a->mpi_type, peer, a->tag, a->comm, MPI_STATUS_IGNORE));
        if (peer_is_lower)
            trib_coll_combine(a, mine, d->tmp, mine, len);
        else
            trib_coll_combine(a, mine, mine, d->tmp, len);
    }
    return TRIB_OK;
error:
    return rc;
}

static int rd_run(rd_t *d)
{
    const trib_coll_args_t *a = d->a;
    int p = a->size, r = a->rank, rc;
    int q = 1;
    while (q * 2 <= p)
        q *= 2;
    int rem = p - q;

    /* Fold-in. */
    int newrank;
    if (r < 2 * rem) {
        if (r % 2 == 0) {
            if ((rc = send_vector(d, r + 1)) != TRIB_OK)
                return rc;
            newrank = -1;
        } else {
            if ((rc = combine_with(d, r - 1, 0, 1)) != TRIB_OK)
                return rc;
            newrank = r / 2;
        }
    } else {
        newrank = r - rem;
    }

    /* Doubling among the q remaining ranks. */
    if (newrank >= 0) {
        for (int mask = 1; mask < q; mask <<= 1) {
            int newpeer = newrank ^ mask;
            int peer = newpeer < rem ? newpeer * 2 + 1 : newpeer + rem;
            if ((rc = combine_with(d, peer, 1, newpeer < newrank)) != TRIB_OK)
                return rc;
        }
    }

    /* Fold-out. */
    if (r < 2 * rem)
        return r % 2 == 1 ? send_vector(d, r - 1) : recv_vector(d, r + 1);
    return TRIB_OK;
}

int trib_coll_rd(const trib_coll_args_t *a)
{
    rd_t d = {a, 0, 0, NULL};
    d.seg = trib_segment_elems(a->segment_bytes, a->elem_size);
    if (d.seg > a->count)
        d.seg = a->count;
    d.nseg = trib_segment_count(a->count, d.seg);
    d.tmp = trib_aligned_alloc(TRIB_ALIGN, d.seg * a->elem_size);
    if (!d.tmp)
        return trib_errorf(TRIB_ERR_NOMEM, "rd allreduce: cannot allocate %zu bytes", d.seg * a->elem_size);
    trib_coll_copy_in(a);
    int rc = rd_run(&d);
    trib_aligned_free(d.tmp);
    return rc;
}

/* The vector to or from `peer` in one round (fold-in and fold-out). */
static void sched_vector(trib_coll_sched_t *s, const rd_t *d, int peer, int send)
{
    const trib_coll_args_t *a = d->a;
    for (size_t k = 0; k < d->nseg; k++) {
        size_t off, len;
        trib_segment(a->count, d->seg, k, &off, &len);
        if (send)
            trib_sched_send(s, trib_coll_at(a, a->recvbuf, off), len, peer);
        else
            trib_sched_recv(s, trib_coll_at(a, a->recvbuf, off), len, peer);
    }
    trib_sched_round(s);
}

/* combine_with as a schedule: round k exchanges chunk k and combines chunk k-1. */
static void sched_combine_with(trib_coll_sched_t *s, const rd_t *d, int peer, int send, int peer_is_lower)
{
    const trib_coll_args_t *a = d->a;
    for (size_t k = 0; k <= d->nseg; k++) {
        size_t off, len;
        if (k > 0) {
            trib_segment(a->count, d->seg, k - 1, &off, &len);
            char *mine = trib_coll_at(a, a->recvbuf, off);
            if (peer_is_lower)
                trib_sched_combine(s, mine, d->tmp, mine, len);
            else
                trib_sched_combine(s, mine, mine, d->tmp, len);
        }
        if (k < d->nseg) {
            trib_segment(a->count, d->seg, k, &off, &len);
            if (send)
                trib_sched_send(s, trib_coll_at(a, a->recvbuf, off), len, peer);
            trib_sched_recv(s, d->tmp, len, peer);
        }
        trib_sched_round(s);
    }
}

int trib_coll_rd_sched(const trib_coll_args_t *a, trib_coll_sched_t *s)
{
    rd_t d = {a, 0, 0, NULL};
    d.seg = trib_segment_elems(a->segment_bytes, a->elem_size);
    if (d.seg > a->count)
        d.seg = a->count;
    d.nseg = trib_segment_count(a->count, d.seg);
    d.tmp = trib_sched_alloc(s, d.seg * a->elem_size);
    if (!d.tmp)
        return trib_sched_status(s);
    int p = a->size, r = a->rank;
    int q = 1;
    while (q * 2 <= p)
        q *= 2;
    int rem = p - q;
    int newrank;
    if (r < 2 * rem) {
        if (r % 2 == 0) {
            sched_vector(s, &d, r + 1, 1);
            newrank = -1;
        } else {
            sched_combine_with(s, &d, r - 1, 0, 1);
            newrank = r / 2;
        }
    } else {
        newrank = r - rem;
    }
    if (newrank >= 0) {
        for (int mask = 1; mask < q; mask <<= 1) {
            int newpeer = newrank ^ mask;
            int peer = newpeer < rem ? newpeer * 2 + 1 : newpeer + rem;
            sched_combine_with(s, &d, peer, 1, newpeer < newrank);
        }
    }
    if (r < 2 * rem)
        sched_vector(s, &d, r % 2 == 1 ? r - 1 : r + 1, r % 2 == 1);
    return trib_sched_status(s);
}
