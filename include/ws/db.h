/*
 * db.h: one source database, its shadow WAL and its checkpoints.
 *
 * The engine keeps SQLite's WAL from restarting behind its back by
 * holding a read transaction at all times.  While any read lock is held,
 * no checkpoint can backfill past its mark and no writer can restart the
 * WAL, unless the lock is on slot 0 (taken when the WAL was fully
 * backfilled), which blocks every backfill and so allows at most one
 * restart, of frames already backfilled.  So every committed frame stays
 * readable in the -wal file until walship has copied it into the shadow
 * WAL, and walship decides when the WAL restarts.
 *
 * Backfill needs no write lock.  walship moves its read mark to the end
 * of the WAL by beginning a read on a spare connection before ending the
 * current one, only when SQLite is sure to put the new read on a slot
 * above 0 (a frame is not backfilled and cannot become so while the old
 * read is held), and copies every frame below the new mark before the
 * old read ends.  PRAGMA wal_checkpoint(PASSIVE) then runs on connection
 * `wr` outside any transaction while the application keeps committing:
 * it backfills only copied frames (the database file never holds a page
 * past the shadow's end) and the WAL cannot restart.
 *
 * Only a seal takes the write lock, for a short window in which `wr`
 * holds it (BEGIN IMMEDIATE, which writes nothing): no transaction can
 * commit while the last frames are copied and fsynced, the read lock is
 * dropped, PASSIVE backfills the small tail left, the read lock is taken
 * again and the wal-index counts are read (a NOOP checkpoint on
 * connection `ck`).  When they show every frame backfilled, the new read
 * is on slot 0 or on a mark no restart can pass before walship moves it,
 * so the current index is "sealed": a new WAL header can only mean the
 * next index, which the application's next writer starts.  (PASSIVE's
 * own result cannot tell: the application's checkpoint may complete
 * between the two.)  A seal lasts until a new frame is copied.  TRUNCATE
 * is attempted only then, past the hard size threshold, with a zero busy
 * timeout: with the read lock on slot 0 it can succeed only when there
 * is nothing new to backfill, so it never discards an uncopied frame.
 * walship never runs RESTART or FULL.
 *
 * The shadow is written late.  While walship's read is on a slot above
 * 0 ("lazy"), the WAL cannot restart, so every frame of the current
 * index stays in the -wal: a copy only walks the chain there (its
 * salts and checksums, and the commits with their times), and shippers
 * read the frames from the -wal (frames.c).  The shadow file gets them
 * (ws_dbi_spool) only before anything can end that: before the locked
 * window lets the read go (mostly before the lock is taken, so the
 * window writes and fsyncs only the last few frames), at a final sync
 * and at a stop.  Frames every replica has already shipped are not
 * written at all, but for the one just before the slowest replica's
 * position, whose stored checksum lets a reader go on from there: the
 * file then has a hole, which reads as zeros, never as a frame of the
 * index.  So a closed index holds what a replica may still need.  When
 * the read may be on slot 0 (after a seal, at start-up) copies write the
 * shadow as they go, as before, and each sync that copied moves the read
 * to a slot above 0 when that is safe (advance_safe, in ckpt.c).  What
 * this changes and what it does not:
 *  - A frame is released to a checkpoint only when it is durable in the
 *    shadow or shipped by every replica: the locked window spools and
 *    fsyncs before it ends the read, and SQLite restarts the WAL only
 *    after that.
 *  - Every frame read is checked against the chain: by the copy, by the
 *    spool (which must end at the copy's checksum), and by every reader,
 *    who falls back from the -wal to the shadow when a frame there is no
 *    longer the index's (the application restarted the WAL after a seal
 *    while a segment was being read).
 *  - A crash loses nothing that was not already safe: the frames in the
 *    -wal only are still there at the restart unless the application
 *    restarted the WAL meanwhile, which the start-up check sees (the
 *    chain of the -wal up to the shadow's size) and answers as before:
 *    the next index when the old one's frames are provably kept, else a
 *    new generation with its reason.
 *  - A snapshot reads the pages of a sealed index from the database file
 *    alone (it holds them all, and nothing later, db.h's invariant), of
 *    a lazy one from the -wal, else from the shadow, which is then whole.
 *  - The start-up tail check compares the replica's last segment with
 *    what is held of it, and always its last frame, whose checksum
 *    covers every frame before it.
 *
 * Whenever continuity cannot be proven (start-up after downtime, a
 * header that changed without a seal, a shadow that does not match), the
 * engine starts a new generation and says why.  At start-up the -wal
 * proves it when it still has the shadow's header and last frame; when
 * it has no header (walship's TRUNCATE, the application's last
 * connection closing, a generation begun on an empty -wal) or another
 * one, the database file hashed at the stop does (meta.h).
 *
 * Every sync first checks that the files at the paths are those walship
 * has open.  A database or -wal that is another file now (the
 * application deleted its database and created a new one, or moved one
 * over it) or none: walship's connections close through SQLite, then its
 * own descriptors (no lock of SQLite's is on them any more), and the new
 * file starts a new generation.  A database replaced while its -wal
 * stays leaves that -wal to the new file, and SQLite applies whatever
 * -wal it finds at the path to the database it opens there: the old
 * file's pages over the new file's, a corrupt database.  SQLite's last
 * close would have removed it, but walship's connections keep it
 * (SQLITE_FCNTL_PERSIST_WAL), and SQLite neither checkpoints nor removes
 * the -wal of a file that moved.  So walship empties it before it opens
 * the new file, once no connection anywhere has the -shm mapped and the
 * -wal is as the old file left it, and says so.  Until then (a
 * connection of the application's, on the old file or already on the new
 * one, uses it) each sync fails naming it, and walship waits without
 * opening the new file; one written since is never emptied.  A lock file or current shadow file that
 * is gone (an operator removed the meta directory): the lock is taken
 * again on a new file and a new generation starts.  A database that does
 * not exist or is empty is waited for, not an error.
 *
 * The path names the database file itself.  Anything else there is
 * waited for too, said as what it is (ws_db_not_file): a FIFO, a
 * directory or a device is no database, and a symbolic link is not
 * followed, because SQLite resolves the link and keeps the -wal and
 * -shm beside its target, where walship, which reads "<path>-wal",
 * would never see them; and a restore through a link would write where
 * the link points.
 *
 * Shadow layout (Litestream v0.3's, in the meta dir `.<db>-walship`):
 *     generation                     "<16 hex>\n", written durably
 *     generations/<gen>/wal/<index hex8>.wal
 *     lock                           flock()ed while a walship runs
 *     restored                       left by a restore (meta.h)
 *     stopped                        left by a stop (meta.h)
 *     database                       "<dev> <ino>" of the file last
 *                                    replicated (meta.c: a file moved
 *                                    over it while walship was stopped)
 *     control.sock                   the control endpoint of a running
 *                                    replicate (control.h)
 * A shadow file is a byte copy of one WAL index: the header plus
 * committed frames only.  The meta dir is opened and checked once
 * (fs.h's rule; not a link) and everything in it is created through that
 * descriptor by fs.h's safe creation: a new file renamed over its name,
 * so a link planted at a name is replaced, never written through.
 *
 * Commit times (times.h).  A copy records each commit it finds with the
 * time it read it, but copies run only every so often (watch.c), while
 * SQLite publishes each commit in its wal-index (wal.h) as soon as its
 * frames are written.  So the loop thread reads that header at every
 * change of the -wal (ws_db_peek: one pread) and hands what it saw to the
 * next sync; a commit then gets the time of the first observation that
 * shows it published, when that is earlier than its copy.  Both times are
 * read after the fact they stand for, so a recorded time is never earlier
 * than the commit: the safe side for restore-to-T, which includes only
 * commits recorded at or before T, so a transaction that committed after
 * T is never restored, while one committed just before T may be left out
 * when it was observed late.
 *
 * All functions except ws_db_new, ws_db_peek and ws_db_free run on a pool
 * thread, one at a time per database (the daemon guarantees it), except
 * that snapshots of one position may run side by side.
 */
