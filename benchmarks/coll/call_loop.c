/*
 * call_loop.c - back-to-back MPI_Allreduce calls of MPI_FLOAT sums, for the
 * interposition library's per-call cost (benchmarks/RESULTS.md,
 * "## Collectives", section 4).  Plain MPI only: build it with mpicc and run
 * it with and without LD_PRELOAD of libtributary_mpi.
 *
 *   mpicc -O2 -o call_loop benchmarks/coll/call_loop.c
 *   mpirun -np 1 [-x LD_PRELOAD=build/lib/libtributary_mpi.so] ./call_loop cpu 1000000
 *       one rank: the allreduce is a copy, so what is left is the per-call
 *       cost; prints the best of 5 loops in ns of CPU time per call
 *       (CLOCK_PROCESS_CPUTIME_ID: other load on the machine does not count)
 *   mpirun -np 2 [-x LD_PRELOAD=...] ./call_loop sizes 50000
 *       4 B to 256 B: prints "bytes:ns" of wall time per call, for each size
 *   mpirun -np 2 [-x LD_PRELOAD=...] ./call_loop parity 200000 32
 *       times every call of 32 bytes on its own and prints per rank the mean
 *       and the medians of the even and of the odd calls: back-to-back calls
 *       can settle into a pattern where the ranks take turns waiting (each
 *       rank's calls alternate fast and slow), which a median over all calls
 *       reports as the slow time while the mean is unchanged
 *
 * Rank 0 prints one line.  Exit status 1 on a bad argument or an MPI error.
 */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v). */
static double median(double *v, long n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/*
 * n calls of `count` floats, each timed; fills out[3] = mean, median of the even calls, median of
 * the odd calls (ns).  0 or the first MPI error.
 */
static int parity(float *x, float *y, int count, long n, double *out)
{
    double *t[2] = {malloc((size_t)(n / 2 + 1) * sizeof(double)), malloc((size_t)(n / 2 + 1) * sizeof(double))};
    if (!t[0] || !t[1]) {
        free(t[0]);
        free(t[1]);
        fprintf(stderr, "call_loop: out of memory for %ld timings\n", n);
        return MPI_ERR_NO_MEM;
    }
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (long i = 0; i < n && rc == MPI_SUCCESS; i++) {
        double a = MPI_Wtime();
        rc = MPI_Allreduce(x, y, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t[i % 2][i / 2] = (MPI_Wtime() - a) * 1e9;
    }
    out[0] = (MPI_Wtime() - t0) / (double)n * 1e9;
    out[1] = median(t[0], (n + 1) / 2);
    out[2] = n > 1 ? median(t[1], n / 2) : 0.0;
    free(t[0]);
    free(t[1]);
    return rc;
}

/* n calls of `count` floats; 0 or the first MPI error. */
static int loop(float *x, float *y, int count, long n)
{
    for (long i = 0; i < n; i++) {
        int rc = MPI_Allreduce(x, y, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return rc;
    }
    return MPI_SUCCESS;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, rc = MPI_SUCCESS;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const char *mode = argc > 1 ? argv[1] : "";
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
    long bytes = argc > 3 ? strtol(argv[3], NULL, 10) : 32;
    int known = strcmp(mode, "cpu") == 0 || strcmp(mode, "sizes") == 0 || strcmp(mode, "parity") == 0;
    if (!known || n <= 0 || bytes < 4 || bytes > 256 || bytes % 4 != 0) {
        if (rank == 0)
            fprintf(stderr, "usage: call_loop cpu|sizes CALLS, or call_loop parity CALLS [BYTES] (CALLS > 0; "
                            "BYTES a multiple of 4 from 4 to 256, default 32)\n");
        MPI_Finalize();
        return 1;
    }
    static float x[64], y[64];
    if (strcmp(mode, "cpu") == 0) {
        double best = 1e30;
        rc = loop(x, y, 1, 10000); /* warm-up: the first call creates the communicator's context */
        for (int r = 0; r < 5 && rc == MPI_SUCCESS; r++) {
            double t0 = cpu_seconds();
            rc = loop(x, y, 1, n);
            double ns = (cpu_seconds() - t0) / (double)n * 1e9;
            if (ns < best)
                best = ns;
        }
        if (rank == 0 && rc == MPI_SUCCESS)
            printf("%.1f ns of CPU time per call (best of 5 loops of %ld)\n", best, n);
    } else if (strcmp(mode, "parity") == 0) {
        int size = 1;
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        double mine[3] = {0, 0, 0}, *all = malloc((size_t)size * 3 * sizeof(double));
        rc = all ? loop(x, y, (int)(bytes / 4), 10000) : MPI_ERR_NO_MEM;
        if (rc == MPI_SUCCESS)
            rc = parity(x, y, (int)(bytes / 4), n, mine);
        if (rc == MPI_SUCCESS)
            rc = MPI_Gather(mine, 3, MPI_DOUBLE, all, 3, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        for (int r = 0; r < size && rank == 0 && rc == MPI_SUCCESS; r++)
            printf("rank %d, %ld B: mean %.0f ns per call; median of the even calls %.0f ns, of the odd calls "
                   "%.0f ns\n",
                   r, bytes, all[3 * r], all[3 * r + 1], all[3 * r + 2]);
        free(all);
    } else {
        for (int count = 1; count <= 64 && rc == MPI_SUCCESS; count *= 2) {
            rc = loop(x, y, count, 2000);
            if (rc == MPI_SUCCESS)
                rc = MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            if (rc == MPI_SUCCESS)
                rc = loop(x, y, count, n);
            if (rank == 0 && rc == MPI_SUCCESS)
                printf("%d:%.0f ", count * 4, (MPI_Wtime() - t0) / (double)n * 1e9);
        }
        if (rank == 0 && rc == MPI_SUCCESS)
            printf("\n");
    }
    if (rc != MPI_SUCCESS && rank == 0)
        fprintf(stderr, "call_loop: MPI_Allreduce failed (MPI error %d)\n", rc);
    MPI_Finalize();
    return rc == MPI_SUCCESS ? 0 : 1;
}
