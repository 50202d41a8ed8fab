/*
 * httpd.c: the metrics server's HTTP/1.1 (see httpd.h).
 *
 * A connection is two handles, its socket and its deadline timer, in a
 * struct client the server keeps on a list; it is freed once both are
 * closed.  Its life: read the head into a fixed buffer, stop reading,
 * write the whole answer, shut the writing side down (so the answer is
 * not cut by a reset), close.  Every error on the way just closes it.
 */
#include "ws/httpd.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

enum cstate { C_READING, C_WRITING, C_CLOSING };

struct client {
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct ws_httpd *s;
    enum cstate state;
    int open_handles; /* handles not closed yet */
    char head[WS_HTTPD_HEAD_MAX];
    size_t n;  /* bytes of head read */
    char *out; /* the answer being written */
    uv_write_t wr;
    uv_shutdown_t sh;
    struct client *prev, *next;
};

struct ws_httpd {
    uv_loop_t *loop;
    uv_tcp_t listener;
    ws_httpd_fn fn;
    void *ctx;
    struct client *clients; /* newest first */
    int nclients;           /* on the list (closing ones too) */
    int nlive;              /* not closing */
    int closing;
    int listener_open;
};

/* ---- bodies ------------------------------------------------------------ */

void ws_httpd_printf(struct ws_httpd_body *b, const char *fmt, ...)
{
    va_list ap;
    int k;

    if (b->failed)
        return;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        k = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)k < room) {
            b->len += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)k + 1)
            cap *= 2;
        char *p = cap <= WS_HTTPD_BODY_MAX ? realloc(b->p, cap) : NULL;
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* ---- connections ------------------------------------------------------- */

static void server_free_if_done(struct ws_httpd *s)
{
    if (s->closing && !s->listener_open && s->clients == NULL)
        free(s);
}

static void on_client_closed(uv_handle_t *h)
{
    struct client *c = h->data;
    struct ws_httpd *s = c->s;

    if (--c->open_handles > 0)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nclients--;
    free(c->out);
    free(c);
    server_free_if_done(s);
}

static void client_close(struct client *c)
{
    if (c->state == C_CLOSING)
        return;
    c->state = C_CLOSING;
    c->s->nlive--;
    uv_close((uv_handle_t *)&c->tcp, on_client_closed);
    uv_close((uv_handle_t *)&c->timer, on_client_closed);
}

static void on_deadline(uv_timer_t *t)
{
    client_close(t->data);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    client_close(req->data);
}

static void on_written(uv_write_t *req, int status)
{
    struct client *c = req->data;

    if (status != 0 || c->state == C_CLOSING ||
        uv_shutdown(&c->sh, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        client_close(c);
}

static const char *status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

/* Write the answer (the body is consumed; its headers only, with the
 * body's length, when head is set) and close after it. */
static void respond(struct client *c, struct ws_httpd_resp *r, int head)
{
    struct ws_httpd_body out = {0};
    uv_buf_t buf;

    uv_read_stop((uv_stream_t *)&c->tcp);
    if (r->body.failed) {
        free(r->body.p);
        memset(&r->body, 0, sizeof(r->body));
        r->status = 500;
        r->content_type = "text/plain; charset=utf-8";
        ws_httpd_printf(&r->body, "answer too large or out of memory\n");
    }
    ws_httpd_printf(&out,
                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                    "Content-Length: %zu\r\n%sConnection: close\r\n\r\n",
                    r->status, status_text(r->status), r->content_type,
                    r->body.len,
                    r->status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (!head)
        ws_httpd_printf(&out, "%.*s", (int)r->body.len,
                        r->body.p ? r->body.p : "");
    free(r->body.p);
    if (out.failed) {
        free(out.p);
        client_close(c);
        return;
    }
    c->out = out.p;
    c->state = C_WRITING;
    buf = uv_buf_init(c->out, (unsigned)out.len);
    c->wr.data = c;
    c->sh.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &buf, 1, on_written) != 0)
        client_close(c);
}

static void respond_plain(struct client *c, int status, const char *text)
{
    struct ws_httpd_resp r = {status, "text/plain; charset=utf-8", {0}};

    ws_httpd_printf(&r.body, "%s\n", text);
    respond(c, &r, 0);
}

/* The line at p (before end): its text ends at *eol (without the CR of
 * a CRLF), the next line starts at the return value; NULL when no LF
 * ends it before end. */
static const char *next_line(const char *p, const char *end,
                             const char **eol)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));

    if (lf == NULL)
        return NULL;
    *eol = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
    return lf + 1;
}

