/*
 * fs.c: durable and safe local file operations (fs.h has the rules).
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
#include <time.h>
#include <unistd.h>

#define TMP_TAG ".tmp-"      /* temporary names: "<base>.tmp-XXXXXX" */
#define TMP_RAND 6
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

/* ---- trusted directories -------------------------------------------- */

/* The rule of fs.h, checked through the descriptor. */
static int dir_check(int fd, const char *path, int flags, struct ws_err *err)
{
    uid_t me = geteuid();
    struct stat st;
    mode_t m;

    if (fstat(fd, &st) != 0)
        return ws_err_set(err, WS_EIO, "stat %s: %s", path, strerror(errno));
    m = st.st_mode & 07777;
    if (!S_ISDIR(st.st_mode))
        return ws_err_set(err, WS_ECONFIG, "refusing %s: not a directory",
                          path);
    if (flags & WS_FS_ANY)
        return WS_OK;
    if (st.st_uid != me && st.st_uid != 0)
        return ws_err_set(err, WS_ECONFIG,
                          "refusing directory %s: owned by uid %lu, not by "
                          "uid %lu or root",
                          path, (unsigned long)st.st_uid,
                          (unsigned long)me);
    if ((m & (S_IWGRP | S_IWOTH)) != 0)
        return ws_err_set(err, WS_ECONFIG,
                          "refusing directory %s: group or other writable "
                          "(mode %03o)",
                          path, (unsigned)m);
    return WS_OK;
}

/* Open the directory name under at (path names it in messages) and
 * check it; WS_FS_NOFOLLOW refuses a link in its last component. */
static int open_checked(int at, const char *name, const char *path,
                        int flags, int *out, struct ws_err *err)
{
    int of = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    struct stat st;
    int fd, e, rc;

    if (flags & WS_FS_NOFOLLOW)
        of |= O_NOFOLLOW;
    fd = openat(at, name, of);
    if (fd < 0) {
        e = errno;
        if (e == ENOENT)
            return ws_err_set(err, WS_ENOTFOUND, "%s: no such directory",
                              path);
        if ((e == ELOOP || e == ENOTDIR) && (flags & WS_FS_NOFOLLOW) &&
            fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode))
            return ws_err_set(err, WS_ECONFIG, "refusing %s: a symbolic link",
                              path);
        if (e == ENOTDIR)
            return ws_err_set(err, WS_ECONFIG, "refusing %s: not a directory",
                              path);
        return ws_err_set(err, WS_EIO, "open %s: %s", path, strerror(e));
    }
    rc = dir_check(fd, path, flags, err);
    if (rc != WS_OK) {
        close(fd);
        return rc;
    }
    *out = fd;
    return WS_OK;
}

/* May walship go through the symbolic link name in the directory at
 * (shown: the link's path)?  Only a link nobody else can have planted or
 * can swap: owned by root or walship's user, in a directory owned by one
 * of them that nobody else can write to (or a sticky one, where nobody
 * else can remove or rename the link). */
static int link_trusted(int at, const char *name, const char *shown,
                        struct ws_err *err)
{
    uid_t me = geteuid();
    struct stat ls, ds;

