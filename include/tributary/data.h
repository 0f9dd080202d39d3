/*
 * tributary/data.h - sharded HDF5 rating datasets: open, inspect, read in
 * parallel, convert from text, generate synthetic data, split.
 *
 * A dataset is a directory holding manifest.h5 (global facts and id maps)
 * and shard-NNNNN.h5 files (user, item, rating[, timestamp] columns).  The
 * layout is described in datasets/FORMAT.md, the single description of it.
 *
 * Ids: every user and item has a dense id 0..n-1 (uint32).  The original ids
 * (64-bit integers or, for csv input, strings) are kept in the id maps.  Dense
 * ids are assigned in ascending order of the original id, so the same set of
 * original ids always gives the same dense ids.
 *
 * Ownership: the trainer partitions work by user.  An owner map assigns every
 * dense user id to exactly one of P ranks: contiguous user ranges cut where the
 * cumulative rating count of the TRAIN set crosses r*N/P (see
 * trib_data_owner()).  The same owner map object is used to read the train set
 * and any test set that shares its id maps, so both give a rank the ratings of
 * the same users.
 *
 * Every function returns TRIB_OK or a negative TRIB_ERR_* code with a detail
 * message (trib_last_error()).  HDF5's own error printing is switched off by
 * this library; failures are reported as one message naming file and dataset.
 */
#ifndef TRIBUTARY_DATA_H
#define TRIBUTARY_DATA_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "tributary/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the on-disk layout written by this library (FORMAT.md). */
#define TRIB_DATA_FORMAT_VERSION 1

/* ------------------------------------------------------------- ratings */

/*
 * Ratings in memory as parallel arrays (dense ids).  `timestamp` is NULL when
 * the data has none.  Arrays are allocated by the library and released with
 * trib_ratings_free().
 */
typedef struct {
    size_t n;
    uint32_t *user;
    uint32_t *item;
    float *rating;
    int64_t *timestamp;
} trib_ratings_t;

/* Sets every field to zero/NULL (a valid empty set). */
TRIB_API void trib_ratings_init(trib_ratings_t *r);
/* Allocates room for n ratings (timestamps too when with_timestamp != 0); r->n = n. */
TRIB_API int trib_ratings_alloc(trib_ratings_t *r, size_t n, int with_timestamp);
TRIB_API void trib_ratings_free(trib_ratings_t *r);
/* Sorts by (user, item), stable; O(n + users + items) counting sorts. */
TRIB_API int trib_ratings_sort(trib_ratings_t *r, uint64_t n_users, uint64_t n_items);

/* ------------------------------------------------------------- id maps */

typedef enum { TRIB_IDS_INT64 = 0, TRIB_IDS_STRING = 1 } trib_id_kind_t;

/* dense id <-> original id, for users or for items (opaque, read-only for callers). */
typedef struct trib_idmap trib_idmap_t;

TRIB_API size_t trib_idmap_size(const trib_idmap_t *m);
TRIB_API trib_id_kind_t trib_idmap_kind(const trib_idmap_t *m);
/* Original integer id of a dense id (int64 maps only). */
TRIB_API int64_t trib_idmap_int(const trib_idmap_t *m, uint32_t dense);
/* Original id as text (works for both kinds); returns the length written or a negative status. */
TRIB_API int trib_idmap_format(const trib_idmap_t *m, uint32_t dense, char *buf, size_t cap);
/* Dense id of an original id given as text; TRIB_ERR_NOT_FOUND when absent. */
TRIB_API int trib_idmap_lookup_text(const trib_idmap_t *m, const char *text, size_t len, uint32_t *dense);
TRIB_API int trib_idmap_lookup_int(const trib_idmap_t *m, int64_t original, uint32_t *dense);

/* ------------------------------------------------------------- datasets */

typedef enum { TRIB_PARTITION_HASH = 0, TRIB_PARTITION_RANGE = 1 } trib_partition_t;

/* "hash" | "range", and back (TRIB_ERR_INVALID_ARG naming the choices). */
TRIB_API const char *trib_partition_name(trib_partition_t p);
TRIB_API int trib_partition_parse(const char *name, trib_partition_t *out);

