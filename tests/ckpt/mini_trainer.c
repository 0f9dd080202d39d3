/*
 * mini_trainer.c - a tiny stand-in for trib-train that exercises the whole
 * recovery path with the real library and a real mpirun: checkpoint triggers,
 * SIGTERM/SIGUSR1 -> checkpoint -> exit TRIB_EXIT_REQUEUE, --resume auto with
 * re-partitioning, --fail-at, and trib-run relaunching it.  It is also the
 * reference for how trib-train is meant to use tributary/ckpt.h.
 *
 *   mini_trainer --steps N --rows R [--checkpoint-dir D --checkpoint-every SPEC] [--keep K]
 *                [--resume auto|PATH] [--fail-at STEP:RANK] [--step-delay MS] [--out FILE]
 *
 * The "model": rows x[g] (u64) partitioned by g % ranks, and a replicated
 * vector y[NY] (u64).  A step updates every owned row from y and the step
 * number, then y becomes the allreduce-sum (mod 2^64) of per-row
 * contributions.  Integer arithmetic is exact and order-independent, so the
 * final state is bit-identical for any rank count and any sequence of
 * interruptions and resumes: the tests compare digests with an uninterrupted run.
 */
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/rng.h"
#include "core/timer.h"
#include "tributary/ckpt.h"

#define NY 16

typedef struct {
    uint64_t steps, rows;
    const char *dir, *every, *resume, *out;
    unsigned keep;
    long fail_step;
    int fail_rank;
    int delay_ms;
} cfg_t;

typedef struct {
    uint64_t n, *ids, *x;
    uint64_t y[NY];
    uint64_t step; /* steps completed */
} state_t;

static int rank_, size_;

