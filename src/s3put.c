/*
 * s3put.c: one PUT to S3 as a pipeline of parts (see s3put.h).
 *
 * Three kinds of thread touch a PUT.  The producer thread runs
 * req->produce into put_sink, which fills part buffers; hand_over()
 * passes each full buffer to the loop (a ring under `mu`, then
 * uv_async_send) and waits on `cv` until a buffer is free again, or
 * until the upload has failed (`stop`).  The last buffer it hashes
 * itself, since nothing is left to overlap with.  Pool threads hash the
 * other parts (on_hash_work: SHA-256 for the signature, MD5 for
 * Content-MD5).  The loop thread does everything else, in put_pump(),
 * the one place that decides: it takes handed-over parts, sends each
 * hashed part (a single PutObject when part 1 is also the last, else an
 * UploadPart once the upload id is known), initiates and completes the
 * multipart upload, and ends the PUT -- aborting the upload first after
 * a failure -- once nothing is under way: no producer, no hash, no part
 * or step request.  A buffer goes back to the producer (release) only
 * when its request is over, since curl reads the body from it.
 *
 * Each part request has its own ws_s3_call, so parts are retried (with
 * back-off) on their own; a part or step that fails for good, or the
 * producer failing, marks the PUT failed: no new part is sent, the ones
 * under way finish, and AbortMultipartUpload (retried like any request;
 * a failure is added to the message) leaves no orphan parts.  The first
 * failure is the error reported.
 *
 * What a PUT's answer must prove.  A 2xx alone does not: a store that
 * does not check Content-MD5 (s3rver, some S3-compatible servers)
 * behind anything that cuts a request body short stores the part it
 * received and answers 200.  The ETag of a plain PutObject or
 * UploadPart is the hex MD5 of the bytes stored (quoted), so an answer
 * counts only when its ETag is that of the bytes sent; one with another
 * MD5 is retried like a 5xx (the retry overwrites the object), and so is
 * one without an ETag, which proves nothing.  An ETag that is not 32 hex
 * digits, or comes with x-amz-server-side-encryption aws:kms (or
 * aws:kms:dsse) or with a customer key's algorithm (SSE-C), is not an
 * MD5 and is taken as it is: S3 checked Content-MD5 itself.
 *
 * Sizes: parts are PART_MIN (8 MiB; S3's minimum is 5 MiB), or larger
 * when req->size_hint says 10,000 parts could not hold twice the object,
 * up to PART_MAX (64 MiB: objects up to 625 GiB).  There are MAX_BUFS
 * buffers (5: 40 MiB) of 8 MiB parts, fewer of larger ones (about
 * PART_BUDGET in all, at least 2: 128 MiB at most); each grows from
 * BUF_MIN as it fills, so small objects stay small.  All of them may be
 * in flight while the producer waits.
 */
#include "ws/s3put.h"
#include "ws/crashpt.h"
#include "ws/digest.h"
#include "ws/s3xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PART_MIN (8ULL << 20)     /* bytes of a part, at least */
#define PART_MAX (64ULL << 20)    /* bytes of a part, at most */
#define PART_BUDGET (64ULL << 20) /* part buffers, bytes, about */
#define MAX_BUFS 5                /* part buffers, at most */
#define MAX_PARTS 10000           /* S3's limit */
#define BUF_MIN (64 * 1024)       /* a part buffer's first size */
#define ETAG_MAX 80

/* Where a PUT is, as the loop thread sees it. */
enum mpstate {
    MP_NONE,     /* nothing sent yet */
    MP_SINGLE,   /* one PutObject */
    MP_INIT,     /* CreateMultipartUpload in flight */
    MP_PART,     /* upload id known: parts go up */
    MP_COMPLETE, /* CompleteMultipartUpload in flight */
    MP_DONE,     /* the object is stored */
    MP_ABORT     /* AbortMultipartUpload in flight, after a failure */
};

/* Where a part buffer is, as the loop thread sees it. */
enum phase { PH_IDLE, PH_HASHING, PH_WAITING, PH_SENDING };

