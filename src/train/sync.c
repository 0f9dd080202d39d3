/*
 * sync.c - the synchronous data-parallel strategy.
 *
 * Every rank holds the whole item block (factors, biases and AdaGrad sums in
 * one float array, tributary/mf.h) and its own users.  One round:
 *
 *   1. local SGD over this rank's slice [begin, end) of the epoch's order;
 *   2. delta = items - snap, where snap is the item block every rank held at
 *      the start of the round (identical everywhere); one extra float after
 *      the delta carries this rank's stop request;
 *   3. one trib_allreduce_ex(SUM) of delta + flag with the chosen algorithm
 *      (the only communication of the round; its time is the "comm" figure),
 *      in float32 or, with --sync-precision bf16|fp16, as 16-bit values
 *      summed in float32 (allreduce.h: rounding points and error bound; the
 *      sum is still bitwise the same on every rank, so step 4 is too);
 *   4. items = snap + scale * sum, written from (snap, sum) alone, so every
 *      rank computes the same bits; scale 1/P is model averaging (the mean of
 *      the P replicas), scale 1 is delta summation (every rank's update kept,
 *      as if the ranks had run one after another);  snap = items;
 *   5. optional check (check_sync): the hash of the item block is compared
 *      across ranks with one allreduce MAX of (h, ~h): equal on every rank iff
 *      max(h) == ~max(~h) == min(h).
 *
 *     rank 0:  snap --SGD--> cur0      delta0 = cur0 - snap  \
 *     rank 1:  snap --SGD--> cur1      delta1 = cur1 - snap   }--allreduce SUM--> S
 *     rank 2:  snap --SGD--> cur2      delta2 = cur2 - snap  /
 *     every rank: items = snap + scale * S;  snap = items
 *
 * Overlap (--overlap on).  The allreduce of round r runs while round r + 1's
 * SGD proceeds (progress: the SGD runs in pieces with a trib_test between
 * them), and its sum is applied one round late, keeping the local progress
 * made since the delta was taken:
 *
 *     end of round r+1:  wait for S (round r's sum);  snap' = snap + scale * S
 *                        items = snap' + (items - base)      base: items when round r's delta was taken
 *                        delta = items - snap' (= the progress since base);  start its allreduce;  base = items
 *
 * snap' is the same on every rank; items are not, until settle (epoch end,
 * evaluation, checkpoints, the model file) completes the last allreduce and
 * reduces the remaining progress with a blocking one, after which every rank
 * holds the same block again.  A stop request travels with the delta and so
 * takes effect one round later.  Deterministic for a seed and a rank count;
 * a run that settles at other points (a checkpoint taken on a signal
 * mid-epoch) takes another path than one that does not.
 *
 * Changed rows only (--sync-rows, without overlap).  Each rank marks in a
 * bitmap the item rows of its round's ratings (the only rows its SGD can
 * change); one allreduce (bitwise OR) of the bitmaps gives the rows some
 * rank may have changed, the same set U on every rank.  A row outside U is
 * bitwise equal to snap on every rank, its delta zero everywhere, so steps
 * 2-4 need only the rows of U: the delta of U's rows (their factors, then
 * their biases, then their AdaGrad sums, then the flag) is reduced and
 * applied to U's rows.  Their sums are the same numbers as in the
 * whole-block reduction, at other positions of the vector, so the algorithm
 * may add them in another order: the result is identical on every rank and
 * deterministic for a seed and rank count, but not bitwise the whole-block
 * run's.  auto sends U when
 * it is at most 3/4 of the rows (every rank decides alike from U).  It
 * first marks only every 8th rating of each rank's slice: if those rows
 * alone are over 3/4, the round sends the whole block and has cost one
 * eighth of a marking pass and the bitmap's allreduce; otherwise it marks
 * every rating and reduces that bitmap too.  The choice depends on the
 * round's ratings alone, so a resumed run makes the same ones.
 *
 * With one rank there is nothing to synchronise: the round is plain SGD.
 * Which method converges better at which sync interval is measured in
 * benchmarks/RESULTS.md ("## Training"); the default follows that.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/timer.h"
#include "train/internal.h"

typedef struct {
    trib_mf_block_t snap; /* item block at the start of the round (identical on all ranks) */
    float *buf;           /* delta (n_values floats) + stop flag, padded */
    size_t n;             /* floats reduced: n_values + 1 */
    trib_allreduce_opts_t opts;
    /* --sync-rows auto|touched without overlap */
    uint64_t *marks;      /* one bit per item row: changed by some rank in this round */
    size_t n_words;
    trib_allreduce_opts_t mark_opts; /* opts with the native wire (the marks are bits) */
    /* --overlap on */
    trib_mf_block_t base; /* the item block when the delta in flight was taken */
    float *flight;        /* the buffer of the allreduce in flight (in place) */
    trib_request_t req;   /* that allreduce, until a trib_test or trib_wait completes it */
    int in_flight;        /* 1 from its start until its sum is applied */
    int flight_rc;        /* the outcome of a trib_test that completed it */
    int unsettled;        /* 1: rounds ran since the last settle (ranks' blocks differ) */
} sync_state_t;

