/*
 * bench_opts.c - parsing of trib-bench's option values.
 *
 * Sizes use binary suffixes (K = 1024, as message sizes are usually quoted);
 * link rates use decimal ones (1G = 1e9 bit/s, as tc and NICs quote them);
 * delays take a unit (us, ms, s).  Every parser rejects trailing garbage, so a
 * typo is an error and never a silently different run.
 */
#include "bench.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const type_names[BENCH_TYPE_COUNT] = {"float", "double", "int32", "int64", "uint8"};
static const char *const op_names[BENCH_OP_COUNT] = {"sum", "prod", "min", "max", "avg", "bor", "user"};

const char *bench_type_name(bench_type_t t) { return (unsigned)t < BENCH_TYPE_COUNT ? type_names[t] : "?"; }
const char *bench_op_name(bench_op_t op) { return (unsigned)op < BENCH_OP_COUNT ? op_names[op] : "?"; }

size_t bench_type_size(bench_type_t t)
{
    static const size_t sizes[BENCH_TYPE_COUNT] = {4, 8, 4, 8, 1};
    return (unsigned)t < BENCH_TYPE_COUNT ? sizes[t] : 0;
}

MPI_Datatype bench_type_mpi(bench_type_t t)
{
    switch (t) {
    case BENCH_FLOAT: return MPI_FLOAT;
    case BENCH_DOUBLE: return MPI_DOUBLE;
    case BENCH_INT32: return MPI_INT32_T;
    case BENCH_INT64: return MPI_INT64_T;
    case BENCH_UINT8: return MPI_UINT8_T;
    default: return MPI_DATATYPE_NULL;
    }
}

/* BENCH_USER: element-wise sum (integers wrap), as an MPI user function. */
#define USER_SUM_LOOP(T, U)                                                                        \
    for (int i = 0; i < n; i++)                                                                    \
        ((T *)inout)[i] = (T)((U)((T *)inout)[i] + (U)((const T *)in)[i])

static void user_sum(void *in, void *inout, int *len, MPI_Datatype *type)
{
    int n = *len;
    MPI_Datatype t = *type;
    if (t == MPI_FLOAT)
        USER_SUM_LOOP(float, float);
    else if (t == MPI_DOUBLE)
        USER_SUM_LOOP(double, double);
    else if (t == MPI_INT32_T)
        USER_SUM_LOOP(int32_t, uint32_t);
    else if (t == MPI_INT64_T)
        USER_SUM_LOOP(int64_t, uint64_t);
    else if (t == MPI_UINT8_T)
        USER_SUM_LOOP(uint8_t, unsigned);
}

static MPI_Op user_op = MPI_OP_NULL;

int bench_op_valid(bench_type_t t, bench_op_t op)
{
    int floating = t == BENCH_FLOAT || t == BENCH_DOUBLE;
    if (op == BENCH_AVG)
        return floating;
    if (op == BENCH_BOR)
        return !floating;
    return 1;
}

MPI_Op bench_op_mpi(bench_op_t op)
{
    switch (op) {
    case BENCH_BOR: return MPI_BOR;
    case BENCH_USER:
        if (user_op == MPI_OP_NULL && MPI_Op_create(user_sum, 1, &user_op) != MPI_SUCCESS)
            user_op = MPI_OP_NULL;
        return user_op;
    case BENCH_SUM: return MPI_SUM;
    case BENCH_PROD: return MPI_PROD;
    case BENCH_MIN: return MPI_MIN;
    case BENCH_MAX: return MPI_MAX;
    case BENCH_AVG: return TRIB_OP_AVG;
    default: return MPI_OP_NULL;
    }
}

int bench_parse_type(const char *s, bench_type_t *out)
{
    static const struct { const char *name; bench_type_t t; } aliases[] = {
        {"float", BENCH_FLOAT}, {"float32", BENCH_FLOAT}, {"double", BENCH_DOUBLE}, {"float64", BENCH_DOUBLE},
        {"int32", BENCH_INT32}, {"int", BENCH_INT32},     {"int32_t", BENCH_INT32}, {"int64", BENCH_INT64},
        {"int64_t", BENCH_INT64}, {"uint8", BENCH_UINT8}, {"uint8_t", BENCH_UINT8}, {"byte", BENCH_UINT8},
    };
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        if (strcasecmp(s, aliases[i].name) == 0) {
            *out = aliases[i].t;
            return 0;
        }
    }
    return -1;
}

