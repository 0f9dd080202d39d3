/*
 * trib-train - train the biased MF recommender on a sharded HDF5 dataset.
 *
 *   mpirun -np 4 trib-train --train T --test V --k 32 --epochs 20 --model-out model.h5
 *
 * Flow: MPI starts, every rank parses the same options into one
 * trib_train_config_t (a usage error is reported by rank 0 and every rank
 * exits 2), the library validates it and checks the datasets on rank 0
 * (trib_trainer_create: one message, every rank exits 1), rank 0 prints the
 * configuration, the epoch loop runs with one line per epoch on rank 0 (and a
 * progress indicator within epochs when stderr is a terminal), and the model
 * file is written atomically.
 *
 * Checkpoints, resume and stop requests are the library's managed run
 * (trib_trainer_run_managed, src/train/run.c): checkpoints when
 * --checkpoint-every says so, at the end of training and after a stop
 * request; --resume restores one right after the trainer is created.
 * SIGTERM/SIGUSR1/SIGINT make all ranks stop after the same round (ps: at the
 * end of the current epoch); with a checkpoint directory the job checkpoints
 * and exits TRIB_EXIT_REQUEUE (75) on SIGTERM/SIGUSR1, otherwise it exits 1
 * without writing a model.  This program adds the log lines: rank 0 logs each
 * checkpoint's write time and, on stderr, when training starts (seconds since
 * MPI_Init and the Unix time: the restart-to-training figure).  --fail-at
 * makes one rank _exit(1) at a given point (fault-injection tests).
 */
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cli.h"
#include "tributary/tributary.h"
#include "tributary/ckpt.h"
#include "tributary/train.h"

#define EXIT_USAGE 2

static int g_rank;
static double g_t_init; /* MPI_Wtime() right after MPI_Init */

