/*
 * trigger.c - when to checkpoint: the --checkpoint-every schedule, and stop
 * requests by signal.
 *
 * A checkpoint is collective, so every rank must decide "now" at the same
 * step.  Epoch and step counts are identical on all ranks, so those
 * schedules decide locally.  Clocks are not: with a time interval or auto
 * (an epoch boundary at least TRIB_CKPT_AUTO_SPACING x the last checkpoint's
 * cost after it), rank 0 decides and broadcasts (one small MPI_Bcast per call).  Likewise a signal
 * may reach some ranks only, or at different steps; trib_ckpt_stop_requested_all
 * combines the flags with MPI_MAX so all ranks stop after the same step.
 *
 * The signal handler does nothing but store the signal number in a
 * sig_atomic_t (the only thing a handler may safely do); everything else
 * happens in the epoch loop.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ckpt/internal.h"

/* ------------------------------------------------------------ parsing */

typedef struct {
    const char *word;
    trib_ckpt_every_unit_t unit;
    double seconds; /* multiplier for time units */
} unit_word_t;

static const unit_word_t unit_words[] = {
    {"epoch", TRIB_CKPT_EVERY_EPOCHS, 0},  {"epochs", TRIB_CKPT_EVERY_EPOCHS, 0},
    {"step", TRIB_CKPT_EVERY_STEPS, 0},    {"steps", TRIB_CKPT_EVERY_STEPS, 0},
    {"s", TRIB_CKPT_EVERY_SECONDS, 1},     {"sec", TRIB_CKPT_EVERY_SECONDS, 1},
    {"second", TRIB_CKPT_EVERY_SECONDS, 1}, {"seconds", TRIB_CKPT_EVERY_SECONDS, 1},
    {"m", TRIB_CKPT_EVERY_SECONDS, 60},    {"min", TRIB_CKPT_EVERY_SECONDS, 60},
    {"minute", TRIB_CKPT_EVERY_SECONDS, 60}, {"minutes", TRIB_CKPT_EVERY_SECONDS, 60},
    {"h", TRIB_CKPT_EVERY_SECONDS, 3600},  {"hour", TRIB_CKPT_EVERY_SECONDS, 3600},
    {"hours", TRIB_CKPT_EVERY_SECONDS, 3600},
};

int trib_ckpt_every_parse(const char *text, trib_ckpt_every_t *out)
{
    if (!text || !out)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "checkpoint interval: NULL argument");
    memset(out, 0, sizeof *out);
    while (isspace((unsigned char)*text))
        text++;
    if (strcasecmp(text, "never") == 0 || strcasecmp(text, "none") == 0)
        return TRIB_OK;
    if (strcasecmp(text, "auto") == 0) {
        out->unit = TRIB_CKPT_EVERY_AUTO;
        out->count = 1;
        return TRIB_OK;
    }
    errno = 0;
    char *end;
    double v = strtod(text, &end);
    if (end == text || errno != 0 || !isfinite(v) || v <= 0)
        return trib_errorf(TRIB_ERR_INVALID_ARG,
                           "checkpoint interval '%s': expected a positive number and a unit, "
                           "e.g. '2 epochs', '500 steps', '90s', '15m'", text);
    while (isspace((unsigned char)*end))
        end++;
    size_t n = strlen(end);
    while (n > 0 && isspace((unsigned char)end[n - 1]))
        n--;
    const unit_word_t *u = NULL;
    if (n == 0) {
        u = &unit_words[1]; /* a bare number: epochs */
    } else {
        for (size_t i = 0; i < sizeof unit_words / sizeof unit_words[0]; i++)
            if (strlen(unit_words[i].word) == n && strncasecmp(end, unit_words[i].word, n) == 0)
                u = &unit_words[i];
    }
    if (!u)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "checkpoint interval '%s': unknown unit '%.*s' "
                           "(epochs, steps, s, m, h)", text, (int)n, end);
    out->unit = u->unit;
    if (u->unit == TRIB_CKPT_EVERY_SECONDS) {
        out->seconds = v * u->seconds;
        return TRIB_OK;
    }
    if (v != floor(v) || v > 1e18)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "checkpoint interval '%s': a whole number of %s is needed",
                           text, u->unit == TRIB_CKPT_EVERY_EPOCHS ? "epochs" : "steps");
    out->count = (uint64_t)v;
    return TRIB_OK;
}

