/*
 * writer.c - the one place that lays out a dataset on disk (FORMAT.md).
 *
 * trib_write_dataset_dir() takes ratings with dense ids in any order and:
 *   1. sorts them by (user, item) and rejects duplicate pairs,
 *   2. counts ratings per user and item, computes min/max/mean and the histogram,
 *   3. assigns users to shards (hash of the user id, or contiguous user ranges
 *      with equal rating counts); a shard's rows keep (user, item) order,
 *   4. writes shard-NNNNN.h5 files (fingerprint attribute per shard), fsyncs them,
 *   5. writes manifest.h5 last.
 * The callers (convert, synth, split, trib_data_write) write into a temporary
 * directory from outdir.c and rename it into place afterwards.
 */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/internal.h"

const char *trib_partition_name(trib_partition_t p)
{
    return p == TRIB_PARTITION_RANGE ? "range" : "hash";
}

int trib_partition_parse(const char *name, trib_partition_t *out)
{
    if (!name || !out)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_partition_parse: NULL argument");
    if (strcmp(name, "hash") == 0)
        *out = TRIB_PARTITION_HASH;
    else if (strcmp(name, "range") == 0)
        *out = TRIB_PARTITION_RANGE;
    else
        return trib_errorf(TRIB_ERR_INVALID_ARG, "'%s' is not hash or range", name);
    return TRIB_OK;
}

int trib_write_shard(const char *path, const trib_ratings_t *r, size_t first, size_t count, uint32_t shard,
                     uint32_t n_shards, uint64_t idmap_fp, int compress, uint64_t *fingerprint)
{
    trib_hid_t f;
    trib_h5_stage_t st;
    int rc = trib_h5_create_file_staged(path, (uint64_t)count * 20 + 65536, &f, &st);
    if (rc != TRIB_OK)
        return rc;
    uint64_t fp = trib_ratings_fingerprint(r, first, count);
    rc = trib_h5_attr_write_str(f, path, "format", TRIB_SHARD_FORMAT);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_u64(f, path, "format_version", TRIB_DATA_FORMAT_VERSION);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_u64(f, path, "shard_index", shard);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_u64(f, path, "n_shards", n_shards);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_u64(f, path, "n_ratings", count);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_u64(f, path, "fingerprint", fp);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_u64(f, path, "idmap_fingerprint", idmap_fp);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_u64(f, path, "has_timestamp", r->timestamp != NULL);
    if (rc == TRIB_OK)
        rc = trib_h5_write_1d(f, path, "user", TRIB_H5_U32, r->user + first, count, TRIB_SHARD_CHUNK, compress);
    if (rc == TRIB_OK)
        rc = trib_h5_write_1d(f, path, "item", TRIB_H5_U32, r->item + first, count, TRIB_SHARD_CHUNK, compress);
    if (rc == TRIB_OK)
        rc = trib_h5_write_1d(f, path, "rating", TRIB_H5_F32, r->rating + first, count, TRIB_SHARD_CHUNK,
                              compress);
    if (rc == TRIB_OK && r->timestamp)
        rc = trib_h5_write_1d(f, path, "timestamp", TRIB_H5_I64, r->timestamp + first, count, TRIB_SHARD_CHUNK,
                              compress);
    int crc = trib_h5_close_file_staged(f, path, &st); /* written, fsynced (a full disk: a clean error) */
    if (rc == TRIB_OK)
        rc = crc;
    if (rc == TRIB_OK && fingerprint)
        *fingerprint = fp;
    return rc;
}

static int write_histogram(trib_hid_t f, const char *path, const trib_histogram_t *h)
{
    int rc = trib_h5_write_1d(f, path, "rating_hist_lo", TRIB_H5_F64, h->lo, h->n_bins, 0, 0);
    if (rc == TRIB_OK)
        rc = trib_h5_write_1d(f, path, "rating_hist_hi", TRIB_H5_F64, h->hi, h->n_bins, 0, 0);
    if (rc == TRIB_OK)
        rc = trib_h5_write_1d(f, path, "rating_hist_count", TRIB_H5_U64, h->count, h->n_bins, 0, 0);
    return rc;
}

