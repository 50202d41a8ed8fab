/*
 * plan.c: restore planning (see plan.h).
 */
#include "ws/plan.h"
#include "ws/wal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pos {
    uint32_t index;
    uint64_t offset;          /* WS_POS_END: the whole index */
};

/* A candidate moment: a position and the time it stands for. */
struct cand {
    struct pos at;
    int64_t time_us;
    int precise;
};

/* What one snapshot serves (plan.h). */
struct use {
    const struct ws_snapinfo *s;
    uint64_t need;            /* its highest record's offset (0: none) */
    int64_t rec_us;           /* that record's time (0: no record) */
    int alone;                /* the state at (index, need) on its own */
    int wal;                  /* its index's WAL is there from offset 0 */
    int ok;                   /* it serves something */
    struct pos hi;            /* its reach */
    char why[256];            /* why not, when !ok */
};

/*
 * An object time as the latest moment it may stand for, in us: S3 gives
 * LastModified in whole seconds (truncated), so a time on a whole second
 * may be anywhere in that second; a file's mtime comes from the kernel's
 * coarse clock, which lags the real time by up to one timer tick (10 ms
 * at the lowest common HZ), so a segment written just after a commit may
 * carry a time just before it.  Object times only ever say "written by
 * then"; erring late keeps a restore from including a transaction that
 * committed after the requested time.
 */
#define MTIME_LAG_MS 10

static int64_t obj_us(int64_t mtime_ms)
{
    return (mtime_ms % 1000 == 0 ? mtime_ms + 999
                                 : mtime_ms + MTIME_LAG_MS) *
           1000;
}

int64_t ws_plan_obj_us(int64_t mtime_ms)
{
    return obj_us(mtime_ms);
}

static int pos_cmp(struct pos a, struct pos b)
{
    if (a.index != b.index)
        return a.index < b.index ? -1 : 1;
    return a.offset < b.offset ? -1 : a.offset > b.offset;
}

static void pos_fmt(struct pos a, char *buf, size_t n)
{
    if (a.offset == WS_POS_END)
        snprintf(buf, n, "%08x:end", a.index);
    else
        snprintf(buf, n, "%08x:%llu", a.index, (unsigned long long)a.offset);
}

/* The newest data of g: the end of its last WAL index, or a snapshot's
 * own position past it. */
static struct pos last_pos(const struct ws_geninfo *g)
{
    struct pos p = {0, 0};

    if (g->nsegs)
        p = (struct pos){g->segs[g->nsegs - 1].index, WS_POS_END};
    for (size_t i = 0; i < g->nsnaps; i++) {
        struct pos s = {g->snaps[i].index, 0};
        for (size_t k = 0; k < g->ntimes; k++)
            if (g->times[k].snapshot && g->times[k].index == s.index &&
                g->times[k].offset > s.offset)
                s.offset = g->times[k].offset;
        if (pos_cmp(s, p) > 0)
            p = s;
    }
    return p;
}

/* Fill u for snapshot s of g (plan.h). */
static void use_of(const struct ws_geninfo *g, const struct ws_snapinfo *s,
                   struct use *u)
{
    uint32_t want = s->index;
    size_t nrec = 0, k;
    int image = 0;

