/*
 * test_order.c - unit tests of the visiting orders (src/mf/grid.c, tributary/mf.h).
 *
 * Suites: order names; the grid's layout (every rating in the cell whose row
 * ranges contain it, canonical order within a cell, nothing lost or added);
 * the blocked order of an epoch (a permutation, cell by cell and band by band,
 * a pure function of seed and epoch) for odd sizes: no rating, 1 rating,
 * 1 user, 1 item, more cells than ratings, duplicate (user, item) pairs;
 * independence of the order the ratings arrived in (what a different shard
 * count changes), down to bitwise-identical trained models; the sizing rule;
 * argument errors.
 */
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "trib_cunit.h"
#include "tributary/mf.h"

/* ------------------------------------------------------------------ helpers */

/* n random ratings over nu x ni from a seed (duplicate pairs possible when dense). */
static trib_mf_rating_t *random_ratings(size_t n, size_t nu, size_t ni, uint64_t seed)
{
    trib_mf_rating_t *r = malloc((n ? n : 1) * sizeof *r);
    trib_rng_t rng;
    trib_rng_init(&rng, seed, 17);
    for (size_t j = 0; r && j < n; j++) {
        r[j].user = (uint32_t)trib_rng_below(&rng, nu);
        r[j].item = (uint32_t)trib_rng_below(&rng, ni);
        r[j].rating = 1.0f + (float)trib_rng_below(&rng, 5);
    }
    return r;
}

static int cmp_rating(const void *pa, const void *pb)
{
    const trib_mf_rating_t *a = pa, *b = pb;
    if (a->user != b->user)
        return a->user < b->user ? -1 : 1;
    if (a->item != b->item)
        return a->item < b->item ? -1 : 1;
    uint32_t x, y;
    memcpy(&x, &a->rating, 4);
    memcpy(&y, &b->rating, 4);
    return x < y ? -1 : x > y;
}

/* Whether two arrays hold the same multiset of ratings. */
static int same_multiset(const trib_mf_rating_t *a, const trib_mf_rating_t *b, size_t n)
{
    trib_mf_rating_t *x = malloc((n ? n : 1) * sizeof *x), *y = malloc((n ? n : 1) * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return 0;
    }
    if (n) {
        memcpy(x, a, n * sizeof *x);
        memcpy(y, b, n * sizeof *y);
    }
    qsort(x, n, sizeof *x, cmp_rating);
    qsort(y, n, sizeof *y, cmp_rating);
    int same = memcmp(x, y, n * sizeof *x) == 0;
    free(x);
    free(y);
    return same;
}

/* The cell (band * n_sweep + sweep) a rating belongs to, from the grid's public fields. */
static size_t cell_of(const trib_mf_grid_t *g, const trib_mf_rating_t *r)
{
    size_t ub = r->user / g->users_per_block, ib = r->item / g->items_per_block;
    return g->band_is_users ? ub * g->n_sweep + ib : ib * g->n_sweep + ub;
}

/* Checks the grid's layout of ratings[0..n) (after trib_mf_grid_create). */
static void check_layout(const trib_mf_grid_t *g, const trib_mf_rating_t *ratings, size_t n)
{
    CU_ASSERT_EQUAL_FATAL(g->n_ratings, n);
    CU_ASSERT_EQUAL(g->n_cells, g->n_bands * g->n_sweep);
    CU_ASSERT(g->users_per_block >= 1 && g->items_per_block >= 1);
    CU_ASSERT_EQUAL(g->cell_start[0], 0);
    CU_ASSERT_EQUAL(g->cell_start[g->n_cells], n);
    size_t bad_cell = 0, bad_sort = 0;
    for (size_t c = 0; c < g->n_cells; c++) {
        CU_ASSERT_FATAL(g->cell_start[c] <= g->cell_start[c + 1]);
        for (uint64_t j = g->cell_start[c]; j < g->cell_start[c + 1]; j++) {
            bad_cell += cell_of(g, &ratings[j]) != c;
            if (j > g->cell_start[c])
                bad_sort += cmp_rating(&ratings[j - 1], &ratings[j]) > 0;
        }
    }
    CU_ASSERT_EQUAL(bad_cell, 0);
    CU_ASSERT_EQUAL(bad_sort, 0);
}

/*
 * Checks order[0..n) of one epoch: a permutation of 0..n-1, each cell's
 * ratings in one contiguous run, each band's cells one after another.
 */
