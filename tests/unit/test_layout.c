/*
 * test_layout.c: object keys and listings (Litestream v0.3's names, and
 * the path facts its own tests pin).
 */
#include "check.h"
#include "ws/layout.h"

TEST(keys)
{
    char k[WS_KEY_MAX];

    ASSERT_EQ(ws_key_wal(k, sizeof(k), "0123456701234567", 1000, 1001),
              WS_OK);
    ASSERT_STR_EQ(k, "generations/0123456701234567/wal/000003e8_000003e9.wal.lz4");
    ASSERT_EQ(ws_key_snapshot(k, sizeof(k), "0123456701234567", 1000), WS_OK);
    ASSERT_STR_EQ(k,
                  "generations/0123456701234567/snapshots/000003e8.snapshot.lz4");
    ASSERT_EQ(ws_key_gen(k, sizeof(k), "0123456701234567"), WS_OK);
    ASSERT_STR_EQ(k, "generations/0123456701234567");
    ASSERT_EQ(ws_key_wal(k, sizeof(k), "", 1, 1), WS_EUSAGE);
    ASSERT_EQ(ws_key_snapshot(k, sizeof(k), "", 1), WS_EUSAGE);
    ASSERT_EQ(ws_key_wal(k, 10, "0123456701234567", 1, 1), WS_EUSAGE);
}

TEST(gen_names)
{
    char g[WS_GEN_LEN + 1];

    ASSERT(ws_gen_valid("0123456789abcdef"));
    ASSERT(!ws_gen_valid("0123456789ABCDEF"));
    ASSERT(!ws_gen_valid("0123456789abcde"));
    ASSERT(!ws_gen_valid("0123456789abcdef0"));
    ASSERT_EQ(ws_gen_new(g, NULL), WS_OK);
    ASSERT(ws_gen_valid(g));
}

