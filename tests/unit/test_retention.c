/*
 * test_retention.c: the retention planner and the restorability check
 * (retention.h).  Hand-written catalogs pin each rule; random catalogs
 * check the promise itself: every moment of the window that could be
 * restored before a plan is applied can still be restored after it.
 */
#include "check.h"
#include "ws/retention.h"

#define GA "aaaaaaaaaaaaaaaa"
#define GB "bbbbbbbbbbbbbbbb"
#define GC "cccccccccccccccc"

static void snap(struct ws_objlist *l, const char *gen, uint32_t index,
                 int64_t mtime)
{
    char k[WS_KEY_MAX];

    ASSERT_EQ(ws_key_snapshot(k, sizeof(k), gen, index), WS_OK);
    ASSERT_EQ(ws_objlist_add(l, k, 100, mtime), WS_OK);
}

static void seg(struct ws_objlist *l, const char *gen, uint32_t index,
                uint64_t offset, int64_t mtime)
{
    char k[WS_KEY_MAX];

    ASSERT_EQ(ws_key_wal(k, sizeof(k), gen, index, offset), WS_OK);
    ASSERT_EQ(ws_objlist_add(l, k, 10, mtime), WS_OK);
}

/* A snapshot written again at the same index replaces the old one. */
static void snap_put(struct ws_objlist *l, const char *gen, uint32_t index,
                     int64_t mtime)
{
    char k[WS_KEY_MAX];

    ASSERT_EQ(ws_key_snapshot(k, sizeof(k), gen, index), WS_OK);
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].key, k) == 0) {
            l->v[i].mtime_ms = mtime;
            return;
        }
    }
    snap(l, gen, index, mtime);
}

static void tobj(struct ws_objlist *l, const char *gen, uint32_t index,
                  uint32_t last_index, int64_t mtime)
{
    struct ws_timesinfo t = {.index = index,
                             .offset = 32,
                             .time_us = mtime * 1000,
                             .last_index = last_index,
                             .count = 1};
    char k[WS_KEY_MAX];

    ASSERT_EQ(ws_key_times_of(k, sizeof(k), gen, &t), WS_OK);
    ASSERT_EQ(ws_objlist_add(l, k, 1, mtime), WS_OK);
}

/* The index record of index (a made-up end of index - 1). */
static void irec(struct ws_objlist *l, const char *gen, uint32_t index,
                 int64_t mtime)
{
    struct ws_idxinfo x = {.index = index,
                           .prev_size = 32 + 4152 * (uint64_t)index,
                           .prev_cksum = {index, ~index},
                           .salt1 = index,
                           .salt2 = 7};
    char k[WS_KEY_MAX];

    ASSERT_EQ(ws_key_index_of(k, sizeof(k), gen, &x), WS_OK);
    ASSERT_EQ(ws_objlist_add(l, k, 15, mtime), WS_OK);
}

/* The digest record of the snapshot of index, written at mtime. */
static void dig(struct ws_objlist *l, const char *gen, uint32_t index,
                int64_t mtime)
{
    struct ws_diginfo d = {.index = index,
                           .offset = 32,
                           .time_us = mtime * 1000,
                           .sha256 = {(uint8_t)mtime, (uint8_t)index}};
    char k[WS_KEY_MAX];

    ASSERT_EQ(ws_key_digest_of(k, sizeof(k), gen, &d), WS_OK);
    ASSERT_EQ(ws_objlist_add(l, k, 15, mtime), WS_OK);
}

static void build(const struct ws_objlist *l, struct ws_catalog *c)
{
    ASSERT_EQ(ws_catalog_build(l, c, NULL), WS_OK);
}

/* 1 if key is deleted by p: listed, or under a listed generation. */
static int deleted(const struct ws_retention_plan *p, const char *key)
{
    for (size_t i = 0; i < p->nkeys; i++) {
        size_t n = strlen(p->keys[i]);
        if (strncmp(key, p->keys[i], n) == 0 &&
            (key[n] == '\0' || key[n] == '/'))
            return 1;
    }
    return 0;
}

/* The listing left after p's deletes. */
static void apply(const struct ws_objlist *l, const struct ws_retention_plan *p,
                  struct ws_objlist *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < l->n; i++)
        if (!deleted(p, l->v[i].key))
            ASSERT_EQ(ws_objlist_add(out, l->v[i].key, l->v[i].size,
                                     l->v[i].mtime_ms),
                      WS_OK);
}

