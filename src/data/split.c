/*
 * split.c - deterministic train/test split of a dataset, shard by shard.
 *
 * Users live in one shard, so both rules can be applied one shard at a time:
 *   random: rating (u, i) is in test when hash(seed, u, i) / 2^64 < fraction:
 *           the decision depends on nothing but the seed and the pair;
 *   time:   per user, the round(fraction * n_u) latest ratings (by timestamp,
 *           then item id) are in test.
 * Input shard s becomes shard s of both outputs (same shard count, partition
 * and id maps, so the two share an id space and owner map).  Both outputs are
 * written to temporary directories and renamed at the end.  Synthetic inputs
 * pass noise_std and true_model_rmse on to both sides.
 */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/internal.h"

const char *trib_split_by_name(trib_split_by_t by)
{
    return by == TRIB_SPLIT_TIME ? "time" : by == TRIB_SPLIT_RANDOM ? "random" : "unknown";
}

int trib_split_by_parse(const char *name, trib_split_by_t *out)
{
    if (name && !strcmp(name, "random"))
        *out = TRIB_SPLIT_RANDOM;
    else if (name && !strcmp(name, "time"))
        *out = TRIB_SPLIT_TIME;
    else
        return trib_errorf(TRIB_ERR_INVALID_ARG, "split by '%s': not random or time", name ? name : "");
    return TRIB_OK;
}

typedef struct {
    const char *dir;
    char *tmp;
    uint64_t *user_counts, *item_counts, *shard_counts, *shard_fps;
    float *ratings; /* every rating of this side (histogram) */
    uint32_t *users, *items; /* test side: pairs, for the unseen counts */
    size_t n, cap;
    double lo, hi, sum;
} side_t;

static int side_init(side_t *s, const char *dir, const trib_dataset_t *ds, int force)
{
    memset(s, 0, sizeof *s);
    s->dir = dir;
    s->lo = INFINITY;
    s->hi = -INFINITY;
    s->user_counts = calloc(ds->info.n_users, sizeof(uint64_t));
    s->item_counts = calloc(ds->info.n_items, sizeof(uint64_t));
    s->shard_counts = calloc(ds->info.n_shards, sizeof(uint64_t));
    s->shard_fps = calloc(ds->info.n_shards, sizeof(uint64_t));
    if (!s->user_counts || !s->item_counts || !s->shard_counts || !s->shard_fps)
        return trib_errorf(TRIB_ERR_NOMEM, "split: out of memory");
    return trib_outdir_begin(dir, force, &s->tmp);
}

static void side_free(side_t *s)
{
    trib_outdir_abort(s->tmp);
    free(s->user_counts);
    free(s->item_counts);
    free(s->shard_counts);
    free(s->shard_fps);
    free(s->ratings);
    free(s->users);
    free(s->items);
}

static int side_add(side_t *s, const trib_ratings_t *r, int keep_pairs)
{
    if (s->n + r->n > s->cap) {
        size_t cap = (s->n + r->n) * 2;
        float *v = realloc(s->ratings, cap * sizeof *v);
        if (v)
            s->ratings = v;
        uint32_t *u = keep_pairs ? realloc(s->users, cap * sizeof *u) : NULL;
        if (u)
            s->users = u;
        uint32_t *it = keep_pairs ? realloc(s->items, cap * sizeof *it) : NULL;
        if (it)
            s->items = it;
        if (!v || (keep_pairs && (!u || !it)))
            return trib_errorf(TRIB_ERR_NOMEM, "split: out of memory");
        s->cap = cap;
    }
    for (size_t i = 0; i < r->n; i++) {
        float v = r->rating[i];
        s->user_counts[r->user[i]]++;
        s->item_counts[r->item[i]]++;
        s->sum += v;
        s->lo = v < s->lo ? v : s->lo;
        s->hi = v > s->hi ? v : s->hi;
        s->ratings[s->n + i] = v;
        if (keep_pairs) {
            s->users[s->n + i] = r->user[i];
            s->items[s->n + i] = r->item[i];
        }
    }
    s->n += r->n;
    return TRIB_OK;
}

