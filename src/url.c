/*
 * url.c: see url.h.
 */
#include "ws/url.h"

#include "ws/digest.h"
#include "ws/path.h"
#include "ws/str.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int oom(struct ws_err *err)
{
    return ws_err_set(err, WS_ENOMEM, "out of memory");
}

static int is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

/* [A-Za-z0-9_], the \w of `^\w+://`. */
static int is_word(int ch)
{
    return is_digit(ch) || (ch >= 'a' && ch <= 'z') ||
           (ch >= 'A' && ch <= 'Z') || ch == '_';
}

/* ---- What is a URL ---------------------------------------------------- */

/* Length of the word before a ':' that is not "://", when the word is
 * a scheme Litestream knows; else 0. */
static size_t known_scheme_colon(const char *s)
{
    static const char *const schemes[] = {"file", "s3", "gcs", "gs", "abs",
                                          "sftp"};
    size_t n = strcspn(s, ":/");

    if (s[n] != ':' || strncmp(s + n, "://", 3) == 0)
        return 0;
    for (size_t i = 0; i < NELEM(schemes); i++)
        if (strlen(schemes[i]) == n && strncasecmp(s, schemes[i], n) == 0)
            return n;
    return 0;
}

enum ws_url_form ws_url_form(const char *s, size_t *scheme_len)
{
    enum ws_url_form f = WS_URL_PATH;
    const char *sep = s ? strstr(s, "://") : NULL;
    size_t n = 0;

    while (s != NULL && is_word(s[n]))
        n++;
    if (n > 0 && s + n == sep)
        f = WS_URL;
    else if (sep != NULL && sep == s)
        f = WS_URL_NO_SCHEME;
    else if (sep != NULL && memchr(s, '/', (size_t)(sep - s)) == NULL)
        f = WS_URL_BAD_SCHEME;
    else if (s != NULL && (n = known_scheme_colon(s)) > 0)
        f = WS_URL_NO_SLASHES;
    if (scheme_len != NULL)
        *scheme_len = f == WS_URL_BAD_SCHEME ? (size_t)(sep - s)
                      : f == WS_URL || f == WS_URL_NO_SLASHES ? n
                                                               : 0;
    return f;
}

int ws_is_url(const char *s)
{
    return ws_url_form(s, NULL) == WS_URL;
}

/* The error for s of the form WS_URL_NO_SLASHES (n: its scheme's length). */
static int no_slashes(const char *s, size_t n, struct ws_err *err)
{
    if (n == 4)
        return ws_err_set(err, WS_ECONFIG,
                          "replica url \"%s\" lacks the \"//\" of a "
                          "url: write file:///abs/path (here "
                          "file://%s%s) or a plain path",
                          s, s[n + 1] == '/' ? "" : "/", s + n + 1);
    return ws_err_set(err, WS_ECONFIG,
                      "replica url \"%s\" lacks the \"//\" of a url: "
                      "write %.*s://...",
                      s, (int)n, s);
}

int ws_url_check_path(const char *path, struct ws_err *err)
{
    size_t n = known_scheme_colon(path);

    if (ws_url_form(path, NULL) == WS_URL)
        return ws_err_set(err, WS_ECONFIG,
                          "replica path cannot be a url, please use the 'url' "
                          "field instead: %s",
                          path);
    if (n > 0) /* WS_URL_NO_SLASHES, or "file:://x" (WS_URL_BAD_SCHEME) */
        return no_slashes(path, n, err);
    return WS_OK;
}

/* ---- file:// ---------------------------------------------------------- */

/* The path of a file URL, rest being what follows "file://" (url.h:
 * host, query and fragment refused). */
static int file_url_path(const char *url, const char *rest, char **out,
                         struct ws_err *err)
{
    size_t hl = strcspn(rest, "/?#");

    if (rest[strcspn(rest, "?#")] != '\0')
        return ws_err_set(err, WS_ECONFIG,
                          "replica url \"%s\" has a query or fragment "
                          "(\"%s\"): a file url is file:///abs/path, or give "
                          "a plain path",
                          url, rest + strcspn(rest, "?#"));
    if (hl > 0)
        return ws_err_set(err, WS_ECONFIG,
                          "replica url %s has host %.*s; write file:///%.*s%s",
                          url, (int)hl, rest, (int)hl, rest, rest + hl);
    if (rest[hl] == '\0')
        return ws_err_set(err, WS_ECONFIG, "file replica path required");
    *out = ws_path_clean(rest + hl);
    return *out ? WS_OK : oom(err);
}

