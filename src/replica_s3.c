/*
 * replica_s3.c: the S3 replica backend.
 *
 * Requests are signed with SigV4 (sigv4.c) and sent through the shared
 * curl-multi-on-libuv client (http.c); nothing blocks the loop.  Every
 * request carries the SHA-256 of its payload in x-amz-content-sha256:
 * no aws-chunked or streaming uploads.
 *
 * PUT   s3put.c: parts in memory, produced, hashed and uploaded side by
 *       side (s3put.h).
 * GET   streamed into the caller's sink; a transfer cut short is resumed
 *       with a Range request from the last byte delivered, so the sink
 *       sees one continuous stream.  Each answer is checked before its
 *       first byte is used: a 206 must carry one Content-Range that starts
 *       exactly there and runs to the end of an object of the listed size;
 *       any other 2xx is the whole object from byte 0 (a server that
 *       ignores Range), whose first bytes, already delivered, are skipped;
 *       a Content-Length other than the listed size means the object is
 *       not the one listed.  A header sent twice is refused.
 * LIST  ListObjectsV2 over the prefix, page by page; keys come back
 *       relative to the replica root.  A listing ends, or fails naming the
 *       prefix: the server may not send a continuation token twice (each
 *       is remembered by a 64-bit hash), more than MAX_EMPTY_PAGES pages
 *       without a key, or more than WS_LIST_MAX_KEYS keys in all.  With
 *       each page at most WS_S3XML_MAX_BODY bytes (s3xml.h), a listing
 *       costs memory in proportion to its keys, whatever the server does.
 * DEL   DeleteObjects (Quiet, Content-MD5) of up to 1000 exact keys a
 *       request, the keys given or those listed under the prefix.  Each
 *       key the store reports it could not delete goes back to the
 *       caller with its code and message; so does every key of a request
 *       that failed, and of those after it (they are not attempted).
 *
 * Signing, sending and the verdict on each answer (what is retried, what
 * is a configuration error) are s3.c's.
 */
#include "ws/replica.h"
#include "ws/s3.h"
#include "ws/s3put.h"
#include "ws/s3xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EMPTY_PAGES 1000 /* truncated pages without a key, in all */
#define DELETE_BATCH 1000    /* DeleteObjects takes at most 1000 keys */

/* The continuation tokens a listing has been given, by hash. */
struct tokset {
    uint64_t *v; /* open addressing; 0 is a free slot */
    size_t n, cap;
};

/* One operation in flight: lives from submit to ws_replica_done. */
struct op {
    struct ws_req *req;
    struct ws_s3 *s3;
    struct ws_s3_call c;
    /* GET resume: req->got bytes are delivered; this attempt's answer is
     * checked before its first byte, whose first `skip` bytes repeat
     * delivered ones. */
    char range[64];
    int checked;
    uint64_t skip;
    /* LIST paging. */
    struct ws_s3xml *xml;
    char *token;
    struct tokset seen;
    int empty_pages;
    /* DEL: the keys (given or listed), deleted in batches. */
    int deleting;
    char *delbody;
    size_t ndel, delpos;
    struct ws_objlist dellist;
    int del_rc;                 /* the first key's failure */
    char what[WS_KEY_MAX + 64]; /* the batch, for messages */
};

static void op_send(struct op *o);

/* Only memory: the client may be gone by now (see op_done). */
static void op_free(struct op *o)
{
    ws_s3xml_free(o->xml);
    free(o->token);
    free(o->seen.v);
    free(o->delbody);
    ws_objlist_free(&o->dellist);
    free(o);
}

static void on_backoff_closed(uv_handle_t *h)
{
    op_free(h->data);
}

/* Finish the operation: run the caller's callback, then free.  What
 * needs the client (the header list, made by its libcurl) is released
 * first: the close callback runs on a later loop turn, and a caller that
 * is done may free the replica before that. */
static void op_done(struct op *o, int rc)
{
    struct ws_req *req = o->req;

    req->rc = rc;
    ws_s3_call_clear(o->s3, &o->c);
    ws_replica_done(req);
    uv_close((uv_handle_t *)&o->c.backoff, on_backoff_closed);
}

