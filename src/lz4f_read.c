/*
 * lz4f_read.c: the LZ4 frame reader over liblz4's block codec (lz4f.h
 * has the frame layout and what is checked).
 *
 * The reader is a state machine fed in arbitrary pieces.  Each state
 * waits for `need` bytes (a header field into `field`, block data into
 * `cbuf`, skippable payload into nowhere) and step() acts once they are
 * there.  `pos` counts compressed bytes consumed; `fpos` is where the
 * field being collected started, which is the offset every error names.
 * Block buffers are sized from BD when the descriptor has been checked.
 * Linked-block frames (FLG bit 5 clear; never written by Litestream, but
 * LZ4F's default) are decoded by keeping the last 64 KiB of output in
 * front of the decode buffer as the dictionary.  The first error is
 * sticky.
 *
 * Not every byte is checked: liblz4 ignores the match-length nibble of a
 * block's last token (that sequence has no match), so a change there
 * alters no output and only a block checksum, when present, sees it.
 */
#include "ws/lz4f.h"

#include <lz4.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC 0x184D2204u
#define SKIP_MAGIC 0x184D2A50u /* low 4 bits free */
#define HIST (64 * 1024)       /* LZ4 window, for linked blocks */

#define FLG_INDEP 0x20
#define FLG_BCHK 0x10
#define FLG_CSIZE 0x08
#define FLG_CCHK 0x04

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* ---- reader ---- */

enum rstate {
    R_MAGIC,   /* 4 bytes: data or skippable magic */
    R_SKIPLEN, /* 4 bytes: skippable frame size */
    R_SKIP,    /* skippable payload, discarded */
    R_FLGBD,   /* FLG and BD */
    R_HC,      /* [content size] and HC, appended after FLG BD */
    R_BSIZE,   /* block size or end mark */
    R_BDATA,   /* block data, into cbuf */
    R_BCHK,    /* block checksum */
    R_CCHK     /* content checksum */
};

static const char *const rstate_name[] = {"magic",
                                          "skippable frame size",
                                          "skippable frame",
                                          "frame descriptor",
                                          "frame descriptor",
                                          "block size",
                                          "block data",
                                          "block checksum",
                                          "content checksum"};

struct ws_lz4r {
    ws_sink_fn sink;
    void *ctx;
    uint64_t max_out; /* 0 = unbounded */
    enum rstate state;
    size_t need;   /* bytes the current state collects */
    size_t have;   /* of which arrived */
    uint64_t pos;  /* compressed bytes consumed */
    uint64_t fpos; /* offset of the current field */
    uint64_t bpos; /* offset of the current block's size field */
    uint8_t field[16];
    uint8_t flg;
    size_t bmax;    /* from BD */
    uint64_t csize; /* declared content size, if FLG_CSIZE */
    uint8_t *cbuf;  /* bmax: one stored block */
    uint8_t *dbuf;  /* [hist] + bmax: one decoded block */
    size_t histcap; /* HIST for linked blocks, else 0 */
    size_t hist;    /* history bytes before dbuf + histcap */
    size_t prevn;   /* output of the previous linked block */
    uint32_t bsize;
    int raw;
    struct ws_xxh32 xs; /* over this frame's output */
    uint64_t frame_out;
    uint64_t total_out;
    int seen; /* a data frame was completed */
    int finished;
    int cut; /* finished inside a frame: the input was cut short */
    int scan; /* the frame's structure only: nothing decoded */
    int rc;   /* sticky error */
};

struct ws_lz4r *ws_lz4r_new(ws_sink_fn sink, void *ctx, uint64_t max_out)
{
    struct ws_lz4r *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->sink = sink;
    r->ctx = ctx;
    r->max_out = max_out;
    r->state = R_MAGIC;
    r->need = 4;
    return r;
}

struct ws_lz4r *ws_lz4r_new_scan(void)
{
    struct ws_lz4r *r = ws_lz4r_new(NULL, NULL, 0);

    if (r != NULL)
        r->scan = 1;
    return r;
}

/* Collect `need` bytes for state st next; returns WS_OK. */
static int expect(struct ws_lz4r *r, enum rstate st, size_t need)
{
    r->state = st;
    r->need = need;
    r->have = 0;
    r->fpos = r->pos;
    return WS_OK;
}

static int corrupt(struct ws_err *err, const char *what, uint64_t at)
{
    return ws_err_set(err, WS_ECORRUPT, "lz4: %s at byte %llu", what,
                      (unsigned long long)at);
}

static int mismatch(struct ws_err *err, const char *what, uint64_t at,
                    uint64_t got, uint64_t want)
{
    return ws_err_set(err, WS_ECORRUPT,
                      "lz4: %s mismatch at byte %llu (got 0x%llx, want "
                      "0x%llx)",
                      what, (unsigned long long)at, (unsigned long long)got,
                      (unsigned long long)want);
}

