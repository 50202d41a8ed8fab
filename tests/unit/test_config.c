/*
 * test_config.c: walship.yml parsing, replica URLs and durations.
 *
 * Every default of Litestream v0.3's config (config.h); the facts
 * Litestream's cmd/litestream/main_test.go pins (global keys reach
 * replicas, $VAR and ${VAR} expansion both ways, {path: /foo}, the three
 * s3:// host forms, gcs:// which walship rejects); walship's strictness
 * (unknown keys, duplicate keys, wrong types, bad values, each named with
 * its line; configurations that can never work: no databases, a database
 * without replicas, an unset variable, keys not implemented yet, bare
 * durations, s3 keys on a file replica, shared places; ${VAR:-default});
 * path handling (relative, "~", Go path.Clean rules, the meta path);
 * loading from a file and from $WALSHIP_CONFIG; and that no message ever
 * carries a secret.  Each case runs in its own child, so chdir() and
 * setenv() do not leak between cases.
 */
#include "ws/boot.h"
#include "ws/config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "check.h"

#define SECRET "SEKRET-d0n0t-l3ak"

/* The smallest complete config: one database, one replica. */
#define ONE_DB "dbs:\n  - path: /db\n    replicas:\n      - path: /b\n"

/* ---- helpers ---- */

static struct ws_config *parse_with(const char *text, int expand_env)
{
    struct ws_config *c = NULL;
    struct ws_err err = {0};
    int rc = ws_config_parse(text, strlen(text), "walship.yml", expand_env, &c,
                             &err);

    if (rc != WS_OK)
        CHECK_FAIL("parse failed (%d): %s", rc, err.msg);
    ASSERT(c != NULL);
    return c;
}

static struct ws_config *parse(const char *text)
{
    return parse_with(text, 1);
}

/* Parse text, which must fail with code; the message is returned in err
 * (one line, never carrying SECRET) and *out must stay untouched. */
static void parse_err(const char *text, int code, struct ws_err *err)
{
    struct ws_config *sentinel = (struct ws_config *)&sentinel, *c = sentinel;

    memset(err, 0, sizeof(*err));
    ASSERT_EQ(ws_config_parse(text, strlen(text), "walship.yml", 1, &c, err),
              code);
    ASSERT_EQ(err->code, code);
    ASSERT(c == sentinel);
    ASSERT(err->msg[0] != '\0');
    ASSERT(strchr(err->msg, '\n') == NULL);
    ASSERT(strstr(err->msg, SECRET) == NULL);
}

/* The message for text, which must fail with WS_ECONFIG, is want. */
static void fails_with(const char *text, const char *want)
{
    struct ws_err err;

    parse_err(text, WS_ECONFIG, &err);
    ASSERT_STR_EQ(err.msg, want);
}

/* The message for text, which must fail with WS_ECONFIG, contains want. */
static void fails_containing(const char *text, const char *want)
{
    struct ws_err err;

    parse_err(text, WS_ECONFIG, &err);
    ASSERT_STR_CONTAINS(err.msg, want);
}

static void url_fails(const char *url, const char *want)
{
    struct ws_replica_config rc = {0};
    struct ws_err err = {0};

    ASSERT_EQ(ws_config_parse_url(url, &rc, &err), WS_ECONFIG);
    ASSERT_STR_EQ(err.msg, want);
    ASSERT(rc.type == NULL && rc.url == NULL && rc.path == NULL);
    ASSERT(rc.bucket == NULL);
}

static void replica_clear(struct ws_replica_config *rc)
{
    free(rc->name);
    free(rc->type);
    free(rc->url);
    free(rc->path);
    free(rc->bucket);
    free(rc->region);
    free(rc->endpoint);
    free(rc->access_key_id);
    free(rc->secret_access_key);
    memset(rc, 0, sizeof(*rc));
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ASSERT(f != NULL);
    ASSERT_EQ(fwrite(text, 1, strlen(text), f), strlen(text));
    ASSERT_EQ(fclose(f), 0);
}

/* chdir into a fresh temporary directory; returns its getcwd() name. */
static char *enter_tmpdir(void)
{
    char tmpl[] = "/tmp/ws-config-XXXXXX", *cwd;

    ASSERT(mkdtemp(tmpl) != NULL);
    ASSERT_EQ(chdir(tmpl), 0);
    cwd = getcwd(NULL, 0);
    ASSERT(cwd != NULL);
    return cwd;
}

static void leave_tmpdir(char *cwd)
{
    ASSERT_EQ(chdir("/"), 0);
    ASSERT_EQ(rmdir(cwd), 0);
    free(cwd);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);

    ASSERT(p != NULL);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* ---- defaults and every key ---- */

TEST(defaults)
{
    struct ws_config *c = parse("# a comment\n"
                                "dbs:\n"
                                "  - path: /data/app.db\n"
                                "    replicas:\n"
                                "      - path: /backup/app\n");
    const struct ws_db_config *db;
    const struct ws_replica_config *r;

    ASSERT_STR_EQ(c->source, "walship.yml");
    ASSERT(c->access_key_id == NULL && c->secret_access_key == NULL);
    ASSERT_STR_EQ(c->log_level, "info");
    ASSERT_STR_EQ(c->log_type, "text");
    ASSERT_EQ(c->log_stderr, 1); /* walship's default; Litestream: stdout */
    ASSERT_EQ(c->ndbs, 1);
    db = &c->dbs[0];
    ASSERT_STR_EQ(db->path, "/data/app.db");
    ASSERT_STR_EQ(db->meta_path, "/data/.app.db-walship");
    ASSERT_EQ(db->line, 3);
    ASSERT_EQ(db->monitor_interval_ms, 1000);
    ASSERT_EQ(db->checkpoint_interval_ms, 60000);
    ASSERT_EQ(db->min_checkpoint_page_count, 1000);
    ASSERT_EQ(db->max_checkpoint_page_count, 10000);
    ASSERT_EQ(db->nreplicas, 1);
    r = &db->replicas[0];
    ASSERT_STR_EQ(r->name, "file");
    ASSERT_STR_EQ(r->type, "file");
    ASSERT(r->url == NULL);
    ASSERT_STR_EQ(r->path, "/backup/app");
    ASSERT_EQ(r->line, 5);
    ASSERT_EQ(r->sync_interval_ms, 1000);
    ASSERT_EQ(r->snapshot_interval_ms, 0);
    ASSERT_EQ(r->retention_ms, 24 * 3600 * 1000);
    ASSERT_EQ(r->retention_check_interval_ms, 3600 * 1000);
    ASSERT(r->bucket == NULL && r->region == NULL && r->endpoint == NULL);
    ASSERT_EQ(r->force_path_style, -1);
    ASSERT_EQ(r->skip_verify, 0);
    ASSERT(r->access_key_id == NULL && r->secret_access_key == NULL);
    ws_config_free(c);
}

TEST(every_key)
{
    struct ws_config *c = parse("addr: \"\"\n"
                                "exec: myapp -serve 'a b'\n"
                                "shutdown-sync-timeout: 45s\n"
                                "access-key-id: AKIDGLOBAL\n"
                                "secret-access-key: " SECRET "\n"
                                "logging:\n"
                                "  level: WARNING\n"
                                "  type: json\n"
                                "  stderr: true\n"
                                "dbs:\n"
                                "  - path: /data/a.db\n"
                                "    meta-path: /var/lib/walship/a\n"
                                "    monitor-interval: 250ms\n"
                                "    checkpoint-interval: 5m\n"
                                "    min-checkpoint-page-count: 500\n"
                                "    max-checkpoint-page-count: 0\n"
                                "    replicas:\n"
                                "      - type: s3\n"
                                "        name: offsite\n"
                                "        bucket: mybucket\n"
                                "        path: db/a\n"
                                "        region: eu-west-1\n"
                                "        endpoint: https://minio.example:9000\n"
                                "        force-path-style: false\n"
                                "        skip-verify: yes\n"
                                "        access-key-id: AKIDLOCAL\n"
                                "        secret-access-key: local-secret\n"
                                "        sync-interval: 10s\n"
                                "        snapshot-interval: 1h30m\n"
                                "        retention: 72h\n"
                                "        retention-check-interval: 10m\n"
                                "        validation-interval: 0s\n"
                                "        age:\n"
                                "          identities: []\n"
                                "          recipients: []\n");
    const struct ws_db_config *db = &c->dbs[0];
    const struct ws_replica_config *r = &db->replicas[0];

    ASSERT_STR_EQ(c->access_key_id, "AKIDGLOBAL");
    ASSERT_STR_EQ(c->secret_access_key, SECRET);
    ASSERT_STR_EQ(c->exec, "myapp -serve 'a b'");
    ASSERT_EQ(c->shutdown_sync_timeout_ms, 45000);
    ASSERT_STR_EQ(c->log_level, "warn");
    ASSERT_STR_EQ(c->log_type, "json");
    ASSERT_EQ(c->log_stderr, 1);
    ASSERT_STR_EQ(db->meta_path, "/var/lib/walship/a");
    ASSERT_EQ(db->monitor_interval_ms, 250);
    ASSERT_EQ(db->checkpoint_interval_ms, 300000);
    ASSERT_EQ(db->min_checkpoint_page_count, 500);
    ASSERT_EQ(db->max_checkpoint_page_count, 0);
    ASSERT_STR_EQ(r->type, "s3");
    ASSERT_STR_EQ(r->name, "offsite");
    ASSERT_STR_EQ(r->bucket, "mybucket");
    ASSERT_STR_EQ(r->path, "db/a");
    ASSERT_STR_EQ(r->region, "eu-west-1");
    ASSERT_STR_EQ(r->endpoint, "https://minio.example:9000");
    ASSERT_EQ(r->force_path_style, 0);
    ASSERT_EQ(r->skip_verify, 1);
    ASSERT_STR_EQ(r->access_key_id, "AKIDLOCAL");
    ASSERT_STR_EQ(r->secret_access_key, "local-secret");
    ASSERT_EQ(r->sync_interval_ms, 10000);
    ASSERT_EQ(r->snapshot_interval_ms, 5400000);
    ASSERT_EQ(r->retention_ms, 72 * 3600 * 1000);
    ASSERT_EQ(r->retention_check_interval_ms, 600000);
    ws_config_free(c);
}

