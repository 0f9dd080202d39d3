/*
 * bench_sgd.c - trib-bench-sgd: throughput and default-hyper-parameter sweep of the MF kernels.
 *
 * Modes (--mode):
 *   peak     the core's clock (a chain of dependent integer adds, one cycle
 *            each), its FMA throughput (independent vfmadd231ps on ymm and,
 *            when present, zmm registers) and the memory bandwidth of one core
 *            (a STREAM-style triad over three 64 MiB arrays), from which the
 *            FMA limit and the bandwidth limit of an SGD update follow.
 *   kernel   ratings updated per second by trib_mf_sgd_run (training only: no
 *            I/O, no evaluation, the visiting order made before the clock
 *            starts) for each k of --k, in the --order given (blocked, the
 *            library default, or shuffle), with the share of the FMA limit and
 *            of the bandwidth limit it reaches.
 *   sweep    trains every grid point of (schedule, learning rate, decay,
 *            regularisation) for --epochs epochs and prints the held-out RMSE,
 *            one Markdown table row per point, best first.
 *   quality  trains with the library defaults and prints per-epoch train and
 *            test RMSE for each k of --k.
 *   topk     trib_mf_topk for every user (K = 10), with and without excluding
 *            each user's training items, per k (untrained model: timing only).
 *   robust   trains each --candidates setting at each k of --k, reporting test
 *            RMSE at half and all of --epochs (judging a default by its worst case).
 *
 * The data: a synthetic problem shaped like MovieLens-1M (6,040 users, 3,706
 * items, ~1,000,209 ratings), user activity and item popularity power-law
 * (weights rank^-0.9 and rank^-0.8 by default, at least 20 ratings per user,
 * no repeated (user, item) pair), ratings from a planted biased-MF model
 * (mean 3.58, bias std 0.35 / 0.45, k_true 10, dot-product variance 0.25,
 * Gaussian noise 0.5) rounded to the integers 1..5 like MovieLens stars.
 * 10% of the ratings (chosen by seed) are held out as the test set.  Options
 * change the shape, the exponents, the planted model and the rounding.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "core/timer.h"
#include "common/cli.h"
#include "tributary/mf.h"

/* ------------------------------------------------------------------ options */

typedef struct {
    const char *mode;
    size_t ks[8];
    size_t n_ks;
    unsigned epochs;
    uint64_t seed;
    size_t n_users, n_items, n_ratings;
    double noise;
    int rounded;       /* round ratings to 1..5 */
    size_t k_true;
    const char *schedule; /* plain|adagrad; NULL: kernel mode runs both, quality the default */
    const char *order;    /* kernel mode: blocked|shuffle */
    const char *candidates; /* robust mode */
    double alpha_users, alpha_items; /* power-law exponents of activity and popularity */
    double signal_var;               /* variance of the planted p_u . q_i */
} options_t;

/* --k LIST: up to 8 factor counts in 1..4096 (dst: options_t). */
static int parse_ks(const char *s, void *dst, char *why, size_t cap)
{
    options_t *o = dst;
    o->n_ks = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    int bad = 0;
    for (char *tok = strtok(buf, ","); tok && !bad; tok = strtok(NULL, ",")) {
        char *end;
        unsigned long v = strtoul(tok, &end, 10);
        bad = *end || v == 0 || v > 4096 || o->n_ks == 8;
        if (!bad)
            o->ks[o->n_ks++] = v;
    }
    if (o->n_ks && !bad)
        return 0;
    snprintf(why, cap, "is not a list of at most 8 factor counts in 1..4096");
    return -1;
}

