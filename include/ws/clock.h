/*
 * clock.h: the two clocks, in milliseconds.
 *
 * The monotonic clock (CLOCK_MONOTONIC) measures intervals, deadlines
 * and back-offs: it never jumps when the wall clock is set.  The wall
 * clock (CLOCK_REALTIME) is for times that are recorded or shown, and
 * may go backwards.
 */
#ifndef WS_CLOCK_H
#define WS_CLOCK_H

#include <stdint.h>

/* Monotonic and wall clocks in milliseconds. */
int64_t ws_now_ms(void);
int64_t ws_wall_ms(void);

#endif
