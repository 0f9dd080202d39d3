/*
 * grid.c - the blocked visiting order: ratings grouped into a grid of
 * user-range x item-range cells whose rows fit in L2, visited cell by cell.
 *
 * Why.  In a fully shuffled order every SGD step touches a random user row and
 * a random item row.  Once the factor blocks are larger than the caches (ML-25M
 * shape at k = 64: 41 MB of user rows, 15 MB of item rows) almost every step
 * waits for two rows from far away (and for two TLB walks).  Cutting the
 * rating matrix into cells of consecutive user rows x consecutive item rows
 * and finishing one cell before the next keeps the rows in use in L2, as
 * LIBMF does with its block grid.
 *
 * Sizing rule (plan_grid).  A cell's rows must fit in about half of one
 * core's L2 (the other half is left to the stream of ratings and order
 * entries, the stack, and to the set-associativity of a real cache):
 *
 *     row_bytes = stride(k) * 4 + 8          (factors, bias and AdaGrad sum)
 *     rows      = (L2 / 2) / row_bytes       users_per_block + items_per_block = rows
 *
 * split half and half (a side with fewer rows than its half gives the rest to
 * the other), so the cell is as large as possible for its row budget: ratings
 * per cell grow with the product of the two sides, rows with their sum.  L2
 * comes from the machine at run time (trib_mf_l2_bytes) and k from the model,
 * so nothing here is tuned to one dataset.  Cells are capped at 4 per rating
 * (plus 64) by doubling blocks: empty cells cost only an offset, but a tiny
 * dataset must not get millions of them.
 *
 * Bands.  The side with more rows is cut into bands (one block of it), the
 * other side into sweep blocks; cell = (band, sweep).  (The caller may pick
 * the side instead, trib_mf_bands_t: a trainer that averages item replicas
 * every round needs user bands, see tributary/mf.h.)  An epoch visits the
 * bands in a seeded order and, within a band, all its cells in a seeded order
 * before the next band.  The band's rows therefore stay in L2 for the whole
 * band, and each step brings in at most one row from outside L2: a row of the
 * smaller side, which is swept once per band and is the part most likely to
 * stay in the last-level cache.  Within a cell the ratings are shuffled afresh
 * every epoch, so consecutive steps are not correlated by user or item.
 *
 *     ratings array after trib_mf_grid_create (bands = user blocks here):
 *
 *       | band 0: cell(0,0) cell(0,1) cell(0,2) | band 1: cell(1,0) ... | ...
 *
 *     epoch e:  band order 2,0,1  ->  band 2: cells (2,1),(2,0),(2,2), each shuffled
 *                                     band 0: cells (0,2),(0,0),(0,1), each shuffled ...
 *
 * Determinism.  trib_mf_grid_create reorders the ratings cell by cell and by
 * (user, item, rating bits) within a cell, so the array and therefore every
 * visiting order depends only on the set of ratings, not on the order they
 * arrived in: the same seed gives the same order whatever the dataset's shard
 * count.  The order of epoch e is drawn from the stream
 * hash64(TRIB_MF_TAG_BLOCKED, e) of the seed, so a resumed job recreates it.
 *
 * Rounds.  The trainer cuts an epoch's order into R equal slices (R agreed
 * across ranks, src/train/loop.c), whatever the order; a round may end inside
 * a cell and the next round continues there, so the blocked order needs no
 * change to the number or size of rounds.
 */
#include "tributary/mf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"

#define FALLBACK_L2_BYTES ((size_t)1 << 20)
#define SMALL_CELL 32 /* cells up to this many ratings are sorted by insertion */

const char *trib_mf_order_name(trib_mf_order_t o)
{
    switch (o) {
    case TRIB_MF_ORDER_SHUFFLE: return "shuffle";
    case TRIB_MF_ORDER_BLOCKED: return "blocked";
    }
    return "unknown";
}

int trib_mf_order_parse(const char *name, trib_mf_order_t *out)
{
    if (name && out && strcmp(name, "shuffle") == 0)
        *out = TRIB_MF_ORDER_SHUFFLE;
    else if (name && out && strcmp(name, "blocked") == 0)
        *out = TRIB_MF_ORDER_BLOCKED;
    else
        return trib_errorf(TRIB_ERR_INVALID_ARG, "unknown visiting order '%s' (expected shuffle or blocked)",
                           name ? name : "(null)");
    return TRIB_OK;
}

