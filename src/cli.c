/*
 * cli.c: see cli.h.
 */
#include "ws/cli.h"

#include "ws/log.h"
#include "ws/str.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ws_cli_log_init(const struct ws_config *c, int verbose, int stdout_free)
{
    enum ws_log_level l = ws_log_level_parse(c ? c->log_level : NULL);
    int json = c && c->log_type && strcmp(c->log_type, "json") == 0;
    int fd = c == NULL || c->log_stderr || !stdout_free ? STDERR_FILENO
                                                         : STDOUT_FILENO;

    ws_log_init(verbose ? WS_LOG_DEBUG : l, json ? WS_LOG_JSON : WS_LOG_TEXT,
                fd);
}

/* 1 when path is a directory that holds generations/: a directory
 * replica (never a database, which is a file). */
static int is_replica_dir(const char *path)
{
    char sub[4200];
    struct stat sb;

    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return 0;
    snprintf(sub, sizeof(sub), "%s/generations", path);
    return stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* 1 when nothing is at path (a typo, or a replica never written). */
static int missing(const char *path)
{
    struct stat sb;

    return lstat(path, &sb) != 0 && errno == ENOENT;
}

/* A one-replica config for the replica URL (or directory) arg. */
static int from_replica(const char *arg, struct ws_config **cfg,
                        struct ws_err *err)
{
    return ws_config_from_urls(NULL, (char *const *)&arg, 1, cfg, err);
}

int ws_cli_find_db(const char *arg, const char *config, int expand_env,
                   struct ws_config **cfg, const struct ws_db_config **db,
                   struct ws_err *err)
{
    struct ws_config *c = NULL;
    const struct ws_db_config *d = NULL;
    struct ws_err e = {0};
    int rc;

    if (ws_str_blank(arg))
        return ws_err_set(err, WS_EUSAGE, "the database or replica \"%s\" "
                          "is blank", arg);
    if (ws_is_url(arg) && config)
        return ws_err_set(err, WS_EUSAGE, "cannot specify a replica URL "
                          "and the -config flag");
    if (ws_is_url(arg) && !expand_env)
        return ws_err_set(err, WS_EUSAGE, "-no-expand-env applies to a "
                          "config file, and a replica URL reads none");
    if (ws_is_url(arg)) {
        rc = from_replica(arg, &c, err);
    } else {
        rc = ws_config_load(config, expand_env, &c, &e);
        /* A missing default config file is no error yet: the path may
         * be a replica.  A file given with -config must exist, and any
         * config file must parse. */
        if (rc != WS_OK && (rc != WS_ENOTFOUND || config != NULL)) {
            *err = e;
            return rc;
        }
        d = rc == WS_OK ? ws_config_find_db(c, arg) : NULL;
        /* Not there (yet): a directory entry may name it. */
        if (d == NULL && rc == WS_OK && c->ndirs > 0) {
            int r2 = ws_config_dir_db(c, arg, &d, err);
            if (r2 != WS_OK && r2 != WS_ENOTFOUND) {
                ws_config_free(c);
                return r2;
            }
        }
        if (d == NULL && is_replica_dir(arg)) {
            ws_config_free(c);
            c = NULL;
            rc = from_replica(arg, &c, err);
        } else if (d == NULL && rc == WS_OK && missing(arg)) {
            rc = ws_err_set(err, WS_ENOTFOUND,
                            "database not found in config: %s (nor is it "
                            "a replica directory: it does not exist)", arg);
        } else if (d == NULL && missing(arg)) {
            rc = ws_err_set(err, WS_ENOTFOUND,
                            "%s does not exist (no replica directory there, "
                            "and no config file to look it up in as a "
                            "database: %s)", arg, e.msg);
        } else if (d == NULL && rc == WS_OK) {
            rc = ws_err_set(err, WS_ENOTFOUND,
                            "database not found in config: %s (and it is "
                            "not a replica directory: no generations/ in "
                            "it)", arg);
        } else if (d == NULL) {
            rc = ws_err_set(err, WS_ENOTFOUND,
                            "%s: not a replica directory (no generations/ "
                            "in it), and no config file to look it up in "
                            "as a database (%s)", arg, e.msg);
        }
    }
    if (rc != WS_OK) {
        ws_config_free(c);
        /* DB_PATH names no database walship knows, nor a replica. */
        return rc == WS_ENOTFOUND ? ws_err_at(err, WS_AT_DB) : rc;
    }
    *cfg = c;
    *db = d ? d : &c->dbs[0];
    return WS_OK;
}

int ws_cli_replicas_open(struct ws_cli_replicas *s,
                         const struct ws_db_config *db, const char *name,
                         struct ws_err *err)
{
    s->n = 0;
    uv_loop_init(&s->loop);
    s->v = calloc(db->nreplicas + 1, sizeof(*s->v));
    if (s->v == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    for (size_t k = 0; k < db->nreplicas; k++) {
        const struct ws_replica_config *rc = &db->replicas[k];
        int e;
        if (name && strcmp(name, rc->name) != 0)
            continue;
        e = ws_replica_open(&s->loop, rc, &s->v[s->n], err);
        if (e != WS_OK)
            return e;
        s->n++;
    }
    if (s->n == 0 && name && db->path == NULL)
        return ws_err_set(err, WS_ECONFIG,
                          "replica \"%s\" not found: a replica given by "
                          "its URL or directory is named \"%s\"",
                          name, db->replicas[0].name);
    if (s->n == 0 && name)
        return ws_err_set(err, WS_ECONFIG,
                          "replica \"%s\" not found for database \"%s\"",
                          name, db->path);
    if (s->n == 0)
        return ws_err_set(err, WS_ECONFIG, "database %s has no replicas",
                          db->path ? db->path : "");
    return WS_OK;
}

/* A request that is done may still have handles closing: libuv runs
 * their close callbacks on a later turn of the loop, and only then may
 * their memory, and what they use of their replica, go.  So the loop
 * runs dry before the replicas are freed, and again after, for the
 * handles the replicas close themselves. */
void ws_cli_replicas_close(struct ws_cli_replicas *s)
{
    uv_run(&s->loop, UV_RUN_DEFAULT);
    for (size_t k = 0; k < s->n; k++)
        ws_replica_free(s->v[k]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
}
