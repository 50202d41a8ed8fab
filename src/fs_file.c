/*
 * fs_file.c: files in a trusted directory: temporary names, durable
 * publication, lock files, whole-file reads, removal (fs.h has the
 * rules).
 */
#include "ws/fs.h"
#include "ws/crashpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_TAG ".tmp-"      /* temporary names: "<base>.tmp-XXXXXX" */
#define TMP_RAND 6

int ws_fs_tmp_create(const struct ws_fs_dir *d, const char *base,
                     mode_t mode, char *name, size_t n, int *fd,
                     struct ws_err *err)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t bl = strlen(base), tl = strlen(TMP_TAG);

    if (bl + tl + TMP_RAND + 1 > n || bl + tl + TMP_RAND > NAME_MAX)
        return ws_err_set(err, WS_EIO, "name too long: %s/%s", d->path,
                          base);
    for (int tries = 0; tries < 100; tries++) {
        uint8_t r[TMP_RAND];
        int f;

        if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
            return ws_err_set(err, WS_EIO, "getrandom: %s", strerror(errno));
        memcpy(name, base, bl);
        memcpy(name + bl, TMP_TAG, tl);
        for (size_t i = 0; i < TMP_RAND; i++)
            name[bl + tl + i] = chars[r[i] % (sizeof(chars) - 1)];
        name[bl + tl + TMP_RAND] = '\0';
        f = openat(d->fd, name,
                   O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (f >= 0) {
            *fd = f;
            return WS_OK;
        }
        if (errno != EEXIST)
            return ws_err_set(err, errno == ENOENT ? WS_ENOTFOUND : WS_EIO,
                              "create %s/%s: %s", d->path, name,
                              strerror(errno));
    }
    return ws_err_set(err, WS_EIO, "create %s/%s%s*: no free name", d->path,
                      base, TMP_TAG);
}

int ws_fs_tmp_anon(const struct ws_fs_dir *d, const char *base,
                   mode_t mode, char *name, size_t n, int *fd,
                   struct ws_err *err)
{
    int f;

