/*
 * log.c: one line per event, as text or JSON (see log.h).
 *
 * A call is rendered once, conversion by conversion, into a line that
 * remembers where each character came from: the format's own text, an
 * argument printed at the start of a word (read like the format), or an
 * argument printed inside a word (taken whole).  Text output is that
 * line as it is.  JSON output splits it into words at the spaces that do
 * not belong to an argument taken whole, and turns each word that starts
 * with `key=` into a field; the other words are the message.
 *
 * Rendering walks the format itself, so it handles the conversions C's
 * printf has (flags, width and precision, `*`, the length modifiers) and
 * prints each with snprintf.  A conversion it does not take (%n, wide
 * characters) makes the line fall back to vsnprintf, all of it message
 * text, so a line is never lost.
 */
#include "ws/log.h"
#include "ws/err.h"
#include "ws/json.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_TEXT 2048 /* bytes of message text, at most */
#define MAX_CONVS 64       /* conversions remembered for numbers */
#define TIME_LEN 24        /* "2026-12-07T04:51:28.123Z" */
#define JSON_CAP (LINE_MAX_TEXT * 14 + 128)

static enum ws_log_level min_level = WS_LOG_INFO;
static enum ws_log_format out_format = WS_LOG_TEXT;
static int out_fd = STDERR_FILENO;

static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void ws_log_init(enum ws_log_level min, enum ws_log_format format, int fd)
{
    min_level = min;
    out_format = format;
    out_fd = fd;
}

