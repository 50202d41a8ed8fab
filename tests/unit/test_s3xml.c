/*
 * test_s3xml.c: the S3 response parsers.
 *
 * Real-shaped bodies (AWS ListObjectsV2 with its namespace, entities and
 * UTF-8 keys; s3rver 3.7.1's shapes, whose namespace and entity choices
 * differ; errors; multipart; DeleteObjects) fed whole, in odd pieces and
 * byte by byte with the same results.  Then hostile bodies, each of
 * which must fail cleanly with bounded memory: every truncated prefix of
 * every valid body (after curl's unit1650), bytes mutated everywhere,
 * over-long fields, keys outside the prefix, bad sizes and times,
 * endless-listing shapes, a body over the cap, 10000 nested elements,
 * DOCTYPEs and billion laughs, and <Key> elements in the wrong place.
 */
#include "ws/s3xml.h"

#include <time.h>

#include "check.h"

/* ---- helpers ---- */

/* Feed doc in pieces of chunk bytes (0: one piece), then finish. */
static int run(struct ws_s3xml *x, const char *doc, size_t len, size_t chunk,
               struct ws_err *err)
{
    int rc = WS_OK;

    if (chunk == 0)
        chunk = len ? len : 1;
    for (size_t off = 0; off < len && rc == WS_OK; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        rc = ws_s3xml_feed(x, doc + off, n, err);
    }
    if (rc == WS_OK)
        rc = ws_s3xml_finish(x, err);
    return rc;
}

static struct ws_s3xml *parse(enum ws_s3xml_kind kind, const char *doc,
                              size_t chunk, int *rc, struct ws_err *err)
{
    struct ws_s3xml *x = ws_s3xml_new(kind);

    ASSERT(x != NULL);
    ws_err_clear(err);
    *rc = run(x, doc, strlen(doc), chunk, err);
    ASSERT_EQ(err->code, *rc);
    return x;
}

/* Parse doc as kind and require failure with a message containing want. */
static void expect_fail(enum ws_s3xml_kind kind, const char *doc,
                        const char *want)
{
    struct ws_err err;
    int rc;
    struct ws_s3xml *x = parse(kind, doc, 0, &rc, &err);

    if (rc == WS_OK)
        CHECK_FAIL("accepted: %.300s", doc);
    ASSERT_EQ(rc, WS_EREMOTE);
    ASSERT_STR_CONTAINS(err.msg, want);
    ws_s3xml_free(x);
}

/* Parse a listing and take it with prefix; returns the take's rc. */
static int list(const char *doc, const char *prefix, struct ws_objlist *out,
                int *trunc, char **token, struct ws_err *err)
{
    int rc;
    struct ws_s3xml *x = parse(WS_S3XML_LIST, doc, 0, &rc, err);

    if (rc == WS_OK)
        rc = ws_s3xml_list_take(x, prefix, out, trunc, token, err);
    ws_s3xml_free(x);
    return rc;
}

#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""
#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define LBR "<ListBucketResult " NS ">"
#define END "</ListBucketResult>"
#define T0 "<LastModified>2026-11-21T16:24:06.000Z</LastModified>"
#define NOTRUNC "<IsTruncated>false</IsTruncated>"
#define ENTRY(k, size)                                                         \
    "<Contents><Key>" k "</Key>" T0 "<Size>" size "</Size></Contents>"

/* 2026-11-21T16:24:06Z */
#define T0_MS INT64_C(1795278246000)

/* ---- real-shaped bodies ---- */

/* As AWS sends a ListObjectsV2 page (one line after the declaration). */
static const char aws_list[] = DECL LBR
    "<Name>bucket</Name><Prefix>db/</Prefix>"
    "<ContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
    "</ContinuationToken>"
    "<NextContinuationToken>1wEvP8m2TtcX+1Uu/ELcP8tyL5BZ2/Z3Oc4m/Zk0fA=="
    "</NextContinuationToken>"
    "<KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>"
    "<EncodingTypeX>ignored</EncodingTypeX>"
    "<IsTruncated>true</IsTruncated>"
    "<Contents><Key>db/generations/0123456789abcdef/wal/"
    "00000001_00000000.wal.lz4</Key>" T0
    "<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag>"
    "<ChecksumAlgorithm>CRC32</ChecksumAlgorithm><Size>4096</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>db/a&amp;b&lt;c&gt;&#x41;&apos;&quot;</Key>"
    "<LastModified>2026-11-21T16:24:07Z</LastModified><Size>0</Size>"
    "</Contents>"
    "<Contents><Key>db/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac <![CDATA[<x>]]>"
    "</Key><LastModified>2000-02-29T00:00:00.5Z</LastModified>"
    "<Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea"
    "54ba06a</ID><DisplayName>me</DisplayName></Owner>"
    "<Size>1125899906842624</Size><RestoreStatus><IsRestoreInProgress>"
    "false</IsRestoreInProgress></RestoreStatus></Contents>" END;