struct ws_s3put;

/* A part buffer.  The producer thread fills it; from the hand-over
 * until its upload is done, the loop thread has it. */
struct part {
    struct ws_s3put *u;
    uint8_t *buf;
    size_t len, cap;
    size_t num;              /* part number, from 1; set at the hand-over */
    int last;                /* nothing follows: hashed by the producer */
    int held;                /* under put.mu: filling, or handed over */
    enum phase phase;        /* loop thread */
    char sha[WS_SHA256_HEX]; /* of the bytes, hex */
    char md5[WS_MD5_B64];    /* of the bytes, base64 */
    struct ws_s3_call *c;    /* the UploadPart, or the single PutObject:
                              * made at the first send (loop thread) */
    uv_work_t work;          /* hashing */
    int hash_rc;
    struct ws_err hash_err;
};

/* A PUT's pipeline (see the top of the file). */
struct ws_s3put {
    struct ws_req *req;
    struct ws_s3 *s3;
    uv_loop_t *loop;
    struct ws_s3_call *c; /* the steps (initiate, complete, abort):
                           * made at the first */
    struct ws_s3xml *xml; /* the answer to a step */
    int closing;          /* handles still to close before free */
    struct part *parts;
    size_t nbuf; /* part buffers */
    uint64_t part_size;
    uv_thread_t thread; /* the producer */
    /* Shared with the producer thread, under mu. */
    uv_mutex_t mu;
    uv_cond_t cv;         /* a buffer came free, or stop */
    struct part **handed; /* ring of handed-over parts, oldest first */
    size_t h0, nh;
    size_t nparts; /* parts handed over */
    int stop;      /* the upload failed: produce no more */
    int produced;  /* the producer has returned... */
    int prod_rc;   /* ...with this */
    struct ws_err prod_err;
    /* The producer thread's. */
    struct part *fill;
    /* The loop thread's. */
    uv_async_t async;
    int producing; /* the thread has not been joined */
    uint64_t size; /* bytes taken */
    size_t ntaken; /* parts taken */
    int multi;     /* a part that is not the last: multipart */
    size_t done;   /* parts uploaded */
    size_t busy;   /* hashes and part uploads under way */
    int main_busy; /* a step under way */
    enum mpstate mp;
    char (*etags)[ETAG_MAX]; /* by part number - 1 */
    size_t netags;
    char *upload_id;
    char *mp_body; /* the CompleteMultipartUpload document */
    size_t mp_len;
    int failed; /* for good: abort, then report fail_rc */
    int fail_rc;
    int ended; /* the request is done */
};

static void put_pump(struct ws_s3put *u);
static void put_step_send(struct ws_s3put *u);
static void put_step_done(struct ws_s3put *u);
static int xml_sink(void *ctx, const void *buf, size_t len, struct ws_err *err);
static void on_step_http(struct ws_http_req *h);
static void put_end(struct ws_s3put *u, int rc);
static void on_part_backoff(uv_timer_t *tm);
static void on_step_backoff(uv_timer_t *t);

/* A call of u's (loop thread), its back-off calling resend(data); NULL
 * when out of memory.  Closed by put_end, freed by put_free. */
static struct ws_s3_call *call_new(struct ws_s3put *u, void *data,
                                   uv_timer_cb resend)
{
    struct ws_s3_call *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    uv_timer_init(u->loop, &c->backoff);
    c->backoff.data = data;
    c->resend = resend;
    return c;
}

static void on_closed(uv_handle_t *h);

/* The headers go now: by the close callback the client that made them
 * may be gone (libuv runs close callbacks on a later loop turn). */
static void call_close(struct ws_s3put *u, struct ws_s3_call *c)
{
    if (c == NULL)
        return;
    ws_s3_call_clear(u->s3, c);
    u->closing++;
    c->backoff.data = u;
    uv_close((uv_handle_t *)&c->backoff, on_closed);
}

/* ---- the producer thread -------------------------------------------- */

