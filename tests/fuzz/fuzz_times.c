/*
 * fuzz_times.c: the content of walship's commit-time objects (times.h
 * ws_times_decode), which a point-in-time restore reads to decide which
 * transaction was committed by when.
 *
 * Input: the decompressed content of a times object ("WSTIMES1" and
 * 24-byte records).
 *
 * Checked: what decodes holds one record per 24 bytes, each of a known
 * kind, a positive time and an index within WS_MAX_INDEX; encoded again
 * (ws_times_encode, an LZ4 frame) and decompressed, it is the same bytes;
 * ws_tlist_sort leaves records in order without exact duplicates, and
 * sorting again changes nothing.
 */
#include "fuzz.h"
#include "ws/times.h"
#include "ws/wal.h"

static int times_cmp(const struct ws_tpoint *x, const struct ws_tpoint *y)
{
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return (x->time_us > y->time_us) - (x->time_us < y->time_us);
}

int FUZZ_ENTRY(times)
{
    struct ws_tlist l = {0};
    struct ws_err err;
    struct fuzz_buf z = {0};
    uint8_t *back = NULL;
    size_t nback = 0, n;
    int rc = ws_times_decode(data, size, &l, &err);

    if (rc != WS_OK) {
        fuzz_check_err(rc, &err, "ws_times_decode");
        ws_tlist_free(&l);
        return 0;
    }
    FUZZ_CHECK(size >= 8 && l.n == (size - 8) / 24 && (size - 8) % 24 == 0,
               "%zu records from %zu bytes", l.n, size);
    for (size_t i = 0; i < l.n; i++)
        FUZZ_CHECK(
            (l.v[i].kind == WS_T_COMMIT || l.v[i].kind == WS_T_SNAPSHOT ||
             l.v[i].kind == WS_T_IMAGE) &&
                l.v[i].time_us > 0 && l.v[i].index <= WS_MAX_INDEX &&
                (l.v[i].kind != WS_T_COMMIT || l.v[i].offset > WS_WAL_HDR_SIZE),
            "record %zu: kind %u time %lld index %u", i, l.v[i].kind,
            (long long)l.v[i].time_us, l.v[i].index);

    /* Encoded again, the same bytes. */
    FUZZ_CHECK(ws_times_encode(l.v, l.n, fuzz_buf_sink, &z, &err) == WS_OK,
               "encode: %s", err.msg);
    FUZZ_CHECK(ws_lz4_decompress_mem(z.p, z.n, 0, &back, &nback, &err) == WS_OK,
               "decompress: %s", err.msg);
    FUZZ_CHECK(nback == size && memcmp(back, data, size) == 0,
               "%zu bytes encode back to %zu other bytes", size, nback);

    /* Sorted, unique, and sorting is idempotent. */
    ws_tlist_sort(&l);
    for (size_t i = 1; i < l.n; i++)
        FUZZ_CHECK(times_cmp(&l.v[i - 1], &l.v[i]) < 0,
                   "records %zu and %zu out of order or equal", i - 1, i);
    n = l.n;
    ws_tlist_sort(&l);
    FUZZ_CHECK(l.n == n, "sorting twice dropped %zu records", n - l.n);
    free(back);
    fuzz_buf_free(&z);
    ws_tlist_free(&l);
    return 0;
}
