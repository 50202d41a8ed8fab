/*
 * lz4f.c: the LZ4 frame layer over liblz4's block codec, plus xxHash32.
 *
 * A frame, all integers little-endian (lz4 doc/lz4_Frame_format.md):
 *
 *   magic 04 22 4D 18 | FLG | BD | [content size u64] | HC
 *   { block size u32 | data | [block checksum u32] } ...
 *   end mark 00 00 00 00 | [content checksum u32]
 *
 *   FLG  bits 7-6 version (01), 5 block independence, 4 block checksum,
 *        3 content size, 2 content checksum, 1 reserved (0), 0 dictID.
 *   BD   bit 7 reserved, bits 6-4 block max ID (4..7 = 64K..4M),
 *        bits 3-0 reserved.
 *   HC   (xxh32(FLG .. end of descriptor, seed 0) >> 8) & 0xFF.
 *   A block size with bit 31 set is stored raw.  The block checksum is the
 *   xxh32 of the stored bytes, the content checksum that of all output.
 *   Skippable frames: magic 0x184D2A50..5F, u32 size, size bytes.
 *
 * The writer always emits 64 70 B9, blocks of at most WS_LZ4_BLOCK input
 * bytes, the end mark and the content checksum.  It holds one input
 * block and one output block (4 + LZ4_compressBound(WS_LZ4_BLOCK)) per
 * slot: one slot, or two per compressing thread (see "writer" below).
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
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC 0x184D2204u
#define SKIP_MAGIC 0x184D2A50u /* low 4 bits free */
#define HIST (64 * 1024)       /* LZ4 window, for linked blocks */

#define P1 0x9E3779B1u
#define P2 0x85EBCA77u
#define P3 0xC2B2AE3Du
#define P4 0x27D4EB2Fu
#define P5 0x165667B1u

#define FLG_INDEP 0x20
#define FLG_BCHK 0x10
#define FLG_CSIZE 0x08
#define FLG_CCHK 0x04

