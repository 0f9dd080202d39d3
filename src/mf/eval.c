/*
 * eval.c - predictions and error sums (RMSE, MAE) over a rating set.
 *
 * Evaluation returns sums rather than means so a data-parallel trainer can
 * add the sums of all ranks (one allreduce of three doubles) before dividing.
 * Predictions are clipped to the model's rating range [rating_min,
 * rating_max]: a rating can never be outside it, so clipping only removes
 * error.  Training (sgd.c) uses the unclipped prediction, as its gradient.
 * The dot product is the kernels' (vec.h), cloned per ISA level like them.
 * On a bad row nothing is added to the sums.
 */
#include "tributary/mf.h"

#include <math.h>

#include "vec.h"

static float clip(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

MF_INLINE float predict_raw(const trib_mf_model_t *m, uint32_t user, uint32_t item)
{
    const float *p = __builtin_assume_aligned(trib_mf_row(&m->users, user), 64);
    const float *q = __builtin_assume_aligned(trib_mf_row(&m->items, item), 64);
    return m->mean + m->users.bias[user] + m->items.bias[item] + dot_rows(p, q, m->users.stride);
}

/* Cloned like error_sums, so a single prediction rounds exactly as evaluation does. */
MF_CLONES static float predict_clipped(const trib_mf_model_t *m, uint32_t user, uint32_t item)
{
    return clip(predict_raw(m, user, item), m->rating_min, m->rating_max);
}

float trib_mf_predict(const trib_mf_model_t *m, uint32_t user, uint32_t item)
{
    return predict_clipped(m, user, item);
}

/*
 * Adds the errors of ratings[0..n) to sq and ab; returns n, or the index of
 * the first rating with a row out of range.  Prediction i + 8's rows are
 * prefetched: the ratings are read in order, the rows are not.
 */
MF_CLONES static size_t error_sums(const trib_mf_model_t *m, const trib_mf_rating_t *ratings, size_t n, double *sq,
                                   double *ab)
{
    const uint32_t nu = (uint32_t)m->users.n_rows, ni = (uint32_t)m->items.n_rows;
    double s2 = 0.0, s1 = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (i + 8 < n && ratings[i + 8].user < nu && ratings[i + 8].item < ni) {
            __builtin_prefetch(trib_mf_row(&m->users, ratings[i + 8].user));
            __builtin_prefetch(trib_mf_row(&m->items, ratings[i + 8].item));
        }
        const trib_mf_rating_t r = ratings[i];
        if (r.user >= nu || r.item >= ni) {
            n = i;
            break;
        }
        double err = (double)clip(predict_raw(m, r.user, r.item), m->rating_min, m->rating_max) - (double)r.rating;
        s2 += err * err;
        s1 += fabs(err);
    }
    *sq += s2;
    *ab += s1;
    return n;
}

int trib_mf_evaluate(const trib_mf_model_t *m, const trib_mf_rating_t *ratings, size_t n,
                     trib_mf_error_sums_t *sums)
{
    if (!m || !m->users.values || !m->items.values || !sums || (n > 0 && !ratings))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf evaluate: NULL model, ratings or sums");
    if (m->users.k != m->items.k || m->users.n_rows > UINT32_MAX || m->items.n_rows > UINT32_MAX)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf evaluate: user and item k differ or too many rows");
    double sq = 0.0, ab = 0.0;
    size_t done = error_sums(m, ratings, n, &sq, &ab);
    if (done != n)
        return trib_errorf(TRIB_ERR_RANGE, "mf evaluate: rating %zu has user row %u (of %zu), item row %u (of %zu)",
                           done, ratings[done].user, m->users.n_rows, ratings[done].item, m->items.n_rows);
    sums->sq_err += sq;
    sums->abs_err += ab;
    sums->count += (double)n;
    return TRIB_OK;
}

double trib_mf_rmse(const trib_mf_error_sums_t *s) { return s->count > 0 ? sqrt(s->sq_err / s->count) : NAN; }

double trib_mf_mae(const trib_mf_error_sums_t *s) { return s->count > 0 ? s->abs_err / s->count : NAN; }
