/*
 * synth.c - synthetic ratings from a planted low-rank model (see data.h for
 * the model).  The right answer is known: the noise std is the floor a
 * perfect model reaches, and the RMSE of the planted model on the generated
 * ratings (true_model_rmse) is stored with the data.
 *
 * Determinism: every draw comes from a counter-based stream keyed by the seed
 * and a global id (user factors: (seed, USER, u); item factors: (seed, ITEM,
 * i); the items, noise and timestamps of user u: (seed, RATINGS, u)).  So the
 * ratings of a user do not depend on which other users are generated, on the
 * shard count or on the rank count.
 *
 * Shape: users get rating counts ~ (rank+1)^-user_exponent (ranks shuffled over
 * user ids), at least one each when n_ratings >= n_users, at most n_items.  A
 * user's items are drawn without replacement from the item popularity
 * distribution ~ (rank+1)^-item_exponent: by rejection against a bitmap, or
 * for very active users (or when rejection stalls) by weighted sampling
 * without replacement over all items (Efraimidis-Spirakis keys log(U)/w).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/internal.h"

enum { TAG_USER_PERM = 1, TAG_ITEM_PERM, TAG_USER, TAG_ITEM, TAG_RATINGS };
#define TS_BASE INT64_C(946684800) /* 2000-01-01 */
#define TS_SPAN UINT64_C(631152000) /* 20 years */

void trib_synth_config_init(trib_synth_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->n_users = 1000;
    c->n_items = 500;
    c->n_ratings = 20000;
    c->rank = 8;
    c->noise_std = 0.5;
    c->seed = 1;
    c->user_exponent = 0.8;
    c->item_exponent = 1.0;
    c->global_mean = 3.5;
    c->bias_std = 0.3;
    c->signal_var = 1.0;
    c->clip_min = 1.0;
    c->clip_max = 5.0;
    c->with_timestamp = 1;
}

int trib_synth_config_validate(const trib_synth_config_t *c)
{
    if (!c)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "synth: NULL configuration");
    if (c->n_users == 0 || c->n_users >= UINT32_MAX || c->n_items == 0 || c->n_items >= UINT32_MAX)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "synth: users and items must be in 1..4294967294");
    if (c->n_ratings == 0 || c->n_ratings >= UINT32_MAX)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "synth: ratings must be in 1..4294967294");
    if (c->n_ratings / c->n_users > c->n_items ||
        (c->n_ratings / c->n_users == c->n_items && c->n_ratings % c->n_users))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "synth: %llu ratings do not fit in %llu users x %llu items",
                           (unsigned long long)c->n_ratings, (unsigned long long)c->n_users,
                           (unsigned long long)c->n_items);
    if (c->rank < 1 || c->rank > 4096)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "synth: rank %u out of range 1..4096", c->rank);
    if (!(c->noise_std >= 0) || !isfinite(c->noise_std))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "synth: noise must be a finite number >= 0");
    if (!(c->user_exponent >= 0 && c->user_exponent <= 5) || !(c->item_exponent >= 0 && c->item_exponent <= 5))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "synth: power-law exponents must be in [0, 5]");
    if (!isfinite(c->global_mean) || !(c->bias_std >= 0) || !isfinite(c->bias_std) || !(c->signal_var >= 0) ||
        !isfinite(c->signal_var))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "synth: mean, bias std and signal variance must be finite");
    if (c->clip && !(c->clip_min < c->clip_max))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "synth: clip range must have min < max");
    return TRIB_OK;
}

/* Factor row and bias of one user or item, from its own stream. */
static double factor_row(const trib_synth_config_t *c, int tag, uint64_t id, float *vec)
{
    trib_rng_t r;
    trib_rng_init(&r, c->seed, trib_hash64(tag, id));
    double s = pow(c->signal_var / c->rank, 0.25);
    for (uint32_t f = 0; f < c->rank; f++)
        vec[f] = (float)(s * trib_rng_normal(&r));
    return c->bias_std * trib_rng_normal(&r);
}

static double clamp(const trib_synth_config_t *c, double v)
{
    if (!c->clip)
        return v;
    return v < c->clip_min ? c->clip_min : v > c->clip_max ? c->clip_max : v;
}

typedef struct {
    const trib_synth_config_t *c;
    uint64_t *deg;    /* ratings per user */
    double *item_w;   /* popularity weight per item */
    double *alias_p;  /* Vose alias table */
    uint32_t *alias_j;
    float *Q;         /* n_items x rank */
    double *bi;
    uint64_t *seen;   /* bitmap over items */
    double *keys;     /* scratch for weighted sampling without replacement */
    uint32_t *idx;
} synth_t;

