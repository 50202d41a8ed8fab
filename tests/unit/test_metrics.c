/*
 * test_metrics.c: the lag's search (metrics.h), the text format's shape
 * and its label values, the health list (health.h), the metrics
 * server's address forms (httpd.h) and the heartbeat's URL (heartbeat.h).
 */
#include "check.h"
#include "ws/health.h"
#include "ws/heartbeat.h"
#include "ws/httpd.h"
#include "ws/json.h"
#include "ws/metrics.h"

#include <stdlib.h>
#include <string.h>

TEST(oldest)
{
    static const struct ws_tpoint v[] = {{0, 0, 100, 1000},
                                         {0, 0, 200, 2000},
                                         {1, 0, 50, 3000},
                                         {1, 0, 80, 4000}};

    ASSERT_EQ(ws_metrics_oldest(v, 4, 0, 0), 1000);
    ASSERT_EQ(ws_metrics_oldest(v, 4, 0, 99), 1000);
    ASSERT_EQ(ws_metrics_oldest(v, 4, 0, 100), 2000);
    ASSERT_EQ(ws_metrics_oldest(v, 4, 0, 5000), 3000);
    ASSERT_EQ(ws_metrics_oldest(v, 4, 1, 0), 3000);
    ASSERT_EQ(ws_metrics_oldest(v, 4, 1, 50), 4000);
    ASSERT_EQ(ws_metrics_oldest(v, 4, 1, 80), -1); /* caught up */
    ASSERT_EQ(ws_metrics_oldest(v, 4, 2, 0), -1);
    ASSERT_EQ(ws_metrics_oldest(v, 0, 0, 0), -1);
}

TEST(render)
{
    struct ws_dbmetrics dm = {0};
    struct ws_repmetrics rm = {0};
    struct ws_req req = {0};
    struct ws_metrics_rep r = {"s3", "s3", &rm, 1.5, 4096};
    struct ws_metrics_db d = {"/d/a\"b\\c\nd.db", &dm, 1,    8192, 32,
                              "0123456789abcdef", 2,   4152, &r,   1,
                              {5, 2, 1, WS_VALID_FAILED, 1700000000250, ""}};
    struct ws_httpd_body b = {0};

    ws_metrics_sync(&dm, 1, "TRUNCATE", 2500, 700);
    ws_metrics_sync(&dm, 0, NULL, 0, 0);
    req.type = WS_REQ_PUT;
    req.rc = WS_OK;
    req.put_size = 123;
    req.retries = 2;
    ws_metrics_req(&rm, &req);
    req.type = WS_REQ_GET;
    req.rc = WS_ENOTFOUND;
    ws_metrics_req(&rm, &req);
    ws_metrics_render(&d, 1, 120, &b);
    ASSERT(!b.failed);
    /* The summary: one database replicating, none lagging past 120 s,
     * the oldest commit a replica lacks 1.5 s old. */
    ASSERT_STR_CONTAINS(b.p, "walship_databases{state=\"replicating\"} 1\n"
                             "walship_databases{state=\"not_replicating\"} "
                             "0\n");
    ASSERT_STR_CONTAINS(b.p, "walship_databases_lagging 0\n");
    ASSERT_STR_CONTAINS(b.p,
                        "walship_oldest_unreplicated_commit_seconds 1.500000\n");
    b.len = 0;
    ws_metrics_render(&d, 1, 1, &b);
    ASSERT_STR_CONTAINS(b.p, "walship_databases_lagging 1\n");
    ASSERT_STR_CONTAINS(b.p, "# TYPE walship_syncs_total counter\n"
                             "walship_syncs_total{db=\"/d/a\\\"b\\\\c\\nd.db\"}"
                             " 2\n");
    ASSERT_STR_CONTAINS(b.p, "walship_sync_errors_total{db=\"/d/a\\\"b\\\\c"
                             "\\nd.db\"} 1\n");
    ASSERT_STR_CONTAINS(b.p, ",mode=\"TRUNCATE\"} 1\n");
    ASSERT_STR_CONTAINS(b.p, "walship_checkpoint_duration_seconds_sum{db=\"/d"
                             "/a\\\"b\\\\c\\nd.db\",mode=\"TRUNCATE\"} "
                             "0.002500\n");
    ASSERT_STR_CONTAINS(b.p, "walship_writers_held_seconds_total{db=\"/d/a\\"
                             "\"b\\\\c\\nd.db\"} 0.0007\n");
    ASSERT_STR_CONTAINS(b.p, "generation=\"0123456789abcdef\"} 1\n");
    ASSERT_STR_CONTAINS(b.p, "replica=\"s3\",type=\"s3\"} 1.5\n");
    ASSERT_STR_CONTAINS(b.p, "op=\"put\",result=\"ok\"} 1\n");
    ASSERT_STR_CONTAINS(b.p, "op=\"get\",result=\"not_found\"} 1\n");
    ASSERT_STR_CONTAINS(b.p, "walship_replica_retries_total{db=\"/d/a\\\"b"
                             "\\\\c\\nd.db\",replica=\"s3\",type=\"s3\"} 4\n");
    ASSERT_STR_CONTAINS(b.p, "walship_validations_total{db=\"/d/a\\\"b\\\\c"
                             "\\nd.db\",result=\"ok\"} 2\n");
    ASSERT_STR_CONTAINS(b.p, ",result=\"failed\"} 2\n");
    ASSERT_STR_CONTAINS(b.p, ",result=\"incomplete\"} 1\n");
    ASSERT_STR_CONTAINS(b.p, "walship_validation_failing{db=\"/d/a\\\"b"
                             "\\\\c\\nd.db\"} 1\n");
    ASSERT_STR_CONTAINS(b.p, "walship_validation_last_timestamp_seconds{db="
                             "\"/d/a\\\"b\\\\c\\nd.db\"} 1700000000.250\n");
    ASSERT_STR_CONTAINS(b.p, "walship_replica_uploaded_bytes_total{db=\"/d/"
                             "a\\\"b\\\\c\\nd.db\",replica=\"s3\",type=\"s3\"}"
                             " 123\n");
    /* Every sample line belongs to the family its HELP and TYPE name. */
    for (char *l = b.p, *nl; *l; l = nl + 1) {
        nl = strchr(l, '\n');
        ASSERT(nl != NULL);
        if (*l != '#')
            ASSERT(strncmp(l, "walship_", 8) == 0);
    }
    free(b.p);
}

