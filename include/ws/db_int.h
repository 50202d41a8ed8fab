/*
 * db_int.h: private to the db rooms (db.c, dbconn.c, shadow.c, ckpt.c,
 * meta.c); nothing else includes it.  The public face and the model,
 * with its safety argument, are in db.h; this header holds what the
 * rooms share: struct ws_db, the limits more than one room uses, and
 * the functions one room calls in another (prefix ws_dbi_).  Every
 * function here runs on a pool thread, except where db.h says so.
 */
#ifndef WS_DB_INT_H
#define WS_DB_INT_H

#include <sqlite3.h>
#include <stdint.h>
#include <sys/stat.h>

#include "ws/db.h"
#include "ws/fs.h"
#include "ws/wal.h"

#define WS_DB_COPY_CHUNK (256 * 1024) /* largest read of the -wal */
#define WS_DB_LOCK_TIMEOUT_MS 1000
#define WS_DB_LOCK_SPIN_MS 25 /* retrying without sleeping, per attempt */
#define WS_DB_CKPT_GAP_MS 100 /* between walship's locked checkpoints */

struct ws_db {
    const struct ws_db_config *cfg;
    char *wal_path;
    char *meta;
    struct ws_fs_dir meta_dir; /* meta, open and checked (fs.h) */
    sqlite3 *rd;            /* holds the long read transaction */
    sqlite3 *rd2;           /* spare: takes the read over to move the mark */
    sqlite3 *wr;            /* takes the write lock; checkpoints */
    sqlite3 *ck;            /* reads the wal-index counts (NOOP) */
    /* Where rd's read lock is (advance_safe): on a slot above 0 with a
     * mark of at most mark_max (INT64_MAX: not known), or, when
     * mark_zero, possibly on slot 0. */
    int64_t mark_max;
    int mark_zero;
    int db_fd;              /* long-lived read descriptor on the db */
    int wal_fd;
    int lock_fd;            /* flock on <meta>/lock */
    int meta_made;          /* this init made the meta dir (undo_meta) */
    int ready;
    uint32_t page_size;

    char gen[WS_GEN_LEN + 1];
    uint32_t index;
    int have_hdr;           /* shadow file `index` exists */
    int shadow_fd;
    uint8_t hdr_bytes[WS_WAL_HDR_SIZE];
    struct ws_wal_hdr hdr;
    uint64_t size;          /* committed bytes of the index */
    uint32_t s[2];          /* checksum at `size` */
    /* The shadow file holds the index's frames up to w_hi (whole, or
     * with holes below a spool's start: shadow.c); those from w_hi to
     * size are in the -wal only, pinned there while `lazy`.  w_s: the
     * checksum at w_hi. */
    uint64_t w_hi;
    uint32_t w_s[2];
    int lazy;               /* rd holds a read on a slot above 0 */
    /* The checksum at size is not known: start-up found the file longer
     * than the frames it holds (a lazy copy records its position as the
     * file's size: the -wal had the rest). */
    int s_unknown;
    /* Where the slowest replica stands in the current index, from the
     * current sync's options: frames below keep_off, shipped by every
     * replica, need not be kept (0: keep them all). */
    uint32_t keep_index;
    uint64_t keep_off;
    int sealed;             /* current index complete */
    int resumed;            /* init continued a restored position */
    char pending[WS_ERR_MSG]; /* reason for the next new generation */
    /* The -wal a replaced database left at the path, to be emptied
     * before the new file is opened (ws_dbi_retire_wal): its identity,
     * size and first bytes when walship closed the old file. */
    int stale_wal;
    struct stat stale_sb;
    uint8_t stale_hdr[WS_WAL_HDR_SIZE];
    int64_t last_ckpt_ms;
    /* Checkpoints the database asks for while nothing is written (the
     * checkpoint-interval, a -wal left large by an earlier index) are
     * tried again after ckpt_wait_ms from ckpt_try_ms, doubled while
     * they do not get what they wanted (a reader or a writer of the
     * application in the way). */
    int64_t ckpt_try_ms;
    int64_t ckpt_wait_ms;
    uint8_t *buf;           /* COPY_CHUNK bytes */
    struct ws_tlist points; /* commits observed by the current sync */
    int64_t last_us;        /* their time never goes backwards */
    const struct ws_db_seen *seen; /* the current sync's observations */
    size_t nseen;
    /* Closed shadow indexes (immutable) of generation old_gen: those
     * below pruned are gone, old[] caches what the others hold. */
    char old_gen[WS_GEN_LEN + 1];
    uint32_t pruned;
    struct ws_db_closed old[WS_DB_MAXIDX];
    int nold;
    /* The loop thread's own (ws_db_peek): nothing else touches them. */
    char *shm_path;
    int shm_fd;
    int unsynced;           /* shadow bytes not yet fsynced */
    int64_t fsync_ms;
    int window_ms;          /* test hook: widen the checkpoint window */
    /* The current sync's probe (ws_db_sync_opts), until called. */
    void (*probe)(void *ctx, const char *gen, uint32_t index, uint64_t size,
                  uint32_t page_size);
    void *probe_ctx;
    /* The application's writers held off by walship in the current sync
     * (ws_db_state.lock_us): the write lock from BEGIN IMMEDIATE to its
     * release, and each TRUNCATE checkpoint. */
    int64_t lock_t0_us;     /* when the write lock was taken (0: not held) */
    int64_t lock_us;
};

