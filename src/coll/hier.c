/*
 * hier.c - node-aware (hierarchical) allreduce: shared memory inside each
 * node, one allreduce per node rank across the nodes.
 *
 * A flat ring over N nodes of M ranks takes 2(NM - 1) latency-bound steps
 * and pushes 2(NM - 1)/(NM) n bytes through each node's link; reducing
 * inside the node first leaves 2(N - 1) network steps and 2(N - 1)/N n bytes
 * per link, the scheme of NCCL, Horovod's hierarchical allreduce and Open
 * MPI's coll/han.
 *
 * How it works.  The communicator context (comm.c) knows this rank's node
 * (`node`: the ranks that share memory with it) and the layout of all nodes.
 * On first use hier creates
 *   - a shared-memory window over the node (shm.c's machinery, `node_shm`);
 *   - `cross`: the ranks of the same node rank on every node.
 * Then, on shm.c's single-copy path (native types from 64 KiB, when the
 * node's ranks may access each other's memory), once for the whole vector
 * with the steps overlapping piece by piece (below), and otherwise chunk by
 * chunk (segment_bytes, at most shm.c's chunk buffer), one step after the
 * other:
 *
 *   1. reduce-scatter inside the node (shm.c): the chunk is cut into S
 *      slices, node rank l reduces slice l over the node's ranks;
 *   2. node rank l allreduces its slice with its peers of `cross` (ring, tree
 *      or rd, by the built-in rule for N ranks and the slice's bytes), so the
 *      S slices cross the network in parallel, every core and the link busy;
 *   3. allgather inside the node (shm.c): every rank copies the S slices.
 *
 *   2 nodes x 2 ranks, ranks 0,1 on node A and 2,3 on node B:
 *     node A: rank 0 reduces slice 0 = x0+x1, rank 1 slice 1 = x0+x1
 *     node B: rank 2 reduces slice 0 = x2+x3, rank 3 slice 1 = x2+x3
 *     cross {0, 2} allreduces slice 0, cross {1, 3} slice 1
 *     every rank copies both slices of its node.
 *
 * Small vectors (below HIER_SLICED_MIN, 64 KiB): one slice, S = 1, so node
 * rank 0 alone reduces the vector, crosses the nodes and hands the result
 * to the others.  Slices in parallel buy nothing there (the node's link
 * carries them one after another, and the reduction is short), while every
 * rank in the allreduce across nodes is one more process polling the
 * network.  On the emulated 2 x 4 cluster (8 ranks on 2 cores, 1 Gbit/s,
 * 100 us), two alternating pairs: 32 B 153 us against 256-359 with a slice
 * per rank, 8 KiB 234-260 against 314-462, 32 KiB 277-306 against 527-530;
 * at 64 KiB (single-copy path) the slices were faster, 553-557 us against
 * 656-672.
 *
 * Uneven layouts (nodes of different sizes): S is the smallest node's rank
 * count, so every node has ranks 0..S-1 and every cross group of those ranks
 * has one member per node; the other ranks reduce no slice (they contribute
 * their data and copy the result).  Correct for any layout; the spare ranks'
 * cores idle in step 2.
 *
 * Reduction order and bits: slice l is reduced once on each node (in node
 * rank order) and then by an algorithm that leaves the same bits on all its
 * ranks; every rank copies those bits.  So every rank holds the same bits,
 * run to run.  The combining order mixes node order and rank order, so a
 * non-commutative operation is refused (select.c names the algorithms that
 * serve it), as for ring.
 *
 * Pieces (single-copy path).  A rank's slice crosses the nodes in pieces,
 * up to HIER_SLOTS of them at once, each a schedule of the cross algorithm
 * (nb.c's runs, tagged by slot): while pieces travel, the next ones are
 * reduced inside the node and the arrived ones written into the node's
 * other ranks (shm.c, cma_pipeline).  One whole slice after another left
 * the link idle while the node reduced and copied, and one long transfer
 * per rank started cold.  On the emulated 2 x 2 cluster (1 Gbit/s,
 * 100 us) 8 pieces of 128 KiB took 9.0 / 36.0 / 141 / 563 ms at 1 / 4 /
 * 16 / 64 MiB, 1.05-1.07x the node link's bound, where whole slices took
 * 10.1-10.2 / 44.0-45.2 / 161-215 / 641-686 ms in two runs
 * (benchmarks/RESULTS.md, "Collectives", section 6).
 *
 * A piece's size keeps every message of its schedule at HIER_MSG_BYTES
 * (32 KiB), under Open MPI's TCP eager limit (64 KiB), so no message waits
 * for a rendezvous round trip: on two nodes the built-in rule runs rd on
 * the piece (the whole piece each way), so a piece is 32 KiB; on N >= 3
 * nodes it runs ring on N x 32 KiB (crossovers in select.c; test_coll_units
 * checks both answers), N - 1 steps each way of 32 KiB.  Smaller pieces
 * there would run rd, which moves log2 N pieces where ring moves
 * 2(N - 1)/N.  Two alternating runs each
 * (trib-bench allreduce --algo hier, 128 KiB-32 MiB): 2 x 2 at 2 MiB 17.6
 * ms with 32 KiB pieces against 18.2-18.3 with 128 KiB, 2 x 4 at 2 MiB
 * 17.7 against 19.8-19.9; 3 x 2 at 32 MiB 375 ms with 96 KiB pieces
 * against 393-404 with 32 KiB; 4 x 2 at 32 MiB 423 ms with 128 KiB
 * against 565-566 with 32 KiB (1.05x the link bound against 1.40x).
 *
 * Cost.  Single-copy: two shared-memory rounds per call, the node's inputs
 * read and the result written once, and one allreduce of n/S bytes on N
 * ranks in pieces, beside the node's memory work.  Staged, per chunk
 * of c bytes: two shared-memory rounds and the copies of shm.c plus one
 * allreduce of c/S bytes on N ranks, the phases one after another; each chunk
 * pays the network latency and Open MPI's rendezvous again (on the emulated
 * 2 x 2 cluster, 1 Gbit/s and 100 us, the staged path reached 1.2-1.33x the
 * link bound from 512 KiB up, where coll/han reached 1.06-1.09x:
 * benchmarks/RESULTS.md, "Collectives").
 *
 * Limits: a shared window of ~2 MiB per rank on top of shm's; one MPI
 * communicator more per context (cross).  One node: the same as shm with a
 * larger chunk.  One rank per node: a flat allreduce with an extra copy.
 * A failure inside one node (a refused single-copy read, no memory for the
 * private chunks: shm.c) fails the call on that node's ranks only: its
 * pieces still cross, so no other node waits forever, but the other nodes
 * are not told (that would cost a crossing per call) and return a sum with
 * that node's part wrong.  An application that stops on the error (as
 * trib-train does) ends the job; one that carries on must not trust that
 * call's result on any rank.
 */
