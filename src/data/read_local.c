/*
 * read_local.c - the collective reader: every rank ends up with exactly the
 * ratings of the users it owns.
 *
 *   1. read   rank r reads rows [r*N/P, (r+1)*N/P) of the shards laid end to
 *             end (serial HDF5 per rank, no collective I/O): with many shards a
 *             rank reads whole shards, with fewer shards than ranks it reads a
 *             row range of one; the bytes read per rank differ by at most one row.
 *   2. agree  trib_agree (one MPI_Allreduce): if any rank failed, every rank returns the
 *             error of the lowest failing rank (no rank is left waiting).  Then the
 *             checks of FORMAT.md "Checks on every read": the per-shard fingerprint sums
 *             and item counts of all ranks added up (one MPI_Allreduce) against the manifest;
 *             after step 3 each rank counts the ratings of the users it owns.
 *   3. route  each rating goes to trib_data_owner(map, user):
 *
 *             rank 0: [to0 | to1 | to2]      counts: MPI_Alltoall (uint64)
 *             rank 1: [to0 | to1 | to2]  ->  data:   MPI_Alltoallv in rounds
 *             rank 2: [to0 | to1 | to2]
 *
 *             MPI counts and displacements are int.  Records are sent as one
 *             contiguous datatype each, and a round sends at most C records to
 *             each peer with P*C <= INT_MAX, so no count or displacement can
 *             overflow however many ratings there are.  With one round (the
 *             usual case) the packed buffers are sent directly; with several,
 *             each round's slices are copied into a send round buffer and
 *             received ones unpacked straight into the result.
 *
 * Memory: the rows read are freed as soon as they are packed, and with several
 * rounds nothing but the result holds the received ratings, so a rank's peak is
 * about (its rows read + its ratings received) x record size plus two round
 * buffers (at most ROUND_BYTES_CAP each), instead of four copies of its data.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/internal.h"
#include "tributary/allreduce.h"

/*
 * Per-rank memory of one round's buffer (there are two).  At 256 MiB the two
 * buffers were a third of a rank's peak when 2 ranks loaded 95M ratings; at
 * 64 MiB a round still moves millions of records, so the extra rounds cost
 * only their latency.
 */
#define ROUND_BYTES_CAP ((size_t)64 << 20)

static int read_my_rows(const trib_dataset_t *ds, int rank, int size, int with_ts, trib_ratings_t *local,
                        trib_read_tally_t *tally)
{
    __extension__ typedef unsigned __int128 u128_t;
    uint64_t N = ds->info.n_ratings;
    uint64_t lo = (uint64_t)((u128_t)N * (unsigned)rank / (unsigned)size);
    uint64_t hi = (uint64_t)((u128_t)N * (unsigned)(rank + 1) / (unsigned)size);
    int rc = trib_ratings_alloc(local, hi - lo, with_ts);
    for (uint32_t s = 0; rc == TRIB_OK && s < ds->info.n_shards; s++) {
        uint64_t a = ds->shard_first_row[s], b = ds->shard_first_row[s + 1];
        uint64_t from = a > lo ? a : lo, to = b < hi ? b : hi;
        if (from < to)
            rc = trib_shard_read(ds, s, from - a, to - from, with_ts, local, from - lo, tally);
    }
    return rc;
}

/*
 * The rows every rank read, added up (one MPI_Allreduce of the tally: per-shard fingerprint sums and per-item
 * counts), against the manifest.  Every rank checks the same sums, so all return the same error.  (User counts
 * are checked after routing, by the rank that owns the user: check_my_users.)
 */
