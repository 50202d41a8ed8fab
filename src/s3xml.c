/*
 * s3xml.c: S3 response bodies through libexpat (see s3xml.h).
 *
 * The element paths walship reads form a small tree, nodes[], indexed by
 * N_*.  Each open element pushes a node on a fixed stack: the child of
 * its parent's node with the same local name, or SKIP when the parent is
 * SKIP or has no such child.  So a path matches only when every step
 * from the root does, and an unknown subtree costs a depth count and
 * nothing else: its text is dropped as it arrives.
 *
 * A node with a text cap is a leaf.  Its character data goes into one
 * fixed buffer (x->text), and its end tag copies that into val[node].
 * Every container clears its leaves when it opens, so each repeated
 * record (Contents, DeleteResult/Error) starts empty, and a leaf seen
 * twice within one container is an error rather than a silent override.
 * When a record closes it is checked and moved to its list.  Whole-
 * document rules (IsTruncated, required fields) are checked in finish,
 * after expat has seen the end of a well-formed document.
 *
 * Handlers record the first failure in x->rc and x->err and stop expat;
 * every later call returns the same failure.  Names are taken from
 * expat's "uri|local" form (XML_ParserCreateNS with '|', which is not a
 * name character), so prefixes and namespaces do not matter.
 */
#include "ws/s3xml.h"

#include <assert.h>
#include <expat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
enum {
    N_LIST, N_CONTENTS, N_KEY, N_SIZE, N_MTIME, N_TRUNC, N_NEXT, N_CONT,
    N_COUNT, N_PREFIX, N_ENCODING, N_COMMON,
    N_ERROR, N_CODE, N_MSG, N_REQID,
    N_INIT, N_UPLOADID,
    N_COMPLETE, N_ETAG,
    N_DELETE, N_DELETED, N_DERROR, N_DKEY, N_DCODE, N_DMSG,
    N__MAX
};

#define ROOT (-1)  /* the parent of a root element */
#define SKIP (-2)  /* a stack entry outside the known paths */

struct node {
    const char *name;  /* local name */
    int parent;        /* N_* or ROOT */
    size_t cap;        /* text bytes for a leaf; 0 for a container */
};

#define KEYCAP WS_S3XML_MAX_KEY
#define TEXTCAP WS_S3XML_MAX_TEXT

static const struct node nodes[N__MAX] = {
    [N_LIST] = {"ListBucketResult", ROOT, 0},
    [N_CONTENTS] = {"Contents", N_LIST, 0},
    [N_KEY] = {"Key", N_CONTENTS, KEYCAP},
    [N_SIZE] = {"Size", N_CONTENTS, TEXTCAP},
    [N_MTIME] = {"LastModified", N_CONTENTS, TEXTCAP},
    [N_TRUNC] = {"IsTruncated", N_LIST, TEXTCAP},
    [N_NEXT] = {"NextContinuationToken", N_LIST, TEXTCAP},
    [N_CONT] = {"ContinuationToken", N_LIST, TEXTCAP},
    [N_COUNT] = {"KeyCount", N_LIST, TEXTCAP},
    [N_PREFIX] = {"Prefix", N_LIST, KEYCAP},
    [N_ENCODING] = {"EncodingType", N_LIST, TEXTCAP},
    [N_COMMON] = {"CommonPrefixes", N_LIST, 0},
    [N_ERROR] = {"Error", ROOT, 0},
    [N_CODE] = {"Code", N_ERROR, TEXTCAP},
    [N_MSG] = {"Message", N_ERROR, TEXTCAP},
    [N_REQID] = {"RequestId", N_ERROR, TEXTCAP},
    [N_INIT] = {"InitiateMultipartUploadResult", ROOT, 0},
    [N_UPLOADID] = {"UploadId", N_INIT, TEXTCAP},
    [N_COMPLETE] = {"CompleteMultipartUploadResult", ROOT, 0},
    [N_ETAG] = {"ETag", N_COMPLETE, TEXTCAP},
    [N_DELETE] = {"DeleteResult", ROOT, 0},
    [N_DELETED] = {"Deleted", N_DELETE, 0},
    [N_DERROR] = {"Error", N_DELETE, 0},
    [N_DKEY] = {"Key", N_DERROR, KEYCAP},
    [N_DCODE] = {"Code", N_DERROR, TEXTCAP},
    [N_DMSG] = {"Message", N_DERROR, TEXTCAP},
};

