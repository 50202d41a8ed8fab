/*
 * wal.c: decoding and verifying SQLite WAL bytes (see wal.h).
 *
 * The checksum is SQLite's walChecksumBytes(): for each 8-byte chunk take
 * two 32-bit words w0, w1 in the header's byte order, then
 *     s0 += w0 + s1;   s1 += w1 + s0;     (mod 2^32)
 * seeded with (0, 0) for the header's first 24 bytes, and with the
 * previous checksum for each frame, which covers its first 8 header bytes
 * and its page.
 */
#include "ws/wal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static_assert(WS_WAL_HDR_SIZE == 32, "WAL header is 32 bytes");
static_assert(WS_WAL_FRAME_HDR_SIZE == 24, "WAL frame header is 24 bytes");

uint32_t ws_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

void ws_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
           (uint32_t)p[1] << 8 | (uint32_t)p[0];
}

void ws_wal_checksum(int big, const uint8_t *b, size_t n, uint32_t s[2])
{
    uint32_t s0 = s[0], s1 = s[1];

    assert(n % 8 == 0);
    for (size_t i = 0; i < n; i += 8) {
        uint32_t w0 = big ? ws_get_be32(b + i) : get_le32(b + i);
        uint32_t w1 = big ? ws_get_be32(b + i + 4) : get_le32(b + i + 4);
        s0 += w0 + s1;
        s1 += w1 + s0;
    }
    s[0] = s0;
    s[1] = s1;
}

int ws_wal_decode_hdr(const uint8_t *b, struct ws_wal_hdr *h,
                      struct ws_err *err)
{
    uint32_t s[2] = {0, 0};
    struct ws_wal_hdr x;

    x.magic = ws_get_be32(b);
    x.version = ws_get_be32(b + 4);
    x.page_size = ws_get_be32(b + 8);
    x.ckpt_seq = ws_get_be32(b + 12);
    x.salt1 = ws_get_be32(b + 16);
    x.salt2 = ws_get_be32(b + 20);
    x.cksum[0] = ws_get_be32(b + 24);
    x.cksum[1] = ws_get_be32(b + 28);
    if (x.magic != WS_WAL_MAGIC_LE && x.magic != WS_WAL_MAGIC_BE)
        return ws_err_set(err, WS_ECORRUPT, "invalid wal header magic: %x",
                          x.magic);
    if (x.version != WS_WAL_VERSION)
        return ws_err_set(err, WS_ECORRUPT, "unsupported wal version: %u",
                          x.version);
    if (x.page_size < 512 || x.page_size > WS_WAL_MAX_PAGE ||
        (x.page_size & (x.page_size - 1)) != 0)
        return ws_err_set(err, WS_ECORRUPT, "invalid wal page size: %u",
                          x.page_size);
    ws_wal_checksum(x.magic == WS_WAL_MAGIC_BE, b, 24, s);
    if (s[0] != x.cksum[0] || s[1] != x.cksum[1])
        return ws_err_set(err, WS_ECORRUPT,
                          "invalid wal header checksum: (%x,%x) != (%x,%x)",
                          x.cksum[0], x.cksum[1], s[0], s[1]);
    *h = x;
    return WS_OK;
}

void ws_wal_encode_hdr(struct ws_wal_hdr *h, uint8_t *b)
{
    h->cksum[0] = h->cksum[1] = 0;
    ws_put_be32(b, h->magic);
    ws_put_be32(b + 4, h->version);
    ws_put_be32(b + 8, h->page_size);
    ws_put_be32(b + 12, h->ckpt_seq);
    ws_put_be32(b + 16, h->salt1);
    ws_put_be32(b + 20, h->salt2);
    ws_wal_checksum(h->magic == WS_WAL_MAGIC_BE, b, 24, h->cksum);
    ws_put_be32(b + 24, h->cksum[0]);
    ws_put_be32(b + 28, h->cksum[1]);
}

void ws_wal_decode_frame(const uint8_t *b, struct ws_wal_frame *f)
{
    f->pgno = ws_get_be32(b);
    f->commit = ws_get_be32(b + 4);
    f->salt1 = ws_get_be32(b + 8);
    f->salt2 = ws_get_be32(b + 12);
    f->cksum[0] = ws_get_be32(b + 16);
    f->cksum[1] = ws_get_be32(b + 20);
}

