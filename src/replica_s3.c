/*
 * replica_s3.c: the S3 replica backend.
 *
 * Requests are signed with SigV4 (sigv4.c) and sent through the shared
 * curl-multi-on-libuv client (http.c); nothing blocks the loop.  Every
 * request carries the SHA-256 of its payload in x-amz-content-sha256:
 * no aws-chunked or streaming uploads.
 *
 * PUT   the object's bytes are first produced into an unlinked staging
 *       file on the thread pool, hashing SHA-256 and MD5 on the way, so
 *       the upload can be signed, retried and checked (Content-MD5, and
 *       the ETag of a single PUT is the MD5) with bounded memory.
 * GET   streamed into the caller's sink; a transfer cut short is resumed
 *       with a Range request from the last byte delivered, so the sink
 *       sees one continuous stream.
 * LIST  ListObjectsV2 over the prefix, page by page, with a guard against
 *       a repeated continuation token; keys come back relative to the
 *       replica root.
 * DEL   a listing, then DeleteObjects in batches of 1000 with Content-MD5;
 *       any key the store fails to delete fails the operation.
 *
 * Transient failures (connection errors, timeouts, 5xx, 429, 503
 * SlowDown, truncated bodies) are retried here a few times with
 * exponential backoff and full jitter, honouring Retry-After; what still
 * fails is WS_EREMOTE and the daemon backs off further.  Authentication
 * and configuration errors (403, NoSuchBucket, a wrong region) are
 * WS_ECONFIG, with the S3 code and message, and are not retried.
 */
#include "ws/fs.h"
#include "ws/http.h"
#include "ws/replica.h"
#include "ws/s3xml.h"
#include "ws/sigv4.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define TRIES 5
#define BACKOFF_BASE_MS 250
#define BACKOFF_CAP_MS 30000
#define MAX_PAGES 1000000
#define URL_MAX 4096
/* Objects larger than one part go up as a multipart upload.  S3 allows
 * 5 GiB in one PUT, but parts bound the cost of a retry and allow
 * objects past 5 GiB; 10,000 parts of 64 MiB reach 625 GiB. */
#define PART_SIZE (64ULL << 20)
#define MAX_PARTS 10000
#define DELETE_BATCH 1000 /* DeleteObjects takes at most 1000 keys */

enum { MP_NONE, MP_INIT, MP_PART, MP_COMPLETE, MP_ABORT };

struct s3 {
    struct ws_http *http;
    char base[600];        /* scheme://host[:port] */
    char host[512];        /* the Host header */
    char bucket[64];       /* S3 bucket names are at most 63 bytes */
    char root[1024];       /* key prefix, no leading or trailing '/' */
    int path_style;
    int skip_verify;       /* TLS verification off (shown at start-up) */
    const char *region;
    const char *ak, *sk, *token;
    char max_keys[16];     /* test hook: ListObjectsV2 page size, or "" */
    uint64_t part_size;    /* multipart above this; PART_SIZE normally */
};

/* One operation in flight: lives from submit to ws_replica_done. */
struct op {
    struct ws_req *req;
    struct s3 *s3;
    struct ws_http_req h;
    uv_timer_t backoff;
    int attempt;
    char payload_sha[65];
    char md5[32];
    /* PUT staging. */
    int fd;
    uint64_t size;
    uv_work_t work;
    /* GET resume. */
    uint64_t delivered;
    char range[64];
    /* LIST paging. */
    struct ws_s3xml *xml;
    char *token;
    int pages;
    /* DEL: list the prefix, then DeleteObjects in batches. */
    int deleting;
    char *delbody;
    size_t ndel, delpos;
    struct ws_objlist dellist;
    /* Multipart: objects over part_size go up in parts, one at a time. */
    uint64_t part_size;
    size_t nparts, part;      /* parts, and the one being sent (0-based) */
    char (*part_sha)[WS_SHA256_HEX];
    char (*part_md5)[WS_MD5_B64];
    char (*part_etag)[80];
    char *upload_id;
    int mp_state;             /* MP_NONE, MP_INIT, MP_PART, MP_DONE, ... */
    char *mp_body;            /* the CompleteMultipartUpload document */
    size_t mp_len;
    int saved_rc;             /* the failure an abort reports */
    /* Signed headers for the current attempt. */
    struct curl_slist *hdrs;
    char url[URL_MAX];
    const char *method;
    char query[2048];
};

static void op_send(struct op *o);

static int64_t backoff_ms(int attempt, const char *retry_after)
{
    uint32_t x = 0;
    int64_t cap = (int64_t)BACKOFF_BASE_MS << (attempt < 8 ? attempt : 8);

    if (cap > BACKOFF_CAP_MS)
        cap = BACKOFF_CAP_MS;
    if (retry_after && retry_after[0]) {
        long s = strtol(retry_after, NULL, 10);
        if (s > 0 && s * 1000 <= BACKOFF_CAP_MS)
            return s * 1000;
    }
    if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x))
        x = (uint32_t)cap;
    return (int64_t)(x % (uint32_t)(cap + 1)); /* full jitter */
}

