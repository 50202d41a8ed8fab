/*
 * fuzz_s3xml.c: the parsers of S3's XML responses (s3xml.h): listings,
 * errors, multipart and DeleteObjects results, whose bytes whoever can
 * write to the bucket or sits on the path controls.  A listing that
 * parses goes on to the catalog (layout.h), as restore does with it.
 *
 * Input: two control bytes, then the body.
 *   [0] bits 0-2: the response kind expected (mod 5); bits 3-4: the
 *       listing's prefix ("", "p/", "generations/", "a");
 *   [1] where the body is cut into pieces (fuzz.h).
 *
 * Checked: fed in pieces it gives what it gives whole, results included;
 * what finish accepts holds what s3xml.h promises (keys inside the
 * prefix and within the limits, sizes within WS_S3XML_MAX_SIZE, a
 * next token that is non-empty when the listing is truncated, required
 * fields present, strings without NUL); a feed after finish is refused.
 */
#include "fuzz.h"
#include "ws/s3xml.h"

static const char *const s3xml_prefixes[] = {"", "p/", "generations/", "a"};

struct s3xml_result {
    int rc, take_rc, truncated, is_error;
    char *token;
    struct ws_objlist list;
    uint64_t hash; /* of every field read */
};

static uint64_t s3xml_hash(uint64_t h, const char *s)
{
    for (; s != NULL && *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211u;
    return (h ^ (s == NULL)) * 1099511628211u;
}

static void s3xml_check_str(const char *s, size_t max, const char *what)
{
    FUZZ_CHECK(s == NULL || strlen(s) <= max, "%s: %zu bytes", what, strlen(s));
}

static void s3xml_parse(const uint8_t *b, size_t n, enum ws_s3xml_kind kind,
                        const char *prefix, uint8_t pieces,
                        struct s3xml_result *r)
{
    struct ws_s3xml *x = ws_s3xml_new(kind);
    struct ws_err err;
    size_t off = 0;

    memset(r, 0, sizeof(*r));
    if (x == NULL)
        abort();
    for (size_t k = 0; r->rc == WS_OK && off < n; k++) {
        size_t m = fuzz_piece(pieces, k);
        if (m > n - off)
            m = n - off;
        r->rc = ws_s3xml_feed(x, b + off, m, &err);
        off += m;
    }
    if (r->rc == WS_OK)
        r->rc = ws_s3xml_finish(x, &err);
    if (r->rc != WS_OK)
        fuzz_check_err(r->rc, &err, "ws_s3xml");
    FUZZ_CHECK(ws_s3xml_feed(x, "x", 1, &err) != WS_OK,
               "a feed after the end was accepted");
    r->is_error = ws_s3xml_is_error(x);
    for (int f = WS_S3XML_CODE; f <= WS_S3XML_ETAG; f++) {
        const char *s = ws_s3xml_field(x, (enum ws_s3xml_field)f);
        s3xml_check_str(s, WS_S3XML_MAX_TEXT, "field");
        r->hash = s3xml_hash(r->hash, s);
    }
    if (r->rc == WS_OK && kind == WS_S3XML_LIST) {
        r->take_rc = ws_s3xml_list_take(x, prefix, &r->list, &r->truncated,
                                        &r->token, &err);
        if (r->take_rc != WS_OK) {
            fuzz_check_err(r->take_rc, &err, "ws_s3xml_list_take");
            FUZZ_CHECK(r->list.n == 0 && r->token == NULL,
                       "a failed take left %zu entries", r->list.n);
        } else {
            FUZZ_CHECK(r->truncated == 0 || r->truncated == 1, "truncated %d",
                       r->truncated);
            FUZZ_CHECK(!r->truncated || (r->token && r->token[0]),
                       "truncated without a token");
            FUZZ_CHECK(r->truncated || r->token == NULL,
                       "a token on the last page");
        }
    }
    if (r->rc == WS_OK && kind == WS_S3XML_DELETE) {
        size_t ne, nd;
        const struct ws_s3xml_delerr *e = ws_s3xml_delete_errors(x, &ne, &nd);
        for (size_t i = 0; i < ne; i++) {
            FUZZ_CHECK(e[i].key && e[i].code && e[i].message,
                       "delete error %zu has a NULL field", i);
            r->hash = s3xml_hash(s3xml_hash(r->hash, e[i].key), e[i].code);
        }
        r->hash ^= nd * 31 + ne;
    }
    if (r->rc == WS_OK && kind == WS_S3XML_INITIATE)
        FUZZ_CHECK(ws_s3xml_field(x, WS_S3XML_UPLOAD_ID) &&
                       *ws_s3xml_field(x, WS_S3XML_UPLOAD_ID),
                   "no UploadId");
    if (r->rc == WS_OK && kind == WS_S3XML_COMPLETE)
        FUZZ_CHECK(ws_s3xml_field(x, WS_S3XML_ETAG) &&
                       *ws_s3xml_field(x, WS_S3XML_ETAG),
                   "no ETag");
    ws_s3xml_free(x);
}

/* A listing that was taken: its entries, and the catalog made of them. */
static void s3xml_check_list(const struct ws_objlist *l, const char *prefix)
{
    struct ws_catalog cat;
    struct ws_err err;
    size_t counted = 0;
    int rc;

    for (size_t i = 0; i < l->n; i++) {
        FUZZ_CHECK(strlen(l->v[i].key) + strlen(prefix) <= WS_S3XML_MAX_KEY,
                   "key of %zu bytes", strlen(l->v[i].key));
        FUZZ_CHECK(l->v[i].size <= WS_S3XML_MAX_SIZE, "size %llu",
                   (unsigned long long)l->v[i].size);
    }
    rc = ws_catalog_build(l, &cat, &err);
    if (rc != WS_OK) {
        fuzz_check_err(rc, &err, "ws_catalog_build");
        return;
    }
    for (size_t i = 0; i < cat.ngens; i++)
        counted += cat.gens[i].nsnaps + cat.gens[i].nsegs +
                   cat.gens[i].ntimes + cat.gens[i].nidx + cat.gens[i].ndigs;
    FUZZ_CHECK(counted + cat.nother == fuzz_catalog_entries(l),
               "catalog holds %zu + %zu of %zu", counted, cat.nother, l->n);
    ws_catalog_free(&cat);
}

static void s3xml_free(struct s3xml_result *r)
{
    ws_objlist_free(&r->list);
    free(r->token);
}

int FUZZ_ENTRY(s3xml)
{
    enum ws_s3xml_kind kind;
    const char *prefix;
    struct s3xml_result whole, cut;

    if (size < 2)
        return 0;
    kind = (enum ws_s3xml_kind)((data[0] & 7) % 5);
    prefix = s3xml_prefixes[(data[0] >> 3) & 3];
    s3xml_parse(data + 2, size - 2, kind, prefix, 0, &whole);
    s3xml_parse(data + 2, size - 2, kind, prefix, data[1], &cut);

    FUZZ_CHECK(
        whole.rc == cut.rc && whole.take_rc == cut.take_rc &&
            whole.is_error == cut.is_error && whole.hash == cut.hash &&
            whole.truncated == cut.truncated && whole.list.n == cut.list.n,
        "whole: rc %d take %d, %zu keys; in pieces: rc %d take %d, "
        "%zu keys",
        whole.rc, whole.take_rc, whole.list.n, cut.rc, cut.take_rc, cut.list.n);
    FUZZ_CHECK((whole.token == NULL) == (cut.token == NULL) &&
                   (whole.token == NULL || strcmp(whole.token, cut.token) == 0),
               "tokens differ");
    for (size_t i = 0; i < whole.list.n; i++)
        FUZZ_CHECK(strcmp(whole.list.v[i].key, cut.list.v[i].key) == 0 &&
                       whole.list.v[i].size == cut.list.v[i].size &&
                       whole.list.v[i].mtime_ms == cut.list.v[i].mtime_ms,
                   "entry %zu differs in pieces", i);
    if (whole.rc == WS_OK && whole.take_rc == WS_OK)
        s3xml_check_list(&whole.list, prefix);
    s3xml_free(&whole);
    s3xml_free(&cut);
    return 0;
}
