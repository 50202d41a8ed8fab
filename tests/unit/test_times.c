/*
 * test_times.c: commit-time objects (times.h) and their keys (layout.h).
 */
#include "check.h"
#include "ws/layout.h"
#include "ws/times.h"

#include <stdlib.h>

static const struct ws_tpoint pts[] = {
    {3, WS_T_COMMIT, 4152, 1763700000123456},
    {3, WS_T_COMMIT, 8272, 1763700000123999},
    {3, WS_T_SNAPSHOT, 8272, 1763700001000000},
    {4, WS_T_COMMIT, 4152, 1763700002000001},
};

TEST(key_round_trip)
{
    char key[WS_KEY_MAX], g[WS_GEN_LEN + 1];
    struct ws_timesinfo t;
    uint32_t i;
    uint64_t o;

    ASSERT_EQ(ws_key_times(key, sizeof(key), "0123456789abcdef", pts, 4),
              WS_OK);
    ASSERT_STR_EQ(key, "generations/0123456789abcdef/walship/times/"
                       "00000003_00001038_0006441367ff6a40-00000004_00000004"
                       ".times.lz4");
    ASSERT(ws_key_parse_times(key, g, &t));
    ASSERT_STR_EQ(g, "0123456789abcdef");
    ASSERT_EQ(t.index, 3);
    ASSERT_EQ(t.offset, 4152);
    ASSERT_EQ(t.time_us, 1763700000123456);
    ASSERT_EQ(t.last_index, 4);
    ASSERT_EQ(t.count, 4);
    ASSERT(!t.snapshot);
    ASSERT_EQ(ws_key_parse(key, g, &i, &o), WS_OBJ_TIMES);
    ASSERT_EQ(i, 3);
    /* A snapshot's record travels alone, under its own folder. */
    ASSERT_EQ(ws_key_times(key, sizeof(key), "0123456789abcdef", pts + 2, 1),
              WS_OK);
    ASSERT_STR_EQ(key, "generations/0123456789abcdef/walship/snapshots/"
                       "00000003_00002050_00064413680cca40.times.lz4");
    ASSERT(ws_key_parse_times(key, g, &t));
    ASSERT(t.snapshot);
    ASSERT_EQ(t.offset, 8272);
    ASSERT_EQ(t.count, 1);
    ASSERT(!t.image);
    ASSERT_EQ(ws_key_times(key, sizeof(key), "0123456789abcdef", pts + 2, 2),
              WS_EUSAGE);
    /* A consistent image's record: its own suffix, which an earlier
     * walship's parser does not take for a record. */
    {
        struct ws_tpoint im = {3, WS_T_IMAGE, 8272, 1763700001000000};
        ASSERT_EQ(ws_key_times(key, sizeof(key), "0123456789abcdef", &im, 1),
                  WS_OK);
        ASSERT_STR_EQ(key, "generations/0123456789abcdef/walship/snapshots/"
                           "00000003_00002050_00064413680cca40.image.lz4");
        ASSERT(ws_key_parse_times(key, g, &t));
        ASSERT(t.snapshot);
        ASSERT(t.image);
        ASSERT_EQ(t.offset, 8272);
        ASSERT_EQ(ws_key_parse(key, g, &i, &o), WS_OBJ_TIMES);
        ASSERT_EQ(ws_key_times_of(key, sizeof(key), "0123456789abcdef", &t),
                  WS_OK);
        ASSERT_STR_CONTAINS(key, ".image.lz4");
    }
    /* Malformed names are not times objects. */
    static const char *const bad[] = {
        "generations/0123456789abcdef/walship/times/"
        "00000003_00001038_000643ff64f3ef40-00000002_00000001.times.lz4",
        "generations/0123456789abcdef/walship/times/"
        "00000003_00001038_000643ff64f3ef40-00000004_00000000.times.lz4",
        "generations/0123456789abcdef/walship/times/"
        "00000003_00001038_643ff64f3ef40-00000004_00000001.times.lz4",
        "generations/0123456789abcdef/walship/times/"
        "00000003_00001038_000643ff64f3ef40-00000004_00000001.times.lz4.tmp",
        "generations/0123456789abcdef/walship/"
        "00000003_00001038_000643ff64f3ef40-00000004_00000001.times.lz4",
        "generations/0123456789abcdef/walship/snapshots/"
        "00000003_00001038_000643ff64f3ef40-00000004_00000001.times.lz4",
        "generations/0123456789abcdef/walship/times/"
        "00000003_00001038_000643ff64f3ef40.times.lz4",
        "generations/0123456789abcdef/walship/times/"
        "00000003_00001038_000643ff64f3ef40.image.lz4",
        "generations/0123456789abcdef/walship/snapshots/"
        "00000003_00001038_000643ff64f3ef40.image.lz4.tmp",
        "generations/0123456789abcdef/walship/snapshots/"
        "00000003_00001038_000643ff64f3ef40.imagex.lz4",
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
        if (ws_key_parse(bad[k], g, &i, &o) != WS_OBJ_OTHER)
            CHECK_FAIL("accepted %s", bad[k]);
}

TEST(encode_decode)
{
    struct check_buf b = {0};
    struct ws_tlist l = {0};
    uint8_t *raw;
    size_t rawn;

    ASSERT_EQ(ws_times_encode(pts, 4, check_collect, &b, NULL), WS_OK);
    ASSERT_EQ(ws_lz4_decompress_mem(b.p, b.n, 1 << 20, &raw, &rawn, NULL),
              WS_OK);
    ASSERT_EQ(rawn, 8 + 4 * 24);
    ASSERT_EQ(ws_times_decode(raw, rawn, &l, NULL), WS_OK);
    ASSERT_EQ(l.n, 4);
    for (size_t k = 0; k < 4; k++) {
        ASSERT_EQ(l.v[k].index, pts[k].index);
        ASSERT_EQ(l.v[k].kind, pts[k].kind);
        ASSERT_EQ(l.v[k].offset, pts[k].offset);
        ASSERT_EQ(l.v[k].time_us, pts[k].time_us);
    }
    /* Damage: a short record, a bad magic, an unknown kind. */
    ASSERT_EQ(ws_times_decode(raw, rawn - 1, &l, NULL), WS_ECORRUPT);
    raw[0] ^= 1;
    ASSERT_EQ(ws_times_decode(raw, rawn, &l, NULL), WS_ECORRUPT);
    raw[0] ^= 1;
    raw[8 + 7] = 3; /* an image's record */
    l.n = 0;
    ASSERT_EQ(ws_times_decode(raw, rawn, &l, NULL), WS_OK);
    ASSERT_EQ(l.v[0].kind, WS_T_IMAGE);
    raw[8 + 7] = 9;
    ASSERT_EQ(ws_times_decode(raw, rawn, &l, NULL), WS_ECORRUPT);
    free(raw);
    free(b.p);
    ws_tlist_free(&l);
}

TEST(sort_dedupe)
{
    struct ws_tlist l = {0};

    for (int k = 3; k >= 0; k--)
        ASSERT_EQ(ws_tlist_add(&l, &pts[k]), WS_OK);
    ASSERT_EQ(ws_tlist_add(&l, &pts[1]), WS_OK);
    ws_tlist_sort(&l);
    ASSERT_EQ(l.n, 4);
    for (size_t k = 0; k < 4; k++)
        ASSERT_EQ(l.v[k].time_us, pts[k].time_us);
    ws_tlist_free(&l);
}

TEST(catalog_keeps_times_apart)
{
    struct ws_objlist ol = {0};
    struct ws_catalog c;
    char key[WS_KEY_MAX];

    ws_objlist_add(&ol, "generations/b16ddcf5c697540f/snapshots/"
                        "00000000.snapshot.lz4", 10, 1000);
    ws_key_times(key, sizeof(key), "b16ddcf5c697540f", pts + 3, 1);
    ws_objlist_add(&ol, key, 7, 99000);
    ws_key_times(key, sizeof(key), "b16ddcf5c697540f", pts, 2);
    ws_objlist_add(&ol, key, 8, 98000);
    ASSERT_EQ(ws_catalog_build(&ol, &c, NULL), WS_OK);
    ASSERT_EQ(c.ngens, 1);
    ASSERT_EQ(c.nother, 0);
    ASSERT_EQ(c.gens[0].ntimes, 2);
    /* Sorted by time. */
    ASSERT_EQ(c.gens[0].times[0].index, 3);
    ASSERT_EQ(c.gens[0].times[0].size, 8);
    ASSERT_EQ(c.gens[0].times[0].count, 2);
    ASSERT_EQ(c.gens[0].times[1].index, 4);
    /* Generation times come from data objects only. */
    ASSERT_EQ(c.gens[0].updated_ms, 1000);
    ws_catalog_free(&c);
    ws_objlist_free(&ol);
}

#define LIST(X) X(key_round_trip) X(encode_decode) X(sort_dedupe) \
    X(catalog_keeps_times_apart)

TEST_MAIN("times", LIST)
