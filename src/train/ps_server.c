/*
 * ps_server.c - one parameter server: owns a contiguous range of item rows
 * (a trib_mf_block_t), answers pulls, applies pushes, enforces the
 * consistency model (tributary/ps.h).
 *
 * The serve loop of a round (trib_ps_server_serve_round):
 *
 *     until every worker sent PAUSE:
 *         MPI_Probe(any worker, REQUEST tag)     blocks while idle (or polls with
 *                                                sleeps: options.idle_sleep)
 *         MPI_Recv the whole message, check its header against this round
 *         PULL  ready?  answer now : queue it in `deferred`
 *         PUSH  bsp: queue in `pending`; else add the deltas to the rows now
 *               END_CLOCK: clock(w)++, then
 *                 min_clock = min_w clock(w)
 *                 bsp: apply pending pushes of clocks < min_clock in (clock, worker) order
 *                 min_clock a multiple of clocks_per_epoch: snapshot of the rows
 *                 answer every deferred pull that became ready
 *         PAUSE the worker is done for this round
 *         the round's epoch complete, a stop request, or a PAUSE: NOTICE to every worker
 *         (once); then deferred pulls of workers that cannot be released are answered RETRY
 *
 * Work sharing (options.chunks_per_epoch > 0, async or ssp): server 0 also answers CLAIMs (claim()):
 * it counts the chunks reported done, hands out the next one (or none: all handed out, or
 * should_take says the others finish the rest sooner; not now to a slow worker holding one,
 * may_queue), and when every chunk of the round is done it starts pausing.  No clock completes an
 * epoch then; every server keeps its snapshot when the round ends (every worker sent PAUSE after its
 * last push).  Pulls and pushes name their chunk g (its place in the hand-out order); every server
 * marks the chunks whose END_CLOCK push came and keeps wm, the count of chunks [0, wm) all pushed,
 * and under ssp ready(pull for chunk g) = wm >= g - s: the reply has every chunk before g - s.
 *
 * ready(pull at clock c) = async, or min_clock >= c - s: every worker finished
 * clock c - s - 1, so its updates up to that clock are in the rows.  The
 * deferred queue therefore holds at most one pull per worker (a worker waits
 * for its reply).  In bsp the pending queue holds at most the pushes of the
 * clocks not yet complete.  Clocks run on across rounds: a round is the time
 * until the slowest worker finished the loop's epoch, not a barrier for the
 * others, who may be epochs ahead (async) or up to s + 1 clocks (ssp).
 *
 * Replies leave with MPI_Isend from one buffer per worker (a worker has at
 * most one pull per server in flight), so a server never blocks on a worker
 * that is computing.
 *
 * Why bsp defers applying: if worker 0's clock-c push were applied on arrival,
 * worker 1's clock-c pull might or might not see it depending on timing.
 * Holding a clock's pushes until the clock is complete and applying them in
 * worker order makes every reply a function of the seed alone.
 *
 * Snapshots: the rows at the moment min_clock reached (e + 1) x clocks_per_epoch
 * are the model "after epoch e" for evaluation, the model file and checkpoints
 * (in bsp exactly what an epoch barrier would have held, so bsp results do not
 * depend on how far the fast workers ran ahead).
 *
 * Errors: a malformed message is recorded (first one wins) and, when it was a
 * pull, answered with an ERROR reply so the worker does not wait; the loop
 * keeps serving until the round ends, so no worker is left hanging, then
 * returns TRIB_ERR_PROTOCOL naming the sender.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timer.h"
#include "train/ps_wait.h"
#include "train/ps_wire.h"

typedef struct {
    int worker;
    int64_t clock;
    int64_t chunk;  /* work sharing: the chunk the pull is for (-1: none) */
    uint64_t count;
    uint32_t *rows; /* owned */
} deferred_pull_t;

typedef struct {
    int worker;
    int64_t clock;
    uint64_t seq;      /* arrival order (ties within one worker and clock) */
    uint64_t count;
    unsigned char *msg; /* owned: the received message (header, ids, deltas), taken over without a copy */
    size_t cap;         /* its capacity */
} pending_push_t;

typedef struct {
    int64_t epoch;     /* the rows after this epoch (-1: the start) */
    trib_mf_block_t b;
} snapshot_t;

