/*
 * tributary/ps.h - the parameter server: roles, row partitioning, and the
 * server and client objects that speak its protocol.
 *
 * Roles.  A job of P ranks has W = P - S workers and S servers: workers are
 * ranks 0 .. W-1 of the communicator, servers the LAST S ranks (W .. P-1).
 * Keeping rank 0 a worker means rank 0 still owns users, prints, and writes
 * the model file exactly as in sync mode, and worker w is simply rank w.
 *
 * Partitioning.  A table of n rows (item factors, biases and AdaGrad sums, a
 * trib_mf_block_t) is cut into S contiguous ranges, server j holding rows
 * [j*n/S, (j+1)*n/S).  Ranges rather than a hash: the owner of a row is one
 * division, a server's share is one block whose row r is global row first+r
 * (so a checkpoint or the final model is a concatenation), and a sorted
 * request splits into one contiguous run per server.  Dense item ids are
 * assigned in ascending order of the original id, which carries no
 * popularity order in synthetic data (popularity ranks are shuffled over ids);
 * on real data where ids correlate with popularity a hash would spread the
 * request load better at the price of scattered blocks.
 *
 * Protocol.  Servers and workers exchange versioned binary messages (pull,
 * reply, push, done) on fixed tags of the communicator in
 * trib_ps_options_t.comm; the wire format is internal to the library
 * (src/train/ps_wire.h).  Give them a communicator used for nothing else:
 * the trainer passes its private duplicate of the caller's.
 *
 * Consistency.  clock(w) = clocks worker w has finished.  A pull by a worker
 * at clock c is answered when every worker finished clock c - s - 1
 * (min_w clock(w) >= c - s), so the reply includes every worker's updates up
 * to clock c - s - 1 (ssp, Petuum's stale-synchronous parallel); bsp is ssp
 * with s = 0, async answers at once.  In bsp a server also applies the pushes
 * of a clock only when the clock is complete, in (clock, worker) order, so a
 * run is deterministic.  Clocks run on across epochs: workers are not held at
 * an epoch's end (a server round, trib_ps_server_serve_round, lasts until the
 * slowest worker finished the round's epoch); servers keep a snapshot of their
 * rows each time every worker finished another epoch.  With work sharing
 * (chunks_per_epoch > 0) every chunk is a clock of the job instead: a pull for
 * the chunk handed out g-th in the round (trib_ps_client_set_chunk) is answered
 * once this server has the END_CLOCK pushes of every chunk before g - s, so its
 * reply lacks the updates of at most s chunks handed out before it (ssp; async
 * answers at once).  With check_staleness
 * the server verifies the bound at every answered pull (against `staleness`
 * also in async mode, where it then counts how often async exceeded it) and
 * counts violations.
 */
#ifndef TRIBUTARY_PS_H
#define TRIBUTARY_PS_H

#include <mpi.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "tributary/mf.h"
#include "tributary/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ consistency */

typedef enum {
    TRIB_PS_ASYNC = 0, /* never wait: stale reads allowed */
    TRIB_PS_BSP = 1,   /* bulk-synchronous: ssp with staleness 0, deterministic */
    TRIB_PS_SSP = 2    /* stale-synchronous with bound `staleness` */
} trib_ps_consistency_t;

TRIB_API const char *trib_ps_consistency_name(trib_ps_consistency_t c);
/* "async" | "bsp" | "ssp". */
TRIB_API int trib_ps_consistency_parse(const char *name, trib_ps_consistency_t *out);

/* ------------------------------------------------------------------ roles and rows */

/* Ranks [n_ranks - n_servers, n_ranks) are servers; the others workers (worker w = rank w). */
TRIB_API int trib_ps_is_server(int rank, int n_ranks, int n_servers);
/* Rows [*first, *end) of server j out of n_servers (contiguous ranges). */
TRIB_API void trib_ps_server_rows(uint64_t n_rows, int n_servers, int j, uint64_t *first, uint64_t *end);
/* The server holding a row. */
TRIB_API int trib_ps_server_of(uint64_t n_rows, int n_servers, uint64_t row);

/* ------------------------------------------------------------------ options */

