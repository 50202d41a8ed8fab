/*
 * test_lz4f.c: the LZ4 frame writer and reader.
 *
 * xxh32 against xxHash's own sanity vectors and against the content
 * checksums liblz4's frame API writes; the exact header Litestream
 * writes; round trips over block-boundary sizes fed in awkward pieces;
 * interoperability both ways with liblz4's frame API (used only here)
 * and with the lz4 CLI (which make deps installs: without it that case
 * fails); hand-built frames for the quirks (zero-length blocks,
 * skippable frames) and for each check the reader makes; and, after
 * curl's unit1650, every truncated prefix of valid frames, which must be
 * rejected, and every one-byte change (each byte to each other value),
 * which must be rejected or decode to exactly the original bytes.
 */
#include "ws/lz4f.h"

#include <lz4.h>
#include <lz4frame.h>

#include "check.h"

#define B WS_LZ4_BLOCK

/* ---- helpers ---- */

struct buf {
    uint8_t *p;
    size_t len, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        ASSERT(b->p != NULL);
    }
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put8(struct buf *b, uint8_t v)
{
    put(b, &v, 1);
}

static void put32le(struct buf *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        put8(b, (uint8_t)(v >> (8 * i)));
}

static uint32_t get32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static int buf_sink(void *ctx, const void *p, size_t n, struct ws_err *err)
{
    (void)err;
    ASSERT(n > 0);
    put(ctx, p, n);
    return WS_OK;
}

static uint32_t rng_state = 2463534242u;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* n bytes: random when !text, else words that LZ4 compresses well. */
static uint8_t *gen(size_t n, int text)
{
    static const char *const words[] = {"walship ", "litestream ", "wal ",
                                        "sqlite3 ", "frame ",      "page\n",
                                        "lz4 ",     "snapshot "};
    uint8_t *p = malloc(n + 1);
    size_t i = 0;

    ASSERT(p != NULL);
    while (i < n) {
        const char *w = words[rnd() % 8];

        for (; *w && i < n; w++)
            p[i++] = text ? (uint8_t)*w : (uint8_t)rnd();
    }
    return p;
}

/* Compress with our writer and nthreads threads of its own (0: the
 * single-threaded writer), writing `piece` bytes at a time (0 = all). */
static struct buf compress_mt(const uint8_t *in, size_t n, size_t piece,
                              int nthreads)
{
    struct buf out = {0};
    struct ws_err err = {0};
    struct ws_lz4w *w = nthreads ? ws_lz4w_new_mt(buf_sink, &out, nthreads)
                                 : ws_lz4w_new(buf_sink, &out);
    size_t off = 0;

    ASSERT(w != NULL);
    if (piece == 0)
        piece = n > 0 ? n : 1;
    do {
        size_t k = n - off < piece ? n - off : piece;

        ASSERT_EQ(ws_lz4w_write(w, in + off, k, &err), WS_OK);
        off += k;
    } while (off < n);
    ASSERT_EQ(ws_lz4w_finish(w, &err), WS_OK);
    ASSERT_UEQ(ws_lz4w_total_in(w), n);
    ASSERT_UEQ(ws_lz4w_total_out(w), out.len);
    ws_lz4w_free(w);
    return out;
}

static struct buf compress_pieces(const uint8_t *in, size_t n, size_t piece)
{
    return compress_mt(in, n, piece, 0);
}

/* Decode with our reader, fed `piece` bytes at a time (0 = all). */
static int decode(const uint8_t *in, size_t n, size_t piece, uint64_t max,
                  struct buf *out, struct ws_err *err)
{
    struct ws_lz4r *r = ws_lz4r_new(buf_sink, out, max);
    int rc = WS_OK;

    ASSERT(r != NULL);
    if (piece == 0)
        piece = n > 0 ? n : 1;
    for (size_t off = 0; rc == WS_OK && off < n; off += piece)
        rc = ws_lz4r_write(r, in + off, n - off < piece ? n - off : piece, err);
    if (rc == WS_OK)
        rc = ws_lz4r_finish(r, err);
    if (rc == WS_OK)
        ASSERT_UEQ(ws_lz4r_total_out(r), out->len);
    else
        ASSERT(strncmp(err->msg, "lz4: ", 5) == 0);
    ws_lz4r_free(r);
    return rc;
}

/* Decode must succeed and give exactly want[0..n). */
static void expect_decodes(const uint8_t *in, size_t len, size_t piece,
                           const uint8_t *want, size_t n)
{
    struct buf out = {0};
    struct ws_err err = {0};
    int rc = decode(in, len, piece, 0, &out, &err);

    if (rc != WS_OK)
        CHECK_FAIL("decode (piece %zu): %s", piece, err.msg);
    ASSERT_UEQ(out.len, n);
    if (n > 0)
        ASSERT_MEM_EQ(out.p, want, n);
    free(out.p);
}

/* Decode must fail with WS_ECORRUPT and a message containing `what`. */
static void expect_fails(const uint8_t *in, size_t len, const char *what)
{
    static const size_t pieces[] = {0, 1, 3};

    for (size_t i = 0; i < 3; i++) {
        struct buf out = {0};
        struct ws_err err = {0};

        ASSERT_EQ(decode(in, len, pieces[i], 0, &out, &err), WS_ECORRUPT);
        ASSERT_EQ(err.code, WS_ECORRUPT);
        if (what != NULL)
            ASSERT_STR_CONTAINS(err.msg, what);
        free(out.p);
    }
}

/* A frame header with the right HC for flg, bd (and csize if flagged). */
static void put_header(struct buf *b, uint8_t flg, uint8_t bd, uint64_t cs)
{
    size_t start;

    put32le(b, 0x184D2204u);
    start = b->len;
    put8(b, flg);
    put8(b, bd);
    if (flg & 0x08) {
        put32le(b, (uint32_t)cs);
        put32le(b, (uint32_t)(cs >> 32));
    }
    put8(b, (uint8_t)(ws_xxh32(b->p + start, b->len - start, 0) >> 8));
}

static void put_lz4_block(struct buf *b, const uint8_t *p, size_t n)
{
    char tmp[LZ4_COMPRESSBOUND(4096)];
    int k = LZ4_compress_default((const char *)p, tmp, (int)n, sizeof(tmp));

    ASSERT(k > 0);
    put32le(b, (uint32_t)k);
    put(b, tmp, (size_t)k);
}

static void put_raw_block(struct buf *b, const uint8_t *p, size_t n)
{
    put32le(b, (uint32_t)n | 0x80000000u);
    put(b, p, n);
}

