/*
 * control.c: the local control endpoint and its client (control.h).
 */
#include "ws/control.h"
#include "ws/config.h"
#include "ws/fs.h"
#include "ws/meta.h"
#include "ws/slow.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define CTL_BACKLOG 16

struct ws_ctl {
    uv_loop_t *loop;
    uv_pipe_t srv;
    struct ws_fs_dir dir;        /* the meta dir, open and checked */
    dev_t dev;                   /* the socket file bound */
    ino_t ino;
    const struct ws_ctl_cmd *cmds;
    void *ctx;
    struct ws_ctl_conn *conns;   /* open connections */
    size_t nconns;
    int closing;
    int handles;                 /* handles not closed yet (srv, conns) */
};

struct ws_ctl_conn {
    struct ws_ctl *ctl;
    struct ws_ctl_conn *next, *prev;
    uv_pipe_t pipe;
    uv_timer_t timer;
    int open;                    /* handles not closed yet */
    int done;                    /* replied, or closing */
    int kept;
    void (*gone)(struct ws_ctl_conn *c, void *data);
    void *data;
    size_t len;
    char buf[WS_CTL_LINE_MAX];
};

/* ---- names ------------------------------------------------------------ */

static const char *const code_names[] = {
#define X(name, text) #name,
    WS_ERRORS(X)
#undef X
};

int ws_ctl_code(const char *name)
{
    for (size_t i = 0; i < sizeof(code_names) / sizeof(*code_names); i++)
        if (strcmp(code_names[i], name) == 0)
            return (int)i;
    return -1;
}

static const char *code_name(int code)
{
    if (code < 0 || (size_t)code >= sizeof(code_names) / sizeof(*code_names))
        return "EIO";
    return code_names[code];
}

/* The socket's address through the open directory dirfd (control.h). */
static void sock_addr(int dirfd, struct sockaddr_un *a)
{
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof(a->sun_path), "/proc/self/fd/%d/%s",
             dirfd, WS_CTL_SOCK);
}

/* What sits at a name, for messages. */
static const char *kind_of(mode_t m)
{
    return S_ISLNK(m)   ? "a symbolic link"
           : S_ISREG(m) ? "a regular file"
           : S_ISDIR(m) ? "a directory"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISSOCK(m) ? "a socket"
                         : "a device";
}

/* ---- connections ------------------------------------------------------ */

static void conn_closed(uv_handle_t *h)
{
    struct ws_ctl_conn *c = h->data;
    struct ws_ctl *ctl = c->ctl;

    if (--c->open > 0)
        return;
    free(c);
    if (--ctl->handles == 0)
        free(ctl);
}

/* Close c (it stays listed until now, then is unlinked). */
static void conn_close(struct ws_ctl_conn *c)
{
    struct ws_ctl *ctl = c->ctl;

    if (c->done)
        return;
    c->done = 1;
    if (c->prev)
        c->prev->next = c->next;
    else
        ctl->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ctl->nconns--;
    uv_close((uv_handle_t *)&c->pipe, conn_closed);
    uv_close((uv_handle_t *)&c->timer, conn_closed);
}

/* Write one line without waiting: a small line goes into the socket's
 * buffer at once, and a client that reads nothing holds nothing. */
static void conn_write(struct ws_ctl_conn *c, const char *line, size_t n)
{
    uv_buf_t b = uv_buf_init((char *)line, (unsigned)n);

    (void)uv_try_write((uv_stream_t *)&c->pipe, &b, 1);
}

static void reply_v(struct ws_ctl_conn *c, int code, const char *fmt,
                    va_list ap) __attribute__((format(printf, 3, 0)));
static void reply_v(struct ws_ctl_conn *c, int code, const char *fmt,
                    va_list ap)
{
    char line[WS_CTL_REPLY_MAX];
    int k;

    if (c->done)
        return;
    if (code == WS_OK)
        k = snprintf(line, sizeof(line), "ok");
    else
        k = snprintf(line, sizeof(line), "error %s", code_name(code));
    if (fmt != NULL && fmt[0] != '\0' && k < (int)sizeof(line) - 2) {
        line[k++] = ' ';
        vsnprintf(line + k, sizeof(line) - (size_t)k - 1, fmt, ap);
    }
    k = (int)strlen(line);
    ws_strip_controls(line, (size_t)k);
    line[k++] = '\n';
    conn_write(c, line, (size_t)k);
    conn_close(c);
}

