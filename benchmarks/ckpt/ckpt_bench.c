/*
 * ckpt_bench.c - size and write/read time of a matrix-factorisation checkpoint.
 *
 *   mpirun -np P ckpt_bench [--users N] [--items N] [--k K] [--reps R] [--dir D] [--layout perrank|shared]
 *                           [--no-fsync]
 *
 * The model is shaped like a sync-mode trainer's: users partitioned over the
 * ranks (user ids, factors N x K, biases, AdaGrad sums of both), items
 * replicated (written once, by rank 0: factors, biases, AdaGrad sums), a few
 * scalars.  Defaults: MovieLens-1M at k = 64 (6,040 users, 3,706 items).
 *
 * layout perrank (the library, src/ckpt): one HDF5 file per rank + manifest +
 * SUMS, fsync, rename.  Write = trib_ckpt_begin .. commit.  Read = what a
 * resuming job does: trib_ckpt_find_latest_all (rank 0 verifies every file's
 * CRC32C) + every rank opens the checkpoint and reads all parts' user arrays
 * (re-partitioning by id; with the same rank count every rank keeps its own
 * rows) and the item arrays, each dataset's CRC32C checked.
 *
 * layout shared (for comparison only, not used by the library): one file
 * written collectively with parallel HDF5 (MPI-IO driver, collective
 * transfers), each rank a hyperslab of the user arrays, then fsync.  No
 * checksums, no SUMS, no rename: a lower bound for that design's write time.
 *
 * Each repetition writes a new checkpoint; times are the maximum over ranks,
 * reported as median and minimum of the repetitions.  The files are read
 * right after they were written, so reads come from the page cache.
 */
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ckpt/internal.h"
#include "common/cli.h"
#include "core/timer.h"
#include "tributary/ckpt.h"

typedef struct {
    size_t users, items, k;
    int reps;
    const char *dir;
    const char *layout;
    int durable;
} bench_cfg_t;

typedef struct {
    size_t n;          /* users on this rank */
    uint32_t *ids;
    float *uf, *ub, *uf_sum, *ub_sum;
    float *itf, *itb, *itf_sum, *itb_sum;
} model_t;

static int rank_, size_;

static void die(const char *what)
{
    fprintf(stderr, "ckpt_bench (rank %d): %s: %s\n", rank_, what, trib_last_error(TRIB_ERR_INTERNAL));
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static float *filled(size_t n, float base)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p)
        die("out of memory");
    for (size_t i = 0; i < n; i++)
        p[i] = base + (float)(i % 1000) * 1e-3f;
    return p;
}

static void model_init(model_t *m, const bench_cfg_t *c)
{
    m->n = c->users / (size_t)size_ + ((size_t)rank_ < c->users % (size_t)size_);
    m->ids = malloc((m->n ? m->n : 1) * sizeof *m->ids);
    if (!m->ids)
        die("out of memory");
    for (size_t i = 0; i < m->n; i++)
        m->ids[i] = (uint32_t)((size_t)rank_ + i * (size_t)size_);
    m->uf = filled(m->n * c->k, 0.1f);
    m->uf_sum = filled(m->n * c->k, 1.0f);
    m->ub = filled(m->n, 0.2f);
    m->ub_sum = filled(m->n, 1.0f);
    m->itf = filled(c->items * c->k, 0.3f);
    m->itf_sum = filled(c->items * c->k, 1.0f);
    m->itb = filled(c->items, 0.4f);
    m->itb_sum = filled(c->items, 1.0f);
}

