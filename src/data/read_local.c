/*
 * read_local.c - the collective reader: every rank ends up with exactly the
 * ratings of the users it owns, delivered part by part to a sink, so that no
 * rank ever holds more than its own ratings plus one bounded chunk.
 *
 * Direct reads.  A rank's users are one range [first, end) of dense ids
 * (owner.c), and every shard is sorted by (user, item) (FORMAT.md), so the
 * rank's rows in each shard are one contiguous row range, and where it starts
 * and ends follows from the manifest alone:
 *
 *   hash partition   user u lives in shard trib_hash_shard(u, S); the rank's
 *                    range in shard s starts after the ratings of the users
 *                    below `first` that hash to s and holds those of
 *                    [first, end) that hash to s (one pass over user_counts);
 *   range partition  the shards laid end to end are sorted by user, so the
 *                    rank's rows are the global rows [C(first), C(end)),
 *                    C = prefix sum of user_counts, cut at the shard borders.
 *
 *       shard 0: |..users < first..|== rank r's users ==|..users >= end..|
 *       shard 1: |....|======|..........|
 *
 * So each rank reads its own rows and nothing else: no rating crosses the
 * network, there is nothing to route, pack or unpack (an earlier design read
 * equal row ranges and sent every rating to its owner with MPI_Alltoallv:
 * on a 100M-rating dataset at 2 ranks that exchange and its copies were two
 * thirds of the read).  The per-shard sums double as a check of the manifest:
 * the users' counts that hash to s must add up to shard_counts[s].
 *
 * Steps.
 *   1. open   every rank opens the manifest, computes its row range in every
 *             shard, and the sink's begin() gets the count (the final array is
 *             allocated once).
 *   2. read   shard by shard, in chunks of at most rows_per_chunk rows; each
 *             row is checked as it is read (ids, rating range: trib_shard_read)
 *             and must belong to one of the rank's users (else the shard or the
 *             manifest is corrupt), then the chunk goes to the sink.
 *   3. check  with verification on (TRIB_DATA_VERIFY, datasets/FORMAT.md) every
 *             row is also added to a tally: after the last chunk the tallies of
 *             all ranks are summed (one MPI_Allreduce) and compared with every
 *             shard's fingerprint and the manifest's item_counts (the ranks'
 *             ranges tile every shard, so each row is counted once), and each
 *             rank compares what it read of each of its users with the
 *             manifest's user_counts.
 *   A failure on any rank (the sink's too) becomes every rank's error: ranks
 *   read independently and agree once after reading (trib_agree), so a rank
 *   that stops early leaves nobody waiting.
 *
 * Order: shard by shard, file order within a shard.  It depends only on the
 * dataset and the owner map, not on the chunk size; with one rank it is the
 * file order.
 *
 * Memory per rank beyond the sink's own array: one chunk of columns
 * (rows_per_chunk x 12 bytes, or 20 with timestamps: 24 MB by default) and,
 * with verification, the tally (a counter per item and per shard) and a
 * counter per own user.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/internal.h"
#include "tributary/allreduce.h"

/* Rows a rank reads (and hands to the sink) at a time. */
#define CHUNK_ROWS ((uint64_t)1 << 21)

/* Everything one rank's read needs. */
typedef struct {
    MPI_Comm comm;
    int rank, with_ts;
    const trib_dataset_t *ds;
    const trib_data_sink_t *sink;
    uint64_t chunk_rows;
    uint64_t *from, *to;      /* this rank's rows [from[s], to[s]) of each shard */
    trib_ratings_t chunk;     /* the rows read (capacity: the largest part) */
    uint64_t received;
    trib_read_tally_t tally;  /* rows read (verify on) */
    trib_read_tally_t *talp;  /* &tally, or NULL with verify off */
    uint32_t first, end;      /* this rank's users */
    uint64_t *mine;           /* ratings read per user of [first, end) (verify on), else NULL */
} reader_t;

