/*
 * trib_bench.c - trib-bench: collective benchmarks of the Tributary allreduce.
 *
 *   trib-bench allreduce [options]   sweep sizes x algorithms, print a table, write CSV/JSON
 *   trib-bench tune [options]        sweep, pick the fastest algorithm per size, write a tuning file
 *
 * This file holds main, the subcommand dispatch and the allreduce command's
 * option parsing; the measurement is in bench_sweep.c, the output in
 * bench_report.c, tuning in bench_tune.c.
 *
 * Exit status: 0 on success; 1 on a bad option, an algorithm that failed, a
 * wrong value found by --check, or an output file that could not be written.
 * An algorithm that returns TRIB_ERR_UNSUPPORTED (shm on a communicator that
 * spans nodes, avg on an integer type, ...) is shown as "unsupported" and does
 * not change the exit status, unless --fail-unsupported is given.
 */
#include "bench.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage_allreduce(FILE *f)
{
    fprintf(f,
            "Usage: mpirun -np P trib-bench allreduce [options]\n"
            "Measures trib_allreduce_ex with each algorithm against MPI_Allreduce over a range of sizes.\n"
            "\n"
            "  --algo LIST        comma-separated: ring,tree,rd,shm,auto,mpi (default: all of them);\n"
            "                     NAME:SEG passes a segment size, e.g. ring:256K\n"
            "  --min-bytes N      smallest message in bytes (default 8; suffixes K, M, G = 2^10, 2^20, 2^30)\n"
            "  --max-bytes N      largest message (default 16M)\n"
            "  --factor F         size multiplier between steps, integer >= 2 (default 2)\n"
            "  --type T           float, double, int32 (int), int64, uint8 (default float)\n"
            "  --op OP            sum, prod, min, max, avg (floating types only), bor (integer types only),\n"
            "                     user (a commutative sum made with MPI_Op_create) (default sum)\n"
            "  --iters N          timed iterations per point (default: 1000 up to 64K, then scaled down\n"
            "                     to move about 64 MiB per point, at least 5)\n"
            "  --warmup W         untimed iterations before each timed batch (default iters/10, at least 1)\n"
            "  --check            validate every result against an exact reference, the send buffer, and\n"
            "                     bitwise equality across ranks; a wrong value makes the exit status 1\n"
            "  --in-place         reduce in place (send buffer = receive buffer)\n"
            "  --interleave       time the algorithms of a size in alternation (each timed round calls\n"
            "                     every algorithm once) instead of one batch after another: fairer ratios\n"
            "                     when other work shares the CPUs.  Not for TCP networks: each call then\n"
            "                     inherits the connection state (such as congestion windows) another left\n"
            "  --csv FILE         write results as CSV (header: '#' lines naming MPI, ranks, host, date, options)\n"
            "  --json FILE        write results as JSON\n"
            "  --link-rate R      link rate of the network (1G, 100mbit, ...): adds bound_ratio = time / bound,\n"
            "                     bound = max(2(p-1)/p * bytes / rate, ceil(log2 p) * delay)\n"
            "  --link-delay D     one-way link delay (100us, 1ms; default 0)\n"
            "  --tuning-file F    tuning file for auto (default: $TRIB_TUNING_FILE, else built-in rules)\n"
            "  --fail-unsupported exit 1 when an algorithm returns TRIB_ERR_UNSUPPORTED (default: reported only)\n"
            "  --inject-error     testing the checker: corrupt one result element on the last rank\n"
            "  --quiet            no table on standard output\n"
            "  -h, --help         this help\n"
            "\n"
            "Timing: a barrier aligns the ranks before each timed batch (with --interleave: before the\n"
            "rounds of a size); every call is timed on its own.\n"
            "avg/min/max are over ranks of each rank's mean; median/p90 are over iterations of the slowest\n"
            "rank's time; algbw = bytes / avg time; busbw = algbw * 2(p-1)/p.  The fastest algorithm of\n"
            "a size ('*') has the lowest median; x_mpi = median of mpi / median of the row.\n");
}

static void usage_main(FILE *f)
{
    fprintf(f, "Usage: trib-bench COMMAND [options]\n"
               "  allreduce   measure the allreduce algorithms (trib-bench allreduce --help)\n"
               "  tune        measure and write a tuning file for auto (trib-bench tune --help)\n");
}

/* Where option errors go: stderr on rank 0, nowhere on the others. */
static FILE *errf;

/* Parses one size option; message on rank 0 and -1 on error. */
static int opt_bytes(const char *name, const char *arg, size_t *out)
{
    if (bench_parse_bytes(arg, out) != 0 || *out == 0) {
        fprintf(errf, "trib-bench: %s: '%s' is not a positive size (e.g. 8, 64K, 16M)\n", name, arg);
        return -1;
    }
    return 0;
}

