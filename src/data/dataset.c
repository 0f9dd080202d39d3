/*
 * dataset.c - opening a dataset: the manifest (facts, id maps, per-user /
 * per-item / per-shard counts, histogram) and the shard row reader.
 *
 * trib_dataset_open() checks what is cheap to check (format name and version,
 * array sizes, every shard file present) and the manifest against itself
 * (counts adding up to n_ratings, rating range, id-map and dataset fingerprints).
 * trib_shard_read() checks that a shard belongs to this dataset (index, shard
 * count, row count, fingerprint and id-map fingerprint attributes equal to the
 * manifest's) before reading rows, so a shard copied in from another dataset is
 * refused, not silently mixed in; then the rows it read (ids, rating range) and
 * their content fingerprint (whole shards at once, parts through a tally the
 * caller sums), with the counts per user and item (FORMAT.md, "Checks on every
 * read").
 */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rng.h"
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

/* Every count at most n_ratings and the counts adding up to n_ratings (no wrap-around possible then). */
static int check_count_sum(const char *path, const char *name, const uint64_t *c, uint64_t n, uint64_t n_ratings)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (c[i] > n_ratings)
            return trib_errorf(TRIB_ERR_CORRUPT, "%s: %s[%" PRIu64 "] = %" PRIu64 " exceeds n_ratings %" PRIu64
                               " (corrupt manifest)", path, name, i, c[i], n_ratings);
        sum += c[i];
        if (sum > n_ratings)
            break;
    }
    if (sum != n_ratings)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: %s add up to %s%" PRIu64 ", n_ratings is %" PRIu64
                           " (corrupt manifest)", path, name, sum > n_ratings ? "more than " : "", sum, n_ratings);
    return TRIB_OK;
}

/*
 * What the manifest says about itself, checked at every open (cost: one pass over the counts and the ids):
 * user / item / histogram counts add up to n_ratings, a sane rating range, the id maps and the shard
 * fingerprints hash to the recorded id-map and dataset fingerprints.
 */
static int check_manifest(const char *path, const trib_dataset_t *ds)
{
    const trib_dataset_info_t *in = &ds->info;
    int rc = check_count_sum(path, "user_counts", ds->user_counts, in->n_users, in->n_ratings);
    if (rc == TRIB_OK)
        rc = check_count_sum(path, "item_counts", ds->item_counts, in->n_items, in->n_ratings);
    if (rc == TRIB_OK)
        rc = check_count_sum(path, "rating_hist_count", ds->hist.count, ds->hist.n_bins, in->n_ratings);
    if (rc != TRIB_OK)
        return rc;
    if (in->n_ratings &&
        !(isfinite(in->rating_min) && isfinite(in->rating_max) && in->rating_min <= in->rating_max &&
          isfinite(in->rating_mean)))
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: rating_min/max/mean %g / %g / %g are not a valid range "
                           "(corrupt manifest)", path, in->rating_min, in->rating_max, in->rating_mean);
    uint64_t ifp = trib_hash64(trib_idmap_fingerprint(ds->users), trib_idmap_fingerprint(ds->items));
    if (ifp != in->idmap_fingerprint)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: user_ids/item_ids do not match idmap_fingerprint (corrupt "
                           "manifest)", path);
    uint64_t fp = trib_dataset_fingerprint(in->n_users, in->n_items, in->n_ratings, ifp, ds->shard_fps,
                                           in->n_shards);
    if (fp != in->fingerprint)
        return trib_errorf(TRIB_ERR_CORRUPT, "%s: counts or shard_fingerprints do not match the dataset "
                           "fingerprint (corrupt manifest)", path);
    return TRIB_OK;
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
    return check_manifest(path, ds);
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

int trib_data_verify_enabled(void)
{
    static int cached = -1;
    if (cached < 0) {
        const char *env = getenv("TRIB_DATA_VERIFY");
        cached = !(env && strcmp(env, "0") == 0);
    }
    return cached;
}

int trib_read_tally_init(trib_read_tally_t *t, const trib_dataset_t *ds, int with_users)
{
    const trib_dataset_info_t *in = &ds->info;
    t->len = (size_t)in->n_shards + in->n_items + (with_users ? in->n_users : 0);
    t->all = calloc(t->len ? t->len : 1, sizeof *t->all);
    if (!t->all)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory checking %s (%zu counters)", ds->dir, t->len);
    t->fp_sum = t->all;
    t->items = t->fp_sum + in->n_shards;
    t->users = with_users ? t->items + in->n_items : NULL;
    return TRIB_OK;
}

