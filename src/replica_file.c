/*
 * replica_file.c: the directory replica backend.
 *
 * Objects are files under the replica root, at their keys.  A PUT
 * creates a new `<key>.tmp-XXXXXX` (fs.h: O_EXCL|O_NOFOLLOW, a random
 * suffix), fsyncs it, renames it over `<key>` and fsyncs the directory
 * (and, when it had to create them, the directories above), so an object
 * is either absent or whole, and nothing planted at either name -- a
 * symbolic link out of the replica -- is ever written through.  The
 * replica root must pass fs.h's rule for a directory walship writes in
 * (its user's or root's, not writable by group or others), and the
 * directories under it are opened one component at a time, never
 * through a link.  Listings skip temporary names (walship's and
 * Litestream's `*.tmp`), symbolic links and anything else that is not a
 * regular file or a directory; a GET never follows a link.  Reads open
 * the directories below the root the same way (openat, O_NOFOLLOW), so
 * a listing or a GET through a planted link (`generations` pointing at
 * another replica's) is refused as replicate refuses it.  Every
 * operation runs on the libuv thread pool; the request's callback then
 * runs on the loop thread.
 *
 * New directories get mode 0700 and files 0600: a replica holds the
 * whole database, so it is private to its owner by default.  A PUT with
 * gen_must_exist never creates its generation's directory: a generation
 * that is gone while walship writes it means the replica lost its
 * history, which a recreated directory would hide (replica.h).  Large
 * objects are written with O_DIRECT (see put_state).  A DEL of exact
 * keys unlinks them and removes the directories this leaves empty, below
 * the generation's; a DEL of a prefix removes the tree.
 */
#include "ws/log.h"
#include "ws/crashpt.h"
#include "ws/fs.h"
#include "ws/replica.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

static int full_path(const struct ws_replica *r, const char *key, char *buf,
                     size_t n, struct ws_err *err)
{
    int k = snprintf(buf, n, "%s/%s", r->cfg->path, key);

    if (k < 0 || (size_t)k >= n)
        return ws_err_set(err, WS_EIO, "path too long for key %s", key);
    return WS_OK;
}

/* An object time: the file's mtime, in ms, kept to S3's range of years
 * (1970 to 9999) whatever the file system holds. */
static int64_t file_mtime_ms(const struct stat *st)
{
    const int64_t max_s = INT64_C(253402300799); /* 9999-12-31T23:59:59Z */
    int64_t s = (int64_t)st->st_mtim.tv_sec;

    if (s < 0)
        return 0;
    if (s > max_s)
        return max_s * 1000;
    return s * 1000 + st->st_mtim.tv_nsec / 1000000;
}

/* Keys are a few levels deep (generations/<gen>/walship/times/<name>);
 * deeper directories are not walked, so a planted tree cannot exhaust
 * the thread's stack. */
#define MAX_DEPTH 16

/* Open the replica root (a link in its own path is the user's choice),
 * then rel below it one component at a time, never through a link:
 * a `generations` planted as a link to another replica is refused with
 * the message replicate gives ("refusing <path>: a symbolic link"), for
 * reads as for writes.  Reads take any owner and mode (WS_FS_ANY).
 * WS_ENOTFOUND when the root or a component is missing. */
static int open_below_root(const struct ws_replica *r, const char *rel,
                           struct ws_fs_dir *d, struct ws_err *err)
{
    struct ws_fs_dir root;
    int rc = ws_fs_dir_open(&root, r->cfg->path, WS_FS_ANY, 0, NULL, err);

    d->fd = -1;
    d->path = NULL;
    if (rc == WS_OK)
        rc = ws_fs_dir_sub(d, &root, rel, WS_FS_ANY, 0, err);
    ws_fs_dir_close(&root);
    if (rc != WS_OK && rc != WS_ENOTFOUND) /* refused, unreadable */
        ws_err_at(err, WS_AT_REPLICA);
    return rc;
}

/* List the directory open at fd (closed here), whose keys start with
 * rel, into l. */
static int list_fd(int fd, const char *path, const char *rel,
                   struct ws_objlist *l, int depth, struct ws_err *err)
{
    struct dirent *de;
    DIR *d = fdopendir(fd);
    int rc = WS_OK;

