/*
 * log.h: one line per event on stderr.
 *
 * Format (Litestream's URL-mode logger): `2026/11/21 16:24:06 INFO msg
 * key=value ...`.  Only the daemon and the commands log; modules return
 * errors.  The level is the one process-wide setting, fixed at start-up
 * by ws_log_init() before any thread exists.
 */
#ifndef WS_LOG_H
#define WS_LOG_H

enum ws_log_level { WS_LOG_DEBUG, WS_LOG_INFO, WS_LOG_WARN, WS_LOG_ERROR };

/* Set the minimum level shown.  Call once, before starting threads. */
void ws_log_init(enum ws_log_level min);

/* Parse "debug", "info", "warn"/"warning", "error" (any case); anything
 * else gives WS_LOG_INFO. */
enum ws_log_level ws_log_level_parse(const char *s);

/* Write one line at the given level (thread-safe: one write(2)). */
void ws_log(enum ws_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define ws_debug(...) ws_log(WS_LOG_DEBUG, __VA_ARGS__)
#define ws_info(...) ws_log(WS_LOG_INFO, __VA_ARGS__)
#define ws_warn(...) ws_log(WS_LOG_WARN, __VA_ARGS__)
#define ws_error(...) ws_log(WS_LOG_ERROR, __VA_ARGS__)

#endif
