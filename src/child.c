/*
 * child.c: the application walship runs and supervises (child.h).
 */
#include "ws/child.h"
#include "ws/log.h"
#include "ws/str.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- splitting the command --------------------------------------------- */

void ws_child_argv_free(char **argv)
{
    for (size_t i = 0; argv != NULL && argv[i] != NULL; i++)
        free(argv[i]);
    free(argv);
}

int ws_child_split(const char *cmd, char ***argv, struct ws_err *err)
{
    struct ws_strv w = {NULL, 0, 0};
    size_t len = strlen(cmd), n = 0, i = 0;
    char *buf = malloc(len + 1);  /* the word being read */
    int in_word = 0, rc = WS_OK;

    if (buf == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    while (rc == WS_OK && i <= len) {
        char ch = cmd[i];

        if (ch == '\0' || ch == ' ' || ch == '\t' || ch == '\n') {
            if (in_word) {
                buf[n] = '\0';
                char *s = strdup(buf);
                if (s == NULL || ws_strv_push(&w, s) != WS_OK) {
                    free(s);
                    rc = ws_err_set(err, WS_ENOMEM, "out of memory");
                }
                n = 0;
                in_word = 0;
            }
            i++;
        } else if (ch == '\'') {
            const char *end = strchr(cmd + i + 1, '\'');
            if (end == NULL) {
                rc = ws_err_set(err, WS_EUSAGE, "unterminated ' at "
                                "character %zu", i + 1);
                break;
            }
            memcpy(buf + n, cmd + i + 1, (size_t)(end - cmd - i - 1));
            n += (size_t)(end - cmd - i - 1);
            i = (size_t)(end - cmd) + 1;
            in_word = 1;
        } else if (ch == '"') {
            size_t at = i++;
            while (i < len && cmd[i] != '"') {
                if (cmd[i] == '\\' && i + 1 < len)
                    i++;
                buf[n++] = cmd[i++];
            }
            if (i >= len) {
                rc = ws_err_set(err, WS_EUSAGE, "unterminated \" at "
                                "character %zu", at + 1);
                break;
            }
            i++;
            in_word = 1;
        } else if (ch == '\\') {
            if (i + 1 >= len) {
                rc = ws_err_set(err, WS_EUSAGE, "a trailing \\ escapes "
                                "nothing");
                break;
            }
            buf[n++] = cmd[i + 1];
            i += 2;
            in_word = 1;
        } else if (strchr("|&;<>()`", ch) != NULL) {
            rc = ws_err_set(err, WS_EUSAGE, "unquoted '%c' at character "
                            "%zu: no shell runs the command (quote it, or "
                            "run one: sh -c '...')", ch, i + 1);
        } else {
            buf[n++] = ch;
            i++;
            in_word = 1;
        }
    }
    free(buf);
    if (rc == WS_OK && w.n == 0)
        rc = ws_err_set(err, WS_EUSAGE, "the command is empty");
    if (rc != WS_OK) {
        ws_child_argv_free(w.v);
        return rc;
    }
    *argv = w.v;
    return WS_OK;
}

/* ---- reaping ----------------------------------------------------------- */

/* Reap every exited child but the application, which is libuv's: peek
 * at the next one without reaping it, and stop at the application
 * (child.h). */
static void reap_orphans(struct ws_child *c)
{
    for (;;) {
        siginfo_t si;

        memset(&si, 0, sizeof(si));
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 ||
            si.si_pid == 0)
            return;
        if (c->running && si.si_pid == c->proc.pid)
            return;
        if (waitpid(si.si_pid, NULL, WNOHANG) != si.si_pid)
            return;
        c->reaped++;
        ws_debug("reaped an orphaned process pid=%d (reaped so far: %lu)",
                 (int)si.si_pid, c->reaped);
    }
}

static void on_sigchld(uv_signal_t *h, int signum)
{
    (void)signum;
    reap_orphans(h->data);
}

static void on_proc_exit(uv_process_t *p, int64_t exit_status,
                         int term_signal)
{
    struct ws_child *c = p->data;

    c->running = 0;
    c->term_signal = term_signal;
    c->status = term_signal != 0 ? 128 + term_signal
                                 : (int)(exit_status & 0xff);
    /* Orphans that exited while the application was the next to reap. */
    reap_orphans(c);
    c->on_exit(c);
}

/* ---- the application --------------------------------------------------- */

int ws_child_init(struct ws_child *c, uv_loop_t *loop, const char *cmd,
                  ws_child_exit_fn on_exit, void *data, struct ws_err *err)
{
    int rc;

    memset(c, 0, sizeof(*c));
    if (cmd != NULL) {
        rc = ws_child_split(cmd, &c->argv, err);
        if (rc != WS_OK)
            return ws_err_wrap(err, "-exec");
        while (c->argv[c->argc + 1] != NULL)
            c->argc++;
    }
    c->loop = loop;
    c->on_exit = on_exit;
    c->data = data;
    if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        ws_warn("cannot become a child subreaper error=\"%s\": orphans of "
                "the application go to the system's init",
                strerror(errno));
    uv_signal_init(loop, &c->sigchld);
    c->sigchld.data = c;
    uv_signal_start(&c->sigchld, on_sigchld, SIGCHLD);
    return WS_OK;
}

int ws_child_start(struct ws_child *c, struct ws_err *err)
{
    uv_process_options_t o;
    uv_stdio_container_t io[3];
    int e;

    memset(&o, 0, sizeof(o));
    for (int i = 0; i < 3; i++) {
        io[i].flags = UV_INHERIT_FD;
        io[i].data.fd = i;
    }
    o.file = c->argv[0];
    o.args = c->argv;
    o.env = NULL; /* walship's own */
    o.stdio = io;
    o.stdio_count = 3;
    o.exit_cb = on_proc_exit;
    e = uv_spawn(c->loop, &c->proc, &o);
    c->proc.data = c;
    /* uv_spawn initialises the handle even when it fails: it is closed
     * by ws_child_close either way. */
    c->spawned = 1;
    if (e != 0)
        return ws_err_set(err, WS_ECONFIG, "cannot start the application "
                          "%s: %s (-exec, %d argument%s not shown)",
                          c->argv[0], uv_strerror(e), c->argc,
                          c->argc == 1 ? "" : "s");
    c->started = 1;
    c->running = 1;
    return WS_OK;
}

void ws_child_signal(struct ws_child *c, int signum)
{
    if (c->running)
        uv_process_kill(&c->proc, signum);
}

void ws_child_close(struct ws_child *c, uv_close_cb cb)
{
    if (c->spawned)
        uv_close((uv_handle_t *)&c->proc, cb);
    uv_close((uv_handle_t *)&c->sigchld, cb);
    ws_child_argv_free(c->argv);
    c->argv = NULL;
}
