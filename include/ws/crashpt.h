/*
 * crashpt.h: deterministic crash points, compiled into test builds only.
 *
 * A crash point is a named place in the code where a crash is the
 * interesting case: between a write and its fsync, between a PUT and the
 * position that records it, between a download and the rename that
 * publishes a restore.  A test crashes walship there, on purpose and
 * exactly, restarts it, and checks that nothing committed is lost.
 *
 *     WS_CRASHPOINT("shadow-before-fsync");
 *
 * In a normal build the macro is nothing at all: no call, no string, no
 * environment lookup.  In a test build (compiled with -DWS_CRASHPOINTS,
 * `make crash`: build-crash/walship) it counts the crossings of the
 * point named by the environment variable
 *
 *     WALSHIP_CRASHPOINT=<name>:<n>
 *
 * read once, by ws_crashpt_arm() at the start of main, before any other
 * thread exists, and ends the process at the n-th crossing (n >= 1) with
 * one line on stderr ("crash point <name> reached (crossing <n>)") and
 * _exit(WS_CRASHPT_STATUS): no atexit handler, no buffered output, no
 * unlock, as after a kill -9 (the kernel drops POSIX and flock locks).
 * A malformed setting or a name that is no crash point is refused at the
 * start, naming it (exit status 2), so a typo never runs a test that
 * crashes nowhere.  Without the variable the test build runs like the
 * normal one.
 *
 * The crossing counter is the one mutable global of walship outside the
 * log: a point sits in the loop thread and in pool threads alike, deep in
 * modules that get no context for it, so it cannot live in a context
 * struct; it is an atomic, and exists only in the test build.
 *
 * Every point is on a line of its own (it moves with the code around it)
 * and is listed in ws_crashpt_names(), which README.md repeats; the
 * end-to-end tests 24 to 26 cross each one.
 */
#ifndef WS_CRASHPT_H
#define WS_CRASHPT_H

#include <stddef.h>

#include "ws/err.h"

/* The exit status of a process that reached its crash point (what a
 * shell reports for a kill -9). */
#define WS_CRASHPT_STATUS 137

/* The crash point names, NULL-terminated, in the README's order. */
const char *const *ws_crashpt_names(void);

/* Parse "<name>:<n>": name a crash point of ws_crashpt_names(), n a
 * decimal number from 1 to 1000000000.  Fills name (size nname) and *n;
 * WS_EUSAGE naming spec and the fault otherwise. */
int ws_crashpt_parse(const char *spec, char *name, size_t nname, long *n,
                     struct ws_err *err);

#ifdef WS_CRASHPOINTS
/* Read WALSHIP_CRASHPOINT once (above); WS_EUSAGE when it is malformed. */
int ws_crashpt_arm(struct ws_err *err);

/* A crossing of point name: the end of the process at the armed one. */
void ws_crashpt_cross(const char *name);

#define WS_CRASHPOINT(name) ws_crashpt_cross(name)
#else
static inline int ws_crashpt_arm(struct ws_err *err)
{
    (void)err;
    return WS_OK;
}
#define WS_CRASHPOINT(name) ((void)0)
#endif

#endif
