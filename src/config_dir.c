/*
 * config_dir.c: directory entries, the databases a `dbs:` item names by
 * a directory and a pattern instead of a path (Litestream v0.5's keys).
 *
 *   dbs:
 *     - dir: /var/lib/tenants
 *       pattern: "*.db"        # on file names; the default
 *       recursive: true        # subdirectories too; default false
 *       replicas:
 *         - url: s3://backups/tenants
 *
 * Each file under dir whose name matches pattern (fnmatch(3), a leading
 * dot matched only by a dot) and that is a SQLite database (its first 16
 * bytes are "SQLite format 3" and a NUL, or it is empty: a database
 * being created) becomes a database entry of its own, with every other
 * key of the item.  Its replicas are the item's, each at the item's
 * replica path plus the database's path relative to dir: /var/lib/
 * tenants/eu/a.db replicates to s3://backups/tenants/eu/a.db, as
 * Litestream v0.5 places it, so either tool finds the other's replicas.
 * A meta-path set on the item is a directory under which each database
 * gets its own (meta-path/eu/a.db); unset, each gets the default beside
 * it.
 *
 * The walk takes what is there when the config is read.  It never
 * follows a symbolic link (neither to a file nor into a directory: a
 * planted link must not make walship read or write elsewhere), skips
 * directories whose names begin with a dot (meta directories are
 * there), and files other than regular ones.  Databases that appear
 * later are not picked up until walship starts again: `watch: true`,
 * which would ask for that, is refused rather than ignored.
 *
 * The items themselves are kept (cfg->dirs), so that a command can name
 * a database that is not there yet, which is what restoring one is
 * (ws_config_dir_db).  A missing or unreadable dir is no error here:
 * `replicate` says so (ws_config_dirs_check), a restore does not care.
 */
#include "ws/config.h"
#include "ws/config_int.h"
#include "ws/str.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 64 /* directories below dir, at most; deeper is an error */

static const char sqlite_magic[16] = "SQLite format 3";

static int oom(struct ws_err *err)
{
    return ws_err_set(err, WS_ENOMEM, "out of memory");
}

/* SQLite's own files beside a database, never databases themselves
 * (an empty -wal or journal would pass the header test). */
static int sqlite_sidecar(const char *name)
{
    static const char *const ends[] = {"-wal", "-shm", "-journal"};
    size_t n = strlen(name);

    for (size_t i = 0; i < sizeof(ends) / sizeof(*ends); i++) {
        size_t k = strlen(ends[i]);
        if (n > k && strcmp(name + n - k, ends[i]) == 0)
            return 1;
    }
    return 0;
}

/* Whether the regular file `name` in the directory dfd is a SQLite
 * database, or an empty file (a database being created): 1 or 0, or -1
 * with errno when it cannot be read (which the walk reports: a database
 * walship cannot read must not be left out without a word). */
