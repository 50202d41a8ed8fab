/*
 * test_url.c: replica URLs (url.h), called directly.
 *
 * The one "is this a URL" rule as a table of strings and their forms;
 * which of the forms each kind of caller refuses (ws_is_url for command
 * arguments, ws_url_parse for a replica, ws_url_check_path for a
 * replica's path key); what ws_url_parse makes of file:// URLs, plain
 * paths and s3:// URLs, each S3-compatible host of the table included,
 * as a table of inputs and fields; and each refusal with its message.
 */
#include "ws/url.h"

#include <stdlib.h>

#include "check.h"

/* The refusal of a bad %-escape e (refusals). */
#define ESC(e)                                                          \
    "invalid escape \"" e "\" in replica url s3://foo/... (a % must "   \
    "start %XX, two hex digits, not %00)"

/* One string, its form and the length of what stands for its scheme. */
static const struct {
    const char *s;
    enum ws_url_form form;
    size_t scheme_len;
} forms[] = {
    {"s3://b/p", WS_URL, 2},
    {"S3://b", WS_URL, 2},
    {"file:///a", WS_URL, 4},
    {"File:///a", WS_URL, 4},
    {"x_1://", WS_URL, 3},
    {"9://a", WS_URL, 1},
    {"gcs://b/p", WS_URL, 3},
    {"file:/tmp/a", WS_URL_NO_SLASHES, 4},
    {"FILE:rel", WS_URL_NO_SLASHES, 4},
    {"s3:bucket/x", WS_URL_NO_SLASHES, 2},
    {"sftp:h/p", WS_URL_NO_SLASHES, 4},
    {"gs:b", WS_URL_NO_SLASHES, 2},
    {"://a", WS_URL_NO_SCHEME, 0},
    {"://", WS_URL_NO_SCHEME, 0},
    {"s3+x://b/p", WS_URL_BAD_SCHEME, 4},
    {"my dir://x", WS_URL_BAD_SCHEME, 6},
    {"s3:://b", WS_URL_BAD_SCHEME, 3}, /* "://" before any '/' wins */
    {"file:x://y", WS_URL_BAD_SCHEME, 6},
    {"/a/b", WS_URL_PATH, 0},
    {"rel/dir", WS_URL_PATH, 0},
    {"a/b://c", WS_URL_PATH, 0},    /* a '/' before "://": a path */
    {"/tmp/file:/x", WS_URL_PATH, 0},
    {"c:/x", WS_URL_PATH, 0},       /* not a scheme Litestream knows */
    {"my:dir", WS_URL_PATH, 0},
    {"files:/x", WS_URL_PATH, 0},
    {"~/backups", WS_URL_PATH, 0},
    {"", WS_URL_PATH, 0},
};

TEST(forms)
{
    size_t sl = 99;

    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        enum ws_url_form f = ws_url_form(forms[i].s, &sl);

        if (f != forms[i].form || sl != forms[i].scheme_len)
            CHECK_FAIL("\"%s\": form %d, scheme length %zu; want %d, %zu",
                       forms[i].s, (int)f, sl, (int)forms[i].form,
                       forms[i].scheme_len);
        if (ws_url_form(forms[i].s, NULL) != f)
            CHECK_FAIL("\"%s\": another form without scheme_len", forms[i].s);
        if (ws_is_url(forms[i].s) != (f == WS_URL))
            CHECK_FAIL("\"%s\": ws_is_url says %d", forms[i].s,
                       ws_is_url(forms[i].s));
    }
    ASSERT_EQ(ws_url_form(NULL, &sl), WS_URL_PATH);
    ASSERT_UEQ(sl, 0);
    ASSERT_EQ(ws_is_url(NULL), 0);
}

/* Which forms each caller refuses: ws_url_parse refuses every form but
 * WS_URL and WS_URL_PATH (and some of those for their content), and
 * ws_url_check_path refuses WS_URL and WS_URL_NO_SLASHES, but neither
 * WS_URL_PATH nor WS_URL_NO_SCHEME (WS_URL_BAD_SCHEME: check_path). */
