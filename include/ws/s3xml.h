/*
 * s3xml.h: streaming parsers for the XML bodies S3 sends back.
 *
 * One struct ws_s3xml parses one response body of a kind known in
 * advance (a listing, an error, ...).  Bytes are pushed in as they
 * arrive from libcurl, in pieces of any size; ws_s3xml_finish() then
 * says whether the whole body was a complete, well-formed document with
 * the expected root element, and the results can be read.
 *
 * Whoever can write to the bucket, or sits between walship and the
 * store, controls these bytes, so:
 *   - parsing is done by libexpat, never by scanning strings;
 *   - elements are matched by their full path from the root on the
 *     local name (any namespace): ListBucketResult/Contents/Key is a key,
 *     a <Key> anywhere else is ignored, and so is every element the
 *     parser does not know, with all its text;
 *   - a document type declaration (and so any entity declaration) is an
 *     error, as is nesting deeper than WS_S3XML_MAX_DEPTH;
 *   - the body may be at most WS_S3XML_MAX_BODY bytes, a key at most
 *     WS_S3XML_MAX_KEY bytes and any other field WS_S3XML_MAX_TEXT, so
 *     memory stays proportional to the body: a few MiB for any real
 *     response, at worst about ten times the cap (expat keeps every
 *     attribute name, and a 16 MiB start tag can hold two million);
 *   - a field the results depend on that is missing, repeated, holds an
 *     element, or does not parse is an error, never a default.
 *
 * Every failure is WS_EREMOTE (the store, or something in between, sent
 * something walship cannot use: retry, then give up loudly), except
 * WS_ENOMEM and WS_EUSAGE (calls out of order).  Failures are sticky:
 * after one, later feeds and the finish return it again.
 *
 * Strings are the document's text, entities resolved, in UTF-8, never
 * containing NUL; they are owned by the parser unless a function says it
 * hands them over.
 */
#ifndef WS_S3XML_H
#define WS_S3XML_H

#include <stddef.h>
#include <stdint.h>

#include "ws/err.h"
#include "ws/layout.h"

#define WS_S3XML_MAX_BODY (16u << 20) /* bytes of one response body */
#define WS_S3XML_MAX_KEY 1024         /* bytes of an object key (S3's) */
#define WS_S3XML_MAX_TEXT 4096        /* bytes of any other field */
#define WS_S3XML_MAX_DEPTH 32         /* S3 itself nests 4 deep */
/* The largest Size accepted: far above any store's object limit (S3
 * 5 TiB, MinIO 50 TiB), far below where sums of sizes could overflow. */
#define WS_S3XML_MAX_SIZE ((uint64_t)1 << 50)

/* Which response a parser expects; the root element each accepts. */
enum ws_s3xml_kind {
    WS_S3XML_LIST,     /* ListBucketResult (ListObjectsV2) */
    WS_S3XML_ERROR,    /* Error (any non-2xx response with a body) */
    WS_S3XML_INITIATE, /* InitiateMultipartUploadResult */
    WS_S3XML_COMPLETE, /* CompleteMultipartUploadResult */
    WS_S3XML_DELETE    /* DeleteResult (DeleteObjects) */
};

/* Single-valued fields, for ws_s3xml_field(). */
enum ws_s3xml_field {
    WS_S3XML_CODE,       /* Error/Code, e.g. "SignatureDoesNotMatch" */
    WS_S3XML_MESSAGE,    /* Error/Message */
    WS_S3XML_REQUEST_ID, /* Error/RequestId */
    WS_S3XML_UPLOAD_ID,  /* InitiateMultipartUploadResult/UploadId */
    WS_S3XML_ETAG        /* CompleteMultipartUploadResult/ETag, verbatim
                            (with its double quotes) */
};

/* One failed key of a DeleteObjects request (DeleteResult/Error). */
struct ws_s3xml_delerr {
    const char *key;     /* the full key as sent; never NULL */
    const char *code;    /* e.g. "AccessDenied"; never NULL */
    const char *message; /* "" when the store sent none */
};

struct ws_s3xml;

