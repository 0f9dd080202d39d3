/* mpi_hello.c: the smallest MPI program that proves a launch really made one job.
 *
 * Each rank reports its rank, the job size and the Slurm node it runs on; rank 0
 * then checks an MPI_Allreduce of (rank + 1) against p(p+1)/2 and prints one
 * summary line. Built by the Slurm harness tests with mpicc, so the harness is
 * known to launch MPI correctly before any Tributary program runs under it. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int rank = 0, size = 0;
    long mine, sum = 0, want;
    const char *node = getenv("SLURMD_NODENAME");

    if (MPI_Init(&argc, &argv) != MPI_SUCCESS)
        return 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    mine = rank + 1;
    if (MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) {
        fprintf(stderr, "mpi_hello: rank %d: MPI_Allreduce failed\n", rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    printf("rank %d of %d on node %s\n", rank, size, node ? node : "?");
    fflush(stdout);
    MPI_Barrier(MPI_COMM_WORLD);
    want = (long)size * (size + 1) / 2;
    if (rank == 0)
        printf("mpi_hello: %d ranks, allreduce sum %ld (expected %ld) %s\n", size, sum, want,
               sum == want ? "OK" : "WRONG");
    MPI_Finalize();
    return sum == want ? 0 : 2;
}