typedef struct {
    MPI_Comm comm;         /* every rank (workers first, then servers) */
    int n_workers;         /* W >= 1 */
    int n_servers;         /* S >= 1 */
    uint64_t n_rows;       /* rows of the whole table */
    size_t k;              /* factors per row */
    trib_ps_consistency_t consistency;
    int staleness;         /* ssp bound s >= 0 (bsp: ignored, 0) */
    int check_staleness;   /* 1: servers verify the bound at every pull and count violations */
    float scale;           /* servers add scale x each pushed delta: 1 = delta summation, 1/W = model
                              averaging (what sync mode's --sync-method average does to a round) */
    int idle_sleep;        /* how a rank waits for messages: 0 = inside MPI_Probe / MPI_Waitall (Open MPI
                              polls there, yielding the core only under mpi_yield_when_idle); 1 = MPI_Iprobe /
                              MPI_Testall with sleeps growing from 5 us to 200 us, which really frees the core
                              when ranks outnumber cores (trib-train also rings a rank of the same node awake
                              when it sends it a message, so its sleeps end at once) */
    uint64_t clocks_per_epoch; /* > 0: a server keeps a snapshot of its rows each time every worker has
                              finished an epoch (min clock a multiple of it); 0: no snapshots */
    /* Work sharing (async or ssp; 0 = off, the default).  > 0: an epoch is this many chunks of one shared
     * pass over the data, and server 0 hands them out (trib_ps_client_claim): any worker may train any
     * chunk, so fast workers take over the work of slow ones.  A round then ends when every chunk of its
     * epoch is done (not at a clock), and every server keeps its snapshot at the round's end. */
    uint64_t chunks_per_epoch;
    /* > 0: rows [scaled_rows, n_rows) get a pushed delta with scale 1 (rows only one worker trains at a
     * time, such as user rows under work sharing); 0: every row gets `scale`. */
    uint64_t scaled_rows;
} trib_ps_options_t;

/* Floats per row on the wire: k factors, bias, AdaGrad sum. */
#define TRIB_PS_ROW_FLOATS(k) ((k) + 2)

/* The staleness a server enforces (ssp: s, bsp: 0, async: none, -1). */
TRIB_API int trib_ps_effective_staleness(const trib_ps_options_t *o);

/* ------------------------------------------------------------------ server */

typedef struct trib_ps_server trib_ps_server_t;

/* Per-phase counters of one server. */
typedef struct {
    uint64_t pulls, pushes, rows_served, rows_updated;
    uint64_t deferred;        /* pulls that had to wait for a slower worker */
    uint64_t violations;      /* check_staleness: answered pulls outside the bound */
    int64_t max_staleness;    /* largest c - min clock seen at an answered pull (clocks of missing updates;
                                 work sharing: chunk g - the chunks [0, wm) all pushed here) */
    double busy_seconds;      /* handling messages (not waiting for them) */
} trib_ps_server_stats_t;

/*
 * Server j of o->n_servers (its MPI rank is W + j).  Its block holds its rows
 * with ids = global row numbers, zeroed; the caller initialises it (e.g.
 * trib_mf_block_init_values, which keys values by global id).
 */
TRIB_API int trib_ps_server_create(const trib_ps_options_t *o, int j, trib_ps_server_t **out);
TRIB_API void trib_ps_server_destroy(trib_ps_server_t *s);
TRIB_API trib_mf_block_t *trib_ps_server_block(trib_ps_server_t *s);
/*
 * Clocks and snapshots (the run's start, or a resume): every worker is at clock
 * `clock` (a multiple of clocks_per_epoch), held pushes and snapshots are
 * dropped, and the current rows become the snapshot of epoch
 * clock / clocks_per_epoch - 1 (-1: the start).
 */
TRIB_API void trib_ps_server_restart(trib_ps_server_t *s, int64_t clock);
/*
 * One round of training (the loop's `epoch`): workers run free, each at its own
 * clock and epoch, while the server answers pulls (at once, or when the
 * consistency model allows), applies pushes (bsp: a clock's pushes once the
 * clock is complete) and takes a snapshot of its rows whenever every worker
 * has finished another epoch.  It sends every worker a NOTICE (pause at your
 * next mini-batch) once every worker has finished `epoch`, once *stop is set
 * (may be NULL), or once any worker paused, and returns when every worker
 * paused.  Deferred pulls left when every worker either paused or waits are
 * answered with RETRY.  *complete = 1 when every worker finished `epoch` (the
 * snapshot of `epoch` exists).  Clocks, held bsp pushes and snapshots carry
 * over to the next round.  Bad messages: as trib_ps_server_serve_settle.
 */
