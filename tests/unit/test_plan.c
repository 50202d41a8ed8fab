/*
 * test_plan.c: restore planning (plan.h) on hand-made listings: which
 * snapshot serves which moment, by its records and their kind; the
 * fallback to older snapshots; commit records against object times; the
 * oldest moment -list shows.
 */
#include "check.h"
#include "ws/plan.h"

#define G "0123456789abcdef"
#define PS 4096
#define FR (PS + 24)
#define OFF(n) (32 + (uint64_t)(n) * FR) /* after n frames */
#define T0 1763700000000000LL            /* us */
#define MS(us) ((us) / 1000)

struct fix {
    struct ws_objlist l;
    struct ws_catalog c;
    struct ws_tlist recs;
};

static void snap(struct fix *f, uint32_t index, int64_t t_us)
{
    char k[WS_KEY_MAX];

    ASSERT_EQ(ws_key_snapshot(k, sizeof(k), G, index), WS_OK);
    ASSERT_EQ(ws_objlist_add(&f->l, k, 1000, MS(t_us)), WS_OK);
}

static void seg(struct fix *f, uint32_t index, uint64_t offset, int64_t t_us)
{
    char k[WS_KEY_MAX];

    ASSERT_EQ(ws_key_wal(k, sizeof(k), G, index, offset), WS_OK);
    ASSERT_EQ(ws_objlist_add(&f->l, k, 100, MS(t_us)), WS_OK);
}

/* A snapshot's record: kind WS_T_IMAGE or WS_T_SNAPSHOT. */
static void rec(struct fix *f, uint32_t kind, uint32_t index, uint64_t off,
                int64_t t_us)
{
    struct ws_tpoint p = {index, kind, off, t_us};
    char k[WS_KEY_MAX];

    ASSERT_EQ(ws_key_times(k, sizeof(k), G, &p, 1), WS_OK);
    ASSERT_EQ(ws_objlist_add(&f->l, k, 40, MS(t_us) + 1), WS_OK);
}

static void commit(struct fix *f, uint32_t index, uint64_t off, int64_t t_us)
{
    struct ws_tpoint p = {index, WS_T_COMMIT, off, t_us};

    ASSERT_EQ(ws_tlist_add(&f->recs, &p), WS_OK);
}

static const struct ws_geninfo *gen(struct fix *f)
{
    ASSERT_EQ(ws_catalog_build(&f->l, &f->c, NULL), WS_OK);
    ASSERT_EQ(f->c.ngens, 1);
    ws_tlist_sort(&f->recs);
    return &f->c.gens[0];
}

static void done(struct fix *f)
{
    ws_catalog_free(&f->c);
    ws_objlist_free(&f->l);
    ws_tlist_free(&f->recs);
}

static int plan_at(struct fix *f, const struct ws_geninfo *g, int64_t t,
                   struct ws_plan *p, struct ws_err *e)
{
    struct ws_plan_req q = {1, t, 0, 0, 0, 0};
    return ws_plan_make(g, &f->recs, &q, p, e);
}

static int plan_latest(struct fix *f, const struct ws_geninfo *g,
                       struct ws_plan *p, struct ws_err *e)
{
    struct ws_plan_req q = {0};
    return ws_plan_make(g, &f->recs, &q, p, e);
}

/*
 * The replica an earlier walship left with snapshot-interval and an
 * index that never moved: one object for index 0, three raw records
 * (each rewrite replaced the object).  The object holds nothing past the
 * highest record, so it serves no moment before that record's time; a
 * restore to a moment inside must fail rather than return transactions
 * committed after it.  (The earlier planner took the highest offset
 * with the earliest record's time: 93 rows for a moment with 35.)
 */
