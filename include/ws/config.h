/*
 * config.h: walship's configuration, read from Litestream-compatible YAML
 * with libyaml, or built from a replica URL.
 *
 * Keys, defaults and meanings follow Litestream v0.3.13, where walship
 * is stricter, so that no setting is silently ignored or misread:
 *
 *   - an unknown or misspelled key is an error that names the key and
 *     its line (Litestream ignores it);
 *   - `exec` is split into words when the file is read (child.h), and a
 *     command that cannot be split is an error there;
 *   - `shutdown-sync-timeout` (a top-level duration, default 30s) is
 *     Litestream v0.5's key;
 *   - an s3-only key (bucket, region, ...) on a file replica is an
 *     error (Litestream ignores it; without `type: s3` the replica would
 *     quietly be a local directory);
 *   - a file needs at least one database, and each database at least one
 *     replica; no two databases share a path or a meta-path, no two
 *     replicas of a database share a name, and no two replicas in the
 *     file write to the same place (directory, or bucket and prefix at one
 *     endpoint);
 *   - `$NAME`, `${NAME}` and `${NAME:-default}` are expanded in values
 *     (not in keys or comments, so a variable cannot change the YAML's
 *     structure) unless expansion is off; an unset variable without a
 *     default is an error (Litestream makes it empty); env.h has the
 *     rules;
 *   - durations are Go duration strings ("1s", "1m30s", "250ms"); a bare
 *     number other than 0, which Litestream reads as nanoseconds, and a
 *     non-zero duration below 1 ms (it would round to 0, "off") are
 *     errors (units.h);
 *   - logs go to stderr unless `logging.stderr: false` (Litestream's
 *     default is stdout);
 *   - the default meta directory is `<dir>/.<db name>-walship`.
 *
 * What is a URL, and what a replica URL means, is decided in one place,
 * url.h: a URL is Litestream's `^\w+://` (ws_is_url), and anything else
 * given as a replica is a directory path, cleaned as Go's path.Clean
 * (path.h), unless it looks like a mistyped URL ("file:/x"), which is
 * refused.  config.h includes those headers and units.h, whose
 * syntaxes its values use.
 *
 * The parsed tree is immutable after load and passed down as
 * `const struct ws_config *`.  Every string is owned by the tree.
 */
#ifndef WS_CONFIG_H
#define WS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "ws/err.h"
#include "ws/path.h"  /* paths are absolute and clean, as ws_path_abs */
#include "ws/str.h"   /* ws_strv */
#include "ws/units.h" /* durations and sizes */
#include "ws/url.h"   /* replica URLs; ws_is_url tells one from a path */

#define WS_CONFIG_DEFAULT_PATH "/etc/walship.yml"
#define WS_CONFIG_ENV "WALSHIP_CONFIG"
#define WS_SHUTDOWN_SYNC_TIMEOUT_MS 30000 /* shutdown-sync-timeout */

struct ws_replica_config {
    char *name;  /* unique per database; defaults to the type */
    char *type;  /* "file" or "s3" */
    char *url;   /* as written, or NULL */
    char *path;  /* file: directory (absolute, cleaned); s3: key prefix */
    int line;    /* line of this replica in the file; 0 from a URL */

    int64_t sync_interval_ms;           /* default 1000 */
    int64_t snapshot_interval_ms;       /* default 0 = off */
    int64_t retention_ms;               /* default 24h; <= 0 = off */
    int64_t retention_check_interval_ms;/* default 1h */
    int64_t validation_interval_ms;     /* default 0 = off (validate.h) */

    /* s3 only (NULL / -1 when not set) */
    char *bucket;
    char *region;
    char *endpoint;
    int force_path_style; /* -1 unset, 0, 1 */
    int skip_verify;      /* 0 or 1 */
    char *access_key_id;
    char *secret_access_key;

    /* Parsing only: the first s3-only key set in this replica's own
     * mapping (a file replica may set none), or NULL, and its line. */
    const char *s3_key;
    int s3_key_line;
};

struct ws_db_config {
    char *path;      /* absolute, cleaned */
    char *meta_path; /* absolute; default <dir>/.<name>-walship */
    int line;

    int64_t monitor_interval_ms;     /* default 1000; 0 = events only */
    int64_t checkpoint_interval_ms;  /* default 60000 */
    int64_t min_checkpoint_page_count; /* default 1000; must be > 0 */
    /* Litestream runs RESTART here; walship never does.  It is the WAL
     * size (in pages) past which walship tries a non-blocking TRUNCATE.
     * Default 10000; 0 = never truncate. */
    int64_t max_checkpoint_page_count;
    /* Shadow WAL kept on local disk (bytes) past which walship stops
     * copying new frames, leaving them in the application's -wal until
     * the replicas catch up.  Default 1 GiB; 0 = no limit. */
    int64_t max_spool_bytes;
    /* restore-if-db-not-exists (boot.h): 1, 0, or -1 when not set here
     * (the top level's setting applies). */
    int restore_if_missing;

    struct ws_replica_config *replicas;
    size_t nreplicas;

    /* A directory entry (config_dir.c), kept in ws_config.dirs: dir
     * (absolute, cleaned) instead of path, pattern ("*.db" unless set),
     * recursive; watch is refused.  found: the databases it gave when the
     * config was read; scan_errno and scan_path: the first part of the
     * walk that failed (0 and NULL when none). */
    char *dir;
    char *pattern;
    int recursive;
    int watch;
    size_t found;
    int scan_errno;
    char *scan_path;
};