/* ---- the tokens of a listing -------------------------------------------- */

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return h ? h : 1;
}

/* Add h; 1 if it was there already, -1 when out of memory. */
static int tokset_add(struct tokset *t, uint64_t h)
{
    size_t i;

    if (2 * (t->n + 1) > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        uint64_t *v = calloc(cap, sizeof(*v));
        if (v == NULL)
            return -1;
        for (size_t k = 0; k < t->cap; k++) {
            if (t->v[k] == 0)
                continue;
            for (i = t->v[k] & (cap - 1); v[i] != 0; i = (i + 1) & (cap - 1))
                ;
            v[i] = t->v[k];
        }
        free(t->v);
        t->v = v;
        t->cap = cap;
    }
    for (i = h & (t->cap - 1); t->v[i] != 0; i = (i + 1) & (t->cap - 1))
        if (t->v[i] == h)
            return 1;
    t->v[i] = h;
    t->n++;
    return 0;
}

/* ---- LIST, GET and DEL, on the operation's own call ---------------------- */

/* "bytes START-END/TOTAL", all decimal. */
static int parse_range(const char *s, uint64_t *start, uint64_t *end,
                       uint64_t *total)
{
    unsigned long long a, b, t;
    int n = -1;

    if (sscanf(s, "bytes %20llu-%20llu/%20llu%n", &a, &b, &t, &n) != 3 ||
        n < 0 || s[n] != '\0' || strspn(s + 6, "0123456789-/") != strlen(s + 6))
        return -1;
    *start = a, *end = b, *total = t;
    return 0;
}

/* Check the answer of this attempt before its first byte is used. */
static int get_check(struct op *o, struct ws_err *err)
{
    const struct ws_http_req *h = &o->c.h;
    const struct ws_req *req = o->req;
    uint64_t start, end, total, len;

    if (h->nrange > 1 || h->nlength > 1)
        return ws_err_set(err, WS_EREMOTE, "s3 GET %s: the answer repeats "
                          "Content-Range or Content-Length", req->key);
    if (h->status == 206) {
        if (parse_range(h->content_range, &start, &end, &total) != 0 ||
            start != req->got || end + 1 != total ||
            (req->sized && total != req->size))
            return ws_err_set(err, WS_EREMOTE, "s3 GET %s: asked for bytes "
                              "%llu- of %s, answered 206 with Content-Range "
                              "\"%.60s\"", req->key,
                              (unsigned long long)req->got,
                              req->sized ? "the listed size" : "the object",
                              h->content_range);
        return WS_OK;
    }
    /* The whole object, from byte 0. */
    if (req->sized && h->content_length[0] != '\0' &&
        (sscanf(h->content_length, "%20llu", (unsigned long long *)&len) !=
             1 ||
         len != req->size))
        return ws_err_set(err, WS_ECORRUPT, "object %s: Content-Length %.30s, "
                          "listed as %llu bytes (did it change since it was "
                          "listed?)", req->key, h->content_length,
                          (unsigned long long)req->size);
    o->skip = req->got;
    return WS_OK;
}

static int get_sink(void *ctx, const void *buf, size_t len, struct ws_err *err)
{
    struct op *o = ctx;
    const uint8_t *b = buf;
    size_t k;

    if (!o->checked) {
        int rc = get_check(o, err);
        if (rc != WS_OK)
            return rc;
        o->checked = 1;
    }
    k = len < o->skip ? len : (size_t)o->skip;
    o->skip -= k;
    if (k == len)
        return WS_OK;
    return ws_replica_deliver(o->req, b + k, len - k, err);
}

static int xml_sink(void *ctx, const void *buf, size_t len, struct ws_err *err)
{
    struct op *o = ctx;
    return ws_s3xml_feed(o->xml, buf, len, err);
}

