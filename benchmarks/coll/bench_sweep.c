/*
 * bench_sweep.c - the measurement loop of trib-bench.
 *
 * For every size (min, min*factor, ... <= max) and every requested algorithm:
 *   1. one untimed call on freshly generated input; its status is agreed on by
 *      all ranks (TRIB_ERR_UNSUPPORTED marks the point "unsupported", any other
 *      error "failed"); with --check its result is validated element by element
 *      and its hash compared across ranks (bitwise-identical results);
 *   2. `warmup` untimed calls;
 *   3. a barrier, then `iters` calls, each timed on its own (MPI_Wtime);
 *   4. with --check (out of place): the last timed result is validated again
 *      and the send buffer must be unchanged (it is const in the API).
 * With --interleave, steps 1-2 run for every algorithm of the size first, then
 * one barrier and `iters` rounds, each calling every algorithm once (the
 * starting algorithm rotates from round to round), so a slow spell of a shared
 * machine falls on all of them alike and their ratios stay fair; step 4 then
 * checks one more untimed call of each algorithm.  On a TCP network the
 * batches are the right choice: there a call inherits the connection state
 * the previous algorithm left (such as congestion windows), and on the
 * emulated cluster `auto` measured up to 1.65x slower than `ring` at 1 MiB
 * while running the very same ring (4 ranks, 1 Gbit/s, 100 us).
 * Statistics: each rank's mean iteration time, reduced to min/avg/max over
 * ranks; each iteration's time taken as the slowest rank's (the collective is
 * done when its last rank is), and the median and p90 over iterations of that.
 * algbw = bytes / avg, busbw = algbw * 2(p-1)/p (the nccl-tests definition),
 * bound_ratio = avg / physical bound when a link rate is known.  The fastest
 * algorithm of a size (the '*' in the table, the winner for tuning) is the one
 * with the lowest median.
 */
#include "bench.h"

#include <limits.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

void bench_config_defaults(bench_config_t *c)
{
    memset(c, 0, sizeof *c);
    char err[128];
    c->nalgos = bench_parse_algo_list("ring,tree,rd,shm,hier,auto,mpi", c->algos, BENCH_MAX_ALGOS, err, sizeof err);
    c->min_bytes = 8;
    c->max_bytes = 16u << 20;
    c->factor = 2;
    c->type = BENCH_FLOAT;
    c->op = BENCH_SUM;
    c->warmup = -1;
}

void bench_iters_for(const bench_config_t *c, size_t bytes, int *iters, int *warmup)
{
    /* Like OSU: many iterations for small messages, fewer for large ones.
     * Budget: about 64 MiB moved per algorithm and size, between 5 and 1000 calls. */
    long n = 1000;
    if (bytes > 65536)
        n = (long)((64.0 * 1048576.0) / (double)bytes);
    if (n > 1000)
        n = 1000;
    if (n < 5)
        n = 5;
    *iters = c->iters > 0 ? c->iters : (int)n;
    *warmup = c->warmup >= 0 ? c->warmup : (*iters / 10 > 1 ? *iters / 10 : 1);
}

static int results_push(bench_results_t *r, const bench_point_t *p)
{
    if (r->npoints == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        bench_point_t *np = realloc(r->points, cap * sizeof *np);
        if (!np)
            return -1;
        r->points = np;
        r->cap = cap;
    }
    r->points[r->npoints++] = *p;
    return 0;
}

void bench_results_free(bench_results_t *res)
{
    free(res->points);
    memset(res, 0, sizeof *res);
}

typedef struct {
    const bench_config_t *c;
    MPI_Comm comm;
    int rank, size;
    void *send, *recv;
    double *times;   /* BENCH_MAX_ALGOS rows of max_iters: each algorithm's iteration times */
    double *slowest;
    size_t max_iters;
} sweep_t;

/* One allreduce of the current point.  In place: recv is both input and output. */
static int call_algo(sweep_t *s, const bench_algo_t *a, size_t count)
{
    if (a->floor) {
        memcpy(s->recv, s->send, count * bench_type_size(s->c->type));
        return TRIB_OK;
    }
    if (a->plain) { /* count fits an int: the sweep's sizes are checked against INT_MAX for plain */
        const void *in = s->c->in_place ? MPI_IN_PLACE : s->send;
        return MPI_Allreduce(in, s->recv, (int)count, bench_type_mpi(s->c->type), bench_op_mpi(s->c->op), s->comm) ==
                       MPI_SUCCESS
                   ? TRIB_OK
                   : trib_errorf(TRIB_ERR_MPI, "MPI_Allreduce failed");
    }
    trib_allreduce_opts_t o;
    trib_allreduce_opts_init(&o);
    o.algo = a->algo;
    o.segment_bytes = a->segment_bytes;
    o.tuning_file = s->c->tuning_file;
    const void *in = s->c->in_place ? s->recv : s->send;
    return trib_allreduce_ex(in, s->recv, count, bench_type_mpi(s->c->type), bench_op_mpi(s->c->op), s->comm, &o);
}