TEST(parse)
{
    char g[WS_GEN_LEN + 1];
    uint32_t i;
    uint64_t o;

    ASSERT_EQ(ws_key_parse(
                  "generations/0123456701234567/wal/000003e8_000003e9.wal.lz4",
                  g, &i, &o),
              WS_OBJ_WAL);
    ASSERT_STR_EQ(g, "0123456701234567");
    ASSERT_EQ(i, 1000);
    ASSERT_EQ(o, 1001);
    ASSERT_EQ(ws_key_parse("generations/0123456701234567/snapshots/"
                           "0000000a.snapshot.lz4",
                           g, &i, &o),
              WS_OBJ_SNAPSHOT);
    ASSERT_EQ(i, 10);
    /* Litestream's listing rules: exactly 8 lowercase hex digits. */
    static const char *const bad[] = {
        "generations/0123456701234567/wal/000003E8_000003e9.wal.lz4",
        "generations/0123456701234567/wal/3e8_3e9.wal.lz4",
        "generations/0123456701234567/wal/000003e8_1000003e9.wal.lz4",
        "generations/0123456701234567/wal/000003e8_000003e9.wal.lz4.tmp",
        "generations/0123456701234567/snapshots/000003e8.snapshot.lz4x",
        "generations/012345670123456/wal/000003e8_000003e9.wal.lz4",
        "generations/0123456701234567/other/000003e8.snapshot.lz4",
        "x/generations/0123456701234567/wal/000003e8_000003e9.wal.lz4",
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
        if (ws_key_parse(bad[k], g, &i, &o) != WS_OBJ_OTHER)
            CHECK_FAIL("accepted %s", bad[k]);
}

TEST(catalog)
{
    struct ws_objlist l = {0};
    struct ws_catalog c;
    const struct ws_geninfo *g;

    ws_objlist_add(&l, "generations/b16ddcf5c697540f/snapshots/"
                       "00000000.snapshot.lz4", 10, 1000);
    ws_objlist_add(&l, "generations/b16ddcf5c697540f/wal/"
                       "00000001_00000000.wal.lz4", 5, 3000);
    ws_objlist_add(&l, "generations/b16ddcf5c697540f/wal/"
                       "00000000_00000000.wal.lz4", 5, 2000);
    ws_objlist_add(&l, "generations/155fe292f8333c72/snapshots/"
                       "00000000.snapshot.lz4", 10, 5000);
    ws_objlist_add(&l, "generations/5efbd8d042012dca/wal/"
                       "00000000_00000000.wal.lz4", 1, 9000);
    ws_objlist_add(&l, "generations/155fe292f8333c72/junk", 1, 1);
    ASSERT_EQ(ws_catalog_build(&l, &c, NULL), WS_OK);
    ASSERT_EQ(c.ngens, 3);
    ASSERT_STR_EQ(c.gens[0].name, "155fe292f8333c72");
    ASSERT_STR_EQ(c.gens[1].name, "5efbd8d042012dca");
    ASSERT_STR_EQ(c.gens[2].name, "b16ddcf5c697540f");
    ASSERT_EQ(c.nother, 1);
    g = ws_catalog_find(&c, "b16ddcf5c697540f");
    ASSERT(g != NULL);
    ASSERT_EQ(g->nsegs, 2);
    ASSERT_EQ(g->segs[0].index, 0);
    ASSERT_EQ(g->segs[1].index, 1);
    ASSERT_EQ(g->created_ms, 1000);
    ASSERT_EQ(g->updated_ms, 3000);
    /* Newest data wins, but only generations with a snapshot qualify. */
    g = ws_catalog_latest(&c);
    ASSERT_STR_EQ(g->name, "155fe292f8333c72");
    ws_catalog_free(&c);
    ws_objlist_free(&l);
}

/* Two generations written one after the other whose newest objects fall
 * in the same second, as S3's whole-second object times make common
 * (tests/e2e/98 restored the older one about once in ten runs): the one
 * that started later is the live one, whatever the names.  Within one
 * second walship's microsecond records decide; only without them the
 * later name. */
TEST(latest_ties)
{
#define SNAP(g) "generations/" g "/snapshots/00000000.snapshot.lz4"
#define REC(g, us) "generations/" g "/walship/snapshots/00000000_00000000_" us \
                   ".times.lz4"
#define F "ffffffffffffffff"
#define Z "0000000000000000"
    static const struct {
        const char *keys[4];
        int64_t ms[4];
        const char *want;
    } cases[] = {
        /* F ran from second 1 to 5; Z started in second 5. */
        {{SNAP(F), "generations/" F "/wal/00000000_00000000.wal.lz4", SNAP(Z)},
         {1000, 5000, 5000},
         Z},
        /* Both within second 5: the records' microseconds. */
        {{SNAP(F), SNAP(Z), REC(F, "00000000004c4b40"),
          REC(Z, "00000000004c4b41")},
         {5000, 5000, 5000, 5000},
         Z},
        {{SNAP(F), SNAP(Z), REC(F, "00000000004c4b42"),
          REC(Z, "00000000004c4b41")},
         {5000, 5000, 5000, 5000},
         F},
        /* No records (Litestream's generations): the later name. */
        {{SNAP(Z), SNAP(F)}, {5000, 5000}, F},
    };
#undef SNAP
#undef REC
#undef F
#undef Z

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ws_objlist l = {0};
        struct ws_catalog c;
        const struct ws_geninfo *g;

        for (size_t k = 0; k < 4 && cases[i].keys[k] != NULL; k++)
            ws_objlist_add(&l, cases[i].keys[k], 1, cases[i].ms[k]);
        ASSERT_EQ(ws_catalog_build(&l, &c, NULL), WS_OK);
        ASSERT_EQ(c.ngens, 2);
        g = ws_catalog_latest(&c);
        ASSERT(g != NULL);
        if (strcmp(g->name, cases[i].want) != 0)
            CHECK_FAIL("case %zu: latest %s, want %s", i, g->name,
                       cases[i].want);
        /* gens[0] is Z (sorted by name). */
        ASSERT_EQ(ws_gen_cmp(&c.gens[0], &c.gens[1]),
                  cases[i].want[0] == '0' ? 1 : -1);
        ws_catalog_free(&c);
        ws_objlist_free(&l);
    }
}

/* A generation named G with the segments in spec ("index:offset ...",
 * sorted), for the chain check. */
static void chain_gen(struct ws_geninfo *g, struct ws_seginfo *v,
                      const char *spec)
{
    const char *p = spec;
    char *end;

    memset(g, 0, sizeof(*g));
    memcpy(g->name, "0123456701234567", WS_GEN_LEN + 1);
    g->segs = v;
    while (*p) {
        v[g->nsegs].index = (uint32_t)strtoul(p, &end, 10);
        v[g->nsegs].offset = strtoull(end + 1, &end, 10);
        v[g->nsegs].size = 1;
        g->nsegs++;
        p = end + strspn(end, " ");
    }
}

