/*
 * allreduce_large.c - a count above INT_MAX (MPI_UINT8_T sum), labelled
 * `long`: run at p = 2 for the algorithms named on the command line
 * (ctest: ring mpi shm; default: ring mpi).  Needs about 2.2 GB per rank plus the algorithm's
 * temporaries (ring: two blocks of count/p bytes).
 *
 * Inputs x_r[i] = (i * 7 + r * 13) mod 256 (wrapping): periodic in i with period 256, so
 * a rank's input is one 4 KiB tile repeated and the expected sum is the sum of the ranks'
 * tiles.  Filling and checking go tile by tile (memcpy, memcmp) at memory speed.  Checks
 * every element on every rank (so the result is bitwise the same everywhere) and that the
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

enum { TILE = 4096 }; /* a multiple of the inputs' period (256) */

static uint8_t input(size_t i, int r) { return (uint8_t)(i * 7 + (size_t)r * 13); }

/* buf[0..count) = tile repeated */
static void fill(uint8_t *buf, size_t count, const uint8_t *tile)
{
    for (size_t at = 0; at < count; at += TILE)
        memcpy(buf + at, tile, count - at < TILE ? count - at : TILE);
}

/* index of the first byte of buf that differs from the repeated tile, or count */
static size_t first_mismatch(const uint8_t *buf, size_t count, const uint8_t *tile)
{
    for (size_t at = 0; at < count; at += TILE) {
        size_t n = count - at < TILE ? count - at : TILE;
        if (memcmp(buf + at, tile, n) != 0)
            for (size_t j = 0; j < n; j++)
                if (buf[at + j] != tile[j])
                    return at + j;
    }
    return count;
}

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
        uint8_t mine[TILE], want[TILE];
        for (size_t i = 0; i < TILE; i++) {
            unsigned sum = 0;
            for (int r = 0; r < p; r++)
                sum += input(i, r);
            mine[i] = input(i, rank);
            want[i] = (uint8_t)sum;
        }
        fill(buf, count, mine);
        double t0 = trib_now();
        int rc = trib_allreduce_ex(MPI_IN_PLACE, buf, count, MPI_UINT8_T, MPI_SUM, MPI_COMM_WORLD, &o);
        double secs = trib_now() - t0;
        int bad = 0;
        if (rc != TRIB_OK) {
            fprintf(stderr, "FAIL algo=%s rank=%d: %s\n", name, rank, trib_last_error(rc));
            bad = 1;
        } else {
            size_t at = first_mismatch(buf, count, want);
            if (at < count) {
                fprintf(stderr, "FAIL algo=%s count=%zu rank=%d index=%zu got=%u expected=%u\n", name, count, rank,
                        at, buf[at], want[at % TILE]);
                bad = 1;
            }
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
