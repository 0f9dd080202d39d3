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
 *                  TRIB_ALLREDUCE_ALGO / TRIB_TUNING_FILE / TRIB_CHECK);
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
 *   MPI_Finalize   with TRIB_LOG_LEVEL=info (or debug), rank 0 of
 *                  MPI_COMM_WORLD logs a summary on stderr: calls, bytes,
 *                  time per algorithm, and the calls passed to MPI by
 *                  reason.  The figures are rank 0's own.  Then
 *                  PMPI_Finalize.
 *
 * Counters are plain (not atomic): with MPI_THREAD_MULTIPLE and concurrent
 * allreduces from several threads the summary may undercount; results are
 * unaffected.
 */
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
static _Thread_local int depth; /* > 0 while Tributary runs on this thread */

static int pmpi_enabled(void)
{
    if (enabled < 0) {
        const char *env = getenv("TRIB_PMPI");
        enabled = !(env && (strcmp(env, "off") == 0 || strcmp(env, "0") == 0));
    }
    return enabled;
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

    double t0 = trib_now();
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
    int size = 0;
    if (PMPI_Type_size(type, &size) != MPI_SUCCESS)
        size = 0;
    stat_t *s = &served[(unsigned)rep.algo < TRIB_ALGO_COUNT ? rep.algo : TRIB_ALGO_AUTO];
    s->calls++;
    s->bytes += (double)count * size;
    s->seconds += trib_now() - t0;
    return MPI_SUCCESS;
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