TEST(rewritten_snapshot)
{
    struct fix f = {0};
    const struct ws_geninfo *g;
    struct ws_plan p;
    struct ws_err e = {0};

    snap(&f, 0, T0 + 10000000);
    rec(&f, WS_T_SNAPSHOT, 0, OFF(5), T0);
    rec(&f, WS_T_SNAPSHOT, 0, OFF(40), T0 + 5000000);
    rec(&f, WS_T_SNAPSHOT, 0, OFF(90), T0 + 10000000);
    seg(&f, 0, 0, T0 + 1000000);
    seg(&f, 0, OFF(50), T0 + 6000000);
    seg(&f, 0, OFF(95), T0 + 11000000);
    for (int i = 1; i <= 100; i++)
        commit(&f, 0, OFF(i), T0 + (int64_t)i * 110000);
    g = gen(&f);

    /* Commit 35 (at 3.85 s): no snapshot holds nothing past it. */
    ASSERT_EQ(plan_at(&f, g, T0 + 35 * 110000 + 50000, &p, &e),
              WS_ENOTFOUND);
    ASSERT_STR_CONTAINS(e.msg, "no snapshot old enough");
    /* Past the highest record: the WAL from 0 makes it exact. */
    ASSERT_EQ(plan_at(&f, g, T0 + 95 * 110000 + 50000, &p, &e), WS_OK);
    ASSERT_EQ(p.index, 0);
    ASSERT_EQ(p.offset, OFF(95));
    ASSERT_EQ(p.precise, 1);
    ASSERT_EQ(p.snap_safe, OFF(90));
    ASSERT_EQ(p.nsegs, 2);
    /* The oldest moment is the highest record's. */
    ASSERT_EQ(ws_plan_oldest(g, NULL), T0 + 10000000);
    done(&f);
}

/* A consistent image with its one record serves alone: the moment of
 * its record, with no WAL at all (a crash before the first segment). */
TEST(image_alone)
{
    struct fix f = {0};
    const struct ws_geninfo *g;
    struct ws_plan p;
    struct ws_err e = {0};

    snap(&f, 3, T0 + 1000000);
    rec(&f, WS_T_IMAGE, 3, OFF(700), T0 + 900000);
    g = gen(&f);
    ASSERT_EQ(plan_latest(&f, g, &p, &e), WS_OK);
    ASSERT_EQ(p.index, 3);
    ASSERT_EQ(p.offset, OFF(700));
    ASSERT_EQ(p.nsegs, 0);
    ASSERT_EQ(p.snap_safe, 0);
    ASSERT_EQ(p.newest, 1);
    ASSERT_STR_EQ(p.skipped, "");
    ASSERT_EQ(plan_at(&f, g, T0 + 950000, &p, &e), WS_OK);
    ASSERT_EQ(p.offset, OFF(700));
    ASSERT_EQ(p.time_us, T0 + 900000);
    ASSERT_EQ(plan_at(&f, g, T0 + 850000, &p, &e), WS_ENOTFOUND);
    ASSERT_EQ(ws_plan_oldest(g, NULL), T0 + 900000);

    /* With its WAL, later moments; exactly at the record, still no WAL. */
    seg(&f, 3, 0, T0 + 2000000);
    seg(&f, 3, OFF(800), T0 + 3000000);
    ws_catalog_free(&f.c);
    g = gen(&f);
    ASSERT_EQ(plan_latest(&f, g, &p, &e), WS_OK);
    ASSERT_UEQ(p.offset, WS_POS_END);
    ASSERT_EQ(p.nsegs, 2);
    ASSERT_EQ(p.snap_safe, OFF(700));
    ASSERT_EQ(plan_at(&f, g, T0 + 950000, &p, &e), WS_OK);
    ASSERT_EQ(p.offset, OFF(700));
    ASSERT_EQ(p.nsegs, 0);
    done(&f);
}

/* The raw kind (or an image with a second record) needs its index's WAL
 * up to the highest record: without it the snapshot serves nothing. */
TEST(needs_wal)
{
    static const uint32_t kinds[][2] = {
        {WS_T_SNAPSHOT, 0}, {WS_T_IMAGE, WS_T_IMAGE}, {WS_T_SNAPSHOT,
                                                       WS_T_IMAGE}};

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        struct fix f = {0};
        const struct ws_geninfo *g;
        struct ws_plan p;
        struct ws_err e = {0};

        snap(&f, 2, T0 + 1000000);
        rec(&f, kinds[i][0], 2, OFF(10), T0);
        if (kinds[i][1])
            rec(&f, kinds[i][1], 2, OFF(12), T0 + 500000);
        g = gen(&f);
        /* What a crash between the uploads leaves: restore passes over
         * it (p.skipped says why). */
        ASSERT_EQ(plan_latest(&f, g, &p, &e), WS_ENOTFOUND);
        ASSERT_STR_CONTAINS(e.msg, "cannot be restored: snapshot 00000002 "
                                   "holds changes up to offset");
        ASSERT_STR_CONTAINS(e.msg, "no WAL of that index from offset 0");
        ASSERT_STR_CONTAINS(p.skipped, "snapshot 00000002");
        ASSERT_EQ(plan_at(&f, g, T0 + 9000000, &p, &e), WS_ENOTFOUND);
        ASSERT(p.skipped[0] != '\0');
        ASSERT_EQ(ws_plan_oldest(g, NULL), 0);
        /* WAL of the next index with that one missing: objects were
         * lost, which no crash does; a hard error. */
        seg(&f, 3, 0, T0 + 2000000);
        ws_catalog_free(&f.c);
        g = gen(&f);
        ASSERT_EQ(plan_latest(&f, g, &p, &e), WS_ECORRUPT);
        ASSERT_STR_CONTAINS(e.msg, "missing WAL index: " G "/00000002");
        done(&f);
    }
}

