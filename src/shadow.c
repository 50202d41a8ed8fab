/*
 * shadow.c: the shadow WAL (db.h).  Copying the committed frames of the
 * -wal, one shadow file per WAL index, with the time each commit was
 * seen: written as they are copied while walship's read may be on slot
 * 0, else left in the -wal, which keeps them, and written (spooled) only
 * before that can end, less what every replica already holds; starting
 * a new index at a WAL restart (only when nothing can have been
 * overwritten) and a new generation; at start-up, deciding whether the
 * shadow on disk (holes and all), and the markers a restore or a stop
 * left (meta.h), let the generation go on; and what the closed indexes
 * hold.  Every frame copied, spooled or kept is checked against the
 * index's salts and checksum chain (wal.h).
 */
#include "ws/crashpt.h"
#include "ws/db_int.h"
#include "ws/meta.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_FIRST (64 * 1024)  /* first read, unless more is known */
#define FSYNC_EVERY_MS 1000 /* shadow fsyncs, unless a checkpoint needs one */

static int shadow_err(const struct ws_db *db, struct ws_err *err);

/*
 * The shadow is fsynced at most every FSYNC_EVERY_MS, and always before
 * anything lets SQLite reuse the frames it holds: a checkpoint, a new
 * index.  Until then the frames are also in the -wal, pinned by the read
 * lock, and start-up repairs a torn shadow (open_shadow).
 */
int ws_dbi_shadow_sync(struct ws_db *db, int force, struct ws_err *err)
{
    int64_t now = ws_now_ms();
    int rc;

    if (db->shadow_fd < 0 || !db->unsynced ||
        (!force && now - db->fsync_ms < FSYNC_EVERY_MS))
        return WS_OK;
    WS_CRASHPOINT("shadow-before-fsync");
    rc = ws_fs_fsync(db->shadow_fd, "the shadow WAL", err);
    if (rc != WS_OK)
        return shadow_err(db, err);
    db->unsynced = 0;
    db->fsync_ms = now;
    return WS_OK;
}

/* A failed write to (or fsync of) the current shadow file: name it in
 * err. */
static int shadow_err(const struct ws_db *db, struct ws_err *err)
{
    char *path = ws_db_shadow_path(db, db->gen, db->index);

    if (path != NULL)
        ws_err_wrap(err, "%s", path);
    free(path);
    return err->code;
}

void ws_dbi_shadow_close(struct ws_db *db)
{
    if (db->shadow_fd >= 0)
        close(db->shadow_fd);
    db->shadow_fd = -1;
    db->unsynced = 0;
}

/* Create shadow file `index` holding the 32-byte header hb. */
static int shadow_create(struct ws_db *db, uint32_t index, const uint8_t *hb,
                         struct ws_err *err)
{
    struct ws_wal_hdr h;
    struct ws_fs_dir wal;
    char name[16];
    int rc = ws_wal_decode_hdr(hb, &h, err);

    if (rc != WS_OK)
        return ws_err_wrap(err, "%s-wal", db->cfg->path);
    if (h.page_size != db->page_size)
        return ws_err_set(err, WS_ECORRUPT, "page size changed: %u -> %u",
                          db->page_size, h.page_size);
    rc = ws_dbi_spool(db, err);
    if (rc == WS_OK)
        rc = ws_dbi_shadow_sync(db, 1, err);
    if (rc != WS_OK)
        return rc;
    ws_dbi_shadow_close(db);
    ws_dbi_shadow_name(index, name);
    rc = ws_dbi_wal_dir(db, db->gen, WS_FS_CREATE, &wal, err);
    /* A new file renamed over the name: nothing planted there is
     * written through (fs.h). */
    if (rc == WS_OK)
        rc = ws_fs_write_atomic_at(&wal, name, hb, WS_WAL_HDR_SIZE, 0600,
                                   &db->shadow_fd, err);
    ws_fs_dir_close(&wal);
    if (rc != WS_OK)
        return rc;
    db->index = index;
    db->have_hdr = 1;
    memcpy(db->hdr_bytes, hb, WS_WAL_HDR_SIZE);
    db->hdr = h;
    db->size = db->w_hi = WS_WAL_HDR_SIZE;
    db->s[0] = db->w_s[0] = h.cksum[0];
    db->s[1] = db->w_s[1] = h.cksum[1];
    db->sealed = 0;
    return WS_OK;
}

/* ---- copying frames -------------------------------------------------- */

/*
 * When a copy found the commit ending at byte `commit`: the first
 * observation (db.h) at or after seen[*k] that covers it, when earlier
 * than `now`, the time the copy read it; never before the last time given
 * (the wall clock may step back; later is the safe side, see db.h).
 */
