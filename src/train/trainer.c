/*
 * trainer.c - building a trainer: the checks that need the datasets, the
 * local data, the model, and the accessors.
 *
 *   1. preflight (rank 0 only, then one broadcast of the verdict): the train
 *      and test datasets open, share one id space, and there are at least as
 *      many users and ratings as ranks.  A bad job therefore stops with one
 *      message, the same on every rank, before anything is read;
 *   2. every rank builds the owner map from the train manifest (a pure
 *      function of the per-user counts and P) and reads its users' ratings of
 *      both sets with the collective reader;
 *   3. ratings are turned into the kernel's form (local user row, item row);
 *   4. the model is created with this rank's users (global ids first..end-1)
 *      and every item, initialised from (seed, global id) only;
 *   4b. with the blocked order, the local ratings are grouped into the grid's
 *      cells once (trib_mf_grid_create: reorders them in place); bands over
 *      the users when sync mode averages item replicas (grid_bands);
 *   5. rounds per epoch = ceil(max local count / sync_every), agreed with one
 *      allreduce MAX, so every rank runs the same number of rounds.
 */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/timer.h"
#include "train/internal.h"

int trib_train_error_context(int rc, const char *fmt, ...)
{
    char prev[768], ctx[256];
    snprintf(prev, sizeof prev, "%s", trib_last_error(rc));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    return trib_errorf(rc, "%s: %s", ctx, prev);
}

trib_mf_hparams_t trib_train_sgd_hparams(const trib_trainer_t *t)
{
    trib_mf_hparams_t hp = t->cfg.hp;
    if (hp.schedule == TRIB_MF_SCHEDULE_ADAGRAD && t->cfg.sync_method == TRIB_SYNC_AVERAGE && t->data_size > 1)
        hp.item_lr_scale *= sqrtf((float)t->data_size);
    return hp;
}

uint64_t trib_train_hash_floats(const float *v, size_t n)
{
    /* FNV-1a over 32-bit words, folded through a 64-bit mixer at the end. */
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    const uint32_t *w = (const uint32_t *)(const void *)v;
    for (size_t i = 0; i < n; i++) {
        h ^= w[i];
        h *= UINT64_C(0x100000001b3);
    }
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return h;
}

/* ------------------------------------------------------------------ preflight */

/* Rank 0's checks of the datasets against the job (nothing is read but manifests). */
static int preflight(const trib_train_config_t *cfg, int nranks)
{
    trib_dataset_t *train = NULL, *test = NULL;
    int rc = trib_dataset_open(cfg->train_dir, &train);
    if (rc != TRIB_OK)
        return trib_train_error_context(rc, "--train %s", cfg->train_dir);
    const trib_dataset_info_t *ti = trib_dataset_info(train);
    if (ti->n_ratings == 0)
        rc = trib_errorf(TRIB_ERR_INVALID_ARG, "--train %s: the dataset has no ratings", cfg->train_dir);
    else if (ti->n_users < (uint64_t)nranks)
        rc = trib_errorf(TRIB_ERR_INVALID_ARG, "%d ranks but only %" PRIu64 " users in %s: use at most %" PRIu64
                         " ranks", nranks, ti->n_users, cfg->train_dir, ti->n_users);
    else if (ti->n_ratings < (uint64_t)nranks)
        rc = trib_errorf(TRIB_ERR_INVALID_ARG, "%d ranks but only %" PRIu64 " ratings in %s: use at most %" PRIu64
                         " ranks", nranks, ti->n_ratings, cfg->train_dir, ti->n_ratings);
    else if (ti->n_ratings > (uint64_t)UINT32_MAX)
        rc = trib_errorf(TRIB_ERR_RANGE, "--train %s: %" PRIu64 " ratings exceed the 2^32 limit",
                         cfg->train_dir, ti->n_ratings);
    if (rc == TRIB_OK && cfg->test_dir) {
        rc = trib_dataset_open(cfg->test_dir, &test);
        if (rc != TRIB_OK) {
            rc = trib_train_error_context(rc, "--test %s", cfg->test_dir);
        } else {
            const trib_dataset_info_t *vi = trib_dataset_info(test);
            if (vi->idmap_fingerprint != ti->idmap_fingerprint || vi->n_users != ti->n_users ||
                vi->n_items != ti->n_items)
                rc = trib_errorf(TRIB_ERR_INCOMPATIBLE,
                                 "--test %s is from another id space than --train %s (id maps differ: make both "
                                 "with trib-data split, or convert the test set with --ids-from)",
                                 cfg->test_dir, cfg->train_dir);
        }
    }
    trib_dataset_close(test);
    trib_dataset_close(train);
    return rc;
}

