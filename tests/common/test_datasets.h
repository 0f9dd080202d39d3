/*
 * test_datasets.h - scratch directories and datasets of the MPI training tests (tests/train,
 * tests/ps).  Every function that writes is collective over MPI_COMM_WORLD:
 * rank 0 writes DIR/NAME-all and splits it (10% test, seed 3) into
 * DIR/NAME-train and DIR/NAME-test; every rank returns rank 0's status.
 */
#ifndef TRIB_TESTS_DATASETS_H
#define TRIB_TESTS_DATASETS_H

#include <stddef.h>
#include <stdint.h>

#include "tributary/data.h"

/* Collective: rank 0 makes $TMPDIR/PREFIX-XXXXXX (default /tmp), every rank gets its path in dir.
 * 0 on success, -1 when it could not be made. */
int test_scratch_dir(const char *prefix, char *dir, size_t cap);

/* Rank 0 removes the scratch directory (and says so on stderr when it cannot). */
void test_scratch_remove(const char *dir);

/* The train and test paths of dataset NAME under DIR. */
void test_dataset_paths(const char *dir, const char *name, char *train, char *test, size_t cap);

/* Planted low-rank data (trib_synth_write with *c) in n_shards shards. */
int test_dataset_planted(const char *dir, const char *name, const trib_synth_config_t *c, uint32_t n_shards);

/* User 0 rated `heavy` items; users 1..light_users rated `per_user` items each: one user's owner gets far
 * more ratings than anyone else (the owner map cannot split a user). */
int test_dataset_skewed(const char *dir, const char *name, uint32_t heavy, uint32_t light_users, uint32_t per_user,
                        uint32_t n_shards);

#endif
