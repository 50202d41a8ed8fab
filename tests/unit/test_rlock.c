/*
 * test_rlock.c: the per-replica restore lock (rlock.h).  flock locks
 * belong to open file descriptions, so two acquisitions in one process
 * conflict just as two processes would.  Each case runs in its own
 * child (check.h), so setting XDG_RUNTIME_DIR there stays there.
 */
#include "check.h"
#include "ws/fs.h"
#include "ws/rlock.h"

#include <sys/stat.h>

static struct ws_replica_config file_cfg(char *path)
{
    struct ws_replica_config c = {0};

    c.type = "file";
    c.path = path;
    return c;
}

/* Point XDG_RUNTIME_DIR at a fresh directory, returned in dir. */
static void fresh_runtime_dir(char dir[64])
{
    snprintf(dir, 64, "/tmp/ws-rlock-XXXXXX");
    ASSERT(mkdtemp(dir) != NULL);
    ASSERT_EQ(setenv("XDG_RUNTIME_DIR", dir, 1), 0);
}

static int try_lock(const struct ws_replica_config *c, int exclusive,
                    int *fd)
{
    struct ws_err err = {0};
    int rc = ws_rlock_acquire(c, exclusive, 0, fd, &err);

    if (rc == WS_EBUSY)
        ASSERT_STR_CONTAINS(err.msg, "is held");
    return rc;
}

TEST(paths)
{
    struct ws_replica_config a = file_cfg("/backup/app");
    struct ws_replica_config s = {0};
    char dir[64], p[4096], q[4096], want[128];
    struct ws_err err;

    fresh_runtime_dir(dir);
    ASSERT_EQ(ws_rlock_path(&a, p, sizeof(p), &err), WS_OK);
    snprintf(want, sizeof(want), "%s/walship/", dir);
    ASSERT_EQ(strncmp(p, want, strlen(want)), 0);
    ASSERT_EQ(strlen(p), strlen(want) + 64 + 5);
    ASSERT_STR_EQ(p + strlen(p) - 5, ".lock");
    /* sha256("/backup/app") */
    ASSERT_STR_CONTAINS(p, "/walship/ef2a255b");

    /* Not set, relative, or missing: the per-uid directory in /tmp. */
    snprintf(want, sizeof(want), "/tmp/walship-%lu/",
             (unsigned long)geteuid());
    ASSERT_EQ(unsetenv("XDG_RUNTIME_DIR"), 0);
    ASSERT_EQ(ws_rlock_path(&a, q, sizeof(q), &err), WS_OK);
    ASSERT_EQ(strncmp(q, want, strlen(want)), 0);
    ASSERT_STR_EQ(q + strlen(want), p + strlen(dir) + 9);
    setenv("XDG_RUNTIME_DIR", "run/user", 1);
    ASSERT_EQ(ws_rlock_path(&a, q, sizeof(q), &err), WS_OK);
    ASSERT_EQ(strncmp(q, want, strlen(want)), 0);
    setenv("XDG_RUNTIME_DIR", "/nonexistent/ws-rlock", 1);
    ASSERT_EQ(ws_rlock_path(&a, q, sizeof(q), &err), WS_OK);
    ASSERT_EQ(strncmp(q, want, strlen(want)), 0);

    /* s3 identities: endpoint, bucket and path all count. */
    s.type = "s3";
    s.bucket = "b";
    s.path = "backup/app";
    ASSERT_EQ(ws_rlock_path(&s, q, sizeof(q), &err), WS_OK);
    ASSERT(strcmp(strrchr(p, '/'), strrchr(q, '/')) != 0);
    snprintf(p, sizeof(p), "%s", q);
    s.endpoint = "http://127.0.0.1:9000";
    ASSERT_EQ(ws_rlock_path(&s, q, sizeof(q), &err), WS_OK);
    ASSERT(strcmp(p, q) != 0);

    /* Errors. */
    s.type = "sftp";
    ASSERT_EQ(ws_rlock_path(&s, q, sizeof(q), &err), WS_ECONFIG);
    ASSERT_STR_CONTAINS(err.msg, "sftp");
    a.path = "relative";
    ASSERT_EQ(ws_rlock_path(&a, q, sizeof(q), &err), WS_EUSAGE);
    a.path = "/backup/app";
    ASSERT_EQ(ws_rlock_path(&a, q, 20, &err), WS_EUSAGE);
    ws_fs_rm_rf(dir, NULL);
}

