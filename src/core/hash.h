/*
 * hash.h - private: a fast seeded 64-bit hash for in-memory tables.
 *
 * Seeded per table from the CSPRNG so that outside input (user ids) cannot be chosen to collide.
 * Not a MAC; never use it where an attacker sees the output.
 */
#ifndef JWTS_CORE_HASH_H
#define JWTS_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t jwts_hash_mix(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* Hash n bytes of p with seed. */
static inline uint64_t jwts_hash(const void *p, size_t n, uint64_t seed)
{
    const uint8_t *s = p;
    uint64_t h = seed ^ jwts_hash_mix(seed ^ 0xa0761d6478bd642fULL, n ^ 0xe7037ed1a0b428dbULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = jwts_hash_mix(h ^ w, 0x8ebc6af09c88c6e3ULL);
        s += 8;
        n -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, s, n);
    h = jwts_hash_mix(h ^ tail ^ ((uint64_t)n << 56), 0x589965cc75374cc3ULL);
    return jwts_hash_mix(h, 0x1d8e4e27c47d124fULL);
}

#endif