    memset(u, 0, sizeof(*u));
    u->s = s;
    for (k = 0; k < g->ntimes; k++) {
        const struct ws_timesinfo *x = &g->times[k];
        if (!x->snapshot || x->index != s->index)
            continue;
        nrec++;
        image = x->image;
        if (nrec == 1 || x->offset > u->need ||
            (x->offset == u->need && x->time_us < u->rec_us)) {
            u->need = x->offset;
            u->rec_us = x->time_us;
        }
    }
    u->alone = u->need <= WS_WAL_HDR_SIZE || (nrec == 1 && image);
    /* The unbroken chain of indexes from s->index, each from offset 0. */
    for (k = 0; k < g->nsegs && g->segs[k].index < s->index; k++)
        ;
    for (; k < g->nsegs; k++) {
        const struct ws_seginfo *x = &g->segs[k];
        if (x->index + 1 == want)
            continue; /* a later segment of the last index */
        if (x->index != want || x->offset != 0)
            break;
        want++;
    }
    u->wal = want > s->index;
    u->ok = u->wal || u->alone;
    if (u->wal)
        u->hi = (struct pos){want - 1, WS_POS_END};
    else
        u->hi = (struct pos){s->index, u->need};
    if (!u->ok)
        snprintf(u->why, sizeof(u->why), "snapshot %08x holds changes up "
                 "to offset %llu of its index (%zu record%s), but the "
                 "replica has no WAL of that index from offset 0",
                 s->index, (unsigned long long)u->need, nrec,
                 nrec == 1 ? ", of the raw kind" : "s");
}

/* The earliest target u serves for q. */
static struct pos use_lo(const struct use *u, const struct ws_plan_req *q)
{
    if (u->rec_us == 0 && q->has_time && obj_us(u->s->mtime_ms) > q->time_us)
        return (struct pos){u->s->index, WS_POS_END};
    return (struct pos){u->s->index, u->need};
}

/* Every candidate moment of g at or before t (plan.h). */
static int cands_of(const struct ws_geninfo *g, const struct ws_tlist *recs,
                    int64_t t, struct cand **out, size_t *n)
{
    struct cand *v = malloc((g->nsegs + recs->n + g->nsnaps + 1) *
                            sizeof(*v));
    int64_t tmax = 0;
    size_t k = 0;

    if (v == NULL)
        return WS_ENOMEM;
    /* Segments, in order, up to the first written after t. */
    for (size_t i = 0; i < g->nsegs; i++) {
        const struct ws_seginfo *s = &g->segs[i];
        if (obj_us(s->mtime_ms) > tmax)
            tmax = obj_us(s->mtime_ms);
        if (tmax > t)
            break;
        v[k++] = (struct cand){
            {s->index, i + 1 < g->nsegs && g->segs[i + 1].index == s->index
                           ? g->segs[i + 1].offset
                           : WS_POS_END},
            tmax, 0};
    }
    for (size_t i = 0; i < recs->n; i++) {
        const struct ws_tpoint *p = &recs->v[i];
        if (p->kind == WS_T_COMMIT && p->time_us <= t)
            v[k++] = (struct cand){{p->index, p->offset}, p->time_us, 1};
    }
    for (size_t i = 0; i < g->nsnaps; i++) {
        struct use u;
        use_of(g, &g->snaps[i], &u);
        if (u.rec_us != 0 && u.rec_us <= t)
            v[k++] = (struct cand){{u.s->index, u.need}, u.rec_us, 1};
        else if (u.rec_us == 0 && obj_us(u.s->mtime_ms) <= t)
            v[k++] = (struct cand){{u.s->index, 0}, obj_us(u.s->mtime_ms),
                                   0};
    }
    *out = v;
    *n = k;
    return WS_OK;
}

/* The latest candidate in [lo, hi]; at one position, a recorded time
 * before an object time, then the earliest.  0 when there is none. */
static int cand_best(const struct cand *v, size_t n, struct pos lo,
                     struct pos hi, struct cand *best)
{
    int found = 0;

    for (size_t i = 0; i < n; i++) {
        int k;
        if (pos_cmp(v[i].at, lo) < 0 || pos_cmp(v[i].at, hi) > 0)
            continue;
        k = found ? pos_cmp(v[i].at, best->at) : 1;
        if (k == 0 && v[i].precise != best->precise)
            k = v[i].precise ? 1 : -1;
        if (k > 0 || (k == 0 && v[i].time_us < best->time_us))
            *best = v[i];
        found = 1;
    }
    return found;
}

/* Why no snapshot reaches `want` from u (NULL: from none): the first
 * unusable snapshot above u, else the first break of the chain. */
