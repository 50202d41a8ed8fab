/*
 * layout.c: replica object names and listings (see layout.h).
 */
#include "ws/layout.h"
#include "ws/wal.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int ws_objlist_add(struct ws_objlist *l, const char *key, uint64_t size,
                   int64_t mtime_ms)
{
    if (l->n >= (l->max ? l->max : WS_LIST_MAX_KEYS))
        return WS_ERANGE;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct ws_obj *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return WS_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].key = strdup(key);
    if (l->v[l->n].key == NULL)
        return WS_ENOMEM;
    l->v[l->n].size = size;
    l->v[l->n].mtime_ms = mtime_ms;
    l->n++;
    return WS_OK;
}

void ws_objlist_free(struct ws_objlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].key);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

void ws_objlist_skip(struct ws_objlist *l, const char *key,
                     const char *what)
{
    if (l->nskipped++ == 0)
        snprintf(l->skipped, sizeof(l->skipped), "%s (%s)", key, what);
}

static int is_lhex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int ws_gen_valid(const char *s)
{
    size_t i;

    for (i = 0; i < WS_GEN_LEN; i++)
        if (!is_lhex(s[i]))
            return 0;
    return s[i] == '\0';
}

static int key_fmt(size_t n, int len)
{
    return len < 0 || (size_t)len >= n ? WS_EUSAGE : WS_OK;
}

int ws_key_gen(char *buf, size_t n, const char *gen)
{
    if (gen == NULL || gen[0] == '\0')
        return WS_EUSAGE;
    return key_fmt(n, snprintf(buf, n, "generations/%s", gen));
}

int ws_key_snapshot(char *buf, size_t n, const char *gen, uint32_t index)
{
    if (gen == NULL || gen[0] == '\0')
        return WS_EUSAGE;
    return key_fmt(n,
                   snprintf(buf, n, "generations/%s/snapshots/%08x.snapshot.lz4",
                            gen, index));
}

int ws_key_wal(char *buf, size_t n, const char *gen, uint32_t index,
               uint64_t offset)
{
    if (gen == NULL || gen[0] == '\0')
        return WS_EUSAGE;
    return key_fmt(n,
                   snprintf(buf, n, "generations/%s/wal/%08x_%08llx.wal.lz4",
                            gen, index, (unsigned long long)offset));
}

int ws_key_times_of(char *buf, size_t n, const char *gen,
                    const struct ws_timesinfo *t)
{
    if (gen == NULL || gen[0] == '\0')
        return WS_EUSAGE;
    if (t->snapshot)
        return key_fmt(n, snprintf(buf, n,
                                   "generations/%s/walship/snapshots/%08x_"
                                   "%08llx_%016llx.%s.lz4",
                                   gen, t->index,
                                   (unsigned long long)t->offset,
                                   (unsigned long long)t->time_us,
                                   t->image ? "image" : "times"));
    return key_fmt(n, snprintf(buf, n,
                               "generations/%s/walship/times/%08x_%08llx_"
                               "%016llx-%08x_%08x.times.lz4",
                               gen, t->index, (unsigned long long)t->offset,
                               (unsigned long long)t->time_us,
                               t->last_index, t->count));
}

int ws_key_index_of(char *buf, size_t n, const char *gen,
                    const struct ws_idxinfo *x)
{
    if (gen == NULL || gen[0] == '\0')
        return WS_EUSAGE;
    return key_fmt(n, snprintf(buf, n,
                               "generations/%s/walship/index/%08x_%016llx_"
                               "%08x%08x_%08x%08x.index.lz4",
                               gen, x->index,
                               (unsigned long long)x->prev_size,
                               x->prev_cksum[0], x->prev_cksum[1], x->salt1,
                               x->salt2));
}

int ws_key_digest_of(char *buf, size_t n, const char *gen,
                     const struct ws_diginfo *x)
{
    static const char hex[] = "0123456789abcdef";
    char d[2 * WS_DIGEST_LEN + 1];

    if (gen == NULL || gen[0] == '\0')
        return WS_EUSAGE;
    for (size_t i = 0; i < WS_DIGEST_LEN; i++) {
        d[2 * i] = hex[x->sha256[i] >> 4];
        d[2 * i + 1] = hex[x->sha256[i] & 15];
    }
    d[2 * WS_DIGEST_LEN] = '\0';
    return key_fmt(n, snprintf(buf, n,
                               "generations/%s/walship/snapshots/%08x_"
                               "%08llx_%016llx-%s.digest.lz4",
                               gen, x->index, (unsigned long long)x->offset,
                               (unsigned long long)x->time_us, d));
}

