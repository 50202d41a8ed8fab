/*
 * restore.c: see restore.h.
 */
#include "ws/restore.h"
#include "ws/resume.h"
#include "ws/fs.h"
#include "ws/inspect.h"
#include "ws/log.h"
#include "ws/plan.h"
#include "ws/rlock.h"
#include "ws/times.h"
#include "ws/wal.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_OBJECT (1ULL << 40)    /* decompression bound per object */
#define MAX_TIMES (256ULL << 20)   /* ... per commit-time object */
#define TRIES 3                    /* downloads of one object */
#define CHUNK (1024 * 1024)
#define PROGRESS_MS 250
#define PROGRESS_LOG_MS 5000

enum { F_WAIT, F_FETCH, F_HAVE, F_CHECKING, F_CHECKED, F_APPLYING, F_DONE };

struct rs;

/* One object to fetch: the snapshot (k == -1) or a WAL segment. */
struct obj {
    struct rs *rs;
    long k;
    char key[WS_KEY_MAX];
    const struct ws_seginfo *si;
    uint64_t spool_off;       /* segments: where the bytes go */
    uint64_t got;
    int state;
    int tries;
    struct ws_req req;
    uv_work_t work;
    uint64_t *wins;           /* frames to write, by stream position */
    size_t nwins, cwins;
};

struct mapent {
    uint32_t seg;             /* 1 + segment number; 0: from the snapshot */
    uint64_t pos;             /* frame position in that segment's stream */
};

struct rs {
    uv_loop_t *loop;
    struct ws_replica *r;
    const struct ws_plan *p;
    int par;
    int fd;                   /* the temporary database */
    int spool;
    char tmp[4200];

    struct obj snap;
    struct ws_lz4r *slz;
    uint64_t soff;
    uint32_t page_size;

    struct obj *segs;
    size_t n, next_fetch, next_check, next_apply, applied;
    int inflight, checking, applying, pass2;

    /* Owned by the check job (one at a time, in order). */
    struct ws_walv v;
    size_t vseg;
    struct mapent *map;
    uint32_t nmap;
    uint32_t db_pages;        /* database size at the last commit */
    uint32_t wal_page_size;
    int cut_hit;
    int snap_reached;         /* the snapshot's record offset was met */

    /* Carrying the position over (resume.h): the last index's WAL bytes,
     * kept as a shadow file while they are verified. */
    int carry;
    int carry_fd;
    uint64_t carry_size;
    char carry_tmp[4300];

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

static int snap_write(void *ctx, const void *buf, size_t len,
                      struct ws_err *err)
{
    struct rs *rs = ctx;
    int rc = ws_fs_pwrite(rs->fd, buf, len, rs->soff, err);

    rs->soff += len;
    return rc;
}

static int snap_sink(void *ctx, const void *buf, size_t len,
                     struct ws_err *err)
{
    struct obj *o = ctx;

    __atomic_add_fetch(&o->rs->bytes_in, len, __ATOMIC_RELAXED);
    o->got += len;
    return ws_lz4r_write(o->rs->slz, buf, len, err);
}

static int seg_sink(void *ctx, const void *buf, size_t len,
                    struct ws_err *err)
{
    struct obj *o = ctx;