static void synth_free(synth_t *s)
{
    free(s->deg);
    free(s->item_w);
    free(s->alias_p);
    free(s->alias_j);
    free(s->Q);
    free(s->bi);
    free(s->seen);
    free(s->keys);
    free(s->idx);
}

/* weights[id] = (rank(id)+1)^-exponent, with ranks a seeded shuffle of the ids. */
static int powerlaw_weights(const trib_synth_config_t *c, int tag, uint64_t n, double exponent, double *w,
                            uint32_t *order)
{
    uint32_t *perm = order ? order : malloc(n * sizeof *perm);
    if (!perm)
        return trib_errorf(TRIB_ERR_NOMEM, "synth: out of memory");
    for (uint64_t j = 0; j < n; j++)
        perm[j] = (uint32_t)j;
    trib_rng_t r;
    trib_rng_init(&r, c->seed, trib_hash64(tag, 0));
    trib_rng_shuffle_u32(&r, perm, n);
    for (uint64_t j = 0; j < n; j++) /* perm[j] is the id at popularity rank j */
        w[perm[j]] = pow((double)(j + 1), -exponent);
    if (!order)
        free(perm);
    return TRIB_OK;
}

static int user_degrees(const trib_synth_config_t *c, uint64_t *deg)
{
    uint64_t U = c->n_users, I = c->n_items, N = c->n_ratings;
    double *w = malloc(U * sizeof *w);
    uint32_t *order = malloc(U * sizeof *order);
    int rc = (!w || !order) ? trib_errorf(TRIB_ERR_NOMEM, "synth: out of memory") : TRIB_OK;
    if (rc == TRIB_OK)
        rc = powerlaw_weights(c, TAG_USER_PERM, U, c->user_exponent, w, order);
    if (rc == TRIB_OK) {
        double W = 0;
        for (uint64_t u = 0; u < U; u++)
            W += w[u];
        uint64_t base = N >= U ? 1 : 0, rest = N - base * U, sum = 0;
        for (uint64_t u = 0; u < U; u++) {
            uint64_t d = base + (uint64_t)floor((double)rest * w[u] / W);
            deg[u] = d > I ? I : d;
            sum += deg[u];
        }
        /* Hand out what rounding and capping left, one per user in popularity order. */
        while (sum < N) {
            for (uint64_t j = 0; j < U && sum < N; j++) {
                uint32_t u = order[j];
                if (deg[u] < I) {
                    deg[u]++;
                    sum++;
                }
            }
        }
        while (sum > N) { /* floor rounding of doubles can overshoot by a few */
            for (uint64_t j = U; j-- > 0 && sum > N;) {
                uint32_t u = order[j];
                if (deg[u] > base) {
                    deg[u]--;
                    sum--;
                }
            }
        }
    }
    free(w);
    free(order);
    return rc;
}

static int build_alias(synth_t *s)
{
    uint64_t n = s->c->n_items;
    s->alias_p = malloc(n * sizeof *s->alias_p);
    s->alias_j = malloc(n * sizeof *s->alias_j);
    uint32_t *small = malloc(n * sizeof *small), *large = malloc(n * sizeof *large);
    if (!s->alias_p || !s->alias_j || !small || !large) {
        free(small);
        free(large);
        return trib_errorf(TRIB_ERR_NOMEM, "synth: out of memory");
    }
    double W = 0;
    for (uint64_t i = 0; i < n; i++)
        W += s->item_w[i];
    size_t ns = 0, nl = 0;
    for (uint64_t i = 0; i < n; i++) {
        s->alias_p[i] = s->item_w[i] * (double)n / W;
        s->alias_j[i] = (uint32_t)i;
        if (s->alias_p[i] < 1.0)
            small[ns++] = (uint32_t)i;
        else
            large[nl++] = (uint32_t)i;
    }
    while (ns && nl) {
        uint32_t a = small[--ns], b = large[nl - 1];
        s->alias_j[a] = b;
        s->alias_p[b] -= 1.0 - s->alias_p[a];
        if (s->alias_p[b] < 1.0) {
            nl--;
            small[ns++] = b;
        }
    }
    while (nl)
        s->alias_p[large[--nl]] = 1.0;
    while (ns)
        s->alias_p[small[--ns]] = 1.0;
    free(small);
    free(large);
    return TRIB_OK;
}