/* Keys strictly sorted (so unique), none under another, all real. */
static void check_shape(const struct ws_objlist *l,
                        const struct ws_retention_plan *p)
{
    for (size_t i = 0; i < p->nkeys; i++) {
        int found = 0;
        if (i > 0 && strcmp(p->keys[i - 1], p->keys[i]) >= 0)
            CHECK_FAIL("keys not sorted and unique: %s, %s",
                       p->keys[i - 1], p->keys[i]);
        for (size_t j = 0; j < p->nkeys; j++) {
            size_t n = strlen(p->keys[j]);
            if (j != i && strncmp(p->keys[i], p->keys[j], n) == 0 &&
                p->keys[i][n] == '/')
                CHECK_FAIL("%s is under %s", p->keys[i], p->keys[j]);
        }
        for (size_t j = 0; j < l->n && !found; j++) {
            size_t n = strlen(p->keys[i]);
            found = strncmp(l->v[j].key, p->keys[i], n) == 0 &&
                    (l->v[j].key[n] == '\0' || l->v[j].key[n] == '/');
        }
        if (!found)
            CHECK_FAIL("%s names nothing listed", p->keys[i]);
    }
    ASSERT_EQ(p->ngens + p->nsnaps + p->nsegs + p->ntimes + p->nrecs,
              p->nkeys);
}

/* Plan l at (now, retention) with cur as the current generation. */
static void plan(const struct ws_objlist *l, const char *cur, int64_t now,
                 int64_t retention, struct ws_retention_plan *p)
{
    struct ws_catalog c;
    struct ws_err err;

    build(l, &c);
    ASSERT_EQ(ws_retention_plan(&c, cur, now, retention, p, &err), WS_OK);
    check_shape(l, p);
    ws_catalog_free(&c);
}

static int has(const struct ws_retention_plan *p, const char *key)
{
    for (size_t i = 0; i < p->nkeys; i++)
        if (strcmp(p->keys[i], key) == 0)
            return 1;
    return 0;
}

static int restorable(const struct ws_objlist *l, int64_t t)
{
    struct ws_catalog c;
    int r;

    build(l, &c);
    r = ws_retention_restorable(&c, t);
    ws_catalog_free(&c);
    return r;
}

TEST(empty)
{
    struct ws_objlist l = {0};
    struct ws_retention_plan p;

    plan(&l, "", 100000, 1000, &p);
    ASSERT_EQ(p.nkeys, 0);
    ASSERT_EQ(p.need_snapshot, 0);
    ws_retention_plan_free(&p);
    plan(&l, GA, 100000, 1000, &p);
    ASSERT_EQ(p.nkeys, 0);
    ASSERT_EQ(p.need_snapshot, 0);
    ws_retention_plan_free(&p);
    ASSERT_EQ(restorable(&l, 100000), 0);
    ws_retention_plan_free(&p); /* twice is harmless */
}

TEST(off)
{
    struct ws_objlist l = {0};
    struct ws_retention_plan p;

    snap(&l, GA, 0, 1000);
    seg(&l, GA, 0, 0, 1000);
    snap(&l, GB, 0, 2000);
    snap(&l, GC, 5, 3000);
    for (int64_t r = -1; r <= 0; r++) {
        plan(&l, GC, 1000000, r, &p);
        ASSERT_EQ(p.nkeys, 0);
        ASSERT_EQ(p.need_snapshot, 0);
        ws_retention_plan_free(&p);
    }
    ws_objlist_free(&l);
}

/* One generation: everything below the newest snapshot at or before the
 * cutoff goes; that snapshot and all after it stay. */
