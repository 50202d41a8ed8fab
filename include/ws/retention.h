/*
 * retention.h: which replica objects may be deleted (Litestream v0.3's
 * retention, with walship's stricter rule).  Pure: no I/O, no logging, no clock.
 *
 * walship's rule: retention never deletes anything still needed to
 * restore any moment inside the retention window [now - retention, now].
 * With cutoff = now - retention:
 *
 *   - In each generation kept, S is the snapshot of highest index among
 *     those with mtime <= cutoff: it serves restores to every moment from
 *     the cutoff on.  Snapshots and WAL segments with index < S.index,
 *     times objects whose last_index < S.index, index records of an
 *     index < S.index and the digest records of deleted snapshots are
 *     deleted.  A generation
 *     with no snapshot at or before the cutoff loses nothing.
 *   - A generation other than the current one is deleted whole when its
 *     newest object (data or times) is older than the cutoff and a
 *     generation created after it is restorable at the cutoff (see
 *     ws_retention_restorable), or when it has no snapshot at all and
 *     its newest object is older than the cutoff (a crash's leftovers).
 *   - The current generation is never deleted whole and never loses its
 *     newest snapshot.
 *
 * Litestream instead deletes every generation without a snapshot newer
 * than the cutoff and everything before the oldest such snapshot, so the
 * first moments of its window may no longer be restorable.
 */
#ifndef WS_RETENTION_H
#define WS_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "ws/err.h"
#include "ws/layout.h"

/* What one retention check should do. */
struct ws_retention_plan {
    char **keys;       /* keys to DEL (WS_REQ_DEL), sorted, unique; owned.
                        * "generations/<gen>" deletes a whole generation;
                        * no other key lies under such a prefix. */
    size_t nkeys;
    int need_snapshot; /* 1: the current generation's newest snapshot is
                        * older than the cutoff; take one now so that the
                        * next check can prune */
    /* For the log: what the keys amount to. */
    size_t ngens;      /* whole generations */
    size_t nsnaps;     /* snapshots (outside whole generations) */
    size_t nsegs;      /* WAL segments (likewise) */
    size_t ntimes;     /* times objects (likewise) */
    size_t nrecs;      /* index and digest records (likewise) */
    uint64_t bytes;    /* stored bytes of all of the above */
};

/* Plan a check of the replica listed in cat at now_ms.  current_gen is
 * the generation being written ("" or NULL when none).  retention_ms <= 0
 * gives an empty plan.  On success *out holds the plan (free it with
 * ws_retention_plan_free); on failure (WS_ENOMEM) *out is untouched. */
int ws_retention_plan(const struct ws_catalog *cat, const char *current_gen,
                      int64_t now_ms, int64_t retention_ms,
                      struct ws_retention_plan *out, struct ws_err *err);

/* Free the keys and zero the plan; accepts a zeroed plan. */
void ws_retention_plan_free(struct ws_retention_plan *p);

/* 1 if the state at moment t_ms can be restored from cat: some
 * generation has a snapshot with mtime <= t_ms and, from that snapshot's
 * index to the generation's last segment, every index has a segment at
 * offset 0 and its segments follow one another without skipping an
 * index.  Object times only (times objects are not read); offsets within
 * an index are not checked (the catalog has no uncompressed sizes). */
int ws_retention_restorable(const struct ws_catalog *cat, int64_t t_ms);

#endif
