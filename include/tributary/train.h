/*
 * tributary/train.h - distributed training of the biased MF model (tributary/mf.h).
 *
 * A training job is a trainer object driven by an epoch loop:
 *
 *   trib_train_config_t cfg;  trib_train_config_init(&cfg);   defaults
 *   cfg.train_dir = "T"; cfg.test_dir = "V"; ...               options
 *   trib_train_config_validate(&cfg);                          local checks, one place
 *   trib_trainer_create(&cfg, MPI_COMM_WORLD, &t);             collective: checks the
 *                         datasets on rank 0 (one error for all ranks), reads each
 *                         rank's ratings (partitioned by user), initialises the model
 *   trib_trainer_run(t, &hooks);                               collective: the epochs
 *   trib_trainer_write_model(t, "model.h5");                   collective: atomic file
 *   trib_trainer_destroy(t);
 *
 * Strategies.  The loop is written once; what happens inside one round is a
 * strategy ("sync": every rank runs SGD on its next slice of ratings, then
 * the replicated item block is synchronised with trib_allreduce_ex; "ps",
 * the parameter server, plugs in at the same place).  An epoch is
 * `rounds_per_epoch` rounds, the same number on every rank: the largest local
 * rating count divided by sync_every, rounded up.  In round r of an epoch a rank
 * visits positions [r*n/R, (r+1)*n/R) of its shuffled order, so a rank with
 * fewer ratings does fewer updates per round and no rank ever waits for a
 * round that another rank will not join.
 *
 * Hook points (for checkpoints and signals):
 *   - after_round: every rank, after each synchronisation, when all ranks
 *     hold the same item values and the position (epoch, round) is exact: the
 *     place to write a checkpoint that resumes bit-for-bit;
 *   - after_epoch: every rank, after the evaluation and the early-stopping
 *     update, with the epoch's figures: the place for a checkpoint at an epoch
 *     boundary (it then holds the epoch's early-stopping state; in ps mode, where
 *     a round is a whole epoch, every checkpoint is at an epoch boundary);
 *   - stop_flag: a sig_atomic_t set by a signal handler on any rank; polled at
 *     every round and agreed by all ranks inside the round's own allreduce (no
 *     extra message), so every rank stops after the same round; then
 *     trib_trainer_run returns TRIB_ERR_INTERRUPTED and the model is
 *     consistent (after_round was called for that round first; a stop after
 *     an epoch's last round still evaluates the epoch and calls after_epoch;
 *     ps mode polls at the end of each epoch only);
 *   - trib_trainer_set_position: start the loop at (epoch, round) after the
 *     caller restored the model (resume).  Everything a bit-exact resume needs
 *     in sync mode is the model (values of both blocks, which include the
 *     AdaGrad sums) and the position: visiting orders are a pure function of
 *     (seed, epoch) and the item block is identical on every rank after a
 *     round, so no RNG or communication state has to be saved.
 *
 * Model file (trib_trainer_write_model, trib_model_file_read): see
 * src/train/model_file.c for the HDF5 layout (also described in docs/MODEL.md).
 */
#ifndef TRIBUTARY_TRAIN_H
#define TRIBUTARY_TRAIN_H

#include <mpi.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "tributary/allreduce.h"
#include "tributary/ckpt.h"
#include "tributary/data.h"
#include "tributary/mf.h"
#include "tributary/ps.h"
#include "tributary/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ configuration */

typedef enum {
    TRIB_TRAIN_MODE_SYNC = 0, /* synchronous data-parallel SGD over trib_allreduce */
    TRIB_TRAIN_MODE_PS = 1    /* parameter server (tributary/ps.h): the last ps_servers ranks serve item rows */
} trib_train_mode_t;

