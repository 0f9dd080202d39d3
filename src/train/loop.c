/*
 * loop.c - the epoch loop, written once for every strategy.
 *
 *   for each epoch e (from the current position):
 *       order = blocked (trib_mf_grid_order) or shuffled    per rank, a function of (seed, e)
 *               (trib_mf_visit_order); --sync-method strata: the stratified
 *               order, its round starts, half starts and groups (trib_mf_grid_strata_order);
 *               none for a strategy with its own orders (ps: strategy->own_order)
 *       for each round r < R (R equal on every rank):
 *           strategy->round(slice r of the order)          SGD + synchronisation
 *               (slice r: positions [r*n/R, (r+1)*n/R), or the strata order's round r)
 *           hooks: progress (rank 0), after_round          checkpoint point
 *           stop if any rank's stop_flag was set           agreed inside the round
 *       strategy->settle; evaluate train/test              sums allreduced
 *       metrics JSON line (rank 0); early-stop state       (t->es_*: in checkpoints)
 *       after_epoch hook                                   epoch-boundary checkpoint point
 *       early stop when the test RMSE has not improved for cfg.early_stop epochs
 *   stop at a round boundary on a stop request or when cfg.time_limit has passed
 *
 * A stop (request or hook) after an epoch's last round still evaluates that
 * epoch first, so a checkpoint at an epoch boundary always holds the epoch's
 * metrics line and early-stop state.  A strategy may end a round early on a
 * stop request (t->round_incomplete: ps mode, whose one round per epoch lasts
 * until the slowest worker finished the epoch); the position then stays.
 *
 * Errors inside a round cannot leave a rank waiting: the round's own
 * collective carries them (see sync.c) and the loop then agrees on one
 * message with trib_train_agree.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/timer.h"
#include "train/internal.h"

/* ------------------------------------------------------------------ evaluation */

/* Sums: [train sq, abs, n, test sq, abs, n, comm seconds, updates, cpu seconds]. */
enum { EV_TRAIN = 0, EV_TEST = 3, EV_COMM = 6, EV_UPDATES = 7, EV_CPU = 8, EV_N = 9 };

/* CPU time of this process (all threads), seconds. */
static double cpu_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int local_error_sums(const trib_trainer_t *t, double *v)
{
    trib_mf_error_sums_t tr = {0, 0, 0}, te = {0, 0, 0};
    int rc = TRIB_OK;
    if (t->cfg.eval_train)
        rc = trib_mf_evaluate(&t->model, t->train, t->n_train, &tr);
    if (rc == TRIB_OK && t->has_test)
        rc = trib_mf_evaluate(&t->model, t->test, t->n_test, &te);
    v[EV_TRAIN + 0] = tr.sq_err;
    v[EV_TRAIN + 1] = tr.abs_err;
    v[EV_TRAIN + 2] = tr.count;
    v[EV_TEST + 0] = te.sq_err;
    v[EV_TEST + 1] = te.abs_err;
    v[EV_TEST + 2] = te.count;
    return rc;
}

static void error_metrics(const double *v, double *rmse, double *mae)
{
    trib_mf_error_sums_t s = {v[0], v[1], v[2]};
    *rmse = s.count > 0 ? trib_mf_rmse(&s) : NAN;
    *mae = s.count > 0 ? trib_mf_mae(&s) : NAN;
}

/* Local sums in v[0..EV_N) are replaced by the global ones. */
static int combine(trib_trainer_t *t, double *v)
{
    int rc = trib_allreduce(v, v, EV_N, MPI_DOUBLE, MPI_SUM, t->comm);
    return rc == TRIB_OK ? TRIB_OK : trib_train_error_context(rc, "allreduce of evaluation sums failed");
}

/* ------------------------------------------------------------------ divergence */

/*
 * Divergence is caught on the parameters themselves, not only on the RMSE
 * (which a run without --test and with --no-train-eval never forms): the item
 * block after each synchronisation (identical on every rank in sync mode, so
 * every rank reaches the same verdict without communicating) and, at each
 * epoch's end, this rank's user rows and item block (verdict agreed).  A
 * finite check is one pass over memory the round just touched; a non-finite
 * value stops the run before any checkpoint or model is written.
 */
