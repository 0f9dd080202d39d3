/*
 * strata.c - the stratified synchronous strategy (--sync-method strata).
 *
 * The item rows are cut into R = P x Q groups (trib_mf_grid_group_rows),
 * P strata x Q columns, group = stratum * Q + column.  In round r every rank
 * visits its ratings of one group (trib_mf_grid_strata_order, which also
 * gives t->round_group); the P ranks' groups of a round are the P groups of
 * one column, so no item row changes on two ranks in a round, and
 * consecutive rounds of an epoch are in different columns.
 *
 * A round's synchronisation is therefore an exchange, not an average: the
 * rows of the round's column are reduced (SUM) from a buffer in which each
 * rank has written the delta (items - snap) of its own group's rows and
 * zeros elsewhere, and every rank applies items = snap + sum; snap = items
 * to those rows.  Every row's sum has one non-zero term, so it is exact
 * whatever the algorithm's order (and in bf16/fp16 it is the rank's own
 * delta rounded once), and every rank writes the same bits.  No bitmap is
 * exchanged: the column's rows are known on every rank.
 *
 *     buffer of round r (column c, groups g_k = k * Q + c, k < P):
 *       [factor rows of g_0 .. g_{P-1}][biases of them][AdaGrad sums of them][flag]
 *       rank p: delta in its own group's rows, 0 in the others'
 *
 * Overlap (--overlap on).  Round r's reduction runs while round r + 1's SGD
 * proceeds (trib_iallreduce, progressed by trib_test between pieces of the
 * SGD) and is applied at the end of round r + 1.  Round r + 1 is in another
 * column, so no rank reads or writes round r's rows before they land: the
 * result is bitwise the same as without overlap.  The first round of an
 * epoch may be in the column of the previous epoch's last; the epoch's end
 * settles (lands the reduction in flight) before the evaluation, so that is
 * never a conflict.  Overlap needs Q >= 2 (the trainer makes R >= 2P).  A
 * stop request travels with the round's flag and so takes effect one round
 * later; a rank whose SGD failed returns its error in the same round (the
 * loop's agreement ends the run on every rank) and the request in flight is
 * completed by destroy.
 *
 * Every rank must cut the items into the same groups: the trainer plans the
 * grid from a cache size agreed over the ranks and checks that the ranks'
 * item blocks are equal (trainer.c).
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/timer.h"
#include "train/internal.h"

/* SGD pieces per round with --overlap on: the reduction in flight progresses between them. */
#define STRATA_PIECES 64

typedef struct {
    float *data;             /* the packed rows + flag (column_floats) */
    size_t count;            /* floats reduced */
    size_t column;           /* the column whose rows it holds */
    trib_request_t req;      /* --overlap on: the reduction in flight */
    int req_rc;              /* the outcome of a trib_test that completed it */
    int busy;                /* 1 from its start until its sum is applied */
} strata_buf_t;

typedef struct {
    trib_mf_block_t snap;    /* items as every rank last agreed on them (identical on all ranks) */
    size_t Q;                /* columns */
    size_t *first, *end;     /* item rows [first[g], end[g]) of group g (R groups) */
    strata_buf_t buf[2];     /* overlap: the round's and the one in flight; else buf[0] only */
    unsigned cur;            /* the buffer the next round packs into */
    trib_allreduce_opts_t opts;
} strata_state_t;

static void strata_destroy(void *state)
{
    strata_state_t *s = state;
    if (!s)
        return;
    for (int i = 0; i < 2; i++) {
        if (s->buf[i].req) /* every rank has the same request in flight: complete it */
            trib_wait(&s->buf[i].req);
        trib_aligned_free(s->buf[i].data);
    }
    trib_mf_block_destroy(&s->snap);
    free(s->first);
    free(s);
}

/* Rows of column c: the sum over its P groups. */
static size_t column_rows(const strata_state_t *s, size_t P, size_t c)
{
    size_t m = 0;
    for (size_t k = 0; k < P; k++)
        m += s->end[k * s->Q + c] - s->first[k * s->Q + c];
    return m;
}