/* ------------------------------------------------------------------ local data */

/* The reader's sink: (global user, item, value) parts into (local user row, item row, value) records. */
typedef struct {
    const trib_trainer_t *t;
    const char *dir;
    trib_mf_rating_t *v;
    size_t n, filled;
} records_sink_t;

static int records_begin(void *ctx, const trib_dataset_info_t *info, uint64_t n, int with_ts)
{
    (void)info;
    (void)with_ts;
    records_sink_t *s = ctx;
    if (n > SIZE_MAX / sizeof *s->v)
        return trib_errorf(TRIB_ERR_RANGE, "%s: %llu local ratings cannot be held", s->dir, (unsigned long long)n);
    s->v = malloc((n ? n : 1) * sizeof *s->v);
    s->n = (size_t)n;
    return s->v ? TRIB_OK : trib_errorf(TRIB_ERR_NOMEM, "%s: cannot hold %zu local ratings", s->dir, s->n);
}

static int records_part(void *ctx, const trib_ratings_t *r)
{
    records_sink_t *s = ctx;
    const trib_trainer_t *t = s->t;
    if (r->n > s->n - s->filled)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: more ratings arrive than the manifest counts (%zu)", s->dir, s->n);
    trib_mf_rating_t *v = s->v + s->filled;
    for (size_t i = 0; i < r->n; i++) {
        if (r->user[i] < t->user_first || r->user[i] >= t->user_end || r->item[i] >= t->model.items.n_rows)
            return trib_errorf(TRIB_ERR_CORRUPT, "%s: rating of user %u / item %u outside this rank's range", s->dir,
                               r->user[i], r->item[i]);
        v[i].user = r->user[i] - t->user_first;
        v[i].item = r->item[i];
        v[i].rating = r->rating[i];
    }
    s->filled += r->n;
    return TRIB_OK;
}

/*
 * Reads this rank's ratings of `dir` straight into (local user row, item row, value) records: the
 * reader hands over bounded parts, so the records are the only full copy this rank ever holds.
 */
static int read_local_ratings(trib_trainer_t *t, const char *dir, trib_mf_rating_t **out, size_t *n_out)
{
    if (t->data_comm == MPI_COMM_NULL) { /* a ps server holds no ratings */
        *out = malloc(sizeof **out);
        *n_out = 0;
        return *out ? TRIB_OK : trib_errorf(TRIB_ERR_NOMEM, "out of memory");
    }
    trib_data_read_opts_t ro = TRIB_DATA_READ_OPTS_INIT;
    ro.with_timestamp = 0;
    records_sink_t s = {t, dir, NULL, 0, 0};
    trib_data_sink_t sink = {&s, records_begin, records_part};
    int rc = trib_data_read_local_each(dir, t->owners, t->data_comm, &ro, &sink);
    if (rc != TRIB_OK) {
        free(s.v);
        return rc;
    }
    *out = s.v;
    *n_out = s.filled;
    return TRIB_OK;
}

/* Opens the train (and test) manifest on this rank and builds the owner map. */
static int load_manifests(trib_trainer_t *t)
{
    trib_dataset_t *ds = NULL;
    int rc = trib_dataset_open(t->cfg.train_dir, &ds);
    if (rc == TRIB_OK) {
        t->train_info = *trib_dataset_info(ds);
        rc = trib_data_owner_map_from_dataset(ds, t->data_size, &t->owners);
        trib_dataset_close(ds);
    }
    if (rc == TRIB_OK && t->cfg.test_dir) {
        rc = trib_dataset_open(t->cfg.test_dir, &ds);
        if (rc == TRIB_OK) {
            t->test_info = *trib_dataset_info(ds);
            t->has_test = 1;
            trib_dataset_close(ds);
        }
    }
    if (rc == TRIB_OK && t->data_comm != MPI_COMM_NULL)
        trib_data_owner_range(t->owners, t->rank, &t->user_first, &t->user_end);
    return rc;
}