TEST(no_databases)
{
    /* A config that lists no database can never replicate anything. */
    static const char *const none[] = {
        "",  "\n", "# nothing\n", "~\n", "logging:\n", "---\n",
        "access-key-id: x\n",
    };
    static const char *const empty[] = {"dbs:\n", "dbs: []\n", "dbs: ~\n"};

    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
        fails_with(none[i], "walship.yml: no \"dbs\": list at least one "
                            "database, with its path and replicas");
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++)
        fails_with(empty[i], "walship.yml:1: \"dbs\" is empty: list at "
                             "least one database, with its path and "
                             "replicas");
    fails_with("# a comment\nlogging:\n  level: info\ndbs: []\n",
               "walship.yml:4: \"dbs\" is empty: list at least one "
               "database, with its path and replicas");
}

TEST(database_without_replicas)
{
    fails_with("dbs:\n"
               "  - path: /data/a.db\n",
               "walship.yml:2: database /data/a.db has no replicas: add a "
               "\"replicas\" list");
    fails_with(ONE_DB "  - path: /data/b.db\n"
                      "    replicas: []\n",
               "walship.yml:5: database /data/b.db has no replicas: add a "
               "\"replicas\" list");
    fails_with(ONE_DB "  - path: /data/c.db\n"
                      "    replicas:\n",
               "walship.yml:5: database /data/c.db has no replicas: add a "
               "\"replicas\" list");
}

TEST(production_keys)
{
    struct ws_config *c;

    fails_with(ONE_DB "addr: \"9090\"\n",
               "walship.yml:5: invalid addr \"9090\": want HOST:PORT, :PORT "
               "or [IPV6]:PORT");
    fails_with(ONE_DB "addr: \"::1:9090\"\n",
               "walship.yml:5: invalid addr \"::1:9090\": an IPv6 address "
               "goes in brackets, [::1]:9090");
    fails_with(ONE_DB "addr: \":99999\"\n",
               "walship.yml:5: invalid addr \":99999\": the port must be a "
               "number from 1 to 65535");
    fails_with(ONE_DB "heartbeat-interval: 30s\n",
               "walship.yml:5: \"heartbeat-interval\" must be at least 1m0s, "
               "not 30s");
    fails_with(ONE_DB "heartbeat-interval: 0\n",
               "walship.yml:5: \"heartbeat-interval\" must be at least 1m0s, "
               "not 0");
    fails_with(ONE_DB "health-sync-timeout: 10ms\n",
               "walship.yml:5: \"health-sync-timeout\" must be at least 1s, "
               "not 10ms");
    c = parse(ONE_DB "addr: \"[::1]:9090\"\nheartbeat-url: http://h/p\n"
              "heartbeat-interval: 1m\nhealth-sync-timeout: 30s\n");
    ASSERT_STR_EQ(c->addr, "[::1]:9090");
    ASSERT_STR_EQ(c->heartbeat_url, "http://h/p");
    ASSERT_EQ(c->heartbeat_interval_ms, 60000);
    ASSERT_EQ(c->health_sync_timeout_ms, 30000);
    ws_config_free(c);
    fails_with(ONE_DB "        validation-interval: 12\n",
               "walship.yml:5: invalid duration for \"validation-interval\": "
               "\"12\": a duration needs a unit (only 0 may go without one; "
               "Litestream would read a bare number as nanoseconds): write "
               "e.g. 10s or 500ms");
    fails_with("exec: [a, b]\n" ONE_DB,
               "walship.yml:1: \"exec\" must be a scalar, not a list");
    /* Empty, or 0: off, as in Litestream. */
    c = parse("exec: \"\"\naddr: ~\n" ONE_DB
              "        validation-interval: 0\n");
    ASSERT_EQ(c->ndbs, 1);
    ASSERT_EQ(c->dbs[0].replicas[0].validation_interval_ms, 0);
    ws_config_free(c);
    c = parse(ONE_DB "        validation-interval: 12h\n");
    ASSERT_EQ(c->dbs[0].replicas[0].validation_interval_ms,
              12LL * 3600 * 1000);
    ws_config_free(c);
    c = parse(ONE_DB);
    ASSERT(c->exec == NULL);
    ws_config_free(c);
}

/* exec is split when the file is read (child.h); shutdown-sync-timeout
 * is a duration, 30s unless set, 0 allowed. */
TEST(exec_and_shutdown_timeout)
{
    struct ws_config *c = parse(ONE_DB);

    ASSERT(c->exec == NULL);
    ASSERT_EQ(c->shutdown_sync_timeout_ms, 30000);
    ws_config_free(c);
    c = parse("exec: ~\nshutdown-sync-timeout: 0\n" ONE_DB);
    ASSERT(c->exec == NULL);
    ASSERT_EQ(c->shutdown_sync_timeout_ms, 0);
    ws_config_free(c);
    fails_with("exec: \"app | logger\"\n" ONE_DB,
               "walship.yml:1: invalid \"exec\": unquoted '|' at character "
               "5: no shell runs the command (quote it, or run one: sh -c "
               "'...')");
    fails_with("exec: \"app 'x\"\n" ONE_DB,
               "walship.yml:1: invalid \"exec\": unterminated ' at "
               "character 5");
    fails_containing("shutdown-sync-timeout: 30\n" ONE_DB,
                     "walship.yml:1: invalid duration for "
                     "\"shutdown-sync-timeout\": \"30\"");
    fails_containing("shutdown-sync-timeout: -1s\n" ONE_DB,
                     "\"shutdown-sync-timeout\"");
}

TEST(null_keeps_defaults)
{
    struct ws_config *c = parse("dbs:\n"
                                "  - path: /d.db\n"
                                "    monitor-interval:\n"
                                "    replicas:\n"
                                "      - path: /b\n"
                                "        sync-interval: ~\n"
                                "        name: \"\"\n"
                                "        age:\n"
                                "  - path: /e.db\n"
                                "    replicas:\n"
                                "      - path: /e\n"
                                "        retention:\n");

    ASSERT_EQ(c->ndbs, 2);
    ASSERT_EQ(c->dbs[0].monitor_interval_ms, 1000);
    ASSERT_EQ(c->dbs[0].replicas[0].sync_interval_ms, 1000);
    ASSERT_STR_EQ(c->dbs[0].replicas[0].name, "file");
    ASSERT_EQ(c->dbs[1].nreplicas, 1);
    ASSERT_EQ(c->dbs[1].replicas[0].retention_ms, 24 * 3600 * 1000);
    ws_config_free(c);
}

/* ---- Litestream's cmd/litestream/main_test.go ---- */

TEST(litestream_global_settings_reach_replicas)
{
    struct ws_config *c = parse("access-key-id: XXX\n"
                                "secret-access-key: YYY\n"
                                "\n"
                                "dbs:\n"
                                "  - path: /path/to/db\n"
                                "    replicas:\n"
                                "      - url: s3://foo/bar\n"
                                "      - url: s3://baz/qux\n"
                                "        name: own\n"
                                "        access-key-id: AAA\n");
    const struct ws_replica_config *r = c->dbs[0].replicas;

    ASSERT_STR_EQ(r[0].access_key_id, "XXX");
    ASSERT_STR_EQ(r[0].secret_access_key, "YYY");
    ASSERT_STR_EQ(r[1].access_key_id, "AAA");
    ASSERT_STR_EQ(r[1].secret_access_key, "YYY");
    ws_config_free(c);
}

TEST(litestream_expand_env)
{
    struct ws_config *c;

    ASSERT_EQ(setenv("WALSHIP_TEST_0129380", "/path/to/db", 1), 0);
    ASSERT_EQ(setenv("WALSHIP_TEST_1872363", "/path/to/replica", 1), 0);
    ASSERT_EQ(setenv("WALSHIP_TEST_19028374", "s3://foo/bar", 1), 0);
    c = parse("dbs:\n"
              "  - path: $WALSHIP_TEST_0129380\n"
              "    replicas:\n"
              "      - path: ${WALSHIP_TEST_1872363}\n"
              "      - url: ${WALSHIP_TEST_19028374}\n");
    ASSERT_STR_EQ(c->dbs[0].path, "/path/to/db");
    ASSERT_STR_EQ(c->dbs[0].replicas[0].path, "/path/to/replica");
    ASSERT_STR_EQ(c->dbs[0].replicas[1].url, "s3://foo/bar");
    ASSERT_STR_EQ(c->dbs[0].replicas[1].bucket, "foo");
    ws_config_free(c);
}

TEST(expand_env_unset_is_an_error)
{
    /* Litestream expands an unset variable to "": ${NOPE}/one.db would
     * become /one.db.  walship names the key, the line and the variable. */
    static const char *const want =
        "walship.yml:2: \"path\": environment variable WALSHIP_TEST_NOPE "
        "is not set (set it, give a default with "
        "${WALSHIP_TEST_NOPE:-default}, or keep the text with "
        "-no-expand-env)";

    unsetenv("WALSHIP_TEST_NOPE");
    fails_with("dbs:\n"
               "  - path: ${WALSHIP_TEST_NOPE}/one.db\n"
               "    replicas:\n"
               "      - path: /b\n",
               want);
    fails_with("dbs:\n"
               "  - path: \"$WALSHIP_TEST_NOPE/one.db\"\n"
               "    replicas:\n"
               "      - path: /b\n",
               want);
    fails_with(ONE_DB "        secret-access-key: x${WALSHIP_TEST_NOPE}\n",
               "walship.yml:5: \"secret-access-key\": environment variable "
               "WALSHIP_TEST_NOPE is not set (set it, give a default with "
               "${WALSHIP_TEST_NOPE:-default}, or keep the text with "
               "-no-expand-env)");
}

