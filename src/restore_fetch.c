/*
 * restore_fetch.c: the downloads of a restore, one object at a time:
 * the snapshot and each WAL segment of the plan (restore_int.h, struct
 * obj).
 *
 * It decides what a body is worth as it arrives: each GET is bounded by
 * the listed size; a segment's first decoded bytes (its WAL header or
 * first frame header, with its index's salts) are checked before more
 * of it is spooled (peek); segments go to the spool in SPOOL_CHUNK
 * pieces, the snapshot is decoded as it comes, hashed against its
 * digest records, and its first N pages written to the temporary file.
 * A download that fails is tried again up to TRIES times; a local write
 * that fails (ws_rfetch_local_write) fails the restore at once
 * (ws_rfetch_fail), naming the file.
 *
 * An object's states here: F_WAIT (not asked for yet), F_FETCH (its
 * request is out), F_HAVE (every byte is in; the apply room takes it
 * from there).  Each completion calls ws_rapply_pump(), which starts
 * the next downloads (ws_rfetch_start).
 *
 * It also owns the watch on a request (struct watch, slow.h): a request
 * that gets no answer is said when it begins to wait, at a slowing
 * interval while it lasts and when it ends; the planning room's listings
 * and catalog reads (ws_rfetch_run_watched) use it too.
 */
#include "ws/restore_int.h"
#include "ws/crashpt.h"
#include "ws/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TRIES 3                    /* downloads of one object */

/* ---- requests that get no answer ---------------------------------------- */

static void on_watch_say(struct ws_slow *s, const char *waited)
{
    struct watch *w = s->data;

    ws_warn("restore: replica not answering db=%s replica=%s "
            "request=\"%s %s\" waiting=%s: the server or the network may "
            "hang; the request goes on and is retried as usual",
            w->db, w->r->cfg->name, ws_req_type_name(w->type), w->key,
            waited);
}

void ws_rfetch_watch_init(struct watch *w, const char *db,
                          const struct ws_replica *r, enum ws_reqtype type,
                          const char *key)
{
    w->db = db;
    w->r = r;
    w->type = type;
    w->key = key;
    w->closed = 0;
    ws_slow_init(r->loop, &w->slow, on_watch_say, w);
}

/* The request was answered: say so if it was said to wait. */
static void watch_stop(struct watch *w)
{
    char after[32];

    if (ws_slow_stop(&w->slow, after, sizeof(after)))
        ws_info("restore: replica answered db=%s replica=%s "
                "request=\"%s %s\" after=%s", w->db, w->r->cfg->name,
                ws_req_type_name(w->type), w->key, after);
}

void ws_rfetch_on_watch_closed(uv_handle_t *h)
{
    struct ws_slow *s = h->data;
    struct watch *w = s->data;

    w->closed = 1;
}

/* A synchronous request (ws_replica_run) under a watch: begin before
 * it, end once it returns. */
void ws_rfetch_watch_begin(struct watch *w, const char *db,
                           const struct ws_replica *r, enum ws_reqtype type,
                           const char *key)
{
    ws_rfetch_watch_init(w, db, r, type, key);
    ws_slow_start(&w->slow);
}

void ws_rfetch_watch_end(struct watch *w)
{
    watch_stop(w);
    ws_slow_close(&w->slow, ws_rfetch_on_watch_closed);
    while (!w->closed)
        uv_run(w->r->loop, UV_RUN_NOWAIT);
}

/* ws_replica_run(r, req), watched (db: for the log). */
int ws_rfetch_run_watched(const char *db, struct ws_replica *r,
                          struct ws_req *req)
{
    struct watch w;
    int rc;

    ws_rfetch_watch_begin(&w, db, r, req->type, req->key);
    rc = ws_replica_run(r, req);
    ws_rfetch_watch_end(&w);
    return rc;
}

void ws_rfetch_fail(struct rs *rs, const struct ws_err *e)
{
    if (rs->rc == WS_OK) {
        rs->rc = e->code != WS_OK ? e->code : WS_EIO;
        rs->err = *e;
        rs->err.code = rs->rc;
    }
}

