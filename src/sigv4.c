/*
 * sigv4.c: the S3 SigV4 signer and the body hashes (format in sigv4.h).
 *
 * Every byte the signer produces goes through a struct sink, which either
 * fills a caller's buffer or feeds a SHA-256 context.  write_creq() is
 * thus the one definition of the canonical request: the caller can read
 * it (ws_sigv4_canonical_request) and the signer hashes it without ever
 * holding it, however long the path and headers are.  A buffer sink is
 * all or nothing: once the text does not fit, the sink stops writing and
 * finish() leaves the buffer as "".
 *
 * Headers and query parameters are sorted through arrays of indices
 * (insertion sort over at most WS_SIGV4_MAX_KV entries), so the caller's
 * arrays stay const and nothing is allocated.  Query parameters sort by
 * their encoded bytes, which enc_cmp() compares without building them.
 *
 * The secret key is read only by sign(): copied once, behind "AWS4", into
 * a stack buffer that is wiped, with the derived keys, before it returns.
 * Error messages name the field at fault but never quote a key or a
 * header value.
 */
#include "ws/sigv4.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define ALGO "AWS4-HMAC-SHA256"
#define MAX_SCOPE 64   /* longest region or service */
#define MAX_KEY_ID 128 /* longest access key */
#define MAX_STS 256    /* longest string to sign that MAX_SCOPE allows */
#define DIGITS "0123456789"
#define ALNUM DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#define TCHARS ALNUM "!#$%&'*+-.^_`|~" /* an HTTP token (RFC 9110) */

/* Where output goes: a caller's buffer, or a digest when md is set. */
struct sink {
    char *buf;             /* text output (unused when md is set) */
    size_t cap;            /* bytes at buf, the NUL included */
    size_t len;            /* bytes written to buf so far */
    struct ws_sha256 *md;  /* the digest, or NULL for text */
    int failed;            /* too small: write no more */
};

/* A checked request with its headers and parameters in signing order. */
struct req {
    const struct ws_sigv4 *s;
    size_t h[WS_SIGV4_MAX_KV]; /* header indices, sorted by lowercase name */
    size_t q[WS_SIGV4_MAX_KV]; /* query indices, sorted by encoding */
};

static void put(struct sink *o, const char *p, size_t n)
{
    if (o->failed || n == 0)
        return;
    if (o->md != NULL)
        ws_sha256_update(o->md, p, n);
    else if (o->cap - o->len <= n) /* len < cap holds until failed */
        o->failed = 1;
    else
        memcpy(o->buf + o->len, p, n);
    if (!o->failed)
        o->len += n;
}

/* put() each string argument up to a NULL; called through CAT(). */
static void cat(struct sink *o, ...)
{
    va_list ap;
    const char *s;

    va_start(ap, o);
    while ((s = va_arg(ap, const char *)) != NULL)
        put(o, s, strlen(s));
    va_end(ap);
}

#define CAT(o, ...) cat(o, __VA_ARGS__, (const char *)NULL)

/* End a text sink: the text length, or -1 with the buffer set to "". */
static int finish(struct sink *o)
{
    if (o->failed || o->cap == 0 || o->len > INT_MAX) {
        if (o->cap > 0)
            o->buf[0] = '\0';
        return -1;
    }
    o->buf[o->len] = '\0';
    return (int)o->len;
}

static int unreserved(char c)
{
    return c != '\0' && strchr(ALNUM "-._~", c) != NULL;
}

static void encode(struct sink *o, const char *s, int keep_slash)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (unreserved(*s) || (keep_slash && c == '/')) {
            put(o, s, 1);
        } else {
            char e[3] = {'%', "0123456789ABCDEF"[c >> 4],
                         "0123456789ABCDEF"[c & 15]};

            put(o, e, 3);
        }
    }
}

