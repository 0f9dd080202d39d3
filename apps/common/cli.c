/* cli.c - the option table, number parsing, messages and progress lines of the trib-* programs (see cli.h). */
#include "common/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *trib_cli_prog = "tributary";
static int g_reporting = 1;

int trib_cli_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    uint64_t mul = 1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': mul = 1000ULL; end++; break;
    case 'M': case 'm': mul = 1000000ULL; end++; break;
    case 'G': case 'g': mul = 1000000000ULL; end++; break;
    case 'T': case 't': mul = 1000000000000ULL; end++; break;
    default: return -1;
    }
    if (*end || (v && (uint64_t)v > UINT64_MAX / mul))
        return -1;
    *out = (uint64_t)v * mul;
    return 0;
}

int trib_cli_parse_double(const char *s, double *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

void trib_cli_error(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int trib_cli_usage(const char *fmt, ...)
{
    if (g_reporting) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        trib_cli_error(trib_cli_prog, "%s", msg);
    }
    return TRIB_CLI_EXIT_USAGE;
}

void trib_cli_report_rank0(MPI_Comm comm)
{
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    g_reporting = rank == 0;
}

int trib_cli_reporting(void) { return g_reporting; }

/* ------------------------------------------------------------------ enums */

/* Each library pair seen through trib_cli_enum_t (the names are the library's, never spelled here). */
#define CLI_ENUM(var, type, count_, name_fn, parse_fn)                                                            \
    static const char *var##_name(int v) { return name_fn((type)v); }                                             \
    static int var##_parse(const char *s, void *dst)                                                              \
    {                                                                                                             \
        type v;                                                                                                   \
        if (parse_fn(s, &v) != TRIB_OK)                                                                           \
            return -1;                                                                                            \
        *(type *)dst = v;                                                                                         \
        return 0;                                                                                                 \
    }                                                                                                             \
    const trib_cli_enum_t var = {count_, var##_name, var##_parse};

CLI_ENUM(trib_cli_enum_algo, trib_algo_t, TRIB_ALGO_COUNT, trib_algo_name, trib_algo_parse)

/* off | on, into an int 0 | 1. */
static const char *onoff_name(int v) { return v == 0 ? "off" : v == 1 ? "on" : NULL; }
static int onoff_parse(const char *s, void *dst)
{
    if (strcmp(s, "off") != 0 && strcmp(s, "on") != 0)
        return -1;
    *(int *)dst = strcmp(s, "on") == 0;
    return 0;
}
const trib_cli_enum_t trib_cli_enum_onoff = {2, onoff_name, onoff_parse};
CLI_ENUM(trib_cli_enum_wire, trib_wire_t, TRIB_WIRE_FP16 + 1, trib_wire_name, trib_wire_parse)
CLI_ENUM(trib_cli_enum_train_mode, trib_train_mode_t, 2, trib_train_mode_name, trib_train_mode_parse)
CLI_ENUM(trib_cli_enum_sync_method, trib_sync_method_t, TRIB_SYNC_STRATA + 1, trib_sync_method_name,
         trib_sync_method_parse)
CLI_ENUM(trib_cli_enum_sync_rows, trib_sync_rows_t, TRIB_SYNC_ROWS_TOUCHED + 1, trib_sync_rows_name,
         trib_sync_rows_parse)
CLI_ENUM(trib_cli_enum_consistency, trib_ps_consistency_t, 3, trib_ps_consistency_name, trib_ps_consistency_parse)
CLI_ENUM(trib_cli_enum_ps_balance, trib_ps_balance_t, TRIB_PS_BALANCE_DYNAMIC + 1, trib_ps_balance_name,
         trib_ps_balance_parse)
CLI_ENUM(trib_cli_enum_schedule, trib_mf_schedule_t, 2, trib_mf_schedule_name, trib_mf_schedule_parse)
CLI_ENUM(trib_cli_enum_order, trib_mf_order_t, 2, trib_mf_order_name, trib_mf_order_parse)
CLI_ENUM(trib_cli_enum_bands, trib_train_bands_t, TRIB_TRAIN_BANDS_LARGER + 1, trib_train_bands_name,
         trib_train_bands_parse)
CLI_ENUM(trib_cli_enum_partition, trib_partition_t, 2, trib_partition_name, trib_partition_parse)
CLI_ENUM(trib_cli_enum_split_by, trib_split_by_t, 2, trib_split_by_name, trib_split_by_parse)
CLI_ENUM(trib_cli_enum_text_format, trib_text_format_t, 4, trib_text_format_name, trib_text_format_parse)

void trib_cli_enum_names(const trib_cli_enum_t *e, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < e->count && len < cap; i++) {
        const char *sep = i == 0 ? "" : i == e->count - 1 ? " or " : ", ";
        int n = snprintf(buf + len, cap - len, "%s%s", sep, e->name(i));
        len += n > 0 ? (size_t)n : 0;
    }
}

/* ------------------------------------------------------------------ option table */

/* A bound as people write it: 4096, 1000000, 0.5, 1e+18. */
static void fmt_num(char *buf, size_t cap, double v)
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, cap, "%.0f", v);
    else
        snprintf(buf, cap, "%g", v);
}