static int add_point(struct ws_db *db, uint64_t commit, size_t *k,
                     int64_t now)
{
    uint64_t n = (commit - WS_WAL_HDR_SIZE) /
                 ws_wal_frame_size(db->page_size);
    struct ws_tpoint p = {db->index, WS_T_COMMIT, commit, now};

    for (; *k < db->nseen; (*k)++) {
        const struct ws_db_seen *v = &db->seen[*k];
        if (v->salt1 == db->hdr.salt1 && v->salt2 == db->hdr.salt2 &&
            v->mx_frame >= n) {
            if (v->time_us < p.time_us)
                p.time_us = v->time_us;
            break;
        }
    }
    if (p.time_us < db->last_us)
        p.time_us = db->last_us;
    db->last_us = p.time_us;
    return ws_tlist_add(&db->points, &p);
}

/* Frames for the first read of a copy: up to the newest observed commit
 * of this WAL, at least COPY_FIRST bytes, at most WS_DB_COPY_CHUNK.  Past the
 * last commit the -wal usually holds stale frames of an earlier index
 * (SQLite reuses the file from the start), so reading far ahead is
 * wasted copying. */
static size_t first_read(const struct ws_db *db, uint64_t fs)
{
    size_t max = WS_DB_COPY_CHUNK / fs ? WS_DB_COPY_CHUNK / fs : 1;
    size_t n = COPY_FIRST / fs ? COPY_FIRST / fs : 1;

    for (size_t i = db->nseen; i > 0; i--) {
        const struct ws_db_seen *v = &db->seen[i - 1];
        uint64_t end = WS_WAL_HDR_SIZE + (uint64_t)v->mx_frame * fs;
        if (v->salt1 != db->hdr.salt1 || v->salt2 != db->hdr.salt2)
            continue;
        if (end > db->size && (end - db->size) / fs + 1 > n)
            n = (size_t)((end - db->size) / fs + 1);
        break;
    }
    return n < max ? n : max;
}

/* A copy's commits, as the walk finds them (copy_frames). */
struct copy_walk {
    struct ws_db *db;
    size_t seen;            /* add_point's place in db->seen */
    int64_t now;            /* when the bytes walked were read */
};

static int copy_commit(void *ctx, uint64_t commit)
{
    struct copy_walk *c = ctx;

    return add_point(c->db, commit, &c->seen, c->now);
}

/*
 * Copy valid committed frames of the real WAL, from db->size on, into the
 * shadow.  Frames are checked against the shadow header's salts and the
 * running checksum (ws_wal_scan); copying stops at the first frame that
 * is invalid or incomplete, and the shadow keeps only whole
 * transactions.  Each commit found is recorded with its time
 * (add_point).
 */
static int copy_frames(struct ws_db *db, uint64_t *copied, struct ws_err *err)
{
    uint64_t fs = ws_wal_frame_size(db->page_size);
    size_t max = WS_DB_COPY_CHUNK / fs ? WS_DB_COPY_CHUNK / fs : 1;
    size_t per = first_read(db, fs), npoints = db->points.n;
    size_t step = COPY_FIRST / fs ? COPY_FIRST / fs : 1;
    struct copy_walk c = {db, 0, 0};
    struct ws_wal_scan w;
    int rc = WS_OK;

    /* Unpinned, the shadow must hold every frame it copies (db.h). */
    if (!db->lazy && db->w_hi < db->size) {
        rc = ws_dbi_spool(db, err);
        if (rc != WS_OK)
            return rc;
    }
    ws_wal_scan_init(&w, &db->hdr, db->size, db->s);
    while (rc == WS_OK) {
        uint64_t at = w.off;
        size_t got, used;
        rc = ws_fs_pread(db->wal_fd, db->buf, per * fs, at, &got, err);
        if (rc != WS_OK)
            return ws_err_wrap(err, "%s", db->wal_path);
        /* After the read: every commit in it was complete by then. */
        c.now = ws_wall_us();
        if (ws_wal_scan(&w, db->buf, got, &used, copy_commit, &c) != WS_OK)
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        if (rc == WS_OK && used > 0 && !db->lazy &&
            ws_fs_pwrite(db->shadow_fd, db->buf, used, at, err) != WS_OK)
            rc = shadow_err(db, err);
        if (w.broken || got < per * fs)
            break;
        /* Frames past the newest observation: read on from a small
         * step, doubling. */
        per = step;
        step = step * 2 < max ? step * 2 : max;
    }
    if (rc == WS_OK && !db->lazy && w.off != w.commit &&
        ftruncate(db->shadow_fd, (off_t)w.commit) != 0)
        rc = ws_err_set(err, WS_EIO, "truncate shadow: %s", strerror(errno));
    if (rc == WS_OK && !db->lazy && w.commit > db->size) {
        db->unsynced = 1;
        db->w_hi = w.commit;
        db->w_s[0] = w.cs[0];
        db->w_s[1] = w.cs[1];
    }
    /* Lazy, the file's size records how far the copy went (a hole), so
     * that a start after a crash knows what was shipped: the -wal must
     * still prove it. */
    if (rc == WS_OK && db->lazy && w.commit > db->size &&
        ftruncate(db->shadow_fd, (off_t)w.commit) != 0)
        rc = ws_err_set(err, WS_EIO, "extend shadow: %s", strerror(errno));
    if (rc != WS_OK) {
        db->points.n = npoints;
        return rc;
    }
    /* New frames reopen a sealed index (db.h); none leave it complete. */
    if (w.commit > db->size)
        db->sealed = 0;
    *copied += w.commit - db->size;
    db->size = w.commit;
    db->s[0] = w.cs[0];
    db->s[1] = w.cs[1];
    return WS_OK;
}