typedef enum {
    TRIB_SYNC_AVERAGE = 0, /* item block = mean of the replicas (snap + sum of deltas / P) */
    TRIB_SYNC_DELTA_SUM = 1, /* item block = snap + sum of deltas (every rank's update applied) */
    /*
     * Stratified rounds (sync mode, --order blocked): the item rows are cut into P x Q groups and in
     * every round each rank visits its ratings of a different group (trib_mf_grid_strata_order), so
     * no item row changes on two ranks in a round; each rank sends the delta of its group's rows
     * and receives the others' (an allgather of about 1/Q of the rows, no averaging; algo and
     * sync_rows do not apply), optionally overlapped half round by half round (sync_overlap; the
     * same bits as without).  Rounds per epoch are rounded up to a multiple of P.  For slow
     * networks: benchmarks/RESULTS.md, "Stratified rounds".
     */
    TRIB_SYNC_STRATA = 2
} trib_sync_method_t;

/*
 * Which item rows a synchronisation sends (sync mode without --overlap).  Each rank marks the
 * item rows of its round's ratings (the only rows its SGD can change); one allreduce (bitwise
 * OR) of those marks gives the same set on every rank; the other rows are unchanged everywhere
 * and need no traffic (src/train/sync.c).
 */
/*
 * Who trains which ratings in ps mode (--ps-balance).  static: each worker its own users' ratings,
 * its own passes over them (the only choice under bsp: its clocks are per worker, which makes it
 * deterministic).  dynamic (async and ssp): an epoch is one shared pass over all ratings cut into
 * chunks that server 0 hands to whichever worker asks, user rows live on the servers next to the
 * item rows, and every worker holds a copy of all training ratings; a slow worker then costs only
 * its own share.  Under ssp every chunk is then one clock: a pull for the chunk handed out g-th
 * sees every chunk handed out before g - s.  auto (default): dynamic under async and ssp, static
 * under bsp and when the workers could not each hold every training rating (2^31 - 1 of them or
 * more, or about 16 bytes per rating and worker over half of a node's memory: a warning says so,
 * and the trainer's configuration then reads static).
 */
typedef enum {
    TRIB_PS_BALANCE_AUTO = 0,
    TRIB_PS_BALANCE_STATIC = 1,
    TRIB_PS_BALANCE_DYNAMIC = 2
} trib_ps_balance_t;

typedef enum {
    TRIB_SYNC_ROWS_AUTO = 0,   /* the changed rows when they are at most 3/4 of the block, else all (default) */
    TRIB_SYNC_ROWS_ALL = 1,    /* the whole block every round (no marks exchanged) */
    TRIB_SYNC_ROWS_TOUCHED = 2 /* always only the changed rows */
} trib_sync_rows_t;

/*
 * Which side of the blocked order's grid is cut into bands (tributary/mf.h, trib_mf_bands_t).
 * auto: user bands when sync mode averages item replicas (P > 1 ranks), where item bands would
 * give an item all of an epoch's local updates within one round and cost quality; else the side
 * with more rows, the fastest.  users / items / larger force a side (--order blocked only).
 */
typedef enum {
    TRIB_TRAIN_BANDS_AUTO = 0,
    TRIB_TRAIN_BANDS_USERS = 1,
    TRIB_TRAIN_BANDS_ITEMS = 2,
    TRIB_TRAIN_BANDS_LARGER = 3
} trib_train_bands_t;

