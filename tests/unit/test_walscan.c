/*
 * test_walscan.c: the walk along a WAL's frame chain (ws_wal_scan,
 * wal.h), on WALs built by hand from the format and on one written by
 * SQLite: a valid chain, fed whole and in pieces of every size; a frame
 * with a bad checksum at each position; a frame with other salts whose
 * checksum continues the chain; a truncated frame; a walk resumed from a
 * commit; a callback that stops it.  The oracle for the checksum kept at
 * a commit is the checksum SQLite's format stores in that frame's header.
 */
#include "check.h"
#include "ws/wal.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>

#define PS 512                 /* page size of the built WALs */
#define FS (24 + PS)           /* their frame size */
#define NF 6                   /* their frames */
#define COMMITS 0x2a           /* frames 1, 3 and 5 (from 0) commit */

/* Build a WAL of NF frames under magic; frame `other` (NF: none) carries
 * salt-1 + 1 but a checksum that continues the chain.  Returns its size;
 * *h gets the header. */
static size_t build(uint8_t *b, uint32_t magic, int other,
                    struct ws_wal_hdr *h)
{
    struct ws_wal_hdr hh = {magic, WS_WAL_VERSION, PS, 3, 0xa1b2c3d4,
                            0x01020304, {0, 0}};
    int big = magic == WS_WAL_MAGIC_BE;
    uint32_t s[2];
    size_t off = WS_WAL_HDR_SIZE;

    ws_wal_encode_hdr(&hh, b);
    s[0] = hh.cksum[0];
    s[1] = hh.cksum[1];
    for (int i = 0; i < NF; i++, off += FS) {
        uint8_t *f = b + off;
        ws_put_be32(f, (uint32_t)(i % 3) + 1);
        ws_put_be32(f + 4, (COMMITS >> i) & 1 ? (uint32_t)i + 1 : 0);
        ws_put_be32(f + 8, hh.salt1 + (i == other));
        ws_put_be32(f + 12, hh.salt2);
        for (uint32_t k = 0; k < PS; k++)
            f[24 + k] = (uint8_t)(k * 7 + (uint32_t)i * 13);
        ws_wal_checksum(big, f, 8, s);
        ws_wal_checksum(big, f + 24, PS, s);
        ws_put_be32(f + 16, s[0]);
        ws_put_be32(f + 20, s[1]);
    }
    *h = hh;
    return off;
}

/* Offset just past frame i (from 0). */
static uint64_t end_of(int i)
{
    return WS_WAL_HDR_SIZE + (uint64_t)(i + 1) * FS;
}

/* The last commit frame before frame `stop` (-1: none). */
static int last_commit_before(int stop)
{
    int c = -1;

    for (int i = 0; i < stop; i++)
        if ((COMMITS >> i) & 1)
            c = i;
    return c;
}

/* The walk's checksum at its commit must be the one stored in the commit
 * frame's header (the header's own, without a commit). */
static void check_commit(const struct ws_wal_scan *w, const uint8_t *b,
                         const struct ws_wal_hdr *h, int c)
{
    if (c < 0) {
        ASSERT_EQ(w->commit, WS_WAL_HDR_SIZE);
        ASSERT_UEQ(w->cs[0], h->cksum[0]);
        ASSERT_UEQ(w->cs[1], h->cksum[1]);
        return;
    }
    ASSERT_EQ(w->commit, end_of(c));
    ASSERT_UEQ(w->cs[0], ws_get_be32(b + end_of(c) - FS + 16));
    ASSERT_UEQ(w->cs[1], ws_get_be32(b + end_of(c) - FS + 20));
}

struct seen {
    uint64_t at[NF];
    int n;
    int stop_at;               /* return non-zero on this commit (1-based) */
};

static int on_commit(void *ctx, uint64_t commit)
{
    struct seen *s = ctx;

    ASSERT(s->n < NF);
    s->at[s->n++] = commit;
    return s->n == s->stop_at ? 42 : 0;
}

