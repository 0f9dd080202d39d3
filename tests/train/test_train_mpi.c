/*
 * test_train_mpi.c - MPI tests of the synchronous trainer (run at several rank counts).
 *
 *   test_train_mpi sync       bitwise-identical item blocks on every rank after every
 *                             synchronisation (both methods, several algorithms), checked by
 *                             broadcasting rank 0's block and comparing bytes, and by check_sync;
 *                             determinism (two runs, same seed and ranks -> identical model files);
 *                             a stop request on one rank stops every rank after the same round;
 *                             resuming from the stopped run's model and position (what a
 *                             checkpoint restores) ends bitwise equal to an uninterrupted run;
 *                             a time limit stops every rank at the same round boundary, TRIB_OK;
 *                             uneven ratings across ranks (one very heavy user) completes with
 *                             every rating visited once per epoch
 *   test_train_mpi converge   small planted data: test RMSE within 10% of the noise floor
 *   test_train_mpi invariance the default configuration at P ranks: test RMSE within 0.3% of one rank
 *   test_train_mpi rows       --sync-rows all / touched / auto: identical item blocks after every
 *                             round, only part of the rows sent where the rounds change part of
 *                             them, the same test RMSE as the whole block, two runs bitwise equal;
 *                             the blocked order's bands: item blocks on one rank (more items than
 *                             users), user blocks when sync mode averages item replicas (P > 1),
 *                             and the side --bands asks for; --sync-method strata: identical
 *                             item blocks, part of the rows per round, the test RMSE at most 2%
 *                             above model averaging's, two runs bitwise equal (and resume in "sync")
 *
 * Every rank checks; failures are counted, summed over ranks, and rank 0
 * reports them; the exit status is non-zero when any check failed anywhere.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/test_datasets.h"
#include "tributary/train.h"

static int g_rank, g_size, g_failures;

#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            g_failures++;                                                         \
            fprintf(stderr, "[rank %d] %s:%d: check failed: %s: ", g_rank, __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
        }                                                                         \
    } while (0)

#define CHECK_OK(rc) CHECK((rc) == TRIB_OK, "%s", trib_last_error(rc))

static char g_dir[256];

/* Rank 0 writes a planted dataset and its split under g_dir/<name>; every rank learns the verdict. */
static int make_data(const char *name, uint64_t users, uint64_t items, uint64_t ratings, uint32_t rank,
                     double user_exponent)
{
    trib_synth_config_t c;
    trib_synth_config_init(&c);
    c.n_users = users;
    c.n_items = items;
    c.n_ratings = ratings;
    c.rank = rank;
    c.noise_std = 0.5;
    c.seed = 7;
    c.user_exponent = user_exponent;
    return test_dataset_planted(g_dir, name, &c, 3);
}

/*
 * User 0 rated 2000 items and users 1..99 rated 10 each: the owner map cannot
 * split a user, so rank 0's load is far above the others' (with many ranks
 * some own no user at all).
 */
static int make_skewed(const char *name) { return test_dataset_skewed(g_dir, name, 2000, 99, 10, 2); }

static void paths(const char *name, char *tr, char *te, size_t cap) { test_dataset_paths(g_dir, name, tr, te, cap); }

/* The configuration most tests start from: k = 8, the given data, epochs and synchronisation interval. */
static void base_config(trib_train_config_t *c, const char *tr, const char *te, unsigned epochs, uint64_t sync_every)
{
    trib_train_config_init(c);
    c->train_dir = tr;
    c->test_dir = te;
    c->k = 8;
    c->epochs = epochs;
    c->sync_every = sync_every;
}


/* ------------------------------------------------------------------ identical items */

typedef struct {
    int rounds;
    int mismatches;
    int max_rounds_seen;
} ident_t;

/* after_round hook: rank 0's item block is broadcast and compared byte for byte. */
static int compare_items(void *arg, trib_trainer_t *t, const trib_train_position_t *pos)
{
    ident_t *st = arg;
    const trib_mf_block_t *b = &trib_trainer_model(t)->items;
    float *copy = malloc(b->n_values * sizeof *copy);
    if (!copy)
        return TRIB_ERR_NOMEM;
    memcpy(copy, b->values, b->n_values * sizeof *copy);
    MPI_Bcast(copy, (int)b->n_values, MPI_FLOAT, 0, trib_trainer_comm(t));
    if (memcmp(copy, b->values, b->n_values * sizeof *copy) != 0)
        st->mismatches++;
    free(copy);
    st->rounds++;
    if ((int)pos->rounds_per_epoch > st->max_rounds_seen)
        st->max_rounds_seen = (int)pos->rounds_per_epoch;
    return TRIB_OK;
}

