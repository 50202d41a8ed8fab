/*
 * heartbeat.c: the dead man's switch pings (see heartbeat.h).
 */
#include "ws/heartbeat.h"
#include "ws/fs.h"
#include "ws/http.h"
#include "ws/inspect.h"
#include "ws/log.h"
#include "ws/secret.h"
#include "ws/stall.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { K_WITHHELD, K_FAILED };

struct ws_heartbeat {
    uv_timer_t timer;
    struct ws_http *http;
    struct ws_http_req req;
    char *url;
    char host[300]; /* scheme://host[:port], for log lines */
    int64_t interval_ms;
    int64_t next_ms; /* no ping before this (ws_now_ms) */
    int inflight;
    ws_heartbeat_check_fn check;
    void *ctx;
    struct ws_stall withheld; /* the check fails: no ping */
    struct ws_stall failed;   /* pings fail */
};

/* ---- the URL ------------------------------------------------------------ */

/* An accepted URL's parts, as offsets into it: url[a..b). */
struct url_parts {
    size_t scheme;       /* url[0..scheme), "http" or "https" */
    size_t user0, user1; /* user information, before '@' (empty: none) */
    size_t pass0;        /* its password, after its first ':' */
    size_t host0, host1; /* the host, an IPv6 one with its brackets */
    size_t port0, port1; /* the port's digits (empty: none) */
    size_t path, query, frag, end; /* path from path, '?' at query and
                                    * '#' at frag (or end, when none) */
};

static int bad_url(struct ws_err *err, const char *why)
{
    return ws_err_set(err, WS_ECONFIG,
                      "invalid heartbeat-url: %s; want an absolute "
                      "http:// or https:// URL with a host",
                      why);
}

/* 1 for a byte a host name may hold: RFC 3986's unreserved, sub-delims
 * and '%' of its percent-encoding, and any byte of a UTF-8 name. */
static int host_byte(unsigned char ch)
{
    return ch >= 0x80 || (ch >= 'a' && ch <= 'z') ||
           (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           strchr("-._~%!$&'()*+,;=", ch) != NULL;
}

static int url_parse(const char *url, struct url_parts *u, struct ws_err *err)
{
    size_t i, auth_end, at;
    const char *sep;

    memset(u, 0, sizeof(*u));
    u->end = strlen(url);
    for (i = 0; i < u->end; i++)
        if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f)
            return bad_url(err, "it holds a space or a control character");
    for (i = 0; i < u->end && url[i] != ':'; i++)
        if (!((url[i] >= 'a' && url[i] <= 'z') ||
              (url[i] >= 'A' && url[i] <= 'Z') ||
              (i > 0 && strchr("0123456789+-.", url[i]) != NULL)))
            break;
    if (i == 0 || url[i] != ':')
        return bad_url(err, "no scheme");
    if (!((i == 4 && strncasecmp(url, "http", 4) == 0) ||
          (i == 5 && strncasecmp(url, "https", 5) == 0)))
        return bad_url(err, "the scheme is not http or https");
    u->scheme = i;
    if (strncmp(url + i, "://", 3) != 0)
        return bad_url(err, "no \"//\" after the scheme");
    i += 3;
    auth_end = i + strcspn(url + i, "/?#");
    /* The user information ends at the authority's last '@'. */
    u->user0 = u->user1 = u->pass0 = u->host0 = i;
    for (at = auth_end; at > i; at--)
        if (url[at - 1] == '@') {
            sep = memchr(url + i, ':', at - 1 - i);
            u->user1 = at - 1;
            u->pass0 = sep ? (size_t)(sep - url) + 1 : u->user1;
            u->host0 = at;
            break;
        }
    i = u->host0;
    if (i < auth_end && url[i] == '[') {
        while (i + 1 < auth_end && (host_byte((unsigned char)url[i + 1]) ||
                                    url[i + 1] == ':'))
            i++;
        if (i + 1 >= auth_end || url[i + 1] != ']' || i == u->host0)
            return bad_url(err, "an IPv6 host wants its closing ']'");
        i += 2;
    } else {
        while (i < auth_end && host_byte((unsigned char)url[i]))
            i++;
    }
    u->host1 = u->port0 = u->port1 = i;
    if (i < auth_end && url[i] == ':') {
        u->port0 = u->port1 = ++i;
        while (i < auth_end && url[i] >= '0' && url[i] <= '9')
            i++;
        u->port1 = i;
    }
    if (i < auth_end)
        return bad_url(err, "the host holds a character a host name "
                            "cannot");
    if (u->host1 == u->host0)
        return bad_url(err, "no host");
    if (u->host1 - u->host0 > 255)
        return bad_url(err, "the host is longer than 255 bytes");
    if (u->port1 > u->port0 &&
        (u->port1 - u->port0 > 5 ||
         strtol(url + u->port0, NULL, 10) < 1 ||
         strtol(url + u->port0, NULL, 10) > 65535))
        return bad_url(err, "the port is not a number from 1 to 65535");
    u->path = auth_end;
    u->query = u->path + strcspn(url + u->path, "?#");
    u->frag = u->query + strcspn(url + u->query, "#");
    return WS_OK;
}

int ws_heartbeat_url_origin(const char *url, char *origin, size_t n,
                            struct ws_err *err)
{
    struct url_parts u;
    int rc = url_parse(url, &u, err);

    if (rc != WS_OK)
        return rc;
    snprintf(origin, n, "%s://%.*s%s%.*s", u.scheme == 4 ? "http" : "https",
             (int)(u.host1 - u.host0), url + u.host0,
             u.port1 > u.port0 ? ":" : "", (int)(u.port1 - u.port0),
             url + u.port0);
    return WS_OK;
}