struct xxh32 {
    uint32_t v[4];
    uint8_t mem[16]; /* input not yet consumed by a 16-byte stripe */
    size_t memlen;
    uint64_t total;
    uint32_t seed;
};

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t rotl(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

static uint32_t round32(uint32_t acc, const uint8_t *p)
{
    return rotl(acc + get32(p) * P2, 13) * P1;
}

static void xxh_init(struct xxh32 *s, uint32_t seed)
{
    memset(s, 0, sizeof(*s));
    s->seed = seed;
    s->v[0] = seed + P1 + P2;
    s->v[1] = seed + P2;
    s->v[2] = seed;
    s->v[3] = seed - P1;
}

static void xxh_update(struct xxh32 *s, const uint8_t *p, size_t len)
{
    s->total += len;
    if (s->memlen + len < 16) {
        if (len > 0)
            memcpy(s->mem + s->memlen, p, len);
        s->memlen += len;
        return;
    }
    if (s->memlen > 0) {
        size_t n = 16 - s->memlen;

        memcpy(s->mem + s->memlen, p, n);
        for (int i = 0; i < 4; i++)
            s->v[i] = round32(s->v[i], s->mem + 4 * i);
        p += n;
        len -= n;
        s->memlen = 0;
    }
    for (; len >= 16; p += 16, len -= 16)
        for (int i = 0; i < 4; i++)
            s->v[i] = round32(s->v[i], p + 4 * i);
    memcpy(s->mem, p, len);
    s->memlen = len;
}

static uint32_t xxh_digest(const struct xxh32 *s)
{
    const uint8_t *p = s->mem, *end = s->mem + s->memlen;
    uint32_t h;

    if (s->total >= 16)
        h = rotl(s->v[0], 1) + rotl(s->v[1], 7) + rotl(s->v[2], 12) +
            rotl(s->v[3], 18);
    else
        h = s->seed + P5;
    h += (uint32_t)s->total;
    for (; end - p >= 4; p += 4)
        h = rotl(h + get32(p) * P3, 17) * P4;
    for (; p < end; p++)
        h = rotl(h + *p * P5, 11) * P1;
    h ^= h >> 15;
    h *= P2;
    h ^= h >> 13;
    h *= P3;
    h ^= h >> 16;
    return h;
}

uint32_t ws_xxh32(const void *buf, size_t len, uint32_t seed)
{
    struct xxh32 s;

    xxh_init(&s, seed);
    xxh_update(&s, buf, len);
    return xxh_digest(&s);
}

/* ---- writer ---- */

/*
 * Blocks are independent (FLG bit 5), so each can be compressed on its
 * own thread; only the content checksum and the order of the output are
 * sequential.  The writer keeps a ring of slots, each one input block and
 * its compressed form.  The caller's thread fills the slot after the
 * last one in use, hashes it (xxh32 must see the input in order) and
 * queues it; worker threads compress queued slots, oldest first; the
 * caller emits finished slots from the oldest on, so the sink sees the
 * blocks in order and only ever on the caller's thread.  When the caller
 * must wait for the oldest slot, it compresses a queued one itself
 * rather than sleep.  With no workers there is one slot and the caller
 * does everything: the output is the same bytes either way.
 */
enum slotstate { S_FREE, S_QUEUED, S_BUSY, S_DONE };

struct slot {
    uint8_t *in; /* WS_LZ4_BLOCK bytes of input */
    size_t inlen;
    uint8_t *out; /* 4-byte block size + compressed block */
    size_t outlen;
    enum slotstate state;
};

struct ws_lz4w {
    ws_sink_fn sink;
    void *ctx;
    struct xxh32 xs; /* over all input */
    uint64_t total_in;
    uint64_t total_out;
    int started; /* header emitted */
    int finished;
    int rc; /* sticky sink error */
    /* The ring: slots [head, head + used) are queued, being compressed
     * or done, oldest first; slot (head + used) % nslots is filling. */
    struct slot *slots;
    size_t nslots, head, used;
    pthread_t *threads;
    int nthreads; /* workers started */
    int want;     /* workers to start with the second block */
    int stop;     /* workers: exit */
    pthread_mutex_t mu;
    pthread_cond_t queued; /* a slot was queued, or stop */
    pthread_cond_t done;   /* a slot was compressed */
};

static void compress_slot(struct slot *s)
{
    int n =
        LZ4_compress_default((const char *)s->in, (char *)s->out + 4,
                             (int)s->inlen, LZ4_compressBound((int)s->inlen));

    if (n > 0 && (size_t)n < s->inlen) {
        put32(s->out, (uint32_t)n);
    } else {
        n = (int)s->inlen;
        put32(s->out, (uint32_t)n | 0x80000000u);
        memcpy(s->out + 4, s->in, s->inlen);
    }
    s->outlen = 4 + (size_t)n;
}

/* The oldest queued slot, or NULL (with mu held). */
static struct slot *oldest_queued(struct ws_lz4w *w)
{
    for (size_t i = 0; i < w->used; i++) {
        struct slot *s = &w->slots[(w->head + i) % w->nslots];
        if (s->state == S_QUEUED)
            return s;
    }
    return NULL;
}

/* Compress s, queued, outside the lock (with mu held on entry and
 * exit). */
static void compress_locked(struct ws_lz4w *w, struct slot *s)
{
    s->state = S_BUSY;
    pthread_mutex_unlock(&w->mu);
    compress_slot(s);
    pthread_mutex_lock(&w->mu);
    s->state = S_DONE;
}

static void *worker(void *arg)
{
    struct ws_lz4w *w = arg;
    struct slot *s;

    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        s = oldest_queued(w);
        if (s == NULL) {
            pthread_cond_wait(&w->queued, &w->mu);
            continue;
        }
        compress_locked(w, s);
        pthread_cond_signal(&w->done);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct ws_lz4w *ws_lz4w_new(ws_sink_fn sink, void *ctx)
{
    return ws_lz4w_new_mt(sink, ctx, 0);
}

struct ws_lz4w *ws_lz4w_new_mt(ws_sink_fn sink, void *ctx, int nthreads)
{
    struct ws_lz4w *w = calloc(1, sizeof(*w));
    size_t bound = 4 + (size_t)LZ4_compressBound(WS_LZ4_BLOCK);

    if (w == NULL)
        return NULL;
    if (nthreads < 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN) - 1;
        nthreads = n < 0                    ? 0
                   : n > WS_LZ4_MAX_THREADS ? WS_LZ4_MAX_THREADS
                                            : (int)n;
    }
    if (nthreads > WS_LZ4_MAX_THREADS)
        nthreads = WS_LZ4_MAX_THREADS;
    w->sink = sink;
    w->ctx = ctx;
    xxh_init(&w->xs, 0);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->queued, NULL);
    pthread_cond_init(&w->done, NULL);
    /* Two slots per compressing thread keep each busy while the caller
     * hashes and emits. */
    w->nslots = nthreads > 0 ? 2 * ((size_t)nthreads + 1) : 1;
    w->slots = calloc(w->nslots, sizeof(*w->slots));
    w->threads = calloc((size_t)nthreads + 1, sizeof(*w->threads));
    if (w->slots == NULL || w->threads == NULL) {
        ws_lz4w_free(w);
        return NULL;
    }
    for (size_t i = 0; i < w->nslots; i++) {
        w->slots[i].in = malloc(WS_LZ4_BLOCK);
        w->slots[i].out = malloc(bound);
        if (w->slots[i].in == NULL || w->slots[i].out == NULL) {
            ws_lz4w_free(w);
            return NULL;
        }
    }
    w->want = nthreads;
    return w;
}