static void put_skippable(struct buf *b, uint32_t magic, uint32_t n)
{
    put32le(b, magic);
    put32le(b, n);
    for (uint32_t i = 0; i < n; i++)
        put8(b, (uint8_t)(0xA0 + i));
}

/* A hand-built frame of one LZ4 block, Litestream's header. */
static struct buf small_frame(const uint8_t *data, size_t n)
{
    struct buf b = {0};

    put_header(&b, 0x64, 0x70, 0);
    put_lz4_block(&b, data, n);
    put32le(&b, 0);
    put32le(&b, ws_xxh32(data, n, 0));
    return b;
}

/* LZ4F_compressFrame with the given preferences. */
static struct buf lz4f_compress(const uint8_t *in, size_t n,
                                const LZ4F_preferences_t *prefs)
{
    struct buf b = {0};
    size_t cap = LZ4F_compressFrameBound(n, prefs), k;

    b.p = malloc(cap);
    ASSERT(b.p != NULL);
    k = LZ4F_compressFrame(b.p, cap, in, n, prefs);
    if (LZ4F_isError(k))
        CHECK_FAIL("LZ4F_compressFrame: %s", LZ4F_getErrorName(k));
    b.len = b.cap = k;
    return b;
}

/* LZ4F_decompress of a whole frame; the frame must be complete. */
static struct buf lz4f_decompress(const uint8_t *in, size_t n)
{
    static uint8_t tmp[65536];
    struct buf out = {0};
    LZ4F_dctx *d;
    size_t pos = 0, hint;

    ASSERT(!LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)));
    for (;;) {
        size_t src = n - pos, dst = sizeof(tmp);

        hint = LZ4F_decompress(d, tmp, &dst, in + pos, &src, NULL);
        if (LZ4F_isError(hint))
            CHECK_FAIL("LZ4F_decompress: %s", LZ4F_getErrorName(hint));
        put(&out, tmp, dst);
        pos += src;
        if (hint == 0)
            break;
        if (src == 0 && dst == 0)
            CHECK_FAIL("LZ4F_decompress: frame incomplete at %zu", pos);
    }
    ASSERT_UEQ(pos, n);
    LZ4F_freeDecompressionContext(d);
    return out;
}

static const size_t sizes[] = {0, 1, 100, B - 1, B, B + 1, 3 * B + 7};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* ---- xxh32 ---- */

TEST(xxh32_vectors)
{
    /* xxHash's sanity buffer and vectors (cli/xsum_sanity_check.c). */
    static const struct {
        size_t len;
        uint32_t seed, want;
    } v[] = {
        {0, 0, 0x02CC5D05},    {0, 0x9E3779B1, 0x36B78AE7},
        {1, 0, 0xCF65B03E},    {1, 0x9E3779B1, 0xB4545AA4},
        {4, 0, 0xA9DE7CE9},    {4, 0x9E3779B1, 0x2BAAFE83},
        {14, 0, 0x1208E7E2},   {14, 0x9E3779B1, 0x6AF1D1FE},
        {16, 0, 0x93BA3759},   {16, 0x9E3779B1, 0xA94FC1E1},
        {17, 0, 0x89FDC23E},   {17, 0x9E3779B1, 0xC9910739},
        {32, 0, 0xD89829EC},   {32, 0x9E3779B1, 0xA5C44467},
        {222, 0, 0x5BD11DBD},  {222, 0x9E3779B1, 0x58803C5F},
        {2367, 0, 0x4C8A9773}, {2367, 0x9E3779B1, 0x6D5366F6},
    };
    static uint8_t sb[2367];
    uint64_t gen64 = 2654435761u;

    for (size_t i = 0; i < sizeof(sb); i++) {
        sb[i] = (uint8_t)(gen64 >> 56);
        gen64 *= 11400714785074694797ull;
    }
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        ASSERT_UEQ(ws_xxh32(sb, v[i].len, v[i].seed), v[i].want);
    ASSERT_UEQ(ws_xxh32(NULL, 0, 0), 0x02CC5D05);
    ASSERT_UEQ(ws_xxh32("\x2a", 1, 0), 0xE0FE705F);
    ASSERT_UEQ(ws_xxh32("Hello, world!", 14, 0), 0x9E5E7E93);
    /* FLG 0x64, BD 0x70 -> HC 0xB9 (Litestream's frame header). */
    ASSERT_UEQ((ws_xxh32("\x64\x70", 2, 0) >> 8) & 0xFF, 0xB9);
}

TEST(xxh32_matches_lz4f_content_checksum)
{
    LZ4F_preferences_t prefs = {0};
    size_t lens[300 + 4];
    uint8_t *data = gen(3 * B + 7, 0);

    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    for (size_t i = 0; i < 300; i++)
        lens[i] = i;
    lens[300] = 4096;
    lens[301] = B - 1;
    lens[302] = B + 13;
    lens[303] = 3 * B + 7;
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        struct buf f = lz4f_compress(data, lens[i], &prefs);

        ASSERT_UEQ(get32le(f.p + f.len - 4), ws_xxh32(data, lens[i], 0));
        /* The header checksum byte of LZ4F's descriptor, too. */
        ASSERT_UEQ(f.p[6], (ws_xxh32(f.p + 4, 2, 0) >> 8) & 0xFF);
        free(f.p);
    }
    free(data);
}

/* ---- writer ---- */

TEST(header_bytes)
{
    static const uint8_t empty[] = {0x04, 0x22, 0x4d, 0x18, 0x64, 0x70, 0xb9, 0,
                                    0,    0,    0,    0x05, 0x5d, 0xcc, 0x02};
    struct buf f = compress_pieces(NULL, 0, 0);
    uint8_t *data = gen(100, 1);

    ASSERT_UEQ(f.len, sizeof(empty));
    ASSERT_MEM_EQ(f.p, empty, sizeof(empty));
    free(f.p);
    f = compress_pieces(data, 100, 0);
    ASSERT_MEM_EQ(f.p, "\x04\x22\x4d\x18\x64\x70\xb9", 7);
    free(f.p);
    free(data);
}

/* Walk our writer's frame: block sizes, raw bits, end mark, checksum.
 * Random data never shrinks; text does once a block has 4 KiB. */