/*
 * Frames walship's read pins in the -wal are not written to the shadow
 * as they are copied (db.h): the shippers read them from the -wal.  They
 * are written here, before anything lets the -wal lose them.  Frames
 * every replica has shipped (below keep_off) are skipped, but for the
 * one just before keep_off, whose checksum a reader starting there
 * needs: the file then has a hole, which reads as zeros and so never as
 * a frame of the index.  Every frame written is checked against the
 * chain, which must end at `size` with the checksum the copy found.
 */
int ws_dbi_spool(struct ws_db *db, struct ws_err *err)
{
    uint64_t fs = ws_wal_frame_size(db->page_size), at = db->w_hi, lo;
    size_t max = WS_DB_COPY_CHUNK / fs ? WS_DB_COPY_CHUNK / fs : 1;
    uint32_t s[2] = {db->w_s[0], db->w_s[1]};
    struct ws_wal_scan w;
    size_t got, used;
    int rc = WS_OK;

    if (!db->have_hdr || db->w_hi >= db->size)
        return WS_OK;
    lo = db->index == db->keep_index ? db->keep_off : 0;
    if (lo > at + fs && lo <= db->size &&
        (lo - WS_WAL_HDR_SIZE) % fs == 0) {
        at = lo - fs;
        rc = ws_fs_pread(db->wal_fd, db->buf, fs, at, &got, err);
        if (rc != WS_OK)
            return ws_err_wrap(err, "%s", db->wal_path);
        if (got != fs || !ws_wal_frame_of(&db->hdr, db->buf, s))
            goto gone;
        if (ws_fs_pwrite(db->shadow_fd, db->buf, fs, at, err) != WS_OK)
            return shadow_err(db, err);
        at += fs;
    }
    ws_wal_scan_init(&w, &db->hdr, at, s);
    while (w.off < db->size) {
        uint64_t off = w.off;
        size_t n = db->size - off < max * fs ? (size_t)(db->size - off)
                                             : max * fs;
        rc = ws_fs_pread(db->wal_fd, db->buf, n, off, &got, err);
        if (rc != WS_OK)
            return ws_err_wrap(err, "%s", db->wal_path);
        (void)ws_wal_scan(&w, db->buf, got, &used, NULL, NULL);
        if (used > 0 &&
            ws_fs_pwrite(db->shadow_fd, db->buf, used, off, err) != WS_OK)
            return shadow_err(db, err);
        if (w.broken || used < n)
            break;
    }
    if (w.off != db->size || w.commit != db->size ||
        (!db->s_unknown && (w.s[0] != db->s[0] || w.s[1] != db->s[1])))
        goto gone;
    db->s[0] = w.s[0];
    db->s[1] = w.s[1];
    db->s_unknown = 0;
    db->w_hi = db->size;
    db->w_s[0] = db->s[0];
    db->w_s[1] = db->s[1];
    db->unsynced = 1;
    return WS_OK;
gone:
    return ws_err_set(err, WS_ECORRUPT, "wal overwritten by another "
                      "process: frames from byte %llu of index %08x were "
                      "only in the -wal",
                      (unsigned long long)at, (unsigned)db->index);
}

/* Walk the chain of the file open as fd from w's position to the first
 * frame that breaks it, to the end of its whole frames, or to the first
 * frame at or past `limit` (ws_wal_scan), reading as many whole frames at
 * a time as db->buf holds. */
static int scan_file(struct ws_db *db, int fd, struct ws_wal_scan *w,
                     uint64_t limit, struct ws_err *err)
{
    size_t per = WS_DB_COPY_CHUNK / w->fsize ? WS_DB_COPY_CHUNK / w->fsize
                                             : 1;

    per *= w->fsize;
    while (w->off < limit) {
        size_t got, used, n = per;
        int rc;
        if (limit - w->off < n)
            n = (size_t)((limit - w->off + w->fsize - 1) / w->fsize *
                         w->fsize);
        rc = ws_fs_pread(fd, db->buf, n, w->off, &got, err);
        if (rc != WS_OK)
            return rc;
        (void)ws_wal_scan(w, db->buf, got, &used, NULL, NULL);
        if (w->broken || got < n)
            break;
    }
    return WS_OK;
}