/* ws_catalog_chain, which restore planning and retention share: which
 * segments a replay from `from` to (to, to_off) takes, and when they do
 * not chain. */
TEST(chain)
{
    static const struct {
        const char *segs;
        uint32_t from, to;
        uint64_t to_off;
        int rc;
        size_t seg0, nsegs;
        const char *msg;
    } cases[] = {
        {"", 0, 0, WS_POS_END, WS_OK, 0, 0, NULL},
        {"", 3, 3, 32, WS_OK, 0, 0, NULL},
        {"", 3, 3, 4152, WS_ECORRUPT, 0, 0, "missing WAL index: "
                                             "0123456701234567/00000003"},
        {"0:0 0:100 1:0 1:50 2:0", 0, 2, WS_POS_END, WS_OK, 0, 5, NULL},
        {"0:0 0:100 1:0 1:50 2:0", 1, 2, WS_POS_END, WS_OK, 2, 3, NULL},
        {"0:0 0:100 1:0 1:50 2:0", 0, 1, 50, WS_OK, 0, 3, NULL},
        {"0:0 0:100 1:0 1:50 2:0", 0, 1, 51, WS_OK, 0, 4, NULL},
        {"0:0 0:100 1:0 1:50 2:0", 2, 2, WS_POS_END, WS_OK, 4, 1, NULL},
        /* Index 3 not written yet: fine unless frames of it are wanted. */
        {"0:0 0:100 1:0 1:50 2:0", 0, 3, 32, WS_OK, 0, 5, NULL},
        {"0:0 0:100 1:0 1:50 2:0", 0, 3, 4152, WS_ECORRUPT, 0, 5,
         "missing WAL index: 0123456701234567/00000003"},
        {"0:0 2:0", 0, 2, WS_POS_END, WS_ECORRUPT, 0, 2,
         "missing WAL index: 0123456701234567/00000001"},
        {"0:0 2:0", 2, 2, WS_POS_END, WS_OK, 1, 1, NULL},
        {"0:0 1:4152 2:0", 0, 2, WS_POS_END, WS_ECORRUPT, 0, 3,
         "missing initial wal segment: generation=0123456701234567 "
         "index=00000001 offset=4152"},
        {"0:0 1:4152 2:0", 2, 2, WS_POS_END, WS_OK, 2, 1, NULL},
        {"1:0", 0, 1, WS_POS_END, WS_ECORRUPT, 0, 1,
         "missing WAL index: 0123456701234567/00000000"},
        {"0:0 0:100", 0, 0, 100, WS_OK, 0, 1, NULL},
        {"0:0 0:100", 0, 0, 0, WS_OK, 0, 0, NULL},
        {"0:0 0:100", 0, 5, WS_POS_END, WS_ECORRUPT, 0, 2,
         "missing WAL index: 0123456701234567/00000001"},
    };
    struct ws_seginfo v[8];
    struct ws_geninfo g;
    struct ws_err err;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t seg0 = 99, nsegs = 99;
        int rc;
        chain_gen(&g, v, cases[i].segs);
        ws_err_clear(&err);
        rc = ws_catalog_chain(&g, cases[i].from, cases[i].to,
                              cases[i].to_off, &seg0, &nsegs, &err);
        if (rc != cases[i].rc || seg0 != cases[i].seg0 ||
            nsegs != cases[i].nsegs)
            CHECK_FAIL("case %zu (%s, %u..%u:%llu): rc %d seg0 %zu nsegs "
                       "%zu (%s)", i, cases[i].segs, cases[i].from,
                       cases[i].to, (unsigned long long)cases[i].to_off, rc,
                       seg0, nsegs, err.msg);
        if (cases[i].msg)
            ASSERT_STR_EQ(err.msg, cases[i].msg);
        /* Without an error buffer the verdict is the same. */
        ASSERT_EQ(ws_catalog_chain(&g, cases[i].from, cases[i].to,
                                   cases[i].to_off, &seg0, &nsegs, NULL),
                  cases[i].rc);
    }
}

