/*
 * verify.c - trib_dataset_verify(): reads every shard and recomputes what the
 * manifest claims.  Checks, in order: each shard belongs to this dataset
 * (attributes), its rows are sorted by (user, item) without duplicates, ids are
 * in range, each user sits in the shard the partition rule says (hash: the hash
 * of its id; range: shards hold increasing, disjoint user ranges), the shard's
 * content fingerprint; then per-user / per-item counts, rating min/max/mean,
 * histogram, id-map fingerprint and the dataset fingerprint.  Stops at the
 * first problem with a message naming the file.
 */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/internal.h"

typedef struct {
    uint64_t *user_counts, *item_counts;
    int64_t prev_max; /* range partition: largest user of the shards before */
    float *all;
    size_t n;
    double lo, hi, sum;
} tally_t;

static int check_shard(const trib_dataset_t *ds, uint32_t s, tally_t *t)
{
    char path[PATH_MAX];
    trib_dataset_shard_path(ds, s, path, sizeof path);
    trib_ratings_t r;
    int rc = trib_dataset_read_rows(ds, s, 0, ds->shard_counts[s], 1, &r);
    if (rc != TRIB_OK)
        return rc;
    for (size_t i = 0; rc == TRIB_OK && i < r.n; i++) {
        uint32_t u = r.user[i], it = r.item[i];
        if (u >= ds->info.n_users || it >= ds->info.n_items)
            rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: row %zu: user %u / item %u out of range", path, i, u, it);
        else if (i && (u < r.user[i - 1] || (u == r.user[i - 1] && it <= r.item[i - 1])))
            rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: row %zu: not sorted by (user, item) or duplicated", path, i);
        else if (!isfinite(r.rating[i]))
            rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: row %zu: rating is not finite", path, i);
        else if (ds->info.partition == TRIB_PARTITION_HASH ? trib_hash_shard(u, ds->info.n_shards) != s
                                                           : (int64_t)u <= t->prev_max)
            rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: row %zu: user %u belongs to another shard (%s partition)", path,
                             i, u, trib_partition_name(ds->info.partition));
        if (rc != TRIB_OK)
            break;
        t->user_counts[u]++;
        t->item_counts[it]++;
        double v = r.rating[i];
        t->sum += v;
        t->lo = v < t->lo ? v : t->lo;
        t->hi = v > t->hi ? v : t->hi;
        t->all[t->n++] = r.rating[i];
    }
    if (r.n)
        t->prev_max = r.user[r.n - 1];
    if (rc == TRIB_OK && trib_ratings_fingerprint(&r, 0, r.n) != ds->shard_fps[s])
        rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: content fingerprint does not match (data changed or corrupt)", path);
    trib_ratings_free(&r);
    return rc;
}

static int check_totals(const trib_dataset_t *ds, const tally_t *t)
{
    const trib_dataset_info_t *in = &ds->info;
    char mpath[PATH_MAX];
    snprintf(mpath, sizeof mpath, "%s/%s", ds->dir, TRIB_MANIFEST_NAME);
    if (memcmp(t->user_counts, ds->user_counts, in->n_users * sizeof(uint64_t)) != 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: user_counts differ from the shards", mpath);
    if (memcmp(t->item_counts, ds->item_counts, in->n_items * sizeof(uint64_t)) != 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: item_counts differ from the shards", mpath);
    double mean = t->n ? t->sum / (double)t->n : 0;
    if (t->n && (t->lo != in->rating_min || t->hi != in->rating_max ||
                 fabs(mean - in->rating_mean) > 1e-9 * (1 + fabs(mean))))
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: rating min/max/mean differ from the shards", mpath);
    trib_histogram_t h;
    trib_histogram_build(t->all, t->n, &h);
    if (h.n_bins != ds->hist.n_bins || memcmp(h.count, ds->hist.count, h.n_bins * sizeof h.count[0]) != 0)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: rating histogram differs from the shards", mpath);
    uint64_t ifp = trib_hash64(trib_idmap_fingerprint(ds->users), trib_idmap_fingerprint(ds->items));
    if (ifp != in->idmap_fingerprint)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: id maps do not match their fingerprint", mpath);
    uint64_t fp = trib_dataset_fingerprint(in->n_users, in->n_items, in->n_ratings, ifp, ds->shard_fps,
                                           in->n_shards);
    if (fp != in->fingerprint)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: dataset fingerprint does not match its contents", mpath);
    return TRIB_OK;
}

int trib_dataset_verify(const trib_dataset_t *ds)
{
    if (!ds)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "verify: NULL dataset");
    const trib_dataset_info_t *in = &ds->info;
    tally_t t;
    memset(&t, 0, sizeof t);
    t.lo = INFINITY;
    t.hi = -INFINITY;
    t.user_counts = calloc(in->n_users ? in->n_users : 1, sizeof(uint64_t));
    t.item_counts = calloc(in->n_items ? in->n_items : 1, sizeof(uint64_t));
    t.prev_max = -1;
    t.all = malloc((in->n_ratings ? in->n_ratings : 1) * sizeof *t.all);
    int rc = TRIB_OK;
    if (!t.user_counts || !t.item_counts || !t.all)
        rc = trib_errorf(TRIB_ERR_NOMEM, "verify: out of memory");
    for (uint32_t s = 0; rc == TRIB_OK && s < in->n_shards; s++)
        rc = check_shard(ds, s, &t);
    if (rc == TRIB_OK)
        rc = check_totals(ds, &t);
    free(t.user_counts);
    free(t.item_counts);
    free(t.all);
    return rc;
}