/* Extent of valid frames of the WAL under header h, walked no further
 * than the first frame at or past `limit` (the question is only whether
 * they reach it: what lies beyond, the copy reads next). */
static int valid_extent(struct ws_db *db, const struct ws_wal_hdr *h,
                        uint64_t limit, uint64_t *end, struct ws_err *err)
{
    struct ws_wal_scan w;
    int rc;

    ws_wal_scan_init(&w, h, WS_WAL_HDR_SIZE, h->cksum);
    rc = scan_file(db, db->wal_fd, &w, limit, err);
    *end = w.off;
    return rc;
}

/*
 * Bring the shadow up to date with the real WAL.  Handles the three
 * shapes the real header can take: the same as the shadow's (copy the
 * new frames), absent (nothing to copy; a loss unless sealed), or new (a
 * restart: finish the old index, prove nothing was overwritten, start the
 * next index).
 */
int ws_dbi_catch_up(struct ws_db *db, uint64_t *copied, struct ws_err *err)
{
    uint8_t hb[WS_WAL_HDR_SIZE];
    struct ws_wal_hdr nh;
    uint64_t x;
    size_t got;
    int rc;

    rc = ws_fs_pread(db->wal_fd, hb, sizeof(hb), 0, &got, err);
    if (rc != WS_OK)
        return ws_err_wrap(err, "%s", db->wal_path);
    if (got < WS_WAL_HDR_SIZE || ws_wal_decode_hdr(hb, &nh, NULL) != WS_OK) {
        if (!db->have_hdr || db->sealed)
            return WS_OK;
        return ws_err_set(err, WS_ECORRUPT, "wal truncated by another "
                          "process");
    }
    if (!db->have_hdr) {
        rc = shadow_create(db, db->index, hb, err);
        return rc == WS_OK ? copy_frames(db, copied, err) : rc;
    }
    if (memcmp(hb, db->hdr_bytes, WS_WAL_HDR_SIZE) == 0)
        return copy_frames(db, copied, err);

    /* A restart.  First take what is still valid under the old salts. */
    if (!db->sealed) {
        rc = copy_frames(db, copied, err);
        if (rc != WS_OK)
            return rc;
    }
    /*
     * Sealed, our read lock sits on slot 0, which blocks every backfill
     * (or on a mark that forbids any restart): at most one restart can
     * have happened, and its salts may be fresh random ones (a writer
     * whose connection never restarted the WAL itself picks new salts
     * after another connection's TRUNCATE).
     * Unsealed, each restart adds one to salt-1, so anything else means
     * more than one restart (the header's checkpoint sequence is kept per
     * connection and proves nothing).
     */
    if (!db->sealed && nh.salt1 != db->hdr.salt1 + 1)
        return ws_err_set(err, WS_ECORRUPT,
                          "wal restarted more than once (salt-1 %08x -> "
                          "%08x)", db->hdr.salt1, nh.salt1);
    /*
     * Unsealed, the old index may have had frames past what we hold.  They
     * are provably still ours only if the file was never cut below our
     * size (a TRUNCATE or a deleted WAL) and the new index has not reached
     * our size (it writes from offset 32 upward): then the copy above took
     * them all, up to the first frame that is not theirs.
     */
    if (!db->sealed) {
        struct stat sb;
        if (fstat(db->wal_fd, &sb) != 0 || (uint64_t)sb.st_size < db->size)
            return ws_err_set(err, WS_ECORRUPT,
                              "wal truncated by another process");
        rc = valid_extent(db, &nh, db->size, &x, err);
        if (rc != WS_OK)
            return rc;
        if (x >= db->size)
            return ws_err_set(err, WS_ECORRUPT,
                              "wal overwritten by another process");
    }
    if (db->index >= WS_MAX_INDEX)
        return ws_err_set(err, WS_ECORRUPT, "max index exceeded");
    WS_CRASHPOINT("shadow-new-index");
    rc = shadow_create(db, db->index + 1, hb, err);
    if (rc == WS_OK)
        rc = copy_frames(db, copied, err);
    return rc;
}

/* ---- generations ----------------------------------------------------- */

/* Start a new generation: a fresh name, written durably, and index 0
 * built from whatever the real WAL holds now. */
int ws_dbi_new_generation(struct ws_db *db, uint64_t *copied,
                          struct ws_err *err)
{
    char line[WS_GEN_LEN + 2];
    struct ws_fs_dir wal;
    int rc;