TEST(prune_below_base)
{
    struct ws_objlist l = {0};
    struct ws_retention_plan p;

    snap(&l, GA, 0, 1000);
    snap(&l, GA, 3, 5000);
    snap(&l, GA, 6, 9000);
    for (uint32_t i = 0; i < 8; i++) {
        seg(&l, GA, i, 0, 1000 + 1000 * i);
        seg(&l, GA, i, 4152, 1500 + 1000 * i);
    }
    plan(&l, GA, 12000, 5000, &p); /* cutoff 7000: base is index 3 */
    ASSERT_EQ(p.nkeys, 7);
    ASSERT_EQ(p.nsnaps, 1);
    ASSERT_EQ(p.nsegs, 6);
    ASSERT_EQ(p.ngens, 0);
    ASSERT_EQ(p.bytes, 100 + 6 * 10);
    ASSERT(has(&p, "generations/" GA "/snapshots/00000000.snapshot.lz4"));
    ASSERT(has(&p, "generations/" GA "/wal/00000000_00000000.wal.lz4"));
    ASSERT(has(&p, "generations/" GA "/wal/00000002_00001038.wal.lz4"));
    ASSERT(!has(&p, "generations/" GA "/wal/00000003_00000000.wal.lz4"));
    ASSERT(!has(&p, "generations/" GA "/snapshots/00000003.snapshot.lz4"));
    ASSERT_EQ(p.need_snapshot, 0);
    ws_retention_plan_free(&p);

    /* The cutoff exactly at a snapshot's time includes it. */
    plan(&l, GA, 14000, 5000, &p);
    ASSERT_EQ(p.nsnaps, 2);
    ASSERT_EQ(p.nsegs, 12);
    ws_retention_plan_free(&p);
    plan(&l, GA, 13999, 5000, &p);
    ASSERT_EQ(p.nsnaps, 1);
    ws_retention_plan_free(&p);
    ws_objlist_free(&l);
}

/* No snapshot at or before the cutoff: the whole generation is inside
 * the window, even objects older than the cutoff. */
TEST(nothing_before_first_snapshot)
{
    struct ws_objlist l = {0};
    struct ws_retention_plan p;

    seg(&l, GA, 0, 0, 1000);
    snap(&l, GA, 1, 8000);
    seg(&l, GA, 1, 0, 8000);
    tobj(&l, GA, 0, 0, 1000);
    plan(&l, GA, 10000, 5000, &p);
    ASSERT_EQ(p.nkeys, 0);
    ASSERT_EQ(p.need_snapshot, 0);
    ws_retention_plan_free(&p);
    ws_objlist_free(&l);
}

/* Times objects go only when their last record is below the base. */
TEST(times_by_last_index)
{
    struct ws_objlist l = {0};
    struct ws_retention_plan p;

    snap(&l, GA, 0, 1000);
    snap(&l, GA, 4, 5000);
    for (uint32_t i = 0; i < 6; i++)
        seg(&l, GA, i, 0, 1000 + 1000 * i);
    tobj(&l, GA, 0, 1, 2000);  /* all below 4: deleted */
    tobj(&l, GA, 2, 3, 4000);  /* last 3 < 4: deleted */
    tobj(&l, GA, 3, 4, 5000);  /* reaches 4 (the base's record): kept */
    tobj(&l, GA, 4, 5, 6000);  /* kept */
    plan(&l, GA, 30000, 10000, &p);
    ASSERT_EQ(p.ntimes, 2);
    ASSERT_EQ(p.nsegs, 4);
    ASSERT_EQ(p.nsnaps, 1);
    ASSERT(has(&p, "generations/" GA "/walship/times/00000000_00000020_"
                   "00000000001e8480-00000001_00000001.times.lz4"));
    ASSERT(has(&p, "generations/" GA "/walship/times/00000002_00000020_"
                   "00000000003d0900-00000003_00000001.times.lz4"));
    ASSERT_EQ(p.need_snapshot, 1);
    ws_retention_plan_free(&p);
    ws_objlist_free(&l);
}

/* Index records go with the later index they bind, digest records with
 * their snapshot, and never before. */