static void check_aws_list(size_t chunk)
{
    struct ws_objlist l = {0};
    struct ws_err err;
    struct ws_s3xml *x;
    char *token = NULL;
    int rc, trunc = -1;

    x = parse(WS_S3XML_LIST, aws_list, chunk, &rc, &err);
    ASSERT_EQ(rc, WS_OK);
    ASSERT(!ws_s3xml_is_error(x));
    ASSERT(ws_s3xml_field(x, WS_S3XML_CODE) == NULL);
    ASSERT_EQ(ws_s3xml_list_take(x, "db/", &l, &trunc, &token, &err), WS_OK);
    ws_s3xml_free(x);
    ASSERT_EQ(trunc, 1);
    ASSERT_STR_EQ(token, "1wEvP8m2TtcX+1Uu/ELcP8tyL5BZ2/Z3Oc4m/Zk0fA==");
    ASSERT_EQ(l.n, 3);
    ASSERT_STR_EQ(l.v[0].key,
                  "generations/0123456789abcdef/wal/00000001_00000000.wal.lz4");
    ASSERT_UEQ(l.v[0].size, 4096);
    ASSERT_EQ(l.v[0].mtime_ms, T0_MS);
    ASSERT_STR_EQ(l.v[1].key, "a&b<c>A'\"");
    ASSERT_UEQ(l.v[1].size, 0);
    ASSERT_EQ(l.v[1].mtime_ms, T0_MS + 1000);
    ASSERT_STR_EQ(l.v[2].key, "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac <x>");
    ASSERT_UEQ(l.v[2].size, WS_S3XML_MAX_SIZE);
    ASSERT_EQ(l.v[2].mtime_ms, INT64_C(951782400500));
    free(token);
    ws_objlist_free(&l);
}

TEST(list_aws_whole)
{
    check_aws_list(0);
}
TEST(list_aws_bytewise)
{
    check_aws_list(1);
}

TEST(list_aws_pieces)
{
    for (size_t chunk = 2; chunk < 64; chunk++)
        check_aws_list(chunk);
}

/* s3rver 3.7.1 (fast-xml-parser + he.escape): its own namespace typo,
 * &#x27; and &#x60;, .000Z times, no NextContinuationToken on the last
 * page, an empty Prefix when none was asked for. */
static const char s3rver_list[] =
    DECL "<ListBucketResult xmlns=\"http://doc.s3.amazonaws.com/2006-03-01/\">"
         "<Name>test</Name><Prefix></Prefix><KeyCount>2</KeyCount>"
         "<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
         "<Contents><Key>it&#x27;s &#x60;x&#x60;</Key>"
         "<LastModified>2026-11-21T16:24:06.000Z</LastModified>"
         "<ETag>&quot;9e107d9d372bb6826bd81d3542a419d6&quot;</ETag>"
         "<Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>"
         "<Contents><Key>z</Key>"
         "<LastModified>2026-11-21T16:24:52.000Z</LastModified>"
         "<ETag>&quot;9e107d9d372bb6826bd81d3542a419d6&quot;</ETag>"
         "<Size>7</Size><StorageClass>STANDARD</StorageClass></Contents>"
         "</ListBucketResult>";

TEST(list_s3rver)
{
    struct ws_objlist l = {0};
    struct ws_err err;
    char *token = (char *)"unset";
    int trunc = -1;

    ASSERT_EQ(ws_objlist_add(&l, "already", 1, 1), WS_OK);
    ASSERT_EQ(list(s3rver_list, "", &l, &trunc, &token, &err), WS_OK);
    ASSERT_EQ(trunc, 0);
    ASSERT(token == NULL);
    ASSERT_EQ(l.n, 3);
    ASSERT_STR_EQ(l.v[0].key, "already");
    ASSERT_STR_EQ(l.v[1].key, "it's `x`");
    ASSERT_UEQ(l.v[1].size, 12);
    ASSERT_EQ(l.v[1].mtime_ms, T0_MS);
    ASSERT_STR_EQ(l.v[2].key, "z");
    ASSERT_EQ(l.v[2].mtime_ms, T0_MS + 46000);
    ws_objlist_free(&l);
}

TEST(list_empty_and_pretty)
{
    static const char empty[] = DECL LBR
        "\n  <Name>b</Name>\n  <Prefix>db/</Prefix>\n"
        "  <KeyCount>0</KeyCount>\n  <IsTruncated>false</IsTruncated>\n" END;
    static const char pretty[] =
        LBR "\n<IsTruncated>false</IsTruncated>\n<Contents>\n"
            "  <Key>db/x</Key>\n  " T0 "\n  <Size>5</Size>\n</Contents>\n"
            "<CommonPrefixes><Prefix>db/y/</Prefix></CommonPrefixes>\n"
            "<KeyCount>2</KeyCount>\n" END;
    struct ws_objlist l = {0};
    struct ws_err err;
    char *token;
    int trunc;

    ASSERT_EQ(list(empty, "db/", &l, &trunc, &token, &err), WS_OK);
    ASSERT_EQ(l.n, 0);
    ASSERT_EQ(list(pretty, "db/", &l, &trunc, &token, &err), WS_OK);
    ASSERT_EQ(l.n, 1);
    ASSERT_STR_EQ(l.v[0].key, "x");
    ws_objlist_free(&l);
}

/* Prefixed element names and other namespaces: only local names count. */
TEST(list_namespace_agnostic)
{
    static const char doc[] =
        "<s3:ListBucketResult xmlns:s3=\"urn:other\"><s3:IsTruncated>false"
        "</s3:IsTruncated><s3:Contents><s3:Key>p/k</s3:Key>"
        "<LastModified xmlns=\"urn:x\">2026-11-21T16:24:06Z</LastModified>"
        "<s3:Size>1</s3:Size></s3:Contents></s3:ListBucketResult>";
    struct ws_objlist l = {0};
    struct ws_err err;
    char *token;
    int trunc;

    ASSERT_EQ(list(doc, "p/", &l, &trunc, &token, &err), WS_OK);
    ASSERT_EQ(l.n, 1);
    ASSERT_STR_EQ(l.v[0].key, "k");
    ws_objlist_free(&l);
}