static double max_over_ranks(double t)
{
    double m;
    MPI_Allreduce(&t, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return m;
}

/* ----------------------------------------------------------- per-rank files */

static void write_perrank(const bench_cfg_t *c, const model_t *m, uint64_t seq)
{
    trib_ckpt_write_opts_t o = TRIB_CKPT_WRITE_OPTS_INIT;
    o.fingerprint = "bench";
    o.keep = 2;
    o.durable = c->durable;
    trib_ckpt_writer_t *w;
    if (trib_ckpt_begin(MPI_COMM_WORLD, c->dir, seq, &o, &w) != TRIB_OK)
        die("begin");
    trib_ckpt_write_array(w, "user_ids", TRIB_CKPT_U32, m->n, 0, m->ids);
    trib_ckpt_write_array(w, "user_factors", TRIB_CKPT_F32, m->n, c->k, m->uf);
    trib_ckpt_write_array(w, "user_factors_adagrad", TRIB_CKPT_F32, m->n, c->k, m->uf_sum);
    trib_ckpt_write_array(w, "user_bias", TRIB_CKPT_F32, m->n, 0, m->ub);
    trib_ckpt_write_array(w, "user_bias_adagrad", TRIB_CKPT_F32, m->n, 0, m->ub_sum);
    if (rank_ == 0) {
        char k[32];
        snprintf(k, sizeof k, "%zu", c->k);
        trib_ckpt_set_config(w, "k", k);
        trib_ckpt_set_config(w, "mode", "sync");
        trib_ckpt_set_int(w, "epoch", (int64_t)seq);
        trib_ckpt_set_int(w, "position", 0);
        trib_ckpt_write_global_array(w, "item_factors", TRIB_CKPT_F32, c->items, c->k, m->itf);
        trib_ckpt_write_global_array(w, "item_factors_adagrad", TRIB_CKPT_F32, c->items, c->k, m->itf_sum);
        trib_ckpt_write_global_array(w, "item_bias", TRIB_CKPT_F32, c->items, 0, m->itb);
        trib_ckpt_write_global_array(w, "item_bias_adagrad", TRIB_CKPT_F32, c->items, 0, m->itb_sum);
    }
    if (trib_ckpt_commit(w, NULL, 0) != TRIB_OK)
        die("commit");
}

/* Resume: discovery (verified), then every part's user rows with id % size == rank, and the items. */
static void read_perrank(const bench_cfg_t *c, model_t *m)
{
    char path[4096];
    if (trib_ckpt_find_latest_all(MPI_COMM_WORLD, c->dir, NULL, path, sizeof path, NULL) != TRIB_OK)
        die("find_latest_all");
    trib_ckpt_reader_t *r;
    if (trib_ckpt_open(path, NULL, 0, &r) != TRIB_OK)
        die("open");
    size_t got = 0;
    for (int p = 0; p < trib_ckpt_nparts(r); p++) {
        trib_ckpt_array_info_t info;
        if (trib_ckpt_array_info(r, p, "user_ids", &info) != TRIB_OK)
            die("info");
        size_t n = info.rows;
        uint32_t *ids = malloc((n ? n : 1) * sizeof *ids);
        float *f = malloc((n * c->k + 1) * sizeof *f), *fs = malloc((n * c->k + 1) * sizeof *fs);
        float *b = malloc((n + 1) * sizeof *b), *bs = malloc((n + 1) * sizeof *bs);
        if (!ids || !f || !fs || !b || !bs)
            die("out of memory");
        /* Parts holding none of this rank's users are skipped after reading their ids. */
        if (trib_ckpt_read_array(r, p, "user_ids", TRIB_CKPT_U32, ids, n) != TRIB_OK)
            die("read ids");
        size_t mine = 0;
        for (size_t i = 0; i < n; i++)
            mine += ids[i] % (uint32_t)size_ == (uint32_t)rank_;
        if (mine > 0 &&
            (trib_ckpt_read_array(r, p, "user_factors", TRIB_CKPT_F32, f, n * c->k) != TRIB_OK ||
             trib_ckpt_read_array(r, p, "user_factors_adagrad", TRIB_CKPT_F32, fs, n * c->k) != TRIB_OK ||
             trib_ckpt_read_array(r, p, "user_bias", TRIB_CKPT_F32, b, n) != TRIB_OK ||
             trib_ckpt_read_array(r, p, "user_bias_adagrad", TRIB_CKPT_F32, bs, n) != TRIB_OK))
            die("read users");
        for (size_t i = 0; i < n && mine > 0; i++)
            if (ids[i] % (uint32_t)size_ == (uint32_t)rank_) {
                memcpy(m->uf + got * c->k, f + i * c->k, c->k * sizeof *f);
                memcpy(m->uf_sum + got * c->k, fs + i * c->k, c->k * sizeof *f);
                m->ub[got] = b[i];
                m->ub_sum[got] = bs[i];
                got++;
            }
        free(ids); free(f); free(fs); free(b); free(bs);
    }
    if (got != m->n)
        die("re-partitioning lost rows");
    if (trib_ckpt_read_array(r, TRIB_CKPT_GLOBAL, "item_factors", TRIB_CKPT_F32, m->itf, c->items * c->k) != TRIB_OK ||
        trib_ckpt_read_array(r, TRIB_CKPT_GLOBAL, "item_factors_adagrad", TRIB_CKPT_F32, m->itf_sum, c->items * c->k) != TRIB_OK ||
        trib_ckpt_read_array(r, TRIB_CKPT_GLOBAL, "item_bias", TRIB_CKPT_F32, m->itb, c->items) != TRIB_OK ||
        trib_ckpt_read_array(r, TRIB_CKPT_GLOBAL, "item_bias_adagrad", TRIB_CKPT_F32, m->itb_sum, c->items) != TRIB_OK)
        die("read items");
    trib_ckpt_close(r);
}

static uint64_t dir_bytes(const char *path)
{
    uint64_t seq;
    int nparts;
    if (trib_ckpt_sums_verify(path, 0, &seq, &nparts) != TRIB_OK)
        return 0;
    uint64_t total = 0;
    char f[4096], name[64];
    struct stat st;
    const char *fixed[] = {TRIB_CKPT_MANIFEST, TRIB_CKPT_SUMS};
    for (int i = 0; i < 2; i++) {
        if (trib_ckpt_join(f, sizeof f, path, fixed[i]) != TRIB_OK)
            return 0;
        total += stat(f, &st) == 0 ? (uint64_t)st.st_size : 0;
    }
    for (int p = 0; p < nparts; p++) {
        if (trib_ckpt_part_name(name, sizeof name, p) != TRIB_OK || trib_ckpt_join(f, sizeof f, path, name) != TRIB_OK)
            return 0;
        total += stat(f, &st) == 0 ? (uint64_t)st.st_size : 0;
    }
    return total;
}

/* ------------------------------------------------------------- shared file */

static void shared_dataset(hid_t file, hid_t dxpl, const char *name, size_t rows, size_t cols, size_t first,
                           size_t count, const float *data)
{
    hsize_t dims[2] = {rows, cols}, start[2] = {first, 0}, cnt[2] = {count, cols};
    int nd = cols ? 2 : 1;
    hid_t fs = H5Screate_simple(nd, dims, NULL);
    hid_t d = H5Dcreate2(file, name, H5T_IEEE_F32LE, fs, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (fs < 0 || d < 0)
        die("H5Dcreate2 (shared)");
    hid_t ms = H5Screate_simple(nd, cnt, NULL);
    if (count > 0)
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
    else {
        H5Sselect_none(fs);
        H5Sselect_none(ms);
    }
    if (H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, dxpl, data) < 0)
        die("H5Dwrite (shared)");
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
}

/* Returns the file's size (rank 0). */
static uint64_t write_shared(const bench_cfg_t *c, const model_t *m, uint64_t seq)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/shared-%llu.h5", c->dir, (unsigned long long)seq);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0)
        die("H5Fcreate (shared)");
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    /* Users in contiguous blocks of the global arrays (rank r: its n rows after those of ranks < r). */
    unsigned long long n = m->n, first = 0;
    MPI_Exscan(&n, &first, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    if (rank_ == 0)
        first = 0;
    shared_dataset(f, dxpl, "user_factors", c->users, c->k, first, m->n, m->uf);
    shared_dataset(f, dxpl, "user_factors_adagrad", c->users, c->k, first, m->n, m->uf_sum);
    shared_dataset(f, dxpl, "user_bias", c->users, 0, first, m->n, m->ub);
    shared_dataset(f, dxpl, "user_bias_adagrad", c->users, 0, first, m->n, m->ub_sum);
    size_t ni = rank_ == 0 ? c->items : 0;
    shared_dataset(f, dxpl, "item_factors", c->items, c->k, 0, ni, m->itf);
    shared_dataset(f, dxpl, "item_factors_adagrad", c->items, c->k, 0, ni, m->itf_sum);
    shared_dataset(f, dxpl, "item_bias", c->items, 0, 0, ni, m->itb);
    shared_dataset(f, dxpl, "item_bias_adagrad", c->items, 0, 0, ni, m->itb_sum);
    H5Pclose(dxpl);
    if (H5Fclose(f) < 0)
        die("H5Fclose (shared)");
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank_ == 0 && c->durable && trib_io_fsync_file(path) != TRIB_OK)
        die("fsync (shared)");
    MPI_Barrier(MPI_COMM_WORLD);
    struct stat st;
    uint64_t bytes = rank_ == 0 && stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (rank_ == 0 && seq > 1) {
        snprintf(path, sizeof path, "%s/shared-%llu.h5", c->dir, (unsigned long long)(seq - 1));
        remove(path);
    }
    return bytes;
}