/* Global facts from a manifest. */
typedef struct {
    uint32_t format_version;
    uint64_t n_users, n_items, n_ratings;
    uint32_t n_shards;
    trib_partition_t partition;
    double rating_min, rating_max, rating_mean; /* 0 when n_ratings == 0 */
    uint64_t fingerprint;       /* content fingerprint of the whole dataset */
    uint64_t idmap_fingerprint; /* fingerprint of the two id maps (equal for train/test of one split) */
    int has_timestamp;
    int is_synthetic;
    double noise_std;       /* synthetic only, NAN otherwise */
    double true_model_rmse; /* synthetic only, NAN otherwise: RMSE of the planted model on these ratings */
    char source[64];        /* e.g. "synth", "convert:movielens-100k", "split:test" */
} trib_dataset_info_t;

typedef struct trib_dataset trib_dataset_t;

/* Opens DIR/manifest.h5 and checks format, version, that every shard file exists and the manifest against
 * itself (counts adding up, rating range, id-map and dataset fingerprints): TRIB_ERR_CORRUPT naming the entry. */
TRIB_API int trib_dataset_open(const char *dir, trib_dataset_t **out);
TRIB_API void trib_dataset_close(trib_dataset_t *ds);
TRIB_API const trib_dataset_info_t *trib_dataset_info(const trib_dataset_t *ds);
TRIB_API const char *trib_dataset_dir(const trib_dataset_t *ds);
TRIB_API const trib_idmap_t *trib_dataset_users(const trib_dataset_t *ds);
TRIB_API const trib_idmap_t *trib_dataset_items(const trib_dataset_t *ds);
/* Ratings per dense user / item / shard (n_users, n_items, n_shards entries). */
TRIB_API const uint64_t *trib_dataset_user_counts(const trib_dataset_t *ds);
TRIB_API const uint64_t *trib_dataset_item_counts(const trib_dataset_t *ds);
TRIB_API const uint64_t *trib_dataset_shard_counts(const trib_dataset_t *ds);
/* Path of shard s ("DIR/shard-00003.h5"). */
TRIB_API int trib_dataset_shard_path(const trib_dataset_t *ds, uint32_t s, char *buf, size_t cap);
/* Reads rows [first, first+count) of shard s (serial, no MPI); ids and ratings are checked against the
 * manifest, and a whole shard against its fingerprint (TRIB_ERR_CORRUPT naming the shard file). */
TRIB_API int trib_dataset_read_rows(const trib_dataset_t *ds, uint32_t s, uint64_t first, uint64_t count,
                                    int with_timestamp, trib_ratings_t *out);
/* Reads every rating of the dataset on the calling process (no MPI), in shard order, checked against the
 * shard fingerprints and the manifest's counts (datasets/FORMAT.md, "Checks on every read"). */
TRIB_API int trib_data_read_all(const char *dir, trib_ratings_t *out);

/* Rating histogram stored in the manifest: exact values when there are at most
 * 32 distinct ones (lo == hi), otherwise 20 equal-width bins [lo, hi). */
typedef struct {
    size_t n_bins;
    double lo[32], hi[32];
    uint64_t count[32];
} trib_histogram_t;
TRIB_API int trib_dataset_histogram(const trib_dataset_t *ds, trib_histogram_t *out);

/* Full check: every shard present and of this dataset, ids in range, counts,
 * histogram, partition and fingerprints recomputed.  TRIB_OK or the first problem. */
TRIB_API int trib_dataset_verify(const trib_dataset_t *ds);

/* ------------------------------------------------------------- ownership */

/*
 * trib_data_owner(map, u) = the rank r with first[r] <= u < first[r+1], where
 * first[0] = 0, first[P] = n_users and first[r] (0 < r < P) is where the
 * cumulative count comes closest to r*N/P: with C(u) = ratings of users < u in
 * the TRAIN set and N = all train ratings, u is the largest user with
 * P*C(u) <= r*N, replaced by u+1 when P*C(u+1) - r*N < r*N - P*C(u).  Ranks own
 * contiguous user ranges, so a rank's user factors are one block; the load of
 * a rank differs from N/P by at most one user's rating count.  (A hash of the
 * user id balances users, not ratings: on power-law data it is several times
 * less even; see benchmarks/RESULTS.md.)
 */
typedef struct trib_owner_map trib_owner_map_t;

/* From per-user rating counts; idmap_fingerprint ties the map to one id space (0: any). */
TRIB_API int trib_data_owner_map_create(const uint64_t *user_counts, uint64_t n_users, int nparts,
                                        uint64_t idmap_fingerprint, trib_owner_map_t **out);
