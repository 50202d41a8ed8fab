/*
 * test_sigv4.c: the S3 SigV4 signer and the body hashes.
 *
 * The four worked examples of AWS's S3 API reference page "Signature
 * Calculations for the Authorization Header: Transferring Payload in a
 * Single Chunk" (examplebucket, 20130524T000000Z, us-east-1): GET Object
 * with Range, PUT Object test$file.text, GET Bucket Lifecycle, and GET
 * Bucket (List Objects).  For each, the canonical request, the string to
 * sign and the signature are compared whole with the page's.  (The page
 * prints the Authorization header without spaces after the commas;
 * walship writes ", " as the AWS SDKs do, and S3 accepts both.)
 *
 * Then the parts: URI encoding, the canonical query (sorted by encoded
 * name, then value; '/' in a value is %2F -- libcurl's own signer got
 * both wrong, curl issues #9717 and #11794), header name case and
 * whitespace folding, every malformed request rejected without the secret
 * in the message, every too-small buffer rejected with "" left behind,
 * and the SHA-256/MD5 helper.
 */
#include "ws/sigv4.h"

#include "check.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define DATE "20130524T000000Z"
#define HOST "examplebucket.s3.amazonaws.com"
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define PUT_BODY_SHA                                                           \
    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
#define SCOPE "20130524/us-east-1/s3/aws4_request"
#define SECRET "SEKRET-d0n0t-l3ak"

/* ---- helpers ---- */

static struct ws_sigv4 example(const struct ws_kv *h, size_t nh,
                               const struct ws_kv *q, size_t nq,
                               const char *method, const char *path,
                               const char *payload)
{
    struct ws_sigv4 s = {
        .method = method,
        .path = path,
        .query = q,
        .nquery = nq,
        .headers = h,
        .nheaders = nh,
        .payload_sha256 = payload,
        .region = "us-east-1",
        .service = "s3",
        .access_key = AK,
        .secret_key = SK,
        .amz_date = DATE,
    };
    return s;
}

/* Check the canonical request, the string to sign (which ends in
 * sts_hash) and the Authorization header (from signed_headers and sig)
 * that s produces. */
static void check_vector(const struct ws_sigv4 *s, const char *creq,
                         const char *sts_hash, const char *signed_headers,
                         const char *sig)
{
    char out[2048], want[1024];
    struct ws_err err = {0};

    ASSERT_EQ(ws_sigv4_canonical_request(s, out, sizeof(out), &err), WS_OK);
    ASSERT_STR_EQ(out, creq);
    ASSERT_EQ(ws_sigv4_string_to_sign(s, out, sizeof(out), &err), WS_OK);
    snprintf(want, sizeof(want), "AWS4-HMAC-SHA256\n" DATE "\n" SCOPE "\n%s",
             sts_hash);
    ASSERT_STR_EQ(out, want);
    ASSERT_EQ(ws_sigv4_sign(s, out, sizeof(out), &err), WS_OK);
    snprintf(want, sizeof(want),
             "AWS4-HMAC-SHA256 Credential=" AK "/" SCOPE
             ", SignedHeaders=%s, Signature=%s",
             signed_headers, sig);
    ASSERT_STR_EQ(out, want);
}

static void expect_usage(const struct ws_sigv4 *s, const char *needle)
{
    char out[2048];
    struct ws_err err = {0};

    ASSERT_EQ(ws_sigv4_sign(s, out, sizeof(out), &err), WS_EUSAGE);
    ASSERT_STR_EQ(out, "");
    ASSERT_STR_CONTAINS(err.msg, needle);
    if (strstr(err.msg, SECRET) != NULL || strstr(err.msg, SK) != NULL)
        CHECK_FAIL("secret in message: %s", err.msg);
    ASSERT_EQ(ws_sigv4_canonical_request(s, out, sizeof(out), &err), WS_EUSAGE);
    ASSERT_EQ(ws_sigv4_string_to_sign(s, out, sizeof(out), &err), WS_EUSAGE);
}

static const struct ws_kv get_headers[] = {
    {"Host", HOST},
    {"Range", "bytes=0-9"},
    {"x-amz-content-sha256", EMPTY},
    {"x-amz-date", DATE},
};

