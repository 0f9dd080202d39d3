/*
 * block.c - row blocks and the model that holds two of them.
 *
 * A row block is one 64-byte aligned allocation (`values`) carved into the
 * factor rows, the biases and the AdaGrad sums (see tributary/mf.h for the
 * picture), plus a separate array of global ids.  Keeping the values in one
 * array lets a trainer synchronise a whole block with a single allreduce.
 *
 * Parts: shape and allocation (create/destroy/clone/copy), unpadded factor
 * copies for files, deterministic
 * initialisation from global ids, the two synchronisation helpers
 * (delta / apply_delta), and the model wrapper.
 */
#include "tributary/mf.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"

size_t trib_mf_stride(size_t k) { return trib_round_up(k, TRIB_MF_STRIDE_FLOATS); }

/* Floats of the three parts of `values` for n rows of the given stride; TRIB_ERR_RANGE on overflow. */
static int block_layout(size_t n_rows, size_t stride, size_t *n_factor_floats, size_t *n_vec_floats,
                        size_t *n_values)
{
    size_t nf;
    if (trib_size_mul(n_rows, stride, &nf) != TRIB_OK)
        return TRIB_ERR_RANGE;
    size_t nv = trib_round_up(n_rows, TRIB_MF_STRIDE_FLOATS);
    if (nv < n_rows || nv > SIZE_MAX / (4 * sizeof(float)) || nf > SIZE_MAX / sizeof(float) - 2 * nv)
        return TRIB_ERR_RANGE;
    *n_factor_floats = nf;
    *n_vec_floats = nv;
    *n_values = nf + 2 * nv;
    return TRIB_OK;
}

int trib_mf_block_create(trib_mf_block_t *b, size_t n_rows, size_t k)
{
    if (!b)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf block: NULL block");
    memset(b, 0, sizeof *b);
    if (k == 0)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf block: k must be at least 1");
    size_t stride = trib_mf_stride(k);
    size_t nf, nv, n_values;
    if (block_layout(n_rows, stride, &nf, &nv, &n_values) != TRIB_OK)
        return trib_errorf(TRIB_ERR_RANGE, "mf block: %zu rows of %zu factors is too large", n_rows, k);
    float *values = trib_aligned_calloc(TRIB_ALIGN, n_values * sizeof(float));
    int64_t *ids = trib_aligned_alloc(TRIB_ALIGN, (n_rows ? n_rows : 1) * sizeof(int64_t));
    if (!values || !ids) {
        trib_aligned_free(values);
        trib_aligned_free(ids);
        return trib_errorf(TRIB_ERR_NOMEM, "mf block: cannot allocate %zu rows of %zu factors", n_rows, k);
    }
    for (size_t r = 0; r < n_rows; r++)
        ids[r] = (int64_t)r;
    b->n_rows = n_rows;
    b->k = k;
    b->stride = stride;
    b->values = values;
    b->n_values = n_values;
    b->factors = values;
    b->bias = values + nf;
    b->adagrad = values + nf + nv;
    b->ids = ids;
    return TRIB_OK;
}

void trib_mf_block_destroy(trib_mf_block_t *b)
{
    if (!b)
        return;
    trib_aligned_free(b->values);
    trib_aligned_free(b->ids);
    memset(b, 0, sizeof *b);
}

static int same_shape(const trib_mf_block_t *a, const trib_mf_block_t *b)
{
    return a && b && a->values && b->values && a->n_rows == b->n_rows && a->k == b->k &&
           a->n_values == b->n_values;
}

int trib_mf_block_clone(trib_mf_block_t *dst, const trib_mf_block_t *src)
{
    if (!src || !src->values)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf block clone: empty source");
    int rc = trib_mf_block_create(dst, src->n_rows, src->k);
    if (rc != TRIB_OK)
        return rc;
    memcpy(dst->values, src->values, src->n_values * sizeof(float));
    memcpy(dst->ids, src->ids, src->n_rows * sizeof(int64_t));
    return TRIB_OK;
}

