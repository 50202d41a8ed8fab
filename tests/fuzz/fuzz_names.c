/*
 * fuzz_names.c: object names (layout.h ws_key_parse, ws_key_parse_times,
 * ws_key_parse_index, ws_key_parse_digest),
 * the catalog built over a listing (ws_catalog_build) and the restore
 * plan made from it (plan.h), which is where a hostile or damaged
 * listing decides what restore fetches.
 *
 * Input: one control byte, then a listing, one object a line:
 *     KEY [SIZE MTIME_MS]
 * (decimal, times clamped to what a listing can hold; without them the size is
 * the line's length and the time grows a second a line from 2023-11-14).  [0]
 * bits 0-3 pick the moments planned besides the latest (fuzz_names_times).
 *
 * Checked: a key that parses formats back to itself with the key
 * builders, and ws_key_parse agrees with the kind's own parser; the catalog
 * counts every key once (an exact repeat of an object once in all),
 * sorts generations, snapshots, segments,
 * commit-time objects and records as layout.h says, finds each
 * generation by name and each record by index,
 * and its latest generation has a snapshot and is not older than any
 * other by ws_gen_cmp, which is antisymmetric.  A plan that succeeds
 * uses a snapshot of the generation at or below the target, segments of
 * the generation between the snapshot and the target, counts their bytes,
 * and for a time restores nothing recorded or written after it unless it
 * is the newest data.
 */
#include "fuzz.h"
#include "ws/layout.h"
#include "ws/plan.h"
#include "ws/times.h"

#define NAMES_T0 1700000000000LL /* ms: 2023-11-14 */
/* Object times a listing can hold: S3's are years 1970 to 9999
 * (ws_s3xml_parse_time), a file's mtime may be before 1970. */
#define NAMES_TMIN (-(1LL << 40))
#define NAMES_TMAX 253402300799999LL

static void names_check_key(const char *key)
{
    char gen[WS_GEN_LEN + 1], gen2[WS_GEN_LEN + 1], back[WS_KEY_MAX];
    struct ws_timesinfo t;
    struct ws_idxinfo x;
    struct ws_diginfo d;
    uint32_t index = 0;
    uint64_t offset = 0;
    enum ws_objkind k = ws_key_parse(key, gen, &index, &offset);
    int is_times = ws_key_parse_times(key, gen2, &t);
    int is_index = ws_key_parse_index(key, gen2, &x);
    int is_digest = ws_key_parse_digest(key, gen2, &d);
    int rc = WS_EUSAGE;

    FUZZ_CHECK((k == WS_OBJ_TIMES) == is_times &&
                   (k == WS_OBJ_INDEX) == is_index &&
                   (k == WS_OBJ_DIGEST) == is_digest,
               "\"%s\": kind %d, times %d, index %d, digest %d", key, k,
               is_times, is_index, is_digest);
    if (k == WS_OBJ_OTHER)
        return;
    FUZZ_CHECK(ws_gen_valid(gen), "\"%s\": generation \"%s\"", key, gen);
    if (k == WS_OBJ_SNAPSHOT) {
        FUZZ_CHECK(offset == 0, "\"%s\": snapshot offset %llu", key,
                   (unsigned long long)offset);
        rc = ws_key_snapshot(back, sizeof(back), gen, index);
    } else if (k == WS_OBJ_WAL) {
        rc = ws_key_wal(back, sizeof(back), gen, index, offset);
    } else if (k == WS_OBJ_INDEX) {
        FUZZ_CHECK(strcmp(gen, gen2) == 0 && x.index == index && offset == 0 &&
                       x.index >= 1 && x.index <= WS_MAX_INDEX &&
                       x.prev_size >= 32,
                   "\"%s\": parsed into an impossible index record", key);
        rc = ws_key_index_of(back, sizeof(back), gen, &x);
    } else if (k == WS_OBJ_DIGEST) {
        FUZZ_CHECK(strcmp(gen, gen2) == 0 && d.index == index &&
                       d.offset == offset && d.time_us > 0,
                   "\"%s\": parsed into an impossible digest record", key);
        rc = ws_key_digest_of(back, sizeof(back), gen, &d);
    } else {
        FUZZ_CHECK(strcmp(gen, gen2) == 0 && t.index == index &&
                       t.offset == offset,
                   "\"%s\": ws_key_parse and ws_key_parse_times differ", key);
        FUZZ_CHECK(
            t.time_us > 0 && t.count > 0 && t.last_index >= t.index &&
                (!t.snapshot || (t.count == 1 && t.last_index == t.index)),
            "\"%s\": parsed into an impossible object", key);
        rc = ws_key_times_of(back, sizeof(back), gen, &t);
    }
    FUZZ_CHECK(rc == WS_OK && strcmp(back, key) == 0,
               "\"%s\" formats back to \"%s\"", key, back);
}