void ws_ctl_reply(struct ws_ctl_conn *c, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    reply_v(c, code, fmt, ap);
    va_end(ap);
}

void ws_ctl_keep(struct ws_ctl_conn *c,
                 void (*gone)(struct ws_ctl_conn *c, void *data), void *data)
{
    c->kept = 1;
    c->gone = gone;
    c->data = data;
    uv_timer_stop(&c->timer);
}

/* The client went away, or the endpoint closes: tell a command that
 * kept c, then close it. */
static void conn_drop(struct ws_ctl_conn *c)
{
    if (c->kept && c->gone != NULL) {
        void (*gone)(struct ws_ctl_conn *, void *) = c->gone;
        c->gone = NULL;
        gone(c, c->data);
    }
    conn_close(c);
}

/* Split the request line into words; the reason it is bad, or NULL. */
static const char *split(char *p, size_t len, char **argv, int max,
                         int *argc)
{
    *argc = 0;
    for (size_t i = 0; i < len; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return "a byte is not printable ASCII";
    while (*p != '\0') {
        char *w = p;
        while (*p != '\0' && *p != ' ')
            p++;
        if (p == w || *argc == max)
            return "words are separated by one space, at most 16 of them";
        if (*p == ' ')
            *p++ = '\0';
        argv[(*argc)++] = w;
    }
    return *argc == 0 ? "empty line" : NULL;
}

/* The request line is complete: dispatch it. */
static void conn_request(struct ws_ctl_conn *c)
{
    char *argv[16], names[256] = "";
    const struct ws_ctl_cmd *cmd;
    const char *bad;
    size_t k = 0;
    int argc;

    uv_timer_stop(&c->timer);
    bad = split(c->buf, c->len, argv, (int)(sizeof(argv) / sizeof(*argv)),
                &argc);
    if (bad != NULL) {
        ws_ctl_reply(c, WS_EUSAGE, "bad request: %s", bad);
        return;
    }
    for (cmd = c->ctl->cmds; cmd->name != NULL; cmd++)
        if (strcmp(cmd->name, argv[0]) == 0) {
            cmd->fn(c, argc, argv, c->ctl->ctx);
            return;
        }
    for (cmd = c->ctl->cmds; cmd->name != NULL && k < sizeof(names); cmd++)
        k += (size_t)snprintf(names + k, sizeof(names) - k, "%s%s",
                              k ? ", " : "", cmd->name);
    ws_ctl_reply(c, WS_EUSAGE, "unknown command \"%.64s\" (commands: %s)",
                 argv[0], names);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct ws_ctl_conn *c = h->data;

    (void)hint;
    *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

/* 1 when the peer has closed its end completely (POLLHUP), not only
 * its sending side (shutdown(SHUT_WR), as `nc -U` does at the end of its
 * input, which only reports EOF). */
static int peer_gone(struct ws_ctl_conn *c)
{
    struct pollfd p = {.events = POLLIN};
    uv_os_fd_t fd;

    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0)
        return 1;
    p.fd = fd;
    return poll(&p, 1, 0) < 0 || (p.revents & (POLLHUP | POLLERR)) != 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct ws_ctl_conn *c = s->data;
    char *nl;

    (void)b;
    if (n == UV_EOF && !peer_gone(c)) {
        /* The client has sent all it will and waits for the answer:
         * the end of its input ends the request line too. */
        uv_read_stop(s);
        if (!c->kept && c->len > 0) {
            c->buf[c->len] = '\0';
            conn_request(c);
        } else if (!c->kept) {
            ws_ctl_reply(c, WS_EUSAGE, "bad request: empty line");
        }
        return;
    }
    if (n < 0) {
        /* Gone, or an error: what was asked is not wanted any more. */
        conn_drop(c);
        return;
    }
    if (c->kept) {
        /* Bytes after the request: ignored, the reply is coming. */
        c->len = 0;
        return;
    }
    nl = memchr(c->buf + c->len, '\n', (size_t)n);
    c->len += (size_t)n;
    if (nl != NULL) {
        *nl = '\0';
        c->len = (size_t)(nl - c->buf);
        conn_request(c);
        return;
    }
    if (c->len == sizeof(c->buf))
        ws_ctl_reply(c, WS_EUSAGE, "bad request: longer than %d bytes",
                     WS_CTL_LINE_MAX - 1);
}

static void on_conn_timer(uv_timer_t *t)
{
    struct ws_ctl_conn *c = t->data;

    ws_ctl_reply(c, WS_EUSAGE, "no complete request within %d s",
                 WS_CTL_READ_MS / 1000);
}

/* 1 when the peer on fd is walship's user or root. */
static int peer_allowed(int fd, uid_t *uid)
{
    struct ucred cr;
    socklen_t n = sizeof(cr);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &n) != 0)
        return 0;
    *uid = cr.uid;
    return cr.uid == 0 || cr.uid == geteuid();
}

