/*
 * ps_server.c - one parameter server: owns a contiguous range of item rows
 * (a trib_mf_block_t), answers pulls, applies pushes, enforces the
 * consistency model (tributary/ps.h).
 *
 * The serve loop of a phase:
 *
 *     until every worker sent DONE:
 *         MPI_Probe(any worker, REQUEST tag)     blocks while idle (or polls with
 *                                                sleeps: options.idle_sleep)
 *         MPI_Recv the whole message, check its header against this phase
 *         PULL  ready?  answer now : queue it in `deferred`
 *         PUSH  bsp: queue in `pending`; else add the deltas to the rows now
 *               END_CLOCK: clock(w)++, then
 *                 min_clock = min_w clock(w)
 *                 bsp: apply pending pushes of clocks < min_clock in (clock, worker) order
 *                 answer every deferred pull that became ready
 *         DONE  clock(w) = infinity (the worker will not push again), as above
 *
 * ready(pull at clock c) = async, or min_clock >= c - s: every worker finished
 * clock c - s - 1, so its updates up to that clock are in the rows.  The
 * deferred queue therefore holds at most one pull per worker (a worker waits
 * for its reply).  In bsp the pending queue holds at most the pushes of the
 * clocks not yet complete.
 *
 * Why bsp defers applying: if worker 0's clock-c push were applied on arrival,
 * worker 1's clock-c pull might or might not see it depending on timing.
 * Holding a clock's pushes until the clock is complete and applying them in
 * worker order makes every reply a function of the seed alone.
 *
 * Errors: a malformed message is recorded (first one wins) and, when it was a
 * pull, answered with an ERROR reply so the worker does not wait; the loop
 * keeps serving until the phase ends, so no worker is left hanging, then
 * returns TRIB_ERR_PROTOCOL naming the sender.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/timer.h"
#include "train/ps_wire.h"

typedef struct {
    int worker;
    int64_t clock;
    uint64_t count;
    uint32_t *rows; /* owned */
} deferred_pull_t;

typedef struct {
    int worker;
    int64_t clock;
    uint64_t seq;      /* arrival order (ties within one worker and clock) */
    uint64_t count;
    unsigned char *payload; /* owned: ids then deltas */
} pending_push_t;

struct trib_ps_server {
    trib_ps_options_t o;
    int j, rank;
    uint64_t first, end;
    size_t rowf;              /* floats per row on the wire: k + 2 */
    trib_mf_block_t block;
    int64_t *clock;           /* per worker: clocks finished (INT64_MAX after DONE) */
    int64_t min_clock;
    int n_done;
    uint32_t epoch;
    int settle;
    int bound_hit;            /* this phase: a pull reached past the bound (deferred, or a checked
                                 async violation); replies carry TRIB_PS_FLAG_BOUND_HIT */
    deferred_pull_t *deferred;
    size_t n_deferred, cap_deferred;
    pending_push_t *pending;
    size_t n_pending, cap_pending;
    uint64_t seq;
    unsigned char *rbuf, *sbuf;
    size_t rcap, scap;
    trib_ps_server_stats_t st;
    int err;
    char errmsg[400];
};

/* ------------------------------------------------------------------ lifetime */

int trib_ps_server_create(const trib_ps_options_t *o, int j, trib_ps_server_t **out)
{
    if (!o || !out || o->n_workers < 1 || o->n_servers < 1 || j < 0 || j >= o->n_servers || o->k < 1)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "ps server: bad options");
    *out = NULL;
    trib_ps_server_t *s = calloc(1, sizeof *s);
    if (!s)
        return trib_errorf(TRIB_ERR_NOMEM, "ps server: out of memory");
    s->o = *o;
    s->j = j;
    s->rank = o->n_workers + j;
    s->rowf = TRIB_PS_ROW_FLOATS(o->k);
    trib_ps_server_rows(o->n_rows, o->n_servers, j, &s->first, &s->end);
    int rc = trib_mf_block_create(&s->block, (size_t)(s->end - s->first), o->k);
    s->clock = calloc((size_t)o->n_workers, sizeof *s->clock);
    if (rc == TRIB_OK && !s->clock)
        rc = trib_errorf(TRIB_ERR_NOMEM, "ps server: out of memory");
    if (rc != TRIB_OK) {
        trib_ps_server_destroy(s);
        return rc;
    }
    for (size_t r = 0; r < s->block.n_rows; r++)
        s->block.ids[r] = (int64_t)(s->first + r);
    *out = s;
    return TRIB_OK;
}

