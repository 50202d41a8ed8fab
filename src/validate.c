/*
 * validate.c: the restore drills' steps (validate.h has the model and
 * why it raises no false alarm; validate_int.h the rooms: the probe and
 * the page copy, the restores compared, the kept copies, `verify`).
 *
 * A drill of a database is a sequence of states on the daemon's loop
 * (enum vstate), one drill at a time:
 *
 *   V_IDLE     the timer waits for the replicas' next due drill (each
 *              has its own validation-interval; those due together go
 *              in one drill), or a request (ws_validator_request);
 *   V_WANT     the next sync takes the probe (ws_validator_sync_opts),
 *              which reads position P under the write lock; the daemon
 *              is kicked for a sync now, and again after RETRY_FIRST_MS,
 *              doubled up to RETRY_MAX_MS, while syncs take no probe
 *              (the lock was busy, the database is awaited, frames are
 *              held back); after REACH_MIN_MS without one, the drill ends
 *              as not completed, saying that no position was read;
 *   V_HASH     a pool thread copies the pages at P (validate_probe.c);
 *   V_WAIT     each replica's shipped position is polled every POLL_MS
 *              until every replica has shipped P: they get REACH_MIN_MS,
 *              or ten sync-intervals of the slowest one still awaited if
 *              that is longer, after which those still awaited are not
 *              compared (a warning: a replica that is slow or out of
 *              reach is not one that lies); a replica that moved to
 *              another generation first will never ship P, and is not
 *              compared either;
 *   V_RESTORE  the restore thread restores and compares
 *              (validate_compare.c), then wakes the loop (async).
 *
 * Then the result: the lines, the counters, the copies kept or removed
 * (validate_keep.c), the requester told, and a request that came during
 * the drill starts the next at once (its position may be newer).
 * Shutting down (ws_validator_stop) starts no drill; a drill waiting
 * for a probe or for the replicas is abandoned at once, one whose probe
 * is handed to a sync when the sync reports, one copying pages when the
 * copy returns; an abandoned drill is not counted.  A restore thread
 * that runs is waited for (ws_validator_close), and its result stands.
 * No state waits by spinning: each is a timer, a pool job or a thread's
 * completion.
 */
#include "ws/validate_int.h"

#include "ws/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_MS 100          /* replicas' positions, while waiting */
#define RETRY_FIRST_MS 250   /* a sync that took no probe */
#define RETRY_MAX_MS 30000
#define REACH_MIN_MS 60000   /* how long replicas get to reach P */

static void v_arm(struct ws_validator *v);
static void v_start(struct ws_validator *v);

static void v_timer(struct ws_validator *v, int64_t ms, uv_timer_cb cb)
{
    if (v->closed)
        return;
    uv_timer_start(&v->timer, cb, (uint64_t)(ms > 0 ? ms : 0), 0);
}

static void on_hash_work(uv_work_t *w)
{
    struct ws_validator *v = w->data;

    v->hrc = ws_vali_copy_live(v, &v->herr);
    ws_vali_probe_end(v);
}

static void v_after_hash(struct ws_validator *v);

static void on_hash_done(uv_work_t *w, int status)
{
    (void)status;
    v_after_hash(w->data);
}


/* Tell the requester of the drill, if any, its result. */
static void v_done(struct ws_validator *v, enum ws_valid_result r,
                   const char *summary)
{
    void (*done)(void *, enum ws_valid_result, const char *) = v->done;

    v->done = NULL;
    if (done)
        done(v->done_ctx, r, summary);
}

/* The queued request becomes the current one; 0 when there is none. */
static int q_take(struct ws_validator *v)
{
    if (!v->queued)
        return 0;
    v->queued = 0;
    v->done = v->q_done;
    v->done_ctx = v->q_ctx;
    v->q_done = NULL;
    return 1;
}