static int opt_int(const char *name, const char *arg, int min, int *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || v < min || v > 100000000) {
        fprintf(errf, "trib-bench: %s: '%s' is not an integer >= %d\n", name, arg, min);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Validates the configuration as a whole (one place). */
static int validate_config(const bench_config_t *c)
{
    if (c->min_bytes > c->max_bytes) {
        fprintf(errf, "trib-bench: --min-bytes is larger than --max-bytes\n");
        return -1;
    }
    if (c->factor < 2) {
        fprintf(errf, "trib-bench: --factor must be an integer >= 2\n");
        return -1;
    }
    if (c->link_delay > 0 && c->link_rate <= 0) {
        fprintf(errf, "trib-bench: --link-delay needs --link-rate\n");
        return -1;
    }
    if (c->op == BENCH_BOR && !bench_op_valid(c->type, c->op)) {
        fprintf(errf, "trib-bench: --op bor needs an integer --type (int32, int64, uint8)\n");
        return -1;
    }
    return 0;
}

enum {
    OPT_ALGO = 256, OPT_MIN, OPT_MAX, OPT_FACTOR, OPT_TYPE, OPT_OP, OPT_ITERS, OPT_WARMUP, OPT_CHECK, OPT_INPLACE,
    OPT_CSV, OPT_JSON, OPT_RATE, OPT_DELAY, OPT_TUNING, OPT_FAILUNS, OPT_INJECT, OPT_QUIET, OPT_INTERLEAVE
};

/* Parses argv into c.  Returns 0, 1 for --help (printed), -1 on error (printed). */
static int parse_allreduce_args(int argc, char **argv, bench_config_t *c, int rank)
{
    static const struct option longopts[] = {
        {"algo", required_argument, NULL, OPT_ALGO},       {"min-bytes", required_argument, NULL, OPT_MIN},
        {"max-bytes", required_argument, NULL, OPT_MAX},   {"factor", required_argument, NULL, OPT_FACTOR},
        {"type", required_argument, NULL, OPT_TYPE},       {"op", required_argument, NULL, OPT_OP},
        {"iters", required_argument, NULL, OPT_ITERS},     {"warmup", required_argument, NULL, OPT_WARMUP},
        {"check", no_argument, NULL, OPT_CHECK},           {"in-place", no_argument, NULL, OPT_INPLACE},
        {"csv", required_argument, NULL, OPT_CSV},         {"json", required_argument, NULL, OPT_JSON},
        {"link-rate", required_argument, NULL, OPT_RATE},  {"link-delay", required_argument, NULL, OPT_DELAY},
        {"tuning-file", required_argument, NULL, OPT_TUNING},
        {"fail-unsupported", no_argument, NULL, OPT_FAILUNS},
        {"inject-error", no_argument, NULL, OPT_INJECT},   {"quiet", no_argument, NULL, OPT_QUIET},
        {"interleave", no_argument, NULL, OPT_INTERLEAVE},
        {"help", no_argument, NULL, 'h'},                  {NULL, 0, NULL, 0},
    };
    errf = rank == 0 ? stderr : fopen("/dev/null", "w"); /* only rank 0 speaks about bad options */
    if (!errf)
        errf = stderr;
    opterr = rank == 0;
    int rc = 0, opt, factor;
    char msg[256];
    optind = 1;
    while (rc == 0 && (opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_ALGO:
            c->nalgos = bench_parse_algo_list(optarg, c->algos, BENCH_MAX_ALGOS, msg, sizeof msg);
            c->algo_explicit = 1;
            if (c->nalgos < 0) {
                fprintf(errf, "trib-bench: %s\n", msg);
                rc = -1;
            }
            break;
        case OPT_MIN: rc = opt_bytes("--min-bytes", optarg, &c->min_bytes); break;
        case OPT_MAX: rc = opt_bytes("--max-bytes", optarg, &c->max_bytes); break;
        case OPT_FACTOR:
            rc = opt_int("--factor", optarg, 2, &factor);
            c->factor = (size_t)factor;
            break;
        case OPT_TYPE:
            if (bench_parse_type(optarg, &c->type) != 0) {
                fprintf(errf, "trib-bench: --type: unknown type '%s' (float, double, int32, int64, uint8)\n", optarg);
                rc = -1;
            }
            break;
        case OPT_OP:
            if (bench_parse_op(optarg, &c->op) != 0) {
                fprintf(errf, "trib-bench: --op: unknown operation '%s' (sum, prod, min, max, avg, bor, user)\n", optarg);
                rc = -1;
            }
            break;
        case OPT_ITERS: rc = opt_int("--iters", optarg, 1, &c->iters); break;
        case OPT_WARMUP: rc = opt_int("--warmup", optarg, 0, &c->warmup); break;
        case OPT_CHECK: c->check = 1; break;
        case OPT_INPLACE: c->in_place = 1; break;
        case OPT_INTERLEAVE: c->interleave = 1; break;
        case OPT_CSV: c->csv_path = optarg; break;
        case OPT_JSON: c->json_path = optarg; break;
        case OPT_RATE:
            if (bench_parse_rate(optarg, &c->link_rate) != 0) {
                fprintf(errf, "trib-bench: --link-rate: '%s' is not a rate (e.g. 1G, 100mbit)\n", optarg);
                rc = -1;
            }
            break;
        case OPT_DELAY:
            if (bench_parse_delay(optarg, &c->link_delay) != 0) {
                fprintf(errf, "trib-bench: --link-delay: '%s' is not a delay (e.g. 100us, 1ms)\n", optarg);
                rc = -1;
            }
            break;
        case OPT_TUNING: c->tuning_file = optarg; break;
        case OPT_FAILUNS: c->fail_unsupported = 1; break;
        case OPT_INJECT: c->inject_error = 1; break;
        case OPT_QUIET: c->quiet = 1; break;
        case 'h':
            if (rank == 0)
                usage_allreduce(stdout);
            rc = 1;
            break;
        default: rc = -1; break; /* getopt printed the reason */
        }
    }
    if (rc == 0 && optind < argc) {
        fprintf(errf, "trib-bench: unexpected argument '%s' (see trib-bench allreduce --help)\n", argv[optind]);
        rc = -1;
    }
    if (rc == 0)
        rc = validate_config(c);
    if (errf != stderr)
        fclose(errf);
    errf = stderr;
    return rc;
}

/* Exit status of a finished sweep (counts printed on rank 0). */
static int sweep_status(const bench_config_t *c, const bench_results_t *r)
{
    unsigned long long errors = 0;
    int failed = 0, unsupported = 0;
    for (size_t i = 0; i < r->npoints; i++) {
        errors += r->points[i].errors;
        failed += r->points[i].status == BENCH_POINT_FAILED;
        unsupported += r->points[i].status == BENCH_POINT_UNSUPPORTED;
    }
    if (errors)
        fprintf(stderr, "trib-bench: FAILED: %llu wrong value(s) found by --check\n", errors);
    if (failed)
        fprintf(stderr, "trib-bench: FAILED: %d point(s) returned an error\n", failed);
    if (unsupported)
        fprintf(stderr, "trib-bench: %d point(s) unsupported by their algorithm%s\n", unsupported,
                c->fail_unsupported ? " (--fail-unsupported)" : "");
    return (errors || failed || (unsupported && c->fail_unsupported)) ? 1 : 0;
}

static int allreduce_main(int argc, char **argv, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    bench_config_t c;
    bench_config_defaults(&c);
    int prc = parse_allreduce_args(argc, argv, &c, rank);
    if (prc != 0)
        return prc > 0 ? 0 : 1;
    bench_meta_t meta;
    bench_meta_collect(&meta, comm);
    bench_results_t res = {0};
    int status = bench_sweep(&c, comm, &res) == 0 ? 0 : 1;
    if (rank == 0) {
        if (!c.quiet)
            bench_print_table(stdout, &c, &meta, &res);
        if (c.csv_path && bench_write_csv(c.csv_path, &c, &meta, &res) != 0)
            status = 1;
        if (c.json_path && bench_write_json(c.json_path, &c, &meta, &res) != 0)
            status = 1;
        if (sweep_status(&c, &res) != 0)
            status = 1;
    }
    bench_results_free(&res);
    MPI_Bcast(&status, 1, MPI_INT, 0, comm);
    return status;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, status;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    bench_set_command(argc, argv);
    if (argc < 2) {
        if (rank == 0)
            usage_main(stderr);
        status = 1;
    } else if (strcmp(argv[1], "allreduce") == 0) {
        status = allreduce_main(argc - 1, argv + 1, MPI_COMM_WORLD);
    } else if (strcmp(argv[1], "tune") == 0) {
        status = bench_tune_main(argc - 1, argv + 1, MPI_COMM_WORLD);
    } else if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        if (rank == 0)
            usage_main(stdout);
        status = 0;
    } else {
        if (rank == 0)
            fprintf(stderr, "trib-bench: unknown command '%s' (allreduce, tune)\n", argv[1]);
        status = 1;
    }
    MPI_Finalize();
    return status;
}
