/*
 * coll_internal.h - interfaces shared by the files of the allreduce library.
 *
 * How the parts fit:
 *
 *   allreduce.c   public entry points; validates the arguments ONCE into a
 *                 trib_coll_args_t, handles count 0 / p == 1 / in-place /
 *                 check mode / AVG, asks the selector, calls one algorithm.
 *   comm.c        the per-communicator context cached as an MPI attribute:
 *                 a private duplicate (MPI_ERRORS_RETURN) for our traffic.
 *   select.c      the only place that decides which algorithm runs.
 *   tuning.c      measured tuning files that the selector consults.
 *   types.c       which kernel serves a (datatype, op) pair: predefined
 *                 MPI handles mapped by size and kind, the pairs the MPI
 *                 standard allows, the generic path for the rest.
 *   kernels.c     typed element-wise reduce loops.
 *   reduce_local.c  the generic path: derived datatypes and user-defined
 *                 operations combined by MPI_Reduce_local (packed when the
 *                 datatype has gaps).
 *   blocks.c      the split of a vector into p blocks and into segments.
 *   ring.c tree.c rd.c mpi.c shm.c hier.c
 *                 one algorithm each; trib_coll_<name>(const trib_coll_args_t *),
 *                 and for ring, tree and rd trib_coll_<name>_sched, the same
 *                 steps as a schedule for the non-blocking call.
 *                 hier.c runs shm.c's machinery over the node and ring/tree/rd
 *                 across the nodes.
 *   nb.c          trib_iallreduce's requests: schedules of non-blocking
 *                 rounds, progress inside Tributary calls, test/wait.
 *   half.c        the bf16/fp16 wire formats (conversions, combining step).
 *
 * Algorithms receive validated arguments: count > 0, p > 1, a supported
 * type/op pair, a private communicator, a segment size already resolved.
 * They never fall back to another algorithm; they return TRIB_OK or a status.
 * They combine through trib_coll_combine(a, dst, x, y, n) = x (+) y, with
 * x the contribution of the lower ranks; a non-commutative operation only
 * reaches the algorithms that apply it in rank order (select.c decides).
 *
 * Internal functions carry the trib_coll_ prefix and hidden visibility: they
 * are visible to the other files of the library (and to the unit tests, which
 * link the static library) but not exported from the shared library.
 */
#ifndef TRIB_COLL_INTERNAL_H
#define TRIB_COLL_INTERNAL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#include "tributary/allreduce.h"

#include "core/visibility.h"

#define TRIB_INTERNAL TRIB_HIDDEN

/* ------------------------------------------------------------ types, ops */

/*
 * Internal element types: one per native kernel family.  MPI datatypes map
 * here by size and kind (types.c): MPI_INT, MPI_INT32_T -> INT32, MPI_LONG
 * and MPI_AINT -> INT64 on LP64, MPI_BYTE -> UINT8 (bitwise ops only), ...
 * The pair types hold {value, int index} as the C struct of the same layout.
 * GENERIC has no kernel: MPI_Reduce_local combines (reduce_local.c).
 */
typedef enum {
    TRIB_TYPE_FLOAT = 0,
    TRIB_TYPE_DOUBLE,
    TRIB_TYPE_INT32,
    TRIB_TYPE_INT64,
    TRIB_TYPE_UINT8,
    TRIB_TYPE_INT8,
    TRIB_TYPE_INT16,
    TRIB_TYPE_UINT16,
    TRIB_TYPE_UINT32,
    TRIB_TYPE_UINT64,
    TRIB_TYPE_LDOUBLE,
    TRIB_TYPE_CFLOAT,
    TRIB_TYPE_CDOUBLE,
    TRIB_TYPE_CLDOUBLE,
    TRIB_TYPE_BOOL,
    TRIB_TYPE_2INT,
    TRIB_TYPE_FLOAT_INT,
    TRIB_TYPE_DOUBLE_INT,
    TRIB_TYPE_LONG_INT,
    TRIB_TYPE_SHORT_INT,
    TRIB_TYPE_LDOUBLE_INT,
    TRIB_TYPE_GENERIC,
    TRIB_TYPE_COUNT
} trib_coll_type_t;

/*
 * Internal operations.  AVG reaches the algorithms as SUM (see allreduce.c).
 * USER is any operation without a native kernel (a user-defined MPI_Op, or
 * a predefined one on a GENERIC type): MPI_Reduce_local applies it.
 */
