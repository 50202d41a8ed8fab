/*
 * validate_int.h: the restore drills' rooms, private to them
 * (validate.h is the public side, with the model and why it raises no
 * false alarm).  Include it only from the files of the drills:
 *
 *   validate.c          the drill's steps on the daemon's loop: when one
 *                       is due or asked for, the probe handed to a sync,
 *                       the wait for the replicas to ship the position,
 *                       the result, the counters, the requester;
 *   validate_probe.c    the position read under SQLite's write lock and
 *                       the copy of the database's pages at it;
 *   validate_compare.c  the pages of two files, each replica restored to
 *                       the position and compared, the outcome's lines;
 *   validate_keep.c     the drill's directory, and the failed drills'
 *                       copies kept for diagnosis (at most
 *                       WS_VALIDATE_KEEP);
 *   verify.c            `walship verify`: a restore of each replica,
 *                       checked, with no live database to compare.
 *
 * One libuv loop (the daemon's) owns struct ws_validator; two other
 * threads touch it, one at a time and never with the loop in the same
 * fields: the sync's pool thread runs the probe (the probe fields, while
 * `inflight`), a pool thread copies the pages (state V_HASH), and the
 * restore thread restores and compares (state V_RESTORE, the reps'
 * outcomes), which it reports through `async`.  The loop reads what they
 * wrote only after their completion, which orders the accesses.
 * Functions one room calls in another are named ws_vali_.
 */
#ifndef WS_VALIDATE_INT_H
#define WS_VALIDATE_INT_H

#include <sqlite3.h>
#include <stdint.h>
#include <uv.h>

#include "ws/config.h"
#include "ws/digest.h"
#include "ws/err.h"
#include "ws/fs.h"
#include "ws/layout.h"
#include "ws/restore.h"
#include "ws/validate.h"

enum vstate {
    V_IDLE,      /* the timer waits for the next due drill */
    V_WANT,      /* the next sync takes a probe */
    V_HASH,      /* the live pages are copied on the pool */
    V_WAIT,      /* replicas have not all shipped P */
    V_RESTORE,   /* the restore thread runs */
};

/* What a restored file is, against the live copy when there is one. */
struct ws_vali_pages {
    uint8_t sha[WS_SHA256_LEN];
    uint64_t size;
    uint32_t ndiff;          /* pages that differ (or are on one side) */
    uint32_t first;          /* the first of them (1-based), 0: none */
};

struct vrep {
    int64_t next_ms;         /* next due drill (monotonic); INT64_MAX off */
    int sel;                 /* in the drill in progress */
    int rc;                  /* its outcome: WS_OK, or an error */
    enum ws_valid_result res;
    struct ws_err err;
    struct ws_restore_result rr;
    struct ws_vali_pages pg;
    char file[64];           /* its restored file, in the run dir */
};

struct ws_validator {
    uv_loop_t *loop;
    const struct ws_db_config *cfg;
    struct ws_validate_hooks h;
    uv_timer_t timer;
    uv_async_t async;
    uv_work_t work;
    uv_thread_t thread;
    int thread_on;
    enum vstate state;
    int stopping, closed;
    int64_t retry_ms;
    int64_t want_t0;         /* when the drill asked for a probe */
    int64_t wait_t0;
    struct vrep *reps;
    void (*done)(void *ctx, enum ws_valid_result r, const char *summary);
    void *done_ctx;
    /* A request made while a drill ran: the next drill, at once. */
    void (*q_done)(void *ctx, enum ws_valid_result r, const char *summary);
    void *q_ctx;
    int queued;

    /* The probe (set on the sync's thread, read after it on the loop). */
    int inflight;            /* handed to a sync not reported done yet */
    sqlite3 *conn;
    int probed;
    char perr[WS_ERR_MSG];
    char gen[WS_GEN_LEN + 1];
    uint32_t index;
    uint64_t offset;
    uint32_t page_size;
    int64_t probe_wall_ms;
    int64_t probe_us;        /* the probe's time under the write lock */

    /* The drill's directory and the live copy (the hash job). */
    struct ws_fs_dir vdir, run;
    int live_fd;
    int hrc;
    struct ws_err herr;
    uint8_t live_sha[WS_SHA256_LEN];
    uint32_t live_pages;

    struct ws_validation_stats st;
};

/* ---- validate_probe.c ---------------------------------------------------- */

/* The probe of db.h's ws_db_sync_opts (ctx: the validator), under the
 * write lock: begin the read transaction that sees P.  Sets probed, or
 * perr with why not. */
void ws_vali_probe(void *ctx, const char *gen, uint32_t index,
                   uint64_t size, uint32_t page_size);

/* End the probe's read and close its connection. */
void ws_vali_probe_end(struct ws_validator *v);

/* On a pool thread: every page as the probe's read sees it, into the
 * live copy (live_fd), hashed into live_sha; live_pages. */
int ws_vali_copy_live(struct ws_validator *v, struct ws_err *err);

/* ---- validate_compare.c -------------------------------------------------- */

/* Hash fd's pages (page size ps) into p and, when live >= 0, compare
 * them with live's; name is fd's, for errors. */
int ws_vali_pages_of(int fd, int live, uint32_t ps, const char *name,
                     struct ws_vali_pages *p, struct ws_err *err);

/* A digest in hex, and a position as "index:offset" (index in hex). */
void ws_vali_sha_hex(const uint8_t *sha, char out[2 * WS_SHA256_LEN + 1]);
void ws_vali_pos_str(uint32_t index, uint64_t offset, char *buf, size_t n);

/* The restore thread (arg: the validator): each selected replica with no
 * outcome yet restored to exactly P and compared with the live copy;
 * then it wakes the loop through `async`. */
void ws_vali_restore_thread(void *arg);

/* Log each selected replica's outcome; the drill's result, and a
 * one-line summary in sum. */
enum ws_valid_result ws_vali_report(struct ws_validator *v, char *sum,
                                    size_t n);

/* ---- validate_keep.c ----------------------------------------------------- */

/* The drill's directory, empty (<meta>/validation/run), with the live
 * copy created in it (live_fd). */
int ws_vali_run_open(struct ws_validator *v, struct ws_err *err);

/* Close the live copy and the drill's directory: kept as failed-<time>-N
 * when keep (and fewer than WS_VALIDATE_KEEP are kept), else removed. */
void ws_vali_run_close(struct ws_validator *v, int keep);

#endif