    if (d == NULL) {
        close(fd);
        ws_err_set(err, WS_EIO, "list %s: %s", path, strerror(errno));
        return ws_err_at(err, WS_AT_REPLICA);
    }
    while (rc == WS_OK && (de = readdir(d)) != NULL) {
        char child[WS_KEY_MAX], full[4200];
        struct stat st;
        size_t n = strlen(de->d_name);
        int sub;

        if (de->d_name[0] == '.' &&
            (n == 1 || (n == 2 && de->d_name[1] == '.')))
            continue;
        if (snprintf(child, sizeof(child), "%s%s%s", rel,
                     rel[0] && rel[strlen(rel) - 1] != '/' ? "/" : "",
                     de->d_name) >= (int)sizeof(child))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* removed while listing */
        if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH) {
            sub = openat(dirfd(d), de->d_name,
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0 && errno == ENOENT)
                continue;
            if (sub < 0) { /* replaced (by a link?) since the fstatat */
                ws_objlist_skip(l, child, "not a regular file");
                continue;
            }
            snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
            rc = list_fd(sub, full, child, l, depth + 1, err);
        } else if (!S_ISREG(st.st_mode)) {
            ws_objlist_skip(l, child,
                            S_ISLNK(st.st_mode)    ? "a symbolic link"
                            : S_ISFIFO(st.st_mode) ? "a FIFO"
                            : S_ISDIR(st.st_mode)  ? "a directory too deep"
                                                   : "not a regular file");
        } else {
            if (ws_fs_is_tmp_name(de->d_name))
                continue;
            rc = ws_objlist_add(l, child, (uint64_t)st.st_size,
                                file_mtime_ms(&st));
            if (rc == WS_ERANGE)
                rc = ws_err_set(err, rc, "list %s: more than %d files", path,
                                WS_LIST_MAX_KEYS);
            else if (rc != WS_OK)
                rc = ws_err_set(err, rc, "out of memory");
        }
    }
    closedir(d);
    return rc;
}

/* The keys under prefix (a directory's key, "" for the whole replica);
 * a missing directory lists as empty. */
static int list_dir(const struct ws_replica *r, const char *prefix,
                    struct ws_objlist *l, struct ws_err *err)
{
    struct ws_fs_dir d;
    int rc = open_below_root(r, prefix, &d, err), fd;

    if (rc == WS_ENOTFOUND) {
        ws_err_clear(err);
        return WS_OK;
    }
    if (rc != WS_OK)
        return rc;
    fd = d.fd;
    d.fd = -1;
    rc = list_fd(fd, d.path, prefix, l, 0, err);
    ws_fs_dir_close(&d);
    return rc;
}

/*
 * Large objects (snapshots) bypass the page cache: past DIRECT_FROM
 * bytes the file is switched to O_DIRECT and written from an aligned
 * buffer in DIRECT_BUF pieces.  The object is fsynced right after anyway,
 * so buffered writes would only copy every byte into the page cache
 * (most of a snapshot's CPU time, measured), push the database's own hot
 * pages out, and leave all of the writeback to the fsync.  Where O_DIRECT
 * is refused (tmpfs, some network and FUSE file systems) or a direct
 * write fails with EINVAL, the object carries on buffered.  The tail, less
 * than a whole buffer, is written buffered after clearing O_DIRECT.
 */
#define DIRECT_FROM (8u << 20) /* a multiple of DIRECT_ALIGN */
#define DIRECT_BUF (1u << 20)
#define DIRECT_ALIGN 4096 /* covers 512- and 4096-byte sectors */

struct put_state {
    int fd;
    uint64_t off; /* bytes in the file */
    const char *path;
    uint8_t *dbuf; /* direct mode: DIRECT_BUF aligned bytes, or NULL */
    size_t dlen;   /* bytes waiting in dbuf, to go at off */
    int tried;     /* direct mode was tried (on, or refused) */
};

/* Leave direct mode: the rest goes through the page cache. */
static void direct_off(struct put_state *p)
{
    int fl = fcntl(p->fd, F_GETFL);

    if (fl >= 0)
        fcntl(p->fd, F_SETFL, fl & ~O_DIRECT);
}

