/*
 * version.h: walship's version and the SQLite it runs with.
 */
#ifndef WS_VERSION_H
#define WS_VERSION_H

#include "ws/err.h"

#define WS_VERSION "v0.1.0"

/* 1 when the linked SQLite has the WAL-reset fix: 3.51.3 or later, or
 * the backports 3.44.6+ (3.44.x) and 3.50.7+ (3.50.x). */
int ws_sqlite_fixed(int version_number);

/* WS_OK, or WS_ECONFIG naming the linked version when it lacks the fix. */
int ws_sqlite_check(struct ws_err *err);

#endif
