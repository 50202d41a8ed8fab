/*
 * test_pagemap: the page map restore keeps the newest frame of each page
 * in (pagemap.h): entries replace, page 0 is refused, and its memory
 * follows the pages written, not their numbers.
 */
#include "check.h"
#include "ws/pagemap.h"

#include <stdlib.h>

TEST(put_get_replace)
{
    struct ws_pagemap m = {0};
    const struct ws_pagepos *e;

    ASSERT(ws_pagemap_get(&m, 1) == NULL);
    ASSERT_EQ(ws_pagemap_put(&m, 1, 1, 100), WS_OK);
    ASSERT_EQ(ws_pagemap_put(&m, 7, 2, 200), WS_OK);
    ASSERT_EQ(ws_pagemap_put(&m, 1, 3, 300), WS_OK); /* newer version */
    ASSERT_UEQ(m.n, 2);
    e = ws_pagemap_get(&m, 1);
    ASSERT(e != NULL);
    ASSERT_UEQ(e->seg, 3);
    ASSERT_UEQ(e->pos, 300);
    ASSERT(ws_pagemap_get(&m, 2) == NULL);
    ASSERT_EQ(ws_pagemap_put(&m, 0, 1, 1), WS_ERANGE);
    ASSERT(ws_pagemap_get(&m, 0) == NULL);
    ws_pagemap_free(&m);
    ASSERT_UEQ(m.n, 0);
}

/* Page numbers up to 2^32 - 1 cost an entry each, never an array that
 * long; a hundred thousand scattered pages all come back. */
TEST(large_and_scattered)
{
    struct ws_pagemap m = {0};
    size_t seen = 0;

    ASSERT_EQ(ws_pagemap_put(&m, 67108864, 1, 5), WS_OK);
    ASSERT_EQ(ws_pagemap_put(&m, 4294967295u, 1, 6), WS_OK);
    ASSERT(m.cap <= 1024);
    for (uint32_t i = 1; i <= 100000; i++)
        ASSERT_EQ(ws_pagemap_put(&m, i * 40503u, i, i), WS_OK);
    ASSERT_UEQ(m.n, 100002);
    ASSERT(m.cap <= 4 * m.n);
    for (uint32_t i = 1; i <= 100000; i++) {
        const struct ws_pagepos *e = ws_pagemap_get(&m, i * 40503u);
        ASSERT(e != NULL && e->seg == i && e->pos == i);
    }
    for (size_t i = 0; i < m.cap; i++)
        seen += m.v[i].pgno != 0;
    ASSERT_UEQ(seen, m.n);
    ASSERT_UEQ(ws_pagemap_get(&m, 4294967295u)->pos, 6);
    ws_pagemap_free(&m);
}

#define LIST(X) X(put_get_replace) X(large_and_scattered)

TEST_MAIN("pagemap", LIST)
