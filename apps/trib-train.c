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
 * (trib_trainer_run_managed, src/train/run.c); on SIGTERM/SIGUSR1 with a
 * checkpoint directory the job checkpoints and exits TRIB_EXIT_REQUEUE (75).
 * Options: one table (apps/common/cli.h); log lines: apps/common/train_log.c.
 * --fail-at (fault-injection tests) makes one rank _exit(1), or every rank stop.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/train_log.h"
#include "tributary/tributary.h"
#include "tributary/ckpt.h"
#include "tributary/train.h"

static int g_rank;
static double g_t_init; /* MPI_Wtime() right after MPI_Init */

static const char usage_text[] =
    "Usage: mpirun -np P trib-train --train DIR [--test DIR] [options]\n"
    "Trains a biased matrix-factorisation model (mean + b_u + b_i + p_u.q_i) with synchronous\n"
    "data-parallel SGD: ratings are partitioned by user, item factors are replicated and kept in\n"
    "step with an allreduce every --sync-every local updates.\n\n";

typedef struct {
    trib_train_config_t cfg;
    trib_mf_schedule_t schedule;
    int schedule_set, lr_set, lr_decay_set, ckpt_every_set, sync_every_set;
    int quiet;
    const char *ckpt_dir, *ckpt_every_text, *resume;
    trib_ckpt_every_t ckpt_every;
    unsigned keep;
    unsigned fail_epoch; /* 0: no --fail-at */
    uint64_t fail_step;
    int fail_rank, fail_stop; /* fail_stop: E:S:stop, every rank stops itself */
    int replace_checkpoints, allow_changed_settings;
} options_t;

/* --fail-at EPOCH:STEP:RANK or EPOCH:STEP:stop, epoch and step 1-based (dst: options_t). */
static int parse_fail_at(const char *s, void *dst, char *why, size_t cap)
{
    options_t *o = dst;
    unsigned e;
    unsigned long long st;
    int r = -1, n = -1;
    o->fail_stop = sscanf(s, "%u:%llu:stop%n", &e, &st, &n) == 2 && n > 0 && s[n] == '\0';
    if ((!o->fail_stop && (sscanf(s, "%u:%llu:%d%n", &e, &st, &r, &n) != 3 || s[n] != '\0' || r < 0)) || n < 0 ||
        e < 1 || st < 1) {
        snprintf(why, cap, "is not EPOCH:STEP:RANK or EPOCH:STEP:stop (epoch and step from 1, rank from 0)");
        return -1;
    }
    o->fail_epoch = e;
    o->fail_step = st;
    o->fail_rank = r;
    return 0;
}

/* --straggler RANK:FACTOR (dst: trib_train_config_t). */
static int parse_straggler(const char *s, void *dst, char *why, size_t cap)
{
    trib_train_config_t *c = dst;
    char rank[32];
    uint64_t v;
    double f;
    const char *colon = strchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof rank) {
        snprintf(why, cap, "is not RANK:FACTOR");
        return -1;
    }
    memcpy(rank, s, (size_t)(colon - s));
    rank[colon - s] = '\0';
    if (trib_cli_parse_u64(rank, &v) || v > 1000000 || trib_cli_parse_double(colon + 1, &f) || f < 0 || f > 1000) {
        snprintf(why, cap, "is not RANK:FACTOR (factor in 0..1000)");
        return -1;
    }
    c->ps_straggler_rank = (int)v;
    c->ps_straggler_factor = f;
    return 0;
}

/* --time-limit T: seconds, or a duration as --checkpoint-every takes it (90s, 15m, 2h; > 0). */
static int parse_time_limit(const char *s, void *dst, char *why, size_t cap)
{
    trib_ckpt_every_t d = {TRIB_CKPT_EVERY_SECONDS, 0, 0};
    int bare = trib_cli_parse_double(s, &d.seconds) == 0; /* a bare number is seconds here, not epochs */
    if ((!bare && (trib_ckpt_every_parse(s, &d) != TRIB_OK || d.unit != TRIB_CKPT_EVERY_SECONDS)) ||
        !(d.seconds > 0) || d.seconds > 1e9) {
        snprintf(why, cap, "is not a duration > 0 (e.g. 600, 90s, 15m, 2h)");
        return -1;
    }
    *(double *)dst = d.seconds;
    return 0;
}

