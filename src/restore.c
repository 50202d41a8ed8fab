/*
 * restore.c: see restore.h.
 */
#include "ws/restore.h"
#include "ws/fs.h"
#include "ws/log.h"
#include "ws/wal.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_OBJECT (1ULL << 40) /* decompression bound per object */

struct target {
    int fd;
    char tmp[4200];
    uint64_t off;        /* snapshot write position */
    uint32_t page_size;
    struct ws_lz4r *lz;
    struct ws_walv v;
};

static int snap_sink(void *ctx, const void *buf, size_t len,
                     struct ws_err *err)
{
    struct target *t = ctx;
    int rc = ws_fs_pwrite(t->fd, buf, len, t->off, err);

    t->off += len;
    return rc;
}

static int lz_feed(void *ctx, const void *buf, size_t len,
                   struct ws_err *err)
{
    struct target *t = ctx;
    return ws_lz4r_write(t->lz, buf, len, err);
}

static int walv_sink(void *ctx, const void *buf, size_t len,
                     struct ws_err *err)
{
    struct target *t = ctx;
    return ws_walv_feed(&t->v, buf, len, err);
}

/* Apply one verified frame to the database file. */
static int on_frame(void *ctx, const struct ws_wal_frame *f,
                    const uint8_t *page, uint64_t off, struct ws_err *err)
{
    struct target *t = ctx;
    int rc;

    (void)off;
    rc = ws_fs_pwrite(t->fd, page, t->page_size,
                      (uint64_t)(f->pgno - 1) * t->page_size, err);
    if (rc == WS_OK && f->commit != 0 &&
        ftruncate(t->fd, (off_t)f->commit * t->page_size) != 0)
        rc = ws_err_set(err, WS_EIO, "truncate: %s", strerror(errno));
    return rc;
}

