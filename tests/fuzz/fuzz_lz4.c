/*
 * fuzz_lz4.c: the LZ4 frame reader (lz4f.h), and what restore does with
 * the bytes it decodes from a replica object: a WAL segment goes through
 * the chain verifier (wal.h), a commit-time object through its decoder
 * (times.h), a snapshot is only bounded.
 *
 * Input: three control bytes, then an LZ4 frame.
 *   [0] bits 0-1: what the object is: 0 a snapshot, 1 a WAL segment,
 *       2 a commit-time object; 3: the rest is not a frame but content,
 *       which liblz4 compresses with the preferences of bits 2-7 first;
 *   [1] where the stream is cut into pieces (fuzz.h);
 *   [2] bit 0: recompute the frame descriptor's checksum byte, so the
 *       fuzzer gets past it to the blocks; bit 1: first declare 64 KiB
 *       blocks (BD 0x40) instead of what the frame says (walship and
 *       Litestream declare 4 MiB, and the reader's buffers of that size
 *       make each run slow under ASan).
 *
 * Checked: whatever the reader accepts, liblz4's own decoder accepts too
 * and decodes to the same bytes; fed in pieces it does what it does whole
 * (ws_lz4_decompress_mem); it never emits more than its limit; what it
 * decodes compresses (ws_lz4w) and decodes back to itself; a frame
 * liblz4 made with a content checksum is accepted and decodes to the
 * content (without one, refusing it is allowed).  A segment fed to the
 * verifier through the reader does what its decoded bytes do fed whole.
 */
#include "fuzz.h"
#include "ws/lz4f.h"
#include "ws/times.h"
#include "ws/wal.h"

#include <lz4frame.h>

#define LZ4_FUZZ_MAX_OUT (1u << 20)

/* liblz4's decoding of every frame in b[0..n) (skippable ones too), into
 * out; 0 when it refuses the bytes. */
static int lz4_reference(const uint8_t *b, size_t n, struct fuzz_buf *out)
{
    LZ4F_dctx *d;
    uint8_t tmp[65536];
    struct ws_err err;
    int ok = 0;

    if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)))
        abort();
    for (;;) {
        size_t in = n, o = sizeof(tmp);
        size_t r = LZ4F_decompress(d, tmp, &o, b, &in, NULL);
        if (LZ4F_isError(r) ||
            (o > 0 && fuzz_buf_sink(out, tmp, o, &err) != WS_OK)) {
            ok = 0;
            break;
        }
        b += in;
        n -= in;
        if (o == sizeof(tmp))
            continue; /* more output may be waiting */
        if (n == 0) {
            ok = r == 0; /* else the input ends inside a frame */
            break;
        }
        if (in == 0 && o == 0) {
            ok = 0; /* no progress */
            break;
        }
    }
    LZ4F_freeDecompressionContext(d);
    return ok;
}

/* A frame's descriptor checksum byte, recomputed (lz4_Frame_format.md:
 * the second byte of xxh32 over FLG, BD and the optional fields), after
 * setting BD to 64 KiB blocks when small_blocks says so. */
static void lz4_fix_hc(uint8_t *b, size_t n, int small_blocks)
{
    size_t len;

    if (n < 7 || ws_get_be32(b) != 0x04224D18u)
        return;
    if (small_blocks)
        b[5] = 0x40;
    len = 2 + (b[4] & 0x08 ? 8 : 0) + (b[4] & 0x01 ? 4 : 0);
    if (4 + len >= n)
        return;
    b[4 + len] = (uint8_t)(ws_xxh32(b + 4, len, 0) >> 8);
}

/* The sink restore gives the reader, per kind of object. */
struct lz4_obj {
    int kind;
    struct fuzz_buf out; /* every decoded byte */
    struct ws_walv v;    /* kind 1 */
    int walv_rc;
};

static int lz4_obj_sink(void *ctx, const void *buf, size_t len,
                        struct ws_err *err)
{
    struct lz4_obj *o = ctx;
    struct ws_err verr;
    int rc = fuzz_buf_sink(&o->out, buf, len, err);

