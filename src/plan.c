/*
 * plan.c: restore planning (see plan.h).
 */
#include "ws/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cand {
    int ok;
    uint32_t index;
    uint64_t offset;
    int64_t time_us;
    int precise;
};

/*
 * An object time as the latest moment it may stand for, in us: S3 gives
 * LastModified in whole seconds (truncated), so a time on a whole second
 * may be anywhere in that second.  Object times only ever say "written by
 * then"; erring late keeps a restore from including a transaction that
 * committed after the requested time.
 */
static int64_t obj_us(int64_t mtime_ms)
{
    return (mtime_ms % 1000 == 0 ? mtime_ms + 999 : mtime_ms) * 1000;
}

static int pos_cmp(uint32_t ai, uint64_t ao, uint32_t bi, uint64_t bo)
{
    if (ai != bi)
        return ai < bi ? -1 : 1;
    return ao < bo ? -1 : ao > bo;
}

/* Take c if it is later than best (a recorded time wins a tie). */
static void consider(struct cand *best, const struct cand *c)
{
    int k;

    if (!c->ok)
        return;
    k = best->ok ? pos_cmp(c->index, c->offset, best->index, best->offset)
                 : 1;
    if (k > 0 || (k == 0 && c->precise && !best->precise))
        *best = *c;
}

/* The record offset of the snapshot of `index` (the highest, if it was
 * rewritten), 0 when it has none; *t gets its earliest record time. */
static uint64_t snap_record(const struct ws_geninfo *g, uint32_t index,
                            int64_t *t)
{
    uint64_t safe = 0;

    *t = 0;
    for (size_t i = 0; i < g->ntimes; i++) {
        const struct ws_timesinfo *x = &g->times[i];
        if (!x->snapshot || x->index != index)
            continue;
        if (x->offset > safe)
            safe = x->offset;
        if (*t == 0 || x->time_us < *t)
            *t = x->time_us;
    }
    return safe;
}

static uint32_t max_index(const struct ws_geninfo *g)
{
    uint32_t m = g->nsnaps ? g->snaps[g->nsnaps - 1].index : 0;

    if (g->nsegs && g->segs[g->nsegs - 1].index > m)
        m = g->segs[g->nsegs - 1].index;
    return m;
}

/* The target for time T. */
static struct cand at_time(const struct ws_geninfo *g,
                           const struct ws_tlist *recs, int64_t t,
                           int *newest)
{
    struct cand best = {0}, c;
    size_t k;

    /* Segments, in order, up to the first written after T. */
    for (k = 0; k < g->nsegs && obj_us(g->segs[k].mtime_ms) <= t; k++)
        ;
    if (k > 0) {
        const struct ws_seginfo *s = &g->segs[k - 1];
        c = (struct cand){1, s->index,
                          k < g->nsegs && g->segs[k].index == s->index
                              ? g->segs[k].offset
                              : WS_POS_END,
                          obj_us(s->mtime_ms), 0};
        consider(&best, &c);
    }
    *newest = k == g->nsegs;
    for (size_t i = 0; i < recs->n; i++) {
        const struct ws_tpoint *p = &recs->v[i];
        if (p->kind != WS_T_COMMIT)
            continue;
        if (p->time_us > t) {
            *newest = 0;
            continue;
        }
        c = (struct cand){1, p->index, p->offset, p->time_us, 1};
        consider(&best, &c);
    }
    for (size_t i = 0; i < g->nsnaps; i++) {
        const struct ws_snapinfo *s = &g->snaps[i];
        int64_t rt;
        uint64_t safe = snap_record(g, s->index, &rt);
        if (rt != 0 && rt <= t)
            c = (struct cand){1, s->index, safe, rt, 1};
        else if (rt == 0 && obj_us(s->mtime_ms) <= t)
            c = (struct cand){1, s->index, 0, obj_us(s->mtime_ms), 0};
        else
            continue;
        consider(&best, &c);
    }
    return best;
}