/* Parse exactly n lowercase hex digits (n <= 16). */
static int hexn(const char *s, int n, uint64_t *v)
{
    uint64_t x = 0;

    for (int i = 0; i < n; i++) {
        char c = s[i];
        if (!is_lhex(c))
            return 0;
        x = x << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    *v = x;
    return 1;
}

static int hex8(const char *s, uint32_t *v)
{
    uint64_t x;

    if (!hexn(s, 8, &x))
        return 0;
    *v = (uint32_t)x;
    return 1;
}

/* The generation part of "generations/<gen>/...": the rest, or NULL. */
static const char *key_gen(const char *key, char gen[WS_GEN_LEN + 1])
{
    const char *p = key;

    if (strncmp(p, "generations/", 12) != 0)
        return NULL;
    p += 12;
    for (int i = 0; i < WS_GEN_LEN; i++)
        if (!is_lhex(p[i]))
            return NULL;
    if (p[WS_GEN_LEN] != '/')
        return NULL;
    memcpy(gen, p, WS_GEN_LEN);
    gen[WS_GEN_LEN] = '\0';
    return p + WS_GEN_LEN + 1;
}

/* "<index hex8>_<offset hex8>_<time hex16>", a time after the epoch:
 * the rest of p, or NULL. */
static const char *parse_pos(const char *p, uint32_t *index,
                             uint64_t *offset, int64_t *time_us)
{
    uint64_t tm, off;

    if (!hex8(p, index) || p[8] != '_' || !hexn(p + 9, 8, &off) ||
        p[17] != '_' || !hexn(p + 18, 16, &tm) || tm == 0 ||
        tm > INT64_MAX)
        return NULL;
    *offset = off;
    *time_us = (int64_t)tm;
    return p + 34;
}

int ws_key_parse_times(const char *key, char gen[WS_GEN_LEN + 1],
                       struct ws_timesinfo *t)
{
    const char *p = key_gen(key, gen);

    if (p == NULL || strncmp(p, "walship/", 8) != 0)
        return 0;
    p += 8;
    t->image = 0;
    if (strncmp(p, "snapshots/", 10) == 0) {
        t->snapshot = 1;
        p += 10;
    } else if (strncmp(p, "times/", 6) == 0) {
        t->snapshot = 0;
        p += 6;
    } else {
        return 0;
    }
    p = parse_pos(p, &t->index, &t->offset, &t->time_us);
    if (p == NULL)
        return 0;
    if (t->snapshot) {
        t->last_index = t->index;
        t->count = 1;
        t->image = strcmp(p, ".image.lz4") == 0;
        return t->image || strcmp(p, ".times.lz4") == 0;
    }
    return p[0] == '-' && hex8(p + 1, &t->last_index) && p[9] == '_' &&
           hex8(p + 10, &t->count) && strcmp(p + 18, ".times.lz4") == 0 &&
           t->last_index >= t->index && t->count > 0;
}

int ws_key_parse_index(const char *key, char gen[WS_GEN_LEN + 1],
                       struct ws_idxinfo *x)
{
    const char *p = key_gen(key, gen);
    uint64_t size, ck, salts;

    if (p == NULL || strncmp(p, "walship/index/", 14) != 0)
        return 0;
    p += 14;
    if (!hex8(p, &x->index) || p[8] != '_' || !hexn(p + 9, 16, &size) ||
        p[25] != '_' || !hexn(p + 26, 16, &ck) || p[42] != '_' ||
        !hexn(p + 43, 16, &salts) || strcmp(p + 59, ".index.lz4") != 0)
        return 0;
    x->prev_size = size;
    x->prev_cksum[0] = (uint32_t)(ck >> 32);
    x->prev_cksum[1] = (uint32_t)ck;
    x->salt1 = (uint32_t)(salts >> 32);
    x->salt2 = (uint32_t)salts;
    return x->index >= 1 && x->index <= WS_MAX_INDEX &&
           size >= WS_WAL_HDR_SIZE;
}

int ws_key_parse_digest(const char *key, char gen[WS_GEN_LEN + 1],
                        struct ws_diginfo *x)
{
    const char *p = key_gen(key, gen);
    uint64_t b;

    if (p == NULL || strncmp(p, "walship/snapshots/", 18) != 0)
        return 0;
    p = parse_pos(p + 18, &x->index, &x->offset, &x->time_us);
    if (p == NULL || p[0] != '-')
        return 0;
    for (size_t i = 0; i < WS_DIGEST_LEN; i++) {
        if (!hexn(p + 1 + 2 * i, 2, &b))
            return 0;
        x->sha256[i] = (uint8_t)b;
    }
    return strcmp(p + 1 + 2 * WS_DIGEST_LEN, ".digest.lz4") == 0;
}

enum ws_objkind ws_key_parse(const char *key, char gen[WS_GEN_LEN + 1],
                             uint32_t *index, uint64_t *offset)
{
    char g[WS_GEN_LEN + 1];
    const char *rest = key_gen(key, g);
    struct ws_timesinfo t;
    struct ws_idxinfo x;
    struct ws_diginfo d;
    uint32_t a, b;

    if (rest == NULL)
        return WS_OBJ_OTHER;
    if (ws_key_parse_times(key, gen, &t)) {
        *index = t.index;
        *offset = t.offset;
        return WS_OBJ_TIMES;
    }
    if (ws_key_parse_index(key, gen, &x)) {
        *index = x.index;
        *offset = 0;
        return WS_OBJ_INDEX;
    }
    if (ws_key_parse_digest(key, gen, &d)) {
        *index = d.index;
        *offset = d.offset;
        return WS_OBJ_DIGEST;
    }
    if (strncmp(rest, "snapshots/", 10) == 0) {
        rest += 10;
        if (!hex8(rest, &a) || strcmp(rest + 8, ".snapshot.lz4") != 0)
            return WS_OBJ_OTHER;
        memcpy(gen, g, sizeof(g));
        *index = a;
        *offset = 0;
        return WS_OBJ_SNAPSHOT;
    }
    if (strncmp(rest, "wal/", 4) == 0) {
        rest += 4;
        if (!hex8(rest, &a) || rest[8] != '_' || !hex8(rest + 9, &b) ||
            strcmp(rest + 17, ".wal.lz4") != 0)
            return WS_OBJ_OTHER;
        memcpy(gen, g, sizeof(g));
        *index = a;
        *offset = b;
        return WS_OBJ_WAL;
    }
    return WS_OBJ_OTHER;
}

static void gen_time(struct ws_geninfo *g, int64_t t)
{
    if (g->nsnaps + g->nsegs == 1 || t < g->created_ms)
        g->created_ms = t;
    if (g->nsnaps + g->nsegs == 1 || t > g->updated_ms)
        g->updated_ms = t;
}

/* -1, 0 or 1 as x is below, equal to or above y. */
#define CMP(x, y) (((x) > (y)) - ((x) < (y)))

static int cmp_snap(const void *a, const void *b)
{
    const struct ws_snapinfo *x = a, *y = b;
    return CMP(x->index, y->index);
}

static int cmp_seg(const void *a, const void *b)
{
    const struct ws_seginfo *x = a, *y = b;
    if (x->index != y->index)
        return CMP(x->index, y->index);
    return CMP(x->offset, y->offset);
}

static int cmp_times(const void *a, const void *b)
{
    const struct ws_timesinfo *x = a, *y = b;
    if (x->time_us != y->time_us)
        return CMP(x->time_us, y->time_us);
    if (x->index != y->index)
        return CMP(x->index, y->index);
    if (x->offset != y->offset)
        return CMP(x->offset, y->offset);
    if (x->snapshot != y->snapshot)
        return CMP(x->snapshot, y->snapshot);
    if (x->image != y->image)
        return CMP(x->image, y->image);
    if (x->last_index != y->last_index)
        return CMP(x->last_index, y->last_index);
    return CMP(x->count, y->count);
}

static int cmp_idx(const void *a, const void *b)
{
    const struct ws_idxinfo *x = a, *y = b;
    if (x->index != y->index)
        return CMP(x->index, y->index);
    if (x->prev_size != y->prev_size)
        return CMP(x->prev_size, y->prev_size);
    if (x->prev_cksum[0] != y->prev_cksum[0])
        return CMP(x->prev_cksum[0], y->prev_cksum[0]);
    if (x->prev_cksum[1] != y->prev_cksum[1])
        return CMP(x->prev_cksum[1], y->prev_cksum[1]);
    if (x->salt1 != y->salt1)
        return CMP(x->salt1, y->salt1);
    return CMP(x->salt2, y->salt2);
}

static int cmp_dig(const void *a, const void *b)
{
    const struct ws_diginfo *x = a, *y = b;
    if (x->index != y->index)
        return CMP(x->index, y->index);
    if (x->offset != y->offset)
        return CMP(x->offset, y->offset);
    if (x->time_us != y->time_us)
        return CMP(x->time_us, y->time_us);
    return memcmp(x->sha256, y->sha256, WS_DIGEST_LEN);
}

/* A listed data object, its name parsed once. */
struct parsed {
    const struct ws_obj *o;
    enum ws_objkind kind;
    uint32_t index;
    uint64_t offset;
};

/* By generation name ("generations/" is 12 bytes). */
static int cmp_parsed_gen(const void *a, const void *b)
{
    const struct parsed *x = a, *y = b;
    return memcmp(x->o->key + 12, y->o->key + 12, WS_GEN_LEN);
}

/* Fill g from the n objects of v, all of its generation.  WS_ENOMEM. */
static int gen_fill(struct ws_geninfo *g, const struct parsed *v, size_t n)
{
    size_t nsnap = 0, nseg = 0, ntimes = 0, nidx = 0, ndigs = 0;
    char gen[WS_GEN_LEN + 1];

    for (size_t i = 0; i < n; i++) {
        nsnap += v[i].kind == WS_OBJ_SNAPSHOT;
        nseg += v[i].kind == WS_OBJ_WAL;
        ntimes += v[i].kind == WS_OBJ_TIMES;
        nidx += v[i].kind == WS_OBJ_INDEX;
        ndigs += v[i].kind == WS_OBJ_DIGEST;
    }
    memcpy(g->name, v[0].o->key + 12, WS_GEN_LEN); /* n >= 1; calloc'd */
    g->snaps = nsnap ? malloc(nsnap * sizeof(*g->snaps)) : NULL;
    g->segs = nseg ? malloc(nseg * sizeof(*g->segs)) : NULL;
    g->times = ntimes ? malloc(ntimes * sizeof(*g->times)) : NULL;
    g->idx = nidx ? malloc(nidx * sizeof(*g->idx)) : NULL;
    g->digs = ndigs ? malloc(ndigs * sizeof(*g->digs)) : NULL;
    if ((nsnap && !g->snaps) || (nseg && !g->segs) || (ntimes && !g->times) ||
        (nidx && !g->idx) || (ndigs && !g->digs))
        return WS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct ws_obj *o = v[i].o;
        struct ws_timesinfo *t;
        struct ws_idxinfo *x;
        struct ws_diginfo *d;
        /* Records are not data: the generation's times stay those of
         * its data. */
        switch (v[i].kind) {
        case WS_OBJ_TIMES:
            t = &g->times[g->ntimes++];
            ws_key_parse_times(o->key, gen, t);
            t->size = o->size;
            t->mtime_ms = o->mtime_ms;
            continue;
        case WS_OBJ_INDEX:
            x = &g->idx[g->nidx++];
            ws_key_parse_index(o->key, gen, x);
            x->size = o->size;
            x->mtime_ms = o->mtime_ms;
            continue;
        case WS_OBJ_DIGEST:
            d = &g->digs[g->ndigs++];
            ws_key_parse_digest(o->key, gen, d);
            d->size = o->size;
            d->mtime_ms = o->mtime_ms;
            continue;
        case WS_OBJ_SNAPSHOT:
            g->snaps[g->nsnaps++] =
                (struct ws_snapinfo){v[i].index, o->size, o->mtime_ms};
            break;
        default:
            g->segs[g->nsegs++] = (struct ws_seginfo){
                v[i].index, v[i].offset, o->size, o->mtime_ms};
        }
        gen_time(g, o->mtime_ms);
    }
    if (g->nsnaps > 1)
        qsort(g->snaps, g->nsnaps, sizeof(*g->snaps), cmp_snap);
    if (g->nsegs > 1)
        qsort(g->segs, g->nsegs, sizeof(*g->segs), cmp_seg);
    if (g->ntimes > 1)
        qsort(g->times, g->ntimes, sizeof(*g->times), cmp_times);
    if (g->nidx > 1)
        qsort(g->idx, g->nidx, sizeof(*g->idx), cmp_idx);
    if (g->ndigs > 1)
        qsort(g->digs, g->ndigs, sizeof(*g->digs), cmp_dig);
    return WS_OK;
}

