/*
 * pmpi.c - libtributary_mpi: MPI_Allreduce served by Tributary through the
 * MPI profiling interface, for programs that were written against plain MPI.
 *
 *   LD_PRELOAD=.../libtributary_mpi.so mpirun -n 4 ./app     (no rebuild)
 *   mpicc app.c -ltributary_mpi                              (or link it)
 *
 * Every MPI library also exports each function as PMPI_<name>; a library
 * that defines MPI_Allreduce itself and calls PMPI_* inside sits between the
 * program and MPI.  This one defines exactly two symbols (a version script
 * hides everything else, including the allreduce library linked into it):
 *
 *   MPI_Allreduce  on an intra-communicator other than MPI_COMM_SELF:
 *                  trib_allreduce's machinery (same algorithms, selector,
 *                  TRIB_ALLREDUCE_ALGO / TRIB_TUNING_FILE / TRIB_CHECK,
 *                  which, like TRIB_PMPI and TRIB_LOG_LEVEL, are read once,
 *                  at the first call: a scan of the environment per call
 *                  cost more than the rest of the call's overhead);
 *                  passed to PMPI_Allreduce unchanged when
 *                    - TRIB_PMPI=off (read once, at the first call),
 *                    - the communicator is MPI_COMM_SELF or an
 *                      inter-communicator (MPI's semantics there differ
 *                      from an allreduce over one group),
 *                    - the call is Tributary's own (its algorithms and check
 *                      mode call MPI_Allreduce on private communicators; a
 *                      per-thread depth counter sends those to MPI),
 *                    - Tributary rejects the arguments before any traffic
 *                      (e.g. what MPI itself would reject, or a forced
 *                      algorithm that cannot serve the call): MPI then
 *                      reports the error its own way, through the
 *                      communicator's error handler.
 *                  A failure after traffic began (TRIB_ERR_MPI, out of
 *                  memory) is logged and raised as MPI_ERR_OTHER through the
 *                  communicator's error handler, as MPI would.
 *   MPI_Iallreduce the same choice of what to serve, started with
 *                  trib_iallreduce_ex; the caller gets a generalized request
 *                  (MPI_Grequest_start), which MPI lets only us complete.
 *                  MPI calls no hook of ours while a program waits, so the
 *                  completion calls are interposed too -- MPI_Wait, MPI_Test,
 *                  and their all/any/some forms: while any of our requests
 *                  is pending they first advance every pending one
 *                  (trib_test) and mark those done complete
 *                  (MPI_Grequest_complete), waiting for ours when the call
 *                  waits, then hand the call to PMPI unchanged; with none
 *                  pending they go to PMPI at once.  Progress therefore
 *                  happens inside these calls, MPI_Iallreduce and
 *                  MPI_Allreduce (the rule of tributary/allreduce.h).  A
 *                  Tributary error surfaces as MPI_ERR_OTHER from the
 *                  completing call (the query function's status).
 *   MPI_Finalize   with TRIB_LOG_LEVEL=info (or debug), rank 0 of
 *                  MPI_COMM_WORLD logs a summary on stderr: calls, bytes,
 *                  time per algorithm, and the calls passed to MPI by
 *                  reason.  The figures are rank 0's own.  Then
 *                  PMPI_Finalize.
 *
 * Counters are plain (not atomic): with MPI_THREAD_MULTIPLE and concurrent
 * allreduces from several threads the summary may undercount; results are
 * unaffected.  The list of pending non-blocking requests is not locked
 * either: MPI_Iallreduce and the completion calls of those requests must
 * come from one thread at a time.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "coll/coll_internal.h"
#include "core/log.h"
#include "core/timer.h"
#include "tributary/allreduce.h"

typedef struct {
    unsigned long long calls;
    double bytes;
    double seconds;
} stat_t;

/* Why a call went to MPI unchanged. */
enum { PASS_SELF, PASS_INTER, PASS_OFF, PASS_REJECTED, PASS_N };
static const char *const pass_name[PASS_N] = {"MPI_COMM_SELF", "inter-communicator", "TRIB_PMPI=off",
                                              "not served by Tributary"};

static stat_t served[TRIB_ALGO_COUNT]; /* [TRIB_ALGO_AUTO]: count 0 or a one-rank communicator */
static unsigned long long passed[PASS_N];
static int enabled = -1;        /* -1: TRIB_PMPI not read yet */
static int accounting;          /* bytes and time per call: only for the summary (TRIB_LOG_LEVEL=info) */
static _Thread_local TRIB_FAST_TLS int depth; /* > 0 while Tributary runs on this thread */