TRIB_API int trib_ps_server_serve_round(trib_ps_server_t *s, uint32_t epoch, volatile sig_atomic_t *stop,
                                        int *complete);
/* The rows when every worker had finished `epoch` (-1: the start), or NULL when there is none (yet). */
TRIB_API const trib_mf_block_t *trib_ps_server_snapshot(const trib_ps_server_t *s, int64_t epoch);
/* Drops the snapshots of epochs before `epoch`. */
TRIB_API void trib_ps_server_drop_snapshots(trib_ps_server_t *s, int64_t epoch);
/*
 * A settle phase: answers pulls at once (no clocks, pushes are an error) until
 * every worker sent DONE, from the snapshot of epoch `epoch` - 1 when there is
 * one, else from the current rows.  A bad message is answered (if it was a
 * pull) with an error reply, the server keeps serving until the phase ends,
 * then returns TRIB_ERR_PROTOCOL naming the sender.
 */
TRIB_API int trib_ps_server_serve_settle(trib_ps_server_t *s, uint32_t epoch);
/* Counters since the last call (then reset). */
TRIB_API void trib_ps_server_take_stats(trib_ps_server_t *s, trib_ps_server_stats_t *out);

/* ------------------------------------------------------------------ client (worker side) */

typedef struct trib_ps_client trib_ps_client_t;

/*
 * Worker w's connection to every server.  `cache` is the worker's copy of the
 * whole table (n_rows rows of k): pulls write into it.
 */
TRIB_API int trib_ps_client_create(const trib_ps_options_t *o, int w, trib_mf_block_t *cache,
                                   trib_ps_client_t **out);
TRIB_API void trib_ps_client_destroy(trib_ps_client_t *c);
/*
 * Starts a round of training (settle = 0) at `clock`, or a settle phase (settle
 * = 1, the clock is kept); `epoch` is the round (settle: the next epoch).
 */
TRIB_API void trib_ps_client_begin(trib_ps_client_t *c, uint32_t epoch, int64_t clock, int settle);
TRIB_API int64_t trib_ps_client_clock(const trib_ps_client_t *c);
/*
 * Work sharing: the chunk (its position in the round's hand-out order, as granted) that the next
 * pulls and pushes are for, until set again; -1 (the default after trib_ps_client_begin): none.
 * Under ssp the servers answer a pull for chunk g once they hold the pushes of every chunk before
 * g - s.  In a round with work sharing every pull and push must name its chunk.
 */
TRIB_API void trib_ps_client_set_chunk(trib_ps_client_t *c, int64_t chunk);
/* 1 once a reply of the current round carried TRIB_PS_FLAG_BOUND_HIT (reset by trib_ps_client_begin). */
TRIB_API int trib_ps_client_bound_hit(const trib_ps_client_t *c);
/*
 * Fetches rows[0..n) (ascending, unique) into the cache: one PULL per server
 * that holds any of them, posted receives first, then waits for every reply
 * (the servers delay them as the consistency model requires).  When a server
 * is pausing (a reply flagged PAUSING, or RETRY for a pull it could not
 * serve) trib_ps_client_retry is 1: the caller does not use the rows and
 * pauses (rows that came are written to the cache all the same).
 */
TRIB_API int trib_ps_client_pull(trib_ps_client_t *c, const uint32_t *rows, size_t n);
/* The same in two steps, so a pull can travel while the caller computes; rows must stay valid until the finish. */
TRIB_API int trib_ps_client_pull_start(trib_ps_client_t *c, const uint32_t *rows, size_t n);
TRIB_API int trib_ps_client_pull_finish(trib_ps_client_t *c);
/*
 * A pull for the next clock (the caller is at clock c and will push the clock's last deltas
 * before it finishes the pull): the servers answer it as a pull at clock c + 1 (ssp/bsp: when
 * every worker finished clock c + 1 - s), possibly before this worker's last push arrived; then
 * trib_ps_client_reply_own says 0 for the rows of that server, and the caller adds its own push.
 */
