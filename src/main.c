/*
 * main.c: the walship command line.
 *
 * Commands and flags follow Litestream v0.3: Go flag syntax (-f v, -f=v,
 * --f; a boolean takes Go's strconv.ParseBool values only), flags before
 * positional arguments, one table of commands.  A flag a command accepts
 * works, or is refused (flags that -list would ignore).  Every
 * failure ends in one line on stderr, "walship: <what went wrong>",
 * printed here and nowhere else, and an exit status that says what kind
 * of failure it was (err.h: 2 usage, 3 configuration, 4 database, 5
 * replica unreachable or refusing, 6 verification failed, 1 anything
 * else); -h prints the command's usage on stdout and exits 0.
 * `replicate -exec` that shut down cleanly exits with the application's
 * status instead.
 */
#include "ws/boot.h"
#include "ws/child.h"
#include "ws/cli.h"
#include "ws/config.h"
#include "ws/control.h"
#include "ws/crashpt.h"
#include "ws/daemon.h"
#include "ws/db.h"
#include "ws/httpd.h"
#include "ws/inspect.h"
#include "ws/log.h"
#include "ws/plan.h"
#include "ws/replica.h"
#include "ws/restore.h"
#include "ws/secret.h"
#include "ws/str.h"
#include "ws/units.h"
#include "ws/url.h"
#include "ws/validate.h"
#include "ws/version.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_main[] =
    "walship replicates SQLite databases continuously.\n"
    "\n"
    "Usage:\n"
    "\n"
    "\twalship <command> [arguments]\n"
    "\n"
    "The commands are:\n"
    "\n"
    "\tdatabases    list databases specified in config file\n"
    "\tgenerations  list available generations for a database\n"
    "\treplicate    runs a server to replicate databases\n"
    "\trestore      recovers a database from a replica\n"
    "\tsnapshots    list available snapshots for a database\n"
    "\tsync         waits until every replica holds what was committed\n"
    "\tverify       restores replicas into a temporary directory and checks them\n"
    "\tversion      prints the walship and SQLite versions\n"
    "\twal          list available WAL files for a database\n";

/* The flags every config-reading command shares. */
#define CONFIG_FLAGS                                                        \
    "\t-config PATH\n"                                                      \
    "\t    Specifies the configuration file.\n"                             \
    "\t    Defaults to $WALSHIP_CONFIG, else /etc/walship.yml\n"            \
    "\n"                                                                    \
    "\t-no-expand-env\n"                                                    \
    "\t    Disables environment variable expansion in configuration file.\n" \
    "\n"

static const char usage_replicate[] =
    "The replicate command starts a server to monitor & replicate\n"
    "databases. You can specify your database & replicas in a\n"
    "configuration file or you can replicate a single database file\n"
    "by specifying its path and its replicas in the command line\n"
    "arguments.\n"
    "\n"
    "Usage:\n"
    "\n"
    "\twalship replicate [arguments]\n"
    "\n"
    "\twalship replicate [arguments] DB_PATH REPLICA_URL [REPLICA_URL...]\n"
    "\n"
    "Arguments:\n"
    "\n"
    CONFIG_FLAGS
    "\t-addr BIND_ADDR\n"
    "\t    Serve /metrics (Prometheus) and /healthz over HTTP on this\n"
    "\t    address: :9090 (every interface), 127.0.0.1:9090 or\n"
    "\t    [::1]:9090.  Overrides the config's addr.\n"
    "\n"
    "\t-restore-if-db-not-exists\n"
    "\t    Before replicating, restore every database that does not\n"
    "\t    exist from the newest generation of its replicas; a database\n"
    "\t    that exists is never touched.  With no backup in any replica\n"
    "\t    the database is awaited as usual (said in the log).  A restore\n"
    "\t    that fails stops walship before it replicates anything.  Also\n"
    "\t    the restore-if-db-not-exists key (top level or per database).\n"
    "\n"
    "\t-restore-if-replica-exists\n"
    "\t    Litestream's restore -if-replica-exists: no backup found is\n"
    "\t    not an error.  The restore on boot never fails for that, so\n"
    "\t    this flag only turns it on, like -restore-if-db-not-exists.\n"
    "\n"
    "\t-once\n"
    "\t    Sync every database once, ship it to every replica (with a\n"
    "\t    snapshot when the generation needs one), then exit: 0 only\n"
    "\t    when everything committed before the start is in every\n"
    "\t    replica.  A missing database is an error.  Ignores\n"
    "\t    snapshot-interval and retention unless asked below.\n"
    "\n"
    "\t-force-snapshot\n"
    "\t    With -once: take a snapshot in every replica (unless its\n"
    "\t    newest snapshot is of exactly the current state).\n"
    "\n"
    "\t-enforce-retention\n"
    "\t    With -once: apply each replica's retention before exiting.\n"
    "\n"
    "\t-exec CMD\n"
    "\t    Runs CMD (the application) once replication is ready, forwards\n"
    "\t    SIGINT, SIGTERM and SIGHUP to it, and stops when it exits:\n"
    "\t    after a final sync, walship exits with its status (128+N for\n"
    "\t    signal N), or non-zero if the final sync failed. CMD is split\n"
    "\t    into words like a shell would for quotes ('' \"\") and\n"
    "\t    backslashes, but no shell runs it: no $VARS, globs, pipes or\n"
    "\t    redirections (an unquoted | & ; < > ( ) or ` is an error; use\n"
    "\t    sh -c '...'). Overrides the config's exec key.\n"
    "\n"
    "\t-shutdown-sync-timeout DURATION\n"
    "\t    Bounds the final sync at shutdown (after a signal, or when the\n"
    "\t    -exec application exits); past it, walship exits non-zero,\n"
    "\t    naming what was not shipped. 0: no bound, and a failed upload\n"
    "\t    is not retried. Defaults to 30s, or the config's\n"
    "\t    shutdown-sync-timeout key.\n"
    "\n"
    "\t-v\n"
    "\t    Verbose (debug) logging.\n"
    "\n"
    "A REPLICA_URL is file:///path/to/dir, s3://bucket/path or a plain\n"
    "directory path.\n"
    "\n"
    "While it replicates a database, it serves walship sync on the\n"
    "control socket in that database's meta directory.\n";