int trib_write_manifest(const char *dir, const trib_manifest_t *m)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, TRIB_MANIFEST_NAME);
    trib_hid_t f;
    trib_h5_stage_t st;
    uint64_t size_hint = (m->info.n_users + m->info.n_items) * 64 + 16 * m->info.n_shards + 65536; /* ids, counts */
    int rc = trib_h5_create_file_staged(path, size_hint, &f, &st);
    if (rc != TRIB_OK)
        return rc;
    const trib_dataset_info_t *in = &m->info;
    struct {
        const char *name;
        uint64_t v;
    } u64s[] = {{"format_version", TRIB_DATA_FORMAT_VERSION},
                {"n_users", in->n_users},
                {"n_items", in->n_items},
                {"n_ratings", in->n_ratings},
                {"n_shards", in->n_shards},
                {"fingerprint", in->fingerprint},
                {"idmap_fingerprint", in->idmap_fingerprint},
                {"has_timestamp", (uint64_t)in->has_timestamp},
                {"is_synthetic", (uint64_t)in->is_synthetic}};
    rc = trib_h5_attr_write_str(f, path, "format", TRIB_MANIFEST_FORMAT);
    for (size_t i = 0; rc == TRIB_OK && i < sizeof u64s / sizeof u64s[0]; i++)
        rc = trib_h5_attr_write_u64(f, path, u64s[i].name, u64s[i].v);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_str(f, path, "partition", trib_partition_name(in->partition));
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_str(f, path, "source", in->source);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_f64(f, path, "rating_min", in->rating_min);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_f64(f, path, "rating_max", in->rating_max);
    if (rc == TRIB_OK)
        rc = trib_h5_attr_write_f64(f, path, "rating_mean", in->rating_mean);
    if (rc == TRIB_OK && in->is_synthetic) {
        rc = trib_h5_attr_write_f64(f, path, "noise_std", in->noise_std);
        if (rc == TRIB_OK)
            rc = trib_h5_attr_write_f64(f, path, "true_model_rmse", in->true_model_rmse);
        if (rc == TRIB_OK)
            rc = trib_h5_attr_write_u64(f, path, "synth_seed", m->synth_seed);
        if (rc == TRIB_OK)
            rc = trib_h5_attr_write_u64(f, path, "synth_rank", m->synth_rank);
    }
    if (rc == TRIB_OK)
        rc = trib_idmap_h5_write(f, path, "user_ids", m->users);
    if (rc == TRIB_OK)
        rc = trib_idmap_h5_write(f, path, "item_ids", m->items);
    if (rc == TRIB_OK)
        rc = trib_h5_write_1d(f, path, "user_counts", TRIB_H5_U64, m->user_counts, in->n_users, 0, 0);
    if (rc == TRIB_OK)
        rc = trib_h5_write_1d(f, path, "item_counts", TRIB_H5_U64, m->item_counts, in->n_items, 0, 0);
    if (rc == TRIB_OK)
        rc = trib_h5_write_1d(f, path, "shard_counts", TRIB_H5_U64, m->shard_counts, in->n_shards, 0, 0);
    if (rc == TRIB_OK)
        rc = trib_h5_write_1d(f, path, "shard_fingerprints", TRIB_H5_U64, m->shard_fps, in->n_shards, 0, 0);
    if (rc == TRIB_OK)
        rc = write_histogram(f, path, m->hist);
    int crc = trib_h5_close_file_staged(f, path, &st); /* written, fsynced (a full disk: a clean error) */
    if (rc == TRIB_OK)
        rc = crc;
    return rc;
}

