/*
 * ring.c - ring allreduce: reduce-scatter then allgather, segmented and
 * pipelined.
 *
 * How it works.  The vector is cut into p blocks (blocks.c: early blocks one
 * element larger).  Rank r sends to r+1 and receives from r-1 (mod p).
 *
 *   reduce-scatter, step k = 0..p-2: send block (r-k), receive block
 *   (r-k-1) and combine it into our copy.  After p-1 steps rank r holds the
 *   complete block (r+1).                       p = 4, after the steps:
 *
 *       step 0        step 1        step 2
 *   r0: send b0  ->   send b3  ->   send b2     r0 owns b1 = x0+x1... (see order)
 *   r1: send b1  ->   send b0  ->   send b3     r1 owns b2
 *   r2: send b2  ->   send b1  ->   send b0     r2 owns b3
 *   r3: send b3  ->   send b2  ->   send b1     r3 owns b0
 *
 *   allgather, step k = 0..p-2: send block (r+1-k), receive block (r-k)
 *   and store it: the complete blocks travel once around the ring.
 *
 * Pipelining.  Each block moves as segments of segment_bytes.  The receives
 * of a step are posted one step ahead (two temporary buffers alternate), and
 * a segment is forwarded as soon as it has been combined, so the reduction
 * of segment s overlaps the transfer of segment s+1 and the next hop starts
 * before the whole block has arrived.  All transfers are MPI_Isend/Irecv.
 *
 * Reduction order.  Block b starts at rank b and is combined along the ring:
 *   result(b) = (((x_b (+) x_b+1) (+) x_b+2) ... (+) x_b+p-1)   (indices mod p)
 * with the accumulated partial always as the left operand.  Each block is
 * reduced once, on one rank, then copied to all: every rank has the same
 * bits, and the same inputs give the same bits run to run.
 *
 * Cost (alpha-beta, n bytes, gamma per byte reduced):
 *   2(p-1) alpha + 2 (p-1)/p n beta + (p-1)/p n gamma
 *   (+ (segments per block - 1) alpha of pipeline start-up per phase)
 * Bandwidth-optimal: each rank sends and receives 2(p-1)/p n bytes.
 *
 * Non-blocking form (trib_coll_ring_sched, for trib_iallreduce): the same
 * steps as rounds of a schedule (nb.c).  Reduce-scatter round k receives
 * block r-k-1 into one temporary block and sends block r-k; round k+1
 * first combines the received block into ours exactly as above
 * (tmp (+) own), then sends it on.  Allgather round k sends block r+1-k and
 * receives block r-k in place.  Segments as above; rounds are not
 * pipelined across segments (a round ends when all its transfers are done).
 *
 * Limits: 2(p-1) latency terms make it slow for small vectors (the selector
 * uses rd there); temporary memory: two blocks (2n/p bytes); blocks smaller
 * than p elements leave some ranks idle (count < p works, some blocks are
 * empty).
 */
#include "coll/coll_internal.h"

#include <stdlib.h>

#include "core/alloc.h"

typedef struct {
    const trib_coll_args_t *a;
    trib_blocks_t blocks;
    size_t seg;          /* elements per segment */
    size_t max_segs;     /* segments of the largest block */
    int next, prev;      /* ring neighbours */
    char *tmp[2];        /* reduce-scatter receive buffers (one block each) */
    MPI_Request *rreq[2]; /* receive requests of two consecutive steps */
    MPI_Request *sreq[2]; /* send requests of two consecutive steps */
} ring_t;

static int mod(int x, int p) { return ((x % p) + p) % p; }

/* Posts the receives of `step` (segments of block blk) into dst. */
static int post_recvs(ring_t *g, int blk, char *dst, MPI_Request *req)
{
    int rc = TRIB_OK;
    const trib_coll_args_t *a = g->a;
    size_t n = trib_block_count(&g->blocks, blk);
    size_t nseg = trib_segment_count(n, g->seg);
    for (size_t s = 0; s < nseg; s++) {
        size_t off, len;
        trib_segment(n, g->seg, s, &off, &len);
        TRIB_MPI_TRY(MPI_Irecv(dst + off * a->elem_size, (int)len, a->mpi_type, g->prev, a->tag, a->comm, &req[s]));
    }
    for (size_t s = nseg; s < g->max_segs; s++)
        req[s] = MPI_REQUEST_NULL;
    return TRIB_OK;
error:
    return rc;
}

