/*
 * daemon.c: the replication loop (daemon.h), the room that owns the
 * databases.
 *
 * It decides when each database (struct dbrep) syncs: one sync job at a
 * time on the thread pool (ws_db_sync, db.h), when the database is dirty
 * and its pace allows (next_sync_ms), never while a replica's snapshot
 * holds syncs (snapshotting), and once more, the last time, at shutdown.
 * Its states are those flags: syncing, snapshotting, dirty, and at
 * shutdown stopping, final_synced, then done.  The other rooms change
 * them and call ws_daemon_step(), the one step function, which starts
 * the sync that is due or arms the kick timer for it; at shutdown it
 * waits for the last sync and for every replica to catch up, then
 * closes the loop (check_done).
 *
 * What enters it: the sync job's completion (on_sync_done, which hands
 * its results to the watcher, the shippers, the barrier and the drills),
 * the kick and checkpoint timers, shutdown-sync-timeout, and every stop,
 * whatever its cause (enum stop_why: a signal, a fatal error, -once's
 * end, the application's exit), through ws_daemon_shutdown().  It
 * also sets up and tears down every room's state (setup_db, teardown),
 * and says stalls (ws_daemon_stall_on/off: when a state in which
 * walship cannot make progress begins, at a slowing pace while it
 * lasts, and when it ends).
 */
#include "ws/daemon_int.h"
#include "ws/fs.h"
#include "ws/inspect.h"

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKOFF_FIRST_MS 1000 /* a failed sync is tried again after this, */
#define WAIT_POLL_MS 1000     /* a missing database looked for this often
                               * when monitor-interval is 0 */
#define SYNC_SPACING_MS 250   /* copies at most this often while writes go
                               * on (watch.c) */

/* Something committed will not be shipped, because of e (at the database
 * or at a replica, when e does not say): the first cause gives the exit
 * status its kind. */
void ws_daemon_unshipped(struct daemon *dm, const struct ws_err *e, int at)
{
    if (!dm->failed) {
        dm->failure = *e;
        ws_err_at(&dm->failure, at);
    }
    dm->failed = 1;
}

/* Something committed will not be in a replica when walship exits (the
 * final sync failed, gave up or timed out): the exit status says so, and
 * its message names the first database and replica it happened to. */
void ws_daemon_lost(struct daemon *dm, const char *db, const char *replica,
                    int code, const char *why)
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

/* Where the slowest replica stands in the current index: 0 when one is
 * in an earlier index, in another generation, without its snapshot or
 * not yet known (it may need the whole index). */
static uint64_t keep_off(struct dbrep *d)
{
    uint64_t lo = UINT64_MAX;

    for (size_t i = 0; i < d->nreps; i++) {
        struct rep *r = &d->reps[i];
        if (r->state == R_FAILED)
            continue;
        if (!r->inited || !r->has_snapshot || strcmp(r->gen, d->st.gen) != 0 ||
            r->index != d->st.index)
            return 0;
        if (r->offset < lo)
            lo = r->offset;
    }
    return lo == UINT64_MAX ? 0 : lo;
}

/* Shadow WAL bytes the slowest replica has not shipped yet. */
static int64_t spool_bytes(const struct dbrep *d)
{
    int64_t worst = 0;

    for (size_t i = 0; i < d->nreps; i++)
        if (d->reps[i].state != R_FAILED && ws_ship_spool(&d->reps[i]) > worst)
            worst = ws_ship_spool(&d->reps[i]);
    return worst;
}

static void on_sync_work(uv_work_t *w)
{
    struct dbrep *d = w->data;

    ws_err_clear(&d->job_err);
    d->job_rc = ws_db_sync(d->db, &d->job_opts, &d->job_st, &d->job_err);
}

/* Causes (stall.h) of a database's stalls.  A replica's cause is the job
 * that failed (J_*): the state ends when a job of that kind works (a
 * snapshot's, not the small record before it), or any job after a
 * failed listing or download. */
enum { K_WAIT, K_SYNC, K_SPOOL };

void ws_daemon_fmt_ms(int64_t ms, char *buf, size_t n)
{
    ws_duration_format(ws_lag_truncate(ms * 1000000), buf, n);
}

/* Log what a note (stall.h) says, at level for BEGIN and AGAIN, with
 * tail (how walship waits) after the cause; END is INFO. */
