/*
 * dataset.c - opening a dataset: the manifest (facts, id maps, per-user /
 * per-item / per-shard counts, histogram) and the shard row reader.
 *
 * trib_dataset_open() checks what is cheap to check (format name and version,
 * array sizes, every shard file present).  trib_shard_read() checks that a
 * shard belongs to this dataset (index, shard count, row count, fingerprint and
 * id-map fingerprint attributes equal to the manifest's) before reading rows,
 * so a shard copied in from another dataset is refused, not silently mixed in.
 */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/internal.h"

static int read_info(trib_hid_t f, const char *path, trib_dataset_info_t *in)
{
    char fmt[64] = "";
    int rc = trib_h5_attr_read_str(f, path, "format", fmt, sizeof fmt);
    if (rc != TRIB_OK || strcmp(fmt, TRIB_MANIFEST_FORMAT) != 0)
        return trib_errorf(TRIB_ERR_FORMAT, "%s: not a Tributary dataset manifest (format attribute '%s')", path,
                           fmt);
    uint64_t v;
    if (trib_h5_attr_read_u64(f, path, "format_version", &v) != TRIB_OK)
        return trib_errorf(TRIB_ERR_FORMAT, "%s: format_version attribute missing", path);
    if (v != TRIB_DATA_FORMAT_VERSION)
        return trib_errorf(TRIB_ERR_INCOMPATIBLE, "%s: format version %" PRIu64 ", this library reads version %d",
                           path, v, TRIB_DATA_FORMAT_VERSION);
    in->format_version = (uint32_t)v;
    struct {
        const char *name;
        uint64_t *dst;
    } req[] = {{"n_users", &in->n_users},
               {"n_items", &in->n_items},
               {"n_ratings", &in->n_ratings},
               {"fingerprint", &in->fingerprint},
               {"idmap_fingerprint", &in->idmap_fingerprint}};
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        if (trib_h5_attr_read_u64(f, path, req[i].name, req[i].dst) != TRIB_OK)
            return trib_errorf(TRIB_ERR_FORMAT, "%s: attribute '%s' missing or not an integer (wrong schema)", path,
                               req[i].name);
    }
    if (trib_h5_attr_read_u64(f, path, "n_shards", &v) != TRIB_OK || v == 0 || v > 1000000)
        return trib_errorf(TRIB_ERR_FORMAT, "%s: attribute 'n_shards' missing or out of range", path);
    in->n_shards = (uint32_t)v;
    if (in->n_users >= UINT32_MAX || in->n_items >= UINT32_MAX)
        return trib_errorf(TRIB_ERR_FORMAT, "%s: n_users/n_items beyond the uint32 id space", path);
    in->has_timestamp = trib_h5_attr_read_u64(f, path, "has_timestamp", &v) == TRIB_OK && v;
    in->is_synthetic = trib_h5_attr_read_u64(f, path, "is_synthetic", &v) == TRIB_OK && v;
    char part[16] = "hash";
    trib_h5_attr_read_str(f, path, "partition", part, sizeof part);
    if (trib_partition_parse(part, &in->partition) != TRIB_OK)
        in->partition = TRIB_PARTITION_HASH; /* as before: anything else reads as hash */
    trib_h5_attr_read_str(f, path, "source", in->source, sizeof in->source);
    if (trib_h5_attr_read_f64(f, path, "rating_min", &in->rating_min) != TRIB_OK ||
        trib_h5_attr_read_f64(f, path, "rating_max", &in->rating_max) != TRIB_OK ||
        trib_h5_attr_read_f64(f, path, "rating_mean", &in->rating_mean) != TRIB_OK)
        return trib_errorf(TRIB_ERR_FORMAT, "%s: rating_min/max/mean attributes missing", path);
    in->noise_std = in->true_model_rmse = NAN;
    if (in->is_synthetic) {
        trib_h5_attr_read_f64(f, path, "noise_std", &in->noise_std);
        trib_h5_attr_read_f64(f, path, "true_model_rmse", &in->true_model_rmse);
    }
    return TRIB_OK;
}