void trib_read_tally_free(trib_read_tally_t *t)
{
    free(t->all);
    memset(t, 0, sizeof *t);
}

static int fp_mismatch(const trib_dataset_t *ds, uint32_t s, uint64_t got)
{
    char path[PATH_MAX];
    trib_dataset_shard_path(ds, s, path, sizeof path);
    return trib_errorf(TRIB_ERR_CORRUPT,
                       "%s: the ratings read do not match the shard's fingerprint (content %016" PRIx64
                       ", manifest %016" PRIx64 "): the file is corrupt",
                       path, got, ds->shard_fps[s]);
}

/* got[i - first] against the manifest's user (item == 0) or item (item == 1) counts of [first, end). */
static int check_counts(const trib_dataset_t *ds, int item, const uint64_t *got, uint64_t first, uint64_t end)
{
    const uint64_t *want = item ? ds->item_counts : ds->user_counts;
    for (uint64_t i = first; i < end; i++)
        if (want[i] != got[i - first])
            return trib_errorf(TRIB_ERR_CORRUPT,
                               "%s/%s: %s[%" PRIu64 "] = %" PRIu64 " but the shards hold %" PRIu64
                               " ratings of that %s (corrupt manifest)",
                               ds->dir, TRIB_MANIFEST_NAME, item ? "item_counts" : "user_counts", i, want[i],
                               got[i - first], item ? "item" : "user");
    return TRIB_OK;
}

int trib_dataset_check_user_counts(const trib_dataset_t *ds, const uint64_t *users, uint64_t first, uint64_t end)
{
    return check_counts(ds, 0, users, first, end);
}

int trib_dataset_check_counts(const trib_dataset_t *ds, const uint64_t *users, const uint64_t *items)
{
    int rc = check_counts(ds, 0, users, 0, ds->info.n_users);
    return rc == TRIB_OK ? check_counts(ds, 1, items, 0, ds->info.n_items) : rc;
}

int trib_read_tally_check(const trib_dataset_t *ds, const trib_read_tally_t *t, int check_fp)
{
    for (uint32_t s = 0; check_fp && s < ds->info.n_shards; s++) {
        uint64_t fp = trib_hash64(t->fp_sum[s], ds->shard_counts[s]);
        if (fp != ds->shard_fps[s])
            return fp_mismatch(ds, s, fp);
    }
    int rc = check_counts(ds, 1, t->items, 0, ds->info.n_items);
    if (rc == TRIB_OK && t->users)
        rc = check_counts(ds, 0, t->users, 0, ds->info.n_users);
    return rc;
}

/* Ids and ratings of rows [0, count) of out (at off) within what the manifest allows. */
static int check_rows(const trib_dataset_t *ds, const char *path, const trib_ratings_t *out, size_t off,
                      uint64_t first, uint64_t count)
{
    const trib_dataset_info_t *in = &ds->info;
    const uint32_t *u = out->user + off, *it = out->item + off;
    const float *r = out->rating + off;
    uint32_t bad = 0;
    for (uint64_t i = 0; i < count; i++) /* branch-free scan; the message is made only on a failure */
        bad |= (u[i] >= in->n_users) | (it[i] >= in->n_items) | !(r[i] >= in->rating_min && r[i] <= in->rating_max);
    for (uint64_t i = 0; bad && i < count; i++) {
        if (u[i] >= in->n_users || it[i] >= in->n_items)
            return trib_errorf(TRIB_ERR_CORRUPT, "%s: row %" PRIu64 ": user %u / item %u beyond the manifest's %" PRIu64
                               " users, %" PRIu64 " items (corrupt shard)", path, first + i, u[i], it[i],
                               in->n_users, in->n_items);
        if (!(r[i] >= in->rating_min && r[i] <= in->rating_max))
            return trib_errorf(TRIB_ERR_CORRUPT, "%s: row %" PRIu64 ": rating %g outside the manifest's range "
                               "[%g, %g] (corrupt shard)", path, first + i, (double)r[i], in->rating_min,
                               in->rating_max);
    }
    return TRIB_OK;
}