/* Walk b (n bytes) from the first frame, handing it over in pieces of
 * `piece` bytes (at least a frame) read from the walk's offset, as a
 * reader of a file does; stops as the readers do, at a break or a short
 * piece. */
static void walk(struct ws_wal_scan *w, const struct ws_wal_hdr *h,
                 const uint8_t *b, size_t n, size_t piece, struct seen *s)
{
    ws_wal_scan_init(w, h, WS_WAL_HDR_SIZE, h->cksum);
    for (;;) {
        size_t at = (size_t)w->off, len, used;
        len = n - at < piece ? n - at : piece;
        ASSERT_EQ(ws_wal_scan(w, b + at, len, &used, on_commit, s), 0);
        ASSERT_EQ(used, (size_t)w->off - at);
        ASSERT_EQ(used % FS, 0);
        if (w->broken || len < piece)
            break;
    }
}

TEST(walks_a_valid_chain_whole_and_in_every_piece_size)
{
    static uint8_t b[WS_WAL_HDR_SIZE + NF * FS];
    static const uint32_t magics[] = {WS_WAL_MAGIC_LE, WS_WAL_MAGIC_BE};
    struct ws_wal_hdr h;

    for (int m = 0; m < 2; m++) {
        size_t n = build(b, magics[m], NF, &h);
        for (size_t piece = 1; piece <= n; piece += piece < 3 * FS ? 1 : FS) {
            struct ws_wal_scan w;
            struct seen s = {{0}, 0, 0};
            size_t used;
            if (piece < FS) {
                /* No whole frame in a piece: nothing walked, no error. */
                ws_wal_scan_init(&w, &h, WS_WAL_HDR_SIZE, h.cksum);
                ASSERT_EQ(ws_wal_scan(&w, b + WS_WAL_HDR_SIZE, piece, &used,
                                      on_commit, &s),
                          0);
                ASSERT_EQ(used, 0);
                ASSERT_EQ(w.off, WS_WAL_HDR_SIZE);
                ASSERT_EQ(w.broken, 0);
                ASSERT_EQ(s.n, 0);
                continue;
            }
            walk(&w, &h, b, n, piece, &s);
            ASSERT_EQ(w.broken, 0);
            ASSERT_EQ(w.off, n);
            check_commit(&w, b, &h, NF - 1);
            ASSERT_EQ(s.n, 3);
            ASSERT_EQ(s.at[0], end_of(1));
            ASSERT_EQ(s.at[1], end_of(3));
            ASSERT_EQ(s.at[2], end_of(5));
        }
    }
}

TEST(stops_before_a_frame_with_a_bad_checksum)
{
    static uint8_t b[WS_WAL_HDR_SIZE + NF * FS];
    struct ws_wal_hdr h;

    for (int bad = 0; bad < NF; bad++) {
        /* A page byte, then a checksum byte of the frame header. */
        static const size_t where[] = {24 + PS / 2, 17};
        for (int k = 0; k < 2; k++) {
            size_t n = build(b, WS_WAL_MAGIC_LE, NF, &h), used;
            struct ws_wal_scan w;
            struct seen s = {{0}, 0, 0};
            b[end_of(bad) - FS + where[k]] ^= 0x40;
            walk(&w, &h, b, n, n, &s);
            ASSERT_EQ(w.broken, 1);
            ASSERT_EQ(w.off, end_of(bad - 1));
            check_commit(&w, b, &h, last_commit_before(bad));
            /* Broken for good: a later call walks nothing. */
            ASSERT_EQ(ws_wal_scan(&w, b + end_of(bad), FS, &used, NULL,
                                  NULL),
                      0);
            ASSERT_EQ(used, 0);
            ASSERT_EQ(w.off, end_of(bad - 1));
        }
    }
}

