/*
 * main.c: walship's entry point: the table of commands, and the small
 * ones (sync, verify, version); cmd_int.h has the rules of the command
 * line.
 */
#include "ws/cmd_int.h"
#include "ws/control.h"
#include "ws/crashpt.h"
#include "ws/db.h"
#include "ws/plan.h"
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

/* ---- sync --------------------------------------------------------------- */

static int cmd_sync(int argc, char **argv, struct ws_err *err)
{
    const char *config = NULL, *timeout = NULL;
    int no_expand = 0, i;
    int64_t ms = 60000;
    struct ws_cmd_flag flags[] = {{"config", &config, NULL},
                           {"no-expand-env", NULL, &no_expand},
                           {"timeout", &timeout, NULL},
                           {NULL, NULL, NULL}};

    i = ws_cmd_parse_flags(argc, argv, flags, usage_sync, err);
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
    struct ws_cmd_flag flags[] = {{"config", &config, NULL},
                           {"no-expand-env", NULL, &no_expand},
                           {"replica", &replica, NULL},
                           {"timestamp", &timestamp, NULL},
                           {"v", NULL, &verbose},
                           {NULL, NULL, NULL}};

    memset(&o, 0, sizeof(o));
    i = ws_cmd_parse_flags(argc, argv, flags, usage_verify, err);
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
    struct ws_cmd_flag flags[] = {{NULL, NULL, NULL}};
    int i = ws_cmd_parse_flags(argc, argv, flags, usage_version, err);

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

static const struct command {
    const char *name;
    int (*fn)(int argc, char **argv, struct ws_err *err);
} commands[] = {
    {"databases", ws_cmd_inspect},
    {"generations", ws_cmd_inspect},
    {"replicate", ws_cmd_replicate},
    {"restore", ws_cmd_restore},
    {"snapshots", ws_cmd_inspect},
    {"sync", cmd_sync},

    {"verify", cmd_verify},
    {"version", cmd_version},
    {"wal", ws_cmd_inspect},
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
        ws_cmd_print_failure(rc, &err);
        return ws_cmd_exit_status(rc, &err);
    }
    /* Before any command starts a thread that may open a database. */
    ws_db_configure();
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        rc = commands[i].fn(argc - 1, argv + 1, &err);
        if (rc != WS_OK)
            ws_cmd_print_failure(rc, &err);
        return ws_cmd_exit_status(rc, &err);
    }
    ws_strip_controls(argv[1], strlen(argv[1]));
    fprintf(stderr,
            "walship: unknown command \"%s\" (walship help lists the "
            "commands)\n",
            argv[1]);
    return 2;
}
