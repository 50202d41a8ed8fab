/*
 * slow.h: saying that a replica request gets no answer.
 *
 * The backends give up on a server that stops answering only after
 * minutes (S3: 60 s without a byte, then up to 4 retries), which would
 * otherwise pass without a word.  A struct ws_slow watches one request
 * in flight: started when the request is submitted, it calls its owner's
 * `say` 10 s later (WS_SLOW_FIRST_MS), then each time after three times
 * the previous wait (30 s, 90 s, 270 s, ...), at most WS_SLOW_MAX_MS
 * apart, with how long the request has waited; stopped when the request
 * is answered, it tells whether anything was said, so that the owner
 * says that the answer came (and after how long).  It is one libuv
 * timer: nothing runs while the request waits.  It logs nothing itself:
 * the owner's lines name what it knows (the database, the replica, the
 * request).
 *
 * The owner embeds it, reaches itself through `data`, and closes it
 * with ws_slow_close() before freeing it (libuv's rule for handles).
 */
#ifndef WS_SLOW_H
#define WS_SLOW_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define WS_SLOW_FIRST_MS 10000 /* a request unanswered this long is said */
#define WS_SLOW_MAX_MS 900000  /* then at a slowing pace, up to this */

struct ws_slow;

/* Say that s's request still waits; waited is how long, formatted as a
 * Go duration ("10s", "1m30s"). */
typedef void (*ws_slow_fn)(struct ws_slow *s, const char *waited);

struct ws_slow {
    uv_timer_t timer;  /* its data is the struct ws_slow */
    ws_slow_fn say;
    void *data;        /* the owner's */
    int64_t t0_ms;     /* when the request was submitted (the loop's
                        * clock, uv_now) */
    int said;          /* lines said about it */
};

/* Set s up on loop (no request yet). */
void ws_slow_init(uv_loop_t *loop, struct ws_slow *s, ws_slow_fn say,
                  void *data);

/* A request was submitted now: say it after WS_SLOW_FIRST_MS without an
 * answer.  Restarts a watch in progress. */
void ws_slow_start(struct ws_slow *s);

/* The request was answered.  Returns 1 when a line was said about it,
 * with how long it took in waited (n >= 32 bytes), else 0. */
int ws_slow_stop(struct ws_slow *s, char *waited, size_t n);

/* Close the timer; cb (may be NULL) runs when libuv is done with it. */
void ws_slow_close(struct ws_slow *s, uv_close_cb cb);

/* The wait before line number said + 1 (0: the first), in ms. */
int64_t ws_slow_delay_ms(int said);

/* ms as the lines give it: a Go duration, truncated as `generations`
 * truncates a lag ("10s", "1m30s", "15.2s"). */
void ws_slow_fmt(int64_t ms, char *buf, size_t n);

#endif
