/*
 * restore.c: see restore.h.
 *
 * What a replica says is checked before it is used, and every size it
 * gives is bounded by something already known:
 *
 *   Object bodies.  Every GET is bounded by the size the listing gave
 *   (replica.h): a longer body is stopped at that size, a shorter one
 *   fails, both naming the object.  The spool (compressed segments) thus
 *   holds at most the sum of the listed sizes; none may be over 1 TiB.
 *   Before any download, the output's directory must have room for the
 *   least the plan takes there (check_room); a plan that lists more
 *   than that is refused in one line naming the replica and both sizes.
 *   A segment's first decoded bytes are checked as soon as they arrive
 *   (a WAL header at offset 0, else a frame header, with the salts of
 *   the index's records): an object that is no segment (a sparse file
 *   of gigabytes of zeros behind a valid LZ4 frame header) is refused
 *   after its first LZ4 block, not after its listed size is spooled.
 *   An LZ4 frame decodes to at most 255 times its size
 *   (ws_lz4_max_output): the bound on each snapshot and segment, so a
 *   decompression bomb costs at most that much CPU.  Every frame must
 *   carry a content checksum (lz4f.h).
 *
 *   The snapshot.  It is a copy of the database file, whose page 1 gives
 *   the page size (a power of two from 512 to 65536, else the snapshot is
 *   not a database) and, when valid (non-zero, and its change counter
 *   equal to its version-valid-for number, SQLite's own rule), the
 *   database's size in pages N.  Bytes past N pages are decoded and
 *   checked but never written: SQLite writes page 1 whenever the size
 *   changes, and a checkpoint copies pages in ascending order, so a page
 *   past N in the file is either gone from the database or was written
 *   again after the page 1 it sees, by a frame of the snapshot's index,
 *   which the restore replays from offset 0.  The disk a snapshot takes
 *   is therefore at most N pages, whatever its body claims.
 *
 *   Frames.  Each WAL segment is verified (wal.h: header, salts, the
 *   checksum chain) before any of it is used.  A frame's page number is
 *   never used to size anything: the page map (pagemap.h) has an entry
 *   per page written.  A transaction may write a page past its commit's
 *   database size only when that page existed before it (SQLite writes a
 *   page out early when its cache spills, and a transaction that then
 *   shrinks the database, under auto_vacuum, cuts it off; SQLite ignores
 *   such a frame, and so does the restore); any other page past the
 *   commit's size is corruption naming the object and the frame.  For the
 *   first transaction replayed, the size before it is the snapshot's.
 *
 *   The database size of the last commit.  Every page of the restored
 *   database must come from the snapshot (its first min(N, file) pages)
 *   or from a frame, except the lock-byte page at 1 GiB, which SQLite
 *   never writes.  A commit that claims more pages than that is
 *   corruption naming it; the file is never extended over pages nothing
 *   wrote.
 *
 *   Records that bind the objects (layout.h, daemon.h).  Where the
 *   replica has them, walship's index records say where each index
 *   ended, with which checksum, and with which salts the next began;
 *   once an index is verified, its salts must be those of its records,
 *   and when the restore goes on past its end (into the next index, or
 *   to the end of it), its end and checksum those of the next index's
 *   records: a segment cut at an earlier commit, or an index taken from
 *   another database, would otherwise pass every other check.  Digest
 *   records give the SHA-256 of a walship snapshot's stored bytes, which
 *   are hashed as they arrive: a snapshot that matches none of its
 *   digest records is refused.  Without records (Litestream's replicas,
 *   older walships, a crash between an upload and its record) nothing
 *   is checked, as before.
 *
 *   Local writes.  A write to the target's directory that fails (ENOSPC,
 *   EDQUOT, EFBIG, EIO) fails the restore at once, naming the file; only
 *   downloads are retried.
 */
#include "ws/restore.h"
#include "ws/crashpt.h"
#include "ws/meta.h"
#include "ws/digest.h"
#include "ws/fs.h"
#include "ws/inspect.h"
#include "ws/log.h"
#include "ws/pagemap.h"
#include "ws/plan.h"
#include "ws/rlock.h"
#include "ws/slow.h"
#include "ws/times.h"
#include "ws/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define MAX_OBJECT (1ULL << 40)    /* listed size and decoded size of one
                                    * object; with WS_LIST_MAX_KEYS (10^7 <
                                    * 2^24) objects at most, their sum fits
                                    * in 64 bits */
#define MAX_TIMES (256ULL << 20)   /* ... per commit-time object */
#define LOCK_BYTE 0x40000000ULL    /* SQLite's lock-byte page holds it */
#define DB_HDR 100                 /* the database header, in page 1 */
#define TRIES 3                    /* downloads of one object */
#define CHUNK (1024 * 1024)
#define SPOOL_CHUNK (1024 * 1024) /* the spool's unit of allocation */
#define BARE "it has WAL segments but no snapshot" /* a generation so */
#define PROGRESS_MS 250
#define PROGRESS_LOG_MS 5000

enum { F_WAIT, F_FETCH, F_HAVE, F_CHECKING, F_CHECKED, F_APPLYING, F_DONE };

struct rs;

/* A request to a replica, said while it waits for an answer (slow.h). */
struct watch {
    struct ws_slow slow;
    const char *db;           /* for the log (ws_restore_opts.db) */
    const struct ws_replica *r;
    enum ws_reqtype type;
    const char *key;
    int closed;
};

/* One object to fetch: the snapshot (k == -1) or a WAL segment. */
struct obj {
    struct rs *rs;
    long k;
    char key[WS_KEY_MAX];
    const struct ws_seginfo *si;
    uint64_t *chunks;         /* segments: where their bytes are in the */
    size_t nchunks, cchunks;  /* spool, SPOOL_CHUNK bytes each */
    uint64_t got;
    int state;
    int tries;
    int local_fail;           /* a write of ours failed: not retried */
    struct ws_lz4r *scan;     /* segments: the frame's shape as it comes */
    struct ws_lz4r *peek;     /* segments: decodes the first bytes only */
    uint8_t head[WS_WAL_HDR_SIZE]; /* ... into here, until checked */
    size_t nhead;
    int head_bad;             /* ... and they were refused */
    struct ws_req req;
    struct watch watch;       /* on req */
    uv_work_t work;
    uint64_t *wins;           /* frames to write, by stream position */
    size_t nwins, cwins;
};

struct rs {
    uv_loop_t *loop;
    const char *db;           /* for the log (ws_restore_opts.db) */
    struct ws_replica *r;
    const struct ws_plan *p;
    const struct ws_tlist *recs; /* the plan's commit records */
    int par;
    int fd;                   /* the temporary database */
    int spool;
    const struct ws_fs_dir *dir; /* the output's directory */
    const char *base;         /* ".<name>": temporary names start so */
    uint64_t spool_next;      /* atomic: the next free chunk's offset */
    char tmp[4200];
    char spool_name[4400];    /* unlinked at once; for messages */

    struct obj snap;
    struct ws_sha256 ssha;    /* over its stored bytes, as they come */
    struct ws_lz4r *slz;
    uint64_t soff;            /* snapshot bytes decoded */
    uint8_t shdr[DB_HDR];     /* its database header, once soff >= 100 */
    uint64_t swrite;          /* bytes of it written: N pages, or all */
    uint32_t page_size;
    uint32_t snap_pages;      /* pages the snapshot brings (pass 2) */
    uint32_t final_pages;     /* the restored database's size (pass 2) */

    struct obj *segs;
    size_t n, next_fetch, next_check, next_apply, applied;
    int inflight, checking, applying, pass2;

    /* Owned by the check job (one at a time, in order).  map.seg is 1 +
     * the segment number, map.pos the frame's position in its stream. */
    struct ws_walv v;
    size_t vseg;
    size_t vfirst;            /* the first segment of v's index */
    struct ws_pagemap map;
    uint32_t db_pages;        /* database size at the last commit */
    size_t db_seg;            /* ... which ends in this segment */
    uint64_t db_off;          /* ... at this offset of its index */
    uint32_t wal_page_size;
    int cut_hit;
    int snap_reached;         /* the snapshot's record offset was met */
    int ntx;                  /* commits replayed */
    uint32_t tx_max;          /* the open transaction's highest page */
    size_t tx_max_seg;        /* ... and where its frame is */
    uint64_t tx_max_off;
    uint32_t first_max;       /* the first transaction's, if past its */
    uint32_t first_commit;    /* commit (checked against the snapshot) */
    size_t first_seg;
    uint64_t first_off;

    /* Carrying the position over (meta.h): the last index's WAL bytes,
     * kept as a shadow file while they are verified. */
    int carry;
    int carry_fd;             /* unlinked file beside the output */
    uint64_t carry_size;

    int rc;
    struct ws_err err;
    int done;

    uint64_t bytes_in;        /* atomic: downloaded bytes */
    size_t objs_done;
    int tty;
    int64_t t0, last_log;
    uv_timer_t prog;
};

static void pump(struct rs *rs);

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

static void watch_init(struct watch *w, const char *db,
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

static void on_watch_closed(uv_handle_t *h)
{
    struct ws_slow *s = h->data;
    struct watch *w = s->data;

    w->closed = 1;
}

/* A synchronous request (ws_replica_run) under a watch: begin before
 * it, end once it returns. */
static void watch_begin(struct watch *w, const char *db,
                        const struct ws_replica *r, enum ws_reqtype type,
                        const char *key)
{
    watch_init(w, db, r, type, key);
    ws_slow_start(&w->slow);
}

static void watch_end(struct watch *w)
{
    watch_stop(w);
    ws_slow_close(&w->slow, on_watch_closed);
    while (!w->closed)
        uv_run(w->r->loop, UV_RUN_NOWAIT);
}

/* ws_replica_run(r, req), watched (db: for the log). */
static int run_watched(const char *db, struct ws_replica *r,
                       struct ws_req *req)
{
    struct watch w;
    int rc;

    watch_begin(&w, db, r, req->type, req->key);
    rc = ws_replica_run(r, req);
    watch_end(&w);
    return rc;
}

static void fail(struct rs *rs, const struct ws_err *e)
{
    if (rs->rc == WS_OK) {
        rs->rc = e->code != WS_OK ? e->code : WS_EIO;
        rs->err = *e;
        rs->err.code = rs->rc;
    }
}

static int target_cut(const struct rs *rs, uint32_t index)
{
    return index == rs->p->index && rs->p->offset != WS_POS_END;
}

/* ---- downloads ---------------------------------------------------------- */

/* A write of ours failed: name the file; the object is not fetched
 * again (see on_fetched). */
static int local_write(struct obj *o, int fd, const char *name,
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
static int db_header(const uint8_t *h, uint32_t *page_size, uint32_t *pages)
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
        if (db_header(rs->shdr, &ps, &pages) != 0)
            return ws_err_set(err, WS_ECORRUPT, "%s: not a SQLite database "
                              "(bad header)", rs->snap.key);
        rs->swrite = pages ? (uint64_t)pages * ps : UINT64_MAX;
    }
    if (off >= rs->swrite)
        return WS_OK;
    if (len > rs->swrite - off)
        len = (size_t)(rs->swrite - off);
    return local_write(&rs->snap, rs->fd, rs->tmp, buf, len, off, err);
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
static int u64_push(uint64_t **v, size_t *n, size_t *cap, size_t first,
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
        int rc = u64_push(&o->chunks, &o->nchunks, &o->cchunks, 4,
                          __atomic_fetch_add(&o->rs->spool_next, SPOOL_CHUNK,
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
        rc = local_write(o, rs->spool, rs->spool_name, p, n, off, err);
        __atomic_add_fetch(&rs->bytes_in, n, __ATOMIC_RELAXED);
        o->got += n;
        p += n;
        len -= n;
    }
    return rc;
}

static void on_fetched(struct ws_req *req);

static void fetch(struct obj *o)
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
            fail(rs, &e);
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
            fail(rs, &e);
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
            fetch(o);
            return;
        }
        req->err.code = rc;
        if (strstr(req->err.msg, o->key) == NULL && !o->local_fail)
            ws_err_wrap(&req->err, "%s", o->key);
        fail(rs, &req->err);
    } else {
        WS_CRASHPOINT("restore-download");
        o->state = o->k < 0 ? F_CHECKED : F_HAVE;
        rs->objs_done++;
    }
    pump(rs);
}

