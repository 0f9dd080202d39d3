/*
 * test_data.c - units of the data layer through its public API: text parser
 * (good and bad input), convert round trips with original ids, synthetic
 * determinism and noise floor, split determinism and disjointness, owner map
 * invariants, and every bad dataset (missing / truncated / corrupt shard, shard
 * of another dataset, wrong version, existing output).
 */
#include "trib_cunit.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tributary/data.h"

static char g_tmp[256];

static const char *tmp_path(const char *name)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_tmp, name);
    return buf[k];
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* No leftover temporary directory next to `dir`. */
static int no_tmp_left(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ls -d %s.tmp-* >/dev/null 2>&1", dir);
    return system(cmd) != 0;
}

static int parse(const char *text, trib_text_format_t fmt, int skip_bad, trib_text_result_t *out)
{
    trib_text_opts_t o = TRIB_TEXT_OPTS_INIT;
    o.format = fmt;
    o.skip_bad = skip_bad;
    o.file_name = "t.txt";
    return trib_text_parse(text, strlen(text), &o, out);
}

/* ---------------------------------------------------------------- parser */

/* A UTF-8 byte-order mark is skipped (integer ids stay integer ids); control bytes in a bad
 * token are shown escaped in the message. */
static void test_parse_bom_and_control_bytes(void)
{
    trib_text_result_t r;
    CU_ASSERT_EQUAL_FATAL(parse("\xEF\xBB\xBF" "1,10,4\n2,10,3\n", TRIB_TEXT_CSV, 0, &r), TRIB_OK);
    CU_ASSERT_EQUAL(r.ratings.n, 2);
    CU_ASSERT_EQUAL(trib_idmap_kind(r.users), TRIB_IDS_INT64);
    CU_ASSERT_EQUAL(trib_idmap_int(r.users, r.ratings.user[0]), 1);
    trib_text_result_free(&r);
    int rc = parse("1,10,4\n2,10,3.5\r\r\n", TRIB_TEXT_CSV, 0, &r);
    CU_ASSERT_EQUAL(rc, TRIB_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(rc), "'3.5\\r'"));
    rc = parse("1,10,4\n2,1\x01" "0,3\n", TRIB_TEXT_MOVIELENS_DAT, 0, &r);
    CU_ASSERT_EQUAL(rc, TRIB_ERR_FORMAT);
}

static void test_parse_formats(void)
{
    trib_text_result_t r;
    CU_ASSERT_EQUAL_FATAL(parse("1\t10\t4\t100\n2\t10\t3.5\t101\r\n1\t11\t5\t102", TRIB_TEXT_MOVIELENS_100K, 0, &r),
                          TRIB_OK);
    CU_ASSERT_EQUAL(r.ratings.n, 3);
    CU_ASSERT_EQUAL(trib_idmap_size(r.users), 2);
    CU_ASSERT_EQUAL(trib_idmap_size(r.items), 2);
    CU_ASSERT_DOUBLE_EQUAL(r.ratings.rating[1], 3.5, 1e-7);
    CU_ASSERT_EQUAL(r.ratings.timestamp[2], 102);
    CU_ASSERT_EQUAL(trib_idmap_int(r.users, r.ratings.user[2]), 1);
    trib_text_result_free(&r);

    CU_ASSERT_EQUAL_FATAL(parse("7::3::2::9\n-9223372036854775808::9223372036854775807::1e0::-5\n",
                                TRIB_TEXT_MOVIELENS_DAT, 0, &r), TRIB_OK);
    CU_ASSERT_EQUAL(r.ratings.n, 2);
    CU_ASSERT_EQUAL(trib_idmap_int(r.users, r.ratings.user[1]), INT64_MIN);
    CU_ASSERT_EQUAL(trib_idmap_int(r.items, r.ratings.item[1]), INT64_MAX);
    trib_text_result_free(&r);

    CU_ASSERT_EQUAL_FATAL(parse("userId,movieId,rating,timestamp\n1,2,0.5,3\n", TRIB_TEXT_MOVIELENS_CSV, 0, &r),
                          TRIB_OK);
    CU_ASSERT_EQUAL(r.ratings.n, 1);
    CU_ASSERT_DOUBLE_EQUAL(r.ratings.rating[0], 0.5, 1e-7);
    trib_text_result_free(&r);

    /* csv: string ids; an integer-looking id before the switch keeps its identity ("007" == "7"). */
    CU_ASSERT_EQUAL_FATAL(parse("7,a,1\nalice,b,2\n007,c,3.25e0\n", TRIB_TEXT_CSV, 0, &r), TRIB_OK);
    CU_ASSERT_EQUAL(r.ratings.n, 3);
    CU_ASSERT_EQUAL(trib_idmap_kind(r.users), TRIB_IDS_STRING);
    CU_ASSERT_EQUAL(trib_idmap_size(r.users), 2);
    CU_ASSERT_EQUAL(r.ratings.user[0], r.ratings.user[2]);
    CU_ASSERT_PTR_NULL(r.ratings.timestamp);
    trib_text_result_free(&r);
}

