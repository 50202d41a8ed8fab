/*
 * ship.c: the shipper, one per replica (struct rep): the room that
 * decides what the replica gets next.
 *
 * Its state is r->state: R_IDLE (may start a job), R_BUSY (one request
 * in flight, r->job says which: J_*), R_BACKOFF (a job failed; the timer
 * ends it), R_FAILED (given up: at shutdown, in -once, or refused for
 * good).  Beside it: whether the position is known (inited, else the
 * next job lists the replica), whether the generation has its snapshot
 * there (has_snapshot), a due or held snapshot (snap_why, snap_held,
 * snap_deferred) and the records owed (rec_sent, dig_gen, irec_*).
 *
 * ws_ship_step() is the step function: from an idle replica's state and
 * the database's last sync it starts one job (ship_job.c): the listing
 * that finds the position, the digest record of the last snapshot, the
 * generation's first snapshot (its record first), the next segment
 * (paced by sync-interval on the open index), commit times, a periodic
 * snapshot.  What enters it: the jobs' completions (ws_ship_after,
 * ws_ship_fail), its timer (a back-off's end, a pace, snapshot-interval),
 * the database's sync (on_sync_done calls it for every replica),
 * retention asking for a snapshot.
 *
 * Snapshots hold syncs (d->snapshotting) from their record to the end of
 * their read, so the position is exact; a later one in an index that has
 * one already waits for the next index (seal_request asks a checkpoint
 * for it).  Commit times observed by the syncs wait in d->tl until every
 * replica has shipped them (times.h).
 */
#include "ws/daemon_int.h"
#include "ws/fs.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define CONFIG_RETRIES 4 /* refusals (403, NoSuchBucket) before giving up */
#define TIMES_INTERVAL_MS 30000 /* commit times are shipped in batches, */
#define TIMES_QUIET_MS 2000     /* or once writes pause this long */
#define TIMES_MAX (1u << 20)    /* commit times kept for slow replicas */
#define SEAL_RETRY_MS 1000      /* a checkpoint for a deferred snapshot, */
#define SEAL_RETRY_MAX_MS 30000 /* asked again while it cannot seal */

static int64_t jitter(int64_t ms)
{
    uint32_t x = 0;

    if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x))
        x = 0;
    return ms / 2 + (int64_t)(x % (uint32_t)(ms / 2 + 1));
}

/* Shadow WAL bytes r has not shipped yet (all of the shadow for a
 * replica that does not know its position). */
int64_t ws_ship_spool(const struct rep *r)
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

/* Drop records every replica has shipped, and the oldest ones when a
 * replica is so far behind that they would pile up without bound (its
 * segments then fall back to object times at restore). */
void ws_ship_times_trim(struct dbrep *d)
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
    ws_ship_times_trim(d);
}

/* Take the commits a sync observed. */
void ws_ship_times_take(struct dbrep *d, const struct ws_db_state *s)
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

static void on_rep_timer(uv_timer_t *t)
{
    struct rep *r = t->data;

    if (r->state == R_BACKOFF)
        r->state = R_IDLE;
    ws_ship_step(r);
}

/* Call ws_ship_step again in ms at the latest. */
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
        ws_daemon_lost(d->dm, d->cfg->path, r->cfg->name, WS_EIO, why);
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
int ws_ship_gone(struct rep *r, const char *gen, const struct ws_geninfo *g)
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

void ws_ship_fail(struct rep *r, const char *what)
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
    fatal = r->config_failures >= CONFIG_RETRIES && d->dm->phase == DM_RUNNING;
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
        ws_daemon_unshipped(d->dm, &r->req.err, WS_AT_REPLICA);
        if (d->dm->fatal.code == WS_OK) {
            d->dm->fatal = r->req.err;
            ws_err_wrap(&d->dm->fatal, "%s error db=%s replica=%s", what,
                        d->cfg->path, r->cfg->name);
        }
        ws_daemon_shutdown(d->dm, STOP_FATAL, 0);
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
            ws_daemon_lost(d->dm, d->cfg->path, r->cfg->name, r->req.err.code,
                           r->req.err.msg);
        } else {
            ws_daemon_unshipped(d->dm, &r->req.err, WS_AT_REPLICA);
            if (d->dm->fatal.code == WS_OK) {
                d->dm->fatal = r->req.err;
                ws_err_at(&d->dm->fatal, WS_AT_REPLICA);
                ws_err_wrap(&d->dm->fatal, "-once: replica %s of %s does "
                            "not hold everything committed before the "
                            "start (%s failed %d times)", r->cfg->name,
                            d->cfg->path, what, r->failures);
            }
        }
        ws_daemon_step(d);
        return;
    }
    /* The back-off grows with the failures of this kind of job in a row
     * (a snapshot's record may go up every time while the snapshot
     * fails). */
    delay = jitter(ws_stall_backoff(r->stall.on && r->stall.kind == r->job
                                        ? r->stall.tries + 1
                                        : 1,
                                    2000, BACKOFF_MAX_MS));
    ws_daemon_stall_on(&r->stall, r->job, WS_LOG_ERROR, "backing off ", delay,
                       "%s error db=%s replica=%s error=\"%s\"", what,
                       d->cfg->path, r->cfg->name, r->req.err.msg);
    r->state = R_BACKOFF;
    uv_timer_start(&r->timer, on_rep_timer, (uint64_t)delay, 0);
}

