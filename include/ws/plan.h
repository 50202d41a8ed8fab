/*
 * plan.h: what a restore will fetch, and the moment it restores to.
 * Pure: works on a catalog (layout.h) and commit-time records (times.h).
 *
 * A target is a position (index, offset): every frame of indexes below
 * `index`, and the frames of `index` that end at or before `offset`
 * (WS_POS_END: all of them).  It always falls on a commit.  A restore
 * never includes a transaction committed after the requested time, and
 * it restores only what the objects prove.
 *
 * What a snapshot S of index I serves, from the listing alone:
 *   - need: the highest offset its records name (times.h), 0 without a
 *     record.  Whichever of its records' uploads landed last, S holds
 *     nothing past need.
 *   - S serves alone, as the state at (I, need), when it has exactly one
 *     record and that record is of the image kind (a consistent image at
 *     that position), or when need names no frame (a header at most).
 *     Otherwise S is consistent only with I's WAL replayed over it from
 *     offset 0 to need or further.
 *   - Its reach: with I's WAL there from offset 0, the end of the
 *     unbroken chain of indexes from I on (ws_catalog_chain); without,
 *     (I, need) when S serves alone, and nothing otherwise: S cannot be
 *     used.  (Whether the WAL really reaches need, which a listing of
 *     compressed sizes cannot tell when I is the last index, restore
 *     checks while reading.)
 *   - It serves the targets from (I, need) to its reach; a snapshot
 *     without a record (Litestream writes no records) serves a target
 *     inside I only when it was written at or before the requested time.
 *
 * Candidate moments for a time T, each a position and the time it stands
 * for: the commits recorded at or before T (walship's records, to the
 * transaction); the end of each WAL segment such that it and every
 * segment before it were written at or before T (object times, as
 * Litestream does; replicas Litestream wrote have only these; S3 gives
 * whole seconds, which count as the end of their second); each
 * snapshot's own position (its highest record's time, or its object time
 * without a record).
 *
 * The target for T is the latest candidate at or before T that a usable
 * snapshot serves; without T, the furthest reach of any usable snapshot;
 * with an index J, the same cut at the end of J; with an index J and an
 * offset X, the same cut at (J, X).  The snapshot is the
 * highest that serves the target.  When the request asked for more than
 * the objects prove because a snapshot lacks the WAL it needs (what a
 * crash between two uploads leaves: uploads go in order), the plan says
 * so (skipped) and restores the newest state they prove.  WAL past a
 * hole in the chain is not a crash's doing (lost or deleted objects):
 * that is an error naming the generation and the missing index.
 *
 * Missing newest segments.  Some names prove a commit the replica held:
 * a commit-time object's name (its first record's position, and a
 * commit in its last record's index) and an index record of I (index
 * I - 1 ended at its size).  Both are uploaded only after the segments
 * they describe (daemon.h), so from an object's upload time on, the
 * segments reach what its name proves, whatever crash came between.
 * When a plan for T (the newest state: any time) stops short of the
 * furthest such proof uploaded by T, the segments that held it are gone:
 * the plan fails naming the record, the position and the time of the
 * state the segments do hold (ws_plan_gap), rather than restore an older
 * state as if it were the one asked for.  Where the proof lies inside
 * the target's last index, only the WAL's length tells (a listing gives
 * compressed sizes): the plan carries it (must_reach) and restore checks
 * it once that index is read.  An -index restore asks for a given index
 * and is not checked.
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
    int has_offset;         /* with has_index: exactly (index, offset), a
                             * commit's end, or less when the objects do
                             * not reach it (the caller compares) */
    uint64_t offset;
};

