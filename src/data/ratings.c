/*
 * ratings.c - in-memory rating arrays and the O(n) algorithms over them:
 * counting sorts by (user, item), the content fingerprint, the rating
 * histogram, hash partitioning and equal-count range cuts.
 *
 * Sorting is two stable counting passes (by item, then by user) producing a
 * permutation, then one gather per column: O(n + users + items), no
 * comparisons, and the permutation also tells the converter which input line
 * each record came from (duplicate messages name both lines).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/rng.h"
#include "data/internal.h"

__extension__ typedef unsigned __int128 u128_t;

void trib_ratings_init(trib_ratings_t *r)
{
    memset(r, 0, sizeof *r);
}

void trib_ratings_free(trib_ratings_t *r)
{
    if (!r)
        return;
    free(r->user);
    free(r->item);
    free(r->rating);
    free(r->timestamp);
    trib_ratings_init(r);
}

/*
 * Large columns are 2 MiB aligned and marked for transparent huge pages: the
 * reader fills hundreds of MB of fresh memory, and with 4 KiB pages the page
 * faults cost more than the reading itself.  Still released with free().
 */
static void *column_alloc(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    if (bytes < 4 * huge)
        return malloc(bytes);
    void *p = NULL;
    size_t rounded = (bytes + huge - 1) / huge * huge;
    if (posix_memalign(&p, huge, rounded) != 0)
        return NULL;
    madvise(p, rounded, MADV_HUGEPAGE);
    return p;
}

int trib_ratings_alloc(trib_ratings_t *r, size_t n, int with_timestamp)
{
    trib_ratings_init(r);
    size_t m = n ? n : 1;
    r->user = column_alloc(m * sizeof *r->user);
    r->item = column_alloc(m * sizeof *r->item);
    r->rating = column_alloc(m * sizeof *r->rating);
    if (with_timestamp)
        r->timestamp = column_alloc(m * sizeof *r->timestamp);
    if (!r->user || !r->item || !r->rating || (with_timestamp && !r->timestamp)) {
        trib_ratings_free(r);
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory allocating %zu ratings", n);
    }
    r->n = n;
    return TRIB_OK;
}

int trib_sort_perm_user_item(const uint32_t *user, const uint32_t *item, size_t n, uint64_t n_users,
                             uint64_t n_items, uint32_t *perm)
{
    if (n > UINT32_MAX)
        return trib_errorf(TRIB_ERR_RANGE, "cannot sort more than 2^32-1 ratings at once (%zu)", n);
    size_t nb = (size_t)(n_users > n_items ? n_users : n_items) + 1;
    uint64_t *pos = calloc(nb, sizeof *pos);
    uint32_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!pos || !tmp) {
        free(pos);
        free(tmp);
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory sorting %zu ratings", n);
    }
    /* pass 1: stable by item */
    for (size_t i = 0; i < n; i++)
        pos[item[i] + 1]++;
    for (size_t b = 1; b <= n_items; b++)
        pos[b] += pos[b - 1];
    for (size_t i = 0; i < n; i++)
        tmp[pos[item[i]]++] = (uint32_t)i;
    /* pass 2: stable by user */
    memset(pos, 0, nb * sizeof *pos);
    for (size_t i = 0; i < n; i++)
        pos[user[i] + 1]++;
    for (size_t b = 1; b <= n_users; b++)
        pos[b] += pos[b - 1];
    for (size_t j = 0; j < n; j++) {
        uint32_t i = tmp[j];
        perm[pos[user[i]]++] = i;
    }
    free(pos);
    free(tmp);
    return TRIB_OK;
}

#define GATHER_COLUMN(type, col)                                                                                 \
    do {                                                                                                         \
        if (r->col) {                                                                                            \
            type *out_ = malloc((r->n ? r->n : 1) * sizeof(type));                                              \
            if (!out_)                                                                                           \
                return trib_errorf(TRIB_ERR_NOMEM, "out of memory reordering %zu ratings", r->n);              \
            for (size_t j_ = 0; j_ < r->n; j_++)                                                                 \
                out_[j_] = r->col[perm[j_]];                                                                     \
            free(r->col);                                                                                        \
            r->col = out_;                                                                                       \
        }                                                                                                        \
    } while (0)

int trib_ratings_permute(trib_ratings_t *r, const uint32_t *perm)
{
    GATHER_COLUMN(uint32_t, user);
    GATHER_COLUMN(uint32_t, item);
    GATHER_COLUMN(float, rating);
    GATHER_COLUMN(int64_t, timestamp);
    return TRIB_OK;
}

int trib_ratings_is_sorted(const trib_ratings_t *r)
{
    for (size_t i = 1; i < r->n; i++) {
        if (r->user[i] < r->user[i - 1] || (r->user[i] == r->user[i - 1] && r->item[i] < r->item[i - 1]))
            return 0;
    }
    return 1;
}

int trib_ratings_sort(trib_ratings_t *r, uint64_t n_users, uint64_t n_items)
{
    if (trib_ratings_is_sorted(r))
        return TRIB_OK;
    for (size_t i = 0; i < r->n; i++) {
        if (r->user[i] >= n_users || r->item[i] >= n_items)
            return trib_errorf(TRIB_ERR_RANGE, "rating %zu: user %u or item %u out of range", i, r->user[i],
                               r->item[i]);
    }
    uint32_t *perm = malloc((r->n ? r->n : 1) * sizeof *perm);
    if (!perm)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory sorting %zu ratings", r->n);
    int rc = trib_sort_perm_user_item(r->user, r->item, r->n, n_users, n_items, perm);
    if (rc == TRIB_OK)
        rc = trib_ratings_permute(r, perm);
    free(perm);
    return rc;
}