/* The drill is over: counters, copies, the requester, the next one. */
static void v_finish(struct ws_validator *v, const char *why)
{
    enum ws_valid_result all;
    char sum[WS_ERR_MSG];

    if (why && v->stopping) {
        /* Not a result: the drill was cut short by the shutdown. */
        ws_info("validation abandoned db=%s: %s", v->cfg->path, why);
        ws_vali_run_close(v, 0);
        v->state = V_IDLE;
        for (size_t k = 0; k < v->cfg->nreplicas; k++)
            v->reps[k].sel = 0;
        v_done(v, WS_VALID_INCOMPLETE, why);
        if (q_take(v))
            v_done(v, WS_VALID_INCOMPLETE, why);
        return;
    }
    if (why) {
        /* Nothing compared. */
        for (size_t k = 0; k < v->cfg->nreplicas; k++)
            if (v->reps[k].sel && v->reps[k].res == WS_VALID_NONE) {
                v->reps[k].res = WS_VALID_INCOMPLETE;
                ws_err_set(&v->reps[k].err, WS_EIO, "%s", why);
            }
    }
    all = ws_vali_report(v, sum, sizeof(sum));
    v->st.runs++;
    v->st.last = all;
    v->st.last_ms = ws_wall_ms();
    if (all == WS_VALID_FAILED) {
        v->st.failed++;
        snprintf(v->st.last_msg, sizeof(v->st.last_msg), "%s", sum);
    } else {
        v->st.last_msg[0] = '\0';
        if (all == WS_VALID_INCOMPLETE)
            v->st.incomplete++;
    }
    ws_vali_run_close(v, all == WS_VALID_FAILED);
    v->state = V_IDLE;
    for (size_t k = 0; k < v->cfg->nreplicas; k++)
        v->reps[k].sel = 0;
    v_done(v, all, sum);
    if (q_take(v)) {
        for (size_t k = 0; k < v->cfg->nreplicas; k++)
            v->reps[k].sel = 1;
        v_start(v);
        return;
    }
    v_arm(v);
}

static void on_async(uv_async_t *a)
{
    struct ws_validator *v = a->data;

    if (v->state != V_RESTORE)
        return;
    uv_thread_join(&v->thread);
    v->thread_on = 0;
    v_finish(v, NULL);
}

/* 1 when replica k has shipped P; -1 when it never will (another
 * generation). */
static int reached(struct ws_validator *v, size_t k)
{
    const char *gen;
    uint32_t index;
    uint64_t off;

    if (!v->h.rep_pos(v->h.ctx, k, &gen, &index, &off))
        return 0;
    if (strcmp(gen, v->gen) != 0)
        return -1;
    return index > v->index || (index == v->index && off >= v->offset);
}

static void on_wait(uv_timer_t *t)
{
    struct ws_validator *v = t->data;
    int64_t bound = REACH_MIN_MS;
    int all = 1;

    if (v->stopping) {
        v_finish(v, "walship is shutting down");
        return;
    }
    for (size_t k = 0; k < v->cfg->nreplicas; k++) {
        struct vrep *r = &v->reps[k];
        int x;
        if (!r->sel || r->res != WS_VALID_NONE)
            continue;
        if (10 * v->cfg->replicas[k].sync_interval_ms > bound)
            bound = 10 * v->cfg->replicas[k].sync_interval_ms;
        x = reached(v, k);
        if (x < 0) {
            r->res = WS_VALID_INCOMPLETE;
            ws_err_set(&r->err, WS_EIO, "the replica moved to another "
                       "generation before it shipped the position");
        } else if (x == 0) {
            all = 0;
        }
    }
    if (!all && ws_now_ms() - v->wait_t0 > bound) {
        char b[32];
        snprintf(b, sizeof(b), "%llds", (long long)(bound / 1000));
        for (size_t k = 0; k < v->cfg->nreplicas; k++)
            if (v->reps[k].sel && v->reps[k].res == WS_VALID_NONE) {
                v->reps[k].res = WS_VALID_INCOMPLETE;
                ws_err_set(&v->reps[k].err, WS_EIO, "the replica did not "
                           "ship the position within %s", b);
            }
        all = 1;
    }
    if (!all) {
        v_timer(v, POLL_MS, on_wait);
        return;
    }
    v->state = V_RESTORE;
    if (uv_thread_create(&v->thread, ws_vali_restore_thread, v) != 0) {
        v_finish(v, "cannot start a thread");
        return;
    }
    v->thread_on = 1;
}

