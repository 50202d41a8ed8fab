/*
 * db.c: the source database's public face (db.h has the model and the
 * safety argument): a sync, which notices a database or local state that
 * was replaced or removed, waits for a database that is not there yet,
 * opens and verifies (init), copies and checkpoints; the peek at the
 * wal-index; a snapshot of the file; the stop's proof (park).  The
 * mechanism is in the rooms that share db_int.h: dbconn.c (connections
 * and locks), shadow.c (the shadow WAL), ckpt.c (checkpoints) and meta.c
 * (the meta directory).  Every function here runs on a pool thread,
 * except ws_db_peek (the loop thread's).
 */
#include "ws/crashpt.h"
#include "ws/db_int.h"
#include "ws/meta.h"
#include "ws/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ws_db_configure(void)
{
    /* N = 0: no bulk allocation (SQLITE_DEFAULT_PCACHE_INITSZ, 20 pages,
     * about 90 KiB with 4 KiB pages, malloc'd and touched at the first
     * page read of each connection: two per database).  SQLITE_MISUSE
     * once SQLite is initialised: nothing to do then. */
    sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
    /* Initialised here, on one thread: sqlite3_open would do it, but its
     * first test of SQLite's "initialised" flag is a plain load, so two
     * pool jobs opening their first connections at once (two databases'
     * first syncs) race on it. */
    sqlite3_initialize();
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

/*
 * Initialise: connections, the read lock taken under the write lock, the
 * local generation verified (or a new one started), then a first locked
 * checkpoint so the state is as clean as after any other.
 */
static int init(struct ws_db *db, struct ws_db_state *st, struct ws_err *err)
{
    char reason[WS_ERR_MSG] = "";
    int rc, locked;

    rc = ws_dbi_take_meta_lock(db, err);
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
        rc = ws_dbi_check_identity(db, err);
    if (rc == WS_OK)
        rc = ws_dbi_open_sqlite(db, st, err);
    if (rc != WS_OK) {
        ws_dbi_close_conns(db);
        ws_dbi_undo_meta(db);
        return rc;
    }
    db->meta_made = 0;
    locked = ws_dbi_lock_take(db, NULL) == WS_OK;
    rc = ws_dbi_read_begin(db, err);
    if (rc == WS_OK) {
        db->wal_fd = open(db->wal_path, O_RDONLY | O_CLOEXEC);
        if (db->wal_fd < 0)
            rc = ws_err_set(err, WS_EIO, "open %s: %s", db->wal_path,
                            strerror(errno));
    }
    if (rc == WS_OK && db->pending[0])
        snprintf(reason, sizeof(reason), "%s", db->pending);
    else if (rc == WS_OK)
        rc = ws_dbi_verify_local(db, reason, sizeof(reason), &st->copied, err);
    if (rc == WS_OK && reason[0]) {
        rc = ws_dbi_new_generation(db, &st->copied, err);
        st->new_gen = rc == WS_OK;
        snprintf(st->reason, sizeof(st->reason), "%s", reason);
    }
    if (locked)
        ws_dbi_lock_release(db);
    if (rc != WS_OK) {
        ws_dbi_close_conns(db);
        return rc;
    }
    db->pending[0] = '\0';
    ws_dbi_record_identity(db);
    st->resumed = !st->new_gen && db->resumed;
    st->continued = !st->new_gen && !db->resumed;
    db->resumed = 0;
    db->ready = 1;
    db->last_ckpt_ms = ws_now_ms();
    return WS_OK;
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
    enum ws_dbi_ckpt_want want;
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
        if (db->ready && moved(db->cfg->path, db->db_fd) &&
            !moved(db->wal_path, db->wal_fd))
            ws_dbi_note_stale_wal(db); /* left to the new file (db.h) */
        ws_dbi_close_conns(db);
        close(db->db_fd);
        db->db_fd = -1;
        snprintf(db->pending, sizeof(db->pending), "database replaced");
        st->replaced = 1;
    }
    if (db->stale_wal && ws_dbi_retire_wal(db, st, err) != WS_OK)
        return ws_err_at(err, WS_AT_DB);
    if (local_gone(db))
        ws_dbi_close_conns(db);
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
    /* SQLite keeps the WAL and its index beside the database: anything
     * but a regular file there fails deep inside it ("unable to open
     * database file", "disk I/O error"), so name it first. */
    for (int k = 0; !db->ready && k < 2; k++) {
        const char *p = k ? db->shm_path : db->wal_path, *why;
        if (lstat(p, &sb) == 0 && (why = ws_db_not_file(sb.st_mode))) {
            ws_err_set(err, WS_EIO, "%s is %s; SQLite keeps the database's "
                       "%s there", p, S_ISLNK(sb.st_mode)
                           ? "a symbolic link, not a regular file"
                           : why,
                       k ? "wal-index" : "WAL");
            return ws_err_at(err, WS_AT_DB);
        }
    }
    st->exists = 1;
    db->keep_index = o->keep_from;
    db->keep_off = o->keep_off;
    db->seen = o->seen;
    db->nseen = o->seen ? o->nseen : 0;
    if (o->new_gen)
        snprintf(db->pending, sizeof(db->pending), "%s", o->new_gen);
    if (db->ready && db->pending[0])
        ws_dbi_close_conns(db);
    if (!db->ready)
        rc = init(db, st, err);
    else if (!o->hold)
        rc = ws_dbi_catch_up(db, &st->copied, err);
    if (rc == WS_OK && db->ready && !o->hold)
        rc = ws_dbi_settle(db, st, err);
    if (rc == WS_OK && db->ready && !o->hold && st->copied > 0)
        rc = ws_dbi_pin(db, st, err);
    want = rc == WS_OK && o->checkpoint && !o->hold
               ? ws_dbi_want_checkpoint(db, o, st->copied == 0, &truncate)
               : WS_DBI_CKPT_NONE;
    /* A checkpoint that fails leaves what was copied valid: it is made
     * durable and shipped while the error is reported (st->ready), so
     * the replicas do not stop with it. */
    db->probe = rc == WS_OK && !o->hold ? o->probe : NULL;
    db->probe_ctx = o->probe_ctx;
    if (want == WS_DBI_CKPT_LOCKED) {
        int64_t t0 = ws_dbi_mono_us();
        ck = ws_dbi_checkpoint(db, truncate, st, &ckerr);
        st->ckpt_us = ws_dbi_mono_us() - t0;
    }
    else if (want == WS_DBI_CKPT_BACKFILL && st->copied > 0)
        ck = ws_dbi_backfill(db, 1, 0, st, &ckerr);
    if (ck == WS_OK && db->probe && db->ready) {
        /* The probe's own window; a busy lock only skips it. */
        ck = ws_dbi_probe_step(db, st, &ckerr);
        if (ck == WS_EBUSY)
            ck = WS_OK;
    }
    db->probe = NULL;
    if (rc == WS_ECORRUPT)
        snprintf(db->pending, sizeof(db->pending), "%s", err->msg);
    if (ck == WS_ECORRUPT)
        snprintf(db->pending, sizeof(db->pending), "%s", ckerr.msg);
    /* A final sync (no checkpoint: stopping) keeps what the replicas
     * lack: the -wal may restart once walship's read ends. */
    if (rc == WS_OK && db->ready && !o->checkpoint)
        rc = ws_dbi_spool(db, err);
    if (rc == WS_OK && db->ready)
        rc = ws_dbi_shadow_sync(db, !o->checkpoint, err);
    if (rc == WS_OK && db->ready)
        ws_dbi_prune(db, o->keep_from, st);
    st->ready = db->ready && rc == WS_OK && ck != WS_ECORRUPT;
    if (rc == WS_OK && ck != WS_OK) {
        rc = ck;
        if (err != NULL)
            *err = ckerr;
    }
    st->ckpt_due_ms = st->ready && o->checkpoint && !o->hold
                          ? ws_dbi_ckpt_due(db, want == WS_DBI_CKPT_LOCKED,
                                            st->copied > 0)
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
    /* Sealed, the database file holds every frame of the index and
     * nothing past it (db.h); pinned (lazy), the -wal holds them all; else
     * the shadow does. */
    return ws_snapshot_write(db->db_fd, db->lazy ? db->wal_fd : db->shadow_fd,
                             db->page_size, db->sealed ? 0 : at, sink, ctx,
                             err);
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
    rc = ws_dbi_spool(db, err);
    if (rc == WS_OK)
        rc = ws_dbi_shadow_sync(db, 1, err);
    if (rc != WS_OK)
        return rc;
    memset(&r, 0, sizeof(r));
    memcpy(r.gen, db->gen, sizeof(r.gen));
    r.index = db->index;
    r.wal_size = db->have_hdr ? db->size : 0;
    /* rd's read lock is still held: the file cannot move past the end
     * of this index while it is read (meta.h). */
    rc = ws_resume_hash(db->db_fd, &r.db_size, r.sha256, err);
    if (rc != WS_OK)
        return ws_err_wrap(err, "%s", db->cfg->path);
    WS_CRASHPOINT("stop-marker");
    rc = ws_resume_mark(&db->meta_dir, WS_RESUME_STOPPED, &r, err);
    *parked = rc == WS_OK;
    return rc;
}

void ws_db_free(struct ws_db *db)
{
    if (db == NULL)
        return;
    ws_dbi_close_conns(db);
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