/*
 * Trainer-level defaults.  The optimiser's (schedule, rates, regularisation,
 * initial scale) are the kernel's TRIB_MF_DEFAULT_*.  The synchronisation
 * defaults (model averaging, TRIB_TRAIN_AUTO_ROUNDS_PER_RANK x P rounds per epoch) and the
 * AdaGrad default come from benchmarks/RESULTS.md, "Rank-count invariance".
 *
 * Rank-count invariance.  Users live on one rank each; every rank holds all
 * item rows and the replicas are averaged.  In the averaged block an item
 * that received n updates over all ranks has moved about as far as n/P
 * sequential updates would move it, so with a fixed rate items learn P
 * times more slowly as ranks are added (test RMSE of the ML-1M shape at
 * P = 1, 2, 4, 8 with plain SGD: +0, 1.8, 6.0, 17%).  Under AdaGrad the
 * row's accumulated squared gradient is averaged too, so it grows P times
 * more slowly and the row's rate is sqrt(P) times higher; scaling the item
 * rows' base rate by sqrt(P) (trib_mf_hparams_t.item_lr_scale, set by the
 * trainer) makes the averaged step match the sequential one for small steps,
 * whatever the spread of an item's ratings over the ranks (one rank or all).  The
 * same holds for the parameter server with W workers.  Plain SGD would need
 * the rate x P, which diverges, so it gets no scaling.  The replicas also
 * drift apart within a round (each rank's users adapt to its own copy of
 * the items), which costs quality early in training when a round is a large
 * part of an epoch, and more so the more replicas are averaged:
 * TRIB_TRAIN_AUTO_ROUNDS_PER_RANK x P rounds per epoch keep that within the
 * measured bound at P <= 8 (with 16 rounds at every P, the ML-25M shape lost
 * 0.52% at P = 8; with 4P, 0.16%).  For the same reason the blocked order
 * cuts the users, not the items, into bands at P > 1 (trib_train_bands_t):
 * an item band would give its items all of a rank's epoch within one round.
 */
#define TRIB_TRAIN_DEFAULT_K TRIB_MF_DEFAULT_K
#define TRIB_TRAIN_DEFAULT_EPOCHS 20
#define TRIB_TRAIN_DEFAULT_SEED 1
#define TRIB_TRAIN_DEFAULT_SYNC_EVERY 0 /* auto: TRIB_TRAIN_AUTO_ROUNDS_PER_RANK x P rounds per epoch */
#define TRIB_TRAIN_AUTO_ROUNDS_PER_RANK 4
/*
 * trib-train's mini-batch in --mode ps when --sync-every is not given: with the sync default a worker
 * pushes once per epoch on MovieLens-1M-sized data and async, ssp and bsp compute the same thing;
 * at 50,000 ratings each of 2 workers runs 10 mini-batches (clocks) per epoch there and the models differ
 * (benchmarks/RESULTS.md, "Parameter server").
 */
#define TRIB_TRAIN_PS_DEFAULT_SYNC_EVERY 50000
#define TRIB_TRAIN_DEFAULT_SYNC_METHOD TRIB_SYNC_AVERAGE

