/*
 * test_db.c: walship's checkpoints against a real SQLite database, with
 * "the application" as other connections of this process (SQLite's WAL
 * locks work between connections of one process as between processes).
 *
 *  - backfill_without_lock: the bulk backfill needs no write lock.  With
 *    the application holding the write lock, a checkpoint backfills every
 *    copied frame and then gives up on the lock; until walship's locked
 *    window the WAL cannot restart.
 *  - seal_after_app_checkpoint: the race of the code review.  Inside
 *    walship's locked window an application reader stops its PASSIVE
 *    short; the reader ends and the application's own checkpoint
 *    completes before walship reads again, so walship's read lands on
 *    slot 0.  walship must see that the index is sealed: otherwise, once
 *    the next index outgrows the old one, it would report the WAL
 *    overwritten and start a new generation.
 *  - snapshot_at_position: a snapshot is the database exactly at the
 *    shadow's position, although the database file lags behind it
 *    (frames copied, not backfilled) and the WAL holds more (frames not
 *    copied yet): alone, it has the rows committed up to there.
 */
#include "check.h"
#include "ws/db.h"
#include "ws/lz4f.h"

#include <pthread.h>
#include <sqlite3.h>

#define ROW 4000 /* bytes per row: about one page */

struct fixture {
    char dir[64];
    char path[128];
    char meta[128];
    struct ws_db_config cfg;
    struct ws_db *db;
    sqlite3 *app; /* the application's writer */
};

static sqlite3 *app_open(const char *path)
{
    sqlite3 *c = NULL;

    ASSERT_EQ(sqlite3_open(path, &c), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(c, "PRAGMA journal_mode=wal", NULL, NULL, NULL),
              SQLITE_OK);
    /* The checkpoints under test are walship's and the test's own. */
    sqlite3_wal_autocheckpoint(c, 0);
    return c;
}

static void app_exec(sqlite3 *c, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(c, sql, NULL, NULL, &msg) != SQLITE_OK)
        CHECK_FAIL("%s: %s", sql, msg ? msg : "?");
}

/* One transaction of n rows of ROW random bytes (about n frames). */
static void app_write(sqlite3 *c, int n)
{
    char sql[128];

    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM "
             "s WHERE i < %d) INSERT INTO t SELECT randomblob(%d) FROM s",
             n, ROW);
    app_exec(c, sql);
}

/* The wal-index counts as connection c sees them: frames, backfilled. */
static void wal_counts(sqlite3 *c, int *log, int *done)
{
    ASSERT_EQ(sqlite3_wal_checkpoint_v2(c, "main", SQLITE_CHECKPOINT_NOOP,
                                        log, done),
              SQLITE_OK);
}

static void setup(struct fixture *f, int window_ms)
{
    char w[16];
    struct ws_err err = {0};

    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/ws-db-XXXXXX");
    ASSERT(mkdtemp(f->dir) != NULL);
    snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
    snprintf(f->meta, sizeof(f->meta), "%s/.db-walship", f->dir);
    f->app = app_open(f->path);
    app_exec(f->app, "CREATE TABLE t(v BLOB)");
    f->cfg.path = f->path;
    f->cfg.meta_path = f->meta;
    f->cfg.min_checkpoint_page_count = 100000; /* checkpoints on demand */
    snprintf(w, sizeof(w), "%d", window_ms);
    ASSERT_EQ(setenv("WALSHIP_TEST_WINDOW_MS", w, 1), 0);
    ASSERT_EQ(ws_db_new(&f->cfg, &f->db, &err), WS_OK);
}

/* One sync; checkpoint: 0 none, 1 by policy, 2 forced. */
static int sync_db(struct fixture *f, int checkpoint, struct ws_db_state *st,
                   struct ws_err *err)
{
    struct ws_db_sync_opts o = {0};

    o.checkpoint = checkpoint > 0;
    o.force_checkpoint = checkpoint == 2;
    return ws_db_sync(f->db, &o, st, err);
}

