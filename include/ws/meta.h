/*
 * meta.h: the meta directory of a database, where walship keeps its
 * local state (db.h lists what is in it: the generation, the shadow
 * files, the lock, the markers), and the markers by which a restored or
 * stopped database carries its replication position over.
 *
 * The meta dir is `.<db>-walship` beside the database unless meta-path
 * says otherwise (ws_meta_path).  replicate opens and checks it once and
 * uses it only through that descriptor (fs.h); it keeps others out with
 * an flock() on `lock`.  The shadow of index <index> of generation <gen>
 * is generations/<gen>/wal/<index hex8>.wal.
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
 * A replicate that stops leaves the same proof, marker `stopped`, when
 * the database file alone is its position: the index is sealed (db.h:
 * every frame of it is in the file, and walship's read lock keeps any
 * later frame out of the file while it hashes), or the generation began
 * on an empty -wal and has no shadow file yet (index 0, size 0).  Without
 * it, a restart could prove nothing when the -wal is empty (walship's own
 * TRUNCATE, the application's last connection closing, a database never
 * written since): the WAL header, which otherwise proves continuity, is
 * gone, and a write made while walship was stopped and then checkpointed
 * away by the application leaves no other trace.  No cheaper fact is
 * exact: SQLite's file change counter moves in WAL mode only when a
 * transaction writes page 1; the -wal's salts are gone with its header;
 * mtime and ctime tick at the kernel's coarse clock (milliseconds), so a
 * write in the same tick as the record leaves them unchanged, and mtime
 * can be set back.  The content hash is exact, and costs one read of the
 * file at the stop and one at the start -- much less than the snapshot it
 * saves, which reads, compresses and uploads it; a size that differs
 * skips the hash.  The start uses the marker only when the -wal cannot
 * prove continuity itself (no header, or not the shadow's): then a file
 * equal to the one hashed is the replica's position, and a -wal header
 * found is the next index, as after a restore.  A file that differs
 * starts a new generation ("database changed while walship was stopped").
 * Either marker is used once: the start removes it, and so does every new
 * generation; a walship that crashes leaves none.
 *
 * Marker line: "walship-restored 1 <gen> <index hex8> <wal size>
 * <db size> <sha256 hex>\n" ("walship-stopped 1 ..." for a stop).
 */
#ifndef WS_META_H
#define WS_META_H

#include <stdint.h>

#include "ws/err.h"
#include "ws/layout.h"
#include "ws/digest.h"
#include "ws/fs.h"

/* Which marker: left by a restore, or by a replicate that stopped. */
enum ws_resume_kind { WS_RESUME_RESTORED, WS_RESUME_STOPPED };

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

/* Read meta's marker of this kind.  WS_ENOTFOUND when there is none,
 * WS_ECORRUPT when it does not parse. */
int ws_resume_read(const struct ws_fs_dir *meta, enum ws_resume_kind kind,
                   struct ws_resume *r, struct ws_err *err);

/* Remove meta's marker of this kind (durably); a missing marker is not an
 * error. */
int ws_resume_remove(const struct ws_fs_dir *meta, enum ws_resume_kind kind,
                     struct ws_err *err);

/* Write r as meta's marker of this kind (durably, fs.h's safe creation);
 * the caller holds meta's lock. */
int ws_resume_mark(const struct ws_fs_dir *meta, enum ws_resume_kind kind,
                   const struct ws_resume *r, struct ws_err *err);

/* Install r in meta (a directory opened by fs.h's rule): take meta's
 * lock (WS_EBUSY when a walship holds it), remove both markers, replace
 * generations/ with r's generation holding the first r->wal_size bytes
 * of shadow_fd (copied into a new file), then write the marker and the
 * generation file, all durably and by fs.h's safe creation. */
int ws_resume_write(const struct ws_fs_dir *meta, const struct ws_resume *r,
                    int shadow_fd, struct ws_err *err);

#endif
