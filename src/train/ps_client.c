/*
 * ps_client.c - a worker's side of the parameter-server protocol
 * (tributary/ps.h): batched pulls into the worker's item cache, batched
 * pushes of deltas, clocks, and the end of a phase.
 *
 * A request for rows (ascending) splits into one contiguous run per server,
 * because servers hold contiguous ranges.  For a pull the client first posts
 * one receive per involved server with the exact reply size (it knows the
 * row count), then sends the requests, then waits for all of them: a server
 * never blocks on a reply (the receive is already posted), so there is no
 * send/send cycle between a worker and a server.  Replies are checked
 * (header, worker, row count, size) before a byte reaches the cache.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "train/ps_wait.h"
#include "train/ps_wire.h"

struct trib_ps_client {
    trib_ps_options_t o;
    int w;
    size_t rowf;
    trib_mf_block_t *cache;
    uint32_t epoch;
    int64_t clock;
    int64_t chunk;             /* work sharing: the chunk the next pull or push is for (-1: none) */
    int settle;
    int bound_hit;             /* a reply of this round carried TRIB_PS_FLAG_BOUND_HIT */
    int retry;                 /* the last finished pull was answered RETRY */
    int notices;               /* NOTICEs received this round */
    uint64_t *first, *end;     /* per server: its rows */
    size_t *seg_begin, *seg_n; /* per server: run of the current push */
    /* the pull in flight */
    int pulling, pull_nr, pull_ns;
    unsigned char *own;        /* per server: its reply to the last pull had TRIB_PS_FLAG_OWN */
    const uint32_t *pull_rows;
    size_t *pseg_begin, *pseg_n;
    int *pull_which;
    unsigned char **psbuf, **rbuf;
    size_t *pscap, *rcap;
    MPI_Request *preq;         /* 2 * S */
    MPI_Status *psts;
    /* pushes: two buffers per server, used in turn */
    unsigned char **pushbuf[2];
    size_t *pushcap[2];
    MPI_Request *pushreq[2];   /* S each */
    int cur;
    /* notices and pauses */
    trib_ps_header_t note_in, *pause_out; /* pause_out: S */
    MPI_Request *req;          /* S */
    const trib_ps_bell_t *bell; /* doorbells (NULL: none) */
    /* work sharing: the claim in flight */
    int claiming;
    trib_ps_header_t claim_out, claim_in;
    MPI_Request claim_req[2];
};

int trib_ps_client_create(const trib_ps_options_t *o, int w, trib_mf_block_t *cache, trib_ps_client_t **out)
{
    if (!o || !cache || !out || w < 0 || w >= o->n_workers || o->n_servers < 1 || cache->k != o->k ||
        cache->n_rows != o->n_rows)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "ps client: bad options");
    *out = NULL;
    trib_ps_client_t *c = calloc(1, sizeof *c);
    size_t S = (size_t)o->n_servers;
    int ok = c != NULL;
    if (ok) {
        c->o = *o; /* n_servers first: destroy needs it */
        c->chunk = -1;
        c->first = calloc(S, sizeof *c->first);
        c->end = calloc(S, sizeof *c->end);
        c->seg_begin = calloc(S, sizeof *c->seg_begin);
        c->seg_n = calloc(S, sizeof *c->seg_n);
        c->pseg_begin = calloc(S, sizeof *c->pseg_begin);
        c->pseg_n = calloc(S, sizeof *c->pseg_n);
        c->pull_which = calloc(S, sizeof *c->pull_which);
        c->psbuf = calloc(S, sizeof *c->psbuf);
        c->rbuf = calloc(S, sizeof *c->rbuf);
        c->pscap = calloc(S, sizeof *c->pscap);
        c->rcap = calloc(S, sizeof *c->rcap);
        c->preq = calloc(2 * S, sizeof *c->preq);
        c->psts = calloc(2 * S, sizeof *c->psts);
        c->pause_out = calloc(S, sizeof *c->pause_out);
        c->own = calloc(S, 1);
        c->req = calloc(S, sizeof *c->req);
        ok = c->first && c->end && c->seg_begin && c->seg_n && c->pseg_begin && c->pseg_n && c->pull_which &&
             c->psbuf && c->rbuf && c->pscap && c->rcap && c->preq && c->psts && c->pause_out && c->req && c->own;
        for (int b = 0; b < 2; b++) {
            c->pushbuf[b] = calloc(S, sizeof *c->pushbuf[b]);
            c->pushcap[b] = calloc(S, sizeof *c->pushcap[b]);
            c->pushreq[b] = malloc(S * sizeof *c->pushreq[b]);
            ok = ok && c->pushbuf[b] && c->pushcap[b] && c->pushreq[b];
            for (size_t j = 0; c->pushreq[b] && j < S; j++)
                c->pushreq[b][j] = MPI_REQUEST_NULL;
        }
    }
    if (!ok) {
        trib_ps_client_destroy(c);
        return trib_errorf(TRIB_ERR_NOMEM, "ps client: out of memory");
    }
    c->w = w;
    c->rowf = TRIB_PS_ROW_FLOATS(o->k);
    c->cache = cache;
    for (int j = 0; j < o->n_servers; j++)
        trib_ps_server_rows(o->n_rows, o->n_servers, j, &c->first[j], &c->end[j]);
    *out = c;
    return TRIB_OK;
}

