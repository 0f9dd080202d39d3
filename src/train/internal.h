/*
 * internal.h - what the files of the training layer share (not public).
 *
 *   config.c      configuration defaults, validation (the one place), printing, names
 *   trainer.c     trainer creation: dataset checks on rank 0, local data, model init
 *   loop.c        the epoch loop: rounds, hooks, evaluation, logs, metrics JSON
 *   sync.c        the synchronous data-parallel strategy (allreduce of the item block)
 *   model_file.c  model.h5: gather, atomic write, read back
 *   ps_*.c        the parameter-server strategy (ps_strategy.c), its server, client and protocol
 *
 * A strategy is the part of a round that differs between training modes.  The
 * loop calls, for every round of every epoch:
 *
 *     strategy->round(t, state, epoch, begin, end, &stop)
 *
 * which must run the local SGD over positions [begin, end) of this rank's
 * visiting order and leave the replicated state consistent across ranks; `stop`
 * comes in as this rank's stop request and goes out as the agreement of all
 * ranks (any rank asked).  Before evaluation and before the model is written
 * the loop calls strategy->settle (e.g. PS: pull every item); sync has nothing
 * to do there.  After a caller replaced the model values (resume from a
 * checkpoint) trib_trainer_set_position calls strategy->reset (sync: take a new
 * snapshot of the item block).
 */
#ifndef TRIB_TRAIN_INTERNAL_H
#define TRIB_TRAIN_INTERNAL_H

#include "tributary/train.h"

#include "core/timer.h"
#include "core/visibility.h"

typedef struct {
    const char *name;
    int (*create)(trib_trainer_t *t, void **state);
    int (*round)(trib_trainer_t *t, void *state, unsigned epoch, size_t begin, size_t end, int *stop);
    int (*settle)(trib_trainer_t *t, void *state);
    int (*reset)(trib_trainer_t *t, void *state); /* the model was replaced (resume): rebuild derived state */
    void (*destroy)(void *state);
    int own_order; /* 1: the strategy makes its own visiting orders, the loop leaves t->order alone (NULL) */
} trib_strategy_t;

TRIB_HIDDEN extern const trib_strategy_t trib_strategy_sync;
TRIB_HIDDEN extern const trib_strategy_t trib_strategy_ps;
TRIB_HIDDEN extern const trib_strategy_t trib_strategy_strata;

struct trib_trainer {
    trib_train_config_t cfg;
    MPI_Comm comm;
    int rank, size;
    /* Ranks holding ratings (owner-map parts): all of comm in sync mode, the workers (ranks
     * 0..data_size-1) in ps mode; data_comm is MPI_COMM_NULL on ps servers. */
    MPI_Comm data_comm;
    int data_size;
    trib_dataset_info_t train_info;
    trib_dataset_info_t test_info;
    int has_test;
    trib_owner_map_t *owners;
    uint32_t user_first, user_end;     /* this rank's users */
    trib_mf_model_t model;
    trib_mf_rating_t *train;           /* local ratings: user = local row, item = item row */
    size_t n_train;
    trib_mf_rating_t *test;
    size_t n_test;
    uint64_t n_train_global;
    uint32_t *order;                   /* visiting order of the current epoch */
    uint64_t *round_start;             /* --sync-method strata: where each round of the order starts (R + 1) */
    uint64_t *round_half;              /* --sync-method strata: where each round's second half starts (R) */
    uint32_t *round_group;             /* --sync-method strata: the item group this rank visits in each round (R) */
    trib_mf_grid_t grid;               /* cfg.order blocked: the cells of `train` (train reordered by them) */
    uint64_t rounds_per_epoch;
    unsigned next_epoch;               /* position of the next round to run */
    uint64_t next_round;
    const trib_strategy_t *strategy;
    void *strategy_state;
    double comm_seconds;               /* strategy adds its communication time here */
    double sync_rows_sum;              /* sync: the share of item rows each synchronisation sent, summed */
    uint64_t sync_rows_n;              /* ... and the synchronisations counted (identical on every rank) */
    volatile sig_atomic_t *stop_flag;  /* hooks->stop_flag during trib_trainer_run (ps reads it between mini-batches) */
    double deadline;                   /* cfg.time_limit > 0: trib_now() at which it is reached (0: none) */
    int time_up;                       /* this rank saw the deadline pass (trib_train_stop_wanted) */
    int time_limit_reached;            /* the last trib_trainer_run ended on the time limit (every rank) */
    /* Set by a strategy's round (reset by the loop before each): round_updates >= 0 is the local
     * SGD updates it did (default: its slice); round_incomplete = 1 means a stop ended it before its
     * work was done, so the position stays (ps: workers run free, see ps_strategy.c). */
    int64_t round_updates;
    int round_incomplete;
    /* Early stopping (cfg.early_stop), updated after each epoch's evaluation and before the
     * after_epoch hook, saved in checkpoints: the best test RMSE so far (valid when es_have_best)
     * and the epochs since it last improved.  The loop runs no epoch once es_since >= early_stop. */
    int es_have_best;
    double es_best;
    unsigned es_since;
    /* Run identity (checkpoint.c, "Run identity"): random at a fresh start of a managed run,
     * taken from the checkpoint on a resume; "" when none was given (no checkpoints). */
    char run_id[40];
    /* Resume: continue although a trajectory setting (seed, lr, ...) differs from the checkpoint's. */
    int allow_changed_settings;
};

