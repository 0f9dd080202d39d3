/*
 * bench_stats.c - statistics over per-iteration times and the physical bound.
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_quantile(double *v, size_t n, double q)
{
    if (n == 0)
        return 0.0;
    qsort(v, n, sizeof *v, cmp_double);
    /* Nearest rank: the smallest value with at least q*n values at or below it. */
    size_t k = (size_t)ceil(q * (double)n);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

double bench_mean(const double *v, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return n ? s / (double)n : 0.0;
}

double bench_bound_seconds(size_t bytes, int p, double rate, double delay)
{
    if (p <= 1 || rate <= 0)
        return 0.0;
    double bw_term = 2.0 * (p - 1) / p * (double)bytes * 8.0 / rate;
    double lat_term = ceil(log2((double)p)) * delay;
    return bw_term > lat_term ? bw_term : lat_term;
}
