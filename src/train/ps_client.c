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
#include <time.h>

#include "train/ps_wire.h"

struct trib_ps_client {
    trib_ps_options_t o;
    int w;
    size_t rowf;
    trib_mf_block_t *cache;
    uint32_t epoch;
    int64_t clock;
    int settle;
    int bound_hit;             /* a reply of this phase carried TRIB_PS_FLAG_BOUND_HIT */
    uint64_t *first, *end;     /* per server: its rows */
    size_t *seg_begin, *seg_n; /* per server: run of the current request */
    unsigned char **sbuf, **rbuf;
    size_t *scap, *rcap;
    MPI_Request *req;          /* 2 * S */
    MPI_Status *sts;
};

int trib_ps_client_create(const trib_ps_options_t *o, int w, trib_mf_block_t *cache, trib_ps_client_t **out)
{
    if (!o || !cache || !out || w < 0 || w >= o->n_workers || o->n_servers < 1 || cache->k != o->k ||
        cache->n_rows != o->n_rows)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "ps client: bad options");
    *out = NULL;
    trib_ps_client_t *c = calloc(1, sizeof *c);
    size_t S = (size_t)o->n_servers;
    if (c) {
        c->first = calloc(S, sizeof *c->first);
        c->end = calloc(S, sizeof *c->end);
        c->seg_begin = calloc(S, sizeof *c->seg_begin);
        c->seg_n = calloc(S, sizeof *c->seg_n);
        c->sbuf = calloc(S, sizeof *c->sbuf);
        c->rbuf = calloc(S, sizeof *c->rbuf);
        c->scap = calloc(S, sizeof *c->scap);
        c->rcap = calloc(S, sizeof *c->rcap);
        c->req = calloc(2 * S, sizeof *c->req);
        c->sts = calloc(2 * S, sizeof *c->sts);
    }
    if (!c || !c->first || !c->end || !c->seg_begin || !c->seg_n || !c->sbuf || !c->rbuf || !c->scap || !c->rcap ||
        !c->req || !c->sts) {
        trib_ps_client_destroy(c);
        return trib_errorf(TRIB_ERR_NOMEM, "ps client: out of memory");
    }
    c->o = *o;
    c->w = w;
    c->rowf = TRIB_PS_ROW_FLOATS(o->k);
    c->cache = cache;
    for (int j = 0; j < o->n_servers; j++)
        trib_ps_server_rows(o->n_rows, o->n_servers, j, &c->first[j], &c->end[j]);
    *out = c;
    return TRIB_OK;
}

void trib_ps_client_destroy(trib_ps_client_t *c)
{
    if (!c)
        return;
    for (int j = 0; c->sbuf && c->rbuf && j < c->o.n_servers; j++) {
        free(c->sbuf[j]);
        free(c->rbuf[j]);
    }
    free(c->first);
    free(c->end);
    free(c->seg_begin);
    free(c->seg_n);
    free(c->sbuf);
    free(c->rbuf);
    free(c->scap);
    free(c->rcap);
    free(c->req);
    free(c->sts);
    free(c);
}

void trib_ps_client_begin(trib_ps_client_t *c, uint32_t epoch, int64_t clock, int settle)
{
    c->epoch = epoch;
    c->clock = clock;
    c->settle = settle;
    c->bound_hit = 0;
}

int64_t trib_ps_client_clock(const trib_ps_client_t *c) { return c->clock; }

int trib_ps_client_bound_hit(const trib_ps_client_t *c) { return c->bound_hit; }

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
static int split_rows(trib_ps_client_t *c, const uint32_t *rows, size_t n)
{
    size_t i = 0;
    for (int j = 0; j < c->o.n_servers; j++) {
        c->seg_begin[j] = i;
        while (i < n && rows[i] < c->end[j]) {
            if (i && rows[i] <= rows[i - 1])
                return trib_errorf(TRIB_ERR_INVALID_ARG, "ps client: rows not ascending at position %zu", i);
            i++;
        }
        c->seg_n[j] = i - c->seg_begin[j];
    }
    if (i != n)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "ps client: row %" PRIu32 " is outside the table of %" PRIu64
                           " rows", rows[i], c->o.n_rows);
    return TRIB_OK;
}

