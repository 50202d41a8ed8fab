/*
 * ckpt.c: checkpoints (db.h has the model): the policy that decides
 * when, backfill without the write lock, and the short locked window
 * that seals an index.
 *
 * Restart safety.  walship holds a read transaction at every moment, so
 * that SQLite never backfills past a frame walship has not copied and the
 * WAL never restarts behind its back.  Its read mark moves to the end of
 * the WAL without the write lock (advance_mark) by beginning a read on
 * the spare connection before ending the current one, and only when the
 * new read is sure to take a slot above 0, that is, to find a frame not
 * backfilled (advance_safe), given the counts log (mxFrame) and done
 * (nBackfill) read just before:
 *  - rd on a slot above 0 with a mark of at most mark_max: nothing can
 *    be backfilled past that mark nor restarted while it is held, and
 *    mxFrame only grows, so log > mark_max stays above nBackfill.
 *  - rd possibly on slot 0 (begun with every frame backfilled, at F
 *    frames): if it is on slot 0, nothing can be backfilled, and a
 *    restart (nBackfill back to 0) needs nBackfill == mxFrame; if it is
 *    on a slot above 0 its mark is F and nBackfill stays F.  Either way,
 *    once done < log, nBackfill stays below mxFrame.
 * So one read of walship's, on a slot above 0, is held throughout and
 * the WAL cannot restart.  Every frame up to the new mark is copied
 * before the old read ends, so SQLite, which never backfills past a held
 * mark, backfills only copied frames: the database file never holds a
 * page past the shadow's end.  While walship is down nothing holds the
 * WAL: the application may backfill frames walship never copied, which
 * stay in the -wal until it restarts, and the start-up check (shadow.c)
 * copies them; or it may restart the WAL, which the check finds (a
 * header that is not the shadow's, and no marker of a stop or a restore
 * that vouches for the database file: meta.h) and answers with a new
 * generation.
 */
#include "ws/crashpt.h"
#include "ws/db_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_CKPT_MS 50     /* waiting for another checkpoint, locked */
#define CKPT_WAIT_MAX_MS 30000 /* idle checkpoints retried at most this late */
#define CKPT_ROUNDS 8       /* unlocked backfill rounds before one */
#define CKPT_TAIL_BYTES (4 * 1024 * 1024) /* left for the locked window */

/* Test hook: WALSHIP_TEST_WINDOW_MS=N sleeps N ms at each step of the
 * copy -> checkpoint -> restart window, so tests can hammer it (a commit
 * landing there must never be lost: tests/e2e/55). */
static void window(const struct ws_db *db)
{
    if (db->window_ms > 0)
        usleep((useconds_t)db->window_ms * 1000);
}

/*
 * What SQLite's wal-index says now: the frames in the WAL (*log) and the
 * frames backfilled into the database (*done), -1 when unknown.  A NOOP
 * checkpoint on `ck`, which takes no lock and does no I/O.  (A SQLite
 * older than 3.51 reads NOOP as PASSIVE: that backfills what it can, never
 * past walship's read mark, and reports the same two counts.)
 */
static void wal_status(struct ws_db *db, int64_t *log, int64_t *done)
{
    int64_t r[3] = {-1, -1, -1};

    if (ws_dbi_query(db, db->ck, "PRAGMA wal_checkpoint(NOOP)", r, NULL, 0,
                     NULL) != WS_OK)
        r[1] = r[2] = -1;
    *log = r[1];
    *done = r[2];
}

int ws_db_index_full(const struct ws_db_config *c, uint32_t page_size,
                     uint64_t size)
{
    uint64_t fs = ws_wal_frame_size(page_size ? page_size : 4096);

    return size > WS_WAL_HDR_SIZE &&
           (size - WS_WAL_HDR_SIZE) / fs >=
               (uint64_t)c->min_checkpoint_page_count;
}

static uint64_t shadow_frames(const struct ws_db *db)
{
    uint64_t fs = ws_wal_frame_size(db->page_size);

    return db->have_hdr ? (db->size - WS_WAL_HDR_SIZE) / fs : 0;
}

/* Counts past what the shadow holds mean a frame walship never saw. */
static int check_counts(struct ws_db *db, int64_t log, struct ws_err *err)
{
    uint64_t frames = shadow_frames(db);

    if (log >= 0 && (uint64_t)log > frames)
        return ws_err_set(err, WS_ECORRUPT,
                          "checkpoint saw %lld frames, shadow has %llu",
                          (long long)log, (unsigned long long)frames);
    return WS_OK;
}

