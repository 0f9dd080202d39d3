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
 *   kernels.c     typed element-wise reduce loops.
 *   blocks.c      the split of a vector into p blocks and into segments.
 *   ring.c tree.c rd.c mpi.c shm.c
 *                 one algorithm each; trib_coll_<name>(const trib_coll_args_t *).
 *
 * Algorithms receive validated arguments: count > 0, p > 1, a supported
 * type/op pair, a private communicator, a segment size already resolved.
 * They never fall back to another algorithm; they return TRIB_OK or a status.
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

#if defined(__GNUC__)
#define TRIB_INTERNAL __attribute__((visibility("hidden")))
#else
#define TRIB_INTERNAL
#endif

/* ------------------------------------------------------------ types, ops */

/* Internal element types (MPI_INT and MPI_INT32_T both map to INT32). */
typedef enum {
    TRIB_TYPE_FLOAT = 0,
    TRIB_TYPE_DOUBLE,
    TRIB_TYPE_INT32,
    TRIB_TYPE_INT64,
    TRIB_TYPE_UINT8,
    TRIB_TYPE_COUNT
} trib_coll_type_t;

/* Internal operations.  AVG reaches the algorithms as SUM (see allreduce.c). */
typedef enum {
    TRIB_OPK_SUM = 0,
    TRIB_OPK_PROD,
    TRIB_OPK_MIN,
    TRIB_OPK_MAX,
    TRIB_OPK_AVG,
    TRIB_OPK_COUNT
} trib_coll_op_t;

/* Maps a predefined MPI datatype; TRIB_ERR_UNSUPPORTED (with detail) otherwise. */
TRIB_INTERNAL int trib_coll_type_from_mpi(MPI_Datatype type, trib_coll_type_t *out);
/* Maps MPI_SUM/PROD/MIN/MAX and TRIB_OP_AVG; TRIB_ERR_UNSUPPORTED otherwise. */
TRIB_INTERNAL int trib_coll_op_from_mpi(MPI_Op op, trib_coll_op_t *out);
TRIB_INTERNAL size_t trib_coll_type_size(trib_coll_type_t t);
TRIB_INTERNAL const char *trib_coll_type_name(trib_coll_type_t t);
TRIB_INTERNAL const char *trib_coll_op_name(trib_coll_op_t op);
/* 1 when the pair is supported (AVG only on float and double). */
TRIB_INTERNAL int trib_coll_pair_supported(trib_coll_type_t t, trib_coll_op_t op);

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
TRIB_INTERNAL size_t trib_coll_default_segment(trib_algo_t algo);

/* ------------------------------------------------- per-communicator state */

struct trib_shm_state; /* shm.c */

typedef struct trib_coll_ctx {
    MPI_Comm comm;  /* private duplicate of the user's communicator */
    int rank, size;
    int single_node; /* 1 when every rank shares one node (found at creation) */
    struct trib_shm_state *shm; /* created by shm.c on first use; NULL before */
    struct trib_coll_ctx *prev, *next; /* live contexts, in creation order (comm.c) */
} trib_coll_ctx_t;

/*
 * The context of `user_comm`, created on first use (collective: MPI_Comm_dup
 * and MPI_Comm_split_type) and freed with the communicator (MPI attribute
 * delete callback).
 */
TRIB_INTERNAL int trib_coll_ctx_get(MPI_Comm user_comm, trib_coll_ctx_t **out);

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
    trib_coll_kernel_fn kernel;
    trib_coll_ctx_t *ctx;
} trib_coll_args_t;

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
/* Whether the built-in rules prefer shm for this many bytes on p ranks of one node. */
TRIB_INTERNAL int trib_coll_shm_preferred(size_t bytes, int p);
/* Frees shm.c's state (called from the communicator's delete callback). */
TRIB_INTERNAL void trib_coll_shm_free(struct trib_shm_state *s);

/* --------------------------------------------------------------- selector */

/*
 * Resolves the algorithm and segment size for a call: an explicit
 * opts->algo wins; AUTO is overridden by env TRIB_ALLREDUCE_ALGO, else the
 * tuning file (opts->tuning_file or env TRIB_TUNING_FILE), else the built-in
 * rules.  *segment_bytes is 0 when the choice has no preference.
 * `single_node` is 1 when every rank shares one node.  Logs the choice at
 * debug level.
 */
TRIB_INTERNAL int trib_coll_select(size_t bytes, int p, int single_node, const trib_allreduce_opts_t *opts,
                                   trib_algo_t *algo, size_t *segment_bytes);
/* The built-in rules alone (what AUTO does without a tuning file). */
TRIB_INTERNAL trib_algo_t trib_coll_builtin_rule(size_t bytes, int p, int single_node, size_t *segment_bytes);

/* "auto, ring, tree, rd, mpi or shm" (from the name table; from = 1 leaves out auto) into buf, for messages. */
TRIB_INTERNAL const char *trib_coll_algo_list(int from, char *buf, size_t cap);

#endif /* TRIB_COLL_INTERNAL_H */
