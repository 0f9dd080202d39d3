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

/* ---------------------------------------------------------------- shared options */

/* Parses a subcommand's table: -1 to go on, else the exit status (0 after --help or --version). */
static int parse_cmd(const char *usage, const trib_cli_opt_t *opts, int positional, int argc, char **argv,
                     int *first_positional)
{
    trib_cli_t cli = {.usage = usage, .opts = opts, .positional = positional};
    int rc = trib_cli_parse(&cli, argc, argv);
    if (!rc && cli.help)
        trib_cli_print_help(&cli);
    else if (!rc && cli.version)
        printf("trib-data %s\n", trib_version_string());
    if (first_positional)
        *first_positional = cli.first_positional;
    trib_cli_free(&cli);
    return rc ? 1 : cli.help || cli.version ? 0 : -1;
}

/* The write options every creating subcommand takes. */
#define SHARD_OPTS(w)                                                                                                \
    {.name = "shards", .kind = TRIB_CLI_U32, .dst = &(w).n_shards, .min = 1, .max = 1000000, .arg = "N",            \
     .help = "number of shard files"},                                                                               \
    {.name = "partition", .kind = TRIB_CLI_ENUM, .dst = &(w).partition, .choices = &trib_cli_enum_partition,        \
     .arg = "P", .help = "how users are assigned to shards"}
#define WRITE_OPTS(w)                                                                                                \
    {.name = "compress", .kind = TRIB_CLI_INT, .dst = &(w).compress_level, .max = 9, .arg = "L",                    \
     .help = "deflate level with shuffle (0: none)"},                                                                \
    {.name = "force", .kind = TRIB_CLI_FLAG, .dst = &(w).force, .help = "replace an existing dataset"}

static double mb(uint64_t bytes) { return (double)bytes / 1e6; }

/* ---------------------------------------------------------------- convert */

static const char convert_usage[] =
    "Usage: trib-data convert --format FMT --input FILE --output DIR --shards N [options]\n"
    "Converts a text file of ratings into a sharded HDF5 dataset.\n\n";

/* --delimiter C: one character, or 'tab' (dst: char). */
static int parse_delimiter(const char *s, void *dst, char *why, size_t cap)
{
    if (!strcmp(s, "tab") || !strcmp(s, "\\t"))
        *(char *)dst = '\t';
    else if (strlen(s) == 1)
        *(char *)dst = s[0];
    else
        return snprintf(why, cap, "is not one character (or 'tab')"), -1;
    return 0;
}

