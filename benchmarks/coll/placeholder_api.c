/*
 * placeholder_api.c - stand-in for the algorithm-name and selector functions
 * of tributary/allreduce.h, compiled only while the allreduce library does not
 * yet provide them (see CMakeLists.txt).  Every algorithm runs MPI_Allreduce
 * there, so the names map one to one and the selector always answers mpi.
 */
#include "bench.h"

#include <strings.h>

static const char *const names[TRIB_ALGO_COUNT] = {"auto", "ring", "tree", "rd", "mpi", "shm"};

const char *trib_algo_name(trib_algo_t algo)
{
    return (unsigned)algo < TRIB_ALGO_COUNT ? names[algo] : NULL;
}

int trib_algo_parse(const char *name, trib_algo_t *out)
{
    for (int i = 0; i < TRIB_ALGO_COUNT; i++) {
        if (strcasecmp(name, names[i]) == 0) {
            *out = (trib_algo_t)i;
            return TRIB_OK;
        }
    }
    return TRIB_ERR_INVALID_ARG;
}

int trib_allreduce_select(size_t count, MPI_Datatype type, MPI_Op op, MPI_Comm comm,
                          const trib_allreduce_opts_t *opts, trib_algo_t *algo, size_t *segment_bytes)
{
    (void)count, (void)type, (void)op, (void)comm, (void)opts;
    *algo = TRIB_ALGO_MPI;
    *segment_bytes = 0;
    return TRIB_OK;
}