static void sync_ok(struct fixture *f, int checkpoint,
                    struct ws_db_state *st)
{
    struct ws_err err = {0};

    if (sync_db(f, checkpoint, st, &err) != WS_OK)
        CHECK_FAIL("sync: %s", err.msg);
}

static void teardown(struct fixture *f)
{
    char cmd[128];

    ws_db_free(f->db);
    sqlite3_close(f->app);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    ASSERT_EQ(system(cmd), 0);
}

TEST(backfill_without_lock)
{
    struct fixture f;
    struct ws_db_state st;
    sqlite3 *q;
    int log, done;
    uint32_t index;

    setup(&f, 0);
    q = app_open(f.path);
    app_write(f.app, 50);
    sync_ok(&f, 2, &st); /* the generation, then a seal */
    ASSERT_EQ(st.new_gen, 1);
    ASSERT_STR_EQ(st.checkpoint, "PASSIVE");
    index = st.index;

    /* The WAL restarts; 8 MB of frames (past what walship leaves to the
     * locked window), then the application keeps the write lock. */
    app_write(f.app, 2000);
    app_exec(f.app, "BEGIN IMMEDIATE");
    sync_ok(&f, 2, &st);
    ASSERT_EQ(st.index, index + 1);
    ASSERT(st.checkpoint == NULL); /* the locked window never came */
    wal_counts(q, &log, &done);
    ASSERT(log >= 2000);
    ASSERT_EQ(done, log); /* all of it backfilled, all of it copied */
    ASSERT_EQ(log, (st.size - 32) / (st.page_size + 24));
    app_exec(f.app, "ROLLBACK");

    /* walship's read mark still forbids a restart: the next transaction
     * goes into the same index. */
    app_write(f.app, 10);
    sync_ok(&f, 0, &st);
    ASSERT_EQ(st.index, index + 1);
    wal_counts(q, &log, &done);
    ASSERT(done < log);

    /* The locked window seals it; the next write starts the next index. */
    sync_ok(&f, 2, &st);
    ASSERT_STR_EQ(st.checkpoint, "PASSIVE");
    app_write(f.app, 10);
    sync_ok(&f, 0, &st);
    ASSERT_EQ(st.index, index + 2);
    ASSERT_EQ(st.new_gen, 0);
    sqlite3_close(q);
    teardown(&f);
}

/* The application side of seal_after_app_checkpoint. */
struct race {
    const char *path;
    sqlite3 *reader; /* holds a read mark below the end of the WAL */
    int mark;        /* that mark, in frames */
    int ok;
};

/*
 * Wait until walship's locked PASSIVE has backfilled up to the reader's
 * mark (nothing else backfills here), then, while walship sleeps in its
 * window (WALSHIP_TEST_WINDOW_MS) before reading again, end the reader
 * and checkpoint everything.
 */
static void *race_app(void *arg)
{
    struct race *r = arg;
    sqlite3 *c = app_open(r->path);
    int log = 0, done = 0;

    for (int i = 0; i < 200000 && done < r->mark; i++) {
        wal_counts(c, &log, &done);
        usleep(50);
    }
    if (done == r->mark) {
        app_exec(r->reader, "COMMIT");
        ASSERT_EQ(sqlite3_wal_checkpoint_v2(c, "main",
                                            SQLITE_CHECKPOINT_PASSIVE, &log,
                                            &done),
                  SQLITE_OK);
        r->ok = done == log && log > r->mark;
    }
    sqlite3_close(c);
    return NULL;
}

