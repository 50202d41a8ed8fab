/*
 * config.c: walship.yml and replica URLs -> struct ws_config.
 *
 * Reading a file takes two passes, each over plain data:
 *
 *   1. config_yaml.c walks the YAML text into the tree, checking each key
 *      and value on its own, with its line (config_int.h);
 *   2. finish_db() and finish_replica() do what Litestream does when it
 *      builds its objects: merge the replica URL (fields set in the file
 *      win over URL parts), default and check the type and name, make
 *      paths absolute and clean, derive the default meta path and copy the
 *      top-level access keys into replicas without their own; then the
 *      checks across the file (config.h: what may not be shared).
 *      What a URL means is url.h's; a path is cleaned as path.h says.
 *
 * A config built from replica URLs (ws_config_from_urls) skips pass 1:
 * it gets the same defaults and goes through the same pass 2, without
 * line numbers in its messages.
 *
 * Defaults are stored before a level is walked, so "set in the file"
 * matters only for strings (NULL = unset; an empty string counts as unset,
 * as Litestream's `!= ""` tests do) and force_path_style (-1 = unset).
 *
 * Messages are one line, "<name>:<line>: <what>", and never quote the
 * value of secret-access-key: only keys, paths, names, URL schemes and
 * the values of non-secret fields are quoted.
 */
#include "ws/config.h"
#include "ws/config_int.h"
#include "ws/meta.h"
#include "ws/str.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CONFIG_SIZE (16u << 20) /* bytes of config text we read */

static int oom(struct ws_err *err)
{
    return ws_err_set(err, WS_ENOMEM, "out of memory");
}

/* Replace *path, the value of `what`, by its absolute form (path.h);
 * a blank one is refused (str.h). */
int ws_config_abs(char **path, const char *what, struct ws_err *err)
{
    char *p = NULL;
    int rc;

    if (ws_str_blank(*path))
        return ws_err_set(err, WS_ECONFIG, "%s \"%s\" is blank", what,
                          *path);
    rc = ws_path_expand(*path, &p, err);

    if (rc == WS_OK) {
        free(*path);
        *path = p;
    }
    return rc;
}

/* ---- Replicas from URLs (url.h parses them) -------------------------- */

static void replica_free(struct ws_replica_config *r)
{
    free(r->name);
    free(r->type);
    free(r->url);
    free(r->path);
    free(r->bucket);
    free(r->region);
    free(r->endpoint);
    free(r->access_key_id);
    free(r->secret_access_key);
}

/* *dst = *src, freeing the old *dst; *src is emptied. */
static void move(char **dst, char **src)
{
    free(*dst);
    *dst = *src;
    *src = NULL;
}

int ws_config_parse_url(const char *url, struct ws_replica_config *rc,
                        struct ws_err *err)
{
    struct ws_url u = {0};
    int r = ws_url_parse(url, &u, err);

    if (r == WS_OK) {
        move(&rc->type, &u.type);
        move(&rc->url, &u.url);
        move(&rc->path, &u.path);
        move(&rc->bucket, &u.bucket);
        move(&rc->region, &u.region);
        move(&rc->endpoint, &u.endpoint);
        rc->force_path_style = u.force_path_style;
    }
    ws_url_free(&u);
    return r;
}

/* ---- Finishing: URL merge, defaults, checks --------------------------- */

void ws_config_replica_defaults(struct ws_replica_config *r, int line)
{
    r->line = line;
    r->sync_interval_ms = 1000;
    r->snapshot_interval_ms = 0;
    r->retention_ms = 24 * 3600 * 1000;
    r->retention_check_interval_ms = 3600 * 1000;
    r->force_path_style = -1;
}

void ws_config_db_defaults(struct ws_db_config *db, int line)
{
    db->line = line;
    db->monitor_interval_ms = 1000;
    db->checkpoint_interval_ms = 60000;
    db->min_checkpoint_page_count = 1000;
    db->max_checkpoint_page_count = 10000;
    db->max_spool_bytes = 1LL << 30;
    db->restore_if_missing = -1;
    db->recursive = -1; /* unset: directory entries only */
    db->watch = -1;
}

