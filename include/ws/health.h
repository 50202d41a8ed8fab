/*
 * health.h: what /healthz says, and what the heartbeat waits for.
 *
 * A health check is a list of problems, one line each, built afresh at
 * each question by whoever knows the state (the daemon): it starts
 * empty (ws_health_init), and each condition that holds adds its line
 * with one call, ws_health_fail().  No problem: healthy (/healthz answers
 * 200 "ok", the heartbeat may ping); any: unhealthy (503, the lines as
 * the body; no ping).  A new kind of problem is one more ws_health_fail
 * where the daemon builds the list (serve.c, health_check), nothing
 * else.
 */
#ifndef WS_HEALTH_H
#define WS_HEALTH_H

#include "ws/httpd.h"

struct ws_health {
    int problems;              /* lines added */
    struct ws_httpd_body text; /* the lines, each ending in "\n" */
};

/* An empty list (healthy). */
void ws_health_init(struct ws_health *h);

/* Add one problem, printf-style, one line (no "\n"). */
void ws_health_fail(struct ws_health *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The first line ("" when healthy), for a log line, copied into buf
 * (cut at n - 1 bytes); returns buf. */
const char *ws_health_first(const struct ws_health *h, char *buf, size_t n);

void ws_health_free(struct ws_health *h);

#endif
