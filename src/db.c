/*
 * db.c: the source database, its shadow WAL and its checkpoints.
 * The model and the safety argument are in db.h; this file is the
 * mechanism.  Every function here runs on a pool thread.
 */
#include "ws/db_int.h"
#include "ws/fs.h"
#include "ws/lz4f.h"
#include "ws/resume.h"
#include "ws/snapshot.h"
#include "ws/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define COPY_FIRST (64 * 1024)  /* first read, unless more is known */
#define LOCK_CKPT_MS 50     /* waiting for another checkpoint, locked */
#define CKPT_WAIT_MAX_MS 30000 /* idle checkpoints retried at most this late */
#define CKPT_ROUNDS 8       /* unlocked backfill rounds before one */
#define CKPT_TAIL_BYTES (4 * 1024 * 1024) /* left for the locked window */
#define FSYNC_EVERY_MS 1000 /* shadow fsyncs, unless a checkpoint needs one */

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Test hook: WALSHIP_TEST_WINDOW_MS=N sleeps N ms at each step of the
 * copy -> checkpoint -> restart window, so tests can hammer it (a commit
 * landing there must never be lost: tests/e2e/55). */
static void window(const struct ws_db *db)
{
    if (db->window_ms > 0)
        usleep((useconds_t)db->window_ms * 1000);
}

static int sql_err(struct ws_db *db, sqlite3 *c, const char *what,
                   struct ws_err *err)
{
    return ws_err_set(err, sqlite3_errcode(c) == SQLITE_BUSY ? WS_EBUSY
                                                             : WS_ESQLITE,
                      "%s: %s: %s", db->cfg->path, what, sqlite3_errmsg(c));
}

static int exec(struct ws_db *db, sqlite3 *c, const char *sql,
                struct ws_err *err)
{
    if (sqlite3_exec(c, sql, NULL, NULL, NULL) != SQLITE_OK)
        return sql_err(db, c, sql, err);
    return WS_OK;
}

/* Run a statement returning one row; copy up to 3 integer columns or one
 * text column. */
static int query(struct ws_db *db, sqlite3 *c, const char *sql,
                 int64_t *ints, char *text, size_t ntext,
                 struct ws_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(c, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_err(db, c, sql, err);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int n = sqlite3_column_count(st);
        for (int i = 0; ints && i < n && i < 3; i++)
            ints[i] = sqlite3_column_int64(st, i);
        if (text) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            snprintf(text, ntext, "%s", t ? (const char *)t : "");
        }
        rc = SQLITE_DONE;
    }
    if (rc != SQLITE_DONE) {
        rc = sql_err(db, c, sql, err);
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    return WS_OK;
}

/* ---- read transaction and write lock ---------------------------------- */

/* Begin the long read on rd; where its lock lands is not known yet. */
static int read_begin(struct ws_db *db, struct ws_err *err)
{
    int64_t n;
    int rc;

    db->mark_max = INT64_MAX;
    db->mark_zero = 0;
    rc = exec(db, db->rd, "BEGIN", err);
    if (rc == WS_OK)
        rc = query(db, db->rd, "SELECT COUNT(*) FROM sqlite_schema", &n,
                   NULL, 0, err);
    return rc;
}

static void read_end(struct ws_db *db)
{
    if (db->rd && !sqlite3_get_autocommit(db->rd))
        sqlite3_exec(db->rd, "ROLLBACK", NULL, NULL, NULL);
}

/*
 * SQLite's default busy handler sleeps 1 ms, then 2, 5, 10 ... 100 ms
 * between tries; a writer that commits back to back takes the lock again
 * within microseconds and wins every time.  The gap between two of its
 * transactions lasts some tens of microseconds: walship retries without
 * sleeping (yielding the CPU) until arg, a deadline in ms.
 */
static int busy_spin(void *arg, int n)
{
    (void)n;
    if (ws_now_ms() >= *(const int64_t *)arg)
        return 0;
    sched_yield();
    return 1;
}

/* One attempt at the write lock, retrying for up to ms. */
static int lock_try(struct ws_db *db, int64_t ms, struct ws_err *err)
{
    int64_t end = ws_now_ms() + ms;
    int rc;

    sqlite3_busy_handler(db->wr, busy_spin, &end);
    rc = exec(db, db->wr, "BEGIN IMMEDIATE", err);
    sqlite3_busy_timeout(db->wr, WS_DB_LOCK_TIMEOUT_MS);
    if (rc == WS_OK)
        db->lock_t0_us = mono_us();
    return rc;
}

/* The write lock, or WS_EBUSY after WS_DB_LOCK_TIMEOUT_MS: spin for the
 * first WS_DB_LOCK_SPIN_MS, which catches the first gap unless the CPU is
 * short, then poll every 100 us. */
static int lock_take(struct ws_db *db, struct ws_err *err)
{
    int64_t t0 = ws_now_ms();
    int rc = lock_try(db, WS_DB_LOCK_SPIN_MS, err);

    while (rc == WS_EBUSY && ws_now_ms() - t0 < WS_DB_LOCK_TIMEOUT_MS) {
        usleep(100);
        rc = lock_try(db, 0, err);
    }
    return rc;
}

static void lock_release(struct ws_db *db)
{
    if (db->wr && !sqlite3_get_autocommit(db->wr))
        sqlite3_exec(db->wr, "ROLLBACK", NULL, NULL, NULL);
    if (db->lock_t0_us > 0)
        db->lock_us += mono_us() - db->lock_t0_us;
    db->lock_t0_us = 0;
}

/* ---- shadow files ------------------------------------------------------ */

char *ws_db_shadow_path(const struct ws_db *db, const char *gen,
                        uint32_t index)
{
    char rel[128];

    snprintf(rel, sizeof(rel), "generations/%s/wal/%08x.wal", gen, index);
    return ws_path_join(db->meta, rel);
}

/* Open gen's shadow directory, generations/<gen>/wal under the meta dir
 * (fs.h: one component at a time, no links). */
static int wal_dir(struct ws_db *db, const char *gen, int flags,
                   struct ws_fs_dir *d, struct ws_err *err)
{
    char rel[64];

    snprintf(rel, sizeof(rel), "generations/%s/wal", gen);
    return ws_fs_dir_sub(d, &db->meta_dir, rel, flags, 0700, err);
}

static void shadow_name(uint32_t index, char name[16])
{
    snprintf(name, 16, "%08x.wal", index);
}

int ws_db_shadow_open(const struct ws_db *db, const char *gen,
                      uint32_t index, int *fd, struct ws_err *err)
{
    struct ws_fs_dir wal;
    char rel[64], name[16];
    int f, rc;

    snprintf(rel, sizeof(rel), "generations/%s/wal", gen);
    shadow_name(index, name);
    rc = ws_fs_dir_sub(&wal, &db->meta_dir, rel, 0, 0, err);
    if (rc == WS_OK) {
        f = openat(wal.fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (f >= 0)
            *fd = f;
        else if (errno == ENOENT)
            rc = ws_err_set(err, WS_ENOTFOUND, "%s/%s: not found", wal.path,
                            name);
        else
            rc = ws_err_set(err, WS_EIO, "open %s/%s: %s", wal.path, name,
                            strerror(errno));
    }
    ws_fs_dir_close(&wal);
    return rc;
}

/*
 * The shadow is fsynced at most every FSYNC_EVERY_MS, and always before
 * anything lets SQLite reuse the frames it holds: a checkpoint, a new
 * index.  Until then the frames are also in the -wal, pinned by the read
 * lock, and start-up repairs a torn shadow (open_shadow).
 */
static int shadow_sync(struct ws_db *db, int force, struct ws_err *err)
{
    int64_t now = ws_now_ms();
    int rc;

    if (db->shadow_fd < 0 || !db->unsynced ||
        (!force && now - db->fsync_ms < FSYNC_EVERY_MS))
        return WS_OK;
    rc = ws_fs_fsync(db->shadow_fd, "shadow wal", err);
    if (rc == WS_OK) {
        db->unsynced = 0;
        db->fsync_ms = now;
    }
    return rc;
}

/* A failed write to the current shadow file: name it in err. */
static int shadow_err(const struct ws_db *db, struct ws_err *err)
{
    char *path = ws_db_shadow_path(db, db->gen, db->index);

    if (path != NULL)
        ws_err_wrap(err, "%s", path);
    free(path);
    return err->code;
}

static void shadow_close(struct ws_db *db)
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
    rc = shadow_sync(db, 1, err);
    if (rc != WS_OK)
        return rc;
    shadow_close(db);
    shadow_name(index, name);
    rc = wal_dir(db, db->gen, WS_FS_CREATE, &wal, err);
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
    db->size = WS_WAL_HDR_SIZE;
    db->s[0] = h.cksum[0];
    db->s[1] = h.cksum[1];
    db->sealed = 0;
    return WS_OK;
}

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

