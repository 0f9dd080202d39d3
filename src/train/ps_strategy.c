/*
 * ps_strategy.c - the parameter-server training strategy: roles, rounds as
 * workers and servers run them, snapshots, settling, and the figures.
 *
 * How it plugs into the epoch loop (loop.c, written once for all modes): the
 * loop runs `rounds_per_epoch` rounds with an agreement among all ranks after
 * each, which is exactly what an asynchronous mode must not have between
 * mini-batches.  So in ps mode one loop round stands for one epoch:
 * trib_ps_create keeps the mini-batch count B (ceil(max worker ratings /
 * sync_every), the same rule as sync mode's rounds) for itself and sets the
 * loop's rounds_per_epoch to 1.  But round e is not a barrier at the end of
 * every worker's epoch e: it lasts until the SLOWEST worker finished epoch e.
 * Workers run free meanwhile, each through its own epochs (its own position
 * w_epoch/w_batch, its own visiting order per epoch), so under async a fast
 * worker may be epochs ahead and under ssp up to s + 1 clocks; bsp holds
 * every worker within one clock.  The run ends when every worker did
 * cfg.epochs epochs.
 *
 * Worker, one mini-batch (a clock every `clock_every` of them and at an
 * epoch's end; clocks run on across epochs and rounds):
 *
 *     rows  = sorted distinct items of slice b of this worker's order of its epoch
 *     pull the rows not fetched during the current clock    (waits per ssp/bsp)
 *       (or finish the pull started during the previous mini-batch)
 *     start the next mini-batch's pull (for the next clock when this one ends a
 *       clock: async, bsp; ssp only within a clock)
 *     before = rows' values;  SGD on the slice (trib_mf_sgd_run, users local)
 *     [straggler: sleep FACTOR x the SGD time]
 *     push after - before for the rows (no wait), END_CLOCK at a clock's last batch
 *
 * Rows already fetched during the current clock are not pulled again: the
 * cached copy is the server's value plus this worker's own updates (read my
 * writes), and in bsp the server's value cannot have changed within a clock.
 * A pull started before the previous push was answered without it: the
 * worker adds scale x its own delta to the rows both touch (add_own_push).
 * Deltas carry factors, bias and the AdaGrad sum; servers add scale x delta
 * with scale = 1/W for --sync-method average (the default, as in sync mode)
 * and 1 for delta-sum, so with bsp and clock_every 1 the job computes what
 * sync mode computes with sync_every = the batch size (up to rounding).
 * Averaging matters: summing W workers' steps on a popular item multiplies
 * its step size by W and diverges on small data where averaging does not.
 *
 * Round e (ps_round):
 *     server  trib_ps_server_serve_round: answers and applies; when every worker
 *             finished epoch e (min clock = (e+1) x clocks_per_epoch) it keeps a
 *             snapshot of its rows and sends every worker a NOTICE; it does the
 *             same on a stop request or when any worker paused
 *     worker  mini-batches until a NOTICE, a reply flagged PAUSING, or its own
 *             stop request (checked between mini-batches: at most one more
 *             mini-batch runs); then PAUSE to every server and wait for every
 *             server's NOTICE.  A finished worker waits for the NOTICE.
 *     all     one MPI_Allreduce of the figures, the stop requests and whether
 *             the epoch is complete on every server
 * When every worker finishes an epoch it keeps a copy of its user rows.
 *
 * Settle (before evaluation and before the model file): each worker puts its
 * user rows after epoch e = next_epoch - 1 into the model (its training state
 * is set aside and comes back at the next round) and pulls the rows its train
 * and test ratings use, worker 0 (which writes the model file) every row;
 * servers answer at once from the snapshot of epoch e.  So an epoch's line,
 * early stopping, the model file and checkpoints all see one consistent model:
 * the servers' rows when the slowest worker finished epoch e and each
 * worker's users at its own end of epoch e.  In bsp that is exactly the state
 * an epoch barrier would have produced (the snapshot is taken before any
 * push of a later clock is applied), so bsp results do not depend on how far
 * the others ran ahead.
 *
 * Stop requests (t->stop_flag) end a round early: the round is incomplete,
 * the position stays at e (t->round_incomplete, loop.c), and the model in
 * place is the one after epoch e - 1 (servers' snapshot e - 1, workers' user
 * copies): the state a checkpoint then holds.  The work of the interrupted
 * round is redone after a resume; a bsp run stopped and resumed is still
 * bit-identical to an uninterrupted one (tests/ps, "sigterm").  When the
 * slowest worker finished epoch e before the stop took effect, the round is
 * complete and the loop evaluates it as usual, then stops.
 *
 * Figures: after each round every rank contributes a slot (worker: ratings it
 * updated in the round, wall time, waiting time, epochs done; server: pulls,
 * deferred pulls, violations, max staleness, epoch complete) to the one
 * MPI_Allreduce, so every rank ends the round with the same figures and the
 * same stop verdict.
 *
 * Work sharing (--ps-balance dynamic, the default under async and ssp).  Above, a worker trains only
 * its own users, so a straggler's users are trained at the straggler's pace whatever the others
 * do, and once the fast workers are done the items drift towards the straggler's users.  With
 * work sharing the table on the servers is items then users (rows n_items + u; pushes to user
 * rows are applied with scale 1, options.scaled_rows), every worker holds every worker's
 * training ratings (gather_ratings; sorted by the cells of a grid over all of them, the same on
 * every worker), and an epoch is C = W x B fixed slices of them (chunks) visited in a fresh seeded
 * sequence, each chunk's cell segments in a seeded order and shuffled within (chunk_order: a
 * function of seed, epoch and chunk only, computed by whoever trains the chunk):
 *
 *     worker: claim a chunk from server 0, reporting the one it finished (its pushes went
 *             before the claim on the same tag, so server 0 has applied them)
 *             train it: pull its items and users, SGD, push both (END_CLOCK: one clock per chunk)
 *             two deep: the claim sent before a chunk's SGD is answered during it and names
 *             the chunk after the next (claim_start/_finish), the next chunk's rows travel
 *             during the SGD too (a pull for the next clock, as above); one round trip to
 *             server 0 per chunk, none waited for in the steady state
 *     server 0: hands the chunks out in order; a round is complete when all C were reported,
 *             then NOTICEs as above; near the end it refuses a worker whose time per chunk is
 *             longer than the others need for what is left (ps_server.c, should_take), and
 *             it gives a worker far slower than the others no second chunk while it holds one
 *             (may_queue: a chunk waiting behind a slow one holds back the round's end); told
 *             "not now", the worker claims again only to report its chunk (dyn_claim)
 *     servers: snapshot at the round's end (every worker paused after its last push)
 *
 * Under ssp every chunk is one clock of the job: pulls and pushes name their chunk, and a server
 * answers the pull for the chunk handed out g-th once it holds the pushes of every chunk before g - s
 * (ps_server.c); the pull ahead of the next chunk may then wait.
 *
 * A worker's user rows in the model (evaluation, model file, checkpoints) are pulled from the
 * snapshot when settling, so checkpoints hold the same arrays as without work sharing and a run
 * may resume with either balance; ps_reset and the start hand the workers' user rows to the
 * servers (share_users, collective).  The epoch number is the loop's round: a round is exactly
 * one pass, so the fast worker shows more than one "epoch done" per round and a straggler less.
 *
 * Checkpoints (src/train/checkpoint.c) are written at round boundaries, so
 * every checkpoint position is (epoch, 0).  The resumable state is only
 * values: every server's snapshot of the epoch before the position (rows
 * [first, end), factors, biases and AdaGrad sums; trib_ps_server_items), each
 * worker's user rows after that epoch (in the model while settled), and the
 * position.  Each server writes its rows with their item ids as its part of
 * the checkpoint, each worker its users; nothing is gathered on rank 0.
 * Clocks, pending bsp pushes, later snapshots and the workers' cached rows
 * are not saved.  Restoring: every rank assembles the item block from the
 * servers' parts into t->model.items, then trib_trainer_set_position(epoch, 0)
 * calls ps_reset, which loads each server's rows from it (whatever the new
 * server count), restarts every clock at epoch x clocks_per_epoch and makes
 * the workers pull every row again (tests/fault/ps_resume_bsp.sh, tests/ps
 * "resume" and "sigterm").
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/rng.h"
#include "core/timer.h"
#include "tributary/ps.h"
#include "train/internal.h"
#include "train/ps_wait.h"

enum { F_RATINGS, F_SECONDS, F_WAIT, F_PULLS, F_DEFERRED, F_VIOL, F_MAXSTALE, F_EPOCHS, F_COMPLETE, F_BATCHES, F_N };

typedef struct {
    int64_t epoch; /* this worker's user rows after this epoch (-1: the start) */
    float *values;
} user_snapshot_t;

typedef struct {
    trib_ps_options_t o;
    int server;                 /* 1 on server ranks */
    trib_ps_bell_t *bell;       /* doorbells (train/ps_wait.h; NULL: none) */
    trib_ps_server_t *srv;
    trib_ps_client_t *cli;
    uint64_t batches, clock_every, clocks_per_epoch;
    int hold;                   /* this worker is the holding straggler and was not released yet (work sharing:
                                   the rounds it still sits out) */
    int raised;                 /* cfg.ps_raise_signal was raised */
    /* worker position: the next mini-batch is w_batch of epoch w_epoch (its own, not the loop's) */
    unsigned w_epoch;
    uint64_t w_batch;
    uint32_t *order;            /* visiting order of epoch order_epoch - 1 (0: none yet) */
    unsigned order_epoch;
    /* the next mini-batch's pull, started before this one's SGD (have_next) */
    int have_next;
    size_t n_next, m_next;
    uint32_t *rows_next, *need_next;
    size_t n_cur;               /* rows of the mini-batch in s->rows (and deltas in s->delta) */
    /* snapshots for evaluation, the model file and checkpoints */
    user_snapshot_t *usnap;
    size_t n_usnap, cap_usnap;
    float *spare_usnap;         /* a dropped snapshot's values, for the next one (NULL: none) */
    float *bk_users, *bk_items; /* the training state while an epoch's snapshot is in the model (swapped) */
    int swapped;
    /* worker scratch */
    uint32_t *rows, *need, *all_rows, *settle_rows;
    size_t n_settle_rows;
    uint32_t *mark;             /* per item: generation that last listed it */
    uint32_t gen;
    uint32_t *titem;            /* static balance: the item of each training rating (NULL: read the ratings) */
    int64_t *fetched;           /* per item: clock during which the cached copy was pulled */
    float *delta;               /* per listed row: k + 2 floats (before, then after - before) */
    /* figures */
    double *slots;              /* P * F_N + 1 */
    double *w_rps, *w_wait, *w_epochs, *w_batches;
    trib_ps_epoch_stats_t last;
    int have_last;
    uint64_t violations;
    /* per mini-batch time breakdown of this round (logged at info level) */
    double p_sgd, p_pack, p_pull, p_push, p_claim;
    uint64_t p_batches;
    /* work sharing (dynamic balance): the table is items then users, all on the servers */
    int dyn;
    size_t n_items, n_users;    /* rows of the table: items [0, n_items), users [n_items, n_items + n_users) */
    trib_mf_rating_t *all;      /* every worker's training ratings (global user rows), the same on all workers */
    size_t n_all;
    trib_mf_grid_t dgrid;       /* blocked order: the cells of `all` (all sorted by them) */
    uint64_t chunks;            /* chunks per epoch: C fixed slices of `all` */
    uint32_t *perm;             /* the epoch's chunk sequence (perm_epoch - 1; 0: none yet) */
    unsigned perm_epoch;
    uint32_t *order_next;       /* the prefetched chunk's visiting order (s->order: the current one's) */
    size_t len_cur, len_next;   /* their lengths */
    uint32_t *segs;             /* scratch: a chunk's cell segments */
    trib_mf_block_t table;      /* the worker's cache of the table */
    trib_mf_model_t dmodel;     /* views of the table's items and users, for SGD */
    uint32_t *umark, ugen;      /* per user: generation that last listed it */
    uint32_t *ulist;            /* scratch: a chunk's users */
    uint32_t **crows;           /* per chunk: its rows once found (NULL: not kept), list_chunk_rows */
    size_t *ncrows, crows_kept; /* their lengths; entries kept in all */
    double dyn_trained;         /* ratings this worker trained in the run */
    int not_now;                /* server 0 answered "not now" (-2) in this round: claim only to report a chunk */
    trib_mf_block_t items_view; /* server: its snapshot's item rows (checkpoints) */
} ps_state_t;