static int is_database(int dfd, const char *name)
{
    char b[16];
    ssize_t n;
    int fd = openat(dfd, name,
                    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return errno == ENOENT ? 0 : -1; /* gone since readdir */
    n = pread(fd, b, sizeof(b), 0);
    if (n < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    close(fd);
    return n == 0 || (n == (ssize_t)sizeof(b) &&
                      memcmp(b, sqlite_magic, sizeof(b)) == 0);
}

/* A part of the walk that failed: the first is kept. */
static int walk_failed(struct ws_dir_scan *s, const char *at, int e)
{
    if (s->err_no != 0)
        return WS_OK;
    s->err_no = e;
    return ws_str_set(&s->err_path, at);
}

/* The databases in the open directory dfd (path `at`, the item's dir
 * or below it), into s. */
static int walk(const struct ws_db_config *t, int dfd, const char *at,
                int depth, struct ws_dir_scan *s)
{
    DIR *d = fdopendir(dfd);
    struct dirent *e;
    int rc = WS_OK;

    if (d == NULL) {
        rc = walk_failed(s, at, errno);
        close(dfd);
        return rc;
    }
    rc = ws_strv_push(&s->dirs, strdup(at)) == WS_OK &&
                 s->dirs.v[s->dirs.n - 1] != NULL
             ? WS_OK
             : WS_ENOMEM;
    while (rc == WS_OK && (e = readdir(d)) != NULL) {
        struct stat sb;
        char *p;

        if (e->d_name[0] == '.' &&
            (e->d_name[1] == '\0' ||
             (e->d_name[1] == '.' && e->d_name[2] == '\0')))
            continue;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* gone since readdir */
        p = ws_path_join(at, e->d_name);
        if (p == NULL) {
            rc = WS_ENOMEM;
            break;
        }
        if (S_ISDIR(sb.st_mode) && t->recursive > 0 && e->d_name[0] != '.' &&
            (t->meta_path == NULL || strcmp(p, t->meta_path) != 0)) {
            int sub = depth >= MAX_DEPTH
                          ? -2
                          : openat(dirfd(d), e->d_name,
                                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                       O_CLOEXEC);
            if (sub >= 0)
                rc = walk(t, sub, p, depth + 1, s);
            else
                rc = walk_failed(s, p, sub == -2 ? WS_DIR_TOO_DEEP : errno);
        } else if (S_ISREG(sb.st_mode) && !sqlite_sidecar(e->d_name) &&
                   fnmatch(t->pattern, e->d_name, FNM_PERIOD) == 0) {
            int db = is_database(dirfd(d), e->d_name);
            if (db < 0)
                rc = walk_failed(s, p, errno);
            else if (db > 0 && (rc = ws_strv_push(&s->dbs, p)) == WS_OK)
                p = NULL; /* the list's now */
        }
        free(p);
    }
    closedir(d);
    return rc;
}

int ws_config_dir_scan(const struct ws_db_config *t, struct ws_dir_scan *s)
{
    int fd, rc;

    memset(s, 0, sizeof(*s));
    /* dir itself may be a link (the config names it); nothing below it
     * is followed. */
    fd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    rc = fd < 0 ? walk_failed(s, t->dir, errno) : walk(t, fd, t->dir, 0, s);
    if (rc == WS_OK && s->dbs.n > 1)
        qsort(s->dbs.v, s->dbs.n, sizeof(*s->dbs.v), ws_str_cmp_p);
    return rc;
}

void ws_config_dir_scan_free(struct ws_dir_scan *s)
{
    ws_strv_free(&s->dbs);
    ws_strv_free(&s->dirs);
    free(s->err_path);
    memset(s, 0, sizeof(*s));
}

/* dst = a deep copy of the item's replica src, at src's path plus rel. */
static int derive_replica(struct ws_replica_config *dst,
                          const struct ws_replica_config *src,
                          const char *rel)
{
    int rc;

    memset(dst, 0, sizeof(*dst));
    dst->line = src->line;
    dst->sync_interval_ms = src->sync_interval_ms;
    dst->snapshot_interval_ms = src->snapshot_interval_ms;
    dst->retention_ms = src->retention_ms;
    dst->retention_check_interval_ms = src->retention_check_interval_ms;
    dst->validation_interval_ms = src->validation_interval_ms;
    dst->force_path_style = src->force_path_style;
    dst->skip_verify = src->skip_verify;
    rc = ws_str_set(&dst->name, src->name);
    if (rc == WS_OK)
        rc = ws_str_set(&dst->type, src->type);
    if (rc == WS_OK)
        rc = ws_str_set(&dst->bucket, src->bucket);
    if (rc == WS_OK)
        rc = ws_str_set(&dst->region, src->region);
    if (rc == WS_OK)
        rc = ws_str_set(&dst->endpoint, src->endpoint);
    if (rc == WS_OK)
        rc = ws_str_set(&dst->access_key_id, src->access_key_id);
    if (rc == WS_OK)
        rc = ws_str_set(&dst->secret_access_key, src->secret_access_key);
    if (rc == WS_OK) {
        /* An S3 prefix may be empty: the key then starts at rel. */
        const char *base = src->path ? src->path : "";
        size_t n = strlen(base);
        while (n > 0 && base[n - 1] == '/')
            n--;
        dst->path = malloc(n + 1 + strlen(rel) + 1);
        if (dst->path == NULL)
            rc = WS_ENOMEM;
        else if (n == 0 && strcmp(src->type, "s3") == 0)
            strcpy(dst->path, rel);
        else
            sprintf(dst->path, "%.*s/%s", (int)n, base, rel);
    }
    return rc;
}

/* *db = the entry of the database at path, under the item t's dir (db's
 * old contents are not freed: it is new). */
static int derive_into(struct ws_db_config *db, const struct ws_db_config *t,
                       const char *path)
{
    const char *rel = path + strlen(t->dir);

    while (*rel == '/')
        rel++;
    *db = *t;
    db->dir = db->pattern = NULL;
    db->recursive = db->watch = -1;
    db->path = db->meta_path = NULL;
    db->replicas = NULL;
    db->nreplicas = 0;
    db->found = 0;
    db->scan_errno = 0;
    db->scan_path = NULL;
    if (ws_str_set(&db->path, path) != WS_OK)
        return WS_ENOMEM;
    if (t->meta_path != NULL &&
        (db->meta_path = ws_path_join(t->meta_path, rel)) == NULL)
        return WS_ENOMEM;
    db->replicas = calloc(t->nreplicas, sizeof(*db->replicas));
    if (db->replicas == NULL)
        return WS_ENOMEM;
    for (size_t i = 0; i < t->nreplicas; i++) {
        int rc = derive_replica(&db->replicas[i], &t->replicas[i], rel);
        db->nreplicas++;
        if (rc != WS_OK)
            return rc;
    }
    return WS_OK;
}

/* A database entry for path (under the item t's dir) appended to
 * cfg->dbs; *out its index. */
static int derive_db(struct ws_config *cfg, const struct ws_db_config *t,
                     const char *path, size_t *out, struct ws_err *err)
{
    struct ws_db_config *v = realloc(cfg->dbs, (cfg->ndbs + 1) * sizeof(*v));

    if (v == NULL)
        return oom(err);
    cfg->dbs = v;
    cfg->ndbs++;
    if (derive_into(&v[cfg->ndbs - 1], t, path) != WS_OK)
        return oom(err); /* what was made is freed with cfg */
    *out = cfg->ndbs - 1;
    return WS_OK;
}

int ws_config_dir_db_new(const struct ws_config *cfg,
                         const struct ws_db_config *t, const char *path,
                         struct ws_db_config **out, struct ws_err *err)
{
    struct ws_db_config *db = calloc(1, sizeof(*db));
    int rc;

    if (db == NULL)
        return oom(err);
    rc = derive_into(db, t, path) == WS_OK ? WS_OK : oom(err);
    if (rc == WS_OK)
        rc = ws_config_finish_db(cfg, db, cfg->source, err);
    if (rc != WS_OK) {
        ws_config_db_free(db);
        return rc;
    }
    *out = db;
    return WS_OK;
}

/* Check an item on its own and finish its replicas (their paths are
 * the bases the databases' paths are added to). */
static int check_item(const struct ws_config *cfg, struct ws_db_config *t,
                      const char *name, struct ws_err *err)
{
    int rc = WS_OK;

    if (t->path != NULL)
        rc = ws_err_set(err, WS_ECONFIG,
                        "\"path\" and \"dir\" cannot both be set: an entry "
                        "is one database (path) or a directory of them "
                        "(dir)");
    else if (t->pattern != NULL && strchr(t->pattern, '/') != NULL)
        rc = ws_err_set(err, WS_ECONFIG,
                        "pattern \"%s\" has a '/': it matches file names "
                        "(set recursive: true for subdirectories)",
                        t->pattern);
    else if (t->pattern != NULL && ws_str_blank(t->pattern))
        rc = ws_err_set(err, WS_ECONFIG, "pattern \"%s\" is blank",
                        t->pattern);
    else if (t->pattern == NULL && ws_str_set(&t->pattern, "*.db") != WS_OK)
        rc = oom(err);
    if (rc == WS_OK)
        rc = ws_config_abs(&t->dir, "dir", err);
    if (rc == WS_OK && t->meta_path != NULL)
        rc = ws_config_abs(&t->meta_path, "meta-path", err);
    if (rc == WS_OK && t->nreplicas == 0)
        rc = ws_err_set(err, WS_ECONFIG,
                        "directory %s has no replicas: add a \"replicas\" "
                        "list",
                        t->dir);
    for (size_t i = 0; rc == WS_OK && i < t->nreplicas; i++) {
        rc = ws_config_finish_replica(cfg, &t->replicas[i], err);
        for (size_t j = 0; rc == WS_OK && j < i; j++)
            if (strcmp(t->replicas[j].name, t->replicas[i].name) == 0)
                rc = ws_err_set(err, WS_ECONFIG,
                                "duplicate replica name: \"%s\"",
                                t->replicas[i].name);
        if (rc != WS_OK)
            return ws_config_at_line(rc, name, t->replicas[i].line, err);
    }
    return ws_config_at_line(rc, name, t->line, err);
}

int ws_config_expand_dirs(struct ws_config *cfg, const char *name,
                          struct ws_err *err)
{
    size_t keep = 0, nd = 0;
    int rc = WS_OK;

    for (size_t i = 0; i < cfg->ndbs; i++)
        nd += cfg->dbs[i].dir != NULL;
    if (nd == 0)
        return WS_OK;
    cfg->dirs = calloc(nd, sizeof(*cfg->dirs));
    if (cfg->dirs == NULL)
        return oom(err);
    /* The items move to cfg->dirs; the databases stay in their order. */
    for (size_t i = 0; i < cfg->ndbs; i++) {
        if (cfg->dbs[i].dir != NULL)
            cfg->dirs[cfg->ndirs++] = cfg->dbs[i];
        else
            cfg->dbs[keep++] = cfg->dbs[i];
    }
    cfg->ndbs = keep;
    for (size_t i = 0; rc == WS_OK && i < cfg->ndirs; i++) {
        struct ws_db_config *t = &cfg->dirs[i];
        struct ws_dir_scan f;
        size_t at;

        rc = check_item(cfg, t, name, err);
        if (rc != WS_OK)
            break;
        if (ws_config_dir_scan(t, &f) != WS_OK)
            rc = oom(err);
        for (size_t k = 0; rc == WS_OK && k < f.dbs.n; k++)
            rc = derive_db(cfg, t, f.dbs.v[k], &at, err);
        t->found = f.dbs.n;
        t->scan_errno = f.err_no;
        t->scan_path = f.err_path;
        f.err_path = NULL;
        ws_config_dir_scan_free(&f);
    }
    return rc;
}

/* The entry of cfg whose dir holds abs (absolute, clean) and whose
 * pattern its name matches: its index, or -1.  *rel: abs below dir. */
static int holder(const struct ws_config *cfg, const char *abs,
                  const char **rel)
{
    for (size_t i = 0; i < cfg->ndirs; i++) {
        const struct ws_db_config *t = &cfg->dirs[i];
        size_t n = strcmp(t->dir, "/") == 0 ? 0 : strlen(t->dir);
        const char *r = abs + n;

        if (strncmp(abs, t->dir, n) != 0 || *r != '/' || r[1] == '\0' ||
            (t->recursive <= 0 && strchr(r + 1, '/') != NULL) ||
            fnmatch(t->pattern, ws_path_base(abs), FNM_PERIOD) != 0)
            continue;
        *rel = r + 1;
        return (int)i;
    }
    return -1;
}

/* The directories between t's dir and the file rel below it: each that
 * exists must be a directory, not a link (the walk follows none, so a
 * database reached through one is not the entry's); with made, each
 * that does not is created (mode 0755) and its path added to made. */
static int chain(const struct ws_db_config *t, const char *rel,
                 struct ws_strv *made, struct ws_err *err)
{
    int fd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = WS_OK;
    const char *c = rel, *slash;

    if (fd < 0)
        return made == NULL ? WS_OK
                            : ws_err_set(err, WS_EIO, "open %s: %s", t->dir,
                                         strerror(errno));
    while (rc == WS_OK && (slash = strchr(c, '/')) != NULL) {
        char name[256], *p = NULL;
        int sub;

        if ((size_t)(slash - c) >= sizeof(name)) {
            rc = ws_err_set(err, WS_EUSAGE, "%s: a directory name is too "
                            "long", rel);
            break;
        }
        memcpy(name, c, (size_t)(slash - c));
        name[slash - c] = '\0';
        p = malloc(strlen(t->dir) + 1 + (size_t)(slash - rel) + 1);
        if (p == NULL) {
            rc = oom(err);
            break;
        }
        sprintf(p, "%s/%.*s", t->dir, (int)(slash - rel), rel);
        sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0 && errno == ENOENT && made != NULL) {
            if (mkdirat(fd, name, 0755) != 0)
                rc = ws_err_set(err, WS_EIO, "mkdir %s: %s", p,
                                strerror(errno));
            else if (ws_strv_push(made, p) != WS_OK)
                rc = oom(err);
            else
                p = NULL; /* made's now */
            if (rc == WS_OK)
                sub = openat(fd, name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (rc == WS_OK && sub < 0 && errno == ENOENT) {
            free(p);
            break; /* nothing there yet: nothing to follow */
        }
        if (rc == WS_OK && sub < 0)
            rc = ws_err_set(err, WS_EUSAGE,
                            "refusing %s/%s: %s is %s, and walship follows "
                            "none below %s",
                            t->dir, rel, p,
                            errno == ELOOP || errno == ENOTDIR
                                ? "a symbolic link or not a directory"
                                : strerror(errno),
                            t->dir);
        free(p);
        close(fd);
        fd = sub;
        c = slash + 1;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

int ws_config_dir_db(struct ws_config *cfg, const char *path,
                     const struct ws_db_config **out, struct ws_err *err)
{
    const char *rel;
    char *abs = NULL;
    size_t at;
    int k, rc;

    if (ws_path_expand(path, &abs, NULL) != WS_OK)
        return WS_ENOTFOUND;
    k = holder(cfg, abs, &rel);
    if (k < 0) {
        free(abs);
        return WS_ENOTFOUND;
    }
    rc = chain(&cfg->dirs[k], rel, NULL, err);
    if (rc == WS_OK)
        rc = derive_db(cfg, &cfg->dirs[k], abs, &at, err);
    if (rc == WS_OK)
        rc = ws_config_finish_db(cfg, &cfg->dbs[at], cfg->source, err);
    if (rc == WS_OK)
        *out = &cfg->dbs[at];
    free(abs);
    return rc;
}

int ws_config_dir_parents(const struct ws_config *cfg, const char *path,
                          struct ws_strv *made, struct ws_err *err)
{
    const char *rel;
    int k = holder(cfg, path, &rel);

    return k < 0 ? WS_OK : chain(&cfg->dirs[k], rel, made, err);
}

const char *ws_config_dir_why(int err_no)
{
    return err_no == WS_DIR_TOO_DEEP ? "more than 64 directories below dir "
                                       "(deeper ones are not looked in)"
                                     : strerror(err_no);
}

int ws_config_dirs_check(const struct ws_config *cfg, struct ws_err *err)
{
    for (size_t i = 0; i < cfg->ndirs; i++) {
        const struct ws_db_config *t = &cfg->dirs[i];
        if (t->scan_errno != 0)
            return ws_err_set(err, WS_ECONFIG,
                              "%s:%d: cannot look for databases in %s: %s",
                              cfg->source, t->line, t->scan_path,
                              ws_config_dir_why(t->scan_errno));
    }
    return WS_OK;
}
