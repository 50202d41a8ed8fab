/*
 * pagemap.c: see pagemap.h.
 *
 * Slots are found from a multiplicative hash of the page number (pages
 * written together are often consecutive, which plain modulo would pile
 * into runs), probing linearly; the table doubles when it would be more
 * than half full.  Nothing is ever removed.
 */
#include "ws/pagemap.h"

#include <stdlib.h>

static size_t slot(uint32_t pgno, size_t cap)
{
    return (size_t)((pgno * 0x9E3779B97F4A7C15ULL) >> 20) & (cap - 1);
}

static struct ws_pagepos *find(struct ws_pagepos *v, size_t cap,
                               uint32_t pgno)
{
    size_t i = slot(pgno, cap);

    while (v[i].pgno != 0 && v[i].pgno != pgno)
        i = (i + 1) & (cap - 1);
    return &v[i];
}

static int grow(struct ws_pagemap *m)
{
    size_t cap = m->cap ? 2 * m->cap : 1024;
    struct ws_pagepos *v;

    if (cap / 2 < m->cap || cap > SIZE_MAX / sizeof(*v))
        return WS_ENOMEM;
    v = calloc(cap, sizeof(*v));
    if (v == NULL)
        return WS_ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->v[i].pgno != 0)
            *find(v, cap, m->v[i].pgno) = m->v[i];
    free(m->v);
    m->v = v;
    m->cap = cap;
    return WS_OK;
}

int ws_pagemap_put(struct ws_pagemap *m, uint32_t pgno, uint32_t seg,
                   uint64_t pos)
{
    struct ws_pagepos *e;

    if (pgno == 0)
        return WS_ERANGE;
    if (2 * (m->n + 1) > m->cap && grow(m) != WS_OK)
        return WS_ENOMEM;
    e = find(m->v, m->cap, pgno);
    if (e->pgno == 0)
        m->n++;
    e->pgno = pgno;
    e->seg = seg;
    e->pos = pos;
    return WS_OK;
}

const struct ws_pagepos *ws_pagemap_get(const struct ws_pagemap *m,
                                        uint32_t pgno)
{
    const struct ws_pagepos *e;

    if (m->cap == 0 || pgno == 0)
        return NULL;
    e = find(m->v, m->cap, pgno);
    return e->pgno == pgno ? e : NULL;
}

void ws_pagemap_free(struct ws_pagemap *m)
{
    free(m->v);
    m->v = NULL;
    m->n = m->cap = 0;
}