static void v_after_hash(struct ws_validator *v)
{
    if (v->hrc != WS_OK) {
        v_finish(v, v->herr.msg);
        return;
    }
    if (v->stopping) {
        v_finish(v, "walship is shutting down");
        return;
    }
    v->state = V_WAIT;
    v->wait_t0 = ws_now_ms();
    on_wait(&v->timer);
}

static void on_retry(uv_timer_t *t)
{
    struct ws_validator *v = t->data;

    if (v->state == V_WANT && !v->stopping)
        v->h.kick(v->h.ctx);
}

void ws_validator_sync_opts(struct ws_validator *v,
                            struct ws_db_sync_opts *o)
{
    o->probe = NULL;
    o->probe_ctx = NULL;
    if (v == NULL || v->state != V_WANT || v->stopping || v->inflight)
        return;
    v->inflight = 1;
    v->probed = 0;
    o->probe = ws_vali_probe;
    o->probe_ctx = v;
}

void ws_validator_synced(struct ws_validator *v)
{
    struct ws_err e = {0};
    char at[40];

    if (v == NULL || !v->inflight)
        return;
    v->inflight = 0;
    if (v->stopping) {
        ws_vali_probe_end(v);
        v_finish(v, "walship is shutting down");
        return;
    }
    if (!v->probed) {
        /* No locked window this time (the lock was busy, the database is
         * awaited, frames are held back): the next sync, soon. */
        if (v->perr[0])
            ws_warn("validation: no read at a position db=%s: %s",
                    v->cfg->path, v->perr);
        ws_vali_probe_end(v);
        if (ws_now_ms() - v->want_t0 > REACH_MIN_MS) {
            v_finish(v, "no position could be read in a minute (walship "
                        "could not take the write lock, or the database "
                        "does not replicate)");
            return;
        }
        v_timer(v, v->retry_ms, on_retry);
        v->retry_ms = v->retry_ms * 2 < RETRY_MAX_MS ? v->retry_ms * 2
                                                     : RETRY_MAX_MS;
        return;
    }
    v->retry_ms = RETRY_FIRST_MS;
    ws_vali_pos_str(v->index, v->offset, at, sizeof(at));
    ws_debug("validation: reading the database at generation=%s "
             "position=%s db=%s (the read began in %lldus under the "
             "write lock)", v->gen, at, v->cfg->path,
             (long long)v->probe_us);
    if (ws_vali_run_open(v, &e) != WS_OK) {
        ws_vali_probe_end(v);
        v_finish(v, e.msg);
        return;
    }
    v->state = V_HASH;
    v->work.data = v;
    if (uv_queue_work(v->loop, &v->work, on_hash_work, on_hash_done) != 0) {
        ws_vali_probe_end(v);
        v_finish(v, "cannot queue work");
    }
}

/* Start a drill of the replicas marked sel. */
static void v_start(struct ws_validator *v)
{
    for (size_t k = 0; k < v->cfg->nreplicas; k++) {
        struct vrep *r = &v->reps[k];
        r->res = WS_VALID_NONE;
        r->rc = WS_OK;
        memset(&r->err, 0, sizeof(r->err));
    }
    v->state = V_WANT;
    v->retry_ms = RETRY_FIRST_MS;
    v->gen[0] = '\0'; /* no position read yet */
    v->want_t0 = ws_now_ms();
    v->h.kick(v->h.ctx);
}

static void on_due(uv_timer_t *t)
{
    struct ws_validator *v = t->data;
    int64_t now = ws_now_ms();
    int any = 0;

    if (v->state != V_IDLE || v->stopping)
        return;
    for (size_t k = 0; k < v->cfg->nreplicas; k++) {
        struct vrep *r = &v->reps[k];
        int64_t iv = v->cfg->replicas[k].validation_interval_ms;
        r->sel = r->next_ms <= now;
        if (r->sel) {
            r->next_ms = now + iv;
            any = 1;
        }
    }
    if (any)
        v_start(v);
    else
        v_arm(v);
}