TEST(expand_env_defaults_and_comments)
{
    struct ws_config *c;

    unsetenv("WALSHIP_TEST_NOPE");
    ASSERT_EQ(setenv("WALSHIP_TEST_EMPTY", "", 1), 0);
    ASSERT_EQ(setenv("WALSHIP_TEST_SET", "v", 1), 0);
    /* A default stands in for an unset or empty variable; comments and
     * keys are not expanded; a variable set but empty is "" (unset: the
     * default stays); a plain value that expands to a YAML null is one. */
    c = parse("# secret-access-key: ${WALSHIP_TEST_NOPE}\n"
              "access-key-id: ${WALSHIP_TEST_NOPE:-/d ef}+"
              "${WALSHIP_TEST_EMPTY:-e}+${WALSHIP_TEST_SET:-x}+"
              "$WALSHIP_TEST_EMPTY+${WALSHIP_TEST_NOPE:-}\n"
              "dbs:\n"
              "  - path: /db # $WALSHIP_TEST_NOPE\n"
              "    monitor-interval: $WALSHIP_TEST_EMPTY\n"
              "    replicas:\n"
              "      - path: /b\n"
              "        name: \"${WALSHIP_TEST_EMPTY}\"\n"
              "        sync-interval: ${WALSHIP_TEST_NOPE:-5s}\n");
    ASSERT_STR_EQ(c->access_key_id, "/d ef+e+v++");
    ASSERT_STR_EQ(c->dbs[0].path, "/db");
    ASSERT_EQ(c->dbs[0].monitor_interval_ms, 1000);
    ASSERT_STR_EQ(c->dbs[0].replicas[0].name, "file");
    ASSERT_EQ(c->dbs[0].replicas[0].sync_interval_ms, 5000);
    ws_config_free(c);
    /* A key is never expanded. */
    fails_with(ONE_DB "$WALSHIP_TEST_SET: x\n",
               "walship.yml:5: unknown key \"$WALSHIP_TEST_SET\" in config");
}

TEST(litestream_no_expand_env)
{
    struct ws_config *c;

    ASSERT_EQ(setenv("WALSHIP_TEST_0129380", "/path/to/db", 1), 0);
    c = parse_with("access-key-id: ${WALSHIP_TEST_NO_SUCH_ENV}\n"
                   "secret-access-key: $WALSHIP_TEST_0129380\n" ONE_DB,
                   0);
    ASSERT_STR_EQ(c->access_key_id, "${WALSHIP_TEST_NO_SUCH_ENV}");
    ASSERT_STR_EQ(c->secret_access_key, "$WALSHIP_TEST_0129380");
    ws_config_free(c);
}

TEST(expand_env_edge_cases)
{
    struct ws_config *c;

    ASSERT_EQ(setenv("WS_T_A", "x", 1), 0);
    ASSERT_EQ(setenv("_b9", "y", 1), 0);
    /* Lone '$', "$$", "${1}", an unclosed "${", digits after '$', and an
     * unclosed default are text. */
    c = parse("access-key-id: \"a$ $$ ${1} ${WS_T_A $1 $- ${WS_T_A:-x\"\n"
              "secret-access-key: \"$WS_T_A$_b9 ${WS_T_A}z $WS_T_A.$\"\n"
              ONE_DB);
    ASSERT_STR_EQ(c->access_key_id, "a$ $$ ${1} ${WS_T_A $1 $- ${WS_T_A:-x");
    ASSERT_STR_EQ(c->secret_access_key, "xy xz x.$");
    ws_config_free(c);
    c = parse("access-key-id: x$\n" ONE_DB);
    ASSERT_STR_EQ(c->access_key_id, "x$");
    ws_config_free(c);
}

TEST(litestream_file_replica_path)
{
    struct ws_config *c = parse("dbs:\n"
                                "  - path: /db\n"
                                "    replicas: [{path: /foo}]\n");
    const struct ws_replica_config *r = &c->dbs[0].replicas[0];

    ASSERT_STR_EQ(r->type, "file");
    ASSERT_STR_EQ(r->path, "/foo");
    ASSERT_STR_EQ(c->dbs[0].meta_path, "/.db-walship");
    ws_config_free(c);
}

TEST(litestream_s3_urls)
{
    struct ws_replica_config rc = {0};
    struct ws_err err = {0};

    ASSERT_EQ(ws_config_parse_url("s3://foo/bar", &rc, &err), WS_OK);
    ASSERT_STR_EQ(rc.type, "s3");
    ASSERT_STR_EQ(rc.url, "s3://foo/bar");
    ASSERT_STR_EQ(rc.bucket, "foo");
    ASSERT_STR_EQ(rc.path, "bar");
    ASSERT(rc.region == NULL && rc.endpoint == NULL);
    ASSERT_EQ(rc.force_path_style, -1);

    /* Calling again replaces the fields (ASan checks nothing leaks). */
    ASSERT_EQ(ws_config_parse_url("s3://foo.localhost:9000/bar", &rc, &err),
              WS_OK);
    ASSERT_STR_EQ(rc.bucket, "foo");
    ASSERT_STR_EQ(rc.path, "bar");
    ASSERT_STR_EQ(rc.region, "us-east-1");
    ASSERT_STR_EQ(rc.endpoint, "http://localhost:9000");
    ASSERT_EQ(rc.force_path_style, 1);

    ASSERT_EQ(ws_config_parse_url("s3://foo.s3.us-west-000.backblazeb2.com/bar",
                                  &rc, &err),
              WS_OK);
    ASSERT_STR_EQ(rc.bucket, "foo");
    ASSERT_STR_EQ(rc.path, "bar");
    ASSERT_STR_EQ(rc.region, "us-west-000");
    ASSERT_STR_EQ(rc.endpoint, "https://s3.us-west-000.backblazeb2.com");
    ASSERT_EQ(rc.force_path_style, 1);
    replica_clear(&rc);
}

TEST(litestream_gcs_url_rejected)
{
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - url: gcs://foo/bar\n",
               "walship.yml:4: unsupported replica url scheme: \"gcs\"");
    url_fails("gcs://foo/bar", "unsupported replica url scheme: \"gcs\"");
    url_fails("abs://acct@c/p", "unsupported replica url scheme: \"abs\"");
    url_fails("sftp://u@h/p", "unsupported replica url scheme: \"sftp\"");
}

/* ---- URLs ---- */

TEST(url_file)
{
    struct ws_replica_config rc = {0};
    struct ws_err err = {0};
    char *cwd, *want;

    rc.sync_interval_ms = 42;
    ASSERT_EQ(ws_config_parse_url("file:///data/x", &rc, &err), WS_OK);
    ASSERT_STR_EQ(rc.type, "file");
    ASSERT_STR_EQ(rc.url, "file:///data/x");
    ASSERT_STR_EQ(rc.path, "/data/x");
    ASSERT(rc.bucket == NULL);
    ASSERT_EQ(rc.sync_interval_ms, 42); /* intervals are left alone */
    ASSERT_EQ(ws_config_parse_url("file:///data//y/./z/../w/", &rc, &err),
              WS_OK);
    ASSERT_STR_EQ(rc.path, "/data/y/w");
    ASSERT_EQ(ws_config_parse_url("/plain//path/", &rc, &err), WS_OK);
    ASSERT_STR_EQ(rc.type, "file");
    ASSERT_STR_EQ(rc.path, "/plain/path");

    cwd = enter_tmpdir();
    want = join(cwd, "rel/dir");
    ASSERT_EQ(ws_config_parse_url("./rel/dir", &rc, &err), WS_OK);
    ASSERT_STR_EQ(rc.type, "file");
    ASSERT_STR_EQ(rc.url, "./rel/dir");
    ASSERT_STR_EQ(rc.path, want);
    free(want);
    leave_tmpdir(cwd);
    replica_clear(&rc);

    url_fails("file://", "file replica path required");
    url_fails("", "file replica path required");
    url_fails("://foo/bar", "replica url scheme required");
}

/* Mistakes in a file URL that would put the replica somewhere the user
 * did not mean (a directory "file:" in the working directory, one named
 * "rep?x=1", /a/rep for "file://a/rep") are refused in one line that
 * says the form to write. */
TEST(url_file_mistakes)
{
    struct ws_replica_config rc = {0};
    struct ws_err err = {0};

    url_fails("file:/tmp/a/rep",
              "replica url \"file:/tmp/a/rep\" lacks the \"//\" of a url: "
              "write file:///abs/path (here file:///tmp/a/rep) or a plain "
              "path");
    url_fails("File:rel/rep",
              "replica url \"File:rel/rep\" lacks the \"//\" of a url: "
              "write file:///abs/path (here file:///rel/rep) or a plain path");
    url_fails("s3:bucket/x", "replica url \"s3:bucket/x\" lacks the \"//\" "
                             "of a url: write s3://...");
    url_fails("file:///tmp/a/rep?x=1",
              "replica url \"file:///tmp/a/rep?x=1\" has a query or fragment "
              "(\"?x=1\"): a file url is file:///abs/path, or give a plain "
              "path");
    url_fails("file:///tmp/a/rep#f",
              "replica url \"file:///tmp/a/rep#f\" has a query or fragment "
              "(\"#f\"): a file url is file:///abs/path, or give a plain "
              "path");
    url_fails("file://a/rep", "replica url file://a/rep has host a; write "
                              "file:///a/rep");
    url_fails("FILE://host/p", "replica url FILE://host/p has host host; "
                               "write file:///host/p");
    /* Litestream reads file://localhost/p as /localhost/p, RFC 8089 as
     * /p: refused, so that one config never means two paths. */
    url_fails("FILE://localhost/p//q", "replica url FILE://localhost/p//q "
                                       "has host localhost; write "
                                       "file:///localhost/p//q");
    url_fails("file://", "file replica path required");
    /* The same in a config file, at the replica's line; a path key too. */
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - url: file://a/rep\n",
               "walship.yml:4: replica url file://a/rep has host a; write "
               "file:///a/rep");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - path: file:/b\n",
               "walship.yml:4: replica url \"file:/b\" lacks the \"//\" of a "
               "url: write file:///abs/path (here file:///b) or a plain path");
    /* A colon elsewhere is a path's own. */
    ASSERT_EQ(ws_config_parse_url("/tmp/file:/x", &rc, &err), WS_OK);
    ASSERT_STR_EQ(rc.path, "/tmp/file:/x");
    replica_clear(&rc);
}

