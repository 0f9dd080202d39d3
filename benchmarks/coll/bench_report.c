/*
 * bench_report.c - trib-bench's output: the human table, CSV and JSON.
 *
 * All three are produced on rank 0 from the same bench_results_t.  The CSV
 * and JSON carry a header naming the MPI library and version, the rank
 * count, host, date, the command line and every option as resolved, so a
 * file alone says how it was measured.  CSV columns (fixed order):
 *   ranks,bytes,count,type,op,algo,iters,time_us_min,time_us_avg,time_us_max,
 *   time_us_median,time_us_p90,algbw_gbs,busbw_gbs,bound_ratio,errors
 * Points whose algorithm is unsupported (or failed) have no times and are
 * listed in '#' comment lines instead of rows; the JSON keeps them with a status.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tributary/io.h"

void bench_str_printf(bench_str_t *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

void bench_str_free(bench_str_t *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

int bench_write_file_atomic(const char *path, const char *text, size_t len)
{
    int rc = trib_file_write_atomic(path, text, len);
    if (rc != TRIB_OK) {
        fprintf(stderr, "trib-bench: cannot write %s: %s\n", path, trib_last_error(rc));
        return -1;
    }
    return 0;
}

static char command_line[4096];

void bench_set_command(int argc, char **argv)
{
    size_t off = 0;
    command_line[0] = '\0';
    for (int i = 0; i < argc && off + 1 < sizeof command_line; i++) {
        const char *base = i == 0 && strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[i];
        off += (size_t)snprintf(command_line + off, sizeof command_line - off, "%s%s", i ? " " : "", base);
    }
}

void bench_meta_collect(bench_meta_t *m, MPI_Comm comm)
{
    m->command = command_line;
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(lib, &len);
    lib[strcspn(lib, "\n")] = '\0';
    char *comma = strstr(lib, ", package"); /* "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4" */
    if (comma)
        *comma = '\0';
    snprintf(m->mpi_library, sizeof m->mpi_library, "%s", lib);
    if (gethostname(m->host, sizeof m->host) != 0)
        snprintf(m->host, sizeof m->host, "unknown");
    m->host[sizeof m->host - 1] = '\0';
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(m->date, sizeof m->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    MPI_Comm_size(comm, &m->ranks);
    if (trib_allreduce_layout(comm, &m->nodes, &m->ranks_per_node) != TRIB_OK) {
        m->nodes = 0;
        m->ranks_per_node = 0;
    }
    snprintf(m->load, sizeof m->load, "unknown");
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        double a, b, c;
        if (fscanf(la, "%lf %lf %lf", &a, &b, &c) == 3)
            snprintf(m->load, sizeof m->load, "%.2f %.2f %.2f", a, b, c);
        fclose(la);
    }
}

void bench_options_string(const bench_config_t *c, char *buf, size_t len)
{
    char algos[512] = "", mn[32], mx[32];
    size_t off = 0;
    for (int i = 0; i < c->nalgos && off < sizeof algos; i++) {
        char label[64];
        bench_algo_label(&c->algos[i], label, sizeof label);
        off += (size_t)snprintf(algos + off, sizeof algos - off, "%s%s", i ? "," : "", label);
    }
    bench_format_bytes(c->min_bytes, mn, sizeof mn);
    bench_format_bytes(c->max_bytes, mx, sizeof mx);
    char iters[32], warm[32];
    snprintf(iters, sizeof iters, c->iters > 0 ? "%d" : "auto", c->iters);
    snprintf(warm, sizeof warm, c->warmup >= 0 ? "%d" : "auto", c->warmup);
    char link[96] = "";
    if (c->link_rate > 0) {
        double r = c->link_rate;
        const char *unit = r >= 1e9 ? "gbit" : r >= 1e6 ? "mbit" : r >= 1e3 ? "kbit" : "bit";
        double div = r >= 1e9 ? 1e9 : r >= 1e6 ? 1e6 : r >= 1e3 ? 1e3 : 1;
        snprintf(link, sizeof link, " --link-rate %.6g%s --link-delay %.6gus", r / div, unit, c->link_delay * 1e6);
    }
    snprintf(buf, len, "--algo %s --min-bytes %s --max-bytes %s --factor %zu --type %s --op %s --iters %s "
                       "--warmup %s%s%s%s%s%s%s",
             algos, mn, mx, c->factor, bench_type_name(c->type), bench_op_name(c->op), iters, warm,
             c->check ? " --check" : "", c->in_place ? " --in-place" : "", c->interleave ? " --interleave" : "", link,
             c->tuning_file ? " --tuning-file " : "", c->tuning_file ? c->tuning_file : "");
}