TEST(records_with_what_they_describe)
{
    struct ws_objlist l = {0};
    struct ws_retention_plan p;
    char k[WS_KEY_MAX];
    struct ws_idxinfo x = {0};

    snap(&l, GA, 0, 1000);
    dig(&l, GA, 0, 1000);
    snap(&l, GA, 4, 5000);
    dig(&l, GA, 4, 5000);
    dig(&l, GA, 2, 3000); /* its snapshot lost: deleted, below the base */
    seg(&l, GA, 0, 0, 1000);
    for (uint32_t i = 1; i < 6; i++) {
        irec(&l, GA, i, 1000 + 1000 * i);
        seg(&l, GA, i, 0, 1000 + 1000 * i);
    }
    plan(&l, GA, 30000, 10000, &p);
    ASSERT_EQ(p.nsnaps, 1);
    ASSERT_EQ(p.nsegs, 4);
    ASSERT_EQ(p.nrecs, 5); /* index records 1 to 3, digests of 0 and 2 */
    for (uint32_t i = 1; i < 6; i++) {
        x = (struct ws_idxinfo){.index = i,
                                .prev_size = 32 + 4152 * (uint64_t)i,
                                .prev_cksum = {i, ~i},
                                .salt1 = i,
                                .salt2 = 7};
        ASSERT_EQ(ws_key_index_of(k, sizeof(k), GA, &x), WS_OK);
        if (has(&p, k) != (i < 4))
            CHECK_FAIL("index record %u: deleted %d", i, has(&p, k));
    }
    ws_retention_plan_free(&p);
    ws_objlist_free(&l);

    /* The current generation's newest snapshot stays with its digest,
     * even below the base. */
    snap(&l, GA, 2, 3000);
    dig(&l, GA, 2, 3000);
    snap(&l, GA, 0, 4000);
    dig(&l, GA, 0, 4000);
    seg(&l, GA, 2, 0, 3000);
    plan(&l, GA, 100000, 5000, &p);
    ASSERT_EQ(p.nkeys, 0);
    ws_retention_plan_free(&p);
    plan(&l, "", 100000, 5000, &p);
    ASSERT_EQ(p.nsnaps, 1);
    ASSERT_EQ(p.nrecs, 1);
    ws_retention_plan_free(&p);
    ws_objlist_free(&l);
}

/* The current generation keeps its newest snapshot, even one rewritten
 * at a lower index after a higher one, and asks for a new one when its
 * newest is older than the cutoff. */
TEST(current_newest_snapshot_kept)
{
    struct ws_objlist l = {0};
    struct ws_retention_plan p;

    snap(&l, GA, 0, 1000);
    snap(&l, GA, 2, 3000);
    seg(&l, GA, 0, 0, 1000);
    seg(&l, GA, 1, 0, 2000);
    seg(&l, GA, 2, 0, 3000);
    plan(&l, GA, 100000, 5000, &p);
    ASSERT_EQ(p.nsnaps, 1);
    ASSERT(!has(&p, "generations/" GA "/snapshots/00000002.snapshot.lz4"));
    ASSERT_EQ(p.need_snapshot, 1);
    ws_retention_plan_free(&p);
    /* Not current: the same deletes, and no snapshot is asked for. */
    plan(&l, "", 100000, 5000, &p);
    ASSERT_EQ(p.nkeys, 3);
    ASSERT_EQ(p.need_snapshot, 0);
    ws_retention_plan_free(&p);
    ws_objlist_free(&l);

    /* Index 0 rewritten last: it is the newest and stays. */
    snap(&l, GA, 2, 3000);
    snap(&l, GA, 0, 4000);
    seg(&l, GA, 2, 0, 3000);
    plan(&l, GA, 100000, 5000, &p);
    ASSERT_EQ(p.nkeys, 0);
    ASSERT_EQ(p.need_snapshot, 1);
    ws_retention_plan_free(&p);
    plan(&l, "", 100000, 5000, &p);
    ASSERT_EQ(p.nkeys, 1);
    ws_retention_plan_free(&p);
    ws_objlist_free(&l);

    /* A snapshot inside the window: nothing needed. */
    snap(&l, GA, 0, 1000);
    snap(&l, GA, 1, 96000);
    seg(&l, GA, 0, 0, 1000);
    seg(&l, GA, 1, 0, 96000);
    plan(&l, GA, 100000, 5000, &p);
    ASSERT_EQ(p.nkeys, 0);
    ASSERT_EQ(p.need_snapshot, 0);
    ws_retention_plan_free(&p);
    ws_objlist_free(&l);
}

