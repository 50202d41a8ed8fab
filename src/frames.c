/*
 * frames.c: reading the frames of one index for a shipper (db.h,
 * ws_db_frames_*), on any thread, beside a sync.
 *
 * A frame copied from the -wal is written to the shadow only when the
 * -wal may lose it (shadow.c, ws_dbi_spool): while walship's read is on
 * a slot above 0 the WAL cannot restart, so the frames of the current
 * index stay in the -wal, and that is where a shipper finds them.  A
 * closed index is in the shadow, from the frame before the slowest
 * replica's position on.  So each read tries the -wal first while the
 * -wal has the index's header, and the shadow for what the -wal does not
 * give; neither is trusted: every frame must carry the index's salts and
 * continue its checksum chain from the reader's position, whose checksum
 * is the one stored in the frame before it (or the header's).  A frame
 * read from the -wal just as the application restarts it (after a seal)
 * fails that check, and the shadow, written before the seal let the
 * restart happen, has it.
 */
#include "ws/db.h"
#include "ws/db_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ws_db_wal_open(const struct ws_db *db)
{
    /* Not a link, and never blocking on a FIFO planted there. */
    int fd = open(db->wal_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
                                    O_NONBLOCK);
    struct stat sb;

    if (fd >= 0 && (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* The frame header at off - fs of fd, when it has the index's salts:
 * its stored checksum into s.  1 when found. */
static int prior_cksum(int fd, const struct ws_frames *f, uint64_t off,
                       uint32_t s[2])
{
    uint8_t h[WS_WAL_FRAME_HDR_SIZE];
    size_t got;

    return fd >= 0 &&
           ws_fs_pread(fd, h, sizeof(h), off - f->fsize, &got, NULL) ==
               WS_OK &&
           got == sizeof(h) && ws_wal_frame_of(&f->w.hdr, h, s);
}

int ws_db_frames_open(const struct ws_db *db, const char *gen,
                      uint32_t index, uint64_t off, struct ws_frames *f,
                      struct ws_err *err)
{
    uint8_t wh[WS_WAL_HDR_SIZE];
    struct ws_wal_hdr h;
    uint32_t s[2];
    size_t got;
    int rc;

    memset(f, 0, sizeof(*f));
    f->fd[0] = f->fd[1] = -1;
    rc = ws_db_shadow_open(db, gen, index, &f->fd[1], err);
    if (rc != WS_OK)
        return rc;
    rc = ws_fs_pread(f->fd[1], f->hdr, sizeof(f->hdr), 0, &got, err);
    if (rc == WS_OK && (got != sizeof(f->hdr) ||
                        ws_wal_decode_hdr(f->hdr, &h, NULL) != WS_OK))
        rc = ws_err_set(err, WS_ECORRUPT, "shadow wal %s/%08x: bad header",
                        gen, index);
    if (rc != WS_OK) {
        ws_db_frames_close(f);
        return rc;
    }
    f->fsize = ws_wal_frame_size(h.page_size);
    /* The -wal, opened by its path: another file there (a database
     * replaced) fails the salts, as does a restarted one. */
    f->fd[0] = ws_db_wal_open(db);
    if (f->fd[0] >= 0 &&
        (ws_fs_pread(f->fd[0], wh, sizeof(wh), 0, &got, NULL) != WS_OK ||
         got != sizeof(wh) || memcmp(wh, f->hdr, sizeof(wh)) != 0))
        f->src = 1; /* the -wal is at another index: the shadow first */
    if (off < WS_WAL_HDR_SIZE)
        off = WS_WAL_HDR_SIZE;
    if ((off - WS_WAL_HDR_SIZE) % f->fsize != 0) {
        ws_db_frames_close(f);
        return ws_err_set(err, WS_ECORRUPT, "shadow wal %s/%08x: offset "
                          "%llu is not a frame boundary", gen, index,
                          (unsigned long long)off);
    }
    s[0] = h.cksum[0];
    s[1] = h.cksum[1];
    f->w.hdr = h;
    f->chained = off == WS_WAL_HDR_SIZE || prior_cksum(f->fd[f->src], f, off, s) ||
                 prior_cksum(f->fd[!f->src], f, off, s);
    ws_wal_scan_init(&f->w, &h, off, s);
    snprintf(f->name, sizeof(f->name), "%s/%08x", gen, index);
    return WS_OK;
}

int ws_db_frame_at(struct ws_frames *f, uint64_t off, uint8_t *buf)
{
    for (int k = 0; k < 2; k++) {
        int fd = f->fd[k ? !f->src : f->src];
        size_t got;
        if (fd >= 0 &&
            ws_fs_pread(fd, buf, f->fsize, off, &got, NULL) == WS_OK &&
            got == f->fsize && ws_wal_frame_of(&f->w.hdr, buf, NULL))
            return 1;
    }
    return 0;
}

int ws_db_frames_read(struct ws_frames *f, uint8_t *buf, size_t n,
                      struct ws_err *err)
{
    size_t done = 0;
    int tries = 0;

    if (!f->chained)
        return ws_err_set(err, WS_ECORRUPT, "wal %s: the frame before "
                          "offset %llu is neither in the -wal nor in the "
                          "shadow", f->name, (unsigned long long)f->w.off);
    if (n % f->fsize != 0)
        return ws_err_set(err, WS_ECORRUPT, "wal %s: %zu bytes is not "
                          "whole frames", f->name, n);
    while (done < n) {
        struct ws_wal_scan t = f->w;
        size_t got = 0, used = 0;
        int fd = f->fd[f->src];
        if (fd >= 0 && ws_fs_pread(fd, buf + done, n - done, t.off, &got,
                                   NULL) == WS_OK)
            (void)ws_wal_scan(&t, buf + done, got, &used, NULL, NULL);
        if (used > 0) {
            t.broken = 0;
            f->w = t;
            done += used;
            tries = 0;
            continue;
        }
        /* Not (or no more) in this one: the other. */
        if (++tries > 1)
            return ws_err_set(err, WS_ECORRUPT, "wal %s: the frame at "
                              "offset %llu is neither in the -wal nor in "
                              "the shadow", f->name,
                              (unsigned long long)f->w.off);
        f->src = !f->src;
    }
    return WS_OK;
}

void ws_db_frames_close(struct ws_frames *f)
{
    for (int k = 0; k < 2; k++)
        if (f->fd[k] >= 0)
            close(f->fd[k]);
    f->fd[0] = f->fd[1] = -1;
}