/* DEL: every key from o->delpos on fails with msg. */
static void del_fail_rest(struct op *o, const char *msg)
{
    for (size_t i = o->delpos; i < o->dellist.n; i++)
        ws_req_delerr_add(o->req, o->dellist.v[i].key, msg);
}

/* Fail the operation for good. */
static void op_fail(struct op *o, int rc)
{
    if (o->req->type == WS_REQ_DEL && o->deleting)
        del_fail_rest(o, o->req->err.msg);
    op_done(o, rc);
}

/* After an attempt on the op's call: retry after a back-off, fail, or go
 * on with next (NULL: done). */
static void settle(struct op *o, void (*next)(struct op *o))
{
    int rc;
    enum ws_s3_verdict v = ws_s3_judge(
        &o->c, o->deleting ? o->what : o->req->key, &rc, &o->req->err);

    if (ws_s3_retry(&o->c, v, &o->req->retries))
        return;
    if (v != WS_S3_OK) {
        op_fail(o, rc);
        return;
    }
    o->c.attempt = 0;
    if (next)
        next(o);
    else
        op_done(o, WS_OK);
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

static void on_http_done(struct ws_http_req *h);

/* One DeleteObjects request for the next batch of keys. */
static int del_send(struct op *o)
{
    struct ws_req *req = o->req;
    size_t batch = o->s3->delete_batch ? o->s3->delete_batch : DELETE_BATCH;
    size_t end = o->delpos + batch, cap, n = 0;
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
        if (ws_s3_full_key(o->s3, o->dellist.v[i].key, fk, sizeof(fk)) != 0)
            return ws_err_set(&req->err, WS_EUSAGE, "s3: key too long: %s",
                              o->dellist.v[i].key);
        n += (size_t)snprintf(o->delbody + n, cap - n, "<Object><Key>");
        n = xml_escape(o->delbody, cap, n, fk);
        n += (size_t)snprintf(o->delbody + n, cap - n, "</Key></Object>");
    }
    n += (size_t)snprintf(o->delbody + n, cap - n, "</Delete>");
    o->ndel = end - o->delpos;
    snprintf(o->what, sizeof(o->what), "DeleteObjects of %zu keys from %s",
             o->ndel, o->dellist.v[o->delpos].key);
    h = ws_hash_new();
    rc = h ? ws_hash_update(h, o->delbody, n, &req->err)
           : ws_err_set(&req->err, WS_ENOMEM, "out of memory");
    if (rc == WS_OK)
        rc = ws_hash_final(h, o->c.payload_sha, o->c.md5, &req->err);
    ws_hash_free(h);
    ws_s3_path(o->s3, NULL, path, sizeof(path));
    q[0] = (struct ws_kv){"delete", ""};
    extra[0] = (struct ws_kv){"content-md5", o->c.md5};
    ws_s3xml_free(o->xml);
    o->xml = ws_s3xml_new(WS_S3XML_DELETE);
    if (rc == WS_OK && o->xml == NULL)
        rc = ws_err_set(&req->err, WS_ENOMEM, "out of memory");
    if (rc == WS_OK)
        rc = ws_s3_sign(o->s3, &o->c, "POST", path, q, 1, extra, 1, &req->err);
    if (rc == WS_OK)
        ws_s3_send(o->s3, &o->c, o->delbody, n, xml_sink, o, on_http_done, o);
    return rc;
}

/* A DeleteObjects answer: each key it names failed, with its reason;
 * then the next batch. */
