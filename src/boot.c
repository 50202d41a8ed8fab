/*
 * boot.c: restore on boot (see boot.h).
 */
#include "ws/boot.h"

#include "ws/cli.h"
#include "ws/db.h"
#include "ws/log.h"
#include "ws/restore.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

int ws_boot_wanted(const struct ws_config *cfg,
                   const struct ws_db_config *db, int force)
{
    if (force)
        return 1;
    if (db->restore_if_missing >= 0)
        return db->restore_if_missing;
    return cfg->restore_if_missing > 0;
}

/* Restore db from its replicas, unless something is at its path. */
static int boot_one(const struct ws_db_config *db, struct ws_err *err)
{
    struct ws_restore_opts o = {0};
    struct ws_cli_replicas reps;
    struct stat sb;
    int rc;

    if (lstat(db->path, &sb) == 0) {
        if (ws_db_not_file(sb.st_mode) != NULL) {
            /* Neither restored over nor through, nor waited for: nothing
             * can replicate it, and a restart would not change that. */
            ws_err_set(err, WS_EEXIST, "restore on boot of %s refused, not "
                       "replicating (nothing was written at that path): it "
                       "is %s", db->path, ws_db_not_file(sb.st_mode));
            return ws_err_at(err, WS_AT_DB);
        }
        if (sb.st_size == 0)
            /* As Litestream: anything at the path is the application's.
             * An empty file is often what a start that went wrong left,
             * so say what leaving it costs. */
            ws_warn("restore on boot: database exists but is empty, "
                    "leaving it alone db=%s: the application starts on an "
                    "empty database and its next generation becomes the "
                    "newest; remove the file to restore instead",
                    db->path);
        else
            ws_info("restore on boot: database exists, leaving it alone "
                    "db=%s", db->path);
        return WS_OK;
    }
    if (errno != ENOENT) {
        ws_warn("restore on boot: cannot tell whether the database exists, "
                "not restoring it db=%s error=\"%s\"", db->path,
                strerror(errno));
        return WS_OK;
    }
    ws_info("restore on boot: database does not exist, restoring it from "
            "its replicas db=%s", db->path);
    o.output = db->path;
    o.db = db->path;
    o.meta = db->meta_path;
    o.parallelism = 8;
    o.late_signal_to_caller = 1; /* replicate's loop takes it */
    rc = ws_cli_replicas_open(&reps, db, NULL, err);
    if (rc == WS_OK)
        rc = ws_restore(reps.v, reps.n, &o, err);
    ws_cli_replicas_close(&reps);
    if (rc == WS_ENOTFOUND) {
        ws_warn("restore on boot: starting without the database db=%s: "
                "%s (a first deployment; check the replica settings if "
                "the database should have been there)",
                db->path, err->msg);
        ws_err_clear(err);
        return WS_OK;
    }
    if (rc != WS_OK)
        return ws_err_wrap(err, "restore on boot of %s failed, not "
                           "replicating (nothing was written at that path)",
                           db->path);
    ws_info("restore on boot: restored db=%s", db->path);
    return WS_OK;
}

int ws_boot_restore(const struct ws_config *cfg, int force,
                    struct ws_err *err)
{
    int rc = WS_OK;

    for (size_t i = 0; rc == WS_OK && i < cfg->ndbs; i++)
        if (ws_boot_wanted(cfg, &cfg->dbs[i], force))
            rc = boot_one(&cfg->dbs[i], err);
    return rc;
}
