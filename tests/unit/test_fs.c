/*
 * test_fs.c: safe creation (fs.h): the rule for a directory walship
 * writes in, directories opened one component at a time without links,
 * temporary names, replacing a name that is a planted link, lock files,
 * and rm -rf that follows no link.  Every case plants a symbolic link to
 * a file outside and requires that file unchanged.  The cases that need
 * another user's file run only as root (CI does).
 */
#include "check.h"
#include "ws/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

static void tmpdir(char dir[64])
{
    snprintf(dir, 64, "/tmp/ws-fs-XXXXXX");
    ASSERT(mkdtemp(dir) != NULL);
}

/* dir/outside holding "precious": what a planted link points at. */
static void make_outside(const char *dir, char *path, size_t n)
{
    int fd;

    snprintf(path, n, "%s/outside", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, "precious", 8), 8);
    close(fd);
}

static void assert_outside(const char *path)
{
    char *text = NULL;
    size_t len;

    ASSERT_EQ(ws_fs_read_all(path, 64, &text, &len, NULL), WS_OK);
    ASSERT_STR_EQ(text, "precious");
    free(text);
}

static void expect_refused(const char *path, int flags, const char *why)
{
    struct ws_fs_dir d;
    struct ws_err err = {0};

    ASSERT_EQ(ws_fs_dir_open(&d, path, flags, 0700, NULL, &err), WS_ECONFIG);
    ASSERT_STR_CONTAINS(err.msg, why);
    ASSERT_STR_CONTAINS(err.msg, path);
    ASSERT_EQ(d.fd, -1);
}

TEST(dir_rule)
{
    char dir[64], p[128], q[128];
    struct ws_fs_dir d;
    struct ws_err err = {0};
    int created = -1;

    tmpdir(dir);
    snprintf(p, sizeof(p), "%s/a/b", dir);
    /* Missing, then made with its parent, then found. */
    ASSERT_EQ(ws_fs_dir_open(&d, p, 0, 0700, NULL, &err), WS_ENOTFOUND);
    ASSERT_EQ(ws_fs_dir_open(&d, p, WS_FS_CREATE, 0700, &created, &err),
              WS_OK);
    ASSERT_EQ(created, 1);
    ASSERT_STR_EQ(d.path, p);
    ws_fs_dir_close(&d);
    ASSERT_EQ(ws_fs_dir_open(&d, p, WS_FS_CREATE, 0700, &created, &err),
              WS_OK);
    ASSERT_EQ(created, 0);
    ws_fs_dir_close(&d);
    ws_fs_dir_close(&d); /* twice is fine */

    /* Writable by others: refused, sticky or not, unless the caller
     * takes any directory (WS_FS_ANY). */
    ASSERT_EQ(chmod(p, 0777), 0);
    expect_refused(p, 0, "group or other writable (mode 777)");
    ASSERT_EQ(chmod(p, 0770), 0);
    expect_refused(p, 0, "(mode 770)");
    ASSERT_EQ(chmod(p, 01777), 0);
    expect_refused(p, 0, "(mode 1777)");
    ASSERT_EQ(ws_fs_dir_open(&d, p, WS_FS_ANY, 0, NULL, &err), WS_OK);
    ws_fs_dir_close(&d);
    ASSERT_EQ(chmod(p, 0777), 0);
    ASSERT_EQ(ws_fs_dir_open(&d, p, WS_FS_ANY, 0, NULL, &err), WS_OK);
    ws_fs_dir_close(&d);
    ASSERT_EQ(chmod(p, 0755), 0); /* readable is fine */
    ASSERT_EQ(ws_fs_dir_open(&d, p, 0, 0, NULL, &err), WS_OK);
    ws_fs_dir_close(&d);

    /* A link: followed only without WS_FS_NOFOLLOW. */
    snprintf(q, sizeof(q), "%s/link", dir);
    ASSERT_EQ(symlink(p, q), 0);
    ASSERT_EQ(ws_fs_dir_open(&d, q, 0, 0, NULL, &err), WS_OK);
    ws_fs_dir_close(&d);
    expect_refused(q, WS_FS_NOFOLLOW, "a symbolic link");
    expect_refused(q, WS_FS_NOFOLLOW | WS_FS_CREATE, "a symbolic link");

    /* A file is not a directory. */
    snprintf(q, sizeof(q), "%s/file", dir);
    ASSERT_EQ(ws_fs_write_atomic(q, "x", 1, 0600, NULL), WS_OK);
    expect_refused(q, 0, "not a directory");

    /* Another user's (needs root to make one); root's is trusted. */
    if (geteuid() == 0) {
        ASSERT_EQ(chown(p, 65534, 65534), 0);
        expect_refused(p, 0, "owned by uid 65534");
        expect_refused(p, WS_FS_CREATE, "owned by uid 65534");
    }
    ws_fs_rm_rf(dir, NULL);
}

