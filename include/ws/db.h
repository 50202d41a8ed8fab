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
 * Whenever continuity cannot be proven (start-up after downtime, a
 * header that changed without a seal, a shadow that does not match), the
 * engine starts a new generation and says why (FORMAT.md section 3.5).
 *
 * Shadow layout (FORMAT.md 1.8, meta dir `.<db>-walship`):
 *     generation                     "<16 hex>\n", written durably
 *     generations/<gen>/wal/<index hex8>.wal
 *     lock                           flock()ed while a walship runs
 *     restored                       left by a restore (resume.h)
 * A shadow file is a byte copy of one WAL index: the header plus
 * committed frames only.
 *
 * All functions except ws_db_new/ws_db_free run on a pool thread, one at
 * a time per database (the daemon guarantees it).
 */
#ifndef WS_DB_H
#define WS_DB_H

#include <stdint.h>

#include "ws/config.h"
#include "ws/err.h"
#include "ws/layout.h"
#include "ws/lz4f.h"
#include "ws/times.h"

/* Closed shadow indexes a sync reports (a replica further behind needs a
 * new snapshot); a fast writer restarts the WAL several times a second. */
#define WS_DB_MAXIDX 64

struct ws_db;

/* What the loop thread learns from one sync. */
struct ws_db_state {
    int exists;                  /* the database file exists */
    int ready;                   /* initialised and replicating */
    char gen[WS_GEN_LEN + 1];    /* current generation ("" = none) */
    uint32_t index;              /* current shadow index */
    uint64_t size;               /* committed bytes in that shadow file */
    int have_hdr;                /* the current shadow file exists */
    uint32_t page_size;
    /* Final sizes of closed shadow indexes still on disk. */
    uint32_t old_index[WS_DB_MAXIDX];
    uint64_t old_size[WS_DB_MAXIDX];
    int nold;
    int new_gen;                 /* this sync started a generation */
    char reason[WS_ERR_MSG];     /* why, when new_gen */
    int resumed;                 /* this sync continued a restored
                                  * position (resume.h) */
    const char *checkpoint;      /* "PASSIVE"/"TRUNCATE" when one ran */
    uint64_t copied;             /* bytes added to the shadow */
    /* The commits this sync copied, with the time it copied them (one
     * reading per copy), all in generation gen; valid until the next
     * sync. */
    const struct ws_tpoint *points;
    size_t npoints;
};

struct ws_db_sync_opts {
    int checkpoint;       /* 1 to apply the checkpoint policy */
    int force_checkpoint; /* 1 to checkpoint whatever the thresholds */
    uint32_t keep_from;   /* shadow indexes below this may be removed */
    const char *new_gen;  /* non-NULL: start a new generation, this reason */
    int hold;             /* 1: copy nothing (spool full); frames wait in
                           * the -wal, pinned by the read lock */
};

/* A handle for cfg's database (no I/O yet). */
int ws_db_new(const struct ws_db_config *cfg, struct ws_db **out,
              struct ws_err *err);

/* Initialise when needed, verify, copy new committed frames into the
 * shadow WAL, checkpoint by policy, prune old shadow files.  Fills st.
 * WS_ECORRUPT means continuity was lost; the next call starts a new
 * generation (the reason is logged by the caller from err). */
int ws_db_sync(struct ws_db *db, const struct ws_db_sync_opts *o,
               struct ws_db_state *st, struct ws_err *err);

/* Stream the whole database file (read through the long-lived
 * descriptor, never closed while SQLite holds locks) to sink, compressed
 * as one LZ4 frame. */
int ws_db_snapshot(struct ws_db *db, ws_sink_fn sink, void *ctx,
                   struct ws_err *err);

/* Path of shadow index `index` of generation gen (malloc'd). */
char *ws_db_shadow_path(const struct ws_db *db, const char *gen,
                        uint32_t index);

/* Release the read transaction and close everything. */
void ws_db_free(struct ws_db *db);

#endif
