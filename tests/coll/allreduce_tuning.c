/*
 * allreduce_tuning.c - AUTO follows a tuning file (run at several p).
 *
 * Rank 0 writes a tuning file with groups for 1, 2 and 4 ranks.  For sizes
 * inside each rule's range (its lower edge, its upper edge), checks that
 * trib_allreduce_select returns the rule's algorithm and segment size, given
 * the file through opts.tuning_file and through env TRIB_TUNING_FILE; that an
 * explicit algorithm and TRIB_ALLREDUCE_ALGO still win over the file; that
 * AUTO calls driven by the file compute the right sums; that a malformed
 * file makes every rank return TRIB_ERR_FORMAT naming the line; and that a
 * file measured on another node layout (2 nodes x 64 ranks: not this run's)
 * is refused by every rank with TRIB_ERR_UNSUPPORTED naming its layout line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>

#include "tributary/allreduce.h"

static int rank, nprocs, failures;

#define EXPECT(cond, ...)                                                                                              \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "FAIL p=%d rank=%d: ", nprocs, rank);                                                      \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, "\n");                                                                                     \
            failures++;                                                                                                \
        }                                                                                                              \
    } while (0)

typedef struct {
    int ranks;
    size_t lo, hi; /* message bytes covered: [lo, hi] */
    trib_algo_t algo;
    size_t seg;
} rule_t;

static const char *text = "tributary-tuning 1\n"
                          "# test file\n"
                          "1  inf     mpi   0\n"
                          "2  64      tree  4096\n"
                          "2  40000   ring  128\n"
                          "2  inf     rd    0\n"
                          "4  400     ring  64\n"
                          "4  100000  rd    1024\n"
                          "4  inf     tree  8192\n";

static const rule_t rules[] = {
    {1, 0, 1 << 20, TRIB_ALGO_MPI, 0},         {2, 4, 64, TRIB_ALGO_TREE, 4096},
    {2, 68, 40000, TRIB_ALGO_RING, 128},       {2, 40004, 1 << 22, TRIB_ALGO_RD, 0},
    {4, 4, 400, TRIB_ALGO_RING, 64},           {4, 404, 100000, TRIB_ALGO_RD, 1024},
    {4, 100004, 1 << 22, TRIB_ALGO_TREE, 8192},
};

static int group_for(int p) { return p >= 4 ? 4 : p >= 2 ? 2 : 1; }