static void test_identical_items(void)
{
    char tr[512], te[512];
    paths("small", tr, te, sizeof tr);
    static const trib_sync_method_t methods[] = {TRIB_SYNC_AVERAGE, TRIB_SYNC_DELTA_SUM};
    static const trib_algo_t algos[] = {TRIB_ALGO_RING, TRIB_ALGO_TREE, TRIB_ALGO_RD, TRIB_ALGO_AUTO};
    for (int m = 0; m < 2; m++) {
        for (int a = 0; a < 4; a++) {
            trib_train_config_t c;
            base_config(&c, tr, te, 2, 211); /* many rounds, not a divisor of anything */
            c.sync_method = methods[m];
            c.algo = algos[a];
            c.check_sync = (a % 2) == 0;
            trib_trainer_t *t;
            int rc = trib_trainer_create(&c, MPI_COMM_WORLD, &t);
            CHECK_OK(rc);
            if (rc != TRIB_OK)
                continue;
            ident_t st = {0, 0, 0};
            trib_train_hooks_t h = {&st, compare_items, NULL, NULL, NULL};
            rc = trib_trainer_run(t, &h);
            CHECK_OK(rc);
            uint64_t R = trib_trainer_rounds_per_epoch(t);
            CHECK(st.rounds == (int)(2 * R), "%d rounds seen, expected %d", st.rounds, (int)(2 * R));
            CHECK(R > 3, "only %d rounds per epoch: the test needs several", (int)R);
            CHECK(st.mismatches == 0, "%d rounds with item blocks differing from rank 0's (method %s, algo %s)",
                  st.mismatches, trib_sync_method_name(methods[m]), trib_train_algo_name(algos[a]));
            trib_trainer_destroy(t);
        }
    }
}

/* ------------------------------------------------------------------ determinism */

static int train_and_write(const char *tr, const char *te, const char *out)
{
    trib_train_config_t c;
    base_config(&c, tr, te, 3, 2000);
    trib_trainer_t *t;
    int rc = trib_trainer_create(&c, MPI_COMM_WORLD, &t);
    if (rc == TRIB_OK)
        rc = trib_trainer_run(t, NULL);
    if (rc == TRIB_OK)
        rc = trib_trainer_write_model(t, out);
    trib_trainer_destroy(t);
    return rc;
}

static int same_block(const trib_mf_block_t *a, const trib_mf_block_t *b)
{
    if (a->n_rows != b->n_rows || a->k != b->k)
        return 0;
    for (size_t r = 0; r < a->n_rows; r++)
        if (memcmp(trib_mf_row(a, r), trib_mf_row(b, r), a->k * sizeof(float)) != 0)
            return 0;
    return memcmp(a->bias, b->bias, a->n_rows * sizeof(float)) == 0;
}

static void test_determinism(void)
{
    char tr[512], te[512], m1[512], m2[512];
    paths("small", tr, te, sizeof tr);
    snprintf(m1, sizeof m1, "%s/model1.h5", g_dir);
    snprintf(m2, sizeof m2, "%s/model2.h5", g_dir);
    CHECK_OK(train_and_write(tr, te, m1));
    CHECK_OK(train_and_write(tr, te, m2));
    if (g_rank != 0)
        return;
    trib_model_file_t a, b;
    int rc = trib_model_file_read(m1, &a);
    CHECK_OK(rc);
    int rc2 = trib_model_file_read(m2, &b);
    CHECK_OK(rc2);
    if (rc != TRIB_OK || rc2 != TRIB_OK)
        return;
    CHECK(same_block(&a.model.users, &b.model.users), "user factors differ between two identical runs");
    CHECK(same_block(&a.model.items, &b.model.items), "item factors differ between two identical runs");
    CHECK(a.model.users.n_rows == 300 && a.model.items.n_rows == 150, "model shape %zu x %zu",
          a.model.users.n_rows, a.model.items.n_rows);
    /* the model is not trivially the initial one */
    float norm = 0;
    for (size_t i = 0; i < a.model.items.n_rows; i++)
        norm += fabsf(a.model.items.bias[i]);
    CHECK(norm > 0.0f, "item biases are all zero: nothing was trained");
    trib_model_file_free(&a);
    trib_model_file_free(&b);
}

/* ------------------------------------------------------------------ stop request */

static volatile sig_atomic_t g_stop;

static int raise_stop_on_last_rank(void *arg, trib_trainer_t *t, const trib_train_position_t *pos)
{
    (void)arg;
    (void)t;
    if (g_rank == g_size - 1 && pos->epoch == 1 && pos->round == 1)
        g_stop = 1;
    return TRIB_OK;
}

static void test_stop_request(void)
{
    char tr[512], te[512];
    paths("small", tr, te, sizeof tr);
    trib_train_config_t c;
    base_config(&c, tr, NULL, 5, 100);
    trib_trainer_t *t;
    int rc = trib_trainer_create(&c, MPI_COMM_WORLD, &t);
    CHECK_OK(rc);
    if (rc != TRIB_OK)
        return;
    g_stop = 0;
    trib_train_hooks_t h = {NULL, raise_stop_on_last_rank, NULL, NULL, &g_stop};
    rc = trib_trainer_run(t, &h);
    CHECK(rc == TRIB_ERR_INTERRUPTED, "run returned %d (%s), expected TRIB_ERR_INTERRUPTED", rc,
          trib_last_error(rc));
    unsigned e;
    uint64_t r;
    trib_trainer_next_position(t, &e, &r);
    /* the flag was raised after round 1 of epoch 1; it is seen at the next round (2), which is the last one run */
    CHECK(e == 1 && r == 3, "stopped before epoch %u round %llu, expected epoch 1 round 3", e,
          (unsigned long long)r);
    unsigned pos[2] = {e, (unsigned)r}, mx[2];
    MPI_Allreduce(pos, mx, 2, MPI_UNSIGNED, MPI_MAX, MPI_COMM_WORLD);
    CHECK(mx[0] == e && mx[1] == r, "ranks stopped at different positions");
    trib_trainer_destroy(t);
}