static const char *why_short(const struct ws_geninfo *g, const struct use *us,
                             const struct use *u, struct pos want,
                             struct ws_err *e)
{
    size_t seg0, nsegs;

    for (size_t i = 0; i < g->nsnaps; i++)
        if (!us[i].ok && (u == NULL || us[i].s->index > u->s->index) &&
            us[i].s->index <= want.index)
            return us[i].why;
    if (u != NULL && ws_catalog_chain(g, u->s->index, want.index,
                                      want.offset, &seg0, &nsegs,
                                      e) != WS_OK)
        return e->msg;
    return "no snapshot and WAL in the replica reach it";
}

/*
 * 1 if a WAL segment of g starts at or after `from` and at or before
 * `to`: data the replica holds past what any snapshot can reach.  A
 * crash never leaves that (uploads go in order: a crash leaves a prefix,
 * or a snapshot without the WAL after it); a deleted or lost object does.
 */
static int seg_between(const struct ws_geninfo *g, struct pos from,
                       struct pos to)
{
    for (size_t i = 0; i < g->nsegs; i++) {
        struct pos x = {g->segs[i].index, g->segs[i].offset};
        if (pos_cmp(x, from) >= 0 && pos_cmp(x, to) <= 0)
            return 1;
    }
    return 0;
}

static uint32_t max_index(const struct ws_geninfo *g)
{
    uint32_t m = g->nsnaps ? g->snaps[g->nsnaps - 1].index : 0;

    if (g->nsegs && g->segs[g->nsegs - 1].index > m)
        m = g->segs[g->nsegs - 1].index;
    return m;
}

/* What the request asks for, whatever the snapshots can serve; 0 when
 * g has nothing at or before the requested time. */
static int wanted(const struct ws_geninfo *g, const struct ws_plan_req *q,
                  const struct cand *v, size_t n, struct pos *want)
{
    struct pos end = last_pos(g);
    struct cand c;

    if (q->has_time) {
        if (!cand_best(v, n, (struct pos){0, 0}, end, &c))
            return 0;
        *want = c.at;
    } else if (q->has_index && q->has_offset) {
        *want = (struct pos){q->index, q->offset};
    } else if (q->has_index && q->index < max_index(g)) {
        *want = (struct pos){q->index, WS_POS_END};
    } else {
        *want = end;
    }
    return 1;
}

/* The best target u serves for q (at or below want); 0 when none. */
static int use_target(const struct use *u, const struct ws_plan_req *q,
                      const struct cand *v, size_t n, struct pos want,
                      struct cand *c)
{
    struct pos lo = use_lo(u, q), hi = u->hi;

    if (!u->ok)
        return 0;
    if (pos_cmp(hi, want) > 0)
        hi = want;
    if (q->has_time)
        return cand_best(v, n, lo, hi, c);
    if (pos_cmp(hi, lo) < 0)
        return 0;
    c->at = hi;
    c->time_us = 0;
    c->precise = 0;
    /* The moment of that position, when a candidate dates it. */
    cand_best(v, n, hi, hi, c);
    return 1;
}

/*
 * The newest data is the end of the last segment, which the listing
 * dates by its object time only; a commit record inside that segment
 * dates it to the transaction (it is its last commit unless records were
 * lost with a crash: then the time is earlier than the newest commit's,
 * and a restore to it gives that recorded commit, never a later one).
 */
static void newest_time(const struct ws_geninfo *g, const struct cand *v,
                        size_t n, struct ws_plan *p)
{
    const struct ws_seginfo *ls = &g->segs[g->nsegs - 1];
    struct cand c;

    if (p->index == ls->index && p->offset == WS_POS_END &&
        cand_best(v, n, (struct pos){ls->index, ls->offset + 1},
                  (struct pos){ls->index, WS_POS_END - 1}, &c) &&
        c.precise) {
        p->time_us = c.time_us;
        p->precise = 1;
    }
}