static int block_finite(const trib_mf_block_t *b, size_t *bad_row)
{
    for (size_t r = 0; r < b->n_rows; r++) {
        const float *row = trib_mf_row(b, r);
        float acc = b->bias[r] * 0.0f;
        for (size_t j = 0; j < b->k; j++)
            acc += row[j] * 0.0f; /* NaN or inf anywhere makes acc NaN */
        if (acc != 0.0f) {
            *bad_row = r;
            return 0;
        }
    }
    return 1;
}

static int diverged(const trib_trainer_t *t, const char *what, size_t row, unsigned epoch)
{
    return trib_errorf(TRIB_ERR_RANGE,
                       "training diverged in epoch %u (%s %zu holds a non-finite value): lower --lr%s", epoch + 1,
                       what, row, t->cfg.sync_method == TRIB_SYNC_DELTA_SUM && t->size > 1
                                      ? ", lower --sync-every or use --sync-method average" : "");
}

/* Sync mode, after a round's synchronisation: the item block (same verdict on every rank). */
static int check_items_finite(const trib_trainer_t *t, unsigned epoch)
{
    size_t bad;
    if (t->cfg.mode == TRIB_TRAIN_MODE_PS || block_finite(&t->model.items, &bad))
        return TRIB_OK;
    return diverged(t, "item", (size_t)t->model.items.ids[bad], epoch);
}

/* Epoch end, every rank: its user rows and its item block; the caller agrees on the verdict. */
static int check_model_finite(const trib_trainer_t *t, unsigned epoch)
{
    size_t bad;
    if (!block_finite(&t->model.users, &bad))
        return diverged(t, "user", (size_t)t->model.users.ids[bad], epoch);
    if (!block_finite(&t->model.items, &bad))
        return diverged(t, "item", (size_t)t->model.items.ids[bad], epoch);
    return TRIB_OK;
}

/*
 * The model settled (strategy->settle), checked finite (verdict of epoch `epoch`) and this rank's error
 * sums in v: the last two are local, so one agreement on the status covers all three.
 */
static int settle_and_sum(trib_trainer_t *t, unsigned epoch, double *v)
{
    int rc = t->strategy->settle(t, t->strategy_state);
    if (rc == TRIB_OK)
        rc = check_model_finite(t, epoch);
    if (rc == TRIB_OK)
        rc = local_error_sums(t, v);
    return trib_train_agree(rc, t->comm);
}

int trib_trainer_evaluate(trib_trainer_t *t, double *train_rmse, double *train_mae, double *test_rmse,
                          double *test_mae)
{
    double v[EV_N] = {0};
    int rc = settle_and_sum(t, t->next_epoch ? t->next_epoch - 1 : 0, v);
    if (rc == TRIB_OK)
        rc = combine(t, v);
    if (rc != TRIB_OK)
        return rc;
    double a, b;
    error_metrics(v + EV_TRAIN, &a, &b);
    if (train_rmse)
        *train_rmse = a;
    if (train_mae)
        *train_mae = b;
    error_metrics(v + EV_TEST, &a, &b);
    if (test_rmse)
        *test_rmse = a;
    if (test_mae)
        *test_mae = b;
    return TRIB_OK;
}

/* ------------------------------------------------------------------ metrics JSON */

static void json_num(FILE *f, const char *key, double v)
{
    if (isfinite(v))
        fprintf(f, ",\"%s\":%.9g", key, v);
    else
        fprintf(f, ",\"%s\":null", key);
}

