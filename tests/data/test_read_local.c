/*
 * test_read_local.c - partition invariants of the collective reader (run at
 * several rank counts by ctest).  For every shard count S in {1,2,4,7,16}:
 * rank 0 writes a synthetic dataset with S shards and splits it; every rank
 * reads train and test with the train set's owner map; then
 *   - every rating a rank holds belongs to a user that rank owns,
 *   - counts and an order-independent checksum summed over ranks equal those of
 *     the whole dataset read serially (every rating read exactly once),
 *   - the per-rank counts equal the owner map's loads (train),
 *   - test ratings are owned by the same rank as the user's train ratings,
 * also with tiny chunks (many chunks per rank and shard, some ranks out of
 * rows before others); two reads give the same order, whatever the chunk
 * size; a sink that fails on one rank makes every rank fail.  Odd shard counts
 * are range-partitioned, even ones hash-partitioned (the two ways a rank's
 * row ranges are located).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tributary/data.h"

static int failures;
#define CHECK(cond, ...)                                                                                         \
    do {                                                                                                         \
        if (!(cond)) {                                                                                           \
            failures++;                                                                                          \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                 \
            fprintf(stderr, __VA_ARGS__);                                                                        \
            fputc('\n', stderr);                                                                                 \
        }                                                                                                        \
    } while (0)

static uint64_t mix(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ULL;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Order-independent checksum of a set of ratings. */
static uint64_t checksum(const trib_ratings_t *r)
{
    uint64_t s = 0;
    for (size_t i = 0; i < r->n; i++) {
        uint32_t bits;
        memcpy(&bits, &r->rating[i], 4);
        s += mix(((uint64_t)r->user[i] << 32 | r->item[i]) ^ mix(bits + (r->timestamp ? (uint64_t)r->timestamp[i] : 0)));
    }
    return s;
}

