/*
 * ship_job.c: the shipper's jobs (ship.c decides which one runs): each
 * is one request to the replica (replica.h), started by a
 * ws_ship_start_* function and ended by its completion, which records
 * what it did in struct rep and hands back to the shipper with
 * ws_ship_after() (done) or ws_ship_fail() (failed).
 *
 *   J_SNAP    the snapshot at the position of its record (snapshot.h),
 *             hashed on its way for its digest record;
 *   J_TIMES   commit times (times.h): queued records, or a snapshot's;
 *   J_INDEX,  the records that bind the generation's objects (daemon.h):
 *   J_DIGEST  an index's, and a snapshot's digest;
 *   J_SEG     a WAL segment, read from the shadow WAL, whole frames of
 *             one index (their salts are checked);
 *   J_STALE   deleting snapshot records a stopped upload left;
 *   J_LIST,   at start-up and after a failure: where the replica stands,
 *   J_GET     from its listing and its last segment (which must match
 *             the shadow byte for byte).
 *
 * on_put_done ends every PUT; on_list_done and on_tail_done the
 * position; on_stale_done the delete.
 */
#include "ws/crashpt.h"
#include "ws/daemon_int.h"
#include "ws/fs.h"
#include "ws/inspect.h"
#include "ws/wal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEG_READ (64 * 1024) /* shadow bytes read at a time for a segment */

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

/* The snapshot of r's record, which is in the replica. */
void ws_ship_start_snapshot(struct rep *r)
{
    struct dbrep *d = r->d;

    struct ws_req *q;

    WS_CRASHPOINT("snapshot-after-record");
    q = ws_ship_req(r, J_SNAP, WS_REQ_PUT, on_put_done);
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

static int produce_times(void *ctx, ws_sink_fn sink, void *sctx,
                         struct ws_err *err)
{
    struct rep *r = ctx;
    return ws_times_encode(r->tjob.v, r->tjob.n, sink, sctx, err);
}

/* Ship v[0..n): the next n queued records, or (rec) a snapshot's
 * record. */
void ws_ship_start_times(struct rep *r, const struct ws_tpoint *v, size_t n,
                         int rec)
{
    struct dbrep *d = r->d;
    struct ws_req *q = ws_ship_req(r, J_TIMES, WS_REQ_PUT, on_put_done);

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

void ws_ship_stale_free(struct rep *r)
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

    ws_ship_stale_free(r);
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
            ws_ship_stale_free(r);
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
        ws_ship_release(r);
        ws_ship_fail(r, "stale snapshot records");
        ws_daemon_step(r->d);
        return;
    }
    ws_ship_stale_free(r);
    ws_ship_after(r);
}

/* Delete r->stale: then the snapshot about to be taken has its one
 * record, and serves alone from the moment it is in. */
