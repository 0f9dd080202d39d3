/*
 * allreduce.c - the public entry points and the dispatcher.
 *
 * A call goes through these steps, each in one function below:
 *
 *   1. comm checks         MPI initialised, comm not MPI_COMM_NULL, not an
 *                          inter-communicator (local; return at once).
 *   2. context             the private duplicate of comm (comm.c; collective
 *                          on first use).
 *   3. validate_args       every other argument, once, into trib_coll_args_t;
 *                          the selector resolves algorithm and segment size.
 *   4. check mode          (opts.check or TRIB_CHECK=1) one MPI_Allreduce of
 *                          the call's signature: if ranks disagree, or one
 *                          rank's arguments were invalid, every rank returns
 *                          an error instead of hanging in mismatched traffic.
 *   5. trivial cases       count 0 (nothing), p == 1 (a copy).
 *   6. the algorithm       one call; no silent fall-back to another one.
 *                          A call without a native kernel (derived datatype,
 *                          user-defined op) runs the same algorithms through
 *                          the generic path (reduce_local.c).
 *   7. AVG                 the algorithms reduced with SUM; divide by p here,
 *                          once, on every rank (identical bits everywhere).
 *
 * Steps 5-7 are trib_coll_call_begin / trib_coll_call_end around the
 * algorithm (packing for the generic path and the 16-bit wire's conversion
 * live there too), shared with trib_iallreduce: it runs steps 1-3 the same
 * way, check mode as a non-blocking first step, and the algorithm as a
 * schedule progressed by later calls (nb.c).  A blocking call first
 * completes the communicator's pending non-blocking requests.
 *
 * Without check mode, a rank whose arguments are invalid returns its error
 * at step 3 while the other ranks enter the algorithm and wait for it: MPI
 * offers no way to abandon a collective, which is why check mode exists.
 */
#include "tributary/allreduce.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "coll/coll_internal.h"
#include "core/alloc.h"
#include "core/log.h"

/* ------------------------------------------------------------- options */

void trib_allreduce_opts_init(trib_allreduce_opts_t *opts)
{
    trib_allreduce_opts_t d = TRIB_ALLREDUCE_OPTS_INIT;
    *opts = d;
}

static const char *const wire_names[] = {"fp32", "bf16", "fp16"};

const char *trib_wire_name(trib_wire_t wire)
{
    return (unsigned)wire <= TRIB_WIRE_FP16 ? wire_names[wire] : NULL;
}

int trib_wire_parse(const char *name, trib_wire_t *out)
{
    if (name) {
        for (int i = 0; i <= TRIB_WIRE_FP16; i++) {
            if (strcmp(name, wire_names[i]) == 0) {
                *out = (trib_wire_t)i;
                return TRIB_OK;
            }
        }
        if (strcmp(name, "native") == 0) {
            *out = TRIB_WIRE_NATIVE;
            return TRIB_OK;
        }
    }
    return trib_errorf(TRIB_ERR_INVALID_ARG, "unknown wire precision '%s' (use fp32, bf16 or fp16)",
                       name ? name : "(null)");
}

static const char *const algo_names[TRIB_ALGO_COUNT] = {"auto", "ring", "tree", "rd", "mpi", "shm",
                                                                "hier"};

const char *trib_algo_name(trib_algo_t algo)
{
    return (unsigned)algo < TRIB_ALGO_COUNT ? algo_names[algo] : NULL;
}

int trib_algo_parse(const char *name, trib_algo_t *out)
{
    if (name) {
        for (int i = 0; i < TRIB_ALGO_COUNT; i++) {
            if (strcmp(name, algo_names[i]) == 0) {
                *out = (trib_algo_t)i;
                return TRIB_OK;
            }
        }
        if (strcmp(name, "recursive-doubling") == 0) {
            *out = TRIB_ALGO_RD;
            return TRIB_OK;
        }
    }
    char list[96];
    return trib_errorf(TRIB_ERR_INVALID_ARG, "unknown allreduce algorithm '%s' (use %s)", name ? name : "(null)",
                       trib_coll_algo_list(0, list, sizeof list));
}

