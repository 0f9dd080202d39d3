/*
 * internal.h - declarations shared by the files of the data layer (not public).
 *
 *   ratings.c     trib_ratings_t, counting sorts, fingerprints, histograms
 *   idmap.c       original <-> dense id maps (int64 or string keys, hash index)
 *   outdir.c      temporary output directory, all-or-none commit of outputs
 *   writer.c      shard and manifest writer (the only code that creates datasets)
 *   dataset.c     manifest reader, shard row reader, trib_data_read_all
 *   verify.c      full dataset check
 *   owner.c       owner map (user -> rank)
 *   read_local.c  collective parallel read and redistribution
 *   text_parse.c  MovieLens / CSV parser;  convert.c  text -> dataset
 *   synth.c       planted-model generator;  split.c  train/test split
 *
 * Files, fsync, publishing and HDF5 are the io layer's (io/fs.h, io/h5.h).
 *
 * Functions here are hidden from the shared library's exported symbol table.
 */
#ifndef TRIB_DATA_INTERNAL_H
#define TRIB_DATA_INTERNAL_H

#include <stdint.h>
#include <stddef.h>

#include "io/fs.h"
#include "data/idmap_h5.h"
#include "io/fs.h"
#include "io/h5.h"
#include "tributary/data.h"

#include "core/visibility.h"

#define TRIB_MANIFEST_NAME "manifest.h5"
#define TRIB_MANIFEST_FORMAT "tributary-ratings"
#define TRIB_SHARD_FORMAT "tributary-shard"
#define TRIB_SHARD_CHUNK ((uint64_t)1 << 18) /* elements per chunk of a shard column */
#define TRIB_HIST_MAX_VALUES 32
#define TRIB_HIST_BINS 20

/* ---------------------------------------------------------------- ratings.c */
/* perm = stable order of records by (user, item). */
TRIB_HIDDEN int trib_sort_perm_user_item(const uint32_t *user, const uint32_t *item, size_t n, uint64_t n_users,
                                         uint64_t n_items, uint32_t *perm);
/* Applies a permutation (out[j] = in[perm[j]]) to every column of r. */
TRIB_HIDDEN int trib_ratings_permute(trib_ratings_t *r, const uint32_t *perm);
TRIB_HIDDEN int trib_ratings_is_sorted(const trib_ratings_t *r);
/* Content fingerprint of a run of ratings (FORMAT.md). */
TRIB_HIDDEN uint64_t trib_ratings_fingerprint(const trib_ratings_t *r, size_t first, size_t count);
/* The sum of the per-row hashes of `count` rows that sit at rows j0.. of their shard (ts may be NULL): the
 * fingerprint is additive, so the sums of disjoint row ranges add up to the shard's (trib_hash64(sum, n)). */
TRIB_HIDDEN uint64_t trib_fp_rows(const uint32_t *user, const uint32_t *item, const float *rating,
                                  const int64_t *ts, size_t count, uint64_t j0);
TRIB_HIDDEN void trib_histogram_build(const float *rating, size_t n, trib_histogram_t *h);
TRIB_HIDDEN uint64_t trib_dataset_fingerprint(uint64_t n_users, uint64_t n_items, uint64_t n_ratings,
                                              uint64_t idmap_fp, const uint64_t *shard_fps, uint32_t n_shards);
/* Shard of a user under hash partitioning. */
TRIB_HIDDEN uint32_t trib_hash_shard(uint32_t user, uint32_t n_shards);
/* Range cuts: first[0..parts] from per-user counts, equal cumulative counts (as the owner map). */
TRIB_HIDDEN void trib_range_cuts(const uint64_t *counts, uint64_t n_users, uint32_t parts, uint32_t *first);

/* ---------------------------------------------------------------- idmap.c */
struct trib_idmap {
    trib_id_kind_t kind;
    size_t n, cap;
    int64_t *ints;        /* kind int64: keys[n] */
    char *arena;          /* kind string: bytes of all keys */
    size_t arena_len, arena_cap;
    uint64_t *str_off;    /* kind string: offset of key i in arena */
    uint32_t *str_len;
    uint32_t *slots;      /* open addressing: key index + 1, 0 = empty */
    int64_t *slot_keys;   /* kind int64: the key of each used slot (no indirection on lookup) */
    size_t n_slots;       /* power of two */
    int frozen;           /* lookups only (ids_from) */
};

TRIB_HIDDEN trib_idmap_t *trib_idmap_new(trib_id_kind_t kind);
TRIB_HIDDEN trib_idmap_t *trib_idmap_identity(uint64_t n);
/* Finds or adds a key; *idx gets its index.  TRIB_ERR_RANGE when 2^32-1 ids would be exceeded. */
TRIB_HIDDEN int trib_idmap_put_int(trib_idmap_t *m, int64_t key, uint32_t *idx);
TRIB_HIDDEN int trib_idmap_put_str(trib_idmap_t *m, const char *s, size_t len, uint32_t *idx);
TRIB_HIDDEN int trib_idmap_find_str(const trib_idmap_t *m, const char *s, size_t len, uint32_t *idx);
/* Turns an int64 map into a string map (keys become their decimal text), indices unchanged. */
TRIB_HIDDEN int trib_idmap_to_strings(trib_idmap_t *m);
/* Sorts keys ascending (numeric or bytewise); new_of_old[old] = new index. */
TRIB_HIDDEN int trib_idmap_sort(trib_idmap_t *m, uint32_t **new_of_old);
TRIB_HIDDEN uint64_t trib_idmap_fingerprint(const trib_idmap_t *m);
TRIB_HIDDEN int trib_idmap_copy(const trib_idmap_t *m, trib_idmap_t **out);

