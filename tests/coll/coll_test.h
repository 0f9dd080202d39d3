/*
 * coll_test.h - small helpers shared by the MPI test programs of tests/coll.
 */
#ifndef TRIB_TESTS_COLL_TEST_H
#define TRIB_TESTS_COLL_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mpi.h>

#include "tributary/allreduce.h"

/* 1 on every rank when the shm algorithm runs here (all ranks on one node). */
static inline int have_shm(void)
{
    trib_allreduce_opts_t o;
    trib_allreduce_opts_init(&o);
    o.algo = TRIB_ALGO_SHM;
    float x = 1, y;
    int ok = trib_allreduce_ex(&x, &y, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &o) == TRIB_OK, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all;
}

/*
 * Cross-rank bitwise agreement, checked in batches: each case adds its result
 * hash (and whether it already failed on this rank) with a label, and
 * hash_batch_flush compares the whole batch in one MPI_Allreduce.  One
 * collective per case, on top of the allreduce under test, made the matrix
 * slow on oversubscribed ranks (a collective costs a scheduling round per
 * rank there); the verdict is the same.  A case that failed on some rank is
 * not reported again as a mismatch.
 */
#define HASH_BATCH_CAP 256
#define HASH_BATCH_LABEL 160

typedef struct {
    uint64_t v[3 * HASH_BATCH_CAP]; /* per case: hash, ~hash, failed */
    char label[HASH_BATCH_CAP][HASH_BATCH_LABEL];
    int n;
} hash_batch_t;

/* Compares the batch across ranks and empties it; returns the number of cases
 * whose bits differ between ranks, printing each (the first max_print). */
static inline long hash_batch_flush(hash_batch_t *b, MPI_Comm comm, int rank, int max_print)
{
    if (b->n == 0)
        return 0;
    uint64_t mine[3 * HASH_BATCH_CAP];
    memcpy(mine, b->v, sizeof(uint64_t) * 3 * (size_t)b->n);
    if (MPI_Allreduce(MPI_IN_PLACE, b->v, 3 * b->n, MPI_UINT64_T, MPI_MAX, comm) != MPI_SUCCESS) {
        fprintf(stderr, "FAIL rank %d: MPI_Allreduce of the result hashes failed\n", rank);
        b->n = 0;
        return 1;
    }
    long differ = 0;
    for (int i = 0; i < b->n; i++) {
        const uint64_t *all = &b->v[3 * i], *own = &mine[3 * i];
        if (all[2] == 0 && (all[0] != own[0] || all[1] != own[1])) {
            if (differ++ < max_print)
                fprintf(stderr, "FAIL rank %d: %s: result bits differ between ranks (hash %016llx here)\n", rank,
                        b->label[i], (unsigned long long)own[0]);
        }
    }
    b->n = 0;
    return differ;
}

/* Adds a case; flushes first when the batch is full (every rank adds the same
 * cases in the same order, so the flushes line up).  Returns what a flush
 * found, else 0. */
static inline long hash_batch_add(hash_batch_t *b, uint64_t h, int failed, const char *label, MPI_Comm comm, int rank,
                                  int max_print)
{
    long differ = b->n == HASH_BATCH_CAP ? hash_batch_flush(b, comm, rank, max_print) : 0;
    b->v[3 * b->n] = h;
    b->v[3 * b->n + 1] = ~h;
    b->v[3 * b->n + 2] = failed != 0;
    snprintf(b->label[b->n], HASH_BATCH_LABEL, "%s", label);
    b->n++;
    return differ;
}

#endif