TEST(callers)
{
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct ws_url u = {0};
        struct ws_err err = {0};
        enum ws_url_form f = forms[i].form;
        int rc = ws_url_parse(forms[i].s, &u, &err);
        int prc = ws_url_check_path(forms[i].s, &err);

        if (f != WS_URL && f != WS_URL_PATH && rc != WS_ECONFIG)
            CHECK_FAIL("ws_url_parse(\"%s\") = %d, want a refusal",
                       forms[i].s, rc);
        if (f != WS_URL_BAD_SCHEME &&
            (f == WS_URL || f == WS_URL_NO_SLASHES) != (prc == WS_ECONFIG))
            CHECK_FAIL("ws_url_check_path(\"%s\") = %d", forms[i].s, prc);
        ws_url_free(&u);
    }
}

/* A successful parse: every field, NULL where the URL gives none. */
static const struct {
    const char *url, *type, *path, *bucket, *region, *endpoint;
    int fps;
} parses[] = {
    {"file:///data/x", "file", "/data/x", NULL, NULL, NULL, -1},
    {"FILE:///data//y/./z/../w/", "file", "/data/y/w", NULL, NULL, NULL, -1},
    {"file:///..", "file", "/", NULL, NULL, NULL, -1},
    {"/plain//path/", "file", "/plain/path", NULL, NULL, NULL, -1},
    {"/tmp/file:/x", "file", "/tmp/file:/x", NULL, NULL, NULL, -1},
    {"s3://foo", "s3", NULL, "foo", NULL, NULL, -1},
    {"s3://foo/", "s3", NULL, "foo", NULL, NULL, -1},
    {"s3://foo/.", "s3", NULL, "foo", NULL, NULL, -1},
    {"S3://foo//a/./b/../c/", "s3", "a/c", "foo", NULL, NULL, -1},
    {"s3://b/sp%20ace+x", "s3", "sp ace+x", "b", NULL, NULL, -1},
    {"s3://user:pw@foo/x#frag", "s3", "x", "foo", NULL, NULL, -1},
    {"s3://foo.s3.amazonaws.com/x", "s3", "x", "foo.s3.amazonaws.com", NULL,
     NULL, -1},
    /* The S3-compatible hosts. */
    {"s3://foo.localhost/x", "s3", "x", "foo", "us-east-1",
     "http://localhost", 1},
    {"s3://a.b.localhost:9000/x", "s3", "x", "a.b", "us-east-1",
     "http://localhost:9000", 1},
    {"s3://foo.s3.us-west-000.backblazeb2.com/x", "s3", "x", "foo",
     "us-west-000", "https://s3.us-west-000.backblazeb2.com", 1},
    {"s3://foo.s3.filebase.com/x", "s3", "x", "foo", NULL,
     "https://s3.filebase.com", 1},
    {"s3://foo.nyc3.digitaloceanspaces.com/x", "s3", "x", "foo", "nyc3",
     "https://nyc3.digitaloceanspaces.com", 1},
    {"s3://foo.s3.fr-par.scw.cloud/x", "s3", "x", "foo", "fr-par",
     "https://s3.fr-par.scw.cloud", 1},
    {"s3://foo.us-east-1.linodeobjects.com:8443/x", "s3", "x", "foo",
     "us-east-1", "https://us-east-1.linodeobjects.com:8443", 1},
    /* A host that only ends like one of the table's is a bucket. */
    {"s3://foolocalhost/x", "s3", "x", "foolocalhost", NULL, NULL, -1},
    {"s3://a.b.nyc3digitaloceanspaces.com", "s3", NULL,
     "a.b.nyc3digitaloceanspaces.com", NULL, NULL, -1},
    /* The query. */
    {"s3://foo/bar?region=eu-west-1", "s3", "bar", "foo", "eu-west-1", NULL,
     -1},
    {"s3://foo/bar?endpoint=http%3A%2F%2Fminio%3A9000&region=r+1", "s3",
     "bar", "foo", "r 1", "http://minio:9000", 1},
    {"s3://foo/bar?endpoint=http://m:9000&force-path-style=false", "s3",
     "bar", "foo", NULL, "http://m:9000", 0},
    {"s3://foo.localhost:9000/bar?force-path-style=0&region=x", "s3", "bar",
     "foo", "x", "http://localhost:9000", 0},
    {"s3://foo/bar?force-path-style=TRUE&&region=", "s3", "bar", "foo", NULL,
     NULL, 1},
};

static void opt_eq(const char *url, const char *what, const char *got,
                   const char *want)
{
    if ((got == NULL) != (want == NULL) ||
        (got != NULL && strcmp(got, want) != 0))
        CHECK_FAIL("%s: %s = \"%s\", want \"%s\"", url, what,
                   got ? got : "(null)", want ? want : "(null)");
}