void ws_ship_start_stale(struct rep *r)
{
    struct ws_req *q = ws_ship_req(r, J_STALE, WS_REQ_DEL, on_stale_done);

    q->keys = r->stale;
    q->nkeys = r->nstale;
    ws_info("deleting snapshot records that name no snapshot db=%s "
            "replica=%s generation=%s records=%zu (left by a stopped "
            "upload)", r->d->cfg->path, r->cfg->name, r->gen, r->nstale);
    ws_replica_submit(r->client, q);
}

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
void ws_ship_start_record(struct rep *r, int job)
{
    struct ws_req *q = ws_ship_req(r, job, WS_REQ_PUT, on_put_done);

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

static int produce_segment(void *ctx, ws_sink_fn sink, void *sctx,
                           struct ws_err *err)
{
    struct rep *r = ctx;
    struct ws_frames f;
    struct ws_lz4w *w = NULL;
    uint64_t off = r->job_start;
    uint8_t *buf = NULL;
    size_t per = 0;
    int rc;

    /* Whole frames, each carrying the header's salts and continuing its
     * chain (a frame of another WAL index must never slip in), from the
     * -wal or the shadow (db.h). */
    rc = ws_db_frames_open(r->d->db, r->job_gen, r->job_index, off, &f,
                           err);
    if (rc == WS_ENOTFOUND)
        rc = err->code = WS_EIO; /* not "no such object" */
    if (rc != WS_OK)
        return rc;
    w = ws_lz4w_new(sink, sctx);
    per = SEG_READ / f.fsize ? SEG_READ / f.fsize : 1;
    if (w == NULL || (buf = malloc(per * f.fsize)) == NULL)
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    if (rc == WS_OK && off == 0) {
        rc = ws_lz4w_write(w, f.hdr, sizeof(f.hdr), err);
        off = WS_WAL_HDR_SIZE;
    }
    while (rc == WS_OK && off < r->job_end) {
        size_t n = r->job_end - off < per * f.fsize
                       ? (size_t)(r->job_end - off)
                       : per * f.fsize;
        rc = ws_db_frames_read(&f, buf, n, err);
        if (rc == WS_OK)
            rc = ws_lz4w_write(w, buf, n, err);
        off += n;
    }
    if (rc == WS_OK)
        rc = ws_lz4w_finish(w, err);
    ws_lz4w_free(w);
    free(buf);
    ws_db_frames_close(&f);
    return rc;
}

void ws_ship_start_segment(struct rep *r)
{
    struct dbrep *d = r->d;
    struct ws_req *q;

    if (index_rec_due(r)) {
        ws_ship_start_record(r, J_INDEX);
        return;
    }
    q = ws_ship_req(r, J_SEG, WS_REQ_PUT, on_put_done);

    memcpy(r->job_gen, r->gen, sizeof(r->job_gen));
    r->job_index = r->index;
    r->job_start = r->offset;
    ws_ship_shadow_end(d, r->index, &r->job_end);
    free(r->job_path);
    r->job_path = ws_db_shadow_path(d->db, r->gen, r->index);
    ws_key_wal(q->key, sizeof(q->key), r->gen, r->index, r->offset);
    q->produce = produce_segment;
    ws_debug("write wal segment db=%s replica=%s position=%s/%08x:%llu",
             d->cfg->path, r->cfg->name, r->gen, r->index,
             (unsigned long long)r->offset);
    ws_replica_submit(r->client, &r->req);
}

/* The current index has frames enough for a seal that waits for the
 * replicas to hold it (ckpt.c). */
static int seal_waits(const struct dbrep *d)
{
    return d->st.ready && d->st.have_hdr && !d->st.sealed &&
           ws_db_index_full(d->cfg, d->st.page_size, d->st.size);
}

static void on_put_done(struct ws_req *req)
{
    struct rep *r = req->data;
    struct dbrep *d = r->d;
    int64_t ms = ws_now_ms() - r->job_t0;

    if (req->rc != WS_OK) {
        /* Syncs go on during the back-off; a snapshot starts again from
         * its record (the same one while the position is the same). */
        ws_ship_release(r);
        ws_ship_fail(r, r->job == J_SNAP     ? "snapshot"
                        : r->job == J_TIMES  ? "commit times"
                        : r->job == J_INDEX  ? "index record"
                        : r->job == J_DIGEST ? "snapshot digest"
                                             : "wal segment");
        ws_daemon_step(d);
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
            /* Its digest record goes next (ws_ship_step). */
            memset(&r->dig, 0, sizeof(r->dig));
            r->dig.index = r->job_index;
            r->dig.offset = r->job_start;
            r->dig.time_us = r->snap_rec.time_us;
            memcpy(r->dig.sha256, r->snap_digest, sizeof(r->dig.sha256));
            memcpy(r->dig_gen, r->job_gen, sizeof(r->dig_gen));
        }
        r->rec_gen[0] = '\0'; /* used */
        r->last_snap_ms = ws_wall_ms();
        ws_ship_release(r);
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
            ws_ship_times_trim(d);
        }
    } else {
        ws_info("wal segment written db=%s replica=%s position=%s/%08x:%llu "
                "elapsed=%lldms sz=%llu%s%.0d",
                d->cfg->path, r->cfg->name, r->job_gen, r->job_index,
                (unsigned long long)r->job_start, (long long)ms,
                (unsigned long long)(r->job_end - r->job_start),
                req->retries ? " retries=" : "", req->retries);
        WS_CRASHPOINT("segment-before-position");
        r->offset = r->job_end;
        r->last_put_ms = ws_now_ms();
        /* A seal waits for the replicas (ckpt.c): sync now, while they
         * hold everything it would otherwise write to the shadow. */
        if (seal_waits(d)) {
            d->dirty = 1;
            d->next_sync_ms = 0;
        }
    }
    ws_ship_after(r);
}

/* The last segment, downloaded at start-up, must equal the shadow's bytes
 * at the same place; anything else means the replica holds history this
 * machine does not (a restore elsewhere, a lost local disk, a primary
 * that lost its last commits in a power cut).  The whole object is
 * read even after a byte differs: only its end (the LZ4 content
 * checksum) tells a download damaged in transit, which is retried, from
 * a replica that really differs, which starts a new generation.  An
 * object that ends inside its LZ4 frame although all its listed bytes
 * came, after bytes that all equal the shadow's, is a cut-short copy of
 * this machine's own segment (see on_tail_done): shipped again. */
static int tail_sink(void *ctx, const void *buf, size_t len,
                     struct ws_err *err)
{
    struct rep *r = ctx;
    const uint8_t *b = buf;
    uint64_t fs = r->tail.fsize;
    size_t n;

