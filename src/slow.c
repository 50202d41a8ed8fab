/*
 * slow.c: saying that a replica request gets no answer (slow.h).
 */
#include "ws/slow.h"

#include "ws/inspect.h"

/* Now on the loop's clock, the one its timers run on (brought up to
 * date: the loop keeps the time of its last turn), so that a line due
 * after 10 s never says 9.9 s. */
static int64_t now_ms(uv_loop_t *loop)
{
    uv_update_time(loop);
    return (int64_t)uv_now(loop);
}

int64_t ws_slow_delay_ms(int said)
{
    int64_t d = WS_SLOW_FIRST_MS;

    for (int i = 0; i < said && d < WS_SLOW_MAX_MS; i++)
        d *= 3;
    return d < WS_SLOW_MAX_MS ? d : WS_SLOW_MAX_MS;
}

void ws_slow_fmt(int64_t ms, char *buf, size_t n)
{
    ws_duration_format(ws_lag_truncate(ms * 1000000), buf, n);
}

static void on_slow(uv_timer_t *t)
{
    struct ws_slow *s = t->data;
    char waited[32];

    ws_slow_fmt(now_ms(s->timer.loop) - s->t0_ms, waited, sizeof(waited));
    s->said++;
    uv_timer_start(&s->timer, on_slow, (uint64_t)ws_slow_delay_ms(s->said),
                   0);
    s->say(s, waited);
}

void ws_slow_init(uv_loop_t *loop, struct ws_slow *s, ws_slow_fn say,
                  void *data)
{
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    s->say = say;
    s->data = data;
    s->t0_ms = 0;
    s->said = 0;
}

void ws_slow_start(struct ws_slow *s)
{
    s->t0_ms = now_ms(s->timer.loop);
    s->said = 0;
    uv_timer_start(&s->timer, on_slow, (uint64_t)ws_slow_delay_ms(0), 0);
}

int ws_slow_stop(struct ws_slow *s, char *waited, size_t n)
{
    int said = s->said;

    uv_timer_stop(&s->timer);
    s->said = 0;
    if (said)
        ws_slow_fmt(now_ms(s->timer.loop) - s->t0_ms, waited, n);
    return said != 0;
}

void ws_slow_close(struct ws_slow *s, uv_close_cb cb)
{
    uv_close((uv_handle_t *)&s->timer, cb);
}
