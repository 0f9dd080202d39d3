/*
 * checkpoint.c - training checkpoints: write the trainer's state with the
 * checkpoint library (tributary/ckpt.h) and restore it, also under another
 * rank count.
 *
 * What a checkpoint holds (enough to continue exactly, see train.h "Hook points"):
 *   part of every rank:   user_ids (u64, global dense user ids), user_factors
 *                         (f32 rows x k), user_bias, user_adagrad (f32 rows)
 *                         (ps servers hold no users: 0 rows);
 *   items, sync mode:     global arrays (rank 0) item_factors, item_bias,
 *                         item_adagrad (the item block is identical on every
 *                         rank after a round);
 *   items, ps mode:       part of every server: item_ids (u64, its rows) and
 *                         item_factors, item_bias, item_adagrad of those rows
 *                         (no rank holds every item, so nothing is gathered);
 *   values:               next_epoch, next_round, rounds_per_epoch, nranks, mean,
 *                         rating_min, rating_max, n_users, n_items, seed,
 *                         early_best, early_since (early stopping), and in ps
 *                         mode ps_servers, ps_workers, ps_consistency,
 *                         ps_staleness, ps_clock_every, ps_clocks_per_epoch,
 *                         ps_next_clock (informational: see "Resuming");
 *   configuration:        k and mode must match on resume (refused otherwise),
 *                         the dataset fingerprint is the checkpoint's fingerprint;
 *                         run_id and the trajectory settings (below).
 *
 * Run identity: a managed run (run.c) draws a random run id at a fresh start
 * and writes it into every checkpoint; a resume takes the checkpoint's, so
 * every checkpoint of one run, across any number of resumes, carries the same
 * id.  The settings that change the trajectory (seed, lr, lr_decay, schedule,
 * reg, reg_bias, init_std; k and the dataset fingerprint are checked as
 * above) are configuration entries too: a resume whose settings differ is
 * refused with the name of the first differing setting and both values,
 * unless allow_changed_settings says the change is deliberate (a new lr for
 * the remaining epochs, say).  Checkpoints written before these entries
 * existed lack them and are not checked.
 * Visiting orders are a pure function of (seed, epoch, --order, the rank's
 * ratings) and the sync strategy's only state is the item snapshot, rebuilt
 * by trib_trainer_set_position, so no RNG or communication state is saved.
 * In ps mode checkpoints are taken only at epoch boundaries (a loop round is
 * an epoch), where clocks, pending pushes and the workers' cached rows are
 * empty or derived (ps_strategy.c, "Checkpoints").
 *
 * Restoring: every rank reads the item block (sync: the global arrays; ps:
 * the servers' parts, every item exactly once) and, from every part, the rows
 * of the users it owns now (users are keyed by global id, so a checkpoint of
 * P ranks restores on P' ranks, and in ps mode on another worker count).
 * With the same rank count the position is exact; with another one the
 * rounds per epoch differ and a mid-epoch round is mapped proportionally
 * (checkpoints at epoch boundaries map exactly).  In ps mode the server count,
 * the consistency model and the staleness may differ from the checkpoint's:
 * the state at an epoch boundary does not depend on them (rows are assembled
 * by id and re-partitioned); a change is reported with a warning, because
 * only an unchanged configuration continues bit-for-bit.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "train/internal.h"
#include "tributary/ckpt.h"

static const char *const ckpt_config_keys[] = {"k", "mode"};
#define N_CKPT_CONFIG 2

/* The settings that change the trajectory of a run (see "Run identity" above). */
#define N_TRAJECTORY 7
static const char *const trajectory_keys[N_TRAJECTORY] = {"seed", "lr", "lr_decay", "schedule", "reg",
                                                          "reg_bias", "init_std"};

static void trajectory_values(const trib_trainer_t *t, char buf[N_TRAJECTORY][48])
{
    const trib_mf_hparams_t *hp = &t->cfg.hp;
    snprintf(buf[0], 48, "%" PRIu64, (uint64_t)t->cfg.seed);
    snprintf(buf[1], 48, "%.7g", (double)hp->lr);
    snprintf(buf[2], 48, "%.7g", (double)hp->lr_decay);
    snprintf(buf[3], 48, "%s", trib_mf_schedule_name(hp->schedule));
    snprintf(buf[4], 48, "%.7g", (double)hp->reg_factors);
    snprintf(buf[5], 48, "%.7g", (double)hp->reg_bias);
    snprintf(buf[6], 48, "%.7g", (double)hp->init_std);
}