static void op_free(struct op *o)
{
    curl_slist_free_all(o->hdrs);
    if (o->fd >= 0)
        close(o->fd);
    ws_s3xml_free(o->xml);
    free(o->token);
    free(o->delbody);
    ws_objlist_free(&o->dellist);
    free(o->part_sha);
    free(o->part_md5);
    free(o->part_etag);
    free(o->upload_id);
    free(o->mp_body);
    free(o);
}

static void on_backoff_closed(uv_handle_t *t)
{
    op_free(t->data);
}

/* Finish the operation: run the caller's callback, then free. */
static void op_done(struct op *o, int rc)
{
    struct ws_req *req = o->req;

    req->rc = rc;
    ws_replica_done(req);
    uv_close((uv_handle_t *)&o->backoff, on_backoff_closed);
}

/* ---- addressing and signing ------------------------------------------- */

/* The object's full key: root + "/" + key (or the key alone). */
static int full_key(const struct s3 *s, const char *key, char *out, size_t n)
{
    int k = s->root[0] ? snprintf(out, n, "%s/%s", s->root, key)
                       : snprintf(out, n, "%s", key);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

/*
 * Sign and fill o->url and o->hdrs for method on path (decoded, starting
 * with '/') with the given query and payload hash.  extra holds up to two
 * more signed headers (name, value), e.g. content-md5 and range.
 */
static int sign(struct op *o, const char *method, const char *path,
                const struct ws_kv *q, size_t nq, const struct ws_kv *extra,
                size_t nextra, struct ws_err *err)
{
    struct s3 *s = o->s3;
    struct ws_kv hv[8];
    char date[32], auth[1024], line[1200], epath[3 * 1100];
    struct ws_sigv4 sg;
    time_t now = time(NULL);
    struct tm tm;
    size_t nh = 0;
    int rc;

    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
    hv[nh++] = (struct ws_kv){"host", s->host};
    hv[nh++] = (struct ws_kv){"x-amz-content-sha256", o->payload_sha};
    hv[nh++] = (struct ws_kv){"x-amz-date", date};
    if (s->token && s->token[0])
        hv[nh++] = (struct ws_kv){"x-amz-security-token", s->token};
    for (size_t i = 0; i < nextra && nh < 8; i++)
        hv[nh++] = extra[i];
    memset(&sg, 0, sizeof(sg));
    sg.method = method;
    sg.path = path;
    sg.query = q;
    sg.nquery = nq;
    sg.headers = hv;
    sg.nheaders = nh;
    sg.payload_sha256 = o->payload_sha;
    sg.region = s->region;
    sg.service = "s3";
    sg.access_key = s->ak;
    sg.secret_key = s->sk;
    sg.amz_date = date;
    rc = ws_sigv4_sign(&sg, auth, sizeof(auth), err);
    if (rc != WS_OK)
        return rc;
    if (ws_uri_encode(path, 1, epath, sizeof(epath)) < 0 ||
        ws_sigv4_query_string(q, nq, o->query, sizeof(o->query)) < 0)
        return ws_err_set(err, WS_EUSAGE, "s3: request path too long");
    if ((size_t)snprintf(o->url, sizeof(o->url), "%s%s%s%s", s->base, epath,
                         o->query[0] ? "?" : "", o->query) >= sizeof(o->url))
        return ws_err_set(err, WS_EUSAGE, "s3: url too long");
    curl_slist_free_all(o->hdrs);
    o->hdrs = NULL;
    for (size_t i = 1; i < nh; i++) { /* curl sends Host itself */
        snprintf(line, sizeof(line), "%s: %s", hv[i].name, hv[i].value);
        o->hdrs = curl_slist_append(o->hdrs, line);
    }
    snprintf(line, sizeof(line), "Authorization: %s", auth);
    o->hdrs = curl_slist_append(o->hdrs, line);
    o->hdrs = curl_slist_append(o->hdrs, "Expect:");
    if (o->hdrs == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    o->method = method;
    return WS_OK;
}

/* The request path of an object (path style: /bucket/key). */
static int obj_path(const struct s3 *s, const char *key, char *out, size_t n)
{
    char fk[1100];

    if (full_key(s, key, fk, sizeof(fk)) != 0)
        return -1;
    return (size_t)(s->path_style ? snprintf(out, n, "/%s/%s", s->bucket, fk)
                                  : snprintf(out, n, "/%s", fk)) >= n
               ? -1
               : 0;
}

/* ---- outcome of one attempt --------------------------------------------- */

enum verdict { OK, RETRY, FAIL };

/* The Code and Message of an S3 error document ("" when absent or not
 * XML: a proxy's HTML page, say). */
static void s3_error(const char *body, size_t n, char *code, size_t ncode,
                     char *msg, size_t nmsg)
{
    struct ws_s3xml *x = ws_s3xml_new(WS_S3XML_ERROR);
    const char *c = NULL, *m = NULL;

    if (x && ws_s3xml_feed(x, body, n, NULL) == WS_OK &&
        ws_s3xml_finish(x, NULL) == WS_OK) {
        c = ws_s3xml_field(x, WS_S3XML_CODE);
        m = ws_s3xml_field(x, WS_S3XML_MESSAGE);
    }
    snprintf(code, ncode, "%s", c ? c : "");
    snprintf(msg, nmsg, "%s", m ? m : "");
    ws_s3xml_free(x);
}

static enum verdict judge(struct op *o, int *rc)
{
    struct ws_http_req *h = &o->h;
    struct ws_req *req = o->req;
    char code[128] = "", msg[256] = "";

    if (h->sink_rc != WS_OK) {
        /* The data itself is bad (checksum, LZ4): not a network matter. */
        req->err = h->sink_err;
        *rc = h->sink_rc;
        return FAIL;
    }
    if (h->result != CURLE_OK) {
        ws_err_set(&req->err, WS_EREMOTE, "s3 %s %s: %s", o->method,
                   req->key, h->curl_err[0] ? h->curl_err
                                            : curl_easy_strerror(h->result));
        *rc = WS_EREMOTE;
        return RETRY;
    }
    if (h->status >= 200 && h->status < 300) {
        *rc = WS_OK;
        return OK;
    }
    s3_error(h->errbody, h->nerrbody, code, sizeof(code), msg, sizeof(msg));
    if (h->status >= 500 || h->status == 429 || h->status == 408) {
        ws_err_set(&req->err, WS_EREMOTE, "s3 %s %s: %ld %s: %s", o->method,
                   req->key, h->status, code[0] ? code : "error", msg);
        *rc = WS_EREMOTE;
        return RETRY;
    }
    if (h->status == 404 && strcmp(code, "NoSuchBucket") != 0) {
        ws_err_set(&req->err, WS_ENOTFOUND, "object %s does not exist",
                   req->key);
        *rc = WS_ENOTFOUND;
        return FAIL;
    }
    ws_err_set(&req->err, WS_ECONFIG, "s3 %s %s: %ld %s: %s", o->method,
               req->key, h->status, code[0] ? code : "error",
               msg[0] ? msg : "(no message)");
    *rc = WS_ECONFIG;
    return FAIL;
}

static void op_send(struct op *o);

/* Fail the operation; a multipart upload in progress is aborted first so
 * that the store does not keep (and bill) its parts. */
static void op_fail(struct op *o, int rc)
{
    if (o->upload_id == NULL || o->mp_state == MP_ABORT) {
        op_done(o, o->mp_state == MP_ABORT ? o->saved_rc : rc);
        return;
    }
    o->saved_rc = rc;
    o->mp_state = MP_ABORT;
    op_send(o);
}

static void on_backoff(uv_timer_t *t)
{
    op_send(t->data);
}

static void on_http_done(struct ws_http_req *h);

/* After an attempt: finish, retry after a back-off, or continue. */
static int settle(struct op *o, int (*next)(struct op *o))
{
    int rc;
    enum verdict v = judge(o, &rc);

    if (v == RETRY && ++o->attempt < TRIES) {
        o->req->retries++;
        uv_timer_start(&o->backoff, on_backoff,
                       (uint64_t)backoff_ms(o->attempt, o->h.retry_after),
                       0);
        return 1;
    }
    if (v != OK) {
        op_fail(o, rc);
        return 1;
    }
    o->attempt = 0;
    if (next)
        return next(o);
    return 0;
}

/* ---- the operations ------------------------------------------------------ */

static int send_http(struct op *o, int body_fd, uint64_t off, uint64_t len,
                     const void *mem, ws_sink_fn sink, void *sink_ctx)
{
    memset(&o->h, 0, sizeof(o->h));
    o->h.method = o->method;
    o->h.url = o->url;
    o->h.headers = o->hdrs;
    o->h.body_fd = body_fd;
    o->h.body_off = off;
    o->h.body_mem = mem;
    o->h.skip_verify = o->s3->skip_verify;
    o->h.body_len = len;
    o->h.sink = sink;
    o->h.sink_ctx = sink_ctx;
    o->h.done = on_http_done;
    o->h.data = o;
    ws_http_start(o->s3->http, &o->h);
    return WS_OK;
}

static int get_sink(void *ctx, const void *buf, size_t len,
                    struct ws_err *err)
{
    struct op *o = ctx;
    int rc = o->req->sink(o->req->sink_ctx, buf, len, err);

    o->delivered += len;
    return rc;
}

static int list_sink(void *ctx, const void *buf, size_t len,
                     struct ws_err *err)
{
    struct op *o = ctx;
    return ws_s3xml_feed(o->xml, buf, len, err);
}

/* The CompleteMultipartUpload document, its SHA-256 and MD5. */
static int mp_build_complete(struct op *o, struct ws_err *err)
{
    size_t cap = 64 + o->nparts * 128, n = 0;
    struct ws_hash *h;
    int rc;

    o->mp_body = malloc(cap);
    if (o->mp_body == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    n += (size_t)snprintf(o->mp_body + n, cap - n,
                          "<CompleteMultipartUpload>");
    for (size_t i = 0; i < o->nparts; i++)
        n += (size_t)snprintf(o->mp_body + n, cap - n,
                              "<Part><PartNumber>%zu</PartNumber>"
                              "<ETag>%s</ETag></Part>",
                              i + 1, o->part_etag[i]);
    n += (size_t)snprintf(o->mp_body + n, cap - n,
                          "</CompleteMultipartUpload>");
    o->mp_len = n;
    h = ws_hash_new();
    if (h == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = ws_hash_update(h, o->mp_body, n, err);
    if (rc == WS_OK)
        rc = ws_hash_final(h, o->payload_sha, o->md5, err);
    ws_hash_free(h);
    return rc;
}

/* One step of a multipart upload: initiate, each part in turn, complete;
 * or abort after a failure. */
static int mp_send(struct op *o, const char *path)
{
    struct ws_req *req = o->req;
    struct ws_kv q[2], extra[1];
    char num[16];
    uint64_t off, len;
    int rc;

    switch (o->mp_state) {
    case MP_NONE:
        o->mp_state = MP_INIT;
        /* fall through */
    case MP_INIT:
        ws_sha256_hex("", 0, o->payload_sha);
        q[0] = (struct ws_kv){"uploads", ""};
        ws_s3xml_free(o->xml);
        o->xml = ws_s3xml_new(WS_S3XML_INITIATE);
        rc = o->xml ? sign(o, "POST", path, q, 1, NULL, 0, &req->err)
                    : ws_err_set(&req->err, WS_ENOMEM, "out of memory");
        return rc == WS_OK ? send_http(o, -1, 0, 0, NULL, list_sink, o)
                           : rc;
    case MP_PART:
        snprintf(num, sizeof(num), "%zu", o->part + 1);
        q[0] = (struct ws_kv){"partNumber", num};
        q[1] = (struct ws_kv){"uploadId", o->upload_id};
        memcpy(o->payload_sha, o->part_sha[o->part], WS_SHA256_HEX);
        extra[0] = (struct ws_kv){"content-md5", o->part_md5[o->part]};
        off = (uint64_t)o->part * o->part_size;
        len = o->size - off < o->part_size ? o->size - off : o->part_size;
        rc = sign(o, "PUT", path, q, 2, extra, 1, &req->err);
        return rc == WS_OK ? send_http(o, o->fd, off, len, NULL, NULL, NULL)
                           : rc;
    case MP_COMPLETE:
        rc = o->mp_body ? WS_OK : mp_build_complete(o, &req->err);
        q[0] = (struct ws_kv){"uploadId", o->upload_id};
        extra[0] = (struct ws_kv){"content-md5", o->md5};
        ws_s3xml_free(o->xml);
        o->xml = ws_s3xml_new(WS_S3XML_COMPLETE);
        if (rc == WS_OK && o->xml == NULL)
            rc = ws_err_set(&req->err, WS_ENOMEM, "out of memory");
        if (rc == WS_OK)
            rc = sign(o, "POST", path, q, 1, extra, 1, &req->err);
        return rc == WS_OK ? send_http(o, -1, 0, o->mp_len, o->mp_body,
                                       list_sink, o)
                           : rc;
    default: /* MP_ABORT: best effort, once */
        ws_sha256_hex("", 0, o->payload_sha);
        q[0] = (struct ws_kv){"uploadId", o->upload_id};
        rc = sign(o, "DELETE", path, q, 1, NULL, 0, NULL);
        return rc == WS_OK ? send_http(o, -1, 0, 0, NULL, NULL, NULL) : rc;
    }
}

/* Append s to the document, XML-escaped. */
static size_t xml_escape(char *out, size_t cap, size_t n, const char *s)
{
    for (; *s && n + 7 < cap; s++) {
        const char *e = *s == '&'    ? "&amp;"
                        : *s == '<'  ? "&lt;"
                        : *s == '>'  ? "&gt;"
                        : *s == '"'  ? "&quot;"
                        : *s == '\'' ? "&apos;"
                                     : NULL;
        if (e) {
            memcpy(out + n, e, strlen(e));
            n += strlen(e);
        } else {
            out[n++] = *s;
        }
    }
    return n;
}

/* One DeleteObjects request for the next batch of listed keys. */
static int del_send(struct op *o)
{
    struct ws_req *req = o->req;
    size_t end = o->delpos + DELETE_BATCH, cap, n = 0;
    struct ws_kv q[1], extra[1];
    char path[300], fk[1100];
    struct ws_hash *h;
    int rc;

    if (end > o->dellist.n)
        end = o->dellist.n;
    cap = 128 + (end - o->delpos) * (6 * 1100 + 32);
    free(o->delbody);
    o->delbody = malloc(cap);
    if (o->delbody == NULL)
        return ws_err_set(&req->err, WS_ENOMEM, "out of memory");
    n += (size_t)snprintf(o->delbody, cap, "<Delete><Quiet>true</Quiet>");
    for (size_t i = o->delpos; i < end; i++) {
        if (full_key(o->s3, o->dellist.v[i].key, fk, sizeof(fk)) != 0)
            return ws_err_set(&req->err, WS_EUSAGE, "s3: key too long");
        n += (size_t)snprintf(o->delbody + n, cap - n, "<Object><Key>");
        n = xml_escape(o->delbody, cap, n, fk);
        n += (size_t)snprintf(o->delbody + n, cap - n, "</Key></Object>");
    }
    n += (size_t)snprintf(o->delbody + n, cap - n, "</Delete>");
    o->ndel = end - o->delpos;
    h = ws_hash_new();
    rc = h ? ws_hash_update(h, o->delbody, n, &req->err)
           : ws_err_set(&req->err, WS_ENOMEM, "out of memory");
    if (rc == WS_OK)
        rc = ws_hash_final(h, o->payload_sha, o->md5, &req->err);
    ws_hash_free(h);
    snprintf(path, sizeof(path), "/%s",
             o->s3->path_style ? o->s3->bucket : "");
    q[0] = (struct ws_kv){"delete", ""};
    extra[0] = (struct ws_kv){"content-md5", o->md5};
    ws_s3xml_free(o->xml);
    o->xml = ws_s3xml_new(WS_S3XML_DELETE);
    if (rc == WS_OK && o->xml == NULL)
        rc = ws_err_set(&req->err, WS_ENOMEM, "out of memory");
    if (rc == WS_OK)
        rc = sign(o, "POST", path, q, 1, extra, 1, &req->err);
    if (rc == WS_OK)
        send_http(o, -1, 0, n, o->delbody, list_sink, o);
    return rc;
}

/* A DeleteObjects answer: any per-key error fails the operation. */
static int del_next(struct op *o)
{
    struct ws_req *req = o->req;
    const struct ws_s3xml_delerr *e;
    size_t ne = 0, nd;
    int rc = ws_s3xml_finish(o->xml, &req->err);

    e = rc == WS_OK ? ws_s3xml_delete_errors(o->xml, &ne, &nd) : NULL;
    if (rc == WS_OK && ne > 0)
        rc = ws_err_set(&req->err, WS_EREMOTE,
                        "deleting object %s: %s - %s (%zu errors in all)",
                        e[0].key, e[0].code, e[0].message, ne);
    if (rc == WS_OK) {
        o->delpos += o->ndel;
        if (o->delpos < o->dellist.n) {
            op_send(o);
            return 1;
        }
    }
    if (rc != WS_OK)
        op_fail(o, rc);
    else
        op_done(o, WS_OK);
    return 1;
}

static void op_send(struct op *o)
{
    struct ws_req *req = o->req;
    char path[1200], prefix[1100];
    struct ws_kv extra[1], q[4];
    size_t nq = 0;
    int rc;

    if (req->type == WS_REQ_DEL && o->deleting) {
        rc = del_send(o);
    } else if (req->type == WS_REQ_LIST || req->type == WS_REQ_DEL) {
        if (full_key(o->s3, req->key, prefix, sizeof(prefix)) != 0)
            return op_done(o, ws_err_set(&req->err, WS_EUSAGE,
                                         "s3: prefix too long"));
        ws_sha256_hex("", 0, o->payload_sha);
        snprintf(path, sizeof(path), "/%s",
                 o->s3->path_style ? o->s3->bucket : "");
        if (o->token)
            q[nq++] = (struct ws_kv){"continuation-token", o->token};
        q[nq++] = (struct ws_kv){"list-type", "2"};
        if (o->s3->max_keys[0])
            q[nq++] = (struct ws_kv){"max-keys", o->s3->max_keys};
        q[nq++] = (struct ws_kv){"prefix", prefix};
        ws_s3xml_free(o->xml);
        o->xml = ws_s3xml_new(WS_S3XML_LIST);
        if (o->xml == NULL)
            return op_done(o, ws_err_set(&req->err, WS_ENOMEM,
                                         "out of memory"));
        rc = sign(o, "GET", path, q, nq, NULL, 0, &req->err);
        if (rc == WS_OK)
            send_http(o, -1, 0, 0, NULL, list_sink, o);
    } else if (obj_path(o->s3, req->key, path, sizeof(path)) != 0) {
        rc = ws_err_set(&req->err, WS_EUSAGE, "s3: key too long: %s",
                        req->key);
    } else if (req->type == WS_REQ_GET) {
        ws_sha256_hex("", 0, o->payload_sha);
        snprintf(o->range, sizeof(o->range), "bytes=%llu-",
                 (unsigned long long)o->delivered);
        extra[0] = (struct ws_kv){"range", o->range};
        rc = sign(o, "GET", path, NULL, 0, extra, o->delivered > 0,
                  &req->err);
        if (rc == WS_OK)
            send_http(o, -1, 0, 0, NULL, get_sink, o);
    } else if (o->nparts > 1) {
        rc = mp_send(o, path);
    } else {
        extra[0] = (struct ws_kv){"content-md5", o->md5};
        rc = sign(o, "PUT", path, NULL, 0, extra, 1, &req->err);
        if (rc == WS_OK)
            send_http(o, o->fd, 0, o->size, NULL, NULL, NULL);
    }
    if (rc != WS_OK)
        op_fail(o, rc);
}

/* A LIST page arrived: take its objects, then the next page or done. */
static int list_next(struct op *o)
{
    struct ws_req *req = o->req;
    char prefix[1100];
    char *next = NULL;
    int truncated = 0, rc;

    rc = ws_s3xml_finish(o->xml, &req->err);
    if (rc == WS_OK && full_key(o->s3, req->key, prefix, sizeof(prefix)))
        rc = ws_err_set(&req->err, WS_EUSAGE, "s3: prefix too long");
    if (rc == WS_OK) {
        /* Keys come back relative to the request's prefix; the caller
         * wants them relative to the replica root. */
        size_t first = req->list.n;
        rc = ws_s3xml_list_take(o->xml, prefix, &req->list, &truncated,
                                &next, &req->err);
        /* The full key was root "/" req->key rest: the key relative to
         * the root is req->key followed by rest, exactly. */
        for (size_t i = first; rc == WS_OK && i < req->list.n; i++) {
            size_t a = strlen(req->key), b = strlen(req->list.v[i].key);
            char *k = malloc(a + b + 1);
            if (k == NULL) {
                rc = ws_err_set(&req->err, WS_ENOMEM, "out of memory");
                break;
            }
            memcpy(k, req->key, a);
            memcpy(k + a, req->list.v[i].key, b + 1);
            free(req->list.v[i].key);
            req->list.v[i].key = k;
        }
    }
    if (rc == WS_OK && truncated &&
        ((o->token && strcmp(o->token, next) == 0) || ++o->pages > MAX_PAGES))
        rc = ws_err_set(&req->err, WS_EREMOTE,
                        "s3 list %s: the server repeated continuation "
                        "token \"%s\"", req->key, next);
    if (rc == WS_OK && !truncated && req->type == WS_REQ_DEL) {
        /* Listed everything under the prefix: now delete it. */
        o->dellist = req->list;
        memset(&req->list, 0, sizeof(req->list));
        o->deleting = 1;
        o->delpos = 0;
        if (o->dellist.n == 0)
            op_done(o, WS_OK);
        else
            op_send(o);
        return 1;
    }
    if (rc != WS_OK || !truncated) {
        free(next);
        op_done(o, rc);
        return 1;
    }
    free(o->token);
    o->token = next;
    op_send(o);
    return 1;
}

/* A multipart step succeeded: go on to the next one. */
static int mp_next(struct op *o)
{
    struct ws_req *req = o->req;
    const char *v;
    int rc = WS_OK;

    switch (o->mp_state) {
    case MP_INIT:
        rc = ws_s3xml_finish(o->xml, &req->err);
        v = rc == WS_OK ? ws_s3xml_field(o->xml, WS_S3XML_UPLOAD_ID) : NULL;
        o->part_etag = calloc(o->nparts, sizeof(*o->part_etag));
        if (rc == WS_OK && (v == NULL || o->part_etag == NULL ||
                            (o->upload_id = strdup(v)) == NULL))
            rc = ws_err_set(&req->err, WS_EREMOTE,
                            "s3 %s: no upload id", req->key);
        o->mp_state = MP_PART;
        o->part = 0;
        break;
    case MP_PART:
        if (o->h.etag[0] == '\0' ||
            strlen(o->h.etag) >= sizeof(o->part_etag[0])) {
            rc = ws_err_set(&req->err, WS_EREMOTE,
                            "s3 %s: part %zu: no ETag", req->key,
                            o->part + 1);
            break;
        }
        memcpy(o->part_etag[o->part], o->h.etag, strlen(o->h.etag) + 1);
        if (++o->part == o->nparts)
            o->mp_state = MP_COMPLETE;
        break;
    default: /* MP_COMPLETE: an Error document with a 200 fails here */
        rc = ws_s3xml_finish(o->xml, &req->err);
        if (rc == WS_OK) {
            req->put_size = o->size;
            op_done(o, WS_OK);
            return 1;
        }
    }
    if (rc != WS_OK)
        op_fail(o, rc);
    else
        op_send(o);
    return 1;
}

static void on_http_done(struct ws_http_req *h)
{
    struct op *o = h->data;

    if (o->req->type == WS_REQ_DEL && o->deleting) {
        settle(o, del_next);
        return;
    }
    if (o->req->type == WS_REQ_LIST || o->req->type == WS_REQ_DEL) {
        settle(o, list_next);
        return;
    }
    if (o->mp_state == MP_ABORT) {
        op_fail(o, o->saved_rc);
        return;
    }
    if (o->req->type == WS_REQ_PUT && o->nparts > 1) {
        settle(o, mp_next);
        return;
    }
    if (settle(o, NULL))
        return;
    if (o->req->type == WS_REQ_PUT)
        o->req->put_size = o->size;
    op_done(o, WS_OK);
}

/* PUT, first step, on the thread pool: produce the bytes into an unlinked
 * staging file, hashing as they go. */
struct stage {
    struct op *o;
    struct ws_hash *hash;  /* the whole object */
    struct ws_hash *part;  /* the current part */
    size_t cap;            /* parts allocated */
};

/* Close the current part's hash into the part arrays. */
static int part_close(struct stage *st, struct ws_err *err)
{
    struct op *o = st->o;
    int rc;

    if (st->part == NULL)
        return WS_OK;
    if (o->nparts == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 16;
        void *a = realloc(o->part_sha, cap * sizeof(*o->part_sha));
        void *b = a ? realloc(o->part_md5, cap * sizeof(*o->part_md5)) : NULL;
        if (a)
            o->part_sha = a;
        if (b == NULL)
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        o->part_md5 = b;
        st->cap = cap;
    }
    rc = ws_hash_final(st->part, o->part_sha[o->nparts],
                       o->part_md5[o->nparts], err);
    ws_hash_free(st->part);
    st->part = NULL;
    o->nparts++;
    return rc;
}

static int stage_sink(void *ctx, const void *buf, size_t len,
                      struct ws_err *err)
{
    struct stage *st = ctx;
    struct op *o = st->o;
    const char *p = buf;
    int rc = ws_fs_pwrite(o->fd, buf, len, o->size, err);

    if (rc != WS_OK)
        return ws_err_wrap(err, "s3 staging file");
    rc = ws_hash_update(st->hash, buf, len, err);
    while (rc == WS_OK && len > 0) {
        uint64_t in_part = o->size % o->part_size;
        size_t n = o->part_size - in_part < len ? o->part_size - in_part
                                                : len;
        if (st->part == NULL && (st->part = ws_hash_new()) == NULL)
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        rc = ws_hash_update(st->part, p, n, err);
        o->size += n;
        p += n;
        len -= n;
        if (rc == WS_OK && o->size % o->part_size == 0)
            rc = part_close(st, err);
    }
    return rc;
}

static void on_stage_work(uv_work_t *w)
{
    struct op *o = w->data;
    struct ws_req *req = o->req;
    const char *dir = getenv("TMPDIR");
    struct stage st = {o, ws_hash_new(), NULL, 0};
    char path[4096];

    snprintf(path, sizeof(path), "%s/walship-s3-XXXXXX",
             dir && dir[0] ? dir : "/tmp");
    o->fd = mkostemp(path, O_CLOEXEC);
    if (o->fd < 0 || st.hash == NULL) {
        req->rc = ws_err_set(&req->err, WS_EIO, "s3 staging file %s: %s",
                             path, strerror(errno));
        ws_hash_free(st.hash);
        return;
    }
    unlink(path);
    req->rc = req->produce(req->produce_ctx, stage_sink, &st, &req->err);
    if (req->rc == WS_OK)
        req->rc = part_close(&st, &req->err);
    if (req->rc == WS_OK)
        req->rc = ws_hash_final(st.hash, o->payload_sha, o->md5, &req->err);
    if (req->rc == WS_OK && o->nparts > MAX_PARTS)
        req->rc = ws_err_set(&req->err, WS_EUSAGE,
                             "s3: %s is too large (%llu bytes)", req->key,
                             (unsigned long long)o->size);
    ws_hash_free(st.hash);
    ws_hash_free(st.part);
}

static void on_stage_done(uv_work_t *w, int status)
{
    struct op *o = w->data;

    if (status != 0 && o->req->rc == WS_OK)
        o->req->rc = ws_err_set(&o->req->err, WS_EIO, "cancelled");
    if (o->req->rc != WS_OK)
        op_done(o, o->req->rc);
    else
        op_send(o);
}

static void s3_submit(struct ws_replica *r, struct ws_req *req)
{
    struct op *o = calloc(1, sizeof(*o));

    if (o == NULL) {
        req->rc = ws_err_set(&req->err, WS_ENOMEM, "out of memory");
        ws_replica_done(req);
        return;
    }
    o->req = req;
    o->s3 = r->ctx;
    o->fd = -1;
    o->part_size = ((struct s3 *)r->ctx)->part_size;
    uv_timer_init(r->loop, &o->backoff);
    o->backoff.data = o;
    switch (req->type) {
    case WS_REQ_PUT:
        o->work.data = o;
        if (uv_queue_work(r->loop, &o->work, on_stage_work, on_stage_done))
            op_done(o, ws_err_set(&req->err, WS_EIO, "queue work failed"));
        break;
    case WS_REQ_GET:
    case WS_REQ_LIST:
    case WS_REQ_DEL:
        op_send(o);
        break;
    }
}

/* ---- set-up ---------------------------------------------------------------- */

static const char *env2(const char *a, const char *b)
{
    const char *v = getenv(a);

    if (v == NULL || v[0] == '\0')
        v = getenv(b);
    return v && v[0] ? v : NULL;
}

static int s3_open(struct ws_replica *r, struct ws_err *err)
{
    const struct ws_replica_config *c = r->cfg;
    struct s3 *s = calloc(1, sizeof(*s));
    const char *ep = c->endpoint, *p;
    int rc;

    if (s == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    r->ctx = s;
    if (c->bucket == NULL || c->bucket[0] == '\0')
        return ws_err_set(err, WS_ECONFIG, "bucket required for s3 replica");
    snprintf(s->bucket, sizeof(s->bucket), "%s", c->bucket);
    s->skip_verify = c->skip_verify;
    /* Test hook: small parts, to exercise multipart uploads. */
    s->part_size = PART_SIZE;
    p = getenv("WALSHIP_TEST_S3_PART_SIZE");
    if (p && strtoull(p, NULL, 10) >= 1024)
        s->part_size = strtoull(p, NULL, 10);
    /* Test hook: small listing pages, to exercise pagination. */
    p = getenv("WALSHIP_TEST_S3_MAX_KEYS");
    if (p && strspn(p, "0123456789") == strlen(p) && strlen(p) < 8)
        snprintf(s->max_keys, sizeof(s->max_keys), "%s", p);
    p = c->path ? c->path : "";
    while (*p == '/')
        p++;
    snprintf(s->root, sizeof(s->root), "%s", p);
    while (s->root[0] && s->root[strlen(s->root) - 1] == '/')
        s->root[strlen(s->root) - 1] = '\0';
    s->region = c->region ? c->region
                          : env2("AWS_REGION", "AWS_DEFAULT_REGION");
    if (s->region == NULL)
        s->region = "us-east-1";
    s->ak = c->access_key_id ? c->access_key_id
                             : env2("AWS_ACCESS_KEY_ID",
                                    "LITESTREAM_ACCESS_KEY_ID");
    s->sk = c->secret_access_key ? c->secret_access_key
                                 : env2("AWS_SECRET_ACCESS_KEY",
                                        "LITESTREAM_SECRET_ACCESS_KEY");
    s->token = env2("AWS_SESSION_TOKEN", "AWS_SESSION_TOKEN");
    if (s->ak == NULL || s->sk == NULL)
        return ws_err_set(err, WS_ECONFIG,
                          "s3 replica %s: no credentials (set "
                          "access-key-id and secret-access-key, or "
                          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
                          c->name);
    if (strlen(c->bucket) >= sizeof(s->bucket) ||
        strlen(s->region) > 64)
        return ws_err_set(err, WS_ECONFIG,
                          "s3 replica %s: bucket or region name too long",
                          c->name);
    if (ep) {
        /* A custom endpoint: path style unless told otherwise. */
        const char *h = strstr(ep, "://");
        char hostport[256];
        snprintf(hostport, sizeof(hostport), "%s", h ? h + 3 : ep);
        hostport[strcspn(hostport, "/")] = '\0';
        s->path_style = c->force_path_style != 0;
        if (s->path_style)
            snprintf(s->host, sizeof(s->host), "%s", hostport);
        else
            snprintf(s->host, sizeof(s->host), "%s.%s", s->bucket,
                     hostport);
        snprintf(s->base, sizeof(s->base), "%.*s%s",
                 h ? (int)(h + 3 - ep) : 0, ep, s->host);
        if (h == NULL)
            snprintf(s->base, sizeof(s->base), "https://%s", s->host);
    } else {
        /* AWS: virtual-hosted style unless path style is asked for. */
        s->path_style = c->force_path_style == 1;
        if (s->path_style)
            snprintf(s->host, sizeof(s->host), "s3.%s.amazonaws.com",
                     s->region);
        else
            snprintf(s->host, sizeof(s->host), "%s.s3.%s.amazonaws.com",
                     s->bucket, s->region);
        snprintf(s->base, sizeof(s->base), "https://%s", s->host);
    }
    rc = ws_http_new(r->loop, 16, &s->http, err);
    return rc;
}

static void s3_describe(const struct ws_replica *r, char *buf, size_t n)
{
    const struct s3 *s = r->ctx;

    snprintf(buf, n, "bucket=%s path=%s region=%s endpoint=%s%s", s->bucket,
             s->root, s->region, s->base,
             s->skip_verify ? " skip-verify=true (TLS NOT VERIFIED)" : "");
}

static void s3_free(struct ws_replica *r)
{
    struct s3 *s = r->ctx;

    if (s == NULL)
        return;
    ws_http_free(s->http);
    free(s);
}

const struct ws_replica_ops ws_replica_s3_ops = {
    "s3", s3_open, s3_submit, s3_describe, s3_free,
};