static int synth_init(synth_t *s, const trib_synth_config_t *c)
{
    memset(s, 0, sizeof *s);
    s->c = c;
    int rc = trib_synth_config_validate(c);
    if (rc != TRIB_OK)
        return rc;
    uint64_t I = c->n_items;
    s->deg = malloc(c->n_users * sizeof *s->deg);
    s->item_w = malloc(I * sizeof *s->item_w);
    s->Q = malloc(I * c->rank * sizeof *s->Q);
    s->bi = malloc(I * sizeof *s->bi);
    s->seen = calloc((I + 63) / 64, sizeof *s->seen);
    s->keys = malloc(I * sizeof *s->keys);
    s->idx = malloc(I * sizeof *s->idx);
    if (!s->deg || !s->item_w || !s->Q || !s->bi || !s->seen || !s->keys || !s->idx)
        rc = trib_errorf(TRIB_ERR_NOMEM, "synth: out of memory");
    if (rc == TRIB_OK)
        rc = user_degrees(c, s->deg);
    if (rc == TRIB_OK)
        rc = powerlaw_weights(c, TAG_ITEM_PERM, I, c->item_exponent, s->item_w, NULL);
    if (rc == TRIB_OK)
        rc = build_alias(s);
    for (uint64_t i = 0; rc == TRIB_OK && i < I; i++)
        s->bi[i] = factor_row(c, TAG_ITEM, i, s->Q + i * c->rank);
    if (rc != TRIB_OK)
        synth_free(s);
    return rc;
}

static int cmp_key_desc(const void *a, const void *b, void *ctx)
{
    const double *keys = ctx;
    double x = keys[*(const uint32_t *)a], y = keys[*(const uint32_t *)b];
    if (x != y)
        return x < y ? 1 : -1;
    return (*(const uint32_t *)a > *(const uint32_t *)b) - (*(const uint32_t *)a < *(const uint32_t *)b);
}

/* d distinct items by weighted sampling without replacement over all items. */
static void pick_weighted_all(synth_t *s, trib_rng_t *r, uint64_t d, uint32_t *items)
{
    uint64_t I = s->c->n_items;
    for (uint64_t i = 0; i < I; i++) {
        double u = ((double)(trib_rng_u64(r) >> 11) + 0.5) * 0x1.0p-53;
        s->keys[i] = log(u) / s->item_w[i];
        s->idx[i] = (uint32_t)i;
    }
    qsort_r(s->idx, I, sizeof *s->idx, cmp_key_desc, s->keys);
    memcpy(items, s->idx, d * sizeof *items);
}

static void pick_items(synth_t *s, trib_rng_t *r, uint64_t d, uint32_t *items)
{
    uint64_t I = s->c->n_items;
    if (d * 8 > I) {
        pick_weighted_all(s, r, d, items);
        return;
    }
    uint64_t got = 0, draws = 0, limit = 64 * d + 1000;
    while (got < d && draws++ < limit) {
        uint64_t j = trib_rng_below(r, I);
        uint32_t it = trib_rng_uniform(r) < s->alias_p[j] ? (uint32_t)j : s->alias_j[j];
        uint64_t bit = UINT64_C(1) << (it & 63);
        if (s->seen[it >> 6] & bit)
            continue;
        s->seen[it >> 6] |= bit;
        items[got++] = it;
    }
    for (uint64_t k = 0; k < got; k++)
        s->seen[items[k] >> 6] = 0;
    if (got < d) /* rejection stalled on a very skewed distribution */
        pick_weighted_all(s, r, d, items);
}

typedef struct {
    double sq, sum, lo, hi;
    uint64_t n;
} acc_t;

static void gen_user(synth_t *s, uint32_t u, float *pu, trib_ratings_t *out, size_t off, acc_t *acc)
{
    const trib_synth_config_t *c = s->c;
    double bu = factor_row(c, TAG_USER, u, pu);
    trib_rng_t r;
    trib_rng_init(&r, c->seed, trib_hash64(TAG_RATINGS, u));
    uint64_t d = s->deg[u];
    pick_items(s, &r, d, out->item + off);
    for (uint64_t k = 0; k < d; k++) {
        uint32_t i = out->item[off + k];
        const float *q = s->Q + (size_t)i * c->rank;
        double dot = 0;
        for (uint32_t f = 0; f < c->rank; f++)
            dot += (double)pu[f] * q[f];
        double truth = c->global_mean + bu + s->bi[i] + dot;
        double v = clamp(c, truth + c->noise_std * trib_rng_normal(&r));
        float fv = (float)v;
        double err = (double)fv - clamp(c, truth);
        acc->sq += err * err;
        acc->sum += fv;
        acc->lo = fv < acc->lo ? fv : acc->lo;
        acc->hi = fv > acc->hi ? fv : acc->hi;
        acc->n++;
        out->user[off + k] = u;
        out->rating[off + k] = fv;
        if (out->timestamp)
            out->timestamp[off + k] = TS_BASE + (int64_t)trib_rng_below(&r, TS_SPAN);
    }
}