TEST(url_s3_hosts)
{
    static const struct {
        const char *url, *bucket, *path, *region, *endpoint;
        int fps;
    } cases[] = {
        {"s3://foo", "foo", NULL, NULL, NULL, -1},
        {"s3://foo/", "foo", NULL, NULL, NULL, -1},
        {"s3://foo.bar.baz//a/./b/../c/", "foo.bar.baz", "a/c", NULL, NULL, -1},
        {"s3://b/sp%20ace+x", "b", "sp ace+x", NULL, NULL, -1},
        {"s3://user:pw@foo/x", "foo", "x", NULL, NULL, -1},
        {"s3://foo.localhost/x", "foo", "x", "us-east-1", "http://localhost",
         1},
        {"s3://a.b.localhost:9000/x", "a.b", "x", "us-east-1",
         "http://localhost:9000", 1},
        {"s3://foo.s3.filebase.com/x", "foo", "x", NULL,
         "https://s3.filebase.com", 1},
        {"s3://foo.nyc3.digitaloceanspaces.com/x", "foo", "x", "nyc3",
         "https://nyc3.digitaloceanspaces.com", 1},
        {"s3://foo.s3.fr-par.scw.cloud/x", "foo", "x", "fr-par",
         "https://s3.fr-par.scw.cloud", 1},
        {"s3://foo.us-east-1.linodeobjects.com/x", "foo", "x", "us-east-1",
         "https://us-east-1.linodeobjects.com", 1},
        {"s3://foo.s3.amazonaws.com/x", "foo.s3.amazonaws.com", "x", NULL, NULL,
         -1},
        /* Query parameters override what the host implies. */
        {"s3://foo/bar?region=eu-west-1", "foo", "bar", "eu-west-1", NULL, -1},
        {"s3://foo/bar?endpoint=http%3A%2F%2Fminio%3A9000&region=r1", "foo",
         "bar", "r1", "http://minio:9000", 1},
        {"s3://foo/bar?endpoint=http://m:9000&force-path-style=false", "foo",
         "bar", NULL, "http://m:9000", 0},
        {"s3://foo.localhost:9000/bar?force-path-style=false&region=x", "foo",
         "bar", "x", "http://localhost:9000", 0},
        {"s3://foo/bar?force-path-style=true#frag", "foo", "bar", NULL, NULL,
         1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ws_replica_config rc = {0};
        struct ws_err err = {0};

        if (ws_config_parse_url(cases[i].url, &rc, &err) != WS_OK)
            CHECK_FAIL("%s: %s", cases[i].url, err.msg);
        ASSERT_STR_EQ(rc.type, "s3");
        ASSERT_STR_EQ(rc.bucket, cases[i].bucket);
#define OPT_EQ(got, want)                                                      \
    do {                                                                       \
        if ((want) == NULL && (got) != NULL)                                   \
            CHECK_FAIL("%s: %s = \"%s\", want NULL", cases[i].url, #got, got); \
        if ((want) != NULL)                                                    \
            ASSERT_STR_EQ(got, want);                                          \
    } while (0)
        OPT_EQ(rc.path, cases[i].path);
        OPT_EQ(rc.region, cases[i].region);
        OPT_EQ(rc.endpoint, cases[i].endpoint);
#undef OPT_EQ
        ASSERT_EQ(rc.force_path_style, cases[i].fps);
        replica_clear(&rc);
    }
}

TEST(url_s3_errors)
{
    url_fails("s3:///bar", "bucket required for s3 replica (s3://BUCKET/PATH)");
    url_fails("s3://", "bucket required for s3 replica (s3://BUCKET/PATH)");
    url_fails("s3://localhost:9000/bar", "bucket required for s3 replica (s3://BUCKET/PATH)");
    url_fails("s3://foo/bar?colour=red",
              "unknown replica url parameter \"colour\"");
    url_fails("s3://foo/bar?force-path-style=maybe",
              "invalid force-path-style in replica url: \"maybe\"");
    url_fails("s4://foo/bar", "unsupported replica url scheme: \"s4\"");
}

TEST(config_url_priority)
{
    struct ws_config *c =
        parse("dbs:\n"
              "  - path: /db\n"
              "    replicas:\n"
              "      - url: s3://foo.localhost:9000/bar\n"
              "        name: a\n"
              "        region: eu-west-1\n"
              "        endpoint: http://minio:9000\n"
              "      - url: s3://foo/bar?endpoint=http://m:1&region=r\n"
              "        name: b\n"
              "        force-path-style: false\n"
              "        region: mine\n"
              "      - url: s3://foo/bar\n"
              "        name: c\n"
              "        endpoint: http://e:2\n"
              "      - url: s3://foo.localhost:9000/bar\n"
              "        name: d\n"
              "        force-path-style: false\n"
              "      - url: file:///backup//x/\n"
              "        type: file\n"
              "        sync-interval: 5s\n");
    const struct ws_replica_config *r = c->dbs[0].replicas;

    ASSERT_EQ(c->dbs[0].nreplicas, 5);
    ASSERT_STR_EQ(r[0].type, "s3");
    ASSERT_STR_EQ(r[0].url, "s3://foo.localhost:9000/bar");
    ASSERT_STR_EQ(r[0].bucket, "foo");
    ASSERT_STR_EQ(r[0].path, "bar");
    ASSERT_STR_EQ(r[0].region, "eu-west-1");
    ASSERT_STR_EQ(r[0].endpoint, "http://minio:9000");
    ASSERT_EQ(r[0].force_path_style, 1);
    ASSERT_STR_EQ(r[1].region, "mine");
    ASSERT_STR_EQ(r[1].endpoint, "http://m:1");
    ASSERT_EQ(r[1].force_path_style, 0);
    ASSERT_STR_EQ(r[2].endpoint, "http://e:2");
    ASSERT_EQ(r[2].force_path_style, 1); /* an endpoint implies it */
    ASSERT_STR_EQ(r[3].endpoint, "http://localhost:9000");
    ASSERT_EQ(r[3].force_path_style, 0); /* set in the file: it wins */
    ASSERT_STR_EQ(r[4].type, "file");
    ASSERT_STR_EQ(r[4].name, "file");
    ASSERT_STR_EQ(r[4].path, "/backup/x");
    ASSERT_EQ(r[4].sync_interval_ms, 5000);
    ws_config_free(c);
}

TEST(config_s3_fields)
{
    struct ws_config *c = parse("dbs:\n"
                                "  - path: /db\n"
                                "    replicas:\n"
                                "      - type: s3\n"
                                "        bucket: b\n"
                                "        path: p/q\n"
                                "      - type: s3\n"
                                "        name: two\n"
                                "        bucket: b\n"
                                "        endpoint: http://x:1\n");
    const struct ws_replica_config *r = c->dbs[0].replicas;

    ASSERT_STR_EQ(r[0].name, "s3");
    ASSERT_STR_EQ(r[0].bucket, "b");
    ASSERT_STR_EQ(r[0].path, "p/q");
    ASSERT(r[0].url == NULL && r[0].endpoint == NULL);
    ASSERT_EQ(r[0].force_path_style, -1);
    ASSERT_EQ(r[1].force_path_style, 1);
    ws_config_free(c);

    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - type: s3\n"
               "        path: p\n",
               "walship.yml:4: bucket required for s3 replica");
}

/* ---- strictness ---- */

TEST(unknown_key_top_level)
{
    fails_with("dbs:\n"
               "  - path: /db\n"
               "# comment\n"
               "acess-key-id: x\n",
               "walship.yml:4: unknown key \"acess-key-id\" in config");
    fails_with("logging:\n"
               "  level: info\n"
               "  colour: red\n",
               "walship.yml:3: unknown key \"colour\" in logging");
}

TEST(unknown_key_db)
{
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    monitor-interval: 1s\n"
               "\n"
               "    min-checkpoint-pages: 10\n",
               "walship.yml:5: unknown key \"min-checkpoint-pages\" in "
               "database");
}

TEST(unknown_key_replica)
{
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - type: file\n"
               "        path: /backup\n"
               "        # the typo is on line 7\n"
               "        sync-intreval: 10s\n",
               "walship.yml:7: unknown key \"sync-intreval\" in replica");
    /* Flow style: the line of the key. */
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas: [{path: /b,\n"
               "                bogus: 1}]\n",
               "walship.yml:4: unknown key \"bogus\" in replica");
}

TEST(other_backend_keys_rejected)
{
    static const char *const keys[] = {
        "account-name", "account-key", "host", "user", "password", "key-path"};

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char text[256], want[128];

        snprintf(text, sizeof(text),
                 "dbs:\n  - path: /db\n    replicas:\n      - path: /b\n"
                 "        %s: x\n",
                 keys[i]);
        snprintf(want, sizeof(want),
                 "walship.yml:5: unknown key \"%s\" in replica", keys[i]);
        fails_with(text, want);
    }
}

TEST(duplicate_keys)
{
    fails_with("dbs:\n"
               "  - path: /a\n"
               "    path: /b\n",
               "walship.yml:3: duplicate key \"path\" in database");
    fails_with("access-key-id: a\n"
               "dbs: []\n"
               "access-key-id: b\n",
               "walship.yml:3: duplicate key \"access-key-id\" in config");
    fails_with("secret-access-key: " SECRET "\n"
               "secret-access-key: " SECRET "\n",
               "walship.yml:2: duplicate key \"secret-access-key\" in "
               "config");
}

TEST(duplicate_replica_name)
{
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - path: /a\n"
               "      - url: file:///b\n",
               "walship.yml:5: duplicate replica name: \"file\"");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - path: /a\n"
               "        name: x\n"
               "      - url: s3://b/p\n"
               "        name: x\n",
               "walship.yml:6: duplicate replica name: \"x\"");
}

TEST(duplicate_db_path)
{
    fails_with("dbs:\n"
               "  - path: /data/a.db\n"
               "    replicas: [{path: /b/a}]\n"
               "  - path: /data/x/../a.db\n"
               "    replicas: [{path: /b/b}]\n",
               "walship.yml:4: duplicate database path: /data/a.db");
}

TEST(url_and_path)
{
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - url: file:///backup\n"
               "        path: /backup\n",
               "walship.yml:4: cannot specify url & path for file replica");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - url: s3://b/p\n"
               "        path: p\n",
               "walship.yml:4: cannot specify url & path for s3 replica");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - url: s3://b/p\n"
               "        bucket: b\n",
               "walship.yml:4: cannot specify url & bucket for s3 replica");
}

TEST(path_is_url)
{
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - path: s3://bucket/db\n",
               "walship.yml:4: replica path cannot be a url, please use the "
               "'url' field instead: s3://bucket/db");
}