static const char get_creq[] =
    "GET\n"
    "/test.txt\n"
    "\n"
    "host:" HOST "\n"
    "range:bytes=0-9\n"
    "x-amz-content-sha256:" EMPTY "\n"
    "x-amz-date:" DATE "\n"
    "\n"
    "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY;

#define GET_SIG                                                                \
    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"

/* ---- AWS's examples ---- */

TEST(aws_get_object)
{
    struct ws_sigv4 s =
        example(get_headers, 4, NULL, 0, "GET", "/test.txt", EMPTY);
    char out[1024];
    struct ws_err err = {0};

    check_vector(
        &s, get_creq,
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
        "host;range;x-amz-content-sha256;x-amz-date", GET_SIG);
    /* The whole string to sign, as the page prints it. */
    ASSERT_EQ(ws_sigv4_string_to_sign(&s, out, sizeof(out), &err), WS_OK);
    ASSERT_STR_EQ(out, "AWS4-HMAC-SHA256\n"
                       "20130524T000000Z\n"
                       "20130524/us-east-1/s3/aws4_request\n"
                       "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc4"
                       "3964946972");
}

TEST(aws_put_object)
{
    static const char body[] = "Welcome to Amazon S3.";
    char sha[WS_SHA256_HEX];
    struct ws_kv h[] = {
        {"Host", HOST},
        {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
        {"x-amz-date", DATE},
        {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
        {"x-amz-content-sha256", NULL},
    };
    struct ws_sigv4 s;

    ws_sha256_hex(body, strlen(body), sha);
    ASSERT_STR_EQ(sha, PUT_BODY_SHA);
    h[4].value = sha;
    s = example(h, 5, NULL, 0, "PUT", "/test$file.text", sha);
    check_vector(
        &s,
        "PUT\n"
        "/test%24file.text\n"
        "\n"
        "date:Fri, 24 May 2013 00:00:00 GMT\n"
        "host:" HOST "\n"
        "x-amz-content-sha256:" PUT_BODY_SHA "\n"
        "x-amz-date:" DATE "\n"
        "x-amz-storage-class:REDUCED_REDUNDANCY\n"
        "\n"
        "date;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-storage-class\n" PUT_BODY_SHA,
        "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

static const struct ws_kv bucket_headers[] = {
    {"Host", HOST},
    {"x-amz-date", DATE},
    {"x-amz-content-sha256", EMPTY},
};

TEST(aws_get_bucket_lifecycle)
{
    static const struct ws_kv q[] = {{"lifecycle", ""}};
    struct ws_sigv4 s = example(bucket_headers, 3, q, 1, "GET", "/", EMPTY);

    check_vector(
        &s,
        "GET\n/\nlifecycle=\n"
        "host:" HOST "\n"
        "x-amz-content-sha256:" EMPTY "\n"
        "x-amz-date:" DATE "\n"
        "\n"
        "host;x-amz-content-sha256;x-amz-date\n" EMPTY,
        "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
        "host;x-amz-content-sha256;x-amz-date",
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(aws_list_objects)
{
    /* Given out of order: the signer sorts. */
    static const struct ws_kv q[] = {{"prefix", "J"}, {"max-keys", "2"}};
    struct ws_sigv4 s = example(bucket_headers, 3, q, 2, "GET", "/", EMPTY);
    char qs[64];

    check_vector(
        &s,
        "GET\n/\nmax-keys=2&prefix=J\n"
        "host:" HOST "\n"
        "x-amz-content-sha256:" EMPTY "\n"
        "x-amz-date:" DATE "\n"
        "\n"
        "host;x-amz-content-sha256;x-amz-date\n" EMPTY,
        "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
        "host;x-amz-content-sha256;x-amz-date",
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    /* The wire query is the canonical one. */
    ASSERT_EQ(ws_sigv4_query_string(q, 2, qs, sizeof(qs)), 19);
    ASSERT_STR_EQ(qs, "max-keys=2&prefix=J");
}

/* Header names in any case and in any order sign the same. */
TEST(header_case_and_order)
{
    static const struct ws_kv h[] = {
        {"X-AMZ-DATE", DATE},
        {"rAnGe", "bytes=0-9"},
        {"X-Amz-Content-SHA256", EMPTY},
        {"HOST", HOST},
    };
    struct ws_sigv4 s = example(h, 4, NULL, 0, "GET", "/test.txt", EMPTY);

    check_vector(
        &s, get_creq,
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
        "host;range;x-amz-content-sha256;x-amz-date", GET_SIG);
}

/*
 * Two requests with the awkward parts at once (a UTF-8 key with '$', '=',
 * '+' and a space; a folded metadata header; query names that sort
 * differently encoded, "select" before "select-type", '/' in values),
 * signed by AWS SDK for JavaScript v3's signer (@smithy/signature-v4
 * 5.7.5, uriEscapePath false, as for S3) for these expected values.
 */
TEST(matches_aws_sdk_v3)
{
    static const struct ws_kv h[] = {
        {"Host", "s3.eu-west-3.amazonaws.com"},
        {"x-amz-date", "20260102T030405Z"},
        {"x-amz-content-sha256", EMPTY},
        {"Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="},
        {"X-Amz-Meta-Note", "  a   b  "},
    };
    static const struct ws_kv q[] = {
        {"prefix", "generations/ab cd/"},
        {"list-type", "2"},
        {"delimiter", "/"},
        {"continuation-token", "1/+=="},
        {"a=", "y"},
        {"a0", "x"},
        {"select-type", "2"},
        {"select", ""},
    };
    struct ws_sigv4 s = example(
        h, 5, NULL, 0, "PUT", "/bucket/generations/x y/z~a+b$=\xc3\xa9", EMPTY);
    char out[1024];
    struct ws_err err = {0};

    s.region = "eu-west-3";
    s.access_key = "AKIDEXAMPLE";
    s.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    s.amz_date = "20260102T030405Z";
    ASSERT_EQ(ws_sigv4_sign(&s, out, sizeof(out), &err), WS_OK);
    ASSERT_STR_EQ(out, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/"
                       "eu-west-3/s3/aws4_request, SignedHeaders=content-md5;"
                       "host;x-amz-content-sha256;x-amz-date;x-amz-meta-note, "
                       "Signature=1a24690f360c94107eafdc4e417349de5a407d7244ff"
                       "2e838b454ceae6b91778");
    s.method = "GET";
    s.path = "/bucket";
    s.nheaders = 3;
    s.query = q;
    s.nquery = 8;
    ASSERT_EQ(ws_sigv4_sign(&s, out, sizeof(out), &err), WS_OK);
    ASSERT_STR_CONTAINS(out, "Signature=d4f6efd81d0cd91da3b9dfeda8b3852d6b027"
                             "20b445f4491e95802b65cd1aa4c");
}

/* ---- the parts ---- */

TEST(uri_encode)
{
    static const struct {
        const char *in;
        int keep_slash;
        const char *want;
    } cases[] = {
        {"", 1, ""},
        {"a b", 1, "a%20b"},
        {"a/b", 1, "a/b"},
        {"a/b", 0, "a%2Fb"},
        {"~-._", 0, "~-._"},
        {"AZaz09", 0, "AZaz09"},
        {"test$file.text", 1, "test%24file.text"},
        {"a+b=c&d?e#f%g", 0, "a%2Bb%3Dc%26d%3Fe%23f%25g"},
        {"!*'();:@,", 1, "%21%2A%27%28%29%3B%3A%40%2C"},
        {"\xc3\xa9t\xc3\xa9", 1, "%C3%A9t%C3%A9"},        /* "été" */
        {"\xe2\x82\xac/\x7f\x01", 1, "%E2%82%AC/%7F%01"}, /* euro sign */
        {"/b/generations/x y/z", 1, "/b/generations/x%20y/z"},
    };
    char out[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n =
            ws_uri_encode(cases[i].in, cases[i].keep_slash, out, sizeof(out));

        ASSERT_STR_EQ(out, cases[i].want);
        ASSERT_EQ(n, strlen(cases[i].want));
    }
}

/* Every buffer one byte short fails and leaves "", never a prefix. */
TEST(uri_encode_too_small)
{
    const char *in = "a b/\xc3\xa9~";
    const char *want = "a%20b%2F%C3%A9~";
    size_t len = strlen(want);
    char out[64];

    for (size_t n = 1; n <= len; n++) {
        memset(out, 'x', sizeof(out));
        ASSERT_EQ(ws_uri_encode(in, 0, out, n), -1);
        ASSERT_STR_EQ(out, "");
    }
    ASSERT_EQ(ws_uri_encode(in, 0, NULL, 0), -1);
    ASSERT_EQ(ws_uri_encode(in, 0, out, len + 1), (int)len);
    ASSERT_STR_EQ(out, want);
    ASSERT_EQ(ws_uri_encode(NULL, 0, out, sizeof(out)), -1);
    ASSERT_STR_EQ(out, "");
}

TEST(query_string)
{
    static const struct {
        struct ws_kv q[4];
        size_t n;
        const char *want;
    } cases[] = {
        {{{0}}, 0, ""},
        /* '/' is %2F in a query value (libcurl got it wrong: #11794). */
        {{{"prefix", "a/b"}, {"list-type", "2"}},
         2,
         "list-type=2&prefix=a%2Fb"},
        {{{"prefix", "generations/x y/"}, {"delimiter", "/"}},
         2,
         "delimiter=%2F&prefix=generations%2Fx%20y%2F"},
        /* Sorted by encoded name: "a%3D" < "a0" though '0' < '='. */
        {{{"a0", "x"}, {"a=", "y"}}, 2, "a%3D=y&a0=x"},
        /* Bytewise, so uppercase first; a prefix sorts first. */
        {{{"b", "1"}, {"B", "2"}, {"ab", "3"}, {"a", "4"}},
         4,
         "B=2&a=4&ab=3&b=1"},
        /* By name, then value: not by "name=value" ('-' < '='). */
        {{{"select-type", "2"}, {"select", ""}}, 2, "select=&select-type=2"},
        /* Equal names sort by encoded value. */
        {{{"k", "b"}, {"k", "~"}, {"k", "a"}, {"k", " "}},
         4,
         "k=%20&k=a&k=b&k=~"},
        {{{"uploads", ""}, {"continuation-token", "1/+=="}},
         2,
         "continuation-token=1%2F%2B%3D%3D&uploads="},
    };
    char out[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = ws_sigv4_query_string(cases[i].q, cases[i].n, out, sizeof(out));

        ASSERT_STR_EQ(out, cases[i].want);
        ASSERT_EQ(n, strlen(cases[i].want));
    }
}

TEST(query_string_errors)
{
    static const struct ws_kv q[] = {{"prefix", "a/b"}, {"list-type", "2"}};
    static const struct ws_kv bad[] = {{"prefix", NULL}};
    struct ws_kv many[WS_SIGV4_MAX_KV + 1];
    const char *want = "list-type=2&prefix=a%2Fb";
    char out[256];

    for (size_t n = 1; n <= strlen(want); n++) {
        memset(out, 'x', sizeof(out));
        ASSERT_EQ(ws_sigv4_query_string(q, 2, out, n), -1);
        ASSERT_STR_EQ(out, "");
    }
    ASSERT_EQ(ws_sigv4_query_string(q, 2, out, strlen(want) + 1), strlen(want));
    ASSERT_EQ(ws_sigv4_query_string(bad, 1, out, sizeof(out)), -1);
    ASSERT_STR_EQ(out, "");
    for (size_t i = 0; i < WS_SIGV4_MAX_KV + 1; i++)
        many[i] = (struct ws_kv){"k", "v"};
    ASSERT_EQ(ws_sigv4_query_string(many, WS_SIGV4_MAX_KV, out, sizeof(out)),
              4 * WS_SIGV4_MAX_KV - 1);
    ASSERT_EQ(
        ws_sigv4_query_string(many, WS_SIGV4_MAX_KV + 1, out, sizeof(out)), -1);
}

/* The path is encoded once, '/' kept, nothing normalised; the query
 * encodes '/' as %2F. */
TEST(canonical_path_and_query)
{
    static const struct ws_kv q[] = {{"prefix", "a/b"}, {"list-type", "2"}};
    struct ws_sigv4 s = example(bucket_headers, 3, q, 2, "GET",
                                "/bucket/generations/x y//./../z~a+b%", EMPTY);
    char out[1024];
    struct ws_err err = {0};

    ASSERT_EQ(ws_sigv4_canonical_request(&s, out, sizeof(out), &err), WS_OK);
    ASSERT(strncmp(out,
                   "GET\n/bucket/generations/x%20y//./../z~a%2Bb%25\n"
                   "list-type=2&prefix=a%2Fb\nhost:",
                   strlen("GET\n/bucket/generations/x%20y//./../z~a%2Bb%25\n"
                          "list-type=2&prefix=a%2Fb\nhost:")) == 0);
}

TEST(header_whitespace_folding)
{
    static const struct ws_kv h[] = {
        {"Host", "  " HOST "\t"},     {"X-Amz-Meta-A", "  a   b \t\t c  "},
        {"X-Amz-Meta-B", ""},         {"X-Amz-Meta-C", " \t "},
        {"X-Amz-Meta-D", "\"x  y\""}, {"x-amz-content-sha256", EMPTY},
        {"x-amz-date", DATE},
    };
    struct ws_sigv4 s = example(h, 7, NULL, 0, "HEAD", "/k", EMPTY);
    char out[1024];
    struct ws_err err = {0};

    ASSERT_EQ(ws_sigv4_canonical_request(&s, out, sizeof(out), &err), WS_OK);
    ASSERT_STR_EQ(out, "HEAD\n/k\n\n"
                       "host:" HOST "\n"
                       "x-amz-content-sha256:" EMPTY "\n"
                       "x-amz-date:" DATE "\n"
                       "x-amz-meta-a:a b c\n"
                       "x-amz-meta-b:\n"
                       "x-amz-meta-c:\n"
                       "x-amz-meta-d:\"x y\"\n"
                       "\n"
                       "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a;"
                       "x-amz-meta-b;x-amz-meta-c;x-amz-meta-d\n" EMPTY);
}

TEST(unsigned_payload)
{
    static const struct ws_kv h[] = {
        {"host", HOST},
        {"x-amz-content-sha256", "UNSIGNED-PAYLOAD"},
        {"x-amz-date", DATE},
    };
    struct ws_sigv4 s =
        example(h, 3, NULL, 0, "GET", "/test.txt", "UNSIGNED-PAYLOAD");
    char out[1024];
    struct ws_err err = {0};
    size_t n;

    ASSERT_EQ(ws_sigv4_canonical_request(&s, out, sizeof(out), &err), WS_OK);
    n = strlen(out);
    ASSERT(n > 17 && strcmp(out + n - 17, "\nUNSIGNED-PAYLOAD") == 0);
    ASSERT_EQ(ws_sigv4_sign(&s, out, sizeof(out), &err), WS_OK);
}

/* A different secret, region, date or header changes the signature. */
TEST(signature_covers_inputs)
{
    struct ws_sigv4 s =
        example(get_headers, 4, NULL, 0, "GET", "/test.txt", EMPTY);
    struct ws_kv h[4];
    char out[1024];
    struct ws_err err = {0};

    s.secret_key = SK "x";
    ASSERT_EQ(ws_sigv4_sign(&s, out, sizeof(out), &err), WS_OK);
    ASSERT(strstr(out, GET_SIG) == NULL);
    s.secret_key = SK;
    s.region = "eu-west-1";
    ASSERT_EQ(ws_sigv4_sign(&s, out, sizeof(out), &err), WS_OK);
    ASSERT_STR_CONTAINS(out, "/20130524/eu-west-1/s3/aws4_request,");
    ASSERT(strstr(out, GET_SIG) == NULL);
    s.region = "us-east-1";
    memcpy(h, get_headers, sizeof(h));
    h[1].value = "bytes=0-10";
    s.headers = h;
    ASSERT_EQ(ws_sigv4_sign(&s, out, sizeof(out), &err), WS_OK);
    ASSERT(strstr(out, GET_SIG) == NULL);
    h[1].value = "bytes=0-9";
    ASSERT_EQ(ws_sigv4_sign(&s, out, sizeof(out), &err), WS_OK);
    ASSERT_STR_CONTAINS(out, GET_SIG);
}

TEST(rejects_bad_requests)
{
    struct ws_kv h[5];
    struct ws_kv q[] = {{"prefix", NULL}};
    char long_secret[WS_SIGV4_MAX_SECRET + 2];
    struct ws_sigv4 s;

#define RESET()                                                                \
    do {                                                                       \
        memcpy(h, get_headers, sizeof(get_headers));                           \
        s = example(h, 4, NULL, 0, "GET", "/test.txt", EMPTY);                 \
        s.secret_key = SECRET;                                                 \
    } while (0)

    RESET();
    h[0].name = "X-Host";
    expect_usage(&s, "header host missing");
    RESET();
    h[3].value = "20130524T000001Z";
    expect_usage(&s, "x-amz-date");
    RESET();
    s.nheaders = 3; /* no x-amz-date */
    expect_usage(&s, "x-amz-date");
    RESET();
    h[2].value = EMPTY "0";
    expect_usage(&s, "x-amz-content-sha256");
    RESET();
    h[4] = (struct ws_kv){"HOST", "other"};
    s.nheaders = 5;
    expect_usage(&s, "duplicate header");
    RESET();
    h[1].value = "bytes=0-9\r\nX-Evil: 1";
    expect_usage(&s, "control character");
    RESET();
    h[1].name = "Bad Name";
    expect_usage(&s, "not an HTTP token");
    RESET();
    h[1].name = "";
    expect_usage(&s, "not an HTTP token");
    RESET();
    h[1].value = NULL;
    expect_usage(&s, "header 1 is NULL");
    RESET();
    s.method = "get";
    expect_usage(&s, "bad method");
    RESET();
    s.path = "test.txt";
    expect_usage(&s, "path");
    RESET();
    s.amz_date = "2013-05-24T00:00:00Z";
    expect_usage(&s, "amz_date");
    RESET();
    s.payload_sha256 =
        "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
    expect_usage(&s, "payload hash");
    RESET();
    s.region = "us east 1";
    expect_usage(&s, "region");
    RESET();
    s.service = "";
    expect_usage(&s, "service");
    RESET();
    s.access_key = "AKIA/EXAMPLE";
    expect_usage(&s, "access key");
    RESET();
    s.secret_key = "";
    expect_usage(&s, "secret key");
    RESET();
    memset(long_secret, 'S', sizeof(long_secret) - 1);
    long_secret[sizeof(long_secret) - 1] = '\0';
    memcpy(long_secret, SECRET, strlen(SECRET));
    s.secret_key = long_secret;
    expect_usage(&s, "secret key");
    RESET();
    s.amz_date = NULL;
    expect_usage(&s, "NULL");
    RESET();
    s.query = q;
    s.nquery = 1;
    expect_usage(&s, "query 0 is NULL");
    RESET();
    s.nquery = WS_SIGV4_MAX_KV + 1;
    s.query = q; /* never read: the count is checked first */
    expect_usage(&s, "more than");
#undef RESET
}

/* The longest secret allowed works. */
TEST(longest_secret)
{
    char secret[WS_SIGV4_MAX_SECRET + 1];
    struct ws_sigv4 s =
        example(get_headers, 4, NULL, 0, "GET", "/test.txt", EMPTY);
    char out[1024];
    struct ws_err err = {0};

    memset(secret, 'k', sizeof(secret) - 1);
    secret[sizeof(secret) - 1] = '\0';
    s.secret_key = secret;
    ASSERT_EQ(ws_sigv4_sign(&s, out, sizeof(out), &err), WS_OK);
}

/* Every output buffer too small by any amount fails and leaves "". */
TEST(buffers_too_small)
{
    struct ws_sigv4 s =
        example(get_headers, 4, NULL, 0, "GET", "/test.txt", EMPTY);
    int (*fn[])(const struct ws_sigv4 *, char *, size_t, struct ws_err *) = {
        ws_sigv4_sign, ws_sigv4_canonical_request, ws_sigv4_string_to_sign};
    char full[1024], out[1024];
    struct ws_err err = {0};

    for (size_t f = 0; f < 3; f++) {
        size_t len;

        ASSERT_EQ(fn[f](&s, full, sizeof(full), &err), WS_OK);
        len = strlen(full);
        ASSERT(len > 100);
        for (size_t n = 1; n <= len; n++) {
            memset(out, 'x', sizeof(out));
            ws_err_clear(&err);
            ASSERT_EQ(fn[f](&s, out, n, &err), WS_EUSAGE);
            ASSERT_STR_EQ(out, "");
            ASSERT_STR_CONTAINS(err.msg, "does not fit");
        }
        ASSERT_EQ(fn[f](&s, NULL, 0, &err), WS_EUSAGE);
        ASSERT_EQ(fn[f](&s, out, len + 1, &err), WS_OK);
        ASSERT_STR_EQ(out, full);
    }
}

/* ---- body hashes ---- */

static void hash_all(const void *buf, size_t len, size_t chunk,
                     char sha[WS_SHA256_HEX], char md5[WS_MD5_B64])
{
    struct ws_hash *h = ws_hash_new();
    struct ws_err err = {0};
    const unsigned char *p = buf;

    ASSERT(h != NULL);
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;

        ASSERT_EQ(ws_hash_update(h, p + off, n, &err), WS_OK);
    }
    ASSERT_EQ(ws_hash_final(h, sha, md5, &err), WS_OK);
    ws_hash_free(h);
}

TEST(hash_vectors)
{
    char sha[WS_SHA256_HEX], md5[WS_MD5_B64];

    ws_sha256_hex("", 0, sha);
    ASSERT_STR_EQ(sha, EMPTY);
    hash_all("", 0, 1, sha, md5);
    ASSERT_STR_EQ(sha, EMPTY);
    ASSERT_STR_EQ(md5, "1B2M2Y8AsgTpgAmY7PhCfg==");
    hash_all("abc", 3, 1, sha, md5);
    ASSERT_STR_EQ(sha, "ba7816bf8f01cfea414140de5dae2223"
                       "b00361a396177a9cb410ff61f20015ad");
    ASSERT_STR_EQ(md5, "kAFQmDzST7DWlj99KOF/cg==");
    hash_all("Welcome to Amazon S3.", 21, 64, sha, md5);
    ASSERT_STR_EQ(sha, PUT_BODY_SHA);
}

TEST(hash_incremental_equals_one_shot)
{
    static const size_t chunks[] = {1, 3, 63, 64, 65, 4096, 100000, 300000};
    size_t len = 200003;
    unsigned char *buf = malloc(len);
    char sha1[WS_SHA256_HEX], md51[WS_MD5_B64];
    char sha[WS_SHA256_HEX], md5[WS_MD5_B64];
    uint32_t x = 2463534242u;

    ASSERT(buf != NULL);
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)x;
    }
    ws_sha256_hex(buf, len, sha1);
    hash_all(buf, len, len, sha, md51);
    ASSERT_STR_EQ(sha, sha1);
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        hash_all(buf, len, chunks[c], sha, md5);
        ASSERT_STR_EQ(sha, sha1);
        ASSERT_STR_EQ(md5, md51);
    }
    free(buf);
}

TEST(hash_misuse)
{
    struct ws_hash *h = ws_hash_new();
    char sha[WS_SHA256_HEX] = "unchanged", md5[WS_MD5_B64];
    struct ws_err err = {0};

    ASSERT(h != NULL);
    ASSERT_EQ(ws_hash_update(h, "x", 1, &err), WS_OK);
    ASSERT_EQ(ws_hash_update(h, NULL, 0, &err), WS_OK);
    ASSERT_EQ(ws_hash_final(h, sha, md5, &err), WS_OK);
    ASSERT_EQ(ws_hash_update(h, "x", 1, &err), WS_EUSAGE);
    ASSERT_STR_CONTAINS(err.msg, "after final");
    memcpy(sha, "unchanged", 10);
    ASSERT_EQ(ws_hash_final(h, sha, md5, &err), WS_EUSAGE);
    ASSERT_STR_EQ(sha, "unchanged");
    ws_hash_free(h);
    ws_hash_free(NULL);
}

#define LIST(X)                                                                \
    X(aws_get_object)                                                          \
    X(aws_put_object)                                                          \
    X(aws_get_bucket_lifecycle)                                                \
    X(aws_list_objects)                                                        \
    X(header_case_and_order)                                                   \
    X(matches_aws_sdk_v3)                                                      \
    X(uri_encode)                                                              \
    X(uri_encode_too_small)                                                    \
    X(query_string)                                                            \
    X(query_string_errors)                                                     \
    X(canonical_path_and_query)                                                \
    X(header_whitespace_folding)                                               \
    X(unsigned_payload)                                                        \
    X(signature_covers_inputs)                                                 \
    X(rejects_bad_requests)                                                    \
    X(longest_secret)                                                          \
    X(buffers_too_small)                                                       \
    X(hash_vectors)                                                            \
    X(hash_incremental_equals_one_shot)                                        \
    X(hash_misuse)

TEST_MAIN("sigv4", LIST)
