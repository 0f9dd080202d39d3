/*
 * tributary/allreduce.h - the Tributary allreduce library (libtributary_coll).
 *
 * A drop-in replacement for MPI_Allreduce with a choice of algorithms:
 *
 *   MPI_Allreduce(sbuf, rbuf, n, MPI_FLOAT, MPI_SUM, comm)
 *   -> trib_allreduce(sbuf, rbuf, (size_t)n, MPI_FLOAT, MPI_SUM, comm)
 *
 * Counts are size_t (counts above INT_MAX work).  The send buffer is const;
 * passing the receive buffer as send buffer, or MPI_IN_PLACE, reduces in
 * place.  Every call returns TRIB_OK or a negative TRIB_ERR_* code (see
 * tributary/status.h); nothing is printed and nothing aborts.
 *
 * Datatypes and operations: everything MPI_Allreduce accepts.
 *   - Native kernels for every predefined datatype with every predefined
 *     operation the MPI standard defines on it: the C integer and
 *     fixed-width integer types, MPI_AINT/OFFSET/COUNT (sum, prod, min, max,
 *     bitwise; logical on the C integers), MPI_BYTE (bitwise), MPI_C_BOOL
 *     (logical), float, double, long double (sum, prod, min, max), the C
 *     complex types (sum, prod), and the pair types MPI_2INT, MPI_FLOAT_INT,
 *     MPI_DOUBLE_INT, MPI_LONG_INT, MPI_SHORT_INT, MPI_LONG_DOUBLE_INT with
 *     MPI_MINLOC/MPI_MAXLOC (equal values: the smaller index wins).
 *   - TRIB_OP_AVG (sum divided by the communicator size) on MPI_FLOAT and
 *     MPI_DOUBLE; TRIB_ERR_UNSUPPORTED on other types.
 *   - Derived datatypes and user-defined operations (MPI_Op_create), and a
 *     predefined operation on a predefined type outside the standard's table
 *     that the MPI library accepts anyway (Open MPI: MPI_SUM on MPI_CHAR or
 *     MPI_BYTE): combined by MPI_Reduce_local inside the same algorithms
 *     (datatypes with gaps are packed; the gaps of the receive buffer are
 *     left untouched; datatypes with a negative extent are not supported:
 *     TRIB_ERR_UNSUPPORTED).  A non-commutative operation is applied in rank
 *     order, x0 op x1 op ... op x(p-1): AUTO picks an algorithm that keeps
 *     that order, and forcing one that does not (ring) returns
 *     TRIB_ERR_UNSUPPORTED naming those that would.
 *   - What MPI itself rejects (MPI_DATATYPE_NULL, MPI_OP_NULL, MPI_REPLACE,
 *     a predefined op MPI does not define on the datatype, e.g. MPI_SUM on
 *     MPI_C_BOOL or on a derived type) returns TRIB_ERR_INVALID_ARG with
 *     MPI's reason, on every rank that passed it.
 * Integer sums and products wrap modulo 2^bits (two's complement), on
 * every algorithm.  (Open MPI 4.1's own MPI_Allreduce saturates 8-bit sums,
 * and signed 16-bit ones, when its AVX reduction component is active; the
 * `mpi` algorithm passes a wrapping op for those sums so it agrees with the
 * others.)
 *
 * Each communicator gets a private duplicate on its first use (a collective
 * step, like the allreduce itself), cached on it and freed with it, so the
 * library's messages never mix with the caller's and MPI errors come back as
 * TRIB_ERR_MPI instead of invoking the communicator's error handler.  After
 * TRIB_ERR_MPI the communicator should not be used for further allreduces
 * (messages of the failed call may still be in flight).
 *
 * Threads: like an MPI collective, at most one call per communicator at a
 * time.  The first use of a communicator and the first load of a tuning file
 * update process-wide caches and must not race with other Tributary calls.
 *
 * Results are bitwise identical on every rank, and bitwise reproducible run to
 * run for the same inputs, algorithm, segment size and rank count: each
 * algorithm combines contributions in a fixed order, documented at the top of
 * its source file.
 */
#ifndef TRIBUTARY_ALLREDUCE_H
#define TRIBUTARY_ALLREDUCE_H

#include <stddef.h>
#include <mpi.h>

#include "tributary/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    TRIB_ALGO_AUTO = 0, /* the selector decides (built-in rules or a tuning file) */
    TRIB_ALGO_RING = 1, /* reduce-scatter + allgather around a ring; bandwidth-optimal */
    TRIB_ALGO_TREE = 2, /* pipelined binomial-tree reduce + broadcast; latency-friendly */
    TRIB_ALGO_RD = 3,   /* recursive doubling; log2(p) steps of whole-vector exchange */
    TRIB_ALGO_MPI = 4,  /* the MPI library's own MPI_Allreduce (the baseline) */
    TRIB_ALGO_SHM = 5,  /* shared-memory window, for communicators within one node */
    TRIB_ALGO_HIER = 6  /* node-aware: shared memory inside each node, ring/tree/rd across nodes */
} trib_algo_t;

