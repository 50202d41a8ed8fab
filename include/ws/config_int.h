/*
 * config_int.h: private to the config room (config.c and config_yaml.c);
 * nothing else includes it.
 *
 * The room reads a config in two passes (config.c's essay): config_yaml.c
 * walks the YAML text into a struct ws_config, storing each key it knows
 * with the line it came from and refusing any key, type or value that is
 * wrong on its own; config.c then gives the tree its meaning (replica
 * URLs merged, defaults derived, paths made absolute) and refuses what
 * is wrong across keys.  The defaults of a level are config.c's: the
 * walk stores them before it walks the level, so a key set in the file
 * overrides them, and a config built from URLs gets the same ones.
 */
#ifndef WS_CONFIG_INT_H
#define WS_CONFIG_INT_H

#include <stddef.h>

#include "ws/config.h"
#include "ws/err.h"

/* Store a level's defaults; line is its line in the file (0 from a
 * URL). */
void ws_config_replica_defaults(struct ws_replica_config *r, int line);
void ws_config_db_defaults(struct ws_db_config *db, int line);

/* Pass 1: walk the YAML text[0..len) into cfg (a new tree with the
 * top level's defaults).  Fails with "<name>:<line>: <what>" for a
 * syntax error, an unknown or duplicate key, a value of the wrong type
 * or syntax, an unset variable (expand_env: 1 to expand them, env.h),
 * no database, or a second YAML document; cfg then holds what was
 * stored so far, for the caller to free. */
int ws_config_yaml_load(const char *name, const char *text, size_t len,
                        int expand_env, struct ws_config *cfg,
                        struct ws_err *err);

/* Pass 2's pieces that config_dir.c shares: a path made absolute and
 * clean (blank refused; what names the key), a replica finished (URL
 * merged, defaults, checks), a database entry finished, and "name:line:"
 * put before a message (name NULL: a config from URLs). */
int ws_config_abs(char **path, const char *what, struct ws_err *err);
int ws_config_finish_replica(const struct ws_config *cfg,
                             struct ws_replica_config *r, struct ws_err *err);
int ws_config_finish_db(const struct ws_config *cfg, struct ws_db_config *db,
                        const char *name, struct ws_err *err);
int ws_config_at_line(int rc, const char *name, int line, struct ws_err *err);

/* Move the directory entries of cfg->dbs to cfg->dirs, check each and
 * add the databases found under it to cfg->dbs (config_dir.c). */
int ws_config_expand_dirs(struct ws_config *cfg, const char *name,
                          struct ws_err *err);

#endif
