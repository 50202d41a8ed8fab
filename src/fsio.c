/*
 * fsio.c: plain file I/O (fsio.h has the rules).
 */
#include "ws/fsio.h"
#include "ws/path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_BUF (1024 * 1024)

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

int ws_fs_copy(int in, const char *inpath, int out, const char *outpath,
               uint64_t len, struct ws_err *err)
{
    uint8_t *buf = malloc(COPY_BUF);
    uint64_t off = 0;
    int rc = WS_OK;

    if (buf == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    while (rc == WS_OK && off < len) {
        size_t want = len - off < COPY_BUF ? (size_t)(len - off) : COPY_BUF;
        size_t got = 0;
        rc = ws_fs_pread(in, buf, want, off, &got, err);
        if (rc != WS_OK)
            rc = ws_err_wrap(err, "%s", inpath);
        else if (got != want)
            rc = ws_err_set(err, WS_EIO, "%s: shorter than %llu bytes",
                            inpath, (unsigned long long)len);
        if (rc == WS_OK && ws_fs_pwrite(out, buf, got, off, err) != WS_OK)
            rc = ws_err_wrap(err, "%s", outpath);
        off += got;
    }
    free(buf);
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