static int check_duplicates(const trib_ratings_t *r, const trib_idmap_t *users, const trib_idmap_t *items)
{
    for (size_t i = 1; i < r->n; i++) {
        if (r->user[i] == r->user[i - 1] && r->item[i] == r->item[i - 1]) {
            char u[64] = "?", it[64] = "?";
            if (users)
                trib_idmap_format(users, r->user[i], u, sizeof u);
            else
                snprintf(u, sizeof u, "%u", r->user[i]);
            if (items)
                trib_idmap_format(items, r->item[i], it, sizeof it);
            else
                snprintf(it, sizeof it, "%u", r->item[i]);
            return trib_errorf(TRIB_ERR_FORMAT, "duplicate rating for user %s, item %s", u, it);
        }
    }
    return TRIB_OK;
}

/*
 * Hash partitioning: rows of each shard in (user, item) order, as a list of row
 * indices grouped by shard (stable counting sort).  The shards are then
 * gathered one at a time into a reused scratch buffer, instead of reordering
 * every column in fresh memory.
 */
static int rows_by_shard(const trib_ratings_t *r, const uint32_t *shard_of_user, uint32_t n_shards,
                         uint64_t *counts, uint32_t **rows_out)
{
    uint64_t *pos = calloc((size_t)n_shards + 1, sizeof *pos);
    uint32_t *rows = malloc((r->n ? r->n : 1) * sizeof *rows);
    if (!pos || !rows) {
        free(pos);
        free(rows);
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory grouping ratings by shard");
    }
    for (size_t i = 0; i < r->n; i++)
        pos[shard_of_user[r->user[i]] + 1]++;
    for (uint32_t s = 0; s < n_shards; s++) {
        counts[s] = pos[s + 1];
        pos[s + 1] += pos[s];
    }
    for (size_t i = 0; i < r->n; i++)
        rows[pos[shard_of_user[r->user[i]]]++] = (uint32_t)i;
    free(pos);
    *rows_out = rows;
    return TRIB_OK;
}

static void gather_rows(const trib_ratings_t *r, const uint32_t *rows, size_t n, trib_ratings_t *out)
{
    for (size_t j = 0; j < n; j++) {
        uint32_t i = rows[j];
        out->user[j] = r->user[i];
        out->item[j] = r->item[i];
        out->rating[j] = r->rating[i];
        if (r->timestamp)
            out->timestamp[j] = r->timestamp[i];
    }
    out->n = n;
}

/* Shard sizes; *rows (hash partitioning only) lists the rows of shard 0, then shard 1, ... */
static int assign_shards(const trib_ratings_t *r, const uint64_t *user_counts, uint64_t n_users, uint32_t n_shards,
                         trib_partition_t partition, uint64_t *shard_counts, uint32_t **rows)
{
    uint32_t *shard_of_user = malloc((n_users ? n_users : 1) * sizeof *shard_of_user);
    if (!shard_of_user)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory assigning shards");
    if (partition == TRIB_PARTITION_RANGE) {
        uint32_t *first = malloc(((size_t)n_shards + 1) * sizeof *first);
        if (!first) {
            free(shard_of_user);
            return trib_errorf(TRIB_ERR_NOMEM, "out of memory assigning shards");
        }
        trib_range_cuts(user_counts, n_users, n_shards, first);
        for (uint32_t s = 0; s < n_shards; s++)
            for (uint64_t u = first[s]; u < first[s + 1]; u++)
                shard_of_user[u] = s;
        free(first);
    } else {
        for (uint64_t u = 0; u < n_users; u++)
            shard_of_user[u] = trib_hash_shard((uint32_t)u, n_shards);
    }
    int rc = TRIB_OK;
    *rows = NULL;
    if (partition == TRIB_PARTITION_RANGE || n_shards == 1) {
        memset(shard_counts, 0, n_shards * sizeof *shard_counts);
        for (size_t i = 0; i < r->n; i++) /* rows sorted by user: shards already contiguous */
            shard_counts[shard_of_user[r->user[i]]]++;
    } else {
        rc = rows_by_shard(r, shard_of_user, n_shards, shard_counts, rows);
    }
    free(shard_of_user);
    return rc;
}

