/*
 * fuzz.h: what every fuzz target in tests/fuzz/ shares.
 *
 * A target is one file, fuzz_<name>.c, that parses one kind of input
 * someone else may have written (a replica object, an S3 response, a
 * config file, a name, a time) and checks what the parser promises, not
 * only that it does not crash: a decoded frame encodes back to the same
 * bytes, a key that parses formats back to itself, a stream fed in
 * pieces gives what it gives whole, an error is one line with the code
 * the function returned.  A broken promise is FUZZ_CHECK: a message on
 * stderr and abort(), which libFuzzer reports as a crash and saves.
 *
 * The same file builds two ways:
 *   - with clang -fsanitize=fuzzer (make fuzz), FUZZ_ENTRY(name) is
 *     LLVMFuzzerTestOneInput and FUZZ_INIT(name) LLVMFuzzerInitialize;
 *   - with WS_FUZZ_REPLAY defined (tests/unit/test_fuzz.c, which includes
 *     every target into one program built by `make all` with the normal
 *     compiler), they are ws_fuzz_<name> and ws_fuzz_init_<name>, and the
 *     unit test replays each committed input (tests/fuzz/corpus/<name>/
 *     and tests/fuzz/regress/<name>/) through them.  So every file-local
 *     name in a target carries the target's name as a prefix.
 *
 * Inputs are bytes; the first few usually select a mode and where the
 * stream is cut into pieces (fuzz_pieces), the rest is the document.
 */
#ifndef WS_FUZZ_H
#define WS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws/err.h"
#include "ws/layout.h"

#ifdef WS_FUZZ_REPLAY
#define FUZZ_FN(name) ws_fuzz_##name
#define FUZZ_INIT_FN(name) ws_fuzz_init_##name
#else
#define FUZZ_FN(name) LLVMFuzzerTestOneInput
#define FUZZ_INIT_FN(name) LLVMFuzzerInitialize
#endif

/* int FUZZ_ENTRY(name) { ... return 0; } over (data, size). */
#define FUZZ_ENTRY(name)                                                       \
    FUZZ_FN(name)(const uint8_t *data, size_t size);                           \
    int FUZZ_FN(name)(const uint8_t *data, size_t size)

/* int FUZZ_INIT(name) { ... return 0; }: once, before the first input. */
#define FUZZ_INIT(name)                                                        \
    FUZZ_INIT_FN(name)(int *argc, char ***argv);                               \
    int FUZZ_INIT_FN(name)(int *argc, char ***argv)

#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__,         \
                    __LINE__, #cond);                                          \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* A failed call's err: the code it returned and one non-empty line. */
static inline void fuzz_check_err(int rc, const struct ws_err *err,
                                  const char *what)
{
    size_t n = strnlen(err->msg, sizeof(err->msg));

    FUZZ_CHECK(rc > 0 && rc < WS__MAX, "%s: rc %d", what, rc);
    FUZZ_CHECK(err->code == rc, "%s: err->code %d, rc %d", what, err->code, rc);
    FUZZ_CHECK(n > 0 && n < sizeof(err->msg), "%s: message length %zu", what,
               n);
    FUZZ_CHECK(memchr(err->msg, '\n', n) == NULL, "%s: two lines: %s", what,
               err->msg);
}

/*
 * Where to cut a stream of n bytes into pieces, from one seed byte: piece
 * k has fuzz_piece(seed, k) bytes (at least 1).  Seed 0 means one piece.
 * Small pieces on purpose: every state of a push parser meets a boundary.
 */
static inline size_t fuzz_piece(uint8_t seed, size_t k)
{
    uint32_t x = (uint32_t)seed * 2654435761u + (uint32_t)k * 40503u;

    if (seed == 0)
        return SIZE_MAX;
    x ^= x >> 13;
    return 1 + x % (1u + (seed & 0x3f) * 3u);
}

/* A malloc'd NUL-terminated copy of data[0..n), or abort(). */
static inline char *fuzz_str(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);

    if (s == NULL)
        abort();
    memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/* A growable byte buffer, and a ws_sink_fn that appends to it; bounded
 * by cap (0: 64 MiB), past which it fails with WS_ECORRUPT. */
struct fuzz_buf {
    uint8_t *p;
    size_t n, alloc, cap;
};

static inline int fuzz_buf_sink(void *ctx, const void *buf, size_t len,
                                struct ws_err *err)
{
    struct fuzz_buf *b = ctx;
    size_t cap = b->cap ? b->cap : (size_t)64 << 20;

    if (len > cap - b->n)
        return ws_err_set(err, WS_ECORRUPT, "fuzz: more than %zu bytes", cap);
    if (b->n + len > b->alloc) {
        size_t a = b->alloc ? b->alloc : 4096;
        uint8_t *p;
        while (a < b->n + len)
            a *= 2;
        p = realloc(b->p, a);
        if (p == NULL)
            abort();
        b->p = p;
        b->alloc = a;
    }
    if (len > 0)
        memcpy(b->p + b->n, buf, len);
    b->n += len;
    return WS_OK;
}

static inline void fuzz_buf_free(struct fuzz_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* How many of l's entries a catalog of it counts (as objects or as
 * "other"): all but the exact repeats (same key, size and time) of an
 * object, which it keeps once. */
static inline size_t fuzz_catalog_entries(const struct ws_objlist *l)
{
    size_t n = l->n;
    char gen[WS_GEN_LEN + 1];
    uint32_t index;
    uint64_t offset;

    for (size_t i = 0; i < l->n; i++) {
        const struct ws_obj *a = &l->v[i];
        if (ws_key_parse(a->key, gen, &index, &offset) == WS_OBJ_OTHER)
            continue;
        for (size_t j = 0; j < i; j++) {
            const struct ws_obj *b = &l->v[j];
            if (strcmp(a->key, b->key) == 0 && a->size == b->size &&
                a->mtime_ms == b->mtime_ms) {
                n--;
                break;
            }
        }
    }
    return n;
}

#endif