/* Choose the target and the snapshot; fill p's target and time. */
static int choose_target(const struct ws_geninfo *g, const struct use *us,
                         const struct ws_plan_req *q,
                         const struct ws_tlist *recs, const struct cand *v,
                         size_t n, struct ws_plan *p, const struct use **uu,
                         struct ws_err *err)
{
    struct cand best = {{0, 0}, 0, 0}, c;
    struct pos want;
    const struct use *chosen = NULL, *bad = NULL;
    struct ws_err e = {0};
    char a[40], b[40];

    if (!wanted(g, q, v, n, &want)) {
        ws_time_fmt(ws_plan_oldest(g, recs), a, sizeof(a));
        return ws_err_set(err, WS_ENOTFOUND, "generation %s has no data at "
                          "or before that time (oldest restorable: %s)",
                          g->name, a);
    }
    for (size_t i = g->nsnaps; i-- > 0;) {
        if (!us[i].ok)
            bad = &us[i];
        if (!use_target(&us[i], q, v, n, want, &c))
            continue;
        if (chosen == NULL || pos_cmp(c.at, best.at) > 0) {
            best = c;
            chosen = &us[i];
        }
    }
    if (chosen == NULL && ws_plan_oldest(g, recs) != 0) {
        ws_time_fmt(ws_plan_oldest(g, recs), a, sizeof(a));
        return ws_err_set(err, WS_ENOTFOUND, "generation %s has no "
                          "snapshot old enough for that point (oldest "
                          "restorable: %s)", g->name, a);
    }
    if (chosen == NULL) {
        /* Every snapshot lacks the WAL it needs: a crash's leftovers,
         * unless WAL lies past the lowest of them (damage). */
        if (seg_between(g, (struct pos){bad->s->index, 0}, want)) {
            size_t seg0, nsegs;
            ws_catalog_chain(g, bad->s->index, want.index, want.offset,
                             &seg0, &nsegs, &e);
            return ws_err_set(err, WS_ECORRUPT, "generation %s cannot be "
                              "restored: %s", g->name,
                              e.msg[0] ? e.msg : bad->why);
        }
        snprintf(p->skipped, sizeof(p->skipped), "%s", bad->why);
        return ws_err_set(err, WS_ENOTFOUND, "generation %s cannot be "
                          "restored: %s", g->name, bad->why);
    }
    if (pos_cmp(best.at, want) < 0) {
        const char *why = why_short(g, us, chosen, want, &e);
        pos_fmt(best.at, a, sizeof(a));
        pos_fmt(want, b, sizeof(b));
        if (seg_between(g, best.at, want))
            return ws_err_set(err, WS_ECORRUPT, "generation %s: %s (the "
                              "replica holds WAL past %s that no snapshot "
                              "reaches)", g->name, why, a);
        snprintf(p->skipped, sizeof(p->skipped), "restoring %s instead of "
                 "%s: %.400s", a, b, why);
    }
    p->index = best.at.index;
    p->offset = best.at.offset;
    p->time_us = best.time_us;
    p->precise = best.precise;
    p->newest = pos_cmp(best.at, last_pos(g)) >= 0;
    if (p->newest && g->nsegs > 0)
        newest_time(g, v, n, p);
    *uu = chosen;
    return WS_OK;
}

/*
 * The furthest commit that a record proves the replica held by time t
 * (plan.h): a commit record of recs observed by t (they come from the
 * commit-time object q downloads); the first record of a commit-time
 * object, a commit in its last record's index, the end of index I - 1
 * an index record of I gives, each from its object's upload time, which
 * comes after the segments it describes (daemon.h), so a segment-dated
 * restore to that time reaches it.  0 when none.
 */