int ws_log_pair(char *buf, size_t n, const char *key, const char *value)
{
    size_t at;
    int len = snprintf(buf, n, "%s=", key);

    if (value == NULL)
        value = "";
    if (value[strcspn(value, " =\"\\")] == '\0')
        return len + snprintf(n > (size_t)len ? buf + len : NULL,
                              n > (size_t)len ? n - (size_t)len : 0, "%s",
                              value);
    at = (size_t)len;
    if (at + 1 < n)
        buf[at] = '"';
    at++;
    for (const char *v = value; *v; v++) {
        if (*v == '"' || *v == '\\') {
            if (at + 1 < n)
                buf[at] = '\\';
            at++;
        }
        if (at + 1 < n)
            buf[at] = *v;
        at++;
    }
    if (at + 1 < n)
        buf[at] = '"';
    at++;
    if (n > 0)
        buf[at < n ? at : n - 1] = '\0';
    return (int)at;
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

/* ---- rendering ---------------------------------------------------------- */

/* Where a character of the rendered line came from. */
enum src {
    S_LIT,   /* the format's own text */
    S_WORD,  /* an argument printed at the start of a word: read as text */
    S_WHOLE, /* an argument printed inside a word: never split */
};

struct conv {
    size_t start, len;
    int integer; /* %d, %i or %u */
};

struct line {
    char t[LINE_MAX_TEXT];
    unsigned char src[LINE_MAX_TEXT];
    size_t n;
    struct conv convs[MAX_CONVS];
    size_t nconvs;
};

static void put_lit(struct line *l, char ch)
{
    if (l->n < sizeof(l->t) - 1) {
        l->src[l->n] = S_LIT;
        l->t[l->n++] = ch;
    }
}

/* The conversion at fmt (after '%'): copies its flags, width and
 * precision, with any `*` taken from ap, into spec ("%-8.3"), and sets
 * *conv and len (the length modifier: "", "hh", "l", ...).  Returns its
 * length in fmt, or 0 for a conversion this walker does not take. */
static size_t parse_spec(const char *fmt, va_list *ap, char *spec, size_t cap,
                         char *conv, char len[3])
{
    const char *p = fmt;
    size_t w = 0;

    spec[w++] = '%';
    while (*p && strchr("-+ #0'", *p) && w < cap - 24)
        spec[w++] = *p++;
    for (int part = 0; part < 2; part++) {
        if (part == 1 && *p != '.')
            break;
        if (part == 1)
            spec[w++] = *p++;
        if (*p == '*') {
            w += (size_t)snprintf(spec + w, cap - w, "%d", va_arg(*ap, int));
            p++;
        }
        while (*p >= '0' && *p <= '9' && w < cap - 16)
            spec[w++] = *p++;
    }
    spec[w] = '\0';
    memset(len, 0, 3);
    for (size_t k = 0; k < 2 && *p && strchr("hlzjtL", *p); k++) {
        if (k == 1 && *p != p[-1])
            break;
        len[k] = *p++;
    }
    if (*p == '\0' || !strchr("diuoxXcspfFeEgGaA", *p) ||
        (strchr("cs", *p) && len[0] != '\0')) /* wide: not taken */
        return 0;
    *conv = *p++;
    return (size_t)(p - fmt);
}

/* A signed or unsigned integer argument of length modifier len (char
 * and short arrive promoted to int). */
static intmax_t arg_signed(const char *len, va_list *ap)
{
    switch (len[0]) {
    case 'l':
        return len[1] == 'l' ? va_arg(*ap, long long) : va_arg(*ap, long);
    case 'z':
        return va_arg(*ap, ssize_t);
    case 'j':
        return va_arg(*ap, intmax_t);
    case 't':
        return va_arg(*ap, ptrdiff_t);
    default:
        return va_arg(*ap, int);
    }
}

static uintmax_t arg_unsigned(const char *len, va_list *ap)
{
    switch (len[0]) {
    case 'l':
        return len[1] == 'l' ? va_arg(*ap, unsigned long long)
                             : va_arg(*ap, unsigned long);
    case 'z':
        return va_arg(*ap, size_t);
    case 'j':
        return va_arg(*ap, uintmax_t);
    case 't':
        return (uintmax_t)va_arg(*ap, ptrdiff_t);
    default:
        return va_arg(*ap, unsigned);
    }
}

/* The spec is built from the caller's format, which the compiler checked
 * against the arguments (ws_log's format attribute). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

/* Print one argument, of conversion conv and length len, at dst with the
 * flags, width and precision of spec; snprintf's result.  Integers are
 * fetched by their length and printed as intmax_t ("j"). */
static int print_arg(char *dst, size_t cap, const char *spec, char conv,
                     const char *len, va_list *ap)
{
    char full[80];

    snprintf(full, sizeof(full), "%s%s%c", spec,
             strchr("diouxX", conv) ? "j"
             : len[0] == 'L'        ? "L"
                                    : "",
             conv);
    switch (conv) {
    case 's':
        return snprintf(dst, cap, full, va_arg(*ap, const char *));
    case 'p':
        return snprintf(dst, cap, full, va_arg(*ap, void *));
    case 'c':
        return snprintf(dst, cap, full, va_arg(*ap, int));
    case 'd':
    case 'i':
        return snprintf(dst, cap, full, arg_signed(len, ap));
    case 'o':
    case 'u':
    case 'x':
    case 'X':
        return snprintf(dst, cap, full, arg_unsigned(len, ap));
    default: /* f F e E g G a A */
        if (len[0] == 'L')
            return snprintf(dst, cap, full, va_arg(*ap, long double));
        return snprintf(dst, cap, full, va_arg(*ap, double));
    }
}

#pragma GCC diagnostic pop

/* Append what an argument printed (arg[0..n)) to l, each '"' and '\\'
 * escaped with a backslash when quoted (inside a quoted value of the
 * format), as far as it fits. */
static void put_arg(struct line *l, const char *arg, size_t n, int quoted)
{
    for (size_t i = 0; i < n && l->n < sizeof(l->t) - 1; i++) {
        if (quoted && (arg[i] == '"' || arg[i] == '\\')) {
            if (l->n + 2 > sizeof(l->t) - 1)
                break;
            l->t[l->n++] = '\\';
        }
        l->t[l->n++] = arg[i];
    }
}

/* Render fmt into l; -1 if it holds a conversion we do not take (nothing
 * useful is left in l then). */
static int render(struct line *l, const char *fmt, va_list *ap)
{
    int inq = 0; /* inside a value the format quotes: key="..." */

    for (const char *p = fmt; *p; p++) {
        char spec[64], conv, len[3], arg[LINE_MAX_TEXT];
        size_t used, start = l->n;
        int k;
        enum src s;

        if (*p != '%' || p[1] == '%') {
            if (*p == '"')
                inq = !inq && l->n > 0 && l->t[l->n - 1] == '=' &&
                      l->src[l->n - 1] == S_LIT;
            put_lit(l, *p);
            p += *p == '%';
            continue;
        }
        used = parse_spec(p + 1, ap, spec, sizeof(spec), &conv, len);
        if (used == 0)
            return -1;
        p += used;
        k = print_arg(arg, sizeof(arg), spec, conv, len, ap);
        if (k < 0)
            return -1;
        put_arg(l, arg, (size_t)k < sizeof(arg) ? (size_t)k : sizeof(arg) - 1,
                inq);
        if (start == 0)
            s = S_WHOLE; /* message text */
        else if (l->t[start - 1] == ' ' && l->src[start - 1] != S_WHOLE)
            s = S_WORD;
        else if (l->n > start && l->t[start] == ' ')
            s = S_WORD;
        else
            s = S_WHOLE;
        memset(l->src + start, s, l->n - start);
        if (l->nconvs < MAX_CONVS)
            l->convs[l->nconvs++] =
                (struct conv){start, l->n - start, strchr("diu", conv) != NULL};
    }
    return 0;
}

/* ---- JSON -----------------------------------------------------------------
 */

/* A bounded output buffer; what does not fit is dropped, never cut in
 * the middle of an escape. */
struct out {
    char *p;
    size_t n, cap;
    size_t mark; /* where the message starts */
};

static void out_raw(struct out *o, const char *s, size_t n)
{
    if (o->n + n <= o->cap) {
        memcpy(o->p + o->n, s, n);
        o->n += n;
    }
}

static void out_str(struct out *o, const char *s, size_t n)
{
    char enc[WS_JSON_SEQ_MAX];

    while (n > 0) {
        size_t used, len = ws_json_seq(s, n, enc, &used);
        out_raw(o, enc, len);
        s += used;
        n -= used;
    }
}

/* Length of "key" when a `key=` starts at i, else 0. */
static size_t key_len(const struct line *l, size_t i)
{
    size_t k = i;

    if (l->src[i] == S_WHOLE || l->t[i] < 'a' || l->t[i] > 'z')
        return 0;
    while (k < l->n && l->src[k] != S_WHOLE &&
           ((l->t[k] >= 'a' && l->t[k] <= 'z') ||
            (l->t[k] >= '0' && l->t[k] <= '9') ||
            (l->t[k] != '\0' && strchr("_.-", l->t[k]))))
        k++;
    return k < l->n && l->src[k] != S_WHOLE && l->t[k] == '=' ? k - i : 0;
}

/* 1 when the space at i separates words: any space of the format; in an
 * argument read as text, a space before another `key=` (a path with a
 * space in it stays one value). */
static int splits(const struct line *l, size_t i)
{
    if (l->t[i] != ' ' || l->src[i] == S_WHOLE)
        return 0;
    return l->src[i] == S_LIT || (i + 1 < l->n && key_len(l, i + 1) > 0);
}

/* 1 when t[s..e) is exactly one integer conversion printing a JSON
 * number. */
static int is_number(const struct line *l, size_t s, size_t e)
{
    size_t i = s + (s < e && l->t[s] == '-');

    for (size_t c = 0; c < l->nconvs; c++) {
        const struct conv *v = &l->convs[c];
        if (v->start != s || v->len != e - s || !v->integer || i == e)
            continue;
        if (l->t[i] == '0' && i + 1 < e)
            return 0;
        for (; i < e; i++)
            if (l->t[i] < '0' || l->t[i] > '9')
                return 0;
        return 1;
    }
    return 0;
}

/* Append t[s..e) to the message: words are joined by one space, but
 * punctuation that follows a word keeps to it. */
static void msg_add(struct out *m, const struct line *l, size_t s, size_t e)
{
    if (s == e)
        return;
    if (m->n > m->mark && (l->t[s] == '\0' || !strchr(":;,.)", l->t[s])))
        out_raw(m, " ", 1);
    out_str(m, l->t + s, e - s);
}

/* One field: "key": value, with the key made safe from the top-level
 * names; a quoted value's backslash escapes (render) are undone. */
static void field(struct out *o, const struct line *l, size_t ks, size_t kl,
                  size_t vs, size_t ve, int quoted)
{
    static const char *const reserved[] = {"time", "level", "msg"};

    out_raw(o, ", \"", 3);
    for (size_t r = 0; r < 3; r++)
        if (strlen(reserved[r]) == kl &&
            memcmp(l->t + ks, reserved[r], kl) == 0)
            out_raw(o, "field_", 6);
    out_raw(o, l->t + ks, kl);
    out_raw(o, "\": ", 3);
    if (is_number(l, vs, ve)) {
        out_raw(o, l->t + vs, ve - vs);
    } else if (!quoted) {
        out_raw(o, "\"", 1);
        out_str(o, l->t + vs, ve - vs);
        out_raw(o, "\"", 1);
    } else {
        out_raw(o, "\"", 1);
        for (size_t i = vs, j; i < ve; i = j) {
            i += l->t[i] == '\\' && i + 1 < ve;
            for (j = i + 1; j < ve && l->t[j] != '\\'; j++)
                ;
            out_str(o, l->t + i, j - i);
        }
        out_raw(o, "\"", 1);
    }
}

/* Split the line into fields and message words; append the fields to f
 * or the message to m (the other is NULL). */
static void split(const struct line *l, struct out *f, struct out *m)
{
    size_t i = 0;

    while (i < l->n) {
        size_t k = splits(l, i) ? 0 : key_len(l, i), vs, ve, j;
        if (splits(l, i)) {
            i++;
            continue;
        }
        if (k == 0) {
            for (j = i; j < l->n && !splits(l, j); j++)
                ;
            if (m)
                msg_add(m, l, i, j);
            i = j;
            continue;
        }
        vs = i + k + 1;
        if (vs < l->n && l->src[vs] != S_WHOLE && l->t[vs] == '"') {
            for (j = ++vs; j < l->n && (l->src[j] == S_WHOLE || l->t[j] != '"');
                 j++)
                j += l->t[j] == '\\' && j + 1 < l->n;
            if (f)
                field(f, l, i, k, vs, j, 1);
            i = j + (j < l->n);
            continue;
        }
        for (j = vs; j < l->n && !splits(l, j); j++)
            ;
        for (ve = j; ve > vs && l->src[ve - 1] != S_WHOLE &&
                     l->t[ve - 1] != '\0' && strchr(":;,", l->t[ve - 1]);
             ve--)
            ;
        if (f)
            field(f, l, i, k, vs, ve, 0);
        if (m)
            msg_add(m, l, ve, j);
        i = j;
    }
}

/* {"time": ..., "level": ..., "msg": ..., fields...}\n into o, which has
 * room for JSON_CAP bytes: each byte of the line is escaped to at most 6,
 * a message word adds a space, a field (2 bytes of the line at least)
 * adds 14 bytes of punctuation and prefix, and the rest is 64 bytes. */
static void write_json(struct out *o, const char *now, const char *level,
                       const struct line *l)
{
    out_raw(o, "{\"time\": \"", 10);
    out_raw(o, now, strlen(now));
    out_raw(o, "\", \"level\": \"", 13);
    out_raw(o, level, strlen(level));
    out_raw(o, "\", \"msg\": \"", 11);
    o->mark = o->n;
    split(l, NULL, o);
    out_raw(o, "\"", 1);
    split(l, o, NULL);
    out_raw(o, "}\n", 2);
}

/* ---- the line ------------------------------------------------------------ */

static void fmt_now(char *buf, size_t n)
{
    struct timespec ts;
    struct tm tm;
    size_t k;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + k, n - k, ".%03dZ", (int)(ts.tv_nsec / 1000000));
}

