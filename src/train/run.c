/*
 * run.c - the managed run (trib_trainer_run_managed): what a training job
 * does around the epoch loop, so that a program gets checkpoints, resume and
 * stop-on-signal with one call.
 *
 *   resume      trib_trainer_resume when asked; the metrics file is trimmed
 *               to the epochs the checkpoint holds (epochs run after it,
 *               before a failure, are run again)
 *   triggers    after every round the trigger (tributary/ckpt.h) says whether
 *               a checkpoint is due, with the same verdict on every rank; one
 *               due after an epoch's last round waits for the epoch's end
 *               (after its evaluation), so it holds the early-stop state.  In
 *               ps mode a round is a whole epoch
 *   stop        SIGTERM/SIGUSR1/SIGINT set a flag (trib_ckpt_stop_signals_install);
 *               every rank stops after the same round (ps mode: inside it, after
 *               the current mini-batch, keeping the position), a checkpoint is
 *               written, and a stop by SIGTERM or SIGUSR1 that is checkpointed
 *               is reported as requeue (TRIB_EXIT_REQUEUE for the program)
 *   at the end  a last checkpoint unless the newest already holds the position
 *   ownership   rank 0 holds the checkpoint directory's lock (tributary/ckpt.h)
 *               for the whole run; a fresh start draws a random run id and
 *               refuses a directory that holds checkpoints (another run's)
 *               unless told to replace them; a resume keeps the checkpoint's
 *               run id and refuses other trajectory settings (checkpoint.c)
 *
 * The caller's hooks run first at each point; events go to the caller's
 * event callback on rank 0 (the library prints nothing).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ckpt/internal.h"
#include "core/log.h"
#include "core/timer.h"
#include "train/internal.h"

typedef struct {
    trib_trainer_t *t;
    const trib_run_opts_t *o;
    int rank;
    trib_ckpt_trigger_t trigger;
    uint64_t last_ckpt;    /* rounds done at the newest checkpoint of this run (UINT64_MAX: none) */
    int ckpt_at_epoch_end; /* a checkpoint fell due after an epoch's last round: written in after_epoch */
} run_state_t;

void trib_run_opts_init(trib_run_opts_t *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    trib_ckpt_every_parse("auto", &o->every);
    o->keep = 2;
    o->handle_signals = 1;
}

static void emit(const run_state_t *rs, trib_run_event_kind_t kind, const char *path, const char *why,
                 double seconds)
{
    if (rs->rank != 0 || !rs->o->event)
        return;
    trib_run_event_t ev = {kind, path, why, 0, 0, seconds};
    trib_trainer_next_position(rs->t, &ev.epoch, &ev.round);
    rs->o->event(rs->o->hooks.arg, &ev);
}

/* Rounds done since the start of training at the trainer's position. */
static uint64_t rounds_done(const trib_trainer_t *t)
{
    unsigned e;
    uint64_t r;
    trib_trainer_next_position(t, &e, &r);
    return (uint64_t)e * trib_trainer_rounds_per_epoch(t) + r;
}

static int write_checkpoint(run_state_t *rs, const char *why)
{
    char path[4096];
    double t0 = trib_now();
    int rc = trib_trainer_checkpoint(rs->t, rs->o->ckpt_dir, rs->o->keep, path, sizeof path);
    if (rc != TRIB_OK)
        return rc;
    double seconds = trib_now() - t0;
    rs->last_ckpt = rounds_done(rs->t);
    unsigned e;
    uint64_t r;
    trib_trainer_next_position(rs->t, &e, &r);
    trib_ckpt_trigger_taken(&rs->trigger, e, rs->last_ckpt, trib_now());
    trib_ckpt_trigger_cost(&rs->trigger, seconds);
    emit(rs, TRIB_RUN_CHECKPOINT, path, why, seconds);
    return TRIB_OK;
}

static int after_round(void *arg, trib_trainer_t *t, const trib_train_position_t *pos)
{
    run_state_t *rs = arg;
    const trib_train_hooks_t *h = &rs->o->hooks;
    int rc = h->after_round ? h->after_round(h->arg, t, pos) : TRIB_OK;
    if (rc != TRIB_OK || !rs->o->ckpt_dir)
        return rc;
    unsigned e;
    uint64_t r;
    trib_trainer_next_position(t, &e, &r);
    int due = 0;
    rc = trib_ckpt_trigger_due(&rs->trigger, trib_trainer_comm(t), e, rounds_done(t), trib_now(), &due);
    if (rc == TRIB_OK && due && r == 0)
        rs->ckpt_at_epoch_end = 1; /* after the epoch's evaluation (after_epoch) */
    else if (rc == TRIB_OK && due)
        rc = write_checkpoint(rs, "periodic");
    return rc;
}