const char *trib_coll_algo_list(int from, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = from; i < TRIB_ALGO_COUNT && len < cap; i++) {
        int n = snprintf(buf + len, cap - len, "%s%s", i == from ? "" : i + 1 == TRIB_ALGO_COUNT ? " or " : ", ",
                         algo_names[i]);
        len += n > 0 ? (size_t)n : 0;
    }
    return buf;
}

/* ------------------------------------------------------------ AVG handle */

/*
 * The handle behind TRIB_OP_AVG.  Passed to MPI directly (by mistake) it
 * behaves as a sum on float and double; Tributary recognises it and divides.
 */
static void avg_as_sum(void *in, void *inout, int *len, MPI_Datatype *type)
{
    if (*type == MPI_FLOAT) {
        for (int i = 0; i < *len; i++)
            ((float *)inout)[i] += ((const float *)in)[i];
    } else if (*type == MPI_DOUBLE) {
        for (int i = 0; i < *len; i++)
            ((double *)inout)[i] += ((const double *)in)[i];
    }
}

static MPI_Op avg_op = MPI_OP_NULL;

MPI_Op trib_op_avg(void)
{
    int initialized = 0, finalized = 0;
    if (avg_op == MPI_OP_NULL && MPI_Initialized(&initialized) == MPI_SUCCESS && initialized &&
        MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized) {
        if (MPI_Op_create(avg_as_sum, 1, &avg_op) != MPI_SUCCESS)
            avg_op = MPI_OP_NULL;
    }
    return avg_op;
}

/* ---------------------------------------------------------- validation */

static int check_mpi_and_comm(MPI_Comm comm)
{
    if (!trib_coll_mpi_usable())
        return trib_errorf(TRIB_ERR_STATE, "allreduce: MPI is not initialised (or already finalised)");
    if (comm == MPI_COMM_NULL)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "allreduce: communicator is MPI_COMM_NULL");
    int inter = 0;
    if (MPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "allreduce: invalid communicator");
    if (inter)
        return trib_errorf(TRIB_ERR_UNSUPPORTED, "allreduce: inter-communicators are not supported");
    return TRIB_OK;
}

/*
 * Validates everything but the communicator into *a and resolves the
 * algorithm.  `user_op` receives the op as the user meant it (AVG included).
 * On success every field of *a is set; on failure *a is unspecified.  (No
 * memset first: zeroing the structure was a sixth of an interposed 4-byte
 * call's cost.)
 */