typedef enum {
    TRIB_OPK_SUM = 0,
    TRIB_OPK_PROD,
    TRIB_OPK_MIN,
    TRIB_OPK_MAX,
    TRIB_OPK_AVG,
    TRIB_OPK_LAND,
    TRIB_OPK_LOR,
    TRIB_OPK_LXOR,
    TRIB_OPK_BAND,
    TRIB_OPK_BOR,
    TRIB_OPK_BXOR,
    TRIB_OPK_MINLOC,
    TRIB_OPK_MAXLOC,
    TRIB_OPK_USER,
    TRIB_OPK_COUNT
} trib_coll_op_t;

/*
 * Maps a predefined MPI datatype that has a native kernel family;
 * TRIB_ERR_UNSUPPORTED (with detail) otherwise (the caller then takes the
 * generic path).
 */
TRIB_INTERNAL int trib_coll_type_from_mpi(MPI_Datatype type, trib_coll_type_t *out);
/* Maps the predefined reduction ops and TRIB_OP_AVG; TRIB_ERR_UNSUPPORTED otherwise. */
TRIB_INTERNAL int trib_coll_op_from_mpi(MPI_Op op, trib_coll_op_t *out);
TRIB_INTERNAL size_t trib_coll_type_size(trib_coll_type_t t);
TRIB_INTERNAL const char *trib_coll_type_name(trib_coll_type_t t);
TRIB_INTERNAL const char *trib_coll_op_name(trib_coll_op_t op);
/* 1 when a native kernel serves the pair, or it is AVG on float or double. */
TRIB_INTERNAL int trib_coll_pair_supported(trib_coll_type_t t, trib_coll_op_t op);

/*
 * How a call's (datatype, op) is served (types.c).  type/op: the native
 * kernel family, or GENERIC / USER for MPI_Reduce_local.  Errors:
 * TRIB_ERR_INVALID_ARG for what MPI itself rejects (MPI_DATATYPE_NULL,
 * MPI_OP_NULL, MPI_REPLACE, a predefined op MPI does not define on the
 * datatype: MPI_Reduce_local is asked, on zero elements, with
 * MPI_COMM_WORLD's error handler set to return for that moment);
 * TRIB_ERR_UNSUPPORTED for TRIB_OP_AVG on a type other than float/double.
 */
typedef struct {
    trib_coll_type_t type;
    trib_coll_op_t op;   /* as the user meant it (AVG included) */
    int commutative;     /* MPI_Op_commutative; 1 for every predefined op */
} trib_coll_class_t;
TRIB_INTERNAL int trib_coll_classify(MPI_Datatype type, MPI_Op op, trib_coll_class_t *out);

/* ---------------------------------------------------------------- kernels */

/*
 * dst[i] = a[i] OP b[i] for i < n.  dst may be the same pointer as a or b
 * (not a partial overlap).  The operand order is part of the contract: the
 * algorithms pass the contribution of the lower ranks as `a`.
 * Returns NULL for an unsupported pair (and for AVG: reduce with SUM).
 */
typedef void (*trib_coll_kernel_fn)(void *dst, const void *a, const void *b, size_t n);
TRIB_INTERNAL trib_coll_kernel_fn trib_coll_kernel(trib_coll_type_t t, trib_coll_op_t op);
/* buf[i] /= divisor (float and double only; the last step of AVG). */
TRIB_INTERNAL void trib_coll_divide(trib_coll_type_t t, void *buf, size_t n, int divisor);

/* ------------------------------------------------------- blocks, segments */

/*
 * The split of `count` elements into p blocks: the first `extra` blocks
 * ("early" blocks) hold base + 1 elements, the others base, as Open MPI
 * does, so block sizes differ by at most one and every element is in
 * exactly one block.
 */
typedef struct {
    size_t count;
    int p;
    size_t base;  /* count / p */
    size_t extra; /* count % p */
} trib_blocks_t;

TRIB_INTERNAL void trib_blocks_init(trib_blocks_t *b, size_t count, int p);
/* First element of block i, 0 <= i <= p (offset(p) == count). */
TRIB_INTERNAL size_t trib_block_offset(const trib_blocks_t *b, int i);
TRIB_INTERNAL size_t trib_block_count(const trib_blocks_t *b, int i);