#ifndef WS_DB_H
#define WS_DB_H

#include <stdint.h>
#include <sys/types.h>

#include "ws/config.h"
#include "ws/err.h"
#include "ws/layout.h"
#include "ws/lz4f.h"
#include "ws/times.h"
#include "ws/wal.h"

/* Closed shadow indexes a sync reports (a replica further behind needs a
 * new snapshot); a fast writer restarts the WAL several times a second. */
#define WS_DB_MAXIDX 64

struct ws_db;

/* A closed shadow index: what its shadow file holds for good.  The size,
 * final checksum and salts are the facts an index record gives about the
 * index boundary after it and before it (layout.h, daemon.h). */
struct ws_db_closed {
    uint32_t index;
    uint64_t size;               /* its final size in bytes */
    uint32_t cksum[2];           /* its last frame's cumulative checksum,
                                  * or its header's when it has none */
    uint32_t salt1, salt2;       /* its WAL header's salts */
};

/* An observation of the wal-index: at time_us (read after the header),
 * the WAL with these salts held mx_frame committed frames, so every
 * commit ending at or before frame mx_frame of it was complete. */
struct ws_db_seen {
    int64_t time_us;
    uint32_t salt1, salt2;
    uint32_t mx_frame;
};

/* What the loop thread learns from one sync. */
struct ws_db_state {
    int exists;                  /* the database file exists (and is not
                                  * empty) */
    int ready;                   /* initialised and replicating */
    /* Why the database is not replicated yet, when it does not exist or
     * is empty (not an error: walship waits for it); "" otherwise. */
    char wait[WS_ERR_MSG];
    int replaced;                /* the file at the path was replaced or
                                  * deleted: this sync dropped walship's
                                  * connections to the old one */
    char gen[WS_GEN_LEN + 1];    /* current generation ("" = none) */
    uint32_t index;              /* current shadow index */
    uint64_t size;               /* committed bytes in that shadow file */
    int have_hdr;                /* the current shadow file exists */
    uint32_t salt1, salt2;       /* its header's salts, when have_hdr */
    int sealed;                  /* the index is complete: the next
                                  * frame written starts the next one */
    uint32_t page_size;
    /* Closed shadow indexes still on disk, in order. */
    struct ws_db_closed old[WS_DB_MAXIDX];
    int nold;
    int new_gen;                 /* this sync started a generation */
    char reason[WS_ERR_MSG];     /* why, when new_gen */
    int resumed;                 /* this sync continued a restored
                                  * position (meta.h) */
    int continued;               /* this sync's start-up continued the
                                  * generation on disk (not resumed) */
    /* The journal mode this sync found the database in when it was not
     * WAL ("delete", "truncate", ...: switched while walship was down),
     * which it switched back to WAL; "" otherwise. */
    char mode_was[32];
    /* The -wal a replaced database left at the path, emptied by this
     * sync: said how; "" otherwise. */
    char stale_wal[WS_ERR_MSG];
    const char *checkpoint;      /* "PASSIVE"/"TRUNCATE" when one ran */
    int64_t ckpt_us;             /* ...and how long it took */
    /* How long this sync held the application's writers off: walship's
     * write lock (the locked step of a checkpoint, start-up) and its
     * TRUNCATE checkpoints, in microseconds. */
    int64_t lock_us;
    uint64_t copied;             /* bytes added to the shadow */
    /* When, on ws_now_ms's clock, a sync would checkpoint if nothing is
     * written meanwhile (the checkpoint-interval, a -wal to truncate);
     * -1 when none is pending.  Nothing else wakes an idle database. */
    int64_t ckpt_due_ms;
    /* The commits this sync copied, each with its time (the earliest
     * observation showing it published, else when the copy read it),
     * all in generation gen; valid until the next sync. */
    const struct ws_tpoint *points;
    size_t npoints;
};

