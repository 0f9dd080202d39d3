/*
 * tributary/ckpt.h - atomic, verified checkpoints of a distributed job (HDF5 + MPI).
 *
 * A checkpoint is a directory D/ckpt-<seq, 12 digits> holding one HDF5 file per
 * writing rank (part-<rank>.h5), a manifest written by rank 0 (manifest.h5:
 * format version, sequence number, part count, dataset fingerprint, the
 * declared configuration, global values and arrays) and a small text file SUMS
 * (size and CRC32C of every file, itself closed by its own CRC32C).  Every
 * dataset also carries the CRC32C of its bytes as an attribute, checked on
 * every read.  Why one file per rank and not one parallel-HDF5 file: see the
 * top comment of src/ckpt/writer.c (robustness, any rank can read any part,
 * and no MPI-IO on the file systems we target).
 *
 * Writing (collective over the communicator given to trib_ckpt_begin):
 *
 *     trib_ckpt_write_opts_t o = TRIB_CKPT_WRITE_OPTS_INIT;
 *     o.fingerprint = data_fingerprint;  o.keep = 3;
 *     trib_ckpt_writer_t *w;
 *     int rc = trib_ckpt_begin(comm, "run/ckpt", step, &o, &w);   // same rc on every rank
 *     if (rc == TRIB_OK) {
 *         trib_ckpt_write_array(w, "user_ids", TRIB_CKPT_U32, n_local, 0, ids);     // every rank
 *         trib_ckpt_write_array(w, "user_factors", TRIB_CKPT_F32, n_local, k, P);
 *         if (rank == 0) {                                                      // rank 0 only
 *             trib_ckpt_set_config(w, "k", "64");  trib_ckpt_set_config(w, "mode", "sync");
 *             trib_ckpt_set_int(w, "epoch", epoch);
 *             trib_ckpt_write_global_array(w, "item_factors", TRIB_CKPT_F32, n_items, k, Q);
 *         }
 *         rc = trib_ckpt_commit(w, NULL, 0);   // collective; same rc on every rank; frees w
 *     }
 *
 * A failing write call records its error in the writer and returns it; the
 * caller still calls trib_ckpt_commit() (or trib_ckpt_abort()) on every rank,
 * and commit then fails on every rank without committing anything.  The
 * checkpoint exists only after every rank's part is on disk (fsync) and the
 * ranks agreed: the temporary directory D/.tmp-ckpt-<seq> is then renamed to
 * D/ckpt-<seq> and D is fsynced.  A crash at any moment leaves either the
 * previous checkpoints only or the new one complete, plus possibly a
 * temporary directory that discovery ignores and removes.
 *
 * Resuming (`--resume auto` or `--resume PATH`):
 *
 *     trib_ckpt_expect_t ex = TRIB_CKPT_EXPECT_INIT;
 *     ex.fingerprint = data_fingerprint;  ex.config_keys = keys;  ex.config_values = vals;  ex.nconfig = 2;
 *     char path[4096];  uint64_t seq;
 *     rc = trib_ckpt_resolve_all(comm, "auto", "run/ckpt", &ex, path, sizeof path, &seq);  // collective
 *     // TRIB_ERR_NOT_FOUND: no checkpoint, start fresh; TRIB_ERR_CORRUPT: checkpoints, none valid (listed);
    // TRIB_ERR_INCOMPATIBLE: refuse (message says why)
 *     trib_ckpt_reader_t *r;
 *     rc = trib_ckpt_open(path, &ex, 0, &r);        // local: any rank, any number of ranks
 *     trib_ckpt_get_int(r, "epoch", &epoch);
 *     for (int p = 0; p < trib_ckpt_nparts(r); p++) { read "user_ids" and "user_factors" of part p,
 *                                                       keep the rows this rank owns now }
 *     trib_ckpt_close(r);
 *
 * A complete small example of a training loop with triggers, stop signals,
 * --resume and --fail-at is tests/ckpt/mini_trainer.c.  Use the global step
 * count as the sequence number: a resumed run then writes the same numbers
 * as the interrupted one and replaces them.
 *
 * D must be on a file system that every rank sees (each rank writes its part
 * into D, rank 0 renames); only one job at a time writes into D: a job holds
 * the lock D/LOCK (trib_ckpt_lock_acquire) while it uses D.
 *
 * Names of arrays, values and configuration keys: 1..63 characters from
 * [A-Za-z0-9_.-].  Arrays are 1-D (cols == 0) or 2-D row-major (rows x cols).
 * Reads never convert: the type asked for must be the type written.
 *
 * Exit-code convention: a job that wrote a checkpoint because it was asked to
 * stop (SIGTERM/SIGUSR1 from Slurm before a time limit or preemption) exits
 * with TRIB_EXIT_REQUEUE, "checkpointed, please requeue" (sysexits'
 * EX_TEMPFAIL).  trib-run relaunches on it with --resume auto (but exits 75
 * itself when it was the one signalled); the Slurm scripts requeue the job.
 * Exit code 2 (TRIB_EXIT_USAGE) means a usage error, never retried.
 *
 * Threads: the library is not thread-safe (HDF5 is built without
 * thread safety); call it from one thread per process.
 */
