/*
 * cli.c: see cli.h.
 */
#include "ws/cli.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

int ws_cli_is_url(const char *s)
{
    regex_t re;
    int m;

    if (regcomp(&re, "^[A-Za-z0-9_]+://", REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    m = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return m;
}

int ws_cli_find_db(const char *arg, const char *config, int expand_env,
                   struct ws_config **cfg, const struct ws_db_config **db,
                   struct ws_err *err)
{
    struct ws_config *c = NULL;
    const struct ws_db_config *d;
    int rc;

    if (ws_cli_is_url(arg)) {
        if (config)
            return ws_err_set(err, WS_EUSAGE, "cannot specify a replica URL "
                              "and the -config flag");
        rc = ws_config_from_urls(NULL, (char *const *)&arg, 1, &c, err);
        if (rc != WS_OK)
            return rc;
        d = &c->dbs[0];
    } else {
        rc = ws_config_load(config, expand_env, &c, err);
        if (rc != WS_OK)
            return rc;
        d = ws_config_find_db(c, arg);
        if (d == NULL) {
            ws_config_free(c);
            return ws_err_set(err, WS_ENOTFOUND,
                              "database not found in config: %s", arg);
        }
    }
    *cfg = c;
    *db = d;
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
    if (s->n == 0 && name)
        return ws_err_set(err, WS_ECONFIG,
                          "replica \"%s\" not found for database \"%s\"",
                          name, db->path ? db->path : "");
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
