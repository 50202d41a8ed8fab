/*
 * daemon_int.h: the daemon's rooms, private to them (daemon.h is the
 * public side: `walship replicate`).  Include it only from the files of
 * the daemon: daemon.c, watch.c, ship.c, ship_job.c, retain.c, serve.c,
 * app.c and dirwatch.c.
 *
 * One libuv loop owns every piece of state below; the rooms are the
 * deciders that read and change it, each in its own file:
 *
 *   daemon.c    set-up and teardown, the database's sync jobs (one at a
 *               time on the thread pool), saying stalls, start and stop
 *               (signals, the final sync, shutdown-sync-timeout);
 *   watch.c     change detection: file events, wal-index polling while
 *               writes go on, the stat() fallback;
 *   ship.c      each replica's shipper: what it uploads next, its
 *               failures and back-off, the commit times it owes;
 *   ship_job.c  the shipper's jobs, one request each (snapshot, commit
 *               times, records, segments, the position at start-up) and
 *               their completions;
 *   retain.c    each replica's retention loop (the plan: retention.h);
 *   serve.c     what the daemon answers: `walship sync` (the durability
 *               barrier) and `walship verify` on the control endpoint,
 *               -once's end, /metrics, /healthz and the heartbeat, the
 *               restore drills' hooks;
 *   app.c       the application under -exec;
 *   dirwatch.c  databases that appear under a directory entry with
 *               watch: true.
 *
 * A database (struct dbrep) is stepped by ws_daemon_step(): every
 * callback that changes what it waits for records what happened in the
 * structs and calls it (or ws_ship_step() for one replica).  Functions
 * here are named after the room that defines them (ws_daemon_,
 * ws_watch_, ws_ship_, ws_retain_, ws_serve_, ws_app_).
 */
#ifndef WS_DAEMON_INT_H
#define WS_DAEMON_INT_H

#include "ws/barrier.h"
#include "ws/child.h"
#include "ws/config.h"
#include "ws/control.h"
#include "ws/daemon.h"
#include "ws/db.h"
#include "ws/digest.h"
#include "ws/heartbeat.h"
#include "ws/httpd.h"
#include "ws/layout.h"
#include "ws/log.h"
#include "ws/lz4f.h"
#include "ws/metrics.h"
#include "ws/replica.h"
#include "ws/retention.h"
#include "ws/slow.h"
#include "ws/stall.h"
#include "ws/times.h"
#include "ws/validate.h"

#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#define BACKOFF_MAX_MS 30000 /* the longest wait between two tries */
#define STOP_RETRIES 3       /* tries of a failing upload at shutdown and
                              * in -once, and of a sync in -once */

struct daemon;
struct dbrep;
struct dirwatch;

enum repstate { R_IDLE, R_BUSY, R_BACKOFF, R_FAILED };

struct rep {
    struct dbrep *d;
    const struct ws_replica_config *cfg;
    struct ws_replica *client;
    enum repstate state;
    int inited;              /* position known */
    char gen[WS_GEN_LEN + 1];/* generation of the position */
    int has_snapshot;        /* the replica has a snapshot in gen */
    uint32_t snap_index;     /* ...the highest index that has one */
    uint64_t snap_off;       /* ...and its position (UINT64_MAX: unknown) */
    uint32_t index;          /* next byte to ship: (index, offset) */
    uint64_t offset;
    int64_t last_put_ms;
    int64_t last_snap_ms;    /* wall time of the newest snapshot in gen */
    int config_failures;     /* consecutive refusals (WS_ECONFIG) */
    struct ws_stall stall;   /* uploads failing (stall.h) */
    char known_gen[WS_GEN_LEN + 1]; /* the replica was seen to hold a
                                     * snapshot of this generation */
    char ret_gen[WS_GEN_LEN + 1];   /* ...as a retention listing began */
    int snap_first;          /* the snapshot in flight starts the gen */
    int failures;
    uint64_t tsent;          /* commit times before this one are shipped */
    int64_t times_ms;        /* when the last times object was shipped */
    int snap_held;           /* a snapshot of this replica holds syncs */
    struct ws_tpoint snap_rec;/* the next snapshot's record, */
    char rec_gen[WS_GEN_LEN + 1]; /* of this generation ("": none), */
    int rec_sent;            /* in the replica */
    int job_rec;             /* the times job in flight is snap_rec */
    const char *snap_why;    /* the due snapshot's reason (NULL: none) */
    int snap_deferred;       /* 1: its deferral was logged, -1: that it
                              * may start */
    struct ws_tlist tjob;    /* the records of the times job in flight */
    int force_snap;          /* retention wants a new snapshot */
    const char *force_why;   /* ...or -force-snapshot (NULL: retention) */
    /* Records that bind the generation's objects (daemon.h). */
    struct ws_sha256 snap_sha;    /* over the snapshot in flight's bytes */
    uint8_t snap_digest[WS_DIGEST_LEN]; /* ...once it is produced */
    struct ws_diginfo dig;   /* the digest record to write, */
    char dig_gen[WS_GEN_LEN + 1]; /* of this generation ("": none) */
    char **stale;            /* snapshot records the last listing showed */
    size_t nstale;           /* with no snapshot in the generation */
    struct ws_idxinfo irec;  /* the index record in flight, */
    char irec_gen[WS_GEN_LEN + 1]; /* ...and the last one written: of */
    uint32_t irec_done;      /* this generation and index */

