/*
 * strata.c - the stratified synchronous strategy (--sync-method strata).
 *
 * The item rows are cut into R = P x Q groups (trib_mf_grid_group_rows),
 * P strata x Q columns, group = stratum * Q + column.  In round r every rank
 * visits its ratings of one group (trib_mf_grid_strata_order, which also
 * gives t->round_group and t->round_half); the P ranks' groups of a round are
 * the P groups of one column, so no item row changes on two ranks in a round.
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
 *     buffer (column c, groups g_k = k * Q + c, k < P; rows of a part of each group):
 *       [factor rows of g_0 .. g_{P-1}][biases of them][AdaGrad sums of them][flag]
 *       rank p: delta in its own group's rows, 0 in the others'
 *
 * Overlap (--overlap on).  A round visits its group in two halves (the
 * order's round_half), the rows of the first half, then those of the second.
 * Each half's rows are exchanged while the next half runs (trib_iallreduce,
 * progressed by trib_test between pieces of the SGD):
 *
 *     SGD first half of r | land second half of r-1 | start first half of r
 *     SGD second half of r | land first half of r   | start second half of r ...
 *
 * No rank touches a half's rows in the next half (the order's guarantee,
 * tested in test_order), and a half's rows land before the half that needs
 * them next starts, so the result is bitwise the same as without overlap.
 * Each half round waits only for the exchange started one half earlier.
 * The stop requests travel with the first half's exchange and take effect
 * at the end of the same round, as without overlap; a rank whose SGD failed
 * still joins the round's exchanges and returns its error (the loop's
 * agreement ends the run on every rank); destroy completes what is in flight.
 *
 * Every rank must cut the items into the same groups: the trainer fixes the
 * item block on every rank alike (trainer.c, create_grid).
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/timer.h"
#include "train/internal.h"

/* SGD pieces per half round with --overlap on: the exchange in flight progresses between them. */
#define STRATA_PIECES 32

/* The rows of a group an exchange carries. */
typedef enum { ROWS_ALL = 0, ROWS_FIRST = 1, ROWS_SECOND = 2 } rows_part_t;

typedef struct {
    float *data;             /* the packed rows + flag */
    size_t count;            /* floats reduced */
    size_t column;           /* the column whose rows it holds */
    rows_part_t part;        /* ... which part of each group's rows */
    trib_request_t req;      /* --overlap on: the exchange in flight */
    int req_rc;              /* the outcome of a trib_test that completed it */
    int busy;                /* 1 from its start until its sum is applied */
} strata_buf_t;