TEST(seal_after_app_checkpoint)
{
    struct fixture f;
    struct ws_db_state st;
    struct ws_err err = {0};
    struct race r = {0};
    pthread_t th;
    int log, done;
    uint32_t index;

    setup(&f, 300);
    app_write(f.app, 20);
    sync_ok(&f, 2, &st);
    ASSERT_STR_EQ(st.checkpoint, "PASSIVE");
    index = st.index;

    /* Next index: 20 frames, a reader at their end, 20 more frames. */
    app_write(f.app, 20);
    r.path = f.path;
    r.reader = app_open(f.path);
    app_exec(r.reader, "BEGIN");
    app_exec(r.reader, "SELECT count(*) FROM t");
    wal_counts(f.app, &r.mark, &done);
    ASSERT_EQ(done, 0);
    app_write(f.app, 20);

    ASSERT_EQ(pthread_create(&th, NULL, race_app, &r), 0);
    sync_ok(&f, 2, &st);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_EQ(r.ok, 1);
    ASSERT_EQ(st.index, index + 1);
    ASSERT_STR_EQ(st.checkpoint, "PASSIVE");

    /* The WAL restarts with more frames than the index had. */
    app_write(f.app, 200);
    wal_counts(f.app, &log, &done);
    ASSERT(log >= 200 && log < 400);
    ASSERT_EQ(sync_db(&f, 0, &st, &err), WS_OK);
    ASSERT_EQ(st.new_gen, 0);
    ASSERT_EQ(st.index, index + 2);
    sqlite3_close(r.reader);
    teardown(&f);
}

/* Rows in the database image `img` (written to a file of its own), after
 * checking it is one: integrity_check ok. */
static int64_t image_rows(const struct fixture *f, const struct check_buf *img)
{
    char path[160], sql_ok[16] = "";
    uint8_t *raw;
    size_t rawn;
    sqlite3 *c;
    sqlite3_stmt *st;
    int64_t rows = -1;
    FILE *fp;

    ASSERT_EQ(ws_lz4_decompress_mem(img->p, img->n, 1 << 30, &raw, &rawn,
                                    NULL),
              WS_OK);
    snprintf(path, sizeof(path), "%s/image.db", f->dir);
    fp = fopen(path, "wb");
    ASSERT(fp != NULL);
    ASSERT_EQ(fwrite(raw, 1, rawn, fp), rawn);
    ASSERT_EQ(fclose(fp), 0);
    free(raw);
    ASSERT_EQ(sqlite3_open(path, &c), SQLITE_OK);
    ASSERT_EQ(sqlite3_prepare_v2(c, "PRAGMA integrity_check", -1, &st, NULL),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    snprintf(sql_ok, sizeof(sql_ok), "%s",
             (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    ASSERT_STR_EQ(sql_ok, "ok");
    ASSERT_EQ(sqlite3_prepare_v2(c, "SELECT count(*) FROM t", -1, &st, NULL),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    rows = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(c);
    return rows;
}

TEST(snapshot_at_position)
{
    struct fixture f;
    struct ws_db_state st;
    struct ws_err err = {0};
    struct check_buf img = {0};
    uint32_t index;
    uint64_t at;

    setup(&f, 0);
    app_write(f.app, 30);
    sync_ok(&f, 2, &st); /* a generation, sealed: the file has 30 rows */
    index = st.index;
    app_write(f.app, 20); /* the next index */
    sync_ok(&f, 0, &st);  /* copied, not backfilled */
    ASSERT_EQ(st.index, index + 1);
    at = st.size;
    app_write(f.app, 10); /* in the -wal, not copied */
    /* A position the shadow is not at is refused. */
    ASSERT_EQ(ws_db_snapshot(f.db, st.gen, st.index, at - 4120, check_collect,
                             &img, &err),
              WS_EBUSY);
    ASSERT_EQ(img.n, 0);
    ASSERT_EQ(ws_db_snapshot(f.db, st.gen, st.index, at, check_collect, &img,
                             &err),
              WS_OK);
    ASSERT_EQ(image_rows(&f, &img), 50);
    free(img.p);
    teardown(&f);
}

#define LIST(X) X(backfill_without_lock) X(seal_after_app_checkpoint) \
    X(snapshot_at_position)

TEST_MAIN("db", LIST)
