/*
 * eval.c - predictions and error sums (RMSE, MAE) over a rating set.
 *
 * Evaluation returns sums rather than means so a data-parallel trainer can
 * add the sums of all ranks (one allreduce of three doubles) before dividing.
 * Predictions are clipped to the model's rating range [rating_min,
 * rating_max]: a rating can never be outside it, so clipping only removes
 * error.  Training (sgd.c) uses the unclipped prediction, as its gradient.
 * The loop itself is in kernel_impl.inc (vectorised per ISA level, like the
 * SGD kernels).  On a bad row nothing is added to the sums.
 */
#include "tributary/mf.h"

#include <math.h>

#include "kernels.h"

float trib_mf_predict(const trib_mf_model_t *m, uint32_t user, uint32_t item)
{
    return trib_mf_kernel_predict(m, user, item);
}

int trib_mf_evaluate(const trib_mf_model_t *m, const trib_mf_rating_t *ratings, size_t n,
                     trib_mf_error_sums_t *sums)
{
    if (!m || !m->users.values || !m->items.values || !sums || (n > 0 && !ratings))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf evaluate: NULL model, ratings or sums");
    if (m->users.k != m->items.k || m->users.n_rows > UINT32_MAX || m->items.n_rows > UINT32_MAX)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf evaluate: user and item k differ or too many rows");
    double sq = 0.0, ab = 0.0;
    size_t done = trib_mf_kernel_error_sums(m, ratings, n, &sq, &ab);
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