/* From the user counts stored in a (train) dataset's manifest. */
TRIB_API int trib_data_owner_map_from_dataset(const trib_dataset_t *train, int nparts, trib_owner_map_t **out);
TRIB_API void trib_data_owner_map_destroy(trib_owner_map_t *m);
/* Owner rank of a dense user id (u < n_users). */
TRIB_API int trib_data_owner(const trib_owner_map_t *m, uint32_t user);
/* Users owned by `rank`: [*first, *end). */
TRIB_API void trib_data_owner_range(const trib_owner_map_t *m, int rank, uint32_t *first, uint32_t *end);
TRIB_API int trib_data_owner_map_nparts(const trib_owner_map_t *m);
TRIB_API uint64_t trib_data_owner_map_n_users(const trib_owner_map_t *m);
/* Ratings owned by `rank` (from the counts the map was built from). */
TRIB_API uint64_t trib_data_owner_load(const trib_owner_map_t *m, int rank);
/* max load / mean load (1.0 = perfect balance; 0 when there are no ratings). */
TRIB_API double trib_data_owner_imbalance(const trib_owner_map_t *m);

/* ------------------------------------------------------------- parallel read */

typedef struct {
    int with_timestamp;            /* read timestamps when the dataset has them (default 1) */
    int sort;                      /* sort the local result by (user, item) (default 0) */
    size_t max_records_per_round;  /* unused since each rank reads its own rows (nothing is routed);
                                      kept so that code setting it still compiles */
    size_t rows_per_chunk;         /* rows a rank reads and hands to the sink at a time; 0 = the default
                                      (2^21).  It sets the size of the parts, not the order */
} trib_data_read_opts_t;
#define TRIB_DATA_READ_OPTS_INIT {1, 0, 0, 0}

/*
 * Collective over comm (size P must equal the owner map's nparts).  Each rank
 * reads exactly the rows of its own users: a rank's users are one range of
 * dense ids and every shard is sorted by user, so those rows are one row range
 * per shard, located from the manifest's user_counts (and the partition rule)
 * without reading any other row; no rating crosses between ranks.  Rows are
 * read in chunks of opts->rows_per_chunk.  On return `out` holds exactly the
 * ratings of this rank's users, shard by shard in file order (by (user, item)
 * with opts->sort); the order depends only on the dataset and the owner map.
 * The dataset must share the owner map's id space (same idmap fingerprint).
 * The rows are checked as they are read (datasets/FORMAT.md, "Checks on every
 * read"): a damaged shard or manifest (a row of another rank's user where the
 * counts place this rank's rows, per-user counts that do not add up to a
 * shard's count, a fingerprint or count mismatch) is TRIB_ERR_CORRUPT on
 * every rank.  A failure on any rank makes every rank return an error.
 */
TRIB_API int trib_data_read_local(const char *dir, const trib_owner_map_t *owners, MPI_Comm comm,
                                  trib_ratings_t *out);
TRIB_API int trib_data_read_local_ex(const char *dir, const trib_owner_map_t *owners, MPI_Comm comm,
                                     const trib_data_read_opts_t *opts, trib_ratings_t *out);

/*
 * Where trib_data_read_local_each delivers a rank's ratings, so that a caller
 * that keeps them in its own layout never holds a second full copy.
 *   begin  once, before any part: the dataset's info, the number of ratings
 *          this rank will receive (checked at the end), whether parts carry
 *          timestamps;
 *   part   consecutive parts of this rank's ratings, in the order above; the
 *          arrays are the reader's and valid during the call only.
 * Either returns TRIB_OK or an error (message set with trib_errorf); an error
 * on any rank stops the read on every rank.
 */
typedef struct {
    void *ctx;
    int (*begin)(void *ctx, const trib_dataset_info_t *info, uint64_t n, int with_timestamp);
    int (*part)(void *ctx, const trib_ratings_t *part);
} trib_data_sink_t;
/* trib_data_read_local_ex, delivering to a sink (opts->sort does not apply).  Memory beyond the
 * sink's: one chunk (24 MB by default, 40 MB with timestamps), whatever the dataset's size. */
TRIB_API int trib_data_read_local_each(const char *dir, const trib_owner_map_t *owners, MPI_Comm comm,
                                       const trib_data_read_opts_t *opts, const trib_data_sink_t *sink);

/* ------------------------------------------------------------- writing */

