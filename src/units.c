/*
 * units.c: see units.h.
 */
#include "ws/units.h"

#include "ws/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Durations -------------------------------------------------------- */

static const struct {
    const char *name;
    uint64_t ns;
} units[] = {
    {"ns", 1},
    {"us", 1000},
    {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000}, /* U+03BC Greek mu */
    {"ms", 1000000},
    {"s", 1000000000},
    {"m", UINT64_C(60000000000)},
    {"h", UINT64_C(3600000000000)},
};

static int is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

/* One "<number><unit>" of a Go duration, in nanoseconds; advances *sp.
 * As Go's time.ParseDuration, a fraction is scaled in floating point. */
static int duration_part(const char **sp, uint64_t *ns)
{
    const uint64_t max = UINT64_C(1) << 63;
    const char *s = *sp, *u;
    uint64_t v = 0, f = 0, unit = 0;
    double scale = 1;
    int digits = 0;

    for (; is_digit(*s); s++, digits++) {
        if (v > max / 10)
            return WS_ECONFIG;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (*s == '.')
        for (s++; is_digit(*s); s++, digits++) {
            if (scale < 1e18) {
                f = f * 10 + (uint64_t)(*s - '0');
                scale *= 10;
            }
        }
    for (u = s; *s != '\0' && *s != '.' && !is_digit(*s); s++)
        ;
    for (size_t i = 0; i < NELEM(units); i++)
        if (strlen(units[i].name) == (size_t)(s - u) &&
            memcmp(units[i].name, u, (size_t)(s - u)) == 0)
            unit = units[i].ns;
    if (digits == 0 || unit == 0 || v > max / unit)
        return WS_ECONFIG;
    v = v * unit + (uint64_t)((double)f * ((double)unit / scale));
    if (v > max)
        return WS_ECONFIG;
    *ns = v;
    *sp = s;
    return WS_OK;
}

/* Nanoseconds of a duration string, or WS_ECONFIG.  A bare number is
 * refused unless it is 0 (units.h). */
static int duration_ns(const char *s, uint64_t *ns)
{
    uint64_t total = 0, part;

    if (s == NULL)
        return WS_ECONFIG;
    if (*s == '+')
        s++;
    if (*s == '\0')
        return WS_ECONFIG;
    if (strspn(s, "0") == strlen(s)) {
        *ns = 0;
        return WS_OK;
    }
    while (*s != '\0' && total <= INT64_MAX) {
        if (duration_part(&s, &part) != WS_OK)
            return WS_ECONFIG;
        total += part;
    }
    if (total > INT64_MAX)
        return WS_ECONFIG;
    *ns = total;
    return WS_OK;
}

int ws_duration_parse(const char *s, int64_t *ms)
{
    uint64_t ns;

    if (duration_ns(s, &ns) != WS_OK || (ns > 0 && ns < 1000000))
        return WS_ECONFIG;
    *ms = (int64_t)(ns / 1000000);
    return WS_OK;
}

const char *ws_duration_hint(const char *s)
{
    uint64_t ns;

    if (s[strspn(s, "+")] != '\0' &&
        strspn(s + strspn(s, "+"), "0123456789") == strlen(s + strspn(s, "+")))
        return ": a duration needs a unit (only 0 may go without one; "
               "Litestream would read a bare number as nanoseconds): "
               "write e.g. 10s or 500ms";
    if (duration_ns(s, &ns) == WS_OK && ns > 0)
        return ": below 1ms, which walship would round to 0 (off)";
    return ": want a Go duration such as 500ms, 10s, 1m30s or 24h";
}

/* ---- Sizes ------------------------------------------------------------ */

int ws_size_parse(const char *s, int64_t *bytes)
{
    static const struct {
        const char *unit;
        int64_t mult;
    } sizes[] = {{"", 1},          {"B", 1},           {"KB", 1000},
                 {"MB", 1000000},  {"GB", 1000000000}, {"KiB", 1 << 10},
                 {"MiB", 1 << 20}, {"GiB", 1 << 30}};
    unsigned long long x;
    char *end;

    if (!is_digit(s[0]))
        return WS_ECONFIG;
    errno = 0;
    x = strtoull(s, &end, 10);
    if (errno != 0)
        return WS_ECONFIG;
    for (size_t i = 0; i < NELEM(sizes); i++) {
        if (strcmp(end, sizes[i].unit) != 0)
            continue;
        if (x > (unsigned long long)INT64_MAX / (unsigned long long)sizes[i].mult)
            return WS_ECONFIG;
        *bytes = (int64_t)x * sizes[i].mult;
        return WS_OK;
    }
    return WS_ECONFIG;
}
