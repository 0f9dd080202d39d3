/*
 * allreduce_large.c - a count above INT_MAX (MPI_UINT8_T sum), labelled
 * `long`: run at p = 2 for the algorithms named on the command line
 * (ctest: ring mpi shm; default: ring mpi).  Needs about 2.2 GB per rank plus the algorithm's
 * temporaries (ring: two blocks of count/p bytes).
 *
 * Inputs x_r[i] = (i * 7 + r * 13) mod 256 (wrapping), so the expected sum is
 * sum_r (i * 7 + r * 13) mod 256, computed per element in O(p).  Checks every
 * element, the result's hash on all ranks (bitwise equality), and that the
 * bytes beyond INT_MAX were reduced (the point of the test).
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "core/timer.h"
#include "tributary/allreduce.h"

static uint8_t input(size_t i, int r) { return (uint8_t)(i * 7 + (size_t)r * 13); }

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, p;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &p);
    size_t count = (size_t)INT_MAX + 4099;
    uint8_t *buf = malloc(count);
    if (!buf) {
        fprintf(stderr, "allreduce_large: cannot allocate %zu bytes\n", count);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    const char *defaults[] = {"ring", "mpi"};
    int nalgo = argc > 1 ? argc - 1 : 2;
    int failures = 0;
    for (int a = 0; a < nalgo; a++) {
        const char *name = argc > 1 ? argv[1 + a] : defaults[a];
        trib_allreduce_opts_t o;
        trib_allreduce_opts_init(&o);
        if (trib_algo_parse(name, &o.algo) != TRIB_OK) {
            fprintf(stderr, "allreduce_large: unknown algorithm %s\n", name);
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
        for (size_t i = 0; i < count; i++)
            buf[i] = input(i, rank);
        double t0 = trib_now();
        int rc = trib_allreduce_ex(MPI_IN_PLACE, buf, count, MPI_UINT8_T, MPI_SUM, MPI_COMM_WORLD, &o);
        double secs = trib_now() - t0;
        int bad = 0;
        if (rc != TRIB_OK) {
            fprintf(stderr, "FAIL algo=%s rank=%d: %s\n", name, rank, trib_last_error(rc));
            bad = 1;
        }
        for (size_t i = 0; i < count && !bad; i++) {
            unsigned want = 0;
            for (int r = 0; r < p; r++)
                want += input(i, r);
            if (buf[i] != (uint8_t)want) {
                fprintf(stderr, "FAIL algo=%s count=%zu rank=%d index=%zu got=%u expected=%u\n", name, count, rank,
                        i, buf[i], want & 0xffu);
                bad = 1;
            }
        }
        /* Bitwise equality across ranks: compare a sample-free checksum of all bytes. */
        uint64_t h = 1469598103934665603ULL;
        for (size_t i = 0; i < count; i++)
            h = (h ^ buf[i]) * 1099511628211ULL;
        uint64_t v[2] = {h, ~h};
        MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
        if (v[0] != h || ~v[1] != h) {
            fprintf(stderr, "FAIL algo=%s rank=%d: result bits differ between ranks\n", name, rank);
            bad = 1;
        }
        int any = 0;
        MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        failures += any;
        if (rank == 0)
            printf("allreduce large p=%d algo=%s count=%zu (INT_MAX + 4099) uint8 sum: %s, %.2f s\n", p, name, count,
                   any ? "FAILED" : "ok", secs);
    }
    free(buf);
    MPI_Finalize();
    return failures ? 1 : 0;
}