static void clear_queues(trib_ps_server_t *s)
{
    for (size_t i = 0; i < s->n_deferred; i++)
        free(s->deferred[i].rows);
    for (size_t i = 0; i < s->n_pending; i++)
        free(s->pending[i].payload);
    s->n_deferred = s->n_pending = 0;
}

void trib_ps_server_destroy(trib_ps_server_t *s)
{
    if (!s)
        return;
    clear_queues(s);
    free(s->deferred);
    free(s->pending);
    free(s->rbuf);
    free(s->sbuf);
    free(s->clock);
    trib_mf_block_destroy(&s->block);
    free(s);
}

trib_mf_block_t *trib_ps_server_block(trib_ps_server_t *s) { return &s->block; }

void trib_ps_server_take_stats(trib_ps_server_t *s, trib_ps_server_stats_t *out)
{
    *out = s->st;
    memset(&s->st, 0, sizeof s->st);
}

static int grow(unsigned char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return TRIB_OK;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    unsigned char *p = realloc(*buf, c);
    if (!p)
        return trib_errorf(TRIB_ERR_NOMEM, "ps server: cannot grow a message buffer to %zu bytes", c);
    *buf = p;
    *cap = c;
    return TRIB_OK;
}

/* ------------------------------------------------------------------ rows */