/* *dst = *src unless *dst is set already. */
static void take(char **dst, char **src)
{
    if (*dst == NULL)
        move(dst, src);
}

/* Take what the URL gives into r; the fields set in r win. */
static int merge_url(struct ws_replica_config *r, struct ws_url *u,
                     struct ws_err *err)
{
    if (r->type != NULL && strcmp(r->type, u->type) != 0)
        return ws_err_set(
            err, WS_ECONFIG,
            "replica type \"%s\" does not match url scheme \"%s\"", r->type,
            u->type);
    if (r->path != NULL)
        return ws_err_set(err, WS_ECONFIG,
                          "cannot specify url & path for %s replica", u->type);
    if (r->bucket != NULL && strcmp(u->type, "s3") == 0)
        return ws_err_set(err, WS_ECONFIG,
                          "cannot specify url & bucket for s3 replica");
    take(&r->type, &u->type);
    take(&r->path, &u->path);
    take(&r->bucket, &u->bucket);
    take(&r->region, &u->region);
    if (r->force_path_style < 0 && r->endpoint == NULL)
        r->force_path_style = u->force_path_style;
    take(&r->endpoint, &u->endpoint);
    return WS_OK;
}

/* Litestream's NewReplicaFromConfig, less the client. */
int ws_config_finish_replica(const struct ws_config *cfg,
                             struct ws_replica_config *r, struct ws_err *err)
{
    struct ws_url u = {0};
    int rc = WS_OK;

    if (r->path != NULL && ws_url_check_path(r->path, err) != WS_OK)
        return WS_ECONFIG;
    if (r->url != NULL) {
        rc = ws_url_parse(r->url, &u, err);
        if (rc == WS_OK)
            rc = merge_url(r, &u, err);
        ws_url_free(&u);
    }
    if (rc == WS_OK && r->type == NULL && ws_str_set(&r->type, "file"))
        rc = oom(err);
    if (rc != WS_OK)
        return rc;
    if (strcmp(r->type, "file") == 0 && r->s3_key != NULL)
        return ws_err_set(err, WS_ECONFIG,
                          "\"%s\" (line %d) applies to s3 replicas only, "
                          "and this is a file replica (type: s3 is missing?)",
                          r->s3_key, r->s3_key_line);
    if (strcmp(r->type, "file") == 0 && r->path == NULL)
        return ws_err_set(err, WS_ECONFIG, "file replica path required");
    if (strcmp(r->type, "file") == 0)
        rc = ws_config_abs(&r->path, "replica path", err);
    else if (strcmp(r->type, "s3") != 0)
        return ws_err_set(err, WS_ECONFIG, "unsupported replica type: \"%s\"",
                          r->type);
    else if (r->bucket == NULL)
        return ws_err_set(err, WS_ECONFIG, "bucket required for s3 replica");
    else if (r->force_path_style < 0 && r->endpoint != NULL)
        r->force_path_style = 1;
    if (rc == WS_OK && r->name == NULL)
        rc = ws_str_set(&r->name, r->type);
    if (rc == WS_OK && r->access_key_id == NULL)
        rc = ws_str_set(&r->access_key_id, cfg->access_key_id);
    if (rc == WS_OK && r->secret_access_key == NULL)
        rc = ws_str_set(&r->secret_access_key, cfg->secret_access_key);
    return rc == WS_ENOMEM ? oom(err) : rc;
}

/* Prefix err with "name:line" when the config came from a file. */
int ws_config_at_line(int rc, const char *name, int line, struct ws_err *err)
{
    if (rc != WS_OK && rc != WS_ENOMEM && name != NULL)
        ws_err_wrap(err, "%s:%d", name, line);
    return rc;
}

/* Litestream's NewDBFromConfig; name is NULL in URL mode (no line
 * prefixes, and the path may be missing). */
