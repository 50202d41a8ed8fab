/*
 * fuzz_config.c: the YAML config with environment expansion, and replica
 * URLs (config.h), parsed from memory as ws_config_load parses a file.
 *
 * Input: one control byte, then the text.
 *   [0] bit 0: expand $VAR and ${VAR} (a few WSF_* variables are set
 *       once, besides the process's own); bit 1: the text is a replica
 *       URL for `walship replicate DB URL`, not a config file.
 *
 * Checked, for every config that is accepted: database paths and meta
 * paths are absolute and already clean (ws_path_abs leaves them as they
 * are) and distinct, ws_config_find_db finds each database by its path,
 * every replica has a name unique in its database and a type of "file"
 * (with an absolute, clean path) or "s3" (with a bucket), the log level
 * and type are ones walship knows, and durations and sizes are not
 * negative.  A text without '$' parses the same with and without
 * expansion.  A refusal is one line with its code.
 */
#include "fuzz.h"
#include "ws/config.h"

static void config_check_path(const char *p, const char *what)
{
    char *clean;

    FUZZ_CHECK(p != NULL && p[0] == '/', "%s \"%s\" is not absolute", what,
               p ? p : "(null)");
    clean = ws_path_abs(p);
    if (clean == NULL)
        abort();
    FUZZ_CHECK(strcmp(clean, p) == 0, "%s \"%s\" cleans to \"%s\"", what, p,
               clean);
    free(clean);
}

static void config_check_replica(const struct ws_replica_config *r)
{
    FUZZ_CHECK(r->name != NULL && r->type != NULL, "replica without %s",
               r->name ? "type" : "name");
    if (strcmp(r->type, "file") == 0)
        config_check_path(r->path, "replica path");
    else
        FUZZ_CHECK(strcmp(r->type, "s3") == 0 && r->bucket != NULL,
                   "replica type \"%s\", bucket %s", r->type,
                   r->bucket ? r->bucket : "(null)");
    FUZZ_CHECK(r->sync_interval_ms >= 0 && r->snapshot_interval_ms >= 0 &&
                   r->retention_check_interval_ms >= 0,
               "a negative interval in replica %s", r->name);
}

static void config_check(const struct ws_config *c, int from_url)
{
    FUZZ_CHECK(c->log_level != NULL && c->log_type != NULL,
               "no log level or type");
    FUZZ_CHECK(strcmp(c->log_type, "text") == 0 ||
                   strcmp(c->log_type, "json") == 0,
               "log type \"%s\"", c->log_type);
    for (size_t i = 0; i < c->ndbs; i++) {
        const struct ws_db_config *db = &c->dbs[i];
        if (db->path == NULL) {
            FUZZ_CHECK(from_url, "database %zu has no path", i);
        } else {
            config_check_path(db->path, "database path");
            config_check_path(db->meta_path, "meta path");
            FUZZ_CHECK(ws_config_find_db(c, db->path) == db,
                       "find_db(\"%s\") finds another", db->path);
        }
        FUZZ_CHECK(db->min_checkpoint_page_count > 0 &&
                       db->max_checkpoint_page_count >= 0 &&
                       db->monitor_interval_ms >= 0 &&
                       db->checkpoint_interval_ms >= 0 &&
                       db->max_spool_bytes >= 0,
                   "a negative setting in database %s", db->path);
        for (size_t j = 0; j < db->nreplicas; j++) {
            config_check_replica(&db->replicas[j]);
            for (size_t k = 0; k < j; k++)
                FUZZ_CHECK(strcmp(db->replicas[j].name, db->replicas[k].name) !=
                               0,
                           "two replicas named \"%s\"", db->replicas[j].name);
        }
    }
}

int FUZZ_INIT(config)
{
    (void)argc;
    (void)argv;
    setenv("WSF_DIR", "/srv/data", 1);
    setenv("WSF_EMPTY", "", 1);
    setenv("WSF_NESTED", "${WSF_DIR}/x", 1);
    setenv("WSF_URL", "s3://bucket/prefix?region=eu-west-1", 1);
    setenv("WSF_YAML", "a: [b, {c: d}]\n  - e", 1);
    return 0;
}

int FUZZ_ENTRY(config)
{
    struct ws_config *c = NULL, *c2 = NULL;
    struct ws_err err;
    char *text;
    int rc, rc2;

    if (size < 1)
        return 0;
    text = fuzz_str(data + 1, size - 1);
    if (data[0] & 2) {
        char *urls[1] = {text};
        rc = ws_config_from_urls("/var/lib/app.db", urls, 1, &c, &err);
    } else {
        rc = ws_config_parse(text, size - 1, "fuzz.yml", data[0] & 1, &c, &err);
        if (memchr(data + 1, '$', size - 1) == NULL) {
            rc2 = ws_config_parse(text, size - 1, "fuzz.yml", !(data[0] & 1),
                                  &c2, &err);
            FUZZ_CHECK(rc == rc2, "rc %d with expansion %s, %d without", rc,
                       data[0] & 1 ? "on" : "off", rc2);
            ws_config_free(c2);
        }
    }
    if (rc == WS_OK) {
        config_check(c, data[0] & 2);
        ws_config_free(c);
    } else {
        fuzz_check_err(rc, &err, "config");
    }
    free(text);
    return 0;
}