/* --help, with the defaults taken from the library. */
static void print_help(void)
{
    trib_train_config_t d;
    trib_train_config_init(&d);
    trib_mf_hparams_t ada, plain;
    trib_mf_hparams_for_schedule(&ada, TRIB_MF_SCHEDULE_ADAGRAD);
    trib_mf_hparams_for_schedule(&plain, TRIB_MF_SCHEDULE_PLAIN);
    printf("Usage: mpirun -np P trib-train --train DIR [--test DIR] [options]\n"
           "Trains a biased matrix-factorisation model (mean + b_u + b_i + p_u.q_i) with synchronous\n"
           "data-parallel SGD: ratings are partitioned by user, item factors are replicated and kept in\n"
           "step with an allreduce every --sync-every local updates.\n\n"
           "Data and output\n"
           "  --train DIR          training dataset (trib-data format), required\n"
           "  --test DIR           held-out dataset from the same id space (trib-data split)\n"
           "  --model-out FILE     write the final model (HDF5, written atomically)\n"
           "  --metrics-json FILE  one JSON object per epoch (epoch, train_rmse, test_rmse, test_mae,\n"
           "                       ratings_per_s, seconds, comm_seconds, ...)\n"
           "Model and optimiser\n"
           "  --k N                latent factors (default %zu)\n"
           "  --epochs N           epochs (default %u)\n"
           "  --schedule S         %s (default) or %s\n"
           "  --lr X               learning rate (default %g with plain, %g with adagrad)\n"
           "  --lr-decay X         plain schedule: rate lr / (1 + X * epoch) (default %g)\n"
           "  --reg X              L2 on factors, per visit (default %g)\n"
           "  --reg-bias X         L2 on biases, per visit (default %g)\n"
           "  --init-std X         initial factors ~ N(0, X^2/k) (default %g)\n"
           "  --seed S             seed of the initial model and visiting orders (default %llu)\n"
           "  --order O            visiting order of the ratings: %s (default) or %s (blocked: cells of\n"
           "                       user x item ranges that fit in L2; shuffle: fully random)\n"
           "Parallel training\n"
           "  --mode M             sync (default) or ps (parameter server: the last --servers ranks hold the\n"
           "                       item rows, the other ranks are workers that pull, compute and push)\n"
           "  --sync-every N       local SGD updates between synchronisations (default %llu; k/M suffixes);\n"
           "                       in ps mode the mini-batch size between a pull and a push\n"
           "  --sync-method M      %s (default) or %s: mean of the replicas, or every rank's delta summed\n"
           "  --allreduce A        ring, tree, rd, auto (default), mpi or shm\n"
           "  --check-sync         after every synchronisation compare item-block hashes across ranks\n"
           "Checkpoints and recovery\n"
           "  --checkpoint-dir D   write checkpoints into D (atomic, verified on load)\n"
           "  --checkpoint-every S how often: 'auto' (default), '2 epochs', '500 steps' (rounds), '90s',\n"
           "                       '15m', 'never' (a bare number means epochs); also at the end.  auto:\n"
           "                       after every epoch, but not before 99 x the last checkpoint's write\n"
           "                       time has passed since it (periodic checkpoints then cost at most 1%%\n"
           "                       of the run).  In ps mode a step is a whole epoch (checkpoints are\n"
           "                       taken only at epoch boundaries)\n"
           "  --keep N             keep the newest N checkpoints (default 2; 0: all)\n"
           "  --resume auto|PATH   continue from the newest valid checkpoint in --checkpoint-dir (a fresh\n"
           "                       start when there is none) or from PATH; k and mode must match, the rank\n"
           "                       count may differ (ps mode: the worker count, --servers, --consistency\n"
           "                       and --staleness too, with a warning; early-stop state is restored)\n"
           "                       and the trajectory settings (seed, lr, lr-decay, schedule, reg,\n"
           "                       reg-bias, init-std) too; D is locked while the job runs\n"
           "  --replace-checkpoints  a run without --resume deletes the checkpoints already in D (refused\n"
           "                       otherwise); with --resume auto, so do checkpoints none of which is valid\n"
           "  --allow-changed-settings  --resume although a trajectory setting differs (e.g. a new --lr)\n"
           "  --fail-at E:S:R      testing: rank R exits abruptly (_exit(1)) after round S (1-based) of\n"
           "                       epoch E (1-based), only in a run without --resume (ps mode: S is 1)\n"
           "  On SIGTERM or SIGUSR1 the job finishes the current round (ps mode: the current epoch),\n"
           "  writes a checkpoint (with --checkpoint-dir) and exits %d: checkpointed, please requeue\n"
           "  (then use --resume auto).\n",
           d.k, d.epochs, trib_mf_schedule_name(d.hp.schedule),
           trib_mf_schedule_name(d.hp.schedule == TRIB_MF_SCHEDULE_PLAIN ? TRIB_MF_SCHEDULE_ADAGRAD
                                                                         : TRIB_MF_SCHEDULE_PLAIN),
           (double)plain.lr, (double)ada.lr, (double)d.hp.lr_decay, (double)d.hp.reg_factors,
           (double)d.hp.reg_bias, (double)d.hp.init_std, (unsigned long long)d.seed,
           trib_mf_order_name(d.order),
           trib_mf_order_name(d.order == TRIB_MF_ORDER_BLOCKED ? TRIB_MF_ORDER_SHUFFLE : TRIB_MF_ORDER_BLOCKED),
           (unsigned long long)d.sync_every, trib_sync_method_name(d.sync_method),
           trib_sync_method_name(d.sync_method == TRIB_SYNC_AVERAGE ? TRIB_SYNC_DELTA_SUM : TRIB_SYNC_AVERAGE),
           TRIB_EXIT_REQUEUE);
    printf("Parameter server (--mode ps)\n"
           "  --servers S          server ranks (required, 1 <= S < ranks; servers are the last S ranks)\n"
           "  --consistency C      async (never wait), bsp (wait for every worker's previous clock,\n"
           "                       deterministic) or ssp (default: bounded staleness)\n"
           "  --staleness s        ssp bound: a worker at clock c sees every update up to clock c-s-1 (default 2)\n"
           "  --clock-every N      mini-batches per clock (default 1)\n"
           "  --straggler R:F      worker rank R sleeps F x its compute time (tests and benchmarks)\n"
           "  --check-staleness    servers check the staleness bound at every pull (a violation fails the run;\n"
           "                       with async, counts how often --staleness would have been exceeded)\n"
           "Other\n"
           "  --early-stop N       stop when test RMSE has not improved for N epochs (needs --test)\n"
           "  --no-train-eval      skip the train RMSE each epoch\n"
           "  --quiet              no configuration or per-epoch lines (errors and the final line only)\n"
           "  --help, --version\n"
           "Exit status: 0 done, 1 error, 2 bad usage, %d checkpointed on a signal (requeue).\n",
           TRIB_EXIT_REQUEUE);
}