TRIB_API int trib_ps_client_pull_ahead(trib_ps_client_t *c, const uint32_t *rows, size_t n);
/* After a finished pull: 1 when the server holding `row` answered with this worker's earlier pushes included. */
TRIB_API int trib_ps_client_reply_own(const trib_ps_client_t *c, uint32_t row);
/* 1 when a pull is started and not finished. */
TRIB_API int trib_ps_client_pull_pending(const trib_ps_client_t *c);
/* 1 when the last finished pull was answered RETRY by some server. */
TRIB_API int trib_ps_client_retry(const trib_ps_client_t *c);
/*
 * Sends deltas[i * (k+2) ..] for rows[0..n) (ascending, unique): one PUSH per
 * server holding any of them; with end_clock, one to every server (empty
 * where nothing is due) and the clock advances.  Does not wait for the
 * servers: the message buffers are double, a push waits only for the one
 * before the previous to have left.
 */
TRIB_API int trib_ps_client_push(trib_ps_client_t *c, const uint32_t *rows, size_t n, const float *deltas,
                                 int end_clock);
/*
 * Work sharing (options.chunks_per_epoch > 0): asks server 0 for a chunk of the round's epoch,
 * reporting `done` (the chunk this worker finished since its last claim, its pushes already sent;
 * -1: none).  *chunk = the chunk to train next, or -1: nothing for this worker (every chunk is
 * handed out, or the rest goes faster on the other workers): wait for the round's notice; or -2
 * (a worker far slower than the others, asked while it holds a chunk): none now, claim again after
 * finishing the chunk in hand.
 */
TRIB_API int trib_ps_client_claim(trib_ps_client_t *c, int64_t done, int64_t *chunk);
/*
 * The same in two steps, so the answer travels while the worker trains: the chunk granted comes
 * after every chunk the worker was given and has not reported (server 0 counts on it finishing
 * those first).  One claim at a time; trib_ps_client_claiming says whether one is in flight.
 */
TRIB_API int trib_ps_client_claim_start(trib_ps_client_t *c, int64_t done);
TRIB_API int trib_ps_client_claim_finish(trib_ps_client_t *c, int64_t *chunk);
TRIB_API int trib_ps_client_claiming(const trib_ps_client_t *c);
/* The number of NOTICEs received this round, after taking any that arrived (never blocks). */
TRIB_API int trib_ps_client_poll_notice(trib_ps_client_t *c, int *count);
/* Blocks until at least one NOTICE of this round arrived. */
TRIB_API int trib_ps_client_wait_notice(trib_ps_client_t *c);
/*
 * Ends the worker's round: finishes a started pull (its rows are written, the
 * caller decides what they are worth), lets every push leave, sends PAUSE to
 * every server and waits for every server's NOTICE.  Call it even after an
 * error, so no server waits.
 */
TRIB_API int trib_ps_client_pause(trib_ps_client_t *c);
/* Ends a settle phase: DONE to every server.  Call it even after an error, so no server waits. */
TRIB_API int trib_ps_client_done(trib_ps_client_t *c);

/* ------------------------------------------------------------------ trainer figures */

struct trib_trainer;

/* The last PS epoch's figures, identical on every rank (trib_trainer_run, mode ps). */
typedef struct {
    int n_workers, n_servers;
    uint64_t batches_per_epoch, clocks_per_epoch;
    /* per worker (n_workers entries, valid until the next epoch): */
    const double *worker_ratings_per_s; /* ratings the worker updated / its epoch wall time */
    const double *worker_wait_seconds;  /* time blocked in pulls and pushes */
    const double *worker_epochs_done;   /* epochs (and fraction of one) the worker had done at the round's end;
                                           with work sharing: the ratings it trained in the run over its
                                           share of a pass (n / W), so a fast worker shows more than one
                                           epoch per round and a straggler less */
    const double *worker_batches;       /* mini-batches (chunks) the worker ran in the round */
    /* summed over servers: */
    uint64_t pulls, deferred, violations;
    int64_t max_staleness;
} trib_ps_epoch_stats_t;

/* TRIB_ERR_STATE unless the trainer runs in ps mode and finished an epoch. */
TRIB_API int trib_trainer_ps_stats(const struct trib_trainer *t, trib_ps_epoch_stats_t *out);
/* Violations of the staleness bound counted over the whole run (check_staleness). */
TRIB_API uint64_t trib_trainer_ps_violations(const struct trib_trainer *t);

#ifdef __cplusplus
}
#endif
#endif /* TRIBUTARY_PS_H */