/* A listing may name an object twice (a store that repeats a page, say):
 * the same size and time twice is one object, kept once.  In the sorted
 * array v of *n elements of elem bytes, whose uint64_t size and int64_t
 * time are at osize and otime: drop such repeats, or return 1 with *bad
 * the first entry that repeats an object with another size or time. */
static int dedup(void *v, size_t *n, size_t elem,
                 int (*cmp)(const void *, const void *), size_t osize,
                 size_t otime, size_t *bad)
{
    char *p = v;
    size_t k = 1;

    for (size_t i = 1; i < *n; i++) {
        const char *a = p + i * elem, *b = p + (k - 1) * elem;
        if (cmp(a, b) != 0) {
            memmove(p + k++ * elem, a, elem);
        } else if (memcmp(a + osize, b + osize, sizeof(uint64_t)) != 0 ||
                   memcmp(a + otime, b + otime, sizeof(int64_t)) != 0) {
            *bad = i;
            return 1;
        }
    }
    *n = *n ? k : 0;
    return 0;
}

#define DEDUP(g, arr, n, type, cmp, bad)                                     \
    dedup((g)->arr, &(g)->n, sizeof(type), cmp, offsetof(type, size),       \
          offsetof(type, mtime_ms), bad)

/* Every array of g without repeats; 1 when one cannot be, with its key in
 * key[n]. */