static void check_order(const trib_mf_grid_t *g, const trib_mf_rating_t *ratings, const uint32_t *order, size_t n)
{
    unsigned char *seen = calloc(n ? n : 1, 1);
    unsigned char *cell_done = calloc(g->n_cells, 1), *band_done = calloc(g->n_bands, 1);
    CU_ASSERT_FATAL(seen && cell_done && band_done);
    size_t dup = 0, out = 0, split_cells = 0, split_bands = 0;
    size_t prev_cell = SIZE_MAX;
    for (size_t p = 0; p < n; p++) {
        if (order[p] >= n) {
            out++;
            continue;
        }
        dup += seen[order[p]]++ != 0;
        size_t c = cell_of(g, &ratings[order[p]]);
        if (c != prev_cell) {
            split_cells += cell_done[c];
            cell_done[c] = 1;
            size_t b = c / g->n_sweep;
            if (prev_cell == SIZE_MAX || prev_cell / g->n_sweep != b) {
                split_bands += band_done[b];
                band_done[b] = 1;
            }
            prev_cell = c;
        }
    }
    CU_ASSERT_EQUAL(out, 0);
    CU_ASSERT_EQUAL(dup, 0); /* with n entries and no duplicate, every rating is visited exactly once */
    CU_ASSERT_EQUAL(split_cells, 0);
    CU_ASSERT_EQUAL(split_bands, 0);
    free(seen);
    free(cell_done);
    free(band_done);
}

/*
 * Builds a grid over a copy of r[0..n) with bands on the given side, checks layout and three
 * epochs; returns the grid's cell count.
 */
static size_t check_case_bands(const trib_mf_rating_t *r, size_t n, size_t nu, size_t ni, size_t k, size_t cache,
                               trib_mf_bands_t bands)
{
    trib_mf_rating_t *a = malloc((n ? n : 1) * sizeof *a);
    uint32_t *o1 = malloc((n ? n : 1) * sizeof *o1), *o2 = malloc((n ? n : 1) * sizeof *o2);
    CU_ASSERT_FATAL(a && o1 && o2);
    if (n)
        memcpy(a, r, n * sizeof *a);
    trib_mf_grid_t g;
    CU_ASSERT_EQUAL_FATAL(trib_mf_grid_create(&g, a, n, nu, ni, k, cache, bands), TRIB_OK);
    if (bands != TRIB_MF_BANDS_LARGER)
        CU_ASSERT_EQUAL(g.band_is_users, bands == TRIB_MF_BANDS_USERS);
    CU_ASSERT(same_multiset(a, r, n));
    check_layout(&g, a, n);
    for (unsigned e = 0; e < 3; e++) {
        memset(o1, 0xff, (n ? n : 1) * sizeof *o1);
        CU_ASSERT_EQUAL(trib_mf_grid_order(&g, o1, n, 42, e), TRIB_OK);
        check_order(&g, a, o1, n);
        CU_ASSERT_EQUAL(trib_mf_grid_order(&g, o2, n, 42, e), TRIB_OK); /* deterministic */
        CU_ASSERT(memcmp(o1, o2, n * sizeof *o1) == 0);
    }
    size_t cells = g.n_cells;
    trib_mf_grid_destroy(&g);
    CU_ASSERT_PTR_NULL(g.cell_start);
    free(a);
    free(o1);
    free(o2);
    return cells;
}

static size_t check_case(const trib_mf_rating_t *r, size_t n, size_t nu, size_t ni, size_t k, size_t cache)
{
    return check_case_bands(r, n, nu, ni, k, cache, TRIB_MF_BANDS_LARGER);
}

/* ------------------------------------------------------------------ tests */