/* Reply to worker w: header + the rows' (factors, bias, AdaGrad sum), in request order. */
static int answer_pull(trib_ps_server_t *s, int w, int64_t clock, const uint32_t *rows, uint64_t n)
{
    size_t bytes = sizeof(trib_ps_header_t) + trib_ps_payload_bytes(TRIB_PS_MSG_REPLY, n, s->o.k);
    int rc = grow(&s->sbuf, &s->scap, bytes);
    if (rc != TRIB_OK)
        return rc;
    if (!s->settle) {
        /* Clocks of updates this reply may lack: c - min_clock (negative: fresher than needed). */
        int64_t lag = s->min_clock == INT64_MAX ? 0 : clock - s->min_clock;
        if (lag > s->st.max_staleness)
            s->st.max_staleness = lag;
        int bound = s->o.consistency == TRIB_PS_ASYNC ? s->o.staleness : trib_ps_effective_staleness(&s->o);
        if (s->o.check_staleness && bound >= 0) {
            int bad = s->min_clock != INT64_MAX && s->min_clock < clock - bound;
            for (size_t i = 0; !bad && i < s->n_pending; i++)
                bad = s->pending[i].clock < clock - bound; /* an update that should be visible is held back */
            s->st.violations += (uint64_t)bad;
            s->bound_hit |= bad;
        }
    }
    trib_ps_header_t h = {TRIB_PS_MAGIC, TRIB_PS_PROTOCOL_VERSION, TRIB_PS_MSG_REPLY, w,
                          s->bound_hit ? TRIB_PS_FLAG_BOUND_HIT : 0u, s->min_clock, n, s->epoch, 0};
    memcpy(s->sbuf, &h, sizeof h);
    float *out = (float *)(void *)(s->sbuf + sizeof h);
    size_t k = s->o.k;
    for (uint64_t i = 0; i < n; i++, out += s->rowf) {
        size_t r = (size_t)(rows[i] - s->first);
        memcpy(out, trib_mf_row(&s->block, r), k * sizeof(float));
        out[k] = s->block.bias[r];
        out[k + 1] = s->block.adagrad[r];
    }
    s->st.pulls++;
    s->st.rows_served += n;
    if (MPI_Send(s->sbuf, (int)bytes, MPI_BYTE, w, TRIB_PS_TAG_REPLY, s->o.comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps server %d: MPI_Send of a reply to rank %d failed", s->j, w);
    return TRIB_OK;
}

static int answer_error(trib_ps_server_t *s, int w)
{
    trib_ps_header_t h = {TRIB_PS_MAGIC, TRIB_PS_PROTOCOL_VERSION, TRIB_PS_MSG_REPLY, w, TRIB_PS_FLAG_ERROR,
                          s->min_clock, 0, s->epoch, 0};
    if (MPI_Send(&h, (int)sizeof h, MPI_BYTE, w, TRIB_PS_TAG_REPLY, s->o.comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps server %d: MPI_Send of an error reply to rank %d failed", s->j, w);
    return TRIB_OK;
}

/* rows += scale x deltas for a PUSH payload (ids, then k+2 floats per row). */
static void apply_push(trib_ps_server_t *s, const unsigned char *payload, uint64_t n)
{
    const uint32_t *ids = (const uint32_t *)(const void *)payload;
    const float *d = (const float *)(const void *)(payload + n * sizeof(uint32_t));
    size_t k = s->o.k;
    float a = s->o.scale;
    for (uint64_t i = 0; i < n; i++, d += s->rowf) {
        size_t r = (size_t)(ids[i] - s->first);
        float *row = trib_mf_row(&s->block, r);
        for (size_t f = 0; f < k; f++)
            row[f] += a * d[f];
        s->block.bias[r] += a * d[k];
        s->block.adagrad[r] += a * d[k + 1];
    }
    s->st.rows_updated += n;
}

/* ------------------------------------------------------------------ clocks */

static int ready(const trib_ps_server_t *s, int64_t clock)
{
    int b = trib_ps_effective_staleness(&s->o);
    return s->settle || b < 0 || s->min_clock >= clock - b;
}

static int cmp_pending(const void *a, const void *b)
{
    const pending_push_t *x = a, *y = b;
    if (x->clock != y->clock)
        return x->clock < y->clock ? -1 : 1;
    if (x->worker != y->worker)
        return x->worker < y->worker ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* bsp: applies every held push of a complete clock, in (clock, worker, arrival) order. */
static void apply_complete_clocks(trib_ps_server_t *s)
{
    if (!s->n_pending)
        return;
    qsort(s->pending, s->n_pending, sizeof *s->pending, cmp_pending);
    size_t i = 0;
    for (; i < s->n_pending && s->pending[i].clock < s->min_clock; i++) {
        apply_push(s, s->pending[i].payload, s->pending[i].count);
        free(s->pending[i].payload);
    }
    memmove(s->pending, s->pending + i, (s->n_pending - i) * sizeof *s->pending);
    s->n_pending -= i;
}

/* After a worker's clock moved: recompute the minimum, release held pushes and waiting pulls. */
static int clocks_advanced(trib_ps_server_t *s)
{
    int64_t m = INT64_MAX;
    for (int w = 0; w < s->o.n_workers; w++)
        if (s->clock[w] < m)
            m = s->clock[w];
    if (m == s->min_clock)
        return TRIB_OK;
    s->min_clock = m;
    apply_complete_clocks(s);
    int rc = TRIB_OK;
    size_t keep = 0;
    for (size_t i = 0; i < s->n_deferred; i++) {
        deferred_pull_t *d = &s->deferred[i];
        if (rc == TRIB_OK && ready(s, d->clock)) {
            rc = answer_pull(s, d->worker, d->clock, d->rows, d->count);
            free(d->rows);
        } else {
            s->deferred[keep++] = *d;
        }
    }
    s->n_deferred = keep;
    return rc;
}

/* ------------------------------------------------------------------ messages */

static int defer_pull(trib_ps_server_t *s, int w, int64_t clock, const uint32_t *rows, uint64_t n)
{
    if (s->n_deferred == s->cap_deferred) {
        size_t c = s->cap_deferred ? 2 * s->cap_deferred : 8;
        deferred_pull_t *p = realloc(s->deferred, c * sizeof *p);
        if (!p)
            return trib_errorf(TRIB_ERR_NOMEM, "ps server: out of memory");
        s->deferred = p;
        s->cap_deferred = c;
    }
    uint32_t *copy = malloc((n ? n : 1) * sizeof *copy);
    if (!copy)
        return trib_errorf(TRIB_ERR_NOMEM, "ps server: out of memory");
    memcpy(copy, rows, n * sizeof *copy);
    s->deferred[s->n_deferred++] = (deferred_pull_t){w, clock, n, copy};
    s->st.deferred++;
    s->bound_hit = 1;
    return TRIB_OK;
}

static int hold_push(trib_ps_server_t *s, int w, int64_t clock, const unsigned char *payload, uint64_t n)
{
    if (s->n_pending == s->cap_pending) {
        size_t c = s->cap_pending ? 2 * s->cap_pending : 8;
        pending_push_t *p = realloc(s->pending, c * sizeof *p);
        if (!p)
            return trib_errorf(TRIB_ERR_NOMEM, "ps server: out of memory");
        s->pending = p;
        s->cap_pending = c;
    }
    size_t bytes = trib_ps_payload_bytes(TRIB_PS_MSG_PUSH, n, s->o.k);
    unsigned char *copy = malloc(bytes ? bytes : 1);
    if (!copy)
        return trib_errorf(TRIB_ERR_NOMEM, "ps server: out of memory holding a push of %zu bytes", bytes);
    memcpy(copy, payload, bytes);
    s->pending[s->n_pending++] = (pending_push_t){w, clock, s->seq++, n, copy};
    return TRIB_OK;
}

/* Row ids ascending and inside this server's range. */
static int check_rows(const trib_ps_server_t *s, const uint32_t *rows, uint64_t n, int src)
{
    for (uint64_t i = 0; i < n; i++)
        if (rows[i] < s->first || rows[i] >= s->end || (i && rows[i] <= rows[i - 1]))
            return trib_errorf(TRIB_ERR_PROTOCOL, "ps server %d (rank %d): rank %d sent row %" PRIu32 " at position "
                               "%" PRIu64 ", outside rows [%" PRIu64 ", %" PRIu64 ") or not ascending", s->j,
                               s->rank, src, rows[i], i, s->first, s->end);
    return TRIB_OK;
}

/* What the header must say in this phase for a message from rank src. */
static int check_semantics(const trib_ps_server_t *s, const trib_ps_header_t *h, int src)
{
    const char *what = NULL;
    if (src >= s->o.n_workers)
        what = "it is not a worker";
    else if (h->worker != src)
        what = "the header names another worker";
    else if (h->type == TRIB_PS_MSG_REPLY)
        what = "a server does not accept replies";
    else if (h->epoch != s->epoch)
        what = "it belongs to another epoch";
    else if (s->clock[src] == INT64_MAX)
        what = "the worker already ended this phase";
    else if (s->settle && h->type == TRIB_PS_MSG_PUSH)
        what = "pushes are not allowed while settling";
    else if (s->settle != !!(h->flags & TRIB_PS_FLAG_SETTLE))
        what = s->settle ? "expected a settle-phase message" : "a settle-phase message during training";
    else if (!s->settle && h->type != TRIB_PS_MSG_DONE && h->clock != s->clock[src])
        what = "its clock is not the worker's current clock";
    if (!what)
        return TRIB_OK;
    return trib_errorf(TRIB_ERR_PROTOCOL, "ps server %d (rank %d): unexpected message from rank %d (type %u, "
                       "epoch %u, clock %" PRId64 "): %s", s->j, s->rank, src, (unsigned)h->type,
                       (unsigned)h->epoch, h->clock, what);
}

static int handle(trib_ps_server_t *s, const unsigned char *msg, size_t len, int src)
{
    trib_ps_header_t h;
    int rc = trib_ps_header_check(msg, len, src, s->o.k, &h);
    if (rc == TRIB_OK)
        rc = check_semantics(s, &h, src);
    const unsigned char *payload = msg + sizeof h;
    if (rc == TRIB_OK && h.type != TRIB_PS_MSG_DONE)
        rc = check_rows(s, (const uint32_t *)(const void *)payload, h.count, src);
    if (rc != TRIB_OK) {
        trib_ps_header_t raw;
        memset(&raw, 0, sizeof raw);
        memcpy(&raw, msg, len < sizeof raw ? len : sizeof raw);
        /* A worker that sent what looks like a pull waits for an answer: give it one. */
        if (src < s->o.n_workers && raw.type == TRIB_PS_MSG_PULL)
            answer_error(s, src);
        return rc;
    }
    switch ((trib_ps_msg_type_t)h.type) {
    case TRIB_PS_MSG_PULL:
        if (ready(s, h.clock))
            return answer_pull(s, src, h.clock, (const uint32_t *)(const void *)payload, h.count);
        return defer_pull(s, src, h.clock, (const uint32_t *)(const void *)payload, h.count);
    case TRIB_PS_MSG_PUSH:
        s->st.pushes++;
        if (s->o.consistency == TRIB_PS_BSP)
            rc = hold_push(s, src, h.clock, payload, h.count);
        else
            apply_push(s, payload, h.count);
        if (rc == TRIB_OK && (h.flags & TRIB_PS_FLAG_END_CLOCK)) {
            s->clock[src]++;
            rc = clocks_advanced(s);
        }
        return rc;
    case TRIB_PS_MSG_DONE:
        s->clock[src] = INT64_MAX;
        s->n_done++;
        return clocks_advanced(s);
    case TRIB_PS_MSG_REPLY:
        break;
    }
    return trib_errorf(TRIB_ERR_INTERNAL, "ps server: unreachable message type");
}

/* ------------------------------------------------------------------ serve loop */

/* Sleeps for *ns nanoseconds and doubles it (20 us .. 1 ms). */
static void backoff(long *ns)
{
    struct timespec ts = {0, *ns};
    nanosleep(&ts, NULL);
    *ns = *ns * 2 > 1000000 ? 1000000 : *ns * 2;
}

/* The next request: blocking probe, or polling with sleeps (idle_sleep). */
static int next_request(const trib_ps_server_t *s, MPI_Status *st)
{
    if (!s->o.idle_sleep)
        return MPI_Probe(MPI_ANY_SOURCE, TRIB_PS_TAG_REQUEST, s->o.comm, st);
    for (long ns = 20000;;) {
        int flag = 0, rc = MPI_Iprobe(MPI_ANY_SOURCE, TRIB_PS_TAG_REQUEST, s->o.comm, &flag, st);
        if (rc != MPI_SUCCESS || flag)
            return rc;
        backoff(&ns);
    }
}

static int serve(trib_ps_server_t *s, uint32_t epoch, int64_t first_clock, int settle)
{
    s->epoch = epoch;
    s->settle = settle;
    s->bound_hit = 0;
    s->n_done = 0;
    s->err = TRIB_OK;
    s->errmsg[0] = '\0';
    for (int w = 0; w < s->o.n_workers; w++)
        s->clock[w] = first_clock;
    s->min_clock = first_clock;
    int fatal = TRIB_OK;
    while (s->n_done < s->o.n_workers) {
        MPI_Status st;
        int n = 0;
        if (next_request(s, &st) != MPI_SUCCESS ||
            MPI_Get_count(&st, MPI_BYTE, &n) != MPI_SUCCESS || n < 0) {
            fatal = trib_errorf(TRIB_ERR_MPI, "ps server %d: MPI_Probe failed", s->j);
            break;
        }
        int rc = grow(&s->rbuf, &s->rcap, (size_t)n + 1);
        if (rc != TRIB_OK) {
            fatal = rc;
            break;
        }
        if (MPI_Recv(s->rbuf, n, MPI_BYTE, st.MPI_SOURCE, TRIB_PS_TAG_REQUEST, s->o.comm, MPI_STATUS_IGNORE) !=
            MPI_SUCCESS) {
            fatal = trib_errorf(TRIB_ERR_MPI, "ps server %d: MPI_Recv from rank %d failed", s->j, st.MPI_SOURCE);
            break;
        }
        double t0 = trib_now();
        rc = handle(s, s->rbuf, (size_t)n, st.MPI_SOURCE);
        s->st.busy_seconds += trib_now() - t0;
        if (rc != TRIB_OK && s->err == TRIB_OK) {
            s->err = rc;
            snprintf(s->errmsg, sizeof s->errmsg, "%s", trib_last_error(rc));
        }
        if (rc == TRIB_ERR_MPI || rc == TRIB_ERR_NOMEM) {
            fatal = rc;
            break;
        }
    }
    /* Normally empty here: every worker is done, so every clock is complete. */
    if (fatal == TRIB_OK && (s->n_deferred || s->n_pending) && s->err == TRIB_OK) {
        s->err = trib_errorf(TRIB_ERR_INTERNAL, "ps server %d: %zu pulls / %zu pushes left at the end of a phase",
                             s->j, s->n_deferred, s->n_pending);
        snprintf(s->errmsg, sizeof s->errmsg, "%s", trib_last_error(s->err));
    }
    clear_queues(s);
    if (fatal != TRIB_OK)
        return fatal;
    return s->err == TRIB_OK ? TRIB_OK : trib_errorf(s->err, "%s", s->errmsg);
}

int trib_ps_server_serve_epoch(trib_ps_server_t *s, uint32_t epoch, int64_t first_clock)
{
    return serve(s, epoch, first_clock, 0);
}

int trib_ps_server_serve_settle(trib_ps_server_t *s, uint32_t epoch) { return serve(s, epoch, 0, 1); }
