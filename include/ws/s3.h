/*
 * s3.h: the S3 client core shared by the replica backend (replica_s3.c:
 * LIST, GET, DEL) and its upload pipeline (s3put.c: PUT).
 *
 * A struct ws_s3 is one configured bucket and key prefix: where to send
 * requests, how to sign them, and the curl-multi client (http.h) they go
 * through.  A struct ws_s3_call is one request and its retries: the
 * signed headers and URL of the current attempt, the attempt count and
 * a back-off timer; callers embed as many as they want requests in
 * flight at once.  Every request is signed with SigV4 over the SHA-256
 * of its payload (x-amz-content-sha256): no aws-chunked or streaming
 * uploads.
 *
 * Outcomes: transient failures (connection errors, timeouts, 5xx, 429,
 * 408) are WS_S3_RETRY, to be retried a few times with
 * exponential back-off and full jitter, honouring Retry-After; the
 * caller gives up with WS_EREMOTE.  Authentication and configuration
 * errors (403, NoSuchBucket, a wrong region) are WS_ECONFIG with
 * the S3 code and message; a missing object is WS_ENOTFOUND.  Every
 * message names the method and the object.
 */
#ifndef WS_S3_H
#define WS_S3_H

#include <stdint.h>
#include <uv.h>

#include "ws/config.h"
#include "ws/err.h"
#include "ws/http.h"
#include "ws/sigv4.h"

#define WS_S3_TRIES 5 /* attempts of one request */
#define WS_S3_URL_MAX 4096
#define WS_S3_PATH_MAX 1200 /* a request path: /bucket/root/key */

struct ws_s3 {
    struct ws_http *http;
    char base[600];  /* scheme://host[:port] */
    char host[512];  /* the Host header */
    char bucket[64]; /* S3 bucket names are at most 63 bytes */
    char root[1024]; /* key prefix, no leading or trailing '/' */
    int path_style;
    int skip_verify;    /* TLS verification off (shown at start-up) */
    const char *region; /* borrowed from the config or environment */
    const char *ak, *sk, *token;
    char max_keys[16];   /* test hook: ListObjectsV2 page size, or "" */
    uint64_t part_size;  /* test hook: fixed multipart part size, or 0 */
    size_t delete_batch; /* test hook: keys per DeleteObjects, or 0 */
};

/* One request at a time, and its retries. */
struct ws_s3_call {
    struct ws_http_req h;
    const struct ws_s3 *s; /* set by ws_s3_sign: whose secrets to mask */
    struct curl_slist *hdrs;
    char url[WS_S3_URL_MAX];
    const char *method;
    char query[2048];
    char payload_sha[WS_SHA256_HEX]; /* set by the caller before signing */
    char md5[WS_MD5_B64];            /* the caller's, for Content-MD5 */
    uv_timer_t backoff; /* initialised by the caller; data is its own */
    uv_timer_cb resend; /* called when a back-off is over */
    int attempt;
};

enum ws_s3_verdict { WS_S3_OK, WS_S3_RETRY, WS_S3_FAIL };

/* The client for replica cfg (bucket, path, endpoint, region, keys from
 * cfg or the environment).  *out is the caller's (ws_s3_free) on
 * success; on failure *out is set too, partly filled, so that the
 * caller can free it. */
int ws_s3_new(uv_loop_t *loop, const struct ws_replica_config *cfg,
              struct ws_s3 **out, struct ws_err *err);

/* A one-line description for the start-up log. */
void ws_s3_describe(const struct ws_s3 *s, char *buf, size_t n);

/* Close the client (every request must be done); accepts NULL. */
void ws_s3_free(struct ws_s3 *s);

/* The full key of a replica key (root "/" key).  -1 if it does not fit. */
int ws_s3_full_key(const struct ws_s3 *s, const char *key, char *out, size_t n);

/* The request path of an object ("/bucket/root/key" in path style), or
 * of the bucket itself when key is NULL.  -1 if it does not fit. */
int ws_s3_path(const struct ws_s3 *s, const char *key, char *out, size_t n);

/* Sign c's next attempt: method on path (decoded, from '/') with query
 * q and c->payload_sha, plus up to two extra signed headers (name,
 * value: content-md5, range).  Fills c->url and c->hdrs. */
int ws_s3_sign(const struct ws_s3 *s, struct ws_s3_call *c, const char *method,
               const char *path, const struct ws_kv *q, size_t nq,
               const struct ws_kv *extra, size_t nextra, struct ws_err *err);

/* Send c's signed request with body mem[0..len) (borrowed until done);
 * a 2xx answer's body goes to sink (NULL: dropped).  done(&c->h) runs on
 * the loop thread, c->h.data being data. */
void ws_s3_send(const struct ws_s3 *s, struct ws_s3_call *c, const void *mem,
                uint64_t len, ws_sink_fn sink, void *sink_ctx,
                void (*done)(struct ws_http_req *), void *data);

/* A malloc'd copy of text, a server's words (an error's Code or
 * Message, libcurl's error text), with every occurrence of s's access
 * key ID, secret key and session token replaced (secret.h: a server may
 * echo what it was sent); NULL when out of memory. */
char *ws_s3_masked(const struct ws_s3 *s, const char *text);

/* Judge c's answer about key: WS_S3_OK, or a failure with *rc and err
 * filled (one line naming the method and key, with S3's code and
 * message when it sent them). */
enum ws_s3_verdict ws_s3_judge(const struct ws_s3_call *c, const char *key,
                               int *rc, struct ws_err *err);

/* After a WS_S3_RETRY with tries left: count it in *retries and start
 * c's back-off, whose end calls c->resend.  1 if so, 0 to give up. */
int ws_s3_retry(struct ws_s3_call *c, enum ws_s3_verdict v, int *retries);

/* Free c's headers (the timer is the caller's to close). */
void ws_s3_call_clear(const struct ws_s3 *s, struct ws_s3_call *c);

#endif