static int send_segment(ring_t *g, int blk, size_t s, MPI_Request *req)
{
    int rc = TRIB_OK;
    const trib_coll_args_t *a = g->a;
    size_t n = trib_block_count(&g->blocks, blk);
    size_t off, len;
    trib_segment(n, g->seg, s, &off, &len);
    char *src = trib_coll_at(a, a->recvbuf, trib_block_offset(&g->blocks, blk) + off);
    TRIB_MPI_TRY(MPI_Isend(src, (int)len, a->mpi_type, g->next, a->tag, a->comm, req));
    return TRIB_OK;
error:
    return rc;
}

static int send_block(ring_t *g, int blk, MPI_Request *req)
{
    size_t nseg = trib_segment_count(trib_block_count(&g->blocks, blk), g->seg);
    for (size_t s = 0; s < g->max_segs; s++) {
        req[s] = MPI_REQUEST_NULL;
        if (s < nseg) {
            int rc = send_segment(g, blk, s, &req[s]);
            if (rc != TRIB_OK)
                return rc;
        }
    }
    return TRIB_OK;
}

/*
 * One phase.  reduce = 1: reduce-scatter (send block r-k, receive r-k-1 into
 * tmp and combine).  reduce = 0: allgather (send r+1-k, receive r-k in place).
 */
static int ring_phase(ring_t *g, int reduce)
{
    int rc = TRIB_OK;
    const trib_coll_args_t *a = g->a;
    int p = a->size, r = a->rank, shift = reduce ? 0 : 1;
    int steps = p - 1;
#define SEND_BLK(k) mod(r - (k) + shift, p)
#define RECV_BLK(k) mod(r - (k)-1 + shift, p)
#define RECV_DST(k) (reduce ? g->tmp[(k) % 2] : trib_coll_at(a, a->recvbuf, trib_block_offset(&g->blocks, RECV_BLK(k))))

    if ((rc = post_recvs(g, RECV_BLK(0), RECV_DST(0), g->rreq[0])) != TRIB_OK)
        return rc;
    if ((rc = send_block(g, SEND_BLK(0), g->sreq[0])) != TRIB_OK)
        return rc;
    for (int k = 0; k < steps; k++) {
        MPI_Request *rreq = g->rreq[k % 2], *snext = g->sreq[(k + 1) % 2];
        int more = k + 1 < steps;
        if (more && (rc = post_recvs(g, RECV_BLK(k + 1), RECV_DST(k + 1), g->rreq[(k + 1) % 2])) != TRIB_OK)
            return rc;
        int blk = RECV_BLK(k);
        size_t n = trib_block_count(&g->blocks, blk);
        size_t nseg = trib_segment_count(n, g->seg);
        char *own = trib_coll_at(a, a->recvbuf, trib_block_offset(&g->blocks, blk));
        for (size_t s = 0; s < g->max_segs; s++)
            snext[s] = MPI_REQUEST_NULL;
        for (size_t s = 0; s < nseg; s++) {
            size_t off, len;
            trib_segment(n, g->seg, s, &off, &len);
            TRIB_MPI_TRY(MPI_Wait(&rreq[s], MPI_STATUS_IGNORE));
            if (reduce) {
                char *dst = own + off * a->elem_size;
                trib_coll_combine(a, dst, g->tmp[k % 2] + off * a->elem_size, dst, len);
            }
            /* Forward at once: the block received in step k is sent in step k+1. */
            if (more && (rc = send_segment(g, blk, s, &snext[s])) != TRIB_OK)
                return rc;
        }
        TRIB_MPI_TRY(MPI_Waitall((int)g->max_segs, g->sreq[k % 2], MPI_STATUSES_IGNORE));
    }
    return TRIB_OK;
#undef SEND_BLK
#undef RECV_BLK
#undef RECV_DST
error:
    return rc;
}