typedef struct {
    const char *train_dir;    /* required */
    const char *test_dir;     /* NULL: no test set (test metrics are NaN) */
    const char *model_out;    /* NULL: no model file (informational; write with trib_trainer_write_model) */
    const char *metrics_json; /* NULL: none; else rank 0 writes one JSON object per epoch */
    trib_train_mode_t mode;
    size_t k;                 /* >= 1 */
    unsigned epochs;          /* >= 1 */
    trib_mf_hparams_t hp;     /* schedule, lr, decay, regularisation, init_std */
    trib_mf_order_t order;    /* visiting order of the local ratings (default TRIB_MF_DEFAULT_ORDER) */
    trib_train_bands_t bands; /* the blocked order's band side (default auto) */
    uint64_t seed;
    uint64_t sync_every;      /* >= 1: local SGD updates between synchronisations (on the busiest rank);
                                 0 (default): TRIB_TRAIN_AUTO_ROUNDS_PER_RANK x P rounds per epoch on
                                 P ranks (ps mode: P = workers) */
    trib_sync_method_t sync_method;
    trib_algo_t algo;         /* allreduce algorithm for the item block */
    trib_wire_t sync_precision; /* sync mode: wire precision of the item-block allreduce (fp32, bf16, fp16) */
    int sync_overlap;         /* sync mode, 1: round r's allreduce runs during round r+1's SGD (default 0) */
    trib_sync_rows_t sync_rows; /* sync mode without overlap: rows each synchronisation sends (default auto) */
    int check_sync;           /* 1: after every sync, hash the item block and compare across ranks */
    int eval_train;           /* 1 (default): train RMSE/MAE every epoch */
    unsigned early_stop;      /* 0: off; N: stop when test RMSE has not improved for N epochs (needs test_dir) */
    /* > 0: a wall-time budget in seconds from the start of trib_trainer_run.  Training stops at the
     * first round boundary after it (ps mode: after each worker's current mini-batch, the round then
     * incomplete as on a stop request), keeps the last consistent model and position (sync: the
     * round's; ps: the epoch the slowest worker finished last), and trib_trainer_run returns TRIB_OK
     * with trib_trainer_time_limit_reached() = 1.  0 (default): none. */
    double time_limit;
    /* Parameter-server mode only (mode == TRIB_TRAIN_MODE_PS; tributary/ps.h).  sync_every is the
     * mini-batch size there: ratings a worker updates between a pull and a push (on the busiest worker). */
    unsigned ps_servers;      /* S >= 1 in ps mode, 0 in sync mode: the last S ranks are servers */
    trib_ps_consistency_t ps_consistency; /* async | bsp | ssp (default ssp) */
    int ps_staleness;         /* ssp bound s >= 0 (default 2); bsp uses 0 */
    uint64_t ps_clock_every;  /* mini-batches per clock (>= 1, default 1) */
    trib_ps_balance_t ps_balance; /* auto (default) | static | dynamic: see trib_ps_balance_t */
    int ps_straggler_rank;    /* -1: none; else this worker sleeps factor x its SGD time (tests, benchmarks) */
    double ps_straggler_factor;
    int ps_straggler_hold;    /* 1: the straggler instead holds at its first mini-batch of the run until a
                                 server reports that another worker's pull reached past the staleness bound
                                 (TRIB_PS_FLAG_BOUND_HIT), whatever the scheduling: tests that need the
                                 bound exercised.  Needs W >= 2, ssp/bsp (or async with
                                 ps_check_staleness) and at least bound + 2 clocks per epoch.
                                 With work sharing (dynamic balance) the straggler instead
                                 takes no chunk in the process's first N = ps_straggler_hold
                                 rounds: the others must train those passes (tests). */
    int ps_check_staleness;   /* 1: servers check the bound at every pull; a violation fails the run */
    unsigned ps_raise_epoch;  /* testing, 0: off; else worker rank 0 raises ps_raise_signal right after the SGD */
    uint64_t ps_raise_batch;  /*   of mini-batch ps_raise_batch (1-based) of its epoch ps_raise_epoch (1-based), */
    int ps_raise_signal;      /*   once per trainer: a stop request that lands in the middle of a mini-batch */
} trib_train_config_t;

/* Fills every field with its default (train_dir NULL). */
TRIB_API void trib_train_config_init(trib_train_config_t *c);
/* All checks that need no data, in one place; TRIB_ERR_INVALID_ARG naming the field. */
TRIB_API int trib_train_config_validate(const trib_train_config_t *c);
/* The full configuration as "name value" lines (for rank 0 to print); returns the length or a status. */
TRIB_API int trib_train_config_format(const trib_train_config_t *c, char *buf, size_t cap);

TRIB_API const char *trib_train_mode_name(trib_train_mode_t m);
TRIB_API int trib_train_mode_parse(const char *name, trib_train_mode_t *out);
TRIB_API const char *trib_sync_method_name(trib_sync_method_t m);
/* "average" | "delta-sum" | "strata". */
TRIB_API int trib_sync_method_parse(const char *name, trib_sync_method_t *out);
TRIB_API const char *trib_train_bands_name(trib_train_bands_t b);
/* "auto" | "users" | "items" | "larger". */
TRIB_API int trib_train_bands_parse(const char *name, trib_train_bands_t *out);
TRIB_API const char *trib_ps_balance_name(trib_ps_balance_t b);
/* "auto" | "static" | "dynamic". */
TRIB_API int trib_ps_balance_parse(const char *name, trib_ps_balance_t *out);
/* The balance a configuration runs with (auto resolved): static or dynamic. */
TRIB_API trib_ps_balance_t trib_ps_balance_effective(const trib_train_config_t *c);
TRIB_API const char *trib_sync_rows_name(trib_sync_rows_t r);
/* "auto" | "all" | "touched". */
TRIB_API int trib_sync_rows_parse(const char *name, trib_sync_rows_t *out);
/* Allreduce algorithm names accepted by --allreduce: auto ring tree rd mpi shm. */
TRIB_API const char *trib_train_algo_name(trib_algo_t a);
TRIB_API int trib_train_algo_parse(const char *name, trib_algo_t *out);