static void check_set(const char *dir, const trib_owner_map_t *m, const trib_data_read_opts_t *o, int rank,
                      int size, int check_loads)
{
    trib_ratings_t mine;
    int rc = trib_data_read_local_ex(dir, m, MPI_COMM_WORLD, o, &mine);
    CHECK(rc == TRIB_OK, "read_local %s: %s", dir, trib_last_error(rc));
    if (rc != TRIB_OK)
        return;
    for (size_t i = 0; i < mine.n; i++)
        if (trib_data_owner(m, mine.user[i]) != rank) {
            CHECK(0, "%s: rank %d holds user %u owned by %d", dir, rank, mine.user[i], trib_data_owner(m, mine.user[i]));
            break;
        }
    if (check_loads)
        CHECK(mine.n == trib_data_owner_load(m, rank), "%s: rank %d has %zu ratings, owner map says %llu", dir, rank,
              mine.n, (unsigned long long)trib_data_owner_load(m, rank));
    if (o->sort)
        for (size_t i = 1; i < mine.n; i++)
            if (mine.user[i] < mine.user[i - 1] || (mine.user[i] == mine.user[i - 1] && mine.item[i] <= mine.item[i - 1])) {
                CHECK(0, "%s: sorted output out of order at %zu", dir, i);
                break;
            }
    uint64_t local[2] = {mine.n, checksum(&mine)}, global[2];
    MPI_Allreduce(local, global, 2, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    trib_ratings_t all;
    rc = trib_data_read_all(dir, &all);
    CHECK(rc == TRIB_OK, "read_all %s: %s", dir, trib_last_error(rc));
    if (rc == TRIB_OK) {
        CHECK(global[0] == all.n, "%s: ranks hold %llu ratings in total, dataset has %zu", dir,
              (unsigned long long)global[0], all.n);
        CHECK(global[1] == checksum(&all), "%s: checksum of the union differs from the dataset's", dir);
        trib_ratings_free(&all);
    }
    (void)size;
    trib_ratings_free(&mine);
}

/* Two reads with the same options: the same ratings in the same order. */
static void check_same_order(const char *dir, const trib_owner_map_t *m, const trib_data_read_opts_t *o)
{
    trib_ratings_t a, b;
    int ra = trib_data_read_local_ex(dir, m, MPI_COMM_WORLD, o, &a);
    trib_data_read_opts_t whole = *o;
    whole.rows_per_chunk = 0; /* the default chunk: one part per shard on this small data */
    int rb = trib_data_read_local_ex(dir, m, MPI_COMM_WORLD, &whole, &b);
    CHECK(ra == TRIB_OK && rb == TRIB_OK, "%s: reads failed (%s, %s)", dir, trib_err_name(ra), trib_err_name(rb));
    if (ra == TRIB_OK && rb == TRIB_OK) {
        CHECK(a.n == b.n, "%s: %zu then %zu ratings", dir, a.n, b.n);
        int same = a.n == b.n && memcmp(a.user, b.user, a.n * 4) == 0 && memcmp(a.item, b.item, a.n * 4) == 0 &&
                   memcmp(a.rating, b.rating, a.n * 4) == 0;
        CHECK(same, "%s: reads with chunks of %zu rows and of the default differ in order", dir, o->rows_per_chunk);
    }
    trib_ratings_free(&a);
    trib_ratings_free(&b);
}

typedef struct {
    int fail; /* fail at the first part */
    size_t parts;
} failing_sink_t;

static int fs_begin(void *ctx, const trib_dataset_info_t *info, uint64_t n, int with_ts)
{
    (void)ctx, (void)info, (void)n, (void)with_ts;
    return TRIB_OK;
}

static int fs_part(void *ctx, const trib_ratings_t *p)
{
    failing_sink_t *f = ctx;
    (void)p;
    f->parts++;
    return f->fail ? trib_errorf(TRIB_ERR_IO, "sink refuses") : TRIB_OK;
}

/* The last rank's sink fails: every rank returns an error, none hangs. */
static void check_sink_failure(const char *dir, const trib_owner_map_t *m, int rank, int size)
{
    failing_sink_t f = {rank == size - 1, 0};
    trib_data_sink_t sink = {&f, fs_begin, fs_part};
    trib_data_read_opts_t o = TRIB_DATA_READ_OPTS_INIT;
    o.rows_per_chunk = 333;
    int rc = trib_data_read_local_each(dir, m, MPI_COMM_WORLD, &o, &sink);
    int failed_there = f.fail && f.parts > 0, somebody = 0;
    MPI_Allreduce(&failed_there, &somebody, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (somebody) /* the failing rank's sink ran, so the read must fail everywhere */
        CHECK(rc != TRIB_OK, "%s: rank %d returned OK although rank %d's sink failed", dir, rank, size - 1);
    CHECK(f.parts <= 1 || !f.fail, "%s: the failing sink got %zu parts after its error", dir, f.parts);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char base[256] = "";
    if (rank == 0) {
        snprintf(base, sizeof base, "/tmp/trib-test-read-XXXXXX");
        if (!mkdtemp(base))
            base[0] = '\0';
    }
    MPI_Bcast(base, sizeof base, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (!base[0])
        MPI_Abort(MPI_COMM_WORLD, 2);
    static const uint32_t shard_counts[] = {1, 2, 4, 7, 16};
    for (size_t k = 0; k < sizeof shard_counts / sizeof shard_counts[0]; k++) {
        uint32_t S = shard_counts[k];
        char in[300], tr[300], te[300];
        snprintf(in, sizeof in, "%s/in-%u", base, S);
        snprintf(tr, sizeof tr, "%s/train-%u", base, S);
        snprintf(te, sizeof te, "%s/test-%u", base, S);
        int rc = TRIB_OK;
        if (rank == 0) {
            trib_synth_config_t c;
            trib_synth_config_init(&c);
            c.n_users = 97 + S; /* a few users, uneven counts */
            c.n_items = 60;
            c.n_ratings = 2500;
            c.seed = S;
            trib_data_write_opts_t w = TRIB_DATA_WRITE_OPTS_INIT;
            w.n_shards = S;
            w.partition = S % 2 ? TRIB_PARTITION_RANGE : TRIB_PARTITION_HASH;
            rc = trib_synth_write(&c, in, &w, NULL);
            trib_split_opts_t so;
            memset(&so, 0, sizeof so);
            so.test_fraction = 0.25;
            so.seed = 3;
            if (rc == TRIB_OK)
                rc = trib_data_split(in, tr, te, &so, NULL);
            CHECK(rc == TRIB_OK, "setup S=%u: %s", S, trib_last_error(rc));
        }
        MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
        if (rc != TRIB_OK)
            break;
        trib_dataset_t *ds;
        rc = trib_dataset_open(tr, &ds);
        CHECK(rc == TRIB_OK, "open %s: %s", tr, trib_last_error(rc));
        if (rc != TRIB_OK)
            break;
        trib_owner_map_t *m;
        rc = trib_data_owner_map_from_dataset(ds, size, &m);
        CHECK(rc == TRIB_OK, "owner map: %s", trib_last_error(rc));
        trib_data_read_opts_t o = TRIB_DATA_READ_OPTS_INIT;
        check_set(tr, m, &o, rank, size, 1);
        check_set(te, m, &o, rank, size, 0); /* test set: same owners (owner checked per rating) */
        o.sort = 1;
        check_set(tr, m, &o, rank, size, 1);
        check_set(in, m, &o, rank, size, 0);
        o.sort = 0;
        o.rows_per_chunk = 97 + 41 * S; /* several chunks a rank, uneven */
        check_set(tr, m, &o, rank, size, 1);
        o.rows_per_chunk = 29;
        check_set(in, m, &o, rank, size, 0);
        check_same_order(in, m, &o);
        check_sink_failure(tr, m, rank, size);
        if (rank == 0 && S == 4)
            printf("P=%d S=%u owner imbalance %.4f\n", size, S, trib_data_owner_imbalance(m));
        /* a map from another id space is refused on every rank */
        trib_owner_map_t *other;
        uint64_t ones[3] = {1, 1, 1};
        trib_data_owner_map_create(ones, 3, size, 12345, &other);
        trib_ratings_t r;
        rc = trib_data_read_local(tr, other, MPI_COMM_WORLD, &r);
        CHECK(rc == TRIB_ERR_INCOMPATIBLE, "foreign owner map accepted (%s)", trib_err_name(rc));
        trib_data_owner_map_destroy(other);
        trib_data_owner_map_destroy(m);
        trib_dataset_close(ds);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    int total = 0;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", base);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", base);
        printf("test_read_local P=%d: %s (%d failures)\n", size, total ? "FAILED" : "passed", total);
    }
    MPI_Finalize();
    return total ? 1 : 0;
}