/* Median time of the mpi baseline (default segment) at the size of point i, 0 if not measured. */
static double mpi_time_at(const bench_results_t *r, size_t i)
{
    for (size_t j = 0; j < r->npoints; j++) {
        const bench_point_t *p = &r->points[j];
        if (p->bytes == r->points[i].bytes && p->algo.algo == TRIB_ALGO_MPI && p->algo.segment_bytes == 0 &&
            p->status == BENCH_POINT_OK)
            return p->t_median;
    }
    return 0.0;
}

/* "2 nodes x 4 ranks" / "3 nodes, uneven" / "one node" into buf. */
static const char *layout_string(const bench_meta_t *m, char *buf, size_t cap)
{
    if (m->nodes <= 0)
        snprintf(buf, cap, "layout unknown");
    else if (m->nodes == 1)
        snprintf(buf, cap, "one node");
    else if (m->ranks_per_node > 0)
        snprintf(buf, cap, "%d nodes x %d rank%s", m->nodes, m->ranks_per_node, m->ranks_per_node == 1 ? "" : "s");
    else
        snprintf(buf, cap, "%d nodes, uneven", m->nodes);
    return buf;
}

void bench_print_table(FILE *f, const bench_config_t *c, const bench_meta_t *m, const bench_results_t *r)
{
    int link = c->link_rate > 0;
    char lay[64];
    fprintf(f, "# trib-bench allreduce: %d ranks (%s), %s %s%s, %s, %s, %s, load average %s\n", m->ranks,
            layout_string(m, lay, sizeof lay),
            bench_type_name(c->type), bench_op_name(c->op), c->in_place ? ", in place" : "", m->mpi_library, m->host,
            m->date, m->load);
    if (link)
        fprintf(f, "# link %.4g Gbit/s, %.4g us one-way: bound = max(2(p-1)/p n/rate, ceil(log2 p) delay)\n",
                c->link_rate / 1e9, c->link_delay * 1e6);
    fprintf(f, "# times in us: avg/min/max over ranks of each rank's mean; median/p90 over iterations of the "
               "slowest rank; '*' = fastest (lowest median); x_mpi = mpi median / this median\n");
    fprintf(f, "%10s %-12s %6s %10s %10s %10s %10s %10s %9s %9s %6s%s %6s\n", "bytes", "algo", "iters", "avg_us",
            "min_us", "max_us", "median_us", "p90_us", "algbw", "busbw", "x_mpi", link ? "  bound" : "", "errors");
    for (size_t i = 0; i < r->npoints; i++) {
        const bench_point_t *p = &r->points[i];
        char label[64], bytes[32];
        bench_algo_label(&p->algo, label, sizeof label);
        if (p->fastest)
            strncat(label, " *", sizeof label - strlen(label) - 1);
        bench_format_bytes(p->bytes, bytes, sizeof bytes);
        if (p->status != BENCH_POINT_OK) {
            fprintf(f, "%10s %-12s %s\n", bytes, label,
                    p->status == BENCH_POINT_UNSUPPORTED ? "unsupported" : trib_err_name(p->rc));
            continue;
        }
        double tm = mpi_time_at(r, i);
        char xmpi[16] = "-", bound[16] = "";
        if (tm > 0 && p->t_median > 0)
            snprintf(xmpi, sizeof xmpi, "%.2f", tm / p->t_median);
        if (link)
            snprintf(bound, sizeof bound, " %6.2f", p->bound_ratio);
        fprintf(f, "%10s %-12s %6d %10.2f %10.2f %10.2f %10.2f %10.2f %9.3f %9.3f %6s%s %6llu\n", bytes, label,
                p->iters, p->t_avg * 1e6, p->t_min * 1e6, p->t_max * 1e6, p->t_median * 1e6, p->t_p90 * 1e6,
                p->algbw, p->busbw, xmpi, bound, p->errors);
    }
    fflush(f);
}

