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
/*
 * Wire precision (trib_allreduce_opts_t.wire): what travels between ranks.
 *
 * TRIB_WIRE_BF16 / TRIB_WIRE_FP16 send 16-bit values while the caller's
 * buffers stay float32: for MPI_FLOAT with MPI_SUM or TRIB_OP_AVG only
 * (TRIB_ERR_UNSUPPORTED otherwise).  Where rounding happens:
 *   1. each rank's input is rounded once to the 16-bit format (round to
 *      nearest, ties to even);
 *   2. every combining step widens both operands to float32, adds in
 *      float32 and rounds the sum to the 16-bit format (once per hop:
 *      p - 1 roundings on the way to each element's result);
 *   3. the 16-bit result is widened to float32 exactly (AVG then divides by
 *      p in float32).
 * Every algorithm combines in its usual fixed order on the 16-bit values,
 * so the result is still bitwise identical on all ranks and run to run.
 * Error bound (first order in u; u = 2^-8 for bf16, 2^-11 for fp16, the unit
 * roundoff of each format): |result - exact sum| <= p * u * sum_r |x_r|
 * (p roundings of partial sums whose magnitudes are at most sum_r |x_r|),
 * plus, for fp16 only, its range: partial sums above 65504 in magnitude
 * become +-inf, and magnitudes below 6.1e-5 lose precision (subnormals) and
 * flush to zero below 6e-8.  bf16 has float32's range.  NaN stays NaN.
 * The selector sees the 16-bit message size (half the bytes).
 */
typedef enum {
    TRIB_WIRE_NATIVE = 0, /* the datatype itself (default) */
    TRIB_WIRE_BF16 = 1,   /* bfloat16: 8 bits of precision, float32's exponent range */
    TRIB_WIRE_FP16 = 2    /* IEEE binary16: 11 bits of precision, max 65504 */
} trib_wire_t;

/* "fp32" (or "native"), "bf16", "fp16" -> trib_wire_t; TRIB_ERR_INVALID_ARG otherwise. */
TRIB_API int trib_wire_parse(const char *name, trib_wire_t *out);
/* "fp32", "bf16", "fp16"; NULL for an invalid value. */
TRIB_API const char *trib_wire_name(trib_wire_t wire);

typedef struct {
    trib_algo_t algo;     /* default TRIB_ALGO_AUTO; env TRIB_ALLREDUCE_ALGO overrides AUTO */
    size_t segment_bytes; /* pipeline segment size; 0 = the algorithm's default */
    int tag;              /* MPI tag used for point-to-point traffic; default TRIB_DEFAULT_TAG */
    int check;            /* 1: verify count/type/op/algo agree on all ranks first
                             (returns TRIB_ERR_MISMATCH on every rank); -1: from env
                             TRIB_CHECK (default); 0: off */
    const char *tuning_file; /* tuning file for AUTO; NULL = env TRIB_TUNING_FILE or built-in */
    trib_wire_t wire;        /* default TRIB_WIRE_NATIVE; see above */
} trib_allreduce_opts_t;

#define TRIB_DEFAULT_TAG 7321

#define TRIB_ALLREDUCE_OPTS_INIT {TRIB_ALGO_AUTO, 0, TRIB_DEFAULT_TAG, -1, NULL, TRIB_WIRE_NATIVE}

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

/* ------------------------------------------------- non-blocking allreduce */

