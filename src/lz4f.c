/*
 * lz4f.c: the LZ4 frame writer over liblz4's block codec, and the
 * one-shot helpers (lz4f.h has the frame layout; lz4f_read.c reads).
 *
 * The writer always emits 64 70 B9, blocks of at most WS_LZ4_BLOCK input
 * bytes, the end mark and the content checksum.  It holds one input
 * block and one output block (4 + LZ4_compressBound(WS_LZ4_BLOCK)) per
 * slot: one slot, or two per compressing thread (see below).
 */
#include "ws/lz4f.h"

#include <lz4.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
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
    struct ws_xxh32 xs; /* over all input */
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
    ws_xxh32_init(&w->xs, 0);
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

    ws_xxh32_update(&w->xs, s->in, s->inlen);
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
    put32(tail + 4, ws_xxh32_digest(&w->xs));
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