static const char usage_restore[] =
    "The restore command recovers a database from a previous snapshot\n"
    "and WAL, verifying every object on the way.\n"
    "\n"
    "Usage:\n"
    "\n"
    "\twalship restore [arguments] DB_PATH\n"
    "\n"
    "\twalship restore [arguments] REPLICA_URL\n"
    "\n"
    "\twalship restore [arguments] REPLICA_DIR\n"
    "\n"
    "Arguments:\n"
    "\n"
    CONFIG_FLAGS
    "\t-replica NAME\n"
    "\t    Restore from a specific replica.\n"
    "\t    Defaults to the replica with the newest data.\n"
    "\n"
    "\t-generation NAME\n"
    "\t    Restore from a specific generation.\n"
    "\t    Defaults to the generation with the newest data.\n"
    "\n"
    "\t-o PATH\n"
    "\t    Output path of the restored database.\n"
    "\t    Defaults to the original DB path. It must not exist.\n"
    "\n"
    "\t-timestamp TIMESTAMP\n"
    "\t    Restore to the last transaction committed at or before this\n"
    "\t    RFC 3339 time (e.g. 2026-11-21T09:15:00.250Z). A time after\n"
    "\t    the newest data restores the newest data.\n"
    "\n"
    "\t-index INDEX\n"
    "\t    Restore up to and including this WAL index: 1 to 8\n"
    "\t    hexadecimal digits, without 0x. An index past the newest\n"
    "\t    restores the newest data. Mutually exclusive with -timestamp.\n"
    "\n"
    "\t-parallelism NUM\n"
    "\t    Number of WAL segments downloaded at once. Defaults to 8.\n"
    "\n"
    "\t-list\n"
    "\t    Print the restorable window of every generation (oldest and\n"
    "\t    newest restorable time, transactions with recorded commit\n"
    "\t    times) instead of restoring. Not with -o, -timestamp,\n"
    "\t    -index, -parallelism or -if-db-not-exists.\n"
    "\n"
    "\t-json\n"
    "\t    With -list: print JSON.\n"
    "\n"
    "\t-if-db-not-exists\n"
    "\t    Returns exit code of 0 if the database already exists.\n"
    "\n"
    "\t-if-replica-exists\n"
    "\t    Returns exit code of 0 if no backups found.\n"
    "\n"
    "\t-v\n"
    "\t    Verbose (debug) logging.\n";