/* The parents of a path are walked without following a link that
 * someone else could have planted or swapped: a link of another user's
 * (made as root: chown), or one in a directory others can write to
 * without the sticky bit, is refused naming it, and nothing is made
 * behind it; root's link in root's directory (/var/run -> /run) is
 * followed, also to a relative target and through a second link. */
TEST(dir_open_parent_links)
{
    char dir[64], p[192], q[192], out[128];
    struct ws_fs_dir d;
    struct ws_err err = {0};
    int created = -1;

    tmpdir(dir);
    snprintf(out, sizeof(out), "%s/target", dir);
    ASSERT_EQ(mkdir(out, 0700), 0);
    /* Trusted: a link of ours in our 0700 directory, and a relative one
     * reached through it. */
    snprintf(p, sizeof(p), "%s/run", dir);
    ASSERT_EQ(symlink(out, p), 0);
    snprintf(p, sizeof(p), "%s/target/rel", dir);
    ASSERT_EQ(symlink(".", p), 0);
    snprintf(p, sizeof(p), "%s/run/rel/sub/meta", dir);
    ASSERT_EQ(ws_fs_dir_open(&d, p, WS_FS_CREATE | WS_FS_NOFOLLOW, 0700,
                             &created, &err), WS_OK);
    ASSERT_EQ(created, 1);
    ws_fs_dir_close(&d);
    snprintf(q, sizeof(q), "%s/sub/meta", out);
    ASSERT_EQ(access(q, F_OK), 0);

    /* A shared sticky directory with another user's link in it. */
    snprintf(p, sizeof(p), "%s/mp", dir);
    ASSERT_EQ(mkdir(p, 0700), 0);
    ASSERT_EQ(chmod(p, 01777), 0);
    snprintf(p, sizeof(p), "%s/mp/shared", dir);
    ASSERT_EQ(symlink(out, p), 0);
    if (geteuid() == 0) {
        ASSERT_EQ(lchown(p, 65534, 65534), 0);
        snprintf(q, sizeof(q), "%s/mp/shared/new/meta", dir);
        ASSERT_EQ(ws_fs_dir_open(&d, q, WS_FS_CREATE | WS_FS_NOFOLLOW, 0700,
                                 NULL, &err), WS_ECONFIG);
        ASSERT_STR_CONTAINS(err.msg, p);
        ASSERT_STR_CONTAINS(err.msg, "a symbolic link owned by uid 65534");
        ASSERT_EQ(d.fd, -1);
        snprintf(q, sizeof(q), "%s/new", out);
        ASSERT_EQ(access(q, F_OK), -1);
        ASSERT_EQ(lchown(p, 0, 0), 0);
    }
    /* Ours, in a sticky directory: nobody else can swap it. */
    snprintf(q, sizeof(q), "%s/mp/shared/sub", dir);
    ASSERT_EQ(ws_fs_dir_open(&d, q, 0, 0, NULL, &err), WS_OK);
    ws_fs_dir_close(&d);
    /* Ours, in a directory anyone can write to and rename in. */
    snprintf(q, sizeof(q), "%s/mp", dir);
    ASSERT_EQ(chmod(q, 0777), 0);
    snprintf(q, sizeof(q), "%s/mp/shared/new", dir);
    ASSERT_EQ(ws_fs_dir_open(&d, q, WS_FS_CREATE, 0700, NULL, &err),
              WS_ECONFIG);
    ASSERT_STR_CONTAINS(err.msg, p);
    ASSERT_STR_CONTAINS(err.msg, "in a directory others can change");
    snprintf(q, sizeof(q), "%s/new", out);
    ASSERT_EQ(access(q, F_OK), -1);
    /* ...which a restore's output directory (WS_FS_ANY) may go through. */
    snprintf(q, sizeof(q), "%s/mp/shared/sub", dir);
    ASSERT_EQ(ws_fs_dir_open(&d, q, WS_FS_ANY, 0, NULL, &err), WS_OK);
    ws_fs_dir_close(&d);
    ws_fs_rm_rf(dir, NULL);
}