/* An old generation goes only once a newer one can restore the cutoff. */
TEST(old_generation_needs_cover)
{
    struct ws_objlist l = {0};
    struct ws_retention_plan p;

    snap(&l, GA, 0, 1000);
    seg(&l, GA, 0, 0, 1000);
    seg(&l, GA, 0, 4152, 2000);
    tobj(&l, GA, 0, 0, 2000);
    /* GB starts at 3000 but its first snapshot lands inside the window
     * (cutoff 10000): moments before it still need GA. */
    seg(&l, GB, 0, 0, 3000);
    snap(&l, GB, 1, 11000);
    seg(&l, GB, 1, 0, 11000);
    plan(&l, GB, 20000, 10000, &p);
    ASSERT_EQ(p.nkeys, 0);
    ASSERT_EQ(p.need_snapshot, 0);
    ws_retention_plan_free(&p);

    /* Later (cutoff 11000) GB covers the window: GA goes whole. */
    plan(&l, GB, 21000, 10000, &p);
    ASSERT_EQ(p.nkeys, 2);
    ASSERT_EQ(p.ngens, 1);
    ASSERT_EQ(p.nsegs, 1);
    ASSERT_EQ(p.bytes, 100 + 10 + 10 + 1 + 10);
    ASSERT(has(&p, "generations/" GA));
    ASSERT(has(&p, "generations/" GB "/wal/00000000_00000000.wal.lz4"));
    ws_retention_plan_free(&p);

    /* ...but not while it is the current generation (a writer elsewhere
     * made GB), */
    plan(&l, GA, 21000, 10000, &p);
    ASSERT(!has(&p, "generations/" GA));
    ASSERT_EQ(p.need_snapshot, 1);
    ws_retention_plan_free(&p);

    /* ...nor when one of its objects is inside the window. */
    tobj(&l, GA, 0, 0, 11000);
    plan(&l, GB, 21000, 10000, &p);
    ASSERT(!has(&p, "generations/" GA));
    ws_retention_plan_free(&p);
    ws_objlist_free(&l);
}

/* A newer generation whose chain is broken covers nothing. */
TEST(broken_cover_is_no_cover)
{
    struct ws_objlist l = {0};
    struct ws_retention_plan p;

    snap(&l, GA, 0, 1000);
    seg(&l, GA, 0, 0, 1000);
    snap(&l, GB, 0, 3000);
    seg(&l, GB, 0, 0, 3000);
    seg(&l, GB, 2, 0, 12000); /* index 1 missing */
    plan(&l, GB, 20000, 10000, &p);
    ASSERT(!has(&p, "generations/" GA));
    ws_retention_plan_free(&p);
    ASSERT_EQ(restorable(&l, 15000), 1);   /* from GA */
    seg(&l, GB, 1, 0, 11000);
    plan(&l, GB, 20000, 10000, &p);
    ASSERT(has(&p, "generations/" GA));
    ws_retention_plan_free(&p);
    ws_objlist_free(&l);
}

/* "Newer" is by creation: an older generation never covers a newer one,
 * even when it was written to later. */
TEST(cover_must_be_newer)
{
    struct ws_objlist l = {0};
    struct ws_retention_plan p;

    snap(&l, GA, 0, 1000);
    seg(&l, GA, 0, 0, 1000);
    seg(&l, GA, 1, 0, 30000);
    snap(&l, GB, 0, 2000);
    seg(&l, GB, 0, 0, 2000);
    plan(&l, GA, 40000, 5000, &p);
    ASSERT_EQ(p.nkeys, 0);
    ws_retention_plan_free(&p);
    ws_objlist_free(&l);
}

/* A generation without a snapshot is junk once it is old, unless it is
 * the current one. */
TEST(junk_generation)
{
    struct ws_objlist l = {0};
    struct ws_retention_plan p;

    seg(&l, GA, 0, 0, 1000);
    seg(&l, GA, 0, 4152, 2000);
    tobj(&l, GB, 0, 0, 1500);   /* times objects only */
    seg(&l, GC, 0, 0, 9500);     /* inside the window */
    plan(&l, "", 10000, 1000, &p);
    ASSERT_EQ(p.nkeys, 2);
    ASSERT_EQ(p.ngens, 2);
    ASSERT(has(&p, "generations/" GA));
    ASSERT(has(&p, "generations/" GB));
    ws_retention_plan_free(&p);
    plan(&l, GA, 10000, 1000, &p);
    ASSERT_EQ(p.nkeys, 1);
    ASSERT(has(&p, "generations/" GB));
    ASSERT_EQ(p.need_snapshot, 0);
    ws_retention_plan_free(&p);
    ws_objlist_free(&l);
}

/* A listing that repeats a key gives one delete. */
TEST(no_key_twice)
{
    struct ws_objlist l = {0};
    struct ws_retention_plan p;

    snap(&l, GA, 0, 1000);
    snap(&l, GA, 0, 1000);
    seg(&l, GA, 0, 0, 1000);
    seg(&l, GA, 0, 0, 1000);
    snap(&l, GA, 1, 2000);
    plan(&l, GA, 10000, 1000, &p);
    ASSERT_EQ(p.nkeys, 2);
    ASSERT_EQ(p.nsnaps, 1);
    ASSERT_EQ(p.nsegs, 1);
    ws_retention_plan_free(&p);
    ws_objlist_free(&l);
}