/* ---------------------------------------------------------------- outdir.c */
/* Checks outdir may be (re)placed and creates a fresh temporary directory next to it. */
TRIB_HIDDEN int trib_outdir_begin(const char *outdir, int force, char **tmpdir);
/*
 * fsyncs tmpdir, moves it to outdir, fsyncs the parent.  Frees tmpdir.  With force, an old dataset at
 * outdir is swapped out; without, a dataset that appeared at outdir meanwhile (another writer) is never
 * replaced: TRIB_ERR_EXISTS "outdir appeared while writing", and tmpdir is removed.
 */
TRIB_HIDDEN int trib_outdir_commit(char *tmpdir, const char *outdir, int force);
/* Commits n (<= TRIB_OUTDIR_MAX) outputs all or none (rolls back the moved ones on a failure). Frees them. */
#define TRIB_OUTDIR_MAX 4
TRIB_HIDDEN int trib_outdir_commit_all(char **tmpdirs, const char *const *outdirs, size_t n, int force);
/* Removes tmpdir and its files. Frees tmpdir. */
TRIB_HIDDEN void trib_outdir_abort(char *tmpdir);

/* ---------------------------------------------------------------- writer.c */
typedef struct {
    const char *source;
    int is_synthetic;
    double noise_std, true_model_rmse;
    uint64_t synth_seed;
    uint32_t synth_rank;
} trib_write_meta_t;

/*
 * Writes r (dense ids, any order; reordered in place) as a dataset into
 * `dir` (an existing, empty, temporary directory).  Fails with
 * TRIB_ERR_FORMAT on a duplicate (user, item) pair.  users/items may be NULL
 * (identity maps).
 */
TRIB_HIDDEN int trib_write_dataset_dir(const char *dir, trib_ratings_t *r, uint64_t n_users, uint64_t n_items,
                                       const trib_idmap_t *users, const trib_idmap_t *items,
                                       const trib_write_meta_t *meta, const trib_data_write_opts_t *opts,
                                       uint32_t n_shards, trib_partition_t partition);
/* Writes one shard file holding r's rows [first, first+count). */
TRIB_HIDDEN int trib_write_shard(const char *path, const trib_ratings_t *r, size_t first, size_t count,
                                 uint32_t shard, uint32_t n_shards, uint64_t idmap_fp, int compress,
                                 uint64_t *fingerprint);
/* The manifest (all fields of info plus the arrays). */
typedef struct {
    trib_dataset_info_t info;
    const trib_idmap_t *users, *items;
    const uint64_t *user_counts, *item_counts, *shard_counts, *shard_fps;
    const trib_histogram_t *hist;
    uint64_t synth_seed;
    uint32_t synth_rank;
} trib_manifest_t;
TRIB_HIDDEN int trib_write_manifest(const char *dir, const trib_manifest_t *m);

/* ---------------------------------------------------------------- owner.c */
/* The id space an owner map was built for (0 = any). */
TRIB_HIDDEN uint64_t trib_owner_map_idmap_fp(const trib_owner_map_t *m);

/* ---------------------------------------------------------------- dataset.c */
struct trib_dataset {
    char *dir;
    trib_dataset_info_t info;
    trib_idmap_t *users, *items;
    uint64_t *user_counts, *item_counts, *shard_counts, *shard_fps;
    uint64_t *shard_first_row; /* n_shards + 1 prefix sums of shard_counts */
    trib_histogram_t hist;
};
/*
 * What the rows read so far add up to, for the checks against the manifest (trib_read_tally_check):
 * per shard the sum of the row hashes of its fingerprint, per item (and optionally per user) the ratings
 * seen.  One array of n_shards + n_items [+ n_users] counters, so a collective reader sums it in one
 * MPI_Allreduce (it counts its own users after routing instead: users = NULL).
 */
typedef struct {
    uint64_t *all;                  /* the one allocation */
    uint64_t *fp_sum, *items, *users;
    size_t len;                     /* elements of all */
} trib_read_tally_t;
/* 1 unless TRIB_DATA_VERIFY=0 in the environment: the off switch of the per-row fingerprint and count checks. */
TRIB_HIDDEN int trib_data_verify_enabled(void);
TRIB_HIDDEN int trib_read_tally_init(trib_read_tally_t *t, const trib_dataset_t *ds, int with_users);
TRIB_HIDDEN void trib_read_tally_free(trib_read_tally_t *t);
/* Compares the tally of every row of the dataset with the manifest: each shard's fingerprint (when
 * check_fp), then item_counts and user_counts (when counted).  The error names the shard file or the manifest. */
TRIB_HIDDEN int trib_read_tally_check(const trib_dataset_t *ds, const trib_read_tally_t *t, int check_fp);
/* user_counts / item_counts of the manifest against counts made from the rows (the first difference);
 * the _user_ variant for users [first, end) only, users[0] counting user first. */
TRIB_HIDDEN int trib_dataset_check_counts(const trib_dataset_t *ds, const uint64_t *users, const uint64_t *items);
TRIB_HIDDEN int trib_dataset_check_user_counts(const trib_dataset_t *ds, const uint64_t *users, uint64_t first,
                                               uint64_t end);
/*
 * Reads rows [first, first+count) of shard s into out at out_off, checking the shard belongs to ds, every id
 * is below n_users / n_items and every rating is finite and inside the manifest's [rating_min, rating_max].
 * With tally == NULL a read of the whole shard is checked against the shard's fingerprint at once; with a
 * tally the rows are added to it (partial reads; the caller checks the sums).  Verification follows
 * trib_data_verify_enabled().
 */
TRIB_HIDDEN int trib_shard_read(const trib_dataset_t *ds, uint32_t s, uint64_t first, uint64_t count,
                                int with_ts, trib_ratings_t *out, size_t out_off, trib_read_tally_t *tally);

#endif