void trib_ps_client_set_bell(trib_ps_client_t *c, const trib_ps_bell_t *b) { c->bell = b; }

static void free_bufs(unsigned char **b, int n)
{
    for (int j = 0; b && j < n; j++)
        free(b[j]);
    free(b);
}

void trib_ps_client_destroy(trib_ps_client_t *c)
{
    if (!c)
        return;
    int S = c->o.n_servers;
    free_bufs(c->psbuf, S);
    free_bufs(c->rbuf, S);
    for (int b = 0; b < 2; b++) {
        if (c->pushreq[b]) /* a push still leaving: let it (the servers receive everything) */
            MPI_Waitall(S, c->pushreq[b], MPI_STATUSES_IGNORE);
        free_bufs(c->pushbuf[b], S);
        free(c->pushcap[b]);
        free(c->pushreq[b]);
    }
    free(c->first);
    free(c->end);
    free(c->seg_begin);
    free(c->seg_n);
    free(c->pseg_begin);
    free(c->pseg_n);
    free(c->pull_which);
    free(c->pscap);
    free(c->rcap);
    free(c->preq);
    free(c->psts);
    free(c->pause_out);
    free(c->req);
    free(c->own);
    free(c);
}

void trib_ps_client_begin(trib_ps_client_t *c, uint32_t epoch, int64_t clock, int settle)
{
    c->epoch = epoch;
    if (!settle)
        c->clock = clock;
    c->settle = settle;
    c->chunk = -1;
    c->bound_hit = 0;
    c->notices = 0;
    c->retry = 0;
}

int64_t trib_ps_client_clock(const trib_ps_client_t *c) { return c->clock; }

void trib_ps_client_set_chunk(trib_ps_client_t *c, int64_t chunk) { c->chunk = chunk; }

int trib_ps_client_bound_hit(const trib_ps_client_t *c) { return c->bound_hit; }

int trib_ps_client_retry(const trib_ps_client_t *c) { return c->retry; }

int trib_ps_client_pull_pending(const trib_ps_client_t *c) { return c->pulling; }

static int grow(unsigned char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return TRIB_OK;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    unsigned char *p = realloc(*buf, n);
    if (!p)
        return trib_errorf(TRIB_ERR_NOMEM, "ps client: cannot grow a message buffer to %zu bytes", n);
    *buf = p;
    *cap = n;
    return TRIB_OK;
}