static trib_ps_header_t header(const trib_ps_client_t *c, trib_ps_msg_type_t type, uint32_t flags, uint64_t count)
{
    trib_ps_header_t h = {TRIB_PS_MAGIC, TRIB_PS_PROTOCOL_VERSION, (uint16_t)type, c->w,
                          flags | (c->settle ? TRIB_PS_FLAG_SETTLE : 0u), c->clock, count, c->epoch, 0};
    return h;
}

/* Waits for c->req[0..n): MPI_Waitall, or MPI_Testall with sleeps of 20 us .. 1 ms (idle_sleep). */
static int wait_all(trib_ps_client_t *c, int n, const char *what)
{
    int rc = MPI_SUCCESS;
    if (n && !c->o.idle_sleep) {
        rc = MPI_Waitall(n, c->req, c->sts);
    } else if (n) {
        for (long ns = 20000;;) {
            int done = 0;
            rc = MPI_Testall(n, c->req, &done, c->sts);
            if (rc != MPI_SUCCESS || done)
                break;
            struct timespec ts = {0, ns};
            nanosleep(&ts, NULL);
            ns = ns * 2 > 1000000 ? 1000000 : ns * 2;
        }
    }
    if (rc != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps worker %d: waiting for %s failed", c->w, what);
    return TRIB_OK;
}

/* Checks server j's reply (received into rbuf[j], `len` bytes) and copies its rows into the cache. */
static int take_reply(trib_ps_client_t *c, int j, const uint32_t *rows, size_t len)
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
    if (h.count != c->seg_n[j])
        return trib_errorf(TRIB_ERR_PROTOCOL, "ps worker %d: server rank %d answered %" PRIu64 " rows for a pull "
                           "of %zu", c->w, src, h.count, c->seg_n[j]);
    const float *v = (const float *)(const void *)(c->rbuf[j] + sizeof h);
    trib_mf_block_t *b = c->cache;
    size_t k = c->o.k;
    for (size_t i = 0; i < c->seg_n[j]; i++, v += c->rowf) {
        size_t r = rows[c->seg_begin[j] + i];
        memcpy(trib_mf_row(b, r), v, k * sizeof(float));
        b->bias[r] = v[k];
        b->adagrad[r] = v[k + 1];
    }
    return TRIB_OK;
}

int trib_ps_client_pull(trib_ps_client_t *c, const uint32_t *rows, size_t n)
{
    int rc = split_rows(c, rows, n);
    if (rc != TRIB_OK)
        return rc;
    int S = c->o.n_servers, nr = 0;
    int idx[2 * 64], *which = S <= 64 ? idx : malloc((size_t)S * sizeof *which);
    if (!which)
        return trib_errorf(TRIB_ERR_NOMEM, "ps client: out of memory");
    /* receives first (exact sizes), then the requests */
    for (int j = 0; rc == TRIB_OK && j < S; j++) {
        if (!c->seg_n[j])
            continue;
        size_t rbytes = sizeof(trib_ps_header_t) + trib_ps_payload_bytes(TRIB_PS_MSG_REPLY, c->seg_n[j], c->o.k);
        size_t sbytes = sizeof(trib_ps_header_t) + trib_ps_payload_bytes(TRIB_PS_MSG_PULL, c->seg_n[j], c->o.k);
        rc = grow(&c->rbuf[j], &c->rcap[j], rbytes);
        if (rc == TRIB_OK)
            rc = grow(&c->sbuf[j], &c->scap[j], sbytes);
        if (rc != TRIB_OK)
            break;
        trib_ps_header_t h = header(c, TRIB_PS_MSG_PULL, 0, c->seg_n[j]);
        memcpy(c->sbuf[j], &h, sizeof h);
        memcpy(c->sbuf[j] + sizeof h, rows + c->seg_begin[j], c->seg_n[j] * sizeof(uint32_t));
        which[nr] = j;
        if (MPI_Irecv(c->rbuf[j], (int)rbytes, MPI_BYTE, c->o.n_workers + j, TRIB_PS_TAG_REPLY, c->o.comm,
                      &c->req[nr]) != MPI_SUCCESS)
            rc = trib_errorf(TRIB_ERR_MPI, "ps worker %d: MPI_Irecv failed", c->w);
        else
            nr++;
    }
    int ns = 0;
    for (int i = 0; rc == TRIB_OK && i < nr; i++) {
        int j = which[i];
        size_t sbytes = sizeof(trib_ps_header_t) + trib_ps_payload_bytes(TRIB_PS_MSG_PULL, c->seg_n[j], c->o.k);
        if (MPI_Isend(c->sbuf[j], (int)sbytes, MPI_BYTE, c->o.n_workers + j, TRIB_PS_TAG_REQUEST, c->o.comm,
                      &c->req[nr + i]) != MPI_SUCCESS)
            rc = trib_errorf(TRIB_ERR_MPI, "ps worker %d: MPI_Isend of a pull failed", c->w);
        else
            ns++;
    }
    if (rc != TRIB_OK) { /* cannot leave posted receives behind */
        for (int i = 0; i < nr; i++)
            MPI_Cancel(&c->req[i]);
        MPI_Waitall(nr + ns, c->req, MPI_STATUSES_IGNORE);
    } else {
        rc = wait_all(c, nr + ns, "pulls");
    }
    for (int i = 0; rc == TRIB_OK && i < nr; i++) {
        int len = 0;
        MPI_Get_count(&c->sts[i], MPI_BYTE, &len);
        rc = take_reply(c, which[i], rows, (size_t)len);
    }
    if (which != idx)
        free(which);
    return rc;
}

