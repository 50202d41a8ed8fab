/*
 * restore_finish.c: the tail of a built restore, before it is published.
 *
 * ws_rfinish_start() queues two jobs on the pool while the loop keeps
 * taking signals: the fsync of the built file (and, when the position
 * is carried over, the hash of its contents), and PRAGMA
 * integrity_check (integrity(): through the descriptor the file was
 * built in, mapped and handed to SQLite as a read-only in-memory
 * database, so that the file checked is the one published and nothing
 * is created beside it).  ws_rfinish_wait() runs the loop until both are
 * done and gives the first failure.
 *
 * Carrying the position over (meta.h): only when the restore is of the
 * newest state of the newest generation and that state has a WAL
 * segment after its snapshot (ws_rfinish_carry_wanted) may a replicate
 * started on the restored database continue its generation; the last
 * index's WAL bytes are kept in an unlinked file beside the output
 * (ws_rfinish_carry_open) and, once the restore is published, installed
 * as the meta dir's shadow WAL and position (ws_rfinish_carry_install).
 * A failure there is said and only costs the carry-over: the replicate
 * then starts a new generation.
 *
 * Called by restore.c only.
 */
#include "ws/restore_int.h"
#include "ws/log.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the whole restore -------------------------------------------------- */

/*
 * PRAGMA integrity_check of the built file, read through the descriptor
 * it was built in (mapped privately and handed to SQLite as an in-memory
 * database that it cannot write): whatever anyone puts at any name
 * meanwhile, the file checked is the one that is published, and the
 * check takes no lock and creates nothing (-wal, -shm, journal) beside
 * it.  SQLite reads its pages straight from the mapping.
 */
