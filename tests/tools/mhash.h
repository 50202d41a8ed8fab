/*
 * mhash.h: the multiset hash of wsload's table t, shared by wsload.c
 * (which keeps it incrementally, one transaction at a time) and wscheck.c
 * (which recomputes it from a restored database).  Header-only, because
 * the Makefile builds each tests/tools/X.c into its own binary from that
 * one file; every function is static inline, so a tool that does not use
 * one (wscheck never subtracts) builds cleanly under -Wall -Wextra -Werror.
 *
 * The design.  Each row (id, k, v) of t maps to a 128-bit value
 *
 *     H(row) = the first 16 bytes, read as a big-endian integer, of
 *              SHA-256(be64(id) || be64(k) || v)
 *
 * where be64 is the 8-byte big-endian two's-complement encoding and v is
 * the blob's bytes (none for an empty blob).  The digest D of a table is
 * the sum of H(row) over its live rows, mod 2^128.  Addition mod 2^128 is
 * commutative and invertible, so D does not depend on row order, an
 * INSERT adds H(row), a DELETE subtracts it and an UPDATE does both: the
 * writer updates D in O(1) per changed row, and any reader can recompute
 * it with one scan in any order.  Including id and k in each hashed row
 * ties every value to its row, so moving a blob between rows or changing
 * k changes D.
 *
 * D is stored as 32 lower-case hex digits (high 64 bits first) in
 * txlog.digest and in wsload's -log CSV; changing anything here changes
 * every stored digest, so both tools must always agree on it (they do, by
 * including this one file).
 *
 * Only <stdint.h>, <stdio.h>, <inttypes.h> and OpenSSL's EVP interface.
 */
#ifndef WS_TESTS_MHASH_H
#define WS_TESTS_MHASH_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/evp.h>

/* A value mod 2^128: hi is the high 64 bits. */
struct mhash {
    uint64_t hi, lo;
};

static inline uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static inline void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

/* *a += x (mod 2^128). */
static inline void mh_add(struct mhash *a, struct mhash x)
{
    a->lo += x.lo;
    a->hi += x.hi + (a->lo < x.lo);
}

/* *a -= x (mod 2^128). */
static inline void mh_sub(struct mhash *a, struct mhash x)
{
    uint64_t borrow = a->lo < x.lo;

    a->lo -= x.lo;
    a->hi -= x.hi + borrow;
}

/* h as 32 lower-case hex digits and a NUL. */
static inline void mh_hex(struct mhash h, char out[33])
{
    snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, h.hi, h.lo);
}

/*
 * *h = H(id, k, v[0..n)), computed with md (reused across rows); 0, or -1
 * if OpenSSL fails (*h is then unset).
 */
static inline int row_hash(EVP_MD_CTX *md, int64_t id, int64_t k,
                           const void *v, size_t n, struct mhash *h)
{
    unsigned char head[16], sum[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    put_be64(head, (uint64_t)id);
    put_be64(head + 8, (uint64_t)k);
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(md, head, sizeof(head)) != 1 ||
        (n > 0 && EVP_DigestUpdate(md, v, n) != 1) ||
        EVP_DigestFinal_ex(md, sum, &len) != 1 || len != 32)
        return -1;
    h->hi = get_be64(sum);
    h->lo = get_be64(sum + 8);
    return 0;
}

#endif