size_t trib_mf_l2_bytes(void)
{
#ifdef _SC_LEVEL2_CACHE_SIZE
    long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (v > 0)
        return (size_t)v;
#endif
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cache/index2/size", "r");
    if (f) {
        unsigned long x = 0;
        char unit = 0;
        int got = fscanf(f, "%lu%c", &x, &unit);
        fclose(f);
        if (got >= 1 && x > 0 && x < (1UL << 30))
            return unit == 'K' ? (size_t)x << 10 : unit == 'M' ? (size_t)x << 20 : (size_t)x;
    }
    return FALLBACK_L2_BYTES;
}

/* ------------------------------------------------------------------ planning */

static size_t ceil_div(size_t a, size_t b) { return a / b + (a % b != 0); }
static size_t at_least_1(size_t a) { return a ? a : 1; }

/* Block sizes and counts for n_users x n_items rows (see the sizing rule above). */
static void plan_grid(trib_mf_grid_t *g, size_t n_users, size_t n_items, size_t k, size_t cache_bytes, size_t n,
                      trib_mf_bands_t bands, size_t items_block)
{
    size_t row_bytes = trib_mf_stride(k) * sizeof(float) + 2 * sizeof(float);
    size_t rows = cache_bytes / 2 / row_bytes;
    if (rows < 2)
        rows = 2;
    size_t nu = at_least_1(n_users), ni = at_least_1(n_items);
    size_t ub = rows / 2, ib = rows - rows / 2;
    if (ni < ib) {
        ub += ib - ni;
        ib = ni;
    } else if (nu < ub) {
        ib += ub - nu;
        ub = nu;
    }
    ub = ub < nu ? ub : nu;
    ib = ib < ni ? ib : ni;
    if (items_block) /* given: only the user blocks are planned (and grown for the cap) */
        ib = items_block < ni ? items_block : ni;
    size_t cap = 4 * n + 64;
    while (ceil_div(nu, ub) * ceil_div(ni, ib) > cap && !(items_block && ub >= nu)) {
        if (items_block || ceil_div(nu, ub) >= ceil_div(ni, ib))
            ub = ub * 2 < nu ? ub * 2 : nu;
        else
            ib = ib * 2 < ni ? ib * 2 : ni;
    }
    g->n_users = n_users;
    g->n_items = n_items;
    g->users_per_block = ub;
    g->items_per_block = ib;
    g->band_is_users = !items_block &&
                       (bands == TRIB_MF_BANDS_USERS || (bands == TRIB_MF_BANDS_LARGER && n_users >= n_items));
    g->n_bands = g->band_is_users ? ceil_div(nu, ub) : ceil_div(ni, ib);
    g->n_sweep = g->band_is_users ? ceil_div(ni, ib) : ceil_div(nu, ub);
    g->n_cells = g->n_bands * g->n_sweep;
    g->n_ratings = n;
    g->cache_bytes = cache_bytes;
}

/*
 * Block index of every user row and every item row: the band and sweep block of
 * a rating are two table look-ups instead of two divisions per rating in the
 * passes over all ratings.
 */
typedef struct {
    uint32_t *user_block, *item_block;
    int band_is_users;
    size_t n_sweep;
} cell_map_t;

static int cell_map_create(cell_map_t *cm, const trib_mf_grid_t *g)
{
    cm->user_block = malloc(at_least_1(g->n_users) * sizeof *cm->user_block);
    cm->item_block = malloc(at_least_1(g->n_items) * sizeof *cm->item_block);
    if (!cm->user_block || !cm->item_block)
        return TRIB_ERR_NOMEM;
    for (size_t u = 0; u < g->n_users; u++)
        cm->user_block[u] = (uint32_t)(u / g->users_per_block);
    for (size_t i = 0; i < g->n_items; i++)
        cm->item_block[i] = (uint32_t)(i / g->items_per_block);
    cm->band_is_users = g->band_is_users;
    cm->n_sweep = g->n_sweep;
    return TRIB_OK;
}