    /* Retention (its own request: it runs beside shipping). */
    uv_timer_t ret_timer;
    struct ws_req ret_req;
    int ret_busy;
    struct ws_retention_plan plan;
    char **ret_keys;             /* the plan's exact keys (borrowed), */
    size_t ret_nkeys;            /* deleted in one request */
    size_t ret_next, ret_failed; /* the next plan key; keys not deleted */
    int ret_lock;
    int ret_done;            /* -once: retention was applied (or is not
                              * asked for) */
    int ret_runs;            /* -once: retention runs so far */
    uv_timer_t timer;

    /* The request in flight and what it is about. */
    struct ws_req req;
    int job;                 /* J_LIST, J_GET, J_SNAP, J_SEG, ... */
    char job_gen[WS_GEN_LEN + 1];
    uint32_t job_index;
    uint64_t job_start, job_end;
    char *job_path;          /* shadow file of a segment */
    int64_t job_t0;
    /* A request that gets no answer is said while it lasts (slow.h):
     * the backends give up on a silent server only after minutes. */
    struct ws_slow slow;
    void (*job_cb)(struct ws_req *req);
    char said_gen[WS_GEN_LEN + 1]; /* the position last logged at INFO */
    uint32_t said_index;
    uint64_t said_offset;
    struct ws_lz4r *lz;      /* tail check at start-up */
    struct ws_frames tail;   /* what we hold there (tail_open) */
    int tail_open;
    uint8_t *tail_frame;     /* the frame being compared, then ours */
    int tail_last;           /* the last whole frame was compared */
    uint64_t tail_off;
    int tail_mismatch;

    /* For /metrics (metrics.h), and the position last known shipped,
     * kept while a failure makes the replica list itself again (the
     * replication lag counts from there meanwhile). */
    struct ws_repmetrics m;
    int m_has;
    char m_gen[WS_GEN_LEN + 1];
    uint32_t m_index;
    uint64_t m_offset;
};

enum { J_LIST, J_GET, J_SNAP, J_SEG, J_TIMES, J_INDEX, J_DIGEST, J_STALE };

/* Observations of the wal-index (db.h), oldest first. */
struct seen_list {
    struct ws_db_seen *v;
    size_t n, cap;
};

