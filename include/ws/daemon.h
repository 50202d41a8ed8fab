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
 * timer (daemon.c, "change detection"), with a stat() poll as the
 * fallback.  Copies are paced, uploads follow sync-interval, but a commit
 * after a quiet period ships at once.
 * A database that does not exist yet, syncs or uploads that fail, and
 * the spool limit are waited out on a timer, never in a loop, and said
 * when they begin, while they last and when they end (stall.h).  A
 * database replaced at its path is followed into a new generation, and
 * so is a replica that lost the generation being written.
 * SIGINT or SIGTERM stop new work, run one last sync and ship everything
 * that was committed, then exit.
 */
#ifndef WS_DAEMON_H
#define WS_DAEMON_H

#include "ws/config.h"
#include "ws/err.h"

/* Replicate every database in cfg until a signal arrives.  Returns WS_OK
 * after a clean shutdown in which everything committed was shipped. */
int ws_daemon_run(const struct ws_config *cfg, struct ws_err *err);

#endif