static void reader_free(reader_t *x)
{
    trib_ratings_free(&x->chunk);
    free(x->from);
    free(x->to);
    trib_read_tally_free(&x->tally);
    free(x->mine);
}

/*
 * x->from / x->to: the rank's row range in every shard, from the manifest's
 * user_counts (see the top of the file).  Refuses a manifest whose per-user
 * counts do not add up to a shard's count.
 */
static int shard_ranges(reader_t *x)
{
    const trib_dataset_t *ds = x->ds;
    uint32_t S = ds->info.n_shards;
    uint64_t n_users = ds->info.n_users;
    x->from = calloc(S, sizeof *x->from);
    x->to = calloc(S, sizeof *x->to);
    if (!x->from || !x->to)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory for %u shard ranges", S);
    if (ds->info.partition == TRIB_PARTITION_HASH && S > 1) {
        uint64_t *total = calloc(S, sizeof *total);
        if (!total)
            return trib_errorf(TRIB_ERR_NOMEM, "out of memory for %u shard ranges", S);
        for (uint64_t u = 0; u < n_users; u++) {
            uint32_t s = trib_hash_shard((uint32_t)u, S);
            uint64_t c = ds->user_counts[u];
            if (u < x->first)
                x->from[s] += c;
            else if (u < x->end)
                x->to[s] += c;
            total[s] += c;
        }
        int rc = TRIB_OK;
        for (uint32_t s = 0; s < S; s++) {
            x->to[s] += x->from[s];
            if (rc == TRIB_OK && total[s] != ds->shard_counts[s])
                rc = trib_errorf(TRIB_ERR_CORRUPT,
                                 "%s/%s: the user_counts of the users hashed to shard %u add up to %llu ratings, "
                                 "shard_counts says %llu (corrupt manifest)",
                                 ds->dir, TRIB_MANIFEST_NAME, s, (unsigned long long)total[s],
                                 (unsigned long long)ds->shard_counts[s]);
        }
        free(total);
        return rc;
    }
    uint64_t lo = 0, hi = 0; /* global rows of [first, end): shards end to end are sorted by user */
    for (uint64_t u = 0; u < x->end && u < n_users; u++) {
        if (u < x->first)
            lo += ds->user_counts[u];
        hi += ds->user_counts[u];
    }
    for (uint32_t s = 0; s < S; s++) {
        uint64_t a = ds->shard_first_row[s], b = ds->shard_first_row[s + 1];
        uint64_t f = lo > a ? lo : a, t = hi < b ? hi : b;
        x->from[s] = f < t ? f - a : 0;
        x->to[s] = f < t ? t - a : 0;
    }
    return TRIB_OK;
}

/* Checks that rows [row, row + m) of shard s (in x->chunk) are the rank's users, counts them, hands them over. */
static int deliver(reader_t *x, uint32_t s, uint64_t row, size_t m)
{
    for (size_t i = 0; i < m; i++) {
        uint32_t u = x->chunk.user[i];
        if (u < x->first || u >= x->end) {
            char path[PATH_MAX];
            trib_dataset_shard_path(x->ds, s, path, sizeof path);
            return trib_errorf(TRIB_ERR_CORRUPT,
                               "%s: row %llu holds user %u, but the manifest's user_counts place rows %llu-%llu "
                               "of this shard for users [%u, %u) (shard not sorted by user, or counts wrong)",
                               path, (unsigned long long)(row + i), u, (unsigned long long)x->from[s],
                               (unsigned long long)x->to[s], x->first, x->end);
        }
        if (x->mine)
            x->mine[u - x->first]++;
    }
    trib_ratings_t view = x->chunk;
    view.n = m;
    x->received += m;
    return m ? x->sink->part(x->sink->ctx, &view) : TRIB_OK;
}

