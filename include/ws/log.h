/*
 * log.h: one line per event, as text or as JSON.
 *
 * Text: `2026-12-07T04:51:28.123Z INFO msg key=value ...`, the time in
 * UTC, RFC 3339 with milliseconds (the one clock of every time walship
 * prints).  JSON: one object a line, `{"time": ..., "level": "INFO",
 * "msg": ..., "key": "value", ...}`, valid JSON for any message.
 *
 * Only the daemon and the commands log; modules return errors.  A call
 * writes its format's literal text with `key=value` pairs in it, e.g.
 * ws_info("snapshot written db=%s sz=%llu", ...).  For JSON the pairs
 * become fields, found in the format, not in what the arguments print:
 *
 *   - a key is a run of [a-z0-9_.-] starting with a letter, written in
 *     the format at the start of a word and followed by '=';
 *   - its value runs to the next space of the format, or, when the format
 *     quotes it (`error=\"%s\"`), to the format's closing quote.  What an
 *     argument prints inside a value is taken whole, spaces and quotes
 *     included (a path with spaces stays one value).  Inside a quoted
 *     value each '"' and '\\' an argument prints is written with a
 *     backslash before it, in text and in what ws_log_vformat makes, so
 *     `error="a \"q\" b"` reads back as one value (JSON: `a "q" b`) even
 *     when the line is logged again as an argument of another line;
 *   - an argument printed at the start of a word (after a space of the
 *     format, or printing a leading space itself) is read like the format
 *     and may hold pairs of its own ("path=/backup bucket=b"), except
 *     that a space in it separates words only before another `key=`; an
 *     argument at the very start of the format is message text;
 *   - a value that is just one integer conversion is a JSON number;
 *     keys `time`, `level` and `msg` become `field_time`, ...;
 *   - the words that are not pairs, in order, are `msg`, with punctuation
 *     that ends a value (`db=%s: text`) moved back to the message.
 *
 * Each line is formatted into a local buffer (2 KiB of text, longer
 * messages are cut) and written with a single write(2), so lines from the
 * loop thread and pool threads never interleave.  No line carries a
 * control character, whatever its arguments hold (a key or an error
 * message from a replica): in text, a line break is written as a space
 * and any other control character (C0, DEL, C1 in UTF-8) as '?', as in
 * ws_strip_controls (err.h); in JSON each is escaped (\n, \u001b,
 * \u009b, ...).  Level, format
 * and descriptor are the only process-wide state, set by ws_log_init()
 * at start-up before any thread exists.
 */
#ifndef WS_LOG_H
#define WS_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum ws_log_level { WS_LOG_DEBUG, WS_LOG_INFO, WS_LOG_WARN, WS_LOG_ERROR };

enum ws_log_format { WS_LOG_TEXT, WS_LOG_JSON };

/* Set the minimum level shown, the format and the descriptor lines go to
 * (STDERR_FILENO by default).  Call before starting threads. */
void ws_log_init(enum ws_log_level min, enum ws_log_format format, int fd);

/* Parse "debug", "info", "warn"/"warning", "error" (any case); anything
 * else gives WS_LOG_INFO. */
enum ws_log_level ws_log_level_parse(const char *s);

/* Write "key=value" to buf (n bytes, snprintf's way: the length it
 * needed is returned), for an argument that a log line prints at the
 * start of a word and so reads as pairs of its own: a value with a
 * space, '=', '"' or '\' in it (a file name can hold " level=ERROR") is
 * quoted, '"' and '\' escaped, so that it stays one value. */
int ws_log_pair(char *buf, size_t n, const char *key, const char *value);

/* Write one line at the given level (thread-safe: one write(2)). */
void ws_log(enum ws_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Format fmt into buf (n bytes, NUL-terminated, cut to fit) as ws_log
 * renders a line's text: each '"' and '\\' an argument prints inside a
 * value the format quotes (key="%s") gets a backslash before it.  For a
 * cause formatted now and logged later as an argument ("stalled: %s"),
 * which JSON then reads as the same pairs. */
void ws_log_vformat(char *buf, size_t n, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define ws_debug(...) ws_log(WS_LOG_DEBUG, __VA_ARGS__)
#define ws_info(...) ws_log(WS_LOG_INFO, __VA_ARGS__)
#define ws_warn(...) ws_log(WS_LOG_WARN, __VA_ARGS__)
#define ws_error(...) ws_log(WS_LOG_ERROR, __VA_ARGS__)

#endif