static int read_histogram(trib_hid_t f, const char *path, trib_histogram_t *h)
{
    uint64_t n;
    int rc = trib_h5_size_1d(f, path, "rating_hist_count", TRIB_H5_U64, &n);
    if (rc != TRIB_OK)
        return rc;
    if (n > 32)
        return trib_errorf(TRIB_ERR_FORMAT, "%s: histogram has %" PRIu64 " bins (max 32)", path, n);
    h->n_bins = n;
    rc = trib_h5_read_all_1d(f, path, "rating_hist_lo", TRIB_H5_F64, n, h->lo);
    if (rc == TRIB_OK)
        rc = trib_h5_read_all_1d(f, path, "rating_hist_hi", TRIB_H5_F64, n, h->hi);
    if (rc == TRIB_OK)
        rc = trib_h5_read_all_1d(f, path, "rating_hist_count", TRIB_H5_U64, n, h->count);
    return rc;
}

static int read_arrays(trib_hid_t f, const char *path, trib_dataset_t *ds)
{
    const trib_dataset_info_t *in = &ds->info;
    ds->user_counts = malloc((in->n_users ? in->n_users : 1) * sizeof(uint64_t));
    ds->item_counts = malloc((in->n_items ? in->n_items : 1) * sizeof(uint64_t));
    ds->shard_counts = malloc(in->n_shards * sizeof(uint64_t));
    ds->shard_fps = malloc(in->n_shards * sizeof(uint64_t));
    ds->shard_first_row = malloc((in->n_shards + 1) * sizeof(uint64_t));
    if (!ds->user_counts || !ds->item_counts || !ds->shard_counts || !ds->shard_fps || !ds->shard_first_row)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory opening %s", path);
    int rc = trib_idmap_h5_read(f, path, "user_ids", in->n_users, &ds->users);
    if (rc == TRIB_OK)
        rc = trib_idmap_h5_read(f, path, "item_ids", in->n_items, &ds->items);
    if (rc == TRIB_OK)
        rc = trib_h5_read_all_1d(f, path, "user_counts", TRIB_H5_U64, in->n_users, ds->user_counts);
    if (rc == TRIB_OK)
        rc = trib_h5_read_all_1d(f, path, "item_counts", TRIB_H5_U64, in->n_items, ds->item_counts);
    if (rc == TRIB_OK)
        rc = trib_h5_read_all_1d(f, path, "shard_counts", TRIB_H5_U64, in->n_shards, ds->shard_counts);
    if (rc == TRIB_OK)
        rc = trib_h5_read_all_1d(f, path, "shard_fingerprints", TRIB_H5_U64, in->n_shards, ds->shard_fps);
    if (rc == TRIB_OK)
        rc = read_histogram(f, path, &ds->hist);
    if (rc != TRIB_OK)
        return rc;
    ds->shard_first_row[0] = 0;
    for (uint32_t s = 0; s < in->n_shards; s++)
        ds->shard_first_row[s + 1] = ds->shard_first_row[s] + ds->shard_counts[s];
    if (ds->shard_first_row[in->n_shards] != in->n_ratings)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: shard counts add up to %" PRIu64 ", n_ratings is %" PRIu64, path,
                           ds->shard_first_row[in->n_shards], in->n_ratings);
    return TRIB_OK;
}

int trib_dataset_open(const char *dir, trib_dataset_t **out)
{
    if (!dir || !out)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_dataset_open: NULL argument");
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return trib_errorf(TRIB_ERR_NOT_FOUND, "%s: no such dataset directory", dir);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, TRIB_MANIFEST_NAME);
    if (access(path, F_OK) != 0)
        return trib_errorf(TRIB_ERR_NOT_FOUND, "%s: no %s (not a dataset directory)", dir, TRIB_MANIFEST_NAME);
    trib_dataset_t *ds = calloc(1, sizeof *ds);
    if (!ds || !(ds->dir = strdup(dir))) {
        free(ds);
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory opening %s", dir);
    }
    trib_hid_t f;
    int rc = trib_h5_open_file(path, &f);
    if (rc == TRIB_OK) {
        rc = read_info(f, path, &ds->info);
        if (rc == TRIB_OK)
            rc = read_arrays(f, path, ds);
        trib_h5_close_file(f, path);
    }
    for (uint32_t s = 0; rc == TRIB_OK && s < ds->info.n_shards; s++) {
        char sp[PATH_MAX];
        trib_dataset_shard_path(ds, s, sp, sizeof sp);
        if (access(sp, R_OK) != 0)
            rc = trib_errorf(TRIB_ERR_NOT_FOUND, "%s: shard file missing (dataset has %u shards)", sp,
                             ds->info.n_shards);
    }
    if (rc != TRIB_OK) {
        trib_dataset_close(ds);
        return rc;
    }
    *out = ds;
    return TRIB_OK;
}