static void prepare_input(sweep_t *s, size_t count)
{
    bench_fill_input(s->c->in_place ? s->recv : s->send, count, s->c->type, s->c->op, s->rank);
}

/* Validates recv on every rank; returns the number of errors summed over ranks (collective). */
static unsigned long long check_point(sweep_t *s, const bench_algo_t *a, size_t count, const char *when)
{
    const bench_config_t *c = s->c;
    size_t tsize = bench_type_size(c->type);
    unsigned long long local = 0;
    if (c->inject_error && s->rank == s->size - 1 && count > 0)
        ((unsigned char *)s->recv)[(count / 2) * tsize] ^= 0x5a;
    bench_check_t rep;
    if (bench_check_result(s->recv, count, c->type, c->op, s->size, &rep) > 0) {
        char label[64];
        bench_algo_label(a, label, sizeof label);
        fprintf(stderr,
                "trib-bench: %s, %zu bytes (%s): rank %d has %zu wrong element(s); first: element %zu = %.17g, "
                "expected %.17g\n",
                label, count * tsize, when, s->rank, rep.wrong, rep.first, rep.got, rep.expected);
        local += rep.wrong;
    }
    if (!c->in_place) {
        size_t bad = bench_check_input(s->send, count, c->type, c->op, s->rank);
        if (bad) {
            char label[64];
            bench_algo_label(a, label, sizeof label);
            fprintf(stderr, "trib-bench: %s, %zu bytes (%s): rank %d: %zu element(s) of the send buffer changed\n",
                    label, count * tsize, when, s->rank, bad);
            local += bad;
        }
    }
    /* Bitwise identical on every rank: compare a hash (min of h and of ~h gives min and max of h). */
    uint64_t h = bench_hash(s->recv, count * tsize), pair[2] = {h, ~h}, agg[2];
    MPI_Allreduce(pair, agg, 2, MPI_UINT64_T, MPI_MIN, s->comm);
    unsigned long long total = 0;
    MPI_Allreduce(&local, &total, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, s->comm);
    if (agg[0] != ~agg[1]) {
        if (s->rank == 0) {
            char label[64];
            bench_algo_label(a, label, sizeof label);
            fprintf(stderr, "trib-bench: %s, %zu bytes (%s): results differ between ranks\n", label,
                    count * tsize, when);
        }
        total++;
    }
    return total;
}

/* Agrees on one status for the point: that of the lowest failing rank (trib_agree). */
static int agree_rc(sweep_t *s, int rc)
{
    return trib_agree(s->comm, rc);
}

static void time_stats(sweep_t *s, bench_point_t *pt, const double *times, int iters)
{
    double mean = bench_mean(times, (size_t)iters), mn, mx, sum;
    MPI_Reduce(&mean, &mn, 1, MPI_DOUBLE, MPI_MIN, 0, s->comm);
    MPI_Reduce(&mean, &mx, 1, MPI_DOUBLE, MPI_MAX, 0, s->comm);
    MPI_Reduce(&mean, &sum, 1, MPI_DOUBLE, MPI_SUM, 0, s->comm);
    MPI_Reduce(times, s->slowest, iters, MPI_DOUBLE, MPI_MAX, 0, s->comm);
    if (s->rank != 0)
        return;
    pt->t_min = mn;
    pt->t_max = mx;
    pt->t_avg = sum / s->size;
    pt->t_median = bench_quantile(s->slowest, (size_t)iters, 0.5);
    pt->t_p90 = bench_quantile(s->slowest, (size_t)iters, 0.9);
    double bytes = (double)pt->bytes;
    pt->algbw = pt->t_avg > 0 ? bytes / pt->t_avg / 1e9 : 0.0;
    pt->busbw = pt->algbw * (s->size > 1 ? 2.0 * (s->size - 1) / s->size : 0.0);
    double bound = bench_bound_seconds(pt->bytes, s->size, s->c->link_rate, s->c->link_delay);
    pt->bound_ratio = bound > 0 ? pt->t_avg / bound : 0.0;
}

/* Steps 1-2: the first call (status agreed, checked) and the warm-up.
 * Returns 1 when the point can be timed (pt->status OK), 0 otherwise. */