static void stall_log(struct ws_stall_note n, enum ws_log_level level,
                      const char *tail)
{
    char lasted[32];

    ws_daemon_fmt_ms(n.lasted_ms, lasted, sizeof(lasted));
    if (n.say == WS_STALL_BEGIN)
        ws_log(level, "stalled: %s%s", n.what, tail);
    else if (n.say == WS_STALL_AGAIN)
        ws_log(level, "still stalled after %s: %s%s", lasted, n.what, tail);
    else if (n.say == WS_STALL_END)
        ws_info("no longer stalled after %s: %s", lasted, n.what);
}

int64_t ws_daemon_stall_on(struct ws_stall *s, int kind,
                           enum ws_log_level level, const char *prefix,
                           int64_t ms, const char *fmt, ...)
{
    char what[WS_ERR_MSG], tail[96], dur[32];
    va_list ap;

    va_start(ap, fmt);
    ws_log_vformat(what, sizeof(what), fmt, ap);
    va_end(ap);
    ws_daemon_fmt_ms(ms, dur, sizeof(dur));
    snprintf(tail, sizeof(tail), " %sretry_in=%s", prefix, dur);
    stall_log(ws_stall_on(s, kind, what, ws_now_ms()), level,
              ms >= 0 ? tail : "");
    return ms;
}

void ws_daemon_stall_off(struct ws_stall *s)
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
        ws_daemon_unshipped(d->dm, &d->job_err, WS_AT_DB);
        d->final_synced = 1;
        return;
    }
    if (rc == WS_OK)
        d->corrupt_run = 0;
    if (d->stopping) {
        /* The last sync may end a stall too: say so. */
        if (rc == WS_OK && s->ready && !s->wait[0])
            ws_daemon_stall_off(&d->stall);
        return;
    }
    if (rc == WS_OK && s->wait[0]) {
        /* Looked for again at the poll (a file that appears has no
         * event of its own to wake walship). */
        d->next_sync_ms =
            now + ws_daemon_stall_on(&d->stall, K_WAIT, WS_LOG_WARN, "",
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
        d->next_sync_ms =
            now + ws_daemon_stall_on(&d->stall, K_SYNC, WS_LOG_ERROR, "", ms,
                                     "sync error db=%s error=\"%s\"",
                                     d->cfg->path, d->job_err.msg);
    } else if (s->ready) {
        ws_daemon_stall_off(&d->stall);
    }
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
    ws_watch_seen_return(d);
    if (s->replaced)
        ws_watch_replaced(d);
    if (s->stale_wal[0])
        ws_info("database replaced db=%s: %s", d->cfg->path, s->stale_wal);
    if (s->new_gen)
        ws_info("sync: new generation db=%s generation=%s reason=\"%s\"",
                d->cfg->path, s->gen, s->reason);
    if (s->mode_was[0])
        ws_info("switched the database back to WAL mode db=%s "
                "journal_mode=%s: %s", d->cfg->path, s->mode_was,
                s->new_gen && strcmp(s->reason, "database replaced") == 0
                    ? "the file put in its place was in that mode"
                    : "it was changed while walship was not running");
    if (s->resumed)
        ws_info("sync: continuing the restored position db=%s "
                "generation=%s index=%08x (the database is unchanged since "
                "the restore)", d->cfg->path, s->gen, s->index);
    if (s->continued)
        ws_info("sync: continuing the generation db=%s generation=%s "
                "index=%08x offset=%llu",
                d->cfg->path, s->gen, s->index,
                (unsigned long long)(s->have_hdr ? s->size : 0));
    if (s->checkpoint)
        ws_debug("checkpoint db=%s mode=%s", d->cfg->path, s->checkpoint);
    if (s->copied > 0 || s->new_gen)
        d->next_sync_ms = ws_now_ms() + d->spacing_ms;
    sync_outcome(d, s);
    ws_serve_once_synced(d, s);
    if (s->exists)
        ws_ship_times_take(d, s);
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
         * copy (ws_daemon_step starts the last one now). */
        d->final_synced = 1;
        if (d->job_rc != WS_OK && s->exists)
            ws_daemon_lost(d->dm, d->cfg->path, NULL, d->job_err.code,
                           d->job_err.msg);
    }
    if (d->st.ready && !d->events_on && !d->stopping)
        ws_watch_arm(d);
    if (d->st.ready && !d->stopping)
        ws_serve_ctl(d, s->new_gen);
    ws_serve_barrier_synced(d);
    for (size_t i = 0; i < d->nreps; i++)
        ws_ship_step(&d->reps[i]);
    ws_validator_synced(d->val);
    if (d->dm->fatal.code != WS_OK && d->dm->phase == DM_RUNNING)
        ws_daemon_shutdown(d->dm, STOP_FATAL, 0);
    else
        ws_daemon_step(d);
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
    d->job_opts.keep_off = keep_off(d);
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
        ws_daemon_stall_on(
            &d->spool, K_SPOOL, WS_LOG_ERROR, "", -1,
            "spool limit reached db=%s spool=%lld max-spool-size=%lld: "
            "holding new frames in the database's -wal (it will grow) "
            "until the replicas catch up",
            d->cfg->path, (long long)spool_bytes(d),
            (long long)d->cfg->max_spool_bytes);
    } else if (!d->stopping) {
        ws_daemon_stall_off(&d->spool);
    }
    d->work.data = d;
    if (uv_queue_work(&d->dm->loop, &d->work, on_sync_work,
                      on_sync_done) != 0) {
        d->syncing = 0;
        d->dirty = 1;
        ws_watch_seen_return(d);
        ws_validator_synced(d->val);
        d->next_sync_ms =
            ws_now_ms() + ws_daemon_stall_on(&d->stall, K_SYNC, WS_LOG_ERROR,
                                             "", BACKOFF_FIRST_MS,
                                             "sync error db=%s "
                                             "error=\"cannot queue work\"",
                                             d->cfg->path);
        ws_daemon_step(d);
    }
}