struct ws_plan {
    const struct ws_geninfo *g;
    const struct ws_snapinfo *snap;
    uint64_t snap_safe;     /* the WAL of the snapshot's index must reach
                             * this offset (0: the snapshot serves alone) */
    uint32_t index;         /* the target */
    uint64_t offset;
    size_t seg0, nsegs;     /* g->segs[seg0, seg0 + nsegs) */
    uint64_t bytes;         /* stored bytes to fetch */
    int64_t time_us;        /* the moment restored to */
    int precise;            /* time_us is a recorded commit time */
    int newest;             /* the target is the newest data there is */
    char skipped[WS_ERR_MSG]; /* "": the target is what was asked for;
                             * else why a later one cannot be restored */
    uint32_t must_index;    /* must_reach != 0: a record (proof) says a */
    uint64_t must_reach;    /* commit ends at this offset of must_index, */
    char proof[WS_KEY_MAX]; /* the target's last index, or past it */
};

/* Plan a restore of g.  recs: g's commit records that matter (sorted
 * with ws_tlist_sort; may be empty).  For the newest moment a time can
 * restore, plan with time_us INT64_MAX.  Failures (err says why):
 *   WS_ENOTFOUND  g has nothing at or before that time, or no snapshot;
 *                 or, with p->skipped set, its snapshots all lack the WAL
 *                 they need, as a crash between uploads leaves them;
 *   WS_ECORRUPT   g holds WAL that no snapshot reaches past a hole (a
 *                 missing index or first segment): lost objects, not a
 *                 crash, which only ever leaves a prefix; or a record
 *                 proves a commit past the segments (ws_plan_gap);
 *   WS_ENOMEM.
 * A target short of the request that a crash explains is a success with
 * p->skipped set. */
int ws_plan_make(const struct ws_geninfo *g, const struct ws_tlist *recs,
                 const struct ws_plan_req *q, struct ws_plan *p,
                 struct ws_err *err);

/* The error for a plan p whose WAL ends at (index, end), short of
 * p->proof (must_index, must_reach): names the record, the positions and
 * time_us, the time that restores what the WAL holds (0: unknown).
 * Returns WS_ECORRUPT. */
int ws_plan_gap(const struct ws_plan *p, uint32_t index, uint64_t end,
                int64_t time_us, struct ws_err *err);

/* The commit-time object of g to download for q: the last one started
 * at or before T (or the last one without T), or NULL when none. */
const struct ws_timesinfo *ws_plan_times_obj(const struct ws_geninfo *g,
                                             const struct ws_plan_req *q);

/* The oldest moment g can restore to (us): a restore to that time
 * succeeds.  0 when it has no usable snapshot.  That is the time of the
 * last commit the oldest usable snapshot holds, when recs (may be NULL)
 * has its record (the commit ending exactly at the snapshot record's
 * position: the snapshot was taken a little after it); else the
 * snapshot record's own time, or its object time without a record. */
int64_t ws_plan_oldest(const struct ws_geninfo *g, const struct ws_tlist *recs);

/* An object time (ms, as listed) as the latest moment it may stand for
 * (us): S3's whole seconds count as the end of their second, a file's
 * mtime 10 ms late (the kernel's coarse clock).  Object times only say
 * "written by then". */
int64_t ws_plan_obj_us(int64_t mtime_ms);

/* The commit-time object of g that holds the record ws_plan_oldest()
 * needs: the last to start at or before the oldest usable snapshot's
 * position.  NULL when there is none (or the snapshot has no record). */
const struct ws_timesinfo *ws_plan_oldest_obj(const struct ws_geninfo *g);

/* Commit records named by g's commit-time objects (duplicates from
 * retried uploads counted once). */
uint64_t ws_plan_ntx(const struct ws_geninfo *g);

/* Format t_us as RFC 3339 UTC with microseconds into buf (>= 32). */
void ws_time_fmt(int64_t t_us, char *buf, size_t n);

/* Parse RFC 3339 ("2006-01-02T15:04:05.999999999Z07:00").  WS_EUSAGE
 * when malformed. */
int ws_time_parse(const char *s, int64_t *t_us);

#endif
