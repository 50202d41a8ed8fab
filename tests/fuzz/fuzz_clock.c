/*
 * fuzz_clock.c: timestamps and durations: restore's -timestamp (plan.h
 * ws_time_parse), S3's LastModified (s3xml.h ws_s3xml_parse_time), and
 * the config's durations and sizes (config.h ws_duration_parse,
 * ws_size_parse).
 *
 * Input: one control byte, then the string.  [0] mod 4 picks the parser:
 * 0 ws_time_parse, 1 ws_duration_parse, 2 ws_size_parse,
 * 3 ws_s3xml_parse_time.
 *
 * Checked: a value that parses formats back to a string that parses to
 * the same value (a time to the same instant, with ws_time_fmt or S3's
 * shape; a duration as "<ms>ms" and as "<h>h<m>m<s>.<ms>s"; a size in
 * bytes); an accepted date exists (no 31 April, no 29 February outside
 * leap years); a duration or a size is never negative.
 */
#include "fuzz.h"
#include "ws/config.h"
#include "ws/plan.h"
#include "ws/s3xml.h"

#include <time.h>

static int clock_days_in(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : d[m - 1];
}

/* The date at the start of s ("YYYY-MM-DD") exists. */
static void clock_check_date(const char *s)
{
    int y, m, d;

    FUZZ_CHECK(sscanf(s, "%4d-%2d-%2d", &y, &m, &d) == 3,
               "\"%s\" accepted without a date", s);
    FUZZ_CHECK(m >= 1 && m <= 12 && d >= 1 && d <= clock_days_in(y, m),
               "\"%s\": no such date", s);
}

static void clock_rfc3339(const char *s)
{
    int64_t t, t2, t3;
    char buf[64], buf2[64];

    if (ws_time_parse(s, &t) != WS_OK)
        return;
    clock_check_date(s);
    if (t <= 0)
        return; /* ws_time_fmt prints "-" for those */
    ws_time_fmt(t, buf, sizeof(buf));
    t2 = -1; /* "refused" */
    FUZZ_CHECK(ws_time_parse(buf, &t2) == WS_OK && t2 == t,
               "\"%s\" is %lld, formats as \"%s\", which is %lld", s,
               (long long)t, buf, (long long)t2);
    ws_time_fmt(t2, buf2, sizeof(buf2));
    FUZZ_CHECK(strcmp(buf, buf2) == 0 && ws_time_parse(buf2, &t3) == WS_OK &&
                   t3 == t,
               "\"%s\" formats as \"%s\" then \"%s\"", s, buf, buf2);
}

/* What parse accepts is not negative, and "<value><unit>" parses back
 * to it; returns 0 when s is refused. */
static int clock_number(const char *s, int (*parse)(const char *, int64_t *),
                        const char *unit, int64_t *v)
{
    int64_t v2;
    char buf[48];

    if (parse(s, v) != WS_OK)
        return 0;
    FUZZ_CHECK(*v >= 0, "\"%s\" is %lld", s, (long long)*v);
    snprintf(buf, sizeof(buf), "%lld%s", (long long)*v, unit);
    FUZZ_CHECK(parse(buf, &v2) == WS_OK && v2 == *v,
               "\"%s\" is %lld, \"%s\" is %lld", s, (long long)*v, buf,
               (long long)v2);
    return 1;
}

static void clock_duration(const char *s)
{
    int64_t ms, ms2;
    char buf[96];

    if (!clock_number(s, ws_duration_parse, "ms", &ms))
        return;
    snprintf(buf, sizeof(buf), "%lldh%lldm%lld.%03llds",
             (long long)(ms / 3600000), (long long)(ms / 60000 % 60),
             (long long)(ms / 1000 % 60), (long long)(ms % 1000));
    FUZZ_CHECK(ws_duration_parse(buf, &ms2) == WS_OK && ms2 == ms,
               "\"%s\" is %lld ms, \"%s\" is %lld", s, (long long)ms, buf,
               (long long)ms2);
}

static void clock_s3(const char *s)
{
    int64_t ms, ms2;
    time_t sec;
    struct tm tm;
    char buf[64];

    if (ws_s3xml_parse_time(s, &ms) != WS_OK)
        return;
    clock_check_date(s);
    FUZZ_CHECK(ms >= 0, "\"%s\" is %lld ms, before 1970", s, (long long)ms);
    sec = (time_t)(ms / 1000);
    FUZZ_CHECK(gmtime_r(&sec, &tm) != NULL, "gmtime(%lld)", (long long)sec);
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    FUZZ_CHECK(ws_s3xml_parse_time(buf, &ms2) == WS_OK && ms2 == ms,
               "\"%s\" is %lld, \"%s\" is %lld", s, (long long)ms, buf,
               (long long)ms2);
}

int FUZZ_ENTRY(clock)
{
    char *s;

    if (size < 1)
        return 0;
    s = fuzz_str(data + 1, size - 1);
    switch (data[0] & 3) {
    case 0:
        clock_rfc3339(s);
        break;
    case 1:
        clock_duration(s);
        break;
    case 2: {
        int64_t bytes;
        (void)clock_number(s, ws_size_parse, "", &bytes);
        break;
    }
    default:
        clock_s3(s);
        break;
    }
    free(s);
    return 0;
}
