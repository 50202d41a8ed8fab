/*
 * http.h: libcurl's multi interface on the libuv loop (curl's multi-uv
 * pattern, without its globals).  The only curl <-> uv glue in walship.
 *
 * One struct ws_http per loop holds the multi handle, whose connection
 * cache gives keep-alive across requests, and caps the requests in
 * flight.  A request is one easy handle: the caller sets the method, URL,
 * headers and body source, and gets `done` on the loop thread with
 * curl's result code and the HTTP status.  Response bodies go to the
 * request's sink (2xx) or into a small bounded buffer (other statuses,
 * for the S3 error document).  Connect and stall timeouts are set on
 * every request, so a hung server cannot wedge replication: 10 s to
 * connect, and a transfer that moves less than 1 KiB/s for 60 s on end
 * fails as a timeout (curl's low-speed limit), so a server that trickles
 * a byte now and then cannot hold a request for ever either.  Retrying
 * it (with a Range from where it stopped, for a GET) is the caller's
 * choice.
 *
 * Nothing a server sends grows without bound here: an error body is cut
 * at WS_HTTP_ERRBODY bytes (the transfer stops there and the answer
 * keeps its status), a 2xx body nobody reads (sink NULL) fails the
 * request past WS_HTTP_ERRBODY bytes, and a body that is read is bounded
 * by its sink (replica.h bounds GETs by the listed size, s3xml.h a
 * listing).  Redirects are not followed (a 3xx is an answer like any
 * other).  The headers a caller checks are those of the final answer:
 * they are reset at every status line (a 100 Continue, say), and a
 * header sent twice is counted, so that a caller can refuse it.
 *
 * Each client loads libcurl for itself (curl_dl.h) when it is made: a
 * process that never makes one never maps libcurl.  Callers use
 * <curl/curl.h> for its types and constants only; the header lists of
 * their requests go through ws_http_header_add and ws_http_headers_free.
 */
#ifndef WS_HTTP_H
#define WS_HTTP_H

#include <curl/curl.h>
#include <stdint.h>
#include <uv.h>

#include "ws/curl_dl.h"
#include "ws/err.h"
#include "ws/lz4f.h"

#define WS_HTTP_ERRBODY 16384 /* bytes of a non-2xx body kept */

struct ws_http;

struct ws_http_req {
    /* In: set by the caller before ws_http_start. */
    const char *method;          /* "GET", "PUT", "POST", "DELETE", "HEAD" */
    char *url;                   /* owned by the caller */
    struct curl_slist *headers;  /* owned by the caller */
    int body_fd;                 /* body from a file: fd, or -1 */
    uint64_t body_off, body_len; /* the range of body_fd to send */
    const void *body_mem;        /* or from memory (body_fd == -1) */
    ws_sink_fn sink;             /* 2xx response body, or NULL to drop */
    void *sink_ctx;
    int skip_verify;             /* TLS verification off (loudly logged) */
    long timeout_ms;             /* the whole request at most this (0: no
                                  * bound but the stall timeouts) */
    void (*done)(struct ws_http_req *r);
    void *data;

    /* Out: valid in done (status and the headers also in the sink,
     * from its first call of an answer on). */
    CURLcode result;             /* CURLE_OK when an HTTP answer came */
    long status;                 /* HTTP status, 0 when none */
    char errbody[WS_HTTP_ERRBODY];
    size_t nerrbody;
    int sink_rc;                 /* the sink's error, if it stopped us */
    struct ws_err sink_err;
    char curl_err[CURL_ERROR_SIZE]; /* curl's message; never "" when
                                       result is not CURLE_OK */
    char retry_after[32];        /* Retry-After header, if any */
    char etag[128];              /* ETag header, if any */
    char sse[32];                /* x-amz-server-side-encryption, if any
                                    ("SSE-C" for a customer key) */
    char content_range[96];      /* Content-Range header, if any */
    char content_length[32];     /* Content-Length header, if any */
    int nrange, nlength;         /* times each of those two was sent */

    /* Private. */
    CURL *easy;
    uint64_t ndropped;           /* 2xx body bytes with no sink */
    int errbody_cut;             /* stopped at the errbody cap on purpose */
    char why[64];                /* our own reason for stopping it */
    uint64_t sent;
    struct ws_http *h;
    struct ws_http_req *next;    /* queued behind the in-flight cap */
};

/* A client on loop with at most max_inflight requests at once.
 * WS_ECONFIG when libcurl cannot be loaded (ws_curl_load's message). */
int ws_http_new(uv_loop_t *loop, int max_inflight, struct ws_http **out,
                struct ws_err *err);

/* Append a copy of line ("Name: value") to the header list *list (NULL
 * for a new list).  WS_ENOMEM, with *list unchanged, if out of memory. */
int ws_http_header_add(const struct ws_http *h, struct curl_slist **list,
                       const char *line);

/* Free a header list made by ws_http_header_add; NULL is allowed (and
 * then h is not used). */
void ws_http_headers_free(const struct ws_http *h, struct curl_slist *list);

/* Start r (on the loop thread).  r must stay valid until r->done. */
void ws_http_start(struct ws_http *h, struct ws_http_req *r);

/* Stop r (started, not done yet) at once: its done is not called, and
 * r is the caller's again. */
void ws_http_cancel(struct ws_http *h, struct ws_http_req *r);

/* Close the client; every request must be done.  The memory is freed
 * once libuv has closed the handles, so the loop must run afterwards. */
void ws_http_free(struct ws_http *h);

#endif
