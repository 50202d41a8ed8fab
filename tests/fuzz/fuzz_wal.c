/*
 * fuzz_wal.c: the WAL header and frame decoder and the chain verifier
 * (wal.h), which restore trusts to prove that a replica's segments
 * continue each other exactly.
 *
 * Input: three control bytes, then WAL bytes.
 *   [0] bit 0: give the bytes a valid header (magic, version, the page
 *       size of bits 3-5, 512 << k, and the header checksum); bit 2 picks
 *       the big-endian magic;
 *       bit 1: give whole frames the header's salts and a checksum that
 *       continues the chain, for the first [2] frames (0xff: all), so
 *       that the fuzzer gets past the checksums to what follows them;
 *   [1] where the stream is cut into pieces (fuzz.h);
 *   [2] how many frames bit 1 fixes.
 *
 * Checked against a plain reference verifier written here: a feed
 * succeeds exactly when every whole frame is valid, the verifier accepts
 * exactly those frames, at the right offsets, in order, and ends cleanly
 * exactly when the last frame is a commit; fed in pieces it does the same
 * as fed whole; each accepted frame header encodes back to its bytes, and
 * a valid header to its 32 bytes.
 */
#include "fuzz.h"
#include "ws/wal.h"

/* The reference: what a correct verifier does with b[0..n). */
struct wal_ref {
    int hdr_ok;          /* a whole, valid header */
    int broken;          /* a whole frame fails (salts, page 0, chain) */
    uint64_t frames;     /* valid frames before the end or the break */
    uint64_t commit_off; /* end of the last valid commit frame */
    uint32_t commit_pages;
    size_t tail; /* bytes of a partial frame at the end */
};

static void wal_reference(const uint8_t *b, size_t n, struct wal_ref *r)
{
    uint32_t s[2] = {0, 0}, magic, ps;
    uint64_t fs, off;
    int big;

    memset(r, 0, sizeof(*r));
    if (n < WS_WAL_HDR_SIZE)
        return;
    magic = ws_get_be32(b);
    ps = ws_get_be32(b + 8);
    big = magic == WS_WAL_MAGIC_BE;
    if ((magic != WS_WAL_MAGIC_LE && !big) ||
        ws_get_be32(b + 4) != WS_WAL_VERSION || ps < 512 || ps > 65536 ||
        (ps & (ps - 1)) != 0)
        return;
    ws_wal_checksum(big, b, 24, s);
    if (s[0] != ws_get_be32(b + 24) || s[1] != ws_get_be32(b + 28))
        return;
    r->hdr_ok = 1;
    fs = 24 + (uint64_t)ps;
    r->commit_off = WS_WAL_HDR_SIZE;
    for (off = WS_WAL_HDR_SIZE; off + fs <= n; off += fs) {
        const uint8_t *f = b + off;
        uint32_t t[2] = {s[0], s[1]};
        if (ws_get_be32(f) == 0 || memcmp(f + 8, b + 16, 8) != 0) {
            r->broken = 1;
            return;
        }
        ws_wal_checksum(big, f, 8, t);
        ws_wal_checksum(big, f + 24, ps, t);
        if (t[0] != ws_get_be32(f + 16) || t[1] != ws_get_be32(f + 20)) {
            r->broken = 1;
            return;
        }
        s[0] = t[0];
        s[1] = t[1];
        r->frames++;
        if (ws_get_be32(f + 4) != 0) {
            r->commit_off = off + fs;
            r->commit_pages = ws_get_be32(f + 4);
        }
    }
    r->tail = (size_t)(n - off);
}