TEST(replica_types)
{
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - type: gcs\n"
               "        bucket: b\n",
               "walship.yml:4: unsupported replica type: \"gcs\"");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - type: s3\n"
               "        url: file:///b\n",
               "walship.yml:4: replica type \"s3\" does not match url "
               "scheme \"file\"");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - name: x\n",
               "walship.yml:4: file replica path required");
}

TEST(wrong_types)
{
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - path: /b\n"
               "        sync-interval:\n"
               "          seconds: 1\n",
               "walship.yml:5: \"sync-interval\" must be a scalar, not a "
               "mapping");
    fails_with("exec: [a, b]\n",
               "walship.yml:1: \"exec\" must be a scalar, not a list");
    fails_with("dbs:\n  path: /db\n",
               "walship.yml:1: \"dbs\" must be a list, not a mapping");
    fails_with("dbs:\n  - /db\n",
               "walship.yml:2: each database must be a mapping");
    fails_with("dbs:\n  - path: /db\n    replicas: /b\n",
               "walship.yml:3: \"replicas\" must be a list, not a scalar");
    fails_with("dbs:\n  - path: /db\n    replicas:\n      - [a]\n",
               "walship.yml:4: each replica must be a mapping");
    fails_with("logging: debug\n",
               "walship.yml:1: \"logging\" must be a mapping, not a scalar");
    fails_with("- a\n- b\n", "walship.yml:1: the top level must be a mapping");
    fails_with("? [a]\n: b\n", "walship.yml:1: keys in config must be "
                               "scalars");
    fails_with("secret-access-key: {v: " SECRET "}\n",
               "walship.yml:1: \"secret-access-key\" must be a scalar, not "
               "a mapping");
}

TEST(bad_values)
{
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - path: /b\n"
               "        retention: 1d\n",
               "walship.yml:5: invalid duration for \"retention\": \"1d\": "
               "want a Go duration such as 500ms, 10s, 1m30s or 24h");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    checkpoint-interval: -1s\n",
               "walship.yml:3: invalid duration for \"checkpoint-interval\": "
               "\"-1s\": want a Go duration such as 500ms, 10s, 1m30s or "
               "24h");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - path: /b\n"
               "        skip-verify: maybe\n",
               "walship.yml:5: invalid boolean for \"skip-verify\": "
               "\"maybe\"");
    fails_with("logging:\n  stderr: 2\n",
               "walship.yml:2: invalid boolean for \"stderr\": \"2\"");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    min-checkpoint-page-count: 1k\n",
               "walship.yml:3: invalid integer for "
               "\"min-checkpoint-page-count\": \"1k\"");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    max-checkpoint-page-count: 1.5\n",
               "walship.yml:3: invalid integer for "
               "\"max-checkpoint-page-count\": \"1.5\"");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    max-checkpoint-page-count: 99999999999999999999\n",
               "walship.yml:3: invalid integer for "
               "\"max-checkpoint-page-count\": \"99999999999999999999\"");
    fails_with("exec: \"a\\0b\"\n",
               "walship.yml:1: \"exec\" contains a NUL character");
    fails_with("logging:\n  level: loud\n",
               "walship.yml:2: unsupported logging level: \"loud\"");
    fails_with("logging:\n  type: xml\n",
               "walship.yml:2: unsupported logging type: \"xml\"");
}

TEST(bools)
{
    static const struct {
        const char *text;
        int want;
    } cases[] = {
        {"true", 1},  {"True", 1},  {"yes", 1}, {"on", 1},  {"Y", 1},
        {"false", 0}, {"FALSE", 0}, {"no", 0},  {"off", 0}, {"n", 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[160];
        struct ws_config *c;

        snprintf(text, sizeof(text), "logging:\n  stderr: %s\n" ONE_DB,
                 cases[i].text);
        c = parse(text);
        ASSERT_EQ(c->log_stderr, cases[i].want);
        ws_config_free(c);
    }
}

/* A count out of range names its key at the key's own line, and the
 * least value it takes. */
TEST(checkpoint_page_counts)
{
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    min-checkpoint-page-count: 0\n",
               "walship.yml:3: \"min-checkpoint-page-count\" must be at least "
               "1, not 0");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    min-checkpoint-page-count: -5\n",
               "walship.yml:3: \"min-checkpoint-page-count\" must be at least "
               "1, not -5");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    max-checkpoint-page-count: -1\n",
               "walship.yml:3: \"max-checkpoint-page-count\" must be at least "
               "0, not -1");
}

/* A path key whose variable is set but empty names the variable (not
 * "db path required"). */
TEST(path_from_an_empty_variable)
{
    setenv("WS_TEST_EMPTYV", "", 1);
    fails_with("dbs:\n"
               "  - path: ${WS_TEST_EMPTYV}\n",
               "walship.yml:2: \"path\" is empty: environment variable "
               "WS_TEST_EMPTYV is set to \"\" (\"${WS_TEST_EMPTYV}\")");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - url: $WS_TEST_EMPTYV\n",
               "walship.yml:4: \"url\" is empty: environment variable "
               "WS_TEST_EMPTYV is set to \"\" (\"$WS_TEST_EMPTYV\")");
    unsetenv("WS_TEST_EMPTYV");
}

TEST(db_path_required)
{
    fails_with("dbs:\n"
               "  - monitor-interval: 1s\n",
               "walship.yml:2: db path required");
    fails_with("dbs:\n"
               "  - path: \"\"\n",
               "walship.yml:2: db path required");
    /* Blank is not a file named " " in the working directory. */
    fails_with("dbs:\n"
               "  - path: \" \"\n",
               "walship.yml:2: db path \" \" is blank");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    meta-path: \"\\t\"\n",
               "walship.yml:2: meta-path \"?\" is blank");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - path: \"  \"\n",
               "walship.yml:4: replica path \"  \" is blank");
}

TEST(age_rejected)
{
    struct ws_config *c = parse("dbs:\n"
                                "  - path: /db\n"
                                "    replicas:\n"
                                "      - path: /b\n"
                                "        age: {identities: [],\n"
                                "              recipients: ~}\n");

    ws_config_free(c);
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - path: /b\n"
               "        age:\n"
               "          recipients:\n"
               "            - age1qqqq\n",
               "walship.yml:5: age encryption is not supported");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - path: /b\n"
               "        age:\n"
               "          identities: [AGE-SECRET-KEY-1]\n",
               "walship.yml:5: age encryption is not supported");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - path: /b\n"
               "        age:\n"
               "          passphrase: x\n",
               "walship.yml:6: unknown key \"passphrase\" in age");
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - path: /b\n"
               "        age: [x]\n",
               "walship.yml:5: \"age\" must be a mapping, not a list");
}

TEST(yaml_syntax_errors)
{
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas: x: y\n",
               "walship.yml:3: mapping values are not allowed in this "
               "context");
    fails_containing("dbs:\n"
                     "  - path: /db\n"
                     "    replicas:\n"
                     "      - path: \"/b\n",
                     "walship.yml:5: found unexpected end of stream");
    fails_containing("dbs:\n"
                     "  - path: /db\n"
                     " bad\n",
                     "walship.yml:3: ");
    fails_containing("exec: *nope\n", "walship.yml:1: found undefined alias");
    fails_containing("exec: \"\xff\"\n", "walship.yml:1: invalid leading "
                                         "UTF-8 octet");
    fails_with("dbs: []\n---\nexec: x\n",
               "walship.yml:3: only one YAML document is allowed");
}

TEST(secrets_never_in_messages)
{
    /* parse_err() checks every message for SECRET. */
    struct ws_err err;

    parse_err("secret-access-key: " SECRET "\n"
              "dbs:\n"
              "  - path: /db\n"
              "    replicas:\n"
              "      - url: s3://b/p\n"
              "        secret-access-key: " SECRET "\n"
              "        sync-interval: soon\n",
              WS_ECONFIG, &err);
    parse_err("secret-access-key: " SECRET ": x\n", WS_ECONFIG, &err);
    parse_err("secret-access-key: [" SECRET "]\n", WS_ECONFIG, &err);
    parse_err("dbs:\n"
              "  - path: /db\n"
              "    replicas:\n"
              "      - url: s3://b/p?secret=" SECRET "\n",
              WS_ECONFIG, &err);
    parse_err("dbs:\n"
              "  - path: /db\n"
              "    replicas:\n"
              "      - url: s3:///p?x=" SECRET "\n",
              WS_ECONFIG, &err);
}

/* ---- paths ---- */

TEST(path_abs_clean)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"/", "/"},
        {"//", "/"},
        {"/a//b/./c/../d/", "/a/b/d"},
        {"/..", "/"},
        {"/a/b/../../..", "/"},
        {"/a/./.", "/a"},
        {"/abc/def/../../..//x", "/x"},
        {"/.hidden/..x/x..", "/.hidden/..x/x.."},
    };
    char *cwd, *p, *want;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p = ws_path_abs(cases[i].in);
        ASSERT_STR_EQ(p, cases[i].want);
        free(p);
    }
    cwd = enter_tmpdir();
    p = ws_path_abs("");
    ASSERT_STR_EQ(p, cwd);
    free(p);
    p = ws_path_abs(".");
    ASSERT_STR_EQ(p, cwd);
    free(p);
    p = ws_path_abs("x/../y//z/");
    want = join(cwd, "y/z");
    ASSERT_STR_EQ(p, want);
    free(p);
    free(want);
    p = ws_path_abs("../../../../../../../..");
    ASSERT_STR_EQ(p, "/");
    free(p);
    ASSERT(ws_path_abs(NULL) == NULL);
    leave_tmpdir(cwd);
}

