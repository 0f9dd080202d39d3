/*
 * bench_tune.c - `trib-bench tune`: measure, pick the fastest algorithm per
 * size, and write the tuning file that the library's auto reads
 * (TRIB_TUNING_FILE or trib_allreduce_opts_t.tuning_file).
 *
 * The tuning file format (version 1), one rule per line:
 *
 *   tributary-tuning 1
 *   # comment lines start with '#': how it was measured
 *   layout 2 2
 *   # ranks  max_bytes  algo  segment_bytes
 *   4  8192     rd    0
 *   4  1048576  tree  65536
 *   4  inf      ring  262144
 *
 * A rule applies to a communicator of `ranks` ranks and messages of at most
 * max_bytes bytes (and more than the previous rule's max_bytes).  Rules are
 * grouped by ranks, max_bytes ascending, the last of a group `inf`; segment 0
 * is the algorithm's default; algo is ring, tree, rd, mpi, shm or hier.  The
 * line `layout NODES RANKS_PER_NODE` before a group records the node layout
 * it was measured on (as the library sees it: trib_allreduce_layout; `mixed`
 * for nodes of different sizes); auto refuses a group on another layout.
 *
 * How thresholds are placed: sizes s_1 < s_2 < ... are measured; if the winner
 * changes between s_k and s_k+1, the rule of s_k ends at max_bytes = s_k.
 * The winner of a size is the lowest median time, except that the algorithm
 * of the rule being extended is kept while it is within 5% of the winner (so
 * noise does not split a range).  Adjacent sizes with the same winner
 * (algorithm and segment) merge into one rule.  With --append the rules for other rank counts already in the output
 * file are kept (this command replaces only its own rank count's group).
 * --verify FILE checks instead that the library's selector (what auto runs)
 * follows FILE's rules for this communicator size, at both ends of every rule.
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    int ranks;
    size_t max_bytes; /* SIZE_MAX = inf */
    trib_algo_t algo;
    size_t segment;
    int nodes, ranks_per_node; /* the group's layout line; nodes 0: none; ranks_per_node 0: mixed */
} tune_rule_t;

typedef struct {
    tune_rule_t *rules;
    size_t n, cap;
} tune_rules_t;

static int rules_push(tune_rules_t *t, const tune_rule_t *r)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        tune_rule_t *nr = realloc(t->rules, cap * sizeof *nr);
        if (!nr)
            return -1;
        t->rules = nr;
        t->cap = cap;
    }
    t->rules[t->n++] = *r;
    return 0;
}

/* Reads a tuning file (the rules only; comments are dropped).  Errors name file and line. */
static int read_tuning_file(const char *path, tune_rules_t *out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "trib-bench: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[512];
    int lineno = 0, seen_header = 0, rc = 0, lay_nodes = 0, lay_rpn = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = line + strspn(line, " \t");
        if (*s == '#' || *s == '\n' || *s == '\0')
            continue;
        if (!seen_header) {
            int version;
            if (sscanf(s, "tributary-tuning %d", &version) != 1 || version != 1) {
                fprintf(stderr, "trib-bench: %s:%d: expected 'tributary-tuning 1'\n", path, lineno);
                rc = -1;
            }
            seen_header = 1;
            continue;
        }
        char maxb[64], algo[64], extra[8];
        if (strncmp(s, "layout", 6) == 0) { /* checked in full by the library's parser */
            char rpn[32];
            if (sscanf(s, "layout %d %31s %7s", &lay_nodes, rpn, extra) != 2 || lay_nodes < 1) {
                fprintf(stderr, "trib-bench: %s:%d: expected 'layout NODES RANKS_PER_NODE'\n", path, lineno);
                rc = -1;
                break;
            }
            lay_rpn = strcmp(rpn, "mixed") == 0 ? 0 : atoi(rpn);
            continue;
        }
        tune_rule_t r;
        r.nodes = lay_nodes;
        r.ranks_per_node = lay_rpn;
        unsigned long long seg;
        if (sscanf(s, "%d %63s %63s %llu %7s", &r.ranks, maxb, algo, &seg, extra) != 4 || r.ranks < 1) {
            fprintf(stderr, "trib-bench: %s:%d: expected 'ranks max_bytes algo segment_bytes'\n", path, lineno);
            rc = -1;
            break;
        }
        r.segment = (size_t)seg;
        if (strcasecmp(maxb, "inf") == 0)
            r.max_bytes = SIZE_MAX;
        else if (bench_parse_bytes(maxb, &r.max_bytes) != 0) {
            fprintf(stderr, "trib-bench: %s:%d: bad max_bytes '%s'\n", path, lineno, maxb);
            rc = -1;
            break;
        }
        if (trib_algo_parse(algo, &r.algo) != TRIB_OK || r.algo == TRIB_ALGO_AUTO) {
            fprintf(stderr, "trib-bench: %s:%d: bad algorithm '%s'\n", path, lineno, algo);
            rc = -1;
            break;
        }
        if (rules_push(out, &r) != 0) {
            fprintf(stderr, "trib-bench: out of memory\n");
            rc = -1;
        }
    }
    if (rc == 0 && !seen_header) {
        fprintf(stderr, "trib-bench: %s: empty tuning file\n", path);
        rc = -1;
    }
    fclose(f);
    return rc;
}

