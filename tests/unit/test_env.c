/*
 * test_env.c: environment variables in config values (env.h).
 *
 * A table of texts and their expansions, with a few variables set (one
 * of them empty) and one unset: the three reference forms, names that
 * stop at the first character that cannot be in one, a '$' that starts
 * no reference copied as text, defaults taken as written, and an empty
 * variable reported; then an unset variable refused with its name.
 */
#include "ws/env.h"

#include "ws/err.h"

#include <stdlib.h>

#include "check.h"

static void set_vars(void)
{
    ASSERT_EQ(setenv("WS_A", "alpha", 1), 0);
    ASSERT_EQ(setenv("WS_A_B", "ab", 1), 0);
    ASSERT_EQ(setenv("WS_E", "", 1), 0);
    ASSERT_EQ(setenv("_WS9", "nine", 1), 0);
    ASSERT_EQ(unsetenv("WS_UNSET"), 0);
}

TEST(expand)
{
    static const struct {
        const char *in, *want, *empty; /* empty: the variable reported */
    } cases[] = {
        {"plain", "plain", NULL},
        {"", "", NULL},
        {"$WS_A", "alpha", NULL},
        {"${WS_A}", "alpha", NULL},
        {"x${WS_A}y", "xalphay", NULL},
        {"$WS_A/$WS_A_B", "alpha/ab", NULL},
        {"$WS_A.db", "alpha.db", NULL},
        {"$_WS9", "nine", NULL},
        {"${WS_A:-d}", "alpha", NULL},
        {"${WS_UNSET:-d}", "d", NULL},
        {"${WS_UNSET:-}", "", NULL},
        {"${WS_E:-d}", "d", NULL},
        {"${WS_UNSET:-$WS_A}", "$WS_A", NULL}, /* defaults as written */
        {"${WS_UNSET:-a:b/c}", "a:b/c", NULL},
        {"[$WS_E]", "[]", "WS_E"},
        {"$WS_E$WS_A", "alpha", "WS_E"},
        /* A '$' that starts no reference is text. */
        {"$", "$", NULL},
        {"a$", "a$", NULL},
        {"$$", "$$", NULL},
        {"$5", "$5", NULL},
        {"${}", "${}", NULL},
        {"${WS_A", "${WS_A", NULL},
        {"${WS_A b}", "${WS_A b}", NULL},
        {"${WS_UNSET:-d", "${WS_UNSET:-d", NULL},
        {"${WS_A:=d}", "${WS_A:=d}", NULL},
        {"a$-b $.x", "a$-b $.x", NULL},
    };
    struct ws_sbuf b = {0};

    set_vars();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ws_env_name unset = {NULL, 0}, empty = {"x", 1};
        int rc = ws_env_expand(cases[i].in, strlen(cases[i].in), &b, &unset,
                               &empty);

        if (rc != WS_OK)
            CHECK_FAIL("\"%s\": %d", cases[i].in, rc);
        if (strcmp(b.p, cases[i].want) != 0 || b.len != strlen(b.p))
            CHECK_FAIL("\"%s\" -> \"%s\", want \"%s\"", cases[i].in, b.p,
                       cases[i].want);
        if ((empty.p == NULL) != (cases[i].empty == NULL) ||
            (empty.p != NULL &&
             (empty.len != strlen(cases[i].empty) ||
              strncmp(empty.p, cases[i].empty, empty.len) != 0)))
            CHECK_FAIL("\"%s\": empty variable reported wrong", cases[i].in);
    }
    free(b.p);
}

/* Only s[0..n) is read. */
TEST(length)
{
    struct ws_sbuf b = {0};
    struct ws_env_name unset = {NULL, 0}, empty;

    set_vars();
    ASSERT_EQ(ws_env_expand("$WS_A_B", 5, &b, &unset, &empty), WS_OK);
    ASSERT_STR_EQ(b.p, "alpha");
    ASSERT_EQ(ws_env_expand("${WS_A}", 6, &b, &unset, &empty), WS_OK);
    ASSERT_STR_EQ(b.p, "${WS_A");
    free(b.p);
}

TEST(unset)
{
    static const char *const in[] = {"$WS_UNSET", "${WS_UNSET}",
                                     "a/$WS_A/${WS_UNSET}/b"};
    struct ws_sbuf b = {0};

    set_vars();
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        struct ws_env_name unset = {NULL, 0}, empty;

        ASSERT_EQ(ws_env_expand(in[i], strlen(in[i]), &b, &unset, &empty),
                  WS_ENOTFOUND);
        ASSERT(unset.p != NULL);
        ASSERT_UEQ(unset.len, strlen("WS_UNSET"));
        ASSERT(strncmp(unset.p, "WS_UNSET", unset.len) == 0);
        ASSERT(unset.p >= in[i] && unset.p < in[i] + strlen(in[i]));
    }
    free(b.p);
}

#define LIST(X)                                                             \
    X(expand)                                                               \
    X(length)                                                               \
    X(unset)

TEST_MAIN("env", LIST)