/*
 * Copy valid committed frames of the real WAL, from db->size on, into the
 * shadow.  Frames are checked against the shadow header's salts and the
 * running checksum; copying stops at the first frame that is invalid or
 * incomplete, and the shadow keeps only whole transactions.  Each commit
 * found is recorded with its time (add_point).
 */
static int copy_frames(struct ws_db *db, uint64_t *copied, struct ws_err *err)
{
    uint64_t fs = ws_wal_frame_size(db->page_size);
    uint64_t off = db->size, commit = db->size;
    uint32_t s[2] = {db->s[0], db->s[1]}, cs[2] = {db->s[0], db->s[1]};
    size_t max = WS_DB_COPY_CHUNK / fs ? WS_DB_COPY_CHUNK / fs : 1;
    size_t per = first_read(db, fs), npoints = db->points.n, seen = 0;
    size_t step = COPY_FIRST / fs ? COPY_FIRST / fs : 1;
    int rc = WS_OK, stop = 0;

    while (!stop && rc == WS_OK) {
        size_t got, k;
        int64_t now;
        rc = ws_fs_pread(db->wal_fd, db->buf, per * fs, off, &got, err);
        if (rc != WS_OK)
            return ws_err_wrap(err, "%s", db->wal_path);
        /* After the read: every commit in it was complete by then. */
        now = ws_wall_us();
        for (k = 0; rc == WS_OK && k + fs <= got; k += fs) {
            const uint8_t *f = db->buf + k;
            if (!ws_wal_frame_valid(&db->hdr, f, s)) {
                stop = 1;
                break;
            }
            if (ws_get_be32(f + 4) != 0) {
                commit = off + k + fs;
                cs[0] = s[0];
                cs[1] = s[1];
                if (add_point(db, commit, &seen, now) != WS_OK)
                    rc = ws_err_set(err, WS_ENOMEM, "out of memory");
            }
        }
        if (rc == WS_OK && k > 0 &&
            ws_fs_pwrite(db->shadow_fd, db->buf, k, off, err) != WS_OK)
            rc = shadow_err(db, err);
        off += k;
        if (got < per * fs)
            stop = 1;
        /* Frames past the newest observation: read on from a small
         * step, doubling. */
        per = step;
        step = step * 2 < max ? step * 2 : max;
    }
    if (rc == WS_OK && off != commit &&
        ftruncate(db->shadow_fd, (off_t)commit) != 0)
        rc = ws_err_set(err, WS_EIO, "truncate shadow: %s", strerror(errno));
    if (rc == WS_OK && commit > db->size)
        db->unsynced = 1;
    if (rc != WS_OK) {
        db->points.n = npoints;
        return rc;
    }
    /* New frames reopen a sealed index (db.h); none leave it complete. */
    if (commit > db->size)
        db->sealed = 0;
    *copied += commit - db->size;
    db->size = commit;
    db->s[0] = cs[0];
    db->s[1] = cs[1];
    return WS_OK;
}

/* Extent of valid frames of the WAL under header h (for the overwrite
 * check after an unsealed restart). */
static int valid_extent(struct ws_db *db, const struct ws_wal_hdr *h,
                        uint64_t *end, struct ws_err *err)
{
    uint64_t fs = ws_wal_frame_size(db->page_size), off = WS_WAL_HDR_SIZE;
    uint32_t s[2] = {h->cksum[0], h->cksum[1]};

    for (;;) {
        size_t got;
        int rc = ws_fs_pread(db->wal_fd, db->buf, fs, off, &got, err);
        if (rc != WS_OK)
            return rc;
        if (got < fs || !ws_wal_frame_valid(h, db->buf, s))
            break;
        off += fs;
    }
    *end = off;
    return WS_OK;
}

/*
 * Bring the shadow up to date with the real WAL.  Handles the three
 * shapes the real header can take: the same as the shadow's (copy the
 * new frames), absent (nothing to copy; a loss unless sealed), or new (a
 * restart: finish the old index, prove nothing was overwritten, start the
 * next index).
 */
static int catch_up(struct ws_db *db, uint64_t *copied, struct ws_err *err)
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
        rc = valid_extent(db, &nh, &x, err);
        if (rc != WS_OK)
            return rc;
        if (x >= db->size)
            return ws_err_set(err, WS_ECORRUPT,
                              "wal overwritten by another process");
    }
    if (db->index >= WS_MAX_INDEX)
        return ws_err_set(err, WS_ECORRUPT, "max index exceeded");
    rc = shadow_create(db, db->index + 1, hb, err);
    if (rc == WS_OK)
        rc = copy_frames(db, copied, err);
    return rc;
}

/* ---- generations ------------------------------------------------------- */

/* opendir of d's own descriptor (a duplicate); NULL on failure. */
static DIR *dir_list(const struct ws_fs_dir *d)
{
    int fd = fcntl(d->fd, F_DUPFD_CLOEXEC, 0);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;

    if (dir == NULL && fd >= 0)
        close(fd);
    return dir;
}

static int remove_other_gens(struct ws_db *db, struct ws_err *err)
{
    struct ws_fs_dir gens;
    struct dirent *de;
    DIR *d;
    int rc = ws_fs_dir_sub(&gens, &db->meta_dir, "generations", 0, 0, err);

    if (rc == WS_ENOTFOUND)
        return WS_OK;
    d = rc == WS_OK ? dir_list(&gens) : NULL;
    while (d && rc == WS_OK && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, db->gen) == 0)
            continue;
        rc = ws_fs_rm_rf_at(&gens, de->d_name, err);
    }
    if (d)
        closedir(d);
    ws_fs_dir_close(&gens);
    return rc;
}

/* Start a new generation: a fresh name, written durably, and index 0
 * built from whatever the real WAL holds now. */
static int new_generation(struct ws_db *db, uint64_t *copied,
                          struct ws_err *err)
{
    char line[WS_GEN_LEN + 2];
    struct ws_fs_dir wal;
    int rc;

    shadow_close(db);
    rc = ws_gen_new(db->gen, err);
    if (rc != WS_OK)
        return rc;
    rc = wal_dir(db, db->gen, WS_FS_CREATE, &wal, err);
    ws_fs_dir_close(&wal);
    snprintf(line, sizeof(line), "%s\n", db->gen);
    if (rc == WS_OK)
        rc = ws_fs_write_atomic_at(&db->meta_dir, "generation", line,
                                   WS_GEN_LEN + 1, 0600, NULL, err);
    if (rc == WS_OK)
        rc = remove_other_gens(db, err);
    /* A stop's proof is about the generation left behind (resume.h). */
    if (rc == WS_OK)
        rc = ws_resume_remove(&db->meta_dir, WS_RESUME_STOPPED, err);
    db->index = 0;
    db->have_hdr = 0;
    db->sealed = 0;
    db->size = 0;
    db->points.n = 0; /* they belonged to the old generation */
    if (rc == WS_OK)
        rc = catch_up(db, copied, err);
    if (rc != WS_OK)
        db->gen[0] = '\0';
    return rc;
}