/* Splits ascending rows into one run per server; TRIB_ERR_INVALID_ARG when not ascending or out of range. */
static int split_rows(const trib_ps_client_t *c, const uint32_t *rows, size_t n, size_t *seg_begin, size_t *seg_n)
{
    size_t i = 0;
    for (int j = 0; j < c->o.n_servers; j++) {
        seg_begin[j] = i;
        while (i < n && rows[i] < c->end[j]) {
            if (i && rows[i] <= rows[i - 1])
                return trib_errorf(TRIB_ERR_INVALID_ARG, "ps client: rows not ascending at position %zu", i);
            i++;
        }
        seg_n[j] = i - seg_begin[j];
    }
    if (i != n)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "ps client: row %" PRIu32 " is outside the table of %" PRIu64
                           " rows", rows[i], c->o.n_rows);
    return TRIB_OK;
}

static trib_ps_header_t header(const trib_ps_client_t *c, trib_ps_msg_type_t type, uint32_t flags, uint64_t count)
{
    trib_ps_header_t h = {TRIB_PS_MAGIC, TRIB_PS_PROTOCOL_VERSION, (uint16_t)type, c->w,
                          flags | (c->settle ? TRIB_PS_FLAG_SETTLE : 0u), c->clock, count, c->epoch,
                          (uint32_t)(c->settle || c->chunk < 0 ? 0 : c->chunk + 1)};
    return h;
}

