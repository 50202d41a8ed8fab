/*
 * test_resume.c: the restored-position marker (meta.h): the meta dir
 * name, the file hash, installing and reading back a position (only the
 * bytes it claims), and the refusals (a running walship's lock, a link
 * at the lock's name, a short source, a marker that does not parse).
 */
#include "check.h"
#include "ws/fs.h"
#include "ws/meta.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

static void tmpdir(char dir[64])
{
    snprintf(dir, 64, "/tmp/ws-resume-XXXXXX");
    ASSERT(mkdtemp(dir) != NULL);
}

static void put(const char *path, const char *text)
{
    ASSERT_EQ(ws_fs_write_atomic(path, text, strlen(text), 0600, NULL),
              WS_OK);
}

TEST(meta_path)
{
    char *p = ws_meta_path("/data/app.db");
    ASSERT_STR_EQ(p, "/data/.app.db-walship");
    free(p);
    p = ws_meta_path("app.db");
    ASSERT_STR_EQ(p, ".app.db-walship");
    free(p);
    p = ws_meta_path("/app.db");
    ASSERT_STR_EQ(p, "/.app.db-walship");
    free(p);
}

TEST(hash)
{
    char dir[64], path[128], sum[WS_SHA256_HEX];
    uint64_t size = 99;
    struct ws_err err = {0};
    int fd;

    tmpdir(dir);
    snprintf(path, sizeof(path), "%s/f", dir);
    put(path, "abc");
    fd = open(path, O_RDONLY);
    ASSERT(fd >= 0);
    ASSERT_EQ(ws_resume_hash(fd, &size, sum, &err), WS_OK);
    ASSERT_EQ(size, 3);
    /* FIPS 180-2, appendix B.1 */
    ASSERT_STR_EQ(sum, "ba7816bf8f01cfea414140de5dae2223"
                       "b00361a396177a9cb410ff61f20015ad");
    close(fd);
    /* Larger than one read. */
    {
        size_t n = 3 * 1024 * 1024 + 17;
        char *big = calloc(1, n);
        ASSERT(big != NULL);
        ASSERT_EQ(ws_fs_write_atomic(path, big, n, 0600, NULL), WS_OK);
        free(big);
    }
    fd = open(path, O_RDONLY);
    ASSERT_EQ(ws_resume_hash(fd, &size, sum, &err), WS_OK);
    ASSERT_EQ(size, 3 * 1024 * 1024 + 17);
    ASSERT_EQ(strlen(sum), 64);
    close(fd);
    ws_fs_rm_rf(dir, NULL);
}

/* A file holding text, open read-write and already unlinked (as a
 * restore keeps the bytes it carries over). */
static int unlinked(const char *dir, const char *text)
{
    char p[128];
    int fd;

    snprintf(p, sizeof(p), "%s/bytes-XXXXXX", dir);
    fd = mkstemp(p);
    ASSERT(fd >= 0);
    ASSERT_EQ(unlink(p), 0);
    ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    return fd;
}

