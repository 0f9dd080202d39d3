/*
 * comm.c - the library's private state per user communicator.
 *
 * Why a private duplicate: the algorithms send point-to-point messages.  On
 * the user's communicator those could match the user's own receives (same
 * tag, MPI_ANY_TAG) and the user's error handler (MPI_ERRORS_ARE_FATAL by
 * default) would abort the job on a failure.  On a duplicate our traffic is
 * in its own matching context, and MPI_ERRORS_RETURN turns a failure into a
 * TRIB_ERR_MPI status instead.
 *
 * The context is created the first time a communicator is used (collective,
 * like the allreduce itself: MPI_Comm_dup + MPI_Comm_split_type) and cached
 * as an attribute of the user's communicator.  MPI calls the attribute's
 * delete callback when the user frees the communicator (or, for
 * MPI_COMM_WORLD and MPI_COMM_SELF, in MPI_Finalize), which frees the
 * duplicate and any shared-memory window.  The copy callback is
 * MPI_COMM_NULL_COPY_FN: a duplicate of the user's communicator gets its own
 * context on first use, never a shared one.
 *
 * Shared-memory windows (shm.c) are freed earlier at MPI_Finalize: Open MPI
 * deletes MPI_COMM_WORLD's attributes after it has shut down its one-sided
 * machinery, so freeing a window there crashes.  MPI_COMM_SELF's attributes
 * are deleted first thing in MPI_Finalize (MPI-2.2, 8.7.1), so a callback on
 * MPI_COMM_SELF frees the windows of every live context, newest first (the
 * same order on every rank, because contexts are created by collective
 * calls in the same order).
 *
 * Nodes.  The context also keeps the ranks of this rank's node (a split of
 * the duplicate) and the layout of all nodes (count, smallest and largest),
 * which the selector and the node-aware algorithm (hier.c) use.  The
 * environment variable TRIB_FAKE_RANKS_PER_NODE=M, a testing aid, cuts each
 * real node into nodes of M consecutive ranks (the last one may hold fewer),
 * so the multi-node paths run and are tested on one machine.
 *
 * Not thread-safe for two threads using the same communicator for the first
 * time concurrently (MPI forbids concurrent collectives on one communicator
 * anyway).
 */
#include "coll/coll_internal.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"

static int ctx_keyval = MPI_KEYVAL_INVALID;
static int finalize_keyval = MPI_KEYVAL_INVALID;
static trib_coll_ctx_t *live_head, *live_tail; /* oldest, newest */

/*
 * Per-call costs.  A small allreduce takes about a microsecond, so what every
 * call pays before the algorithm matters.  Two MPI queries are cached:
 *  - whether MPI is usable: MPI_Initialized and MPI_Finalized take a lock in
 *    Open MPI; once MPI is seen initialised, only the finalize hook below
 *    (run at the start of MPI_Finalize) can make it unusable again;
 *  - the context of the last communicator this thread used (the attribute
 *    lookup takes a lock too): kept with the generation of the context set,
 *    which every context deletion bumps, so a cached pointer is never used
 *    after its communicator was freed, even if MPI hands out the same handle
 *    for a new one.
 */
enum { MPI_UNKNOWN, MPI_USABLE, MPI_GONE };
static _Atomic int mpi_state = MPI_UNKNOWN;
static _Atomic unsigned long ctx_generation;
static _Thread_local TRIB_FAST_TLS struct {
    MPI_Comm comm;
    trib_coll_ctx_t *ctx;
    unsigned long generation;
} last_ctx = {MPI_COMM_NULL, NULL, 0};

static void live_add(trib_coll_ctx_t *ctx)
{
    ctx->next = NULL;
    ctx->prev = live_tail;
    if (live_tail)
        live_tail->next = ctx;
    else
        live_head = ctx;
    live_tail = ctx;
}

static void live_remove(trib_coll_ctx_t *ctx)
{
    if (ctx->prev)
        ctx->prev->next = ctx->next;
    else
        live_head = ctx->next;
    if (ctx->next)
        ctx->next->prev = ctx->prev;
    else
        live_tail = ctx->prev;
}

