/*
 * tributary/mf.h - biased matrix factorisation: model, SGD kernels, evaluation, top-K.
 *
 * The model predicts a rating as
 *
 *     r^(u, i) = mean + b_u + b_i + dot(p_u, q_i)
 *
 * with k latent factors per user (p_u) and per item (q_i).  Users and items
 * are stored in the same structure, a row block (trib_mf_block_t): float32
 * factor rows, 64-byte aligned, with a padded row stride (k rounded up to a
 * multiple of 16 floats; the padding is always zero, so every kernel may
 * simply run over the whole stride), one bias per row, one AdaGrad
 * accumulator per row and the global id of each row.
 *
 * How a data-parallel trainer uses it:
 *   - each rank holds only the users it owns (block `users`: local row r,
 *     global id users.ids[r]) and every item (block `items`, row = item index);
 *   - initial values depend only on (seed, global id), so the model does not
 *     depend on the rank count or on how ratings were sharded
 *     (trib_mf_model_init_values);
 *   - it runs trib_mf_sgd_run() over its local ratings in a per-epoch visiting
 *     order (blocked: trib_mf_grid_order, or shuffled: trib_mf_visit_order),
 *     in chunks between synchronisations;
 *   - the item block keeps factors, biases and AdaGrad sums in ONE contiguous
 *     float array (`values`, `n_values` floats), so one allreduce synchronises
 *     everything.  Model averaging and delta summation are both written with
 *     trib_mf_block_delta / trib_mf_block_apply_delta (see there);
 *   - evaluation returns sums (squared error, absolute error, count) that are
 *     allreduced as three doubles before the RMSE/MAE are formed.
 *
 * Kernels are vectorised by the compiler (vector FMA on AVX2+FMA and AVX-512
 * machines, the level chosen at run time: trib_mf_kernel_isa) and stay
 * portable: the same library runs on any x86-64 (SSE2 fallback) or other
 * architecture.  The layer keeps no global state: calls on different models
 * may run in different threads; calls on one model must not overlap.
 */
#ifndef TRIBUTARY_MF_H
#define TRIBUTARY_MF_H

#include <stddef.h>
#include <stdint.h>
#include "tributary/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ defaults */

/*
 * Defaults.  The kernel sweep in benchmarks/RESULTS.md ("Matrix-factorization
 * kernel") found the plain schedule lr / (1 + decay * epoch) with lr 0.08 and
 * decay 1 best on one rank, with AdaGrad within 0.4% and its kernel about half
 * as fast.  The default is AdaGrad (lr 0.1, no decay) all the same, because
 * with model averaging over P ranks only AdaGrad keeps its quality as P grows
 * (with the item rate x sqrt(P), tributary/train.h "Rank-count invariance";
 * RESULTS.md "Rank-count invariance").  At large k (128) AdaGrad without decay
 * over-fits; --lr-decay 0.15 fixes that there.
 */
#define TRIB_MF_DEFAULT_K 32
#define TRIB_MF_DEFAULT_SCHEDULE TRIB_MF_SCHEDULE_ADAGRAD
#define TRIB_MF_DEFAULT_LR_PLAIN 0.08f    /* plain schedule's rate at epoch 0 */
#define TRIB_MF_DEFAULT_LR_DECAY_PLAIN 1.0f   /* plain: rate lr / (1 + decay * epoch) */
#define TRIB_MF_DEFAULT_LR_DECAY_ADAGRAD 0.0f /* AdaGrad: base rate lr / (1 + decay * epoch) */
#define TRIB_MF_DEFAULT_LR_ADAGRAD 0.1f   /* AdaGrad base rate (the first step of a row) */
#define TRIB_MF_DEFAULT_LR TRIB_MF_DEFAULT_LR_ADAGRAD /* rate of the default schedule */
#define TRIB_MF_DEFAULT_LR_DECAY TRIB_MF_DEFAULT_LR_DECAY_ADAGRAD /* decay of the default schedule */
#define TRIB_MF_DEFAULT_REG_FACTORS 0.02f /* L2 strength on p_u, q_i (per visit) */
#define TRIB_MF_DEFAULT_REG_BIAS 0.01f    /* L2 strength on b_u, b_i (per visit) */
#define TRIB_MF_DEFAULT_INIT_STD 0.1f     /* factors ~ N(0, init_std^2 / k) */