/* Where the shadow holds committed bytes for index i: its final size
 * for a closed index, the current size for the current one; 0 when it
 * is not on disk. */
int ws_ship_shadow_end(const struct dbrep *d, uint32_t i, uint64_t *end)
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
        if (!ws_ship_shadow_end(d, r->index, &end)) {
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
int ws_ship_caught_up(struct rep *r)
{
    struct dbrep *d = r->d;

    return r->state == R_FAILED ||
           !(r->state != R_IDLE || r->ret_busy || !r->inited ||
             !r->has_snapshot || r->dig_gen[0] != '\0' ||
             strcmp(r->gen, d->st.gen) != 0 || rep_behind(r) ||
             times_ready(r) > 0);
}

int ws_ship_db_caught_up(struct dbrep *d)
{
    if (!d->st.ready)
        return 1;
    for (size_t i = 0; i < d->nreps; i++)
        if (!ws_ship_caught_up(&d->reps[i]))
            return 0;
    return 1;
}

void ws_ship_after(struct rep *r)
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
        ws_daemon_stall_off(&r->stall);
    if (r->inited && r->has_snapshot)
        memcpy(r->known_gen, r->gen, sizeof(r->known_gen));
    /* Frames held back by the spool limit are copied only by a sync; the
     * -wal may not change again, so do not wait for an event. */
    if (r->d->held)
        r->d->dirty = 1;
    ws_serve_barrier_check(r->d);
    ws_ship_step(r);
    ws_daemon_step(r->d);
}

/* The request in flight has had no answer for a while. */
void ws_ship_on_slow(struct ws_slow *s, const char *waited)
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
struct ws_req *ws_ship_req(struct rep *r, int job, enum ws_reqtype type,
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
     * replica lost its history (ws_ship_fail). */
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

void ws_ship_release(struct rep *r)
{
    if (r->snap_held)
        r->d->snapshotting--;
    r->snap_held = 0;
}

/*
 * Take a snapshot of the shadow's position now (the caller has made
 * sure the replica may have one there; daemon.h).  Syncs are held from
 * here to the end of the read, so the position cannot move: first the
 * record (times.h), which must be in the replica before the snapshot,
 * then the snapshot, a consistent image at exactly that position.  A
 * sync in flight ends first (it calls ws_ship_step again).  A record already
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
        ws_ship_stale_free(r); /* of another generation's listing */
    if (r->nstale > 0) {
        ws_ship_start_stale(r);
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
        ws_ship_start_times(r, &r->snap_rec, 1, 1);
        return;
    }
    ws_ship_start_snapshot(r);
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
    ws_ship_start_times(r, r->d->tl.v + (r->tsent - r->d->tl_base), n, 0);
    return 1;
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
    ws_daemon_step(d);
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
            ws_daemon_step(d);
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

void ws_ship_step(struct rep *r)
{
    struct dbrep *d = r->d;
    int64_t now, due;
    int behind;

    if (r->state != R_IDLE)
        return;
    if (!d->st.ready || d->st.gen[0] == '\0') {
        ws_ship_release(r); /* nothing to take a snapshot of */
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
        ws_ship_start_init(r);
        return;
    }
    if (r->dig_gen[0] != '\0' && strcmp(r->dig_gen, r->gen) == 0) {
        ws_ship_start_record(r, J_DIGEST);
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
        ws_ship_release(r);
    else if (!r->snap_held && !d->stopping && snapshot_due(r) &&
             r->index == d->st.index)
        snap_hold(r);
    if (r->snap_held) {
        if (behind)
            ws_ship_start_segment(r);
        else
            rep_snapshot(r);
        return;
    }
    if (rep_times(r, behind) || !behind)
        return;
    /* sync-interval batches the frames of the open index; a closed one
     * cannot grow, and waiting on each would ship one index a period
     * while the WAL restarts several times a second (ckpt.c). */
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
        ws_daemon_step(d);
        if (d->syncing)
            return;
    }
    ws_ship_start_segment(r);
}