static int check_tally(const trib_dataset_t *ds, trib_read_tally_t *tally, MPI_Comm comm)
{
    if (tally->len > INT_MAX)
        return trib_errorf(TRIB_ERR_RANGE, "%s: %zu counters to check, beyond one MPI call", ds->dir, tally->len);
    if (MPI_Allreduce(MPI_IN_PLACE, tally->all, (int)tally->len, MPI_UINT64_T, MPI_SUM, comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "MPI_Allreduce of the read checks failed");
    return trib_read_tally_check(ds, tally, 1);
}

/* This rank's users (after routing: all their ratings are here) against the manifest's user_counts. */
static int check_my_users(const trib_dataset_t *ds, const trib_owner_map_t *owners, int rank, const trib_ratings_t *r)
{
    uint32_t first, end;
    trib_data_owner_range(owners, rank, &first, &end);
    uint64_t *n = calloc(end > first ? end - first : 1, sizeof *n);
    if (!n)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory checking %s", ds->dir);
    int rc = TRIB_OK;
    for (size_t i = 0; i < r->n; i++) {
        if (r->user[i] < first || r->user[i] >= end) {
            rc = trib_errorf(TRIB_ERR_INTERNAL, "%s: rank %d received user %u outside its users [%u, %u)", ds->dir,
                             rank, r->user[i], first, end);
            break;
        }
        n[r->user[i] - first]++;
    }
    if (rc == TRIB_OK)
        rc = trib_dataset_check_user_counts(ds, n, first, end);
    free(n);
    return rc;
}

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

typedef struct {
    int size;
    size_t rs;           /* record size */
    uint64_t *scount, *sdispl, *rcount, *rdispl; /* per peer, in records */
    int *sc, *sd, *rc, *rd;                      /* one round's int counts */
    unsigned char *spacked, *rpacked;            /* all records, grouped by peer */
    unsigned char *sround, *rround;              /* round buffers (several rounds only) */
} exchange_t;

static void exchange_free(exchange_t *x)
{
    free(x->scount);
    free(x->sdispl);
    free(x->rcount);
    free(x->rdispl);
    free(x->sc);
    free(x->sd);
    free(x->rc);
    free(x->rd);
    free(x->spacked);
    free(x->rpacked);
    free(x->sround);
    free(x->rround);
}

static int64_t min_u64(uint64_t a, uint64_t b) { return (int64_t)(a < b ? a : b); }

/* Sets one round's int counts/displacements; copies send slices when not direct. */
static void round_counts(exchange_t *x, uint64_t k, uint64_t C, int direct)
{
    int64_t spos = 0, rpos = 0;
    for (int p = 0; p < x->size; p++) {
        uint64_t s0 = k * C, sc = x->scount[p] > s0 ? (uint64_t)min_u64(x->scount[p] - s0, C) : 0;
        uint64_t rc = x->rcount[p] > s0 ? (uint64_t)min_u64(x->rcount[p] - s0, C) : 0;
        x->sc[p] = (int)sc;
        x->rc[p] = (int)rc;
        x->sd[p] = direct ? (int)x->sdispl[p] : (int)spos;
        x->rd[p] = direct ? (int)x->rdispl[p] : (int)rpos;
        if (!direct && sc)
            memcpy(x->sround + (size_t)spos * x->rs, x->spacked + (size_t)(x->sdispl[p] + s0) * x->rs, sc * x->rs);
        spos += (int64_t)sc;
        rpos += (int64_t)rc;
    }
}

/* Routes `local` to the owners of its users; frees `local` (once packed) whatever the outcome. */
static int route(trib_ratings_t *local, const trib_owner_map_t *owners, MPI_Comm comm, size_t cap,
                 trib_ratings_t *out)
{
    exchange_t x;
    memset(&x, 0, sizeof x);
    MPI_Comm_size(comm, &x.size);
    int P = x.size;
    x.rs = record_size(local->timestamp != NULL);
    x.scount = calloc(P, 8), x.sdispl = calloc(P, 8), x.rcount = calloc(P, 8), x.rdispl = calloc(P, 8);
    x.sc = calloc(P, sizeof(int)), x.sd = calloc(P, sizeof(int)), x.rc = calloc(P, sizeof(int)),
    x.rd = calloc(P, sizeof(int));
    int *dest = malloc((local->n ? local->n : 1) * sizeof *dest);
    x.spacked = malloc((local->n ? local->n : 1) * x.rs);
    int rc = TRIB_OK;
    if (!x.scount || !x.sdispl || !x.rcount || !x.rdispl || !x.sc || !x.sd || !x.rc || !x.rd || !dest ||
        !x.spacked)
        rc = trib_errorf(TRIB_ERR_NOMEM, "out of memory routing %zu ratings", local->n);
    if (rc == TRIB_OK) {
        for (size_t i = 0; i < local->n; i++) {
            dest[i] = trib_data_owner(owners, local->user[i]);
            x.scount[dest[i]]++;
        }
        for (int p = 1; p < P; p++)
            x.sdispl[p] = x.sdispl[p - 1] + x.scount[p - 1];
        uint64_t *pos = x.rdispl; /* borrowed as a cursor, reset below */
        memcpy(pos, x.sdispl, P * sizeof *pos);
        for (size_t i = 0; i < local->n; i++)
            pack(local, i, x.spacked + (size_t)(pos[dest[i]]++) * x.rs);
    }
    free(dest);
    int with_ts = local->timestamp != NULL;
    trib_ratings_free(local); /* packed: the columns are not needed any more */
    rc = trib_agree(comm, rc);
    if (rc == TRIB_OK && MPI_Alltoall(x.scount, 1, MPI_UINT64_T, x.rcount, 1, MPI_UINT64_T, comm) != MPI_SUCCESS)
        rc = trib_errorf(TRIB_ERR_MPI, "MPI_Alltoall of rating counts failed");
    if (rc != TRIB_OK) {
        exchange_free(&x);
        return rc;
    }
    uint64_t total = 0, maxpair = 0;
    for (int p = 0; p < P; p++) {
        x.rdispl[p] = total;
        total += x.rcount[p];
        maxpair = x.scount[p] > maxpair ? x.scount[p] : maxpair;
    }
    uint64_t C = (uint64_t)INT_MAX / (uint64_t)P;
    uint64_t mem_cap = ROUND_BYTES_CAP / x.rs / (uint64_t)P;
    C = C < mem_cap ? C : mem_cap;
    if (cap && cap < C)
        C = cap;
    if (C == 0)
        C = 1;
    uint64_t my_rounds = (maxpair + C - 1) / C, rounds = 0;
    for (int p = 0; p < P; p++) { /* receive side too (same matrix, transposed) */
        uint64_t r = (x.rcount[p] + C - 1) / C;
        my_rounds = r > my_rounds ? r : my_rounds;
    }
    if (MPI_Allreduce(&my_rounds, &rounds, 1, MPI_UINT64_T, MPI_MAX, comm) != MPI_SUCCESS) {
        exchange_free(&x);
        return trib_errorf(TRIB_ERR_MPI, "MPI_Allreduce of round counts failed");
    }
    int direct = rounds <= 1;
    if (direct) {
        x.rpacked = malloc((total ? total : 1) * x.rs);
    } else {
        x.sround = malloc((size_t)C * P * x.rs);
        x.rround = malloc((size_t)C * P * x.rs);
    }
    rc = trib_ratings_alloc(out, total, with_ts);
    if (rc == TRIB_OK && ((direct && !x.rpacked) || (!direct && (!x.sround || !x.rround))))
        rc = trib_errorf(TRIB_ERR_NOMEM, "out of memory receiving %llu ratings", (unsigned long long)total);
    rc = trib_agree(comm, rc);
    MPI_Datatype rec;
    if (rc == TRIB_OK && (MPI_Type_contiguous((int)x.rs, MPI_BYTE, &rec) != MPI_SUCCESS ||
                          MPI_Type_commit(&rec) != MPI_SUCCESS))
        rc = trib_errorf(TRIB_ERR_MPI, "cannot create the record datatype");
    for (uint64_t k = 0; rc == TRIB_OK && k < rounds; k++) {
        round_counts(&x, k, C, direct);
        void *sbuf = direct ? x.spacked : x.sround, *rbuf = direct ? x.rpacked : x.rround;
        if (MPI_Alltoallv(sbuf, x.sc, x.sd, rec, rbuf, x.rc, x.rd, rec, comm) != MPI_SUCCESS) {
            rc = trib_errorf(TRIB_ERR_MPI, "MPI_Alltoallv of ratings failed (round %llu)", (unsigned long long)k);
            break;
        }
        for (int p = 0; !direct && p < P; p++)
            for (size_t j = 0; j < (size_t)x.rc[p]; j++)
                unpack(x.rround + ((size_t)x.rd[p] + j) * x.rs, out, (size_t)(x.rdispl[p] + k * C) + j);
    }
    if (rc == TRIB_OK) {
        MPI_Type_free(&rec);
        for (size_t i = 0; direct && i < total; i++)
            unpack(x.rpacked + i * x.rs, out, i);
    } else {
        trib_ratings_free(out);
    }
    exchange_free(&x);
    return rc;
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

int trib_data_read_local_ex(const char *dir, const trib_owner_map_t *owners, MPI_Comm comm,
                            const trib_data_read_opts_t *opts, trib_ratings_t *out)
{
    trib_data_read_opts_t defaults = TRIB_DATA_READ_OPTS_INIT;
    if (!opts)
        opts = &defaults;
    if (!dir || !owners || !out)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_data_read_local: NULL argument");
    trib_ratings_init(out);
    int rank, size;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS || MPI_Comm_size(comm, &size) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "trib_data_read_local: invalid communicator");
    if (trib_data_owner_map_nparts(owners) != size)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "owner map has %d parts, communicator has %d ranks",
                           trib_data_owner_map_nparts(owners), size);
    trib_dataset_t *ds = NULL;
    trib_ratings_t local;
    trib_ratings_init(&local);
    trib_read_tally_t tally = {0};
    int verify = trib_data_verify_enabled();
    int rc = open_checked(dir, owners, &ds);
    if (rc == TRIB_OK && verify)
        rc = trib_read_tally_init(&tally, ds, 0);
    if (rc == TRIB_OK)
        rc = read_my_rows(ds, rank, size, opts->with_timestamp && ds->info.has_timestamp, &local,
                          verify ? &tally : NULL);
    rc = trib_agree(comm, rc);
    if (rc == TRIB_OK && verify)
        rc = check_tally(ds, &tally, comm);
    trib_read_tally_free(&tally);
    uint64_t n_users = ds ? ds->info.n_users : 0, n_items = ds ? ds->info.n_items : 0;
    if (rc == TRIB_OK) {
        if (size == 1) {
            *out = local;
            trib_ratings_init(&local);
        } else {
            rc = route(&local, owners, comm, opts->max_records_per_round, out);
        }
    }
    trib_ratings_free(&local);
    if (rc == TRIB_OK && verify)
        rc = trib_agree(comm, check_my_users(ds, owners, rank, out));
    trib_dataset_close(ds);
    if (rc == TRIB_OK && opts->sort)
        rc = trib_ratings_sort(out, n_users, n_items);
    if (rc != TRIB_OK)
        trib_ratings_free(out);
    return rc;
}

int trib_data_read_local(const char *dir, const trib_owner_map_t *owners, MPI_Comm comm, trib_ratings_t *out)
{
    return trib_data_read_local_ex(dir, owners, comm, NULL, out);
}