static int proof_of(const struct ws_geninfo *g, const struct ws_tlist *recs,
                    const struct ws_plan_req *q, int64_t t, struct pos *at,
                    char *key, size_t n)
{
    const struct ws_timesinfo *src = ws_plan_times_obj(g, q);
    int found = 0;

    for (size_t i = 0; src != NULL && i < recs->n; i++) {
        const struct ws_tpoint *x = &recs->v[i];
        struct pos a = {x->index, x->offset};
        if (x->kind != WS_T_COMMIT || x->time_us > t ||
            (found && pos_cmp(a, *at) <= 0))
            continue;
        *at = a;
        ws_key_times_of(key, n, g->name, src);
        found = 1;
    }

    for (size_t i = 0; i < g->ntimes; i++) {
        const struct ws_timesinfo *x = &g->times[i];
        struct pos a = {x->index, x->offset};
        if (x->snapshot || obj_us(x->mtime_ms) > t)
            continue;
        if (x->last_index > x->index) /* a commit somewhere in it */
            a = (struct pos){x->last_index, WS_WAL_HDR_SIZE + 1};
        if (found && pos_cmp(a, *at) <= 0)
            continue;
        *at = a;
        ws_key_times_of(key, n, g->name, x);
        found = 1;
    }
    for (size_t i = 0; i < g->nidx; i++) {
        const struct ws_idxinfo *x = &g->idx[i];
        struct pos a = {x->index - 1, x->prev_size};
        if (x->index == 0 || x->prev_size <= WS_WAL_HDR_SIZE ||
            obj_us(x->mtime_ms) > t || (found && pos_cmp(a, *at) <= 0))
            continue;
        *at = a;
        ws_key_index_of(key, n, g->name, x);
        found = 1;
    }
    return found;
}

/*
 * A target short of a commit that a record proves (plan.h): an error
 * when the listing shows it; p->must_reach when only the WAL's length,
 * which restore reads, can tell.
 */
static int check_proof(const struct ws_geninfo *g,
                       const struct ws_tlist *recs,
                       const struct ws_plan_req *q, struct ws_plan *p,
                       struct ws_err *err)
{
    struct pos at = {p->index, p->offset}, pr = {0, 0};
    const struct ws_seginfo *ls = p->nsegs ? &g->segs[p->seg0 + p->nsegs - 1]
                                           : NULL;

    if (q->has_index ||
        !proof_of(g, recs, q, q->has_time ? q->time_us : INT64_MAX, &pr,
                  p->proof, sizeof(p->proof)))
        return WS_OK;
    if (pr.index == at.index && at.offset == WS_POS_END) {
        /* Unless the last segment starts past it, restore checks. */
        if (ls == NULL || ls->index != at.index || ls->offset < pr.offset) {
            p->must_index = pr.index;
            p->must_reach = pr.offset;
        }
        return WS_OK;
    }
    if (pos_cmp(pr, at) <= 0)
        return WS_OK;
    p->must_index = pr.index;
    p->must_reach = pr.offset;
    return ws_plan_gap(p, at.index, at.offset, p->time_us, err);
}

int ws_plan_gap(const struct ws_plan *p, uint32_t index, uint64_t end,
                int64_t time_us, struct ws_err *err)
{
    char a[40], b[40], t[64];

    if (p->must_reach == WS_WAL_HDR_SIZE + 1)
        snprintf(a, sizeof(a), "in index %08x", p->must_index);
    else
        snprintf(a, sizeof(a), "at %08x:%llu", p->must_index,
                 (unsigned long long)p->must_reach);
    pos_fmt((struct pos){index, end}, b, sizeof(b));
    if (time_us > 0)
        ws_time_fmt(time_us, t, sizeof(t));
    else
        snprintf(t, sizeof(t), "at the last commit they hold");
    return ws_err_set(err, WS_ECORRUPT, "generation %s: %s records a "
                      "commit %s, but its WAL segments end at %s: the "
                      "newest segments are missing; restore -timestamp %s "
                      "(or earlier) gives the state they hold",
                      p->g->name, p->proof, a, b, t);
}