    ws_dbi_shadow_close(db);
    rc = ws_gen_new(db->gen, err);
    if (rc != WS_OK)
        return rc;
    rc = ws_dbi_wal_dir(db, db->gen, WS_FS_CREATE, &wal, err);
    ws_fs_dir_close(&wal);
    snprintf(line, sizeof(line), "%s\n", db->gen);
    if (rc == WS_OK)
        rc = ws_fs_write_atomic_at(&db->meta_dir, "generation", line,
                                   WS_GEN_LEN + 1, 0600, NULL, err);
    WS_CRASHPOINT("generation-switch");
    if (rc == WS_OK)
        rc = ws_dbi_remove_other_gens(db, err);
    /* A stop's proof is about the generation left behind (meta.h). */
    if (rc == WS_OK)
        rc = ws_resume_remove(&db->meta_dir, WS_RESUME_STOPPED, err);
    db->index = 0;
    db->have_hdr = 0;
    db->sealed = 0;
    db->size = 0;
    db->points.n = 0; /* they belonged to the old generation */
    if (rc == WS_OK)
        rc = ws_dbi_catch_up(db, copied, err);
    if (rc != WS_OK)
        db->gen[0] = '\0';
    return rc;
}

/* The first frame at or after `off` of the shadow with the index's
 * salts, its header left at db->buf: *q its offset, 0 when none.  Holes
 * are skipped through SEEK_DATA where the file system has it. */
static int next_frame(struct ws_db *db, uint64_t off, uint64_t *q,
                      struct ws_err *err)
{
    uint64_t fs = ws_wal_frame_size(db->page_size);
    off_t d = lseek(db->shadow_fd, (off_t)off, SEEK_DATA);
    uint8_t h[WS_WAL_FRAME_HDR_SIZE];
    size_t got;

    *q = 0;
    if (d < 0)
        return WS_OK; /* no data past off */
    if ((uint64_t)d > off)
        off = WS_WAL_HDR_SIZE + ((uint64_t)d - WS_WAL_HDR_SIZE) / fs * fs;
    for (;; off += fs) {
        int rc = ws_fs_pread(db->shadow_fd, h, sizeof(h), off, &got, err);
        if (rc != WS_OK)
            return rc;
        if (got < sizeof(h))
            return WS_OK;
        if (ws_wal_frame_of(&db->hdr, h, NULL)) {
            memcpy(db->buf, h, sizeof(h));
            *q = off;
            return WS_OK;
        }
    }
}

/* Open shadow index db->index, check its header and frame chain, and cut
 * it back to its last commit (repairing a torn append).  *whole: where
 * the frames held from the start end (before a hole, if any). */
static int open_shadow(struct ws_db *db, uint64_t *whole, char *reason,
                       size_t nreason, struct ws_err *err)
{
    uint64_t fs = ws_wal_frame_size(db->page_size);
    struct ws_err e = {0};
    struct ws_wal_scan w;
    struct ws_fs_dir wal;
    struct stat sb;
    char name[16];
    size_t got;
    int rc;

    ws_dbi_shadow_close(db);
    ws_dbi_shadow_name(db->index, name);
    rc = ws_dbi_wal_dir(db, db->gen, 0, &wal, &e);
    if (rc == WS_OK)
        rc = ws_fs_open_at(&wal, name, &db->shadow_fd, &e);
    ws_fs_dir_close(&wal);
    if (rc != WS_OK) {
        /* A link planted at its name is named in the reason. */
        snprintf(reason, nreason, "%s",
                 rc == WS_ENOTFOUND ? "no shadow wal" : e.msg);
        return WS_OK;
    }
    rc = ws_fs_pread(db->shadow_fd, db->hdr_bytes, WS_WAL_HDR_SIZE, 0, &got,
                     err);
    if (rc != WS_OK)
        return rc;
    if (got < WS_WAL_HDR_SIZE ||
        ws_wal_decode_hdr(db->hdr_bytes, &db->hdr, NULL) != WS_OK) {
        snprintf(reason, nreason, "short shadow wal");
        return WS_OK;
    }
    if (db->hdr.page_size != db->page_size) {
        /* PRAGMA page_size and VACUUM in rollback mode, while walship
         * was down: no WAL frame can span the change. */
        snprintf(reason, nreason, "page size changed from %u to %u",
                 (unsigned)db->hdr.page_size, (unsigned)db->page_size);
        return WS_OK;
    }
    ws_wal_scan_init(&w, &db->hdr, WS_WAL_HDR_SIZE, db->hdr.cksum);
    rc = scan_file(db, db->shadow_fd, &w, UINT64_MAX, err);
    *whole = w.commit;
    while (rc == WS_OK && w.broken) {
        /* A hole left by a spool (ws_dbi_spool), or a torn write: the
         * frames after it go on from the checksum of the first one. */
        struct ws_wal_scan v;
        uint64_t q;
        rc = next_frame(db, w.off, &q, err);
        if (rc != WS_OK || q == 0)
            break;
        uint32_t cs[2];
        (void)ws_wal_frame_of(&db->hdr, db->buf, cs); /* its salts, found */
        /* That frame may be a commit on its own: the spool's last, when
         * every replica held the rest. */
        int commit = ws_get_be32(db->buf + 4) != 0;
        ws_wal_scan_init(&v, &db->hdr, q + fs, cs);
        rc = scan_file(db, db->shadow_fd, &v, UINT64_MAX, err);
        if (rc != WS_OK || (v.commit <= q + fs && !commit))
            break;
        w = v;
    }
    if (rc != WS_OK)
        return rc;
    db->have_hdr = 1;
    db->size = db->w_hi = w.commit;
    db->s[0] = db->w_s[0] = w.cs[0];
    db->s[1] = db->w_s[1] = w.cs[1];
    db->sealed = 0;
    db->lazy = 0;
    db->s_unknown = 0;
    if (fstat(db->shadow_fd, &sb) == 0 && (uint64_t)sb.st_size > w.commit &&
        ((uint64_t)sb.st_size - WS_WAL_HDR_SIZE) % fs == 0) {
        /* Past the frames held: where a lazy copy got to, in the -wal
         * then (verify_local). */
        db->size = (uint64_t)sb.st_size;
        db->s_unknown = 1;
        return WS_OK;
    }
    if (ftruncate(db->shadow_fd, (off_t)w.commit) != 0)
        return ws_err_set(err, WS_EIO, "truncate shadow: %s",
                          strerror(errno));
    return WS_OK;
}

