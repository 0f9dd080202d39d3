/*
 * rng.h - deterministic counter-based random numbers (internal).
 *
 * Why counter-based: a value is a pure function of (seed, stream, counter),
 * so the factors of item 1234 are initialised identically whether 1 or 64
 * ranks train the model, and a resumed job can recreate any stream from a
 * few integers (no hidden state to checkpoint beyond the counter).
 *
 * A stream is keyed by (seed, stream id); the stream id is normally a global
 * id (user id, item id) or a purpose tag combined with one (trib_hash64).
 * Output: mix64(key ^ mix64(counter + golden)), two rounds of the
 * SplitMix64 finaliser; good statistical quality for simulation and SGD,
 * not for cryptography.
 */
#ifndef TRIB_CORE_RNG_H
#define TRIB_CORE_RNG_H

#include <stdint.h>
#include "tributary/status.h"

typedef struct {
    uint64_t key;     /* derived from (seed, stream) */
    uint64_t counter; /* number of 64-bit outputs drawn so far */
} trib_rng_t;

static inline uint64_t trib_mix64(uint64_t z)
{
    z ^= z >> 30;
    z *= UINT64_C(0xbf58476d1ce4e5b9);
    z ^= z >> 27;
    z *= UINT64_C(0x94d049bb133111eb);
    z ^= z >> 31;
    return z;
}

/* A well-mixed 64-bit hash of two words (order matters). */
static inline uint64_t trib_hash64(uint64_t a, uint64_t b)
{
    return trib_mix64(a ^ trib_mix64(b + UINT64_C(0x9e3779b97f4a7c15)));
}

static inline void trib_rng_init(trib_rng_t *r, uint64_t seed, uint64_t stream)
{
    r->key = trib_hash64(seed, stream);
    r->counter = 0;
}

/* The value at position `counter` of a stream, without state. */
static inline uint64_t trib_rng_at(uint64_t key, uint64_t counter)
{
    return trib_mix64(key ^ trib_mix64(counter + UINT64_C(0x9e3779b97f4a7c15)));
}

static inline uint64_t trib_rng_u64(trib_rng_t *r) { return trib_rng_at(r->key, r->counter++); }

/* Uniform double in [0, 1) with 53 random bits. */
static inline double trib_rng_uniform(trib_rng_t *r)
{
    return (double)(trib_rng_u64(r) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, n) without modulo bias (n > 0). */
uint64_t trib_rng_below(trib_rng_t *r, uint64_t n);

/* Standard normal deviate (Box-Muller; consumes two outputs). */
double trib_rng_normal(trib_rng_t *r);

/* Fisher-Yates shuffle of n uint32 values. */
void trib_rng_shuffle_u32(trib_rng_t *r, uint32_t *a, size_t n);

#endif
