/*
 * bench.h - shared declarations of trib-bench, the collective benchmark.
 *
 * trib-bench is split by concern:
 *   bench_opts.c    parsing of sizes, rates, delays, algorithm lists, types and ops
 *   bench_check.c   deterministic inputs and the result checker (a pure function)
 *   bench_stats.c   per-iteration statistics (mean, median, percentile)
 *   bench_sweep.c   the measurement loop: one (size, algorithm) point at a time
 *   bench_report.c  the human table, CSV and JSON output, written on rank 0
 *   bench_tune.c    `trib-bench tune`: sweep, pick winners, write a tuning file
 *   trib_bench.c    main: subcommand dispatch and the allreduce command
 * Everything except trib_bench.c is compiled into a small static library so the
 * unit tests can call the checker and the parsers directly.
 */
#ifndef TRIB_BENCH_H
#define TRIB_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <mpi.h>

#include "common/cli.h"
#include "tributary/allreduce.h"

/* ------------------------------------------------------------------ types */

typedef enum { BENCH_FLOAT, BENCH_DOUBLE, BENCH_INT32, BENCH_INT64, BENCH_UINT8, BENCH_TYPE_COUNT } bench_type_t;
/* BOR: integer types only.  USER: a commutative sum created with MPI_Op_create (the path every
 * user-defined operation takes: MPI_Reduce_local as the combining step). */
typedef enum { BENCH_SUM, BENCH_PROD, BENCH_MIN, BENCH_MAX, BENCH_AVG, BENCH_BOR, BENCH_USER, BENCH_OP_COUNT } bench_op_t;

/* Name as printed ("float"); the parser also accepts "int" and "int32_t" style aliases. */
const char *bench_type_name(bench_type_t t);
const char *bench_op_name(bench_op_t op);
size_t bench_type_size(bench_type_t t);
MPI_Datatype bench_type_mpi(bench_type_t t);
/* The MPI handle; BENCH_USER's op is created on first use (after MPI_Init) and kept. */
MPI_Op bench_op_mpi(bench_op_t op);
/* 1 when the op is defined on the type (avg: floating types; bor: integer types). */
int bench_op_valid(bench_type_t t, bench_op_t op);
int bench_parse_type(const char *s, bench_type_t *out);
int bench_parse_op(const char *s, bench_op_t *out);

/* ---------------------------------------------------------------- parsing */

/* "4096", "64K", "16M", "1G" (binary multiples: K = 1024). 0 on success, -1 on error. */
int bench_parse_bytes(const char *s, size_t *out);
/* Link rate in bits per second: "1G", "1gbit", "100mbit", "100M", "1e9" (decimal multiples). */
int bench_parse_rate(const char *s, double *bits_per_s);
/* Delay in seconds: "100us", "1ms", "0.5ms", "2s", "0". */
int bench_parse_delay(const char *s, double *seconds);
/* "1024" -> "1K", "1048576" -> "1M", else plain bytes. */
void bench_format_bytes(size_t bytes, char *buf, size_t len);

/* One entry of --algo: the library's algorithm plus the segment size to pass; or, with plain set,
 * a plain MPI_Allreduce call from the benchmark itself (whatever that symbol resolves to: the MPI
 * library, or libtributary_mpi when it is preloaded), the way an unmodified MPI program calls it. */
typedef struct {
    trib_algo_t algo;
    size_t segment_bytes;
    int plain;
    int floor; /* "memcpy": every rank copies its send buffer into its receive buffer, all at once (no
                  communication, no result to check): the memory floor the allreduce rows compare with */
} bench_algo_t;

#define BENCH_MAX_ALGOS 32

/* Parses "ring,tree,rd" (each name optionally ":SEG", e.g. "ring:256K") into out[];
 * returns the number parsed or -1 (message in err). "all" = ring,tree,rd,shm,hier,auto,mpi; "plain" is
 * the plain MPI_Allreduce call, "memcpy" the memory floor (neither takes a segment). */
int bench_parse_algo_list(const char *s, bench_algo_t *out, int max, char *err, size_t errlen);
/* "ring" or "ring:256K" into buf. */
void bench_algo_label(const bench_algo_t *a, char *buf, size_t len);

/* The value parsers above as option-table parsers (apps/common/cli.h, TRIB_CLI_CUSTOM):
 * dst a size_t (positive), bench_type_t, bench_op_t, double bit/s, double seconds, bench_config_t (--algo). */
int bench_cli_bytes(const char *s, void *dst, char *why, size_t cap);
int bench_cli_type(const char *s, void *dst, char *why, size_t cap);
int bench_cli_op(const char *s, void *dst, char *why, size_t cap);
int bench_cli_rate(const char *s, void *dst, char *why, size_t cap);
int bench_cli_delay(const char *s, void *dst, char *why, size_t cap);
int bench_cli_algos(const char *s, void *dst, char *why, size_t cap);