/* Keys, Sizes and Contents elsewhere than ListBucketResult/Contents/ are
 * not entries, and their fields do not leak into real entries. */
TEST(list_key_elsewhere_ignored)
{
    static const char doc[] = LBR
        "<Key>db/root-key</Key><Size>-1</Size>" NOTRUNC
        "<Owner><Key>db/owner</Key></Owner>"
        "<CommonPrefixes><Prefix>evil/</Prefix><Key>evil/k</Key>"
        "<Contents><Key>evil/c</Key></Contents></CommonPrefixes>"
        "<Wrapper>" ENTRY(
            "evil/w",
            "1") "</Wrapper>"
                 "<Contents><Owner><Key>evil/o</Key><Size>x</Size></Owner>"
                 "<Key>db/real</Key>" T0 "<Size>3</Size>"
                 "<Extra><Contents><Key>evil/nested</Key></Contents></Extra>"
                 "</Contents>" END;
    struct ws_objlist l = {0};
    struct ws_err err;
    char *token;
    int trunc;

    ASSERT_EQ(list(doc, "db/", &l, &trunc, &token, &err), WS_OK);
    ASSERT_EQ(l.n, 1);
    ASSERT_STR_EQ(l.v[0].key, "real");
    ASSERT_UEQ(l.v[0].size, 3);
    ws_objlist_free(&l);
}

TEST(error_bodies)
{
    static const char aws[] = DECL
        "<Error><Code>SignatureDoesNotMatch</Code><Message>The request "
        "signature we calculated does not match the signature you provided."
        "</Message><AWSAccessKeyId>AKIAEXAMPLE</AWSAccessKeyId>"
        "<StringToSign>AWS4-HMAC-SHA256\n20261121T162406Z</StringToSign>"
        "<RequestId>4442587FB7D0A2F9</RequestId>"
        "<HostId>hid</HostId></Error>";
    static const char s3rver[] =
        DECL "<Error>\n  <Code>NoSuchKey</Code>\n  <Message>The specified "
             "key does not exist.</Message>\n  <Key>a&amp;b</Key>\n</Error>";
    struct ws_err err;
    struct ws_s3xml *x;
    int rc;

    for (size_t chunk = 0; chunk < 3; chunk++) {
        x = parse(WS_S3XML_ERROR, aws, chunk, &rc, &err);
        ASSERT_EQ(rc, WS_OK);
        ASSERT(ws_s3xml_is_error(x));
        ASSERT_STR_EQ(ws_s3xml_field(x, WS_S3XML_CODE),
                      "SignatureDoesNotMatch");
        ASSERT_STR_CONTAINS(ws_s3xml_field(x, WS_S3XML_MESSAGE),
                            "does not match the signature");
        ASSERT_STR_EQ(ws_s3xml_field(x, WS_S3XML_REQUEST_ID),
                      "4442587FB7D0A2F9");
        ASSERT(ws_s3xml_field(x, WS_S3XML_ETAG) == NULL);
        ws_s3xml_free(x);
    }
    x = parse(WS_S3XML_ERROR, s3rver, 0, &rc, &err);
    ASSERT_EQ(rc, WS_OK);
    ASSERT_STR_EQ(ws_s3xml_field(x, WS_S3XML_CODE), "NoSuchKey");
    ASSERT(ws_s3xml_field(x, WS_S3XML_REQUEST_ID) == NULL);
    ws_s3xml_free(x);
    /* An empty Error is still an Error; another root is not. */
    x = parse(WS_S3XML_ERROR, "<Error/>", 0, &rc, &err);
    ASSERT_EQ(rc, WS_OK);
    ASSERT(ws_s3xml_is_error(x));
    ASSERT(ws_s3xml_field(x, WS_S3XML_CODE) == NULL);
    ws_s3xml_free(x);
    expect_fail(WS_S3XML_ERROR, "<html><body>502</body></html>",
                "unexpected root element <html>");
    expect_fail(WS_S3XML_ERROR, "", "no element found");
}

/* An Error root where a result was expected fails, fields readable. */
TEST(error_root_for_other_kinds)
{
    static const char doc[] =
        "<Error><Code>InternalError</Code><Message>We encountered an "
        "internal error. Please try again.</Message>"
        "<RequestId>656c76696e6727732072657175657374</RequestId></Error>";
    static const enum ws_s3xml_kind kinds[] = {
        WS_S3XML_LIST, WS_S3XML_INITIATE, WS_S3XML_COMPLETE, WS_S3XML_DELETE};
    struct ws_err err;
    int rc;

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        struct ws_s3xml *x = parse(kinds[i], doc, 1, &rc, &err);
        ASSERT_EQ(rc, WS_EREMOTE);
        ASSERT_STR_CONTAINS(err.msg, "S3 error InternalError: We encountered");
        ASSERT(ws_s3xml_is_error(x));
        ASSERT_STR_EQ(ws_s3xml_field(x, WS_S3XML_CODE), "InternalError");
        ASSERT_STR_EQ(ws_s3xml_field(x, WS_S3XML_REQUEST_ID),
                      "656c76696e6727732072657175657374");
        ws_s3xml_free(x);
    }
}

static const char initiate[] = DECL
    "<InitiateMultipartUploadResult " NS "><Bucket>b</Bucket>"
    "<Key>db/generations/0123456789abcdef/snapshots/00000000.snapshot.lz4"
    "</Key><UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG"
    "9hZA</UploadId></InitiateMultipartUploadResult>";