TEST(relative_paths_made_absolute)
{
    char *cwd = enter_tmpdir(), *db, *meta, *rep, *rep2, *meta2;
    struct ws_config *c = parse("dbs:\n"
                                "  - path: data/../app.db\n"
                                "    replicas:\n"
                                "      - path: ./backup//x/\n"
                                "      - url: other\n"
                                "        name: two\n"
                                "  - path: b.db\n"
                                "    meta-path: meta/\n"
                                "    replicas: [{path: /b}]\n");

    db = join(cwd, "app.db");
    meta = join(cwd, ".app.db-walship");
    rep = join(cwd, "backup/x");
    rep2 = join(cwd, "other");
    meta2 = join(cwd, "meta");
    ASSERT_STR_EQ(c->dbs[0].path, db);
    ASSERT_STR_EQ(c->dbs[0].meta_path, meta);
    ASSERT_STR_EQ(c->dbs[0].replicas[0].path, rep);
    ASSERT_STR_EQ(c->dbs[0].replicas[1].type, "file");
    ASSERT_STR_EQ(c->dbs[0].replicas[1].url, "other");
    ASSERT_STR_EQ(c->dbs[0].replicas[1].path, rep2);
    ASSERT_STR_EQ(c->dbs[1].meta_path, meta2);

    /* ws_config_find_db cleans and resolves its argument too. */
    ASSERT(ws_config_find_db(c, "app.db") == &c->dbs[0]);
    ASSERT(ws_config_find_db(c, "./x/../app.db") == &c->dbs[0]);
    ASSERT(ws_config_find_db(c, db) == &c->dbs[0]);
    ASSERT(ws_config_find_db(c, "b.db") == &c->dbs[1]);
    ASSERT(ws_config_find_db(c, "c.db") == NULL);
    ASSERT(ws_config_find_db(c, NULL) == NULL);
    ASSERT(ws_config_find_db(NULL, "app.db") == NULL);
    free(db);
    free(meta);
    free(rep);
    free(rep2);
    free(meta2);
    ws_config_free(c);
    leave_tmpdir(cwd);
}

TEST(home_paths)
{
    struct ws_config *c;

    ASSERT_EQ(setenv("HOME", "/home/tester/", 1), 0);
    c = parse("dbs:\n"
              "  - path: ~/data/app.db\n"
              "    replicas:\n"
              "      - path: \"~\"\n"
              "  - path: /x/~/y.db\n"
              "    meta-path: ~/m\n"
              "    replicas: [{path: /b}]\n");
    ASSERT_STR_EQ(c->dbs[0].path, "/home/tester/data/app.db");
    ASSERT_STR_EQ(c->dbs[0].meta_path, "/home/tester/data/.app.db-walship");
    ASSERT_STR_EQ(c->dbs[0].replicas[0].path, "/home/tester");
    ASSERT_STR_EQ(c->dbs[1].path, "/x/~/y.db");
    ASSERT_STR_EQ(c->dbs[1].meta_path, "/home/tester/m");
    ws_config_free(c);
}

/* ---- durations ---- */

TEST(durations)
{
    static const struct {
        const char *s;
        int64_t ms;
    } cases[] = {
        {"0", 0},
        {"0s", 0},
        {"1s", 1000},
        {"+2s", 2000},
        {"1m", 60000},
        {"1h30m", 5400000},
        {"1.5s", 1500},
        {".5s", 500},
        {"1.s", 1000},
        {"500ms", 500},
        {"1500us", 1},
        {"2500\xc2\xb5s", 2},
        {"3000\xce\xbcs", 3},
        {"1000000ns", 1},
        {"00", 0},
        {"24h", 86400000},
        {"1h1m1s1ms", 3661001},
        {"1.25h", 4500000},
        {"2562047h", INT64_C(9223369200000)},
    };
    static const char *const bad[] = {
        "1x",       "",
        "s",        "-1s",
        "-0",       "1.5",
        "1 s",      " 1s",
        "1s ",      "1ss",
        "h1",       ".s",
        "1..5s",    "9999999999999999999s",
        "2562048h", "1e3s",
        "+",        "99999999999999999999",
        "1s-1s",
        /* A bare number (Litestream: nanoseconds) other than 0, and a
         * non-zero duration below 1 ms, which would round to 0. */
        "1",        "1000000",
        "60000000000", "10us",
        "999999ns", "1ns",
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = -7;

        if (ws_duration_parse(cases[i].s, &ms) != WS_OK)
            CHECK_FAIL("\"%s\" rejected", cases[i].s);
        if (ms != cases[i].ms)
            CHECK_FAIL("\"%s\": %" PRId64 " != %" PRId64, cases[i].s, ms,
                       cases[i].ms);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = -7;

        if (ws_duration_parse(bad[i], &ms) != WS_ECONFIG)
            CHECK_FAIL("\"%s\" accepted", bad[i]);
        ASSERT_EQ(ms, -7); /* untouched on failure */
    }
    ASSERT_EQ(ws_duration_parse(NULL, NULL), WS_ECONFIG);
}

TEST(durations_need_units)
{
    struct ws_config *c;

    /* Litestream reads a bare number as nanoseconds: 1000 is 1 µs. */
    fails_with(ONE_DB "        sync-interval: 1000\n",
               "walship.yml:5: invalid duration for \"sync-interval\": "
               "\"1000\": a duration needs a unit (only 0 may go without "
               "one; Litestream would read a bare number as nanoseconds): "
               "write e.g. 10s or 500ms");
    fails_with("dbs:\n  - path: /db\n    checkpoint-interval: +60\n",
               "walship.yml:3: invalid duration for \"checkpoint-interval\": "
               "\"+60\": a duration needs a unit (only 0 may go without "
               "one; Litestream would read a bare number as nanoseconds): "
               "write e.g. 10s or 500ms");
    /* Below 1 ms would round to 0: retention off, events only, ... */
    fails_with(ONE_DB "        retention: 500us\n",
               "walship.yml:5: invalid duration for \"retention\": "
               "\"500us\": below 1ms, which walship would round to 0 "
               "(off)");
    c = parse(ONE_DB "        retention: 0\n"
                     "        snapshot-interval: 00\n"
                     "        sync-interval: 1ms\n");
    ASSERT_EQ(c->dbs[0].replicas[0].retention_ms, 0);
    ASSERT_EQ(c->dbs[0].replicas[0].snapshot_interval_ms, 0);
    ASSERT_EQ(c->dbs[0].replicas[0].sync_interval_ms, 1);
    ws_config_free(c);
}

TEST(shared_places)
{
    struct ws_config *c;

    /* Two databases with one meta directory: the second's lock fails. */
    fails_with("dbs:\n"
               "  - path: /data/a.db\n"
               "    meta-path: /var/lib/ws/m\n"
               "    replicas: [{path: /b/a}]\n"
               "  - path: /data/b.db\n"
               "    meta-path: /var/lib/ws//m/\n"
               "    replicas: [{path: /b/b}]\n",
               "walship.yml:5: meta-path /var/lib/ws/m is also the one of "
               "database /data/a.db: each database needs its own");
    /* Two databases into one replica: their generations would mix. */
    fails_with("dbs:\n"
               "  - path: /data/a.db\n"
               "    replicas: [{path: /b/x}]\n"
               "  - path: /data/b.db\n"
               "    replicas:\n"
               "      - url: file:///b//x/\n",
               "walship.yml:6: replica \"file\" writes where replica "
               "\"file\" of /data/a.db does: each replica needs a place of "
               "its own");
    fails_with("dbs:\n"
               "  - path: /data/a.db\n"
               "    replicas:\n"
               "      - url: s3://bk/p/q\n"
               "      - name: two\n"
               "        type: s3\n"
               "        bucket: bk\n"
               "        path: /p/q/\n",
               "walship.yml:5: replica \"two\" writes where replica \"s3\" "
               "of /data/a.db does: each replica needs a place of its own");
    /* Another prefix, bucket or endpoint is another place. */
    c = parse("dbs:\n"
              "  - path: /data/a.db\n"
              "    replicas:\n"
              "      - url: s3://bk/p/q\n"
              "      - {name: b, url: s3://bk/p}\n"
              "      - {name: c, url: s3://bk2/p/q}\n"
              "      - {name: d, url: \"s3://bk/p/q?endpoint=http://m:1\"}\n"
              "      - {name: e, path: /b/a}\n"
              "  - path: /data/b.db\n"
              "    replicas: [{path: /b/a/b}]\n");
    ASSERT_EQ(c->dbs[0].nreplicas, 5);
    ws_config_free(c);
}

TEST(s3_keys_on_a_file_replica)
{
    struct ws_config *c;

    /* Without type: s3 this replica would be a local directory "app". */
    fails_with("dbs:\n"
               "  - path: /db\n"
               "    replicas:\n"
               "      - path: app\n"
               "        bucket: my-bucket\n",
               "walship.yml:4: \"bucket\" (line 5) applies to s3 replicas "
               "only, and this is a file replica (type: s3 is missing?)");
    fails_with(ONE_DB "        skip-verify: true\n",
               "walship.yml:4: \"skip-verify\" (line 5) applies to s3 "
               "replicas only, and this is a file replica (type: s3 is "
               "missing?)");
    fails_with(ONE_DB "        region: eu-west-1\n"
                      "        endpoint: http://m:1\n",
               "walship.yml:4: \"region\" (line 5) applies to s3 replicas "
               "only, and this is a file replica (type: s3 is missing?)");
    /* Empty values, and the top-level keys every replica inherits. */
    c = parse("access-key-id: a\nsecret-access-key: " SECRET "\n" ONE_DB
              "        bucket:\n"
              "        region: \"\"\n");
    ASSERT_STR_EQ(c->dbs[0].replicas[0].type, "file");
    ws_config_free(c);
}

TEST(is_url)
{
    static const char *const yes[] = {"file:///a", "s3://b/p", "S3://b",
                                      "x_1://", "9://a"};
    static const char *const no[] = {"/a/b", "a/b://c", "s3+x://b",
                                     "://a", "file:/a", "s3:/b", ""};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (!ws_is_url(yes[i]))
            CHECK_FAIL("\"%s\" is a URL", yes[i]);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (ws_is_url(no[i]))
            CHECK_FAIL("\"%s\" is not a URL", no[i]);
    ASSERT(!ws_is_url(NULL));
    /* Not \w+, but meant as one: a replica url, not a directory. */
    url_fails("s3+x://b/p", "unsupported replica url scheme: \"s3+x\"");
}

/* ---- loading ---- */

TEST(load_missing_file)
{
    struct ws_config *c = NULL;
    struct ws_err err = {0};

    ASSERT_EQ(ws_config_load("/nonexistent/walship.yml", 1, &c, &err),
              WS_ENOTFOUND);
    ASSERT_EQ(err.code, WS_ENOTFOUND);
    ASSERT_STR_EQ(err.msg, "config file not found: /nonexistent/walship.yml");
    ASSERT(c == NULL);
}

