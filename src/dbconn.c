/*
 * dbconn.c: walship's SQLite connections to the source database (db.h
 * has the model): opening them, and saying which file walship cannot
 * use when SQLite's message names none; the long read transaction on
 * `rd`; the write lock on `wr`, taken with a busy handler that spins
 * through the short gaps a busy writer leaves.
 */
#include "ws/db_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t ws_dbi_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
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
int ws_dbi_query(struct ws_db *db, sqlite3 *c, const char *sql,
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

/* ---- read transaction and write lock --------------------------------- */

/* Begin the long read on rd; where its lock lands is not known yet. */
int ws_dbi_read_begin(struct ws_db *db, struct ws_err *err)
{
    int64_t n;
    int rc;

    db->mark_max = INT64_MAX;
    db->mark_zero = 0;
    rc = exec(db, db->rd, "BEGIN", err);
    if (rc == WS_OK)
        rc = ws_dbi_query(db, db->rd, "SELECT COUNT(*) FROM sqlite_schema", &n,
                          NULL, 0, err);
    return rc;
}

void ws_dbi_read_end(struct ws_db *db)
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
int ws_dbi_lock_try(struct ws_db *db, int64_t ms, struct ws_err *err)
{
    int64_t end = ws_now_ms() + ms;
    int rc;

    sqlite3_busy_handler(db->wr, busy_spin, &end);
    rc = exec(db, db->wr, "BEGIN IMMEDIATE", err);
    sqlite3_busy_timeout(db->wr, WS_DB_LOCK_TIMEOUT_MS);
    if (rc == WS_OK)
        db->lock_t0_us = ws_dbi_mono_us();
    return rc;
}

/* The write lock, or WS_EBUSY after WS_DB_LOCK_TIMEOUT_MS: spin for the
 * first WS_DB_LOCK_SPIN_MS, which catches the first gap unless the CPU is
 * short, then poll every 100 us. */
int ws_dbi_lock_take(struct ws_db *db, struct ws_err *err)
{
    int64_t t0 = ws_now_ms();
    int rc = ws_dbi_lock_try(db, WS_DB_LOCK_SPIN_MS, err);

    while (rc == WS_EBUSY && ws_now_ms() - t0 < WS_DB_LOCK_TIMEOUT_MS) {
        usleep(100);
        rc = ws_dbi_lock_try(db, 0, err);
    }
    return rc;
}

void ws_dbi_lock_release(struct ws_db *db)
{
    if (db->wr && !sqlite3_get_autocommit(db->wr))
        sqlite3_exec(db->wr, "ROLLBACK", NULL, NULL, NULL);
    if (db->lock_t0_us > 0)
        db->lock_us += ws_dbi_mono_us() - db->lock_t0_us;
    db->lock_t0_us = 0;
}

/* ---- opening --------------------------------------------------------- */

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

void ws_dbi_close_conns(struct ws_db *db)
{
    db->lazy = 0; /* what the shadow lacks, the next start finds */
    ws_dbi_read_end(db);
    ws_dbi_lock_release(db);
    sqlite3_close(db->rd);
    sqlite3_close(db->rd2);
    sqlite3_close(db->wr);
    sqlite3_close(db->ck);
    db->rd = db->rd2 = db->wr = db->ck = NULL;
    if (db->wal_fd >= 0)
        close(db->wal_fd);
    db->wal_fd = -1;
    ws_dbi_shadow_close(db);
    db->ready = 0;
}

/*
 * SQLite's unix VFS keeps, on the -shm file, a read lock on one byte
 * (offset 128, its "dead man switch": 22 + 8 lock slots of 4 bytes, then
 * the 8 slots) for as long as a connection has the -shm mapped; a new
 * connection that finds no lock there takes the -shm as stale and
 * rebuilds the wal-index from the -wal, and one that finds a write lock
 * there waits (SQLITE_BUSY, through its busy handler).  So a write lock
 * walship takes on that byte proves that no connection in any process
 * uses the -wal, and keeps any from starting to until it is dropped.
 */
#define SHM_DMS_BYTE 128

void ws_dbi_note_stale_wal(struct ws_db *db)
{
    size_t got = 0;

    db->stale_wal =
        fstat(db->wal_fd, &db->stale_sb) == 0 && db->stale_sb.st_size > 0 &&
        ws_fs_pread(db->wal_fd, db->stale_hdr, sizeof(db->stale_hdr), 0,
                    &got, NULL) == WS_OK &&
        got == sizeof(db->stale_hdr);
}

int ws_dbi_retire_wal(struct ws_db *db, struct ws_db_state *st,
                      struct ws_err *err)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
                       .l_start = SHM_DMS_BYTE, .l_len = 1};
    uint8_t hdr[WS_WAL_HDR_SIZE];
    struct stat sb;
    size_t got = 0;
    int shm, wal, rc = WS_OK;
    const char *why = NULL;

    wal = open(db->wal_path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (wal < 0 || fstat(wal, &sb) != 0 ||
        sb.st_dev != db->stale_sb.st_dev || sb.st_ino != db->stale_sb.st_ino) {
        if (wal >= 0) /* gone, or another file: not the old file's */
            close(wal);
        db->stale_wal = 0;
        return WS_OK;
    }
    /* walship's own connections, the last to close the old file, keep
     * its -shm (SQLite removes it only with the -wal).  Without one
     * there is no lock to prove anything: a connection may still map a
     * -shm removed by hand. */
    shm = open(db->shm_path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (shm < 0)
        why = "there is no -shm to prove that no connection uses it "
              "(remove the -wal by hand once no process has the old "
              "database open)";
    else if (fcntl(shm, F_SETLK, &fl) != 0)
        why = "a connection still uses it (the application's, on the old "
              "file or on the new one)";
    /* Under the lock nothing can write it: compare what it holds now. */
    if (why == NULL &&
        (fstat(wal, &sb) != 0 || sb.st_size != db->stale_sb.st_size ||
         ws_fs_pread(wal, hdr, sizeof(hdr), 0, &got, NULL) != WS_OK))
        why = "it was written since, maybe by the application on the new "
              "file";
    if (why == NULL && (got != sizeof(hdr) ||
                        memcmp(hdr, db->stale_hdr, sizeof(hdr)) != 0))
        why = "it was written since, maybe by the application on the new "
              "file";
    if (why == NULL && (ftruncate(wal, 0) != 0 || fsync(wal) != 0))
        rc = ws_err_set(err, WS_EIO, "truncate %s: %s", db->wal_path,
                        strerror(errno));
    /* Closing shm drops the lock: no connection of walship's is open on
     * the database, so it drops no lock SQLite holds. */
    close(wal);
    if (shm >= 0)
        close(shm);
    if (why != NULL)
        return ws_err_set(err, WS_EBUSY,
                          "cannot empty %s, the -wal of the database that "
                          "was replaced: %s; SQLite would apply its frames "
                          "to the new file (close every connection before "
                          "moving a file over a database)",
                          db->wal_path, why);
    if (rc == WS_OK) {
        db->stale_wal = 0;
        snprintf(st->stale_wal, sizeof(st->stale_wal),
                 "emptied %s, the replaced database's: SQLite would apply "
                 "its frames to the new file", db->wal_path);
    }
    return rc;
}

/* Open walship's connections; a database found in another journal mode
 * than WAL (switched while walship was down) is switched back, and the
 * mode found is told in st->mode_was. */
int ws_dbi_open_sqlite(struct ws_db *db, struct ws_db_state *st,
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
        rc = ws_dbi_query(db, db->rd, "PRAGMA journal_mode", NULL, mode,
                          sizeof(mode), err);
    if (rc == WS_OK && strcmp(mode, "wal") != 0) {
        snprintf(st->mode_was, sizeof(st->mode_was), "%s", mode);
        rc = ws_dbi_query(db, db->rd, "PRAGMA journal_mode = wal", NULL, mode,
                          sizeof(mode), err);
        if (rc == WS_OK && strcmp(mode, "wal") != 0)
            rc = ws_err_set(err, WS_ESQLITE,
                            "%s: enable wal failed, mode=\"%s\"",
                            db->cfg->path, mode);
    }
    if (rc == WS_OK)
        rc = ws_dbi_query(db, db->rd, "PRAGMA page_size", &ps, NULL, 0, err);
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