TEST(dir_sub)
{
    char dir[64], p[160], out[128];
    struct ws_fs_dir top, d;
    struct ws_err err = {0};

    tmpdir(dir);
    snprintf(out, sizeof(out), "%s/elsewhere", dir);
    ASSERT_EQ(mkdir(out, 0700), 0);
    ASSERT_EQ(ws_fs_dir_open(&top, dir, 0, 0, NULL, &err), WS_OK);
    ASSERT_EQ(ws_fs_dir_sub(&d, &top, "a/b", 0, 0700, &err), WS_ENOTFOUND);
    ASSERT_EQ(ws_fs_dir_sub(&d, &top, "a/b/c", WS_FS_CREATE, 0700, &err),
              WS_OK);
    snprintf(p, sizeof(p), "%s/a/b/c", dir);
    ASSERT_STR_EQ(d.path, p);
    ws_fs_dir_close(&d);
    /* A link in the middle is refused, and nothing is made behind it. */
    snprintf(p, sizeof(p), "%s/a/l", dir);
    ASSERT_EQ(symlink(out, p), 0);
    ASSERT_EQ(ws_fs_dir_sub(&d, &top, "a/l/x", WS_FS_CREATE, 0700, &err),
              WS_ECONFIG);
    ASSERT_STR_CONTAINS(err.msg, "a/l: a symbolic link");
    snprintf(p, sizeof(p), "%s/x", out);
    ASSERT_EQ(access(p, F_OK), -1);
    /* Names that leave the directory are not walship's. */
    ASSERT_EQ(ws_fs_dir_sub(&d, &top, "a/../..", 0, 0700, &err), WS_EUSAGE);
    /* "" is the directory itself, on its own descriptor. */
    ASSERT_EQ(ws_fs_dir_sub(&d, &top, "", 0, 0700, &err), WS_OK);
    ASSERT(d.fd != top.fd);
    ws_fs_dir_close(&d);
    ws_fs_dir_close(&top);
    ASSERT_EQ(ws_fs_dir_sub(&d, &top, "a", 0, 0700, &err), WS_EIO);
    ws_fs_rm_rf(dir, NULL);
}

