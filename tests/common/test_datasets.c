/*
 * test_datasets.c - the generated datasets of the MPI training tests (see
 * test_datasets.h): rank 0 writes and splits, the status is broadcast.
 */
#include "common/test_datasets.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_root(void);

int test_scratch_dir(const char *prefix, char *dir, size_t cap)
{
    if (is_root()) {
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(dir, cap, "%s/%s-XXXXXX", base, prefix);
        if (!mkdtemp(dir))
            dir[0] = '\0';
    }
    MPI_Bcast(dir, (int)cap, MPI_CHAR, 0, MPI_COMM_WORLD);
    return dir[0] ? 0 : -1;
}

void test_scratch_remove(const char *dir)
{
    if (!is_root() || !dir[0])
        return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

void test_dataset_paths(const char *dir, const char *name, char *train, char *test, size_t cap)
{
    snprintf(train, cap, "%s/%s-train", dir, name);
    snprintf(test, cap, "%s/%s-test", dir, name);
}

/* Splits DIR/NAME-all into train and test; rank 0 only. */
static int split_all(const char *dir, const char *name, const trib_data_write_opts_t *w)
{
    char all[512], tr[512], te[512];
    snprintf(all, sizeof all, "%s/%s-all", dir, name);
    test_dataset_paths(dir, name, tr, te, sizeof tr);
    trib_split_opts_t so;
    memset(&so, 0, sizeof so);
    so.test_fraction = 0.1;
    so.seed = 3;
    so.by = TRIB_SPLIT_RANDOM;
    so.write = *w;
    return trib_data_split(all, tr, te, &so, NULL);
}

/* Every rank gets rank 0's status (and rank 0 says what failed). */
static int share_status(int rc, const char *what)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0 && rc != TRIB_OK)
        fprintf(stderr, "%s: %s\n", what, trib_last_error(rc));
    MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return rc;
}

static int is_root(void)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank == 0;
}

int test_dataset_planted(const char *dir, const char *name, const trib_synth_config_t *c, uint32_t n_shards)
{
    int rc = TRIB_OK;
    if (is_root()) {
        trib_data_write_opts_t w = TRIB_DATA_WRITE_OPTS_INIT;
        w.n_shards = n_shards;
        char all[512];
        snprintf(all, sizeof all, "%s/%s-all", dir, name);
        rc = trib_synth_write(c, all, &w, NULL);
        if (rc == TRIB_OK)
            rc = split_all(dir, name, &w);
    }
    return share_status(rc, "test_dataset_planted");
}

int test_dataset_skewed(const char *dir, const char *name, uint32_t heavy, uint32_t light_users, uint32_t per_user,
                        uint32_t n_shards)
{
    int rc = TRIB_OK;
    if (is_root()) {
        trib_ratings_t r;
        trib_ratings_init(&r);
        rc = trib_ratings_alloc(&r, (size_t)heavy + (size_t)light_users * per_user, 0);
        size_t n = 0;
        for (uint32_t i = 0; rc == TRIB_OK && i < heavy; i++, n++) {
            r.user[n] = 0;
            r.item[n] = i;
            r.rating[n] = 3.0f + (float)((i * 7919u) % 5) * 0.5f;
        }
        for (uint32_t u = 1; rc == TRIB_OK && u <= light_users; u++)
            for (uint32_t j = 0; j < per_user; j++, n++) {
                r.user[n] = u;
                r.item[n] = (u * 37u + j * 101u) % heavy;
                r.rating[n] = 2.0f + (float)((u + j) % 4);
            }
        trib_data_write_opts_t w = TRIB_DATA_WRITE_OPTS_INIT;
        w.n_shards = n_shards;
        char all[512];
        snprintf(all, sizeof all, "%s/%s-all", dir, name);
        if (rc == TRIB_OK)
            rc = trib_data_write(all, &r, light_users + 1, heavy, &w);
        trib_ratings_free(&r);
        if (rc == TRIB_OK)
            rc = split_all(dir, name, &w);
    }
    return share_status(rc, "test_dataset_skewed");
}