/* Waits for req[0..n) the job's way (train/ps_wait.h). */
static int wait_reqs(const trib_ps_client_t *c, int n, MPI_Request *req, MPI_Status *sts, const char *what)
{
    if (trib_ps_wait_reqs(c->bell, c->o.idle_sleep, n, req, sts) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps worker %d: waiting for %s failed", c->w, what);
    return TRIB_OK;
}

/* Checks server j's reply (received into rbuf[j], `len` bytes) and copies its rows into the cache. */
static int take_reply(trib_ps_client_t *c, int j, size_t len)
{
    int src = c->o.n_workers + j;
    trib_ps_header_t h;
    int rc = trib_ps_header_check(c->rbuf[j], len, src, c->o.k, &h);
    if (rc != TRIB_OK)
        return rc;
    if (h.type != TRIB_PS_MSG_REPLY || h.worker != c->w || h.epoch != c->epoch)
        return trib_errorf(TRIB_ERR_PROTOCOL, "ps worker %d: unexpected message from server rank %d (type %u, "
                           "worker %d, epoch %u)", c->w, src, (unsigned)h.type, (int)h.worker, (unsigned)h.epoch);
    if (h.flags & TRIB_PS_FLAG_ERROR)
        return trib_errorf(TRIB_ERR_PROTOCOL, "ps worker %d: server rank %d rejected a pull (see its error)", c->w,
                           src);
    if (h.flags & TRIB_PS_FLAG_BOUND_HIT)
        c->bound_hit = 1;
    if ((h.flags & TRIB_PS_FLAG_RETRY) && h.count == 0) {
        c->retry = 1;
        return TRIB_OK;
    }
    if (h.flags & TRIB_PS_FLAG_PAUSING) /* the rows are written below, the mini-batch does not run */
        c->retry = 1;
    c->own[j] = (h.flags & TRIB_PS_FLAG_OWN) != 0;
    if (h.count != c->pseg_n[j])
        return trib_errorf(TRIB_ERR_PROTOCOL, "ps worker %d: server rank %d answered %" PRIu64 " rows for a pull "
                           "of %zu", c->w, src, h.count, c->pseg_n[j]);
    const float *v = (const float *)(const void *)(c->rbuf[j] + sizeof h);
    trib_mf_block_t *b = c->cache;
    size_t k = c->o.k;
    const uint32_t *rows = c->pull_rows + c->pseg_begin[j];
    for (size_t i = 0; i < c->pseg_n[j]; i++, v += c->rowf) {
        size_t r = rows[i];
        memcpy(trib_mf_row(b, r), v, k * sizeof(float));
        b->bias[r] = v[k];
        b->adagrad[r] = v[k + 1];
    }
    return TRIB_OK;
}

static int pull_start(trib_ps_client_t *c, const uint32_t *rows, size_t n, int ahead);

int trib_ps_client_pull_start(trib_ps_client_t *c, const uint32_t *rows, size_t n) { return pull_start(c, rows, n, 0); }

int trib_ps_client_pull_ahead(trib_ps_client_t *c, const uint32_t *rows, size_t n) { return pull_start(c, rows, n, 1); }

int trib_ps_client_reply_own(const trib_ps_client_t *c, uint32_t row)
{
    return c->own[trib_ps_server_of(c->o.n_rows, c->o.n_servers, row)];
}

static int pull_start(trib_ps_client_t *c, const uint32_t *rows, size_t n, int ahead)
{
    if (ahead && c->settle)
        return trib_errorf(TRIB_ERR_STATE, "ps client: a pull for the next clock during a settle phase");
    if (c->pulling)
        return trib_errorf(TRIB_ERR_STATE, "ps client: a pull is already in flight");
    int rc = split_rows(c, rows, n, c->pseg_begin, c->pseg_n);
    if (rc != TRIB_OK)
        return rc;
    int S = c->o.n_servers, nr = 0;
    c->pull_rows = rows;
    c->retry = 0;
    memset(c->own, 1, (size_t)S);
    /* receives first (exact sizes), then the requests */
    for (int j = 0; rc == TRIB_OK && j < S; j++) {
        if (!c->pseg_n[j])
            continue;
        size_t rbytes = sizeof(trib_ps_header_t) + trib_ps_payload_bytes(TRIB_PS_MSG_REPLY, c->pseg_n[j], c->o.k);
        size_t sbytes = sizeof(trib_ps_header_t) + trib_ps_payload_bytes(TRIB_PS_MSG_PULL, c->pseg_n[j], c->o.k);
        rc = grow(&c->rbuf[j], &c->rcap[j], rbytes);
        if (rc == TRIB_OK)
            rc = grow(&c->psbuf[j], &c->pscap[j], sbytes);
        if (rc != TRIB_OK)
            break;
        trib_ps_header_t h = header(c, TRIB_PS_MSG_PULL, 0, c->pseg_n[j]);
        h.clock += ahead;
        memcpy(c->psbuf[j], &h, sizeof h);
        memcpy(c->psbuf[j] + sizeof h, rows + c->pseg_begin[j], c->pseg_n[j] * sizeof(uint32_t));
        c->pull_which[nr] = j;
        if (MPI_Irecv(c->rbuf[j], (int)rbytes, MPI_BYTE, c->o.n_workers + j, TRIB_PS_TAG_REPLY, c->o.comm,
                      &c->preq[nr]) != MPI_SUCCESS)
            rc = trib_errorf(TRIB_ERR_MPI, "ps worker %d: MPI_Irecv failed", c->w);
        else
            nr++;
    }
    int ns = 0;
    for (int i = 0; rc == TRIB_OK && i < nr; i++) {
        int j = c->pull_which[i];
        size_t sbytes = sizeof(trib_ps_header_t) + trib_ps_payload_bytes(TRIB_PS_MSG_PULL, c->pseg_n[j], c->o.k);
        if (MPI_Isend(c->psbuf[j], (int)sbytes, MPI_BYTE, c->o.n_workers + j, TRIB_PS_TAG_REQUEST, c->o.comm,
                      &c->preq[nr + i]) != MPI_SUCCESS)
            rc = trib_errorf(TRIB_ERR_MPI, "ps worker %d: MPI_Isend of a pull failed", c->w);
        else
            ns++;
        trib_ps_bell_ring(c->bell, c->o.n_workers + j);
    }
    if (rc != TRIB_OK) { /* cannot leave posted receives behind */
        for (int i = 0; i < nr; i++)
            MPI_Cancel(&c->preq[i]);
        MPI_Waitall(nr + ns, c->preq, MPI_STATUSES_IGNORE);
        return rc;
    }
    /* preq: the nr receives, then the ns sends */
    c->pull_nr = nr;
    c->pull_ns = ns;
    c->pulling = 1;
    return TRIB_OK;
}

int trib_ps_client_pull_finish(trib_ps_client_t *c)
{
    if (!c->pulling)
        return TRIB_OK;
    c->pulling = 0;
    int nr = c->pull_nr, rc = wait_reqs(c, nr + c->pull_ns, c->preq, c->psts, "pulls");
    for (int i = 0; rc == TRIB_OK && i < nr; i++) {
        int len = 0;
        MPI_Get_count(&c->psts[i], MPI_BYTE, &len);
        rc = take_reply(c, c->pull_which[i], (size_t)len);
    }
    return rc;
}

int trib_ps_client_pull(trib_ps_client_t *c, const uint32_t *rows, size_t n)
{
    int rc = trib_ps_client_pull_start(c, rows, n);
    return rc == TRIB_OK ? trib_ps_client_pull_finish(c) : rc;
}

int trib_ps_client_push(trib_ps_client_t *c, const uint32_t *rows, size_t n, const float *deltas, int end_clock)
{
    if (c->settle)
        return trib_errorf(TRIB_ERR_STATE, "ps client: push during a settle phase");
    int rc = split_rows(c, rows, n, c->seg_begin, c->seg_n);
    if (rc != TRIB_OK)
        return rc;
    int S = c->o.n_servers, b = c->cur;
    /* this buffer's previous pushes (two pushes ago) must have left */
    rc = wait_reqs(c, S, c->pushreq[b], MPI_STATUSES_IGNORE, "pushes");
    size_t rowb = c->rowf * sizeof(float);
    for (int j = 0; rc == TRIB_OK && j < S; j++) {
        size_t m = c->seg_n[j];
        if (!m && !end_clock)
            continue;
        size_t bytes = sizeof(trib_ps_header_t) + trib_ps_payload_bytes(TRIB_PS_MSG_PUSH, m, c->o.k);
        rc = grow(&c->pushbuf[b][j], &c->pushcap[b][j], bytes);
        if (rc != TRIB_OK)
            break;
        trib_ps_header_t h = header(c, TRIB_PS_MSG_PUSH, end_clock ? TRIB_PS_FLAG_END_CLOCK : 0u, m);
        unsigned char *p = c->pushbuf[b][j];
        memcpy(p, &h, sizeof h);
        memcpy(p + sizeof h, rows + c->seg_begin[j], m * sizeof(uint32_t));
        memcpy(p + sizeof h + m * sizeof(uint32_t), deltas + c->seg_begin[j] * c->rowf, m * rowb);
        if (MPI_Isend(p, (int)bytes, MPI_BYTE, c->o.n_workers + j, TRIB_PS_TAG_REQUEST, c->o.comm,
                      &c->pushreq[b][j]) != MPI_SUCCESS)
            rc = trib_errorf(TRIB_ERR_MPI, "ps worker %d: MPI_Isend of a push failed", c->w);
        trib_ps_bell_ring(c->bell, c->o.n_workers + j);
    }
    c->cur = 1 - b;
    if (rc == TRIB_OK && end_clock)
        c->clock++;
    return rc;
}

int trib_ps_client_claiming(const trib_ps_client_t *c) { return c->claiming; }

int trib_ps_client_claim_start(trib_ps_client_t *c, int64_t done)
{
    if (!c->o.chunks_per_epoch || c->settle || c->claiming)
        return trib_errorf(TRIB_ERR_STATE, "ps client: a claim without work sharing, while settling or while "
                           "another is answered");
    int server0 = c->o.n_workers;
    c->claim_out = header(c, TRIB_PS_MSG_CLAIM, 0u, 0);
    c->claim_out.clock = done;
    if (MPI_Irecv(&c->claim_in, (int)sizeof c->claim_in, MPI_BYTE, server0, TRIB_PS_TAG_GRANT, c->o.comm,
                  &c->claim_req[0]) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps worker %d: MPI_Irecv of a grant failed", c->w);
    if (MPI_Isend(&c->claim_out, (int)sizeof c->claim_out, MPI_BYTE, server0, TRIB_PS_TAG_REQUEST, c->o.comm,
                  &c->claim_req[1]) != MPI_SUCCESS) {
        MPI_Cancel(&c->claim_req[0]);
        MPI_Wait(&c->claim_req[0], MPI_STATUS_IGNORE);
        return trib_errorf(TRIB_ERR_MPI, "ps worker %d: MPI_Isend of a claim failed", c->w);
    }
    trib_ps_bell_ring(c->bell, server0);
    c->claiming = 1;
    return TRIB_OK;
}

int trib_ps_client_claim_finish(trib_ps_client_t *c, int64_t *chunk)
{
    *chunk = -1;
    if (!c->claiming)
        return trib_errorf(TRIB_ERR_STATE, "ps client: no claim to finish");
    c->claiming = 0;
    int server0 = c->o.n_workers;
    MPI_Status st[2];
    int rc = wait_reqs(c, 2, c->claim_req, st, "a grant");
    if (rc != TRIB_OK)
        return rc;
    int len = 0;
    MPI_Get_count(&st[0], MPI_BYTE, &len);
    trib_ps_header_t h;
    rc = trib_ps_header_check(&c->claim_in, (size_t)len, server0, c->o.k, &h);
    if (rc == TRIB_OK && (h.type != TRIB_PS_MSG_GRANT || h.worker != c->w || h.epoch != c->epoch || h.clock < -2 ||
                          h.clock >= (int64_t)c->o.chunks_per_epoch))
        rc = trib_errorf(TRIB_ERR_PROTOCOL, "ps worker %d: unexpected grant from rank %d (type %u, worker %d, epoch "
                         "%u, chunk %" PRId64 ")", c->w, server0, (unsigned)h.type, (int)h.worker,
                         (unsigned)h.epoch, h.clock);
    if (rc == TRIB_OK)
        *chunk = h.clock;
    return rc;
}

int trib_ps_client_claim(trib_ps_client_t *c, int64_t done, int64_t *chunk)
{
    int rc = trib_ps_client_claim_start(c, done);
    return rc == TRIB_OK ? trib_ps_client_claim_finish(c, chunk) : rc;
}

/* Takes one NOTICE (probed or known to come) from MPI_ANY_SOURCE and checks it. */
static int take_notice(trib_ps_client_t *c)
{
    MPI_Status st;
    if (MPI_Recv(&c->note_in, (int)sizeof c->note_in, MPI_BYTE, MPI_ANY_SOURCE, TRIB_PS_TAG_NOTICE, c->o.comm, &st) !=
        MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps worker %d: MPI_Recv of a notice failed", c->w);
    int len = 0;
    MPI_Get_count(&st, MPI_BYTE, &len);
    trib_ps_header_t h;
    int rc = trib_ps_header_check(&c->note_in, (size_t)len, st.MPI_SOURCE, c->o.k, &h);
    if (rc == TRIB_OK && (h.type != TRIB_PS_MSG_NOTICE || h.worker != c->w || h.epoch != c->epoch ||
                          st.MPI_SOURCE < c->o.n_workers))
        rc = trib_errorf(TRIB_ERR_PROTOCOL, "ps worker %d: unexpected notice from rank %d (type %u, worker %d, "
                         "epoch %u, this round %u)", c->w, st.MPI_SOURCE, (unsigned)h.type, (int)h.worker,
                         (unsigned)h.epoch, (unsigned)c->epoch);
    c->notices++;
    return rc;
}

int trib_ps_client_poll_notice(trib_ps_client_t *c, int *count)
{
    int rc = TRIB_OK;
    while (rc == TRIB_OK && c->notices < c->o.n_servers) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, TRIB_PS_TAG_NOTICE, c->o.comm, &flag, &st) != MPI_SUCCESS)
            rc = trib_errorf(TRIB_ERR_MPI, "ps worker %d: MPI_Iprobe for a notice failed", c->w);
        else if (!flag)
            break;
        else
            rc = take_notice(c);
    }
    *count = c->notices;
    return rc;
}