int ws_config_finish_db(const struct ws_config *cfg, struct ws_db_config *db,
                        const char *name, struct ws_err *err)
{
    int rc = WS_OK;

    if (db->path == NULL && name != NULL)
        rc = ws_err_set(err, WS_ECONFIG, "db path required");
    else if (db->pattern != NULL || db->recursive >= 0 || db->watch >= 0)
        rc = ws_err_set(err, WS_ECONFIG,
                        "\"%s\" applies to a directory entry (dir) only",
                        db->pattern != NULL    ? "pattern"
                        : db->recursive >= 0 ? "recursive"
                                             : "watch");
    if (rc == WS_OK && db->path != NULL)
        rc = ws_config_abs(&db->path, "db path", err);
    if (rc == WS_OK && db->path != NULL && db->meta_path != NULL)
        rc = ws_config_abs(&db->meta_path, "meta-path", err);
    else if (rc == WS_OK && db->path != NULL) {
        db->meta_path = ws_meta_path(db->path);
        rc = db->meta_path ? WS_OK : oom(err);
    }
    if (rc == WS_OK && db->min_checkpoint_page_count <= 0)
        rc = ws_err_set(err, WS_ECONFIG,
                        "minimum checkpoint page count required");
    if (rc == WS_OK && db->max_checkpoint_page_count < 0)
        rc = ws_err_set(err, WS_ECONFIG,
                        "max-checkpoint-page-count must not be negative");
    if (rc != WS_OK)
        return ws_config_at_line(rc, name, db->line, err);
    for (size_t i = 0; i < db->nreplicas; i++) {
        struct ws_replica_config *r = &db->replicas[i];

        rc = ws_config_finish_replica(cfg, r, err);
        for (size_t j = 0; rc == WS_OK && j < i; j++)
            if (strcmp(db->replicas[j].name, r->name) == 0)
                rc = ws_err_set(err, WS_ECONFIG,
                                "duplicate replica name: \"%s\"", r->name);
        if (rc != WS_OK)
            return ws_config_at_line(rc, name, r->line, err);
    }
    if (db->nreplicas == 0 && name != NULL)
        return ws_config_at_line(ws_err_set(err, WS_ECONFIG,
                                  "database %s has no replicas: add a "
                                  "\"replicas\" list",
                                  db->path),
                       name, db->line, err);
    return WS_OK;
}

/* An S3 prefix without leading and trailing slashes: its start, and
 * its length in *n ("/p/q/" and "p/q" are one prefix). */
static const char *trim_slashes(const char *s, size_t *n)
{
    s = s ? s + strspn(s, "/") : "";
    *n = strlen(s);
    while (*n > 0 && s[*n - 1] == '/')
        (*n)--;
    return s;
}

static int same_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* 1 when two replicas write to the same place: the same directory, or
 * the same bucket and prefix at the same endpoint. */
static int same_place(const struct ws_replica_config *a,
                      const struct ws_replica_config *b)
{
    size_t an, bn;
    const char *ap = trim_slashes(a->path, &an);
    const char *bp = trim_slashes(b->path, &bn);

    if (strcmp(a->type, b->type) != 0)
        return 0;
    if (strcmp(a->type, "file") == 0)
        return strcmp(a->path, b->path) == 0;
    return same_str(a->bucket, b->bucket) &&
           same_str(a->endpoint, b->endpoint) && an == bn &&
           memcmp(ap, bp, an) == 0;
}

/* What no two databases may share: a meta directory (its lock would
 * stop the second) or a replica's place (their generations would mix,
 * and a restore could bring back the other database). */
static int check_shared(const struct ws_config *cfg, size_t i,
                        const char *name, struct ws_err *err)
{
    const struct ws_db_config *db = &cfg->dbs[i];

    for (size_t j = 0; j < i; j++)
        if (strcmp(cfg->dbs[j].meta_path, db->meta_path) == 0)
            return ws_config_at_line(ws_err_set(err, WS_ECONFIG,
                                      "meta-path %s is also the one of "
                                      "database %s: each database needs "
                                      "its own",
                                      db->meta_path, cfg->dbs[j].path),
                           name, db->line, err);
    for (size_t k = 0; k < db->nreplicas; k++) {
        const struct ws_replica_config *r = &db->replicas[k];
        for (size_t j = 0; j <= i; j++) {
            const struct ws_db_config *o = &cfg->dbs[j];
            for (size_t m = 0; m < (j == i ? k : o->nreplicas); m++)
                if (same_place(r, &o->replicas[m]))
                    return ws_config_at_line(
                        ws_err_set(err, WS_ECONFIG,
                                   "replica \"%s\" writes where replica "
                                   "\"%s\" of %s does: each replica needs "
                                   "a place of its own",
                                   r->name, o->replicas[m].name,
                                   o->path ? o->path : "the database"),
                        name, r->line, err);
        }
    }
    return WS_OK;
}