struct dbrep {
    struct daemon *dm;
    const struct ws_db_config *cfg;
    char *wal_path;          /* cfg->path + "-wal" */
    struct ws_db *db;
    struct ws_db_state st;   /* the last completed sync */
    int syncing;
    int snapshotting;
    int dirty;
    int stopping;
    int final_synced;
    int job_final;           /* the sync in flight started after the signal */
    int done;
    int once_synced;         /* -once: a sync after the start succeeded */
    int64_t next_sync_ms;
    int64_t spacing_ms;      /* copies at most this often while active */
    const char *new_gen;     /* requested by a replica check */
    char new_gen_buf[WS_ERR_MSG];
    struct ws_stall stall;   /* syncs failing, or the database awaited */
    struct ws_stall spool;   /* the spool limit holds frames back */
    int corrupt_run;         /* syncs in a row that lost continuity */
    int held;                /* the last sync left frames in the -wal */
    int seal_wanted;         /* the next sync seals the index (a deferred
                              * snapshot waits for the next one) */
    int64_t seal_next_ms;    /* ...asked again no sooner than this */
    int64_t seal_backoff_ms;
    uint64_t syncs;          /* completed syncs */
    int64_t last_copy_ms;    /* when a sync last copied anything */
    /* Observed commit times (times.h) of generation st.gen not yet
     * shipped to every replica; tl.v[0] has sequence number tl_base. */
    struct ws_tlist tl;
    char tl_gen[WS_GEN_LEN + 1];
    uint64_t tl_base;
    int tl_warned;
    int64_t wal_mtime_ns;
    int64_t wal_size;
    int events_on;
    int watch_ok;            /* both watches on the files now at the paths */
    int active;              /* watches off, the tick follows the writes */
    int quiet_ticks;         /* ticks since the last new commit */
    int64_t tick_mtime_ns;   /* the -wal as the last tick saw it */
    int64_t tick_size;
    dev_t db_dev, wal_dev;   /* what the watches were put on */
    ino_t db_ino, wal_ino;
    uint64_t poll_ms;        /* the poll's current period */
    int64_t sync_start_ms;   /* when the last sync started */
    struct seen_list seen;   /* observations for the next sync */
    struct seen_list seen_job; /* ...and those lent to the one in flight */
    struct ws_db_seen last_seen;

    uv_work_t work;
    struct ws_db_sync_opts job_opts;
    struct ws_db_state job_st;
    struct ws_err job_err;
    int job_rc;

    uv_timer_t poll;
    uv_timer_t kick;
    uv_timer_t ckpt;      /* an idle database's due checkpoint */
    uv_timer_t tick;      /* reads the wal-index while active */
    uv_fs_event_t ev_wal;
    uv_fs_event_t ev_db;
    struct rep *reps;
    size_t nreps;
    struct ws_validator *val; /* restore drills (validate.h) */
    struct ws_dbmetrics m;   /* for /metrics (metrics.h) */

    /* The control endpoint (control.h) and `walship sync` (barrier). */
    struct ws_ctl *ctl;
    int ctl_failed;          /* binding it failed, and was said */
    uint64_t started;        /* syncs started */
    struct ws_barrier bar;   /* sync requests not answered yet */
    struct ws_barrier_rep *bar_reps; /* the replicas, as bar sees them */
    uv_timer_t bar_timer;    /* the earliest of their deadlines */
};

/* The daemon's life: it runs, then stops (ws_daemon_shutdown: no new
 * work, the final sync and uploads), then closes its handles once every
 * database is done, or at once when it could not start (check_done).
 * shutdown-sync-timeout can end the stopping (abandoned): the loop then
 * ends with work in flight. */
enum dm_phase { DM_RUNNING, DM_STOPPING, DM_CLOSING };

struct daemon {
    uv_loop_t loop;
    const struct ws_config *cfg;
    struct dbrep **dbs;      /* each allocated on its own: it holds handles
                              * and never moves (ws_daemon_add_db) */
    size_t ndbs, cap_dbs;
    struct ws_db_config **own_cfgs; /* entries of databases found at run
                              * time (dirwatch.c), the daemon's to free */
    size_t nown_cfgs;
    struct dbrep **dead;     /* databases found at run time whose set-up
                              * failed: closed, freed at teardown */
    size_t ndead;
    struct dirwatch *dirw;   /* the directory entries with watch: true */
    size_t ndirw;
    uv_signal_t sigint, sigterm;
    uv_signal_t sighup;      /* as SIGTERM; -exec: forwarded to the app */
    uv_timer_t shut_timer;   /* shutdown-sync-timeout */
    uv_check_t ready_check;  /* -exec: starts the application when ready */
    struct ws_child child;   /* -exec's application (child.h), or only
                              * the orphan reaper of PID 1 */
    int reaping;             /* ...is initialised */
    int has_child;           /* ...the application is configured */
    int child_stopping;      /* ...was sent SIGTERM by walship itself */
    int child_status;        /* ...its exit status, or -1 */
    struct ws_err child_err; /* ...why it could not be started */
    enum dm_phase phase;     /* running, stopping or closing (above) */
    int abandoned;           /* the final sync outlived its timeout: the
                              * loop was stopped with work in flight */
    struct ws_err fatal;     /* what stopped the daemon, if anything */
    int failed;              /* something committed was not shipped */
    struct ws_err failure;   /* the first cause of it, for the exit status */
    struct ws_err lost;      /* ...the first database and replica the final
                              * sync gave up on, when that was the cause */
    struct ws_httpd *httpd;  /* /metrics and /healthz, or NULL */
    struct ws_heartbeat *hb; /* heartbeat-url's pings, or NULL */
    struct ws_daemon_opts opts;
    int ret_failed;          /* -once -enforce-retention: a delete or
                              * listing failed */
};