/*
 * Past this many frames in the index, walship stops backfilling without
 * the lock before a locked checkpoint, after one round, and takes the
 * lock: the locked PASSIVE then backfills whatever is left while the
 * application waits, which bounds the -wal when the backfill cannot keep
 * up with it.  (The one round is for a backlog that is one large
 * transaction: ws_dbi_backfill.)
 */
static int past_cap(const struct ws_db *db)
{
    uint64_t min = (uint64_t)db->cfg->min_checkpoint_page_count;

    return shadow_frames(db) >= 4 * min;
}

/*
 * Whether a read begun now is sure to take a slot above 0, that is, to
 * find a frame not backfilled, so that ending the current read cannot
 * let the WAL restart (the two cases, rd on a slot above 0 or possibly
 * on slot 0, are argued at the top of this file).  log and done are
 * counts read just before.
 */
static int advance_safe(const struct ws_db *db, int64_t log, int64_t done)
{
    if (log < 0 || done < 0 || done >= log)
        return 0;
    return db->mark_zero || log > db->mark_max;
}

/*
 * Move walship's read mark to the end of the WAL without the write lock
 * (when advance_safe), as the top of this file argues: a read begun on
 * the spare connection, every frame up to its mark copied, and only then
 * the old read ended.
 */
static int advance_mark(struct ws_db *db, struct ws_db_state *st,
                        struct ws_err *err)
{
    sqlite3 *old = db->rd;
    int64_t log = -1, done;
    int rc;

    db->rd = db->rd2;
    db->rd2 = old;
    rc = ws_dbi_read_begin(db, err);
    if (rc == WS_OK) {
        /* The new mark is at most the mxFrame read after it began. */
        wal_status(db, &log, &done);
        rc = ws_dbi_catch_up(db, &st->copied, err);
    }
    if (rc == WS_OK)
        rc = check_counts(db, log, err);
    if (rc != WS_OK || log < 0) {
        ws_dbi_read_end(db);
        db->rd2 = db->rd;
        db->rd = old; /* still held; where it sits is no longer known */
        return rc;
    }
    sqlite3_exec(old, "ROLLBACK", NULL, NULL, NULL);
    db->mark_max = log;
    db->mark_zero = 0;
    db->lazy = 1; /* the new read is on a slot above 0 */
    return WS_OK;
}

/*
 * Pin the current index in the -wal (db.h): when walship's read may be
 * on slot 0 (after a seal) and a frame is not backfilled, move the mark
 * to the end, so that the read is on a slot above 0 and copies need not
 * write the shadow.  Two statements and a checkpoint count; no lock.
 */
int ws_dbi_pin(struct ws_db *db, struct ws_db_state *st, struct ws_err *err)
{
    int64_t log, done;

    if (db->lazy || !db->have_hdr || db->sealed)
        return WS_OK;
    wal_status(db, &log, &done);
    return advance_safe(db, log, done) ? advance_mark(db, st, err) : WS_OK;
}

/*
 * Start writing out the dirty pages of fd without waiting for them
 * (Linux), so that the fsyncs inside the locked window find little left.
 * Elsewhere those fsyncs do it all.
 */