static int finish_config(struct ws_config *cfg, const char *name,
                         struct ws_err *err)
{
    int rc = WS_OK;

    if (cfg->log_level == NULL)
        rc = ws_str_set(&cfg->log_level, "info");
    if (rc == WS_OK && cfg->log_type == NULL)
        rc = ws_str_set(&cfg->log_type, "text");
    if (rc != WS_OK)
        return oom(err);
    rc = ws_config_expand_dirs(cfg, name, err);
    if (rc != WS_OK)
        return rc;
    for (size_t i = 0; i < cfg->ndbs; i++) {
        struct ws_db_config *db = &cfg->dbs[i];

        rc = ws_config_finish_db(cfg, db, name, err);
        for (size_t j = 0; rc == WS_OK && j < i; j++)
            if (strcmp(cfg->dbs[j].path, db->path) == 0)
                rc =
                    ws_config_at_line(ws_err_set(err, WS_ECONFIG,
                                       "duplicate database path: %s", db->path),
                            name, db->line, err);
        if (rc == WS_OK && db->path != NULL)
            rc = check_shared(cfg, i, name, err);
        if (rc != WS_OK)
            return rc;
    }
    return WS_OK;
}

/* ---- Public entry points ---------------------------------------------- */

static struct ws_config *config_new(const char *source)
{
    struct ws_config *c = calloc(1, sizeof(*c));

    if (c != NULL) {
        c->log_stderr = 1;
        c->shutdown_sync_timeout_ms = WS_SHUTDOWN_SYNC_TIMEOUT_MS;
    }
    if (c != NULL && ws_str_set(&c->source, source) != WS_OK) {
        free(c);
        return NULL;
    }
    return c;
}

int ws_config_parse(const char *text, size_t len, const char *name,
                    int expand_env, struct ws_config **out, struct ws_err *err)
{
    struct ws_config *cfg;
    int rc;

    if (name == NULL || *name == '\0')
        name = "(config)";
    if (text == NULL)
        len = 0;
    cfg = config_new(name);
    if (cfg == NULL)
        return oom(err);
    rc = ws_config_yaml_load(name, text ? text : "", len, expand_env, cfg,
                             err);
    if (rc == WS_OK)
        rc = finish_config(cfg, name, err);
    if (rc != WS_OK) {
        ws_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return WS_OK;
}

/* Read a whole file of at most MAX_CONFIG_SIZE bytes into b.  The path
 * may be a symbolic link (a Kubernetes ConfigMap is one), but what it
 * names must be a regular file: a FIFO would block the start for ever
 * (hence O_NONBLOCK, cleared once the file is known to be regular), a
 * device or a directory is a mistake. */
static int read_file(const char *path, struct ws_sbuf *b, struct ws_err *err)
{
    char chunk[8192];
    ssize_t n = 1;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), rc = WS_OK;
    struct stat st = {0};

    if (fd < 0 && errno == ENOENT)
        return ws_err_set(err, WS_ENOTFOUND, "config file not found: %s", path);
    if (fd < 0)
        return ws_err_set(err, WS_EIO, "open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        rc = ws_err_set(err, WS_ECONFIG, "config file %s: %s", path,
                        S_ISDIR(st.st_mode)    ? "a directory, not a file"
                        : S_ISFIFO(st.st_mode) ? "a FIFO, not a regular file"
                        : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)
                            ? "a device, not a regular file"
                            : "not a regular file");
        close(fd);
        return rc;
    }
    while (rc == WS_OK && n != 0) {
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno != EINTR)
            rc = ws_err_set(err, WS_EIO, "read %s: %s", path, strerror(errno));
        else if (n > 0 && b->len + (size_t)n > MAX_CONFIG_SIZE)
            rc = ws_err_set(err, WS_ECONFIG, "%s: file too large", path);
        else if (n > 0 && ws_sbuf_add(b, chunk, (size_t)n) != WS_OK)
            rc = oom(err);
    }
    close(fd);
    return rc;
}

