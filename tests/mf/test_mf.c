/*
 * test_mf.c - unit tests of the matrix-factorisation layer (tributary/mf.h).
 *
 * Suites: row blocks and initialisation; the SGD kernel against a
 * finite-difference gradient of the loss (plain and AdaGrad, several k);
 * schedules; synchronisation helpers; convergence on a planted problem;
 * evaluation; top-K against a brute-force reference; ranking metrics on
 * hand-checkable cases; argument errors.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "trib_cunit.h"
#include "tributary/mf.h"

static const size_t ODD_KS[] = {1, 7, 16, 33, 64, 100, 128};
#define N_ODD_KS (sizeof ODD_KS / sizeof ODD_KS[0])

/* Fills a model's values with normal(0, std) factors and biases from a seed. */
static void randomise(trib_mf_model_t *m, uint64_t seed, double std)
{
    trib_rng_t r;
    trib_rng_init(&r, seed, 99);
    trib_mf_block_t *blocks[2] = {&m->users, &m->items};
    for (int b = 0; b < 2; b++)
        for (size_t i = 0; i < blocks[b]->n_rows; i++) {
            float *row = trib_mf_row(blocks[b], i);
            for (size_t f = 0; f < blocks[b]->k; f++)
                row[f] = (float)(std * trib_rng_normal(&r));
            blocks[b]->bias[i] = (float)(std * trib_rng_normal(&r));
            blocks[b]->adagrad[i] = 1.0f + (float)trib_rng_uniform(&r) * 3.0f;
        }
}

/* Whether every padding float of a block (after k in each row, after the vectors) is zero. */
static int padding_is_zero(const trib_mf_block_t *b)
{
    for (size_t r = 0; r < b->n_rows; r++)
        for (size_t f = b->k; f < b->stride; f++)
            if (trib_mf_row(b, r)[f] != 0.0f)
                return 0;
    size_t nv = (b->n_values - b->n_rows * b->stride) / 2;
    for (size_t j = b->n_rows; j < nv; j++)
        if (b->bias[j] != 0.0f || b->adagrad[j] != 0.0f)
            return 0;
    return 1;
}

/* ------------------------------------------------------------------ blocks and init */