/* Make the header and the first `limit` frames valid, as [0] asks. */
static void wal_fix(uint8_t *b, size_t n, uint8_t flags, uint8_t limit)
{
    struct ws_wal_hdr h;
    uint32_t s[2];
    uint64_t fs;
    size_t k = 0;

    if (n < WS_WAL_HDR_SIZE || !(flags & 1))
        return;
    h.magic = flags & 4 ? WS_WAL_MAGIC_BE : WS_WAL_MAGIC_LE;
    h.version = WS_WAL_VERSION;
    h.page_size = 512u << ((flags >> 3) & 7);
    h.ckpt_seq = ws_get_be32(b + 12);
    h.salt1 = ws_get_be32(b + 16);
    h.salt2 = ws_get_be32(b + 20);
    ws_wal_encode_hdr(&h, b);
    if (!(flags & 2))
        return;
    fs = ws_wal_frame_size(h.page_size);
    s[0] = h.cksum[0];
    s[1] = h.cksum[1];
    for (uint64_t off = WS_WAL_HDR_SIZE; off + fs <= n; off += fs, k++) {
        uint8_t *f = b + off;
        if (limit != 0xff && k >= limit)
            break;
        memcpy(f + 8, b + 16, 8);
        ws_wal_checksum(h.magic == WS_WAL_MAGIC_BE, f, 8, s);
        ws_wal_checksum(h.magic == WS_WAL_MAGIC_BE, f + 24, h.page_size, s);
        ws_put_be32(f + 16, s[0]);
        ws_put_be32(f + 20, s[1]);
    }
}

/* What on_frame saw: a running hash of (page, offset), and checks. */
struct wal_seen {
    const struct ws_walv *v;
    uint64_t frames, next_off, hash;
};

static int wal_on_frame(void *ctx, const struct ws_wal_frame *f,
                        const uint8_t *page, uint64_t off, struct ws_err *err)
{
    struct wal_seen *w = ctx;
    const uint8_t *raw = page - WS_WAL_FRAME_HDR_SIZE;
    uint8_t enc[WS_WAL_FRAME_HDR_SIZE];

    (void)err;
    FUZZ_CHECK(f->pgno != 0, "frame at %llu", (unsigned long long)off);
    FUZZ_CHECK(off == (w->frames ? w->next_off : WS_WAL_HDR_SIZE),
               "frame at %llu, expected %llu", (unsigned long long)off,
               (unsigned long long)w->next_off);
    FUZZ_CHECK(f->salt1 == w->v->hdr.salt1 && f->salt2 == w->v->hdr.salt2,
               "frame at %llu: salts differ", (unsigned long long)off);
    ws_put_be32(enc, f->pgno);
    ws_put_be32(enc + 4, f->commit);
    ws_put_be32(enc + 8, f->salt1);
    ws_put_be32(enc + 12, f->salt2);
    ws_put_be32(enc + 16, f->cksum[0]);
    ws_put_be32(enc + 20, f->cksum[1]);
    FUZZ_CHECK(memcmp(enc, raw, sizeof(enc)) == 0,
               "frame at %llu does not encode back", (unsigned long long)off);
    w->frames++;
    w->hash = (w->hash ^ f->pgno ^ off) * 1099511628211u;
    w->next_off = off + ws_wal_frame_size(w->v->hdr.page_size);
    return WS_OK;
}

struct wal_run {
    int rc, end_rc;
    struct ws_walv v;
    struct wal_seen seen;
};

static void wal_run(const uint8_t *b, size_t n, uint8_t pieces,
                    struct wal_run *r)
{
    struct ws_err err;
    size_t off = 0;

    memset(r, 0, sizeof(*r));
    ws_walv_init(&r->v);
    r->v.on_frame = wal_on_frame;
    r->v.ctx = &r->seen;
    r->seen.v = &r->v;
    for (size_t k = 0; r->rc == WS_OK && off < n; k++) {
        size_t m = fuzz_piece(pieces, k);
        if (m > n - off)
            m = n - off;
        r->rc = ws_walv_feed(&r->v, b + off, m, &err);
        if (r->rc != WS_OK)
            fuzz_check_err(r->rc, &err, "ws_walv_feed");
        off += m;
    }
    if (r->rc == WS_OK) {
        r->end_rc = ws_walv_end(&r->v, &err);
        if (r->end_rc != WS_OK)
            fuzz_check_err(r->end_rc, &err, "ws_walv_end");
    }
    ws_walv_free(&r->v);
}

static void wal_check_align(const uint8_t *b, size_t n)
{
    uint64_t off = 0, a, fs;
    uint32_t ps;

    for (size_t i = 0; i < 8 && i < n; i++)
        off = off << 8 | b[i];
    ps = 512u << (n > 8 ? b[8] & 7 : 0);
    fs = ws_wal_frame_size(ps);
    a = ws_wal_align(off, ps);
    FUZZ_CHECK(a <= off, "align(%llu) = %llu", (unsigned long long)off,
               (unsigned long long)a);
    if (off < WS_WAL_HDR_SIZE)
        FUZZ_CHECK(a == 0, "align(%llu) = %llu", (unsigned long long)off,
                   (unsigned long long)a);
    else
        FUZZ_CHECK(a >= WS_WAL_HDR_SIZE && (a - WS_WAL_HDR_SIZE) % fs == 0 &&
                       off - a < fs,
                   "align(%llu, %u) = %llu", (unsigned long long)off, ps,
                   (unsigned long long)a);
}