static void expect_bad(const char *text, trib_text_format_t fmt, int code, const char *must_contain)
{
    trib_text_result_t r;
    int rc = parse(text, fmt, 0, &r);
    CU_ASSERT_EQUAL(rc, code);
    if (rc != TRIB_OK) {
        const char *msg = trib_last_error(rc);
        CU_ASSERT_PTR_NOT_NULL(strstr(msg, must_contain));
        CU_ASSERT_PTR_NULL(strchr(msg, '\n'));
        if (!strstr(msg, must_contain))
            fprintf(stderr, "message was: %s\n", msg);
    } else {
        trib_text_result_free(&r);
    }
}

static void test_parse_bad_lines(void)
{
    expect_bad("1\t2\t3\t4\n1\t2\tx\t4\n", TRIB_TEXT_MOVIELENS_100K, TRIB_ERR_FORMAT, "t.txt:2: rating: not a number");
    expect_bad("1\t2\t3\n", TRIB_TEXT_MOVIELENS_100K, TRIB_ERR_FORMAT, "t.txt:1: expected 4 fields");
    expect_bad("1\t2\tnan\t4\n", TRIB_TEXT_MOVIELENS_100K, TRIB_ERR_RANGE, "t.txt:1: rating: not a finite number");
    expect_bad("1\t2\tinf\t4\n", TRIB_TEXT_MOVIELENS_100K, TRIB_ERR_RANGE, "not a finite number");
    expect_bad("1,2,1e999\n", TRIB_TEXT_CSV, TRIB_ERR_RANGE, "rating: not a finite number");
    expect_bad("9223372036854775808\t2\t3\t4\n", TRIB_TEXT_MOVIELENS_100K, TRIB_ERR_RANGE,
               "t.txt:1: user: id overflows");
    expect_bad("1::99999999999999999999::3::4\n", TRIB_TEXT_MOVIELENS_DAT, TRIB_ERR_RANGE, "item: id overflows");
    expect_bad("1\tabc\t3\t4\n", TRIB_TEXT_MOVIELENS_100K, TRIB_ERR_FORMAT, "item: id is not an integer");
    expect_bad("1\t2\t3\t4x\n", TRIB_TEXT_MOVIELENS_100K, TRIB_ERR_FORMAT, "timestamp: not an integer");
    expect_bad("", TRIB_TEXT_CSV, TRIB_ERR_FORMAT, "no ratings found");
    expect_bad("\n\n", TRIB_TEXT_CSV, TRIB_ERR_FORMAT, "no ratings found");
    expect_bad("userId,movieId,rating,timestamp\n", TRIB_TEXT_MOVIELENS_CSV, TRIB_ERR_FORMAT, "no ratings found");
    expect_bad("1,2,3,4,5\n", TRIB_TEXT_CSV, TRIB_ERR_FORMAT, "too many fields");
    expect_bad("1,2,3\n1,2,3,4\n", TRIB_TEXT_CSV, TRIB_ERR_FORMAT, "t.txt:2: expected 3 fields");

    trib_text_result_t r; /* skip_bad: bad lines counted, good ones kept */
    CU_ASSERT_EQUAL_FATAL(parse("1\t2\t3\t4\nbad\n1\t3\tnan\t4\n2\t2\t1\t1\n", TRIB_TEXT_MOVIELENS_100K, 1, &r),
                          TRIB_OK);
    CU_ASSERT_EQUAL(r.ratings.n, 2);
    CU_ASSERT_EQUAL(r.skipped, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.first_skipped, "t.txt:2:"));
    trib_text_result_free(&r);
}

/* ---------------------------------------------------------------- convert round trip */

