/*
 * validate_probe.c: a drill's position and the database's pages at it
 * (validate.h has the drill; validate_int.h the rooms).
 *
 * A drill compares a replica restored to a position P with the database
 * as it was at P.  The application goes on writing meanwhile, so "the
 * database at P" has to be held still while it is read, without holding
 * the application back.  SQLite's WAL mode gives exactly that:
 *
 *   - A read transaction sees the database as of the last commit in the
 *     -wal when it began, whatever is committed after (each reader keeps
 *     a read mark, the last frame it may read), until it ends.  BEGIN
 *     alone takes no snapshot; the first read does, hence the SELECT on
 *     sqlite_schema in the same statement.
 *   - While walship holds SQLite's write lock (the sync's locked window,
 *     db.h), nothing can commit, and the shadow holds every committed
 *     frame: its position is P, and a read begun there sees P.  So
 *     ws_vali_probe runs inside that window, on the sync's thread, and
 *     does no more than begin the read (its time under the lock is
 *     logged at debug level); the lock is released as usual.
 *   - While the read lasts, no checkpoint backfills frames past its mark
 *     and the -wal is not restarted over them (a checkpoint stops at the
 *     oldest reader's mark, as for any reader of the application).  It
 *     holds the application back no more than a reader of its own.
 *   - The sqlite_dbpage table (SQLITE_ENABLE_DBPAGE_VTAB, in walship's
 *     build) gives each page's bytes, 1 to the database size the read
 *     sees, as SQLite reads them: from the newest frame of the page at
 *     or below the read mark in the -wal, else from the database file.
 *     Those are the page images a restore to P writes (its newest frame
 *     up to P over the snapshot, cut to the size P's commit frame
 *     records), page 1's header included; so the copy and the restored
 *     file are equal byte for byte when the replica is sound.
 *
 * The connection is walship's own, read-only, opened and closed through
 * SQLite: closing a descriptor on the live database outside SQLite would
 * drop the POSIX locks of walship's other connections on it (SQLite
 * shares them among the connections of a process, and defers the close
 * of a descriptor while another holds a lock).  Its busy timeout
 * (PROBE_BUSY_MS) bounds the wait of BEGIN on a lock another connection
 * holds briefly; a probe that cannot begin says why (perr) and the
 * drill tries the next sync.
 */
#include "ws/validate_int.h"

#include <string.h>
#include <time.h>

#define PROBE_BUSY_MS 2000

/* Under the write lock (db.h): begin the read transaction that sees P. */
void ws_vali_probe(void *ctx, const char *gen, uint32_t index,
                   uint64_t size, uint32_t page_size)
{
    struct ws_validator *v = ctx;
    struct timespec t0, t1;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    v->probed = 0;
    v->perr[0] = '\0';
    if (v->conn == NULL) {
        rc = sqlite3_open_v2(v->cfg->path, &v->conn,
                             SQLITE_OPEN_READONLY, NULL);
        if (rc != SQLITE_OK) {
            snprintf(v->perr, sizeof(v->perr), "open read-only: %s",
                     v->conn ? sqlite3_errmsg(v->conn) : "out of memory");
            sqlite3_close(v->conn);
            v->conn = NULL;
            return;
        }
        sqlite3_busy_timeout(v->conn, PROBE_BUSY_MS);
    }
    rc = sqlite3_exec(v->conn, "BEGIN; SELECT COUNT(*) FROM sqlite_schema",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(v->perr, sizeof(v->perr), "begin a read: %s",
                 sqlite3_errmsg(v->conn));
        sqlite3_exec(v->conn, "ROLLBACK", NULL, NULL, NULL);
        return;
    }
    memcpy(v->gen, gen, sizeof(v->gen));
    v->index = index;
    v->offset = size;
    v->page_size = page_size;
    v->probe_wall_ms = ws_wall_ms();
    v->probed = 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    v->probe_us = (t1.tv_sec - t0.tv_sec) * 1000000LL +
                  (t1.tv_nsec - t0.tv_nsec) / 1000;
}

/* End the probe's read and close its connection (through SQLite, which
 * keeps the locks of walship's other connections on the file). */
void ws_vali_probe_end(struct ws_validator *v)
{
    if (v->conn == NULL)
        return;
    if (!sqlite3_get_autocommit(v->conn))
        sqlite3_exec(v->conn, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(v->conn);
    v->conn = NULL;
}

/* Every page as the probe's read sees it, into the live copy, hashed. */
int ws_vali_copy_live(struct ws_validator *v, struct ws_err *err)
{
    sqlite3_stmt *st = NULL;
    struct ws_sha256 h;
    uint32_t n = 0;
    int rc = WS_OK, s;

    if (v->conn == NULL)
        return ws_err_set(err, WS_ESQLITE, "read the pages of %s: no read "
                          "transaction", v->cfg->path);
    if (sqlite3_prepare_v2(v->conn, "SELECT pgno, data FROM sqlite_dbpage",
                           -1, &st, NULL) != SQLITE_OK)
        return ws_err_set(err, WS_ESQLITE, "read the pages of %s: %s",
                          v->cfg->path, sqlite3_errmsg(v->conn));
    ws_sha256_init(&h);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const void *b = sqlite3_column_blob(st, 1);
        int len = sqlite3_column_bytes(st, 1);
        int64_t pgno = sqlite3_column_int64(st, 0);
        if (pgno != (int64_t)n + 1 || len != (int)v->page_size) {
            rc = ws_err_set(err, WS_ESQLITE, "read the pages of %s: page "
                            "%lld has %d bytes, after page %u",
                            v->cfg->path, (long long)pgno, len, n);
            break;
        }
        rc = ws_fs_pwrite(v->live_fd, b, (size_t)len,
                          (uint64_t)n * v->page_size, err);
        if (rc != WS_OK)
            break;
        ws_sha256_update(&h, b, (size_t)len);
        n++;
    }
    if (rc == WS_OK && s != SQLITE_DONE)
        rc = ws_err_set(err, WS_ESQLITE, "read the pages of %s: %s "
                        "(%d, after page %u)", v->cfg->path,
                        sqlite3_errmsg(v->conn), s, n);
    sqlite3_finalize(st);
    ws_sha256_final(&h, v->live_sha);
    v->live_pages = n;
    return rc;
}
