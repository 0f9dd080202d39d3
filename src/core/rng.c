/* rng.c - see rng.h. */
#include <stddef.h>
#include "core/rng.h"

#include <math.h>

__extension__ typedef unsigned __int128 trib_u128_;

uint64_t trib_rng_below(trib_rng_t *r, uint64_t n)
{
    /* Lemire's multiply-shift with rejection of the short interval. */
    uint64_t x = trib_rng_u64(r);
    trib_u128_ m = (trib_u128_)x * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = (0 - n) % n;
        while (low < threshold) {
            x = trib_rng_u64(r);
            m = (trib_u128_)x * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double trib_rng_normal(trib_rng_t *r)
{
    double u1 = ((double)(trib_rng_u64(r) >> 11) + 0.5) * 0x1.0p-53; /* (0,1) */
    double u2 = trib_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

void trib_rng_shuffle_u32(trib_rng_t *r, uint32_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)trib_rng_below(r, i);
        uint32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}