/* Blocks until a notice can be received (waiting the job's way), then takes it. */
static int wait_one_notice(trib_ps_client_t *c)
{
    MPI_Status st;
    int got = 0;
    if (c->o.idle_sleep &&
        trib_ps_wait_probe(c->bell, c->o.comm, TRIB_PS_TAG_NOTICE, 1000000, NULL, &st, &got) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps worker %d: MPI_Iprobe for a notice failed", c->w);
    return take_notice(c);
}

int trib_ps_client_wait_notice(trib_ps_client_t *c)
{
    int n = 0, rc = trib_ps_client_poll_notice(c, &n);
    return rc == TRIB_OK && n == 0 ? wait_one_notice(c) : rc;
}

int trib_ps_client_pause(trib_ps_client_t *c)
{
    int S = c->o.n_servers, rc = trib_ps_client_pull_finish(c), ns = 0;
    for (int j = 0; j < S; j++) {
        c->pause_out[j] = header(c, TRIB_PS_MSG_PAUSE, 0, 0);
        if (MPI_Isend(&c->pause_out[j], (int)sizeof c->pause_out[j], MPI_BYTE, c->o.n_workers + j,
                      TRIB_PS_TAG_REQUEST, c->o.comm, &c->req[ns]) != MPI_SUCCESS)
            rc = rc != TRIB_OK ? rc : trib_errorf(TRIB_ERR_MPI, "ps worker %d: MPI_Isend of PAUSE failed", c->w);
        else
            ns++;
        trib_ps_bell_ring(c->bell, c->o.n_workers + j);
    }
    /* every server sends one notice per round, each after it heard of a pause (at the latest ours) */
    while (c->notices < S) {
        int nr = wait_one_notice(c);
        if (nr == TRIB_ERR_MPI)
            return nr;
        rc = rc != TRIB_OK ? rc : nr;
    }
    for (int b = 0; b < 2; b++) {
        int wr = wait_reqs(c, S, c->pushreq[b], MPI_STATUSES_IGNORE, "pushes");
        rc = rc != TRIB_OK ? rc : wr;
    }
    int wr = wait_reqs(c, ns, c->req, MPI_STATUSES_IGNORE, "PAUSE messages");
    return rc != TRIB_OK ? rc : wr;
}

int trib_ps_client_done(trib_ps_client_t *c)
{
    int ns = 0, rc = TRIB_OK;
    for (int j = 0; j < c->o.n_servers; j++) {
        c->pause_out[j] = header(c, TRIB_PS_MSG_DONE, 0, 0);
        if (MPI_Isend(&c->pause_out[j], (int)sizeof c->pause_out[j], MPI_BYTE, c->o.n_workers + j,
                      TRIB_PS_TAG_REQUEST, c->o.comm, &c->req[ns]) != MPI_SUCCESS)
            rc = trib_errorf(TRIB_ERR_MPI, "ps worker %d: MPI_Isend of DONE failed", c->w);
        else
            ns++;
        trib_ps_bell_ring(c->bell, c->o.n_workers + j);
    }
    int wr = wait_reqs(c, ns, c->req, MPI_STATUSES_IGNORE, "DONE messages");
    return rc == TRIB_OK ? wr : rc;
}