/*
 * A restore left its position here (meta.h).  When the marker names
 * the shadow just opened and the database file is byte for byte what the
 * restore wrote, that index is complete in the file: it is sealed, and a
 * new -wal header is the next index.  A changed file needs a new
 * generation; a marker about another shadow is stale and ignored.  The
 * marker is used once.
 */
static int check_restored(struct ws_db *db, char *reason, size_t nreason,
                          struct ws_err *err)
{
    struct ws_resume r;
    char sum[WS_SHA256_HEX];
    uint64_t size;
    int rc = ws_resume_read(&db->meta_dir, WS_RESUME_RESTORED, &r, err);

    if (rc == WS_ENOTFOUND)
        return WS_OK;
    if (rc == WS_OK && strcmp(r.gen, db->gen) == 0 && r.index == db->index &&
        r.wal_size == db->size) {
        rc = ws_resume_hash(db->db_fd, &size, sum, err);
        if (rc != WS_OK)
            return ws_err_wrap(err, "%s", db->cfg->path);
        if (size != r.db_size || strcmp(sum, r.sha256) != 0) {
            snprintf(reason, nreason, "database changed after it was "
                     "restored");
        } else {
            db->sealed = 1;
            db->resumed = 1;
        }
    }
    return ws_resume_remove(&db->meta_dir, WS_RESUME_RESTORED, err);
}

/*
 * The proof a stop left (meta.h), used when the -wal cannot prove
 * continuity itself: *same is 1 when the marker names the position on
 * disk (db->index, and db->size or 0 without a shadow file) and the
 * database file is the one hashed then, -1 when it names that position
 * and the file differs, 0 without such a marker.  The marker is used
 * once.
 */
static int check_stopped(struct ws_db *db, int *same, struct ws_err *err)
{
    struct ws_resume r;
    char sum[WS_SHA256_HEX];
    struct stat sb;
    uint64_t size;
    int rc = ws_resume_read(&db->meta_dir, WS_RESUME_STOPPED, &r, err);

    *same = 0;
    if (rc == WS_ENOTFOUND)
        return WS_OK;
    if (rc == WS_OK && strcmp(r.gen, db->gen) == 0 && r.index == db->index &&
        r.wal_size == (db->have_hdr ? db->size : 0)) {
        *same = -1;
        if (fstat(db->db_fd, &sb) != 0)
            return ws_err_set(err, WS_EIO, "stat %s: %s", db->cfg->path,
                              strerror(errno));
        if ((uint64_t)sb.st_size == r.db_size) {
            rc = ws_resume_hash(db->db_fd, &size, sum, err);
            if (rc != WS_OK)
                return ws_err_wrap(err, "%s", db->cfg->path);
            if (size == r.db_size && strcmp(sum, r.sha256) == 0)
                *same = 1;
        }
    }
    return ws_resume_remove(&db->meta_dir, WS_RESUME_STOPPED, err);
}

/* Catch up with the -wal from the position verified on disk; what it
 * finds impossible (catch_up's WS_ECORRUPT) is the reason for a new
 * generation. */
static int resume_wal(struct ws_db *db, char *reason, size_t nreason,
                      uint64_t *copied, struct ws_err *err)
{
    int rc = ws_dbi_catch_up(db, copied, err);

    if (rc == WS_ECORRUPT) {
        snprintf(reason, nreason, "%s", err->msg);
        return WS_OK;
    }
    return rc;
}

/* Decide whether the generation on disk can be continued; sets reason
 * when it cannot (the reasons are those of db.h). */