static void check_structure(const struct buf *f, const uint8_t *data, size_t n,
                            int text)
{
    static char tmp[B];
    size_t pos = 7, done = 0;

    for (;;) {
        uint32_t v = get32le(f->p + pos), sz = v & 0x7FFFFFFF;
        int k;

        pos += 4;
        if (v == 0)
            break;
        if (!text || n - done >= 4096)
            ASSERT_EQ(v >> 31, !text);
        ASSERT(sz > 0 && sz <= B);
        if (v >> 31) {
            k = (int)sz;
            memcpy(tmp, f->p + pos, sz);
        } else {
            k = LZ4_decompress_safe((const char *)f->p + pos, tmp, (int)sz, B);
            ASSERT(k > (int)sz);
        }
        /* Every block but the last is full. */
        ASSERT_UEQ(k, n - done < B ? n - done : B);
        ASSERT_MEM_EQ(tmp, data + done, (size_t)k);
        done += (size_t)k;
        pos += sz;
    }
    ASSERT_UEQ(done, n);
    ASSERT_UEQ(pos + 4, f->len);
    ASSERT_UEQ(get32le(f->p + pos), ws_xxh32(data, n, 0));
}

TEST(writer_blocks)
{
    for (int text = 0; text <= 1; text++) {
        for (size_t i = 0; i < NSIZES; i++) {
            uint8_t *data = gen(sizes[i], text);
            struct buf f = compress_pieces(data, sizes[i], 0);
            struct buf g = compress_pieces(data, sizes[i], 1);
            struct buf h = compress_pieces(data, sizes[i], 4099);

            check_structure(&f, data, sizes[i], text);
            /* Output does not depend on how input was split. */
            ASSERT_UEQ(g.len, f.len);
            ASSERT_MEM_EQ(g.p, f.p, f.len);
            ASSERT_UEQ(h.len, f.len);
            ASSERT_MEM_EQ(h.p, f.p, f.len);
            free(f.p);
            free(g.p);
            free(h.p);
            free(data);
        }
    }
}

static int fail_sink(void *ctx, const void *p, size_t n, struct ws_err *err)
{
    int *calls = ctx;

    (void)p;
    (void)n;
    if (--*calls > 0)
        return WS_OK;
    return ws_err_set(err, WS_EIO, "sink: disk full");
}

TEST(sink_errors_propagate)
{
    uint8_t *data = gen(2 * B, 1);
    struct ws_err err = {0};
    int calls = 2; /* header ok, first block fails */
    struct ws_lz4w *w = ws_lz4w_new(fail_sink, &calls);
    struct ws_lz4r *r;
    uint8_t *out = (uint8_t *)"untouched";
    size_t outlen = 7;
    struct buf f;

    ASSERT_EQ(ws_lz4w_write(w, data, 2 * B, &err), WS_EIO);
    ASSERT_STR_EQ(err.msg, "sink: disk full");
    ASSERT_EQ(ws_lz4w_finish(w, &err), WS_EIO); /* sticky */
    ASSERT_UEQ(ws_lz4w_total_out(w), 7);
    ws_lz4w_free(w);

    f = compress_pieces(data, 2 * B, 0);
    calls = 1;
    r = ws_lz4r_new(fail_sink, &calls, 0);
    ASSERT_EQ(ws_lz4r_write(r, f.p, f.len, &err), WS_EIO);
    ASSERT_EQ(ws_lz4r_write(r, f.p, 1, &err), WS_EIO); /* sticky */
    ASSERT_EQ(ws_lz4r_finish(r, &err), WS_EIO);
    ws_lz4r_free(r);

    /* One-shot helpers leave outputs alone on failure. */
    ASSERT_EQ(ws_lz4_decompress_mem(f.p, f.len - 1, 0, &out, &outlen, &err),
              WS_ECORRUPT);
    ASSERT_STR_EQ((char *)out, "untouched");
    ASSERT_UEQ(outlen, 7);
    free(f.p);
    free(data);
}

/* Blocks compressed on several threads come out in order, the same bytes
 * as from one thread, however the input is split. */
TEST(writer_threads_same_bytes)
{
    static const size_t more[] = {0, 1, B - 1, B, 3 * B + 7, 29 * B + 5};
    static const int threads[] = {1, 2, 3, -1};
    static const size_t pieces[] = {0, 4099, B + 1};

    for (int text = 0; text <= 1; text++) {
        for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
            uint8_t *data = gen(more[i], text);
            struct buf f = compress_pieces(data, more[i], 0);

            for (size_t t = 0; t < sizeof(threads) / sizeof(threads[0]); t++)
                for (size_t k = 0; k < 3; k++) {
                    struct buf g = compress_mt(data, more[i], pieces[k],
                                               threads[t]);
                    if (g.len != f.len || memcmp(g.p, f.p, f.len) != 0)
                        CHECK_FAIL("%zu bytes, %d threads, pieces of %zu: "
                                   "output differs", more[i], threads[t],
                                   pieces[k]);
                    free(g.p);
                }
            expect_decodes(f.p, f.len, 0, data, more[i]);
            free(f.p);
            free(data);
        }
    }
}

/* A sink failure with blocks still being compressed: the error comes
 * back, stays, and free() stops the threads; so does a free() without
 * finish. */
TEST(writer_threads_sink_error)
{
    uint8_t *data = gen(40 * B, 0);
    struct ws_err err = {0};
    struct buf out = {0};

    for (int calls0 = 1; calls0 <= 12; calls0++) {
        int calls = calls0;
        struct ws_lz4w *w = ws_lz4w_new_mt(fail_sink, &calls, 3);
        int rc;
        ASSERT(w != NULL);
        rc = ws_lz4w_write(w, data, 40 * B, &err);
        if (rc == WS_OK)
            rc = ws_lz4w_finish(w, &err);
        ASSERT_EQ(rc, WS_EIO);
        ASSERT_STR_EQ(err.msg, "sink: disk full");
        ASSERT_EQ(ws_lz4w_finish(w, &err), WS_EIO);
        ws_lz4w_free(w);
    }
    for (size_t n = 0; n <= 9 * B; n += 3 * B) {
        struct ws_lz4w *w = ws_lz4w_new_mt(buf_sink, &out, 2);
        ASSERT_EQ(ws_lz4w_write(w, data, n, &err), WS_OK);
        ws_lz4w_free(w);
    }
    free(out.p);
    free(data);
}