int trib_write_dataset_dir(const char *dir, trib_ratings_t *r, uint64_t n_users, uint64_t n_items,
                           const trib_idmap_t *users, const trib_idmap_t *items, const trib_write_meta_t *meta,
                           const trib_data_write_opts_t *opts, uint32_t n_shards, trib_partition_t partition)
{
    if (n_shards == 0 || n_shards > 1000000)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "shard count %u out of range 1..1000000", n_shards);
    if (r->n == 0)
        return trib_errorf(TRIB_ERR_FORMAT, "no ratings to write");
    if (opts->compress_level < 0 || opts->compress_level > 9)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "compression level %d out of range 0..9", opts->compress_level);
    if (opts->compress_level > 0 && !trib_h5_deflate_available())
        return trib_errorf(TRIB_ERR_UNSUPPORTED, "this HDF5 library has no deflate filter");
    int rc = trib_ratings_sort(r, n_users, n_items);
    if (rc != TRIB_OK)
        return rc;
    rc = check_duplicates(r, users, items);
    if (rc != TRIB_OK)
        return rc;

    trib_idmap_t *own_users = NULL, *own_items = NULL;
    uint32_t *rows = NULL;
    trib_ratings_t scratch;
    trib_ratings_init(&scratch);
    uint64_t *user_counts = calloc(n_users ? n_users : 1, sizeof *user_counts);
    uint64_t *item_counts = calloc(n_items ? n_items : 1, sizeof *item_counts);
    uint64_t *shard_counts = calloc(n_shards, sizeof *shard_counts);
    uint64_t *shard_fps = calloc(n_shards, sizeof *shard_fps);
    trib_histogram_t hist;
    if (!users)
        users = own_users = trib_idmap_identity(n_users);
    if (!items)
        items = own_items = trib_idmap_identity(n_items);
    if (!user_counts || !item_counts || !shard_counts || !shard_fps || !users || !items) {
        rc = trib_errorf(TRIB_ERR_NOMEM, "out of memory writing a dataset");
        goto done;
    }
    if (trib_idmap_size(users) != n_users || trib_idmap_size(items) != n_items) {
        rc = trib_errorf(TRIB_ERR_INTERNAL, "id maps do not match the user/item counts");
        goto done;
    }
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < r->n; i++) {
        user_counts[r->user[i]]++;
        item_counts[r->item[i]]++;
        double v = r->rating[i];
        sum += v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    trib_histogram_build(r->rating, r->n, &hist);
    rc = assign_shards(r, user_counts, n_users, n_shards, partition, shard_counts, &rows);
    if (rc == TRIB_OK && rows) {
        uint64_t biggest = 0;
        for (uint32_t s = 0; s < n_shards; s++)
            biggest = shard_counts[s] > biggest ? shard_counts[s] : biggest;
        rc = trib_ratings_alloc(&scratch, biggest, r->timestamp != NULL);
    }
    if (rc != TRIB_OK)
        goto done;

    uint64_t idmap_fp = trib_hash64(trib_idmap_fingerprint(users), trib_idmap_fingerprint(items));
    size_t first = 0;
    for (uint32_t s = 0; s < n_shards && rc == TRIB_OK; s++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/shard-%05u.h5", dir, s);
        if (rows) {
            gather_rows(r, rows + first, shard_counts[s], &scratch);
            rc = trib_write_shard(path, &scratch, 0, shard_counts[s], s, n_shards, idmap_fp, opts->compress_level,
                                  &shard_fps[s]);
        } else {
            rc = trib_write_shard(path, r, first, shard_counts[s], s, n_shards, idmap_fp, opts->compress_level,
                                  &shard_fps[s]);
        }
        first += shard_counts[s];
        if (opts->progress)
            opts->progress(opts->progress_arg, "write", (double)(s + 1) / n_shards);
    }
    if (rc != TRIB_OK)
        goto done;

    trib_manifest_t m;
    memset(&m, 0, sizeof m);
    m.info.format_version = TRIB_DATA_FORMAT_VERSION;
    m.info.n_users = n_users;
    m.info.n_items = n_items;
    m.info.n_ratings = r->n;
    m.info.n_shards = n_shards;
    m.info.partition = partition;
    m.info.rating_min = lo;
    m.info.rating_max = hi;
    m.info.rating_mean = sum / (double)r->n;
    m.info.idmap_fingerprint = idmap_fp;
    m.info.fingerprint = trib_dataset_fingerprint(n_users, n_items, r->n, idmap_fp, shard_fps, n_shards);
    m.info.has_timestamp = r->timestamp != NULL;
    m.info.is_synthetic = meta->is_synthetic;
    m.info.noise_std = meta->noise_std;
    m.info.true_model_rmse = meta->true_model_rmse;
    snprintf(m.info.source, sizeof m.info.source, "%s", meta->source);
    m.users = users;
    m.items = items;
    m.user_counts = user_counts;
    m.item_counts = item_counts;
    m.shard_counts = shard_counts;
    m.shard_fps = shard_fps;
    m.hist = &hist;
    m.synth_seed = meta->synth_seed;
    m.synth_rank = meta->synth_rank;
    rc = trib_write_manifest(dir, &m);
done:
    free(rows);
    trib_ratings_free(&scratch);
    trib_idmap_free(own_users);
    trib_idmap_free(own_items);
    free(user_counts);
    free(item_counts);
    free(shard_counts);
    free(shard_fps);
    return rc;
}

