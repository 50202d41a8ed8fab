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
    uint64_t size;          /* committed bytes in the shadow */
    uint32_t s[2];          /* checksum at `size` */
    int sealed;             /* current index complete */
    int resumed;            /* init continued a restored position */
    char pending[WS_ERR_MSG]; /* reason for the next new generation */
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

#endif
