/* train_log.c - trib-train's output lines and the managed run's log hooks (see train_log.h). */
#include "common/train_log.h"

#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

int train_log_check_outputs(const trib_train_config_t *c)
{
    int rc = check_output_path("--model-out", c->model_out);
    return rc == TRIB_OK ? check_output_path("--metrics-json", c->metrics_json) : rc;
}

void train_log_on_progress(void *arg, unsigned epoch, double fraction)
{
    train_log_t *ls = arg;
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

/* ps mode: per-worker throughput, waiting and progress, and what the servers saw, under the epoch line. */
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
    printf("  epochs done:"); /* workers run free: where each stood when the slowest finished the epoch */
    for (int w = 0; w < ps.n_workers; w++)
        printf(" %.2f", ps.worker_epochs_done[w]);
    printf("  | %llu batches, %llu clocks, %llu pulls (%llu deferred), max staleness %lld, violations %llu\n",
           (unsigned long long)ps.batches_per_epoch, (unsigned long long)ps.clocks_per_epoch,
           (unsigned long long)ps.pulls, (unsigned long long)ps.deferred, (long long)ps.max_staleness,
           (unsigned long long)ps.violations);
}

static void print_epoch(train_log_t *ls, const trib_trainer_t *t, const trib_train_epoch_stats_t *s)
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
int train_log_on_epoch(void *arg, trib_trainer_t *t, const trib_train_epoch_stats_t *s)
{
    train_log_t *ls = arg;
    if (ls->rank == 0)
        print_epoch(ls, t, s);
    return TRIB_OK;
}

/* Rank 0: the managed run's events as log lines. */
void train_log_on_event(void *arg, const trib_run_event_t *ev)
{
    train_log_t *ls = arg;
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
                ev->epoch, (unsigned long long)ev->round, MPI_Wtime() - ls->t_init,
                (double)now.tv_sec + 1e-9 * (double)now.tv_nsec);
        break;
    case TRIB_RUN_CHECKPOINT:
        if (!ls->quiet)
            fprintf(stderr, "trib-train: checkpoint %s (%s) at epoch %u round %llu, written in %.1f ms\n", ev->path,
                    ev->why, ev->epoch, (unsigned long long)ev->round, 1e3 * ev->seconds);
        break;
    }
}

void train_log_print_header(const trib_trainer_t *t, int nranks)
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
void train_log_print_final(trib_trainer_t *t, double train_rmse, double test_rmse, double test_mae, double seconds)
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