static int ring_init(ring_t *g, const trib_coll_args_t *a)
{
    g->a = a;
    trib_blocks_init(&g->blocks, a->count, a->size);
    g->seg = trib_segment_elems(a->segment_bytes, a->elem_size);
    size_t max_block = trib_block_count(&g->blocks, 0);
    g->max_segs = trib_segment_count(max_block, g->seg);
    if (g->max_segs == 0)
        g->max_segs = 1;
    g->next = mod(a->rank + 1, a->size);
    g->prev = mod(a->rank - 1, a->size);
    size_t tmp_bytes = max_block * a->elem_size;
    g->tmp[0] = trib_aligned_alloc(TRIB_ALIGN, tmp_bytes);
    g->tmp[1] = trib_aligned_alloc(TRIB_ALIGN, tmp_bytes);
    MPI_Request *reqs = malloc(4 * g->max_segs * sizeof *reqs);
    if (!g->tmp[0] || !g->tmp[1] || !reqs) {
        free(reqs);
        return trib_errorf(TRIB_ERR_NOMEM, "ring allreduce: cannot allocate %zu bytes of buffers", 2 * tmp_bytes);
    }
    for (int i = 0; i < 2; i++) {
        g->rreq[i] = reqs + (size_t)i * g->max_segs;
        g->sreq[i] = reqs + (size_t)(2 + i) * g->max_segs;
    }
    for (size_t i = 0; i < 4 * g->max_segs; i++)
        reqs[i] = MPI_REQUEST_NULL;
    return TRIB_OK;
}

static void ring_fini(ring_t *g)
{
    trib_aligned_free(g->tmp[0]);
    trib_aligned_free(g->tmp[1]);
    free(g->rreq[0]);
}

int trib_coll_ring(const trib_coll_args_t *a)
{
    ring_t g = {0};
    int rc = ring_init(&g, a);
    if (rc == TRIB_OK) {
        trib_coll_copy_in(a);
        rc = ring_phase(&g, 1);
        if (rc == TRIB_OK)
            rc = ring_phase(&g, 0);
    }
    ring_fini(&g);
    return rc;
}

/* Adds the transfers of block blk (as segments) to the schedule. */
static void sched_block(trib_coll_sched_t *s, const trib_coll_args_t *a, const trib_blocks_t *b, size_t seg, int blk,
                        char *buf, int peer, int send)
{
    size_t n = trib_block_count(b, blk);
    size_t nseg = trib_segment_count(n, seg);
    for (size_t k = 0; k < nseg; k++) {
        size_t off, len;
        trib_segment(n, seg, k, &off, &len);
        if (send)
            trib_sched_send(s, buf + off * a->elem_size, len, peer);
        else
            trib_sched_recv(s, buf + off * a->elem_size, len, peer);
    }
}

int trib_coll_ring_sched(const trib_coll_args_t *a, trib_coll_sched_t *s)
{
    int p = a->size, r = a->rank, next = mod(r + 1, p), prev = mod(r - 1, p);
    trib_blocks_t b;
    trib_blocks_init(&b, a->count, p);
    size_t seg = trib_segment_elems(a->segment_bytes, a->elem_size);
    char *tmp = trib_sched_alloc(s, trib_block_count(&b, 0) * a->elem_size);
    if (!tmp)
        return trib_sched_status(s);
#define BLOCK(i) trib_coll_at(a, a->recvbuf, trib_block_offset(&b, (i)))
    /* Reduce-scatter. */
    for (int k = 0; k < p; k++) {
        if (k > 0) {
            int blk = mod(r - k, p); /* received in round k - 1 */
            trib_sched_combine(s, BLOCK(blk), tmp, BLOCK(blk), trib_block_count(&b, blk));
        }
        if (k < p - 1) {
            sched_block(s, a, &b, seg, mod(r - k - 1, p), tmp, prev, 0);
            sched_block(s, a, &b, seg, mod(r - k, p), BLOCK(mod(r - k, p)), next, 1);
        }
        trib_sched_round(s);
    }
    /* Allgather. */
    for (int k = 0; k < p - 1; k++) {
        sched_block(s, a, &b, seg, mod(r - k, p), BLOCK(mod(r - k, p)), prev, 0);
        sched_block(s, a, &b, seg, mod(r - k + 1, p), BLOCK(mod(r - k + 1, p)), next, 1);
        trib_sched_round(s);
    }
#undef BLOCK
    return trib_sched_status(s);
}
