/*
 * test_version.c: the WAL-reset-bug gate (version.c).
 */
#include "check.h"
#include "ws/version.h"

#include <sqlite3.h>

TEST(gate_boundaries)
{
    static const struct {
        int v, fixed;
    } cases[] = {
        {3007000, 0}, {3040001, 0}, {3044005, 0}, {3044006, 1},
        {3044999, 1}, {3045000, 0}, {3050006, 0}, {3050007, 1},
        {3050999, 1}, {3051000, 0}, {3051002, 0}, {3051003, 1},
        {3052000, 1}, {3053002, 1}, {4000000, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (ws_sqlite_fixed(cases[i].v) != cases[i].fixed)
            CHECK_FAIL("%d: want %d", cases[i].v, cases[i].fixed);
}

TEST(linked_sqlite_is_fixed)
{
    struct ws_err err = {0};

    ASSERT_EQ(ws_sqlite_check(&err), WS_OK);
    ASSERT(sqlite3_libversion_number() >= 3051003);
    /* The header we compiled against and the library we run agree. */
    ASSERT_STR_EQ(sqlite3_sourceid(), SQLITE_SOURCE_ID);
}

#define LIST(X) X(gate_boundaries) X(linked_sqlite_is_fixed)

TEST_MAIN("version", LIST)