static int parse_options(int argc, char **argv, options_t *o)
{
    *o = (options_t){.mode = "kernel", .ks = {32, 64, 128}, .n_ks = 3, .epochs = 0, .seed = 1,
                     .n_users = 6040, .n_items = 3706, .n_ratings = 1000209, .noise = 0.5, .rounded = 1,
                     .k_true = 10, .schedule = NULL, .order = "blocked", .alpha_users = 0.9, .alpha_items = 0.8,
                     .signal_var = 0.25};
    int k_given = 0;
    const trib_cli_opt_t opts[] = {
        {.name = "mode", .kind = TRIB_CLI_STRING, .dst = &o->mode, .arg = "M",
         .help = "what to measure: peak, kernel, sweep, quality, robust or topk"},
        {.name = "k", .kind = TRIB_CLI_CUSTOM, .dst = o, .parse = parse_ks, .seen = &k_given, .arg = "LIST",
         .help = "comma-separated factor counts (default 32,64,128; sweep: 32)"},
        {.name = "epochs", .kind = TRIB_CLI_UINT, .dst = &o->epochs, .max = 1e6, .arg = "N", .no_default = 1,
         .help = "epochs (kernel: timed epochs, default 5; sweep/quality: 20)"},
        {.name = "schedule", .kind = TRIB_CLI_STRING, .dst = &o->schedule, .arg = "S",
         .help = "plain or adagrad (kernel: default both; quality: the library default)"},
        {.name = "order", .kind = TRIB_CLI_STRING, .dst = &o->order, .arg = "O",
         .help = "kernel mode: visiting order, blocked or shuffle"},
        {.name = "seed", .kind = TRIB_CLI_U64, .dst = &o->seed, .arg = "S", .help = "data and model seed"},
        {.name = "users", .kind = TRIB_CLI_SIZE, .dst = &o->n_users, .min = 1, .max = 4e9, .arg = "N",
         .help = "problem shape: users"},
        {.name = "items", .kind = TRIB_CLI_SIZE, .dst = &o->n_items, .min = 1, .max = 4e9, .arg = "N", .help = "items"},
        {.name = "ratings", .kind = TRIB_CLI_SIZE, .dst = &o->n_ratings, .min = 1, .max = 1e12, .arg = "N",
         .help = "ratings"},
        {.name = "noise", .kind = TRIB_CLI_DOUBLE, .dst = &o->noise, .arg = "X",
         .help = "planted noise standard deviation"},
        {.name = "k-true", .kind = TRIB_CLI_SIZE, .dst = &o->k_true, .min = 1, .max = 4096, .arg = "N",
         .help = "planted rank"},
        {.name = "continuous", .kind = TRIB_CLI_CLEAR, .dst = &o->rounded,
         .help = "do not round ratings to the integers 1..5"},
        {.name = "alpha-users", .kind = TRIB_CLI_DOUBLE, .dst = &o->alpha_users, .arg = "X",
         .help = "power-law exponent of user activity (0: uniform)"},
        {.name = "alpha-items", .kind = TRIB_CLI_DOUBLE, .dst = &o->alpha_items, .arg = "Y",
         .help = "power-law exponent of item popularity (0: uniform)"},
        {.name = "signal-var", .kind = TRIB_CLI_DOUBLE, .dst = &o->signal_var, .arg = "V",
         .help = "variance of the planted dot product"},
        {.name = "candidates", .kind = TRIB_CLI_STRING, .dst = &o->candidates, .arg = "L",
         .help = "robust mode: schedule:lr:decay:reg_f:reg_b[:init_std],... to compare"},
        {0}};
    trib_cli_t cli = {.usage = "Usage: trib-bench-sgd [--mode peak|kernel|sweep|quality|robust|topk] [--order blocked|shuffle] [options]\n",
                      .opts = opts};
    trib_cli_prog = "trib-bench-sgd";
    int rc = trib_cli_parse(&cli, argc, argv);
    if (!rc && cli.help)
        trib_cli_print_help(&cli);
    trib_cli_free(&cli);
    if (rc)
        return -1;
    if (cli.help || cli.version)
        exit(0);
    if (!k_given && strcmp(o->mode, "sweep") == 0) {
        o->ks[0] = 32;
        o->n_ks = 1;
    }
    if (o->epochs == 0)
        o->epochs = strcmp(o->mode, "kernel") == 0 ? 5 : 20;
    return 0;
}

/* ------------------------------------------------------------------ synthetic data */

typedef struct {
    trib_mf_rating_t *train, *test;
    size_t n_train, n_test;
    size_t n_users, n_items;
    float mean, lo, hi;
    double oracle_test_rmse; /* the planted model's own (clipped) predictions on the test set */
} dataset_t;

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "trib-bench-sgd: out of memory\n");
        exit(1);
    }
    return p;
}

/* Cumulative power-law weights (rank+1)^-alpha over a random assignment of ranks. */
static double *powerlaw_cdf(size_t n, double alpha, trib_rng_t *rng)
{
    uint32_t *perm = xmalloc(n * sizeof *perm);
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    trib_rng_shuffle_u32(rng, perm, n);
    double *w = xmalloc(n * sizeof *w);
    for (size_t i = 0; i < n; i++)
        w[perm[i]] = pow((double)i + 1.0, -alpha);
    for (size_t i = 1; i < n; i++)
        w[i] += w[i - 1];
    free(perm);
    return w;
}