/* The fingerprint sum of the rows just read; reads the timestamp column in pieces when it was not read. */
static int rows_fp_sum(trib_hid_t f, const char *path, const trib_dataset_t *ds, const trib_ratings_t *out,
                       size_t off, uint64_t first, uint64_t count, int ts_read, uint64_t *sum)
{
    if (!ds->info.has_timestamp || ts_read) {
        *sum = trib_fp_rows(out->user + off, out->item + off, out->rating + off,
                            ts_read ? out->timestamp + off : NULL, count, first);
        return TRIB_OK;
    }
    /* Pieces of 8 HDF5 chunks (FORMAT.md: 262,144 rows): a piece smaller than a chunk read the same chunk
     * again for each piece (a 2 MB timestamp chunk is above HDF5's default 1 MB chunk cache); 16 MB of buffer. */
    enum { PIECE = 1 << 21 };
    int64_t *ts = malloc((count < PIECE ? (count ? count : 1) : PIECE) * sizeof *ts);
    if (!ts)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory checking %s", path);
    int rc = TRIB_OK;
    *sum = 0;
    for (uint64_t a = 0; rc == TRIB_OK && a < count; a += PIECE) {
        uint64_t n = count - a < PIECE ? count - a : PIECE;
        rc = trib_h5_read_1d(f, path, "timestamp", TRIB_H5_I64, first + a, n, ts);
        if (rc == TRIB_OK)
            *sum += trib_fp_rows(out->user + off + a, out->item + off + a, out->rating + off + a, ts, n,
                                 first + a);
    }
    free(ts);
    return rc;
}

int trib_shard_read(const trib_dataset_t *ds, uint32_t s, uint64_t first, uint64_t count, int with_ts,
                    trib_ratings_t *out, size_t off, trib_read_tally_t *tally)
{
    char path[PATH_MAX];
    int rc = trib_dataset_shard_path(ds, s, path, sizeof path);
    if (rc != TRIB_OK)
        return rc;
    trib_hid_t f;
    rc = trib_h5_open_file(path, &f);
    if (rc != TRIB_OK)
        return rc;
    int ts_read = with_ts && out->timestamp && ds->info.has_timestamp;
    rc = check_shard_attrs(f, path, ds, s);
    if (rc == TRIB_OK)
        rc = trib_h5_read_1d(f, path, "user", TRIB_H5_U32, first, count, out->user + off);
    if (rc == TRIB_OK)
        rc = trib_h5_read_1d(f, path, "item", TRIB_H5_U32, first, count, out->item + off);
    if (rc == TRIB_OK)
        rc = trib_h5_read_1d(f, path, "rating", TRIB_H5_F32, first, count, out->rating + off);
    if (rc == TRIB_OK && ts_read)
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
    if (rc == TRIB_OK)
        rc = check_rows(ds, path, out, off, first, count);
    int whole = first == 0 && count == ds->shard_counts[s];
    if (rc == TRIB_OK && trib_data_verify_enabled() && (tally || whole)) {
        uint64_t sum = 0;
        rc = rows_fp_sum(f, path, ds, out, off, first, count, ts_read, &sum);
        if (rc == TRIB_OK && tally) {
            tally->fp_sum[s] += sum;
            for (uint64_t i = 0; i < count; i++)
                tally->items[out->item[off + i]]++;
            for (uint64_t i = 0; tally->users && i < count; i++)
                tally->users[out->user[off + i]]++;
        } else if (rc == TRIB_OK && trib_hash64(sum, count) != ds->shard_fps[s]) {
            rc = fp_mismatch(ds, s, trib_hash64(sum, count));
        }
    }
    int crc = trib_h5_close_file(f, path);
    return rc != TRIB_OK ? rc : crc;
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
    rc = trib_shard_read(ds, s, first, count, ts, out, 0, NULL);
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
    trib_ratings_init(out);
    trib_read_tally_t tally = {0};
    int verify = trib_data_verify_enabled();
    if (verify)
        rc = trib_read_tally_init(&tally, ds, 1);
    if (rc == TRIB_OK)
        rc = trib_ratings_alloc(out, ds->info.n_ratings, ds->info.has_timestamp);
    for (uint32_t s = 0; rc == TRIB_OK && s < ds->info.n_shards; s++)
        rc = trib_shard_read(ds, s, 0, ds->shard_counts[s], 1, out, ds->shard_first_row[s], verify ? &tally : NULL);
    if (rc == TRIB_OK && verify)
        rc = trib_read_tally_check(ds, &tally, 1);
    if (rc != TRIB_OK)
        trib_ratings_free(out);
    trib_read_tally_free(&tally);
    trib_dataset_close(ds);
    return rc;
}
