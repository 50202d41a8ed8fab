/*
 * test_fuzz.c: every fuzz target (tests/fuzz/fuzz_*.c) replays its
 * committed inputs, with the normal compiler and no libFuzzer, so that
 * `make test` checks them too: the seeds made from real replica objects
 * (tests/fuzz/corpus/<name>/) and every input that once broke a target
 * (tests/fuzz/regress/<name>/).  A target aborts on a broken invariant,
 * which fails its case here; a target without seeds fails too.
 *
 * The inputs are found from this file's path as the compiler saw it
 * (relative to the directory make runs in), or under $WS_FUZZ_DIR.
 */
#define WS_FUZZ_REPLAY 1

#include "../fuzz/fuzz_clock.c"
#include "../fuzz/fuzz_config.c"
#include "../fuzz/fuzz_lz4.c"
#include "../fuzz/fuzz_names.c"
#include "../fuzz/fuzz_s3xml.c"
#include "../fuzz/fuzz_times.c"
#include "../fuzz/fuzz_wal.c"

#include <dirent.h>
#include <sys/stat.h>

#include "check.h"

/* tests/fuzz/, from $WS_FUZZ_DIR or __FILE__ ("tests/unit/test_fuzz.c"). */
static void fuzz_dir(char *buf, size_t n)
{
    const char *env = getenv("WS_FUZZ_DIR");
    const char *f = __FILE__, *slash;
    size_t len;

    if (env != NULL && *env != '\0') {
        snprintf(buf, n, "%s", env);
        return;
    }
    slash = strrchr(f, '/');
    len = slash ? (size_t)(slash - f) : 0; /* "tests/unit" */
    while (len > 0 && f[len - 1] != '/')
        len--; /* "tests/" */
    snprintf(buf, n, "%.*sfuzz", (int)len, f);
}

/* Run fn over every file in DIR/kind/name; returns how many. */
static int replay_dir(const char *kind, const char *name,
                      int (*fn)(const uint8_t *, size_t))
{
    char dir[4096], path[8192];
    struct dirent *de;
    int n = 0;
    DIR *d;

    fuzz_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/%s/%s", dir, kind, name);
    d = opendir(path);
    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        uint8_t *b;
        FILE *fp;
        char file[8448];

        snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
        if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        b = malloc((size_t)st.st_size + 1);
        fp = fopen(file, "rb");
        ASSERT(b != NULL && fp != NULL);
        ASSERT_EQ(fread(b, 1, (size_t)st.st_size, fp), st.st_size);
        fclose(fp);
        fprintf(stderr, "  %s/%s/%s\n", kind, name, de->d_name);
        fn(b, (size_t)st.st_size);
        free(b);
        n++;
    }
    closedir(d);
    return n;
}

static void replay(const char *name, int (*fn)(const uint8_t *, size_t))
{
    int seeds = replay_dir("corpus", name, fn);
    int regress = replay_dir("regress", name, fn);

    printf("  %s: %d seeds, %d regression inputs\n", name, seeds, regress);
    if (seeds == 0)
        CHECK_FAIL("no seed inputs for %s (tests/fuzz/seeds.sh)", name);
}

TEST(wal)
{
    replay("wal", ws_fuzz_wal);
}
TEST(lz4)
{
    replay("lz4", ws_fuzz_lz4);
}
TEST(s3xml)
{
    replay("s3xml", ws_fuzz_s3xml);
}
TEST(names)
{
    replay("names", ws_fuzz_names);
}
TEST(times)
{
    replay("times", ws_fuzz_times);
}
TEST(clock)
{
    replay("clock", ws_fuzz_clock);
}

TEST(config)
{
    int argc = 0;
    char **argv = NULL;

    ws_fuzz_init_config(&argc, &argv);
    replay("config", ws_fuzz_config);
}

#define LIST(X)                                                                \
    X(wal)                                                                     \
    X(lz4)                                                                     \
    X(s3xml)                                                                   \
    X(names)                                                                   \
    X(times)                                                                   \
    X(clock)                                                                   \
    X(config)

TEST_MAIN("fuzz", LIST)