/* Within this fraction of the fastest median, the algorithm of the rule being
 * extended is kept: measurement noise should not split a range into rules. */
#define TUNE_TIE 0.05

static int usable(const bench_point_t *p) { return p->status == BENCH_POINT_OK && p->errors == 0; }

/* The winner among points [i, j) (one size), preferring `cur` when it is within TUNE_TIE of the best. */
static const bench_point_t *size_winner(const bench_results_t *res, size_t i, size_t j, const tune_rule_t *cur,
                                        int have)
{
    const bench_point_t *best = NULL, *same = NULL;
    for (size_t k = i; k < j; k++) {
        const bench_point_t *p = &res->points[k];
        if (!usable(p))
            continue;
        if (!best || p->t_median < best->t_median)
            best = p;
        if (have && p->algo.algo == cur->algo && p->algo.segment_bytes == cur->segment)
            same = p;
    }
    if (best && same && same->t_median <= best->t_median * (1.0 + TUNE_TIE))
        return same;
    return best;
}

/* Rules for one rank count from the winners of a finished sweep (rank 0). */
static int rules_from_results(const bench_results_t *res, int ranks, const bench_meta_t *m, tune_rules_t *out)
{
    size_t i = 0;
    tune_rule_t cur = {0, 0, TRIB_ALGO_MPI, 0, m->nodes, m->ranks_per_node};
    int have = 0;
    while (i < res->npoints) {
        size_t bytes = res->points[i].bytes, j = i;
        while (j < res->npoints && res->points[j].bytes == bytes)
            j++;
        const bench_point_t *win = size_winner(res, i, j, &cur, have);
        i = j;
        if (!win)
            continue; /* nothing worked at this size: the neighbours' rules cover it */
        if (have && cur.algo == win->algo.algo && cur.segment == win->algo.segment_bytes) {
            cur.max_bytes = bytes;
            continue;
        }
        if (have && rules_push(out, &cur) != 0)
            return -1;
        cur.ranks = ranks;
        cur.max_bytes = bytes;
        cur.algo = win->algo.algo;
        cur.segment = win->algo.segment_bytes;
        have = 1;
    }
    if (!have)
        return -1;
    cur.max_bytes = SIZE_MAX;
    return rules_push(out, &cur);
}

static int cmp_rule(const void *a, const void *b)
{
    const tune_rule_t *x = a, *y = b;
    if (x->ranks != y->ranks)
        return x->ranks < y->ranks ? -1 : 1;
    return (x->max_bytes > y->max_bytes) - (x->max_bytes < y->max_bytes);
}

typedef struct {
    bench_config_t sweep;
    const char *output;
    const char *verify;
    const char *network;
    const char *csv;
    int append;
    size_t segments[8];
    int nsegments;
} tune_config_t;