    r->job_end += len;
    for (size_t k = 0; k < len && !r->tail_mismatch; k += n) {
        uint64_t at = r->tail_off;
        if (!r->tail_open) {
            r->tail_mismatch = 1;
            break;
        }
        if (at < WS_WAL_HDR_SIZE) {
            /* A segment at offset 0 begins with the index's header. */
            n = WS_WAL_HDR_SIZE - at < len - k ? WS_WAL_HDR_SIZE - at
                                               : len - k;
            r->tail_mismatch = memcmp(r->tail.hdr + at, b + k, n) != 0;
            r->tail_off += n;
            continue;
        }
        /* Whole frames, gathered in tail_frame, each compared with ours
         * where we hold it: below the slowest replica's position the
         * shadow keeps only the frame before it (db.h), and that one,
         * the last, is always compared (its checksum covers the rest). */
        uint64_t fo = (at - WS_WAL_HDR_SIZE) % fs;
        n = fs - fo < len - k ? (size_t)(fs - fo) : len - k;
        memcpy(r->tail_frame + fo, b + k, n);
        r->tail_off += n;
        if (fo + n == fs) {
            uint8_t *ours = r->tail_frame + fs;
            r->tail_last = ws_db_frame_at(&r->tail, r->tail_off - fs, ours);
            if (r->tail_last && memcmp(ours, r->tail_frame, fs) != 0)
                r->tail_mismatch = 1;
        }
    }
    (void)err;
    return WS_OK;
}

/* Close what tail_sink compared with. */
static void tail_close(struct rep *r)
{
    if (r->tail_open)
        ws_db_frames_close(&r->tail);
    r->tail_open = 0;
    free(r->tail_frame);
    r->tail_frame = NULL;
}

void ws_ship_tail_free(struct rep *r)
{
    ws_lz4r_free(r->lz);
    r->lz = NULL;
    tail_close(r);
}

static int tail_feed(void *ctx, const void *buf, size_t len,
                     struct ws_err *err)
{
    struct rep *r = ctx;
    return ws_lz4r_write(r->lz, buf, len, err);
}

static void on_tail_done(struct ws_req *req);

/* The replica's position is known (r->gen, r->index, r->offset): said,
 * so that a start's log shows where the generation goes on, and shipping
 * starts from there.  Found again after each failure while a replica is
 * stalled: said at INFO only when it is news. */
static void position_found(struct rep *r)
{
    ws_log(strcmp(r->said_gen, r->gen) == 0 && r->said_index == r->index &&
                   r->said_offset == r->offset
               ? WS_LOG_DEBUG
               : WS_LOG_INFO,
           "replica position db=%s replica=%s position=%s/%08x:%llu",
           r->d->cfg->path, r->cfg->name, r->gen, r->index,
           (unsigned long long)r->offset);
    memcpy(r->said_gen, r->gen, sizeof(r->said_gen));
    r->said_index = r->index;
    r->said_offset = r->offset;
    r->inited = 1;
    ws_ship_after(r);
}

static void on_list_done(struct ws_req *req)
{
    struct rep *r = req->data;
    struct dbrep *d = r->d;
    const struct ws_geninfo *g;
    struct ws_catalog cat;
    struct ws_err err;

    if (req->rc != WS_OK) {
        ws_ship_fail(r, "replica list");
        return;
    }
    if (ws_catalog_build(&req->list, &cat, &err) != WS_OK) {
        ws_objlist_free(&req->list);
        req->err = err;
        ws_ship_fail(r, "replica list");
        return;
    }
    ws_objlist_free(&req->list);
    memcpy(r->gen, d->st.gen, sizeof(r->gen));
    g = ws_catalog_find(&cat, d->st.gen);
    if (ws_ship_gone(r, r->known_gen, g)) {
        ws_catalog_free(&cat);
        if (r->state == R_BUSY)
            r->state = R_IDLE;
        ws_daemon_step(d);
        return;
    }
    r->has_snapshot = g != NULL && g->nsnaps > 0;
    if (!r->has_snapshot) {
        stale_take(r, g);
        ws_catalog_free(&cat);
        r->inited = 1;
        ws_ship_after(r);
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
        /* No WAL yet after the newest snapshot: its index, from 0. */
        ws_catalog_free(&cat);
        position_found(r);
        return;
    }
    /* Download the last segment to learn where it ends. */
    ws_ship_req(r, J_GET, WS_REQ_GET, on_tail_done);
    r->job_index = g->segs[g->nsegs - 1].index;
    r->job_start = g->segs[g->nsegs - 1].offset;
    r->job_end = r->job_start;
    r->req.sized = 1; /* a body past the listed size is corrupt */
    r->req.size = g->segs[g->nsegs - 1].size;
    ws_catalog_free(&cat);
    free(r->job_path);
    r->job_path = ws_db_shadow_path(d->db, r->gen, r->job_index);
    tail_close(r);
    r->tail_open = ws_db_frames_open(d->db, r->gen, r->job_index,
                                     r->job_start, &r->tail, NULL) == WS_OK;
    if (r->tail_open &&
        (r->tail_frame = malloc(2 * r->tail.fsize)) == NULL)
        tail_close(r);
    r->tail_off = r->job_start;
    r->tail_last = 0;
    r->tail_mismatch = 0;
    r->lz = ws_lz4r_new(tail_sink, r, ws_lz4_max_output(r->req.size));
    if (r->lz == NULL) {
        ws_err_set(&r->req.err, WS_ENOMEM, "out of memory");
        ws_ship_fail(r, "replica position");
        return;
    }
    ws_key_wal(r->req.key, sizeof(r->req.key), r->gen, r->job_index,
               r->job_start);
    r->req.sink = tail_feed;
    ws_replica_submit(r->client, &r->req);
}

