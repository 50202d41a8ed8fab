/*
 * validate.h: restore drills.  A replica is only as good as a restore
 * from it, so walship restores one and checks what comes back.
 *
 * `walship verify` (ws_verify_run) restores each replica of a database
 * (or the replica a URL names) into a temporary directory of its own
 * under $TMPDIR (never next to or over the database), with restore.h,
 * which verifies every object on the way (the LZ4 frames, the WAL
 * checksum chain, the records that bind the generation's objects, the
 * snapshot's digest) and runs PRAGMA integrity_check on the result; it
 * prints what it verified (replica, generation, position, time, size,
 * pages, the SHA-256 of the pages) and removes the directory.  That
 * proves the replica restores to a sound database, not that it is the
 * database: without a running replicate at the same transaction there
 * is nothing to compare with, and verify says so.
 *
 * Inside `replicate` (ws_validator), the comparison is made.  A drill is
 * due every validation-interval of a replica (or on request).  It asks
 * the database's next sync for a probe (db.h): inside the sync's locked
 * window, where walship holds SQLite's write lock and the shadow holds
 * every committed frame, at shadow position P = (generation, index,
 * offset), the probe begins a read transaction on a read-only connection
 * of its own.  The lock is released as usual (the probe adds the time of
 * one BEGIN and one read of the schema), and the read transaction sees
 * the database exactly at P whatever the application commits meanwhile:
 * that is SQLite's snapshot isolation, so the comparison can raise no
 * false alarm under writes, the failure Litestream's validation had.
 * On a pool thread, every page is read through that transaction
 * (SQLite's sqlite_dbpage table: the page bytes as SQLite would read
 * them, from the database file or the -wal) into a copy in the drill's
 * directory in the meta dir (<meta>/validation/run), hashed as it goes,
 * and the transaction ends.  While it lasts, the transaction keeps
 * checkpoints from backfilling past P and the WAL from restarting, as
 * any reader of the application does.  When every replica of the drill
 * has shipped P (its position is P's generation at or past P), each is
 * restored to exactly P (restore.h's exact target) on a thread of its
 * own with its own loop and replica clients, and its pages compared with
 * the copy.  The restored file and the copy are equal byte for byte:
 * both are the page images of the same transaction (restore writes each
 * page's newest frame up to P over the snapshot and cuts the file to the
 * database size P's commit frame records, which is the page count the
 * read transaction sees; page 1's header, the WAL-mode version bytes
 * included, is the page image in both).  So nothing is masked.
 *
 * Outcomes, per replica: ok; failed (the restore found the replica
 * corrupt, or the pages differ: an error naming the database, replica,
 * generation and position, and the drill's directory, with the live
 * copy and every restored file, is kept as <meta>/validation/failed-
 * <time>, named in the log, at most WS_VALIDATE_KEEP of them); or not
 * completed (the replica could not be read, or did not reach P within a
 * bound, or moved to another generation first, or no position could be
 * read within a minute: a warning, not a failure).  A drill cut short by
 * the shutdown is abandoned, not counted.  The counters
 * (ws_validation_stats) are read by the metrics and /healthz through
 * ws_validator_stats(); /healthz fails while the last drill failed.
 *
 * Why a thread and not a `walship restore` child: the restore needs the
 * replica's settings and credentials as replicate has them (a config
 * file may have changed since, or there may be none), and a child
 * would race the reaping of replicate as PID 1.  restore.h runs on a
 * loop of its own, so a thread with its own loop and clients is enough;
 * it installs no signal handlers there (no_signals) and carries no
 * position over (no_carry).
 */
#ifndef WS_VALIDATE_H
#define WS_VALIDATE_H

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "ws/config.h"
#include "ws/db.h"
#include "ws/err.h"

/* Failed drills' directories kept per database; later ones are not. */
#define WS_VALIDATE_KEEP 5

/* ---- walship verify ------------------------------------------------------ */

struct ws_verify_opts {
    const char *target;      /* DB path, replica URL or directory */
    const char *config;      /* -config, or NULL */
    int expand_env;
    const char *replica;     /* -replica, or NULL: every replica */
    int has_time;            /* -timestamp */
    int64_t time_us;
    int verbose;
};

/* Restore, check and report each replica on out.  WS_ECORRUPT when one
 * failed verification (corrupt, or not a sound database); another code
 * when one could not be read at all (a corrupt one wins). */
int ws_verify_run(const struct ws_verify_opts *o, FILE *out,
                  struct ws_err *err);

/* ---- validation inside replicate ----------------------------------------- */

enum ws_valid_result {
    WS_VALID_NONE,           /* no drill completed yet */
    WS_VALID_OK,
    WS_VALID_FAILED,         /* a replica differs from the database, or
                              * is corrupt */
    WS_VALID_INCOMPLETE      /* a replica could not be compared */
};

/* For the metrics and /healthz. */
struct ws_validation_stats {
    uint64_t runs;           /* drills completed (any result) */
    uint64_t failed;         /* ... with a failed replica */
    uint64_t incomplete;     /* ... with a replica not compared */
    enum ws_valid_result last;
    int64_t last_ms;         /* wall clock (ms) of the last result, 0 */
    char last_msg[WS_ERR_MSG]; /* why the last one failed, "" */
};

/* What the daemon lends a validator. */
struct ws_validate_hooks {
    void *ctx;
    /* Start a sync soon (the probe rides on it). */
    void (*kick)(void *ctx);
    /* Replica k's shipped position: 0 when not known yet, or while its
     * generation has no snapshot in it. */
    int (*rep_pos)(void *ctx, size_t k, const char **gen, uint32_t *index,
                   uint64_t *offset);
};

struct ws_validator;

/* A validator for cfg's database on loop (the daemon's).  Drills are
 * scheduled for the replicas with a validation-interval; any can be
 * requested. */
int ws_validator_new(uv_loop_t *loop, const struct ws_db_config *cfg,
                     const struct ws_validate_hooks *h,
                     struct ws_validator **out, struct ws_err *err);

/* Before each sync: sets o->probe when a drill waits for one. */
void ws_validator_sync_opts(struct ws_validator *v,
                            struct ws_db_sync_opts *o);

/* After each sync, on the loop thread (also after one that could not be
 * started); another sync may have started meanwhile, and gets no probe
 * until this is called. */
void ws_validator_synced(struct ws_validator *v);

/* Ask for a drill of every replica now (or right after the one in
 * progress); done (may be NULL) is called on the loop thread with its
 * result and a one-line summary.  WS_EBUSY when one is asked for
 * already, or walship is shutting down. */
int ws_validator_request(struct ws_validator *v,
                         void (*done)(void *ctx, enum ws_valid_result r,
                                      const char *summary),
                         void *ctx);

/* The requester whose done takes ctx is gone (a client that
 * disconnected): its done is not called; the drill goes on. */
void ws_validator_forget(struct ws_validator *v, void *ctx);

/* The counters. */
struct ws_validation_stats ws_validator_stats(const struct ws_validator *v);

/* Shutting down: no new drill; one in progress ends as not completed
 * once its running part (a hash, a restore) returns. */
void ws_validator_stop(struct ws_validator *v);

/* Close the handles (cb as uv_close's) after waiting for a running
 * restore thread; then ws_validator_free once the loop ran them. */
void ws_validator_close(struct ws_validator *v, uv_close_cb cb);
void ws_validator_free(struct ws_validator *v);

#endif