/* A listing that names an object twice: kept once when both entries
 * agree, refused naming the key when they do not. */
TEST(catalog_repeats)
{
    static const char *const keys[] = {
        "generations/b16ddcf5c697540f/snapshots/00000000.snapshot.lz4",
        "generations/b16ddcf5c697540f/wal/00000000_00000000.wal.lz4",
        "generations/b16ddcf5c697540f/walship/times/00000000_00000020_"
        "0000000000000001-00000000_00000001.times.lz4",
    };
    struct ws_catalog c;
    struct ws_err err = {0};

    for (size_t k = 0; k < 3; k++) {
        struct ws_objlist l = {0};
        for (size_t i = 0; i < 3; i++)
            ASSERT_EQ(ws_objlist_add(&l, keys[i], 10, 1000), WS_OK);
        ASSERT_EQ(ws_objlist_add(&l, keys[k], 10, 1000), WS_OK);
        ASSERT_EQ(ws_catalog_build(&l, &c, &err), WS_OK);
        ASSERT_UEQ(c.gens[0].nsnaps + c.gens[0].nsegs + c.gens[0].ntimes, 3);
        ws_catalog_free(&c);
        ASSERT_EQ(ws_objlist_add(&l, keys[k], 11, 1000), WS_OK);
        ASSERT_EQ(ws_catalog_build(&l, &c, &err), WS_ECORRUPT);
        ASSERT_STR_CONTAINS(err.msg, keys[k]);
        ASSERT_STR_CONTAINS(err.msg, "twice");
        ws_objlist_free(&l);
    }
}

/* Many generations, listed in no order: sorted, each found, each with
 * its own objects. */
TEST(catalog_many)
{
    struct ws_objlist l = {0};
    struct ws_catalog c;
    char k[WS_KEY_MAX], name[WS_GEN_LEN + 1];
    const size_t n = 20000;

    for (size_t i = 0; i < n; i++) {
        unsigned long long g = (i * 0x9E3779B97F4A7C15ULL) >> 1;
        snprintf(name, sizeof(name), "%016llx", g);
        snprintf(k, sizeof(k), "generations/%s/snapshots/00000000.snapshot"
                 ".lz4", name);
        ASSERT_EQ(ws_objlist_add(&l, k, i, (int64_t)i), WS_OK);
        snprintf(k, sizeof(k), "generations/%s/wal/00000000_00000000.wal"
                 ".lz4", name);
        ASSERT_EQ(ws_objlist_add(&l, k, i, (int64_t)i + 1), WS_OK);
    }
    ASSERT_EQ(ws_catalog_build(&l, &c, NULL), WS_OK);
    ASSERT_UEQ(c.ngens, n);
    for (size_t i = 1; i < n; i++)
        ASSERT(strcmp(c.gens[i - 1].name, c.gens[i].name) < 0);
    for (size_t i = 0; i < n; i++) {
        const struct ws_geninfo *g;
        snprintf(name, sizeof(name), "%016llx",
                 (unsigned long long)((i * 0x9E3779B97F4A7C15ULL) >> 1));
        g = ws_catalog_find(&c, name);
        ASSERT(g != NULL && g->nsnaps == 1 && g->nsegs == 1);
        ASSERT_UEQ(g->snaps[0].size, i);
        ASSERT_EQ(g->updated_ms, (int64_t)i + 1);
    }
    ASSERT(ws_catalog_find(&c, "zzzzzzzzzzzzzzzz") == NULL);
    ws_catalog_free(&c);
    ws_objlist_free(&l);
}

#define IDX1 "generations/0123456701234567/walship/index/00000001_" \
             "00000000000f5700_bdf940f083c027b7_8a7eed618116e046.index.lz4"
#define DIG0 "generations/0123456701234567/walship/snapshots/00000000_" \
             "00003068_0006620620111f8b-619da44696ad23e5d13526aa9c81c7b9" \
             "1808541c1ed6b60b1eb0392e7f4e2594.digest.lz4"

/* The records that bind a generation: an index record gives the end of
 * the index before it and its own salts, a digest record a snapshot's
 * SHA-256; each formats back to its name, and a name almost like one is
 * no record (and no other object). */