static void fail(const char *what, int rc)
{
    fprintf(stderr, "mini_trainer (rank %d): %s: %s\n", rank_, what, trib_last_error(rc));
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static void alloc_rows(state_t *s, uint64_t n)
{
    s->n = n;
    s->ids = malloc((n + 1) * sizeof *s->ids);
    s->x = malloc((n + 1) * sizeof *s->x);
    if (!s->ids || !s->x)
        fail("allocation", TRIB_ERR_NOMEM);
}

static void fresh_state(state_t *s, const cfg_t *c)
{
    uint64_t n = 0;
    for (uint64_t g = (uint64_t)rank_; g < c->rows; g += (uint64_t)size_)
        n++;
    alloc_rows(s, n);
    for (uint64_t i = 0; i < n; i++) {
        s->ids[i] = (uint64_t)rank_ + i * (uint64_t)size_;
        s->x[i] = trib_hash64(42, s->ids[i]);
    }
    for (int j = 0; j < NY; j++)
        s->y[j] = (uint64_t)j;
    s->step = 0;
}

static void do_step(state_t *s)
{
    uint64_t contrib[NY] = {0};
    for (uint64_t i = 0; i < s->n; i++) {
        uint64_t g = s->ids[i];
        s->x[i] = trib_hash64(s->x[i] ^ s->y[g % NY], s->step);
        contrib[g % NY] += s->x[i] >> 3;
    }
    if (MPI_Allreduce(contrib, s->y, NY, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
        fail("allreduce", TRIB_ERR_MPI);
    s->step++;
}

static const char *config_keys[] = {"rows"};

static void write_checkpoint(const cfg_t *c, const state_t *s)
{
    trib_ckpt_write_opts_t o = TRIB_CKPT_WRITE_OPTS_INIT;
    o.fingerprint = "mini-trainer";
    o.keep = c->keep;
    trib_ckpt_writer_t *w;
    int rc = trib_ckpt_begin(MPI_COMM_WORLD, c->dir, s->step, &o, &w);
    if (rc != TRIB_OK)
        fail("checkpoint begin", rc);
    trib_ckpt_write_array(w, "ids", TRIB_CKPT_U64, s->n, 0, s->ids);
    trib_ckpt_write_array(w, "x", TRIB_CKPT_U64, s->n, 0, s->x);
    if (rank_ == 0) {
        char rows[32];
        snprintf(rows, sizeof rows, "%llu", (unsigned long long)c->rows);
        trib_ckpt_set_config(w, "rows", rows);
        trib_ckpt_set_int(w, "step", (int64_t)s->step);
        trib_ckpt_write_global_array(w, "y", TRIB_CKPT_U64, NY, 0, s->y);
    }
    rc = trib_ckpt_commit(w, NULL, 0);
    if (rc != TRIB_OK)
        fail("checkpoint commit", rc);
}

/* Reads every part and keeps the rows this rank owns now (g % size == rank). */
static int resume_state(const cfg_t *c, state_t *s)
{
    char rows[32], path[4096];
    snprintf(rows, sizeof rows, "%llu", (unsigned long long)c->rows);
    const char *values[] = {rows};
    trib_ckpt_expect_t ex = TRIB_CKPT_EXPECT_INIT;
    ex.fingerprint = "mini-trainer";
    ex.config_keys = config_keys;
    ex.config_values = values;
    ex.nconfig = 1;
    uint64_t seq;
    int rc = trib_ckpt_resolve_all(MPI_COMM_WORLD, c->resume, c->dir, &ex, path, sizeof path, &seq);
    if (rc == TRIB_ERR_NOT_FOUND && strcmp(c->resume, "auto") == 0)
        return 0; /* nothing to resume: fresh start */
    if (rc != TRIB_OK)
        fail("resume", rc);
    trib_ckpt_reader_t *r;
    if ((rc = trib_ckpt_open(path, &ex, 0, &r)) != TRIB_OK)
        fail("open checkpoint", rc);
    fresh_state(s, c); /* this rank's ids and row storage under the current rank count */
    int64_t step;
    if ((rc = trib_ckpt_get_int(r, "step", &step)) != TRIB_OK ||
        (rc = trib_ckpt_read_array(r, TRIB_CKPT_GLOBAL, "y", TRIB_CKPT_U64, s->y, NY)) != TRIB_OK)
        fail("read globals", rc);
    s->step = (uint64_t)step;
    uint64_t found = 0;
    for (int p = 0; p < trib_ckpt_nparts(r); p++) {
        trib_ckpt_array_info_t info;
        if ((rc = trib_ckpt_array_info(r, p, "ids", &info)) != TRIB_OK)
            fail("part info", rc);
        uint64_t *ids = malloc((info.rows + 1) * sizeof *ids), *x = malloc((info.rows + 1) * sizeof *x);
        if (!ids || !x)
            fail("allocation", TRIB_ERR_NOMEM);
        if ((rc = trib_ckpt_read_array(r, p, "ids", TRIB_CKPT_U64, ids, info.rows)) != TRIB_OK ||
            (rc = trib_ckpt_read_array(r, p, "x", TRIB_CKPT_U64, x, info.rows)) != TRIB_OK)
            fail("read part", rc);
        for (size_t i = 0; i < info.rows; i++)
            if (ids[i] % (uint64_t)size_ == (uint64_t)rank_) {
                s->x[ids[i] / (uint64_t)size_] = x[i]; /* local index of g */
                found++;
            }
        free(ids);
        free(x);
    }
    if (found != s->n)
        fail("re-partitioning: rows missing in the checkpoint", TRIB_ERR_CORRUPT);
    if (rank_ == 0)
        fprintf(stderr, "mini_trainer: resumed from %s (step %lld, written by %d ranks) on %d ranks\n", path,
                (long long)step, trib_ckpt_nparts(r), size_);
    trib_ckpt_close(r);
    return 1;
}

/* An order-independent digest of the whole model. */
static void write_digest(const cfg_t *c, const state_t *s)
{
    uint64_t d = 0, all = 0;
    for (uint64_t i = 0; i < s->n; i++)
        d += trib_hash64(s->ids[i], s->x[i]);
    MPI_Allreduce(&d, &all, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    for (int j = 0; j < NY; j++)
        all = trib_hash64(all, s->y[j]);
    if (rank_ == 0 && c->out) {
        FILE *f = fopen(c->out, "w");
        if (!f || fprintf(f, "steps %llu digest %016llx\n", (unsigned long long)s->step, (unsigned long long)all) < 0 ||
            fclose(f) != 0)
            fail("writing --out", TRIB_ERR_IO);
    }
}

static void parse(int argc, char **argv, cfg_t *c)
{
    static const struct option opts[] = {
        {"steps", required_argument, 0, 's'},          {"rows", required_argument, 0, 'r'},
        {"checkpoint-dir", required_argument, 0, 'd'}, {"checkpoint-every", required_argument, 0, 'e'},
        {"keep", required_argument, 0, 'k'},           {"resume", required_argument, 0, 'R'},
        {"fail-at", required_argument, 0, 'f'},        {"step-delay", required_argument, 0, 'w'},
        {"out", required_argument, 0, 'o'},            {0, 0, 0, 0}};
    *c = (cfg_t){20, 100, NULL, "never", NULL, NULL, 3, -1, -1, 0};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 's': c->steps = strtoull(optarg, NULL, 10); break;
        case 'r': c->rows = strtoull(optarg, NULL, 10); break;
        case 'd': c->dir = optarg; break;
        case 'e': c->every = optarg; break;
        case 'k': c->keep = (unsigned)atoi(optarg); break;
        case 'R': c->resume = optarg; break;
        case 'f':
            if (sscanf(optarg, "%ld:%d", &c->fail_step, &c->fail_rank) != 2) {
                if (rank_ == 0)
                    fprintf(stderr, "mini_trainer: --fail-at STEP:RANK\n");
                exit(TRIB_EXIT_USAGE);
            }
            break;
        case 'w': c->delay_ms = atoi(optarg); break;
        case 'o': c->out = optarg; break;
        default: exit(TRIB_EXIT_USAGE);
        }
    }
    if ((c->resume || strcmp(c->every, "never") != 0) && !c->dir) {
        if (rank_ == 0)
            fprintf(stderr, "mini_trainer: --resume and --checkpoint-every need --checkpoint-dir\n");
        exit(TRIB_EXIT_USAGE);
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    trib_log_set_rank(rank_);
    cfg_t c;
    parse(argc, argv, &c);
    trib_ckpt_every_t every;
    int rc = trib_ckpt_every_parse(c.every, &every);
    if (rc != TRIB_OK) {
        if (rank_ == 0)
            fprintf(stderr, "mini_trainer: %s\n", trib_last_error(rc));
        MPI_Finalize();
        return TRIB_EXIT_USAGE;
    }
    if ((rc = trib_ckpt_stop_signals_install()) != TRIB_OK)
        fail("signals", rc);
    state_t s;
    int resumed = c.resume && resume_state(&c, &s);
    if (!resumed)
        fresh_state(&s, &c);
    trib_ckpt_trigger_t trig;
    trib_ckpt_trigger_init(&trig, &every, 0, s.step, trib_now());
    while (s.step < c.steps) {
        /* Only in a run not started with --resume, so a relaunch passes the same point. */
        if (!c.resume && c.fail_rank == rank_ && (long)s.step == c.fail_step)
            _exit(13); /* a crash: no cleanup, no checkpoint */
        do_step(&s);
        if (c.delay_ms > 0)
            nanosleep(&(struct timespec){c.delay_ms / 1000, (long)(c.delay_ms % 1000) * 1000000L}, NULL);
        int due = 0, stop = 0;
        if ((rc = trib_ckpt_stop_requested_all(MPI_COMM_WORLD, &stop)) != TRIB_OK)
            fail("stop request", rc);
        if (c.dir && (rc = trib_ckpt_trigger_due(&trig, MPI_COMM_WORLD, 0, s.step, trib_now(), &due)) != TRIB_OK)
            fail("trigger", rc);
        if (c.dir && (due || stop || s.step == c.steps)) {
            write_checkpoint(&c, &s);
            trib_ckpt_trigger_taken(&trig, 0, s.step, trib_now());
        }
        if (stop) {
            if (rank_ == 0)
                fprintf(stderr, "mini_trainer: signal %d: checkpointed at step %llu, exiting %d (requeue)\n", stop,
                        (unsigned long long)s.step, TRIB_EXIT_REQUEUE);
            MPI_Finalize();
            return TRIB_EXIT_REQUEUE;
        }
    }
    write_digest(&c, &s);
    free(s.ids);
    free(s.x);
    MPI_Finalize();
    return 0;
}