static const struct {
    int root;          /* the root element of a successful response */
    int need;          /* a leaf that must be there and not empty, or -1 */
    const char *name;  /* the request, for messages */
} kinds[] = {
    [WS_S3XML_LIST] = {N_LIST, -1, "ListObjectsV2"},
    [WS_S3XML_ERROR] = {N_ERROR, -1, "S3 error"},
    [WS_S3XML_INITIATE] = {N_INIT, N_UPLOADID, "CreateMultipartUpload"},
    [WS_S3XML_COMPLETE] = {N_COMPLETE, N_ETAG, "CompleteMultipartUpload"},
    [WS_S3XML_DELETE] = {N_DELETE, -1, "DeleteObjects"},
};

static const int field_node[] = {
    [WS_S3XML_CODE] = N_CODE,
    [WS_S3XML_MESSAGE] = N_MSG,
    [WS_S3XML_REQUEST_ID] = N_REQID,
    [WS_S3XML_UPLOAD_ID] = N_UPLOADID,
    [WS_S3XML_ETAG] = N_ETAG,
};
/* clang-format on */

struct ws_s3xml {
    XML_Parser p;
    enum ws_s3xml_kind kind;
    int rc;                        /* the first failure, or WS_OK */
    struct ws_err err;             /* its message */
    int parsing;                   /* inside XML_Parse */
    int finished;                  /* finish was called */
    int complete;                  /* expat accepted the whole document */
    int done;                      /* finish succeeded */
    int taken;                     /* list_take succeeded */
    int truncated;                 /* LIST: IsTruncated was "true" */
    size_t total;                  /* body bytes fed */
    int root;                      /* node of the root element, or SKIP */
    int depth;                     /* open elements */
    int stack[WS_S3XML_MAX_DEPTH]; /* node of each open element, or SKIP */
    char text[WS_S3XML_MAX_TEXT];  /* the open leaf's text so far */
    size_t ntext;                  /* bytes in text */
    char *val[N__MAX];             /* leaves' text, owned; NULL if unseen */
    struct ws_objlist list;        /* LIST: Contents, full keys */
    size_t ncommon;                /* LIST: CommonPrefixes */
    struct ws_s3xml_delerr *derr;  /* DELETE: failed keys (owned) */
    size_t nderr, derrcap;         /* used and allocated */
    size_t ndeleted;               /* DELETE: Deleted entries */
};

/* Record the first failure (later ones would only describe its
 * fallout); from a handler, also say where and stop expat. */
__attribute__((format(printf, 3, 4))) static void
fail(struct ws_s3xml *x, int rc, const char *fmt, ...)
{
    const char *what = kinds[x->kind].name;
    char msg[WS_ERR_MSG];
    va_list ap;

    if (x->rc != WS_OK)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!x->parsing) {
        x->rc = ws_err_set(&x->err, rc, "%s response: %s", what, msg);
        return;
    }
    x->rc = ws_err_set(&x->err, rc, "%s response: %s at byte %lld", what, msg,
                       (long long)XML_GetCurrentByteIndex(x->p));
    XML_StopParser(x->p, XML_FALSE);
}

/* Run expat over buf with the handlers allowed to stop it. */
static void xml_parse(struct ws_s3xml *x, const char *buf, size_t len,
                      int final)
{
    enum XML_Status st;
    enum XML_Error e;

    x->parsing = 1;
    st = XML_Parse(x->p, buf, (int)len, final);
    x->parsing = 0;
    if (st == XML_STATUS_OK)
        return;
    e = XML_GetErrorCode(x->p);
    fail(x, e == XML_ERROR_NO_MEMORY ? WS_ENOMEM : WS_EREMOTE,
         "malformed XML at line %lu column %lu: %s",
         (unsigned long)XML_GetCurrentLineNumber(x->p),
         (unsigned long)XML_GetCurrentColumnNumber(x->p), XML_ErrorString(e));
}

static int report(const struct ws_s3xml *x, struct ws_err *err)
{
    return ws_err_set(err, x->rc, "%s", x->err.msg);
}