static int pmpi_enabled(void)
{
    if (enabled < 0) {
        const char *env = getenv("TRIB_PMPI");
        enabled = !(env && (strcmp(env, "off") == 0 || strcmp(env, "0") == 0));
        trib_coll_env_freeze(); /* TRIB_ALLREDUCE_ALGO, TRIB_TUNING_FILE, TRIB_CHECK: read once, now */
        accounting = trib_log_level() >= TRIB_LOG_INFO;
    }
    return enabled;
}

/* Adds a served call to s: bytes and time only when the summary will be printed (info level). */
static void account(stat_t *s, int count, MPI_Datatype type, double t0)
{
    s->calls++;
    if (!accounting)
        return;
    int size = 0;
    if (PMPI_Type_size(type, &size) != MPI_SUCCESS)
        size = 0;
    s->bytes += (double)count * size;
    s->seconds += trib_now() - t0;
}

static int pass(int why, const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm)
{
    passed[why]++;
    return PMPI_Allreduce(sendbuf, recvbuf, count, type, op, comm);
}

int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm)
{
    if (depth > 0)
        return PMPI_Allreduce(sendbuf, recvbuf, count, type, op, comm);
    if (!pmpi_enabled())
        return pass(PASS_OFF, sendbuf, recvbuf, count, type, op, comm);
    if (comm == MPI_COMM_SELF)
        return pass(PASS_SELF, sendbuf, recvbuf, count, type, op, comm);
    int inter = 0;
    if (comm == MPI_COMM_NULL || count < 0 || PMPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS)
        return pass(PASS_REJECTED, sendbuf, recvbuf, count, type, op, comm); /* MPI reports the error */
    if (inter)
        return pass(PASS_INTER, sendbuf, recvbuf, count, type, op, comm);

    double t0 = accounting ? trib_now() : 0.0;
    trib_coll_report_t rep;
    depth++;
    int rc = trib_coll_allreduce(sendbuf, recvbuf, (size_t)count, type, op, comm, NULL, &rep);
    depth--;
    if (rc != TRIB_OK && rep.rejected) {
        trib_log(TRIB_LOG_DEBUG, "MPI_Allreduce passed to MPI: %s", trib_last_error(rc));
        return pass(PASS_REJECTED, sendbuf, recvbuf, count, type, op, comm);
    }
    if (rc != TRIB_OK) {
        trib_log(TRIB_LOG_ERROR, "MPI_Allreduce (libtributary_mpi): %s: %s", trib_err_name(rc), trib_last_error(rc));
        PMPI_Comm_call_errhandler(comm, MPI_ERR_OTHER);
        return MPI_ERR_OTHER;
    }
    account(&served[(unsigned)rep.algo < TRIB_ALGO_COUNT ? rep.algo : TRIB_ALGO_AUTO], count, type, t0);
    return MPI_SUCCESS;
}

/* ------------------------------------------------------- MPI_Iallreduce */

/* One served MPI_Iallreduce: Tributary's request behind MPI's generalized request. */
typedef struct greq {
    trib_request_t treq; /* NULL once complete */
    MPI_Request mreq;    /* the handle the caller holds */
    int status;          /* Tributary's outcome */
    int completed;       /* MPI_Grequest_complete done */
    struct greq *prev, *next;
} greq_t;

static greq_t *greq_head;     /* requests not yet freed by MPI */
static unsigned long long pending_greqs; /* of those, not yet completed */
static stat_t iserved;
static unsigned long long ipassed[PASS_N];

static int greq_query(void *extra, MPI_Status *status)
{
    greq_t *g = extra;
    MPI_Status_set_elements(status, MPI_BYTE, 0);
    MPI_Status_set_cancelled(status, 0);
    status->MPI_SOURCE = MPI_UNDEFINED;
    status->MPI_TAG = MPI_UNDEFINED;
    status->MPI_ERROR = g->status == TRIB_OK ? MPI_SUCCESS : MPI_ERR_OTHER;
    return status->MPI_ERROR;
}

static int greq_free(void *extra)
{
    greq_t *g = extra;
    if (g->prev)
        g->prev->next = g->next;
    else
        greq_head = g->next;
    if (g->next)
        g->next->prev = g->prev;
    free(g);
    return MPI_SUCCESS;
}

static int greq_cancel(void *extra, int complete)
{
    (void)extra;
    (void)complete; /* a collective cannot be cancelled: it completes as usual */
    return MPI_SUCCESS;
}

static void greq_complete(greq_t *g, int rc)
{
    g->treq = TRIB_REQUEST_NULL;
    g->status = rc;
    g->completed = 1;
    pending_greqs--;
    if (rc != TRIB_OK)
        trib_log(TRIB_LOG_ERROR, "MPI_Iallreduce (libtributary_mpi): %s: %s", trib_err_name(rc), trib_last_error(rc));
    PMPI_Grequest_complete(g->mreq);
}

