/*
 * restore_int.h: the restore's rooms, private to them (restore.h is the
 * public side: `walship restore`).  Include it only from the files of
 * the restore: restore.c, restore_plan.c, restore_fetch.c,
 * restore_apply.c, restore_target.c and restore_finish.c.
 *
 * One libuv loop owns a restore's state (struct rs, one attempt on one
 * replica; struct target, the output); the rooms are the deciders that
 * read and change it, each in its own file:
 *
 *   restore.c          the whole restore: the order of the steps, one
 *                      replica after the other when one fails, what
 *                      is said about the position restored to;
 *   restore_plan.c     listing the replicas, catalogs and the choice of
 *                      a generation and its plan; restore -list;
 *   restore_fetch.c    downloads (struct obj), the spool and the
 *                      snapshot's bytes; the watch on a request;
 *   restore_apply.c    pass 1 (verify, page map), pass 2 (writes) and
 *                      the driver that paces them (ws_rapply_pump);
 *   restore_target.c   the output path, the temporary file, signals;
 *   restore_finish.c   fsync, integrity_check, carrying the position
 *                      over.
 *
 * Functions here are named after the room that defines them
 * (ws_rplan_, ws_rfetch_, ws_rapply_, ws_rtarget_, ws_rfinish_).  An
 * object's state (F_*) moves F_WAIT -> F_FETCH -> F_HAVE in the fetch
 * room, F_CHECKING -> F_CHECKED -> F_APPLYING -> F_DONE in the apply
 * room.
 */
#ifndef WS_RESTORE_INT_H
#define WS_RESTORE_INT_H

#include "ws/restore.h"
#include "ws/digest.h"
#include "ws/fs.h"
#include "ws/lz4f.h"
#include "ws/meta.h"
#include "ws/pagemap.h"
#include "ws/plan.h"
#include "ws/replica.h"
#include "ws/slow.h"
#include "ws/times.h"
#include "ws/wal.h"

#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <uv.h>

#define MAX_OBJECT (1ULL << 40)    /* listed size and decoded size of one
                                    * object; with WS_LIST_MAX_KEYS (10^7 <
                                    * 2^24) objects at most, their sum fits
                                    * in 64 bits */
#define DB_HDR 100                 /* the database header, in page 1 */
#define SPOOL_CHUNK (1024 * 1024) /* the spool's unit of allocation */

enum { F_WAIT, F_FETCH, F_HAVE, F_CHECKING, F_CHECKED, F_APPLYING, F_DONE };

struct rs;

/* A request to a replica, said while it waits for an answer (slow.h). */
struct watch {
    struct ws_slow slow;
    const char *db;           /* for the log (ws_restore_opts.db) */
    const struct ws_replica *r;
    enum ws_reqtype type;
    const char *key;
    int closed;
};

/* One object to fetch: the snapshot (k == -1) or a WAL segment. */
struct obj {
    struct rs *rs;
    long k;
    char key[WS_KEY_MAX];
    const struct ws_seginfo *si;
    uint64_t *chunks;         /* segments: where their bytes are in the */
    size_t nchunks, cchunks;  /* spool, SPOOL_CHUNK bytes each */
    uint64_t got;
    int state;
    int tries;
    int local_fail;           /* a write of ours failed: not retried */
    struct ws_lz4r *scan;     /* segments: the frame's shape as it comes */
    struct ws_lz4r *peek;     /* segments: decodes the first bytes only */
    uint8_t head[WS_WAL_HDR_SIZE]; /* ... into here, until checked */
    size_t nhead;
    int head_bad;             /* ... and they were refused */
    struct ws_req req;
    struct watch watch;       /* on req */
    uv_work_t work;
    uint64_t *wins;           /* frames to write, by stream position */
    size_t nwins, cwins;
};

struct rs {
    uv_loop_t *loop;
    const char *db;           /* for the log (ws_restore_opts.db) */
    struct ws_replica *r;
    const struct ws_plan *p;
    const struct ws_tlist *recs; /* the plan's commit records */
    int par;
    int fd;                   /* the temporary database */
    int spool;
    const struct ws_fs_dir *dir; /* the output's directory */
    const char *base;         /* ".<name>": temporary names start so */
    uint64_t spool_next;      /* atomic: the next free chunk's offset */
    char tmp[4200];
    char spool_name[4400];    /* unlinked at once; for messages */