/*
 * Compare the encodings of a and b bytewise without building them.  Up to
 * the first byte where a and b differ their encodings agree.  There, a
 * kept (unreserved) byte sorts after any "%XX", since every unreserved
 * character is above '%'; two bytes of the same kind sort as the bytes
 * do, uppercase hex digits being in numeric order; an end sorts first.
 */
static int enc_cmp(const char *a, const char *b)
{
    unsigned char x, y;

    while (*a != '\0' && *a == *b) {
        a++;
        b++;
    }
    x = (unsigned char)*a;
    y = (unsigned char)*b;
    if (x == y)
        return 0;
    if (x == '\0' || y == '\0')
        return x == '\0' ? -1 : 1;
    if (unreserved(*a) != unreserved(*b))
        return unreserved(*a) ? 1 : -1;
    return x < y ? -1 : 1;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int lower_cmp(const char *a, const char *b)
{
    while (*a != '\0' && lower(*a) == lower(*b)) {
        a++;
        b++;
    }
    return (unsigned char)lower(*a) - (unsigned char)lower(*b);
}

/* Order of two headers (query == 0) or two query parameters. */
static int kv_cmp(const struct ws_kv *a, const struct ws_kv *b, int query)
{
    int c;

    if (!query)
        return lower_cmp(a->name, b->name);
    c = enc_cmp(a->name, b->name);
    return c != 0 ? c : enc_cmp(a->value, b->value);
}

/* idx[0..n) = the indices of kv[0..n) in sorted order (stable). */
static void sort_kv(const struct ws_kv *kv, size_t n, size_t *idx, int query)
{
    for (size_t i = 0; i < n; i++) {
        size_t j = i;

        for (; j > 0 && kv_cmp(&kv[idx[j - 1]], &kv[i], query) > 0; j--)
            idx[j] = idx[j - 1];
        idx[j] = i;
    }
}

static void write_query(struct sink *o, const struct ws_kv *q, size_t n,
                        const size_t *idx)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            put(o, "&", 1);
        encode(o, q[idx[i]].name, 0);
        put(o, "=", 1);
        encode(o, q[idx[i]].value, 0);
    }
}

/* Header name i (in signing order) in lowercase. */
static void put_name(struct sink *o, const struct req *r, size_t i)
{
    for (const char *p = r->s->headers[r->h[i]].name; *p != '\0'; p++) {
        char c = lower(*p);

        put(o, &c, 1);
    }
}

/* A header value, trimmed, with inner runs of blanks folded to a space. */
static void put_folded(struct sink *o, const char *v)
{
    int blank = 0, any = 0;

    for (; *v != '\0'; v++) {
        if (*v == ' ' || *v == '\t') {
            blank = any;
            continue;
        }
        if (blank)
            put(o, " ", 1);
        put(o, v, 1);
        blank = 0;
        any = 1;
    }
}

static void write_signed(struct sink *o, const struct req *r)
{
    for (size_t i = 0; i < r->s->nheaders; i++) {
        if (i > 0)
            put(o, ";", 1);
        put_name(o, r, i);
    }
}

static void write_creq(struct sink *o, const struct req *r)
{
    const struct ws_sigv4 *s = r->s;

    CAT(o, s->method, "\n");
    encode(o, s->path, 1);
    put(o, "\n", 1);
    write_query(o, s->query, s->nquery, r->q);
    put(o, "\n", 1);
    for (size_t i = 0; i < s->nheaders; i++) {
        put_name(o, r, i);
        put(o, ":", 1);
        put_folded(o, s->headers[r->h[i]].value);
        put(o, "\n", 1);
    }
    put(o, "\n", 1);
    write_signed(o, r);
    CAT(o, "\n", s->payload_sha256);
}

static void write_scope(struct sink *o, const struct ws_sigv4 *s)
{
    put(o, s->amz_date, 8);
    CAT(o, "/", s->region, "/", s->service, "/aws4_request");
}