static void del_next(struct op *o)
{
    struct ws_req *req = o->req;
    const struct ws_s3xml_delerr *e;
    size_t ne = 0, nd, nroot = strlen(o->s3->root);
    char msg[WS_ERR_MSG];
    int rc = ws_s3xml_finish(o->xml, &req->err);

    if (rc != WS_OK) {
        op_fail(o, rc);
        return;
    }
    e = ws_s3xml_delete_errors(o->xml, &ne, &nd);
    for (size_t i = 0; i < ne; i++) {
        /* The store names full keys; the caller's are under the root. */
        const char *k = e[i].key;
        if (nroot && strncmp(k, o->s3->root, nroot) == 0 && k[nroot] == '/')
            k += nroot + 1;
        char *code = ws_s3_masked(o->s3, e[i].code);
        char *text = ws_s3_masked(o->s3, e[i].message);
        snprintf(msg, sizeof(msg), "s3 DeleteObjects %s: %s: %s", k,
                 code ? code : "(out of memory)",
                 text && text[0] ? text : "(no message)");
        free(code);
        free(text);
        ws_req_delerr_add(req, k, msg);
        if (o->del_rc == WS_OK)
            o->del_rc = ws_err_set(&req->err, WS_EREMOTE, "%s", msg);
    }
    o->delpos += o->ndel;
    if (o->delpos < o->dellist.n)
        op_send(o);
    else
        op_done(o, o->del_rc);
}

/* A truncated page brought nkeys keys and the token next: may the
 * listing go on? */
static int list_bounds(struct op *o, size_t nkeys, const char *next)
{
    struct ws_req *req = o->req;
    int seen;

    if (nkeys == 0 && ++o->empty_pages > MAX_EMPTY_PAGES)
        return ws_err_set(&req->err, WS_EREMOTE, "s3 list %s: more than %d "
                          "pages without a key", req->key, MAX_EMPTY_PAGES);
    seen = tokset_add(&o->seen, fnv1a64(next));
    if (seen < 0)
        return ws_err_set(&req->err, WS_ENOMEM, "out of memory");
    if (seen)
        return ws_err_set(&req->err, WS_EREMOTE, "s3 list %s: the server "
                          "sent continuation token \"%.60s\" twice",
                          req->key, next);
    return WS_OK;
}

/* A LIST page arrived: take its objects, then the next page or done. */
static void list_next(struct op *o)
{
    struct ws_req *req = o->req;
    char prefix[1100];
    char *next = NULL;
    size_t first = req->list.n;
    int truncated = 0, rc;

    rc = ws_s3xml_finish(o->xml, &req->err);
    if (rc == WS_OK && ws_s3_full_key(o->s3, req->key, prefix, sizeof(prefix)))
        rc = ws_err_set(&req->err, WS_EUSAGE, "s3: prefix too long");
    if (rc == WS_OK) {
        /* Keys come back relative to the request's prefix; the caller
         * wants them relative to the replica root. */
        first = req->list.n;
        rc = ws_s3xml_list_take(o->xml, prefix, &req->list, &truncated, &next,
                                &req->err);
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
    if (rc == WS_OK && truncated)
        rc = list_bounds(o, req->list.n - first, next);
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
        return;
    }
    if (rc != WS_OK || !truncated) {
        free(next);
        op_done(o, rc);
        return;
    }
    free(o->token);
    o->token = next;
    op_send(o);
}

static int list_send(struct op *o)
{
    struct ws_req *req = o->req;
    char path[300], prefix[1100];
    struct ws_kv q[4];
    size_t nq = 0;

    if (ws_s3_full_key(o->s3, req->key, prefix, sizeof(prefix)) != 0)
        return ws_err_set(&req->err, WS_EUSAGE, "s3: prefix too long");
    ws_sha256_hex("", 0, o->c.payload_sha);
    ws_s3_path(o->s3, NULL, path, sizeof(path));
    if (o->token)
        q[nq++] = (struct ws_kv){"continuation-token", o->token};
    q[nq++] = (struct ws_kv){"list-type", "2"};
    if (o->s3->max_keys[0])
        q[nq++] = (struct ws_kv){"max-keys", o->s3->max_keys};
    q[nq++] = (struct ws_kv){"prefix", prefix};
    ws_s3xml_free(o->xml);
    o->xml = ws_s3xml_new(WS_S3XML_LIST);
    if (o->xml == NULL)
        return ws_err_set(&req->err, WS_ENOMEM, "out of memory");
    return ws_s3_sign(o->s3, &o->c, "GET", path, q, nq, NULL, 0, &req->err);
}