static const char tune_usage[] =
    "Usage: mpirun -np P trib-bench tune [options]\n"
    "Measures every algorithm over a range of sizes and writes the tuning file that auto reads\n"
    "(TRIB_TUNING_FILE).  Format: 'tributary-tuning 1', then lines 'ranks max_bytes algo segment_bytes'.\n"
    "\n";

/* --segments LIST: up to 8 sizes (dst: tune_config_t). */
static int parse_segments(const char *s, void *dst, char *why, size_t cap)
{
    tune_config_t *t = dst;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    t->nsegments = 0;
    for (char *sv = NULL, *tok = strtok_r(buf, ",", &sv); tok; tok = strtok_r(NULL, ",", &sv)) {
        if (t->nsegments == 8 || bench_parse_bytes(tok, &t->segments[t->nsegments]) != 0)
            return snprintf(why, cap, "is not a list of at most 8 sizes (e.g. 0,64K,256K)"), -1;
        t->nsegments++;
    }
    return 0;
}

/* Returns 0, 1 for --help (printed), -1 on error (printed by rank 0). */
static int parse_tune_args(int argc, char **argv, tune_config_t *t)
{
    bench_config_t *c = &t->sweep;
    const trib_cli_opt_t opts[] = {
        {.name = "output", .short_name = 'o', .kind = TRIB_CLI_STRING, .dst = &t->output, .arg = "FILE",
         .help = "tuning file to write (default tuning-<P>.txt)"},
        {.name = "append", .kind = TRIB_CLI_FLAG, .dst = &t->append,
         .help = "keep the rules for other rank counts already in FILE"},
        {.name = "algo", .kind = TRIB_CLI_CUSTOM, .dst = c, .parse = bench_cli_algos, .arg = "LIST",
         .help = "candidates (default ring,tree,rd,shm,hier,mpi; unsupported ones are skipped)"},
        {.name = "segments", .kind = TRIB_CLI_CUSTOM, .dst = t, .parse = parse_segments, .arg = "LIST",
         .help = "segment sizes to try for ring and tree, e.g. 0,64K,256K (default 0 = default)"},
        BENCH_SWEEP_OPTS(*c),
        {.name = "network", .kind = TRIB_CLI_STRING, .dst = &t->network, .arg = "TEXT",
         .help = "free-text description of the network for the comments"},
        {.name = "csv", .kind = TRIB_CLI_STRING, .dst = &t->csv, .arg = "FILE", .help = "also write the sweep's CSV"},
        {.name = "verify", .kind = TRIB_CLI_STRING, .dst = &t->verify, .arg = "FILE",
         .help = "do not measure: check that the library's selector (auto) follows FILE's\n"
                 "rules for this rank count; exit 1 on the first disagreement"},
        {0}};
    trib_cli_t cli = {.usage = tune_usage, .opts = opts};
    int rc = trib_cli_parse(&cli, argc, argv);
    if (!rc && cli.help && trib_cli_reporting())
        trib_cli_print_help(&cli);
    trib_cli_free(&cli);
    if (rc)
        return -1;
    if (cli.help || cli.version)
        return 1;
    if (bench_check_sizes(c))
        return -1;
    return 0;
}

/* Expands the candidates: ring and tree once per segment size. */
static int expand_candidates(tune_config_t *t, int rank)
{
    bench_config_t *c = &t->sweep;
    bench_algo_t out[BENCH_MAX_ALGOS];
    int n = 0;
    for (int i = 0; i < c->nalgos; i++) {
        if (c->algos[i].algo == TRIB_ALGO_AUTO)
            continue; /* auto is what is being tuned */
        int segmented = c->algos[i].algo == TRIB_ALGO_RING || c->algos[i].algo == TRIB_ALGO_TREE;
        int nseg = segmented && t->nsegments > 0 && c->algos[i].segment_bytes == 0 ? t->nsegments : 1;
        for (int k = 0; k < nseg; k++) {
            if (n == BENCH_MAX_ALGOS) {
                if (rank == 0)
                    fprintf(stderr, "trib-bench tune: too many candidates\n");
                return -1;
            }
            out[n] = c->algos[i];
            if (nseg > 1 || (segmented && t->nsegments == 1))
                out[n].segment_bytes = t->segments[k];
            n++;
        }
    }
    memcpy(c->algos, out, sizeof out);
    c->nalgos = n;
    return n > 0 ? 0 : -1;
}

