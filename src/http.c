/*
 * http.c: libcurl multi on the libuv loop (see http.h).
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when
 * to call it back (CURLMOPT_TIMERFUNCTION); we keep one uv_poll_t per
 * socket and one uv_timer_t, and after every curl_multi_socket_action we
 * collect finished transfers.  Requests beyond the in-flight cap wait in
 * a FIFO.  Every libcurl call goes through the client's struct ws_curl
 * (curl_dl.h), loaded when the client is made.
 */
#include "ws/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_S 10L
#define SLOW_BYTES_S 1024L /* a transfer slower than 1 KiB/s ... */
#define SLOW_SECONDS 60L   /* ... for a whole minute is abandoned */

struct ws_http {
    struct ws_curl curl; /* the loaded libcurl */
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    int max_inflight;
    int inflight;
    struct ws_http_req *queue, *queue_tail;
};

struct sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct ws_http *h;
};

static void check_done(struct ws_http *h);
static void start_next(struct ws_http *h);

static void on_sock_closed(uv_handle_t *p)
{
    free(p->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct sock *s = p->data;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    s->h->curl.multi_socket_action(s->h->multi, s->fd, flags, &running);
    check_done(s->h);
}

static int on_socket(CURL *easy, curl_socket_t fd, int action, void *userp,
                     void *socketp)
{
    struct ws_http *h = userp;
    struct sock *s = socketp;
    int events = 0;

    (void)easy;
    if (action == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_sock_closed);
            h->curl.multi_assign(h->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return -1;
        s->fd = fd;
        s->h = h;
        if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        h->curl.multi_assign(h->multi, fd, s);
    }
    if (action & CURL_POLL_IN)
        events |= UV_READABLE;
    if (action & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    struct ws_http *h = t->data;
    int running;

    h->curl.multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int on_timer(CURLM *multi, long ms, void *userp)
{
    struct ws_http *h = userp;

    (void)multi;
    if (ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, on_timeout, (uint64_t)ms, 0);
    return 0;
}

/* r is over with result: tell its owner. */
static void finish(struct ws_http_req *r, CURLcode result)
{
    r->result = result;
    if (result != CURLE_OK && r->curl_err[0] == '\0')
        snprintf(r->curl_err, sizeof(r->curl_err), "%s",
                 r->h->curl.easy_strerror(result));
    r->done(r);
}

static void check_done(struct ws_http *h)
{
    const struct ws_curl *cu = &h->curl;
    CURLMsg *m;
    int left;

    while ((m = cu->multi_info_read(h->multi, &left)) != NULL) {
        struct ws_http_req *r = NULL;
        CURLcode result;
        if (m->msg != CURLMSG_DONE)
            continue;
        /* m lives in the easy handle: read it before the clean-up. */
        result = m->data.result;
        cu->easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        cu->easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
        /* An error body cut at its cap is still an answer. */
        if (result == CURLE_WRITE_ERROR && r->errbody_cut)
            result = CURLE_OK;
        if (result != CURLE_OK && r->why[0] != '\0')
            snprintf(r->curl_err, sizeof(r->curl_err), "%s", r->why);
        cu->multi_remove_handle(h->multi, r->easy);
        cu->easy_cleanup(r->easy);
        r->easy = NULL;
        h->inflight--;
        finish(r, result);
    }
    start_next(h);
}

/* The request body, from a file range or from memory. */
static size_t on_read(char *buf, size_t size, size_t n, void *userp)
{
    struct ws_http_req *r = userp;
    uint64_t left = r->body_len - r->sent;
    size_t want = size * n < left ? size * n : (size_t)left;
    ssize_t k;

    if (want == 0)
        return 0;
    if (r->body_fd < 0) {
        memcpy(buf, (const char *)r->body_mem + r->sent, want);
        r->sent += want;
        return want;
    }
    k = pread(r->body_fd, buf, want, (off_t)(r->body_off + r->sent));
    if (k <= 0)
        return CURL_READFUNC_ABORT;
    r->sent += (uint64_t)k;
    return (size_t)k;
}

/* A retried request must send its body again from the start. */
static int on_seek(void *userp, curl_off_t off, int origin)
{
    struct ws_http_req *r = userp;

    if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
        return CURL_SEEKFUNC_FAIL;
    r->sent = (uint64_t)off;
    return CURL_SEEKFUNC_OK;
}

/* A response body: to the sink (2xx), dropped up to a cap (2xx without
 * a sink), or kept up to the cap for the error document.  Returning less
 * than len stops the transfer. */
static size_t on_write(char *buf, size_t size, size_t n, void *userp)
{
    struct ws_http_req *r = userp;
    size_t len = size * n, k;

    r->h->curl.easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->status >= 200 && r->status < 300 && r->sink != NULL) {
        r->sink_rc = r->sink(r->sink_ctx, buf, len, &r->sink_err);
        return r->sink_rc == WS_OK ? len : 0;
    }
    if (r->status >= 200 && r->status < 300) {
        r->ndropped += len;
        if (r->ndropped <= WS_HTTP_ERRBODY)
            return len;
        snprintf(r->why, sizeof(r->why), "%ld answer with a body over %d "
                 "bytes", r->status, WS_HTTP_ERRBODY);
        return 0;
    }
    k = sizeof(r->errbody) - 1 - r->nerrbody;
    k = k < len ? k : len;
    memcpy(r->errbody + r->nerrbody, buf, k);
    r->nerrbody += k;
    r->errbody[r->nerrbody] = '\0';
    if (k == len)
        return len;
    r->errbody_cut = 1;
    return 0;
}

/* If line is header name, copy its value into out (cut to fit) and
 * return 1. */
static int header_value(const char *line, size_t len, const char *name,
                        char *out, size_t nout)
{
    size_t nl = strlen(name), k;

    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return 0;
    line += nl + 1;
    len -= nl + 1;
    while (len > 0 && (*line == ' ' || *line == '\t'))
        line++, len--;
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' ||
                       line[len - 1] == ' '))
        len--;
    k = len < nout - 1 ? len : nout - 1;
    memcpy(out, line, k);
    out[k] = '\0';
    return 1;
}