/* Reads the rank's rows of every shard, chunk by chunk, into the sink; stops at the first error. */
static int read_own_rows(reader_t *x)
{
    uint64_t largest = 0;
    for (uint32_t s = 0; s < x->ds->info.n_shards; s++)
        largest = x->to[s] - x->from[s] > largest ? x->to[s] - x->from[s] : largest;
    size_t cap = (size_t)(largest < x->chunk_rows ? largest : x->chunk_rows);
    int rc = trib_ratings_alloc(&x->chunk, cap ? cap : 1, x->with_ts);
    for (uint32_t s = 0; rc == TRIB_OK && s < x->ds->info.n_shards; s++)
        for (uint64_t a = x->from[s]; rc == TRIB_OK && a < x->to[s]; a += x->chunk_rows) {
            size_t m = (size_t)(x->to[s] - a < x->chunk_rows ? x->to[s] - a : x->chunk_rows);
            rc = trib_shard_read(x->ds, s, a, m, x->with_ts, &x->chunk, 0, x->talp);
            if (rc == TRIB_OK)
                rc = deliver(x, s, a, m);
        }
    return rc;
}

/*
 * The rows every rank read, added up (one MPI_Allreduce of the tally: per-shard fingerprint sums and per-item
 * counts), against the manifest.  Every rank checks the same sums, so all return the same error.
 */
