/*
 * boot.h: restore on boot, before `walship replicate` starts.
 *
 * A fresh machine (an empty volume, a new container) has the replicas
 * but not the database.  With restore on boot (`replicate
 * -restore-if-db-not-exists`, or the `restore-if-db-not-exists` key at
 * the top level or on a database, the database's own setting winning),
 * every configured database that does not exist is restored first, one
 * after the other, by the restore command's own code (restore.h): the
 * newest generation across the database's replicas, every object
 * verified, the file synced and renamed into place, its directory
 * synced, and the restored position kept in the meta directory so that
 * replication continues the same generation (meta.h).  Only then does
 * replication start, on a database that is durable on disk.
 *
 * What counts as "does not exist": nothing at the path (lstat says
 * ENOENT).  A regular file at the path (a database, an empty file the
 * application created) is left alone and never overwritten: replication
 * then starts on it, or fails on it, as it would without the flag.
 * Anything else there (a symbolic link, dangling or not, a FIFO, a
 * directory: db.h says why none is replicated) is refused at once,
 * naming what it is, with nothing written: restoring through a link
 * would write where it points, and waiting for it, as replication alone
 * does, would hide from a fresh machine's start that it has no data.
 *
 * The outcomes, per database:
 *   - restored: said with the path, and replication starts on it;
 *   - no replica holds any generation of it (a first deployment):
 *     replication starts with no database, which is then waited for
 *     as always (daemon.h), and this is said at WARN naming every
 *     replica looked at, since it is also what a wrong replica path
 *     looks like.  This is Litestream's `restore -if-replica-exists`
 *     ("no matching backups found" is not an error); a replicate that
 *     restores always behaves so, since refusing to start would keep
 *     a first deployment from ever starting;
 *   - any other failure (a replica that cannot be read, a corrupt
 *     object, a full disk): replicate stops before replicating
 *     anything, with the restore's error and code.  Starting empty
 *     instead would begin a new history next to the one in the
 *     replicas and hide that the data was not there.  A failed
 *     restore leaves nothing at the path (restore.h), so a retry of
 *     the same command restores again.
 */
#ifndef WS_BOOT_H
#define WS_BOOT_H

#include "ws/config.h"
#include "ws/err.h"

/* 1 when database db of cfg is to be restored on boot: force (the
 * command line's flag), else db's own key, else the top level's. */
int ws_boot_wanted(const struct ws_config *cfg,
                   const struct ws_db_config *db, int force);

/* Restore every database of cfg that is to be restored on boot and does
 * not exist.  WS_OK when each one was restored or has nothing to restore
 * from; otherwise the first failure, with err naming the database, and
 * nothing was written at its path. */
int ws_boot_restore(const struct ws_config *cfg, int force,
                    struct ws_err *err);

#endif
