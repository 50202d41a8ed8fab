/*
 * test_inspect.c: the lag column (Litestream's truncation bands and Go's
 * time.Duration.String) and the table writer behind the inspection
 * commands (text as Go's tabwriter prints it, and JSON).
 */
#include "check.h"
#include "ws/inspect.h"

#define US INT64_C(1000)
#define MS INT64_C(1000000)
#define S INT64_C(1000000000)

static const char *dur(int64_t ns)
{
    static char buf[64];

    ws_duration_format(ns, buf, sizeof(buf));
    return buf;
}

/* Go: fmt.Println(time.Duration(ns)). */
TEST(duration_string)
{
    static const struct {
        int64_t ns;
        const char *want;
    } cases[] = {
        {0, "0s"},
        {1, "1ns"},
        {999, "999ns"},
        {-999, "-999ns"},
        {1 * US, "1\u00b5s"},
        {1500, "1.5\u00b5s"},
        {150 * US, "150\u00b5s"},
        {1 * MS, "1ms"},
        {1234567, "1.234567ms"},
        {36 * MS, "36ms"},
        {-36 * MS, "-36ms"},
        {1 * S, "1s"},
        {8800 * MS, "8.8s"},
        {62 * S, "1m2s"},
        {60 * S, "1m0s"},
        {3600 * S, "1h0m0s"},
        {3661 * S + 500 * MS, "1h1m1.5s"},
        {100 * 3600 * S, "100h0m0s"},
        {-(62 * S + 1), "-1m2.000000001s"},
        {INT64_MAX, "2562047h47m16.854775807s"},
        {INT64_MIN, "-2562047h47m16.854775808s"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ASSERT_STR_EQ(dur(cases[i].ns), cases[i].want);
}

/* The bands: > 10 s to seconds, > 1 s to 0.1 s, > 1 ms to ms, > 1 µs
 * to µs, towards zero, the same for negative values. */
TEST(lag_truncate)
{
    static const struct {
        int64_t ns;
        const char *want;
    } cases[] = {
        {8856 * MS, "8.8s"},
        {-8856 * MS, "-8.8s"},
        {62987 * MS, "1m2s"},
        {-62987 * MS, "-1m2s"},
        {10 * S, "10s"},          /* not > 10 s: to 0.1 s */
        {10 * S + 50 * MS, "10s"},
        {10 * S - 1, "9.9s"},
        {1 * S, "1s"},            /* not > 1 s: to ms */
        {1 * S + 99 * MS, "1s"},
        {-36500 * US, "-36ms"},
        {36999 * US, "36ms"},
        {1 * MS, "1ms"},          /* not > 1 ms: to µs */
        {1 * MS + 999, "1ms"},
        {150123, "150\u00b5s"},
        {-150999, "-150\u00b5s"},
        {1 * US, "1\u00b5s"},     /* not > 1 µs: kept */
        {999, "999ns"},
        {-1, "-1ns"},
        {0, "0s"},
        {INT64_MIN, "-2562047h47m16s"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ASSERT_STR_EQ(dur(ws_lag_truncate(cases[i].ns)), cases[i].want);
}

static const struct ws_col cols[] = {
    {"name", "replica", WS_COL_STR},
    {"n", "n", WS_COL_NUM},
    {NULL, "json_only", WS_COL_STR},
    {"list", "items", WS_COL_LIST},
    {"text_only", NULL, WS_COL_STR},
};

/* Write t into a string (caller frees). */
static char *render(const struct ws_table *t, int json)
{
    struct ws_err err = {0};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    ASSERT(f != NULL);
    ASSERT_EQ(ws_table_write(t, json, f, &err), WS_OK);
    ASSERT_EQ(fclose(f), 0);
    return buf;
}

static void fill(struct ws_table *t)
{
    ws_table_init(t, cols, sizeof(cols) / sizeof(cols[0]));
    ASSERT_EQ(ws_table_add(t, (const char *const[]){"file", "0", "a", "x",
                                                    "last"}),
              WS_OK);
    ASSERT_EQ(ws_table_add(t, (const char *const[]){"s3-long-name", "12345",
                                                    "b", "x\ny\nz", "t"}),
              WS_OK);
    /* Width counts characters, not bytes: "µµ" is 2 wide. */
    ASSERT_EQ(ws_table_add(t, (const char *const[]){"\u00b5\u00b5", NULL,
                                                    NULL, "", NULL}),
              WS_OK);
}

TEST(table_text)
{
    struct ws_table t;
    char *s;

    fill(&t);
    s = render(&t, 0);
    ASSERT_STR_EQ(s, "name          n      list   text_only\n"
                     "file          0      x      last\n"
                     "s3-long-name  12345  x,y,z  t\n"
                     "\u00b5\u00b5            -             -\n");
    free(s);
    ws_table_free(&t);

    /* An empty table is its header; a lone column is not padded. */
    ws_table_init(&t, cols, 1);
    s = render(&t, 0);
    ASSERT_STR_EQ(s, "name\n");
    free(s);
    ws_table_free(&t);
}

TEST(table_json)
{
    struct ws_table t;
    char *s;

    fill(&t);
    ASSERT_EQ(ws_table_add(&t, (const char *const[]){
                                   "q\"b\\s\x01\t\n\xff\xc3\xa9", "-7",
                                   "\xed\xa0\x80", "a\"\n", "x"}),
              WS_OK);
    s = render(&t, 1);
    ASSERT_STR_EQ(
        s,
        "[\n"
        "  {\"replica\": \"file\", \"n\": 0, \"json_only\": \"a\", "
        "\"items\": [\"x\"]},\n"
        "  {\"replica\": \"s3-long-name\", \"n\": 12345, \"json_only\": "
        "\"b\", \"items\": [\"x\", \"y\", \"z\"]},\n"
        "  {\"replica\": \"\u00b5\u00b5\", \"n\": null, \"json_only\": "
        "null, \"items\": []},\n"
        "  {\"replica\": \"q\\\"b\\\\s\\u0001\\t\\n\\ufffd\u00e9\", \"n\": "
        "-7, \"json_only\": \"\\ufffd\\ufffd\\ufffd\", \"items\": "
        "[\"a\\\"\", \"\"]}\n"
        "]\n");
    free(s);
    ws_table_free(&t);

    ws_table_init(&t, cols, 2);
    s = render(&t, 1);
    ASSERT_STR_EQ(s, "[]\n");
    free(s);
    ws_table_free(&t);
}

TEST(table_write_error)
{
    struct ws_err err = {0};
    struct ws_table t;
    FILE *f = fopen("/dev/full", "w");

    ASSERT(f != NULL);
    fill(&t);
    ASSERT_EQ(ws_table_write(&t, 0, f, &err), WS_EIO);
    ASSERT_STR_CONTAINS(err.msg, "write output");
    fclose(f);
    ws_table_free(&t);
}

/* A control byte in a cell (a file name with a newline or an escape
 * sequence) shows as '?': it cannot add a row or reach the terminal; a
 * list's items are still joined with ','. */
TEST(table_control_bytes)
{
    struct ws_table t;
    char *s;

    ws_table_init(&t, cols, sizeof(cols) / sizeof(cols[0]));
    ASSERT_EQ(ws_table_add(&t, (const char *const[]){"a\nb\033[31m", "1",
                                                     NULL, "x\ny", "\t"}),
              WS_OK);
    s = render(&t, 0);
    ASSERT_STR_EQ(s, "name      n  list  text_only\n"
                     "a?b?[31m  1  x,y   ?\n");
    free(s);
    ws_table_free(&t);
}

#define LIST(X)                                                             \
    X(duration_string)                                                      \
    X(lag_truncate)                                                         \
    X(table_text)                                                           \
    X(table_json)                                                           \
    X(table_write_error)                                                    \
    X(table_control_bytes)

TEST_MAIN("inspect", LIST)
