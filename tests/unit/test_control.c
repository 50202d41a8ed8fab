/*
 * test_control.c: the control endpoint (control.h) on a real loop in a
 * thread, asked by the client side and by raw sockets: the protocol's
 * replies, hostile lines, kept requests and clients that go away, and
 * what sits at the socket's name (nothing, a stale socket, a live one, a
 * link, a file), with a meta path longer than sun_path.
 */
#include "check.h"
#include "ws/control.h"
#include "ws/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

struct server {
    uv_loop_t loop;
    struct ws_ctl *ctl;
    pthread_t thread;
    int gone;                 /* a kept request's client went away */
    struct ws_ctl_conn *kept; /* the one "wait" keeps */
};

static void cmd_echo(struct ws_ctl_conn *c, int argc, char **argv,
                     void *ctx)
{
    char out[WS_CTL_LINE_MAX] = "";
    size_t n = 0;

    (void)ctx;
    for (int i = 1; i < argc; i++)
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s",
                              i > 1 ? "," : "", argv[i]);
    ws_ctl_reply(c, WS_OK, "%s", out);
}

static void cmd_fail(struct ws_ctl_conn *c, int argc, char **argv,
                     void *ctx)
{
    (void)argc, (void)argv, (void)ctx;
    ws_ctl_reply(c, WS_EREMOTE, "replica x is down");
}

static void on_gone(struct ws_ctl_conn *c, void *data)
{
    struct server *s = data;

    (void)c;
    __atomic_add_fetch(&s->gone, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&s->kept, NULL, __ATOMIC_SEQ_CST);
}

static void cmd_wait(struct ws_ctl_conn *c, int argc, char **argv,
                     void *ctx)
{
    struct server *s = ctx;

    (void)argc, (void)argv;
    __atomic_store_n(&s->kept, c, __ATOMIC_SEQ_CST); /* (wait_kept) */
    ws_ctl_keep(c, on_gone, s);
}

/* Answers the kept one, then itself. */
static void cmd_release(struct ws_ctl_conn *c, int argc, char **argv,
                        void *ctx)
{
    struct server *s = ctx;

    (void)argc, (void)argv;
    if (s->kept)
        ws_ctl_reply(s->kept, WS_OK, "released");
    __atomic_store_n(&s->kept, NULL, __ATOMIC_SEQ_CST);
    ws_ctl_reply(c, WS_OK, "gone=%d", s->gone);
}

static void cmd_stop(struct ws_ctl_conn *c, int argc, char **argv,
                     void *ctx)
{
    struct server *s = ctx;

    (void)c, (void)argc, (void)argv;
    ws_ctl_close(s->ctl, "stopping");
    s->ctl = NULL;
}

static const struct ws_ctl_cmd cmds[] = {
    {"echo", cmd_echo},   {"fail", cmd_fail}, {"wait", cmd_wait},
    {"release", cmd_release}, {"stop", cmd_stop}, {NULL, NULL},
};

