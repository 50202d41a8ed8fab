/*
 * rlock.h: a local advisory lock per replica, so that retention never
 * deletes objects that a restore running on the same machine is reading.
 *
 * A restore holds the replica's lock SHARED for its whole run; a
 * retention check takes it EXCLUSIVE without waiting and, when it cannot,
 * skips its deletes until the next check.  Several restores may run at
 * once.  The lock is flock(2) on a file that is never removed (removing
 * a lock file lets two holders each lock a different inode):
 *
 *     $XDG_RUNTIME_DIR/walship/<hex sha256 of identity>.lock
 *         when XDG_RUNTIME_DIR is set, absolute and writable, else
 *     /tmp/walship-<uid>/<hex sha256 of identity>.lock
 *
 * The directory is created with mode 0700 and must pass fs.h's rule for
 * a directory walship writes in (ours or root's, not group- or
 * other-writable, not a symbolic link); the lock file must be a regular
 * file of ours with one link (ws_fs_lock_open).  The identity names
 * the replica, not the config that points at it: for type file the
 * absolute replica path, for s3 "s3:" + endpoint + "/" + bucket + "/" +
 * path (empty strings for unset fields).  Only processes of the same user with the same choice of
 * directory see each other's locks; nothing is shared across machines.
 */
#ifndef WS_RLOCK_H
#define WS_RLOCK_H

#include <stddef.h>

#include "ws/config.h"
#include "ws/err.h"

/* The lock file's path for cfg into buf (n bytes), without touching the
 * filesystem.  WS_ECONFIG for an unknown type, WS_EUSAGE if buf is too
 * small. */
int ws_rlock_path(const struct ws_replica_config *cfg, char *buf, size_t n,
                  struct ws_err *err);

/* Lock cfg's replica: shared (exclusive 0) or exclusive (1).  wait 1
 * blocks until the lock is granted; wait 0 returns WS_EBUSY at once when
 * a conflicting lock is held (by another process, or through another
 * descriptor of this one).  On success *fd_out is the descriptor holding
 * the lock (close-on-exec); on failure it is untouched.  A refused
 * directory or lock file is WS_ECONFIG with its path and the reason. */
int ws_rlock_acquire(const struct ws_replica_config *cfg, int exclusive,
                     int wait, int *fd_out, struct ws_err *err);

/* Unlock and close fd; a negative fd is ignored. */
void ws_rlock_release(int fd);

#endif