static const char usage_verify[] =
    "The verify command is a restore drill: it restores each replica of\n"
    "a database (or the replica a URL names) into a temporary directory\n"
    "under $TMPDIR, never next to the database, verifying every object,\n"
    "the WAL checksum chain and PRAGMA integrity_check, prints what it\n"
    "verified (generation, position, time, size, pages, SHA-256) and\n"
    "removes the directory. It exits 0 when every replica verified, 6\n"
    "when one is corrupt or restores to a database that is not sound.\n"
    "Given a database that a walship replicate serves (and neither\n"
    "-replica nor -timestamp), it asks that replicate instead for a drill\n"
    "that also compares every page of each replica's restore with the\n"
    "database at the same transaction, and exits 6 when one differs.\n"
    "\n"
    "Usage:\n"
    "\n"
    "\twalship verify [arguments] DB_PATH\n"
    "\n"
    "\twalship verify [arguments] REPLICA_URL\n"
    "\n"
    "\twalship verify [arguments] REPLICA_DIR\n"
    "\n"
    "Arguments:\n"
    "\n"
    CONFIG_FLAGS
    "\t-replica NAME\n"
    "\t    Verify only this replica. Defaults to every replica.\n"
    "\n"
    "\t-timestamp TIMESTAMP\n"
    "\t    Verify the state at this RFC 3339 time, as restore -timestamp.\n"
    "\t    Defaults to the newest data.\n"
    "\n"
    "\t-v\n"
    "\t    Verbose (debug) logging.\n";

static const char usage_version[] =
    "Usage:\n\n\twalship version\n\nPrints the walship version and the "
    "SQLite version it runs with.\n";

static const char usage_sync[] =
    "The sync command returns once everything committed to each database\n"
    "before the call is in every replica of the running walship replicate\n"
    "(it asks that replicate over the control socket in the database's\n"
    "meta directory, which copies and uploads at once).\n"
    "\n"
    "Usage:\n"
    "\n"
    "\twalship sync [arguments] DB_PATH [DB_PATH...]\n"
    "\n"
    "Arguments:\n"
    "\n"
    CONFIG_FLAGS
    "\t-timeout DURATION\n"
    "\t    Gives up (exit 5) when a replica does not hold everything\n"
    "\t    by then, naming it and what it misses; 0 waits without\n"
    "\t    limit. Defaults to 1m.\n";

/* ---- flags -------------------------------------------------------------- */

struct flag {
    const char *name;
    const char **str; /* string flag, or NULL */
    int *boolean;     /* boolean flag, or NULL */
};

/* Go's strconv.ParseBool, which its flag package uses. */
static int parse_bool(const char *s, int *v)
{
    static const char *const t[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const f[] = {"0", "f", "F", "false", "FALSE", "False"};

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (strcmp(s, t[i]) == 0 || strcmp(s, f[i]) == 0) {
            *v = strcmp(s, t[i]) == 0;
            return WS_OK;
        }
    }
    return WS_EUSAGE;
}

/* Parse leading flags; returns the index of the first positional
 * argument, -1 after printing usage for -h, or -2 on error. */
static int parse_flags(int argc, char **argv, const struct flag *flags,
                       const char *usage, struct ws_err *err)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *eq;
        const struct flag *f = NULL;
        size_t n;

        if (a[0] != '-' || a[1] == '\0')
            break;
        if (strcmp(a, "--") == 0)
            return i + 1;
        a += a[1] == '-' ? 2 : 1;
        if (strcmp(a, "h") == 0 || strcmp(a, "help") == 0) {
            fputs(usage, stdout);
            return -1;
        }
        eq = strchr(a, '=');
        n = eq ? (size_t)(eq - a) : strlen(a);
        for (const struct flag *g = flags; g->name; g++)
            if (strlen(g->name) == n && strncmp(g->name, a, n) == 0)
                f = g;
        if (f == NULL) {
            ws_err_set(err, WS_EUSAGE, "flag provided but not defined: -%.*s",
                       (int)n, a);
            return -2;
        }
        if (f->boolean) {
            if (parse_bool(eq ? eq + 1 : "true", f->boolean) != WS_OK) {
                ws_err_set(err, WS_EUSAGE, "invalid boolean value \"%s\" "
                           "for -%s: want true or false", eq + 1, f->name);
                return -2;
            }
        } else if (eq) {
            *f->str = eq + 1;
        } else if (i + 1 < argc) {
            *f->str = argv[++i];
        } else {
            ws_err_set(err, WS_EUSAGE, "flag needs an argument: -%s",
                       f->name);
            return -2;
        }
    }
    return i;
}

/* ---- replicate ---------------------------------------------------------- */

/* -addr overrides the config's addr: (httpd.h). */
static int replicate_addr(struct ws_config *cfg, const char *addr,
                          struct ws_err *err)
{
    struct ws_err e = {0};
    char host[256], *copy;
    int port;