static int emit(struct ws_lz4w *w, const uint8_t *buf, size_t len,
                struct ws_err *err)
{
    int rc = w->sink(w->ctx, buf, len, err);

    if (rc != WS_OK)
        return w->rc = rc;
    w->total_out += len;
    return WS_OK;
}

static int start(struct ws_lz4w *w, struct ws_err *err)
{
    uint8_t hdr[7] = {0x04, 0x22, 0x4D, 0x18, 0x64, 0x70, 0};

    if (w->rc != WS_OK)
        return ws_err_set(err, w->rc, "lz4: writer failed earlier");
    if (w->finished)
        return ws_err_set(err, WS_EUSAGE, "lz4: writer already finished");
    if (w->started)
        return WS_OK;
    w->started = 1;
    hdr[6] = (uint8_t)(ws_xxh32(hdr + 4, 2, 0) >> 8);
    return emit(w, hdr, sizeof(hdr), err);
}

/* Emit the done slots from the oldest on, waiting (and compressing on
 * this thread) until at most max_used slots are in use. */
static int drain(struct ws_lz4w *w, size_t max_used, struct ws_err *err)
{
    int rc = WS_OK;

    pthread_mutex_lock(&w->mu);
    while (rc == WS_OK) {
        struct slot *h = &w->slots[w->head], *q;
        if (w->used > 0 && h->state == S_DONE) {
            /* Workers never touch a done slot: emit it unlocked. */
            pthread_mutex_unlock(&w->mu);
            rc = emit(w, h->out, h->outlen, err);
            pthread_mutex_lock(&w->mu);
            h->state = S_FREE;
            h->inlen = 0;
            w->head = (w->head + 1) % w->nslots;
            w->used--;
        } else if (w->used <= max_used) {
            break;
        } else if ((q = oldest_queued(w)) != NULL) {
            compress_locked(w, q);
        } else {
            pthread_cond_wait(&w->done, &w->mu);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* Queue the filling slot (hashing its input first), then make sure the
 * next one is free. */
static int submit(struct ws_lz4w *w, struct ws_err *err)
{
    struct slot *s = &w->slots[(w->head + w->used) % w->nslots];

    xxh_update(&w->xs, s->in, s->inlen);
    /* Workers start with a second block: an object of one block (most
     * of them) costs no thread.  Fewer workers than asked, or none,
     * still give the same output. */
    while (w->used > 0 && w->nthreads < w->want &&
           pthread_create(&w->threads[w->nthreads], NULL, worker, w) == 0)
        w->nthreads++;
    if (w->used > 0)
        w->want = 0;
    pthread_mutex_lock(&w->mu);
    s->state = S_QUEUED;
    w->used++;
    pthread_cond_signal(&w->queued);
    pthread_mutex_unlock(&w->mu);
    return drain(w, w->nslots - 1, err);
}

int ws_lz4w_write(struct ws_lz4w *w, const void *buf, size_t len,
                  struct ws_err *err)
{
    const uint8_t *p = buf;
    int rc = start(w, err);

    while (rc == WS_OK && len > 0) {
        struct slot *s = &w->slots[(w->head + w->used) % w->nslots];
        size_t n = WS_LZ4_BLOCK - s->inlen;

        if (n > len)
            n = len;
        memcpy(s->in + s->inlen, p, n);
        s->inlen += n;
        w->total_in += n;
        p += n;
        len -= n;
        if (s->inlen == WS_LZ4_BLOCK)
            rc = submit(w, err);
    }
    return rc;
}

int ws_lz4w_finish(struct ws_lz4w *w, struct ws_err *err)
{
    uint8_t tail[8] = {0};
    int rc = start(w, err);

    if (rc == WS_OK && w->slots[(w->head + w->used) % w->nslots].inlen > 0)
        rc = submit(w, err);
    if (rc == WS_OK)
        rc = drain(w, 0, err);
    if (rc != WS_OK)
        return rc;
    w->finished = 1;
    put32(tail + 4, xxh_digest(&w->xs));
    return emit(w, tail, sizeof(tail), err);
}

uint64_t ws_lz4w_total_in(const struct ws_lz4w *w)
{
    return w->total_in;
}

uint64_t ws_lz4w_total_out(const struct ws_lz4w *w)
{
    return w->total_out;
}

void ws_lz4w_free(struct ws_lz4w *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->queued);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    for (size_t i = 0; w->slots && i < w->nslots; i++) {
        free(w->slots[i].in);
        free(w->slots[i].out);
    }
    free(w->slots);
    free(w->threads);
    pthread_cond_destroy(&w->queued);
    pthread_cond_destroy(&w->done);
    pthread_mutex_destroy(&w->mu);
    free(w);
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
    struct xxh32 xs; /* over this frame's output */
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
    xxh_init(&r->xs, 0);
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
    xxh_update(&r->xs, out, n);
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
        got = xxh_digest(&r->xs);
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

/* ---- one-shot helpers ---- */

struct membuf {
    uint8_t *p;
    size_t len, cap;
};

static int mem_sink(void *ctx, const void *buf, size_t len, struct ws_err *err)
{
    struct membuf *m = ctx;

    if (len > m->cap - m->len) {
        size_t cap = m->cap > 0 ? m->cap : 4096;
        uint8_t *p;

        while (len > cap - m->len) {
            if (cap > SIZE_MAX / 2)
                return ws_err_set(err, WS_ENOMEM, "lz4: output too large");
            cap *= 2;
        }
        p = realloc(m->p, cap);
        if (p == NULL)
            return ws_err_set(err, WS_ENOMEM, "lz4: out of memory");
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->len, buf, len);
    m->len += len;
    return WS_OK;
}

/* Hand over m's bytes (never NULL) on success, free them on failure. */
static int mem_done(struct membuf *m, int rc, uint8_t **out, size_t *outlen,
                    struct ws_err *err)
{
    if (rc == WS_OK && m->p == NULL) {
        m->p = malloc(1);
        if (m->p == NULL)
            rc = ws_err_set(err, WS_ENOMEM, "lz4: out of memory");
    }
    if (rc != WS_OK) {
        free(m->p);
        return rc;
    }
    *out = m->p;
    *outlen = m->len;
    return WS_OK;
}

int ws_lz4_compress_mem(const void *in, size_t len, uint8_t **out,
                        size_t *outlen, struct ws_err *err)
{
    struct membuf m = {NULL, 0, 0};
    struct ws_lz4w *w = ws_lz4w_new(mem_sink, &m);
    int rc = WS_ENOMEM;

    if (w == NULL)
        return ws_err_set(err, rc, "lz4: out of memory");
    rc = ws_lz4w_write(w, in, len, err);
    if (rc == WS_OK)
        rc = ws_lz4w_finish(w, err);
    ws_lz4w_free(w);
    return mem_done(&m, rc, out, outlen, err);
}

int ws_lz4_decompress_mem(const void *in, size_t len, uint64_t max_out,
                          uint8_t **out, size_t *outlen, struct ws_err *err)
{
    struct membuf m = {NULL, 0, 0};
    struct ws_lz4r *r = ws_lz4r_new(mem_sink, &m, max_out);
    int rc = WS_ENOMEM;

    if (r == NULL)
        return ws_err_set(err, rc, "lz4: out of memory");
    rc = ws_lz4r_write(r, in, len, err);
    if (rc == WS_OK)
        rc = ws_lz4r_finish(r, err);
    ws_lz4r_free(r);
    return mem_done(&m, rc, out, outlen, err);
}