static void fingerprint_text(const trib_trainer_t *t, char *buf, size_t cap)
{
    snprintf(buf, cap, "%016" PRIx64, t->train_info.fingerprint);
}

static void config_values(const trib_trainer_t *t, char k[32], const char *values[N_CKPT_CONFIG])
{
    snprintf(k, 32, "%zu", t->cfg.k);
    values[0] = k;
    values[1] = trib_train_mode_name(t->cfg.mode);
}

/* ------------------------------------------------------------------ writing */

/* Unpadded copies of a block's factors (rows x k), then bias and AdaGrad sums. */
static int block_arrays(trib_ckpt_writer_t *w, const trib_mf_block_t *b, const char *prefix, int global)
{
    char name[TRIB_CKPT_NAME_MAX + 1];
    size_t n = b->n_rows, k = b->k;
    float *f = malloc((n * k + 1) * sizeof *f);
    if (!f)
        return trib_errorf(TRIB_ERR_NOMEM, "checkpoint: out of memory for %zu x %zu factors", n, k);
    trib_mf_block_get_factors(b, f);
    int (*put)(trib_ckpt_writer_t *, const char *, trib_ckpt_dtype_t, size_t, size_t, const void *) =
        global ? trib_ckpt_write_global_array : trib_ckpt_write_array;
    snprintf(name, sizeof name, "%s_factors", prefix);
    int rc = put(w, name, TRIB_CKPT_F32, n, k, f);
    free(f);
    snprintf(name, sizeof name, "%s_bias", prefix);
    if (rc == TRIB_OK)
        rc = put(w, name, TRIB_CKPT_F32, n, 0, b->bias);
    snprintf(name, sizeof name, "%s_adagrad", prefix);
    if (rc == TRIB_OK)
        rc = put(w, name, TRIB_CKPT_F32, n, 0, b->adagrad);
    return rc;
}

static int user_ids_array(trib_ckpt_writer_t *w, const trib_trainer_t *t)
{
    size_t n = t->model.users.n_rows;
    uint64_t *ids = malloc((n + 1) * sizeof *ids);
    if (!ids)
        return trib_errorf(TRIB_ERR_NOMEM, "checkpoint: out of memory for %zu user ids", n);
    for (size_t r = 0; r < n; r++)
        ids[r] = (uint64_t)t->model.users.ids[r];
    int rc = trib_ckpt_write_array(w, "user_ids", TRIB_CKPT_U64, n, 0, ids);
    free(ids);
    return rc;
}

/* ps mode: how the job was run (a resume may change these, see the top comment). */
static int ps_values(trib_ckpt_writer_t *w, const trib_trainer_t *t)
{
    const trib_train_config_t *c = &t->cfg;
    uint64_t cpe = trib_ps_clocks_per_epoch(t);
    const struct { const char *name; int64_t v; } ints[] = {
        {"ps_servers", (int64_t)c->ps_servers}, {"ps_workers", (int64_t)t->size - (int64_t)c->ps_servers},
        {"ps_staleness", (int64_t)c->ps_staleness}, {"ps_clock_every", (int64_t)c->ps_clock_every},
        {"ps_clocks_per_epoch", (int64_t)cpe}, {"ps_next_clock", (int64_t)(t->next_epoch * cpe)}};
    int rc = trib_ckpt_set_string(w, "ps_consistency", trib_ps_consistency_name(c->ps_consistency));
    for (size_t i = 0; i < sizeof ints / sizeof ints[0] && rc == TRIB_OK; i++)
        rc = trib_ckpt_set_int(w, ints[i].name, ints[i].v);
    return rc;
}