struct trib_ps_server {
    trib_ps_options_t o;
    int j, rank;
    uint64_t first, end;
    size_t rowf;              /* floats per row on the wire: k + 2 */
    trib_mf_block_t block;
    int64_t *clock;           /* per worker: clocks finished */
    int64_t min_clock;
    unsigned char *ended;     /* per worker: PAUSE (round) or DONE (settle) received */
    int n_done;
    uint32_t epoch;
    int settle;
    int pausing;              /* this round: NOTICEs sent */
    int64_t target;           /* this round: the clock that completes its epoch */
    trib_ps_header_t *notice; /* per worker: the NOTICE being sent */
    MPI_Request *notice_req, *reply_req; /* per worker */
    unsigned char **reply_buf;
    size_t *reply_cap;
    snapshot_t *snaps;
    size_t n_snaps, cap_snaps;
    int bound_hit;            /* this phase: a pull reached past the bound (deferred, or a checked
                                 async violation); replies carry TRIB_PS_FLAG_BOUND_HIT */
    deferred_pull_t *deferred;
    size_t n_deferred, cap_deferred;
    pending_push_t *pending;
    size_t n_pending, cap_pending;
    uint64_t seq;
    unsigned char *rbuf;
    size_t rcap;
    /* receive buffers of applied held pushes, for the next receives (fresh memory each time would cost
     * page faults on the clock's critical path) */
    unsigned char **spare;
    size_t *spare_cap, n_spare, max_spare;
    trib_mf_block_t spare_snap; /* a dropped snapshot's block, for the next snapshot (has_spare_snap) */
    int has_spare_snap;
    trib_ps_server_stats_t st;
    const trib_ps_bell_t *bell; /* doorbells (NULL: none) */
    /* work sharing (o.chunks_per_epoch > 0); server 0 hands out the chunks of the round's epoch */
    uint64_t dyn_next, dyn_done;   /* this round: chunks handed out, chunks reported done */
    int dyn_complete;              /* this round: every chunk done (server 0) */
    int32_t *owner;                /* per chunk of the round: the worker it was given to (-1: none yet) */
    unsigned char *chunk_done;     /* per chunk of the round: reported done */
    double *report_at, *chunk_s;   /* per worker: its last report this round (0: none); seconds per chunk
                                      (0: not known) */
    int *holding;                  /* per worker: chunks given to it and not reported done */
    unsigned char *pushed;         /* per chunk of the round (every server): its END_CLOCK push came */
    uint64_t wm;                   /* this round: chunks [0, wm) of the hand-out order all pushed here */
    trib_ps_header_t *grant;       /* per worker: the GRANT being sent */
    MPI_Request *grant_req;
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
    size_t W = (size_t)o->n_workers;
    s->clock = calloc(W, sizeof *s->clock);
    s->ended = calloc(W, 1);
    s->notice = calloc(W, sizeof *s->notice);
    s->notice_req = malloc(W * sizeof *s->notice_req);
    s->reply_req = malloc(W * sizeof *s->reply_req);
    s->reply_buf = calloc(W, sizeof *s->reply_buf);
    s->reply_cap = calloc(W, sizeof *s->reply_cap);
    size_t C = (size_t)o->chunks_per_epoch;
    s->owner = calloc(C + 1, sizeof *s->owner);
    s->chunk_done = calloc(C + 1, 1);
    s->pushed = calloc(C + 1, 1);
    s->report_at = calloc(W, sizeof *s->report_at);
    s->chunk_s = calloc(W, sizeof *s->chunk_s);
    s->holding = calloc(W, sizeof *s->holding);
    s->grant = calloc(W, sizeof *s->grant);
    s->grant_req = malloc(W * sizeof *s->grant_req);
    s->max_spare = 2 * W + 2;
    s->spare = calloc(s->max_spare, sizeof *s->spare);
    s->spare_cap = calloc(s->max_spare, sizeof *s->spare_cap);
    if (rc == TRIB_OK && (!s->spare || !s->spare_cap || !s->clock || !s->ended || !s->notice || !s->notice_req ||
                          !s->reply_req || !s->reply_buf || !s->reply_cap || !s->owner || !s->chunk_done || !s->pushed ||
                          !s->report_at || !s->chunk_s || !s->holding || !s->grant || !s->grant_req))
        rc = trib_errorf(TRIB_ERR_NOMEM, "ps server: out of memory");
    for (size_t w = 0; rc == TRIB_OK && w < W; w++)
        s->notice_req[w] = s->reply_req[w] = s->grant_req[w] = MPI_REQUEST_NULL;
    if (rc != TRIB_OK) {
        trib_ps_server_destroy(s);
        return rc;
    }
    for (size_t r = 0; r < s->block.n_rows; r++)
        s->block.ids[r] = (int64_t)(s->first + r);
    *out = s;
    return TRIB_OK;
}

void trib_ps_server_set_bell(trib_ps_server_t *s, const trib_ps_bell_t *b) { s->bell = b; }

/* A held push's buffer, done with: kept for a later receive while there is room. */
static void release_buffer(trib_ps_server_t *s, unsigned char *buf, size_t cap)
{
    if (buf && s->n_spare < s->max_spare) {
        s->spare[s->n_spare] = buf;
        s->spare_cap[s->n_spare++] = cap;
    } else {
        free(buf);
    }
}

static void clear_queues(trib_ps_server_t *s)
{
    for (size_t i = 0; i < s->n_deferred; i++)
        free(s->deferred[i].rows);
    for (size_t i = 0; i < s->n_pending; i++)
        release_buffer(s, s->pending[i].msg, s->pending[i].cap);
    s->n_deferred = s->n_pending = 0;
}

/* Keeps the snapshots of epochs [lo, hi) and drops the others. */
static void keep_snapshots(trib_ps_server_t *s, int64_t lo, int64_t hi)
{
    size_t keep = 0;
    for (size_t i = 0; i < s->n_snaps; i++) {
        if (s->snaps[i].epoch >= lo && s->snaps[i].epoch < hi) {
            s->snaps[keep++] = s->snaps[i];
        } else if (!s->has_spare_snap) { /* kept for the next snapshot */
            s->spare_snap = s->snaps[i].b;
            s->has_spare_snap = 1;
        } else {
            trib_mf_block_destroy(&s->snaps[i].b);
        }
    }
    s->n_snaps = keep;
}