TEST(misuse_after_finish)
{
    struct buf out = {0};
    struct ws_err err = {0};
    struct ws_lz4w *w = ws_lz4w_new(buf_sink, &out);
    struct ws_lz4r *r;

    ASSERT_EQ(ws_lz4w_finish(w, &err), WS_OK);
    ASSERT_EQ(ws_lz4w_write(w, "x", 1, &err), WS_EUSAGE);
    ASSERT_EQ(ws_lz4w_finish(w, &err), WS_EUSAGE);
    ws_lz4w_free(w);
    r = ws_lz4r_new(buf_sink, &out, 0);
    ASSERT_EQ(ws_lz4r_write(r, out.p, out.len, &err), WS_OK);
    ASSERT_EQ(ws_lz4r_finish(r, &err), WS_OK);
    ASSERT_EQ(ws_lz4r_write(r, "x", 1, &err), WS_EUSAGE);
    ws_lz4r_free(r);
    ws_lz4w_free(NULL);
    ws_lz4r_free(NULL);
    free(out.p);
}

/* ---- round trips ---- */

static void roundtrip(int text)
{
    static const size_t pieces[] = {1, 7, 4096, 0};

    for (size_t i = 0; i < NSIZES; i++) {
        uint8_t *data = gen(sizes[i], text), *out = NULL;
        struct buf f = compress_pieces(data, sizes[i], 0);
        struct ws_err err = {0};
        uint8_t *c;
        size_t clen, olen;

        for (size_t j = 0; j < 4; j++)
            expect_decodes(f.p, f.len, pieces[j], data, sizes[i]);
        /* The one-shot helpers agree with the streaming calls. */
        ASSERT_EQ(ws_lz4_compress_mem(data, sizes[i], &c, &clen, &err), WS_OK);
        ASSERT_UEQ(clen, f.len);
        ASSERT_MEM_EQ(c, f.p, clen);
        ASSERT_EQ(ws_lz4_decompress_mem(c, clen, 0, &out, &olen, &err), WS_OK);
        ASSERT(out != NULL);
        ASSERT_UEQ(olen, sizes[i]);
        ASSERT_MEM_EQ(out, data, olen);
        free(out);
        free(c);
        free(f.p);
        free(data);
    }
}

TEST(roundtrip_compressible)
{
    roundtrip(1);
}

TEST(roundtrip_random)
{
    roundtrip(0);
}

/* ---- interoperability with liblz4's frame API ---- */

TEST(lz4f_decodes_ours)
{
    for (int text = 0; text <= 1; text++) {
        for (size_t i = 0; i < NSIZES; i++) {
            uint8_t *data = gen(sizes[i], text);
            struct buf f = compress_pieces(data, sizes[i], 0);
            struct buf out = lz4f_decompress(f.p, f.len);

            ASSERT_UEQ(out.len, sizes[i]);
            if (sizes[i] > 0)
                ASSERT_MEM_EQ(out.p, data, sizes[i]);
            free(out.p);
            free(f.p);
            free(data);
        }
    }
}

TEST(ours_decodes_lz4f)
{
    static const struct {
        LZ4F_blockSizeID_t bs;
        LZ4F_blockMode_t mode;
        int bchk, cchk, csize;
    } cfg[] = {
        {LZ4F_max4MB, LZ4F_blockIndependent, 0, 1, 0}, /* Litestream's */
        {LZ4F_max4MB, LZ4F_blockIndependent, 1, 1, 1},
        {LZ4F_max64KB, LZ4F_blockIndependent, 1, 1, 1},
        {LZ4F_max256KB, LZ4F_blockIndependent, 0, 0, 1},
        {LZ4F_max1MB, LZ4F_blockIndependent, 1, 0, 0},
        {LZ4F_default, LZ4F_blockLinked, 0, 0, 0}, /* LZ4F's defaults */
        {LZ4F_max64KB, LZ4F_blockLinked, 1, 1, 1},
        {LZ4F_max256KB, LZ4F_blockLinked, 0, 1, 0},
    };

    for (size_t c = 0; c < sizeof(cfg) / sizeof(cfg[0]); c++) {
        LZ4F_preferences_t prefs = {0};

        prefs.frameInfo.blockSizeID = cfg[c].bs;
        prefs.frameInfo.blockMode = cfg[c].mode;
        prefs.frameInfo.blockChecksumFlag = cfg[c].bchk;
        prefs.frameInfo.contentChecksumFlag = cfg[c].cchk;
        for (int text = 0; text <= 1; text++) {
            for (size_t i = 0; i < NSIZES; i++) {
                uint8_t *data = gen(sizes[i], text);
                struct buf f;

                prefs.frameInfo.contentSize = cfg[c].csize ? sizes[i] : 0;
                f = lz4f_compress(data, sizes[i], &prefs);
                if (!cfg[c].cchk) {
                    /* Nothing would prove the bytes: refused. */
                    expect_fails(f.p, f.len, "no content checksum");
                    free(f.p);
                    free(data);
                    continue;
                }
                expect_decodes(f.p, f.len, 0, data, sizes[i]);
                expect_decodes(f.p, f.len, 4096, data, sizes[i]);
                if (sizes[i] <= B + 1)
                    expect_decodes(f.p, f.len, 7, data, sizes[i]);
                free(f.p);
                free(data);
            }
        }
    }
}

/* Linked blocks smaller than the 64 KiB window (LZ4F streaming with
 * autoFlush), over data that repeats a random 20000-byte pattern: the
 * first block is stored raw, later ones refer back across more than one
 * earlier block, raw and compressed.  (With much smaller blocks LZ4F
 * stores every block raw, so the sizes here are deliberate.) */
TEST(ours_decodes_lz4f_linked_small_blocks)
{
    size_t n = 300 * 1000, cap = 2 * n + 65536, pos, off = 0, k;
    uint8_t *data = gen(n, 0);
    LZ4F_preferences_t prefs = {0};
    LZ4F_cctx *c;
    struct buf f = {malloc(cap), 0, cap};

    ASSERT(f.p != NULL);
    for (size_t i = 20000; i < n; i++)
        data[i] = data[i - 20000];
    prefs.frameInfo.blockMode = LZ4F_blockLinked;
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    prefs.autoFlush = 1;
    ASSERT(!LZ4F_isError(LZ4F_createCompressionContext(&c, LZ4F_VERSION)));
    pos = LZ4F_compressBegin(c, f.p, cap, &prefs);
    ASSERT(!LZ4F_isError(pos));
    while (off < n) {
        size_t len = 12000 + rnd() % 6000;

        if (len > n - off)
            len = n - off;
        k = LZ4F_compressUpdate(c, f.p + pos, cap - pos, data + off, len, NULL);
        ASSERT(!LZ4F_isError(k));
        pos += k;
        off += len;
    }
    k = LZ4F_compressEnd(c, f.p + pos, cap - pos, NULL);
    ASSERT(!LZ4F_isError(k));
    f.len = pos + k;
    ASSERT_UEQ(f.p[4] & 0x20, 0); /* linked */
    ASSERT(f.len < n / 2);        /* blocks did refer back */
    LZ4F_freeCompressionContext(c);
    expect_decodes(f.p, f.len, 0, data, n);
    expect_decodes(f.p, f.len, 1000, data, n);
    free(f.p);
    free(data);
}

