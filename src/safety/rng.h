/* rng.h - splitmix64: a small PRNG whose output is the same everywhere (internal). */
#ifndef SDC_SAFETY_RNG_H
#define SDC_SAFETY_RNG_H

#include <stdint.h>

typedef struct sdc_rng {
    uint64_t s;
} sdc_rng;

static inline uint64_t sdc_rng_next(sdc_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) without modulo bias (n > 0). */
static inline uint64_t sdc_rng_below(sdc_rng *r, uint64_t n)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = sdc_rng_next(r);
    while (x >= lim);
    return x % n;
}

#endif