typedef struct {
    trib_train_config_t cfg;
    trib_mf_schedule_t schedule;
    int schedule_set;
    int lr_set;
    int quiet;
    int help, version;
    const char *ckpt_dir, *ckpt_every_text, *resume;
    trib_ckpt_every_t ckpt_every;
    unsigned keep;
    unsigned fail_epoch; /* 0: no --fail-at */
    uint64_t fail_step;
    int fail_rank;
    int replace_checkpoints, allow_changed_settings;
} options_t;

/* Usage errors are reported once, by rank 0. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    if (g_rank == 0) {
        va_list ap;
        va_start(ap, fmt);
        char msg[512];
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        trib_cli_error(trib_cli_prog, "%s", msg);
    }
    return EXIT_USAGE;
}

static int parse_count(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (trib_cli_parse_u64(s, out) || *out < lo || *out > hi)
        return usage_error("%s: '%s' is not a whole number in %llu..%llu", opt, s, (unsigned long long)lo,
                           (unsigned long long)hi);
    return 0;
}

static int parse_real(const char *opt, const char *s, float *out)
{
    double v;
    if (trib_cli_parse_double(s, &v) || v < 0 || v > 1e6)
        return usage_error("%s: '%s' is not a number >= 0", opt, s);
    *out = (float)v;
    return 0;
}

/* EPOCH:STEP:RANK, epoch and step 1-based. */
static int parse_fail_at(const char *s, options_t *o)
{
    unsigned e;
    unsigned long long st;
    int r, n = -1;
    if (sscanf(s, "%u:%llu:%d%n", &e, &st, &r, &n) != 3 || n < 0 || s[n] != '\0' || e < 1 || st < 1 || r < 0)
        return usage_error("--fail-at: '%s' is not EPOCH:STEP:RANK (epoch and step from 1, rank from 0)", s);
    o->fail_epoch = e;
    o->fail_step = st;
    o->fail_rank = r;
    return 0;
}

/* The checkpoint options together. */
static int check_ckpt_options(options_t *o, int nranks)
{
    if (!o->ckpt_dir && (o->ckpt_every_text || o->resume))
        return usage_error("--checkpoint-every and --resume need --checkpoint-dir");
    int rc = trib_ckpt_every_parse(o->ckpt_every_text ? o->ckpt_every_text : "auto", &o->ckpt_every);
    if (rc != TRIB_OK)
        return usage_error("--checkpoint-every: %s", trib_last_error(rc));
    if (o->fail_epoch && (o->fail_epoch > o->cfg.epochs || o->fail_rank >= nranks))
        return usage_error("--fail-at: epoch %u or rank %d is outside the job (%u epochs, %d ranks)", o->fail_epoch,
                           o->fail_rank, o->cfg.epochs, nranks);
    return 0;
}

/* The parameter-server options (--mode ps). */
enum { O_SERVERS = 512, O_CONSIST, O_STALE, O_CLOCK, O_STRAGGLER, O_CHECKSTALE };

static int parse_ps_option(int ch, const char *arg, trib_train_config_t *c)
{
    uint64_t v;
    double f;
    int rc = 0;
    char rank[32];
    const char *colon;
    switch (ch) {
    case O_SERVERS:
        if (!(rc = parse_count("--servers", arg, 0, 1000000, &v)))
            c->ps_servers = (unsigned)v;
        break;
    case O_CONSIST:
        if (trib_ps_consistency_parse(arg, &c->ps_consistency) != TRIB_OK)
            rc = usage_error("--consistency: '%s' is not async, bsp or ssp", arg);
        break;
    case O_STALE:
        if (arg[0] == '-')
            rc = usage_error("--staleness: %s (must be >= 0)", arg);
        else if (!(rc = parse_count("--staleness", arg, 0, 1000000, &v)))
            c->ps_staleness = (int)v;
        break;
    case O_CLOCK:
        if (!(rc = parse_count("--clock-every", arg, 1, 1000000000, &v)))
            c->ps_clock_every = v;
        break;
    case O_STRAGGLER:
        colon = strchr(arg, ':');
        if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof rank)
            return usage_error("--straggler: '%s' is not RANK:FACTOR", arg);
        memcpy(rank, arg, (size_t)(colon - arg));
        rank[colon - arg] = '\0';
        if (trib_cli_parse_u64(rank, &v) || v > 1000000 || trib_cli_parse_double(colon + 1, &f) || f < 0 ||
            f > 1000)
            return usage_error("--straggler: '%s' is not RANK:FACTOR (factor in 0..1000)", arg);
        c->ps_straggler_rank = (int)v;
        c->ps_straggler_factor = f;
        break;
    default: c->ps_check_staleness = 1; break;
    }
    return rc;
}