/* The same by hand with LZ4_compress_fast_continue over contiguous input,
 * whose matches reach back up to 64 KiB, across dozens of blocks. */
TEST(linked_blocks_reach_back_64k)
{
    size_t n = 400 * 1000, off = 0, nraw = 0, nlz4 = 0;
    uint8_t *data = gen(n, 0);
    static char tmp[LZ4_COMPRESSBOUND(4000)];
    LZ4_stream_t *st = LZ4_createStream();
    struct buf f = {0};

    for (size_t i = 50000; i < n; i++)
        data[i] = data[i - 50000];
    put_header(&f, 0x44, 0x40, 0);
    while (off < n) {
        size_t len = 1000 + rnd() % 3000;
        int k;

        if (len > n - off)
            len = n - off;
        k = LZ4_compress_fast_continue(st, (const char *)data + off, tmp,
                                       (int)len, sizeof(tmp), 1);
        ASSERT(k > 0);
        if ((size_t)k < len) {
            put32le(&f, (uint32_t)k);
            put(&f, tmp, (size_t)k);
            nlz4++;
        } else {
            put_raw_block(&f, data + off, len);
            nraw++;
        }
        off += len;
    }
    put32le(&f, 0);
    put32le(&f, ws_xxh32(data, n, 0));
    LZ4_freeStream(st);
    ASSERT(nraw > 10 && nlz4 > 100);
    expect_decodes(f.p, f.len, 0, data, n);
    expect_decodes(f.p, f.len, 777, data, n);
    free(lz4f_decompress(f.p, f.len).p); /* liblz4 agrees */
    free(f.p);
    free(data);
}

/* Copy a file's bytes into a buf. */
static struct buf slurp(const char *path)
{
    struct buf b = {0};
    char tmp[65536];
    FILE *fp = fopen(path, "rb");
    size_t n;

    ASSERT(fp != NULL);
    while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
        put(&b, tmp, n);
    fclose(fp);
    return b;
}

static void spit(const char *path, const uint8_t *p, size_t n)
{
    FILE *fp = fopen(path, "wb");

    ASSERT(fp != NULL);
    ASSERT_UEQ(fwrite(p, 1, n, fp), n);
    ASSERT_EQ(fclose(fp), 0);
}

TEST(lz4_cli)
{
    static const char *const opts[] = {"-B7 -BX --content-size", "-B4 -BD",
                                       "-B7", "-B5 -BX --no-frame-crc"};
    char dir[] = "/tmp/test_lz4f.XXXXXX", cmd[512], a[128], b[128];
    uint8_t *data = gen(3 * B + 7, 1);
    struct buf f, out;
    struct ws_err err = {0};

    /* make deps installs it: without it this case fails, never passes. */
    if (access("/usr/bin/lz4", X_OK) != 0)
        CHECK_FAIL("/usr/bin/lz4 is missing (make deps installs it)");
    ASSERT(mkdtemp(dir) != NULL);
    snprintf(a, sizeof(a), "%s/in", dir);
    snprintf(b, sizeof(b), "%s/out", dir);
    /* lz4 -d reads what we write. */
    ASSERT_EQ(ws_lz4_compress_mem(data, 3 * B + 7, &f.p, &f.len, &err), WS_OK);
    spit(a, f.p, f.len);
    free(f.p);
    snprintf(cmd, sizeof(cmd), "/usr/bin/lz4 -q -d -c %s > %s", a, b);
    ASSERT_EQ(system(cmd), 0);
    out = slurp(b);
    ASSERT_UEQ(out.len, 3 * B + 7);
    ASSERT_MEM_EQ(out.p, data, out.len);
    free(out.p);
    /* We read what lz4 writes. */
    spit(a, data, 3 * B + 7);
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        snprintf(cmd, sizeof(cmd), "/usr/bin/lz4 -q -c %s %s > %s", opts[i], a,
                 b);
        ASSERT_EQ(system(cmd), 0);
        f = slurp(b);
        if (strstr(opts[i], "--no-frame-crc"))
            expect_fails(f.p, f.len, "no content checksum");
        else
            expect_decodes(f.p, f.len, 4096, data, 3 * B + 7);
        free(f.p);
    }
    remove(a);
    remove(b);
    rmdir(dir);
    free(data);
}

/* ---- quirks ---- */

TEST(zero_length_blocks)
{
    uint8_t *data = gen(300, 1);
    struct buf f = {0};

    /* Litestream's multiple-of-4-MiB snapshot: data, then 00 00 00 80. */
    put_header(&f, 0x64, 0x70, 0);
    put_lz4_block(&f, data, 300);
    put32le(&f, 0x80000000u);
    put32le(&f, 0);
    put32le(&f, ws_xxh32(data, 300, 0));
    for (size_t piece = 0; piece < 8; piece++)
        expect_decodes(f.p, f.len, piece, data, 300);
    /* ... with a raw block and the empty block in the middle, too. */
    f.len = 0;
    put_header(&f, 0x64, 0x70, 0);
    put_raw_block(&f, data, 100);
    put32le(&f, 0x80000000u);
    put32le(&f, 0x80000000u);
    put_lz4_block(&f, data + 100, 200);
    put32le(&f, 0);
    put32le(&f, ws_xxh32(data, 300, 0));
    expect_decodes(f.p, f.len, 1, data, 300);
    expect_decodes(f.p, f.len, 0, data, 300);
    /* An empty frame made of one empty raw block. */
    f.len = 0;
    put_header(&f, 0x64, 0x70, 0);
    put32le(&f, 0x80000000u);
    put32le(&f, 0);
    put32le(&f, ws_xxh32(NULL, 0, 0));
    expect_decodes(f.p, f.len, 1, NULL, 0);
    /* A compressed block that decodes to nothing (LZ4 of ""), with block
     * checksums and content size in the frame. */
    f.len = 0;
    put_header(&f, 0x7C, 0x40, 0);
    put32le(&f, 1);
    put8(&f, 0);
    put32le(&f, ws_xxh32("", 1, 0));
    put32le(&f, 0x80000000u);
    put32le(&f, ws_xxh32(NULL, 0, 0)); /* empty raw block's checksum */
    put32le(&f, 0);
    put32le(&f, ws_xxh32(NULL, 0, 0));
    expect_decodes(f.p, f.len, 1, NULL, 0);
    expect_decodes(f.p, f.len, 0, NULL, 0);
    free(f.p);
    free(data);
}

