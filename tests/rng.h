/* rng.h - the tests' deterministic random numbers: splitmix64, uniform doubles in [0, 1) and
 * Box-Muller Gaussians. Header-only: each test file that includes it has its own stream,
 * reseeded with rng_seed() wherever a case must not depend on the cases before it. */
#ifndef GEMMA_TEST_RNG_H
#define GEMMA_TEST_RNG_H

#include <math.h>
#include <stdint.h>

static uint64_t rng_state;

static inline void rng_seed(uint64_t s) { rng_state = s * 0x9e3779b97f4a7c15ull + 1; }

static inline uint64_t rng_u64(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline double rng_uniform(void) { return (double)(rng_u64() >> 11) * 0x1.0p-53; }

static inline double rng_gauss(void) { /* Box-Muller */
    double u = rng_uniform(), v = rng_uniform();
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

#endif