static int validate_args(const void *sendbuf, void *recvbuf, size_t count, MPI_Datatype type, MPI_Op op,
                         const trib_allreduce_opts_t *o, trib_coll_ctx_t *ctx, trib_coll_args_t *a,
                         trib_coll_op_t *user_op, trib_algo_t *algo)
{
    int rc;
    if ((unsigned)o->algo >= TRIB_ALGO_COUNT)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "allreduce: invalid algorithm value %d", (int)o->algo);
    if (o->tag < 0)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "allreduce: negative tag %d", o->tag);
    trib_coll_class_t cls;
    if ((rc = trib_coll_classify(type, op, &cls)) != TRIB_OK)
        return rc;
    a->type = cls.type;
    *user_op = cls.op;
    a->commutative = cls.commutative;
    if ((unsigned)o->wire > TRIB_WIRE_FP16)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "allreduce: invalid wire precision value %d", (int)o->wire);
    if (o->wire != TRIB_WIRE_NATIVE &&
        (cls.type != TRIB_TYPE_FLOAT || (cls.op != TRIB_OPK_SUM && cls.op != TRIB_OPK_AVG)))
        return trib_errorf(TRIB_ERR_UNSUPPORTED, "allreduce: wire precision %s needs MPI_FLOAT with MPI_SUM or "
                           "TRIB_OP_AVG (got %s %s)", trib_wire_name(o->wire), trib_coll_type_name(cls.type),
                           trib_coll_op_name(cls.op));
    if (count > 0 && (recvbuf == NULL || recvbuf == MPI_IN_PLACE))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "allreduce: receive buffer is NULL (count %zu)", count);
    if (count > 0 && sendbuf == NULL)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "allreduce: send buffer is NULL (count %zu)", count);
    a->op = (*user_op == TRIB_OPK_AVG) ? TRIB_OPK_SUM : *user_op;
    a->kernel = trib_coll_kernel(a->type, a->op);
    if (a->kernel)
        a->elem_size = trib_coll_type_size(a->type);
    else if ((rc = trib_coll_generic_elem_size(type, &a->elem_size)) != TRIB_OK)
        return rc; /* the generic path: bytes of data per element (reduce_local.c) */
    size_t bytes;
    /* The selector sees what travels: 2 bytes per element on a 16-bit wire. */
    if (trib_size_mul(count, o->wire != TRIB_WIRE_NATIVE ? 2 : a->elem_size, &bytes) != TRIB_OK)
        return trib_errorf(TRIB_ERR_RANGE, "allreduce: count %zu is too large", count);

    a->sendbuf = (sendbuf == MPI_IN_PLACE) ? recvbuf : sendbuf;
    a->recvbuf = recvbuf;
    a->count = count;
    a->mpi_type = type;
    a->mpi_op = (*user_op == TRIB_OPK_AVG) ? MPI_SUM : op;
    a->comm = ctx->comm;
    a->rank = ctx->rank;
    a->size = ctx->size;
    a->tag = o->tag;
    a->ctx = ctx;
    a->generic = NULL; /* set by the generic path's begin (reduce_local.c) */

    size_t seg = 0;
    if ((rc = trib_coll_select_topo(bytes, ctx->size, &ctx->topo, a->commutative, o, algo, &seg)) != TRIB_OK)
        return rc;
    if (o->segment_bytes > 0)
        seg = o->segment_bytes;
    a->segment_bytes = seg > 0 ? seg : trib_coll_default_segment(*algo);
    if (*algo == TRIB_ALGO_SHM && !ctx->single_node)
        return trib_errorf(TRIB_ERR_UNSUPPORTED, "allreduce: algorithm shm needs every rank on one node");
    return TRIB_OK;
}

/* ---------------------------------------------------------- check mode */

static int check_enabled(const trib_allreduce_opts_t *o)
{
    if (o->check >= 0)
        return o->check != 0;
    const char *env = trib_coll_getenv(TRIB_COLL_ENV_CHECK);
    return env && *env && strcmp(env, "0") != 0;
}

/*
 * One MPI_Allreduce(MIN) over v and -v gives every field's minimum and
 * maximum at once; any field whose min != max means the ranks disagree.
 * A rank with invalid arguments contributes bad = 1 (its other fields are
 * not meaningful then).
 */
enum { SIG_BAD, SIG_COUNT, SIG_TYPE, SIG_OP, SIG_ALGO, SIG_SEGMENT, SIG_TAG, SIG_WIRE, SIG_N };
static const char *const sig_names[SIG_N] = {"argument validity", "count", "datatype", "operation",
                                             "algorithm", "segment size", "tag", "wire precision"};
/* Layout of the vector: [0, SIG_N) the values, [SIG_N, 2 SIG_N) their negations, then this rank's values. */
_Static_assert(2 * SIG_N == TRIB_COLL_SIG_REDUCED && 3 * SIG_N <= TRIB_COLL_SIG_WORDS, "signature vector layout");

void trib_coll_sig_fill(int64_t *v, int local_rc, const trib_coll_call_t *c)
{
    const trib_coll_args_t *a = &c->a;
    int bad = local_rc != TRIB_OK;
    v[SIG_BAD] = bad;
    v[SIG_COUNT] = bad ? -1 : (int64_t)a->count;
    v[SIG_TYPE] = bad ? -1 : (int64_t)a->type;
    v[SIG_OP] = bad ? -1 : (int64_t)c->user_op;
    v[SIG_ALGO] = bad ? -1 : (int64_t)c->algo;
    v[SIG_SEGMENT] = bad ? -1 : (int64_t)a->segment_bytes;
    v[SIG_TAG] = bad ? -1 : (int64_t)a->tag;
    v[SIG_WIRE] = bad ? -1 : (int64_t)c->wire;
    for (int i = 0; i < SIG_N; i++) {
        v[2 * SIG_N + i] = v[i];
        v[SIG_N + i] = -v[i];
    }
}