/* Write what waits in dbuf at p->off (buffered if direct I/O fails). */
static int direct_flush(struct put_state *p, int last, struct ws_err *err)
{
    ssize_t k = -1;
    int rc;

    if (p->dlen == 0)
        return WS_OK;
    if (last)
        direct_off(p);
    else
        while ((k = pwrite(p->fd, p->dbuf, p->dlen, (off_t)p->off)) < 0 &&
               errno == EINTR)
            ;
    if (k >= 0 && (size_t)k != p->dlen)
        direct_off(p); /* a short direct write: finish it buffered */
    else if (k < 0 && !last && errno != EINVAL)
        return ws_err_set(err, WS_EIO, "%s: write: %s", p->path,
                          strerror(errno));
    else if (k < 0 && !last)
        direct_off(p);
    if (k < 0)
        k = 0;
    rc = ws_fs_pwrite(p->fd, p->dbuf + k, p->dlen - (size_t)k,
                      p->off + (uint64_t)k, err);
    if (rc != WS_OK)
        return ws_err_wrap(err, "%s", p->path);
    p->off += p->dlen;
    p->dlen = 0;
    return WS_OK;
}

/* Past DIRECT_FROM: turn direct mode on if the file system takes it. */
static void direct_on(struct put_state *p)
{
    int fl = fcntl(p->fd, F_GETFL);
    void *b = NULL;

    p->tried = 1;
    if (fl < 0 || posix_memalign(&b, DIRECT_ALIGN, DIRECT_BUF) != 0)
        return;
    if (fcntl(p->fd, F_SETFL, fl | O_DIRECT) != 0) {
        free(b);
        return;
    }
    p->dbuf = b;
}

static int put_sink(void *ctx, const void *buf, size_t len,
                    struct ws_err *err)
{
    struct put_state *p = ctx;
    const uint8_t *b = buf;
    int rc = WS_OK;

    /* Buffered up to DIRECT_FROM (and for good where direct I/O is
     * refused). */
    if (p->dbuf == NULL && p->off < DIRECT_FROM) {
        size_t n = DIRECT_FROM - p->off < len ? DIRECT_FROM - p->off : len;
        rc = ws_fs_pwrite(p->fd, b, n, p->off, err);
        p->off += n;
        b += n;
        len -= n;
    }
    if (rc == WS_OK && len > 0 && !p->tried)
        direct_on(p);
    if (rc == WS_OK && len > 0 && p->dbuf == NULL) {
        rc = ws_fs_pwrite(p->fd, b, len, p->off, err);
        p->off += len;
        len = 0;
    }
    if (rc != WS_OK)
        return ws_err_wrap(err, "%s", p->path);
    while (rc == WS_OK && len > 0) {
        size_t n = DIRECT_BUF - p->dlen < len ? DIRECT_BUF - p->dlen : len;
        memcpy(p->dbuf + p->dlen, b, n);
        p->dlen += n;
        b += n;
        len -= n;
        if (p->dlen == DIRECT_BUF)
            rc = direct_flush(p, 0, err);
    }
    return rc;
}

/* Open the directory of req's key under the replica root (checked by
 * fs.h's rule), one component at a time and never through a link,
 * making what is missing.  With gen_must_exist the root and the
 * directory of the key's generation are never made: a generation that
 * is gone while walship writes it means the replica lost its history,
 * which a recreated directory would hide (replica.h); that is
 * WS_ENOTFOUND. */
static int open_key_dir(const struct ws_req *req, struct ws_fs_dir *d,
                        struct ws_err *err)
{
    const char *key = req->key, *slash = strrchr(key, '/'), *end;
    struct ws_fs_dir root, gen = {-1, NULL};
    char rel[WS_KEY_MAX], g[WS_KEY_MAX];
    size_t keep = 0; /* bytes of rel that must exist: generations/<gen> */
    int rc;

    snprintf(rel, sizeof(rel), "%.*s", slash ? (int)(slash - key) : 0, key);
    if (req->gen_must_exist && strncmp(key, "generations/", 12) == 0 &&
        (end = strchr(key + 12, '/')) != NULL)
        keep = (size_t)(end - key);
    rc = ws_fs_dir_open(&root, req->r->cfg->path, keep ? 0 : WS_FS_CREATE,
                        0700, NULL, err);
    if (rc == WS_OK && keep > 0) {
        snprintf(g, sizeof(g), "%.*s", (int)keep, key);
        rc = ws_fs_dir_sub(&gen, &root, g, 0, 0, err);
        if (rc == WS_OK)
            rc = ws_fs_dir_sub(d, &gen, rel + keep, WS_FS_CREATE, 0700,
                               err);
    } else if (rc == WS_OK) {
        rc = ws_fs_dir_sub(d, &root, rel, WS_FS_CREATE, 0700, err);
    }
    if (rc == WS_ENOTFOUND)
        ws_err_set(err, rc, "%s/%.*s is gone", req->r->cfg->path, (int)keep,
                   key);
    ws_fs_dir_close(&gen);
    ws_fs_dir_close(&root);
    return rc;
}