static int write_json_line(FILE *f, const char *path, const trib_train_epoch_stats_t *s)
{
    fprintf(f, "{\"epoch\":%u", s->epoch);
    json_num(f, "train_rmse", s->train_rmse);
    json_num(f, "train_mae", s->train_mae);
    json_num(f, "test_rmse", s->test_rmse);
    json_num(f, "test_mae", s->test_mae);
    json_num(f, "ratings_per_s", s->ratings_per_s);
    json_num(f, "seconds", s->seconds);
    json_num(f, "comm_seconds", s->comm_seconds);
    json_num(f, "eval_seconds", s->eval_seconds);
    json_num(f, "cpu_seconds", s->cpu_seconds);
    json_num(f, "sync_rows", s->sync_rows);
    fprintf(f, ",\"ratings\":%" PRIu64 ",\"rounds\":%" PRIu64 "}\n", s->ratings, s->rounds);
    if (fflush(f) != 0 || ferror(f))
        return trib_errorf(TRIB_ERR_IO, "%s: cannot write metrics", path);
    return TRIB_OK;
}

/* Rank 0 opens the metrics file: truncated for a fresh run, appended to when resuming. */
static int open_metrics(trib_trainer_t *t, FILE **out)
{
    *out = NULL;
    int rc = TRIB_OK;
    if (t->rank == 0 && t->cfg.metrics_json) {
        int fresh = t->next_epoch == 0 && t->next_round == 0;
        *out = fopen(t->cfg.metrics_json, fresh ? "w" : "a");
        if (!*out)
            rc = trib_errorf(TRIB_ERR_IO, "--metrics-json %s: cannot open for writing", t->cfg.metrics_json);
    }
    return trib_train_agree(rc, t->comm);
}

/* ------------------------------------------------------------------ rounds */

/*
 * Positions [begin, end) of round r of R over n local ratings: balanced slices
 * of the epoch's order, whichever order it is (a blocked order's round may end
 * inside a cell; the next round continues there).
 */
static void round_slice(size_t n, uint64_t r, uint64_t R, size_t *begin, size_t *end)
{
    __extension__ typedef unsigned __int128 u128_t;
    *begin = (size_t)((u128_t)n * r / R);
    *end = (size_t)((u128_t)n * (r + 1) / R);
}

static void report_progress(const trib_trainer_t *t, const trib_train_hooks_t *h, unsigned epoch, uint64_t round)
{
    if (t->rank != 0 || !h || !h->progress)
        return;
    uint64_t R = t->rounds_per_epoch;
    /* about 100 calls per epoch at most */
    if (R <= 100 || (round + 1) * 100 / R != round * 100 / R || round + 1 == R)
        h->progress(h->arg, epoch, (double)(round + 1) / (double)R);
}

/*
 * Runs rounds from t->next_round to the end of `epoch`.  *stopped is set when
 * the ranks agreed to stop: 2 on a stop_flag request or the time limit, 1 when a hook asked.
 * *updates counts local SGD steps.
 */
static int run_epoch_rounds(trib_trainer_t *t, const trib_train_hooks_t *h, unsigned epoch, int *stopped,
                            uint64_t *updates)
{
    uint64_t R = t->rounds_per_epoch;
    for (uint64_t r = t->next_round; r < R; r++) {
        size_t begin, end;
        if (t->round_start) { /* --sync-method strata: the order's own rounds */
            begin = (size_t)t->round_start[r];
            end = (size_t)t->round_start[r + 1];
        } else {
            round_slice(t->n_train, r, R, &begin, &end);
        }
        int stop = trib_train_stop_wanted(t);
        t->round_updates = -1;
        t->round_incomplete = 0;
        int rc = t->strategy->round(t, t->strategy_state, epoch, begin, end, &stop);
        int by_request = stop;
        rc = trib_train_agree(rc, t->comm);
        if (rc == TRIB_OK)
            rc = check_items_finite(t, epoch);
        if (rc != TRIB_OK)
            return rc;
        if (t->round_incomplete) { /* stopped inside the round: the position stays */
            *stopped = by_request ? 2 : 1;
            return TRIB_OK;
        }
        *updates += t->round_updates >= 0 ? (uint64_t)t->round_updates : end - begin;
        t->next_round = r + 1 < R ? r + 1 : 0;
        t->next_epoch = r + 1 < R ? epoch : epoch + 1;
        report_progress(t, h, epoch, r);
        if (h && h->after_round) {
            trib_train_position_t pos = {epoch, r, R};
            int hr = h->after_round(h->arg, t, &pos);
            if (hr == TRIB_TRAIN_STOP)
                stop = 1; /* hooks run on every rank and return the same verdict */
            rc = trib_train_agree(hr < 0 ? hr : TRIB_OK, t->comm);
            if (rc != TRIB_OK)
                return rc;
        }
        if (stop) {
            *stopped = by_request ? 2 : 1;
            return TRIB_OK;
        }
    }
    return TRIB_OK;
}