struct ws_db_sync_opts {
    int checkpoint;       /* 1 to apply the checkpoint policy */
    int force_checkpoint; /* 1 to checkpoint whatever the thresholds */
    uint32_t keep_from;   /* shadow indexes below this may be removed */
    /* Frames below this offset of index keep_from every replica has
     * shipped: they need not be written to the shadow (0: all are). */
    uint64_t keep_off;
    const char *new_gen;  /* non-NULL: start a new generation, this reason */
    int hold;             /* 1: copy nothing (spool full); frames wait in
                           * the -wal, pinned by the read lock */
    /* Observations made before the sync started, oldest first; borrowed
     * for the call (may be NULL). */
    const struct ws_db_seen *seen;
    size_t nseen;
    /* A probe (validate.h): called once, on the sync's thread, inside a
     * locked window (the write lock held, so nothing can commit) once
     * the shadow holds every committed frame, with that position: the
     * database as a read begun now sees it is exactly the shadow at
     * (gen, index, size).  When no checkpoint of this sync takes the
     * lock, the sync takes it for the probe alone, a window that changes
     * nothing else.  size is 0 while the index has no WAL header (the
     * database file alone).  Not called when the lock could not be had
     * or the sync holds frames back (hold); NULL: no probe. */
    void (*probe)(void *ctx, const char *gen, uint32_t index, uint64_t size,
                  uint32_t page_size);
    void *probe_ctx;
};

