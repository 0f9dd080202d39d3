/*
 * read_local.c - the collective reader: every rank ends up with exactly the
 * ratings of the users it owns, delivered part by part to a sink, so that no
 * rank ever holds more than its own ratings plus a few bounded buffers.
 *
 *   1. open   every rank opens the manifest and works out how many ratings
 *             its users have (the manifest's user_counts); the sink's begin()
 *             gets that count, so the final array is allocated once.
 *   2. read   rank r reads rows [r*N/P, (r+1)*N/P) of the shards laid end to
 *             end (serial HDF5 per rank, no collective I/O), in chunks of at
 *             most CHUNK_ROWS rows; all ranks run the same number of chunks.
 *   3. route  each rating of a chunk goes to trib_data_owner(map, user):
 *
 *             rank 0: [to0 | to1 | to2]      counts: MPI_Alltoall (uint64)
 *             rank 1: [to0 | to1 | to2]  ->  data:   MPI_Alltoallv in rounds
 *             rank 2: [to0 | to1 | to2]
 *
 *             A round sends at most C records to each peer (P*C records of
 *             at most ROUND_BYTES_CAP bytes in all, and no int count or
 *             displacement can overflow: a chunk holds fewer than INT_MAX
 *             records); what a round brings is handed to the sink.
 *   4. check  every row is checked as it is read (ids, rating range:
 *             trib_shard_read) and added to a tally; after the last chunk the
 *             tallies of all ranks are summed (one MPI_Allreduce) and compared
 *             with every shard's fingerprint and the manifest's item_counts;
 *             each rank compares what it received of each of its users with
 *             the manifest's user_counts (TRIB_DATA_VERIFY=0 leaves out the
 *             fingerprint and count checks; datasets/FORMAT.md).
 *   A failure on any rank (the sink's too) becomes every rank's error
 *   (trib_agree after each collective step: no rank is left waiting).
 *
 * Order: chunk by chunk; within a chunk by source rank, then file order.
 * With one rank that is the file order.  The order depends only on the
 * dataset and the rank count (the chunk size is a constant), so a run that
 * re-reads its data (a resume) sees the same order.
 *
 * Memory per rank beyond the sink's own array: one chunk of columns and its
 * packed copy (CHUNK_ROWS x (12 or 24) bytes each, plus an int per row), one
 * receive round buffer and one unpacked part (ROUND_BYTES_CAP each): about
 * 120 MB without timestamps (24 MB with one rank), whatever the dataset's
 * size.  Measured on a 100M-rating Netflix-shaped dataset, 2 ranks, k = 64:
 * trib-train's peak RSS per rank went from 1,409 MB (the whole row range read,
 * packed, received and unpacked into columns, then converted to records) to
 * 990 MB, the records themselves being 603 MB.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/internal.h"
#include "tributary/allreduce.h"

/* Rows a rank reads (and routes) at a time. */
#define CHUNK_ROWS ((uint64_t)1 << 21)
/* Bytes of one round's receive buffer (and of the unpacked part handed to the sink). */
#define ROUND_BYTES_CAP ((size_t)32 << 20)

/* Fixed-layout record on the wire: user, item, rating [, pad, timestamp]. */
static size_t record_size(int with_ts) { return with_ts ? 24 : 12; }

static void pack(const trib_ratings_t *r, size_t i, unsigned char *dst)
{
    memcpy(dst, &r->user[i], 4);
    memcpy(dst + 4, &r->item[i], 4);
    memcpy(dst + 8, &r->rating[i], 4);
    if (r->timestamp) {
        memset(dst + 12, 0, 4);
        memcpy(dst + 16, &r->timestamp[i], 8);
    }
}

static void unpack(const unsigned char *src, trib_ratings_t *r, size_t i)
{
    memcpy(&r->user[i], src, 4);
    memcpy(&r->item[i], src + 4, 4);
    memcpy(&r->rating[i], src + 8, 4);
    if (r->timestamp)
        memcpy(&r->timestamp[i], src + 16, 8);
}

/* Everything one rank's read needs, allocated once for all chunks. */
typedef struct {
    MPI_Comm comm;
    int rank, size, with_ts;
    size_t rs;                /* record size */
    const trib_dataset_t *ds;
    const trib_owner_map_t *owners;
    const trib_data_sink_t *sink;
    uint64_t lo, hi;          /* this rank's rows */
    uint64_t chunk_rows, per_round; /* C: records per peer per round */
    trib_ratings_t chunk;     /* the rows read (capacity chunk_rows) */
    trib_ratings_t part;      /* one round's received ratings, unpacked (capacity P * C) */
    int *dest;                /* owner of each row of the chunk */
    unsigned char *spacked;   /* the chunk packed, grouped by destination */
    unsigned char *rround;    /* one round received */
    uint64_t *scount, *sdispl, *rcount; /* per peer, in records, this chunk */
    int *sc, *sd, *rc, *rd;   /* one round's int counts and displacements */
    MPI_Datatype rec;
    int rec_committed;
    uint64_t received;
    trib_read_tally_t tally;  /* rows read (verify on) */
    trib_read_tally_t *talp;  /* &tally, or NULL with verify off */
    uint32_t first, end;      /* this rank's users */
    uint64_t *mine;           /* ratings received per user of [first, end) (verify on), else NULL */
} reader_t;