int ws_dbi_verify_local(struct ws_db *db, char *reason, size_t nreason,
                        uint64_t *copied, struct ws_err *err)
{
    static const char stopped_changed[] =
        "database changed while walship was stopped";
    uint64_t fs = ws_wal_frame_size(db->page_size), end, whole = 0;
    uint8_t hb[WS_WAL_HDR_SIZE];
    struct ws_err e = {0};
    char *text = NULL;
    size_t len, got;
    int rc, same, same_hdr;

    rc = ws_fs_read_all_at(&db->meta_dir, "generation", 64, &text, &len, &e);
    db->gen[0] = '\0';
    if (rc != WS_OK && rc != WS_ENOTFOUND) {
        /* e.g. a link planted at its name: named in the reason */
        snprintf(reason, nreason, "%s", e.msg);
        return WS_OK;
    }
    if (rc == WS_OK && len >= WS_GEN_LEN) {
        memcpy(db->gen, text, WS_GEN_LEN);
        db->gen[WS_GEN_LEN] = '\0';
        if (!ws_gen_valid(db->gen) || (len > WS_GEN_LEN &&
                                       text[WS_GEN_LEN] != '\n'))
            db->gen[0] = '\0';
    }
    free(text);
    if (db->gen[0] == '\0') {
        snprintf(reason, nreason, "no generation exists");
        return WS_OK;
    }
    db->have_hdr = 0;
    db->size = 0;
    if (ws_dbi_highest_index(db, &db->index, err) != WS_OK) {
        /* The generation began on an empty -wal: the database file alone
         * is its position, which only a stop's proof can vouch for. */
        db->index = 0;
        rc = check_stopped(db, &same, err);
        if (rc != WS_OK)
            return rc;
        if (same != 1) {
            snprintf(reason, nreason, "%s", same ? stopped_changed
                                                 : "no shadow wal");
            return WS_OK;
        }
        return resume_wal(db, reason, nreason, copied, err);
    }
    if (db->index >= WS_MAX_INDEX) {
        snprintf(reason, nreason, "max index exceeded");
        return WS_OK;
    }
    rc = open_shadow(db, &whole, reason, nreason, err);
    if (rc == WS_OK && !reason[0])
        rc = check_restored(db, reason, nreason, err);
    if (rc != WS_OK || reason[0])
        return rc;
    rc = ws_fs_pread(db->wal_fd, hb, sizeof(hb), 0, &got, err);
    if (rc != WS_OK)
        return rc;
    same_hdr = got == WS_WAL_HDR_SIZE &&
               memcmp(hb, db->hdr_bytes, WS_WAL_HDR_SIZE) == 0;
    if (same_hdr) {
        /* The -wal proves continuity itself: a stop's proof is not
         * needed (and the file may have changed since, by checkpoints
         * of frames that are in the -wal). */
        rc = ws_resume_remove(&db->meta_dir, WS_RESUME_STOPPED, err);
        if (rc != WS_OK)
            return rc;
    } else if (!db->sealed) {
        /* No header, or another one: the file as a stop left it is the
         * end of this index, and a header found is the next index. */
        rc = check_stopped(db, &same, err);
        if (rc != WS_OK)
            return rc;
        if (same == 1)
            db->sealed = 1;
        if (same == -1 && got < WS_WAL_HDR_SIZE) {
            snprintf(reason, nreason, "%s", stopped_changed);
            return WS_OK;
        }
    }
    if (!same_hdr && db->s_unknown) {
        snprintf(reason, nreason, "wal restarted while walship was down: "
                 "frames of index %08x from byte %llu to %llu were only in "
                 "the -wal", (unsigned)db->index,
                 (unsigned long long)db->w_hi, (unsigned long long)db->size);
        return WS_OK;
    }
    if (same_hdr && db->size > WS_WAL_HDR_SIZE) {
        /* Same WAL: the last shipped frame must still be there (when the
         * shadow holds it; else the chain below proves it). */
        uint8_t *a = db->buf, *b = db->buf + fs;
        size_t ga, gb = fs;
        rc = ws_fs_pread(db->wal_fd, a, fs, db->size - fs, &ga, err);
        if (rc == WS_OK && !db->s_unknown)
            rc = ws_fs_pread(db->shadow_fd, b, fs, db->size - fs, &gb, err);
        else
            memcpy(b, a, fs);
        if (rc != WS_OK)
            return rc;
        if (ga != fs || gb != fs || memcmp(a, b, fs) != 0) {
            snprintf(reason, nreason, "wal overwritten by another process");
            return WS_OK;
        }
        /* ...and every frame before it, or SQLite's recovery drops
         * shipped transactions (a byte changed while walship was down):
         * the replica would hold commits the database no longer has. */
        rc = valid_extent(db, &db->hdr, db->size, &end, err);
        if (rc != WS_OK)
            return rc;
        if (end < db->size) {
            snprintf(reason, nreason, "wal checksum chain broken at frame "
                     "%llu, before the shipped position (byte %llu): "
                     "SQLite drops the frames from there",
                     (unsigned long long)((end - WS_WAL_HDR_SIZE) / fs + 1),
                     (unsigned long long)db->size);
            return WS_OK;
        }
        if (whole < db->size || db->s_unknown) {
            /* The shadow has holes (a spool's, or a torn write) that the
             * -wal still fills: the current index is whole again. */
            db->w_hi = WS_WAL_HDR_SIZE;
            db->w_s[0] = db->hdr.cksum[0];
            db->w_s[1] = db->hdr.cksum[1];
            db->keep_off = 0;
            rc = ws_dbi_spool(db, err);
            if (rc == WS_ECORRUPT) {
                snprintf(reason, nreason, "%s", err->msg);
                return WS_OK;
            }
            if (rc != WS_OK)
                return rc;
        }
    }
    return resume_wal(db, reason, nreason, copied, err);
}