static int on_magic(struct ws_lz4r *r, struct ws_err *err)
{
    uint32_t m = get32(r->field);

    if (m == MAGIC && r->seen)
        return corrupt(err, "second data frame", r->fpos);
    if (m == MAGIC)
        return expect(r, R_FLGBD, 2);
    if ((m & 0xFFFFFFF0u) == SKIP_MAGIC)
        return expect(r, R_SKIPLEN, 4);
    if (r->seen)
        return corrupt(err, "trailing garbage after frame", r->fpos);
    return ws_err_set(err, WS_ECORRUPT, "lz4: bad magic 0x%08x at byte %llu", m,
                      (unsigned long long)r->fpos);
}

static int on_flgbd(struct ws_lz4r *r, struct ws_err *err)
{
    uint8_t flg = r->field[0], bd = r->field[1];
    int id = (bd >> 4) & 7;

    if ((flg >> 6) != 1)
        return corrupt(err, "bad frame version", r->fpos);
    if (flg & 0x02)
        return corrupt(err, "reserved FLG bit set", r->fpos);
    if (flg & 0x01)
        return corrupt(err, "dictionary ID not supported", r->fpos);
    if (!(flg & FLG_CCHK))
        return corrupt(err, "no content checksum (FLG bit 2 clear)", r->fpos);
    if (bd & 0x8F)
        return corrupt(err, "reserved BD bits set", r->fpos + 1);
    if (id < 4)
        return corrupt(err, "bad block size ID", r->fpos + 1);
    r->flg = flg;
    r->bmax = (size_t)1 << (8 + 2 * id);
    r->state = R_HC; /* keep FLG BD in field[0..2) */
    r->need = 2 + (flg & FLG_CSIZE ? 8 : 0) + 1;
    return WS_OK;
}

static int on_hc(struct ws_lz4r *r, struct ws_err *err)
{
    size_t n = r->need - 1;
    uint8_t hc = (uint8_t)(ws_xxh32(r->field, n, 0) >> 8);

    if (hc != r->field[n])
        return mismatch(err, "header checksum", r->fpos + n, hc, r->field[n]);
    if (r->flg & FLG_CSIZE)
        r->csize = get32(r->field + 2) | (uint64_t)get32(r->field + 6) << 32;
    if (r->scan)
        return expect(r, R_BSIZE, 4);
    r->histcap = r->flg & FLG_INDEP ? 0 : HIST;
    r->cbuf = malloc(r->bmax);
    r->dbuf = malloc(r->histcap + r->bmax);
    if (r->cbuf == NULL || r->dbuf == NULL)
        return ws_err_set(err, WS_ENOMEM,
                          "lz4: out of memory for %zu-byte "
                          "blocks at byte %llu",
                          r->bmax, (unsigned long long)r->fpos);
    ws_xxh32_init(&r->xs, 0);
    return expect(r, R_BSIZE, 4);
}

static int end_frame(struct ws_lz4r *r, struct ws_err *err)
{
    if (!r->scan && (r->flg & FLG_CSIZE) && r->frame_out != r->csize)
        return mismatch(err, "content size", r->fpos, r->frame_out, r->csize);
    r->seen = 1;
    return expect(r, R_MAGIC, 4);
}

static int on_bsize(struct ws_lz4r *r, struct ws_err *err)
{
    uint32_t v = get32(r->field);

    if (v == 0)
        return expect(r, R_CCHK, 4);
    r->bpos = r->fpos;
    r->bsize = v & 0x7FFFFFFFu;
    r->raw = (int)(v >> 31);
    if (r->bsize > r->bmax)
        return ws_err_set(err, WS_ECORRUPT,
                          "lz4: block size %lu exceeds "
                          "maximum %zu at byte %llu",
                          (unsigned long)r->bsize, r->bmax,
                          (unsigned long long)r->fpos);
    return expect(r, R_BDATA, r->bsize);
}

/* Decode the stored block in cbuf into *out, *n bytes. */
static int decode(struct ws_lz4r *r, const uint8_t **out, size_t *n,
                  struct ws_err *err)
{
    uint8_t *dst = r->dbuf + r->histcap;
    int k;

    if (r->histcap > 0) { /* slide the window: last HIST bytes of output */
        size_t keep = r->hist + r->prevn < HIST ? r->hist + r->prevn : HIST;

        memmove(dst - keep, dst + r->prevn - keep, keep);
        r->hist = keep;
    }
    if (r->raw && r->histcap == 0) {
        *out = r->cbuf;
        *n = r->bsize;
        return WS_OK;
    }
    if (r->raw) {
        memcpy(dst, r->cbuf, r->bsize);
        k = (int)r->bsize;
    } else {
        k = LZ4_decompress_safe_usingDict(
            (const char *)r->cbuf, (char *)dst, (int)r->bsize, (int)r->bmax,
            (const char *)dst - r->hist, (int)r->hist);
        if (k < 0)
            return corrupt(err, "bad compressed block", r->bpos);
    }
    r->prevn = (size_t)k;
    *out = dst;
    *n = (size_t)k;
    return WS_OK;
}