static void reader_free(reader_t *x)
{
    trib_ratings_free(&x->chunk);
    trib_ratings_free(&x->part);
    free(x->dest);
    free(x->spacked);
    free(x->rround);
    free(x->scount);
    free(x->sdispl);
    free(x->rcount);
    free(x->sc);
    free(x->sd);
    free(x->rc);
    free(x->rd);
    if (x->rec_committed)
        MPI_Type_free(&x->rec);
    trib_read_tally_free(&x->tally);
    free(x->mine);
}

static int reader_alloc(reader_t *x)
{
    uint64_t rows = x->hi - x->lo;
    size_t n = (size_t)(rows < x->chunk_rows ? rows : x->chunk_rows);
    int P = x->size;
    int rc = trib_ratings_alloc(&x->chunk, n, x->with_ts);
    if (rc != TRIB_OK || P == 1)
        return rc;
    x->dest = malloc((n ? n : 1) * sizeof *x->dest);
    x->spacked = malloc((n ? n : 1) * x->rs);
    x->rround = malloc((size_t)x->per_round * P * x->rs);
    x->scount = calloc(P, sizeof *x->scount), x->sdispl = calloc(P, sizeof *x->sdispl);
    x->rcount = calloc(P, sizeof *x->rcount);
    x->sc = calloc(P, sizeof(int)), x->sd = calloc(P, sizeof(int)), x->rc = calloc(P, sizeof(int));
    x->rd = calloc(P, sizeof(int));
    rc = trib_ratings_alloc(&x->part, (size_t)x->per_round * P, x->with_ts);
    if (rc != TRIB_OK || !x->dest || !x->spacked || !x->rround || !x->scount || !x->sdispl || !x->rcount ||
        !x->sc || !x->sd || !x->rc || !x->rd)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory for the read buffers (%zu rows, %llu-record rounds)", n,
                           (unsigned long long)x->per_round * P);
    if (MPI_Type_contiguous((int)x->rs, MPI_BYTE, &x->rec) != MPI_SUCCESS || MPI_Type_commit(&x->rec) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "cannot create the record datatype");
    x->rec_committed = 1;
    return TRIB_OK;
}

/* Reads rows [from, from + m) of the shards laid end to end into x->chunk[0..m). */
static int read_rows(reader_t *x, uint64_t from, uint64_t m)
{
    const trib_dataset_t *ds = x->ds;
    uint64_t to = from + m;
    int rc = TRIB_OK;
    for (uint32_t s = 0; rc == TRIB_OK && s < ds->info.n_shards; s++) {
        uint64_t a = ds->shard_first_row[s], b = ds->shard_first_row[s + 1];
        uint64_t f = a > from ? a : from, t = b < to ? b : to;
        if (f < t)
            rc = trib_shard_read(ds, s, f - a, t - f, x->with_ts, &x->chunk, (size_t)(f - from), x->talp);
    }
    return rc;
}

static int deliver(reader_t *x, trib_ratings_t *from, size_t m)
{
    for (size_t i = 0; x->mine && i < m; i++) {
        uint32_t u = from->user[i];
        if (u < x->first || u >= x->end)
            return trib_errorf(TRIB_ERR_INTERNAL, "%s: rank %d received user %u outside its users [%u, %u)",
                               x->ds->dir, x->rank, u, x->first, x->end);
        x->mine[u - x->first]++;
    }
    trib_ratings_t view = *from;
    view.n = m;
    x->received += m;
    return m ? x->sink->part(x->sink->ctx, &view) : TRIB_OK;
}

static uint64_t clamp_u64(uint64_t have, uint64_t start, uint64_t cap)
{
    return have > start ? (have - start < cap ? have - start : cap) : 0;
}