int ws_plan_make(const struct ws_geninfo *g, const struct ws_tlist *recs,
                 const struct ws_plan_req *q, struct ws_plan *p,
                 struct ws_err *err)
{
    static const struct ws_tlist none = {0};
    struct use *us = NULL;
    const struct use *u = NULL;
    struct cand *v = NULL;
    size_t n = 0;
    int rc = WS_OK;

    memset(p, 0, sizeof(*p));
    p->g = g;
    if (g->nsnaps == 0)
        return ws_err_set(err, WS_ENOTFOUND, "generation %s has no snapshot",
                          g->name);
    us = malloc(g->nsnaps * sizeof(*us));
    if (us == NULL ||
        cands_of(g, q->has_time ? recs : &none,
                 q->has_time ? q->time_us : INT64_MAX, &v, &n) != WS_OK)
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    for (size_t i = 0; rc == WS_OK && i < g->nsnaps; i++)
        use_of(g, &g->snaps[i], &us[i]);
    if (rc == WS_OK)
        rc = choose_target(g, us, q, recs, v, n, p, &u, err);
    if (rc == WS_OK) {
        struct pos at = {p->index, p->offset}, own = {u->s->index, u->need};
        p->snap = u->s;
        p->bytes = u->s->size;
        if (!u->wal || (u->alone && pos_cmp(at, own) == 0)) {
            /* The snapshot alone is the target: no WAL. */
            p->seg0 = p->nsegs = 0;
        } else {
            p->snap_safe = u->need > WS_WAL_HDR_SIZE ? u->need : 0;
            rc = ws_catalog_chain(g, u->s->index, p->index, p->offset,
                                  &p->seg0, &p->nsegs, err);
        }
        for (size_t i = p->seg0; i < p->seg0 + p->nsegs; i++)
            p->bytes += g->segs[i].size;
    }
    if (rc == WS_OK)
        rc = check_proof(g, recs, q, p, err);
    free(us);
    free(v);
    return rc;
}

const struct ws_timesinfo *ws_plan_times_obj(const struct ws_geninfo *g,
                                             const struct ws_plan_req *q)
{
    const struct ws_timesinfo *best = NULL;

    /* Sorted by (time, position, count): the last candidate is the
     * latest start, and the fullest of any retried uploads. */
    for (size_t i = 0; i < g->ntimes; i++) {
        const struct ws_timesinfo *x = &g->times[i];
        if (x->snapshot || (q->has_time && x->time_us > q->time_us))
            continue;
        best = x;
    }
    return best;
}

/* The time of the commit record of recs exactly at (index, off), 0 when
 * recs has none. */
static int64_t commit_at(const struct ws_tlist *recs, uint32_t index,
                         uint64_t off)
{
    for (size_t i = 0; recs != NULL && i < recs->n; i++)
        if (recs->v[i].kind == WS_T_COMMIT && recs->v[i].index == index &&
            recs->v[i].offset == off)
            return recs->v[i].time_us;
    return 0;
}

/* The usable snapshot of g with the oldest moment, and that moment (by
 * its record, or its object time); 0 and NULL when none. */
static int64_t oldest_use(const struct ws_geninfo *g, struct use *best)
{
    int64_t t_best = 0;

    for (size_t i = 0; i < g->nsnaps; i++) {
        struct use u;
        int64_t t;
        use_of(g, &g->snaps[i], &u);
        if (!u.ok)
            continue;
        t = u.rec_us != 0 ? u.rec_us : obj_us(g->snaps[i].mtime_ms);
        if (t_best == 0 || t < t_best) {
            t_best = t;
            *best = u;
        }
    }
    return t_best;
}

int64_t ws_plan_oldest(const struct ws_geninfo *g, const struct ws_tlist *recs)
{
    struct use u;
    int64_t t = oldest_use(g, &u), c;

    if (t == 0 || u.rec_us == 0)
        return t;
    c = commit_at(recs, u.s->index, u.need);
    return c != 0 && c < t ? c : t;
}

