/*
 * daemon.h: `walship replicate`, the long-running side.
 *
 * One libuv loop owns every piece of state, for every database in the
 * config: the loop thread only decides and merges results; the blocking
 * work (copying frames, checkpoints, fsync, compression, snapshot reads,
 * directory-replica writes) runs on the libuv thread pool.  Each database
 * is a small state machine (sync job in flight or not, snapshot in
 * flight or not, dirty or not), and each of its replicas another (its
 * shipped position, idle / busy / backing off).
 *
 * Changes are noticed through fs events on the -wal and database files
 * and, while writes go on, by reading SQLite's wal-index header on a
 * timer (watch.c), with a stat() poll as the
 * fallback.  Copies are paced, uploads follow sync-interval, but a commit
 * after a quiet period ships at once.
 * A database that does not exist yet, syncs or uploads that fail, and
 * the spool limit are waited out on a timer, never in a loop, and said
 * when they begin, while they last and when they end (stall.h).  A
 * database replaced at its path is followed into a new generation, and
 * so is a replica that lost the generation being written.
 * SIGINT, SIGTERM or SIGHUP (a closed terminal must not cost the last
 * sync) stop new work, run one last sync and ship everything
 * that was committed, then exit; shutdown-sync-timeout bounds that last
 * sync (a second signal ends it at once; 0, as in Litestream, is no
 * bound and no retry of a failed upload), and a final sync that failed
 * or timed out is the exit status, naming the database and replica.
 * With -once the loop runs until every database has synced once and
 * every replica holds a snapshot of the current generation (the one
 * -force-snapshot asks for, in a new generation when the current index
 * has one already) and has applied retention if -enforce-retention asks,
 * then stops the same way; it waits on no interval, and a replica that
 * fails three times in a row is given up and named in the exit status
 * (serve.c, "-once").
 * With addr set, the same loop serves /metrics and /healthz (httpd.h):
 * the counters live in each database's and replica's state (metrics.h),
 * and the health check (health.h) is built from the states above, at
 * each request; heartbeat-url pings while that check passes
 * (heartbeat.h).
 * Each database's control endpoint (control.h) is served from the same
 * loop once the database replicates; its `sync` command waits on the
 * durability barrier (barrier.h).
 *
 * The application (-exec, child.h).  It starts once replication is
 * ready: every database has synced and its replicas hold a snapshot of
 * its generation, or a stall is being said of the database or replica
 * (a database awaited, a store down or not answering for 10 s): walship
 * never keeps the application from starting because of an outage.
 * While it runs, SIGINT, SIGTERM and SIGHUP are forwarded to it and do
 * not stop walship; when it exits, walship stops as on a signal, and
 * exits with its status unless the final sync failed.  A replica that
 * keeps refusing (credentials refused, an expired token) never stops
 * it: walship says so at a slowing pace and retries until it heals,
 * and the final sync's failure is the exit status.  Another walship on
 * the database (fatal) sends it SIGTERM first.
 *
 * Snapshots.  A snapshot is a consistent image of the database at one
 * shadow position (index I, offset X) (snapshot.h), and its record
 * (times.h, kind IMAGE) names that position.  Syncs are held from the
 * record to the end of the snapshot's read, so the position is exact.
 * One generation never has two snapshots of one index on a replica:
 * Litestream v0.3 gives a snapshot the name of its index alone and
 * replaces the object, while earlier records still describe it.  So a
 * snapshot is taken only in an index with none yet; a due one (snapshot-
 * interval, or retention's) in an index that has one is skipped when
 * nothing changed since, and otherwise waits for the next index: a
 * checkpoint seals this one, and the application's next write starts
 * the next.  (A second snapshot of one index would not help anyway:
 * restore and retention need that index's WAL from offset 0 with
 * either.)  Uploads go in this order, and a process killed between any
 * two of them leaves a replica that walship and Litestream v0.3.13 both
 * restore to a committed state:
 *   1. The first snapshot of a generation (or of a replica whose place
 *      the shadow no longer holds): record R(I, X), snapshot S(I), then
 *      the first segment of I, from offset 0 to the shadow's end (at
 *      least X) in one object, then the rest in order.
 *      - Killed after R (or during S): a record without its snapshot
 *        names nothing; restore ignores it and uses older generations.
 *        A restarted walship finds no snapshot in the generation,
 *        deletes the snapshot records its listing showed (one DEL), and
 *        takes one again with a record of its own: two records of one
 *        index would let the snapshot serve only with the WAL reaching
 *        the higher offset, which the replica lacks until the first
 *        segment is in.  Killed before that DEL is done, it is done at
 *        the next start.
 *      - Killed after S: the replica is S alone, the state at X with one
 *        image record: walship restores it; Litestream restores it as
 *        "snapshot only", which is the state at X.
 *   2. A later snapshot, in an index I with none yet: syncs are held,
 *      the replica is brought to the shadow's end (I, X), so it holds
 *      I's WAL [0, X) (its chain starts at an earlier snapshot's index,
 *      from offset 0); then R(I, X), then S(I), then segments from X.
 *      - Killed after R: nothing changes for a reader (no snapshot of I).
 *      - Killed after S: Litestream replays [0, X) over S, the state at
 *        X; walship does the same or uses S alone.  A prefix [0, k) with
 *        0 < k < X beside S would put older pages over a newer image:
 *        the order above never lets one be seen.
 *   3. Segments: each ends on a commit and starts where the previous one
 *      of its index ended; a crash leaves a committed prefix.
 *   4. Commit-time objects go only after the segments they describe: a
 *      crash loses at most the records not yet shipped, and restore
 *      falls back to object times for that range.
 *
 * Records that bind a generation's objects (layout.h).  A WAL index's
 * checksum chain proves the index on its own, and an LZ4 checksum of 32
 * bits all there is about a snapshot's bytes; nothing in Litestream's
 * format says that index I + 1 follows index I whole, or that a snapshot
 * is the one written.  (SQLite's salts do not either: a new index's
 * salt-1 is the old one's plus 1 only when the connection that restarts
 * the WAL had restarted it before; any other picks random salts.)  So:
 *   5. Before the first segment of index I (I >= 1) a replica gets I's
 *      index record: the final size and checksum of index I - 1 and the
 *      salts of I's header, from the shadow (db.h, struct ws_db_closed).
 *      A replica moves on to index I only once every segment of I - 1
 *      is in, so the record is true of the replica, and a restore that
 *      crosses from I - 1 into I checks both sides: an index cut at an
 *      earlier commit, another database's or generation's index, are
 *      found there.  (After a gap only a new snapshot could bridge, the
 *      replica's I - 1 may end short of the record: a restore crossing
 *      it fails, rightly, as it would give a state that never existed.)
 *      No record is written when the shadow no longer holds I - 1.
 *      - Killed after the record: its index has no segment yet, and
 *        what it says of I - 1 is true.  A restart writes the same
 *        record again (the same name) before the segment.
 *   6. Once a walship snapshot is written, its digest record: the
 *      SHA-256 of the bytes its producer sent (hashed as they went, not
 *      read again), with its image record's position and time.  A
 *      snapshot of an index is written once (above), and a retried
 *      upload's digest is of the upload that succeeded, so the object
 *      stays the one its digest describes.
 *      - Killed between the snapshot and its digest: the snapshot has
 *        no digest record and is restored unchecked, as Litestream's
 *        and older walships' are.
 */