TEST(tmp_names)
{
    char dir[64], a[64], b[64];
    struct ws_fs_dir d;
    struct stat st;
    int fa, fb;

    tmpdir(dir);
    ASSERT_EQ(ws_fs_dir_open(&d, dir, 0, 0, NULL, NULL), WS_OK);
    ASSERT_EQ(ws_fs_tmp_create(&d, "x.wal", 0600, a, sizeof(a), &fa, NULL),
              WS_OK);
    ASSERT_EQ(ws_fs_tmp_create(&d, "x.wal", 0600, b, sizeof(b), &fb, NULL),
              WS_OK);
    ASSERT_EQ(strlen(a), strlen("x.wal.tmp-") + 6);
    ASSERT_EQ(strncmp(a, "x.wal.tmp-", 10), 0);
    ASSERT(strcmp(a, b) != 0);
    ASSERT(ws_fs_is_tmp_name(a));
    ASSERT_EQ(fstat(fa, &st), 0);
    ASSERT(S_ISREG(st.st_mode));
    ASSERT_EQ(st.st_mode & 0777, 0600);
    ASSERT_EQ(st.st_size, 0);
    close(fa);
    close(fb);
    ASSERT(ws_fs_is_tmp_name("k.wal.lz4.tmp"));       /* Litestream's */
    ASSERT(!ws_fs_is_tmp_name("00000001_00000000.wal.lz4"));
    ASSERT(!ws_fs_is_tmp_name("a.tmp-12345"));        /* 5, not 6 */
    ASSERT(!ws_fs_is_tmp_name(".tmp-123456x"));
    /* A name too long for the suffix. */
    {
        char big[300];
        memset(big, 'n', 250);
        big[250] = '\0';
        ASSERT_EQ(ws_fs_tmp_create(&d, big, 0600, a, sizeof(a), &fa, NULL),
                  WS_EIO);
    }
    ws_fs_dir_close(&d);
    ws_fs_rm_rf(dir, NULL);
}

/* What a killed writer left under a temporary name goes: files and links
 * (the link itself, never what it points at); a directory, and every
 * other name, stay. */
TEST(sweep_tmp)
{
    char dir[64], outside[128], p[128], t[64];
    struct ws_fs_dir d;
    struct stat st;
    int fd;

    tmpdir(dir);
    make_outside(dir, outside, sizeof(outside));
    ASSERT_EQ(ws_fs_dir_open(&d, dir, 0, 0, NULL, NULL), WS_OK);
    ASSERT_EQ(ws_fs_tmp_create(&d, "stopped", 0600, t, sizeof(t), &fd, NULL),
              WS_OK);
    close(fd);
    ASSERT_EQ(ws_fs_write_atomic_at(&d, "generation", "g\n", 2, 0600, NULL,
                                    NULL),
              WS_OK);
    snprintf(p, sizeof(p), "%s/x.wal.lz4.tmp", dir);
    ASSERT_EQ(symlink(outside, p), 0);
    snprintf(p, sizeof(p), "%s/d.tmp-abcdef", dir);
    ASSERT_EQ(mkdir(p, 0700), 0);
    ws_fs_sweep_tmp(&d);
    snprintf(p, sizeof(p), "%s/%s", dir, t);
    ASSERT(lstat(p, &st) != 0 && errno == ENOENT);
    snprintf(p, sizeof(p), "%s/x.wal.lz4.tmp", dir);
    ASSERT(lstat(p, &st) != 0 && errno == ENOENT);
    assert_outside(outside);
    snprintf(p, sizeof(p), "%s/d.tmp-abcdef", dir);
    ASSERT_EQ(lstat(p, &st), 0);
    ASSERT(S_ISDIR(st.st_mode));
    snprintf(p, sizeof(p), "%s/generation", dir);
    ASSERT_EQ(lstat(p, &st), 0);
    ws_fs_dir_close(&d);
    ws_fs_rm_rf(dir, NULL);
}

/* A link planted at the name, and at its old temporary name, is replaced,
 * not written through. */