int trib_data_write(const char *outdir, const trib_ratings_t *r, uint64_t n_users, uint64_t n_items,
                    const trib_data_write_opts_t *opts)
{
    trib_data_write_opts_t defaults = TRIB_DATA_WRITE_OPTS_INIT;
    if (!opts)
        opts = &defaults;
    if (!outdir || !r)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_data_write: NULL argument");
    if (n_users == 0 || n_users >= UINT32_MAX || n_items == 0 || n_items >= UINT32_MAX)
        return trib_errorf(TRIB_ERR_RANGE, "user/item counts must be in 1..2^32-2");
    trib_ratings_t copy;
    int rc = trib_ratings_alloc(&copy, r->n, r->timestamp != NULL);
    if (rc != TRIB_OK)
        return rc;
    for (size_t i = 0; i < r->n; i++) {
        if (r->user[i] >= n_users || r->item[i] >= n_items) {
            trib_ratings_free(&copy);
            return trib_errorf(TRIB_ERR_RANGE, "rating %zu: user %u / item %u beyond %" PRIu64 " users, %" PRIu64
                               " items", i, r->user[i], r->item[i], n_users, n_items);
        }
        if (!isfinite(r->rating[i])) {
            trib_ratings_free(&copy);
            return trib_errorf(TRIB_ERR_RANGE, "rating %zu is not finite", i);
        }
    }
    memcpy(copy.user, r->user, r->n * sizeof *r->user);
    memcpy(copy.item, r->item, r->n * sizeof *r->item);
    memcpy(copy.rating, r->rating, r->n * sizeof *r->rating);
    if (r->timestamp)
        memcpy(copy.timestamp, r->timestamp, r->n * sizeof *r->timestamp);
    char *tmp;
    rc = trib_outdir_begin(outdir, opts->force, &tmp);
    if (rc == TRIB_OK) {
        trib_write_meta_t meta = {"memory", 0, NAN, NAN, 0, 0};
        rc = trib_write_dataset_dir(tmp, &copy, n_users, n_items, NULL, NULL, &meta, opts, opts->n_shards,
                                    opts->partition);
        rc = rc == TRIB_OK ? trib_outdir_commit(tmp, outdir, opts->force) : (trib_outdir_abort(tmp), rc);
    }
    trib_ratings_free(&copy);
    return rc;
}
