/*
 * version.c: the SQLite version gate (FORMAT.md 14e, RELIABILITY.md 4).
 */
#include "ws/version.h"

#include <sqlite3.h>

int ws_sqlite_fixed(int v)
{
    if (v >= 3051003)
        return 1;
    if (v >= 3050007 && v < 3051000)
        return 1;
    return v >= 3044006 && v < 3045000;
}

int ws_sqlite_check(struct ws_err *err)
{
    if (ws_sqlite_fixed(sqlite3_libversion_number()))
        return WS_OK;
    return ws_err_set(err, WS_ECONFIG,
                      "SQLite %s has the WAL-reset corruption bug; walship "
                      "needs 3.51.3 or later (or 3.44.6, 3.50.7)",
                      sqlite3_libversion());
}