/* Highest shadow index present for gen; WS_ENOTFOUND when none. */
static int highest_index(struct ws_db *db, uint32_t *out, struct ws_err *err)
{
    struct ws_fs_dir wal;
    struct dirent *de;
    int found = 0;
    DIR *d = NULL;

    if (wal_dir(db, db->gen, 0, &wal, err) == WS_OK)
        d = dir_list(&wal);
    ws_fs_dir_close(&wal);
    while (d && (de = readdir(d)) != NULL) {
        unsigned int v;
        char tail[8];
        if (strlen(de->d_name) != 12 ||
            sscanf(de->d_name, "%8x%7s", &v, tail) != 2 ||
            strcmp(tail, ".wal") != 0)
            continue;
        if (!found || v > *out)
            *out = v;
        found = 1;
    }
    if (d)
        closedir(d);
    return found ? WS_OK : WS_ENOTFOUND;
}

/* Open shadow index db->index, check its header and frame chain, and cut
 * it back to its last commit (repairing a torn append). */
static int open_shadow(struct ws_db *db, char *reason, size_t nreason,
                       struct ws_err *err)
{
    uint64_t fs = ws_wal_frame_size(db->page_size), off, commit;
    struct ws_err e = {0};
    struct ws_fs_dir wal;
    uint32_t s[2], cs[2];
    char name[16];
    size_t got;
    int rc;

    shadow_close(db);
    shadow_name(db->index, name);
    rc = wal_dir(db, db->gen, 0, &wal, &e);
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
        ws_wal_decode_hdr(db->hdr_bytes, &db->hdr, NULL) != WS_OK ||
        db->hdr.page_size != db->page_size) {
        snprintf(reason, nreason, "short shadow wal");
        return WS_OK;
    }
    s[0] = cs[0] = db->hdr.cksum[0];
    s[1] = cs[1] = db->hdr.cksum[1];
    off = commit = WS_WAL_HDR_SIZE;
    for (;;) {
        rc = ws_fs_pread(db->shadow_fd, db->buf, fs, off, &got, err);
        if (rc != WS_OK)
            return rc;
        if (got < fs || !ws_wal_frame_valid(&db->hdr, db->buf, s))
            break;
        off += fs;
        if (ws_get_be32(db->buf + 4) != 0) {
            commit = off;
            cs[0] = s[0];
            cs[1] = s[1];
        }
    }
    if (ftruncate(db->shadow_fd, (off_t)commit) != 0)
        return ws_err_set(err, WS_EIO, "truncate shadow: %s",
                          strerror(errno));
    db->have_hdr = 1;
    db->size = commit;
    db->s[0] = cs[0];
    db->s[1] = cs[1];
    db->sealed = 0;
    return WS_OK;
}

/*
 * A restore left its position here (resume.h).  When the marker names
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
 * The proof a stop left (resume.h), used when the -wal cannot prove
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
    int rc = catch_up(db, copied, err);

    if (rc == WS_ECORRUPT) {
        snprintf(reason, nreason, "%s", err->msg);
        return WS_OK;
    }
    return rc;
}

/* Decide whether the generation on disk can be continued; sets reason
 * when it cannot (the reasons are those of db.h). */
