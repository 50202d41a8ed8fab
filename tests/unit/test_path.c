/*
 * test_path.c: Go's path.Clean, absolute paths and "~" (path.h).
 *
 * The cleaning cases are the ones Go's own path package checks Clean
 * with (already clean, trailing and doubled slashes, "." and ".."
 * elements, combinations), each also checked to be clean already when
 * cleaned again; then ws_path_abs against the working directory, and
 * ws_path_expand's "~" rules.
 */
#include "ws/path.h"

#include <stdlib.h>

#include "check.h"

static const struct {
    const char *in, *want;
} cleans[] = {
    /* Already clean. */
    {"", "."},
    {"abc", "abc"},
    {"abc/def", "abc/def"},
    {"a/b/c", "a/b/c"},
    {".", "."},
    {"..", ".."},
    {"../..", "../.."},
    {"../../abc", "../../abc"},
    {"/abc", "/abc"},
    {"/", "/"},
    /* A trailing slash goes. */
    {"abc/", "abc"},
    {"abc/def/", "abc/def"},
    {"a/b/c/", "a/b/c"},
    {"./", "."},
    {"../", ".."},
    {"../../", "../.."},
    {"/abc/", "/abc"},
    /* Doubled slashes go. */
    {"abc//def//ghi", "abc/def/ghi"},
    {"a//b", "a/b"},
    {"//abc", "/abc"},
    {"///abc", "/abc"},
    {"//abc//", "/abc"},
    {"abc//", "abc"},
    /* "." elements go. */
    {"abc/./def", "abc/def"},
    {"/./abc/def", "/abc/def"},
    {"abc/.", "abc"},
    /* ".." elements take the one before. */
    {"abc/def/ghi/../jkl", "abc/def/jkl"},
    {"abc/def/../ghi/../jkl", "abc/jkl"},
    {"abc/def/..", "abc"},
    {"abc/def/../..", "."},
    {"/abc/def/../..", "/"},
    {"abc/def/../../..", ".."},
    {"/abc/def/../../..", "/"},
    {"abc/def/../../../ghi/jkl/../../../mno", "../../mno"},
    {"/../a", "/a"},
    {"/..", "/"},
    /* Combinations. */
    {"abc/./../def", "def"},
    {"abc//./../def", "def"},
    {"abc/../../././../def", "../../def"},
    /* Names that only start or end with dots are names. */
    {"/.hidden/..x/x../...", "/.hidden/..x/x../..."},
};

TEST(clean)
{
    for (size_t i = 0; i < sizeof(cleans) / sizeof(cleans[0]); i++) {
        char *p = ws_path_clean(cleans[i].in), *q;

        ASSERT(p != NULL);
        if (strcmp(p, cleans[i].want) != 0)
            CHECK_FAIL("clean(\"%s\") = \"%s\", want \"%s\"", cleans[i].in,
                       p, cleans[i].want);
        q = ws_path_clean(p);
        ASSERT(q != NULL);
        if (strcmp(q, p) != 0)
            CHECK_FAIL("clean(\"%s\") = \"%s\": not clean already", p, q);
        free(p);
        free(q);
    }
}

/* A relative path is joined to the working directory, then cleaned;
 * ".." never climbs above the root. */
TEST(abs)
{
    char dir[] = "/tmp/ws-path-XXXXXX", *p, want[64];

    ASSERT(ws_path_abs(NULL) == NULL);
    p = ws_path_abs("/a//b/../c/");
    ASSERT_STR_EQ(p, "/a/c");
    free(p);
    ASSERT(mkdtemp(dir) != NULL);
    ASSERT_EQ(chdir(dir), 0);
    p = ws_path_abs("");
    ASSERT_STR_EQ(p, dir);
    free(p);
    p = ws_path_abs("x/../y//z/");
    snprintf(want, sizeof(want), "%s/y/z", dir);
    ASSERT_STR_EQ(p, want);
    free(p);
    p = ws_path_abs("../../../../../../../..");
    ASSERT_STR_EQ(p, "/");
    free(p);
    ASSERT_EQ(rmdir(dir), 0);
}

/* "~" and "~/..." are $HOME; "~user" and a '~' further on are names. */
TEST(expand)
{
    struct ws_err err = {0};
    char *p = NULL;

    ASSERT_EQ(setenv("HOME", "/home/u//", 1), 0);
    ASSERT_EQ(ws_path_expand("~", &p, &err), WS_OK);
    ASSERT_STR_EQ(p, "/home/u");
    free(p);
    ASSERT_EQ(ws_path_expand("~/a/../b", &p, &err), WS_OK);
    ASSERT_STR_EQ(p, "/home/u/b");
    free(p);
    ASSERT_EQ(ws_path_expand("/x/~/y", &p, &err), WS_OK);
    ASSERT_STR_EQ(p, "/x/~/y");
    free(p);
    ASSERT_EQ(chdir("/"), 0);
    ASSERT_EQ(ws_path_expand("~other/y", &p, &err), WS_OK);
    ASSERT_STR_EQ(p, "/~other/y");
    free(p);
    /* No $HOME: the password database's home directory, which root and
     * every user running the tests has. */
    ASSERT_EQ(unsetenv("HOME"), 0);
    ASSERT_EQ(ws_path_expand("~/z", &p, &err), WS_OK);
    ASSERT(p[0] == '/');
    ASSERT_STR_CONTAINS(p, "/z");
    free(p);
}

#define LIST(X)                                                             \
    X(clean)                                                                \
    X(abs)                                                                  \
    X(expand)

TEST_MAIN("path", LIST)