    /* Publishing an unnamed file links /proc/self/fd/N: without /proc (a
     * bare chroot or container) the named file below serves. */
    if (access("/proc/self/fd", X_OK) != 0)
        return ws_fs_tmp_create(d, base, mode, name, n, fd, err);
    f = openat(d->fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
    if (f >= 0) {
        name[0] = '\0';
        *fd = f;
        return WS_OK;
    }
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
        return ws_err_set(err, errno == ENOENT ? WS_ENOTFOUND : WS_EIO,
                          "create an unnamed file in %s: %s", d->path,
                          strerror(errno));
    return ws_fs_tmp_create(d, base, mode, name, n, fd, err);
}

int ws_fs_is_ours(const struct ws_fs_dir *d, const char *name, int fd)
{
    struct stat a, b;

    return fstatat(d->fd, name, &a, AT_SYMLINK_NOFOLLOW) == 0 &&
           fstat(fd, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

/* Someone put another file at tmp or name in d. */
static int replaced(const struct ws_fs_dir *d, const char *name,
                    struct ws_err *err)
{
    return ws_err_set(err, WS_ECONFIG, "%s/%s was replaced by another "
                      "file: someone else can write in %s", d->path, name,
                      d->path);
}

int ws_fs_tmp_publish(const struct ws_fs_dir *d, const char *tmp, int fd,
                      const char *name, struct ws_err *err)
{
    char self[64];

    if (tmp[0] == '\0') {
        snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, self, d->fd, name, AT_SYMLINK_FOLLOW) == 0)
            return WS_OK;
        return ws_err_set(err, errno == EEXIST ? WS_EEXIST : WS_EIO,
                          "link %s/%s: %s", d->path, name, strerror(errno));
    }
    if (!ws_fs_is_ours(d, tmp, fd))
        return replaced(d, tmp, err);
    if (renameat2(d->fd, tmp, d->fd, name, RENAME_NOREPLACE) != 0)
        return ws_err_set(err, errno == EEXIST ? WS_EEXIST : WS_EIO,
                          "rename %s/%s: %s", d->path, name,
                          strerror(errno));
    if (ws_fs_is_ours(d, name, fd))
        return WS_OK;
    /* What the rename published is not ours: tmp changed between the
     * check and the rename.  Take it away again. */
    unlinkat(d->fd, name, 0);
    return replaced(d, tmp, err);
}

int ws_fs_is_tmp_name(const char *name)
{
    size_t n = strlen(name), tl = strlen(TMP_TAG);

    if (n > 4 && strcmp(name + n - 4, ".tmp") == 0)
        return 1;
    return n > tl + TMP_RAND &&
           memcmp(name + n - TMP_RAND - tl, TMP_TAG, tl) == 0;
}

void ws_fs_sweep_tmp(const struct ws_fs_dir *d)
{
    int fd = openat(d->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    struct stat st;

    if (dir == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((de = readdir(dir)) != NULL)
        if (ws_fs_is_tmp_name(de->d_name) &&
            fstatat(d->fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            !S_ISDIR(st.st_mode))
            (void)unlinkat(d->fd, de->d_name, 0);
    closedir(dir);
}

int ws_fs_tmp_commit(const struct ws_fs_dir *d, const char *tmp, int fd,
                     const char *name, struct ws_err *err)
{
    int rc = WS_OK;

    if (fsync(fd) != 0)
        rc = ws_err_set(err, WS_EIO, "fsync %s/%s: %s", d->path, tmp,
                        strerror(errno));
    if (rc == WS_OK && renameat(d->fd, tmp, d->fd, name) != 0)
        rc = ws_err_set(err, WS_EIO, "rename %s/%s: %s", d->path, name,
                        strerror(errno));
    if (rc == WS_OK)
        rc = ws_fs_dir_fsync(d, err);
    if (rc != WS_OK)
        unlinkat(d->fd, tmp, 0);
    return rc;
}

int ws_fs_write_atomic_at(const struct ws_fs_dir *d, const char *name,
                          const void *buf, size_t len, mode_t mode,
                          int *fd_out, struct ws_err *err)
{
    char tmp[NAME_MAX + 1];
    int fd, rc = ws_fs_tmp_create(d, name, mode, tmp, sizeof(tmp), &fd, err);

    if (rc != WS_OK)
        return rc;
    if (ws_fs_pwrite(fd, buf, len, 0, err) != WS_OK) {
        rc = ws_err_wrap(err, "%s/%s", d->path, tmp);
        unlinkat(d->fd, tmp, 0);
    }
    if (rc == WS_OK)
        WS_CRASHPOINT("meta-before-rename");
    if (rc == WS_OK)
        rc = ws_fs_tmp_commit(d, tmp, fd, name, err);
    if (rc == WS_OK && fd_out != NULL)
        *fd_out = fd;
    else
        close(fd);
    return rc;
}

int ws_fs_write_atomic(const char *path, const void *buf, size_t len,
                       mode_t mode, struct ws_err *err)
{
    char *dir = ws_path_dir(path);
    struct ws_fs_dir d;
    int rc;

    if (dir == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = ws_fs_dir_open(&d, dir, 0, 0, NULL, err);
    free(dir);
    if (rc == WS_OK)
        rc = ws_fs_write_atomic_at(&d, ws_path_base(path), buf, len, mode,
                                   NULL, err);
    ws_fs_dir_close(&d);
    return rc;
}

/* The error for a failed openat(d, name, ...|O_NOFOLLOW) of a file. */
static int open_error(const struct ws_fs_dir *d, const char *name, int e,
                      struct ws_err *err)
{
    if (e == ENOENT)
        return ws_err_set(err, WS_ENOTFOUND, "%s/%s: not found", d->path,
                          name);
    if (e == ELOOP)
        return ws_err_set(err, WS_ECONFIG, "refusing %s/%s: a symbolic link",
                          d->path, name);
    return ws_err_set(err, WS_EIO, "open %s/%s: %s", d->path, name,
                      strerror(e));
}

int ws_fs_lock_open(const struct ws_fs_dir *d, const char *name, int *fd,
                    struct ws_err *err)
{
    struct stat st;
    int f = openat(d->fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                   0600);
    int rc = WS_OK;

    if (f < 0)
        return open_error(d, name, errno, err);
    if (fstat(f, &st) != 0)
        rc = ws_err_set(err, WS_EIO, "stat %s/%s: %s", d->path, name,
                        strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = ws_err_set(err, WS_ECONFIG, "refusing lock file %s/%s: not a "
                        "regular file", d->path, name);
    else if (st.st_uid != geteuid())
        rc = ws_err_set(err, WS_ECONFIG, "refusing lock file %s/%s: owned by "
                        "uid %lu, not %lu", d->path, name,
                        (unsigned long)st.st_uid,
                        (unsigned long)geteuid());
    else if (st.st_nlink != 1)
        rc = ws_err_set(err, WS_ECONFIG, "refusing lock file %s/%s: %lu hard "
                        "links", d->path, name, (unsigned long)st.st_nlink);
    if (rc != WS_OK) {
        close(f);
        return rc;
    }
    *fd = f;
    return WS_OK;
}

int ws_fs_open_at(const struct ws_fs_dir *d, const char *name, int *fd,
                  struct ws_err *err)
{
    int f = openat(d->fd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);

    if (f < 0)
        return open_error(d, name, errno, err);
    *fd = f;
    return WS_OK;
}

/* Read all of fd (at most max bytes); path names it in messages. */
static int read_fd(int fd, const char *path, size_t max, char **out,
                   size_t *len, struct ws_err *err)
{
    struct stat st;
    size_t got;
    char *buf;
    int rc;

    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size > max)
        return ws_err_set(err, WS_EIO,
                          "%s: too large, unreadable or not a file", path);
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = ws_fs_pread(fd, buf, (size_t)st.st_size, 0, &got, err);
    if (rc != WS_OK) {
        free(buf);
        return ws_err_wrap(err, "%s", path);
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return WS_OK;
}

int ws_fs_read_all(const char *path, size_t max, char **out, size_t *len,
                   struct ws_err *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    int rc;

    if (fd < 0 && errno == ENOENT)
        return ws_err_set(err, WS_ENOTFOUND, "%s: not found", path);
    if (fd < 0 && errno == ELOOP)
        return ws_err_set(err, WS_ECONFIG, "refusing %s: a symbolic link",
                          path);
    if (fd < 0)
        return ws_err_set(err, WS_EIO, "open %s: %s", path, strerror(errno));
    rc = read_fd(fd, path, max, out, len, err);
    close(fd);
    return rc;
}

int ws_fs_read_all_at(const struct ws_fs_dir *d, const char *name,
                      size_t max, char **out, size_t *len,
                      struct ws_err *err)
{
    char path[PATH_MAX];
    int fd = openat(d->fd, name,
                    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    int rc;

    if (fd < 0)
        return open_error(d, name, errno, err);
    snprintf(path, sizeof(path), "%s/%s", d->path, name);
    rc = read_fd(fd, path, max, out, len, err);
    close(fd);
    return rc;
}

/* rm -rf of name under at, following no link; path names it. */
static int rm_tree(int at, const char *name, const char *path,
                   struct ws_err *err)
{
    struct dirent *de;
    struct stat st;
    DIR *dir;
    int fd, rc = WS_OK;

    if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? WS_OK
                               : ws_err_set(err, WS_EIO, "stat %s: %s", path,
                                            strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(at, name, 0) != 0 && errno != ENOENT)
            return ws_err_set(err, WS_EIO, "unlink %s: %s", path,
                              strerror(errno));
        return WS_OK;
    }
    fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? WS_OK
                               : ws_err_set(err, WS_EIO, "open %s: %s", path,
                                            strerror(errno));
    dir = fdopendir(fd);
    if (dir == NULL) {
        close(fd);
        return ws_err_set(err, WS_EIO, "opendir %s: %s", path,
                          strerror(errno));
    }
    while (rc == WS_OK && (de = readdir(dir)) != NULL) {
        char *child;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        child = ws_path_join(path, de->d_name);
        if (child == NULL)
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        else
            rc = rm_tree(dirfd(dir), de->d_name, child, err);
        free(child);
    }
    closedir(dir);
    if (rc == WS_OK && unlinkat(at, name, AT_REMOVEDIR) != 0 &&
        errno != ENOENT)
        rc = ws_err_set(err, WS_EIO, "rmdir %s: %s", path, strerror(errno));
    return rc;
}

int ws_fs_rm_rf_at(const struct ws_fs_dir *d, const char *name,
                   struct ws_err *err)
{
    char *path = ws_path_join(d->path, name);
    int rc;

    if (path == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = rm_tree(d->fd, name, path, err);
    free(path);
    return rc;
}

int ws_fs_rm_rf(const char *path, struct ws_err *err)
{
    char *p = strdup(path), *dir = NULL;
    size_t n = p ? strlen(p) : 0;
    int at = -1, rc = WS_OK;

    if (p == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    if (n == 0 || strcmp(p, "/") == 0)
        rc = ws_err_set(err, WS_EUSAGE, "refusing to remove \"%s\"", path);
    if (rc == WS_OK && (dir = ws_path_dir(p)) == NULL)
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    if (rc == WS_OK) {
        at = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (at < 0 && errno != ENOENT)
            rc = ws_err_set(err, WS_EIO, "open %s: %s", dir,
                            strerror(errno));
    }
    if (rc == WS_OK && at >= 0)
        rc = rm_tree(at, ws_path_base(p), p, err);
    if (at >= 0)
        close(at);
    free(dir);
    free(p);
    return rc;
}