static void on_connection(uv_stream_t *srv, int status)
{
    struct ws_ctl *ctl = srv->data;
    struct ws_ctl_conn *c;
    uv_os_fd_t fd;
    uid_t uid = (uid_t)-1;

    if (status < 0 || ctl->closing)
        return;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return; /* libuv retries the accept at the next event */
    c->ctl = ctl;
    uv_pipe_init(ctl->loop, &c->pipe, 0);
    uv_timer_init(ctl->loop, &c->timer);
    c->pipe.data = c->timer.data = c;
    c->open = 2;
    ctl->handles++;
    c->next = ctl->conns;
    if (ctl->conns)
        ctl->conns->prev = c;
    ctl->conns = c;
    ctl->nconns++;
    if (uv_accept(srv, (uv_stream_t *)&c->pipe) != 0) {
        conn_close(c);
        return;
    }
    if (ctl->nconns > WS_CTL_CLIENTS_MAX) {
        ws_ctl_reply(c, WS_EBUSY, "too many connections (at most %d at "
                     "once)", WS_CTL_CLIENTS_MAX);
        return;
    }
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
        !peer_allowed(fd, &uid)) {
        ws_ctl_reply(c, WS_EIO, "permission denied: uid %ld may not use "
                     "this endpoint (only uid %ld, walship's, or root)",
                     (long)uid, (long)geteuid());
        return;
    }
    uv_timer_start(&c->timer, on_conn_timer, WS_CTL_READ_MS, 0);
    if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0)
        conn_close(c);
}

/* ---- the endpoint ----------------------------------------------------- */

/* A name is at the socket's path (bind said EADDRINUSE): remove it when
 * it is a socket nobody listens on, left by a killed walship. */
static int clear_stale(struct ws_ctl *ctl, const struct sockaddr_un *a,
                       struct ws_err *err)
{
    struct stat sb;
    int s, live;

