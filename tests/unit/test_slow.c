/*
 * test_slow.c: the pace at which a request without an answer is said
 * (slow.h), and the durations its lines give.
 */
#include "check.h"
#include "ws/slow.h"

TEST(schedule)
{
    /* 10 s, then three times the previous wait, at most 15 min apart. */
    static const int64_t want[] = {10000, 30000, 90000, 270000, 810000,
                                   900000, 900000};

    for (int i = 0; i < (int)(sizeof(want) / sizeof(want[0])); i++)
        ASSERT_EQ(ws_slow_delay_ms(i), want[i]);
    ASSERT_EQ(ws_slow_delay_ms(1000), WS_SLOW_MAX_MS);
}

TEST(durations)
{
    char b[32];

    ws_slow_fmt(10003, b, sizeof(b));
    ASSERT_STR_EQ(b, "10s");
    ws_slow_fmt(90500, b, sizeof(b));
    ASSERT_STR_EQ(b, "1m30s");
    ws_slow_fmt(1500, b, sizeof(b));
    ASSERT_STR_EQ(b, "1.5s");
}

/* On a real loop: said once the first wait is over, and stop() tells. */
static int said;

static void say(struct ws_slow *s, const char *waited)
{
    (void)s;
    (void)waited;
    said++;
}

TEST(stop_tells)
{
    uv_loop_t loop;
    struct ws_slow s;
    char w[32] = "";

    ASSERT_EQ(uv_loop_init(&loop), 0);
    ws_slow_init(&loop, &s, say, NULL);
    ws_slow_start(&s);
    ASSERT_EQ(ws_slow_stop(&s, w, sizeof(w)), 0); /* answered at once */
    ASSERT_STR_EQ(w, "");
    ws_slow_start(&s);
    s.t0_ms -= 10000; /* as if submitted 10 s ago */
    uv_timer_start(&s.timer, s.timer.timer_cb, 0, 0);
    uv_run(&loop, UV_RUN_NOWAIT); /* (ONCE would wait for the next) */
    ASSERT_EQ(said, 1);
    ASSERT_EQ(ws_slow_stop(&s, w, sizeof(w)), 1);
    ASSERT_STR_EQ(w, "10s");
    ws_slow_close(&s, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(&loop), 0);
}

#define LIST(X) X(schedule) X(durations) X(stop_tells)

TEST_MAIN("slow", LIST)
