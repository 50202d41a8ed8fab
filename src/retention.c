/*
 * retention.c: the retention planner (see retention.h).
 *
 * Why the rules keep the window restorable.  A restore to a moment t
 * needs a snapshot taken at or before t and the unbroken chain of WAL
 * segments from that snapshot's index on.  For every t in the window,
 * t >= cutoff, so the base snapshot S of a generation (the highest index
 * with mtime <= cutoff) is always a usable starting point, and it needs
 * nothing below its own index: deleting snapshots, segments and times
 * objects below S.index cannot break a restore to t, nor deleting the
 * records of those snapshots and of the boundaries between those
 * indexes (layout.h), which no such restore reads.  A whole generation
 * G may go only when nothing of it is inside the window (its newest
 * object is older than the cutoff) and a generation created after it can
 * restore the cutoff moment: that generation then answers for every t in
 * the window, and nothing later needs G's last state.  The generation
 * that answers is never itself deleted: it is restorable at the cutoff,
 * so it has a snapshot, and only a still newer restorable generation
 * could cover it, which just moves the argument to that one.
 *
 * Restorability is the chain check restore planning uses too
 * (ws_catalog_chain, layout.h): it only compares object names, each index
 * from the snapshot's to the last must have a segment at offset 0, with
 * no index skipped.
 */
#include "ws/retention.h"

#include <stdlib.h>
#include <string.h>

/* The snapshot of highest index with mtime <= t, or NULL. */
static const struct ws_snapinfo *base_snapshot(const struct ws_geninfo *g,
                                               int64_t t)
{
    for (size_t i = g->nsnaps; i-- > 0;)
        if (g->snaps[i].mtime_ms <= t)
            return &g->snaps[i];
    return NULL;
}

/* The snapshot with the newest mtime (ties: the higher index), or NULL. */
static const struct ws_snapinfo *newest_snapshot(const struct ws_geninfo *g)
{
    const struct ws_snapinfo *best = NULL;

    for (size_t i = 0; i < g->nsnaps; i++)
        if (best == NULL || g->snaps[i].mtime_ms >= best->mtime_ms)
            best = &g->snaps[i];
    return best;
}

/* 1 if g alone can restore moment t: its base snapshot and an unbroken
 * chain of segments from it to g's last one.  A chain from a lower index
 * implies one from any higher index, so the base snapshot decides. */
static int gen_restorable(const struct ws_geninfo *g, int64_t t)
{
    const struct ws_snapinfo *s = base_snapshot(g, t);
    uint32_t last;
    size_t seg0, nsegs;

    if (s == NULL)
        return 0;
    last = g->nsegs && g->segs[g->nsegs - 1].index > s->index
               ? g->segs[g->nsegs - 1].index
               : s->index;
    return ws_catalog_chain(g, s->index, last, WS_POS_END, &seg0, &nsegs,
                            NULL) == WS_OK;
}

int ws_retention_restorable(const struct ws_catalog *cat, int64_t t_ms)
{
    for (size_t i = 0; i < cat->ngens; i++)
        if (gen_restorable(&cat->gens[i], t_ms))
            return 1;
    return 0;
}

/* The time of g's newest object of any kind (INT64_MIN for none). */
static int64_t gen_newest(const struct ws_geninfo *g)
{
    int64_t t = INT64_MIN;

    for (size_t i = 0; i < g->nsnaps; i++)
        if (g->snaps[i].mtime_ms > t)
            t = g->snaps[i].mtime_ms;
    for (size_t i = 0; i < g->nsegs; i++)
        if (g->segs[i].mtime_ms > t)
            t = g->segs[i].mtime_ms;
    for (size_t i = 0; i < g->ntimes; i++)
        if (g->times[i].mtime_ms > t)
            t = g->times[i].mtime_ms;
    for (size_t i = 0; i < g->nidx; i++)
        if (g->idx[i].mtime_ms > t)
            t = g->idx[i].mtime_ms;
    for (size_t i = 0; i < g->ndigs; i++)
        if (g->digs[i].mtime_ms > t)
            t = g->digs[i].mtime_ms;
    return t;
}

static int is_current(const struct ws_geninfo *g, const char *current)
{
    return strcmp(g->name, current) == 0;
}

/* 1 if g is to be deleted whole (see retention.h). */
static int gen_drop(const struct ws_catalog *cat, const struct ws_geninfo *g,
                    const char *current, int64_t cutoff)
{
    if (is_current(g, current) || gen_newest(g) >= cutoff)
        return 0;
    if (g->nsnaps == 0)
        return 1;
    for (size_t i = 0; i < cat->ngens; i++) {
        const struct ws_geninfo *h = &cat->gens[i];
        if (h != g && h->nsnaps > 0 && h->created_ms > g->created_ms &&
            gen_restorable(h, cutoff))
            return 1;
    }
    return 0;
}

static uint64_t gen_bytes(const struct ws_geninfo *g)
{
    uint64_t n = 0;

    for (size_t i = 0; i < g->nsnaps; i++)
        n += g->snaps[i].size;
    for (size_t i = 0; i < g->nsegs; i++)
        n += g->segs[i].size;
    for (size_t i = 0; i < g->ntimes; i++)
        n += g->times[i].size;
    for (size_t i = 0; i < g->nidx; i++)
        n += g->idx[i].size;
    for (size_t i = 0; i < g->ndigs; i++)
        n += g->digs[i].size;
    return n;
}