static void start_writeback(int fd)
{
#ifdef SYNC_FILE_RANGE_WRITE
    (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd;
#endif
}

/*
 * One round of backfill without the write lock: move the read mark to
 * the end of the WAL when that is safe; then, if more than
 * CKPT_TAIL_BYTES of frames are not backfilled, run PASSIVE on `wr`
 * outside any transaction while the application keeps committing (SQLite
 * never backfills past a held read mark, and every frame below walship's
 * is copied) and start writing the pages out.  An application with
 * SQLite's autocheckpoint (the default) backfills up to walship's mark
 * itself after each commit, outside the write lock, as it would with no
 * replicator: walship then only moves the mark, and runs PASSIVE when
 * frames are left behind.  Unless `may_backfill` (past the cap), walship
 * neither backfills nor lets the application backfill a long tail
 * inline: the locked window will.  *log and *done: the counts before,
 * updated when walship backfilled, which sets *progress.
 */
static int unlocked_round(struct ws_db *db, int may_backfill, int64_t *log,
                          int64_t *done, int *progress,
                          struct ws_db_state *st, struct ws_err *err)
{
    int64_t tail = CKPT_TAIL_BYTES / (int64_t)ws_wal_frame_size(db->page_size);
    int64_t r[3] = {-1, -1, -1};
    int rc = WS_OK;

    *progress = 0;
    if (advance_safe(db, *log, *done) &&
        (may_backfill || *log - *done <= tail))
        rc = advance_mark(db, st, err);
    if (rc != WS_OK || !may_backfill || *done < 0 || *log - *done <= tail)
        return rc;
    rc = ws_dbi_query(db, db->wr, "PRAGMA wal_checkpoint(PASSIVE)", r, NULL, 0,
                      err);
    if (rc != WS_OK || r[2] <= *done)
        return rc;
    *progress = 1;
    start_writeback(db->db_fd);
    wal_status(db, log, done);
    return rc;
}

/*
 * Take the write lock for a locked step.  A writer that commits flat out
 * leaves a gap of some tens of microseconds between transactions, unless
 * its autocheckpoint runs there: then the gap lasts as long as that
 * checkpoint, which backfills up to walship's read mark.  So after each
 * short attempt walship copies what was committed meanwhile and moves
 * its mark to the end (and leaves the backfill to the application, which
 * opens such gaps, unless the tail grows large), so that the locked step
 * finds little to do.  The writes are only started here; the locked step
 * fsyncs.  WS_EBUSY after WS_DB_LOCK_TIMEOUT_MS.
 */
static int lock_wait(struct ws_db *db, struct ws_db_state *st,
                     struct ws_err *err)
{
    int64_t t0 = ws_now_ms(), log, done;
    int rc = WS_OK, progress;

    for (;;) {
        uint64_t spooled = db->w_hi;

        rc = ws_dbi_catch_up(db, &st->copied, err);
        /* The frames the locked step must keep, written now (it writes
         * only what comes meanwhile).  Many of them (a large transaction
         * no replica holds yet) are made durable now too: the locked
         * step's fsync would otherwise wait for them, with the
         * application held. */
        if (rc == WS_OK)
            rc = ws_dbi_spool(db, err);
        if (rc == WS_OK && db->w_hi > spooled &&
            db->w_hi - spooled > CKPT_TAIL_BYTES)
            rc = ws_dbi_shadow_sync(db, 1, err);
        start_writeback(db->shadow_fd);
        start_writeback(db->db_fd);
        if (rc == WS_OK)
            rc = ws_dbi_lock_try(db, WS_DB_LOCK_SPIN_MS, err);
        if (rc != WS_EBUSY || ws_now_ms() - t0 >= WS_DB_LOCK_TIMEOUT_MS)
            return rc;
        wal_status(db, &log, &done);
        rc = unlocked_round(db, !past_cap(db), &log, &done, &progress, st,
                            err);
        if (rc != WS_OK)
            return rc;
    }
}

/*
 * PASSIVE on rd inside the locked window.  SQLite's checkpoint lock may
 * be held by the application's own checkpoint (its autocheckpoint runs
 * after each commit, outside the write lock), and a PASSIVE then does
 * nothing: retry every 100 us for up to LOCK_CKPT_MS.  That checkpoint
 * cannot backfill past walship's last read mark, which the backfill
 * rounds keep near the end of the WAL, so it ends soon.
 */
static int passive_locked(struct ws_db *db, int64_t *r, struct ws_err *err)
{
    int64_t t0 = ws_now_ms();
    int rc;

    WS_CRASHPOINT("ckpt-before-checkpoint");
    for (;;) {
        r[0] = r[1] = r[2] = -1;
        rc = ws_dbi_query(db, db->rd, "PRAGMA wal_checkpoint(PASSIVE)", r,
                          NULL, 0, err);
        if (rc != WS_OK || r[1] >= 0 || ws_now_ms() - t0 >= LOCK_CKPT_MS)
            return rc;
        usleep(100);
    }
}

/*
 * One step under the write lock, in which no frame can be committed and
 * the WAL cannot restart: copy the last frames, fsync them, end the read
 * transaction, run a PASSIVE checkpoint when `passive` (with no read mark
 * of walship's in the way, it can backfill every frame, all of them
 * copied), begin the read transaction again at the end of the WAL, and
 * read the wal-index counts before letting go.  WS_EBUSY when the lock
 * could not be taken.
 *
 * Those counts decide the seal, and where the new read sits.  While the
 * lock is held mxFrame stays at the frames copied and nBackfill can only
 * grow.  So if the counts show every frame backfilled, either SQLite saw
 * that when the read began and put it on slot 0 (which blocks every
 * backfill: at most one restart, of frames walship holds), or the read
 * took a mark on a slot above 0 and another connection's checkpoint
 * finished later (no restart at all until walship moves that mark, which
 * it only does with a read on a slot above 0 or in this window, after
 * copying).  Either way the index is complete and a new header can only
 * be the next index.  If the counts show a frame not backfilled, it was
 * not backfilled when the read began either, so the read is on a slot
 * above 0, with a mark of at most mxFrame.  The PASSIVE's own result
 * cannot tell this: the application's checkpoint may complete between it
 * and the new read, which then lands on slot 0 while walship would think
 * the index open.
 */
static int locked_window(struct ws_db *db, int passive,
                         struct ws_db_state *st, struct ws_err *err)
{
    int64_t r[3] = {-1, -1, -1}, log = -1, done = -1;
    int rc, rc2;

    rc = ws_dbi_catch_up(db, &st->copied, err);
    if (rc == WS_OK)
        rc = ws_dbi_spool(db, err);
    if (rc == WS_OK)
        rc = ws_dbi_shadow_sync(db, 1, err);
    if (rc != WS_OK) {
        ws_dbi_lock_release(db);
        return rc;
    }
    if (db->probe && db->have_hdr) {
        db->probe(db->probe_ctx, db->gen, db->index, db->size,
                  db->page_size);
        db->probe = NULL;
    }
    window(db);
    /* Every frame of the index is in the shadow now (the spool above):
     * the read may end. */
    db->lazy = 0;
    ws_dbi_read_end(db);
    window(db);
    if (passive) {
        rc = passive_locked(db, r, err);
        WS_CRASHPOINT("ckpt-after-checkpoint");
    }
    window(db);
    rc2 = ws_dbi_read_begin(db, rc == WS_OK ? err : NULL);
    if (rc2 == WS_OK)
        wal_status(db, &log, &done);
    ws_dbi_lock_release(db);
    window(db);
    if (rc2 != WS_OK) {
        /* The next sync starts over from the files (init); what this
         * start held is let go first: its connections (SQLite's locks
         * with them), the -wal's and the shadow's descriptors. */
        ws_dbi_close_conns(db);
        return rc == WS_OK ? rc2 : rc;
    }
    if (rc == WS_OK)
        rc = check_counts(db, log, err);
    if (rc != WS_OK || log < 0 || done < 0)
        return rc;
    db->mark_max = log;
    db->mark_zero = done == log;
    /* A frame not backfilled: the read is on a slot above 0. */
    db->lazy = done < log;
    if (done == log && (uint64_t)log == shadow_frames(db))
        db->sealed = 1;
    return WS_OK;
}

static int locked_step(struct ws_db *db, int passive, struct ws_db_state *st,
                       struct ws_err *err)
{
    int rc = lock_wait(db, st, err);

    return rc == WS_OK ? locked_window(db, passive, st, err) : rc;
}

/*
 * After start-up walship does not know on which slot its read sits, so
 * copies write the shadow as they go (db.h).  When the write lock is
 * free right now, a locked window without backfill tells: one spin, and
 * nothing else is waited for.
 */
int ws_dbi_settle(struct ws_db *db, struct ws_db_state *st,
                  struct ws_err *err)
{
    int rc;

    if (!db->ready || !db->have_hdr || db->sealed || db->mark_zero ||
        db->mark_max != INT64_MAX)
        return WS_OK;
    rc = ws_dbi_lock_try(db, WS_DB_LOCK_SPIN_MS, err);
    if (rc == WS_EBUSY)
        return WS_OK;
    return rc == WS_OK ? locked_window(db, 0, st, err) : rc;
}

/*
 * A window for the probe alone (ws_db_sync_opts): the write lock, the
 * last frames copied and fsynced, the probe, the lock released.  Nothing
 * else changes: walship's read mark stays, and no seal is decided.  With
 * no WAL header yet (a generation that began on an empty WAL) the
 * database is the file alone, the state at offset 0 of the index.
 */
int ws_dbi_probe_step(struct ws_db *db, struct ws_db_state *st,
                      struct ws_err *err)
{
    int rc = lock_wait(db, st, err);

    if (rc != WS_OK)
        return rc;
    rc = ws_dbi_catch_up(db, &st->copied, err);
    if (rc == WS_OK && db->probe) {
        db->probe(db->probe_ctx, db->gen, db->index,
                  db->have_hdr ? db->size : 0, db->page_size);
        db->probe = NULL;
    }
    ws_dbi_lock_release(db);
    return rc;
}

/*
 * Unlocked rounds (db.h): at least one, which moves the read mark, then
 * more while walship backfilled (the application did not), more than
 * CKPT_TAIL_BYTES of frames are still not backfilled and fewer than
 * `rounds` ran.  Before a locked window (`locked_next`) they also stop at
 * the cap, and once a round no longer halves the tail (the writer adds
 * about as much as a round backfills: the lock wait is better spent
 * now); and when where rd's read lock sits is not known (after start-up)
 * the mark first moves in a short locked step.
 */
int ws_dbi_backfill(struct ws_db *db, int rounds, int locked_next,
                    struct ws_db_state *st, struct ws_err *err)
{
    int64_t tail = CKPT_TAIL_BYTES / (int64_t)ws_wal_frame_size(db->page_size);
    int64_t log, done, last = INT64_MAX;
    int rc = WS_OK, progress = 1;

    wal_status(db, &log, &done);
    if (locked_next && db->mark_max == INT64_MAX && !db->mark_zero &&
        done >= 0 && log - done > tail) {
        rc = locked_step(db, 0, st, err);
        if (rc != WS_OK || db->sealed)
            return rc;
        wal_status(db, &log, &done);
    }
    for (int i = 0; i < rounds && rc == WS_OK; i++) {
        int cap = locked_next && past_cap(db);
        if (i > 0 && (!progress || cap || log - done <= tail ||
                      (locked_next && log - done > last / 2)))
            break;
        last = log - done;
        /* Past the cap the first round still backfills: the backlog may
         * be one large transaction with the application idle, which the
         * locked window would otherwise backfill (and fsync) with the
         * application held for seconds.  A writer that keeps outpacing
         * the backfill meets the brake at the next round. */
        rc = unlocked_round(db, !cap || i == 0, &log, &done, &progress, st,
                            err);
    }
    return rc;
}

/*
 * A locked checkpoint: backfill, then the locked window, which now has
 * only a short tail to backfill.  When the index is sealed a TRUNCATE
 * may be tried.  A busy write lock just skips this checkpoint.
 */
int ws_dbi_checkpoint(struct ws_db *db, int truncate, struct ws_db_state *st,
                      struct ws_err *err)
{
    int rc;

    db->ckpt_try_ms = ws_now_ms();
    rc = ws_dbi_backfill(db, CKPT_ROUNDS, 1, st, err);

    if (rc == WS_OK && !db->sealed)
        rc = locked_step(db, 1, st, err);
    if (rc == WS_EBUSY)
        return WS_OK;
    if (rc != WS_OK)
        return rc;
    db->last_ckpt_ms = ws_now_ms();
    st->checkpoint = "PASSIVE";
    if (db->sealed && truncate) {
        int64_t t[3] = {-1, -1, -1}, t0 = ws_dbi_mono_us();
        sqlite3_busy_timeout(db->wr, 0);
        if (ws_dbi_query(db, db->wr, "PRAGMA wal_checkpoint(TRUNCATE)", t,
                         NULL, 0, NULL) == WS_OK &&
            t[0] == 0)
            st->checkpoint = "TRUNCATE";
        WS_CRASHPOINT("ckpt-after-truncate");
        sqlite3_busy_timeout(db->wr, WS_DB_LOCK_TIMEOUT_MS);
        db->lock_us += ws_dbi_mono_us() - t0;
    }
    return WS_OK;
}

/* 1 when the -wal file holds more than max-checkpoint-page-count frames'
 * worth of bytes (SQLite reuses the file from its start after a restart,
 * so a large earlier index leaves it large until a TRUNCATE). */
static int wal_oversized(struct ws_db *db)
{
    const struct ws_db_config *c = db->cfg;
    struct stat sb;

    return c->max_checkpoint_page_count > 0 && fstat(db->wal_fd, &sb) == 0 &&
           (uint64_t)sb.st_size >=
               WS_WAL_HDR_SIZE + (uint64_t)c->max_checkpoint_page_count *
                                     ws_wal_frame_size(db->page_size);
}

/* The last checkpoint or try, whichever came later: idle checkpoints
 * are paced from it. */
static int64_t ckpt_last(const struct ws_db *db)
{
    return db->last_ckpt_ms > db->ckpt_try_ms ? db->last_ckpt_ms
                                              : db->ckpt_try_ms;
}

/* 1 when the retry pace of the idle checkpoints allows one now. */
static int ckpt_paced(const struct ws_db *db)
{
    return ws_now_ms() - ckpt_last(db) >= db->ckpt_wait_ms;
}

/*
 * The policy.  Past min-checkpoint-page-count frames walship seals the
 * index with a locked checkpoint, at most one per WS_DB_CKPT_GAP_MS: the
 * write lock is taken for a few milliseconds each time, and a writer
 * that commits flat out restarts the WAL right after each seal, so the
 * -wal stays near the frames written in WS_DB_CKPT_GAP_MS plus one checkpoint.
 * Within the gap the WAL is only backfilled, without the lock, so that
 * the next locked window finds little to do.  Once writes pause (quiet:
 * this sync copied nothing), a -wal file still larger than
 * max-checkpoint-page-count frames is sealed and truncated whatever the
 * frames of its index, and an unsealed index is sealed after
 * checkpoint-interval; ws_db_sync says when (ckpt_due_ms), so that the
 * daemon comes back without a write to wake it.
 */
enum ws_dbi_ckpt_want ws_dbi_want_checkpoint(struct ws_db *db,
                                             const struct ws_db_sync_opts *o,
                                             int quiet, int *truncate)
{
    const struct ws_db_config *c = db->cfg;
    uint64_t frames;
    int gap;

    *truncate = wal_oversized(db);
    if (o->force_checkpoint)
        return WS_DBI_CKPT_LOCKED;
    if (!db->have_hdr)
        return WS_DBI_CKPT_NONE;
    /* Copies run every few ms while the -wal changes; locked checkpoints
     * keep their own pace.  Too frequent, they also took the write lock
     * up to 100 times a second when the WAL could not be fully
     * backfilled. */
    gap = ws_now_ms() - db->last_ckpt_ms >= WS_DB_CKPT_GAP_MS &&
          (!quiet || ckpt_paced(db));
    frames = shadow_frames(db);
    if (db->sealed)
        return gap && *truncate ? WS_DBI_CKPT_LOCKED : WS_DBI_CKPT_NONE;
    if (ws_db_index_full(c, db->page_size, db->size)) {
        /* The seal waits, up to twice the count, until the replicas
         * hold nearly all of the index: the frames they hold need not
         * be written to the shadow (db.h).  The backfill goes on. */
        uint64_t fs = ws_wal_frame_size(db->page_size);
        uint64_t lag = (uint64_t)c->min_checkpoint_page_count / 8 * fs;
        int behind = o->keep_from != db->index || o->keep_off == 0 ||
                     db->size - o->keep_off > lag;
        if (behind && frames < 2 * (uint64_t)c->min_checkpoint_page_count)
            return WS_DBI_CKPT_BACKFILL;
        return gap ? WS_DBI_CKPT_LOCKED : WS_DBI_CKPT_BACKFILL;
    }
    if (gap && quiet && frames > 0 && *truncate)
        return WS_DBI_CKPT_LOCKED;
    return gap && c->checkpoint_interval_ms > 0 && frames > 0 &&
                   ws_now_ms() - db->last_ckpt_ms >=
                       c->checkpoint_interval_ms
               ? WS_DBI_CKPT_LOCKED
               : WS_DBI_CKPT_NONE;
}

/* When want_checkpoint would next ask for a checkpoint if nothing is
 * written meanwhile; -1 for never.  A try that left the -wal as it was
 * doubles the wait before the next (at most CKPT_WAIT_MAX_MS). */
int64_t ws_dbi_ckpt_due(struct ws_db *db, int tried, int copied)
{
    const struct ws_db_config *c = db->cfg;
    int big = wal_oversized(db), left;
    uint64_t frames = shadow_frames(db);
    int64_t from, due;

    left = big && (db->sealed || frames > 0);
    if (copied || (tried && !left && db->sealed))
        db->ckpt_wait_ms = WS_DB_CKPT_GAP_MS;
    else if (tried && db->ckpt_wait_ms < CKPT_WAIT_MAX_MS)
        db->ckpt_wait_ms = db->ckpt_wait_ms * 2 < CKPT_WAIT_MAX_MS
                               ? db->ckpt_wait_ms * 2
                               : CKPT_WAIT_MAX_MS;
    if (!db->have_hdr)
        return -1;
    from = ckpt_last(db);
    if (left)
        return from + db->ckpt_wait_ms;
    if (db->sealed || frames == 0 || c->checkpoint_interval_ms <= 0)
        return -1;
    due = db->last_ckpt_ms + c->checkpoint_interval_ms;
    return due > from + db->ckpt_wait_ms ? due : from + db->ckpt_wait_ms;
}
