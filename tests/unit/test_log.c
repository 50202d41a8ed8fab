/*
 * test_log.c: log lines, text and JSON (log.h).
 *
 * Each case points the log at a temporary file, logs, and reads back
 * what one write(2) put there: the time prefix is UTC, RFC 3339 with
 * milliseconds, taken between two clock readings around the call; the
 * text is the message as formatted; the JSON is one object a line whose
 * fields are the format's key=value pairs, exactly as listed here
 * (values printed by arguments are taken whole: spaces, quotes, newlines
 * and bytes that are not UTF-8), and which stays well-formed for
 * messages cut at the line limit.  The e2e test 12-cli checks real runs'
 * lines with python3's json module.
 */
#include "check.h"
#include "ws/log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>
#include <wchar.h>

static int out_fd = -1;

/* Log to a fresh temporary file at level min in format f. */
static void log_to_file(enum ws_log_level min, enum ws_log_format f)
{
    char path[] = "/tmp/ws-log-XXXXXX";

    out_fd = mkstemp(path);
    ASSERT(out_fd >= 0);
    unlink(path);
    ws_log_init(min, f, out_fd);
}

/* Everything logged since the last call, NUL-terminated (static). */
static const char *logged(void)
{
    static char buf[1 << 16];
    static off_t done;
    off_t end = lseek(out_fd, 0, SEEK_END);
    ssize_t n;

    ASSERT(end >= done && end - done < (off_t)sizeof(buf));
    n = pread(out_fd, buf, (size_t)(end - done), done);
    ASSERT_EQ(n, end - done);
    buf[n] = '\0';
    done = end;
    return buf;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Parse "YYYY-MM-DDTHH:MM:SS.mmmZ" at s into ms since the epoch. */
static int64_t parse_time(const char *s)
{
    struct tm tm = {0};
    int ms = -1, n = 0;

    ASSERT(sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms,
                  &n) == 7);
    ASSERT_EQ(n, 24);
    ASSERT(ms >= 0 && s[19] == '.' && s[23] == 'Z');
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

TEST(text_line)
{
    int64_t before, after, t;
    const char *s;

    log_to_file(WS_LOG_DEBUG, WS_LOG_TEXT);
    before = now_ms();
    ws_info("snapshot written db=%s sz=%llu", "/a b/c.db", 42ULL);
    after = now_ms();
    s = logged();
    t = parse_time(s);
    ASSERT(t >= before && t <= after);
    ASSERT_STR_EQ(s + 24, " INFO snapshot written db=/a b/c.db sz=42\n");

    ws_warn("two\nlines\r%s", "and\nmore");
    ASSERT_STR_EQ(logged() + 24, " WARN two lines and more\n");
    ws_debug("x");
    ASSERT_STR_EQ(logged() + 24, " DEBUG x\n");
    ws_error("%d%%", 5);
    ASSERT_STR_EQ(logged() + 24, " ERROR 5%\n");
}

/* Every conversion renders as printf renders it. */
TEST(conversions_as_printf)
{
    char want[512];
    void *ptr = &want;

#define SAME(...)                                                              \
    do {                                                                       \
        snprintf(want, sizeof(want), " INFO " __VA_ARGS__);                    \
        ws_info(__VA_ARGS__);                                                  \
        ASSERT_STR_EQ(logged() + 24, strcat(want, "\n"));                      \
    } while (0)
    log_to_file(WS_LOG_DEBUG, WS_LOG_TEXT);
    SAME("%5.2f|%-4s|%+d|%hhu|%hd|%zu|%zd|%jd|%td|%#o|%X|%p|%c|", 3.14159, "ab",
         7, (unsigned char)200, (short)-3, (size_t)12, (ssize_t)-5,
         (intmax_t)-99, (ptrdiff_t)4, 8u, 255u, ptr, 'z');
    SAME("%.*s|%*d|%-*d|%lu|%lld|%llu|%ld|%Lg|%e|%%|%5s|%.3d|%08x", 2, "abcd",
         5, 42, 4, 1, 123456789UL, -1234567890123LL, 18446744073709551615ULL,
         -7L, (long double)1.5, 1e-10, "x", 9, 0xbeefu);
#undef SAME
}

TEST(levels)
{
    log_to_file(WS_LOG_WARN, WS_LOG_TEXT);
    ws_debug("no");
    ws_info("no");
    ASSERT_STR_EQ(logged(), "");
    ws_warn("yes");
    ws_error("yes");
    ASSERT(strstr(logged(), " ERROR yes\n") != NULL);
    ASSERT_EQ(ws_log_level_parse("Warning"), WS_LOG_WARN);
    ASSERT_EQ(ws_log_level_parse("DEBUG"), WS_LOG_DEBUG);
    ASSERT_EQ(ws_log_level_parse(NULL), WS_LOG_INFO);
}

/* The JSON line after its time: `"level": ..., "msg": ..., ...}\n`. */
static const char *json_rest(void)
{
    const char *s = logged();

    ASSERT(strncmp(s, "{\"time\": \"", 10) == 0);
    parse_time(s + 10);
    ASSERT(strncmp(s + 34, "\", ", 3) == 0);
    ASSERT_EQ(strchr(s, '\n') - s, (ptrdiff_t)strlen(s) - 1);
    return s + 37;
}

TEST(json_fields)
{
    log_to_file(WS_LOG_DEBUG, WS_LOG_JSON);

    ws_info("snapshot written db=%s replica=%s position=%s/%08x "
            "elapsed=%lldms sz=%llu",
            "/sp ace/my \"db\".db", "r1", "0123456789abcdef", 3u, 12LL,
            22350ULL);
    ASSERT_STR_EQ(json_rest(),
                  "\"level\": \"INFO\", \"msg\": \"snapshot written\", "
                  "\"db\": \"/sp ace/my \\\"db\\\".db\", \"replica\": \"r1\", "
                  "\"position\": \"0123456789abcdef/00000003\", "
                  "\"elapsed\": \"12ms\", \"sz\": 22350}\n");

    /* A quoted value runs to the format's closing quote. */
    ws_error("sync error db=%s error=\"%s\"", "/d", "a \"b\" c=d\tx");
    ASSERT_STR_EQ(json_rest(),
                  "\"level\": \"ERROR\", \"msg\": \"sync error\", "
                  "\"db\": \"/d\", \"error\": \"a \\\"b\\\" c=d\\tx\"}\n");

    /* Punctuation after a value goes back to the message; words after
     * the pairs too. */
    ws_warn("commit times dropped db=%s: a replica is far behind; its "
            "oldest segments",
            "/d b");
    ASSERT_STR_EQ(json_rest(),
                  "\"level\": \"WARN\", \"msg\": \"commit times dropped: a "
                  "replica is far behind; its oldest segments\", "
                  "\"db\": \"/d b\"}\n");

    /* An argument at the start of a word holds pairs of its own; one at
     * the start of the format is message text, pairs and all. */
    ws_info("replicating to name=%s sync-interval=%lldms %s", "file", 1000LL,
            "path=/b a/c bucket=x");
    ASSERT_STR_EQ(json_rest(),
                  "\"level\": \"INFO\", \"msg\": \"replicating to\", "
                  "\"name\": \"file\", \"sync-interval\": \"1000ms\", "
                  "\"path\": \"/b a/c\", \"bucket\": \"x\"}\n");
    /* A value quoted in such an argument is one value, whatever it
     * holds (a path with " key=" in it). */
    ws_info("replicating to name=%s %s", "file",
            "path=\"/b level=ERROR \\\"q\\\" c\" bucket=x");
    ASSERT_STR_EQ(json_rest(),
                  "\"level\": \"INFO\", \"msg\": \"replicating to\", "
                  "\"name\": \"file\", \"path\": \"/b level=ERROR \\\"q\\\" c\", "
                  "\"bucket\": \"x\"}\n");
    {
        char b[64], t[8];
        ASSERT_EQ(ws_log_pair(b, sizeof(b), "path", "/a/b.db"), 12);
        ASSERT_STR_EQ(b, "path=/a/b.db");
        ASSERT_EQ(ws_log_pair(b, sizeof(b), "path", "/a b=\"c\\"), 17);
        ASSERT_STR_EQ(b, "path=\"/a b=\\\"c\\\\\"");
        ws_info("replicating to %s", b);
        ASSERT_STR_EQ(json_rest(),
                      "\"level\": \"INFO\", \"msg\": \"replicating to\", "
                      "\"path\": \"/a b=\\\"c\\\\\"}\n");
        ASSERT_EQ(ws_log_pair(t, sizeof(t), "path", "/a b c"), 13);
        ASSERT_STR_EQ(t, "path=\"/");
    }
    ws_error("%s", "list key=x: failed");
    ASSERT_STR_EQ(json_rest(), "\"level\": \"ERROR\", \"msg\": \"list key=x: "
                               "failed\"}\n");
    ws_error("%s error db=%s", "upload", "/d");
    ASSERT_STR_EQ(json_rest(), "\"level\": \"ERROR\", \"msg\": \"upload "
                               "error\", \"db\": \"/d\"}\n");

    /* An optional pair printed by arguments: " retries=" then a number. */
    ws_info("wal segment written sz=%llu%s%.0d", 10ULL, " retries=", 3);
    ASSERT_STR_EQ(json_rest(),
                  "\"level\": \"INFO\", \"msg\": \"wal segment written\", "
                  "\"sz\": 10, \"retries\": 3}\n");
    ws_info("wal segment written sz=%llu%s%.0d", 10ULL, "", 0);
    ASSERT_STR_EQ(json_rest(),
                  "\"level\": \"INFO\", \"msg\": \"wal segment written\", "
                  "\"sz\": 10}\n");

    /* Names of the object's own keys are renamed; a padded or hex number
     * stays a string. */
    ws_info("restoring target=%s time=%s (%s)%s", "00000001:end",
            "2026-01-02T03:04:05.000006Z", "commit time", " newest");
    ASSERT_STR_EQ(json_rest(),
                  "\"level\": \"INFO\", \"msg\": \"restoring (commit time) "
                  "newest\", \"target\": \"00000001:end\", \"field_time\": "
                  "\"2026-01-02T03:04:05.000006Z\"}\n");
    ws_info("n=%5d m=%x k=%d j=%d msg=%s level=%s", 7, 255u, -12, 0, "m", "l");
    ASSERT_STR_EQ(json_rest(),
                  "\"level\": \"INFO\", \"msg\": \"\", \"n\": \"    7\", "
                  "\"m\": \"ff\", \"k\": -12, \"j\": 0, \"field_msg\": \"m\", "
                  "\"field_level\": \"l\"}\n");
}

TEST(json_any_bytes)
{
    char big[5000];

    log_to_file(WS_LOG_DEBUG, WS_LOG_JSON);
    /* Control characters, invalid UTF-8 and valid UTF-8. */
    ws_info("bad key=%s", "\x01\xff\xc3\xa9\n\\");
    ASSERT_STR_EQ(json_rest(), "\"level\": \"INFO\", \"msg\": \"bad\", "
                               "\"key\": \"\\u0001\\ufffd\xc3\xa9\\n\\\\\"}\n");
    /* A wide string is not rendered piece by piece: the whole line is
     * message text, formatted by vsnprintf. */
    ws_info("wide w=%ls n=%d", L"x y", 5);
    ASSERT_STR_EQ(json_rest(), "\"level\": \"INFO\", \"msg\": \"wide w=x y "
                               "n=5\"}\n");
    /* A line cut at the limit is still one well-formed object (the
     * quotes of a quoted value take two bytes each in the text). */
    memset(big, '"', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ws_info("cut v=\"%s\" w=%s", big, big);
    {
        const char *s = json_rest();
        size_t n = strlen(s);
        ASSERT(n > 2048 && strcmp(s + n - 3, "\"}\n") == 0);
        ASSERT(strstr(s, "\"w\"") == NULL); /* cut before w */
    }
}

/* What a replica or a server sent cannot forge a line nor drive a
 * terminal: the message and every field, text and JSON. */
TEST(no_controls_text)
{
    const char *key = "generations/g\r\033]0;title\007";
    const char *msg = "Code \xc2\x9b" "31m \xc2\x9d" "0;t\x7f \xc2\xa0 \xc3\xa9";

    log_to_file(WS_LOG_DEBUG, WS_LOG_TEXT);
    ws_warn("%s passed over key=%s (a FIFO)", key, key);
    ASSERT_STR_EQ(logged() + 24, " WARN generations/g ?]0;title? passed "
                                 "over key=generations/g ?]0;title? (a FIFO)\n");
    ws_error("retention: delete failed error=\"%s\" %c", msg, 0);
    ASSERT_STR_EQ(logged() + 24, " ERROR retention: delete failed "
                                 "error=\"Code ??31m ??0;t? \xc2\xa0 \xc3\xa9\" ?\n");
}

TEST(no_controls_json)
{
    const char *key = "generations/g\r\033]0;title\007";
    const char *msg = "Code \xc2\x9b" "31m \xc2\x9d" "0;t\x7f \xc2\xa0 \xc3\xa9";

    log_to_file(WS_LOG_DEBUG, WS_LOG_JSON);
    ws_error("delete failed key=%s error=\"%s\"", key, msg);
    ASSERT_STR_EQ(json_rest(),
                  "\"level\": \"ERROR\", \"msg\": \"delete failed\", \"key\": "
                  "\"generations/g\\u000d\\u001b]0;title\\u0007\", \"error\": "
                  "\"Code \\u009b31m \\u009d0;t\\u007f \xc2\xa0 \xc3\xa9\"}\n");
}

static void vformat(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void vformat(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ws_log_vformat(buf, n, fmt, ap);
    va_end(ap);
}

/* A quoted value holding quotes and backslashes (a path such as
 * `/j/missing "q".db`) stays one value: escaped in text, whole in JSON,
 * also when formatted first and logged later as an argument (a stall's
 * cause). */
TEST(quoted_values_text)
{
    const char *path = "/tmp/j/missing \"q\" \\x.db";

    log_to_file(WS_LOG_DEBUG, WS_LOG_TEXT);
    ws_error("sync error db=%s error=\"database %s: gone\" n=%d", "/d", path,
             3);
    ASSERT_STR_EQ(logged() + 24,
                  " ERROR sync error db=/d error=\"database /tmp/j/missing "
                  "\\\"q\\\" \\\\x.db: gone\" n=3\n");
    /* Outside a quoted value nothing is escaped. */
    ws_info("db=%s x=\"%d\" %s", "a\"b", 1, "c\"d");
    ASSERT_STR_EQ(logged() + 24, " INFO db=a\"b x=\"1\" c\"d\n");
}

TEST(quoted_values_json)
{
    const char *path = "/tmp/j/missing \"q\" \\x.db";
    char what[256];

    log_to_file(WS_LOG_DEBUG, WS_LOG_JSON);
    ws_error("sync error db=%s error=\"database %s: gone\" n=%d", "/d", path,
             3);
    ASSERT_STR_EQ(json_rest(),
                  "\"level\": \"ERROR\", \"msg\": \"sync error\", \"db\": "
                  "\"/d\", \"error\": \"database /tmp/j/missing \\\"q\\\" "
                  "\\\\x.db: gone\", \"n\": 3}\n");
    vformat(what, sizeof(what), "waiting for the database db=%s reason=\"%s\"",
            "/x y", path);
    ASSERT_STR_EQ(what, "waiting for the database db=/x y reason=\"/tmp/j/"
                        "missing \\\"q\\\" \\\\x.db\"");
    ws_warn("stalled: %s%s", what, " retry_in=1s");
    ASSERT_STR_EQ(json_rest(),
                  "\"level\": \"WARN\", \"msg\": \"stalled: waiting for the "
                  "database\", \"db\": \"/x y\", \"reason\": \"/tmp/j/missing "
                  "\\\"q\\\" \\\\x.db\", \"retry_in\": \"1s\"}\n");
}

#define LIST(X)                                                                \
    X(text_line)                                                               \
    X(conversions_as_printf) X(levels) X(json_fields) X(json_any_bytes)  \
        X(no_controls_text) X(no_controls_json) \
        X(quoted_values_text) X(quoted_values_json)

TEST_MAIN("log", LIST)
