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

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const char allreduce_usage[] =
    "Usage: mpirun -np P trib-bench allreduce [options]\n"
    "Measures trib_allreduce_ex with each algorithm against MPI_Allreduce over a range of sizes.\n"
    "\n";
static const char allreduce_epilogue[] =
    "\n"
    "Timing: a barrier aligns the ranks before each timed batch (with --interleave: before the\n"
    "rounds of a size); every call is timed on its own.\n"
    "avg/min/max are over ranks of each rank's mean; median/p90 are over iterations of the slowest\n"
    "rank's time; algbw = bytes / avg time; busbw = algbw * 2(p-1)/p.  The fastest algorithm of\n"
    "a size ('*') has the lowest median; x_mpi = median of mpi / median of the row.\n";

static void usage_main(FILE *f)
{
    fprintf(f, "Usage: trib-bench COMMAND [options]\n"
               "  allreduce   measure the allreduce algorithms (trib-bench allreduce --help)\n"
               "  tune        measure and write a tuning file for auto (trib-bench tune --help)\n");
}

/* Validates the configuration as a whole (one place); 0 or a usage status. */
static int validate_config(const bench_config_t *c)
{
    int bad = bench_check_sizes(c);
    if (bad)
        return bad;
    if (c->link_delay > 0 && c->link_rate <= 0)
        return trib_cli_usage("--link-delay needs --link-rate");
    if (c->op == BENCH_BOR && !bench_op_valid(c->type, c->op))
        return trib_cli_usage("--op bor needs an integer --type (int32, int64, uint8)");
    for (int i = 0; i < c->nalgos; i++)
        if (c->algos[i].plain && c->max_bytes / bench_type_size(c->type) > (size_t)INT_MAX)
            return trib_cli_usage("--algo plain calls MPI_Allreduce, whose count is an int: --max-bytes is too large");
    return 0;
}

/* Parses argv into c.  Returns 0, 1 for --help (printed), -1 on error (printed by rank 0). */
static int parse_allreduce_args(int argc, char **argv, bench_config_t *c)
{
    const trib_cli_opt_t opts[] = {
        {.name = "algo", .kind = TRIB_CLI_CUSTOM, .dst = c, .parse = bench_cli_algos, .arg = "LIST",
         .help = "comma-separated: ring,tree,rd,shm,hier,auto,mpi (default: all of them);\n"
                 "NAME:SEG passes a segment size, e.g. ring:256K; plain = a plain MPI_Allreduce\n"
                 "call, served by libtributary_mpi when preloaded (benchmarks/coll/preload.sh);\n"
                 "memcpy = every rank copies its send buffer into its receive buffer at the same\n"
                 "time (no communication): the memory floor to compare the allreduce rows with"},
        BENCH_SWEEP_OPTS(*c),
        {.name = "op", .kind = TRIB_CLI_CUSTOM, .dst = &c->op, .parse = bench_cli_op, .arg = "OP",
         .help = "sum, prod, min, max, avg (floating types only), bor (integer types only),\n"
                 "user (a commutative sum made with MPI_Op_create) (default sum)"},
        {.name = "check", .kind = TRIB_CLI_FLAG, .dst = &c->check,
         .help = "validate every result against an exact reference, the send buffer, and\n"
                 "bitwise equality across ranks; a wrong value makes the exit status 1"},
        {.name = "in-place", .kind = TRIB_CLI_FLAG, .dst = &c->in_place,
         .help = "reduce in place (send buffer = receive buffer)"},
        {.name = "csv", .kind = TRIB_CLI_STRING, .dst = &c->csv_path, .arg = "FILE",
         .help = "write results as CSV (header: '#' lines naming MPI, ranks, host, date, options)"},
        {.name = "json", .kind = TRIB_CLI_STRING, .dst = &c->json_path, .arg = "FILE",
         .help = "write results as JSON"},
        {.name = "tuning-file", .kind = TRIB_CLI_STRING, .dst = &c->tuning_file, .arg = "F",
         .help = "tuning file for auto (default: $TRIB_TUNING_FILE, else built-in rules)"},
        {.name = "fail-unsupported", .kind = TRIB_CLI_FLAG, .dst = &c->fail_unsupported,
         .help = "exit 1 when an algorithm returns TRIB_ERR_UNSUPPORTED (default: reported only)"},
        {.name = "inject-error", .kind = TRIB_CLI_FLAG, .dst = &c->inject_error,
         .help = "testing the checker: corrupt one result element on the last rank"},
        {.name = "quiet", .kind = TRIB_CLI_FLAG, .dst = &c->quiet, .help = "no table on standard output"},
        {0}};
    trib_cli_t cli = {.usage = allreduce_usage, .opts = opts, .epilogue = allreduce_epilogue};
    int rc = trib_cli_parse(&cli, argc, argv);
    if (!rc && (cli.help || cli.version) && trib_cli_reporting()) {
        if (cli.help)
            trib_cli_print_help(&cli);
        else
            printf("trib-bench %s\n", trib_version_string());
    }
    trib_cli_free(&cli);
    if (rc)
        return -1;
    if (cli.help || cli.version)
        return 1;
    return validate_config(c) ? -1 : 0;
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
    int prc = parse_allreduce_args(argc, argv, &c);
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
    trib_cli_prog = "trib-bench";
    trib_cli_report_rank0(MPI_COMM_WORLD);
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