/* Completes the sends of replies and notices (their receivers have them, or will take them). */
static void finish_sends(trib_ps_server_t *s)
{
    if (s->reply_req)
        trib_ps_wait_reqs(s->bell, s->o.idle_sleep, s->o.n_workers, s->reply_req, MPI_STATUSES_IGNORE);
    if (s->notice_req)
        trib_ps_wait_reqs(s->bell, s->o.idle_sleep, s->o.n_workers, s->notice_req, MPI_STATUSES_IGNORE);
    if (s->grant_req)
        trib_ps_wait_reqs(s->bell, s->o.idle_sleep, s->o.n_workers, s->grant_req, MPI_STATUSES_IGNORE);
}

void trib_ps_server_destroy(trib_ps_server_t *s)
{
    if (!s)
        return;
    clear_queues(s);
    keep_snapshots(s, INT64_MAX, INT64_MAX); /* none */
    if (s->has_spare_snap)
        trib_mf_block_destroy(&s->spare_snap);
    for (size_t i = 0; i < s->n_spare; i++)
        free(s->spare[i]);
    free(s->spare);
    free(s->spare_cap);
    free(s->snaps);
    free(s->deferred);
    free(s->pending);
    free(s->rbuf);
    for (int w = 0; s->reply_buf && w < s->o.n_workers; w++)
        free(s->reply_buf[w]);
    free(s->reply_buf);
    free(s->reply_cap);
    free(s->reply_req);
    free(s->notice_req);
    free(s->notice);
    free(s->ended);
    free(s->clock);
    free(s->owner);
    free(s->chunk_done);
    free(s->pushed);
    free(s->report_at);
    free(s->chunk_s);
    free(s->holding);
    free(s->grant);
    free(s->grant_req);
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

static const trib_mf_block_t *find_snapshot(const trib_ps_server_t *s, int64_t epoch)
{
    for (size_t i = 0; i < s->n_snaps; i++)
        if (s->snaps[i].epoch == epoch)
            return &s->snaps[i].b;
    return NULL;
}

/* Worker w's reply buffer, free for a new reply of `bytes` (the previous one has left). */
static int reply_buffer(trib_ps_server_t *s, int w, size_t bytes, unsigned char **out)
{
    *out = NULL;
    if (trib_ps_wait_reqs(s->bell, s->o.idle_sleep, 1, &s->reply_req[w], MPI_STATUSES_IGNORE) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps server %d: MPI_Wait for a reply to rank %d failed", s->j, w);
    int rc = grow(&s->reply_buf[w], &s->reply_cap[w], bytes);
    *out = s->reply_buf[w];
    return rc;
}

/* Reply to worker w: header + the rows' (factors, bias, AdaGrad sum), in request order. */
static int answer_pull(trib_ps_server_t *s, int w, int64_t clock, int64_t chunk, const uint32_t *rows, uint64_t n)
{
    size_t bytes = sizeof(trib_ps_header_t) + trib_ps_payload_bytes(TRIB_PS_MSG_REPLY, n, s->o.k);
    unsigned char *buf = NULL;
    int rc = reply_buffer(s, w, bytes, &buf);
    if (rc != TRIB_OK)
        return rc;
    const trib_mf_block_t *src = &s->block;
    if (s->settle) { /* evaluation and the model file: the rows after the epoch, when kept */
        const trib_mf_block_t *snap = find_snapshot(s, (int64_t)s->epoch - 1);
        src = snap ? snap : src;
    } else {
        /* Clocks of updates this reply may lack: c - min_clock (negative: fresher than needed); with work
         * sharing chunks: g - wm, the chunks handed out before g whose pushes may be missing. */
        int64_t lag = chunk >= 0 ? chunk - (int64_t)s->wm : clock - s->min_clock;
        if (lag > s->st.max_staleness)
            s->st.max_staleness = lag;
        int bound = s->o.consistency == TRIB_PS_ASYNC ? s->o.staleness : trib_ps_effective_staleness(&s->o);
        if (s->o.check_staleness && bound >= 0) {
            int bad = lag > bound;
            for (size_t i = 0; !bad && chunk < 0 && i < s->n_pending; i++)
                bad = s->pending[i].clock < clock - bound; /* an update that should be visible is held back */
            s->st.violations += (uint64_t)bad;
            s->bound_hit |= bad;
        }
    }
    uint32_t flags = (s->bound_hit ? TRIB_PS_FLAG_BOUND_HIT : 0u) |
                     (s->pausing && !s->settle ? TRIB_PS_FLAG_PAUSING : 0u) |
                     (s->settle || s->clock[w] >= clock ? TRIB_PS_FLAG_OWN : 0u);
    trib_ps_header_t h = {TRIB_PS_MAGIC, TRIB_PS_PROTOCOL_VERSION, TRIB_PS_MSG_REPLY, w, flags, s->min_clock, n,
                          s->epoch, 0};
    memcpy(buf, &h, sizeof h);
    float *out = (float *)(void *)(buf + sizeof h);
    size_t k = s->o.k;
    for (uint64_t i = 0; i < n; i++, out += s->rowf) {
        size_t r = (size_t)(rows[i] - s->first);
        memcpy(out, trib_mf_row(src, r), k * sizeof(float));
        out[k] = src->bias[r];
        out[k + 1] = src->adagrad[r];
    }
    s->st.pulls++;
    s->st.rows_served += n;
    if (MPI_Isend(buf, (int)bytes, MPI_BYTE, w, TRIB_PS_TAG_REPLY, s->o.comm, &s->reply_req[w]) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps server %d: MPI_Isend of a reply to rank %d failed", s->j, w);
    trib_ps_bell_ring(s->bell, w);
    return TRIB_OK;
}

/* A reply without rows: flags TRIB_PS_FLAG_ERROR (the pull was bad) or TRIB_PS_FLAG_RETRY (pausing). */
static int answer_empty(trib_ps_server_t *s, int w, uint32_t flags)
{
    unsigned char *buf = NULL;
    int rc = reply_buffer(s, w, sizeof(trib_ps_header_t), &buf);
    if (rc != TRIB_OK)
        return rc;
    trib_ps_header_t h = {TRIB_PS_MAGIC, TRIB_PS_PROTOCOL_VERSION, TRIB_PS_MSG_REPLY, w, flags,
                          s->min_clock, 0, s->epoch, 0};
    memcpy(buf, &h, sizeof h);
    if (MPI_Isend(buf, (int)sizeof h, MPI_BYTE, w, TRIB_PS_TAG_REPLY, s->o.comm, &s->reply_req[w]) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps server %d: MPI_Isend of an empty reply to rank %d failed", s->j, w);
    trib_ps_bell_ring(s->bell, w);
    return TRIB_OK;
}

/* rows += scale x deltas for a PUSH payload (ids, then k+2 floats per row). */
static void apply_push(trib_ps_server_t *s, const unsigned char *payload, uint64_t n)
{
    const uint32_t *ids = (const uint32_t *)(const void *)payload;
    const float *d = (const float *)(const void *)(payload + n * sizeof(uint32_t));
    size_t k = s->o.k;
    uint64_t scaled = s->o.scaled_rows ? s->o.scaled_rows : UINT64_MAX;
    for (uint64_t i = 0; i < n; i++, d += s->rowf) {
        float a = ids[i] < scaled ? s->o.scale : 1.0f;
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

/* Whether a pull at `clock` (work sharing: for chunk `chunk` >= 0) may be answered now. */
static int ready(const trib_ps_server_t *s, int64_t clock, int64_t chunk)
{
    int b = trib_ps_effective_staleness(&s->o);
    if (s->settle || b < 0)
        return 1;
    return chunk >= 0 ? (int64_t)s->wm >= chunk - b : s->min_clock >= clock - b;
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
        apply_push(s, s->pending[i].msg + sizeof(trib_ps_header_t), s->pending[i].count);
        release_buffer(s, s->pending[i].msg, s->pending[i].cap);
    }
    memmove(s->pending, s->pending + i, (s->n_pending - i) * sizeof *s->pending);
    s->n_pending -= i;
}

static int begin_pausing(trib_ps_server_t *s);

/* Keeps a copy of the rows as they are now: the model after `epoch`. */
static int take_snapshot(trib_ps_server_t *s, int64_t epoch)
{
    if (find_snapshot(s, epoch))
        return TRIB_OK;
    if (s->n_snaps == s->cap_snaps) {
        size_t c = s->cap_snaps ? 2 * s->cap_snaps : 4;
        snapshot_t *p = realloc(s->snaps, c * sizeof *p);
        if (!p)
            return trib_errorf(TRIB_ERR_NOMEM, "ps server: out of memory");
        s->snaps = p;
        s->cap_snaps = c;
    }
    snapshot_t *sn = &s->snaps[s->n_snaps];
    int rc = TRIB_OK;
    if (s->has_spare_snap) { /* the same shape: every snapshot is of this server's block */
        sn->b = s->spare_snap;
        s->has_spare_snap = 0;
    } else if ((rc = trib_mf_block_create(&sn->b, s->block.n_rows, s->block.k)) != TRIB_OK) {
        return rc;
    }
    memcpy(sn->b.values, s->block.values, s->block.n_values * sizeof *s->block.values);
    memcpy(sn->b.ids, s->block.ids, s->block.n_rows * sizeof *s->block.ids);
    sn->epoch = epoch;
    s->n_snaps++;
    return TRIB_OK;
}

/* Answers every deferred pull that became ready (while rc is TRIB_OK); returns rc or the first error. */
static int answer_ready(trib_ps_server_t *s, int rc)
{
    size_t keep = 0;
    for (size_t i = 0; i < s->n_deferred; i++) {
        deferred_pull_t *d = &s->deferred[i];
        if (rc == TRIB_OK && ready(s, d->clock, d->chunk)) {
            rc = answer_pull(s, d->worker, d->clock, d->chunk, d->rows, d->count);
            free(d->rows);
        } else {
            s->deferred[keep++] = *d;
        }
    }
    s->n_deferred = keep;
    return rc;
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
    uint64_t cpe = s->o.clocks_per_epoch;
    if (cpe && !s->o.chunks_per_epoch && m > 0 && (uint64_t)m % cpe == 0) /* every worker finished an epoch */
        rc = take_snapshot(s, (int64_t)((uint64_t)m / cpe) - 1);
    if (rc == TRIB_OK && !s->settle && m >= s->target) /* before any waiting pull is answered: they say so */
        rc = begin_pausing(s);
    return answer_ready(s, rc);
}

/* Work sharing: chunk g's END_CLOCK push came; the pulls that waited for it and the chunks before it go. */
static int chunk_pushed(trib_ps_server_t *s, uint64_t g)
{
    s->pushed[g] = 1;
    uint64_t wm = s->wm;
    while (s->wm < s->o.chunks_per_epoch && s->pushed[s->wm])
        s->wm++;
    return s->wm == wm ? TRIB_OK : answer_ready(s, TRIB_OK);
}

/* ------------------------------------------------------------------ messages */

static int defer_pull(trib_ps_server_t *s, int w, int64_t clock, int64_t chunk, const uint32_t *rows, uint64_t n)
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
    s->deferred[s->n_deferred++] = (deferred_pull_t){w, clock, chunk, n, copy};
    s->st.deferred++;
    s->bound_hit = 1;
    return TRIB_OK;
}

/* Holds the push in s->rbuf: the pending entry takes the buffer over (no copy), the next receive gets a spare
 * one (or a new one). */
static int hold_push(trib_ps_server_t *s, int w, int64_t clock, uint64_t n)
{
    if (s->n_pending == s->cap_pending) {
        size_t c = s->cap_pending ? 2 * s->cap_pending : 8;
        pending_push_t *p = realloc(s->pending, c * sizeof *p);
        if (!p)
            return trib_errorf(TRIB_ERR_NOMEM, "ps server: out of memory");
        s->pending = p;
        s->cap_pending = c;
    }
    s->pending[s->n_pending++] = (pending_push_t){w, clock, s->seq++, n, s->rbuf, s->rcap};
    s->rbuf = NULL;
    s->rcap = 0;
    if (s->n_spare) {
        s->rbuf = s->spare[--s->n_spare];
        s->rcap = s->spare_cap[s->n_spare];
    }
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
    else if (s->ended[src])
        what = "the worker already ended this round";
    else if (h->type == TRIB_PS_MSG_NOTICE || h->type == TRIB_PS_MSG_GRANT)
        what = "a server does not accept notices or grants";
    else if (h->type == TRIB_PS_MSG_CLAIM && (!s->o.chunks_per_epoch || s->j != 0 || s->settle))
        what = "claims go to server 0 in a round with work sharing";
    else if (h->type == TRIB_PS_MSG_CLAIM && h->clock != -1 &&
             (h->clock < 0 || (uint64_t)h->clock >= s->o.chunks_per_epoch || s->owner[h->clock] != src ||
              s->chunk_done[h->clock]))
        what = "it reports a chunk it was not given, or one already done";
    else if ((h->type == TRIB_PS_MSG_PULL || h->type == TRIB_PS_MSG_PUSH) && !s->settle && s->o.chunks_per_epoch &&
             (h->chunk < 1 || h->chunk > s->o.chunks_per_epoch))
        what = "a pull or push with work sharing names no chunk of the round";
    else if ((h->type == TRIB_PS_MSG_PULL || h->type == TRIB_PS_MSG_PUSH) && (s->settle || !s->o.chunks_per_epoch) &&
             h->chunk != 0)
        what = "it names a chunk without work sharing";
    else if (h->type == TRIB_PS_MSG_PUSH && (h->flags & TRIB_PS_FLAG_END_CLOCK) && h->chunk && s->pushed[h->chunk - 1])
        what = "it ends a chunk already pushed";
    else if (s->settle && (h->type == TRIB_PS_MSG_PUSH || h->type == TRIB_PS_MSG_PAUSE))
        what = "pushes and pauses are not allowed while settling";
    else if (!s->settle && h->type == TRIB_PS_MSG_DONE)
        what = "DONE ends a settle phase, not a round";
    else if (s->settle != !!(h->flags & TRIB_PS_FLAG_SETTLE))
        what = s->settle ? "expected a settle-phase message" : "a settle-phase message during training";
    else if (!s->settle && h->type == TRIB_PS_MSG_PUSH && h->clock != s->clock[src])
        what = "its clock is not the worker's current clock";
    else if (!s->settle && h->type == TRIB_PS_MSG_PULL && h->clock != s->clock[src] && h->clock != s->clock[src] + 1)
        what = "its clock is neither the worker's current clock nor the next";
    if (!what)
        return TRIB_OK;
    return trib_errorf(TRIB_ERR_PROTOCOL, "ps server %d (rank %d): unexpected message from rank %d (type %u, "
                       "epoch %u, clock %" PRId64 "): %s", s->j, s->rank, src, (unsigned)h->type,
                       (unsigned)h->epoch, h->clock, what);
}

/*
 * Work sharing: whether worker w should take one more chunk with `left` chunks not handed out.
 * It should not when the others still at work (holding a chunk: they will ask again) would finish
 * all of them before w finished one: w's time for the chunks it holds and this one exceeds (left +
 * the chunks they hold) / (their chunks per second) plus the fastest one's time per chunk (it may
 * be in the middle of one).  So at an epoch's end a straggler stops taking chunks and the fast
 * workers clear them, where a straggler's last chunk would hold the round; workers of equal speed
 * always take one.  Unknown speeds: take it.  A worker is never refused when no other holds a
 * chunk: the round must not wait for a worker that was refused and is only waiting for it to end.
 */
static int should_take(const trib_ps_server_t *s, int w, uint64_t left)
{
    double mine = (1 + s->holding[w]) * s->chunk_s[w], rate = 0, fastest = 0, held = 0;
    if (!(mine > 0))
        return 1;
    for (int v = 0; v < s->o.n_workers; v++) {
        if (v == w || s->holding[v] == 0)
            continue;
        if (!(s->chunk_s[v] > 0))
            return 1;
        rate += 1.0 / s->chunk_s[v];
        held += s->holding[v];
        fastest = fastest > 0 && fastest < s->chunk_s[v] ? fastest : s->chunk_s[v];
    }
    return rate == 0 || mine <= ((double)left + held) / rate + fastest;
}

/*
 * Work sharing: whether worker w, which holds a chunk, may be given one more now.  A chunk given and
 * not started waits for the one in hand, so on a slow worker it holds back the round's end (the others
 * run out of chunks and wait for two of its chunks) and under ssp every chunk handed out more than s
 * after it (their pulls wait for its push).  So a worker much slower than the fastest other one (over
 * 2x its time per chunk) gets its next chunk only when it asks again after the one in hand.  Unknown
 * speeds: yes.
 */
static int may_queue(const trib_ps_server_t *s, int w)
{
    if (s->holding[w] == 0 || !(s->chunk_s[w] > 0))
        return 1;
    double fastest = 0;
    for (int v = 0; v < s->o.n_workers; v++)
        if (v != w && s->chunk_s[v] > 0 && (fastest == 0 || s->chunk_s[v] < fastest))
            fastest = s->chunk_s[v];
    return fastest == 0 || s->chunk_s[w] <= 2 * fastest;
}

/*
 * Server 0 under work sharing: takes worker w's report of chunk `done` (-1: none) and answers its claim
 * (for a chunk after those it holds: given and not reported).  A worker's seconds per chunk are the
 * time between its reports (a running mean), which covers everything it does per chunk.
 */
static int claim(trib_ps_server_t *s, int w, int64_t done)
{
    double now = trib_now();
    int rc = TRIB_OK;
    if (done >= 0) {
        if (s->report_at[w] > 0) {
            double took = now - s->report_at[w];
            s->chunk_s[w] = s->chunk_s[w] > 0 ? 0.5 * s->chunk_s[w] + 0.5 * took : took;
        }
        s->report_at[w] = now;
        s->chunk_done[done] = 1;
        s->holding[w]--;
        if (++s->dyn_done == s->o.chunks_per_epoch) { /* the epoch is complete: its pushes all applied */
            s->dyn_complete = 1;
            rc = begin_pausing(s);
        }
    }
    int64_t give = -1;
    int left = rc == TRIB_OK && !s->pausing && s->dyn_next < s->o.chunks_per_epoch; /* chunks to hand out */
    if (left && !may_queue(s, w)) {
        give = -2; /* not now: ask again after the chunk in hand */
    } else if (left && should_take(s, w, s->o.chunks_per_epoch - s->dyn_next)) {
        give = (int64_t)s->dyn_next++;
        s->owner[give] = w;
        s->holding[w]++;
        if (!(s->report_at[w] > 0)) /* its first chunk of the round: the clock starts now */
            s->report_at[w] = now;
    }
    if (rc != TRIB_OK)
        return rc;
    if (trib_ps_wait_reqs(s->bell, s->o.idle_sleep, 1, &s->grant_req[w], MPI_STATUSES_IGNORE) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps server %d: MPI_Wait for a grant to rank %d failed", s->j, w);
    s->grant[w] = (trib_ps_header_t){TRIB_PS_MAGIC, TRIB_PS_PROTOCOL_VERSION, TRIB_PS_MSG_GRANT, w, 0, give, 0,
                                     s->epoch, 0};
    if (MPI_Isend(&s->grant[w], (int)sizeof s->grant[w], MPI_BYTE, w, TRIB_PS_TAG_GRANT, s->o.comm,
                  &s->grant_req[w]) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps server %d: MPI_Isend of a grant to rank %d failed", s->j, w);
    trib_ps_bell_ring(s->bell, w);
    return TRIB_OK;
}

static int handle(trib_ps_server_t *s, const unsigned char *msg, size_t len, int src)
{
    trib_ps_header_t h;
    int rc = trib_ps_header_check(msg, len, src, s->o.k, &h);
    if (rc == TRIB_OK)
        rc = check_semantics(s, &h, src);
    const unsigned char *payload = msg + sizeof h;
    if (rc == TRIB_OK && h.count)
        rc = check_rows(s, (const uint32_t *)(const void *)payload, h.count, src);
    if (rc != TRIB_OK) {
        trib_ps_header_t raw;
        memset(&raw, 0, sizeof raw);
        memcpy(&raw, msg, len < sizeof raw ? len : sizeof raw);
        /* A worker that sent what looks like a pull waits for an answer: give it one. */
        if (src < s->o.n_workers && raw.type == TRIB_PS_MSG_PULL)
            answer_empty(s, src, TRIB_PS_FLAG_ERROR);
        return rc;
    }
    switch ((trib_ps_msg_type_t)h.type) {
    case TRIB_PS_MSG_PULL:
        if (ready(s, h.clock, (int64_t)h.chunk - 1))
            return answer_pull(s, src, h.clock, (int64_t)h.chunk - 1, (const uint32_t *)(const void *)payload,
                               h.count);
        return defer_pull(s, src, h.clock, (int64_t)h.chunk - 1, (const uint32_t *)(const void *)payload, h.count);
    case TRIB_PS_MSG_PUSH:
        s->st.pushes++;
        if (s->o.consistency == TRIB_PS_BSP)
            rc = hold_push(s, src, h.clock, h.count);
        else
            apply_push(s, payload, h.count);
        if (rc == TRIB_OK && (h.flags & TRIB_PS_FLAG_END_CLOCK)) {
            s->clock[src]++;
            rc = clocks_advanced(s);
            if (rc == TRIB_OK && h.chunk)
                rc = chunk_pushed(s, h.chunk - 1);
        }
        return rc;
    case TRIB_PS_MSG_DONE:
    case TRIB_PS_MSG_PAUSE:
        s->ended[src] = 1;
        s->n_done++;
        return TRIB_OK;
    case TRIB_PS_MSG_CLAIM:
        return claim(s, src, h.clock);
    case TRIB_PS_MSG_REPLY:
    case TRIB_PS_MSG_NOTICE:
    case TRIB_PS_MSG_GRANT:
        break;
    }
    return trib_errorf(TRIB_ERR_INTERNAL, "ps server: unreachable message type");
}

/* ------------------------------------------------------------------ serve loop */

/*
 * The next request: blocking probe, or polling the job's way (train/ps_wait.h: sleeps of 5 us
 * growing to 200 us, on the doorbell when there is one).  *got = 0 when polling saw *stop set
 * before a message came (the caller then starts pausing and asks again).
 */
static int next_request(const trib_ps_server_t *s, volatile sig_atomic_t *stop, MPI_Status *st, int *got)
{
    *got = 1;
    if (!s->o.idle_sleep)
        return MPI_Probe(MPI_ANY_SOURCE, TRIB_PS_TAG_REQUEST, s->o.comm, st);
    return trib_ps_wait_probe(s->bell, s->o.comm, TRIB_PS_TAG_REQUEST, 200000, s->pausing ? NULL : stop, st, got);
}

/* NOTICE to every worker (once a round): pause at your next mini-batch boundary. */
static int begin_pausing(trib_ps_server_t *s)
{
    if (s->pausing)
        return TRIB_OK;
    s->pausing = 1;
    for (int w = 0; w < s->o.n_workers; w++) {
        s->notice[w] = (trib_ps_header_t){TRIB_PS_MAGIC, TRIB_PS_PROTOCOL_VERSION, TRIB_PS_MSG_NOTICE, w, 0,
                                          s->min_clock, 0, s->epoch, 0};
        if (MPI_Isend(&s->notice[w], (int)sizeof s->notice[w], MPI_BYTE, w, TRIB_PS_TAG_NOTICE, s->o.comm,
                      &s->notice_req[w]) != MPI_SUCCESS)
            return trib_errorf(TRIB_ERR_MPI, "ps server %d: MPI_Isend of a notice to rank %d failed", s->j, w);
        trib_ps_bell_ring(s->bell, w);
    }
    return TRIB_OK;
}

/*
 * Pausing: a deferred pull waits for a worker's clock; once every worker either paused or
 * waits itself, no clock can move this round, so the waiting pulls are answered RETRY.
 */
static int release_waiting(trib_ps_server_t *s)
{
    if (!s->pausing || !s->n_deferred || s->n_done + (int)s->n_deferred < s->o.n_workers)
        return TRIB_OK;
    int rc = TRIB_OK;
    for (size_t i = 0; i < s->n_deferred; i++) {
        if (rc == TRIB_OK)
            rc = answer_empty(s, s->deferred[i].worker, TRIB_PS_FLAG_RETRY);
        free(s->deferred[i].rows);
    }
    s->n_deferred = 0;
    return rc;
}

static void note_error(trib_ps_server_t *s, int rc)
{
    if (rc != TRIB_OK && s->err == TRIB_OK) {
        s->err = rc;
        snprintf(s->errmsg, sizeof s->errmsg, "%s", trib_last_error(rc));
    }
}

/* Serves one round (settle = 0) or settle phase (settle = 1) until every worker ended it. */
static int serve(trib_ps_server_t *s, uint32_t epoch, int settle, volatile sig_atomic_t *stop)
{
    s->epoch = epoch;
    s->settle = settle;
    s->bound_hit = 0;
    s->n_done = 0;
    s->pausing = 0;
    s->err = TRIB_OK;
    s->errmsg[0] = '\0';
    memset(s->ended, 0, (size_t)s->o.n_workers);
    int64_t target = s->o.chunks_per_epoch ? INT64_MAX : (int64_t)((uint64_t)(epoch + 1) * s->o.clocks_per_epoch);
    s->target = settle ? INT64_MAX : target;
    if (!settle) { /* work sharing: the round's chunks (every round starts its epoch afresh) */
        s->dyn_next = s->dyn_done = 0;
        s->dyn_complete = 0;
        s->wm = 0;
        for (uint64_t c = 0; c < s->o.chunks_per_epoch; c++) {
            s->owner[c] = -1;
            s->chunk_done[c] = 0;
            s->pushed[c] = 0;
        }
        for (int w = 0; w < s->o.n_workers; w++) {
            s->report_at[w] = 0;
            s->holding[w] = 0;
        }
    }
    int fatal = TRIB_OK;
    if (!settle && s->min_clock >= target)
        fatal = begin_pausing(s); /* the epoch was complete before the round began */
    while (fatal == TRIB_OK && s->n_done < s->o.n_workers) {
        MPI_Status st;
        int n = 0, got = 1;
        if (next_request(s, settle ? NULL : stop, &st, &got) != MPI_SUCCESS ||
            (got && (MPI_Get_count(&st, MPI_BYTE, &n) != MPI_SUCCESS || n < 0))) {
            fatal = trib_errorf(TRIB_ERR_MPI, "ps server %d: MPI_Probe failed", s->j);
            break;
        }
        int rc = TRIB_OK;
        if (got) {
            rc = grow(&s->rbuf, &s->rcap, (size_t)n + 1);
            if (rc != TRIB_OK) {
                fatal = rc;
                break;
            }
            if (MPI_Recv(s->rbuf, n, MPI_BYTE, st.MPI_SOURCE, TRIB_PS_TAG_REQUEST, s->o.comm, MPI_STATUS_IGNORE) !=
                MPI_SUCCESS) {
                fatal = trib_errorf(TRIB_ERR_MPI, "ps server %d: MPI_Recv from rank %d failed", s->j,
                                    st.MPI_SOURCE);
                break;
            }
            trib_ps_bell_ring(s->bell, st.MPI_SOURCE); /* its send may now complete */
            double t0 = trib_now();
            rc = handle(s, s->rbuf, (size_t)n, st.MPI_SOURCE);
            s->st.busy_seconds += trib_now() - t0;
            note_error(s, rc);
        }
        if (!settle && rc != TRIB_ERR_MPI && rc != TRIB_ERR_NOMEM &&
            (s->min_clock >= target || (stop && *stop) || s->n_done > 0))
            rc = begin_pausing(s);
        if (!settle && (rc == TRIB_OK || rc == TRIB_ERR_PROTOCOL))
            rc = release_waiting(s);
        note_error(s, rc);
        if (rc == TRIB_ERR_MPI || rc == TRIB_ERR_NOMEM)
            fatal = rc;
    }
    finish_sends(s);
    /* Normally empty here: a settle phase defers nothing, a round answers or retries every pull. */
    if (fatal == TRIB_OK && s->n_deferred && s->err == TRIB_OK) {
        s->err = trib_errorf(TRIB_ERR_INTERNAL, "ps server %d: %zu pulls left at the end of a round", s->j,
                             s->n_deferred);
        snprintf(s->errmsg, sizeof s->errmsg, "%s", trib_last_error(s->err));
    }
    for (size_t i = 0; i < s->n_deferred; i++)
        free(s->deferred[i].rows);
    s->n_deferred = 0;
    /* Work sharing: every worker paused after its last push, so the rows are the epoch's end (server 0
     * knows whether every chunk was done; the others keep the snapshot either way: an incomplete round
     * ends the run, and the snapshot of the epoch before is the one used then). */
    if (fatal == TRIB_OK && !settle && s->o.chunks_per_epoch && (s->j != 0 || s->dyn_complete)) {
        keep_snapshots(s, INT64_MIN, (int64_t)epoch);
        fatal = take_snapshot(s, (int64_t)epoch);
    }
    if (fatal != TRIB_OK)
        return fatal;
    return s->err == TRIB_OK ? TRIB_OK : trib_errorf(s->err, "%s", s->errmsg);
}

void trib_ps_server_restart(trib_ps_server_t *s, int64_t clock)
{
    clear_queues(s);
    keep_snapshots(s, INT64_MAX, INT64_MAX); /* none */
    for (int w = 0; w < s->o.n_workers; w++)
        s->clock[w] = clock;
    s->min_clock = clock;
    if (s->o.clocks_per_epoch)
        take_snapshot(s, (int64_t)((uint64_t)clock / s->o.clocks_per_epoch) - 1); /* out of memory: none, the
                                                                                     live rows answer instead */
    trib_clear_error();
}

int trib_ps_server_serve_round(trib_ps_server_t *s, uint32_t epoch, volatile sig_atomic_t *stop, int *complete)
{
    int rc = serve(s, epoch, 0, stop);
    if (s->o.chunks_per_epoch) /* only server 0 knows: the others say yes */
        *complete = s->j != 0 || s->dyn_complete;
    else
        *complete = s->o.clocks_per_epoch &&
                    s->min_clock >= (int64_t)((uint64_t)(epoch + 1) * s->o.clocks_per_epoch);
    return rc;
}

int trib_ps_server_serve_settle(trib_ps_server_t *s, uint32_t epoch) { return serve(s, epoch, 1, NULL); }

const trib_mf_block_t *trib_ps_server_snapshot(const trib_ps_server_t *s, int64_t epoch)
{
    return find_snapshot(s, epoch);
}

void trib_ps_server_drop_snapshots(trib_ps_server_t *s, int64_t epoch) { keep_snapshots(s, epoch, INT64_MAX); }