/* --------------------------------------------------------------------- main */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void parse(int argc, char **argv, bench_cfg_t *c)
{
    *c = (bench_cfg_t){6040, 3706, 64, 5, "ckpt-bench", "perrank", 1};
    const trib_cli_opt_t opts[] = {
        {.name = "users", .kind = TRIB_CLI_SIZE, .dst = &c->users, .arg = "N", .help = "users"},
        {.name = "items", .kind = TRIB_CLI_SIZE, .dst = &c->items, .arg = "N", .help = "items"},
        {.name = "k", .kind = TRIB_CLI_SIZE, .dst = &c->k, .min = 1, .max = 1e6, .arg = "K", .help = "latent factors"},
        {.name = "reps", .kind = TRIB_CLI_INT, .dst = &c->reps, .min = 1, .max = 1e6, .arg = "R",
         .help = "repetitions (each writes a new checkpoint)"},
        {.name = "dir", .kind = TRIB_CLI_STRING, .dst = &c->dir, .arg = "D", .help = "directory of the checkpoints"},
        {.name = "layout", .kind = TRIB_CLI_STRING, .dst = &c->layout, .arg = "L",
         .help = "perrank (the library) or shared (one parallel HDF5 file, for comparison)"},
        {.name = "no-fsync", .kind = TRIB_CLI_CLEAR, .dst = &c->durable, .help = "skip the fsync calls"},
        {0}};
    trib_cli_t cli = {.usage = "Usage: mpirun -np P ckpt_bench [options]\n"
                               "Size and write/read time of a matrix-factorisation checkpoint.\n\n",
                      .opts = opts};
    trib_cli_prog = "ckpt_bench";
    trib_cli_report_rank0(MPI_COMM_WORLD);
    int rc = trib_cli_parse(&cli, argc, argv);
    if (!rc && cli.help && rank_ == 0)
        trib_cli_print_help(&cli);
    trib_cli_free(&cli);
    if (!rc && !cli.help && strcmp(c->layout, "perrank") != 0 && strcmp(c->layout, "shared") != 0)
        rc = trib_cli_usage("--layout: '%s' is not perrank or shared", c->layout);
    if (rc || cli.help || cli.version) {
        MPI_Finalize();
        exit(rc);
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    bench_cfg_t c;
    parse(argc, argv, &c);
    if (rank_ == 0) {
        trib_io_rmtree(c.dir);
        trib_io_mkdir_p(c.dir);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    model_t m;
    model_init(&m, &c);
    int shared = strcmp(c.layout, "shared") == 0;
    double *wt = malloc((size_t)c.reps * sizeof *wt), *rt = malloc((size_t)c.reps * sizeof *rt);
    if (!wt || !rt)
        die("out of memory");
    uint64_t bytes = 0;
    for (int rep = 0; rep < c.reps; rep++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = trib_now();
        if (shared)
            bytes = write_shared(&c, &m, (uint64_t)rep + 1);
        else
            write_perrank(&c, &m, (uint64_t)rep + 1);
        wt[rep] = max_over_ranks(trib_now() - t0);
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = trib_now();
        if (!shared)
            read_perrank(&c, &m);
        rt[rep] = max_over_ranks(trib_now() - t0);
    }
    if (rank_ == 0) {
        if (!shared) {
            char path[4096];
            snprintf(path, sizeof path, "%s/ckpt-%012d", c.dir, c.reps);
            bytes = dir_bytes(path);
        }
        qsort(wt, (size_t)c.reps, sizeof *wt, cmp_double);
        qsort(rt, (size_t)c.reps, sizeof *rt, cmp_double);
        printf("layout=%s%s ranks=%d users=%zu items=%zu k=%zu reps=%d bytes=%llu write_median_ms=%.1f "
               "write_min_ms=%.1f",
               c.layout, c.durable ? "" : ",no-fsync", size_, c.users, c.items, c.k, c.reps,
               (unsigned long long)bytes, 1e3 * wt[c.reps / 2], 1e3 * wt[0]);
        if (shared)
            printf(" read=n/a\n");
        else
            printf(" read_median_ms=%.1f read_min_ms=%.1f\n", 1e3 * rt[c.reps / 2], 1e3 * rt[0]);
    }
    if (rank_ == 0)
        trib_io_rmtree(c.dir);
    free(wt);
    free(rt);
    MPI_Finalize();
    return 0;
}