static size_t sample_cdf(const double *cdf, size_t n, double u)
{
    double x = u * cdf[n - 1];
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cdf[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Planted factors and biases of one side, from (seed, tag, id). */
static void planted_rows(float *f, float *b, size_t n, size_t k, double fstd, double bstd, uint64_t seed,
                         uint64_t tag)
{
    for (size_t r = 0; r < n; r++) {
        trib_rng_t rng;
        trib_rng_init(&rng, seed, trib_hash64(tag, r));
        b[r] = (float)(bstd * trib_rng_normal(&rng));
        for (size_t j = 0; j < k; j++)
            f[r * k + j] = (float)(fstd * trib_rng_normal(&rng));
    }
}

static void make_dataset(const options_t *o, dataset_t *d)
{
    trib_rng_t rng;
    trib_rng_init(&rng, o->seed, 0xda7a);
    size_t nu = o->n_users, ni = o->n_items, kt = o->k_true;
    /* Activity: at least min(20, ...) per user, the rest power-law, at most 60% of the items. */
    size_t min_per_user = 20 < ni ? 20 : ni;
    size_t cap = ni * 6 / 10 > min_per_user ? ni * 6 / 10 : min_per_user;
    double *ucdf = powerlaw_cdf(nu, o->alpha_users, &rng);
    double *icdf = powerlaw_cdf(ni, o->alpha_items, &rng);
    size_t *count = xmalloc(nu * sizeof *count);
    /* count_u = min(cap, min + s * w_u), s found by bisection so the counts
     * add up to the requested total (the heaviest users hit the cap). */
    double lo_s = 0.0, hi_s = (double)o->n_ratings * (double)nu;
    size_t total = 0;
    for (int it = 0; it < 100; it++) {
        double sc = 0.5 * (lo_s + hi_s);
        total = 0;
        for (size_t u = 0; u < nu; u++) {
            double w = (ucdf[u] - (u ? ucdf[u - 1] : 0.0)) / ucdf[nu - 1];
            double c = fmin((double)cap, (double)min_per_user + floor(sc * w));
            count[u] = (size_t)c;
            total += count[u];
        }
        if (total < o->n_ratings)
            lo_s = sc;
        else
            hi_s = sc;
    }
    /* Planted model: var(p.q) = signal_var (default 0.25) from k_true factors. */
    double fstd = pow(o->signal_var / (double)kt, 0.25);
    float *pu = xmalloc(nu * kt * sizeof(float)), *bu = xmalloc(nu * sizeof(float));
    float *qi = xmalloc(ni * kt * sizeof(float)), *bi = xmalloc(ni * sizeof(float));
    planted_rows(pu, bu, nu, kt, fstd, 0.35, o->seed, 0x11);
    planted_rows(qi, bi, ni, kt, fstd, 0.45, o->seed, 0x22);
    const float mu = 3.58f;

    trib_mf_rating_t *all = xmalloc(total * sizeof *all);
    double *oracle = xmalloc(total * sizeof *oracle);
    unsigned char *taken = calloc(ni, 1);
    uint32_t *mine = xmalloc(cap * sizeof *mine);
    if (!taken)
        exit(1);
    size_t n = 0;
    for (size_t u = 0; u < nu; u++) {
        size_t got = 0;
        while (got < count[u]) {
            size_t i = sample_cdf(icdf, ni, trib_rng_uniform(&rng));
            if (taken[i])
                continue;
            taken[i] = 1;
            mine[got++] = (uint32_t)i;
        }
        for (size_t j = 0; j < got; j++) {
            size_t i = mine[j];
            taken[i] = 0;
            double dot = 0.0;
            for (size_t f = 0; f < kt; f++)
                dot += (double)pu[u * kt + f] * qi[i * kt + f];
            double truth = mu + bu[u] + bi[i] + dot;
            double r = truth + o->noise * trib_rng_normal(&rng);
            if (o->rounded)
                r = fmin(5.0, fmax(1.0, nearbyint(r)));
            oracle[n] = o->rounded ? fmin(5.0, fmax(1.0, truth)) : truth;
            all[n++] = (trib_mf_rating_t){(uint32_t)u, (uint32_t)i, (float)r};
        }
    }
    /* Hold out 10%, decided per rating from the seed; shuffle storage order so
     * neither set is sorted by user. */
    uint32_t *perm = xmalloc(n * sizeof *perm);
    trib_mf_visit_order(perm, n, o->seed, 0xfeed);
    d->train = xmalloc(n * sizeof *d->train);
    d->test = xmalloc(n * sizeof *d->test);
    d->n_train = d->n_test = 0;
    double sum = 0.0, osq = 0.0;
    for (size_t j = 0; j < n; j++) {
        trib_mf_rating_t r = all[perm[j]];
        if (trib_rng_at(trib_hash64(o->seed, 0x7e57), perm[j]) % 10 == 0) {
            d->test[d->n_test++] = r;
            osq += (oracle[perm[j]] - r.rating) * (oracle[perm[j]] - r.rating);
        } else {
            d->train[d->n_train++] = r;
            sum += r.rating;
        }
    }
    d->n_users = nu;
    d->n_items = ni;
    d->mean = (float)(sum / (double)d->n_train);
    d->oracle_test_rmse = sqrt(osq / (double)(d->n_test ? d->n_test : 1));
    d->lo = o->rounded ? 1.0f : -INFINITY;
    d->hi = o->rounded ? 5.0f : INFINITY;
    free(perm);
    free(all);
    free(oracle);
    free(taken);
    free(mine);
    free(count);
    free(ucdf);
    free(icdf);
    free(pu);
    free(bu);
    free(qi);
    free(bi);
}

static void free_dataset(dataset_t *d)
{
    free(d->train);
    free(d->test);
}

/* ------------------------------------------------------------------ peak */

/*
 * CPU time of the calling thread.  The machine is shared: wall time also
 * counts the slices other processes get, thread CPU time does not (each core
 * runs one thread; a preempted thread's caches may still be disturbed).
 */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/*
 * Cycles per second from a chain of dependent register-register adds (one
 * cycle of latency each).  Adds of an immediate are not used: recent Intel
 * cores fold chains of those at register renaming, faster than one a cycle.
 */
static double measure_clock(void)
{
    const long iters = 50 * 1000 * 1000;
    double best = 0.0;
    for (int rep = 0; rep < 5; rep++) {
        long x = 0, y = 1, n = iters;
        double t0 = cpu_now();
        __asm__ volatile("1:\n\t"
                         "add %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\t"
                         "add %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\t"
                         "dec %1\n\tjnz 1b"
                         : "+r"(x), "+r"(n)
                         : "r"(y));
        double hz = 10.0 * (double)iters / (cpu_now() - t0);
        best = hz > best ? hz : best;
    }
    return best;
}

/* vfmadd231ps per second on 10 independent accumulators (enough to cover latency x 2 ports). */
#define FMA_BLOCK(reg)                                                                                         \
    "vfmadd231ps %%" reg "15, %%" reg "14, %%" reg "0\n\t"                                                     \
    "vfmadd231ps %%" reg "15, %%" reg "14, %%" reg "1\n\t"                                                     \
    "vfmadd231ps %%" reg "15, %%" reg "14, %%" reg "2\n\t"                                                     \
    "vfmadd231ps %%" reg "15, %%" reg "14, %%" reg "3\n\t"                                                     \
    "vfmadd231ps %%" reg "15, %%" reg "14, %%" reg "4\n\t"                                                     \
    "vfmadd231ps %%" reg "15, %%" reg "14, %%" reg "5\n\t"                                                     \
    "vfmadd231ps %%" reg "15, %%" reg "14, %%" reg "6\n\t"                                                     \
    "vfmadd231ps %%" reg "15, %%" reg "14, %%" reg "7\n\t"                                                     \
    "vfmadd231ps %%" reg "15, %%" reg "14, %%" reg "8\n\t"                                                     \
    "vfmadd231ps %%" reg "15, %%" reg "14, %%" reg "9\n\t"

static double measure_fma(int zmm)
{
    const long iters = 20 * 1000 * 1000;
    double best = 0.0;
    for (int rep = 0; rep < 5; rep++) {
        long n = iters;
        double t0 = cpu_now();
        if (zmm)
            __asm__ volatile("vzeroall\n\t1:\n\t" FMA_BLOCK("zmm") "dec %0\n\tjnz 1b\n\tvzeroupper"
                             : "+r"(n)
                             :
                             : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                               "xmm14", "xmm15");
        else
            __asm__ volatile("vzeroall\n\t1:\n\t" FMA_BLOCK("ymm") "dec %0\n\tjnz 1b\n\tvzeroupper"
                             : "+r"(n)
                             :
                             : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                               "xmm14", "xmm15");
        double per_s = 10.0 * (double)iters / (cpu_now() - t0);
        best = per_s > best ? per_s : best;
    }
    return best;
}

/*
 * Bytes per second one core moves through memory: the STREAM triad
 * a[i] = b[i] + s * c[i] over three arrays of 64 MiB (far beyond the caches),
 * counted as STREAM counts it (two reads and one write per element; the
 * write-allocate read of a[] is not counted).  Best of 5 passes.
 */
static double measure_bandwidth(void)
{
    const size_t n = (size_t)16 << 20;
    float *a = xmalloc(n * sizeof *a), *b = xmalloc(n * sizeof *b), *c = xmalloc(n * sizeof *c);
    for (size_t i = 0; i < n; i++) {
        a[i] = 0.0f;
        b[i] = (float)(i & 1023);
        c[i] = 1.0f;
    }
    double best = 0.0;
    volatile float sink = 0.0f;
    for (int rep = 0; rep < 5; rep++) {
        float sc = 0.5f + (float)rep;
        double t0 = cpu_now();
        for (size_t i = 0; i < n; i++)
            a[i] = b[i] + sc * c[i];
        double per_s = 3.0 * (double)n * sizeof(float) / (cpu_now() - t0);
        sink += a[rep];
        best = per_s > best ? per_s : best;
    }
    (void)sink;
    free(a);
    free(b);
    free(c);
    return best;
}

typedef struct {
    double clock_hz;
    double fma_lanes_per_s; /* best of ymm (8 lanes) and zmm (16 lanes) */
    double ymm_per_cycle, zmm_per_cycle;
    double bytes_per_s;     /* one core's triad bandwidth */
} peak_t;

static peak_t measure_peak(int verbose)
{
    peak_t pk = {0};
    __builtin_cpu_init();
    pk.clock_hz = measure_clock();
    pk.bytes_per_s = measure_bandwidth();
    if (verbose)
        printf("memory bandwidth, one core (triad, 3 x 64 MiB): %.1f GB/s\n", pk.bytes_per_s / 1e9);
    if (!__builtin_cpu_supports("fma")) {
        pk.fma_lanes_per_s = 0.0;
        return pk;
    }
    double ymm = measure_fma(0);
    pk.ymm_per_cycle = ymm / pk.clock_hz;
    pk.fma_lanes_per_s = 8.0 * ymm;
    if (__builtin_cpu_supports("avx512f")) {
        double zmm = measure_fma(1);
        pk.zmm_per_cycle = zmm / pk.clock_hz;
        if (16.0 * zmm > pk.fma_lanes_per_s)
            pk.fma_lanes_per_s = 16.0 * zmm;
    }
    if (verbose) {
        printf("clock (dependent add chain): %.3f GHz\n", pk.clock_hz / 1e9);
        printf("vfmadd231ps ymm: %.2f per cycle (%.1f G FMA lanes/s)\n", pk.ymm_per_cycle,
               8.0 * pk.ymm_per_cycle * pk.clock_hz / 1e9);
        if (pk.zmm_per_cycle > 0)
            printf("vfmadd231ps zmm: %.2f per cycle (%.1f G FMA lanes/s)\n", pk.zmm_per_cycle,
                   16.0 * pk.zmm_per_cycle * pk.clock_hz / 1e9);
        printf("peak FMA lanes/s used for ratios: %.1f G\n", pk.fma_lanes_per_s / 1e9);
    }
    return pk;
}

/* ------------------------------------------------------------------ runs */

static void setup_model(trib_mf_model_t *m, const dataset_t *d, size_t k, const trib_mf_hparams_t *hp, uint64_t seed)
{
    if (trib_mf_model_create(m, k, d->n_users, d->n_items) != TRIB_OK) {
        fprintf(stderr, "trib-bench-sgd: %s\n", trib_last_error(TRIB_ERR_NOMEM));
        exit(1);
    }
    trib_mf_model_init_values(m, seed, hp->init_std);
    m->mean = d->mean;
    m->rating_min = d->lo;
    m->rating_max = d->hi;
}

static void check(int rc)
{
    if (rc != TRIB_OK) {
        fprintf(stderr, "trib-bench-sgd: %s\n", trib_last_error(rc));
        exit(1);
    }
}

static double eval_rmse(const trib_mf_model_t *m, const trib_mf_rating_t *r, size_t n)
{
    trib_mf_error_sums_t s = {0};
    check(trib_mf_evaluate(m, r, n, &s));
    return trib_mf_rmse(&s);
}

static void sort_doubles(double *t, unsigned n)
{
    for (unsigned a = 1; a < n; a++)
        for (unsigned b = a; b > 0 && t[b] < t[b - 1]; b--) {
            double x = t[b];
            t[b] = t[b - 1];
            t[b - 1] = x;
        }
}

/*
 * Memory bytes per update in a simple traffic model, by order.  Both orders
 * stream the rating (12 B) and its order entry (4 B).  Shuffled: both rows
 * come from memory and go back (2 rows x (stride x 4 + 8 B of bias and
 * AdaGrad sum), read and written).  Blocked (src/mf/grid.c): a band's rows are
 * read and written once per band, the other side's block once per non-empty
 * cell.  It counts every row brought into L2 as memory traffic, so it is an
 * upper bound where the last-level cache holds the swept side.
 */
static double bytes_per_update(const trib_mf_grid_t *g, size_t stride)
{
    double row = (double)stride * 4.0 + 8.0;
    if (!g)
        return 16.0 + 2.0 * 2.0 * row;
    size_t band_rows = g->band_is_users ? g->users_per_block : g->items_per_block;
    size_t sweep_rows = g->band_is_users ? g->items_per_block : g->users_per_block;
    double rows = 0.0;
    for (size_t b = 0; b < g->n_bands; b++) {
        int any = 0;
        for (size_t c = b * g->n_sweep; c < (b + 1) * g->n_sweep; c++)
            if (g->cell_start[c + 1] > g->cell_start[c]) {
                rows += (double)sweep_rows;
                any = 1;
            }
        rows += any ? (double)band_rows : 0.0;
    }
    return 16.0 + 2.0 * row * rows / (double)(g->n_ratings ? g->n_ratings : 1);
}

static void kernel_table(const options_t *o, dataset_t *d, const peak_t *pk, trib_mf_schedule_t sched)
{
    trib_mf_hparams_t hp;
    trib_mf_hparams_for_schedule(&hp, sched);
    trib_mf_order_t ord;
    check(trib_mf_order_parse(o->order, &ord));
    int blocked = ord == TRIB_MF_ORDER_BLOCKED;
    uint32_t *order = xmalloc(d->n_train * sizeof *order);
    printf("ratings %zu (train), users %zu, items %zu, schedule %s, order %s, %u timed epochs\n", d->n_train,
           d->n_users, d->n_items, trib_mf_schedule_name(hp.schedule), trib_mf_order_name(ord), o->epochs);
    printf("| k | wall s/epoch (best) | M updates/s (wall, best) | CPU s/epoch (best) | M updates/s (CPU, best) | "
           "M updates/s (CPU, median) | FMA limit (M updates/s) | share of FMA limit | bytes/update (model) | "
           "bandwidth limit (M updates/s) | share of bandwidth limit | eval M ratings/s (CPU) | test RMSE |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t ki = 0; ki < o->n_ks; ki++) {
        size_t k = o->ks[ki];
        trib_mf_model_t m;
        setup_model(&m, d, k, &hp, o->seed);
        trib_mf_grid_t g = {0};
        if (blocked) /* regroups d->train cell by cell (the set of ratings stays the same) */
            check(trib_mf_grid_create(&g, d->train, d->n_train, d->n_users, d->n_items, k, 0, TRIB_MF_BANDS_LARGER));
        double wall[64], cpu[64];
        unsigned ne = o->epochs > 64 ? 64 : o->epochs;
        for (unsigned e = 0; e < ne; e++) {
            if (blocked)
                check(trib_mf_grid_order(&g, order, d->n_train, o->seed, e));
            else
                check(trib_mf_visit_order(order, d->n_train, o->seed, e));
            double w0 = trib_now(), c0 = cpu_now();
            check(trib_mf_sgd_run(&m, &hp, e, d->train, d->n_train, order, 0, d->n_train));
            cpu[e] = cpu_now() - c0;
            wall[e] = trib_now() - w0;
        }
        sort_doubles(wall, ne);
        sort_doubles(cpu, ne);
        /* FMA limit: vector operations per update, per lane of the padded stride that the kernel really
         * computes (src/mf/kernel_impl.inc; a multiply counts as one FMA): plain 5 (dot product 1; each row
         * ku p + cu q, 2), AdaGrad 9 (dot product 1; each row e q - reg p, p + eta g and the lane sum of
         * g^2, 4). */
        size_t stride = trib_mf_stride(k);
        double lanes = (hp.schedule == TRIB_MF_SCHEDULE_ADAGRAD ? 9.0 : 5.0) * (double)stride;
        double limit = pk->fma_lanes_per_s / lanes;
        double bpu = bytes_per_update(blocked ? &g : NULL, stride), bw_limit = pk->bytes_per_s / bpu;
        double n = (double)d->n_train;
        double c0 = cpu_now();
        eval_rmse(&m, d->train, d->n_train);
        double eval_s = cpu_now() - c0;
        double best = n / cpu[0];
        printf("| %zu | %.4f | %.1f | %.4f | %.1f | %.1f | %.0f | %.3f | %.1f | %.0f | %.3f | %.1f | %.4f |\n", k,
               wall[0], n / wall[0] / 1e6, cpu[0], best / 1e6, n / cpu[ne / 2] / 1e6, limit / 1e6, best / limit, bpu,
               bw_limit / 1e6, best / bw_limit, n / eval_s / 1e6, eval_rmse(&m, d->test, d->n_test));
        trib_mf_grid_destroy(&g);
        trib_mf_model_destroy(&m);
    }
    free(order);
}

static int run_kernel(const options_t *o, dataset_t *d)
{
    peak_t pk = measure_peak(1);
    if (o->schedule) {
        trib_mf_schedule_t s;
        check(trib_mf_schedule_parse(o->schedule, &s));
        kernel_table(o, d, &pk, s);
    } else {
        kernel_table(o, d, &pk, TRIB_MF_SCHEDULE_PLAIN);
        kernel_table(o, d, &pk, TRIB_MF_SCHEDULE_ADAGRAD);
    }
    return 0;
}

typedef struct {
    trib_mf_hparams_t hp;
    double test_rmse, train_rmse;
    double best_test;
    unsigned best_epoch;
} sweep_point_t;

/* Trains hp for the given epochs; records final and best test RMSE. */
static void train_point(const options_t *o, const dataset_t *d, size_t k, sweep_point_t *pt, uint32_t *order,
                        int verbose)
{
    trib_mf_model_t m;
    setup_model(&m, d, k, &pt->hp, o->seed);
    pt->best_test = INFINITY;
    pt->best_epoch = 0;
    double t0 = trib_now();
    for (unsigned e = 0; e < o->epochs; e++) {
        check(trib_mf_visit_order(order, d->n_train, o->seed, e));
        check(trib_mf_sgd_run(&m, &pt->hp, e, d->train, d->n_train, order, 0, d->n_train));
        double te = eval_rmse(&m, d->test, d->n_test);
        if (!(te >= pt->best_test)) { /* also catches NaN as "not better" below */
            if (!isnan(te)) {
                pt->best_test = te;
                pt->best_epoch = e + 1;
            }
        }
        if (verbose)
            printf("k %zu epoch %2u train %.4f test %.4f (%.1f s)\n", k, e + 1, eval_rmse(&m, d->train, d->n_train),
                   te, trib_now() - t0);
        pt->test_rmse = te;
    }
    pt->train_rmse = eval_rmse(&m, d->train, d->n_train);
    trib_mf_model_destroy(&m);
}

static int cmp_point(const void *a, const void *b)
{
    double x = ((const sweep_point_t *)a)->test_rmse, y = ((const sweep_point_t *)b)->test_rmse;
    x = isnan(x) ? INFINITY : x;
    y = isnan(y) ? INFINITY : y;
    return (x > y) - (x < y);
}

/* Grid of the sweep: every combination below, per schedule. */
static const float SW_PLAIN_LR[] = {0.01f, 0.02f, 0.04f, 0.08f};
static const float SW_PLAIN_DECAY[] = {0.0f, 0.1f, 0.3f, 1.0f};
static const float SW_ADA_LR[] = {0.02f, 0.05f, 0.1f, 0.2f};
static const float SW_REG_F[] = {0.005f, 0.01f, 0.02f, 0.05f};
static const float SW_REG_B[] = {0.0f, 0.01f};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static size_t sweep_grid(sweep_point_t *pts)
{
    size_t n = 0;
    trib_mf_hparams_t base;
    trib_mf_hparams_default(&base);
    for (size_t a = 0; a < NELEM(SW_PLAIN_LR); a++)
        for (size_t b = 0; b < NELEM(SW_PLAIN_DECAY); b++)
            for (size_t c = 0; c < NELEM(SW_REG_F); c++)
                for (size_t e = 0; e < NELEM(SW_REG_B); e++) {
                    trib_mf_hparams_t hp = base;
                    hp.schedule = TRIB_MF_SCHEDULE_PLAIN;
                    hp.lr = SW_PLAIN_LR[a];
                    hp.lr_decay = SW_PLAIN_DECAY[b];
                    hp.reg_factors = SW_REG_F[c];
                    hp.reg_bias = SW_REG_B[e];
                    pts[n++].hp = hp;
                }
    for (size_t a = 0; a < NELEM(SW_ADA_LR); a++)
        for (size_t c = 0; c < NELEM(SW_REG_F); c++)
            for (size_t e = 0; e < NELEM(SW_REG_B); e++) {
                trib_mf_hparams_t hp = base;
                hp.schedule = TRIB_MF_SCHEDULE_ADAGRAD;
                hp.lr = SW_ADA_LR[a];
                hp.lr_decay = 0.0f;
                hp.reg_factors = SW_REG_F[c];
                hp.reg_bias = SW_REG_B[e];
                pts[n++].hp = hp;
            }
    return n;
}

static int run_sweep(const options_t *o, const dataset_t *d)
{
    size_t cap = NELEM(SW_PLAIN_LR) * NELEM(SW_PLAIN_DECAY) * NELEM(SW_REG_F) * NELEM(SW_REG_B) +
                 NELEM(SW_ADA_LR) * NELEM(SW_REG_F) * NELEM(SW_REG_B);
    sweep_point_t *pts = xmalloc(cap * sizeof *pts);
    size_t n = sweep_grid(pts);
    uint32_t *order = xmalloc(d->n_train * sizeof *order);
    size_t k = o->ks[0];
    fprintf(stderr, "sweep: %zu points, k %zu, %u epochs\n", n, k, o->epochs);
    for (size_t j = 0; j < n; j++) {
        train_point(o, d, k, &pts[j], order, 0);
        fprintf(stderr, "  %zu/%zu %s lr %g decay %g reg %g/%g: test %.4f\n", j + 1, n,
                trib_mf_schedule_name(pts[j].hp.schedule), (double)pts[j].hp.lr, (double)pts[j].hp.lr_decay,
                (double)pts[j].hp.reg_factors, (double)pts[j].hp.reg_bias, pts[j].test_rmse);
    }
    qsort(pts, n, sizeof *pts, cmp_point);
    printf("| rank | schedule | lr | decay | reg factors | reg bias | test RMSE @%u | train RMSE @%u | best test "
           "(epoch) |\n|---|---|---|---|---|---|---|---|---|\n",
           o->epochs, o->epochs);
    for (size_t j = 0; j < n; j++)
        printf("| %zu | %s | %g | %g | %g | %g | %.4f | %.4f | %.4f (%u) |\n", j + 1,
               trib_mf_schedule_name(pts[j].hp.schedule), (double)pts[j].hp.lr, (double)pts[j].hp.lr_decay,
               (double)pts[j].hp.reg_factors, (double)pts[j].hp.reg_bias, pts[j].test_rmse, pts[j].train_rmse,
               pts[j].best_test, pts[j].best_epoch);
    free(order);
    free(pts);
    return 0;
}

/*
 * Robustness of candidate settings ("schedule:lr:decay:reg_f:reg_b[:init_std]",
 * comma separated): each trains on this run's data at every k of --k and reports
 * test RMSE after --epochs and after half as many, so a default can be
 * judged by its worst case rather than its best.
 */
static int parse_candidate(const char *s, trib_mf_hparams_t *hp)
{
    char sched[16];
    float lr, decay, rf, rb, init = TRIB_MF_DEFAULT_INIT_STD;
    int got = sscanf(s, "%15[a-z]:%f:%f:%f:%f:%f", sched, &lr, &decay, &rf, &rb, &init);
    if (got != 5 && got != 6)
        return -1;
    trib_mf_hparams_default(hp);
    hp->init_std = init;
    if (trib_mf_schedule_parse(sched, &hp->schedule) != TRIB_OK)
        return -1;
    hp->lr = lr;
    hp->lr_decay = decay;
    hp->reg_factors = rf;
    hp->reg_bias = rb;
    return trib_mf_hparams_validate(hp) == TRIB_OK ? 0 : -1;
}

static int run_robust(const options_t *o, const dataset_t *d)
{
    if (!o->candidates) {
        fprintf(stderr, "trib-bench-sgd: --mode robust needs --candidates\n");
        return 1;
    }
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", o->candidates);
    uint32_t *order = xmalloc(d->n_train * sizeof *order);
    printf("| candidate | k | test RMSE @%u | test RMSE @%u | best test (epoch) | train RMSE @%u |\n"
           "|---|---|---|---|---|---|\n",
           o->epochs / 2, o->epochs, o->epochs);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        sweep_point_t pt;
        if (parse_candidate(tok, &pt.hp)) {
            fprintf(stderr, "trib-bench-sgd: bad candidate '%s'\n", tok);
            free(order);
            return 1;
        }
        for (size_t ki = 0; ki < o->n_ks; ki++) {
            options_t half = *o;
            half.epochs = o->epochs / 2;
            sweep_point_t ph = pt;
            train_point(&half, d, o->ks[ki], &ph, order, 0);
            train_point(o, d, o->ks[ki], &pt, order, 0);
            printf("| %s | %zu | %.4f | %.4f | %.4f (%u) | %.4f |\n", tok, o->ks[ki], ph.test_rmse, pt.test_rmse,
                   pt.best_test, pt.best_epoch, pt.train_rmse);
            fflush(stdout);
        }
    }
    free(order);
    return 0;
}

static int run_quality(const options_t *o, const dataset_t *d)
{
    uint32_t *order = xmalloc(d->n_train * sizeof *order);
    for (size_t ki = 0; ki < o->n_ks; ki++) {
        sweep_point_t pt;
        trib_mf_hparams_default(&pt.hp);
        if (o->schedule) {
            trib_mf_schedule_t s;
            check(trib_mf_schedule_parse(o->schedule, &s));
            trib_mf_hparams_for_schedule(&pt.hp, s);
        }
        train_point(o, d, o->ks[ki], &pt, order, 1);
        printf("k %zu %s: final test RMSE %.4f, best %.4f at epoch %u, train %.4f\n", o->ks[ki],
               trib_mf_schedule_name(pt.hp.schedule), pt.test_rmse, pt.best_test, pt.best_epoch, pt.train_rmse);
    }
    free(order);
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Top-K for every user (K = 10, with and without excluding the training items), per k. */
static int run_topk(const options_t *o, const dataset_t *d)
{
    const size_t K = 10;
    size_t nu = d->n_users;
    /* Exclusion lists: each user's training items, sorted (CSR by user row). */
    size_t *off = calloc(nu + 1, sizeof *off);
    uint32_t *items = xmalloc(d->n_train * sizeof *items);
    if (!off)
        exit(1);
    for (size_t j = 0; j < d->n_train; j++)
        off[d->train[j].user + 1]++;
    for (size_t u = 0; u < nu; u++)
        off[u + 1] += off[u];
    size_t *fill = xmalloc((nu + 1) * sizeof *fill);
    memcpy(fill, off, (nu + 1) * sizeof *fill);
    for (size_t j = 0; j < d->n_train; j++)
        items[fill[d->train[j].user]++] = d->train[j].item;
    for (size_t u = 0; u < nu; u++)
        qsort(items + off[u], off[u + 1] - off[u], sizeof *items, cmp_u32);
    trib_mf_exclusion_t ex = {off, items};
    uint32_t *users = xmalloc(nu * sizeof *users), *out = xmalloc(nu * K * sizeof *out);
    float *scores = xmalloc(nu * K * sizeof *scores);
    for (size_t u = 0; u < nu; u++)
        users[u] = (uint32_t)u;
    printf("| k | users | items | K | exclusion | wall s | CPU s | users/s (CPU) |\n|---|---|---|---|---|---|---|---|\n");
    for (size_t ki = 0; ki < o->n_ks; ki++) {
        trib_mf_hparams_t hp;
        trib_mf_hparams_default(&hp);
        trib_mf_model_t m;
        setup_model(&m, d, o->ks[ki], &hp, o->seed);
        for (int excl = 0; excl < 2; excl++) {
            double best = INFINITY, best_cpu = INFINITY;
            for (int rep = 0; rep < 3; rep++) {
                double t0 = trib_now(), c0 = cpu_now();
                check(trib_mf_topk(&m, users, nu, K, excl ? &ex : NULL, out, scores));
                double t = trib_now() - t0, c = cpu_now() - c0;
                best = t < best ? t : best;
                best_cpu = c < best_cpu ? c : best_cpu;
            }
            printf("| %zu | %zu | %zu | %zu | %s | %.4f | %.4f | %.0f |\n", o->ks[ki], nu, d->n_items, K,
                   excl ? "training items" : "none", best, best_cpu, (double)nu / best_cpu);
        }
        trib_mf_model_destroy(&m);
    }
    free(off);
    free(items);
    free(fill);
    free(users);
    free(out);
    free(scores);
    return 0;
}

int main(int argc, char **argv)
{
    options_t o;
    if (parse_options(argc, argv, &o))
        return 1;
    if (strcmp(o.mode, "peak") == 0) {
        measure_peak(1);
        return 0;
    }
    if (strcmp(o.mode, "kernel") && strcmp(o.mode, "sweep") && strcmp(o.mode, "quality") &&
        strcmp(o.mode, "robust") && strcmp(o.mode, "topk")) {
        fprintf(stderr, "trib-bench-sgd: unknown --mode '%s'\n", o.mode);
        return 1;
    }
    dataset_t d;
    double t0 = trib_now();
    make_dataset(&o, &d);
    fprintf(stderr, "data: %zu train + %zu test ratings, mean %.3f, planted model's test RMSE %.4f, made in %.1f s\n",
            d.n_train, d.n_test, (double)d.mean, d.oracle_test_rmse, trib_now() - t0);
    int rc;
    if (strcmp(o.mode, "kernel") == 0)
        rc = run_kernel(&o, &d);
    else if (strcmp(o.mode, "sweep") == 0)
        rc = run_sweep(&o, &d);
    else if (strcmp(o.mode, "robust") == 0)
        rc = run_robust(&o, &d);
    else if (strcmp(o.mode, "topk") == 0)
        rc = run_topk(&o, &d);
    else
        rc = run_quality(&o, &d);
    free_dataset(&d);
    return rc;
}