int bench_parse_op(const char *s, bench_op_t *out)
{
    for (int i = 0; i < BENCH_OP_COUNT; i++) {
        if (strcasecmp(s, op_names[i]) == 0) {
            *out = (bench_op_t)i;
            return 0;
        }
    }
    if (strcasecmp(s, "average") == 0) {
        *out = BENCH_AVG;
        return 0;
    }
    return -1;
}

/* Splits "12.5ms" into 12.5 and "ms"; -1 when there is no number. */
static int split_number(const char *s, double *value, const char **unit)
{
    char *end;
    if (s == NULL || *s == '\0' || isspace((unsigned char)*s) || *s == '-')
        return -1;
    errno = 0;
    *value = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(*value) || *value < 0)
        return -1;
    *unit = end;
    return 0;
}

int bench_parse_bytes(const char *s, size_t *out)
{
    static const struct { const char *suffix; double mult; } units[] = {
        {"", 1.0}, {"B", 1.0}, {"K", 1024.0}, {"KB", 1024.0}, {"KiB", 1024.0}, {"M", 1048576.0},
        {"MB", 1048576.0}, {"MiB", 1048576.0}, {"G", 1073741824.0}, {"GB", 1073741824.0}, {"GiB", 1073741824.0},
    };
    double v;
    const char *unit;
    if (split_number(s, &v, &unit) != 0)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(unit, units[i].suffix) == 0) {
            double b = v * units[i].mult;
            if (b != floor(b) || b > 1e18)
                return -1;
            *out = (size_t)b;
            return 0;
        }
    }
    return -1;
}

int bench_parse_rate(const char *s, double *bits_per_s)
{
    static const struct { const char *suffix; double mult; } units[] = {
        {"", 1.0},        {"bit", 1.0},     {"K", 1e3},       {"kbit", 1e3}, {"M", 1e6},
        {"mbit", 1e6},    {"G", 1e9},       {"gbit", 1e9},    {"bps", 1.0},  {"kbps", 1e3 * 8},
        {"mbps", 1e6 * 8}, {"gbps", 1e9 * 8},
    };
    double v;
    const char *unit;
    if (split_number(s, &v, &unit) != 0 || v <= 0)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(unit, units[i].suffix) == 0) {
            *bits_per_s = v * units[i].mult;
            return 0;
        }
    }
    return -1;
}

int bench_parse_delay(const char *s, double *seconds)
{
    static const struct { const char *suffix; double mult; } units[] = {
        {"s", 1.0}, {"ms", 1e-3}, {"us", 1e-6}, {"ns", 1e-9},
    };
    double v;
    const char *unit;
    if (split_number(s, &v, &unit) != 0)
        return -1;
    if (*unit == '\0' && v == 0) {
        *seconds = 0;
        return 0;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(unit, units[i].suffix) == 0) {
            *seconds = v * units[i].mult;
            return 0;
        }
    }
    return -1;
}

void bench_format_bytes(size_t bytes, char *buf, size_t len)
{
    if (bytes >= 1073741824u && bytes % 1073741824u == 0)
        snprintf(buf, len, "%zuG", bytes / 1073741824u);
    else if (bytes >= 1048576u && bytes % 1048576u == 0)
        snprintf(buf, len, "%zuM", bytes / 1048576u);
    else if (bytes >= 1024u && bytes % 1024u == 0)
        snprintf(buf, len, "%zuK", bytes / 1024u);
    else
        snprintf(buf, len, "%zu", bytes);
}

static int parse_one_algo(const char *item, bench_algo_t *a, char *err, size_t errlen)
{
    char name[64];
    const char *colon = strchr(item, ':');
    size_t n = colon ? (size_t)(colon - item) : strlen(item);
    if (n == 0 || n >= sizeof name) {
        snprintf(err, errlen, "empty or too long algorithm name in --algo");
        return -1;
    }
    memcpy(name, item, n);
    name[n] = '\0';
    a->plain = strcasecmp(name, "plain") == 0;
    a->floor = strcasecmp(name, "memcpy") == 0;
    if (a->plain || a->floor) {
        a->algo = TRIB_ALGO_MPI;
        a->segment_bytes = 0;
        if (colon)
            snprintf(err, errlen, "%s takes no segment size", name);
        return colon ? -1 : 0;
    }
    if (trib_algo_parse(name, &a->algo) != TRIB_OK) {
        char names[128];
        trib_cli_enum_names(&trib_cli_enum_algo, names, sizeof names);
        snprintf(err, errlen, "unknown algorithm '%s' (expected %s, plain or memcpy)", name, names);
        return -1;
    }
    a->segment_bytes = 0;
    if (colon && bench_parse_bytes(colon + 1, &a->segment_bytes) != 0) {
        snprintf(err, errlen, "bad segment size '%s' for algorithm %s", colon + 1, name);
        return -1;
    }
    return 0;
}

