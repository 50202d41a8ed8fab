/*
 * rlock.c: the per-replica restore lock (see rlock.h).
 *
 * The directory is opened and checked by fs.h's rule (with O_NOFOLLOW,
 * through the open descriptor), and the lock file is opened relative to
 * it, so a directory swapped or symlinked after the check cannot
 * redirect the lock.
 */
#include "ws/rlock.h"
#include "ws/digest.h"
#include "ws/fs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define ID_MAX 8192
#define NAME_LEN (WS_SHA256_HEX + 5) /* hex, ".lock", NUL */

/* The lock directory: $XDG_RUNTIME_DIR/walship or /tmp/walship-<uid>. */
static int lock_dir(char *buf, size_t n)
{
    const char *x = getenv("XDG_RUNTIME_DIR");
    int len;

    if (x != NULL && x[0] == '/' && access(x, W_OK | X_OK) == 0)
        len = snprintf(buf, n, "%s/walship", x);
    else
        len = snprintf(buf, n, "/tmp/walship-%lu", (unsigned long)geteuid());
    return len < 0 || (size_t)len >= n ? WS_EUSAGE : WS_OK;
}

static const char *str(const char *s)
{
    return s ? s : "";
}

/* The lock file's name: the hex SHA-256 of the replica identity, then
 * ".lock". */
static int lock_name(const struct ws_replica_config *cfg,
                     char name[NAME_LEN], struct ws_err *err)
{
    const char *type = str(cfg->type);
    char id[ID_MAX], hex[WS_SHA256_HEX];
    int len;

    if (strcmp(type, "file") == 0)
        len = snprintf(id, sizeof(id), "%s", str(cfg->path));
    else if (strcmp(type, "s3") == 0)
        len = snprintf(id, sizeof(id), "s3:%s/%s/%s", str(cfg->endpoint),
                       str(cfg->bucket), str(cfg->path));
    else
        return ws_err_set(err, WS_ECONFIG, "replica lock: unknown type \"%s\"",
                          type);
    if (len < 0 || (size_t)len >= sizeof(id))
        return ws_err_set(err, WS_EUSAGE, "replica lock: identity too long");
    if (strcmp(type, "file") == 0 && id[0] != '/')
        return ws_err_set(err, WS_EUSAGE,
                          "replica lock: path is not absolute: %s", id);
    ws_sha256_hex(id, (size_t)len, hex);
    snprintf(name, NAME_LEN, "%s.lock", hex);
    return WS_OK;
}

/* The lock's directory and file name for cfg. */
static int locate(const struct ws_replica_config *cfg, char dir[PATH_MAX],
                  char name[NAME_LEN], struct ws_err *err)
{
    int rc = lock_name(cfg, name, err);

    if (rc != WS_OK)
        return rc;
    if (lock_dir(dir, PATH_MAX) != WS_OK)
        return ws_err_set(err, WS_EUSAGE, "replica lock: path too long");
    return WS_OK;
}

int ws_rlock_path(const struct ws_replica_config *cfg, char *buf, size_t n,
                  struct ws_err *err)
{
    char dir[PATH_MAX], name[NAME_LEN];
    int rc = locate(cfg, dir, name, err);
    int len;

    if (rc != WS_OK)
        return rc;
    len = snprintf(buf, n, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= n)
        return ws_err_set(err, WS_EUSAGE, "replica lock: path too long");
    return WS_OK;
}

int ws_rlock_acquire(const struct ws_replica_config *cfg, int exclusive,
                     int wait, int *fd_out, struct ws_err *err)
{
    char dir[PATH_MAX], name[NAME_LEN];
    int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
    int rc = locate(cfg, dir, name, err);
    struct ws_fs_dir d;
    int fd = -1;

    if (rc != WS_OK)
        return rc;
    rc = ws_fs_dir_open(&d, dir, WS_FS_CREATE | WS_FS_NOFOLLOW, 0700, NULL,
                        err);
    if (rc == WS_ENOTFOUND)
        rc = WS_EIO;
    if (rc == WS_OK)
        rc = ws_fs_lock_open(&d, name, &fd, err);
    ws_fs_dir_close(&d);
    if (rc != WS_OK)
        return rc;
    while ((rc = flock(fd, op)) != 0 && errno == EINTR)
        ;
    if (rc != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return ws_err_set(err, WS_EBUSY, "replica lock %s/%s is held",
                              dir, name);
        return ws_err_set(err, WS_EIO, "flock %s/%s: %s", dir, name,
                          strerror(e));
    }
    *fd_out = fd;
    return WS_OK;
}

void ws_rlock_release(int fd)
{
    if (fd < 0)
        return;
    flock(fd, LOCK_UN);
    close(fd);
}
