/*
 * sgd.c - hyper-parameters, the per-epoch visiting order and the SGD kernels.
 *
 * The hot loop (sgd_step) updates one rating: a dot product of the two rows,
 * the error, then one pass that rewrites both rows from their old values.
 * Rows are padded to a multiple of 16 floats with zeros, and every pass runs
 * over the whole padded stride in chunks of 16: the padding stays zero
 * (0 * a + 0 * b = 0), so one loop serves every k and has no remainder for the
 * compiler to handle.  Batches are instantiated for the common strides 16, 32,
 * 64 and 128 with the stride a compile-time constant (fully unrolled, rows kept
 * in registers between the dot product and the update) plus one generic
 * instance; each schedule (plain, AdaGrad) has its own instances.
 *
 * Vector code: the kernel section is compiled with floating-point contraction
 * (fp-contract=fast; the project builds with -std=c11, which turns it off), and
 * each batch function is cloned for x86-64-v4 (AVX-512), x86-64-v3 (AVX2+FMA)
 * and the baseline; the loader picks the best clone for the CPU at run time,
 * so a Release build without -march=native still uses FMA.  Checked with
 * `objdump -d build/lib/libtributary.so`: the v3 clones of the batch functions
 * contain vfmadd231ps/vfmadd132ps on ymm registers, the v4 clones on zmm, the
 * default clones mulps/addps (see benchmarks/RESULTS.md for the numbers).
 *
 * AdaGrad without a second pass: the squared norm of a row's factor gradient
 * g_p = reg p - e q is expanded as reg^2 |p|^2 - 2 reg e (p.q) + e^2 |q|^2, so
 * the first pass accumulates |p|^2, |q|^2 and p.q together and the update pass
 * is the same as the plain one with per-row coefficients.
 */
#include "tributary/mf.h"

#include <math.h>
#include <string.h>

#include "core/rng.h"

/* ------------------------------------------------------------------ hyper-parameters */

void trib_mf_hparams_default(trib_mf_hparams_t *hp)
{
    hp->schedule = TRIB_MF_DEFAULT_SCHEDULE;
    hp->lr = TRIB_MF_DEFAULT_LR;
    hp->lr_decay = TRIB_MF_DEFAULT_LR_DECAY;
    hp->reg_factors = TRIB_MF_DEFAULT_REG_FACTORS;
    hp->reg_bias = TRIB_MF_DEFAULT_REG_BIAS;
    hp->init_std = TRIB_MF_DEFAULT_INIT_STD;
}

void trib_mf_hparams_for_schedule(trib_mf_hparams_t *hp, trib_mf_schedule_t schedule)
{
    trib_mf_hparams_default(hp);
    hp->schedule = schedule;
    hp->lr = schedule == TRIB_MF_SCHEDULE_PLAIN ? TRIB_MF_DEFAULT_LR_PLAIN : TRIB_MF_DEFAULT_LR_ADAGRAD;
}

int trib_mf_hparams_validate(const trib_mf_hparams_t *hp)
{
    if (!hp)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf: NULL hyper-parameters");
    if (hp->schedule != TRIB_MF_SCHEDULE_PLAIN && hp->schedule != TRIB_MF_SCHEDULE_ADAGRAD)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf: unknown learning-rate schedule %d", (int)hp->schedule);
    if (!(hp->lr > 0.0f) || !isfinite(hp->lr))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf: learning rate must be a positive number (got %g)",
                           (double)hp->lr);
    if (!(hp->lr_decay >= 0.0f) || !isfinite(hp->lr_decay))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf: learning-rate decay must be >= 0 (got %g)",
                           (double)hp->lr_decay);
    if (!(hp->reg_factors >= 0.0f) || !isfinite(hp->reg_factors))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf: factor regularisation must be >= 0 (got %g)",
                           (double)hp->reg_factors);
    if (!(hp->reg_bias >= 0.0f) || !isfinite(hp->reg_bias))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf: bias regularisation must be >= 0 (got %g)",
                           (double)hp->reg_bias);
    if (!(hp->init_std >= 0.0f) || !isfinite(hp->init_std))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf: initial standard deviation must be >= 0 (got %g)",
                           (double)hp->init_std);
    return TRIB_OK;
}

const char *trib_mf_schedule_name(trib_mf_schedule_t s)
{
    switch (s) {
    case TRIB_MF_SCHEDULE_PLAIN: return "plain";
    case TRIB_MF_SCHEDULE_ADAGRAD: return "adagrad";
    }
    return "unknown";
}

