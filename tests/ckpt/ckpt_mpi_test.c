/*
 * ckpt_mpi_test.c - multi-rank checkpoint tests and helpers for the test scripts.
 *
 *   ckpt_mpi_test roundtrip DIR        write/read at this rank count, bit for bit; every
 *                                      rank reads every part; failure agreement; retention
 *   ckpt_mpi_test write DIR SEQ ROWS   write one pattern checkpoint (repartition.sh)
 *   ckpt_mpi_test readall DIR ROWS     newest checkpoint: every rank reads every part, checks it,
 *                                      and re-partitions rows by global id over this rank count
 *   ckpt_mpi_test crashloop DIR ROWS   resume after the newest checkpoint and write new ones
 *                                      forever; each rank writes DIR/../pids/rank-<r> (crash.sh)
 *   ckpt_mpi_test check DIR ROWS       one rank: the newest checkpoint must be valid and fully
 *                                      readable; prints "seq S" (crash.sh)
 *
 * Exit status 0 on success, 1 on any failed check (the failing checks are printed).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/internal.h"
#include "core/log.h"
#include "pattern.h"

static int failures;
static int my_rank;

#define CHECK(cond, ...)                                                                            \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            failures++;                                                                             \
            fprintf(stderr, "rank %d: %s:%d: check failed: %s: ", my_rank, __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                           \
            fputc('\n', stderr);                                                                    \
        }                                                                                           \
    } while (0)

static int dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void seq_dir(char *out, size_t cap, const char *dir, const char *prefix, uint64_t seq)
{
    snprintf(out, cap, "%s/%s%012" PRIu64, dir, prefix, seq);
}

/* Every rank opens the checkpoint and verifies every part and the globals. */
static void verify_all_parts(const char *path, uint64_t seq, size_t ng, int nranks)
{
    trib_ckpt_reader_t *r;
    int rc = trib_ckpt_open(path, NULL, TRIB_CKPT_OPEN_VERIFY_FILES, &r);
    CHECK(rc == TRIB_OK, "open %s: %s", path, trib_last_error(rc));
    if (rc != TRIB_OK)
        return;
    CHECK(trib_ckpt_seq(r) == seq, "seq %" PRIu64, trib_ckpt_seq(r));
    CHECK(trib_ckpt_nparts(r) == nranks, "nparts %d", trib_ckpt_nparts(r));
    size_t count = 0;
    rc = trib_ckpt_array_count(r, 0, &count);
    CHECK(rc == TRIB_OK && count == 6, "part 0 lists %zu arrays", count);
    const char *name = NULL;
    rc = trib_ckpt_array_name(r, 0, 0, &name);
    CHECK(rc == TRIB_OK && strcmp(name, "bias") == 0, "first array name %s", name ? name : "?");
    rc = trib_ckpt_array_count(r, TRIB_CKPT_GLOBAL, &count);
    CHECK(rc == TRIB_OK && count == 2, "manifest lists %zu arrays", count);
    for (int p = 0; p < trib_ckpt_nparts(r); p++) {
        const char *bad = pat_verify_part(r, p, seq, ng, 1, 0, NULL);
        CHECK(bad == NULL, "%s", bad ? bad : "");
    }
    const char *bad = pat_verify_globals(r, seq);
    CHECK(bad == NULL, "%s", bad ? bad : "");
    /* Reading with the wrong type or size is refused. */
    float small[4];
    rc = trib_ckpt_read_array(r, TRIB_CKPT_GLOBAL, "rng", TRIB_CKPT_F32, small, 4);
    CHECK(rc == TRIB_ERR_INCOMPATIBLE, "wrong type gave %d", rc);
    uint64_t u[3];
    rc = trib_ckpt_read_array(r, TRIB_CKPT_GLOBAL, "rng", TRIB_CKPT_U64, u, 3);
    CHECK(rc == TRIB_ERR_RANGE, "wrong count gave %d", rc);
    rc = trib_ckpt_read_array(r, nranks, "ids", TRIB_CKPT_U32, u, 0);
    CHECK(rc == TRIB_ERR_RANGE, "part out of range gave %d", rc);
    trib_ckpt_close(r);
}

