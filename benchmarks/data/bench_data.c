/*
 * bench_data.c - helpers for benchmarks/data/run.sh.
 *
 *   bench_data gencsv FILE N        writes N MovieLens-shaped lines "user,item,rating,timestamp"
 *                                    (users in order, items ascending per user, half-star ratings)
 *   bench_data read DIR [REPEATS]    reads every shard into memory (trib_data_read_all), prints the
 *                                    best time and GB/s over the shard files' bytes, twice: into
 *                                    fresh memory (the kernel zeroes every new page: what a new
 *                                    process pays once) and with freed memory kept by malloc and
 *                                    reused (steady state of a process that reads repeatedly)
 *   bench_data owners DIR            owner-map imbalance (max/mean ratings per rank) of trib_data_owner
 *                                    (range cuts) against a hash of the user id, for several P
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <malloc.h>

#include "tributary/data.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int gencsv(const char *path, uint64_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return perror(path), 1;
    static char buf[1 << 20];
    setvbuf(f, buf, _IOFBF, sizeof buf);
    const uint64_t items = 27000, users = 138000; /* shaped like MovieLens-20M */
    uint64_t s = 42, left = n;
    fprintf(f, "userId,movieId,rating,timestamp\n");
    for (uint64_t u = 1; left > 0; u++) {
        uint64_t want = u < users ? 1 + n / users : left; /* ~145 per user, any rest on the last */
        want = want > left ? left : want;
        uint64_t step = items / (want + 1), item = 1 + next(&s) % (step ? step : 1);
        for (uint64_t k = 0; k < want; k++) {
            unsigned r = 1 + (unsigned)(next(&s) % 10); /* 0.5 .. 5.0 */
            fprintf(f, "%llu,%llu,%u.%u,%llu\n", (unsigned long long)u, (unsigned long long)item, r / 2,
                    r % 2 ? 5 : 0, (unsigned long long)(1000000000 + next(&s) % 400000000));
            item += 1 + next(&s) % (step ? step : 1);
        }
        left -= want;
    }
    return fclose(f) != 0;
}

static int bench_read(const char *dir, int repeats)
{
    trib_dataset_t *ds;
    int rc = trib_dataset_open(dir, &ds);
    if (rc != TRIB_OK)
        return fprintf(stderr, "bench_data: %s\n", trib_last_error(rc)), 1;
    uint64_t bytes = 0;
    for (uint32_t s = 0; s < trib_dataset_info(ds)->n_shards; s++) {
        char p[4096];
        struct stat st;
        trib_dataset_shard_path(ds, s, p, sizeof p);
        if (stat(p, &st) == 0)
            bytes += (uint64_t)st.st_size;
    }
    trib_dataset_close(ds);
    for (int mode = 0; mode < 2; mode++) {
    if (mode == 1) { /* keep freed memory in the heap so the next read reuses touched pages */
        mallopt(M_MMAP_THRESHOLD, 1 << 30);
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
        mallopt(M_TOP_PAD, 64 << 20);
    }
    double best = 1e30;
    size_t n = 0;
    for (int r = 0; r < repeats + mode; r++) {
        trib_ratings_t all;
        double t0 = now();
        rc = trib_data_read_all(dir, &all);
        double t = now() - t0;
        if (rc != TRIB_OK)
            return fprintf(stderr, "bench_data: %s\n", trib_last_error(rc)), 1;
        n = all.n;
        trib_ratings_free(&all);
        if (mode == 0 || r > 0) /* mode 1: the first read only touches the memory */
            best = t < best ? t : best;
    }
    printf("read (%s): %zu ratings, %.1f MB of shard files in %.3f s (best of %d): %.2f GB/s\n",
           mode ? "memory reused" : "fresh memory", n, (double)bytes / 1e6, best, repeats,
           (double)bytes / 1e9 / best);
    }
    return 0;
}

static uint64_t hash_user(uint64_t u)
{
    uint64_t s = u * 0x9e3779b97f4a7c15ULL;
    return next(&s);
}

static int owners(const char *dir)
{
    trib_dataset_t *ds;
    int rc = trib_dataset_open(dir, &ds);
    if (rc != TRIB_OK)
        return fprintf(stderr, "bench_data: %s\n", trib_last_error(rc)), 1;
    const uint64_t *c = trib_dataset_user_counts(ds);
    uint64_t n = trib_dataset_info(ds)->n_users, N = trib_dataset_info(ds)->n_ratings;
    static const int Ps[] = {2, 3, 5, 8, 16, 64};
    printf("%s: %llu users, %llu ratings\n", dir, (unsigned long long)n, (unsigned long long)N);
    for (int k = 0; k < 6; k++) {
        int P = Ps[k];
        uint64_t *load = calloc((size_t)P, sizeof *load), mx = 0;
        for (uint64_t u = 0; u < n; u++)
            load[hash_user(u) % (uint64_t)P] += c[u];
        for (int r = 0; r < P; r++)
            mx = load[r] > mx ? load[r] : mx;
        trib_owner_map_t *m;
        if (trib_data_owner_map_from_dataset(ds, P, &m) != TRIB_OK)
            return 1;
        printf("P=%2d  trib_data_owner (range) %.4f   hash(user) %.4f\n", P, trib_data_owner_imbalance(m),
               (double)mx * P / (double)N);
        trib_data_owner_map_destroy(m);
        free(load);
    }
    trib_dataset_close(ds);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "owners"))
        return owners(argv[2]);
    if (argc >= 4 && !strcmp(argv[1], "gencsv"))
        return gencsv(argv[2], strtoull(argv[3], NULL, 10));
    if (argc >= 3 && !strcmp(argv[1], "read"))
        return bench_read(argv[2], argc > 3 ? atoi(argv[3]) : 3);
    fprintf(stderr, "usage: bench_data gencsv FILE N | bench_data read DIR [REPEATS] | bench_data owners DIR\n");
    return 1;
}