/* Advances every pending request once; returns 1 if one completed. */
static int greq_progress(void)
{
    int moved = 0;
    for (greq_t *g = greq_head; g; g = g->next) {
        if (g->completed)
            continue;
        int done = 0;
        depth++;
        int rc = trib_test(&g->treq, &done);
        depth--;
        if (done) {
            greq_complete(g, rc);
            moved = 1;
        }
    }
    return moved;
}

static greq_t *greq_find(MPI_Request r)
{
    if (r == MPI_REQUEST_NULL)
        return NULL;
    for (greq_t *g = greq_head; g; g = g->next)
        if (g->mreq == r)
            return g;
    return NULL;
}

/* Progresses until the listed requests that are ours are complete (wait = 1), or once. */
static void greq_settle(int n, const MPI_Request *reqs, int wait)
{
    greq_progress();
    if (!wait)
        return;
    for (int i = 0; i < n; i++) {
        greq_t *g = greq_find(reqs[i]);
        while (g && !g->completed) {
            if (!greq_progress())
                sched_yield();
        }
    }
}

static int ipass(int why, const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm,
                 MPI_Request *request)
{
    ipassed[why]++;
    return PMPI_Iallreduce(sendbuf, recvbuf, count, type, op, comm, request);
}

int MPI_Iallreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm,
                   MPI_Request *request)
{
    if (depth > 0)
        return PMPI_Iallreduce(sendbuf, recvbuf, count, type, op, comm, request);
    if (!pmpi_enabled())
        return ipass(PASS_OFF, sendbuf, recvbuf, count, type, op, comm, request);
    if (comm == MPI_COMM_SELF)
        return ipass(PASS_SELF, sendbuf, recvbuf, count, type, op, comm, request);
    int inter = 0;
    if (comm == MPI_COMM_NULL || count < 0 || !request || PMPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS)
        return ipass(PASS_REJECTED, sendbuf, recvbuf, count, type, op, comm, request);
    if (inter)
        return ipass(PASS_INTER, sendbuf, recvbuf, count, type, op, comm, request);

    double t0 = accounting ? trib_now() : 0.0;
    greq_t *g = calloc(1, sizeof *g);
    if (!g)
        return ipass(PASS_REJECTED, sendbuf, recvbuf, count, type, op, comm, request);
    depth++;
    int rc = trib_iallreduce_ex(sendbuf, recvbuf, (size_t)count, type, op, comm, NULL, &g->treq);
    depth--;
    if (rc != TRIB_OK) {
        /* Refused before any traffic of its own (the arguments): MPI reports it its own way. */
        free(g);
        trib_log(TRIB_LOG_DEBUG, "MPI_Iallreduce passed to MPI: %s", trib_last_error(rc));
        return ipass(PASS_REJECTED, sendbuf, recvbuf, count, type, op, comm, request);
    }
    int mpi_rc = PMPI_Grequest_start(greq_query, greq_free, greq_cancel, g, &g->mreq);
    if (mpi_rc != MPI_SUCCESS) {
        depth++;
        trib_wait(&g->treq); /* the other ranks run it: finish it, then report */
        depth--;
        free(g);
        return mpi_rc;
    }
    g->next = greq_head;
    if (greq_head)
        greq_head->prev = g;
    greq_head = g;
    pending_greqs++;
    *request = g->mreq;
    account(&iserved, count, type, t0);
    greq_progress(); /* complete at once when it ran inside the start (shm, mpi, one rank, count 0) */
    return MPI_SUCCESS;
}

int MPI_Wait(MPI_Request *request, MPI_Status *status)
{
    if (depth > 0) /* Tributary's own calls */
        return PMPI_Wait(request, status);
    if (pending_greqs && request)
        greq_settle(1, request, 1);
    return PMPI_Wait(request, status);
}

int MPI_Test(MPI_Request *request, int *flag, MPI_Status *status)
{
    if (depth > 0) /* Tributary's own calls */
        return PMPI_Test(request, flag, status);
    if (pending_greqs)
        greq_progress();
    return PMPI_Test(request, flag, status);
}

int MPI_Waitall(int count, MPI_Request requests[], MPI_Status statuses[])
{
    if (depth > 0) /* Tributary's own calls */
        return PMPI_Waitall(count, requests, statuses);
    if (pending_greqs && requests && count > 0)
        greq_settle(count, requests, 1);
    return PMPI_Waitall(count, requests, statuses);
}

int MPI_Testall(int count, MPI_Request requests[], int *flag, MPI_Status statuses[])
{
    if (depth > 0) /* Tributary's own calls */
        return PMPI_Testall(count, requests, flag, statuses);
    if (pending_greqs)
        greq_progress();
    return PMPI_Testall(count, requests, flag, statuses);
}