/* Number of segments of at most seg_elems (> 0) elements covering n elements. */
TRIB_INTERNAL size_t trib_segment_count(size_t n, size_t seg_elems);
/* Offset and length of segment s of n elements (s < trib_segment_count). */
TRIB_INTERNAL void trib_segment(size_t n, size_t seg_elems, size_t s, size_t *off, size_t *len);
/*
 * Elements per segment for a segment size in bytes: at least 1, at most
 * TRIB_MAX_MSG_BYTES / elem_size so no MPI call ever sees an int count
 * above INT_MAX (nor a message above 1 GiB).
 */
TRIB_INTERNAL size_t trib_segment_elems(size_t segment_bytes, size_t elem_size);

/*
 * The largest single MPI message the library sends.  1 GiB, not INT_MAX
 * elements: some transports mishandle messages near 2 GiB even when the
 * element count fits in an int.
 */
#define TRIB_MAX_MSG_BYTES ((size_t)1 << 30)

/* Per-algorithm default segment sizes (bytes); see each algorithm's file. */
#define TRIB_RING_SEGMENT_DEFAULT ((size_t)1 << 20)
#define TRIB_TREE_SEGMENT_DEFAULT ((size_t)64 << 10)
#define TRIB_RD_SEGMENT_DEFAULT ((size_t)4 << 20)
#define TRIB_MPI_SEGMENT_DEFAULT TRIB_MAX_MSG_BYTES
#define TRIB_SHM_SEGMENT_DEFAULT ((size_t)256 << 10)
#define TRIB_HIER_SEGMENT_DEFAULT ((size_t)1 << 20)
TRIB_INTERNAL size_t trib_coll_default_segment(trib_algo_t algo);

/* ------------------------------------------------- per-communicator state */

struct trib_shm_state; /* shm.c */
struct trib_coll_nb;    /* nb.c */

/*
 * The node layout of a communicator (comm.c): nodes are the groups of
 * MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), or of TRIB_FAKE_RANKS_PER_NODE
 * consecutive ranks when that testing aid is set.
 */
typedef struct {
    int nodes;        /* >= 1 */
    int max_per_node; /* ranks on the fullest node */
    int min_per_node; /* ranks on the emptiest node */
} trib_coll_topo_t;

/* The ranks per node when every node holds the same number, else 0. */
static inline int trib_coll_topo_uniform(const trib_coll_topo_t *t)
{
    return t->min_per_node == t->max_per_node ? t->max_per_node : 0;
}

typedef struct trib_coll_ctx {
    MPI_Comm comm;  /* private duplicate of the user's communicator */
    int rank, size;
    int single_node; /* 1 when every rank shares one node (found at creation) */
    trib_coll_topo_t topo;
    MPI_Comm node;   /* the ranks of this rank's node (a split of comm) */
    int node_rank, node_size;
    MPI_Comm cross;  /* the ranks of the same node rank on every node (hier.c; created on first use) */
    struct trib_shm_state *shm; /* created by shm.c on first use; NULL before */
    struct trib_shm_state *node_shm; /* the same over `node` (hier.c); NULL before first use */
    struct trib_coll_nb *nb;    /* non-blocking state, created by nb.c on first use; NULL before */
    struct trib_coll_ctx *prev, *next; /* live contexts, in creation order (comm.c) */
} trib_coll_ctx_t;

/*
 * The context of `user_comm`, created on first use (collective: MPI_Comm_dup
 * and MPI_Comm_split_type) and freed with the communicator (MPI attribute
 * delete callback).
 */
TRIB_INTERNAL int trib_coll_ctx_get(MPI_Comm user_comm, trib_coll_ctx_t **out);
/* 1 when MPI is initialised and not finalising (cached once true; comm.c). */
TRIB_INTERNAL int trib_coll_mpi_usable(void);

/* ------------------------------------------------------ validated arguments */