int ws_plan_make(const struct ws_geninfo *g, const struct ws_tlist *recs,
                 const struct ws_plan_req *q, struct ws_plan *p,
                 struct ws_err *err)
{
    struct cand tg = {0};
    int newest = 1, rc;
    size_t i;

    memset(p, 0, sizeof(*p));
    p->g = g;
    if (g->nsnaps == 0)
        return ws_err_set(err, WS_ENOTFOUND, "generation %s has no snapshot",
                          g->name);
    if (q->has_index) {
        uint32_t m = max_index(g);
        tg = (struct cand){1, q->index < m ? q->index : m, WS_POS_END, 0, 0};
        newest = q->index >= m;
    } else if (q->has_time) {
        tg = at_time(g, recs, q->time_us, &newest);
        if (!tg.ok) {
            char a[40];
            ws_time_fmt(ws_plan_oldest(g), a, sizeof(a));
            return ws_err_set(err, WS_ENOTFOUND, "generation %s has no data "
                              "at or before that time (oldest restorable: "
                              "%s)", g->name, a);
        }
    } else {
        tg = (struct cand){1, max_index(g), WS_POS_END, 0, 0};
    }
    p->index = tg.index;
    p->offset = tg.offset;
    p->newest = newest;
    p->time_us = tg.time_us;
    p->precise = tg.precise;
    if (newest) {
        /* The newest data: its time is the last record or object. */
        const struct ws_seginfo *ls = g->nsegs ? &g->segs[g->nsegs - 1]
                                               : NULL;
        const struct ws_tpoint *lr = NULL;
        for (i = 0; i < recs->n; i++)
            if (recs->v[i].kind == WS_T_COMMIT)
                lr = &recs->v[i];
        p->time_us = g->updated_ms * 1000;
        p->precise = 0;
        /* A record inside the last segment dates the end exactly. */
        if (lr && ls &&
            pos_cmp(lr->index, lr->offset, ls->index, ls->offset) > 0) {
            p->time_us = lr->time_us;
            p->precise = 1;
        }
    }

    /* The highest snapshot holding nothing past the target. */
    for (i = g->nsnaps; i-- > 0;) {
        const struct ws_snapinfo *s = &g->snaps[i];
        int64_t rt;
        uint64_t safe = snap_record(g, s->index, &rt);
        if (s->index > p->index)
            continue;
        if (s->index == p->index && p->offset != WS_POS_END) {
            if (rt != 0 ? safe > p->offset
                        : q->has_time && obj_us(s->mtime_ms) > q->time_us)
                continue;
        }
        p->snap = s;
        p->snap_safe = safe;
        break;
    }
    if (p->snap == NULL)
        return ws_err_set(err, WS_ENOTFOUND, "generation %s has no snapshot "
                          "old enough for that point", g->name);
    p->bytes = p->snap->size;

    /* The segments from the snapshot's index to the target, which must
     * follow one another unbroken. */
    rc = ws_catalog_chain(g, p->snap->index, p->index, p->offset, &p->seg0,
                          &p->nsegs, err);
    for (i = p->seg0; i < p->seg0 + p->nsegs; i++)
        p->bytes += g->segs[i].size;
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

int64_t ws_plan_oldest(const struct ws_geninfo *g)
{
    int64_t best = 0;

    for (size_t i = 0; i < g->nsnaps; i++) {
        int64_t rt, t;
        snap_record(g, g->snaps[i].index, &rt);
        t = rt != 0 ? rt : obj_us(g->snaps[i].mtime_ms);
        if (best == 0 || t < best)
            best = t;
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
    time_t s = (time_t)(t_us / 1000000);
    struct tm tm;

    if (t_us <= 0) {
        snprintf(buf, n, "-");
        return;
    }
    gmtime_r(&s, &tm);
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (long long)(t_us % 1000000));
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