/* --sync-rows auto: the first marking takes every AUTO_SAMPLE-th rating of the round (top comment). */
#define AUTO_SAMPLE 8

/* SGD pieces per round with --overlap on: the allreduce in flight progresses between them. */
#define OVERLAP_PIECES 16

static void sync_destroy(void *state)
{
    sync_state_t *s = state;
    if (!s)
        return;
    /* Every rank has the same request in flight (even after an error, see overlap_round): complete it. */
    if (s->req)
        trib_wait(&s->req);
    trib_mf_block_destroy(&s->snap);
    trib_mf_block_destroy(&s->base);
    trib_aligned_free(s->buf);
    trib_aligned_free(s->flight);
    free(s->marks);
    free(s);
}

static float *alloc_buf(size_t n)
{
    return trib_aligned_calloc(TRIB_ALIGN, trib_round_up(n, TRIB_MF_STRIDE_FLOATS) * sizeof(float));
}

static int sync_create(trib_trainer_t *t, void **state)
{
    sync_state_t *s = calloc(1, sizeof *s);
    if (!s)
        return trib_errorf(TRIB_ERR_NOMEM, "sync: out of memory");
    int rc = trib_mf_block_clone(&s->snap, &t->model.items);
    if (rc == TRIB_OK) {
        s->n = t->model.items.n_values + 1;
        s->buf = alloc_buf(s->n);
        if (!s->buf)
            rc = trib_errorf(TRIB_ERR_NOMEM, "sync: cannot allocate the %zu-float synchronisation buffer", s->n);
    }
    if (rc == TRIB_OK && t->cfg.sync_overlap && t->size > 1) {
        s->flight = alloc_buf(s->n);
        rc = s->flight ? trib_mf_block_clone(&s->base, &t->model.items)
                       : trib_errorf(TRIB_ERR_NOMEM, "sync: cannot allocate the %zu-float overlap buffer", s->n);
    }
    if (rc == TRIB_OK && !t->cfg.sync_overlap && t->size > 1 && t->cfg.sync_rows != TRIB_SYNC_ROWS_ALL) {
        s->n_words = (t->model.items.n_rows + 63) / 64;
        s->marks = calloc(s->n_words ? s->n_words : 1, sizeof *s->marks);
        if (!s->marks)
            rc = trib_errorf(TRIB_ERR_NOMEM, "sync: cannot allocate the %zu-word bitmap of changed rows", s->n_words);
    }
    if (rc != TRIB_OK) {
        sync_destroy(s);
        return rc;
    }
    trib_allreduce_opts_init(&s->opts);
    s->opts.algo = t->cfg.algo;
    s->opts.wire = t->cfg.sync_precision;
    s->mark_opts = s->opts;
    s->mark_opts.wire = TRIB_WIRE_NATIVE;
    /* One trial reduction of the real size (zeros): an algorithm that cannot
     * run here fails now, before the first epoch, on every rank alike. */
    if (t->size > 1) {
        trib_clear_error();
        rc = trib_allreduce_ex(s->buf, s->buf, s->n, MPI_FLOAT, MPI_SUM, t->comm, &s->opts);
        if (rc != TRIB_OK)
            rc = trib_train_error_context(rc, "--allreduce %s cannot reduce the item block (%zu floats)",
                                          trib_train_algo_name(s->opts.algo), s->n);
    }
    if (rc != TRIB_OK) {
        sync_destroy(s);
        return rc;
    }
    *state = s;
    return TRIB_OK;
}