typedef struct {
    const void *sendbuf; /* never MPI_IN_PLACE; == recvbuf when reducing in place */
    void *recvbuf;
    size_t count;        /* > 0 */
    trib_coll_type_t type;
    size_t elem_size;
    trib_coll_op_t op;   /* never AVG here: the dispatcher passes SUM */
    MPI_Datatype mpi_type; /* the caller's datatype */
    MPI_Op mpi_op;         /* the matching predefined MPI op (MPI_SUM for AVG) */
    MPI_Comm comm;       /* the private duplicate */
    int rank, size;      /* size > 1 */
    int tag;
    size_t segment_bytes; /* resolved: > 0 */
    trib_coll_kernel_fn kernel; /* NULL: the generic path combines (generic != NULL) */
    struct trib_coll_generic *generic;
    int commutative;     /* 0: only order-preserving algorithms get this call */
    trib_coll_ctx_t *ctx;
} trib_coll_args_t;

/*
 * The generic combining step (reduce_local.c): dst = x (+) y through
 * MPI_Reduce_local, for n elements of the call's working representation.
 * A failure is recorded in the call's generic state (the dispatcher
 * returns it after the algorithm, so every rank still finishes the
 * schedule and none is left waiting).
 */
TRIB_INTERNAL void trib_coll_generic_combine(struct trib_coll_generic *g, void *dst, const void *x, const void *y,
                                             size_t n);

/* dst = x (+) y for n elements: the native kernel, or the generic step. */
static inline void trib_coll_combine(const trib_coll_args_t *a, void *dst, const void *x, const void *y, size_t n)
{
    if (a->kernel)
        a->kernel(dst, x, y, n);
    else
        trib_coll_generic_combine(a->generic, dst, x, y, n);
}

/* Bytes per element in the generic path's working representation (packed size or extent). */
TRIB_INTERNAL int trib_coll_generic_elem_size(MPI_Datatype type, size_t *elem_size);

/* Copies sendbuf into recvbuf unless the call is in place. */
TRIB_INTERNAL void trib_coll_copy_in(const trib_coll_args_t *a);
/* Byte address of element i of buf. */
static inline char *trib_coll_at(const trib_coll_args_t *a, void *buf, size_t i)
{
    return (char *)buf + i * a->elem_size;
}

/* Records "what failed: MPI's message" and returns TRIB_ERR_MPI. */
TRIB_INTERNAL int trib_coll_mpi_error(int mpi_rc, const char *what);