static int cmp_time(const void *a, const void *b, void *ctx)
{
    const trib_ratings_t *r = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (r->timestamp[i] != r->timestamp[j])
        return r->timestamp[i] < r->timestamp[j] ? -1 : 1;
    return (r->item[i] > r->item[j]) - (r->item[i] < r->item[j]);
}

/* in_test[i] for the rows of one shard (sorted by user). */
static int decide(const trib_ratings_t *r, const trib_split_opts_t *o, unsigned char *in_test)
{
    if (o->by == TRIB_SPLIT_RANDOM) {
        for (size_t i = 0; i < r->n; i++) {
            uint64_t h = trib_hash64(trib_hash64(o->seed, r->user[i]), r->item[i]);
            in_test[i] = (double)(h >> 11) * 0x1.0p-53 < o->test_fraction;
        }
        return TRIB_OK;
    }
    size_t *idx = malloc((r->n ? r->n : 1) * sizeof *idx);
    if (!idx)
        return trib_errorf(TRIB_ERR_NOMEM, "split: out of memory");
    for (size_t a = 0, b; a < r->n; a = b) {
        for (b = a; b < r->n && r->user[b] == r->user[a]; b++)
            idx[b - a] = b;
        size_t n = b - a, k = (size_t)llround(o->test_fraction * (double)n);
        qsort_r(idx, n, sizeof *idx, cmp_time, (void *)r);
        for (size_t j = 0; j < n; j++)
            in_test[idx[j]] = j >= n - k;
    }
    free(idx);
    return TRIB_OK;
}

/* Moves rows with in_test == want into out (same column set). */
static int select_rows(const trib_ratings_t *r, const unsigned char *in_test, int want, trib_ratings_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += in_test[i] == want;
    int rc = trib_ratings_alloc(out, n, r->timestamp != NULL);
    if (rc != TRIB_OK)
        return rc;
    for (size_t i = 0, w = 0; i < r->n; i++) {
        if (in_test[i] != want)
            continue;
        out->user[w] = r->user[i];
        out->item[w] = r->item[i];
        out->rating[w] = r->rating[i];
        if (r->timestamp)
            out->timestamp[w] = r->timestamp[i];
        w++;
    }
    return TRIB_OK;
}

static int split_shard(const trib_dataset_t *ds, uint32_t s, const trib_split_opts_t *o, side_t *side)
{
    trib_ratings_t r, part[2];
    trib_ratings_init(&part[0]);
    trib_ratings_init(&part[1]);
    int rc = trib_dataset_read_rows(ds, s, 0, ds->shard_counts[s], 1, &r);
    if (rc != TRIB_OK)
        return rc;
    unsigned char *in_test = malloc(r.n ? r.n : 1);
    rc = in_test ? decide(&r, o, in_test) : trib_errorf(TRIB_ERR_NOMEM, "split: out of memory");
    for (int k = 0; rc == TRIB_OK && k < 2; k++) {
        rc = select_rows(&r, in_test, k, &part[k]);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/shard-%05u.h5", side[k].tmp, s);
        if (rc == TRIB_OK)
            rc = trib_write_shard(path, &part[k], 0, part[k].n, s, ds->info.n_shards, ds->info.idmap_fingerprint,
                                  o->write.compress_level, &side[k].shard_fps[s]);
        side[k].shard_counts[s] = part[k].n;
        if (rc == TRIB_OK)
            rc = side_add(&side[k], &part[k], k == 1);
    }
    free(in_test);
    trib_ratings_free(&r);
    trib_ratings_free(&part[0]);
    trib_ratings_free(&part[1]);
    return rc;
}

/* The input's manifest counts against the rows both sides received (a damaged manifest is not copied on). */
static int check_input_counts(const trib_dataset_t *ds, const side_t *side)
{
    uint64_t nu = ds->info.n_users, ni = ds->info.n_items;
    uint64_t *sum = malloc((nu + ni ? nu + ni : 1) * sizeof *sum);
    if (!sum)
        return trib_errorf(TRIB_ERR_NOMEM, "split: out of memory");
    for (uint64_t u = 0; u < nu; u++)
        sum[u] = side[0].user_counts[u] + side[1].user_counts[u];
    for (uint64_t i = 0; i < ni; i++)
        sum[nu + i] = side[0].item_counts[i] + side[1].item_counts[i];
    int rc = trib_dataset_check_counts(ds, sum, sum + nu);
    free(sum);
    return rc;
}