/* A new "<key>.tmp-XXXXXX" (fs.h), filled, synced and renamed over the
 * key: a link or file planted at either name is never written through. */
static int do_put(struct ws_req *req)
{
    const char *base = strrchr(req->key, '/');
    char tmp[NAME_MAX + 1], tmppath[PATH_MAX];
    struct put_state p = {-1, 0, tmppath, NULL, 0, 0};
    struct ws_fs_dir dir = {-1, NULL};
    int rc;

    base = base ? base + 1 : req->key;
    rc = open_key_dir(req, &dir, &req->err);
    if (rc == WS_OK) {
        rc = ws_fs_tmp_create(&dir, base, 0600, tmp, sizeof(tmp), &p.fd,
                              &req->err);
        /* Retention may have removed the directory, empty, just now. */
        if (rc == WS_ENOTFOUND) {
            ws_fs_dir_close(&dir);
            rc = open_key_dir(req, &dir, &req->err);
            if (rc == WS_OK)
                rc = ws_fs_tmp_create(&dir, base, 0600, tmp, sizeof(tmp),
                                      &p.fd, &req->err);
            if (rc == WS_ENOTFOUND && dir.fd >= 0) /* not "gone" */
                rc = req->err.code = WS_EIO;
        }
    }
    if (rc == WS_OK) {
        snprintf(tmppath, sizeof(tmppath), "%s/%s", dir.path, tmp);
        rc = req->produce(req->produce_ctx, put_sink, &p, &req->err);
        if (rc == WS_OK && p.dbuf)
            rc = direct_flush(&p, 1, &req->err);
        if (rc == WS_OK)
            WS_CRASHPOINT("file-put-before-rename");
        if (rc == WS_OK)
            rc = ws_fs_tmp_commit(&dir, tmp, p.fd, base, &req->err);
        else
            unlinkat(dir.fd, tmp, 0);
    }
    free(p.dbuf);
    if (p.fd >= 0 && close(p.fd) != 0 && rc == WS_OK)
        rc = ws_err_set(&req->err, WS_EIO, "close %s/%s: %s", dir.path,
                        base, strerror(errno));
    ws_fs_dir_close(&dir);
    req->put_size = p.off;
    return rc;
}

/* An object is a regular file at its key: a symbolic link planted there
 * or at any directory above it (below the root) is not followed, and a
 * FIFO or device is not opened for reading (a FIFO would block the
 * restore for good); listings skip both. */