TEST(initiate)
{
    struct ws_err err;
    int rc;
    struct ws_s3xml *x = parse(WS_S3XML_INITIATE, initiate, 5, &rc, &err);

    ASSERT_EQ(rc, WS_OK);
    ASSERT_STR_EQ(ws_s3xml_field(x, WS_S3XML_UPLOAD_ID),
                  "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
    ASSERT(ws_s3xml_field(x, WS_S3XML_CODE) == NULL);
    ws_s3xml_free(x);
    expect_fail(WS_S3XML_INITIATE,
                "<InitiateMultipartUploadResult><Key>k</Key>"
                "</InitiateMultipartUploadResult>",
                "no UploadId");
    expect_fail(WS_S3XML_INITIATE,
                "<InitiateMultipartUploadResult><UploadId></UploadId>"
                "</InitiateMultipartUploadResult>",
                "no UploadId");
    /* A result of the wrong request. */
    expect_fail(WS_S3XML_INITIATE, s3rver_list,
                "unexpected root element <ListBucketResult>");
}

static const char complete[] =
    DECL "<CompleteMultipartUploadResult " NS ">"
         "<Location>http://127.0.0.1:9000/b/k</Location><Bucket>b</Bucket>"
         "<Key>k</Key><ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>"
         "</CompleteMultipartUploadResult>";

TEST(complete)
{
    static const char error200[] = DECL
        "\n\n<Error><Code>InternalError</Code><Message>We encountered "
        "an internal error. Please try again.</Message><RequestId>656c7669"
        "</RequestId><HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAt"
        "RPfTaOFg==</HostId></Error>";
    struct ws_err err;
    int rc;
    struct ws_s3xml *x = parse(WS_S3XML_COMPLETE, complete, 0, &rc, &err);

    ASSERT_EQ(rc, WS_OK);
    ASSERT(!ws_s3xml_is_error(x));
    ASSERT_STR_EQ(ws_s3xml_field(x, WS_S3XML_ETAG),
                  "\"3858f62230ac3c915f300c664312c11f-9\"");
    ws_s3xml_free(x);

    /* S3 may answer with 200 and then an Error, after whitespace sent to
     * keep the connection alive. */
    x = parse(WS_S3XML_COMPLETE, error200, 1, &rc, &err);
    ASSERT_EQ(rc, WS_EREMOTE);
    ASSERT_STR_CONTAINS(err.msg, "CompleteMultipartUpload response: S3 error "
                                 "InternalError");
    ASSERT(ws_s3xml_is_error(x));
    ASSERT_STR_EQ(ws_s3xml_field(x, WS_S3XML_CODE), "InternalError");
    ASSERT(ws_s3xml_field(x, WS_S3XML_ETAG) == NULL);
    ws_s3xml_free(x);
    expect_fail(WS_S3XML_COMPLETE,
                "<CompleteMultipartUploadResult><Key>k</Key>"
                "</CompleteMultipartUploadResult>",
                "no ETag");
}

static const char delete_result[] =
    DECL "<DeleteResult " NS ">"
         "<Deleted><Key>db/a</Key></Deleted>"
         "<Deleted><Key>db/b</Key><VersionId>v</VersionId>"
         "<DeleteMarker>true</DeleteMarker></Deleted>"
         "<Error><Key>db/c&amp;</Key><Code>AccessDenied</Code>"
         "<Message>Access Denied</Message></Error>"
         "<Deleted><Key>db/d</Key></Deleted>"
         "<Error><Key>db/e</Key><VersionId>v</VersionId>"
         "<Code>InternalError</Code></Error>"
         "</DeleteResult>";

TEST(delete_result)
{
    const struct ws_s3xml_delerr *e;
    struct ws_err err;
    size_t n, nd;
    int rc;
    struct ws_s3xml *x = parse(WS_S3XML_DELETE, delete_result, 3, &rc, &err);

    ASSERT_EQ(rc, WS_OK);
    e = ws_s3xml_delete_errors(x, &n, &nd);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(nd, 3);
    ASSERT_STR_EQ(e[0].key, "db/c&");
    ASSERT_STR_EQ(e[0].code, "AccessDenied");
    ASSERT_STR_EQ(e[0].message, "Access Denied");
    ASSERT_STR_EQ(e[1].key, "db/e");
    ASSERT_STR_EQ(e[1].code, "InternalError");
    ASSERT_STR_EQ(e[1].message, "");
    ws_s3xml_free(x);

    /* Quiet mode: nothing but the root. */
    x = parse(WS_S3XML_DELETE, "<DeleteResult " NS "/>", 0, &rc, &err);
    ASSERT_EQ(rc, WS_OK);
    ASSERT(ws_s3xml_delete_errors(x, &n, NULL) == NULL);
    ASSERT_EQ(n, 0);
    ws_s3xml_free(x);
    expect_fail(WS_S3XML_DELETE,
                "<DeleteResult><Error><Key>k</Key></Error></DeleteResult>",
                "Error without a Key and a Code");
    expect_fail(WS_S3XML_DELETE,
                "<DeleteResult><Error><Code>c</Code></Error></DeleteResult>",
                "Error without a Key and a Code");
}

/* ---- times ---- */

TEST(parse_time)
{
    static const struct {
        const char *s;
        int64_t ms;
    } good[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T00:00:00.001Z", 1},
        {"2026-11-21T16:24:06.000Z", T0_MS},
        {"2026-11-21T16:24:06Z", T0_MS},
        {"2026-11-21T16:24:06.9Z", T0_MS + 900},
        {"2026-11-21T16:24:06.12Z", T0_MS + 120},
        {"2026-11-21T16:24:06.123456789Z", T0_MS + 123},
        {"2000-02-29T00:00:00Z", INT64_C(951782400000)},
        {"9999-12-31T23:59:59.999Z", INT64_C(253402300799999)},
    };
    static const char *const bad[] = {
        "",
        "Z",
        "2026-11-21",
        "2026-11-21T16:24:06",
        "2026-11-21T16:24:06z",
        "2026-11-21T16:24:06.Z",
        "2026-11-21T16:24:06.1234567890Z",
        "2026-11-21T16:24:06.000+00:00",
        "2026-11-21 16:24:06Z",
        "2026-11-21T16:24:06Zx",
        " 2026-11-21T16:24:06Z",
        "+2026-11-21T16:24:06Z",
        "-026-11-21T16:24:06Z",
        "2026-1-21T16:24:06.000Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2001-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-11-21T24:00:00Z",
        "2026-11-21T16:60:00Z",
        "2026-11-21T16:24:60Z",
        "1969-12-31T23:59:59Z",
        "2026-11-21T16:24:0aZ",
        "2026-11-21T16:24:06.00aZ",
        "2026-11-21T16:24:06.000ZZ",
        "Sat, 21 Nov 2026 16:24:06 GMT",
    };
    int64_t ms;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ms = -1;
        ASSERT_EQ(ws_s3xml_parse_time(good[i].s, &ms), WS_OK);
        ASSERT_EQ(ms, good[i].ms);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms = 42;
        if (ws_s3xml_parse_time(bad[i], &ms) != WS_EREMOTE)
            CHECK_FAIL("accepted \"%s\"", bad[i]);
        ASSERT_EQ(ms, 42);
    }
}