TEST(stops_before_a_frame_with_other_salts)
{
    static uint8_t b[WS_WAL_HDR_SIZE + NF * FS];
    struct ws_wal_hdr h;

    for (int other = 0; other < NF; other++) {
        size_t n = build(b, WS_WAL_MAGIC_BE, other, &h);
        struct ws_wal_scan w;
        struct seen s = {{0}, 0, 0};
        walk(&w, &h, b, n, 2 * FS, &s);
        ASSERT_EQ(w.broken, 1);
        ASSERT_EQ(w.off, end_of(other - 1));
        check_commit(&w, b, &h, last_commit_before(other));
    }
}

TEST(leaves_a_truncated_frame_for_later)
{
    static uint8_t b[WS_WAL_HDR_SIZE + NF * FS];
    struct ws_wal_hdr h;
    size_t n = build(b, WS_WAL_MAGIC_LE, NF, &h), used;

    for (size_t cut = 1; cut < FS; cut += 37) {
        struct ws_wal_scan w;
        /* All of frames 0..3, and `cut` bytes of frame 4. */
        ws_wal_scan_init(&w, &h, WS_WAL_HDR_SIZE, h.cksum);
        ASSERT_EQ(ws_wal_scan(&w, b + WS_WAL_HDR_SIZE, 4 * FS + cut, &used,
                              NULL, NULL),
                  0);
        ASSERT_EQ(used, 4 * FS);
        ASSERT_EQ(w.broken, 0);
        ASSERT_EQ(w.off, end_of(3));
        check_commit(&w, b, &h, 3);
        /* The rest, from where the walk is. */
        ASSERT_EQ(ws_wal_scan(&w, b + w.off, n - w.off, &used, NULL, NULL),
                  0);
        ASSERT_EQ(w.off, n);
        check_commit(&w, b, &h, NF - 1);
    }
}

TEST(resumes_from_a_commit)
{
    static uint8_t b[WS_WAL_HDR_SIZE + NF * FS];
    struct ws_wal_hdr h;
    size_t n = build(b, WS_WAL_MAGIC_BE, NF, &h), used;
    struct ws_wal_scan w, r;

    /* Stop in the middle of the third transaction (frame 4 missing). */
    ws_wal_scan_init(&w, &h, WS_WAL_HDR_SIZE, h.cksum);
    ASSERT_EQ(ws_wal_scan(&w, b + WS_WAL_HDR_SIZE, 4 * FS + 8, &used, NULL,
                          NULL),
              0);
    ASSERT_EQ(w.commit, end_of(3));
    /* A new walk from the commit and its checksum takes the rest. */
    ws_wal_scan_init(&r, &h, w.commit, w.cs);
    ASSERT_EQ(ws_wal_scan(&r, b + r.off, n - r.off, &used, NULL, NULL), 0);
    ASSERT_EQ(r.broken, 0);
    ASSERT_EQ(r.off, n);
    check_commit(&r, b, &h, NF - 1);
    /* From the commit with a wrong checksum: nothing is walked. */
    r.cs[0] = w.cs[0] ^ 1;
    ws_wal_scan_init(&r, &h, w.commit, r.cs);
    ASSERT_EQ(ws_wal_scan(&r, b + r.off, n - r.off, &used, NULL, NULL), 0);
    ASSERT_EQ(used, 0);
    ASSERT_EQ(r.broken, 1);
}

TEST(a_callback_stops_the_walk_after_its_commit)
{
    static uint8_t b[WS_WAL_HDR_SIZE + NF * FS];
    struct ws_wal_hdr h;
    size_t n = build(b, WS_WAL_MAGIC_LE, NF, &h), used;
    struct seen s = {{0}, 0, 2};
    struct ws_wal_scan w;

    ws_wal_scan_init(&w, &h, WS_WAL_HDR_SIZE, h.cksum);
    ASSERT_EQ(ws_wal_scan(&w, b + WS_WAL_HDR_SIZE, n - WS_WAL_HDR_SIZE,
                          &used, on_commit, &s),
              42);
    ASSERT_EQ(s.n, 2);
    ASSERT_EQ(used, end_of(3) - WS_WAL_HDR_SIZE);
    ASSERT_EQ(w.off, end_of(3));
    check_commit(&w, b, &h, 3);
}