/* ---- closed indexes -------------------------------------------------- */

/* What closed shadow index i holds (struct ws_db_closed), from the file:
 * its size, its header's salts and checksum, and its last frame's
 * checksum.  WS_ECORRUPT unless it is a header and whole frames (a
 * closed index ends on a commit). */
static int closed_read(const struct ws_db *db, uint32_t i,
                       struct ws_db_closed *c)
{
    uint64_t fs = ws_wal_frame_size(db->page_size);
    uint8_t hb[WS_WAL_HDR_SIZE], ck[8];
    struct ws_wal_hdr h;
    struct stat sb;
    size_t got;
    int fd, rc = ws_db_shadow_open(db, db->gen, i, &fd, NULL);

    if (rc != WS_OK)
        return rc;
    if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size < WS_WAL_HDR_SIZE ||
        ((uint64_t)sb.st_size - WS_WAL_HDR_SIZE) % fs != 0 ||
        ws_fs_pread(fd, hb, sizeof(hb), 0, &got, NULL) != WS_OK ||
        got != sizeof(hb) || ws_wal_decode_hdr(hb, &h, NULL) != WS_OK)
        rc = WS_ECORRUPT;
    if (rc == WS_OK) {
        c->index = i;
        c->size = (uint64_t)sb.st_size;
        c->salt1 = h.salt1;
        c->salt2 = h.salt2;
        c->cksum[0] = h.cksum[0];
        c->cksum[1] = h.cksum[1];
    }
    if (rc == WS_OK && c->size > WS_WAL_HDR_SIZE) {
        /* Bytes 16 to 23 of the last frame's header. */
        if (ws_fs_pread(fd, ck, sizeof(ck), c->size - fs + 16, &got,
                        NULL) != WS_OK ||
            got != sizeof(ck))
            rc = WS_ECORRUPT;
        c->cksum[0] = ws_get_be32(ck);
        c->cksum[1] = ws_get_be32(ck + 4);
    }
    close(fd);
    return rc;
}

/* What closed shadow index i holds, from the cache or the file. */
static int closed_of(const struct ws_db *db, uint32_t i,
                     struct ws_db_closed *c)
{
    for (int k = 0; k < db->nold; k++)
        if (db->old[k].index == i) {
            *c = db->old[k];
            return WS_OK;
        }
    return closed_read(db, i, c);
}

/* Delete shadow files below keep_from; report what the closed indexes
 * that remain hold.  Runs after every copy, so it remembers what it
 * deleted and what it read instead of asking the disk again. */
void ws_dbi_prune(struct ws_db *db, uint32_t keep_from,
                  struct ws_db_state *st)
{
    uint32_t lo = db->index > WS_DB_MAXIDX ? db->index - WS_DB_MAXIDX : 0;

    if (strcmp(db->old_gen, db->gen) != 0) {
        memcpy(db->old_gen, db->gen, sizeof(db->old_gen));
        db->pruned = 0;
        db->nold = 0;
    }
    /* Keep one index below the slowest replica, as Litestream does. */
    keep_from = keep_from > 0 ? keep_from - 1 : 0;
    if (keep_from > db->index)
        keep_from = db->index;
    if ((lo > db->pruned ? lo : db->pruned) < keep_from) {
        struct ws_fs_dir wal;
        if (ws_dbi_wal_dir(db, db->gen, 0, &wal, NULL) == WS_OK)
            for (uint32_t i = lo > db->pruned ? lo : db->pruned;
                 i < keep_from; i++) {
                char name[16];
                ws_dbi_shadow_name(i, name);
                unlinkat(wal.fd, name, 0);
            }
        ws_fs_dir_close(&wal);
    }
    if (keep_from > db->pruned)
        db->pruned = keep_from;
    for (uint32_t i = keep_from > lo ? keep_from : lo; i < db->index; i++)
        if (st->nold < WS_DB_MAXIDX &&
            closed_of(db, i, &st->old[st->nold]) == WS_OK)
            st->nold++;
    memcpy(db->old, st->old, sizeof(db->old));
    db->nold = st->nold;
}
