/* core/util/rng.h: small deterministic random numbers (header-only, no global state).
 *
 * Rng is xoshiro256** seeded through splitmix64 (Blackman & Vigna), so equal seeds give
 * equal streams on every machine. rng_hash() is a stateless counter-based hash for
 * places that must regenerate the same random value later (dropout masks in backward). */
#ifndef QAPRUNE_RNG_H
#define QAPRUNE_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct { uint64_t s[4]; } Rng;

static inline uint64_t rng_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void rng_seed(Rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = rng_splitmix64(&seed);
}

static inline uint64_t rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* Returns 64 uniform random bits. */
static inline uint64_t rng_u64(Rng *r) {
    uint64_t *s = r->s, result = rng_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rng_rotl(s[3], 45);
    return result;
}

/* Returns a uniform double in [0, 1) with 53 random bits. */
static inline double rng_uniform(Rng *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }

/* Returns a uniform integer in [0, n) (n > 0), without modulo bias worth mentioning (n << 2^64). */
static inline uint64_t rng_below(Rng *r, uint64_t n) { return rng_u64(r) % n; }

/* Returns a standard normal sample (Box-Muller; one of the pair is discarded for simplicity). */
static inline double rng_normal(Rng *r) {
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Stateless hash of (seed, a, b) to 64 bits: the same inputs always give the same bits. */
static inline uint64_t rng_hash(uint64_t seed, uint64_t a, uint64_t b) {
    uint64_t x = seed ^ (a * 0xd1b54a32d192ed03ULL) ^ (b * 0x8cb92ba72f3d8dd7ULL);
    return rng_splitmix64(&x);
}

#endif