/* ---- pass 1: verify in order, map the newest version of each page ------ */

/* A transaction wrote page `max` past its commit's size `commit`: only
 * a page that existed before it (size `before`) may be (see the essay). */
static int past_commit(const struct rs *rs, uint32_t max, uint32_t commit,
                       uint32_t before, size_t seg, uint64_t off,
                       struct ws_err *err)
{
    if (max <= commit || max <= before)
        return WS_OK;
    return ws_err_set(err, WS_ECORRUPT, "%s: the frame at offset %llu writes "
                      "page %u, past the database (%u pages before its "
                      "transaction, %u after)", rs->segs[seg].key,
                      (unsigned long long)off, max, before, commit);
}

static int on_frame(void *ctx, const struct ws_wal_frame *f,
                    const uint8_t *page, uint64_t off, struct ws_err *err)
{
    struct rs *rs = ctx;
    const struct obj *o = &rs->segs[rs->vseg];
    uint64_t end = off + ws_wal_frame_size(rs->v.hdr.page_size);
    int rc;

    (void)page;
    if (target_cut(rs, o->si->index) && end > rs->p->offset)
        return WS_OK; /* verified, but past the target */
    if (ws_pagemap_put(&rs->map, f->pgno, (uint32_t)rs->vseg + 1,
                       off - o->si->offset) != WS_OK)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if (f->pgno > rs->tx_max) {
        rs->tx_max = f->pgno;
        rs->tx_max_seg = rs->vseg;
        rs->tx_max_off = off;
    }
    if (f->commit == 0)
        return WS_OK;
    if (rs->ntx++ == 0 && rs->tx_max > f->commit) {
        /* Checked against the snapshot's size in pass 2. */
        rs->first_max = rs->tx_max;
        rs->first_commit = f->commit;
        rs->first_seg = rs->tx_max_seg;
        rs->first_off = rs->tx_max_off;
    } else if (rs->ntx > 1) {
        rc = past_commit(rs, rs->tx_max, f->commit, rs->db_pages,
                         rs->tx_max_seg, rs->tx_max_off, err);
        if (rc != WS_OK)
            return rc;
    }
    rs->tx_max = 0;
    rs->db_pages = f->commit;
    rs->db_seg = rs->vseg;
    rs->db_off = end;
    if (target_cut(rs, o->si->index) && end == rs->p->offset)
        rs->cut_hit = 1;
    return WS_OK;
}

static int walv_sink(void *ctx, const void *buf, size_t len,
                     struct ws_err *err)
{
    struct rs *rs = ctx;
    return ws_walv_feed(&rs->v, buf, len, err);
}

/* walv_sink that also keeps the bytes, for the target index when the
 * position is carried over. */
static int carry_sink(void *ctx, const void *buf, size_t len,
                      struct ws_err *err)
{
    struct rs *rs = ctx;
    int rc = ws_walv_feed(&rs->v, buf, len, err);

    if (rc == WS_OK && ws_fs_pwrite(rs->carry_fd, buf, len, rs->carry_size,
                                    err) != WS_OK)
        rc = ws_err_at(err, WS_AT_DB);
    rs->carry_size += len;
    return rc;
}