static int parse_options(int argc, char **argv, options_t *o)
{
    enum { O_TRAIN = 256, O_TEST, O_MODEL, O_METRICS, O_K, O_EPOCHS, O_SCHEDULE, O_LR, O_DECAY, O_REG, O_REGB,
           O_INIT, O_SEED, O_MODE, O_SYNC, O_METHOD, O_ALGO, O_CHECK, O_EARLY, O_NOEVAL, O_QUIET, O_HELP,
           O_VERSION, O_CKDIR, O_CKEVERY, O_KEEP, O_RESUME, O_FAILAT, O_ORDER,
           O_REPLACE_CK, O_ALLOW_CHANGED };
    static const struct option longopts[] = {
        {"train", required_argument, 0, O_TRAIN},       {"test", required_argument, 0, O_TEST},
        {"model-out", required_argument, 0, O_MODEL},   {"metrics-json", required_argument, 0, O_METRICS},
        {"k", required_argument, 0, O_K},               {"epochs", required_argument, 0, O_EPOCHS},
        {"schedule", required_argument, 0, O_SCHEDULE}, {"lr", required_argument, 0, O_LR},
        {"lr-decay", required_argument, 0, O_DECAY},    {"reg", required_argument, 0, O_REG},
        {"reg-bias", required_argument, 0, O_REGB},     {"init-std", required_argument, 0, O_INIT},
        {"seed", required_argument, 0, O_SEED},         {"mode", required_argument, 0, O_MODE},
        {"sync-every", required_argument, 0, O_SYNC},   {"sync-method", required_argument, 0, O_METHOD},
        {"allreduce", required_argument, 0, O_ALGO},    {"check-sync", no_argument, 0, O_CHECK},
        {"early-stop", required_argument, 0, O_EARLY},  {"no-train-eval", no_argument, 0, O_NOEVAL},
        {"quiet", no_argument, 0, O_QUIET},             {"help", no_argument, 0, O_HELP},
        {"version", no_argument, 0, O_VERSION},         {"servers", required_argument, 0, O_SERVERS},
        {"consistency", required_argument, 0, O_CONSIST}, {"staleness", required_argument, 0, O_STALE},
        {"clock-every", required_argument, 0, O_CLOCK}, {"straggler", required_argument, 0, O_STRAGGLER},
        {"check-staleness", no_argument, 0, O_CHECKSTALE}, {"checkpoint-dir", required_argument, 0, O_CKDIR},
        {"checkpoint-every", required_argument, 0, O_CKEVERY}, {"keep", required_argument, 0, O_KEEP},
        {"resume", required_argument, 0, O_RESUME},     {"fail-at", required_argument, 0, O_FAILAT},
        {"order", required_argument, 0, O_ORDER},
        {"replace-checkpoints", no_argument, 0, O_REPLACE_CK},
        {"allow-changed-settings", no_argument, 0, O_ALLOW_CHANGED},
        {0, 0, 0, 0}};
    trib_train_config_t *c = &o->cfg;
    opterr = 0;
    for (int ch; (ch = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
        uint64_t v;
        int rc = 0;
        switch (ch) {
        case O_TRAIN: c->train_dir = optarg; break;
        case O_TEST: c->test_dir = optarg; break;
        case O_MODEL: c->model_out = optarg; break;
        case O_METRICS: c->metrics_json = optarg; break;
        case O_K:
            if (!(rc = parse_count("--k", optarg, 0, 4096, &v)))
                c->k = (size_t)v;
            break;
        case O_EPOCHS:
            if (!(rc = parse_count("--epochs", optarg, 0, 1000000, &v)))
                c->epochs = (unsigned)v;
            break;
        case O_SCHEDULE:
            if (trib_mf_schedule_parse(optarg, &o->schedule) != TRIB_OK)
                rc = usage_error("--schedule: '%s' is not adagrad or plain", optarg);
            o->schedule_set = 1;
            break;
        case O_LR: rc = parse_real("--lr", optarg, &c->hp.lr); o->lr_set = 1; break;
        case O_DECAY: rc = parse_real("--lr-decay", optarg, &c->hp.lr_decay); break;
        case O_REG: rc = parse_real("--reg", optarg, &c->hp.reg_factors); break;
        case O_REGB: rc = parse_real("--reg-bias", optarg, &c->hp.reg_bias); break;
        case O_INIT: rc = parse_real("--init-std", optarg, &c->hp.init_std); break;
        case O_SEED:
            if (trib_cli_parse_u64(optarg, &c->seed))
                rc = usage_error("--seed: '%s' is not a whole number", optarg);
            break;
        case O_MODE:
            if (trib_train_mode_parse(optarg, &c->mode) != TRIB_OK)
                rc = usage_error("--mode: '%s' is not sync or ps", optarg);
            break;
        case O_SYNC: rc = parse_count("--sync-every", optarg, 0, UINT64_MAX, &c->sync_every); break;
        case O_METHOD:
            if (trib_sync_method_parse(optarg, &c->sync_method) != TRIB_OK)
                rc = usage_error("--sync-method: '%s' is not average or delta-sum", optarg);
            break;
        case O_ALGO:
            if (trib_train_algo_parse(optarg, &c->algo) != TRIB_OK)
                rc = usage_error("--allreduce: '%s' is not ring, tree, rd, auto, mpi or shm", optarg);
            break;
        case O_CHECK: c->check_sync = 1; break;
        case O_EARLY:
            if (!(rc = parse_count("--early-stop", optarg, 1, 1000000, &v)))
                c->early_stop = (unsigned)v;
            break;
        case O_NOEVAL: c->eval_train = 0; break;
        case O_QUIET: o->quiet = 1; break;
        case O_HELP: o->help = 1; break;
        case O_VERSION: o->version = 1; break;
        case O_CKDIR: o->ckpt_dir = optarg; break;
        case O_CKEVERY: o->ckpt_every_text = optarg; break;
        case O_KEEP:
            if (!(rc = parse_count("--keep", optarg, 0, 1000000, &v)))
                o->keep = (unsigned)v;
            break;
        case O_RESUME: o->resume = optarg; break;
        case O_REPLACE_CK: o->replace_checkpoints = 1; break;
        case O_ALLOW_CHANGED: o->allow_changed_settings = 1; break;
        case O_FAILAT: rc = parse_fail_at(optarg, o); break;
        case O_ORDER:
            if (trib_mf_order_parse(optarg, &c->order) != TRIB_OK)
                rc = usage_error("--order: '%s' is not blocked or shuffle", optarg);
            break;
        case O_SERVERS:
        case O_CONSIST:
        case O_STALE:
        case O_CLOCK:
        case O_STRAGGLER:
        case O_CHECKSTALE: rc = parse_ps_option(ch, optarg, c); break;
        case ':': rc = usage_error("option %s needs a value (see --help)", argv[optind - 1]); break;
        default: rc = usage_error("unknown option '%s' (see --help)", argv[optind - 1]); break;
        }
        if (rc)
            return rc;
    }
    if (o->help || o->version)
        return 0;
    if (optind < argc)
        return usage_error("unexpected argument '%s' (see --help)", argv[optind]);
    if (o->schedule_set && o->schedule != c->hp.schedule) { /* the other schedule's own default rate */
        c->hp.schedule = o->schedule;
        if (!o->lr_set) {
            trib_mf_hparams_t d;
            trib_mf_hparams_for_schedule(&d, o->schedule);
            c->hp.lr = d.lr;
        }
    }
    int rc = trib_train_config_validate(c);
    if (rc != TRIB_OK)
        return usage_error("%s", trib_last_error(rc));
    int nranks;
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    return check_ckpt_options(o, nranks);
}

/* Rank 0: the output file's directory must exist and be writable (checked before any work). */
static int check_output_path(const char *opt, const char *path)
{
    if (!path)
        return TRIB_OK;
    char *copy = strdup(path);
    if (!copy)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory");
    const char *dir = dirname(copy);
    int ok = access(dir, W_OK | X_OK) == 0;
    int rc = ok ? TRIB_OK : trib_errorf(TRIB_ERR_IO, "%s %s: directory '%s' does not exist or is not writable",
                                        opt, path, dir);
    free(copy);
    return rc;
}

/* ------------------------------------------------------------------ hooks */

typedef struct {
    int quiet;
    int tty;
    unsigned epochs;
    int progress_shown;
    const options_t *o;
} log_state_t;

static void on_progress(void *arg, unsigned epoch, double fraction)
{
    log_state_t *ls = arg;
    if (!ls->tty)
        return;
    fprintf(stderr, "\repoch %u/%u: %3.0f%%", epoch + 1, ls->epochs, 100.0 * fraction);
    fflush(stderr);
    ls->progress_shown = 1;
}

static void fmt_rmse(char *buf, size_t cap, double v)
{
    if (isfinite(v))
        snprintf(buf, cap, "%.4f", v);
    else
        snprintf(buf, cap, "-");
}

/* ps mode: per-worker throughput and waiting, and what the servers saw, under the epoch line. */
static void print_ps_epoch(const trib_trainer_t *t)
{
    trib_ps_epoch_stats_t ps;
    if (trib_trainer_ps_stats(t, &ps) != TRIB_OK)
        return;
    printf("    ps workers M ratings/s:");
    for (int w = 0; w < ps.n_workers; w++)
        printf(" r%d %.3f", w, ps.worker_ratings_per_s[w] / 1e6);
    printf("  wait s:");
    for (int w = 0; w < ps.n_workers; w++)
        printf(" %.2f", ps.worker_wait_seconds[w]);
    printf("  | %llu batches, %llu clocks, %llu pulls (%llu deferred), max staleness %lld, violations %llu\n",
           (unsigned long long)ps.batches_per_epoch, (unsigned long long)ps.clocks_per_epoch,
           (unsigned long long)ps.pulls, (unsigned long long)ps.deferred, (long long)ps.max_staleness,
           (unsigned long long)ps.violations);
}

static void print_epoch(log_state_t *ls, const trib_trainer_t *t, const trib_train_epoch_stats_t *s)
{
    if (ls->progress_shown) {
        fprintf(stderr, "\r%30s\r", "");
        ls->progress_shown = 0;
    }
    if (ls->quiet)
        return;
    char tr[16], te[16];
    fmt_rmse(tr, sizeof tr, s->train_rmse);
    fmt_rmse(te, sizeof te, s->test_rmse);
    printf("epoch %3u/%u  train RMSE %s  test RMSE %s  %8.3f M ratings/s  %7.3f s  comm %5.1f%%\n", s->epoch,
           ls->epochs, tr, te, s->ratings_per_s / 1e6, s->seconds,
           s->seconds > 0 ? 100.0 * s->comm_seconds / s->seconds : 0.0);
    print_ps_epoch(t);
    fflush(stdout);
}

/* Every rank after each epoch's evaluation: the epoch line (the library then writes a checkpoint that fell due). */
static int on_epoch(void *arg, trib_trainer_t *t, const trib_train_epoch_stats_t *s)
{
    log_state_t *ls = arg;
    if (g_rank == 0)
        print_epoch(ls, t, s);
    return TRIB_OK;
}

/* Every rank after each round: fault injection (the library then writes a checkpoint that is due). */
static int on_round(void *arg, trib_trainer_t *t, const trib_train_position_t *pos)
{
    const options_t *o = ((log_state_t *)arg)->o;
    (void)t;
    if (o->fail_epoch && !o->resume && g_rank == o->fail_rank && pos->epoch + 1 == o->fail_epoch &&
        pos->round + 1 == o->fail_step) {
        fprintf(stderr, "trib-train: --fail-at %u:%llu:%d: rank %d exits now\n", o->fail_epoch,
                (unsigned long long)o->fail_step, o->fail_rank, g_rank);
        _exit(1); /* a crash: no cleanup, no checkpoint */
    }
    return TRIB_OK;
}

/* Rank 0: the managed run's events as log lines. */
static void on_event(void *arg, const trib_run_event_t *ev)
{
    log_state_t *ls = arg;
    struct timespec now;
    switch (ev->kind) {
    case TRIB_RUN_RESUMED:
        printf("resumed from %s at epoch %u round %llu (epochs done: %u) in %.3f s\n", ev->path, ev->epoch,
               (unsigned long long)ev->round, ev->epoch, ev->seconds);
        fflush(stdout);
        break;
    case TRIB_RUN_FRESH_START:
        printf("resume: no checkpoint in %s, starting fresh\n", ev->path);
        fflush(stdout);
        break;
    case TRIB_RUN_TRAINING_STARTS: /* so a relaunch's time to training again can be read off */
        if (ls->quiet)
            break;
        clock_gettime(CLOCK_REALTIME, &now);
        fprintf(stderr, "trib-train: training starts at epoch %u round %llu, %.3f s after MPI_Init (unix time %.3f)\n",
                ev->epoch, (unsigned long long)ev->round, MPI_Wtime() - g_t_init,
                (double)now.tv_sec + 1e-9 * (double)now.tv_nsec);
        break;
    case TRIB_RUN_CHECKPOINT:
        if (!ls->quiet)
            fprintf(stderr, "trib-train: checkpoint %s (%s) at epoch %u round %llu, written in %.1f ms\n", ev->path,
                    ev->why, ev->epoch, (unsigned long long)ev->round, 1e3 * ev->seconds);
        break;
    }
}

/* ------------------------------------------------------------------ main */

static void print_header(const trib_trainer_t *t, int nranks)
{
    char text[4096];
    trib_train_config_format(trib_trainer_config(t), text, sizeof text);
    const trib_dataset_info_t *in = trib_trainer_train_info(t);
    printf("trib-train %s: %d ranks, %llu users, %llu items, %llu training ratings, %llu rounds per epoch\n",
           trib_version_string(), nranks, (unsigned long long)in->n_users, (unsigned long long)in->n_items,
           (unsigned long long)in->n_ratings, (unsigned long long)trib_trainer_rounds_per_epoch(t));
    const trib_train_config_t *c = trib_trainer_config(t);
    if (c->mode == TRIB_TRAIN_MODE_PS)
        printf("parameter server: %u servers (ranks %d..%d), %d workers (ranks 0..%d)\n", c->ps_servers,
               nranks - (int)c->ps_servers, nranks - 1, nranks - (int)c->ps_servers,
               nranks - (int)c->ps_servers - 1);
    printf("configuration:\n");
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        printf("  %s\n", line);
    fflush(stdout);
}

/* The last line: final test RMSE against the data's noise floor when the data is synthetic. */
static void print_final(trib_trainer_t *t, double train_rmse, double test_rmse, double test_mae, double seconds)
{
    const trib_train_config_t *c = trib_trainer_config(t);
    const trib_dataset_info_t *in = trib_trainer_train_info(t);
    char tr[16], te[16];
    fmt_rmse(tr, sizeof tr, train_rmse);
    fmt_rmse(te, sizeof te, test_rmse);
    printf("final: train RMSE %s  test RMSE %s  test MAE %.4f  (%.2f s)", tr, te, test_mae, seconds);
    if (c->test_dir && in->is_synthetic && isfinite(in->noise_std) && in->noise_std > 0 && isfinite(test_rmse))
        printf("  noise floor %.4f  test/noise %.3f", in->noise_std, test_rmse / in->noise_std);
    printf("\n");
    fflush(stdout);
}

static int run(const options_t *o, int nranks)
{
    double t0 = MPI_Wtime();
    int rc = g_rank == 0 ? check_output_path("--model-out", o->cfg.model_out) : TRIB_OK;
    if (rc == TRIB_OK && g_rank == 0)
        rc = check_output_path("--metrics-json", o->cfg.metrics_json);
    int code = rc;
    MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (code != TRIB_OK) {
        if (g_rank == 0)
            trib_cli_error(trib_cli_prog, "%s", trib_last_error(rc));
        return 1;
    }
    trib_trainer_t *t = NULL;
    rc = trib_trainer_create(&o->cfg, MPI_COMM_WORLD, &t);
    if (rc != TRIB_OK) {
        if (g_rank == 0)
            trib_cli_error(trib_cli_prog, "%s", trib_last_error(rc));
        return 1;
    }
    if (o->fail_epoch && o->fail_step > trib_trainer_rounds_per_epoch(t)) {
        if (g_rank == 0)
            trib_cli_error(trib_cli_prog, "--fail-at: step %llu is past the %llu rounds of an epoch%s",
                           (unsigned long long)o->fail_step, (unsigned long long)trib_trainer_rounds_per_epoch(t),
                           o->cfg.mode == TRIB_TRAIN_MODE_PS ? " (in ps mode a round is a whole epoch: use E:1:R)"
                                                             : "");
        trib_trainer_destroy(t);
        return EXIT_USAGE;
    }
    if (g_rank == 0 && !o->quiet)
        print_header(t, nranks);
    log_state_t ls;
    memset(&ls, 0, sizeof ls);
    ls.quiet = o->quiet;
    ls.tty = g_rank == 0 && isatty(STDERR_FILENO);
    ls.epochs = o->cfg.epochs;
    ls.o = o;
    trib_run_opts_t ro;
    trib_run_opts_init(&ro);
    ro.ckpt_dir = o->ckpt_dir;
    ro.every = o->ckpt_every;
    ro.keep = o->keep;
    ro.resume = o->resume;
    ro.replace_checkpoints = o->replace_checkpoints;
    ro.allow_changed_settings = o->allow_changed_settings;
    ro.hooks = (trib_train_hooks_t){&ls, on_round, on_epoch, on_progress, NULL};
    ro.event = on_event;
    trib_run_result_t res;
    rc = trib_trainer_run_managed(t, &ro, &res);
    if (res.requeue) {
        if (g_rank == 0)
            fprintf(stderr, "trib-train: signal %d: checkpointed, exiting %d (requeue and run with --resume auto)\n",
                    res.stop_signal, TRIB_EXIT_REQUEUE);
        trib_trainer_destroy(t);
        return TRIB_EXIT_REQUEUE;
    }
    double train_rmse = NAN, test_rmse = NAN, test_mae = NAN;
    if (rc == TRIB_OK)
        rc = trib_trainer_evaluate(t, &train_rmse, NULL, &test_rmse, &test_mae);
    if (rc == TRIB_OK && o->cfg.model_out)
        rc = trib_trainer_write_model(t, o->cfg.model_out);
    if (rc == TRIB_OK && g_rank == 0) {
        print_final(t, train_rmse, test_rmse, test_mae, MPI_Wtime() - t0);
        if (o->cfg.model_out && !o->quiet)
            printf("model written to %s\n", o->cfg.model_out);
    }
    if (rc != TRIB_OK && g_rank == 0)
        trib_cli_error(trib_cli_prog, "%s", trib_last_error(rc));
    trib_trainer_destroy(t);
    return rc == TRIB_OK ? 0 : res.refused ? EXIT_USAGE : 1; /* refused: running it again cannot help */
}

int main(int argc, char **argv)
{
    trib_cli_prog = "trib-train";
    int provided, nranks;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        trib_cli_error(trib_cli_prog, "MPI_Init_thread failed");
        return 1;
    }
    g_t_init = MPI_Wtime();
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    options_t o;
    memset(&o, 0, sizeof o);
    trib_train_config_init(&o.cfg);
    o.keep = 2;
    int code = parse_options(argc, argv, &o);
    if (code == 0 && (o.help || o.version)) {
        if (g_rank == 0 && o.help)
            print_help();
        if (g_rank == 0 && o.version)
            printf("trib-train %s (%s)\n", trib_version_string(), trib_build_info());
    } else if (code == 0) {
        trib_ckpt_stop_signals_install(); /* a stop request during start-up is honoured after the first round */
        code = run(&o, nranks);
    }
    MPI_Finalize();
    return code;
}
