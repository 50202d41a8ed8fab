/*
 * cmd_restore.c: the restore command: its flags, checked against each
 * other, then ws_restore (restore.h) on the replicas cli.h opens.
 */
#include "ws/cli.h"
#include "ws/cmd_int.h"
#include "ws/config.h"
#include "ws/log.h"
#include "ws/plan.h"
#include "ws/restore.h"
#include "ws/str.h"
#include "ws/units.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    struct ws_strv made = {0};
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
    /* A database of a directory entry, on a new machine: its directory
     * below the entry's dir is made (and unmade if the restore fails). */
    if (rc == WS_OK && !a->list)
        rc = ws_config_dir_parents(cfg, o.output, &made, err);
    if (rc == WS_OK)
        rc = ws_restore(reps.v, reps.n, &o, err);
    for (size_t i = made.n; rc != WS_OK && i > 0; i--)
        (void)rmdir(made.v[i - 1]);
    ws_strv_free(&made);
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
    if (a->generation && !ws_cmd_is_generation(a->generation))
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

int ws_cmd_restore(int argc, char **argv, struct ws_err *err)
{
    struct restore_args a;
    struct ws_cmd_flag flags[] = {{"config", &a.config, NULL},
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
    i = ws_cmd_parse_flags(argc, argv, flags, usage_restore, err);
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