static int strata_create(trib_trainer_t *t, void **state)
{
    strata_state_t *s = calloc(1, sizeof *s);
    if (!s)
        return trib_errorf(TRIB_ERR_NOMEM, "strata: out of memory");
    size_t R = (size_t)t->rounds_per_epoch, P = (size_t)t->size;
    s->Q = R / P;
    s->first = malloc(2 * R * sizeof *s->first);
    int rc = s->first ? trib_mf_block_clone(&s->snap, &t->model.items)
                      : trib_errorf(TRIB_ERR_NOMEM, "strata: cannot allocate %zu group bounds", R);
    if (rc == TRIB_OK) {
        s->end = s->first + R;
        for (size_t g = 0; g < R && rc == TRIB_OK; g++)
            rc = trib_mf_grid_group_rows(&t->grid, R, g, &s->first[g], &s->end[g]);
    }
    size_t most = 0;
    for (size_t c = 0; rc == TRIB_OK && c < s->Q; c++) {
        size_t m = column_rows(s, P, c);
        most = m > most ? m : most;
    }
    size_t floats = most * (t->model.items.stride + 2) + 1;
    for (int i = 0; rc == TRIB_OK && t->size > 1 && i < (t->cfg.sync_overlap ? 2 : 1); i++) {
        s->buf[i].data = trib_aligned_calloc(TRIB_ALIGN, trib_round_up(floats, TRIB_MF_STRIDE_FLOATS) * sizeof(float));
        if (!s->buf[i].data)
            rc = trib_errorf(TRIB_ERR_NOMEM, "strata: cannot allocate the %zu-float exchange buffer", floats);
    }
    trib_allreduce_opts_init(&s->opts);
    s->opts.algo = t->cfg.algo;
    s->opts.wire = t->cfg.sync_precision;
    /* One trial reduction of the largest size (zeros): an algorithm that cannot run here fails now. */
    if (rc == TRIB_OK && t->size > 1) {
        trib_clear_error();
        rc = trib_allreduce_ex(s->buf[0].data, s->buf[0].data, floats, MPI_FLOAT, MPI_SUM, t->comm, &s->opts);
        if (rc != TRIB_OK)
            rc = trib_train_error_context(rc, "--allreduce %s cannot reduce a column of item rows (%zu floats)",
                                          trib_train_algo_name(s->opts.algo), floats);
    }
    if (rc != TRIB_OK) {
        strata_destroy(s);
        return rc;
    }
    if (t->rank == 0)
        trib_log(TRIB_LOG_DEBUG, "strata: %zu groups (%zu columns), a round exchanges up to %zu of %zu item rows", R,
                 s->Q, most, t->model.items.n_rows);
    *state = s;
    return TRIB_OK;
}

/*
 * Packs column c into b: this rank's delta in its own group `own`, zeros in the other groups'
 * rows (layout: top comment), then the flag.
 */
static void pack_column(const trib_trainer_t *t, const strata_state_t *s, strata_buf_t *b, size_t c, size_t own,
                        int stop, int failed)
{
    const trib_mf_block_t *cur = &t->model.items, *snap = &s->snap;
    size_t stride = cur->stride, P = (size_t)t->size, m = column_rows(s, P, c);
    float *df = b->data, *db = df + m * stride, *dg = db + m;
    size_t j = 0;
    for (size_t k = 0; k < P; k++) {
        size_t g = k * s->Q + c, r0 = s->first[g], n = s->end[g] - r0;
        if (g != own) {
            memset(df + j * stride, 0, n * stride * sizeof(float));
            memset(db + j, 0, n * sizeof(float));
            memset(dg + j, 0, n * sizeof(float));
        } else {
            const float *cf = cur->factors + r0 * stride, *sf = snap->factors + r0 * stride;
            float *d = df + j * stride;
            for (size_t i = 0; i < n * stride; i++)
                d[i] = cf[i] - sf[i];
            for (size_t i = 0; i < n; i++) {
                db[j + i] = cur->bias[r0 + i] - snap->bias[r0 + i];
                dg[j + i] = cur->adagrad[r0 + i] - snap->adagrad[r0 + i];
            }
        }
        j += n;
    }
    b->data[m * (stride + 2)] = trib_sync_round_flag(t, stop, failed);
    b->count = m * (stride + 2) + 1;
    b->column = c;
}

/* items = snap + sum on the rows of b's column, and snap = items there. */
static void apply_column(trib_trainer_t *t, strata_state_t *s, const strata_buf_t *b)
{
    trib_mf_block_t *items = &t->model.items, *snap = &s->snap;
    size_t stride = items->stride, P = (size_t)t->size, m = (b->count - 1) / (stride + 2);
    const float *sf = b->data, *sb = sf + m * stride, *sg = sb + m;
    size_t j = 0;
    for (size_t k = 0; k < P; k++) {
        size_t g = k * s->Q + b->column, r0 = s->first[g], n = s->end[g] - r0;
        float *cf = items->factors + r0 * stride, *pf = snap->factors + r0 * stride;
        const float *d = sf + j * stride;
        for (size_t i = 0; i < n * stride; i++) /* one expression per element, as the sync strategy's */
            cf[i] = pf[i] + d[i];
        memcpy(pf, cf, n * stride * sizeof(float));
        for (size_t i = 0; i < n; i++) {
            items->bias[r0 + i] = snap->bias[r0 + i] + sb[j + i];
            snap->bias[r0 + i] = items->bias[r0 + i];
            items->adagrad[r0 + i] = snap->adagrad[r0 + i] + sg[j + i];
            snap->adagrad[r0 + i] = items->adagrad[r0 + i];
        }
        j += n;
    }
}