/* After the MPI_MIN reduction of the first 2 SIG_N words. */
int trib_coll_sig_verdict(const int64_t *v, int local_rc)
{
    if (local_rc != TRIB_OK)
        return local_rc; /* this rank's own error, recorded by validate_args */
    const int64_t *mine = v + 2 * SIG_N;
    for (int i = 0; i < SIG_N; i++) {
        int64_t lo = v[i], hi = -v[SIG_N + i];
        if (lo == hi)
            continue;
        if (i == SIG_BAD)
            return trib_errorf(TRIB_ERR_MISMATCH, "allreduce check: another rank passed invalid arguments");
        return trib_errorf(TRIB_ERR_MISMATCH,
                           "allreduce check: ranks pass different %s (min %lld, max %lld, this rank %lld)",
                           sig_names[i], (long long)lo, (long long)hi, (long long)mine[i]);
    }
    return TRIB_OK;
}

static int check_signature(trib_coll_ctx_t *ctx, int local_rc, const trib_coll_call_t *c)
{
    int rc = TRIB_OK;
    int64_t v[TRIB_COLL_SIG_WORDS];
    trib_coll_sig_fill(v, local_rc, c);
    TRIB_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, v, TRIB_COLL_SIG_REDUCED, MPI_INT64_T, MPI_MIN, ctx->comm));
    return trib_coll_sig_verdict(v, local_rc);
error:
    return rc;
}

/* ------------------------------------------------------------ dispatch */

static int run_algorithm(trib_algo_t algo, const trib_coll_args_t *a)
{
    switch (algo) {
    case TRIB_ALGO_RING: return trib_coll_ring(a);
    case TRIB_ALGO_TREE: return trib_coll_tree(a);
    case TRIB_ALGO_RD: return trib_coll_rd(a);
    case TRIB_ALGO_MPI: return trib_coll_mpi(a);
    case TRIB_ALGO_SHM: return trib_coll_shm(a);
    case TRIB_ALGO_HIER: return trib_coll_hier(a);
    case TRIB_ALGO_AUTO:
    default: return trib_errorf(TRIB_ERR_INTERNAL, "allreduce: selector returned algorithm %d", (int)algo);
    }
}

int trib_coll_run_algorithm(trib_algo_t algo, const trib_coll_args_t *a) { return run_algorithm(algo, a); }

void trib_coll_copy_in(const trib_coll_args_t *a)
{
    if (a->sendbuf != a->recvbuf)
        memcpy(a->recvbuf, a->sendbuf, a->count * a->elem_size);
}

/* ------------------------------------------------------- a call's life */

int trib_coll_call_begin(trib_coll_call_t *c)
{
    trib_coll_args_t *a = &c->a;
    c->run = 0;
    c->gen = NULL;
    c->wire_buf = NULL;
    c->user_recv = NULL;
    c->user_count = a->count;
    if (a->count == 0)
        return TRIB_OK;
    if (!a->kernel) /* derived datatype or user-defined op (reduce_local.c) */
        return trib_coll_generic_begin(a, c->algo, &c->gen, a, &c->run);
    if (c->wire != TRIB_WIRE_NATIVE) {
        /* 16-bit wire: the algorithm reduces a 16-bit copy (half.c); end widens it into the caller's buffer. */
        MPI_Op wop;
        int rc = trib_coll_wire_op(c->wire, &wop);
        if (rc != TRIB_OK)
            return rc;
        c->wire_buf = malloc(a->count * sizeof(uint16_t));
        if (!c->wire_buf)
            return trib_errorf(TRIB_ERR_NOMEM, "allreduce: cannot allocate %zu bytes for the %s wire vector",
                               a->count * sizeof(uint16_t), trib_wire_name(c->wire));
        trib_coll_wire_narrow(c->wire, c->wire_buf, a->sendbuf, a->count);
        c->user_recv = a->recvbuf;
        a->sendbuf = a->recvbuf = c->wire_buf;
        a->elem_size = sizeof(uint16_t);
        a->type = TRIB_TYPE_UINT16;
        a->op = TRIB_OPK_USER; /* not a native uint16 sum: the wire kernel and op below */
        a->kernel = trib_coll_wire_kernel(c->wire);
        a->mpi_type = MPI_UINT16_T;
        a->mpi_op = wop;
        c->run = a->size > 1;
        return TRIB_OK;
    }
    if (a->size == 1) {
        trib_coll_copy_in(a);
        return TRIB_OK;
    }
    c->run = 1;
    return TRIB_OK;
}

