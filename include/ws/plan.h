/*
 * plan.h: what a restore will fetch, and the moment it restores to.
 * Pure: works on a catalog (layout.h) and commit-time records (times.h).
 *
 * A target is a position (index, offset): every frame of indexes below
 * `index`, and the frames of `index` that end at or before `offset`
 * (WS_POS_END: all of them).  It always falls on a commit.
 *
 * For a time T the target is the newest of: the last commit recorded at
 * or before T (walship's records, to the transaction); the end of the
 * last WAL segment such that it and every segment before it were written
 * at or before T (object times, as Litestream does; replicas Litestream
 * wrote have only these); and a snapshot recorded at or before T.
 *
 * The snapshot used is the highest one that holds nothing past the
 * target: below the target's index, or in it with its record's offset at
 * or before the target (a snapshot without a record, as Litestream
 * writes them, qualifies in the target's index only if it was written at
 * or before T).
 */
#ifndef WS_PLAN_H
#define WS_PLAN_H

#include <stdint.h>

#include "ws/err.h"
#include "ws/layout.h"
#include "ws/times.h"

struct ws_plan_req {
    int has_time;
    int64_t time_us;
    int has_index;
    uint32_t index;
};

struct ws_plan {
    const struct ws_geninfo *g;
    const struct ws_snapinfo *snap;
    uint64_t snap_safe;     /* the snapshot's recorded offset (0: none) */
    uint32_t index;         /* the target */
    uint64_t offset;
    size_t seg0, nsegs;     /* g->segs[seg0, seg0 + nsegs) */
    uint64_t bytes;         /* stored bytes to fetch */
    int64_t time_us;        /* the moment restored to */
    int precise;            /* time_us is a recorded commit time */
    int newest;             /* the target is the newest data there is */
};

/* Plan a restore of g.  recs: g's commit records that matter (sorted
 * with ws_tlist_sort; may be empty).  WS_ENOTFOUND: g has nothing to
 * restore at that time or index (err says why). */
int ws_plan_make(const struct ws_geninfo *g, const struct ws_tlist *recs,
                 const struct ws_plan_req *q, struct ws_plan *p,
                 struct ws_err *err);

/* The commit-time object of g to download for q: the last one started
 * at or before T (or the last one without T), or NULL when none. */
const struct ws_timesinfo *ws_plan_times_obj(const struct ws_geninfo *g,
                                             const struct ws_plan_req *q);

/* The oldest moment g can restore to (us), or 0 when it has no
 * snapshot. */
int64_t ws_plan_oldest(const struct ws_geninfo *g);

/* Commit records named by g's commit-time objects (duplicates from
 * retried uploads counted once). */
uint64_t ws_plan_ntx(const struct ws_geninfo *g);

/* Format t_us as RFC 3339 UTC with microseconds into buf (>= 32). */
void ws_time_fmt(int64_t t_us, char *buf, size_t n);

/* Parse RFC 3339 ("2006-01-02T15:04:05.999999999Z07:00").  WS_EUSAGE
 * when malformed. */
int ws_time_parse(const char *s, int64_t *t_us);

#endif
