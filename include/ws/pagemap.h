/*
 * pagemap.h: for each database page, where its newest version is.
 *
 * A restore verifies the WAL segments in order and keeps, for every page
 * a frame writes, only the position of the newest frame (pass 1), then
 * writes those versions over the snapshot (pass 2).  Page numbers come
 * from the replica, so the map must not trust them: it is a hash table
 * with one entry per page actually written, never an array indexed by
 * page number (a single frame naming page 2^31 would otherwise cost
 * 32 GiB).  Its memory follows the number of distinct pages written,
 * each of which a frame of at least 536 bytes had to bring: at most 32
 * bytes an entry (16, at most half full).
 *
 * Pure: no I/O.  Page 0 does not exist in SQLite and is never stored.
 */
#ifndef WS_PAGEMAP_H
#define WS_PAGEMAP_H

#include <stddef.h>
#include <stdint.h>

#include "ws/err.h"

/* Where a page's newest version is. */
struct ws_pagepos {
    uint32_t pgno; /* the page; 0 marks a free slot */
    uint32_t seg;  /* the caller's: which segment holds it */
    uint64_t pos;  /* the caller's: where in that segment */
};

struct ws_pagemap {
    struct ws_pagepos *v; /* open addressing, linear probing */
    size_t n, cap;        /* entries, slots (a power of two) */
};

/* Record that page pgno is at (seg, pos), replacing what was there.
 * WS_ERANGE for page 0, WS_ENOMEM; m is unchanged on failure. */
int ws_pagemap_put(struct ws_pagemap *m, uint32_t pgno, uint32_t seg,
                   uint64_t pos);

/* The entry of pgno, or NULL.  Valid until the next put. */
const struct ws_pagepos *ws_pagemap_get(const struct ws_pagemap *m,
                                        uint32_t pgno);

/* Entries are m->v[i] for i < m->cap with v[i].pgno != 0, in no order. */

void ws_pagemap_free(struct ws_pagemap *m);

#endif