int trib_sync_check_items(trib_trainer_t *t, unsigned epoch)
{
    uint64_t h = trib_trainer_item_hash(t);
    trib_clear_error();
    int64_t v[2] = {(int64_t)h, (int64_t)~h}, r[2];
    int rc = trib_allreduce(v, r, 2, MPI_INT64_T, MPI_MAX, t->comm);
    if (rc != TRIB_OK)
        return trib_train_error_context(rc, "check-sync: allreduce of item hashes failed");
    if ((uint64_t)r[0] != ~(uint64_t)r[1])
        return trib_errorf(TRIB_ERR_MISMATCH, "check-sync: item block differs between ranks after a "
                           "synchronisation in epoch %u", epoch + 1);
    return TRIB_OK;
}

/*
 * The flag of a failed rank: F, the smallest power of two >= 4P.  The stop
 * requests sum to at most P < F/2 and any failure makes the sum >= F, and
 * both stay on their side of F/2 when the sum travels as 16-bit values
 * (--sync-precision): F is exact in bf16 and fp16 (P < 16384), and rounding
 * to nearest is monotone, so a sum of terms >= F rounds to >= F and one of
 * at most P < F/2 rounds to at most F/2.
 */
float trib_sync_fail_flag(int p)
{
    float f = 4.0f;
    while (f < 4.0f * (float)p)
        f *= 2.0f;
    return f;
}

float trib_sync_round_flag(const trib_trainer_t *t, int stop, int failed)
{
    return (stop ? 1.0f : 0.0f) + (failed ? trib_sync_fail_flag(t->size) : 0.0f);
}

void trib_sync_count(trib_trainer_t *t, double share)
{
    t->sync_rows_sum += share;
    t->sync_rows_n++;
}

/* delta = items - snap into buf, and the flag after it (round_flag). */
static void take_delta(const trib_trainer_t *t, const sync_state_t *s, float *buf, int stop, int failed)
{
    const float *cur = t->model.items.values, *snap = s->snap.values;
    size_t nv = t->model.items.n_values;
    for (size_t j = 0; j < nv; j++)
        buf[j] = cur[j] - snap[j];
    buf[nv] = trib_sync_round_flag(t, stop, failed);
}

/*
 * Sets the bit of the item row of every rating of the round's slice: the only rows the round's SGD
 * can have changed (a superset of them: a step that happened to leave a row's bits as they were
 * still marks it, which costs only its bytes).  One pass over the slice's ratings, where comparing
 * the block with snap would read the whole block twice every round.
 */
static void mark_round_items(const trib_trainer_t *t, size_t begin, size_t end, size_t step, uint64_t *marks,
                             size_t n_words)
{
    memset(marks, 0, n_words * sizeof *marks);
    size_t n_rows = t->model.items.n_rows;
    const uint32_t *order = t->order;
    for (size_t i = begin; i < end; i += step) {
        if (order && i + 16 * step < end) /* the ratings are visited in the round's (random) order */
            __builtin_prefetch(&t->train[order[i + 16 * step]]);
        uint32_t r = t->train[order ? order[i] : i].item;
        if (r < n_rows)
            marks[r / 64] |= (uint64_t)1 << (r % 64);
    }
}

static size_t count_marked(const uint64_t *marks, size_t n_words)
{
    size_t m = 0;
    for (size_t w = 0; w < n_words; w++)
        m += (size_t)__builtin_popcountll(marks[w]);
    return m;
}

/*
 * The marks of every step-th rating of the round's slice, OR-ed over the ranks into s->marks;
 * *m = the rows marked.
 */