    if (fstatat(at, name, &ls, AT_SYMLINK_NOFOLLOW) != 0 || fstat(at, &ds) != 0)
        return ws_err_set(err, WS_EIO, "stat %s: %s", shown, strerror(errno));
    if (ls.st_uid != me && ls.st_uid != 0)
        return ws_err_set(err, WS_ECONFIG,
                          "refusing %s: a symbolic link owned by uid %lu, not "
                          "by uid %lu or root",
                          shown, (unsigned long)ls.st_uid, (unsigned long)me);
    if ((ds.st_uid != me && ds.st_uid != 0) ||
        ((ds.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
         (ds.st_mode & S_ISVTX) == 0))
        return ws_err_set(err, WS_ECONFIG,
                          "refusing %s: a symbolic link in a directory others "
                          "can change (owner uid %lu, mode %03o)",
                          shown, (unsigned long)ds.st_uid,
                          (unsigned)(ds.st_mode & 07777));
    return WS_OK;
}

#define WALK_FLAGS (O_PATH | O_DIRECTORY | O_CLOEXEC)

/* fsync the directory at (an O_PATH descriptor) after a mkdir in it
 * (shown names what was made).  A directory walship may write in but not
 * read cannot be opened for it; its new entry is then left to the
 * filesystem. */
static int fsync_at(int at, const char *shown, struct ws_err *err)
{
    int fd = openat(at, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = WS_OK;

    if (fd < 0)
        return errno == EACCES ? WS_OK
                               : ws_err_set(err, WS_EIO, "open the directory "
                                            "of %s: %s", shown,
                                            strerror(errno));
    if (fsync(fd) != 0)
        rc = ws_err_set(err, WS_EIO, "fsync of the directory of %s: %s",
                        shown, strerror(errno));
    close(fd);
    return rc;
}

/* Walk path from "/" (or the working directory) one component at a time
 * with O_NOFOLLOW, making the missing ones with mode under WS_FS_CREATE
 * (*made: the last one was made here).  A component that is a link is
 * followed only when link_trusted (any link under WS_FS_ANY), by walking
 * its target in its place; a last one under WS_FS_NOFOLLOW is refused.
 * The components are opened O_PATH (search permission is enough, as for
 * a path); *out is the last directory opened for reading, unchecked. */
static int walk(const char *path, int flags, mode_t mode, int *out,
                int *made, struct ws_err *err)
{
    char rest[2 * PATH_MAX], shown[PATH_MAX], target[PATH_MAX];
    const char *p = rest;
    size_t sn = 0;
    int cur, fd, links = 0, rc = WS_OK;

    if (strlen(path) >= PATH_MAX)
        return ws_err_set(err, WS_EUSAGE, "path too long: %.64s...", path);
    snprintf(rest, sizeof(rest), "%s", path);
    shown[0] = '\0';
    cur = open(path[0] == '/' ? "/" : ".", WALK_FLAGS);
    if (cur < 0)
        return ws_err_set(err, WS_EIO, "open %s: %s",
                          path[0] == '/' ? "/" : ".", strerror(errno));
    *made = 0;
    while (rc == WS_OK) {
        char comp[NAME_MAX + 1];
        size_t k;
        int e, last;
        ssize_t tn;

        while (*p == '/')
            p++;
        if (*p == '\0')
            break;
        k = strcspn(p, "/");
        if (k > NAME_MAX) {
            rc = ws_err_set(err, WS_EUSAGE, "name too long in %s", path);
            break;
        }
        memcpy(comp, p, k);
        comp[k] = '\0';
        p += k;
        last = p[strspn(p, "/")] == '\0';
        sn += (size_t)snprintf(shown + sn, sizeof(shown) - sn, "%s%s",
                               sn > 0 || rest[0] == '/' ? "/" : "", comp);
        if (sn >= sizeof(shown))
            sn = sizeof(shown) - 1;
        *made = 0;
        if ((flags & WS_FS_CREATE) && mkdirat(cur, comp, mode) == 0) {
            *made = 1;
            rc = fsync_at(cur, shown, err);
        } else if ((flags & WS_FS_CREATE) && errno != EEXIST) {
            rc = ws_err_set(err, WS_EIO, "mkdir %s: %s", shown,
                            strerror(errno));
        }
        if (rc != WS_OK)
            break;
        fd = openat(cur, comp, WALK_FLAGS | O_NOFOLLOW);
        if (fd >= 0) {
            close(cur);
            cur = fd;
            continue;
        }
        e = errno;
        tn = e == ELOOP || e == ENOTDIR
                 ? readlinkat(cur, comp, target, sizeof(target))
                 : -1;
        if (tn < 0 && e == ENOENT)
            rc = ws_err_set(err, WS_ENOTFOUND, "%s: no such directory", path);
        else if (tn < 0 && e == ENOTDIR)
            rc = ws_err_set(err, WS_ECONFIG, "refusing %s: not a directory",
                            shown);
        else if (tn < 0)
            rc = ws_err_set(err, WS_EIO, "open %s: %s", shown, strerror(e));
        else if (last && (flags & WS_FS_NOFOLLOW))
            rc = ws_err_set(err, WS_ECONFIG, "refusing %s: a symbolic link",
                            shown);
        else if ((size_t)tn >= sizeof(target) || ++links > 40)
            rc = ws_err_set(err, WS_ECONFIG, "refusing %s: too many links or "
                            "a link too long", shown);
        else if (!(flags & WS_FS_ANY))
            rc = link_trusted(cur, comp, shown, err);
        if (rc != WS_OK)
            break;
        /* Walk the target in the link's place. */
        target[tn] = '\0';
        if (strlen(target) + 1 + strlen(p) >= sizeof(rest)) {
            rc = ws_err_set(err, WS_EUSAGE, "path too long: %s", shown);
            break;
        }
        memmove(rest + tn + 1, p, strlen(p) + 1);
        memcpy(rest, target, (size_t)tn);
        rest[tn] = '/';
        p = rest;
        sn -= strlen(comp);
        if (sn > 0 && shown[sn - 1] == '/')
            sn--;
        shown[sn] = '\0';
        if (target[0] == '/') {
            close(cur);
            sn = 0;
            shown[0] = '\0';
            cur = open("/", WALK_FLAGS);
            if (cur < 0)
                return ws_err_set(err, WS_EIO, "open /: %s", strerror(errno));
        }
    }
    /* The last one, for reading and writing in (the components were
     * only searched: O_PATH needs no read permission). */
    fd = rc == WS_OK ? openat(cur, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                     : -1;
    if (rc == WS_OK && fd < 0)
        rc = ws_err_set(err, WS_EIO, "open %s: %s", path, strerror(errno));
    close(cur);
    if (rc != WS_OK)
        return rc;
    *out = fd;
    return WS_OK;
}

int ws_fs_dir_open(struct ws_fs_dir *d, const char *path, int flags,
                   mode_t mode, int *created, struct ws_err *err)
{
    int made = 0, fd = -1, rc;

    d->fd = -1;
    d->path = NULL;
    if (path == NULL || path[0] == '\0')
        return ws_err_set(err, WS_EUSAGE, "empty directory path");
    if ((flags & (WS_FS_ANY | WS_FS_CREATE)) == WS_FS_ANY) {
        /* Any link is followed: the path as a whole will do. */
        rc = open_checked(AT_FDCWD, path, path, flags, &fd, err);
    } else {
        rc = walk(path, flags, mode, &fd, &made, err);
        if (rc == WS_OK)
            rc = dir_check(fd, path, flags, err);
        if (rc != WS_OK && fd >= 0)
            close(fd);
    }
    if (rc == WS_OK && (d->path = strdup(path)) == NULL) {
        close(fd);
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    if (rc != WS_OK)
        return rc;
    d->fd = fd;
    if (created)
        *created = made;
    return WS_OK;
}

int ws_fs_dir_sub(struct ws_fs_dir *d, const struct ws_fs_dir *parent,
                  const char *rel, int flags, mode_t mode,
                  struct ws_err *err)
{
    char *path;
    size_t plen;
    const char *p;
    int cur = parent->fd, rc = WS_OK;

    while (*rel == '/')
        rel++;
    path = parent->fd >= 0 ? ws_path_join(parent->path, rel) : NULL;
    plen = parent->fd >= 0 ? strlen(parent->path) + 1 : 0;
    p = rel;
    d->fd = -1;
    d->path = NULL;
    if (parent->fd < 0) {
        free(path);
        return ws_err_set(err, WS_EIO, "%s: directory not open", rel);
    }
    if (path == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    while (rc == WS_OK && *p != '\0') {
        size_t k = strcspn(p, "/");
        char comp[NAME_MAX + 1], sub[PATH_MAX];
        int next = -1;

        if (k == 0) {
            p++;
            continue;
        }
        if (k > NAME_MAX || (k == 1 && p[0] == '.') ||
            (k == 2 && p[0] == '.' && p[1] == '.')) {
            rc = ws_err_set(err, WS_EUSAGE, "bad directory name in %s",
                            path);
            break;
        }
        memcpy(comp, p, k);
        comp[k] = '\0';
        p += k;
        snprintf(sub, sizeof(sub), "%.*s", (int)(plen + (size_t)(p - rel)),
                 path);
        if ((flags & WS_FS_CREATE) && mkdirat(cur, comp, mode) == 0) {
            if (fsync(cur) != 0)
                rc = ws_err_set(err, WS_EIO, "fsync of the directory of "
                                "%s: %s", sub, strerror(errno));
        } else if ((flags & WS_FS_CREATE) && errno != EEXIST) {
            rc = ws_err_set(err, WS_EIO, "mkdir %s: %s", sub,
                            strerror(errno));
        }
        if (rc == WS_OK)
            rc = open_checked(cur, comp, sub, flags | WS_FS_NOFOLLOW, &next,
                              err);
        if (cur != parent->fd)
            close(cur);
        cur = rc == WS_OK ? next : -1;
    }
    if (rc == WS_OK && cur == parent->fd &&
        (cur = fcntl(parent->fd, F_DUPFD_CLOEXEC, 0)) < 0)
        rc = ws_err_set(err, WS_EIO, "dup %s: %s", path, strerror(errno));
    if (rc != WS_OK) {
        if (cur >= 0 && cur != parent->fd)
            close(cur);
        free(path);
        return rc;
    }
    d->fd = cur;
    d->path = path;
    return WS_OK;
}

void ws_fs_dir_close(struct ws_fs_dir *d)
{
    if (d->fd >= 0)
        close(d->fd);
    free(d->path);
    d->fd = -1;
    d->path = NULL;
}

int ws_fs_dir_fsync(const struct ws_fs_dir *d, struct ws_err *err)
{
    return ws_fs_fsync(d->fd, d->path, err);
}

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

int ws_fs_mkdir_p(const char *path, mode_t mode, struct ws_err *err)
{
    struct ws_fs_dir d;
    int rc = ws_fs_dir_open(&d, path, WS_FS_CREATE, mode, NULL, err);

    ws_fs_dir_close(&d);
    return rc;
}

/* ---- paths and clocks ------------------------------------------------ */

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

const char *ws_path_base(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
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