/* Progress of a long operation: phase name and overall fraction done in [0, 1]. */
typedef void (*trib_data_progress_fn)(void *arg, const char *phase, double fraction);

typedef struct {
    uint32_t n_shards;          /* >= 1 (default 1) */
    trib_partition_t partition; /* default hash */
    int compress_level;         /* 0: none (default); 1..9: deflate + shuffle */
    int force;                  /* replace an existing dataset at the output path */
    trib_data_progress_fn progress;
    void *progress_arg;
} trib_data_write_opts_t;
#define TRIB_DATA_WRITE_OPTS_INIT {1, TRIB_PARTITION_HASH, 0, 0, NULL, NULL}

/* ------------------------------------------------------------- text input */

typedef enum {
    TRIB_TEXT_MOVIELENS_100K = 0, /* u.data: user \t item \t rating \t timestamp */
    TRIB_TEXT_MOVIELENS_DAT = 1,  /* ratings.dat: user::item::rating::timestamp */
    TRIB_TEXT_MOVIELENS_CSV = 2,  /* ratings.csv: header, then user,item,rating,timestamp */
    TRIB_TEXT_CSV = 3             /* user<d>item<d>rating[<d>timestamp], ids integers or strings */
} trib_text_format_t;

/* "movielens-100k" | "movielens-dat" | "movielens-csv" | "csv". */
TRIB_API int trib_text_format_parse(const char *name, trib_text_format_t *out);
TRIB_API const char *trib_text_format_name(trib_text_format_t f);

typedef struct {
    trib_text_format_t format;
    char delimiter;        /* csv only; 0 = ',' */
    int header;            /* csv only: skip the first line (movielens-csv always has one) */
    int skip_bad;          /* skip and count bad lines instead of stopping at the first */
    const char *file_name; /* used in messages ("<buffer>" when NULL) */
} trib_text_opts_t;
#define TRIB_TEXT_OPTS_INIT {TRIB_TEXT_CSV, 0, 0, 0, NULL}

/*
 * Result of parsing text: ratings whose user/item are provisional ids (order
 * of first appearance) into the two id maps.  trib_data_convert() turns them
 * into dense sorted ids.
 */
typedef struct {
    trib_ratings_t ratings;
    trib_idmap_t *users, *items;
    uint64_t lines;      /* lines read */
    uint64_t skipped;    /* bad lines skipped (skip_bad) */
    char first_skipped[192]; /* message of the first skipped line */
} trib_text_result_t;

/*
 * Parses `len` bytes (no terminating NUL needed).  Stops at the first bad line
 * with TRIB_ERR_FORMAT / TRIB_ERR_RANGE and a message "FILE:LINE: field: what"
 * unless opts->skip_bad.  TRIB_ERR_FORMAT when no rating was found.
 */
TRIB_API int trib_text_parse(const char *buf, size_t len, const trib_text_opts_t *opts, trib_text_result_t *out);
TRIB_API void trib_text_result_free(trib_text_result_t *r);

typedef struct {
    trib_text_opts_t text;
    trib_data_write_opts_t write;
    const char *ids_from; /* reuse this dataset's id maps (NULL: build new ones) */
} trib_convert_opts_t;

typedef struct {
    uint64_t input_bytes, lines, ratings;
    uint64_t skipped_bad;      /* bad lines skipped (skip_bad) */
    uint64_t duplicates;       /* duplicate (user, item) pairs dropped (skip_bad) */
    uint64_t unknown_users;    /* ids_from: distinct users absent from the map */
    uint64_t unknown_items;
    uint64_t dropped_unknown;  /* ids_from: ratings dropped because user or item is unknown */
    uint64_t n_users, n_items;
    double seconds;
} trib_convert_report_t;

/*
 * Converts a text file into a dataset at outdir (written to a temporary
 * directory, synced and renamed; an existing dataset is replaced only with
 * write.force).  Duplicate (user, item) pairs are an error naming both lines;
 * with skip_bad the first occurrence is kept and the others counted.
 */
TRIB_API int trib_data_convert(const char *input, const char *outdir, const trib_convert_opts_t *opts,
                               trib_convert_report_t *report);

/* Writes in-memory ratings (dense ids) as a dataset whose id maps are the identity (original id = dense id). */
TRIB_API int trib_data_write(const char *outdir, const trib_ratings_t *r, uint64_t n_users, uint64_t n_items,
                             const trib_data_write_opts_t *opts);

