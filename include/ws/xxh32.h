/*
 * xxh32.h: xxHash32, the checksum of the LZ4 frame format (lz4f.h): its
 * header checksum byte, its block checksums and its content checksum.
 *
 * The algorithm (Yann Collet's XXH32), all words little-endian:
 *
 *   primes P1 9E3779B1, P2 85EBCA77, P3 C2B2AE3D, P4 27D4EB2F, P5 165667B1;
 *   four accumulators start at seed+P1+P2, seed+P2, seed, seed-P1;
 *   each 16-byte stripe feeds one 32-bit word to each accumulator:
 *       acc = rotl(acc + word * P2, 13) * P1;
 *   the digest is rotl(v0,1) + rotl(v1,7) + rotl(v2,12) + rotl(v3,18)
 *   (or seed + P5 for an input under 16 bytes), plus the total length,
 *   then each remaining word: h = rotl(h + word * P3, 17) * P4, each
 *   remaining byte: h = rotl(h + byte * P5, 11) * P1, and the avalanche
 *   h ^= h >> 15; h *= P2; h ^= h >> 13; h *= P3; h ^= h >> 16.
 *
 * The streaming state takes input in pieces of any size and gives the
 * same digest as one call over the whole input; the frame writer hashes
 * its input and the reader its output that way, in order.
 */
#ifndef WS_XXH32_H
#define WS_XXH32_H

#include <stddef.h>
#include <stdint.h>

/* A digest in progress (embedded in its owner; no resources). */
struct ws_xxh32 {
    uint32_t v[4];
    uint8_t mem[16]; /* input not yet consumed by a 16-byte stripe */
    size_t memlen;
    uint64_t total;
    uint32_t seed;
};

/* xxHash32 of buf with the given seed (exposed for tests). */
uint32_t ws_xxh32(const void *buf, size_t len, uint32_t seed);

/* Start a streaming digest with seed. */
void ws_xxh32_init(struct ws_xxh32 *s, uint32_t seed);

/* Add len bytes at p. */
void ws_xxh32_update(struct ws_xxh32 *s, const uint8_t *p, size_t len);

/* The digest of everything added so far (s is unchanged). */
uint32_t ws_xxh32_digest(const struct ws_xxh32 *s);

#endif