static int after_epoch(void *arg, trib_trainer_t *t, const trib_train_epoch_stats_t *s)
{
    run_state_t *rs = arg;
    const trib_train_hooks_t *h = &rs->o->hooks;
    int rc = h->after_epoch ? h->after_epoch(h->arg, t, s) : TRIB_OK;
    if (rc != TRIB_OK || !rs->ckpt_at_epoch_end)
        return rc;
    rs->ckpt_at_epoch_end = 0; /* the same on every rank: the trigger's verdict is */
    return write_checkpoint(rs, "periodic");
}

static void progress(void *arg, unsigned epoch, double fraction)
{
    run_state_t *rs = arg;
    rs->o->hooks.progress(rs->o->hooks.arg, epoch, fraction);
}

/*
 * Rank 0: keeps the first `epochs` lines of the metrics file (epochs the
 * checkpoint holds).
 */
static int trim_metrics(const char *path, unsigned epochs)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return TRIB_OK; /* nothing written yet */
    char line[4096];
    long keep_bytes = 0;
    unsigned n = 0;
    while (n < epochs && fgets(line, sizeof line, f)) {
        keep_bytes = ftell(f);
        n++;
    }
    fclose(f);
    if (truncate(path, keep_bytes) != 0)
        return trib_errorf(TRIB_ERR_IO, "metrics file %s: cannot trim to the resumed epoch", path);
    return TRIB_OK;
}

/* Rank 0: a fresh random run id (from /dev/urandom; the time and PID when it cannot be read). */
static void new_run_id(char *out, size_t cap)
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, b, sizeof b) : -1;
    if (fd >= 0)
        close(fd);
    if (n != (ssize_t)sizeof b) {
        uint64_t x = (uint64_t)(trib_now() * 1e9) ^ ((uint64_t)getpid() << 32);
        for (size_t i = 0; i < sizeof b; i++, x = x * 6364136223846793005u + 1442695040888963407u)
            b[i] = (unsigned char)(x >> 56);
    }
    size_t used = 0;
    for (size_t i = 0; i < sizeof b && used + 3 <= cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%02x", b[i]);
}

/*
 * Collective, before any resume: rank 0 takes the directory's lock and draws
 * the run id of a fresh start; a fresh start refuses (or, when told, empties)
 * a directory that holds checkpoints.  *refused is set when the directory's
 * state is why the run cannot start.
 */
