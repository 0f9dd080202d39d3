/*
 * nb.c - the non-blocking allreduce: schedules, requests, progress.
 *
 * A request runs its algorithm as a schedule (coll_internal.h): rounds of
 * local combining steps and MPI_Isend / MPI_Irecv transfers.  The builder
 * of each algorithm (ring.c, tree.c, rd.c) emits the same combinations, with
 * the same operands in the same order, as its blocking version, so the
 * result has the same bits.  Algorithms without a builder (shm, mpi, and
 * any new one until it has a builder) run blocking inside trib_iallreduce:
 * correct at once, with no overlap.
 *
 * Progress.  No thread: every Tributary call on a communicator moves each of
 * its pending requests as far as it can without waiting (trib_coll_nb_progress:
 * MPI_Testall on the current round's transfers; when they are all done the
 * next round starts).  A blocking allreduce, and a trib_iallreduce whose
 * algorithm runs blocking, first completes the communicator's pending
 * requests (trib_coll_nb_drain): a rank may be waiting in trib_wait for one
 * of them, and it needs this rank to move it on; completing them first
 * guarantees no rank waits for a rank that waits for it.
 *
 * Matching.  Requests run on a second private duplicate of the user's
 * communicator (created by the first trib_iallreduce on it, collective like
 * the first allreduce), away from the blocking calls' traffic, each with
 * its own tag: the request's sequence number on that communicator modulo
 * (MPI_TAG_UB + 1).  Requests are started in the same order on every rank,
 * so the numbers agree; two in-flight requests never share a tag (unless
 * more than MPI_TAG_UB + 1 >= 32768 are in flight).  Within a request, the
 * transfers between two ranks are posted in schedule order on both sides,
 * and MPI does not let messages of one (source, tag, communicator) overtake
 * each other.
 *
 * Check mode.  The signature check (allreduce.c) is an MPI_Iallreduce on
 * the request's communicator, the request's first step; the schedule's
 * first round starts once it agrees.  The scheduled work (packing, the
 * 16-bit conversion, the copy of the send buffer) is done only then.
 *
 * Errors.  A failure ends the request with the status and message, kept
 * in the request (progress may happen inside another call) and set again as
 * trib_last_error by the test or wait that completes it.
 */
#include "coll/coll_internal.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* ------------------------------------------------------------- schedules */

enum { STEP_SEND, STEP_RECV, STEP_COMBINE };

typedef struct {
    int kind;
    int peer;
    void *dst; /* recv: target; combine: dst */
    const void *x, *y; /* send: x is the source; combine: the operands */
    size_t n;  /* elements */
} step_t;

struct trib_coll_sched {
    step_t *steps;
    size_t nsteps, cap;
    size_t *ends; /* ends[i]: one past the last step of round i */
    size_t nrounds, rcap;
    size_t open_from;   /* first step of the round being built */
    size_t max_xfers;   /* most transfers in one round */
    void **mem;
    size_t nmem, mcap;
    int status;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 1;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return 0;
    *p = q;
    *cap = c;
    return 1;
}

static void sched_fail(trib_coll_sched_t *s)
{
    if (s->status == TRIB_OK)
        s->status = trib_errorf(TRIB_ERR_NOMEM, "allreduce: out of memory building the schedule");
}

static void add_step(trib_coll_sched_t *s, step_t st)
{
    if (s->status != TRIB_OK)
        return;
    if (!grow((void **)&s->steps, &s->cap, s->nsteps + 1, sizeof *s->steps)) {
        sched_fail(s);
        return;
    }
    s->steps[s->nsteps++] = st;
}

void trib_sched_send(trib_coll_sched_t *s, const void *buf, size_t n, int peer)
{
    step_t st = {STEP_SEND, peer, NULL, buf, NULL, n};
    if (n > 0)
        add_step(s, st);
}

void trib_sched_recv(trib_coll_sched_t *s, void *buf, size_t n, int peer)
{
    step_t st = {STEP_RECV, peer, buf, NULL, NULL, n};
    if (n > 0)
        add_step(s, st);
}

void trib_sched_combine(trib_coll_sched_t *s, void *dst, const void *x, const void *y, size_t n)
{
    step_t st = {STEP_COMBINE, -1, dst, x, y, n};
    if (n > 0)
        add_step(s, st);
}