/* Arm the timer for the next due drill. */
static void v_arm(struct ws_validator *v)
{
    int64_t next = INT64_MAX, now = ws_now_ms();

    if (v->stopping || v->state != V_IDLE)
        return;
    for (size_t k = 0; k < v->cfg->nreplicas; k++)
        if (v->reps[k].next_ms < next)
            next = v->reps[k].next_ms;
    if (next != INT64_MAX)
        v_timer(v, next - now, on_due);
}

int ws_validator_new(uv_loop_t *loop, const struct ws_db_config *cfg,
                     const struct ws_validate_hooks *h,
                     struct ws_validator **out, struct ws_err *err)
{
    struct ws_validator *v = calloc(1, sizeof(*v));
    int64_t now = ws_now_ms();

    if (v == NULL ||
        (v->reps = calloc(cfg->nreplicas ? cfg->nreplicas : 1,
                          sizeof(*v->reps))) == NULL) {
        free(v);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    v->loop = loop;
    v->cfg = cfg;
    v->h = *h;
    v->live_fd = -1;
    v->vdir.fd = v->run.fd = -1;
    v->retry_ms = RETRY_FIRST_MS;
    uv_timer_init(loop, &v->timer);
    uv_async_init(loop, &v->async, on_async);
    v->timer.data = v->async.data = v;
    for (size_t k = 0; k < cfg->nreplicas; k++) {
        int64_t iv = cfg->replicas[k].validation_interval_ms;
        v->reps[k].next_ms = iv > 0 ? now + iv : INT64_MAX;
        if (iv > 0)
            ws_info("validation db=%s replica=%s validation-interval=%lldms: "
                    "each drill restores the replica to a position read "
                    "from the database and compares every page",
                    cfg->path, cfg->replicas[k].name, (long long)iv);
    }
    v_arm(v);
    *out = v;
    return WS_OK;
}

int ws_validator_request(struct ws_validator *v,
                         void (*done)(void *ctx, enum ws_valid_result r,
                                      const char *summary),
                         void *ctx)
{
    if (v->stopping || v->queued)
        return WS_EBUSY;
    if (v->state != V_IDLE) {
        /* After the drill in progress, whose position may be older. */
        v->queued = 1;
        v->q_done = done;
        v->q_ctx = ctx;
        return WS_OK;
    }
    uv_timer_stop(&v->timer);
    for (size_t k = 0; k < v->cfg->nreplicas; k++)
        v->reps[k].sel = 1;
    v->done = done;
    v->done_ctx = ctx;
    v_start(v);
    return WS_OK;
}

void ws_validator_forget(struct ws_validator *v, void *ctx)
{
    if (v->done_ctx == ctx)
        v->done = NULL;
    if (v->queued && v->q_ctx == ctx)
        v->q_done = NULL;
}

struct ws_validation_stats ws_validator_stats(const struct ws_validator *v)
{
    return v->st;
}

void ws_validator_stop(struct ws_validator *v)
{
    if (v == NULL)
        return;
    v->stopping = 1;
    uv_timer_stop(&v->timer);
    /* A probe handed to a sync in flight ends in ws_validator_synced. */
    if (v->state == V_WANT && !v->inflight) {
        v_finish(v, "walship is shutting down");
    } else if (v->state == V_WAIT) {
        v_finish(v, "walship is shutting down");
    }
}

void ws_validator_close(struct ws_validator *v, uv_close_cb cb)
{
    if (v == NULL || v->closed)
        return;
    if (v->thread_on) {
        uv_thread_join(&v->thread);
        v->thread_on = 0;
        v_finish(v, NULL);
    }
    v->closed = 1;
    uv_close((uv_handle_t *)&v->timer, cb);
    uv_close((uv_handle_t *)&v->async, cb);
}

void ws_validator_free(struct ws_validator *v)
{
    if (v == NULL)
        return;
    ws_vali_probe_end(v);
    if (v->live_fd >= 0)
        close(v->live_fd);
    ws_fs_dir_close(&v->run);
    ws_fs_dir_close(&v->vdir);
    free(v->reps);
    free(v);
}