static int hash_part(struct part *t, struct ws_err *err)
{
    struct ws_hash *h = ws_hash_new();
    int rc = h ? ws_hash_update(h, t->buf, t->len, err)
               : ws_err_set(err, WS_ENOMEM, "out of memory");

    if (rc == WS_OK)
        rc = ws_hash_final(h, t->sha, t->md5, err);
    ws_hash_free(h);
    return rc;
}

/* A buffer no one holds, or NULL (with mu held). */
static struct part *free_part(struct ws_s3put *u)
{
    for (size_t i = 0; i < u->nbuf; i++)
        if (!u->parts[i].held)
            return &u->parts[i];
    return NULL;
}

/*
 * Hand the buffer being filled to the loop: the last one, hashed here
 * (nothing is left to overlap with), or a full one, after which the
 * producer waits for a free buffer to fill next.  A failed upload stops
 * the producer here.
 */
static int hand_over(struct ws_s3put *u, int last, struct ws_err *err)
{
    struct part *f = u->fill;
    int rc = last ? hash_part(f, err) : WS_OK;

    if (rc != WS_OK)
        return rc;
    uv_mutex_lock(&u->mu);
    if (u->stop)
        rc = ws_err_set(err, WS_EREMOTE, "s3 PUT %s: upload stopped",
                        u->req->key);
    else if (u->nparts == MAX_PARTS)
        rc = ws_err_set(err, WS_EUSAGE,
                        "s3 PUT %s: more than %d parts of "
                        "%llu bytes",
                        u->req->key, MAX_PARTS,
                        (unsigned long long)u->part_size);
    if (rc == WS_OK) {
        f->num = ++u->nparts;
        f->last = last;
        u->handed[(u->h0 + u->nh++) % u->nbuf] = f;
        u->fill = NULL;
        while (!last && !u->stop && (u->fill = free_part(u)) == NULL)
            uv_cond_wait(&u->cv, &u->mu);
        if (u->fill) {
            u->fill->held = 1;
            u->fill->len = 0;
        } else if (!last) {
            rc = ws_err_set(err, WS_EREMOTE, "s3 PUT %s: upload stopped",
                            u->req->key);
        }
    }
    uv_mutex_unlock(&u->mu);
    uv_async_send(&u->async);
    return rc;
}

/* The producer's sink: fill the buffer; a full one goes once more bytes
 * follow, so that an object of exactly one part is a single PUT. */
static int put_sink(void *ctx, const void *buf, size_t len, struct ws_err *err)
{
    struct ws_s3put *u = ctx;
    const uint8_t *b = buf;
    int rc = WS_OK;

    while (rc == WS_OK && len > 0) {
        struct part *f = u->fill;
        size_t n = u->part_size - f->len < len ? u->part_size - f->len : len;
        if (n == 0) {
            rc = hand_over(u, 0, err);
            continue;
        }
        if (f->len + n > f->cap) {
            /* Grow by doubling: small objects keep small buffers. */
            size_t cap = f->cap ? f->cap : BUF_MIN;
            uint8_t *nb;
            while (cap < f->len + n)
                cap *= 2;
            if (cap > u->part_size)
                cap = u->part_size;
            nb = realloc(f->buf, cap);
            if (nb == NULL)
                return ws_err_set(err, WS_ENOMEM, "out of memory");
            f->buf = nb;
            f->cap = cap;
        }
        memcpy(f->buf + f->len, b, n);
        f->len += n;
        b += n;
        len -= n;
    }
    return rc;
}

static void producer_main(void *arg)
{
    struct ws_s3put *u = arg;
    struct ws_req *req = u->req;
    struct ws_err err = {0};
    int rc = req->produce(req->produce_ctx, put_sink, u, &err);

    if (rc == WS_OK)
        rc = hand_over(u, 1, &err);
    uv_mutex_lock(&u->mu);
    u->produced = 1;
    u->prod_rc = rc;
    u->prod_err = err;
    uv_mutex_unlock(&u->mu);
    /* The loop joins this thread before it closes the handle. */
    uv_async_send(&u->async);
}