static void test_order_names(void)
{
    trib_mf_order_t o = TRIB_MF_ORDER_SHUFFLE;
    CU_ASSERT_STRING_EQUAL(trib_mf_order_name(TRIB_MF_ORDER_SHUFFLE), "shuffle");
    CU_ASSERT_STRING_EQUAL(trib_mf_order_name(TRIB_MF_ORDER_BLOCKED), "blocked");
    CU_ASSERT_EQUAL(trib_mf_order_parse("blocked", &o), TRIB_OK);
    CU_ASSERT_EQUAL(o, TRIB_MF_ORDER_BLOCKED);
    CU_ASSERT_EQUAL(trib_mf_order_parse("shuffle", &o), TRIB_OK);
    CU_ASSERT_EQUAL(o, TRIB_MF_ORDER_SHUFFLE);
    CU_ASSERT_EQUAL(trib_mf_order_parse("Blocked", &o), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(trib_mf_order_parse(NULL, &o), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(o, TRIB_MF_ORDER_SHUFFLE); /* unchanged on error */
}

/* A medium case with many cells (small cache): layout, permutation, runs, determinism. */
static void test_grid_many_cells(void)
{
    size_t n = 20000, nu = 700, ni = 300;
    trib_mf_rating_t *r = random_ratings(n, nu, ni, 1);
    CU_ASSERT_FATAL(r != NULL);
    size_t cells = check_case(r, n, nu, ni, 8, 16 << 10); /* 16 KiB: ~100-row cells */
    CU_ASSERT(cells >= 20);
    /* items as the band side (more items than users) */
    trib_mf_rating_t *t = random_ratings(n, ni, nu, 2);
    CU_ASSERT(check_case(t, n, ni, nu, 8, 16 << 10) >= 20);
    free(r);
    free(t);
}

/* Bands on the side the caller picks, against the larger-side rule either way; odd sizes too. */
static void test_grid_bands_side(void)
{
    size_t n = 20000, nu = 300, ni = 700; /* more items: the larger-side rule gives item bands */
    trib_mf_rating_t *r = random_ratings(n, nu, ni, 5);
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT(check_case_bands(r, n, nu, ni, 8, 16 << 10, TRIB_MF_BANDS_USERS) >= 20);
    CU_ASSERT(check_case_bands(r, n, nu, ni, 8, 16 << 10, TRIB_MF_BANDS_ITEMS) >= 20);
    trib_mf_rating_t *t = random_ratings(n, ni, nu, 6); /* more users */
    CU_ASSERT_FATAL(t != NULL);
    CU_ASSERT(check_case_bands(t, n, ni, nu, 8, 16 << 10, TRIB_MF_BANDS_ITEMS) >= 20);
    trib_mf_rating_t one = {0, 0, 3.5f};
    CU_ASSERT_EQUAL(check_case_bands(&one, 1, 1, 1, 16, 0, TRIB_MF_BANDS_USERS), 1);
    CU_ASSERT_EQUAL(check_case_bands(&one, 1, 1, 1, 16, 0, TRIB_MF_BANDS_ITEMS), 1);
    CU_ASSERT(check_case_bands(NULL, 0, 5, 9, 16, 0, TRIB_MF_BANDS_USERS) >= 1);
    trib_mf_grid_t g;
    CU_ASSERT_EQUAL(trib_mf_grid_create(&g, r, n, nu, ni, 8, 0, (trib_mf_bands_t)3), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NULL(g.cell_start);
    free(r);
    free(t);
}

/*
 * The stratified order: P parts (ranks) with their own ratings over the same items; per part a
 * permutation with rounds + 1 increasing starts; in every round the parts' item sets are disjoint;
 * every part's rounds cover all its ratings once; deterministic; argument errors.
 */
static void check_strata(unsigned parts, uint64_t rounds, size_t ni, size_t n_per_part)
{
    trib_mf_grid_t g[8];
    trib_mf_rating_t *r[8];
    uint32_t *o[8];
    uint64_t *rs[8];
    uint32_t *rg[8];
    uint64_t *rh[8];
    CU_ASSERT_FATAL(parts <= 8);
    for (unsigned p = 0; p < parts; p++) {
        r[p] = random_ratings(n_per_part, 50 + p, ni, 100 + p); /* each part its own users */
        o[p] = malloc((n_per_part ? n_per_part : 1) * sizeof *o[p]);
        rs[p] = malloc((rounds + 1) * sizeof *rs[p]);
        rg[p] = malloc(rounds * sizeof *rg[p]);
        rh[p] = malloc(rounds * sizeof *rh[p]);
        CU_ASSERT_FATAL(r[p] && o[p] && rs[p] && rg[p] && rh[p]);
        CU_ASSERT_EQUAL_FATAL(trib_mf_grid_create(&g[p], r[p], n_per_part, 50 + p, ni, 8, 4 << 10,
                                                  TRIB_MF_BANDS_ITEMS), TRIB_OK);
    }
    unsigned char *item_part = malloc(ni);
    uint64_t *item_round = malloc(ni * sizeof *item_round);
    unsigned char *seen = malloc(n_per_part ? n_per_part : 1);
    unsigned char *group_seen = malloc(rounds);
    CU_ASSERT_FATAL(item_part && item_round && seen && group_seen);
    uint64_t Q = rounds / parts;
    for (unsigned e = 0; e < 2; e++) {
        for (unsigned p = 0; p < parts; p++) {
            CU_ASSERT_EQUAL(trib_mf_grid_strata_order(&g[p], o[p], n_per_part, 7, e, p, parts, rounds, rs[p], rh[p],
                                                      rg[p]), TRIB_OK);
            CU_ASSERT_EQUAL(rs[p][0], 0);
            CU_ASSERT_EQUAL(rs[p][rounds], n_per_part);
            memset(seen, 0, n_per_part ? n_per_part : 1);
            size_t dup = 0;
            for (size_t j = 0; j < n_per_part; j++)
                dup += o[p][j] >= n_per_part || seen[o[p][j]]++;
            CU_ASSERT_EQUAL(dup, 0); /* a permutation: every rating once per epoch */
            memset(group_seen, 0, rounds);
            for (uint64_t rd = 0; rd < rounds; rd++)
                dup += rg[p][rd] >= rounds || group_seen[rg[p][rd]]++;
            CU_ASSERT_EQUAL(dup, 0); /* every group once per epoch */
        }
        size_t clashes = 0, back = 0, outside = 0, columns = 0, next = 0;
        memset(item_round, 0xff, ni * sizeof *item_round);
        for (uint64_t rd = 0; rd < rounds; rd++) {
            memset(item_part, 0xff, ni);
            for (unsigned p = 0; p < parts; p++) {
                back += rs[p][rd + 1] < rh[p][rd] || rh[p][rd] < rs[p][rd];
                columns += rg[p][rd] % Q != rg[0][rd] % Q; /* the parts are in one column */
                for (uint64_t j = rs[p][rd]; j < rs[p][rd + 1] && j < n_per_part; j++) {
                    uint32_t it = r[p][o[p][j]].item;
                    clashes += item_part[it] != 0xff && item_part[it] != p;
                    item_part[it] = (unsigned char)p;
                }
            }
            for (uint64_t half = 0; half < 2; half++) { /* segment 2 rd + half: a half round */
                uint64_t seg = 2 * rd + half;
                for (unsigned p = 0; p < parts; p++) {
                    size_t first = 0, mid = 0, end = 0;
                    CU_ASSERT_EQUAL(trib_mf_grid_group_rows(&g[p], rounds, rg[p][rd], &first, &mid, &end), TRIB_OK);
                    uint64_t j0 = half ? rh[p][rd] : rs[p][rd], j1 = half ? rs[p][rd + 1] : rh[p][rd];
                    for (uint64_t j = j0; j < j1 && j < n_per_part; j++) {
                        uint32_t it = r[p][o[p][j]].item;
                        outside += half ? it < mid || it >= end : it < first || it >= mid;
                        next += seg > 0 && item_round[it] == seg - 1;
                    }
                }
                for (unsigned p = 0; p < parts; p++) { /* after the half: the rows it touched */
                    uint64_t j0 = half ? rh[p][rd] : rs[p][rd], j1 = half ? rs[p][rd + 1] : rh[p][rd];
                    for (uint64_t j = j0; j < j1 && j < n_per_part; j++)
                        item_round[r[p][o[p][j]].item] = seg;
                }
            }
        }
        CU_ASSERT_EQUAL(back, 0);
        CU_ASSERT_EQUAL(clashes, 0); /* no item row on two parts in one round */
        CU_ASSERT_EQUAL(outside, 0); /* a half round's ratings are in its half group's rows */
        CU_ASSERT_EQUAL(columns, 0);
        CU_ASSERT_EQUAL(next, 0); /* no row of a half round touched in the next half */
    }
    uint32_t *o2 = malloc((n_per_part ? n_per_part : 1) * sizeof *o2);
    uint64_t *rs2 = malloc((rounds + 1) * sizeof *rs2);
    CU_ASSERT_FATAL(o2 && rs2);
    CU_ASSERT_EQUAL(trib_mf_grid_strata_order(&g[0], o2, n_per_part, 7, 1, 0, parts, rounds, rs2, NULL, NULL), TRIB_OK);
    CU_ASSERT(memcmp(o2, o[0], n_per_part * sizeof *o2) == 0); /* deterministic */
    CU_ASSERT(memcmp(rs2, rs[0], (rounds + 1) * sizeof *rs2) == 0);
    free(o2);
    free(rs2);
    free(item_part);
    free(item_round);
    free(seen);
    free(group_seen);
    for (unsigned p = 0; p < parts; p++) {
        trib_mf_grid_destroy(&g[p]);
        free(r[p]);
        free(o[p]);
        free(rs[p]);
        free(rg[p]);
        free(rh[p]);
    }
}

/*
 * trib_mf_grid_create_items: item bands of exactly the given rows whatever the local user and
 * rating counts (the cap on cells grows the user blocks only); a valid layout and order; so two
 * parts with different users and ratings get the same stratified groups; 0 rows is an error.
 */
static void check_fixed_items(size_t n, size_t nu, size_t ni, size_t ib, size_t cache)
{
    trib_mf_rating_t *r = random_ratings(n, nu, ni, 11 + n), *a = malloc((n ? n : 1) * sizeof *a);
    uint32_t *o = malloc((n ? n : 1) * sizeof *o);
    CU_ASSERT_FATAL(r && a && o);
    if (n)
        memcpy(a, r, n * sizeof *a);
    trib_mf_grid_t g;
    CU_ASSERT_EQUAL_FATAL(trib_mf_grid_create_items(&g, a, n, nu, ni, 8, cache, ib), TRIB_OK);
    CU_ASSERT_EQUAL(g.items_per_block, ib < ni ? ib : ni);
    CU_ASSERT_EQUAL(g.band_is_users, 0);
    CU_ASSERT(same_multiset(a, r, n));
    check_layout(&g, a, n);
    CU_ASSERT_EQUAL(trib_mf_grid_order(&g, o, n, 5, 0), TRIB_OK);
    check_order(&g, a, o, n);
    trib_mf_grid_destroy(&g);
    free(r);
    free(a);
    free(o);
}

static void test_grid_fixed_items(void)
{
    check_fixed_items(3000, 40, 3000, 28, 4 << 10);  /* few users: the plan would give the items their rows */
    check_fixed_items(3000, 400, 3000, 28, 4 << 10);
    check_fixed_items(50, 300, 900, 2, 64 << 10);     /* the cap on cells: user blocks grow */
    check_fixed_items(1, 1, 1, 7, 0);                 /* 1 rating, 1 user, 1 item */
    check_fixed_items(0, 5, 5, 3, 0);                 /* no ratings */
    trib_mf_grid_t g;
    trib_mf_rating_t one = {0, 0, 3.0f};
    CU_ASSERT_EQUAL(trib_mf_grid_create_items(&g, &one, 1, 1, 1, 8, 0, 0), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NULL(g.cell_start);
}

static void test_strata_order(void)
{
    check_strata(1, 4, 300, 2000);
    check_strata(2, 8, 300, 2000);
    check_strata(3, 12, 500, 3000);
    check_strata(5, 20, 700, 1500);
    check_strata(3, 3, 40, 200);  /* fewer bands than rounds: some rounds empty */
    check_strata(2, 2, 1, 1);     /* 1 item, 1 rating per part */
    check_strata(3, 6, 10, 0);    /* no ratings */
    check_strata(4, 8, 900, 4000);
    check_strata(2, 14, 600, 2500);
    /* errors: user bands, rounds not a multiple of the parts, part out of range, n differs */
    trib_mf_rating_t *r = random_ratings(100, 30, 20, 9);
    CU_ASSERT_FATAL(r != NULL);
    trib_mf_grid_t g;
    uint32_t o[100];
    uint64_t rs[9];
    CU_ASSERT_EQUAL_FATAL(trib_mf_grid_create(&g, r, 100, 30, 20, 8, 4 << 10, TRIB_MF_BANDS_USERS), TRIB_OK);
    CU_ASSERT_EQUAL(trib_mf_grid_strata_order(&g, o, 100, 1, 0, 0, 2, 8, rs, NULL, NULL), TRIB_ERR_INVALID_ARG);
    size_t f0, m0, e0;
    CU_ASSERT_EQUAL(trib_mf_grid_group_rows(&g, 8, 0, &f0, &m0, &e0), TRIB_ERR_INVALID_ARG);
    trib_mf_grid_destroy(&g);
    CU_ASSERT_EQUAL_FATAL(trib_mf_grid_create(&g, r, 100, 30, 20, 8, 4 << 10, TRIB_MF_BANDS_ITEMS), TRIB_OK);
    CU_ASSERT_EQUAL(trib_mf_grid_strata_order(&g, o, 100, 1, 0, 0, 3, 8, rs, NULL, NULL), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(trib_mf_grid_strata_order(&g, o, 100, 1, 0, 2, 2, 8, rs, NULL, NULL), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(trib_mf_grid_strata_order(&g, o, 99, 1, 0, 0, 2, 8, rs, NULL, NULL), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(trib_mf_grid_strata_order(&g, o, 100, 1, 0, 0, 2, 8, NULL, NULL, NULL), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(trib_mf_grid_strata_order(&g, o, 100, 1, 0, 1, 2, 8, rs, NULL, NULL), TRIB_OK);
    size_t first = 1, mid = 0, end = 0, prev_end = 0;
    for (uint64_t grp = 0; grp < 8; grp++) { /* consecutive groups covering every item row */
        CU_ASSERT_EQUAL(trib_mf_grid_group_rows(&g, 8, grp, &first, &mid, &end), TRIB_OK);
        CU_ASSERT_EQUAL(first, prev_end);
        CU_ASSERT(first <= mid && mid <= end);
        prev_end = end;
    }
    CU_ASSERT_EQUAL(prev_end, 20);
    CU_ASSERT_EQUAL(trib_mf_grid_group_rows(&g, 8, 8, &first, &mid, &end), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(trib_mf_grid_group_rows(&g, 0, 0, &first, &mid, &end), TRIB_ERR_INVALID_ARG);
    trib_mf_grid_destroy(&g);
    free(r);
}

static void test_grid_odd_sizes(void)
{
    trib_mf_rating_t one = {0, 0, 3.5f};
    CU_ASSERT_EQUAL(check_case(&one, 1, 1, 1, 16, 0), 1);  /* 1 rating, 1 user, 1 item */
    CU_ASSERT(check_case(NULL, 0, 5, 5, 16, 0) >= 1);      /* no ratings */
    trib_mf_rating_t *r = random_ratings(500, 1, 900, 3);  /* 1 user */
    check_case(r, 500, 1, 900, 4, 4096);
    free(r);
    r = random_ratings(500, 900, 1, 4); /* 1 item */
    check_case(r, 500, 900, 1, 4, 4096);
    free(r);
    r = random_ratings(7, 5000, 4000, 5); /* more cells than ratings */
    size_t cells = check_case(r, 7, 5000, 4000, 1, 1);
    CU_ASSERT(cells > 7);
    CU_ASSERT(cells <= 4 * 7 + 64); /* the cap */
    free(r);
    r = random_ratings(3000, 3, 4, 6); /* dense: many duplicate (user, item) pairs */
    check_case(r, 3000, 3, 4, 16, 1);
    free(r);
    one.user = 4999; /* rows covered but never rated: last partial blocks */
    one.item = 3998;
    check_case(&one, 1, 5000, 3999, 33, 1000);
}

/* Different seeds and epochs give different orders (so the order is really drawn afresh). */
static void test_grid_fresh_each_epoch(void)
{
    size_t n = 5000;
    trib_mf_rating_t *r = random_ratings(n, 400, 300, 7);
    uint32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    CU_ASSERT_FATAL(r && a && b);
    trib_mf_grid_t g;
    CU_ASSERT_EQUAL_FATAL(trib_mf_grid_create(&g, r, n, 400, 300, 8, 16 << 10, TRIB_MF_BANDS_LARGER), TRIB_OK);
    CU_ASSERT_EQUAL(trib_mf_grid_order(&g, a, n, 1, 0), TRIB_OK);
    CU_ASSERT_EQUAL(trib_mf_grid_order(&g, b, n, 1, 1), TRIB_OK);
    CU_ASSERT(memcmp(a, b, n * sizeof *a) != 0);
    CU_ASSERT_EQUAL(trib_mf_grid_order(&g, b, n, 2, 0), TRIB_OK);
    CU_ASSERT(memcmp(a, b, n * sizeof *a) != 0);
    /* the first cell visited differs between epochs at least once in 8 (cells are drawn afresh) */
    size_t first = cell_of(&g, &r[a[0]]), differs = 0;
    for (unsigned e = 1; e < 8; e++) {
        CU_ASSERT_EQUAL(trib_mf_grid_order(&g, b, n, 1, e), TRIB_OK);
        differs += cell_of(&g, &r[b[0]]) != first;
    }
    CU_ASSERT(differs > 0);
    trib_mf_grid_destroy(&g);
    free(r);
    free(a);
    free(b);
}

/*
 * The same ratings arriving in another order (another shard count, another
 * reader) give the same grid array, the same orders and, after SGD, the same
 * model bits.  Arrival orders: reversed, shuffled, and "3 shards" interleaved.
 */
static void test_grid_arrival_invariance(void)
{
    size_t n = 12000, nu = 500, ni = 350, k = 24;
    trib_mf_rating_t *base = random_ratings(n, nu, ni, 8);
    trib_mf_rating_t *alt = malloc(n * sizeof *alt);
    uint32_t *oa = malloc(n * sizeof *oa), *ob = malloc(n * sizeof *ob);
    CU_ASSERT_FATAL(base && alt && oa && ob);
    trib_mf_hparams_t hp;
    trib_mf_hparams_default(&hp);
    for (int variant = 0; variant < 3; variant++) {
        if (variant == 0) {
            for (size_t j = 0; j < n; j++)
                alt[j] = base[n - 1 - j];
        } else if (variant == 1) {
            memcpy(alt, base, n * sizeof *alt);
            trib_rng_t rng;
            trib_rng_init(&rng, 9, 9);
            for (size_t j = n; j > 1; j--) {
                size_t i = (size_t)trib_rng_below(&rng, j);
                trib_mf_rating_t t = alt[j - 1];
                alt[j - 1] = alt[i];
                alt[i] = t;
            }
        } else {
            size_t p = 0;
            for (size_t s = 0; s < 3; s++)
                for (size_t j = s; j < n; j += 3)
                    alt[p++] = base[j];
        }
        trib_mf_rating_t *a = malloc(n * sizeof *a);
        CU_ASSERT_FATAL(a != NULL);
        memcpy(a, base, n * sizeof *a);
        trib_mf_grid_t ga, gb;
        CU_ASSERT_EQUAL_FATAL(trib_mf_grid_create(&ga, a, n, nu, ni, k, 32 << 10, TRIB_MF_BANDS_LARGER), TRIB_OK);
        CU_ASSERT_EQUAL_FATAL(trib_mf_grid_create(&gb, alt, n, nu, ni, k, 32 << 10, TRIB_MF_BANDS_LARGER), TRIB_OK);
        CU_ASSERT(memcmp(a, alt, n * sizeof *a) == 0);
        CU_ASSERT(memcmp(ga.cell_start, gb.cell_start, (ga.n_cells + 1) * sizeof *ga.cell_start) == 0);

        trib_mf_model_t ma, mb;
        CU_ASSERT_EQUAL_FATAL(trib_mf_model_create(&ma, k, nu, ni), TRIB_OK);
        CU_ASSERT_EQUAL_FATAL(trib_mf_model_create(&mb, k, nu, ni), TRIB_OK);
        trib_mf_model_init_values(&ma, 3, 0.1f);
        trib_mf_model_init_values(&mb, 3, 0.1f);
        ma.mean = mb.mean = 3.0f;
        for (unsigned e = 0; e < 3; e++) {
            CU_ASSERT_EQUAL(trib_mf_grid_order(&ga, oa, n, 11, e), TRIB_OK);
            CU_ASSERT_EQUAL(trib_mf_grid_order(&gb, ob, n, 11, e), TRIB_OK);
            CU_ASSERT(memcmp(oa, ob, n * sizeof *oa) == 0);
            CU_ASSERT_EQUAL(trib_mf_sgd_run(&ma, &hp, e, a, n, oa, 0, n), TRIB_OK);
            /* in uneven chunks, as rounds would cut it */
            CU_ASSERT_EQUAL(trib_mf_sgd_run(&mb, &hp, e, alt, n, ob, 0, n / 7), TRIB_OK);
            CU_ASSERT_EQUAL(trib_mf_sgd_run(&mb, &hp, e, alt, n, ob, n / 7, n), TRIB_OK);
        }
        CU_ASSERT(memcmp(ma.users.values, mb.users.values, ma.users.n_values * sizeof(float)) == 0);
        CU_ASSERT(memcmp(ma.items.values, mb.items.values, ma.items.n_values * sizeof(float)) == 0);
        trib_mf_model_destroy(&ma);
        trib_mf_model_destroy(&mb);
        trib_mf_grid_destroy(&ga);
        trib_mf_grid_destroy(&gb);
        free(a);
    }
    free(base);
    free(alt);
    free(oa);
    free(ob);
}

/* A model trained with the blocked order learns the planted data as the shuffled order does. */
static void test_blocked_trains(void)
{
    size_t nu = 300, ni = 200, n = 30000, k = 8;
    trib_mf_rating_t *r = malloc(n * sizeof *r);
    CU_ASSERT_FATAL(r != NULL);
    trib_rng_t rng;
    trib_rng_init(&rng, 5, 5);
    for (size_t j = 0; j < n; j++) { /* rating = 3 + user effect + item effect: learnable by biases */
        r[j].user = (uint32_t)trib_rng_below(&rng, nu);
        r[j].item = (uint32_t)trib_rng_below(&rng, ni);
        r[j].rating = 3.0f + 0.25f * (float)((int)(r[j].user % 5) - 2) + 0.25f * (float)((int)(r[j].item % 3) - 1);
    }
    trib_mf_grid_t g;
    CU_ASSERT_EQUAL_FATAL(trib_mf_grid_create(&g, r, n, nu, ni, k, 8 << 10, TRIB_MF_BANDS_LARGER), TRIB_OK);
    CU_ASSERT(g.n_cells > 4);
    uint32_t *o = malloc(n * sizeof *o);
    trib_mf_model_t m;
    CU_ASSERT_FATAL(o && trib_mf_model_create(&m, k, nu, ni) == TRIB_OK);
    trib_mf_model_init_values(&m, 1, 0.1f);
    m.mean = 3.0f;
    trib_mf_hparams_t hp;
    trib_mf_hparams_default(&hp);
    trib_mf_error_sums_t before = {0, 0, 0}, after = {0, 0, 0};
    CU_ASSERT_EQUAL(trib_mf_evaluate(&m, r, n, &before), TRIB_OK);
    for (unsigned e = 0; e < 5; e++) {
        CU_ASSERT_EQUAL(trib_mf_grid_order(&g, o, n, 1, e), TRIB_OK);
        CU_ASSERT_EQUAL(trib_mf_sgd_run(&m, &hp, e, r, n, o, 0, n), TRIB_OK);
    }
    CU_ASSERT_EQUAL(trib_mf_evaluate(&m, r, n, &after), TRIB_OK);
    CU_ASSERT(trib_mf_rmse(&after) < 0.25 * trib_mf_rmse(&before));
    trib_mf_model_destroy(&m);
    trib_mf_grid_destroy(&g);
    free(o);
    free(r);
}

/* The sizing rule: a cell's rows fit in half the cache, larger k means fewer rows, bands are the larger side. */
static void test_grid_sizing(void)
{
    CU_ASSERT(trib_mf_l2_bytes() >= 4096);
    size_t n = 10000; /* enough ratings that the cell cap (4 per rating) does not bind */
    trib_mf_rating_t *r = random_ratings(n, 162541, 59047, 12);
    CU_ASSERT_FATAL(r != NULL);
    size_t ks[] = {16, 32, 64, 128, 256};
    size_t prev_rows = SIZE_MAX;
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        trib_mf_grid_t g;
        CU_ASSERT_EQUAL_FATAL(trib_mf_grid_create(&g, r, n, 162541, 59047, ks[t], 2 << 20, TRIB_MF_BANDS_LARGER),
                              TRIB_OK);
        size_t rows = g.users_per_block + g.items_per_block;
        CU_ASSERT(rows * (trib_mf_stride(ks[t]) * 4 + 8) <= (size_t)1 << 20);
        CU_ASSERT(rows * (trib_mf_stride(ks[t]) * 4 + 8) > (size_t)1 << 19); /* and use most of it */
        CU_ASSERT(rows < prev_rows);
        CU_ASSERT(g.band_is_users);
        CU_ASSERT_EQUAL(g.cache_bytes, 2 << 20);
        prev_rows = rows;
        trib_mf_grid_destroy(&g);
    }
    /* a side smaller than its half gives the rest to the other */
    trib_mf_grid_t g;
    for (size_t j = 0; j < n; j++)
        r[j].item %= 10, r[j].user %= 100000;
    CU_ASSERT_EQUAL_FATAL(trib_mf_grid_create(&g, r, n, 100000, 10, 64, 2 << 20, TRIB_MF_BANDS_LARGER), TRIB_OK);
    CU_ASSERT_EQUAL(g.items_per_block, 10);
    CU_ASSERT(g.users_per_block > 3000);
    CU_ASSERT_EQUAL(g.n_sweep, 1);
    trib_mf_grid_destroy(&g);
    /* cache 0: the detected L2 */
    CU_ASSERT_EQUAL_FATAL(trib_mf_grid_create(&g, NULL, 0, 10, 10, 8, 0, TRIB_MF_BANDS_LARGER), TRIB_OK);
    CU_ASSERT_EQUAL(g.cache_bytes, trib_mf_l2_bytes());
    trib_mf_grid_destroy(&g);
    free(r);
}

static void test_grid_errors(void)
{
    trib_mf_grid_t g;
    trib_mf_rating_t r[2] = {{0, 0, 1.0f}, {3, 0, 1.0f}};
    CU_ASSERT_EQUAL(trib_mf_grid_create(&g, r, 2, 3, 1, 8, 0, TRIB_MF_BANDS_LARGER), TRIB_ERR_RANGE); /* user 3 of 3 */
    CU_ASSERT_PTR_NULL(g.cell_start);
    CU_ASSERT_EQUAL(trib_mf_grid_create(&g, r, 2, 4, 1, 0, 0, TRIB_MF_BANDS_LARGER), TRIB_ERR_INVALID_ARG); /* k = 0 */
    CU_ASSERT_EQUAL(trib_mf_grid_create(&g, NULL, 2, 4, 1, 8, 0, TRIB_MF_BANDS_LARGER), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(trib_mf_grid_create(NULL, r, 2, 4, 1, 8, 0, TRIB_MF_BANDS_LARGER), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL_FATAL(trib_mf_grid_create(&g, r, 2, 4, 1, 8, 0, TRIB_MF_BANDS_LARGER), TRIB_OK);
    uint32_t o[3];
    CU_ASSERT_EQUAL(trib_mf_grid_order(&g, o, 3, 1, 0), TRIB_ERR_INVALID_ARG); /* n differs */
    CU_ASSERT_EQUAL(trib_mf_grid_order(&g, NULL, 2, 1, 0), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(trib_mf_grid_order(&g, o, 2, 1, 0), TRIB_OK);
    trib_mf_grid_destroy(&g);
    CU_ASSERT_EQUAL(trib_mf_grid_order(&g, o, 2, 1, 0), TRIB_ERR_INVALID_ARG); /* destroyed */
    trib_mf_grid_destroy(&g); /* twice is harmless */
    trib_mf_grid_destroy(NULL);
}

int main(void)
{
    static CU_TestInfo tests[] = {{"order names", test_order_names},
                                  {"grid with many cells", test_grid_many_cells},
                                  {"bands on the side asked for", test_grid_bands_side},
                                  {"odd sizes", test_grid_odd_sizes},
                                  {"stratified order", test_strata_order},
                                  {"grid with fixed item blocks", test_grid_fixed_items},
                                  {"fresh order each epoch", test_grid_fresh_each_epoch},
                                  {"independent of arrival order", test_grid_arrival_invariance},
                                  {"blocked order trains", test_blocked_trains},
                                  {"cell sizing", test_grid_sizing},
                                  {"errors", test_grid_errors},
                                  CU_TEST_INFO_NULL};
    static CU_SuiteInfo suites[] = {{"visiting order", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};
    return trib_cunit_run(suites);
}