/* 1 when the header block (after the request line, up to the empty
 * line) is well formed and announces no body. */
static int headers_ok(const char *p, const char *end)
{
    const char *eol, *next;

    while (p < end && (next = next_line(p, end, &eol)) != NULL) {
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL || colon == p ||
            memchr(p, '\r', (size_t)(eol - p)) != NULL)
            return 0;
        for (const char *q = p; q < colon; q++)
            if (*q <= ' ' || *q >= 127)
                return 0;
        if ((colon - p == 14 && strncasecmp(p, "content-length", 14) == 0) ||
            (colon - p == 17 && strncasecmp(p, "transfer-encoding", 17) == 0)) {
            const char *v = colon + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            if (colon - p == 17 || eol - v != 1 || *v != '0')
                return 0;
        }
        p = next;
    }
    return p == end;
}

/* The head is whole: c->head[0..len) ends with the empty line, and holds
 * no NUL. */
static void handle(struct client *c, size_t len)
{
    struct ws_httpd_resp r = {404, "text/plain; charset=utf-8", {0}};
    const char *hend = c->head + len, *eol = c->head, *hdrs;
    char *sp1, *sp2, *q;
    size_t mlen;
    int head;

    /* Request line: METHOD SP /target SP HTTP/1.x */
    hdrs = next_line(c->head, hend, &eol);
    c->head[eol - c->head] = '\0';
    sp1 = strchr(c->head, ' ');
    sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    mlen = sp1 ? (size_t)(sp1 - c->head) : 0;
    if (sp2 == NULL || mlen == 0 || mlen > 16 || sp1[1] != '/' ||
        (strcmp(sp2 + 1, "HTTP/1.1") != 0 &&
         strcmp(sp2 + 1, "HTTP/1.0") != 0) ||
        !headers_ok(hdrs, hend - (hend[-2] == '\r' ? 2 : 1))) {
        respond_plain(c, 400, "bad request");
        return;
    }
    for (char *m = c->head; m < sp1; m++)
        if (*m < 'A' || *m > 'Z') {
            respond_plain(c, 400, "bad request");
            return;
        }
    for (char *t = sp1 + 1; t < sp2; t++)
        if (*t <= ' ' || *t >= 127) {
            respond_plain(c, 400, "bad request");
            return;
        }
    head = mlen == 4 && strncmp(c->head, "HEAD", 4) == 0;
    if (!head && (mlen != 3 || strncmp(c->head, "GET", 3) != 0)) {
        respond_plain(c, 405, "method not allowed: use GET or HEAD");
        return;
    }
    *sp2 = '\0';
    q = strchr(sp1 + 1, '?');
    if (q)
        *q = '\0';
    c->s->fn(c->s->ctx, sp1 + 1, &r);
    if (r.status == 404 && r.body.len == 0)
        ws_httpd_printf(&r.body, "not found\n");
    respond(c, &r, head);
}

/* The length of the head in c->head[0..c->n), up to and with its empty
 * line (CRLF or a bare LF ends a line), or 0 when it is not whole. */