static int claim_directory(run_state_t *rs, trib_ckpt_lock_t **lock, int *refused)
{
    const trib_run_opts_t *o = rs->o;
    trib_trainer_t *t = rs->t;
    int rc = TRIB_OK;
    if (rs->rank == 0) {
        rc = trib_ckpt_lock_acquire(o->ckpt_dir, lock);
        if (rc == TRIB_ERR_EXISTS)
            *refused = 1;
        size_t n = 0;
        char names[1024];
        if (rc == TRIB_OK && !o->resume)
            rc = trib_ckpt_list(o->ckpt_dir, names, sizeof names, &n);
        if (rc == TRIB_OK && n > 0 && !o->replace_checkpoints) {
            *refused = 1;
            rc = trib_errorf(TRIB_ERR_EXISTS,
                             "checkpoint directory %s holds %zu checkpoint(s) of another run (%s): a run without "
                             "--resume never writes over them; continue that run with --resume auto, use another "
                             "--checkpoint-dir, or delete them with --replace-checkpoints",
                             o->ckpt_dir, n, names);
        } else if (rc == TRIB_OK && n > 0) {
            trib_log(TRIB_LOG_WARN, "replacing the %zu checkpoint(s) in %s (%s)", n, o->ckpt_dir, names);
            rc = trib_ckpt_remove_all(o->ckpt_dir);
        }
        if (rc == TRIB_OK)
            new_run_id(t->run_id, sizeof t->run_id);
    }
    int r0 = *refused;
    if (MPI_Bcast(&r0, 1, MPI_INT, 0, t->comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "run: MPI_Bcast of the checkpoint directory verdict failed");
    *refused = r0;
    rc = trib_agree(t->comm, rc);
    if (rc == TRIB_OK && MPI_Bcast(t->run_id, (int)sizeof t->run_id, MPI_CHAR, 0, t->comm) != MPI_SUCCESS)
        rc = trib_errorf(TRIB_ERR_MPI, "run: MPI_Bcast of the run id failed");
    t->run_id[sizeof t->run_id - 1] = '\0';
    return rc;
}

static int resume(run_state_t *rs, int *refused)
{
    const trib_run_opts_t *o = rs->o;
    char path[4096];
    int resumed = 0;
    double t0 = trib_now();
    rs->t->allow_changed_settings = o->allow_changed_settings;
    int rc = trib_trainer_resume(rs->t, o->resume, o->ckpt_dir, path, sizeof path, &resumed);
    int is_auto = strcmp(o->resume, "auto") == 0;
    if (rc == TRIB_ERR_CORRUPT && is_auto && o->replace_checkpoints) {
        /* Checkpoints, none valid, and the caller said to replace them: a fresh start. */
        int rrc = TRIB_OK;
        if (rs->rank == 0) {
            trib_log(TRIB_LOG_WARN, "%s; replacing them (--replace-checkpoints)", trib_last_error(rc));
            rrc = trib_ckpt_remove_all(o->ckpt_dir);
        }
        rc = trib_agree(trib_trainer_comm(rs->t), rrc);
        resumed = 0;
    } else if (rc == TRIB_ERR_INCOMPATIBLE || (rc == TRIB_ERR_CORRUPT && is_auto)) {
        *refused = 1; /* the same on every rank: resolve and restore agree */
    }
    if (rc != TRIB_OK)
        return rc; /* not resumed: the run keeps the id claim_directory drew */
    emit(rs, resumed ? TRIB_RUN_RESUMED : TRIB_RUN_FRESH_START, resumed ? path : o->ckpt_dir, NULL,
         trib_now() - t0);
    const char *metrics = trib_trainer_config(rs->t)->metrics_json;
    unsigned e;
    uint64_t r;
    trib_trainer_next_position(rs->t, &e, &r);
    int mrc = rs->rank == 0 && resumed && metrics ? trim_metrics(metrics, e) : TRIB_OK;
    return trib_agree(trib_trainer_comm(rs->t), mrc);
}

static int run_locked(trib_trainer_t *t, const trib_run_opts_t *o, trib_run_result_t *res,
                      trib_ckpt_lock_t **lock);

int trib_trainer_run_managed(trib_trainer_t *t, const trib_run_opts_t *o, trib_run_result_t *res)
{
    if (!t || !o || !res)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_trainer_run_managed: NULL argument");
    if (o->resume && !o->ckpt_dir)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_trainer_run_managed: resume needs a checkpoint directory");
    memset(res, 0, sizeof *res);
    trib_ckpt_lock_t *lock = NULL;
    int rc = run_locked(t, o, res, &lock);
    trib_ckpt_lock_release(lock); /* rank 0, after the last checkpoint */
    return rc;
}

static int run_locked(trib_trainer_t *t, const trib_run_opts_t *o, trib_run_result_t *res,
                      trib_ckpt_lock_t **lock)
{
    run_state_t rs;
    memset(&rs, 0, sizeof rs);
    rs.t = t;
    rs.o = o;
    rs.rank = t->rank;
    rs.last_ckpt = UINT64_MAX;
    volatile sig_atomic_t *stop = o->hooks.stop_flag;
    int rc = TRIB_OK;
    if (o->handle_signals) {
        rc = trib_ckpt_stop_signals_install();
        stop = trib_ckpt_stop_flag();
    }
    rc = trib_agree(t->comm, rc);
    if (rc == TRIB_OK && o->ckpt_dir)
        rc = claim_directory(&rs, lock, &res->refused);
    if (rc == TRIB_OK && o->ckpt_dir && o->resume)
        rc = resume(&rs, &res->refused);
    if (rc != TRIB_OK)
        return rc;
    if (o->ckpt_dir) {
        unsigned e;
        uint64_t r;
        trib_trainer_next_position(t, &e, &r);
        trib_ckpt_trigger_init(&rs.trigger, &o->every, e, rounds_done(t), trib_now());
    }
    emit(&rs, TRIB_RUN_TRAINING_STARTS, NULL, NULL, 0);
    trib_train_hooks_t hooks = {&rs, after_round, after_epoch, o->hooks.progress ? progress : NULL, stop};
    rc = trib_trainer_run(t, &hooks);
    if (o->ckpt_dir && (rc == TRIB_OK || rc == TRIB_ERR_INTERRUPTED) && rounds_done(t) != rs.last_ckpt) {
        int wrc = write_checkpoint(&rs, rc == TRIB_ERR_INTERRUPTED        ? "stop request"
                                        : trib_trainer_time_limit_reached(t) ? "time limit"
                                                                             : "end of training");
        if (wrc != TRIB_OK)
            return wrc;
    }
    if (rc == TRIB_ERR_INTERRUPTED) {
        /* One verdict for every rank: the signal any rank received. */
        int sig = stop ? (int)*stop : 0, any = 0;
        if (MPI_Allreduce(&sig, &any, 1, MPI_INT, MPI_MAX, t->comm) != MPI_SUCCESS)
            return trib_errorf(TRIB_ERR_MPI, "run: MPI_Allreduce of the stop signal failed");
        res->stop_signal = any;
        res->requeue = o->ckpt_dir && rs.last_ckpt == rounds_done(t) && (any == SIGTERM || any == SIGUSR1);
    }
    return rc;
}