/* ---- the loop's side ------------------------------------------------ */

/* The first failure for good: stop the producer; put_pump aborts. */
static void put_fail(struct ws_s3put *u, int rc, const struct ws_err *err)
{

    if (u->failed)
        return;
    u->failed = 1;
    u->fail_rc = rc;
    u->req->err = *err;
    uv_mutex_lock(&u->mu);
    u->stop = 1;
    uv_cond_broadcast(&u->cv);
    uv_mutex_unlock(&u->mu);
}

/* t is uploaded or given up: the producer may fill it again. */
static void release(struct part *t)
{
    struct ws_s3put *u = t->u;

    t->phase = PH_IDLE;
    if (t->c)
        t->c->attempt = 0;
    uv_mutex_lock(&u->mu);
    t->held = 0;
    uv_cond_signal(&u->cv);
    uv_mutex_unlock(&u->mu);
}

static void on_hash_work(uv_work_t *w)
{
    struct part *t = w->data;

    t->hash_rc = hash_part(t, &t->hash_err);
}

static void on_hash_done(uv_work_t *w, int status)
{
    struct part *t = w->data;
    struct ws_s3put *u = t->u;

    u->busy--;
    if (status != 0 && t->hash_rc == WS_OK)
        t->hash_rc = ws_err_set(&t->hash_err, WS_EIO, "cancelled");
    if (t->hash_rc != WS_OK) {
        put_fail(u, t->hash_rc, &t->hash_err);
        release(t);
    } else {
        t->phase = PH_WAITING;
    }
    put_pump(u);
}

static void on_part_done(struct ws_http_req *h);