static void write_sts(struct sink *o, const struct ws_sigv4 *s,
                      const char *creq_hex)
{
    CAT(o, ALGO "\n", s->amz_date, "\n");
    write_scope(o, s);
    CAT(o, "\n", creq_hex);
}

/* 1 if s is 1..max bytes of printable ASCII but ' ', '/' and ','. */
static int word_ok(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);

    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return 0;
    return n > 0 && n <= max && strcspn(s, "/,") == n;
}

int ws_sigv4_check_keys(const char *ak, const char *ak_from, const char *sk,
                        const char *sk_from, struct ws_err *err)
{
    size_t n = strnlen(sk, WS_SIGV4_MAX_SECRET + 1);

    if (!word_ok(ak, MAX_KEY_ID))
        return ws_err_set(err, WS_ECONFIG,
                          "%s is not an access key ID (want 1 to %d printable "
                          "ASCII characters without spaces, '/' or ','; the "
                          "value is not shown)",
                          ak_from, MAX_KEY_ID);
    if (n == 0 || n > WS_SIGV4_MAX_SECRET)
        return ws_err_set(err, WS_ECONFIG,
                          "%s is empty or longer than %d bytes (the value is "
                          "not shown)",
                          sk_from, WS_SIGV4_MAX_SECRET);
    return WS_OK;
}