static void check_rules(const trib_allreduce_opts_t *o, const char *how)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        const rule_t *r = &rules[i];
        if (r->ranks != group_for(nprocs))
            continue;
        size_t edges[2] = {r->lo, r->hi};
        for (int e = 0; e < 2; e++) {
            trib_algo_t algo;
            size_t seg;
            size_t count = edges[e] / 4;
            int rc = trib_allreduce_select(count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, o, &algo, &seg);
            size_t want_seg = r->seg ? r->seg : 0;
            EXPECT(rc == TRIB_OK, "%s: select failed: %s", how, trib_last_error(rc));
            EXPECT(algo == r->algo, "%s: %zu bytes: got %s, the file says %s", how, count * 4, trib_algo_name(algo),
                   trib_algo_name(r->algo));
            if (want_seg)
                EXPECT(seg == want_seg, "%s: %zu bytes: segment %zu, the file says %zu", how, count * 4, seg,
                       want_seg);
            /* And the call itself, with AUTO following the file, is right. */
            int32_t *x = malloc((count ? count : 1) * sizeof *x);
            int32_t *y = malloc((count ? count : 1) * sizeof *y);
            for (size_t k = 0; k < count; k++)
                x[k] = (int32_t)(k % 1000) + rank;
            rc = trib_allreduce_ex(x, y, count, MPI_INT32_T, MPI_SUM, MPI_COMM_WORLD, o);
            EXPECT(rc == TRIB_OK, "%s: allreduce failed: %s", how, trib_last_error(rc));
            for (size_t k = 0; k < count && rc == TRIB_OK; k++) {
                int32_t want = (int32_t)(k % 1000) * nprocs + nprocs * (nprocs - 1) / 2;
                if (y[k] != want) {
                    EXPECT(0, "%s: %zu bytes: index %zu got %d expected %d", how, count * 4, k, y[k], want);
                    break;
                }
            }
            free(x);
            free(y);
        }
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nprocs);
    char path[64], bad[80], other[80];
    int pid = (int)getpid();
    MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
    snprintf(path, sizeof path, "/tmp/trib-tuning-test-%d.txt", pid);
    snprintf(bad, sizeof bad, "/tmp/trib-tuning-test-%d-bad.txt", pid);
    snprintf(other, sizeof other, "/tmp/trib-tuning-test-%d-layout.txt", pid);
    if (rank == 0) {
        FILE *f = fopen(path, "w");
        FILE *g = fopen(bad, "w");
        FILE *h = fopen(other, "w");
        if (!f || !g || !h)
            MPI_Abort(MPI_COMM_WORLD, 2);
        fputs("tributary-tuning 1\nlayout 2 64\n128 inf ring 0\n", h);
        fclose(h);
        fputs(text, f);
        fputs("tributary-tuning 1\n4 100 ring 0\n4 50 rd 0\n4 inf tree 0\n", g);
        fclose(f);
        fclose(g);
    }
    MPI_Barrier(MPI_COMM_WORLD);

    trib_allreduce_opts_t o;
    trib_allreduce_opts_init(&o);
    o.tuning_file = path;
    check_rules(&o, "opts.tuning_file");

    trib_allreduce_opts_init(&o);
    setenv("TRIB_TUNING_FILE", path, 1);
    check_rules(&o, "env TRIB_TUNING_FILE");

    /* An explicit algorithm and TRIB_ALLREDUCE_ALGO win over the file. */
    trib_algo_t algo;
    size_t seg;
    o.algo = TRIB_ALGO_RING;
    trib_allreduce_select(1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &o, &algo, &seg);
    EXPECT(algo == TRIB_ALGO_RING, "explicit ring lost to the tuning file (%s)", trib_algo_name(algo));
    o.algo = TRIB_ALGO_AUTO;
    setenv("TRIB_ALLREDUCE_ALGO", "rd", 1);
    trib_allreduce_select(1 << 20, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &o, &algo, &seg);
    EXPECT(algo == TRIB_ALGO_RD, "TRIB_ALLREDUCE_ALGO=rd lost to the tuning file (%s)", trib_algo_name(algo));
    unsetenv("TRIB_ALLREDUCE_ALGO");
    unsetenv("TRIB_TUNING_FILE");

    /* A malformed file: every rank gets TRIB_ERR_FORMAT with FILE:LINE. */
    o.tuning_file = bad;
    float x = 1, y = 0;
    int rc = trib_allreduce_ex(&x, &y, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &o);
    char want_prefix[100];
    snprintf(want_prefix, sizeof want_prefix, "%s:3: ", bad);
    EXPECT(rc == TRIB_ERR_FORMAT, "malformed file: got %s", trib_err_name(rc));
    EXPECT(strncmp(trib_last_error(rc), want_prefix, strlen(want_prefix)) == 0, "malformed file message: %s",
           trib_last_error(rc));

    /* A file measured on another layout. */
    o.tuning_file = other;
    rc = trib_allreduce_ex(&x, &y, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &o);
    snprintf(want_prefix, sizeof want_prefix, "%s:2: ", other);
    if (nprocs > 1) {
        EXPECT(rc == TRIB_ERR_UNSUPPORTED, "file of another layout: got %s", trib_err_name(rc));
        EXPECT(strncmp(trib_last_error(rc), want_prefix, strlen(want_prefix)) == 0 &&
                   strstr(trib_last_error(rc), "2 nodes x 64 ranks"),
               "file of another layout: message %s", trib_last_error(rc));
    }

    int total = 0;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        unlink(path);
        unlink(bad);
        unlink(other);
        printf("allreduce tuning p=%d: %d failures\n", nprocs, total);
    }
    MPI_Finalize();
    return total ? 1 : 0;
}