/* ---- dirwatch.c --------------------------------------------------------- */

/* Watch the directory entries with watch: true (not under -once), and
 * add the databases that appear there; close their handles; free them
 * once closed. */
int ws_dirwatch_start(struct daemon *dm, struct ws_err *err);
void ws_dirwatch_close(struct daemon *dm);
void ws_dirwatch_free(struct daemon *dm);

/* ---- daemon.c ----------------------------------------------------------- */

/* What d waits for has changed: start its next sync when due, or its
 * last one at shutdown, and see whether the daemon is done. */
void ws_daemon_step(struct dbrep *d);

/* A database found while running (dirwatch.c), with its entry c, which
 * the daemon now owns: set up and started as those of the config were.
 * When its set-up fails it is closed and kept aside (freed at the
 * end), and err says why. */
int ws_daemon_add_db(struct daemon *dm, struct ws_db_config *c,
                     struct ws_err *err);

/* Something committed will not be shipped, because of e (at the database
 * or at a replica, when e does not say): the first cause gives the exit
 * status its kind. */
void ws_daemon_unshipped(struct daemon *dm, const struct ws_err *e, int at);

/* Something committed will not be in a replica when walship exits (the
 * final sync failed, gave up or timed out): the exit status says so, and
 * its message names the first database and replica it happened to. */
void ws_daemon_lost(struct daemon *dm, const char *db, const char *replica,
                    int code, const char *why);

/* Why the daemon stops (ws_daemon_shutdown). */
enum stop_why {
    STOP_SIGNAL,    /* SIGINT, SIGTERM or SIGHUP */
    STOP_FATAL,     /* replication cannot go on: dm->fatal says why */
    STOP_ONCE,      /* -once: everything it waited for is done */
    STOP_APP_EXIT,  /* -exec: the application exited (dm->child) */
    STOP_APP_START  /* ...or could not be started (dm->child_err) */
};

/*
 * The one way the daemon stops, whatever the cause: say the cause, then
 * stop new work and ship what is committed (the final sync, bounded by
 * shutdown-sync-timeout).  The exit status comes from what the cause
 * recorded (dm->fatal, dm->child_err, dm->child_status) and from the
 * final sync.  While -exec's application runs, a signal (signum) is
 * forwarded to it and any other cause stops it first: walship stops when
 * it has exited (STOP_APP_EXIT).  A second signal exits at once; another
 * cause while stopping changes nothing.
 */
void ws_daemon_shutdown(struct daemon *dm, enum stop_why why, int signum);

/* The thing s tracks failed for cause kind (what, printf-style): say so
 * when due (stall.h), with the wait that follows (ms; -1: none said),
 * after prefix, and return that wait. */