TEST(restorable_rules)
{
    struct ws_objlist l = {0};

    seg(&l, GA, 0, 0, 1000);
    ASSERT_EQ(restorable(&l, 5000), 0);          /* no snapshot */
    snap(&l, GA, 0, 2000);
    ASSERT_EQ(restorable(&l, 1999), 0);          /* snapshot too late */
    ASSERT_EQ(restorable(&l, 2000), 1);
    seg(&l, GA, 2, 0, 3000);
    ASSERT_EQ(restorable(&l, 5000), 0);          /* index 1 missing */
    seg(&l, GA, 1, 4152, 3000);
    ASSERT_EQ(restorable(&l, 5000), 0);          /* 1 lacks offset 0 */
    seg(&l, GA, 1, 0, 3000);
    ASSERT_EQ(restorable(&l, 5000), 1);
    ws_objlist_free(&l);

    snap(&l, GA, 3, 1000);                       /* snapshot alone */
    ASSERT_EQ(restorable(&l, 1000), 1);
    seg(&l, GA, 0, 0, 1000);                     /* below it: ignored */
    ASSERT_EQ(restorable(&l, 1000), 1);
    seg(&l, GA, 3, 4152, 1000);                  /* 3 lacks offset 0 */
    ASSERT_EQ(restorable(&l, 1000), 0);
    snap(&l, GA, 4, 1000);                       /* a later base repairs */
    ASSERT_EQ(restorable(&l, 1000), 1);
    ws_objlist_free(&l);
}

/* A small deterministic generator (xorshift64*). */
struct rng {
    uint64_t s;
};

static uint32_t rnd(struct rng *r, uint32_t n)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (uint32_t)((r->s * 2685821657736338717ull) >> 33) % n;
}

/* One generation's life from time *t: commits, WAL restarts, snapshots,
 * times objects, and now and then a lost segment or no first snapshot. */
static void random_gen(struct rng *r, struct ws_objlist *l, const char *gen,
                       int64_t *t)
{
    uint32_t idx = 0, times_from = 0;
    uint64_t off = 0;
    int steps = 1 + (int)rnd(r, 40);

    if (rnd(r, 8) != 0)
        snap(l, gen, 0, *t);
    seg(l, gen, 0, 0, *t);
    for (int i = 0; i < steps; i++) {
        uint32_t a = rnd(r, 20);
        *t += 1 + rnd(r, 500);
        if (a < 12) {
            off += 4152;
            if (rnd(r, 60) != 0)
                seg(l, gen, idx, off, *t);
        } else if (a < 15) {
            idx++;
            off = 0;
            if (rnd(r, 8) != 0)
                irec(l, gen, idx, *t);
            if (rnd(r, 30) != 0)
                seg(l, gen, idx, 0, *t);
        } else if (a < 18) {
            snap_put(l, gen, idx, *t);
            if (rnd(r, 4) != 0)
                dig(l, gen, idx, *t);
        } else {
            tobj(l, gen, times_from, idx, *t);
            times_from = idx;
        }
    }
}

/* The current generation is not deleted, nor its newest snapshot by
 * index or by time. */
static void check_current_kept(const struct ws_objlist *l,
                               const struct ws_retention_plan *p,
                               const char *cur, uint64_t seed)
{
    struct ws_catalog c;
    const struct ws_geninfo *g;
    char k[WS_KEY_MAX];

    build(l, &c);
    g = ws_catalog_find(&c, cur);
    ASSERT_EQ(ws_key_gen(k, sizeof(k), cur), WS_OK);
    ASSERT(!has(p, k));
    if (g != NULL && g->nsnaps > 0) {
        /* Newest by index (the last), and by time (ties: higher index). */
        size_t by_time = 0, last = g->nsnaps - 1;
        for (size_t j = 1; j < g->nsnaps; j++)
            if (g->snaps[j].mtime_ms >= g->snaps[by_time].mtime_ms)
                by_time = j;
        for (int n = 0; n < 2; n++) {
            size_t i = n ? by_time : last;
            ASSERT_EQ(ws_key_snapshot(k, sizeof(k), cur, g->snaps[i].index),
                      WS_OK);
            if (deleted(p, k))
                CHECK_FAIL("seed %" PRIu64 ": deleted %s", seed, k);
        }
    }
    ws_catalog_free(&c);
}

/* No record is deleted while what it describes stays: the segments of
 * an index record's index, a digest record's snapshot. */
