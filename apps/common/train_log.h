/*
 * train_log.h - trib-train's output: the configuration header, one line per
 * epoch (and the parameter server's per-worker line), the progress indicator
 * on a terminal, the managed run's events (resume, checkpoints, training
 * start) and the final line.  Hooks for trib_trainer_run_managed.
 */
#ifndef TRIB_APPS_TRAIN_LOG_H
#define TRIB_APPS_TRAIN_LOG_H

#include "tributary/tributary.h"

typedef struct {
    int rank;           /* this rank in MPI_COMM_WORLD: rank 0 prints */
    int quiet;          /* --quiet: no header, epoch or checkpoint lines */
    int tty;            /* rank 0 and stderr is a terminal: progress within epochs */
    unsigned epochs;
    double t_init;      /* MPI_Wtime() right after MPI_Init */
    int progress_shown; /* a progress line is on the terminal */
    const void *user;   /* the program's own state, for its other hooks */
} train_log_t;

/* Rank 0: the directories of --model-out and --metrics-json must exist and be writable (checked before any
 * work); a status with the message. */
int train_log_check_outputs(const trib_train_config_t *c);
/* Hooks (arg: a train_log_t). */
void train_log_on_progress(void *arg, unsigned epoch, double fraction);
int train_log_on_epoch(void *arg, trib_trainer_t *t, const trib_train_epoch_stats_t *s);
void train_log_on_event(void *arg, const trib_run_event_t *ev);
/* Rank 0: the configuration before training, the final line after it. */
void train_log_print_header(const trib_trainer_t *t, int nranks);
void train_log_print_final(trib_trainer_t *t, double train_rmse, double test_rmse, double test_mae, double seconds);

#endif
