/*
 * times.c: commit-time records (see times.h).
 */
#include "ws/times.h"
#include "ws/wal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAGIC "WSTIMES1"
#define MAGIC_LEN 8
#define REC_SIZE 24

int ws_tlist_add(struct ws_tlist *l, const struct ws_tpoint *p)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        struct ws_tpoint *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return WS_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *p;
    return WS_OK;
}

void ws_tlist_free(struct ws_tlist *l)
{
    free(l->v);
    memset(l, 0, sizeof(*l));
}

int ws_key_times(char *buf, size_t n, const char *gen,
                 const struct ws_tpoint *v, size_t nv)
{
    struct ws_timesinfo t = {0};

    if (nv == 0 || nv > UINT32_MAX ||
        (v[0].kind != WS_T_COMMIT && nv != 1))
        return WS_EUSAGE;
    t.snapshot = v[0].kind != WS_T_COMMIT;
    t.image = v[0].kind == WS_T_IMAGE;
    t.index = v[0].index;
    t.offset = v[0].offset;
    t.time_us = v[0].time_us;
    t.last_index = v[nv - 1].index;
    t.count = (uint32_t)nv;
    return ws_key_times_of(buf, n, gen, &t);
}

static void put_be64(uint8_t *p, uint64_t v)
{
    ws_put_be32(p, (uint32_t)(v >> 32));
    ws_put_be32(p + 4, (uint32_t)v);
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)ws_get_be32(p) << 32 | ws_get_be32(p + 4);
}

int ws_times_encode(const struct ws_tpoint *v, size_t n, ws_sink_fn sink,
                    void *ctx, struct ws_err *err)
{
    struct ws_lz4w *w = ws_lz4w_new(sink, ctx);
    uint8_t rec[REC_SIZE];
    int rc;

    if (w == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = ws_lz4w_write(w, MAGIC, MAGIC_LEN, err);
    for (size_t i = 0; rc == WS_OK && i < n; i++) {
        ws_put_be32(rec, v[i].index);
        ws_put_be32(rec + 4, v[i].kind);
        put_be64(rec + 8, v[i].offset);
        put_be64(rec + 16, (uint64_t)v[i].time_us);
        rc = ws_lz4w_write(w, rec, sizeof(rec), err);
    }
    if (rc == WS_OK)
        rc = ws_lz4w_finish(w, err);
    ws_lz4w_free(w);
    return rc;
}

int ws_times_decode(const uint8_t *buf, size_t len, struct ws_tlist *out,
                    struct ws_err *err)
{
    if (len < MAGIC_LEN || memcmp(buf, MAGIC, MAGIC_LEN) != 0)
        return ws_err_set(err, WS_ECORRUPT, "not a times object (bad magic)");
    if ((len - MAGIC_LEN) % REC_SIZE != 0)
        return ws_err_set(err, WS_ECORRUPT, "times object: %zu bytes is not "
                          "a whole number of records", len);
    for (size_t off = MAGIC_LEN; off < len; off += REC_SIZE) {
        const uint8_t *r = buf + off;
        struct ws_tpoint p;
        p.index = ws_get_be32(r);
        p.kind = ws_get_be32(r + 4);
        p.offset = get_be64(r + 8);
        p.time_us = (int64_t)get_be64(r + 16);
        if ((p.kind != WS_T_COMMIT && p.kind != WS_T_SNAPSHOT &&
             p.kind != WS_T_IMAGE) ||
            p.time_us <= 0 || p.index > WS_MAX_INDEX ||
            (p.kind == WS_T_COMMIT && p.offset <= WS_WAL_HDR_SIZE))
            return ws_err_set(err, WS_ECORRUPT, "times object: bad record "
                              "at byte %zu", off);
        if (ws_tlist_add(out, &p) != WS_OK)
            return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    return WS_OK;
}

static int cmp_point(const void *a, const void *b)
{
    const struct ws_tpoint *x = a, *y = b;

    if (x->index != y->index)
        return (x->index > y->index) - (x->index < y->index);
    if (x->offset != y->offset)
        return (x->offset > y->offset) - (x->offset < y->offset);
    if (x->kind != y->kind)
        return (x->kind > y->kind) - (x->kind < y->kind);
    return (x->time_us > y->time_us) - (x->time_us < y->time_us);
}

void ws_tlist_sort(struct ws_tlist *l)
{
    size_t k = 0;

    if (l->n < 2)
        return;
    qsort(l->v, l->n, sizeof(*l->v), cmp_point);
    for (size_t i = 1; i < l->n; i++)
        if (cmp_point(&l->v[k], &l->v[i]) != 0)
            l->v[++k] = l->v[i];
    l->n = k + 1;
}

int64_t ws_wall_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
