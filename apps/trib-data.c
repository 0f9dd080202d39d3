/*
 * trib-data - create and inspect sharded HDF5 rating datasets.
 *
 *   trib-data convert  text (MovieLens, CSV) -> dataset
 *   trib-data synth    planted-model synthetic dataset
 *   trib-data split    deterministic train/test split
 *   trib-data inspect  summary, --verify, --json
 *
 * Each subcommand parses its options into one struct, validates it in one
 * place, and calls the library (src/data/).  Errors are one line on stderr and
 * exit status 1; outputs are never half-written (the library writes a
 * temporary directory and renames it).
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/cli.h"
#include "tributary/data.h"

#define FAIL(...) (trib_cli_error(trib_cli_prog, __VA_ARGS__), 1)

static int lib_fail(int rc)
{
    return FAIL("%s", trib_last_error(rc));
}

/* ---------------------------------------------------------------- shared write options */

static int parse_shards(const char *s, uint32_t *out)
{
    uint64_t v;
    if (trib_cli_parse_u64(s, &v) || v < 1 || v > 1000000)
        return FAIL("--shards: '%s' is not a count in 1..1000000", s);
    *out = (uint32_t)v;
    return 0;
}

static int parse_partition(const char *s, trib_partition_t *out)
{
    int rc = trib_partition_parse(s, out);
    return rc == TRIB_OK ? 0 : FAIL("--partition: %s", trib_last_error(rc));
}

static int parse_compress(const char *s, int *out)
{
    uint64_t v;
    if (trib_cli_parse_u64(s, &v) || v > 9)
        return FAIL("--compress: '%s' is not a level 0..9", s);
    *out = (int)v;
    return 0;
}

static double mb(uint64_t bytes) { return (double)bytes / 1e6; }

/* ---------------------------------------------------------------- convert */

static const char convert_help[] =
    "Usage: trib-data convert --format FMT --input FILE --output DIR --shards N [options]\n"
    "Converts a text file of ratings into a sharded HDF5 dataset.\n\n"
    "  --format FMT       movielens-100k (u.data: user\\titem\\trating\\ttime), movielens-dat\n"
    "                     (ratings.dat: user::item::rating::time), movielens-csv (ratings.csv, header),\n"
    "                     csv (user,item,rating[,timestamp]; ids may be integers or strings)\n"
    "  --input FILE       text file ('-' for standard input)\n"
    "  --output DIR       dataset directory to create\n"
    "  --shards N         number of shard files (default 1)\n"
    "  --partition P      hash (default) or range: how users are assigned to shards\n"
    "  --delimiter C      csv field separator (default ','; 'tab' for a tab)\n"
    "  --header           csv: the first line is a header\n"
    "  --skip-bad         skip and count bad lines and duplicate pairs instead of stopping\n"
    "  --ids-from DIR     reuse DIR's id maps (ratings of unknown users/items are dropped and counted)\n"
    "  --compress L       deflate level 0..9 with shuffle (default 0: none)\n"
    "  --force            replace an existing dataset at DIR\n"
    "  --help             this text\n";