/*
 * A newer snapshot that cannot be used (a crash after it, before its
 * WAL): the latest state falls back to the older snapshot and its
 * chain, and the plan says what it passed over.
 */
TEST(fallback_older_snapshot)
{
    struct fix f = {0};
    const struct ws_geninfo *g;
    struct ws_plan p;
    struct ws_err e = {0};

    snap(&f, 0, T0);
    rec(&f, WS_T_IMAGE, 0, OFF(3), T0);
    seg(&f, 0, 0, T0 + 1000000);
    seg(&f, 1, 0, T0 + 2000000);
    seg(&f, 2, 0, T0 + 3000000);
    snap(&f, 3, T0 + 4000000);
    rec(&f, WS_T_SNAPSHOT, 3, OFF(20), T0 + 3900000);
    g = gen(&f);
    ASSERT_EQ(plan_latest(&f, g, &p, &e), WS_OK);
    ASSERT_EQ(p.snap->index, 0);
    ASSERT_EQ(p.index, 2);
    ASSERT_UEQ(p.offset, WS_POS_END);
    ASSERT_EQ(p.nsegs, 3);
    ASSERT_EQ(p.newest, 0);
    ASSERT_STR_CONTAINS(p.skipped, "restoring 00000002:end instead of "
                                   "00000003:");
    ASSERT_STR_CONTAINS(p.skipped, "snapshot 00000003 holds changes");
    done(&f);
}

/* WAL past a hole no snapshot bridges: lost objects, an error that
 * names the generation and the index, never a quietly older state. */
TEST(hole)
{
    struct fix f = {0};
    const struct ws_geninfo *g;
    struct ws_plan p;
    struct ws_err e = {0};

    snap(&f, 0, T0);
    rec(&f, WS_T_IMAGE, 0, OFF(3), T0);
    seg(&f, 0, 0, T0 + 1000000);
    seg(&f, 2, 0, T0 + 3000000);
    g = gen(&f);
    ASSERT_EQ(plan_latest(&f, g, &p, &e), WS_ECORRUPT);
    ASSERT_STR_CONTAINS(e.msg, "missing WAL index: " G "/00000001");
    /* A time before the hole is fine. */
    ASSERT_EQ(plan_at(&f, g, T0 + 2000000, &p, &e), WS_OK);
    ASSERT_UEQ(p.offset, WS_POS_END);
    ASSERT_EQ(p.index, 0);
    /* The first segment of an index lost. */
    ws_catalog_free(&f.c);
    ws_objlist_free(&f.l);
    snap(&f, 0, T0);
    rec(&f, WS_T_IMAGE, 0, OFF(3), T0);
    seg(&f, 0, OFF(5), T0 + 1000000);
    g = gen(&f);
    ASSERT_EQ(plan_latest(&f, g, &p, &e), WS_ECORRUPT);
    ASSERT_STR_CONTAINS(e.msg, "missing initial wal segment");
    done(&f);
}

/* Without commit records (none shipped, or their object unreadable)
 * a time resolves by object times: a segment counts when it and every
 * one before it were written by then. */