/* ---- dbconn.c: connections, the read transaction, the write lock ---- */

/* CLOCK_MONOTONIC in microseconds. */
int64_t ws_dbi_mono_us(void);

/* Run a statement returning one row on c; copy up to 3 integer columns
 * into ints or the first column as text (either may be NULL). */
int ws_dbi_query(struct ws_db *db, sqlite3 *c, const char *sql,
                 int64_t *ints, char *text, size_t ntext,
                 struct ws_err *err);

/* Begin the long read on rd (where its lock lands is not known yet);
 * end it. */
int ws_dbi_read_begin(struct ws_db *db, struct ws_err *err);
void ws_dbi_read_end(struct ws_db *db);

/* One attempt at the write lock on wr, spinning for up to ms. */
int ws_dbi_lock_try(struct ws_db *db, int64_t ms, struct ws_err *err);

/* The write lock, or WS_EBUSY after WS_DB_LOCK_TIMEOUT_MS. */
int ws_dbi_lock_take(struct ws_db *db, struct ws_err *err);

/* Release the write lock (if held), adding its time to lock_us. */
void ws_dbi_lock_release(struct ws_db *db);

/* Open walship's four connections, switch the database back to WAL mode
 * if need be (st->mode_was), read the page size, open db_fd. */
int ws_dbi_open_sqlite(struct ws_db *db, struct ws_db_state *st,
                       struct ws_err *err);

/* Close the connections through SQLite, the -wal's descriptor and the
 * shadow file; db_fd stays (db.h: closed only after every connection). */
void ws_dbi_close_conns(struct ws_db *db);

/* The database file was replaced while its -wal stayed (db.h): note
 * that -wal (its descriptor is wal_fd) in db->stale_*, before the
 * connections close. */
void ws_dbi_note_stale_wal(struct ws_db *db);

/* Empty the -wal noted by ws_dbi_note_stale_wal, every connection of
 * walship's being closed: WS_OK when it is emptied (said in
 * st->stale_wal), gone or another file now; WS_EBUSY, naming it, while
 * a connection uses it or when it was written since it was noted. */
int ws_dbi_retire_wal(struct ws_db *db, struct ws_db_state *st,
                      struct ws_err *err);

/* ---- shadow.c: the shadow WAL ---------------------------------------- */

/* Write the frames of the current index the shadow does not hold yet
 * (from w_hi, or from the frame before keep_off when the replicas have
 * all shipped past w_hi) from the -wal into the shadow, checked against
 * the chain up to `size`; the caller fsyncs.  WS_ECORRUPT when the -wal
 * no longer holds them. */
int ws_dbi_spool(struct ws_db *db, struct ws_err *err);

/* fsync the current shadow file when FSYNC_EVERY_MS passed, or now when
 * force. */
int ws_dbi_shadow_sync(struct ws_db *db, int force, struct ws_err *err);
void ws_dbi_shadow_close(struct ws_db *db);

