/*
 * units.h: the two kinds of config value that carry a unit: durations,
 * in Go's syntax, and byte sizes.
 *
 * Durations.  Litestream decodes its durations with Go's
 * time.ParseDuration, so walship reads the same strings: a sequence of
 * decimal numbers, each with an optional fraction and a unit, as "300ms",
 * "1.5h", "1h30m", ".5s".  Units: ns, us (also "µs" with U+00B5 or U+03BC),
 * ms, s, m, h.  A fraction is scaled in floating point, as Go does, and
 * the sum may not pass 2^63-1 ns (about 292 years).  walship differs
 * from Go where Go's answer would be a mistake in a config:
 *
 *   - a bare number is refused, except 0 (and "00", "+0"): Go refuses it
 *     too, but Litestream's YAML decoder turns a YAML integer straight
 *     into nanoseconds, so `sync-interval: 10` would mean 10 ns there;
 *   - a leading '-' is refused (no setting takes a negative duration);
 *     a leading '+' is allowed, as in Go;
 *   - a non-zero duration below 1 ms is refused: walship keeps
 *     milliseconds and would round it to 0, which means "off".
 *
 * So "1", "1x", "" and "-1.5h" are refused, "1h30m" is 5400000 ms.
 * ws_duration_hint() turns a refusal into the end of a one-line message.
 *
 * Sizes ("max-spool-size"; walship's own key, Litestream has none):
 * a whole number of bytes with no space before an optional unit, B, KB,
 * MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024), exactly as
 * written (case matters); at most 2^63-1 bytes.  "512MiB" is 536870912.
 */
#ifndef WS_UNITS_H
#define WS_UNITS_H

#include <stdint.h>

#include "ws/err.h"

/* Parse a duration (rules above) into milliseconds, rounded down.
 * WS_OK, or WS_ECONFIG (also for s NULL); *ms is written only on
 * success. */
int ws_duration_parse(const char *s, int64_t *ms);

/* Why ws_duration_parse refused s, as the tail of a message: ": a
 * duration needs a unit ...", ": below 1ms ..." or ": want a Go duration
 * such as ...".  A static string. */
const char *ws_duration_hint(const char *s);

/* Parse a size (rules above) into bytes.  WS_OK or WS_ECONFIG; *bytes
 * is written only on success. */
int ws_size_parse(const char *s, int64_t *bytes);

/* The tail of a message for a size ws_size_parse refused. */
#define WS_SIZE_HINT                                                        \
    ": write a whole number of bytes, with no space before an optional "    \
    "unit B, KB, MB, GB, KiB, MiB or GiB (e.g. 512MiB)"

#endif