static void *run(void *arg)
{
    struct server *s = arg;

    uv_run(&s->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* A fresh directory of mode 0700 (long: past sun_path's 108 bytes). */
static char *tmpdir(int longer)
{
    char tmpl[] = "/tmp/test_control.XXXXXX", *d = mkdtemp(tmpl), *p;
    struct ws_err err = {0};

    ASSERT(d != NULL);
    if (!longer)
        return strdup(d);
    p = malloc(400);
    snprintf(p, 400, "%s/%0120d/%060d", d, 0, 0);
    ASSERT_EQ(ws_fs_mkdir_p(p, 0700, &err), WS_OK);
    return p;
}

/* Remove tmpdir's tree and free its name. */
static void rmdir_tree(char *dir)
{
    char top[sizeof("/tmp/test_control.XXXXXX")];

    snprintf(top, sizeof(top), "%s", dir);
    ASSERT_EQ(ws_fs_rm_rf(top, NULL), WS_OK);
    free(dir);
}

static void serve(struct server *s, const char *dir)
{
    struct ws_err err = {0};

    memset(s, 0, sizeof(*s));
    ASSERT_EQ(uv_loop_init(&s->loop), 0);
    ASSERT_EQ(ws_ctl_open(&s->loop, dir, cmds, s, &s->ctl, &err), WS_OK);
    ASSERT_EQ(pthread_create(&s->thread, NULL, run, s), 0);
}

/* Connect through the directory (as the client does). */
static int raw_connect(const char *dir)
{
    int d = open(dir, O_PATH | O_DIRECTORY), fd;
    struct sockaddr_un a = {.sun_family = AF_UNIX};

    ASSERT(d >= 0);
    snprintf(a.sun_path, sizeof(a.sun_path), "/proc/self/fd/%d/%s", d,
             WS_CTL_SOCK);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    close(d);
    return fd;
}

/* The reply line to bytes sent on a new connection. */
static char *ask_raw(const char *dir, const void *b, size_t n)
{
    static char line[WS_CTL_REPLY_MAX + 1];
    int fd = raw_connect(dir);
    size_t got = 0;
    ssize_t k;

    signal(SIGPIPE, SIG_IGN);
    (void)!send(fd, b, n, MSG_NOSIGNAL);
    while (got < sizeof(line) - 1 &&
           (k = read(fd, line + got, sizeof(line) - 1 - got)) > 0)
        got += (size_t)k;
    line[got] = '\0';
    close(fd);
    return line;
}

static void ask(const char *dir, const char *req, int rc_want,
                const char *text)
{
    struct ws_ctl_call v = {.meta = dir, .db = "db"};

    ASSERT_EQ(ws_ctl_call_all(&v, 1, req, 10000, NULL, NULL), rc_want);
    ASSERT_EQ(v.rc, rc_want);
    ASSERT_STR_CONTAINS(rc_want == WS_OK ? v.text : v.err.msg, text);
}

static void shut(struct server *s, const char *dir)
{
    struct stat sb;

    ask(dir, "stop", WS_EBUSY, "db: stopping");
    ASSERT_EQ(pthread_join(s->thread, NULL), 0);
    ASSERT_EQ(uv_loop_close(&s->loop), 0); /* everything freed, closed */
    ASSERT(fstatat(AT_FDCWD, dir, &sb, 0) == 0);
}

TEST(codes)
{
    ASSERT_EQ(ws_ctl_code("EREMOTE"), WS_EREMOTE);
    ASSERT_EQ(ws_ctl_code("EUSAGE"), WS_EUSAGE);
    ASSERT_EQ(ws_ctl_code("OK"), WS_OK);
    ASSERT_EQ(ws_ctl_code("remote"), -1);
    ASSERT_EQ(ws_ctl_code(""), -1);
}

TEST(protocol)
{
    char *dir = tmpdir(1), big[5000], sock[512];
    struct server s;
    struct stat sb;

    ASSERT(strlen(dir) > 108);
    serve(&s, dir);
    snprintf(sock, sizeof(sock), "%s/%s", dir, WS_CTL_SOCK);
    ASSERT_EQ(lstat(sock, &sb), 0);
    ASSERT(S_ISSOCK(sb.st_mode));
    ASSERT_EQ(sb.st_mode & 07777, 0600);
    ask(dir, "echo a b c", WS_OK, "a,b,c");
    ask(dir, "echo", WS_OK, "");
    ask(dir, "fail", WS_EREMOTE, "db: replica x is down");
    /* The server's usage error is not the command's: the request is
     * walship's own (another version answers so). */
    ask(dir, "nope x", WS_EIO, "db: walship replicate at ");
    ask(dir, "nope x", WS_EIO, "/control.sock refused the request "
                               "(another version?): unknown command "
                               "\"nope\" (commands: echo, fail, wait, "
                               "release, stop)");
    ASSERT_STR_EQ(ask_raw(dir, "\n", 1), "error EUSAGE bad request: "
                                         "empty line\n");
    ASSERT_STR_EQ(ask_raw(dir, "echo  a\n", 8),
                  "error EUSAGE bad request: words are separated by one "
                  "space, at most 16 of them\n");
    ASSERT_STR_EQ(ask_raw(dir, "echo\0x\n", 7),
                  "error EUSAGE bad request: a byte is not printable "
                  "ASCII\n");
    ASSERT_STR_EQ(ask_raw(dir, "echo \x1b[2J\r\n", 11),
                  "error EUSAGE bad request: a byte is not printable "
                  "ASCII\n");
    /* 511 bytes and a newline are fine; 512 without one are not. */
    memset(big, 'x', sizeof(big));
    memcpy(big, "echo ", 5);
    big[511] = '\n';
    ASSERT_EQ(strlen(ask_raw(dir, big, 512)), 3 + 506 + 1);
    big[511] = 'x';
    ASSERT_STR_EQ(ask_raw(dir, big, sizeof(big)),
                  "error EUSAGE bad request: longer than 511 bytes\n");
    /* Bytes after the request line are ignored. */
    ASSERT_STR_EQ(ask_raw(dir, "echo q\nechoo", 12), "ok q\n");
    shut(&s, dir);
    ASSERT_EQ(lstat(sock, &sb), -1); /* removed at close */
    rmdir_tree(dir);
}

/* Until the loop thread has kept a "wait" request. */
static void wait_kept(struct server *s)
{
    for (int i = 0; i < 500 && __atomic_load_n(&s->kept, __ATOMIC_SEQ_CST) ==
                                   NULL;
         i++)
        usleep(20000);
    ASSERT(__atomic_load_n(&s->kept, __ATOMIC_SEQ_CST) != NULL);
}

TEST(kept)
{
    char *dir = tmpdir(0);
    struct server s;
    int fd;
    char line[64] = "";

    serve(&s, dir);
    /* A kept request whose client goes away: gone is told. */
    fd = raw_connect(dir);
    ASSERT_EQ(write(fd, "wait\n", 5), 5);
    wait_kept(&s);
    close(fd);
    for (int i = 0; i < 500 && __atomic_load_n(&s.gone, __ATOMIC_SEQ_CST) == 0;
         i++)
        usleep(20000);
    ASSERT_EQ(s.gone, 1);
    /* One answered later, by another request. */
    fd = raw_connect(dir);
    ASSERT_EQ(write(fd, "wait\n", 5), 5);
    wait_kept(&s);
    ask(dir, "release", WS_OK, "gone=1");
    ASSERT(read(fd, line, sizeof(line) - 1) > 0);
    ASSERT_STR_EQ(line, "ok released\n");
    close(fd);
    /* A client that only shuts its sending side down still gets its
     * answer, later too; the end of its input ends the line. */
    fd = raw_connect(dir);
    ASSERT_EQ(write(fd, "wait", 4), 4);
    ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
    wait_kept(&s);
    ask(dir, "release", WS_OK, "gone=1");
    memset(line, 0, sizeof(line));
    ASSERT(read(fd, line, sizeof(line) - 1) > 0);
    ASSERT_STR_EQ(line, "ok released\n");
    close(fd);
    fd = raw_connect(dir);
    ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
    memset(line, 0, sizeof(line));
    ASSERT(read(fd, line, sizeof(line) - 1) > 0);
    ASSERT_STR_EQ(line, "error EUSAGE bad request: empty line\n");
    close(fd);
    /* One still kept when the endpoint closes gets its error. */
    fd = raw_connect(dir);
    ASSERT_EQ(write(fd, "wait\n", 5), 5);
    wait_kept(&s);
    shut(&s, dir);
    memset(line, 0, sizeof(line));
    ASSERT(read(fd, line, sizeof(line) - 1) > 0);
    ASSERT_STR_EQ(line, "error EBUSY stopping\n");
    ASSERT_EQ(s.gone, 2);
    close(fd);
    rmdir_tree(dir);
}

TEST(many_clients)
{
    enum { N = WS_CTL_CLIENTS_MAX + 4 };
    char *dir = tmpdir(0);
    struct server s;
    int fds[N], told[N] = {0}, busy = 0;

    serve(&s, dir);
    for (int i = 0; i < N; i++) {
        fds[i] = raw_connect(dir);
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
    }
    /* The extra ones are told at once; the others hold their place
     * (until the 10 s request limit, which this does not reach). */
    for (int round = 0; round < 160 && busy < 4; round++) {
        for (int i = 0; i < N; i++) {
            char line[128] = "";
            if (told[i] || read(fds[i], line, sizeof(line) - 1) <= 0)
                continue;
            told[i] = 1;
            ASSERT_STR_EQ(line, "error EBUSY too many connections (at "
                                "most 64 at once)\n");
            busy++;
        }
        usleep(50000);
    }
    ASSERT_EQ(busy, 4);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    /* Served again once the loop has seen those closes. */
    for (int i = 0; i < 100; i++) {
        struct ws_ctl_call v = {.meta = dir, .db = "db"};
        if (ws_ctl_call_all(&v, 1, "echo ok", 10000, NULL, NULL) == WS_OK)
            break;
        ASSERT_STR_CONTAINS(v.err.msg, "too many connections");
        usleep(50000);
    }
    ask(dir, "echo ok", WS_OK, "ok");
    shut(&s, dir);
    rmdir_tree(dir);
}

static int notes;
static int64_t noted_ms;

static void note(void *ctx, const struct ws_ctl_call *v, size_t n,
                 int64_t waited_ms)
{
    ASSERT(ctx == &notes);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(v[0].pending, 1); /* kept */
    ASSERT_EQ(v[1].pending, 0); /* answered at once */
    notes++;
    noted_ms = waited_ms;
}

/* A client that waits long says so after 10 s, for the calls still
 * waiting, then gives up in time. */
TEST(waiting)
{
    char *dir = tmpdir(0), missing[300];
    struct ws_ctl_call v[2] = {{.meta = dir, .db = "db1"},
                               {.meta = missing, .db = "db2"}};
    struct server s;

    snprintf(missing, sizeof(missing), "%s/nope", dir);
    serve(&s, dir);
    ASSERT_EQ(ws_ctl_call_all(v, 2, "wait", 12000, note, &notes),
              WS_EREMOTE);
    ASSERT_STR_CONTAINS(v[0].err.msg, "db1: walship replicate did not "
                                      "answer in time");
    ASSERT_EQ(v[1].rc, WS_ENOTFOUND);
    ASSERT_EQ(notes, 1);
    ASSERT(noted_ms >= 10000 && noted_ms < 12000);
    ASSERT_EQ(v[0].pending, 0);
    shut(&s, dir);
    ASSERT_EQ(s.gone, 1); /* the client that gave up was told from */
    rmdir_tree(dir);
}

/* The client's outcomes without a server. */
TEST(no_server)
{
    char *dir = tmpdir(0), missing[300], sock[300];
    struct ws_ctl_call v[2] = {{.meta = missing, .db = "db1"},
                               {.meta = dir, .db = "db2"}};
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd;

    snprintf(missing, sizeof(missing), "%s/nope", dir);
    ASSERT_EQ(ws_ctl_call_all(v, 2, "echo", 1000, NULL, NULL), WS_ENOTFOUND);
    ASSERT_STR_CONTAINS(v[0].err.msg, "db1: no running walship replicate "
                                      "serves it (no meta directory");
    ASSERT_STR_CONTAINS(v[1].err.msg, "db2: no running walship replicate "
                                      "serves it (no ");
    /* A socket nobody listens on: left by one that stopped. */
    snprintf(sock, sizeof(sock), "%s/%s", dir, WS_CTL_SOCK);
    ASSERT(strlen(sock) < sizeof(a.sun_path));
    memcpy(a.sun_path, sock, strlen(sock) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    close(fd);
    ASSERT_EQ(ws_ctl_call_all(&v[1], 1, "echo", 1000, NULL, NULL), WS_ENOTFOUND);
    ASSERT_STR_CONTAINS(v[1].err.msg, "is left by one that stopped");
    /* Anything else at the name is not walship's socket. */
    unlink(sock);
    ASSERT_EQ(symlink("/dev/null", sock), 0);
    ASSERT_EQ(ws_ctl_call_all(&v[1], 1, "echo", 1000, NULL, NULL), WS_EEXIST);
    ASSERT_STR_CONTAINS(v[1].err.msg, "is a symbolic link, not walship's");
    /* A meta directory others can write in is not asked. */
    unlink(sock);
    ASSERT_EQ(chmod(dir, 0777), 0);
    ASSERT(ws_ctl_call_all(&v[1], 1, "echo", 1000, NULL, NULL) != WS_OK);
    ASSERT_STR_CONTAINS(v[1].err.msg, "writable");
    rmdir_tree(dir);
}

/* What ws_ctl_open finds at the socket's name. */
TEST(names)
{
    char *dir = tmpdir(0), sock[300], target[300], buf[8] = "";
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    struct ws_err err = {0};
    struct ws_ctl *c = NULL;
    struct server s;
    uv_loop_t loop;
    int fd;

    ASSERT_EQ(uv_loop_init(&loop), 0);
    snprintf(sock, sizeof(sock), "%s/%s", dir, WS_CTL_SOCK);
    snprintf(target, sizeof(target), "%s/target", dir);
    /* A symbolic link: refused, neither followed nor removed. */
    fd = open(target, O_CREAT | O_WRONLY, 0600);
    ASSERT_EQ(write(fd, "keep", 4), 4);
    close(fd);
    ASSERT_EQ(symlink(target, sock), 0);
    ASSERT_EQ(ws_ctl_open(&loop, dir, cmds, NULL, &c, &err), WS_EEXIST);
    ASSERT_STR_CONTAINS(err.msg, "is a symbolic link, not a socket: not "
                                 "removed");
    fd = open(target, O_RDONLY);
    ASSERT_EQ(read(fd, buf, sizeof(buf)), 4);
    close(fd);
    ASSERT_EQ(unlink(sock), 0); /* still the link */
    /* A regular file: the same. */
    ASSERT_EQ(rename(target, sock), 0);
    ASSERT_EQ(ws_ctl_open(&loop, dir, cmds, NULL, &c, &err), WS_EEXIST);
    ASSERT_STR_CONTAINS(err.msg, "is a regular file");
    ASSERT_EQ(unlink(sock), 0);
    /* A live listener: not taken over. */
    ASSERT(strlen(sock) < sizeof(a.sun_path));
    memcpy(a.sun_path, sock, strlen(sock) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ASSERT_EQ(listen(fd, 1), 0);
    ASSERT_EQ(ws_ctl_open(&loop, dir, cmds, NULL, &c, &err), WS_EBUSY);
    ASSERT_STR_CONTAINS(err.msg, "another process listens on it");
    /* Once it stopped, its socket is stale and replaced. */
    close(fd);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    serve(&s, dir);
    ask(dir, "echo x", WS_OK, "x");
    shut(&s, dir);
    rmdir_tree(dir);
}

/* A fake server at the socket's name: sends its n bytes to the first
 * client, then waits for the client to close (shut: ends its side of
 * the connection first). */
struct fake {
    int fd;
    const char *b;
    size_t n;
    int shut;
    pthread_t thread;
};

static void *fake_run(void *arg)
{
    struct fake *f = arg;
    int c = accept(f->fd, NULL, NULL);
    char x;

    ASSERT(c >= 0);
    (void)!send(c, f->b, f->n, MSG_NOSIGNAL);
    if (f->shut)
        shutdown(c, SHUT_WR);
    while (read(c, &x, 1) > 0)
        ;
    close(c);
    return NULL;
}

/* The outcome of one "sync" call to a fake server sending b[0..n). */
static int fake_call(const char *dir, const char *b, size_t n, int shut,
                     struct ws_ctl_call *v)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    struct fake f = {.b = b, .n = n, .shut = shut};
    int rc;

    snprintf(a.sun_path, sizeof(a.sun_path), "%s/%s", dir, WS_CTL_SOCK);
    unlink(a.sun_path);
    f.fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(bind(f.fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ASSERT_EQ(listen(f.fd, 1), 0);
    ASSERT_EQ(pthread_create(&f.thread, NULL, fake_run, &f), 0);
    memset(v, 0, sizeof(*v));
    v->meta = dir;
    v->db = "db";
    rc = ws_ctl_call_all(v, 1, "sync", 5000, NULL, NULL);
    ASSERT_EQ(rc, v->rc);
    ASSERT_EQ(pthread_join(f.thread, NULL), 0);
    close(f.fd);
    return rc;
}

/* A reply is a line ended within WS_CTL_REPLY_MAX bytes, newline
 * included: an "ok" that runs past it is no reply (the connection kept
 * open: the client must not wait for more, nor take what it has). */
TEST(reply_bound)
{
    char *dir = tmpdir(0), *b = malloc(10000);
    struct ws_ctl_call v;

    memset(b, 'A', 10000);
    memcpy(b, "ok ", 3);
    b[WS_CTL_REPLY_MAX - 1] = '\n'; /* the longest line: taken */
    ASSERT_EQ(fake_call(dir, b, WS_CTL_REPLY_MAX, 0, &v), WS_OK);
    ASSERT_EQ(strlen(v.text), WS_CTL_REPLY_MAX - 4);
    b[WS_CTL_REPLY_MAX - 1] = 'A'; /* one byte more: not a reply */
    ASSERT_EQ(fake_call(dir, b, 10000, 0, &v), WS_EIO);
    ASSERT_STR_CONTAINS(v.err.msg, "db: ");
    ASSERT_STR_CONTAINS(v.err.msg, "/control.sock answered a line longer "
                                   "than 2048 bytes: not a reply");
    ASSERT_EQ(fake_call(dir, b, WS_CTL_REPLY_MAX, 0, &v), WS_EIO);
    ASSERT_STR_CONTAINS(v.err.msg, "longer than 2048 bytes");
    /* Cut by the end of the connection: no reply either. */
    ASSERT_EQ(fake_call(dir, "ok no newline", 13, 1, &v), WS_EIO);
    ASSERT_STR_CONTAINS(v.err.msg, "closed the connection without an "
                                   "answer");
    /* The server's usage error is the client's fault, not the user's. */
    ASSERT_EQ(fake_call(dir, "error EUSAGE usage: sync [TIMEOUT_MS]\n", 38,
                        0, &v), WS_EIO);
    ASSERT_STR_CONTAINS(v.err.msg, "refused the request (another "
                                   "version?): usage: sync [TIMEOUT_MS]");
    free(b);
    rmdir_tree(dir);
}

#define LIST(X)                                                             \
    X(codes)                                                                \
    X(protocol)                                                             \
    X(kept)                                                                 \
    X(many_clients)                                                         \
    X(waiting)                                                              \
    X(no_server)                                                            \
    X(names)                                                                \
    X(reply_bound)

TEST_MAIN("control", LIST)