/* Process-wide SQLite settings for walship's own connections, which
 * read a page or two per transaction: page caches start empty rather
 * than with 20 pages each; then SQLite is initialised.  Call once, on
 * the main thread, before any other thread can use SQLite (main does, for
 * every command): sqlite3_initialize is not safe to race with itself,
 * and every sqlite3_open calls it.  Later calls change nothing. */
void ws_db_configure(void);

/* Why a file of mode m (lstat's) at a database's path is not one walship
 * replicates or restores over ("a FIFO, not a regular file", ...), for
 * messages; NULL for a regular file. */
const char *ws_db_not_file(mode_t m);

/* A handle for cfg's database (no I/O yet). */
int ws_db_new(const struct ws_db_config *cfg, struct ws_db **out,
              struct ws_err *err);

/* Initialise when needed, verify, copy new committed frames into the
 * shadow WAL, checkpoint by policy, prune old shadow files.  Fills st.
 * WS_ECORRUPT means continuity was lost; the next call starts a new
 * generation (the reason is logged by the caller from err).  A database
 * that does not exist or is empty is WS_OK with st->wait set; call again
 * later.  When the file at the path is no longer the one walship has
 * open (the application deleted its database and created a new one, or
 * an operator replaced the -wal), every connection and descriptor on the
 * old file is closed (the connections through SQLite, first) and
 * st->replaced is set; the new file starts a new generation, reason
 * "database replaced". */
int ws_db_sync(struct ws_db *db, const struct ws_db_sync_opts *o,
               struct ws_db_state *st, struct ws_err *err);

/* Whether an index of `size` committed bytes (the shadow's size, header
 * included) with pages of page_size has the frames for a seal
 * (min-checkpoint-page-count of c).  Past it, a seal waits, for at most
 * as many frames again, until the replicas hold all but an eighth of the
 * index (ckpt.c), and a shipper that sees it syncs at once after an
 * upload so that the seal comes while they do. */
int ws_db_index_full(const struct ws_db_config *c, uint32_t page_size,
                     uint64_t size);

/* Stream the database exactly as it is at shadow position (index,
 * offset) of generation gen, a consistent database on its own
 * (snapshot.h), to sink, compressed as one LZ4 frame.  The file is read
 * through the long-lived descriptor (never closed while SQLite holds
 * locks).  The position must be the one the last sync reported
 * (ws_db_state: gen, index, size), and no sync may run until this
 * returns; WS_EBUSY when the shadow has moved since.  May run beside
 * another ws_db_snapshot of the same database (it only reads). */
