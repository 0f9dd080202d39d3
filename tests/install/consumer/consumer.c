/* consumer.c - the README's example: an MPI program that links libtributary_coll. */
#include <mpi.h>
#include <stdio.h>
#include <tributary/allreduce.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    float grad[4] = {1.0f * rank, 1.0f, 2.0f, 3.0f};
    int rc = trib_allreduce(MPI_IN_PLACE, grad, 4, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (rc != TRIB_OK)
        fprintf(stderr, "trib_allreduce: %s\n", trib_strerror(rc));
    else if (rank == 0)
        printf("sum over %d ranks: %g %g %g %g\n", size, grad[0], grad[1], grad[2], grad[3]);
    MPI_Finalize();
    return rc == TRIB_OK ? 0 : 1;
}