#define TRIB_ALGO_COUNT 7

/*
 * Options for trib_allreduce_ex().  Initialise with TRIB_ALLREDUCE_OPTS_INIT
 * (or trib_allreduce_opts_init()) and set only what you care about.
 */
typedef struct {
    trib_algo_t algo;     /* default TRIB_ALGO_AUTO; env TRIB_ALLREDUCE_ALGO overrides AUTO */
    size_t segment_bytes; /* pipeline segment size; 0 = the algorithm's default */
    int tag;              /* MPI tag used for point-to-point traffic; default TRIB_DEFAULT_TAG */
    int check;            /* 1: verify count/type/op/algo agree on all ranks first
                             (returns TRIB_ERR_MISMATCH on every rank); -1: from env
                             TRIB_CHECK (default); 0: off */
    const char *tuning_file; /* tuning file for AUTO; NULL = env TRIB_TUNING_FILE or built-in */
} trib_allreduce_opts_t;

#define TRIB_DEFAULT_TAG 7321

#define TRIB_ALLREDUCE_OPTS_INIT {TRIB_ALGO_AUTO, 0, TRIB_DEFAULT_TAG, -1, NULL}

TRIB_API void trib_allreduce_opts_init(trib_allreduce_opts_t *opts);

/*
 * The average operation.  MPI has no predefined average, so this returns a
 * handle (created on first use, valid until MPI_Finalize) that Tributary
 * recognises.  Only meaningful to the trib_allreduce* calls.
 */
TRIB_API MPI_Op trib_op_avg(void);
#define TRIB_OP_AVG (trib_op_avg())

/* Allreduce with default options (algorithm AUTO). */
TRIB_API int trib_allreduce(const void *sendbuf, void *recvbuf, size_t count, MPI_Datatype type,
                            MPI_Op op, MPI_Comm comm);

/* Allreduce with explicit options (NULL = defaults). */
TRIB_API int trib_allreduce_ex(const void *sendbuf, void *recvbuf, size_t count, MPI_Datatype type,
                               MPI_Op op, MPI_Comm comm, const trib_allreduce_opts_t *opts);

/* "auto", "ring", "tree", "rd", "mpi", "shm", "hier"; NULL for an invalid value. */
TRIB_API const char *trib_algo_name(trib_algo_t algo);
/* Parses a name above (also "recursive-doubling"); TRIB_ERR_INVALID_ARG otherwise. */
TRIB_API int trib_algo_parse(const char *name, trib_algo_t *out);

/*
 * The algorithm and segment size a call with these arguments would use
 * (with opts->algo AUTO: what the selector chooses and logs at debug level).
 * Depends only on the arguments, the communicator size/locality, the
 * environment and the tuning file.  No communication, except that the first
 * use of a communicator by any trib_allreduce* call is collective (it
 * creates the communicator's private context).
 */
TRIB_API int trib_allreduce_select(size_t count, MPI_Datatype type, MPI_Op op, MPI_Comm comm,
                                   const trib_allreduce_opts_t *opts, trib_algo_t *algo,
                                   size_t *segment_bytes);

/*
 * The node layout of comm as the allreduce algorithms see it: the number of
 * nodes (groups of ranks sharing memory, MPI_Comm_split_type with
 * MPI_COMM_TYPE_SHARED) and the ranks on each node, or 0 in *ranks_per_node
 * when nodes hold different numbers of ranks.  Collective on a
 * communicator's first use, like the other calls.  The environment variable
 * TRIB_FAKE_RANKS_PER_NODE=M (a testing aid) makes the library treat ranks
 * 0..M-1, M..2M-1, ... as nodes of their own, whatever the machine.
 */
TRIB_API int trib_allreduce_layout(MPI_Comm comm, int *nodes, int *ranks_per_node);

/* ------------------------------------------------------- error agreement */

/*
 * Collective over comm: agrees on one outcome after every rank did its part
 * of a job.  TRIB_OK when rc is TRIB_OK on every rank; otherwise every rank
 * returns the status of the lowest-numbered failing rank R, and
 * trib_last_error() on every rank (R included) gives R's message prefixed
 * with "rank R: " (kept unprefixed when it already names a rank).  A failed
 * MPI call inside makes it return TRIB_ERR_MPI.
 */
TRIB_API int trib_agree(MPI_Comm comm, int rc);

#ifdef __cplusplus
}
#endif
#endif /* TRIBUTARY_ALLREDUCE_H */