/*
 * trib_iallreduce starts an allreduce and returns at once with a request;
 * trib_test, trib_wait or trib_waitall complete it.  Same arguments,
 * options, algorithms (AUTO included: the same choice as the blocking call)
 * and result as trib_allreduce_ex: bitwise identical to the blocking call
 * with the same arguments.  Until the request completes, the send buffer
 * must not change and the receive buffer must not be read or written.
 *
 *   trib_request_t req;
 *   trib_iallreduce(grad, avg, n, MPI_FLOAT, TRIB_OP_AVG, comm, &req);
 *   for (each piece of compute) { compute(piece); int done; trib_test(&req, &done); }
 *   trib_wait(&req);
 *
 * Progress rule.  No thread is started and MPI_THREAD_MULTIPLE is not
 * needed: the allreduce advances only inside Tributary calls on the same
 * communicator -- trib_test, trib_wait, trib_waitall, trib_iallreduce and
 * trib_allreduce* (every such call moves every pending request of that
 * communicator as far as it can without waiting).  The ring, tree and rd
 * algorithms run as a schedule of rounds of MPI_Isend/MPI_Irecv and
 * combining steps; a round's messages travel (MPI progresses them) while
 * the caller computes, and the next round starts at the next Tributary
 * call.  So call trib_test now and then during long compute for the
 * allreduce to advance (a round is a block or a segment: a few calls per
 * millisecond of transfer are plenty).
 *   - The shm algorithm (ranks on one node) and the mpi algorithm run their
 *     whole reduction inside trib_iallreduce (shm has no messages to
 *     overlap; mpi is MPI_Allreduce itself, whose non-blocking twin does not
 *     promise the same bits), after completing this communicator's earlier
 *     requests; the request is complete when trib_iallreduce returns.  So
 *     are calls on one rank or with count 0.
 *   - A blocking trib_allreduce* on a communicator first completes that
 *     communicator's pending requests.
 *   - Between trib_iallreduce and the wait, do not make a rank wait for
 *     another one outside Tributary (MPI_Barrier, a blocking receive, a
 *     collective on another communicator) while some rank may be waiting
 *     for this request: with no progress thread that rank cannot advance
 *     it.  Completing the request first (trib_wait) is always safe.
 *
 * Several requests may be in flight on one communicator (each has its own
 * tag on the library's private communicator, so the opts->tag option does
 * not apply); like MPI's, they must be started in the same order on every
 * rank, and may be completed in any order.  A request must be completed
 * (test returning done, wait, waitall) before its communicator is freed.
 *
 * Errors.  Arguments this rank can see are wrong make trib_iallreduce
 * return the error with *request = TRIB_REQUEST_NULL (as the blocking call
 * returns it, and with the same hazard for the other ranks); with check
 * mode (opts->check or TRIB_CHECK=1) the signature check runs as the
 * request's first step, without blocking (inside trib_iallreduce for the
 * algorithms that run there), and a disagreement completes the request
 * with TRIB_ERR_MISMATCH on every rank.  Failures of MPI calls or
 * of a user operation during progress are kept in the request and returned
 * by the test or wait that completes it (with trib_last_error set then).
 *
 * Threads: a request, and the communicator it runs on, must be used by one
 * thread at a time (like the blocking call).
 */
typedef struct trib_request *trib_request_t;
#define TRIB_REQUEST_NULL ((trib_request_t)0)

TRIB_API int trib_iallreduce(const void *sendbuf, void *recvbuf, size_t count, MPI_Datatype type, MPI_Op op,
                             MPI_Comm comm, trib_request_t *request);
TRIB_API int trib_iallreduce_ex(const void *sendbuf, void *recvbuf, size_t count, MPI_Datatype type, MPI_Op op,
                                MPI_Comm comm, const trib_allreduce_opts_t *opts, trib_request_t *request);

/*
 * Advances the request (and every other pending request of its
 * communicator) without waiting.  *done = 1 when it is complete: the
 * request is freed, *request becomes TRIB_REQUEST_NULL and the return value
 * is its outcome (TRIB_OK or the error).  *done = 0: TRIB_OK, try again
 * later.  A TRIB_REQUEST_NULL request is complete (TRIB_OK, *done = 1).
 */
TRIB_API int trib_test(trib_request_t *request, int *done);
/* Completes the request (progressing as above until it is done); returns its outcome. */
TRIB_API int trib_wait(trib_request_t *request);
/*
 * Completes every request of the array (any communicators, any order;
 * TRIB_REQUEST_NULL entries are skipped); each becomes TRIB_REQUEST_NULL.
 * Returns TRIB_OK, or the outcome of the first failed request in array
 * order (its message in trib_last_error).
 */
TRIB_API int trib_waitall(size_t n, trib_request_t *requests);

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