#ifndef TRIBUTARY_CKPT_H
#define TRIBUTARY_CKPT_H

#include <stddef.h>
#include <stdint.h>
#include <mpi.h>

#include "tributary/io.h" /* trib_crc32c */
#include "tributary/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exit status of a job that checkpointed on request and wants to be requeued (EX_TEMPFAIL). */
#define TRIB_EXIT_REQUEUE 75
/* Exit status of a command-line usage error: a launcher never retries it. */
#define TRIB_EXIT_USAGE 2

/* Version of the on-disk layout; a reader refuses any other version. */
#define TRIB_CKPT_FORMAT_VERSION 1

/* Longest name of an array, value or configuration key (without the NUL). */
#define TRIB_CKPT_NAME_MAX 63

/* Part index that designates the manifest's global arrays in the reader calls. */
#define TRIB_CKPT_GLOBAL (-1)

typedef enum {
    TRIB_CKPT_F32 = 1,
    TRIB_CKPT_F64 = 2,
    TRIB_CKPT_U32 = 3,
    TRIB_CKPT_U64 = 4,
    TRIB_CKPT_I64 = 5
} trib_ckpt_dtype_t;

/* Size in bytes of one element (0 for an unknown type) and a short name ("f32", ...). */
TRIB_API size_t trib_ckpt_dtype_size(trib_ckpt_dtype_t t);
TRIB_API const char *trib_ckpt_dtype_name(trib_ckpt_dtype_t t);

/* ------------------------------------------------------------------ writing */

typedef struct {
    const char *fingerprint; /* dataset fingerprint stored in the manifest (NULL: "") */
    unsigned keep;           /* after a commit, keep the newest `keep` checkpoints (0: keep all) */
    int durable;             /* 1: fsync files and directories (default); 0: skip (tests on tmpfs) */
} trib_ckpt_write_opts_t;

#define TRIB_CKPT_WRITE_OPTS_INIT {NULL, 0, 1}

typedef struct trib_ckpt_writer trib_ckpt_writer_t;

/*
 * Collective: starts checkpoint `seq` in directory `dir` (created if absent).
 * Rank 0 creates the temporary directory; every rank creates its part file.
 * Returns the same status on every rank; on failure *out is NULL and nothing
 * is left behind.  `opts` may be NULL (defaults).  Arguments must agree across ranks.
 */
TRIB_API int trib_ckpt_begin(MPI_Comm comm, const char *dir, uint64_t seq,
                             const trib_ckpt_write_opts_t *opts, trib_ckpt_writer_t **out);

/* Local: adds an array to this rank's part (rows x cols, cols == 0 for 1-D). */
TRIB_API int trib_ckpt_write_array(trib_ckpt_writer_t *w, const char *name, trib_ckpt_dtype_t t,
                                   size_t rows, size_t cols, const void *data);

/* Rank 0 only (TRIB_ERR_STATE elsewhere): global arrays and values in the manifest. */
TRIB_API int trib_ckpt_write_global_array(trib_ckpt_writer_t *w, const char *name,
                                          trib_ckpt_dtype_t t, size_t rows, size_t cols,
                                          const void *data);
TRIB_API int trib_ckpt_set_int(trib_ckpt_writer_t *w, const char *name, int64_t value);
TRIB_API int trib_ckpt_set_double(trib_ckpt_writer_t *w, const char *name, double value);
TRIB_API int trib_ckpt_set_string(trib_ckpt_writer_t *w, const char *name, const char *value);
/* A configuration entry that a resuming job may require to match (e.g. "k", "mode"). */
TRIB_API int trib_ckpt_set_config(trib_ckpt_writer_t *w, const char *key, const char *value);

