/*
 * resume.h: a restored database carries its replication position over.
 *
 * A restore of the newest state of the newest generation leaves, in the
 * meta dir of the output (`.<db>-walship`, db.h), what `replicate` needs
 * to continue that generation instead of starting a new one with a full
 * snapshot (Litestream #393):
 *
 *     generation                          the restored generation
 *     generations/<gen>/wal/<index>.wal   the last WAL index, as a shadow
 *     restored                            the marker below
 *
 * The marker pins the shadow (generation, index, committed size) and the
 * database file as the restore left it (size and SHA-256).  `replicate`
 * continues the generation only when all of it still holds.  Then the
 * file is byte for byte the replica's state at the end of that index, and
 * whatever the application has written since is in the -wal under a new
 * header, which becomes the next index.  (A checkpoint running while the
 * file is hashed only writes pages that are also in the -wal, which
 * walship's read lock keeps: those pages are shipped anyway.)  The daemon
 * then makes its usual start-up check that each replica ends where the
 * shadow ends.  Anything else -- a changed file, a replica that moved on
 * -- starts a new generation, as without the marker.
 *
 * Marker line: "walship-restored 1 <gen> <index hex8> <wal size>
 * <db size> <sha256 hex>\n".
 */
#ifndef WS_RESUME_H
#define WS_RESUME_H

#include <stdint.h>

#include "ws/err.h"
#include "ws/layout.h"
#include "ws/digest.h"
#include "ws/fs.h"

struct ws_resume {
    char gen[WS_GEN_LEN + 1];
    uint32_t index;
    uint64_t wal_size;             /* committed bytes of the shadow */
    uint64_t db_size;
    char sha256[WS_SHA256_HEX];    /* of the database file */
};

/* The default meta dir of a database: "<dir>/.<base>-walship"
 * (malloc'd; NULL on ENOMEM). */
char *ws_meta_path(const char *db_path);

/* SHA-256 (hex) and size of the file open as fd, read with pread. */
int ws_resume_hash(int fd, uint64_t *size, char out[WS_SHA256_HEX],
                   struct ws_err *err);

/* Read the marker in meta.  WS_ENOTFOUND when there is none, WS_ECORRUPT
 * when it does not parse. */
int ws_resume_read(const struct ws_fs_dir *meta, struct ws_resume *r,
                   struct ws_err *err);

/* Remove meta's marker (durably); a missing marker is not an error. */
int ws_resume_remove(const struct ws_fs_dir *meta, struct ws_err *err);

/* Install r in meta (a directory opened by fs.h's rule): take meta's
 * lock (WS_EBUSY when a walship holds it), replace generations/ with r's
 * generation holding the first r->wal_size bytes of shadow_fd (copied
 * into a new file), then write the marker and the generation file, all
 * durably and by fs.h's safe creation. */
int ws_resume_write(const struct ws_fs_dir *meta, const struct ws_resume *r,
                    int shadow_fd, struct ws_err *err);

#endif