/* What is wrong with the fields of s (headers aside), or NULL. */
static const char *bad_field(const struct ws_sigv4 *s)
{
    const char *d = s->amz_date, *p = s->payload_sha256;
    size_t sk;

    if (!s->method || !s->path || !p || !s->region || !s->service ||
        !s->access_key || !s->secret_key || !d ||
        (s->nheaders > 0 && !s->headers) || (s->nquery > 0 && !s->query))
        return "request (a required field is NULL)";
    sk = strnlen(s->secret_key, WS_SIGV4_MAX_SECRET + 1);
    if (s->method[0] == '\0' ||
        s->method[strspn(s->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")] != '\0')
        return "method (want uppercase letters)";
    if (s->path[0] != '/')
        return "path (want a leading /)";
    if (strlen(d) != 16 || strspn(d, DIGITS) != 8 || d[8] != 'T' ||
        strspn(d + 9, DIGITS) != 6 || d[15] != 'Z')
        return "amz_date (want YYYYMMDDTHHMMSSZ)";
    if (strcmp(p, "UNSIGNED-PAYLOAD") != 0 &&
        (strlen(p) != 64 || strspn(p, DIGITS "abcdef") != 64))
        return "payload hash (want 64 lowercase hex or UNSIGNED-PAYLOAD)";
    if (!word_ok(s->region, MAX_SCOPE) || !word_ok(s->service, MAX_SCOPE))
        return "region or service";
    if (!word_ok(s->access_key, MAX_KEY_ID))
        return "access key";
    if (sk == 0 || sk > WS_SIGV4_MAX_SECRET)
        return "secret key (empty, or too long)";
    if (s->nheaders > WS_SIGV4_MAX_KV || s->nquery > WS_SIGV4_MAX_KV)
        return "header or query count (more than WS_SIGV4_MAX_KV)";
    return NULL;
}

static int check_header(const struct ws_kv *h, size_t i, struct ws_err *err)
{
    if (h->name == NULL || h->value == NULL)
        return ws_err_set(err, WS_EUSAGE, "sigv4: header %zu is NULL", i);
    if (h->name[0] == '\0' || h->name[strspn(h->name, TCHARS)] != '\0')
        return ws_err_set(err, WS_EUSAGE,
                          "sigv4: header name \"%s\" is not an HTTP token",
                          h->name);
    for (const char *p = h->value; *p != '\0'; p++)
        if (((unsigned char)*p < ' ' && *p != '\t') || *p == 0x7f)
            return ws_err_set(err, WS_EUSAGE,
                              "sigv4: header %s: control character in value",
                              h->name);
    return WS_OK;
}

/* 1 if header name (lowercase) is present with exactly the value v. */
static int has_header(const struct ws_sigv4 *s, const char *name, const char *v)
{
    for (size_t i = 0; i < s->nheaders; i++)
        if (lower_cmp(s->headers[i].name, name) == 0)
            return v == NULL || strcmp(s->headers[i].value, v) == 0;
    return 0;
}

/* Check *s and fill r; out (n bytes) is cleared first. */
static int prepare(struct req *r, const struct ws_sigv4 *s, char *out, size_t n,
                   struct ws_err *err)
{
    const struct ws_kv need[3] = {{"host", NULL},
                                  {"x-amz-date", s->amz_date},
                                  {"x-amz-content-sha256", s->payload_sha256}};
    const char *bad = bad_field(s);
    int rc = WS_OK;

    if (n > 0)
        out[0] = '\0';
    r->s = s;
    if (bad != NULL)
        return ws_err_set(err, WS_EUSAGE, "sigv4: bad %s", bad);
    for (size_t i = 0; rc == WS_OK && i < s->nheaders; i++)
        rc = check_header(&s->headers[i], i, err);
    for (size_t i = 0; rc == WS_OK && i < s->nquery; i++)
        if (s->query[i].name == NULL || s->query[i].value == NULL)
            rc = ws_err_set(err, WS_EUSAGE, "sigv4: query %zu is NULL", i);
    if (rc != WS_OK)
        return rc;
    sort_kv(s->headers, s->nheaders, r->h, 0);
    sort_kv(s->query, s->nquery, r->q, 1);
    for (size_t i = 1; i < s->nheaders; i++)
        if (kv_cmp(&s->headers[r->h[i - 1]], &s->headers[r->h[i]], 0) == 0)
            return ws_err_set(err, WS_EUSAGE, "sigv4: duplicate header %s",
                              s->headers[r->h[i]].name);
    for (int i = 0; i < 3; i++)
        if (!has_header(s, need[i].name, need[i].value))
            return ws_err_set(err, WS_EUSAGE, "sigv4: header %s missing%s",
                              need[i].name,
                              need[i].value ? " or not as signed" : "");
    return WS_OK;
}

/* hex = hex SHA-256 of the canonical request, streamed into the digest. */
static void creq_hash(const struct req *r, char hex[WS_SHA256_HEX])
{
    struct ws_sha256 md;
    struct sink o = {NULL, 0, 0, &md, 0};
    uint8_t d[WS_SHA256_LEN];

    ws_sha256_init(&md);
    write_creq(&o, r);
    ws_sha256_final(&md, d);
    ws_hex(d, sizeof(d), hex);
}

/* sig = hex HMAC-SHA256 of the string to sign (built from creq_hex) under
 * the key derived from the secret. */
static void sign(const struct ws_sigv4 *s, const char *creq_hex,
                 char sig[WS_SHA256_HEX])
{
    char seed[4 + WS_SIGV4_MAX_SECRET], sts[MAX_STS];
    const char *step[4] = {s->region, s->service, "aws4_request", sts};
    uint8_t key[WS_SHA256_LEN];
    size_t sn = strlen(s->secret_key);
    struct sink o = {sts, sizeof(sts), 0, NULL, 0};
    int fits;

    write_sts(&o, s, creq_hex);
    fits = finish(&o) > 0;
    assert(fits); /* bad_field() bounds every part */
    (void)fits;
    memcpy(seed, "AWS4", 4);
    memcpy(seed + 4, s->secret_key, sn);
    ws_hmac_sha256(seed, 4 + sn, s->amz_date, 8, key);
    /* key = HMAC(key, step) for each step; the last step signs. */
    for (int i = 0; i < 4; i++)
        ws_hmac_sha256(key, sizeof(key), step[i], strlen(step[i]), key);
    ws_hex(key, sizeof(key), sig);
    OPENSSL_cleanse(seed, sizeof(seed));
    OPENSSL_cleanse(key, sizeof(key));
}

/* What run() writes. */
enum output { CREQ, STS, AUTH };

static int run(const struct ws_sigv4 *s, enum output what, char *out, size_t n,
               struct ws_err *err)
{
    struct req r;
    struct sink o = {out, n, 0, NULL, 0};
    char h[WS_SHA256_HEX], sig[WS_SHA256_HEX];
    int rc = prepare(&r, s, out, n, err);

    if (rc != WS_OK)
        return rc;
    if (what != CREQ)
        creq_hash(&r, h);
    if (what == AUTH)
        sign(s, h, sig);
    if (what == CREQ) {
        write_creq(&o, &r);
    } else if (what == STS) {
        write_sts(&o, s, h);
    } else {
        CAT(&o, ALGO " Credential=", s->access_key, "/");
        write_scope(&o, s);
        CAT(&o, ", SignedHeaders=");
        write_signed(&o, &r);
        CAT(&o, ", Signature=", sig);
    }
    if (finish(&o) < 0)
        return ws_err_set(err, WS_EUSAGE,
                          "sigv4: output does not fit in %zu bytes", n);
    return WS_OK;
}

int ws_sigv4_sign(const struct ws_sigv4 *s, char *auth, size_t n,
                  struct ws_err *err)
{
    return run(s, AUTH, auth, n, err);
}

int ws_sigv4_canonical_request(const struct ws_sigv4 *s, char *out, size_t n,
                               struct ws_err *err)
{
    return run(s, CREQ, out, n, err);
}

int ws_sigv4_string_to_sign(const struct ws_sigv4 *s, char *out, size_t n,
                            struct ws_err *err)
{
    return run(s, STS, out, n, err);
}

int ws_uri_encode(const char *in, int keep_slash, char *out, size_t n)
{
    struct sink o = {out, n, 0, NULL, in == NULL};

    if (in != NULL)
        encode(&o, in, keep_slash);
    return finish(&o);
}

int ws_sigv4_query_string(const struct ws_kv *q, size_t nq, char *out, size_t n)
{
    struct sink o = {out, n, 0, NULL, 0};

    o.failed = nq > WS_SIGV4_MAX_KV || (nq > 0 && q == NULL);
    for (size_t i = 0; !o.failed && i < nq; i++)
        o.failed = q[i].name == NULL || q[i].value == NULL;
    if (!o.failed) {
        size_t idx[WS_SIGV4_MAX_KV];

        sort_kv(q, nq, idx, 1);
        write_query(&o, q, nq, idx);
    }
    return finish(&o);
}

struct ws_hash {
    struct ws_sha256 sha256;
    struct ws_md5 md5;
    int done; /* ws_hash_final() was called */
};

struct ws_hash *ws_hash_new(void)
{
    struct ws_hash *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return NULL;
    ws_sha256_init(&h->sha256);
    ws_md5_init(&h->md5);
    return h;
}

int ws_hash_update(struct ws_hash *h, const void *buf, size_t len,
                   struct ws_err *err)
{
    if (h->done)
        return ws_err_set(err, WS_EUSAGE, "hash: update after final");
    ws_sha256_update(&h->sha256, buf, len);
    ws_md5_update(&h->md5, buf, len);
    return WS_OK;
}

int ws_hash_final(struct ws_hash *h, char sha256_hex[WS_SHA256_HEX],
                  char md5_b64[WS_MD5_B64], struct ws_err *err)
{
    uint8_t s[WS_SHA256_LEN], m[WS_MD5_LEN];

    if (h->done)
        return ws_err_set(err, WS_EUSAGE, "hash: final called twice");
    h->done = 1;
    ws_sha256_final(&h->sha256, s);
    ws_md5_final(&h->md5, m);
    ws_hex(s, sizeof(s), sha256_hex);
    ws_base64(m, sizeof(m), md5_b64);
    return WS_OK;
}

void ws_hash_free(struct ws_hash *h)
{
    free(h);
}