int MPI_Testany(int count, MPI_Request requests[], int *index, int *flag, MPI_Status *status)
{
    if (depth > 0) /* Tributary's own calls */
        return PMPI_Testany(count, requests, index, flag, status);
    if (pending_greqs)
        greq_progress();
    return PMPI_Testany(count, requests, index, flag, status);
}

int MPI_Testsome(int incount, MPI_Request requests[], int *outcount, int indices[], MPI_Status statuses[])
{
    if (depth > 0) /* Tributary's own calls */
        return PMPI_Testsome(incount, requests, outcount, indices, statuses);
    if (pending_greqs)
        greq_progress();
    return PMPI_Testsome(incount, requests, outcount, indices, statuses);
}

/* Whether any of the requests is one of ours still pending. */
static int has_pending_greq(int n, const MPI_Request *reqs)
{
    for (int i = 0; reqs && i < n; i++) {
        greq_t *g = greq_find(reqs[i]);
        if (g && !g->completed)
            return 1;
    }
    return 0;
}

int MPI_Waitany(int count, MPI_Request requests[], int *index, MPI_Status *status)
{
    if (depth > 0) /* Tributary's own calls */
        return PMPI_Waitany(count, requests, index, status);
    /* While one of ours is pending, poll: MPI could not wake up for it. */
    while (pending_greqs && has_pending_greq(count, requests)) {
        int flag = 0;
        greq_progress();
        int rc = PMPI_Testany(count, requests, index, &flag, status);
        if (rc != MPI_SUCCESS || flag)
            return rc;
        sched_yield();
    }
    return PMPI_Waitany(count, requests, index, status);
}

int MPI_Waitsome(int incount, MPI_Request requests[], int *outcount, int indices[], MPI_Status statuses[])
{
    if (depth > 0) /* Tributary's own calls */
        return PMPI_Waitsome(incount, requests, outcount, indices, statuses);
    while (pending_greqs && has_pending_greq(incount, requests)) {
        greq_progress();
        int rc = PMPI_Testsome(incount, requests, outcount, indices, statuses);
        if (rc != MPI_SUCCESS || (*outcount != 0 && *outcount != MPI_UNDEFINED))
            return rc;
        sched_yield();
    }
    return PMPI_Waitsome(incount, requests, outcount, indices, statuses);
}

static void log_summary(void)
{
    stat_t total = {0, 0, 0};
    unsigned long long npassed = 0;
    for (int a = 0; a < TRIB_ALGO_COUNT; a++) {
        total.calls += served[a].calls;
        total.bytes += served[a].bytes;
        total.seconds += served[a].seconds;
    }
    for (int w = 0; w < PASS_N; w++)
        npassed += passed[w];
    trib_log(TRIB_LOG_INFO,
             "libtributary_mpi: %llu MPI_Allreduce calls: %llu served by Tributary (%.0f bytes, %.6f s), "
             "%llu passed through to MPI",
             total.calls + npassed, total.calls, total.bytes, total.seconds, npassed);
    for (int a = 0; a < TRIB_ALGO_COUNT; a++) {
        if (served[a].calls == 0)
            continue;
        trib_log(TRIB_LOG_INFO, "libtributary_mpi:   %-6s %llu calls, %.0f bytes, %.6f s",
                 a == TRIB_ALGO_AUTO ? "local" : trib_algo_name((trib_algo_t)a), served[a].calls, served[a].bytes,
                 served[a].seconds);
    }
    for (int w = 0; w < PASS_N; w++) {
        if (passed[w])
            trib_log(TRIB_LOG_INFO, "libtributary_mpi:   passed through (%s): %llu calls", pass_name[w], passed[w]);
    }
    unsigned long long ipass_n = 0;
    for (int w = 0; w < PASS_N; w++)
        ipass_n += ipassed[w];
    if (iserved.calls + ipass_n == 0)
        return;
    trib_log(TRIB_LOG_INFO,
             "libtributary_mpi: %llu MPI_Iallreduce calls: %llu served by Tributary (%.0f bytes, %.6f s to start), "
             "%llu passed through to MPI",
             iserved.calls + ipass_n, iserved.calls, iserved.bytes, iserved.seconds, ipass_n);
    for (int w = 0; w < PASS_N; w++) {
        if (ipassed[w])
            trib_log(TRIB_LOG_INFO, "libtributary_mpi:   MPI_Iallreduce passed through (%s): %llu calls", pass_name[w],
                     ipassed[w]);
    }
}

int MPI_Finalize(void)
{
    int rank = -1;
    if (trib_log_enabled(TRIB_LOG_INFO) && PMPI_Comm_rank(MPI_COMM_WORLD, &rank) == MPI_SUCCESS && rank == 0) {
        trib_log_set_rank(0);
        log_summary();
    }
    return PMPI_Finalize();
}