void trib_dataset_close(trib_dataset_t *ds)
{
    if (!ds)
        return;
    free(ds->dir);
    trib_idmap_free(ds->users);
    trib_idmap_free(ds->items);
    free(ds->user_counts);
    free(ds->item_counts);
    free(ds->shard_counts);
    free(ds->shard_fps);
    free(ds->shard_first_row);
    free(ds);
}

const trib_dataset_info_t *trib_dataset_info(const trib_dataset_t *ds) { return &ds->info; }
const char *trib_dataset_dir(const trib_dataset_t *ds) { return ds->dir; }
const trib_idmap_t *trib_dataset_users(const trib_dataset_t *ds) { return ds->users; }
const trib_idmap_t *trib_dataset_items(const trib_dataset_t *ds) { return ds->items; }
const uint64_t *trib_dataset_user_counts(const trib_dataset_t *ds) { return ds->user_counts; }
const uint64_t *trib_dataset_item_counts(const trib_dataset_t *ds) { return ds->item_counts; }
const uint64_t *trib_dataset_shard_counts(const trib_dataset_t *ds) { return ds->shard_counts; }

int trib_dataset_histogram(const trib_dataset_t *ds, trib_histogram_t *out)
{
    *out = ds->hist;
    return TRIB_OK;
}

int trib_dataset_shard_path(const trib_dataset_t *ds, uint32_t s, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/shard-%05u.h5", ds->dir, s);
    if (n < 0 || (size_t)n >= cap)
        return trib_errorf(TRIB_ERR_RANGE, "shard path too long");
    return TRIB_OK;
}

static int check_shard_attrs(trib_hid_t f, const char *path, const trib_dataset_t *ds, uint32_t s)
{
    char fmt[64] = "";
    trib_h5_attr_read_str(f, path, "format", fmt, sizeof fmt);
    if (strcmp(fmt, TRIB_SHARD_FORMAT) != 0)
        return trib_errorf(TRIB_ERR_FORMAT, "%s: not a Tributary shard (format attribute '%s')", path, fmt);
    uint64_t ver = 0, idx = 0, nsh = 0, nr = 0, fp = 0, ifp = 0;
    if (trib_h5_attr_read_u64(f, path, "format_version", &ver) != TRIB_OK)
        return trib_errorf(TRIB_ERR_FORMAT, "%s: format_version attribute missing", path);
    if (ver != TRIB_DATA_FORMAT_VERSION)
        return trib_errorf(TRIB_ERR_INCOMPATIBLE, "%s: format version %" PRIu64 ", this library reads version %d",
                           path, ver, TRIB_DATA_FORMAT_VERSION);
    if (trib_h5_attr_read_u64(f, path, "shard_index", &idx) != TRIB_OK ||
        trib_h5_attr_read_u64(f, path, "n_shards", &nsh) != TRIB_OK ||
        trib_h5_attr_read_u64(f, path, "n_ratings", &nr) != TRIB_OK ||
        trib_h5_attr_read_u64(f, path, "fingerprint", &fp) != TRIB_OK ||
        trib_h5_attr_read_u64(f, path, "idmap_fingerprint", &ifp) != TRIB_OK)
        return trib_errorf(TRIB_ERR_FORMAT, "%s: shard attributes missing (wrong schema)", path);
    if (idx != s || nsh != ds->info.n_shards || nr != ds->shard_counts[s] || fp != ds->shard_fps[s] ||
        ifp != ds->info.idmap_fingerprint)
        return trib_errorf(TRIB_ERR_MISMATCH,
                           "%s: shard of another dataset (index %" PRIu64 "/%" PRIu64 ", %" PRIu64
                           " ratings, fingerprint %016" PRIx64 "; manifest expects shard %u/%u, %" PRIu64
                           " ratings, fingerprint %016" PRIx64 ")",
                           path, idx, nsh, nr, fp, s, ds->info.n_shards, ds->shard_counts[s], ds->shard_fps[s]);
    return TRIB_OK;
}