/* The file's text: header, how it was measured, kept rules of other rank counts, new rules. */
static void format_tuning_file(bench_str_t *b, const tune_config_t *t, const bench_meta_t *m, tune_rules_t *rules)
{
    char opts[1024];
    bench_options_string(&t->sweep, opts, sizeof opts);
    qsort(rules->rules, rules->n, sizeof *rules->rules, cmp_rule);
    bench_str_printf(b, "tributary-tuning 1\n");
    bench_str_printf(b, "# measured by: %s\n", m->command);
    bench_str_printf(b, "# sweep: %s\n", opts);
    bench_str_printf(b, "# date: %s  host: %s  mpi: %s  ranks: %d  load average: %s\n", m->date, m->host,
                     m->mpi_library, m->ranks, m->load);
    if (t->sweep.link_rate > 0)
        bench_str_printf(b, "# network: links of %.4g Gbit/s, %.4g us one-way delay%s%s\n", t->sweep.link_rate / 1e9,
                         t->sweep.link_delay * 1e6, t->network ? "; " : "", t->network ? t->network : "");
    else
        bench_str_printf(b, "# network: %s\n", t->network ? t->network : "not given (shared memory?)");
    bench_str_printf(b, "# winner per size = lowest median time (slowest rank per iteration; within 5%% the previous winner stays); adjacent sizes with the same winner merged\n");
    bench_str_printf(b, "# layout NODES RANKS_PER_NODE: where the group below was measured (auto refuses it on "
                        "another layout)\n");
    bench_str_printf(b, "# ranks  max_bytes  algo  segment_bytes\n");
    for (size_t i = 0; i < rules->n; i++) {
        const tune_rule_t *r = &rules->rules[i];
        if (r->nodes > 0 && (i == 0 || rules->rules[i - 1].ranks != r->ranks)) {
            if (r->ranks_per_node > 0)
                bench_str_printf(b, "layout %d %d\n", r->nodes, r->ranks_per_node);
            else
                bench_str_printf(b, "layout %d mixed\n", r->nodes);
        }
        char maxb[32];
        if (r->max_bytes == SIZE_MAX)
            snprintf(maxb, sizeof maxb, "inf");
        else
            snprintf(maxb, sizeof maxb, "%zu", r->max_bytes);
        bench_str_printf(b, "%d  %-10s %-5s %zu\n", r->ranks, maxb, trib_algo_name(r->algo), r->segment);
    }
}