static int verify_local(struct ws_db *db, char *reason, size_t nreason,
                        uint64_t *copied, struct ws_err *err)
{
    static const char stopped_changed[] =
        "database changed while walship was stopped";
    uint64_t fs = ws_wal_frame_size(db->page_size);
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
    if (highest_index(db, &db->index, err) != WS_OK) {
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
    rc = open_shadow(db, reason, nreason, err);
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
    if (same_hdr && db->size > WS_WAL_HDR_SIZE) {
        /* Same WAL: the last shipped frame must still be there. */
        uint8_t *a = db->buf, *b = db->buf + fs;
        size_t ga, gb;
        rc = ws_fs_pread(db->wal_fd, a, fs, db->size - fs, &ga, err);
        if (rc == WS_OK)
            rc = ws_fs_pread(db->shadow_fd, b, fs, db->size - fs, &gb, err);
        if (rc != WS_OK)
            return rc;
        if (ga != fs || gb != fs || memcmp(a, b, fs) != 0) {
            snprintf(reason, nreason, "wal overwritten by another process");
            return WS_OK;
        }
    }
    return resume_wal(db, reason, nreason, copied, err);
}

/* ---- checkpoints ------------------------------------------------------- */

/*
 * What SQLite's wal-index says now: the frames in the WAL (*log) and the
 * frames backfilled into the database (*done), -1 when unknown.  A NOOP
 * checkpoint on `ck`, which takes no lock and does no I/O.  (A SQLite
 * older than 3.51 reads NOOP as PASSIVE: that backfills what it can, never
 * past walship's read mark, and reports the same two counts.)
 */
static void wal_status(struct ws_db *db, int64_t *log, int64_t *done)
{
    int64_t r[3] = {-1, -1, -1};

    if (query(db, db->ck, "PRAGMA wal_checkpoint(NOOP)", r, NULL, 0, NULL) !=
        WS_OK)
        r[1] = r[2] = -1;
    *log = r[1];
    *done = r[2];
}

static uint64_t shadow_frames(const struct ws_db *db)
{
    uint64_t fs = ws_wal_frame_size(db->page_size);

    return db->have_hdr ? (db->size - WS_WAL_HDR_SIZE) / fs : 0;
}

/* Counts past what the shadow holds mean a frame walship never saw. */
static int check_counts(struct ws_db *db, int64_t log, struct ws_err *err)
{
    uint64_t frames = shadow_frames(db);

    if (log >= 0 && (uint64_t)log > frames)
        return ws_err_set(err, WS_ECORRUPT,
                          "checkpoint saw %lld frames, shadow has %llu",
                          (long long)log, (unsigned long long)frames);
    return WS_OK;
}

/*
 * Past this many frames in the index, walship stops backfilling without
 * the lock before a locked checkpoint and takes the lock: the locked
 * PASSIVE then backfills whatever is left while the application waits,
 * which bounds the -wal when the backfill cannot keep up with it.
 */
static int past_cap(const struct ws_db *db)
{
    uint64_t min = (uint64_t)db->cfg->min_checkpoint_page_count;

    return shadow_frames(db) >= 4 * min;
}

/*
 * Whether a read begun now is sure to take a slot above 0, that is, to
 * find a frame not backfilled, so that ending the current read cannot
 * let the WAL restart.  log and done are counts read just before.
 *  - rd on a slot above 0 with a mark of at most mark_max: nothing can
 *    be backfilled past that mark nor restarted while it is held, and
 *    mxFrame only grows, so log > mark_max stays above nBackfill.
 *  - rd possibly on slot 0 (begun with every frame backfilled, at F
 *    frames): if it is on slot 0, nothing can be backfilled, and a
 *    restart (nBackfill back to 0) needs nBackfill == mxFrame; if it is
 *    on a slot above 0 its mark is F and nBackfill stays F.  Either way,
 *    once done < log, nBackfill stays below mxFrame.
 */
static int advance_safe(const struct ws_db *db, int64_t log, int64_t done)
{
    if (log < 0 || done < 0 || done >= log)
        return 0;
    return db->mark_zero || log > db->mark_max;
}

/*
 * Move walship's read mark to the end of the WAL without the write lock
 * (when advance_safe): begin a read on the spare connection before
 * ending the current one, so that one read of walship's, on a slot above
 * 0, is held at every moment and the WAL cannot restart.  Every frame up
 * to the new mark is copied before the old read ends, so SQLite, which
 * never backfills past a held mark, backfills only copied frames: the
 * database file never holds a page past the shadow's end.
 */
static int advance_mark(struct ws_db *db, struct ws_db_state *st,
                        struct ws_err *err)
{
    sqlite3 *old = db->rd;
    int64_t log = -1, done;
    int rc;

    db->rd = db->rd2;
    db->rd2 = old;
    rc = read_begin(db, err);
    if (rc == WS_OK) {
        /* The new mark is at most the mxFrame read after it began. */
        wal_status(db, &log, &done);
        rc = catch_up(db, &st->copied, err);
    }
    if (rc == WS_OK)
        rc = check_counts(db, log, err);
    if (rc != WS_OK || log < 0) {
        read_end(db);
        db->rd2 = db->rd;
        db->rd = old; /* still held; where it sits is no longer known */
        return rc;
    }
    sqlite3_exec(old, "ROLLBACK", NULL, NULL, NULL);
    db->mark_max = log;
    db->mark_zero = 0;
    return WS_OK;
}

/*
 * Start writing out the dirty pages of fd without waiting for them
 * (Linux), so that the fsyncs inside the locked window find little left.
 * Elsewhere those fsyncs do it all.
 */
static void start_writeback(int fd)
{
#ifdef SYNC_FILE_RANGE_WRITE
    (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd;
#endif
}

/*
 * One round of backfill without the write lock: move the read mark to
 * the end of the WAL when that is safe; then, if more than
 * CKPT_TAIL_BYTES of frames are not backfilled, run PASSIVE on `wr`
 * outside any transaction while the application keeps committing (SQLite
 * never backfills past a held read mark, and every frame below walship's
 * is copied) and start writing the pages out.  An application with
 * SQLite's autocheckpoint (the default) backfills up to walship's mark
 * itself after each commit, outside the write lock, as it would with no
 * replicator: walship then only moves the mark, and runs PASSIVE when
 * frames are left behind.  Unless `may_backfill` (past the cap), walship
 * neither backfills nor lets the application backfill a long tail
 * inline: the locked window will.  *log and *done: the counts before,
 * updated when walship backfilled, which sets *progress.
 */
static int unlocked_round(struct ws_db *db, int may_backfill, int64_t *log,
                          int64_t *done, int *progress,
                          struct ws_db_state *st, struct ws_err *err)
{
    int64_t tail = CKPT_TAIL_BYTES / (int64_t)ws_wal_frame_size(db->page_size);
    int64_t r[3] = {-1, -1, -1};
    int rc = WS_OK;

    *progress = 0;
    if (advance_safe(db, *log, *done) &&
        (may_backfill || *log - *done <= tail))
        rc = advance_mark(db, st, err);
    if (rc != WS_OK || !may_backfill || *done < 0 || *log - *done <= tail)
        return rc;
    rc = query(db, db->wr, "PRAGMA wal_checkpoint(PASSIVE)", r, NULL, 0,
               err);
    if (rc != WS_OK || r[2] <= *done)
        return rc;
    *progress = 1;
    start_writeback(db->db_fd);
    wal_status(db, log, done);
    return rc;
}

/*
 * Take the write lock for a locked step.  A writer that commits flat out
 * leaves a gap of some tens of microseconds between transactions, unless
 * its autocheckpoint runs there: then the gap lasts as long as that
 * checkpoint, which backfills up to walship's read mark.  So after each
 * short attempt walship copies what was committed meanwhile and moves
 * its mark to the end (and leaves the backfill to the application, which
 * opens such gaps, unless the tail grows large), so that the locked step
 * finds little to do.  The writes are only started here; the locked step
 * fsyncs.  WS_EBUSY after WS_DB_LOCK_TIMEOUT_MS.
 */
static int lock_wait(struct ws_db *db, struct ws_db_state *st,
                     struct ws_err *err)
{
    int64_t t0 = ws_now_ms(), log, done;
    int rc = WS_OK, progress;

    for (;;) {
        rc = catch_up(db, &st->copied, err);
        start_writeback(db->shadow_fd);
        start_writeback(db->db_fd);
        if (rc == WS_OK)
            rc = lock_try(db, WS_DB_LOCK_SPIN_MS, err);
        if (rc != WS_EBUSY || ws_now_ms() - t0 >= WS_DB_LOCK_TIMEOUT_MS)
            return rc;
        wal_status(db, &log, &done);
        rc = unlocked_round(db, !past_cap(db), &log, &done, &progress, st,
                            err);
        if (rc != WS_OK)
            return rc;
    }
}

/*
 * PASSIVE on rd inside the locked window.  SQLite's checkpoint lock may
 * be held by the application's own checkpoint (its autocheckpoint runs
 * after each commit, outside the write lock), and a PASSIVE then does
 * nothing: retry every 100 us for up to LOCK_CKPT_MS.  That checkpoint
 * cannot backfill past walship's last read mark, which the backfill
 * rounds keep near the end of the WAL, so it ends soon.
 */
static int passive_locked(struct ws_db *db, int64_t *r, struct ws_err *err)
{
    int64_t t0 = ws_now_ms();
    int rc;

    for (;;) {
        r[0] = r[1] = r[2] = -1;
        rc = query(db, db->rd, "PRAGMA wal_checkpoint(PASSIVE)", r, NULL, 0,
                   err);
        if (rc != WS_OK || r[1] >= 0 || ws_now_ms() - t0 >= LOCK_CKPT_MS)
            return rc;
        usleep(100);
    }
}

/*
 * One step under the write lock, in which no frame can be committed and
 * the WAL cannot restart: copy the last frames, fsync them, end the read
 * transaction, run a PASSIVE checkpoint when `passive` (with no read mark
 * of walship's in the way, it can backfill every frame, all of them
 * copied), begin the read transaction again at the end of the WAL, and
 * read the wal-index counts before letting go.  WS_EBUSY when the lock
 * could not be taken.
 *
 * Those counts decide the seal, and where the new read sits.  While the
 * lock is held mxFrame stays at the frames copied and nBackfill can only
 * grow.  So if the counts show every frame backfilled, either SQLite saw
 * that when the read began and put it on slot 0 (which blocks every
 * backfill: at most one restart, of frames walship holds), or the read
 * took a mark on a slot above 0 and another connection's checkpoint
 * finished later (no restart at all until walship moves that mark, which
 * it only does with a read on a slot above 0 or in this window, after
 * copying).  Either way the index is complete and a new header can only
 * be the next index.  If the counts show a frame not backfilled, it was
 * not backfilled when the read began either, so the read is on a slot
 * above 0, with a mark of at most mxFrame.  The PASSIVE's own result
 * cannot tell this: the application's checkpoint may complete between it
 * and the new read, which then lands on slot 0 while walship would think
 * the index open.
 */
static int locked_step(struct ws_db *db, int passive, struct ws_db_state *st,
                       struct ws_err *err)
{
    int64_t r[3] = {-1, -1, -1}, log = -1, done = -1;
    int rc, rc2;

    rc = lock_wait(db, st, err);
    if (rc != WS_OK)
        return rc;
    rc = catch_up(db, &st->copied, err);
    if (rc == WS_OK)
        rc = shadow_sync(db, 1, err);
    if (rc != WS_OK) {
        lock_release(db);
        return rc;
    }
    if (db->probe && db->have_hdr) {
        db->probe(db->probe_ctx, db->gen, db->index, db->size,
                  db->page_size);
        db->probe = NULL;
    }
    window(db);
    read_end(db);
    window(db);
    if (passive)
        rc = passive_locked(db, r, err);
    window(db);
    rc2 = read_begin(db, rc == WS_OK ? err : NULL);
    if (rc2 == WS_OK)
        wal_status(db, &log, &done);
    lock_release(db);
    window(db);
    if (rc2 != WS_OK) {
        db->ready = 0;
        return rc == WS_OK ? rc2 : rc;
    }
    if (rc == WS_OK)
        rc = check_counts(db, log, err);
    if (rc != WS_OK || log < 0 || done < 0)
        return rc;
    db->mark_max = log;
    db->mark_zero = done == log;
    if (done == log && (uint64_t)log == shadow_frames(db))
        db->sealed = 1;
    return WS_OK;
}

/*
 * A window for the probe alone (ws_db_sync_opts): the write lock, the
 * last frames copied and fsynced, the probe, the lock released.  Nothing
 * else changes: walship's read mark stays, and no seal is decided.  With
 * no WAL header yet (a generation that began on an empty WAL) the
 * database is the file alone, the state at offset 0 of the index.
 */
static int probe_step(struct ws_db *db, struct ws_db_state *st,
                      struct ws_err *err)
{
    int rc = lock_wait(db, st, err);

    if (rc != WS_OK)
        return rc;
    rc = catch_up(db, &st->copied, err);
    if (rc == WS_OK)
        rc = shadow_sync(db, 1, err);
    if (rc == WS_OK && db->probe) {
        db->probe(db->probe_ctx, db->gen, db->index,
                  db->have_hdr ? db->size : 0, db->page_size);
        db->probe = NULL;
    }
    lock_release(db);
    return rc;
}

/*
 * Unlocked rounds (db.h): at least one, which moves the read mark, then
 * more while walship backfilled (the application did not), more than
 * CKPT_TAIL_BYTES of frames are still not backfilled and fewer than
 * `rounds` ran.  Before a locked window (`locked_next`) they also stop at
 * the cap, and once a round no longer halves the tail (the writer adds
 * about as much as a round backfills: the lock wait is better spent
 * now); and when where rd's read lock sits is not known (after start-up)
 * the mark first moves in a short locked step.
 */
static int backfill(struct ws_db *db, int rounds, int locked_next,
                    struct ws_db_state *st, struct ws_err *err)
{
    int64_t tail = CKPT_TAIL_BYTES / (int64_t)ws_wal_frame_size(db->page_size);
    int64_t log, done, last = INT64_MAX;
    int rc = WS_OK, progress = 1;

    wal_status(db, &log, &done);
    if (locked_next && db->mark_max == INT64_MAX && !db->mark_zero &&
        done >= 0 && log - done > tail) {
        rc = locked_step(db, 0, st, err);
        if (rc != WS_OK || db->sealed)
            return rc;
        wal_status(db, &log, &done);
    }
    for (int i = 0; i < rounds && rc == WS_OK; i++) {
        int cap = locked_next && past_cap(db);
        if (i > 0 && (!progress || cap || log - done <= tail ||
                      (locked_next && log - done > last / 2)))
            break;
        last = log - done;
        rc = unlocked_round(db, !cap, &log, &done, &progress, st, err);
    }
    return rc;
}

/*
 * A locked checkpoint: backfill, then the locked window, which now has
 * only a short tail to backfill.  When the index is sealed a TRUNCATE
 * may be tried.  A busy write lock just skips this checkpoint.
 */
static int checkpoint(struct ws_db *db, int truncate, struct ws_db_state *st,
                      struct ws_err *err)
{
    int rc;

    db->ckpt_try_ms = ws_now_ms();
    rc = backfill(db, CKPT_ROUNDS, 1, st, err);

    if (rc == WS_OK && !db->sealed)
        rc = locked_step(db, 1, st, err);
    if (rc == WS_EBUSY)
        return WS_OK;
    if (rc != WS_OK)
        return rc;
    db->last_ckpt_ms = ws_now_ms();
    st->checkpoint = "PASSIVE";
    if (db->sealed && truncate) {
        int64_t t[3] = {-1, -1, -1}, t0 = mono_us();
        sqlite3_busy_timeout(db->wr, 0);
        if (query(db, db->wr, "PRAGMA wal_checkpoint(TRUNCATE)", t, NULL, 0,
                  NULL) == WS_OK &&
            t[0] == 0)
            st->checkpoint = "TRUNCATE";
        sqlite3_busy_timeout(db->wr, WS_DB_LOCK_TIMEOUT_MS);
        db->lock_us += mono_us() - t0;
    }
    return WS_OK;
}

enum ckpt_want { CKPT_NONE, CKPT_BACKFILL, CKPT_LOCKED };

/* 1 when the -wal file holds more than max-checkpoint-page-count frames'
 * worth of bytes (SQLite reuses the file from its start after a restart,
 * so a large earlier index leaves it large until a TRUNCATE). */
static int wal_oversized(struct ws_db *db)
{
    const struct ws_db_config *c = db->cfg;
    struct stat sb;

    return c->max_checkpoint_page_count > 0 && fstat(db->wal_fd, &sb) == 0 &&
           (uint64_t)sb.st_size >=
               WS_WAL_HDR_SIZE + (uint64_t)c->max_checkpoint_page_count *
                                     ws_wal_frame_size(db->page_size);
}

/* The last checkpoint or try, whichever came later: idle checkpoints
 * are paced from it. */
static int64_t ckpt_last(const struct ws_db *db)
{
    return db->last_ckpt_ms > db->ckpt_try_ms ? db->last_ckpt_ms
                                              : db->ckpt_try_ms;
}

/* 1 when the retry pace of the idle checkpoints allows one now. */
static int ckpt_paced(const struct ws_db *db)
{
    return ws_now_ms() - ckpt_last(db) >= db->ckpt_wait_ms;
}

/*
 * The policy.  Past min-checkpoint-page-count frames walship seals the
 * index with a locked checkpoint, at most one per WS_DB_CKPT_GAP_MS: the
 * write lock is taken for a few milliseconds each time, and a writer
 * that commits flat out restarts the WAL right after each seal, so the
 * -wal stays near the frames written in WS_DB_CKPT_GAP_MS plus one checkpoint.
 * Within the gap the WAL is only backfilled, without the lock, so that
 * the next locked window finds little to do.  Once writes pause (quiet:
 * this sync copied nothing), a -wal file still larger than
 * max-checkpoint-page-count frames is sealed and truncated whatever the
 * frames of its index, and an unsealed index is sealed after
 * checkpoint-interval; ws_db_sync says when (ckpt_due_ms), so that the
 * daemon comes back without a write to wake it.
 */
static enum ckpt_want want_checkpoint(struct ws_db *db,
                                      const struct ws_db_sync_opts *o,
                                      int quiet, int *truncate)
{
    const struct ws_db_config *c = db->cfg;
    uint64_t frames;
    int gap;

    *truncate = wal_oversized(db);
    if (o->force_checkpoint)
        return CKPT_LOCKED;
    if (!db->have_hdr)
        return CKPT_NONE;
    /* Copies run every few ms while the -wal changes; locked checkpoints
     * keep their own pace.  Too frequent, they also took the write lock
     * up to 100 times a second when the WAL could not be fully
     * backfilled. */
    gap = ws_now_ms() - db->last_ckpt_ms >= WS_DB_CKPT_GAP_MS &&
          (!quiet || ckpt_paced(db));
    frames = shadow_frames(db);
    if (db->sealed)
        return gap && *truncate ? CKPT_LOCKED : CKPT_NONE;
    if (frames >= (uint64_t)c->min_checkpoint_page_count)
        return gap ? CKPT_LOCKED : CKPT_BACKFILL;
    if (gap && quiet && frames > 0 && *truncate)
        return CKPT_LOCKED;
    return gap && c->checkpoint_interval_ms > 0 && frames > 0 &&
                   ws_now_ms() - db->last_ckpt_ms >=
                       c->checkpoint_interval_ms
               ? CKPT_LOCKED
               : CKPT_NONE;
}

/* When want_checkpoint would next ask for a checkpoint if nothing is
 * written meanwhile; -1 for never.  A try that left the -wal as it was
 * doubles the wait before the next (at most CKPT_WAIT_MAX_MS). */
static int64_t ckpt_due(struct ws_db *db, int tried, int copied)
{
    const struct ws_db_config *c = db->cfg;
    int big = wal_oversized(db), left;
    uint64_t frames = shadow_frames(db);
    int64_t from, due;

    left = big && (db->sealed || frames > 0);
    if (copied || (tried && !left && db->sealed))
        db->ckpt_wait_ms = WS_DB_CKPT_GAP_MS;
    else if (tried && db->ckpt_wait_ms < CKPT_WAIT_MAX_MS)
        db->ckpt_wait_ms = db->ckpt_wait_ms * 2 < CKPT_WAIT_MAX_MS
                               ? db->ckpt_wait_ms * 2
                               : CKPT_WAIT_MAX_MS;
    if (!db->have_hdr)
        return -1;
    from = ckpt_last(db);
    if (left)
        return from + db->ckpt_wait_ms;
    if (db->sealed || frames == 0 || c->checkpoint_interval_ms <= 0)
        return -1;
    due = db->last_ckpt_ms + c->checkpoint_interval_ms;
    return due > from + db->ckpt_wait_ms ? due : from + db->ckpt_wait_ms;
}

/* ---- opening ------------------------------------------------------------ */

/* SQLite's message when it cannot open or write what it needs beside
 * the database ("unable to open database file", "attempt to write a
 * readonly database") names no file: name the first of the database,
 * its -wal and its -shm that walship's user cannot read and write, or
 * the directory it cannot create them in, with the reason.  err is left
 * alone when all of them look usable. */
static void explain_access(const struct ws_db *db, int rc, struct ws_err *err)
{
    static const char *const sfx[] = {"", "-wal", "-shm"};
    char p[PATH_MAX], *dir = ws_path_dir(db->cfg->path);

    for (size_t i = 0; i < 3 && dir != NULL; i++) {
        int e;

        snprintf(p, sizeof(p), "%s%s", db->cfg->path, sfx[i]);
        if (faccessat(AT_FDCWD, p, R_OK | W_OK, AT_EACCESS) == 0)
            continue;
        e = errno;
        if (e != ENOENT) {
            ws_err_set(err, rc, "cannot open %s for writing: %s (walship "
                       "needs read and write access to it)",
                       p, strerror(e));
            break;
        }
        if (i > 0 &&
            faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) != 0) {
            ws_err_set(err, rc, "cannot create %s: %s (walship needs write "
                       "access to the database's directory %s)",
                       p, strerror(errno), dir);
            break;
        }
    }
    free(dir);
}

static int open_conn(struct ws_db *db, sqlite3 **c, int busy_ms,
                     struct ws_err *err)
{
    int rc;

    int one = 1;

    if (sqlite3_open_v2(db->cfg->path, c,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        int e = *c ? sqlite3_system_errno(*c) : 0;
        rc = sql_err(db, *c, "open", err);
        if (e != 0 && err != NULL) {
            /* SQLite's message does not say why (permissions?). */
            char m[WS_ERR_MSG];
            snprintf(m, sizeof(m), "%s", err->msg);
            ws_err_set(err, rc, "%s (%s)", m, strerror(e));
        }
        sqlite3_close(*c);
        *c = NULL;
        return rc;
    }
    /* walship's connections read a page or two per transaction and never
     * write one: no 48 KiB lookaside each (touched at once), and a page
     * cache of 2 (ws_db_configure: none preallocated). */
    sqlite3_db_config(*c, SQLITE_DBCONFIG_LOOKASIDE, NULL, 0, 0);
    sqlite3_busy_timeout(*c, busy_ms);
    sqlite3_file_control(*c, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
    /* The first statement reads the header: its failure is the open's
     * (the SQL would be noise in "file is not a database"). */
    rc = WS_OK;
    if (sqlite3_exec(*c, "PRAGMA cache_size = 2; "
                         "PRAGMA wal_autocheckpoint = 0",
                     NULL, NULL, NULL) != SQLITE_OK)
        rc = sql_err(db, *c, "open", err);
    if (rc != WS_OK && ((sqlite3_errcode(*c) & 0xff) == SQLITE_CANTOPEN ||
                        (sqlite3_errcode(*c) & 0xff) == SQLITE_READONLY))
        explain_access(db, rc, err);
    return rc;
}

static void close_conns(struct ws_db *db)
{
    read_end(db);
    lock_release(db);
    sqlite3_close(db->rd);
    sqlite3_close(db->rd2);
    sqlite3_close(db->wr);
    sqlite3_close(db->ck);
    db->rd = db->rd2 = db->wr = db->ck = NULL;
    if (db->wal_fd >= 0)
        close(db->wal_fd);
    db->wal_fd = -1;
    shadow_close(db);
    db->ready = 0;
}

static int take_meta_lock(struct ws_db *db, struct ws_err *err)
{
    int rc;

    if (db->lock_fd >= 0)
        return WS_OK;
    /* The meta dir is checked once and then only used through its
     * descriptor (fs.h). */
    if (db->meta_dir.fd < 0) {
        rc = ws_fs_dir_open(&db->meta_dir, db->meta,
                            WS_FS_CREATE | WS_FS_NOFOLLOW, 0700,
                            &db->meta_made, err);
        if (rc != WS_OK)
            return rc == WS_ENOTFOUND ? WS_EIO : rc;
    }
    rc = ws_fs_lock_open(&db->meta_dir, "lock", &db->lock_fd, err);
    if (rc != WS_OK)
        return rc == WS_ENOTFOUND ? WS_EIO : rc;
    if (flock(db->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        close(db->lock_fd);
        db->lock_fd = -1;
        return ws_err_set(err, WS_ECONFIG,
                          "%s: another walship is replicating this database "
                          "(lock %s/lock is held)",
                          db->cfg->path, db->meta);
    }
    return WS_OK;
}

/* The database could not be opened (not a database, unreadable) by the
 * init that made the meta dir: remove the dir and its lock, so that a
 * file walship never replicated is left as it was found.  Its parents,
 * if made too, stay. */
static void undo_meta(struct ws_db *db)
{
    if (!db->meta_made)
        return;
    db->meta_made = 0;
    if (db->meta_dir.fd >= 0)
        (void)unlinkat(db->meta_dir.fd, "lock", 0);
    if (db->lock_fd >= 0)
        close(db->lock_fd);
    db->lock_fd = -1;
    ws_fs_dir_close(&db->meta_dir);
    (void)rmdir(db->meta);
}

/* Open walship's connections; a database found in another journal mode
 * than WAL (switched while walship was down) is switched back, and the
 * mode found is told in st->mode_was. */
static int open_sqlite(struct ws_db *db, struct ws_db_state *st,
                       struct ws_err *err)
{
    char mode[32];
    int64_t ps = 0;
    int rc;

    rc = open_conn(db, &db->rd, 1000, err);
    if (rc == WS_OK)
        rc = open_conn(db, &db->wr, WS_DB_LOCK_TIMEOUT_MS, err);
    if (rc == WS_OK)
        rc = open_conn(db, &db->rd2, 1000, err);
    if (rc == WS_OK)
        rc = open_conn(db, &db->ck, WS_DB_LOCK_TIMEOUT_MS, err);
    /* SQLite opens a file it may not write read-only without a word;
     * walship would then copy until its first checkpoint fails, and no
     * retry on these connections could succeed.  Said now, and tried
     * again on new connections (a chmod or chown ends it). */
    if (rc == WS_OK && sqlite3_db_readonly(db->wr, "main") == 1)
        rc = ws_err_set(err, WS_EIO,
                        "%s: walship (uid %ld) can open it only read-only: "
                        "it needs write access to the database, its -wal "
                        "and -shm files, and their directory, for its "
                        "checkpoints",
                        db->cfg->path, (long)geteuid());
    if (rc == WS_OK)
        rc = query(db, db->rd, "PRAGMA journal_mode", NULL, mode,
                   sizeof(mode), err);
    if (rc == WS_OK && strcmp(mode, "wal") != 0) {
        snprintf(st->mode_was, sizeof(st->mode_was), "%s", mode);
        rc = query(db, db->rd, "PRAGMA journal_mode = wal", NULL, mode,
                   sizeof(mode), err);
        if (rc == WS_OK && strcmp(mode, "wal") != 0)
            rc = ws_err_set(err, WS_ESQLITE,
                            "%s: enable wal failed, mode=\"%s\"",
                            db->cfg->path, mode);
    }
    if (rc == WS_OK)
        rc = query(db, db->rd, "PRAGMA page_size", &ps, NULL, 0, err);
    if (rc == WS_OK && (ps < 512 || ps > 65536))
        rc = ws_err_set(err, WS_ECORRUPT, "%s: bad page size %lld",
                        db->cfg->path, (long long)ps);
    db->page_size = (uint32_t)ps;
    if (rc == WS_OK && db->db_fd < 0) {
        db->db_fd = open(db->cfg->path, O_RDONLY | O_CLOEXEC);
        if (db->db_fd < 0)
            rc = ws_err_set(err, WS_EIO, "open %s: %s", db->cfg->path,
                            strerror(errno));
    }
    return rc;
}

/*
 * Initialise: connections, the read lock taken under the write lock, the
 * local generation verified (or a new one started), then a first locked
 * checkpoint so the state is as clean as after any other.
 */
static int init(struct ws_db *db, struct ws_db_state *st, struct ws_err *err)
{
    char reason[WS_ERR_MSG] = "";
    int rc, locked;

    rc = take_meta_lock(db, err);
    if (rc != WS_OK && rc != WS_ECONFIG && err != NULL) {
        /* Most often the database's directory, which walship may not
         * write to: say where else it can keep its state. */
        char m[WS_ERR_MSG];
        snprintf(m, sizeof(m), "%s", err->msg);
        ws_err_set(err, rc, "cannot use the meta directory %s: %s (set "
                   "meta-path to a directory walship can write)",
                   db->meta, m);
    }
    if (rc == WS_OK)
        rc = open_sqlite(db, st, err);
    if (rc != WS_OK) {
        close_conns(db);
        undo_meta(db);
        return rc;
    }
    db->meta_made = 0;
    locked = lock_take(db, NULL) == WS_OK;
    rc = read_begin(db, err);
    if (rc == WS_OK) {
        db->wal_fd = open(db->wal_path, O_RDONLY | O_CLOEXEC);
        if (db->wal_fd < 0)
            rc = ws_err_set(err, WS_EIO, "open %s: %s", db->wal_path,
                            strerror(errno));
    }
    if (rc == WS_OK && db->pending[0])
        snprintf(reason, sizeof(reason), "%s", db->pending);
    else if (rc == WS_OK)
        rc = verify_local(db, reason, sizeof(reason), &st->copied, err);
    if (rc == WS_OK && reason[0]) {
        rc = new_generation(db, &st->copied, err);
        st->new_gen = rc == WS_OK;
        snprintf(st->reason, sizeof(st->reason), "%s", reason);
    }
    if (locked)
        lock_release(db);
    if (rc != WS_OK) {
        close_conns(db);
        return rc;
    }
    db->pending[0] = '\0';
    st->resumed = !st->new_gen && db->resumed;
    db->resumed = 0;
    db->ready = 1;
    db->last_ckpt_ms = ws_now_ms();
    return WS_OK;
}

/* ---- the public face ---------------------------------------------------- */

void ws_db_configure(void)
{
    /* N = 0: no bulk allocation (SQLITE_DEFAULT_PCACHE_INITSZ, 20 pages,
     * about 90 KiB with 4 KiB pages, malloc'd and touched at the first
     * page read of each connection: two per database).  SQLITE_MISUSE
     * once SQLite is initialised: nothing to do then. */
    sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
}

int ws_db_new(const struct ws_db_config *cfg, struct ws_db **out,
              struct ws_err *err)
{
    struct ws_db *db = calloc(1, sizeof(*db));

    if (db == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    db->cfg = cfg;
    db->db_fd = db->wal_fd = db->lock_fd = db->shadow_fd = -1;
    db->shm_fd = -1;
    db->ckpt_wait_ms = WS_DB_CKPT_GAP_MS;
    db->meta_dir.fd = -1;
    db->wal_path = malloc(strlen(cfg->path) + 5);
    db->shm_path = malloc(strlen(cfg->path) + 5);
    db->meta = strdup(cfg->meta_path);
    db->buf = malloc(WS_DB_COPY_CHUNK);
    if (db->wal_path == NULL || db->shm_path == NULL || db->meta == NULL ||
        db->buf == NULL) {
        ws_db_free(db);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    if (getenv("WALSHIP_TEST_WINDOW_MS"))
        db->window_ms =
            (int)strtol(getenv("WALSHIP_TEST_WINDOW_MS"), NULL, 10);
    memcpy(db->wal_path, cfg->path, strlen(cfg->path));
    memcpy(db->wal_path + strlen(cfg->path), "-wal", 5);
    memcpy(db->shm_path, cfg->path, strlen(cfg->path));
    memcpy(db->shm_path + strlen(cfg->path), "-shm", 5);
    *out = db;
    return WS_OK;
}

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
static void prune(struct ws_db *db, uint32_t keep_from,
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
        if (wal_dir(db, db->gen, 0, &wal, NULL) == WS_OK)
            for (uint32_t i = lo > db->pruned ? lo : db->pruned;
                 i < keep_from; i++) {
                char name[16];
                shadow_name(i, name);
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

/* 1 when the file at path is not the one fd has open: it was removed,
 * or another file was put there. */
static int moved(const char *path, int fd)
{
    struct stat a, b;

    if (fd < 0 || fstat(fd, &b) != 0)
        return 0;
    if (stat(path, &a) != 0)
        return errno == ENOENT;
    return a.st_dev != b.st_dev || a.st_ino != b.st_ino;
}

/*
 * The local state walship is writing is gone (an operator removed the
 * meta directory, or the shadow of the current index): nothing proves
 * continuity any more, and the next shadow file could not be made.  A
 * new generation starts, after the lock is taken again on a new lock
 * file (the old one, removed, no longer keeps a second walship out).
 * Sets the reason and returns 1 when so.
 */
static int local_gone(struct ws_db *db)
{
    char lock[4200];
    char *shadow = NULL;
    int gone = 0;

    snprintf(lock, sizeof(lock), "%s/lock", db->meta);
    if (moved(lock, db->lock_fd)) {
        close(db->lock_fd);
        db->lock_fd = -1;
        /* The meta dir walship holds is not the one at the path (any
         * more): the next init opens, and checks, that one. */
        ws_fs_dir_close(&db->meta_dir);
        gone = 1;
    } else if (db->ready && db->have_hdr && db->shadow_fd >= 0) {
        shadow = ws_db_shadow_path(db, db->gen, db->index);
        gone = shadow != NULL && moved(shadow, db->shadow_fd);
    }
    if (gone)
        snprintf(db->pending, sizeof(db->pending), "local state removed "
                 "(%s)", shadow ? shadow : db->meta);
    free(shadow);
    return gone;
}

const char *ws_db_not_file(mode_t m)
{
    if (S_ISREG(m))
        return NULL;
    if (S_ISLNK(m))
        return "a symbolic link, not the database file (SQLite keeps the "
               "-wal beside the link's target, and walship neither "
               "replicates nor restores through a link): give walship the "
               "target's path";
    return S_ISDIR(m)    ? "a directory, not a regular file"
           : S_ISFIFO(m) ? "a FIFO, not a regular file"
           : S_ISSOCK(m) ? "a socket, not a regular file"
                         : "a device, not a regular file";
}

/* The database does not exist, is empty, or is not a regular file (of
 * mode `mode`; 0: nothing there): say why it is waited for. */
static int waiting(const struct ws_db *db, int empty, mode_t mode,
                   struct ws_db_state *st)
{
    char *dir = ws_path_dir(db->cfg->path);
    struct stat sb;

    if (mode != 0 && ws_db_not_file(mode) != NULL)
        snprintf(st->wait, sizeof(st->wait), "database %s is %s",
                 db->cfg->path, ws_db_not_file(mode));
    else if (empty)
        snprintf(st->wait, sizeof(st->wait), "database %s is empty (its "
                 "application has not created it yet)", db->cfg->path);
    else if (dir != NULL && stat(dir, &sb) != 0 && errno == ENOENT)
        snprintf(st->wait, sizeof(st->wait), "database %s does not exist, "
                 "nor its directory %s", db->cfg->path, dir);
    else
        snprintf(st->wait, sizeof(st->wait), "database %s does not exist",
                 db->cfg->path);
    free(dir);
    return WS_OK;
}

int ws_db_sync(struct ws_db *db, const struct ws_db_sync_opts *o,
               struct ws_db_state *st, struct ws_err *err)
{
    enum ckpt_want want;
    struct stat sb;
    struct ws_err ckerr = {0};
    int rc = WS_OK, ck = WS_OK, truncate = 0;

    memset(st, 0, sizeof(*st));
    st->ckpt_due_ms = -1;
    db->lock_us = 0;
    db->points.n = 0;
    if (db->db_fd >= 0 && (moved(db->cfg->path, db->db_fd) ||
                           (db->ready && moved(db->wal_path, db->wal_fd)))) {
        /* Deleted, or another file now: what walship holds is the old
         * file's.  Its connections close through SQLite first; then no
         * connection of this process is on that file, and closing
         * walship's own descriptor drops no lock SQLite holds. */
        close_conns(db);
        close(db->db_fd);
        db->db_fd = -1;
        snprintf(db->pending, sizeof(db->pending), "database replaced");
        st->replaced = 1;
    }
    if (local_gone(db))
        close_conns(db);
    if (lstat(db->cfg->path, &sb) != 0) {
        if (errno != ENOENT) {
            ws_err_set(err, WS_EIO, "stat %s: %s", db->cfg->path,
                       strerror(errno));
            return ws_err_at(err, WS_AT_DB);
        }
        return waiting(db, 0, 0, st);
    }
    if (ws_db_not_file(sb.st_mode) != NULL) {
        /* (One walship had open was replaced by it: closed above.) */
        return waiting(db, 0, sb.st_mode, st);
    }
    /* An empty file is a database its application is creating right now:
     * its next step is its own journal_mode=wal.  Had walship switched the
     * mode at the same moment, each would hold SHARED and want to write,
     * and SQLite fails one of them at once with SQLITE_BUSY instead of
     * calling its busy handler (a deadlock otherwise): the application's
     * open fails.  Wait, as for a missing file, until it has a header. */
    if (!db->ready && sb.st_size == 0)
        return waiting(db, 1, 0, st);
    st->exists = 1;
    db->seen = o->seen;
    db->nseen = o->seen ? o->nseen : 0;
    if (o->new_gen)
        snprintf(db->pending, sizeof(db->pending), "%s", o->new_gen);
    if (db->ready && db->pending[0])
        close_conns(db);
    if (!db->ready)
        rc = init(db, st, err);
    else if (!o->hold)
        rc = catch_up(db, &st->copied, err);
    want = rc == WS_OK && o->checkpoint && !o->hold
               ? want_checkpoint(db, o, st->copied == 0, &truncate)
               : CKPT_NONE;
    /* A checkpoint that fails leaves what was copied valid: it is made
     * durable and shipped while the error is reported (st->ready), so
     * the replicas do not stop with it. */
    db->probe = rc == WS_OK && !o->hold ? o->probe : NULL;
    db->probe_ctx = o->probe_ctx;
    if (want == CKPT_LOCKED) {
        int64_t t0 = mono_us();
        ck = checkpoint(db, truncate, st, &ckerr);
        st->ckpt_us = mono_us() - t0;
    }
    else if (want == CKPT_BACKFILL && st->copied > 0)
        ck = backfill(db, 1, 0, st, &ckerr);
    if (ck == WS_OK && db->probe && db->ready) {
        /* The probe's own window; a busy lock only skips it. */
        ck = probe_step(db, st, &ckerr);
        if (ck == WS_EBUSY)
            ck = WS_OK;
    }
    db->probe = NULL;
    if (rc == WS_ECORRUPT)
        snprintf(db->pending, sizeof(db->pending), "%s", err->msg);
    if (ck == WS_ECORRUPT)
        snprintf(db->pending, sizeof(db->pending), "%s", ckerr.msg);
    if (rc == WS_OK && db->ready)
        rc = shadow_sync(db, !o->checkpoint, err);
    if (rc == WS_OK && db->ready)
        prune(db, o->keep_from, st);
    st->ready = db->ready && rc == WS_OK && ck != WS_ECORRUPT;
    if (rc == WS_OK && ck != WS_OK) {
        rc = ck;
        if (err != NULL)
            *err = ckerr;
    }
    st->ckpt_due_ms = st->ready && o->checkpoint && !o->hold
                          ? ckpt_due(db, want == CKPT_LOCKED, st->copied > 0)
                          : -1;
    memcpy(st->gen, db->gen, sizeof(st->gen));
    st->index = db->index;
    st->size = db->have_hdr ? db->size : 0;
    st->have_hdr = db->have_hdr;
    st->sealed = db->sealed;
    st->salt1 = db->have_hdr ? db->hdr.salt1 : 0;
    st->salt2 = db->have_hdr ? db->hdr.salt2 : 0;
    st->page_size = db->page_size;
    st->points = db->points.v;
    st->npoints = db->points.n;
    st->lock_us = db->lock_us;
    db->seen = NULL; /* the caller's, valid only during this call */
    db->nseen = 0;
    if (rc != WS_OK) /* the database, its -wal or its meta directory */
        ws_err_at(err, WS_AT_DB);
    return rc;
}

int ws_db_peek(struct ws_db *db, struct ws_walidx *out)
{
    uint8_t b[WS_WALIDX_HDR_SIZE];
    ssize_t n;

    /* Opened once and kept: closing any descriptor on the -shm would drop
     * the locks SQLite holds on it in this process (db.h). */
    if (db->shm_fd < 0)
        db->shm_fd = open(db->shm_path, O_RDONLY | O_CLOEXEC);
    if (db->shm_fd < 0)
        return WS_EIO;
    /* pread, not mmap: SQLite may truncate the file when it rebuilds the
     * wal-index, and a read past the end of a mapping is SIGBUS. */
    n = pread(db->shm_fd, b, sizeof(b), 0);
    if (n != (ssize_t)sizeof(b))
        return WS_EIO;
    return ws_walidx_decode(b, out);
}

void ws_db_peek_reset(struct ws_db *db)
{
    struct stat a, b;

    if (db->shm_fd < 0 ||
        (fstat(db->shm_fd, &b) == 0 && stat(db->shm_path, &a) == 0 &&
         a.st_dev == b.st_dev && a.st_ino == b.st_ino))
        return;
    close(db->shm_fd);
    db->shm_fd = -1;
    db->ckpt_wait_ms = WS_DB_CKPT_GAP_MS;
}

int ws_db_snapshot(struct ws_db *db, const char *gen, uint32_t index,
                   uint64_t offset, ws_sink_fn sink, void *ctx,
                   struct ws_err *err)
{
    uint64_t at = db->have_hdr ? db->size : 0;

    if (db->db_fd < 0 || !db->ready)
        return ws_err_set(err, WS_EIO, "%s: database not open",
                          db->cfg->path);
    if (strcmp(db->gen, gen) != 0 || db->index != index || at != offset)
        return ws_err_set(err, WS_EBUSY, "%s: the shadow wal moved from "
                          "%s/%08x:%llu to %s/%08x:%llu before the snapshot "
                          "was read", db->cfg->path, gen, index,
                          (unsigned long long)offset, db->gen, db->index,
                          (unsigned long long)at);
    return ws_snapshot_write(db->db_fd, db->shadow_fd, db->page_size, at,
                             sink, ctx, err);
}

int ws_db_park(struct ws_db *db, int *parked, struct ws_err *err)
{
    struct ws_resume r;
    int rc;

    *parked = 0;
    if (db == NULL || !db->ready || db->gen[0] == '\0' || db->db_fd < 0 ||
        (db->have_hdr && !db->sealed))
        return WS_OK;
    /* The shadow is durable before the marker vouches for it. */
    rc = shadow_sync(db, 1, err);
    if (rc != WS_OK)
        return rc;
    memset(&r, 0, sizeof(r));
    memcpy(r.gen, db->gen, sizeof(r.gen));
    r.index = db->index;
    r.wal_size = db->have_hdr ? db->size : 0;
    /* rd's read lock is still held: the file cannot move past the end
     * of this index while it is read (resume.h). */
    rc = ws_resume_hash(db->db_fd, &r.db_size, r.sha256, err);
    if (rc != WS_OK)
        return ws_err_wrap(err, "%s", db->cfg->path);
    rc = ws_resume_mark(&db->meta_dir, WS_RESUME_STOPPED, &r, err);
    *parked = rc == WS_OK;
    return rc;
}

void ws_db_free(struct ws_db *db)
{
    if (db == NULL)
        return;
    close_conns(db);
    /* Only now, with every SQLite connection of this process closed, is it
     * safe to close our own descriptor on the database file. */
    if (db->db_fd >= 0)
        close(db->db_fd);
    if (db->lock_fd >= 0)
        close(db->lock_fd);
    ws_fs_dir_close(&db->meta_dir);
    if (db->shm_fd >= 0)
        close(db->shm_fd);
    free(db->wal_path);
    free(db->shm_path);
    free(db->meta);
    free(db->buf);
    ws_tlist_free(&db->points);
    free(db);
}