/*
 * Collective: closes and fsyncs every part, agrees that every rank succeeded,
 * writes the manifest and SUMS, renames the temporary directory into place,
 * fsyncs `dir`, then applies retention.  Returns the same status on every
 * rank (the failing rank's message is broadcast).  Frees `w` in every case.
 * If `path_out` is not NULL, the committed directory's path is copied there.
 */
TRIB_API int trib_ckpt_commit(trib_ckpt_writer_t *w, char *path_out, size_t path_cap);

/* Collective: abandons the checkpoint, removes the temporary directory, frees `w`. */
TRIB_API int trib_ckpt_abort(trib_ckpt_writer_t *w);

/* ---------------------------------------------------------- compatibility */

typedef struct {
    const char *fingerprint;          /* NULL: not checked */
    const char *const *config_keys;   /* nconfig keys that must match ... */
    const char *const *config_values; /* ... these values */
    size_t nconfig;
} trib_ckpt_expect_t;

#define TRIB_CKPT_EXPECT_INIT {NULL, NULL, NULL, 0}

/* -------------------------------------------------------------- discovery */

/*
 * Local: the newest valid checkpoint in `dir`.  Candidates are tried from the
 * highest sequence number down; one that is torn, truncated or corrupt (any
 * file's size or CRC32C differs from SUMS, manifest unreadable, a part
 * missing) is skipped with a warning.  Leftover temporary directories are
 * removed (call it only while no job writes into `dir`).
 * Returns TRIB_OK and the path/sequence, TRIB_ERR_NOT_FOUND when `dir` holds
 * no checkpoint (start fresh), TRIB_ERR_CORRUPT when it holds checkpoints but
 * none is valid (the message lists them; they are kept), or TRIB_ERR_INCOMPATIBLE when the newest
 * valid one does not match `expect` (format version, fingerprint, config).
 * `expect` may be NULL; `seq` may be NULL.
 */
TRIB_API int trib_ckpt_find_latest(const char *dir, const trib_ckpt_expect_t *expect, char *path,
                                   size_t path_cap, uint64_t *seq);

/* Collective: rank 0 runs trib_ckpt_find_latest and broadcasts result, path and message. */
TRIB_API int trib_ckpt_find_latest_all(MPI_Comm comm, const char *dir,
                                       const trib_ckpt_expect_t *expect, char *path,
                                       size_t path_cap, uint64_t *seq);

/*
 * Collective: what `--resume SPEC` means, decided on rank 0 and broadcast.
 *   SPEC "auto" (or NULL): the newest valid checkpoint in `dir`
 *       (TRIB_ERR_NOT_FOUND: none, start fresh; TRIB_ERR_CORRUPT: checkpoints
 *       but none valid, listed in the message and kept);
 *   SPEC a checkpoint (a ckpt-<seq> directory): that one, fully verified and
 *       checked against `expect`; damaged: TRIB_ERR_CORRUPT, no fall-back
 *       (the user asked for this one);
 *   SPEC another directory: the newest valid checkpoint in it.
 */
TRIB_API int trib_ckpt_resolve_all(MPI_Comm comm, const char *resume, const char *dir,
                                   const trib_ckpt_expect_t *expect, char *path, size_t path_cap,
                                   uint64_t *seq);

/* Local: full validation of one checkpoint directory (sizes, CRC32C of every file, manifest). */
TRIB_API int trib_ckpt_validate(const char *path);

/*
 * Local: keeps the newest `keep` committed checkpoints in `dir`, deletes older
 * ones (keep == 0 keeps all) and leftovers of interrupted writes.
 * trib_ckpt_commit does the same after each commit (for checkpoints up to the
 * new one).
 */
TRIB_API int trib_ckpt_retain(const char *dir, unsigned keep);

/* ------------------------------------------------- directory lock and listing */

typedef struct trib_ckpt_lock trib_ckpt_lock_t;

/*
 * Local (one process per job, e.g. rank 0): creates `dir` if needed and takes
 * its lock: an exclusive flock() on dir/LOCK, which holds "<pid> <host>".
 * The lock dies with its process, so a crashed job's lock is free.  Held by
 * another process for more than 10 s: TRIB_ERR_EXISTS with "checkpoint
 * directory D is in use by PID p on host h".  Where the file system has no
 * flock(), a lock of this host whose PID is gone is taken over.
 */
