/*
 * test_units.c: durations in Go's syntax and byte sizes (units.h).
 *
 * The durations are those Go's time package checks ParseDuration with,
 * each given walship's answer: the same value in milliseconds (rounded
 * down) where Go's is 1 ms or more, and a refusal where units.h says
 * walship differs (a negative duration, one below 1 ms); then Go's own
 * refusals, the bare numbers, overflow, and the hint each refusal gets.
 */
#include "ws/units.h"

#include "check.h"

static const struct {
    const char *s;
    int64_t ms;
} durations[] = {
    {"0", 0},
    {"00", 0},
    {"+0", 0},
    {"5s", 5000},
    {"30s", 30000},
    {"1478s", 1478000},
    {"+5s", 5000},
    {"5.0s", 5000},
    {"5.6s", 5600},
    {"5.s", 5000},
    {".5s", 500},
    {"1.0s", 1000},
    {"1.00s", 1000},
    {"1.004s", 1004},
    {"1.0040s", 1004},
    {"100.00100s", 100001},
    {"13ms", 13},
    {"14s", 14000},
    {"15m", 900000},
    {"16h", 57600000},
    {"300ms", 300},
    {"1h30m", 5400000},
    {"3h30m", 12600000},
    {"10.5s4m", 250500},
    {"1h2m3s4ms5us6ns", 3723004},
    {"39h9m14.425s", 140954425},
    {"52763797000ns", 52763},
    {"1000us", 1},
    {"1000\xc2\xb5s", 1},
    {"1000\xce\xbcs", 1},
    {"1000000ns", 1},
    {"9007199254740993ns", 9007199254},
    {"9223372036854775807ns", 9223372036854},
    {"9223372036854775.807us", 9223372036854},
    {"0.100000000000000000000h", 360000},
    {"2562047h", 9223369200000}, /* the largest whole hour */
};

static const char *const refused[] = {
    /* Go refuses these too. */
    "", "3", "-", "s", ".", "-.", ".s", "+.s", "1d", "1x", "1", "+",
    "\x85\x85", "\xff", "hello \xff world", "1h 30m", " 1s", "1s ",
    "1.5.5s", "9223372036854775808ns", "9223372036854775810ns",
    "3000000h", "2562048h", "9223372036854775808us",
    /* Go takes these; walship refuses a negative duration, */
    "-5s", "-1.5h", "-2m3.4s", "-0",
    /* and one below 1 ms, which it would round to 0 ("off"). */
    "10ns", "11us", "12\xc2\xb5s", "999999ns", "0.9ms", "1ns",
};

TEST(durations)
{
    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        int64_t ms = -1;

        if (ws_duration_parse(durations[i].s, &ms) != WS_OK)
            CHECK_FAIL("\"%s\" refused", durations[i].s);
        if (ms != durations[i].ms)
            CHECK_FAIL("\"%s\" = %lld ms, want %lld", durations[i].s,
                       (long long)ms, (long long)durations[i].ms);
    }
}

TEST(durations_refused)
{
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        int64_t ms = 42;

        if (ws_duration_parse(refused[i], &ms) != WS_ECONFIG)
            CHECK_FAIL("\"%s\" accepted", refused[i]);
        if (ms != 42)
            CHECK_FAIL("\"%s\": *ms written on a refusal", refused[i]);
    }
    ASSERT_EQ(ws_duration_parse(NULL, NULL), WS_ECONFIG);
}

TEST(duration_hints)
{
    ASSERT_STR_CONTAINS(ws_duration_hint("10"), "needs a unit");
    ASSERT_STR_CONTAINS(ws_duration_hint("+10"), "needs a unit");
    ASSERT_STR_CONTAINS(ws_duration_hint("500us"), "below 1ms");
    ASSERT_STR_CONTAINS(ws_duration_hint("1x"), "want a Go duration");
    ASSERT_STR_CONTAINS(ws_duration_hint(""), "want a Go duration");
    ASSERT_STR_CONTAINS(ws_duration_hint("-1s"), "want a Go duration");
}

TEST(sizes)
{
    static const struct {
        const char *s;
        int64_t bytes;
    } ok[] = {
        {"0", 0},
        {"512", 512},
        {"1B", 1},
        {"1KB", 1000},
        {"2MB", 2000000},
        {"3GB", 3000000000},
        {"1KiB", 1024},
        {"512MiB", 536870912},
        {"1GiB", 1073741824},
        {"9223372036854775807", INT64_MAX},
        {"8589934591GiB", INT64_C(9223372035781033984)},
    };
    static const char *const bad[] = {
        "", "-1", "+1", " 1", "1 MB", "1mb", "1kib", "1.5MB", "1TB", "KB",
        "1KBB", "9223372036854775808", "8589934592GiB",
        "99999999999999999999999",
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t b = -1;

        if (ws_size_parse(ok[i].s, &b) != WS_OK || b != ok[i].bytes)
            CHECK_FAIL("\"%s\" = %lld, want %lld", ok[i].s, (long long)b,
                       (long long)ok[i].bytes);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t b = 42;

        if (ws_size_parse(bad[i], &b) != WS_ECONFIG || b != 42)
            CHECK_FAIL("\"%s\" accepted (%lld)", bad[i], (long long)b);
    }
}

#define LIST(X)                                                             \
    X(durations)                                                            \
    X(durations_refused)                                                    \
    X(duration_hints)                                                       \
    X(sizes)

TEST_MAIN("units", LIST)
