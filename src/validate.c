/*
 * validate.c: restore drills (see validate.h).
 */
#include "ws/validate.h"

#include "ws/cli.h"
#include "ws/control.h"
#include "ws/digest.h"
#include "ws/fs.h"
#include "ws/log.h"
#include "ws/plan.h"
#include "ws/restore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RUN_DIR "run"
#define LIVE_FILE "live.db"
#define PROBE_BUSY_MS 2000
#define POLL_MS 100          /* replicas' positions, while waiting */
#define RETRY_FIRST_MS 250   /* a sync that took no probe */
#define RETRY_MAX_MS 30000
#define REACH_MIN_MS 60000   /* how long replicas get to reach P */

/* ---- the pages of two files ------------------------------------------- */

/* What a restored file is, against the live copy when there is one. */
struct pages {
    uint8_t sha[WS_SHA256_LEN];
    uint64_t size;
    uint32_t ndiff;          /* pages that differ (or are on one side) */
    uint32_t first;          /* the first of them (1-based), 0: none */
};

/* Hash fd's pages (page size ps) into p and, when live >= 0, compare
 * them with live's. */
static int pages_of(int fd, int live, uint32_t ps, const char *name,
                    struct pages *p, struct ws_err *err)
{
    uint8_t *a = malloc(ps), *b = malloc(ps);
    struct ws_sha256 h;
    uint64_t off = 0;
    int rc = WS_OK;

    memset(p, 0, sizeof(*p));
    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    ws_sha256_init(&h);
    for (uint32_t pg = 1;; pg++, off += ps) {
        size_t got = 0, got2 = 0;
        rc = ws_fs_pread(fd, a, ps, off, &got, err);
        if (rc == WS_OK && live >= 0)
            rc = ws_fs_pread(live, b, ps, off, &got2, err);
        if (rc != WS_OK)
            break;
        if (got == 0 && got2 == 0)
            break;
        if (got > 0 && got < ps) {
            rc = ws_err_set(err, WS_ECORRUPT, "%s: %llu bytes, not a whole "
                            "number of %u-byte pages", name,
                            (unsigned long long)(off + got), ps);
            break;
        }
        ws_sha256_update(&h, a, got);
        p->size += got;
        if (live >= 0 && (got != got2 || memcmp(a, b, got) != 0)) {
            if (p->first == 0)
                p->first = pg;
            p->ndiff++;
        }
    }
    ws_sha256_final(&h, p->sha);
    free(a);
    free(b);
    return rc;
}

static void sha_hex(const uint8_t *sha, char out[2 * WS_SHA256_LEN + 1])
{
    ws_hex(sha, WS_SHA256_LEN, out);
}

static void pos_str(uint32_t index, uint64_t offset, char *buf, size_t n)
{
    snprintf(buf, n, "%08x:%llu", index, (unsigned long long)offset);
}

/* ---- walship verify ------------------------------------------------------ */