TRIB_API int trib_ckpt_lock_acquire(const char *dir, trib_ckpt_lock_t **out);
/* Removes the lock file and frees `l` (NULL: nothing). */
TRIB_API void trib_ckpt_lock_release(trib_ckpt_lock_t *l);

/*
 * Local: the committed checkpoint directories (ckpt-<seq>) in `dir`, valid
 * or not: *count of them and, when cap > 0, their names separated by ", "
 * (cut with "..." when they do not fit).  A missing `dir` holds none.
 */
TRIB_API int trib_ckpt_list(const char *dir, char *names, size_t cap, size_t *count);
/* Local: deletes every checkpoint in `dir` and the debris of interrupted writes (not the lock). */
TRIB_API int trib_ckpt_remove_all(const char *dir);

/* ---------------------------------------------------------------- reading */

typedef struct trib_ckpt_reader trib_ckpt_reader_t;

/* Verify every file's size and CRC32C against SUMS when opening (reads everything once). */
#define TRIB_CKPT_OPEN_VERIFY_FILES 1u

typedef struct {
    trib_ckpt_dtype_t dtype;
    unsigned ndim; /* 1 or 2 */
    size_t rows;   /* length of a 1-D array */
    size_t cols;   /* 0 for a 1-D array */
} trib_ckpt_array_info_t;

/*
 * Local: opens a committed checkpoint directory, checks the format version
 * and `expect` (may be NULL).  Every array read checks its dataset CRC32C.
 */
TRIB_API int trib_ckpt_open(const char *path, const trib_ckpt_expect_t *expect, unsigned flags,
                            trib_ckpt_reader_t **out);
TRIB_API void trib_ckpt_close(trib_ckpt_reader_t *r);

/* Refuses (TRIB_ERR_INCOMPATIBLE, with the reason) a checkpoint that does not match. */
TRIB_API int trib_ckpt_check(const trib_ckpt_reader_t *r, const trib_ckpt_expect_t *expect);

TRIB_API uint64_t trib_ckpt_seq(const trib_ckpt_reader_t *r);
/* Number of parts = number of ranks that wrote the checkpoint. */
TRIB_API int trib_ckpt_nparts(const trib_ckpt_reader_t *r);
TRIB_API const char *trib_ckpt_path(const trib_ckpt_reader_t *r);
TRIB_API const char *trib_ckpt_fingerprint(const trib_ckpt_reader_t *r);

/* Global values (TRIB_ERR_NOT_FOUND when absent, TRIB_ERR_INCOMPATIBLE for another type). */
TRIB_API int trib_ckpt_get_int(trib_ckpt_reader_t *r, const char *name, int64_t *value);
TRIB_API int trib_ckpt_get_double(trib_ckpt_reader_t *r, const char *name, double *value);
/* *value is malloc'd and NUL-terminated; release it with free(). */
TRIB_API int trib_ckpt_get_string(trib_ckpt_reader_t *r, const char *name, char **value);
TRIB_API int trib_ckpt_get_config(trib_ckpt_reader_t *r, const char *key, char **value);

/*
 * Arrays of part `part` (0 .. nparts-1) or of the manifest (TRIB_CKPT_GLOBAL).
 * trib_ckpt_array_count/name enumerate them in name order; the name stays
 * valid until trib_ckpt_close.
 */
TRIB_API int trib_ckpt_array_count(trib_ckpt_reader_t *r, int part, size_t *count);
TRIB_API int trib_ckpt_array_name(trib_ckpt_reader_t *r, int part, size_t index, const char **name);
TRIB_API int trib_ckpt_array_info(trib_ckpt_reader_t *r, int part, const char *name,
                                  trib_ckpt_array_info_t *info);
/* Reads the whole array into buf (count == rows * max(cols,1) elements of type t) and checks its CRC32C. */
TRIB_API int trib_ckpt_read_array(trib_ckpt_reader_t *r, int part, const char *name,
                                  trib_ckpt_dtype_t t, void *buf, size_t count);

/* ------------------------------------------------- triggers and stop requests */