TEST(skippable_frames)
{
    uint8_t *data = gen(500, 1);
    struct buf core = compress_pieces(data, 500, 0), f = {0};

    put_skippable(&f, 0x184D2A50u, 5);
    put_skippable(&f, 0x184D2A5Fu, 0);
    put(&f, core.p, core.len);
    put_skippable(&f, 0x184D2A57u, 3);
    put_skippable(&f, 0x184D2A50u, 0);
    for (size_t piece = 0; piece < 10; piece++)
        expect_decodes(f.p, f.len, piece, data, 500);
    /* Only before, only after. */
    f.len = 0;
    put_skippable(&f, 0x184D2A5Au, 9);
    put(&f, core.p, core.len);
    expect_decodes(f.p, f.len, 1, data, 500);
    f.len = 0;
    put(&f, core.p, core.len);
    put_skippable(&f, 0x184D2A51u, 70000);
    expect_decodes(f.p, f.len, 4096, data, 500);
    free(core.p);
    free(f.p);
    free(data);
}

/* ---- rejections, one check at a time ---- */

TEST(stream_shape_rejected)
{
    uint8_t *data = gen(100, 1);
    struct buf core = compress_pieces(data, 100, 0), f = {0};

    expect_fails(NULL, 0, "no data frame");
    put_skippable(&f, 0x184D2A50u, 4);
    expect_fails(f.p, f.len, "no data frame");
    put(&f, core.p, core.len);
    put(&f, core.p, core.len);
    expect_fails(f.p, f.len, "second data frame");
    f.len = 0;
    put(&f, core.p, core.len);
    put8(&f, 0);
    expect_fails(f.p, f.len, "trailing garbage");
    put(&f, "\0\0\0", 3);
    expect_fails(f.p, f.len, "trailing garbage");
    expect_fails((const uint8_t *)"\x03\x21\x4c\x18", 4, "bad magic");
    /* Legacy frame magic is not accepted either. */
    expect_fails((const uint8_t *)"\x02\x21\x4c\x18\0\0\0\0", 8,
                 "bad magic 0x184c2102 at byte 0");
    f.len = 0;
    put_skippable(&f, 0x184D2A50u, 2);
    put32le(&f, 0xDEADBEEF);
    expect_fails(f.p, f.len, "bad magic 0xdeadbeef at byte 10");
    free(core.p);
    free(f.p);
    free(data);
}

TEST(header_checks)
{
    static const struct {
        uint8_t flg, bd;
        const char *what;
    } t[] = {
        {0x24, 0x70, "version"},       {0xA4, 0x70, "version"},
        {0xE4, 0x70, "version"},       {0x66, 0x70, "reserved FLG"},
        {0x65, 0x70, "dictionary"},    {0x64, 0xF0, "reserved BD"},
        {0x64, 0x71, "reserved BD"},   {0x64, 0x78, "reserved BD"},
        {0x64, 0x00, "block size ID"}, {0x64, 0x30, "block size ID"},
        {0x64, 0x10, "block size ID"},
    };
    struct buf f = {0};

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        f.len = 0;
        put_header(&f, t[i].flg, t[i].bd, 0);
        put32le(&f, 0);
        put32le(&f, ws_xxh32(NULL, 0, 0));
        expect_fails(f.p, f.len, t[i].what);
    }
    /* Wrong HC, and wrong HC over a content size. */
    f.len = 0;
    put_header(&f, 0x64, 0x70, 0);
    f.p[6] ^= 0x10;
    put32le(&f, 0);
    put32le(&f, ws_xxh32(NULL, 0, 0));
    expect_fails(f.p, f.len, "header checksum mismatch at byte 6");
    f.len = 0;
    put_header(&f, 0x6C, 0x70, 0);
    f.p[10] ^= 1;
    put32le(&f, 0);
    put32le(&f, ws_xxh32(NULL, 0, 0));
    expect_fails(f.p, f.len, "header checksum mismatch at byte 14");
    /* All four block sizes are accepted. */
    for (uint8_t bd = 0x40; bd <= 0x70; bd += 0x10) {
        f.len = 0;
        put_header(&f, 0x64, bd, 0);
        put32le(&f, 0);
        put32le(&f, ws_xxh32(NULL, 0, 0));
        expect_decodes(f.p, f.len, 0, NULL, 0);
    }
    free(f.p);
}

TEST(block_size_limit)
{
    uint8_t *data = gen(65537, 0);
    struct buf f = {0};

    /* A raw block of exactly the BD maximum is fine ... */
    put_header(&f, 0x64, 0x40, 0);
    put_raw_block(&f, data, 65536);
    put32le(&f, 0);
    put32le(&f, ws_xxh32(data, 65536, 0));
    expect_decodes(f.p, f.len, 0, data, 65536);
    /* ... one byte more is not, raw or compressed. */
    f.len = 0;
    put_header(&f, 0x64, 0x40, 0);
    put_raw_block(&f, data, 65537);
    put32le(&f, 0);
    put32le(&f, ws_xxh32(data, 65537, 0));
    expect_fails(f.p, f.len,
                 "block size 65537 exceeds maximum 65536 at "
                 "byte 7");
    f.len = 0;
    put_header(&f, 0x64, 0x70, 0);
    put32le(&f, 4 * 1024 * 1024 + 1);
    expect_fails(f.p, f.len, "exceeds maximum 4194304");
    f.len = 0;
    put_header(&f, 0x64, 0x70, 0);
    put32le(&f, 0xFFFFFFFFu);
    expect_fails(f.p, f.len, "exceeds maximum");
    free(f.p);
    free(data);
}

TEST(block_checks)
{
    uint8_t *data = gen(1000, 1);
    struct buf f = {0};
    size_t at;

    /* Block checksums: good, then bad. */
    put_header(&f, 0x74, 0x40, 0);
    put_lz4_block(&f, data, 1000);
    put32le(&f, ws_xxh32(f.p + 11, f.len - 11, 0));
    put32le(&f, 0);
    put32le(&f, ws_xxh32(data, 1000, 0));
    expect_decodes(f.p, f.len, 1, data, 1000);
    at = f.len - 12;
    f.p[at] ^= 0x40;
    expect_fails(f.p, f.len, "block checksum mismatch");
    /* A corrupt compressed block (a literal run past the block's end). */
    f.len = 0;
    put_header(&f, 0x64, 0x40, 0);
    put32le(&f, 2);
    put(&f, "\xF0\x05", 2);
    put32le(&f, 0);
    expect_fails(f.p, f.len, "bad compressed block at byte 7");
    free(f.p);
    free(data);
}