/* Row strides are multiples of this many floats (64 bytes). */
#define TRIB_MF_STRIDE_FLOATS 16
/* Starting value of every AdaGrad accumulator: the first step uses lr itself. */
#define TRIB_MF_ADAGRAD_INIT 1.0f
/* Filler for top-K slots when fewer candidate items than K exist. */
#define TRIB_MF_NO_ITEM UINT32_MAX

/* Purpose tags that key the random streams (stream = hash(tag, global id)). */
#define TRIB_MF_TAG_USER UINT64_C(0x7573657266616374) /* "userfact" */
#define TRIB_MF_TAG_ITEM UINT64_C(0x6974656d66616374) /* "itemfact" */
#define TRIB_MF_TAG_ORDER UINT64_C(0x6570636f72646572) /* "epcorder" */

/* ------------------------------------------------------------------ row block */

/*
 * n_rows rows of k factors.  Layout of the single allocation `values`:
 *
 *   values: [ factors: n_rows * stride ][ bias: n_rows, padded to 16 ][ adagrad: n_rows, padded ]
 *            ^ factors                   ^ bias                         ^ adagrad
 *
 * factors + r * stride is row r (64-byte aligned); floats k..stride-1 of each
 * row, and the padding after bias/adagrad, are zero and must stay zero.
 * ids[r] is the global id of row r (set by the caller; defaults to r).
 */
typedef struct {
    size_t n_rows;
    size_t k;
    size_t stride;     /* floats between consecutive rows: k rounded up to 16 */
    float *values;     /* the one allocation: factors, bias, adagrad */
    size_t n_values;   /* floats in `values` (what to allreduce) */
    float *factors;    /* n_rows * stride */
    float *bias;       /* n_rows */
    float *adagrad;    /* n_rows: accumulated mean squared gradient of the row */
    int64_t *ids;      /* n_rows global ids */
} trib_mf_block_t;

/* k rounded up to TRIB_MF_STRIDE_FLOATS (0 for k = 0). */
TRIB_API size_t trib_mf_stride(size_t k);

/* Allocates a zeroed block (ids[r] = r).  k >= 1; n_rows may be 0. */
TRIB_API int trib_mf_block_create(trib_mf_block_t *b, size_t n_rows, size_t k);
/* Frees a block made by trib_mf_block_create (or a zeroed struct); leaves it zeroed. */
TRIB_API void trib_mf_block_destroy(trib_mf_block_t *b);
/* Allocates dst as a copy of src (values and ids). */
TRIB_API int trib_mf_block_clone(trib_mf_block_t *dst, const trib_mf_block_t *src);
/* Copies values (factors, bias, adagrad) between blocks of the same shape: a snapshot. */
TRIB_API int trib_mf_block_copy_values(trib_mf_block_t *dst, const trib_mf_block_t *src);

/*
 * Unpadded factor copies for files (HDF5 model, checkpoints): out / in hold
 * n_rows * k floats, row-major, no padding.  set_factors keeps the padding zero.
 */
TRIB_API void trib_mf_block_get_factors(const trib_mf_block_t *b, float *out);
TRIB_API void trib_mf_block_set_factors(trib_mf_block_t *b, const float *in);

/* Row r's factors. */
static inline float *trib_mf_row(const trib_mf_block_t *b, size_t r) { return b->factors + r * b->stride; }

/*
 * Deterministic initial values from (seed, tag, ids[r]) only, so the result
 * does not depend on row order, rank count or sharding: factor f of a row is
 * normal with mean 0 and standard deviation init_std / sqrt(k), drawn from the
 * stream hash64(tag, id) of seed; biases 0; AdaGrad sums TRIB_MF_ADAGRAD_INIT.
 */
TRIB_API void trib_mf_block_init_values(trib_mf_block_t *b, uint64_t seed, uint64_t tag, float init_std);

/*
 * Synchronisation helpers.  All ranks start a round from identical item
 * values `snap` (a snapshot taken with trib_mf_block_copy_values), run local
 * SGD on `cur`, then:
 *
 *   trib_mf_block_delta(delta, cur, snap);            delta = cur - snap
 *   trib_allreduce(delta->values -> sum, n_values, MPI_FLOAT, MPI_SUM)
 *   trib_mf_block_apply_delta(cur, snap, sum, scale); cur = snap + scale * sum
 *                                                      snap = cur  (next round)
 *
 * scale = 1/P is model averaging (the mean of the P replicas); scale = 1 is
 * delta summation (every rank's update applied, as if run one after another).
 * The result is identical on every rank when the allreduce result is.
 * `sum` may be delta->values; `delta` may not alias cur or snap.
 */