void ws_log_vformat(char *buf, size_t n, const char *fmt, va_list ap)
{
    struct line l;
    va_list copy;

    if (n == 0)
        return;
    l.n = l.nconvs = 0;
    va_copy(copy, ap);
    if (render(&l, fmt, &copy) != 0) {
        va_end(copy);
        va_copy(copy, ap);
        vsnprintf(buf, n, fmt, copy);
        va_end(copy);
        return;
    }
    va_end(copy);
    if (l.n > n - 1)
        l.n = n - 1;
    memcpy(buf, l.t, l.n);
    buf[l.n] = '\0';
}

void ws_log(enum ws_log_level level, const char *fmt, ...)
{
    struct line l;
    char now[TIME_LEN + 8];
    char buf[JSON_CAP];
    struct out o = {buf, 0, sizeof(buf), 0};
    va_list ap, copy;

    if (level < min_level)
        return;
    fmt_now(now, sizeof(now));
    l.n = l.nconvs = 0;
    va_start(ap, fmt);
    va_copy(copy, ap);
    if (render(&l, fmt, &ap) != 0) {
        int k = vsnprintf(l.t, sizeof(l.t), fmt, copy);
        l.n = k < 0 ? 0 : (size_t)k < sizeof(l.t) ? (size_t)k : sizeof(l.t) - 1;
        memset(l.src, S_WHOLE, l.n);
        l.nconvs = 0;
    }
    va_end(copy);
    va_end(ap);
    if (out_format == WS_LOG_JSON) {
        write_json(&o, now, names[level], &l);
    } else {
        ws_strip_controls(l.t, l.n);
        out_raw(&o, now, strlen(now));
        out_raw(&o, " ", 1);
        out_raw(&o, names[level], strlen(names[level]));
        out_raw(&o, " ", 1);
        out_raw(&o, l.t, l.n);
        out_raw(&o, "\n", 1);
    }
    if (write(out_fd, o.p, o.n) < 0)
        return;
}