/* A parser for one body of the given kind, or NULL when out of memory.
 * Free it with ws_s3xml_free. */
struct ws_s3xml *ws_s3xml_new(enum ws_s3xml_kind kind);

/* Free x and every string it owns; NULL is fine. */
void ws_s3xml_free(struct ws_s3xml *x);

/* Parse the next len bytes of the body (len may be 0).  Returns WS_OK,
 * or the sticky failure (WS_EREMOTE past WS_S3XML_MAX_BODY bytes in all,
 * on malformed XML, a DOCTYPE, too deep a nesting or too long a field;
 * WS_ENOMEM), or WS_EUSAGE after ws_s3xml_finish. */
int ws_s3xml_feed(struct ws_s3xml *x, const void *buf, size_t len,
                  struct ws_err *err);

/* End of body: checks that the document is complete and well-formed,
 * that its root is the kind's (or Error), and that the kind's required
 * fields are there and valid:
 *   LIST      IsTruncated is "true" or "false"; when true, a non-empty
 *             NextContinuationToken that differs from ContinuationToken;
 *             KeyCount, if sent, counts the entries; no EncodingType;
 *             every Contents has one non-empty Key, a decimal Size up to
 *             WS_S3XML_MAX_SIZE and a LastModified ws_s3xml_parse_time
 *             accepts.
 *   INITIATE  a non-empty UploadId.      COMPLETE  a non-empty ETag.
 *   DELETE    every Error entry has a Key and a Code.
 * An <Error> root is the expected one for WS_S3XML_ERROR (its fields may
 * all be missing); for every other kind it makes finish fail with
 * WS_EREMOTE and "S3 error <Code>: <Message>" (S3 answers
 * CompleteMultipartUpload and copies with HTTP 200 and an Error body),
 * and its fields can still be read.  Call once, after the last feed. */
int ws_s3xml_finish(struct ws_s3xml *x, struct ws_err *err);

/* 1 when the document's root was <Error> (after finish). */
int ws_s3xml_is_error(const struct ws_s3xml *x);

/* A single-valued field's text, or NULL when the document had none, the
 * kind has no such field, or finish has not succeeded (except the Error
 * fields, readable whenever ws_s3xml_is_error says 1).  Borrowed: valid
 * until ws_s3xml_free. */
const char *ws_s3xml_field(const struct ws_s3xml *x, enum ws_s3xml_field f);

/* LIST, after a successful finish: append every Contents to out with
 * its key made relative by removing prefix ("" for none), and report
 * whether more pages follow.  A key that does not start with prefix is
 * an error (WS_EREMOTE), not skipped; so is a <Prefix> element other
 * than prefix.  A key equal to prefix becomes "".  On success
 * *truncated is 0 or 1 and *next_token is NULL or, when truncated, the
 * token for the next request (caller frees; send it URL-encoded).  On
 * failure out, *truncated and *next_token are as they were.  Call at
 * most once per parser (WS_EUSAGE otherwise). */
int ws_s3xml_list_take(struct ws_s3xml *x, const char *prefix,
                       struct ws_objlist *out, int *truncated,
                       char **next_token, struct ws_err *err);

/* DELETE, after a successful finish: the failed keys, in document order,
 * and how many <Deleted> entries there were (none in quiet mode).
 * Borrowed: valid until ws_s3xml_free.  NULL with *n == 0 when there
 * were no errors or before finish. */
const struct ws_s3xml_delerr *
ws_s3xml_delete_errors(const struct ws_s3xml *x, size_t *n, size_t *ndeleted);

/* Parse an ISO 8601 UTC time as S3 writes it, "2026-11-21T16:24:06.000Z"
 * (1 to 9 fraction digits, truncated to ms) or "2026-11-21T16:24:06Z",
 * years 1970 to 9999, into ms since the epoch.  Nothing else is
 * accepted: no offsets, spaces, signs or leap seconds.  Returns WS_OK
 * (and sets *ms) or WS_EREMOTE. */
int ws_s3xml_parse_time(const char *s, int64_t *ms);

#endif