int trib_ps_client_push(trib_ps_client_t *c, const uint32_t *rows, size_t n, const float *deltas, int end_clock)
{
    if (c->settle)
        return trib_errorf(TRIB_ERR_STATE, "ps client: push during a settle phase");
    int rc = split_rows(c, rows, n);
    if (rc != TRIB_OK)
        return rc;
    int ns = 0;
    size_t rowb = c->rowf * sizeof(float);
    for (int j = 0; rc == TRIB_OK && j < c->o.n_servers; j++) {
        size_t m = c->seg_n[j];
        if (!m && !end_clock)
            continue;
        size_t bytes = sizeof(trib_ps_header_t) + trib_ps_payload_bytes(TRIB_PS_MSG_PUSH, m, c->o.k);
        rc = grow(&c->sbuf[j], &c->scap[j], bytes);
        if (rc != TRIB_OK)
            break;
        trib_ps_header_t h = header(c, TRIB_PS_MSG_PUSH, end_clock ? TRIB_PS_FLAG_END_CLOCK : 0u, m);
        unsigned char *p = c->sbuf[j];
        memcpy(p, &h, sizeof h);
        memcpy(p + sizeof h, rows + c->seg_begin[j], m * sizeof(uint32_t));
        memcpy(p + sizeof h + m * sizeof(uint32_t), deltas + c->seg_begin[j] * c->rowf, m * rowb);
        if (MPI_Isend(p, (int)bytes, MPI_BYTE, c->o.n_workers + j, TRIB_PS_TAG_REQUEST, c->o.comm, &c->req[ns]) !=
            MPI_SUCCESS)
            rc = trib_errorf(TRIB_ERR_MPI, "ps worker %d: MPI_Isend of a push failed", c->w);
        else
            ns++;
    }
    int wr = wait_all(c, ns, "pushes");
    if (rc == TRIB_OK)
        rc = wr;
    if (rc == TRIB_OK && end_clock)
        c->clock++;
    return rc;
}

int trib_ps_client_done(trib_ps_client_t *c)
{
    int ns = 0, rc = TRIB_OK;
    trib_ps_header_t h = header(c, TRIB_PS_MSG_DONE, 0, 0);
    for (int j = 0; j < c->o.n_servers; j++) {
        if (MPI_Isend(&h, (int)sizeof h, MPI_BYTE, c->o.n_workers + j, TRIB_PS_TAG_REQUEST, c->o.comm,
                      &c->req[ns]) != MPI_SUCCESS)
            rc = trib_errorf(TRIB_ERR_MPI, "ps worker %d: MPI_Isend of DONE failed", c->w);
        else
            ns++;
    }
    int wr = wait_all(c, ns, "DONE messages");
    return rc == TRIB_OK ? wr : rc;
}
