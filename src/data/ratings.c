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

int trib_ratings_alloc(trib_ratings_t *r, size_t n, int with_timestamp)
{
    trib_ratings_init(r);
    size_t m = n ? n : 1;
    r->user = malloc(m * sizeof *r->user);
    r->item = malloc(m * sizeof *r->item);
    r->rating = malloc(m * sizeof *r->rating);
    if (with_timestamp)
        r->timestamp = malloc(m * sizeof *r->timestamp);
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
uint64_t trib_ratings_fingerprint(const trib_ratings_t *r, size_t first, size_t count)
{
    uint64_t sum = 0;
    for (size_t j = 0; j < count; j++) {
        size_t i = first + j;
        uint32_t rb;
        memcpy(&rb, &r->rating[i], sizeof rb);
        uint64_t ts = r->timestamp ? (uint64_t)r->timestamp[i] : 0;
        uint64_t ui = (uint64_t)r->user[i] << 32 | r->item[i];
        sum += trib_hash64(ui, trib_hash64((uint64_t)rb ^ (ts * UINT64_C(0x9e3779b97f4a7c15)), j));
    }
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void trib_histogram_build(const float *rating, size_t n, trib_histogram_t *h)
{
    memset(h, 0, sizeof *h);
    double vals[TRIB_HIST_MAX_VALUES];
    size_t nv = 0;
    int exact = 1;
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        float v = rating[i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        if (!exact)
            continue;
        size_t k = 0;
        while (k < nv && vals[k] != v)
            k++;
        if (k == nv) {
            if (nv == TRIB_HIST_MAX_VALUES)
                exact = 0;
            else
                vals[nv++] = v;
        }
    }
    if (n == 0)
        return;
    if (exact) {
        qsort(vals, nv, sizeof vals[0], cmp_double);
        h->n_bins = nv;
        for (size_t k = 0; k < nv; k++)
            h->lo[k] = h->hi[k] = vals[k];
        for (size_t i = 0; i < n; i++) {
            size_t a = 0, b = nv - 1; /* binary search: vals sorted */
            while (a < b) {
                size_t m = (a + b) / 2;
                if (vals[m] < rating[i])
                    a = m + 1;
                else
                    b = m;
            }
            h->count[a]++;
        }
        return;
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