    if (fstatat(ctl->dir.fd, WS_CTL_SOCK, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? WS_OK
                               : ws_err_set(err, WS_EIO, "stat %s/%s: %s",
                                            ctl->dir.path, WS_CTL_SOCK,
                                            strerror(errno));
    if (!S_ISSOCK(sb.st_mode))
        return ws_err_set(err, WS_EEXIST, "%s/%s is %s, not a socket: not "
                          "removed, and the control endpoint is not served "
                          "(walship sync cannot reach this walship); remove "
                          "it and restart", ctl->dir.path, WS_CTL_SOCK,
                          kind_of(sb.st_mode));
    /* Non-blocking: a listener whose backlog is full must not hold the
     * loop (EAGAIN, and it is live). */
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return ws_err_set(err, WS_EIO, "socket: %s", strerror(errno));
    live = connect(s, (const struct sockaddr *)a, sizeof(*a)) == 0 ||
           (errno != ECONNREFUSED && errno != ENOENT);
    close(s);
    if (live)
        return ws_err_set(err, WS_EBUSY, "%s/%s: another process listens "
                          "on it: the control endpoint is not served by "
                          "this walship", ctl->dir.path, WS_CTL_SOCK);
    if (unlinkat(ctl->dir.fd, WS_CTL_SOCK, 0) != 0 && errno != ENOENT)
        return ws_err_set(err, WS_EIO, "remove stale %s/%s: %s",
                          ctl->dir.path, WS_CTL_SOCK, strerror(errno));
    return WS_OK;
}

/* Bind fd at the socket's name, mode 0600, and remember which file it
 * is. */
static int bind_sock(struct ws_ctl *ctl, int fd, struct ws_err *err)
{
    struct sockaddr_un a;
    struct stat sb;
    int rc;

    sock_addr(ctl->dir.fd, &a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (errno != EADDRINUSE)
            return ws_err_set(err, WS_EIO, "bind %s/%s: %s", ctl->dir.path,
                              WS_CTL_SOCK, strerror(errno));
        rc = clear_stale(ctl, &a, err);
        if (rc != WS_OK)
            return rc;
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
            return ws_err_set(err, WS_EIO, "bind %s/%s: %s", ctl->dir.path,
                              WS_CTL_SOCK, strerror(errno));
    }
    /* Before listen(): nobody can connect yet.  Only walship's user and
     * root can write in the directory, so the name is still ours. */
    if (fchmodat(ctl->dir.fd, WS_CTL_SOCK, 0600, 0) != 0 ||
        fstatat(ctl->dir.fd, WS_CTL_SOCK, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISSOCK(sb.st_mode)) {
        rc = ws_err_set(err, WS_EIO, "chmod %s/%s: %s", ctl->dir.path,
                        WS_CTL_SOCK, strerror(errno));
        unlinkat(ctl->dir.fd, WS_CTL_SOCK, 0);
        return rc;
    }
    ctl->dev = sb.st_dev;
    ctl->ino = sb.st_ino;
    return WS_OK;
}

int ws_ctl_open(uv_loop_t *loop, const char *meta,
                const struct ws_ctl_cmd *cmds, void *ctx,
                struct ws_ctl **out, struct ws_err *err)
{
    struct ws_ctl *ctl = calloc(1, sizeof(*ctl));
    int fd = -1, rc;

    if (ctl == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    ctl->loop = loop;
    ctl->cmds = cmds;
    ctl->ctx = ctx;
    rc = ws_fs_dir_open(&ctl->dir, meta, WS_FS_NOFOLLOW, 0, NULL, err);
    if (rc == WS_OK) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            rc = ws_err_set(err, WS_EIO, "socket: %s", strerror(errno));
    }
    if (rc == WS_OK)
        rc = bind_sock(ctl, fd, err);
    if (rc == WS_OK && listen(fd, CTL_BACKLOG) != 0) {
        rc = ws_err_set(err, WS_EIO, "listen %s/%s: %s", meta, WS_CTL_SOCK,
                        strerror(errno));
        unlinkat(ctl->dir.fd, WS_CTL_SOCK, 0);
    }
    if (rc != WS_OK) {
        if (fd >= 0)
            close(fd);
        ws_fs_dir_close(&ctl->dir);
        free(ctl);
        return rc;
    }
    uv_pipe_init(loop, &ctl->srv, 0);
    ctl->srv.data = ctl;
    ctl->handles = 1;
    if (uv_pipe_open(&ctl->srv, fd) != 0)
        close(fd); /* not the handle's */
    else if (uv_listen((uv_stream_t *)&ctl->srv, CTL_BACKLOG,
                       on_connection) == 0)
        fd = -1;
    if (fd >= 0) {
        rc = ws_err_set(err, WS_EIO, "listen %s/%s", meta, WS_CTL_SOCK);
        ws_ctl_close(ctl, "");
        return rc;
    }
    *out = ctl;
    return WS_OK;
}

int ws_ctl_bound(const struct ws_ctl *c)
{
    struct stat sb;

    return fstatat(c->dir.fd, WS_CTL_SOCK, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
           sb.st_dev == c->dev && sb.st_ino == c->ino;
}

static void srv_closed(uv_handle_t *h)
{
    struct ws_ctl *ctl = h->data;

    if (--ctl->handles == 0)
        free(ctl);
}

void ws_ctl_close(struct ws_ctl *c, const char *why)
{
    if (c == NULL || c->closing)
        return;
    c->closing = 1;
    while (c->conns != NULL) {
        struct ws_ctl_conn *x = c->conns;
        if (x->kept && x->gone != NULL) {
            void (*gone)(struct ws_ctl_conn *, void *) = x->gone;
            x->gone = NULL;
            gone(x, x->data);
        }
        ws_ctl_reply(x, WS_EBUSY, "%s", why);
    }
    if (ws_ctl_bound(c))
        unlinkat(c->dir.fd, WS_CTL_SOCK, 0);
    ws_fs_dir_close(&c->dir);
    uv_close((uv_handle_t *)&c->srv, srv_closed);
}

/* ---- client ----------------------------------------------------------- */

/* Connect to v's endpoint (non-blocking socket in *fd).  The meta
 * directory must pass fs.h's rule, as for writing in it: a socket in a
 * directory someone else controls could be anyone's, and an "ok" from it
 * would be a false promise. */
static const struct timeval conn_wait = {10, 0};

static int call_connect(struct ws_ctl_call *v, int *fd)
{
    struct ws_fs_dir dir;
    struct ws_err e = {0};
    struct sockaddr_un a;
    struct stat sb;
    int s, rc;

    rc = ws_fs_dir_open(&dir, v->meta, WS_FS_NOFOLLOW, 0, NULL, &e);
    if (rc == WS_ENOTFOUND)
        return ws_err_set(&v->err, WS_ENOTFOUND, "%s: no running walship "
                          "replicate serves it (no meta directory %s: it "
                          "has never replicated on this machine)", v->db,
                          v->meta);
    if (rc != WS_OK)
        return ws_err_set(&v->err, rc, "%s: %s (only the user walship "
                          "replicate runs as, or root, may ask it)", v->db,
                          e.msg);
    if (fstatat(dir.fd, WS_CTL_SOCK, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            rc = ws_err_set(&v->err, WS_ENOTFOUND, "%s: no running walship "
                            "replicate serves it (no %s/%s; a replicate "
                            "that waits for the database to exist serves "
                            "it once it has synced it)", v->db, v->meta,
                            WS_CTL_SOCK);
        else
            rc = ws_err_set(&v->err, WS_EIO, "%s: %s/%s: %s (only the user "
                            "walship replicate runs as, or root, may ask "
                            "it)", v->db, v->meta, WS_CTL_SOCK,
                            strerror(errno));
        ws_fs_dir_close(&dir);
        return rc;
    }
    if (!S_ISSOCK(sb.st_mode)) {
        rc = ws_err_set(&v->err, WS_EEXIST, "%s: %s/%s is %s, not walship's "
                        "socket: not used", v->db, v->meta, WS_CTL_SOCK,
                        kind_of(sb.st_mode));
        ws_fs_dir_close(&dir);
        return rc;
    }
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sock_addr(dir.fd, &a);
    /* A server whose backlog is full (its loop stalled) makes connect()
     * wait; the send timeout bounds that wait on a Unix socket. */
    if (s >= 0)
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &conn_wait, sizeof(conn_wait));
    rc = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (!rc) {
        int e2 = errno;
        if (s >= 0)
            close(s);
        ws_fs_dir_close(&dir);
        if (e2 == EAGAIN || e2 == EWOULDBLOCK || e2 == EINPROGRESS)
            return ws_err_set(&v->err, WS_EREMOTE, "%s: walship replicate "
                              "does not accept connections on %s/%s (its "
                              "loop is stalled?)", v->db, v->meta,
                              WS_CTL_SOCK);
        if (e2 == ECONNREFUSED)
            return ws_err_set(&v->err, WS_ENOTFOUND, "%s: no running walship "
                              "replicate serves it (%s/%s is left by one "
                              "that stopped)", v->db, v->meta, WS_CTL_SOCK);
        return ws_err_set(&v->err, WS_EIO, "%s: connect %s/%s: %s", v->db,
                          v->meta, WS_CTL_SOCK, strerror(e2));
    }
    ws_fs_dir_close(&dir);
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
    *fd = s;
    return WS_OK;
}

/* The reply line of v, complete: "ok text" or "error CODE text". */
static int call_parse(struct ws_ctl_call *v, char *line)
{
    char *sp;
    int code;

    /* Whatever it sends is printed on one line, and drives no terminal. */
    ws_strip_controls(line, strlen(line));
    if (strcmp(line, "ok") == 0 || strncmp(line, "ok ", 3) == 0) {
        snprintf(v->text, sizeof(v->text), "%s", line[2] ? line + 3 : "");
        return WS_OK;
    }
    sp = strncmp(line, "error ", 6) == 0 ? strchr(line + 6, ' ') : NULL;
    if (sp != NULL)
        *sp = '\0';
    code = sp != NULL ? ws_ctl_code(line + 6) : -1;
    /* The request is walship's own, not the user's: a usage error of
     * the server is a disagreement between the two programs (another
     * version), not a usage error of the command. */
    if (code == WS_EUSAGE)
        return ws_err_set(&v->err, WS_EIO, "%s: walship replicate at %s/%s "
                          "refused the request (another version?): %s",
                          v->db, v->meta, WS_CTL_SOCK, sp + 1);
    if (code <= 0)
        return ws_err_set(&v->err, WS_EIO, "%s: walship replicate answered "
                          "something else than a reply: \"%.200s\"", v->db,
                          line);
    return ws_err_set(&v->err, code, "%s: %s", v->db, sp + 1);
}

/* Read what fd has for v into buf (len so far); 1 when v is finished. */
static int call_read(struct ws_ctl_call *v, int fd, char *buf, size_t *len)
{
    ssize_t n = read(fd, buf + *len, WS_CTL_REPLY_MAX - *len);
    char *nl;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        v->rc = ws_err_set(&v->err, WS_EIO, "%s: walship replicate closed "
                           "the connection without an answer%s%s", v->db,
                           n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
        return 1;
    }
    *len += (size_t)n;
    nl = memchr(buf, '\n', *len);
    if (nl == NULL && *len < WS_CTL_REPLY_MAX)
        return 0;
    if (nl == NULL) {
        /* A server's line fits, newline included: one that does not is
         * not walship's reply, whatever it starts with. */
        v->rc = ws_err_set(&v->err, WS_EIO, "%s: %s/%s answered a line "
                           "longer than %d bytes: not a reply", v->db,
                           v->meta, WS_CTL_SOCK, WS_CTL_REPLY_MAX);
        return 1;
    }
    *nl = '\0';
    v->rc = call_parse(v, buf);
    return 1;
}

/* Clear v, connect and send request: the socket in *fd, or v->rc. */
static int call_start(struct ws_ctl_call *v, const char *request, int *fd)
{
    char line[WS_CTL_LINE_MAX + 1];
    size_t n;

    ws_err_clear(&v->err);
    v->text[0] = '\0';
    *fd = -1;
    v->rc = call_connect(v, fd);
    if (v->rc != WS_OK)
        return v->rc;
    /* One short line into an empty socket buffer: it goes whole.
     * (MSG_NOSIGNAL: a server that closed is an error, not SIGPIPE.) */
    snprintf(line, sizeof(line), "%s\n", request);
    n = strlen(line);
    if (send(*fd, line, n, MSG_NOSIGNAL) != (ssize_t)n) {
        v->rc = ws_err_set(&v->err, WS_EIO, "%s: send: %s", v->db,
                           strerror(errno));
        close(*fd);
        *fd = -1;
    }
    return v->rc;
}

/* A reply being read. */
struct slot {
    size_t len;
    char buf[WS_CTL_REPLY_MAX];
};

int ws_ctl_call_all(struct ws_ctl_call *v, size_t n, const char *request,
                    int64_t wait_ms, ws_ctl_wait_fn waiting, void *ctx)
{
    struct pollfd *p = calloc(n ? n : 1, sizeof(*p));
    struct slot *sl = calloc(n ? n : 1, sizeof(*sl));
    int64_t t0 = ws_now_ms(), end = t0 + wait_ms;
    int64_t say = t0 + ws_slow_delay_ms(0);
    size_t left = 0;
    int rc = WS_OK, said = 0;

    for (size_t i = 0; i < n; i++) {
        if (p != NULL) {
            p[i].fd = -1;
            p[i].events = POLLIN;
        }
        if (p == NULL || sl == NULL)
            v[i].rc = ws_err_set(&v[i].err, WS_ENOMEM, "out of memory");
        else if (call_start(&v[i], request, &p[i].fd) == WS_OK)
            left++;
    }
    while (left > 0) {
        int64_t now = ws_now_ms(), ms = wait_ms < 0 ? -1 : end - now;
        int k;
        if (wait_ms >= 0 && ms <= 0)
            break;
        if (waiting != NULL && now >= say) {
            /* Still waiting: said at a slowing pace (slow.h's). */
            for (size_t i = 0; i < n; i++)
                v[i].pending = p[i].fd >= 0;
            waiting(ctx, v, n, now - t0);
            say = now + ws_slow_delay_ms(++said);
        }
        if (waiting != NULL && (ms < 0 || ms > say - now))
            ms = say - now;
        k = poll(p, n, ms > INT32_MAX ? INT32_MAX : (int)ms);
        if (k < 0 && errno != EINTR)
            break;
        for (size_t i = 0; k > 0 && i < n; i++) {
            if (p[i].fd < 0 || p[i].revents == 0 ||
                !call_read(&v[i], p[i].fd, sl[i].buf, &sl[i].len))
                continue;
            close(p[i].fd);
            p[i].fd = -1;
            left--;
        }
    }
    for (size_t i = 0; i < n; i++) {
        v[i].pending = 0;
        if (p != NULL && p[i].fd >= 0) {
            close(p[i].fd);
            v[i].rc = ws_err_set(&v[i].err, WS_EREMOTE, "%s: walship "
                                 "replicate did not answer in time",
                                 v[i].db);
        }
        if (rc == WS_OK && v[i].rc != WS_OK)
            rc = v[i].rc;
    }
    free(p);
    free(sl);
    return rc;
}

/* ---- walship sync ----------------------------------------------------- */

/* The meta directory of the database arg: from the config when it is
 * one of its databases, else (without -config) the default one beside
 * the path. */
static int sync_target(const char *arg, const struct ws_config *cfg,
                       const char *config, char **db, char **meta,
                       struct ws_err *err)
{
    const struct ws_db_config *d = cfg ? ws_config_find_db(cfg, arg) : NULL;

    /* A plain path is for a replicate given DB_PATH REPLICA_URL, which
     * reads no config file: not with -config. */
    if (d == NULL && config != NULL) {
        ws_err_set(err, WS_ENOTFOUND, "database not found in config %s: %s",
                   config, arg);
        return ws_err_at(err, WS_AT_DB);
    }
    *db = d ? strdup(d->path) : ws_path_abs(arg);
    *meta = d ? strdup(d->meta_path) : *db ? ws_meta_path(*db) : NULL;
    if (*db == NULL || *meta == NULL) {
        free(*db);
        free(*meta);
        *db = *meta = NULL;
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    return WS_OK;
}

/* Said on stderr while sync waits (the answer says what is missing). */
static void sync_waiting(void *ctx, const struct ws_ctl_call *v, size_t n,
                         int64_t waited_ms)
{
    char dur[32];

    (void)ctx;
    ws_slow_fmt(waited_ms, dur, sizeof(dur));
    for (size_t i = 0; i < n; i++)
        if (v[i].pending)
            fprintf(stderr, "walship: %s: still waiting after %s for every "
                    "replica to hold what was committed (walship "
                    "replicate's log says why)\n", v[i].db, dur);
}

int ws_ctl_sync(const char *config, int expand_env, char *const *dbs,
                size_t n, int64_t timeout_ms, FILE *out, struct ws_err *err)
{
    struct ws_config *cfg = NULL;
    struct ws_ctl_call *v = calloc(n ? n : 1, sizeof(*v));
    char request[64];
    size_t i, failed = 0, first = n;
    int rc;

    if (v == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    /* A config given with -config must load; the default one may be
     * missing (plain paths then use the default meta directory). */
    rc = ws_config_load(config, expand_env, &cfg, err);
    if (rc == WS_ENOTFOUND && config == NULL) {
        ws_err_clear(err);
        rc = WS_OK;
    }
    for (i = 0; rc == WS_OK && i < n; i++)
        rc = sync_target(dbs[i], cfg, config, (char **)&v[i].db,
                         (char **)&v[i].meta, err);
    if (rc == WS_OK) {
        snprintf(request, sizeof(request), "sync %lld",
                 (long long)timeout_ms);
        /* The server answers at the timeout; a server that does not is
         * given a few seconds more. */
        ws_ctl_call_all(v, n, request,
                        timeout_ms > 0 ? timeout_ms + 5000 : -1,
                        sync_waiting, NULL);
        for (i = 0; i < n; i++) {
            if (v[i].rc == WS_OK) {
                fprintf(out, "synced %s\n", v[i].text);
                continue;
            }
            if (failed++ > 0)
                fprintf(stderr, "walship: %s\n", v[first].err.msg);
            first = i;
        }
        fflush(out);
        if (failed > 0) {
            if (err != NULL)
                *err = v[first].err;
            rc = v[first].rc;
        }
    }
    for (i = 0; i < n; i++) {
        free((char *)v[i].db);
        free((char *)v[i].meta);
    }
    free(v);
    ws_config_free(cfg);
    return rc;
}