/* Against the C library's calendar over the whole accepted range. */
TEST(parse_time_matches_gmtime)
{
    for (int64_t t = 0; t < INT64_C(253402300800); t += 2718281 * 7) {
        time_t tt = (time_t)t;
        struct tm tm;
        char s[64];
        int64_t ms;

        ASSERT(gmtime_r(&tt, &tm) != NULL);
        ASSERT(strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S.250Z", &tm) > 0);
        ASSERT_EQ(ws_s3xml_parse_time(s, &ms), WS_OK);
        ASSERT_EQ(ms, t * 1000 + 250);
    }
}

/* ---- hostile bodies ---- */

/* curl unit1650: every strict prefix of a valid body must fail. */
TEST(every_prefix_fails)
{
    static const struct {
        enum ws_s3xml_kind kind;
        const char *doc;
    } docs[] = {
        {WS_S3XML_LIST, aws_list},
        {WS_S3XML_LIST, s3rver_list},
        {WS_S3XML_INITIATE, initiate},
        {WS_S3XML_COMPLETE, complete},
        {WS_S3XML_DELETE, delete_result},
        {WS_S3XML_ERROR, "<Error><Code>A</Code></Error>"},
    };
    struct ws_err err;

    for (size_t d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
        size_t len = strlen(docs[d].doc);
        for (size_t n = 0; n <= len; n++) {
            struct ws_s3xml *x = ws_s3xml_new(docs[d].kind);
            int rc = run(x, docs[d].doc, n, n % 2 ? 1 : 0, &err);
            if (n == len)
                ASSERT_EQ(rc, WS_OK);
            else if (rc == WS_OK)
                CHECK_FAIL("doc %zu: prefix of %zu/%zu bytes accepted", d, n,
                           len);
            else
                ASSERT(rc == WS_EREMOTE && err.msg[0] != '\0');
            ws_s3xml_free(x);
        }
    }
}

/* Any byte anywhere replaced by markup, NUL or invalid UTF-8: never a
 * crash or a leak (ASan), and what is accepted still parses sanely. */
TEST(mutations_never_crash)
{
    static const char subst[] = {'<', '>', '&', '\0', '\xff', '/', 'x'};
    size_t len = strlen(aws_list);
    char *doc = malloc(len);

    ASSERT(doc != NULL);
    for (size_t i = 0; i < len; i++) {
        for (size_t s = 0; s < sizeof(subst); s++) {
            struct ws_s3xml *x = ws_s3xml_new(WS_S3XML_LIST);
            struct ws_objlist l = {0};
            struct ws_err err;
            char *token = NULL;
            int trunc, rc;

            memcpy(doc, aws_list, len);
            doc[i] = subst[s];
            rc = run(x, doc, len, 0, &err);
            if (rc == WS_OK)
                rc = ws_s3xml_list_take(x, "db/", &l, &trunc, &token, &err);
            ASSERT(rc == WS_OK || rc == WS_EREMOTE);
            if (rc == WS_OK)
                ASSERT(l.n <= 3 && (!trunc || token != NULL));
            free(token);
            ws_objlist_free(&l);
            ws_s3xml_free(x);
        }
    }
    free(doc);
}

/* A body made of head, n copies of unit, then tail. */
static char *repeat(const char *head, const char *unit, size_t n,
                    const char *tail, size_t *len)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * n + tl + 1);

    ASSERT(s != NULL);
    memcpy(s, head, hl);
    for (size_t i = 0; i < n; i++)
        memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + ul * n, tail, tl + 1);
    *len = hl + ul * n + tl;
    return s;
}