    struct obj snap;
    struct ws_sha256 ssha;    /* over its stored bytes, as they come */
    struct ws_lz4r *slz;
    uint64_t soff;            /* snapshot bytes decoded */
    uint8_t shdr[DB_HDR];     /* its database header, once soff >= 100 */
    uint64_t swrite;          /* bytes of it written: N pages, or all */
    uint32_t page_size;
    uint32_t snap_pages;      /* pages the snapshot brings (pass 2) */
    uint32_t final_pages;     /* the restored database's size (pass 2) */

    struct obj *segs;
    size_t n, next_fetch, next_check, next_apply, applied;
    int inflight, checking, applying, pass2;

    /* Owned by the check job (one at a time, in order).  map.seg is 1 +
     * the segment number, map.pos the frame's position in its stream. */
    struct ws_walv v;
    size_t vseg;
    size_t vfirst;            /* the first segment of v's index */
    struct ws_pagemap map;
    uint32_t db_pages;        /* database size at the last commit */
    size_t db_seg;            /* ... which ends in this segment */
    uint64_t db_off;          /* ... at this offset of its index */
    uint32_t wal_page_size;
    int cut_hit;
    int snap_reached;         /* the snapshot's record offset was met */
    int ntx;                  /* commits replayed */
    uint32_t tx_max;          /* the open transaction's highest page */
    size_t tx_max_seg;        /* ... and where its frame is */
    uint64_t tx_max_off;
    uint32_t first_max;       /* the first transaction's, if past its */
    uint32_t first_commit;    /* commit (checked against the snapshot) */
    size_t first_seg;
    uint64_t first_off;

    /* Carrying the position over (meta.h): the last index's WAL bytes,
     * kept as a shadow file while they are verified. */
    int carry;
    int carry_fd;             /* unlinked file beside the output */
    uint64_t carry_size;

    int rc;
    struct ws_err err;
    int done;

    uint64_t bytes_in;        /* atomic: downloaded bytes */
    size_t objs_done;
    int tty;
    int64_t t0, last_log;
    uv_timer_t prog;
};

/* The generation restore_plan.c chose, its plan and its commit records,
 * and the replica (reps[ri]) it is in. */
struct choice {
    struct ws_plan plan;
    struct ws_tlist recs;
    size_t ri;
    int ok;
};

/*
 * Where a restore writes.  The output's directory is opened once and
 * checked by fs.h's rule (a sticky one such as /tmp is fine, and so is
 * one others can write in: see below); everything after goes through
 * that descriptor.
 *
 * The database is built in a file that has no name (O_TMPFILE) in that
 * directory, checked through its descriptor and then linked to the
 * output's name, which never replaces anything: nobody else can reach
 * the file before it is published, and what is published is the file
 * that was built and checked.  Where the filesystem cannot make an
 * unnamed file, the database is built in ".<name>.tmp-XXXXXX" there,
 * flock()ed while the restore lives (so that the next restore to the
 * same output can tell a file left by SIGKILL from a running restore's),
 * and renamed to the output after checking that the name is still our
 * file, and the output that it is ours after the rename (fs.h,
 * ws_fs_tmp_publish): someone who can write in the directory and swaps
 * the temporary file fails the restore, which then publishes nothing and
 * empties its own file wherever it was moved.  The spool and the file
 * that carries the position are unnamed (or unlinked at once) likewise.
 * The meta dir (meta.h) is created only once the restore has
 * succeeded, and only to carry the position over.
 */