/* Restore replica k of db into dir (a directory of ours) and report. */
static int verify_one(const struct ws_verify_opts *o,
                      const struct ws_db_config *db, size_t k,
                      const char *dir, FILE *out, struct ws_err *err)
{
    const struct ws_replica_config *rcfg = &db->replicas[k];
    struct ws_restore_result res;
    struct ws_restore_opts ro;
    struct ws_cli_replicas reps;
    struct pages pg;
    char out_path[4200], meta[4200], t[40], hex[2 * WS_SHA256_LEN + 1];
    char at[40];
    int fd, rc;

    if ((size_t)snprintf(out_path, sizeof(out_path), "%s/%zu.db", dir, k) >=
            sizeof(out_path) ||
        (size_t)snprintf(meta, sizeof(meta), "%s/%zu.meta", dir, k) >=
            sizeof(meta))
        return ws_err_set(err, WS_EUSAGE, "temporary directory name too "
                          "long: %s", dir);
    memset(&ro, 0, sizeof(ro));
    ro.output = out_path;
    ro.db = db->path != NULL ? db->path : o->target;
    ro.meta = meta;
    ro.has_time = o->has_time;
    ro.time_us = o->time_us;
    ro.parallelism = 8;
    ro.no_carry = 1;
    ro.result = &res;
    rc = ws_cli_replicas_open(&reps, db, rcfg->name, err);
    if (rc == WS_OK)
        rc = ws_restore(reps.v, reps.n, &ro, err);
    ws_cli_replicas_close(&reps);
    if (rc != WS_OK) {
        fprintf(out, "replica=%s FAILED: %s\n", rcfg->name, err->msg);
        return ws_err_wrap(err, "verify replica=%s", rcfg->name);
    }
    fd = open(out_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return ws_err_set(err, WS_EIO, "open %s: %s", out_path,
                          strerror(errno));
    rc = pages_of(fd, -1, res.page_size, out_path, &pg, err);
    close(fd);
    unlink(out_path);
    if (rc != WS_OK)
        return rc;
    if (res.time_us > 0)
        ws_time_fmt(res.time_us, t, sizeof(t));
    else
        snprintf(t, sizeof(t), "unknown");
    sha_hex(pg.sha, hex);
    pos_str(res.index, res.offset, at, sizeof(at));
    fprintf(out,
            "replica=%s verified: generation=%s position=%s time=%s (%s) "
            "size=%llu pages=%u page_size=%u sha256=%s chain=ok "
            "integrity_check=ok\n",
            res.replica, res.generation, at, t,
            res.precise ? "commit time" : "object time",
            (unsigned long long)pg.size, res.pages, res.page_size, hex);
    return WS_OK;
}

/* A directory of our own under $TMPDIR (or /tmp), checked; its path in
 * buf. */
static int verify_tmpdir(char *buf, size_t n, struct ws_err *err)
{
    const char *tmp = getenv("TMPDIR");
    struct ws_fs_dir d;
    int rc;

    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    if ((size_t)snprintf(buf, n, "%s/walship-verify-XXXXXX", tmp) >= n)
        return ws_err_set(err, WS_EUSAGE, "TMPDIR too long: %s", tmp);
    if (mkdtemp(buf) == NULL)
        return ws_err_set(err, WS_EIO, "cannot make a temporary directory "
                          "in %s: %s", tmp, strerror(errno));
    rc = ws_fs_dir_open(&d, buf, WS_FS_NOFOLLOW, 0, NULL, err);
    ws_fs_dir_close(&d);
    if (rc != WS_OK) {
        rmdir(buf);
        return ws_err_wrap(err, "temporary directory");
    }
    return WS_OK;
}

/* Ask the running replicate of db for a drill (its control endpoint);
 * WS_ENOTFOUND when none serves db. */
static int verify_live(const struct ws_db_config *db, FILE *out,
                       struct ws_err *err)
{
    struct ws_ctl_call call;
    int rc;

    memset(&call, 0, sizeof(call));
    call.meta = db->meta_path;
    call.db = db->path;
    ws_info("verify: asking the running replicate of %s for a restore "
            "drill", db->path);
    rc = ws_ctl_call_all(&call, 1, "verify", -1, NULL, NULL);
    if (rc == WS_ENOTFOUND) {
        *err = call.err;
        return rc;
    }
    if (rc == WS_OK) {
        fprintf(out, "live comparison: made by the running replicate of "
                "%s: %s\n", db->path, call.text);
        return WS_OK;
    }
    fprintf(out, "live comparison: FAILED: %s\n", call.err.msg);
    *err = call.err;
    return rc;
}

int ws_verify_run(const struct ws_verify_opts *o, FILE *out,
                  struct ws_err *err)
{
    struct ws_config *cfg = NULL;
    const struct ws_db_config *db = NULL;
    struct ws_err first = {0}, e;
    char dir[4200];
    size_t nrep = 0;
    int rc, worst = WS_OK;

    rc = ws_cli_find_db(o->target, o->config, o->expand_env, &cfg, &db, err);
    if (rc != WS_OK)
        return rc;
    ws_cli_log_init(cfg, o->verbose, 0);
    if (o->replica) {
        for (nrep = 0; nrep < db->nreplicas; nrep++)
            if (strcmp(db->replicas[nrep].name, o->replica) == 0)
                break;
        if (nrep == db->nreplicas) {
            rc = ws_err_set(err, WS_EUSAGE, "replica \"%s\" not found for "
                            "database \"%s\"", o->replica,
                            db->path ? db->path : o->target);
            ws_config_free(cfg);
            return rc;
        }
    }
    /* A live database, in its newest state, of every replica: the
     * running replicate compares (validate.h). */
    if (db->path && !o->has_time && !o->replica) {
        struct ws_err le = {0};
        rc = verify_live(db, out, &le);
        if (rc != WS_ENOTFOUND) {
            ws_config_free(cfg);
            if (rc != WS_OK)
                *err = le;
            return rc;
        }
        ws_info("verify: %s; restoring the replicas here", le.msg);
    }
    rc = verify_tmpdir(dir, sizeof(dir), err);
    if (rc != WS_OK) {
        ws_config_free(cfg);
        return rc;
    }
    for (size_t k = 0; k < db->nreplicas; k++) {
        if (o->replica && k != nrep)
            continue;
        memset(&e, 0, sizeof(e));
        rc = verify_one(o, db, k, dir, out, &e);
        if (rc != WS_OK && (worst == WS_OK ||
                            (rc == WS_ECORRUPT && worst != WS_ECORRUPT))) {
            worst = rc;
            first = e;
        }
    }
    ws_fs_rm_rf(dir, NULL);
    if (db->path && (o->has_time || o->replica))
        fprintf(out, "live comparison: not made: with %s, verify restores "
                "on its own (a running replicate compares every replica's "
                "newest state: walship verify %s)\n",
                o->has_time ? "-timestamp" : "-replica", db->path);
    else if (db->path)
        fprintf(out, "live comparison: not made: no running walship "
                "replicate serves %s (it compares a restore with the "
                "database at the same transaction)\n", db->path);
    else
        fprintf(out, "live comparison: not made: a replica URL names no "
                "database\n");
    ws_config_free(cfg);
    if (worst != WS_OK)
        *err = first;
    return worst;
}

/* ---- validation inside replicate ----------------------------------------- */

enum vstate {
    V_IDLE,      /* the timer waits for the next due drill */
    V_WANT,      /* the next sync takes a probe */
    V_HASH,      /* the live pages are copied on the pool */
    V_WAIT,      /* replicas have not all shipped P */
    V_RESTORE,   /* the restore thread runs */
};

struct vrep {
    int64_t next_ms;         /* next due drill (monotonic); INT64_MAX off */
    int sel;                 /* in the drill in progress */
    int rc;                  /* its outcome: WS_OK, or an error */
    enum ws_valid_result res;
    struct ws_err err;
    struct ws_restore_result rr;
    struct pages pg;
    char file[64];           /* its restored file, in the run dir */
};

struct ws_validator {
    uv_loop_t *loop;
    const struct ws_db_config *cfg;
    struct ws_validate_hooks h;
    uv_timer_t timer;
    uv_async_t async;
    uv_work_t work;
    uv_thread_t thread;
    int thread_on;
    enum vstate state;
    int stopping, closed;
    int64_t retry_ms;
    int64_t want_t0;         /* when the drill asked for a probe */
    int64_t wait_t0;
    struct vrep *reps;
    void (*done)(void *ctx, enum ws_valid_result r, const char *summary);
    void *done_ctx;
    /* A request made while a drill ran: the next drill, at once. */
    void (*q_done)(void *ctx, enum ws_valid_result r, const char *summary);
    void *q_ctx;
    int queued;

    /* The probe (set on the sync's thread, read after it on the loop). */
    int inflight;            /* handed to a sync not reported done yet */
    sqlite3 *conn;
    int probed;
    char perr[WS_ERR_MSG];
    char gen[WS_GEN_LEN + 1];
    uint32_t index;
    uint64_t offset;
    uint32_t page_size;
    int64_t probe_wall_ms;
    int64_t probe_us;        /* the probe's time under the write lock */

    /* The drill's directory and the live copy (the hash job). */
    struct ws_fs_dir vdir, run;
    int live_fd;
    int hrc;
    struct ws_err herr;
    uint8_t live_sha[WS_SHA256_LEN];
    uint32_t live_pages;

    struct ws_validation_stats st;
};

static void v_arm(struct ws_validator *v);
static void v_start(struct ws_validator *v);

static void v_timer(struct ws_validator *v, int64_t ms, uv_timer_cb cb)
{
    if (v->closed)
        return;
    uv_timer_start(&v->timer, cb, (uint64_t)(ms > 0 ? ms : 0), 0);
}

/* Under the write lock (db.h): begin the read transaction that sees P. */
static void on_probe(void *ctx, const char *gen, uint32_t index,
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
static void probe_end(struct ws_validator *v)
{
    if (v->conn == NULL)
        return;
    if (!sqlite3_get_autocommit(v->conn))
        sqlite3_exec(v->conn, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(v->conn);
    v->conn = NULL;
}

/* Every page as the probe's read sees it, into the live copy, hashed. */
static int copy_live(struct ws_validator *v, struct ws_err *err)
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

static void on_hash_work(uv_work_t *w)
{
    struct ws_validator *v = w->data;

    v->hrc = copy_live(v, &v->herr);
    probe_end(v);
}

static void v_after_hash(struct ws_validator *v);

static void on_hash_done(uv_work_t *w, int status)
{
    (void)status;
    v_after_hash(w->data);
}

/* The drill's directory, empty: <meta>/validation/run. */
static int run_open(struct ws_validator *v, struct ws_err *err)
{
    int rc;

    if (v->vdir.fd < 0) {
        char *p = ws_path_join(v->cfg->meta_path, "validation");
        if (p == NULL)
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        rc = ws_fs_dir_open(&v->vdir, p, WS_FS_CREATE | WS_FS_NOFOLLOW,
                            0700, NULL, err);
        free(p);
        if (rc != WS_OK)
            return rc;
    }
    ws_fs_dir_close(&v->run);
    rc = ws_fs_rm_rf_at(&v->vdir, RUN_DIR, err);
    if (rc == WS_OK)
        rc = ws_fs_dir_sub(&v->run, &v->vdir, RUN_DIR, WS_FS_CREATE, 0700,
                           err);
    if (rc != WS_OK)
        return rc;
    v->live_fd = openat(v->run.fd, LIVE_FILE,
                        O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0600);
    if (v->live_fd < 0)
        return ws_err_set(err, WS_EIO, "create %s/%s: %s", v->run.path,
                          LIVE_FILE, strerror(errno));
    return WS_OK;
}

/* Failed drills' directories in the validation directory. */
static int count_failed(const struct ws_validator *v)
{
    int fd = fcntl(v->vdir.fd, F_DUPFD_CLOEXEC, 0), n = 0;
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;

    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    while ((de = readdir(d)) != NULL)
        n += strncmp(de->d_name, "failed-", 7) == 0;
    closedir(d);
    return n;
}

static void run_close(struct ws_validator *v, int keep)
{
    char name[64], at[32];
    struct tm tm;
    time_t now = time(NULL);
    int kept = 0, full = 0, e = 0;

    if (v->live_fd >= 0) {
        if (keep)
            fsync(v->live_fd);
        close(v->live_fd);
        v->live_fd = -1;
    }
    ws_fs_dir_close(&v->run);
    if (v->vdir.fd < 0)
        return;
    if (keep)
        full = count_failed(v) >= WS_VALIDATE_KEEP;
    if (keep && !full) {
        gmtime_r(&now, &tm);
        strftime(at, sizeof(at), "%Y%m%dT%H%M%SZ", &tm);
        for (int i = 1; i <= WS_VALIDATE_KEEP && !kept; i++) {
            snprintf(name, sizeof(name), "failed-%s-%d", at, i);
            kept = renameat(v->vdir.fd, RUN_DIR, v->vdir.fd, name) == 0;
            e = errno;
        }
        if (kept) {
            fsync(v->vdir.fd);
            ws_error("validation: both copies kept for diagnosis db=%s "
                     "dir=%s/%s (%s: the database at the position; "
                     "restored-N.db: replica N restored to it)",
                     v->cfg->path, v->vdir.path, name, LIVE_FILE);
            return;
        }
    }
    if (full)
        ws_error("validation: copies not kept db=%s: %d failed drills' "
                 "directories are kept already in %s (remove them to keep "
                 "more)", v->cfg->path, WS_VALIDATE_KEEP, v->vdir.path);
    else if (keep)
        ws_error("validation: copies not kept db=%s: rename %s/%s: %s",
                 v->cfg->path, v->vdir.path, RUN_DIR, strerror(e));
    ws_fs_rm_rf_at(&v->vdir, RUN_DIR, NULL);
}

/* The restore thread: each replica of the drill restored to exactly P
 * and compared with the live copy. */
static void restore_thread(void *arg)
{
    struct ws_validator *v = arg;

    for (size_t k = 0; k < v->cfg->nreplicas; k++) {
        struct vrep *r = &v->reps[k];
        struct ws_restore_opts ro;
        struct ws_cli_replicas reps;
        char out[4300], meta[4300];
        int fd;

        if (!r->sel || r->res != WS_VALID_NONE)
            continue;
        snprintf(r->file, sizeof(r->file), "restored-%zu.db", k);
        if ((size_t)snprintf(out, sizeof(out), "%s/%s", v->run.path,
                             r->file) >= sizeof(out) ||
            (size_t)snprintf(meta, sizeof(meta), "%s/restored-%zu.meta",
                             v->run.path, k) >= sizeof(meta)) {
            r->rc = ws_err_set(&r->err, WS_EUSAGE, "meta dir path too "
                               "long: %s", v->run.path);
            r->res = WS_VALID_INCOMPLETE;
            continue;
        }
        memset(&ro, 0, sizeof(ro));
        ro.output = out;
        ro.db = v->cfg->path;
        ro.meta = meta;
        ro.generation = v->gen;
        ro.has_index = ro.has_offset = 1;
        ro.index = v->index;
        ro.offset = v->offset;
        ro.parallelism = 2;
        ro.no_signals = 1;
        ro.no_carry = 1;
        ro.result = &r->rr;
        r->rc = ws_cli_replicas_open(&reps, v->cfg, v->cfg->replicas[k].name,
                                     &r->err);
        if (r->rc == WS_OK)
            r->rc = ws_restore(reps.v, reps.n, &ro, &r->err);
        ws_cli_replicas_close(&reps);
        if (r->rc == WS_OK &&
            (strcmp(r->rr.generation, v->gen) != 0 ||
             r->rr.index != v->index || r->rr.offset != v->offset)) {
            char a[40], b[40];
            pos_str(r->rr.index, r->rr.offset, a, sizeof(a));
            pos_str(v->index, v->offset, b, sizeof(b));
            r->rc = ws_err_set(&r->err, WS_ECORRUPT, "the replica restores "
                               "generation %s to %s only, short of %s, "
                               "which it has shipped", r->rr.generation, a,
                               b);
        }
        if (r->rc == WS_OK) {
            fd = openat(v->run.fd, r->file, O_RDONLY | O_NOFOLLOW |
                                            O_CLOEXEC);
            if (fd < 0)
                r->rc = ws_err_set(&r->err, WS_EIO, "open %s: %s", out,
                                   strerror(errno));
            else
                r->rc = pages_of(fd, v->live_fd, v->page_size, out, &r->pg,
                                 &r->err);
            if (fd >= 0)
                close(fd);
        }
        if (r->rc == WS_OK && (r->pg.ndiff > 0 ||
                               memcmp(r->pg.sha, v->live_sha,
                                      WS_SHA256_LEN) != 0))
            r->res = WS_VALID_FAILED;
        else if (r->rc == WS_OK)
            r->res = WS_VALID_OK;
        else
            r->res = r->rc == WS_ECORRUPT ? WS_VALID_FAILED
                                          : WS_VALID_INCOMPLETE;
    }
    uv_async_send(&v->async);
}

/* Log each replica's outcome; the drill's result and a summary. */
static enum ws_valid_result report(struct ws_validator *v, char *sum,
                                   size_t n)
{
    enum ws_valid_result all = WS_VALID_OK;
    char at[40], t[40], hex[2 * WS_SHA256_LEN + 1];
    char rh[2 * WS_SHA256_LEN + 1];
    size_t used = 0;

    if (v->gen[0] == '\0')
        snprintf(at, sizeof(at), "none (not read yet)");
    else
        pos_str(v->index, v->offset, at, sizeof(at));
    ws_time_fmt(v->probe_wall_ms * 1000, t, sizeof(t));
    sha_hex(v->live_sha, hex);
    sum[0] = '\0';
    for (size_t k = 0; k < v->cfg->nreplicas; k++) {
        struct vrep *r = &v->reps[k];
        const char *name = v->cfg->replicas[k].name;
        char line[WS_ERR_MSG + 256];
        if (!r->sel)
            continue;
        if (r->res == WS_VALID_OK) {
            snprintf(line, sizeof(line), "replica=%s ok", name);
            ws_info("validation ok db=%s replica=%s generation=%s "
                    "position=%s read_at=%s pages=%u sha256=%s: the "
                    "restored database equals the database at that "
                    "transaction",
                    v->cfg->path, name, v->gen, at, t, v->live_pages, hex);
        } else if (r->res == WS_VALID_FAILED && r->rc == WS_OK) {
            sha_hex(r->pg.sha, rh);
            snprintf(line, sizeof(line), "replica=%s FAILED: %u pages "
                     "differ, the first page %u", name, r->pg.ndiff,
                     r->pg.first);
            ws_error("validation FAILED db=%s replica=%s generation=%s "
                     "position=%s: the restored database differs from the "
                     "database at that transaction (read at %s): %u pages "
                     "differ, the first page %u (live: %u pages sha256=%s; "
                     "restored: %llu bytes sha256=%s)",
                     v->cfg->path, name, v->gen, at, t, r->pg.ndiff,
                     r->pg.first, v->live_pages, hex,
                     (unsigned long long)r->pg.size, rh);
        } else if (r->res == WS_VALID_FAILED) {
            snprintf(line, sizeof(line), "replica=%s FAILED: %s", name,
                     r->err.msg);
            ws_error("validation FAILED db=%s replica=%s generation=%s "
                     "position=%s: the replica does not restore: %s",
                     v->cfg->path, name, v->gen, at, r->err.msg);
        } else {
            snprintf(line, sizeof(line), "replica=%s not compared: %s",
                     name, r->err.msg);
            ws_warn("validation not completed db=%s replica=%s "
                    "generation=%s position=%s: %s", v->cfg->path, name,
                    v->gen, at, r->err.msg);
        }
        if (r->res == WS_VALID_FAILED)
            all = WS_VALID_FAILED;
        else if (r->res != WS_VALID_OK && all == WS_VALID_OK)
            all = WS_VALID_INCOMPLETE;
        if (used < n)
            used += (size_t)snprintf(sum + used, n - used, "%s%s",
                                     used ? "; " : "", line);
    }
    return all;
}

/* Tell the requester of the drill, if any, its result. */
static void v_done(struct ws_validator *v, enum ws_valid_result r,
                   const char *summary)
{
    void (*done)(void *, enum ws_valid_result, const char *) = v->done;

    v->done = NULL;
    if (done)
        done(v->done_ctx, r, summary);
}

/* The queued request becomes the current one; 0 when there is none. */
static int q_take(struct ws_validator *v)
{
    if (!v->queued)
        return 0;
    v->queued = 0;
    v->done = v->q_done;
    v->done_ctx = v->q_ctx;
    v->q_done = NULL;
    return 1;
}

/* The drill is over: counters, copies, the requester, the next one. */
static void v_finish(struct ws_validator *v, const char *why)
{
    enum ws_valid_result all;
    char sum[WS_ERR_MSG];

    if (why && v->stopping) {
        /* Not a result: the drill was cut short by the shutdown. */
        ws_info("validation abandoned db=%s: %s", v->cfg->path, why);
        run_close(v, 0);
        v->state = V_IDLE;
        for (size_t k = 0; k < v->cfg->nreplicas; k++)
            v->reps[k].sel = 0;
        v_done(v, WS_VALID_INCOMPLETE, why);
        if (q_take(v))
            v_done(v, WS_VALID_INCOMPLETE, why);
        return;
    }
    if (why) {
        /* Nothing compared. */
        for (size_t k = 0; k < v->cfg->nreplicas; k++)
            if (v->reps[k].sel && v->reps[k].res == WS_VALID_NONE) {
                v->reps[k].res = WS_VALID_INCOMPLETE;
                ws_err_set(&v->reps[k].err, WS_EIO, "%s", why);
            }
    }
    all = report(v, sum, sizeof(sum));
    v->st.runs++;
    v->st.last = all;
    v->st.last_ms = ws_wall_ms();
    if (all == WS_VALID_FAILED) {
        v->st.failed++;
        snprintf(v->st.last_msg, sizeof(v->st.last_msg), "%s", sum);
    } else {
        v->st.last_msg[0] = '\0';
        if (all == WS_VALID_INCOMPLETE)
            v->st.incomplete++;
    }
    run_close(v, all == WS_VALID_FAILED);
    v->state = V_IDLE;
    for (size_t k = 0; k < v->cfg->nreplicas; k++)
        v->reps[k].sel = 0;
    v_done(v, all, sum);
    if (q_take(v)) {
        for (size_t k = 0; k < v->cfg->nreplicas; k++)
            v->reps[k].sel = 1;
        v_start(v);
        return;
    }
    v_arm(v);
}

static void on_async(uv_async_t *a)
{
    struct ws_validator *v = a->data;

    if (v->state != V_RESTORE)
        return;
    uv_thread_join(&v->thread);
    v->thread_on = 0;
    v_finish(v, NULL);
}

/* 1 when replica k has shipped P; -1 when it never will (another
 * generation). */
static int reached(struct ws_validator *v, size_t k)
{
    const char *gen;
    uint32_t index;
    uint64_t off;

    if (!v->h.rep_pos(v->h.ctx, k, &gen, &index, &off))
        return 0;
    if (strcmp(gen, v->gen) != 0)
        return -1;
    return index > v->index || (index == v->index && off >= v->offset);
}

static void on_wait(uv_timer_t *t)
{
    struct ws_validator *v = t->data;
    int64_t bound = REACH_MIN_MS;
    int all = 1;

    if (v->stopping) {
        v_finish(v, "walship is shutting down");
        return;
    }
    for (size_t k = 0; k < v->cfg->nreplicas; k++) {
        struct vrep *r = &v->reps[k];
        int x;
        if (!r->sel || r->res != WS_VALID_NONE)
            continue;
        if (10 * v->cfg->replicas[k].sync_interval_ms > bound)
            bound = 10 * v->cfg->replicas[k].sync_interval_ms;
        x = reached(v, k);
        if (x < 0) {
            r->res = WS_VALID_INCOMPLETE;
            ws_err_set(&r->err, WS_EIO, "the replica moved to another "
                       "generation before it shipped the position");
        } else if (x == 0) {
            all = 0;
        }
    }
    if (!all && ws_now_ms() - v->wait_t0 > bound) {
        char b[32];
        snprintf(b, sizeof(b), "%llds", (long long)(bound / 1000));
        for (size_t k = 0; k < v->cfg->nreplicas; k++)
            if (v->reps[k].sel && v->reps[k].res == WS_VALID_NONE) {
                v->reps[k].res = WS_VALID_INCOMPLETE;
                ws_err_set(&v->reps[k].err, WS_EIO, "the replica did not "
                           "ship the position within %s", b);
            }
        all = 1;
    }
    if (!all) {
        v_timer(v, POLL_MS, on_wait);
        return;
    }
    v->state = V_RESTORE;
    if (uv_thread_create(&v->thread, restore_thread, v) != 0) {
        v_finish(v, "cannot start a thread");
        return;
    }
    v->thread_on = 1;
}

static void v_after_hash(struct ws_validator *v)
{
    if (v->hrc != WS_OK) {
        v_finish(v, v->herr.msg);
        return;
    }
    if (v->stopping) {
        v_finish(v, "walship is shutting down");
        return;
    }
    v->state = V_WAIT;
    v->wait_t0 = ws_now_ms();
    on_wait(&v->timer);
}

static void on_retry(uv_timer_t *t)
{
    struct ws_validator *v = t->data;

    if (v->state == V_WANT && !v->stopping)
        v->h.kick(v->h.ctx);
}

void ws_validator_sync_opts(struct ws_validator *v,
                            struct ws_db_sync_opts *o)
{
    o->probe = NULL;
    o->probe_ctx = NULL;
    if (v == NULL || v->state != V_WANT || v->stopping || v->inflight)
        return;
    v->inflight = 1;
    v->probed = 0;
    o->probe = on_probe;
    o->probe_ctx = v;
}

void ws_validator_synced(struct ws_validator *v)
{
    struct ws_err e = {0};
    char at[40];

    if (v == NULL || !v->inflight)
        return;
    v->inflight = 0;
    if (v->stopping) {
        probe_end(v);
        v_finish(v, "walship is shutting down");
        return;
    }
    if (!v->probed) {
        /* No locked window this time (the lock was busy, the database is
         * awaited, frames are held back): the next sync, soon. */
        if (v->perr[0])
            ws_warn("validation: no read at a position db=%s: %s",
                    v->cfg->path, v->perr);
        probe_end(v);
        if (ws_now_ms() - v->want_t0 > REACH_MIN_MS) {
            v_finish(v, "no position could be read in a minute (walship "
                        "could not take the write lock, or the database "
                        "does not replicate)");
            return;
        }
        v_timer(v, v->retry_ms, on_retry);
        v->retry_ms = v->retry_ms * 2 < RETRY_MAX_MS ? v->retry_ms * 2
                                                     : RETRY_MAX_MS;
        return;
    }
    v->retry_ms = RETRY_FIRST_MS;
    pos_str(v->index, v->offset, at, sizeof(at));
    ws_debug("validation: reading the database at generation=%s "
             "position=%s db=%s (the read began in %lldus under the "
             "write lock)", v->gen, at, v->cfg->path,
             (long long)v->probe_us);
    if (run_open(v, &e) != WS_OK) {
        probe_end(v);
        v_finish(v, e.msg);
        return;
    }
    v->state = V_HASH;
    v->work.data = v;
    if (uv_queue_work(v->loop, &v->work, on_hash_work, on_hash_done) != 0) {
        probe_end(v);
        v_finish(v, "cannot queue work");
    }
}

/* Start a drill of the replicas marked sel. */
static void v_start(struct ws_validator *v)
{
    for (size_t k = 0; k < v->cfg->nreplicas; k++) {
        struct vrep *r = &v->reps[k];
        r->res = WS_VALID_NONE;
        r->rc = WS_OK;
        memset(&r->err, 0, sizeof(r->err));
    }
    v->state = V_WANT;
    v->retry_ms = RETRY_FIRST_MS;
    v->gen[0] = '\0'; /* no position read yet */
    v->want_t0 = ws_now_ms();
    v->h.kick(v->h.ctx);
}

static void on_due(uv_timer_t *t)
{
    struct ws_validator *v = t->data;
    int64_t now = ws_now_ms();
    int any = 0;

    if (v->state != V_IDLE || v->stopping)
        return;
    for (size_t k = 0; k < v->cfg->nreplicas; k++) {
        struct vrep *r = &v->reps[k];
        int64_t iv = v->cfg->replicas[k].validation_interval_ms;
        r->sel = r->next_ms <= now;
        if (r->sel) {
            r->next_ms = now + iv;
            any = 1;
        }
    }
    if (any)
        v_start(v);
    else
        v_arm(v);
}

/* Arm the timer for the next due drill. */
static void v_arm(struct ws_validator *v)
{
    int64_t next = INT64_MAX, now = ws_now_ms();

    if (v->stopping || v->state != V_IDLE)
        return;
    for (size_t k = 0; k < v->cfg->nreplicas; k++)
        if (v->reps[k].next_ms < next)
            next = v->reps[k].next_ms;
    if (next != INT64_MAX)
        v_timer(v, next - now, on_due);
}

int ws_validator_new(uv_loop_t *loop, const struct ws_db_config *cfg,
                     const struct ws_validate_hooks *h,
                     struct ws_validator **out, struct ws_err *err)
{
    struct ws_validator *v = calloc(1, sizeof(*v));
    int64_t now = ws_now_ms();

    if (v == NULL ||
        (v->reps = calloc(cfg->nreplicas ? cfg->nreplicas : 1,
                          sizeof(*v->reps))) == NULL) {
        free(v);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    v->loop = loop;
    v->cfg = cfg;
    v->h = *h;
    v->live_fd = -1;
    v->vdir.fd = v->run.fd = -1;
    v->retry_ms = RETRY_FIRST_MS;
    uv_timer_init(loop, &v->timer);
    uv_async_init(loop, &v->async, on_async);
    v->timer.data = v->async.data = v;
    for (size_t k = 0; k < cfg->nreplicas; k++) {
        int64_t iv = cfg->replicas[k].validation_interval_ms;
        v->reps[k].next_ms = iv > 0 ? now + iv : INT64_MAX;
        if (iv > 0)
            ws_info("validation db=%s replica=%s validation-interval=%lldms: "
                    "each drill restores the replica to a position read "
                    "from the database and compares every page",
                    cfg->path, cfg->replicas[k].name, (long long)iv);
    }
    v_arm(v);
    *out = v;
    return WS_OK;
}

int ws_validator_request(struct ws_validator *v,
                         void (*done)(void *ctx, enum ws_valid_result r,
                                      const char *summary),
                         void *ctx)
{
    if (v->stopping || v->queued)
        return WS_EBUSY;
    if (v->state != V_IDLE) {
        /* After the drill in progress, whose position may be older. */
        v->queued = 1;
        v->q_done = done;
        v->q_ctx = ctx;
        return WS_OK;
    }
    uv_timer_stop(&v->timer);
    for (size_t k = 0; k < v->cfg->nreplicas; k++)
        v->reps[k].sel = 1;
    v->done = done;
    v->done_ctx = ctx;
    v_start(v);
    return WS_OK;
}

void ws_validator_forget(struct ws_validator *v, void *ctx)
{
    if (v->done_ctx == ctx)
        v->done = NULL;
    if (v->queued && v->q_ctx == ctx)
        v->q_done = NULL;
}

struct ws_validation_stats ws_validator_stats(const struct ws_validator *v)
{
    return v->st;
}

void ws_validator_stop(struct ws_validator *v)
{
    if (v == NULL)
        return;
    v->stopping = 1;
    uv_timer_stop(&v->timer);
    /* A probe handed to a sync in flight ends in ws_validator_synced. */
    if (v->state == V_WANT && !v->inflight) {
        v_finish(v, "walship is shutting down");
    } else if (v->state == V_WAIT) {
        v_finish(v, "walship is shutting down");
    }
}

void ws_validator_close(struct ws_validator *v, uv_close_cb cb)
{
    if (v == NULL || v->closed)
        return;
    if (v->thread_on) {
        uv_thread_join(&v->thread);
        v->thread_on = 0;
        v_finish(v, NULL);
    }
    v->closed = 1;
    uv_close((uv_handle_t *)&v->timer, cb);
    uv_close((uv_handle_t *)&v->async, cb);
}

void ws_validator_free(struct ws_validator *v)
{
    if (v == NULL)
        return;
    probe_end(v);
    if (v->live_fd >= 0)
        close(v->live_fd);
    ws_fs_dir_close(&v->run);
    ws_fs_dir_close(&v->vdir);
    free(v->reps);
    free(v);
}