struct ws_config {
    char *source; /* file path it came from, or "(url)" */
    struct ws_db_config *dbs;   /* the databases, those found under a
                                 * directory entry among them */
    size_t ndbs;
    struct ws_db_config *dirs;  /* the directory entries, as read */
    size_t ndirs;
    char *access_key_id;       /* copied to replicas without their own */
    char *secret_access_key;
    char *log_level;           /* "debug", "info" (default), "warn", "error" */
    char *log_type;            /* "text" (default) or "json" */
    int log_stderr;            /* 1 (default): stderr; 0: stdout */
    char *addr;                /* metrics server address, or NULL (httpd.h) */
    /* /healthz fails when a replica lags this much (0: the default,
     * WS_HEALTH_SYNC_TIMEOUT_MS). */
    int64_t health_sync_timeout_ms;
    char *heartbeat_url;       /* GET while healthy, or NULL */
    int64_t heartbeat_interval_ms; /* 0: WS_HEARTBEAT_INTERVAL_MS */
    int restore_if_missing;    /* restore-if-db-not-exists: 0 (default) */
    char *exec;                /* the application to run (child.h), or
                                * NULL */
    int64_t shutdown_sync_timeout_ms; /* bound on the final sync; default
                                       * 30 s; 0: none, and no retries */
};

#define WS_HEALTH_SYNC_TIMEOUT_MS 120000
#define WS_HEARTBEAT_INTERVAL_MS 300000
#define WS_HEARTBEAT_MIN_MS 60000

/* Parse YAML text.  name is used in messages ("walship.yml:12: ...").
 * expand_env: 1 to expand variables in values.  On success *out holds a
 * tree the caller frees with ws_config_free(); on failure *out is
 * untouched and err names the file, line and key at fault. */
int ws_config_parse(const char *text, size_t len, const char *name,
                    int expand_env, struct ws_config **out,
                    struct ws_err *err);

/* Read and parse a file.  path NULL means $WALSHIP_CONFIG if set and
 * non-empty, else /etc/walship.yml.  A leading "~/" is expanded.  A
 * missing file is WS_ENOTFOUND "config file not found: PATH". */
int ws_config_load(const char *path, int expand_env, struct ws_config **out,
                   struct ws_err *err);

/* Build a one-database config for `walship replicate DB URL...` and the
 * URL forms of the other commands: db_path may be NULL (restore from a
 * URL).  Each URL becomes one replica with default settings.  Two
 * replicas with the same name is an error (`duplicate replica name`). */
int ws_config_from_urls(const char *db_path, char *const *urls, size_t nurls,
                        struct ws_config **out, struct ws_err *err);

/* Fill rc from a replica URL: "file:///dir", a plain path (file), or
 * "s3://bucket[.host]/prefix?endpoint=&region=&force-path-style=", as
 * ws_url_parse reads it (url.h).  Sets type, url, path and the s3
 * fields; leaves intervals alone. */
int ws_config_parse_url(const char *url, struct ws_replica_config *rc,
                        struct ws_err *err);

/* Find a database by path (made absolute and cleaned first); NULL if
 * absent. */
const struct ws_db_config *ws_config_find_db(const struct ws_config *c,
                                             const char *path);

/* The entry for a database at path, which is not among cfg->dbs (not
 * there when the config was read: a restore's target, say), made from
 * the directory entry whose dir holds it and whose pattern its name
 * matches, and added to cfg->dbs; WS_ENOTFOUND when none does. */
int ws_config_dir_db(struct ws_config *cfg, const char *path,
                     const struct ws_db_config **out, struct ws_err *err);

/* What a directory entry's directory holds now (config_dir.c): the
 * paths of its databases (sorted), the directories walked (the entry's
 * dir first; below it with recursive), and the first part of the walk
 * that failed (err_no 0 when none).  WS_OK or WS_ENOMEM; free it with
 * ws_config_dir_scan_free. */
struct ws_dir_scan {
    struct ws_strv dbs;
    struct ws_strv dirs;
    int err_no;
    char *err_path;
};
int ws_config_dir_scan(const struct ws_db_config *t, struct ws_dir_scan *s);
/* What err_no of a walk means, in words: an errno, or WS_DIR_TOO_DEEP. */
#define WS_DIR_TOO_DEEP (-1)
const char *ws_config_dir_why(int err_no);
void ws_config_dir_scan_free(struct ws_dir_scan *s);

/* A new database entry of its own (malloc'd, finished as if read from
 * the file) for the database at path under the directory entry t of
 * cfg; free it with ws_config_db_free. */
int ws_config_dir_db_new(const struct ws_config *cfg,
                         const struct ws_db_config *t, const char *path,
                         struct ws_db_config **out, struct ws_err *err);
void ws_config_db_free(struct ws_db_config *db);

/* Before a restore to path, a database under a directory entry of cfg
 * (not there yet, on a new machine): create the directories between the
 * entry's dir and it that are missing (mode 0755), their paths added to
 * made, top first, for the caller to remove when the restore fails;
 * refuse a link among them.  WS_OK when no entry holds path. */
int ws_config_dir_parents(const struct ws_config *cfg, const char *path,
                          struct ws_strv *made, struct ws_err *err);

/* For replicate: fails naming the directory that a directory entry
 * could not be read in (missing, or a permission), since its databases
 * would not be replicated. */
int ws_config_dirs_check(const struct ws_config *cfg, struct ws_err *err);

void ws_config_free(struct ws_config *c);

#endif
