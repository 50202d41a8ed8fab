/*
 * control.h: the local control endpoint of `walship replicate`, and the
 * client side that `walship sync` uses to talk to it.
 *
 * One endpoint per database: a Unix stream socket named "control.sock"
 * in the database's meta directory (`<dir>/.<name>-walship`, or its
 * meta-path), served from the daemon's libuv loop.  The directory
 * names the database, so a request needs no database argument, and the
 * endpoint lives exactly as long as the meta directory's lock: it is
 * bound once the first sync holds that lock (db.h), so a second walship
 * on the same meta directory, which cannot take the lock, never touches
 * the socket of the first.  Before that (the database is awaited), there
 * is no endpoint to talk to.
 *
 * The socket's path.  sun_path holds 108 bytes and a meta path may be
 * longer, so the socket is bound and connected through the meta
 * directory's open descriptor, "/proc/self/fd/<fd>/control.sock" (Linux
 * resolves it as the directory itself, whatever its path).  The
 * directory is opened and checked as every directory walship writes in
 * (fs.h: ours or root's, not writable by group or others, no link at
 * its last component), and the name is only ever looked at with
 * AT_SYMLINK_NOFOLLOW.
 *
 * Who may talk to it.  The socket is made mode 0600 before listen(), in
 * a directory only its owner can write in, and each connection's peer
 * credentials (SO_PEERCRED) must be walship's effective user or root;
 * anyone else gets an error line and the connection closed.
 *
 * A name already at the socket's path when the endpoint binds: a socket
 * that still answers a connect() belongs to a live process, and the
 * endpoint is not served (an error line; replication goes on); one that
 * refuses it is left by a walship that was killed, and is removed and
 * bound again.  Anything else (a symbolic link, a regular file, a FIFO)
 * is neither followed nor removed: the endpoint is not served, and the
 * log says why.  At exit the socket is removed, when the name is still
 * the socket this process bound.
 *
 * The protocol, one request and one reply per connection:
 *
 *     request  = command *( " " word ) ( "\n" / end of input )
 *                                              at most 512 bytes
 *     reply    = "ok" [ " " text ] "\n"
 *              / "error " code " " text "\n"
 *
 * A command and its words are printable ASCII without spaces; text is
 * one line, without control characters.  code is the name of a walship
 * error code ("EREMOTE", "EUSAGE", "EBUSY", ...; err.h), so a client
 * rebuilds the error the server had and exits as it would.  The server
 * closes the connection after its reply; a client closes it when it
 * gives up, and a request kept waiting is then dropped.  A client that
 * only shuts down its sending side (shutdown(SHUT_WR), as `nc -U` does at
 * the end of its input) still gets its answer; one that closed
 * completely is told from it by POLLHUP.
 *
 * Bounds.  A request must be complete within 10 s of the connection (a
 * client that sends nothing, or half a line, is closed then); a longer
 * line is answered "error EUSAGE ..." as soon as 512 bytes arrived
 * without a newline, and garbage (a control character, an unknown
 * command) as soon as its line is complete.  At most 64 connections
 * are open at once; the next ones get "error EBUSY ..." and are closed.
 * The reply is one line written once without waiting (a client that
 * never reads cannot hold the loop: the kernel's socket buffer takes
 * it, and the connection is closed right after).  Memory is bounded by
 * 64 connections of 512 bytes.
 *
 * Commands.  The server is given a table of struct ws_ctl_cmd, ended by
 * a NULL name.  A command's function gets the request's words (argv[0]
 * is the command) and either replies at once (ws_ctl_reply), or keeps
 * the connection (ws_ctl_keep) and replies later: a command may wait as
 * long as it likes, and is told through its `gone` callback if the
 * client disconnects or the endpoint closes first.
 */
#ifndef WS_CONTROL_H
#define WS_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "ws/err.h"

#define WS_CTL_SOCK "control.sock" /* the socket's name in the meta dir */
#define WS_CTL_LINE_MAX 512        /* a request line, newline included */
#define WS_CTL_REPLY_MAX 2048      /* a reply line, newline included */
#define WS_CTL_CLIENTS_MAX 64      /* connections open at once */
#define WS_CTL_READ_MS 10000       /* a request must be complete by then */
/* The longest timeout of a "sync TIMEOUT_MS" request (12 digits, about
 * 31 years); 0 is none. */
#define WS_CTL_SYNC_MAX_MS 999999999999LL

struct ws_ctl;      /* one endpoint: its socket and its connections */
struct ws_ctl_conn; /* one connection and its request */

