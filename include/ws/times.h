/*
 * times.h: commit-time records, walship's own extra objects, which
 * Litestream v0.3 restores around without reading (it lists only
 * snapshots/ and wal/ under a generation).
 *
 * Litestream v0.3 knows an object's time only from its listing (upload
 * time, one-second resolution on S3).  walship also records, for every
 * transaction, when it observed the commit, in microseconds since the
 * epoch: when it saw SQLite publish it in the wal-index, or when it
 * copied its frames into the shadow WAL, whichever came first; never
 * before the commit (db.h).
 * Records are batched into objects stored beside the data:
 *
 *     generations/<gen>/walship/times/<I>_<O>_<T>-<J>_<N>.times.lz4
 *     generations/<gen>/walship/snapshots/<I>_<O>_<T>.image.lz4
 *     generations/<gen>/walship/snapshots/<I>_<O>_<T>.times.lz4
 *
 * where (I, O) is the position of the first record, T its time (16 hex
 * digits), J the index of the last record and N the number of records;
 * a snapshot's record (below) travels alone, under snapshots/, so that a
 * listing alone tells which snapshot serves which moment.  The names
 * carry what planning needs; a point-in-time restore downloads one
 * commit-time object per generation.  Litestream's listings look only
 * under snapshots/ and wal/, so it never sees them, and its generation
 * deletes remove them with the rest of the generation.
 *
 * An object is one LZ4 frame (lz4f.h) holding the magic "WSTIMES1"
 * followed by 24-byte big-endian records:
 *     u32 index, u32 kind, u64 offset, i64 time_us
 * kind COMMIT: the transaction whose commit frame ends at byte `offset`
 *     of WAL index `index` was observed at time_us.
 * kind IMAGE (the `.image.lz4` name): the snapshot of index `index`
 *     about to be written is a consistent database on its own, exactly
 *     the state after the last commit ending at or before `offset` of
 *     that index (every commit up to there was observed by time_us).  It
 *     needs no WAL: replaying any prefix [0, Y) of its index's WAL with
 *     Y >= offset over it gives the state at Y, and one with Y < offset
 *     is never a state of the database (the writer never lets a snapshot
 *     appear beside such a prefix; see ship.c).
 * kind SNAPSHOT (the `.times.lz4` name, written by earlier walships and
 *     still read): the snapshot of index `index` about to be written is
 *     the raw database file, holding no change past `offset` of that
 *     index; it is consistent only with the WAL of its index from
 *     offset 0 replayed up to `offset` or further.
 * A snapshot's record is written before the snapshot itself, so a
 * snapshot never lacks its record.  A snapshot object of one index may
 * have several records (a record whose snapshot upload was killed, then
 * a later snapshot of the same index; or an earlier walship, which
 * replaced the object of an index at each snapshot): then nothing tells
 * which record is the object's, and the object is only known to hold
 * nothing past the highest recorded offset.  An older walship sees an
 * image record as an unknown name: it treats that snapshot as one
 * without a record, by object time, which is safe.
 * Records within an object are in observation order; positions never go
 * backwards.  A record whose position is not in the replica's WAL
 * segments is never written (commit records are flushed only once the
 * segment holding them has been shipped).
 */
#ifndef WS_TIMES_H
#define WS_TIMES_H

#include <stddef.h>
#include <stdint.h>

#include "ws/err.h"
#include "ws/layout.h"
#include "ws/lz4f.h"

enum ws_tkind { WS_T_COMMIT = 1, WS_T_SNAPSHOT = 2, WS_T_IMAGE = 3 };

struct ws_tpoint {
    uint32_t index;
    uint32_t kind;     /* enum ws_tkind */
    uint64_t offset;
    int64_t time_us;
};

/* A growable array of records. */
struct ws_tlist {
    struct ws_tpoint *v;
    size_t n, cap;
};

int ws_tlist_add(struct ws_tlist *l, const struct ws_tpoint *p);
void ws_tlist_free(struct ws_tlist *l);

/* The key for an object holding v[0..n) (n >= 1) of generation gen: a
 * snapshot record (SNAPSHOT or IMAGE) alone (n == 1), or commit
 * records. */
int ws_key_times(char *buf, size_t n, const char *gen,
                 const struct ws_tpoint *v, size_t nv);

/* Write v[0..n) as one times object (an LZ4 frame) into sink. */
int ws_times_encode(const struct ws_tpoint *v, size_t n, ws_sink_fn sink,
                    void *ctx, struct ws_err *err);

/* Parse the decompressed content of a times object, appending its
 * records to out.  Anything malformed is WS_ECORRUPT. */
int ws_times_decode(const uint8_t *buf, size_t len, struct ws_tlist *out,
                    struct ws_err *err);

/* Sort by (index, offset, kind, time) and drop exact duplicates. */
void ws_tlist_sort(struct ws_tlist *l);

/* Wall-clock microseconds since the epoch. */
int64_t ws_wall_us(void);

#endif