void trib_sched_round(trib_coll_sched_t *s)
{
    if (s->status != TRIB_OK || s->nsteps == s->open_from)
        return;
    if (!grow((void **)&s->ends, &s->rcap, s->nrounds + 1, sizeof *s->ends)) {
        sched_fail(s);
        return;
    }
    size_t xfers = 0;
    for (size_t i = s->open_from; i < s->nsteps; i++)
        xfers += s->steps[i].kind != STEP_COMBINE;
    if (xfers > s->max_xfers)
        s->max_xfers = xfers;
    s->ends[s->nrounds++] = s->nsteps;
    s->open_from = s->nsteps;
}

void *trib_sched_alloc(trib_coll_sched_t *s, size_t bytes)
{
    if (s->status != TRIB_OK)
        return NULL;
    if (!grow((void **)&s->mem, &s->mcap, s->nmem + 1, sizeof *s->mem)) {
        sched_fail(s);
        return NULL;
    }
    void *p = trib_aligned_alloc(TRIB_ALIGN, bytes > 0 ? bytes : 1);
    if (!p) {
        sched_fail(s);
        return NULL;
    }
    s->mem[s->nmem++] = p;
    return p;
}

int trib_sched_status(const trib_coll_sched_t *s) { return s->status; }

static void sched_free(trib_coll_sched_t *s)
{
    for (size_t i = 0; i < s->nmem; i++)
        trib_aligned_free(s->mem[i]);
    free(s->mem);
    free(s->steps);
    free(s->ends);
    memset(s, 0, sizeof *s);
}

trib_coll_sched_fn trib_coll_sched_builder(trib_algo_t algo)
{
    switch (algo) {
    case TRIB_ALGO_RING: return trib_coll_ring_sched;
    case TRIB_ALGO_TREE: return trib_coll_tree_sched;
    case TRIB_ALGO_RD: return trib_coll_rd_sched;
    default: return NULL; /* runs blocking inside trib_iallreduce */
    }
}

/* ------------------------------------------------------------- runs */

/*
 * A schedule being run on a communicator with one tag: a request's
 * schedule, or one of hier.c's pieces crossing the nodes.  Its rounds start
 * one after another as the previous one's transfers complete.
 */
struct trib_coll_run {
    trib_coll_args_t a; /* what the schedule was built from (combine's type and op) */
    MPI_Comm comm;
    int tag;
    trib_coll_sched_t sched;
    size_t round;       /* the round in flight */
    MPI_Request *xfers; /* its transfers */
    int nxfers;
    int done;
};

static void run_release(struct trib_coll_run *run)
{
    free(run->xfers);
    run->xfers = NULL;
    sched_free(&run->sched);
}

/* Starts round run->round: runs its combines, posts its transfers. */
static int run_round(struct trib_coll_run *run)
{
    int rc = TRIB_OK;
    trib_coll_sched_t *s = &run->sched;
    const trib_coll_args_t *a = &run->a;
    size_t from = run->round == 0 ? 0 : s->ends[run->round - 1], to = s->ends[run->round];
    run->nxfers = 0;
    for (size_t i = from; i < to; i++) {
        step_t *st = &s->steps[i];
        switch (st->kind) {
        case STEP_COMBINE: trib_coll_combine(a, st->dst, st->x, st->y, st->n); break;
        case STEP_SEND:
            TRIB_MPI_TRY(MPI_Isend(st->x, (int)st->n, a->mpi_type, st->peer, run->tag, run->comm,
                                   &run->xfers[run->nxfers]));
            run->nxfers++;
            break;
        default:
            TRIB_MPI_TRY(MPI_Irecv(st->dst, (int)st->n, a->mpi_type, st->peer, run->tag, run->comm,
                                   &run->xfers[run->nxfers]));
            run->nxfers++;
            break;
        }
    }
    return TRIB_OK;
error:
    return rc;
}