static void cell_map_destroy(cell_map_t *cm)
{
    free(cm->user_block);
    free(cm->item_block);
    cm->user_block = cm->item_block = NULL;
}

static size_t band_of(const cell_map_t *cm, const trib_mf_rating_t *r)
{
    return cm->band_is_users ? cm->user_block[r->user] : cm->item_block[r->item];
}

static size_t sweep_of(const cell_map_t *cm, const trib_mf_rating_t *r)
{
    return cm->band_is_users ? cm->item_block[r->item] : cm->user_block[r->user];
}

static size_t cell_of(const cell_map_t *cm, const trib_mf_rating_t *r)
{
    return band_of(cm, r) * cm->n_sweep + sweep_of(cm, r);
}

/* ------------------------------------------------------------------ building */

static uint32_t rating_bits(const trib_mf_rating_t *r)
{
    uint32_t b;
    memcpy(&b, &r->rating, sizeof b);
    return b;
}

/* The canonical order within a cell: user, item, then the rating's bits. */
static int rating_less(const trib_mf_rating_t *a, const trib_mf_rating_t *b)
{
    if (a->user != b->user)
        return a->user < b->user;
    if (a->item != b->item)
        return a->item < b->item;
    return rating_bits(a) < rating_bits(b);
}

static void insertion_sort(trib_mf_rating_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        trib_mf_rating_t x = a[i];
        size_t j = i;
        for (; j > 0 && rating_less(&x, &a[j - 1]); j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
}

/*
 * Stable counting sort of src[0..n) into dst by key - base, where key is the
 * user (by_user) or the item row and key - base < nb; count has nb + 1 entries.
 */
static void counting_pass(const trib_mf_rating_t *src, trib_mf_rating_t *dst, size_t n, int by_user, uint32_t base,
                          size_t nb, size_t *count)
{
    memset(count, 0, (nb + 1) * sizeof *count);
    for (size_t j = 0; j < n; j++)
        count[(by_user ? src[j].user : src[j].item) - base + 1]++;
    for (size_t b = 0; b < nb; b++)
        count[b + 1] += count[b];
    for (size_t j = 0; j < n; j++)
        dst[count[(by_user ? src[j].user : src[j].item) - base]++] = src[j];
}

/*
 * Sorts one cell's ratings a[0..n) by (user, item, bits): a counting sort by
 * item offset into tmp, a stable one by user offset back into a, then an
 * insertion sort of each run of equal (user, item) (duplicates: rare).
 * count has max(users_per_block, items_per_block) + 1 entries.
 */
static void sort_cell(trib_mf_rating_t *a, size_t n, uint32_t u0, uint32_t i0, size_t ub, size_t ib,
                      trib_mf_rating_t *tmp, size_t *count)
{
    if (n <= SMALL_CELL) {
        insertion_sort(a, n);
        return;
    }
    counting_pass(a, tmp, n, 0, i0, ib, count);
    counting_pass(tmp, a, n, 1, u0, ub, count);
    for (size_t s = 0; s < n;) {
        size_t e = s + 1;
        while (e < n && a[e].user == a[s].user && a[e].item == a[s].item)
            e++;
        if (e - s > 1)
            insertion_sort(a + s, e - s);
        s = e;
    }
}

/*
 * One in-place bucket pass (American flag sort): bucket d holds positions
 * [bounds[d * step], bounds[(d + 1) * step]) of `ratings`, and key(rating) < nb
 * for every rating in the range of buckets 0..nb-1.  next[d] is the first
 * position of bucket d not yet holding one of its own ratings; a misplaced
 * rating is swapped into its bucket's next free position until the displaced
 * one belongs here.  Unstable: sort_cell restores a canonical order later.
 */
static void bucket_pass(trib_mf_rating_t *ratings, const uint64_t *bounds, size_t step, size_t nb, uint64_t *next,
                        const cell_map_t *cm, size_t (*key)(const cell_map_t *, const trib_mf_rating_t *))
{
    for (size_t d = 0; d < nb; d++)
        next[d] = bounds[d * step];
    for (size_t b = 0; b < nb; b++) {
        uint64_t end = bounds[(b + 1) * step];
        while (next[b] < end) {
            trib_mf_rating_t x = ratings[next[b]];
            size_t d = key(cm, &x);
            while (d != b) {
                trib_mf_rating_t y = ratings[next[d]];
                ratings[next[d]++] = x;
                x = y;
                d = key(cm, &x);
            }
            ratings[next[b]++] = x;
        }
    }
}

/*
 * Moves every rating into its cell's range, in place, in two passes: into
 * bands, then within each band into its cells.  With one pass over all cells
 * (thousands of buckets) nearly every swap missed the cache; with a band's
 * buckets or a band's cells (tens to hundreds) the write positions stay cached
 * (measured on 10M ratings in random order, ML-25M shape, k = 64: 1.06 -> 0.76
 * CPU seconds for the whole grid construction).
 */
static void place_in_cells(const trib_mf_grid_t *g, const cell_map_t *cm, trib_mf_rating_t *ratings, uint64_t *next)
{
    bucket_pass(ratings, g->cell_start, g->n_sweep, g->n_bands, next, cm, band_of);
    for (size_t b = 0; b < g->n_bands; b++)
        bucket_pass(ratings, g->cell_start + b * g->n_sweep, 1, g->n_sweep, next, cm, sweep_of);
}

static int create_grid(trib_mf_grid_t *g, trib_mf_rating_t *ratings, size_t n, size_t n_users, size_t n_items,
                       size_t k, size_t cache_bytes, trib_mf_bands_t bands, size_t items_block);

int trib_mf_grid_create(trib_mf_grid_t *g, trib_mf_rating_t *ratings, size_t n, size_t n_users, size_t n_items,
                        size_t k, size_t cache_bytes, trib_mf_bands_t bands)
{
    return create_grid(g, ratings, n, n_users, n_items, k, cache_bytes, bands, 0);
}

int trib_mf_grid_create_items(trib_mf_grid_t *g, trib_mf_rating_t *ratings, size_t n, size_t n_users, size_t n_items,
                              size_t k, size_t cache_bytes, size_t items_per_block)
{
    if (items_per_block == 0) {
        if (g)
            memset(g, 0, sizeof *g);
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf grid: an item block of 0 rows");
    }
    return create_grid(g, ratings, n, n_users, n_items, k, cache_bytes, TRIB_MF_BANDS_ITEMS, items_per_block);
}

/* trib_mf_grid_create; items_block > 0: item bands of that many rows (trib_mf_grid_create_items). */
static int create_grid(trib_mf_grid_t *g, trib_mf_rating_t *ratings, size_t n, size_t n_users, size_t n_items,
                       size_t k, size_t cache_bytes, trib_mf_bands_t bands, size_t items_block)
{
    if (!g)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf grid: NULL grid");
    memset(g, 0, sizeof *g);
    if (n > 0 && !ratings)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf grid: NULL ratings");
    if (k == 0)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf grid: k must be at least 1");
    if (bands != TRIB_MF_BANDS_LARGER && bands != TRIB_MF_BANDS_USERS && bands != TRIB_MF_BANDS_ITEMS)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf grid: unknown band side %d", (int)bands);
    if (n > (size_t)UINT32_MAX || n_users > (size_t)UINT32_MAX || n_items > (size_t)UINT32_MAX)
        return trib_errorf(TRIB_ERR_RANGE, "mf grid: %zu ratings, %zu users or %zu items exceed 2^32 - 1", n,
                           n_users, n_items);
    plan_grid(g, n_users, n_items, k, cache_bytes ? cache_bytes : trib_mf_l2_bytes(), n, bands, items_block);

    int rc = TRIB_OK;
    uint64_t *next = NULL;
    trib_mf_rating_t *tmp = NULL;
    size_t *count = NULL;
    cell_map_t cm = {NULL, NULL, 0, 0};
    g->cell_start = calloc(g->n_cells + 1, sizeof *g->cell_start);
    next = malloc((g->n_bands > g->n_sweep ? g->n_bands : g->n_sweep) * sizeof *next);
    if (!g->cell_start || !next || cell_map_create(&cm, g) != TRIB_OK) {
        rc = trib_errorf(TRIB_ERR_NOMEM, "mf grid: cannot allocate %zu cells", g->n_cells);
        goto error;
    }
    for (size_t j = 0; j < n; j++) {
        if (ratings[j].user >= n_users || ratings[j].item >= n_items) {
            rc = trib_errorf(TRIB_ERR_RANGE, "mf grid: rating %zu has user %u (of %zu) and item %u (of %zu)", j,
                             ratings[j].user, n_users, ratings[j].item, n_items);
            goto error;
        }
        g->cell_start[cell_of(&cm, &ratings[j]) + 1]++;
    }
    size_t largest = 0;
    for (size_t c = 0; c < g->n_cells; c++) {
        if (g->cell_start[c + 1] > largest)
            largest = (size_t)g->cell_start[c + 1];
        g->cell_start[c + 1] += g->cell_start[c];
    }
    place_in_cells(g, &cm, ratings, next);
    cell_map_destroy(&cm);

    size_t ub = g->users_per_block, ib = g->items_per_block;
    tmp = malloc(at_least_1(largest) * sizeof *tmp);
    count = malloc(((ub > ib ? ub : ib) + 1) * sizeof *count);
    if (!tmp || !count) {
        rc = trib_errorf(TRIB_ERR_NOMEM, "mf grid: cannot allocate a cell of %zu ratings", largest);
        goto error;
    }
    for (size_t c = 0; c < g->n_cells; c++) {
        size_t band = c / g->n_sweep, sweep = c % g->n_sweep;
        size_t ublk = g->band_is_users ? band : sweep, iblk = g->band_is_users ? sweep : band;
        size_t s = (size_t)g->cell_start[c], e = (size_t)g->cell_start[c + 1];
        sort_cell(ratings + s, e - s, (uint32_t)(ublk * ub), (uint32_t)(iblk * ib), ub, ib, tmp, count);
    }
    free(tmp);
    free(count);
    free(next);
    return TRIB_OK;

error:
    free(tmp);
    free(count);
    free(next);
    cell_map_destroy(&cm);
    trib_mf_grid_destroy(g);
    return rc;
}

void trib_mf_grid_destroy(trib_mf_grid_t *g)
{
    if (!g)
        return;
    free(g->cell_start);
    memset(g, 0, sizeof *g);
}

/* ------------------------------------------------------------------ the order of an epoch */

static void iota_u32(uint32_t *a, size_t n, size_t first)
{
    for (size_t j = 0; j < n; j++)
        a[j] = (uint32_t)(first + j);
}

/* Appends the cells of bands [b0, b1) to order at *p: bands, cells and ratings in seeded orders. */
static void append_bands(const trib_mf_grid_t *g, trib_rng_t *rng, uint32_t *bands, uint32_t *sweeps, size_t b0,
                         size_t b1, uint32_t *order, size_t *p)
{
    size_t nb = b1 - b0;
    iota_u32(bands, nb, b0);
    trib_rng_shuffle_u32(rng, bands, nb);
    for (size_t bi = 0; bi < nb; bi++) {
        iota_u32(sweeps, g->n_sweep, 0);
        trib_rng_shuffle_u32(rng, sweeps, g->n_sweep);
        for (size_t si = 0; si < g->n_sweep; si++) {
            size_t c = (size_t)bands[bi] * g->n_sweep + sweeps[si];
            size_t s = (size_t)g->cell_start[c], len = (size_t)g->cell_start[c + 1] - s;
            iota_u32(order + *p, len, s);
            trib_rng_shuffle_u32(rng, order + *p, len);
            *p += len;
        }
    }
}

int trib_mf_grid_order(const trib_mf_grid_t *g, uint32_t *order, size_t n, uint64_t seed, unsigned epoch)
{
    if (!g || !g->cell_start)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf grid order: grid not created");
    if (n != g->n_ratings)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf grid order: %zu entries asked, the grid holds %zu ratings", n,
                           g->n_ratings);
    if (n > 0 && !order)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf grid order: NULL order");
    if (n == 0)
        return TRIB_OK;
    uint32_t *bands = malloc((g->n_bands + g->n_sweep) * sizeof *bands);
    if (!bands)
        return trib_errorf(TRIB_ERR_NOMEM, "mf grid order: cannot allocate %zu block indices",
                           g->n_bands + g->n_sweep);
    trib_rng_t rng;
    trib_rng_init(&rng, seed, trib_hash64(TRIB_MF_TAG_BLOCKED, epoch));
    size_t p = 0;
    append_bands(g, &rng, bands, bands + g->n_bands, 0, g->n_bands, order, &p);
    free(bands);
    return TRIB_OK;
}