/* ------------------------------------------------------------------ trainer */

typedef struct trib_trainer trib_trainer_t;

/* Where the loop is: round `round` (0-based) of epoch `epoch` (0-based) has just finished. */
typedef struct {
    unsigned epoch;
    uint64_t round;
    uint64_t rounds_per_epoch;
} trib_train_position_t;

/* One epoch's figures (identical on every rank). */
typedef struct {
    unsigned epoch;         /* 1-based in logs and JSON */
    double train_rmse, train_mae; /* NaN when eval_train is 0 */
    double test_rmse, test_mae;   /* NaN without a test set */
    double seconds;         /* wall time of the epoch's training (SGD + synchronisation), slowest rank */
    double comm_seconds;    /* time inside the item-block allreduce, mean over ranks */
    double eval_seconds;    /* wall time of the evaluation, slowest rank */
    double cpu_seconds;     /* CPU time of the epoch's training summed over ranks (includes
                               time spent polling inside MPI while waiting) */
    double ratings_per_s;   /* ratings updated by all ranks / seconds */
    uint64_t ratings;       /* ratings updated by all ranks in the epoch */
    uint64_t rounds;        /* synchronisation rounds in the epoch */
    double sync_rows;       /* sync mode: item rows sent per synchronisation as a share of the block,
                               mean over the epoch's rounds (1: the whole block); NaN when none ran */
} trib_train_epoch_stats_t;

/* Return from a hook to stop the loop after this point (all ranks must agree). */
#define TRIB_TRAIN_STOP 1

typedef struct {
    void *arg;
    /* Every rank, after each round's synchronisation.  TRIB_OK, TRIB_TRAIN_STOP or an error. */
    int (*after_round)(void *arg, trib_trainer_t *t, const trib_train_position_t *pos);
    /* Every rank, after each epoch's evaluation.  TRIB_OK, TRIB_TRAIN_STOP or an error. */
    int (*after_epoch)(void *arg, trib_trainer_t *t, const trib_train_epoch_stats_t *s);
    /* Rank 0 only: progress within epoch `epoch` (0-based), fraction in [0, 1]. */
    void (*progress)(void *arg, unsigned epoch, double fraction);
    /* Non-zero on any rank: every rank stops after the current round (TRIB_ERR_INTERRUPTED). */
    volatile sig_atomic_t *stop_flag;
} trib_train_hooks_t;

/*
 * Collective.  Checks the datasets on rank 0 (missing, test set from another
 * id space, more ranks than users or ratings, early_stop without a test set)
 * and broadcasts the verdict, so a bad job fails on every rank with the same
 * message before any data is read; then reads the local ratings and builds the
 * model (users owned by this rank, every item), initialised from the seed.
 */
TRIB_API int trib_trainer_create(const trib_train_config_t *cfg, MPI_Comm comm, trib_trainer_t **out);
TRIB_API void trib_trainer_destroy(trib_trainer_t *t);

/* Collective: epochs from the current position to cfg->epochs (or an early stop). */
TRIB_API int trib_trainer_run(trib_trainer_t *t, const trib_train_hooks_t *hooks);

/* Collective: evaluates the current model on train and test (sums combined across ranks). */
TRIB_API int trib_trainer_evaluate(trib_trainer_t *t, double *train_rmse, double *train_mae, double *test_rmse,
                                   double *test_mae);

/*
 * Collective: gathers the user rows on rank 0 and writes the model file there
 * (temporary name, fsync, rename, fsync of the directory).  Every rank returns
 * rank 0's status.
 */
TRIB_API int trib_trainer_write_model(trib_trainer_t *t, const char *path);