TRIB_API int trib_mf_block_delta(trib_mf_block_t *delta, const trib_mf_block_t *cur, const trib_mf_block_t *snap);
TRIB_API int trib_mf_block_apply_delta(trib_mf_block_t *cur, const trib_mf_block_t *snap, const float *sum,
                                       float scale);

/* ------------------------------------------------------------------ model */

typedef struct {
    trib_mf_block_t users; /* this rank's users (ids = global user ids) */
    trib_mf_block_t items; /* all items (ids = global item ids) */
    float mean;            /* global mean rating */
    float rating_min;      /* predictions for evaluation are clipped to */
    float rating_max;      /*   [rating_min, rating_max] */
} trib_mf_model_t;

/* Allocates both blocks zeroed, ids = row index, mean 0, range [-inf, inf]. */
TRIB_API int trib_mf_model_create(trib_mf_model_t *m, size_t k, size_t n_users, size_t n_items);
TRIB_API void trib_mf_model_destroy(trib_mf_model_t *m);
/* Initialises users (TRIB_MF_TAG_USER) and items (TRIB_MF_TAG_ITEM) from their ids. */
TRIB_API void trib_mf_model_init_values(trib_mf_model_t *m, uint64_t seed, float init_std);

/* ------------------------------------------------------------------ training */

typedef enum {
    TRIB_MF_SCHEDULE_PLAIN = 0,  /* rate lr / (1 + lr_decay * epoch), same for every row */
    TRIB_MF_SCHEDULE_ADAGRAD = 1 /* rate lr / sqrt(G_row), G_row += mean squared gradient (as LIBMF) */
} trib_mf_schedule_t;

typedef struct {
    trib_mf_schedule_t schedule;
    float lr;          /* > 0 */
    float lr_decay;    /* >= 0: the (base) rate at epoch e is lr / (1 + lr_decay * e), both schedules */
    float reg_factors; /* >= 0: L2 on p_u and q_i, applied at every visit */
    float reg_bias;    /* >= 0: L2 on b_u and b_i */
    float init_std;    /* >= 0 */
    /* > 0: item rows learn at lr x item_lr_scale (users at lr); default 1.  The trainer sets
     * sqrt(P) for AdaGrad with model averaging over P replicas (tributary/train.h, "Rank-count
     * invariance"). */
    float item_lr_scale;
} trib_mf_hparams_t;

/* The TRIB_MF_DEFAULT_* values (default schedule). */
TRIB_API void trib_mf_hparams_default(trib_mf_hparams_t *hp);
/* The defaults for a given schedule (its own default rate; the rest as above). */
TRIB_API void trib_mf_hparams_for_schedule(trib_mf_hparams_t *hp, trib_mf_schedule_t schedule);
/* TRIB_OK or TRIB_ERR_INVALID_ARG with a message naming the bad field. */
TRIB_API int trib_mf_hparams_validate(const trib_mf_hparams_t *hp);
/* Name of a schedule ("plain", "adagrad") and the reverse (TRIB_ERR_INVALID_ARG if unknown). */
TRIB_API const char *trib_mf_schedule_name(trib_mf_schedule_t s);
TRIB_API int trib_mf_schedule_parse(const char *name, trib_mf_schedule_t *out);

/* One training rating: local user row, item row, value.  12 bytes. */
typedef struct {
    uint32_t user;
    uint32_t item;
    float rating;
} trib_mf_rating_t;

/*
 * One SGD step per rating, for ratings[order[i]], i = begin .. end-1
 * (order NULL: ratings[i]).  Per rating, with e = r - prediction (unclipped),
 * eta_u, eta_i the rates of the two rows:
 *
 *   p_u += eta_u (e q_i - reg_factors p_u)     b_u += eta_u (e - reg_bias b_u)
 *   q_i += eta_i (e p_u - reg_factors q_i)     b_i += eta_i (e - reg_bias b_i)
 *
 * (both from the values before the step).  Plain: eta = lr / (1 + lr_decay *
 * epoch).  AdaGrad: eta = lr / sqrt(G) with the row's G before the step, then
 * G += (|gradient of the factors|^2 + gradient of the bias^2) / (k + 1).
 * Returns TRIB_ERR_RANGE (nothing after the bad rating updated) when a row
 * index is out of range, TRIB_ERR_INVALID_ARG for shape mismatches.
 */
