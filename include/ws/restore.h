/*
 * restore.h: rebuild a database from a replica, exactly or not at all.
 *
 * The plan (plan.h) picks the generation, the snapshot and the WAL
 * segments for the requested moment: the newest data, a WAL index, or a
 * time, resolved to the transaction with walship's commit-time records
 * and to the segment with object times otherwise.  The plan is printed
 * before anything is downloaded.
 *
 * Execution never replays the WAL through SQLite.  The snapshot streams
 * into a temporary file next to the target while up to `parallelism`
 * segments download at once into an unlinked spool file.  Segments are
 * then verified in order -- the LZ4 frame and its content checksum, the
 * WAL header, every frame's salts and the cumulative checksum chain,
 * segment offsets that meet exactly, each index ending on a commit, the
 * target falling on a commit, each index's start and end against
 * walship's index records, the snapshot against its digest records --
 * while a page map keeps, for every page,
 * only its newest version up to the target.  Only those versions are
 * written over the snapshot, in parallel, then the file is cut to the
 * target's database size, synced, and must pass PRAGMA integrity_check
 * (read through the descriptor it was built in) before it is given the
 * output's name (never over an existing file).  A
 * failed download is retried on its own; anything else names the object
 * at fault and leaves nothing at the target.
 *
 * The target side.  Everything about the output that can be refused is
 * refused before any lock or request: an empty path, a directory that is
 * missing or fails fs.h's rule (sticky allowed), an existing output or
 * -wal or -shm, an existing meta dir that fails the rule.  The output is
 * built in a file without a name in its directory (O_TMPFILE), linked to
 * the output's name once checked, so no name appears beside the output
 * while the restore runs and what is published is exactly the file
 * built and checked, even in a directory others can write in.  Where the
 * filesystem has no unnamed files, it is built in ".<name>.tmp-XXXXXX"
 * (fs.h's safe creation, flock()ed while the restore lives, so that a
 * later restore can remove one that SIGKILL left), which must still be
 * that file when it is renamed to the output, and the output after;
 * a swap fails the restore (fs.h, ws_fs_tmp_publish).  The directory
 * is fsynced after the link; should that fail, the name may not last a
 * crash, and the restore, which fails, takes the name away again (when
 * it still is the file built), so that a failed restore leaves no
 * output.  SIGINT and SIGTERM remove the temporary file and exit 1.
 * The meta dir is created only after the output is published, to carry
 * the position over (meta.h).
 */
#ifndef WS_RESTORE_H
#define WS_RESTORE_H

#include "ws/replica.h"

/* What a restore restored (filled on success when opts asks for it). */
struct ws_restore_result {
    char replica[256];       /* the replica's name */
    char generation[WS_GEN_LEN + 1];
    uint32_t index;          /* the position restored to */
    uint64_t offset;
    int64_t time_us;         /* the moment it stands for (0: unknown) */
    int precise;             /* time_us is a recorded commit time */
    uint32_t page_size;
    uint32_t pages;          /* the restored database's size in pages */
};

struct ws_restore_opts {
    const char *output;      /* target path; must not exist */
    const char *db;          /* the database every log line names (db=):
                              * the database restored (a config's path,
                              * the live database of a drill), or what
                              * stands for it (restore -list of a replica
                              * URL: the URL); NULL: output */
    const char *meta;        /* its meta dir (meta.h), NULL: default */
    const char *generation;  /* restore this generation, or NULL */
    int has_time;            /* -timestamp */
    int64_t time_us;
    int has_index;           /* -index */
    uint32_t index;
    int has_offset;          /* with has_index: exactly (index, offset) */
    uint64_t offset;
    int parallelism;         /* concurrent downloads (default 8) */
    int list;                /* print the restorable windows instead */
    int json;                /* ... as JSON */
    int no_signals;          /* 1: leave SIGINT and SIGTERM to the caller
                              * (a restore inside a running replicate,
                              * validate.h, on a thread of its own) */
    int late_signal_to_caller; /* 1: a signal that comes past the point
                              * of no return stays pending for the caller
                              * (replicate's restore on boot), instead of
                              * being said and dropped */
    int no_carry;            /* 1: carry no position over (a drill's
                              * restore, never replicated from) */
    struct ws_restore_result *result; /* NULL, or filled on success */
};

/* Hold (block) SIGINT and SIGTERM in the calling thread.  A program
 * that restores calls it before it starts any thread, so that every
 * thread holds them and ws_restore alone takes them, from a descriptor
 * of its own (restore_target.c, "SIGINT or SIGTERM while the restore
 * runs"). */
void ws_restore_hold_signals(void);

/* Restore from the best of reps[0..n).  When the replica picked fails
 * its checks (WS_ECORRUPT) or loses an object while it restores, or its
 * generation cannot be planned for damage (a hole in its WAL), the
 * best plan of the others for the same target is restored instead,
 * each step said in a WARN line (louder when it is an older state),
 * in the same unnamed file, emptied first; it fails only when every
 * replica with a plan failed, naming each.  With n == 1 there is no
 * fallback.  WS_ENOTFOUND means "no matching backups found" (nothing
 * to restore at all: no replica has a generation, or none exists), and
 * only that: an object that goes missing during the restore is
 * WS_EREMOTE.  WS_ERANGE a time before the oldest restorable moment. */
int ws_restore(struct ws_replica *const *reps, size_t n,
               const struct ws_restore_opts *o, struct ws_err *err);

#endif
