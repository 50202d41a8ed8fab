/*
 * retain.c: each replica's retention loop, beside its shipper (its own
 * request, r->ret_req, and timer; the plan itself is retention.h's).
 *
 * States: idle, or running (ret_busy): listing, then deleting the
 * plan's exact keys in one request, then each whole generation, one
 * request each.  What enters it: its timer (ws_retain_on_timer; -once
 * calls it once, twice when it asked for a snapshot), the completions
 * on_ret_list and on_ret_del.  What it calls: ws_ship_gone() when the
 * listing shows the replica lost its generation, ws_ship_step() when
 * the window needs a new snapshot, ws_daemon_step() when a run ends
 * during shutdown or -once.
 */
#include "ws/crashpt.h"
#include "ws/daemon_int.h"
#include "ws/fs.h"
#include "ws/inspect.h"
#include "ws/rlock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        ws_daemon_step(r->d);
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

void ws_retain_on_timer(uv_timer_t *t)
{
    struct rep *r = t->data;

    if (r->ret_busy || r->d->stopping || r->state == R_FAILED)
        return;
    r->ret_busy = 1;
    r->m.retention_runs++;
    /* The generation this listing must show a snapshot of (ws_ship_gone). */
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
        ws_daemon_step(d);
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
        ws_daemon_step(d);
        return;
    }
    if (rc != WS_OK)
        err = req->err;
    if (rc == WS_OK)
        rc = ws_catalog_build(&req->list, &cat, &err);
    ws_objlist_free(&req->list);
    if (rc == WS_OK &&
        ws_ship_gone(r, r->ret_gen, ws_catalog_find(&cat, r->ret_gen))) {
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
        ws_ship_step(r);
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
    WS_CRASHPOINT("retention-between-deletes");
    ret_del_next(r);
}