    FUZZ_CHECK(o->out.n <= LZ4_FUZZ_MAX_OUT, "%zu bytes past the limit",
               o->out.n);
    /* The verifier's verdict is kept apart from the reader's. */
    if (rc == WS_OK && o->kind == 1 && o->walv_rc == WS_OK) {
        o->walv_rc = ws_walv_feed(&o->v, buf, len, &verr);
        if (o->walv_rc != WS_OK)
            fuzz_check_err(o->walv_rc, &verr, "ws_walv_feed");
    }
    return rc;
}

/* Decode b[0..n) as restore does, fed in pieces. */
static int lz4_decode(const uint8_t *b, size_t n, uint8_t pieces, int kind,
                      struct lz4_obj *o)
{
    struct ws_lz4r *r;
    struct ws_err err;
    size_t off = 0;
    int rc = WS_OK;

    memset(o, 0, sizeof(*o));
    o->kind = kind;
    ws_walv_init(&o->v);
    r = ws_lz4r_new(lz4_obj_sink, o, LZ4_FUZZ_MAX_OUT);
    if (r == NULL)
        abort();
    for (size_t k = 0; rc == WS_OK && off < n; k++) {
        size_t m = fuzz_piece(pieces, k);
        if (m > n - off)
            m = n - off;
        rc = ws_lz4r_write(r, b + off, m, &err);
        off += m;
    }
    if (rc == WS_OK)
        rc = ws_lz4r_finish(r, &err);
    if (rc != WS_OK)
        fuzz_check_err(rc, &err, "ws_lz4r");
    FUZZ_CHECK(ws_lz4r_total_out(r) == o->out.n, "total_out %llu, sink %zu",
               (unsigned long long)ws_lz4r_total_out(r), o->out.n);
    ws_lz4r_free(r);
    if (rc == WS_OK && kind == 1 && o->walv_rc == WS_OK) {
        o->walv_rc = ws_walv_end(&o->v, &err);
        if (o->walv_rc != WS_OK)
            fuzz_check_err(o->walv_rc, &err, "ws_walv_end");
    }
    ws_walv_free(&o->v);
    return rc;
}

/* What was decoded, compressed by walship's writer, decodes back. */
static void lz4_round_trip(const struct fuzz_buf *plain)
{
    uint8_t *z = NULL, *back = NULL;
    size_t nz = 0, nback = 0;
    struct ws_err err;
    struct fuzz_buf ref = {0};

    FUZZ_CHECK(ws_lz4_compress_mem(plain->p, plain->n, &z, &nz, &err) == WS_OK,
               "compress: %s", err.msg);
    FUZZ_CHECK(ws_lz4_decompress_mem(z, nz, 0, &back, &nback, &err) == WS_OK,
               "decompress what was compressed: %s", err.msg);
    FUZZ_CHECK(nback == plain->n &&
                   (nback == 0 || memcmp(back, plain->p, nback) == 0),
               "round trip changed %zu bytes into %zu", plain->n, nback);
    FUZZ_CHECK(lz4_reference(z, nz, &ref) && ref.n == plain->n &&
                   (ref.n == 0 || memcmp(ref.p, plain->p, ref.n) == 0),
               "liblz4 does not read walship's frame back");
    fuzz_buf_free(&ref);
    free(z);
    free(back);
}