/* Builds algo's schedule for a, copies the send buffer in, posts the first round. */
static int run_begin(struct trib_coll_run *run, const trib_coll_args_t *a, trib_algo_t algo, MPI_Comm comm, int tag)
{
    int rc;
    memset(run, 0, sizeof *run);
    run->a = *a;
    run->comm = comm;
    run->tag = tag;
    trib_coll_sched_fn build = trib_coll_sched_builder(algo);
    if (!build)
        return trib_errorf(TRIB_ERR_INTERNAL, "allreduce: algorithm %s has no schedule", trib_algo_name(algo));
    if ((rc = build(&run->a, &run->sched)) != TRIB_OK)
        return rc;
    trib_sched_round(&run->sched);
    if ((rc = trib_sched_status(&run->sched)) != TRIB_OK)
        return rc;
    run->xfers = malloc((run->sched.max_xfers > 0 ? run->sched.max_xfers : 1) * sizeof *run->xfers);
    if (!run->xfers)
        return trib_errorf(TRIB_ERR_NOMEM, "allreduce: out of memory for %zu requests", run->sched.max_xfers);
    trib_coll_copy_in(&run->a);
    run->done = run->sched.nrounds == 0;
    return run->done ? TRIB_OK : run_round(run);
}

/* Moves the run as far as it goes without waiting; *moved is set when a round ended. */
static int run_test(struct trib_coll_run *run, int *moved)
{
    int rc = TRIB_OK, flag = 0;
    while (!run->done) {
        TRIB_MPI_TRY(MPI_Testall(run->nxfers, run->xfers, &flag, MPI_STATUSES_IGNORE));
        if (!flag)
            break;
        *moved = 1;
        if (++run->round == run->sched.nrounds)
            run->done = 1;
        else if ((rc = run_round(run)) != TRIB_OK)
            return rc;
    }
    return TRIB_OK;
error:
    return rc;
}

int trib_coll_run_start(const trib_coll_args_t *a, trib_algo_t algo, MPI_Comm comm, int tag, trib_coll_run_t **out)
{
    *out = NULL;
    struct trib_coll_run *run = malloc(sizeof *run);
    if (!run)
        return trib_errorf(TRIB_ERR_NOMEM, "allreduce: out of memory for a schedule");
    int rc = run_begin(run, a, algo, comm, tag);
    if (rc != TRIB_OK) {
        run_release(run);
        free(run);
        return rc;
    }
    *out = run;
    return TRIB_OK;
}

int trib_coll_run_test(trib_coll_run_t *run, int *done)
{
    int moved = 0, rc = run_test(run, &moved);
    *done = run->done;
    return rc;
}

void trib_coll_run_free(trib_coll_run_t *run)
{
    if (!run)
        return;
    run_release(run);
    free(run);
}

/* ------------------------------------------------------------- requests */

struct trib_coll_nb {
    MPI_Comm comm;   /* second private duplicate: the requests' traffic */
    int tag_mod;     /* MPI_TAG_UB + 1 */
    uint64_t seq;    /* requests started so far */
    struct trib_request *head, *tail; /* pending requests, in start order */
};

enum { ST_CHECK, ST_RUN, ST_DONE };

#define REQ_MSG 512

struct trib_request {
    trib_coll_ctx_t *ctx;
    struct trib_request *prev, *next;
    int state;
    int status;
    char msg[REQ_MSG];
    trib_coll_call_t call;
    int local_rc;                 /* check mode: this rank's argument verdict */
    int64_t sig[TRIB_COLL_SIG_WORDS];
    MPI_Request check_req;
    int began;                    /* trib_coll_call_begin ran (end must run) */
    int listed;                   /* in the context's pending list */
    int tag;
    struct trib_coll_run run;     /* the schedule, once the check passed */
};

int trib_coll_nb_init(trib_coll_ctx_t *ctx)
{
    int rc = TRIB_OK;
    if (ctx->nb)
        return TRIB_OK;
    struct trib_coll_nb *nb = calloc(1, sizeof *nb);
    if (!nb)
        return trib_errorf(TRIB_ERR_NOMEM, "iallreduce: out of memory for the communicator's request state");
    nb->comm = MPI_COMM_NULL;
    TRIB_MPI_TRY(MPI_Comm_dup(ctx->comm, &nb->comm));
    TRIB_MPI_TRY(MPI_Comm_set_errhandler(nb->comm, MPI_ERRORS_RETURN));
    void *attr = NULL;
    int found = 0;
    TRIB_MPI_TRY(MPI_Comm_get_attr(nb->comm, MPI_TAG_UB, &attr, &found));
    nb->tag_mod = found && attr && *(int *)attr > 0 ? *(int *)attr : 32767;
    nb->tag_mod = nb->tag_mod < 1 << 30 ? nb->tag_mod + 1 : 1 << 30;
    ctx->nb = nb;
    return TRIB_OK;
error:
    if (nb->comm != MPI_COMM_NULL)
        MPI_Comm_free(&nb->comm);
    free(nb);
    return rc;
}