TEST(object_times)
{
    struct fix f = {0};
    const struct ws_geninfo *g;
    struct ws_plan p;
    struct ws_err e = {0};

    snap(&f, 0, T0 + 10000);
    rec(&f, WS_T_IMAGE, 0, 32, T0);
    seg(&f, 0, 0, T0 + 1010000);
    seg(&f, 0, OFF(10), T0 + 3010000);
    seg(&f, 0, OFF(20), T0 + 2010000); /* written early: counts late */
    seg(&f, 1, 0, T0 + 4010000);
    g = gen(&f);
    ASSERT_EQ(plan_at(&f, g, T0 + 1500000, &p, &e), WS_OK);
    ASSERT_EQ(p.offset, OFF(10));
    ASSERT_EQ(p.precise, 0);
    /* A file's mtime may lag the write by a tick of the coarse clock. */
    ASSERT_EQ(p.time_us, T0 + 1020000);
    ASSERT_EQ(plan_at(&f, g, T0 + 1015000, &p, &e), WS_OK);
    ASSERT_EQ(p.offset, 32);
    ASSERT_EQ(plan_at(&f, g, T0 + 2500000, &p, &e), WS_OK);
    ASSERT_EQ(p.offset, OFF(10));
    ASSERT_EQ(plan_at(&f, g, T0 + 3500000, &p, &e), WS_OK);
    ASSERT_EQ(p.index, 0);
    ASSERT_UEQ(p.offset, WS_POS_END);
    ASSERT_EQ(plan_at(&f, g, INT64_MAX, &p, &e), WS_OK);
    ASSERT_EQ(p.index, 1);
    ASSERT_EQ(p.newest, 1);
    ASSERT_EQ(p.time_us, T0 + 4020000);
    /* Before the first segment: the snapshot's own moment. */
    ASSERT_EQ(plan_at(&f, g, T0 + 500000, &p, &e), WS_OK);
    ASSERT_EQ(p.offset, 32);
    ASSERT_EQ(p.nsegs, 0);
    done(&f);
}

/* S3's whole seconds count as the end of their second. */
TEST(whole_seconds)
{
    struct fix f = {0};
    const struct ws_geninfo *g;
    struct ws_plan p;
    struct ws_err e = {0};

    snap(&f, 0, T0);
    seg(&f, 0, 0, T0 + 2000000);
    g = gen(&f);
    ASSERT_EQ(plan_at(&f, g, T0 + 2500000, &p, &e), WS_OK);
    ASSERT_EQ(p.offset, 0); /* the snapshot only */
    ASSERT_EQ(plan_at(&f, g, T0 + 2999000, &p, &e), WS_OK);
    ASSERT_UEQ(p.offset, WS_POS_END);
    /* -list's newest is a moment that restores the newest. */
    ASSERT_EQ(plan_at(&f, g, INT64_MAX, &p, &e), WS_OK);
    ASSERT_EQ(p.time_us, T0 + 2999000);
    done(&f);
}

/* A snapshot without a record (Litestream's) serves a moment inside its
 * index only when it was written by then. */
TEST(recordless_snapshot)
{
    struct fix f = {0};
    const struct ws_geninfo *g;
    struct ws_plan p;
    struct ws_err e = {0};

    snap(&f, 0, T0 + 10000);
    seg(&f, 0, 0, T0 + 1010000);
    snap(&f, 1, T0 + 5010000);
    seg(&f, 1, 0, T0 + 3010000);
    seg(&f, 1, OFF(10), T0 + 4010000);
    seg(&f, 1, OFF(20), T0 + 6010000);
    for (int i = 1; i <= 30; i++)
        commit(&f, 1, OFF(i), T0 + 2000000 + (int64_t)i * 100000);
    g = gen(&f);
    /* Before snapshot 1 was written: snapshot 0 and the WAL. */
    ASSERT_EQ(plan_at(&f, g, T0 + 4450000, &p, &e), WS_OK);
    ASSERT_EQ(p.snap->index, 0);
    ASSERT_EQ(p.index, 1);
    ASSERT_EQ(p.offset, OFF(24));
    ASSERT_EQ(p.precise, 1);
    /* After: snapshot 1 may serve inside index 1. */
    ASSERT_EQ(plan_at(&f, g, T0 + 5500000, &p, &e), WS_OK);
    ASSERT_EQ(p.snap->index, 1);
    ASSERT_EQ(p.offset, OFF(30));
    done(&f);
}