/* Download key through the LZ4 reader into sink. */
static int fetch(struct ws_replica *r, struct target *t, const char *key,
                 ws_sink_fn sink, struct ws_err *err)
{
    struct ws_req req;
    int rc;

    memset(&req, 0, sizeof(req));
    t->lz = ws_lz4r_new(sink, t, MAX_OBJECT);
    if (t->lz == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    req.type = WS_REQ_GET;
    snprintf(req.key, sizeof(req.key), "%s", key);
    req.sink = lz_feed;
    req.sink_ctx = t;
    rc = ws_replica_run(r, &req);
    if (rc == WS_OK)
        rc = ws_lz4r_finish(t->lz, &req.err);
    ws_lz4r_free(t->lz);
    t->lz = NULL;
    if (rc != WS_OK) {
        *err = req.err;
        err->code = rc;
        return ws_err_wrap(err, "%s", key);
    }
    return WS_OK;
}

/* Check that the plan is complete before downloading anything: every
 * index from the snapshot's to the last has segments, starting at 0. */
static int check_plan(const struct ws_geninfo *g, uint32_t snap,
                      struct ws_err *err)
{
    uint32_t want = snap;
    int first = 1;

    for (size_t i = 0; i < g->nsegs; i++) {
        const struct ws_seginfo *s = &g->segs[i];
        if (s->index < snap)
            continue;
        if (first || s->index != g->segs[i - 1].index) {
            if (s->index != want)
                return ws_err_set(err, WS_ECORRUPT,
                                  "missing WAL index: %s/%08x", g->name,
                                  want);
            if (s->offset != 0)
                return ws_err_set(err, WS_ECORRUPT,
                                  "missing initial wal segment: "
                                  "generation=%s index=%08x offset=%llu",
                                  g->name, s->index,
                                  (unsigned long long)s->offset);
            want++;
            first = 0;
        }
    }
    return WS_OK;
}

static int apply_index(struct ws_replica *r, struct target *t,
                       const struct ws_geninfo *g, size_t *i,
                       struct ws_err *err)
{
    uint32_t index = g->segs[*i].index;
    char key[WS_KEY_MAX];
    int rc = WS_OK;

    ws_walv_init(&t->v);
    t->v.on_frame = on_frame;
    t->v.ctx = t;
    for (; rc == WS_OK && *i < g->nsegs && g->segs[*i].index == index;
         (*i)++) {
        const struct ws_seginfo *s = &g->segs[*i];
        ws_key_wal(key, sizeof(key), g->name, s->index, s->offset);
        if (s->offset != (t->v.have_hdr ? t->v.off : 0)) {
            rc = ws_err_set(err, WS_ECORRUPT,
                            "%s: wal segments out of order: expected "
                            "offset %llu",
                            key, (unsigned long long)t->v.off);
            break;
        }
        rc = fetch(r, t, key, walv_sink, err);
        if (rc == WS_OK && t->v.have_hdr &&
            t->v.hdr.page_size != t->page_size)
            rc = ws_err_set(err, WS_ECORRUPT,
                            "%s: wal page size %u != database page size %u",
                            key, t->v.hdr.page_size, t->page_size);
    }
    if (rc == WS_OK && ws_walv_end(&t->v, err) != WS_OK)
        rc = ws_err_wrap(err, "%s", key);
    ws_walv_free(&t->v);
    return rc;
}

static int integrity(const char *path, struct ws_err *err)
{
    char result[256] = "";
    sqlite3 *c = NULL;
    sqlite3_stmt *st = NULL;
    int rc = WS_OK;

    if (sqlite3_open_v2(path, &c, SQLITE_OPEN_READWRITE, NULL) !=
            SQLITE_OK ||
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

/* Choose the replica and generation to restore from. */
static int choose(struct ws_replica *const *reps, size_t n,
                  const struct ws_restore_opts *o, struct ws_catalog *cats,
                  size_t *ri, const struct ws_geninfo **gi,
                  struct ws_err *err)
{
    const struct ws_geninfo *bare = NULL;

    *gi = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct ws_geninfo *g;
        int rc = ws_replica_catalog(reps[i], &cats[i], err);
        if (rc != WS_OK)
            return rc;
        g = o->generation ? ws_catalog_find(&cats[i], o->generation)
                          : ws_catalog_latest(&cats[i]);
        /* A newer generation without a snapshot cannot be restored;
         * remember it so the error can say so. */
        for (size_t k = 0; k < cats[i].ngens; k++) {
            const struct ws_geninfo *x = &cats[i].gens[k];
            if (x->nsnaps == 0 && (o->generation == NULL ||
                                   strcmp(x->name, o->generation) == 0) &&
                (g == NULL || x->updated_ms > g->updated_ms))
                bare = x;
        }
        if (g == NULL || g->nsnaps == 0)
            continue;
        if (*gi == NULL || g->updated_ms > (*gi)->updated_ms) {
            *gi = g;
            *ri = i;
        }
    }
    if (bare != NULL)
        return ws_err_set(err, WS_ECORRUPT,
                          "generation %s has WAL segments but no snapshot "
                          "(generations/%s/snapshots/ is empty or missing)",
                          bare->name, bare->name);
    if (*gi == NULL)
        return ws_err_set(err, WS_ENOTFOUND, "no matching backups found");
    return WS_OK;
}

static int build(struct ws_replica *r, const struct ws_geninfo *g,
                 struct target *t, struct ws_err *err)
{
    const struct ws_snapinfo *snap = &g->snaps[g->nsnaps - 1];
    char key[WS_KEY_MAX];
    uint8_t hdr[100];
    size_t got, i = 0;
    int rc, nidx = 0;

    rc = check_plan(g, snap->index, err);
    if (rc != WS_OK)
        return rc;
    ws_key_snapshot(key, sizeof(key), g->name, snap->index);
    ws_info("restoring snapshot generation=%s index=%08x path=%s", g->name,
            snap->index, t->tmp);
    rc = fetch(r, t, key, snap_sink, err);
    if (rc == WS_OK)
        rc = ws_fs_pread(t->fd, hdr, sizeof(hdr), 0, &got, err);
    if (rc != WS_OK)
        return rc;
    if (got < sizeof(hdr) || memcmp(hdr, "SQLite format 3", 16) != 0)
        return ws_err_set(err, WS_ECORRUPT, "%s: not a SQLite database",
                          key);
    t->page_size = (uint32_t)hdr[16] << 8 | hdr[17];
    if (t->page_size == 1)
        t->page_size = 65536;
    while (i < g->nsegs && g->segs[i].index < snap->index)
        i++;
    while (rc == WS_OK && i < g->nsegs) {
        rc = apply_index(r, t, g, &i, err);
        nidx++;
    }
    if (rc == WS_OK)
        ws_info("applied wal generation=%s indexes=%d", g->name, nidx);
    return rc;
}

int ws_restore(struct ws_replica *const *reps, size_t n,
               const struct ws_restore_opts *o, struct ws_err *err)
{
    struct ws_catalog *cats = calloc(n ? n : 1, sizeof(*cats));
    const struct ws_geninfo *g;
    struct target t;
    char *dir = NULL;
    size_t ri = 0;
    int rc;

    memset(&t, 0, sizeof(t));
    t.fd = -1;
    if (cats == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = check_target(o->output, err);
    if (rc == WS_OK)
        rc = choose(reps, n, o, cats, &ri, &g, err);
    if (rc == WS_OK) {
        ws_info("restoring from replica=%s generation=%s snapshots=%zu "
                "segments=%zu",
                reps[ri]->cfg->name, g->name, g->nsnaps, g->nsegs);
        dir = ws_path_dir(o->output);
        rc = dir ? ws_fs_mkdir_p(dir, 0700, err)
                 : ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    if (rc == WS_OK) {
        snprintf(t.tmp, sizeof(t.tmp), "%s.tmp-XXXXXX", o->output);
        t.fd = mkostemp(t.tmp, O_CLOEXEC);
        if (t.fd < 0)
            rc = ws_err_set(err, WS_EIO, "create %s: %s", t.tmp,
                            strerror(errno));
    }
    if (rc == WS_OK)
        rc = build(reps[ri], g, &t, err);
    if (rc == WS_OK)
        rc = ws_fs_fsync(t.fd, t.tmp, err);
    if (t.fd >= 0)
        close(t.fd);
    if (rc == WS_OK)
        rc = integrity(t.tmp, err);
    if (rc == WS_OK && renameat2(AT_FDCWD, t.tmp, AT_FDCWD, o->output,
                                 RENAME_NOREPLACE) != 0)
        rc = ws_err_set(err, errno == EEXIST ? WS_EEXIST : WS_EIO,
                        "rename %s: %s", o->output, strerror(errno));
    if (rc == WS_OK)
        rc = ws_fs_fsync_dir(dir, err);
    if (t.tmp[0])
        remove_tmp(t.tmp);
    for (size_t i = 0; i < n; i++)
        ws_catalog_free(&cats[i]);
    free(cats);
    free(dir);
    return rc;
}