/* Accessors (the model is this rank's replica: its users, every item). */
TRIB_API trib_mf_model_t *trib_trainer_model(trib_trainer_t *t);
TRIB_API const trib_train_config_t *trib_trainer_config(const trib_trainer_t *t);
TRIB_API const trib_owner_map_t *trib_trainer_owners(const trib_trainer_t *t);
/* The grid of the blocked order over this rank's ratings (NULL with the shuffled order). */
TRIB_API const trib_mf_grid_t *trib_trainer_grid(const trib_trainer_t *t);
TRIB_API MPI_Comm trib_trainer_comm(const trib_trainer_t *t);
TRIB_API const trib_dataset_info_t *trib_trainer_train_info(const trib_trainer_t *t);
/* Local train ratings on this rank, rounds per epoch, and the next position the loop will run. */
TRIB_API size_t trib_trainer_local_ratings(const trib_trainer_t *t);
TRIB_API uint64_t trib_trainer_rounds_per_epoch(const trib_trainer_t *t);
TRIB_API void trib_trainer_next_position(const trib_trainer_t *t, unsigned *epoch, uint64_t *round);
/* 1 when the last trib_trainer_run ended on cfg.time_limit (the same on every rank). */
TRIB_API int trib_trainer_time_limit_reached(const trib_trainer_t *t);
/*
 * Resume: the next round to run is `round` of `epoch`.  Call on every rank
 * with the same values AFTER restoring the model values (factors, biases and
 * AdaGrad sums of trib_trainer_model): the strategy re-derives its state from
 * them (sync: the item snapshot deltas are taken against; ps mode: the servers
 * take the restored item rows, and with work sharing the user rows, in a
 * collective call).
 */
TRIB_API int trib_trainer_set_position(trib_trainer_t *t, unsigned epoch, uint64_t round);
/* Hash of this rank's item block values (what check_sync compares). */
TRIB_API uint64_t trib_trainer_item_hash(const trib_trainer_t *t);

/* ------------------------------------------------------------------ checkpoints */

/*
 * Collective: writes a checkpoint of the trainer at its current position (call
 * it from after_round, after_epoch or after trib_trainer_run returned) into
 * `dir` with the checkpoint library (tributary/ckpt.h), keeping the newest
 * `keep` (0: all).  path_out (may be NULL) receives the committed checkpoint's
 * path.  Both modes; in ps mode each server writes its item rows (the layout:
 * src/train/checkpoint.c).
 */
TRIB_API int trib_trainer_checkpoint(trib_trainer_t *t, const char *dir, unsigned keep, char *path_out,
                                     size_t path_cap);
/*
 * Collective, right after trib_trainer_create: `resume` is "auto" (the newest
 * valid checkpoint in `dir`; none: *resumed = 0 and TRIB_OK, a fresh start) or
 * a path (see trib_ckpt_resolve_all).  Refuses a checkpoint of another dataset
 * or another k or mode, and one whose trajectory settings (seed, lr,
 * lr_decay, schedule, reg, reg_bias, init_std) differ from this run's, naming
 * the setting (unless the managed run's allow_changed_settings says the
 * change is deliberate).  The trainer takes the checkpoint's run id.  Users are re-partitioned by global id, so the rank
 * count may differ from the writer's; in ps mode item rows are re-partitioned
 * by id too, so the worker and server counts, the consistency model and the
 * staleness may all differ (a changed server count or consistency is logged
 * as a warning).  The early-stopping state is restored.  On success
 * *resumed = 1, path holds the checkpoint and the trainer continues from its
 * position.
 */
TRIB_API int trib_trainer_resume(trib_trainer_t *t, const char *resume, const char *dir, char *path,
                                 size_t path_cap, int *resumed);

/* ------------------------------------------------------------------ managed run */

/*
 * A whole training run with one call: resume, periodic checkpoints, stop on
 * a signal, the final checkpoint, and the decision to ask for a requeue.
 * What trib-train does; any C program linking libtributary gets the same.
 */

