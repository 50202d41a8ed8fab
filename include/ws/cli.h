/*
 * cli.h: what the commands that read a replica share (restore and the
 * inspection commands): telling a replica URL from a database path,
 * finding the database a command names, and opening its replicas.
 *
 * A command names its database by one argument, read by one rule:
 *
 *   - anything matching ^\w+:// (ws_is_url) is a replica URL;
 *   - anything else is a database path, looked up by its absolute,
 *     cleaned path in the config file;
 *   - unless it is not in the config (or there is no config file at the
 *     default place) and it is a directory that holds generations/: then
 *     it is a directory replica, as if given as file://PATH.  A database
 *     is a file, so the two cannot be confused.
 *
 * A replica gives a one-replica config whose database path is NULL.
 * Replicas are opened on a private loop that only the caller's thread
 * runs, through ws_replica_run().
 */
#ifndef WS_CLI_H
#define WS_CLI_H

#include <uv.h>

#include "ws/config.h"
#include "ws/err.h"
#include "ws/replica.h"

/* Set up logging from c (NULL: the defaults): its level, or debug with
 * verbose; its format; stderr, or stdout when c says so and stdout_free
 * (a command whose stdout carries its output keeps logs off it). */
void ws_cli_log_init(const struct ws_config *c, int verbose, int stdout_free);

/* Load the configuration arg refers to and find its database, by the
 * rule above (config: the -config path, NULL for the default; expand_env
 * as in ws_config_load).  A URL may not be combined with a config path.
 * On success *cfg is the caller's (free with ws_config_free) and *db
 * points into it; on failure neither is written and err says what was
 * tried ("database not found in config: PATH (nor is it a replica
 * directory, ...)"). */
int ws_cli_find_db(const char *arg, const char *config, int expand_env,
                   struct ws_config **cfg, const struct ws_db_config **db,
                   struct ws_err *err);

/* The replicas of one database, open on their own loop. */
struct ws_cli_replicas {
    uv_loop_t loop;          /* runs only inside ws_replica_run */
    struct ws_replica **v;   /* in config order */
    size_t n;
};

/* Open db's replicas, or only the one called name when name is not
 * NULL.  Fails when name matches none (`replica "N" not found for
 * database "PATH"`) or db has no replicas.  Whatever the result, the set
 * must be closed with ws_cli_replicas_close(). */
int ws_cli_replicas_open(struct ws_cli_replicas *s,
                         const struct ws_db_config *db, const char *name,
                         struct ws_err *err);

/* Run the loop until every handle has closed, free the replicas, and
 * close the loop. */
void ws_cli_replicas_close(struct ws_cli_replicas *s);

#endif