/*
 * Bands [*b0, *b1) of the stratified order's group `group` of `rounds` (consecutive bands), and
 * *bm where its second half starts.
 */
static void group_bands(const trib_mf_grid_t *g, uint64_t rounds, size_t group, size_t *b0, size_t *bm, size_t *b1)
{
    *b0 = (size_t)((uint64_t)group * g->n_bands / rounds);
    *b1 = (size_t)((uint64_t)(group + 1) * g->n_bands / rounds);
    *bm = *b0 + (*b1 - *b0) / 2;
}

int trib_mf_grid_strata_order(const trib_mf_grid_t *g, uint32_t *order, size_t n, uint64_t seed, unsigned epoch,
                              unsigned part, unsigned parts, uint64_t rounds, uint64_t *round_start,
                              uint64_t *round_half, uint32_t *round_group)
{
    if (!g || !g->cell_start)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf strata order: grid not created");
    if (g->band_is_users)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf strata order: the grid's bands are user blocks, not item blocks");
    if (parts == 0 || part >= parts || rounds == 0 || rounds % parts != 0 || rounds > UINT32_MAX)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf strata order: part %u of %u, %" PRIu64 " rounds (a multiple of "
                           "the parts is needed)", part, parts, rounds);
    if (n != g->n_ratings)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf strata order: %zu entries asked, the grid holds %zu ratings", n,
                           g->n_ratings);
    if ((n > 0 && !order) || !round_start)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf strata order: NULL order or round starts");
    size_t Q = (size_t)(rounds / parts);
    uint32_t *bands = malloc((g->n_bands + g->n_sweep + parts + Q) * sizeof *bands);
    if (!bands)
        return trib_errorf(TRIB_ERR_NOMEM, "mf strata order: cannot allocate %zu block indices",
                           g->n_bands + g->n_sweep + parts + Q);
    uint32_t *sweeps = bands + g->n_bands, *perm = sweeps + g->n_sweep, *qperm = perm + parts;
    trib_rng_t rng;
    trib_rng_init(&rng, seed, trib_hash64(TRIB_MF_TAG_STRATA, epoch));
    iota_u32(perm, parts, 0); /* drawn first: the same on every part */
    trib_rng_shuffle_u32(&rng, perm, parts);
    iota_u32(qperm, Q, 0);
    trib_rng_shuffle_u32(&rng, qperm, Q);
    size_t p = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        round_start[r] = p;
        size_t group = (part + perm[r % parts]) % parts * Q + qperm[r / parts];
        if (round_group)
            round_group[r] = (uint32_t)group;
        size_t b0, bm, b1;
        group_bands(g, rounds, group, &b0, &bm, &b1);
        append_bands(g, &rng, bands, sweeps, b0, bm, order, &p);
        if (round_half)
            round_half[r] = p;
        append_bands(g, &rng, bands, sweeps, bm, b1, order, &p);
    }
    round_start[rounds] = p;
    free(bands);
    return TRIB_OK;
}

int trib_mf_grid_group_rows(const trib_mf_grid_t *g, uint64_t rounds, uint64_t group, size_t *first, size_t *mid,
                            size_t *end)
{
    if (!g || !g->cell_start || g->band_is_users || rounds == 0 || group >= rounds || !first || !mid || !end)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf strata group: group %" PRIu64 " of %" PRIu64 " on a grid "
                           "without item bands", group, rounds);
    size_t b0, bm, b1, ib = g->items_per_block;
    group_bands(g, rounds, (size_t)group, &b0, &bm, &b1);
    *first = b0 * ib < g->n_items ? b0 * ib : g->n_items;
    *mid = bm * ib < g->n_items ? bm * ib : g->n_items;
    *end = b1 * ib < g->n_items ? b1 * ib : g->n_items;
    return TRIB_OK;
}