/* What happened, reported to the caller (rank 0 only) so it can log it. */
typedef enum {
    TRIB_RUN_RESUMED,         /* path, epoch, round, seconds (to load the checkpoint) */
    TRIB_RUN_FRESH_START,     /* resume "auto" found no checkpoint in the directory */
    TRIB_RUN_TRAINING_STARTS, /* epoch, round: the loop starts (after any resume) */
    TRIB_RUN_CHECKPOINT       /* path, why ("periodic", "end of training", "stop request"), epoch, round,
                                 seconds (to write it) */
} trib_run_event_kind_t;

typedef struct {
    trib_run_event_kind_t kind;
    const char *path;
    const char *why;
    unsigned epoch; /* the trainer's next position */
    uint64_t round;
    double seconds;
} trib_run_event_t;

typedef struct {
    const char *ckpt_dir;     /* NULL: no checkpoints and no resume */
    trib_ckpt_every_t every;  /* when to checkpoint (trib_ckpt_every_parse); default "auto" */
    unsigned keep;            /* newest checkpoints kept (0: all); default 2 */
    const char *resume;       /* NULL, "auto" or a checkpoint path (trib_trainer_resume) */
    /*
     * A fresh start (resume NULL) in a directory that holds checkpoints, or
     * resume "auto" where none of them is valid: 1 deletes them and starts
     * fresh; 0 (default) refuses with the list (res->refused).
     */
    int replace_checkpoints;
    /* Resume although a trajectory setting (seed, lr, lr_decay, schedule, reg, reg_bias) differs
     * from the checkpoint's (a deliberate change); 0 (default) refuses naming the setting. */
    int allow_changed_settings;
    int handle_signals;       /* install the stop-signal handlers (trib_ckpt_stop_signals_install); default 1 */
    /*
     * The caller's hooks, run before the run's own work at each point
     * (after_round before a due checkpoint, after_epoch before a checkpoint
     * deferred to the epoch's end).  hooks.stop_flag is used when
     * handle_signals is 0.
     */
    trib_train_hooks_t hooks;
    /* Rank 0: called with hooks.arg for each event (may be NULL). */
    void (*event)(void *arg, const trib_run_event_t *ev);
} trib_run_opts_t;

typedef struct {
    int stop_signal; /* the signal that stopped the run on any rank (0: none) */
    int requeue;     /* stopped by SIGTERM or SIGUSR1 with a checkpoint of the position: exit TRIB_EXIT_REQUEUE
                        and run again with resume "auto" */
    int refused;     /* the run did not start because of what the checkpoint directory holds (another
                        run's checkpoints, other settings, none valid) or because another job holds its
                        lock: running the same command again cannot help (trib-train exits 2) */
} trib_run_result_t;

TRIB_API void trib_run_opts_init(trib_run_opts_t *o);

/*
 * Collective.  Resumes when asked (and trims cfg.metrics_json to the epochs
 * the checkpoint holds), runs the epochs with checkpoints when o->every says
 * so (a checkpoint due after an epoch's last round waits for that epoch's
 * evaluation, so it holds its early-stop state), checkpoints at the end and
 * after a stop request.  Returns TRIB_OK when training finished (then
 * evaluate and write the model), TRIB_ERR_INTERRUPTED when a stop request
 * ended it (res->requeue says whether to requeue), or an error.
 */
TRIB_API int trib_trainer_run_managed(trib_trainer_t *t, const trib_run_opts_t *o, trib_run_result_t *res);

/* ------------------------------------------------------------------ model file */

/*
 * A model read back from a model file: every user and every item (rows =
 * dense ids of the training set's id space) and the original ids.
 */
typedef struct {
    trib_mf_model_t model;         /* users.n_rows = all users */
    trib_idmap_t *user_ids;        /* dense <-> original (trib_idmap_* in data.h) */
    trib_idmap_t *item_ids;
    uint64_t idmap_fingerprint;    /* of the training set's id maps */
    uint64_t train_fingerprint;
    char config[4096];             /* the training configuration text */
} trib_model_file_t;

TRIB_API int trib_model_file_read(const char *path, trib_model_file_t *out);
TRIB_API void trib_model_file_free(trib_model_file_t *m);

#ifdef __cplusplus
}
#endif
#endif /* TRIBUTARY_TRAIN_H */