/* A decimal number made of digits only, at most max. */
static int parse_dec(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (*s < '0' || *s > '9' || v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static void end_contents(struct ws_s3xml *x)
{
    const char *key = x->val[N_KEY], *size = x->val[N_SIZE];
    const char *mtime = x->val[N_MTIME];
    uint64_t n;
    int64_t ms;

    if (key == NULL || *key == '\0')
        fail(x, WS_EREMOTE, "Contents without a Key");
    else if (size == NULL || parse_dec(size, WS_S3XML_MAX_SIZE, &n) != 0)
        fail(x, WS_EREMOTE, "%.200s: bad Size \"%.40s\"", key,
             size ? size : "");
    else if (mtime == NULL || ws_s3xml_parse_time(mtime, &ms) != WS_OK)
        fail(x, WS_EREMOTE, "%.200s: bad LastModified \"%.40s\"", key,
             mtime ? mtime : "");
    else if (ws_objlist_add(&x->list, key, n, ms) != WS_OK)
        fail(x, WS_ENOMEM, "out of memory");
}

static void end_delerr(struct ws_s3xml *x)
{
    struct ws_s3xml_delerr *e;

    if (x->val[N_DKEY] == NULL || x->val[N_DCODE] == NULL) {
        fail(x, WS_EREMOTE, "Error without a Key and a Code");
        return;
    }
    if (x->val[N_DMSG] == NULL)
        x->val[N_DMSG] = strdup("");
    if (x->nderr == x->derrcap) {
        size_t cap = x->derrcap ? x->derrcap * 2 : 8;
        e = realloc(x->derr, cap * sizeof(*e));
        if (e != NULL) {
            x->derr = e;
            x->derrcap = cap;
        }
    }
    if (x->nderr == x->derrcap || x->val[N_DMSG] == NULL) {
        fail(x, WS_ENOMEM, "out of memory");
        return;
    }
    e = &x->derr[x->nderr++];
    e->key = x->val[N_DKEY];
    e->code = x->val[N_DCODE];
    e->message = x->val[N_DMSG];
    x->val[N_DKEY] = x->val[N_DCODE] = x->val[N_DMSG] = NULL;
}

static void end_leaf(struct ws_s3xml *x, int node)
{
    if (x->val[node] != NULL) {
        fail(x, WS_EREMOTE, "<%s> repeated", nodes[node].name);
        return;
    }
    if (memchr(x->text, '\0', x->ntext) != NULL) {
        fail(x, WS_EREMOTE, "NUL in <%s>", nodes[node].name);
        return;
    }
    x->val[node] = strndup(x->text, x->ntext);
    if (x->val[node] == NULL)
        fail(x, WS_ENOMEM, "out of memory");
}

static int child(int parent, const char *name)
{
    for (int i = 0; i < N__MAX; i++)
        if (nodes[i].parent == parent && strcmp(nodes[i].name, name) == 0)
            return i;
    return SKIP;
}

static void XMLCALL on_start(void *ud, const XML_Char *name,
                             const XML_Char **atts)
{
    struct ws_s3xml *x = ud;
    const char *local = strrchr(name, '|');
    int parent = x->depth > 0 ? x->stack[x->depth - 1] : ROOT;
    int node;

    (void)atts;
    local = local ? local + 1 : name;
    if (x->rc != WS_OK)
        return;
    if (x->depth == WS_S3XML_MAX_DEPTH) {
        fail(x, WS_EREMOTE, "elements nested deeper than %d",
             WS_S3XML_MAX_DEPTH);
        return;
    }
    if (parent >= 0 && nodes[parent].cap > 0) {
        fail(x, WS_EREMOTE, "element <%.64s> inside <%s>", local,
             nodes[parent].name);
        return;
    }
    node = parent == SKIP ? SKIP : child(parent, local);
    if (parent == ROOT) {
        if (node != kinds[x->kind].root && node != N_ERROR) {
            fail(x, WS_EREMOTE, "unexpected root element <%.64s>", local);
            return;
        }
        x->root = node;
    }
    x->stack[x->depth++] = node;
    if (node >= 0 && nodes[node].cap > 0)
        x->ntext = 0;
    else if (node >= 0)
        for (int i = 0; i < N__MAX; i++)
            if (nodes[i].parent == node) {
                free(x->val[i]);
                x->val[i] = NULL;
            }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct ws_s3xml *x = ud;
    int node;

    (void)name;
    if (x->rc != WS_OK)
        return;
    assert(x->depth > 0);
    node = x->stack[--x->depth];
    if (node == SKIP)
        return;
    if (nodes[node].cap > 0)
        end_leaf(x, node);
    else if (node == N_CONTENTS)
        end_contents(x);
    else if (node == N_DERROR)
        end_delerr(x);
    else if (node == N_COMMON)
        x->ncommon++;
    else if (node == N_DELETED)
        x->ndeleted++;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct ws_s3xml *x = ud;
    int node = x->depth > 0 ? x->stack[x->depth - 1] : SKIP;
    size_t cap;

    if (x->rc != WS_OK || node < 0 || nodes[node].cap == 0 || len <= 0)
        return;
    cap = nodes[node].cap;
    if ((size_t)len > cap - x->ntext) {
        fail(x, WS_EREMOTE, "<%s> longer than %zu bytes", nodes[node].name,
             cap);
        return;
    }
    memcpy(x->text + x->ntext, s, (size_t)len);
    x->ntext += (size_t)len;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name,
                               const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
    struct ws_s3xml *x = ud;

    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    fail(x, WS_EREMOTE, "document type declarations are not allowed");
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param,
                              const XML_Char *value, int value_len,
                              const XML_Char *base, const XML_Char *sysid,
                              const XML_Char *pubid, const XML_Char *notation)
{
    struct ws_s3xml *x = ud;

    (void)name, (void)is_param, (void)value, (void)value_len, (void)base;
    (void)sysid, (void)pubid, (void)notation;
    fail(x, WS_EREMOTE, "entity declarations are not allowed");
}

struct ws_s3xml *ws_s3xml_new(enum ws_s3xml_kind kind)
{
    struct ws_s3xml *x;

    if ((unsigned)kind >= sizeof(kinds) / sizeof(kinds[0]))
        return NULL;
    x = calloc(1, sizeof(*x));
    if (x == NULL)
        return NULL;
    x->kind = kind;
    x->root = SKIP;
    x->p = XML_ParserCreateNS(NULL, '|');
    if (x->p == NULL) {
        free(x);
        return NULL;
    }
    XML_SetUserData(x->p, x);
    XML_SetElementHandler(x->p, on_start, on_end);
    XML_SetCharacterDataHandler(x->p, on_text);
    XML_SetStartDoctypeDeclHandler(x->p, on_doctype);
    XML_SetEntityDeclHandler(x->p, on_entity);
    return x;
}

void ws_s3xml_free(struct ws_s3xml *x)
{
    if (x == NULL)
        return;
    XML_ParserFree(x->p);
    for (int i = 0; i < N__MAX; i++)
        free(x->val[i]);
    ws_objlist_free(&x->list);
    for (size_t i = 0; i < x->nderr; i++) {
        free((void *)x->derr[i].key);
        free((void *)x->derr[i].code);
        free((void *)x->derr[i].message);
    }
    free(x->derr);
    free(x);
}

int ws_s3xml_feed(struct ws_s3xml *x, const void *buf, size_t len,
                  struct ws_err *err)
{
    if (x->finished)
        return ws_err_set(err, WS_EUSAGE, "s3xml: feed after finish");
    if (x->rc == WS_OK && len > WS_S3XML_MAX_BODY - x->total)
        fail(x, WS_EREMOTE, "body larger than %u bytes", WS_S3XML_MAX_BODY);
    if (x->rc != WS_OK)
        return report(x, err);
    if (len == 0)
        return WS_OK;
    x->total += len;
    xml_parse(x, buf, len, 0);
    return x->rc == WS_OK ? WS_OK : report(x, err);
}

static void check_list(struct ws_s3xml *x)
{
    const char *t = x->val[N_TRUNC], *next = x->val[N_NEXT];
    const char *cont = x->val[N_CONT], *count = x->val[N_COUNT];
    uint64_t n;

    if (t == NULL || (strcmp(t, "true") != 0 && strcmp(t, "false") != 0)) {
        fail(x, WS_EREMOTE, "IsTruncated missing or not true/false");
        return;
    }
    x->truncated = strcmp(t, "true") == 0;
    if (x->val[N_ENCODING] != NULL)
        fail(x, WS_EREMOTE, "unexpected EncodingType \"%.40s\"",
             x->val[N_ENCODING]);
    else if (x->truncated && (next == NULL || *next == '\0'))
        fail(x, WS_EREMOTE, "IsTruncated without a NextContinuationToken");
    else if (x->truncated && cont != NULL && strcmp(cont, next) == 0)
        fail(x, WS_EREMOTE, "NextContinuationToken repeats the request's");
    else if (count != NULL && (parse_dec(count, SIZE_MAX, &n) != 0 ||
                               (n != x->list.n && n != x->list.n + x->ncommon)))
        fail(x, WS_EREMOTE, "KeyCount \"%.40s\" but %zu entries", count,
             x->list.n + x->ncommon);
}

int ws_s3xml_finish(struct ws_s3xml *x, struct ws_err *err)
{
    const char *code, *msg;
    int need = kinds[x->kind].need;

    if (x->finished)
        return ws_err_set(err, WS_EUSAGE, "s3xml: finish called twice");
    x->finished = 1;
    if (x->rc == WS_OK)
        xml_parse(x, "", 0, 1);
    if (x->rc != WS_OK)
        return report(x, err);
    x->complete = 1;
    code = x->val[N_CODE];
    msg = x->val[N_MSG];
    if (x->root == N_ERROR && x->kind != WS_S3XML_ERROR)
        fail(x, WS_EREMOTE, "S3 error %.100s: %.300s",
             code ? code : "(no Code)", msg ? msg : "");
    else if (x->kind == WS_S3XML_LIST)
        check_list(x);
    else if (need >= 0 && (x->val[need] == NULL || *x->val[need] == '\0'))
        fail(x, WS_EREMOTE, "no %s", nodes[need].name);
    if (x->rc != WS_OK)
        return report(x, err);
    x->done = 1;
    return WS_OK;
}

int ws_s3xml_is_error(const struct ws_s3xml *x)
{
    return x->complete && x->root == N_ERROR;
}

const char *ws_s3xml_field(const struct ws_s3xml *x, enum ws_s3xml_field f)
{
    int node;

    if ((unsigned)f >= sizeof(field_node) / sizeof(field_node[0]))
        return NULL;
    node = field_node[f];
    if (nodes[node].parent == N_ERROR)
        return ws_s3xml_is_error(x) ? x->val[node] : NULL;
    return x->done ? x->val[node] : NULL;
}

int ws_s3xml_list_take(struct ws_s3xml *x, const char *prefix,
                       struct ws_objlist *out, int *truncated,
                       char **next_token, struct ws_err *err)
{
    size_t plen = strlen(prefix), n0 = out->n;
    const char *p = x->val[N_PREFIX];
    int rc = WS_OK;

    if (!x->done || x->kind != WS_S3XML_LIST || x->taken)
        return ws_err_set(err, WS_EUSAGE, "s3xml: list_take out of order");
    if (p != NULL && strcmp(p, prefix) != 0)
        return ws_err_set(err, WS_EREMOTE,
                          "ListObjectsV2 response: listed "
                          "prefix \"%.200s\", not \"%.200s\"",
                          p, prefix);
    for (size_t i = 0; i < x->list.n && rc == WS_OK; i++) {
        const struct ws_obj *o = &x->list.v[i];
        if (strncmp(o->key, prefix, plen) != 0) {
            rc = ws_err_set(err, WS_EREMOTE,
                            "ListObjectsV2 response: key "
                            "\"%.200s\" outside prefix \"%.200s\"",
                            o->key, prefix);
            break;
        }
        rc = ws_objlist_add(out, o->key + plen, o->size, o->mtime_ms);
        if (rc == WS_ERANGE)
            rc = ws_err_set(err, rc, "ListObjectsV2: more than %d keys "
                            "under \"%.200s\"", WS_LIST_MAX_KEYS, prefix);
        else if (rc != WS_OK)
            rc = ws_err_set(err, rc, "out of memory");
    }
    if (rc != WS_OK) {
        while (out->n > n0)
            free(out->v[--out->n].key);
        return rc;
    }
    x->taken = 1;
    ws_objlist_free(&x->list);
    *truncated = x->truncated;
    *next_token = NULL;
    if (x->truncated) {
        *next_token = x->val[N_NEXT];
        x->val[N_NEXT] = NULL;
    }
    return WS_OK;
}

const struct ws_s3xml_delerr *
ws_s3xml_delete_errors(const struct ws_s3xml *x, size_t *n, size_t *ndeleted)
{
    int ok = x->done && x->kind == WS_S3XML_DELETE;

    *n = ok ? x->nderr : 0;
    if (ndeleted != NULL)
        *ndeleted = ok ? x->ndeleted : 0;
    return ok && x->nderr > 0 ? x->derr : NULL;
}

static int digits(const char *s, int n)
{
    int v = 0;

    while (n-- > 0)
        v = v * 10 + (*s++ - '0');
    return v;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; y >= 1970). */
static int64_t days_from_civil(int y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int ws_s3xml_parse_time(const char *s, int64_t *ms)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, frac = 0, nfrac = 0;
    const char *p = s + sizeof(shape) - 1;

    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        int isdig = s[i] >= '0' && s[i] <= '9';
        if (shape[i] == 'd' ? !isdig : s[i] != shape[i])
            return WS_EREMOTE;
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9' && nfrac < 9; p++, nfrac++)
            if (nfrac < 3)
                frac = frac * 10 + (*p - '0');
        if (nfrac == 0)
            return WS_EREMOTE;
        for (int i = nfrac; i < 3; i++)
            frac *= 10;
    }
    if (p[0] != 'Z' || p[1] != '\0')
        return WS_EREMOTE;
    y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
        mi > 59 || sec > 59)
        return WS_EREMOTE;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return WS_EREMOTE;
    *ms = (((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + sec) * 1000 +
          frac;
    return WS_OK;
}