static int gen_dedup(struct ws_geninfo *g, char *key, size_t n)
{
    size_t i;

    if (DEDUP(g, snaps, nsnaps, struct ws_snapinfo, cmp_snap, &i))
        return ws_key_snapshot(key, n, g->name, g->snaps[i].index) == WS_OK;
    if (DEDUP(g, segs, nsegs, struct ws_seginfo, cmp_seg, &i))
        return ws_key_wal(key, n, g->name, g->segs[i].index,
                          g->segs[i].offset) == WS_OK;
    if (DEDUP(g, times, ntimes, struct ws_timesinfo, cmp_times, &i))
        return ws_key_times_of(key, n, g->name, &g->times[i]) == WS_OK;
    if (DEDUP(g, idx, nidx, struct ws_idxinfo, cmp_idx, &i))
        return ws_key_index_of(key, n, g->name, &g->idx[i]) == WS_OK;
    if (DEDUP(g, digs, ndigs, struct ws_diginfo, cmp_dig, &i))
        return ws_key_digest_of(key, n, g->name, &g->digs[i]) == WS_OK;
    return 0;
}

#undef DEDUP

/*
 * In O(n log n): the data objects are sorted by generation name (the
 * listing's own order is not trusted), then each generation's objects,
 * counted first, go into arrays of their exact size, which are sorted.
 */