int ws_rfetch_target_cut(const struct rs *rs, uint32_t index)
{
    return index == rs->p->index && rs->p->offset != WS_POS_END;
}

/* ---- downloads ---------------------------------------------------------- */

/* A write of ours failed: name the file; the object is not fetched
 * again (see on_fetched). */
int ws_rfetch_local_write(struct obj *o, int fd, const char *name,
                          const void *buf, size_t len, uint64_t off,
                          struct ws_err *err)
{
    int rc = ws_fs_pwrite(fd, buf, len, off, err);

    if (rc == WS_OK)
        return WS_OK;
    o->local_fail = 1;
    ws_err_wrap(err, "%s", name);
    return ws_err_at(err, WS_AT_DB); /* the restored database's side */
}

/* The page size and size in pages a database header gives; *pages is 0
 * when the size field is not valid (SQLite then uses the file size). */
int ws_rfetch_db_header(const uint8_t *h, uint32_t *page_size, uint32_t *pages)
{
    uint32_t ps = (uint32_t)h[16] << 8 | h[17];

    if (memcmp(h, "SQLite format 3", 16) != 0)
        return -1;
    if (ps == 1)
        ps = 65536;
    if (ps < 512 || (ps & (ps - 1)) != 0)
        return -1;
    *page_size = ps;
    *pages = memcmp(h + 24, h + 92, 4) == 0 ? ws_get_be32(h + 28) : 0;
    return 0;
}

/* Decoded snapshot bytes: kept up to the size its header gives. */
static int snap_write(void *ctx, const void *buf, size_t len,
                      struct ws_err *err)
{
    struct rs *rs = ctx;
    uint64_t off = rs->soff;
    uint32_t ps, pages;

    if (off < DB_HDR)
        memcpy(rs->shdr + off, buf, len < DB_HDR - off ? len : DB_HDR - off);
    rs->soff += len;
    if (off < DB_HDR && rs->soff >= DB_HDR) {
        if (ws_rfetch_db_header(rs->shdr, &ps, &pages) != 0)
            return ws_err_set(err, WS_ECORRUPT, "%s: not a SQLite database "
                              "(bad header)", rs->snap.key);
        rs->swrite = pages ? (uint64_t)pages * ps : UINT64_MAX;
    }
    if (off >= rs->swrite)
        return WS_OK;
    if (len > rs->swrite - off)
        len = (size_t)(rs->swrite - off);
    return ws_rfetch_local_write(&rs->snap, rs->fd, rs->tmp, buf, len, off,
                                 err);
}

static int snap_sink(void *ctx, const void *buf, size_t len,
                     struct ws_err *err)
{
    struct obj *o = ctx;

    __atomic_add_fetch(&o->rs->bytes_in, len, __ATOMIC_RELAXED);
    o->got += len;
    ws_sha256_update(&o->rs->ssha, buf, len);
    return ws_lz4r_write(o->rs->slz, buf, len, err);
}

/* Append x to the array *v of *n values (room for *cap), growing it by
 * doubling from first. */
int ws_rfetch_u64_push(uint64_t **v, size_t *n, size_t *cap, size_t first,
                       uint64_t x, struct ws_err *err)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : first;
        uint64_t *nv = realloc(*v, c * sizeof(*nv));
        if (nv == NULL)
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = x;
    return WS_OK;
}

/* The spool offset of byte `at` of o's download, allocating its chunk
 * when the download reaches a new one; *room is what is left of the
 * chunk from there.  Chunks go to whichever object needs one next, so
 * the spool holds the bytes that came and never what a listing claimed
 * (a segment listed as 1 TiB costs the bytes it has, not a hole of 1 TiB
 * before every later segment). */
static int spool_at(struct obj *o, uint64_t at, uint64_t *off, size_t *room,
                    struct ws_err *err)
{
    size_t c = (size_t)(at / SPOOL_CHUNK);