static int reduce_marks(trib_trainer_t *t, sync_state_t *s, size_t begin, size_t end, size_t step, size_t *m)
{
    mark_round_items(t, begin, end, step, s->marks, s->n_words);
    trib_clear_error();
    int rc = trib_allreduce_ex(s->marks, s->marks, s->n_words, MPI_UINT64_T, MPI_BOR, t->comm, &s->mark_opts);
    if (rc != TRIB_OK)
        return trib_train_error_context(rc, "sync: allreduce of the changed-row bitmap (%zu words) failed",
                                        s->n_words);
    *m = count_marked(s->marks, s->n_words);
    if (t->rank == 0)
        trib_log(TRIB_LOG_DEBUG, "sync: the round's ratings (1 in %zu looked at) name %zu of %zu item rows", step,
                 *m, t->model.items.n_rows);
    return TRIB_OK;
}

#define MARKED(marks, r) (((marks)[(r) / 64] >> ((r) % 64)) & 1u)

/*
 * delta = items - snap of the m marked rows into buf: their factor rows, then their biases, then
 * their AdaGrad sums, then the flag (as take_delta's).  Returns the floats to reduce.
 */
static size_t take_delta_marked(const trib_trainer_t *t, const sync_state_t *s, float *buf, size_t m, int stop,
                                int failed)
{
    const trib_mf_block_t *cur = &t->model.items, *snap = &s->snap;
    size_t stride = cur->stride, j = 0;
    float *db = buf + m * stride, *dg = db + m;
    for (size_t r = 0; r < cur->n_rows; r++) {
        if (!MARKED(s->marks, r))
            continue;
        const float *c = cur->factors + r * stride, *p = snap->factors + r * stride;
        float *d = buf + j * stride;
        for (size_t i = 0; i < stride; i++)
            d[i] = c[i] - p[i];
        db[j] = cur->bias[r] - snap->bias[r];
        dg[j] = cur->adagrad[r] - snap->adagrad[r];
        j++;
    }
    size_t n = m * (stride + 2);
    buf[n] = trib_sync_round_flag(t, stop, failed);
    return n + 1;
}

/* items = snap + scale * sum on the marked rows (sum laid out as take_delta_marked writes it), and snap = items there. */
static void apply_marked(trib_mf_block_t *items, trib_mf_block_t *snap, const float *sum, const uint64_t *marks,
                         size_t m, float scale)
{
    size_t stride = items->stride, j = 0;
    const float *sb = sum + m * stride, *sg = sb + m;
    for (size_t r = 0; r < items->n_rows; r++) {
        if (!MARKED(marks, r))
            continue;
        float *c = items->factors + r * stride, *s = snap->factors + r * stride;
        const float *d = sum + j * stride;
        for (size_t i = 0; i < stride; i++) /* one expression per element, as trib_mf_block_apply_delta */
            c[i] = s[i] + scale * d[i];
        memcpy(s, c, stride * sizeof(float));
        items->bias[r] = snap->bias[r] + scale * sb[j];
        snap->bias[r] = items->bias[r];
        items->adagrad[r] = snap->adagrad[r] + scale * sg[j];
        snap->adagrad[r] = items->adagrad[r];
        j++;
    }
}

static float sync_scale(const trib_trainer_t *t)
{
    return t->cfg.sync_method == TRIB_SYNC_AVERAGE ? 1.0f / (float)t->size : 1.0f;
}

/*
 * --overlap on: completes the allreduce in flight and applies its sum one
 * round late (top comment).  *stop |= the stop requests it carried; *failed:
 * a rank's SGD failed in that round (its own error was agreed then already).
 */
static int land_flight(trib_trainer_t *t, sync_state_t *s, int *stop, int *failed)
{
    *failed = 0;
    if (!s->in_flight)
        return TRIB_OK;
    double t0 = trib_now();
    int rc = s->req ? trib_wait(&s->req) : s->flight_rc;
    t->comm_seconds += trib_now() - t0;
    s->in_flight = 0;
    if (rc != TRIB_OK)
        return trib_train_error_context(rc, "sync: allreduce of the item block (%zu floats, --allreduce %s) failed",
                                        s->n, trib_train_algo_name(s->opts.algo));
    trib_mf_block_t *items = &t->model.items;
    size_t nv = items->n_values;
    float flags = s->flight[nv];
    if (flags > 0.5f * trib_sync_fail_flag(t->size)) {
        *failed = 1;
        return TRIB_OK;
    }
    *stop |= flags > 0.0f;
    /* snap' = snap + scale * S (the same bits everywhere); items = snap' + (items - base) */
    if ((rc = trib_mf_block_apply_delta(&s->snap, &s->snap, s->flight, sync_scale(t))) != TRIB_OK)
        return rc;
    float *cur = items->values;
    const float *snap = s->snap.values, *base = s->base.values;
    for (size_t j = 0; j < nv; j++)
        cur[j] = snap[j] + (cur[j] - base[j]);
    return TRIB_OK;
}