static int cmd_convert(int argc, char **argv)
{
    trib_convert_opts_t o = {TRIB_TEXT_OPTS_INIT, TRIB_DATA_WRITE_OPTS_INIT, NULL};
    const char *input = NULL, *output = NULL, *format = NULL;
    const trib_cli_opt_t opts[] = {
        {.name = "format", .kind = TRIB_CLI_STRING, .dst = &format, .arg = "FMT",
         .help = "movielens-100k (u.data: user\\titem\\trating\\ttime), movielens-dat\n"
                 "(ratings.dat: user::item::rating::time), movielens-csv (ratings.csv, header),\n"
                 "csv (user,item,rating[,timestamp]; ids may be integers or strings)"},
        {.name = "input", .kind = TRIB_CLI_STRING, .dst = &input, .arg = "FILE",
         .help = "text file ('-' for standard input)"},
        {.name = "output", .kind = TRIB_CLI_STRING, .dst = &output, .arg = "DIR", .help = "dataset directory to create"},
        SHARD_OPTS(o.write),
        {.name = "delimiter", .kind = TRIB_CLI_CUSTOM, .dst = &o.text.delimiter, .parse = parse_delimiter,
         .arg = "C", .help = "csv field separator (default ','; 'tab' for a tab)"},
        {.name = "header", .kind = TRIB_CLI_FLAG, .dst = &o.text.header, .help = "csv: the first line is a header"},
        {.name = "skip-bad", .kind = TRIB_CLI_FLAG, .dst = &o.text.skip_bad,
         .help = "skip and count bad lines and duplicate pairs instead of stopping"},
        {.name = "ids-from", .kind = TRIB_CLI_STRING, .dst = &o.ids_from, .arg = "DIR",
         .help = "reuse DIR's id maps (ratings of unknown users/items are dropped and counted)"},
        WRITE_OPTS(o.write),
        {0}};
    int done = parse_cmd(convert_usage, opts, 0, argc, argv, NULL);
    if (done >= 0)
        return done;
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

static const char synth_usage[] =
    "Usage: trib-data synth --users U --items I --ratings N --rank K --noise SIGMA --seed S --shards N --output DIR\n"
    "Generates ratings from a planted model: mean + b_u + b_i + p_u.q_i + N(0, SIGMA^2), with power-law\n"
    "user activity and item popularity.  Stores noise_std and the planted model's RMSE on the data.\n"
    "Counts accept k/M/G suffixes (1M = 1000000); same seed -> same data, whatever the shard count.\n\n";

/* --clip MIN:MAX (dst: trib_synth_config_t). */
static int parse_clip(const char *s, void *dst, char *why, size_t cap)
{
    trib_synth_config_t *c = dst;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    char *colon = strchr(buf, ':');
    if (!colon)
        return snprintf(why, cap, "is not MIN:MAX"), -1;
    *colon = '\0';
    if (trib_cli_parse_double(buf, &c->clip_min) || trib_cli_parse_double(colon + 1, &c->clip_max))
        return snprintf(why, cap, "is not MIN:MAX (bounds are not numbers)"), -1;
    c->clip = 1;
    return 0;
}

static int cmd_synth(int argc, char **argv)
{
    trib_synth_config_t c;
    trib_synth_config_init(&c);
    trib_data_write_opts_t w = TRIB_DATA_WRITE_OPTS_INIT;
    const char *output = NULL;
    const trib_cli_opt_t opts[] = {
        {.name = "users", .kind = TRIB_CLI_U64, .dst = &c.n_users, .arg = "U", .help = "users"},
        {.name = "items", .kind = TRIB_CLI_U64, .dst = &c.n_items, .arg = "I", .help = "items"},
        {.name = "ratings", .kind = TRIB_CLI_U64, .dst = &c.n_ratings, .arg = "N", .help = "ratings (N <= U*I)"},
        {.name = "rank", .kind = TRIB_CLI_U32, .dst = &c.rank, .min = 1, .max = 4096, .arg = "K",
         .help = "rank of the planted factors"},
        {.name = "noise", .kind = TRIB_CLI_DOUBLE, .dst = &c.noise_std, .min = 0, .max = HUGE_VAL, .arg = "SIGMA",
         .help = "std of the Gaussian noise"},
        {.name = "seed", .kind = TRIB_CLI_U64, .dst = &c.seed, .arg = "S", .help = "seed"},
        SHARD_OPTS(w),
        {.name = "output", .kind = TRIB_CLI_STRING, .dst = &output, .arg = "DIR", .help = "dataset directory to create"},
        {.name = "user-exponent", .kind = TRIB_CLI_DOUBLE, .dst = &c.user_exponent, .arg = "A",
         .help = "user activity ~ rank^-A"},
        {.name = "item-exponent", .kind = TRIB_CLI_DOUBLE, .dst = &c.item_exponent, .arg = "B",
         .help = "item popularity ~ rank^-B"},
        {.name = "mean", .kind = TRIB_CLI_DOUBLE, .dst = &c.global_mean, .arg = "M", .help = "global mean"},
        {.name = "clip", .kind = TRIB_CLI_CUSTOM, .dst = &c, .parse = parse_clip, .arg = "MIN:MAX",
         .help = "clip ratings to [MIN, MAX] (default: no clipping)"},
        {.name = "no-timestamps", .kind = TRIB_CLI_CLEAR, .dst = &c.with_timestamp,
         .help = "omit the timestamp column"},
        WRITE_OPTS(w),
        {0}};
    int done = parse_cmd(synth_usage, opts, 0, argc, argv, NULL);
    if (done >= 0)
        return done;
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

static const char split_usage[] =
    "Usage: trib-data split --input DIR --test-fraction F --seed S --train DIR --test DIR [--by random|time]\n"
    "Splits a dataset into train and test sets deterministically; every rating lands in exactly one side.\n"
    "Both keep the input's id maps and shard count.\n\n";

/* --test-fraction F, strictly between 0 and 1 (dst: double). */
static int parse_fraction(const char *s, void *dst, char *why, size_t cap)
{
    double f;
    if (trib_cli_parse_double(s, &f) || !(f > 0 && f < 1))
        return snprintf(why, cap, "is not a number in (0, 1)"), -1;
    *(double *)dst = f;
    return 0;
}

static int cmd_split(int argc, char **argv)
{
    trib_split_opts_t o;
    memset(&o, 0, sizeof o);
    trib_data_write_opts_t w = TRIB_DATA_WRITE_OPTS_INIT;
    o.write = w;
    o.test_fraction = -1;
    o.seed = 1;
    const char *input = NULL, *train = NULL, *test = NULL;
    const trib_cli_opt_t opts[] = {
        {.name = "input", .kind = TRIB_CLI_STRING, .dst = &input, .arg = "DIR", .help = "dataset to split"},
        {.name = "test-fraction", .kind = TRIB_CLI_CUSTOM, .dst = &o.test_fraction, .parse = parse_fraction,
         .arg = "F", .help = "fraction of the ratings in test, in (0, 1)"},
        {.name = "seed", .kind = TRIB_CLI_U64, .dst = &o.seed, .arg = "S", .help = "seed"},
        {.name = "train", .kind = TRIB_CLI_STRING, .dst = &train, .arg = "DIR", .help = "train dataset to create"},
        {.name = "test", .kind = TRIB_CLI_STRING, .dst = &test, .arg = "DIR", .help = "test dataset to create"},
        {.name = "by", .kind = TRIB_CLI_ENUM, .dst = &o.by, .choices = &trib_cli_enum_split_by, .arg = "B",
         .help = "random: each rating is in test when hash(seed, user, item) < F;\n"
                 "time: per user, the round(F * n_u) latest ratings are in test"},
        WRITE_OPTS(o.write),
        {0}};
    int done = parse_cmd(split_usage, opts, 0, argc, argv, NULL);
    if (done >= 0)
        return done;
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

static const char inspect_usage[] =
    "Usage: trib-data inspect DIR [--verify] [--json] [--top K]\n"
    "Prints a dataset's summary: counts, shards and sizes, rating histogram, most active users and most\n"
    "rated items (original ids), owner-map imbalance for several rank counts.\n\n";

typedef struct {
    uint32_t id;
    uint64_t count;
} top_t;

enum { N_PARTS = 5 };
static const int inspect_parts[N_PARTS] = {2, 4, 8, 16, 64};

/* What inspect reports, gathered once and printed as text or JSON. */
typedef struct {
    const char *dir;
    int verified;
    trib_dataset_t *ds;
    const trib_dataset_info_t *in;
    trib_histogram_t h;
    uint64_t bytes;        /* manifest and shards */
    uint64_t *shard_bytes; /* n_shards */
    top_t *tu, *ti;        /* most active users, most rated items */
    size_t nu, ni;
    double imb[N_PARTS];   /* owner imbalance for inspect_parts ranks (NaN: not computed) */
} inspect_t;

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

static void inspect_free(inspect_t *g)
{
    free(g->tu);
    free(g->ti);
    free(g->shard_bytes);
    if (g->ds)
        trib_dataset_close(g->ds);
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Opens (and with verify checks) the dataset and gathers the statistics; a status. */
static int inspect_gather(const char *dir, int verify, size_t k, inspect_t *g)
{
    memset(g, 0, sizeof *g);
    g->dir = dir;
    g->verified = verify;
    int rc = trib_dataset_open(dir, &g->ds);
    if (rc != TRIB_OK)
        return rc;
    if (verify && (rc = trib_dataset_verify(g->ds)) != TRIB_OK)
        return rc;
    g->in = trib_dataset_info(g->ds);
    trib_dataset_histogram(g->ds, &g->h);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/manifest.h5", dir);
    g->bytes = file_size(path);
    g->tu = calloc(k + 1, sizeof *g->tu);
    g->ti = calloc(k + 1, sizeof *g->ti);
    g->shard_bytes = calloc(g->in->n_shards + 1, sizeof *g->shard_bytes);
    if (!g->tu || !g->ti || !g->shard_bytes)
        return trib_errorf(TRIB_ERR_NOMEM, "out of memory");
    for (uint32_t s = 0; s < g->in->n_shards; s++) {
        trib_dataset_shard_path(g->ds, s, path, sizeof path);
        g->shard_bytes[s] = file_size(path);
        g->bytes += g->shard_bytes[s];
    }
    g->nu = top_k(trib_dataset_user_counts(g->ds), g->in->n_users, k, g->tu);
    g->ni = top_k(trib_dataset_item_counts(g->ds), g->in->n_items, k, g->ti);
    for (int p = 0; p < N_PARTS; p++) {
        trib_owner_map_t *m;
        g->imb[p] = NAN;
        if (trib_data_owner_map_from_dataset(g->ds, inspect_parts[p], &m) == TRIB_OK) {
            g->imb[p] = trib_data_owner_imbalance(m);
            trib_data_owner_map_destroy(m);
        }
    }
    return TRIB_OK;
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

static void inspect_print_text(const inspect_t *g)
{
    const trib_dataset_info_t *in = g->in;
    printf("dataset         %s\nsource          %s\nformat version  %u\nusers           %" PRIu64
           "\nitems           %" PRIu64 "\nratings         %" PRIu64 "\ntimestamps      %s\n"
           "shards          %u (%s partition)\n",
           g->dir, in->source, in->format_version, in->n_users, in->n_items, in->n_ratings,
           in->has_timestamp ? "yes" : "no", in->n_shards, trib_partition_name(in->partition));
    for (uint32_t s = 0; s < in->n_shards; s++) {
        if (s < 16 || s + 1 == in->n_shards)
            printf("  shard-%05u.h5 %12" PRIu64 " ratings %12" PRIu64 " bytes\n", s,
                   trib_dataset_shard_counts(g->ds)[s], g->shard_bytes[s]);
        else if (s == 16)
            printf("  ...\n");
    }
    printf("size on disk    %.2f MB\nratings         min %g, max %g, mean %.6g\n", mb(g->bytes), in->rating_min,
           in->rating_max, in->rating_mean);
    if (in->is_synthetic)
        printf("synthetic       noise_std %g, true_model_rmse %.6f\n", in->noise_std, in->true_model_rmse);
    printf("histogram\n");
    for (size_t b = 0; b < g->h.n_bins; b++) {
        if (g->h.lo[b] == g->h.hi[b])
            printf("  %-22g %12" PRIu64 "\n", g->h.lo[b], g->h.count[b]);
        else
            printf("  [%-9.4g, %9.4g%s %12" PRIu64 "\n", g->h.lo[b], g->h.hi[b], b + 1 == g->h.n_bins ? "]" : ")",
                   g->h.count[b]);
    }
    print_tops("top users", trib_dataset_users(g->ds), g->tu, g->nu, 0);
    print_tops("top items", trib_dataset_items(g->ds), g->ti, g->ni, 0);
    printf("owner imbalance max/mean ratings per rank:");
    for (int p = 0; p < N_PARTS; p++)
        printf(" P=%d %.3f", inspect_parts[p], g->imb[p]);
    printf("\nfingerprint     %016" PRIx64 "\n", in->fingerprint);
    if (g->verified)
        printf("verify          OK (every shard read; ids, counts, partition, fingerprints match)\n");
}

static void inspect_print_json(const inspect_t *g)
{
    const trib_dataset_info_t *in = g->in;
    printf("{\"dataset\":");
    json_str(g->dir);
    printf(",\"source\":");
    json_str(in->source);
    printf(",\"format_version\":%u,\"n_users\":%" PRIu64 ",\"n_items\":%" PRIu64 ",\"n_ratings\":%" PRIu64
           ",\"n_shards\":%u,\"partition\":\"%s\",\"has_timestamp\":%s",
           in->format_version, in->n_users, in->n_items, in->n_ratings, in->n_shards,
           trib_partition_name(in->partition), in->has_timestamp ? "true" : "false");
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
    for (uint32_t s = 0; s < in->n_shards; s++)
        printf("%s{\"ratings\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", s ? "," : "", trib_dataset_shard_counts(g->ds)[s],
               g->shard_bytes[s]);
    printf("],\"bytes\":%" PRIu64 ",\"histogram\":[", g->bytes);
    for (size_t b = 0; b < g->h.n_bins; b++) {
        printf("%s{\"lo\":", b ? "," : "");
        json_num(g->h.lo[b]);
        printf(",\"hi\":");
        json_num(g->h.hi[b]);
        printf(",\"count\":%" PRIu64 "}", g->h.count[b]);
    }
    printf("]");
    print_tops("top_users", trib_dataset_users(g->ds), g->tu, g->nu, 1);
    print_tops("top_items", trib_dataset_items(g->ds), g->ti, g->ni, 1);
    printf(",\"owner_imbalance\":{");
    for (int p = 0; p < N_PARTS; p++) {
        printf("%s\"%d\":", p ? "," : "", inspect_parts[p]);
        json_num(g->imb[p]);
    }
    printf("},\"verified\":%s}\n", g->verified ? "true" : "false");
}

static int cmd_inspect(int argc, char **argv)
{
    int verify = 0, json = 0, first = 0;
    size_t k = 5;
    const trib_cli_opt_t opts[] = {
        {.name = "verify", .kind = TRIB_CLI_FLAG, .dst = &verify,
         .help = "read every shard and check ids, counts, partition and fingerprints"},
        {.name = "json", .kind = TRIB_CLI_FLAG, .dst = &json, .help = "print one JSON object instead of text"},
        {.name = "top", .kind = TRIB_CLI_SIZE, .dst = &k, .max = 1000, .arg = "K",
         .help = "how many top users/items"},
        {0}};
    int done = parse_cmd(inspect_usage, opts, 1, argc, argv, &first);
    if (done >= 0)
        return done;
    if (first + 1 != argc)
        return FAIL("expected exactly one dataset directory (see --help)");
    inspect_t g;
    int rc = inspect_gather(argv[first], verify, k, &g);
    if (rc != TRIB_OK)
        rc = lib_fail(rc);
    else if (json)
        inspect_print_json(&g);
    else
        inspect_print_text(&g);
    inspect_free(&g);
    return rc;
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