int ws_catalog_build(const struct ws_objlist *l, struct ws_catalog *cat,
                     struct ws_err *err)
{
    struct ws_catalog c = {0};
    struct parsed *v = malloc((l->n ? l->n : 1) * sizeof(*v));
    char gen[WS_GEN_LEN + 1], key[WS_KEY_MAX];
    size_t n = 0, i, j;
    int rc = WS_OK;

    if (v == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    c.nskipped = l->nskipped;
    memcpy(c.skipped, l->skipped, sizeof(c.skipped));
    for (i = 0; i < l->n; i++) {
        struct parsed *p = &v[n];
        p->o = &l->v[i];
        p->kind = ws_key_parse(p->o->key, gen, &p->index, &p->offset);
        if (p->kind == WS_OBJ_OTHER)
            c.nother++;
        else
            n++;
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_parsed_gen);
    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n && cmp_parsed_gen(&v[i], &v[j]) == 0; j++)
            ;
        c.ngens++;
    }
    c.gens = calloc(c.ngens ? c.ngens : 1, sizeof(*c.gens));
    if (c.gens == NULL)
        rc = WS_ENOMEM;
    for (i = 0, c.ngens = 0; rc == WS_OK && i < n; i = j) {
        for (j = i + 1; j < n && cmp_parsed_gen(&v[i], &v[j]) == 0; j++)
            ;
        rc = gen_fill(&c.gens[c.ngens++], v + i, j - i);
        if (rc == WS_OK && gen_dedup(&c.gens[c.ngens - 1], key, sizeof(key)))
            rc = ws_err_set(err, WS_ECORRUPT, "the listing names %s twice, "
                            "with different sizes or times", key);
    }
    free(v);
    if (rc == WS_ENOMEM)
        ws_err_set(err, rc, "out of memory");
    if (rc != WS_OK) {
        ws_catalog_free(&c);
        return rc;
    }
    *cat = c;
    return WS_OK;
}

