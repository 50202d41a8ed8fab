/*
 * daemon.c: the replication loop (see daemon.h).
 */
#include "ws/daemon_int.h"
#include "ws/child.h"
#include "ws/daemon.h"
#include "ws/barrier.h"
#include "ws/control.h"
#include "ws/db.h"
#include "ws/digest.h"
#include "ws/fs.h"
#include "ws/health.h"
#include "ws/heartbeat.h"
#include "ws/httpd.h"
#include "ws/inspect.h"
#include "ws/log.h"
#include "ws/lz4f.h"
#include "ws/metrics.h"
#include "ws/replica.h"
#include "ws/retention.h"
#include "ws/rlock.h"
#include "ws/slow.h"
#include "ws/stall.h"
#include "ws/times.h"
#include "ws/validate.h"
#include "ws/wal.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKOFF_FIRST_MS 1000 /* a failed sync is tried again after this, */
#define WAIT_POLL_MS 1000     /* a missing database looked for this often
                               * when monitor-interval is 0 */
#define CONFIG_RETRIES 4 /* refusals (403, NoSuchBucket) before giving up */
/*
 * Change detection and pacing.  While the database is quiet, file events
 * (inotify) on it and its -wal wake walship; a change makes it dirty, and
 * the first one after a quiet period is copied at once, so that a lone
 * commit ships without delay.  The event also makes the database
 * "active": the watches are stopped and SQLite's wal-index header is read
 * every TICK_MS instead (observe(): one pread), which tells which commits
 * are published and when, and so gives every commit its time (db.h)
 * without a wake-up per write.  After TICKS_QUIET ticks without a new
 * commit the watches are put back, and one more copy picks up whatever
 * was written meanwhile.  Copies are paced SYNC_SPACING_MS apart (or
 * the shortest replica sync-interval, if shorter: a user who asks for
 * 100 ms gets copies that often), plus one right before each upload
 * (rep_ship), so that a segment holds all that was committed by then,
 * and one as soon as the backlog reaches the checkpoint threshold.  Each copy costs a trip through the thread pool
 * and a few system calls; a tick, one wake-up and one read.
 */
#define SYNC_SPACING_MS 250
#define TICK_MS 20
#define TICK_FIRST_MS 5 /* a lone commit is published within a few ms */
#define TICKS_QUIET 3
#define SEEN_MAX 1024 /* observations kept between two copies */
#define SEG_READ (64 * 1024) /* shadow bytes read at a time for a segment */
/* The poll fallback runs every monitor-interval while file events are
 * unavailable or may have missed a replaced file, and this rarely while
 * they work (it then only guards against lost events). */
#define WATCHED_POLL_MS 15000
#define TIMES_INTERVAL_MS 30000 /* commit times are shipped in batches, */
#define TIMES_QUIET_MS 2000     /* or once writes pause this long */
#define TIMES_MAX (1u << 20)    /* commit times kept for slow replicas */
#define SEAL_RETRY_MS 1000      /* a checkpoint for a deferred snapshot, */
#define SEAL_RETRY_MAX_MS 30000 /* asked again while it cannot seal */

static void db_step(struct dbrep *d);
static void rep_ship(struct rep *r);
static void on_signal(uv_signal_t *h, int signum);
static void barrier_synced(struct dbrep *d);
static void barrier_check(struct dbrep *d);
static void ctl_serve(struct dbrep *d, int new_gen);
static void once_check(struct daemon *dm);
static void once_synced(struct dbrep *d, const struct ws_db_state *s);

/* Something committed will not be shipped, because of e (at the database
 * or at a replica, when e does not say): the first cause gives the exit
 * status its kind. */
static void unshipped(struct daemon *dm, const struct ws_err *e, int at)
{
    if (!dm->failed) {
        dm->failure = *e;
        ws_err_at(&dm->failure, at);
    }
    dm->failed = 1;
}

static int64_t jitter(int64_t ms)
{
    uint32_t x = 0;

    if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x))
        x = 0;
    return ms / 2 + (int64_t)(x % (uint32_t)(ms / 2 + 1));
}

/* Something committed will not be in a replica when walship exits (the
 * final sync failed, gave up or timed out): the exit status says so, and
 * its message names the first database and replica it happened to. */
static void shutdown_lost(struct daemon *dm, const char *db,
                          const char *replica, int code, const char *why)
{
    if (dm->lost.code == WS_OK) {
        ws_err_set(&dm->lost, code != WS_OK ? code : WS_EREMOTE,
                   "shut down with unshipped changes: db=%s%s%s: %s", db,
                   replica ? " replica=" : "", replica ? replica : "", why);
        /* Where it lies gives the exit status its kind (err.h). */
        ws_err_at(&dm->lost, replica ? WS_AT_REPLICA : WS_AT_DB);
    }
    dm->failed = 1;
}

/* ---- database sync jobs ------------------------------------------------ */

static uint32_t keep_from(struct dbrep *d)
{
    uint32_t k = d->st.index;

    for (size_t i = 0; i < d->nreps; i++) {
        struct rep *r = &d->reps[i];
        if (r->state == R_FAILED)
            continue;
        if (r->inited && strcmp(r->gen, d->st.gen) == 0 && r->index < k)
            k = r->index;
        if (!r->inited)
            return 0;
    }
    return k;
}

/* Shadow WAL bytes r has not shipped yet (all of the shadow for a
 * replica that does not know its position). */
static int64_t rep_spool(const struct rep *r)
{
    const struct dbrep *d = r->d;
    int known = r->inited && r->has_snapshot &&
                strcmp(r->gen, d->st.gen) == 0;
    int64_t n = 0;

    for (int k = 0; k < d->st.nold; k++)
        if (!known || d->st.old[k].index >= r->index)
            n += (int64_t)d->st.old[k].size -
                 (known && d->st.old[k].index == r->index
                      ? (int64_t)r->offset
                      : 0);
    n += (int64_t)d->st.size -
         (known && r->index == d->st.index ? (int64_t)r->offset : 0);
    return n;
}

/* Shadow WAL bytes the slowest replica has not shipped yet. */
static int64_t spool_bytes(const struct dbrep *d)
{
    int64_t worst = 0;

    for (size_t i = 0; i < d->nreps; i++)
        if (d->reps[i].state != R_FAILED && rep_spool(&d->reps[i]) > worst)
            worst = rep_spool(&d->reps[i]);
    return worst;
}

/* ---- commit times ------------------------------------------------------ */

/* Drop records every replica has shipped, and the oldest ones when a
 * replica is so far behind that they would pile up without bound (its
 * segments then fall back to object times at restore). */
static void times_trim(struct dbrep *d)
{
    uint64_t low = d->tl_base + d->tl.n, drop;

    for (size_t i = 0; i < d->nreps; i++)
        if (d->reps[i].state != R_FAILED && d->reps[i].tsent < low)
            low = d->reps[i].tsent;
    if (d->tl.n > TIMES_MAX && low < d->tl_base + d->tl.n - TIMES_MAX / 2) {
        low = d->tl_base + d->tl.n - TIMES_MAX / 2;
        if (!d->tl_warned)
            ws_warn("commit times dropped db=%s: a replica is far behind; "
                    "its oldest unshipped segments will restore to the "
                    "second, not the transaction", d->cfg->path);
        d->tl_warned = 1;
    }
    drop = low - d->tl_base;
    if (drop == 0)
        return;
    memmove(d->tl.v, d->tl.v + drop, (d->tl.n - drop) * sizeof(*d->tl.v));
    d->tl.n -= drop;
    d->tl_base = low;
    for (size_t i = 0; i < d->nreps; i++)
        if (d->reps[i].tsent < low)
            d->reps[i].tsent = low;
}

static void times_add(struct dbrep *d, const struct ws_tpoint *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ws_tlist_add(&d->tl, &v[i]) != WS_OK) {
            ws_warn("commit times dropped db=%s: out of memory",
                    d->cfg->path);
            return;
        }
    times_trim(d);
}

/* Take the commits a sync observed. */
static void times_take(struct dbrep *d, const struct ws_db_state *s)
{
    if (strcmp(d->tl_gen, s->gen) != 0) {
        d->tl.n = 0;
        d->tl_base = 0;
        memcpy(d->tl_gen, s->gen, sizeof(d->tl_gen));
        for (size_t i = 0; i < d->nreps; i++)
            d->reps[i].tsent = 0;
    }
    times_add(d, s->points, s->npoints);
}

/* How many records r can ship now: only once r holds the segment that
 * ends there, so a record never points past the replica's data. */
static size_t times_ready(const struct rep *r)
{
    const struct dbrep *d = r->d;
    size_t k = r->tsent - d->tl_base, n = 0;

    if (!r->inited || strcmp(r->gen, d->tl_gen) != 0)
        return 0;
    for (; k < d->tl.n; k++, n++) {
        const struct ws_tpoint *p = &d->tl.v[k];
        if (!r->has_snapshot || p->index > r->index ||
            (p->index == r->index && p->offset > r->offset))
            break;
    }
    return n;
}

/* ---- wal-index observations ------------------------------------------ */

/* Append x.  When full, keep the later of every two: the commits the
 * dropped ones covered get a later time, never an earlier one. */