static int has_range(const trib_cli_opt_t *o) { return o->min != 0 || o->max != 0; }

static int out_of_range(const trib_cli_opt_t *o, const char *arg, double v, double tmin, double tmax)
{
    double lo = has_range(o) ? o->min : tmin, hi = has_range(o) ? o->max : tmax;
    if (v >= lo && v <= hi)
        return 0;
    char a[32], b[32];
    fmt_num(a, sizeof a, lo);
    fmt_num(b, sizeof b, hi);
    return trib_cli_usage("--%s: '%s' is out of range (%s .. %s)", o->name, arg, a, b);
}

/* A whole number, negative ones for TRIB_CLI_INT only. */
static int parse_whole(const trib_cli_opt_t *o, const char *arg, double tmin, double tmax, double *out)
{
    uint64_t u;
    int neg = o->kind == TRIB_CLI_INT && arg[0] == '-';
    if (trib_cli_parse_u64(neg ? arg + 1 : arg, &u))
        return trib_cli_usage("--%s: '%s' is not a whole number", o->name, arg);
    *out = neg ? -(double)u : (double)u;
    return out_of_range(o, arg, *out, tmin, tmax);
}

static int apply(const trib_cli_opt_t *o, const char *arg)
{
    double v;
    int rc = 0;
    char why[256];
    if (o->seen)
        *o->seen = 1;
    switch (o->kind) {
    case TRIB_CLI_FLAG: *(int *)o->dst = 1; break;
    case TRIB_CLI_CLEAR: *(int *)o->dst = 0; break;
    case TRIB_CLI_INT:
        if (!(rc = parse_whole(o, arg, INT_MIN, INT_MAX, &v)))
            *(int *)o->dst = (int)v;
        break;
    case TRIB_CLI_UINT:
        if (!(rc = parse_whole(o, arg, 0, UINT_MAX, &v)))
            *(unsigned *)o->dst = (unsigned)v;
        break;
    case TRIB_CLI_U32:
        if (!(rc = parse_whole(o, arg, 0, UINT32_MAX, &v)))
            *(uint32_t *)o->dst = (uint32_t)v;
        break;
    case TRIB_CLI_SIZE:
    case TRIB_CLI_U64: {
        uint64_t u;
        if (trib_cli_parse_u64(arg, &u))
            return trib_cli_usage("--%s: '%s' is not a whole number", o->name, arg);
        if (has_range(o) && (rc = out_of_range(o, arg, (double)u, 0, 0)))
            return rc;
        if (o->kind == TRIB_CLI_SIZE)
            *(size_t *)o->dst = (size_t)u;
        else
            *(uint64_t *)o->dst = u;
        break;
    }
    case TRIB_CLI_DOUBLE:
    case TRIB_CLI_FLOAT:
        if (trib_cli_parse_double(arg, &v))
            return trib_cli_usage("--%s: '%s' is not a number", o->name, arg);
        if ((rc = out_of_range(o, arg, v, -HUGE_VAL, HUGE_VAL)))
            return rc;
        if (o->kind == TRIB_CLI_FLOAT)
            *(float *)o->dst = (float)v;
        else
            *(double *)o->dst = v;
        break;
    case TRIB_CLI_STRING: *(const char **)o->dst = arg; break;
    case TRIB_CLI_ENUM:
        if (o->choices->parse(arg, o->dst)) {
            trib_cli_enum_names(o->choices, why, sizeof why);
            return trib_cli_usage("--%s: '%s' is not %s", o->name, arg, why);
        }
        break;
    case TRIB_CLI_CUSTOM:
        why[0] = '\0';
        if (o->parse(arg, o->dst, why, sizeof why))
            return trib_cli_usage("--%s: '%s' %s", o->name, arg, why[0] ? why : "is not valid");
        break;
    default: break;
    }
    return rc;
}