/* The replica's last segment cannot be continued from here: a new
 * generation, its reason made from fmt. */
__attribute__((format(printf, 2, 3))) static void
tail_new_gen(struct rep *r, const char *fmt, ...)
{
    struct dbrep *d = r->d;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(d->new_gen_buf, sizeof(d->new_gen_buf), fmt, ap);
    va_end(ap);
    d->new_gen = d->new_gen_buf;
    d->dirty = 1;
    r->state = R_IDLE;
    ws_daemon_step(d);
}

static void on_tail_done(struct ws_req *req)
{
    struct rep *r = req->data;
    struct dbrep *d = r->d;
    uint64_t end = 0, fs = r->tail_open ? r->tail.fsize : 0;
    int cut = 0, kept;

    if (req->rc == WS_OK) {
        req->rc = ws_lz4r_finish(r->lz, &req->err);
        cut = req->rc != WS_OK && ws_lz4r_cut_short(r->lz);
    }
    ws_lz4r_free(r->lz);
    r->lz = NULL;
    tail_close(r);
    kept = ws_ship_shadow_end(d, r->job_index, &end);
    if (cut && !r->tail_mismatch && kept && end > r->job_start &&
        r->job_end <= end) {
        /* The whole object as listed, a prefix of what we hold, but cut
         * short: what a store that does not check Content-MD5 keeps of
         * an upload whose body was cut on the way (and which then failed
         * for good).  Ship the segment again from its start: the new
         * object replaces it. */
        ws_warn("replica's last segment is cut short, shipping it again "
                "db=%s replica=%s key=%s", d->cfg->path, r->cfg->name,
                req->key);
        r->index = r->job_index;
        r->offset = r->job_start;
        position_found(r);
        return;
    }
    if (cut && !r->tail_mismatch && !kept) {
        /* Cut short too, but in an index no longer kept here (the WAL
         * restarted many times while the replica was down): it cannot
         * be shipped again, and asking again gets the same object. */
        tail_new_gen(r, "replica %s's last segment is cut short, and its "
                     "wal index %08x is no longer kept here to ship it again",
                     r->cfg->name, (unsigned)r->job_index);
        return;
    }
    if (req->rc != WS_OK) {
        if (strstr(req->err.msg, req->key) == NULL)
            ws_err_wrap(&req->err, "%s", req->key);
        ws_ship_fail(r, "replica position");
        return;
    }
    /* The index the replica ends in is no longer kept here (the WAL
     * restarted more than WS_DB_MAXIDX times while its last segment was
     * read): nothing proves its history, said as such.  Or the replica
     * is not a prefix of what we hold: fork history. */
    if (!kept) {
        tail_new_gen(r, "replica %s ends in wal index %08x, which is no "
                     "longer kept here: its history cannot be checked",
                     r->cfg->name, (unsigned)r->job_index);
        return;
    }
    if (r->tail_mismatch ||
        (r->job_end > WS_WAL_HDR_SIZE && !r->tail_last) ||
        fs == 0 || r->job_end < WS_WAL_HDR_SIZE ||
        (r->job_end - WS_WAL_HDR_SIZE) % fs != 0 || r->job_end > end) {
        tail_new_gen(r, "replica %s ahead of or different from local wal",
                     r->cfg->name);
        return;
    }
    r->index = r->job_index;
    r->offset = r->job_end;
    position_found(r);
}

void ws_ship_start_init(struct rep *r)
{
    struct ws_req *q = ws_ship_req(r, J_LIST, WS_REQ_LIST, on_list_done);

    snprintf(q->key, sizeof(q->key), "generations/");
    ws_replica_submit(r->client, q);
}