int64_t ws_daemon_stall_on(struct ws_stall *s, int kind,
                           enum ws_log_level level, const char *prefix,
                           int64_t ms, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* The thing s tracks works again: say so if a stall was said. */
void ws_daemon_stall_off(struct ws_stall *s);

/* ms as a duration for the log ("1.5s"). */
void ws_daemon_fmt_ms(int64_t ms, char *buf, size_t n);

/* ---- watch.c ------------------------------------------------------------ */

/* (Re)start the file events on the database and its -wal. */
void ws_watch_arm(struct dbrep *d);

/* Set the stat() poll's period from monitor-interval and the watches. */
void ws_watch_pace(struct dbrep *d);

/* The database at the path is another file now (or none): forget what
 * was watched and observed of the old one. */
void ws_watch_replaced(struct dbrep *d);

/* The sync in flight is done with the wal-index observations lent to it
 * (db.h): keep what it did not use, followed by those made meanwhile. */
void ws_watch_seen_return(struct dbrep *d);

/* ---- ship.c ------------------------------------------------------------- */

/* Start r's next job if it is idle and has something to do. */
void ws_ship_step(struct rep *r);

/* 1 when r holds everything the last sync copied (or has failed); when
 * every replica of d does. */
int ws_ship_caught_up(struct rep *r);
int ws_ship_db_caught_up(struct dbrep *d);

/* A listing (g: the current generation in it, or NULL) shows whether the
 * replica still holds the snapshot it was seen to hold in gen; 1 when it
 * does not (a new generation is started). */
int ws_ship_gone(struct rep *r, const char *gen, const struct ws_geninfo *g);

/* Shadow WAL bytes r has not shipped yet. */
int64_t ws_ship_spool(const struct rep *r);

/* Commit times (times.h): take those a sync observed; drop those every
 * replica has shipped. */
void ws_ship_times_take(struct dbrep *d, const struct ws_db_state *s);
void ws_ship_times_trim(struct dbrep *d);

/* The request in flight has had no answer for a while (slow.h). */
void ws_ship_on_slow(struct ws_slow *s, const char *waited);

/* Prepare r's request for one job (J_*); the caller fills the key and
 * the type's fields, then submits.  cb is called when it is done. */
struct ws_req *ws_ship_req(struct rep *r, int job, enum ws_reqtype type,
                           void (*cb)(struct ws_req *));

/* A job succeeded (r is idle again, and its position may have moved);
 * a job failed (what: the job's name for the log). */
void ws_ship_after(struct rep *r);
void ws_ship_fail(struct rep *r, const char *what);

/* r's snapshot no longer holds syncs. */
void ws_ship_release(struct rep *r);

/* Where the shadow holds committed bytes for index i; 0 when it does not
 * hold it. */
int ws_ship_shadow_end(const struct dbrep *d, uint32_t i, uint64_t *end);

/* ---- ship_job.c ------------------------------------------------------- */

/* The jobs: r's snapshot at its record's position; commit times v[0..n)
 * (rec: the snapshot's record); deleting the stale snapshot records; an
 * index record (J_INDEX) or digest record (J_DIGEST); the next segment
 * (or the index record before it); the listing that finds r's
 * position. */
void ws_ship_start_snapshot(struct rep *r);
void ws_ship_start_times(struct rep *r, const struct ws_tpoint *v, size_t n,
                         int rec);
void ws_ship_start_stale(struct rep *r);
void ws_ship_start_record(struct rep *r, int job);
void ws_ship_start_segment(struct rep *r);
void ws_ship_start_init(struct rep *r);

/* Forget the stale snapshot records r->stale. */
void ws_ship_stale_free(struct rep *r);

/* Free a start-up tail check that never ended (its request was cut off
 * by the stop), after the replica's client is freed. */
void ws_ship_tail_free(struct rep *r);

/* ---- retain.c --------------------------------------------------------- */

/* Run retention on the replica whose ret_timer t is, unless it runs. */
void ws_retain_on_timer(uv_timer_t *t);

/* ---- serve.c ---------------------------------------------------------- */

/* The durability barrier: a sync finished; answer what is done. */
void ws_serve_barrier_synced(struct dbrep *d);
void ws_serve_barrier_check(struct dbrep *d);

/* Serve d's control endpoint once it replicates (new_gen: again if the
 * meta dir was replaced). */
void ws_serve_ctl(struct dbrep *d, int new_gen);

/* -once: a sync before the shutdown finished; stop when all is done. */
void ws_serve_once_synced(struct dbrep *d, const struct ws_db_state *s);
void ws_serve_once_check(struct daemon *dm);

/* The metrics server and the heartbeat, when configured. */
int ws_serve_observers_start(struct daemon *dm, struct ws_err *err);

/* The restore drills' hooks (validate.h); ctx is the dbrep. */
void ws_serve_val_kick(void *ctx);
int ws_serve_val_rep_pos(void *ctx, size_t k, const char **gen,
                         uint32_t *index, uint64_t *offset);

/* ---- app.c ------------------------------------------------------------ */

/* Under -exec, while the application runs (child.h), a stop is its: a
 * signal (signum) is forwarded to it, another cause (signum 0) stops it
 * with SIGTERM, once.  1 when the application runs. */
int ws_app_signal(struct daemon *dm, int signum);

/* The application exited; the loop turned (start it once ready). */
void ws_app_on_exit(struct ws_child *c);
void ws_app_on_ready(uv_check_t *h);

#endif