/* ps mode, every server: its rows with their global ids. */
static int server_items(trib_ckpt_writer_t *w, const trib_mf_block_t *b)
{
    uint64_t *ids = malloc((b->n_rows + 1) * sizeof *ids);
    if (!ids)
        return trib_errorf(TRIB_ERR_NOMEM, "checkpoint: out of memory for %zu item ids", b->n_rows);
    for (size_t r = 0; r < b->n_rows; r++)
        ids[r] = (uint64_t)b->ids[r];
    int rc = trib_ckpt_write_array(w, "item_ids", TRIB_CKPT_U64, b->n_rows, 0, ids);
    free(ids);
    return rc == TRIB_OK ? block_arrays(w, b, "item", 0) : rc;
}

static int root_values(trib_ckpt_writer_t *w, const trib_trainer_t *t)
{
    char k[32];
    const char *values[N_CKPT_CONFIG];
    config_values(t, k, values);
    int rc = TRIB_OK;
    for (size_t i = 0; i < N_CKPT_CONFIG && rc == TRIB_OK; i++)
        rc = trib_ckpt_set_config(w, ckpt_config_keys[i], values[i]);
    char traj[N_TRAJECTORY][48];
    trajectory_values(t, traj);
    for (size_t i = 0; i < N_TRAJECTORY && rc == TRIB_OK; i++)
        rc = trib_ckpt_set_config(w, trajectory_keys[i], traj[i]);
    if (rc == TRIB_OK && t->run_id[0])
        rc = trib_ckpt_set_config(w, "run_id", t->run_id);
    const struct { const char *name; int64_t v; } ints[] = {
        {"next_epoch", (int64_t)t->next_epoch}, {"next_round", (int64_t)t->next_round},
        {"rounds_per_epoch", (int64_t)t->rounds_per_epoch}, {"nranks", (int64_t)t->size},
        {"n_users", (int64_t)t->train_info.n_users}, {"n_items", (int64_t)t->train_info.n_items},
        {"seed", (int64_t)t->cfg.seed}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0] && rc == TRIB_OK; i++)
        rc = trib_ckpt_set_int(w, ints[i].name, ints[i].v);
    if (rc == TRIB_OK)
        rc = trib_ckpt_set_double(w, "mean", (double)t->model.mean);
    if (rc == TRIB_OK)
        rc = trib_ckpt_set_double(w, "rating_min", (double)t->model.rating_min);
    if (rc == TRIB_OK)
        rc = trib_ckpt_set_double(w, "rating_max", (double)t->model.rating_max);
    if (rc == TRIB_OK)
        rc = trib_ckpt_set_string(w, "sync_method", trib_sync_method_name(t->cfg.sync_method));
    if (rc == TRIB_OK)
        rc = trib_ckpt_set_double(w, "early_best", t->es_have_best ? t->es_best : (double)INFINITY);
    if (rc == TRIB_OK)
        rc = trib_ckpt_set_int(w, "early_since", (int64_t)t->es_since);
    if (rc == TRIB_OK && t->cfg.mode == TRIB_TRAIN_MODE_PS)
        rc = ps_values(w, t);
    else if (rc == TRIB_OK)
        rc = block_arrays(w, &t->model.items, "item", 1);
    return rc;
}

int trib_trainer_checkpoint(trib_trainer_t *t, const char *dir, unsigned keep, char *path_out, size_t path_cap)
{
    if (!t || !dir)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "checkpoint: NULL trainer or directory");
    int ps = t->cfg.mode == TRIB_TRAIN_MODE_PS;
    if (ps && t->next_round != 0) /* cannot happen: a ps round is an epoch */
        return trib_errorf(TRIB_ERR_STATE, "checkpoint: ps mode checkpoints only at an epoch boundary");
    /* sync: settling is a no-op; ps: the servers' blocks are the values, nothing to settle */
    int rc = ps ? TRIB_OK : trib_train_agree(t->strategy->settle(t, t->strategy_state), t->comm);
    if (rc != TRIB_OK)
        return rc;
    char fp[32];
    fingerprint_text(t, fp, sizeof fp);
    trib_ckpt_write_opts_t o = TRIB_CKPT_WRITE_OPTS_INIT;
    o.fingerprint = fp;
    o.keep = keep;
    /* seq: rounds done since the start of training, increasing along one job */
    uint64_t seq = (uint64_t)t->next_epoch * t->rounds_per_epoch + t->next_round;
    trib_ckpt_writer_t *w = NULL;
    rc = trib_ckpt_begin(t->comm, dir, seq, &o, &w);
    if (rc != TRIB_OK)
        return rc;
    int local = user_ids_array(w, t);
    if (local == TRIB_OK)
        local = block_arrays(w, &t->model.users, "user", 0);
    if (local == TRIB_OK && ps && trib_ps_server_items(t))
        local = server_items(w, trib_ps_server_items(t));
    if (local == TRIB_OK && t->rank == 0)
        local = root_values(w, t);
    local = trib_train_agree(local, t->comm);
    if (local != TRIB_OK) {
        trib_ckpt_abort(w);
        return local;
    }
    return trib_ckpt_commit(w, path_out, path_cap);
}

