/*
 * test_wal.c: WAL header and frame decoding, the checksum (vectors from
 * Litestream's TestChecksum), and the chain verifier, including every
 * truncation and every one-byte corruption (each byte to each of the 255
 * other values) of a valid two-transaction WAL; and the wal-index header
 * of a -shm that SQLite itself wrote, with every one-byte change of it
 * (each value, in one copy or in both) rejected.
 */
#include "check.h"
#include "ws/wal.h"

#include <fcntl.h>
#include <sqlite3.h>

static const uint8_t hdr24[24] = {
    0x37, 0x7f, 0x06, 0x82, 0x00, 0x2d, 0xe2, 0x18, 0x00, 0x00, 0x10, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x52, 0x38, 0x2e, 0xac, 0x85, 0x7b, 0x1a, 0x4e};

/* The page of Litestream's TestChecksum: a 24-byte prefix, zeros, and a
 * 32-byte suffix, 4096 bytes in all. */
static void test_page(uint8_t *p)
{
    static const uint8_t pre[24] = {
        0x0d, 0x00, 0x00, 0x00, 0x08, 0x0f, 0xe0, 0x00, 0x0f, 0xfc, 0x0f, 0xf8,
        0x0f, 0xf4, 0x0f, 0xf0, 0x0f, 0xec, 0x0f, 0xe8, 0x0f, 0xe4, 0x0f, 0xe0};
    static const uint8_t suf[32] = {
        0x02, 0x08, 0x02, 0x09, 0x02, 0x07, 0x02, 0x09, 0x02, 0x06, 0x02,
        0x09, 0x02, 0x05, 0x02, 0x09, 0x02, 0x04, 0x02, 0x09, 0x02, 0x03,
        0x02, 0x09, 0x02, 0x02, 0x02, 0x09, 0x02, 0x01, 0x02, 0x09};
    memset(p, 0, 4096);
    memcpy(p, pre, sizeof(pre));
    memcpy(p + 4096 - sizeof(suf), suf, sizeof(suf));
}

TEST(header_checksum_vector)
{
    uint32_t s[2] = {0, 0};
    ws_wal_checksum(0, hdr24, 24, s);
    ASSERT_UEQ(s[0], 0x81153b65);
    ASSERT_UEQ(s[1], 0x87178e8f);
}

TEST(frame_checksum_vector)
{
    static uint8_t all[24 + 8 + 4096];
    uint32_t one[2] = {0, 0}, inc[2] = {0, 0};
    static const uint8_t fh[8] = {0, 0, 0, 2, 0, 0, 0, 2};

    memcpy(all, hdr24, 24);
    memcpy(all + 24, fh, 8);
    test_page(all + 32);
    ws_wal_checksum(0, all, sizeof(all), one);
    ASSERT_UEQ(one[0], 0xdc2f3e84);
    ASSERT_UEQ(one[1], 0x540488d3);
    ws_wal_checksum(0, all, 24, inc);
    ws_wal_checksum(0, all + 24, 8, inc);
    ws_wal_checksum(0, all + 32, 4096, inc);
    ASSERT_UEQ(inc[0], one[0]);
    ASSERT_UEQ(inc[1], one[1]);
}

/* Build a WAL: header + frames; commit marks on frames 1 and 3. */
static size_t build_wal(uint8_t *b, uint32_t magic, uint32_t ps, int nframes)
{
    struct ws_wal_hdr h = {magic, WS_WAL_VERSION, ps, 7, 0x11223344,
                           0x55667788, {0, 0}};
    uint32_t s[2];
    size_t off = WS_WAL_HDR_SIZE;

    ws_wal_encode_hdr(&h, b);
    s[0] = h.cksum[0];
    s[1] = h.cksum[1];
    for (int i = 0; i < nframes; i++) {
        uint8_t *f = b + off;
        ws_put_be32(f, (uint32_t)i + 1);
        ws_put_be32(f + 4, i == 1 || i == 3 ? (uint32_t)i + 1 : 0);
        ws_put_be32(f + 8, h.salt1);
        ws_put_be32(f + 12, h.salt2);
        for (uint32_t k = 0; k < ps; k++)
            f[24 + k] = (uint8_t)(k * 31 + (uint32_t)i);
        ws_wal_checksum(magic == WS_WAL_MAGIC_BE, f, 8, s);
        ws_wal_checksum(magic == WS_WAL_MAGIC_BE, f + 24, ps, s);
        ws_put_be32(f + 16, s[0]);
        ws_put_be32(f + 20, s[1]);
        off += 24 + ps;
    }
    return off;
}