static size_t head_len(const struct client *c)
{
    const char *p = c->head, *end = c->head + c->n, *eol, *next;

    while ((next = next_line(p, end, &eol)) != NULL) {
        if (eol == p)
            return p == c->head ? 0 : (size_t)(next - c->head);
        p = next;
    }
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct client *c = h->data;

    (void)hint;
    /* One byte is kept for the terminating NUL of the head. */
    *buf = uv_buf_init(c->head + c->n, (unsigned)(sizeof(c->head) - 1 - c->n));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct client *c = st->data;
    size_t len;

    (void)buf;
    if (c->state != C_READING)
        return;
    if (nread < 0) {
        client_close(c); /* gone before a whole request */
        return;
    }
    c->n += (size_t)nread;
    c->head[c->n] = '\0';
    len = head_len(c);
    if (memchr(c->head, '\0', c->n) != NULL ||
        (c->n > 0 && (c->head[0] == '\n' || c->head[0] == '\r'))) {
        respond_plain(c, 400, "bad request");
    } else if (len > 0) {
        if (len != c->n)
            respond_plain(c, 400,
                          "one request per connection, with no "
                          "body");
        else
            handle(c, len);
    } else if (c->n >= sizeof(c->head) - 1) {
        respond_plain(c, 431, "request head too large");
    }
}

/* 1 when bytes (or the end of the stream) wait to be read on c. */
static int has_input(struct client *c)
{
    uv_os_fd_t fd;
    char b;

    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
        return 0;
    return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) >= 0;
}

static void on_refused_closed(uv_handle_t *h)
{
    free(h);
}

static void on_connection(uv_stream_t *l, int status)
{
    struct ws_httpd *s = l->data;
    struct client *c;

    if (status != 0 || s->closing)
        return;
    if (s->nlive >= WS_HTTPD_CLIENTS) {
        /* Full: the oldest connection still waiting for its request with
         * nothing to read goes, whatever its age, so that idle clients
         * cannot lock a scrape out.  One being answered stays, and so
         * does one whose request is there to be read (it is answered on
         * this turn of the loop or the next): a flood of new
         * connections cannot push a scrape out. */
        struct client *old = s->clients;
        while (old != NULL && old->next != NULL)
            old = old->next;
        while (old != NULL && (old->state != C_READING || has_input(old)))
            old = old->prev;
        if (old != NULL)
            client_close(old);
    }
    if (s->nlive >= WS_HTTPD_CLIENTS) {
        /* Every one is being answered: this one is taken off the queue
         * and closed, so that a flood does not pile up there. */
        uv_tcp_t *t = malloc(sizeof(*t));
        if (t == NULL)
            return;
        uv_tcp_init(s->loop, t);
        if (uv_accept(l, (uv_stream_t *)t) != 0) {
            uv_close((uv_handle_t *)t, on_refused_closed);
            return;
        }
        uv_close((uv_handle_t *)t, on_refused_closed);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    c->s = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    c->next = s->clients;
    if (s->clients)
        s->clients->prev = c;
    s->clients = c;
    s->nclients++;
    s->nlive++;
    uv_timer_start(&c->timer, on_deadline, WS_HTTPD_DEADLINE_MS, 0);
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        client_close(c);
}

/* ---- the listener ------------------------------------------------------ */

int ws_httpd_addr_parse(const char *addr, char *host, size_t n, int *port,
                        struct ws_err *err)
{
    const char *colon = strrchr(addr, ':'), *h = addr;
    const char *url = strstr(addr, "://");
    size_t hl;
    char *end;
    long p;

    if (url != NULL) {
        /* http://127.0.0.1:9090/ says the address it means: name it. */
        int al = (int)strcspn(url + 3, "/?#");
        return ws_err_set(err, WS_ECONFIG,
                          "invalid addr \"%s\": write %.*s, not a URL", addr,
                          al > 0 ? al : 9, al > 0 ? url + 3 : "HOST:PORT");
    }
    if (colon == NULL)
        return ws_err_set(err, WS_ECONFIG,
                          "invalid addr \"%s\": want "
                          "HOST:PORT, :PORT or [IPV6]:PORT",
                          addr);
    hl = (size_t)(colon - addr);
    if (hl > 0 && addr[0] == '[') {
        if (addr[hl - 1] != ']')
            return ws_err_set(err, WS_ECONFIG,
                              "invalid addr \"%s\": want "
                              "[IPV6]:PORT",
                              addr);
        h = addr + 1;
        hl -= 2;
    } else if (memchr(addr, ':', hl) != NULL) {
        return ws_err_set(err, WS_ECONFIG,
                          "invalid addr \"%s\": an IPv6 "
                          "address goes in brackets, [::1]:9090",
                          addr);
    }
    p = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || p < 1 || p > 65535)
        return ws_err_set(err, WS_ECONFIG,
                          "invalid addr \"%s\": the port "
                          "must be a number from 1 to 65535",
                          addr);
    if (hl >= n)
        return ws_err_set(err, WS_ECONFIG,
                          "invalid addr \"%s\": host too "
                          "long",
                          addr);
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return WS_OK;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct ws_httpd *s = h->data;

    s->listener_open = 0;
    server_free_if_done(s);
}