/* ------------------------------------------------------------------ reading */

static int read_block_part(trib_ckpt_reader_t *r, int part, const char *prefix, size_t n, size_t k, float *f,
                           float *bias, float *ada)
{
    char name[TRIB_CKPT_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s_factors", prefix);
    int rc = trib_ckpt_read_array(r, part, name, TRIB_CKPT_F32, f, n * k);
    snprintf(name, sizeof name, "%s_bias", prefix);
    if (rc == TRIB_OK)
        rc = trib_ckpt_read_array(r, part, name, TRIB_CKPT_F32, bias, n);
    snprintf(name, sizeof name, "%s_adagrad", prefix);
    if (rc == TRIB_OK)
        rc = trib_ckpt_read_array(r, part, name, TRIB_CKPT_F32, ada, n);
    return rc;
}

/* Reads rows x k + 2 rows of floats of one part or the global arrays into fresh buffers. */
static int load_part(trib_ckpt_reader_t *r, int part, const char *prefix, size_t k, size_t *rows, float **buf)
{
    char name[TRIB_CKPT_NAME_MAX + 1];
    trib_ckpt_array_info_t info;
    snprintf(name, sizeof name, "%s_bias", prefix);
    int rc = trib_ckpt_array_info(r, part, name, &info);
    if (rc != TRIB_OK)
        return rc;
    *rows = info.rows;
    *buf = malloc((info.rows * (k + 2) + 1) * sizeof **buf);
    if (!*buf)
        return trib_errorf(TRIB_ERR_NOMEM, "resume: out of memory for %zu rows", info.rows);
    float *f = *buf, *bias = f + info.rows * k, *ada = bias + info.rows;
    rc = read_block_part(r, part, prefix, info.rows, k, f, bias, ada);
    if (rc != TRIB_OK) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

static void copy_row(trib_mf_block_t *b, size_t row, const float *f, const float *bias, const float *ada, size_t src)
{
    memcpy(trib_mf_row(b, row), f + src * b->k, b->k * sizeof(float));
    b->bias[row] = bias[src];
    b->adagrad[row] = ada[src];
}

/* ps mode: the item rows of every server's part, each item exactly once (any server count). */
static int restore_ps_items(trib_trainer_t *t, trib_ckpt_reader_t *r)
{
    trib_mf_block_t *b = &t->model.items;
    unsigned char *seen = calloc(b->n_rows + 1, 1);
    if (!seen)
        return trib_errorf(TRIB_ERR_NOMEM, "resume: out of memory for %zu items", b->n_rows);
    size_t found = 0;
    int rc = TRIB_OK;
    for (int p = 0; p < trib_ckpt_nparts(r) && rc == TRIB_OK; p++) {
        trib_ckpt_array_info_t info;
        if (trib_ckpt_array_info(r, p, "item_ids", &info) == TRIB_ERR_NOT_FOUND)
            continue; /* a worker's part */
        size_t n;
        float *buf = NULL;
        uint64_t *ids = NULL;
        rc = load_part(r, p, "item", b->k, &n, &buf);
        if (rc == TRIB_OK && !(ids = malloc((n + 1) * sizeof *ids)))
            rc = trib_errorf(TRIB_ERR_NOMEM, "resume: out of memory for %zu item ids", n);
        if (rc == TRIB_OK)
            rc = trib_ckpt_read_array(r, p, "item_ids", TRIB_CKPT_U64, ids, n);
        for (size_t i = 0; rc == TRIB_OK && i < n; i++) {
            if (ids[i] >= b->n_rows || seen[ids[i]])
                rc = trib_errorf(TRIB_ERR_CORRUPT, "resume: part %d holds item %" PRIu64 " %s", p, ids[i],
                                 ids[i] >= b->n_rows ? "outside the dataset" : "twice");
            else {
                seen[ids[i]] = 1;
                copy_row(b, (size_t)ids[i], buf, buf + n * b->k, buf + n * (b->k + 1), i);
                found++;
            }
        }
        free(ids);
        free(buf);
    }
    free(seen);
    if (rc == TRIB_OK && found != b->n_rows)
        rc = trib_errorf(TRIB_ERR_CORRUPT, "resume: the servers' parts hold %zu of the %zu items", found, b->n_rows);
    return rc;
}

static int restore_items(trib_trainer_t *t, trib_ckpt_reader_t *r)
{
    if (t->cfg.mode == TRIB_TRAIN_MODE_PS)
        return restore_ps_items(t, r);
    size_t n;
    float *buf;
    trib_mf_block_t *b = &t->model.items;
    int rc = load_part(r, TRIB_CKPT_GLOBAL, "item", b->k, &n, &buf);
    if (rc != TRIB_OK)
        return rc;
    if (n != b->n_rows) {
        free(buf);
        return trib_errorf(TRIB_ERR_INCOMPATIBLE, "resume: the checkpoint has %zu items, the dataset %zu", n,
                           b->n_rows);
    }
    for (size_t i = 0; i < n; i++)
        copy_row(b, i, buf, buf + n * b->k, buf + n * (b->k + 1), i);
    free(buf);
    return TRIB_OK;
}

/* Every part: keep the rows of the users this rank owns now. */
static int restore_users(trib_trainer_t *t, trib_ckpt_reader_t *r)
{
    trib_mf_block_t *b = &t->model.users;
    size_t found = 0;
    int rc = TRIB_OK;
    for (int p = 0; p < trib_ckpt_nparts(r) && rc == TRIB_OK; p++) {
        size_t n;
        float *buf = NULL;
        uint64_t *ids = NULL;
        rc = load_part(r, p, "user", b->k, &n, &buf);
        if (rc == TRIB_OK && !(ids = malloc((n + 1) * sizeof *ids)))
            rc = trib_errorf(TRIB_ERR_NOMEM, "resume: out of memory for %zu user ids", n);
        if (rc == TRIB_OK)
            rc = trib_ckpt_read_array(r, p, "user_ids", TRIB_CKPT_U64, ids, n);
        for (size_t i = 0; rc == TRIB_OK && i < n; i++) {
            if (ids[i] < t->user_first || ids[i] >= t->user_end)
                continue;
            copy_row(b, (size_t)(ids[i] - t->user_first), buf, buf + n * b->k, buf + n * (b->k + 1), i);
            found++;
        }
        free(ids);
        free(buf);
    }
    if (rc == TRIB_OK && found != b->n_rows)
        rc = trib_errorf(TRIB_ERR_CORRUPT, "resume: %zu of this rank's %zu users are missing from the checkpoint",
                         b->n_rows - found, b->n_rows);
    return rc;
}

static int get_u64(trib_ckpt_reader_t *r, const char *name, uint64_t *v)
{
    int64_t x;
    int rc = trib_ckpt_get_int(r, name, &x);
    if (rc == TRIB_OK && x < 0)
        rc = trib_errorf(TRIB_ERR_CORRUPT, "resume: checkpoint value %s is negative", name);
    *v = (uint64_t)x;
    return rc;
}

/* Position under this job's rounds per epoch. */
static int restore_position(trib_trainer_t *t, trib_ckpt_reader_t *r, unsigned *epoch_out, uint64_t *round_out)
{
    uint64_t epoch, round, R, n_users, n_items;
    int rc = get_u64(r, "next_epoch", &epoch);
    if (rc == TRIB_OK)
        rc = get_u64(r, "next_round", &round);
    if (rc == TRIB_OK)
        rc = get_u64(r, "rounds_per_epoch", &R);
    if (rc == TRIB_OK)
        rc = get_u64(r, "n_users", &n_users);
    if (rc == TRIB_OK)
        rc = get_u64(r, "n_items", &n_items);
    if (rc != TRIB_OK)
        return rc;
    if (n_users != t->train_info.n_users || n_items != t->train_info.n_items || R == 0 || round >= R)
        return trib_errorf(TRIB_ERR_INCOMPATIBLE, "resume: the checkpoint's sizes or position do not fit this job");
    if (epoch > t->cfg.epochs || (epoch == t->cfg.epochs && round > 0))
        return trib_errorf(TRIB_ERR_INCOMPATIBLE,
                           "resume: the checkpoint is at epoch %" PRIu64 ", past this job's %u epochs", epoch,
                           t->cfg.epochs);
    if (R != t->rounds_per_epoch) {
        __extension__ typedef unsigned __int128 u128_t;
        round = (uint64_t)((u128_t)round * t->rounds_per_epoch / R);
        if (round >= t->rounds_per_epoch)
            round = t->rounds_per_epoch - 1;
    }
    *epoch_out = (unsigned)epoch;
    *round_out = round;
    return TRIB_OK;
}

/* Early-stopping state (absent from checkpoints of older versions: a fresh state). */
static int restore_early_stop(trib_trainer_t *t, trib_ckpt_reader_t *r)
{
    double best;
    int64_t since;
    int rc = trib_ckpt_get_double(r, "early_best", &best);
    if (rc == TRIB_ERR_NOT_FOUND)
        return TRIB_OK;
    if (rc == TRIB_OK)
        rc = trib_ckpt_get_int(r, "early_since", &since);
    if (rc == TRIB_OK && (since < 0 || since > UINT32_MAX))
        rc = trib_errorf(TRIB_ERR_CORRUPT, "resume: checkpoint value early_since is out of range");
    if (rc != TRIB_OK)
        return rc;
    t->es_have_best = isfinite(best);
    t->es_best = best;
    t->es_since = (unsigned)since;
    return TRIB_OK;
}

/* ps mode, rank 0: a warning when the server count or consistency differs from the checkpoint's. */
static void note_ps_changes(const trib_trainer_t *t, trib_ckpt_reader_t *r)
{
    int64_t servers = -1, stale = -1;
    char *cons = NULL;
    if (trib_ckpt_get_int(r, "ps_servers", &servers) != TRIB_OK ||
        trib_ckpt_get_int(r, "ps_staleness", &stale) != TRIB_OK ||
        trib_ckpt_get_string(r, "ps_consistency", &cons) != TRIB_OK) {
        free(cons);
        return;
    }
    const trib_train_config_t *c = &t->cfg;
    const char *now = trib_ps_consistency_name(c->ps_consistency);
    if (servers != (int64_t)c->ps_servers || strcmp(cons, now) != 0 || stale != (int64_t)c->ps_staleness)
        trib_log(TRIB_LOG_WARN,
                 "resume: the checkpoint was written with %" PRId64 " servers, %s, staleness %" PRId64
                 "; continuing with %u servers, %s, staleness %d (allowed: item rows are re-partitioned by id)",
                 servers, cons, stale, c->ps_servers, now, c->ps_staleness);
    free(cons);
}

/*
 * The checkpoint's trajectory settings against this run's (refused with the first differing one unless
 * changes are allowed); then this run takes the checkpoint's run id.  Same verdict on every rank: every
 * rank reads the same manifest and has the same configuration.
 */
static int check_identity(trib_trainer_t *t, trib_ckpt_reader_t *r)
{
    char now[N_TRAJECTORY][48];
    trajectory_values(t, now);
    int rc = TRIB_OK;
    for (size_t i = 0; i < N_TRAJECTORY && rc == TRIB_OK; i++) {
        char *was = NULL;
        int grc = trib_ckpt_get_config(r, trajectory_keys[i], &was);
        if (grc == TRIB_ERR_NOT_FOUND) {
            trib_clear_error();
            continue; /* a checkpoint of an older version */
        }
        if (grc != TRIB_OK)
            rc = grc;
        else if (strcmp(was, now[i]) != 0 && !t->allow_changed_settings)
            rc = trib_errorf(TRIB_ERR_INCOMPATIBLE,
                             "checkpoint %s belongs to a run with %s %s, this run has %s %s: refusing to resume "
                             "it (use --allow-changed-settings for a deliberate change)",
                             trib_ckpt_path(r), trajectory_keys[i], was, trajectory_keys[i], now[i]);
        else if (strcmp(was, now[i]) != 0 && t->rank == 0)
            trib_log(TRIB_LOG_WARN, "resume: %s changes from %s to %s (allowed)", trajectory_keys[i], was, now[i]);
        free(was);
    }
    char *id = NULL;
    int grc = rc == TRIB_OK ? trib_ckpt_get_config(r, "run_id", &id) : TRIB_OK;
    if (grc == TRIB_OK && id)
        snprintf(t->run_id, sizeof t->run_id, "%s", id);
    else if (grc == TRIB_ERR_NOT_FOUND)
        trib_clear_error(); /* older checkpoint: this run keeps its own id */
    else if (grc != TRIB_OK)
        rc = grc;
    free(id);
    return rc;
}

static int restore(trib_trainer_t *t, trib_ckpt_reader_t *r, unsigned *epoch, uint64_t *round)
{
    int rc = check_identity(t, r);
    if (rc == TRIB_OK)
        rc = restore_position(t, r, epoch, round);
    double mean = 0;
    if (rc == TRIB_OK)
        rc = trib_ckpt_get_double(r, "mean", &mean);
    if (rc == TRIB_OK && (float)mean != t->model.mean)
        rc = trib_errorf(TRIB_ERR_INCOMPATIBLE, "resume: the checkpoint's mean rating differs from the dataset's");
    if (rc == TRIB_OK)
        rc = restore_items(t, r);
    if (rc == TRIB_OK)
        rc = restore_users(t, r);
    if (rc == TRIB_OK)
        rc = restore_early_stop(t, r);
    if (rc == TRIB_OK && t->rank == 0 && t->cfg.mode == TRIB_TRAIN_MODE_PS)
        note_ps_changes(t, r);
    return rc;
}

int trib_trainer_resume(trib_trainer_t *t, const char *resume, const char *dir, char *path, size_t path_cap,
                        int *resumed)
{
    if (!t || !path || path_cap == 0 || !resumed)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "resume: NULL argument");
    *resumed = 0;
    path[0] = '\0';
    char fp[32], k[32];
    const char *values[N_CKPT_CONFIG];
    fingerprint_text(t, fp, sizeof fp);
    config_values(t, k, values);
    trib_ckpt_expect_t ex = TRIB_CKPT_EXPECT_INIT;
    ex.fingerprint = fp;
    ex.config_keys = ckpt_config_keys;
    ex.config_values = values;
    ex.nconfig = N_CKPT_CONFIG;
    uint64_t seq;
    int rc = trib_ckpt_resolve_all(t->comm, resume, dir, &ex, path, path_cap, &seq);
    if (rc == TRIB_ERR_NOT_FOUND && (!resume || strcmp(resume, "auto") == 0))
        return TRIB_OK; /* nothing to resume: a fresh start */
    if (rc != TRIB_OK)
        return rc;
    trib_ckpt_reader_t *r = NULL;
    rc = trib_ckpt_open(path, &ex, 0, &r);
    unsigned epoch = 0;
    uint64_t round = 0;
    if (rc == TRIB_OK)
        rc = restore(t, r, &epoch, &round);
    trib_ckpt_close(r);
    rc = trib_train_agree(rc, t->comm);
    if (rc != TRIB_OK)
        return trib_train_error_context(rc, "resume from %s", path);
    rc = trib_train_agree(trib_trainer_set_position(t, epoch, epoch == t->cfg.epochs ? 0 : round), t->comm);
    if (rc == TRIB_OK)
        *resumed = 1;
    return rc;
}
