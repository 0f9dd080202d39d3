/*
 * sgd.c - trib_mf_sgd_run: checks a batch of SGD steps and hands it to the kernels.
 *
 * Everything that can be wrong (shapes, hyper-parameters, the range, the
 * visiting order) is checked here, once per batch, so the kernel loop
 * (kernel_impl.inc, dispatched by kernels.c) only checks the two row indices
 * of each rating.  The step itself is documented in tributary/mf.h.
 */
#include "tributary/mf.h"

#include "kernels.h"

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
    trib_mf_batch_t bt = {
        .users = &m->users,
        .items = &m->items,
        .ratings = ratings,
        .order = order,
        .sp = {.mean = m->mean,
               .lr = trib_mf_lr_at_epoch(hp, epoch),
               .lr_i = trib_mf_lr_at_epoch(hp, epoch) * hp->item_lr_scale,
               .reg_f = hp->reg_factors,
               .reg_b = hp->reg_bias,
               .inv_k1 = 1.0f / (float)(m->users.k + 1)},
    };
    size_t stopped = trib_mf_kernel_sgd(&bt, begin, end, adagrad);
    if (stopped != end) {
        const trib_mf_rating_t *bad = &ratings[order ? order[stopped] : stopped];
        return trib_errorf(TRIB_ERR_RANGE, "mf sgd: rating %zu has user row %u (of %zu) and item row %u (of %zu)",
                           order ? (size_t)order[stopped] : stopped, bad->user, m->users.n_rows, bad->item,
                           m->items.n_rows);
    }
    return TRIB_OK;
}