/*
 * Whether this rank wants the run to stop at its next check: a stop request
 * (signal) or, with cfg.time_limit, the deadline passed (noted in t->time_up).
 * Checked before each round (sync: the verdict travels with the round's
 * allreduce) and between mini-batches (ps workers).
 */
static inline int trib_train_stop_wanted(trib_trainer_t *t)
{
    if (t->stop_flag && *t->stop_flag)
        return 1;
    if (t->deadline > 0 && trib_now() >= t->deadline)
        t->time_up = 1;
    return t->time_up;
}

/* Error agreement: every rank returns TRIB_OK, or the status and message of the lowest failing rank. */
/* trib_agree with the argument order the train files use (one rule: tributary/allreduce.h). */
static inline int trib_train_agree(int rc, MPI_Comm comm) { return trib_agree(comm, rc); }

/*
 * Returns rc with the message "<context>: <the current detail message>".  (The
 * detail message lives in one per-thread buffer, so it must be copied before
 * trib_errorf formats the new one: never pass trib_last_error() to trib_errorf.)
 */
TRIB_HIDDEN int trib_train_error_context(int rc, const char *fmt, ...) TRIB_PRINTF(2, 3);

/*
 * The hyper-parameters of this rank's SGD: cfg.hp, with item_lr_scale x sqrt(data_size) under
 * AdaGrad and model averaging (tributary/train.h, "Rank-count invariance": why sqrt).
 */
TRIB_HIDDEN trib_mf_hparams_t trib_train_sgd_hparams(const trib_trainer_t *t);

/* 64-bit hash of a float array's bytes. */
TRIB_HIDDEN uint64_t trib_train_hash_floats(const float *v, size_t n);

/* ps_strategy.c: ps roles (S < P checked), the workers' communicator, data_size = W. */
TRIB_HIDDEN int trib_ps_split_roles(trib_trainer_t *t);

/*
 * ps_strategy.c, for checkpoints (at an epoch boundary, where ps state is only values): this
 * rank's server block (rows [ids[0], ids[0] + n_rows), NULL on workers) and the clocks per epoch
 * (the next epoch starts at clock epoch * clocks_per_epoch).
 */
TRIB_HIDDEN const trib_mf_block_t *trib_ps_server_items(const trib_trainer_t *t);
TRIB_HIDDEN uint64_t trib_ps_clocks_per_epoch(const trib_trainer_t *t);

/* sync.c: pieces the synchronous strategies (sync, strata) share. */
/* Compares the item block's hash across ranks; TRIB_ERR_MISMATCH (on every rank) when any differs (--check-sync). */
TRIB_HIDDEN int trib_sync_check_items(trib_trainer_t *t, unsigned epoch);
/* The flag value F of a failed rank in a round's reduced flag (sync.c: stop requests stay below F / 2). */
TRIB_HIDDEN float trib_sync_fail_flag(int p);
/* The flag a rank adds to its round's reduction: 1 when it asks to stop, F when its SGD failed. */
TRIB_HIDDEN float trib_sync_round_flag(const trib_trainer_t *t, int stop, int failed);
/* Counts one synchronisation that sent `share` of the item block (the epoch's sync_rows). */
TRIB_HIDDEN void trib_sync_count(trib_trainer_t *t, double share);
/*
 * --overlap on: the SGD of order positions [begin, end) in `pieces` pieces, calling progress(arg)
 * after each (it moves the exchange in flight on); an error of either ends the loop.
 */
TRIB_HIDDEN int trib_sync_sgd_pieces(trib_trainer_t *t, unsigned epoch, size_t begin, size_t end, size_t pieces,
                                     int (*progress)(void *arg), void *arg);
/* model_file.c */
TRIB_HIDDEN int trib_model_file_write_root(trib_trainer_t *t, const char *path, const float *user_factors,
                                           const float *user_bias);

#endif
