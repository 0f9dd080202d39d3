/*
 * strata.c - the stratified synchronous strategy (--sync-method strata).
 *
 * The item rows are cut into R = P x Q groups (trib_mf_grid_group_rows),
 * P strata x Q columns, group = stratum * Q + column.  In round r every rank
 * visits its ratings of one group (trib_mf_grid_strata_order, which also
 * gives t->round_group and t->round_half); the P ranks' groups of a round are
 * the P groups of one column, so no item row changes on two ranks in a round.
 *
 * A round's synchronisation is therefore an exchange, not an average: each
 * rank sends the delta (items - snap) of its own group's rows and receives
 * every other rank's (MPI_Allgatherv; an allreduce of the column with zeros
 * in the other ranks' rows would move twice the bytes: on the emulated
 * 1 Gbit/s cluster, 4 ranks, ML-25M shape, it left 14-18 M ratings/s against
 * 19-24 with the gather, benchmarks/RESULTS.md "Stratified rounds").  Every
 * rank applies items = snap + delta; snap = items to every received row, its
 * own included, so every rank writes the same bits.  With --sync-precision
 * bf16|fp16 the deltas travel as 16-bit values (each rounded once, to
 * nearest even; tributary/allreduce.h gives the error bound).
 *
 *     a rank's part (rows [r0, r1) of its group, or of one half of it):
 *       [factor rows][biases][AdaGrad sums][flag]       flag: trib_sync_round_flag
 *     received: the P parts in rank order; rank k's group is
 *       ((k + shift) mod P) * Q + column, shift = the round's stratum shift
 *       (the same on every rank: from this rank's own group)
 *
 * Overlap (--overlap on).  A round visits its group in two halves (the
 * order's round_half), the rows of the first half, then those of the second.
 * Each half's rows are exchanged while the next half runs (MPI_Iallgatherv,
 * progressed by MPI_Test between pieces of the SGD):
 *
 *     SGD first half of r | land second half of r-1 | start first half of r
 *     SGD second half of r | land first half of r   | start second half of r ...
 *
 * No rank touches a half's rows in the next half (the order's guarantee,
 * tested in test_order), and a half's rows land before the half that needs
 * them next starts, so the result is bitwise the same as without overlap.
 * The stop requests travel with the first half's exchange and take effect
 * at the end of the same round, as without overlap; a rank whose SGD failed
 * still joins the round's exchanges and returns its error (the loop's
 * agreement ends the run on every rank); destroy completes what is in flight.
 *
 * Every rank must cut the items into the same groups: the trainer fixes the
 * item block on every rank alike (trainer.c, create_grid).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "coll/coll_internal.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/timer.h"
#include "train/internal.h"

/* SGD pieces per half round with --overlap on: the exchange in flight progresses between them. */
#define STRATA_PIECES 32

/* The rows of a group an exchange carries. */
typedef enum { ROWS_ALL = 0, ROWS_FIRST = 1, ROWS_SECOND = 2 } rows_part_t;

typedef struct {
    float *mine;             /* this rank's part as float32 (then narrowed into wire_mine for a 16-bit wire) */
    float *all;              /* every rank's part, as float32 */
    uint16_t *wire_mine, *wire_all; /* --sync-precision bf16|fp16: the same on the wire */
    int *counts, *displs;    /* per rank, in wire elements */
    size_t column, shift;    /* the round's column and stratum shift */
    rows_part_t part;        /* which part of each group's rows */
    MPI_Request req;         /* the exchange in flight (--overlap on) */
    int busy;                /* 1 from its start until it is applied */
} strata_buf_t;

typedef struct {
    trib_mf_block_t snap;    /* items as every rank last agreed on them (identical on all ranks) */
    size_t Q;                /* columns */
    size_t *first, *mid, *end; /* item rows [first[g], end[g]) of group g, second half from mid[g] */
    strata_buf_t buf[2];     /* overlap: the first and the second half's exchange; else buf[0] only */
} strata_state_t;