TEST(load_file_and_env)
{
    char *cwd = enter_tmpdir(), *path = join(cwd, "w.yml");
    struct ws_config *c = NULL;
    struct ws_err err = {0};

    write_file(path, "dbs:\n  - path: /data/env.db\n    replicas: "
                     "[{path: /b}]\n");
    ASSERT_EQ(ws_config_load(path, 1, &c, &err), WS_OK);
    ASSERT_STR_EQ(c->source, path);
    ASSERT_STR_EQ(c->dbs[0].path, "/data/env.db");
    ws_config_free(c);

    /* path NULL: $WALSHIP_CONFIG. */
    c = NULL;
    ASSERT_EQ(setenv(WS_CONFIG_ENV, path, 1), 0);
    ASSERT_EQ(ws_config_load(NULL, 1, &c, &err), WS_OK);
    ASSERT_STR_EQ(c->source, path);
    ASSERT_EQ(c->ndbs, 1);
    ws_config_free(c);

    c = NULL;
    ASSERT_EQ(setenv(WS_CONFIG_ENV, "/nonexistent/env.yml", 1), 0);
    ASSERT_EQ(ws_config_load(NULL, 1, &c, &err), WS_ENOTFOUND);
    ASSERT_STR_EQ(err.msg, "config file not found: /nonexistent/env.yml");

    /* Empty: the default path. */
    ASSERT_EQ(setenv(WS_CONFIG_ENV, "", 1), 0);
    if (access(WS_CONFIG_DEFAULT_PATH, F_OK) != 0) {
        ASSERT_EQ(ws_config_load(NULL, 1, &c, &err), WS_ENOTFOUND);
        ASSERT_STR_EQ(err.msg, "config file not found: /etc/walship.yml");
    }

    /* Errors in a file carry its name. */
    write_file(path, "dbs:\n  - path: /db\n    bogus: 1\n");
    ASSERT_EQ(ws_config_load(path, 1, &c, &err), WS_ECONFIG);
    ASSERT_STR_CONTAINS(err.msg, ":3: unknown key \"bogus\" in database");
    ASSERT_EQ(strncmp(err.msg, path, strlen(path)), 0);
    ASSERT(c == NULL);

    /* "~/" is expanded. */
    ASSERT_EQ(setenv("HOME", cwd, 1), 0);
    write_file(path, "access-key-id: ok\n" ONE_DB);
    ASSERT_EQ(ws_config_load("~/w.yml", 0, &c, &err), WS_OK);
    ASSERT_STR_EQ(c->access_key_id, "ok");
    ASSERT_STR_EQ(c->source, path);
    ws_config_free(c);

    ASSERT_EQ(unlink(path), 0);
    free(path);
    leave_tmpdir(cwd);
}

TEST(load_unreadable)
{
    char *cwd = enter_tmpdir();
    struct ws_config *c = NULL;
    struct ws_err err = {0};

    /* A directory is refused by its kind, before any read. */
    ASSERT_EQ(mkdir("d.yml", 0700), 0);
    ASSERT_EQ(ws_config_load("d.yml", 1, &c, &err), WS_ECONFIG);
    ASSERT_STR_CONTAINS(err.msg, "config file d.yml: a directory");
    ASSERT(c == NULL);
    ASSERT_EQ(rmdir("d.yml"), 0);
    leave_tmpdir(cwd);
}

/* ---- URL mode ---- */

TEST(from_urls)
{
    char *urls[] = {"file:///backup//a/", "s3://bucket/prefix"};
    char *cwd = enter_tmpdir(), *db = join(cwd, "rel.db");
    char *meta = join(cwd, ".rel.db-walship");
    struct ws_config *c = NULL;
    struct ws_err err = {0};
    const struct ws_replica_config *r;

    ASSERT_EQ(ws_config_from_urls("./rel.db", urls, 2, &c, &err), WS_OK);
    ASSERT_STR_EQ(c->source, "(url)");
    ASSERT_STR_EQ(c->log_level, "info");
    ASSERT_EQ(c->shutdown_sync_timeout_ms, 30000);
    ASSERT(c->exec == NULL);
    ASSERT_EQ(c->ndbs, 1);
    ASSERT_STR_EQ(c->dbs[0].path, db);
    ASSERT_STR_EQ(c->dbs[0].meta_path, meta);
    ASSERT_EQ(c->dbs[0].line, 0);
    ASSERT_EQ(c->dbs[0].monitor_interval_ms, 1000);
    ASSERT_EQ(c->dbs[0].min_checkpoint_page_count, 1000);
    ASSERT_EQ(c->dbs[0].nreplicas, 2);
    r = c->dbs[0].replicas;
    ASSERT_STR_EQ(r[0].name, "file");
    ASSERT_STR_EQ(r[0].url, "file:///backup//a/");
    ASSERT_STR_EQ(r[0].path, "/backup/a");
    ASSERT_EQ(r[0].line, 0);
    ASSERT_EQ(r[0].sync_interval_ms, 1000);
    ASSERT_EQ(r[0].retention_ms, 24 * 3600 * 1000);
    ASSERT_STR_EQ(r[1].name, "s3");
    ASSERT_STR_EQ(r[1].bucket, "bucket");
    ASSERT_STR_EQ(r[1].path, "prefix");
    ASSERT(ws_config_find_db(c, "rel.db") == &c->dbs[0]);
    ws_config_free(c);
    free(db);
    free(meta);
    leave_tmpdir(cwd);
}

TEST(from_urls_without_db)
{
    char *urls[] = {"s3://b.localhost:9000/p"};
    struct ws_config *c = NULL;
    struct ws_err err = {0};

    ASSERT_EQ(ws_config_from_urls(NULL, urls, 1, &c, &err), WS_OK);
    ASSERT_EQ(c->ndbs, 1);
    ASSERT(c->dbs[0].path == NULL && c->dbs[0].meta_path == NULL);
    ASSERT_STR_EQ(c->dbs[0].replicas[0].endpoint, "http://localhost:9000");
    ws_config_free(c);
}

TEST(from_urls_errors)
{
    char *dup[] = {"file:///a", "/b"};
    char *bad[] = {"s3://b/p", "gcs://b/p"};
    struct ws_config *sentinel = (struct ws_config *)&sentinel, *c = sentinel;
    struct ws_err err = {0};

    ASSERT_EQ(ws_config_from_urls("/db", dup, 2, &c, &err), WS_ECONFIG);
    ASSERT_STR_EQ(err.msg, "duplicate replica name: \"file\"");
    ASSERT(c == sentinel);
    ASSERT_EQ(ws_config_from_urls("/db", bad, 2, &c, &err), WS_ECONFIG);
    ASSERT_STR_EQ(err.msg, "unsupported replica url scheme: \"gcs\"");
    ASSERT(c == sentinel);
}

TEST(free_null)
{
    ws_config_free(NULL);
}