/* Decompress segment o from the spool into sink. */
static int unspool(struct rs *rs, struct obj *o, ws_sink_fn sink, void *ctx,
                   uint8_t *buf, struct ws_err *err)
{
    struct ws_lz4r *lz = ws_lz4r_new(sink, ctx, ws_lz4_max_output(o->got));
    uint64_t off = 0;
    int rc = WS_OK;

    if (lz == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    while (rc == WS_OK && off < o->got) {
        uint64_t at = o->chunks[off / SPOOL_CHUNK] + off % SPOOL_CHUNK;
        size_t room = SPOOL_CHUNK - (size_t)(off % SPOOL_CHUNK), got,
               want = o->got - off < CHUNK ? (size_t)(o->got - off) : CHUNK;
        if (want > room)
            want = room;
        rc = ws_fs_pread(rs->spool, buf, want, at, &got, err);
        if (rc == WS_OK && got != want)
            rc = ws_err_set(err, WS_EIO, "%s: short read", rs->spool_name);
        if (rc == WS_OK)
            rc = ws_lz4r_write(lz, buf, got, err);
        off += want;
    }
    if (rc == WS_OK)
        rc = ws_lz4r_finish(lz, err);
    ws_lz4r_free(lz);
    return rc;
}

/*
 * The index records (see the essay) about the index of segment o, its
 * last, now that the index is verified: the salts its first segment
 * carries and, when the restore crosses into the next index or ends
 * where this one does, where it ended and its checksum there.
 */
static int check_bounds(struct rs *rs, const struct obj *o,
                        struct ws_err *err)
{
    const struct ws_geninfo *g = rs->p->g;
    uint32_t i = o->si->index;

    if (ws_catalog_check_start(g, i, rs->v.hdr.salt1, rs->v.hdr.salt2,
                               err) != WS_OK)
        return ws_err_wrap(err, "%s", rs->segs[rs->vfirst].key);
    if (!target_cut(rs, i) &&
        ws_catalog_check_end(g, i, rs->v.off, rs->v.s, err) != WS_OK)
        return ws_err_wrap(err, "%s", o->key);
    return WS_OK;
}

/* The recorded time of the last commit replayed, 0 when none. */
static int64_t last_commit_time(const struct rs *rs)
{
    uint32_t index = rs->segs[rs->db_seg].si->index;

    for (size_t i = 0; rs->recs != NULL && rs->ntx > 0 && i < rs->recs->n;
         i++)
        if (rs->recs->v[i].kind == WS_T_COMMIT &&
            rs->recs->v[i].index == index &&
            rs->recs->v[i].offset == rs->db_off)
            return rs->recs->v[i].time_us;
    return 0;
}

static int check_seg(struct rs *rs, struct obj *o, struct ws_err *err)
{
    const struct ws_plan *p = rs->p;
    size_t k = (size_t)o->k;
    int first = k == 0 || rs->segs[k - 1].si->index != o->si->index;
    int last = k + 1 == rs->n || rs->segs[k + 1].si->index != o->si->index;
    uint8_t *buf;
    int rc;

    if (first) {
        ws_walv_init(&rs->v);
        rs->v.on_frame = on_frame;
        rs->v.ctx = rs;
        rs->cut_hit = 0;
        rs->vfirst = k;
    }
    if (o->si->offset != (rs->v.have_hdr ? rs->v.off : 0))
        return ws_err_set(err, WS_ECORRUPT, "%s: wal segments out of order: "
                          "expected offset %llu", o->key,
                          (unsigned long long)rs->v.off);
    buf = malloc(CHUNK);
    if (buf == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rs->vseg = k;
    rc = unspool(rs, o,
                 rs->carry && o->si->index == p->index ? carry_sink
                                                       : walv_sink,
                 rs, buf, err);
    free(buf);
    if (rc == WS_OK && rs->v.have_hdr) {
        if (rs->wal_page_size == 0)
            rs->wal_page_size = rs->v.hdr.page_size;
        if (rs->v.hdr.page_size != rs->wal_page_size)
            rc = ws_err_set(err, WS_ECORRUPT, "page size changed from %u to "
                            "%u", rs->wal_page_size, rs->v.hdr.page_size);
    }
    if (rc == WS_OK && last)
        rc = ws_walv_end(&rs->v, err);
    if (rc != WS_OK)
        return strstr(err->msg, o->key) ? rc : ws_err_wrap(err, "%s", o->key);
    if (last)
        rc = check_bounds(rs, o, err);
    if (rc != WS_OK)
        return rc;
    if (!last)
        return WS_OK;
    if (o->si->index == p->index &&
        (rs->carry_size != rs->v.off ||
         (target_cut(rs, o->si->index) && p->offset != rs->v.off)))
        rs->carry = 0; /* the database is not the whole index */
    if (o->si->index == p->snap->index &&
        (p->snap_safe <= WS_WAL_HDR_SIZE || rs->v.off >= p->snap_safe))
        rs->snap_reached = 1;
    if (p->must_reach != 0 && o->si->index == p->must_index &&
        rs->v.off < p->must_reach)
        return ws_plan_gap(p, o->si->index, rs->v.off, last_commit_time(rs),
                           err);
    if (target_cut(rs, o->si->index) && !rs->cut_hit)
        rc = ws_err_set(err, WS_ECORRUPT, "generation %s index %08x: no "
                        "commit ends at offset %llu, where the commit-time "
                        "record points (the WAL ends at %llu)",
                        p->g->name, o->si->index,
                        (unsigned long long)p->offset,
                        (unsigned long long)rs->v.off);
    ws_walv_free(&rs->v);
    return rc;
}

static void on_check_work(uv_work_t *w)
{
    struct obj *o = w->data;
    struct ws_err e = {0};

    if (check_seg(o->rs, o, &e) != WS_OK)
        o->req.err = e, o->req.rc = e.code;
    else
        o->req.rc = WS_OK;
}

static void on_check_done(uv_work_t *w, int status)
{
    struct obj *o = w->data;
    struct rs *rs = o->rs;

    (void)status;
    rs->checking = 0;
    if (o->req.rc != WS_OK)
        fail(rs, &o->req.err);
    o->state = F_CHECKED;
    rs->next_check++;
    pump(rs);
}

/* ---- pass 2: write the newest version of each page ---------------------- */

struct applier {
    struct rs *rs;
    struct obj *o;
    uint64_t sp;              /* stream position of the next byte */
    size_t w;                 /* next entry of o->wins */
    uint8_t *frame;
    size_t have;
};

static int apply_sink(void *ctx, const void *buf, size_t len,
                      struct ws_err *err)
{
    struct applier *a = ctx;
    const uint8_t *b = buf;
    uint64_t fs = ws_wal_frame_size(a->rs->page_size);

    while (len > 0 && a->w < a->o->nwins) {
        uint64_t start = a->o->wins[a->w];
        size_t n;
        if (a->sp + len <= start) {
            a->sp += len;
            return WS_OK;
        }
        if (a->sp < start) {
            n = (size_t)(start - a->sp);
            a->sp += n;
            b += n;
            len -= n;
        }
        n = fs - a->have < len ? (size_t)(fs - a->have) : len;
        memcpy(a->frame + a->have, b, n);
        a->have += n;
        a->sp += n;
        b += n;
        len -= n;
        if (a->have == fs) {
            uint32_t pgno = ws_get_be32(a->frame);
            int rc = local_write(a->o, a->rs->fd, a->rs->tmp,
                                 a->frame + WS_WAL_FRAME_HDR_SIZE,
                                 a->rs->page_size,
                                 (uint64_t)(pgno - 1) * a->rs->page_size,
                                 err);
            if (rc != WS_OK)
                return rc;
            a->have = 0;
            a->w++;
        }
    }
    a->sp += len;
    return WS_OK;
}

static void on_apply_work(uv_work_t *w)
{
    struct obj *o = w->data;
    struct applier a = {o->rs, o, 0, 0, NULL, 0};
    uint8_t *buf = malloc(CHUNK);
    struct ws_err e = {0};
    int rc;

    a.frame = malloc(ws_wal_frame_size(o->rs->page_size));
    if (buf == NULL || a.frame == NULL)
        rc = ws_err_set(&e, WS_ENOMEM, "out of memory");
    else
        rc = unspool(o->rs, o, apply_sink, &a, buf, &e);
    if (rc == WS_OK && a.w != o->nwins)
        rc = ws_err_set(&e, WS_ECORRUPT, "%s: changed since it was checked",
                        o->key);
    o->req.rc = rc;
    o->req.err = e;
    free(buf);
    free(a.frame);
}

static void on_apply_done(uv_work_t *w, int status)
{
    struct obj *o = w->data;
    struct rs *rs = o->rs;

    (void)status;
    rs->applying--;
    rs->applied++;
    o->state = F_DONE;
    if (o->req.rc != WS_OK)
        fail(rs, &o->req.err);
    free(o->wins);
    o->wins = NULL;
    pump(rs);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The snapshot's size in pages, and the restored database's: the last
 * commit's, or the snapshot's own when no frame was replayed.  Checks
 * the header, the first transaction (see on_frame) and that every page
 * of the result comes from the snapshot or a frame. */
static int check_sizes(struct rs *rs, uint32_t *final, struct ws_err *err)
{
    uint32_t hdr_pages, lock, have = 0, need;
    uint64_t file_pages;

    if (rs->soff < DB_HDR ||
        db_header(rs->shdr, &rs->page_size, &hdr_pages) != 0)
        return ws_err_set(err, WS_ECORRUPT, "%s: not a SQLite database",
                          rs->snap.key);
    if (rs->wal_page_size != 0 && rs->wal_page_size != rs->page_size)
        return ws_err_set(err, WS_ECORRUPT, "wal page size %u != database "
                          "page size %u (%s)", rs->wal_page_size,
                          rs->page_size, rs->snap.key);
    file_pages = rs->soff / rs->page_size;
    if (file_pages > UINT32_MAX)
        file_pages = UINT32_MAX;
    rs->snap_pages = hdr_pages == 0 || hdr_pages > file_pages
                         ? (uint32_t)file_pages
                         : hdr_pages;
    if (rs->first_max != 0 &&
        past_commit(rs, rs->first_max, rs->first_commit, rs->snap_pages,
                    rs->first_seg, rs->first_off, err) != WS_OK)
        return err->code;
    *final = rs->db_pages  ? rs->db_pages
             : hdr_pages ? hdr_pages
                         : rs->snap_pages;
    if (*final <= rs->snap_pages)
        return WS_OK;
    /* Pages (snap_pages, final] must each have a frame. */
    for (size_t i = 0; i < rs->map.cap; i++)
        have += rs->map.v[i].pgno > rs->snap_pages &&
                rs->map.v[i].pgno <= *final;
    lock = (uint32_t)(LOCK_BYTE / rs->page_size) + 1;
    need = *final - rs->snap_pages - (lock > rs->snap_pages && lock <= *final);
    if (have >= need)
        return WS_OK;
    if (rs->db_pages == 0)
        return ws_err_set(err, WS_ECORRUPT, "%s: its header says %u pages, "
                          "it holds %llu", rs->snap.key, *final,
                          (unsigned long long)file_pages);
    return ws_err_set(err, WS_ECORRUPT, "%s: the commit ending at offset "
                      "%llu makes the database %u pages, but %u of them are "
                      "in neither the snapshot (%u pages) nor any frame",
                      rs->segs[rs->db_seg].key,
                      (unsigned long long)rs->db_off, *final, need - have,
                      rs->snap_pages);
}

/* Hand every mapped page of the result to its segment; 0 pages when no
 * WAL was used.  *final is the result's size in pages. */
static int prepare_pass2(struct rs *rs, uint32_t *final, struct ws_err *err)
{
    int rc = check_sizes(rs, final, err);

    if (rc != WS_OK)
        return rc;
    if (!rs->snap_reached && rs->p->snap_safe > WS_WAL_HDR_SIZE)
        return ws_err_set(err, WS_ECORRUPT, "%s holds changes up to offset "
                          "%llu of its index, but the replica's WAL for it "
                          "ends before that", rs->snap.key,
                          (unsigned long long)rs->p->snap_safe);
    for (size_t i = 0; i < rs->map.cap; i++) {
        const struct ws_pagepos *m = &rs->map.v[i];
        struct obj *o;
        if (m->pgno == 0 || m->pgno > *final)
            continue;
        o = &rs->segs[m->seg - 1];
        if (u64_push(&o->wins, &o->nwins, &o->cwins, 16, m->pos, err) !=
            WS_OK)
            return WS_ENOMEM;
    }
    for (size_t k = 0; k < rs->n; k++)
        if (rs->segs[k].nwins > 1)
            qsort(rs->segs[k].wins, rs->segs[k].nwins, sizeof(uint64_t),
                  cmp_u64);
    ws_pagemap_free(&rs->map);
    return WS_OK;
}

/* ---- driver ------------------------------------------------------------- */

static void progress(struct rs *rs, int final)
{
    char line[160];
    int64_t now = ws_now_ms();

    snprintf(line, sizeof(line), "%.1f/%.1f MB, %zu/%zu objects, "
             "%zu/%zu segments applied",
             (double)__atomic_load_n(&rs->bytes_in, __ATOMIC_RELAXED) / 1e6,
             (double)rs->p->bytes / 1e6, rs->objs_done, rs->n + 1,
             rs->applied, rs->n);
    if (rs->tty) {
        fprintf(stderr, "\rrestore: %s%s", line, final ? "\n" : "");
    } else if (final || now - rs->last_log >= PROGRESS_LOG_MS) {
        rs->last_log = now;
        ws_info("restore: %s db=%s", line, rs->db);
    }
}

static void on_progress(uv_timer_t *t)
{
    progress(t->data, 0);
}

static void pump(struct rs *rs)
{
    struct ws_err e = {0};

    if (rs->rc != WS_OK) {
        if (rs->inflight == 0 && !rs->checking && rs->applying == 0)
            rs->done = 1;
        return;
    }
    if (rs->snap.state == F_WAIT)
        fetch(&rs->snap);
    while (rs->rc == WS_OK && rs->inflight < rs->par &&
           rs->next_fetch < rs->n)
        fetch(&rs->segs[rs->next_fetch++]);
    if (rs->rc != WS_OK) {
        pump(rs);
        return;
    }
    if (!rs->checking && rs->next_check < rs->n &&
        rs->segs[rs->next_check].state == F_HAVE) {
        struct obj *o = &rs->segs[rs->next_check];
        rs->checking = 1;
        o->state = F_CHECKING;
        o->work.data = o;
        uv_queue_work(rs->loop, &o->work, on_check_work, on_check_done);
    }
    if (rs->snap.state != F_CHECKED || rs->next_check < rs->n)
        return;
    if (!rs->pass2) {
        rs->pass2 = 1;
        if (prepare_pass2(rs, &rs->final_pages, &e) != WS_OK) {
            fail(rs, &e);
            pump(rs);
            return;
        }
    }
    while (rs->applying < rs->par && rs->next_apply < rs->n) {
        struct obj *o = &rs->segs[rs->next_apply++];
        if (o->nwins == 0) {
            rs->applied++;
            continue;
        }
        rs->applying++;
        o->state = F_APPLYING;
        o->work.data = o;
        uv_queue_work(rs->loop, &o->work, on_apply_work, on_apply_done);
    }
    if (rs->applying == 0 && rs->next_apply == rs->n)
        rs->done = 1;
}

/* The objects of the plan, each listed at most MAX_OBJECT bytes (so the
 * spool's offsets, their sum, fit), laid out in the spool. */
static int objects(struct rs *rs, struct ws_err *err)
{
    const struct ws_plan *p = rs->p;
    const struct ws_geninfo *g = p->g;

    rs->snap.rs = rs;
    rs->snap.k = -1;
    ws_key_snapshot(rs->snap.key, sizeof(rs->snap.key), g->name,
                    p->snap->index);
    if (p->snap->size > MAX_OBJECT)
        return ws_err_set(err, WS_ECORRUPT, "%s: listed as %llu bytes, over "
                          "the 1 TiB a restore takes", rs->snap.key,
                          (unsigned long long)p->snap->size);
    for (size_t k = 0; k < rs->n; k++) {
        struct obj *o = &rs->segs[k];
        o->rs = rs;
        o->k = (long)k;
        o->si = &g->segs[p->seg0 + k];
        ws_key_wal(o->key, sizeof(o->key), g->name, o->si->index,
                   o->si->offset);
        if (o->si->size > MAX_OBJECT)
            return ws_err_set(err, WS_ECORRUPT, "%s: listed as %llu bytes, "
                              "over the 1 TiB a restore takes", o->key,
                              (unsigned long long)o->si->size);
    }
    return WS_OK;
}

/*
 * Refuse, before any download, a plan whose objects cannot fit in the
 * output's directory (see the essay): what the restore holds there at
 * its peak is the database built from the snapshot (at least the
 * snapshot's listed size: LZ4 never shrinks what it stores raw, so a
 * stored object decodes to at least about its size), every segment in
 * the spool (kept until the last is applied), and the carried index's
 * WAL again.  A lower bound: a restore refused here could never have
 * finished.
 */
static int check_room(const struct rs *rs, struct ws_err *err)
{
    const struct ws_plan *p = rs->p;
    uint64_t segs = 0, carried = 0, need, avail;
    const struct obj *big = &rs->snap;
    struct statvfs sv;

    for (size_t k = 0; k < rs->n; k++) {
        if (rs->segs[k].si->size > (big->k < 0 ? p->snap->size
                                                : big->si->size))
            big = &rs->segs[k];
        segs += rs->segs[k].si->size;
        if (rs->carry && rs->segs[k].si->index == p->index)
            carried += rs->segs[k].si->size;
    }
    need = p->snap->size + segs + carried;
    if (fstatvfs(rs->dir->fd, &sv) != 0)
        return WS_OK; /* unknown: the writes will tell */
    avail = (uint64_t)(geteuid() == 0 ? sv.f_bfree : sv.f_bavail) *
            sv.f_frsize;
    if (need <= avail)
        return WS_OK;
    ws_err_set(err, WS_EIO, "cannot restore from replica %s: the "
                      "plan needs at least %llu bytes in %s (the snapshot's "
                      "%llu and %zu WAL segments' %llu, by their listed "
                      "sizes%s), and it has %llu free; the largest object "
                      "is %s (%llu bytes)",
                      rs->r->cfg->url ? rs->r->cfg->url : rs->r->cfg->name,
                      (unsigned long long)need, rs->dir->path,
                      (unsigned long long)p->snap->size, rs->n,
                      (unsigned long long)segs,
                      carried ? ", and the last index's again, carried over"
                              : "",
                      (unsigned long long)avail, big->key,
                      (unsigned long long)(big->k < 0 ? p->snap->size
                                                      : big->si->size));
    return ws_err_at(err, WS_AT_DB); /* the output's file system */
}

/* Build the file at rs->tmp (already open as rs->fd). */
static int build(struct rs *rs, struct ws_err *err)
{
    char spool[NAME_MAX + 1];
    int rc;

    rs->n = rs->p->nsegs;
    rs->segs = calloc(rs->n ? rs->n : 1, sizeof(*rs->segs));
    if (rs->segs == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = objects(rs, err);
    if (rc == WS_OK)
        rc = check_room(rs, err);
    if (rc != WS_OK)
        return rc;
    rc = ws_fs_tmp_anon(rs->dir, rs->base, 0600, spool, sizeof(spool),
                        &rs->spool, err);
    if (rc != WS_OK)
        return rc;
    if (spool[0] != '\0')
        unlinkat(rs->dir->fd, spool, 0); /* nothing to clean up */
    snprintf(rs->spool_name, sizeof(rs->spool_name), "the spool file for "
             "%s/%s", rs->dir->path, rs->base + 1);
    rs->tty = isatty(2);
    rs->t0 = rs->last_log = ws_now_ms();
    uv_timer_init(rs->loop, &rs->prog);
    rs->prog.data = rs;
    uv_timer_start(&rs->prog, on_progress, PROGRESS_MS, PROGRESS_MS);
    watch_init(&rs->snap.watch, rs->db, rs->r, WS_REQ_GET, rs->snap.key);
    for (size_t k = 0; k < rs->n; k++)
        watch_init(&rs->segs[k].watch, rs->db, rs->r, WS_REQ_GET,
                   rs->segs[k].key);
    pump(rs);
    while (!rs->done)
        uv_run(rs->loop, UV_RUN_ONCE);
    uv_timer_stop(&rs->prog);
    uv_close((uv_handle_t *)&rs->prog, NULL);
    ws_slow_close(&rs->snap.watch.slow, on_watch_closed);
    for (size_t k = 0; k < rs->n; k++)
        ws_slow_close(&rs->segs[k].watch.slow, on_watch_closed);
    while (!rs->snap.watch.closed)
        uv_run(rs->loop, UV_RUN_NOWAIT); /* closes all of them */
    if (rs->rc == WS_OK)
        progress(rs, 1);
    else if (rs->tty)
        fputc('\n', stderr);
    if (rs->rc == WS_OK &&
        ftruncate(rs->fd, (off_t)rs->final_pages * rs->page_size) != 0)
        ws_err_set(&rs->err, rs->rc = WS_EIO, "truncate %s: %s", rs->tmp,
                   strerror(errno));
    if (rs->rc != WS_OK)
        *err = rs->err;
    return rs->rc;
}

/* ---- planning ----------------------------------------------------------- */

struct membuf {
    uint8_t *p;
    size_t n;
};

static int mem_sink(void *ctx, const void *buf, size_t len,
                    struct ws_err *err)
{
    struct membuf *m = ctx;
    uint8_t *p;

    if (m->n + len > MAX_TIMES)
        return ws_err_set(err, WS_ECORRUPT, "too large");
    p = realloc(m->p, m->n + len);
    if (p == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    memcpy(p + m->n, buf, len);
    m->p = p;
    m->n += len;
    return WS_OK;
}

/* Download and decode one commit-time object into out. */
static int get_times(const char *db, struct ws_replica *r,
                     const struct ws_geninfo *g, const struct ws_timesinfo *t,
                     struct ws_tlist *out, struct ws_err *err)
{
    struct membuf m = {0};
    struct ws_req req;
    uint8_t *raw = NULL;
    size_t rawn;
    int rc;

    memset(&req, 0, sizeof(req));
    req.type = WS_REQ_GET;
    ws_key_times_of(req.key, sizeof(req.key), g->name, t);
    req.sink = mem_sink;
    req.sink_ctx = &m;
    req.sized = 1;
    req.size = t->size;
    rc = run_watched(db, r, &req);
    if (rc != WS_OK)
        *err = req.err, err->code = rc;
    if (rc == WS_OK)
        rc = ws_lz4_decompress_mem(m.p, m.n, MAX_TIMES, &raw, &rawn, err);
    if (rc == WS_OK)
        rc = ws_times_decode(raw, rawn, out, err);
    free(m.p);
    free(raw);
    if (rc != WS_OK)
        return ws_err_wrap(err, "%s", req.key);
    ws_tlist_sort(out);
    return WS_OK;
}

/*
 * The records of g that a plan for q needs: those of the commit-time
 * object for its time, or the newest one without a time (whose last
 * commit the newest state must reach, plan.h); none for -index.  A
 * commit-time object that cannot be read (corrupt, gone since the
 * listing) costs only precision: that generation falls back to object
 * times, and says so.
 */
static int recs_for(const char *db, struct ws_replica *r,
                    const struct ws_geninfo *g, const struct ws_plan_req *q,
                    struct ws_tlist *recs, struct ws_err *err)
{
    const struct ws_timesinfo *t = q->has_index ? NULL
                                                : ws_plan_times_obj(g, q);
    struct ws_err e = {0};
    int rc;

    recs->n = 0;
    if (t == NULL)
        return WS_OK;
    rc = get_times(db, r, g, t, recs, &e);
    if (rc == WS_ENOMEM) {
        *err = e;
        return rc;
    }
    if (rc != WS_OK) {
        recs->n = 0;
        ws_warn("restore: commit times of generation %s cannot be read, "
                "using object times for it db=%s replica=%s: %s", g->name,
                db, r->cfg->name, e.msg);
    }
    return WS_OK;
}

/*
 * The oldest moment g restores to (plan.h): dated by the commit record
 * at its oldest snapshot's position, from the commit-time object that
 * holds it.  recs are g's records read already, from object `have`
 * (NULL: none); another object is read when that is the one.  Without
 * it, the snapshot record's time (a few ms late, but restorable).
 */
static int oldest_of(const char *db, struct ws_replica *r,
                     const struct ws_geninfo *g,
                     const struct ws_timesinfo *have,
                     const struct ws_tlist *recs, int64_t *out,
                     struct ws_err *err)
{
    const struct ws_timesinfo *t = ws_plan_oldest_obj(g);
    struct ws_tlist own = {0};
    struct ws_err e = {0};
    int rc;

    if (t == NULL || t == have) {
        *out = ws_plan_oldest(g, recs);
        return WS_OK;
    }
    rc = get_times(db, r, g, t, &own, &e);
    if (rc == WS_ENOMEM) {
        *err = e;
        return rc;
    }
    if (rc != WS_OK)
        ws_warn("restore: commit times of generation %s cannot be read, "
                "its oldest moment is dated by its snapshot's record db=%s "
                "replica=%s: %s", g->name, db, r->cfg->name, e.msg);
    *out = ws_plan_oldest(g, rc == WS_OK ? &own : NULL);
    ws_tlist_free(&own);
    return WS_OK;
}

struct choice {
    struct ws_plan plan;
    struct ws_tlist recs;
    size_t ri;
    int ok;
};

/* One generation of one replica, as choose() tries them. */
struct gref {
    size_t ri;
    const struct ws_geninfo *g;
    int broken;               /* passed over: no state it can prove */
    char why[WS_ERR_MSG];
};

/* Newest generation first (ws_gen_cmp); on a tie, the replica listed
 * first. */
static int cmp_gref(const void *a, const void *b)
{
    const struct gref *x = a, *y = b;
    int k = ws_gen_cmp(y->g, x->g);

    if (k != 0)
        return k;
    return (x->ri > y->ri) - (x->ri < y->ri);
}

/* List every replica (cats[i]: an empty catalog for one whose directory
 * does not exist, replica.h).  When every replica is missing, that is
 * the error (WS_ENOTFOUND: nothing to restore); when some are, each is
 * said in a WARN line and the others are used. */
static int catalogs(const char *db, struct ws_replica *const *reps,
                    size_t n, struct ws_catalog *cats, struct ws_err *err)
{
    struct ws_err *miss = calloc(n, sizeof(*miss));
    size_t nmiss = 0;
    int rc = miss ? WS_OK : ws_err_set(err, WS_ENOMEM, "out of memory");

    for (size_t i = 0; rc == WS_OK && i < n; i++) {
        struct watch w;
        watch_begin(&w, db, reps[i], WS_REQ_LIST, "generations/");
        rc = ws_replica_catalog(reps[i], &cats[i], &miss[i]);
        watch_end(&w);
        if (rc == WS_ENOTFOUND) {
            memset(&cats[i], 0, sizeof(cats[i]));
            nmiss++;
            rc = WS_OK;
        } else if (rc != WS_OK) {
            *err = miss[i];
        } else {
            miss[i].code = WS_OK;
        }
    }
    for (size_t i = 0; rc == WS_OK && nmiss > 0 && i < n; i++) {
        if (miss[i].code == WS_OK)
            continue;
        if (nmiss == n) {
            *err = miss[i];
            rc = WS_ENOTFOUND;
        } else {
            ws_warn("restore: passing over a replica db=%s replica=%s: %s",
                    db, reps[i]->cfg->name, miss[i].msg);
        }
    }
    free(miss);
    return rc;
}

/* List every replica (catalogs), and say what each listing passed
 * over. */
static int list_all(struct ws_replica *const *reps, size_t n,
                    const char *db, struct ws_catalog *cats,
                    struct ws_err *err)
{
    int rc = catalogs(db, reps, n, cats, err);

    for (size_t i = 0; rc == WS_OK && i < n; i++)
        if (cats[i].nskipped > 0)
            ws_warn("restore: the listing of replica %s passed over %zu "
                    "entr%s that %s not a regular file or a directory db=%s: "
                    "%s%s", reps[i]->cfg->name, cats[i].nskipped,
                    cats[i].nskipped == 1 ? "y" : "ies",
                    cats[i].nskipped == 1 ? "is" : "are", db,
                    cats[i].skipped,
                    cats[i].nskipped == 1 ? "" : ", ...");
    return rc;
}

/* Gather the generations of the listed replicas, newest first; those of
 * a replica whose out_of[i] is set are left out (NULL: none is). */
static int gather(size_t n, const struct ws_restore_opts *o,
                  const struct ws_catalog *cats, const char *out_of,
                  struct gref **out, size_t *nout, struct ws_err *err)
{
    size_t total = 0, k = 0;
    struct gref *v;

    for (size_t i = 0; i < n; i++)
        total += cats[i].ngens;
    v = calloc(total ? total : 1, sizeof(*v));
    if (v == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (out_of != NULL && out_of[i])
            continue;
        for (size_t j = 0; j < cats[i].ngens; j++)
            if (o->generation == NULL ||
                strcmp(cats[i].gens[j].name, o->generation) == 0)
                v[k++] = (struct gref){i, &cats[i].gens[j], 0, ""};
    }
    qsort(v, k, sizeof(*v), cmp_gref);
    *out = v;
    *nout = k;
    return WS_OK;
}

/* Say what was passed over for the plan chosen (c NULL: none was): each
 * generation newer than it that could not be restored, and a target
 * older than what was asked for.  Generations newer than `said` were
 * named already, for an earlier choice (NULL: none was made). */
static void log_skips(struct ws_replica *const *reps, const char *db,
                      const struct gref *v, size_t n, const struct choice *c,
                      const struct ws_geninfo *said)
{
    for (size_t i = 0; i < n; i++) {
        if (c != NULL && ws_gen_cmp(v[i].g, c->plan.g) <= 0)
            continue;
        if (said != NULL && ws_gen_cmp(v[i].g, said) > 0)
            continue;
        if (v[i].broken)
            ws_warn("restore: skipping generation %s db=%s replica=%s: %s",
                    v[i].g->name, db, reps[v[i].ri]->cfg->name, v[i].why);
        else if (v[i].g->nsnaps == 0 && v[i].g->nsegs > 0)
            ws_warn("restore: skipping generation %s db=%s replica=%s: %s",
                    v[i].g->name, db, reps[v[i].ri]->cfg->name, BARE);
    }
    if (c != NULL && c->plan.skipped[0])
        ws_warn("restore: generation %s db=%s replica=%s: %s",
                c->plan.g->name, db, reps[c->ri]->cfg->name,
                c->plan.skipped);
}

/* "no matching backups found", naming each replica looked in and what
 * its listing passed over, if anything (a generation replaced by a
 * symbolic link, say). */
static int not_found(struct ws_replica *const *reps, size_t n,
                     const struct ws_catalog *cats, struct ws_err *err)
{
    char msg[WS_ERR_MSG], where[256];
    size_t k = 0;

    for (size_t i = 0; i < n && k < sizeof(msg); i++) {
        reps[i]->ops->describe(reps[i], where, sizeof(where));
        k += (size_t)snprintf(msg + k, sizeof(msg) - k, "%s%s (%s)",
                              i ? ", " : "", reps[i]->cfg->name, where);
        if (k < sizeof(msg) && cats[i].nskipped > 0)
            k += (size_t)snprintf(msg + k, sizeof(msg) - k,
                                  ", whose listing passed over %zu "
                                  "entr%s: %s%s", cats[i].nskipped,
                                  cats[i].nskipped == 1 ? "y" : "ies",
                                  cats[i].skipped,
                                  cats[i].nskipped == 1 ? "" : ", ...");
    }
    return ws_err_set(err, WS_ENOTFOUND, "no matching backups found in "
                      "replica %s", msg);
}

/* A time before the oldest moment of every generation: name that moment
 * (of generation x, NULL when none has one). */
static int too_early(const char *db, struct ws_replica *const *reps,
                     const struct gref *x, int64_t time_us,
                     struct ws_err *err)
{
    char a[40], b[40];
    int64_t oldest = 0;
    int rc = WS_OK;

    if (x != NULL)
        rc = oldest_of(db, reps[x->ri], x->g, NULL, NULL, &oldest, err);
    if (rc != WS_OK)
        return rc;
    ws_time_fmt(time_us, a, sizeof(a));
    ws_time_fmt(oldest, b, sizeof(b));
    return ws_err_set(err, WS_ERANGE, "no backup at or before %s: the "
                      "oldest restorable time is %s", a, b);
}

/*
 * Pick the replica, generation and plan: the newest state the objects
 * prove.  Without a time, the newest generation that can be restored;
 * with one, the latest moment at or before it in any generation (a tie:
 * the newer generation).  Generations that cannot be restored are
 * passed over and named in the log (those newer than `said` were
 * already).  The replicas whose out_of[i] is set are left out (NULL:
 * none is): they failed their restore (restore_any).  A generation that
 * is damaged (its plan fails with WS_ECORRUPT: a hole in its WAL, a
 * record past its segments) fails the choice, and *bad names its
 * replica (else it is n).
 */
static int choose(struct ws_replica *const *reps, size_t n,
                  const struct ws_restore_opts *o,
                  const struct ws_catalog *cats, const char *out_of,
                  const struct ws_geninfo *said, struct choice *best,
                  size_t *bad, struct ws_err *err)
{
    struct ws_plan_req q = {o->has_time, o->time_us, o->has_index, o->index,
                            o->has_offset, o->offset};
    struct ws_tlist recs = {0};
    const struct gref *bare = NULL, *broken = NULL, *oldest_g = NULL;
    struct gref *v = NULL;
    size_t nv = 0;
    int64_t oldest = 0;
    int rc, prc, any = 0;

    *bad = n;
    rc = gather(n, o, cats, out_of, &v, &nv, err);
    for (size_t i = 0; rc == WS_OK && i < nv; i++) {
        const struct ws_geninfo *g = v[i].g;
        struct ws_plan p;
        struct ws_err e = {0};
        if (g->nsnaps == 0) {
            if (g->nsegs > 0 && bare == NULL)
                bare = &v[i];
            continue;
        }
        any = 1;
        /* Without a time, the first that can be restored wins. */
        if (!o->has_time && best->ok)
            continue;
        rc = recs_for(o->db, reps[v[i].ri], g, &q, &recs, err);
        if (rc != WS_OK)
            break;
        if (o->has_time && ws_plan_oldest(g, &recs) != 0 &&
            (oldest == 0 || ws_plan_oldest(g, &recs) < oldest)) {
            oldest = ws_plan_oldest(g, &recs);
            oldest_g = &v[i];
        }
        prc = ws_plan_make(g, &recs, &q, &p, &e);
        if (prc == WS_ENOTFOUND) {
            /* Nothing there, or a crash's leftovers: pass over it. */
            v[i].broken = p.skipped[0] != '\0';
            snprintf(v[i].why, sizeof(v[i].why), "%s", e.msg);
            if (v[i].broken && broken == NULL)
                broken = &v[i];
            continue;
        }
        if (prc != WS_OK) {
            *err = e;
            rc = prc;
            if (rc == WS_ECORRUPT)
                *bad = v[i].ri;
            break;
        }
        if (best->ok && p.time_us <= best->plan.time_us)
            continue; /* newest first: on a tie the newer one stays */
        best->plan = p;
        best->ri = v[i].ri;
        best->ok = 1;
        ws_tlist_free(&best->recs);
        best->recs = recs;
        memset(&recs, 0, sizeof(recs));
    }
    ws_tlist_free(&recs);
    if (rc == WS_OK)
        log_skips(reps, o->db, v, nv, best->ok ? best : NULL, said);
    if (rc == WS_OK && !best->ok) {
        if (broken != NULL && !(o->has_time && o->time_us < oldest))
            rc = ws_err_set(err, WS_ECORRUPT, "%s", broken->why);
        else if (bare != NULL && !(o->has_time && o->time_us < oldest))
            rc = ws_err_set(err, WS_ECORRUPT,
                            "generation %s has WAL segments but no snapshot "
                            "(generations/%s/snapshots/ is empty or "
                            "missing)",
                            bare->g->name, bare->g->name);
        else if (any && o->has_time)
            rc = too_early(o->db, reps, oldest_g, o->time_us, err);
        else
            rc = not_found(reps, n, cats, err);
    }
    free(v);
    return rc;
}

/* ---- restore -list ------------------------------------------------------ */

static const struct ws_col window_cols[] = {
    {"replica", "replica", WS_COL_STR},
    {"generation", "generation", WS_COL_STR},
    {"oldest", "oldest", WS_COL_STR},
    {"newest", "newest", WS_COL_STR},
    {NULL, "oldest_us", WS_COL_NUM},
    {NULL, "newest_us", WS_COL_NUM},
    {NULL, "newest_precise", WS_COL_NUM},
    {"transactions", "transactions", WS_COL_NUM},
    {"snapshots", "snapshots", WS_COL_NUM},
    {"segments", "segments", WS_COL_NUM},
};
#define NWINDOW (sizeof(window_cols) / sizeof(window_cols[0]))

/* restore -list: each generation's restorable window, through the
 * inspection commands' table (inspect.h): the oldest and the newest
 * moment a -timestamp restore of it gives (the same rules), and a
 * warning instead of a row for a generation that cannot be restored. */
static int list_windows(struct ws_replica *const *reps, size_t n,
                        const struct ws_restore_opts *o,
                        struct ws_catalog *cats, struct ws_err *err)
{
    struct ws_plan_req q = {1, INT64_MAX, 0, 0, 0, 0};
    struct ws_tlist recs = {0};
    struct ws_table tab;
    struct gref *v = NULL;
    size_t nv = 0;
    int rc;

    ws_table_init(&tab, window_cols, NWINDOW);
    rc = list_all(reps, n, o->db, cats, err);
    if (rc == WS_OK)
        rc = gather(n, o, cats, NULL, &v, &nv, err);
    /* Oldest generation first, as a timeline. */
    for (size_t k = nv; rc == WS_OK && k-- > 0;) {
        const struct ws_geninfo *g = v[k].g;
        struct ws_plan p;
        struct ws_err e = {0};
        char c[NWINDOW][40];
        const char *row[NWINDOW];
        int64_t oldest;
        int prc;
        if (g->nsnaps == 0) {
            if (g->nsegs > 0)
                ws_warn("restore -list: generation %s of replica %s cannot "
                        "be restored db=%s: %s", g->name,
                        reps[v[k].ri]->cfg->name, o->db, BARE);
            continue;
        }
        rc = recs_for(o->db, reps[v[k].ri], g, &q, &recs, err);
        if (rc != WS_OK)
            break;
        prc = ws_plan_make(g, &recs, &q, &p, &e);
        if (prc == WS_ENOMEM) {
            *err = e;
            rc = prc;
            break;
        }
        if (prc != WS_OK) {
            ws_warn("restore -list: generation %s of replica %s cannot be "
                    "restored db=%s: %s", g->name, reps[v[k].ri]->cfg->name,
                    o->db, e.msg);
            continue;
        }
        if (p.skipped[0])
            ws_warn("restore -list: generation %s of replica %s db=%s: %s",
                    g->name, reps[v[k].ri]->cfg->name, o->db, p.skipped);
        rc = oldest_of(o->db, reps[v[k].ri], g, ws_plan_times_obj(g, &q),
                       &recs, &oldest, err);
        if (rc != WS_OK)
            break;
        ws_time_fmt(oldest, c[2], sizeof(c[2]));
        ws_time_fmt(p.time_us, c[3], sizeof(c[3]));
        snprintf(c[4], sizeof(c[4]), "%lld", (long long)oldest);
        snprintf(c[5], sizeof(c[5]), "%lld", (long long)p.time_us);
        snprintf(c[6], sizeof(c[6]), "%s", p.precise ? "true" : "false");
        snprintf(c[7], sizeof(c[7]), "%llu",
                 (unsigned long long)ws_plan_ntx(g));
        snprintf(c[8], sizeof(c[8]), "%zu", g->nsnaps);
        snprintf(c[9], sizeof(c[9]), "%zu", g->nsegs);
        row[0] = reps[v[k].ri]->cfg->name;
        row[1] = g->name;
        for (size_t j = 2; j < NWINDOW; j++)
            row[j] = c[j];
        if (ws_table_add(&tab, row) != WS_OK)
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    if (rc == WS_OK)
        rc = ws_table_write(&tab, o->json, stdout, err);
    ws_table_free(&tab);
    ws_tlist_free(&recs);
    free(v);
    return rc;
}

/* ---- the whole restore -------------------------------------------------- */

/*
 * PRAGMA integrity_check of the built file, read through the descriptor
 * it was built in (mapped privately and handed to SQLite as an in-memory
 * database that it cannot write): whatever anyone puts at any name
 * meanwhile, the file checked is the one that is published, and the
 * check takes no lock and creates nothing (-wal, -shm, journal) beside
 * it.  SQLite reads its pages straight from the mapping.
 */
static int integrity(int fd, const char *name, struct ws_err *err)
{
    char result[256] = "";
    sqlite3 *c = NULL;
    sqlite3_stmt *st = NULL;
    struct stat sb;
    void *map = MAP_FAILED;
    int rc = WS_OK;

    if (fstat(fd, &sb) != 0 || sb.st_size <= 0)
        return ws_err_set(err, WS_EIO, "restored database %s: %s", name,
                          sb.st_size <= 0 ? "empty" : strerror(errno));
    map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        return ws_err_set(err, WS_EIO, "mmap %s: %s", name, strerror(errno));
    /* An in-memory database cannot be in WAL mode: in a private copy of
     * the first memory page only (mapped over the shared one), the
     * header's read and write versions (2: WAL) say rollback journal,
     * which integrity_check does not look at. */
    if (sb.st_size >= DB_HDR && ((uint8_t *)map)[18] == 2 &&
        ((uint8_t *)map)[19] == 2) {
        size_t pg = (size_t)sysconf(_SC_PAGESIZE);
        if (mmap(map, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED,
                 fd, 0) == MAP_FAILED) {
            munmap(map, (size_t)sb.st_size);
            return ws_err_set(err, WS_EIO, "mmap %s: %s", name,
                              strerror(errno));
        }
        ((uint8_t *)map)[18] = ((uint8_t *)map)[19] = 1;
    }
    if (sqlite3_open_v2(":memory:", &c,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_deserialize(c, "main", map, sb.st_size, sb.st_size,
                            SQLITE_DESERIALIZE_READONLY) != SQLITE_OK ||
        sqlite3_prepare_v2(c, "PRAGMA integrity_check", -1, &st, NULL) !=
            SQLITE_OK)
        rc = ws_err_set(err, WS_ECORRUPT, "restored database: %s",
                        sqlite3_errmsg(c));
    else if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(result, sizeof(result), "%s",
                 (const char *)sqlite3_column_text(st, 0));
    if (rc == WS_OK && strcmp(result, "ok") != 0)
        rc = ws_err_set(err, WS_ECORRUPT,
                        "restored database failed integrity_check: %s",
                        result[0] ? result : sqlite3_errmsg(c));
    sqlite3_finalize(st);
    sqlite3_close(c);
    munmap(map, (size_t)sb.st_size);
    return rc;
}

/* ---- the target side ---------------------------------------------------- */

/*
 * Where a restore writes.  The output's directory is opened once and
 * checked by fs.h's rule (a sticky one such as /tmp is fine, and so is
 * one others can write in: see below); everything after goes through
 * that descriptor.
 *
 * The database is built in a file that has no name (O_TMPFILE) in that
 * directory, checked through its descriptor and then linked to the
 * output's name, which never replaces anything: nobody else can reach
 * the file before it is published, and what is published is the file
 * that was built and checked.  Where the filesystem cannot make an
 * unnamed file, the database is built in ".<name>.tmp-XXXXXX" there,
 * flock()ed while the restore lives (so that the next restore to the
 * same output can tell a file left by SIGKILL from a running restore's),
 * and renamed to the output after checking that the name is still our
 * file, and the output that it is ours after the rename (fs.h,
 * ws_fs_tmp_publish): someone who can write in the directory and swaps
 * the temporary file fails the restore, which then publishes nothing and
 * empties its own file wherever it was moved.  The spool and the file
 * that carries the position are unnamed (or unlinked at once) likewise.
 * The meta dir (meta.h) is created only once the restore has
 * succeeded, and only to carry the position over.
 */
struct target {
    const char *db;           /* for the log (ws_restore_opts.db) */
    const char *out;          /* the output path */
    const char *name;         /* its last component */
    char base[NAME_MAX + 1];  /* ".<name>": temporary names start so */
    struct ws_fs_dir dir;     /* the output's directory */
    char tmp[NAME_MAX + 1];   /* the temporary file in dir; "" when none
                               * or unnamed */
    int fd;                   /* the file being built, or -1 */
    char *meta;               /* the meta dir to carry the position to */
    int sfd;                  /* signalfd of SIGINT and SIGTERM, or -1 */
    uv_poll_t sigpoll;        /* ...watched on the loop */
    int sigs;                 /* 1: sigpoll is open */
    sigset_t mask;            /* the thread's signal mask before */
};

/* Refuse an output that exists, or a stale -wal or -shm beside it (the
 * first open of the restored file would apply them). */
static int check_target(const struct target *t, struct ws_err *err)
{
    static const char *const sfx[] = {"", "-wal", "-shm"};
    char p[NAME_MAX + 8];
    struct stat sb;

    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", t->name, sfx[i]);
        if (fstatat(t->dir.fd, p, &sb, AT_SYMLINK_NOFOLLOW) == 0)
            return ws_err_set(err, WS_EEXIST,
                              i == 0 ? "cannot restore, output path "
                                       "already exists: %s%s"
                                     : "cannot restore, a stale %s%s exists "
                                       "next to the output path",
                              t->out, sfx[i]);
    }
    return WS_OK;
}

/*
 * Everything about the output that can be refused, before anything is
 * created or fetched: an empty path or one that names a directory, a
 * directory that does not exist or fails fs.h's rule, an output (or a
 * -wal or -shm) that exists, and a meta dir that exists and fails the
 * rule (another user's, one others can write to, a link).
 */
static int target_check(struct target *t, const struct ws_restore_opts *o,
                        struct ws_err *err)
{
    struct ws_fs_dir md;
    char *dir;
    int rc;

    t->db = o->db;
    t->out = o->output;
    if (t->out == NULL || t->out[0] == '\0')
        return ws_err_set(err, WS_EUSAGE,
                          "cannot restore: the output path is empty");
    t->name = ws_path_base(t->out);
    if (t->name[0] == '\0' || strcmp(t->name, ".") == 0 ||
        strcmp(t->name, "..") == 0)
        return ws_err_set(err, WS_EUSAGE, "cannot restore to %s: not a "
                          "file name", t->out);
    if ((size_t)snprintf(t->base, sizeof(t->base), ".%s", t->name) >=
        sizeof(t->base))
        return ws_err_set(err, WS_EUSAGE, "cannot restore to %s: name too "
                          "long", t->out);
    dir = ws_path_dir(t->out);
    if (dir == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = ws_fs_dir_open(&t->dir, dir, WS_FS_ANY, 0, NULL, err);
    if (rc == WS_ENOTFOUND)
        rc = ws_err_set(err, WS_EIO, "cannot restore to %s: directory %s "
                        "does not exist", t->out, dir);
    else if (rc != WS_OK)
        ws_err_wrap(err, "cannot restore to %s", t->out);
    free(dir);
    if (rc == WS_OK)
        rc = check_target(t, err);
    if (rc != WS_OK)
        ws_err_at(err, WS_AT_DB); /* the output path is the database's */
    if (rc == WS_OK) {
        t->meta = o->meta ? strdup(o->meta) : ws_meta_path(t->out);
        if (t->meta == NULL)
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    if (rc == WS_OK) {
        rc = ws_fs_dir_open(&md, t->meta, WS_FS_NOFOLLOW, 0, NULL, err);
        ws_fs_dir_close(&md);
        if (rc == WS_ENOTFOUND)
            rc = WS_OK;
        else if (rc != WS_OK)
            ws_err_wrap(err, "cannot restore to %s", t->out);
    }
    if (rc != WS_OK)
        ws_err_at(err, WS_AT_DB);
    return rc;
}

/* Remove what restores to this output that were killed left: files named
 * ".<name>.tmp-*", ours, unchanged for a minute and not locked by a live
 * restore.  Best effort. */
static void sweep_stale(const struct target *t)
{
    int fd = fcntl(t->dir.fd, F_DUPFD_CLOEXEC, 0);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    size_t bl = strlen(t->base);
    time_t now = time(NULL);
    struct dirent *de;

    if (d == NULL && fd >= 0)
        close(fd);
    while (d && (de = readdir(d)) != NULL) {
        struct stat st;
        int f;
        if (strncmp(de->d_name, t->base, bl) != 0 ||
            strncmp(de->d_name + bl, ".tmp-", 5) != 0)
            continue;
        f = openat(t->dir.fd, de->d_name,
                   O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (f < 0)
            continue;
        if (fstat(f, &st) == 0 && S_ISREG(st.st_mode) &&
            st.st_uid == geteuid() && st.st_mtime + 60 < now &&
            flock(f, LOCK_EX | LOCK_NB) == 0 &&
            unlinkat(t->dir.fd, de->d_name, 0) == 0)
            ws_info("restore: removed %s/%s, left by an interrupted "
                    "restore db=%s", t->dir.path, de->d_name, t->db);
        close(f);
    }
    if (d)
        closedir(d);
}

/* Create the file the database is built in (rs->fd; rs->tmp names it
 * in messages): unnamed, or else a temporary file locked for as long as
 * this process lives. */
static int target_tmp(struct target *t, struct rs *rs, struct ws_err *err)
{
    int rc;

    sweep_stale(t);
    rc = ws_fs_tmp_anon(&t->dir, t->base, 0600, t->tmp, sizeof(t->tmp),
                        &rs->fd, err);
    if (rc != WS_OK) {
        t->tmp[0] = '\0';
        ws_err_wrap(err, "cannot restore to %s", t->out);
        return ws_err_at(err, WS_AT_DB);
    }
    t->fd = rs->fd;
    rs->dir = &t->dir;
    rs->base = t->base;
    if (t->tmp[0] == '\0') {
        snprintf(rs->tmp, sizeof(rs->tmp), "%s (not yet linked)", t->out);
        return WS_OK;
    }
    if (flock(rs->fd, LOCK_EX | LOCK_NB) != 0)
        ws_warn("restore: flock %s/%s db=%s: %s", t->dir.path, t->tmp,
                t->db, strerror(errno));
    snprintf(rs->tmp, sizeof(rs->tmp), "%s/%s", t->dir.path, t->tmp);
    return WS_OK;
}

/* Remove the temporary file if it has a name and that name is still
 * ours; 1 when removed. */
static int target_unlink(const struct target *t)
{
    return t->tmp[0] != '\0' && t->fd >= 0 &&
           ws_fs_is_ours(&t->dir, t->tmp, t->fd) &&
           unlinkat(t->dir.fd, t->tmp, 0) == 0;
}

/*
 * SIGINT or SIGTERM while the restore runs (the loop runs through every
 * download, check and the final integrity_check): remove the temporary
 * file if it has a name and exit at once, with one line.  Downloads in
 * flight cannot be cancelled, and nothing else needs cleaning: an
 * unnamed file goes with the process, the spool files are unnamed or
 * unlinked, the meta dir does not exist yet, the locks go with the
 * process.
 *
 * The caller holds both signals (ws_restore_hold_signals) before any
 * thread exists, so every thread holds them and one sent to the process
 * stays pending until the restore reads it from its signalfd, on the
 * loop.  A handler would not do: the kernel gives a process's signal to
 * any thread that does not block it, a pool thread's included, where a
 * mask set later on the loop thread alone cannot keep it out.  From the
 * point of no return (the database being published) the descriptor is
 * no longer watched: a signal that comes then waits, and the restore
 * completes.  It is then said and dropped, or, inside replicate (a
 * restore on boot), left pending for replicate's loop, which shuts down
 * cleanly once it starts.
 */
static void interrupted(struct target *t, int signum)
{
    const char *sig = signum == SIGINT ? "SIGINT" : "SIGTERM";

    if (target_unlink(t))
        ws_error("restore interrupted by %s: removed %s/%s, nothing "
                 "restored to %s db=%s", sig, t->dir.path, t->tmp, t->out,
                 t->db);
    else
        ws_error("restore interrupted by %s: nothing restored to %s db=%s",
                 sig, t->out, t->db);
    _exit(1);
}

/* The signal read from t->sfd, or 0 when none is pending. */
static int signal_take(const struct target *t)
{
    struct signalfd_siginfo si;

    if (read(t->sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
        return 0;
    return (int)si.ssi_signo;
}

static void on_sigfd(uv_poll_t *h, int status, int events)
{
    struct target *t = h->data;
    int sig = signal_take(t);

    (void)status;
    (void)events;
    if (sig != 0)
        interrupted(t, sig);
}

static void on_sigfd_close(uv_handle_t *h)
{
    struct target *t = h->data;

    t->sigs = 0;
}

static void signal_pair(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

void ws_restore_hold_signals(void)
{
    sigset_t set;

    signal_pair(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void signals_start(struct target *t, uv_loop_t *loop)
{
    sigset_t set;

    signal_pair(&set);
    pthread_sigmask(SIG_BLOCK, &set, &t->mask); /* this thread at least */
    t->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (t->sfd < 0) {
        ws_warn("restore: no signalfd (%s): SIGINT and SIGTERM are not "
                "taken by the restore db=%s", strerror(errno), t->db);
        pthread_sigmask(SIG_SETMASK, &t->mask, NULL);
        return;
    }
    uv_poll_init(loop, &t->sigpoll, t->sfd);
    t->sigpoll.data = t;
    uv_poll_start(&t->sigpoll, UV_READABLE, on_sigfd);
    t->sigs = 1;
}

/* The point of no return, just before the database is published: a
 * signal already pending interrupts the restore now; one that comes
 * later waits, and the restore completes (signals_stop). */
static void signals_hold(struct target *t)
{
    int sig;

    if (t->sigs == 0)
        return;
    sig = signal_take(t);
    if (sig != 0)
        interrupted(t, sig);
    uv_poll_stop(&t->sigpoll);
}

/* Close the watch and the descriptor.  A signal that came past the
 * point of no return is left pending for the caller (to_caller), or
 * taken here, and said when the restore completed. */
static void signals_stop(struct target *t, uv_loop_t *loop, int done,
                         int to_caller)
{
    int sig;

    if (t->sigs == 0)
        return;
    uv_close((uv_handle_t *)&t->sigpoll, on_sigfd_close);
    while (t->sigs > 0)
        uv_run(loop, UV_RUN_NOWAIT);
    while (!to_caller && (sig = signal_take(t)) != 0)
        if (done)
            ws_warn("restore: %s came as the restore completed: %s is "
                    "complete db=%s", sig == SIGINT ? "SIGINT" : "SIGTERM",
                    t->out, t->db);
    close(t->sfd);
    t->sfd = -1;
    if (!to_caller)
        pthread_sigmask(SIG_SETMASK, &t->mask, NULL);
}

static void log_plan(const struct choice *c, struct ws_replica *r,
                     const struct ws_restore_opts *o)
{
    const struct ws_plan *p = &c->plan;
    char t[40], at[64];

    ws_time_fmt(p->time_us, t, sizeof(t));
    if (p->offset == WS_POS_END)
        snprintf(at, sizeof(at), "%08x:end", p->index);
    else
        snprintf(at, sizeof(at), "%08x:%llu", p->index,
                 (unsigned long long)p->offset);
    ws_info("restoring from replica=%s generation=%s db=%s snapshot=%08x "
            "snapshot_size=%llu segments=%zu fetch_bytes=%llu target=%s "
            "time=%s (%s)%s",
            r->cfg->name, p->g->name, o->db, p->snap->index,
            (unsigned long long)p->snap->size, p->nsegs,
            (unsigned long long)p->bytes, at, t,
            p->precise ? "commit time" : "object time",
            p->newest ? " newest" : "");
    if (o->has_time && p->newest) {
        char want[40];
        ws_time_fmt(o->time_us, want, sizeof(want));
        ws_info("the -timestamp %s is after the newest data (%s): restoring "
                "the newest data db=%s", want, t, o->db);
    }
    if (o->has_index && p->newest && o->index > p->index)
        ws_info("the -index %08x is after the newest index of generation %s "
                "(%08x): restoring the newest data db=%s", o->index,
                p->g->name, p->index, o->db);
}

/* ---- carrying the position over (meta.h) ------------------------------ */

/* Only the newest state of the newest generation: continuing from
 * anything older would fork the replica's history.  That state needs a
 * WAL segment after its snapshot too, for the shadow's WAL header; when
 * it has none, this says so (the plan line already says an older state
 * is not the newest). */
static int carry_wanted(const struct choice *c, const struct ws_catalog *cats,
                        size_t n, const struct ws_restore_opts *o)
{
    const struct ws_plan *p = &c->plan;
    const struct ws_geninfo *g = p->g;

    if (o->has_index || o->no_carry || !p->newest)
        return 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < cats[i].ngens; k++)
            if (ws_gen_cmp(&cats[i].gens[k], g) > 0)
                return 0;
    if (p->nsegs == 0) {
        ws_info("restore: position not carried over: generation %s has no "
                "WAL segment after its snapshot; the next replicate starts "
                "a new generation db=%s", g->name, o->db);
        return 0;
    }
    return p->seg0 + p->nsegs == g->nsegs &&
           g->segs[g->nsegs - 1].index == p->index;
}

/*
 * The tail of a restore, on the pool while the loop keeps taking
 * signals: the fsync of the built file and, when the position is carried
 * over, its hash, beside PRAGMA integrity_check.  Both only read what
 * integrity_check reads.
 */
struct finish {
    uv_work_t work, check;
    struct rs *rs;
    struct ws_resume r;
    int rc, crc;              /* sync and hash; integrity_check */
    int left;                 /* jobs not done */
    struct ws_err err, cerr;
};

static void on_finish_work(uv_work_t *w)
{
    struct finish *f = w->data;
    struct rs *rs = f->rs;

    f->rc = ws_fs_fsync(rs->fd, rs->tmp, &f->err);
    if (f->rc == WS_OK && rs->carry)
        f->rc = ws_resume_hash(rs->fd, &f->r.db_size, f->r.sha256, &f->err);
}

static void on_check_db_work(uv_work_t *w)
{
    struct finish *f = w->data;

    f->crc = integrity(f->rs->fd, f->rs->tmp, &f->cerr);
}

static void on_finish_done(uv_work_t *w, int status)
{
    struct finish *f = w->data;

    (void)status;
    f->left--;
}

static void finish_start(struct rs *rs, struct finish *f)
{
    memset(f, 0, sizeof(*f));
    f->rs = rs;
    f->work.data = f->check.data = f;
    f->left = 2;
    uv_queue_work(rs->loop, &f->work, on_finish_work, on_finish_done);
    uv_queue_work(rs->loop, &f->check, on_check_db_work, on_finish_done);
}

/* Wait for both; the first failure, integrity_check's first. */
static int finish_wait(struct rs *rs, struct finish *f, struct ws_err *err)
{
    while (f->left > 0)
        uv_run(rs->loop, UV_RUN_ONCE);
    if (f->crc != WS_OK) {
        *err = f->cerr;
        return f->crc;
    }
    if (f->rc != WS_OK) {
        *err = f->err;
        return f->rc;
    }
    return WS_OK;
}

/* Leave the restored position in the output's meta dir, made now (fs.h:
 * created and checked, or an existing one checked).  Failing here only
 * costs the next replicate a new generation, so it warns, and removes
 * the meta dir again if this made it. */
static void carry_install(struct rs *rs, struct finish *h, const char *meta)
{
    const struct ws_plan *p = rs->p;
    struct ws_fs_dir md;
    struct ws_err e = {0};
    int created = 0, rc;

    memcpy(h->r.gen, p->g->name, sizeof(h->r.gen));
    h->r.index = p->index;
    h->r.wal_size = rs->carry_size;
    rc = ws_fs_dir_open(&md, meta, WS_FS_CREATE | WS_FS_NOFOLLOW, 0700,
                        &created, &e);
    if (rc == WS_OK)
        rc = ws_resume_write(&md, &h->r, rs->carry_fd, &e);
    ws_fs_dir_close(&md);
    if (rc != WS_OK && created)
        ws_fs_rm_rf(meta, NULL);
    if (rc != WS_OK)
        ws_warn("restore: position not carried over, the next replicate "
                "starts a new generation db=%s: %s", rs->db, e.msg);
    else
        ws_info("restore: position carried over in %s: db=%s generation=%s "
                "index=%08x offset=%llu; replicate continues it while "
                "the database is unchanged",
                meta, rs->db, h->r.gen, h->r.index,
                (unsigned long long)h->r.wal_size);
}

/* Open the unlinked file the last index's bytes are kept in while they
 * are verified, beside the output (the meta dir is made only on
 * success).  On failure the restore goes on without. */
static void carry_open(struct rs *rs, const struct target *t)
{
    struct ws_err e = {0};
    char name[NAME_MAX + 1];

    rs->carry_fd = -1;
    if (ws_fs_tmp_anon(&t->dir, t->base, 0600, name, sizeof(name),
                       &rs->carry_fd, &e) == WS_OK) {
        if (name[0] != '\0')
            unlinkat(t->dir.fd, name, 0);
    } else
        ws_warn("restore: position not carried over db=%s: %s", rs->db,
                e.msg);
    rs->carry = rs->carry_fd >= 0;
}

/* The offset in its last index that a built plan reached (a commit's
 * end; for the end of an index, the last commit the WAL holds): the
 * position restored to. */
static uint64_t built_reach(const struct rs *rs)
{
    const struct ws_plan *p = rs->p;

    return p->offset != WS_POS_END ? p->offset
           : p->nsegs              ? rs->db_off
                                   : p->snap_safe;
}

/* What was restored, for the caller (ws_restore_result). */
static void result_fill(struct ws_restore_result *res, const struct rs *rs,
                        const struct ws_replica *r)
{
    const struct ws_plan *p = rs->p;

    memset(res, 0, sizeof(*res));
    snprintf(res->replica, sizeof(res->replica), "%s", r->cfg->name);
    memcpy(res->generation, p->g->name, sizeof(res->generation));
    res->index = p->index;
    res->offset = built_reach(rs);
    res->time_us = p->time_us;
    res->precise = p->precise;
    res->page_size = rs->page_size;
    res->pages = rs->final_pages;
}

/* ---- one replica after the other ---------------------------------------- */

/* Free what a build of rs allocated (its own fd, the file built, stays
 * open), and make rs ready for another build in the same file. */
static void rs_reset(struct rs *rs)
{
    struct rs keep = *rs;

    if (rs->spool >= 0)
        close(rs->spool);
    if (rs->carry_fd >= 0)
        close(rs->carry_fd);
    for (size_t k = 0; k < rs->n; k++) {
        free(rs->segs[k].wins);
        free(rs->segs[k].chunks);
        ws_lz4r_free(rs->segs[k].scan);
        ws_lz4r_free(rs->segs[k].peek);
    }
    free(rs->segs);
    ws_pagemap_free(&rs->map);
    ws_walv_free(&rs->v); /* an index left half-checked by an error */
    ws_lz4r_free(rs->slz);
    memset(rs, 0, sizeof(*rs));
    rs->fd = keep.fd;
    rs->dir = keep.dir;
    rs->base = keep.base;
    memcpy(rs->tmp, keep.tmp, sizeof(rs->tmp));
    rs->spool = rs->carry_fd = -1;
}

/* Build c's plan into rs->fd and check the result (everything but
 * publishing it).  A fallback (see below) carries no position over. */
static int attempt(struct rs *rs, const struct target *t,
                   const struct choice *c, struct ws_replica *const *reps,
                   size_t n, const struct ws_catalog *cats,
                   const struct ws_restore_opts *o, const char *fell_from,
                   struct finish *h, struct ws_err *err)
{
    int rc;

    log_plan(c, reps[c->ri], o);
    if (fell_from == NULL && carry_wanted(c, cats, n, o))
        carry_open(rs, t);
    else if (fell_from != NULL && !o->has_index && !o->no_carry &&
             c->plan.newest)
        ws_info("restore: position not carried over db=%s: replica %s "
                "failed its restore, and replicate must not continue a "
                "generation that holds a bad object; the next replicate "
                "starts a new generation", o->db, fell_from);
    rs->loop = reps[c->ri]->loop;
    rs->r = reps[c->ri];
    rs->p = &c->plan;
    rs->recs = &c->recs;
    rs->par = o->parallelism > 0 ? o->parallelism : 8;
    rc = build(rs, err);
    if (rs->spool >= 0)
        close(rs->spool);
    rs->spool = -1;
    if (rc == WS_OK) {
        finish_start(rs, h);
        rc = finish_wait(rs, h, err);
    }
    return rc;
}

/* Where the plan of a replica that failed its restore reaches, by its
 * listing: its target, or for the end of an index (the listing gives
 * compressed sizes only), just past the start of its last WAL segment
 * there (*past set). */
static uint64_t listed_reach(const struct ws_plan *p, int *past)
{
    const struct ws_seginfo *ls;

    *past = 0;
    if (p->offset != WS_POS_END)
        return p->offset;
    if (p->nsegs == 0)
        return p->snap_safe;
    ls = &p->g->segs[p->seg0 + p->nsegs - 1];
    *past = 1;
    return ls->index == p->index ? ls->offset : 0;
}

/* "generation G position I:O (time, kind)", past O when past is set. */
static void pos_say(const struct ws_plan *p, uint64_t off, int past,
                    char *buf, size_t n)
{
    char t[40];

    ws_time_fmt(p->time_us, t, sizeof(t));
    snprintf(buf, n, "generation %s position %s%08x:%llu (%s, %s)",
             p->g->name, past ? "past " : "", p->index,
             (unsigned long long)off, t,
             p->precise ? "commit time" : "object time");
}

/* p's target, likewise ("I:end" for the end of an index). */
static void plan_say(const struct ws_plan *p, char *buf, size_t n)
{
    char t[40];

    if (p->offset != WS_POS_END) {
        pos_say(p, p->offset, 0, buf, n);
        return;
    }
    ws_time_fmt(p->time_us, t, sizeof(t));
    snprintf(buf, n, "generation %s position %08x:end (%s, %s)", p->g->name,
             p->index, t, p->precise ? "commit time" : "object time");
}

/* After a fallback's plan was built (rs), from another replica than the
 * one that failed first (plan a): say so when it restores an older
 * state than a listed (another generation, an earlier position, an
 * earlier recorded commit), with both.  It is then restored only
 * because nothing better is left. */
static void say_behind(const struct rs *rs, const struct ws_plan *a,
                       const char *aname)
{
    const struct ws_plan *b = rs->p;
    uint64_t eb = built_reach(rs), ea;
    int past, less;
    char x[200], y[200];

    ea = listed_reach(a, &past);
    if (strcmp(b->g->name, a->g->name) != 0)
        less = 1;
    else if (b->precise && a->precise && b->time_us < a->time_us)
        less = 1;
    else if (b->index != a->index)
        less = b->index < a->index;
    else
        less = past ? eb <= ea : eb < ea;
    if (!less)
        return;
    pos_say(b, eb, 0, x, sizeof(x));
    pos_say(a, ea, past, y, sizeof(y));
    ws_warn("restore: replica %s holds less than replica %s did db=%s: "
            "restoring %s, an older state than %s that replica %s listed, "
            "because no replica with more restores", rs->r->cfg->name,
            aname, rs->db, x, y, aname);
}

/* The error after every replica that had a plan failed it (fails[i],
 * code set, for the replicas whose out_of[i] is set), and `rest`, when
 * not NULL, why none of the others could be planned: one line naming
 * each, at most an even share of the line each; CORRUPT when any was. */
static int all_failed(struct ws_replica *const *reps, size_t n,
                      const char *out_of, const struct ws_err *fails,
                      size_t nfail, const struct ws_err *rest,
                      struct ws_err *err)
{
    char msg[WS_ERR_MSG];
    size_t k = 0, share = (WS_ERR_MSG - 64) / (nfail + (rest != NULL));
    int code = WS_EREMOTE;

    for (size_t i = 0; i < n; i++) {
        if (!out_of[i])
            continue;
        if (fails[i].code == WS_ECORRUPT)
            code = WS_ECORRUPT;
        if (k < sizeof(msg))
            k += (size_t)snprintf(msg + k, sizeof(msg) - k, "%sreplica %s: "
                                  "%.*s", k ? "; " : "", reps[i]->cfg->name,
                                  (int)share, fails[i].msg);
    }
    if (rest != NULL && k < sizeof(msg)) {
        if (rest->code == WS_ECORRUPT)
            code = WS_ECORRUPT;
        k += (size_t)snprintf(msg + k, sizeof(msg) - k, "; the other "
                              "replicas: %.*s", (int)share, rest->msg);
    }
    ws_err_set(err, code, "restore failed from every replica: %s", msg);
    return ws_err_at(err, WS_AT_REPLICA);
}

/*
 * Choose a plan (c) and restore it, falling back on the other replicas.
 * A replica whose objects fail their checks (CORRUPT: a bad LZ4 frame,
 * checksum, chain, record or integrity_check) or go missing (NOTFOUND)
 * while its plan is built, or whose generation cannot be planned for
 * damage (a hole in its WAL), does not end the restore when there are
 * other replicas: its failure is said in a WARN line naming it and the
 * object, the file built so far is emptied, and the best plan of the
 * other replicas for the same target is tried (choose, without the
 * replicas that failed), said in a WARN line with both positions; one
 * more WARN when that plan restored less than the first one listed (an
 * older generation, an earlier commit or position), since that older
 * state is restored only because nothing better is left.  A fallback
 * carries no position over (see attempt).  Any other failure (the
 * output's disk, the network after the retries, memory) ends the
 * restore as before: another replica would not help with it, or would
 * hide it.  When every replica with a plan failed, the error names each
 * (all_failed); when only one had a plan, its own error stands, and a
 * WARN says why no other could help.  With one replica (`-replica
 * NAME`, a URL) nothing changes.  WS_ENOTFOUND only when there is
 * nothing to restore (ws_restore).
 */
static int restore_any(struct rs *rs, const struct target *t,
                       struct choice *c, struct ws_replica *const *reps,
                       size_t n, const struct ws_catalog *cats,
                       const struct ws_restore_opts *o, struct finish *h,
                       struct ws_err *err)
{
    char *out_of = calloc(n, 1);
    struct ws_err *fails = calloc(n, sizeof(*fails));
    struct ws_plan first = {0};
    size_t first_ri = n, last = n, nfail = 0;
    const struct ws_geninfo *said = NULL; /* the oldest chosen */
    const char *fell_from = NULL;
    int rc = WS_OK, built = 0;

    if (out_of == NULL || fails == NULL)
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    while (rc == WS_OK) {
        struct ws_err e = {0};
        char a[200], b[200];
        size_t bad;
        int crc, past = 0;
        ws_tlist_free(&c->recs);
        memset(c, 0, sizeof(*c));
        crc = choose(reps, n, o, cats, out_of, said, c, &bad, &e);
        if (crc == WS_ECORRUPT && bad < n && n > 1) {
            fails[bad] = e;
            out_of[bad] = 1;
            last = bad;
            nfail++;
            fell_from = reps[bad]->cfg->name;
            ws_warn("restore: replica %s cannot be restored, trying the "
                    "other replicas db=%s: %s", fell_from, o->db, e.msg);
            continue;
        }
        if (crc != WS_OK && (nfail == 0 || crc == WS_ENOMEM)) {
            *err = e;
            rc = crc;
        } else if (crc != WS_OK && nfail == 1) {
            ws_warn("restore: no other replica to fall back on db=%s: %s",
                    o->db,
                    crc == WS_ENOTFOUND ? "none holds a copy to restore"
                                        : e.msg);
            *err = fails[last];
            rc = err->code;
        } else if (crc != WS_OK) {
            rc = all_failed(reps, n, out_of, fails, nfail,
                            crc == WS_ENOTFOUND ? NULL : &e, err);
        }
        if (rc != WS_OK)
            break;
        if (said == NULL || ws_gen_cmp(c->plan.g, said) < 0)
            said = c->plan.g;
        if (first_ri == n) {
            first = c->plan;
            first_ri = c->ri;
        } else {
            pos_say(&first, listed_reach(&first, &past), past, a,
                    sizeof(a));
            plan_say(&c->plan, b, sizeof(b));
            ws_warn("restore: falling back to replica %s db=%s: %s; "
                    "replica %s listed %s", reps[c->ri]->cfg->name, o->db,
                    b, reps[first_ri]->cfg->name, a);
        }
        built = 1;
        rc = attempt(rs, t, c, reps, n, cats, o, fell_from, h, err);
        if (rc == WS_OK && first_ri != c->ri)
            say_behind(rs, &first, reps[first_ri]->cfg->name);
        if (n == 1 || (rc != WS_ECORRUPT && rc != WS_ENOTFOUND))
            break;
        fails[c->ri] = *err;
        fails[c->ri].code = rc;
        out_of[c->ri] = 1;
        last = c->ri;
        nfail++;
        fell_from = reps[c->ri]->cfg->name;
        ws_warn("restore: replica %s failed its restore, trying the other "
                "replicas db=%s: %s", fell_from, o->db, err->msg);
        rs_reset(rs);
        rc = WS_OK;
        if (ftruncate(rs->fd, 0) != 0)
            rc = ws_err_set(err, WS_EIO, "truncate %s: %s", rs->tmp,
                            strerror(errno));
    }
    /* From here "not found" is an object the listing showed and that
     * went away (retention, a hand): never "nothing to restore", which
     * a caller may answer with an empty start (boot.h). */
    if (rc == WS_ENOTFOUND && built)
        rc = err->code = WS_EREMOTE;
    free(out_of);
    free(fails);
    return rc;
}

int ws_restore(struct ws_replica *const *reps, size_t n,
               const struct ws_restore_opts *opts, struct ws_err *err)
{
    struct ws_catalog *cats = calloc(n ? n : 1, sizeof(*cats));
    struct ws_restore_opts oo = *opts;
    const struct ws_restore_opts *o = &oo;
    struct target t;
    struct choice c;
    struct rs rs;
    struct finish h;
    int rc = WS_OK;

    int *locks = calloc(n ? n : 1, sizeof(*locks));

    memset(&c, 0, sizeof(c));
    memset(&rs, 0, sizeof(rs));
    memset(&t, 0, sizeof(t));
    memset(&h, 0, sizeof(h));
    t.dir.fd = t.fd = t.sfd = -1;
    rs.fd = rs.spool = rs.carry_fd = -1;
    if (oo.db == NULL) /* the output; "-" for a -list without one */
        oo.db = oo.output != NULL ? oo.output : "-";
    rs.db = oo.db;
    if (cats == NULL || locks == NULL || n == 0) {
        free(cats);
        free(locks);
        return n == 0 ? ws_err_set(err, WS_EUSAGE, "no replica")
                      : ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        locks[i] = -1;
    /* The output is checked before any lock or request (target_check). */
    if (!o->list)
        rc = target_check(&t, o, err);
    if (rc != WS_OK)
        goto out;
    /* Retention by a walship on this machine deletes nothing while the
     * restore holds these (rlock.h). */
    for (size_t i = 0; i < n; i++) {
        struct ws_err e = {0};
        if (ws_rlock_acquire(reps[i]->cfg, 0, 1, &locks[i], &e) != WS_OK)
            ws_warn("restore: no local lock for db=%s replica=%s: %s",
                    o->db, reps[i]->cfg->name, e.msg);
    }
    if (o->list) {
        rc = list_windows(reps, n, o, cats, err);
        goto out;
    }
    rc = target_tmp(&t, &rs, err);
    if (rc == WS_OK && !o->no_signals)
        signals_start(&t, reps[0]->loop);
    if (rc == WS_OK)
        rc = list_all(reps, n, o->db, cats, err);
    if (rc == WS_OK)
        rc = restore_any(&rs, &t, &c, reps, n, cats, o, &h, err);
    if (rc == WS_OK) {
        signals_hold(&t);
        WS_CRASHPOINT("restore-before-publish");
        rc = ws_fs_tmp_publish(&t.dir, t.tmp, rs.fd, t.name, err);
        if (rc == WS_EEXIST)
            ws_err_set(err, rc, "cannot restore, output path already "
                       "exists: %s (made while restoring)", o->output);
        else if (rc != WS_OK)
            ws_err_wrap(err, "cannot restore to %s", o->output);
        if (rc != WS_OK)
            ws_err_at(err, WS_AT_DB);
        if (rc == WS_ECONFIG && ftruncate(rs.fd, 0) != 0)
            ws_warn("restore: truncate %s db=%s: %s", rs.tmp, o->db,
                    strerror(errno));
    }
    if (rc == WS_OK) {
        t.tmp[0] = '\0';
        rc = ws_fs_dir_fsync(&t.dir, err);
    }
    if (rc == WS_OK && rs.carry)
        carry_install(&rs, &h, t.meta);
    if (rc == WS_OK)
        ws_info("restored in %lldms db=%s replica=%s generation=%s "
                "position=%08x:%llu", (long long)(ws_now_ms() - rs.t0),
                o->db, rs.r->cfg->name, c.plan.g->name, c.plan.index,
                (unsigned long long)built_reach(&rs));
    if (rc == WS_OK && o->result)
        result_fill(o->result, &rs, reps[c.ri]);
    target_unlink(&t);
    signals_stop(&t, reps[0]->loop, rc == WS_OK, o->late_signal_to_caller);
    rs_reset(&rs);
    if (rs.fd >= 0)
        close(rs.fd);
out:
    for (size_t i = 0; i < n; i++)
        ws_rlock_release(locks[i]);
    free(locks);
    ws_tlist_free(&c.recs);
    for (size_t i = 0; i < n; i++)
        ws_catalog_free(&cats[i]);
    free(cats);
    ws_fs_dir_close(&t.dir);
    free(t.meta);
    return rc;
}
