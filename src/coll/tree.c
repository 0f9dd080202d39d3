/*
 * tree.c - pipelined binomial-tree allreduce: reduce to rank 0, then
 * broadcast from rank 0, both segmented.
 *
 * How it works.  The binomial tree rooted at 0: the parent of r > 0 is r with
 * its lowest set bit cleared; the children of r are r + 2^j for every 2^j
 * below r's lowest set bit (all 2^j < p for the root), when r + 2^j < p.
 *
 *   p = 8:            0
 *                  /  |  \
 *                 1   2   4
 *                     |   | \
 *                     3   5  6
 *                            |
 *                            7
 *
 * Reduce: for each segment, a rank combines its own segment with its
 * children's partial results (in ascending child order) and sends the
 * partial to its parent.  Broadcast: each rank receives a segment of the
 * result from its parent and forwards it to its children (largest subtree
 * first).  The receives of segment s+1 are posted while segment s is being
 * combined, and sends are non-blocking, so consecutive segments flow through
 * the tree like a pipeline.
 *
 * Reduction order.  The subtree of r covers ranks [r, r + lowbit(r)), and
 * child r + 2^j covers [r + 2^j, r + 2^(j+1)).  Combining children in
 * ascending j as acc = acc (+) child makes every combination
 * (lower ranks) (+) (higher ranks):  result = x0 (+) (x1) (+) (x2 (+) x3) (+) ...
 * The result is computed once, at the root, and broadcast: every rank has
 * the same bits, run to run.
 *
 * Cost (n bytes in S segments of s = n/S bytes, L = ceil(log2 p)):
 *   reduce:    (L + S - 1)(alpha + L s gamma) + ~ L n beta at the root
 *              (the root receives from L children one after another)
 *   broadcast: (L + S - 1) alpha + ~ L n beta at the root (sends to L children)
 * Fewer latency terms than the ring (2(L + S - 1) vs 2(p - 1)) but more
 * traffic at the root: good for small and medium vectors on many ranks,
 * worse than the ring for large vectors.
 *
 * Non-blocking form (trib_coll_tree_sched, for trib_iallreduce): the same
 * steps as rounds of a schedule (nb.c).  Reduce round s combines the
 * children's segment s-1 into ours (ascending children, as above), sends it
 * to the parent and posts the receives of segment s; broadcast round s
 * forwards segment s-1 to the children (largest subtree first) and
 * receives segment s from the parent.
 *
 * Limits: temporary memory 2 x L segments; rank 0 does L times the
 * reduction work of a leaf.
 */
#include "coll/coll_internal.h"

#include <stdlib.h>

#include "core/alloc.h"

#define TREE_MAX_CHILDREN 32

typedef struct {
    const trib_coll_args_t *a;
    size_t seg, nseg;
    int parent;                         /* -1 at the root */
    int nchild;
    int child[TREE_MAX_CHILDREN];       /* ascending */
    char *tmp;                          /* [2][nchild][seg] receive buffers */
    MPI_Request rreq[2][TREE_MAX_CHILDREN];
    MPI_Request *sreq;                  /* [nseg * max(1, nchild)] */
} tree_t;

static int lowbit(int r) { return r & -r; }

static char *child_buf(tree_t *t, size_t s, int j)
{
    return t->tmp + ((s % 2) * (size_t)t->nchild + (size_t)j) * t->seg * t->a->elem_size;
}

static int post_child_recvs(tree_t *t, size_t s)
{
    int rc = TRIB_OK;
    const trib_coll_args_t *a = t->a;
    size_t off, len;
    trib_segment(a->count, t->seg, s, &off, &len);
    for (int j = 0; j < t->nchild; j++)
        TRIB_MPI_TRY(MPI_Irecv(child_buf(t, s, j), (int)len, a->mpi_type, t->child[j], a->tag, a->comm,
                               &t->rreq[s % 2][j]));
    return TRIB_OK;
error:
    return rc;
}

static int tree_reduce(tree_t *t)
{
    int rc = TRIB_OK;
    const trib_coll_args_t *a = t->a;
    if (t->nchild > 0 && (rc = post_child_recvs(t, 0)) != TRIB_OK)
        return rc;
    for (size_t s = 0; s < t->nseg; s++) {
        if (t->nchild > 0 && s + 1 < t->nseg && (rc = post_child_recvs(t, s + 1)) != TRIB_OK)
            return rc;
        size_t off, len;
        trib_segment(a->count, t->seg, s, &off, &len);
        char *acc = trib_coll_at(a, a->recvbuf, off);
        for (int j = 0; j < t->nchild; j++) {
            TRIB_MPI_TRY(MPI_Wait(&t->rreq[s % 2][j], MPI_STATUS_IGNORE));
            trib_coll_combine(a, acc, acc, child_buf(t, s, j), len);
        }
        t->sreq[s] = MPI_REQUEST_NULL;
        if (t->parent >= 0)
            TRIB_MPI_TRY(MPI_Isend(acc, (int)len, a->mpi_type, t->parent, a->tag, a->comm, &t->sreq[s]));
    }
    /* The broadcast overwrites these segments: the sends must be done first. */
    TRIB_MPI_TRY(MPI_Waitall((int)t->nseg, t->sreq, MPI_STATUSES_IGNORE));
    return TRIB_OK;
error:
    return rc;
}