/* ---------------------------------------------------------------- checker */

/* Fills buf[0..count) with rank `rank`'s deterministic contribution.  The
 * values are chosen per op so that the exact reduction is representable
 * (small integers for sum/avg, powers of two for prod). */
void bench_fill_input(void *buf, size_t count, bench_type_t type, bench_op_t op, int rank);

/* The exact expected value of element i reduced over `nranks` ranks, as double. */
double bench_expected_value(size_t i, bench_type_t type, bench_op_t op, int nranks);

typedef struct {
    size_t wrong;    /* number of wrong elements */
    size_t first;    /* index of the first wrong element (valid when wrong > 0) */
    double got;      /* its value */
    double expected; /* what it should be */
} bench_check_t;

/* Compares result[0..count) with the reduction of bench_fill_input over
 * nranks ranks.  Integers and non-average floats must match exactly; average
 * allows a relative error of 1e-5 (float) / 1e-12 (double).  Returns the number
 * of wrong elements (also in *report when non-NULL). */
size_t bench_check_result(const void *result, size_t count, bench_type_t type, bench_op_t op, int nranks,
                          bench_check_t *report);

/* Number of elements of buf that differ from bench_fill_input(rank) (send buffer untouched?). */
size_t bench_check_input(const void *buf, size_t count, bench_type_t type, bench_op_t op, int rank);

/* FNV-1a over bytes: compared across ranks to prove bitwise-identical results. */
uint64_t bench_hash(const void *buf, size_t bytes);

/* ------------------------------------------------------------------ stats */

/* Sorts v in place and returns the q-quantile (0..1) by nearest rank. */
double bench_quantile(double *v, size_t n, double q);
double bench_mean(const double *v, size_t n);

/* Physical lower bound of an allreduce of `bytes` over p ranks on links of
 * `rate` bit/s and one-way `delay` s: max(2(p-1)/p * n / rate, ceil(log2 p) * delay).
 * 0 when p == 1 or rate <= 0. */
double bench_bound_seconds(size_t bytes, int p, double rate, double delay);

/* ------------------------------------------------------------ the sweep */

typedef struct {
    bench_algo_t algos[BENCH_MAX_ALGOS];
    int nalgos;
    int algo_explicit;  /* --algo given (unsupported then matters with --fail-unsupported) */
    size_t min_bytes, max_bytes;
    size_t factor;
    bench_type_t type;
    bench_op_t op;
    int iters, warmup;  /* iters 0 / warmup -1: scale with the size (see bench_iters_for) */
    int check;
    int in_place;
    int interleave;     /* time the algorithms of a size in alternation, not one batch after another */
    int fail_unsupported;
    int inject_error;   /* testing only: corrupt one element before checking */
    double link_rate;   /* bit/s, 0 = unknown */
    double link_delay;  /* seconds */
    const char *csv_path, *json_path;
    const char *tuning_file; /* passed to the library (opts.tuning_file) */
    int quiet;          /* no table on stdout */
} bench_config_t;

void bench_config_defaults(bench_config_t *c);

/* Option-table entries both subcommands take (apps/common/cli.h; c: a bench_config_t). */
#define BENCH_SWEEP_OPTS(c)                                                                                          \
    {.name = "min-bytes", .kind = TRIB_CLI_CUSTOM, .dst = &(c).min_bytes, .parse = bench_cli_bytes, .arg = "N",      \
     .help = "smallest message in bytes (default 8; suffixes K, M, G = 2^10, 2^20, 2^30); at\n"                     \
             "least one element of --type (less is refused); sizes are rounded down to whole\n"                     \
             "elements, and the table shows the bytes measured"},                                                    \
    {.name = "max-bytes", .kind = TRIB_CLI_CUSTOM, .dst = &(c).max_bytes, .parse = bench_cli_bytes, .arg = "N",      \
     .help = "largest message (default 16M); refused when the ranks on a node would need\n"                          \
             "more than its MemAvailable (each: send + receive buffer + one message of\n"                            \
             "temporary space, so 3 x N)"},                                                                          \
    {.name = "factor", .kind = TRIB_CLI_SIZE, .dst = &(c).factor, .min = 2, .max = 100000000, .arg = "F",            \
     .help = "size multiplier between steps"},                                                                       \
    {.name = "type", .kind = TRIB_CLI_CUSTOM, .dst = &(c).type, .parse = bench_cli_type, .arg = "T",                 \
     .help = "float, double, int32 (int), int64, uint8 (default float)"},                                            \
    {.name = "iters", .kind = TRIB_CLI_INT, .dst = &(c).iters, .min = 1, .max = 100000000, .arg = "N",               \
     .no_default = 1,                                                                                                \
     .help = "timed iterations per point (default: 1000 up to 64K, then scaled down\n"                               \
             "to move about 64 MiB per point, at least 5)"},                                                         \
    {.name = "warmup", .kind = TRIB_CLI_INT, .dst = &(c).warmup, .min = 0, .max = 100000000, .arg = "W",             \
     .no_default = 1, .help = "untimed iterations before each timed batch (default iters/10, at least 1)"},          \
    {.name = "interleave", .kind = TRIB_CLI_FLAG, .dst = &(c).interleave,                                            \
     .help = "time the algorithms of a size in alternation (each timed round calls\n"                                \
             "every algorithm once) instead of one batch after another: fairer ratios\n"                             \
             "when other work shares the CPUs.  Not for TCP networks: each call then\n"                              \
             "inherits the connection state (such as congestion windows) another left"},                             \
    {.name = "link-rate", .kind = TRIB_CLI_CUSTOM, .dst = &(c).link_rate, .parse = bench_cli_rate, .arg = "R",       \
     .help = "link rate of the network (1G, 100mbit, ...): adds bound_ratio = time / bound,\n"                       \
             "bound = max(2(p-1)/p * bytes / rate, ceil(log2 p) * delay)"},                                          \
    {.name = "link-delay", .kind = TRIB_CLI_CUSTOM, .dst = &(c).link_delay, .parse = bench_cli_delay, .arg = "D",    \
     .help = "one-way link delay (100us, 1ms; default 0)"}