/* Add what the per-generation rule deletes from g. */
static int prune_gen(const struct ws_geninfo *g, const char *current,
                     int64_t cutoff, struct ws_objlist *out)
{
    const struct ws_snapinfo *base = base_snapshot(g, cutoff);
    const struct ws_snapinfo *keep = NULL;
    char key[WS_KEY_MAX];
    int rc = WS_OK;

    if (base == NULL)
        return WS_OK;
    if (is_current(g, current))
        keep = newest_snapshot(g);
    for (size_t i = 0; rc == WS_OK && i < g->nsnaps; i++) {
        const struct ws_snapinfo *s = &g->snaps[i];
        if (s->index >= base->index || s == keep)
            continue;
        rc = ws_key_snapshot(key, sizeof(key), g->name, s->index);
        if (rc == WS_OK)
            rc = ws_objlist_add(out, key, s->size, 0);
    }
    for (size_t i = 0; rc == WS_OK && i < g->nsegs; i++) {
        const struct ws_seginfo *s = &g->segs[i];
        if (s->index >= base->index)
            continue;
        rc = ws_key_wal(key, sizeof(key), g->name, s->index, s->offset);
        if (rc == WS_OK)
            rc = ws_objlist_add(out, key, s->size, 0);
    }
    for (size_t i = 0; rc == WS_OK && i < g->ntimes; i++) {
        const struct ws_timesinfo *t = &g->times[i];
        if (t->last_index >= base->index)
            continue;
        rc = ws_key_times_of(key, sizeof(key), g->name, t);
        if (rc == WS_OK)
            rc = ws_objlist_add(out, key, t->size, 0);
    }
    /* An index record binds its index to the one before: it goes with
     * the later of the two; a digest record goes with its snapshot. */
    for (size_t i = 0; rc == WS_OK && i < g->nidx; i++) {
        const struct ws_idxinfo *x = &g->idx[i];
        if (x->index >= base->index)
            continue;
        rc = ws_key_index_of(key, sizeof(key), g->name, x);
        if (rc == WS_OK)
            rc = ws_objlist_add(out, key, x->size, 0);
    }
    for (size_t i = 0; rc == WS_OK && i < g->ndigs; i++) {
        const struct ws_diginfo *d = &g->digs[i];
        if (d->index >= base->index || (keep && d->index == keep->index))
            continue;
        rc = ws_key_digest_of(key, sizeof(key), g->name, d);
        if (rc == WS_OK)
            rc = ws_objlist_add(out, key, d->size, 0);
    }
    return rc;
}

static int cmp_obj(const void *a, const void *b)
{
    return strcmp(((const struct ws_obj *)a)->key,
                  ((const struct ws_obj *)b)->key);
}

/* Sort, drop duplicate keys, count by kind, and move the keys into p.
 * A whole generation's key parses as WS_OBJ_OTHER. */
static int finish(struct ws_objlist *l, struct ws_retention_plan *p)
{
    char gen[WS_GEN_LEN + 1];
    uint32_t index;
    uint64_t offset;
    size_t n = 0;

    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), cmp_obj);
    p->keys = malloc((l->n ? l->n : 1) * sizeof(*p->keys));
    if (p->keys == NULL)
        return WS_ENOMEM;
    for (size_t i = 0; i < l->n; i++) {
        struct ws_obj *o = &l->v[i];
        enum ws_objkind k;
        if (n > 0 && strcmp(p->keys[n - 1], o->key) == 0)
            continue;
        k = ws_key_parse(o->key, gen, &index, &offset);
        p->keys[n++] = o->key;
        o->key = NULL;
        p->ngens += k == WS_OBJ_OTHER;
        p->nsnaps += k == WS_OBJ_SNAPSHOT;
        p->nsegs += k == WS_OBJ_WAL;
        p->ntimes += k == WS_OBJ_TIMES;
        p->nrecs += k == WS_OBJ_INDEX || k == WS_OBJ_DIGEST;
        p->bytes += o->size;
    }
    p->nkeys = n;
    return WS_OK;
}

int ws_retention_plan(const struct ws_catalog *cat, const char *current_gen,
                      int64_t now_ms, int64_t retention_ms,
                      struct ws_retention_plan *out, struct ws_err *err)
{
    struct ws_retention_plan p = {0};
    struct ws_objlist l = {0};
    const char *cur = current_gen ? current_gen : "";
    const struct ws_geninfo *cg;
    int64_t cutoff;
    char key[WS_KEY_MAX];
    int rc = WS_OK;

    if (retention_ms <= 0) {
        *out = p;
        return WS_OK;
    }
    cutoff = now_ms < INT64_MIN + retention_ms ? INT64_MIN
                                               : now_ms - retention_ms;
    for (size_t i = 0; rc == WS_OK && i < cat->ngens; i++) {
        const struct ws_geninfo *g = &cat->gens[i];
        if (!gen_drop(cat, g, cur, cutoff)) {
            rc = prune_gen(g, cur, cutoff, &l);
            continue;
        }
        rc = ws_key_gen(key, sizeof(key), g->name);
        if (rc == WS_OK)
            rc = ws_objlist_add(&l, key, gen_bytes(g), 0);
    }
    if (rc == WS_OK)
        rc = finish(&l, &p);
    ws_objlist_free(&l);
    if (rc != WS_OK) {
        ws_retention_plan_free(&p);
        return ws_err_set(err, rc, "retention plan: %s", ws_strerror(rc));
    }
    cg = cur[0] ? ws_catalog_find(cat, cur) : NULL;
    if (cg != NULL && cg->nsnaps > 0)
        p.need_snapshot = newest_snapshot(cg)->mtime_ms < cutoff;
    *out = p;
    return WS_OK;
}

void ws_retention_plan_free(struct ws_retention_plan *p)
{
    for (size_t i = 0; i < p->nkeys; i++)
        free(p->keys[i]);
    free(p->keys);
    memset(p, 0, sizeof(*p));
}
