/*
 * cmd_int.h: walship's command line, shared by the modules that
 * implement its commands (cmd_*.c) and main.c, which dispatches them.
 *
 * Commands and flags follow Litestream v0.3: Go flag syntax (-f v, -f=v,
 * --f; a boolean takes Go's strconv.ParseBool values only), flags before
 * positional arguments, one table of commands.  A flag a command accepts
 * works, or is refused (flags that -list would ignore).  Every failure
 * ends in one line on stderr, "walship: <what went wrong>", printed by
 * main() and nowhere else, and an exit status that says what kind of
 * failure it was (err.h: 2 usage, 3 configuration, 4 database, 5
 * replica unreachable or refusing, 6 verification failed, 1 anything
 * else); -h prints the command's usage on stdout and exits 0.
 * `replicate -exec` that shut down cleanly exits with the application's
 * status instead.
 *
 * A command is a function of its own argc and argv (argv[0] is the
 * command's name), returning WS_OK or an error filled into err, which
 * main() prints; it prints its usage for -h itself and returns WS_OK.
 */
#ifndef WS_CMD_INT_H
#define WS_CMD_INT_H

#include "ws/err.h"

/* The flags every config-reading command shares. */
#define CONFIG_FLAGS                                                        \
    "\t-config PATH\n"                                                      \
    "\t    Specifies the configuration file.\n"                             \
    "\t    Defaults to $WALSHIP_CONFIG, else /etc/walship.yml\n"            \
    "\n"                                                                    \
    "\t-no-expand-env\n"                                                    \
    "\t    Disables environment variable expansion in configuration file.\n" \
    "\n"

/* One flag a command accepts (a table ends with a NULL name). */
struct ws_cmd_flag {
    const char *name;
    const char **str; /* string flag, or NULL */
    int *boolean;     /* boolean flag, or NULL */
};

/* Parse leading flags; returns the index of the first positional
 * argument, -1 after printing usage for -h, or -2 on error. */
int ws_cmd_parse_flags(int argc, char **argv, const struct ws_cmd_flag *flags,
                       const char *usage, struct ws_err *err);

/* 1 when s is a generation name: 16 lowercase hexadecimal digits. */
int ws_cmd_is_generation(const char *s);

/* The exit status for a command's result (err.h). */
int ws_cmd_exit_status(int rc, const struct ws_err *err);

/* A failed command's one line on stderr. */
void ws_cmd_print_failure(int rc, const struct ws_err *err);

/* The commands: replicate (cmd_replicate.c), restore (cmd_restore.c),
 * and databases, generations, snapshots and wal (cmd_inspect.c), which
 * tells them apart by argv[0]. */
int ws_cmd_replicate(int argc, char **argv, struct ws_err *err);
int ws_cmd_restore(int argc, char **argv, struct ws_err *err);
int ws_cmd_inspect(int argc, char **argv, struct ws_err *err);

#endif