int trib_mf_block_copy_values(trib_mf_block_t *dst, const trib_mf_block_t *src)
{
    if (!same_shape(dst, src))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf block copy: blocks differ in shape");
    if (dst != src)
        memcpy(dst->values, src->values, src->n_values * sizeof(float));
    return TRIB_OK;
}

void trib_mf_block_get_factors(const trib_mf_block_t *b, float *out)
{
    for (size_t r = 0; r < b->n_rows; r++)
        memcpy(out + r * b->k, trib_mf_row(b, r), b->k * sizeof(float));
}

void trib_mf_block_set_factors(trib_mf_block_t *b, const float *in)
{
    for (size_t r = 0; r < b->n_rows; r++)
        memcpy(trib_mf_row(b, r), in + r * b->k, b->k * sizeof(float));
}

/* Fills one row from its own random stream: a pure function of (seed, tag, id). */
static void init_row(float *row, size_t k, uint64_t seed, uint64_t tag, int64_t id, double std)
{
    trib_rng_t rng;
    trib_rng_init(&rng, seed, trib_hash64(tag, (uint64_t)id));
    for (size_t f = 0; f < k; f++)
        row[f] = (float)(std * trib_rng_normal(&rng));
}

void trib_mf_block_init_values(trib_mf_block_t *b, uint64_t seed, uint64_t tag, float init_std)
{
    if (!b || !b->values)
        return;
    double std = (double)init_std / sqrt((double)b->k);
    memset(b->values, 0, b->n_values * sizeof(float));
    for (size_t r = 0; r < b->n_rows; r++) {
        init_row(trib_mf_row(b, r), b->k, seed, tag, b->ids[r], std);
        b->adagrad[r] = TRIB_MF_ADAGRAD_INIT;
    }
}

int trib_mf_block_delta(trib_mf_block_t *delta, const trib_mf_block_t *cur, const trib_mf_block_t *snap)
{
    if (!same_shape(delta, cur) || !same_shape(cur, snap))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf block delta: blocks differ in shape");
    if (delta == cur || delta == snap)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf block delta: output aliases an input");
    float *restrict d = delta->values;
    const float *restrict c = cur->values, *restrict s = snap->values;
    for (size_t j = 0; j < cur->n_values; j++)
        d[j] = c[j] - s[j];
    return TRIB_OK;
}

int trib_mf_block_apply_delta(trib_mf_block_t *cur, const trib_mf_block_t *snap, const float *sum, float scale)
{
    if (!same_shape(cur, snap) || !sum)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf block apply_delta: blocks differ in shape");
    if (!isfinite(scale))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf block apply_delta: scale is not finite");
    float *c = cur->values;
    const float *s = snap->values;
    /* Written as one expression per element (not c += ...) so the result is
     * the same function of (snap, sum) on every rank whatever cur held. */
    for (size_t j = 0; j < cur->n_values; j++)
        c[j] = s[j] + scale * sum[j];
    return TRIB_OK;
}

/* ------------------------------------------------------------------ model */

int trib_mf_model_create(trib_mf_model_t *m, size_t k, size_t n_users, size_t n_items)
{
    if (!m)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "mf model: NULL model");
    memset(m, 0, sizeof *m);
    int rc = trib_mf_block_create(&m->users, n_users, k);
    if (rc == TRIB_OK)
        rc = trib_mf_block_create(&m->items, n_items, k);
    if (rc != TRIB_OK) {
        trib_mf_model_destroy(m);
        return rc;
    }
    m->mean = 0.0f;
    m->rating_min = -INFINITY;
    m->rating_max = INFINITY;
    return TRIB_OK;
}

void trib_mf_model_destroy(trib_mf_model_t *m)
{
    if (!m)
        return;
    trib_mf_block_destroy(&m->users);
    trib_mf_block_destroy(&m->items);
}

void trib_mf_model_init_values(trib_mf_model_t *m, uint64_t seed, float init_std)
{
    if (!m)
        return;
    trib_mf_block_init_values(&m->users, seed, TRIB_MF_TAG_USER, init_std);
    trib_mf_block_init_values(&m->items, seed, TRIB_MF_TAG_ITEM, init_std);
}