    if (addr[0] != '\0' &&
        ws_httpd_addr_parse(addr, host, sizeof(host), &port, &e) != WS_OK)
        return ws_err_set(err, WS_EUSAGE, "-addr: %s", e.msg);
    copy = strdup(addr);
    if (copy == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    free(cfg->addr);
    cfg->addr = copy;
    return WS_OK;
}

/* The exit status for a command's result (err.h). */
static int exit_status(int rc, const struct ws_err *err)
{
    return rc == WS_OK ? 0 : ws_exit_status(rc, err);
}

/* A failed command's one line on stderr. */
static void print_failure(int rc, const struct ws_err *err)
{
    fprintf(stderr, "walship: %s\n", err->msg[0] ? err->msg : ws_strerror(rc));
}

/* -exec and -shutdown-sync-timeout override the file's keys.  -once
 * never runs the application, so the file's exec key is refused with it,
 * as the -exec flag is (a key that is accepted works). */
static int replicate_flags(struct ws_config *cfg, int once,
                           const char *exec_cmd, const char *timeout,
                           struct ws_err *err)
{
    char **words = NULL;

    if (once && cfg->exec != NULL)
        return ws_err_set(err, WS_ECONFIG, "cannot specify -once flag with "
                          "the exec key (%s): -once does not run the "
                          "application; use a config without exec",
                          cfg->source);

    if (timeout && ws_duration_parse(timeout, &cfg->shutdown_sync_timeout_ms)
                       != WS_OK)
        return ws_err_set(err, WS_EUSAGE, "invalid value \"%s\" for flag "
                          "-shutdown-sync-timeout: want a duration such as "
                          "30s or 1m", timeout);
    if (exec_cmd == NULL)
        return WS_OK;
    if (ws_child_split(exec_cmd, &words, err) != WS_OK)
        return ws_err_wrap(err, "invalid value for flag -exec");
    ws_child_argv_free(words);
    free(cfg->exec);
    cfg->exec = strdup(exec_cmd);
    if (cfg->exec == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    return WS_OK;
}

static int cmd_replicate(int argc, char **argv, struct ws_err *err)
{
    const char *config = NULL, *exec_cmd = NULL, *addr = NULL;
    const char *timeout = NULL;
    int no_expand = 0, verbose = 0, if_db = 0, if_replica = 0, i, rc;
    struct ws_daemon_opts o = {0};
    struct ws_daemon_end end = {-1, 0};
    struct flag flags[] = {{"config", &config, NULL},
                           {"addr", &addr, NULL},
                           {"no-expand-env", NULL, &no_expand},
                           {"exec", &exec_cmd, NULL},
                           {"restore-if-db-not-exists", NULL, &if_db},
                           {"restore-if-replica-exists", NULL, &if_replica},
                           {"once", NULL, &o.once},
                           {"force-snapshot", NULL, &o.force_snapshot},
                           {"enforce-retention", NULL, &o.enforce_retention},
                           {"shutdown-sync-timeout", &timeout, NULL},
                           {"v", NULL, &verbose},
                           {NULL, NULL, NULL}};
    struct ws_config *cfg = NULL;

    ws_daemon_hold_signals();
    i = parse_flags(argc, argv, flags, usage_replicate, err);
    if (i < 0)
        return i == -1 ? WS_OK : WS_EUSAGE;
    /* As Litestream v0.5. */
    if (o.force_snapshot && !o.once)
        return ws_err_set(err, WS_EUSAGE, "cannot specify -force-snapshot "
                          "flag without -once");
    if (o.enforce_retention && !o.once)
        return ws_err_set(err, WS_EUSAGE, "cannot specify "
                          "-enforce-retention flag without -once");
    if (o.once && exec_cmd)
        return ws_err_set(err, WS_EUSAGE, "cannot specify -once flag with "
                          "-exec");
    if (i < argc) {
        if (config)
            return ws_err_set(err, WS_EUSAGE, "cannot specify a replica URL "
                              "and the -config flag");
        if (no_expand)
            return ws_err_set(err, WS_EUSAGE, "-no-expand-env applies to a "
                              "config file, and DB_PATH REPLICA_URL reads "
                              "none");
        if (ws_str_blank(argv[i]))
            return ws_err_set(err, WS_EUSAGE, "the database path \"%s\" "
                              "is blank", argv[i]);
        if (argc - i < 2)
            return ws_err_set(err, WS_EUSAGE, "must specify at least one "
                              "replica URL for %s", argv[i]);
        if (ws_is_url(argv[i]))
            return ws_err_set(err, WS_EUSAGE, "the database path comes "
                              "first, then its replicas: %s is a URL",
                              argv[i]);
        rc = ws_config_from_urls(argv[i], argv + i + 1, (size_t)(argc - i - 1),
                                 &cfg, err);
    } else {
        rc = ws_config_load(config, !no_expand, &cfg, err);
    }
    if (rc == WS_OK && addr != NULL)
        rc = replicate_addr(cfg, addr, err);
    if (rc == WS_OK)
        rc = replicate_flags(cfg, o.once, exec_cmd, timeout, err);
    if (rc != WS_OK) {
        ws_config_free(cfg);
        return rc;
    }
    ws_cli_log_init(cfg, verbose, 1);
    rc = ws_sqlite_check(err);
    if (rc == WS_OK) {
        ws_info("walship version=%s sqlite=%s", WS_VERSION,
                sqlite3_libversion());
        rc = ws_boot_restore(cfg, if_db || if_replica, err);
    }
    if (rc == WS_OK)
        rc = ws_daemon_run(cfg, &o, &end, err);
    if (end.abandoned) {
        /* Jobs may still run on the thread pool, using cfg: leave now,
         * freeing nothing (daemon.h). */
        print_failure(rc, err);
        fflush(NULL);
        _exit(exit_status(rc, err));
    }
    ws_config_free(cfg);
    /* Under -exec, a clean shutdown exits with the application's status
     * (a failed final sync is an error above instead). */
    if (rc == WS_OK && end.app_status > 0)
        exit(end.app_status);
    return rc;
}

/* ---- restore ------------------------------------------------------------ */

struct restore_args {
    const char *config, *out, *replica, *generation, *timestamp, *index;
    const char *parallelism;
    int no_expand, if_db, if_replica, verbose, list, json;
    struct ws_restore_opts o;
};

static int do_restore(const struct restore_args *a, const char *arg,
                      struct ws_err *err)
{
    struct ws_config *cfg = NULL;
    const struct ws_db_config *db = NULL;
    struct ws_cli_replicas reps;
    struct ws_restore_opts o = a->o;
    int rc;