/* MPI_COMM_SELF's delete callback: runs at the start of MPI_Finalize. */
static int finalize_hook(MPI_Comm comm, int keyval, void *attr, void *extra)
{
    (void)comm;
    (void)keyval;
    (void)attr;
    (void)extra;
    atomic_store(&mpi_state, MPI_GONE);
    atomic_fetch_add(&ctx_generation, 1);
    for (trib_coll_ctx_t *c = live_tail; c; c = c->prev) {
        if (c->node_shm) {
            trib_coll_shm_free(c->node_shm);
            c->node_shm = NULL;
        }
        if (c->shm) {
            trib_coll_shm_free(c->shm);
            c->shm = NULL;
        }
    }
    return MPI_SUCCESS;
}

static int ctx_delete(MPI_Comm comm, int keyval, void *attr, void *extra)
{
    (void)comm;
    (void)keyval;
    (void)extra;
    trib_coll_ctx_t *ctx = attr;
    atomic_fetch_add(&ctx_generation, 1);
    live_remove(ctx);
    trib_coll_nb_free(ctx->nb);
    if (ctx->node_shm)
        trib_coll_shm_free(ctx->node_shm);
    if (ctx->shm)
        trib_coll_shm_free(ctx->shm);
    if (ctx->cross != MPI_COMM_NULL)
        MPI_Comm_free(&ctx->cross);
    if (ctx->node != MPI_COMM_NULL)
        MPI_Comm_free(&ctx->node);
    if (ctx->comm != MPI_COMM_NULL)
        MPI_Comm_free(&ctx->comm);
    free(ctx);
    return MPI_SUCCESS;
}

int trib_coll_mpi_error(int mpi_rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(mpi_rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "MPI error %d", mpi_rc);
    return trib_errorf(TRIB_ERR_MPI, "allreduce: %s failed: %s", what, msg);
}

/* Sets the log's rank tag from MPI_COMM_WORLD once. */
static void tag_log_with_world_rank(void)
{
    static int done;
    int r;
    if (!done && MPI_Comm_rank(MPI_COMM_WORLD, &r) == MPI_SUCCESS) {
        trib_log_set_rank(r);
        done = 1;
    }
}

/*
 * TRIB_FAKE_RANKS_PER_NODE=M (a testing aid): nodes of M consecutive ranks
 * inside the real ones, so the node-aware paths run on one machine.  0 when
 * unset; a malformed value is an error.
 */
static int fake_ranks_per_node(int *m)
{
    *m = 0;
    const char *env = getenv("TRIB_FAKE_RANKS_PER_NODE");
    if (!env || !*env)
        return TRIB_OK;
    char *end;
    long v = strtol(env, &end, 10);
    if (*end || v < 1 || v > INT_MAX)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "TRIB_FAKE_RANKS_PER_NODE=%s is not a positive number of ranks",
                           env);
    *m = (int)v;
    return TRIB_OK;
}

/* ctx->node (this rank's node) and ctx->topo (every node's size, agreed by all ranks). */
static int find_nodes(trib_coll_ctx_t *ctx)
{
    int rc, fake;
    if ((rc = fake_ranks_per_node(&fake)) != TRIB_OK)
        return rc;
    TRIB_MPI_TRY(MPI_Comm_split_type(ctx->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &ctx->node));
    if (fake > 0) {
        MPI_Comm real = ctx->node;
        ctx->node = MPI_COMM_NULL;
        int mpi_rc = MPI_Comm_split(real, ctx->rank / fake, ctx->rank, &ctx->node);
        MPI_Comm_free(&real);
        TRIB_MPI_TRY(mpi_rc);
    }
    TRIB_MPI_TRY(MPI_Comm_set_errhandler(ctx->node, MPI_ERRORS_RETURN));
    TRIB_MPI_TRY(MPI_Comm_rank(ctx->node, &ctx->node_rank));
    TRIB_MPI_TRY(MPI_Comm_size(ctx->node, &ctx->node_size));
    int leaders = ctx->node_rank == 0, extremes[2] = {ctx->node_size, -ctx->node_size};
    TRIB_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &leaders, 1, MPI_INT, MPI_SUM, ctx->comm));
    TRIB_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, extremes, 2, MPI_INT, MPI_MIN, ctx->comm));
    ctx->topo.nodes = leaders;
    ctx->topo.min_per_node = extremes[0];
    ctx->topo.max_per_node = -extremes[1];
    ctx->single_node = ctx->node_size == ctx->size;
    return TRIB_OK;
