/*
 * check.h: the unit-test harness (after libuv's test/task.h).
 *
 * A test file defines its cases with TEST(name) { ... } and lists them in
 * TESTS(X) for ws_test_main(), which runs each case in a forked child
 * with a time limit and prints "N passed, N failed".  The ASSERT_* macros
 * survive NDEBUG, print both operands, and end the child with status 1.
 */
#ifndef WS_CHECK_H
#define WS_CHECK_H

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK_FAIL(...)                                                     \
    do {                                                                    \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                     \
        fprintf(stderr, __VA_ARGS__);                                       \
        fputc('\n', stderr);                                                \
        exit(1);                                                            \
    } while (0)

#define ASSERT(c)                                                           \
    do {                                                                    \
        if (!(c))                                                           \
            CHECK_FAIL("assertion failed: %s", #c);                         \
    } while (0)

#define ASSERT_EQ(a, b)                                                     \
    do {                                                                    \
        int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                       \
        if (a_ != b_)                                                       \
            CHECK_FAIL("%s == %s: %" PRId64 " != %" PRId64, #a, #b, a_,     \
                       b_);                                                 \
    } while (0)

#define ASSERT_UEQ(a, b)                                                    \
    do {                                                                    \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                    \
        if (a_ != b_)                                                       \
            CHECK_FAIL("%s == %s: 0x%" PRIx64 " != 0x%" PRIx64, #a, #b,     \
                       a_, b_);                                             \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                 \
    do {                                                                    \
        const char *a_ = (a), *b_ = (b);                                    \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                \
            CHECK_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b,                \
                       a_ ? a_ : "(null)", b_ ? b_ : "(null)");             \
    } while (0)

#define ASSERT_STR_CONTAINS(hay, needle)                                    \
    do {                                                                    \
        const char *h_ = (hay), *n_ = (needle);                             \
        if (h_ == NULL || strstr(h_, n_) == NULL)                           \
            CHECK_FAIL("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", \
                       n_);                                                 \
    } while (0)

#define ASSERT_MEM_EQ(a, b, n)                                              \
    do {                                                                    \
        if (memcmp((a), (b), (n)) != 0)                                     \
            CHECK_FAIL("%s == %s: %zu bytes differ", #a, #b, (size_t)(n));  \
    } while (0)

/* Bytes gathered by check_collect, a sink (lz4f.h's ws_sink_fn) for the
 * objects a test makes; free p. */
struct check_buf {
    uint8_t *p;
    size_t n;
};

struct ws_err;

static inline int check_collect(void *ctx, const void *b, size_t len,
                                struct ws_err *err)
{
    struct check_buf *x = ctx;
    uint8_t *p = realloc(x->p, x->n + len);

    (void)err;
    if (p == NULL)
        return 1;
    memcpy(p + x->n, b, len);
    x->p = p;
    x->n += len;
    return 0;
}

#define TEST(name) static void test_##name(void)
#define TEST_ENTRY(name) {#name, test_##name},

struct ws_test {
    const char *name;
    void (*fn)(void);
};

/* The time limit of one case, in seconds: 30, or 300 when built with
 * AddressSanitizer (make check), which makes each allocation of a large
 * buffer (an mmap) several times slower: the exhaustive corruption cases
 * decode tens of thousands of frames; ThreadSanitizer (make tsan) slows
 * them as much. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WS_TEST_CASE_SECS 300
#else
#define WS_TEST_CASE_SECS 30
#endif

/* Run every case in its own child with that time limit; optional argv[1]
 * selects one case by name.  Returns the process exit status. */
static inline int ws_test_main(const char *suite, const struct ws_test *t,
                               size_t n, int argc, char **argv)
{
    int passed = 0, failed = 0;

    for (size_t i = 0; i < n; i++) {
        pid_t pid;
        int st;

        if (argc > 1 && strcmp(argv[1], t[i].name) != 0)
            continue;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            alarm(WS_TEST_CASE_SECS);
            t[i].fn();
            exit(0);
        }
        if (pid < 0 || waitpid(pid, &st, 0) < 0) {
            perror("fork");
            return 2;
        }
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            passed++;
            printf("ok   %s/%s\n", suite, t[i].name);
        } else {
            failed++;
            printf("FAIL %s/%s (%s %d)\n", suite, t[i].name,
                   WIFSIGNALED(st) ? "signal" : "status",
                   WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        }
    }
    printf("%s: %d passed, %d failed\n", suite, passed, failed);
    return failed ? 1 : 0;
}

#define TEST_MAIN(suite, LIST)                                              \
    int main(int argc, char **argv)                                         \
    {                                                                       \
        static const struct ws_test tests[] = {LIST(TEST_ENTRY)};           \
        return ws_test_main(suite, tests, sizeof(tests) / sizeof(tests[0]), \
                            argc, argv);                                    \
    }

#endif