TEST(sizes_and_spool_limit)
{
    static const struct {
        const char *s;
        int64_t v;
    } ok[] = {{"0", 0},           {"300", 300},         {"300B", 300},
              {"300KB", 300000},  {"2MB", 2000000},     {"1GB", 1000000000},
              {"64KiB", 65536},   {"1MiB", 1 << 20},    {"2GiB", 1LL << 31}};
    static const char *const bad[] = {"", "-1", "1 MB", "1mb", "1TB", "MB",
                                      "1.5GB", "99999999999999999999",
                                      "9999999999GiB"};
    struct ws_config *c;
    struct ws_err err;
    int64_t v;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ASSERT_EQ(ws_size_parse(ok[i].s, &v), WS_OK);
        ASSERT_EQ(v, ok[i].v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (ws_size_parse(bad[i], &v) != WS_ECONFIG)
            CHECK_FAIL("accepted size \"%s\"", bad[i]);
    c = parse("dbs:\n  - path: /a.db\n    replicas: [{path: /b}]\n");
    ASSERT_EQ(c->dbs[0].max_spool_bytes, 1LL << 30);
    ws_config_free(c);
    c = parse("dbs:\n  - path: /a.db\n    max-spool-size: 300KB\n"
              "    replicas: [{path: /b}]\n");
    ASSERT_EQ(c->dbs[0].max_spool_bytes, 300000);
    ws_config_free(c);
    parse_err("dbs:\n  - path: /a.db\n    max-spool-size: lots\n",
              WS_ECONFIG, &err);
    ASSERT_STR_CONTAINS(err.msg, "walship.yml:3");
    ASSERT_STR_CONTAINS(err.msg, "max-spool-size");
    /* The error lists the forms that work. */
    fails_with("dbs:\n  - path: /a.db\n    max-spool-size: 10 MB\n",
               "walship.yml:3: invalid size for \"max-spool-size\": \"10 MB\": "
               "write a whole number of bytes, with no space before an "
               "optional unit B, KB, MB, GB, KiB, MiB or GiB (e.g. 512MiB)");
}

/* restore-if-db-not-exists: top level and per database, the database's
 * own setting winning; the flag turns it on for every database. */
TEST(restore_on_boot_key)
{
    struct ws_config *c = parse("restore-if-db-not-exists: true\n"
                                "dbs:\n"
                                "  - path: /data/a.db\n"
                                "    replicas: [{path: /backup/a}]\n"
                                "  - path: /data/b.db\n"
                                "    restore-if-db-not-exists: false\n"
                                "    replicas: [{path: /backup/b}]\n");

    ASSERT_EQ(c->restore_if_missing, 1);
    ASSERT_EQ(c->dbs[0].restore_if_missing, -1);
    ASSERT_EQ(c->dbs[1].restore_if_missing, 0);
    ASSERT_EQ(ws_boot_wanted(c, &c->dbs[0], 0), 1);
    ASSERT_EQ(ws_boot_wanted(c, &c->dbs[1], 0), 0);
    ASSERT_EQ(ws_boot_wanted(c, &c->dbs[1], 1), 1);
    ws_config_free(c);
    c = parse("dbs:\n"
              "  - path: /data/a.db\n"
              "    replicas: [{path: /backup/a}]\n"
              "  - path: /data/b.db\n"
              "    restore-if-db-not-exists: true\n"
              "    replicas: [{path: /backup/b}]\n");
    ASSERT_EQ(c->restore_if_missing, 0);
    ASSERT_EQ(ws_boot_wanted(c, &c->dbs[0], 0), 0);
    ASSERT_EQ(ws_boot_wanted(c, &c->dbs[1], 0), 1);
    ws_config_free(c);
}

/* Directory entries (config_dir.c): the databases found under dir, each
 * its own entry with its replicas at the item's path plus its relative
 * path; what is not a database, a link, a dot-directory or a name the
 * pattern does not match is left out; the keys' errors. */
static void write_db(const char *path)
{
    write_file(path, "SQLite format 3");  /* fopen "w": 15 bytes */
    FILE *f = fopen(path, "a");
    ASSERT(f != NULL);
    ASSERT_EQ(fputc(0, f), 0);
    ASSERT_EQ(fclose(f), 0);
}

TEST(dir_entries)
{
    char *cwd = enter_tmpdir(), yaml[1024];
    const struct ws_db_config *d = NULL;
    struct ws_err err = {0};
    struct ws_config *c;

    ASSERT_EQ(mkdir("t", 0755), 0);
    ASSERT_EQ(mkdir("t/eu", 0755), 0);
    ASSERT_EQ(mkdir("t/.meta", 0755), 0);
    write_db("t/b.db");
    write_db("t/a.db");
    write_db("t/eu/c.db");
    write_db("t/.meta/h.db");
    write_db("t/x.sqlite");
    write_file("t/junk.db", "not a database at all");
    write_file("t/empty.db", "");
    ASSERT_EQ(symlink("a.db", "t/link.db"), 0);
    snprintf(yaml, sizeof(yaml),
             "dbs:\n"
             "  - dir: %s/t\n"
             "    monitor-interval: 2s\n"
             "    replicas:\n"
             "      - path: /r\n"
             "      - url: s3://bkt/pre/?endpoint=http://127.0.0.1:9\n"
             "        access-key-id: K\n"
             "        secret-access-key: " SECRET "\n",
             cwd);
    c = parse(yaml);
    ASSERT_EQ(c->ndirs, 1);
    ASSERT_EQ(c->dirs[0].found, 3);
    ASSERT_STR_EQ(c->dirs[0].pattern, "*.db");
    ASSERT_EQ(c->ndbs, 3);
    ASSERT_STR_CONTAINS(c->dbs[0].path, "/t/a.db");
    ASSERT_STR_CONTAINS(c->dbs[1].path, "/t/b.db");
    ASSERT_STR_CONTAINS(c->dbs[2].path, "/t/empty.db");
    ASSERT_EQ(c->dbs[0].monitor_interval_ms, 2000);
    ASSERT_STR_EQ(c->dbs[0].replicas[0].path, "/r/a.db");
    ASSERT_STR_EQ(c->dbs[0].replicas[1].path, "pre/a.db");
    ASSERT_STR_EQ(c->dbs[0].replicas[1].bucket, "bkt");
    ASSERT_STR_EQ(c->dbs[0].replicas[1].secret_access_key, SECRET);
    ASSERT_STR_CONTAINS(c->dbs[0].meta_path, "/t/.a.db-walship");
    /* Not there: made from the item when a command names it. */
    ASSERT(ws_config_find_db(c, "t/new.db") == NULL);
    ASSERT_EQ(ws_config_dir_db(c, "t/new.db", &d, &err), WS_OK);
    ASSERT_STR_EQ(d->replicas[0].path, "/r/new.db");
    ASSERT_EQ(ws_config_dir_db(c, "t/eu/c.db", &d, &err), WS_ENOTFOUND);
    ASSERT_EQ(ws_config_dir_db(c, "t/new.txt", &d, &err), WS_ENOTFOUND);
    ASSERT_EQ(ws_config_dir_db(c, "t2/new.db", &d, &err), WS_ENOTFOUND);
    ASSERT_EQ(ws_config_dirs_check(c, &err), WS_OK);
    ws_config_free(c);

    /* recursive, a pattern, and a meta-path as a base. */
    snprintf(yaml, sizeof(yaml),
             "dbs:\n"
             "  - dir: %s/t\n"
             "    pattern: \"[a-c].db\"\n"
             "    recursive: true\n"
             "    meta-path: /m\n"
             "    replicas: [{path: /r}]\n",
             cwd);
    c = parse(yaml);
    ASSERT_EQ(c->ndbs, 3);
    ASSERT_STR_CONTAINS(c->dbs[2].path, "/t/eu/c.db");
    ASSERT_STR_EQ(c->dbs[2].replicas[0].path, "/r/eu/c.db");
    ASSERT_STR_EQ(c->dbs[2].meta_path, "/m/eu/c.db");
    ASSERT_EQ(ws_config_dir_db(c, "t/eu/d.db", &d, &err), WS_ENOTFOUND);
    ASSERT_EQ(ws_config_dir_db(c, "t/eu/b.db", &d, &err), WS_OK);
    ws_config_free(c);

    /* SQLite's own files are never databases, whatever the pattern. */
    write_file("t/a.db-wal", "");
    write_file("t/a.db-shm", "");
    write_file("t/b.db-journal", "");
    snprintf(yaml, sizeof(yaml),
             "dbs:\n"
             "  - dir: %s/t\n"
             "    pattern: \"*\"\n"
             "    replicas: [{path: /r}]\n",
             cwd);
    c = parse(yaml);
    ASSERT_EQ(c->ndbs, 4); /* a.db, b.db, empty.db, x.sqlite */
    ws_config_free(c);
    ASSERT_EQ(unlink("t/a.db-wal"), 0);
    ASSERT_EQ(unlink("t/a.db-shm"), 0);
    ASSERT_EQ(unlink("t/b.db-journal"), 0);

    /* A directory that is not there: no error until replicate asks. */
    c = parse("dbs:\n"
              "  - dir: /nonexistent-ws-dir\n"
              "    replicas: [{path: /r}]\n");
    ASSERT_EQ(c->ndbs, 0);
    ASSERT_EQ(ws_config_dirs_check(c, &err), WS_ECONFIG);
    ASSERT_STR_CONTAINS(err.msg, "cannot look for databases in "
                                 "/nonexistent-ws-dir: No such file");
    ws_config_free(c);

    fails_with("dbs:\n"
               "  - dir: /t\n"
               "    path: /t/a.db\n"
               "    replicas: [{path: /r}]\n",
               "walship.yml:2: \"path\" and \"dir\" cannot both be set: an "
               "entry is one database (path) or a directory of them (dir)");
    c = parse("dbs:\n"
              "  - dir: /t\n"
              "    watch: true\n"
              "    replicas: [{path: /r}]\n");
    ASSERT_EQ(c->dirs[0].watch, 1);
    ws_config_free(c);
    fails_with("dbs:\n"
               "  - path: /t/a.db\n"
               "    recursive: false\n"
               "    replicas: [{path: /r}]\n",
               "walship.yml:2: \"recursive\" applies to a directory entry "
               "(dir) only");
    fails_with("dbs:\n"
               "  - dir: /t\n"
               "    pattern: eu/*.db\n"
               "    replicas: [{path: /r}]\n",
               "walship.yml:2: pattern \"eu/*.db\" has a '/': it matches "
               "file names (set recursive: true for subdirectories)");
    fails_with("dbs:\n"
               "  - dir: /t\n",
               "walship.yml:2: directory /t has no replicas: add a "
               "\"replicas\" list");

    ASSERT_EQ(unlink("t/link.db"), 0);
    const char *files[] = {"t/a.db", "t/b.db", "t/eu/c.db", "t/.meta/h.db",
                           "t/x.sqlite", "t/junk.db", "t/empty.db"};
    for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++)
        ASSERT_EQ(unlink(files[i]), 0);
    ASSERT_EQ(rmdir("t/eu"), 0);
    ASSERT_EQ(rmdir("t/.meta"), 0);
    ASSERT_EQ(rmdir("t"), 0);
    leave_tmpdir(cwd);
}

#define LIST(X)                                                                \
    X(sizes_and_spool_limit)                                                   \
    X(url_file_mistakes)                                                       \
    X(path_from_an_empty_variable)                                             \
    X(defaults)                                                                \
    X(every_key)                                                               \
    X(no_databases)                                                            \
    X(database_without_replicas)                                               \
    X(production_keys)                                                        \
    X(expand_env_unset_is_an_error)                                            \
    X(expand_env_defaults_and_comments)                                        \
    X(durations_need_units)                                                    \
    X(shared_places)                                                           \
    X(is_url)                                                                  \
    X(s3_keys_on_a_file_replica)                                               \
    X(null_keeps_defaults)                                                     \
    X(litestream_global_settings_reach_replicas)                               \
    X(litestream_expand_env)                                                   \
    X(litestream_no_expand_env)                                                \
    X(expand_env_edge_cases)                                                   \
    X(litestream_file_replica_path)                                            \
    X(litestream_s3_urls)                                                      \
    X(litestream_gcs_url_rejected)                                             \
    X(url_file)                                                                \
    X(url_s3_hosts)                                                            \
    X(url_s3_errors)                                                           \
    X(config_url_priority)                                                     \
    X(config_s3_fields)                                                        \
    X(unknown_key_top_level)                                                   \
    X(unknown_key_db)                                                          \
    X(unknown_key_replica)                                                     \
    X(other_backend_keys_rejected)                                             \
    X(duplicate_keys)                                                          \
    X(duplicate_replica_name)                                                  \
    X(duplicate_db_path)                                                       \
    X(url_and_path)                                                            \
    X(path_is_url)                                                             \
    X(replica_types)                                                           \
    X(wrong_types)                                                             \
    X(bad_values)                                                              \
    X(bools)                                                                   \
    X(checkpoint_page_counts)                                                  \
    X(db_path_required)                                                        \
    X(age_rejected)                                                            \
    X(yaml_syntax_errors)                                                      \
    X(secrets_never_in_messages)                                               \
    X(path_abs_clean)                                                          \
    X(relative_paths_made_absolute)                                            \
    X(home_paths)                                                              \
    X(durations)                                                               \
    X(load_missing_file)                                                       \
    X(load_file_and_env)                                                       \
    X(load_unreadable)                                                         \
    X(from_urls)                                                               \
    X(from_urls_without_db)                                                    \
    X(from_urls_errors)                                                        \
    X(free_null)                                                               \
    X(restore_on_boot_key)                                                     \
    X(exec_and_shutdown_timeout)                                               \
    X(dir_entries)

TEST_MAIN("config", LIST)
