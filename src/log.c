/*
 * log.c: timestamped single-line logging to stderr.
 *
 * Each line is formatted into a local buffer and written with a single
 * write(2), so lines from the loop thread and pool threads never
 * interleave.  The minimum level is the only process-wide state; it is
 * written once at start-up.
 */
#include "ws/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static enum ws_log_level min_level = WS_LOG_INFO;

static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void ws_log_init(enum ws_log_level min)
{
    min_level = min;
}

enum ws_log_level ws_log_level_parse(const char *s)
{
    if (s == NULL)
        return WS_LOG_INFO;
    if (strcasecmp(s, "debug") == 0)
        return WS_LOG_DEBUG;
    if (strcasecmp(s, "warn") == 0 || strcasecmp(s, "warning") == 0)
        return WS_LOG_WARN;
    if (strcasecmp(s, "error") == 0)
        return WS_LOG_ERROR;
    return WS_LOG_INFO;
}

void ws_log(enum ws_log_level level, const char *fmt, ...)
{
    char line[2048];
    struct tm tm;
    time_t now;
    va_list ap;
    size_t n;
    int k;

    if (level < min_level)
        return;
    now = time(NULL);
    localtime_r(&now, &tm);
    n = strftime(line, sizeof(line), "%Y/%m/%d %H:%M:%S ", &tm);
    k = snprintf(line + n, sizeof(line) - n, "%s ", names[level]);
    if (k > 0)
        n += (size_t)k;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (k > 0)
        n += (size_t)k < sizeof(line) - n - 1 ? (size_t)k
                                              : sizeof(line) - n - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}