int trib_mf_schedule_parse(const char *name, trib_mf_schedule_t *out)
{
    if (name && strcmp(name, "plain") == 0)
        *out = TRIB_MF_SCHEDULE_PLAIN;
    else if (name && strcmp(name, "adagrad") == 0)
        *out = TRIB_MF_SCHEDULE_ADAGRAD;
    else
        return trib_errorf(TRIB_ERR_INVALID_ARG, "unknown learning-rate schedule '%s' (expected plain or adagrad)",
                           name ? name : "(null)");
    return TRIB_OK;
}

float trib_mf_lr_at_epoch(const trib_mf_hparams_t *hp, unsigned epoch)
{
    if (hp->schedule == TRIB_MF_SCHEDULE_ADAGRAD)
        return hp->lr;
    return hp->lr / (1.0f + hp->lr_decay * (float)epoch);
}

int trib_mf_visit_order(uint32_t *order, size_t n, uint64_t seed, unsigned epoch)
{
    if (n > (size_t)UINT32_MAX)
        return trib_errorf(TRIB_ERR_RANGE, "mf: %zu ratings exceed the 2^32 limit of a visiting order", n);
    if (n > 0 && !order)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf: NULL visiting order");
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    trib_rng_t rng;
    trib_rng_init(&rng, seed, trib_hash64(TRIB_MF_TAG_ORDER, epoch));
    trib_rng_shuffle_u32(&rng, order, n);
    return TRIB_OK;
}

/* ------------------------------------------------------------------ kernels */

#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")
/* vf16 values never cross a call (every helper is always_inline), so the
 * warning about the vector-passing ABI of the baseline clone does not apply
 * (GCC reports it at the end of the file, so it stays off from here on). */
#pragma GCC diagnostic ignored "-Wpsabi"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(TRIB_MF_NO_CLONES)
#define MF_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MF_CLONES
#endif
#define MF_INLINE static inline __attribute__((always_inline))
#define CHUNK TRIB_MF_STRIDE_FLOATS

/* Everything one step needs besides the two rows, resolved once per batch. */
typedef struct {
    float mean;
    float lr;       /* plain: the epoch's rate; AdaGrad: the base rate */
    float reg_f;
    float reg_b;
    float inv_k1;   /* 1 / (k + 1): AdaGrad averages the squared gradient over the row */
} step_params_t;

/*
 * 16 floats (one 64-byte chunk of a row) as a GCC/Clang generic vector: the
 * compiler lowers it to one zmm, two ymm or four xmm registers depending on
 * the clone, so the arithmetic below is written once for every target.  Row
 * chunks are 64-byte aligned (tributary/mf.h), which makes the casts valid.
 */
typedef float vf16 __attribute__((vector_size(64)));

MF_INLINE vf16 load16(const float *p) { return *(const vf16 *)p; }
MF_INLINE void store16(float *p, vf16 v) { *(vf16 *)p = v; }

/*
 * Sum of the 16 lanes in a fixed pairwise order (the same result every run):
 * halves added as vectors (16 -> 8 -> 4 lanes), then (l0 + l2) + (l1 + l3).
 * Written with shuffles so it stays a few vector instructions instead of
 * sixteen scalar extracts.
 */
typedef float vf8 __attribute__((vector_size(32)));
typedef float vf4 __attribute__((vector_size(16)));

MF_INLINE float hsum16(vf16 a)
{
    vf8 s8 = __builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7) +
             __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15);
    vf4 s4 = __builtin_shufflevector(s8, s8, 0, 1, 2, 3) + __builtin_shufflevector(s8, s8, 4, 5, 6, 7);
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

/* p.q over the padded stride; two accumulators halve the FMA dependency chain. */
MF_INLINE float dot_rows(const float *restrict p, const float *restrict q, size_t stride)
{
    vf16 a0 = {0}, a1 = {0};
    size_t j = 0;
    for (; j + 2 * CHUNK <= stride; j += 2 * CHUNK) {
        a0 += load16(p + j) * load16(q + j);
        a1 += load16(p + j + CHUNK) * load16(q + j + CHUNK);
    }
    if (j < stride)
        a0 += load16(p + j) * load16(q + j);
    return hsum16(a0 + a1);
}

/* |p|^2, |q|^2 and p.q in one pass (AdaGrad). */
MF_INLINE void dot3_rows(const float *restrict p, const float *restrict q, size_t stride, float *pp, float *qq,
                         float *pq)
{
    vf16 app = {0}, aqq = {0}, apq = {0};
    for (size_t j = 0; j < stride; j += CHUNK) {
        vf16 pv = load16(p + j), qv = load16(q + j);
        app += pv * pv;
        aqq += qv * qv;
        apq += pv * qv;
    }
    *pp = hsum16(app);
    *qq = hsum16(aqq);
    *pq = hsum16(apq);
}

