/*
 * child.h: the application walship runs and supervises (`-exec`).
 *
 * `walship replicate -exec "CMD ARGS"` (or the config's top-level `exec:`
 * key) runs the application beside replication, the way a container's
 * entrypoint or a sidecar would: walship is its parent, forwards the
 * signals an operator or a container runtime sends, and stops when it
 * stops.  This module holds the process side of that; the daemon decides
 * when (daemon.h).
 *
 * The command.  It is split into words the way Litestream v0.3 splits
 * it (a shell-words split), and no shell runs: words are separated by
 * blanks (space, tab, newline); '...' quotes everything up to the next
 * '; "..." quotes too, and a backslash outside single quotes takes the
 * next character as it is.  There are no variables, globs, pipes or
 * redirections: an unquoted | & ; < > ( ) or ` is refused, as is an
 * unterminated quote or an empty command (Litestream would silently cut
 * the command at the first of those characters).  A command that needs a
 * shell says so: -exec "sh -c 'app | logger'".  The first word is looked
 * up in $PATH unless it contains a '/'.
 *
 * The process.  Started with uv_spawn, it inherits walship's
 * environment, working directory and stdio (fds 0, 1 and 2), and stays
 * in walship's process group, so that it keeps the terminal: a Ctrl-C
 * there reaches both, and the SIGINT walship forwards is a second one
 * (what Ctrl-C twice sends anyway).  ws_child_signal() sends it one
 * signal.  When it exits, the owner's on_exit is called once, with its
 * status as a process exit code: its own exit code, or 128 + N when
 * signal N killed it (a shell's convention).  A command that cannot be
 * started (not found, not executable) is an error of ws_child_start(),
 * said in one line naming the program.
 *
 * Messages never show the arguments.  The command is often made from the
 * environment (`exec: app --dsn ${DATABASE_URL}`, or the shell's
 * expansion of -exec), so an argument may be a secret, and logs go to
 * collectors: every line and error about the application names its
 * program (argv[0]) and how many arguments it has, never their text, and
 * a command that cannot be split says where, not what.
 *
 * Reaping.  In a container walship is often PID 1, and the kernel gives
 * PID 1 every orphan of the container: an application's grandchildren
 * whose parent exited first, what a `docker exec` session left behind.
 * Each one that exits stays a zombie (a <defunct> process holding a PID)
 * until PID 1 waits for it.  So, while it supervises an application, or
 * whenever it is PID 1, walship reaps them: on every SIGCHLD it waits
 * for every exited child that is not the application.  When it is not
 * PID 1, ws_child_init() makes walship a child subreaper
 * (prctl PR_SET_CHILD_SUBREAPER, Linux 3.4): the orphans of the
 * application's tree come to walship instead of the system's init, and
 * are reaped the same way (and a test can watch it without being PID 1).
 *
 * The application itself is libuv's to reap: libuv waits for the
 * children it spawned by pid, on its own SIGCHLD handler, and a child
 * reaped by anyone else never has its exit callback called (libuv's
 * waitpid gets ECHILD and skips it).  So the orphan reaper never waits
 * for "any child": it peeks at the next exited child without reaping it
 * (waitid with WNOWAIT), reaps that pid alone when it is not the
 * application, and stops at the application, which libuv reaps in the
 * same turn of the loop; when its exit callback has run, the reaper
 * looks again for orphans that were behind it.
 *
 * The owner embeds a struct ws_child, reaches itself through `data`, and
 * closes it with ws_child_close() (libuv's rule for handles) once
 * on_exit has been called or the application was never started.
 */
#ifndef WS_CHILD_H
#define WS_CHILD_H

#include <uv.h>

#include "ws/err.h"

struct ws_child;

typedef void (*ws_child_exit_fn)(struct ws_child *c);

struct ws_child {
    uv_loop_t *loop;
    uv_process_t proc;
    uv_signal_t sigchld;   /* the orphan reaper */
    char **argv;           /* the command, split; NULL-terminated */
    int argc;              /* its arguments, argv[0] not counted */
    int spawned;           /* uv_spawn was called: proc needs closing */
    int started;           /* ...and succeeded */
    int running;           /* ...and on_exit was not called yet */
    int status;            /* exit code, or 128 + N (valid after on_exit) */
    int term_signal;       /* N when signal N killed it, else 0 */
    unsigned long reaped;  /* orphans reaped so far */
    ws_child_exit_fn on_exit;
    void *data;            /* the owner's */
};

/* Split cmd into words (the rules above).  On success *argv is a
 * NULL-terminated array the caller frees with ws_child_argv_free(), with
 * at least one word.  On failure err says what is wrong and where
 * (WS_EUSAGE). */
int ws_child_split(const char *cmd, char ***argv, struct ws_err *err);

void ws_child_argv_free(char **argv);

/* Prepare c to run cmd on loop (split as above) and start reaping
 * orphans (becoming a subreaper unless PID 1).  on_exit is called once
 * when the started application exits.  cmd NULL: reap orphans only (PID
 * 1 with no application); ws_child_start must not be called.  On
 * failure nothing needs closing. */
int ws_child_init(struct ws_child *c, uv_loop_t *loop, const char *cmd,
                  ws_child_exit_fn on_exit, void *data, struct ws_err *err);

/* Start the application.  On failure (the command not found, not
 * executable, ...) err names the command and why, and on_exit is never
 * called. */
int ws_child_start(struct ws_child *c, struct ws_err *err);

/* Send signum to the running application (nothing when it is not). */
void ws_child_signal(struct ws_child *c, int signum);

/* Close the handles; cb is called for each (twice at most). */
void ws_child_close(struct ws_child *c, uv_close_cb cb);

#endif