TRIB_API int trib_mf_sgd_run(trib_mf_model_t *m, const trib_mf_hparams_t *hp, unsigned epoch,
                             const trib_mf_rating_t *ratings, size_t n_ratings, const uint32_t *order,
                             size_t begin, size_t end);

/*
 * The instruction-set level the kernels run at on this CPU, e.g. "x86-64-v4
 * (AVX-512, 16-float vectors)"; for start-up logs.  The environment variable
 * TRIB_MF_ISA=v3|base lowers the level (never raises it).
 */
TRIB_API const char *trib_mf_kernel_isa(void);

/* lr / (1 + lr_decay * epoch): the plain schedule's rate, AdaGrad's base rate at `epoch`. */
TRIB_API float trib_mf_lr_at_epoch(const trib_mf_hparams_t *hp, unsigned epoch);

/*
 * order[0..n) = a permutation of 0..n-1, a pure function of (seed, epoch, n):
 * stream hash64(TRIB_MF_TAG_ORDER, epoch) of `seed`.  n < 2^32.
 */
TRIB_API int trib_mf_visit_order(uint32_t *order, size_t n, uint64_t seed, unsigned epoch);

/* ------------------------------------------------------------------ visiting orders */

/*
 * How the ratings of one epoch are visited (both orders are a pure function
 * of the seed and the epoch, and visit every rating exactly once per epoch):
 *   shuffle  a uniform random permutation of all local ratings
 *            (trib_mf_visit_order): every update touches a random user row and
 *            a random item row, so once the factors outgrow the caches the
 *            kernel waits on memory;
 *   blocked  ratings grouped once into a grid of user-range x item-range
 *            cells whose rows fit in L2, cells visited in a fresh seeded order
 *            every epoch, ratings shuffled within a cell (trib_mf_grid_t).
 * The default is the one measured faster at equal test RMSE
 * (benchmarks/RESULTS.md, "## Training at scale").
 */
typedef enum {
    TRIB_MF_ORDER_SHUFFLE = 0,
    TRIB_MF_ORDER_BLOCKED = 1
} trib_mf_order_t;

#define TRIB_MF_DEFAULT_ORDER TRIB_MF_ORDER_BLOCKED
/* Purpose tag of the blocked order's random stream ("blkorder"). */
#define TRIB_MF_TAG_BLOCKED UINT64_C(0x626c6b6f72646572)

/* "shuffle" | "blocked", and the reverse (TRIB_ERR_INVALID_ARG if unknown). */
TRIB_API const char *trib_mf_order_name(trib_mf_order_t o);
TRIB_API int trib_mf_order_parse(const char *name, trib_mf_order_t *out);

/*
 * The grid of the blocked order over n_users x n_items rows (see src/mf/grid.c
 * for the sizing rule).  Blocks are ranges of consecutive rows: user block b
 * holds rows [b * users_per_block, (b + 1) * users_per_block), likewise items.
 * One side is cut into "bands" (band_is_users), the other side into "sweep"
 * blocks; cell c = band * n_sweep + sweep holds the ratings
 * [cell_start[c], cell_start[c + 1]) of the array the grid was built on.
 * Which side makes the bands (trib_mf_bands_t):
 *   LARGER  the side with more rows (the fastest: each step brings in at most
 *           one row of the smaller side from outside L2);
 *   USERS   user blocks.  For a trainer whose item rows are replicas averaged
 *           every round: with item bands an item gets all of an epoch's local
 *           updates within one round, the replicas drift apart, and the
 *           average loses most of it (benchmarks/RESULTS.md, "Bands when the
 *           items are averaged");
 *   ITEMS   item blocks.
 */
typedef enum {
    TRIB_MF_BANDS_LARGER = 0,
    TRIB_MF_BANDS_USERS = 1,
    TRIB_MF_BANDS_ITEMS = 2
} trib_mf_bands_t;

typedef struct {
    size_t n_users, n_items;   /* rows covered */
    size_t users_per_block;    /* >= 1 */
    size_t items_per_block;    /* >= 1 */
    size_t n_bands, n_sweep;   /* blocks of the band side and of the other side */
    int band_is_users;         /* 1: bands are user blocks */
    size_t n_cells;            /* n_bands * n_sweep */
    size_t n_ratings;
    size_t cache_bytes;        /* the L2 size the cells were sized for */
    uint64_t *cell_start;      /* n_cells + 1 offsets */
} trib_mf_grid_t;