/*
 * Fingerprint of rows [first, first+count): a sum of independent per-row
 * hashes keyed by the row's position, so it is order-sensitive yet has no
 * serial dependency chain (the CPU overlaps the rows).  See FORMAT.md.
 */
uint64_t trib_fp_rows(const uint32_t *user, const uint32_t *item, const float *rating, const int64_t *ts,
                      size_t count, uint64_t j0)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t rb;
        memcpy(&rb, &rating[i], sizeof rb);
        uint64_t t = ts ? (uint64_t)ts[i] : 0;
        uint64_t ui = (uint64_t)user[i] << 32 | item[i];
        sum += trib_hash64(ui, trib_hash64((uint64_t)rb ^ (t * UINT64_C(0x9e3779b97f4a7c15)), j0 + i));
    }
    return sum;
}

uint64_t trib_ratings_fingerprint(const trib_ratings_t *r, size_t first, size_t count)
{
    uint64_t sum = trib_fp_rows(r->user + first, r->item + first, r->rating + first,
                                r->timestamp ? r->timestamp + first : NULL, count, 0);
    return trib_hash64(sum, count);
}

uint64_t trib_dataset_fingerprint(uint64_t n_users, uint64_t n_items, uint64_t n_ratings, uint64_t idmap_fp,
                                  const uint64_t *shard_fps, uint32_t n_shards)
{
    uint64_t h = trib_hash64(TRIB_DATA_FORMAT_VERSION, n_users);
    h = trib_hash64(h, n_items);
    h = trib_hash64(h, n_ratings);
    h = trib_hash64(h, idmap_fp);
    for (uint32_t s = 0; s < n_shards; s++)
        h = trib_hash64(h, shard_fps[s]);
    return h;
}


/* Exact-value counting: a 128-slot open-addressing table keyed by the float's bits. */
static int hist_exact(const float *rating, size_t n, double *vals, uint64_t *counts, size_t *nv)
{
    uint32_t keys[128];
    int16_t slot_idx[128];
    memset(slot_idx, -1, sizeof slot_idx);
    *nv = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &rating[i], sizeof b);
        unsigned h = (b * 2654435761u) >> 25;
        while (slot_idx[h] >= 0 && keys[h] != b)
            h = (h + 1) & 127;
        if (slot_idx[h] < 0) {
            if (*nv == TRIB_HIST_MAX_VALUES)
                return 0;
            keys[h] = b;
            slot_idx[h] = (int16_t)*nv;
            vals[*nv] = rating[i];
            counts[(*nv)++] = 0;
        }
        counts[slot_idx[h]]++;
    }
    return 1;
}

void trib_histogram_build(const float *rating, size_t n, trib_histogram_t *h)
{
    memset(h, 0, sizeof *h);
    if (n == 0)
        return;
    double vals[TRIB_HIST_MAX_VALUES];
    uint64_t counts[TRIB_HIST_MAX_VALUES];
    size_t nv;
    if (hist_exact(rating, n, vals, counts, &nv)) {
        /* order by value (at most 32 entries: insertion sort) */
        for (size_t a = 1; a < nv; a++)
            for (size_t b = a; b > 0 && vals[b] < vals[b - 1]; b--) {
                double tv = vals[b];
                vals[b] = vals[b - 1];
                vals[b - 1] = tv;
                uint64_t tc = counts[b];
                counts[b] = counts[b - 1];
                counts[b - 1] = tc;
            }
        h->n_bins = nv;
        for (size_t k = 0; k < nv; k++) {
            h->lo[k] = h->hi[k] = vals[k];
            h->count[k] = counts[k];
        }
        return;
    }
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        lo = rating[i] < lo ? rating[i] : lo;
        hi = rating[i] > hi ? rating[i] : hi;
    }
    h->n_bins = TRIB_HIST_BINS;
    double w = ((double)hi - lo) / TRIB_HIST_BINS;
    for (size_t k = 0; k < TRIB_HIST_BINS; k++) {
        h->lo[k] = lo + w * (double)k;
        h->hi[k] = k + 1 == TRIB_HIST_BINS ? hi : lo + w * (double)(k + 1);
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = w > 0 ? (size_t)(((double)rating[i] - lo) / w) : 0;
        h->count[k >= TRIB_HIST_BINS ? TRIB_HIST_BINS - 1 : k]++;
    }
}

uint32_t trib_hash_shard(uint32_t user, uint32_t n_shards)
{
    return (uint32_t)(((u128_t)trib_hash64(user, UINT64_C(0x7368617264)) * n_shards) >> 64);
}

void trib_range_cuts(const uint64_t *counts, uint64_t n_users, uint32_t parts, uint32_t *first)
{
    u128_t total = 0;
    for (uint64_t u = 0; u < n_users; u++)
        total += counts[u];
    first[0] = 0;
    first[parts] = (uint32_t)n_users;
    uint64_t u = 0;
    u128_t cum = 0; /* ratings of users < u */
    for (uint32_t r = 1; r < parts; r++) {
        u128_t target = total * r; /* compare P*C(u) with r*N */
        while (u < n_users && (cum + counts[u]) * parts <= target) {
            cum += counts[u];
            u++;
        }
        uint64_t pick = u;
        if (u < n_users) {
            u128_t below = target - cum * parts, above = (cum + counts[u]) * parts - target;
            if (above < below)
                pick = u + 1;
        }
        if (pick < first[r - 1])
            pick = first[r - 1];
        first[r] = (uint32_t)pick;
    }
}