TEST(health)
{
    struct ws_health h;
    char first[64];

    ws_health_init(&h);
    ASSERT_EQ(h.problems, 0);
    ASSERT_STR_EQ(ws_health_first(&h, first, sizeof(first)), "");
    ws_health_fail(&h, "db=%s stuck", "a\nb");
    ws_health_fail(&h, "second");
    ASSERT_EQ(h.problems, 2);
    ASSERT_STR_EQ(h.text.p, "db=a b stuck\nsecond\n");
    ASSERT_STR_EQ(ws_health_first(&h, first, sizeof(first)), "db=a b stuck");
    ws_health_free(&h);
}

TEST(addr)
{
    static const struct {
        const char *addr, *host;
        int port;
    } ok[] = {{":9090", "", 9090},
              {"127.0.0.1:9090", "127.0.0.1", 9090},
              {"[::1]:1", "::1", 1},
              {"localhost:65535", "localhost", 65535}};
    static const char *const bad[] = {"9090", ":",        ":0",        ":65536",
                                      ":90x", "::1:9090", "[::1:9090", ":-1",
                                      "",     "[::1]"};
    struct ws_err err;
    char host[256];
    int port;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ASSERT_EQ(
            ws_httpd_addr_parse(ok[i].addr, host, sizeof(host), &port, &err),
            WS_OK);
        ASSERT_STR_EQ(host, ok[i].host);
        ASSERT_EQ(port, ok[i].port);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ASSERT_EQ(ws_httpd_addr_parse(bad[i], host, sizeof(host), &port, &err),
                  WS_ECONFIG);
        ASSERT_STR_CONTAINS(err.msg, "invalid addr");
    }
    /* A URL is not taken for an IPv6 address without brackets. */
    ASSERT_EQ(ws_httpd_addr_parse("http://127.0.0.1:9090/metrics", host,
                                  sizeof(host), &port, &err),
              WS_ECONFIG);
    ASSERT_STR_EQ(err.msg, "invalid addr \"http://127.0.0.1:9090/metrics\": "
                           "write 127.0.0.1:9090, not a URL");
    ASSERT_EQ(ws_httpd_addr_parse("http://", host, sizeof(host), &port, &err),
              WS_ECONFIG);
    ASSERT_STR_CONTAINS(err.msg, "write HOST:PORT, not a URL");
}

/* A label value that is not UTF-8 (a path is any bytes) comes out as
 * UTF-8, each bad byte as U+FFFD: Prometheus drops a whole scrape for
 * one bad label value. */
