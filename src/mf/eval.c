/*
 * eval.c - predictions and error sums (RMSE, MAE) over a rating set.
 *
 * Evaluation returns sums rather than means so a data-parallel trainer can
 * add the sums of all ranks (one allreduce of three doubles) before dividing.
 * Predictions are clipped to the model's rating range [rating_min,
 * rating_max]: a rating can never be outside it, so clipping only removes
 * error.  Training (sgd.c) uses the unclipped prediction, as its gradient.
 */
#include "tributary/mf.h"

#include <math.h>

/* Dot product over the padded stride, 16 partial sums (vectorisable). */
static float dot_padded(const float *restrict p, const float *restrict q, size_t stride)
{
    float acc[TRIB_MF_STRIDE_FLOATS] = {0};
    for (size_t j = 0; j < stride; j += TRIB_MF_STRIDE_FLOATS)
        for (size_t l = 0; l < TRIB_MF_STRIDE_FLOATS; l++)
            acc[l] += p[j + l] * q[j + l];
    float s = 0.0f;
    for (size_t l = 0; l < TRIB_MF_STRIDE_FLOATS; l++)
        s += acc[l];
    return s;
}

static float clip(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

float trib_mf_predict(const trib_mf_model_t *m, uint32_t user, uint32_t item)
{
    float raw = m->mean + m->users.bias[user] + m->items.bias[item] +
                dot_padded(trib_mf_row(&m->users, user), trib_mf_row(&m->items, item), m->users.stride);
    return clip(raw, m->rating_min, m->rating_max);
}

int trib_mf_evaluate(const trib_mf_model_t *m, const trib_mf_rating_t *ratings, size_t n,
                     trib_mf_error_sums_t *sums)
{
    if (!m || !m->users.values || !m->items.values || !sums || (n > 0 && !ratings))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf evaluate: NULL model, ratings or sums");
    if (m->users.k != m->items.k)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf evaluate: user and item k differ");
    double sq = 0.0, ab = 0.0;
    for (size_t i = 0; i < n; i++) {
        const trib_mf_rating_t *r = &ratings[i];
        if (r->user >= m->users.n_rows || r->item >= m->items.n_rows)
            return trib_errorf(TRIB_ERR_RANGE, "mf evaluate: rating %zu has user row %u (of %zu), item row %u (of %zu)",
                               i, r->user, m->users.n_rows, r->item, m->items.n_rows);
        double err = (double)trib_mf_predict(m, r->user, r->item) - (double)r->rating;
        sq += err * err;
        ab += fabs(err);
    }
    sums->sq_err += sq;
    sums->abs_err += ab;
    sums->count += (double)n;
    return TRIB_OK;
}

double trib_mf_rmse(const trib_mf_error_sums_t *s) { return s->count > 0 ? sqrt(s->sq_err / s->count) : NAN; }

double trib_mf_mae(const trib_mf_error_sums_t *s) { return s->count > 0 ? s->abs_err / s->count : NAN; }