/* Mode 3: liblz4 compresses the content; walship must read it. */
static void lz4_from_content(const uint8_t *c, size_t n, uint8_t flags,
                             uint8_t pieces)
{
    LZ4F_preferences_t prefs;
    struct lz4_obj o;
    uint8_t *z;
    size_t cap, nz;
    int rc;

    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.blockSizeID = (LZ4F_blockSizeID_t)(4 + ((flags >> 2) & 3));
    prefs.frameInfo.blockMode =
        flags & 0x10 ? LZ4F_blockLinked : LZ4F_blockIndependent;
    prefs.frameInfo.contentChecksumFlag =
        flags & 0x20 ? LZ4F_noContentChecksum : LZ4F_contentChecksumEnabled;
    prefs.frameInfo.blockChecksumFlag =
        flags & 0x40 ? LZ4F_blockChecksumEnabled : LZ4F_noBlockChecksum;
    prefs.frameInfo.contentSize = flags & 0x80 ? n : 0;
    prefs.compressionLevel = flags & 0x10 ? 3 : 0;
    cap = LZ4F_compressFrameBound(n, &prefs);
    z = malloc(cap);
    if (z == NULL)
        abort();
    nz = LZ4F_compressFrame(z, cap, c, n, &prefs);
    FUZZ_CHECK(!LZ4F_isError(nz), "liblz4: %s", LZ4F_getErrorName(nz));
    rc = lz4_decode(z, nz, pieces, 0, &o);
    if (rc == WS_OK)
        FUZZ_CHECK(o.out.n == n && (n == 0 || memcmp(o.out.p, c, n) == 0),
                   "liblz4's frame decodes to %zu bytes, not the %zu "
                   "it holds",
                   o.out.n, n);
    else
        FUZZ_CHECK(flags & 0x20,
                   "liblz4's frame with a content checksum "
                   "(flags 0x%02x) refused",
                   flags);
    fuzz_buf_free(&o.out);
    free(z);
}

int FUZZ_ENTRY(lz4)
{
    struct lz4_obj whole, cut;
    struct fuzz_buf ref = {0};
    int kind, rc, rc_cut, ref_ok;
    uint8_t *b;
    size_t n;

    if (size < 3)
        return 0;
    kind = data[0] & 3;
    n = size - 3;
    if (kind == 3) {
        if (n <= LZ4_FUZZ_MAX_OUT)
            lz4_from_content(data + 3, n, data[0], data[1]);
        return 0;
    }
    b = malloc(n ? n : 1);
    if (b == NULL)
        abort();
    memcpy(b, data + 3, n);
    if (data[2] & 1)
        lz4_fix_hc(b, n, data[2] & 2);

    rc = lz4_decode(b, n, 0, kind, &whole);
    rc_cut = lz4_decode(b, n, data[1], kind, &cut);
    FUZZ_CHECK(rc == rc_cut && whole.walv_rc == cut.walv_rc &&
                   whole.out.n == cut.out.n &&
                   (rc != WS_OK || whole.out.n == 0 ||
                    memcmp(whole.out.p, cut.out.p, whole.out.n) == 0),
               "whole: rc %d, %zu bytes; in pieces: rc %d, %zu bytes", rc,
               whole.out.n, rc_cut, cut.out.n);

    if (rc == WS_OK) {
        ref_ok = lz4_reference(b, n, &ref);
        FUZZ_CHECK(ref_ok && ref.n == whole.out.n &&
                       (ref.n == 0 || memcmp(ref.p, whole.out.p, ref.n) == 0),
                   "accepted, but liblz4 %s (%zu bytes, walship %zu)",
                   ref_ok ? "decodes other bytes" : "refuses it", ref.n,
                   whole.out.n);
        lz4_round_trip(&whole.out);
        if (kind == 1) {
            /* The segment's bytes fed to the verifier in one piece. */
            struct ws_walv v;
            struct ws_err err;
            int vrc;
            ws_walv_init(&v);
            vrc = ws_walv_feed(&v, whole.out.p, whole.out.n, &err);
            if (vrc == WS_OK)
                vrc = ws_walv_end(&v, &err);
            ws_walv_free(&v);
            FUZZ_CHECK(vrc == whole.walv_rc,
                       "verifier: %d whole, %d "
                       "through the reader",
                       vrc, whole.walv_rc);
        } else if (kind == 2) {
            struct ws_tlist l = {0};
            struct ws_err err;
            int trc = ws_times_decode(whole.out.p, whole.out.n, &l, &err);
            if (trc != WS_OK)
                fuzz_check_err(trc, &err, "ws_times_decode");
            ws_tlist_free(&l);
        }
    }
    fuzz_buf_free(&ref);
    fuzz_buf_free(&whole.out);
    fuzz_buf_free(&cut.out);
    free(b);
    return 0;
}