/* Bind and listen on one resolved address; a libuv error code. */
static int listen_on(struct ws_httpd *s, const struct sockaddr *sa)
{
    int e = uv_tcp_bind(&s->listener, sa, 0);

    if (e == 0)
        e = uv_listen((uv_stream_t *)&s->listener, 64, on_connection);
    return e;
}

int ws_httpd_start(uv_loop_t *loop, const char *addr, ws_httpd_fn fn, void *ctx,
                   struct ws_httpd **out, struct ws_err *err)
{
    struct addrinfo hints, *ai = NULL;
    struct ws_httpd *s;
    char host[256], port_s[16];
    int port, rc, e;

    rc = ws_httpd_addr_parse(addr, host, sizeof(host), &port, err);
    if (rc != WS_OK)
        return rc;
    snprintf(port_s, sizeof(port_s), "%d", port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    e = getaddrinfo(host[0] ? host : NULL, port_s, &hints, &ai);
    if (e != 0)
        return ws_err_set(err, WS_ECONFIG,
                          "addr %s: cannot resolve \"%s\": "
                          "%s",
                          addr, host, gai_strerror(e));
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        freeaddrinfo(ai);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    s->loop = loop;
    s->fn = fn;
    s->ctx = ctx;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->listener_open = 1;
    e = UV_EADDRNOTAVAIL;
    if (host[0] == '\0') {
        /* Every interface: IPv6's any address takes IPv4 too (dual
         * stack); where IPv6 is off, IPv4's. */
        struct sockaddr_in6 a6;
        struct sockaddr_in a4;
        uv_ip6_addr("::", port, &a6);
        uv_ip4_addr("0.0.0.0", port, &a4);
        e = listen_on(s, (const struct sockaddr *)&a6);
        if (e == UV_EAFNOSUPPORT || e == UV_EADDRNOTAVAIL)
            e = listen_on(s, (const struct sockaddr *)&a4);
    } else {
        /* The first address the name resolves to. */
        for (struct addrinfo *p = ai; p != NULL; p = p->ai_next)
            if (p->ai_family == AF_INET || p->ai_family == AF_INET6) {
                e = listen_on(s, p->ai_addr);
                break;
            }
    }
    freeaddrinfo(ai);
    if (e != 0) {
        s->closing = 1;
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        return ws_err_set(err, WS_ECONFIG, "cannot listen on addr %s: %s", addr,
                          uv_strerror(e));
    }
    *out = s;
    return WS_OK;
}

void ws_httpd_close(struct ws_httpd *s)
{
    if (s == NULL || s->closing)
        return;
    s->closing = 1;
    for (struct client *c = s->clients; c != NULL; c = c->next)
        client_close(c);
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}