uint64_t ws_wal_align(uint64_t off, uint32_t page_size)
{
    uint64_t fs = ws_wal_frame_size(page_size);

    if (off < WS_WAL_HDR_SIZE)
        return 0;
    return WS_WAL_HDR_SIZE + (off - WS_WAL_HDR_SIZE) / fs * fs;
}

int ws_wal_frame_of(const struct ws_wal_hdr *h, const uint8_t *fh,
                    uint32_t s[2])
{
    if (ws_get_be32(fh + 8) != h->salt1 || ws_get_be32(fh + 12) != h->salt2)
        return 0;
    if (s != NULL) {
        s[0] = ws_get_be32(fh + 16);
        s[1] = ws_get_be32(fh + 20);
    }
    return 1;
}

int ws_wal_frame_valid(const struct ws_wal_hdr *h, const uint8_t *frame,
                       uint32_t s[2])
{
    int big = h->magic == WS_WAL_MAGIC_BE;
    struct ws_wal_frame f;
    uint32_t t[2] = {s[0], s[1]};

    ws_wal_decode_frame(frame, &f);
    if (f.salt1 != h->salt1 || f.salt2 != h->salt2 || f.pgno == 0)
        return 0;
    ws_wal_checksum(big, frame, 8, t);
    ws_wal_checksum(big, frame + WS_WAL_FRAME_HDR_SIZE, h->page_size, t);
    if (t[0] != f.cksum[0] || t[1] != f.cksum[1])
        return 0;
    s[0] = t[0];
    s[1] = t[1];
    return 1;
}

void ws_wal_scan_init(struct ws_wal_scan *w, const struct ws_wal_hdr *h,
                      uint64_t off, const uint32_t s[2])
{
    memset(w, 0, sizeof(*w));
    w->hdr = *h;
    w->fsize = ws_wal_frame_size(h->page_size);
    w->off = w->commit = off;
    w->s[0] = w->cs[0] = s[0];
    w->s[1] = w->cs[1] = s[1];
}

int ws_wal_scan(struct ws_wal_scan *w, const uint8_t *b, size_t n,
                size_t *used, int (*on_commit)(void *ctx, uint64_t commit),
                void *ctx)
{
    size_t k = 0;
    int rc = 0;

    while (rc == 0 && !w->broken && k + w->fsize <= n) {
        const uint8_t *f = b + k;
        if (!ws_wal_frame_valid(&w->hdr, f, w->s)) {
            w->broken = 1;
            break;
        }
        k += w->fsize;
        w->off += w->fsize;
        if (ws_get_be32(f + 4) != 0) {
            w->commit = w->off;
            w->cs[0] = w->s[0];
            w->cs[1] = w->s[1];
            if (on_commit != NULL)
                rc = on_commit(ctx, w->commit);
        }
    }
    *used = k;
    return rc;
}

/* The wal-index header is in the host's byte order. */
static int host_big(void)
{
    const uint16_t one = 1;
    uint8_t b;

    memcpy(&b, &one, 1);
    return b == 0;
}

static uint32_t get_host32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

int ws_walidx_decode(const uint8_t *b, struct ws_walidx *out)
{
    uint32_t s[2] = {0, 0};
    uint16_t sz;

    /* SQLite's walIndexTryHdr(): equal copies, isInit, checksum. */
    if (memcmp(b, b + WS_WALIDX_HDR_SIZE / 2, WS_WALIDX_HDR_SIZE / 2) != 0)
        return WS_EBUSY;
    if (b[12] == 0)
        return WS_ECORRUPT;
    ws_wal_checksum(host_big(), b, 40, s);
    if (s[0] != get_host32(b + 40) || s[1] != get_host32(b + 44))
        return WS_ECORRUPT;
    memcpy(&sz, b + 14, 2);
    out->change = get_host32(b + 8);
    out->page_size = (uint32_t)(sz & 0xfe00) + ((uint32_t)(sz & 1) << 16);
    out->mx_frame = get_host32(b + 16);
    /* Copied byte for byte from the WAL header, so big-endian. */
    out->salt1 = ws_get_be32(b + 32);
    out->salt2 = ws_get_be32(b + 36);
    return WS_OK;
}