    if (c == o->nchunks) {
        int rc = ws_rfetch_u64_push(&o->chunks, &o->nchunks, &o->cchunks, 4,
                                    __atomic_fetch_add(&o->rs->spool_next,
                                                       SPOOL_CHUNK,
                                                       __ATOMIC_RELAXED),
                                    err);
        if (rc != WS_OK)
            return rc;
    }
    *off = o->chunks[c] + at % SPOOL_CHUNK;
    *room = SPOOL_CHUNK - (size_t)(at % SPOOL_CHUNK);
    return WS_OK;
}

/* What a segment starts with: the WAL header at offset 0, else a
 * frame header. */
static size_t head_size(const struct obj *o)
{
    return o->si->offset == 0 ? WS_WAL_HDR_SIZE : WS_WAL_FRAME_HDR_SIZE;
}

/*
 * A segment's first decoded bytes, checked as soon as they arrive (see
 * the essay): a WAL header, or a frame of a page other than 0, and the
 * salts of the index's records where it has any.  An object that fails
 * is refused then, not after its whole listed size has been spooled.
 */
static int peek_sink(void *ctx, const void *buf, size_t len,
                     struct ws_err *err)
{
    struct obj *o = ctx;
    size_t need = head_size(o), n = need - o->nhead;
    struct ws_wal_hdr h;
    struct ws_wal_frame f;
    int rc;

    if (n == 0)
        return WS_OK;
    memcpy(o->head + o->nhead, buf, len < n ? len : n);
    o->nhead += len < n ? len : n;
    if (o->nhead < need)
        return WS_OK;
    if (o->si->offset == 0) {
        rc = ws_wal_decode_hdr(o->head, &h, err);
        if (rc == WS_OK)
            rc = ws_catalog_check_start(o->rs->p->g, o->si->index, h.salt1,
                                        h.salt2, err);
    } else {
        ws_wal_decode_frame(o->head, &f);
        rc = f.pgno != 0 ? WS_OK
                         : ws_err_set(err, WS_ECORRUPT, "its first frame "
                                      "writes page 0");
        if (rc == WS_OK)
            rc = ws_catalog_check_start(o->rs->p->g, o->si->index, f.salt1,
                                        f.salt2, err);
    }
    o->head_bad = rc != WS_OK;
    if (rc != WS_OK)
        ws_err_wrap(err, "%s: not a WAL segment of its index (its first "
                    "%zu bytes, refused as they came)", o->key, need);
    return rc;
}

/* Feed the peek decoder, and drop it once the first bytes are checked
 * or when it fails otherwise (the whole segment is checked later). */
static int peek(struct obj *o, const void *buf, size_t len,
                struct ws_err *err)
{
    struct ws_err e = {0};
    int rc = ws_lz4r_write(o->peek, buf, len, &e);

    if (rc != WS_OK || o->nhead == head_size(o)) {
        ws_lz4r_free(o->peek);
        o->peek = NULL;
    }
    if (o->head_bad) {
        *err = e;
        return rc;
    }
    return WS_OK;
}

/* Segment bytes go to the spool as they come, to be decoded in order
 * later; their frame's shape is followed meanwhile, so that bytes past
 * its end (an object padded with zeros up to its listed size) stop the
 * download at once rather than fill the spool. */
static int seg_sink(void *ctx, const void *buf, size_t len,
                    struct ws_err *err)
{
    struct obj *o = ctx;
    struct rs *rs = o->rs;
    const uint8_t *p = buf;
    int rc = ws_lz4r_write(o->scan, buf, len, err);

    if (rc == WS_OK && o->peek != NULL)
        rc = peek(o, buf, len, err);
    while (rc == WS_OK && len > 0) {
        uint64_t off = 0;
        size_t room = 0, n;
        rc = spool_at(o, o->got, &off, &room, err);
        if (rc != WS_OK)
            break;
        n = len < room ? len : room;
        rc = ws_rfetch_local_write(o, rs->spool, rs->spool_name, p, n, off,
                                   err);
        __atomic_add_fetch(&rs->bytes_in, n, __ATOMIC_RELAXED);
        o->got += n;
        p += n;
        len -= n;
    }
    return rc;
}