static void headers_clear(struct ws_http_req *r)
{
    r->retry_after[0] = r->etag[0] = r->sse[0] = '\0';
    r->content_range[0] = r->content_length[0] = '\0';
    r->nrange = r->nlength = 0;
}

/* Each header line of each answer (a 100 Continue's too): the status line
 * starts a new set. */
static size_t on_header(char *buf, size_t size, size_t n, void *userp)
{
    struct ws_http_req *r = userp;
    size_t len = size * n;

    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0)
        headers_clear(r);
    header_value(buf, len, "retry-after", r->retry_after,
                 sizeof(r->retry_after));
    header_value(buf, len, "etag", r->etag, sizeof(r->etag));
    header_value(buf, len, "x-amz-server-side-encryption", r->sse,
                 sizeof(r->sse));
    if (header_value(buf, len, "x-amz-server-side-encryption-customer-"
                     "algorithm", r->sse, sizeof(r->sse)))
        snprintf(r->sse, sizeof(r->sse), "SSE-C");
    r->nrange += header_value(buf, len, "content-range", r->content_range,
                              sizeof(r->content_range));
    r->nlength += header_value(buf, len, "content-length",
                               r->content_length, sizeof(r->content_length));
    return len;
}

static int setup(struct ws_http_req *r)
{
    const struct ws_curl *cu = &r->h->curl;
    CURL *e = cu->easy_init();
    int upload = r->body_len > 0 || strcmp(r->method, "PUT") == 0 ||
                 strcmp(r->method, "POST") == 0;

    if (e == NULL)
        return -1;
    r->easy = e;
    r->sent = 0;
    r->status = 0;
    r->nerrbody = 0;
    r->errbody[0] = r->curl_err[0] = r->why[0] = '\0';
    headers_clear(r);
    r->ndropped = 0;
    r->errbody_cut = 0;
    r->sink_rc = WS_OK;
    cu->easy_setopt(e, CURLOPT_URL, r->url);
    cu->easy_setopt(e, CURLOPT_PRIVATE, r);
    cu->easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    cu->easy_setopt(e, CURLOPT_ERRORBUFFER, r->curl_err);
    cu->easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    cu->easy_setopt(e, CURLOPT_WRITEDATA, r);
    cu->easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    cu->easy_setopt(e, CURLOPT_HEADERDATA, r);
    cu->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    cu->easy_setopt(e, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    cu->easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, SLOW_BYTES_S);
    cu->easy_setopt(e, CURLOPT_LOW_SPEED_TIME, SLOW_SECONDS);
    cu->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (r->timeout_ms > 0)
        cu->easy_setopt(e, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    if (r->skip_verify) {
        cu->easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        cu->easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (strcmp(r->method, "HEAD") == 0)
        cu->easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(r->method, "GET") != 0)
        cu->easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    if (upload) {
        cu->easy_setopt(e, CURLOPT_UPLOAD, 1L);
        cu->easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
                        (curl_off_t)r->body_len);
        cu->easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        cu->easy_setopt(e, CURLOPT_READDATA, r);
        cu->easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
        cu->easy_setopt(e, CURLOPT_SEEKDATA, r);
    }
    return 0;
}