/* Generations are sorted by name. */
const struct ws_geninfo *ws_catalog_find(const struct ws_catalog *cat,
                                         const char *gen)
{
    size_t lo = 0, hi = cat->ngens;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(cat->gens[mid].name, gen);
        if (d == 0)
            return &cat->gens[mid];
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The first of v[0..n) (elem bytes each, sorted by a uint32_t index at
 * offset 0) whose index is i, and how many there are. */
_Static_assert(offsetof(struct ws_idxinfo, index) == 0, "index first");
_Static_assert(offsetof(struct ws_diginfo, index) == 0, "index first");

static const void *by_index(const void *v, size_t n, size_t elem, uint32_t i,
                            size_t *count)
{
    const char *p = v;
    size_t lo = 0, hi = n, k;
    uint32_t x;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        memcpy(&x, p + mid * elem, sizeof(x));
        if (x < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (k = lo; k < n; k++) {
        memcpy(&x, p + k * elem, sizeof(x));
        if (x != i)
            break;
    }
    *count = k - lo;
    return k > lo ? p + lo * elem : NULL;
}

const struct ws_idxinfo *ws_catalog_index_recs(const struct ws_geninfo *g,
                                               uint32_t i, size_t *n)
{
    return by_index(g->idx, g->nidx, sizeof(*g->idx), i, n);
}

const struct ws_diginfo *ws_catalog_digests(const struct ws_geninfo *g,
                                            uint32_t i, size_t *n)
{
    return by_index(g->digs, g->ndigs, sizeof(*g->digs), i, n);
}

int ws_catalog_check_start(const struct ws_geninfo *g, uint32_t i,
                           uint32_t salt1, uint32_t salt2,
                           struct ws_err *err)
{
    char key[WS_KEY_MAX];
    size_t n;
    const struct ws_idxinfo *x = ws_catalog_index_recs(g, i, &n);

    for (size_t k = 0; k < n; k++) {
        if (x[k].salt1 == salt1 && x[k].salt2 == salt2)
            continue;
        ws_key_index_of(key, sizeof(key), g->name, &x[k]);
        return ws_err_set(err, WS_ECORRUPT, "its WAL header's salts are "
                          "%08x %08x, but %s says index %08x starts with "
                          "%08x %08x", salt1, salt2, key, i, x[k].salt1,
                          x[k].salt2);
    }
    return WS_OK;
}

int ws_catalog_check_end(const struct ws_geninfo *g, uint32_t i,
                         uint64_t end, const uint32_t ck[2],
                         struct ws_err *err)
{
    char key[WS_KEY_MAX];
    size_t n = 0;
    const struct ws_idxinfo *x =
        i < WS_MAX_INDEX ? ws_catalog_index_recs(g, i + 1, &n) : NULL;

    for (size_t k = 0; k < n; k++) {
        if (x[k].prev_size == end && x[k].prev_cksum[0] == ck[0] &&
            x[k].prev_cksum[1] == ck[1])
            continue;
        ws_key_index_of(key, sizeof(key), g->name, &x[k]);
        return ws_err_set(err, WS_ECORRUPT, "index %08x ends at offset %llu "
                          "with checksum %08x%08x, but %s says it ends at "
                          "%llu with %08x%08x", i, (unsigned long long)end,
                          ck[0], ck[1], key,
                          (unsigned long long)x[k].prev_size,
                          x[k].prev_cksum[0], x[k].prev_cksum[1]);
    }
    return WS_OK;
}

int ws_catalog_check_digest(const struct ws_geninfo *g, uint32_t i,
                            const uint8_t sha[WS_DIGEST_LEN],
                            struct ws_err *err)
{
    char key[WS_KEY_MAX];
    size_t n;
    const struct ws_diginfo *d = ws_catalog_digests(g, i, &n);

    for (size_t k = 0; k < n; k++)
        if (memcmp(d[k].sha256, sha, WS_DIGEST_LEN) == 0)
            return WS_OK;
    if (n == 0)
        return WS_OK;
    ws_key_digest_of(key, sizeof(key), g->name, &d[n - 1]);
    return ws_err_set(err, WS_ECORRUPT, "its SHA-256 matches none of its "
                      "%zu digest record%s (%s): its content changed after "
                      "it was written", n, n == 1 ? "" : "s", key);
}

int ws_catalog_chain(const struct ws_geninfo *g, uint32_t from, uint32_t to,
                     uint64_t to_off, size_t *seg0, size_t *nsegs,
                     struct ws_err *err)
{
    uint32_t want = from;
    size_t i, first;

    for (i = 0; i < g->nsegs && g->segs[i].index < from; i++)
        ;
    first = i;
    for (; i < g->nsegs; i++) {
        const struct ws_seginfo *s = &g->segs[i];
        if (s->index > to ||
            (s->index == to && to_off != WS_POS_END && s->offset >= to_off))
            break;
    }
    *seg0 = first;
    *nsegs = i - first;
    /* Each index's first segment (they are sorted by index, offset) must
     * be the next index, at offset 0. */
    for (i = first; i < first + *nsegs; i++) {
        const struct ws_seginfo *s = &g->segs[i];
        if (i > first && s->index == g->segs[i - 1].index)
            continue;
        if (s->index != want)
            return ws_err_set(err, WS_ECORRUPT, "missing WAL index: %s/%08x",
                              g->name, want);
        if (s->offset != 0)
            return ws_err_set(err, WS_ECORRUPT,
                              "missing initial wal segment: generation=%s "
                              "index=%08x offset=%llu",
                              g->name, s->index, (unsigned long long)s->offset);
        want++;
    }
    if (want < to ||
        (want == to && to_off != WS_POS_END && to_off > WS_WAL_HDR_SIZE))
        return ws_err_set(err, WS_ECORRUPT, "missing WAL index: %s/%08x",
                          g->name, want);
    return WS_OK;
}

int ws_gen_cmp(const struct ws_geninfo *a, const struct ws_geninfo *b)
{
    if (a->updated_ms != b->updated_ms)
        return CMP(a->updated_ms, b->updated_ms);
    if (a->created_ms != b->created_ms)
        return CMP(a->created_ms, b->created_ms);
    /* times[] is sorted by time: the first is the earliest record. */
    if (a->ntimes > 0 && b->ntimes > 0 &&
        a->times[0].time_us != b->times[0].time_us)
        return CMP(a->times[0].time_us, b->times[0].time_us);
    return CMP(strcmp(a->name, b->name), 0);
}

#undef CMP

const struct ws_geninfo *ws_catalog_latest(const struct ws_catalog *cat)
{
    const struct ws_geninfo *best = NULL;

    for (size_t i = 0; i < cat->ngens; i++) {
        const struct ws_geninfo *g = &cat->gens[i];
        if (g->nsnaps == 0)
            continue;
        if (best == NULL || ws_gen_cmp(g, best) >= 0)
            best = g;
    }
    return best;
}

void ws_catalog_free(struct ws_catalog *cat)
{
    for (size_t i = 0; i < cat->ngens; i++) {
        free(cat->gens[i].snaps);
        free(cat->gens[i].segs);
        free(cat->gens[i].times);
        free(cat->gens[i].idx);
        free(cat->gens[i].digs);
    }
    free(cat->gens);
    memset(cat, 0, sizeof(*cat));
}

int ws_gen_new(char out[WS_GEN_LEN + 1], struct ws_err *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[WS_GEN_LEN / 2];

    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return ws_err_set(err, WS_EIO, "getrandom failed");
    for (size_t i = 0; i < sizeof(b); i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[WS_GEN_LEN] = '\0';
    return WS_OK;
}