static void strata_destroy(void *state)
{
    strata_state_t *s = state;
    if (!s)
        return;
    for (int i = 0; i < 2; i++) {
        strata_buf_t *b = &s->buf[i];
        if (b->req != MPI_REQUEST_NULL) /* every rank has the same exchange in flight: complete it */
            MPI_Wait(&b->req, MPI_STATUS_IGNORE);
        trib_aligned_free(b->mine);
        trib_aligned_free(b->all);
        free(b->wire_mine);
        free(b->wire_all);
        free(b->counts);
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

/* The group rank k visits in b's round. */
static size_t group_of(const strata_state_t *s, const strata_buf_t *b, size_t P, size_t k)
{
    return (k + b->shift) % P * s->Q + b->column;
}

/* Rows of the P groups of column c. */
static size_t column_rows(const strata_state_t *s, size_t P, size_t c)
{
    size_t m = 0;
    for (size_t k = 0; k < P; k++)
        m += s->end[k * s->Q + c] - s->first[k * s->Q + c];
    return m;
}

static int alloc_buf(strata_buf_t *b, size_t P, size_t most_group, size_t most_column, size_t row_floats, int wire16)
{
    size_t mine = most_group * row_floats + 1, all = most_column * row_floats + P;
    b->req = MPI_REQUEST_NULL;
    b->mine = trib_aligned_calloc(TRIB_ALIGN, trib_round_up(mine, TRIB_MF_STRIDE_FLOATS) * sizeof(float));
    b->all = trib_aligned_calloc(TRIB_ALIGN, trib_round_up(all, TRIB_MF_STRIDE_FLOATS) * sizeof(float));
    b->counts = calloc(2 * P, sizeof *b->counts);
    if (wire16) {
        b->wire_mine = malloc(mine * sizeof *b->wire_mine);
        b->wire_all = malloc(all * sizeof *b->wire_all);
    }
    if (!b->mine || !b->all || !b->counts || (wire16 && (!b->wire_mine || !b->wire_all)))
        return trib_errorf(TRIB_ERR_NOMEM, "strata: cannot allocate the exchange buffers (%zu floats)", all);
    b->displs = b->counts + P;
    return TRIB_OK;
}

static int strata_create(trib_trainer_t *t, void **state)
{
    strata_state_t *s = calloc(1, sizeof *s);
    if (!s)
        return trib_errorf(TRIB_ERR_NOMEM, "strata: out of memory");
    s->buf[0].req = s->buf[1].req = MPI_REQUEST_NULL;
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
    size_t most_group = 0, most_column = 0;
    for (size_t g = 0; rc == TRIB_OK && g < R; g++) {
        size_t m = s->end[g] - s->first[g];
        most_group = m > most_group ? m : most_group;
    }
    for (size_t c = 0; rc == TRIB_OK && c < s->Q; c++) {
        size_t m = column_rows(s, P, c);
        most_column = m > most_column ? m : most_column;
    }
    size_t row_floats = t->model.items.stride + 2;
    if (rc == TRIB_OK && (most_column * row_floats + P) > (size_t)INT_MAX)
        rc = trib_errorf(TRIB_ERR_RANGE, "strata: a round's %zu item rows exceed MPI's count range; use more rounds "
                         "(--sync-every)", most_column);
    for (int i = 0; rc == TRIB_OK && t->size > 1 && i < (t->cfg.sync_overlap ? 2 : 1); i++)
        rc = alloc_buf(&s->buf[i], P, most_group, most_column, row_floats, t->cfg.sync_precision != TRIB_WIRE_NATIVE);
    if (rc != TRIB_OK) {
        strata_destroy(s);
        return rc;
    }
    if (t->rank == 0)
        trib_log(TRIB_LOG_DEBUG, "strata: %zu groups (%zu columns), a round exchanges up to %zu of %zu item rows", R,
                 s->Q, most_column, t->model.items.n_rows);
    *state = s;
    return TRIB_OK;
}

/* Fills b for `part` of this rank's group `own`: every rank's counts and displacements, its own delta and flag. */
static void pack_mine(const trib_trainer_t *t, const strata_state_t *s, strata_buf_t *b, size_t own,
                      rows_part_t part, int stop, int failed)
{
    const trib_mf_block_t *cur = &t->model.items, *snap = &s->snap;
    size_t stride = cur->stride, P = (size_t)t->size, p = (size_t)t->rank, row_floats = stride + 2;
    b->column = own % s->Q;
    b->part = part;
    b->shift = (own / s->Q + P - p) % P;
    size_t off = 0, r0, r1;
    for (size_t k = 0; k < P; k++) {
        group_part(s, group_of(s, b, P, k), part, &r0, &r1);
        b->counts[k] = (int)((r1 - r0) * row_floats + 1);
        b->displs[k] = (int)off;
        off += (size_t)b->counts[k];
    }
    group_part(s, own, part, &r0, &r1);
    size_t n = r1 - r0;
    float *df = b->mine, *db = df + n * stride, *dg = db + n;
    const float *cf = cur->factors + r0 * stride, *sf = snap->factors + r0 * stride;
    for (size_t i = 0; i < n * stride; i++)
        df[i] = cf[i] - sf[i];
    for (size_t i = 0; i < n; i++) {
        db[i] = cur->bias[r0 + i] - snap->bias[r0 + i];
        dg[i] = cur->adagrad[r0 + i] - snap->adagrad[r0 + i];
    }
    b->mine[n * row_floats] = trib_sync_round_flag(t, stop, failed);
    if (b->wire_mine)
        trib_coll_wire_narrow(t->cfg.sync_precision, b->wire_mine, b->mine, n * row_floats + 1);
}

/* Packs and starts an exchange; without overlap it is complete on return. */
static int start(trib_trainer_t *t, strata_buf_t *b, strata_state_t *s, size_t own, rows_part_t part, int stop,
                 int failed)
{
    pack_mine(t, s, b, own, part, stop, failed);
    int wire16 = b->wire_mine != NULL;
    void *send = wire16 ? (void *)b->wire_mine : (void *)b->mine, *recv = wire16 ? (void *)b->wire_all : (void *)b->all;
    MPI_Datatype type = wire16 ? MPI_UINT16_T : MPI_FLOAT;
    double t0 = trib_now();
    int mrc = MPI_Iallgatherv(send, b->counts[t->rank], type, recv, b->counts, b->displs, type, t->comm, &b->req);
    if (mrc == MPI_SUCCESS && !t->cfg.sync_overlap)
        mrc = MPI_Wait(&b->req, MPI_STATUS_IGNORE);
    t->comm_seconds += trib_now() - t0;
    if (mrc != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "strata: MPI_Iallgatherv of a round's item rows (%d of them here) failed",
                           b->counts[t->rank]);
    b->busy = 1;
    return TRIB_OK;
}

/*
 * Completes b's exchange (waits for it when it is in flight) and applies every rank's part:
 * items = snap + delta, snap = items.  *stop |= the stop requests it carried.  A failed rank's
 * flag leaves the rows as they are: its error was agreed in its own round, and the run ends.
 */
static int land(trib_trainer_t *t, strata_state_t *s, strata_buf_t *b, int *stop)
{
    if (!b->busy)
        return TRIB_OK;
    double t0 = trib_now();
    int mrc = b->req != MPI_REQUEST_NULL ? MPI_Wait(&b->req, MPI_STATUS_IGNORE) : MPI_SUCCESS;
    t->comm_seconds += trib_now() - t0;
    b->busy = 0;
    if (mrc != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "strata: MPI_Iallgatherv of a round's item rows failed");
    size_t P = (size_t)t->size;
    if (b->wire_all)
        trib_coll_wire_widen(t->cfg.sync_precision, b->all, b->wire_all,
                             (size_t)b->displs[P - 1] + (size_t)b->counts[P - 1]);
    float flags = 0.0f;
    for (size_t k = 0; k < P; k++)
        flags += b->all[b->displs[k] + b->counts[k] - 1];
    if (flags > 0.5f * trib_sync_fail_flag(t->size))
        return TRIB_OK;
    *stop |= flags > 0.0f;
    trib_mf_block_t *items = &t->model.items, *snap = &s->snap;
    size_t stride = items->stride, r0, r1;
    for (size_t k = 0; k < P; k++) {
        group_part(s, group_of(s, b, P, k), b->part, &r0, &r1);
        size_t n = r1 - r0;
        const float *d = b->all + b->displs[k], *db = d + n * stride, *dg = db + n;
        float *cf = items->factors + r0 * stride, *pf = snap->factors + r0 * stride;
        for (size_t i = 0; i < n * stride; i++) /* one expression per element, as the sync strategy's */
            cf[i] = pf[i] + d[i];
        memcpy(pf, cf, n * stride * sizeof(float));
        for (size_t i = 0; i < n; i++) {
            items->bias[r0 + i] = snap->bias[r0 + i] + db[i];
            snap->bias[r0 + i] = items->bias[r0 + i];
            items->adagrad[r0 + i] = snap->adagrad[r0 + i] + dg[i];
            snap->adagrad[r0 + i] = items->adagrad[r0 + i];
        }
    }
    return TRIB_OK;
}

/* Moves b's exchange in flight on (trib_sync_sgd_pieces' progress step). */
static int test_exchange(void *arg)
{
    strata_buf_t *b = arg;
    int done = 0;
    if (b->req != MPI_REQUEST_NULL && MPI_Test(&b->req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "strata: MPI_Test of a round's exchange failed");
    return TRIB_OK;
}

/* --overlap on: one round in two halves (top comment).  buf[0]: first halves, buf[1]: second halves. */
static int overlap_round(trib_trainer_t *t, strata_state_t *s, unsigned epoch, size_t begin, size_t end, int *stop)
{
    strata_buf_t *first = &s->buf[0], *second = &s->buf[1];
    size_t half = (size_t)t->round_half[t->next_round], own = t->round_group[t->next_round];
    int sgd_rc = trib_sync_sgd_pieces(t, epoch, begin, half, STRATA_PIECES, test_exchange, second);
    int want_stop = *stop, rc, ignored = 0;
    *stop = 0;
    if ((rc = land(t, s, second, &ignored)) != TRIB_OK) /* the previous round's second half */
        return rc;
    if ((rc = start(t, first, s, own, ROWS_FIRST, want_stop, sgd_rc != TRIB_OK)) != TRIB_OK)
        return rc;
    if (sgd_rc == TRIB_OK)
        sgd_rc = trib_sync_sgd_pieces(t, epoch, half, end, STRATA_PIECES, test_exchange, first);
    if ((rc = land(t, s, first, stop)) != TRIB_OK)
        return rc;
    if ((rc = start(t, second, s, own, ROWS_SECOND, 0, sgd_rc != TRIB_OK)) != TRIB_OK)
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
    size_t own = t->round_group[t->next_round];
    int rc;
    if (t->cfg.sync_overlap) {
        rc = overlap_round(t, s, epoch, begin, end, stop);
    } else {
        trib_mf_hparams_t hp = trib_train_sgd_hparams(t);
        int sgd_rc = trib_mf_sgd_run(&t->model, &hp, epoch, t->train, t->n_train, t->order, begin, end);
        int want_stop = *stop;
        *stop = 0;
        rc = start(t, &s->buf[0], s, own, ROWS_ALL, want_stop, sgd_rc != TRIB_OK);
        if (rc == TRIB_OK)
            rc = sgd_rc;
        if (rc == TRIB_OK)
            rc = land(t, s, &s->buf[0], stop);
    }
    size_t n_rows = t->model.items.n_rows;
    if (rc == TRIB_OK) /* the share of the block a round exchanges: its column's rows */
        trib_sync_count(t, n_rows ? (double)column_rows(s, (size_t)t->size, own % s->Q) / (double)n_rows : 1.0);
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
        if (s->buf[i].req != MPI_REQUEST_NULL)
            MPI_Wait(&s->buf[i].req, MPI_STATUS_IGNORE);
        s->buf[i].busy = 0;
    }
    return trib_mf_block_copy_values(&s->snap, &t->model.items);
}

const trib_strategy_t trib_strategy_strata = {"strata", strata_create, strata_round, strata_settle, strata_reset,
                                              strata_destroy, 0};