/* ---- s3:// ------------------------------------------------------------ */

/* Percent-decode s[0..n); plus: '+' is a space (query strings).  A bad
 * escape or %00 is WS_ECONFIG. */
static int unescape(const char *s, size_t n, int plus, char **out)
{
    char *p = malloc(n + 1);
    size_t w = 0;

    if (p == NULL)
        return WS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int hi = s[i] == '%' && i + 1 < n ? ws_hex_digit(s[i + 1]) : -1;
        int lo = hi >= 0 && i + 2 < n ? ws_hex_digit(s[i + 2]) : -1;

        if (s[i] == '%' && (lo < 0 || hi + lo == 0)) {
            free(p);
            return WS_ECONFIG;
        }
        if (s[i] == '%') {
            p[w++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            p[w++] = plus && s[i] == '+' ? ' ' : s[i];
        }
    }
    p[w] = '\0';
    *out = p;
    return WS_OK;
}

/* The S3-compatible hosts of url.h, each "[bucket.]<pre>[<region>]<post>";
 * the endpoint drops the bucket. */
static const struct s3_host {
    const char *pre;
    int has_region; /* one label (no dots) between pre and post */
    const char *post;
    const char *scheme;
    const char *region; /* fixed region, or NULL */
} s3_hosts[] = {
    {"localhost", 0, "", "http", "us-east-1"},
    {"s3.", 1, ".backblazeb2.com", "https", NULL},
    {"s3.filebase.com", 0, "", "https", NULL},
    {"", 1, ".digitaloceanspaces.com", "https", NULL},
    {"s3.", 1, ".scw.cloud", "https", NULL},
    {"", 1, ".linodeobjects.com", "https", NULL},
};

/* Match h[0..n) against one host form: bucket = h[0..*blen), region =
 * h[*roff..*roff + *rlen). */
static int match_host(const struct s3_host *f, const char *h, size_t n,
                      size_t *blen, size_t *roff, size_t *rlen)
{
    size_t pre = strlen(f->pre), post = strlen(f->post), j, k;

    if (n < post || memcmp(h + n - post, f->post, post) != 0)
        return 0;
    j = n - post;
    *roff = j;
    *rlen = 0;
    if (f->has_region) {
        while (j > 0 && h[j - 1] != '.')
            j--;
        if (j == *roff)
            return 0;
        *rlen = *roff - j;
        *roff = j;
    }
    if (j < pre || memcmp(h + j - pre, f->pre, pre) != 0)
        return 0;
    k = j - pre; /* "bucket." or nothing */
    if (k == 1 || (k > 1 && h[k - 1] != '.'))
        return 0;
    *blen = k == 0 ? 0 : k - 1;
    return 1;
}

/* Bucket, region, endpoint and path style from the URL host ("bucket",
 * "bucket.localhost:9000", ...): the table above, else the bucket. */
static int s3_parse_host(const char *host, size_t n, struct ws_url *u,
                         struct ws_err *err)
{
    const char *colon = memchr(host, ':', n);
    size_t hn = n, blen, roff, rlen;