#include "coll/coll_internal.h"

#include "core/log.h"

/* From this size every node rank reduces and sends a slice; below it node rank 0 alone (see the top). */
#define HIER_SLICED_MIN ((size_t)64 << 10)
/* Pieces of a slice in flight across the nodes, and the size of each message of a piece (single-copy path;
 * see the top). */
#define HIER_SLOTS 8
#define HIER_MSG_BYTES ((size_t)32 << 10)

typedef struct {
    const trib_coll_args_t *a;
    int cross_rank, cross_size;
    trib_coll_run_t *run[HIER_SLOTS];
} hier_t;

/* Step 2 for one piece of a reduced slice: its allreduce across the nodes, in place, started. */
static int piece_start(void *arg, int slot, char *piece, size_t len)
{
    hier_t *h = arg;
    h->run[slot] = NULL;
    if (h->cross_size <= 1)
        return TRIB_OK;
    trib_coll_args_t sub = *h->a;
    sub.sendbuf = piece;
    sub.recvbuf = piece;
    sub.count = len;
    sub.comm = h->a->ctx->cross;
    sub.rank = h->cross_rank;
    sub.size = h->cross_size;
    size_t seg = 0;
    trib_algo_t algo = trib_coll_builtin_rule(len * sub.elem_size, sub.size, 0, &seg);
    sub.segment_bytes = seg > 0 ? seg : trib_coll_default_segment(algo);
    /*
     * The slot is the tag.  Piece k takes slot k % slots on every rank and
     * starts after piece k - slots ended here, so per tag and peer the
     * transfers are posted in the same order on both sides.
     */
    return trib_coll_run_start(&sub, algo, sub.comm, slot, &h->run[slot]);
}

static int piece_test(void *arg, int slot, int *done)
{
    hier_t *h = arg;
    *done = 1;
    if (!h->run[slot])
        return TRIB_OK;
    int rc = trib_coll_run_test(h->run[slot], done);
    if (rc != TRIB_OK || *done) {
        trib_coll_run_free(h->run[slot]);
        h->run[slot] = NULL;
        *done = 1;
    }
    return rc;
}

/* The window over the node and the cross communicator, on first use (collective). */
static int hier_setup(trib_coll_ctx_t *ctx)
{
    int rc = TRIB_OK;
    if (ctx->cross == MPI_COMM_NULL) {
        TRIB_MPI_TRY(MPI_Comm_split(ctx->comm, ctx->node_rank, ctx->rank, &ctx->cross));
        TRIB_MPI_TRY(MPI_Comm_set_errhandler(ctx->cross, MPI_ERRORS_RETURN));
    }
    if (!ctx->node_shm && (rc = trib_coll_shm_create(ctx->node, ctx->node_rank, ctx->node_size, &ctx->node_shm)) !=
                              TRIB_OK)
        return rc;
    return TRIB_OK;
error:
    return rc;
}

int trib_coll_hier(const trib_coll_args_t *a)
{
    trib_coll_ctx_t *ctx = a->ctx;
    int rc = hier_setup(ctx);
    if (rc != TRIB_OK)
        return rc;
    hier_t h = {a, 0, 1, {NULL}};
    TRIB_MPI_TRY(MPI_Comm_rank(ctx->cross, &h.cross_rank));
    TRIB_MPI_TRY(MPI_Comm_size(ctx->cross, &h.cross_size));
    size_t piece = HIER_MSG_BYTES * (size_t)(h.cross_size > 2 ? h.cross_size : 1); /* see the top */
    trib_coll_slice_ops_t ops = {piece_start, piece_test, &h, HIER_SLOTS, piece};
    int nslices = a->count * a->elem_size < HIER_SLICED_MIN ? 1 : ctx->topo.min_per_node;
    return trib_coll_shm_slices(a, ctx->node_shm, nslices, &ops);
error:
    return rc;
}
