/*
 * xxh32.c: xxHash32 (xxh32.h has the algorithm).
 */
#include "ws/xxh32.h"

#include <string.h>

#define P1 0x9E3779B1u
#define P2 0x85EBCA77u
#define P3 0xC2B2AE3Du
#define P4 0x27D4EB2Fu
#define P5 0x165667B1u

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint32_t rotl(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

static uint32_t round32(uint32_t acc, const uint8_t *p)
{
    return rotl(acc + get32(p) * P2, 13) * P1;
}

void ws_xxh32_init(struct ws_xxh32 *s, uint32_t seed)
{
    memset(s, 0, sizeof(*s));
    s->seed = seed;
    s->v[0] = seed + P1 + P2;
    s->v[1] = seed + P2;
    s->v[2] = seed;
    s->v[3] = seed - P1;
}

void ws_xxh32_update(struct ws_xxh32 *s, const uint8_t *p, size_t len)
{
    s->total += len;
    if (s->memlen + len < 16) {
        if (len > 0)
            memcpy(s->mem + s->memlen, p, len);
        s->memlen += len;
        return;
    }
    if (s->memlen > 0) {
        size_t n = 16 - s->memlen;

        memcpy(s->mem + s->memlen, p, n);
        for (int i = 0; i < 4; i++)
            s->v[i] = round32(s->v[i], s->mem + 4 * i);
        p += n;
        len -= n;
        s->memlen = 0;
    }
    for (; len >= 16; p += 16, len -= 16)
        for (int i = 0; i < 4; i++)
            s->v[i] = round32(s->v[i], p + 4 * i);
    memcpy(s->mem, p, len);
    s->memlen = len;
}

uint32_t ws_xxh32_digest(const struct ws_xxh32 *s)
{
    const uint8_t *p = s->mem, *end = s->mem + s->memlen;
    uint32_t h;

    if (s->total >= 16)
        h = rotl(s->v[0], 1) + rotl(s->v[1], 7) + rotl(s->v[2], 12) +
            rotl(s->v[3], 18);
    else
        h = s->seed + P5;
    h += (uint32_t)s->total;
    for (; end - p >= 4; p += 4)
        h = rotl(h + get32(p) * P3, 17) * P4;
    for (; p < end; p++)
        h = rotl(h + *p * P5, 11) * P1;
    h ^= h >> 15;
    h *= P2;
    h ^= h >> 13;
    h *= P3;
    h ^= h >> 16;
    return h;
}

uint32_t ws_xxh32(const void *buf, size_t len, uint32_t seed)
{
    struct ws_xxh32 s;

    ws_xxh32_init(&s, seed);
    ws_xxh32_update(&s, buf, len);
    return ws_xxh32_digest(&s);
}
