/*
 * cmd_inspect.c: the inspection commands (databases, generations,
 * snapshots, wal): their flags, then ws_inspect_run (inspect.h).
 */
#include "ws/cmd_int.h"
#include "ws/inspect.h"

#include <stdio.h>
#include <string.h>

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

int ws_cmd_inspect(int argc, char **argv, struct ws_err *err)
{
    const struct inspect_cmd *c = inspect_cmds;
    struct ws_inspect_opts o = {0};
    int no_expand = 0, i;
    struct ws_cmd_flag flags[] = {{"config", &o.config, NULL},
                           {"no-expand-env", NULL, &no_expand},
                           {"json", NULL, &o.json},
                           {"replica", &o.replica, NULL},
                           {"generation", &o.generation, NULL},
                           {NULL, NULL, NULL}};

    while (strcmp(c->name, argv[0]) != 0) /* main() matched one */
        c++;
    flags[c->nflags] = (struct ws_cmd_flag){NULL, NULL, NULL};
    i = ws_cmd_parse_flags(argc, argv, flags, c->usage, err);
    if (i < 0)
        return i == -1 ? WS_OK : WS_EUSAGE;
    o.cmd = c->cmd;
    o.expand_env = !no_expand;
    if (o.generation && !ws_cmd_is_generation(o.generation))
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