int trib_synth_user_counts(const trib_synth_config_t *c, uint64_t *counts)
{
    int rc = trib_synth_config_validate(c);
    return rc == TRIB_OK ? user_degrees(c, counts) : rc;
}

int trib_synth_generate_users(const trib_synth_config_t *c, uint32_t first, uint32_t end, trib_ratings_t *out,
                              trib_synth_stats_t *stats)
{
    if (!out)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "synth: NULL output");
    trib_ratings_init(out);
    synth_t s;
    int rc = synth_init(&s, c);
    if (rc != TRIB_OK)
        return rc;
    if (first > end || end > c->n_users) {
        synth_free(&s);
        return trib_errorf(TRIB_ERR_RANGE, "synth: user range [%u, %u) outside 0..%llu", first, end,
                           (unsigned long long)c->n_users);
    }
    uint64_t n = 0;
    for (uint32_t u = first; u < end; u++)
        n += s.deg[u];
    float *pu = malloc(c->rank * sizeof *pu);
    rc = pu ? trib_ratings_alloc(out, n, c->with_timestamp) : trib_errorf(TRIB_ERR_NOMEM, "synth: out of memory");
    acc_t acc = {0, 0, INFINITY, -INFINITY, 0};
    size_t off = 0;
    for (uint32_t u = first; rc == TRIB_OK && u < end; u++) {
        gen_user(&s, u, pu, out, off, &acc);
        off += s.deg[u];
    }
    if (rc == TRIB_OK && stats) {
        stats->noise_std = c->noise_std;
        stats->true_model_rmse = acc.n ? sqrt(acc.sq / (double)acc.n) : 0;
        stats->rating_min = acc.n ? acc.lo : 0;
        stats->rating_max = acc.n ? acc.hi : 0;
        stats->rating_mean = acc.n ? acc.sum / (double)acc.n : 0;
    }
    free(pu);
    synth_free(&s);
    return rc;
}

int trib_synth_generate(const trib_synth_config_t *c, trib_ratings_t *out, trib_synth_stats_t *stats)
{
    int rc = trib_synth_config_validate(c);
    if (rc != TRIB_OK)
        return rc;
    return trib_synth_generate_users(c, 0, (uint32_t)c->n_users, out, stats);
}

double trib_synth_truth(const trib_synth_config_t *c, uint32_t user, uint32_t item)
{
    if (trib_synth_config_validate(c) != TRIB_OK || user >= c->n_users || item >= c->n_items)
        return NAN;
    float *p = malloc(2 * c->rank * sizeof *p);
    if (!p)
        return NAN;
    float *q = p + c->rank;
    double bu = factor_row(c, TAG_USER, user, p), bi = factor_row(c, TAG_ITEM, item, q), dot = 0;
    for (uint32_t f = 0; f < c->rank; f++)
        dot += (double)p[f] * q[f];
    free(p);
    return clamp(c, c->global_mean + bu + bi + dot);
}

int trib_synth_write(const trib_synth_config_t *c, const char *outdir, const trib_data_write_opts_t *opts,
                     trib_synth_stats_t *stats)
{
    trib_data_write_opts_t defaults = TRIB_DATA_WRITE_OPTS_INIT;
    if (!opts)
        opts = &defaults;
    if (!outdir)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "synth: NULL output directory");
    int rc = trib_synth_config_validate(c);
    if (rc != TRIB_OK)
        return rc;
    char *tmp;
    rc = trib_outdir_begin(outdir, opts->force, &tmp);
    if (rc != TRIB_OK)
        return rc;
    trib_ratings_t r;
    trib_synth_stats_t st;
    rc = trib_synth_generate(c, &r, &st);
    if (rc == TRIB_OK) {
        if (opts->progress)
            opts->progress(opts->progress_arg, "generate", 0.5);
        trib_write_meta_t meta = {"synth", 1, st.noise_std, st.true_model_rmse, c->seed, c->rank};
        rc = trib_write_dataset_dir(tmp, &r, c->n_users, c->n_items, NULL, NULL, &meta, opts, opts->n_shards,
                                    opts->partition);
        trib_ratings_free(&r);
    }
    if (rc == TRIB_OK) {
        rc = trib_outdir_commit(tmp, outdir, opts->force);
        if (rc == TRIB_OK && stats)
            *stats = st;
    } else {
        trib_outdir_abort(tmp);
    }
    return rc;
}