void ws_walv_init(struct ws_walv *v)
{
    memset(v, 0, sizeof(*v));
}

static int walv_frame(struct ws_walv *v, const uint8_t *frame,
                      struct ws_err *err)
{
    struct ws_wal_frame f;
    uint64_t fs = ws_wal_frame_size(v->hdr.page_size);

    ws_wal_decode_frame(frame, &f);
    if (f.salt1 != v->hdr.salt1 || f.salt2 != v->hdr.salt2)
        return ws_err_set(err, WS_ECORRUPT,
                          "wal frame at offset %llu (page %u): salt "
                          "mismatch (%08x,%08x) != header (%08x,%08x)",
                          (unsigned long long)v->off, f.pgno, f.salt1,
                          f.salt2, v->hdr.salt1, v->hdr.salt2);
    if (!ws_wal_frame_valid(&v->hdr, frame, v->s))
        return ws_err_set(err, WS_ECORRUPT,
                          "wal frame at offset %llu (page %u): checksum "
                          "chain broken",
                          (unsigned long long)v->off, f.pgno);
    if (v->on_frame) {
        int rc = v->on_frame(v->ctx, &f, frame + WS_WAL_FRAME_HDR_SIZE,
                             v->off, err);
        if (rc != WS_OK)
            return rc;
    }
    v->off += fs;
    v->frames++;
    if (f.commit != 0) {
        v->commit_off = v->off;
        v->commit_pages = f.commit;
    }
    return WS_OK;
}

int ws_walv_feed(struct ws_walv *v, const void *data, size_t len,
                 struct ws_err *err)
{
    const uint8_t *p = data;

    while (len > 0) {
        size_t want, take;
        int rc;

        want = v->have_hdr ? (size_t)ws_wal_frame_size(v->hdr.page_size)
                           : WS_WAL_HDR_SIZE;
        if (v->buf == NULL) {
            v->buf = malloc(WS_WAL_FRAME_HDR_SIZE + WS_WAL_MAX_PAGE);
            if (v->buf == NULL)
                return ws_err_set(err, WS_ENOMEM, "out of memory");
        }
        /* Whole frames straight from the input, without copying. */
        if (v->nbuf == 0 && len >= want && v->have_hdr) {
            rc = walv_frame(v, p, err);
            if (rc != WS_OK)
                return rc;
            p += want;
            len -= want;
            continue;
        }
        take = want - v->nbuf < len ? want - v->nbuf : len;
        memcpy(v->buf + v->nbuf, p, take);
        v->nbuf += take;
        p += take;
        len -= take;
        if (v->nbuf < want)
            break;
        v->nbuf = 0;
        if (v->have_hdr) {
            rc = walv_frame(v, v->buf, err);
        } else {
            rc = ws_wal_decode_hdr(v->buf, &v->hdr, err);
            if (rc == WS_OK) {
                v->have_hdr = 1;
                v->s[0] = v->hdr.cksum[0];
                v->s[1] = v->hdr.cksum[1];
                v->off = WS_WAL_HDR_SIZE;
                v->commit_off = WS_WAL_HDR_SIZE;
            }
        }
        if (rc != WS_OK)
            return rc;
    }
    return WS_OK;
}

int ws_walv_end(struct ws_walv *v, struct ws_err *err)
{
    if (!v->have_hdr)
        return ws_err_set(err, WS_ECORRUPT, "wal: truncated header (%zu "
                          "bytes)", v->nbuf);
    if (v->nbuf != 0)
        return ws_err_set(err, WS_ECORRUPT,
                          "wal: truncated frame at offset %llu (%zu bytes)",
                          (unsigned long long)v->off, v->nbuf);
    if (v->commit_off != v->off)
        return ws_err_set(err, WS_ECORRUPT,
                          "wal: ends at offset %llu inside a transaction "
                          "(last commit at %llu)",
                          (unsigned long long)v->off,
                          (unsigned long long)v->commit_off);
    return WS_OK;
}

void ws_walv_free(struct ws_walv *v)
{
    free(v->buf);
    v->buf = NULL;
}