/* p = ku p + cu q and q = ki q + ci p, both from the old values. */
MF_INLINE void update_rows(float *restrict p, float *restrict q, size_t stride, float ku, float cu, float ki, float ci)
{
    for (size_t j = 0; j < stride; j += CHUNK) {
        vf16 pv = load16(p + j), qv = load16(q + j);
        store16(p + j, ku * pv + cu * qv);
        store16(q + j, ki * qv + ci * pv);
    }
}

/* One plain-SGD step on rows p (user) and q (item) for rating r. */
MF_INLINE void step_plain(float *restrict p, float *restrict q, float *bu, float *bi, float r,
                          const step_params_t *sp, size_t stride)
{
    float e = r - (sp->mean + *bu + *bi + dot_rows(p, q, stride));
    float keep = 1.0f - sp->lr * sp->reg_f;
    float g = sp->lr * e;
    update_rows(p, q, stride, keep, g, keep, g);
    *bu += sp->lr * (e - sp->reg_b * *bu);
    *bi += sp->lr * (e - sp->reg_b * *bi);
}

/* Squared norm of reg p - e q from |p|^2, |q|^2, p.q (clamped: rounding may dip below 0). */
MF_INLINE float grad_sq(float reg, float e, float pp, float qq, float pq)
{
    float s = reg * reg * pp - 2.0f * reg * e * pq + e * e * qq;
    return s > 0.0f ? s : 0.0f;
}

/* One AdaGrad step: each row's rate is lr / sqrt(G) with G before the step. */
MF_INLINE void step_adagrad(float *restrict p, float *restrict q, float *bu, float *bi, float *gu, float *gi,
                            float r, const step_params_t *sp, size_t stride)
{
    float pp, qq, pq;
    dot3_rows(p, q, stride, &pp, &qq, &pq);
    float e = r - (sp->mean + *bu + *bi + pq);
    float eta_u = sp->lr / sqrtf(*gu), eta_i = sp->lr / sqrtf(*gi);
    float gbu = sp->reg_b * *bu - e, gbi = sp->reg_b * *bi - e;
    *gu += (grad_sq(sp->reg_f, e, pp, qq, pq) + gbu * gbu) * sp->inv_k1;
    *gi += (grad_sq(sp->reg_f, e, qq, pp, pq) + gbi * gbi) * sp->inv_k1;
    update_rows(p, q, stride, 1.0f - eta_u * sp->reg_f, eta_u * e, 1.0f - eta_i * sp->reg_f, eta_i * e);
    *bu -= eta_u * gbu;
    *bi -= eta_i * gbi;
}

/* What a batch reads and writes. */
typedef struct {
    trib_mf_block_t *users;
    trib_mf_block_t *items;
    const trib_mf_rating_t *ratings;
    const uint32_t *order;
    step_params_t sp;
} batch_t;

/*
 * Software prefetch.  In a shuffled order every rating, user row and item row
 * is a cache miss waiting to happen (the ratings alone are 12 MB for
 * MovieLens-1M), and the row addresses are only known once the rating is
 * loaded.  So rating i + PF_RATING is prefetched, and the two rows of rating
 * i + PF_ROWS (whose rating line arrived meanwhile).
 */
#define PF_RATING 24
#define PF_ROWS 8

MF_INLINE void prefetch_rows(const batch_t *bt, size_t j, size_t stride, uint32_t nu, uint32_t ni)
{
    const trib_mf_rating_t *r = &bt->ratings[bt->order ? bt->order[j] : j];
    if (r->user < nu && r->item < ni) {
        const float *p = bt->users->factors + (size_t)r->user * stride;
        const float *q = bt->items->factors + (size_t)r->item * stride;
        for (size_t c = 0; c < stride; c += CHUNK) {
            __builtin_prefetch(p + c, 1);
            __builtin_prefetch(q + c, 1);
        }
    }
}

/*
 * Runs ratings order[begin..end) with a compile-time stride and schedule once
 * inlined.  Returns end, or the position of the first rating whose row index
 * is out of range (nothing from there on is updated).
 */
