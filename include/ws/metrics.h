/*
 * metrics.h: the counters walship keeps for /metrics, and their text.
 *
 * The daemon keeps one struct ws_dbmetrics per database and one struct
 * ws_repmetrics per replica, in its own per-database and per-replica
 * state, and counts into them on the loop thread where the events
 * happen (a sync's result, a replica request's answer, a retention
 * run); results of the thread pool are counted when they are merged on
 * the loop.  Gauges (sizes, position, lag, spool) are not kept: the
 * daemon reads them from its state at each scrape and passes them in a
 * view (struct ws_metrics_db), which ws_metrics_render() writes in
 * Prometheus' text exposition format 0.0.4: for each metric family a
 * "# HELP" and a "# TYPE" line, then its samples, one per database or
 * replica, labelled db="PATH" (and replica="NAME",type="file|s3").
 * Label values are escaped as the format wants (\\, \", \n), and each
 * byte that does not start a valid UTF-8 sequence (a path is any bytes)
 * becomes U+FFFD: Prometheus refuses a whole scrape for one label value
 * that is not UTF-8.
 * Counters start at 0 when walship starts (Prometheus' rate() handles
 * the restarts).  Every metric name is listed, with its meaning, in the
 * README's metrics table.
 *
 * Replication lag.  The lag of a replica is the age of the oldest commit
 * of the database that the replica does not hold yet, on the wall clock;
 * 0 when it holds everything committed.  So it stays 0 while nothing is
 * written (an idle database is caught up, however long ago its last
 * commit), and grows with wall time while a replica is stuck behind a
 * commit.  The daemon knows each commit's time (observed from the
 * wal-index, times.h) until every replica has shipped it;
 * ws_metrics_oldest() finds, in those records, the first one past a
 * replica's position.
 */
#ifndef WS_METRICS_H
#define WS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "ws/httpd.h"
#include "ws/replica.h"
#include "ws/times.h"
#include "ws/validate.h"

/* Checkpoint modes, as labels (walship never runs RESTART itself: the
 * series is there, at 0, for dashboards written for other tools). */
enum ws_ckpt_mode {
    WS_CKPT_PASSIVE,
    WS_CKPT_TRUNCATE,
    WS_CKPT_RESTART,
    WS_CKPT_MODES
};

struct ws_dbmetrics {
    uint64_t syncs;                 /* syncs done (ok or not) */
    uint64_t sync_errors;           /* ...that failed */
    uint64_t ckpts[WS_CKPT_MODES];  /* checkpoints by mode */
    int64_t ckpt_us[WS_CKPT_MODES]; /* ...and their total duration */
    int64_t held_us;                /* writers held off by walship */
};

/* Outcome classes of a replica request. */
enum ws_mres { WS_MRES_OK, WS_MRES_NOTFOUND, WS_MRES_ERROR, WS_MRES_N };

struct ws_repmetrics {
    uint64_t reqs[WS_REQ_DEL + 1][WS_MRES_N]; /* by type and outcome */
    uint64_t up_bytes;       /* stored bytes of successful PUTs */
    uint64_t down_bytes;     /* bytes received by GETs */
    uint64_t retries;        /* attempts the backend retried */
    uint64_t failures;       /* jobs that failed (walship backs off) */
    uint64_t retention_runs; /* retention passes started */
    uint64_t deleted;        /* objects retention deleted by key */
    uint64_t deleted_gens;   /* whole generations it deleted */
};

/* Count one finished sync: ok, the checkpoint mode it ran ("PASSIVE",
 * "TRUNCATE", "RESTART" or NULL) and how long it took, and how long the
 * application's writers were held off (microseconds). */
void ws_metrics_sync(struct ws_dbmetrics *m, int ok, const char *ckpt,
                     int64_t ckpt_us, int64_t held_us);

/* Count one finished replica request (its type, rc, retries, bytes). */
void ws_metrics_req(struct ws_repmetrics *m, const struct ws_req *req);

/* The time (time_us) of the first record of v[0..n) (sorted by
 * position) that lies past position (index, offset), or -1 when none
 * does. */
int64_t ws_metrics_oldest(const struct ws_tpoint *v, size_t n, uint32_t index,
                          uint64_t offset);

/* A replica at scrape time. */
struct ws_metrics_rep {
    const char *name, *type;
    const struct ws_repmetrics *m;
    double lag_s;        /* replication lag, seconds */
    int64_t spool_bytes; /* shadow WAL bytes it has not shipped */
};

/* A database at scrape time. */
struct ws_metrics_db {
    const char *path;
    const struct ws_dbmetrics *m;
    int ready;         /* replicating (else awaited or failing) */
    int64_t db_bytes;  /* -1: unknown (no file) */
    int64_t wal_bytes; /* -1: unknown */
    const char *gen;   /* "" while none */
    uint32_t index;    /* shadow position */
    uint64_t offset;
    const struct ws_metrics_rep *reps;
    size_t nreps;
    struct ws_validation_stats val; /* restore drills (validate.h) */
};

/* Write every metric of dbs[0..n) to out (text format 0.0.4), with the
 * summary over all of them first (lag_limit_s: the lag past which a
 * database counts as lagging, health-sync-timeout). */
void ws_metrics_render(const struct ws_metrics_db *dbs, size_t n,
                       double lag_limit_s, struct ws_httpd_body *out);

#define WS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
