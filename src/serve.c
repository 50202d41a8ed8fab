/*
 * serve.c: what the daemon answers and reports, small hooks into the
 * modules that do the work: the durability barrier behind `walship
 * sync` (barrier.h) and `walship verify` (validate.h) on each database's
 * control endpoint (control.h); -once's end (when every database and
 * replica has what -once needs, it stops the daemon as on SIGTERM);
 * /metrics, /healthz (httpd.h, metrics.h, health.h) and the heartbeat
 * (heartbeat.h); the restore drills' hooks (validate.h).
 *
 * It keeps no state of its own beyond the barrier's waiters (d->bar)
 * and the control endpoint (d->ctl): it reads the databases' and
 * replicas' states.  What enters it: the sync's completion
 * (ws_serve_barrier_synced, ws_serve_ctl, ws_serve_once_synced), each
 * step of a database (ws_serve_once_check) and of a replica
 * (ws_serve_barrier_check), the control commands, the barrier's timer,
 * HTTP requests and the heartbeat's checks.
 */
#include "ws/daemon_int.h"
#include "ws/fs.h"
#include "ws/health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * A `sync` request on a database's control endpoint (control.h) waits
 * in d->bar (barrier.h) until every replica holds what was committed
 * before it.  It asks for a copy now, not at the next pace; while any
 * request waits, uploads go at once rather than at the next
 * sync-interval (ws_ship_step).  The client going away drops its request.
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
void ws_serve_barrier_check(struct dbrep *d)
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
    ws_serve_barrier_check(t->data);
}

/* A sync finished: it sets the targets of the requests it counts for
 * (a held one copied nothing). */
void ws_serve_barrier_synced(struct dbrep *d)
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
    ws_serve_barrier_check(d);
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
    ws_serve_barrier_check(d); /* (arms the deadline) */
    /* A copy now, not at the next pace (a snapshot or a sync in flight
     * goes first: ws_daemon_step starts it after them). */
    d->dirty = 1;
    d->next_sync_ms = 0;
    ws_daemon_step(d);
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
void ws_serve_ctl(struct dbrep *d, int new_gen)
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
 * that fails STOP_RETRIES times in a row is given up (ws_ship_fail).  Either
 * is the exit status, naming the database and the replica.
 */

/* After a sync before the shutdown: did it reach the database? */
void ws_serve_once_synced(struct dbrep *d, const struct ws_db_state *s)
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
    ws_daemon_unshipped(dm, &dm->fatal, WS_AT_DB);
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
        ws_retain_on_timer(&r->ret_timer);
        return 0;
    }
    return 1;
}

void ws_serve_once_check(struct daemon *dm)
{
    if (!dm->opts.once || dm->phase != DM_RUNNING)
        return;
    for (size_t i = 0; i < dm->ndbs; i++) {
        struct dbrep *d = dm->dbs[i];
        if (!d->once_synced || !d->st.ready)
            return;
        for (size_t k = 0; k < d->nreps; k++)
            if (!once_rep_ready(&d->reps[k]))
                return;
    }
    ws_daemon_shutdown(dm, STOP_ONCE, 0);
}

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
        struct dbrep *d = dm->dbs[i];
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
                ws_daemon_fmt_ms(lag / 1000, dur, sizeof(dur));
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
        nr += dm->dbs[i]->nreps;
    rv = calloc(nr ? nr : 1, sizeof(*rv));
    if (v == NULL || rv == NULL) {
        out->failed = 1;
        free(v);
        free(rv);
        return;
    }
    nr = 0;
    for (size_t i = 0; i < dm->ndbs; i++) {
        struct dbrep *d = dm->dbs[i];
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
            rv[nr].spool_bytes = ws_ship_spool(r);
        }
    }
    ws_metrics_render(v, dm->ndbs,
                      (double)(dm->cfg->health_sync_timeout_ms > 0
                                   ? dm->cfg->health_sync_timeout_ms
                                   : WS_HEALTH_SYNC_TIMEOUT_MS) /
                          1e3,
                      out);
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
int ws_serve_observers_start(struct daemon *dm, struct ws_err *err)
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

void ws_serve_val_kick(void *ctx)
{
    struct dbrep *d = ctx;

    d->dirty = 1;
    ws_daemon_step(d);
}

int ws_serve_val_rep_pos(void *ctx, size_t k, const char **gen,
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
