/*
 * stall.c: what to say while something cannot make progress (stall.h).
 */
#include "ws/stall.h"

#include <stdio.h>

/* The gaps between the lines said while a state lasts: after BEGIN, and
 * after each AGAIN; the last one repeats. */
static const int64_t gaps_ms[] = {10000, 30000, 60000, 300000, 900000};
#define NGAPS (sizeof(gaps_ms) / sizeof(gaps_ms[0]))

static int64_t gap(unsigned again)
{
    return gaps_ms[again < NGAPS ? again : NGAPS - 1];
}

static struct ws_stall_note note(struct ws_stall *s, enum ws_stall_say say,
                                 int64_t now_ms)
{
    struct ws_stall_note n = {say, now_ms - s->since_ms, s->what};

    if (say != WS_STALL_QUIET) {
        s->spoke = 1;
        s->ended = say == WS_STALL_END;
        s->last_ms = now_ms;
    }
    return n;
}

struct ws_stall_note ws_stall_on(struct ws_stall *s, int kind,
                                 const char *what, int64_t now_ms)
{
    int64_t gap_ms = (s->ended ? 2 : 1) * WS_STALL_MIN_GAP_MS;
    int quiet = s->spoke && now_ms - s->last_ms < gap_ms;

    snprintf(s->what, sizeof(s->what), "%s", what);
    if (!s->on) {
        s->on = 1;
        s->said = 0;
        s->since_ms = now_ms;
        s->tries = 0;
    } else if (s->kind != kind) {
        s->tries = 0; /* another cause: its back-off starts afresh */
    }
    s->tries++;
    s->kind = kind;
    if (quiet)
        return note(s, WS_STALL_QUIET, now_ms);
    if (!s->said || s->said_kind != kind) {
        /* Said now, or at the first failure past the gap. */
        s->said = 1;
        s->said_kind = kind;
        s->again = 0;
        s->next_ms = now_ms + gap(0);
        return note(s, WS_STALL_BEGIN, now_ms);
    }
    if (now_ms < s->next_ms)
        return note(s, WS_STALL_QUIET, now_ms);
    s->next_ms = now_ms + gap(++s->again);
    return note(s, WS_STALL_AGAIN, now_ms);
}

struct ws_stall_note ws_stall_off(struct ws_stall *s, int64_t now_ms)
{
    int said = s->on && s->said;

    s->on = 0;
    s->said = 0;
    s->tries = 0;
    return note(s, said ? WS_STALL_END : WS_STALL_QUIET, now_ms);
}

int64_t ws_stall_backoff(unsigned tries, int64_t first_ms, int64_t max_ms)
{
    int64_t d = first_ms;

    for (unsigned i = 1; i < tries && d < max_ms; i++)
        d *= 2;
    return d < max_ms ? d : max_ms;
}