static void list_add(struct trib_coll_nb *nb, struct trib_request *r)
{
    r->next = NULL;
    r->prev = nb->tail;
    if (nb->tail)
        nb->tail->next = r;
    else
        nb->head = r;
    nb->tail = r;
}

static void list_remove(struct trib_coll_nb *nb, struct trib_request *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        nb->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        nb->tail = r->prev;
    r->prev = r->next = NULL;
}

/* Ends the request with rc (the call's end runs: unpack, widen, AVG). */
static void finish(struct trib_request *r, int rc)
{
    if (r->began) {
        rc = trib_coll_call_end(&r->call, rc);
        r->began = 0;
    }
    if (rc != TRIB_OK)
        snprintf(r->msg, sizeof r->msg, "%s", trib_last_error(rc));
    r->status = rc;
    run_release(&r->run);
    if (r->listed) {
        list_remove(r->ctx->nb, r);
        r->listed = 0;
    }
    r->state = ST_DONE;
}

/* Check passed (or none): copies in, posts the first round. */
static int begin_schedule(struct trib_request *r)
{
    trib_coll_call_t *c = &r->call;
    int rc = trib_coll_call_begin(c);
    r->began = 1;
    if (rc != TRIB_OK)
        return rc;
    if (!c->run) {
        finish(r, TRIB_OK);
        return TRIB_OK;
    }
    if ((rc = run_begin(&r->run, &c->a, c->algo, r->ctx->nb->comm, r->tag)) != TRIB_OK)
        return rc;
    r->state = ST_RUN;
    if (r->run.done)
        finish(r, TRIB_OK);
    return TRIB_OK;
}

/* Moves one request as far as it goes without waiting; returns 1 if anything moved. */
static int progress_one(struct trib_request *r)
{
    int moved = 0, rc = TRIB_OK, flag = 0;
    while (r->state != ST_DONE) {
        if (r->state == ST_CHECK) {
            TRIB_MPI_TRY(MPI_Test(&r->check_req, &flag, MPI_STATUS_IGNORE));
            if (!flag)
                break;
            moved = 1;
            if ((rc = trib_coll_sig_verdict(r->sig, r->local_rc)) != TRIB_OK)
                goto error;
            if ((rc = begin_schedule(r)) != TRIB_OK)
                goto error;
            continue;
        }
        if ((rc = run_test(&r->run, &moved)) != TRIB_OK)
            goto error;
        if (r->run.done)
            finish(r, TRIB_OK);
        break;
    }
    return moved;
error:
    finish(r, rc);
    return 1;
}

int trib_coll_nb_progress(trib_coll_ctx_t *ctx)
{
    if (!ctx->nb)
        return 0;
    int moved = 0;
    struct trib_request *r = ctx->nb->head, *next;
    for (; r; r = next) {
        next = r->next; /* r may leave the list */
        moved += progress_one(r);
    }
    return moved;
}

void trib_coll_nb_drain(trib_coll_ctx_t *ctx)
{
    while (ctx->nb && ctx->nb->head) {
        if (!trib_coll_nb_progress(ctx))
            sched_yield();
    }
}

void trib_coll_nb_free(struct trib_coll_nb *nb)
{
    if (!nb)
        return;
    while (nb->head) {
        struct trib_request *r = nb->head;
        trib_errorf(TRIB_ERR_STATE, "iallreduce: the communicator was freed before the request completed");
        finish(r, TRIB_ERR_STATE);
        r->ctx = NULL;
    }
    if (nb->comm != MPI_COMM_NULL)
        MPI_Comm_free(&nb->comm);
    free(nb);
}