/* Send (or resend) part t: the single PutObject, or an UploadPart. */
static int part_send(struct part *t, struct ws_err *err)
{
    struct ws_s3put *u = t->u;
    struct ws_kv q[2], extra[1];
    char path[WS_S3_PATH_MAX], num[16];
    int rc;

    if (ws_s3_path(u->s3, u->req->key, path, sizeof(path)) != 0)
        return ws_err_set(err, WS_EUSAGE, "s3: key too long: %s", u->req->key);
    snprintf(num, sizeof(num), "%zu", t->num);
    q[0] = (struct ws_kv){"partNumber", num};
    q[1] = (struct ws_kv){"uploadId", u->upload_id};
    if (t->c == NULL && (t->c = call_new(u, t, on_part_backoff)) == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    memcpy(t->c->payload_sha, t->sha, sizeof(t->sha));
    extra[0] = (struct ws_kv){"content-md5", t->md5};
    rc = ws_s3_sign(u->s3, t->c, "PUT", path, q, u->mp == MP_SINGLE ? 0 : 2,
                    extra, 1, err);
    if (rc == WS_OK)
        ws_s3_send(u->s3, t->c, t->buf, t->len, NULL, NULL, on_part_done, t);
    return rc;
}

/* A part that could not be sent: give it up. */
static void part_failed(struct part *t, int rc, const struct ws_err *err)
{
    t->u->busy--;
    put_fail(t->u, rc, err);
    release(t);
}

static void on_part_backoff(uv_timer_t *tm)
{
    struct part *t = tm->data;
    struct ws_s3put *u = t->u;
    struct ws_err err = {0};
    int rc = WS_OK;

    if (u->failed) /* no use now: let the upload be aborted */
        rc = ws_err_set(&err, WS_EREMOTE, "stopped");
    else
        rc = part_send(t, &err);
    if (rc != WS_OK) {
        part_failed(t, rc, &err);
        put_pump(u);
    }
}

/* Room for part num's ETag. */
static int etag_room(struct ws_s3put *u, size_t num)
{
    size_t n = u->netags ? u->netags : 16;
    void *v;

    if (num <= u->netags)
        return WS_OK;
    while (n < num)
        n *= 2;
    v = realloc(u->etags, n * sizeof(*u->etags));
    if (v == NULL)
        return WS_ENOMEM;
    u->etags = v;
    u->netags = n;
    return WS_OK;
}

/* Does a 2xx answer to part t prove that the store kept its bytes?  See
 * "What a PUT's answer must prove" at the top of the file. */
static enum ws_s3_verdict etag_check(const struct part *t,
                                     const struct ws_http_req *h, int *rc,
                                     struct ws_err *err)
{
    const char *key = t->u->req->key, *e = h->etag;
    size_t n = strlen(e);
    uint8_t d[16];
    char b64[WS_MD5_B64];

    if (n >= ETAG_MAX) {
        *rc = ws_err_set(err, WS_EREMOTE, "s3 PUT %s: an ETag of %zu bytes "
                         "in the answer", key, n);
        return WS_S3_FAIL;
    }
    if (n >= 2 && e[0] == '"' && e[n - 1] == '"') {
        e++;
        n -= 2;
    }
    if (n == 0) {
        *rc = ws_err_set(err, WS_EREMOTE, "s3 PUT %s: no ETag in the "
                         "answer, so nothing proves the object was stored",
                         key);
        ws_err_at(err, WS_AT_REPLICA);
        return WS_S3_RETRY;
    }
    /* With KMS or customer keys the ETag is not the content's MD5. */
    if (n != 32 || strncmp(h->sse, "aws:kms", 7) == 0 ||
        strcmp(h->sse, "SSE-C") == 0)
        return WS_S3_OK;
    for (size_t i = 0; i < 16; i++) {
        int hi = ws_hex_digit(e[2 * i]), lo = ws_hex_digit(e[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return WS_S3_OK;
        d[i] = (uint8_t)(hi << 4 | lo);
    }
    ws_base64(d, sizeof(d), b64);
    if (strcmp(b64, t->md5) == 0)
        return WS_S3_OK;
    *rc = ws_err_set(err, WS_EREMOTE, "s3 PUT %s: the answer's ETag %.32s is "
                     "not the MD5 of the %zu bytes sent: the store kept "
                     "other bytes", key, e, t->len);
    ws_err_at(err, WS_AT_REPLICA);
    return WS_S3_RETRY;
}

static void on_part_done(struct ws_http_req *h)
{
    struct part *t = h->data;
    struct ws_s3put *u = t->u;
    struct ws_err err = {0};
    int rc;
    enum ws_s3_verdict v = ws_s3_judge(t->c, u->req->key, &rc, &err);

    if (v == WS_S3_OK)
        v = etag_check(t, h, &rc, &err);
    if (!u->failed && ws_s3_retry(t->c, v, &u->req->retries))
        return;
    if (v != WS_S3_OK) {
        if (u->mp != MP_SINGLE)
            ws_err_wrap(&err, "part %zu", t->num);
        part_failed(t, rc, &err);
    } else {
        if (u->mp == MP_SINGLE)
            u->mp = MP_DONE;
        else
            memcpy(u->etags[t->num - 1], h->etag, strlen(h->etag) + 1);
        u->done++;
        u->busy--;
        release(t);
        if (u->mp != MP_DONE)
            WS_CRASHPOINT("s3-between-parts");
    }
    put_pump(u);
}

/* The CompleteMultipartUpload document, its SHA-256 and MD5. */
static int mp_build_complete(struct ws_s3put *u, struct ws_err *err)
{
    size_t cap = 64 + u->ntaken * (64 + ETAG_MAX), n = 0;
    struct ws_hash *h;
    int rc;

    u->mp_body = malloc(cap);
    if (u->mp_body == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    n += (size_t)snprintf(u->mp_body + n, cap - n, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < u->ntaken; i++)
        n += (size_t)snprintf(u->mp_body + n, cap - n,
                              "<Part><PartNumber>%zu</PartNumber>"
                              "<ETag>%s</ETag></Part>",
                              i + 1, u->etags[i]);
    n +=
        (size_t)snprintf(u->mp_body + n, cap - n, "</CompleteMultipartUpload>");
    u->mp_len = n;
    h = ws_hash_new();
    if (h == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = ws_hash_update(h, u->mp_body, n, err);
    if (rc == WS_OK)
        rc = ws_hash_final(h, u->c->payload_sha, u->c->md5, err);
    ws_hash_free(h);
    return rc;
}

/* Send (or resend) the multipart step of the moment on the op's own
 * call: initiate, complete, or abort after a failure. */
static int put_step(struct ws_s3put *u, struct ws_err *err)
{
    struct ws_kv q[1], extra[1];
    char path[WS_S3_PATH_MAX];
    int rc = WS_OK;

    if (ws_s3_path(u->s3, u->req->key, path, sizeof(path)) != 0)
        return ws_err_set(err, WS_EUSAGE, "s3: key too long: %s", u->req->key);
    if (u->c == NULL && (u->c = call_new(u, u, on_step_backoff)) == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    ws_s3xml_free(u->xml);
    u->xml = NULL;
    ws_sha256_hex("", 0, u->c->payload_sha);
    q[0] = (struct ws_kv){"uploadId", u->upload_id};
    if (u->mp == MP_ABORT) {
        rc = ws_s3_sign(u->s3, u->c, "DELETE", path, q, 1, NULL, 0, err);
        if (rc == WS_OK)
            ws_s3_send(u->s3, u->c, NULL, 0, NULL, NULL, on_step_http, u);
        return rc;
    }
    if (u->mp == MP_INIT) {
        q[0] = (struct ws_kv){"uploads", ""};
        u->xml = ws_s3xml_new(WS_S3XML_INITIATE);
    } else { /* MP_COMPLETE: the document again (its hash is signed) */
        free(u->mp_body);
        u->mp_body = NULL;
        rc = mp_build_complete(u, err);
        u->xml = ws_s3xml_new(WS_S3XML_COMPLETE);
    }
    extra[0] = (struct ws_kv){"content-md5", u->c->md5};
    if (rc == WS_OK && u->xml == NULL)
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    if (rc == WS_OK)
        rc = ws_s3_sign(u->s3, u->c, "POST", path, q, 1, extra,
                        u->mp == MP_COMPLETE, err);
    if (rc == WS_OK)
        ws_s3_send(u->s3, u->c, u->mp_body,
                   u->mp == MP_COMPLETE ? u->mp_len : 0, xml_sink, u,
                   on_step_http, u);
    return rc;
}

/* The op's own call is free again; when the step was the abort, the
 * operation ends (with the failure that caused it). */
static void put_step_send(struct ws_s3put *u)
{
    struct ws_err err = {0};
    int rc = put_step(u, &err);

    if (rc == WS_OK)
        return;
    u->main_busy = 0;
    if (u->mp == MP_ABORT)
        u->mp = MP_NONE; /* nothing to wait for: end now */
    put_fail(u, rc, &err);
    put_pump(u);
}

/* The answer to a step. */
static void put_step_done(struct ws_s3put *u)
{
    struct ws_req *req = u->req;
    struct ws_err err = {0};
    const char *id;
    int rc;
    enum ws_s3_verdict v = ws_s3_judge(u->c, req->key, &rc, &err);

    if ((!u->failed || u->mp == MP_ABORT) &&
        ws_s3_retry(u->c, v, &u->req->retries))
        return;
    u->main_busy = 0;
    u->c->attempt = 0;
    if (u->mp == MP_ABORT) {
        /* Said, not failed: the upload's own failure is the error. */
        if (v != WS_S3_OK) {
            size_t n = strlen(req->err.msg);
            snprintf(req->err.msg + n, sizeof(req->err.msg) - n,
                     " (and the upload could not be aborted: %s)", err.msg);
        }
        u->mp = MP_NONE;
        put_pump(u);
        return;
    }
    if (v == WS_S3_OK) /* an Error document with a 200 fails here */
        rc = ws_s3xml_finish(u->xml, &err);
    if (rc == WS_OK && u->mp == MP_INIT) {
        id = ws_s3xml_field(u->xml, WS_S3XML_UPLOAD_ID);
        if (id == NULL || (u->upload_id = strdup(id)) == NULL)
            rc = ws_err_set(&err, WS_EREMOTE, "s3 POST %s: no upload id",
                            req->key);
        else
            u->mp = MP_PART;
    } else if (rc == WS_OK) {
        u->mp = MP_DONE;
    }
    if (rc != WS_OK)
        put_fail(u, rc, &err);
    put_pump(u);
}

/* Take what the producer handed over; join it once it has returned. */
static void put_take(struct ws_s3put *u)
{
    struct part *got[MAX_BUFS];
    size_t n = 0;
    int produced;

    uv_mutex_lock(&u->mu);
    while (u->nh > 0) {
        got[n++] = u->handed[u->h0];
        u->h0 = (u->h0 + 1) % u->nbuf;
        u->nh--;
    }
    produced = u->produced;
    uv_mutex_unlock(&u->mu);
    for (size_t i = 0; i < n; i++) {
        struct part *t = got[i];
        struct ws_err err = {0};
        u->ntaken++;
        u->size += t->len;
        u->multi |= !t->last;
        if (etag_room(u, t->num) != WS_OK) {
            put_fail(u, ws_err_set(&err, WS_ENOMEM, "out of memory"), &err);
            release(t);
        } else if (t->last) {
            t->phase = PH_WAITING; /* the producer hashed it */
        } else {
            t->phase = PH_HASHING;
            u->busy++;
            if (uv_queue_work(u->loop, &t->work, on_hash_work, on_hash_done) !=
                0) {
                ws_err_set(&err, WS_EIO, "queue work failed");
                part_failed(t, WS_EIO, &err);
            }
        }
    }
    if (produced && u->producing) {
        uv_thread_join(&u->thread);
        u->producing = 0;
        if (u->prod_rc != WS_OK)
            put_fail(u, u->prod_rc, &u->prod_err);
    }
}

/* Send every hashed part that may go now. */
static void put_send_parts(struct ws_s3put *u)
{

    for (size_t i = 0; i < u->nbuf && !u->failed; i++) {
        struct part *t = &u->parts[i];
        struct ws_err err = {0};
        int rc;
        if (t->phase != PH_WAITING)
            continue;
        if (u->mp == MP_NONE && t->num == 1 && t->last)
            u->mp = MP_SINGLE;
        if (u->mp != MP_SINGLE && u->mp != MP_PART)
            continue;
        t->phase = PH_SENDING;
        u->busy++;
        rc = part_send(t, &err);
        if (rc != WS_OK)
            part_failed(t, rc, &err);
    }
}

/*
 * The PUT's one decision point, called after every event: take new
 * parts, send what may go, initiate or complete the multipart upload,
 * and end -- aborting first after a failure -- once nothing is under way.
 */
static void put_pump(struct ws_s3put *u)
{
    int idle;

    if (u->ended)
        return;
    put_take(u);
    put_send_parts(u);
    idle = !u->producing && u->busy == 0 && !u->main_busy;
    if (!u->failed && u->mp == MP_NONE && u->multi) {
        u->mp = MP_INIT;
    } else if (!u->failed && u->mp == MP_PART && idle && u->done == u->ntaken) {
        u->mp = MP_COMPLETE;
    } else if (u->failed && idle && u->upload_id && u->mp != MP_NONE &&
               u->mp != MP_ABORT) {
        u->mp = MP_ABORT; /* once; MP_NONE after it */
    } else if (idle && (u->failed || u->mp == MP_DONE)) {
        put_end(u, u->failed ? u->fail_rc : WS_OK);
        return;
    } else {
        return;
    }
    u->main_busy = 1;
    put_step_send(u);
}

static void on_put_async(uv_async_t *a)
{
    put_pump(a->data);
}

static void on_step_http(struct ws_http_req *h)
{
    put_step_done(h->data);
}

static void on_step_backoff(uv_timer_t *t)
{
    put_step_send(t->data);
}

static int xml_sink(void *ctx, const void *buf, size_t len, struct ws_err *err)
{
    struct ws_s3put *u = ctx;
    return ws_s3xml_feed(u->xml, buf, len, err);
}

static void put_free(struct ws_s3put *u)
{
    for (size_t i = 0; u->parts && i < u->nbuf; i++) {
        free(u->parts[i].buf);
        free(u->parts[i].c);
    }
    free(u->c);
    ws_s3xml_free(u->xml);
    free(u->parts);
    free(u->handed);
    free(u->etags);
    free(u->upload_id);
    free(u->mp_body);
    uv_cond_destroy(&u->cv);
    uv_mutex_destroy(&u->mu);
    free(u);
}

static void on_closed(uv_handle_t *h)
{
    struct ws_s3put *u = h->data;

    if (--u->closing == 0)
        put_free(u);
}

/* The request is done: run its callback, then close every handle; the
 * last close frees u. */
static void put_end(struct ws_s3put *u, int rc)
{
    u->ended = 1;
    u->req->rc = rc;
    u->req->put_size = u->size;
    ws_replica_done(u->req);
    u->closing = 1;
    uv_close((uv_handle_t *)&u->async, on_closed);
    call_close(u, u->c);
    for (size_t i = 0; i < u->nbuf; i++)
        call_close(u, u->parts[i].c);
}

/* Part and buffer sizes for an object of about hint bytes. */
static void put_sizes(struct ws_s3put *u, uint64_t hint)
{
    uint64_t part = PART_MIN, nbuf;

    /* 10,000 parts hold twice the hint: room for a database that grows
     * while it is read. */
    if (hint / (MAX_PARTS / 2) >= part)
        part = (hint / (MAX_PARTS / 2) + (1 << 20)) & ~((1ULL << 20) - 1);
    if (part > PART_MAX)
        part = PART_MAX;
    if (u->s3->part_size)
        part = u->s3->part_size;
    nbuf = PART_BUDGET / part + 1;
    u->part_size = part;
    u->nbuf = (size_t)(nbuf < 2 ? 2 : nbuf > MAX_BUFS ? MAX_BUFS : nbuf);
}

void ws_s3put_start(struct ws_s3 *s3, uv_loop_t *loop, struct ws_req *req)
{
    struct ws_s3put *u = calloc(1, sizeof(*u));
    struct ws_err err = {0};

    if (u == NULL || uv_mutex_init(&u->mu) != 0) {
        free(u);
        req->rc = ws_err_set(&req->err, WS_ENOMEM, "out of memory");
        ws_replica_done(req);
        return;
    }
    u->req = req;
    u->s3 = s3;
    u->loop = loop;
    put_sizes(u, req->size_hint);
    u->parts = calloc(u->nbuf, sizeof(*u->parts));
    u->handed = calloc(u->nbuf, sizeof(*u->handed));
    if (u->parts == NULL || u->handed == NULL || uv_cond_init(&u->cv) ||
        (uv_async_init(loop, &u->async, on_put_async) &&
         (uv_cond_destroy(&u->cv), 1))) {
        free(u->parts);
        free(u->handed);
        uv_mutex_destroy(&u->mu);
        free(u);
        req->rc = ws_err_set(&req->err, WS_ENOMEM, "s3 PUT: set-up failed");
        ws_replica_done(req);
        return;
    }
    /* From here on the end goes through put_end. */
    u->async.data = u;
    for (size_t i = 0; i < u->nbuf; i++) {
        u->parts[i].u = u;
        u->parts[i].work.data = &u->parts[i];
    }
    u->fill = &u->parts[0];
    u->fill->held = 1;
    u->producing = 1;
    if (uv_thread_create(&u->thread, producer_main, u) != 0) {
        u->producing = 0;
        put_fail(u,
                 ws_err_set(&err, WS_ENOMEM, "s3 PUT %s: no thread", req->key),
                 &err);
        put_pump(u);
    }
}
