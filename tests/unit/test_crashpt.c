/*
 * test_crashpt.c: the crash point setting, WALSHIP_CRASHPOINT=<name>:<n>
 * (crashpt.h).  Every listed name is taken with a crossing from 1 up to
 * the limit; a missing part, a number that is not one, 0, a sign, a
 * crossing past the limit and a name that is no crash point are refused,
 * each naming the setting, and leave the outputs alone.  The names are
 * unique, and short enough for the armed point's buffer.
 */
#include "ws/crashpt.h"

#include "check.h"

TEST(names_taken)
{
    const char *const *v = ws_crashpt_names();
    size_t n = 0;

    for (; v[n] != NULL; n++) {
        char spec[96], name[64] = "";
        struct ws_err err = {0};
        long k = 0;

        ASSERT(strlen(v[n]) < 48);
        for (size_t j = 0; j < n; j++)
            if (strcmp(v[j], v[n]) == 0)
                CHECK_FAIL("\"%s\" listed twice", v[n]);
        snprintf(spec, sizeof(spec), "%s:%zu", v[n], n + 1);
        ASSERT_EQ(ws_crashpt_parse(spec, name, sizeof(name), &k, &err),
                  WS_OK);
        ASSERT_STR_EQ(name, v[n]);
        ASSERT_EQ(k, (long)n + 1);
    }
    ASSERT(n >= 15);
}

TEST(crossings)
{
    char name[64];
    long k = 0;

    ASSERT_EQ(ws_crashpt_parse("stop-marker:1000000000", name, sizeof(name),
                               &k, NULL),
              WS_OK);
    ASSERT_EQ(k, 1000000000L);
    ASSERT_EQ(ws_crashpt_parse("stop-marker:007", name, sizeof(name), &k,
                               NULL),
              WS_OK);
    ASSERT_EQ(k, 7);
}

TEST(refused)
{
    static const struct {
        const char *spec, *says;
    } bad[] = {
        {"", "want <name>:<n>"},
        {"stop-marker", "want <name>:<n>"},
        {"stop-marker:", "want <name>:<n>"},
        {":3", "want <name>:<n>"},
        {"stop-marker:0", "not a number from 1"},
        {"stop-marker:-1", "not a number from 1"},
        {"stop-marker:+1", "not a number from 1"},
        {"stop-marker: 1", "not a number from 1"},
        {"stop-marker:1x", "not a number from 1"},
        {"stop-marker:1000000001", "not a number from 1"},
        {"stop-marker:99999999999999999999", "not a number from 1"},
        {"stop-mark:1", "no crash point is named \"stop-mark\""},
        {"Stop-Marker:1", "no crash point is named"},
        {"stop-marker:1:2", "no crash point is named \"stop-marker:1\""},
        {"stop-marker\n:1", "no crash point is named \"stop-marker \""},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char name[64] = "unchanged";
        struct ws_err err = {0};
        long k = 42;

        ASSERT_EQ(ws_crashpt_parse(bad[i].spec, name, sizeof(name), &k, &err),
                  WS_EUSAGE);
        ASSERT_STR_CONTAINS(err.msg, "WALSHIP_CRASHPOINT=");
        ASSERT_STR_CONTAINS(err.msg, bad[i].says);
        ASSERT(strchr(err.msg, '\n') == NULL);
        ASSERT_STR_EQ(name, "unchanged");
        ASSERT_EQ(k, 42);
    }
}

TEST(small_buffer)
{
    char name[4] = "abc";
    long k = 42;

    ASSERT_EQ(ws_crashpt_parse("stop-marker:1", name, sizeof(name), &k, NULL),
              WS_EUSAGE);
    ASSERT_STR_EQ(name, "abc");
}

#define LIST(X)                                                             \
    X(names_taken)                                                          \
    X(crossings)                                                            \
    X(refused)                                                              \
    X(small_buffer)

TEST_MAIN("crashpt", LIST)