static void test_convert_round_trip(void)
{
    /* ids deliberately unsorted, negative and huge; lines out of order */
    const char *text = "500\t-3\t4\t1000\n"
                       "-7\t12\t1\t1001\n"
                       "9000000000000\t12\t2.5\t1002\n"
                       "500\t12\t5\t1003\n"
                       "-7\t-3\t3\t1004\n"
                       "42\t77\t4.5\t1005\n";
    write_file(tmp_path("rt.data"), text);
    for (uint32_t shards = 1; shards <= 7; shards += 3) {
        for (int part = 0; part < 2; part++) {
            char out[64];
            snprintf(out, sizeof out, "rt-%u-%d", shards, part);
            trib_convert_opts_t o = {TRIB_TEXT_OPTS_INIT, TRIB_DATA_WRITE_OPTS_INIT, NULL};
            o.text.format = TRIB_TEXT_MOVIELENS_100K;
            o.write.n_shards = shards;
            o.write.partition = (trib_partition_t)part;
            trib_convert_report_t rep;
            CU_ASSERT_EQUAL_FATAL(trib_data_convert(tmp_path("rt.data"), tmp_path(out), &o, &rep), TRIB_OK);
            CU_ASSERT_EQUAL(rep.ratings, 6);
            CU_ASSERT_EQUAL(rep.n_users, 4);
            CU_ASSERT_EQUAL(rep.n_items, 3);
            trib_dataset_t *ds;
            CU_ASSERT_EQUAL_FATAL(trib_dataset_open(tmp_path(out), &ds), TRIB_OK);
            CU_ASSERT_EQUAL(trib_dataset_verify(ds), TRIB_OK);
            /* dense ids follow the order of original ids */
            CU_ASSERT_EQUAL(trib_idmap_int(trib_dataset_users(ds), 0), -7);
            CU_ASSERT_EQUAL(trib_idmap_int(trib_dataset_users(ds), 3), INT64_C(9000000000000));
            trib_ratings_t r;
            CU_ASSERT_EQUAL_FATAL(trib_data_read_all(tmp_path(out), &r), TRIB_OK);
            CU_ASSERT_EQUAL_FATAL(r.n, 6);
            /* every input line appears exactly once, with its original ids */
            int seen[6] = {0};
            for (size_t i = 0; i < r.n; i++) {
                char line[128];
                snprintf(line, sizeof line, "%lld\t%lld\t%g\t%lld\n",
                         (long long)trib_idmap_int(trib_dataset_users(ds), r.user[i]),
                         (long long)trib_idmap_int(trib_dataset_items(ds), r.item[i]), r.rating[i],
                         (long long)r.timestamp[i]);
                const char *p = text;
                for (int k = 0; k < 6; k++) {
                    const char *nl = strchr(p, '\n');
                    if ((size_t)(nl + 1 - p) == strlen(line) && !strncmp(p, line, strlen(line)))
                        seen[k]++;
                    p = nl + 1;
                }
            }
            for (int k = 0; k < 6; k++)
                CU_ASSERT_EQUAL(seen[k], 1);
            trib_ratings_free(&r);
            trib_dataset_close(ds);
        }
    }
}

static trib_convert_opts_t csv_opts(void)
{
    trib_convert_opts_t o = {TRIB_TEXT_OPTS_INIT, TRIB_DATA_WRITE_OPTS_INIT, NULL};
    o.text.format = TRIB_TEXT_CSV;
    return o;
}

static void test_convert_duplicates_and_ids_from(void)
{
    write_file(tmp_path("dup.csv"), "1,2,3\n1,3,4\n2,2,1\n1,2,5\n");
    trib_convert_opts_t o = csv_opts();
    trib_convert_report_t rep;
    int rc = trib_data_convert(tmp_path("dup.csv"), tmp_path("dup"), &o, &rep);
    CU_ASSERT_EQUAL(rc, TRIB_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(rc), "dup.csv:4: duplicate rating"));
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(rc), "as line 1"));
    CU_ASSERT_FALSE(exists(tmp_path("dup")));
    CU_ASSERT_TRUE(no_tmp_left(tmp_path("dup")));
    o.text.skip_bad = 1; /* keep the first occurrence */
    CU_ASSERT_EQUAL_FATAL(trib_data_convert(tmp_path("dup.csv"), tmp_path("dup"), &o, &rep), TRIB_OK);
    CU_ASSERT_EQUAL(rep.duplicates, 1);
    CU_ASSERT_EQUAL(rep.ratings, 3);
    trib_ratings_t r;
    CU_ASSERT_EQUAL_FATAL(trib_data_read_all(tmp_path("dup"), &r), TRIB_OK);
    for (size_t i = 0; i < r.n; i++)
        if (r.user[i] == 0 && r.item[i] == 0)
            CU_ASSERT_DOUBLE_EQUAL(r.rating[i], 3.0, 0);
    trib_ratings_free(&r);

    /* a separate test file mapped onto the training ids; unknown ids dropped and counted */
    write_file(tmp_path("extra.csv"), "2,3,4\n9,2,1\n1,8,2\n");
    trib_convert_opts_t t = csv_opts();
    t.ids_from = tmp_path("dup");
    CU_ASSERT_EQUAL_FATAL(trib_data_convert(tmp_path("extra.csv"), tmp_path("extra"), &t, &rep), TRIB_OK);
    CU_ASSERT_EQUAL(rep.ratings, 1);
    CU_ASSERT_EQUAL(rep.unknown_users, 1);
    CU_ASSERT_EQUAL(rep.unknown_items, 1);
    CU_ASSERT_EQUAL(rep.dropped_unknown, 2);
    trib_dataset_t *a, *b;
    CU_ASSERT_EQUAL_FATAL(trib_dataset_open(tmp_path("dup"), &a), TRIB_OK);
    CU_ASSERT_EQUAL_FATAL(trib_dataset_open(tmp_path("extra"), &b), TRIB_OK);
    CU_ASSERT_EQUAL(trib_dataset_info(a)->idmap_fingerprint, trib_dataset_info(b)->idmap_fingerprint);
    trib_dataset_close(a);
    trib_dataset_close(b);
}