static void expect_field_cap(const char *head, const char *unit, size_t cap,
                             const char *tail, const char *want)
{
    struct ws_err err;
    struct ws_s3xml *x;
    size_t len;
    int rc;
    char *doc = repeat(head, unit, cap, tail, &len);

    x = parse(WS_S3XML_LIST, doc, 0, &rc, &err);
    ASSERT_EQ(rc, WS_OK);
    ws_s3xml_free(x);
    free(doc);
    doc = repeat(head, unit, cap + 1, tail, &len);
    expect_fail(WS_S3XML_LIST, doc, want);
    free(doc);
}

TEST(field_caps)
{
    /* A key of 1024 bytes is fine, 1025 is not, however it is spelled. */
    expect_field_cap(LBR NOTRUNC "<Contents><Key>", "k", WS_S3XML_MAX_KEY,
                     "</Key>" T0 "<Size>1</Size></Contents>" END,
                     "<Key> longer than 1024 bytes");
    expect_field_cap(LBR NOTRUNC "<Contents><Key>", "&amp;", WS_S3XML_MAX_KEY,
                     "</Key>" T0 "<Size>1</Size></Contents>" END,
                     "<Key> longer than 1024 bytes");
    expect_field_cap(LBR NOTRUNC "<Prefix>", "p", WS_S3XML_MAX_KEY,
                     "</Prefix>" END, "<Prefix> longer than 1024 bytes");
    expect_field_cap(LBR "<IsTruncated>true</IsTruncated>"
                         "<NextContinuationToken>",
                     "t", WS_S3XML_MAX_TEXT, "</NextContinuationToken>" END,
                     "<NextContinuationToken> longer than 4096 bytes");
    /* A field may not be sent twice, even within the caps. */
    expect_fail(WS_S3XML_ERROR,
                "<Error><Code>x</Code><Message>"
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
                "</Message><Message>again</Message></Error>",
                "<Message> repeated");
}

TEST(key_outside_prefix)
{
    static const char doc[] =
        LBR NOTRUNC ENTRY("db/a", "1") ENTRY("dbx/b", "1") END;
    static const char wrong_prefix[] =
        LBR "<Prefix>other/</Prefix>" NOTRUNC END;
    struct ws_objlist l = {0};
    struct ws_err err;
    char *token = (char *)"kept";
    int trunc = 7;

    ASSERT_EQ(ws_objlist_add(&l, "mine", 1, 1), WS_OK);
    ASSERT_EQ(list(doc, "db/", &l, &trunc, &token, &err), WS_EREMOTE);
    ASSERT_STR_CONTAINS(err.msg, "key \"dbx/b\" outside prefix \"db/\"");
    ASSERT_EQ(l.n, 1);
    ASSERT_STR_EQ(l.v[0].key, "mine");
    ASSERT_EQ(trunc, 7);
    ASSERT_STR_EQ(token, "kept");
    ASSERT_EQ(list(wrong_prefix, "db/", &l, &trunc, &token, &err), WS_EREMOTE);
    ASSERT_STR_CONTAINS(err.msg, "listed prefix \"other/\"");
    /* With the right prefix the same document is fine; "db/" itself
     * becomes the empty key. */
    ASSERT_EQ(list(doc, "d", &l, &trunc, &token, &err), WS_OK);
    ASSERT_EQ(l.n, 3);
    ASSERT_STR_EQ(l.v[2].key, "bx/b");
    ASSERT_EQ(list(LBR NOTRUNC ENTRY("db/", "0") END, "db/", &l, &trunc, &token,
                   &err),
              WS_OK);
    ASSERT_STR_EQ(l.v[3].key, "");
    ws_objlist_free(&l);
}

TEST(bad_contents)
{
    static const char *const sizes[] = {
        "-1",
        "-0",
        "+5",
        " 5",
        "5 ",
        "",
        "abc",
        "1e3",
        "0x10",
        "5.0",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999999999",
        "1125899906842625",
    };
    char doc[512];

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        snprintf(doc, sizeof(doc), LBR NOTRUNC ENTRY("k", "%s") END, sizes[i]);
        expect_fail(WS_S3XML_LIST, doc, "k: bad Size");
    }
    expect_fail(WS_S3XML_LIST,
                LBR NOTRUNC "<Contents><Key>k</Key>" T0 "</Contents>" END,
                "k: bad Size \"\"");
    expect_fail(WS_S3XML_LIST,
                LBR NOTRUNC "<Contents><Key>k</Key>"
                            "<Size>1</Size></Contents>" END,
                "k: bad LastModified");
    expect_fail(WS_S3XML_LIST,
                LBR NOTRUNC
                "<Contents><Key>k</Key>"
                "<Size>1</Size><LastModified>yesterday</LastModified>"
                "</Contents>" END,
                "k: bad LastModified \"yesterday\"");
    expect_fail(WS_S3XML_LIST,
                LBR NOTRUNC "<Contents>" T0 "<Size>1</Size></Contents>" END,
                "Contents without a Key");
    expect_fail(WS_S3XML_LIST, LBR NOTRUNC ENTRY("", "1") END,
                "Contents without a Key");
    expect_fail(WS_S3XML_LIST,
                LBR NOTRUNC "<Contents><Key>a</Key>"
                            "<Key>b</Key>" T0 "<Size>1</Size></Contents>" END,
                "<Key> repeated");
    expect_fail(WS_S3XML_LIST,
                LBR NOTRUNC "<Contents><Key>a<b/>c</Key>" T0
                            "<Size>1</Size></Contents>" END,
                "element <b> inside <Key>");
    expect_fail(WS_S3XML_LIST, LBR NOTRUNC ENTRY("a&#0;b", "1") END,
                "reference to invalid character number");
    expect_fail(WS_S3XML_LIST, LBR NOTRUNC ENTRY("a&#x1b;b", "1") END,
                "reference to invalid character number");
    expect_fail(WS_S3XML_LIST, LBR NOTRUNC ENTRY("a&nbsp;b", "1") END,
                "undefined entity");
    expect_fail(WS_S3XML_LIST, LBR NOTRUNC ENTRY("a\xff", "1") END,
                "not well-formed");
}

