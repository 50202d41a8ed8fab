/*
 * restore_apply.c: what a restore makes of the objects downloaded, and
 * the driver that paces the whole build (ws_rapply_build, called once
 * per attempt by restore.c).
 *
 * Pass 1, on the thread pool, one segment at a time and in order
 * (F_HAVE -> F_CHECKING -> F_CHECKED): each WAL index is verified (wal.h:
 * header, salts, checksum chain) against its records, up to the plan's
 * target (a commit, a time, the end of an index); the page map
 * (pagemap.h) keeps, per page, the newest frame that wrote it, and the
 * database size of the last commit replayed is checked against what the
 * snapshot and the frames can give.  The last index's WAL bytes are
 * kept aside when the position is carried over (restore_finish.c).
 *
 * Pass 2, once every segment and the snapshot are checked (F_APPLYING
 * -> F_DONE): the final size is checked (check_sizes), and each segment
 * writes only the frames the page map chose, in parallel (par jobs), to
 * the temporary file; the file is cut to the final size.
 *
 * The driver (ws_rapply_pump) is called by every completion: it starts
 * downloads up to the parallelism, the next check, then pass 2, and
 * says the progress (on a terminal, and in the log every few seconds).
 * Before any download, ws_rapply_build checks that the output's
 * directory has room for the least the plan writes there (check_room).
 */
#include "ws/restore_int.h"
#include "ws/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define LOCK_BYTE 0x40000000ULL    /* SQLite's lock-byte page holds it */
#define CHUNK (1024 * 1024)
#define PROGRESS_MS 250
#define PROGRESS_LOG_MS 5000

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
    if (ws_rfetch_target_cut(rs, o->si->index) && end > rs->p->offset)
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
    if (ws_rfetch_target_cut(rs, o->si->index) && end == rs->p->offset)
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
                                    err) != WS_OK) {
        ws_err_wrap(err, "the WAL carried over for %s/%s", rs->dir->path,
                    rs->base + 1);
        rc = ws_err_at(err, WS_AT_DB);
    }
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
        if (rc != WS_OK)
            ws_err_wrap(err, "%s", rs->spool_name);
        else if (got != want)
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
    if (!ws_rfetch_target_cut(rs, i) &&
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
         (ws_rfetch_target_cut(rs, o->si->index) && p->offset != rs->v.off)))
        rs->carry = 0; /* the database is not the whole index */
    if (o->si->index == p->snap->index &&
        (p->snap_safe <= WS_WAL_HDR_SIZE || rs->v.off >= p->snap_safe))
        rs->snap_reached = 1;
    if (p->must_reach != 0 && o->si->index == p->must_index &&
        rs->v.off < p->must_reach)
        return ws_plan_gap(p, o->si->index, rs->v.off, last_commit_time(rs),
                           err);
    if (ws_rfetch_target_cut(rs, o->si->index) && !rs->cut_hit)
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
        ws_rfetch_fail(rs, &o->req.err);
    o->state = F_CHECKED;
    rs->next_check++;
    ws_rapply_pump(rs);
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
            int rc = ws_rfetch_local_write(
                a->o, a->rs->fd, a->rs->tmp, a->frame + WS_WAL_FRAME_HDR_SIZE,
                a->rs->page_size, (uint64_t)(pgno - 1) * a->rs->page_size,
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
        ws_rfetch_fail(rs, &o->req.err);
    free(o->wins);
    o->wins = NULL;
    ws_rapply_pump(rs);
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
        ws_rfetch_db_header(rs->shdr, &rs->page_size, &hdr_pages) != 0)
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
        if (ws_rfetch_u64_push(&o->wins, &o->nwins, &o->cwins, 16, m->pos,
                               err) != WS_OK)
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

void ws_rapply_pump(struct rs *rs)
{
    struct ws_err e = {0};

    if (rs->rc != WS_OK) {
        if (rs->inflight == 0 && !rs->checking && rs->applying == 0)
            rs->done = 1;
        return;
    }
    if (rs->snap.state == F_WAIT)
        ws_rfetch_start(&rs->snap);
    while (rs->rc == WS_OK && rs->inflight < rs->par &&
           rs->next_fetch < rs->n)
        ws_rfetch_start(&rs->segs[rs->next_fetch++]);
    if (rs->rc != WS_OK) {
        ws_rapply_pump(rs);
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
            ws_rfetch_fail(rs, &e);
            ws_rapply_pump(rs);
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
int ws_rapply_build(struct rs *rs, struct ws_err *err)
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
    ws_rfetch_watch_init(&rs->snap.watch, rs->db, rs->r, WS_REQ_GET,
                         rs->snap.key);
    for (size_t k = 0; k < rs->n; k++)
        ws_rfetch_watch_init(&rs->segs[k].watch, rs->db, rs->r, WS_REQ_GET,
                             rs->segs[k].key);
    ws_rapply_pump(rs);
    while (!rs->done)
        uv_run(rs->loop, UV_RUN_ONCE);
    uv_timer_stop(&rs->prog);
    uv_close((uv_handle_t *)&rs->prog, NULL);
    ws_slow_close(&rs->snap.watch.slow, ws_rfetch_on_watch_closed);
    for (size_t k = 0; k < rs->n; k++)
        ws_slow_close(&rs->segs[k].watch.slow, ws_rfetch_on_watch_closed);
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