MF_INLINE size_t run_batch(const batch_t *bt, size_t begin, size_t end, size_t stride, int adagrad)
{
    float *const uf = bt->users->factors, *const itf = bt->items->factors;
    float *const ub = bt->users->bias, *const ib = bt->items->bias;
    float *const ug = bt->users->adagrad, *const ig = bt->items->adagrad;
    const uint32_t nu = (uint32_t)bt->users->n_rows, ni = (uint32_t)bt->items->n_rows;
    for (size_t i = begin; i < end; i++) {
        if (bt->order && i + PF_RATING < end)
            __builtin_prefetch(&bt->ratings[bt->order[i + PF_RATING]]);
        if (i + PF_ROWS < end)
            prefetch_rows(bt, i + PF_ROWS, stride, nu, ni);
        const trib_mf_rating_t rt = bt->ratings[bt->order ? bt->order[i] : i];
        if (rt.user >= nu || rt.item >= ni)
            return i;
        float *p = __builtin_assume_aligned(uf + (size_t)rt.user * stride, 64);
        float *q = __builtin_assume_aligned(itf + (size_t)rt.item * stride, 64);
        if (adagrad)
            step_adagrad(p, q, &ub[rt.user], &ib[rt.item], &ug[rt.user], &ig[rt.item], rt.rating, &bt->sp, stride);
        else
            step_plain(p, q, &ub[rt.user], &ib[rt.item], rt.rating, &bt->sp, stride);
    }
    return end;
}

#define MF_DEFINE_BATCH(name, stride_expr, adagrad)                                                            \
    MF_CLONES static size_t name(const batch_t *bt, size_t begin, size_t end)                                  \
    {                                                                                                          \
        return run_batch(bt, begin, end, (stride_expr), (adagrad));                                            \
    }

MF_DEFINE_BATCH(batch_plain_16, 16, 0)
MF_DEFINE_BATCH(batch_plain_32, 32, 0)
MF_DEFINE_BATCH(batch_plain_64, 64, 0)
MF_DEFINE_BATCH(batch_plain_128, 128, 0)
MF_DEFINE_BATCH(batch_plain_any, bt->users->stride, 0)
MF_DEFINE_BATCH(batch_adagrad_16, 16, 1)
MF_DEFINE_BATCH(batch_adagrad_32, 32, 1)
MF_DEFINE_BATCH(batch_adagrad_64, 64, 1)
MF_DEFINE_BATCH(batch_adagrad_128, 128, 1)
MF_DEFINE_BATCH(batch_adagrad_any, bt->users->stride, 1)

#pragma GCC pop_options

typedef size_t (*batch_fn)(const batch_t *, size_t, size_t);

static batch_fn pick_batch(size_t stride, int adagrad)
{
    switch (stride) {
    case 16: return adagrad ? batch_adagrad_16 : batch_plain_16;
    case 32: return adagrad ? batch_adagrad_32 : batch_plain_32;
    case 64: return adagrad ? batch_adagrad_64 : batch_plain_64;
    case 128: return adagrad ? batch_adagrad_128 : batch_plain_128;
    default: return adagrad ? batch_adagrad_any : batch_plain_any;
    }
}

int trib_mf_sgd_run(trib_mf_model_t *m, const trib_mf_hparams_t *hp, unsigned epoch,
                    const trib_mf_rating_t *ratings, size_t n_ratings, const uint32_t *order, size_t begin,
                    size_t end)
{
    if (!m || !m->users.values || !m->items.values)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf sgd: model not created");
    if (m->users.k != m->items.k)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf sgd: user k %zu differs from item k %zu", m->users.k,
                           m->items.k);
    int rc = trib_mf_hparams_validate(hp);
    if (rc != TRIB_OK)
        return rc;
    if (begin > end || (!order && end > n_ratings))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf sgd: range [%zu, %zu) is not within %zu ratings", begin, end,
                           n_ratings);
    if (begin == end)
        return TRIB_OK;
    if (!ratings || m->users.n_rows > UINT32_MAX || m->items.n_rows > UINT32_MAX)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf sgd: no ratings or more than 2^32 rows");
    if (order)
        for (size_t i = begin; i < end; i++)
            if (order[i] >= n_ratings)
                return trib_errorf(TRIB_ERR_RANGE, "mf sgd: visiting order entry %zu is %u, beyond %zu ratings", i,
                                   order[i], n_ratings);

    int adagrad = hp->schedule == TRIB_MF_SCHEDULE_ADAGRAD;
    batch_t bt = {
        .users = &m->users,
        .items = &m->items,
        .ratings = ratings,
        .order = order,
        .sp = {.mean = m->mean,
               .lr = trib_mf_lr_at_epoch(hp, epoch),
               .reg_f = hp->reg_factors,
               .reg_b = hp->reg_bias,
               .inv_k1 = 1.0f / (float)(m->users.k + 1)},
    };
    size_t stopped = pick_batch(m->users.stride, adagrad)(&bt, begin, end);
    if (stopped != end) {
        const trib_mf_rating_t *bad = &ratings[order ? order[stopped] : stopped];
        return trib_errorf(TRIB_ERR_RANGE, "mf sgd: rating %zu has user row %u (of %zu) and item row %u (of %zu)",
                           order ? (size_t)order[stopped] : stopped, bad->user, m->users.n_rows, bad->item,
                           m->items.n_rows);
    }
    return TRIB_OK;
}