/* Bring the shadow up to date with the -wal (adds to *copied);
 * WS_ECORRUPT when continuity is lost. */
int ws_dbi_catch_up(struct ws_db *db, uint64_t *copied, struct ws_err *err);

/* Start a new generation and build its index 0 from the -wal. */
int ws_dbi_new_generation(struct ws_db *db, uint64_t *copied,
                          struct ws_err *err);

/* At start-up: continue the generation on disk, or set reason. */
int ws_dbi_verify_local(struct ws_db *db, char *reason, size_t nreason,
                        uint64_t *copied, struct ws_err *err);

/* Delete shadow files below keep_from; fill st->old. */
void ws_dbi_prune(struct ws_db *db, uint32_t keep_from,
                  struct ws_db_state *st);

/* ---- ckpt.c: checkpoints --------------------------------------------- */

/* Move walship's read to a slot above 0 when it may be on slot 0 and
 * that is safe (ckpt.c), so that copies leave frames in the -wal. */
int ws_dbi_pin(struct ws_db *db, struct ws_db_state *st, struct ws_err *err);

/* Learn where the read sits after start-up in a short locked window, when
 * the write lock is free now (ckpt.c); else leave it unknown. */
int ws_dbi_settle(struct ws_db *db, struct ws_db_state *st,
                  struct ws_err *err);

enum ws_dbi_ckpt_want {
    WS_DBI_CKPT_NONE,     /* nothing to do */
    WS_DBI_CKPT_BACKFILL, /* backfill without the write lock */
    WS_DBI_CKPT_LOCKED    /* a locked checkpoint (a seal) */
};

/* The policy: what this sync should do (quiet: it copied nothing);
 * *truncate when a TRUNCATE may follow a seal. */
enum ws_dbi_ckpt_want ws_dbi_want_checkpoint(struct ws_db *db,
                                             const struct ws_db_sync_opts *o,
                                             int quiet, int *truncate);

/* A locked checkpoint; a busy write lock skips it. */
int ws_dbi_checkpoint(struct ws_db *db, int truncate, struct ws_db_state *st,
                      struct ws_err *err);

/* Up to `rounds` rounds of backfill without the write lock. */
int ws_dbi_backfill(struct ws_db *db, int rounds, int locked_next,
                    struct ws_db_state *st, struct ws_err *err);

/* The probe's own locked window (ws_db_sync_opts). */
int ws_dbi_probe_step(struct ws_db *db, struct ws_db_state *st,
                      struct ws_err *err);

/* When the next idle checkpoint is due (ws_now_ms), -1 for never. */
int64_t ws_dbi_ckpt_due(struct ws_db *db, int tried, int copied);

/* ---- meta.c: the meta directory -------------------------------------- */

/* Take the meta dir's lock (opening and checking the dir first);
 * WS_ECONFIG when another walship holds it. */
int ws_dbi_take_meta_lock(struct ws_db *db, struct ws_err *err);

/* Remove the meta dir this init made (the database could not be
 * opened). */
void ws_dbi_undo_meta(struct ws_db *db);

/* Open gen's shadow directory, generations/<gen>/wal. */
int ws_dbi_wal_dir(struct ws_db *db, const char *gen, int flags,
                   struct ws_fs_dir *d, struct ws_err *err);

/* The file name of shadow index `index`: "<index hex8>.wal". */
void ws_dbi_shadow_name(uint32_t index, char name[16]);

/* Remove every generation but db->gen. */
int ws_dbi_remove_other_gens(struct ws_db *db, struct ws_err *err);

/* Before SQLite opens the database: when the file is not the one the
 * last run recorded, the next generation's reason is that, and when the
 * -wal beside it is the last run's, WS_EBUSY saying what to do (meta.c). */
int ws_dbi_check_identity(struct ws_db *db, struct ws_err *err);

/* Record the database file walship has open as the one it replicates. */
void ws_dbi_record_identity(struct ws_db *db);

/* Highest shadow index present for db->gen; WS_ENOTFOUND when none. */
int ws_dbi_highest_index(struct ws_db *db, uint32_t *out,
                         struct ws_err *err);

#endif