/* One "KEY [SIZE MTIME]" line into l. */
static void names_add(struct ws_objlist *l, char *line, size_t i)
{
    char *sp = strrchr(line, ' '), *sp2;
    uint64_t size = strlen(line);
    int64_t mtime = NAMES_T0 + (int64_t)i * 1000;

    if (sp != NULL) {
        *sp = '\0';
        sp2 = strrchr(line, ' ');
        if (sp2 != NULL) {
            *sp2 = '\0';
            size = strtoull(sp2 + 1, NULL, 10);
            mtime = strtoll(sp + 1, NULL, 10);
            mtime = mtime < NAMES_TMIN   ? NAMES_TMIN
                    : mtime > NAMES_TMAX ? NAMES_TMAX
                                         : mtime;
        } else {
            *sp = ' ';
        }
    }
    names_check_key(line);
    if (ws_objlist_add(l, line, size, mtime) != WS_OK)
        abort();
}

static void names_check_sorted(const struct ws_geninfo *g)
{
    for (size_t i = 1; i < g->nsnaps; i++)
        FUZZ_CHECK(g->snaps[i - 1].index <= g->snaps[i].index,
                   "%s: snapshots out of order", g->name);
    for (size_t i = 1; i < g->nsegs; i++)
        FUZZ_CHECK(g->segs[i - 1].index < g->segs[i].index ||
                       (g->segs[i - 1].index == g->segs[i].index &&
                        g->segs[i - 1].offset <= g->segs[i].offset),
                   "%s: segments out of order", g->name);
    for (size_t i = 1; i < g->ntimes; i++)
        FUZZ_CHECK(g->times[i - 1].time_us <= g->times[i].time_us,
                   "%s: commit-time objects out of order", g->name);
    for (size_t i = 1; i < g->nidx; i++)
        FUZZ_CHECK(g->idx[i - 1].index <= g->idx[i].index,
                   "%s: index records out of order", g->name);
    for (size_t i = 1; i < g->ndigs; i++)
        FUZZ_CHECK(g->digs[i - 1].index <= g->digs[i].index,
                   "%s: digest records out of order", g->name);
    /* Each record is found by its index, among as many as there are. */
    for (size_t i = 0; i < g->nidx; i++) {
        size_t n;
        const struct ws_idxinfo *x =
            ws_catalog_index_recs(g, g->idx[i].index, &n);
        FUZZ_CHECK(x != NULL && x <= &g->idx[i] && &g->idx[i] < x + n &&
                       (x == g->idx || x[-1].index < x->index) &&
                       (x + n == g->idx + g->nidx ||
                        x[n].index > x->index),
                   "%s: index record %08x not found", g->name,
                   g->idx[i].index);
    }
    for (size_t i = 0; i < g->ndigs; i++) {
        size_t n;
        const struct ws_diginfo *d =
            ws_catalog_digests(g, g->digs[i].index, &n);
        FUZZ_CHECK(d != NULL && d <= &g->digs[i] && &g->digs[i] < d + n &&
                       ws_catalog_check_digest(g, g->digs[i].index,
                                               g->digs[i].sha256,
                                               NULL) == WS_OK,
                   "%s: digest record %08x not found", g->name,
                   g->digs[i].index);
    }
    if (g->nsnaps + g->nsegs > 0)
        FUZZ_CHECK(g->created_ms <= g->updated_ms,
                   "%s: created after "
                   "updated",
                   g->name);
}

/* The commit records the plan gets: those the times objects name. */
static void names_recs(const struct ws_geninfo *g, struct ws_tlist *recs)
{
    for (size_t i = 0; i < g->ntimes; i++) {
        const struct ws_timesinfo *x = &g->times[i];
        struct ws_tpoint p = {x->index, WS_T_COMMIT, x->offset, x->time_us};
        if (x->snapshot || x->offset <= 32)
            continue;
        if (ws_tlist_add(recs, &p) != WS_OK)
            abort();
    }
    ws_tlist_sort(recs);
}

static void names_check_plan(const struct ws_geninfo *g,
                             const struct ws_tlist *recs,
                             const struct ws_plan_req *q)
{
    struct ws_plan p;
    struct ws_err err;
    uint64_t bytes;
    int rc = ws_plan_make(g, recs, q, &p, &err);

    if (rc != WS_OK) {
        fuzz_check_err(rc, &err, "ws_plan_make");
        return;
    }
    FUZZ_CHECK(p.g == g && p.snap >= g->snaps && p.snap < g->snaps + g->nsnaps,
               "%s: the plan's snapshot is not the generation's", g->name);
    FUZZ_CHECK(p.snap->index <= p.index,
               "%s: snapshot %08x past target "
               "%08x",
               g->name, p.snap->index, p.index);
    FUZZ_CHECK(p.seg0 <= g->nsegs && p.nsegs <= g->nsegs - p.seg0,
               "%s: segments [%zu, +%zu) of %zu", g->name, p.seg0, p.nsegs,
               g->nsegs);
    bytes = p.snap->size;
    for (size_t i = p.seg0; i < p.seg0 + p.nsegs; i++) {
        const struct ws_seginfo *s = &g->segs[i];
        FUZZ_CHECK(s->index >= p.snap->index && s->index <= p.index &&
                       (s->index < p.index || p.offset == WS_POS_END ||
                        s->offset < p.offset),
                   "%s: segment %08x/%llu outside snapshot %08x to target "
                   "%08x/%llu",
                   g->name, s->index, (unsigned long long)s->offset,
                   p.snap->index, p.index, (unsigned long long)p.offset);
        bytes += s->size;
    }
    FUZZ_CHECK(bytes == p.bytes, "%s: %llu bytes planned, %llu listed", g->name,
               (unsigned long long)p.bytes, (unsigned long long)bytes);
    if (q->has_time && !p.newest)
        FUZZ_CHECK(p.time_us <= q->time_us,
                   "%s: restores to %lld, after "
                   "the %lld asked for",
                   g->name, (long long)p.time_us, (long long)q->time_us);
    /* The end of an index, or a snapshot alone in it (no WAL there). */
    if (q->has_index)
        FUZZ_CHECK(p.index <= q->index &&
                       (p.offset == WS_POS_END ||
                        (p.nsegs == 0 && p.index == p.snap->index)),
                   "%s: index %08x restores to %08x/%llu", g->name, q->index,
                   p.index, (unsigned long long)p.offset);
}

