/*
 * fs.c: trusted directories, opened and checked through their
 * descriptors (fs.h has the rules; fs_file.c makes the files in them).
 */
#include "ws/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


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

int ws_fs_mkdir_p(const char *path, mode_t mode, struct ws_err *err)
{
    struct ws_fs_dir d;
    int rc = ws_fs_dir_open(&d, path, WS_FS_CREATE, mode, NULL, err);

    ws_fs_dir_close(&d);
    return rc;
}