void ws_heartbeat_scrub(char *msg, const char *url)
{
    struct url_parts u;
    struct ws_err e;

    if (url_parse(url, &u, &e) != WS_OK)
        return;
    /* The longest first, so that a whole is not left in pieces. */
    const size_t span[][2] = {{u.path, u.end},     {u.user0, u.user1},
                              {u.pass0, u.user1},  {u.path, u.query},
                              {u.query, u.frag},   {u.frag, u.end}};
    for (size_t k = 0; k < sizeof(span) / sizeof(span[0]); k++) {
        size_t len = span[k][1] - span[k][0];
        if (len >= 2)
            ws_mask(msg, url + span[k][0], len, "...");
    }
}

/* ---- pinging ------------------------------------------------------------ */

/* Format the withheld line as the log renders it (log.h): the first
 * problem's own quotes are escaped inside first="...". */
static void withheld_what(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void withheld_what(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ws_log_vformat(buf, n, fmt, ap);
    va_end(ap);
}

static void say(struct ws_stall_note n, const char *what_end)
{
    char lasted[32];

    ws_duration_format(n.lasted_ms * 1000000, lasted, sizeof(lasted));
    if (n.say == WS_STALL_BEGIN)
        ws_warn("%s", n.what);
    else if (n.say == WS_STALL_AGAIN)
        ws_warn("still, after %s: %s", lasted, n.what);
    else if (n.say == WS_STALL_END)
        ws_info("%s after %s", what_end, lasted);
}

static void on_ping_done(struct ws_http_req *r)
{
    struct ws_heartbeat *hb = r->data;
    int64_t now = ws_now_ms();
    char what[WS_ERR_MSG];

    hb->inflight = 0;
    if (r->result == CURLE_OK && r->status >= 200 && r->status < 300) {
        ws_debug("heartbeat sent url=%s status=%ld", hb->host, r->status);
        say(ws_stall_off(&hb->failed, now), "heartbeat pings work again");
        hb->next_ms = now + hb->interval_ms;
        return;
    }
    ws_heartbeat_scrub(r->curl_err, hb->url);
    if (r->result != CURLE_OK)
        snprintf(what, sizeof(what),
                 "heartbeat ping failed url=%.128s "
                 "error=\"%.200s\": the monitor may raise a false alarm; "
                 "replication is not affected",
                 hb->host, r->curl_err);
    else
        snprintf(what, sizeof(what),
                 "heartbeat ping failed url=%.128s "
                 "status=%ld: the monitor may raise a false alarm; "
                 "replication is not affected",
                 hb->host, r->status);
    say(ws_stall_on(&hb->failed, K_FAILED, what, now),
        "heartbeat pings work again");
    hb->next_ms =
        now + ws_stall_backoff(hb->failed.tries, WS_HEARTBEAT_CHECK_MS,
                               hb->interval_ms);
}

static void on_check(uv_timer_t *t)
{
    struct ws_heartbeat *hb = t->data;
    int64_t now = ws_now_ms();
    struct ws_health h;
    char what[WS_ERR_MSG], first[384];

    if (hb->inflight || now < hb->next_ms)
        return;
    ws_health_init(&h);
    hb->check(hb->ctx, hb->interval_ms, &h);
    if (h.problems > 0) {
        withheld_what(what, sizeof(what), "heartbeat withheld url=%.128s "
                      "problems=%d first=\"%s\"", hb->host, h.problems,
                      ws_health_first(&h, first, sizeof(first)));
        say(ws_stall_on(&hb->withheld, K_WITHHELD, what, now),
            "heartbeat resumed: replication is healthy again");
        ws_health_free(&h);
        return;
    }
    ws_health_free(&h);
    say(ws_stall_off(&hb->withheld, now),
        "heartbeat resumed: replication is healthy again");
    memset(&hb->req, 0, sizeof(hb->req));
    hb->req.method = "GET";
    hb->req.url = hb->url;
    hb->req.body_fd = -1;
    hb->req.timeout_ms = WS_HEARTBEAT_TIMEOUT_MS;
    hb->req.done = on_ping_done;
    hb->req.data = hb;
    hb->inflight = 1;
    ws_http_start(hb->http, &hb->req);
}

int ws_heartbeat_start(uv_loop_t *loop, const char *url, int64_t interval_ms,
                       ws_heartbeat_check_fn check, void *ctx,
                       struct ws_heartbeat **out, struct ws_err *err)
{
    struct ws_heartbeat *hb;
    char origin[sizeof(hb->host)];
    int rc = ws_heartbeat_url_origin(url, origin, sizeof(origin), err);

    if (rc != WS_OK)
        return rc;
    hb = calloc(1, sizeof(*hb));
    if (hb == NULL || (hb->url = strdup(url)) == NULL) {
        free(hb);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    rc = ws_http_new(loop, 1, &hb->http, err);
    if (rc != WS_OK) {
        free(hb->url);
        free(hb);
        return rc;
    }
    memcpy(hb->host, origin, sizeof(hb->host));
    hb->interval_ms = interval_ms;
    hb->check = check;
    hb->ctx = ctx;
    uv_timer_init(loop, &hb->timer);
    hb->timer.data = hb;
    uv_timer_start(&hb->timer, on_check, WS_HEARTBEAT_CHECK_MS / 5,
                   WS_HEARTBEAT_CHECK_MS);
    *out = hb;
    return WS_OK;
}

static void on_closed(uv_handle_t *t)
{
    struct ws_heartbeat *hb = t->data;

    free(hb->url);
    free(hb);
}

void ws_heartbeat_close(struct ws_heartbeat *hb)
{
    if (hb == NULL)
        return;
    if (hb->inflight)
        ws_http_cancel(hb->http, &hb->req);
    ws_http_free(hb->http);
    uv_close((uv_handle_t *)&hb->timer, on_closed);
}