TEST(label_utf8)
{
    struct ws_dbmetrics dm = {0};
    struct ws_repmetrics rm = {0};
    struct ws_metrics_rep r = {"r\xff", "file", &rm, 0, 0};
    struct ws_metrics_db d = {"/d/lat\xe9in-\xc3\xa9-\xed\xa0\x80-"
                              "\xf0\x9f\x98\x80-\xc0\xaf-\xf4\x90\x80\x80"
                              "-\xe2\x82.db",
                              &dm, 1, 0, 0, "0123456789abcdef", 0, 0, &r, 1,
                              {0, 0, 0, 0, 0, ""}};
    struct ws_httpd_body b = {0};
    const unsigned char *p;
    size_t n, len;

    ws_metrics_render(&d, 1, 120, &b);
    ASSERT(!b.failed);
    ASSERT_STR_CONTAINS(
        b.p, "walship_db_ready{db=\"/d/lat\xef\xbf\xbdin-\xc3\xa9-"
             "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd-\xf0\x9f\x98\x80-"
             "\xef\xbf\xbd\xef\xbf\xbd-"
             "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd-"
             "\xef\xbf\xbd\xef\xbf\xbd.db\"} 1\n");
    ASSERT_STR_CONTAINS(b.p, ",replica=\"r\xef\xbf\xbd\",type=\"file\"}");
    /* The whole answer is UTF-8. */
    p = (const unsigned char *)b.p;
    for (n = b.len; n > 0; p += len, n -= len) {
        len = ws_utf8_seq(p, n);
        ASSERT(len > 0);
    }
    free(b.p);
}

/* heartbeat-url: what is accepted, its origin (the only part logged),
 * and what is refused, without the refusal quoting the URL. */
TEST(heartbeat_url)
{
    static const struct {
        const char *url, *origin;
    } ok[] = {
        {"http://user:s3cretpw@127.0.0.1:1/ping/uuid-secret",
         "http://127.0.0.1:1"},
        {"http://127.0.0.1:19401?token=SECRETTOKEN", "http://127.0.0.1:19401"},
        {"https://hc-ping.invalid#frag/SECRET", "https://hc-ping.invalid"},
        {"HTTPS://a@b:c@hc-ping.com/x@y", "https://hc-ping.com"},
        {"http://[::1]:8080/p?q", "http://[::1]:8080"},
        {"http://user@[fe80::1%25eth0]/", "http://[fe80::1%25eth0]"},
        {"https://hc-ping.com", "https://hc-ping.com"},
        {"http://h:/x", "http://h"},
        {"http://xn--bcher-kva.example:443/", "http://xn--bcher-kva.example:443"},
    };
    static const char *const bad[] = {
        "not a url SECRET", "ftp://x/SECRET", "http:/SECRET",
        "http://",          "http:///SECRET", "http://SECRET@/p",
        "http://h:0/",      "http://h:65536/", "http://h:12x/SECRET",
        "http://h:123456/", "http://[::1/SECRET", "http://[]/",
        "http://h o/",      "mailto:SECRET",  "http://h/a\tSECRET",
        "",                 "//host/SECRET",  "http://h\"SECRET/",
        "SECRET:foo",       "http://h\x7f/",  "http://h\\x/SECRET",
    };
    struct ws_err err;
    char origin[300];

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ASSERT_EQ(
            ws_heartbeat_url_origin(ok[i].url, origin, sizeof(origin), &err),
            WS_OK);
        ASSERT_STR_EQ(origin, ok[i].origin);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ASSERT_EQ(ws_heartbeat_url_origin(bad[i], origin, sizeof(origin), &err),
                  WS_ECONFIG);
        ASSERT_STR_CONTAINS(err.msg, "invalid heartbeat-url: ");
        ASSERT_STR_CONTAINS(err.msg, "want an absolute http:// or https:// "
                                     "URL with a host");
        ASSERT(strstr(err.msg, "SECRET") == NULL);
    }
}

/* libcurl's message, should it quote parts of the URL, loses them. */
TEST(heartbeat_scrub)
{
    static const char url[] = "http://user:s3cretpw@127.0.0.1:1/ping/uuid?"
                              "token=abc#frag";
    char m1[] = "Failed to connect to user:s3cretpw@127.0.0.1 port 1: "
                "/ping/uuid?token=abc#frag";
    char m2[] = "password s3cretpw, path /ping/uuid, ?token=abc, #frag";
    char m3[] = "Could not resolve host: 127.0.0.1";

    ws_heartbeat_scrub(m1, url);
    ASSERT_STR_EQ(m1, "Failed to connect to ...@127.0.0.1 port 1: ...");
    ws_heartbeat_scrub(m2, url);
    ASSERT_STR_EQ(m2, "password ..., path ..., ..., ...");
    ws_heartbeat_scrub(m3, url);
    ASSERT_STR_EQ(m3, "Could not resolve host: 127.0.0.1");
}

#define LIST(X)                                                                \
    X(oldest) X(render) X(label_utf8) X(health) X(addr) X(heartbeat_url)        \
        X(heartbeat_scrub)
TEST_MAIN("metrics", LIST)