static int on_block(struct ws_lz4r *r, struct ws_err *err)
{
    const uint8_t *out = NULL;
    size_t n = 0;
    int rc;

    if (r->state == R_BDATA && (r->flg & FLG_BCHK))
        return expect(r, R_BCHK, 4);
    if (r->scan)
        return expect(r, R_BSIZE, 4);
    if (r->state == R_BCHK) {
        uint32_t got = ws_xxh32(r->cbuf, r->bsize, 0);

        if (got != get32(r->field))
            return mismatch(err, "block checksum", r->fpos, got,
                            get32(r->field));
    }
    rc = decode(r, &out, &n, err);
    if (rc != WS_OK)
        return rc;
    if ((r->flg & FLG_CSIZE) && n > r->csize - r->frame_out)
        return corrupt(err, "output exceeds declared content size", r->bpos);
    if (r->max_out > 0 && n > r->max_out - r->total_out)
        return ws_err_set(err, WS_ECORRUPT,
                          "lz4: output exceeds limit of "
                          "%llu bytes at byte %llu",
                          (unsigned long long)r->max_out,
                          (unsigned long long)r->bpos);
    ws_xxh32_update(&r->xs, out, n);
    r->frame_out += n;
    r->total_out += n;
    expect(r, R_BSIZE, 4);
    return n > 0 ? r->sink(r->ctx, out, n, err) : WS_OK;
}

static int step(struct ws_lz4r *r, struct ws_err *err)
{
    uint32_t got;

    switch (r->state) {
    case R_MAGIC:
        return on_magic(r, err);
    case R_SKIPLEN:
        return expect(r, R_SKIP, get32(r->field));
    case R_SKIP:
        return expect(r, R_MAGIC, 4);
    case R_FLGBD:
        return on_flgbd(r, err);
    case R_HC:
        return on_hc(r, err);
    case R_BSIZE:
        return on_bsize(r, err);
    case R_BDATA:
    case R_BCHK:
        return on_block(r, err);
    case R_CCHK:
        if (r->scan)
            return end_frame(r, err);
        got = ws_xxh32_digest(&r->xs);
        if (got != get32(r->field))
            return mismatch(err, "content checksum", r->fpos, got,
                            get32(r->field));
        return end_frame(r, err);
    }
    return corrupt(err, "internal state error", r->pos);
}

int ws_lz4r_write(struct ws_lz4r *r, const void *buf, size_t len,
                  struct ws_err *err)
{
    const uint8_t *p = buf;

    if (r->rc != WS_OK)
        return ws_err_set(err, r->rc, "lz4: reader failed earlier");
    if (r->finished)
        return ws_err_set(err, WS_EUSAGE, "lz4: write after finish");
    /* A zero-need state (empty block or skippable frame) steps at once. */
    while (len > 0 || r->have == r->need) {
        size_t n = r->need - r->have;
        uint8_t *dst = r->state == R_BDATA ? r->cbuf : r->field;

        if (n > len)
            n = len;
        if (r->state != R_SKIP && !(r->scan && r->state == R_BDATA) &&
            n > 0)
            memcpy(dst + r->have, p, n);
        r->have += n;
        r->pos += n;
        p += n;
        len -= n;
        if (r->have == r->need) {
            int rc = step(r, err);

            if (rc != WS_OK)
                return r->rc = rc;
        }
    }
    return WS_OK;
}

int ws_lz4r_finish(struct ws_lz4r *r, struct ws_err *err)
{
    if (r->rc != WS_OK)
        return ws_err_set(err, r->rc, "lz4: reader failed earlier");
    r->finished = 1;
    if (r->state == R_MAGIC && r->have == 0 && r->seen)
        return WS_OK;
    if (r->state == R_MAGIC && r->have == 0)
        r->rc = corrupt(err, "no data frame, input ends", r->pos);
    else if (r->state == R_MAGIC && r->seen)
        r->rc = corrupt(err, "trailing garbage after frame", r->fpos);
    else {
        r->cut = 1;
        r->rc = ws_err_set(err, WS_ECORRUPT,
                           "lz4: truncated input in %s "
                           "at byte %llu (%zu of %zu bytes)",
                           rstate_name[r->state], (unsigned long long)r->pos,
                           r->have, r->need);
    }
    return r->rc;
}

int ws_lz4r_cut_short(const struct ws_lz4r *r)
{
    return r->cut;
}

uint64_t ws_lz4_max_output(uint64_t compressed)
{
    return compressed > UINT64_MAX / 255 ? UINT64_MAX : compressed * 255;
}

uint64_t ws_lz4r_total_out(const struct ws_lz4r *r)
{
    return r->total_out;
}

void ws_lz4r_free(struct ws_lz4r *r)
{
    if (r == NULL)
        return;
    free(r->cbuf);
    free(r->dbuf);
    free(r);
}