/*
 * L2 cache of one core in bytes, found at run time (sysconf, then sysfs);
 * 1 MiB when neither says.
 */
TRIB_API size_t trib_mf_l2_bytes(void);

/*
 * Builds the grid for ratings[0..n) (user, item < n_users, n_items; k the
 * model's factors) and REORDERS the ratings in place: cell by cell, and by
 * (user, item, rating bits) within a cell, so the result depends only on the
 * set of ratings, not on the order they arrived in (nor on the dataset's
 * shard count).  cache_bytes 0 means trib_mf_l2_bytes(); bands picks the
 * side cut into bands (above).  Temporary memory:
 * one cell's ratings, one counter per cell and one word per user and per item
 * row; the ratings are regrouped in place.  n < 2^32.
 * TRIB_ERR_RANGE when a rating's row is out of range (ratings then partly
 * reordered), TRIB_ERR_NOMEM.  Free with trib_mf_grid_destroy.
 */
TRIB_API int trib_mf_grid_create(trib_mf_grid_t *g, trib_mf_rating_t *ratings, size_t n, size_t n_users,
                                 size_t n_items, size_t k, size_t cache_bytes, trib_mf_bands_t bands);
/*
 * As trib_mf_grid_create with item bands of exactly items_per_block rows (at most n_items), the
 * user blocks planned from cache_bytes as there.  Ranks that must cut the items alike (the
 * stratified order's groups, trib_mf_grid_group_rows) pass the same items_per_block, where
 * trib_mf_grid_create's plan depends on the local user and rating counts.
 */
TRIB_API int trib_mf_grid_create_items(trib_mf_grid_t *g, trib_mf_rating_t *ratings, size_t n, size_t n_users,
                                       size_t n_items, size_t k, size_t cache_bytes, size_t items_per_block);
/* Frees a grid (or a zeroed struct); leaves it zeroed. */
TRIB_API void trib_mf_grid_destroy(trib_mf_grid_t *g);

/*
 * order[0..n) = the blocked visiting order of `epoch`, n = g->n_ratings: a
 * permutation of 0..n-1, a pure function of (seed, epoch, grid): bands in a
 * seeded order, the cells of a band in a seeded order, the ratings of a cell
 * shuffled (stream hash64(TRIB_MF_TAG_BLOCKED, epoch) of `seed`).
 */
TRIB_API int trib_mf_grid_order(const trib_mf_grid_t *g, uint32_t *order, size_t n, uint64_t seed, unsigned epoch);

/* Purpose tag of the stratified order's random stream ("stratord"). */
#define TRIB_MF_TAG_STRATA UINT64_C(0x73747261746f7264)

/*
 * The stratified blocked order of `epoch` for part `part` of `parts` (a rank of P), over a grid
 * whose bands are item blocks (band_is_users 0; TRIB_ERR_INVALID_ARG otherwise), in `rounds`
 * rounds (a multiple of parts).  The item bands are cut into `rounds` groups of consecutive
 * bands (trib_mf_grid_group_rows); in round r part p visits the cells of group
 *     ((p + perm[r mod parts]) mod parts) * Q + qperm[r div parts],   Q = rounds / parts,
 * with perm (of the parts) and qperm (of 0..Q-1) drawn per epoch from the stream
 * hash64(TRIB_MF_TAG_STRATA, epoch) of `seed`, so every part draws the same and in every round
 * the parts visit disjoint item groups, while each part visits every group once per epoch.
 * The stratum (perm[r mod parts]) changes every round, so an item meets the parts' users in
 * turn; keeping a part on one stratum for Q consecutive rounds measured worse, and so did
 * spacing an item group's visits 2 or Q rounds apart (benchmarks/RESULTS.md, "Stratified rounds").
 * A round visits its group in two halves: the bands of the group's first half (rows
 * [first, mid) of trib_mf_grid_group_rows), then those of its second half, each band's cells and
 * each cell's ratings in seeded orders, as trib_mf_grid_order.  So no row a part changes in a
 * round's first half is touched by any part in that round's second half, and no row of a second
 * half in the next round's first half: a trainer can exchange each half's rows while the next
 * half runs.  order[0..n) is a permutation of 0..n-1 (n = g->n_ratings); round_start[0..rounds]
 * the position where each round starts (round_start[rounds] = n); when not NULL,
 * round_half[0..rounds) the position where each round's second half starts, and
 * round_group[0..rounds) the group the part visits in each round.
 */