struct target {
    const char *db;           /* for the log (ws_restore_opts.db) */
    const char *out;          /* the output path */
    const char *name;         /* its last component */
    char base[NAME_MAX + 1];  /* ".<name>": temporary names start so */
    struct ws_fs_dir dir;     /* the output's directory */
    char tmp[NAME_MAX + 1];   /* the temporary file in dir; "" when none
                               * or unnamed */
    int fd;                   /* the file being built, or -1 */
    char *meta;               /* the meta dir to carry the position to */
    int sfd;                  /* signalfd of SIGINT and SIGTERM, or -1 */
    uv_poll_t sigpoll;        /* ...watched on the loop */
    int sigs;                 /* 1: sigpoll is open */
    sigset_t mask;            /* the thread's signal mask before */
};

/*
 * The tail of a restore, on the pool while the loop keeps taking
 * signals: the fsync of the built file and, when the position is carried
 * over, its hash, beside PRAGMA integrity_check.  Both only read what
 * integrity_check reads.
 */
struct finish {
    uv_work_t work, check;
    struct rs *rs;
    struct ws_resume r;
    int rc, crc;              /* sync and hash; integrity_check */
    int left;                 /* jobs not done */
    struct ws_err err, cerr;
};

/* restore_apply.c */
void ws_rapply_pump(struct rs *rs);
int ws_rapply_build(struct rs *rs, struct ws_err *err);

/* restore_fetch.c */
void ws_rfetch_watch_init(struct watch *w, const char *db,
                          const struct ws_replica *r, enum ws_reqtype type,
                          const char *key);
void ws_rfetch_watch_begin(struct watch *w, const char *db,
                           const struct ws_replica *r, enum ws_reqtype type,
                           const char *key);
void ws_rfetch_watch_end(struct watch *w);
int ws_rfetch_run_watched(const char *db, struct ws_replica *r,
                          struct ws_req *req);
void ws_rfetch_on_watch_closed(uv_handle_t *h);
void ws_rfetch_fail(struct rs *rs, const struct ws_err *e);
int ws_rfetch_target_cut(const struct rs *rs, uint32_t index);
int ws_rfetch_local_write(struct obj *o, int fd, const char *name,
                          const void *buf, size_t len, uint64_t off,
                          struct ws_err *err);
int ws_rfetch_db_header(const uint8_t *h, uint32_t *page_size,
                        uint32_t *pages);
int ws_rfetch_u64_push(uint64_t **v, size_t *n, size_t *cap, size_t first,
                       uint64_t x, struct ws_err *err);
void ws_rfetch_start(struct obj *o);

/* restore_finish.c */
void ws_rfinish_carry_install(struct rs *rs, struct finish *h,
                              const char *meta);
void ws_rfinish_carry_open(struct rs *rs, const struct target *t);
int ws_rfinish_carry_wanted(const struct choice *c,
                            const struct ws_catalog *cats, size_t n,
                            const struct ws_restore_opts *o);
void ws_rfinish_start(struct rs *rs, struct finish *f);
int ws_rfinish_wait(struct rs *rs, struct finish *f, struct ws_err *err);

/* restore_plan.c */
int ws_rplan_choose(struct ws_replica *const *reps, size_t n,
                    const struct ws_restore_opts *o,
                    const struct ws_catalog *cats, const char *out_of,
                    const struct ws_geninfo *said, struct choice *best,
                    size_t *bad, struct ws_err *err);
int ws_rplan_list_all(struct ws_replica *const *reps, size_t n, const char *db,
                      struct ws_catalog *cats, struct ws_err *err);
int ws_rplan_list_windows(struct ws_replica *const *reps, size_t n,
                          const struct ws_restore_opts *o,
                          struct ws_catalog *cats, struct ws_err *err);
void ws_rplan_log(const struct choice *c, struct ws_replica *r,
                  const struct ws_restore_opts *o);

/* restore_target.c */
int ws_rtarget_check(struct target *t, const struct ws_restore_opts *o,
                     struct ws_err *err);
int ws_rtarget_tmp(struct target *t, struct rs *rs, struct ws_err *err);
int ws_rtarget_unlink(const struct target *t);
void ws_rtarget_signals_start(struct target *t, uv_loop_t *loop);
void ws_rtarget_signals_hold(struct target *t);
void ws_rtarget_signals_stop(struct target *t, uv_loop_t *loop, int done,
                             int to_caller);

#endif