static void start_next(struct ws_http *h)
{
    while (h->queue && h->inflight < h->max_inflight) {
        struct ws_http_req *r = h->queue;
        h->queue = r->next;
        if (h->queue == NULL)
            h->queue_tail = NULL;
        if (setup(r) != 0 ||
            h->curl.multi_add_handle(h->multi, r->easy) != CURLM_OK) {
            if (r->easy)
                h->curl.easy_cleanup(r->easy);
            r->easy = NULL;
            r->status = 0;
            finish(r, CURLE_OUT_OF_MEMORY);
            continue;
        }
        h->inflight++;
    }
}

int ws_http_header_add(const struct ws_http *h, struct curl_slist **list,
                       const char *line)
{
    struct curl_slist *l = h->curl.slist_append(*list, line);

    if (l == NULL)
        return WS_ENOMEM;
    *list = l;
    return WS_OK;
}

void ws_http_headers_free(const struct ws_http *h, struct curl_slist *list)
{
    if (list != NULL)
        h->curl.slist_free_all(list);
}

void ws_http_start(struct ws_http *h, struct ws_http_req *r)
{
    r->h = h;
    r->next = NULL;
    if (h->queue_tail)
        h->queue_tail->next = r;
    else
        h->queue = r;
    h->queue_tail = r;
    start_next(h);
}

void ws_http_cancel(struct ws_http *h, struct ws_http_req *r)
{
    struct ws_http_req **p = &h->queue, *prev = NULL;

    if (r->easy != NULL) {
        h->curl.multi_remove_handle(h->multi, r->easy);
        h->curl.easy_cleanup(r->easy);
        r->easy = NULL;
        h->inflight--;
        start_next(h);
        return;
    }
    for (; *p != NULL; prev = *p, p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            if (h->queue_tail == r)
                h->queue_tail = prev;
            return;
        }
}

int ws_http_new(uv_loop_t *loop, int max_inflight, struct ws_http **out,
                struct ws_err *err)
{
    struct ws_http *h = calloc(1, sizeof(*h));
    const struct ws_curl *cu;
    int rc;

    if (h == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = ws_curl_load(&h->curl, err);
    if (rc != WS_OK) {
        free(h);
        return rc;
    }
    cu = &h->curl;
    h->loop = loop;
    h->max_inflight = max_inflight > 0 ? max_inflight : 4;
    h->multi = cu->multi_init();
    if (h->multi == NULL) {
        ws_curl_unload(&h->curl);
        free(h);
        return ws_err_set(err, WS_ENOMEM, "curl_multi_init failed");
    }
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    cu->multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    cu->multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    cu->multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    cu->multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    cu->multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                     (long)h->max_inflight);
    *out = h;
    return WS_OK;
}

static void on_timer_closed(uv_handle_t *t)
{
    struct ws_http *h = t->data;

    ws_curl_unload(&h->curl);
    free(h);
}

void ws_http_free(struct ws_http *h)
{
    if (h == NULL)
        return;
    /* Closing the multi handle closes the cached connections, which
     * removes their sockets (and their poll handles) through on_socket. */
    h->curl.multi_cleanup(h->multi);
    uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}