static int do_get(struct ws_req *req, const char *path)
{
    const char *slash = strrchr(req->key, '/');
    char rel[WS_KEY_MAX];
    struct ws_fs_dir dir;
    uint8_t *buf = NULL;
    uint64_t off = 0;
    struct stat st;
    int fd = -1, rc = WS_OK;

    snprintf(rel, sizeof(rel), "%.*s", slash ? (int)(slash - req->key) : 0,
             req->key);
    rc = open_below_root(req->r, rel, &dir, &req->err);
    if (rc == WS_ENOTFOUND)
        return ws_err_set(&req->err, WS_ENOTFOUND,
                          "object %s does not exist", req->key);
    if (rc != WS_OK)
        return rc;
    /* Never through a link, and never blocked by a FIFO put there. */
    fd = openat(dir.fd, slash ? slash + 1 : req->key,
                O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    ws_fs_dir_close(&dir);
    if (fd < 0 && errno == ENOENT)
        return ws_err_set(&req->err, WS_ENOTFOUND, "object %s does not exist",
                          req->key);
    if (fd < 0 && errno == ELOOP)
        return ws_err_set(&req->err, WS_EIO, "object %s: a symbolic link",
                          req->key);
    if (fd < 0) {
        ws_err_set(&req->err, WS_EIO, "open %s: %s", path, strerror(errno));
        return ws_err_at(&req->err, WS_AT_REPLICA);
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        rc = ws_err_set(&req->err, WS_EIO, "object %s: not a regular file",
                        req->key);
    if (rc == WS_OK && (buf = malloc(CHUNK)) == NULL)
        rc = ws_err_set(&req->err, WS_ENOMEM, "out of memory");
    while (rc == WS_OK) {
        size_t got;
        rc = ws_fs_pread(fd, buf, CHUNK, off, &got, &req->err);
        if (rc != WS_OK || got == 0)
            break;
        rc = ws_replica_deliver(req, buf, got, &req->err);
        off += got;
    }
    free(buf);
    close(fd);
    return rc;
}

/* 1 if a and b are in the same directory. */
static int same_dir(const char *a, const char *b)
{
    const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');

    return sa && sb && sa - a == sb - b && strncmp(a, b, sa - a) == 0;
}

/* Remove the directories of key that are now empty, from the deepest up
 * to (not including) its generation's directory: that one goes only with
 * a whole-generation delete.  A directory that is not empty, or that a
 * PUT has just recreated, stops it (do_put copes with one removed under
 * it). */
static void prune_dirs(const char *root, const char *key)
{
    char rel[WS_KEY_MAX], path[4200], *slash;

    snprintf(rel, sizeof(rel), "%s", key);
    while ((slash = strrchr(rel, '/')) != NULL) {
        size_t depth = 0;
        *slash = '\0';
        for (const char *c = rel; *c; c++)
            depth += *c == '/';
        if (depth < 2) /* "generations/<gen>" and above stay */
            return;
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        if (rmdir(path) != 0)
            return;
    }
}

/* DEL of exact keys: unlink each (one already gone is fine), recording
 * each failure, then prune the directories left empty. */
static int del_keys(struct ws_req *req)
{
    char path[4096], msg[4400];
    int rc = WS_OK;

    for (size_t i = 0; i < req->nkeys; i++) {
        const char *key = req->keys[i];
        if (i > 0)
            WS_CRASHPOINT("file-between-deletes");
        if (full_path(req->r, key, path, sizeof(path), NULL) != WS_OK) {
            snprintf(msg, sizeof(msg), "path too long for key %s", key);
        } else if (unlink(path) != 0 && errno != ENOENT) {
            snprintf(msg, sizeof(msg), "unlink %s: %s", path, strerror(errno));
        } else {
            if (i + 1 == req->nkeys || !same_dir(key, req->keys[i + 1]))
                prune_dirs(req->r->cfg->path, key);
            continue;
        }
        if (ws_req_delerr_add(req, key, msg) != WS_OK)
            return ws_err_set(&req->err, WS_ENOMEM, "out of memory");
        if (rc == WS_OK)
            rc = ws_err_set(&req->err, WS_EIO, "%s", msg);
    }
    return rc;
}

static void on_work(uv_work_t *w)
{
    struct ws_req *req = w->data;
    char path[4096];
    int rc;

    rc = full_path(req->r, req->key, path, sizeof(path), &req->err);
    if (rc == WS_OK && req->type == WS_REQ_DEL && !req->keys &&
        req->key[0] == '\0')
        rc = ws_err_set(&req->err, WS_EUSAGE,
                        "refusing to delete the "
                        "whole replica");
    if (rc == WS_OK) {
        switch (req->type) {
        case WS_REQ_LIST:
            rc = list_dir(req->r, req->key, &req->list, &req->err);
            break;
        case WS_REQ_PUT:
            rc = do_put(req);
            break;
        case WS_REQ_GET:
            rc = do_get(req, path);
            break;
        case WS_REQ_DEL:
            rc = req->keys ? del_keys(req) : ws_fs_rm_rf(path, &req->err);
            break;
        }
    }
    req->rc = rc;
}

static void on_done(uv_work_t *w, int status)
{
    struct ws_req *req = w->data;

    if (status != 0 && req->rc == WS_OK)
        req->rc = ws_err_set(&req->err, WS_EIO, "cancelled");
    ws_replica_done(req);
}

static void file_submit(struct ws_replica *r, struct ws_req *req)
{
    int rc;

    req->work.data = req;
    rc = uv_queue_work(r->loop, &req->work, on_work, on_done);
    if (rc != 0) {
        req->rc = ws_err_set(&req->err, WS_EIO, "queue work: %s",
                             uv_strerror(rc));
        ws_replica_done(req);
    }
}

static void file_describe(const struct ws_replica *r, char *buf, size_t n)
{
    ws_log_pair(buf, n, "path", r->cfg->path);
}

const struct ws_replica_ops ws_replica_file_ops = {
    "file",
    NULL,
    file_submit,
    file_describe,
    NULL,
};