error:
    return rc;
}

static int ctx_create(MPI_Comm user_comm, trib_coll_ctx_t **out)
{
    int rc = TRIB_OK;
    trib_coll_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return trib_errorf(TRIB_ERR_NOMEM, "allreduce: out of memory for the communicator context");
    ctx->comm = ctx->node = ctx->cross = MPI_COMM_NULL;
    TRIB_MPI_TRY(MPI_Comm_dup(user_comm, &ctx->comm));
    TRIB_MPI_TRY(MPI_Comm_set_errhandler(ctx->comm, MPI_ERRORS_RETURN));
    TRIB_MPI_TRY(MPI_Comm_rank(ctx->comm, &ctx->rank));
    TRIB_MPI_TRY(MPI_Comm_size(ctx->comm, &ctx->size));
    if ((rc = find_nodes(ctx)) != TRIB_OK)
        goto error;
    TRIB_MPI_TRY(MPI_Comm_set_attr(user_comm, ctx_keyval, ctx));
    live_add(ctx);
    trib_log(TRIB_LOG_DEBUG, "allreduce: new communicator context: rank %d of %d, %d node%s of %d-%d ranks",
             ctx->rank, ctx->size, ctx->topo.nodes, ctx->topo.nodes == 1 ? "" : "s", ctx->topo.min_per_node,
             ctx->topo.max_per_node);
    *out = ctx;
    return TRIB_OK;
error:
    if (ctx->node != MPI_COMM_NULL)
        MPI_Comm_free(&ctx->node);
    if (ctx->comm != MPI_COMM_NULL)
        MPI_Comm_free(&ctx->comm);
    free(ctx);
    return rc;
}

/* The two keyvals, created once: the context's and MPI_COMM_SELF's finalize hook. */
static int keyvals_init(void)
{
    int rc = TRIB_OK;
    if (ctx_keyval == MPI_KEYVAL_INVALID) {
        TRIB_MPI_TRY(MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, ctx_delete, &ctx_keyval, NULL));
        TRIB_MPI_TRY(MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, finalize_hook, &finalize_keyval, NULL));
        TRIB_MPI_TRY(MPI_Comm_set_attr(MPI_COMM_SELF, finalize_keyval, NULL));
    }
    return TRIB_OK;
error:
    return rc;
}

int trib_coll_mpi_usable(void)
{
    int state = atomic_load_explicit(&mpi_state, memory_order_acquire);
    if (state != MPI_UNKNOWN)
        return state == MPI_USABLE;
    int initialized = 0, finalized = 0;
    if (MPI_Initialized(&initialized) != MPI_SUCCESS || !initialized || MPI_Finalized(&finalized) != MPI_SUCCESS ||
        finalized)
        return 0;
    /* Cached only once the finalize hook is in place to end it. */
    if (keyvals_init() == TRIB_OK)
        atomic_store_explicit(&mpi_state, MPI_USABLE, memory_order_release);
    return 1;
}

int trib_coll_ctx_get(MPI_Comm user_comm, trib_coll_ctx_t **out)
{
    int rc = TRIB_OK;
    unsigned long gen = atomic_load_explicit(&ctx_generation, memory_order_acquire);
    if (last_ctx.ctx && last_ctx.comm == user_comm && last_ctx.generation == gen) {
        *out = last_ctx.ctx;
        return TRIB_OK;
    }
    tag_log_with_world_rank();
    if ((rc = keyvals_init()) != TRIB_OK)
        return rc;
    void *attr = NULL;
    int found = 0;
    TRIB_MPI_TRY(MPI_Comm_get_attr(user_comm, ctx_keyval, &attr, &found));
    if (found) {
        *out = attr;
    } else if ((rc = ctx_create(user_comm, out)) != TRIB_OK) {
        return rc;
    }
    last_ctx.comm = user_comm;
    last_ctx.ctx = *out;
    last_ctx.generation = gen;
    return TRIB_OK;
error:
    return rc;
}
