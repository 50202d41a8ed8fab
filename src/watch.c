/*
 * watch.c: change detection, the room that decides when a database is
 * dirty (has changes to copy) and when its copy is due.
 *
 * While the database is quiet, file events (inotify) on it and its -wal
 * wake walship; a change makes it dirty, and the first one after a
 * quiet period is copied at once, so that a lone commit ships without
 * delay.  The event also makes the database "active": the watches are
 * stopped and SQLite's wal-index header is read every TICK_MS instead
 * (observe(): one pread), which tells which commits are published and
 * when, and so gives every commit its time (db.h) without a wake-up per
 * write.  After TICKS_QUIET ticks without a new commit the watches are
 * put back, and one more copy picks up whatever was written meanwhile.
 * Copies are paced SYNC_SPACING_MS apart (daemon.c; or the shortest
 * replica sync-interval, if shorter: a user who asks for 100 ms gets
 * copies that often), plus one right before each upload (ws_ship_step),
 * so that a segment holds all that was committed by then, and one as
 * soon as the backlog reaches the checkpoint threshold.  Each copy costs
 * a trip through the thread pool and a few system calls; a tick, one
 * wake-up and one read.
 *
 * States, per database: watching (events_on, with watch_ok when both
 * watches are on the files now at the paths), active (the tick follows
 * the writes), and the stat() poll beside either, every
 * monitor-interval, or every WATCHED_POLL_MS while the watches work (it
 * then only guards against lost events).  What enters it: on_fs_event,
 * on_tick, on_poll; the sync's completion (ws_watch_seen_return,
 * ws_watch_replaced, ws_watch_arm).  What it calls: ws_daemon_step().
 *
 * The observations of the wal-index made between two copies (seen) are
 * lent to the sync in flight (seen_job), which turns them into commit
 * times; what it does not use goes to the next one.
 */
#include "ws/daemon_int.h"
#include "ws/fs.h"
#include "ws/wal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TICK_MS 20
#define TICK_FIRST_MS 5 /* a lone commit is published within a few ms */
#define TICKS_QUIET 3
#define SEEN_MAX 1024 /* observations kept between two copies */
#define WATCHED_POLL_MS 15000 /* the poll's period while events work */

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
void ws_watch_seen_return(struct dbrep *d)
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

/* The database at the path is another file now (or none): forget what
 * was watched and observed of the old one; events go back on once the
 * new one replicates. */
void ws_watch_replaced(struct dbrep *d)
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
    ws_watch_pace(d);
}

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
void ws_watch_pace(struct dbrep *d)
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
        ws_daemon_step(d);
        return;
    }
    /* Quiet, or the wal-index cannot be read: back to file events.  What
     * was written between the last tick and the watch has no event, and
     * a commit seen by no tick has no time yet: one more copy, now. */
    uv_timer_stop(&d->tick);
    d->active = 0;
    ws_watch_arm(d);
    d->next_sync_ms = 0;
    ws_daemon_step(d);
}

static void on_fs_event(uv_fs_event_t *h, const char *name, int events,
                        int status)
{
    struct dbrep *d = h->data;

    (void)name;
    if (status < 0 || (events & UV_RENAME)) {
        /* The file may have gone: poll until ws_watch_arm puts the watch
         * back on whatever is at the path. */
        d->watch_ok = 0;
        ws_watch_pace(d);
    }
    d->dirty = 1;
    if (h == &d->ev_wal && !d->stopping && observe(d) >= 0) {
        /* Writes are coming: follow them on the wal-index, not on
         * events (the top of this file). */
        uv_fs_event_stop(&d->ev_wal);
        uv_fs_event_stop(&d->ev_db);
        d->active = 1;
        d->quiet_ticks = 0;
        wal_moved(d);
        uv_timer_start(&d->tick, on_tick, TICK_FIRST_MS, TICK_MS);
    }
    ws_daemon_step(d);
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
void ws_watch_arm(struct dbrep *d)
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
    ws_watch_pace(d);
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
        ws_watch_arm(d);
    if (!d->st.ready)
        d->dirty = 1;
    ws_daemon_step(d);
}