int trib_coll_call_end(trib_coll_call_t *c, int rc)
{
    if (c->gen) {
        rc = trib_coll_generic_end(c->gen, rc);
        c->gen = NULL;
        return rc;
    }
    if (c->wire_buf) {
        if (rc == TRIB_OK)
            trib_coll_wire_widen(c->wire, c->user_recv, c->wire_buf, c->user_count);
        free(c->wire_buf);
        c->wire_buf = NULL;
        c->a.recvbuf = c->user_recv;
        c->a.type = TRIB_TYPE_FLOAT;
    }
    if (rc == TRIB_OK && c->user_op == TRIB_OPK_AVG && c->user_count > 0)
        trib_coll_divide(c->a.type, c->a.recvbuf, c->user_count, c->a.size);
    return rc;
}

/*
 * Steps 2-3 of the top comment (the caller did step 1, and does step 4): *o = the options (defaults when
 * opts is NULL), the context, the validated call.  *local_rc: this rank's argument verdict.
 */
static int prepare_call(const void *sendbuf, void *recvbuf, size_t count, MPI_Datatype type, MPI_Op op,
                        MPI_Comm comm, const trib_allreduce_opts_t *opts, trib_allreduce_opts_t *o,
                        trib_coll_ctx_t **ctx, trib_coll_call_t *c, int *local_rc)
{
    if (opts)
        *o = *opts;
    else
        trib_allreduce_opts_init(o);
    int rc = trib_coll_ctx_get(comm, ctx);
    if (rc != TRIB_OK)
        return rc;
    c->user_op = TRIB_OPK_SUM;
    c->algo = TRIB_ALGO_AUTO;
    c->wire = o->wire; /* run, gen, wire_buf, user_recv, user_count: set by trib_coll_call_begin */
    *local_rc = validate_args(sendbuf, recvbuf, count, type, op, o, *ctx, &c->a, &c->user_op, &c->algo);
    if (*local_rc != TRIB_OK)
        memset(&c->a, 0, sizeof c->a); /* rejected: nothing reads it, but nothing indeterminate is copied either */
    return TRIB_OK;
}

int trib_coll_allreduce(const void *sendbuf, void *recvbuf, size_t count, MPI_Datatype type, MPI_Op op,
                        MPI_Comm comm, const trib_allreduce_opts_t *opts, trib_coll_report_t *report)
{
    trib_coll_report_t dummy;
    trib_coll_report_t *rep = report ? report : &dummy;
    rep->algo = TRIB_ALGO_AUTO;
    rep->rejected = 1;
    trib_allreduce_opts_t o;
    trib_coll_ctx_t *ctx = NULL;
    trib_coll_call_t c;
    int local_rc = TRIB_OK;
    int rc = check_mpi_and_comm(comm);
    if (rc != TRIB_OK)
        return rc;
    rep->rejected = 0; /* creating the context is collective */
    rc = prepare_call(sendbuf, recvbuf, count, type, op, comm, opts, &o, &ctx, &c, &local_rc);
    if (rc != TRIB_OK)
        return rc;
    if (ctx->nb) /* earlier non-blocking calls on this communicator finish first (nb.c) */
        trib_coll_nb_drain(ctx);
    rep->rejected = 1;
    if (check_enabled(&o)) {
        if ((rc = check_signature(ctx, local_rc, &c)) != TRIB_OK)
            return rc;
    } else if (local_rc != TRIB_OK) {
        return local_rc;
    }

    rep->rejected = 0;
    if (count == 0)
        return TRIB_OK;
    if (c.a.size > 1)
        rep->algo = c.algo;
    if ((rc = trib_coll_call_begin(&c)) != TRIB_OK)
        return trib_coll_call_end(&c, rc);
    if (c.run)
        rc = run_algorithm(c.algo, &c.a);
    return trib_coll_call_end(&c, rc);
}