/* ------------------------------------------------------------ trigger */

void trib_ckpt_trigger_init(trib_ckpt_trigger_t *t, const trib_ckpt_every_t *every, uint64_t epoch,
                            uint64_t step, double now)
{
    memset(t, 0, sizeof *t);
    if (every)
        t->every = *every;
    trib_ckpt_trigger_taken(t, epoch, step, now);
}

void trib_ckpt_trigger_taken(trib_ckpt_trigger_t *t, uint64_t epoch, uint64_t step, double now)
{
    t->last_epoch = epoch;
    t->last_step = step;
    t->last_time = now;
}

void trib_ckpt_trigger_cost(trib_ckpt_trigger_t *t, double seconds)
{
    if (t)
        t->last_cost = seconds > 0 && isfinite(seconds) ? seconds : 0.0;
}

/* Rank 0's verdict `mine` for every rank. */
static int decide_on_root(MPI_Comm comm, int mine, int *due)
{
    int rank, d;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "checkpoint trigger: MPI_Comm_rank failed");
    d = rank == 0 && mine;
    if (MPI_Bcast(&d, 1, MPI_INT, 0, comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "checkpoint trigger: MPI_Bcast failed");
    *due = d;
    return TRIB_OK;
}

int trib_ckpt_trigger_due(trib_ckpt_trigger_t *t, MPI_Comm comm, uint64_t epoch, uint64_t step, double now,
                          int *due)
{
    if (!t || !due)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_ckpt_trigger_due: NULL argument");
    const trib_ckpt_every_t *e = &t->every;
    switch (e->unit) {
    case TRIB_CKPT_EVERY_NEVER:
        *due = 0;
        return TRIB_OK;
    case TRIB_CKPT_EVERY_EPOCHS:
        *due = epoch >= t->last_epoch + e->count;
        return TRIB_OK;
    case TRIB_CKPT_EVERY_STEPS:
        *due = step >= t->last_step + e->count;
        return TRIB_OK;
    case TRIB_CKPT_EVERY_SECONDS:
        return decide_on_root(comm, now - t->last_time >= e->seconds, due);
    case TRIB_CKPT_EVERY_AUTO:
        return decide_on_root(comm, epoch >= t->last_epoch + 1 &&
                                        now - t->last_time >= TRIB_CKPT_AUTO_SPACING * t->last_cost, due);
    }
    return trib_errorf(TRIB_ERR_INVALID_ARG, "checkpoint trigger: unknown unit %d", (int)e->unit);
}

/* ------------------------------------------------------------ signals */

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    if (stop_signal == 0)
        stop_signal = sig;
}

int trib_ckpt_stop_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0 ||
        sigaction(SIGINT, &sa, NULL) != 0)
        return trib_errorf(TRIB_ERR_INTERNAL, "cannot install SIGTERM/SIGUSR1/SIGINT handlers: %s",
                           strerror(errno));
    return TRIB_OK;
}

int trib_ckpt_stop_requested(void) { return stop_signal; }

volatile sig_atomic_t *trib_ckpt_stop_flag(void) { return &stop_signal; }

void trib_ckpt_stop_clear(void) { stop_signal = 0; }

int trib_ckpt_stop_requested_all(MPI_Comm comm, int *stop)
{
    if (!stop)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_ckpt_stop_requested_all: NULL output");
    int mine = stop_signal, any = 0;
    if (MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "checkpoint: MPI_Allreduce of stop requests failed");
    *stop = any;
    return TRIB_OK;
}
