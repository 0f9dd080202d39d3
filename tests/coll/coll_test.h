/*
 * coll_test.h - small helpers shared by the MPI test programs of tests/coll.
 */
#ifndef TRIB_TESTS_COLL_TEST_H
#define TRIB_TESTS_COLL_TEST_H

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

#endif
