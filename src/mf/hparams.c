/*
 * hparams.c - hyper-parameters of MF training: defaults, validation, schedule
 * names, the learning rate of an epoch, and the per-epoch visiting order.
 *
 * The kernels that use them are in sgd.c.
 */
#include "tributary/mf.h"

#include <math.h>
#include <string.h>

#include "core/rng.h"

void trib_mf_hparams_default(trib_mf_hparams_t *hp)
{
    hp->schedule = TRIB_MF_DEFAULT_SCHEDULE;
    hp->lr = TRIB_MF_DEFAULT_LR;
    hp->lr_decay = TRIB_MF_DEFAULT_LR_DECAY;
    hp->reg_factors = TRIB_MF_DEFAULT_REG_FACTORS;
    hp->reg_bias = TRIB_MF_DEFAULT_REG_BIAS;
    hp->init_std = TRIB_MF_DEFAULT_INIT_STD;
    hp->item_lr_scale = 1.0f;
}

void trib_mf_hparams_for_schedule(trib_mf_hparams_t *hp, trib_mf_schedule_t schedule)
{
    trib_mf_hparams_default(hp);
    hp->schedule = schedule;
    hp->lr = schedule == TRIB_MF_SCHEDULE_PLAIN ? TRIB_MF_DEFAULT_LR_PLAIN : TRIB_MF_DEFAULT_LR_ADAGRAD;
    hp->lr_decay = schedule == TRIB_MF_SCHEDULE_PLAIN ? TRIB_MF_DEFAULT_LR_DECAY_PLAIN : TRIB_MF_DEFAULT_LR_DECAY_ADAGRAD;
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
    if (!(hp->item_lr_scale > 0.0f) || !isfinite(hp->item_lr_scale))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf: item learning-rate scale must be a positive number (got %g)",
                           (double)hp->item_lr_scale);
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
    return hp->lr_decay == 0.0f ? hp->lr : hp->lr / (1.0f + hp->lr_decay * (float)epoch);
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