/* ------------------------------------------------------------- synthetic data */

/*
 * Planted model: r(u,i) = mean + b_u + b_i + p_u . q_i + e,  e ~ N(0, noise_std^2),
 * p_u, q_i ~ N(0, s^2 I_k) with s = (signal_var / k)^(1/4) so var(p.q) = signal_var;
 * b_u, b_i ~ N(0, bias_std^2).  User activity and item popularity follow power
 * laws (weight of the j-th most active user ~ (j+1)^-user_exponent, the ranks
 * shuffled over ids by the seed).  Every random draw is keyed by the seed and
 * global ids, so the data does not depend on shard or rank counts.
 * Ratings are not clipped unless clip != 0 (then to [clip_min, clip_max]; the
 * stored true_model_rmse is then measured against the clipped truth).
 */
typedef struct {
    uint64_t n_users, n_items, n_ratings;
    uint32_t rank;        /* k_true */
    double noise_std;     /* SIGMA */
    uint64_t seed;
    double user_exponent; /* default 0.8 */
    double item_exponent; /* default 1.0 */
    double global_mean;   /* default 3.5 */
    double bias_std;      /* default 0.3 */
    double signal_var;    /* variance of p_u . q_i, default 1.0 */
    int clip;             /* default 0 */
    double clip_min, clip_max;
    int with_timestamp;   /* default 1: timestamps so `split --by time` works */
} trib_synth_config_t;

TRIB_API void trib_synth_config_init(trib_synth_config_t *c);
TRIB_API int trib_synth_config_validate(const trib_synth_config_t *c);

typedef struct {
    double noise_std;       /* as configured */
    double true_model_rmse; /* sqrt(mean (r - truth)^2) over the generated ratings */
    double rating_min, rating_max, rating_mean;
} trib_synth_stats_t;

/* Ratings per user (n_users entries), as the generator will produce them. */
TRIB_API int trib_synth_user_counts(const trib_synth_config_t *c, uint64_t *counts);
/* Every rating, ordered by user (stats may be NULL). */
TRIB_API int trib_synth_generate(const trib_synth_config_t *c, trib_ratings_t *out, trib_synth_stats_t *stats);
/* Only the ratings of users [first, end): identical to the matching part of trib_synth_generate(). */
TRIB_API int trib_synth_generate_users(const trib_synth_config_t *c, uint32_t first, uint32_t end,
                                       trib_ratings_t *out, trib_synth_stats_t *stats);
/* The planted model's noiseless prediction (clipped when c->clip). */
TRIB_API double trib_synth_truth(const trib_synth_config_t *c, uint32_t user, uint32_t item);
/* Generates and writes a dataset (noise_std and true_model_rmse stored in the manifest). */
TRIB_API int trib_synth_write(const trib_synth_config_t *c, const char *outdir, const trib_data_write_opts_t *opts,
                              trib_synth_stats_t *stats);

/* ------------------------------------------------------------- split */

typedef enum { TRIB_SPLIT_RANDOM = 0, TRIB_SPLIT_TIME = 1 } trib_split_by_t;

/* "random" | "time", and back (TRIB_ERR_INVALID_ARG naming the choices). */
TRIB_API const char *trib_split_by_name(trib_split_by_t by);
TRIB_API int trib_split_by_parse(const char *name, trib_split_by_t *out);

typedef struct {
    double test_fraction; /* (0, 1) */
    uint64_t seed;
    trib_split_by_t by;
    trib_data_write_opts_t write; /* n_shards/partition ignored: both sides keep the input's */
} trib_split_opts_t;

typedef struct {
    uint64_t train_ratings, test_ratings;
    uint64_t test_users_unseen;   /* users with test ratings but none in train */
    uint64_t test_items_unseen;
    uint64_t test_ratings_unseen; /* test ratings whose user or item has no train rating */
} trib_split_report_t;

/*
 * random: a rating is in test when hash(seed, user, item) < fraction (each
 * rating decided alone, independent of shards and order).  time: per user, the
 * round(fraction * n_u) latest ratings (timestamp, then item) are in test.
 * Both sides keep the input's id maps, shard count and partition.
 */
TRIB_API int trib_data_split(const char *input, const char *train_dir, const char *test_dir,
                             const trib_split_opts_t *opts, trib_split_report_t *report);

#ifdef __cplusplus
}
#endif
#endif /* TRIBUTARY_DATA_H */