/*
 * When to checkpoint: `--checkpoint-every {N epochs | N steps | T seconds | auto}`.
 * Epoch and step counts are the same on every rank; a time interval (and
 * auto) is decided by rank 0's clock and broadcast, so all ranks agree.
 *
 * auto: after an epoch, unless the time since the end of the last checkpoint
 * is below TRIB_CKPT_AUTO_SPACING times what that checkpoint took (reported
 * with trib_ckpt_trigger_cost).  Periodic checkpoints then take at most
 * 1 / (1 + TRIB_CKPT_AUTO_SPACING) = 1% of the run, which leaves room for the
 * first one (after epoch 1, cost unknown until then) and the one at the end
 * within a 2% budget, and at most max(one epoch, 99 x the write time) of work
 * is lost.  With epochs longer than 99 x the write time it is exactly "every
 * epoch".
 */
typedef enum {
    TRIB_CKPT_EVERY_NEVER = 0,
    TRIB_CKPT_EVERY_EPOCHS = 1,
    TRIB_CKPT_EVERY_STEPS = 2,
    TRIB_CKPT_EVERY_SECONDS = 3,
    TRIB_CKPT_EVERY_AUTO = 4
} trib_ckpt_every_unit_t;

#define TRIB_CKPT_AUTO_SPACING 99.0

typedef struct {
    trib_ckpt_every_unit_t unit;
    uint64_t count;  /* epochs or steps */
    double seconds;  /* TRIB_CKPT_EVERY_SECONDS */
} trib_ckpt_every_t;

/*
 * Parses "2 epochs", "1epoch", "500 steps", "90s", "90 seconds", "15m", "15 min",
 * "2h", "auto", "never" (a bare number means epochs).  TRIB_ERR_INVALID_ARG with
 * the reason otherwise.
 */
TRIB_API int trib_ckpt_every_parse(const char *text, trib_ckpt_every_t *out);

typedef struct {
    trib_ckpt_every_t every;
    uint64_t last_epoch, last_step; /* counters at the last checkpoint (or the start/resume) */
    double last_time;
    double last_cost; /* seconds the last checkpoint took (trib_ckpt_trigger_cost; 0: none yet) */
} trib_ckpt_trigger_t;

/* Starts counting from (epoch, step, now): a fresh start or the resumed checkpoint's counters. */
TRIB_API void trib_ckpt_trigger_init(trib_ckpt_trigger_t *t, const trib_ckpt_every_t *every, uint64_t epoch,
                                     uint64_t step, double now);
/*
 * Collective for time intervals (rank 0 decides, MPI_Bcast), local otherwise:
 * *due = 1 when a checkpoint is due after `epoch` completed epochs and `step`
 * completed steps.  Call it at the same points on every rank (after each
 * step); when it says due and the checkpoint committed, call
 * trib_ckpt_trigger_taken.
 */
TRIB_API int trib_ckpt_trigger_due(trib_ckpt_trigger_t *t, MPI_Comm comm, uint64_t epoch, uint64_t step,
                                   double now, int *due);
TRIB_API void trib_ckpt_trigger_taken(trib_ckpt_trigger_t *t, uint64_t epoch, uint64_t step, double now);
/* How long the checkpoint just taken took (seconds; rank 0's figure decides): what auto spaces by. */
TRIB_API void trib_ckpt_trigger_cost(trib_ckpt_trigger_t *t, double seconds);

/*
 * Stop requests: SIGTERM and SIGUSR1 (what Slurm sends before a time limit or
 * a preemption), and SIGINT, only set a flag (the handler is async-signal-safe
 * and installed with SA_RESTART, so interrupted I/O resumes).  SIGINT stops a
 * run without asking for a requeue.  The epoch loop asks
 * trib_ckpt_stop_requested_all after each step; when it says stop: finish,
 * checkpoint, exit TRIB_EXIT_REQUEUE.  Installing is the application's choice.
 */
TRIB_API int trib_ckpt_stop_signals_install(void);
/* The first stop signal received (SIGTERM, SIGUSR1 or SIGINT), 0 when none; local. */
TRIB_API int trib_ckpt_stop_requested(void);
/* Collective (MPI_Allreduce): *stop = the signal number if any rank received one, else 0. */
TRIB_API int trib_ckpt_stop_requested_all(MPI_Comm comm, int *stop);
/* Forgets a received request (tests; a job that decided to ignore it). */
TRIB_API void trib_ckpt_stop_clear(void);

#ifdef __cplusplus
}
#endif
#endif /* TRIBUTARY_CKPT_H */