TEST(parse)
{
    for (size_t i = 0; i < sizeof(parses) / sizeof(parses[0]); i++) {
        struct ws_url u = {0};
        struct ws_err err = {0};

        if (ws_url_parse(parses[i].url, &u, &err) != WS_OK)
            CHECK_FAIL("%s: %s", parses[i].url, err.msg);
        opt_eq(parses[i].url, "url", u.url, parses[i].url);
        opt_eq(parses[i].url, "type", u.type, parses[i].type);
        opt_eq(parses[i].url, "path", u.path, parses[i].path);
        opt_eq(parses[i].url, "bucket", u.bucket, parses[i].bucket);
        opt_eq(parses[i].url, "region", u.region, parses[i].region);
        opt_eq(parses[i].url, "endpoint", u.endpoint, parses[i].endpoint);
        if (u.force_path_style != parses[i].fps)
            CHECK_FAIL("%s: force_path_style %d, want %d", parses[i].url,
                       u.force_path_style, parses[i].fps);
        ws_url_free(&u);
    }
}

/* A plain relative path or "~" is made absolute (path.h). */
TEST(parse_relative_and_home)
{
    char dir[] = "/tmp/ws-url-XXXXXX", *want;
    struct ws_url u = {0}, h = {0};
    struct ws_err err = {0};

    ASSERT(mkdtemp(dir) != NULL);
    ASSERT_EQ(chdir(dir), 0);
    ASSERT_EQ(ws_url_parse("./rel//dir/", &u, &err), WS_OK);
    want = malloc(strlen(dir) + 16);
    ASSERT(want != NULL);
    sprintf(want, "%s/rel/dir", dir);
    ASSERT_STR_EQ(u.path, want);
    ASSERT_STR_EQ(u.url, "./rel//dir/");
    ASSERT_EQ(setenv("HOME", "/home/x/", 1), 0);
    ASSERT_EQ(ws_url_parse("~/b", &h, &err), WS_OK);
    ASSERT_STR_EQ(h.path, "/home/x/b");
    ws_url_free(&u);
    ws_url_free(&h);
    free(want);
    ASSERT_EQ(rmdir(dir), 0);
}