static int write_side_manifest(const trib_dataset_t *ds, side_t *s, const char *source)
{
    if (s->n == 0)
        return trib_errorf(TRIB_ERR_RANGE, "split: the %s side would be empty (adjust --test-fraction)",
                           source + 6);
    trib_histogram_t hist;
    trib_histogram_build(s->ratings, s->n, &hist);
    trib_manifest_t m;
    memset(&m, 0, sizeof m);
    m.info = ds->info;
    m.info.n_ratings = s->n;
    m.info.rating_min = s->lo;
    m.info.rating_max = s->hi;
    m.info.rating_mean = s->sum / (double)s->n;
    m.info.fingerprint = trib_dataset_fingerprint(ds->info.n_users, ds->info.n_items, s->n,
                                                  ds->info.idmap_fingerprint, s->shard_fps, ds->info.n_shards);
    snprintf(m.info.source, sizeof m.info.source, "%s", source);
    m.users = ds->users;
    m.items = ds->items;
    m.user_counts = s->user_counts;
    m.item_counts = s->item_counts;
    m.shard_counts = s->shard_counts;
    m.shard_fps = s->shard_fps;
    m.hist = &hist;
    return trib_write_manifest(s->tmp, &m);
}

int trib_data_split(const char *input, const char *train_dir, const char *test_dir, const trib_split_opts_t *opts,
                    trib_split_report_t *report)
{
    if (!input || !train_dir || !test_dir || !opts)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "split: NULL argument");
    if (!(opts->test_fraction > 0 && opts->test_fraction < 1))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "split: test fraction must be in (0, 1)");
    if (!strcmp(train_dir, test_dir) || !strcmp(train_dir, input) || !strcmp(test_dir, input))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "split: input, train and test must be three different directories");
    trib_dataset_t *ds;
    int rc = trib_dataset_open(input, &ds);
    if (rc != TRIB_OK)
        return rc;
    if (opts->by == TRIB_SPLIT_TIME && !ds->info.has_timestamp) {
        trib_dataset_close(ds);
        return trib_errorf(TRIB_ERR_INVALID_ARG, "split: %s has no timestamps; use --by random", input);
    }
    side_t side[2];
    rc = side_init(&side[0], train_dir, ds, opts->write.force);
    if (rc == TRIB_OK)
        rc = side_init(&side[1], test_dir, ds, opts->write.force);
    else
        memset(&side[1], 0, sizeof side[1]);
    for (uint32_t s = 0; rc == TRIB_OK && s < ds->info.n_shards; s++) {
        rc = split_shard(ds, s, opts, side);
        if (opts->write.progress)
            opts->write.progress(opts->write.progress_arg, "split", (double)(s + 1) / ds->info.n_shards);
    }
    if (rc == TRIB_OK)
        rc = check_input_counts(ds, side);
    if (rc == TRIB_OK)
        rc = write_side_manifest(ds, &side[0], "split:train");
    if (rc == TRIB_OK)
        rc = write_side_manifest(ds, &side[1], "split:test");
    if (rc == TRIB_OK && report) {
        memset(report, 0, sizeof *report);
        report->train_ratings = side[0].n;
        report->test_ratings = side[1].n;
        for (uint64_t u = 0; u < ds->info.n_users; u++)
            report->test_users_unseen += side[1].user_counts[u] && !side[0].user_counts[u];
        for (uint64_t i = 0; i < ds->info.n_items; i++)
            report->test_items_unseen += side[1].item_counts[i] && !side[0].item_counts[i];
        for (size_t j = 0; j < side[1].n; j++)
            report->test_ratings_unseen += !side[0].user_counts[side[1].users[j]] ||
                                           !side[0].item_counts[side[1].items[j]];
    }
    if (rc == TRIB_OK) { /* both sides or neither */
        char *tmps[2] = {side[0].tmp, side[1].tmp};
        const char *dirs[2] = {side[0].dir, side[1].dir};
        side[0].tmp = side[1].tmp = NULL;
        rc = trib_outdir_commit_all(tmps, dirs, 2, opts->write.force);
    }
    side_free(&side[0]);
    side_free(&side[1]);
    trib_dataset_close(ds);
    return rc;
}
