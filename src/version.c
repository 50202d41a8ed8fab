/*
 * version.c: the SQLite version gate.  SQLite 3.7.0 to 3.51.2 have the
 * WAL-reset bug: a checkpoint that races a writer's WAL restart can store
 * a wrong wal-index header, and a later checkpoint then skips part of a
 * transaction (a corrupt database or lost commits).  A replicator that
 * checkpoints from its own process beside the application is exactly its
 * trigger, so walship refuses a SQLite without the fix (3.51.3, with the
 * backports 3.44.6 and 3.50.7).
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