TEST(record_names)
{
    struct ws_idxinfo x;
    struct ws_diginfo d;
    char g[WS_GEN_LEN + 1], k[WS_KEY_MAX];
    uint32_t i;
    uint64_t o;

    ASSERT(ws_key_parse_index(IDX1, g, &x));
    ASSERT_STR_EQ(g, "0123456701234567");
    ASSERT_EQ(x.index, 1);
    ASSERT_UEQ(x.prev_size, 0xf5700);
    ASSERT_UEQ(x.prev_cksum[0], 0xbdf940f0u);
    ASSERT_UEQ(x.prev_cksum[1], 0x83c027b7u);
    ASSERT_UEQ(x.salt1, 0x8a7eed61u);
    ASSERT_UEQ(x.salt2, 0x8116e046u);
    ASSERT_EQ(ws_key_index_of(k, sizeof(k), g, &x), WS_OK);
    ASSERT_STR_EQ(k, IDX1);
    ASSERT_EQ(ws_key_parse(IDX1, g, &i, &o), WS_OBJ_INDEX);
    ASSERT(i == 1 && o == 0);

    ASSERT(ws_key_parse_digest(DIG0, g, &d));
    ASSERT_EQ(d.index, 0);
    ASSERT_UEQ(d.offset, 0x3068);
    ASSERT_EQ(d.time_us, 0x6620620111f8bLL);
    ASSERT_EQ(d.sha256[0], 0x61);
    ASSERT_EQ(d.sha256[31], 0x94);
    ASSERT_EQ(ws_key_digest_of(k, sizeof(k), g, &d), WS_OK);
    ASSERT_STR_EQ(k, DIG0);
    ASSERT_EQ(ws_key_parse(DIG0, g, &i, &o), WS_OBJ_DIGEST);
    ASSERT(i == 0 && o == 0x3068);

    static const char *const bad[] = {
        /* index 0 has no record; a size below a WAL header */
        "generations/0123456701234567/walship/index/00000000_"
        "00000000000f5700_bdf940f083c027b7_8a7eed618116e046.index.lz4",
        "generations/0123456701234567/walship/index/00000001_"
        "000000000000001f_bdf940f083c027b7_8a7eed618116e046.index.lz4",
        "generations/0123456701234567/walship/index/80000000_"
        "00000000000f5700_bdf940f083c027b7_8a7eed618116e046.index.lz4",
        "generations/0123456701234567/walship/index/00000001_"
        "00000000000F5700_bdf940f083c027b7_8a7eed618116e046.index.lz4",
        "generations/0123456701234567/walship/index/00000001_"
        "f5700_bdf940f083c027b7_8a7eed618116e046.index.lz4",
        IDX1 ".tmp-Ab12Cd",
        "generations/0123456701234567/walship/times/00000001_"
        "00000000000f5700_bdf940f083c027b7_8a7eed618116e046.index.lz4",
        "generations/0123456701234567/walship/snapshots/00000000_"
        "00003068_0006620620111f8b-619da44696ad23e5d13526aa9c81c7b9"
        "1808541c1ed6b60b1eb0392e7f4e259.digest.lz4",
        "generations/0123456701234567/walship/snapshots/00000000_"
        "00003068_0006620620111f8b_619da44696ad23e5d13526aa9c81c7b9"
        "1808541c1ed6b60b1eb0392e7f4e2594.digest.lz4",
        "generations/0123456701234567/walship/snapshots/00000000_"
        "00003068_0000000000000000-619da44696ad23e5d13526aa9c81c7b9"
        "1808541c1ed6b60b1eb0392e7f4e2594.digest.lz4",
        "generations/0123456701234567/walship/snapshots/00000000_"
        "00003068_0006620620111f8b-619DA44696ad23e5d13526aa9c81c7b9"
        "1808541c1ed6b60b1eb0392e7f4e2594.digest.lz4",
        DIG0 "x",
    };
    for (size_t n = 0; n < sizeof(bad) / sizeof(bad[0]); n++)
        if (ws_key_parse(bad[n], g, &i, &o) != WS_OBJ_OTHER ||
            ws_key_parse_index(bad[n], g, &x) ||
            ws_key_parse_digest(bad[n], g, &d))
            CHECK_FAIL("accepted %s", bad[n]);
}

/* The catalog keeps records beside the data, sorted by index, found by
 * index, not counted as data, and a record listed twice with different
 * sizes is refused like any object. */
