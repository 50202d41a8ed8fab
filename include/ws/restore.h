/*
 * restore.h: rebuild a database from a replica, exactly or not at all.
 *
 * The newest generation (by its newest object) of the given replicas is
 * chosen, then its latest snapshot and every WAL segment after it.  Each
 * object is checked as it streams in: the LZ4 frame and its content
 * checksum, the WAL header, the salts of every frame and the cumulative
 * checksum chain across all segments of an index, segment offsets that
 * meet exactly, and each index ending on a commit frame.  Pages are
 * written straight into a temporary file next to the target (no replay
 * through SQLite), then PRAGMA integrity_check must say "ok" before the
 * file is renamed into place; the rename never replaces an existing
 * file.  Any failure names the object at fault and leaves nothing at the
 * target.
 */
#ifndef WS_RESTORE_H
#define WS_RESTORE_H

#include "ws/replica.h"

struct ws_restore_opts {
    const char *output;      /* target path; must not exist */
    const char *generation;  /* restore this generation, or NULL */
};

/* Restore from the first usable of reps[0..n).  WS_ENOTFOUND means
 * "no matching backups found" (nothing to restore). */
int ws_restore(struct ws_replica *const *reps, size_t n,
               const struct ws_restore_opts *o, struct ws_err *err);

#endif
