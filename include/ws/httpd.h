/*
 * httpd.h: a minimal HTTP/1.1 server on the libuv loop, for /metrics and
 * /healthz (replicate -addr, the config's `addr:`).
 *
 * It answers GET and HEAD requests (HEAD: GET's status and headers,
 * Content-Length included, without the body) and nothing else, one
 * request per connection: it reads the request head (the request line
 * and the headers, up to the empty line; a line ends with CRLF or a
 * bare LF, which RFC 9112 lets a server accept), asks the owner's
 * handler for the answer, writes it with "Connection: close" and
 * closes.  It is built to survive hostile clients without stalling the
 * loop or replication:
 *   - a request head is at most WS_HTTPD_HEAD_MAX bytes (431 past it);
 *   - at most WS_HTTPD_CLIENTS connections at once: one more closes the
 *     oldest one that is still waiting for its request and has nothing
 *     to read, whatever its age (a scraper sends its request as soon as
 *     it connects, and a request waiting to be read is answered on the
 *     next turn of the loop: so a flood of idle connections cannot lock
 *     a scrape out, nor push out one being answered), or, when there is
 *     none, is accepted and closed at once (the listen queue never
 *     fills);
 *   - each connection has WS_HTTPD_DEADLINE_MS from accept to the end of
 *     the answer's write: a silent or slow client (reading or writing)
 *     is closed then;
 *   - a request with a body, bytes after the head (pipelining), or a
 *     request line that is not "METHOD /path HTTP/1.x" get 400 and a
 *     close (so does the absolute form, "GET http://host/path", which
 *     RFC 9112 wants servers to accept but only proxies send); a method
 *     other than GET or HEAD gets 405; a path the handler does not know,
 *     404.  The path is not percent-decoded.
 * Nothing blocks: every step is a libuv callback, and the handler runs
 * on the loop thread, so it may read the owner's state without locks.
 *
 * Addresses take Go's forms, as Litestream's: ":9090" (every interface,
 * IPv4 and IPv6 where the system allows), "127.0.0.1:9090",
 * "[::1]:9090", "localhost:9090" (resolved once, at start).
 */
#ifndef WS_HTTPD_H
#define WS_HTTPD_H

#include <stddef.h>
#include <uv.h>

#include "ws/err.h"

#define WS_HTTPD_HEAD_MAX 8192        /* bytes of a request head */
#define WS_HTTPD_CLIENTS 64           /* connections at once */
#define WS_HTTPD_DEADLINE_MS 10000    /* per connection, accept to close */
#define WS_HTTPD_BODY_MAX (16u << 20) /* bytes of an answer */

/* A growing answer body, at most WS_HTTPD_BODY_MAX bytes; `failed` once
 * memory or that bound ran out (the server then answers 500). */
struct ws_httpd_body {
    char *p;
    size_t len, cap;
    int failed;
};

/* Append printf-style text to b (sets b->failed instead of growing past
 * the bound). */
void ws_httpd_printf(struct ws_httpd_body *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The answer a handler gives: status (200, 404, 503, ...), its content
 * type (a static string) and body. */
struct ws_httpd_resp {
    int status;
    const char *content_type;
    struct ws_httpd_body body;
};

/* Fill resp for GET (or HEAD) path (the query string cut off).  Runs on the loop
 * thread; resp->status starts at 404, the type at text/plain. */
typedef void (*ws_httpd_fn)(void *ctx, const char *path,
                            struct ws_httpd_resp *resp);

struct ws_httpd;

/* Parse addr ("host:port", ":port", "[v6]:port") into host (NULL for
 * every interface; n >= 256) and *port.  WS_ECONFIG naming addr. */
int ws_httpd_addr_parse(const char *addr, char *host, size_t n, int *port,
                        struct ws_err *err);

/* Listen on addr on loop, answering with fn(ctx, ...).  WS_ECONFIG when
 * the address is malformed, cannot be resolved, or cannot be bound (in
 * use, not local, no permission), the message naming it.  On success
 * *out is the caller's, to close with ws_httpd_close. */
int ws_httpd_start(uv_loop_t *loop, const char *addr, ws_httpd_fn fn, void *ctx,
                   struct ws_httpd **out, struct ws_err *err);

/* Stop listening and close every connection; the memory is freed once
 * libuv has closed the handles (the loop must run afterwards).  NULL is
 * allowed. */
void ws_httpd_close(struct ws_httpd *s);

#endif