TEST(write_atomic_replaces_links)
{
    char dir[64], outside[128], p[128], *text = NULL;
    struct ws_fs_dir d;
    struct stat st;
    size_t len;
    int fd = -1;

    tmpdir(dir);
    make_outside(dir, outside, sizeof(outside));
    ASSERT_EQ(ws_fs_dir_open(&d, dir, 0, 0, NULL, NULL), WS_OK);
    snprintf(p, sizeof(p), "%s/generation", dir);
    ASSERT_EQ(symlink(outside, p), 0);
    snprintf(p, sizeof(p), "%s/generation.tmp", dir);
    ASSERT_EQ(symlink(outside, p), 0);
    ASSERT_EQ(ws_fs_write_atomic_at(&d, "generation", "new\n", 4, 0600, &fd,
                                    NULL),
              WS_OK);
    assert_outside(outside);
    snprintf(p, sizeof(p), "%s/generation", dir);
    ASSERT_EQ(lstat(p, &st), 0);
    ASSERT(S_ISREG(st.st_mode));
    /* fd is the new file under its name. */
    ASSERT_EQ(pwrite(fd, "NEW\n", 4, 0), 4);
    close(fd);
    ASSERT_EQ(ws_fs_read_all(p, 64, &text, &len, NULL), WS_OK);
    ASSERT_STR_EQ(text, "NEW\n");
    free(text);
    /* Reading never goes through a link either. */
    snprintf(p, sizeof(p), "%s/generation.tmp", dir);
    ASSERT_EQ(ws_fs_read_all(p, 64, &text, &len, NULL), WS_ECONFIG);
    ASSERT_EQ(ws_fs_read_all_at(&d, "generation.tmp", 64, &text, &len,
                                NULL),
              WS_ECONFIG);
    ASSERT_EQ(ws_fs_read_all_at(&d, "none", 64, &text, &len, NULL),
              WS_ENOTFOUND);
    ASSERT_EQ(ws_fs_open_at(&d, "generation.tmp", &fd, NULL), WS_ECONFIG);
    ws_fs_dir_close(&d);
    ws_fs_rm_rf(dir, NULL);
}

TEST(lock_files)
{
    char dir[64], outside[128], p[128];
    struct ws_fs_dir d;
    struct ws_err err = {0};
    int fd = -1;

    tmpdir(dir);
    make_outside(dir, outside, sizeof(outside));
    ASSERT_EQ(ws_fs_dir_open(&d, dir, 0, 0, NULL, NULL), WS_OK);
    ASSERT_EQ(ws_fs_lock_open(&d, "lock", &fd, &err), WS_OK);
    close(fd);
    ASSERT_EQ(ws_fs_lock_open(&d, "lock", &fd, &err), WS_OK); /* again */
    close(fd);
    /* A link (dangling or not) is refused and nothing is created. */
    snprintf(p, sizeof(p), "%s/l1", dir);
    ASSERT_EQ(symlink(outside, p), 0);
    ASSERT_EQ(ws_fs_lock_open(&d, "l1", &fd, &err), WS_ECONFIG);
    ASSERT_STR_CONTAINS(err.msg, "l1: a symbolic link");
    snprintf(p, sizeof(p), "%s/l2", dir);
    ASSERT_EQ(symlink("/nonexistent-walship-lock", p), 0);
    ASSERT_EQ(ws_fs_lock_open(&d, "l2", &fd, &err), WS_ECONFIG);
    ASSERT_EQ(access("/nonexistent-walship-lock", F_OK), -1);
    /* A hard link to a file elsewhere, and a directory. */
    snprintf(p, sizeof(p), "%s/l3", dir);
    ASSERT_EQ(link(outside, p), 0);
    ASSERT_EQ(ws_fs_lock_open(&d, "l3", &fd, &err), WS_ECONFIG);
    ASSERT_STR_CONTAINS(err.msg, "2 hard links");
    snprintf(p, sizeof(p), "%s/l4", dir);
    ASSERT_EQ(mkdir(p, 0700), 0);
    ASSERT_EQ(ws_fs_lock_open(&d, "l4", &fd, &err), WS_EIO);
    /* Another user's file. */
    if (geteuid() == 0) {
        snprintf(p, sizeof(p), "%s/lock", dir);
        ASSERT_EQ(chown(p, 65534, 65534), 0);
        ASSERT_EQ(ws_fs_lock_open(&d, "lock", &fd, &err), WS_ECONFIG);
        ASSERT_STR_CONTAINS(err.msg, "owned by uid 65534");
    }
    assert_outside(outside);
    ws_fs_dir_close(&d);
    ws_fs_rm_rf(dir, NULL);
}