TEST(install_and_read)
{
    char dir[64], meta[128], p[256], *text = NULL;
    struct ws_resume r = {"0123456789abcdef", 0x2a, 9, 8192, ""}, got;
    struct ws_fs_dir md;
    struct ws_err err = {0};
    size_t len;
    int fd;

    memset(r.sha256, 'e', 64);
    r.sha256[64] = '\0';
    tmpdir(dir);
    snprintf(meta, sizeof(meta), "%s/.db-walship", dir);
    ASSERT_EQ(ws_fs_dir_open(&md, meta, WS_FS_CREATE, 0700, NULL, &err),
              WS_OK);
    ASSERT_EQ(ws_resume_read(&md, WS_RESUME_RESTORED, &got, &err),
              WS_ENOTFOUND);
    /* A stale generation from an earlier life is replaced. */
    snprintf(p, sizeof(p), "%s/generations/fedcba9876543210/wal", meta);
    ASSERT_EQ(ws_fs_mkdir_p(p, 0700, NULL), WS_OK);
    /* Only the first wal_size bytes are the shadow. */
    fd = unlinked(dir, "WAL BYTES and more");
    ASSERT_EQ(ws_resume_write(&md, &r, fd, &err), WS_OK);
    close(fd);
    ASSERT_EQ(access(p, F_OK), -1);
    snprintf(p, sizeof(p),
             "%s/generations/0123456789abcdef/wal/0000002a.wal", meta);
    ASSERT_EQ(ws_fs_read_all(p, 64, &text, &len, NULL), WS_OK);
    ASSERT_STR_EQ(text, "WAL BYTES");
    free(text);
    snprintf(p, sizeof(p), "%s/generation", meta);
    ASSERT_EQ(ws_fs_read_all(p, 64, &text, &len, NULL), WS_OK);
    ASSERT_STR_EQ(text, "0123456789abcdef\n");
    free(text);
    ASSERT_EQ(ws_resume_read(&md, WS_RESUME_RESTORED, &got, &err), WS_OK);
    ASSERT_STR_EQ(got.gen, r.gen);
    ASSERT_EQ(got.index, 0x2a);
    ASSERT_EQ(got.wal_size, 9);
    ASSERT_EQ(got.db_size, 8192);
    ASSERT_STR_EQ(got.sha256, r.sha256);
    ASSERT_EQ(ws_resume_remove(&md, WS_RESUME_RESTORED, &err), WS_OK);
    ASSERT_EQ(ws_resume_read(&md, WS_RESUME_RESTORED, &got, &err),
              WS_ENOTFOUND);
    ASSERT_EQ(ws_resume_remove(&md, WS_RESUME_RESTORED, &err), WS_OK);
    /* A stop's marker is another file: neither kind reads the other. */
    ASSERT_EQ(ws_resume_mark(&md, WS_RESUME_STOPPED, &r, &err), WS_OK);
    ASSERT_EQ(ws_resume_read(&md, WS_RESUME_RESTORED, &got, &err),
              WS_ENOTFOUND);
    ASSERT_EQ(ws_resume_read(&md, WS_RESUME_STOPPED, &got, &err), WS_OK);
    ASSERT_STR_EQ(got.gen, r.gen);
    ASSERT_EQ(got.index, 0x2a);
    ASSERT_STR_EQ(got.sha256, r.sha256);
    snprintf(p, sizeof(p), "%s/stopped", meta);
    ASSERT_EQ(ws_fs_read_all(p, 256, &text, &len, NULL), WS_OK);
    ASSERT_EQ(strncmp(text, "walship-stopped 1 0123456789abcdef 0000002a 9 "
                      "8192 ", 46), 0);
    free(text);
    /* Installing a restored position drops a stop's marker. */
    fd = unlinked(dir, "WAL BYTES");
    ASSERT_EQ(ws_resume_write(&md, &r, fd, &err), WS_OK);
    close(fd);
    ASSERT_EQ(ws_resume_read(&md, WS_RESUME_STOPPED, &got, &err),
              WS_ENOTFOUND);
    ASSERT_EQ(ws_resume_remove(&md, WS_RESUME_RESTORED, &err), WS_OK);
    /* A source shorter than wal_size installs nothing. */
    fd = unlinked(dir, "WAL");
    ASSERT_EQ(ws_resume_write(&md, &r, fd, &err), WS_EIO);
    ASSERT_STR_CONTAINS(err.msg, "shorter than 9 bytes");
    close(fd);
    ASSERT_EQ(ws_resume_read(&md, WS_RESUME_RESTORED, &got, &err),
              WS_ENOTFOUND);
    ws_fs_dir_close(&md);
    ws_fs_rm_rf(dir, NULL);
}

TEST(refusals)
{
    char dir[64], meta[128], p[256];
    struct ws_resume r = {"0123456789abcdef", 1, 1, 4096, ""}, got;
    struct ws_fs_dir md;
    struct ws_err err = {0};
    int fd, src;

    memset(r.sha256, '0', 64);
    r.sha256[64] = '\0';
    tmpdir(dir);
    snprintf(meta, sizeof(meta), "%s/.db-walship", dir);
    ASSERT_EQ(ws_fs_dir_open(&md, meta, WS_FS_CREATE, 0700, NULL, &err),
              WS_OK);
    src = unlinked(dir, "x");
    /* A replicate holds the meta dir's lock. */
    snprintf(p, sizeof(p), "%s/lock", meta);
    fd = open(p, O_RDWR | O_CREAT, 0600);
    ASSERT(fd >= 0);
    ASSERT_EQ(flock(fd, LOCK_EX), 0);
    ASSERT_EQ(ws_resume_write(&md, &r, src, &err), WS_EBUSY);
    ASSERT_STR_CONTAINS(err.msg, "lock is held");
    close(fd);
    /* A link planted at the lock's name is refused, not followed. */
    ASSERT_EQ(unlink(p), 0);
    ASSERT_EQ(symlink("/nonexistent-walship-target", p), 0);
    ASSERT_EQ(ws_resume_write(&md, &r, src, &err), WS_ECONFIG);
    ASSERT_STR_CONTAINS(err.msg, "a symbolic link");
    ASSERT_EQ(access("/nonexistent-walship-target", F_OK), -1);
    ASSERT_EQ(unlink(p), 0);
    close(src);
    snprintf(p, sizeof(p), "%s/restored", meta);
    ASSERT_EQ(access(p, F_OK), -1);
    /* Markers that do not parse. */
    static const char *const bad[] = {
        "",
        "walship-restored 2 0123456789abcdef 00000001 32 4096 "
        "0000000000000000000000000000000000000000000000000000000000000000\n",
        "walship-restored 1 0123456789ABCDEF 00000001 32 4096 "
        "0000000000000000000000000000000000000000000000000000000000000000\n",
        "walship-restored 1 0123456789abcdef 00000001 32 4096 00\n",
        "walship-restored 1 0123456789abcdef 00000001 32 4096 "
        "0000000000000000000000000000000000000000000000000000000000000000",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        put(p, bad[i]);
        ASSERT_EQ(ws_resume_read(&md, WS_RESUME_RESTORED, &got, &err),
                  WS_ECORRUPT);
        ASSERT_STR_CONTAINS(err.msg, "not a restore marker");
    }
    ws_fs_dir_close(&md);
    ws_fs_rm_rf(dir, NULL);
}

#define LIST(X) X(meta_path) X(hash) X(install_and_read) X(refusals)

TEST_MAIN("resume", LIST)