    if (colon != NULL &&
        memchr(colon + 1, ':', n - (size_t)(colon - host) - 1) == NULL)
        hn = (size_t)(colon - host); /* the port is host[hn..n) */
    for (size_t i = 0; i < NELEM(s3_hosts); i++) {
        const struct s3_host *f = &s3_hosts[i];

        if (!match_host(f, host, hn, &blen, &roff, &rlen))
            continue;
        u->endpoint = ws_strf("%s://%s%.*s%s%.*s", f->scheme, f->pre,
                              (int)rlen, host + roff, f->post, (int)(n - hn),
                              host + hn);
        u->bucket = blen ? ws_strf("%.*s", (int)blen, host) : NULL;
        u->region = f->region ? ws_strf("%s", f->region)
                    : rlen    ? ws_strf("%.*s", (int)rlen, host + roff)
                              : NULL;
        u->force_path_style = 1;
        if (!u->endpoint || (blen && !u->bucket) ||
            ((f->region || rlen) && !u->region))
            return oom(err);
        return WS_OK;
    }
    /* A bucket: a port or a character no bucket name has means the URL
     * names a server, which would otherwise be dropped (the port) or
     * refused only by the first request. */
    if (hn < n)
        return ws_err_set(err, WS_ECONFIG, "replica url host \"%.*s\" has "
                          "a port, but a bucket has none: for an "
                          "S3-compatible server give its address as the "
                          "endpoint (s3://BUCKET/PATH?endpoint=http://%.*s)",
                          (int)n, host, (int)n, host);
    for (size_t i = 0; i < hn; i++)
        if (!isalnum((unsigned char)host[i]) && host[i] != '.' &&
            host[i] != '-' && host[i] != '_')
            return ws_err_set(err, WS_ECONFIG, "replica url bucket "
                              "\"%.*s\": a bucket name is ASCII letters, "
                              "digits, '.', '-' and '_'", (int)hn, host);
    u->bucket = hn ? ws_strf("%.*s", (int)hn, host) : NULL;
    return hn && u->bucket == NULL ? oom(err) : WS_OK;
}

/* One query parameter of an s3 URL. */
static int s3_param(const char *key, const char *val, struct ws_url *u,
                    struct ws_err *err)
{
    if (strcmp(key, "endpoint") == 0 || strcmp(key, "region") == 0)
        return ws_str_set(key[0] == 'e' ? &u->endpoint : &u->region, val)
                   ? oom(err)
                   : WS_OK;
    if (strcmp(key, "force-path-style") != 0)
        return ws_err_set(err, WS_ECONFIG,
                          "unknown replica url parameter \"%s\"", key);
    if (strcasecmp(val, "true") == 0 || strcmp(val, "1") == 0)
        u->force_path_style = 1;
    else if (strcasecmp(val, "false") == 0 || strcmp(val, "0") == 0)
        u->force_path_style = 0;
    else
        return ws_err_set(err, WS_ECONFIG,
                          "invalid force-path-style in replica url: \"%s\"",
                          val);
    return WS_OK;
}

/* The error for a bad %-escape in the n bytes at seg, a part of the s3
 * url whose host is the hlen bytes at host: it quotes the escape and
 * names the url by scheme and host only (userinfo may hold a secret). */
static int escape_err(const char *seg, size_t n, const char *host,
                      size_t hlen, struct ws_err *err)
{
    const char *pc = memchr(seg, '%', n);
    size_t k = 0;

    while (pc != NULL && (size_t)(pc - seg) + 2 < n && ws_hex_digit(pc[1]) >= 0 &&
           ws_hex_digit(pc[2]) >= 0 && ws_hex_digit(pc[1]) + ws_hex_digit(pc[2]) != 0)
        pc = memchr(pc + 3, '%', n - (size_t)(pc + 3 - seg));
    if (pc != NULL)
        for (k = 1; k < 3 && (size_t)(pc - seg) + k < n &&
                    (unsigned char)pc[k] > ' ' && pc[k] != 0x7f;
             k++)
            ;
    return ws_err_set(err, WS_ECONFIG, "invalid escape \"%.*s\" in replica "
                      "url s3://%.*s/... (a %% must start %%XX, two hex "
                      "digits, not %%00)", (int)k, pc ? pc : "",
                      (int)hlen, host);
}

/* Apply "endpoint=&region=&force-path-style=" (q[0..n)) to u. */
static int s3_query(const char *q, size_t n, const char *host, size_t hlen,
                    struct ws_url *u, struct ws_err *err)
{
    while (n > 0) {
        size_t len = strcspn(q, "&#") < n ? strcspn(q, "&#") : n;
        const char *eq = memchr(q, '=', len);
        size_t kl = eq ? (size_t)(eq - q) : len;
        char *key = NULL, *val = NULL;
        int rc = unescape(q, kl, 1, &key);

        if (rc == WS_OK)
            rc = unescape(eq ? eq + 1 : "", eq ? len - kl - 1 : 0, 1, &val);
        if (rc != WS_OK)
            rc = rc == WS_ENOMEM
                     ? oom(err)
                     : escape_err(q, len, host, hlen, err);
        else if (kl > 0)
            rc = s3_param(key, val, u, err);
        free(key);
        free(val);
        if (rc != WS_OK)
            return rc;
        len += len < n; /* the '&' */
        q += len;
        n -= len;
    }
    return WS_OK;
}