/* Count the commits a walk finds. */
static int count(void *ctx, uint64_t commit)
{
    (void)commit;
    ++*(int *)ctx;
    return 0;
}

/* Walk the whole WAL file b (n bytes) at once; the commits found. */
static int walk_file(struct ws_wal_scan *w, const struct ws_wal_hdr *h,
                     const uint8_t *b, size_t n)
{
    int commits = 0;
    size_t used;

    ws_wal_scan_init(w, h, WS_WAL_HDR_SIZE, h->cksum);
    ASSERT_EQ(ws_wal_scan(w, b + WS_WAL_HDR_SIZE, n - WS_WAL_HDR_SIZE, &used,
                          count, &commits),
              0);
    ASSERT_EQ(used, (size_t)w->off - WS_WAL_HDR_SIZE);
    return commits;
}

TEST(walks_a_wal_sqlite_wrote)
{
    char dir[] = "/tmp/ws-walscan-XXXXXX", path[64], wal[80];
    struct ws_wal_hdr h;
    struct ws_wal_scan w;
    struct stat sb;
    uint8_t *b;
    sqlite3 *c;
    int fd, commits;
    uint64_t fs, first;

    ASSERT(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/db", dir);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    ASSERT_EQ(sqlite3_open(path, &c), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(c, "PRAGMA journal_mode=wal;"
                              "PRAGMA wal_autocheckpoint=0;"
                              "CREATE TABLE t(x);"
                              "INSERT INTO t VALUES(randomblob(9000));"
                              "INSERT INTO t VALUES(1);"
                              "INSERT INTO t VALUES(2);",
                           NULL, NULL, NULL),
              SQLITE_OK);
    fd = open(wal, O_RDONLY);
    ASSERT(fd >= 0);
    ASSERT_EQ(fstat(fd, &sb), 0);
    b = malloc((size_t)sb.st_size);
    ASSERT(b != NULL);
    ASSERT_EQ(pread(fd, b, (size_t)sb.st_size, 0), sb.st_size);
    close(fd);
    sqlite3_close(c);
    unlink(path);
    rmdir(dir);

    ASSERT_EQ(ws_wal_decode_hdr(b, &h, NULL), WS_OK);
    fs = ws_wal_frame_size(h.page_size);
    commits = walk_file(&w, &h, b, (size_t)sb.st_size);
    /* Four transactions, every frame of them committed. */
    ASSERT_EQ(w.broken, 0);
    ASSERT_EQ(commits, 4);
    ASSERT_EQ(w.off, (uint64_t)sb.st_size);
    ASSERT_EQ(w.commit, (uint64_t)sb.st_size);
    /* A damaged frame in the last transaction: the walk keeps the three
     * before it. */
    first = w.commit;
    b[sb.st_size - 10] ^= 1;
    commits = walk_file(&w, &h, b, (size_t)sb.st_size);
    ASSERT_EQ(w.broken, 1);
    ASSERT_EQ(commits, 3);
    ASSERT(w.commit < first);
    ASSERT_EQ((w.commit - WS_WAL_HDR_SIZE) % fs, 0);
    free(b);
}

#define LIST(X)                                                             \
    X(walks_a_valid_chain_whole_and_in_every_piece_size)                    \
    X(stops_before_a_frame_with_a_bad_checksum)                             \
    X(stops_before_a_frame_with_other_salts)                                \
    X(leaves_a_truncated_frame_for_later)                                   \
    X(resumes_from_a_commit)                                                \
    X(a_callback_stops_the_walk_after_its_commit)                           \
    X(walks_a_wal_sqlite_wrote)

TEST_MAIN("walscan", LIST)