int trib_sync_sgd_pieces(trib_trainer_t *t, unsigned epoch, size_t begin, size_t end, size_t pieces,
                         int (*progress)(void *arg), void *arg)
{
    size_t n = end - begin, piece = (n + pieces - 1) / pieces;
    trib_mf_hparams_t hp = trib_train_sgd_hparams(t);
    for (size_t b = begin; b < end; b += piece) {
        size_t e = end - b > piece ? b + piece : end;
        int rc = trib_mf_sgd_run(&t->model, &hp, epoch, t->train, t->n_train, t->order, b, e);
        if (rc == TRIB_OK)
            rc = progress(arg);
        if (rc != TRIB_OK)
            return rc;
    }
    return TRIB_OK;
}

/* Moves the allreduce in flight on; one that completes with an error is left for land_flight to report. */
static int test_flight(void *arg)
{
    sync_state_t *s = arg;
    if (s->req) {
        int done = 0;
        s->flight_rc = trib_test(&s->req, &done);
        if (s->flight_rc != TRIB_OK)
            s->req = TRIB_REQUEST_NULL;
    }
    return TRIB_OK;
}

/*
 * One round with --overlap on.  A rank whose SGD failed still lands the
 * allreduce in flight and starts this round's (with its flag F), so every
 * rank's requests complete; the loop's agreement step then ends the run on
 * every rank.
 */
static int overlap_round(trib_trainer_t *t, sync_state_t *s, unsigned epoch, size_t begin, size_t end, int *stop)
{
    int sgd_rc = trib_sync_sgd_pieces(t, epoch, begin, end, OVERLAP_PIECES, test_flight, s);
    int want_stop = *stop, failed = 0;
    *stop = 0;
    int rc = land_flight(t, s, stop, &failed);
    if (rc != TRIB_OK)
        return rc;
    take_delta(t, s, s->flight, want_stop, sgd_rc != TRIB_OK);
    if ((rc = trib_mf_block_copy_values(&s->base, &t->model.items)) != TRIB_OK)
        return rc;
    trib_clear_error();
    rc = trib_iallreduce_ex(s->flight, s->flight, s->n, MPI_FLOAT, MPI_SUM, t->comm, &s->opts, &s->req);
    if (rc != TRIB_OK)
        return trib_train_error_context(rc, "sync: starting the allreduce of the item block (%zu floats) failed",
                                        s->n);
    s->in_flight = 1;
    s->flight_rc = TRIB_OK;
    s->unsettled = 1;
    trib_sync_count(t, 1.0); /* the overlapped allreduce sends the whole block */
    return sgd_rc;
}

/*
 * A rank whose SGD failed still joins the allreduce (flag value F above), so no
 * rank is left waiting; it returns its error and the loop's agreement step
 * hands that message to every rank.
 */
