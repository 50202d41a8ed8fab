/*
 * test_snapshot.c: the consistent snapshot image (snapshot.h) against
 * SQLite's own answer.  A database file and its WAL are taken from a
 * real database with two transactions in the WAL; the image at the end
 * of the first must be byte for byte the file SQLite makes when it
 * checkpoints that WAL prefix, even when the pages a checkpoint was
 * writing are torn in the file read, and whatever the WAL holds past
 * the position.
 */
#include "check.h"
#include "ws/lz4f.h"
#include "ws/snapshot.h"
#include "ws/wal.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>

static void exec(sqlite3 *c, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(c, sql, NULL, NULL, &msg) != SQLITE_OK)
        CHECK_FAIL("%s: %s", sql, msg ? msg : "?");
}

static struct check_buf slurp(const char *path)
{
    struct check_buf b = {0};
    struct stat sb;
    int fd = open(path, O_RDONLY);

    ASSERT(fd >= 0);
    ASSERT_EQ(fstat(fd, &sb), 0);
    b.n = (size_t)sb.st_size;
    b.p = malloc(b.n ? b.n : 1);
    ASSERT(b.p != NULL);
    ASSERT_EQ(pread(fd, b.p, b.n, 0), (ssize_t)b.n);
    close(fd);
    return b;
}

static void spit(const char *path, const uint8_t *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, p, n), (ssize_t)n);
    close(fd);
}

/* The image ws_snapshot_write makes of file db at wal_end of wal. */
static struct check_buf image(const char *db, const char *wal, uint32_t ps,
                          uint64_t wal_end, int *rc)
{
    struct check_buf z = {0}, out = {0};
    int dfd = open(db, O_RDONLY), wfd = open(wal, O_RDONLY);

    ASSERT(dfd >= 0 && wfd >= 0);
    *rc = ws_snapshot_write(dfd, wfd, ps, wal_end, check_collect, &z, NULL);
    close(dfd);
    close(wfd);
    if (*rc == WS_OK)
        ASSERT_EQ(ws_lz4_decompress_mem(z.p, z.n, 1 << 30, &out.p, &out.n,
                                        NULL),
                  WS_OK);
    free(z.p);
    return out;
}

TEST(image_is_checkpointed_prefix)
{
    char dir[] = "/tmp/ws-snap-XXXXXX", p[5][128];
    struct check_buf file, wal, want, got;
    uint64_t fs, x = 0, off;
    uint32_t ps;
    sqlite3 *app, *c;
    int rc, torn = 0;

    ASSERT(mkdtemp(dir) != NULL);
    snprintf(p[0], sizeof(p[0]), "%s/db", dir);
    snprintf(p[1], sizeof(p[1]), "%s/db-wal", dir);
    snprintf(p[2], sizeof(p[2]), "%s/want.db", dir);
    snprintf(p[3], sizeof(p[3]), "%s/want.db-wal", dir);
    snprintf(p[4], sizeof(p[4]), "%s/file.db", dir);

    /* The file holds the first state; the WAL two transactions more. */
    ASSERT_EQ(sqlite3_open(p[0], &app), SQLITE_OK);
    exec(app, "PRAGMA journal_mode=wal");
    sqlite3_wal_autocheckpoint(app, 0);
    exec(app, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);"
              "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM "
              "s WHERE i < 60) INSERT INTO t(v) SELECT randomblob(3000) "
              "FROM s");
    exec(app, "PRAGMA wal_checkpoint(TRUNCATE)");
    exec(app, "BEGIN; DELETE FROM t WHERE id % 3 = 0;"
              "UPDATE t SET v = randomblob(2000) WHERE id % 5 = 0;"
              "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM "
              "s WHERE i < 25) INSERT INTO t(v) SELECT randomblob(3500) "
              "FROM s; COMMIT");
    exec(app, "BEGIN; DELETE FROM t WHERE id % 2 = 0;"
              "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM "
              "s WHERE i < 40) INSERT INTO t(v) SELECT randomblob(3900) "
              "FROM s; COMMIT");
    file = slurp(p[0]);
    wal = slurp(p[1]);
    ps = ws_get_be32(wal.p + 8);
    fs = ws_wal_frame_size(ps);
    for (off = WS_WAL_HDR_SIZE; off + fs <= wal.n && x == 0; off += fs)
        if (ws_get_be32(wal.p + off + 4) != 0)
            x = off + fs; /* the end of the first transaction */
    ASSERT(x > WS_WAL_HDR_SIZE && x < wal.n);

    /* SQLite's answer: that prefix of the WAL, checkpointed. */
    spit(p[2], file.p, file.n);
    spit(p[3], wal.p, x);
    ASSERT_EQ(sqlite3_open(p[2], &c), SQLITE_OK);
    exec(c, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(c);
    want = slurp(p[2]);
    ASSERT(want.n != file.n || memcmp(want.p, file.p, file.n) != 0);

    /* A checkpoint beside the read: the pages it writes (each has a
     * frame below x) may read torn. */
    for (off = WS_WAL_HDR_SIZE; off < x; off += 3 * fs) {
        uint64_t at = (uint64_t)(ws_get_be32(wal.p + off) - 1) * ps;
        if (at + ps <= file.n) {
            memset(file.p + at + ps / 2, 0xa5, ps / 2);
            torn++;
        }
    }
    ASSERT(torn > 0);
    spit(p[4], file.p, file.n);
    got = image(p[4], p[1], ps, x, &rc);
    ASSERT_EQ(rc, WS_OK);
    ASSERT_EQ(got.n, want.n);
    ASSERT_MEM_EQ(got.p, want.p, want.n);
    free(got.p);

    /* No frame: the file as it is. */
    got = image(p[4], p[1], ps, WS_WAL_HDR_SIZE, &rc);
    ASSERT_EQ(rc, WS_OK);
    ASSERT_EQ(got.n, file.n);
    ASSERT_MEM_EQ(got.p, file.p, file.n);
    free(got.p);
    got = image(p[4], p[1], ps, 0, &rc);
    ASSERT_EQ(rc, WS_OK);
    ASSERT_EQ(got.n, file.n);
    free(got.p);

    /* A position inside a transaction, or not on a frame: refused. */
    image(p[4], p[1], ps, x + fs, &rc);
    ASSERT_EQ(rc, WS_ECORRUPT);
    image(p[4], p[1], ps, x + 8, &rc);
    ASSERT_EQ(rc, WS_ECORRUPT);

    sqlite3_close(app);
    free(file.p);
    free(wal.p);
    free(want.p);
    for (int i = 0; i < 5; i++)
        unlink(p[i]);
    snprintf(p[0], sizeof(p[0]), "%s/want.db-shm", dir);
    unlink(p[0]);
    snprintf(p[0], sizeof(p[0]), "%s/db-shm", dir);
    unlink(p[0]);
    ASSERT_EQ(rmdir(dir), 0);
}

#define LIST(X) X(image_is_checkpointed_prefix)

TEST_MAIN("snapshot", LIST)