/* "[user@]host/path?query#frag", what follows "s3://". */
static int parse_s3_url(const char *s, struct ws_url *u, struct ws_err *err)
{
    size_t alen = strcspn(s, "/?#"), plen, qlen = 0;
    const char *host = s, *path = s + alen, *q;
    char *dec = NULL;
    int rc;

    for (size_t i = 0; i < alen; i++) /* drop "user:pass@" */
        if (s[i] == '@')
            host = s + i + 1;
    rc = s3_parse_host(host, alen - (size_t)(host - s), u, err);
    if (rc != WS_OK)
        return rc;
    plen = strcspn(path, "?#");
    q = path + plen;
    if (*q == '?')
        qlen = strcspn(++q, "#");
    rc = unescape(path, plen, 0, &dec);
    if (rc != WS_OK)
        return rc == WS_ENOMEM
                   ? oom(err)
                   : escape_err(path, plen, host, alen - (size_t)(host - s),
                                err);
    u->path = ws_path_clean(dec);
    free(dec);
    if (u->path == NULL)
        return oom(err);
    if (u->path[0] == '/') /* "/a" -> "a" */
        memmove(u->path, u->path + 1, strlen(u->path));
    if (u->path[0] == '\0' || strcmp(u->path, ".") == 0)
        ws_str_set(&u->path, NULL);
    rc = s3_query(q, qlen, host, alen - (size_t)(host - s), u, err);
    if (rc == WS_OK && u->bucket == NULL)
        rc = ws_err_set(err, WS_ECONFIG, "bucket required for s3 replica "
                        "(s3://BUCKET/PATH)");
    if (rc == WS_OK && u->force_path_style < 0 && u->endpoint != NULL)
        u->force_path_style = 1;
    return rc;
}

/* ---- A replica URL ---------------------------------------------------- */

int ws_url_parse(const char *url, struct ws_url *u, struct ws_err *err)
{
    size_t sl;
    enum ws_url_form f = ws_url_form(url, &sl);
    int file = f == WS_URL_PATH ||
               (f == WS_URL && sl == 4 && strncasecmp(url, "file", 4) == 0);
    int s3 = f == WS_URL && sl == 2 && strncasecmp(url, "s3", 2) == 0;
    const char *rest = f == WS_URL ? url + sl + 3 : url;

    u->force_path_style = -1;
    if (f == WS_URL_NO_SLASHES)
        return no_slashes(url, sl, err);
    if (f == WS_URL_NO_SCHEME)
        return ws_err_set(err, WS_ECONFIG, "replica url scheme required");
    if (!file && !s3) /* WS_URL_BAD_SCHEME too: "s3+x://..." */
        return ws_err_set(err, WS_ECONFIG,
                          "unsupported replica url scheme: \"%.*s\"", (int)sl,
                          url);
    u->url = ws_strf("%s", url);
    u->type = ws_strf("%s", file ? "file" : "s3");
    if (u->url == NULL || u->type == NULL)
        return oom(err);
    if (s3)
        return parse_s3_url(rest, u, err);
    if (*url == '\0' || (f == WS_URL && *rest == '\0'))
        return ws_err_set(err, WS_ECONFIG, "file replica path required");
    if (ws_str_blank(rest))
        return ws_err_set(err, WS_ECONFIG, "replica path \"%s\" is blank",
                          rest);
    if (f == WS_URL_PATH)
        return ws_path_expand(url, &u->path, err);
    return file_url_path(url, rest, &u->path, err);
}

void ws_url_free(struct ws_url *u)
{
    free(u->url);
    free(u->type);
    free(u->path);
    free(u->bucket);
    free(u->region);
    free(u->endpoint);
}