/* Sends the chunk's m ratings to their owners; what arrives goes to the sink, round by round. */
static int route_chunk(reader_t *x, size_t m)
{
    int P = x->size;
    memset(x->scount, 0, P * sizeof *x->scount);
    for (size_t i = 0; i < m; i++) {
        x->dest[i] = trib_data_owner(x->owners, x->chunk.user[i]);
        x->scount[x->dest[i]]++;
    }
    x->sdispl[0] = 0;
    for (int p = 1; p < P; p++)
        x->sdispl[p] = x->sdispl[p - 1] + x->scount[p - 1];
    uint64_t *pos = x->rcount; /* borrowed as the packing cursor; the Alltoall below overwrites it */
    memcpy(pos, x->sdispl, P * sizeof *pos);
    for (size_t i = 0; i < m; i++)
        pack(&x->chunk, i, x->spacked + (size_t)(pos[x->dest[i]]++) * x->rs);
    if (MPI_Alltoall(x->scount, 1, MPI_UINT64_T, x->rcount, 1, MPI_UINT64_T, x->comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "MPI_Alltoall of rating counts failed");
    uint64_t C = x->per_round, mine = 0, rounds = 0;
    for (int p = 0; p < P; p++) {
        uint64_t r = (x->scount[p] + C - 1) / C, q = (x->rcount[p] + C - 1) / C;
        mine = r > mine ? r : mine;
        mine = q > mine ? q : mine;
    }
    if (MPI_Allreduce(&mine, &rounds, 1, MPI_UINT64_T, MPI_MAX, x->comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "MPI_Allreduce of round counts failed");
    int rc = TRIB_OK;
    for (uint64_t k = 0; k < rounds; k++) {
        size_t got = 0;
        for (int p = 0; p < P; p++) {
            x->sc[p] = (int)clamp_u64(x->scount[p], k * C, C);
            x->sd[p] = (int)(x->sdispl[p] + k * C); /* < the chunk's rows < INT_MAX */
            x->rc[p] = (int)clamp_u64(x->rcount[p], k * C, C);
            x->rd[p] = (int)got;
            got += (size_t)x->rc[p];
        }
        if (MPI_Alltoallv(x->spacked, x->sc, x->sd, x->rec, x->rround, x->rc, x->rd, x->rec, x->comm) !=
            MPI_SUCCESS)
            return trib_errorf(TRIB_ERR_MPI, "MPI_Alltoallv of ratings failed (round %llu)", (unsigned long long)k);
        if (rc == TRIB_OK) { /* after a sink error, keep exchanging (the others expect it), deliver nothing */
            for (size_t j = 0; j < got; j++)
                unpack(x->rround + j * x->rs, &x->part, j);
            rc = deliver(x, &x->part, got);
        }
    }
    return rc;
}

/* Ratings of this rank's users according to the manifest (whose counts trib_dataset_open checked). */
static uint64_t expected_count(const trib_dataset_t *ds, uint32_t first, uint32_t end)
{
    uint64_t mine = 0;
    for (uint64_t u = first; u < end && u < ds->info.n_users; u++)
        mine += ds->user_counts[u];
    return mine;
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

/* Chunks, reads and routes; x->ds is open and the sink has begun. */
static int read_and_route(reader_t *x)
{
    uint64_t mine = (x->hi - x->lo + x->chunk_rows - 1) / x->chunk_rows, chunks = 0;
    if (MPI_Allreduce(&mine, &chunks, 1, MPI_UINT64_T, MPI_MAX, x->comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "MPI_Allreduce of chunk counts failed");
    int rc = trib_agree(x->comm, reader_alloc(x));
    for (uint64_t k = 0; rc == TRIB_OK && k < chunks; k++) {
        uint64_t from = x->lo + k * x->chunk_rows;
        size_t m = from < x->hi ? (size_t)clamp_u64(x->hi, from, x->chunk_rows) : 0;
        rc = trib_agree(x->comm, read_rows(x, from, m));
        if (rc == TRIB_OK)
            rc = trib_agree(x->comm, x->size == 1 ? deliver(x, &x->chunk, m) : route_chunk(x, m));
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
    x.owners = owners;
    x.sink = sink;
    if (MPI_Comm_rank(comm, &x.rank) != MPI_SUCCESS || MPI_Comm_size(comm, &x.size) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_data_read_local: invalid communicator");
    if (trib_data_owner_map_nparts(owners) != x.size)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "owner map has %d parts, communicator has %d ranks",
                           trib_data_owner_map_nparts(owners), x.size);
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
        expected = expected_count(ds, x.first, x.end);
        __extension__ typedef unsigned __int128 u128_t;
        uint64_t N = ds->info.n_ratings;
        x.ds = ds;
        x.lo = (uint64_t)((u128_t)N * (unsigned)x.rank / (unsigned)x.size);
        x.hi = (uint64_t)((u128_t)N * (unsigned)(x.rank + 1) / (unsigned)x.size);
        x.with_ts = opts->with_timestamp && ds->info.has_timestamp;
        x.rs = record_size(x.with_ts);
        x.chunk_rows = opts->rows_per_chunk ? opts->rows_per_chunk : CHUNK_ROWS;
        if (x.chunk_rows > (uint64_t)INT_MAX)
            x.chunk_rows = (uint64_t)INT_MAX;
        uint64_t C = (uint64_t)INT_MAX / (unsigned)x.size, cap = ROUND_BYTES_CAP / x.rs / (unsigned)x.size;
        C = C < cap ? C : cap;
        if (opts->max_records_per_round && opts->max_records_per_round < C)
            C = opts->max_records_per_round;
        x.per_round = C ? C : 1;
        rc = sink->begin(sink->ctx, &ds->info, expected, x.with_ts);
    }
    rc = trib_agree(comm, rc);
    if (rc == TRIB_OK)
        rc = read_and_route(&x);
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
