/*
 * digest.h: SHA-256, HMAC-SHA-256 and MD5, without OpenSSL's provider
 * layer; hex and base64 for printing them.
 *
 * OpenSSL 3 routes every EVP digest (and HMAC(), and even the one-shot
 * SHA256()) through its provider machinery, whose first use initialises
 * the default provider: about 2.2 MiB of resident memory for a process
 * that only wants a hash.  walship hashes at start-up (the retention
 * lock's name, a restored database), for every S3 request (SigV4) and
 * over every byte it uploads (x-amz-content-sha256, Content-MD5).  These
 * wrappers call the low-level SHA256_* and MD5_* functions instead, which
 * run the same assembly (SHA-NI where the CPU has it) with no set-up.
 * They are deprecated in OpenSSL 3 but present; digest.c is the only
 * file that calls them.
 *
 * Nothing here can fail or allocate.  A context is plain memory: start it
 * with _init, feed it with _update, read it with _final, after which it
 * must be started again to be reused.  Key material that HMAC copies is
 * wiped before it returns.
 */
#ifndef WS_DIGEST_H
#define WS_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/md5.h>
#include <openssl/sha.h>

#define WS_SHA256_LEN 32 /* bytes of a SHA-256 digest */
#define WS_MD5_LEN 16    /* bytes of an MD5 digest */
#define WS_SHA256_HEX 65 /* 64 lowercase hex digits and a NUL */
#define WS_MD5_B64 25    /* 24 base64 characters and a NUL */

struct ws_sha256 {
    SHA256_CTX c; /* OpenSSL's state; touched only by digest.c */
};

struct ws_md5 {
    MD5_CTX c; /* OpenSSL's state; touched only by digest.c */
};

void ws_sha256_init(struct ws_sha256 *h);
void ws_sha256_update(struct ws_sha256 *h, const void *buf, size_t len);
void ws_sha256_final(struct ws_sha256 *h, uint8_t out[WS_SHA256_LEN]);

/* out = SHA-256 of buf[0..len). */
void ws_sha256(const void *buf, size_t len, uint8_t out[WS_SHA256_LEN]);

/* out = the 64 lowercase hex digits of SHA-256 of buf[0..len), and a
 * NUL. */
void ws_sha256_hex(const void *buf, size_t len, char out[WS_SHA256_HEX]);

/* out = HMAC-SHA-256 (RFC 2104) of msg[0..len) under key[0..nkey); a key
 * longer than the 64-byte block is hashed first.  out may alias key. */
void ws_hmac_sha256(const void *key, size_t nkey, const void *msg,
                    size_t len, uint8_t out[WS_SHA256_LEN]);

void ws_md5_init(struct ws_md5 *h);
void ws_md5_update(struct ws_md5 *h, const void *buf, size_t len);
void ws_md5_final(struct ws_md5 *h, uint8_t out[WS_MD5_LEN]);

/* out = 2 * n lowercase hex digits of d[0..n), and a NUL. */
void ws_hex(const uint8_t *d, size_t n, char *out);

/* The value of hex digit ch (either case), or -1 if it is not one. */
int ws_hex_digit(int ch);

/* out = base64 (RFC 4648, padded, no line breaks) of d[0..n), n below
 * 1 GiB, and a NUL: 4 * ((n + 2) / 3) + 1 bytes. */
void ws_base64(const uint8_t *d, size_t n, char *out);

#endif