static int cmd_convert(int argc, char **argv)
{
    trib_convert_opts_t o = {TRIB_TEXT_OPTS_INIT, TRIB_DATA_WRITE_OPTS_INIT, NULL};
    const char *input = NULL, *output = NULL, *format = NULL;
    static const struct option longopts[] = {
        {"format", required_argument, 0, 'f'},  {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'},  {"shards", required_argument, 0, 's'},
        {"partition", required_argument, 0, 'p'}, {"delimiter", required_argument, 0, 'd'},
        {"header", no_argument, 0, 'H'},        {"skip-bad", no_argument, 0, 'b'},
        {"ids-from", required_argument, 0, 'I'}, {"compress", required_argument, 0, 'z'},
        {"force", no_argument, 0, 'F'},         {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    for (int c; (c = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
        switch (c) {
        case 'f': format = optarg; break;
        case 'i': input = optarg; break;
        case 'o': output = optarg; break;
        case 's': if (parse_shards(optarg, &o.write.n_shards)) return 1; break;
        case 'p': if (parse_partition(optarg, &o.write.partition)) return 1; break;
        case 'd':
            if (!strcmp(optarg, "tab") || !strcmp(optarg, "\\t"))
                o.text.delimiter = '\t';
            else if (strlen(optarg) == 1)
                o.text.delimiter = optarg[0];
            else
                return FAIL("--delimiter: '%s' is not one character (or 'tab')", optarg);
            break;
        case 'H': o.text.header = 1; break;
        case 'b': o.text.skip_bad = 1; break;
        case 'I': o.ids_from = optarg; break;
        case 'z': if (parse_compress(optarg, &o.write.compress_level)) return 1; break;
        case 'F': o.write.force = 1; break;
        case 'h': fputs(convert_help, stdout); return 0;
        default: return FAIL("bad option (see trib-data convert --help)");
        }
    }
    if (optind < argc)
        return FAIL("unexpected argument '%s' (see --help)", argv[optind]);
    if (!format || !input || !output)
        return FAIL("--format, --input and --output are required (see --help)");
    int rc = trib_text_format_parse(format, &o.text.format);
    if (rc != TRIB_OK)
        return lib_fail(rc);
    if ((o.text.delimiter || o.text.header) && o.text.format != TRIB_TEXT_CSV)
        return FAIL("--delimiter and --header apply to --format csv only");
    if (!strcmp(input, "-"))
        input = "/dev/stdin";
    trib_cli_progress_t prog;
    trib_cli_progress_init(&prog);
    o.write.progress = trib_cli_progress;
    o.write.progress_arg = &prog;
    trib_convert_report_t rep;
    rc = trib_data_convert(input, output, &o, &rep);
    if (rc != TRIB_OK)
        return lib_fail(rc);
    if (rep.skipped_bad || rep.duplicates)
        fprintf(stderr, "%s: skipped %" PRIu64 " bad lines and %" PRIu64 " duplicate pairs\n", trib_cli_prog,
                rep.skipped_bad, rep.duplicates);
    if (o.ids_from)
        fprintf(stderr, "%s: %" PRIu64 " users and %" PRIu64 " items unknown to %s; %" PRIu64 " ratings dropped\n",
                trib_cli_prog, rep.unknown_users, rep.unknown_items, o.ids_from, rep.dropped_unknown);
    printf("convert: %" PRIu64 " ratings, %" PRIu64 " users, %" PRIu64 " items from %s (%.1f MB, %" PRIu64
           " lines) -> %s (%u shards) in %.2f s: %.1f MB/s, %.2f M ratings/s\n",
           rep.ratings, rep.n_users, rep.n_items, input, mb(rep.input_bytes), rep.lines, output, o.write.n_shards,
           rep.seconds, mb(rep.input_bytes) / rep.seconds, (double)rep.ratings / 1e6 / rep.seconds);
    return 0;
}

/* ---------------------------------------------------------------- synth */

static const char synth_help[] =
    "Usage: trib-data synth --users U --items I --ratings N --rank K --noise SIGMA --seed S --shards N --output DIR\n"
    "Generates ratings from a planted model: mean + b_u + b_i + p_u.q_i + N(0, SIGMA^2), with power-law\n"
    "user activity and item popularity.  Stores noise_std and the planted model's RMSE on the data.\n"
    "Counts accept k/M/G suffixes (1M = 1000000).\n\n"
    "  --users U, --items I, --ratings N   sizes (N <= U*I)\n"
    "  --rank K           rank of the planted factors (default 8)\n"
    "  --noise SIGMA      std of the Gaussian noise (default 0.5)\n"
    "  --seed S           seed (default 1); same seed -> same data, whatever the shard count\n"
    "  --shards N         shard files (default 1);  --partition hash|range (default hash)\n"
    "  --output DIR       dataset directory to create\n"
    "  --user-exponent A  user activity ~ rank^-A (default 0.8)\n"
    "  --item-exponent B  item popularity ~ rank^-B (default 1.0)\n"
    "  --mean M           global mean (default 3.5)\n"
    "  --clip MIN:MAX     clip ratings to [MIN, MAX] (default: no clipping)\n"
    "  --no-timestamps    omit the timestamp column\n"
    "  --compress L       deflate level 0..9 (default 0);  --force  replace an existing dataset\n"
    "  --help             this text\n";

static int cmd_synth(int argc, char **argv)
{
    trib_synth_config_t c;
    trib_synth_config_init(&c);
    trib_data_write_opts_t w = TRIB_DATA_WRITE_OPTS_INIT;
    const char *output = NULL;
    static const struct option longopts[] = {
        {"users", required_argument, 0, 'u'},   {"items", required_argument, 0, 'i'},
        {"ratings", required_argument, 0, 'n'}, {"rank", required_argument, 0, 'k'},
        {"noise", required_argument, 0, 'e'},   {"seed", required_argument, 0, 'S'},
        {"shards", required_argument, 0, 's'},  {"partition", required_argument, 0, 'p'},
        {"output", required_argument, 0, 'o'},  {"user-exponent", required_argument, 0, 'A'},
        {"item-exponent", required_argument, 0, 'B'}, {"mean", required_argument, 0, 'm'},
        {"clip", required_argument, 0, 'c'},    {"no-timestamps", no_argument, 0, 'T'},
        {"compress", required_argument, 0, 'z'}, {"force", no_argument, 0, 'F'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    for (int ch; (ch = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
        uint64_t v;
        switch (ch) {
        case 'u': if (trib_cli_parse_u64(optarg, &c.n_users)) return FAIL("--users: bad count '%s'", optarg); break;
        case 'i': if (trib_cli_parse_u64(optarg, &c.n_items)) return FAIL("--items: bad count '%s'", optarg); break;
        case 'n':
            if (trib_cli_parse_u64(optarg, &c.n_ratings)) return FAIL("--ratings: bad count '%s'", optarg);
            break;
        case 'k':
            if (trib_cli_parse_u64(optarg, &v) || v < 1 || v > 4096) return FAIL("--rank: '%s' not in 1..4096", optarg);
            c.rank = (uint32_t)v;
            break;
        case 'e':
            if (trib_cli_parse_double(optarg, &c.noise_std) || c.noise_std < 0)
                return FAIL("--noise: '%s' is not a number >= 0", optarg);
            break;
        case 'S': if (trib_cli_parse_u64(optarg, &c.seed)) return FAIL("--seed: bad value '%s'", optarg); break;
        case 's': if (parse_shards(optarg, &w.n_shards)) return 1; break;
        case 'p': if (parse_partition(optarg, &w.partition)) return 1; break;
        case 'o': output = optarg; break;
        case 'A':
            if (trib_cli_parse_double(optarg, &c.user_exponent)) return FAIL("--user-exponent: bad '%s'", optarg);
            break;
        case 'B':
            if (trib_cli_parse_double(optarg, &c.item_exponent)) return FAIL("--item-exponent: bad '%s'", optarg);
            break;
        case 'm': if (trib_cli_parse_double(optarg, &c.global_mean)) return FAIL("--mean: bad '%s'", optarg); break;
        case 'c': {
            char *colon = strchr(optarg, ':');
            if (!colon)
                return FAIL("--clip: '%s' is not MIN:MAX", optarg);
            *colon = '\0';
            if (trib_cli_parse_double(optarg, &c.clip_min) || trib_cli_parse_double(colon + 1, &c.clip_max))
                return FAIL("--clip: bounds are not numbers");
            c.clip = 1;
            break;
        }
        case 'T': c.with_timestamp = 0; break;
        case 'z': if (parse_compress(optarg, &w.compress_level)) return 1; break;
        case 'F': w.force = 1; break;
        case 'h': fputs(synth_help, stdout); return 0;
        default: return FAIL("bad option (see trib-data synth --help)");
        }
    }
    if (optind < argc)
        return FAIL("unexpected argument '%s' (see --help)", argv[optind]);
    if (!output)
        return FAIL("--output is required (see --help)");
    int rc = trib_synth_config_validate(&c);
    if (rc != TRIB_OK)
        return lib_fail(rc);
    trib_cli_progress_t prog;
    trib_cli_progress_init(&prog);
    w.progress = trib_cli_progress;
    w.progress_arg = &prog;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    trib_synth_stats_t st;
    rc = trib_synth_write(&c, output, &w, &st);
    if (rc != TRIB_OK)
        return lib_fail(rc);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("synth: %" PRIu64 " ratings, %" PRIu64 " users, %" PRIu64 " items, rank %u, noise_std %g, "
           "true_model_rmse %.6f -> %s (%u shards) in %.2f s: %.2f M ratings/s\n",
           c.n_ratings, c.n_users, c.n_items, c.rank, st.noise_std, st.true_model_rmse, output, w.n_shards, sec,
           (double)c.n_ratings / 1e6 / sec);
    return 0;
}

/* ---------------------------------------------------------------- split */

static const char split_help[] =
    "Usage: trib-data split --input DIR --test-fraction F --seed S --train DIR --test DIR [--by random|time]\n"
    "Splits a dataset into train and test sets deterministically; every rating lands in exactly one side.\n"
    "Both keep the input's id maps and shard count.\n\n"
    "  --by random        (default) each rating is in test when hash(seed, user, item) < F\n"
    "  --by time          per user, the round(F * n_u) latest ratings are in test\n"
    "  --compress L       deflate level 0..9 (default 0);  --force  replace existing datasets\n"
    "  --help             this text\n";

static int cmd_split(int argc, char **argv)
{
    trib_split_opts_t o;
    memset(&o, 0, sizeof o);
    trib_data_write_opts_t w = TRIB_DATA_WRITE_OPTS_INIT;
    o.write = w;
    o.test_fraction = -1;
    o.seed = 1;
    const char *input = NULL, *train = NULL, *test = NULL;
    static const struct option longopts[] = {
        {"input", required_argument, 0, 'i'}, {"test-fraction", required_argument, 0, 'f'},
        {"seed", required_argument, 0, 'S'},  {"train", required_argument, 0, 'r'},
        {"test", required_argument, 0, 't'},  {"by", required_argument, 0, 'b'},
        {"compress", required_argument, 0, 'z'}, {"force", no_argument, 0, 'F'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    for (int ch; (ch = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
        switch (ch) {
        case 'i': input = optarg; break;
        case 'f':
            if (trib_cli_parse_double(optarg, &o.test_fraction) || !(o.test_fraction > 0 && o.test_fraction < 1))
                return FAIL("--test-fraction: '%s' is not a number in (0, 1)", optarg);
            break;
        case 'S': if (trib_cli_parse_u64(optarg, &o.seed)) return FAIL("--seed: bad value '%s'", optarg); break;
        case 'r': train = optarg; break;
        case 't': test = optarg; break;
        case 'b':
            if (!strcmp(optarg, "random"))
                o.by = TRIB_SPLIT_RANDOM;
            else if (!strcmp(optarg, "time"))
                o.by = TRIB_SPLIT_TIME;
            else
                return FAIL("--by: '%s' is not random or time", optarg);
            break;
        case 'z': if (parse_compress(optarg, &o.write.compress_level)) return 1; break;
        case 'F': o.write.force = 1; break;
        case 'h': fputs(split_help, stdout); return 0;
        default: return FAIL("bad option (see trib-data split --help)");
        }
    }
    if (optind < argc)
        return FAIL("unexpected argument '%s' (see --help)", argv[optind]);
    if (!input || !train || !test || o.test_fraction < 0)
        return FAIL("--input, --test-fraction, --train and --test are required (see --help)");
    trib_cli_progress_t prog;
    trib_cli_progress_init(&prog);
    o.write.progress = trib_cli_progress;
    o.write.progress_arg = &prog;
    trib_split_report_t rep;
    int rc = trib_data_split(input, train, test, &o, &rep);
    if (rc != TRIB_OK)
        return lib_fail(rc);
    printf("split: %" PRIu64 " train, %" PRIu64 " test ratings (%.2f%%); test users unseen in train: %" PRIu64
           ", test items unseen in train: %" PRIu64 ", test ratings touching them: %" PRIu64 "\n",
           rep.train_ratings, rep.test_ratings,
           100.0 * (double)rep.test_ratings / (double)(rep.train_ratings + rep.test_ratings), rep.test_users_unseen,
           rep.test_items_unseen, rep.test_ratings_unseen);
    return 0;
}

/* ---------------------------------------------------------------- inspect */

static const char inspect_help[] =
    "Usage: trib-data inspect DIR [--verify] [--json] [--top K]\n"
    "Prints a dataset's summary: counts, shards and sizes, rating histogram, most active users and most\n"
    "rated items (original ids), owner-map imbalance for several rank counts.\n\n"
    "  --verify           read every shard and check ids, counts, partition and fingerprints\n"
    "  --json             print one JSON object instead of text\n"
    "  --top K            how many top users/items (default 5)\n"
    "  --help             this text\n";

typedef struct {
    uint32_t id;
    uint64_t count;
} top_t;

/* The k largest counts (ties: smaller id first). */
static size_t top_k(const uint64_t *counts, uint64_t n, size_t k, top_t *out)
{
    size_t m = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (m < k || counts[i] > out[m - 1].count) {
            size_t j = m < k ? m++ : m - 1;
            while (j > 0 && out[j - 1].count < counts[i]) {
                out[j] = out[j - 1];
                j--;
            }
            out[j].id = (uint32_t)i;
            out[j].count = counts[i];
        }
    }
    return m;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void json_num(double v)
{
    if (isfinite(v))
        printf("%.17g", v);
    else
        printf("null");
}

static void print_tops(const char *label, const trib_idmap_t *map, const top_t *t, size_t n, int json)
{
    if (json)
        printf(",\"%s\":[", label);
    else
        printf("%-16s", label);
    for (size_t i = 0; i < n; i++) {
        char id[128];
        trib_idmap_format(map, t[i].id, id, sizeof id);
        if (json) {
            printf("%s{\"id\":", i ? "," : "");
            json_str(id);
            printf(",\"ratings\":%" PRIu64 "}", t[i].count);
        } else {
            printf("%s%s (%" PRIu64 ")", i ? ", " : "", id, t[i].count);
        }
    }
    printf(json ? "]" : "\n");
}

static int cmd_inspect(int argc, char **argv)
{
    int verify = 0, json = 0;
    uint64_t k = 5;
    static const struct option longopts[] = {{"verify", no_argument, 0, 'v'}, {"json", no_argument, 0, 'j'},
                                             {"top", required_argument, 0, 'k'}, {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    for (int ch; (ch = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
        switch (ch) {
        case 'v': verify = 1; break;
        case 'j': json = 1; break;
        case 'k': if (trib_cli_parse_u64(optarg, &k) || k > 1000) return FAIL("--top: bad count '%s'", optarg); break;
        case 'h': fputs(inspect_help, stdout); return 0;
        default: return FAIL("bad option (see trib-data inspect --help)");
        }
    }
    if (optind + 1 != argc)
        return FAIL("expected exactly one dataset directory (see --help)");
    const char *dir = argv[optind];
    trib_dataset_t *ds;
    int rc = trib_dataset_open(dir, &ds);
    if (rc != TRIB_OK)
        return lib_fail(rc);
    if (verify && (rc = trib_dataset_verify(ds)) != TRIB_OK) {
        trib_dataset_close(ds);
        return lib_fail(rc);
    }
    const trib_dataset_info_t *in = trib_dataset_info(ds);
    trib_histogram_t h;
    trib_dataset_histogram(ds, &h);
    uint64_t bytes = 0;
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/manifest.h5", dir);
    if (stat(path, &st) == 0)
        bytes += (uint64_t)st.st_size;
    top_t *tu = calloc(k + 1, sizeof *tu), *ti = calloc(k + 1, sizeof *ti);
    if (!tu || !ti) {
        free(tu);
        free(ti);
        trib_dataset_close(ds);
        return FAIL("out of memory");
    }
    size_t nu = top_k(trib_dataset_user_counts(ds), in->n_users, k, tu);
    size_t ni = top_k(trib_dataset_item_counts(ds), in->n_items, k, ti);
    static const int parts[] = {2, 4, 8, 16, 64};
    double imb[5];
    for (int p = 0; p < 5; p++) {
        trib_owner_map_t *m;
        imb[p] = NAN;
        if (trib_data_owner_map_from_dataset(ds, parts[p], &m) == TRIB_OK) {
            imb[p] = trib_data_owner_imbalance(m);
            trib_data_owner_map_destroy(m);
        }
    }
    if (json) {
        printf("{\"dataset\":");
        json_str(dir);
        printf(",\"source\":");
        json_str(in->source);
        printf(",\"format_version\":%u,\"n_users\":%" PRIu64 ",\"n_items\":%" PRIu64 ",\"n_ratings\":%" PRIu64
               ",\"n_shards\":%u,\"partition\":\"%s\",\"has_timestamp\":%s",
               in->format_version, in->n_users, in->n_items, in->n_ratings, in->n_shards,
               in->partition == TRIB_PARTITION_RANGE ? "range" : "hash", in->has_timestamp ? "true" : "false");
        printf(",\"rating_min\":");
        json_num(in->rating_min);
        printf(",\"rating_max\":");
        json_num(in->rating_max);
        printf(",\"rating_mean\":");
        json_num(in->rating_mean);
        if (in->is_synthetic) {
            printf(",\"noise_std\":");
            json_num(in->noise_std);
            printf(",\"true_model_rmse\":");
            json_num(in->true_model_rmse);
        }
        printf(",\"fingerprint\":\"%016" PRIx64 "\",\"shards\":[", in->fingerprint);
    } else {
        printf("dataset         %s\nsource          %s\nformat version  %u\nusers           %" PRIu64
               "\nitems           %" PRIu64 "\nratings         %" PRIu64 "\ntimestamps      %s\n"
               "shards          %u (%s partition)\n",
               dir, in->source, in->format_version, in->n_users, in->n_items, in->n_ratings,
               in->has_timestamp ? "yes" : "no", in->n_shards, in->partition == TRIB_PARTITION_RANGE ? "range" : "hash");
    }
    for (uint32_t s = 0; s < in->n_shards; s++) {
        trib_dataset_shard_path(ds, s, path, sizeof path);
        uint64_t sz = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
        bytes += sz;
        if (json)
            printf("%s{\"ratings\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", s ? "," : "",
                   trib_dataset_shard_counts(ds)[s], sz);
        else if (s < 16 || s + 1 == in->n_shards)
            printf("  shard-%05u.h5 %12" PRIu64 " ratings %12" PRIu64 " bytes\n", s, trib_dataset_shard_counts(ds)[s],
                   sz);
        else if (s == 16)
            printf("  ...\n");
    }
    if (json) {
        printf("],\"bytes\":%" PRIu64 ",\"histogram\":[", bytes);
        for (size_t b = 0; b < h.n_bins; b++) {
            printf("%s{\"lo\":", b ? "," : "");
            json_num(h.lo[b]);
            printf(",\"hi\":");
            json_num(h.hi[b]);
            printf(",\"count\":%" PRIu64 "}", h.count[b]);
        }
        printf("]");
        print_tops("top_users", trib_dataset_users(ds), tu, nu, 1);
        print_tops("top_items", trib_dataset_items(ds), ti, ni, 1);
        printf(",\"owner_imbalance\":{");
        for (int p = 0; p < 5; p++) {
            printf("%s\"%d\":", p ? "," : "", parts[p]);
            json_num(imb[p]);
        }
        printf("},\"verified\":%s}\n", verify ? "true" : "false");
    } else {
        printf("size on disk    %.2f MB\nratings         min %g, max %g, mean %.6g\n", mb(bytes), in->rating_min,
               in->rating_max, in->rating_mean);
        if (in->is_synthetic)
            printf("synthetic       noise_std %g, true_model_rmse %.6f\n", in->noise_std, in->true_model_rmse);
        printf("histogram\n");
        for (size_t b = 0; b < h.n_bins; b++) {
            if (h.lo[b] == h.hi[b])
                printf("  %-22g %12" PRIu64 "\n", h.lo[b], h.count[b]);
            else
                printf("  [%-9.4g, %9.4g%s %12" PRIu64 "\n", h.lo[b], h.hi[b], b + 1 == h.n_bins ? "]" : ")",
                       h.count[b]);
        }
        print_tops("top users", trib_dataset_users(ds), tu, nu, 0);
        print_tops("top items", trib_dataset_items(ds), ti, ni, 0);
        printf("owner imbalance max/mean ratings per rank:");
        for (int p = 0; p < 5; p++)
            printf(" P=%d %.3f", parts[p], imb[p]);
        printf("\nfingerprint     %016" PRIx64 "\n", in->fingerprint);
        if (verify)
            printf("verify          OK (every shard read; ids, counts, partition, fingerprints match)\n");
    }
    free(tu);
    free(ti);
    trib_dataset_close(ds);
    return 0;
}

/* ---------------------------------------------------------------- main */

static const char main_help[] =
    "Usage: trib-data COMMAND [options]   (trib-data COMMAND --help for each)\n"
    "Sharded HDF5 rating datasets (layout: datasets/FORMAT.md).\n\n"
    "  convert   text ratings (MovieLens 100k/1M/10M/20M/25M, CSV) -> dataset\n"
    "  synth     synthetic ratings from a planted low-rank model\n"
    "  split     deterministic train/test split\n"
    "  inspect   summary, --verify, --json\n";

int main(int argc, char **argv)
{
    if (argc < 2)
        return fputs(main_help, stderr), 1;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(main_help, stdout);
        return 0;
    }
    static char prog[64];
    snprintf(prog, sizeof prog, "trib-data %s", cmd);
    trib_cli_prog = prog;
    argv[1] = argv[0];
    optind = 1;
    if (!strcmp(cmd, "convert"))
        return cmd_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "synth"))
        return cmd_synth(argc - 1, argv + 1);
    if (!strcmp(cmd, "split"))
        return cmd_split(argc - 1, argv + 1);
    if (!strcmp(cmd, "inspect"))
        return cmd_inspect(argc - 1, argv + 1);
    trib_cli_prog = "trib-data";
    return FAIL("unknown command '%s' (convert, synth, split, inspect; see --help)", cmd);
}