typedef enum { BENCH_POINT_OK, BENCH_POINT_UNSUPPORTED, BENCH_POINT_FAILED } bench_point_status_t;

/* One row of the result: one size and one algorithm.  Times in seconds. */
typedef struct {
    size_t bytes, count;
    bench_algo_t algo;
    bench_point_status_t status;
    int rc;             /* library status when FAILED */
    int iters;
    double t_min, t_avg, t_max; /* over ranks, of the per-rank mean iteration time */
    double t_median, t_p90;     /* over iterations, of the slowest rank's time */
    double algbw, busbw;        /* GB/s (1e9 bytes/s), from t_avg */
    double bound_ratio;         /* t_avg / physical bound, 0 = unknown */
    unsigned long long errors;  /* wrong elements over all ranks + cross-rank mismatches */
    int fastest;                /* the fastest algorithm at this size */
} bench_point_t;

typedef struct {
    bench_point_t *points;
    size_t npoints, cap;
} bench_results_t;

/* Default iteration counts for a message size (OSU-like: many for small, fewer for large). */
void bench_iters_for(const bench_config_t *c, size_t bytes, int *iters, int *warmup);

/* --min-bytes of at least one element of --type and not above --max-bytes: 0, or a usage error (printed). */
int bench_check_sizes(const bench_config_t *c);
/* Runs the whole sweep (collective).  Results are complete on rank 0.  Returns 0, or -1 when the buffers
 * would exceed the node's MemAvailable (ranks on the node x 3 x --max-bytes) or cannot be allocated
 * (message printed). */
int bench_sweep(const bench_config_t *c, MPI_Comm comm, bench_results_t *res);
void bench_results_free(bench_results_t *res);

/* ---------------------------------------------------------------- output */

typedef struct {
    const char *command; /* the command line as typed */
    char mpi_library[256];
    char host[256];
    char date[64];
    char load[64]; /* /proc/loadavg's 1, 5 and 15 minute averages at the start: a busy machine shows */
    int ranks;
    int nodes, ranks_per_node; /* the library's view (trib_allreduce_layout); ranks_per_node 0: uneven */
} bench_meta_t;

/* Records the command line (program name without its directory) for the headers. */
void bench_set_command(int argc, char **argv);
void bench_meta_collect(bench_meta_t *m, MPI_Comm comm);
void bench_print_table(FILE *f, const bench_config_t *c, const bench_meta_t *m, const bench_results_t *r);
/* Write atomically (temporary name, fsync, rename).  0 or -1 (message printed). */
int bench_write_csv(const char *path, const bench_config_t *c, const bench_meta_t *m, const bench_results_t *r);
int bench_write_json(const char *path, const bench_config_t *c, const bench_meta_t *m, const bench_results_t *r);
/* Writes `text` to `path` atomically. */
int bench_write_file_atomic(const char *path, const char *text, size_t len);
/* One line listing every option as resolved ("--algo ring,tree --min-bytes 8 ..."). */
void bench_options_string(const bench_config_t *c, char *buf, size_t len);

/* ------------------------------------------------------------------ tune */

int bench_tune_main(int argc, char **argv, MPI_Comm comm);

/* A dynamic string for building text output. */
typedef struct {
    char *s;
    size_t len, cap;
    int failed;
} bench_str_t;
void bench_str_printf(bench_str_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bench_str_free(bench_str_t *b);

#endif /* TRIB_BENCH_H */