static int takes_value(trib_cli_kind_t k) { return k != TRIB_CLI_FLAG && k != TRIB_CLI_CLEAR; }

/* The destination's value as --help shows it ("" for none). */
static void fmt_default(const trib_cli_opt_t *o, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (o->no_default || !o->dst)
        return;
    switch (o->kind) {
    case TRIB_CLI_INT: snprintf(buf, cap, "%d", *(const int *)o->dst); break;
    case TRIB_CLI_UINT: snprintf(buf, cap, "%u", *(const unsigned *)o->dst); break;
    case TRIB_CLI_U32: snprintf(buf, cap, "%lu", (unsigned long)*(const uint32_t *)o->dst); break;
    case TRIB_CLI_SIZE: snprintf(buf, cap, "%zu", *(const size_t *)o->dst); break;
    case TRIB_CLI_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)o->dst); break;
    case TRIB_CLI_DOUBLE: snprintf(buf, cap, "%g", *(const double *)o->dst); break;
    case TRIB_CLI_FLOAT: snprintf(buf, cap, "%g", (double)*(const float *)o->dst); break;
    case TRIB_CLI_STRING:
        if (*(const char *const *)o->dst)
            snprintf(buf, cap, "%s", *(const char *const *)o->dst);
        break;
    case TRIB_CLI_ENUM: {
        int v = 0; /* enums are int-sized; read as the enum's bytes */
        memcpy(&v, o->dst, sizeof v);
        if (v >= 0 && v < o->choices->count)
            snprintf(buf, cap, "%s", o->choices->name(v));
        break;
    }
    default: break;
    }
}

static size_t table_size(const trib_cli_opt_t *opts)
{
    size_t n = 0;
    while (opts[n].kind != TRIB_CLI_END)
        n++;
    return n;
}

enum { OPT_BASE = 1000, OPT_HELP = 900, OPT_VERSION = 901 };