/* ------------------------------------------------------------------ time limit */

/*
 * cfg.time_limit: a run of "forever" epochs ends with TRIB_OK at the same
 * position on every rank, with time_limit_reached and identical item blocks
 * (it stopped at a round boundary); a stop request at the same time is still
 * TRIB_ERR_INTERRUPTED (the request wins).
 */
static void test_time_limit(void)
{
    char tr[512], te[512];
    paths("small", tr, te, sizeof tr);
    for (int with_request = 0; with_request < 2; with_request++) {
        trib_train_config_t c;
        base_config(&c, tr, NULL, 1000000, 100);
        c.time_limit = with_request ? 0.05 : 0.5;
        trib_trainer_t *t;
        int rc = trib_trainer_create(&c, MPI_COMM_WORLD, &t);
        CHECK_OK(rc);
        if (rc != TRIB_OK)
            return;
        g_stop = with_request && g_rank == 0;
        trib_train_hooks_t h = {NULL, NULL, NULL, NULL, &g_stop};
        rc = trib_trainer_run(t, &h);
        unsigned e;
        uint64_t r;
        trib_trainer_next_position(t, &e, &r);
        if (with_request) {
            CHECK(rc == TRIB_ERR_INTERRUPTED && !trib_trainer_time_limit_reached(t),
                  "a stop request with the time limit: run returned %d (%s), time limit reached %d; expected "
                  "TRIB_ERR_INTERRUPTED", rc, trib_last_error(rc), trib_trainer_time_limit_reached(t));
        } else {
            CHECK(rc == TRIB_OK && trib_trainer_time_limit_reached(t),
                  "time limit: run returned %d (%s), time limit reached %d; expected TRIB_OK and 1", rc,
                  trib_last_error(rc), trib_trainer_time_limit_reached(t));
            CHECK(e < c.epochs, "time limit: the run did all %u epochs", e);
        }
        unsigned long long mine[3] = {e, r, trib_trainer_item_hash(t)}, lo[3], hi[3];
        MPI_Allreduce(mine, lo, 3, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
        MPI_Allreduce(mine, hi, 3, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
        CHECK(lo[0] == hi[0] && lo[1] == hi[1], "time limit: ranks stopped at different positions (epoch %llu-%llu, "
              "round %llu-%llu)", lo[0], hi[0], lo[1], hi[1]);
        CHECK(lo[2] == hi[2], "time limit: item blocks differ between ranks after the stop");
        trib_trainer_destroy(t);
    }
    g_stop = 0;
}

/* ------------------------------------------------------------------ resume */

static trib_trainer_t *make_trainer(const char *tr, unsigned epochs, trib_sync_method_t method, int overlap)
{
    trib_train_config_t c;
    base_config(&c, tr, NULL, epochs, 100);
    c.sync_method = method;
    c.sync_overlap = overlap;
    trib_trainer_t *t = NULL;
    int rc = trib_trainer_create(&c, MPI_COMM_WORLD, &t);
    CHECK_OK(rc);
    return t;
}

/*
 * What a checkpoint/resume must reproduce: run A goes through 3 epochs; run B
 * is stopped mid-epoch by a stop request; a fresh trainer C gets B's model
 * values and position (as a checkpoint would restore them, after settling
 * what is in flight) and finishes.  C's model must equal A's bit for bit on
 * every rank.  For model averaging and for the stratified rounds (whose order
 * has its own round starts), with and without overlap for the latter (its
 * exchanges in flight land in the settle, and the result is the same).
 */
static void resume_bitwise(trib_sync_method_t method, int overlap)
{
    char tr[512], te[512];
    paths("small", tr, te, sizeof tr);
    trib_trainer_t *a = make_trainer(tr, 3, method, overlap), *b = make_trainer(tr, 3, method, overlap),
                   *c = make_trainer(tr, 3, method, overlap);
    if (!a || !b || !c)
        goto done;
    CHECK_OK(trib_trainer_run(a, NULL));
    g_stop = 0;
    trib_train_hooks_t h = {NULL, raise_stop_on_last_rank, NULL, NULL, &g_stop};
    int rc = trib_trainer_run(b, &h);
    CHECK(rc == TRIB_ERR_INTERRUPTED, "run B returned %d", rc);
    double rmse_b = NAN;
    CHECK_OK(trib_trainer_evaluate(b, &rmse_b, NULL, NULL, NULL)); /* settles, as a checkpoint does */
    unsigned e;
    uint64_t r;
    trib_trainer_next_position(b, &e, &r);
    trib_mf_model_t *mb = trib_trainer_model(b), *mc = trib_trainer_model(c), *ma = trib_trainer_model(a);
    memcpy(mc->users.values, mb->users.values, mb->users.n_values * sizeof(float));
    memcpy(mc->items.values, mb->items.values, mb->items.n_values * sizeof(float));
    CHECK_OK(trib_trainer_set_position(c, e, r));
    CHECK_OK(trib_trainer_run(c, NULL));
    CHECK(memcmp(ma->users.values, mc->users.values, ma->users.n_values * sizeof(float)) == 0,
          "resumed run's user rows differ from the uninterrupted run's");
    CHECK(memcmp(ma->items.values, mc->items.values, ma->items.n_values * sizeof(float)) == 0,
          "resumed run's item block differs from the uninterrupted run's");
    CHECK(memcmp(ma->items.values, mb->items.values, ma->items.n_values * sizeof(float)) != 0,
          "the interrupted run already equals the full one: the test proves nothing");
done:
    trib_trainer_destroy(a);
    trib_trainer_destroy(b);
    trib_trainer_destroy(c);
}

static void test_resume_bitwise(void)
{
    resume_bitwise(TRIB_SYNC_AVERAGE, 0);
    resume_bitwise(TRIB_SYNC_STRATA, 0);
    resume_bitwise(TRIB_SYNC_STRATA, 1);
}

/* ------------------------------------------------------------------ uneven ratings */

static int count_updates(void *arg, trib_trainer_t *t, const trib_train_epoch_stats_t *s)
{
    (void)t;
    uint64_t *u = arg;
    *u = s->ratings;
    return TRIB_OK;
}

static void test_uneven(void)
{
    char tr[512], te[512];
    paths("skewed", tr, te, sizeof tr);
    trib_train_config_t c;
    base_config(&c, tr, te, 2, 500);
    trib_trainer_t *t;
    int rc = trib_trainer_create(&c, MPI_COMM_WORLD, &t);
    CHECK_OK(rc);
    if (rc != TRIB_OK)
        return;
    uint64_t mine = trib_trainer_local_ratings(t), lo, hi, total;
    MPI_Allreduce(&mine, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&mine, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (g_size > 1)
        CHECK(hi >= 2 * lo, "loads %llu..%llu are not uneven: the test data should make them so",
              (unsigned long long)lo, (unsigned long long)hi);
    uint64_t updates = 0;
    trib_train_hooks_t h = {&updates, NULL, count_updates, NULL, NULL};
    rc = trib_trainer_run(t, &h);
    CHECK_OK(rc);
    CHECK(updates == total, "an epoch updated %llu ratings, expected all %llu", (unsigned long long)updates,
          (unsigned long long)total);
    CHECK(trib_trainer_rounds_per_epoch(t) == (hi + 499) / 500, "rounds per epoch %llu, expected ceil(%llu/500)",
          (unsigned long long)trib_trainer_rounds_per_epoch(t), (unsigned long long)hi);
    trib_trainer_destroy(t);
}

/* ------------------------------------------------------------------ convergence */

static void test_converge(void)
{
    char tr[512], te[512];
    paths("planted", tr, te, sizeof tr);
    trib_train_config_t c;
    base_config(&c, tr, te, 20, 5000);
    trib_trainer_t *t;
    int rc = trib_trainer_create(&c, MPI_COMM_WORLD, &t);
    CHECK_OK(rc);
    if (rc != TRIB_OK)
        return;
    rc = trib_trainer_run(t, NULL);
    CHECK_OK(rc);
    double train_rmse, test_rmse;
    rc = trib_trainer_evaluate(t, &train_rmse, NULL, &test_rmse, NULL);
    CHECK_OK(rc);
    double noise = trib_trainer_train_info(t)->noise_std;
    if (g_rank == 0)
        printf("converge: P=%d train RMSE %.4f test RMSE %.4f noise %.3f ratio %.4f\n", g_size, train_rmse,
               test_rmse, noise, test_rmse / noise);
    CHECK(test_rmse <= 1.10 * noise, "test RMSE %.4f is not within 10%% of the noise floor %.3f", test_rmse, noise);
    trib_trainer_destroy(t);
}

/* ------------------------------------------------------------------ rank-count invariance */

/* Test RMSE after `epochs` epochs of the default configuration (k = 8) on comm. */
static double default_rmse(const char *tr, const char *te, MPI_Comm comm, unsigned epochs)
{
    trib_train_config_t c;
    base_config(&c, tr, te, epochs, TRIB_TRAIN_DEFAULT_SYNC_EVERY);
    trib_trainer_t *t;
    double rmse = NAN;
    int rc = trib_trainer_create(&c, comm, &t);
    CHECK_OK(rc);
    if (rc != TRIB_OK)
        return rmse;
    rc = trib_trainer_run(t, NULL);
    CHECK_OK(rc);
    if (rc == TRIB_OK)
        CHECK_OK(trib_trainer_evaluate(t, NULL, NULL, &rmse, NULL));
    trib_trainer_destroy(t);
    return rmse;
}

/*
 * The defaults give the same quality at P ranks as at one (tributary/train.h,
 * "Rank-count invariance"): the test RMSE after a few epochs, while the model
 * is still far from converged and the item rate matters, is within INVARIANT_TOL
 * of rank 0 training alone.  Without the sqrt(P) item rate the P = 3 run is
 * 4.6% worse here and P = 5 7.7% (measured by disabling it).
 */
#define INVARIANT_EPOCHS 20
#define INVARIANT_TOL 0.01
static void test_invariance(void)
{
    char tr[512], te[512];
    paths("planted", tr, te, sizeof tr);
    unsigned ep = INVARIANT_EPOCHS;
    double all = default_rmse(tr, te, MPI_COMM_WORLD, ep);
    MPI_Comm solo;
    MPI_Comm_split(MPI_COMM_WORLD, g_rank == 0 ? 0 : MPI_UNDEFINED, 0, &solo);
    double one = NAN;
    if (solo != MPI_COMM_NULL) {
        one = default_rmse(tr, te, solo, ep);
        MPI_Comm_free(&solo);
    }
    MPI_Bcast(&one, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (g_rank == 0)
        printf("invariance: %u epochs, test RMSE %.4f at P=%d, %.4f at P=1 (%+.2f%%)\n", ep, all,
               g_size, one, 100.0 * (all / one - 1.0));
    CHECK(fabs(all / one - 1.0) <= INVARIANT_TOL, "test RMSE %.4f at P=%d is not within %.1f%% of %.4f at P=1", all,
          g_size, 100.0 * INVARIANT_TOL, one);
}

/* ------------------------------------------------------------------ precision */

/*
 * --sync-precision bf16 / fp16: the item blocks stay identical on every rank
 * after every synchronisation, and the model still converges (test RMSE
 * within 15% of the noise floor on the planted data, against 10% in float32).
 */
static void test_precision(void)
{
    char tr[512], te[512];
    paths("planted", tr, te, sizeof tr);
    static const trib_wire_t wires[] = {TRIB_WIRE_NATIVE, TRIB_WIRE_BF16, TRIB_WIRE_FP16};
    for (int w = 0; w < 3; w++) {
        trib_train_config_t c;
        base_config(&c, tr, te, 12, 5000);
        c.sync_precision = wires[w];
        c.algo = w == 2 ? TRIB_ALGO_RING : TRIB_ALGO_AUTO;
        trib_trainer_t *t;
        int rc = trib_trainer_create(&c, MPI_COMM_WORLD, &t);
        CHECK_OK(rc);
        if (rc != TRIB_OK)
            continue;
        ident_t st = {0, 0, 0};
        trib_train_hooks_t h = {&st, compare_items, NULL, NULL, NULL};
        rc = trib_trainer_run(t, &h);
        CHECK_OK(rc);
        double test_rmse;
        rc = trib_trainer_evaluate(t, NULL, NULL, &test_rmse, NULL);
        CHECK_OK(rc);
        double noise = trib_trainer_train_info(t)->noise_std;
        if (g_rank == 0)
            printf("precision %s: P=%d test RMSE %.6f noise %.3f ratio %.4f, %d rounds compared\n",
                   trib_wire_name(wires[w]), g_size, test_rmse, noise, test_rmse / noise, st.rounds);
        CHECK(st.mismatches == 0, "%d rounds with item blocks differing from rank 0's (--sync-precision %s)",
              st.mismatches, trib_wire_name(wires[w]));
        CHECK(st.rounds > 0, "no synchronisation round ran (--sync-precision %s)", trib_wire_name(wires[w]));
        CHECK(test_rmse <= 1.15 * noise, "--sync-precision %s: test RMSE %.4f is not within 15%% of the noise floor %.3f",
              trib_wire_name(wires[w]), test_rmse, noise);
        trib_trainer_destroy(t);
    }
}

/*
 * The item block of the first of two runs is kept (keep = 1) and the second's compared with it
 * byte for byte: two runs with the same seed and ranks must give the same bits.
 */
static void same_as_first(float **first, size_t *n, const trib_mf_block_t *b, int keep, const char *what)
{
    if (keep) {
        *n = b->n_values;
        *first = malloc(*n * sizeof **first);
        CHECK(*first != NULL, "out of memory");
        if (*first)
            memcpy(*first, b->values, *n * sizeof **first);
    } else if (*first) {
        CHECK(*n == b->n_values && memcmp(*first, b->values, *n * sizeof **first) == 0,
              "two runs with %s gave different item blocks", what);
    }
}

/* ------------------------------------------------------------------ overlap */

/*
 * --overlap on: the item blocks differ between ranks during an epoch (each
 * keeps its progress since the delta in flight) and agree after every
 * settle: the epoch-end hook compares them byte for byte.  Two runs give the
 * same bits, and the model converges as the synchronous one does (test RMSE
 * within 10% of the noise floor, as in test_converge).
 */
static int compare_items_epoch(void *arg, trib_trainer_t *t, const trib_train_epoch_stats_t *s)
{
    (void)s;
    trib_train_position_t pos = {0, 0, 1};
    return compare_items(arg, t, &pos);
}

static void test_overlap(void)
{
    char tr[512], te[512];
    paths("planted", tr, te, sizeof tr);
    float *first = NULL;
    size_t n = 0;
    for (int run = 0; run < 2; run++) {
        trib_train_config_t c;
        base_config(&c, tr, te, 12, 5000);
        c.sync_overlap = 1;
        trib_trainer_t *t;
        int rc = trib_trainer_create(&c, MPI_COMM_WORLD, &t);
        CHECK_OK(rc);
        if (rc != TRIB_OK)
            break;
        ident_t st = {0, 0, 0};
        trib_train_hooks_t h = {&st, NULL, compare_items_epoch, NULL, NULL};
        rc = trib_trainer_run(t, &h);
        CHECK_OK(rc);
        double test_rmse;
        rc = trib_trainer_evaluate(t, NULL, NULL, &test_rmse, NULL);
        CHECK_OK(rc);
        double noise = trib_trainer_train_info(t)->noise_std;
        const trib_mf_block_t *b = &trib_trainer_model(t)->items;
        if (g_rank == 0)
            printf("overlap run %d: P=%d test RMSE %.6f noise %.3f ratio %.4f, %d epochs compared\n", run, g_size,
                   test_rmse, noise, test_rmse / noise, st.rounds);
        CHECK(st.rounds == 12, "%d epoch ends compared, expected 12", st.rounds);
        CHECK(st.mismatches == 0, "%d epoch ends with item blocks differing from rank 0's (--overlap on)",
              st.mismatches);
        CHECK(test_rmse <= 1.10 * noise, "--overlap on: test RMSE %.4f is not within 10%% of the noise floor %.3f",
              test_rmse, noise);
        same_as_first(&first, &n, b, run == 0, "--overlap on");
        trib_trainer_destroy(t);
    }
    free(first);
}

/* ------------------------------------------------------------------ changed rows only */

typedef struct {
    ident_t ident;
    double min_rows, max_rows; /* the epochs' sync_rows */
} rows_t;

static int rows_round(void *arg, trib_trainer_t *t, const trib_train_position_t *pos)
{
    return compare_items(&((rows_t *)arg)->ident, t, pos);
}

static int rows_epoch(void *arg, trib_trainer_t *t, const trib_train_epoch_stats_t *s)
{
    (void)t;
    rows_t *st = arg;
    if (!(s->sync_rows >= st->min_rows)) /* also catches NaN */
        st->min_rows = s->sync_rows;
    if (!(s->sync_rows <= st->max_rows))
        st->max_rows = s->sync_rows;
    return TRIB_OK;
}

/*
 * --sync-rows: on 3,000 items, rounds of 100 ratings per rank in the shuffled order change at most
 * 100 P of the item rows (23% at P = 7).  touched and auto must send part of the block and all the
 * whole of it, every
 * round must leave identical blocks on all ranks, and the three must reach the same test RMSE (the
 * same sums, added in another order: within 0.1%).  touched twice: bitwise the same model.
 */
static void test_rows(void)
{
    char tr[512], te[512];
    paths("wide", tr, te, sizeof tr);
    static const trib_sync_rows_t modes[] = {TRIB_SYNC_ROWS_ALL, TRIB_SYNC_ROWS_TOUCHED, TRIB_SYNC_ROWS_AUTO,
                                             TRIB_SYNC_ROWS_TOUCHED};
    double rmse_all = 0;
    float *first = NULL;
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        trib_train_config_t c;
        base_config(&c, tr, te, 3, 100);
        c.order = TRIB_MF_ORDER_SHUFFLE;
        c.sync_rows = modes[i];
        c.check_sync = i == 2;
        trib_trainer_t *t;
        int rc = trib_trainer_create(&c, MPI_COMM_WORLD, &t);
        CHECK_OK(rc);
        if (rc != TRIB_OK)
            continue;
        rows_t st = {{0, 0, 0}, 2.0, -1.0};
        trib_train_hooks_t h = {&st, rows_round, rows_epoch, NULL, NULL};
        rc = trib_trainer_run(t, &h);
        CHECK_OK(rc);
        double test_rmse = NAN;
        CHECK_OK(trib_trainer_evaluate(t, NULL, NULL, &test_rmse, NULL));
        const char *name = trib_sync_rows_name(modes[i]);
        if (g_rank == 0)
            printf("sync-rows %s: P=%d test RMSE %.6f, rows sent per round %.3f-%.3f of the block, %d rounds\n", name,
                   g_size, test_rmse, st.min_rows, st.max_rows, st.ident.rounds);
        CHECK(st.ident.mismatches == 0, "%d rounds with item blocks differing from rank 0's (--sync-rows %s)",
              st.ident.mismatches, name);
        CHECK(st.ident.rounds > 8, "only %d rounds (--sync-rows %s)", st.ident.rounds, name);
        if (g_size == 1)
            CHECK(isnan(st.min_rows) && isnan(st.max_rows), "one rank sent rows (%g-%g)", st.min_rows, st.max_rows);
        else if (modes[i] == TRIB_SYNC_ROWS_ALL)
            CHECK(st.min_rows == 1.0 && st.max_rows == 1.0, "--sync-rows all sent %g-%g of the block", st.min_rows,
                  st.max_rows);
        else
            CHECK(st.min_rows > 0.0 && st.max_rows < 0.75, "--sync-rows %s sent %g-%g of the block, expected part",
                  name, st.min_rows, st.max_rows);
        if (i == 0)
            rmse_all = test_rmse;
        else
            CHECK(fabs(test_rmse - rmse_all) <= 1e-3 * rmse_all,
                  "--sync-rows %s: test RMSE %.6f, whole block %.6f", name, test_rmse, rmse_all);
        const trib_mf_block_t *b = &trib_trainer_model(t)->items;
        if (i == 1 || i == 3)
            same_as_first(&first, &n, b, i == 1, "--sync-rows touched");
        trib_trainer_destroy(t);
    }
    free(first);
}

/* A trainer for c on MPI_COMM_WORLD, or NULL with the failure counted. */
static trib_trainer_t *create_checked(const trib_train_config_t *c)
{
    trib_trainer_t *t = NULL;
    int rc = trib_trainer_create(c, MPI_COMM_WORLD, &t);
    CHECK_OK(rc);
    return rc == TRIB_OK ? t : NULL;
}

/*
 * The blocked order's band side on data with 10x more items than users: one rank keeps the
 * faster larger-side rule (item bands); sync mode on P > 1 ranks, which averages the item rows
 * every round, cuts the users into bands (trainer.c, grid_bands); --bands forces a side; every
 * local rating is in the grid once.
 */
static void test_bands(void)
{
    char tr[512], te[512];
    paths("wide", tr, te, sizeof tr);
    static const trib_train_bands_t sides[] = {TRIB_TRAIN_BANDS_AUTO, TRIB_TRAIN_BANDS_ITEMS, TRIB_TRAIN_BANDS_USERS,
                                               TRIB_TRAIN_BANDS_LARGER};
    for (int i = 0; i < 4; i++) {
        trib_train_config_t c;
        base_config(&c, tr, te, 1, 0);
        c.order = TRIB_MF_ORDER_BLOCKED;
        c.bands = sides[i];
        trib_trainer_t *t = create_checked(&c);
        if (!t)
            continue;
        const trib_mf_grid_t *g = trib_trainer_grid(t);
        const char *name = trib_train_bands_name(sides[i]);
        int want = sides[i] == TRIB_TRAIN_BANDS_AUTO ? g_size > 1 : sides[i] == TRIB_TRAIN_BANDS_USERS;
        CHECK(g != NULL, "no grid with the blocked order");
        if (g) {
            CHECK(g->band_is_users == want, "--bands %s at P=%d: bands over the %s", name, g_size,
                  g->band_is_users ? "users" : "items");
            CHECK(g->n_ratings == trib_trainer_local_ratings(t), "the grid holds %zu of %zu local ratings",
                  g->n_ratings, trib_trainer_local_ratings(t));
            if (g_rank == 0)
                printf("bands %s: P=%d, %zu bands over the %s, %zu sweep blocks\n", name, g_size, g->n_bands,
                       g->band_is_users ? "users" : "items", g->n_sweep);
        }
        if (i == 0)
            CHECK_OK(trib_trainer_run(t, NULL));
        trib_trainer_destroy(t);
    }
}

/* ------------------------------------------------------------------ strata */

/*
 * --sync-method strata on the wide data: the item blocks are identical on every rank after every
 * round; at P > 1 a round sends part of the rows (each rank changes only its group's rows); the
 * test RMSE is at most 2% above the model-averaging run's at the same P; two runs are bitwise equal,
 * and a run with --overlap on (each half round's rows exchanged during the next half, blocks
 * compared at every epoch end) is bitwise equal to them.  The same with bf16 on the wire: on and
 * off equal, and the test RMSE within 0.5% of the float32 run's.
 */
static void test_strata(void)
{
    char tr[512], te[512];
    paths("wide", tr, te, sizeof tr);
    static const struct {
        trib_sync_method_t method;
        int overlap;
        trib_wire_t wire;
    } runs[] = {{TRIB_SYNC_AVERAGE, 0, TRIB_WIRE_NATIVE}, {TRIB_SYNC_STRATA, 0, TRIB_WIRE_NATIVE},
                {TRIB_SYNC_STRATA, 0, TRIB_WIRE_NATIVE},  {TRIB_SYNC_STRATA, 1, TRIB_WIRE_NATIVE},
                {TRIB_SYNC_STRATA, 0, TRIB_WIRE_BF16},    {TRIB_SYNC_STRATA, 1, TRIB_WIRE_BF16}};
    enum { N_RUNS = sizeof runs / sizeof runs[0] };
    double rmse[N_RUNS];
    float *first = NULL, *first16 = NULL;
    size_t n = 0, n16 = 0;
    for (int i = 0; i < N_RUNS; i++) {
        rmse[i] = NAN;
        trib_train_config_t c;
        base_config(&c, tr, te, 5, 0);
        c.sync_method = runs[i].method;
        c.sync_overlap = runs[i].overlap;
        c.sync_precision = runs[i].wire;
        trib_trainer_t *t = create_checked(&c);
        if (!t)
            continue;
        int strata = runs[i].method == TRIB_SYNC_STRATA;
        uint64_t R = trib_trainer_rounds_per_epoch(t);
        if (strata)
            CHECK(R % (uint64_t)g_size == 0, "%llu rounds per epoch is not a multiple of P=%d",
                  (unsigned long long)R, g_size);
        rows_t st = {{0, 0, 0}, 2.0, -1.0};
        ident_t ends = {0, 0, 0};
        trib_train_hooks_t h = {&st, rows_round, rows_epoch, NULL, NULL};
        trib_train_hooks_t h_overlap = {&ends, NULL, compare_items_epoch, NULL, NULL};
        CHECK_OK(trib_trainer_run(t, runs[i].overlap ? &h_overlap : &h));
        CHECK_OK(trib_trainer_evaluate(t, NULL, NULL, &rmse[i], NULL));
        const char *name = trib_sync_method_name(runs[i].method);
        if (g_rank == 0)
            printf("sync-method %s%s, %s: P=%d test RMSE %.6f, %llu rounds per epoch, rows sent %.3f-%.3f\n", name,
                   runs[i].overlap ? " --overlap on" : "", trib_wire_name(runs[i].wire), g_size, rmse[i],
                   (unsigned long long)R, st.min_rows, st.max_rows);
        CHECK(st.ident.mismatches == 0 && ends.mismatches == 0, "%d rounds and %d epoch ends with item blocks "
              "differing from rank 0's (--sync-method %s)", st.ident.mismatches, ends.mismatches, name);
        if (runs[i].overlap)
            CHECK(ends.rounds == 5, "%d epoch ends compared with --overlap on, expected 5", ends.rounds);
        if (g_size > 1 && strata && !runs[i].overlap)
            CHECK(st.max_rows < 0.75, "--sync-method strata sent %g-%g of the block per round, expected part",
                  st.min_rows, st.max_rows);
        if (strata && runs[i].wire == TRIB_WIRE_NATIVE)
            same_as_first(&first, &n, &trib_trainer_model(t)->items, i == 1,
                          runs[i].overlap ? "--sync-method strata with and without --overlap" : "--sync-method strata");
        if (strata && runs[i].wire != TRIB_WIRE_NATIVE)
            same_as_first(&first16, &n16, &trib_trainer_model(t)->items, !runs[i].overlap,
                          "--sync-method strata --sync-precision bf16 with and without --overlap");
        trib_trainer_destroy(t);
    }
    free(first);
    free(first16);
    CHECK(rmse[1] <= 1.02 * rmse[0], "strata: test RMSE %.6f, more than 2%% above model averaging's %.6f (P=%d)",
          rmse[1], rmse[0], g_size);
    CHECK(fabs(rmse[4] - rmse[1]) <= 0.005 * rmse[1], "strata: test RMSE %.6f with bf16, %.6f with float32 (P=%d)",
          rmse[4], rmse[1], g_size);
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    const char *what = argc > 1 ? argv[1] : "sync";
    if (test_scratch_dir("trib-train-test", g_dir, sizeof g_dir) != 0) {
        MPI_Finalize();
        return 2;
    }
    int rc;
    if (!strcmp(what, "precision")) {
        rc = make_data("planted", 400, 200, 60000, 4, 0.8);
        CHECK_OK(rc);
        if (rc == TRIB_OK)
            test_precision();
    } else if (!strcmp(what, "rows")) {
        rc = make_data("wide", 300, 3000, 30000, 4, 0.8);
        CHECK_OK(rc);
        if (rc == TRIB_OK) {
            test_rows();
            test_bands();
            test_strata();
        }
    } else if (!strcmp(what, "overlap")) {
        rc = make_data("planted", 400, 200, 60000, 4, 0.8);
        CHECK_OK(rc);
        if (rc == TRIB_OK)
            test_overlap();
    } else if (!strcmp(what, "invariance")) {
        rc = make_data("planted", 400, 200, 60000, 4, 0.8);
        CHECK_OK(rc);
        if (rc == TRIB_OK)
            test_invariance();
    } else if (!strcmp(what, "converge")) {
        rc = make_data("planted", 400, 200, 60000, 4, 0.8);
        CHECK_OK(rc);
        if (rc == TRIB_OK)
            test_converge();
    } else {
        rc = make_data("small", 300, 150, 12000, 4, 0.8);
        CHECK_OK(rc);
        int rc2 = make_skewed("skewed");
        CHECK_OK(rc2);
        if (rc == TRIB_OK && rc2 == TRIB_OK) {
            test_identical_items();
            test_determinism();
            test_stop_request();
            test_time_limit();
            test_resume_bitwise();
            test_uneven();
        }
    }
    int total = 0;
    MPI_Allreduce(&g_failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    test_scratch_remove(g_dir);
    if (g_rank == 0) {
        printf("test_train_mpi %s on %d ranks: %s (%d failed checks)\n", what, g_size, total ? "FAILED" : "passed",
               total);
    }
    MPI_Finalize();
    return total ? 1 : 0;
}
