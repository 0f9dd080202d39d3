/* cli.c - see cli.h. */
#include "common/cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *trib_cli_prog = "tributary";

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
