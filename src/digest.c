/*
 * digest.c: SHA-256, HMAC-SHA-256 and MD5 on OpenSSL's low-level calls
 * (see digest.h for why not EVP).
 *
 * SHA256_Init/Update/Final and MD5_Init/Update/Final are deprecated in
 * OpenSSL 3 in favour of EVP; this file, and only this file, silences
 * that warning.  They return 1 whatever their input (their only failure
 * is a NULL context), so the wrappers return nothing.
 *
 * HMAC follows RFC 2104 with B = 64: K0 is the key (SHA-256 of the key
 * when it is longer than 64 bytes) padded with zeros to 64 bytes, and
 * HMAC = H((K0 ^ opad) || H((K0 ^ ipad) || msg)).
 */
#include "ws/digest.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define BLOCK 64 /* SHA-256's block, in bytes */

void ws_sha256_init(struct ws_sha256 *h)
{
    SHA256_Init(&h->c);
}

void ws_sha256_update(struct ws_sha256 *h, const void *buf, size_t len)
{
    if (len > 0)
        SHA256_Update(&h->c, buf, len);
}

void ws_sha256_final(struct ws_sha256 *h, uint8_t out[WS_SHA256_LEN])
{
    SHA256_Final(out, &h->c);
}

void ws_sha256(const void *buf, size_t len, uint8_t out[WS_SHA256_LEN])
{
    struct ws_sha256 h;

    ws_sha256_init(&h);
    ws_sha256_update(&h, buf, len);
    ws_sha256_final(&h, out);
}

void ws_sha256_hex(const void *buf, size_t len, char out[WS_SHA256_HEX])
{
    uint8_t d[WS_SHA256_LEN];

    ws_sha256(buf, len, d);
    ws_hex(d, sizeof(d), out);
}

void ws_hmac_sha256(const void *key, size_t nkey, const void *msg,
                    size_t len, uint8_t out[WS_SHA256_LEN])
{
    uint8_t k0[BLOCK], pad[BLOCK], inner[WS_SHA256_LEN];
    struct ws_sha256 h;

    memset(k0, 0, sizeof(k0));
    if (nkey > BLOCK)
        ws_sha256(key, nkey, k0);
    else if (nkey > 0)
        memcpy(k0, key, nkey);
    for (int i = 0; i < BLOCK; i++)
        pad[i] = k0[i] ^ 0x36;
    ws_sha256_init(&h);
    ws_sha256_update(&h, pad, BLOCK);
    ws_sha256_update(&h, msg, len);
    ws_sha256_final(&h, inner);
    for (int i = 0; i < BLOCK; i++)
        pad[i] = k0[i] ^ 0x5c;
    ws_sha256_init(&h);
    ws_sha256_update(&h, pad, BLOCK);
    ws_sha256_update(&h, inner, sizeof(inner));
    ws_sha256_final(&h, out);
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(inner, sizeof(inner));
    OPENSSL_cleanse(&h, sizeof(h));
}

void ws_md5_init(struct ws_md5 *h)
{
    MD5_Init(&h->c);
}

void ws_md5_update(struct ws_md5 *h, const void *buf, size_t len)
{
    if (len > 0)
        MD5_Update(&h->c, buf, len);
}

void ws_md5_final(struct ws_md5 *h, uint8_t out[WS_MD5_LEN])
{
    MD5_Final(out, &h->c);
}

void ws_hex(const uint8_t *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

int ws_hex_digit(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
        return (ch | 0x20) - 'a' + 10;
    return -1;
}

void ws_base64(const uint8_t *d, size_t n, char *out)
{
    /* Table code, no provider: n is at most a digest here. */
    EVP_EncodeBlock((unsigned char *)out, d, (int)n);
}