static int build_model(trib_trainer_t *t)
{
    size_t n_local_users = t->user_end - t->user_first;
    int rc = trib_mf_model_create(&t->model, t->cfg.k, n_local_users, (size_t)t->train_info.n_items);
    if (rc != TRIB_OK)
        return rc;
    for (size_t r = 0; r < n_local_users; r++)
        t->model.users.ids[r] = (int64_t)(t->user_first + r);
    trib_mf_model_init_values(&t->model, t->cfg.seed, t->cfg.hp.init_std);
    t->model.mean = (float)t->train_info.rating_mean;
    t->model.rating_min = (float)t->train_info.rating_min;
    t->model.rating_max = (float)t->train_info.rating_max;
    return TRIB_OK;
}

static int agree_rounds(trib_trainer_t *t)
{
    uint64_t mine = t->n_train, max = 0, sum = 0;
    if (MPI_Allreduce(&mine, &max, 1, MPI_UINT64_T, MPI_MAX, t->comm) != MPI_SUCCESS ||
        MPI_Allreduce(&mine, &sum, 1, MPI_UINT64_T, MPI_SUM, t->comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "MPI_Allreduce of local rating counts failed");
    uint64_t automatic = (uint64_t)TRIB_TRAIN_AUTO_ROUNDS_PER_RANK * (uint64_t)t->data_size;
    if (t->cfg.sync_every == 0) /* auto */
        t->rounds_per_epoch = max == 0 ? 1 : max < automatic ? max : automatic;
    else
        t->rounds_per_epoch = max == 0 ? 1 : (max + t->cfg.sync_every - 1) / t->cfg.sync_every;
    uint64_t P = (uint64_t)t->data_size;
    if (t->cfg.sync_method == TRIB_SYNC_STRATA) /* every rank visits every group once per epoch */
        t->rounds_per_epoch = (t->rounds_per_epoch + P - 1) / P * P;
    t->n_train_global = sum;
    return TRIB_OK;
}

static const trib_strategy_t *strategy_for(const trib_train_config_t *cfg)
{
    if (cfg->mode == TRIB_TRAIN_MODE_PS)
        return &trib_strategy_ps;
    return cfg->sync_method == TRIB_SYNC_STRATA ? &trib_strategy_strata : &trib_strategy_sync;
}

/* Who holds ratings: every rank (sync) or the ps workers (checks S < P first, same verdict everywhere). */
static int split_roles(trib_trainer_t *t)
{
    t->data_comm = t->comm;
    t->data_size = t->size;
    return t->cfg.mode == TRIB_TRAIN_MODE_PS ? trib_ps_split_roles(t) : TRIB_OK;
}

/*
 * The side of the blocked order's bands.  Sync mode on P > 1 ranks averages the item rows every
 * round: with item bands every item would get all of a rank's updates of the epoch within one
 * round (an epoch has many more bands than rounds), the replicas would drift far apart and their
 * average keep little of it.  User bands spread every item's updates over the epoch's rounds, as
 * the shuffled order does (ML-25M shape, 4 ranks, k = 64, 20 epochs: test RMSE 0.5672 with item
 * bands, 0.5547 with user bands, 0.5542 shuffled; benchmarks/RESULTS.md, "Bands when the items are
 * averaged").  Users are never averaged, so one rank keeps the faster rule; so does ps mode, where
 * a worker pushes every mini-batch (ML-25M shape, 4 workers, bsp, 5 epochs: user bands -0.46% test
 * RMSE at a quarter of the ratings/s, each mini-batch touching far more item rows).  --bands
 * forces a side (to measure this, or to trade quality for fewer rows per synchronisation on a slow
 * network).  --sync-method strata needs item bands: no item row changes on two ranks in a round.
 */
static trib_mf_bands_t grid_bands(const trib_trainer_t *t)
{
    if (t->cfg.sync_method == TRIB_SYNC_STRATA) /* its rounds are groups of item bands */
        return TRIB_MF_BANDS_ITEMS;
    switch (t->cfg.bands) {
    case TRIB_TRAIN_BANDS_USERS: return TRIB_MF_BANDS_USERS;
    case TRIB_TRAIN_BANDS_ITEMS: return TRIB_MF_BANDS_ITEMS;
    case TRIB_TRAIN_BANDS_LARGER: return TRIB_MF_BANDS_LARGER;
    case TRIB_TRAIN_BANDS_AUTO: break;
    }
    return t->cfg.mode == TRIB_TRAIN_MODE_SYNC && t->size > 1 ? TRIB_MF_BANDS_USERS : TRIB_MF_BANDS_LARGER;
}

/*
 * The blocked order's grid.  Its cells are planned for the core's L2, except that --sync-method
 * strata needs about 4 item bands per round's group (the groups then hold similar rating counts),
 * so a small item set gets smaller blocks (grid.c: an item block is about cache / (4 x row
 * bytes)).  With strata every rank must also cut the items alike (strata.c): the cache size is
 * the smallest over the ranks (nodes may differ in L2) and the item block is fixed from it, where
 * the grid's own plan depends on the rank's user and rating counts.
 */
static int create_grid(trib_trainer_t *t)
{
    size_t l2 = trib_mf_l2_bytes(), k = t->cfg.k, n_users = t->model.users.n_rows, n_items = t->model.items.n_rows;
    if (t->cfg.sync_method != TRIB_SYNC_STRATA)
        return trib_mf_grid_create(&t->grid, t->train, t->n_train, n_users, n_items, k, l2, grid_bands(t));
    size_t row = trib_mf_stride(k) * sizeof(float) + 2 * sizeof(float);
    size_t per_band = n_items / (4 * (size_t)t->rounds_per_epoch) + 1, want = 4 * row * per_band;
    uint64_t mine = want < l2 ? want : l2, cache = 0;
    if (MPI_Allreduce(&mine, &cache, 1, MPI_UINT64_T, MPI_MIN, t->comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "MPI_Allreduce of the grid's cache size failed");
    size_t rows = (size_t)cache / 2 / row; /* as the grid's plan: half the rows for each side */
    rows = rows < 2 ? 2 : rows;
    return trib_mf_grid_create_items(&t->grid, t->train, t->n_train, n_users, n_items, k, (size_t)cache,
                                     rows - rows / 2);
}

int trib_trainer_create(const trib_train_config_t *cfg, MPI_Comm comm, trib_trainer_t **out)
{
    if (!cfg || !out)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trainer: NULL argument");
    *out = NULL;
    int rc = trib_train_config_validate(cfg);
    rc = trib_train_agree(rc, comm);
    if (rc != TRIB_OK)
        return rc;
    trib_trainer_t *t = calloc(1, sizeof *t);
    if (!t)
        rc = trib_errorf(TRIB_ERR_NOMEM, "trainer: out of memory");
    rc = trib_train_agree(rc, comm);
    if (rc != TRIB_OK) {
        free(t);
        return rc;
    }
    t->cfg = *cfg;
    t->data_comm = MPI_COMM_NULL;
    /* A private duplicate: the trainer's messages (the parameter server's fixed tags included) never meet
     * the caller's own on comm. */
    if (MPI_Comm_dup(comm, &t->comm) != MPI_SUCCESS) {
        t->comm = MPI_COMM_NULL;
        rc = trib_errorf(TRIB_ERR_MPI, "trainer: MPI_Comm_dup failed");
    }
    rc = trib_train_agree(rc, comm);
    if (rc != TRIB_OK) {
        trib_trainer_destroy(t);
        return rc;
    }
    MPI_Comm_rank(t->comm, &t->rank);
    MPI_Comm_size(t->comm, &t->size);
    t->strategy = strategy_for(cfg);

    rc = split_roles(t);
    if (rc == TRIB_OK)
        rc = t->rank == 0 ? preflight(cfg, t->data_size) : TRIB_OK;
    rc = trib_train_agree(rc, t->comm);
    if (rc == TRIB_OK)
        rc = trib_train_agree(load_manifests(t), t->comm);
    if (rc == TRIB_OK)
        rc = trib_train_agree(build_model(t), t->comm);
    double t0 = trib_now();
    if (rc == TRIB_OK) /* collective readers agree on errors themselves */
        rc = read_local_ratings(t, cfg->train_dir, &t->train, &t->n_train);
    double t1 = trib_now();
    if (rc == TRIB_OK && t->has_test)
        rc = read_local_ratings(t, cfg->test_dir, &t->test, &t->n_test);
    double t2 = trib_now();
    rc = trib_train_agree(rc, t->comm);
    if (rc == TRIB_OK)
        rc = agree_rounds(t);
    if (rc == TRIB_OK && cfg->order == TRIB_MF_ORDER_BLOCKED) /* groups (reorders) the local ratings */
        rc = trib_train_agree(create_grid(t), comm);
    trib_log(TRIB_LOG_DEBUG, "load: train %zu ratings %.3f s, test %zu ratings %.3f s, grid %.3f s", t->n_train,
             t1 - t0, t->n_test, t2 - t1, trib_now() - t2);
    if (rc == TRIB_OK) {
        if (!t->strategy->own_order) {
            t->order = malloc((t->n_train ? t->n_train : 1) * sizeof *t->order);
            rc = t->order ? TRIB_OK : trib_errorf(TRIB_ERR_NOMEM, "trainer: cannot allocate the visiting order");
        }
        if (rc == TRIB_OK && cfg->sync_method == TRIB_SYNC_STRATA) {
            t->round_start = malloc((t->rounds_per_epoch + 1) * sizeof *t->round_start);
            t->round_half = malloc(t->rounds_per_epoch * sizeof *t->round_half);
            t->round_group = malloc(t->rounds_per_epoch * sizeof *t->round_group);
            if (!t->round_start || !t->round_half || !t->round_group)
                rc = trib_errorf(TRIB_ERR_NOMEM, "trainer: cannot allocate %" PRIu64 " round starts",
                                 t->rounds_per_epoch + 1);
        }
        rc = trib_train_agree(rc, t->comm);
    }
    if (rc == TRIB_OK)
        rc = trib_train_agree(t->strategy->create(t, &t->strategy_state), t->comm);
    if (rc != TRIB_OK) {
        trib_trainer_destroy(t);
        return rc;
    }
    *out = t;
    return TRIB_OK;
}

void trib_trainer_destroy(trib_trainer_t *t)
{
    if (!t)
        return;
    if (t->strategy && t->strategy_state)
        t->strategy->destroy(t->strategy_state);
    if (t->data_comm != MPI_COMM_NULL && t->data_comm != t->comm)
        MPI_Comm_free(&t->data_comm);
    if (t->comm != MPI_COMM_NULL)
        MPI_Comm_free(&t->comm);
    trib_data_owner_map_destroy(t->owners);
    trib_mf_model_destroy(&t->model);
    free(t->train);
    free(t->test);
    free(t->order);
    free(t->round_start);
    free(t->round_half);
    free(t->round_group);
    trib_mf_grid_destroy(&t->grid);
    free(t);
}

/* ------------------------------------------------------------------ accessors */

trib_mf_model_t *trib_trainer_model(trib_trainer_t *t) { return &t->model; }
const trib_train_config_t *trib_trainer_config(const trib_trainer_t *t) { return &t->cfg; }
const trib_owner_map_t *trib_trainer_owners(const trib_trainer_t *t) { return t->owners; }
const trib_mf_grid_t *trib_trainer_grid(const trib_trainer_t *t)
{
    return t->cfg.order == TRIB_MF_ORDER_BLOCKED ? &t->grid : NULL;
}
MPI_Comm trib_trainer_comm(const trib_trainer_t *t) { return t->comm; }
const trib_dataset_info_t *trib_trainer_train_info(const trib_trainer_t *t) { return &t->train_info; }
size_t trib_trainer_local_ratings(const trib_trainer_t *t) { return t->n_train; }
uint64_t trib_trainer_rounds_per_epoch(const trib_trainer_t *t) { return t->rounds_per_epoch; }
int trib_trainer_time_limit_reached(const trib_trainer_t *t) { return t->time_limit_reached; }

void trib_trainer_next_position(const trib_trainer_t *t, unsigned *epoch, uint64_t *round)
{
    *epoch = t->next_epoch;
    *round = t->next_round;
}

int trib_trainer_set_position(trib_trainer_t *t, unsigned epoch, uint64_t round)
{
    if (!t || round >= t->rounds_per_epoch || epoch > t->cfg.epochs)
        return trib_errorf(TRIB_ERR_RANGE, "trainer: position epoch %u round %llu is outside the job", epoch,
                           (unsigned long long)round);
    t->next_epoch = epoch;
    t->next_round = round;
    return t->strategy->reset(t, t->strategy_state);
}

uint64_t trib_trainer_item_hash(const trib_trainer_t *t)
{
    return trib_train_hash_floats(t->model.items.values, t->model.items.n_values);
}