TEST(content_checks)
{
    uint8_t *data = gen(1000, 1);
    struct buf f = {0}, out = {0};
    struct ws_err err = {0};
    char want[64];

    /* Content size: exact, short, long. */
    for (int d = 1; d >= -1; d--) {
        f.len = 0;
        put_header(&f, 0x6C, 0x70, (uint64_t)(1000 + d));
        put_lz4_block(&f, data, 1000);
        put32le(&f, 0);
        put32le(&f, ws_xxh32(data, 1000, 0));
        if (d == 0)
            expect_decodes(f.p, f.len, 1, data, 1000);
        else
            expect_fails(f.p, f.len, "content size");
    }
    /* Output past the declared size is stopped before the sink. */
    ASSERT_EQ(decode(f.p, f.len, 0, 0, &out, &err), WS_ECORRUPT);
    ASSERT_UEQ(out.len, 0);
    ASSERT_STR_CONTAINS(err.msg, "exceeds declared content size");
    /* Content checksum, with the offset of the field. */
    free(f.p);
    f = small_frame(data, 1000);
    f.p[f.len - 1] ^= 0x01;
    snprintf(want, sizeof(want), "content checksum mismatch at byte %zu",
             f.len - 4);
    expect_fails(f.p, f.len, want);
    free(f.p);
    /* No content checksum: nothing would prove the bytes, so refused at
     * the descriptor, with or without block checksums. */
    f = (struct buf){0};
    put_header(&f, 0x60, 0x70, 0);
    put_lz4_block(&f, data, 1000);
    put32le(&f, 0);
    expect_fails(f.p, f.len, "no content checksum (FLG bit 2 clear) at byte 4");
    f.len = 0;
    put_header(&f, 0x70, 0x70, 0);
    expect_fails(f.p, f.len, "no content checksum");
    free(f.p);
    free(data);
}

TEST(content_checksum_message)
{
    uint8_t *data = gen(100, 1);
    struct buf f = compress_pieces(data, 100, 0), out = {0};
    struct ws_err err = {0};
    uint32_t good = get32le(f.p + f.len - 4);
    char want[128];

    f.p[f.len - 4] ^= 0xFF;
    ASSERT_EQ(decode(f.p, f.len, 0, 0, &out, &err), WS_ECORRUPT);
    snprintf(want, sizeof(want),
             "lz4: content checksum mismatch at byte "
             "%zu (got 0x%x, want 0x%x)",
             f.len - 4, (unsigned)good, (unsigned)(good ^ 0xFF));
    ASSERT_STR_EQ(err.msg, want);
    free(out.p);
    free(f.p);
    free(data);
}

TEST(max_out)
{
    uint8_t *data = gen(B + 5, 1), *out = NULL;
    struct buf f = compress_pieces(data, B + 5, 0), o = {0};
    struct ws_err err = {0};
    size_t olen;

    ASSERT_EQ(ws_lz4_decompress_mem(f.p, f.len, B + 5, &out, &olen, &err),
              WS_OK);
    ASSERT_UEQ(olen, B + 5);
    free(out);
    ASSERT_EQ(ws_lz4_decompress_mem(f.p, f.len, B + 4, &out, &olen, &err),
              WS_ECORRUPT);
    ASSERT_STR_CONTAINS(err.msg, "exceeds limit of 262148 bytes");
    ASSERT_EQ(decode(f.p, f.len, 1, 1, &o, &err), WS_ECORRUPT);
    ASSERT_UEQ(o.len, 0); /* nothing past the limit reached the sink */
    free(f.p);
    free(data);
}

/* The scan reader follows a frame's shape without decoding: a whole
 * frame (fed in pieces) passes, a byte after it fails at once, on the
 * write that brings it, and a frame cut short fails at finish. */
TEST(scan_shape)
{
    uint8_t *data = gen(3 * B + 7, 1);
    struct buf f = compress_pieces(data, 3 * B + 7, 0);
    struct ws_err err = {0};
    struct ws_lz4r *r;
    uint8_t zero[64] = {0};

    for (size_t step = 1; step <= f.len; step = step * 3 + 1) {
        r = ws_lz4r_new_scan();
        ASSERT(r != NULL);
        for (size_t off = 0; off < f.len; off += step)
            ASSERT_EQ(ws_lz4r_write(r, f.p + off,
                                    f.len - off < step ? f.len - off : step,
                                    &err),
                      WS_OK);
        ASSERT_EQ(ws_lz4r_finish(r, &err), WS_OK);
        ASSERT_UEQ(ws_lz4r_total_out(r), 0);
        ws_lz4r_free(r);
    }
    r = ws_lz4r_new_scan();
    ASSERT_EQ(ws_lz4r_write(r, f.p, f.len, &err), WS_OK);
    ASSERT_EQ(ws_lz4r_write(r, zero, sizeof(zero), &err), WS_ECORRUPT);
    ASSERT_STR_CONTAINS(err.msg, "trailing garbage after frame");
    ws_lz4r_free(r);
    r = ws_lz4r_new_scan();
    ASSERT_EQ(ws_lz4r_write(r, f.p, f.len - 1, &err), WS_OK);
    ASSERT_EQ(ws_lz4r_finish(r, &err), WS_ECORRUPT);
    ws_lz4r_free(r);
    free(f.p);
    free(data);
}

/* ---- decoder hardening (curl unit1650 style) ---- */

/* Valid small frames, each byte of which some check covers. */
static struct buf hardening_frame(int i, uint8_t *data)
{
    LZ4F_preferences_t prefs = {0};

    switch (i) {
    case 0:
        return compress_pieces(data, 300, 0); /* compressed block */
    case 1:
        return compress_pieces(data + 300, 40, 0); /* raw block */
    case 2:
        return compress_pieces(NULL, 0, 0); /* no block */
    default:
        prefs.frameInfo.blockSizeID = LZ4F_max64KB;
        prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
        prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
        prefs.frameInfo.contentSize = 300;
        return lz4f_compress(data, 300, &prefs);
    }
}