static int measure_setup(sweep_t *s, const bench_algo_t *a, size_t count, bench_point_t *pt, int warmup)
{
    prepare_input(s, count);
    int rc = agree_rc(s, call_algo(s, a, count));
    if (rc == TRIB_ERR_UNSUPPORTED) {
        pt->status = BENCH_POINT_UNSUPPORTED;
        pt->rc = rc;
        return 0;
    }
    if (rc != TRIB_OK) {
        pt->status = BENCH_POINT_FAILED;
        pt->rc = rc;
        if (s->rank == 0) {
            char label[64];
            bench_algo_label(a, label, sizeof label);
            fprintf(stderr, "trib-bench: %s, %zu bytes: %s\n", label, pt->bytes, trib_last_error(rc));
        }
        return 0;
    }
    if (s->c->check && !a->floor)
        pt->errors += check_point(s, a, count, "first call");
    for (int i = 0; i < warmup; i++) {
        int r = call_algo(s, a, count);
        if (r != TRIB_OK)
            pt->rc = r;
    }
    return 1;
}

/* One timed call into times[i]; a failure is remembered in pt->rc. */
static void timed_call(sweep_t *s, const bench_algo_t *a, size_t count, bench_point_t *pt, double *times, int i)
{
    double t0 = MPI_Wtime();
    int r = call_algo(s, a, count);
    times[i] = MPI_Wtime() - t0;
    if (r != TRIB_OK)
        pt->rc = r;
}

/* Steps 3-4 after the timed calls: agree on failures, check, statistics. */
static void measure_finish(sweep_t *s, const bench_algo_t *a, size_t count, bench_point_t *pt, const double *times,
                           int iters, const char *when)
{
    int rc = agree_rc(s, pt->rc);
    pt->iters = iters;
    if (rc != TRIB_OK) {
        pt->status = BENCH_POINT_FAILED;
        pt->rc = rc;
        return;
    }
    if (s->c->check && !s->c->in_place && !a->floor)
        pt->errors += check_point(s, a, count, when);
    time_stats(s, pt, times, iters);
}

/* All algorithms of one size, one after the other (the default) or interleaved. */
static void measure_size(sweep_t *s, size_t count, bench_point_t *pts)
{
    const bench_config_t *c = s->c;
    int iters, warmup, n = c->nalgos;
    bench_iters_for(c, pts[0].bytes, &iters, &warmup);
    if (!c->interleave) {
        for (int k = 0; k < n; k++) {
            double *times = s->times + (size_t)k * s->max_iters;
            if (!measure_setup(s, &c->algos[k], count, &pts[k], warmup))
                continue;
            MPI_Barrier(s->comm);
            for (int i = 0; i < iters; i++)
                timed_call(s, &c->algos[k], count, &pts[k], times, i);
            measure_finish(s, &c->algos[k], count, &pts[k], times, iters, "last timed call");
        }
        return;
    }
    int runnable[BENCH_MAX_ALGOS];
    for (int k = 0; k < n; k++)
        runnable[k] = measure_setup(s, &c->algos[k], count, &pts[k], warmup);
    MPI_Barrier(s->comm);
    for (int i = 0; i < iters; i++) {
        for (int j = 0; j < n; j++) {
            int k = (i + j) % n;
            if (runnable[k])
                timed_call(s, &c->algos[k], count, &pts[k], s->times + (size_t)k * s->max_iters, i);
        }
    }
    for (int k = 0; k < n; k++) {
        if (!runnable[k])
            continue;
        if (c->check && !c->in_place) { /* recv holds the last round's last algorithm: call this one again */
            int r = call_algo(s, &c->algos[k], count);
            if (r != TRIB_OK)
                pts[k].rc = r;
        }
        measure_finish(s, &c->algos[k], count, &pts[k], s->times + (size_t)k * s->max_iters, iters,
                       "after the timed calls");
    }
}

/* The fastest supported, error-free algorithm at each size is marked.  It is judged
 * by the median iteration time, not the mean: on a shared machine a few
 * iterations descheduled by other processes can multiply the mean. */
static void mark_fastest(bench_results_t *r)
{
    size_t i = 0;
    while (i < r->npoints) {
        size_t j = i, best = (size_t)-1;
        for (; j < r->npoints && r->points[j].bytes == r->points[i].bytes; j++) {
            const bench_point_t *p = &r->points[j];
            if (p->status == BENCH_POINT_OK && p->errors == 0 &&
                (best == (size_t)-1 || p->t_median < r->points[best].t_median))
                best = j;
        }
        if (best != (size_t)-1)
            r->points[best].fastest = 1;
        i = j;
    }
}

