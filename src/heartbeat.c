/*
 * heartbeat.c: the dead man's switch pings (see heartbeat.h).
 */
#include "ws/heartbeat.h"
#include "ws/fs.h"
#include "ws/http.h"
#include "ws/inspect.h"
#include "ws/log.h"
#include "ws/stall.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K_WITHHELD, K_FAILED };

struct ws_heartbeat {
    uv_timer_t timer;
    struct ws_http *http;
    struct ws_http_req req;
    char *url;
    char host[256]; /* scheme://host, for log lines */
    int64_t interval_ms;
    int64_t next_ms; /* no ping before this (ws_now_ms) */
    int inflight;
    ws_heartbeat_check_fn check;
    void *ctx;
    struct ws_stall withheld; /* the check fails: no ping */
    struct ws_stall failed;   /* pings fail */
};

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
        snprintf(what, sizeof(what),
                 "heartbeat withheld url=%.128s problems=%d "
                 "first=\"%s\"",
                 hb->host, h.problems,
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
    struct ws_heartbeat *hb = calloc(1, sizeof(*hb));
    const char *p;
    int rc;

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
    p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    snprintf(hb->host, sizeof(hb->host), "%.*s",
             p ? (int)(p - url) : (int)strlen(url), url);
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