TEST(endless_listing_shapes)
{
    expect_fail(WS_S3XML_LIST, LBR "<IsTruncated>true</IsTruncated>" END,
                "IsTruncated without a NextContinuationToken");
    expect_fail(WS_S3XML_LIST,
                LBR "<IsTruncated>true</IsTruncated>"
                    "<NextContinuationToken></NextContinuationToken>" END,
                "IsTruncated without a NextContinuationToken");
    expect_fail(WS_S3XML_LIST,
                LBR "<IsTruncated>true</IsTruncated>"
                    "<ContinuationToken>t1</ContinuationToken>"
                    "<NextContinuationToken>t1</NextContinuationToken>" END,
                "repeats the request's");
    expect_fail(WS_S3XML_LIST, LBR END, "IsTruncated missing");
    expect_fail(WS_S3XML_LIST, LBR "<IsTruncated>True</IsTruncated>" END,
                "IsTruncated missing or not true/false");
    expect_fail(WS_S3XML_LIST,
                LBR "<IsTruncated>false</IsTruncated>"
                    "<IsTruncated>true</IsTruncated>" END,
                "<IsTruncated> repeated");
    expect_fail(WS_S3XML_LIST,
                LBR "<IsTruncated>true</IsTruncated>"
                    "<NextContinuationToken>a</NextContinuationToken>"
                    "<NextContinuationToken>b</NextContinuationToken>" END,
                "<NextContinuationToken> repeated");
    expect_fail(WS_S3XML_LIST,
                LBR NOTRUNC "<KeyCount>2</KeyCount>" ENTRY("k", "1") END,
                "KeyCount \"2\" but 1 entries");
    expect_fail(WS_S3XML_LIST, LBR NOTRUNC "<KeyCount>-1</KeyCount>" END,
                "KeyCount");
    expect_fail(WS_S3XML_LIST,
                LBR NOTRUNC
                "<EncodingType>url</EncodingType>" ENTRY("a%2Fb", "1") END,
                "unexpected EncodingType \"url\"");
}

TEST(body_cap)
{
    static const char head[] = LBR "<Name>";
    static const char tail[] = "</Name>" NOTRUNC END;
    size_t pad = WS_S3XML_MAX_BODY - strlen(head) - strlen(tail), len;
    char *doc = repeat(head, "a", pad, tail, &len);
    struct ws_s3xml *x;
    struct ws_err err;
    int rc;

    /* Exactly at the cap, in 64 KiB pieces: fine. */
    ASSERT_EQ(len, WS_S3XML_MAX_BODY);
    x = ws_s3xml_new(WS_S3XML_LIST);
    ASSERT_EQ(run(x, doc, len, 65536, &err), WS_OK);
    ws_s3xml_free(x);
    /* One byte more (trailing whitespace is legal XML): not. */
    x = ws_s3xml_new(WS_S3XML_LIST);
    for (size_t off = 0; off < len; off += 65536)
        ASSERT_EQ(ws_s3xml_feed(x, doc + off,
                                len - off < 65536 ? len - off : 65536, &err),
                  WS_OK);
    ASSERT_EQ(ws_s3xml_feed(x, "\n", 1, &err), WS_EREMOTE);
    ASSERT_STR_CONTAINS(err.msg, "body larger than 16777216 bytes");
    ASSERT_EQ(ws_s3xml_feed(x, "", 0, &err), WS_EREMOTE);
    ASSERT_EQ(ws_s3xml_finish(x, &err), WS_EREMOTE);
    ASSERT_STR_CONTAINS(err.msg, "body larger than");
    ws_s3xml_free(x);
    /* One huge piece is refused before expat sees it. */
    free(doc);
    doc = repeat(head, "a", pad + 1, tail, &len);
    x = parse(WS_S3XML_LIST, doc, 0, &rc, &err);
    ASSERT_EQ(rc, WS_EREMOTE);
    ws_s3xml_free(x);
    free(doc);
}

TEST(deep_nesting)
{
    size_t len;
    char *open = repeat(LBR, "<a>", 10000, "", &len);
    char *doc = repeat(open, "</a>", 10000, NOTRUNC END, &len);
    struct ws_s3xml *x;
    struct ws_err err;
    int rc;

    x = parse(WS_S3XML_LIST, doc, 0, &rc, &err);
    ASSERT_EQ(rc, WS_EREMOTE);
    ASSERT_STR_CONTAINS(err.msg, "nested deeper than 32");
    ws_s3xml_free(x);
    free(open);
    free(doc);
    /* Just inside the cap is fine. */
    open = repeat(LBR, "<a>", WS_S3XML_MAX_DEPTH - 1, "", &len);
    doc = repeat(open, "</a>", WS_S3XML_MAX_DEPTH - 1, NOTRUNC END, &len);
    x = parse(WS_S3XML_LIST, doc, 1, &rc, &err);
    ASSERT_EQ(rc, WS_OK);
    ws_s3xml_free(x);
    free(open);
    free(doc);
}

