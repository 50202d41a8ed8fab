/*
 * test_child.c: how -exec's command is split into words (child.h).
 */
#include "check.h"
#include "ws/child.h"

#include <string.h>

/* cmd splits into the NULL-terminated words want. */
static void splits(const char *cmd, const char *const *want)
{
    struct ws_err err = {0};
    char **argv = NULL;
    size_t i;

    ASSERT_EQ(ws_child_split(cmd, &argv, &err), WS_OK);
    for (i = 0; want[i] != NULL; i++) {
        ASSERT(argv[i] != NULL);
        ASSERT_STR_EQ(argv[i], want[i]);
    }
    ASSERT(argv[i] == NULL);
    ws_child_argv_free(argv);
}

static void refused(const char *cmd, const char *msg)
{
    struct ws_err err = {0};
    char **argv = NULL;

    ASSERT_EQ(ws_child_split(cmd, &argv, &err), WS_EUSAGE);
    ASSERT(argv == NULL);
    ASSERT_STR_EQ(err.msg, msg);
}

TEST(words)
{
    splits("app", (const char *[]){"app", NULL});
    splits("  myapp -myflag  myarg\t", (const char *[]){"myapp", "-myflag",
                                                         "myarg", NULL});
    splits("a\nb", (const char *[]){"a", "b", NULL});
}

TEST(quotes)
{
    splits("sh -c 'echo \"$HOME\" | wc'",
           (const char *[]){"sh", "-c", "echo \"$HOME\" | wc", NULL});
    splits("a \"b c\" d", (const char *[]){"a", "b c", "d", NULL});
    splits("x\"y z\"'w'", (const char *[]){"xy zw", NULL});
    splits("'' \"\"", (const char *[]){"", "", NULL});
    splits("\"a \\\" \\\\ b\"", (const char *[]){"a \" \\ b", NULL});
    splits("'a \\ b'", (const char *[]){"a \\ b", NULL});
}

TEST(backslashes)
{
    splits("a\\ b c", (const char *[]){"a b", "c", NULL});
    splits("\\'x", (const char *[]){"'x", NULL});
    splits("a\\|b", (const char *[]){"a|b", NULL});
}

/* No shell runs the command: what only a shell would do is refused, not
 * cut off or passed on as text. */
TEST(refused)
{
    refused("", "the command is empty");
    refused(" \t\n", "the command is empty");
    refused("app 'x", "unterminated ' at character 5");
    refused("app \"x", "unterminated \" at character 5");
    refused("app \"x\\\"", "unterminated \" at character 5");
    refused("app \\", "a trailing \\ escapes nothing");
    refused("app | logger", "unquoted '|' at character 5: no shell runs the "
                            "command (quote it, or run one: sh -c '...')");
    refused("app;b", "unquoted ';' at character 4: no shell runs the "
                     "command (quote it, or run one: sh -c '...')");
    refused("app > out", "unquoted '>' at character 5: no shell runs the "
                         "command (quote it, or run one: sh -c '...')");
    refused("a `b`", "unquoted '`' at character 3: no shell runs the "
                     "command (quote it, or run one: sh -c '...')");
    refused("app &", "unquoted '&' at character 5: no shell runs the "
                     "command (quote it, or run one: sh -c '...')");
}

#define LIST(X)                                                              \
    X(words)                                                                 \
    X(quotes)                                                                \
    X(backslashes)                                                           \
    X(refused)

TEST_MAIN("child", LIST)