/* Evaluates an MPI call; on failure sets rc and jumps to the function's `error` label. */
#define TRIB_MPI_TRY(call)                                                                         \
    do {                                                                                           \
        int mpi_rc_ = (call);                                                                      \
        if (mpi_rc_ != MPI_SUCCESS) {                                                              \
            rc = trib_coll_mpi_error(mpi_rc_, #call);                                              \
            goto error;                                                                            \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------------- algorithms */

TRIB_INTERNAL int trib_coll_ring(const trib_coll_args_t *a);
TRIB_INTERNAL int trib_coll_tree(const trib_coll_args_t *a);
TRIB_INTERNAL int trib_coll_rd(const trib_coll_args_t *a);
TRIB_INTERNAL int trib_coll_mpi(const trib_coll_args_t *a);
TRIB_INTERNAL int trib_coll_shm(const trib_coll_args_t *a);
TRIB_INTERNAL int trib_coll_hier(const trib_coll_args_t *a);
/* Whether the built-in rules prefer shm for this many bytes on p ranks of one node. */
TRIB_INTERNAL int trib_coll_shm_preferred(size_t bytes, int p);
/* Frees shm.c's state (called from the communicator's delete callback). */
TRIB_INTERNAL void trib_coll_shm_free(struct trib_shm_state *s);
/* shm.c's state over `comm` (rank of size ranks, all on one node); collective over comm. */
TRIB_INTERNAL int trib_coll_shm_create(MPI_Comm comm, int rank, int size, struct trib_shm_state **out);
/*
 * What hier.c does with the slice a rank reduced inside the node, before
 * the others copy it: the allreduce across nodes, in place, piece by piece
 * and several pieces at once.  start(arg, slot, piece, len) begins the
 * transformation of `len` elements at `piece` (elements of the slice,
 * reduced over the node's ranks) in slot `slot` (0 <= slot < slots, free);
 * test(arg, slot, &done) moves it on without waiting and sets done at its
 * end, which frees the slot.  piece_bytes: the size of a piece (the last
 * may be shorter).  A failure is returned after the schedule.
 */
typedef struct {
    int (*start)(void *arg, int slot, char *piece, size_t len);
    int (*test)(void *arg, int slot, int *done);
    void *arg;
    int slots;
    size_t piece_bytes;
} trib_coll_slice_ops_t;
/*
 * The shared-memory reduce-scatter / allgather of shm.c over the state s
 * (a's rank and size are those of s's communicator): every chunk is split
 * into `nslices` slices (1 <= nslices <= ranks), slice q reduced by rank q
 * and passed through ops by it (ops may be NULL), then copied to all.  On
 * the single-copy path the pieces of a slice overlap: while piece k crosses
 * the nodes, piece k + 1 is reduced and piece k - 1 copied to the others.
 */
TRIB_INTERNAL int trib_coll_shm_slices(const trib_coll_args_t *a, struct trib_shm_state *s, int nslices,
                                       const trib_coll_slice_ops_t *ops);

/* ------------------------------------------------------- a call's life */

/*
 * What happens to a validated call around its algorithm, shared by the
 * blocking and the non-blocking entry points (allreduce.c):
 *   trib_coll_call_begin: the generic path's packing, the 16-bit wire
 *     format's conversion, p == 1; c->run = 1 when c->algo must then run
 *     on c->a (count > 0, p > 1);
 *   trib_coll_call_end: unpacking, widening, AVG's division; frees what
 *     begin allocated; returns the call's outcome given the algorithm's rc.
 */
typedef struct {
    trib_coll_args_t a;      /* what the algorithm runs on */
    trib_algo_t algo;
    trib_coll_op_t user_op;  /* AVG included */
    trib_wire_t wire;
    int run;
    struct trib_coll_generic_call *gen; /* generic path state (reduce_local.c) */
    void *wire_buf;          /* 16-bit working vector */
    float *user_recv;        /* the caller's float32 receive buffer (16-bit wire) */
    size_t user_count;
} trib_coll_call_t;

TRIB_INTERNAL int trib_coll_call_begin(trib_coll_call_t *c);
TRIB_INTERNAL int trib_coll_call_end(trib_coll_call_t *c, int rc);
/* Runs one algorithm to completion (the blocking dispatch). */
TRIB_INTERNAL int trib_coll_run_algorithm(trib_algo_t algo, const trib_coll_args_t *a);

/*
 * The generic path in two halves (reduce_local.c): begin packs and gives
 * the arguments the algorithm runs on (*run = 0: nothing to run, e.g. one
 * rank); end unpacks, frees and returns the outcome.
 */
struct trib_coll_generic_call;
TRIB_INTERNAL int trib_coll_generic_begin(const trib_coll_args_t *a, trib_algo_t algo,
                                          struct trib_coll_generic_call **out, trib_coll_args_t *run_args, int *run);
TRIB_INTERNAL int trib_coll_generic_end(struct trib_coll_generic_call *gc, int rc);

/* ------------------------------------------------ 16-bit wire formats (half.c) */

TRIB_INTERNAL uint16_t trib_coll_f32_to_bf16(float f);
TRIB_INTERNAL float trib_coll_bf16_to_f32(uint16_t h);
TRIB_INTERNAL uint16_t trib_coll_f32_to_f16(float f);
TRIB_INTERNAL float trib_coll_f16_to_f32(uint16_t h);
/* dst[i] = round16(widen(a[i]) + widen(b[i])) in float32: the combining step of a 16-bit wire. */
TRIB_INTERNAL trib_coll_kernel_fn trib_coll_wire_kernel(trib_wire_t wire);
/* The same as an MPI_Op on MPI_UINT16_T (for the mpi algorithm); created on first use. */
TRIB_INTERNAL int trib_coll_wire_op(trib_wire_t wire, MPI_Op *op);
/* n float32 -> 16-bit (round to nearest even) and back (exact). */
TRIB_INTERNAL void trib_coll_wire_narrow(trib_wire_t wire, uint16_t *dst, const float *src, size_t n);
TRIB_INTERNAL void trib_coll_wire_widen(trib_wire_t wire, float *dst, const uint16_t *src, size_t n);

/* ---------------------------------------------------- schedules (nb.c) */

/*
 * A non-blocking allreduce runs its algorithm as a schedule: a list of
 * rounds, each an ordered list of steps.  Starting a round runs its local
 * steps (combine) and posts its transfers (MPI_Isend / MPI_Irecv) in list
 * order; the round is over when all its transfers are complete, and the
 * next one starts at the next progress call.  A combine therefore reads
 * only what earlier rounds received, and a send issued in a round reads the
 * buffer as the round's earlier steps left it.
 *
 * An algorithm offers a schedule by a builder trib_coll_<name>_sched that
 * emits exactly its blocking version's combinations with the same operands
 * in the same order (so the bits are the same), listed in
 * trib_coll_sched_builder (nb.c).  An algorithm without one runs blocking
 * inside trib_iallreduce.  Builders emit transfers of at most
 * trib_segment_elems() elements; buffers come from trib_sched_alloc (freed
 * with the schedule).  Allocation failures are remembered and reported by
 * trib_sched_status.
 */
typedef struct trib_coll_sched trib_coll_sched_t;
typedef int (*trib_coll_sched_fn)(const trib_coll_args_t *a, trib_coll_sched_t *s);

TRIB_INTERNAL void trib_sched_send(trib_coll_sched_t *s, const void *buf, size_t n, int peer);
TRIB_INTERNAL void trib_sched_recv(trib_coll_sched_t *s, void *buf, size_t n, int peer);
/* dst = x (+) y for n elements (trib_coll_combine), run when the round starts. */
TRIB_INTERNAL void trib_sched_combine(trib_coll_sched_t *s, void *dst, const void *x, const void *y, size_t n);
/* Ends the current round (no-op when it is empty). */
TRIB_INTERNAL void trib_sched_round(trib_coll_sched_t *s);
/* Scratch memory owned by the schedule (TRIB_ALIGN-aligned; NULL on failure, remembered). */
TRIB_INTERNAL void *trib_sched_alloc(trib_coll_sched_t *s, size_t bytes);
TRIB_INTERNAL int trib_sched_status(const trib_coll_sched_t *s);
/* The builder of an algorithm; NULL when it runs blocking inside trib_iallreduce. */
TRIB_INTERNAL trib_coll_sched_fn trib_coll_sched_builder(trib_algo_t algo);

TRIB_INTERNAL int trib_coll_ring_sched(const trib_coll_args_t *a, trib_coll_sched_t *s);
TRIB_INTERNAL int trib_coll_tree_sched(const trib_coll_args_t *a, trib_coll_sched_t *s);
TRIB_INTERNAL int trib_coll_rd_sched(const trib_coll_args_t *a, trib_coll_sched_t *s);

/*
 * A schedule run on its own: algo's schedule for a on comm, its transfers
 * tagged `tag` (hier.c's pieces crossing the nodes; a request runs one the
 * same way).  Start builds the schedule, copies the send buffer in and posts
 * the first round; test moves it on without waiting (*done = 1 at the end);
 * free releases it (done or not: a run abandoned midway leaves its transfers
 * posted, so only after an error).
 */
typedef struct trib_coll_run trib_coll_run_t;
TRIB_INTERNAL int trib_coll_run_start(const trib_coll_args_t *a, trib_algo_t algo, MPI_Comm comm, int tag,
                                      trib_coll_run_t **out);
TRIB_INTERNAL int trib_coll_run_test(trib_coll_run_t *run, int *done);
TRIB_INTERNAL void trib_coll_run_free(trib_coll_run_t *run);

/* ----------------------------------------------- requests, progress (nb.c) */

/* Completes (runs to the end) every pending request of the context; errors stay in the requests. */
TRIB_INTERNAL void trib_coll_nb_drain(trib_coll_ctx_t *ctx);
/* Frees the context's non-blocking state (its delete callback); pending requests fail. */
TRIB_INTERNAL void trib_coll_nb_free(struct trib_coll_nb *nb);

/*
 * Check mode's signature (allreduce.c): TRIB_COLL_SIG_WORDS int64 values,
 * the first TRIB_COLL_SIG_REDUCED of which are reduced with MPI_MIN.
 */
#define TRIB_COLL_SIG_REDUCED 16
#define TRIB_COLL_SIG_WORDS 24
TRIB_INTERNAL void trib_coll_sig_fill(int64_t *v, int local_rc, const trib_coll_call_t *c);
TRIB_INTERNAL int trib_coll_sig_verdict(const int64_t *v, int local_rc);

/*
 * The non-blocking start (nb.c) of a validated call.  check: the
 * signature `sig` (already filled) is reduced first without blocking.
 */
TRIB_INTERNAL int trib_coll_nb_start(trib_coll_ctx_t *ctx, const trib_coll_call_t *c, int local_rc, int check,
                                     trib_request_t *request);
/* Creates the context's non-blocking state (collective on first use). */
TRIB_INTERNAL int trib_coll_nb_init(trib_coll_ctx_t *ctx);
/* Progresses every pending request of the context once; returns how many rounds moved. */
TRIB_INTERNAL int trib_coll_nb_progress(trib_coll_ctx_t *ctx);

/* ------------------------------------------------------- environment */

/*
 * The environment variables the library reads on every call (select.c):
 * getenv itself, by default, so a program may change them between calls; after
 * trib_coll_env_freeze, a copy taken then (libtributary_mpi freezes at its
 * first call: a scan of the environment per call was the largest part of its
 * per-call cost at small sizes).
 */
typedef enum { TRIB_COLL_ENV_ALGO, TRIB_COLL_ENV_TUNING_FILE, TRIB_COLL_ENV_CHECK, TRIB_COLL_ENV_N } trib_coll_env_t;
TRIB_INTERNAL const char *trib_coll_getenv(trib_coll_env_t which);
TRIB_INTERNAL void trib_coll_env_freeze(void);

/* ---------------------------------------------------------- entry point */

/* What a call did, for callers that account for it (the pmpi layer). */
typedef struct {
    trib_algo_t algo; /* the algorithm that ran; AUTO when none did (count 0, one rank, or an error first) */
    int rejected;     /* 1: the call failed before any traffic of its own (arguments, check mode, context) */
} trib_coll_report_t;

/* trib_allreduce_ex, reporting into *report (may be NULL). */
TRIB_INTERNAL int trib_coll_allreduce(const void *sendbuf, void *recvbuf, size_t count, MPI_Datatype type, MPI_Op op,
                                      MPI_Comm comm, const trib_allreduce_opts_t *opts, trib_coll_report_t *report);

/* --------------------------------------------------------------- selector */

/*
 * Resolves the algorithm and segment size for a call: an explicit
 * opts->algo wins; AUTO is overridden by env TRIB_ALLREDUCE_ALGO, else the
 * tuning file (opts->tuning_file or env TRIB_TUNING_FILE), else the built-in
 * rules.  *segment_bytes is 0 when the choice has no preference.
 * `single_node` is 1 when every rank shares one node.  commutative = 0
 * (a user op that is not commutative): AUTO picks an order-preserving
 * algorithm; a forced algorithm that is not one (ring) is
 * TRIB_ERR_UNSUPPORTED, naming those that are.  Logs the choice at debug
 * level.
 */
TRIB_INTERNAL int trib_coll_select(size_t bytes, int p, int single_node, int commutative,
                                   const trib_allreduce_opts_t *opts, trib_algo_t *algo, size_t *segment_bytes);
/* 1 when the algorithm applies the op in rank order (all but ring). */
TRIB_INTERNAL int trib_coll_order_preserving(trib_algo_t algo);
/* The built-in rules alone (what AUTO does without a tuning file), for a flat set of ranks. */
TRIB_INTERNAL trib_algo_t trib_coll_builtin_rule(size_t bytes, int p, int single_node, size_t *segment_bytes);
/*
 * trib_coll_select knowing the node layout: AUTO can pick hier, the built-in
 * rules weigh nodes and ranks per node, a tuning file measured on another
 * layout is refused (TRIB_ERR_UNSUPPORTED, naming both layouts).
 */
TRIB_INTERNAL int trib_coll_select_topo(size_t bytes, int p, const trib_coll_topo_t *topo, int commutative,
                                        const trib_allreduce_opts_t *opts, trib_algo_t *algo,
                                        size_t *segment_bytes);
/* The built-in rules for a layout. */
TRIB_INTERNAL trib_algo_t trib_coll_builtin_rule_topo(size_t bytes, int p, const trib_coll_topo_t *topo,
                                                      size_t *segment_bytes);

/* "auto, ring, tree, rd, mpi or shm" (from the name table; from = 1 leaves out auto) into buf, for messages. */
TRIB_INTERNAL const char *trib_coll_algo_list(int from, char *buf, size_t cap);

#endif /* TRIB_COLL_INTERNAL_H */