TEST(doctype_and_entities)
{
    static const char laughs[] =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n"
        "<!ENTITY lol \"lol\">\n"
        "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        "<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
        "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
        "<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
        "<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
        "<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
        "<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
        "<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
        "]>\n" LBR NOTRUNC ENTRY("&lol9;", "1") END;

    for (size_t chunk = 0; chunk < 2; chunk++) {
        struct ws_err err;
        int rc;
        struct ws_s3xml *x = parse(WS_S3XML_LIST, laughs, chunk, &rc, &err);
        ASSERT_EQ(rc, WS_EREMOTE);
        ASSERT_STR_CONTAINS(err.msg, "document type declarations are not");
        ws_s3xml_free(x);
    }
    expect_fail(
        WS_S3XML_LIST,
        "<!DOCTYPE ListBucketResult SYSTEM \"http://evil/x.dtd\">" LBR NOTRUNC
            END,
        "document type declarations");
    expect_fail(WS_S3XML_ERROR,
                "<!DOCTYPE Error [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                "<Error><Code>&x;</Code></Error>",
                "document type declarations");
    expect_fail(WS_S3XML_ERROR, "<Error><Code>&x;</Code></Error>",
                "undefined entity");
}

TEST(malformed)
{
    expect_fail(WS_S3XML_LIST, "", "no element found");
    expect_fail(WS_S3XML_LIST, "   ", "no element found");
    expect_fail(WS_S3XML_LIST, LBR NOTRUNC END "<x/>", "junk after");
    expect_fail(WS_S3XML_LIST, LBR NOTRUNC "</Contents>" END, "mismatched tag");
    expect_fail(WS_S3XML_LIST,
                "<p:ListBucketResult>" NOTRUNC "</p:ListBucketResult>",
                "unbound prefix");
    expect_fail(WS_S3XML_LIST, "<ListBucketResultX/>",
                "unexpected root element <ListBucketResultX>");
    expect_fail(WS_S3XML_LIST, "<Contents><Key>k</Key></Contents>",
                "unexpected root element <Contents>");
    expect_fail(
        WS_S3XML_LIST,
        "\xef\xbb\xbf<?xml version=\"1.0\" "
        "encoding=\"UTF-8\"?><ListBucketResult><a b=\"1\" b=\"2\"/>" END,
        "duplicate attribute");
}

TEST(calls_out_of_order)
{
    struct ws_objlist l = {0};
    struct ws_err err;
    char *token;
    int trunc, rc;
    size_t n;
    struct ws_s3xml *x = ws_s3xml_new(WS_S3XML_LIST);

    ASSERT(ws_s3xml_new((enum ws_s3xml_kind)99) == NULL);
    ASSERT_EQ(ws_s3xml_feed(x, s3rver_list, 40, NULL), WS_OK);
    ASSERT_EQ(ws_s3xml_list_take(x, "", &l, &trunc, &token, &err), WS_EUSAGE);
    ASSERT_EQ(
        ws_s3xml_feed(x, s3rver_list + 40, strlen(s3rver_list) - 40, NULL),
        WS_OK);
    ASSERT_EQ(ws_s3xml_finish(x, NULL), WS_OK);
    ASSERT_EQ(ws_s3xml_feed(x, "x", 1, &err), WS_EUSAGE);
    ASSERT_EQ(ws_s3xml_finish(x, &err), WS_EUSAGE);
    ASSERT(ws_s3xml_delete_errors(x, &n, NULL) == NULL);
    ASSERT_EQ(ws_s3xml_list_take(x, "", &l, &trunc, &token, &err), WS_OK);
    ASSERT_EQ(ws_s3xml_list_take(x, "", &l, &trunc, &token, &err), WS_EUSAGE);
    ASSERT_EQ(l.n, 2);
    ws_objlist_free(&l);
    ws_s3xml_free(x);
    ws_s3xml_free(NULL);

    x = parse(WS_S3XML_INITIATE, initiate, 0, &rc, &err);
    ASSERT_EQ(ws_s3xml_list_take(x, "", &l, &trunc, &token, &err), WS_EUSAGE);
    ASSERT(ws_s3xml_field(x, (enum ws_s3xml_field)99) == NULL);
    ws_s3xml_free(x);
    /* Fields are not readable from a failed parse. */
    x = ws_s3xml_new(WS_S3XML_INITIATE);
    ASSERT_EQ(run(x, initiate, strlen(initiate) - 1, 0, &err), WS_EREMOTE);
    ASSERT(ws_s3xml_field(x, WS_S3XML_UPLOAD_ID) == NULL);
    ASSERT(!ws_s3xml_is_error(x));
    ws_s3xml_free(x);
}

#define LIST(X)                                                                \
    X(list_aws_whole)                                                          \
    X(list_aws_bytewise)                                                       \
    X(list_aws_pieces)                                                         \
    X(list_s3rver)                                                             \
    X(list_empty_and_pretty)                                                   \
    X(list_namespace_agnostic)                                                 \
    X(list_key_elsewhere_ignored)                                              \
    X(error_bodies)                                                            \
    X(error_root_for_other_kinds)                                              \
    X(initiate)                                                                \
    X(complete)                                                                \
    X(delete_result)                                                           \
    X(parse_time)                                                              \
    X(parse_time_matches_gmtime)                                               \
    X(every_prefix_fails)                                                      \
    X(mutations_never_crash)                                                   \
    X(field_caps)                                                              \
    X(key_outside_prefix)                                                      \
    X(bad_contents)                                                            \
    X(endless_listing_shapes)                                                  \
    X(body_cap)                                                                \
    X(deep_nesting)                                                            \
    X(doctype_and_entities)                                                    \
    X(malformed)                                                               \
    X(calls_out_of_order)

TEST_MAIN("s3xml", LIST)