const struct ws_timesinfo *ws_plan_oldest_obj(const struct ws_geninfo *g)
{
    const struct ws_timesinfo *best = NULL;
    struct use u;

    if (oldest_use(g, &u) == 0 || u.rec_us == 0)
        return NULL;
    /* Positions only grow: the object starting last at or before the
     * snapshot's position holds the commit there, if any does.  On a tie,
     * the latest in the list (the fullest of retried uploads). */
    for (size_t i = 0; i < g->ntimes; i++) {
        const struct ws_timesinfo *x = &g->times[i];
        struct pos at = {x->index, x->offset};
        if (x->snapshot || pos_cmp(at, (struct pos){u.s->index, u.need}) > 0)
            continue;
        if (best == NULL ||
            pos_cmp(at, (struct pos){best->index, best->offset}) >= 0)
            best = x;
    }
    return best;
}

uint64_t ws_plan_ntx(const struct ws_geninfo *g)
{
    uint64_t n = 0;

    for (size_t i = 0; i < g->ntimes; i++) {
        const struct ws_timesinfo *x = &g->times[i], *y;
        if (x->snapshot)
            continue;
        /* A retried upload repeats the first record with more after it:
         * count only the fullest object of each start. */
        y = i + 1 < g->ntimes ? &g->times[i + 1] : NULL;
        if (y && !y->snapshot && y->time_us == x->time_us &&
            y->index == x->index && y->offset == x->offset)
            continue;
        n += x->count;
    }
    return n;
}

void ws_time_fmt(int64_t t_us, char *buf, size_t n)
{
    time_t s = (time_t)(t_us / 1000000 - (t_us % 1000000 < 0)); /* floor */
    struct tm tm;

    if (t_us == 0) {
        snprintf(buf, n, "-");
        return;
    }
    gmtime_r(&s, &tm);
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (long long)(t_us - (int64_t)s * 1000000));
}

#define TIME_MAX_S 253402300799LL /* 9999-12-31T23:59:59Z */

static int digits(const char **p, int n, int *v)
{
    int x = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return 0;
        x = x * 10 + (c - '0');
    }
    *p += n;
    *v = x;
    return 1;
}

int ws_time_parse(const char *s, int64_t *t_us)
{
    const char *p = s;
    int y, mo, d, h, mi, se, frac = 0, tz = 0;
    struct tm tm;
    int64_t t;

    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) ||
        *p++ != '-' || !digits(&p, 2, &d) || (*p != 'T' && *p != 't'))
        return WS_EUSAGE;
    p++;
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) ||
        *p++ != ':' || !digits(&p, 2, &se))
        return WS_EUSAGE;
    if (*p == '.') {
        int nd = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (nd < 6)
                frac = frac * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0 || nd > 9)
            return WS_EUSAGE;
        for (; nd < 6; nd++)
            frac *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, th, tm_;
        if (!digits(&p, 2, &th) || *p++ != ':' || !digits(&p, 2, &tm_) ||
            th > 23 || tm_ > 59)
            return WS_EUSAGE;
        tz = sign * (th * 60 + tm_);
    } else {
        return WS_EUSAGE;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || se > 60)
        return WS_EUSAGE;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    t = (int64_t)timegm(&tm);
    /* timegm normalises 31 February into March: refuse such dates. */
    {
        time_t tt = (time_t)t;
        struct tm chk;
        gmtime_r(&tt, &chk);
        if (chk.tm_mday != d || chk.tm_mon != mo - 1)
            return WS_EUSAGE;
    }
    /* An offset can carry 9999-12-31 past the last instant RFC 3339's
     * four-digit years can write (ws_time_fmt could not print it). */
    t -= (int64_t)tz * 60;
    if (t > TIME_MAX_S)
        return WS_EUSAGE;
    *t_us = t * 1000000 + frac;
    return WS_OK;
}