static void seen_add(struct seen_list *l, const struct ws_db_seen *x)
{
    if (l->n == SEEN_MAX) {
        for (size_t i = 0; i < l->n / 2; i++)
            l->v[i] = l->v[2 * i + 1];
        l->n /= 2;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct ws_db_seen *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return; /* those commits keep the time of their copy */
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *x;
}

static uint64_t shadow_frames(const struct dbrep *d)
{
    if (!d->st.have_hdr || d->st.size <= WS_WAL_HDR_SIZE)
        return 0;
    return (d->st.size - WS_WAL_HDR_SIZE) / ws_wal_frame_size(d->st.page_size);
}

/* Read SQLite's wal-index header and keep it when it shows new commits.
 * 1 when it does, 0 when nothing changed, -1 when it cannot be read. */
static int observe(struct dbrep *d)
{
    struct ws_walidx x;
    struct ws_db_seen v;
    const struct ws_db_seen *l = &d->last_seen;

    if (!d->st.ready || ws_db_peek(d->db, &x) != WS_OK)
        return -1;
    v.time_us = ws_wall_us(); /* after the read, as db.h requires */
    v.salt1 = x.salt1;
    v.salt2 = x.salt2;
    v.mx_frame = x.mx_frame;
    if (v.mx_frame == l->mx_frame && v.salt1 == l->salt1 &&
        v.salt2 == l->salt2)
        return 0;
    d->last_seen = v;
    if (v.mx_frame == 0)
        return 0; /* a restarted WAL: no commit yet */
    seen_add(&d->seen, &v);
    d->dirty = 1;
    /* A backlog worth a checkpoint is copied now, not at the next pace:
     * of this WAL, the frames past the shadow; of a restarted one, all. */
    if (v.mx_frame >= (uint64_t)d->cfg->min_checkpoint_page_count +
                          (v.salt1 == d->st.salt1 && v.salt2 == d->st.salt2
                               ? shadow_frames(d)
                               : 0))
        d->next_sync_ms = 0;
    return 1;
}

/* After a sync: forget the observations it has used up, that is those of
 * an earlier WAL and those the shadow now covers.  What is left is newer
 * than the shadow (or of the next WAL) and goes to the next sync. */
static void seen_trim(struct dbrep *d, struct seen_list *l)
{
    uint64_t fs = ws_wal_frame_size(d->st.page_size);
    size_t f = 0, i;

#define CUR(v) ((v).salt1 == d->st.salt1 && (v).salt2 == d->st.salt2)
    if (!d->st.have_hdr)
        return;
    while (f < l->n && !CUR(l->v[f]))
        f++;
    if (f == l->n)
        return; /* none of this WAL: they may be of the next one */
    for (i = f; i < l->n && CUR(l->v[i]) &&
                WS_WAL_HDR_SIZE + (uint64_t)l->v[i].mx_frame * fs <=
                    d->st.size;
         i++)
        ;
#undef CUR
    memmove(l->v, l->v + i, (l->n - i) * sizeof(*l->v));
    l->n -= i;
}

/* The sync in flight is done with the observations lent to it: keep what
 * it did not use, followed by those made meanwhile. */
static void seen_return(struct dbrep *d)
{
    struct seen_list t;

    seen_trim(d, &d->seen_job);
    for (size_t i = 0; i < d->seen.n; i++)
        seen_add(&d->seen_job, &d->seen.v[i]);
    t = d->seen;
    d->seen = d->seen_job;
    d->seen_job = t;
    d->seen_job.n = 0;
}

static void on_sync_work(uv_work_t *w)
{
    struct dbrep *d = w->data;

    ws_err_clear(&d->job_err);
    d->job_rc = ws_db_sync(d->db, &d->job_opts, &d->job_st, &d->job_err);
}

static void arm_events(struct dbrep *d);
static void poll_pace(struct dbrep *d);

/* ---- saying when nothing moves ------------------------------------------ */

/* Causes (stall.h) of a database's stalls.  A replica's cause is the job
 * that failed (J_*): the state ends when a job of that kind works (a
 * snapshot's, not the small record before it), or any job after a
 * failed listing or download. */
enum { K_WAIT, K_SYNC, K_SPOOL };

static void fmt_ms(int64_t ms, char *buf, size_t n)
{
    ws_duration_format(ws_lag_truncate(ms * 1000000), buf, n);
}

/* Log what a note (stall.h) says, at level for BEGIN and AGAIN, with
 * tail (how walship waits) after the cause; END is INFO. */
static void stall_log(struct ws_stall_note n, enum ws_log_level level,
                      const char *tail)
{
    char lasted[32];

    fmt_ms(n.lasted_ms, lasted, sizeof(lasted));
    if (n.say == WS_STALL_BEGIN)
        ws_log(level, "stalled: %s%s", n.what, tail);
    else if (n.say == WS_STALL_AGAIN)
        ws_log(level, "still stalled after %s: %s%s", lasted, n.what, tail);
    else if (n.say == WS_STALL_END)
        ws_info("no longer stalled after %s: %s", lasted, n.what);
}

/* The thing s tracks failed for cause kind (what, printf-style): say so
 * when due, with the wait that follows (ms), and return that wait. */
static int64_t stall_on(struct ws_stall *s, int kind, enum ws_log_level level,
                        const char *prefix, int64_t ms, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int64_t stall_on(struct ws_stall *s, int kind, enum ws_log_level level,
                        const char *prefix, int64_t ms, const char *fmt, ...)
{
    char what[WS_ERR_MSG], tail[96], dur[32];
    va_list ap;

    va_start(ap, fmt);
    ws_log_vformat(what, sizeof(what), fmt, ap);
    va_end(ap);
    fmt_ms(ms, dur, sizeof(dur));
    snprintf(tail, sizeof(tail), " %sretry_in=%s", prefix, dur);
    stall_log(ws_stall_on(s, kind, what, ws_now_ms()), level,
              ms >= 0 ? tail : "");
    return ms;
}

static void stall_off(struct ws_stall *s)
{
    stall_log(ws_stall_off(s, ws_now_ms()), WS_LOG_INFO, "");
}

/* After a sync: the database is replicating, awaited (it does not exist,
 * or is empty), or failing; when the next sync may start. */
static void sync_outcome(struct dbrep *d, const struct ws_db_state *s)
{
    int64_t now = ws_now_ms(), poll = d->cfg->monitor_interval_ms;
    int rc = d->job_rc;

    if (rc == WS_ECORRUPT && d->corrupt_run++ == 0) {
        /* The next sync starts a new generation, at once. */
        ws_warn("sync: continuity lost, starting a new generation db=%s "
                "reason=\"%s\"", d->cfg->path, d->job_err.msg);
        d->dirty = 1;
        d->next_sync_ms = 0;
        return;
    }
    if (rc == WS_ECONFIG) {
        /* Not transient (another walship holds the database, ...): stop.
         * The command prints the first such error as its exit reason. */
        if (d->dm->fatal.code != WS_OK)
            ws_error("sync error db=%s error=\"%s\"", d->cfg->path,
                     d->job_err.msg);
        else
            d->dm->fatal = d->job_err;
        unshipped(d->dm, &d->job_err, WS_AT_DB);
        d->final_synced = 1;
        return;
    }
    if (rc == WS_OK)
        d->corrupt_run = 0;
    if (d->stopping)
        return;
    if (rc == WS_OK && s->wait[0]) {
        /* Looked for again at the poll (a file that appears has no
         * event of its own to wake walship). */
        d->next_sync_ms = now + stall_on(&d->stall, K_WAIT, WS_LOG_WARN, "",
                                         poll > 0 ? poll : WAIT_POLL_MS,
                                         "waiting for the database db=%s "
                                         "reason=\"%s\"",
                                         d->cfg->path, s->wait);
    } else if (rc != WS_OK) {
        /* The first retry comes after BACKOFF_FIRST_MS (a sync that
         * fails at once would otherwise run back to back), then slower. */
        int64_t ms = ws_stall_backoff(d->stall.tries + 1, BACKOFF_FIRST_MS,
                                      BACKOFF_MAX_MS);
        d->dirty = 1;
        d->next_sync_ms = now + stall_on(&d->stall, K_SYNC, WS_LOG_ERROR, "",
                                         ms, "sync error db=%s error=\"%s\"",
                                         d->cfg->path, d->job_err.msg);
    } else if (s->ready) {
        stall_off(&d->stall);
    }
}

/* The database at the path is another file now (or none): forget what
 * was watched and observed of the old one; events go back on once the
 * new one replicates. */
static void follow_replaced(struct dbrep *d)
{
    ws_warn("database replaced db=%s: the file at the path is not the one "
            "walship had open (deleted, or another file put there); "
            "following the new file, in a new generation", d->cfg->path);
    ws_db_peek_reset(d->db);
    memset(&d->last_seen, 0, sizeof(d->last_seen));
    uv_fs_event_stop(&d->ev_wal);
    uv_fs_event_stop(&d->ev_db);
    uv_timer_stop(&d->tick);
    d->active = 0;
    d->events_on = 0;
    d->watch_ok = 0;
    poll_pace(d);
}

static void ckpt_arm(struct dbrep *d, int64_t due_ms);

static void on_sync_done(uv_work_t *w, int status)
{
    struct dbrep *d = w->data;
    struct ws_db_state *s = &d->job_st;

    (void)status;
    d->syncing = 0;
    d->held = d->job_opts.hold;
    if (s->exists)
        d->st = *s;
    else
        d->st.ready = 0;
    seen_return(d);
    if (s->replaced)
        follow_replaced(d);
    if (s->new_gen)
        ws_info("sync: new generation db=%s generation=%s reason=\"%s\"",
                d->cfg->path, s->gen, s->reason);
    if (s->mode_was[0])
        ws_info("switched the database back to WAL mode db=%s "
                "journal_mode=%s: it was changed while walship was not "
                "running", d->cfg->path, s->mode_was);
    if (s->resumed)
        ws_info("sync: continuing the restored position db=%s "
                "generation=%s index=%08x (the database is unchanged since "
                "the restore)", d->cfg->path, s->gen, s->index);
    if (s->checkpoint)
        ws_debug("checkpoint db=%s mode=%s", d->cfg->path, s->checkpoint);
    if (s->copied > 0 || s->new_gen)
        d->next_sync_ms = ws_now_ms() + d->spacing_ms;
    sync_outcome(d, s);
    once_synced(d, s);
    if (s->exists)
        times_take(d, s);
    d->syncs++;
    ws_metrics_sync(&d->m, d->job_rc == WS_OK, s->checkpoint, s->ckpt_us,
                    s->lock_us);
    if (s->copied > 0)
        d->last_copy_ms = ws_now_ms();
    ckpt_arm(d, d->job_rc == WS_OK ? s->ckpt_due_ms : -1);
    if (d->stopping && d->job_final) {
        /* The last sync is tried once; what it could not copy is lost to
         * the replica, and the exit status says so.  A sync that started
         * before the signal is not it: a commit may have come after its
         * copy (db_step starts the last one now). */
        d->final_synced = 1;
        if (d->job_rc != WS_OK && s->exists)
            shutdown_lost(d->dm, d->cfg->path, NULL, d->job_err.code,
                          d->job_err.msg);
    }
    if (d->st.ready && !d->events_on && !d->stopping)
        arm_events(d);
    if (d->st.ready && !d->stopping)
        ctl_serve(d, s->new_gen);
    barrier_synced(d);
    for (size_t i = 0; i < d->nreps; i++)
        rep_ship(&d->reps[i]);
    ws_validator_synced(d->val);
    if (d->dm->fatal.code != WS_OK && !d->dm->stopping)
        on_signal(&d->dm->sigterm, 0);
    else
        db_step(d);
}

static void start_sync(struct dbrep *d)
{
    struct seen_list t = d->seen_job;

    d->syncing = 1;
    d->dirty = 0;
    d->started++;
    d->job_final = d->stopping;
    d->sync_start_ms = ws_now_ms();
    /* Lend the observations: new ones go to the other list meanwhile. */
    d->seen_job = d->seen;
    d->seen = t;
    d->seen.n = 0;
    d->job_opts.seen = d->seen_job.v;
    d->job_opts.nseen = d->seen_job.n;
    d->job_opts.checkpoint = !d->stopping;
    d->job_opts.force_checkpoint = d->seal_wanted && !d->stopping;
    d->seal_wanted = 0;
    d->job_opts.keep_from = keep_from(d);
    d->job_opts.new_gen = d->new_gen;
    d->new_gen = NULL;
    d->job_opts.hold = 0;
    ws_validator_sync_opts(d->val, &d->job_opts);
    if (d->cfg->max_spool_bytes > 0 && !d->stopping &&
        spool_bytes(d) > d->cfg->max_spool_bytes) {
        /* The replicas are far behind: stop growing the local spool and
         * leave new frames in the application's -wal, where the read
         * lock keeps them.  Nothing is dropped; say so loudly. */
        d->job_opts.hold = 1;
        stall_on(&d->spool, K_SPOOL, WS_LOG_ERROR, "", -1,
                 "spool limit reached db=%s spool=%lld max-spool-size=%lld: "
                 "holding new frames in the database's -wal (it will grow) "
                 "until the replicas catch up",
                 d->cfg->path, (long long)spool_bytes(d),
                 (long long)d->cfg->max_spool_bytes);
    } else if (!d->stopping) {
        stall_off(&d->spool);
    }
    d->work.data = d;
    if (uv_queue_work(&d->dm->loop, &d->work, on_sync_work,
                      on_sync_done) != 0) {
        d->syncing = 0;
        d->dirty = 1;
        seen_return(d);
        ws_validator_synced(d->val);
        d->next_sync_ms = ws_now_ms() +
                          stall_on(&d->stall, K_SYNC, WS_LOG_ERROR, "",
                                   BACKOFF_FIRST_MS, "sync error db=%s "
                                   "error=\"cannot queue work\"",
                                   d->cfg->path);
        db_step(d);
    }
}

static int db_caught_up(struct dbrep *d);

static void check_done(struct daemon *dm);

static void on_kick(uv_timer_t *t)
{
    db_step(t->data);
}

/* A checkpoint the database asked for once writes paused (ws_db_state's
 * ckpt_due_ms): the sync that takes it. */
static void on_ckpt(uv_timer_t *t)
{
    struct dbrep *d = t->data;

    d->dirty = 1;
    db_step(d);
}

/* Come back for the checkpoint due at due_ms (-1: none due). */
static void ckpt_arm(struct dbrep *d, int64_t due_ms)
{
    int64_t now = ws_now_ms();

    if (due_ms < 0 || d->stopping) {
        uv_timer_stop(&d->ckpt);
        return;
    }
    uv_timer_start(&d->ckpt, on_ckpt,
                   (uint64_t)(due_ms > now ? due_ms - now : 0), 0);
}

static void db_step(struct dbrep *d)
{
    int64_t now;

    once_check(d->dm);
    if (d->syncing || d->snapshotting || d->done)
        return;
    if (d->stopping) {
        if (!d->final_synced) {
            start_sync(d);
            return;
        }
        if (db_caught_up(d)) {
            barrier_check(d);
            d->done = 1;
            check_done(d->dm);
        }
        return;
    }
    if (!d->dirty && d->st.ready)
        return;
    /* Not ready (the database is awaited, or syncs fail): the next try
     * is at next_sync_ms too, never at once (sync_outcome). */
    now = ws_now_ms();
    if (now >= d->next_sync_ms) {
        start_sync(d);
        return;
    }
    if (!uv_is_active((uv_handle_t *)&d->kick))
        uv_timer_start(&d->kick, on_kick, (uint64_t)(d->next_sync_ms - now),
                       0);
}

/* ---- change detection -------------------------------------------------- */

static int64_t mtime_ns(const struct stat *sb)
{
    return (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
}

static int same_file(const struct stat *sb, dev_t dev, ino_t ino)
{
    return sb->st_dev == dev && sb->st_ino == ino;
}

static void on_poll(uv_timer_t *t);

/* Poll every monitor-interval unless both watches are known good. */
static void poll_pace(struct dbrep *d)
{
    uint64_t ms = (uint64_t)d->cfg->monitor_interval_ms;

    if (ms == 0 || d->stopping)
        return; /* monitor-interval: 0 is events only */
    if (d->watch_ok && ms < WATCHED_POLL_MS)
        ms = WATCHED_POLL_MS;
    if (ms == d->poll_ms)
        return;
    d->poll_ms = ms;
    /* On a multiple of the period of the loop's clock: every database's
     * poll then runs in the same wake-up. */
    uv_timer_start(&d->poll, on_poll, ms - uv_now(&d->dm->loop) % ms, ms);
}

static void arm_events(struct dbrep *d);

/* 1 when the -wal was written since the last call (its mtime or size
 * moved): a commit may be on its way to the wal-index (SQLite syncs the
 * -wal before it publishes). */
static int wal_moved(struct dbrep *d)
{
    struct stat sb;

    if (stat(d->wal_path, &sb) != 0 ||
        (mtime_ns(&sb) == d->tick_mtime_ns && sb.st_size == d->tick_size))
        return 0;
    d->tick_mtime_ns = mtime_ns(&sb);
    d->tick_size = sb.st_size;
    return 1;
}

static void on_tick(uv_timer_t *t)
{
    struct dbrep *d = t->data;
    int r = observe(d);

    if (r > 0 || (r == 0 && wal_moved(d)))
        d->quiet_ticks = 0;
    if (r >= 0 && d->quiet_ticks++ < TICKS_QUIET) {
        db_step(d);
        return;
    }
    /* Quiet, or the wal-index cannot be read: back to file events.  What
     * was written between the last tick and the watch has no event, and
     * a commit seen by no tick has no time yet: one more copy, now. */
    uv_timer_stop(&d->tick);
    d->active = 0;
    arm_events(d);
    d->next_sync_ms = 0;
    db_step(d);
}

static void on_fs_event(uv_fs_event_t *h, const char *name, int events,
                        int status)
{
    struct dbrep *d = h->data;

    (void)name;
    if (status < 0 || (events & UV_RENAME)) {
        /* The file may have gone: poll until arm_events puts the watch
         * back on whatever is at the path. */
        d->watch_ok = 0;
        poll_pace(d);
    }
    d->dirty = 1;
    if (h == &d->ev_wal && !d->stopping && observe(d) >= 0) {
        /* Writes are coming: follow them on the wal-index, not on
         * events (the top of this section). */
        uv_fs_event_stop(&d->ev_wal);
        uv_fs_event_stop(&d->ev_db);
        d->active = 1;
        d->quiet_ticks = 0;
        wal_moved(d);
        uv_timer_start(&d->tick, on_tick, TICK_FIRST_MS, TICK_MS);
    }
    db_step(d);
}

/* Watch one file, stat'ed just before (if it is replaced in between,
 * the inodes differ at the next poll and the watch is put on again); 1
 * when the watch is on. */
static int watch(uv_fs_event_t *h, const char *path)
{
    uv_fs_event_stop(h);
    /* Test hook: file events unavailable, as on some network file
     * systems or past the inotify limits (tests/e2e/35). */
    if (getenv("WALSHIP_TEST_NO_EVENTS") != NULL)
        return 0;
    if (uv_fs_event_start(h, on_fs_event, path, 0) != 0) {
        ws_debug("fs events unavailable path=%s", path);
        return 0;
    }
    return 1;
}

/* (Re)start both watches, and remember which files they are on (the
 * poll compares).  A change made while they were off had no event: once
 * they are on, the database is dirty and the poll compares with the
 * files as they are now.  Otherwise the poll goes on as it was, every
 * monitor-interval. */
static void arm_events(struct dbrep *d)
{
    struct stat db, wal;
    int have = stat(d->cfg->path, &db) == 0 && stat(d->wal_path, &wal) == 0;

    d->events_on = 1;
    d->watch_ok = 0;
    if (have) {
        d->watch_ok = watch(&d->ev_db, d->cfg->path);
        d->watch_ok &= watch(&d->ev_wal, d->wal_path);
        d->db_dev = db.st_dev;
        d->db_ino = db.st_ino;
        d->wal_dev = wal.st_dev;
        d->wal_ino = wal.st_ino;
        d->wal_mtime_ns = mtime_ns(&wal);
        d->wal_size = wal.st_size;
    } else {
        uv_fs_event_stop(&d->ev_db);
        uv_fs_event_stop(&d->ev_wal);
    }
    if (d->watch_ok)
        d->dirty = 1;
    poll_pace(d);
}

/*
 * The poll fallback: a cheap stat of the -wal and of the database.  A
 * -wal that changed makes the database dirty; so does a file that is not
 * the one followed any more (deleted, or another one put there): the
 * sync then follows the new one (ws_db_sync), and the watches go on it.
 */
static void on_poll(uv_timer_t *t)
{
    struct dbrep *d = t->data;
    struct stat sb, db;
    int have_wal = stat(d->wal_path, &sb) == 0;
    int moved = !have_wal || stat(d->cfg->path, &db) != 0 ||
                !same_file(&sb, d->wal_dev, d->wal_ino) ||
                !same_file(&db, d->db_dev, d->db_ino);

    if (have_wal) {
        if (mtime_ns(&sb) != d->wal_mtime_ns || sb.st_size != d->wal_size)
            d->dirty = 1;
        d->wal_mtime_ns = mtime_ns(&sb);
        d->wal_size = sb.st_size;
    }
    /* (Which files were followed is known once events were armed.) */
    if (d->events_on && d->st.ready && moved)
        d->dirty = 1;
    if (d->events_on && !d->active && !d->stopping &&
        (!d->watch_ok || moved))
        arm_events(d);
    if (!d->st.ready)
        d->dirty = 1;
    db_step(d);
}

/* ---- replicas ---------------------------------------------------------- */

static void on_rep_timer(uv_timer_t *t)
{
    struct rep *r = t->data;

    if (r->state == R_BACKOFF)
        r->state = R_IDLE;
    rep_ship(r);
}

/* Call rep_ship again in ms at the latest. */
static void rep_wake(struct rep *r, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    if (uv_is_active((uv_handle_t *)&r->timer) &&
        (int64_t)uv_timer_get_due_in(&r->timer) <= ms)
        return;
    uv_timer_start(&r->timer, on_rep_timer, (uint64_t)ms, 0);
}

/*
 * The replica no longer holds the generation being written to it (its
 * directory or its objects were deleted): the segments that follow would
 * have no snapshot under them.  Start a new generation, which begins with
 * a snapshot, unless one is on its way already; said once.  During
 * shutdown, the replica fails instead (R_FAILED).
 */
static void rep_lost(struct rep *r, const char *why)
{
    struct dbrep *d = r->d;

    r->known_gen[0] = '\0';
    if (d->stopping) {
        /* Too late for a new generation: what is left is not shipped. */
        ws_error("replica lost its history db=%s replica=%s generation=%s "
                 "error=\"%s\": not shipping the rest", d->cfg->path,
                 r->cfg->name, r->gen, why);
        r->state = R_FAILED;
        shutdown_lost(d->dm, d->cfg->path, r->cfg->name, WS_EIO, why);
        return;
    }
    if (strcmp(r->gen, d->st.gen) != 0 || d->new_gen != NULL ||
        (d->syncing && d->job_opts.new_gen != NULL))
        return;
    ws_warn("replica lost its history db=%s replica=%s generation=%s "
            "error=\"%s\": starting a new generation", d->cfg->path,
            r->cfg->name, r->gen, why);
    snprintf(d->new_gen_buf, sizeof(d->new_gen_buf),
             "replica %s lost its history", r->cfg->name);
    d->new_gen = d->new_gen_buf;
    d->dirty = 1;
    d->next_sync_ms = 0;
}

/* A listing (g: the current generation in it, or NULL) shows whether the
 * replica still holds the snapshot it was seen to hold in gen, the
 * current generation.  1 when it does not (rep_lost). */
static int rep_gone(struct rep *r, const char *gen,
                    const struct ws_geninfo *g)
{
    char why[128];

    if (gen[0] == '\0' || strcmp(gen, r->d->st.gen) != 0 ||
        (g != NULL && g->nsnaps > 0))
        return 0;
    snprintf(why, sizeof(why), "generations/%s %s", gen,
             g == NULL ? "is gone" : "has no snapshot any more");
    rep_lost(r, why);
    return 1;
}

static void rep_fail(struct rep *r, const char *what)
{
    struct dbrep *d = r->d;
    int64_t delay;
    int fatal;

    if (r->req.type == WS_REQ_PUT && r->req.gen_must_exist &&
        r->req.rc == WS_ENOTFOUND) {
        /* Not a failure of the replica: of its history. */
        r->state = R_IDLE;
        rep_lost(r, r->req.err.msg);
        return;
    }
    r->failures++;
    r->m.failures++;
    r->inited = 0;
    r->config_failures = r->req.err.code == WS_ECONFIG
                             ? r->config_failures + 1
                             : 0;
    /* Credentials or settings the store keeps refusing: stop, rather
     * than retry forever while nothing is replicated.  The command prints
     * the first such error as its exit reason.  Under -exec, never: a
     * backup problem must not become an outage of the application (with
     * a restart policy, a crash loop), so walship keeps it running, says
     * the refusal at the back-off's slowing pace (and /healthz, the
     * metrics), and retries, so that a fixed credential or a renewed
     * token heals without a restart; the final sync's failure, when the
     * application exits, is the exit status. */
    fatal = r->config_failures >= CONFIG_RETRIES && !d->dm->stopping;
    if (fatal && d->dm->has_child) {
        fatal = 0;
        if (r->config_failures == CONFIG_RETRIES)
            ws_error("%s error db=%s replica=%s error=\"%s\": the replica "
                     "keeps refusing; the application keeps running and "
                     "walship keeps retrying (fix the credentials or the "
                     "replica's settings)", what, d->cfg->path, r->cfg->name,
                     r->req.err.msg);
    }
    if (fatal) {
        if (d->dm->fatal.code != WS_OK)
            ws_error("%s error db=%s replica=%s error=\"%s\"", what,
                     d->cfg->path, r->cfg->name, r->req.err.msg);
        r->state = R_FAILED;
        unshipped(d->dm, &r->req.err, WS_AT_REPLICA);
        if (d->dm->fatal.code == WS_OK) {
            d->dm->fatal = r->req.err;
            ws_err_wrap(&d->dm->fatal, "%s error db=%s replica=%s", what,
                        d->cfg->path, r->cfg->name);
        }
        on_signal(&d->dm->sigterm, 0);
        return;
    }
    /* At shutdown (and in -once) a failing upload is retried a few
     * times, within shutdown-sync-timeout; with a timeout of 0, as in
     * Litestream, not at all. */
    if ((d->stopping || d->dm->opts.once) &&
        (r->failures >= STOP_RETRIES ||
         (d->stopping && d->dm->cfg->shutdown_sync_timeout_ms == 0))) {
        ws_error("%s error db=%s replica=%s error=\"%s\": giving up",
                 what, d->cfg->path, r->cfg->name, r->req.err.msg);
        r->state = R_FAILED;
        if (!d->dm->opts.once) {
            shutdown_lost(d->dm, d->cfg->path, r->cfg->name,
                          r->req.err.code, r->req.err.msg);
        } else {
            unshipped(d->dm, &r->req.err, WS_AT_REPLICA);
            if (d->dm->fatal.code == WS_OK) {
                d->dm->fatal = r->req.err;
                ws_err_at(&d->dm->fatal, WS_AT_REPLICA);
                ws_err_wrap(&d->dm->fatal, "-once: replica %s of %s does "
                            "not hold everything committed before the "
                            "start (%s failed %d times)", r->cfg->name,
                            d->cfg->path, what, r->failures);
            }
        }
        db_step(d);
        return;
    }
    /* The back-off grows with the failures of this kind of job in a row
     * (a snapshot's record may go up every time while the snapshot
     * fails). */
    delay = jitter(ws_stall_backoff(r->stall.on && r->stall.kind == r->job
                                        ? r->stall.tries + 1
                                        : 1,
                                    2000, BACKOFF_MAX_MS));
    stall_on(&r->stall, r->job, WS_LOG_ERROR, "backing off ", delay,
             "%s error db=%s replica=%s error=\"%s\"", what, d->cfg->path,
             r->cfg->name, r->req.err.msg);
    r->state = R_BACKOFF;
    uv_timer_start(&r->timer, on_rep_timer, (uint64_t)delay, 0);
}

/* Where the shadow holds committed bytes for index i: its final size
 * for a closed index, the current size for the current one; 0 when it
 * is not on disk. */
static int shadow_end(const struct dbrep *d, uint32_t i, uint64_t *end)
{
    if (d->st.have_hdr && i == d->st.index) {
        *end = d->st.size;
        return 1;
    }
    for (int k = 0; k < d->st.nold; k++)
        if (d->st.old[k].index == i) {
            *end = d->st.old[k].size;
            return 1;
        }
    return 0;
}

/* Advance over finished indexes; 1 if r has bytes to ship. */
static int rep_behind(struct rep *r)
{
    struct dbrep *d = r->d;
    uint64_t end;

    for (;;) {
        if (!shadow_end(d, r->index, &end)) {
            /* The shadow no longer holds where this replica stands: only
             * a new snapshot can bridge the gap. */
            if (r->index < d->st.index)
                r->has_snapshot = 0;
            return 0;
        }
        if (r->offset < end)
            return 1;
        if (r->index >= d->st.index)
            return 0;
        r->index++;
        r->offset = 0;
    }
}

/* 1 when r holds everything the last sync copied (or has failed). */
static int rep_caught_up(struct rep *r)
{
    struct dbrep *d = r->d;

    return r->state == R_FAILED ||
           !(r->state != R_IDLE || r->ret_busy || !r->inited ||
             !r->has_snapshot || r->dig_gen[0] != '\0' ||
             strcmp(r->gen, d->st.gen) != 0 || rep_behind(r) ||
             times_ready(r) > 0);
}

static int db_caught_up(struct dbrep *d)
{
    if (!d->st.ready)
        return 1;
    for (size_t i = 0; i < d->nreps; i++)
        if (!rep_caught_up(&d->reps[i]))
            return 0;
    return 1;
}

static void rep_after(struct rep *r)
{
    r->state = R_IDLE;
    if (r->inited) {
        r->m_has = r->has_snapshot;
        memcpy(r->m_gen, r->gen, sizeof(r->m_gen));
        r->m_index = r->index;
        r->m_offset = r->offset;
    }
    if (r->job == r->stall.kind || r->stall.kind == J_LIST ||
        r->stall.kind == J_GET)
        stall_off(&r->stall);
    if (r->inited && r->has_snapshot)
        memcpy(r->known_gen, r->gen, sizeof(r->known_gen));
    /* Frames held back by the spool limit are copied only by a sync; the
     * -wal may not change again, so do not wait for an event. */
    if (r->d->held)
        r->d->dirty = 1;
    barrier_check(r->d);
    rep_ship(r);
    db_step(r->d);
}

/* -- snapshot -- */

/* The snapshot's stored bytes are hashed as they go to the replica, for
 * its digest record (daemon.h). */
struct hashing {
    struct rep *r;
    ws_sink_fn sink;
    void *ctx;
};

static int hash_sink(void *ctx, const void *buf, size_t len,
                     struct ws_err *err)
{
    struct hashing *h = ctx;

    ws_sha256_update(&h->r->snap_sha, buf, len);
    return h->sink(h->ctx, buf, len, err);
}

static int produce_snapshot(void *ctx, ws_sink_fn sink, void *sctx,
                            struct ws_err *err)
{
    struct rep *r = ctx;
    struct hashing h = {r, sink, sctx};
    int rc;

    ws_sha256_init(&r->snap_sha);
    rc = ws_db_snapshot(r->d->db, r->job_gen, r->job_index, r->job_start,
                        hash_sink, &h, err);
    if (rc == WS_OK)
        ws_sha256_final(&r->snap_sha, r->snap_digest);
    return rc;
}

static void on_put_done(struct ws_req *req);

/* The request in flight has had no answer for a while. */
static void on_slow(struct ws_slow *s, const char *waited)
{
    struct rep *r = s->data;

    ws_warn("replica not answering db=%s replica=%s request=\"%s %s\" "
            "waiting=%s: the server or the network may hang; the request "
            "goes on and is retried as usual",
            r->d->cfg->path, r->cfg->name, ws_req_type_name(r->req.type),
            r->req.key, waited);
}

static void on_req_done(struct ws_req *req)
{
    struct rep *r = req->data;
    char after[32];

    ws_metrics_req(&r->m, req);
    if (ws_slow_stop(&r->slow, after, sizeof(after)))
        ws_info("replica answered db=%s replica=%s request=\"%s %s\" "
                "after=%s", r->d->cfg->path, r->cfg->name,
                ws_req_type_name(req->type), req->key, after);
    r->job_cb(req);
}

/* Prepare r's request for one job; the caller fills the key and the
 * type's fields, then submits. */
static struct ws_req *rep_req(struct rep *r, int job, enum ws_reqtype type,
                              void (*cb)(struct ws_req *))
{
    r->job = job;
    memset(&r->req, 0, sizeof(r->req));
    r->req.type = type;
    r->req.cb = on_req_done;
    r->job_cb = cb;
    ws_slow_start(&r->slow);
    r->req.data = r;
    r->req.produce_ctx = r;
    r->req.sink_ctx = r;
    /* Only the objects that start a generation (before its snapshot is
     * in) may create it: a later one that finds it gone means the
     * replica lost its history (rep_fail). */
    r->req.gen_must_exist = r->has_snapshot;
    r->state = R_BUSY;
    r->job_t0 = ws_now_ms();
    return &r->req;
}

/* Syncs wait while any replica's snapshot holds them (the shadow and
 * walship's read mark must not move from the record to the read). */
static void snap_hold(struct rep *r)
{
    if (!r->snap_held)
        r->d->snapshotting++;
    r->snap_held = 1;
}

static void snap_release(struct rep *r)
{
    if (r->snap_held)
        r->d->snapshotting--;
    r->snap_held = 0;
}

/* The snapshot of r's record, which is in the replica. */
static void start_snapshot(struct rep *r)
{
    struct dbrep *d = r->d;

    struct ws_req *q = rep_req(r, J_SNAP, WS_REQ_PUT, on_put_done);

    memcpy(r->job_gen, r->rec_gen, sizeof(r->job_gen));
    r->job_index = r->snap_rec.index;
    r->job_start = r->snap_rec.offset;
    r->snap_first = !r->has_snapshot;
    ws_key_snapshot(q->key, sizeof(q->key), r->job_gen, r->job_index);
    q->produce = produce_snapshot;
    /* The database's size bounds the object's (LZ4 barely grows what it
     * cannot shrink); S3 sizes its parts from it. */
    if (ws_fs_size(d->cfg->path, &q->size_hint, NULL) != WS_OK)
        q->size_hint = 0;
    ws_info("write snapshot db=%s replica=%s position=%s/%08x:%llu",
            d->cfg->path, r->cfg->name, r->job_gen, r->job_index,
            (unsigned long long)r->job_start);
    ws_replica_submit(r->client, &r->req);
}

/* -- commit times -- */

static int produce_times(void *ctx, ws_sink_fn sink, void *sctx,
                         struct ws_err *err)
{
    struct rep *r = ctx;
    return ws_times_encode(r->tjob.v, r->tjob.n, sink, sctx, err);
}

/* Ship v[0..n): the next n queued records, or (rec) a snapshot's
 * record. */
static void start_times(struct rep *r, const struct ws_tpoint *v, size_t n,
                        int rec)
{
    struct dbrep *d = r->d;
    struct ws_req *q = rep_req(r, J_TIMES, WS_REQ_PUT, on_put_done);

    r->job_rec = rec;
    /* A copy: the list may grow (and move) while produce runs. */
    r->tjob.n = 0;
    for (size_t i = 0; i < n; i++)
        if (ws_tlist_add(&r->tjob, &v[i]) != WS_OK) {
            ws_err_set(&q->err, WS_ENOMEM, "out of memory");
            q->rc = WS_ENOMEM;
            on_put_done(q);
            return;
        }
    r->job_end = r->tsent + n;
    memcpy(r->job_gen, d->st.gen, sizeof(r->job_gen));
    ws_key_times(q->key, sizeof(q->key), d->st.gen, v, n);
    q->produce = produce_times;
    ws_debug("write commit times db=%s replica=%s records=%zu",
             d->cfg->path, r->cfg->name, n);
    ws_replica_submit(r->client, q);
}

static void stale_free(struct rep *r)
{
    for (size_t i = 0; i < r->nstale; i++)
        free(r->stale[i]);
    free(r->stale);
    r->stale = NULL;
    r->nstale = 0;
}

/* Remember the snapshot records of g (the replica's listing of the
 * current generation, which has no snapshot): a crash's leftovers, to
 * be deleted before the generation's first snapshot (daemon.h).  On
 * failure nothing is remembered, and they stay (the snapshot then needs
 * its index's WAL, which follows it). */
static void stale_take(struct rep *r, const struct ws_geninfo *g)
{
    char key[WS_KEY_MAX];

    stale_free(r);
    for (size_t k = 0; g != NULL && k < g->ntimes; k++) {
        char **v;
        if (!g->times[k].snapshot ||
            ws_key_times_of(key, sizeof(key), g->name, &g->times[k]) !=
                WS_OK)
            continue;
        v = realloc(r->stale, (r->nstale + 1) * sizeof(*v));
        if (v == NULL || (v[r->nstale] = strdup(key)) == NULL) {
            if (v != NULL)
                r->stale = v;
            stale_free(r);
            return;
        }
        r->stale = v;
        r->nstale++;
    }
}

static void on_stale_done(struct ws_req *req)
{
    struct rep *r = req->data;

    ws_req_delerrs_free(req);
    if (req->rc != WS_OK) {
        snap_release(r);
        rep_fail(r, "stale snapshot records");
        db_step(r->d);
        return;
    }
    stale_free(r);
    rep_after(r);
}

/* Delete r->stale: then the snapshot about to be taken has its one
 * record, and serves alone from the moment it is in. */
static void start_stale(struct rep *r)
{
    struct ws_req *q = rep_req(r, J_STALE, WS_REQ_DEL, on_stale_done);

    q->keys = r->stale;
    q->nkeys = r->nstale;
    ws_info("deleting snapshot records that name no snapshot db=%s "
            "replica=%s generation=%s records=%zu (left by a stopped "
            "upload)", r->d->cfg->path, r->cfg->name, r->gen, r->nstale);
    ws_replica_submit(r->client, q);
}

/*
 * Take a snapshot of the shadow's position now (the caller has made
 * sure the replica may have one there; daemon.h).  Syncs are held from
 * here to the end of the read, so the position cannot move: first the
 * record (times.h), which must be in the replica before the snapshot,
 * then the snapshot, a consistent image at exactly that position.  A
 * sync in flight ends first (it calls rep_ship again).  A record already
 * in the replica for the same position (its snapshot failed) is used
 * again rather than written twice.
 */
static void rep_snapshot(struct rep *r)
{
    struct dbrep *d = r->d;
    uint64_t at = d->st.have_hdr ? d->st.size : 0;

    snap_hold(r);
    if (d->syncing)
        return;
    if (r->nstale > 0 && (r->has_snapshot ||
                          strncmp(r->stale[0] + 12, d->st.gen, WS_GEN_LEN)))
        stale_free(r); /* of another generation's listing */
    if (r->nstale > 0) {
        start_stale(r);
        return;
    }
    if (strcmp(r->rec_gen, d->st.gen) != 0 ||
        r->snap_rec.index != d->st.index || r->snap_rec.offset != at) {
        struct ws_tpoint p = {d->st.index, WS_T_IMAGE, at, ws_wall_us()};
        r->snap_rec = p;
        memcpy(r->rec_gen, d->st.gen, sizeof(r->rec_gen));
        r->rec_sent = 0;
    }
    if (!r->rec_sent) {
        start_times(r, &r->snap_rec, 1, 1);
        return;
    }
    start_snapshot(r);
}

/* Ship commit times every TIMES_INTERVAL_MS while there are any, and at
 * shutdown once the segments are out.  1 when a job started. */
static int rep_times(struct rep *r, int behind)
{
    struct dbrep *d = r->d;
    size_t n = times_ready(r);
    int64_t wait;

    if (n == 0 || (d->stopping && behind))
        return 0;
    wait = r->times_ms + TIMES_INTERVAL_MS - ws_now_ms();
    if (!d->stopping && r->times_ms != 0 && wait > 0) {
        /* Caught up and writes paused: ship now, so an idle database
         * owes nothing. */
        int64_t quiet = d->last_copy_ms + TIMES_QUIET_MS - ws_now_ms();
        if (behind || quiet > 0) {
            rep_wake(r, behind || wait < quiet ? wait : quiet);
            return 0;
        }
    }
    start_times(r, r->d->tl.v + (r->tsent - r->d->tl_base), n, 0);
    return 1;
}

/* -- records that bind the generation's objects (daemon.h) -- */

/* A record's body: an empty LZ4 frame (its name is the record). */
static int produce_record(void *ctx, ws_sink_fn sink, void *sctx,
                          struct ws_err *err)
{
    struct ws_lz4w *w = ws_lz4w_new(sink, sctx);
    int rc;

    (void)ctx;
    if (w == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = ws_lz4w_finish(w, err);
    ws_lz4w_free(w);
    return rc;
}

/* Write r->irec (J_INDEX) or r->dig (J_DIGEST). */
static void start_record(struct rep *r, int job)
{
    struct ws_req *q = rep_req(r, job, WS_REQ_PUT, on_put_done);

    if (job == J_INDEX) {
        memcpy(r->job_gen, r->gen, sizeof(r->job_gen));
        ws_key_index_of(q->key, sizeof(q->key), r->gen, &r->irec);
    } else {
        memcpy(r->job_gen, r->dig_gen, sizeof(r->job_gen));
        ws_key_digest_of(q->key, sizeof(q->key), r->dig_gen, &r->dig);
    }
    q->produce = produce_record;
    ws_debug("write %s db=%s replica=%s key=%s",
             job == J_INDEX ? "index record" : "snapshot digest",
             r->d->cfg->path, r->cfg->name, q->key);
    ws_replica_submit(r->client, q);
}

/* The index record of index i of the current generation into *x: the
 * end of index i - 1 and the salts of i, from the shadow.  0 when the
 * shadow no longer holds i - 1 (or i has no header yet): then none is
 * written, and restore does not check that boundary. */
static int index_rec_of(const struct dbrep *d, uint32_t i,
                        struct ws_idxinfo *x)
{
    const struct ws_db_closed *prev = NULL, *cur = NULL;

    if (i == 0)
        return 0;
    for (int k = 0; k < d->st.nold; k++) {
        if (d->st.old[k].index == i - 1)
            prev = &d->st.old[k];
        if (d->st.old[k].index == i)
            cur = &d->st.old[k];
    }
    if (prev == NULL || (cur == NULL && (i != d->st.index || !d->st.have_hdr)))
        return 0;
    memset(x, 0, sizeof(*x));
    x->index = i;
    x->prev_size = prev->size;
    x->prev_cksum[0] = prev->cksum[0];
    x->prev_cksum[1] = prev->cksum[1];
    x->salt1 = cur ? cur->salt1 : d->st.salt1;
    x->salt2 = cur ? cur->salt2 : d->st.salt2;
    return 1;
}

/* 1 when r's next segment starts an index whose record r has not
 * written yet (and can): the record goes first (daemon.h). */
static int index_rec_due(struct rep *r)
{
    struct dbrep *d = r->d;

    if (r->offset != 0 || strcmp(r->gen, d->st.gen) != 0 ||
        (strcmp(r->irec_gen, r->gen) == 0 && r->irec_done == r->index))
        return 0;
    return index_rec_of(d, r->index, &r->irec);
}

/* -- WAL segment -- */

static int produce_segment(void *ctx, ws_sink_fn sink, void *sctx,
                           struct ws_err *err)
{
    struct rep *r = ctx;
    uint8_t hb[WS_WAL_HDR_SIZE], *buf = NULL;
    struct ws_wal_hdr h;
    struct ws_lz4w *w;
    uint64_t off = r->job_start, fs;
    size_t got, per = 0;
    int fd, rc;

    rc = ws_db_shadow_open(r->d->db, r->job_gen, r->job_index, &fd, err);
    if (rc == WS_ENOTFOUND)
        rc = err->code = WS_EIO; /* not "no such object" */
    if (rc != WS_OK)
        return rc;
    rc = ws_fs_pread(fd, hb, sizeof(hb), 0, &got, err);
    if (rc == WS_OK && (got != sizeof(hb) ||
                        ws_wal_decode_hdr(hb, &h, err) != WS_OK))
        rc = ws_err_set(err, WS_ECORRUPT, "%s: bad shadow header",
                        r->job_path);
    w = rc == WS_OK ? ws_lz4w_new(sink, sctx) : NULL;
    fs = rc == WS_OK ? ws_wal_frame_size(h.page_size) : 0;
    if (rc == WS_OK) {
        per = SEG_READ / fs ? SEG_READ / fs : 1;
        if (w == NULL || (buf = malloc(per * fs)) == NULL)
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    if (rc == WS_OK && off == 0) {
        rc = ws_lz4w_write(w, hb, sizeof(hb), err);
        off = WS_WAL_HDR_SIZE;
    }
    /* Whole frames, each carrying the header's salts (a segment of
     * another WAL index must never slip in). */
    while (rc == WS_OK && off < r->job_end) {
        size_t n = r->job_end - off < per * fs ? r->job_end - off : per * fs;
        rc = ws_fs_pread(fd, buf, n, off, &got, err);
        for (size_t k = 0; rc == WS_OK && k < n; k += fs)
            if (got != n || n % fs != 0 ||
                ws_get_be32(buf + k + 8) != h.salt1 ||
                ws_get_be32(buf + k + 12) != h.salt2)
                rc = ws_err_set(err, WS_ECORRUPT, "replica salt mismatch: "
                                "%s/%08x:%llu", r->job_gen, r->job_index,
                                (unsigned long long)(off + k));
        if (rc == WS_OK)
            rc = ws_lz4w_write(w, buf, n, err);
        off += n;
    }
    if (rc == WS_OK)
        rc = ws_lz4w_finish(w, err);
    ws_lz4w_free(w);
    free(buf);
    close(fd);
    return rc;
}

static void start_segment(struct rep *r)
{
    struct dbrep *d = r->d;
    struct ws_req *q;

    if (index_rec_due(r)) {
        start_record(r, J_INDEX);
        return;
    }
    q = rep_req(r, J_SEG, WS_REQ_PUT, on_put_done);

    memcpy(r->job_gen, r->gen, sizeof(r->job_gen));
    r->job_index = r->index;
    r->job_start = r->offset;
    shadow_end(d, r->index, &r->job_end);
    free(r->job_path);
    r->job_path = ws_db_shadow_path(d->db, r->gen, r->index);
    ws_key_wal(q->key, sizeof(q->key), r->gen, r->index, r->offset);
    q->produce = produce_segment;
    ws_debug("write wal segment db=%s replica=%s position=%s/%08x:%llu",
             d->cfg->path, r->cfg->name, r->gen, r->index,
             (unsigned long long)r->offset);
    ws_replica_submit(r->client, &r->req);
}

static void on_put_done(struct ws_req *req)
{
    struct rep *r = req->data;
    struct dbrep *d = r->d;
    int64_t ms = ws_now_ms() - r->job_t0;

    if (req->rc != WS_OK) {
        /* Syncs go on during the back-off; a snapshot starts again from
         * its record (the same one while the position is the same). */
        snap_release(r);
        rep_fail(r, r->job == J_SNAP     ? "snapshot"
                    : r->job == J_TIMES  ? "commit times"
                    : r->job == J_INDEX  ? "index record"
                    : r->job == J_DIGEST ? "snapshot digest"
                                         : "wal segment");
        db_step(d);
        return;
    }
    r->failures = 0;
    r->config_failures = 0;
    if (r->job == J_SNAP) {
        ws_info("snapshot written db=%s replica=%s position=%s/%08x "
                "elapsed=%lldms sz=%llu",
                d->cfg->path, r->cfg->name, r->job_gen, r->job_index,
                (long long)ms, (unsigned long long)req->put_size);
        /* A generation's first snapshot: the replica now needs its WAL
         * from the start of the snapshot's index.  A periodic one changes
         * nothing about what still has to be shipped. */
        if (strcmp(r->gen, r->job_gen) == 0 && r->snap_first) {
            r->index = r->job_index;
            r->offset = 0;
            r->has_snapshot = 1;
        }
        if (strcmp(r->gen, r->job_gen) == 0) {
            r->snap_index = r->job_index;
            r->snap_off = r->job_start;
            r->snap_why = NULL;
            r->snap_deferred = 0;
            r->force_snap = 0;
            r->force_why = NULL;
            /* Its digest record goes next (rep_ship). */
            memset(&r->dig, 0, sizeof(r->dig));
            r->dig.index = r->job_index;
            r->dig.offset = r->job_start;
            r->dig.time_us = r->snap_rec.time_us;
            memcpy(r->dig.sha256, r->snap_digest, sizeof(r->dig.sha256));
            memcpy(r->dig_gen, r->job_gen, sizeof(r->dig_gen));
        }
        r->rec_gen[0] = '\0'; /* used */
        r->last_snap_ms = ws_wall_ms();
        snap_release(r);
    } else if (r->job == J_INDEX) {
        ws_debug("index record written db=%s replica=%s key=%s",
                 d->cfg->path, r->cfg->name, req->key);
        memcpy(r->irec_gen, r->job_gen, sizeof(r->irec_gen));
        r->irec_done = r->irec.index;
    } else if (r->job == J_DIGEST) {
        ws_debug("snapshot digest written db=%s replica=%s key=%s",
                 d->cfg->path, r->cfg->name, req->key);
        r->dig_gen[0] = '\0';
    } else if (r->job == J_TIMES) {
        ws_debug("commit times written db=%s replica=%s key=%s",
                 d->cfg->path, r->cfg->name, req->key);
        if (r->job_rec) {
            r->rec_sent = 1;
        } else if (strcmp(r->job_gen, d->tl_gen) == 0) {
            r->tsent = r->job_end;
            r->times_ms = ws_now_ms();
            times_trim(d);
        }
    } else {
        ws_info("wal segment written db=%s replica=%s position=%s/%08x:%llu "
                "elapsed=%lldms sz=%llu%s%.0d",
                d->cfg->path, r->cfg->name, r->job_gen, r->job_index,
                (unsigned long long)r->job_start, (long long)ms,
                (unsigned long long)(r->job_end - r->job_start),
                req->retries ? " retries=" : "", req->retries);
        r->offset = r->job_end;
        r->last_put_ms = ws_now_ms();
    }
    rep_after(r);
}

/* -- start-up: where does this replica stand? -- */

/* The last segment, downloaded at start-up, must equal the shadow's bytes
 * at the same place; anything else means the replica holds history this
 * machine does not (a restore elsewhere, a lost local disk, a primary
 * that lost its last commits in a power cut).  The whole object is
 * read even after a byte differs: only its end (the LZ4 content
 * checksum) tells a download damaged in transit, which is retried, from
 * a replica that really differs, which starts a new generation. */
static int tail_sink(void *ctx, const void *buf, size_t len,
                     struct ws_err *err)
{
    struct rep *r = ctx;
    uint8_t tmp[65536];
    size_t got, n;

    r->job_end += len;
    for (size_t k = 0; k < len && !r->tail_mismatch; k += n) {
        n = len - k < sizeof(tmp) ? len - k : sizeof(tmp);
        if (r->tail_fd < 0 ||
            ws_fs_pread(r->tail_fd, tmp, n, r->tail_off, &got, NULL) !=
                WS_OK ||
            got != n || memcmp(tmp, (const uint8_t *)buf + k, n) != 0)
            r->tail_mismatch = 1;
        r->tail_off += n;
    }
    (void)err;
    return WS_OK;
}

static int tail_feed(void *ctx, const void *buf, size_t len,
                     struct ws_err *err)
{
    struct rep *r = ctx;
    return ws_lz4r_write(r->lz, buf, len, err);
}

static void on_tail_done(struct ws_req *req);

static void on_list_done(struct ws_req *req)
{
    struct rep *r = req->data;
    struct dbrep *d = r->d;
    const struct ws_geninfo *g;
    struct ws_catalog cat;
    struct ws_err err;

    if (req->rc != WS_OK) {
        rep_fail(r, "replica list");
        return;
    }
    if (ws_catalog_build(&req->list, &cat, &err) != WS_OK) {
        ws_objlist_free(&req->list);
        req->err = err;
        rep_fail(r, "replica list");
        return;
    }
    ws_objlist_free(&req->list);
    memcpy(r->gen, d->st.gen, sizeof(r->gen));
    g = ws_catalog_find(&cat, d->st.gen);
    if (rep_gone(r, r->known_gen, g)) {
        ws_catalog_free(&cat);
        if (r->state == R_BUSY)
            r->state = R_IDLE;
        db_step(d);
        return;
    }
    r->has_snapshot = g != NULL && g->nsnaps > 0;
    if (!r->has_snapshot) {
        stale_take(r, g);
        ws_catalog_free(&cat);
        r->inited = 1;
        rep_after(r);
        return;
    }
    r->index = g->snaps[g->nsnaps - 1].index;
    r->offset = 0;
    /* No second snapshot in that index (daemon.h); "nothing changed"
     * is known from its records, when it has any. */
    r->snap_index = r->index;
    r->snap_off = UINT64_MAX;
    for (size_t k = 0; k < g->ntimes; k++)
        if (g->times[k].snapshot && g->times[k].index == r->snap_index &&
            (r->snap_off == UINT64_MAX || g->times[k].offset > r->snap_off))
            r->snap_off = g->times[k].offset;
    for (size_t k = 0; k < g->nsnaps; k++)
        if (g->snaps[k].mtime_ms > r->last_snap_ms)
            r->last_snap_ms = g->snaps[k].mtime_ms;
    if (g->nsegs == 0 || g->segs[g->nsegs - 1].index < r->index) {
        ws_catalog_free(&cat);
        r->inited = 1;
        rep_after(r);
        return;
    }
    /* Download the last segment to learn where it ends. */
    rep_req(r, J_GET, WS_REQ_GET, on_tail_done);
    r->job_index = g->segs[g->nsegs - 1].index;
    r->job_start = g->segs[g->nsegs - 1].offset;
    r->job_end = r->job_start;
    r->req.sized = 1; /* a body past the listed size is corrupt */
    r->req.size = g->segs[g->nsegs - 1].size;
    ws_catalog_free(&cat);
    free(r->job_path);
    r->job_path = ws_db_shadow_path(d->db, r->gen, r->job_index);
    if (ws_db_shadow_open(d->db, r->gen, r->job_index, &r->tail_fd, NULL) !=
        WS_OK)
        r->tail_fd = -1;
    r->tail_off = r->job_start;
    r->tail_mismatch = 0;
    r->lz = ws_lz4r_new(tail_sink, r, ws_lz4_max_output(r->req.size));
    if (r->lz == NULL) {
        ws_err_set(&r->req.err, WS_ENOMEM, "out of memory");
        rep_fail(r, "replica position");
        return;
    }
    ws_key_wal(r->req.key, sizeof(r->req.key), r->gen, r->job_index,
               r->job_start);
    r->req.sink = tail_feed;
    ws_replica_submit(r->client, &r->req);
}

static void on_tail_done(struct ws_req *req)
{
    struct rep *r = req->data;
    struct dbrep *d = r->d;
    uint64_t end;

    if (req->rc == WS_OK)
        req->rc = ws_lz4r_finish(r->lz, &req->err);
    ws_lz4r_free(r->lz);
    r->lz = NULL;
    if (r->tail_fd >= 0)
        close(r->tail_fd);
    r->tail_fd = -1;
    if (req->rc != WS_OK) {
        if (strstr(req->err.msg, req->key) == NULL)
            ws_err_wrap(&req->err, "%s", req->key);
        rep_fail(r, "replica position");
        return;
    }
    if (r->tail_mismatch || !shadow_end(d, r->job_index, &end) ||
        r->job_end > end) {
        /* The replica is not a prefix of what we hold: fork history. */
        snprintf(d->new_gen_buf, sizeof(d->new_gen_buf),
                 "replica %s ahead of or different from local wal",
                 r->cfg->name);
        d->new_gen = d->new_gen_buf;
        d->dirty = 1;
        r->state = R_IDLE;
        db_step(d);
        return;
    }
    r->index = r->job_index;
    r->offset = r->job_end;
    r->inited = 1;
    /* Found again after each failure while a replica is stalled: said
     * at INFO only when it is news. */
    ws_log(strcmp(r->said_gen, r->gen) == 0 && r->said_index == r->index &&
                   r->said_offset == r->offset
               ? WS_LOG_DEBUG
               : WS_LOG_INFO,
           "replica position db=%s replica=%s position=%s/%08x:%llu",
           d->cfg->path, r->cfg->name, r->gen, r->index,
           (unsigned long long)r->offset);
    memcpy(r->said_gen, r->gen, sizeof(r->said_gen));
    r->said_index = r->index;
    r->said_offset = r->offset;
    rep_after(r);
}

static void start_init(struct rep *r)
{
    struct ws_req *q = rep_req(r, J_LIST, WS_REQ_LIST, on_list_done);

    snprintf(q->key, sizeof(q->key), "generations/");
    ws_replica_submit(r->client, q);
}

/*
 * Ask the next sync for a checkpoint that seals the current index, so
 * that the application's next write starts the next one, where a
 * deferred snapshot can be taken.  Nothing to do once it is sealed;
 * while checkpoints cannot seal it (an application reader holds an old
 * read mark, the write lock stays busy), asked again at a doubling
 * interval, at the next sync after it.
 */
static void seal_request(struct dbrep *d)
{
    int64_t now = ws_now_ms();

    if (d->st.sealed || now < d->seal_next_ms)
        return;
    d->seal_backoff_ms = d->seal_backoff_ms == 0 ? SEAL_RETRY_MS
                         : d->seal_backoff_ms * 2 > SEAL_RETRY_MAX_MS
                             ? SEAL_RETRY_MAX_MS
                             : d->seal_backoff_ms * 2;
    d->seal_next_ms = now + d->seal_backoff_ms;
    d->seal_wanted = 1;
    d->dirty = 1;
    d->next_sync_ms = 0;
    ws_debug("checkpoint requested db=%s: a snapshot waits for index %08x "
             "to end", d->cfg->path, d->st.index);
    db_step(d);
}

/*
 * A periodic snapshot (snapshot-interval) or retention's (force_snap):
 * 1 when it may start now.  One is taken only in an index that has no
 * snapshot yet in this generation on this replica (daemon.h).  While the
 * shadow is still in the index of the last one, the snapshot is skipped
 * when nothing changed since (the interval starts again); otherwise it
 * waits for the next index, which a checkpoint makes the application's
 * next write start.  Otherwise wake up when the interval ends.
 */
static int snapshot_due(struct rep *r)
{
    struct dbrep *d = r->d;
    /* -once takes a snapshot only when asked (-force-snapshot). */
    int64_t iv = d->dm->opts.once ? 0 : r->cfg->snapshot_interval_ms;
    int64_t now = ws_wall_ms();
    uint64_t at = d->st.have_hdr ? d->st.size : 0;

    if (r->snap_why == NULL) {
        if (r->force_snap) {
            r->snap_why = r->force_why ? r->force_why : "retention";
        } else if (iv > 0 && now - r->last_snap_ms >= iv) {
            r->snap_why = "snapshot-interval";
        } else {
            if (iv > 0)
                rep_wake(r, iv - (now - r->last_snap_ms));
            return 0;
        }
    }
    if (d->st.index > r->snap_index) {
        if (r->snap_deferred >= 0)
            ws_debug("snapshot due db=%s replica=%s reason=%s "
                     "index=%08x", d->cfg->path, r->cfg->name, r->snap_why,
                     d->st.index);
        r->snap_deferred = -1; /* said */
        d->seal_backoff_ms = 0;
        d->seal_next_ms = 0;
        return 1;
    }
    if (d->st.index == r->snap_index && at == r->snap_off) {
        ws_debug("snapshot skipped db=%s replica=%s reason=%s: nothing "
                 "changed since the snapshot at %s/%08x:%llu",
                 d->cfg->path, r->cfg->name, r->snap_why, r->gen,
                 r->snap_index, (unsigned long long)at);
        r->snap_why = NULL;
        r->force_snap = 0;
        r->force_why = NULL;
        r->snap_deferred = 0;
        r->last_snap_ms = now;
        if (iv > 0)
            rep_wake(r, iv);
        return 0;
    }
    if (d->dm->opts.once) {
        /* -once cannot wait for the application's next write to start
         * the next index: a new generation, which begins with a
         * snapshot of the current state. */
        if (d->new_gen == NULL &&
            !(d->syncing && d->job_opts.new_gen != NULL)) {
            ws_info("snapshot db=%s replica=%s reason=%s: index %08x "
                    "already has a snapshot and -once does not wait for "
                    "the next index: starting a new generation",
                    d->cfg->path, r->cfg->name, r->snap_why, r->snap_index);
            snprintf(d->new_gen_buf, sizeof(d->new_gen_buf),
                     "%s on replica %s: index %08x already has a snapshot",
                     r->snap_why, r->cfg->name, r->snap_index);
            d->new_gen = d->new_gen_buf;
            d->dirty = 1;
            d->next_sync_ms = 0;
            db_step(d);
        }
        return 0;
    }
    if (r->snap_deferred == 0)
        ws_info("snapshot deferred db=%s replica=%s reason=%s: index %08x "
                "already has a snapshot; the next one is taken when the "
                "next WAL index starts", d->cfg->path, r->cfg->name,
                r->snap_why, r->snap_index);
    r->snap_deferred = 1;
    seal_request(d);
    return 0;
}

static void rep_ship(struct rep *r)
{
    struct dbrep *d = r->d;
    int64_t now, due;
    int behind;

    if (r->state != R_IDLE)
        return;
    if (!d->st.ready || d->st.gen[0] == '\0') {
        snap_release(r); /* nothing to take a snapshot of */
        return;
    }
    if (r->inited && strcmp(r->gen, d->st.gen) != 0) {
        /* A new generation: it needs its snapshot first. */
        memcpy(r->gen, d->st.gen, sizeof(r->gen));
        r->has_snapshot = 0;
        r->snap_why = NULL;
        r->snap_deferred = 0;
    }
    if (!r->inited) {
        start_init(r);
        return;
    }
    if (r->dig_gen[0] != '\0' && strcmp(r->dig_gen, r->gen) == 0) {
        start_record(r, J_DIGEST);
        return;
    }
    r->dig_gen[0] = '\0'; /* of an earlier generation: not written */
    if (!r->has_snapshot) {
        rep_snapshot(r);
        return;
    }
    behind = rep_behind(r);
    if (!r->has_snapshot) {
        /* rep_behind found a gap only a new snapshot can bridge. */
        rep_snapshot(r);
        return;
    }
    /* A later snapshot waits until the replica holds every segment up
     * to the shadow's end, with syncs held meanwhile (daemon.h): once it
     * ships the current index (a replica catching up on closed ones
     * would hold them long); at shutdown the last sync goes first, and
     * the snapshot is dropped. */
    if (r->snap_held && d->stopping)
        snap_release(r);
    else if (!r->snap_held && !d->stopping && snapshot_due(r) &&
             r->index == d->st.index)
        snap_hold(r);
    if (r->snap_held) {
        if (behind)
            start_segment(r);
        else
            rep_snapshot(r);
        return;
    }
    if (rep_times(r, behind) || !behind)
        return;
    /* sync-interval batches the frames of the open index; a closed one
     * cannot grow, and waiting on each would ship one index a period
     * while the WAL restarts several times a second (db.c). */
    now = ws_now_ms();
    due = r->last_put_ms + r->cfg->sync_interval_ms;
    if (!d->stopping && now < due && r->index >= d->st.index &&
        d->bar.head == NULL) { /* a `walship sync` waits: ship now */
        rep_wake(r, due - now);
        return;
    }
    /* Copies are paced: ship what the -wal holds now, not what the last
     * copy saw (on_sync_done calls back).  A snapshot holds copies back;
     * ship what there is rather than wait for it. */
    if (!d->stopping && d->dirty && d->sync_start_ms < due &&
        !d->snapshotting) {
        d->next_sync_ms = 0;
        db_step(d);
        if (d->syncing)
            return;
    }
    start_segment(r);
}

/* ---- retention ---------------------------------------------------------- */

/*
 * Every min(retention-check-interval, retention), from one period after
 * start: list, plan (retention.h: nothing needed for any moment of the
 * window goes), and delete under the replica's exclusive local lock,
 * which a restore on this machine holds shared.  The plan's exact keys
 * go in one DEL, which the backend batches (S3: DeleteObjects, 1000 keys
 * a request, no listing); then each whole generation, a DEL of its
 * prefix.  Every key that was not deleted is logged at ERROR with its
 * reason, at every check.
 */
static void on_ret_list(struct ws_req *req);
static void on_ret_del(struct ws_req *req);

static void ret_end(struct rep *r)
{
    ws_rlock_release(r->ret_lock);
    r->ret_lock = -1;
    ws_retention_plan_free(&r->plan);
    free(r->ret_keys);
    r->ret_keys = NULL;
    r->ret_nkeys = 0;
    r->ret_busy = 0;
    if (r->d->dm->opts.once && !r->d->stopping) {
        /* -once -enforce-retention: once more after the snapshot this
         * run asked for, so that what it replaces goes too. */
        r->ret_runs++;
        r->ret_done = !r->force_snap || r->ret_runs >= 2;
        db_step(r->d);
    }
}

/* Retention could not run: said, and with -once, the exit status. */
static void ret_error(struct rep *r, const char *msg)
{
    ws_error("retention error db=%s replica=%s error=\"%s\"",
             r->d->cfg->path, r->cfg->name, msg);
    r->d->dm->ret_failed = 1;
}

/* Submit r's retention request: a LIST or DEL of key, or a DEL of the
 * exact keys[0..nkeys) when keys is not NULL. */
static void ret_submit(struct rep *r, enum ws_reqtype type, const char *key,
                       char *const *keys, size_t nkeys,
                       void (*cb)(struct ws_req *))
{
    memset(&r->ret_req, 0, sizeof(r->ret_req));
    r->ret_req.type = type;
    r->ret_req.cb = cb;
    r->ret_req.data = r;
    r->ret_req.keys = keys;
    r->ret_req.nkeys = nkeys;
    snprintf(r->ret_req.key, sizeof(r->ret_req.key), "%s", key);
    ws_replica_submit(r->client, &r->ret_req);
}

static void on_ret_timer(uv_timer_t *t)
{
    struct rep *r = t->data;

    if (r->ret_busy || r->d->stopping || r->state == R_FAILED)
        return;
    r->ret_busy = 1;
    r->m.retention_runs++;
    /* The generation this listing must show a snapshot of (rep_gone). */
    r->ret_gen[0] = '\0';
    if (r->inited && r->has_snapshot && strcmp(r->gen, r->d->st.gen) == 0)
        memcpy(r->ret_gen, r->gen, sizeof(r->ret_gen));
    ret_submit(r, WS_REQ_LIST, "generations/", NULL, 0, on_ret_list);
}

/* 1 if a plan key names a whole generation (a prefix). */
static int ret_is_gen(const char *key)
{
    char gen[WS_GEN_LEN + 1];
    uint32_t index;
    uint64_t offset;

    return ws_key_parse(key, gen, &index, &offset) == WS_OBJ_OTHER;
}

/* The next delete: the exact keys first, then each whole generation;
 * when none is left, the summary. */
static void ret_del_next(struct rep *r)
{
    struct dbrep *d = r->d;

    if (r->ret_keys != NULL && !d->stopping) {
        ret_submit(r, WS_REQ_DEL, "", r->ret_keys, r->ret_nkeys, on_ret_del);
        return;
    }
    while (r->ret_next < r->plan.nkeys &&
           !ret_is_gen(r->plan.keys[r->ret_next]))
        r->ret_next++;
    if (r->ret_next < r->plan.nkeys && !d->stopping) {
        ret_submit(r, WS_REQ_DEL, r->plan.keys[r->ret_next++], NULL, 0,
                   on_ret_del);
        return;
    }
    ws_info("retention: db=%s replica=%s generations=%zu snapshots=%zu "
            "wal=%zu times=%zu records=%zu bytes=%llu failed=%zu",
            d->cfg->path, r->cfg->name, r->plan.ngens, r->plan.nsnaps,
            r->plan.nsegs, r->plan.ntimes, r->plan.nrecs,
            (unsigned long long)r->plan.bytes,
            r->ret_failed);
    ret_end(r);
    if (d->stopping)
        db_step(d);
}

static void on_ret_list(struct ws_req *req)
{
    struct rep *r = req->data;
    struct dbrep *d = r->d;
    struct ws_catalog cat;
    struct ws_err err = {0};
    int rc = req->rc;

    ws_metrics_req(&r->m, req);
    if (d->stopping) {
        ws_objlist_free(&req->list);
        ret_end(r);
        db_step(d);
        return;
    }
    if (rc != WS_OK)
        err = req->err;
    if (rc == WS_OK)
        rc = ws_catalog_build(&req->list, &cat, &err);
    ws_objlist_free(&req->list);
    if (rc == WS_OK &&
        rep_gone(r, r->ret_gen, ws_catalog_find(&cat, r->ret_gen))) {
        ws_catalog_free(&cat);
        ret_end(r);
        return;
    }
    if (rc == WS_OK) {
        rc = ws_retention_plan(&cat, d->st.gen, ws_wall_ms(),
                               r->cfg->retention_ms, &r->plan, &err);
        ws_catalog_free(&cat);
    }
    if (rc != WS_OK) {
        ret_error(r, err.msg);
        ret_end(r);
        return;
    }
    if (r->plan.need_snapshot) {
        ws_info("retention: newest snapshot is older than the window, a "
                "new one is due db=%s replica=%s", d->cfg->path,
                r->cfg->name);
        r->force_snap = 1;
        rep_ship(r);
    }
    if (r->plan.nkeys == 0) {
        ret_end(r);
        return;
    }
    rc = ws_rlock_acquire(r->cfg, 1, 0, &r->ret_lock, &err);
    if (rc != WS_OK) {
        if (rc == WS_EBUSY)
            ws_info("retention: a restore is reading db=%s replica=%s, "
                    "deleting nothing this time", d->cfg->path, r->cfg->name);
        else
            ret_error(r, err.msg);
        ret_end(r);
        return;
    }
    r->ret_next = 0;
    r->ret_failed = 0;
    /* The exact keys, borrowed from the plan (nkeys > 0 here). */
    r->ret_keys = malloc(r->plan.nkeys * sizeof(*r->ret_keys));
    if (r->ret_keys == NULL) {
        ret_error(r, "out of memory");
        ret_end(r);
        return;
    }
    for (size_t i = 0; i < r->plan.nkeys; i++)
        if (!ret_is_gen(r->plan.keys[i]))
            r->ret_keys[r->ret_nkeys++] = r->plan.keys[i];
    if (r->ret_nkeys == 0) {
        free(r->ret_keys);
        r->ret_keys = NULL;
    }
    ret_del_next(r);
}

/* A key retention could not delete: said loudly, at every check. */
static void ret_refused(struct rep *r, const char *key, const char *msg)
{
    r->ret_failed++;
    r->d->dm->ret_failed = 1;
    ws_error("retention: delete failed db=%s replica=%s key=%s error=\"%s\"",
             r->d->cfg->path, r->cfg->name, key, msg);
}

static void on_ret_del(struct ws_req *req)
{
    struct rep *r = req->data;

    ws_metrics_req(&r->m, req);
    if (req->keys)
        r->m.deleted += req->nkeys - req->ndelerrs;
    else if (req->rc == WS_OK)
        r->m.deleted_gens++;
    for (size_t i = 0; i < req->ndelerrs; i++)
        ret_refused(r, req->delerrs[i].key, req->delerrs[i].msg);
    /* Nothing known per key (a listing failed, say): every key the
     * request was about failed with it. */
    for (size_t i = 0; req->rc != WS_OK && req->ndelerrs == 0 &&
                       i < (req->keys ? req->nkeys : 1);
         i++)
        ret_refused(r, req->keys ? req->keys[i] : req->key, req->err.msg);
    if (req->keys)
        ws_debug("retention: deleted db=%s replica=%s keys=%zu failed=%zu",
                 r->d->cfg->path, r->cfg->name, req->nkeys - req->ndelerrs,
                 req->ndelerrs);
    else
        ws_debug("retention: deleted db=%s replica=%s prefix=%s rc=%d",
                 r->d->cfg->path, r->cfg->name, req->key, req->rc);
    if (req->keys) {
        free(r->ret_keys);
        r->ret_keys = NULL;
        r->ret_nkeys = 0;
    }
    ws_req_delerrs_free(req);
    ret_del_next(r);
}

/* ---- the durability barrier: `walship sync` ---------------------------- */

/*
 * A `sync` request on a database's control endpoint (control.h) waits
 * in d->bar (barrier.h) until every replica holds what was committed
 * before it.  It asks for a copy now, not at the next pace; while any
 * request waits, uploads go at once rather than at the next
 * sync-interval (rep_ship).  The client going away drops its request.
 * At shutdown, requests the last sync satisfies are answered "ok", the
 * others "error EBUSY".
 */

/* What barrier.h needs to know of d and its replicas, as they are now. */
static void barrier_view(struct dbrep *d, struct ws_barrier_db *db)
{
    db->ready = d->st.ready;
    db->gen = d->st.gen;
    db->index = d->st.index;
    db->end = d->st.have_hdr ? d->st.size : 0;
    db->why = d->stall.on ? d->stall.what : "";
    for (size_t k = 0; k < d->nreps; k++) {
        const struct rep *r = &d->reps[k];
        struct ws_barrier_rep *v = &d->bar_reps[k];
        v->name = r->cfg->name;
        /* After a failure the position is listed again (inited 0), but
         * what the replica was seen to hold stays in r, for messages. */
        v->known = r->inited && r->has_snapshot;
        v->seen = r->has_snapshot && r->gen[0] != '\0';
        v->gen = r->gen;
        v->index = r->index;
        v->offset = r->offset;
        v->failed = r->state == R_FAILED;
        v->why = r->stall.on ? r->stall.what
                 : r->state == R_BUSY ? "an upload is in flight"
                 : r->state == R_FAILED ? r->req.err.msg
                                        : "";
    }
}

static void on_bar_timer(uv_timer_t *t);

/* Answer every request that is done, and come back at the earliest
 * deadline of the others. */
static void barrier_check(struct dbrep *d)
{
    struct ws_barrier_db db;
    struct ws_barrier_wait *w;
    char text[WS_CTL_REPLY_MAX];
    int64_t first, now = ws_now_ms();
    int code;

    if (d->bar.head == NULL)
        return;
    barrier_view(d, &db);
    while ((w = ws_barrier_done(&d->bar, d->cfg->path, &db, d->bar_reps,
                                d->nreps, now, &code, text,
                                sizeof(text))) != NULL) {
        if (code == WS_OK)
            ws_debug("sync answered %s", text);
        else
            ws_warn("sync request failed db=%s: %s", d->cfg->path, text);
        ws_ctl_reply(w->req, code, "%s", text);
        ws_barrier_remove(&d->bar, w);
    }
    first = ws_barrier_deadline(&d->bar);
    if (first == 0)
        uv_timer_stop(&d->bar_timer);
    else
        uv_timer_start(&d->bar_timer, on_bar_timer,
                       (uint64_t)(first > now ? first - now : 0), 0);
}

static void on_bar_timer(uv_timer_t *t)
{
    barrier_check(t->data);
}

/* A sync finished: it sets the targets of the requests it counts for
 * (a held one copied nothing). */
static void barrier_synced(struct dbrep *d)
{
    struct ws_barrier_db db;

    if (d->bar.head == NULL)
        return;
    barrier_view(d, &db);
    if (ws_barrier_synced(&d->bar, d->started,
                          d->job_rc == WS_OK && !d->held, &db) &&
        !d->stopping) {
        d->dirty = 1;
        d->next_sync_ms = 0;
    }
    barrier_check(d);
}

static void waiter_gone(struct ws_ctl_conn *c, void *data)
{
    struct ws_barrier_wait *w = data;
    struct dbrep *d = w->owner;

    (void)c;
    ws_barrier_remove(&d->bar, w);
}

/* The `sync` command: "sync [TIMEOUT_MS]". */
static void ctl_sync(struct ws_ctl_conn *c, int argc, char **argv,
                     void *ctx)
{
    struct dbrep *d = ctx;
    struct ws_barrier_wait *w;
    unsigned long long ms = 0;

    if (argc > 2 || (argc == 2 && (strspn(argv[1], "0123456789") !=
                                       strlen(argv[1]) ||
                                   strlen(argv[1]) > 12))) {
        ws_ctl_reply(c, WS_EUSAGE, "usage: sync [TIMEOUT_MS]");
        return;
    }
    if (argc == 2)
        ms = strtoull(argv[1], NULL, 10);
    if (d->stopping) {
        ws_ctl_reply(c, WS_EBUSY, "walship replicate is shutting down (its "
                     "last sync ships what was committed before its "
                     "signal)");
        return;
    }
    w = ws_barrier_add(&d->bar, c, d, d->started + 1, ws_now_ms(),
                       (int64_t)ms);
    if (w == NULL) {
        ws_ctl_reply(c, WS_ENOMEM, "out of memory");
        return;
    }
    ws_ctl_keep(c, waiter_gone, w);
    ws_debug("sync requested db=%s timeout=%llums", d->cfg->path, ms);
    barrier_check(d); /* (arms the deadline) */
    /* A copy now, not at the next pace (a snapshot or a sync in flight
     * goes first: db_step starts it after them). */
    d->dirty = 1;
    d->next_sync_ms = 0;
    db_step(d);
}

/* The commands of the control endpoint (control.h). */
/* The `verify` command: one restore drill of every replica now
 * (validate.h).  The reply is the drill's summary: "ok ...", or "error
 * ECORRUPT ..." when a replica differs from the database or is corrupt
 * (walship verify exits 6), "error EIO ..." when one was not compared.
 * The client going away leaves the drill running, unanswered. */
static void ctl_verify_done(void *ctx, enum ws_valid_result r,
                            const char *summary)
{
    ws_ctl_reply(ctx,
                 r == WS_VALID_OK       ? WS_OK
                 : r == WS_VALID_FAILED ? WS_ECORRUPT
                                        : WS_EIO,
                 "%s", summary);
}

static void ctl_verify_gone(struct ws_ctl_conn *c, void *data)
{
    struct dbrep *d = data;

    ws_validator_forget(d->val, c);
}

static void ctl_verify(struct ws_ctl_conn *c, int argc, char **argv,
                       void *ctx)
{
    struct dbrep *d = ctx;

    (void)argv;
    if (argc != 1) {
        ws_ctl_reply(c, WS_EUSAGE, "usage: verify");
        return;
    }
    if (d->val == NULL || d->stopping) {
        ws_ctl_reply(c, WS_EBUSY, "walship replicate is shutting down");
        return;
    }
    ws_ctl_keep(c, ctl_verify_gone, d);
    if (ws_validator_request(d->val, ctl_verify_done, c) != WS_OK)
        ws_ctl_reply(c, WS_EBUSY, "a restore drill of %s is asked for "
                     "already: ask again when it is done (its result is in "
                     "the log)", d->cfg->path);
}

static const struct ws_ctl_cmd ctl_cmds[] = {
    {"sync", ctl_sync},
    {"verify", ctl_verify},
    {NULL, NULL},
};

/* Serve d's endpoint once it replicates (the meta dir is ours then,
 * under its lock); again after a new generation if the meta dir was
 * replaced.  A failure is said once and replication goes on. */
static void ctl_serve(struct dbrep *d, int new_gen)
{
    struct ws_err err = {0};

    if (d->ctl != NULL && new_gen && !ws_ctl_bound(d->ctl)) {
        ws_warn("control endpoint gone db=%s (the meta directory was "
                "replaced): binding it again", d->cfg->path);
        ws_ctl_close(d->ctl, "the control endpoint moved: the meta "
                     "directory was replaced; ask again");
        d->ctl = NULL;
        d->ctl_failed = 0;
    }
    if (d->ctl != NULL || d->ctl_failed)
        return;
    if (ws_ctl_open(&d->dm->loop, d->cfg->meta_path, ctl_cmds, d, &d->ctl,
                    &err) != WS_OK) {
        d->ctl_failed = 1;
        ws_error("control endpoint not served db=%s error=\"%s\"",
                 d->cfg->path, err.msg);
        return;
    }
    ws_debug("control endpoint db=%s socket=%s/%s", d->cfg->path,
             d->cfg->meta_path, WS_CTL_SOCK);
}

/* ---- -once --------------------------------------------------------------- */

/*
 * -once runs the loop as usual until every database has synced once
 * after the start (so the shadow holds everything committed before it)
 * and every replica stands in the current generation with a snapshot,
 * has taken the snapshot -force-snapshot asks for and applied retention
 * when -enforce-retention asks; then it shuts down as on SIGTERM, whose
 * last sync and uploads ship everything to every replica, whatever
 * sync-interval says.  Timers play no part: snapshot-interval is
 * ignored, and the periodic retention does not run.  A database that
 * cannot be synced (missing, an error) stops the run at once; a replica
 * that fails STOP_RETRIES times in a row is given up (rep_fail).  Either
 * is the exit status, naming the database and the replica.
 */

/* After a sync before the shutdown: did it reach the database? */
static void once_synced(struct dbrep *d, const struct ws_db_state *s)
{
    struct daemon *dm = d->dm;

    if (!dm->opts.once || d->stopping)
        return;
    if (d->job_rc == WS_OK && s->ready) {
        d->once_synced = 1;
        return;
    }
    if ((d->job_rc == WS_ECORRUPT && d->corrupt_run == 1) ||
        (ws_is_retryable(d->job_rc) && d->stall.tries < STOP_RETRIES) ||
        dm->fatal.code != WS_OK)
        return; /* a new generation next, a retry, or stopping already */
    if (d->job_rc == WS_OK) {
        ws_err_set(&dm->fatal, WS_ENOTFOUND, "-once: nothing to sync db=%s: "
                   "%s", d->cfg->path, s->wait[0] ? s->wait : "not ready");
    } else {
        dm->fatal = d->job_err;
        ws_err_wrap(&dm->fatal, "-once: sync failed db=%s", d->cfg->path);
    }
    ws_err_at(&dm->fatal, WS_AT_DB);
    unshipped(dm, &dm->fatal, WS_AT_DB);
}

/* 1 when r has what -once needs before the shutdown; starts retention
 * when that is all it still needs. */
static int once_rep_ready(struct rep *r)
{
    struct dbrep *d = r->d;

    if (r->state == R_FAILED)
        return 1;
    if (r->state == R_BACKOFF || !r->inited || !r->has_snapshot ||
        strcmp(r->gen, d->st.gen) != 0 || r->snap_held || r->force_snap ||
        r->snap_why != NULL || r->ret_busy)
        return 0;
    if (!r->ret_done) {
        on_ret_timer(&r->ret_timer);
        return 0;
    }
    return 1;
}

static void once_check(struct daemon *dm)
{
    if (!dm->opts.once || dm->stopping)
        return;
    for (size_t i = 0; i < dm->ndbs; i++) {
        struct dbrep *d = &dm->dbs[i];
        if (!d->once_synced || !d->st.ready)
            return;
        for (size_t k = 0; k < d->nreps; k++)
            if (!once_rep_ready(&d->reps[k]))
                return;
    }
    ws_info("once: every database synced; shipping the rest to every "
            "replica, then exiting");
    on_signal(&dm->sigterm, 0);
}

/* ---- start and stop ---------------------------------------------------- */

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void check_done(struct daemon *dm)
{
    if (dm->closed)
        return;
    for (size_t i = 0; i < dm->ndbs; i++)
        if (!dm->dbs[i].done)
            return;
    dm->closed = 1;
    /* Every database is synced and shipped: close every handle and let
     * uv_run return. */
    ws_httpd_close(dm->httpd);
    dm->httpd = NULL;
    ws_heartbeat_close(dm->hb);
    dm->hb = NULL;
    uv_close((uv_handle_t *)&dm->sigint, close_cb);
    uv_close((uv_handle_t *)&dm->sigterm, close_cb);
    uv_close((uv_handle_t *)&dm->sighup, close_cb);
    uv_close((uv_handle_t *)&dm->shut_timer, close_cb);
    uv_close((uv_handle_t *)&dm->ready_check, close_cb);
    if (dm->reaping)
        ws_child_close(&dm->child, close_cb);
    for (size_t i = 0; i < dm->ndbs; i++) {
        struct dbrep *d = &dm->dbs[i];
        uv_close((uv_handle_t *)&d->poll, close_cb);
        uv_close((uv_handle_t *)&d->kick, close_cb);
        uv_close((uv_handle_t *)&d->ckpt, close_cb);
        uv_close((uv_handle_t *)&d->tick, close_cb);
        uv_close((uv_handle_t *)&d->ev_wal, close_cb);
        uv_close((uv_handle_t *)&d->ev_db, close_cb);
        ws_validator_close(d->val, close_cb);
        uv_close((uv_handle_t *)&d->bar_timer, close_cb);
        ws_ctl_close(d->ctl, "walship replicate is shutting down");
        d->ctl = NULL;
        for (size_t k = 0; k < d->nreps; k++) {
            uv_close((uv_handle_t *)&d->reps[k].timer, close_cb);
            uv_close((uv_handle_t *)&d->reps[k].ret_timer, close_cb);
            ws_slow_close(&d->reps[k].slow, close_cb);
        }
    }
}

/* shutdown-sync-timeout passed: say which database and replica still
 * wait, and stop the loop.  Jobs still in flight on the pool are left to
 * the process's exit, as after a second signal: nothing is lost by it
 * (what the replicas lack stays in the database and its shadow WAL). */
static void on_shut_timeout(uv_timer_t *t)
{
    struct daemon *dm = t->data;
    char lim[32], why[128];

    fmt_ms(dm->cfg->shutdown_sync_timeout_ms, lim, sizeof(lim));
    snprintf(why, sizeof(why), "the final sync did not finish within "
             "shutdown-sync-timeout=%s", lim);
    for (size_t i = 0; i < dm->ndbs; i++) {
        struct dbrep *d = &dm->dbs[i];
        if (d->done)
            continue;
        if (!d->final_synced || d->syncing || d->snapshotting) {
            ws_error("final sync timed out db=%s shutdown-sync-timeout=%s: "
                     "the last copy of the database did not finish; its "
                     "changes are shipped by the next start",
                     d->cfg->path, lim);
            shutdown_lost(dm, d->cfg->path, NULL, WS_EIO, why);
            continue;
        }
        for (size_t k = 0; k < d->nreps; k++) {
            struct rep *r = &d->reps[k];
            if (rep_caught_up(r))
                continue;
            ws_error("final sync timed out db=%s replica=%s "
                     "shutdown-sync-timeout=%s: changes not yet in the "
                     "replica are shipped by the next start",
                     d->cfg->path, r->cfg->name, lim);
            shutdown_lost(dm, d->cfg->path, r->cfg->name, WS_EREMOTE,
                          why);
        }
    }
    dm->failed = 1;
    dm->abandoned = 1;
    uv_stop(&dm->loop);
}

/* Stop new work and start the final sync, bounded by
 * shutdown-sync-timeout (0: unbounded). */
static void shutdown_begin(struct daemon *dm)
{
    int64_t ms = dm->cfg->shutdown_sync_timeout_ms;

    dm->stopping = 1;
    if (ms > 0)
        uv_timer_start(&dm->shut_timer, on_shut_timeout, (uint64_t)ms, 0);
}

/* Under -exec, signals are the application's while it runs: walship
 * forwards them and stops when it exits.  A fatal error (signum 0:
 * another walship holds a database; a replica's refusals are not fatal
 * under -exec, rep_fail) stops it with SIGTERM, once.  1 when the signal
 * was handled so. */
static int app_signal(struct daemon *dm, int signum)
{
    if (!dm->has_child || !dm->child.running)
        return 0;
    if (signum != 0) {
        ws_info("signal forwarded to the application signal=%d pid=%d",
                signum, dm->child.proc.pid);
        ws_child_signal(&dm->child, signum);
    } else if (!dm->child_stopping) {
        dm->child_stopping = 1;
        ws_error("replication cannot go on: stopping the application "
                 "pid=%d signal=%d; walship exits when it has",
                 dm->child.proc.pid, SIGTERM);
        ws_child_signal(&dm->child, SIGTERM);
    }
    return 1;
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct daemon *dm = h->data;

    if (app_signal(dm, signum))
        return;
    if (dm->stopping) {
        if (signum == 0)
            return;
        /* The last syncs and uploads may wait minutes on a server that
         * does not answer: a second signal does not.  Nothing is lost by
         * it: what the replicas do not hold yet stays in the database
         * and its shadow WAL, and the next start ships it. */
        ws_error("second signal, exiting at once signal=%d: changes not "
                 "yet in the replicas are shipped by the next start",
                 signum);
        _exit(1);
    }
    if (signum != 0)
        ws_info("signal received, walship shutting down signal=%d (a "
                "second signal exits at once)", signum);
    if (dm->has_child && !dm->child.started && signum != 0)
        ws_info("the application was not started exec=%s args=%d",
                dm->child.argv[0], dm->child.argc);
    shutdown_begin(dm);
    for (size_t i = 0; i < dm->ndbs; i++) {
        struct dbrep *d = &dm->dbs[i];
        d->stopping = 1;
        uv_timer_stop(&d->poll);
        uv_timer_stop(&d->kick);
        uv_timer_stop(&d->ckpt);
        uv_timer_stop(&d->tick);
        uv_fs_event_stop(&d->ev_wal);
        uv_fs_event_stop(&d->ev_db);
        ws_validator_stop(d->val);
        for (size_t k = 0; k < d->nreps; k++) {
            struct rep *r = &d->reps[k];
            uv_timer_stop(&r->timer);
            uv_timer_stop(&r->ret_timer);
            if (r->state == R_BACKOFF)
                r->state = R_IDLE;
        }
        db_step(d);
    }
    check_done(dm);
}

/* ---- metrics, health and heartbeat -------------------------------------- */

/* The replication lag of r (metrics.h) at wall time now_us, in us: the
 * oldest commit it does not hold is the first commit record past its
 * position (all of them when it is on another generation or has no
 * snapshot yet), or a commit observed in the wal-index and not copied
 * yet, whichever is older. */
static int64_t rep_lag_us(const struct rep *r, int64_t now_us)
{
    const struct dbrep *d = r->d;
    const struct seen_list *seen[2] = {&d->seen, &d->seen_job};
    int64_t t = -1;

    if (d->tl.n > 0) {
        if (r->m_has && strcmp(r->m_gen, d->tl_gen) == 0)
            t = ws_metrics_oldest(d->tl.v, d->tl.n, r->m_index, r->m_offset);
        else
            t = d->tl.v[0].time_us;
    }
    for (int i = 0; i < 2; i++)
        if (seen[i]->n > 0 && (i == 0 || d->syncing) &&
            (t < 0 || seen[i]->v[0].time_us < t))
            t = seen[i]->v[0].time_us;
    return t < 0 || now_us < t ? 0 : now_us - t;
}

/*
 * The health check (health.h), for /healthz (bound: health-sync-timeout)
 * and the heartbeat (bound: its interval).  A problem is a stuck state,
 * as its stall line says it (a database awaited or failing to sync, the
 * spool limit, a replica failing, given up or not answering), a
 * database not replicating yet, or a replica whose lag is past the
 * bound.  Another problem is one more ws_health_fail here.
 */
static void health_check(void *ctx, int64_t bound_ms, struct ws_health *h)
{
    struct daemon *dm = ctx;
    int64_t now_us = ws_wall_us();
    char dur[32];

    for (size_t i = 0; i < dm->ndbs; i++) {
        struct dbrep *d = &dm->dbs[i];
        if (d->stall.on)
            ws_health_fail(h, "%s", d->stall.what);
        else if (!d->st.ready)
            ws_health_fail(h, "not replicating yet db=%s", d->cfg->path);
        if (d->spool.on)
            ws_health_fail(h, "%s", d->spool.what);
        if (d->val &&
            ws_validator_stats(d->val).last == WS_VALID_FAILED)
            ws_health_fail(h, "validation failed db=%s: %s", d->cfg->path,
                           ws_validator_stats(d->val).last_msg);
        for (size_t k = 0; k < d->nreps; k++) {
            struct rep *r = &d->reps[k];
            int64_t lag = rep_lag_us(r, now_us);
            if (r->state == R_FAILED)
                ws_health_fail(h, "replica given up db=%s replica=%s",
                               d->cfg->path, r->cfg->name);
            else if (r->stall.on)
                ws_health_fail(h, "%s", r->stall.what);
            if (r->state == R_BUSY && r->slow.said > 0)
                ws_health_fail(h, "replica not answering db=%s replica=%s "
                               "request=\"%s %s\"", d->cfg->path,
                               r->cfg->name, ws_req_type_name(r->req.type),
                               r->req.key);
            if (lag > bound_ms * 1000) {
                fmt_ms(lag / 1000, dur, sizeof(dur));
                ws_health_fail(h, "replica behind db=%s replica=%s lag=%s: "
                               "the oldest commit it lacks is older than "
                               "%lldms", d->cfg->path, r->cfg->name, dur,
                               (long long)bound_ms);
            }
        }
    }
}

/* /metrics: the counters, and the gauges read now (metrics.h). */
static void metrics_text(struct daemon *dm, struct ws_httpd_body *out)
{
    struct ws_metrics_db *v = calloc(dm->ndbs, sizeof(*v));
    struct ws_metrics_rep *rv;
    size_t nr = 0;
    int64_t now_us = ws_wall_us();
    struct stat sb;

    for (size_t i = 0; i < dm->ndbs; i++)
        nr += dm->dbs[i].nreps;
    rv = calloc(nr ? nr : 1, sizeof(*rv));
    if (v == NULL || rv == NULL) {
        out->failed = 1;
        free(v);
        free(rv);
        return;
    }
    nr = 0;
    for (size_t i = 0; i < dm->ndbs; i++) {
        struct dbrep *d = &dm->dbs[i];
        v[i].path = d->cfg->path;
        v[i].m = &d->m;
        v[i].ready = d->st.ready;
        v[i].db_bytes = stat(d->cfg->path, &sb) == 0 ? sb.st_size : -1;
        v[i].wal_bytes = stat(d->wal_path, &sb) == 0 ? sb.st_size : -1;
        v[i].gen = d->st.gen;
        v[i].index = d->st.index;
        v[i].offset = d->st.size;
        v[i].reps = rv + nr;
        v[i].nreps = d->nreps;
        if (d->val)
            v[i].val = ws_validator_stats(d->val);
        for (size_t k = 0; k < d->nreps; k++, nr++) {
            struct rep *r = &d->reps[k];
            rv[nr].name = r->cfg->name;
            rv[nr].type = r->client->ops->type;
            rv[nr].m = &r->m;
            rv[nr].lag_s = (double)rep_lag_us(r, now_us) / 1e6;
            rv[nr].spool_bytes = rep_spool(r);
        }
    }
    ws_metrics_render(v, dm->ndbs, out);
    free(v);
    free(rv);
}

static void on_http(void *ctx, const char *path, struct ws_httpd_resp *resp)
{
    struct daemon *dm = ctx;
    struct ws_health h;
    int64_t bound = dm->cfg->health_sync_timeout_ms > 0
                        ? dm->cfg->health_sync_timeout_ms
                        : WS_HEALTH_SYNC_TIMEOUT_MS;

    if (strcmp(path, "/metrics") == 0) {
        resp->status = 200;
        resp->content_type = WS_METRICS_CONTENT_TYPE;
        metrics_text(dm, &resp->body);
    } else if (strcmp(path, "/healthz") == 0) {
        ws_health_init(&h);
        health_check(dm, bound, &h);
        resp->status = h.problems > 0 ? 503 : 200;
        if (h.problems > 0)
            resp->body = h.text; /* handed over */
        else
            ws_httpd_printf(&resp->body, "ok\n");
    }
}

/* The metrics server and the heartbeat, when configured. */
static int observers_start(struct daemon *dm, struct ws_err *err)
{
    const struct ws_config *c = dm->cfg;
    int rc = WS_OK;

    if (c->addr != NULL && c->addr[0] != '\0') {
        rc = ws_httpd_start(&dm->loop, c->addr, on_http, dm, &dm->httpd,
                            err);
        if (rc == WS_OK)
            ws_info("serving metrics addr=%s paths=/metrics,/healthz",
                    c->addr);
    }
    if (rc == WS_OK && c->heartbeat_url != NULL &&
        c->heartbeat_url[0] != '\0') {
        int64_t iv = c->heartbeat_interval_ms > 0
                         ? c->heartbeat_interval_ms
                         : WS_HEARTBEAT_INTERVAL_MS;
        rc = ws_heartbeat_start(&dm->loop, c->heartbeat_url, iv,
                                health_check, dm, &dm->hb, err);
        if (rc == WS_OK)
            ws_info("heartbeat on interval=%lldms", (long long)iv);
    }
    return rc;
}

/* ---- the application (-exec) ------------------------------------------- */

/* Replication is ready for the application once every database has
 * synced and each of its replicas holds a snapshot of its generation, or
 * a stall is said of it (the database is awaited, its syncs fail, a
 * replica's uploads fail, or its request is said not answered): an
 * outage is waited out loudly, beside the application, never in front
 * of it. */
static int db_ready(const struct dbrep *d)
{
    if (d->stall.on)
        return 1;
    if (d->syncs == 0 || !d->st.ready)
        return 0;
    for (size_t i = 0; i < d->nreps; i++) {
        const struct rep *r = &d->reps[i];
        if (r->state == R_FAILED || r->stall.on || r->slow.said > 0)
            continue;
        if (!r->inited || !r->has_snapshot || strcmp(r->gen, d->st.gen) != 0)
            return 0;
    }
    return 1;
}

static void on_app_exit(struct ws_child *c)
{
    struct daemon *dm = c->data;

    dm->child_status = c->status;
    if (c->term_signal != 0)
        ws_info("application exited pid=%d signal=%d status=%d: walship "
                "shutting down", c->proc.pid, c->term_signal, c->status);
    else
        ws_info("application exited pid=%d status=%d: walship shutting "
                "down", c->proc.pid, c->status);
    on_signal(&dm->sigterm, 0);
}

/* After each turn of the loop until the application is started: start
 * it once replication is ready.  One that cannot be started stops
 * walship (after the final sync), as a fatal error. */
static void on_ready_check(uv_check_t *h)
{
    struct daemon *dm = h->data;
    int rc;

    if (dm->stopping) {
        uv_check_stop(h);
        return;
    }
    for (size_t i = 0; i < dm->ndbs; i++)
        if (!db_ready(&dm->dbs[i]))
            return;
    uv_check_stop(h);
    rc = ws_child_start(&dm->child, &dm->child_err);
    if (rc != WS_OK) {
        /* The reason is the command's exit line (main.c). */
        ws_error("the application could not be started: walship shutting "
                 "down");
        on_signal(&dm->sigterm, 0);
        return;
    }
    ws_info("replication ready, application started pid=%d exec=%s "
            "args=%d", dm->child.proc.pid, dm->child.argv[0],
            dm->child.argc);
}

/* A directory replica that exists must pass the directory rule (fs.h)
 * at start: one that others can write to, another user's, or one reached
 * through a link someone else could swap can never work, so it is an
 * error now, not after the first uploads are refused.  A missing one is
 * made by the first upload, and what is in the way of making it is said
 * by the uploads' own errors. */
static int replica_dir_usable(const char *path, struct ws_err *err)
{
    struct ws_fs_dir dir;
    struct stat st;
    int rc;

    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return WS_OK;
    rc = ws_fs_dir_open(&dir, path, 0, 0, NULL, err);
    ws_fs_dir_close(&dir);
    if (rc == WS_ENOTFOUND) {
        ws_err_clear(err);
        return WS_OK;
    }
    return rc;
}

/* ---- restore drills (validate.h) ---------------------------------------- */

static void val_kick(void *ctx)
{
    struct dbrep *d = ctx;

    d->dirty = 1;
    db_step(d);
}

static int val_rep_pos(void *ctx, size_t k, const char **gen,
                       uint32_t *index, uint64_t *offset)
{
    struct dbrep *d = ctx;
    const struct rep *r;

    if (k >= d->nreps || !d->reps[k].inited || !d->reps[k].has_snapshot)
        return 0;
    r = &d->reps[k];
    *gen = r->gen;
    *index = r->index;
    *offset = r->offset;
    return 1;
}

static int setup_db(struct daemon *dm, struct dbrep *d,
                    const struct ws_db_config *c, struct ws_err *err)
{
    struct ws_validate_hooks vh = {d, val_kick, val_rep_pos};
    int rc;

    d->dm = dm;
    d->cfg = c;
    uv_timer_init(&dm->loop, &d->poll);
    uv_timer_init(&dm->loop, &d->kick);
    uv_timer_init(&dm->loop, &d->ckpt);
    uv_timer_init(&dm->loop, &d->tick);
    uv_fs_event_init(&dm->loop, &d->ev_wal);
    uv_fs_event_init(&dm->loop, &d->ev_db);
    uv_timer_init(&dm->loop, &d->bar_timer);
    d->bar_timer.data = d;
    d->poll.data = d->kick.data = d->ckpt.data = d->tick.data = d;
    d->ev_wal.data = d->ev_db.data = d;
    d->wal_path = malloc(strlen(c->path) + 5);
    if (d->wal_path == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    snprintf(d->wal_path, strlen(c->path) + 5, "%s-wal", c->path);
    rc = ws_db_new(c, &d->db, err);
    if (rc != WS_OK)
        return rc;
    d->reps = calloc(c->nreplicas ? c->nreplicas : 1, sizeof(*d->reps));
    d->bar_reps = calloc(c->nreplicas ? c->nreplicas : 1,
                         sizeof(*d->bar_reps));
    if (d->reps == NULL || d->bar_reps == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    d->spacing_ms = SYNC_SPACING_MS;
    for (size_t k = 0; k < c->nreplicas; k++) {
        struct rep *r = &d->reps[k];
        char desc[512];
        r->d = d;
        r->cfg = &c->replicas[k];
        if (r->cfg->sync_interval_ms < d->spacing_ms)
            d->spacing_ms = r->cfg->sync_interval_ms;
        r->tail_fd = -1;
        r->ret_lock = -1;
        uv_timer_init(&dm->loop, &r->timer);
        uv_timer_init(&dm->loop, &r->ret_timer);
        ws_slow_init(&dm->loop, &r->slow, on_slow, r);
        r->timer.data = r->ret_timer.data = r;
        /* -once applies retention only when asked, once (once_check). */
        r->ret_done = !dm->opts.enforce_retention || r->cfg->retention_ms <= 0;
        if (dm->opts.force_snapshot) {
            r->force_snap = 1;
            r->force_why = "-force-snapshot";
        }
        if (r->cfg->retention_ms > 0 && !dm->opts.once) {
            int64_t iv = r->cfg->retention_check_interval_ms;
            if (iv <= 0 || iv > r->cfg->retention_ms)
                iv = r->cfg->retention_ms;
            uv_timer_start(&r->ret_timer, on_ret_timer, (uint64_t)iv,
                           (uint64_t)iv);
        }
        d->nreps++;
        rc = ws_replica_open(&dm->loop, r->cfg, &r->client, err);
        if (rc == WS_OK && strcmp(r->client->ops->type, "file") == 0)
            rc = replica_dir_usable(r->cfg->path, err);
        if (rc != WS_OK)
            return rc;
        r->client->ops->describe(r->client, desc, sizeof(desc));
        ws_info("replicating to name=%s type=%s sync-interval=%lldms %s "
                "db=%s", r->cfg->name, r->client->ops->type,
                (long long)r->cfg->sync_interval_ms, desc, c->path);
    }
    /* -once ends before a drill could (walship verify is the drill of a
     * one-shot run). */
    if (!dm->opts.once) {
        rc = ws_validator_new(&dm->loop, c, &vh, &d->val, err);
        if (rc != WS_OK)
            return rc;
    }
    d->dirty = 1;
    ws_info("initialized db=%s", c->path);
    poll_pace(d);
    return WS_OK;
}

/* Leave the proof a restart on an unchanged database needs (db.h). */
static void park(struct dbrep *d)
{
    struct ws_err e = {0};
    int parked = 0;

    if (ws_db_park(d->db, &parked, &e) != WS_OK)
        ws_warn("stop: cannot record the database's state db=%s error=\"%s\""
                ": the next start begins a new generation unless its -wal "
                "proves continuity", d->cfg->path, e.msg);
    else if (parked)
        ws_debug("stop: database state recorded db=%s", d->cfg->path);
}

static void teardown(struct daemon *dm)
{
    for (size_t i = 0; i < dm->ndbs; i++) {
        struct dbrep *d = &dm->dbs[i];
        for (size_t k = 0; k < d->nreps; k++) {
            ws_replica_free(d->reps[k].client);
            free(d->reps[k].job_path);
            ws_tlist_free(&d->reps[k].tjob);
            stale_free(&d->reps[k]);
        }
        free(d->reps);
        free(d->bar_reps);
        free(d->seen.v);
        free(d->seen_job.v);
        free(d->wal_path);
        ws_tlist_free(&d->tl);
        ws_validator_free(d->val);
        park(d);
        ws_db_free(d->db);
    }
    free(dm->dbs);
}

static void signal_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

void ws_daemon_hold_signals(void)
{
    sigset_t set;

    signal_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int ws_daemon_run(const struct ws_config *cfg, const struct ws_daemon_opts *o,
                  struct ws_daemon_end *end, struct ws_err *err)
{
    struct daemon dm;
    sigset_t set;
    int rc = WS_OK;

    memset(&dm, 0, sizeof(dm));
    dm.cfg = cfg;
    if (o != NULL)
        dm.opts = *o;
    dm.child_status = -1;
    end->app_status = -1;
    end->abandoned = 0;
    ws_daemon_hold_signals();
    signal(SIGPIPE, SIG_IGN);
    /* One malloc arena for every thread: glibc would give each pool
     * thread its own, keeping what that thread frees (the buffers of a
     * copy, an upload, a checkpoint) resident for it alone.  The threads
     * allocate a few times per copy, so sharing costs nothing. */
    mallopt(M_ARENA_MAX, 1);
    ws_db_configure();
    if (uv_loop_init(&dm.loop) != 0)
        return ws_err_set(err, WS_EIO, "cannot start the event loop");
    dm.dbs = calloc(cfg->ndbs ? cfg->ndbs : 1, sizeof(*dm.dbs));
    if (dm.dbs == NULL)
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    for (size_t i = 0; rc == WS_OK && i < cfg->ndbs; i++) {
        rc = setup_db(&dm, &dm.dbs[i], &cfg->dbs[i], err);
        dm.ndbs++;
    }
    if (rc == WS_OK && cfg->ndbs == 0) /* config.c refuses it already */
        rc = ws_err_set(err, WS_ECONFIG,
                        "no databases specified in configuration");
    if (rc == WS_OK)
        rc = observers_start(&dm, err);
    uv_signal_init(&dm.loop, &dm.sigint);
    uv_signal_init(&dm.loop, &dm.sigterm);
    uv_signal_init(&dm.loop, &dm.sighup);
    uv_timer_init(&dm.loop, &dm.shut_timer);
    uv_check_init(&dm.loop, &dm.ready_check);
    dm.sigint.data = dm.sigterm.data = dm.sighup.data = &dm;
    dm.shut_timer.data = dm.ready_check.data = &dm;
    /* PID 1 reaps orphans even with no application to run (child.h). */
    if (rc == WS_OK && (cfg->exec != NULL || getpid() == 1)) {
        rc = ws_child_init(&dm.child, &dm.loop, cfg->exec, on_app_exit, &dm,
                           err);
        dm.reaping = rc == WS_OK;
        dm.has_child = dm.reaping && cfg->exec != NULL;
    }
    if (rc == WS_OK) {
        uv_signal_start(&dm.sigint, on_signal, SIGINT);
        uv_signal_start(&dm.sigterm, on_signal, SIGTERM);
        /* Without -exec, SIGHUP (a closed terminal) is a SIGTERM. */
        uv_signal_start(&dm.sighup, on_signal, SIGHUP);
        /* The loop takes them now, one held since the start included. */
        signal_set(&set);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        if (dm.has_child)
            uv_check_start(&dm.ready_check, on_ready_check);
        for (size_t i = 0; i < dm.ndbs; i++)
            db_step(&dm.dbs[i]);
        uv_run(&dm.loop, UV_RUN_DEFAULT);
        if (dm.abandoned) {
            /* Jobs may still run on the pool: exit without tearing down
             * what they use (on_shut_timeout). */
            end->abandoned = 1;
            rc = ws_err_set(err, dm.lost.code, "%s", dm.lost.msg);
            return ws_err_at(err, dm.lost.at);
        }
        if (dm.fatal.code != WS_OK) {
            rc = ws_err_set(err, dm.fatal.code, "%s", dm.fatal.msg);
            ws_err_at(err, dm.fatal.at);
        } else if (dm.lost.code != WS_OK) {
            rc = ws_err_set(err, dm.lost.code, "%s", dm.lost.msg);
            ws_err_at(err, dm.lost.at);
        } else if (dm.failed) {
            /* The first cause's kind gives the exit status. */
            rc = ws_err_set(err, dm.failure.code != WS_OK ? dm.failure.code
                                                          : WS_EREMOTE,
                            "shut down with unshipped changes: see the "
                            "errors above");
            ws_err_at(err, dm.failure.at);
        } else if (dm.ret_failed && dm.opts.enforce_retention) {
            rc = ws_err_set(err, WS_EREMOTE, "-enforce-retention: "
                            "retention failed: see the errors above");
            ws_err_at(err, WS_AT_REPLICA);
        } else if (dm.child_err.code != WS_OK) {
            rc = ws_err_set(err, dm.child_err.code, "%s", dm.child_err.msg);
            ws_err_at(err, dm.child_err.at);
        } else if (dm.opts.once) {
            ws_info("once: done: everything committed before the start is "
                    "in every replica");
        } else {
            ws_info("walship shut down");
        }
        end->app_status = dm.child_status;
    } else {
        /* Nothing started: close what was initialised and drain. */
        for (size_t i = 0; i < dm.ndbs; i++)
            dm.dbs[i].done = 1;
        check_done(&dm);
        uv_run(&dm.loop, UV_RUN_DEFAULT);
    }
    teardown(&dm);
    /* Backends may close handles of their own while being freed. */
    uv_run(&dm.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&dm.loop) != 0 && rc == WS_OK)
        rc = ws_err_set(err, WS_EIO, "event loop did not close cleanly");
    return rc;
}