TEST(every_truncation_fails)
{
    uint8_t *data = gen(400, 1);

    for (size_t i = 300; i < 400; i++)
        data[i] = (uint8_t)rnd();
    for (int i = 0; i < 4; i++) {
        struct buf f = hardening_frame(i, data);

        for (size_t n = 0; n < f.len; n++) {
            struct buf out = {0};
            struct ws_err err = {0};

            if (decode(f.p, n, 0, 0, &out, &err) != WS_ECORRUPT)
                CHECK_FAIL("frame %d prefix %zu/%zu decoded", i, n, f.len);
            free(out.p);
            out = (struct buf){0};
            if (decode(f.p, n, 1, 0, &out, &err) != WS_ECORRUPT)
                CHECK_FAIL("frame %d prefix %zu/%zu decoded", i, n, f.len);
            free(out.p);
        }
        expect_decodes(f.p, f.len, 0, data + (i == 1 ? 300 : 0),
                       i == 2   ? 0
                       : i == 1 ? 40
                                : 300);
        free(f.p);
    }
    free(data);
}

/* Offset in f of the last sequence token of each LZ4-compressed block,
 * found by walking the frame and the blocks' sequences; *n of them. */
static void last_tokens(const struct buf *f, size_t *at, size_t *n)
{
    size_t pos = 4 + 2 + (f->p[4] & 0x08 ? 8 : 0) + 1;

    *n = 0;
    for (;;) {
        uint32_t v = get32le(f->p + pos), sz = v & 0x7FFFFFFF;
        size_t i = pos + 4, end = i + sz, tok = i;

        if (v == 0)
            return;
        while (!(v >> 31) && i < end) {
            uint8_t t = f->p[i], b;
            size_t lit = t >> 4;

            tok = i++;
            if (lit == 15)
                do
                    lit += b = f->p[i++];
                while (b == 255);
            i += lit;
            if (i >= end)
                break;
            i += 2; /* match offset */
            if ((t & 15) == 15)
                do
                    b = f->p[i++];
                while (b == 255);
        }
        if (!(v >> 31))
            at[(*n)++] = tok;
        pos = end + (f->p[4] & 0x10 ? 4 : 0);
    }
}

/*
 * Every single-byte change (each byte xor each of 0x01..0xFF) of each
 * frame is rejected, or decodes to exactly the original bytes: that is
 * no corruption, and the content checksum rightly agrees.  Such changes
 * exist.  The low nibble of a block's last LZ4 token (the match length of
 * a sequence that has no match) is ignored by LZ4_decompress_safe; and a
 * match offset may change to another place that holds the same bytes
 * (frame 0 compresses repetitive data).  None in frames 1 to 3 (frame 3's
 * block checksum covers the stored bytes).  One case per frame, so that
 * each stays within the harness's time limit under the sanitizers.
 * Returns how many changes decoded to the same bytes, and how many of
 * those were in the low nibble of the last token.
 */
static size_t every_byte_change(int i, size_t *last_spared)
{
    uint8_t *data = gen(400, 1);
    struct buf f;
    const uint8_t *want;
    size_t want_len, last[8], nlast, spared = 0;

    for (size_t k = 300; k < 400; k++)
        data[k] = (uint8_t)rnd();
    f = hardening_frame(i, data);
    want = data + (i == 1 ? 300 : 0);
    want_len = i == 2 ? 0 : i == 1 ? 40 : 300;
    last_tokens(&f, last, &nlast);
    ASSERT_EQ(nlast, i == 0 || i == 3 ? 1 : 0);
    *last_spared = 0;
    for (size_t at = 0; at < f.len; at++) {
        for (unsigned m = 1; m < 256; m++) {
            struct buf out = {0};
            struct ws_err err = {0};
            int rc;

            f.p[at] ^= (uint8_t)m;
            rc = decode(f.p, f.len, 0, 0, &out, &err);
            f.p[at] ^= (uint8_t)m;
            if (rc != WS_OK) {
                ASSERT_EQ(rc, WS_ECORRUPT);
            } else if (out.len != want_len ||
                       (want_len > 0 && memcmp(out.p, want, want_len) != 0)) {
                CHECK_FAIL("frame %d byte %zu ^ 0x%02x decoded to other "
                           "bytes",
                           i, at, m);
            } else {
                spared++;
                *last_spared += nlast == 1 && at == last[0] && m < 16;
            }
            free(out.p);
        }
    }
    free(f.p);
    free(data);
    printf("frame %d: %zu changes decode to the same bytes\n", i, spared);
    return spared;
}

TEST(every_byte_change_fails_0)
{
    size_t last;

    ASSERT(every_byte_change(0, &last) > 0);
    ASSERT_EQ(last, 15); /* the last token ^ 0x01..0x0F */
}

TEST(every_byte_change_fails_1)
{
    size_t last;

    ASSERT_EQ(every_byte_change(1, &last), 0);
}

TEST(every_byte_change_fails_2)
{
    size_t last;

    ASSERT_EQ(every_byte_change(2, &last), 0);
}

TEST(every_byte_change_fails_3)
{
    size_t last;

    ASSERT_EQ(every_byte_change(3, &last), 0);
}

#define LIST(X)                                                                \
    X(xxh32_vectors)                                                           \
    X(xxh32_matches_lz4f_content_checksum)                                     \
    X(header_bytes)                                                            \
    X(writer_blocks)                                                           \
    X(sink_errors_propagate)                                                   \
    X(misuse_after_finish)                                                     \
    X(writer_threads_same_bytes)                                               \
    X(writer_threads_sink_error)                                               \
    X(roundtrip_compressible)                                                  \
    X(roundtrip_random)                                                        \
    X(lz4f_decodes_ours)                                                       \
    X(ours_decodes_lz4f)                                                       \
    X(ours_decodes_lz4f_linked_small_blocks)                                   \
    X(linked_blocks_reach_back_64k)                                            \
    X(lz4_cli)                                                                 \
    X(zero_length_blocks)                                                      \
    X(skippable_frames)                                                        \
    X(stream_shape_rejected)                                                   \
    X(header_checks)                                                           \
    X(block_size_limit)                                                        \
    X(block_checks)                                                            \
    X(content_checks)                                                          \
    X(content_checksum_message)                                                \
    X(max_out)                                                                 \
    X(scan_shape)                                                              \
    X(every_truncation_fails)                                                  \
    X(every_byte_change_fails_0)                                               \
    X(every_byte_change_fails_1)                                               \
    X(every_byte_change_fails_2)                                               \
    X(every_byte_change_fails_3)

TEST_MAIN("lz4f", LIST)
