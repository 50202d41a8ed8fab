/*
 * err.h: walship's one error convention.
 *
 * Every fallible function returns an int: WS_OK (0) on success or one of
 * the WS_E* codes below.  Where a message helps, the function also takes
 * a `struct ws_err *err` as its last argument and fills it on failure
 * with the code and a one-line, human-readable message that names the
 * thing at fault (a path, an object key, a config key and its line).
 * Callers that only propagate pass the same `err` on; the outermost
 * command prints err->msg once.
 *
 * The split that matters to callers is ws_is_retryable(): BUSY and REMOTE
 * are transient (back off and try again), everything else is not.
 * CORRUPT in the replication engine means "continuity cannot be proven";
 * the engine answers it with a new generation, restore with a hard error.
 *
 * A code says what went wrong, not where: "not found" or "i/o error" may
 * be about the database or about a replica.  The code that knows says
 * where with ws_err_at() (WS_AT_DB: the live database, its -wal, its
 * meta directory, a restore's output path; WS_AT_REPLICA: the replica
 * refused or could not be reached; WS_AT_CONFIG: the config file is
 * missing, unreadable or invalid).  ws_err_wrap keeps the place,
 * ws_err_set starts a new error and forgets it.
 *
 * The exit status of a command follows from the code and the place
 * (ws_exit_status), first match wins:
 *
 *   0  WS_EXIT_OK       success
 *   2  WS_EXIT_USAGE    USAGE: a bad command line
 *   5  WS_EXIT_REPLICA  REMOTE (the store cannot be reached: connection
 *                       refused, DNS, time-outs, 5xx after the retries),
 *                       or CONFIG at a replica (the store refuses the
 *                       credentials or the request: 403, a missing
 *                       bucket), or any other failure at a replica (a
 *                       replica directory missing or unreadable), CORRUPT
 *                       aside
 *   6  WS_EXIT_VERIFY   CORRUPT not at the database: a replica's object
 *                       fails its checks, the chain is broken, a restored
 *                       database fails integrity_check, a verification
 *                       finds a difference
 *   4  WS_EXIT_DB       SQLITE, or any other failure at the database
 *                       (missing, unreadable, not a database, held by
 *                       another walship, an output path that exists or
 *                       cannot be written, a directory others can write)
 *   3  WS_EXIT_CONFIG   CONFIG elsewhere (a key, a URL), or any failure
 *                       at the config file (missing, unreadable)
 *   1  WS_EXIT_FAIL     anything else (out of memory, no backups found,
 *                       ...)
 */
#ifndef WS_ERR_H
#define WS_ERR_H

#include <stddef.h>

#define WS_ERRORS(X)                                                        \
    X(OK, "ok")                                                             \
    X(ENOMEM, "out of memory")                                              \
    X(EIO, "i/o error")                                                     \
    X(ECORRUPT, "corrupt data")                                             \
    X(EBUSY, "busy")                                                        \
    X(EREMOTE, "remote error")                                              \
    X(ECONFIG, "configuration error")                                       \
    X(ENOTFOUND, "not found")                                               \
    X(EUSAGE, "usage error")                                                \
    X(EEXIST, "already exists")                                             \
    X(ESQLITE, "sqlite error")                                              \
    X(ERANGE, "out of range")

enum ws_code {
#define X(name, text) WS_##name,
    WS_ERRORS(X)
#undef X
    WS__MAX
};

#define WS_ERR_MSG 512

/* Where a failure lies (see above); WS_AT_NONE when not known. */
enum ws_at { WS_AT_NONE, WS_AT_DB, WS_AT_REPLICA, WS_AT_CONFIG };

struct ws_err {
    int code;              /* a WS_* code; WS_OK when nothing failed */
    int at;                /* a WS_AT_*: where the failure lies */
    char msg[WS_ERR_MSG];  /* one line, no trailing newline */
};

/* The exit statuses (see above). */
enum ws_exit {
    WS_EXIT_OK = 0,
    WS_EXIT_FAIL = 1,
    WS_EXIT_USAGE = 2,
    WS_EXIT_CONFIG = 3,
    WS_EXIT_DB = 4,
    WS_EXIT_REPLICA = 5,
    WS_EXIT_VERIFY = 6
};

/* The fixed text for a code ("i/o error"); never NULL. */
const char *ws_strerror(int code);

/* Record a failure in err (which may be NULL) and return code, so that a
 * failure is one line: return ws_err_set(err, WS_EIO, "open %s: %s", ...).
 * The message is truncated to fit; it never contains a control character
 * (C0, DEL or C1: line breaks become spaces, others '?'), whatever it
 * quotes. */
int ws_err_set(struct ws_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix an existing message: "ctx: old message".  Returns err->code. */
int ws_err_wrap(struct ws_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Make s[0..n) safe to print on one line: it may quote what a replica
 * or a server sent (a key, an S3 error message), which must not forge a
 * second line nor drive a terminal.  Line breaks become spaces, other
 * control characters '?': C0 (NUL included), DEL, and C1 in UTF-8 (C2 80
 * to C2 9F, both bytes; U+009B is a CSI to some terminals).  The length
 * does not change.  ws_err_set and ws_err_wrap apply it to every message,
 * the log to every text line. */
void ws_strip_controls(char *s, size_t n);

/* Say where the failure in err (which may be NULL) lies, unless that is
 * known already (the innermost code that knows is the most precise).
 * Returns err->code (WS_EIO when err is NULL), so that
 * `return ws_err_at(err, WS_AT_DB);` ends a failing path. */
int ws_err_at(struct ws_err *err, int at);

/* The exit status for a command that returned rc, with err (which may be
 * NULL) as its error: a WS_EXIT_*. */
int ws_exit_status(int rc, const struct ws_err *err);

/* Reset err to WS_OK with an empty message. */
void ws_err_clear(struct ws_err *err);

/* 1 for codes worth retrying after a back-off (BUSY, REMOTE). */
int ws_is_retryable(int code);

#endif