static int is_ps(const trib_trainer_t *t) { return t->strategy == &trib_strategy_ps; }

/* ------------------------------------------------------------------ roles */

int trib_ps_split_roles(trib_trainer_t *t)
{
    const trib_train_config_t *c = &t->cfg;
    int S = (int)c->ps_servers, P = t->size;
    int rc = TRIB_OK;
    if (S >= P)
        rc = trib_errorf(TRIB_ERR_INVALID_ARG, "--servers %d with %d ranks: the parameter server needs at least one "
                         "worker (S < P; servers are the last S ranks)", S, P);
    else if (c->ps_straggler_rank >= P - S)
        rc = trib_errorf(TRIB_ERR_INVALID_ARG, "--straggler %d: rank %d is a server (workers are ranks 0..%d)",
                         c->ps_straggler_rank, c->ps_straggler_rank, P - S - 1);
    if (rc != TRIB_OK)
        return rc; /* the same verdict on every rank: all inputs are global */
    int server = trib_ps_is_server(t->rank, P, S);
    if (MPI_Comm_split(t->comm, server ? MPI_UNDEFINED : 0, t->rank, &t->data_comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps: MPI_Comm_split of the workers failed");
    t->data_size = P - S;
    return TRIB_OK;
}

/* ------------------------------------------------------------------ create / destroy */

/* This node's ranks (*ranks) and how many of them are workers (*workers).  Collective. */
static int node_ranks(trib_trainer_t *t, int *ranks, int *workers)
{
    MPI_Comm node;
    int W = t->size - (int)t->cfg.ps_servers, mine[2] = {1, t->rank < W}, sum[2] = {1, 0};
    if (MPI_Comm_split_type(t->comm, MPI_COMM_TYPE_SHARED, t->rank, MPI_INFO_NULL, &node) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps: MPI_Comm_split_type failed");
    int mrc = MPI_Allreduce(mine, sum, 2, MPI_INT, MPI_SUM, node);
    MPI_Comm_free(&node);
    if (mrc != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps: MPI_Allreduce of the node's ranks failed");
    *ranks = sum[0];
    *workers = sum[1];
    return TRIB_OK;
}

/*
 * How ranks wait for messages (trib_ps_options_t.idle_sleep, train/ps_wait.h).
 * Open MPI's blocking calls poll; with more ranks than cores on a node an idle
 * server or a worker waiting for a deferred pull then takes CPU time from the
 * workers that share its core (sched_yield gives little back under CFS).  So,
 * when this node runs more ranks than it has cores: polling with sleeps, each
 * sleep on a doorbell that the sender of the awaited message rings (a waiting
 * rank takes no core and reacts within a wake-up); blocking calls otherwise.
 * TRIB_PS_IDLE=block|sleep|bell overrides (sleep: no doorbells; benchmarks).
 * Collective: the doorbells exist when any rank waits on them.
 */
static int choose_idle_sleep(trib_trainer_t *t, ps_state_t *s, int local)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("TRIB_PS_IDLE");
    int bell = 1, bad = env && *env && strcmp(env, "block") && strcmp(env, "sleep") && strcmp(env, "bell");
    if (env && !strcmp(env, "block"))
        s->o.idle_sleep = 0;
    else if (env && (!strcmp(env, "sleep") || !strcmp(env, "bell")))
        s->o.idle_sleep = 1;
    else
        s->o.idle_sleep = cores > 0 && local > cores;
    if (env && !strcmp(env, "sleep"))
        bell = 0;
    int mine[2] = {s->o.idle_sleep && bell, bad}, any[2] = {0, 0};
    if (MPI_Allreduce(mine, any, 2, MPI_INT, MPI_MAX, t->comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps: MPI_Allreduce of the waiting mode failed");
    if (any[1]) /* every rank returns the error: none waits in a collective for another */
        return trib_errorf(TRIB_ERR_INVALID_ARG, "TRIB_PS_IDLE=%s%s: expected block, sleep or bell",
                           bad ? env : "...", bad ? "" : " on another rank");
    int rc = any[0] ? trib_ps_bell_create(t->comm, &s->bell) : TRIB_OK;
    if (t->rank == 0)
        trib_log(TRIB_LOG_INFO, "ps: %d ranks on this node, %ld cores: waiting %s", local, cores,
                 !s->o.idle_sleep ? "in blocking MPI calls"
                 : s->bell       ? "by sleeping on doorbells that the senders ring"
                                 : "by polling with sleeps");
    return rc;
}

static void ps_destroy(void *state)
{
    ps_state_t *s = state;
    if (!s)
        return;
    trib_ps_server_destroy(s->srv);
    trib_ps_client_destroy(s->cli);
    trib_ps_bell_destroy(s->bell);
    for (size_t i = 0; i < s->n_usnap; i++)
        free(s->usnap[i].values);
    free(s->usnap);
    free(s->spare_usnap);
    free(s->bk_users);
    free(s->bk_items);
    free(s->order);
    free(s->rows_next);
    free(s->need_next);
    free(s->rows);
    free(s->need);
    free(s->all_rows);
    free(s->settle_rows);
    free(s->mark);
    free(s->titem);
    free(s->fetched);
    free(s->delta);
    free(s->slots);
    free(s->w_rps);
    free(s->w_wait);
    free(s->w_epochs);
    free(s->w_batches);
    free(s->all);
    free(s->umark);
    free(s->ulist);
    for (uint64_t c = 0; s->crows && c < s->chunks; c++)
        free(s->crows[c]);
    free(s->crows);
    free(s->ncrows);
    free(s->perm);
    free(s->order_next);
    free(s->segs);
    trib_mf_grid_destroy(&s->dgrid);
    trib_mf_block_destroy(&s->table);
    free(s);
}

/* Puts the n ids listed in out (those marked gen in mark[0..n_ids)) in ascending order. */
static void sort_listed(const uint32_t *mark, uint32_t gen, size_t n_ids, uint32_t *out, size_t n)
{
    if (n > n_ids / 8) { /* many rows: one pass over the marks is cheaper than sorting */
        n = 0;
        for (size_t it = 0; it < n_ids; it++)
            if (mark[it] == gen)
                out[n++] = (uint32_t)it;
    } else {
        for (size_t gap = n / 2; gap > 0; gap /= 2) /* shell sort: few rows, no allocation */
            for (size_t i = gap; i < n; i++) {
                uint32_t v = out[i];
                size_t j = i;
                for (; j >= gap && out[j - gap] > v; j -= gap)
                    out[j] = out[j - gap];
                out[j] = v;
            }
    }
}

/* A fresh generation of the item marks. */
static void next_gen(ps_state_t *s)
{
    if (++s->gen == 0) {
        memset(s->mark, 0, s->n_items * sizeof *s->mark);
        s->gen = 1;
    }
}

/* Sorted distinct items of ratings[idx[i]] (idx NULL: i), for i in [begin, end); returns the count. */
static size_t list_rows(ps_state_t *s, const trib_mf_rating_t *r, const uint32_t *idx, size_t begin, size_t end,
                        uint32_t *out)
{
    size_t n = 0;
    next_gen(s);
    for (size_t i = begin; i < end; i++) {
        uint32_t it = r[idx ? idx[i] : i].item;
        if (s->mark[it] != s->gen) {
            s->mark[it] = s->gen;
            out[n++] = it;
        }
    }
    sort_listed(s->mark, s->gen, s->n_items, out, n);
    return n;
}

/*
 * Static balance: the item of each training rating, in their order (the mini-batches list their rows
 * through the shuffled order: random reads of 4 bytes within this array instead of 12-byte ratings
 * spread over three times the memory).  Out of memory: NULL, the ratings are read.
 */
static void keep_rating_items(const trib_trainer_t *t, ps_state_t *s)
{
    s->titem = malloc((t->n_train + 1) * sizeof *s->titem);
    for (size_t i = 0; s->titem && i < t->n_train; i++)
        s->titem[i] = t->train[i].item;
}

/* The sorted distinct items of positions [begin, end) of the epoch's order (as list_rows). */
static size_t list_batch_rows(const trib_trainer_t *t, ps_state_t *s, size_t begin, size_t end, uint32_t *out)
{
    if (!s->titem)
        return list_rows(s, t->train, s->order, begin, end, out);
    size_t n = 0;
    const uint32_t *ti = s->titem, *ord = s->order;
    uint32_t gen, *mark = s->mark;
    next_gen(s);
    gen = s->gen;
    if (end - begin >= s->n_items / 8) { /* marks only (no branch), then one pass over them */
        for (size_t i = begin; i < end; i++)
            mark[ti[ord[i]]] = gen;
        for (size_t it = 0; it < s->n_items; it++)
            if (mark[it] == gen)
                out[n++] = (uint32_t)it;
        return n;
    }
    for (size_t i = begin; i < end; i++) {
        uint32_t it = ti[ord[i]];
        if (mark[it] != gen) {
            mark[it] = gen;
            out[n++] = it;
        }
    }
    sort_listed(mark, gen, s->n_items, out, n);
    return n;
}

/* Work sharing: ratings [*b, *e) of s->all are chunk c (of s->chunks fixed slices). */
static void chunk_bounds(const ps_state_t *s, uint64_t c, size_t *b, size_t *e)
{
    __extension__ typedef unsigned __int128 u128_t;
    *b = (size_t)((u128_t)s->n_all * c / s->chunks);
    *e = (size_t)((u128_t)s->n_all * (c + 1) / s->chunks);
}

/* Work sharing: the table rows of chunk c: its items, then its users (n_items + user).  The set does
 * not depend on the visiting order, so the slice is read in place, front to back, once. */
static size_t find_chunk_rows(ps_state_t *s, uint64_t c, uint32_t *out)
{
    size_t begin, end, n = 0, m = 0;
    chunk_bounds(s, c, &begin, &end);
    next_gen(s);
    if (++s->ugen == 0) {
        memset(s->umark, 0, s->n_users * sizeof *s->umark);
        s->ugen = 1;
    }
    uint32_t *u = s->ulist;
    for (size_t i = begin; i < end; i++) {
        uint32_t it = s->all[i].item, user = s->all[i].user;
        if (s->mark[it] != s->gen) {
            s->mark[it] = s->gen;
            out[n++] = it;
        }
        if (s->umark[user] != s->ugen) {
            s->umark[user] = s->ugen;
            u[m++] = user;
        }
    }
    sort_listed(s->mark, s->gen, s->n_items, out, n);
    sort_listed(s->umark, s->ugen, s->n_users, u, m);
    for (size_t i = 0; i < m; i++)
        out[n + i] = u[i] + (uint32_t)s->n_items;
    return n + m;
}

/*
 * The rows of chunk c into out (as find_chunk_rows).  A chunk is a fixed slice, so its rows are found
 * once and kept while the kept lists stay within one entry per rating of `all` (the lists hold at
 * most two per rating: 8 bytes against the 12 of the rating itself); beyond that they are found again.
 */
static size_t list_chunk_rows(ps_state_t *s, uint64_t c, uint32_t *out)
{
    if (s->crows[c]) {
        memcpy(out, s->crows[c], s->ncrows[c] * sizeof *out);
        return s->ncrows[c];
    }
    size_t n = find_chunk_rows(s, c, out);
    if (s->crows_kept + n <= s->n_all && (s->crows[c] = malloc((n + 1) * sizeof *out)) != NULL) {
        memcpy(s->crows[c], out, n * sizeof *out);
        s->ncrows[c] = n;
        s->crows_kept += n;
    }
    return n;
}

#define TAG_CHUNKS UINT64_C(0x70736368756e6b73) /* "pschunks": the chunk sequences and their orders */

/*
 * Work sharing: every worker gets every worker's training ratings, users as global rows (collective
 * over the workers), then the blocked order's grid of them (the same on every worker: the grid
 * orders the ratings by their values, not by where they came from).
 */
static int gather_ratings(trib_trainer_t *t, ps_state_t *s)
{
    int W = s->o.n_workers, rc = TRIB_OK;
    int64_t mine = (int64_t)t->n_train;
    int64_t *counts = calloc((size_t)W, sizeof *counts);
    int *cnt = calloc((size_t)W, sizeof *cnt), *dsp = calloc((size_t)W, sizeof *dsp);
    if (!counts || !cnt || !dsp)
        rc = trib_errorf(TRIB_ERR_NOMEM, "ps worker: out of memory");
    if (MPI_Allgather(&mine, 1, MPI_INT64_T, counts ? counts : &mine, 1, MPI_INT64_T, t->data_comm) != MPI_SUCCESS)
        rc = trib_errorf(TRIB_ERR_MPI, "ps: MPI_Allgather of the rating counts failed");
    uint64_t total = 0;
    for (int w = 0; rc == TRIB_OK && w < W; w++) {
        dsp[w] = (int)total;
        cnt[w] = (int)counts[w];
        total += (uint64_t)counts[w];
    }
    if (rc == TRIB_OK && total >= (uint64_t)INT32_MAX)
        rc = trib_errorf(TRIB_ERR_INVALID_ARG, "--ps-balance dynamic: %llu training ratings (every worker holds them "
                         "all; at most %d): use --ps-balance static", (unsigned long long)total, INT32_MAX - 1);
    if (rc == TRIB_OK && !(s->all = malloc((size_t)(total + 1) * sizeof *s->all)))
        rc = trib_errorf(TRIB_ERR_NOMEM, "--ps-balance dynamic: every worker holds all %llu training ratings (%.1f "
                         "MB): out of memory (use --ps-balance static)", (unsigned long long)total,
                         (double)total * sizeof *s->all / 1e6);
    trib_mf_rating_t *mine_g = rc == TRIB_OK ? malloc((t->n_train + 1) * sizeof *mine_g) : NULL;
    if (rc == TRIB_OK && !mine_g)
        rc = trib_errorf(TRIB_ERR_NOMEM, "ps worker: out of memory");
    rc = trib_train_agree(rc, t->data_comm);
    MPI_Datatype rt = MPI_DATATYPE_NULL;
    if (rc == TRIB_OK && (MPI_Type_contiguous((int)sizeof(trib_mf_rating_t), MPI_BYTE, &rt) != MPI_SUCCESS ||
                          MPI_Type_commit(&rt) != MPI_SUCCESS))
        rc = trib_errorf(TRIB_ERR_MPI, "ps: MPI_Type_contiguous failed");
    if (rc == TRIB_OK) {
        for (size_t i = 0; i < t->n_train; i++) {
            mine_g[i] = t->train[i];
            mine_g[i].user += t->user_first;
        }
        if (MPI_Allgatherv(mine_g, (int)t->n_train, rt, s->all, cnt, dsp, rt, t->data_comm) != MPI_SUCCESS)
            rc = trib_errorf(TRIB_ERR_MPI, "ps: MPI_Allgatherv of the training ratings failed");
        s->n_all = (size_t)total;
    }
    if (rt != MPI_DATATYPE_NULL)
        MPI_Type_free(&rt);
    free(mine_g);
    free(counts);
    free(cnt);
    free(dsp);
    if (rc == TRIB_OK && t->cfg.order == TRIB_MF_ORDER_BLOCKED) {
        rc = trib_mf_grid_create(&s->dgrid, s->all, s->n_all, s->n_users, s->n_items, s->o.k, 0,
                                 TRIB_MF_BANDS_LARGER);
    } else if (rc == TRIB_OK && s->n_all > 1) { /* shuffled order: chunks are random, fixed sets */
        uint32_t *idx = malloc(s->n_all * sizeof *idx);
        trib_mf_rating_t *mixed = malloc(s->n_all * sizeof *mixed);
        if (!idx || !mixed)
            rc = trib_errorf(TRIB_ERR_NOMEM, "ps worker: out of memory");
        if (rc == TRIB_OK) {
            for (size_t i = 0; i < s->n_all; i++)
                idx[i] = (uint32_t)i;
            trib_rng_t rng;
            trib_rng_init(&rng, t->cfg.seed, TAG_CHUNKS);
            trib_rng_shuffle_u32(&rng, idx, s->n_all);
            for (size_t i = 0; i < s->n_all; i++)
                mixed[i] = s->all[idx[i]];
            free(s->all);
            s->all = mixed;
            mixed = NULL;
        }
        free(idx);
        free(mixed);
    }
    return rc;
}

/* A block whose rows are rows [first, first + n) of b (no storage of its own). */
static trib_mf_block_t block_rows(const trib_mf_block_t *b, size_t first, size_t n)
{
    trib_mf_block_t v = *b;
    v.n_rows = n;
    v.factors = b->factors + first * b->stride;
    v.bias = b->bias + first;
    v.adagrad = b->adagrad + first;
    v.ids = b->ids + first;
    v.values = v.factors;
    v.n_values = 0;
    return v;
}

static int create_worker(trib_trainer_t *t, ps_state_t *s)
{
    size_t n_items = s->n_items, n_tab = (size_t)s->o.n_rows, rowf = TRIB_PS_ROW_FLOATS(s->o.k);
    if (s->dyn) {
        int rc = gather_ratings(t, s);
        if (rc != TRIB_OK)
            return rc;
        rc = trib_mf_block_create(&s->table, n_tab, s->o.k);
        s->umark = calloc(s->n_users + 1, sizeof *s->umark);
        s->ulist = malloc((s->n_users + 1) * sizeof *s->ulist);
        s->crows = calloc(s->chunks + 1, sizeof *s->crows);
        s->ncrows = calloc(s->chunks + 1, sizeof *s->ncrows);
        if (rc != TRIB_OK || !s->umark || !s->ulist || !s->crows || !s->ncrows)
            return trib_errorf(TRIB_ERR_NOMEM, "ps worker: cannot allocate the table cache of %zu rows", n_tab);
        for (size_t r = 0; r < n_tab; r++)
            s->table.ids[r] = (int64_t)r;
        s->dmodel = t->model;
        s->dmodel.items = block_rows(&s->table, 0, n_items);
        s->dmodel.users = block_rows(&s->table, n_items, s->n_users);
    }
    size_t n_order = t->n_train;
    if (s->dyn) { /* a chunk's order at a time */
        n_order = (size_t)(s->n_all / (s->chunks ? s->chunks : 1)) + 2;
        s->perm = malloc((s->chunks + 1) * sizeof *s->perm);
        s->order_next = malloc((n_order + 1) * sizeof *s->order_next);
        s->segs = malloc((2 * (s->dgrid.cell_start ? s->dgrid.n_cells : 1) + 4) * sizeof *s->segs);
        if (!s->perm || !s->order_next || !s->segs)
            return trib_errorf(TRIB_ERR_NOMEM, "ps worker: out of memory");
    }
    s->rows = malloc((n_tab + 1) * sizeof *s->rows);
    s->need = malloc((n_tab + 1) * sizeof *s->need);
    s->all_rows = malloc((n_tab + 1) * sizeof *s->all_rows);
    s->settle_rows = malloc((n_tab + 1) * sizeof *s->settle_rows);
    s->mark = calloc(n_items + 1, sizeof *s->mark);
    s->fetched = malloc((n_tab + 1) * sizeof *s->fetched);
    s->delta = malloc((n_tab * rowf + 1) * sizeof *s->delta);
    s->rows_next = malloc((n_tab + 1) * sizeof *s->rows_next);
    s->need_next = malloc((n_tab + 1) * sizeof *s->need_next);
    s->order = malloc((n_order + 1) * sizeof *s->order);
    s->bk_users = malloc((t->model.users.n_values + 1) * sizeof *s->bk_users);
    s->bk_items = malloc((t->model.items.n_values + 1) * sizeof *s->bk_items);
    if (!s->rows || !s->need || !s->all_rows || !s->settle_rows || !s->mark || !s->fetched || !s->delta ||
        !s->rows_next || !s->need_next || !s->order || !s->bk_users || !s->bk_items)
        return trib_errorf(TRIB_ERR_NOMEM, "ps worker: cannot allocate scratch for %zu items", n_items);
    for (size_t i = 0; i < n_tab; i++) {
        s->all_rows[i] = (uint32_t)i;
        s->fetched[i] = INT64_MIN;
    }
    if (!s->dyn)
        keep_rating_items(t, s);
    /* Rows evaluation needs: every item of the local train and test ratings. */
    size_t n = list_rows(s, t->train, NULL, 0, t->n_train, s->rows);
    size_t m = t->n_test ? list_rows(s, t->test, NULL, 0, t->n_test, s->need) : 0;
    size_t a = 0, b = 0, k = 0;
    while (a < n || b < m) {
        uint32_t v = b >= m || (a < n && s->rows[a] < s->need[b]) ? s->rows[a++] : s->need[b++];
        if (k == 0 || s->settle_rows[k - 1] != v)
            s->settle_rows[k++] = v;
    }
    s->n_settle_rows = k;
    if (s->dyn) { /* settling also brings this worker's own users (worker 0: every item, then its users) */
        size_t nu = t->user_end - t->user_first;
        for (size_t u = 0; u < nu; u++) {
            s->settle_rows[k + u] = (uint32_t)(n_items + t->user_first + u);
            s->all_rows[n_items + u] = (uint32_t)(n_items + t->user_first + u);
        }
        s->n_settle_rows = k + nu;
    }
    int rc = trib_ps_client_create(&s->o, t->rank, s->dyn ? &s->table : &t->model.items, &s->cli);
    if (rc == TRIB_OK)
        trib_ps_client_set_bell(s->cli, s->bell);
    return rc;
}

/*
 * Every rank must run the same job: the printed configuration (which holds
 * every option, ps ones included) is hashed and compared across all ranks
 * with one allreduce MAX of (h, ~h): equal everywhere iff max(h) == ~max(~h).
 * Collective; the same verdict on every rank.
 */
static int agree_on_config(trib_trainer_t *t)
{
    char text[4096];
    int n = trib_train_config_format(&t->cfg, text, sizeof text);
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (int i = 0; i < n; i++)
        h = (h ^ (unsigned char)text[i]) * UINT64_C(0x100000001b3);
    int64_t v[2] = {(int64_t)h, (int64_t)~h}, r[2];
    if (MPI_Allreduce(v, r, 2, MPI_INT64_T, MPI_MAX, t->comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps: MPI_Allreduce of the configuration hash failed");
    if ((uint64_t)r[0] != ~(uint64_t)r[1])
        return trib_errorf(TRIB_ERR_MISMATCH, "ps: the ranks were started with different configurations");
    return TRIB_OK;
}

/*
 * The holding straggler (ps_straggler_hold) waits for another worker's pull to reach past the
 * bound b, which needs a second worker and a clock b + 1 in the run (else the others finish and
 * wait for the straggler, which waits for them: a hang, refused here).
 */
static int check_hold(const ps_state_t *s, unsigned epochs)
{
    int b = s->o.consistency == TRIB_PS_ASYNC ? s->o.staleness : trib_ps_effective_staleness(&s->o);
    if (s->o.n_workers < 2)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "ps_straggler_hold: needs at least 2 workers (has %d)",
                           s->o.n_workers);
    if (s->clocks_per_epoch * epochs < (uint64_t)b + 2)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "ps_straggler_hold: %llu clocks in the run, the bound %d needs at "
                           "least %d", (unsigned long long)(s->clocks_per_epoch * epochs), b, b + 2);
    return TRIB_OK;
}

/*
 * Work sharing: the servers' user rows become the workers' (collective over every rank; the workers'
 * users are contiguous ranges of global rows).  At the start they are the seeded start values, after
 * a resume the restored ones.
 */
static int share_users(trib_trainer_t *t, ps_state_t *s)
{
    int P = t->size, rc = TRIB_OK;
    size_t rowf = TRIB_PS_ROW_FLOATS(s->o.k), k = s->o.k;
    const trib_mf_block_t *u = &t->model.users;
    size_t nu = s->server ? 0 : u->n_rows;
    int64_t mine[2] = {s->server ? 0 : (int64_t)t->user_first, (int64_t)nu};
    int64_t *ranges = calloc(2 * (size_t)P, sizeof *ranges);
    int *cnt = calloc((size_t)P, sizeof *cnt), *dsp = calloc((size_t)P, sizeof *dsp);
    float *send = malloc((nu * rowf + 1) * sizeof *send), *all = malloc((s->n_users * rowf + 1) * sizeof *all);
    if (!ranges || !cnt || !dsp || !send || !all)
        rc = trib_errorf(TRIB_ERR_NOMEM, "ps: out of memory sharing %zu user rows", s->n_users);
    if (MPI_Allgather(mine, 2, MPI_INT64_T, ranges ? ranges : mine, 2, MPI_INT64_T, t->comm) != MPI_SUCCESS)
        rc = trib_errorf(TRIB_ERR_MPI, "ps: MPI_Allgather of the user ranges failed");
    for (int r = 0; rc == TRIB_OK && r < P; r++) {
        if (ranges[2 * r] < 0 || ranges[2 * r + 1] < 0 || (uint64_t)(ranges[2 * r] + ranges[2 * r + 1]) > s->n_users ||
            (uint64_t)ranges[2 * r + 1] * rowf > (uint64_t)INT32_MAX - 1)
            rc = trib_errorf(TRIB_ERR_INVALID_ARG, "ps: rank %d's users [%lld, +%lld) do not fit %zu users", r,
                             (long long)ranges[2 * r], (long long)ranges[2 * r + 1], s->n_users);
        else {
            dsp[r] = (int)((uint64_t)ranges[2 * r] * rowf);
            cnt[r] = (int)((uint64_t)ranges[2 * r + 1] * rowf);
        }
    }
    rc = trib_train_agree(rc, t->comm);
    if (rc == TRIB_OK) {
        for (size_t r = 0; r < nu; r++) {
            float *d = send + r * rowf;
            memcpy(d, trib_mf_row(u, r), k * sizeof *d);
            d[k] = u->bias[r];
            d[k + 1] = u->adagrad[r];
        }
        if (MPI_Allgatherv(send, (int)(nu * rowf), MPI_FLOAT, all, cnt, dsp, MPI_FLOAT, t->comm) != MPI_SUCCESS)
            rc = trib_errorf(TRIB_ERR_MPI, "ps: MPI_Allgatherv of the user rows failed");
    }
    if (rc == TRIB_OK && s->server) {
        trib_mf_block_t *b = trib_ps_server_block(s->srv);
        for (size_t r = 0; r < b->n_rows; r++) {
            uint64_t id = (uint64_t)b->ids[r];
            if (id < s->n_items)
                continue;
            const float *v = all + (id - s->n_items) * rowf;
            memcpy(trib_mf_row(b, r), v, k * sizeof *v);
            b->bias[r] = v[k];
            b->adagrad[r] = v[k + 1];
        }
    }
    free(ranges);
    free(cnt);
    free(dsp);
    free(send);
    free(all);
    return rc;
}

/*
 * --ps-balance auto under async and ssp: work sharing, unless the workers cannot each hold every training
 * rating: INT32_MAX of them or more, or the copies of one node's workers (about 16 bytes per rating each:
 * the rating and its place in a chunk's row list) above half of the node's memory.  Then static balance
 * (t->cfg says so from here on, the printed configuration too), with a warning.  TRIB_PS_NODE_MEMORY=BYTES
 * stands in for every node's memory (tests).  `workers`: this node's.  Collective: every rank, one verdict.
 */
static int choose_balance(trib_trainer_t *t, int workers)
{
    double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    const char *env = getenv("TRIB_PS_NODE_MEMORY");
    char *end = NULL;
    int bad = 0;
    if (env && *env) {
        mem = strtod(env, &end);
        bad = *end != '\0' || !(mem > 0);
    }
    uint64_t total = t->train_info.n_ratings;
    double need = (double)workers * 16.0 * (double)total;
    /* the worst node: the largest share of its memory the copies would take, and whether any rank erred */
    double v[2] = {bad, mem > 0 ? need / mem : 1.0}, any[2] = {0, 0};
    if (MPI_Allreduce(v, any, 2, MPI_DOUBLE, MPI_MAX, t->comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps: MPI_Allreduce of the balance verdict failed");
    if (any[0] > 0) /* every rank returns the error: none waits in a collective for another */
        return trib_errorf(TRIB_ERR_INVALID_ARG, "TRIB_PS_NODE_MEMORY=%s: expected a number of bytes > 0",
                           bad ? env : "... on another rank");
    if ((total >= (uint64_t)INT32_MAX || any[1] > 0.5) && t->cfg.ps_balance == TRIB_PS_BALANCE_AUTO &&
        trib_ps_balance_effective(&t->cfg) == TRIB_PS_BALANCE_DYNAMIC) {
        t->cfg.ps_balance = TRIB_PS_BALANCE_STATIC;
        if (t->rank == 0 && total >= (uint64_t)INT32_MAX)
            trib_log(TRIB_LOG_WARN, "ps: --ps-balance auto chose static: work sharing would have every worker hold "
                     "all %llu training ratings, over its limit of %d", (unsigned long long)total, INT32_MAX - 1);
        else if (t->rank == 0)
            trib_log(TRIB_LOG_WARN, "ps: --ps-balance auto chose static: work sharing would have every worker hold "
                     "all %llu training ratings (16 bytes each per worker), %.0f%% of a node's memory",
                     (unsigned long long)total, 100.0 * any[1]);
    }
    return TRIB_OK;
}

static int ps_create(trib_trainer_t *t, void **state)
{
    const trib_train_config_t *c = &t->cfg;
    int local = 1, local_workers = 0;
    int brc = node_ranks(t, &local, &local_workers); /* collectives: every rank, before any early exit */
    if (brc == TRIB_OK)
        brc = choose_balance(t, local_workers);
    if (brc != TRIB_OK)
        return brc;
    ps_state_t *s = calloc(1, sizeof *s);
    if (!s)
        return trib_errorf(TRIB_ERR_NOMEM, "ps: out of memory");
    s->o.comm = t->comm;
    s->o.n_servers = (int)c->ps_servers;
    s->o.n_workers = t->size - s->o.n_servers;
    s->dyn = trib_ps_balance_effective(c) == TRIB_PS_BALANCE_DYNAMIC;
    s->n_items = t->model.items.n_rows;
    s->n_users = (size_t)t->train_info.n_users;
    s->o.n_rows = s->n_items + (s->dyn ? s->n_users : 0);
    s->o.scaled_rows = s->dyn ? s->n_items : 0; /* user rows: one worker trains a user at a time */
    s->o.k = c->k;
    s->o.consistency = c->ps_consistency;
    s->o.staleness = c->ps_staleness;
    s->o.check_staleness = c->ps_check_staleness;
    /* The same update rule as sync mode: averaging scales each worker's delta by 1/W. */
    s->o.scale = c->sync_method == TRIB_SYNC_AVERAGE ? 1.0f / (float)s->o.n_workers : 1.0f;
    s->server = trib_ps_is_server(t->rank, t->size, s->o.n_servers);
    /* The loop's rounds become one epoch; the mini-batches are ours. */
    s->batches = t->rounds_per_epoch;
    t->rounds_per_epoch = 1;
    s->clock_every = c->ps_clock_every;
    s->clocks_per_epoch = (s->batches + s->clock_every - 1) / s->clock_every;
    if (s->dyn) { /* W x B chunks of the shared pass, each one clock; clocks count chunks, not epochs */
        s->chunks = (uint64_t)s->o.n_workers * s->batches;
        s->o.chunks_per_epoch = s->chunks;
        s->clocks_per_epoch = 1; /* clocks restart at the epoch number on a resume (ps_reset) */
    }
    s->o.clocks_per_epoch = s->clocks_per_epoch;
    s->hold = t->rank == c->ps_straggler_rank ? c->ps_straggler_hold : 0; /* dynamic: rounds to sit out */
    size_t P = (size_t)t->size, W = (size_t)s->o.n_workers;
    s->slots = calloc(P * F_N + 1, sizeof *s->slots);
    s->w_rps = calloc(W, sizeof *s->w_rps);
    s->w_wait = calloc(W, sizeof *s->w_wait);
    s->w_epochs = calloc(W, sizeof *s->w_epochs);
    s->w_batches = calloc(W, sizeof *s->w_batches);
    int rc = s->slots && s->w_rps && s->w_wait && s->w_epochs && s->w_batches ? TRIB_OK
                                                             : trib_errorf(TRIB_ERR_NOMEM, "ps: out of memory");
    if (rc == TRIB_OK && c->ps_straggler_hold && !s->dyn)
        rc = check_hold(s, c->epochs);
    if (rc == TRIB_OK && c->ps_straggler_hold && s->dyn && s->o.n_workers < 2)
        rc = trib_errorf(TRIB_ERR_INVALID_ARG, "ps_straggler_hold: needs at least 2 workers (has %d)",
                         s->o.n_workers); /* global inputs only: the same verdict on every rank */
    int idle = choose_idle_sleep(t, s, local); /* collectives: every rank, before any early exit */
    int same = agree_on_config(t);
    if (rc == TRIB_OK)
        rc = idle != TRIB_OK ? idle : same;
    if (rc == TRIB_OK && s->server) {
        rc = trib_ps_server_create(&s->o, t->rank - s->o.n_workers, &s->srv);
        if (rc == TRIB_OK) {
            trib_ps_server_set_bell(s->srv, s->bell); /* values keyed by global id: the same start as sync mode */
            trib_mf_block_init_values(trib_ps_server_block(s->srv), c->seed, TRIB_MF_TAG_ITEM, c->hp.init_std);
            trib_ps_server_restart(s->srv, 0);
        }
    } else if (rc == TRIB_OK) {
        rc = create_worker(t, s);
    }
    if (s->dyn) { /* collective: the servers take the user rows' start values from the workers */
        rc = trib_train_agree(rc, t->comm);
        if (rc == TRIB_OK)
            rc = share_users(t, s);
        if (rc == TRIB_OK && s->server)
            trib_ps_server_restart(s->srv, 0); /* the start's snapshot, now with the users */
    }
    if (rc != TRIB_OK) {
        ps_destroy(s);
        return rc;
    }
    *state = s;
    return TRIB_OK;
}

/* ------------------------------------------------------------------ snapshots */

static const float *find_users(const ps_state_t *s, int64_t epoch)
{
    for (size_t i = 0; i < s->n_usnap; i++)
        if (s->usnap[i].epoch == epoch)
            return s->usnap[i].values;
    return NULL;
}

/* Keeps a copy of this worker's user rows: the users after `epoch` (-1: the start). */
static int keep_users(trib_trainer_t *t, ps_state_t *s, int64_t epoch)
{
    if (find_users(s, epoch))
        return TRIB_OK;
    if (s->n_usnap == s->cap_usnap) {
        size_t c = s->cap_usnap ? 2 * s->cap_usnap : 4;
        user_snapshot_t *p = realloc(s->usnap, c * sizeof *p);
        if (!p)
            return trib_errorf(TRIB_ERR_NOMEM, "ps worker: out of memory");
        s->usnap = p;
        s->cap_usnap = c;
    }
    size_t n = t->model.users.n_values;
    float *v = s->spare_usnap ? s->spare_usnap : malloc((n + 1) * sizeof *v);
    s->spare_usnap = NULL;
    if (!v)
        return trib_errorf(TRIB_ERR_NOMEM, "ps worker: out of memory keeping the user rows of epoch %lld",
                           (long long)epoch + 1);
    memcpy(v, t->model.users.values, n * sizeof *v);
    s->usnap[s->n_usnap++] = (user_snapshot_t){epoch, v};
    return TRIB_OK;
}

static void drop_users(ps_state_t *s, int64_t before)
{
    size_t keep = 0;
    for (size_t i = 0; i < s->n_usnap; i++) {
        if (s->usnap[i].epoch >= before)
            s->usnap[keep++] = s->usnap[i];
        else if (!s->spare_usnap)
            s->spare_usnap = s->usnap[i].values; /* the same size: this worker's user rows */
        else
            free(s->usnap[i].values);
    }
    s->n_usnap = keep;
}

/*
 * Puts the users after `epoch` into the model for evaluation, the model file or a checkpoint,
 * keeping the training state aside (restored by unswap at the next round).
 */
static void swap_in_users(trib_trainer_t *t, ps_state_t *s, int64_t epoch)
{
    if (!s->swapped) {
        memcpy(s->bk_users, t->model.users.values, t->model.users.n_values * sizeof *s->bk_users);
        memcpy(s->bk_items, t->model.items.values, t->model.items.n_values * sizeof *s->bk_items);
        s->swapped = 1;
    }
    const float *u = find_users(s, epoch);
    if (u)
        memcpy(t->model.users.values, u, t->model.users.n_values * sizeof *u);
}

static void unswap(trib_trainer_t *t, ps_state_t *s)
{
    if (!s->swapped)
        return;
    memcpy(t->model.users.values, s->bk_users, t->model.users.n_values * sizeof *s->bk_users);
    memcpy(t->model.items.values, s->bk_items, t->model.items.n_values * sizeof *s->bk_items);
    s->swapped = 0;
}

/* ------------------------------------------------------------------ worker */

static void sleep_seconds(double sec)
{
    if (!(sec > 0))
        return;
    struct timespec ts = {(time_t)sec, (long)((sec - floor(sec)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Copies the listed rows' values (k factors, bias, AdaGrad sum) into s->delta. */
static void snapshot_rows(ps_state_t *s, const trib_mf_block_t *b, size_t n)
{
    size_t k = b->k, rowf = TRIB_PS_ROW_FLOATS(k);
    for (size_t i = 0; i < n; i++) {
        float *d = s->delta + i * rowf;
        memcpy(d, trib_mf_row(b, s->rows[i]), k * sizeof(float));
        d[k] = b->bias[s->rows[i]];
        d[k + 1] = b->adagrad[s->rows[i]];
    }
}

/* s->delta = current values - s->delta (the snapshot). */
static void rows_delta(ps_state_t *s, const trib_mf_block_t *b, size_t n)
{
    size_t k = b->k, rowf = TRIB_PS_ROW_FLOATS(k);
    for (size_t i = 0; i < n; i++) {
        float *d = s->delta + i * rowf;
        const float *row = trib_mf_row(b, s->rows[i]);
        for (size_t f = 0; f < k; f++)
            d[f] = row[f] - d[f];
        d[k] = b->bias[s->rows[i]] - d[k];
        d[k + 1] = b->adagrad[s->rows[i]] - d[k + 1];
    }
}

/*
 * A pull started before the previous mini-batch's push may be answered without that push: for rows
 * in both whose server says so, add what the server adds for it (scale x delta), so the cache reads
 * this worker's writes.
 */
static void add_own_push(ps_state_t *s, trib_mf_block_t *b, const uint32_t *pulled, size_t m)
{
    size_t k = b->k, rowf = TRIB_PS_ROW_FLOATS(k), i = 0, j = 0;
    uint64_t scaled = s->o.scaled_rows ? s->o.scaled_rows : UINT64_MAX; /* as the servers: options.scaled_rows */
    while (i < m && j < s->n_cur) {
        float a = pulled[i] < scaled ? s->o.scale : 1.0f;
        if (pulled[i] < s->rows[j]) {
            i++;
        } else if (pulled[i] > s->rows[j]) {
            j++;
        } else if (trib_ps_client_reply_own(s->cli, pulled[i])) {
            i++;
            j++;
        } else {
            const float *d = s->delta + j * rowf;
            float *row = trib_mf_row(b, pulled[i]);
            for (size_t f = 0; f < k; f++)
                row[f] += a * d[f];
            b->bias[pulled[i]] += a * d[k];
            b->adagrad[pulled[i]] += a * d[k + 1];
            i++;
            j++;
        }
    }
}

/*
 * Finishes the pull started during the previous mini-batch (rows `pulled`, m of them), adds this
 * worker's own last push where the reply lacked it, and makes the prefetched row list the current one.
 */
static int take_prefetch(ps_state_t *s, trib_mf_block_t *b, const uint32_t *pulled, size_t m)
{
    s->have_next = 0;
    int rc = trib_ps_client_pull_finish(s->cli);
    if (rc == TRIB_OK && !trib_ps_client_retry(s->cli))
        add_own_push(s, b, pulled, m);
    uint32_t *x = s->rows;
    s->rows = s->rows_next;
    s->rows_next = x;
    return rc;
}

static int pause_wanted(trib_trainer_t *t, ps_state_t *s, int *want)
{
    int notices = 0, rc = trib_ps_client_poll_notice(s->cli, &notices);
    *want = rc != TRIB_OK || notices > 0 || trib_train_stop_wanted(t);
    return rc;
}

static void batch_slice(const trib_trainer_t *t, const ps_state_t *s, uint64_t b, size_t *begin, size_t *end)
{
    __extension__ typedef unsigned __int128 u128_t;
    *begin = (size_t)((u128_t)t->n_train * b / s->batches);
    *end = (size_t)((u128_t)t->n_train * (b + 1) / s->batches);
}

/*
 * Mini-batch w_batch of epoch w_epoch: pull (or finish the prefetched pull), start the next
 * mini-batch's pull when the consistency model allows it, SGD, push.  *paused = 1 when a server
 * answered RETRY (or a pause came during a hold): the mini-batch did not run.
 */
static int worker_batch(trib_trainer_t *t, ps_state_t *s, double *wait, int *paused, uint64_t *ratings)
{
    unsigned epoch = s->w_epoch;
    uint64_t b = s->w_batch;
    int rc = TRIB_OK;
    if (s->order_epoch != epoch + 1) {
        if (t->cfg.order == TRIB_MF_ORDER_BLOCKED)
            rc = trib_mf_grid_order(&t->grid, s->order, t->n_train, t->cfg.seed, epoch);
        else
            rc = trib_mf_visit_order(s->order, t->n_train, t->cfg.seed, epoch);
        if (rc != TRIB_OK)
            return rc;
        s->order_epoch = epoch + 1;
    }
    size_t begin, end;
    batch_slice(t, s, b, &begin, &end);
    trib_mf_block_t *items = &t->model.items;
    int64_t clock = trib_ps_client_clock(s->cli);
    size_t n, m;
    double t0 = trib_now();
    if (s->have_next) { /* started during the previous mini-batch */
        rc = take_prefetch(s, items, s->need_next, s->m_next);
        uint32_t *x = s->need;
        s->need = s->need_next;
        s->need_next = x;
        n = s->n_next;
        m = s->m_next;
    } else {
        n = list_batch_rows(t, s, begin, end, s->rows);
        m = 0;
        for (size_t i = 0; i < n; i++)
            if (s->fetched[s->rows[i]] != clock)
                s->need[m++] = s->rows[i];
        rc = trib_ps_client_pull(s->cli, s->need, m);
    }
    s->n_cur = 0; /* s->delta no longer matches s->rows */
    *wait += trib_now() - t0;
    s->p_pull += trib_now() - t0;
    if (rc != TRIB_OK || trib_ps_client_retry(s->cli)) {
        *paused = rc == TRIB_OK;
        return rc;
    }
    for (size_t i = 0; i < m; i++)
        s->fetched[s->need[i]] = clock;
    if (s->hold && n > 0) {
        /* Before any SGD of this clock, so pulling the batch's rows again changes nothing but their
         * freshness (bsp: nothing at all, the servers hold this clock's pushes). */
        while (rc == TRIB_OK && !trib_ps_client_bound_hit(s->cli)) {
            int want = 0;
            rc = pause_wanted(t, s, &want);
            if (rc != TRIB_OK || want) {
                *paused = rc == TRIB_OK;
                return rc;
            }
            sleep_seconds(1e-3);
            rc = trib_ps_client_pull(s->cli, s->rows, n);
            if (rc == TRIB_OK && trib_ps_client_retry(s->cli)) {
                *paused = 1;
                return rc;
            }
        }
        s->hold = 0;
        if (rc != TRIB_OK)
            return rc;
    }
    double p0 = trib_now();
    snapshot_rows(s, items, n);
    int end_clock = (b + 1) % s->clock_every == 0 || b + 1 == s->batches;
    /* The next mini-batch's pull travels during this one's SGD; when this mini-batch ends a clock
     * it is a pull for the next clock, which the servers answer as such.  bsp: the servers answer
     * it once the clock is complete, so it fetches exactly what the pull after the push would have.
     * ssp: it may be answered at once, without the others' updates of this mini-batch, within the
     * bound but staler than a pull after the push (the ps_converge test: 2-4% worse than sync with
     * it, under 1% without), so there only within a clock. */
    if (b + 1 < s->batches && (!end_clock || s->o.consistency != TRIB_PS_SSP)) {
        size_t nb, ne;
        batch_slice(t, s, b + 1, &nb, &ne);
        int64_t next_clock = clock + end_clock;
        s->n_next = list_batch_rows(t, s, nb, ne, s->rows_next);
        s->m_next = 0;
        for (size_t i = 0; i < s->n_next; i++)
            if (s->fetched[s->rows_next[i]] != next_clock)
                s->need_next[s->m_next++] = s->rows_next[i];
        rc = end_clock ? trib_ps_client_pull_ahead(s->cli, s->need_next, s->m_next)
                       : trib_ps_client_pull_start(s->cli, s->need_next, s->m_next);
        if (rc != TRIB_OK)
            return rc;
        s->have_next = 1;
    }
    double c0 = trib_now();
    s->p_pack += c0 - p0;
    trib_mf_hparams_t hp = trib_train_sgd_hparams(t);
    rc = trib_mf_sgd_run(&t->model, &hp, epoch, t->train, t->n_train, s->order, begin, end);
    if (rc != TRIB_OK)
        return rc;
    s->p_sgd += trib_now() - c0;
    if (t->rank == t->cfg.ps_straggler_rank)
        sleep_seconds(t->cfg.ps_straggler_factor * (trib_now() - c0));
    if (t->rank == 0 && !s->raised && t->cfg.ps_raise_epoch == epoch + 1 && t->cfg.ps_raise_batch == b + 1) {
        s->raised = 1; /* testing: a stop request in the middle of a mini-batch */
        raise(t->cfg.ps_raise_signal);
    }
    p0 = trib_now();
    rows_delta(s, items, n);
    s->n_cur = n;
    t0 = trib_now();
    s->p_pack += t0 - p0;
    rc = trib_ps_client_push(s->cli, s->rows, n, s->delta, end_clock);
    *wait += trib_now() - t0;
    s->p_push += trib_now() - t0;
    if (rc != TRIB_OK)
        return rc;
    s->p_batches++;
    *ratings += end - begin;
    if (++s->w_batch == s->batches) { /* the worker finished an epoch: its users after it */
        s->w_batch = 0;
        s->w_epoch++;
        rc = keep_users(t, s, (int64_t)s->w_epoch - 1);
    }
    return rc;
}

/*
 * Work sharing: the visiting order of the chunk handed out `idx`-th in `epoch` into order[0..*len)
 * (indices into s->all); returns the chunk's slice number.  The chunks are C fixed slices of s->all
 * (sorted by grid cell, or shuffled once); each epoch visits them in a fresh seeded sequence, and a
 * chunk visits its cell segments in a seeded order, each segment's ratings shuffled (stream
 * hash(epoch, chunk) of the seed): a pure function of (seed, epoch, idx), so it does not matter which
 * worker trains the chunk, and a worker computes only the orders of the chunks it trains.
 */
static uint64_t chunk_order(const trib_trainer_t *t, ps_state_t *s, unsigned epoch, uint64_t idx, uint32_t *order,
                            size_t *len)
{
    if (s->perm_epoch != epoch + 1) {
        for (uint64_t c = 0; c < s->chunks; c++)
            s->perm[c] = (uint32_t)c;
        trib_rng_t rng;
        trib_rng_init(&rng, t->cfg.seed, trib_hash64(TAG_CHUNKS, epoch));
        trib_rng_shuffle_u32(&rng, s->perm, s->chunks);
        s->perm_epoch = epoch + 1;
    }
    uint64_t c = s->perm[idx];
    size_t b, e;
    chunk_bounds(s, c, &b, &e);
    trib_rng_t rng;
    trib_rng_init(&rng, t->cfg.seed, trib_hash64(trib_hash64(TAG_CHUNKS, epoch), c + 1));
    size_t n = 0, ns = 0;
    const uint64_t *cs = s->dgrid.cell_start;
    if (cs) { /* the cells the slice overlaps, as [from, to) pairs in s->segs */
        size_t lo = 0, hi = s->dgrid.n_cells; /* the first cell ending after b */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (cs[mid + 1] <= b)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t j = lo; j < s->dgrid.n_cells && cs[j] < e; j++) {
            size_t from = cs[j] > b ? (size_t)cs[j] : b, to = cs[j + 1] < e ? (size_t)cs[j + 1] : e;
            if (to > from) {
                s->segs[2 * ns] = (uint32_t)from;
                s->segs[2 * ns + 1] = (uint32_t)to;
                ns++;
            }
        }
    } else if (e > b) {
        s->segs[0] = (uint32_t)b;
        s->segs[1] = (uint32_t)e;
        ns = 1;
    }
    for (size_t i = ns; i > 1; i--) { /* the segments in a seeded order (Fisher-Yates on the pairs) */
        size_t j = (size_t)trib_rng_below(&rng, i);
        uint32_t f = s->segs[2 * (i - 1)], g = s->segs[2 * (i - 1) + 1];
        s->segs[2 * (i - 1)] = s->segs[2 * j];
        s->segs[2 * (i - 1) + 1] = s->segs[2 * j + 1];
        s->segs[2 * j] = f;
        s->segs[2 * j + 1] = g;
    }
    for (size_t i = 0; i < ns; i++) {
        size_t from = s->segs[2 * i], to = s->segs[2 * i + 1];
        for (size_t r = from; r < to; r++)
            order[n + r - from] = (uint32_t)r;
        trib_rng_shuffle_u32(&rng, order + n, to - from);
        n += to - from;
    }
    *len = n;
    return c;
}

/* Work sharing: finishes the claim in flight, if any; a chunk granted joins the queue have[0..*n_have). */
static int dyn_take_grant(ps_state_t *s, int64_t *have, int *n_have, double *wait)
{
    if (!trib_ps_client_claiming(s->cli))
        return TRIB_OK;
    double c0 = trib_now();
    int64_t got = -1;
    int rc = trib_ps_client_claim_finish(s->cli, &got);
    if (rc == TRIB_OK && got >= 0)
        have[(*n_have)++] = got;
    if (rc == TRIB_OK && got == -2)
        s->not_now = 1;
    *wait += trib_now() - c0;
    s->p_claim += trib_now() - c0;
    return rc;
}

/*
 * Work sharing: sends a claim reporting *done (the chunk finished since the last claim, or -1).  After
 * a "not now" in this round a claim without a report is not sent (server 0 would answer "not now"
 * again while this worker holds a chunk): the claim after the chunk in hand reports it and is answered.
 */
static int dyn_claim(ps_state_t *s, int64_t *done)
{
    if (s->not_now && *done < 0)
        return TRIB_OK;
    int rc = trib_ps_client_claim_start(s->cli, *done);
    if (rc == TRIB_OK)
        *done = -1;
    return rc;
}

/*
 * Work sharing: trains the chunk handed out `chunk`-th in `epoch`.  Chunks flow two deep: the claim
 * sent during the previous chunk (answered during its SGD) is taken first, so the chunk after this
 * one is known (have[0]; when no claim is in flight and none is known, one is asked for now), the
 * next claim leaves, reporting *done (the chunk finished before, its pushes sent) and answered during
 * this chunk.  This chunk's rows were asked for during the previous one (s->have_next) or are pulled
 * now, the next one's are asked for (pull ahead) before this SGD.  SGD, push both; *done = chunk.
 * have[0..*n_have): chunks granted, not started.  *paused = 1 when the servers are pausing (this chunk
 * did not run).
 */
static int dyn_chunk(trib_trainer_t *t, ps_state_t *s, unsigned epoch, uint64_t chunk, int64_t *done, int64_t *have,
                     int *n_have, double *wait, int *paused, uint64_t *ratings)
{
    int rc = TRIB_OK;
    if (!trib_ps_client_claiming(s->cli) && *n_have == 0) /* the first chunk of a round */
        rc = dyn_claim(s, done);
    if (rc == TRIB_OK)
        rc = dyn_take_grant(s, have, n_have, wait);
    if (rc == TRIB_OK)
        rc = dyn_claim(s, done);
    size_t n = 0;
    double t0 = trib_now(), t1 = t0;
    if (rc == TRIB_OK && s->have_next) { /* asked for during the previous chunk */
        rc = take_prefetch(s, &s->table, s->rows_next, s->n_next);
        uint32_t *x = s->order;
        s->order = s->order_next;
        s->order_next = x;
        s->len_cur = s->len_next;
        n = s->n_next;
    } else if (rc == TRIB_OK) {
        n = list_chunk_rows(s, chunk_order(t, s, epoch, chunk, s->order, &s->len_cur), s->rows);
        t1 = trib_now();
        trib_ps_client_set_chunk(s->cli, (int64_t)chunk);
        rc = trib_ps_client_pull(s->cli, s->rows, n);
    }
    s->n_cur = 0; /* s->delta no longer matches s->rows */
    double t2 = trib_now();
    *wait += t2 - t1;
    s->p_pull += t2 - t1;
    s->p_pack += t1 - t0;
    if (rc != TRIB_OK || trib_ps_client_retry(s->cli)) {
        *paused = rc == TRIB_OK;
        return rc;
    }
    if (*n_have > 0) { /* the next chunk's rows travel during this chunk's SGD */
        s->n_next = list_chunk_rows(s, chunk_order(t, s, epoch, (uint64_t)have[0], s->order_next, &s->len_next),
                                    s->rows_next);
        trib_ps_client_set_chunk(s->cli, have[0]);
        rc = trib_ps_client_pull_ahead(s->cli, s->rows_next, s->n_next);
        if (rc != TRIB_OK)
            return rc;
        s->have_next = 1;
    }
    snapshot_rows(s, &s->table, n);
    double c0 = trib_now();
    s->p_pack += c0 - t2;
    trib_mf_hparams_t hp = trib_train_sgd_hparams(t);
    rc = trib_mf_sgd_run(&s->dmodel, &hp, epoch, s->all, s->n_all, s->order, 0, s->len_cur);
    if (rc != TRIB_OK)
        return rc;
    s->p_sgd += trib_now() - c0;
    if (t->rank == t->cfg.ps_straggler_rank)
        sleep_seconds(t->cfg.ps_straggler_factor * (trib_now() - c0));
    double p0 = trib_now();
    rows_delta(s, &s->table, n);
    s->n_cur = n;
    double p1 = trib_now();
    s->p_pack += p1 - p0;
    trib_ps_client_set_chunk(s->cli, (int64_t)chunk);
    rc = trib_ps_client_push(s->cli, s->rows, n, s->delta, 1);
    *wait += trib_now() - p1;
    s->p_push += trib_now() - p1;
    if (rc != TRIB_OK)
        return rc;
    *done = (int64_t)chunk;
    s->p_batches++;
    *ratings += s->len_cur;
    s->dyn_trained += (double)s->len_cur;
    return TRIB_OK;
}

/* Logs the round's time per mini-batch (info level) and clears the sums. */
static void log_breakdown(trib_trainer_t *t, ps_state_t *s, unsigned epoch, double pause_s)
{
    if (trib_log_enabled(TRIB_LOG_INFO) && s->p_batches) {
        double k = 1e3 / (double)s->p_batches;
        trib_log(TRIB_LOG_INFO, "ps worker %d round %u: %llu mini-batches, ms per mini-batch: sgd %.3f pack %.3f "
                 "pull %.3f push %.3f claim %.3f; pause %.3f ms", t->rank, epoch + 1,
                 (unsigned long long)s->p_batches, s->p_sgd * k, s->p_pack * k, s->p_pull * k, s->p_push * k,
                 s->p_claim * k, 1e3 * pause_s);
    }
    s->p_sgd = s->p_pack = s->p_pull = s->p_push = s->p_claim = 0;
    s->p_batches = 0;
}

/*
 * Work sharing, the worker's part of round `epoch`: claim a chunk of the epoch from server 0 (reporting
 * the one just done), train it, until server 0 has none for this worker (then wait for the round's
 * notice), a notice, or a stop request; a stop costs at most the chunk in hand.
 */
static int worker_round_dyn(trib_trainer_t *t, ps_state_t *s, unsigned epoch, double *slot)
{
    double t0 = trib_now(), wait = 0;
    uint64_t ratings = 0, run = 0;
    trib_ps_client_begin(s->cli, epoch, trib_ps_client_clock(s->cli), 0);
    /* have: chunks given and not started (the first one's rows may be on their way); done: the chunk
     * trained and not reported yet (the next claim reports it) */
    int64_t have[2] = {-1, -1}, done = -1;
    int n_have = 0, rc = TRIB_OK, stop = 0;
    s->not_now = 0;
    if (s->hold > 0) { /* testing: the holding straggler takes no chunk in this round (the others train it all) */
        s->hold--;
        rc = trib_ps_client_wait_notice(s->cli);
        stop = 1;
    }
    while (rc == TRIB_OK && !stop) {
        int paused = 0;
        rc = pause_wanted(t, s, &stop);
        if (rc == TRIB_OK && !stop && n_have == 0) /* none in hand: the claim in flight, else ask and wait */
            rc = dyn_take_grant(s, have, &n_have, &wait);
        if (rc == TRIB_OK && !stop && n_have == 0) {
            rc = dyn_claim(s, &done);
            if (rc == TRIB_OK)
                rc = dyn_take_grant(s, have, &n_have, &wait);
            if (rc == TRIB_OK && n_have == 0) { /* nothing more for this worker in this epoch */
                double c0 = trib_now();
                rc = trib_ps_client_wait_notice(s->cli);
                wait += trib_now() - c0;
                s->p_claim += trib_now() - c0;
                break;
            }
        }
        if (rc != TRIB_OK || stop)
            break;
        int64_t chunk = have[0];
        have[0] = have[1];
        n_have--;
        rc = dyn_chunk(t, s, epoch, (uint64_t)chunk, &done, have, &n_have, &wait, &paused, &ratings);
        if (rc != TRIB_OK || paused)
            break;
        run++;
        if (t->rank == 0 && !s->raised && t->cfg.ps_raise_epoch == epoch + 1 && t->cfg.ps_raise_batch == run) {
            s->raised = 1; /* testing: a stop request in the middle of an epoch */
            raise(t->cfg.ps_raise_signal);
        }
    }
    if (trib_ps_client_claiming(s->cli)) { /* a grant on its way: take it (its chunk will not run now) */
        int64_t got = -1;
        int cr = trib_ps_client_claim_finish(s->cli, &got);
        rc = rc != TRIB_OK ? rc : cr;
    }
    if (s->have_next) { /* rows of a chunk that will not run now (the round is stopping) */
        s->have_next = 0;
        int fr = trib_ps_client_pull_finish(s->cli);
        rc = rc != TRIB_OK ? rc : fr;
    }
    double w0 = trib_now();
    int pr = trib_ps_client_pause(s->cli); /* even after an error: no server may wait for us */
    if (rc == TRIB_OK)
        rc = pr;
    wait += trib_now() - w0;
    log_breakdown(t, s, epoch, trib_now() - w0);
    slot[F_RATINGS] = (double)ratings;
    slot[F_SECONDS] = trib_now() - t0;
    slot[F_WAIT] = wait;
    /* a worker's share of the pass is n / W ratings: its epochs are the ratings it trained over that */
    slot[F_EPOCHS] = s->n_all ? s->dyn_trained * (double)s->o.n_workers / (double)s->n_all : 0;
    slot[F_BATCHES] = (double)run;
    t->round_updates = (int64_t)ratings;
    t->comm_seconds += wait * (double)t->size / (double)s->o.n_workers;
    return rc;
}

/*
 * The worker's part of round `epoch`: mini-batches of its own epochs, one after another, until a
 * server's NOTICE (the slowest worker finished `epoch`, a stop, or a pause elsewhere) or its own
 * stop request; it checks both between mini-batches, so a pause costs at most one mini-batch.
 * A worker that finished every epoch waits for the notice.
 */
static int worker_round(trib_trainer_t *t, ps_state_t *s, unsigned epoch, double *slot)
{
    double t0 = trib_now(), wait = 0;
    uint64_t ratings = 0;
    unswap(t, s);
    drop_users(s, (int64_t)epoch - 1);
    trib_ps_client_begin(s->cli, epoch, trib_ps_client_clock(s->cli), 0);
    int rc = s->w_batch == 0 ? keep_users(t, s, (int64_t)s->w_epoch - 1) : TRIB_OK; /* a start or a resume */
    while (rc == TRIB_OK) {
        int want = 0, paused = 0;
        rc = pause_wanted(t, s, &want);
        if (rc != TRIB_OK || want)
            break;
        if (s->w_epoch >= t->cfg.epochs) {
            rc = trib_ps_client_wait_notice(s->cli);
            break;
        }
        rc = worker_batch(t, s, &wait, &paused, &ratings);
        if (paused)
            break;
    }
    double w0 = trib_now();
    if (s->have_next) { /* a pull for a mini-batch that will not run now: its rows are pulled again */
        s->have_next = 0;
        int fr = trib_ps_client_pull_finish(s->cli);
        rc = rc != TRIB_OK ? rc : fr;
        for (size_t i = 0; i < s->m_next; i++)
            s->fetched[s->need_next[i]] = INT64_MIN;
    }
    int pr = trib_ps_client_pause(s->cli); /* even after an error: no server may wait for us */
    if (rc == TRIB_OK)
        rc = pr;
    wait += trib_now() - w0;
    slot[F_BATCHES] = (double)s->p_batches;
    log_breakdown(t, s, epoch, trib_now() - w0);
    slot[F_RATINGS] = (double)ratings;
    slot[F_SECONDS] = trib_now() - t0;
    slot[F_WAIT] = wait;
    slot[F_EPOCHS] = (double)s->w_epoch + (double)s->w_batch / (double)s->batches;
    t->round_updates = (int64_t)ratings;
    /* The loop reports comm_seconds as the mean over all P ranks; servers add nothing, so scale
     * the workers' waiting by P / W to make the figure the mean over workers. */
    t->comm_seconds += wait * (double)t->size / (double)s->o.n_workers;
    return rc;
}

static int server_round(trib_trainer_t *t, ps_state_t *s, unsigned epoch, double *slot)
{
    trib_ps_server_stats_t st;
    trib_ps_server_take_stats(s->srv, &st); /* drop the settle phases' counts: the round's only */
    trib_ps_server_drop_snapshots(s->srv, (int64_t)epoch - 1);
    int complete = 0;
    int rc = trib_ps_server_serve_round(s->srv, epoch, t->stop_flag, &complete);
    trib_ps_server_take_stats(s->srv, &st);
    if (trib_log_enabled(TRIB_LOG_INFO))
        trib_log(TRIB_LOG_INFO, "ps server %d round %u: %llu pulls, %llu pushes, busy %.3f ms per push+pull "
                 "(apply and reply), %llu rows served, %llu rows updated", t->rank, epoch + 1,
                 (unsigned long long)st.pulls, (unsigned long long)st.pushes,
                 st.pushes ? 1e3 * st.busy_seconds / (double)st.pushes : 0.0, (unsigned long long)st.rows_served,
                 (unsigned long long)st.rows_updated);
    slot[F_PULLS] = (double)st.pulls;
    slot[F_DEFERRED] = (double)st.deferred;
    slot[F_VIOL] = (double)st.violations;
    slot[F_MAXSTALE] = (double)st.max_staleness;
    slot[F_COMPLETE] = complete;
    t->round_updates = 0;
    return rc;
}

/* ------------------------------------------------------------------ figures */

/* One allreduce of every rank's slot plus the stop requests; fills s->last.  *complete: every server's epoch. */
static int gather_figures(trib_trainer_t *t, ps_state_t *s, int *stop, int *complete)
{
    size_t P = (size_t)t->size, W = (size_t)s->o.n_workers;
    s->slots[P * F_N] = *stop ? 1.0 : 0.0;
    if (MPI_Allreduce(MPI_IN_PLACE, s->slots, (int)(P * F_N + 1), MPI_DOUBLE, MPI_SUM, t->comm) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps: MPI_Allreduce of the epoch figures failed");
    *stop = s->slots[P * F_N] > 0;
    trib_ps_epoch_stats_t *e = &s->last;
    memset(e, 0, sizeof *e);
    e->n_workers = s->o.n_workers;
    e->n_servers = s->o.n_servers;
    e->batches_per_epoch = s->batches;
    e->clocks_per_epoch = s->clocks_per_epoch;
    for (size_t w = 0; w < W; w++) {
        const double *v = s->slots + w * F_N;
        s->w_rps[w] = v[F_SECONDS] > 0 ? v[F_RATINGS] / v[F_SECONDS] : 0;
        s->w_wait[w] = v[F_WAIT];
        s->w_epochs[w] = v[F_EPOCHS];
        s->w_batches[w] = v[F_BATCHES];
    }
    e->worker_ratings_per_s = s->w_rps;
    e->worker_wait_seconds = s->w_wait;
    e->worker_epochs_done = s->w_epochs;
    e->worker_batches = s->w_batches;
    int done = 0;
    for (size_t r = W; r < P; r++) {
        const double *v = s->slots + r * F_N;
        e->pulls += (uint64_t)v[F_PULLS];
        e->deferred += (uint64_t)v[F_DEFERRED];
        e->violations += (uint64_t)v[F_VIOL];
        done += v[F_COMPLETE] > 0;
        if ((int64_t)v[F_MAXSTALE] > e->max_staleness)
            e->max_staleness = (int64_t)v[F_MAXSTALE];
    }
    *complete = done == s->o.n_servers;
    s->violations += e->violations;
    s->have_last = 1;
    return TRIB_OK;
}

/* ------------------------------------------------------------------ strategy */

/*
 * A loop round in ps mode is the time until the slowest worker finished epoch `epoch` (the
 * others run on meanwhile).  When a stop ends it earlier, the round is incomplete: the position
 * stays at `epoch`, and the model (servers' snapshots, workers' user rows) is the one after
 * epoch - 1, what a checkpoint then holds.
 */
static int ps_round(trib_trainer_t *t, void *state, unsigned epoch, size_t begin, size_t end, int *stop)
{
    (void)begin;
    (void)end;
    ps_state_t *s = state;
    size_t P = (size_t)t->size;
    memset(s->slots, 0, (P * F_N + 1) * sizeof *s->slots);
    double *slot = s->slots + (size_t)t->rank * F_N;
    int rc = s->server ? server_round(t, s, epoch, slot)
             : s->dyn  ? worker_round_dyn(t, s, epoch, slot)
                       : worker_round(t, s, epoch, slot);
    if (trib_train_stop_wanted(t)) /* a request (or the time limit) that arrived during the round */
        *stop = 1;
    int complete = 0;
    int fr = gather_figures(t, s, stop, &complete); /* every rank, also after an error: it is collective */
    if (rc == TRIB_OK)
        rc = fr;
    if (rc == TRIB_OK && s->o.check_staleness && s->o.consistency != TRIB_PS_ASYNC && s->last.violations)
        rc = trib_errorf(TRIB_ERR_INTERNAL, "ps: the staleness bound %d was violated at %llu pulls in round %u",
                         trib_ps_effective_staleness(&s->o), (unsigned long long)s->last.violations, epoch + 1);
    if (rc == TRIB_OK && !complete && !*stop)
        rc = trib_errorf(TRIB_ERR_INTERNAL, "ps: round %u ended before every worker finished its epoch", epoch + 1);
    if (rc == TRIB_OK && !complete) {
        t->round_incomplete = 1;
        if (!s->server && !s->dyn) /* dynamic: the model's users are the last settled ones, after epoch - 1 */
            swap_in_users(t, s, (int64_t)epoch - 1);
    }
    return rc;
}

/* Work sharing, after a settle's pull: the pulled items and this worker's users into the model. */
static void dyn_take_settled(trib_trainer_t *t, ps_state_t *s, const uint32_t *rows, size_t n)
{
    size_t k = s->o.k;
    for (size_t i = 0; i < n; i++) {
        size_t r = rows[i];
        trib_mf_block_t *dst = r < s->n_items ? &t->model.items : &t->model.users;
        size_t d = r < s->n_items ? r : r - s->n_items - t->user_first;
        memcpy(trib_mf_row(dst, d), trib_mf_row(&s->table, r), k * sizeof(float));
        dst->bias[d] = s->table.bias[r];
        dst->adagrad[d] = s->table.adagrad[r];
    }
}

static int ps_settle(trib_trainer_t *t, void *state)
{
    ps_state_t *s = state;
    if (s->server)
        return trib_ps_server_serve_settle(s->srv, t->next_epoch);
    if (!s->dyn)
        swap_in_users(t, s, (int64_t)t->next_epoch - 1); /* the users after the epoch the servers' snapshot holds */
    trib_ps_client_begin(s->cli, t->next_epoch, 0, 1);
    const uint32_t *rows = t->rank == 0 ? s->all_rows : s->settle_rows;
    size_t n = t->rank != 0 ? s->n_settle_rows
               : s->dyn     ? s->n_items + (t->user_end - t->user_first)
                            : (size_t)s->o.n_rows;
    int rc = trib_ps_client_pull(s->cli, rows, n);
    int dr = trib_ps_client_done(s->cli);
    if (rc == TRIB_OK && s->dyn)
        dyn_take_settled(t, s, rows, n);
    return rc == TRIB_OK ? dr : rc;
}

/*
 * Resume (trib_trainer_set_position after the caller restored the model): the
 * restored item values are expected in t->model.items on every rank, as in
 * sync mode.  Servers copy their rows from it into their block and restart
 * their clocks at the position; workers start the position's epoch and forget
 * which rows they fetched, so every row is pulled again.
 */
static int ps_reset(trib_trainer_t *t, void *state)
{
    ps_state_t *s = state;
    int64_t clock = (int64_t)((uint64_t)t->next_epoch * s->clocks_per_epoch);
    int rc = s->dyn ? share_users(t, s) : TRIB_OK; /* collective: the restored users to the servers */
    if (rc != TRIB_OK)
        return rc;
    if (!s->server) {
        for (uint64_t i = 0; i < s->o.n_rows; i++)
            s->fetched[i] = INT64_MIN;
        s->swapped = 0; /* the restored values are the state to train on */
        s->have_next = 0;
        s->n_cur = 0;
        drop_users(s, INT64_MAX);
        s->w_epoch = t->next_epoch;
        s->w_batch = 0;
        s->order_epoch = 0;
        s->perm_epoch = 0;
        /* work sharing: the passes before the position count as shared equally (the parts sum to them) */
        s->dyn_trained = (double)t->next_epoch * (double)s->n_all / (double)s->o.n_workers;
        trib_ps_client_begin(s->cli, t->next_epoch, clock, 0);
        return TRIB_OK;
    }
    trib_mf_block_t *b = trib_ps_server_block(s->srv), *all = &t->model.items;
    if (b->n_rows) {
        size_t first = (size_t)b->ids[0], k = b->k;
        for (size_t r = 0; r < b->n_rows && first + r < s->n_items; r++) { /* item rows (users: share_users) */
            memcpy(trib_mf_row(b, r), trib_mf_row(all, first + r), k * sizeof(float));
            b->bias[r] = all->bias[first + r];
            b->adagrad[r] = all->adagrad[first + r];
        }
    }
    trib_ps_server_restart(s->srv, clock);
    return TRIB_OK;
}

/* Own orders: a worker's epochs run apart from the loop's (static), or it visits chunks of all ratings (dynamic). */
const trib_strategy_t trib_strategy_ps = {"ps", ps_create, ps_round, ps_settle, ps_reset, ps_destroy, 1};

/* ------------------------------------------------------------------ accessors */

const trib_mf_block_t *trib_ps_server_items(const trib_trainer_t *t)
{
    const ps_state_t *s = is_ps(t) ? t->strategy_state : NULL;
    if (!s || !s->server)
        return NULL;
    /* the rows after the epoch before the position (the live rows may hold later epochs' updates) */
    const trib_mf_block_t *snap = trib_ps_server_snapshot(s->srv, (int64_t)t->next_epoch - 1);
    const trib_mf_block_t *b = snap ? snap : trib_ps_server_block(s->srv);
    if (!s->dyn)
        return b;
    /* work sharing: the item rows only (users are checkpointed by the workers, as without it) */
    size_t first = b->n_rows ? (size_t)b->ids[0] : 0;
    size_t items = first >= s->n_items ? 0 : s->n_items - first;
    ((ps_state_t *)s)->items_view = block_rows(b, 0, items < b->n_rows ? items : b->n_rows);
    return &s->items_view;
}

uint64_t trib_ps_clocks_per_epoch(const trib_trainer_t *t)
{
    const ps_state_t *s = is_ps(t) ? t->strategy_state : NULL;
    return s ? s->clocks_per_epoch : 0;
}

int trib_trainer_ps_stats(const struct trib_trainer *t, trib_ps_epoch_stats_t *out)
{
    if (!t || !out || !is_ps(t) || !t->strategy_state || !((const ps_state_t *)t->strategy_state)->have_last)
        return trib_errorf(TRIB_ERR_STATE, "ps figures: the trainer is not in ps mode or has not run an epoch");
    *out = ((const ps_state_t *)t->strategy_state)->last;
    return TRIB_OK;
}

uint64_t trib_trainer_ps_violations(const struct trib_trainer *t)
{
    if (!t || !is_ps(t) || !t->strategy_state)
        return 0;
    return ((const ps_state_t *)t->strategy_state)->violations;
}