/* Shared locks coexist; exclusive excludes both ways. */
TEST(shared_and_exclusive)
{
    struct ws_replica_config a = file_cfg("/backup/app");
    struct ws_replica_config b = file_cfg("/backup/other");
    int s1 = -1, s2 = -1, x = -1, y = -1;
    char dir[64];

    fresh_runtime_dir(dir);
    ASSERT_EQ(try_lock(&a, 0, &s1), WS_OK);
    ASSERT_EQ(try_lock(&a, 0, &s2), WS_OK);
    ASSERT_EQ(try_lock(&a, 1, &x), WS_EBUSY);
    ASSERT_EQ(x, -1); /* untouched on failure */
    ASSERT_EQ(try_lock(&b, 1, &y), WS_OK); /* another replica */
    ws_rlock_release(s1);
    ASSERT_EQ(try_lock(&a, 1, &x), WS_EBUSY);
    ws_rlock_release(s2);
    ASSERT_EQ(try_lock(&a, 1, &x), WS_OK);
    ASSERT_EQ(try_lock(&a, 0, &s1), WS_EBUSY);
    ASSERT_EQ(try_lock(&a, 1, &s1), WS_EBUSY);
    ws_rlock_release(x);
    ASSERT_EQ(try_lock(&a, 0, &s1), WS_OK);
    ws_rlock_release(s1);
    ws_rlock_release(y);
    ws_rlock_release(-1);
    ws_fs_rm_rf(dir, NULL);
}

/* A waiting exclusive lock is granted once another process lets go. */
TEST(wait)
{
    struct ws_replica_config a = file_cfg("/backup/app");
    struct ws_err err;
    int p[2], fd = -1, st;
    char dir[64], c;
    pid_t pid;

    fresh_runtime_dir(dir);
    ASSERT_EQ(pipe(p), 0);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        if (ws_rlock_acquire(&a, 0, 1, &fd, &err) != WS_OK)
            _exit(1);
        if (write(p[1], "x", 1) != 1)
            _exit(1);
        usleep(200 * 1000);
        ws_rlock_release(fd);
        _exit(0);
    }
    ASSERT_EQ(read(p[0], &c, 1), 1);
    ASSERT_EQ(try_lock(&a, 1, &fd), WS_EBUSY);
    ASSERT_EQ(ws_rlock_acquire(&a, 1, 1, &fd, &err), WS_OK);
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ws_rlock_release(fd);
    ws_fs_rm_rf(dir, NULL);
}

/* The directory is made 0700 whatever the umask; the file 0600. */
TEST(modes)
{
    struct ws_replica_config a = file_cfg("/backup/app");
    char dir[64], sub[128], path[4096];
    struct ws_err err;
    struct stat st;
    int fd;

    fresh_runtime_dir(dir);
    umask(0);
    ASSERT_EQ(ws_rlock_acquire(&a, 1, 0, &fd, &err), WS_OK);
    snprintf(sub, sizeof(sub), "%s/walship", dir);
    ASSERT_EQ(stat(sub, &st), 0);
    ASSERT_EQ(st.st_mode & 0777, 0700);
    ASSERT_EQ(ws_rlock_path(&a, path, sizeof(path), &err), WS_OK);
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_EQ(st.st_mode & 0777, 0600);
    ws_rlock_release(fd);
    /* The file stays (removing it would split later lockers). */
    ASSERT_EQ(stat(path, &st), 0);
    ws_fs_rm_rf(dir, NULL);
}

static void expect_refused(const struct ws_replica_config *c,
                           const char *why)
{
    struct ws_err err;
    int fd = -1;

    ASSERT_EQ(ws_rlock_acquire(c, 0, 0, &fd, &err), WS_ECONFIG);
    ASSERT_EQ(fd, -1);
    ASSERT_STR_CONTAINS(err.msg, why);
}

/* A directory others could write into, or not ours, is refused. */
TEST(refuses_unsafe_directory)
{
    struct ws_replica_config a = file_cfg("/backup/app");
    char dir[64], sub[128], other[128];
    int fd;
    struct ws_err err;

    fresh_runtime_dir(dir);
    snprintf(sub, sizeof(sub), "%s/walship", dir);
    ASSERT_EQ(mkdir(sub, 0700), 0);
    ASSERT_EQ(chmod(sub, 0777), 0);
    expect_refused(&a, "group or other writable");
    ASSERT_EQ(chmod(sub, 0720), 0);
    expect_refused(&a, "(mode 720)");
    ASSERT_EQ(chmod(sub, 0755), 0); /* readable is fine */
    ASSERT_EQ(ws_rlock_acquire(&a, 0, 0, &fd, &err), WS_OK);
    ws_rlock_release(fd);

    /* A symlink to a good directory is refused too. */
    ASSERT_EQ(ws_fs_rm_rf(sub, NULL), WS_OK);
    snprintf(other, sizeof(other), "%s/real", dir);
    ASSERT_EQ(mkdir(other, 0700), 0);
    ASSERT_EQ(symlink(other, sub), 0);
    expect_refused(&a, sub);
    ASSERT_EQ(unlink(sub), 0);

    /* Someone else's directory (needs root to make one). */
    if (geteuid() == 0) {
        ASSERT_EQ(mkdir(sub, 0700), 0);
        ASSERT_EQ(chown(sub, 65534, 65534), 0);
        expect_refused(&a, "owned by uid 65534");
    }
    ws_fs_rm_rf(dir, NULL);
}

#define LIST(X)                                                             \
    X(paths) X(shared_and_exclusive) X(wait) X(modes)                       \
    X(refuses_unsafe_directory)

TEST_MAIN("rlock", LIST)