/*
 * Completes b's reduction (waits for it when it is in flight) and applies it.  *stop |= the stop
 * requests it carried.  A failed rank's flag leaves the rows as they are: that rank's error was
 * agreed in its own round, and the run ends.
 */
static int land(trib_trainer_t *t, strata_state_t *s, strata_buf_t *b, int *stop)
{
    if (!b->busy)
        return TRIB_OK;
    double t0 = trib_now();
    int rc = b->req ? trib_wait(&b->req) : b->req_rc;
    t->comm_seconds += trib_now() - t0;
    b->busy = 0;
    if (rc != TRIB_OK)
        return trib_train_error_context(rc, "strata: allreduce of a column of item rows (%zu floats, --allreduce "
                                        "%s) failed", b->count, trib_train_algo_name(s->opts.algo));
    float flags = b->data[b->count - 1];
    if (flags > 0.5f * trib_sync_fail_flag(t->size))
        return TRIB_OK;
    *stop |= flags > 0.0f;
    apply_column(t, s, b);
    trib_sync_count(t, t->model.items.n_rows ? (double)(b->count - 1) / (double)(t->model.items.stride + 2) /
                                                   (double)t->model.items.n_rows
                                             : 1.0);
    return TRIB_OK;
}

/* Starts b's reduction: blocking without overlap (then landed at once), non-blocking with it. */
static int start(trib_trainer_t *t, strata_state_t *s, strata_buf_t *b)
{
    trib_clear_error();
    double t0 = trib_now();
    int rc = t->cfg.sync_overlap
                 ? trib_iallreduce_ex(b->data, b->data, b->count, MPI_FLOAT, MPI_SUM, t->comm, &s->opts, &b->req)
                 : trib_allreduce_ex(b->data, b->data, b->count, MPI_FLOAT, MPI_SUM, t->comm, &s->opts);
    t->comm_seconds += trib_now() - t0;
    if (rc != TRIB_OK)
        return trib_train_error_context(rc, "strata: allreduce of a column of item rows (%zu floats, --allreduce "
                                        "%s) failed", b->count, trib_train_algo_name(s->opts.algo));
    b->busy = 1;
    b->req_rc = TRIB_OK;
    return TRIB_OK;
}

static int strata_round(trib_trainer_t *t, void *state, unsigned epoch, size_t begin, size_t end, int *stop)
{
    strata_state_t *s = state;
    strata_buf_t *b = &s->buf[s->cur], *other = &s->buf[s->cur ^ 1u];
    int sgd_rc;
    if (t->cfg.sync_overlap && t->size > 1) {
        sgd_rc = trib_sync_sgd_progressing(t, epoch, begin, end, STRATA_PIECES, &other->req, &other->req_rc);
    } else {
        trib_mf_hparams_t hp = trib_train_sgd_hparams(t);
        sgd_rc = trib_mf_sgd_run(&t->model, &hp, epoch, t->train, t->n_train, t->order, begin, end);
    }
    if (t->size == 1)
        return sgd_rc;
    int want_stop = *stop, rc;
    *stop = 0;
    if (t->cfg.sync_overlap && (rc = land(t, s, other, stop)) != TRIB_OK) /* the previous round's rows */
        return rc;
    size_t own = t->round_group[t->next_round];
    pack_column(t, s, b, own % s->Q, own, want_stop, sgd_rc != TRIB_OK);
    if ((rc = start(t, s, b)) != TRIB_OK)
        return rc;
    if (sgd_rc != TRIB_OK)
        return sgd_rc;
    if (t->cfg.sync_overlap) {
        s->cur ^= 1u;
        return TRIB_OK;
    }
    rc = land(t, s, b, stop);
    if (rc == TRIB_OK && t->cfg.check_sync)
        rc = trib_sync_check_items(t, epoch);
    return rc;
}

/* Lands the reduction in flight (overlap): every rank then holds the same block. */
static int strata_settle(trib_trainer_t *t, void *state)
{
    strata_state_t *s = state;
    int stop = 0, rc = TRIB_OK;
    for (int i = 0; i < 2 && rc == TRIB_OK; i++)
        rc = land(t, s, &s->buf[i], &stop);
    if (rc == TRIB_OK && t->cfg.sync_overlap && t->cfg.check_sync && t->size > 1)
        rc = trib_sync_check_items(t, t->next_epoch ? t->next_epoch - 1 : 0);
    return rc;
}

/* The item block was restored from elsewhere: drop what is in flight, agree on the new block. */
static int strata_reset(trib_trainer_t *t, void *state)
{
    strata_state_t *s = state;
    for (int i = 0; i < 2; i++) {
        if (s->buf[i].req)
            trib_wait(&s->buf[i].req);
        s->buf[i].busy = 0;
    }
    return trib_mf_block_copy_values(&s->snap, &t->model.items);
}

const trib_strategy_t trib_strategy_strata = {"strata", strata_create, strata_round, strata_settle, strata_reset,
                                              strata_destroy};