/* Checks, for this communicator size, that the selector picks each rule's algorithm at both ends. */
static int verify_rules(const tune_config_t *t, MPI_Comm comm, int rank, int size)
{
    tune_rules_t rules = {0};
    int rc = read_tuning_file(t->verify, &rules) == 0 ? 0 : 1;
    size_t lo = 1, checked = 0;
    bench_type_t type = t->sweep.type;
    size_t tsize = bench_type_size(type);
    trib_allreduce_opts_t o;
    trib_allreduce_opts_init(&o);
    o.tuning_file = t->verify;
    for (size_t i = 0; rc == 0 && i < rules.n; i++) {
        const tune_rule_t *r = &rules.rules[i];
        if (r->ranks != size)
            continue;
        size_t hi = r->max_bytes == SIZE_MAX ? (lo < (64u << 20) ? 64u << 20 : lo * 2) : r->max_bytes;
        size_t probes[2] = {lo, hi};
        for (int k = 0; k < 2 && rc == 0; k++) {
            size_t count = (probes[k] + tsize - 1) / tsize;
            if (count * tsize > hi) /* a probe must lie inside the rule */
                continue;
            trib_algo_t algo;
            size_t seg = 0;
            int src = trib_allreduce_select(count, bench_type_mpi(type), MPI_SUM, comm, &o, &algo, &seg);
            checked++;
            if (src != TRIB_OK) {
                if (rank == 0)
                    fprintf(stderr, "trib-bench tune: trib_allreduce_select: %s\n", trib_last_error(src));
                rc = 1;
            } else if (algo != r->algo || (r->segment != 0 && seg != r->segment)) {
                if (rank == 0)
                    fprintf(stderr,
                            "trib-bench tune: %s: %d ranks, %zu bytes: auto chose %s (segment %zu), the file says "
                            "%s (segment %zu)\n",
                            t->verify, size, count * tsize, trib_algo_name(algo), seg, trib_algo_name(r->algo),
                            r->segment);
                rc = 1;
            } else if (rank == 0) {
                printf("%d ranks %10zu bytes: auto -> %-4s segment %zu  (rule max_bytes %s%zu)\n", size,
                       count * tsize, trib_algo_name(algo), seg, r->max_bytes == SIZE_MAX ? "inf " : "",
                       r->max_bytes == SIZE_MAX ? (size_t)0 : r->max_bytes);
            }
        }
        lo = r->max_bytes == SIZE_MAX ? lo : r->max_bytes + 1;
    }
    if (rc == 0 && checked == 0) {
        if (rank == 0)
            fprintf(stderr, "trib-bench tune: %s has no rules for %d ranks\n", t->verify, size);
        rc = 1;
    }
    if (rc == 0 && rank == 0)
        printf("%s: auto follows all %zu probes for %d ranks\n", t->verify, checked, size);
    free(rules.rules);
    MPI_Allreduce(MPI_IN_PLACE, &rc, 1, MPI_INT, MPI_MAX, comm);
    return rc;
}

int bench_tune_main(int argc, char **argv, MPI_Comm comm)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    tune_config_t t;
    memset(&t, 0, sizeof t);
    bench_config_defaults(&t.sweep);
    char err[128];
    t.sweep.nalgos = bench_parse_algo_list("ring,tree,rd,shm,hier,mpi", t.sweep.algos, BENCH_MAX_ALGOS, err, sizeof err);
    t.sweep.quiet = 1;
    trib_cli_prog = "trib-bench tune";
    int prc = parse_tune_args(argc, argv, &t);
    if (prc != 0)
        return prc > 0 ? 0 : 1;
    if (t.verify)
        return verify_rules(&t, comm, rank, size);
    if (expand_candidates(&t, rank) != 0)
        return 1;
    char defname[64];
    if (!t.output) {
        snprintf(defname, sizeof defname, "tuning-%d.txt", size);
        t.output = defname;
    }
    bench_meta_t meta;
    bench_meta_collect(&meta, comm);
    bench_results_t res = {0};
    int status = bench_sweep(&t.sweep, comm, &res) == 0 ? 0 : 1;
    if (rank == 0 && status == 0) {
        tune_rules_t rules = {0};
        bench_print_table(stdout, &t.sweep, &meta, &res);
        if (t.append) {
            tune_rules_t old = {0};
            FILE *probe = fopen(t.output, "r");
            if (probe) {
                fclose(probe);
                if (read_tuning_file(t.output, &old) != 0)
                    status = 1;
                for (size_t i = 0; status == 0 && i < old.n; i++)
                    if (old.rules[i].ranks != size && rules_push(&rules, &old.rules[i]) != 0)
                        status = 1;
            }
            free(old.rules);
        }
        if (status == 0 && rules_from_results(&res, size, &meta, &rules) != 0) {
            fprintf(stderr, "trib-bench tune: no algorithm worked at any size\n");
            status = 1;
        }
        if (status == 0) {
            bench_str_t b = {0};
            format_tuning_file(&b, &t, &meta, &rules);
            status = b.failed || bench_write_file_atomic(t.output, b.s, b.len) != 0;
            if (status == 0) {
                fputs(b.s, stdout);
                fprintf(stderr, "trib-bench tune: wrote %s\n", t.output);
            }
            bench_str_free(&b);
        }
        if (t.csv && bench_write_csv(t.csv, &t.sweep, &meta, &res) != 0)
            status = 1;
        free(rules.rules);
    }
    bench_results_free(&res);
    MPI_Bcast(&status, 1, MPI_INT, 0, comm);
    return status;
}