TEST(decode_header)
{
    uint8_t b[32];
    struct ws_wal_hdr h = {WS_WAL_MAGIC_LE, WS_WAL_VERSION, 4096, 0,
                           0x52382eac, 0x857b1a4e, {0, 0}}, d;
    struct ws_err err;

    ws_wal_encode_hdr(&h, b);
    ASSERT_MEM_EQ(b, hdr24, 24);
    ASSERT_UEQ(h.cksum[0], 0x81153b65);
    ASSERT_EQ(ws_wal_decode_hdr(b, &d, &err), WS_OK);
    ASSERT_EQ(d.page_size, 4096);
    ASSERT_UEQ(d.salt2, 0x857b1a4e);
    b[3] = 0x84;
    ASSERT_EQ(ws_wal_decode_hdr(b, &d, &err), WS_ECORRUPT);
    ASSERT_STR_CONTAINS(err.msg, "invalid wal header magic");
    ws_wal_encode_hdr(&h, b);
    b[27] ^= 1;
    ASSERT_EQ(ws_wal_decode_hdr(b, &d, &err), WS_ECORRUPT);
    ASSERT_STR_CONTAINS(err.msg, "checksum");
    h.page_size = 1000;
    ws_wal_encode_hdr(&h, b);
    ASSERT_EQ(ws_wal_decode_hdr(b, &d, &err), WS_ECORRUPT);
}

TEST(align)
{
    ASSERT_EQ(ws_wal_align(0, 4096), 0);
    ASSERT_EQ(ws_wal_align(31, 4096), 0);
    ASSERT_EQ(ws_wal_align(32, 4096), 32);
    ASSERT_EQ(ws_wal_align(32 + 4120 - 1, 4096), 32);
    ASSERT_EQ(ws_wal_align(32 + 2 * 4120, 4096), 32 + 2 * 4120);
}

static int count_frames(void *ctx, const struct ws_wal_frame *f,
                        const uint8_t *page, uint64_t off,
                        struct ws_err *err)
{
    (void)f;
    (void)page;
    (void)off;
    (void)err;
    ++*(int *)ctx;
    return WS_OK;
}

static int verify(const uint8_t *b, size_t n, size_t piece,
                  struct ws_err *err)
{
    struct ws_walv v;
    int rc = WS_OK, frames = 0;

    ws_walv_init(&v);
    v.on_frame = count_frames;
    v.ctx = &frames;
    for (size_t o = 0; rc == WS_OK && o < n; o += piece)
        rc = ws_walv_feed(&v, b + o, n - o < piece ? n - o : piece, err);
    if (rc == WS_OK)
        rc = ws_walv_end(&v, err);
    ws_walv_free(&v);
    return rc;
}

TEST(verifier_accepts_both_magics_and_any_split)
{
    static uint8_t b[32 + 4 * (24 + 512)];
    size_t pieces[] = {1, 7, 24, 536, 4096, 100000};

    for (int m = 0; m < 2; m++) {
        size_t n = build_wal(b, m ? WS_WAL_MAGIC_BE : WS_WAL_MAGIC_LE, 512, 4);
        for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
            struct ws_err err;
            ASSERT_EQ(verify(b, n, pieces[i], &err), WS_OK);
        }
    }
}

TEST(verifier_rejects_every_truncation)
{
    static uint8_t b[32 + 4 * (24 + 512)];
    size_t n = build_wal(b, WS_WAL_MAGIC_LE, 512, 4);
    size_t commit1 = 32 + 2 * (24 + 512);

    for (size_t k = 0; k < n; k++) {
        struct ws_err err;
        int rc = verify(b, k, 4096, &err);
        /* Only the header alone and the first commit are complete WALs. */
        if (k == 32 || k == commit1)
            ASSERT_EQ(rc, WS_OK);
        else if (rc != WS_ECORRUPT)
            CHECK_FAIL("prefix %zu accepted", k);
    }
}

/* Every one-byte corruption: each byte of the WAL replaced by each of
 * the 255 other values. */
TEST(verifier_rejects_every_byte_change)
{
    static uint8_t b[32 + 4 * (24 + 512)];
    size_t n = build_wal(b, WS_WAL_MAGIC_LE, 512, 4), tried = 0;

    for (size_t k = 0; k < n; k++) {
        for (unsigned x = 1; x < 256; x++) {
            struct ws_err err;

            b[k] ^= (uint8_t)x;
            if (verify(b, n, n, &err) != WS_ECORRUPT)
                CHECK_FAIL("byte %zu ^ 0x%02x accepted", k, x);
            b[k] ^= (uint8_t)x;
            tried++;
        }
    }
    ASSERT_EQ(tried, 255 * n);
}

TEST(verifier_names_the_frame)
{
    static uint8_t b[32 + 4 * (24 + 512)];
    size_t n = build_wal(b, WS_WAL_MAGIC_LE, 512, 4);
    struct ws_err err;

    b[32 + 2 * 536 + 100] ^= 0xff;
    ASSERT_EQ(verify(b, n, n, &err), WS_ECORRUPT);
    ASSERT_STR_CONTAINS(err.msg, "offset 1104 (page 3)");
    ASSERT_STR_CONTAINS(err.msg, "checksum chain broken");
}