/* ------------------------------------------------------------------ epochs */

static int finish_epoch(trib_trainer_t *t, unsigned epoch, double seconds, double comm, double cpu,
                        uint64_t updates, trib_train_epoch_stats_t *s)
{
    double v[EV_N] = {0};
    double t0 = trib_now();
    trib_clear_error();
    int rc = settle_and_sum(t, epoch, v);
    v[EV_COMM] = comm;
    v[EV_UPDATES] = (double)updates;
    v[EV_CPU] = cpu;
    if (rc == TRIB_OK)
        rc = combine(t, v);
    if (rc != TRIB_OK)
        return rc;
    memset(s, 0, sizeof *s);
    s->epoch = epoch + 1;
    error_metrics(v + EV_TRAIN, &s->train_rmse, &s->train_mae);
    error_metrics(v + EV_TEST, &s->test_rmse, &s->test_mae);
    s->seconds = seconds;
    s->comm_seconds = v[EV_COMM] / (double)t->size;
    s->cpu_seconds = v[EV_CPU];
    s->ratings = (uint64_t)v[EV_UPDATES];
    s->ratings_per_s = seconds > 0 ? (double)s->ratings / seconds : NAN;
    s->rounds = t->rounds_per_epoch;
    /* The epoch's wall time is the slowest rank's (so the comm share, a mean over ranks, stays <= 1);
     * one MAX reduction makes the figures identical on every rank. */
    double mine[2] = {s->seconds, trib_now() - t0}, slowest[2];
    if (MPI_Allreduce(mine, slowest, 2, MPI_DOUBLE, MPI_MAX, t->comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "MPI_Allreduce of epoch timings failed");
    s->seconds = slowest[0];
    s->eval_seconds = slowest[1];
    s->ratings_per_s = s->seconds > 0 ? (double)s->ratings / s->seconds : NAN;
    /* Same figures on every rank, so every rank takes this exit together. */
    if ((v[EV_TRAIN + 2] > 0 && !isfinite(s->train_rmse)) || (v[EV_TEST + 2] > 0 && !isfinite(s->test_rmse)))
        return trib_errorf(TRIB_ERR_RANGE, "training diverged in epoch %u (RMSE is not finite): lower --lr%s",
                           s->epoch, t->cfg.sync_method == TRIB_SYNC_DELTA_SUM && t->size > 1
                                         ? ", lower --sync-every or use --sync-method average" : "");
    return TRIB_OK;
}

/* Early stopping: the state after an epoch's test RMSE (kept in the trainer for checkpoints). */
static void note_test_rmse(trib_trainer_t *t, double test_rmse)
{
    if (!t->cfg.early_stop)
        return;
    if (!t->es_have_best || test_rmse < t->es_best) {
        t->es_have_best = isfinite(test_rmse);
        t->es_best = test_rmse;
        t->es_since = t->es_have_best ? 0 : t->es_since + 1;
    } else {
        t->es_since++;
    }
}

static int early_stopped(const trib_trainer_t *t)
{
    return t->cfg.early_stop && t->es_since >= t->cfg.early_stop;
}

/*
 * After an agreed stop (stopped == 2): a stop request on any rank makes it
 * TRIB_ERR_INTERRUPTED; otherwise the time limit ended training, a normal end
 * (one collective: the ranks may have seen the deadline at different checks).
 */
static int stop_verdict(trib_trainer_t *t)
{
    int mine[2] = {t->stop_flag && *t->stop_flag, t->time_up}, any[2];
    if (MPI_Allreduce(mine, any, 2, MPI_INT, MPI_MAX, t->comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "MPI_Allreduce of the stop reason failed");
    if (any[0] || !any[1])
        return trib_errorf(TRIB_ERR_INTERRUPTED, "training stopped on request at epoch %u, round %llu",
                           t->next_epoch + 1, (unsigned long long)t->next_round);
    t->time_limit_reached = 1;
    return TRIB_OK;
}

/* The epoch's visiting order of this rank's ratings into t->order (strata: with its rounds). */
static int make_order(trib_trainer_t *t, unsigned epoch)
{
    if (t->cfg.sync_method == TRIB_SYNC_STRATA)
        return trib_mf_grid_strata_order(&t->grid, t->order, t->n_train, t->cfg.seed, epoch, (unsigned)t->rank,
                                         (unsigned)t->size, t->rounds_per_epoch, t->round_start, t->round_half,
                                         t->round_group);
    if (t->cfg.order == TRIB_MF_ORDER_BLOCKED)
        return trib_mf_grid_order(&t->grid, t->order, t->n_train, t->cfg.seed, epoch);
    return trib_mf_visit_order(t->order, t->n_train, t->cfg.seed, epoch);
}

int trib_trainer_run(trib_trainer_t *t, const trib_train_hooks_t *hooks)
{
    if (!t)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trainer run: NULL trainer");
    t->stop_flag = hooks ? hooks->stop_flag : NULL;
    t->deadline = t->cfg.time_limit > 0 ? trib_now() + t->cfg.time_limit : 0;
    t->time_up = 0;
    t->time_limit_reached = 0;
    FILE *metrics = NULL;
    int rc = open_metrics(t, &metrics);
    int stopped = 0;
    while (rc == TRIB_OK && !stopped && t->next_epoch < t->cfg.epochs && !early_stopped(t)) {
        unsigned epoch = t->next_epoch;
        /* The epoch's time includes making its order (ps mode makes its orders inside the rounds). */
        double comm0 = t->comm_seconds, t0 = trib_now(), c0 = cpu_now(), rows0 = t->sync_rows_sum;
        uint64_t nrows0 = t->sync_rows_n;
        rc = trib_train_agree(t->strategy->own_order ? TRIB_OK : make_order(t, epoch), t->comm);
        if (rc != TRIB_OK)
            break;
        uint64_t updates = 0;
        rc = run_epoch_rounds(t, hooks, epoch, &stopped, &updates);
        if (rc != TRIB_OK || (stopped && (t->next_round != 0 || t->round_incomplete))) /* stopped within the epoch */
            break;
        /* With --overlap on, settling finishes the epoch's last allreduces: training time (finish_epoch's
         * settle is then a no-op).  In ps mode it is the evaluation's pull, outside the epoch's time. */
        if (t->cfg.sync_overlap && (rc = trib_train_agree(t->strategy->settle(t, t->strategy_state), t->comm)) != TRIB_OK)
            break;
        trib_train_epoch_stats_t s;
        double wall = trib_now() - t0, cpu = cpu_now() - c0;
        rc = finish_epoch(t, epoch, wall, t->comm_seconds - comm0, cpu, updates, &s);
        s.sync_rows = t->sync_rows_n > nrows0 ? (t->sync_rows_sum - rows0) / (double)(t->sync_rows_n - nrows0) : NAN;
        if (rc == TRIB_OK && metrics)
            rc = write_json_line(metrics, t->cfg.metrics_json, &s);
        rc = trib_train_agree(rc, t->comm);
        if (rc == TRIB_OK)
            note_test_rmse(t, s.test_rmse); /* identical on every rank: the figures are */
        if (rc == TRIB_OK && hooks && hooks->after_epoch) {
            int hr = hooks->after_epoch(hooks->arg, t, &s);
            if (hr == TRIB_TRAIN_STOP && !stopped)
                stopped = 1;
            rc = trib_train_agree(hr < 0 ? hr : TRIB_OK, t->comm);
        }
    }
    if (metrics && fclose(metrics) != 0 && rc == TRIB_OK)
        rc = trib_errorf(TRIB_ERR_IO, "%s: cannot close metrics file", t->cfg.metrics_json);
    if (rc == TRIB_OK && stopped == 2)
        rc = stop_verdict(t);
    return rc;
}