TEST(catalog_records)
{
    struct ws_objlist l = {0};
    struct ws_catalog c;
    struct ws_err err;
    const struct ws_geninfo *g;
    struct ws_idxinfo x;
    char gen[WS_GEN_LEN + 1], k[WS_KEY_MAX];
    size_t n;

    ASSERT(ws_key_parse_index(IDX1, gen, &x));
    for (uint32_t i = 5; i >= 2; i--) {
        x.index = i;
        ASSERT_EQ(ws_key_index_of(k, sizeof(k), gen, &x), WS_OK);
        ASSERT_EQ(ws_objlist_add(&l, k, 15, 9000), WS_OK);
    }
    x.index = 3;
    x.salt2 = 1; /* a second, different record of index 3 */
    ASSERT_EQ(ws_key_index_of(k, sizeof(k), gen, &x), WS_OK);
    ASSERT_EQ(ws_objlist_add(&l, k, 15, 9000), WS_OK);
    ASSERT_EQ(ws_objlist_add(&l, DIG0, 15, 9000), WS_OK);
    ASSERT_EQ(ws_objlist_add(&l, "generations/0123456701234567/snapshots/"
                                 "00000000.snapshot.lz4", 10, 1000),
              WS_OK);
    ASSERT_EQ(ws_catalog_build(&l, &c, &err), WS_OK);
    ASSERT_EQ(c.ngens, 1);
    ASSERT_EQ(c.nother, 0);
    g = &c.gens[0];
    ASSERT_EQ(g->nidx, 5);
    ASSERT_EQ(g->ndigs, 1);
    ASSERT_EQ(g->updated_ms, 1000); /* records are not data */
    ASSERT(ws_catalog_index_recs(g, 1, &n) == NULL && n == 0);
    ASSERT(ws_catalog_index_recs(g, 2, &n) == &g->idx[0] && n == 1);
    ASSERT(ws_catalog_index_recs(g, 3, &n) == &g->idx[1] && n == 2);
    ASSERT(ws_catalog_index_recs(g, 5, &n) == &g->idx[4] && n == 1);
    ASSERT(ws_catalog_index_recs(g, 6, &n) == NULL && n == 0);
    ASSERT(ws_catalog_digests(g, 0, &n) == &g->digs[0] && n == 1);
    ASSERT(ws_catalog_digests(g, 1, &n) == NULL && n == 0);
    ws_catalog_free(&c);
    ASSERT_EQ(ws_objlist_add(&l, DIG0, 16, 9000), WS_OK);
    ASSERT_EQ(ws_catalog_build(&l, &c, &err), WS_ECORRUPT);
    ASSERT_STR_CONTAINS(err.msg, DIG0);
    ws_objlist_free(&l);
}

/* What a restore checks with the records: an index's salts against its
 * records, its end against the next index's, a snapshot against its
 * digests; no record, no check; any record that disagrees fails, naming
 * it and both values. */