/* -index: the end of that index, or the newest when past it. */
TEST(index)
{
    struct fix f = {0};
    const struct ws_geninfo *g;
    struct ws_plan p;
    struct ws_err e = {0};
    struct ws_plan_req q = {0, 0, 1, 1, 0, 0};

    snap(&f, 0, T0);
    rec(&f, WS_T_IMAGE, 0, 32, T0);
    seg(&f, 0, 0, T0 + 1000000);
    seg(&f, 1, 0, T0 + 2000000);
    seg(&f, 2, 0, T0 + 3000000);
    g = gen(&f);
    ASSERT_EQ(ws_plan_make(g, &f.recs, &q, &p, &e), WS_OK);
    ASSERT_EQ(p.index, 1);
    ASSERT_UEQ(p.offset, WS_POS_END);
    ASSERT_EQ(p.nsegs, 2);
    ASSERT_EQ(p.newest, 0);
    q.index = 9;
    ASSERT_EQ(ws_plan_make(g, &f.recs, &q, &p, &e), WS_OK);
    ASSERT_EQ(p.index, 2);
    ASSERT_EQ(p.newest, 1);
    /* An exact position (what a validation asks for): that cut, in the
     * last index as in an earlier one. */
    q.has_offset = 1;
    q.index = 2;
    q.offset = OFF(3);
    ASSERT_EQ(ws_plan_make(g, &f.recs, &q, &p, &e), WS_OK);
    ASSERT_EQ(p.index, 2);
    ASSERT_UEQ(p.offset, OFF(3));
    ASSERT_EQ(p.nsegs, 3);
    q.index = 1;
    ASSERT_EQ(ws_plan_make(g, &f.recs, &q, &p, &e), WS_OK);
    ASSERT_EQ(p.index, 1);
    ASSERT_UEQ(p.offset, OFF(3));
    ASSERT_EQ(p.nsegs, 2);
    done(&f);
}

/* A commit-time object holding records v[0..n), uploaded at t_us. */
static void times_obj(struct fix *f, const struct ws_tpoint *v, size_t n,
                      int64_t t_us)
{
    char k[WS_KEY_MAX];

    ASSERT_EQ(ws_key_times(k, sizeof(k), G, v, n), WS_OK);
    ASSERT_EQ(ws_objlist_add(&f->l, k, 40, MS(t_us)), WS_OK);
}

/*
 * The newest segments deleted: what the records prove the replica held
 * (a commit-time object's name, its records, an index record) fails a
 * restore that would stop short of it, or makes restore check it when
 * only the WAL's length can tell; never before the record's upload.
 */
TEST(missing_newest)
{
    struct ws_tpoint two[] = {{1, WS_T_COMMIT, OFF(5), T0 + 2500000},
                              {2, WS_T_COMMIT, OFF(3), T0 + 3500000}};
    struct ws_tpoint one[] = {{0, WS_T_COMMIT, OFF(1), T0 + 1100000}};
    struct ws_idxinfo x = {2, OFF(9), {1, 2}, 3, 4, 40, 0};
    struct ws_plan_req q = {0, 0, 1, 1, 0, 0};
    struct fix f = {0};
    const struct ws_geninfo *g;
    struct ws_plan p;
    struct ws_err e = {0};
    char k[WS_KEY_MAX];

    /* The name says index 2 holds a commit; the segments end in 1. */
    snap(&f, 0, T0);
    seg(&f, 0, 0, T0 + 1000000);
    seg(&f, 1, 0, T0 + 2000000);
    times_obj(&f, two, 2, T0 + 4000000);
    g = gen(&f);
    ASSERT_EQ(plan_latest(&f, g, &p, &e), WS_ECORRUPT);
    ASSERT_STR_CONTAINS(e.msg, "walship/times/00000001_");
    ASSERT_STR_CONTAINS(e.msg, "records a commit in index 00000002");
    ASSERT_STR_CONTAINS(e.msg, "segments end at 00000001:end");
    ASSERT_STR_CONTAINS(e.msg, "restore -timestamp 20");
    /* A time at or after its upload: the same; before it, fine. */
    ASSERT_EQ(plan_at(&f, g, T0 + 5000000, &p, &e), WS_ECORRUPT);
    ASSERT_EQ(plan_at(&f, g, T0 + 3000000, &p, &e), WS_OK);
    ASSERT_EQ(p.must_reach, 0);
    /* -index asks for an index: not checked. */
    ASSERT_EQ(ws_plan_make(g, &f.recs, &q, &p, &e), WS_OK);
    done(&f);

    /* An index record of 2: index 1 ended at OFF(9), inside the last
     * index: restore must see the WAL reach it. */
    memset(&f, 0, sizeof(f));
    snap(&f, 0, T0);
    seg(&f, 0, 0, T0 + 1000000);
    seg(&f, 1, 0, T0 + 2000000);
    ASSERT_EQ(ws_key_index_of(k, sizeof(k), G, &x), WS_OK);
    ASSERT_EQ(ws_objlist_add(&f.l, k, 40, MS(T0 + 3000000)), WS_OK);
    g = gen(&f);
    ASSERT_EQ(plan_latest(&f, g, &p, &e), WS_OK);
    ASSERT_EQ(p.must_index, 1);
    ASSERT_UEQ(p.must_reach, OFF(9));
    ASSERT_STR_CONTAINS(p.proof, ".index.lz4");
    ASSERT_STR_CONTAINS(ws_plan_gap(&p, 1, OFF(4), T0, &e) == WS_ECORRUPT
                            ? e.msg
                            : "",
                        "records a commit at 00000001:");
    /* A segment that starts past it: the listing shows it is there. */
    seg(&f, 1, OFF(9), T0 + 2500000);
    ws_catalog_free(&f.c);
    g = gen(&f);
    ASSERT_EQ(plan_latest(&f, g, &p, &e), WS_OK);
    ASSERT_EQ(p.must_reach, 0);
    done(&f);

    /* The newest commit-time object's records: its last commit. */
    memset(&f, 0, sizeof(f));
    snap(&f, 0, T0);
    seg(&f, 0, 0, T0 + 1000000);
    seg(&f, 0, OFF(10), T0 + 2000000);
    times_obj(&f, one, 1, T0 + 3000000);
    commit(&f, 0, OFF(1), T0 + 1100000);
    commit(&f, 0, OFF(12), T0 + 2200000);
    g = gen(&f);
    ASSERT_EQ(plan_latest(&f, g, &p, &e), WS_OK);
    ASSERT_UEQ(p.must_reach, OFF(12));
    ASSERT_STR_CONTAINS(p.proof, "walship/times/00000000_");
    ASSERT_EQ(plan_at(&f, g, T0 + 2100000, &p, &e), WS_OK);
    ASSERT_EQ(p.must_reach, 0);
    done(&f);
}