int bench_parse_algo_list(const char *s, bench_algo_t *out, int max, char *err, size_t errlen)
{
    char buf[1024];
    int n = 0;
    if (s == NULL || strlen(s) >= sizeof buf || *s == '\0') {
        snprintf(err, errlen, "--algo needs a comma-separated list of algorithms");
        return -1;
    }
    if (strcasecmp(s, "all") == 0)
        s = "ring,tree,rd,shm,hier,auto,mpi";
    strcpy(buf, s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == max) {
            snprintf(err, errlen, "too many algorithms in --algo (at most %d)", max);
            return -1;
        }
        if (parse_one_algo(tok, &out[n], err, errlen) != 0)
            return -1;
        for (int j = 0; j < n; j++) {
            if (out[j].algo == out[n].algo && out[j].segment_bytes == out[n].segment_bytes &&
                out[j].plain == out[n].plain && out[j].floor == out[n].floor) {
                snprintf(err, errlen, "algorithm '%s' listed twice in --algo", tok);
                return -1;
            }
        }
        n++;
    }
    if (n == 0) {
        snprintf(err, errlen, "--algo needs at least one algorithm");
        return -1;
    }
    return n;
}

void bench_algo_label(const bench_algo_t *a, char *buf, size_t len)
{
    const char *name = a->plain ? "plain" : a->floor ? "memcpy" : trib_algo_name(a->algo);
    if (a->segment_bytes) {
        char seg[32];
        bench_format_bytes(a->segment_bytes, seg, sizeof seg);
        snprintf(buf, len, "%s:%s", name ? name : "?", seg);
    } else {
        snprintf(buf, len, "%s", name ? name : "?");
    }
}

/* ------------------------------------------------------------ option-table parsers */

/* 0 when the value parsed, else -1 with `what` as the reason. */
static int cli_verdict(int failed, char *why, size_t cap, const char *what)
{
    if (failed)
        snprintf(why, cap, "%s", what);
    return failed ? -1 : 0;
}

int bench_cli_bytes(const char *s, void *dst, char *why, size_t cap)
{
    return cli_verdict(bench_parse_bytes(s, dst) != 0 || *(size_t *)dst == 0, why, cap,
                       "is not a positive size (e.g. 8, 64K, 16M)");
}

int bench_cli_type(const char *s, void *dst, char *why, size_t cap)
{
    return cli_verdict(bench_parse_type(s, dst) != 0, why, cap, "is not a type (float, double, int32 (int), int64, uint8)");
}

int bench_cli_op(const char *s, void *dst, char *why, size_t cap)
{
    if (bench_parse_op(s, dst) == 0)
        return 0;
    size_t len = (size_t)snprintf(why, cap, "is not an operation (");
    for (int i = 0; i < BENCH_OP_COUNT && len < cap; i++)
        len += (size_t)snprintf(why + len, cap - len, "%s%s", op_names[i], i + 1 < BENCH_OP_COUNT ? ", " : ")");
    return -1;
}

int bench_cli_rate(const char *s, void *dst, char *why, size_t cap)
{
    return cli_verdict(bench_parse_rate(s, dst) != 0, why, cap, "is not a rate (e.g. 1G, 100mbit)");
}

int bench_cli_delay(const char *s, void *dst, char *why, size_t cap)
{
    return cli_verdict(bench_parse_delay(s, dst) != 0, why, cap, "is not a delay (e.g. 100us, 1ms)");
}

int bench_cli_algos(const char *s, void *dst, char *why, size_t cap)
{
    bench_config_t *c = dst;
    char msg[256];
    c->nalgos = bench_parse_algo_list(s, c->algos, BENCH_MAX_ALGOS, msg, sizeof msg);
    c->algo_explicit = 1;
    if (c->nalgos < 0)
        return snprintf(why, cap, "is not a list of algorithms: %s", msg), -1;
    return 0;
}