int trib_cli_parse(trib_cli_t *cli, int argc, char **argv)
{
    size_t n = table_size(cli->opts);
    struct option *lo = calloc(n + 3, sizeof *lo);
    char *shorts = calloc(2 * n + 3, 1);
    free(cli->defaults);
    cli->defaults = calloc(n + 1, sizeof *cli->defaults);
    if (!lo || !shorts || !cli->defaults) {
        free(lo);
        free(shorts);
        return trib_cli_usage("out of memory");
    }
    size_t nl = 0, ns = 0;
    shorts[ns++] = ':';
    for (size_t i = 0; i < n; i++) {
        const trib_cli_opt_t *o = &cli->opts[i];
        fmt_default(o, cli->defaults[i], sizeof cli->defaults[i]);
        if (o->kind == TRIB_CLI_SECTION)
            continue;
        lo[nl++] = (struct option){o->name, takes_value(o->kind) ? required_argument : no_argument, NULL,
                                   OPT_BASE + (int)i};
        if (o->short_name) {
            shorts[ns++] = o->short_name;
            if (takes_value(o->kind))
                shorts[ns++] = ':';
        }
    }
    shorts[ns++] = 'h'; /* -h: --help */
    lo[nl++] = (struct option){"help", no_argument, NULL, OPT_HELP};
    lo[nl++] = (struct option){"version", no_argument, NULL, OPT_VERSION};
    cli->help = cli->version = 0;
    opterr = 0;
    optind = 1;
    int rc = 0;
    for (int ch; !rc && (ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1;) {
        if (ch == OPT_HELP || ch == 'h') {
            cli->help = 1;
        } else if (ch == OPT_VERSION) {
            cli->version = 1;
        } else if (ch >= OPT_BASE) {
            rc = apply(&cli->opts[ch - OPT_BASE], optarg);
        } else if (ch == ':') {
            rc = trib_cli_usage("option %s needs a value (see --help)", argv[optind - 1]);
        } else {
            const trib_cli_opt_t *hit = NULL;
            for (size_t i = 0; i < n && ch != '?'; i++)
                if (cli->opts[i].short_name == ch)
                    hit = &cli->opts[i];
            if (hit)
                rc = apply(hit, optarg);
            else if (optopt > 0 && optopt < 256)
                rc = trib_cli_usage("unknown option '-%c' (see --help)", optopt);
            else
                rc = trib_cli_usage("unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    free(lo);
    free(shorts);
    cli->first_positional = optind;
    if (rc || cli->help || cli->version)
        return rc;
    if (argc - optind > cli->positional)
        return trib_cli_usage("unexpected argument '%s' (see --help)", argv[optind + cli->positional]);
    return 0;
}

void trib_cli_free(trib_cli_t *cli)
{
    free(cli->defaults);
    cli->defaults = NULL;
}

/* One entry: "  --name ARG" in a 23-column field, the help text, then range, choices and default. */
static void print_entry(const trib_cli_opt_t *o, const char *def)
{
    char left[96], extra[512] = "", tmp[256];
    if (o->short_name)
        snprintf(left, sizeof left, "  -%c, --%s%s%s", o->short_name, o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    else
        snprintf(left, sizeof left, "  --%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    size_t len = 0;
    if (o->kind == TRIB_CLI_ENUM) {
        trib_cli_enum_names(o->choices, tmp, sizeof tmp);
        len += (size_t)snprintf(extra + len, sizeof extra - len, "%s", tmp);
    } else if (has_range(o)) {
        char a[32], b[32];
        fmt_num(a, sizeof a, o->min);
        fmt_num(b, sizeof b, o->max);
        len += (size_t)snprintf(extra + len, sizeof extra - len, "%s .. %s", a, b);
    }
    if (def && *def && len < sizeof extra)
        snprintf(extra + len, sizeof extra - len, "%sdefault %s", len ? "; " : "", def);
    printf("%-22s ", left);
    for (const char *h = o->help ? o->help : ""; *h; h++) {
        putchar(*h);
        if (*h == '\n')
            printf("%23s", "");
    }
    printf(extra[0] ? " (%s)\n" : "\n", extra);
}

void trib_cli_print_help(const trib_cli_t *cli)
{
    if (cli->usage)
        fputs(cli->usage, stdout);
    for (size_t i = 0; cli->opts[i].kind != TRIB_CLI_END; i++) {
        if (cli->opts[i].kind == TRIB_CLI_SECTION)
            printf("%s\n", cli->opts[i].name);
        else
            print_entry(&cli->opts[i], cli->defaults ? cli->defaults[i] : NULL);
    }
    printf("  --help, --version\n");
    if (cli->epilogue)
        fputs(cli->epilogue, stdout);
}

/* ------------------------------------------------------------------ progress */

void trib_cli_progress_init(trib_cli_progress_t *p)
{
    p->enabled = isatty(STDERR_FILENO);
    p->last_decile = 0;
}

void trib_cli_progress(void *arg, const char *phase, double fraction)
{
    trib_cli_progress_t *p = arg;
    int d = (int)floor(fraction * 10.0 + 1e-9);
    if (!p->enabled || d <= p->last_decile || d > 10)
        return;
    p->last_decile = d;
    fprintf(stderr, "%s: %3d%% (%s)\n", trib_cli_prog, d * 10, phase);
}