int trib_shard_read(const trib_dataset_t *ds, uint32_t s, uint64_t first, uint64_t count, int with_ts,
                    trib_ratings_t *out, size_t off)
{
    char path[PATH_MAX];
    int rc = trib_dataset_shard_path(ds, s, path, sizeof path);
    if (rc != TRIB_OK)
        return rc;
    trib_hid_t f;
    rc = trib_h5_open_file(path, &f);
    if (rc != TRIB_OK)
        return rc;
    rc = check_shard_attrs(f, path, ds, s);
    if (rc == TRIB_OK)
        rc = trib_h5_read_1d(f, path, "user", TRIB_H5_U32, first, count, out->user + off);
    if (rc == TRIB_OK)
        rc = trib_h5_read_1d(f, path, "item", TRIB_H5_U32, first, count, out->item + off);
    if (rc == TRIB_OK)
        rc = trib_h5_read_1d(f, path, "rating", TRIB_H5_F32, first, count, out->rating + off);
    if (rc == TRIB_OK && with_ts && out->timestamp)
        rc = trib_h5_read_1d(f, path, "timestamp", TRIB_H5_I64, first, count, out->timestamp + off);
    /* Row counts of every column must equal the attribute (a truncated column is corruption). */
    const char *cols[] = {"user", "item", "rating", "timestamp"};
    const trib_h5_type_t types[] = {TRIB_H5_U32, TRIB_H5_U32, TRIB_H5_F32, TRIB_H5_I64};
    for (int c = 0; rc == TRIB_OK && c < (ds->info.has_timestamp ? 4 : 3); c++) {
        uint64_t n;
        rc = trib_h5_size_1d(f, path, cols[c], types[c], &n);
        if (rc == TRIB_OK && n != ds->shard_counts[s])
            rc = trib_errorf(TRIB_ERR_CORRUPT, "%s: column '%s' has %" PRIu64 " rows, shard has %" PRIu64, path,
                             cols[c], n, ds->shard_counts[s]);
    }
    trib_h5_close_file(f, path);
    return rc;
}

int trib_dataset_read_rows(const trib_dataset_t *ds, uint32_t s, uint64_t first, uint64_t count,
                           int with_timestamp, trib_ratings_t *out)
{
    if (s >= ds->info.n_shards || first > ds->shard_counts[s] || count > ds->shard_counts[s] - first)
        return trib_errorf(TRIB_ERR_RANGE, "rows %" PRIu64 "+%" PRIu64 " of shard %u out of range", first, count, s);
    int ts = with_timestamp && ds->info.has_timestamp;
    int rc = trib_ratings_alloc(out, count, ts);
    if (rc != TRIB_OK)
        return rc;
    rc = trib_shard_read(ds, s, first, count, ts, out, 0);
    if (rc != TRIB_OK)
        trib_ratings_free(out);
    return rc;
}

int trib_data_read_all(const char *dir, trib_ratings_t *out)
{
    trib_dataset_t *ds;
    int rc = trib_dataset_open(dir, &ds);
    if (rc != TRIB_OK)
        return rc;
    rc = trib_ratings_alloc(out, ds->info.n_ratings, ds->info.has_timestamp);
    for (uint32_t s = 0; rc == TRIB_OK && s < ds->info.n_shards; s++)
        rc = trib_shard_read(ds, s, 0, ds->shard_counts[s], 1, out, ds->shard_first_row[s]);
    if (rc != TRIB_OK)
        trib_ratings_free(out);
    trib_dataset_close(ds);
    return rc;
}
