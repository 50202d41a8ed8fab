/*
 * snapshot.c: a consistent snapshot image (see snapshot.h).
 */
#include "ws/snapshot.h"
#include "ws/crashpt.h"
#include "ws/fs.h"
#include "ws/wal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHUNK (256 * 1024) /* bytes read at a time, file and shadow */

/* The newest frame of one page below X: where it starts in the shadow. */
struct ovl {
    uint32_t pgno;
    uint64_t off;
};

struct ovlmap {
    struct ovl *v;
    size_t n, cap;
    uint32_t db_pages; /* database size after the last commit below X */
};

static int cmp_ovl(const void *a, const void *b)
{
    const struct ovl *x = a, *y = b;

    if (x->pgno != y->pgno)
        return x->pgno < y->pgno ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* One pass over the shadow frames below wal_end: every frame's page
 * number, then sorted, keeping each page's last frame. */
static int map_build(int shadow_fd, uint32_t page_size, uint64_t wal_end,
                     struct ovlmap *m, struct ws_err *err)
{
    uint64_t fs = ws_wal_frame_size(page_size), off = WS_WAL_HDR_SIZE;
    size_t per = CHUNK / fs ? CHUNK / fs : 1, k = 0;
    uint8_t *buf;
    int rc = WS_OK;

    if ((wal_end - WS_WAL_HDR_SIZE) % fs != 0)
        return ws_err_set(err, WS_ECORRUPT, "shadow wal: %llu bytes is not "
                          "whole frames",
                          (unsigned long long)wal_end);
    m->cap = (size_t)((wal_end - WS_WAL_HDR_SIZE) / fs);
    m->v = malloc((m->cap ? m->cap : 1) * sizeof(*m->v));
    buf = malloc(per * fs);
    if (m->v == NULL || buf == NULL)
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    while (rc == WS_OK && off < wal_end) {
        size_t want = (size_t)(wal_end - off < per * fs ? wal_end - off
                                                        : per * fs),
               got;
        rc = ws_fs_pread(shadow_fd, buf, want, off, &got, err);
        if (rc == WS_OK && got != want)
            rc = ws_err_set(err, WS_ECORRUPT, "shadow wal: short read at "
                            "%llu", (unsigned long long)off);
        for (size_t i = 0; rc == WS_OK && i < want; i += fs) {
            uint32_t pgno = ws_get_be32(buf + i),
                     commit = ws_get_be32(buf + i + 4);
            if (pgno == 0)
                rc = ws_err_set(err, WS_ECORRUPT, "shadow wal: page 0 at "
                                "%llu", (unsigned long long)(off + i));
            m->v[k].pgno = pgno;
            m->v[k++].off = off + i;
            if (commit != 0)
                m->db_pages = commit;
            else if (off + i + fs == wal_end)
                rc = ws_err_set(err, WS_ECORRUPT, "shadow wal: no commit "
                                "ends at %llu",
                                (unsigned long long)wal_end);
        }
        off += want;
    }
    free(buf);
    if (rc != WS_OK)
        return rc;
    m->n = k;
    qsort(m->v, m->n, sizeof(*m->v), cmp_ovl);
    k = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (i + 1 < m->n && m->v[i + 1].pgno == m->v[i].pgno)
            continue; /* an older version of the same page */
        m->v[k++] = m->v[i];
    }
    m->n = k;
    return WS_OK;
}

/* Bytes [off, off + len) of the image into buf: the file (zeros past
 * its end), then the chunk's pages from the shadow. */
static int fill(int db_fd, int shadow_fd, uint32_t page_size,
                const struct ovlmap *m, size_t *next, uint8_t *buf,
                size_t len, uint64_t off, struct ws_err *err)
{
    uint64_t last = (off + len) / page_size; /* pages [first, last) */
    size_t got;
    int rc = ws_fs_pread(db_fd, buf, len, off, &got, err);

    if (rc != WS_OK)
        return rc;
    memset(buf + got, 0, len - got);
    for (; *next < m->n && m->v[*next].pgno <= last; (*next)++) {
        const struct ovl *o = &m->v[*next];
        uint64_t at = (uint64_t)(o->pgno - 1) * page_size - off;
        rc = ws_fs_pread(shadow_fd, buf + at, page_size,
                         o->off + WS_WAL_FRAME_HDR_SIZE, &got, err);
        if (rc == WS_OK && got != page_size)
            rc = ws_err_set(err, WS_ECORRUPT, "shadow wal: short read at "
                            "%llu", (unsigned long long)o->off);
        if (rc != WS_OK)
            return rc;
    }
    return WS_OK;
}

int ws_snapshot_write(int db_fd, int shadow_fd, uint32_t page_size,
                      uint64_t wal_end, ws_sink_fn sink, void *ctx,
                      struct ws_err *err)
{
    struct ovlmap m = {0};
    struct ws_lz4w *w = NULL;
    uint64_t size = 0, off = 0;
    uint8_t *buf = NULL;
    size_t next = 0;
    struct stat sb;
    int rc = WS_OK;

    if (page_size < 512 || page_size > 65536 || CHUNK % page_size != 0)
        return ws_err_set(err, WS_ECORRUPT, "bad page size %u", page_size);
    if (wal_end > WS_WAL_HDR_SIZE) {
        rc = map_build(shadow_fd, page_size, wal_end, &m, err);
        size = (uint64_t)m.db_pages * page_size;
    } else if (fstat(db_fd, &sb) != 0) {
        rc = ws_err_set(err, WS_EIO, "stat database: %s", strerror(errno));
    } else {
        size = (uint64_t)sb.st_size;
    }
    if (rc == WS_OK) {
        /* Blocks compress on every core: a snapshot is the one large
         * object, and the time to the first snapshot is replication's
         * blind spot. */
        w = ws_lz4w_new_mt(sink, ctx, -1);
        buf = malloc(CHUNK);
        if (w == NULL || buf == NULL)
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    while (rc == WS_OK && off < size) {
        size_t len = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
        if (off > 0)
            WS_CRASHPOINT("snapshot-mid");
        rc = fill(db_fd, shadow_fd, page_size, &m, &next, buf, len, off,
                  err);
        if (rc == WS_OK)
            rc = ws_lz4w_write(w, buf, len, err);
        off += len;
    }
    if (rc == WS_OK)
        rc = ws_lz4w_finish(w, err);
    ws_lz4w_free(w);
    free(buf);
    free(m.v);
    return rc;
}