static void header_comments(bench_str_t *b, const bench_config_t *c, const bench_meta_t *m, const char *lead)
{
    char opts[1024];
    bench_options_string(c, opts, sizeof opts);
    bench_str_printf(b, "%s trib-bench allreduce\n", lead);
    bench_str_printf(b, "%s mpi_library: %s\n", lead, m->mpi_library);
    char lay[64];
    bench_str_printf(b, "%s ranks: %d\n", lead, m->ranks);
    bench_str_printf(b, "%s layout: %s\n", lead, layout_string(m, lay, sizeof lay));
    bench_str_printf(b, "%s host: %s\n", lead, m->host);
    bench_str_printf(b, "%s date: %s\n", lead, m->date);
    bench_str_printf(b, "%s load_average: %s\n", lead, m->load);
    bench_str_printf(b, "%s command: %s\n", lead, m->command);
    bench_str_printf(b, "%s options: %s\n", lead, opts);
}

int bench_write_csv(const char *path, const bench_config_t *c, const bench_meta_t *m, const bench_results_t *r)
{
    bench_str_t b = {0};
    header_comments(&b, c, m, "#");
    for (size_t i = 0; i < r->npoints; i++) {
        const bench_point_t *p = &r->points[i];
        if (p->status != BENCH_POINT_OK) {
            char label[64];
            bench_algo_label(&p->algo, label, sizeof label);
            bench_str_printf(&b, "# %s: %s at %zu bytes\n", p->status == BENCH_POINT_UNSUPPORTED ? "unsupported" : "failed",
                             label, p->bytes);
        }
    }
    bench_str_printf(&b, "ranks,bytes,count,type,op,algo,iters,time_us_min,time_us_avg,time_us_max,time_us_median,"
                         "time_us_p90,algbw_gbs,busbw_gbs,bound_ratio,errors\n");
    for (size_t i = 0; i < r->npoints; i++) {
        const bench_point_t *p = &r->points[i];
        if (p->status != BENCH_POINT_OK)
            continue;
        char label[64], ratio[32] = "";
        bench_algo_label(&p->algo, label, sizeof label);
        if (p->bound_ratio > 0)
            snprintf(ratio, sizeof ratio, "%.4f", p->bound_ratio);
        bench_str_printf(&b, "%d,%zu,%zu,%s,%s,%s,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.6f,%.6f,%s,%llu\n", m->ranks, p->bytes,
                         p->count, bench_type_name(c->type), bench_op_name(c->op), label, p->iters, p->t_min * 1e6,
                         p->t_avg * 1e6, p->t_max * 1e6, p->t_median * 1e6, p->t_p90 * 1e6, p->algbw, p->busbw, ratio,
                         p->errors);
    }
    int rc = b.failed ? -1 : bench_write_file_atomic(path, b.s, b.len);
    if (b.failed)
        fprintf(stderr, "trib-bench: out of memory writing %s\n", path);
    bench_str_free(&b);
    return rc;
}

/* Writes s as a JSON string (the few characters that need escaping). */
static void json_string(bench_str_t *b, const char *s)
{
    bench_str_printf(b, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            bench_str_printf(b, "\\%c", ch);
        else if (ch < 0x20)
            bench_str_printf(b, "\\u%04x", ch);
        else
            bench_str_printf(b, "%c", ch);
    }
    bench_str_printf(b, "\"");
}