TEST(rm_rf_follows_no_link)
{
    char dir[64], outside[128], p[128], q[128];
    struct ws_fs_dir d;

    tmpdir(dir);
    make_outside(dir, outside, sizeof(outside));
    snprintf(q, sizeof(q), "%s/keep", dir);
    ASSERT_EQ(mkdir(q, 0700), 0);
    snprintf(p, sizeof(p), "%s/keep/file", dir);
    ASSERT_EQ(ws_fs_write_atomic(p, "x", 1, 0600, NULL), WS_OK);
    snprintf(p, sizeof(p), "%s/t/a/b", dir);
    ASSERT_EQ(ws_fs_mkdir_p(p, 0700, NULL), WS_OK);
    snprintf(p, sizeof(p), "%s/t/a/dirlink", dir);
    ASSERT_EQ(symlink(q, p), 0);
    snprintf(p, sizeof(p), "%s/t/a/b/filelink", dir);
    ASSERT_EQ(symlink(outside, p), 0);
    ASSERT_EQ(ws_fs_dir_open(&d, dir, 0, 0, NULL, NULL), WS_OK);
    ASSERT_EQ(ws_fs_rm_rf_at(&d, "t", NULL), WS_OK);
    ASSERT_EQ(ws_fs_rm_rf_at(&d, "t", NULL), WS_OK); /* missing: fine */
    snprintf(p, sizeof(p), "%s/t", dir);
    ASSERT_EQ(access(p, F_OK), -1);
    snprintf(p, sizeof(p), "%s/keep/file", dir);
    ASSERT_EQ(access(p, F_OK), 0);
    assert_outside(outside);
    /* The path form too, with a trailing slash. */
    snprintf(p, sizeof(p), "%s/keep/", dir);
    ASSERT_EQ(ws_fs_rm_rf(p, NULL), WS_OK);
    ASSERT_EQ(access(q, F_OK), -1);
    ASSERT_EQ(ws_fs_rm_rf("/", NULL), WS_EUSAGE);
    ws_fs_dir_close(&d);
    ws_fs_rm_rf(dir, NULL);
}

TEST(copy)
{
    char dir[64], p[128], *text = NULL;
    struct ws_err err = {0};
    size_t len;
    int in, out;

    tmpdir(dir);
    snprintf(p, sizeof(p), "%s/in", dir);
    ASSERT_EQ(ws_fs_write_atomic(p, "abcdef", 6, 0600, NULL), WS_OK);
    in = open(p, O_RDONLY);
    snprintf(p, sizeof(p), "%s/out", dir);
    out = open(p, O_RDWR | O_CREAT | O_EXCL, 0600);
    ASSERT(in >= 0 && out >= 0);
    ASSERT_EQ(ws_fs_copy(in, "in", out, "out", 4, &err), WS_OK);
    ASSERT_EQ(ws_fs_read_all(p, 64, &text, &len, NULL), WS_OK);
    ASSERT_STR_EQ(text, "abcd");
    free(text);
    ASSERT_EQ(ws_fs_copy(in, "in", out, "out", 7, &err), WS_EIO);
    ASSERT_STR_CONTAINS(err.msg, "in: shorter than 7 bytes");
    close(in);
    close(out);
    ws_fs_rm_rf(dir, NULL);
}

#define LIST(X)                                                             \
    X(dir_rule) X(dir_sub) X(dir_open_parent_links) X(tmp_names)           \
    X(sweep_tmp) X(write_atomic_replaces_links)                             \
    X(lock_files) X(rm_rf_follows_no_link) X(copy)

TEST_MAIN("fs", LIST)
