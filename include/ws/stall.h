/*
 * stall.h: saying that replication cannot make progress, and for how long.
 *
 * Whenever walship cannot make progress on something (a database that
 * does not exist yet, a directory it cannot write, a disk that is full,
 * a replica that refuses uploads), it says so when the state begins,
 * again at a slowing interval while it lasts, and once when it ends, with
 * how long it lasted; and it waits for an event or a timer meanwhile,
 * never spinning.  A struct ws_stall tracks that state for one thing (a
 * database's sync, a replica's uploads, a database's spool) and decides
 * what to say; it neither logs nor sleeps, and the clock is a parameter,
 * so the schedule can be tested without waiting.
 *
 * The caller reports what it observes at each attempt:
 *   ws_stall_on   the attempt failed, for cause `kind` described by `what`
 *   ws_stall_off  the attempt worked
 * and gets back at most one note to log (BEGIN, AGAIN or END).
 *
 * The schedule.  BEGIN is said at the first failure; AGAIN at the first
 * failure at least 10 s after it, then 30 s, 1 min and 5 min after each
 * AGAIN, then every 15 min; END at the first success, with the time since
 * BEGIN.  A failure of another kind while the state lasts is said as a
 * BEGIN of the new cause (the state goes on; its END tells the whole
 * time).  Apart from an END, which is said at once, no line about one
 * thing comes less than WS_STALL_MIN_GAP_MS after the one before (twice
 * that after an END): a state that begins sooner is said at its next
 * failure past that gap, and one that ends before it was said ends
 * unsaid.  So a thing that keeps failing logs a handful of lines an
 * hour, and one that flaps about a line a second at most, however fast
 * the caller retries.
 *
 * ws_stall_backoff() is the one exponential back-off for those retries:
 * the caller waits for it (on a timer), never in a loop.
 */
#ifndef WS_STALL_H
#define WS_STALL_H

#include <stdint.h>

#include "ws/err.h"

#define WS_STALL_MIN_GAP_MS 1000

enum ws_stall_say {
    WS_STALL_QUIET, /* nothing to log */
    WS_STALL_BEGIN, /* the state began (or its cause changed) */
    WS_STALL_AGAIN, /* it still lasts */
    WS_STALL_END,   /* it is over */
};

struct ws_stall {
    int on;                /* the state lasts */
    int said;              /* ...and was said (BEGIN logged) */
    int kind;              /* the caller's code for its cause */
    int said_kind;         /* the cause the last BEGIN said */
    int64_t since_ms;      /* when it began */
    int spoke;             /* a line was ever said about the thing... */
    int64_t last_ms;       /* ...the last one at this time... */
    int ended;             /* ...and it was an END */
    int64_t next_ms;       /* no AGAIN before this */
    unsigned again;        /* AGAIN lines said since BEGIN */
    unsigned tries;        /* failures of this kind in a row (for
                            * ws_stall_backoff) */
    char what[WS_ERR_MSG]; /* the cause as last observed */
};

/* What to log: say (QUIET: nothing), for how long the state has lasted,
 * and its cause (for END: the last one observed). */
struct ws_stall_note {
    enum ws_stall_say say;
    int64_t lasted_ms;
    const char *what; /* points into the struct ws_stall */
};

/* An attempt failed at now_ms, for cause `kind`, described by what (one
 * line, copied).  Returns the note to log: BEGIN, AGAIN or QUIET. */
struct ws_stall_note ws_stall_on(struct ws_stall *s, int kind,
                                 const char *what, int64_t now_ms);

/* An attempt worked at now_ms.  Returns END when a state that was said
 * is over (and forgets it), else QUIET. */
struct ws_stall_note ws_stall_off(struct ws_stall *s, int64_t now_ms);

/* The delay before retry number tries (1 for the first retry): first_ms,
 * doubling at each try, at most max_ms. */
int64_t ws_stall_backoff(unsigned tries, int64_t first_ms, int64_t max_ms);

#endif