typedef struct {
    trib_mf_block_t snap;    /* items as every rank last agreed on them (identical on all ranks) */
    size_t Q;                /* columns */
    size_t *first, *mid, *end; /* item rows [first[g], end[g]) of group g, second half from mid[g] */
    strata_buf_t buf[2];     /* overlap: the first and the second half's exchange; else buf[0] only */
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

/* Rows [*r0, *r1) of group g that `part` names. */
static void group_part(const strata_state_t *s, size_t g, rows_part_t part, size_t *r0, size_t *r1)
{
    *r0 = part == ROWS_SECOND ? s->mid[g] : s->first[g];
    *r1 = part == ROWS_FIRST ? s->mid[g] : s->end[g];
}

/* Rows of `part` of the P groups of column c. */
static size_t column_rows(const strata_state_t *s, size_t P, size_t c, rows_part_t part)
{
    size_t m = 0, r0, r1;
    for (size_t k = 0; k < P; k++) {
        group_part(s, k * s->Q + c, part, &r0, &r1);
        m += r1 - r0;
    }
    return m;
}

static int strata_create(trib_trainer_t *t, void **state)
{
    strata_state_t *s = calloc(1, sizeof *s);
    if (!s)
        return trib_errorf(TRIB_ERR_NOMEM, "strata: out of memory");
    size_t R = (size_t)t->rounds_per_epoch, P = (size_t)t->size;
    s->Q = R / P;
    s->first = malloc(3 * R * sizeof *s->first);
    int rc = s->first ? trib_mf_block_clone(&s->snap, &t->model.items)
                      : trib_errorf(TRIB_ERR_NOMEM, "strata: cannot allocate %zu group bounds", R);
    if (rc == TRIB_OK) {
        s->mid = s->first + R;
        s->end = s->mid + R;
        for (size_t g = 0; g < R && rc == TRIB_OK; g++)
            rc = trib_mf_grid_group_rows(&t->grid, R, g, &s->first[g], &s->mid[g], &s->end[g]);
    }
    size_t most = 0;
    for (size_t c = 0; rc == TRIB_OK && c < s->Q; c++) {
        size_t m = column_rows(s, P, c, ROWS_ALL);
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
 * Packs `part` of column c's rows into b: this rank's delta in its own group `own`, zeros in the
 * other groups' rows (layout: top comment), then the flag.
 */
static void pack_column(const trib_trainer_t *t, const strata_state_t *s, strata_buf_t *b, size_t own,
                        rows_part_t part, int stop, int failed)
{
    const trib_mf_block_t *cur = &t->model.items, *snap = &s->snap;
    size_t stride = cur->stride, P = (size_t)t->size, c = own % s->Q, m = column_rows(s, P, c, part);
    float *df = b->data, *db = df + m * stride, *dg = db + m;
    size_t j = 0, r0, r1;
    for (size_t k = 0; k < P; k++) {
        size_t g = k * s->Q + c;
        group_part(s, g, part, &r0, &r1);
        size_t n = r1 - r0;
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
    b->part = part;
}

/* items = snap + sum on the rows b holds, and snap = items there. */
static void apply_column(trib_trainer_t *t, strata_state_t *s, const strata_buf_t *b)
{
    trib_mf_block_t *items = &t->model.items, *snap = &s->snap;
    size_t stride = items->stride, P = (size_t)t->size, m = (b->count - 1) / (stride + 2);
    const float *sf = b->data, *sb = sf + m * stride, *sg = sb + m;
    size_t j = 0, r0, r1;
    for (size_t k = 0; k < P; k++) {
        group_part(s, k * s->Q + b->column, b->part, &r0, &r1);
        size_t n = r1 - r0;
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
 * Completes b's exchange (waits for it when it is in flight) and applies it.  *stop |= the stop
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
    return TRIB_OK;
}

/* Packs and starts an exchange: blocking without overlap (landed at once by the caller), non-blocking with it. */
static int start(trib_trainer_t *t, strata_state_t *s, strata_buf_t *b, size_t own, rows_part_t part, int stop,
                 int failed)
{
    pack_column(t, s, b, own, part, stop, failed);
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

/* --overlap on: one round in two halves (top comment).  buf[0]: first halves, buf[1]: second halves. */
static int overlap_round(trib_trainer_t *t, strata_state_t *s, unsigned epoch, size_t begin, size_t end, int *stop)
{
    strata_buf_t *first = &s->buf[0], *second = &s->buf[1];
    size_t half = (size_t)t->round_half[t->next_round], own = t->round_group[t->next_round];
    int sgd_rc = trib_sync_sgd_progressing(t, epoch, begin, half, STRATA_PIECES, &second->req, &second->req_rc);
    int want_stop = *stop, rc, ignored = 0;
    *stop = 0;
    if ((rc = land(t, s, second, &ignored)) != TRIB_OK) /* the previous round's second half */
        return rc;
    if ((rc = start(t, s, first, own, ROWS_FIRST, want_stop, sgd_rc != TRIB_OK)) != TRIB_OK)
        return rc;
    if (sgd_rc == TRIB_OK)
        sgd_rc = trib_sync_sgd_progressing(t, epoch, half, end, STRATA_PIECES, &first->req, &first->req_rc);
    if ((rc = land(t, s, first, stop)) != TRIB_OK)
        return rc;
    if ((rc = start(t, s, second, own, ROWS_SECOND, 0, sgd_rc != TRIB_OK)) != TRIB_OK)
        return rc;
    return sgd_rc;
}

static int strata_round(trib_trainer_t *t, void *state, unsigned epoch, size_t begin, size_t end, int *stop)
{
    strata_state_t *s = state;
    if (t->size == 1) {
        trib_mf_hparams_t hp = trib_train_sgd_hparams(t);
        return trib_mf_sgd_run(&t->model, &hp, epoch, t->train, t->n_train, t->order, begin, end);
    }
    int rc;
    if (t->cfg.sync_overlap) {
        rc = overlap_round(t, s, epoch, begin, end, stop);
    } else {
        trib_mf_hparams_t hp = trib_train_sgd_hparams(t);
        int sgd_rc = trib_mf_sgd_run(&t->model, &hp, epoch, t->train, t->n_train, t->order, begin, end);
        int want_stop = *stop;
        *stop = 0;
        rc = start(t, s, &s->buf[0], t->round_group[t->next_round], ROWS_ALL, want_stop, sgd_rc != TRIB_OK);
        if (rc == TRIB_OK)
            rc = sgd_rc;
        if (rc == TRIB_OK)
            rc = land(t, s, &s->buf[0], stop);
    }
    if (rc == TRIB_OK) /* the share of the block a round exchanges: its column's rows */
        trib_sync_count(t, t->model.items.n_rows ? (double)column_rows(s, (size_t)t->size,
                                                                        t->round_group[t->next_round] % s->Q,
                                                                        ROWS_ALL) / (double)t->model.items.n_rows
                                                 : 1.0);
    if (rc == TRIB_OK && t->cfg.check_sync && !t->cfg.sync_overlap)
        rc = trib_sync_check_items(t, epoch);
    return rc;
}

/* Lands the exchanges in flight (overlap): every rank then holds the same block. */
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