/*
 * The oldest moment of a snapshot with a record is the time of the
 * commit it ends at, when a commit-time object has it: a restore to any
 * time from that commit on succeeds, so -list and the error for a time
 * before it say that time, not the snapshot record's (a few ms later).
 * The object to read for it is found by position: one that started
 * between the commit and the record (time) does not hold it.
 */
TEST(oldest_commit)
{
    struct ws_tpoint a[] = {{3, WS_T_COMMIT, OFF(600), T0 + 800000},
                            {3, WS_T_COMMIT, OFF(700), T0 + 893000}};
    struct ws_tpoint b[] = {{3, WS_T_COMMIT, OFF(710), T0 + 895000}};
    struct fix f = {0};
    const struct ws_geninfo *g;
    const struct ws_timesinfo *t;
    struct ws_plan p;
    struct ws_err e = {0};

    snap(&f, 3, T0 + 1000000);
    rec(&f, WS_T_IMAGE, 3, OFF(700), T0 + 900000);
    seg(&f, 3, 0, T0 + 2000000);
    times_obj(&f, a, 2, T0 + 894000);
    times_obj(&f, b, 1, T0 + 2000000);
    commit(&f, 3, OFF(600), T0 + 800000);
    commit(&f, 3, OFF(700), T0 + 893000);
    g = gen(&f);
    ASSERT_EQ(ws_plan_oldest(g, NULL), T0 + 900000);
    ASSERT_EQ(ws_plan_oldest(g, &f.recs), T0 + 893000);
    t = ws_plan_oldest_obj(g);
    ASSERT_EQ(t != NULL, 1);
    ASSERT_UEQ(t->offset, OFF(600));
    /* That time restores; a microsecond before it does not. */
    ASSERT_EQ(plan_at(&f, g, T0 + 893000, &p, &e), WS_OK);
    ASSERT_UEQ(p.offset, OFF(700));
    ASSERT_EQ(p.time_us, T0 + 893000);
    ASSERT_EQ(plan_at(&f, g, T0 + 892999, &p, &e), WS_ENOTFOUND);
    ASSERT_STR_CONTAINS(e.msg, "oldest restorable: ");
    ASSERT_STR_CONTAINS(e.msg, ".893000Z");
    /* Without the record of that commit, the snapshot record's time. */
    ws_tlist_free(&f.recs);
    commit(&f, 3, OFF(600), T0 + 800000);
    ASSERT_EQ(ws_plan_oldest(g, &f.recs), T0 + 900000);
    done(&f);
}

#define LIST(X)                                                             \
    X(rewritten_snapshot) X(image_alone) X(needs_wal)                       \
    X(fallback_older_snapshot) X(hole) X(object_times) X(whole_seconds)     \
    X(recordless_snapshot) X(index) X(missing_newest) X(oldest_commit)

TEST_MAIN("plan", LIST)