static int integrity(int fd, const char *name, struct ws_err *err)
{
    char result[256] = "";
    sqlite3 *c = NULL;
    sqlite3_stmt *st = NULL;
    struct stat sb;
    void *map = MAP_FAILED;
    int rc = WS_OK;

    if (fstat(fd, &sb) != 0 || sb.st_size <= 0)
        return ws_err_set(err, WS_EIO, "restored database %s: %s", name,
                          sb.st_size <= 0 ? "empty" : strerror(errno));
    map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        return ws_err_set(err, WS_EIO, "mmap %s: %s", name, strerror(errno));
    /* An in-memory database cannot be in WAL mode: in a private copy of
     * the first memory page only (mapped over the shared one), the
     * header's read and write versions (2: WAL) say rollback journal,
     * which integrity_check does not look at. */
    if (sb.st_size >= DB_HDR && ((uint8_t *)map)[18] == 2 &&
        ((uint8_t *)map)[19] == 2) {
        size_t pg = (size_t)sysconf(_SC_PAGESIZE);
        if (mmap(map, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED,
                 fd, 0) == MAP_FAILED) {
            munmap(map, (size_t)sb.st_size);
            return ws_err_set(err, WS_EIO, "mmap %s: %s", name,
                              strerror(errno));
        }
        ((uint8_t *)map)[18] = ((uint8_t *)map)[19] = 1;
    }
    if (sqlite3_open_v2(":memory:", &c,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_deserialize(c, "main", map, sb.st_size, sb.st_size,
                            SQLITE_DESERIALIZE_READONLY) != SQLITE_OK ||
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
    munmap(map, (size_t)sb.st_size);
    return rc;
}

/* ---- carrying the position over (meta.h) ------------------------------ */

/* Only the newest state of the newest generation: continuing from
 * anything older would fork the replica's history.  That state needs a
 * WAL segment after its snapshot too, for the shadow's WAL header; when
 * it has none, this says so (the plan line already says an older state
 * is not the newest). */
int ws_rfinish_carry_wanted(const struct choice *c,
                            const struct ws_catalog *cats, size_t n,
                            const struct ws_restore_opts *o)
{
    const struct ws_plan *p = &c->plan;
    const struct ws_geninfo *g = p->g;

    if (o->has_index || o->no_carry || !p->newest)
        return 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < cats[i].ngens; k++)
            if (ws_gen_cmp(&cats[i].gens[k], g) > 0)
                return 0;
    if (p->nsegs == 0) {
        ws_info("restore: position not carried over: generation %s has no "
                "WAL segment after its snapshot; the next replicate starts "
                "a new generation db=%s", g->name, o->db);
        return 0;
    }
    return p->seg0 + p->nsegs == g->nsegs &&
           g->segs[g->nsegs - 1].index == p->index;
}


static void on_finish_work(uv_work_t *w)
{
    struct finish *f = w->data;
    struct rs *rs = f->rs;

    f->rc = ws_fs_fsync(rs->fd, rs->tmp, &f->err);
    if (f->rc == WS_OK && rs->carry) {
        f->rc = ws_resume_hash(rs->fd, &f->r.db_size, f->r.sha256, &f->err);
        if (f->rc != WS_OK)
            ws_err_wrap(&f->err, "%s", rs->tmp);
    }
}

static void on_check_db_work(uv_work_t *w)
{
    struct finish *f = w->data;

    f->crc = integrity(f->rs->fd, f->rs->tmp, &f->cerr);
}

static void on_finish_done(uv_work_t *w, int status)
{
    struct finish *f = w->data;

    (void)status;
    f->left--;
}

void ws_rfinish_start(struct rs *rs, struct finish *f)
{
    memset(f, 0, sizeof(*f));
    f->rs = rs;
    f->work.data = f->check.data = f;
    f->left = 2;
    uv_queue_work(rs->loop, &f->work, on_finish_work, on_finish_done);
    uv_queue_work(rs->loop, &f->check, on_check_db_work, on_finish_done);
}

/* Wait for both; the first failure, integrity_check's first. */
int ws_rfinish_wait(struct rs *rs, struct finish *f, struct ws_err *err)
{
    while (f->left > 0)
        uv_run(rs->loop, UV_RUN_ONCE);
    if (f->crc != WS_OK) {
        *err = f->cerr;
        return f->crc;
    }
    if (f->rc != WS_OK) {
        *err = f->err;
        return f->rc;
    }
    return WS_OK;
}

/* Leave the restored position in the output's meta dir, made now (fs.h:
 * created and checked, or an existing one checked).  Failing here only
 * costs the next replicate a new generation, so it warns, and removes
 * the meta dir again if this made it. */
void ws_rfinish_carry_install(struct rs *rs, struct finish *h,
                              const char *meta)
{
    const struct ws_plan *p = rs->p;
    struct ws_fs_dir md;
    struct ws_err e = {0};
    int created = 0, rc;

    memcpy(h->r.gen, p->g->name, sizeof(h->r.gen));
    h->r.index = p->index;
    h->r.wal_size = rs->carry_size;
    rc = ws_fs_dir_open(&md, meta, WS_FS_CREATE | WS_FS_NOFOLLOW, 0700,
                        &created, &e);
    if (rc == WS_OK)
        rc = ws_resume_write(&md, &h->r, rs->carry_fd, &e);
    ws_fs_dir_close(&md);
    if (rc != WS_OK && created)
        ws_fs_rm_rf(meta, NULL);
    if (rc != WS_OK)
        ws_warn("restore: position not carried over, the next replicate "
                "starts a new generation db=%s: %s", rs->db, e.msg);
    else
        ws_info("restore: position carried over in %s: db=%s generation=%s "
                "index=%08x offset=%llu; replicate continues it while "
                "the database is unchanged",
                meta, rs->db, h->r.gen, h->r.index,
                (unsigned long long)h->r.wal_size);
}

/* Open the unlinked file the last index's bytes are kept in while they
 * are verified, beside the output (the meta dir is made only on
 * success).  On failure the restore goes on without. */
void ws_rfinish_carry_open(struct rs *rs, const struct target *t)
{
    struct ws_err e = {0};
    char name[NAME_MAX + 1];

    rs->carry_fd = -1;
    if (ws_fs_tmp_anon(&t->dir, t->base, 0600, name, sizeof(name),
                       &rs->carry_fd, &e) == WS_OK) {
        if (name[0] != '\0')
            unlinkat(t->dir.fd, name, 0);
    } else
        ws_warn("restore: position not carried over db=%s: %s", rs->db,
                e.msg);
    rs->carry = rs->carry_fd >= 0;
}