static void test_stride_and_layout(void)
{
    CU_ASSERT_EQUAL(trib_mf_stride(1), 16);
    CU_ASSERT_EQUAL(trib_mf_stride(16), 16);
    CU_ASSERT_EQUAL(trib_mf_stride(17), 32);
    CU_ASSERT_EQUAL(trib_mf_stride(33), 48);
    for (size_t t = 0; t < N_ODD_KS; t++) {
        trib_mf_block_t b;
        CU_ASSERT_EQUAL_FATAL(trib_mf_block_create(&b, 37, ODD_KS[t]), TRIB_OK);
        CU_ASSERT_EQUAL(b.stride % 16, 0);
        CU_ASSERT(b.stride >= b.k);
        CU_ASSERT_EQUAL((uintptr_t)b.factors % 64, 0);
        CU_ASSERT_EQUAL((uintptr_t)b.bias % 64, 0);
        CU_ASSERT_EQUAL((uintptr_t)b.adagrad % 64, 0);
        CU_ASSERT_EQUAL(b.values, b.factors);
        CU_ASSERT(b.adagrad + 37 <= b.values + b.n_values);
        CU_ASSERT_EQUAL(b.ids[36], 36);
        CU_ASSERT(padding_is_zero(&b));
        trib_mf_block_destroy(&b);
        CU_ASSERT_PTR_NULL(b.values);
    }
    trib_mf_block_t b;
    CU_ASSERT_EQUAL(trib_mf_block_create(&b, 3, 0), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(trib_mf_block_create(&b, SIZE_MAX / 8, 64), TRIB_ERR_RANGE);
    CU_ASSERT_EQUAL(trib_mf_block_create(&b, 0, 5), TRIB_OK);
    trib_mf_block_destroy(&b);
}

/* Rows with the same global id get the same values whatever their position. */
static void test_init_independent_of_row_order(void)
{
    for (size_t t = 0; t < N_ODD_KS; t++) {
        size_t k = ODD_KS[t], n = 50;
        trib_mf_block_t a, b;
        CU_ASSERT_EQUAL_FATAL(trib_mf_block_create(&a, n, k), TRIB_OK);
        CU_ASSERT_EQUAL_FATAL(trib_mf_block_create(&b, n / 2, k), TRIB_OK);
        for (size_t r = 0; r < n; r++)
            a.ids[r] = 1000 + (int64_t)r;
        for (size_t r = 0; r < n / 2; r++) /* b holds every other id, reversed (a "rank's share") */
            b.ids[r] = 1000 + (int64_t)(n - 1 - 2 * r);
        trib_mf_block_init_values(&a, 42, TRIB_MF_TAG_USER, 0.3f);
        trib_mf_block_init_values(&b, 42, TRIB_MF_TAG_USER, 0.3f);
        for (size_t r = 0; r < n / 2; r++) {
            size_t ra = (size_t)(b.ids[r] - 1000);
            CU_ASSERT_EQUAL(memcmp(trib_mf_row(&a, ra), trib_mf_row(&b, r), b.stride * sizeof(float)), 0);
            CU_ASSERT_EQUAL(b.bias[r], 0.0f);
            CU_ASSERT_EQUAL(b.adagrad[r], TRIB_MF_ADAGRAD_INIT);
        }
        CU_ASSERT(padding_is_zero(&a));
        CU_ASSERT(padding_is_zero(&b));
        trib_mf_block_destroy(&a);
        trib_mf_block_destroy(&b);
    }
}

static void test_init_depends_on_seed_tag_and_scale(void)
{
    size_t k = 32, n = 400;
    trib_mf_block_t a, b;
    CU_ASSERT_EQUAL_FATAL(trib_mf_block_create(&a, n, k), TRIB_OK);
    CU_ASSERT_EQUAL_FATAL(trib_mf_block_create(&b, n, k), TRIB_OK);
    trib_mf_block_init_values(&a, 1, TRIB_MF_TAG_USER, 0.5f);
    trib_mf_block_init_values(&b, 2, TRIB_MF_TAG_USER, 0.5f);
    CU_ASSERT_NOT_EQUAL(memcmp(a.factors, b.factors, n * a.stride * sizeof(float)), 0);
    trib_mf_block_init_values(&b, 1, TRIB_MF_TAG_ITEM, 0.5f);
    CU_ASSERT_NOT_EQUAL(memcmp(a.factors, b.factors, n * a.stride * sizeof(float)), 0);
    /* Same call twice: bitwise identical. */
    trib_mf_block_init_values(&b, 1, TRIB_MF_TAG_USER, 0.5f);
    CU_ASSERT_EQUAL(memcmp(a.values, b.values, a.n_values * sizeof(float)), 0);
    /* Standard deviation init_std / sqrt(k): 12800 samples, within 5%. */
    double ss = 0.0;
    for (size_t r = 0; r < n; r++)
        for (size_t f = 0; f < k; f++)
            ss += (double)trib_mf_row(&a, r)[f] * trib_mf_row(&a, r)[f];
    double sd = sqrt(ss / (double)(n * k)), want = 0.5 / sqrt((double)k);
    TRIB_ASSERT_LT(fabs(sd - want), 0.05 * want);
    trib_mf_block_destroy(&a);
    trib_mf_block_destroy(&b);
}

static void test_clone_and_copy(void)
{
    trib_mf_block_t a, b, c;
    CU_ASSERT_EQUAL_FATAL(trib_mf_block_create(&a, 10, 7), TRIB_OK);
    a.ids[3] = 77;
    trib_mf_block_init_values(&a, 5, TRIB_MF_TAG_ITEM, 0.1f);
    CU_ASSERT_EQUAL_FATAL(trib_mf_block_clone(&b, &a), TRIB_OK);
    CU_ASSERT_EQUAL(memcmp(a.values, b.values, a.n_values * sizeof(float)), 0);
    CU_ASSERT_EQUAL(b.ids[3], 77);
    CU_ASSERT_EQUAL_FATAL(trib_mf_block_create(&c, 10, 8), TRIB_OK);
    CU_ASSERT_EQUAL(trib_mf_block_copy_values(&c, &a), TRIB_ERR_INVALID_ARG);
    trib_mf_block_destroy(&c);
    CU_ASSERT_EQUAL_FATAL(trib_mf_block_create(&c, 10, 7), TRIB_OK);
    CU_ASSERT_EQUAL(trib_mf_block_copy_values(&c, &a), TRIB_OK);
    CU_ASSERT_EQUAL(memcmp(a.values, c.values, a.n_values * sizeof(float)), 0);
    /* Unpadded round trip: 10 x 7 floats, row r at r * 7. */
    float flat[70];
    trib_mf_block_get_factors(&a, flat);
    CU_ASSERT_EQUAL(flat[3 * 7 + 6], trib_mf_row(&a, 3)[6]);
    flat[3 * 7 + 6] = 42.0f;
    trib_mf_block_set_factors(&c, flat);
    CU_ASSERT_EQUAL(trib_mf_row(&c, 3)[6], 42.0f);
    CU_ASSERT_EQUAL(trib_mf_row(&c, 4)[0], trib_mf_row(&a, 4)[0]);
    CU_ASSERT(padding_is_zero(&c));
    trib_mf_block_destroy(&a);
    trib_mf_block_destroy(&b);
    trib_mf_block_destroy(&c);
}

/* ------------------------------------------------------------------ gradient check */

/* Loss of one rating in double: 0.5 e^2 + L2 terms, over the model's current values. */
static double loss_one(const trib_mf_model_t *m, const trib_mf_hparams_t *hp, float r)
{
    const float *p = trib_mf_row(&m->users, 0), *q = trib_mf_row(&m->items, 0);
    double dot = 0.0, pp = 0.0, qq = 0.0;
    for (size_t f = 0; f < m->users.k; f++) {
        dot += (double)p[f] * q[f];
        pp += (double)p[f] * p[f];
        qq += (double)q[f] * q[f];
    }
    double bu = m->users.bias[0], bi = m->items.bias[0];
    double e = r - (m->mean + bu + bi + dot);
    return 0.5 * e * e + 0.5 * hp->reg_factors * (pp + qq) + 0.5 * hp->reg_bias * (bu * bu + bi * bi);
}

/* Central difference of the loss with respect to *x (perturbed in float, measured in double). */
static double fd_grad(trib_mf_model_t *m, const trib_mf_hparams_t *hp, float r, float *x)
{
    float x0 = *x, h = 1e-3f;
    *x = x0 + h;
    double lp = loss_one(m, hp, r);
    double hp_ = (double)*x - x0;
    *x = x0 - h;
    double lm = loss_one(m, hp, r);
    double hm = (double)x0 - *x;
    *x = x0;
    return (lp - lm) / (hp_ + hm);
}

/*
 * One step on a single rating must move every parameter by -eta * dL/dx, with
 * dL/dx from finite differences of the loss; for AdaGrad eta = lr / sqrt(G) and
 * G grows by the mean squared gradient of the row.
 */
static void check_gradient(trib_mf_schedule_t sched, size_t k)
{
    trib_mf_model_t m;
    CU_ASSERT_EQUAL_FATAL(trib_mf_model_create(&m, k, 1, 1), TRIB_OK);
    randomise(&m, 7 + k, 0.4);
    m.mean = 3.0f;
    trib_mf_hparams_t hp = {.schedule = sched, .lr = 0.01f, .lr_decay = 0.0f, .reg_factors = 0.07f,
                            .reg_bias = 0.03f, .init_std = 0.1f, .item_lr_scale = 1.0f};
    const float r = 4.5f;
    size_t n = 2 * k + 2;
    double *grad = malloc(n * sizeof *grad);
    float *before = malloc(n * sizeof *before);
    float *p = trib_mf_row(&m.users, 0), *q = trib_mf_row(&m.items, 0);
    float *params[2 * 128 + 2];
    for (size_t f = 0; f < k; f++) {
        params[f] = &p[f];
        params[k + f] = &q[f];
    }
    params[2 * k] = &m.users.bias[0];
    params[2 * k + 1] = &m.items.bias[0];
    for (size_t j = 0; j < n; j++) {
        grad[j] = fd_grad(&m, &hp, r, params[j]);
        before[j] = *params[j];
    }
    float gu0 = m.users.adagrad[0], gi0 = m.items.adagrad[0];
    trib_mf_rating_t rt = {0, 0, r};
    CU_ASSERT_EQUAL_FATAL(trib_mf_sgd_run(&m, &hp, 0, &rt, 1, NULL, 0, 1), TRIB_OK);
    double eta_u = hp.lr, eta_i = hp.lr;
    if (sched == TRIB_MF_SCHEDULE_ADAGRAD) {
        eta_u = hp.lr / sqrt(gu0);
        eta_i = hp.lr / sqrt(gi0);
        double su = 0.0, si = 0.0;
        for (size_t f = 0; f < k; f++) {
            su += grad[f] * grad[f];
            si += grad[k + f] * grad[k + f];
        }
        su += grad[2 * k] * grad[2 * k];
        si += grad[2 * k + 1] * grad[2 * k + 1];
        double want_u = gu0 + su / (double)(k + 1), want_i = gi0 + si / (double)(k + 1);
        CU_ASSERT_DOUBLE_EQUAL(m.users.adagrad[0], want_u, 1e-4 * want_u);
        CU_ASSERT_DOUBLE_EQUAL(m.items.adagrad[0], want_i, 1e-4 * want_i);
    }
    int bad = 0;
    for (size_t j = 0; j < n; j++) {
        int is_user = j < k || j == 2 * k;
        double step = ((double)before[j] - *params[j]) / (is_user ? eta_u : eta_i);
        double tol = 2e-3 * (1.0 + fabs(grad[j]));
        if (fabs(step - grad[j]) > tol) {
            if (!bad)
                fprintf(stderr, "k %zu %s param %zu: step/eta %.6f, finite difference %.6f\n", k,
                        trib_mf_schedule_name(sched), j, step, grad[j]);
            bad = 1;
        }
    }
    CU_ASSERT_FALSE(bad);
    CU_ASSERT(padding_is_zero(&m.users) && padding_is_zero(&m.items));
    free(grad);
    free(before);
    trib_mf_model_destroy(&m);
}

static void test_gradient_plain(void)
{
    for (size_t t = 0; t < N_ODD_KS; t++)
        check_gradient(TRIB_MF_SCHEDULE_PLAIN, ODD_KS[t]);
}

static void test_gradient_adagrad(void)
{
    for (size_t t = 0; t < N_ODD_KS; t++)
        check_gradient(TRIB_MF_SCHEDULE_ADAGRAD, ODD_KS[t]);
}

/* ------------------------------------------------------------------ schedules */

static void test_schedules(void)
{
    trib_mf_hparams_t hp;
    trib_mf_hparams_for_schedule(&hp, TRIB_MF_SCHEDULE_PLAIN);
    hp.lr = 0.02f;
    hp.lr_decay = 0.5f;
    CU_ASSERT_DOUBLE_EQUAL(trib_mf_lr_at_epoch(&hp, 0), 0.02, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(trib_mf_lr_at_epoch(&hp, 2), 0.01, 1e-7);
    hp.schedule = TRIB_MF_SCHEDULE_ADAGRAD; /* the base rate decays the same way */
    CU_ASSERT_DOUBLE_EQUAL(trib_mf_lr_at_epoch(&hp, 2), 0.01, 1e-7);
    hp.lr_decay = 0.0f;
    CU_ASSERT_DOUBLE_EQUAL(trib_mf_lr_at_epoch(&hp, 7), 0.02, 1e-7);
    trib_mf_hparams_for_schedule(&hp, TRIB_MF_SCHEDULE_ADAGRAD);
    CU_ASSERT_DOUBLE_EQUAL(hp.lr_decay, TRIB_MF_DEFAULT_LR_DECAY_ADAGRAD, 0.0);
    trib_mf_hparams_for_schedule(&hp, TRIB_MF_SCHEDULE_PLAIN);
    CU_ASSERT_DOUBLE_EQUAL(hp.lr_decay, TRIB_MF_DEFAULT_LR_DECAY_PLAIN, 0.0);

    /* The first AdaGrad step of fresh rows (G = 1) equals a plain step; after
     * that AdaGrad's steps on the same rating shrink while plain ones do not. */
    trib_mf_model_t a, b;
    CU_ASSERT_EQUAL_FATAL(trib_mf_model_create(&a, 9, 1, 1), TRIB_OK);
    CU_ASSERT_EQUAL_FATAL(trib_mf_model_create(&b, 9, 1, 1), TRIB_OK);
    trib_mf_model_init_values(&a, 3, 0.5f);
    trib_mf_model_init_values(&b, 3, 0.5f);
    trib_mf_hparams_t plain = {TRIB_MF_SCHEDULE_PLAIN, 0.05f, 0.0f, 0.02f, 0.01f, 0.1f, 1.0f};
    trib_mf_hparams_t ada = plain;
    ada.schedule = TRIB_MF_SCHEDULE_ADAGRAD;
    trib_mf_rating_t rt = {0, 0, 5.0f};
    CU_ASSERT_EQUAL(trib_mf_sgd_run(&a, &plain, 0, &rt, 1, NULL, 0, 1), TRIB_OK);
    CU_ASSERT_EQUAL(trib_mf_sgd_run(&b, &ada, 0, &rt, 1, NULL, 0, 1), TRIB_OK);
    CU_ASSERT_DOUBLE_EQUAL(a.users.bias[0], b.users.bias[0], 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(trib_mf_row(&a.items, 0)[4], trib_mf_row(&b.items, 0)[4], 1e-6);
    CU_ASSERT(b.users.adagrad[0] > 1.0f && b.items.adagrad[0] > 1.0f);
    CU_ASSERT_EQUAL(a.users.adagrad[0], 1.0f); /* plain leaves G alone */
    /* Repeating the same rating: AdaGrad's G grows at every step, so its rate
     * lr / sqrt(G) falls; plain's rate stays lr (no decay here). */
    float prev_g = b.users.adagrad[0];
    for (int it = 0; it < 5; it++) {
        CU_ASSERT_EQUAL(trib_mf_sgd_run(&b, &ada, 0, &rt, 1, NULL, 0, 1), TRIB_OK);
        CU_ASSERT(b.users.adagrad[0] > prev_g);
        prev_g = b.users.adagrad[0];
    }
    trib_mf_model_t *ms[2] = {&a, &b};
    const trib_mf_hparams_t *hps[2] = {&plain, &ada};
    for (int j = 0; j < 2; j++) {
        /* The observed rate of the user bias: delta b_u / (e - reg_b b_u). */
        double g = ms[j]->users.adagrad[0], bu = ms[j]->users.bias[0];
        double e = rt.rating - trib_mf_predict(ms[j], 0, 0);
        CU_ASSERT_EQUAL(trib_mf_sgd_run(ms[j], hps[j], 0, &rt, 1, NULL, 0, 1), TRIB_OK);
        double eta = (ms[j]->users.bias[0] - bu) / (e - hps[j]->reg_bias * bu);
        double want = j == 0 ? plain.lr : ada.lr / sqrt(g);
        CU_ASSERT_DOUBLE_EQUAL(eta, want, 1e-3 * want);
        if (j == 1)
            TRIB_ASSERT_LT(eta, 0.8 * ada.lr);
    }
    trib_mf_model_destroy(&a);
    trib_mf_model_destroy(&b);

    trib_mf_schedule_t s;
    CU_ASSERT_EQUAL(trib_mf_schedule_parse("adagrad", &s), TRIB_OK);
    CU_ASSERT_EQUAL(s, TRIB_MF_SCHEDULE_ADAGRAD);
    CU_ASSERT_EQUAL(trib_mf_schedule_parse("plain", &s), TRIB_OK);
    CU_ASSERT_EQUAL(s, TRIB_MF_SCHEDULE_PLAIN);
    CU_ASSERT_EQUAL(trib_mf_schedule_parse("adam", &s), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_STRING_EQUAL(trib_mf_schedule_name(TRIB_MF_SCHEDULE_PLAIN), "plain");
}

static void test_hparams_validation(void)
{
    trib_mf_hparams_t hp;
    trib_mf_hparams_default(&hp);
    CU_ASSERT_EQUAL(trib_mf_hparams_validate(&hp), TRIB_OK);
    CU_ASSERT_EQUAL(hp.schedule, TRIB_MF_DEFAULT_SCHEDULE);
    CU_ASSERT_DOUBLE_EQUAL(hp.lr, TRIB_MF_DEFAULT_LR, 0.0);
    trib_mf_hparams_t bad = hp;
    bad.lr = 0.0f;
    CU_ASSERT_EQUAL(trib_mf_hparams_validate(&bad), TRIB_ERR_INVALID_ARG);
    bad = hp;
    bad.reg_factors = -1.0f;
    CU_ASSERT_EQUAL(trib_mf_hparams_validate(&bad), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(TRIB_ERR_INVALID_ARG), "regularisation"));
    bad = hp;
    bad.lr = NAN;
    CU_ASSERT_EQUAL(trib_mf_hparams_validate(&bad), TRIB_ERR_INVALID_ARG);
    bad = hp;
    bad.schedule = (trib_mf_schedule_t)7;
    CU_ASSERT_EQUAL(trib_mf_hparams_validate(&bad), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_DOUBLE_EQUAL(hp.item_lr_scale, 1.0, 0.0);
    bad = hp;
    bad.item_lr_scale = 0.0f;
    CU_ASSERT_EQUAL(trib_mf_hparams_validate(&bad), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(TRIB_ERR_INVALID_ARG), "item learning-rate scale"));
}

/*
 * item_lr_scale s: one step from the same start moves the item row (factors
 * and bias) s times as far as with s = 1 and leaves the user row's step
 * unchanged, under both schedules (the user step reads the old item row).
 */
static void test_item_lr_scale(void)
{
    for (int sched = 0; sched < 2; sched++) {
        trib_mf_model_t m[2];
        trib_mf_hparams_t hp;
        trib_mf_hparams_for_schedule(&hp, (trib_mf_schedule_t)sched);
        hp.lr_decay = 0.0f;
        for (int v = 0; v < 2; v++) {
            CU_ASSERT_EQUAL_FATAL(trib_mf_model_create(&m[v], 24, 1, 1), TRIB_OK);
            trib_mf_model_init_values(&m[v], 11, 0.5f);
            m[v].mean = 3.0f;
        }
        trib_mf_model_t start;
        CU_ASSERT_EQUAL_FATAL(trib_mf_model_create(&start, 24, 1, 1), TRIB_OK);
        trib_mf_model_init_values(&start, 11, 0.5f);
        trib_mf_rating_t rt = {0, 0, 4.5f};
        CU_ASSERT_EQUAL(trib_mf_sgd_run(&m[0], &hp, 0, &rt, 1, NULL, 0, 1), TRIB_OK);
        hp.item_lr_scale = 3.0f;
        CU_ASSERT_EQUAL(trib_mf_sgd_run(&m[1], &hp, 0, &rt, 1, NULL, 0, 1), TRIB_OK);
        const float *q0 = trib_mf_row(&m[0].items, 0), *q1 = trib_mf_row(&m[1].items, 0);
        const float *p0 = trib_mf_row(&m[0].users, 0), *p1 = trib_mf_row(&m[1].users, 0);
        const float *qs = trib_mf_row(&start.items, 0);
        double moved = 0.0;
        for (size_t j = 0; j < 24; j++) {
            double d0 = (double)q0[j] - qs[j], d1 = (double)q1[j] - qs[j];
            CU_ASSERT_DOUBLE_EQUAL(d1, 3.0 * d0, 1e-5);
            CU_ASSERT_EQUAL(p0[j], p1[j]);
            moved += fabs(d0);
        }
        CU_ASSERT(moved > 1e-4); /* the step did something to compare */
        CU_ASSERT_DOUBLE_EQUAL(m[1].items.bias[0], 3.0 * m[0].items.bias[0], 1e-6);
        CU_ASSERT_EQUAL(m[0].users.bias[0], m[1].users.bias[0]);
        trib_mf_model_destroy(&m[0]);
        trib_mf_model_destroy(&m[1]);
        trib_mf_model_destroy(&start);
    }
}

/* ------------------------------------------------------------------ visiting order */

static void test_visit_order(void)
{
    size_t n = 1000;
    uint32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    unsigned char *seen = calloc(n, 1);
    CU_ASSERT_EQUAL(trib_mf_visit_order(a, n, 9, 0), TRIB_OK);
    for (size_t i = 0; i < n; i++)
        seen[a[i]]++;
    int perm = 1, ident = 1;
    for (size_t i = 0; i < n; i++) {
        perm &= seen[i] == 1;
        ident &= a[i] == i;
    }
    CU_ASSERT(perm);
    CU_ASSERT_FALSE(ident);
    CU_ASSERT_EQUAL(trib_mf_visit_order(b, n, 9, 0), TRIB_OK);
    CU_ASSERT_EQUAL(memcmp(a, b, n * sizeof *a), 0);
    CU_ASSERT_EQUAL(trib_mf_visit_order(b, n, 9, 1), TRIB_OK);
    CU_ASSERT_NOT_EQUAL(memcmp(a, b, n * sizeof *a), 0);
    CU_ASSERT_EQUAL(trib_mf_visit_order(b, n, 10, 0), TRIB_OK);
    CU_ASSERT_NOT_EQUAL(memcmp(a, b, n * sizeof *a), 0);
    CU_ASSERT_EQUAL(trib_mf_visit_order(NULL, 0, 1, 0), TRIB_OK);
    free(a);
    free(b);
    free(seen);
}

/* ------------------------------------------------------------------ sync helpers */

static void test_delta_average_and_sum(void)
{
    trib_mf_block_t snap, r1, r2, d1, d2, sum;
    CU_ASSERT_EQUAL_FATAL(trib_mf_block_create(&snap, 20, 7), TRIB_OK);
    /* Values that are multiples of 1/8 keep every sum below exact in float. */
    for (size_t r = 0; r < 20; r++) {
        for (size_t f = 0; f < 7; f++)
            trib_mf_row(&snap, r)[f] = (float)((int)((r * 7 + f) % 11) - 5) / 8.0f;
        snap.bias[r] = (float)r / 8.0f;
        snap.adagrad[r] = 1.0f + (float)r;
    }
    CU_ASSERT_EQUAL_FATAL(trib_mf_block_clone(&r1, &snap), TRIB_OK);
    CU_ASSERT_EQUAL_FATAL(trib_mf_block_clone(&r2, &snap), TRIB_OK);
    CU_ASSERT_EQUAL_FATAL(trib_mf_block_clone(&d1, &snap), TRIB_OK);
    CU_ASSERT_EQUAL_FATAL(trib_mf_block_clone(&d2, &snap), TRIB_OK);
    CU_ASSERT_EQUAL_FATAL(trib_mf_block_clone(&sum, &snap), TRIB_OK);
    /* Two "replicas" move different rows by dyadic amounts (exact in float). */
    for (size_t r = 0; r < 20; r++) {
        trib_mf_row(&r1, r)[r % 7] += 0.25f;
        r1.bias[r] += 0.5f;
        trib_mf_row(&r2, r)[(r + 3) % 7] -= 0.125f;
        r2.adagrad[r] += 1.0f;
    }
    CU_ASSERT_EQUAL(trib_mf_block_delta(&d1, &r1, &snap), TRIB_OK);
    CU_ASSERT_EQUAL(trib_mf_block_delta(&d2, &r2, &snap), TRIB_OK);
    CU_ASSERT_EQUAL(trib_mf_block_delta(&r1, &r1, &snap), TRIB_ERR_INVALID_ARG);
    for (size_t j = 0; j < sum.n_values; j++) /* what an allreduce(SUM) would produce */
        sum.values[j] = d1.values[j] + d2.values[j];
    /* Delta summation: both replicas' changes applied. */
    trib_mf_block_t out;
    CU_ASSERT_EQUAL_FATAL(trib_mf_block_clone(&out, &r1), TRIB_OK);
    CU_ASSERT_EQUAL(trib_mf_block_apply_delta(&out, &snap, sum.values, 1.0f), TRIB_OK);
    for (size_t r = 0; r < 20; r++) {
        CU_ASSERT_EQUAL(trib_mf_row(&out, r)[r % 7] - trib_mf_row(&snap, r)[r % 7], 0.25f);
        CU_ASSERT_EQUAL(out.bias[r], snap.bias[r] + 0.5f);
        CU_ASSERT_EQUAL(out.adagrad[r], snap.adagrad[r] + 1.0f);
    }
    /* Model averaging: scale 1/2 gives the mean of the replicas (exact here). */
    CU_ASSERT_EQUAL(trib_mf_block_apply_delta(&out, &snap, sum.values, 0.5f), TRIB_OK);
    int ok = 1;
    for (size_t j = 0; j < out.n_values; j++)
        ok &= out.values[j] == 0.5f * (r1.values[j] + r2.values[j]);
    CU_ASSERT(ok);
    /* The result depends only on (snap, sum): another starting "cur" gives the same bytes. */
    CU_ASSERT_EQUAL(trib_mf_block_apply_delta(&r2, &snap, sum.values, 0.5f), TRIB_OK);
    CU_ASSERT_EQUAL(memcmp(r2.values, out.values, out.n_values * sizeof(float)), 0);
    CU_ASSERT(padding_is_zero(&out));
    trib_mf_block_t *all[] = {&snap, &r1, &r2, &d1, &d2, &sum, &out};
    for (size_t j = 0; j < sizeof all / sizeof all[0]; j++)
        trib_mf_block_destroy(all[j]);
}

/* ------------------------------------------------------------------ convergence */

typedef struct {
    trib_mf_rating_t *train, *test;
    size_t n_train, n_test;
    float mean;
} planted_t;

/* Planted biased-MF ratings (k_true, noise sigma) on a dense-ish grid; 10% test. */
static void make_planted(planted_t *d, size_t nu, size_t ni, size_t kt, double sigma, double density, uint64_t seed)
{
    float *p = malloc(nu * kt * sizeof *p), *q = malloc(ni * kt * sizeof *q);
    float *bu = malloc(nu * sizeof *bu), *bi = malloc(ni * sizeof *bi);
    trib_rng_t r;
    trib_rng_init(&r, seed, 1);
    double fs = pow(1.0 / (double)kt, 0.25); /* dot product std about 1 */
    for (size_t j = 0; j < nu * kt; j++)
        p[j] = (float)(fs * trib_rng_normal(&r));
    for (size_t j = 0; j < ni * kt; j++)
        q[j] = (float)(fs * trib_rng_normal(&r));
    for (size_t j = 0; j < nu; j++)
        bu[j] = (float)(0.3 * trib_rng_normal(&r));
    for (size_t j = 0; j < ni; j++)
        bi[j] = (float)(0.3 * trib_rng_normal(&r));
    d->train = malloc(nu * ni * sizeof *d->train);
    d->test = malloc(nu * ni * sizeof *d->test);
    d->n_train = d->n_test = 0;
    double sum = 0.0;
    for (size_t u = 0; u < nu; u++)
        for (size_t i = 0; i < ni; i++) {
            if (trib_rng_uniform(&r) >= density)
                continue;
            double dot = 0.0;
            for (size_t f = 0; f < kt; f++)
                dot += (double)p[u * kt + f] * q[i * kt + f];
            trib_mf_rating_t rt = {(uint32_t)u, (uint32_t)i, (float)(3.0 + bu[u] + bi[i] + dot + sigma * trib_rng_normal(&r))};
            if (trib_rng_uniform(&r) < 0.1)
                d->test[d->n_test++] = rt;
            else {
                d->train[d->n_train++] = rt;
                sum += rt.rating;
            }
        }
    d->mean = (float)(sum / (double)d->n_train);
    free(p);
    free(q);
    free(bu);
    free(bi);
}

static double train_planted(const planted_t *d, size_t nu, size_t ni, size_t k, const trib_mf_hparams_t *hp,
                            unsigned epochs)
{
    trib_mf_model_t m;
    CU_ASSERT_EQUAL_FATAL(trib_mf_model_create(&m, k, nu, ni), TRIB_OK);
    trib_mf_model_init_values(&m, 11, hp->init_std);
    m.mean = d->mean;
    uint32_t *order = malloc(d->n_train * sizeof *order);
    for (unsigned e = 0; e < epochs; e++) {
        CU_ASSERT_EQUAL_FATAL(trib_mf_visit_order(order, d->n_train, 5, e), TRIB_OK);
        CU_ASSERT_EQUAL_FATAL(trib_mf_sgd_run(&m, hp, e, d->train, d->n_train, order, 0, d->n_train), TRIB_OK);
    }
    trib_mf_error_sums_t s = {0};
    CU_ASSERT_EQUAL(trib_mf_evaluate(&m, d->test, d->n_test, &s), TRIB_OK);
    CU_ASSERT(padding_is_zero(&m.users) && padding_is_zero(&m.items));
    free(order);
    trib_mf_model_destroy(&m);
    return trib_mf_rmse(&s);
}

/* Both schedules with their defaults reach test RMSE within 10% of the noise. */
static void test_convergence_planted(void)
{
    const size_t nu = 400, ni = 300, kt = 4;
    const double sigma = 0.3;
    planted_t d;
    make_planted(&d, nu, ni, kt, sigma, 0.6, 2024);
    const size_t ks[] = {8, 7, 33};
    const trib_mf_schedule_t sch[] = {TRIB_MF_SCHEDULE_ADAGRAD, TRIB_MF_SCHEDULE_PLAIN, TRIB_MF_SCHEDULE_ADAGRAD};
    for (size_t t = 0; t < 3; t++) {
        trib_mf_hparams_t hp;
        trib_mf_hparams_for_schedule(&hp, sch[t]);
        double rmse = train_planted(&d, nu, ni, ks[t], &hp, 30);
        fprintf(stderr, "planted k_true %zu sigma %.2f: %s k %zu test RMSE %.4f (%.3f x sigma)\n", kt, sigma,
                trib_mf_schedule_name(sch[t]), ks[t], rmse, rmse / sigma);
        TRIB_ASSERT_LE(rmse, 1.10 * sigma);
    }
    free(d.train);
    free(d.test);
}

/* Visiting ratings through an order equals visiting the permuted array; a sub-range runs only its part. */
static void test_order_semantics(void)
{
    planted_t d;
    make_planted(&d, 40, 30, 3, 0.2, 0.5, 5);
    size_t n = d.n_train;
    uint32_t *order = malloc(n * sizeof *order);
    trib_mf_rating_t *perm = malloc(n * sizeof *perm);
    CU_ASSERT_EQUAL_FATAL(trib_mf_visit_order(order, n, 8, 3), TRIB_OK);
    for (size_t i = 0; i < n; i++)
        perm[i] = d.train[order[i]];
    trib_mf_hparams_t hp;
    trib_mf_hparams_default(&hp);
    trib_mf_model_t a, b, c;
    CU_ASSERT_EQUAL_FATAL(trib_mf_model_create(&a, 20, 40, 30), TRIB_OK);
    CU_ASSERT_EQUAL_FATAL(trib_mf_model_create(&b, 20, 40, 30), TRIB_OK);
    CU_ASSERT_EQUAL_FATAL(trib_mf_model_create(&c, 20, 40, 30), TRIB_OK);
    trib_mf_model_init_values(&a, 1, 0.1f);
    trib_mf_model_init_values(&b, 1, 0.1f);
    trib_mf_model_init_values(&c, 1, 0.1f);
    CU_ASSERT_EQUAL(trib_mf_sgd_run(&a, &hp, 2, d.train, n, order, 0, n), TRIB_OK);
    CU_ASSERT_EQUAL(trib_mf_sgd_run(&b, &hp, 2, perm, n, NULL, 0, n), TRIB_OK);
    /* In three chunks, as a trainer synchronising twice in the epoch would call it. */
    CU_ASSERT_EQUAL(trib_mf_sgd_run(&c, &hp, 2, d.train, n, order, 0, n / 3), TRIB_OK);
    CU_ASSERT_EQUAL(trib_mf_sgd_run(&c, &hp, 2, d.train, n, order, n / 3, n / 2), TRIB_OK);
    CU_ASSERT_EQUAL(trib_mf_sgd_run(&c, &hp, 2, d.train, n, order, n / 2, n), TRIB_OK);
    CU_ASSERT_EQUAL(memcmp(a.users.values, b.users.values, a.users.n_values * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(a.items.values, b.items.values, a.items.n_values * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(a.items.values, c.items.values, a.items.n_values * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(a.users.values, c.users.values, a.users.n_values * sizeof(float)), 0);
    trib_mf_model_destroy(&a);
    trib_mf_model_destroy(&b);
    trib_mf_model_destroy(&c);
    free(order);
    free(perm);
    free(d.train);
    free(d.test);
}

/*
 * The kernel runs two consecutive ratings together when their users and items
 * differ (kernel_impl.inc, run_batch and pair_rows).  One rating per call never
 * pairs, so a whole-batch run must equal a run of single-rating calls bit for bit.
 * Two shapes, each in a shuffled order: 12 users x 9 items (many neighbours share a
 * row and take the single path in the middle of a batch) and 200 x 150 (most
 * neighbours pair); both kinds of neighbours are counted and checked to occur, so
 * each path runs.
 */
static void test_paired_steps_equal_single(void)
{
    const size_t shapes[2][2] = {{12, 9}, {200, 150}};
    const double density[2] = {0.9, 0.2};
    for (int sh = 0; sh < 2; sh++) {
        size_t nu = shapes[sh][0], ni = shapes[sh][1];
        planted_t d;
        make_planted(&d, nu, ni, 3, 0.2, density[sh], 31);
        uint32_t *order = malloc(d.n_train * sizeof *order);
        CU_ASSERT_PTR_NOT_NULL_FATAL(order);
        trib_rng_t rng;
        trib_rng_init(&rng, 5, 1);
        for (size_t i = 0; i < d.n_train; i++)
            order[i] = (uint32_t)i;
        for (size_t i = d.n_train; i > 1; i--) {
            size_t j = (size_t)trib_rng_below(&rng, i);
            uint32_t t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        size_t shared = 0, disjoint = 0;
        for (size_t i = 1; i < d.n_train; i++) {
            const trib_mf_rating_t *a = &d.train[order[i - 1]], *b = &d.train[order[i]];
            shared += a->user == b->user || a->item == b->item;
            disjoint += a->user != b->user && a->item != b->item;
        }
        CU_ASSERT(shared > 0);
        CU_ASSERT(disjoint > 0);
        const size_t ks[] = {7, 32, 64};
        for (int sched = 0; sched < 2; sched++)
            for (size_t t = 0; t < 3; t++) {
                trib_mf_hparams_t hp;
                trib_mf_hparams_for_schedule(&hp, sched ? TRIB_MF_SCHEDULE_ADAGRAD : TRIB_MF_SCHEDULE_PLAIN);
                trib_mf_model_t a, b;
                CU_ASSERT_EQUAL_FATAL(trib_mf_model_create(&a, ks[t], nu, ni), TRIB_OK);
                CU_ASSERT_EQUAL_FATAL(trib_mf_model_create(&b, ks[t], nu, ni), TRIB_OK);
                trib_mf_model_init_values(&a, 4, 0.1f);
                trib_mf_model_init_values(&b, 4, 0.1f);
                a.mean = b.mean = d.mean;
                for (unsigned e = 0; e < 3; e++) {
                    CU_ASSERT_EQUAL(trib_mf_sgd_run(&a, &hp, e, d.train, d.n_train, order, 0, d.n_train), TRIB_OK);
                    for (size_t i = 0; i < d.n_train; i++)
                        CU_ASSERT_EQUAL(trib_mf_sgd_run(&b, &hp, e, d.train, d.n_train, order, i, i + 1), TRIB_OK);
                }
                CU_ASSERT_EQUAL(memcmp(a.users.values, b.users.values, a.users.n_values * sizeof(float)), 0);
                CU_ASSERT_EQUAL(memcmp(a.items.values, b.items.values, a.items.n_values * sizeof(float)), 0);
                CU_ASSERT_EQUAL(memcmp(a.users.adagrad, b.users.adagrad, nu * sizeof(float)), 0);
                CU_ASSERT_EQUAL(memcmp(a.items.adagrad, b.items.adagrad, ni * sizeof(float)), 0);
                trib_mf_model_destroy(&a);
                trib_mf_model_destroy(&b);
            }
        free(order);
        free(d.train);
        free(d.test);
    }
}

/*
 * The ISA levels (TRIB_MF_ISA lowers the one in use) add lanes in the same
 * order, so the levels with FMA (v4, v3) give bitwise-identical models and the
 * baseline (separate multiply and add) stays within rounding of them.
 */
static void train_small(size_t k, const char *isa, trib_mf_model_t *m, const planted_t *d)
{
    if (isa)
        setenv("TRIB_MF_ISA", isa, 1);
    else
        unsetenv("TRIB_MF_ISA");
    CU_ASSERT_EQUAL_FATAL(trib_mf_model_create(m, k, 60, 50), TRIB_OK);
    trib_mf_model_init_values(m, 3, 0.1f);
    m->mean = d->mean;
    trib_mf_hparams_t hp[2];
    trib_mf_hparams_for_schedule(&hp[0], TRIB_MF_SCHEDULE_PLAIN);
    trib_mf_hparams_for_schedule(&hp[1], TRIB_MF_SCHEDULE_ADAGRAD);
    for (unsigned e = 0; e < 4; e++)
        CU_ASSERT_EQUAL(trib_mf_sgd_run(m, &hp[e % 2], e, d->train, d->n_train, NULL, 0, d->n_train), TRIB_OK);
    unsetenv("TRIB_MF_ISA");
}

static void test_isa_levels_agree(void)
{
    planted_t d;
    make_planted(&d, 60, 50, 3, 0.2, 0.5, 77);
    fprintf(stderr, "kernel ISA: %s\n", trib_mf_kernel_isa());
    const size_t ks[] = {7, 32, 33, 64, 128};
    for (size_t t = 0; t < 5; t++) {
        trib_mf_model_t best, v3, base;
        train_small(ks[t], NULL, &best, &d);
        train_small(ks[t], "v3", &v3, &d);
        train_small(ks[t], "base", &base, &d);
        CU_ASSERT_EQUAL(memcmp(best.users.values, v3.users.values, best.users.n_values * sizeof(float)), 0);
        CU_ASSERT_EQUAL(memcmp(best.items.values, v3.items.values, best.items.n_values * sizeof(float)), 0);
        double maxdiff = 0.0;
        for (size_t j = 0; j < best.items.n_values; j++)
            maxdiff = fmax(maxdiff, fabs((double)best.items.values[j] - base.items.values[j]));
        CU_ASSERT(maxdiff < 1e-3);
        trib_mf_model_destroy(&best);
        trib_mf_model_destroy(&v3);
        trib_mf_model_destroy(&base);
    }
    free(d.train);
    free(d.test);
}

/* ------------------------------------------------------------------ evaluation */

static void test_evaluate_and_clip(void)
{
    trib_mf_model_t m;
    CU_ASSERT_EQUAL_FATAL(trib_mf_model_create(&m, 3, 2, 2), TRIB_OK);
    m.mean = 3.0f;
    m.rating_min = 1.0f;
    m.rating_max = 5.0f;
    /* user 0: (1,0,0), user 1: (0,2,0); item 0: (1,1,0), item 1: (3,0,0); biases u1 +0.5, i1 -1 */
    trib_mf_row(&m.users, 0)[0] = 1.0f;
    trib_mf_row(&m.users, 1)[1] = 2.0f;
    trib_mf_row(&m.items, 0)[0] = 1.0f;
    trib_mf_row(&m.items, 0)[1] = 1.0f;
    trib_mf_row(&m.items, 1)[0] = 3.0f;
    m.users.bias[1] = 0.5f;
    m.items.bias[1] = -1.0f;
    CU_ASSERT_DOUBLE_EQUAL(trib_mf_predict(&m, 0, 0), 4.0, 1e-6);  /* 3 + 1 */
    CU_ASSERT_DOUBLE_EQUAL(trib_mf_predict(&m, 0, 1), 5.0, 1e-6);  /* 3 - 1 + 3 = 5 */
    CU_ASSERT_DOUBLE_EQUAL(trib_mf_predict(&m, 1, 0), 5.0, 1e-6);  /* 3 + .5 + 2 = 5.5 -> 5 */
    CU_ASSERT_DOUBLE_EQUAL(trib_mf_predict(&m, 1, 1), 2.5, 1e-6);  /* 3 + .5 - 1 + 0 */
    trib_mf_rating_t r[] = {{0, 0, 3.0f}, {1, 0, 5.0f}, {1, 1, 4.5f}};
    trib_mf_error_sums_t s = {0};
    CU_ASSERT_EQUAL(trib_mf_evaluate(&m, r, 3, &s), TRIB_OK);
    CU_ASSERT_DOUBLE_EQUAL(s.count, 3.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(s.sq_err, 1.0 + 0.0 + 4.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(s.abs_err, 1.0 + 0.0 + 2.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(trib_mf_rmse(&s), sqrt(5.0 / 3.0), 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(trib_mf_mae(&s), 1.0, 1e-12);
    /* Sums accumulate (as across ranks). */
    CU_ASSERT_EQUAL(trib_mf_evaluate(&m, r, 1, &s), TRIB_OK);
    CU_ASSERT_DOUBLE_EQUAL(s.count, 4.0, 0.0);
    trib_mf_rating_t badr = {2, 0, 1.0f};
    CU_ASSERT_EQUAL(trib_mf_evaluate(&m, &badr, 1, &s), TRIB_ERR_RANGE);
    trib_mf_error_sums_t z = {0};
    CU_ASSERT(isnan(trib_mf_rmse(&z)));
    trib_mf_model_destroy(&m);
}

/* ------------------------------------------------------------------ errors */

static void test_sgd_errors(void)
{
    trib_mf_model_t m;
    CU_ASSERT_EQUAL_FATAL(trib_mf_model_create(&m, 5, 3, 3), TRIB_OK);
    trib_mf_model_init_values(&m, 1, 0.1f);
    trib_mf_hparams_t hp;
    trib_mf_hparams_default(&hp);
    trib_mf_rating_t r[] = {{0, 0, 4.0f}, {1, 3, 4.0f}, {2, 2, 4.0f}};
    trib_mf_block_t before;
    CU_ASSERT_EQUAL_FATAL(trib_mf_block_clone(&before, &m.users), TRIB_OK);
    CU_ASSERT_EQUAL(trib_mf_sgd_run(&m, &hp, 0, r, 3, NULL, 0, 3), TRIB_ERR_RANGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(TRIB_ERR_RANGE), "item row 3"));
    /* rating 0 applied, rating 2 (after the bad one) not. */
    CU_ASSERT_NOT_EQUAL(memcmp(trib_mf_row(&before, 0), trib_mf_row(&m.users, 0), 5 * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(trib_mf_row(&before, 2), trib_mf_row(&m.users, 2), 5 * sizeof(float)), 0);
    uint32_t order[] = {0, 7};
    CU_ASSERT_EQUAL(trib_mf_sgd_run(&m, &hp, 0, r, 3, order, 0, 2), TRIB_ERR_RANGE);
    CU_ASSERT_EQUAL(trib_mf_sgd_run(&m, &hp, 0, r, 3, NULL, 2, 1), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(trib_mf_sgd_run(&m, &hp, 0, r, 3, NULL, 0, 4), TRIB_ERR_INVALID_ARG);
    CU_ASSERT_EQUAL(trib_mf_sgd_run(&m, &hp, 0, r, 3, NULL, 1, 1), TRIB_OK);
    hp.lr = -1.0f;
    CU_ASSERT_EQUAL(trib_mf_sgd_run(&m, &hp, 0, r, 1, NULL, 0, 1), TRIB_ERR_INVALID_ARG);
    trib_mf_block_destroy(&before);
    trib_mf_model_destroy(&m);
    CU_ASSERT_EQUAL(trib_mf_model_create(&m, 0, 3, 3), TRIB_ERR_INVALID_ARG);
}

/* ------------------------------------------------------------------ top-K */

/* A model whose every value is a small multiple of 1/8, so all scores are exact in float. */
static void dyadic_model(trib_mf_model_t *m, size_t k, size_t nu, size_t ni, uint64_t seed)
{
    CU_ASSERT_EQUAL_FATAL(trib_mf_model_create(m, k, nu, ni), TRIB_OK);
    trib_rng_t r;
    trib_rng_init(&r, seed, 3);
    trib_mf_block_t *blocks[2] = {&m->users, &m->items};
    for (int b = 0; b < 2; b++)
        for (size_t i = 0; i < blocks[b]->n_rows; i++) {
            for (size_t f = 0; f < k; f++)
                trib_mf_row(blocks[b], i)[f] = (float)((int)trib_rng_below(&r, 5) - 2) / 8.0f;
            blocks[b]->bias[i] = (float)((int)trib_rng_below(&r, 3) - 1) / 8.0f;
        }
    m->mean = 3.5f;
}

/* Brute force: every item scored in double, sorted by (score desc, item asc). */
static void brute_topk(const trib_mf_model_t *m, uint32_t u, size_t K, const trib_mf_exclusion_t *ex,
                       uint32_t *items, float *scores)
{
    size_t ni = m->items.n_rows, n = 0;
    uint32_t *cand = malloc(ni * sizeof *cand);
    double *sc = malloc(ni * sizeof *sc);
    for (uint32_t i = 0; i < ni; i++) {
        int excluded = 0;
        if (ex)
            for (size_t x = ex->offsets[u]; x < ex->offsets[u + 1]; x++)
                excluded |= ex->items[x] == i;
        if (excluded)
            continue;
        double s = m->mean + m->users.bias[u] + m->items.bias[i];
        for (size_t f = 0; f < m->users.k; f++)
            s += (double)trib_mf_row(&m->users, u)[f] * trib_mf_row(&m->items, i)[f];
        cand[n] = i;
        sc[i] = s;
        n++;
    }
    for (size_t a = 1; a < n; a++) /* insertion sort, stable on item order */
        for (size_t b = a; b > 0 && sc[cand[b]] > sc[cand[b - 1]]; b--) {
            uint32_t t = cand[b];
            cand[b] = cand[b - 1];
            cand[b - 1] = t;
        }
    for (size_t j = 0; j < K; j++) {
        items[j] = j < n ? cand[j] : TRIB_MF_NO_ITEM;
        scores[j] = j < n ? (float)sc[cand[j]] : -INFINITY;
    }
    free(cand);
    free(sc);
}

static void check_topk(size_t k, size_t nu, size_t ni, size_t K, int with_exclusion)
{
    trib_mf_model_t m;
    dyadic_model(&m, k, nu, ni, 100 + k);
    size_t *off = calloc(nu + 1, sizeof *off);
    uint32_t *ex_items = malloc(nu * ni * sizeof *ex_items);
    trib_rng_t r;
    trib_rng_init(&r, 5, 6);
    for (size_t u = 0; u < nu; u++) {
        off[u + 1] = off[u];
        for (uint32_t i = 0; i < ni; i++)
            if (with_exclusion && trib_rng_uniform(&r) < (u == 1 ? 0.95 : 0.3)) /* user 1: nearly all excluded */
                ex_items[off[u + 1]++] = i;
    }
    trib_mf_exclusion_t ex = {off, ex_items};
    uint32_t *users = malloc(nu * sizeof *users);
    for (size_t u = 0; u < nu; u++) /* ask in reverse order, to check row mapping */
        users[u] = (uint32_t)(nu - 1 - u);
    uint32_t *got = malloc(nu * K * sizeof *got), *want = malloc(K * sizeof *want);
    float *gots = malloc(nu * K * sizeof *gots), *wants = malloc(K * sizeof *wants);
    CU_ASSERT_EQUAL_FATAL(trib_mf_topk(&m, users, nu, K, with_exclusion ? &ex : NULL, got, gots), TRIB_OK);
    int ok = 1;
    for (size_t u = 0; u < nu; u++) {
        brute_topk(&m, users[u], K, with_exclusion ? &ex : NULL, want, wants);
        ok &= memcmp(got + u * K, want, K * sizeof *want) == 0;
        for (size_t j = 0; j < K; j++)
            ok &= gots[u * K + j] == wants[j];
    }
    CU_ASSERT(ok);
    /* Scores-less call gives the same items. */
    uint32_t *again = malloc(nu * K * sizeof *again);
    CU_ASSERT_EQUAL(trib_mf_topk(&m, users, nu, K, with_exclusion ? &ex : NULL, again, NULL), TRIB_OK);
    CU_ASSERT_EQUAL(memcmp(again, got, nu * K * sizeof *got), 0);
    free(again);
    free(off);
    free(ex_items);
    free(users);
    free(got);
    free(want);
    free(gots);
    free(wants);
    trib_mf_model_destroy(&m);
}

static void test_topk_vs_brute_force(void)
{
    check_topk(7, 30, 50, 5, 0);     /* many exact ties: values are multiples of 1/8 */
    check_topk(1, 10, 40, 10, 0);    /* k = 1: ties everywhere */
    check_topk(33, 300, 70, 8, 0);   /* more users than one block of 256 */
    check_topk(16, 20, 60, 12, 1);
    check_topk(7, 12, 40, 45, 1);    /* K larger than the candidates: filler at the end */
}

static void test_topk_errors(void)
{
    trib_mf_model_t m;
    dyadic_model(&m, 4, 3, 5, 1);
    uint32_t users[] = {0, 3}, out[4];
    CU_ASSERT_EQUAL(trib_mf_topk(&m, users, 2, 2, NULL, out, NULL), TRIB_ERR_RANGE);
    CU_ASSERT_EQUAL(trib_mf_topk(&m, users, 1, 0, NULL, out, NULL), TRIB_OK);
    CU_ASSERT_EQUAL(trib_mf_topk(&m, users, 1, 2, NULL, NULL, NULL), TRIB_ERR_INVALID_ARG);
    trib_mf_model_destroy(&m);
}

/* ------------------------------------------------------------------ ranking metrics */

static void test_rank_metrics(void)
{
    trib_mf_rank_sums_t s = {0};
    /* top = 5 4 3 2, relevant {2, 5, 9}: hits at ranks 0 and 3. */
    uint32_t top[] = {5, 4, 3, 2}, rel[] = {2, 5, 9};
    trib_mf_rank_metrics_add(&s, top, 4, rel, 3);
    CU_ASSERT_DOUBLE_EQUAL(s.precision, 0.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s.recall, 2.0 / 3.0, 1e-12);
    double dcg = 1.0 + 1.0 / log2(5.0), idcg = 1.0 + 1.0 / log2(3.0) + 0.5;
    CU_ASSERT_DOUBLE_EQUAL(s.ndcg, dcg / idcg, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s.users, 1.0, 0.0);
    /* A perfect list: NDCG 1; a user without relevant items: not counted. */
    uint32_t top2[] = {9, 1, TRIB_MF_NO_ITEM}, rel2[] = {1, 9};
    trib_mf_rank_metrics_add(&s, top2, 3, rel2, 2);
    CU_ASSERT_DOUBLE_EQUAL(s.ndcg, dcg / idcg + 1.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s.precision, 0.5 + 2.0 / 3.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s.recall, 2.0 / 3.0 + 1.0, 1e-12);
    trib_mf_rank_metrics_add(&s, top2, 3, rel2, 0);
    CU_ASSERT_DOUBLE_EQUAL(s.users, 2.0, 0.0);
    /* No hit at all. */
    uint32_t top3[] = {7}, rel3[] = {8};
    trib_mf_rank_metrics_add(&s, top3, 1, rel3, 1);
    CU_ASSERT_DOUBLE_EQUAL(s.users, 3.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(s.ndcg, dcg / idcg + 1.0, 1e-12);
}

int main(void)
{
    static CU_TestInfo block_tests[] = {{"stride and layout", test_stride_and_layout},
                                        {"init independent of row order", test_init_independent_of_row_order},
                                        {"init depends on seed, tag, scale", test_init_depends_on_seed_tag_and_scale},
                                        {"clone and copy", test_clone_and_copy},
                                        {"delta: averaging and summation", test_delta_average_and_sum},
                                        CU_TEST_INFO_NULL};
    static CU_TestInfo sgd_tests[] = {{"gradient check, plain", test_gradient_plain},
                                      {"gradient check, adagrad", test_gradient_adagrad},
                                      {"schedules", test_schedules},
                                      {"hyper-parameter validation", test_hparams_validation},
                                      {"item learning-rate scale", test_item_lr_scale},
                                      {"visiting order", test_visit_order},
                                      {"order semantics and chunks", test_order_semantics},
                                      {"errors", test_sgd_errors},
                                      {"convergence on planted data", test_convergence_planted},
                                      {"paired steps equal single steps", test_paired_steps_equal_single},
                                      {"ISA levels agree", test_isa_levels_agree},
                                      CU_TEST_INFO_NULL};
    static CU_TestInfo eval_tests[] = {{"evaluate and clip", test_evaluate_and_clip},
                                       {"top-K vs brute force", test_topk_vs_brute_force},
                                       {"top-K errors", test_topk_errors},
                                       {"ranking metrics", test_rank_metrics},
                                       CU_TEST_INFO_NULL};
    static CU_SuiteInfo suites[] = {{"mf block", NULL, NULL, NULL, NULL, block_tests},
                                    {"mf sgd", NULL, NULL, NULL, NULL, sgd_tests},
                                    {"mf eval", NULL, NULL, NULL, NULL, eval_tests},
                                    CU_SUITE_INFO_NULL};
    return trib_cunit_run(suites);
}