/* A command of the endpoint.  fn must call ws_ctl_reply or ws_ctl_keep
 * on c before it returns.  argv[0..argc) are the request's words,
 * valid only during the call; ctx is the one given to ws_ctl_open. */
struct ws_ctl_cmd {
    const char *name;
    void (*fn)(struct ws_ctl_conn *c, int argc, char **argv, void *ctx);
};

/* ---- server (the daemon's loop) ------------------------------------- */

/* Bind and listen on the endpoint of the meta directory meta, on loop,
 * serving cmds (borrowed; must outlive the endpoint) with ctx.  On
 * success *out is the endpoint.  A name at the socket's path that is
 * not a stale socket of ours is WS_EEXIST (a live socket: WS_EBUSY),
 * with a message naming it; the meta directory refused by fs.h's rule
 * is WS_ECONFIG.  Nothing is left behind on failure. */
int ws_ctl_open(uv_loop_t *loop, const char *meta,
                const struct ws_ctl_cmd *cmds, void *ctx,
                struct ws_ctl **out, struct ws_err *err);

/* 1 when the name at the socket's path is still the socket c bound (an
 * operator may have removed the meta directory). */
int ws_ctl_bound(const struct ws_ctl *c);

/* Stop serving: every kept connection is answered "error EBUSY " +
 * why (its `gone` is called first), every connection closed, the
 * socket removed if it is still ours, and c freed once its handles have
 * closed (the loop must run).  NULL is fine. */
void ws_ctl_close(struct ws_ctl *c, const char *why);

/* Reply to c's request and close c: code WS_OK replies "ok text", any
 * other code "error <name> text".  c is invalid afterwards. */
void ws_ctl_reply(struct ws_ctl_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keep c for a later ws_ctl_reply.  If the client goes away (or the
 * endpoint closes) first, gone(c, data) is called once, after which c is
 * invalid: the command forgets it there.  A kept connection has no time
 * limit of its own. */
void ws_ctl_keep(struct ws_ctl_conn *c,
                 void (*gone)(struct ws_ctl_conn *c, void *data), void *data);

/* ---- client (`walship sync` and other commands) ---------------------- */

/* One call to one endpoint. */
struct ws_ctl_call {
    const char *meta;   /* in: the database's meta directory */
    const char *db;     /* in: the database, for messages */
    int pending;        /* 1 while its answer is awaited (for `waiting`) */
    int rc;             /* out: WS_OK, or the failure's code */
    struct ws_err err;  /* out: the failure, naming db */
    char text[WS_CTL_REPLY_MAX]; /* out: the reply's text after "ok " */
};

/* Told while answers are awaited: after 10 s, then at slow.h's slowing
 * pace, with how long so far; v[i].pending marks the calls still
 * waiting. */
typedef void (*ws_ctl_wait_fn)(void *ctx, const struct ws_ctl_call *v,
                               size_t n, int64_t waited_ms);

/* Send request (one line, without its newline) to every endpoint of
 * v[0..n) at once and wait for their replies, at most wait_ms in all
 * (negative: no limit), calling waiting (may be NULL) with ctx while
 * they take long.  Each v[i] gets its own outcome: no endpoint at meta
 * ("no running walship replicate serves DB ..."), refused, closed
 * without an answer, no answer within wait_ms, or the reply.  A reply
 * is one line ended by a newline within WS_CTL_REPLY_MAX bytes: a longer
 * line, or one cut by the end of the connection, is WS_EIO, whatever it
 * starts with.  The server's EUSAGE is WS_EIO too: the request is the
 * client's own, so a server refusing it is another version of walship,
 * not a usage error of the command that asked.  Returns
 * the first failure's code, or WS_OK when every call got "ok". */
int ws_ctl_call_all(struct ws_ctl_call *v, size_t n, const char *request,
                    int64_t wait_ms, ws_ctl_wait_fn waiting, void *ctx);

/* `walship sync`: ask the endpoint of each database dbs[0..n) (a path
 * of the config file config; with config NULL, of the default one if
 * it exists, else a plain path with the default meta directory) for a
 * sync barrier with timeout_ms (0: none), all at once.  Prints "synced
 * <what the daemon said>" on out for each that succeeded, the failures
 * but the last on stderr ("walship: DB: ..."), and returns the last
 * failure in err (its code: EREMOTE for a replica that did not get
 * everything in time, ENOTFOUND for no running replicate). */
int ws_ctl_sync(const char *config, int expand_env, char *const *dbs,
                size_t n, int64_t timeout_ms, FILE *out, struct ws_err *err);

/* The error code named by name ("EREMOTE"), or -1. */
int ws_ctl_code(const char *name);

#endif
