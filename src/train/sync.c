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
} sync_state_t;

static void sync_destroy(void *state)
{
    sync_state_t *s = state;
    if (!s)
        return;
    trib_mf_block_destroy(&s->snap);
    trib_aligned_free(s->buf);
    free(s);
}

static int sync_create(trib_trainer_t *t, void **state)
{
    sync_state_t *s = calloc(1, sizeof *s);
    if (!s)
        return trib_errorf(TRIB_ERR_NOMEM, "sync: out of memory");
    int rc = trib_mf_block_clone(&s->snap, &t->model.items);
    if (rc == TRIB_OK) {
        s->n = t->model.items.n_values + 1;
        s->buf = trib_aligned_calloc(TRIB_ALIGN, trib_round_up(s->n, TRIB_MF_STRIDE_FLOATS) * sizeof(float));
        if (!s->buf)
            rc = trib_errorf(TRIB_ERR_NOMEM, "sync: cannot allocate the %zu-float synchronisation buffer", s->n);
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

/*
 * A rank whose SGD failed still joins the allreduce (flag value F above), so no
 * rank is left waiting; it returns its error and the loop's agreement step
 * hands that message to every rank.
 */
static int sync_round(trib_trainer_t *t, void *state, unsigned epoch, size_t begin, size_t end, int *stop)
{
    sync_state_t *s = state;
    trib_mf_block_t *items = &t->model.items;
    int sgd_rc = trib_mf_sgd_run(&t->model, &t->cfg.hp, epoch, t->train, t->n_train, t->order, begin, end);
    if (t->size == 1)
        return sgd_rc;

    const float *cur = items->values, *snap = s->snap.values;
    float *buf = s->buf;
    size_t nv = items->n_values;
    for (size_t j = 0; j < nv; j++)
        buf[j] = cur[j] - snap[j];
    /* flag: 1 per rank asking to stop (at most P in the sum), P + 1 per failed rank */
    buf[nv] = (*stop ? 1.0f : 0.0f) + (sgd_rc != TRIB_OK ? fail_flag(t->size) : 0.0f);

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

    float scale = t->cfg.sync_method == TRIB_SYNC_AVERAGE ? 1.0f / (float)t->size : 1.0f;
    rc = trib_mf_block_apply_delta(items, &s->snap, buf, scale);
    if (rc == TRIB_OK)
        rc = trib_mf_block_copy_values(&s->snap, items);
    if (rc == TRIB_OK && t->cfg.check_sync)
        rc = check_items(t, epoch);
    return rc;
}

static int sync_settle(trib_trainer_t *t, void *state)
{
    (void)t;
    (void)state;
    return TRIB_OK;
}

/* The item block was restored from elsewhere: the next round's deltas are taken against it. */
static int sync_reset(trib_trainer_t *t, void *state)
{
    sync_state_t *s = state;
    return trib_mf_block_copy_values(&s->snap, &t->model.items);
}

const trib_strategy_t trib_strategy_sync = {"sync", sync_create, sync_round, sync_settle, sync_reset, sync_destroy};