    if (o->got + len > o->si->size)
        return ws_err_set(err, WS_ECORRUPT, "%s: larger than listed (%llu "
                          "bytes); did it change during the restore?",
                          o->key, (unsigned long long)o->si->size);
    __atomic_add_fetch(&o->rs->bytes_in, len, __ATOMIC_RELAXED);
    if (ws_fs_pwrite(o->rs->spool, buf, len, o->spool_off + o->got, err) !=
        WS_OK)
        return err->code;
    o->got += len;
    return WS_OK;
}

static void on_fetched(struct ws_req *req);

static void fetch(struct obj *o)
{
    struct rs *rs = o->rs;

    if (o->k < 0) {
        ws_lz4r_free(rs->slz);
        rs->slz = ws_lz4r_new(snap_write, rs, MAX_OBJECT);
        rs->soff = 0;
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
    o->req.sink = o->k < 0 ? snap_sink : seg_sink;
    o->req.sink_ctx = o;
    o->req.cb = on_fetched;
    o->req.data = o;
    rs->inflight++;
    ws_replica_submit(rs->r, &o->req);
}

static void on_fetched(struct ws_req *req)
{
    struct obj *o = req->data;
    struct rs *rs = o->rs;
    int rc = req->rc;

    rs->inflight--;
    if (rc == WS_OK && o->k < 0)
        rc = ws_lz4r_finish(rs->slz, &req->err);
    if (rc == WS_OK && o->k >= 0 && o->got != o->si->size)
        rc = ws_err_set(&req->err, WS_ECORRUPT, "%llu bytes, listed as %llu",
                        (unsigned long long)o->got,
                        (unsigned long long)o->si->size);
    if (rc != WS_OK) {
        if ((rc == WS_EIO || rc == WS_EREMOTE) && o->tries < TRIES &&
            rs->rc == WS_OK) {
            ws_warn("restore: download failed, retrying key=%s error=\"%s\"",
                    o->key, req->err.msg);
            fetch(o);
            return;
        }
        req->err.code = rc;
        if (strstr(req->err.msg, o->key) == NULL)
            ws_err_wrap(&req->err, "%s", o->key);
        fail(rs, &req->err);
    } else {
        o->state = o->k < 0 ? F_CHECKED : F_HAVE;
        rs->objs_done++;
    }
    pump(rs);
}

/* ---- pass 1: verify in order, map the newest version of each page ------ */

static int on_frame(void *ctx, const struct ws_wal_frame *f,
                    const uint8_t *page, uint64_t off, struct ws_err *err)
{
    struct rs *rs = ctx;
    const struct obj *o = &rs->segs[rs->vseg];
    uint64_t end = off + ws_wal_frame_size(rs->v.hdr.page_size);

    (void)page;
    if (target_cut(rs, o->si->index) && end > rs->p->offset)
        return WS_OK; /* verified, but past the target */
    if (f->pgno > rs->nmap) {
        uint32_t n = rs->nmap ? rs->nmap : 1024;
        struct mapent *m;
        while (n < f->pgno)
            n = n > UINT32_MAX / 2 ? f->pgno : n * 2;
        m = realloc(rs->map, (size_t)n * sizeof(*m));
        if (m == NULL)
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        memset(m + rs->nmap, 0, (size_t)(n - rs->nmap) * sizeof(*m));
        rs->map = m;
        rs->nmap = n;
    }
    rs->map[f->pgno - 1].seg = (uint32_t)rs->vseg + 1;
    rs->map[f->pgno - 1].pos = off - o->si->offset;
    if (f->commit != 0) {
        rs->db_pages = f->commit;
        if (target_cut(rs, o->si->index) && end == rs->p->offset)
            rs->cut_hit = 1;
    }
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

    if (rc == WS_OK)
        rc = ws_fs_pwrite(rs->carry_fd, buf, len, rs->carry_size, err);
    rs->carry_size += len;
    return rc;
}

/* Decompress segment o from the spool into sink. */
static int unspool(struct rs *rs, struct obj *o, ws_sink_fn sink, void *ctx,
                   uint8_t *buf, struct ws_err *err)
{
    struct ws_lz4r *lz = ws_lz4r_new(sink, ctx, MAX_OBJECT);
    uint64_t off = 0;
    int rc = WS_OK;

    if (lz == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    while (rc == WS_OK && off < o->got) {
        size_t want = o->got - off < CHUNK ? (size_t)(o->got - off) : CHUNK,
               got;
        rc = ws_fs_pread(rs->spool, buf, want, o->spool_off + off, &got, err);
        if (rc == WS_OK && got != want)
            rc = ws_err_set(err, WS_EIO, "spool: short read");
        if (rc == WS_OK)
            rc = ws_lz4r_write(lz, buf, got, err);
        off += want;
    }
    if (rc == WS_OK)
        rc = ws_lz4r_finish(lz, err);
    ws_lz4r_free(lz);
    return rc;
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
    if (!last)
        return WS_OK;
    if (o->si->index == p->index &&
        (rs->carry_size != rs->v.off ||
         (target_cut(rs, o->si->index) && p->offset != rs->v.off)))
        rs->carry = 0; /* the database is not the whole index */
    if (o->si->index == p->snap->index &&
        (p->snap_safe <= WS_WAL_HDR_SIZE || rs->v.off >= p->snap_safe))
        rs->snap_reached = 1;
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
            int rc = ws_fs_pwrite(a->rs->fd, a->frame + WS_WAL_FRAME_HDR_SIZE,
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

/* Hand every mapped page to its segment; 0 pages when no WAL was used. */
static int prepare_pass2(struct rs *rs, struct ws_err *err)
{
    uint8_t hdr[100];
    size_t got;
    int rc = ws_fs_pread(rs->fd, hdr, sizeof(hdr), 0, &got, err);

    if (rc != WS_OK)
        return rc;
    if (got < sizeof(hdr) || memcmp(hdr, "SQLite format 3", 16) != 0)
        return ws_err_set(err, WS_ECORRUPT, "%s: not a SQLite database",
                          rs->snap.key);
    rs->page_size = (uint32_t)hdr[16] << 8 | hdr[17];
    if (rs->page_size == 1)
        rs->page_size = 65536;
    if (rs->wal_page_size != 0 && rs->wal_page_size != rs->page_size)
        return ws_err_set(err, WS_ECORRUPT, "wal page size %u != database "
                          "page size %u (%s)", rs->wal_page_size,
                          rs->page_size, rs->snap.key);
    if (!rs->snap_reached && rs->p->snap_safe > WS_WAL_HDR_SIZE)
        return ws_err_set(err, WS_ECORRUPT, "%s holds changes up to offset "
                          "%llu of its index, but the replica's WAL for it "
                          "ends before that", rs->snap.key,
                          (unsigned long long)rs->p->snap_safe);
    for (uint32_t pg = 0; pg < rs->nmap; pg++) {
        struct mapent *m = &rs->map[pg];
        struct obj *o;
        if (m->seg == 0 || (rs->db_pages && pg >= rs->db_pages))
            continue;
        o = &rs->segs[m->seg - 1];
        if (o->nwins == o->cwins) {
            size_t c = o->cwins ? o->cwins * 2 : 16;
            uint64_t *v = realloc(o->wins, c * sizeof(*v));
            if (v == NULL)
                return ws_err_set(err, WS_ENOMEM, "out of memory");
            o->wins = v;
            o->cwins = c;
        }
        o->wins[o->nwins++] = m->pos;
    }
    for (size_t k = 0; k < rs->n; k++)
        if (rs->segs[k].nwins > 1)
            qsort(rs->segs[k].wins, rs->segs[k].nwins, sizeof(uint64_t),
                  cmp_u64);
    free(rs->map);
    rs->map = NULL;
    return WS_OK;
}

/* ---- driver ------------------------------------------------------------- */

static void progress(struct rs *rs, int final)
{
    char line[160];
    int64_t now = ws_now_ms();

    snprintf(line, sizeof(line), "restore: %.1f/%.1f MB, %zu/%zu objects, "
             "%zu/%zu segments applied",
             (double)__atomic_load_n(&rs->bytes_in, __ATOMIC_RELAXED) / 1e6,
             (double)rs->p->bytes / 1e6, rs->objs_done, rs->n + 1,
             rs->applied, rs->n);
    if (rs->tty) {
        fprintf(stderr, "\r%s%s", line, final ? "\n" : "");
    } else if (final || now - rs->last_log >= PROGRESS_LOG_MS) {
        rs->last_log = now;
        ws_info("%s", line);
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
        if (prepare_pass2(rs, &e) != WS_OK) {
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

/* Build the file at rs->tmp (already open as rs->fd). */
static int build(struct rs *rs, struct ws_err *err)
{
    const struct ws_plan *p = rs->p;
    const struct ws_geninfo *g = p->g;
    uint64_t off = 0;
    char spool[4300];

    rs->n = p->nsegs;
    rs->segs = calloc(rs->n ? rs->n : 1, sizeof(*rs->segs));
    if (rs->segs == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    snprintf(spool, sizeof(spool), "%s.spool-XXXXXX", rs->tmp);
    rs->spool = mkostemp(spool, O_CLOEXEC);
    if (rs->spool < 0)
        return ws_err_set(err, WS_EIO, "create %s: %s", spool,
                          strerror(errno));
    unlink(spool); /* nothing to clean up, whatever happens */
    rs->snap.rs = rs;
    rs->snap.k = -1;
    ws_key_snapshot(rs->snap.key, sizeof(rs->snap.key), g->name,
                    p->snap->index);
    for (size_t k = 0; k < rs->n; k++) {
        struct obj *o = &rs->segs[k];
        o->rs = rs;
        o->k = (long)k;
        o->si = &g->segs[p->seg0 + k];
        ws_key_wal(o->key, sizeof(o->key), g->name, o->si->index,
                   o->si->offset);
        o->spool_off = off;
        off += o->si->size;
    }
    rs->tty = isatty(2);
    rs->t0 = rs->last_log = ws_now_ms();
    uv_timer_init(rs->loop, &rs->prog);
    rs->prog.data = rs;
    uv_timer_start(&rs->prog, on_progress, PROGRESS_MS, PROGRESS_MS);
    pump(rs);
    while (!rs->done)
        uv_run(rs->loop, UV_RUN_ONCE);
    uv_timer_stop(&rs->prog);
    uv_close((uv_handle_t *)&rs->prog, NULL);
    uv_run(rs->loop, UV_RUN_NOWAIT);
    if (rs->rc == WS_OK)
        progress(rs, 1);
    else if (rs->tty)
        fputc('\n', stderr);
    if (rs->rc == WS_OK && rs->db_pages != 0 &&
        ftruncate(rs->fd, (off_t)rs->db_pages * rs->page_size) != 0)
        ws_err_set(&rs->err, rs->rc = WS_EIO, "truncate: %s",
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
static int get_times(struct ws_replica *r, const struct ws_geninfo *g,
                     const struct ws_timesinfo *t, struct ws_tlist *out,
                     struct ws_err *err)
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
    rc = ws_replica_run(r, &req);
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
 * The records of g that a plan for q needs: none without a time (the
 * newest state and -index never depend on them).  A commit-time object
 * that cannot be read (corrupt, gone since the listing) costs only
 * precision: that generation falls back to object times, and says so.
 */
static int recs_for(struct ws_replica *r, const struct ws_geninfo *g,
                    const struct ws_plan_req *q, struct ws_tlist *recs,
                    struct ws_err *err)
{
    const struct ws_timesinfo *t = q->has_time ? ws_plan_times_obj(g, q)
                                               : NULL;
    struct ws_err e = {0};
    int rc;

    recs->n = 0;
    if (t == NULL)
        return WS_OK;
    rc = get_times(r, g, t, recs, &e);
    if (rc == WS_ENOMEM) {
        *err = e;
        return rc;
    }
    if (rc != WS_OK) {
        recs->n = 0;
        ws_warn("restore: commit times of generation %s cannot be read, "
                "using object times for it: %s", g->name, e.msg);
    }
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

/* List every replica and gather their generations, newest first. */
static int gather(struct ws_replica *const *reps, size_t n,
                  const struct ws_restore_opts *o, struct ws_catalog *cats,
                  struct gref **out, size_t *nout, struct ws_err *err)
{
    size_t total = 0, k = 0;
    struct gref *v;
    int rc = WS_OK;

    for (size_t i = 0; rc == WS_OK && i < n; i++) {
        rc = ws_replica_catalog(reps[i], &cats[i], err);
        total += rc == WS_OK ? cats[i].ngens : 0;
    }
    if (rc != WS_OK)
        return rc;
    v = calloc(total ? total : 1, sizeof(*v));
    if (v == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < cats[i].ngens; j++)
            if (o->generation == NULL ||
                strcmp(cats[i].gens[j].name, o->generation) == 0)
                v[k++] = (struct gref){i, &cats[i].gens[j], 0, ""};
    qsort(v, k, sizeof(*v), cmp_gref);
    *out = v;
    *nout = k;
    return WS_OK;
}

/* Say what was passed over for the plan chosen (c NULL: none was): each
 * generation newer than it that could not be restored, and a target
 * older than what was asked for. */
static void log_skips(const struct gref *v, size_t n, const struct choice *c)
{
    for (size_t i = 0; i < n; i++) {
        if (c != NULL && ws_gen_cmp(v[i].g, c->plan.g) <= 0)
            continue;
        if (v[i].broken)
            ws_warn("restore: skipping generation %s: %s", v[i].g->name,
                    v[i].why);
        else if (v[i].g->nsnaps == 0 && v[i].g->nsegs > 0)
            ws_warn("restore: skipping generation %s: it has WAL segments "
                    "but no snapshot", v[i].g->name);
    }
    if (c != NULL && c->plan.skipped[0])
        ws_warn("restore: generation %s: %s", c->plan.g->name,
                c->plan.skipped);
}

/*
 * Pick the replica, generation and plan: the newest state the objects
 * prove.  Without a time, the newest generation that can be restored;
 * with one, the latest moment at or before it in any generation (a tie:
 * the newer generation).  Generations that cannot be restored are
 * passed over and named in the log.
 */
static int choose(struct ws_replica *const *reps, size_t n,
                  const struct ws_restore_opts *o, struct ws_catalog *cats,
                  struct choice *best, struct ws_err *err)
{
    struct ws_plan_req q = {o->has_time, o->time_us, o->has_index, o->index};
    struct ws_tlist recs = {0};
    const struct gref *bare = NULL, *broken = NULL;
    struct gref *v = NULL;
    size_t nv = 0;
    int64_t oldest = 0;
    int rc, prc, any = 0;

    rc = gather(reps, n, o, cats, &v, &nv, err);
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
        if (o->has_time && ws_plan_oldest(g) != 0 &&
            (oldest == 0 || ws_plan_oldest(g) < oldest))
            oldest = ws_plan_oldest(g);
        rc = recs_for(reps[v[i].ri], g, &q, &recs, err);
        if (rc != WS_OK)
            break;
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
        log_skips(v, nv, best->ok ? best : NULL);
    if (rc == WS_OK && !best->ok) {
        if (broken != NULL && !(o->has_time && o->time_us < oldest))
            rc = ws_err_set(err, WS_ECORRUPT, "%s", broken->why);
        else if (bare != NULL && !(o->has_time && o->time_us < oldest))
            rc = ws_err_set(err, WS_ECORRUPT,
                            "generation %s has WAL segments but no snapshot "
                            "(generations/%s/snapshots/ is empty or "
                            "missing)",
                            bare->g->name, bare->g->name);
        else if (any && o->has_time) {
            char a[40], b[40];
            ws_time_fmt(o->time_us, a, sizeof(a));
            ws_time_fmt(oldest, b, sizeof(b));
            rc = ws_err_set(err, WS_ERANGE, "no backup at or before %s: the "
                            "oldest restorable time is %s", a, b);
        } else {
            rc = ws_err_set(err, WS_ENOTFOUND, "no matching backups found");
        }
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
    struct ws_plan_req q = {1, INT64_MAX, 0, 0};
    struct ws_tlist recs = {0};
    struct ws_table tab;
    struct gref *v = NULL;
    size_t nv = 0;
    int rc;

    ws_table_init(&tab, window_cols, NWINDOW);
    rc = gather(reps, n, o, cats, &v, &nv, err);
    /* Oldest generation first, as a timeline. */
    for (size_t k = nv; rc == WS_OK && k-- > 0;) {
        const struct ws_geninfo *g = v[k].g;
        struct ws_plan p;
        struct ws_err e = {0};
        char c[NWINDOW][40];
        const char *row[NWINDOW];
        int prc;
        if (g->nsnaps == 0)
            continue;
        rc = recs_for(reps[v[k].ri], g, &q, &recs, err);
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
                    "restored: %s", g->name, reps[v[k].ri]->cfg->name,
                    e.msg);
            continue;
        }
        if (p.skipped[0])
            ws_warn("restore -list: generation %s of replica %s: %s",
                    g->name, reps[v[k].ri]->cfg->name, p.skipped);
        ws_time_fmt(ws_plan_oldest(g), c[2], sizeof(c[2]));
        ws_time_fmt(p.time_us, c[3], sizeof(c[3]));
        snprintf(c[4], sizeof(c[4]), "%lld", (long long)ws_plan_oldest(g));
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

static int integrity(const char *path, struct ws_err *err)
{
    char result[256] = "";
    sqlite3 *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc = WS_OK;

    /* Through mmap, integrity_check takes well under half the time on a
     * large file (it follows every index entry into its table). */
    if (sqlite3_open_v2(path, &c, SQLITE_OPEN_READWRITE, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(c, "PRAGMA mmap_size = 1099511627776", NULL, NULL,
                     NULL) != SQLITE_OK ||
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
    return rc;
}

static void remove_tmp(const char *tmp)
{
    char p[4300];

    unlink(tmp);
    snprintf(p, sizeof(p), "%s-wal", tmp);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", tmp);
    unlink(p);
}

static int check_target(const char *out, struct ws_err *err)
{
    static const char *const sfx[] = {"", "-wal", "-shm"};
    char p[4200];
    struct stat sb;

    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", out, sfx[i]);
        if (lstat(p, &sb) == 0)
            return ws_err_set(err, WS_EEXIST,
                              i == 0 ? "cannot restore, output path "
                                       "already exists: %s"
                                     : "cannot restore, a stale %s exists "
                                       "next to the output path",
                              p);
    }
    return WS_OK;
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
    ws_info("restoring from replica=%s generation=%s snapshot=%08x "
            "snapshot_size=%llu segments=%zu fetch_bytes=%llu target=%s "
            "time=%s (%s)%s",
            r->cfg->name, p->g->name, p->snap->index,
            (unsigned long long)p->snap->size, p->nsegs,
            (unsigned long long)p->bytes, at, t,
            p->precise ? "commit time" : "object time",
            p->newest ? " newest" : "");
    if (o->has_time && p->newest) {
        char want[40];
        ws_time_fmt(o->time_us, want, sizeof(want));
        ws_info("the -timestamp %s is after the newest data (%s): restoring "
                "the newest data", want, t);
    }
    if (o->has_index && p->newest && o->index > p->index)
        ws_info("the -index %08x is past the newest WAL index (%08x): "
                "restoring the newest data", o->index, p->index);
}

/* ---- carrying the position over (resume.h) ------------------------------ */

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

    if (o->has_index || !p->newest)
        return 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < cats[i].ngens; k++)
            if (ws_gen_cmp(&cats[i].gens[k], g) > 0)
                return 0;
    if (p->nsegs == 0) {
        ws_info("restore: position not carried over: generation %s has no "
                "WAL segment after its snapshot; the next replicate starts "
                "a new generation", g->name);
        return 0;
    }
    return p->seg0 + p->nsegs == g->nsegs &&
           g->segs[g->nsegs - 1].index == p->index;
}

/*
 * The tail of a restore that runs on the pool while integrity_check runs
 * on the loop thread: fsync of the built file and, when the position is
 * carried over, its hash.  Both only read what integrity_check reads.
 */
struct finish {
    uv_work_t work;
    struct rs *rs;
    struct ws_resume r;
    int rc, done;
    struct ws_err err;
};

static void on_finish_work(uv_work_t *w)
{
    struct finish *f = w->data;
    struct rs *rs = f->rs;

    f->rc = ws_fs_fsync(rs->fd, rs->tmp, &f->err);
    if (f->rc == WS_OK && rs->carry)
        f->rc = ws_resume_hash(rs->fd, &f->r.db_size, f->r.sha256, &f->err);
}

static void on_finish_done(uv_work_t *w, int status)
{
    struct finish *f = w->data;

    (void)status;
    f->done = 1;
}

static void finish_start(struct rs *rs, struct finish *f)
{
    memset(f, 0, sizeof(*f));
    f->rs = rs;
    f->work.data = f;
    uv_queue_work(rs->loop, &f->work, on_finish_work, on_finish_done);
}

static void finish_wait(struct rs *rs, struct finish *f)
{
    while (!f->done)
        uv_run(rs->loop, UV_RUN_ONCE);
}

/* Leave the restored position in the output's meta dir.  Failing here
 * only costs the next replicate a new generation, so it warns. */
static void carry_install(struct rs *rs, struct finish *h, const char *meta)
{
    const struct ws_plan *p = rs->p;
    struct ws_err e = {0};
    int rc;

    memcpy(h->r.gen, p->g->name, sizeof(h->r.gen));
    h->r.index = p->index;
    h->r.wal_size = rs->carry_size;
    rc = ws_fs_fsync(rs->carry_fd, rs->carry_tmp, &e);
    if (rc == WS_OK)
        rc = ws_resume_write(meta, &h->r, rs->carry_tmp, &e);
    if (rc != WS_OK)
        ws_warn("restore: position not carried over, the next replicate "
                "starts a new generation: %s", e.msg);
    else
        ws_info("restore: position carried over in %s: generation=%s "
                "index=%08x offset=%llu; replicate continues it while "
                "the database is unchanged",
                meta, h->r.gen, h->r.index,
                (unsigned long long)h->r.wal_size);
}

/* Open the file the last index's bytes are kept in, inside meta (so that
 * installing it is a rename).  On failure the restore goes on without. */
static void carry_open(struct rs *rs, const char *meta)
{
    struct ws_err e = {0};

    rs->carry_fd = -1;
    if (ws_fs_mkdir_p(meta, 0700, &e) == WS_OK &&
        (size_t)snprintf(rs->carry_tmp, sizeof(rs->carry_tmp),
                         "%s/shadow.tmp-XXXXXX", meta) <
            sizeof(rs->carry_tmp))
        rs->carry_fd = mkostemp(rs->carry_tmp, O_CLOEXEC);
    if (rs->carry_fd < 0) {
        ws_warn("restore: position not carried over: cannot create a "
                "file in %s: %s", meta, e.msg[0] ? e.msg : strerror(errno));
        rs->carry_tmp[0] = '\0';
        rs->carry = 0;
    }
}

int ws_restore(struct ws_replica *const *reps, size_t n,
               const struct ws_restore_opts *o, struct ws_err *err)
{
    struct ws_catalog *cats = calloc(n ? n : 1, sizeof(*cats));
    struct choice c;
    struct rs rs;
    struct finish h;
    char *dir = NULL, *meta = NULL;
    int rc;

    int *locks = calloc(n ? n : 1, sizeof(*locks));

    memset(&c, 0, sizeof(c));
    memset(&rs, 0, sizeof(rs));
    rs.fd = rs.spool = rs.carry_fd = -1;
    h.done = 1;
    if (cats == NULL || locks == NULL) {
        free(cats);
        free(locks);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    /* Retention by a walship on this machine deletes nothing while the
     * restore holds these (rlock.h). */
    for (size_t i = 0; i < n; i++) {
        struct ws_err e = {0};
        locks[i] = -1;
        if (ws_rlock_acquire(reps[i]->cfg, 0, 1, &locks[i], &e) != WS_OK)
            ws_warn("restore: no local lock for replica=%s: %s",
                    reps[i]->cfg->name, e.msg);
    }
    if (o->list) {
        rc = list_windows(reps, n, o, cats, err);
        goto out;
    }
    rc = check_target(o->output, err);
    if (rc == WS_OK)
        rc = choose(reps, n, o, cats, &c, err);
    if (rc == WS_OK) {
        log_plan(&c, reps[c.ri], o);
        dir = ws_path_dir(o->output);
        rc = dir ? ws_fs_mkdir_p(dir, 0700, err)
                 : ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    if (rc == WS_OK) {
        snprintf(rs.tmp, sizeof(rs.tmp), "%s.tmp-XXXXXX", o->output);
        rs.fd = mkostemp(rs.tmp, O_CLOEXEC);
        if (rs.fd < 0)
            rc = ws_err_set(err, WS_EIO, "create %s: %s", rs.tmp,
                            strerror(errno));
    }
    if (rc == WS_OK && carry_wanted(&c, cats, n, o)) {
        meta = o->meta ? strdup(o->meta) : ws_meta_path(o->output);
        rs.carry = meta != NULL;
        if (rs.carry)
            carry_open(&rs, meta);
    }
    if (rc == WS_OK) {
        rs.loop = reps[c.ri]->loop;
        rs.r = reps[c.ri];
        rs.p = &c.plan;
        rs.par = o->parallelism > 0 ? o->parallelism : 8;
        rc = build(&rs, err);
    }
    if (rs.spool >= 0)
        close(rs.spool);
    if (rc == WS_OK)
        finish_start(&rs, &h);
    if (rc == WS_OK)
        rc = integrity(rs.tmp, err);
    finish_wait(&rs, &h);
    if (rc == WS_OK && h.rc != WS_OK) {
        *err = h.err;
        rc = h.rc;
    }
    if (rs.fd >= 0)
        close(rs.fd);
    if (rc == WS_OK && renameat2(AT_FDCWD, rs.tmp, AT_FDCWD, o->output,
                                 RENAME_NOREPLACE) != 0)
        rc = ws_err_set(err, errno == EEXIST ? WS_EEXIST : WS_EIO,
                        "rename %s: %s", o->output, strerror(errno));
    if (rc == WS_OK)
        rc = ws_fs_fsync_dir(dir, err);
    if (rc == WS_OK && rs.carry)
        carry_install(&rs, &h, meta);
    if (rc == WS_OK)
        ws_info("restored in %lldms", (long long)(ws_now_ms() - rs.t0));
    if (rs.tmp[0])
        remove_tmp(rs.tmp);
    if (rs.carry_fd >= 0)
        close(rs.carry_fd);
    if (rs.carry_tmp[0])
        unlink(rs.carry_tmp); /* installed: already renamed away */
    for (size_t k = 0; k < rs.n; k++)
        free(rs.segs[k].wins);
    free(rs.segs);
    free(rs.map);
    ws_walv_free(&rs.v); /* an index left half-checked by an error */
    ws_lz4r_free(rs.slz);
out:
    for (size_t i = 0; i < n; i++)
        ws_rlock_release(locks[i]);
    free(locks);
    ws_tlist_free(&c.recs);
    for (size_t i = 0; i < n; i++)
        ws_catalog_free(&cats[i]);
    free(cats);
    free(dir);
    free(meta);
    return rc;
}
