/*
 * config.h: walship's configuration, read from Litestream-compatible YAML
 * (FORMAT.md section 8) with libyaml, or built from a replica URL.
 *
 * Keys, defaults and meanings follow Litestream v0.3.13, with two
 * deliberate differences: an unknown or misspelled key is an error that
 * names the key and its line (Litestream ignores it), and the default
 * meta directory is `<dir>/.<db name>-walship`.  `$VAR` and `${VAR}` are
 * expanded over the whole text before parsing unless expansion is off; an
 * unset variable becomes the empty string.  Durations are Go duration
 * strings ("1s", "1m30s", "250ms"); a bare integer is nanoseconds.
 *
 * The parsed tree is immutable after load and passed down as
 * `const struct ws_config *`.  Every string is owned by the tree.
 */
#ifndef WS_CONFIG_H
#define WS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "ws/err.h"

#define WS_CONFIG_DEFAULT_PATH "/etc/walship.yml"
#define WS_CONFIG_ENV "WALSHIP_CONFIG"

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
    int64_t validation_interval_ms;     /* default 0 = off */

    /* s3 only (NULL / -1 when not set) */
    char *bucket;
    char *region;
    char *endpoint;
    int force_path_style; /* -1 unset, 0, 1 */
    int skip_verify;      /* 0 or 1 */
    char *access_key_id;
    char *secret_access_key;
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

    struct ws_replica_config *replicas;
    size_t nreplicas;
};

struct ws_config {
    char *source; /* file path it came from, or "(url)" */
    struct ws_db_config *dbs;
    size_t ndbs;
    char *exec;                /* replicate -exec command, or NULL */
    char *addr;                /* metrics address, or NULL (unused yet) */
    char *access_key_id;       /* copied to replicas without their own */
    char *secret_access_key;
    char *log_level;           /* "debug", "info" (default), "warn", "error" */
    char *log_type;            /* "text" (default) or "json" */
    int log_stderr;            /* 0/1 */
};

/* Parse YAML text.  name is used in messages ("walship.yml:12: ...").
 * expand_env: 1 to expand $VAR / ${VAR} first.  On success *out holds a
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
 * "s3://bucket[.host]/prefix?endpoint=&region=&force-path-style=".
 * Sets type, url, path and the s3 fields; leaves intervals alone. */
int ws_config_parse_url(const char *url, struct ws_replica_config *rc,
                        struct ws_err *err);

/* Find a database by path (made absolute and cleaned first); NULL if
 * absent. */
const struct ws_db_config *ws_config_find_db(const struct ws_config *c,
                                             const char *path);

/* Parse a size: digits with an optional unit B, KB, MB, GB (powers of
 * 1000) or KiB, MiB, GiB.  Returns WS_OK or WS_ECONFIG. */
int ws_size_parse(const char *s, int64_t *bytes);

/* Parse a Go duration string into milliseconds (rounded down).  Returns
 * WS_OK or WS_ECONFIG. */
int ws_duration_parse(const char *s, int64_t *ms);

/* Make path absolute (relative to the cwd) and clean it the way Go's
 * path.Clean does.  Returns a malloc'd string or NULL on ENOMEM. */
char *ws_path_abs(const char *path);

void ws_config_free(struct ws_config *c);

#endif