#ifndef WS_DAEMON_H
#define WS_DAEMON_H

#include "ws/config.h"
#include "ws/err.h"

/* How `replicate` runs (all 0: until a signal). */
struct ws_daemon_opts {
    int once;              /* -once: sync, ship, exit (above) */
    int force_snapshot;    /* -force-snapshot: with once, a snapshot */
    int enforce_retention; /* -enforce-retention: with once, retention */
};

/* How replicate ended, beyond its error: what the command exits with. */
struct ws_daemon_end {
    int app_status; /* -exec: the application's exit status (0-255, 128 + N
                     * for signal N) once it exited, else -1 */
    int abandoned;  /* the final sync was given up at shutdown-sync-timeout
                     * with jobs maybe still on the thread pool, using cfg:
                     * the caller exits at once (_exit), freeing nothing */
};

/* Hold SIGINT, SIGTERM and SIGHUP (block them) from here until
 * ws_daemon_run's loop can take them, so one that comes while replicate
 * starts (a restore on boot takes them for its run) shuts it down
 * cleanly instead of killing it. */
void ws_daemon_hold_signals(void);

/* Replicate every database in cfg until a signal arrives, or, with
 * cfg->exec, until the application exits, or, with o->once, until
 * everything committed at the start is shipped (o may be NULL).  Returns
 * WS_OK after a clean shutdown in which everything committed was
 * shipped; *end says how it ended either way. */
int ws_daemon_run(const struct ws_config *cfg, const struct ws_daemon_opts *o,
                  struct ws_daemon_end *end, struct ws_err *err);

#endif