static void test_existing_output(void)
{
    write_file(tmp_path("ok.csv"), "1,2,3\n");
    trib_convert_opts_t o = csv_opts();
    CU_ASSERT_EQUAL_FATAL(trib_data_convert(tmp_path("ok.csv"), tmp_path("exist"), &o, NULL), TRIB_OK);
    trib_dataset_t *ds;
    CU_ASSERT_EQUAL_FATAL(trib_dataset_open(tmp_path("exist"), &ds), TRIB_OK);
    uint64_t fp = trib_dataset_info(ds)->fingerprint;
    trib_dataset_close(ds);
    write_file(tmp_path("ok2.csv"), "1,2,4\n5,6,1\n");
    int rc = trib_data_convert(tmp_path("ok2.csv"), tmp_path("exist"), &o, NULL);
    CU_ASSERT_EQUAL(rc, TRIB_ERR_EXISTS);
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(rc), "--force"));
    CU_ASSERT_EQUAL_FATAL(trib_dataset_open(tmp_path("exist"), &ds), TRIB_OK); /* untouched */
    CU_ASSERT_EQUAL(trib_dataset_info(ds)->fingerprint, fp);
    trib_dataset_close(ds);
    /* a failing conversion with --force leaves the old dataset in place */
    o.write.force = 1;
    write_file(tmp_path("bad.csv"), "1,2,3\n1,x\n");
    CU_ASSERT_NOT_EQUAL(trib_data_convert(tmp_path("bad.csv"), tmp_path("exist"), &o, NULL), TRIB_OK);
    CU_ASSERT_EQUAL_FATAL(trib_dataset_open(tmp_path("exist"), &ds), TRIB_OK);
    CU_ASSERT_EQUAL(trib_dataset_info(ds)->fingerprint, fp);
    trib_dataset_close(ds);
    CU_ASSERT_EQUAL(trib_data_convert(tmp_path("ok2.csv"), tmp_path("exist"), &o, NULL), TRIB_OK);
    CU_ASSERT_EQUAL_FATAL(trib_dataset_open(tmp_path("exist"), &ds), TRIB_OK);
    CU_ASSERT_EQUAL(trib_dataset_info(ds)->n_ratings, 2);
    trib_dataset_close(ds);
    CU_ASSERT_TRUE(no_tmp_left(tmp_path("exist")));
    /* a non-empty directory that is not a dataset is never overwritten */
    mkdir(tmp_path("notds"), 0755);
    write_file(tmp_path("notds/keep.txt"), "x");
    CU_ASSERT_EQUAL(trib_data_convert(tmp_path("ok.csv"), tmp_path("notds"), &o, NULL), TRIB_ERR_EXISTS);
    CU_ASSERT_TRUE(exists(tmp_path("notds/keep.txt")));
}

/* ---------------------------------------------------------------- synthetic */

static trib_synth_config_t small_synth(void)
{
    trib_synth_config_t c;
    trib_synth_config_init(&c);
    c.n_users = 300;
    c.n_items = 200;
    c.n_ratings = 20000;
    c.rank = 4;
    c.noise_std = 0.3;
    c.seed = 11;
    return c;
}