TEST(record_checks)
{
    struct ws_objlist l = {0};
    struct ws_catalog c;
    struct ws_err err;
    const struct ws_geninfo *g;
    struct ws_idxinfo x;
    struct ws_diginfo d;
    char gen[WS_GEN_LEN + 1], k[WS_KEY_MAX];
    const uint32_t ck[2] = {0xbdf940f0u, 0x83c027b7u};
    const uint32_t ck2[2] = {0xbdf940f0u, 0x83c027b6u};
    uint8_t sha[WS_DIGEST_LEN];

    ASSERT_EQ(ws_objlist_add(&l, IDX1, 15, 1), WS_OK);
    ASSERT_EQ(ws_objlist_add(&l, DIG0, 15, 1), WS_OK);
    ASSERT_EQ(ws_catalog_build(&l, &c, &err), WS_OK);
    g = &c.gens[0];
    ASSERT(ws_key_parse_digest(DIG0, gen, &d));
    memcpy(sha, d.sha256, sizeof(sha));

    /* Index 1 starts with the record's salts; index 0 ends where and as
     * it says. */
    ASSERT_EQ(ws_catalog_check_start(g, 1, 0x8a7eed61u, 0x8116e046u, &err),
              WS_OK);
    ASSERT_EQ(ws_catalog_check_end(g, 0, 0xf5700, ck, &err), WS_OK);
    ASSERT_EQ(ws_catalog_check_start(g, 1, 0x8a7eed61u, 0x8116e047u, &err),
              WS_ECORRUPT);
    ASSERT_STR_CONTAINS(err.msg, "salts are 8a7eed61 8116e047");
    ASSERT_STR_CONTAINS(err.msg, IDX1);
    /* Cut short at a commit; the same length with another chain. */
    ASSERT_EQ(ws_catalog_check_end(g, 0, 0xf46e8, ck, &err), WS_ECORRUPT);
    ASSERT_STR_CONTAINS(err.msg, "index 00000000 ends at offset 1001192");
    ASSERT_STR_CONTAINS(err.msg, "ends at 1005312");
    ASSERT_EQ(ws_catalog_check_end(g, 0, 0xf5700, ck2, &err), WS_ECORRUPT);
    ASSERT_STR_CONTAINS(err.msg, IDX1);
    /* Indexes without a record are not checked. */
    ASSERT_EQ(ws_catalog_check_start(g, 0, 1, 2, &err), WS_OK);
    ASSERT_EQ(ws_catalog_check_start(g, 2, 1, 2, &err), WS_OK);
    ASSERT_EQ(ws_catalog_check_end(g, 1, 33, ck2, &err), WS_OK);
    ASSERT_EQ(ws_catalog_check_end(g, WS_MAX_INDEX, 33, ck2, &err), WS_OK);

    /* The digest: one bit off fails, naming the record; no record for
     * index 1's snapshot, no check. */
    ASSERT_EQ(ws_catalog_check_digest(g, 0, sha, &err), WS_OK);
    sha[17] ^= 0x10;
    ASSERT_EQ(ws_catalog_check_digest(g, 0, sha, &err), WS_ECORRUPT);
    ASSERT_STR_CONTAINS(err.msg, DIG0);
    ASSERT_EQ(ws_catalog_check_digest(g, 1, sha, &err), WS_OK);
    ws_catalog_free(&c);

    /* Two records of index 1 that disagree: no header satisfies both. */
    ASSERT(ws_key_parse_index(IDX1, gen, &x));
    x.salt2 ^= 1;
    ASSERT_EQ(ws_key_index_of(k, sizeof(k), gen, &x), WS_OK);
    ASSERT_EQ(ws_objlist_add(&l, k, 15, 1), WS_OK);
    /* Two digests of one snapshot (a retried upload): either matches. */
    d.offset = 0x4000;
    d.sha256[0] ^= 1;
    ASSERT_EQ(ws_key_digest_of(k, sizeof(k), gen, &d), WS_OK);
    ASSERT_EQ(ws_objlist_add(&l, k, 15, 1), WS_OK);
    ASSERT_EQ(ws_catalog_build(&l, &c, &err), WS_OK);
    g = &c.gens[0];
    ASSERT_EQ(ws_catalog_check_start(g, 1, 0x8a7eed61u, 0x8116e046u, &err),
              WS_ECORRUPT);
    ASSERT_EQ(ws_catalog_check_start(g, 1, 0x8a7eed61u, 0x8116e047u, &err),
              WS_ECORRUPT);
    ASSERT_EQ(ws_catalog_check_digest(g, 0, d.sha256, &err), WS_OK);
    sha[17] ^= 0x10;
    ASSERT_EQ(ws_catalog_check_digest(g, 0, sha, &err), WS_OK);
    ws_catalog_free(&c);
    ws_objlist_free(&l);
}

/* A list stops at its bound (WS_LIST_MAX_KEYS unless set lower). */
TEST(objlist_bound)
{
    struct ws_objlist l = {0};

    l.max = 3;
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(ws_objlist_add(&l, "k", 1, 1), WS_OK);
    ASSERT_EQ(ws_objlist_add(&l, "k", 1, 1), WS_ERANGE);
    ASSERT_UEQ(l.n, 3);
    ws_objlist_free(&l);
}

#define LIST(X)                                                             \
    X(keys) X(gen_names) X(parse) X(catalog) X(catalog_repeats)             \
    X(catalog_many) X(objlist_bound) X(latest_ties) X(chain)               \
    X(record_names) X(catalog_records) X(record_checks)

TEST_MAIN("layout", LIST)