static int get_send(struct op *o)
{
    struct ws_req *req = o->req;
    struct ws_kv extra[1];
    char path[WS_S3_PATH_MAX];

    if (ws_s3_path(o->s3, req->key, path, sizeof(path)) != 0)
        return ws_err_set(&req->err, WS_EUSAGE, "s3: key too long: %s",
                          req->key);
    ws_sha256_hex("", 0, o->c.payload_sha);
    snprintf(o->range, sizeof(o->range), "bytes=%llu-",
             (unsigned long long)req->got);
    extra[0] = (struct ws_kv){"range", o->range};
    o->checked = 0;
    o->skip = 0;
    return ws_s3_sign(o->s3, &o->c, "GET", path, NULL, 0, extra,
                      req->got > 0, &req->err);
}

/* Send (or resend) the op's current request. */
static void op_send(struct op *o)
{
    struct ws_req *req = o->req;
    int rc;

    switch (req->type) {
    case WS_REQ_GET:
        if (req->sized && req->got > 0 && req->got == req->size) {
            op_done(o, WS_OK); /* cut off after its last byte */
            return;
        }
        rc = get_send(o);
        if (rc == WS_OK)
            ws_s3_send(o->s3, &o->c, NULL, 0, get_sink, o, on_http_done, o);
        break;
    default:
        if (o->deleting) {
            rc = del_send(o);
            break;
        }
        rc = list_send(o);
        if (rc == WS_OK)
            ws_s3_send(o->s3, &o->c, NULL, 0, xml_sink, o, on_http_done, o);
    }
    if (rc != WS_OK)
        op_fail(o, rc);
}

static void on_backoff(uv_timer_t *t)
{
    op_send(t->data);
}

static void on_http_done(struct ws_http_req *h)
{
    struct op *o = h->data;

    switch (o->req->type) {
    case WS_REQ_GET:
        settle(o, NULL);
        break;
    default:
        settle(o, o->deleting ? del_next : list_next);
    }
}

/* ---- submit ----------------------------------------------------------------
 */

static void s3_submit(struct ws_replica *r, struct ws_req *req)
{
    struct op *o;
    int rc = WS_OK;

    if (req->type == WS_REQ_PUT) {
        ws_s3put_start(r->ctx, r->loop, req);
        return;
    }
    o = calloc(1, sizeof(*o));
    if (o == NULL) {
        req->rc = ws_err_set(&req->err, WS_ENOMEM, "out of memory");
        ws_replica_done(req);
        return;
    }
    o->req = req;
    o->s3 = r->ctx;
    uv_timer_init(r->loop, &o->c.backoff);
    o->c.backoff.data = o;
    o->c.resend = on_backoff;
    /* DEL of exact keys: no listing. */
    for (size_t i = 0; req->keys && i < req->nkeys && rc == WS_OK; i++)
        if (ws_objlist_add(&o->dellist, req->keys[i], 0, 0) != WS_OK)
            rc = ws_err_set(&req->err, WS_ENOMEM, "out of memory");
    o->deleting = req->type == WS_REQ_DEL && req->keys != NULL;
    if (req->type == WS_REQ_DEL && !req->keys && req->key[0] == '\0')
        rc = ws_err_set(&req->err, WS_EUSAGE,
                        "refusing to delete the whole replica");
    if (rc != WS_OK || (o->deleting && o->dellist.n == 0))
        op_done(o, rc);
    else
        op_send(o);
}

/* ---- set-up ----------------------------------------------------------------
 */

static int s3_open(struct ws_replica *r, struct ws_err *err)
{
    struct ws_s3 *s = NULL;
    int rc = ws_s3_new(r->loop, r->cfg, &s, err);

    r->ctx = s;
    return rc;
}

static void s3_describe(const struct ws_replica *r, char *buf, size_t n)
{
    ws_s3_describe(r->ctx, buf, n);
}

static void s3_free(struct ws_replica *r)
{
    ws_s3_free(r->ctx);
}

const struct ws_replica_ops ws_replica_s3_ops = {
    "s3", s3_open, s3_submit, s3_describe, s3_free,
};