static void roundtrip(const char *base)
{
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char dir[4000]; /* one directory per rank count: ctest runs them concurrently */
    snprintf(dir, sizeof dir, "%s-np%d", base, size);
    if (my_rank == 0)
        trib_io_rmtree(dir);
    MPI_Barrier(MPI_COMM_WORLD);
    const size_t ng = 101; /* not divisible by most rank counts; rank counts > ng leave empty parts too */
    char path[4096], tmp[4096];
    for (uint64_t seq = 1; seq <= 3; seq++) {
        int rc = pat_checkpoint(MPI_COMM_WORLD, dir, seq, ng, 2);
        CHECK(rc == TRIB_OK, "commit %" PRIu64 ": %s", seq, trib_last_error(rc));
        seq_dir(path, sizeof path, dir, "ckpt-", seq);
        verify_all_parts(path, seq, ng, size);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    /* keep 2: checkpoint 1 is gone, 2 and 3 remain. */
    seq_dir(path, sizeof path, dir, "ckpt-", 1);
    CHECK(!dir_exists(path), "retention left %s", path);
    seq_dir(path, sizeof path, dir, "ckpt-", 2);
    CHECK(dir_exists(path), "retention removed %s", path);

    /* Every rank finds the same newest checkpoint. */
    uint64_t seq = 0;
    int rc = trib_ckpt_find_latest_all(MPI_COMM_WORLD, dir, NULL, path, sizeof path, &seq);
    CHECK(rc == TRIB_OK && seq == 3, "find_latest_all: rc %d seq %" PRIu64, rc, seq);

    /* One rank fails: nobody commits, the temporary directory is removed, all ranks get the error. */
    trib_ckpt_writer_t *w;
    trib_ckpt_write_opts_t o = TRIB_CKPT_WRITE_OPTS_INIT;
    o.fingerprint = PAT_FINGERPRINT;
    rc = trib_ckpt_begin(MPI_COMM_WORLD, dir, 4, &o, &w);
    CHECK(rc == TRIB_OK, "begin 4: %s", trib_last_error(rc));
    if (rc == TRIB_OK) {
        pat_write(w, 4, ng, my_rank, size);
        if (my_rank == size - 1) {
            rc = trib_ckpt_write_array(w, "bad name!", TRIB_CKPT_F32, 1, 0, &(float){1});
            CHECK(rc == TRIB_ERR_INVALID_ARG, "bad name accepted (%d)", rc);
        }
        rc = trib_ckpt_commit(w, NULL, 0);
        CHECK(rc == TRIB_ERR_INVALID_ARG, "commit after a failed write gave %d", rc);
        CHECK(strstr(trib_last_error(rc), "bad name") != NULL, "message: %s", trib_last_error(rc));
    }
    MPI_Barrier(MPI_COMM_WORLD);
    seq_dir(path, sizeof path, dir, "ckpt-", 4);
    seq_dir(tmp, sizeof tmp, dir, ".tmp-ckpt-", 4);
    CHECK(!dir_exists(path) && !dir_exists(tmp), "failed checkpoint left %s or %s", path, tmp);

    /* Global data from a rank other than 0 is an error that fails the commit everywhere. */
    if (size > 1) {
        rc = trib_ckpt_begin(MPI_COMM_WORLD, dir, 5, &o, &w);
        CHECK(rc == TRIB_OK, "begin 5: %s", trib_last_error(rc));
        if (rc == TRIB_OK) {
            if (my_rank == 1)
                CHECK(trib_ckpt_set_int(w, "epoch", 1) == TRIB_ERR_STATE, "set_int on rank 1 accepted");
            rc = trib_ckpt_commit(w, NULL, 0);
            CHECK(rc == TRIB_ERR_STATE, "commit gave %d", rc);
        }
    }
    /* Abort removes everything. */
    rc = trib_ckpt_begin(MPI_COMM_WORLD, dir, 6, &o, &w);
    CHECK(rc == TRIB_OK, "begin 6: %s", trib_last_error(rc));
    if (rc == TRIB_OK)
        CHECK(trib_ckpt_abort(w) == TRIB_OK, "abort failed");
    MPI_Barrier(MPI_COMM_WORLD);
    seq_dir(tmp, sizeof tmp, dir, ".tmp-ckpt-", 6);
    CHECK(!dir_exists(tmp), "abort left %s", tmp);

    /* Different sequence numbers on different ranks are refused. */
    if (size > 1) {
        rc = trib_ckpt_begin(MPI_COMM_WORLD, dir, my_rank == 0 ? 7 : 8, &o, &w);
        CHECK(rc == TRIB_ERR_MISMATCH && w == NULL, "mismatched seq gave %d", rc);
    }
    /* Rewriting an existing sequence number replaces it completely. */
    rc = pat_checkpoint(MPI_COMM_WORLD, dir, 3, ng + 5, 0);
    CHECK(rc == TRIB_OK, "rewrite of 3: %s", trib_last_error(rc));
    seq_dir(path, sizeof path, dir, "ckpt-", 3);
    verify_all_parts(path, 3, ng + 5, size);
}

static int write_one(const char *dir, uint64_t seq, size_t ng)
{
    int rc = pat_checkpoint(MPI_COMM_WORLD, dir, seq, ng, 0);
    CHECK(rc == TRIB_OK, "commit: %s", trib_last_error(rc));
    return rc;
}

/* Re-partitioning by global id: every row lands on exactly one of the new ranks. */
static void readall(const char *dir, size_t ng)
{
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char path[4096];
    uint64_t seq = 0;
    trib_ckpt_expect_t ex = TRIB_CKPT_EXPECT_INIT;
    const char *keys[] = {"k", "mode"}, *vals[] = {"8", "sync"};
    ex.fingerprint = PAT_FINGERPRINT;
    ex.config_keys = keys;
    ex.config_values = vals;
    ex.nconfig = 2;
    int rc = trib_ckpt_find_latest_all(MPI_COMM_WORLD, dir, &ex, path, sizeof path, &seq);
    CHECK(rc == TRIB_OK, "find_latest_all: %s", trib_last_error(rc));
    if (rc != TRIB_OK)
        return;
    trib_ckpt_reader_t *r;
    rc = trib_ckpt_open(path, &ex, 0, &r);
    CHECK(rc == TRIB_OK, "open: %s", trib_last_error(rc));
    if (rc != TRIB_OK)
        return;
    size_t owned = 0;
    for (int p = 0; p < trib_ckpt_nparts(r); p++) {
        const char *bad = pat_verify_part(r, p, seq, ng, size, my_rank, &owned);
        CHECK(bad == NULL, "%s", bad ? bad : "");
    }
    const char *bad = pat_verify_globals(r, seq);
    CHECK(bad == NULL, "%s", bad ? bad : "");
    CHECK(owned == pat_rows_of(ng, size, my_rank), "owns %zu rows after re-partitioning", owned);
    unsigned long long total = owned, all = 0;
    MPI_Allreduce(&total, &all, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    CHECK(all == ng, "re-partitioned rows sum to %llu, not %zu", all, ng);
    if (my_rank == 0)
        printf("readall: checkpoint %s written by %d ranks, read and re-partitioned over %d ranks\n", path,
               trib_ckpt_nparts(r), size);
    trib_ckpt_close(r);
}

/* Writes checkpoints forever after the newest one; killed from outside by crash.sh. */
static void crashloop(const char *dir, size_t ng)
{
    char pidfile[4096], path[4096];
    snprintf(pidfile, sizeof pidfile, "%s.pids", dir);
    mkdir(pidfile, 0777);
    /* Written under a temporary name and renamed, so crash.sh never reads a half-written pid. */
    char final_name[4096];
    snprintf(pidfile, sizeof pidfile, "%s.pids/tmp-%d", dir, my_rank);
    snprintf(final_name, sizeof final_name, "%s.pids/rank-%d", dir, my_rank);
    FILE *f = fopen(pidfile, "w");
    if (f) {
        fprintf(f, "%d\n", (int)getpid());
        if (fclose(f) == 0)
            rename(pidfile, final_name);
    }
    uint64_t seq = 0;
    int rc = trib_ckpt_find_latest_all(MPI_COMM_WORLD, dir, NULL, path, sizeof path, &seq);
    if (rc != TRIB_OK && rc != TRIB_ERR_NOT_FOUND) {
        CHECK(0, "find_latest_all: %s", trib_last_error(rc));
        return;
    }
    for (seq = seq + 1;; seq++) {
        rc = pat_checkpoint(MPI_COMM_WORLD, dir, seq, ng, 3);
        if (rc != TRIB_OK) {
            CHECK(0, "commit %" PRIu64 ": %s", seq, trib_last_error(rc));
            return;
        }
    }
}

static void check_latest(const char *dir, size_t ng)
{
    char path[4096];
    uint64_t seq = 0;
    int rc = trib_ckpt_find_latest(dir, NULL, path, sizeof path, &seq);
    CHECK(rc == TRIB_OK || rc == TRIB_ERR_NOT_FOUND, "find_latest: %s", trib_last_error(rc));
    if (rc == TRIB_ERR_NOT_FOUND) {
        printf("seq none\n");
        return;
    }
    if (rc != TRIB_OK)
        return;
    trib_ckpt_reader_t *r;
    rc = trib_ckpt_open(path, NULL, TRIB_CKPT_OPEN_VERIFY_FILES, &r);
    CHECK(rc == TRIB_OK, "open %s: %s", path, trib_last_error(rc));
    if (rc != TRIB_OK)
        return;
    for (int p = 0; p < trib_ckpt_nparts(r); p++) {
        const char *bad = pat_verify_part(r, p, seq, ng, 1, 0, NULL);
        CHECK(bad == NULL, "%s: %s", path, bad ? bad : "");
    }
    const char *bad = pat_verify_globals(r, seq);
    CHECK(bad == NULL, "%s: %s", path, bad ? bad : "");
    trib_ckpt_close(r);
    printf("seq %" PRIu64 "\n", seq);
}

int main(int argc, char **argv)
{
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS)
        return 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
    trib_log_set_rank(my_rank);
    const char *mode = argc > 2 ? argv[1] : "";
    const char *dir = argc > 2 ? argv[2] : "";
    size_t rows = 0;
    if (strcmp(mode, "roundtrip") == 0 && argc == 3) {
        roundtrip(dir);
    } else if (strcmp(mode, "write") == 0 && argc == 5) {
        write_one(dir, strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
    } else if (strcmp(mode, "readall") == 0 && argc == 4) {
        readall(dir, strtoull(argv[3], NULL, 10));
    } else if (strcmp(mode, "crashloop") == 0 && argc == 4) {
        crashloop(dir, strtoull(argv[3], NULL, 10));
    } else if (strcmp(mode, "check") == 0 && argc == 4) {
        rows = strtoull(argv[3], NULL, 10);
        if (my_rank == 0)
            check_latest(dir, rows);
    } else {
        if (my_rank == 0)
            fprintf(stderr, "usage: ckpt_mpi_test roundtrip DIR | write DIR SEQ ROWS | readall DIR ROWS | "
                            "crashloop DIR ROWS | check DIR ROWS\n");
        MPI_Finalize();
        return 2;
    }
    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (my_rank == 0)
        printf("ckpt_mpi_test %s: %s (%d failed checks)\n", mode, all ? "FAILED" : "passed", all);
    MPI_Finalize();
    return all ? 1 : 0;
}
