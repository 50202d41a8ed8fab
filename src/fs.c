/*
 * fs.c: durable local file operations (see fs.h for the rules).
 */
#include "ws/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int ws_fs_pread(int fd, void *buf, size_t len, uint64_t off, size_t *got,
                struct ws_err *err)
{
    size_t n = 0;

    while (n < len) {
        ssize_t k = pread(fd, (char *)buf + n, len - n, (off_t)(off + n));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return ws_err_set(err, WS_EIO, "read: %s", strerror(errno));
        if (k == 0)
            break;
        n += (size_t)k;
    }
    *got = n;
    return WS_OK;
}

int ws_fs_pwrite(int fd, const void *buf, size_t len, uint64_t off,
                 struct ws_err *err)
{
    size_t n = 0;

    while (n < len) {
        ssize_t k =
            pwrite(fd, (const char *)buf + n, len - n, (off_t)(off + n));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return ws_err_set(err, WS_EIO, "write: %s", strerror(errno));
        n += (size_t)k;
    }
    return WS_OK;
}

int ws_fs_fsync(int fd, const char *path, struct ws_err *err)
{
    if (fsync(fd) != 0)
        return ws_err_set(err, WS_EIO, "fsync %s: %s", path,
                          strerror(errno));
    return WS_OK;
}

int ws_fs_fsync_dir(const char *dir, struct ws_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return ws_err_set(err, WS_EIO, "open %s: %s", dir, strerror(errno));
    rc = ws_fs_fsync(fd, dir, err);
    close(fd);
    return rc;
}

int ws_fs_fsync_parent(const char *path, struct ws_err *err)
{
    char *dir = ws_path_dir(path);
    int rc;

    if (dir == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = ws_fs_fsync_dir(dir, err);
    free(dir);
    return rc;
}

int ws_fs_mkdir_p(const char *path, mode_t mode, struct ws_err *err)
{
    char buf[4096];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(buf))
        return ws_err_set(err, WS_EIO, "mkdir: bad path \"%s\"", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return ws_err_set(err, WS_EIO, "mkdir %s: %s", buf,
                              strerror(errno));
        buf[i] = path[i];
    }
    return WS_OK;
}

int ws_fs_write_atomic(const char *path, const void *buf, size_t len,
                       mode_t mode, struct ws_err *err)
{
    char tmp[4200];
    int fd, rc;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return ws_err_set(err, WS_EIO, "path too long: %s", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return ws_err_set(err, WS_EIO, "create %s: %s", tmp,
                          strerror(errno));
    rc = ws_fs_pwrite(fd, buf, len, 0, err);
    if (rc == WS_OK)
        rc = ws_fs_fsync(fd, tmp, err);
    if (close(fd) != 0 && rc == WS_OK)
        rc = ws_err_set(err, WS_EIO, "close %s: %s", tmp, strerror(errno));
    if (rc == WS_OK && rename(tmp, path) != 0)
        rc = ws_err_set(err, WS_EIO, "rename %s: %s", tmp, strerror(errno));
    if (rc != WS_OK) {
        unlink(tmp);
        return rc;
    }
    return ws_fs_fsync_parent(path, err);
}

int ws_fs_read_all(const char *path, size_t max, char **out, size_t *len,
                   struct ws_err *err)
{
    struct stat st;
    size_t got;
    char *buf;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return ws_err_set(err, WS_ENOTFOUND, "%s: not found", path);
    if (fd < 0)
        return ws_err_set(err, WS_EIO, "open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size > max) {
        close(fd);
        return ws_err_set(err, WS_EIO, "%s: too large or unreadable", path);
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    rc = ws_fs_pread(fd, buf, (size_t)st.st_size, 0, &got, err);
    close(fd);
    if (rc != WS_OK) {
        free(buf);
        return ws_err_wrap(err, "%s", path);
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return WS_OK;
}

int ws_fs_rm_rf(const char *path, struct ws_err *err)
{
    struct dirent *de;
    struct stat st;
    DIR *d;
    int rc = WS_OK;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? WS_OK
                               : ws_err_set(err, WS_EIO, "stat %s: %s", path,
                                            strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT)
            return ws_err_set(err, WS_EIO, "unlink %s: %s", path,
                              strerror(errno));
        return WS_OK;
    }
    d = opendir(path);
    if (d == NULL)
        return ws_err_set(err, WS_EIO, "opendir %s: %s", path,
                          strerror(errno));
    while (rc == WS_OK && (de = readdir(d)) != NULL) {
        char *child;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        child = ws_path_join(path, de->d_name);
        if (child == NULL)
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
        else
            rc = ws_fs_rm_rf(child, err);
        free(child);
    }
    closedir(d);
    if (rc == WS_OK && rmdir(path) != 0 && errno != ENOENT)
        rc = ws_err_set(err, WS_EIO, "rmdir %s: %s", path, strerror(errno));
    return rc;
}

int ws_fs_size(const char *path, uint64_t *size, struct ws_err *err)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return errno == ENOENT
                   ? ws_err_set(err, WS_ENOTFOUND, "%s: not found", path)
                   : ws_err_set(err, WS_EIO, "stat %s: %s", path,
                                strerror(errno));
    *size = (uint64_t)st.st_size;
    return WS_OK;
}

char *ws_path_join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 2);

    if (s == NULL)
        return NULL;
    memcpy(s, a, na);
    s[na] = '/';
    memcpy(s + na + 1, b, nb + 1);
    return s;
}

char *ws_path_dir(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

int64_t ws_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ws_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