int ws_db_snapshot(struct ws_db *db, const char *gen, uint32_t index,
                   uint64_t offset, ws_sink_fn sink, void *ctx,
                   struct ws_err *err);

/* Path of shadow index `index` of generation gen (malloc'd), for
 * messages. */
char *ws_db_shadow_path(const struct ws_db *db, const char *gen,
                        uint32_t index);

/* Open shadow index `index` of generation gen read-only into *fd,
 * through the meta dir's descriptor and never through a link (fs.h).
 * It only reads what init set up, so it may run on any thread, beside a
 * sync.  WS_ENOTFOUND when the file is missing. */
int ws_db_shadow_open(const struct ws_db *db, const char *gen,
                      uint32_t index, int *fd, struct ws_err *err);

/* Reading the frames of one index, whole and checked, from the -wal or
 * the shadow, wherever they are (frames.c); any thread, beside a sync. */
struct ws_frames {
    int fd[2];                  /* the -wal, the shadow file */
    int src;                    /* which one is read first */
    uint8_t hdr[WS_WAL_HDR_SIZE]; /* the index's header */
    uint64_t fsize;
    struct ws_wal_scan w;       /* position and checksum */
    char name[32];              /* "<gen>/<index>", for messages */
    int chained;                /* the checksum at the position is known */
};

/* A read-only descriptor on the -wal at the path, for reading its
 * bytes beside SQLite (no lock of SQLite's is on it): never through a
 * link, never blocking, a regular file only; -1 otherwise. */
int ws_db_wal_open(const struct ws_db *db);

/* Open index `index` of generation gen for reading its frames from
 * offset off (a frame boundary; 0 is read as 32: the header is f->hdr).
 * WS_ENOTFOUND when the shadow file is gone.  Reading fails (WS_ECORRUPT)
 * when the checksum at off is held nowhere (!chained). */
int ws_db_frames_open(const struct ws_db *db, const char *gen,
                      uint32_t index, uint64_t off, struct ws_frames *f,
                      struct ws_err *err);

/* The frame at off, whichever of the -wal and the shadow has it with
 * the index's salts (not checked against the chain: a frame's stored
 * checksum covers every frame before it, so an equal frame elsewhere
 * proves the same history): 1 when found. */
int ws_db_frame_at(struct ws_frames *f, uint64_t off, uint8_t *buf);

/* The next n bytes of frames (whole frames) into buf, each checked
 * against the index's salts and chain; WS_ECORRUPT when neither the
 * -wal nor the shadow holds them. */
int ws_db_frames_read(struct ws_frames *f, uint8_t *buf, size_t n,
                      struct ws_err *err);
void ws_db_frames_close(struct ws_frames *f);

/* Read SQLite's wal-index header from the -shm into *out (wal.h), from
 * the loop thread, even while a sync runs: it touches only a descriptor
 * of its own, opened on first use and closed by ws_db_free.  WS_EIO when
 * the -shm cannot be read, WS_EBUSY or WS_ECORRUPT as ws_walidx_decode
 * (try again at the next change); *out is written only on WS_OK. */
int ws_db_peek(struct ws_db *db, struct ws_walidx *out);

/* After a sync that set st->replaced, from the loop thread: forget the
 * -shm descriptor of ws_db_peek when it is on another file than the -shm
 * now at the path (no connection of walship's is on that one any more,
 * so closing it drops no lock SQLite holds); the next peek opens the new
 * one. */
void ws_db_peek_reset(struct ws_db *db);

/* At a stop, with no sync running (as ws_db_free): when the database
 * file alone is the current position (the index is sealed, or the
 * generation has no shadow file yet), hash it under walship's read lock
 * and leave the `stopped` marker (meta.h), so that a restart whose
 * -wal is empty can prove the file unchanged and continue the
 * generation.  *parked is 1 when the marker was written. */
int ws_db_park(struct ws_db *db, int *parked, struct ws_err *err);

/* Release the read transaction and close everything. */
void ws_db_free(struct ws_db *db);

#endif