int bench_check_sizes(const bench_config_t *c)
{
    size_t tsize = bench_type_size(c->type);
    if (c->min_bytes < tsize)
        return trib_cli_usage("--min-bytes %zu is less than one %s (%zu bytes); sizes are whole elements of --type",
                              c->min_bytes, bench_type_name(c->type), tsize);
    if (c->min_bytes > c->max_bytes)
        return trib_cli_usage("--min-bytes is larger than --max-bytes");
    return 0;
}

/* MemAvailable of /proc/meminfo in bytes; 0 when it cannot be read. */
static double mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    double kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024.0;
}

/*
 * Refuses a sweep whose buffers would not fit in this node's available memory (collective; 0 or -1).
 * Per rank: the send and the receive buffer of --max-bytes, plus up to one message of temporary space
 * inside the allreduce (MPI's own algorithms allocate one), times the ranks sharing this node.  The
 * lowest failing rank prints the figures.
 */
static int check_memory(const bench_config_t *c, MPI_Comm comm, int rank, size_t buf_bytes)
{
    MPI_Comm node;
    int local = 1;
    if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_size(node, &local);
        MPI_Comm_free(&node);
    }
    double avail = mem_available(), per_rank = 3.0 * (double)buf_bytes, need = local * per_rank;
    int mine = avail > 0 && need > avail ? rank : INT_MAX, first = INT_MAX;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (first == INT_MAX)
        return 0;
    if (rank == first) {
        char mb[32];
        bench_format_bytes(c->max_bytes, mb, sizeof mb);
        fprintf(stderr,
                "trib-bench: --max-bytes %s needs about %.2f GiB on this node: %d rank(s) x 3 x %.2f GiB (send "
                "buffer, receive buffer, one message of temporary space in the allreduce), but MemAvailable is "
                "%.2f GiB; lower --max-bytes or run fewer ranks per node\n",
                mb, need / 1073741824.0, local, (double)buf_bytes / 1073741824.0, avail / 1073741824.0);
    }
    return -1;
}

int bench_sweep(const bench_config_t *c, MPI_Comm comm, bench_results_t *res)
{
    sweep_t s = {.c = c, .comm = comm};
    MPI_Comm_rank(comm, &s.rank);
    MPI_Comm_size(comm, &s.size);
    size_t tsize = bench_type_size(c->type);
    size_t max_count = c->max_bytes / tsize ? c->max_bytes / tsize : 1;
    if (check_memory(c, comm, s.rank, max_count * tsize) != 0)
        return -1;
    int max_iters = 0, w;
    for (size_t b = c->min_bytes; b <= c->max_bytes; b *= c->factor) {
        int it;
        bench_iters_for(c, b, &it, &w);
        if (it > max_iters)
            max_iters = it;
        if (b > c->max_bytes / c->factor)
            break;
    }
    int ok = 1;
    if (posix_memalign(&s.send, 64, max_count * tsize) != 0)
        s.send = NULL;
    if (posix_memalign(&s.recv, 64, max_count * tsize) != 0)
        s.recv = NULL;
    s.max_iters = (size_t)max_iters;
    s.times = malloc((size_t)BENCH_MAX_ALGOS * (size_t)max_iters * sizeof(double));
    s.slowest = malloc((size_t)max_iters * sizeof(double));
    if (!s.send || !s.recv || !s.times || !s.slowest)
        ok = 0;
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, comm);
    if (!ok) {
        if (s.rank == 0)
            fprintf(stderr, "trib-bench: cannot allocate buffers of %zu bytes\n", max_count * tsize);
        free(s.send);
        free(s.recv);
        free(s.times);
        free(s.slowest);
        return -1;
    }
    memset(s.recv, 0, max_count * tsize);
    memset(s.send, 0, max_count * tsize);
    int rc = 0;
    for (size_t b = c->min_bytes; b <= c->max_bytes && rc == 0; b *= c->factor) {
        size_t count = b / tsize ? b / tsize : 1;
        bench_point_t pts[BENCH_MAX_ALGOS];
        memset(pts, 0, sizeof pts);
        for (int k = 0; k < c->nalgos; k++) {
            pts[k].bytes = count * tsize;
            pts[k].count = count;
            pts[k].algo = c->algos[k];
        }
        measure_size(&s, count, pts);
        for (int k = 0; k < c->nalgos && rc == 0; k++) {
            if (s.rank == 0 && results_push(res, &pts[k]) != 0) {
                fprintf(stderr, "trib-bench: out of memory\n");
                rc = -1;
            }
        }
        MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
        if (b > c->max_bytes / c->factor)
            break;
    }
    free(s.send);
    free(s.recv);
    free(s.times);
    free(s.slowest);
    if (s.rank == 0)
        mark_fastest(res);
    return rc;
}
