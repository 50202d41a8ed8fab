/*
 * heartbeat.h: pinging a dead man's switch while replication works.
 *
 * With heartbeat-url set, walship sends an HTTP GET to that URL (a
 * monitoring service that alerts when its pings stop: healthchecks.io,
 * Dead Man's Snitch, ...) at most once per heartbeat-interval, and only
 * while the owner's check passes: every database synced and every
 * replica holding everything committed more than one interval ago, and
 * nothing stuck (health.h; the daemon's check with the interval as its
 * bound).  So a replication that stops, whatever the cause, stops the
 * pings, and the service raises the alarm even when walship itself is
 * gone or wedged.
 *
 * The check runs every WS_HEARTBEAT_CHECK_MS: the first ping goes as
 * soon as it passes after the start (once every database has synced),
 * then one interval after the last ping sent, or as soon after that as
 * the check passes again.  A ping that fails (no answer within
 * WS_HEARTBEAT_TIMEOUT_MS, or a status other than 2xx) is tried again
 * with a growing back-off, at most one interval apart; a ping never
 * touches replication.  Failures and withheld pings are logged as a
 * stall (stall.h): when they begin, at a slowing pace while they last,
 * and when they end.
 *
 * The URL.  heartbeat-url must be an absolute http:// or https:// URL
 * with a host (RFC 3986: scheme "://" [userinfo "@"] host [":" port],
 * then the path, query and fragment), with no space or control
 * character; anything else is refused when the config is read, so that
 * a key that is accepted works.  The URL often holds a secret: the
 * path (healthchecks.io's UUID), the query (?token=...), or a user and
 * password before the host.  So log lines and error messages name its
 * origin only, scheme://host[:port], and never quote the URL itself;
 * libcurl's error text is scrubbed of those parts too, should it quote
 * them.
 */
#ifndef WS_HEARTBEAT_H
#define WS_HEARTBEAT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ws/err.h"
#include "ws/health.h"

#define WS_HEARTBEAT_CHECK_MS 5000
#define WS_HEARTBEAT_TIMEOUT_MS 30000

/* Fill h with the problems that hold, for replicas that lag more than
 * within_ms (the owner's health check, health.h). */
typedef void (*ws_heartbeat_check_fn)(void *ctx, int64_t within_ms,
                                      struct ws_health *h);

struct ws_heartbeat;

/* Check url as heartbeat-url (above) and write its origin,
 * "scheme://host[:port]", to origin (n bytes; 300 are enough for any
 * URL accepted).  WS_ECONFIG "invalid heartbeat-url: ..." saying what
 * is wrong without quoting any of the URL. */
int ws_heartbeat_url_origin(const char *url, char *origin, size_t n,
                            struct ws_err *err);

/* Replace, in the NUL-terminated text msg, every occurrence of url's
 * secret parts (user information, password, path, query, fragment: any
 * of them two bytes or longer) by "...".  url must have passed
 * ws_heartbeat_url_origin. */
void ws_heartbeat_scrub(char *msg, const char *url);

/* Start pinging url every interval_ms on loop while check passes.
 * WS_ECONFIG when url is not one ws_heartbeat_url_origin accepts, or
 * when libcurl cannot be loaded. */
int ws_heartbeat_start(uv_loop_t *loop, const char *url, int64_t interval_ms,
                       ws_heartbeat_check_fn check, void *ctx,
                       struct ws_heartbeat **out, struct ws_err *err);

/* Stop (a ping in flight is dropped); freed once libuv has closed the
 * handles.  NULL is allowed. */
void ws_heartbeat_close(struct ws_heartbeat *hb);

#endif