/* --sync-every N (>= 1, k/M suffixes) or auto (0: TRIB_TRAIN_AUTO_ROUNDS_PER_RANK x P rounds per epoch). */
static int parse_sync_every(const char *s, void *dst, char *why, size_t cap)
{
    uint64_t v = 0;
    if (strcmp(s, "auto") != 0 && (trib_cli_parse_u64(s, &v) || v < 1)) {
        snprintf(why, cap, "is not auto or a whole number of updates >= 1");
        return -1;
    }
    *(uint64_t *)dst = v;
    return 0;
}

/* The options, the one table; parsed on every rank, reported by rank 0. */
static int parse_options(int argc, char **argv, options_t *o, trib_cli_t *cli)
{
    trib_train_config_t *c = &o->cfg;
    static char lr_help[160], lr_decay_help[200], epilogue[512], ps_batch_help[256];
    trib_mf_hparams_t ada, plain;
    trib_mf_hparams_for_schedule(&ada, TRIB_MF_SCHEDULE_ADAGRAD);
    trib_mf_hparams_for_schedule(&plain, TRIB_MF_SCHEDULE_PLAIN);
    snprintf(lr_help, sizeof lr_help, "learning rate (default %g with plain, %g with adagrad)", (double)plain.lr,
             (double)ada.lr);
    snprintf(lr_decay_help, sizeof lr_decay_help,
             "(base) rate lr / (1 + X * epoch) (default %g with plain, %g with adagrad;\n"
             "with adagrad at large k, e.g. 0.15 at k = 128, it stops over-fitting)",
             (double)plain.lr_decay, (double)ada.lr_decay);
    snprintf(ps_batch_help, sizeof ps_batch_help,
             "local SGD updates between synchronisations (k/M suffixes), or auto:\n"
             "%d x P rounds per epoch on P ranks; in ps mode the mini-batch size\n"
             "between a pull and a push (default: auto; ps mode: %d)",
             TRIB_TRAIN_AUTO_ROUNDS_PER_RANK, TRIB_TRAIN_PS_DEFAULT_SYNC_EVERY);
    snprintf(epilogue, sizeof epilogue,
             "On SIGTERM or SIGUSR1 the job finishes the current round (ps mode: the current mini-batch), writes a\n"
             "checkpoint (with --checkpoint-dir) and exits %d: checkpointed, please requeue (then use --resume auto).\n"
             "Exit status: 0 done, 1 error, 2 bad usage, %d checkpointed on a signal (requeue).\n",
             TRIB_EXIT_REQUEUE, TRIB_EXIT_REQUEUE);
    const trib_cli_opt_t opts[] = {
        {.name = "Data and output", .kind = TRIB_CLI_SECTION},
        {.name = "train", .kind = TRIB_CLI_STRING, .dst = &c->train_dir, .arg = "DIR",
         .help = "training dataset (trib-data format), required"},
        {.name = "test", .kind = TRIB_CLI_STRING, .dst = &c->test_dir, .arg = "DIR",
         .help = "held-out dataset from the same id space (trib-data split)"},
        {.name = "model-out", .kind = TRIB_CLI_STRING, .dst = &c->model_out, .arg = "FILE",
         .help = "write the final model (HDF5, written atomically)"},
        {.name = "metrics-json", .kind = TRIB_CLI_STRING, .dst = &c->metrics_json, .arg = "FILE",
         .help = "one JSON object per epoch (epoch, train_rmse, test_rmse, test_mae,\n"
                 "ratings_per_s, seconds, comm_seconds, ...)"},
        {.name = "Model and optimiser", .kind = TRIB_CLI_SECTION},
        {.name = "k", .kind = TRIB_CLI_SIZE, .dst = &c->k, .max = 4096, .arg = "N", .help = "latent factors"},
        {.name = "epochs", .kind = TRIB_CLI_UINT, .dst = &c->epochs, .max = 1000000, .arg = "N", .help = "epochs"},
        {.name = "schedule", .kind = TRIB_CLI_ENUM, .dst = &o->schedule, .choices = &trib_cli_enum_schedule,
         .seen = &o->schedule_set, .arg = "S", .help = "learning-rate schedule"},
        {.name = "lr", .kind = TRIB_CLI_FLOAT, .dst = &c->hp.lr, .max = 1e6, .seen = &o->lr_set, .arg = "X",
         .help = lr_help, .no_default = 1},
        {.name = "lr-decay", .kind = TRIB_CLI_FLOAT, .dst = &c->hp.lr_decay, .max = 1e6, .arg = "X",
         .seen = &o->lr_decay_set, .no_default = 1, .help = lr_decay_help},
        {.name = "reg", .kind = TRIB_CLI_FLOAT, .dst = &c->hp.reg_factors, .max = 1e6, .arg = "X",
         .help = "L2 on factors, per visit"},
        {.name = "reg-bias", .kind = TRIB_CLI_FLOAT, .dst = &c->hp.reg_bias, .max = 1e6, .arg = "X",
         .help = "L2 on biases, per visit"},
        {.name = "init-std", .kind = TRIB_CLI_FLOAT, .dst = &c->hp.init_std, .max = 1e6, .arg = "X",
         .help = "initial factors ~ N(0, X^2/k)"},
        {.name = "seed", .kind = TRIB_CLI_U64, .dst = &c->seed, .arg = "S",
         .help = "seed of the initial model and visiting orders"},
        {.name = "order", .kind = TRIB_CLI_ENUM, .dst = &c->order, .choices = &trib_cli_enum_order, .arg = "O",
         .help = "visiting order of the ratings (blocked: cells of user x item ranges\n"
                 "that fit in L2; shuffle: fully random)"},
        {.name = "bands", .kind = TRIB_CLI_ENUM, .dst = &c->bands, .choices = &trib_cli_enum_bands, .arg = "B",
         .help = "blocked order: the side cut into bands. auto: users when sync mode\n"
                 "averages item replicas (P > 1; item bands cost quality there), else\n"
                 "the side with more rows (larger, the fastest)"},
        {.name = "Parallel training", .kind = TRIB_CLI_SECTION},
        {.name = "mode", .kind = TRIB_CLI_ENUM, .dst = &c->mode, .choices = &trib_cli_enum_train_mode, .arg = "M",
         .help = "sync, or ps (parameter server: the last --servers ranks hold the item\n"
                 "rows, the other ranks are workers that pull, compute and push)"},
        {.name = "sync-every", .kind = TRIB_CLI_CUSTOM, .dst = &c->sync_every, .parse = parse_sync_every,
         .arg = "N|auto", .seen = &o->sync_every_set, .help = ps_batch_help},
        {.name = "sync-method", .kind = TRIB_CLI_ENUM, .dst = &c->sync_method, .choices = &trib_cli_enum_sync_method,
         .arg = "M", .help = "mean of the replicas, every rank's delta summed, or strata: each round\n"
                             "every rank visits a different group of item bands and the ranks\n"
                             "exchange their groups' rows (a quarter of the rows per round: for\n"
                             "slow networks, with --overlap on; --order blocked)"},
        {.name = "allreduce", .kind = TRIB_CLI_ENUM, .dst = &c->algo, .choices = &trib_cli_enum_algo, .arg = "A",
         .help = "allreduce algorithm of the item block (not with --sync-method strata)"},
        {.name = "sync-precision", .kind = TRIB_CLI_ENUM, .dst = &c->sync_precision, .choices = &trib_cli_enum_wire,
         .arg = "P", .help = "wire precision of the item-block allreduce: float32, or 16-bit values\n"
                             "(bf16, fp16) summed in float32 (sync mode)"},
        {.name = "overlap", .kind = TRIB_CLI_ENUM, .dst = &c->sync_overlap, .choices = &trib_cli_enum_onoff,
         .arg = "on|off", .help = "on: a round's allreduce runs during the next round's SGD and its\n"
                                 "sum is applied one round late (sync mode); with --sync-method\n"
                                 "strata each half round's rows travel during the next half\n"
                                 "(bitwise the same result as off)"},
        {.name = "sync-rows", .kind = TRIB_CLI_ENUM, .dst = &c->sync_rows, .choices = &trib_cli_enum_sync_rows,
         .arg = "R", .help = "item rows each synchronisation sends: touched (only rows some rank\n"
                             "changed in the round), all, or auto: touched when that is at most 3/4\n"
                             "of the block (sync mode, --overlap off)"},
        {.name = "check-sync", .kind = TRIB_CLI_FLAG, .dst = &c->check_sync,
         .help = "after every synchronisation compare item-block hashes across ranks"},
        {.name = "Checkpoints and recovery", .kind = TRIB_CLI_SECTION},
        {.name = "checkpoint-dir", .kind = TRIB_CLI_STRING, .dst = &o->ckpt_dir, .arg = "D",
         .help = "write checkpoints into D (atomic, verified on load)"},
        {.name = "checkpoint-every", .kind = TRIB_CLI_STRING, .dst = &o->ckpt_every_text, .arg = "S",
         .seen = &o->ckpt_every_set,
         .help = "how often: 'auto' (default), '2 epochs', '500 steps' (rounds), '90s', '15m',\n"
                 "'never' (a bare number: epochs); also at the end.  auto: after every epoch,\n"
                 "not before 99 x the last write time (at most 1% of the run).  ps mode:\n"
                 "a step is a whole epoch (checkpoints only at epoch boundaries)"},
        {.name = "keep", .kind = TRIB_CLI_UINT, .dst = &o->keep, .max = 1000000, .arg = "N",
         .help = "keep the newest N checkpoints (0: all)"},
        {.name = "resume", .kind = TRIB_CLI_STRING, .dst = &o->resume, .arg = "auto|PATH",
         .help = "continue from the newest valid checkpoint in --checkpoint-dir (fresh start if\n"
                 "there is none) or from PATH; k, mode and the trajectory settings (seed, lr,\n"
                 "lr-decay, schedule, reg, reg-bias, init-std) must match; the rank count may\n"
                 "differ (ps: workers, --servers, --consistency, --staleness too, with a\n"
                 "warning; early-stop state is restored); D is locked while the job runs"},
        {.name = "replace-checkpoints", .kind = TRIB_CLI_FLAG, .dst = &o->replace_checkpoints, .help =
         "a run without --resume deletes the checkpoints in D (refused otherwise);\nwith --resume auto, so do checkpoints none of which is valid"},
        {.name = "allow-changed-settings", .kind = TRIB_CLI_FLAG, .dst = &o->allow_changed_settings,
         .help = "--resume although a trajectory setting differs (e.g. a new --lr)"},
        {.name = "fail-at", .kind = TRIB_CLI_CUSTOM, .dst = o, .parse = parse_fail_at, .arg = "E:S:R",
         .help = "testing: rank R exits abruptly (_exit(1)) after round S (1-based) of\n"
                 "epoch E (1-based), only in a run without --resume (ps mode: S is 1);\n"
                 "E:S:stop: every rank stops itself there (SIGSTOP) until SIGCONT"},
        {.name = "Parameter server (--mode ps)", .kind = TRIB_CLI_SECTION},
        {.name = "servers", .kind = TRIB_CLI_UINT, .dst = &c->ps_servers, .max = 1000000, .arg = "S",
         .help = "server ranks (required, 1 <= S < ranks; servers are the last S ranks)", .no_default = 1},
        {.name = "consistency", .kind = TRIB_CLI_ENUM, .dst = &c->ps_consistency,
         .choices = &trib_cli_enum_consistency, .arg = "C",
         .help = "async: never wait; bsp: wait for every worker's previous clock,\n"
                 "deterministic; ssp: bounded staleness.  Workers run free (no\n"
                 "barrier at an epoch's end); each epoch line is evaluated on the\n"
                 "servers' rows when the slowest worker finished that epoch (with work\n"
                 "sharing, --ps-balance: when every chunk of the pass is done)"},
        {.name = "ps-balance", .kind = TRIB_CLI_ENUM, .dst = &c->ps_balance, .choices = &trib_cli_enum_ps_balance,
         .arg = "B",
         .help = "who trains which ratings: static (each worker its own users), dynamic\n"
                 "(async and ssp: an epoch is one shared pass cut into chunks that any\n"
                 "worker takes, so fast workers take over a straggler's share; user rows\n"
                 "live on the servers; every worker holds all training ratings), or\n"
                 "auto: dynamic under async and ssp (unless every worker's copy of the\n"
                 "ratings would not fit: then static, with a warning), static under bsp"},
        {.name = "staleness", .kind = TRIB_CLI_INT, .dst = &c->ps_staleness, .max = 1000000, .arg = "s",
         .help = "ssp bound: a worker at clock c sees every update up to clock c-s-1\n"
                 "(shared work: the chunk handed out g-th sees every chunk before g-s)"},
        {.name = "clock-every", .kind = TRIB_CLI_U64, .dst = &c->ps_clock_every, .min = 1, .max = 1e9, .arg = "N",
         .help = "mini-batches per clock"},
        {.name = "straggler", .kind = TRIB_CLI_CUSTOM, .dst = c, .parse = parse_straggler, .arg = "R:F",
         .help = "worker rank R sleeps F x its compute time (tests and benchmarks)"},
        {.name = "check-staleness", .kind = TRIB_CLI_FLAG, .dst = &c->ps_check_staleness,
         .help = "servers check the staleness bound at every pull (a violation fails the run;\n"
                 "with async, counts how often --staleness would have been exceeded)"},
        {.name = "Other", .kind = TRIB_CLI_SECTION},
        {.name = "early-stop", .kind = TRIB_CLI_UINT, .dst = &c->early_stop, .min = 1, .max = 1000000, .arg = "N",
         .help = "stop when test RMSE has not improved for N epochs (needs --test)", .no_default = 1},
        {.name = "time-limit", .kind = TRIB_CLI_CUSTOM, .dst = &c->time_limit, .parse = parse_time_limit,
         .arg = "T", .no_default = 1,
         .help = "a wall-time budget for training (600, 90s, 15m, 2h): stop at the first\n"
                 "round boundary after it (ps: after each worker's current mini-batch;\n"
                 "the model is the one after the last epoch the slowest worker\n"
                 "finished), checkpoint, evaluate and write the model; exit 0"},
        {.name = "no-train-eval", .kind = TRIB_CLI_CLEAR, .dst = &c->eval_train,
         .help = "skip the train RMSE each epoch"},
        {.name = "quiet", .kind = TRIB_CLI_FLAG, .dst = &o->quiet,
         .help = "no configuration or per-epoch lines (errors and the final line only)"},
        {0}};
    o->schedule = c->hp.schedule;
    cli->usage = usage_text;
    cli->opts = opts;
    cli->epilogue = epilogue;
    int rc = trib_cli_parse(cli, argc, argv);
    if (rc || cli->help || cli->version) {
        if (!rc && cli->help && trib_cli_reporting())
            trib_cli_print_help(cli);
        return rc;
    }
    if (c->mode == TRIB_TRAIN_MODE_PS && !o->sync_every_set)
        c->sync_every = TRIB_TRAIN_PS_DEFAULT_SYNC_EVERY; /* a mini-batch at which the consistency models differ */
    if (o->schedule_set && o->schedule != c->hp.schedule) { /* the other schedule's own default rate and decay */
        c->hp.schedule = o->schedule;
        trib_mf_hparams_t d;
        trib_mf_hparams_for_schedule(&d, o->schedule);
        if (!o->lr_set)
            c->hp.lr = d.lr;
        if (!o->lr_decay_set)
            c->hp.lr_decay = d.lr_decay;
    }
    if ((rc = trib_train_config_validate(c)) != TRIB_OK)
        return trib_cli_usage("%s", trib_last_error(rc));
    if (!o->ckpt_dir && (o->ckpt_every_set || o->resume))
        return trib_cli_usage("--checkpoint-every and --resume need --checkpoint-dir");
    if ((rc = trib_ckpt_every_parse(o->ckpt_every_text ? o->ckpt_every_text : "auto", &o->ckpt_every)) != TRIB_OK)
        return trib_cli_usage("--checkpoint-every: %s", trib_last_error(rc));
    int nranks;
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    if (o->fail_epoch && (o->fail_epoch > c->epochs || o->fail_rank >= nranks))
        return trib_cli_usage("--fail-at: epoch %u or rank %d is outside the job (%u epochs, %d ranks)",
                              o->fail_epoch, o->fail_rank, c->epochs, nranks);
    return 0;
}