TRIB_API int trib_mf_grid_strata_order(const trib_mf_grid_t *g, uint32_t *order, size_t n, uint64_t seed,
                                       unsigned epoch, unsigned part, unsigned parts, uint64_t rounds,
                                       uint64_t *round_start, uint64_t *round_half, uint32_t *round_group);

/*
 * The item rows [*first, *end) of group `group` of the stratified order in `rounds` rounds (see
 * above), and *mid where the rows of its second half start: the rows of its bands.  Groups are
 * consecutive, disjoint and cover every item row; grids with the same items_per_block and
 * n_items give the same rows.  A group or a half may be empty.
 */
TRIB_API int trib_mf_grid_group_rows(const trib_mf_grid_t *g, uint64_t rounds, uint64_t group, size_t *first,
                                     size_t *mid, size_t *end);

/* ------------------------------------------------------------------ evaluation */

/* Sums over a rating set; three doubles, so ranks combine them with one allreduce. */
typedef struct {
    double sq_err;  /* sum of (clip(prediction) - r)^2 */
    double abs_err; /* sum of |clip(prediction) - r| */
    double count;   /* number of ratings */
} trib_mf_error_sums_t;

/* Prediction for (user row, item row), clipped to the model's rating range. */
TRIB_API float trib_mf_predict(const trib_mf_model_t *m, uint32_t user, uint32_t item);
/* ADDS the errors over ratings[0..n) to *sums (zero it first).  TRIB_ERR_RANGE on a bad row. */
TRIB_API int trib_mf_evaluate(const trib_mf_model_t *m, const trib_mf_rating_t *ratings, size_t n,
                              trib_mf_error_sums_t *sums);
/* sqrt(sq_err / count) and abs_err / count (NaN when count is 0). */
TRIB_API double trib_mf_rmse(const trib_mf_error_sums_t *s);
TRIB_API double trib_mf_mae(const trib_mf_error_sums_t *s);

/* ------------------------------------------------------------------ top-K */

/*
 * Items to leave out per user (e.g. already rated in training), CSR form
 * indexed by USER ROW: items[offsets[u] .. offsets[u+1]) sorted ascending,
 * offsets has users.n_rows + 1 entries.
 */
typedef struct {
    const size_t *offsets;
    const uint32_t *items;
} trib_mf_exclusion_t;

/*
 * The K best items for each of users[0..n_users) (user rows), best first:
 * out_items[u*K + j] (item rows) and out_scores[u*K + j] (unclipped predicted
 * rating).  Scores come from blocks of users x all items with sgemm, plus
 * biases and mean; a bounded heap keeps the K best.  Ties are broken by the
 * smaller item row, so the result is deterministic.  Excluded items are
 * skipped (exclude may be NULL).  When fewer than K items remain, the rest of
 * the row is TRIB_MF_NO_ITEM / -INFINITY.  out_scores may be NULL.
 * sgemm runs on as many threads as OpenBLAS is configured for: MPI programs
 * should set OPENBLAS_NUM_THREADS=1 (one rank per core).
 */
TRIB_API int trib_mf_topk(const trib_mf_model_t *m, const uint32_t *users, size_t n_users, size_t K,
                          const trib_mf_exclusion_t *exclude, uint32_t *out_items, float *out_scores);

/*
 * Ranking-metric sums over users, combinable across ranks as four doubles:
 * divide precision, recall and ndcg by `users` for the means.
 */
typedef struct {
    double precision; /* sum over users of hits / K */
    double recall;    /* sum over users of hits / |relevant| */
    double ndcg;      /* sum over users of DCG@K / ideal DCG@K (binary relevance) */
    double users;     /* users with at least one relevant item */
} trib_mf_rank_sums_t;

/*
 * Adds one user's metrics: top[0..K) the recommended item rows (best first,
 * TRIB_MF_NO_ITEM counts as a miss), relevant[0..n_relevant) the held-out
 * item rows sorted ascending, duplicates not allowed.  A user with no
 * relevant items is not counted.  DCG = sum over hits at rank j (0-based) of
 * 1 / log2(j + 2); the ideal DCG puts min(K, n_relevant) hits first.
 */
TRIB_API void trib_mf_rank_metrics_add(trib_mf_rank_sums_t *s, const uint32_t *top, size_t K,
                                       const uint32_t *relevant, size_t n_relevant);

#ifdef __cplusplus
}
#endif
#endif /* TRIBUTARY_MF_H */
