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
 * With one rank there is nothing to synchronise: the round is plain SGD.
 * Which method converges better at which sync interval is measured in
 * benchmarks/RESULTS.md ("## Training"); the default follows that.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/timer.h"
#include "train/internal.h"

typedef struct {
    trib_mf_block_t snap; /* item block at the start of the round (identical on all ranks) */
    float *buf;           /* delta (n_values floats) + stop flag, padded */
    size_t n;             /* floats reduced: n_values + 1 */
    trib_allreduce_opts_t opts;
    /* --overlap on */
    trib_mf_block_t base; /* the item block when the delta in flight was taken */
    float *flight;        /* the buffer of the allreduce in flight (in place) */
    trib_request_t req;   /* that allreduce, until a trib_test or trib_wait completes it */
    int in_flight;        /* 1 from its start until its sum is applied */
    int flight_rc;        /* the outcome of a trib_test that completed it */
    int unsettled;        /* 1: rounds ran since the last settle (ranks' blocks differ) */
} sync_state_t;

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
    if (rc != TRIB_OK) {
        sync_destroy(s);
        return rc;
    }
    trib_allreduce_opts_init(&s->opts);
    s->opts.algo = t->cfg.algo;
    s->opts.wire = t->cfg.sync_precision;
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

/* Compares the item block's hash across ranks; TRIB_ERR_MISMATCH (on every rank) when any differs. */
static int check_items(trib_trainer_t *t, unsigned epoch)
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
static float fail_flag(int p)
{
    float f = 4.0f;
    while (f < 4.0f * (float)p)
        f *= 2.0f;
    return f;
}

/* delta = items - snap into buf, and the flag after it: 1 per rank asking to stop (at most P), F per failed rank. */
static void take_delta(const trib_trainer_t *t, const sync_state_t *s, float *buf, int stop, int failed)
{
    const float *cur = t->model.items.values, *snap = s->snap.values;
    size_t nv = t->model.items.n_values;
    for (size_t j = 0; j < nv; j++)
        buf[j] = cur[j] - snap[j];
    buf[nv] = (stop ? 1.0f : 0.0f) + (failed ? fail_flag(t->size) : 0.0f);
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
    if (flags > 0.5f * fail_flag(t->size)) {
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

/* --overlap on: the round's SGD in pieces, moving the allreduce in flight on between them. */
static int sgd_progressing(trib_trainer_t *t, sync_state_t *s, unsigned epoch, size_t begin, size_t end)
{
    size_t n = end - begin, piece = (n + OVERLAP_PIECES - 1) / OVERLAP_PIECES;
    trib_mf_hparams_t hp = trib_train_sgd_hparams(t);
    for (size_t b = begin; b < end; b += piece) {
        size_t e = end - b > piece ? b + piece : end;
        int rc = trib_mf_sgd_run(&t->model, &hp, epoch, t->train, t->n_train, t->order, b, e);
        if (rc != TRIB_OK)
            return rc;
        if (s->req) {
            int done = 0;
            s->flight_rc = trib_test(&s->req, &done);
            if (s->flight_rc != TRIB_OK)
                s->req = TRIB_REQUEST_NULL; /* completed with an error: land_flight reports it */
        }
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
    int sgd_rc = sgd_progressing(t, s, epoch, begin, end);
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
    size_t nv = items->n_values;
    take_delta(t, s, buf, *stop, sgd_rc != TRIB_OK);

    double t0 = trib_now();
    trib_clear_error();
    int rc = trib_allreduce_ex(buf, buf, s->n, MPI_FLOAT, MPI_SUM, t->comm, &s->opts);
    t->comm_seconds += trib_now() - t0;
    if (rc != TRIB_OK)
        return trib_train_error_context(rc, "sync: allreduce of the item block (%zu floats, --allreduce %s) failed",
                                        s->n, trib_train_algo_name(s->opts.algo));
    if (sgd_rc != TRIB_OK)
        return sgd_rc;
    float flags = buf[nv];
    if (flags > 0.5f * fail_flag(t->size)) /* another rank failed: its message wins in the loop's agreement */
        return TRIB_OK;
    *stop = flags > 0.0f;

    rc = trib_mf_block_apply_delta(items, &s->snap, buf, sync_scale(t));
    if (rc == TRIB_OK)
        rc = trib_mf_block_copy_values(&s->snap, items);
    if (rc == TRIB_OK && t->cfg.check_sync)
        rc = check_items(t, epoch);
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
    if ((rc = trib_mf_block_apply_delta(&t->model.items, &s->snap, s->buf, sync_scale(t))) == TRIB_OK)
        rc = trib_mf_block_copy_values(&s->snap, &t->model.items);
    if (rc == TRIB_OK)
        s->unsettled = 0;
    if (rc == TRIB_OK && t->cfg.check_sync)
        rc = check_items(t, t->next_epoch ? t->next_epoch - 1 : 0);
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

const trib_strategy_t trib_strategy_sync = {"sync", sync_create, sync_round, sync_settle, sync_reset, sync_destroy};