/* Every rank after each round: fault injection (the library then writes a checkpoint that is due). */
static int on_round(void *arg, trib_trainer_t *t, const trib_train_position_t *pos)
{
    const options_t *o = ((train_log_t *)arg)->user;
    (void)t;
    if (o->fail_stop && !o->resume && pos->epoch + 1 == o->fail_epoch && pos->round + 1 == o->fail_step)
        raise(SIGSTOP); /* a test sends its signal to the stopped job, then SIGCONT */
    if (o->fail_epoch && !o->resume && g_rank == o->fail_rank && pos->epoch + 1 == o->fail_epoch &&
        pos->round + 1 == o->fail_step) {
        fprintf(stderr, "trib-train: --fail-at %u:%llu:%d: rank %d exits now\n", o->fail_epoch,
                (unsigned long long)o->fail_step, o->fail_rank, g_rank);
        _exit(1); /* a crash: no cleanup, no checkpoint */
    }
    return TRIB_OK;
}

/* ------------------------------------------------------------------ main */

static int run(const options_t *o, int nranks)
{
    double t0 = MPI_Wtime();
    int rc = g_rank == 0 ? train_log_check_outputs(&o->cfg) : TRIB_OK, code = rc;
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
        return TRIB_CLI_EXIT_USAGE;
    }
    if (g_rank == 0 && !o->quiet)
        train_log_print_header(t, nranks);
    train_log_t ls = {.rank = g_rank, .quiet = o->quiet, .tty = g_rank == 0 && isatty(STDERR_FILENO),
                      .epochs = o->cfg.epochs, .t_init = g_t_init, .user = o};
    trib_run_opts_t ro;
    trib_run_opts_init(&ro);
    ro.ckpt_dir = o->ckpt_dir;
    ro.every = o->ckpt_every;
    ro.keep = o->keep;
    ro.resume = o->resume;
    ro.replace_checkpoints = o->replace_checkpoints;
    ro.allow_changed_settings = o->allow_changed_settings;
    ro.hooks = (trib_train_hooks_t){&ls, on_round, train_log_on_epoch, train_log_on_progress, NULL};
    ro.event = train_log_on_event;
    trib_run_result_t res;
    rc = trib_trainer_run_managed(t, &ro, &res);
    if (res.requeue) {
        if (g_rank == 0)
            fprintf(stderr, "trib-train: signal %d: checkpointed, exiting %d (requeue and run with --resume auto)\n",
                    res.stop_signal, TRIB_EXIT_REQUEUE);
        trib_trainer_destroy(t);
        return TRIB_EXIT_REQUEUE;
    }
    if (rc == TRIB_OK && trib_trainer_time_limit_reached(t) && g_rank == 0) {
        unsigned e;
        uint64_t r;
        trib_trainer_next_position(t, &e, &r);
        if (r == 0)
            fprintf(stderr, "trib-train: time limit of %g s reached: training stopped after epoch %u of %u\n",
                    o->cfg.time_limit, e, o->cfg.epochs);
        else
            fprintf(stderr, "trib-train: time limit of %g s reached: training stopped in epoch %u of %u, after "
                    "round %llu of %llu\n", o->cfg.time_limit, e + 1, o->cfg.epochs, (unsigned long long)r,
                    (unsigned long long)trib_trainer_rounds_per_epoch(t));
    }
    double train_rmse = NAN, test_rmse = NAN, test_mae = NAN;
    if (rc == TRIB_OK)
        rc = trib_trainer_evaluate(t, &train_rmse, NULL, &test_rmse, &test_mae);
    if (rc == TRIB_OK && o->cfg.model_out)
        rc = trib_trainer_write_model(t, o->cfg.model_out);
    if (rc == TRIB_OK && g_rank == 0) {
        train_log_print_final(t, train_rmse, test_rmse, test_mae, MPI_Wtime() - t0);
        if (o->cfg.model_out && !o->quiet)
            printf("model written to %s\n", o->cfg.model_out);
    }
    if (rc != TRIB_OK && g_rank == 0)
        trib_cli_error(trib_cli_prog, "%s", trib_last_error(rc));
    trib_trainer_destroy(t);
    return rc == TRIB_OK ? 0 : res.refused ? TRIB_CLI_EXIT_USAGE : 1; /* refused: running it again cannot help */
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
    trib_cli_report_rank0(MPI_COMM_WORLD);
    options_t o;
    memset(&o, 0, sizeof o);
    trib_train_config_init(&o.cfg);
    o.keep = 2;
    trib_cli_t cli = {0};
    int code = parse_options(argc, argv, &o, &cli);
    trib_cli_free(&cli);
    if (code == 0 && (cli.help || cli.version)) {
        if (g_rank == 0 && cli.version)
            printf("trib-train %s (%s)\n", trib_version_string(), trib_build_info());
    } else if (code == 0) {
        trib_ckpt_stop_signals_install(); /* a stop request during start-up is honoured after the first round */
        code = run(&o, nranks);
    }
    MPI_Finalize();
    return code;
}