static void check_done(struct daemon *dm);

static void on_kick(uv_timer_t *t)
{
    ws_daemon_step(t->data);
}

/* A checkpoint the database asked for once writes paused (ws_db_state's
 * ckpt_due_ms): the sync that takes it. */
static void on_ckpt(uv_timer_t *t)
{
    struct dbrep *d = t->data;

    d->dirty = 1;
    ws_daemon_step(d);
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

void ws_daemon_step(struct dbrep *d)
{
    int64_t now;

    ws_serve_once_check(d->dm);
    if (d->syncing || d->snapshotting || d->done)
        return;
    if (d->stopping) {
        if (!d->final_synced) {
            start_sync(d);
            return;
        }
        if (ws_ship_db_caught_up(d)) {
            ws_serve_barrier_check(d);
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

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

/* Close a database's handles (those setup_db got to, when it failed
 * part-way). */
static void close_db(struct dbrep *d)
{
    uv_close((uv_handle_t *)&d->poll, close_cb);
    uv_close((uv_handle_t *)&d->kick, close_cb);
    uv_close((uv_handle_t *)&d->ckpt, close_cb);
    uv_close((uv_handle_t *)&d->tick, close_cb);
    uv_close((uv_handle_t *)&d->ev_wal, close_cb);
    uv_close((uv_handle_t *)&d->ev_db, close_cb);
    if (d->val != NULL)
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

static void check_done(struct daemon *dm)
{
    if (dm->phase == DM_CLOSING)
        return;
    for (size_t i = 0; i < dm->ndbs; i++)
        if (!dm->dbs[i]->done)
            return;
    dm->phase = DM_CLOSING;
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
    for (size_t i = 0; i < dm->ndbs; i++)
        close_db(dm->dbs[i]);
    ws_dirwatch_close(dm);
}

/* shutdown-sync-timeout passed: say which database and replica still
 * wait, and stop the loop.  Jobs still in flight on the pool are left to
 * the process's exit, as after a second signal: nothing is lost by it
 * (what the replicas lack stays in the database and its shadow WAL). */
static void on_shut_timeout(uv_timer_t *t)
{
    struct daemon *dm = t->data;
    char lim[32], why[128];

    ws_daemon_fmt_ms(dm->cfg->shutdown_sync_timeout_ms, lim, sizeof(lim));
    snprintf(why, sizeof(why), "the final sync did not finish within "
             "shutdown-sync-timeout=%s", lim);
    for (size_t i = 0; i < dm->ndbs; i++) {
        struct dbrep *d = dm->dbs[i];
        if (d->done)
            continue;
        if (!d->final_synced || d->syncing || d->snapshotting) {
            ws_error("final sync timed out db=%s shutdown-sync-timeout=%s: "
                     "the last copy of the database did not finish; its "
                     "changes are shipped by the next start",
                     d->cfg->path, lim);
            ws_daemon_lost(dm, d->cfg->path, NULL, WS_EIO, why);
            continue;
        }
        for (size_t k = 0; k < d->nreps; k++) {
            struct rep *r = &d->reps[k];
            if (ws_ship_caught_up(r))
                continue;
            ws_error("final sync timed out db=%s replica=%s "
                     "shutdown-sync-timeout=%s: changes not yet in the "
                     "replica are shipped by the next start",
                     d->cfg->path, r->cfg->name, lim);
            ws_daemon_lost(dm, d->cfg->path, r->cfg->name, WS_EREMOTE, why);
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

    dm->phase = DM_STOPPING;
    if (ms > 0)
        uv_timer_start(&dm->shut_timer, on_shut_timeout, (uint64_t)ms, 0);
}

/* Say why the daemon stops, for the causes that have more to say than
 * the exit line (a fatal error's reason is the command's exit line,
 * main.c; a signal is said once it is known not to be the
 * application's). */
static void shutdown_say(struct daemon *dm, enum stop_why why)
{
    const struct ws_child *c = &dm->child;

    if (why == STOP_ONCE)
        ws_info("once: every database synced; shipping the rest to every "
                "replica, then exiting");
    else if (why == STOP_APP_EXIT && c->term_signal != 0)
        ws_info("application exited pid=%d signal=%d status=%d: walship "
                "shutting down", c->proc.pid, c->term_signal, c->status);
    else if (why == STOP_APP_EXIT)
        ws_info("application exited pid=%d status=%d: walship shutting "
                "down", c->proc.pid, c->status);
    else if (why == STOP_APP_START) /* the reason: the exit line */
        ws_error("the application could not be started: walship shutting "
                 "down");
}

void ws_daemon_shutdown(struct daemon *dm, enum stop_why why, int signum)
{
    if (why != STOP_SIGNAL)
        signum = 0;
    shutdown_say(dm, why);
    if (ws_app_signal(dm, signum))
        return;
    if (dm->phase != DM_RUNNING) {
        if (why != STOP_SIGNAL)
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
    if (why == STOP_SIGNAL)
        ws_info("signal received, walship shutting down signal=%d (a "
                "second signal exits at once)", signum);
    if (why == STOP_SIGNAL && dm->has_child && !dm->child.started)
        ws_info("the application was not started exec=%s args=%d",
                dm->child.argv[0], dm->child.argc);
    shutdown_begin(dm);
    for (size_t i = 0; i < dm->ndbs; i++) {
        struct dbrep *d = dm->dbs[i];
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
        ws_daemon_step(d);
    }
    check_done(dm);
}

static void on_signal(uv_signal_t *h, int signum)
{
    ws_daemon_shutdown(h->data, STOP_SIGNAL, signum);
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

static int setup_db(struct daemon *dm, struct dbrep *d,
                    const struct ws_db_config *c, struct ws_err *err)
{
    struct ws_validate_hooks vh = {d, ws_serve_val_kick, ws_serve_val_rep_pos};
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
        r->ret_lock = -1;
        uv_timer_init(&dm->loop, &r->timer);
        uv_timer_init(&dm->loop, &r->ret_timer);
        ws_slow_init(&dm->loop, &r->slow, ws_ship_on_slow, r);
        r->timer.data = r->ret_timer.data = r;
        /* -once applies retention only when asked, once
         * (ws_serve_once_check). */
        r->ret_done = !dm->opts.enforce_retention || r->cfg->retention_ms <= 0;
        if (dm->opts.force_snapshot) {
            r->force_snap = 1;
            r->force_why = "-force-snapshot";
        }
        if (r->cfg->retention_ms > 0 && !dm->opts.once) {
            int64_t iv = r->cfg->retention_check_interval_ms;
            if (iv <= 0 || iv > r->cfg->retention_ms)
                iv = r->cfg->retention_ms;
            uv_timer_start(&r->ret_timer, ws_retain_on_timer, (uint64_t)iv,
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
    ws_watch_pace(d);
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

/* Free a database whose handles are closed (parked first when it ran). */
static void free_db(struct dbrep *d, int ran)
{
    for (size_t k = 0; k < d->nreps; k++) {
        ws_replica_free(d->reps[k].client);
        free(d->reps[k].job_path);
        ws_tlist_free(&d->reps[k].tjob);
        ws_ship_stale_free(&d->reps[k]);
        ws_ship_tail_free(&d->reps[k]);
    }
    free(d->reps);
    free(d->bar_reps);
    free(d->seen.v);
    free(d->seen_job.v);
    free(d->wal_path);
    ws_tlist_free(&d->tl);
    ws_validator_free(d->val);
    if (ran && d->db != NULL)
        park(d);
    ws_db_free(d->db);
    free(d);
}

static void teardown(struct daemon *dm)
{
    for (size_t i = 0; i < dm->ndbs; i++)
        free_db(dm->dbs[i], 1);
    free(dm->dbs);
    for (size_t i = 0; i < dm->ndead; i++)
        free_db(dm->dead[i], 0);
    free(dm->dead);
    for (size_t i = 0; i < dm->nown_cfgs; i++)
        ws_config_db_free(dm->own_cfgs[i]);
    free(dm->own_cfgs);
    ws_dirwatch_free(dm);
}

/* A new database, zeroed, with room kept for it in dm->dbs (the caller
 * puts it there); NULL when out of memory. */
static struct dbrep *new_db(struct daemon *dm)
{
    if (dm->ndbs == dm->cap_dbs) {
        size_t cap = dm->cap_dbs ? dm->cap_dbs * 2 : 8;
        struct dbrep **v = realloc(dm->dbs, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        dm->dbs = v;
        dm->cap_dbs = cap;
    }
    return calloc(1, sizeof(struct dbrep));
}

int ws_daemon_add_db(struct daemon *dm, struct ws_db_config *c,
                     struct ws_err *err)
{
    struct ws_db_config **oc;
    struct dbrep *d;
    int rc;

    oc = realloc(dm->own_cfgs, (dm->nown_cfgs + 1) * sizeof(*oc));
    if (oc == NULL) {
        ws_config_db_free(c);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    dm->own_cfgs = oc;
    oc[dm->nown_cfgs++] = c;
    if ((d = new_db(dm)) == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = setup_db(dm, d, c, err);
    if (rc != WS_OK) {
        /* Its handles close now; it is freed at teardown. */
        struct dbrep **v = realloc(dm->dead, (dm->ndead + 1) * sizeof(*v));
        close_db(d);
        if (v == NULL) {
            ws_err_set(err, WS_ENOMEM, "out of memory");
            return rc; /* left: the process exits soon without memory */
        }
        dm->dead = v;
        v[dm->ndead++] = d;
        return rc;
    }
    dm->dbs[dm->ndbs++] = d;
    ws_daemon_step(d);
    return WS_OK;
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
    /* Blocks of 1 MiB or more (upload parts, LZ4 blocks, snapshot reads)
     * are mapped and unmapped on their own.  glibc's threshold would
     * otherwise rise to the largest block freed, and from then on such
     * blocks come from the heap and stay resident: the first large
     * snapshot would raise RSS for good. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    if (uv_loop_init(&dm.loop) != 0)
        return ws_err_set(err, WS_EIO, "cannot start the event loop");
    for (size_t i = 0; rc == WS_OK && i < cfg->ndbs; i++) {
        struct dbrep *d = new_db(&dm);
        if (d == NULL) {
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
            break;
        }
        dm.dbs[dm.ndbs++] = d;
        rc = setup_db(&dm, d, &cfg->dbs[i], err);
    }
    if (rc == WS_OK)
        rc = ws_dirwatch_start(&dm, err);
    if (rc == WS_OK && cfg->ndbs == 0 && dm.ndirw == 0) /* refused before */
        rc = ws_err_set(err, WS_ECONFIG,
                        "no databases specified in configuration");
    if (rc == WS_OK)
        rc = ws_serve_observers_start(&dm, err);
    uv_signal_init(&dm.loop, &dm.sigint);
    uv_signal_init(&dm.loop, &dm.sigterm);
    uv_signal_init(&dm.loop, &dm.sighup);
    uv_timer_init(&dm.loop, &dm.shut_timer);
    uv_check_init(&dm.loop, &dm.ready_check);
    dm.sigint.data = dm.sigterm.data = dm.sighup.data = &dm;
    dm.shut_timer.data = dm.ready_check.data = &dm;
    /* PID 1 reaps orphans even with no application to run (child.h). */
    if (rc == WS_OK && (cfg->exec != NULL || getpid() == 1)) {
        rc = ws_child_init(&dm.child, &dm.loop, cfg->exec, ws_app_on_exit, &dm,
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
            uv_check_start(&dm.ready_check, ws_app_on_ready);
        for (size_t i = 0; i < dm.ndbs; i++)
            ws_daemon_step(dm.dbs[i]);
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
            dm.dbs[i]->done = 1;
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