int trib_coll_nb_start(trib_coll_ctx_t *ctx, const trib_coll_call_t *c, int local_rc, int check,
                       trib_request_t *request)
{
    int rc = TRIB_OK;
    struct trib_coll_nb *nb = ctx->nb;
    trib_coll_nb_progress(ctx);
    struct trib_request *r = calloc(1, sizeof *r);
    if (!r)
        return trib_errorf(TRIB_ERR_NOMEM, "iallreduce: out of memory for a request");
    r->ctx = ctx;
    r->call = *c;
    r->local_rc = local_rc;
    r->check_req = MPI_REQUEST_NULL;
    r->tag = (int)(nb->seq++ % (uint64_t)nb->tag_mod);
    r->state = ST_CHECK;
    *request = r;
    int scheduled = c->a.size > 1 && c->a.count > 0 && trib_coll_sched_builder(c->algo) != NULL;
    if (check) {
        trib_coll_sig_fill(r->sig, local_rc, c);
        TRIB_MPI_TRY(MPI_Iallreduce(MPI_IN_PLACE, r->sig, TRIB_COLL_SIG_REDUCED, MPI_INT64_T, MPI_MIN, nb->comm,
                                    &r->check_req));
    }
    if (scheduled && (check || local_rc == TRIB_OK)) {
        list_add(nb, r);
        r->listed = 1;
        if (!check && (rc = begin_schedule(r)) != TRIB_OK)
            goto error;
        progress_one(r);
        return TRIB_OK;
    }
    /* Runs here and now: complete the earlier requests first (see the top comment). */
    if (check || (c->a.size > 1 && c->a.count > 0))
        trib_coll_nb_drain(ctx);
    if (check) {
        int flag = 0;
        for (;;) {
            TRIB_MPI_TRY(MPI_Test(&r->check_req, &flag, MPI_STATUS_IGNORE));
            if (flag)
                break;
            sched_yield();
        }
        if ((rc = trib_coll_sig_verdict(r->sig, local_rc)) != TRIB_OK)
            goto error;
    }
    rc = trib_coll_call_begin(&r->call);
    r->began = 1;
    if (rc == TRIB_OK && r->call.run)
        rc = trib_coll_run_algorithm(r->call.algo, &r->call.a);
    finish(r, rc);
    return TRIB_OK;
error:
    finish(r, rc);
    return TRIB_OK;
}

/* ------------------------------------------------------------ completion */

static int complete(trib_request_t *request)
{
    struct trib_request *r = *request;
    int rc = r->status;
    if (rc != TRIB_OK)
        trib_errorf(rc, "%s", r->msg);
    free(r);
    *request = TRIB_REQUEST_NULL;
    return rc;
}

int trib_test(trib_request_t *request, int *done)
{
    if (!request || !done)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_test: NULL argument");
    *done = 1;
    if (!*request)
        return TRIB_OK;
    struct trib_request *r = *request;
    if (r->state != ST_DONE && r->ctx)
        trib_coll_nb_progress(r->ctx);
    if (r->state != ST_DONE) {
        *done = 0;
        return TRIB_OK;
    }
    return complete(request);
}

int trib_wait(trib_request_t *request)
{
    if (!request)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_wait: NULL request pointer");
    if (!*request)
        return TRIB_OK;
    struct trib_request *r = *request;
    while (r->state != ST_DONE && r->ctx) {
        if (!trib_coll_nb_progress(r->ctx))
            sched_yield();
    }
    return complete(request);
}

int trib_waitall(size_t n, trib_request_t *requests)
{
    if (n > 0 && !requests)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_waitall: NULL request array");
    /* Progress all of them together (their communicators may differ), then collect in order. */
    for (;;) {
        int pending = 0, moved = 0;
        for (size_t i = 0; i < n; i++) {
            struct trib_request *r = requests[i];
            if (r && r->state != ST_DONE && r->ctx) {
                moved += trib_coll_nb_progress(r->ctx);
                pending += r->state != ST_DONE;
            }
        }
        if (!pending)
            break;
        if (!moved)
            sched_yield();
    }
    int first = TRIB_OK;
    char msg[REQ_MSG] = "";
    for (size_t i = 0; i < n; i++) {
        if (!requests[i])
            continue;
        int rc = complete(&requests[i]);
        if (rc != TRIB_OK && first == TRIB_OK) {
            first = rc;
            snprintf(msg, sizeof msg, "%s", trib_last_error(rc));
        }
    }
    return first == TRIB_OK ? TRIB_OK : trib_errorf(first, "%s", msg);
}
