/*
 * test_layout.c: object keys and listings (FORMAT.md 1.1 and the path
 * facts pinned by Litestream's tests, section 11).
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

#define LIST(X) X(keys) X(gen_names) X(parse) X(catalog)

TEST_MAIN("layout", LIST)
