/*
 * test_stall.c: what walship says while something cannot make progress
 * (stall.h), on an injected clock.
 */
#include "check.h"
#include "ws/stall.h"

#define S 1000 /* ms */

/* Fail every `step` ms from `from` to `to` (exclusive); return the times
 * of the notes other than QUIET, their kinds in says[]. */
static size_t fail_for(struct ws_stall *s, int kind, int64_t from,
                       int64_t to, int64_t step, int64_t *at,
                       enum ws_stall_say *says, size_t max)
{
    size_t n = 0;

    for (int64_t t = from; t < to; t += step) {
        struct ws_stall_note x = ws_stall_on(s, kind, "disk full", t);
        if (x.say == WS_STALL_QUIET)
            continue;
        ASSERT(n < max);
        ASSERT_STR_EQ(x.what, "disk full");
        ASSERT_EQ(x.lasted_ms, t - from);
        at[n] = t;
        says[n++] = x.say;
    }
    return n;
}

/* Begin at once, then 10 s, 30 s, 1 min, 5 min, then every 15 min, for
 * an attempt every 100 ms over two hours; end with the whole time. */
TEST(schedule)
{
    struct ws_stall s = {0};
    int64_t at[64];
    enum ws_stall_say says[64];
    const int64_t want[] = {0,        10 * S,    40 * S,     100 * S,
                            400 * S,  1300 * S,  2200 * S,   3100 * S,
                            4000 * S, 4900 * S,  5800 * S,   6700 * S};
    size_t n = fail_for(&s, 7, 0, 7200 * S, 100, at, says, 64);
    struct ws_stall_note e;

    ASSERT_EQ(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(at[i], want[i]);
        ASSERT_EQ(says[i], i == 0 ? WS_STALL_BEGIN : WS_STALL_AGAIN);
    }
    ASSERT_EQ(s.tries, 72000);
    e = ws_stall_off(&s, 7200 * S);
    ASSERT_EQ(e.say, WS_STALL_END);
    ASSERT_EQ(e.lasted_ms, 7200 * S);
    ASSERT_STR_EQ(e.what, "disk full");
    /* Said once: a second success says nothing. */
    ASSERT_EQ(ws_stall_off(&s, 7201 * S).say, WS_STALL_QUIET);
    ASSERT_EQ(s.tries, 0);
}

/* Retries slower than the schedule: each due line comes at the first
 * failure after it is due. */
TEST(slow_retries)
{
    struct ws_stall s = {0};
    int64_t at[16];
    enum ws_stall_say says[16];
    size_t n = fail_for(&s, 1, 5 * S, 200 * S, 30 * S, at, says, 16);

    /* 5; 35 (10 s later was 15); 65 (30 s after 35); 125 (1 min after
     * 65); 5 min after 125 is past the end. */
    ASSERT_EQ(n, 4);
    ASSERT_EQ(at[0], 5 * S);
    ASSERT_EQ(at[1], 35 * S);
    ASSERT_EQ(at[2], 65 * S);
    ASSERT_EQ(at[3], 125 * S);
}

/* A new cause is said at once as a BEGIN; the state goes on, and its END
 * gives the whole time and the last cause. */
TEST(cause_changes)
{
    struct ws_stall s = {0};
    struct ws_stall_note x;

    ASSERT_EQ(ws_stall_on(&s, 1, "missing", 0).say, WS_STALL_BEGIN);
    ASSERT_EQ(ws_stall_on(&s, 1, "missing", 2 * S).say, WS_STALL_QUIET);
    ASSERT_EQ(s.tries, 2);
    x = ws_stall_on(&s, 2, "empty", 3 * S);
    ASSERT_EQ(s.tries, 1); /* the new cause's back-off starts afresh */
    ASSERT_EQ(x.say, WS_STALL_BEGIN);
    ASSERT_STR_EQ(x.what, "empty");
    ASSERT_EQ(x.lasted_ms, 3 * S);
    /* The schedule starts again from the new BEGIN. */
    ASSERT_EQ(ws_stall_on(&s, 2, "empty", 12 * S).say, WS_STALL_QUIET);
    ASSERT_EQ(ws_stall_on(&s, 2, "empty", 13 * S).say, WS_STALL_AGAIN);
    x = ws_stall_off(&s, 20 * S);
    ASSERT_EQ(x.say, WS_STALL_END);
    ASSERT_EQ(x.lasted_ms, 20 * S);
    ASSERT_STR_EQ(x.what, "empty");
}

/* However fast a thing flaps, a line follows another line by a second
 * at least (a BEGIN follows an END by two), except an END: about a line
 * a second at most. */
TEST(flapping)
{
    struct ws_stall s = {0}, u = {0};
    int64_t last = -1, lines = 0, begins = 0, ends = 0;
    enum ws_stall_say prev = WS_STALL_QUIET;

    for (int64_t t = 0; t < 60 * S; t += 50) {
        struct ws_stall_note x =
            (t / 50) % 2 ? ws_stall_off(&s, t)
                         : ws_stall_on(&s, (int)(t / 100) % 3, "flap", t);
        if (x.say == WS_STALL_QUIET)
            continue;
        if (x.say != WS_STALL_END && last >= 0)
            ASSERT(t - last >= (prev == WS_STALL_END ? 2 : 1) *
                                   WS_STALL_MIN_GAP_MS);
        if (x.say == WS_STALL_END) {
            ASSERT(last >= 0);
            ends++;
        } else {
            begins++;
        }
        last = t;
        prev = x.say;
        lines++;
    }
    /* Every state said was said to end. */
    ASSERT_EQ(begins, ends);
    ASSERT(lines >= 40 && lines <= 60);
    /* A state that ends unsaid says nothing at its end; the next one
     * past the gap is said. */
    ASSERT_EQ(ws_stall_on(&u, 0, "x", 0).say, WS_STALL_BEGIN);
    ASSERT_EQ(ws_stall_off(&u, 10).say, WS_STALL_END);
    ASSERT_EQ(ws_stall_on(&u, 0, "x", 1500).say, WS_STALL_QUIET);
    ASSERT_EQ(ws_stall_off(&u, 1600).say, WS_STALL_QUIET);
    ASSERT_EQ(ws_stall_on(&u, 0, "x", 2010).say, WS_STALL_BEGIN);
}

/* A long cause is cut to one line of the struct's size. */
TEST(long_cause)
{
    struct ws_stall s = {0};
    char big[4 * WS_ERR_MSG];

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ASSERT_EQ(strlen(ws_stall_on(&s, 1, big, 0).what), WS_ERR_MSG - 1);
}

TEST(backoff)
{
    ASSERT_EQ(ws_stall_backoff(0, 1000, 30000), 1000);
    ASSERT_EQ(ws_stall_backoff(1, 1000, 30000), 1000);
    ASSERT_EQ(ws_stall_backoff(2, 1000, 30000), 2000);
    ASSERT_EQ(ws_stall_backoff(5, 1000, 30000), 16000);
    ASSERT_EQ(ws_stall_backoff(6, 1000, 30000), 30000);
    ASSERT_EQ(ws_stall_backoff(4000000000u, 1000, 30000), 30000);
    ASSERT_EQ(ws_stall_backoff(3, 250, 250), 250);
}

#define LIST(X)                                                             \
    X(schedule) X(slow_retries) X(cause_changes) X(flapping) X(long_cause)  \
    X(backoff)

TEST_MAIN("stall", LIST)