int ws_config_load(const char *path, int expand_env, struct ws_config **out,
                   struct ws_err *err)
{
    const char *env = getenv(WS_CONFIG_ENV);
    struct ws_sbuf b = {0};
    char *home = NULL;
    int rc = WS_OK;

    if (path == NULL)
        path = env != NULL && *env != '\0' ? env : WS_CONFIG_DEFAULT_PATH;
    if (strcmp(path, "~") == 0 || strncmp(path, "~/", 2) == 0)
        rc = ws_path_expand(path, &home, err);
    if (rc == WS_OK)
        rc = read_file(home ? home : path, &b, err);
    if (rc == WS_OK)
        rc = ws_config_parse(b.p, b.len, home ? home : path, expand_env, out,
                             err);
    free(b.p);
    free(home);
    if (rc != WS_OK && rc != WS_ENOMEM) /* missing, unreadable, invalid */
        ws_err_at(err, WS_AT_CONFIG);
    return rc;
}

int ws_config_from_urls(const char *db_path, char *const *urls, size_t nurls,
                        struct ws_config **out, struct ws_err *err)
{
    struct ws_config *cfg = config_new("(url)");
    struct ws_db_config *db = cfg ? calloc(1, sizeof(*db)) : NULL;
    int rc = db ? WS_OK : WS_ENOMEM;

    if (db_path != NULL && ws_str_blank(db_path)) {
        free(db);
        ws_config_free(cfg);
        return ws_err_set(err, WS_ECONFIG, "db path \"%s\" is blank",
                          db_path);
    }
    if (db != NULL) {
        cfg->dbs = db;
        cfg->ndbs = 1;
        ws_config_db_defaults(db, 0);
        db->replicas = calloc(nurls ? nurls : 1, sizeof(*db->replicas));
        if (db->replicas == NULL || ws_str_set(&db->path, db_path) != WS_OK)
            rc = WS_ENOMEM;
    }
    for (size_t i = 0; rc == WS_OK && i < nurls; i++) {
        struct ws_replica_config *r = &db->replicas[db->nreplicas++];

        ws_config_replica_defaults(r, 0);
        rc = ws_str_set(&r->url, urls[i]);
    }
    if (rc == WS_OK)
        rc = finish_config(cfg, NULL, err);
    else
        oom(err);
    if (rc != WS_OK) {
        ws_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return WS_OK;
}

const struct ws_db_config *ws_config_find_db(const struct ws_config *c,
                                             const char *path)
{
    const struct ws_db_config *found = NULL;
    char *abs = NULL;

    if (c == NULL || path == NULL || ws_path_expand(path, &abs, NULL) != WS_OK)
        return NULL;
    for (size_t i = 0; i < c->ndbs && found == NULL; i++)
        if (c->dbs[i].path != NULL && strcmp(c->dbs[i].path, abs) == 0)
            found = &c->dbs[i];
    free(abs);
    return found;
}

static void db_free(struct ws_db_config *db)
{
    for (size_t j = 0; j < db->nreplicas; j++)
        replica_free(&db->replicas[j]);
    free(db->replicas);
    free(db->path);
    free(db->meta_path);
    free(db->dir);
    free(db->pattern);
    free(db->scan_path);
}

void ws_config_db_free(struct ws_db_config *db)
{
    if (db != NULL)
        db_free(db);
    free(db);
}

void ws_config_free(struct ws_config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->ndbs; i++)
        db_free(&c->dbs[i]);
    free(c->dbs);
    for (size_t i = 0; i < c->ndirs; i++)
        db_free(&c->dirs[i]);
    free(c->dirs);
    free(c->source);
    free(c->access_key_id);
    free(c->secret_access_key);
    free(c->exec);
    free(c->log_level);
    free(c->log_type);
    free(c->addr);
    free(c->heartbeat_url);
    free(c);
}
