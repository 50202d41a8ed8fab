/*
 * sigv4.h: AWS Signature Version 4 for S3 requests, and the SHA-256 and
 * MD5 body hashes the S3 client sends with them.
 *
 * The signer implements the S3 flavour of SigV4 (S3 API reference,
 * "Signature Calculations for the Authorization Header: Transferring
 * Payload in a Single Chunk").  From a struct ws_sigv4 it builds the
 * canonical request
 *
 *     METHOD                       "GET", "PUT", ...
 *     encoded path                 ws_uri_encode(path, 1): encoded once,
 *                                  '/' kept, never normalised (S3 keys may
 *                                  hold "//", "." and ".." segments)
 *     canonical query              ws_sigv4_query_string(); "" if none
 *     name:value                   one line per header: lowercase names,
 *     ...                          sorted; values trimmed, inner runs of
 *                                  spaces and tabs folded to one space
 *     (empty line)
 *     signed headers               the lowercase names joined with ';'
 *     payload hash                 hex SHA-256 of the body, or
 *                                  "UNSIGNED-PAYLOAD"
 *
 * (lines joined by '\n', none after the last), then the string to sign
 *
 *     AWS4-HMAC-SHA256 \n amz_date \n YYYYMMDD/region/service/aws4_request
 *     \n hex(SHA-256(canonical request))
 *
 * and signs it with HMAC-SHA256 under the key HMAC("AWS4" secret,
 * YYYYMMDD) -> region -> service -> "aws4_request".
 *
 * The wire must carry what was signed: the request line uses
 * ws_uri_encode(path, 1) and ws_sigv4_query_string() (the very strings
 * the signer hashes), and every header listed goes out with the listed
 * value; headers not listed may go unsigned.  S3 wants
 * x-amz-content-sha256 on every SigV4 request and takes the signing time
 * from x-amz-date, so the signer requires both among the headers, equal
 * to payload_sha256 and amz_date, and requires host.
 *
 * The signer keeps nothing, borrows every string only for the call, and
 * allocates nothing; it hashes with digest.h, which never initialises
 * OpenSSL's providers.  No message it writes
 * contains the secret key or any header value (x-amz-security-token is a
 * secret too); key material is wiped from the stack before returning.
 */
#ifndef WS_SIGV4_H
#define WS_SIGV4_H

#include <stddef.h>

#include "ws/digest.h"
#include "ws/err.h"

#define WS_SIGV4_MAX_KV 32      /* most headers, and most query params */
#define WS_SIGV4_MAX_SECRET 128 /* longest secret key (AWS's have 40) */

/* A header or a query parameter.  Query names and values are given
 * decoded ("a/b", "x y") and encoded by the signer; value "" is allowed
 * ("?lifecycle" is {"lifecycle", ""}). */
struct ws_kv {
    const char *name;
    const char *value;
};

/* One request to sign.  Every pointer is borrowed and must be non-NULL
 * (headers and query may be NULL when their count is 0).  region and
 * service (at most 64 bytes) and access_key (at most 128) are printable
 * ASCII without spaces, '/' or ','. */
struct ws_sigv4 {
    const char *method;          /* "GET", "PUT": uppercase letters */
    const char *path;            /* decoded, starts with '/': "/b/x y/z" */
    const struct ws_kv *query;   /* in any order; sorted by the signer */
    size_t nquery;               /* at most WS_SIGV4_MAX_KV */
    const struct ws_kv *headers; /* names in any case; all are signed */
    size_t nheaders;             /* at most WS_SIGV4_MAX_KV */
    const char *payload_sha256;  /* lowercase hex or "UNSIGNED-PAYLOAD" */
    const char *region;          /* "us-east-1" */
    const char *service;         /* "s3" */
    const char *access_key;      /* "AKIAIOSFODNN7EXAMPLE" */
    const char *secret_key;      /* at most WS_SIGV4_MAX_SECRET bytes */
    const char *amz_date;        /* "20130524T000000Z" (UTC) */
};

/*
 * The three ws_sigv4_* calls below check the request first and return
 * WS_EUSAGE with a message naming the field at fault: a malformed or
 * missing field, a header name that is not an HTTP token, a header value
 * with a control character, a duplicate header (names compare without
 * case), more than WS_SIGV4_MAX_KV headers or parameters, or a missing
 * or disagreeing host, x-amz-date or x-amz-content-sha256.  An output
 * that does not fit in n bytes (NUL included) is also WS_EUSAGE; output
 * is never truncated.  On any failure out holds "" (when n > 0).
 */

/* Whether ak and sk can sign (the limits of struct ws_sigv4): WS_OK, or
 * WS_ECONFIG naming the one at fault by where it came from (ak_from,
 * sk_from: "access-key-id", "AWS_SECRET_ACCESS_KEY"), never its value.
 * For a check at set-up, before the first request. */
int ws_sigv4_check_keys(const char *ak, const char *ak_from, const char *sk,
                        const char *sk_from, struct ws_err *err);

/* The Authorization header value:
 * "AWS4-HMAC-SHA256 Credential=AK/YYYYMMDD/region/service/aws4_request,
 * SignedHeaders=a;b, Signature=<64 hex>" (on one line). */
int ws_sigv4_sign(const struct ws_sigv4 *s, char *auth, size_t n,
                  struct ws_err *err);

/* The canonical request text, for tests and debugging. */
int ws_sigv4_canonical_request(const struct ws_sigv4 *s, char *out, size_t n,
                               struct ws_err *err);

/* The string to sign, for tests and debugging. */
int ws_sigv4_string_to_sign(const struct ws_sigv4 *s, char *out, size_t n,
                            struct ws_err *err);

/* S3 URI encoding: A-Z a-z 0-9 - . _ ~ are kept, '/' too when keep_slash,
 * every other byte becomes %XX (uppercase hex; UTF-8 is encoded byte by
 * byte).  Writes a NUL-terminated string and returns its length, or -1
 * (out set to "" when n > 0) if it needs more than n bytes. */
int ws_uri_encode(const char *in, int keep_slash, char *out, size_t n);

/* The canonical query string: each name and value URI-encoded ('/'
 * included), sorted by encoded name then encoded value (bytewise), each
 * "name=value", joined with '&'; "" for none.  The same string goes after
 * '?' on the wire.  Returns its length, or -1 (out set to "" when n > 0)
 * if it does not fit, a name or value is NULL, or nq > WS_SIGV4_MAX_KV. */
int ws_sigv4_query_string(const struct ws_kv *q, size_t nq, char *out,
                          size_t n);

/* Incremental body hashes: SHA-256 (hex, for x-amz-content-sha256) and
 * MD5 (base64, for Content-MD5) of the same bytes, computed together. */
struct ws_hash;

/* A new hash of zero bytes; NULL if out of memory. */
struct ws_hash *ws_hash_new(void);

/* Add len bytes.  WS_EUSAGE after final. */
int ws_hash_update(struct ws_hash *h, const void *buf, size_t len,
                   struct ws_err *err);

/* Finish: sha256_hex receives 64 lowercase hex digits, md5_b64 24 base64
 * characters (both NUL-terminated).  Only ws_hash_free() may follow;
 * a second final is WS_EUSAGE.  Outputs are written only on WS_OK. */
int ws_hash_final(struct ws_hash *h, char sha256_hex[WS_SHA256_HEX],
                  char md5_b64[WS_MD5_B64], struct ws_err *err);

/* Free h; NULL is allowed. */
void ws_hash_free(struct ws_hash *h);

#endif