static int sync_round(trib_trainer_t *t, void *state, unsigned epoch, size_t begin, size_t end, int *stop)
{
    sync_state_t *s = state;
    if (s->flight)
        return overlap_round(t, s, epoch, begin, end, stop);
    trib_mf_block_t *items = &t->model.items;
    trib_mf_hparams_t hp = trib_train_sgd_hparams(t);
    int sgd_rc = trib_mf_sgd_run(&t->model, &hp, epoch, t->train, t->n_train, t->order, begin, end);
    if (t->size == 1)
        return sgd_rc;

    float *buf = s->buf;
    size_t count = s->n, m = items->n_rows;
    int rows_only = 0, rc;
    double t0 = trib_now();
    if (s->marks) { /* the rows some rank changed (top comment) */
        size_t step = t->cfg.sync_rows == TRIB_SYNC_ROWS_AUTO ? AUTO_SAMPLE : 1;
        rc = reduce_marks(t, s, begin, end, step, &m);
        if (rc == TRIB_OK && step > 1 && 4 * m <= 3 * items->n_rows) /* the sample leaves room: every rating */
            rc = reduce_marks(t, s, begin, end, 1, &m);
        if (rc != TRIB_OK) {
            t->comm_seconds += trib_now() - t0;
            return rc;
        }
        rows_only = t->cfg.sync_rows == TRIB_SYNC_ROWS_TOUCHED || 4 * m <= 3 * items->n_rows;
        if (!rows_only)
            m = items->n_rows;
    }
    if (rows_only)
        count = take_delta_marked(t, s, buf, m, *stop, sgd_rc != TRIB_OK);
    else
        take_delta(t, s, buf, *stop, sgd_rc != TRIB_OK);
    trib_clear_error();
    rc = trib_allreduce_ex(buf, buf, count, MPI_FLOAT, MPI_SUM, t->comm, &s->opts);
    t->comm_seconds += trib_now() - t0;
    if (rc != TRIB_OK)
        return trib_train_error_context(rc, "sync: allreduce of the item block (%zu floats, --allreduce %s) failed",
                                        count, trib_train_algo_name(s->opts.algo));
    if (sgd_rc != TRIB_OK)
        return sgd_rc;
    float flags = buf[count - 1];
    if (flags > 0.5f * trib_sync_fail_flag(t->size)) /* another rank failed: its message wins in the loop's agreement */
        return TRIB_OK;
    *stop = flags > 0.0f;
    trib_sync_count(t, items->n_rows ? (double)m / (double)items->n_rows : 1.0);

    if (rows_only) {
        apply_marked(items, &s->snap, buf, s->marks, m, sync_scale(t));
        rc = TRIB_OK;
    } else {
        rc = trib_mf_block_apply_delta(items, &s->snap, buf, sync_scale(t));
        if (rc == TRIB_OK)
            rc = trib_mf_block_copy_values(&s->snap, items);
    }
    if (rc == TRIB_OK && t->cfg.check_sync)
        rc = trib_sync_check_items(t, epoch);
    return rc;
}

/*
 * Without overlap every round ends synchronised.  With it: land the
 * allreduce in flight, then reduce the progress made since with a blocking
 * one, so every rank holds the same block (collective: every rank settles
 * at the same points).
 */
static int sync_settle(trib_trainer_t *t, void *state)
{
    sync_state_t *s = state;
    if (!s->flight || !s->unsettled)
        return TRIB_OK;
    int stop = 0, failed = 0;
    int rc = land_flight(t, s, &stop, &failed);
    if (rc != TRIB_OK || failed) /* failed: that rank's error was agreed in its round; nothing to settle */
        return rc;
    take_delta(t, s, s->buf, 0, 0);
    double t0 = trib_now();
    trib_clear_error();
    rc = trib_allreduce_ex(s->buf, s->buf, s->n, MPI_FLOAT, MPI_SUM, t->comm, &s->opts);
    t->comm_seconds += trib_now() - t0;
    if (rc != TRIB_OK)
        return trib_train_error_context(rc, "sync: allreduce of the item block (%zu floats, --allreduce %s) failed",
                                        s->n, trib_train_algo_name(s->opts.algo));
    trib_sync_count(t, 1.0);
    if ((rc = trib_mf_block_apply_delta(&t->model.items, &s->snap, s->buf, sync_scale(t))) == TRIB_OK)
        rc = trib_mf_block_copy_values(&s->snap, &t->model.items);
    if (rc == TRIB_OK)
        s->unsettled = 0;
    if (rc == TRIB_OK && t->cfg.check_sync)
        rc = trib_sync_check_items(t, t->next_epoch ? t->next_epoch - 1 : 0);
    return rc;
}

/* The item block was restored from elsewhere: the next round's deltas are taken against it. */
static int sync_reset(trib_trainer_t *t, void *state)
{
    sync_state_t *s = state;
    if (s->req) /* restored while an allreduce was in flight: finish it and drop its sum */
        trib_wait(&s->req);
    s->in_flight = 0;
    s->unsettled = 0;
    return trib_mf_block_copy_values(&s->snap, &t->model.items);
}

const trib_strategy_t trib_strategy_sync = {"sync", sync_create, sync_round, sync_settle, sync_reset, sync_destroy, 0};