static int tree_bcast(tree_t *t)
{
    int rc = TRIB_OK;
    const trib_coll_args_t *a = t->a;
    size_t nreq = t->nseg * (size_t)(t->nchild > 0 ? t->nchild : 1);
    MPI_Request *rreq = t->sreq + nreq; /* second half of the request array */
    for (size_t s = 0; s < t->nseg; s++) {
        size_t off, len;
        trib_segment(a->count, t->seg, s, &off, &len);
        rreq[s] = MPI_REQUEST_NULL;
        if (t->parent >= 0)
            TRIB_MPI_TRY(MPI_Irecv(trib_coll_at(a, a->recvbuf, off), (int)len, a->mpi_type, t->parent, a->tag,
                                   a->comm, &rreq[s]));
    }
    for (size_t i = 0; i < nreq; i++)
        t->sreq[i] = MPI_REQUEST_NULL;
    for (size_t s = 0; s < t->nseg; s++) {
        size_t off, len;
        trib_segment(a->count, t->seg, s, &off, &len);
        TRIB_MPI_TRY(MPI_Wait(&rreq[s], MPI_STATUS_IGNORE));
        for (int j = t->nchild - 1; j >= 0; j--) /* largest subtree first */
            TRIB_MPI_TRY(MPI_Isend(trib_coll_at(a, a->recvbuf, off), (int)len, a->mpi_type, t->child[j], a->tag,
                                   a->comm, &t->sreq[s * (size_t)t->nchild + (size_t)j]));
    }
    TRIB_MPI_TRY(MPI_Waitall((int)nreq, t->sreq, MPI_STATUSES_IGNORE));
    return TRIB_OK;
error:
    return rc;
}

/* The tree's shape at this rank and the segmenting. */
static void tree_shape(tree_t *t, const trib_coll_args_t *a)
{
    int r = a->rank, p = a->size;
    t->a = a;
    t->seg = trib_segment_elems(a->segment_bytes, a->elem_size);
    t->nseg = trib_segment_count(a->count, t->seg);
    t->parent = r == 0 ? -1 : r & (r - 1);
    int limit = r == 0 ? p : lowbit(r);
    for (int m = 1; m < limit && r + m < p; m <<= 1)
        t->child[t->nchild++] = r + m;
}

static int tree_init(tree_t *t, const trib_coll_args_t *a)
{
    tree_shape(t, a);
    size_t nreq = t->nseg * (size_t)(t->nchild > 0 ? t->nchild : 1);
    t->sreq = malloc((nreq + t->nseg) * sizeof *t->sreq);
    size_t tmp_bytes = 2 * (size_t)t->nchild * t->seg * a->elem_size;
    t->tmp = trib_aligned_alloc(TRIB_ALIGN, tmp_bytes);
    if (!t->sreq || !t->tmp)
        return trib_errorf(TRIB_ERR_NOMEM, "tree allreduce: cannot allocate %zu bytes of buffers", tmp_bytes);
    return TRIB_OK;
}

int trib_coll_tree(const trib_coll_args_t *a)
{
    tree_t t = {0};
    int rc = tree_init(&t, a);
    if (rc == TRIB_OK) {
        trib_coll_copy_in(a);
        rc = tree_reduce(&t);
        if (rc == TRIB_OK)
            rc = tree_bcast(&t);
    }
    free(t.sreq);
    trib_aligned_free(t.tmp);
    return rc;
}

int trib_coll_tree_sched(const trib_coll_args_t *a, trib_coll_sched_t *s)
{
    tree_t t = {0};
    tree_shape(&t, a);
    size_t es = a->elem_size;
    char *cbuf = trib_sched_alloc(s, (size_t)t.nchild * t.seg * es);
    if (!cbuf)
        return trib_sched_status(s);
    /* Reduce. */
    for (size_t k = 0; k <= t.nseg; k++) {
        size_t off, len;
        if (k > 0) {
            trib_segment(a->count, t.seg, k - 1, &off, &len);
            char *acc = trib_coll_at(a, a->recvbuf, off);
            for (int j = 0; j < t.nchild; j++)
                trib_sched_combine(s, acc, acc, cbuf + (size_t)j * t.seg * es, len);
            if (t.parent >= 0)
                trib_sched_send(s, acc, len, t.parent);
        }
        if (k < t.nseg) {
            trib_segment(a->count, t.seg, k, &off, &len);
            for (int j = 0; j < t.nchild; j++)
                trib_sched_recv(s, cbuf + (size_t)j * t.seg * es, len, t.child[j]);
        }
        trib_sched_round(s);
    }
    /* Broadcast. */
    for (size_t k = 0; k <= t.nseg; k++) {
        size_t off, len;
        if (k > 0) {
            trib_segment(a->count, t.seg, k - 1, &off, &len);
            for (int j = t.nchild - 1; j >= 0; j--)
                trib_sched_send(s, trib_coll_at(a, a->recvbuf, off), len, t.child[j]);
        }
        if (k < t.nseg && t.parent >= 0) {
            trib_segment(a->count, t.seg, k, &off, &len);
            trib_sched_recv(s, trib_coll_at(a, a->recvbuf, off), len, t.parent);
        }
        trib_sched_round(s);
    }
    return trib_sched_status(s);
}