static void json_options(bench_str_t *b, const bench_config_t *c)
{
    bench_str_printf(b, "  \"options\": {\"algo\": [");
    for (int i = 0; i < c->nalgos; i++) {
        char label[64];
        bench_algo_label(&c->algos[i], label, sizeof label);
        bench_str_printf(b, "%s\"%s\"", i ? ", " : "", label);
    }
    bench_str_printf(b, "], \"min_bytes\": %zu, \"max_bytes\": %zu, \"factor\": %zu, \"type\": \"%s\", \"op\": \"%s\", ",
                     c->min_bytes, c->max_bytes, c->factor, bench_type_name(c->type), bench_op_name(c->op));
    if (c->iters > 0)
        bench_str_printf(b, "\"iters\": %d, ", c->iters);
    else
        bench_str_printf(b, "\"iters\": \"auto\", ");
    if (c->warmup >= 0)
        bench_str_printf(b, "\"warmup\": %d, ", c->warmup);
    else
        bench_str_printf(b, "\"warmup\": \"auto\", ");
    bench_str_printf(b, "\"check\": %s, \"in_place\": %s, \"interleave\": %s, ", c->check ? "true" : "false",
                     c->in_place ? "true" : "false", c->interleave ? "true" : "false");
    if (c->link_rate > 0)
        bench_str_printf(b, "\"link_rate_bps\": %.6g, \"link_delay_s\": %.6g", c->link_rate, c->link_delay);
    else
        bench_str_printf(b, "\"link_rate_bps\": null, \"link_delay_s\": null");
    if (c->tuning_file) {
        bench_str_printf(b, ", \"tuning_file\": ");
        json_string(b, c->tuning_file);
    }
    bench_str_printf(b, "},\n");
}

int bench_write_json(const char *path, const bench_config_t *c, const bench_meta_t *m, const bench_results_t *r)
{
    bench_str_t b = {0};
    bench_str_printf(&b, "{\n  \"tool\": \"trib-bench allreduce\",\n  \"mpi_library\": ");
    json_string(&b, m->mpi_library);
    bench_str_printf(&b, ",\n  \"ranks\": %d,\n  \"nodes\": %d,\n  \"ranks_per_node\": %d,\n  \"host\": ", m->ranks,
                     m->nodes, m->ranks_per_node);
    json_string(&b, m->host);
    bench_str_printf(&b, ",\n  \"date\": \"%s\",\n  \"load_average\": \"%s\",\n  \"command\": ", m->date, m->load);
    json_string(&b, m->command);
    bench_str_printf(&b, ",\n");
    json_options(&b, c);
    bench_str_printf(&b, "  \"results\": [\n");
    for (size_t i = 0; i < r->npoints; i++) {
        const bench_point_t *p = &r->points[i];
        char label[64];
        bench_algo_label(&p->algo, label, sizeof label);
        bench_str_printf(&b, "    {\"ranks\": %d, \"bytes\": %zu, \"count\": %zu, \"type\": \"%s\", \"op\": \"%s\", "
                             "\"algo\": \"%s\", ",
                         m->ranks, p->bytes, p->count, bench_type_name(c->type), bench_op_name(c->op), label);
        if (p->status != BENCH_POINT_OK) {
            bench_str_printf(&b, "\"status\": \"%s\"}", p->status == BENCH_POINT_UNSUPPORTED ? "unsupported" : "failed");
        } else {
            bench_str_printf(&b, "\"status\": \"ok\", \"iters\": %d, \"time_us_min\": %.3f, \"time_us_avg\": %.3f, "
                                 "\"time_us_max\": %.3f, \"time_us_median\": %.3f, \"time_us_p90\": %.3f, "
                                 "\"algbw_gbs\": %.6f, \"busbw_gbs\": %.6f, ",
                             p->iters, p->t_min * 1e6, p->t_avg * 1e6, p->t_max * 1e6, p->t_median * 1e6,
                             p->t_p90 * 1e6, p->algbw, p->busbw);
            if (p->bound_ratio > 0)
                bench_str_printf(&b, "\"bound_ratio\": %.4f, ", p->bound_ratio);
            else
                bench_str_printf(&b, "\"bound_ratio\": null, ");
            bench_str_printf(&b, "\"errors\": %llu, \"fastest\": %s}", p->errors, p->fastest ? "true" : "false");
        }
        bench_str_printf(&b, "%s\n", i + 1 < r->npoints ? "," : "");
    }
    bench_str_printf(&b, "  ]\n}\n");
    int rc = b.failed ? -1 : bench_write_file_atomic(path, b.s, b.len);
    if (b.failed)
        fprintf(stderr, "trib-bench: out of memory writing %s\n", path);
    bench_str_free(&b);
    return rc;
}