/* Each refusal, with its message (u is freed as after a success). */
static const struct {
    const char *url, *msg;
} refusals[] = {
    {"", "file replica path required"},
    {"file://", "file replica path required"},
    {"://foo/bar", "replica url scheme required"},
    {"s3+x://b/p", "unsupported replica url scheme: \"s3+x\""},
    {"s3:://b", "unsupported replica url scheme: \"s3:\""},
    {"file:x://y", "unsupported replica url scheme: \"file:x\""},
    {"gcs://foo/bar", "unsupported replica url scheme: \"gcs\""},
    {"abs://acct@c/p", "unsupported replica url scheme: \"abs\""},
    {"sftp://u@h/p", "unsupported replica url scheme: \"sftp\""},
    {"s4://foo/bar", "unsupported replica url scheme: \"s4\""},
    {"file:/tmp/a/rep", "replica url \"file:/tmp/a/rep\" lacks the \"//\" of "
                        "a url: write file:///abs/path (here "
                        "file:///tmp/a/rep) or a plain path"},
    {"File:rel/rep", "replica url \"File:rel/rep\" lacks the \"//\" of a "
                     "url: write file:///abs/path (here file:///rel/rep) or "
                     "a plain path"},
    {"s3:bucket/x", "replica url \"s3:bucket/x\" lacks the \"//\" of a url: "
                    "write s3://..."},
    {"file:///tmp/a/rep?x=1", "replica url \"file:///tmp/a/rep?x=1\" has a "
                              "query or fragment (\"?x=1\"): a file url is "
                              "file:///abs/path, or give a plain path"},
    {"file:///tmp/a/rep#f", "replica url \"file:///tmp/a/rep#f\" has a query "
                            "or fragment (\"#f\"): a file url is "
                            "file:///abs/path, or give a plain path"},
    {"file://a/rep", "replica url file://a/rep has host a; write "
                     "file:///a/rep"},
    {"FILE://localhost/p//q", "replica url FILE://localhost/p//q has host "
                              "localhost; write file:///localhost/p//q"},
    {"s3:///bar", "bucket required for s3 replica (s3://BUCKET/PATH)"},
    {"s3://", "bucket required for s3 replica (s3://BUCKET/PATH)"},
    {"s3://localhost:9000/bar", "bucket required for s3 replica (s3://BUCKET/PATH)"},
    /* A port or a character no bucket has: a server, not a bucket (the
     * port was dropped, and the rest refused only by the first request). */
    {"s3://b:9000/p", "replica url host \"b:9000\" has a port, but a bucket "
                      "has none: for an S3-compatible server give its address "
                      "as the endpoint (s3://BUCKET/PATH?endpoint=http://b:9000)"},
    {"s3://user@b:1/p", "replica url host \"b:1\" has a port, but a bucket "
                        "has none: for an S3-compatible server give its "
                        "address as the endpoint "
                        "(s3://BUCKET/PATH?endpoint=http://b:1)"},
    {"s3://[::1]:9000/p", "replica url bucket \"[::1]:9000\": a bucket name "
                          "is ASCII letters, digits, '.', '-' and '_'"},
    {"s3://b%00x/p", "replica url bucket \"b%00x\": a bucket name is ASCII "
                     "letters, digits, '.', '-' and '_'"},
    {"s3://b\xc3\xbcx/p", "replica url bucket \"b\xc3\xbcx\": a bucket name "
                          "is ASCII letters, digits, '.', '-' and '_'"},
    {"s3://foo/bar?colour=red", "unknown replica url parameter \"colour\""},
    {"s3://foo/bar?force-path-style=maybe",
     "invalid force-path-style in replica url: \"maybe\""},
    /* The escape quoted, the url named by scheme and host only: the
     * userinfo walship drops may hold a secret. */
    {" ", "replica path \" \" is blank"},
    {"file:// \t", "replica path \" ?\" is blank"},
    {"s3://foo/b%zzr", ESC("%zz")},
    {"s3://foo/b%00r", ESC("%00")},
    {"s3://foo/b%2", ESC("%2")},
    {"s3://k:SECRET@foo/b%41%4g", ESC("%4g")},
    {"s3://foo/bar?region=%", ESC("%")},
    {"s3://foo/bar?endpoint=x%41&region=%x%01", ESC("%x%")},
};

TEST(refusals)
{
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        struct ws_url u = {0};
        struct ws_err err = {0};

        if (ws_url_parse(refusals[i].url, &u, &err) != WS_ECONFIG)
            CHECK_FAIL("%s: accepted", refusals[i].url);
        ASSERT_EQ(err.code, WS_ECONFIG);
        ASSERT_STR_EQ(err.msg, refusals[i].msg);
        ws_url_free(&u);
    }
}

TEST(check_path)
{
    struct ws_err err = {0};

    ASSERT_EQ(ws_url_check_path("s3://b/p", &err), WS_ECONFIG);
    ASSERT_STR_EQ(err.msg, "replica path cannot be a url, please use the "
                           "'url' field instead: s3://b/p");
    ASSERT_EQ(ws_url_check_path("file:/b", &err), WS_ECONFIG);
    ASSERT_STR_EQ(err.msg, "replica url \"file:/b\" lacks the \"//\" of a "
                           "url: write file:///abs/path (here file:///b) or "
                           "a plain path");
    ASSERT_EQ(ws_url_check_path("/backups/a", &err), WS_OK);
    /* WS_URL_BAD_SCHEME: a directory name, unless it starts as a
     * mistyped URL does. */
    ASSERT_EQ(ws_url_check_path("s3+x://b", &err), WS_OK);
    ASSERT_EQ(ws_url_check_path("my dir://x", &err), WS_OK);
    ASSERT_EQ(ws_url_check_path("file:://x", &err), WS_ECONFIG);
    ASSERT_STR_EQ(err.msg, "replica url \"file:://x\" lacks the \"//\" of "
                           "a url: write file:///abs/path (here "
                           "file:///://x) or a plain path");
    ASSERT_EQ(ws_url_check_path("s3:a://b", &err), WS_ECONFIG);
    ASSERT_EQ(ws_url_check_path("://b", &err), WS_OK);
}

#define LIST(X)                                                             \
    X(forms)                                                                \
    X(callers)                                                              \
    X(parse)                                                                \
    X(parse_relative_and_home)                                              \
    X(refusals)                                                             \
    X(check_path)

TEST_MAIN("url", LIST)