static void on_fetched(struct ws_req *req);

void ws_rfetch_start(struct obj *o)
{
    struct rs *rs = o->rs;
    uint64_t listed = o->k < 0 ? rs->p->snap->size : o->si->size;

    if (o->k >= 0) {
        ws_lz4r_free(o->scan);
        ws_lz4r_free(o->peek);
        o->scan = ws_lz4r_new_scan();
        o->peek = ws_lz4r_new(peek_sink, o, ws_lz4_max_output(listed));
        o->nhead = 0;
        o->head_bad = 0;
        if (o->scan == NULL || o->peek == NULL) {
            struct ws_err e;
            ws_err_set(&e, WS_ENOMEM, "out of memory");
            ws_rfetch_fail(rs, &e);
            return;
        }
    }
    if (o->k < 0) {
        uint64_t max = ws_lz4_max_output(listed);
        ws_lz4r_free(rs->slz);
        rs->slz = ws_lz4r_new(snap_write, rs, max < MAX_OBJECT ? max
                                                               : MAX_OBJECT);
        rs->soff = 0;
        rs->swrite = UINT64_MAX;
        ws_sha256_init(&rs->ssha);
        if (rs->slz == NULL || ftruncate(rs->fd, 0) != 0) {
            struct ws_err e;
            ws_err_set(&e, WS_ENOMEM, "out of memory");
            ws_rfetch_fail(rs, &e);
            return;
        }
    }
    __atomic_sub_fetch(&rs->bytes_in, o->got, __ATOMIC_RELAXED);
    o->got = 0;
    o->tries++;
    o->state = F_FETCH;
    memset(&o->req, 0, sizeof(o->req));
    o->req.type = WS_REQ_GET;
    snprintf(o->req.key, sizeof(o->req.key), "%s", o->key);
    o->req.sized = 1;
    o->req.size = listed;
    o->req.sink = o->k < 0 ? snap_sink : seg_sink;
    o->req.sink_ctx = o;
    o->req.cb = on_fetched;
    o->req.data = o;
    rs->inflight++;
    ws_slow_start(&o->watch.slow);
    ws_replica_submit(rs->r, &o->req);
}

/* The snapshot's stored bytes against its digest records (see the
 * essay). */
static int snap_digest(struct rs *rs, struct ws_err *err)
{
    uint8_t sum[WS_SHA256_LEN];

    ws_sha256_final(&rs->ssha, sum);
    if (ws_catalog_check_digest(rs->p->g, rs->p->snap->index, sum, err) !=
        WS_OK)
        return ws_err_wrap(err, "%s", rs->snap.key);
    return WS_OK;
}

/* A download that failed on the way (the network, the store) is tried
 * again; a bad object, or a write of ours that failed, is not. */
static void on_fetched(struct ws_req *req)
{
    struct obj *o = req->data;
    struct rs *rs = o->rs;
    int rc = req->rc;

    watch_stop(&o->watch);
    rs->inflight--;
    if (rc == WS_OK)
        rc = ws_lz4r_finish(o->k < 0 ? rs->slz : o->scan, &req->err);
    if (rc == WS_OK && o->k < 0)
        rc = snap_digest(rs, &req->err);
    if (rc != WS_OK) {
        if ((rc == WS_EIO || rc == WS_EREMOTE) && !o->local_fail &&
            o->tries < TRIES && rs->rc == WS_OK) {
            ws_warn("restore: download failed, retrying db=%s replica=%s "
                    "key=%s error=\"%s\"", rs->db, rs->r->cfg->name,
                    o->key, req->err.msg);
            ws_rfetch_start(o);
            return;
        }
        req->err.code = rc;
        if (strstr(req->err.msg, o->key) == NULL && !o->local_fail)
            ws_err_wrap(&req->err, "%s", o->key);
        ws_rfetch_fail(rs, &req->err);
    } else {
        WS_CRASHPOINT("restore-download");
        o->state = o->k < 0 ? F_CHECKED : F_HAVE;
        rs->objs_done++;
    }
    ws_rapply_pump(rs);
}