/* A database in WAL mode with 3 committed transactions (no checkpoint):
 * returns the -shm's first 96 bytes and the -wal's header in b, h. */
static void real_shm(uint8_t *b, struct ws_wal_hdr *h, uint64_t *walsize)
{
    char dir[] = "/tmp/ws-wal-XXXXXX", path[64], side[80];
    uint8_t hb[WS_WAL_HDR_SIZE];
    sqlite3 *c;
    int fd;

    ASSERT(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/db", dir);
    ASSERT_EQ(sqlite3_open(path, &c), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(c, "PRAGMA journal_mode=wal;"
                              "PRAGMA wal_autocheckpoint=0;"
                              "CREATE TABLE t(x);"
                              "INSERT INTO t VALUES(randomblob(5000));"
                              "INSERT INTO t VALUES(1);",
                           NULL, NULL, NULL),
              SQLITE_OK);
    snprintf(side, sizeof(side), "%s-shm", path);
    fd = open(side, O_RDONLY);
    ASSERT(fd >= 0);
    ASSERT_EQ(pread(fd, b, WS_WALIDX_HDR_SIZE, 0), WS_WALIDX_HDR_SIZE);
    close(fd);
    snprintf(side, sizeof(side), "%s-wal", path);
    fd = open(side, O_RDONLY);
    ASSERT(fd >= 0);
    ASSERT_EQ(pread(fd, hb, sizeof(hb), 0), (ssize_t)sizeof(hb));
    ASSERT_EQ(ws_wal_decode_hdr(hb, h, NULL), WS_OK);
    *walsize = (uint64_t)lseek(fd, 0, SEEK_END);
    close(fd);
    sqlite3_close(c);
    /* Closing the last connection removed the -wal and -shm. */
    unlink(path);
    rmdir(dir);
}

TEST(walidx_of_a_real_shm)
{
    uint8_t b[WS_WALIDX_HDR_SIZE];
    struct ws_wal_hdr h;
    struct ws_walidx x;
    uint64_t size;

    real_shm(b, &h, &size);
    ASSERT_EQ(ws_walidx_decode(b, &x), WS_OK);
    ASSERT_EQ(x.page_size, h.page_size);
    ASSERT_UEQ(x.salt1, h.salt1);
    ASSERT_UEQ(x.salt2, h.salt2);
    /* Every frame is committed: the last transaction ends the file. */
    ASSERT_EQ(WS_WAL_HDR_SIZE + x.mx_frame * ws_wal_frame_size(h.page_size),
              size);
    ASSERT(x.mx_frame >= 3);
}

TEST(walidx_rejects_torn_and_damaged_headers)
{
    uint8_t b[WS_WALIDX_HDR_SIZE];
    struct ws_walidx x = {0};
    struct ws_wal_hdr h;
    uint64_t size;

    real_shm(b, &h, &size);
    /* A writer between the two copies: read again.  Every byte, every
     * other value. */
    for (size_t k = 0; k < WS_WALIDX_HDR_SIZE; k++) {
        for (unsigned v = 1; v < 256; v++) {
            b[k] ^= (uint8_t)v;
            if (ws_walidx_decode(b, &x) != WS_EBUSY)
                CHECK_FAIL("one copy changed at byte %zu (^ 0x%02x) not seen "
                           "as torn",
                           k, v);
            b[k] ^= (uint8_t)v;
        }
    }
    /* Both copies changed alike: the checksum (or isInit) refuses it. */
    for (size_t k = 0; k < WS_WALIDX_HDR_SIZE / 2; k++) {
        for (unsigned v = 1; v < 256; v++) {
            b[k] ^= (uint8_t)v;
            b[k + WS_WALIDX_HDR_SIZE / 2] ^= (uint8_t)v;
            if (ws_walidx_decode(b, &x) != WS_ECORRUPT)
                CHECK_FAIL("both copies changed at byte %zu (^ 0x%02x) "
                           "accepted",
                           k, v);
            b[k] ^= (uint8_t)v;
            b[k + WS_WALIDX_HDR_SIZE / 2] ^= (uint8_t)v;
        }
    }
    ASSERT_EQ(x.mx_frame, 0); /* never written on failure */
    memset(b, 0, sizeof(b));
    ASSERT_EQ(ws_walidx_decode(b, &x), WS_ECORRUPT);
}

#define LIST(X)                                                             \
    X(header_checksum_vector)                                               \
    X(frame_checksum_vector)                                                \
    X(decode_header)                                                        \
    X(align)                                                                \
    X(verifier_accepts_both_magics_and_any_split)                          \
    X(verifier_rejects_every_truncation)                                    \
    X(verifier_rejects_every_byte_change)                                   \
    X(verifier_names_the_frame)                                             \
    X(walidx_of_a_real_shm)                                                 \
    X(walidx_rejects_torn_and_damaged_headers)

TEST_MAIN("wal", LIST)
