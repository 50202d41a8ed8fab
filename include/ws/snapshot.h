/*
 * snapshot.h: a snapshot that is a consistent database on its own.
 *
 * Litestream v0.3's snapshot object is the raw database file, read while
 * the application keeps committing; it is consistent only once the WAL
 * of its index is replayed over it from offset 0.  A process that dies
 * between the snapshot's upload and that WAL's leaves a replica that
 * Litestream restores corrupt, and an application checkpoint running
 * beside the read can tear a page.  walship's snapshot is instead the
 * database exactly at a position (index, X) of its shadow WAL: the state
 * after the last commit that ends at or before byte X of that index.
 *
 * How it is built: the database file, read page by page, with every page
 * that has a frame in the shadow of index `index` below X replaced by
 * its newest such frame, cut (or extended) to the database size of the
 * last commit frame below X ("database size after commit"); with no
 * frame in the index below X, the file as it is.  The frames' page
 * numbers are gathered once, in one pass over the shadow, into a sorted
 * map; the file is then streamed in large reads with each chunk's pages
 * patched from the map, so each shadow page is read once.
 *
 * Why that is exactly the state at (index, X), while the application
 * writes and checkpoints beside the read.  The caller guarantees that
 * walship's read transaction and shadow do not move during the call
 * (no sync runs), so walship's read mark stays at or below X (db.h):
 *   - Every index before `index` ended with a WAL restart, which SQLite
 *     allows only once every frame of it is in the database file; a
 *     later index rewrites a page only through its own frames.
 *   - In the current index, a checkpoint copies into the file only
 *     frames at or below the smallest read mark, so at or below X: each
 *     page it writes has a frame below X and is replaced from the shadow
 *     whatever the read of the file saw (even half written).  The pages
 *     with no frame below X are written by nobody: no checkpoint can
 *     reach a frame past X, and the lock-byte page is never written.
 *   - A checkpoint that backfills the whole WAL truncates the file to the
 *     size of its last commit, at or below X: the image is cut to the
 *     size of the last commit below X anyway, and a page past the end of
 *     the file reads as zeros (only pages the overlay replaces can lie
 *     there).
 *   - With no frame below X (no shadow header yet, or a header alone)
 *     walship's read holds slot 0 or a mark of 0 frames, which blocks
 *     every backfill: the file does not change during the read.
 * So replaying the index's WAL from offset 0 up to any Y >= X over the
 * image gives the state at Y (every page the replay writes has its
 * newest version at or below Y from the replay, every other page is the
 * image's, unchanged since the index began or since X), and the image
 * alone is the state at X.  Litestream v0.3.13 restores it correctly
 * with or without that WAL.
 */
#ifndef WS_SNAPSHOT_H
#define WS_SNAPSHOT_H

#include <stdint.h>

#include "ws/err.h"
#include "ws/lz4f.h"

/*
 * Stream the image at shadow position X (wal_end: the committed bytes of
 * the shadow file shadow_fd, a WAL header and whole frames; 0 or the
 * header's size: no frame) of the database read through db_fd, with
 * pages of page_size bytes, to sink as one LZ4 frame (compressed on
 * every core).  Both descriptors are only read (pread).  WS_ECORRUPT
 * when the shadow is not whole frames ending on a commit.
 */
int ws_snapshot_write(int db_fd, int shadow_fd, uint32_t page_size,
                      uint64_t wal_end, ws_sink_fn sink, void *ctx,
                      struct ws_err *err);

#endif