static void check_records(const struct ws_objlist *before,
                          const struct ws_objlist *after, uint64_t seed)
{
    struct ws_catalog b, a;

    build(before, &b);
    build(after, &a);
    for (size_t i = 0; i < b.ngens; i++) {
        const struct ws_geninfo *g = &b.gens[i];
        const struct ws_geninfo *h = ws_catalog_find(&a, g->name);
        for (size_t k = 0; h != NULL && k < g->nidx; k++) {
            size_t n, segs_kept = 0;
            uint32_t x = g->idx[k].index;
            for (size_t j = 0; j < h->nsegs; j++)
                segs_kept += h->segs[j].index == x;
            if (segs_kept > 0 && ws_catalog_index_recs(h, x, &n) == NULL)
                CHECK_FAIL("seed %" PRIu64 ": index record %08x deleted, "
                           "its segments kept", seed, x);
        }
        for (size_t k = 0; h != NULL && k < g->ndigs; k++) {
            size_t n;
            uint32_t x = g->digs[k].index;
            int snap_kept = 0;
            for (size_t j = 0; j < h->nsnaps; j++)
                snap_kept |= h->snaps[j].index == x;
            if (snap_kept && ws_catalog_digests(h, x, &n) == NULL)
                CHECK_FAIL("seed %" PRIu64 ": digest record %08x deleted, "
                           "its snapshot kept", seed, x);
        }
    }
    ws_catalog_free(&a);
    ws_catalog_free(&b);
}

/* Random replicas: the window stays restorable, the current generation
 * keeps its newest snapshot, and a second plan finds nothing more. */
TEST(random_window_stays_restorable)
{
    static const char *const names[] = {GA, GB, GC, "dddddddddddddddd"};
    int dropped = 0, pruned = 0, recs = 0;

    for (uint64_t seed = 1; seed <= 3000; seed++) {
        struct rng r = {seed * 0x9e3779b97f4a7c15ull};
        struct ws_objlist l = {0}, after = {0};
        struct ws_retention_plan p, p2;
        int64_t t = 1000000, now, ret;
        size_t ngen = 1 + rnd(&r, 4);
        const char *cur;

        for (size_t g = 0; g < ngen; g++) {
            random_gen(&r, &l, names[g], &t);
            t += rnd(&r, 2000);
        }
        now = t + rnd(&r, 5000);
        ret = 1 + rnd(&r, (uint32_t)(now - 1000000 + 2000));
        cur = rnd(&r, 5) == 0 ? "" : names[ngen - 1 - rnd(&r, 2) % ngen];
        plan(&l, cur, now, ret, &p);
        apply(&l, &p, &after);
        for (int64_t x = now - ret; x <= now; x += 1 + ret / 64)
            if (restorable(&l, x) && !restorable(&after, x))
                CHECK_FAIL("seed %" PRIu64 ": moment %" PRId64
                           " lost (now %" PRId64 ", retention %" PRId64 ")",
                           seed, x, now, ret);
        if (restorable(&l, now) && !restorable(&after, now))
            CHECK_FAIL("seed %" PRIu64 ": latest state lost", seed);
        if (cur[0] != '\0')
            check_current_kept(&l, &p, cur, seed);
        check_records(&l, &after, seed);
        recs += p.nrecs > 0;
        plan(&after, cur, now, ret, &p2);
        if (p2.nkeys != 0)
            CHECK_FAIL("seed %" PRIu64 ": second plan deletes %s", seed,
                       p2.keys[0]);
        dropped += p.ngens > 0;
        pruned += p.nsegs > 0;
        ws_retention_plan_free(&p2);
        ws_retention_plan_free(&p);
        ws_objlist_free(&after);
        ws_objlist_free(&l);
    }
    /* The generator must exercise both rules. */
    ASSERT(dropped > 100);
    ASSERT(pruned > 100);
    ASSERT(recs > 100);
}

#define LIST(X)                                                             \
    X(empty) X(off) X(prune_below_base) X(nothing_before_first_snapshot)    \
    X(times_by_last_index) X(records_with_what_they_describe)               \
    X(current_newest_snapshot_kept)                                         \
    X(old_generation_needs_cover) X(broken_cover_is_no_cover)               \
    X(cover_must_be_newer) X(junk_generation) X(no_key_twice)               \
    X(restorable_rules) X(random_window_stays_restorable)

TEST_MAIN("retention", LIST)