int trib_iallreduce_ex(const void *sendbuf, void *recvbuf, size_t count, MPI_Datatype type, MPI_Op op,
                       MPI_Comm comm, const trib_allreduce_opts_t *opts, trib_request_t *request)
{
    if (!request)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "iallreduce: NULL request pointer");
    *request = TRIB_REQUEST_NULL;
    trib_allreduce_opts_t o;
    trib_coll_ctx_t *ctx = NULL;
    trib_coll_call_t c;
    int local_rc = TRIB_OK;
    int rc = check_mpi_and_comm(comm);
    if (rc != TRIB_OK)
        return rc;
    if ((rc = prepare_call(sendbuf, recvbuf, count, type, op, comm, opts, &o, &ctx, &c, &local_rc)) != TRIB_OK)
        return rc;
    if ((rc = trib_coll_nb_init(ctx)) != TRIB_OK)
        return rc;
    int check = check_enabled(&o);
    if (!check && local_rc != TRIB_OK)
        return local_rc;
    return trib_coll_nb_start(ctx, &c, local_rc, check, request);
}

int trib_iallreduce(const void *sendbuf, void *recvbuf, size_t count, MPI_Datatype type, MPI_Op op, MPI_Comm comm,
                    trib_request_t *request)
{
    return trib_iallreduce_ex(sendbuf, recvbuf, count, type, op, comm, NULL, request);
}

int trib_allreduce_ex(const void *sendbuf, void *recvbuf, size_t count, MPI_Datatype type, MPI_Op op,
                      MPI_Comm comm, const trib_allreduce_opts_t *opts)
{
    return trib_coll_allreduce(sendbuf, recvbuf, count, type, op, comm, opts, NULL);
}

int trib_allreduce(const void *sendbuf, void *recvbuf, size_t count, MPI_Datatype type, MPI_Op op, MPI_Comm comm)
{
    return trib_allreduce_ex(sendbuf, recvbuf, count, type, op, comm, NULL);
}

int trib_allreduce_select(size_t count, MPI_Datatype type, MPI_Op op, MPI_Comm comm,
                          const trib_allreduce_opts_t *opts, trib_algo_t *algo, size_t *segment_bytes)
{
    trib_allreduce_opts_t o;
    if (opts)
        o = *opts;
    else
        trib_allreduce_opts_init(&o);
    if (!algo || !segment_bytes)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_allreduce_select: NULL output pointer");
    int rc = check_mpi_and_comm(comm);
    if (rc != TRIB_OK)
        return rc;
    trib_coll_ctx_t *ctx;
    if ((rc = trib_coll_ctx_get(comm, &ctx)) != TRIB_OK)
        return rc;
    /* Validate as a call would, with a dummy buffer so NULL checks pass. */
    char dummy;
    trib_coll_args_t a;
    trib_coll_op_t user_op;
    if ((rc = validate_args(&dummy, &dummy, count, type, op, &o, ctx, &a, &user_op, algo)) != TRIB_OK)
        return rc;
    *segment_bytes = a.segment_bytes;
    return TRIB_OK;
}

int trib_allreduce_layout(MPI_Comm comm, int *nodes, int *ranks_per_node)
{
    if (!nodes || !ranks_per_node)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_allreduce_layout: NULL output pointer");
    int rc = check_mpi_and_comm(comm);
    trib_coll_ctx_t *ctx;
    if (rc != TRIB_OK || (rc = trib_coll_ctx_get(comm, &ctx)) != TRIB_OK)
        return rc;
    *nodes = ctx->topo.nodes;
    *ranks_per_node = trib_coll_topo_uniform(&ctx->topo);
    return TRIB_OK;
}