static void test_synth_determinism(void)
{
    trib_synth_config_t c = small_synth();
    trib_ratings_t a, b, part;
    trib_synth_stats_t sa, sb;
    CU_ASSERT_EQUAL_FATAL(trib_synth_generate(&c, &a, &sa), TRIB_OK);
    CU_ASSERT_EQUAL_FATAL(trib_synth_generate(&c, &b, &sb), TRIB_OK);
    CU_ASSERT_EQUAL_FATAL(a.n, c.n_ratings);
    CU_ASSERT_EQUAL(memcmp(a.rating, b.rating, a.n * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(a.item, b.item, a.n * sizeof(uint32_t)), 0);
    CU_ASSERT_EQUAL(sa.true_model_rmse, sb.true_model_rmse);
    /* a slice of users is identical to the same users of the full run */
    CU_ASSERT_EQUAL_FATAL(trib_synth_generate_users(&c, 100, 180, &part, NULL), TRIB_OK);
    size_t off = 0;
    while (off < a.n && a.user[off] < 100)
        off++;
    CU_ASSERT_FATAL(off + part.n <= a.n);
    CU_ASSERT_EQUAL(memcmp(a.rating + off, part.rating, part.n * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(a.item + off, part.item, part.n * sizeof(uint32_t)), 0);
    /* per-user counts match, no duplicate (user, item), every user has a rating */
    uint64_t *counts = calloc(c.n_users, sizeof *counts), *seen = calloc(c.n_users, sizeof *seen);
    CU_ASSERT_EQUAL(trib_synth_user_counts(&c, counts), TRIB_OK);
    for (size_t i = 0; i < a.n; i++)
        seen[a.user[i]]++;
    for (uint64_t u = 0; u < c.n_users; u++) {
        CU_ASSERT_EQUAL(seen[u], counts[u]);
        CU_ASSERT(counts[u] >= 1 && counts[u] <= c.n_items);
    }
    CU_ASSERT_EQUAL(trib_ratings_sort(&a, c.n_users, c.n_items), TRIB_OK);
    for (size_t i = 1; i < a.n; i++)
        CU_ASSERT_FALSE(a.user[i] == a.user[i - 1] && a.item[i] == a.item[i - 1]);
    /* another seed gives other data */
    c.seed = 12;
    CU_ASSERT_EQUAL_FATAL(trib_synth_generate(&c, &part, NULL), TRIB_OK);
    CU_ASSERT_NOT_EQUAL(memcmp(b.rating, part.rating, 100 * sizeof(float)), 0);
    free(counts);
    free(seen);
    trib_ratings_free(&a);
    trib_ratings_free(&b);
    trib_ratings_free(&part);
}

static void test_synth_noise_floor(void)
{
    trib_synth_config_t c = small_synth();
    trib_data_write_opts_t w = TRIB_DATA_WRITE_OPTS_INIT;
    w.n_shards = 3;
    trib_synth_stats_t st;
    CU_ASSERT_EQUAL_FATAL(trib_synth_write(&c, tmp_path("syn"), &w, &st), TRIB_OK);
    trib_dataset_t *ds;
    CU_ASSERT_EQUAL_FATAL(trib_dataset_open(tmp_path("syn"), &ds), TRIB_OK);
    const trib_dataset_info_t *in = trib_dataset_info(ds);
    CU_ASSERT_EQUAL(trib_dataset_verify(ds), TRIB_OK);
    CU_ASSERT(in->is_synthetic);
    CU_ASSERT_DOUBLE_EQUAL(in->noise_std, 0.3, 0);
    /* recompute the planted model's RMSE from the stored ratings and the truth function */
    trib_ratings_t r;
    CU_ASSERT_EQUAL_FATAL(trib_data_read_all(tmp_path("syn"), &r), TRIB_OK);
    double sq = 0;
    for (size_t i = 0; i < r.n; i++) {
        double e = r.rating[i] - trib_synth_truth(&c, r.user[i], r.item[i]);
        sq += e * e;
    }
    double rmse = sqrt(sq / (double)r.n);
    CU_ASSERT_DOUBLE_EQUAL(rmse, in->true_model_rmse, 1e-6);
    /* and it is the noise level: 20000 draws give a relative std error of ~0.5% */
    CU_ASSERT_DOUBLE_EQUAL(in->true_model_rmse, c.noise_std, 0.03 * c.noise_std);
    trib_ratings_free(&r);
    trib_dataset_close(ds);
    /* the data does not depend on the shard count */
    w.n_shards = 7;
    w.partition = TRIB_PARTITION_RANGE;
    CU_ASSERT_EQUAL_FATAL(trib_synth_write(&c, tmp_path("syn7"), &w, NULL), TRIB_OK);
    trib_ratings_t a, b;
    CU_ASSERT_EQUAL_FATAL(trib_data_read_all(tmp_path("syn"), &a), TRIB_OK);
    CU_ASSERT_EQUAL_FATAL(trib_data_read_all(tmp_path("syn7"), &b), TRIB_OK);
    CU_ASSERT_EQUAL(trib_ratings_sort(&a, c.n_users, c.n_items), TRIB_OK);
    CU_ASSERT_EQUAL(trib_ratings_sort(&b, c.n_users, c.n_items), TRIB_OK);
    CU_ASSERT_EQUAL_FATAL(a.n, b.n);
    CU_ASSERT_EQUAL(memcmp(a.rating, b.rating, a.n * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(a.user, b.user, a.n * sizeof(uint32_t)), 0);
    trib_ratings_free(&a);
    trib_ratings_free(&b);
    /* bad configurations */
    c.n_ratings = c.n_users * c.n_items + 1;
    CU_ASSERT_EQUAL(trib_synth_config_validate(&c), TRIB_ERR_INVALID_ARG);
}

/* ---------------------------------------------------------------- split */

static void test_split(void)
{
    trib_synth_config_t c = small_synth();
    trib_data_write_opts_t w = TRIB_DATA_WRITE_OPTS_INIT;
    w.n_shards = 4;
    CU_ASSERT_EQUAL_FATAL(trib_synth_write(&c, tmp_path("sp-in"), &w, NULL), TRIB_OK);
    for (int by = 0; by < 2; by++) {
        trib_split_opts_t o;
        memset(&o, 0, sizeof o);
        o.test_fraction = 0.2;
        o.seed = 5;
        o.by = (trib_split_by_t)by;
        trib_split_report_t r1, r2;
        const char *tr = by ? "sp-trt" : "sp-tr", *te = by ? "sp-tet" : "sp-te";
        CU_ASSERT_EQUAL_FATAL(trib_data_split(tmp_path("sp-in"), tmp_path(tr), tmp_path(te), &o, &r1), TRIB_OK);
        CU_ASSERT_EQUAL(r1.train_ratings + r1.test_ratings, c.n_ratings);
        TRIB_ASSERT_LT(fabs((double)r1.test_ratings / c.n_ratings - 0.2), 0.02);
        /* again into other directories: identical fingerprints (deterministic) */
        CU_ASSERT_EQUAL_FATAL(trib_data_split(tmp_path("sp-in"), tmp_path("sp-tr2"), tmp_path("sp-te2"), &o, &r2),
                              TRIB_OK);
        trib_dataset_t *a, *b, *t, *in;
        CU_ASSERT_EQUAL_FATAL(trib_dataset_open(tmp_path(te), &a), TRIB_OK);
        CU_ASSERT_EQUAL_FATAL(trib_dataset_open(tmp_path("sp-te2"), &b), TRIB_OK);
        CU_ASSERT_EQUAL(trib_dataset_info(a)->fingerprint, trib_dataset_info(b)->fingerprint);
        CU_ASSERT_EQUAL(trib_dataset_verify(a), TRIB_OK);
        CU_ASSERT_EQUAL_FATAL(trib_dataset_open(tmp_path(tr), &t), TRIB_OK);
        CU_ASSERT_EQUAL(trib_dataset_verify(t), TRIB_OK);
        CU_ASSERT_EQUAL_FATAL(trib_dataset_open(tmp_path("sp-in"), &in), TRIB_OK);
        CU_ASSERT_EQUAL(trib_dataset_info(t)->idmap_fingerprint, trib_dataset_info(in)->idmap_fingerprint);
        /* disjoint and complete: per-user counts add up, and no pair is on both sides */
        const uint64_t *cu = trib_dataset_user_counts(in), *ct = trib_dataset_user_counts(t),
                       *ce = trib_dataset_user_counts(a);
        for (uint64_t u = 0; u < c.n_users; u++)
            CU_ASSERT_EQUAL(ct[u] + ce[u], cu[u]);
        trib_ratings_t rt, re;
        CU_ASSERT_EQUAL_FATAL(trib_data_read_all(tmp_path(tr), &rt), TRIB_OK);
        CU_ASSERT_EQUAL_FATAL(trib_data_read_all(tmp_path(te), &re), TRIB_OK);
        unsigned char *cell = calloc(c.n_users * c.n_items, 1);
        for (size_t i = 0; i < rt.n; i++)
            cell[rt.user[i] * c.n_items + rt.item[i]] |= 1;
        size_t both = 0;
        for (size_t i = 0; i < re.n; i++)
            both += cell[re.user[i] * c.n_items + re.item[i]] & 1;
        CU_ASSERT_EQUAL(both, 0);
        if (by == 1) { /* time: each test rating is no earlier than its user's train ratings */
            int64_t *latest = calloc(c.n_users, sizeof *latest);
            for (size_t i = 0; i < rt.n; i++)
                latest[rt.user[i]] = rt.timestamp[i] > latest[rt.user[i]] ? rt.timestamp[i] : latest[rt.user[i]];
            for (size_t i = 0; i < re.n; i++)
                CU_ASSERT(re.timestamp[i] >= latest[re.user[i]]);
            free(latest);
        }
        free(cell);
        trib_ratings_free(&rt);
        trib_ratings_free(&re);
        trib_dataset_close(a);
        trib_dataset_close(b);
        trib_dataset_close(t);
        trib_dataset_close(in);
        o.write.force = 1;
        CU_ASSERT_EQUAL(trib_data_split(tmp_path("sp-in"), tmp_path("sp-tr2"), tmp_path("sp-te2"), &o, NULL),
                        TRIB_OK);
        o.write.force = 0;
        CU_ASSERT_EQUAL(trib_data_split(tmp_path("sp-in"), tmp_path("sp-tr2"), tmp_path("sp-te2"), &o, NULL),
                        TRIB_ERR_EXISTS);
        char cmd[1100];
        snprintf(cmd, sizeof cmd, "rm -rf %s %s", tmp_path("sp-tr2"), tmp_path("sp-te2"));
        CU_ASSERT_EQUAL(system(cmd), 0);
    }
}

/* ---------------------------------------------------------------- owner map */

static void test_owner_map(void)
{
    uint64_t counts[] = {5, 0, 100, 1, 1, 1, 50, 0, 0, 30, 2, 2};
    uint64_t n = sizeof counts / sizeof counts[0], total = 0;
    for (uint64_t u = 0; u < n; u++)
        total += counts[u];
    for (int P = 1; P <= 20; P++) {
        trib_owner_map_t *m;
        CU_ASSERT_EQUAL_FATAL(trib_data_owner_map_create(counts, n, P, 0, &m), TRIB_OK);
        uint64_t sum = 0;
        uint32_t prev_end = 0;
        for (int r = 0; r < P; r++) {
            uint32_t a, b;
            trib_data_owner_range(m, r, &a, &b);
            CU_ASSERT_EQUAL(a, prev_end); /* contiguous cover of 0..n */
            prev_end = b;
            for (uint32_t u = a; u < b; u++)
                CU_ASSERT_EQUAL(trib_data_owner(m, u), r);
            sum += trib_data_owner_load(m, r);
            /* a rank's load is within one user's count of N/P */
            CU_ASSERT((double)trib_data_owner_load(m, r) <= (double)total / P + 100 + 1e-9);
        }
        CU_ASSERT_EQUAL(prev_end, n);
        CU_ASSERT_EQUAL(sum, total);
        trib_data_owner_map_destroy(m);
    }
    /* uniform counts: perfect balance */
    uint64_t flat[64];
    for (int i = 0; i < 64; i++)
        flat[i] = 3;
    trib_owner_map_t *m;
    CU_ASSERT_EQUAL_FATAL(trib_data_owner_map_create(flat, 64, 8, 0, &m), TRIB_OK);
    CU_ASSERT_DOUBLE_EQUAL(trib_data_owner_imbalance(m), 1.0, 1e-12);
    trib_data_owner_map_destroy(m);
    CU_ASSERT_EQUAL(trib_data_owner_map_create(flat, 64, 0, 0, &m), TRIB_ERR_INVALID_ARG);
}

/* ---------------------------------------------------------------- bad datasets */

static void make_ds(const char *name, uint32_t shards, uint64_t seed)
{
    trib_synth_config_t c = small_synth();
    c.seed = seed;
    c.n_ratings = 3000;
    trib_data_write_opts_t w = TRIB_DATA_WRITE_OPTS_INIT;
    w.n_shards = shards;
    w.force = 1;
    CU_ASSERT_EQUAL_FATAL(trib_synth_write(&c, tmp_path(name), &w, NULL), TRIB_OK);
}

/* Opening, verifying and reading must fail with `code` and a message mentioning `what`. */
static void expect_broken(const char *name, int code, const char *what)
{
    trib_dataset_t *ds;
    int rc = trib_dataset_open(tmp_path(name), &ds);
    if (rc == TRIB_OK) {
        rc = trib_dataset_verify(ds);
        trib_dataset_close(ds);
    }
    CU_ASSERT_EQUAL(rc, code);
    CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(rc), what));
    if (rc != code || !strstr(trib_last_error(rc), what))
        fprintf(stderr, "%s: got %s: %s\n", name, trib_err_name(rc), trib_last_error(rc));
    trib_ratings_t r;
    CU_ASSERT_NOT_EQUAL(trib_data_read_all(tmp_path(name), &r), TRIB_OK);
}

static void shell(const char *fmt, const char *a, const char *b)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

static void test_bad_datasets(void)
{
    make_ds("missing", 3, 1);
    shell("rm %s/shard-00001.h5%s", tmp_path("missing"), "");
    expect_broken("missing", TRIB_ERR_NOT_FOUND, "shard-00001.h5: shard file missing");

    make_ds("trunc", 2, 1);
    shell("truncate -s 3000 %s/shard-00000.h5%s", tmp_path("trunc"), "");
    expect_broken("trunc", TRIB_ERR_CORRUPT, "shard-00000.h5");

    make_ds("garbage", 2, 1);
    shell("head -c 5000 /dev/urandom > %s/shard-00001.h5%s", tmp_path("garbage"), "");
    expect_broken("garbage", TRIB_ERR_CORRUPT, "shard-00001.h5: not a readable HDF5 file");

    make_ds("nomanifest", 2, 1);
    shell("truncate -s 100 %s/manifest.h5%s", tmp_path("nomanifest"), "");
    expect_broken("nomanifest", TRIB_ERR_CORRUPT, "manifest.h5: not a readable HDF5 file");

    /* a shard copied from another dataset (same shard count, other seed) */
    make_ds("mixA", 2, 1);
    make_ds("mixB", 2, 2);
    shell("cp %s/shard-00001.h5 %s/shard-00001.h5", tmp_path("mixB"), tmp_path("mixA"));
    expect_broken("mixA", TRIB_ERR_MISMATCH, "shard of another dataset");

    /* changed data bytes, the value inside the manifest's range: only the content fingerprint can tell */
    make_ds("flip", 1, 1);
    {
        trib_dataset_t *orig;
        CU_ASSERT_EQUAL_FATAL(trib_dataset_open(tmp_path("flip"), &orig), TRIB_OK);
        const trib_dataset_info_t *oi = trib_dataset_info(orig);
        float v = (float)(oi->rating_min + 0.37 * (oi->rating_max - oi->rating_min));
        trib_dataset_close(orig);
        char path[600];
        snprintf(path, sizeof path, "%s/shard-00000.h5", tmp_path("flip"));
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        CU_ASSERT_FATAL(f >= 0);
        hid_t d = H5Dopen2(f, "rating", H5P_DEFAULT);
        hsize_t start = 17, count = 1;
        hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &count, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
        CU_ASSERT(H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, &v) >= 0);
        H5Sclose(fs);
        H5Sclose(ms);
        H5Dclose(d);
        H5Fclose(f);
        trib_dataset_t *ds;
        CU_ASSERT_EQUAL_FATAL(trib_dataset_open(tmp_path("flip"), &ds), TRIB_OK);
        int rc = trib_dataset_verify(ds);
        CU_ASSERT_EQUAL(rc, TRIB_ERR_CORRUPT);
        CU_ASSERT_PTR_NOT_NULL(strstr(trib_last_error(rc), "fingerprint"));
        trib_dataset_close(ds);
    }

    /* wrong format version / wrong schema (attribute rewritten, column of the wrong type) */
    make_ds("ver", 1, 1);
    {
        char path[600];
        snprintf(path, sizeof path, "%s/manifest.h5", tmp_path("ver"));
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
        uint64_t v = 99;
        CU_ASSERT(H5Awrite(a, H5T_NATIVE_UINT64, &v) >= 0);
        H5Aclose(a);
        H5Fclose(f);
    }
    expect_broken("ver", TRIB_ERR_INCOMPATIBLE, "format version 99");

    make_ds("schema", 1, 1);
    {
        char path[600];
        snprintf(path, sizeof path, "%s/shard-00000.h5", tmp_path("schema"));
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        H5Ldelete(f, "rating", H5P_DEFAULT);
        hsize_t n = 3000;
        hid_t sp = H5Screate_simple(1, &n, NULL);
        hid_t d = H5Dcreate2(f, "rating", H5T_STD_I16LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dclose(d);
        H5Sclose(sp);
        H5Fclose(f);
    }
    expect_broken("schema", TRIB_ERR_FORMAT, "dataset 'rating' is not float32 (wrong schema)");

    expect_broken("does-not-exist", TRIB_ERR_NOT_FOUND, "no such dataset directory");
}

int main(void)
{
    snprintf(g_tmp, sizeof g_tmp, "/tmp/trib-test-data-XXXXXX");
    if (!mkdtemp(g_tmp))
        return 2;
    static CU_TestInfo tests[] = {{"parse formats", test_parse_formats},
                                  {"parse BOM, control bytes", test_parse_bom_and_control_bytes},
                                  {"parse bad lines", test_parse_bad_lines},
                                  {"convert round trip", test_convert_round_trip},
                                  {"convert duplicates, ids-from", test_convert_duplicates_and_ids_from},
                                  {"existing output", test_existing_output},
                                  {"synth determinism", test_synth_determinism},
                                  {"synth noise floor", test_synth_noise_floor},
                                  {"split", test_split},
                                  {"owner map", test_owner_map},
                                  {"bad datasets", test_bad_datasets},
                                  CU_TEST_INFO_NULL};
    static CU_SuiteInfo suites[] = {{"data", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};
    int rc = trib_cunit_run(suites);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_tmp);
    return rc;
}
