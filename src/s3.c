/*
 * s3.c: the S3 client core (see s3.h): set-up from the replica's
 * configuration, addressing, SigV4 signing, sending through http.c, and
 * the verdict on each answer.
 */
#include "ws/log.h"
#include "ws/s3.h"
#include "ws/s3xml.h"
#include "ws/secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define BACKOFF_BASE_MS 250
#define BACKOFF_CAP_MS 30000

/* ---- set-up ----------------------------------------------------------------
 */

/* The setting if set, else environment variable a, else b; *from says
 * which (for messages, which never show the value). */
static const char *cred(const char *set, const char *key, const char *a,
                        const char *b, const char **from)
{
    const char *v = getenv(a);

    *from = key;
    if (set)
        return set;
    *from = a;
    if (v == NULL || v[0] == '\0') {
        v = getenv(b);
        *from = b;
    }
    return v && v[0] ? v : NULL;
}

int ws_s3_new(uv_loop_t *loop, const struct ws_replica_config *c,
              struct ws_s3 **out, struct ws_err *err)
{
    struct ws_s3 *s = calloc(1, sizeof(*s));
    const char *ep = c->endpoint, *p, *from, *ak_from, *tok_from;
    int rc;

    if (s == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    *out = s;
    if (c->bucket == NULL || c->bucket[0] == '\0')
        return ws_err_set(err, WS_ECONFIG, "bucket required for s3 replica");
    snprintf(s->bucket, sizeof(s->bucket), "%s", c->bucket);
    s->skip_verify = c->skip_verify;
    /* Test hook: small parts, to exercise multipart uploads. */
    p = getenv("WALSHIP_TEST_S3_PART_SIZE");
    if (p && strtoull(p, NULL, 10) >= 1024)
        s->part_size = strtoull(p, NULL, 10);
    /* Test hook: small DeleteObjects batches, to exercise batching. */
    p = getenv("WALSHIP_TEST_S3_DELETE_BATCH");
    if (p && strtoul(p, NULL, 10) >= 1 && strtoul(p, NULL, 10) <= 1000)
        s->delete_batch = strtoul(p, NULL, 10);
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
    s->region = cred(c->region, "region", "AWS_REGION", "AWS_DEFAULT_REGION",
                     &from);
    if (s->region == NULL)
        s->region = "us-east-1";
    s->ak = cred(c->access_key_id, "access-key-id", "AWS_ACCESS_KEY_ID",
                 "LITESTREAM_ACCESS_KEY_ID", &ak_from);
    s->sk = cred(c->secret_access_key, "secret-access-key",
                 "AWS_SECRET_ACCESS_KEY", "LITESTREAM_SECRET_ACCESS_KEY",
                 &from);
    s->token = cred(NULL, NULL, "AWS_SESSION_TOKEN", "AWS_SESSION_TOKEN",
                    &tok_from);
    if (s->ak == NULL || s->sk == NULL)
        return ws_err_set(err, WS_ECONFIG,
                          "s3 replica %s: no credentials (set "
                          "access-key-id and secret-access-key, or "
                          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
                          c->name);
    /* Refused now, naming the setting, rather than at the first request
     * as a replica's error (and never quoted: secret.h). */
    if (ws_sigv4_check_keys(s->ak, ak_from, s->sk, from, err) != WS_OK)
        return ws_err_wrap(err, "s3 replica %s", c->name);
    for (p = s->token ? s->token : ""; *p; p++)
        if ((unsigned char)*p < ' ' || *p == 0x7f)
            return ws_err_set(err, WS_ECONFIG,
                              "s3 replica %s: %s holds a control character "
                              "(the value is not shown)",
                              c->name, tok_from);
    if (strlen(c->bucket) >= sizeof(s->bucket) || strlen(s->region) > 64)
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
            snprintf(s->host, sizeof(s->host), "%s.%s", s->bucket, hostport);
        snprintf(s->base, sizeof(s->base), "%.*s%s", h ? (int)(h + 3 - ep) : 0,
                 ep, s->host);
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
    rc = ws_http_new(loop, 16, &s->http, err);
    if (rc != WS_OK)
        return ws_err_wrap(err, "s3 replica %s", c->name);
    return WS_OK;
}

void ws_s3_describe(const struct ws_s3 *s, char *buf, size_t n)
{
    char path[2 * 1024 + 16]; /* an S3 key is at most 1024 bytes */

    ws_log_pair(path, sizeof(path), "path", s->root);
    snprintf(buf, n, "bucket=%s %s region=%s endpoint=%s%s", s->bucket, path,
             s->region, s->base,
             s->skip_verify ? " skip-verify=true (TLS NOT VERIFIED)" : "");
}

void ws_s3_free(struct ws_s3 *s)
{
    if (s == NULL)
        return;
    ws_http_free(s->http);
    free(s);
}

/* ---- addressing, signing, sending ------------------------------------------
 */

int ws_s3_full_key(const struct ws_s3 *s, const char *key, char *out, size_t n)
{
    int k = s->root[0] ? snprintf(out, n, "%s/%s", s->root, key)
                       : snprintf(out, n, "%s", key);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

int ws_s3_path(const struct ws_s3 *s, const char *key, char *out, size_t n)
{
    char fk[1100];
    int k;

    if (key == NULL)
        k = snprintf(out, n, "/%s", s->path_style ? s->bucket : "");
    else if (ws_s3_full_key(s, key, fk, sizeof(fk)) != 0)
        return -1;
    else
        k = s->path_style ? snprintf(out, n, "/%s/%s", s->bucket, fk)
                          : snprintf(out, n, "/%s", fk);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

void ws_s3_call_clear(const struct ws_s3 *s, struct ws_s3_call *c)
{
    ws_http_headers_free(s->http, c->hdrs);
    c->hdrs = NULL;
}

int ws_s3_sign(const struct ws_s3 *s, struct ws_s3_call *c, const char *method,
               const char *path, const struct ws_kv *q, size_t nq,
               const struct ws_kv *extra, size_t nextra, struct ws_err *err)
{
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
    hv[nh++] = (struct ws_kv){"x-amz-content-sha256", c->payload_sha};
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
    sg.payload_sha256 = c->payload_sha;
    sg.region = s->region;
    sg.service = "s3";
    sg.access_key = s->ak;
    sg.secret_key = s->sk;
    sg.amz_date = date;
    rc = ws_sigv4_sign(&sg, auth, sizeof(auth), err);
    if (rc != WS_OK)
        return rc;
    if (ws_uri_encode(path, 1, epath, sizeof(epath)) < 0 ||
        ws_sigv4_query_string(q, nq, c->query, sizeof(c->query)) < 0)
        return ws_err_set(err, WS_EUSAGE, "s3: request path too long");
    if ((size_t)snprintf(c->url, sizeof(c->url), "%s%s%s%s", s->base, epath,
                         c->query[0] ? "?" : "", c->query) >= sizeof(c->url))
        return ws_err_set(err, WS_EUSAGE, "s3: url too long");
    ws_s3_call_clear(s, c);
    for (size_t i = 1; rc == WS_OK && i < nh; i++) { /* curl sends Host */
        snprintf(line, sizeof(line), "%s: %s", hv[i].name, hv[i].value);
        rc = ws_http_header_add(s->http, &c->hdrs, line);
    }
    snprintf(line, sizeof(line), "Authorization: %s", auth);
    if (rc == WS_OK)
        rc = ws_http_header_add(s->http, &c->hdrs, line);
    if (rc == WS_OK)
        rc = ws_http_header_add(s->http, &c->hdrs, "Expect:");
    if (rc != WS_OK)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    c->method = method;
    c->s = s;
    return WS_OK;
}

void ws_s3_send(const struct ws_s3 *s, struct ws_s3_call *c, const void *mem,
                uint64_t len, ws_sink_fn sink, void *sink_ctx,
                void (*done)(struct ws_http_req *), void *data)
{
    memset(&c->h, 0, sizeof(c->h));
    c->h.method = c->method;
    c->h.url = c->url;
    c->h.headers = c->hdrs;
    c->h.body_fd = -1;
    c->h.body_mem = mem;
    c->h.body_len = len;
    c->h.skip_verify = s->skip_verify;
    c->h.sink = sink;
    c->h.sink_ctx = sink_ctx;
    c->h.done = done;
    c->h.data = data;
    ws_http_start(s->http, &c->h);
}

/* ---- outcome of one attempt --------------------------------------------- */

/* The longest first, so that a secret holding another is masked whole;
 * a credential shorter than MASK_MIN is no secret worth mangling the
 * text for. */
#define MASK_MIN 4
/* c percent-encoded as a URL carries it (every byte but A-Z a-z 0-9 - . _
 * ~ as %XX, in upper- or lower-case hex), malloc'd; NULL when that is c
 * itself or out of memory. */
static char *pct_encoded(const char *c, int lower)
{
    const char *hex = lower ? "0123456789abcdef" : "0123456789ABCDEF";
    char *out = malloc(strlen(c) * 3 + 1), *w = out;
    int changed = 0;

    if (out == NULL)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)c; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
            (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
            *w++ = (char)*p;
            continue;
        }
        *w++ = '%';
        *w++ = hex[*p >> 4];
        *w++ = hex[*p & 15];
        changed = 1;
    }
    *w = '\0';
    if (!changed) {
        free(out);
        return NULL;
    }
    return out;
}

char *ws_s3_masked(const struct ws_s3 *s, const char *text)
{
    const char *cred[3] = {s ? s->token : NULL, s ? s->sk : NULL,
                           s ? s->ak : NULL};
    /* Each credential as sent and as a URL would carry it. */
    char *enc[6] = {NULL};
    const char *sec[9];
    size_t len[9];
    int n = 0;
    char *out = strdup(text);

    for (int i = 0; i < 3; i++) {
        if (cred[i] == NULL || strlen(cred[i]) < MASK_MIN)
            continue;
        sec[n++] = cred[i];
        for (int lower = 0; lower < 2; lower++)
            if ((enc[2 * i + lower] = pct_encoded(cred[i], lower)) != NULL)
                sec[n++] = enc[2 * i + lower];
    }
    for (int i = 0; i < n; i++)
        len[i] = strlen(sec[i]);
    /* Longest first: one credential may hold another. */
    for (int k = 0; out != NULL && k < n; k++) {
        int m = -1;
        for (int i = 0; i < n; i++)
            if (len[i] > 0 && (m < 0 || len[i] > len[m]))
                m = i;
        if (m < 0)
            break;
        ws_mask(out, sec[m], len[m], "[redacted]");
        len[m] = 0;
    }
    for (int i = 0; i < 6; i++)
        free(enc[i]);
    return out;
}

/* The Code and Message of an S3 error document ("" when absent or not
 * XML: a proxy's HTML page, say), masked. */
static void s3_error(const struct ws_s3 *s, const char *body, size_t n,
                     char *code, size_t ncode, char *msg, size_t nmsg)
{
    struct ws_s3xml *x = ws_s3xml_new(WS_S3XML_ERROR);
    char *c = NULL, *m = NULL;

    if (x && ws_s3xml_feed(x, body, n, NULL) == WS_OK &&
        ws_s3xml_finish(x, NULL) == WS_OK) {
        const char *f = ws_s3xml_field(x, WS_S3XML_CODE);
        c = ws_s3_masked(s, f ? f : "");
        f = ws_s3xml_field(x, WS_S3XML_MESSAGE);
        m = ws_s3_masked(s, f ? f : "");
    }
    snprintf(code, ncode, "%s", c ? c : "");
    snprintf(msg, nmsg, "%s", m ? m : "");
    free(c);
    free(m);
    ws_s3xml_free(x);
}

enum ws_s3_verdict ws_s3_judge(const struct ws_s3_call *c, const char *key,
                               int *rc, struct ws_err *err)
{
    const struct ws_http_req *h = &c->h;
    char code[128] = "", msg[256] = "";

    if (h->sink_rc != WS_OK) {
        /* The data itself is bad (checksum, LZ4): not a network matter. */
        *err = h->sink_err;
        *rc = h->sink_rc;
        return WS_S3_FAIL;
    }
    if (h->result != CURLE_OK) {
        char *why = ws_s3_masked(c->s, h->curl_err);
        ws_err_set(err, WS_EREMOTE, "s3 %s %s: %s", c->method, key,
                   why ? why : "(out of memory)");
        free(why);
        ws_err_at(err, WS_AT_REPLICA);
        *rc = WS_EREMOTE;
        return WS_S3_RETRY;
    }
    if (h->status >= 200 && h->status < 300) {
        *rc = WS_OK;
        return WS_S3_OK;
    }
    s3_error(c->s, h->errbody, h->nerrbody, code, sizeof(code), msg,
             sizeof(msg));
    if (h->status >= 500 || h->status == 429 || h->status == 408) {
        ws_err_set(err, WS_EREMOTE, "s3 %s %s: %ld %s: %s", c->method, key,
                   h->status, code[0] ? code : "error", msg);
        ws_err_at(err, WS_AT_REPLICA);
        *rc = WS_EREMOTE;
        return WS_S3_RETRY;
    }
    if (h->status == 404 && strcmp(code, "NoSuchBucket") != 0) {
        ws_err_set(err, WS_ENOTFOUND, "object %s does not exist", key);
        *rc = WS_ENOTFOUND;
        return WS_S3_FAIL;
    }
    ws_err_set(err, WS_ECONFIG, "s3 %s %s: %ld %s: %s", c->method, key,
               h->status, code[0] ? code : "error",
               msg[0] ? msg : "(no message)");
    ws_err_at(err, WS_AT_REPLICA); /* 403, NoSuchBucket: the store refuses */
    *rc = WS_ECONFIG;
    return WS_S3_FAIL;
}

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

int ws_s3_retry(struct ws_s3_call *c, enum ws_s3_verdict v, int *retries)
{
    if (v != WS_S3_RETRY || ++c->attempt >= WS_S3_TRIES)
        return 0;
    (*retries)++;
    uv_timer_start(&c->backoff, c->resend,
                   (uint64_t)backoff_ms(c->attempt, c->h.retry_after), 0);
    return 1;
}