static int check_tally(const trib_dataset_t *ds, trib_read_tally_t *tally, MPI_Comm comm)
{
    if (tally->len > INT_MAX)
        return trib_errorf(TRIB_ERR_RANGE, "%s: %zu counters to check, beyond one MPI call", ds->dir, tally->len);
    if (MPI_Allreduce(MPI_IN_PLACE, tally->all, (int)tally->len, MPI_UINT64_T, MPI_SUM, comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "MPI_Allreduce of the read checks failed");
    return trib_read_tally_check(ds, tally, 1);
}

static int open_checked(const char *dir, const trib_owner_map_t *owners, trib_dataset_t **ds)
{
    int rc = trib_dataset_open(dir, ds);
    if (rc != TRIB_OK)
        return rc;
    uint64_t fp = trib_owner_map_idmap_fp(owners);
    if ((*ds)->info.n_users != trib_data_owner_map_n_users(owners) ||
        (fp != 0 && fp != (*ds)->info.idmap_fingerprint)) {
        rc = trib_errorf(TRIB_ERR_INCOMPATIBLE,
                         "%s: ids differ from the owner map's dataset (%llu users vs %llu, or other id maps); "
                         "a test set must share its train set's id maps (split, or convert --ids-from)",
                         dir, (unsigned long long)(*ds)->info.n_users,
                         (unsigned long long)trib_data_owner_map_n_users(owners));
        trib_dataset_close(*ds);
        *ds = NULL;
    }
    return rc;
}

int trib_data_read_local_each(const char *dir, const trib_owner_map_t *owners, MPI_Comm comm,
                              const trib_data_read_opts_t *opts, const trib_data_sink_t *sink)
{
    trib_data_read_opts_t defaults = TRIB_DATA_READ_OPTS_INIT;
    if (!opts)
        opts = &defaults;
    if (!dir || !owners || !sink || !sink->begin || !sink->part)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_data_read_local: NULL argument");
    reader_t x;
    memset(&x, 0, sizeof x);
    x.comm = comm;
    x.sink = sink;
    int size;
    if (MPI_Comm_rank(comm, &x.rank) != MPI_SUCCESS || MPI_Comm_size(comm, &size) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_data_read_local: invalid communicator");
    if (trib_data_owner_map_nparts(owners) != size)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "owner map has %d parts, communicator has %d ranks",
                           trib_data_owner_map_nparts(owners), size);
    trib_dataset_t *ds = NULL;
    uint64_t expected = 0;
    int rc = open_checked(dir, owners, &ds);
    trib_data_owner_range(owners, x.rank, &x.first, &x.end);
    if (rc == TRIB_OK && trib_data_verify_enabled()) {
        rc = trib_read_tally_init(&x.tally, ds, 0);
        x.talp = &x.tally;
        x.mine = calloc(x.end > x.first ? x.end - x.first : 1, sizeof *x.mine);
        if (rc == TRIB_OK && !x.mine)
            rc = trib_errorf(TRIB_ERR_NOMEM, "out of memory checking %s", dir);
    }
    if (rc == TRIB_OK) {
        x.ds = ds;
        x.with_ts = opts->with_timestamp && ds->info.has_timestamp;
        x.chunk_rows = opts->rows_per_chunk ? opts->rows_per_chunk : CHUNK_ROWS;
        if (x.chunk_rows > (uint64_t)INT_MAX)
            x.chunk_rows = (uint64_t)INT_MAX;
        rc = shard_ranges(&x);
        for (uint32_t s = 0; rc == TRIB_OK && s < ds->info.n_shards; s++) /* the manifest's count of my ratings */
            expected += x.to[s] - x.from[s];
    }
    if (rc == TRIB_OK)
        rc = sink->begin(sink->ctx, &ds->info, expected, x.with_ts);
    rc = trib_agree(comm, rc);
    if (rc == TRIB_OK)
        rc = trib_agree(comm, read_own_rows(&x));
    if (rc == TRIB_OK && x.talp)
        rc = trib_agree(comm, check_tally(ds, x.talp, comm));
    if (rc == TRIB_OK && x.mine)
        rc = trib_dataset_check_user_counts(ds, x.mine, x.first, x.end);
    if (rc == TRIB_OK && x.received != expected)
        rc = trib_errorf(TRIB_ERR_CORRUPT,
                         "%s: the shards hold %llu ratings of rank %d's users, the manifest's user_counts say %llu",
                         dir, (unsigned long long)x.received, x.rank, (unsigned long long)expected);
    rc = trib_agree(comm, rc);
    reader_free(&x);
    trib_dataset_close(ds);
    return rc;
}

/* ------------------------------------------------------------------ into columns */

typedef struct {
    trib_ratings_t *out;
    size_t filled;
    uint64_t n_users, n_items;
} columns_sink_t;

static int columns_begin(void *ctx, const trib_dataset_info_t *info, uint64_t n, int with_ts)
{
    columns_sink_t *c = ctx;
    c->n_users = info->n_users;
    c->n_items = info->n_items;
    if (n > (uint64_t)SIZE_MAX / 24)
        return trib_errorf(TRIB_ERR_RANGE, "cannot hold %llu ratings", (unsigned long long)n);
    return trib_ratings_alloc(c->out, (size_t)n, with_ts);
}

static int columns_part(void *ctx, const trib_ratings_t *p)
{
    columns_sink_t *c = ctx;
    trib_ratings_t *o = c->out;
    if (p->n > o->n - c->filled)
        return trib_errorf(TRIB_ERR_CORRUPT, "more ratings arrive than the manifest counts for this rank (%zu)", o->n);
    memcpy(o->user + c->filled, p->user, p->n * sizeof *o->user);
    memcpy(o->item + c->filled, p->item, p->n * sizeof *o->item);
    memcpy(o->rating + c->filled, p->rating, p->n * sizeof *o->rating);
    if (o->timestamp)
        memcpy(o->timestamp + c->filled, p->timestamp, p->n * sizeof *o->timestamp);
    c->filled += p->n;
    return TRIB_OK;
}

int trib_data_read_local_ex(const char *dir, const trib_owner_map_t *owners, MPI_Comm comm,
                            const trib_data_read_opts_t *opts, trib_ratings_t *out)
{
    if (!out)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_data_read_local: NULL argument");
    trib_ratings_init(out);
    columns_sink_t c = {out, 0, 0, 0};
    trib_data_sink_t sink = {&c, columns_begin, columns_part};
    int rc = trib_data_read_local_each(dir, owners, comm, opts, &sink);
    if (rc == TRIB_OK && opts && opts->sort)
        rc = trib_ratings_sort(out, c.n_users, c.n_items);
    if (rc != TRIB_OK)
        trib_ratings_free(out);
    return rc;
}

int trib_data_read_local(const char *dir, const trib_owner_map_t *owners, MPI_Comm comm, trib_ratings_t *out)
{
    return trib_data_read_local_ex(dir, owners, comm, NULL, out);
}