int FUZZ_ENTRY(wal)
{
    struct wal_ref ref;
    struct wal_run whole, cut;
    struct ws_wal_hdr h;
    struct ws_walidx wi;
    struct ws_err err;
    uint8_t *b;
    size_t n;

    if (size < 3)
        return 0;
    n = size - 3;
    b = malloc(n ? n : 1);
    if (b == NULL)
        abort();
    memcpy(b, data + 3, n);
    wal_fix(b, n, data[0], data[2]);
    wal_reference(b, n, &ref);

    wal_run(b, n, 0, &whole);
    wal_run(b, n, data[1], &cut);

    /* The header alone. */
    if (n >= WS_WAL_HDR_SIZE) {
        int rc = ws_wal_decode_hdr(b, &h, &err);
        FUZZ_CHECK((rc == WS_OK) == ref.hdr_ok, "decode_hdr rc %d", rc);
        if (rc == WS_OK) {
            uint8_t enc[WS_WAL_HDR_SIZE];
            ws_wal_encode_hdr(&h, enc);
            FUZZ_CHECK(memcmp(enc, b, sizeof(enc)) == 0,
                       "header does not encode back");
        } else {
            fuzz_check_err(rc, &err, "ws_wal_decode_hdr");
        }
    }

    /* The verifier against the reference. */
    FUZZ_CHECK((whole.rc == WS_OK) ==
                   (n < WS_WAL_HDR_SIZE || (ref.hdr_ok && !ref.broken)),
               "feed rc %d, reference hdr_ok %d broken %d", whole.rc,
               ref.hdr_ok, ref.broken);
    FUZZ_CHECK(whole.seen.frames == ref.frames && whole.v.frames == ref.frames,
               "%llu frames seen, %llu counted, reference %llu",
               (unsigned long long)whole.seen.frames,
               (unsigned long long)whole.v.frames,
               (unsigned long long)ref.frames);
    if (whole.rc == WS_OK && ref.hdr_ok) {
        uint64_t fs = ws_wal_frame_size(whole.v.hdr.page_size);
        FUZZ_CHECK(whole.v.off == WS_WAL_HDR_SIZE + ref.frames * fs, "off %llu",
                   (unsigned long long)whole.v.off);
        FUZZ_CHECK(whole.v.commit_off == ref.commit_off &&
                       whole.v.commit_pages == ref.commit_pages,
                   "commit at %llu (%u pages), reference %llu (%u)",
                   (unsigned long long)whole.v.commit_off, whole.v.commit_pages,
                   (unsigned long long)ref.commit_off, ref.commit_pages);
        FUZZ_CHECK((whole.end_rc == WS_OK) ==
                       (ref.tail == 0 && ref.commit_off == whole.v.off),
                   "end rc %d, tail %zu", whole.end_rc, ref.tail);
    }
    if (whole.rc == WS_OK && !ref.hdr_ok)
        FUZZ_CHECK(whole.end_rc != WS_OK, "end without a header");

    /* In pieces as whole. */
    FUZZ_CHECK(cut.rc == whole.rc && cut.end_rc == whole.end_rc &&
                   cut.v.frames == whole.v.frames && cut.v.off == whole.v.off &&
                   cut.v.commit_off == whole.v.commit_off &&
                   cut.seen.hash == whole.seen.hash,
               "in pieces: rc %d/%d frames %llu, whole: rc %d/%d frames %llu",
               cut.rc, cut.end_rc, (unsigned long long)cut.v.frames, whole.rc,
               whole.end_rc, (unsigned long long)whole.v.frames);

    /* The wal-index header decoder and frame alignment: no invariant
     * beyond staying inside the bytes. */
    if (n >= WS_WALIDX_HDR_SIZE)
        (void)ws_walidx_decode(b, &wi);
    wal_check_align(b, n);
    free(b);
    return 0;
}