    rc = ws_cli_find_db(arg, a->config, !a->no_expand, &cfg, &db, err);
    if (rc != WS_OK)
        return rc;
    if (db->path == NULL && a->out == NULL && !a->list) {
        ws_config_free(cfg);
        return ws_err_set(err, WS_EUSAGE, "output path required: restoring "
                          "from a replica, give -o PATH");
    }
    ws_cli_log_init(cfg, a->verbose, !a->list);
    if (o.output == NULL)
        o.output = db->path;
    if (db->path != NULL && strcmp(o.output, db->path) == 0)
        o.meta = db->meta_path;
    /* The log's db=: the config's database, else the output, else (a
     * -list of a replica URL) the URL. */
    o.db = db->path != NULL ? db->path : o.output != NULL ? o.output : arg;
    if (a->if_db && !a->list && access(o.output, F_OK) == 0) {
        ws_info("database already exists, skipping db=%s path=%s", o.db,
                o.output);
        ws_config_free(cfg);
        return WS_OK;
    }
    /* Before any thread starts: the restore takes them (restore.h). */
    if (!a->list)
        ws_restore_hold_signals();
    rc = ws_cli_replicas_open(&reps, db, a->replica, err);
    if (rc == WS_OK)
        rc = ws_restore(reps.v, reps.n, &o, err);
    if (rc == WS_ENOTFOUND && a->if_replica) {
        ws_info("no matching backups found db=%s", o.db);
        rc = WS_OK;
    } else if (rc == WS_OK && !a->list) {
        ws_info("restored database db=%s path=%s", o.db, o.output);
    }
    ws_cli_replicas_close(&reps);
    ws_config_free(cfg);
    return rc;
}

/* -index: 1 to 8 hexadecimal digits, the way Litestream names an index
 * (no 0x, no sign, no spaces), at most WS_MAX_INDEX. */
static int parse_index(const char *s, uint32_t *v)
{
    size_t n = strspn(s, "0123456789abcdefABCDEF");
    unsigned long x;

    if (n == 0 || n > 8 || s[n] != '\0')
        return WS_EUSAGE;
    x = strtoul(s, NULL, 16);
    if (x > WS_MAX_INDEX)
        return WS_EUSAGE;
    *v = (uint32_t)x;
    return WS_OK;
}

/* 1 when s is a generation name: 16 lowercase hexadecimal digits. */
static int is_generation(const char *s)
{
    return strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16;
}

/* Check restore's flags against each other and fill a->o. */
static int restore_opts(struct restore_args *a, struct ws_err *err)
{
    const char *with_list[] = {a->out ? "-o" : NULL,
                               a->timestamp ? "-timestamp" : NULL,
                               a->index ? "-index" : NULL,
                               a->parallelism ? "-parallelism" : NULL,
                               a->if_db ? "-if-db-not-exists" : NULL};

    if (a->out != NULL && a->out[0] == '\0')
        return ws_err_set(err, WS_EUSAGE, "flag -o: the output path is "
                          "empty");
    if (a->out != NULL && ws_str_blank(a->out))
        return ws_err_set(err, WS_EUSAGE, "flag -o: the output path \"%s\" "
                          "is blank", a->out);
    a->o.output = a->out;
    a->o.generation = a->generation;
    a->o.list = a->list;
    a->o.json = a->json;
    a->o.parallelism = 8;
    for (size_t k = 0; a->list && k < sizeof(with_list) / sizeof(*with_list);
         k++)
        if (with_list[k])
            return ws_err_set(err, WS_EUSAGE, "-list cannot be combined with "
                              "%s: it lists every restorable window",
                              with_list[k]);
    if (a->json && !a->list)
        return ws_err_set(err, WS_EUSAGE, "-json needs -list");
    if (a->index && a->timestamp)
        return ws_err_set(err, WS_EUSAGE, "cannot specify index & timestamp "
                          "to restore");
    if (a->generation && !is_generation(a->generation))
        return ws_err_set(err, WS_EUSAGE, "invalid value \"%s\" for flag "
                          "-generation: a generation is 16 lowercase "
                          "hexadecimal digits", a->generation);
    if (a->timestamp && ws_time_parse(a->timestamp, &a->o.time_us) != WS_OK)
        return ws_err_set(err, WS_EUSAGE, "invalid value \"%s\" for flag "
                          "-timestamp: want an RFC 3339 time, e.g. "
                          "2026-11-21T09:15:00Z or "
                          "2026-11-21T10:15:00.250+01:00", a->timestamp);
    a->o.has_time = a->timestamp != NULL;
    if (a->index && parse_index(a->index, &a->o.index) != WS_OK)
        return ws_err_set(err, WS_EUSAGE, "invalid value \"%s\" for flag "
                          "-index: want 1 to 8 hexadecimal digits without "
                          "0x, at most 7fffffff (e.g. 1f)", a->index);
    a->o.has_index = a->index != NULL;
    if (a->parallelism) {
        char *end;
        long v;
        errno = 0;
        v = strtol(a->parallelism, &end, 10);
        if (a->parallelism[0] == '\0' || *end != '\0' || errno != 0 ||
            v > 64)
            return ws_err_set(err, WS_EUSAGE, "invalid value \"%s\" for "
                              "flag -parallelism: a number from 1 to 64",
                              a->parallelism);
        a->o.parallelism = v < 1 ? 1 : (int)v; /* as Litestream: < 1 is 1 */
    }
    return WS_OK;
}

static int cmd_restore(int argc, char **argv, struct ws_err *err)
{
    struct restore_args a;
    struct flag flags[] = {{"config", &a.config, NULL},
                           {"no-expand-env", NULL, &a.no_expand},
                           {"o", &a.out, NULL},
                           {"replica", &a.replica, NULL},
                           {"generation", &a.generation, NULL},
                           {"index", &a.index, NULL},
                           {"timestamp", &a.timestamp, NULL},
                           {"parallelism", &a.parallelism, NULL},
                           {"if-db-not-exists", NULL, &a.if_db},
                           {"if-replica-exists", NULL, &a.if_replica},
                           {"list", NULL, &a.list},
                           {"json", NULL, &a.json},
                           {"v", NULL, &a.verbose},
                           {NULL, NULL, NULL}};
    char pool[16];
    int i, rc;

    memset(&a, 0, sizeof(a));
    i = parse_flags(argc, argv, flags, usage_restore, err);
    if (i < 0)
        return i == -1 ? WS_OK : WS_EUSAGE;
    rc = restore_opts(&a, err);
    if (rc != WS_OK)
        return rc;
    /* Downloads from a directory and the checks run on libuv's pool. */
    snprintf(pool, sizeof(pool), "%d", a.o.parallelism + 2);
    setenv("UV_THREADPOOL_SIZE", pool, 0);
    if (i >= argc)
        return ws_err_set(err, WS_EUSAGE, "database path or replica URL "
                          "required");
    if (i + 1 < argc)
        return ws_err_set(err, WS_EUSAGE, "too many arguments");
    return do_restore(&a, argv[i], err);
}

/* ---- sync --------------------------------------------------------------- */

static int cmd_sync(int argc, char **argv, struct ws_err *err)
{
    const char *config = NULL, *timeout = NULL;
    int no_expand = 0, i;
    int64_t ms = 60000;
    struct flag flags[] = {{"config", &config, NULL},
                           {"no-expand-env", NULL, &no_expand},
                           {"timeout", &timeout, NULL},
                           {NULL, NULL, NULL}};

    i = parse_flags(argc, argv, flags, usage_sync, err);
    if (i < 0)
        return i == -1 ? WS_OK : WS_EUSAGE;
    if (timeout && (ws_duration_parse(timeout, &ms) != WS_OK || ms < 0))
        return ws_err_set(err, WS_EUSAGE, "invalid value \"%s\" for flag "
                          "-timeout: want a duration such as 30s or 5m, or 0 "
                          "for no limit", timeout);
    if (ms > WS_CTL_SYNC_MAX_MS)
        return ws_err_set(err, WS_EUSAGE, "invalid value \"%s\" for flag "
                          "-timeout: at most %lldms (about 31 years), or 0 "
                          "for no limit", timeout, WS_CTL_SYNC_MAX_MS);
    if (i >= argc)
        return ws_err_set(err, WS_EUSAGE, "database path required");
    for (int k = i; k < argc; k++)
        if (ws_str_blank(argv[k]))
            return ws_err_set(err, WS_EUSAGE, "the database path \"%s\" "
                              "is blank", argv[k]);
    for (int k = i; k < argc; k++)
        if (ws_is_url(argv[k]))
            return ws_err_set(err, WS_EUSAGE, "%s is a URL: sync takes the "
                              "path of a database that walship replicate "
                              "replicates", argv[k]);
    return ws_ctl_sync(config, !no_expand, argv + i, (size_t)(argc - i), ms,
                       stdout, err);
}

/* ---- verify ------------------------------------------------------------- */

static int cmd_verify(int argc, char **argv, struct ws_err *err)
{
    struct ws_verify_opts o;
    const char *config = NULL, *timestamp = NULL, *replica = NULL;
    int no_expand = 0, verbose = 0, i;
    struct flag flags[] = {{"config", &config, NULL},
                           {"no-expand-env", NULL, &no_expand},
                           {"replica", &replica, NULL},
                           {"timestamp", &timestamp, NULL},
                           {"v", NULL, &verbose},
                           {NULL, NULL, NULL}};

    memset(&o, 0, sizeof(o));
    i = parse_flags(argc, argv, flags, usage_verify, err);
    if (i < 0)
        return i == -1 ? WS_OK : WS_EUSAGE;
    if (timestamp && ws_time_parse(timestamp, &o.time_us) != WS_OK)
        return ws_err_set(err, WS_EUSAGE, "invalid value \"%s\" for flag "
                          "-timestamp: want an RFC 3339 time, e.g. "
                          "2026-11-21T09:15:00Z", timestamp);
    if (i >= argc)
        return ws_err_set(err, WS_EUSAGE, "database path or replica URL "
                          "required");
    if (i + 1 < argc)
        return ws_err_set(err, WS_EUSAGE, "too many arguments");
    o.target = argv[i];
    o.config = config;
    o.expand_env = !no_expand;
    o.replica = replica;
    o.has_time = timestamp != NULL;
    o.verbose = verbose;
    return ws_verify_run(&o, stdout, err);
}

/* ---- version ------------------------------------------------------------ */

static int cmd_version(int argc, char **argv, struct ws_err *err)
{
    struct flag flags[] = {{NULL, NULL, NULL}};
    int i = parse_flags(argc, argv, flags, usage_version, err);

    if (i < 0)
        return i == -1 ? WS_OK : WS_EUSAGE;
    if (i < argc)
        return ws_err_set(err, WS_EUSAGE, "too many arguments");
    printf("walship %s (SQLite %s%s)\n", WS_VERSION, sqlite3_libversion(),
           ws_sqlite_fixed(sqlite3_libversion_number())
               ? ""
               : ", WITHOUT the WAL-reset fix");
    return WS_OK;
}

/* ---- databases, generations, snapshots, wal ---------------------------- */

#define JSON_FLAG                                                           \
    "\t-json\n"                                                             \
    "\t    Prints one JSON array of objects instead of a table.\n"

#define INSPECT_FLAGS                                                       \
    CONFIG_FLAGS                                                            \
    "\t-replica NAME\n"                                                     \
    "\t    Optional, filters by replica.\n"                                 \
    "\n"

static const char usage_databases[] =
    "The databases command lists all databases in the configuration file\n"
    "and the names of their replicas.\n"
    "\n"
    "Usage:\n"
    "\n"
    "\twalship databases [arguments]\n"
    "\n"
    "Arguments:\n"
    "\n"
    CONFIG_FLAGS
    JSON_FLAG;

static const char usage_generations[] =
    "The generations command lists all generations for a database or\n"
    "replica, with their lag behind the database and the time range they\n"
    "cover.\n"
    "\n"
    "Usage:\n"
    "\n"
    "\twalship generations [arguments] DB_PATH\n"
    "\n"
    "\twalship generations [arguments] REPLICA_URL\n"
    "\n"
    "\twalship generations [arguments] REPLICA_DIR\n"
    "\n"
    "Arguments:\n"
    "\n"
    INSPECT_FLAGS
    JSON_FLAG;

static const char usage_snapshots[] =
    "The snapshots command lists all snapshots available for a database\n"
    "or replica.\n"
    "\n"
    "Usage:\n"
    "\n"
    "\twalship snapshots [arguments] DB_PATH\n"
    "\n"
    "\twalship snapshots [arguments] REPLICA_URL\n"
    "\n"
    "\twalship snapshots [arguments] REPLICA_DIR\n"
    "\n"
    "Arguments:\n"
    "\n"
    INSPECT_FLAGS
    JSON_FLAG;

static const char usage_wal[] =
    "The wal command lists all WAL segments available for a database or\n"
    "replica.\n"
    "\n"
    "Usage:\n"
    "\n"
    "\twalship wal [arguments] DB_PATH\n"
    "\n"
    "\twalship wal [arguments] REPLICA_URL\n"
    "\n"
    "\twalship wal [arguments] REPLICA_DIR\n"
    "\n"
    "Arguments:\n"
    "\n"
    INSPECT_FLAGS
    "\t-generation NAME\n"
    "\t    Optional, filters by generation.\n"
    "\n"
    JSON_FLAG;

/* The four commands take the same flags, each a prefix of this list. */
static const struct inspect_cmd {
    const char *name;
    enum ws_inspect_cmd cmd;
    const char *usage;
    int nflags;
} inspect_cmds[] = {
    {"databases", WS_INSPECT_DATABASES, usage_databases, 3},
    {"generations", WS_INSPECT_GENERATIONS, usage_generations, 4},
    {"snapshots", WS_INSPECT_SNAPSHOTS, usage_snapshots, 4},
    {"wal", WS_INSPECT_WAL, usage_wal, 5},
};

static int cmd_inspect(int argc, char **argv, struct ws_err *err)
{
    const struct inspect_cmd *c = inspect_cmds;
    struct ws_inspect_opts o = {0};
    int no_expand = 0, i;
    struct flag flags[] = {{"config", &o.config, NULL},
                           {"no-expand-env", NULL, &no_expand},
                           {"json", NULL, &o.json},
                           {"replica", &o.replica, NULL},
                           {"generation", &o.generation, NULL},
                           {NULL, NULL, NULL}};

    while (strcmp(c->name, argv[0]) != 0) /* main() matched one */
        c++;
    flags[c->nflags] = (struct flag){NULL, NULL, NULL};
    i = parse_flags(argc, argv, flags, c->usage, err);
    if (i < 0)
        return i == -1 ? WS_OK : WS_EUSAGE;
    o.cmd = c->cmd;
    o.expand_env = !no_expand;
    if (o.generation && !is_generation(o.generation))
        return ws_err_set(err, WS_EUSAGE, "invalid value \"%s\" for flag "
                          "-generation: a generation is 16 lowercase "
                          "hexadecimal digits", o.generation);
    if (c->cmd != WS_INSPECT_DATABASES) {
        if (i >= argc)
            return ws_err_set(err, WS_EUSAGE, "database path or replica URL "
                              "required");
        o.target = argv[i++];
    }
    if (i < argc)
        return ws_err_set(err, WS_EUSAGE, "too many arguments");
    return ws_inspect_run(&o, stdout, err);
}

static const struct command {
    const char *name;
    int (*fn)(int argc, char **argv, struct ws_err *err);
} commands[] = {
    {"databases", cmd_inspect},
    {"generations", cmd_inspect},
    {"replicate", cmd_replicate},
    {"restore", cmd_restore},
    {"snapshots", cmd_inspect},
    {"sync", cmd_sync},

    {"verify", cmd_verify},
    {"version", cmd_version},
    {"wal", cmd_inspect},
};

int main(int argc, char **argv)
{
    struct ws_err err = {0};
    int rc;

    /* Before anything holds a secret (secret.h): no core file, no
     * /proc/PID/environ or ptrace for other processes of this user. */
    if (ws_secret_hide_process() != 0)
        fprintf(stderr,
                "walship: warning: cannot make the process non-dumpable "
                "(prctl PR_SET_DUMPABLE): %s; a core file of a crash would "
                "hold its credentials\n",
                strerror(errno));
    if (argc < 2 || strcmp(argv[1], "help") == 0 ||
        strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    /* A test build's crash point, armed before any thread starts. */
    rc = ws_crashpt_arm(&err);
    if (rc != WS_OK) {
        print_failure(rc, &err);
        return exit_status(rc, &err);
    }
    /* Before any command starts a thread that may open a database. */
    ws_db_configure();
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        rc = commands[i].fn(argc - 1, argv + 1, &err);
        if (rc != WS_OK)
            print_failure(rc, &err);
        return exit_status(rc, &err);
    }
    ws_strip_controls(argv[1], strlen(argv[1]));
    fprintf(stderr,
            "walship: unknown command \"%s\" (walship help lists the "
            "commands)\n",
            argv[1]);
    return 2;
}