static void names_plans(const struct ws_geninfo *g, uint8_t pick)
{
    struct ws_tlist recs = {0};
    struct ws_plan_req q = {0};
    const struct ws_timesinfo *to;

    names_recs(g, &recs);
    names_check_plan(g, &recs, &q);
    for (size_t i = 0; i < g->nsnaps && i < 4; i++) {
        q = (struct ws_plan_req){0};
        q.has_index = 1;
        q.index = g->snaps[i].index + (pick & 1);
        names_check_plan(g, &recs, &q);
    }
    for (size_t i = 0; i < g->nsegs && i < 16; i++) {
        q = (struct ws_plan_req){0};
        q.has_time = 1;
        q.time_us =
            g->segs[i].mtime_ms * 1000 + (pick >> 1 & 7) * 250000 - 1000;
        names_check_plan(g, &recs, &q);
        to = ws_plan_times_obj(g, &q);
        FUZZ_CHECK(to == NULL || (!to->snapshot && to->time_us <= q.time_us),
                   "%s: commit-time object from after the time", g->name);
    }
    for (size_t i = 0; i < recs.n && i < 16; i++) {
        q = (struct ws_plan_req){0};
        q.has_time = 1;
        q.time_us = recs.v[i].time_us - (pick >> 4 & 1);
        names_check_plan(g, &recs, &q);
    }
    (void)ws_plan_oldest(g, &recs);
    (void)ws_plan_ntx(g);
    ws_tlist_free(&recs);
}

static void names_check_catalog(const struct ws_objlist *l, uint8_t pick)
{
    struct ws_catalog cat;
    const struct ws_geninfo *latest;
    struct ws_err err;
    size_t counted = 0;
    int rc = ws_catalog_build(l, &cat, &err);

    if (rc != WS_OK) {
        fuzz_check_err(rc, &err, "ws_catalog_build");
        return;
    }
    for (size_t i = 0; i < cat.ngens; i++) {
        const struct ws_geninfo *g = &cat.gens[i];
        counted += g->nsnaps + g->nsegs + g->ntimes + g->nidx + g->ndigs;
        FUZZ_CHECK(i == 0 || strcmp(cat.gens[i - 1].name, g->name) < 0,
                   "generations %s and %s out of order or twice",
                   cat.gens[i - 1].name, g->name);
        FUZZ_CHECK(ws_catalog_find(&cat, g->name) == g, "find(%s)", g->name);
        names_check_sorted(g);
    }
    FUZZ_CHECK(counted + cat.nother == fuzz_catalog_entries(l),
               "catalog holds %zu + %zu of %zu", counted, cat.nother, l->n);
    latest = ws_catalog_latest(&cat);
    for (size_t i = 0; i < cat.ngens; i++) {
        const struct ws_geninfo *g = &cat.gens[i];
        int ab, ba;
        if (g->nsnaps == 0)
            continue;
        FUZZ_CHECK(latest != NULL && latest->nsnaps > 0 &&
                       ws_gen_cmp(latest, g) >= 0,
                   "latest %s, but %s is newer", latest ? latest->name : "none",
                   g->name);
        ab = ws_gen_cmp(latest, g);
        ba = ws_gen_cmp(g, latest);
        FUZZ_CHECK((ab > 0) == (ba < 0) && (ab == 0) == (ba == 0),
                   "ws_gen_cmp(%s, %s) is not antisymmetric", latest->name,
                   g->name);
    }
    for (size_t i = 0; i < cat.ngens && i < 8; i++)
        names_plans(&cat.gens[i], pick);
    ws_catalog_free(&cat);
}

int FUZZ_ENTRY(names)
{
    struct ws_objlist l = {0};
    char *text, *line, *next;
    size_t i = 0;

    if (size < 1)
        return 0;
    text = fuzz_str(data + 1, size - 1);
    for (line = text; line != NULL; line = next, i++) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (*line != '\0')
            names_add(&l, line, i);
    }
    names_check_catalog(&l, data[0]);
    ws_objlist_free(&l);
    free(text);
    return 0;
}
