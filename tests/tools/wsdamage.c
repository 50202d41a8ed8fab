/*
 * wsdamage: make damaged copies of replica objects, for the hostile-
 * replica test (tests/e2e/77-hostile-replicas.sh).  Every damage is a
 * function of its arguments (SEED picks bit positions and cut points),
 * so a failing case can be made again.
 *
 *   wsdamage flip OUT N SEED IN      IN with N distinct bits inverted
 *   wsdamage cut OUT SEED IN         IN cut at a byte inside its first
 *                                    LZ4 block (mid-block), or anywhere
 *                                    past the header when SEED is odd
 *   wsdamage lz4 OUT MODE IN         IN decoded and encoded again as an
 *                                    LZ4 frame by liblz4, MODE being
 *       nocksum        without the content checksum (content intact)
 *       nocksum-flipK  without it, and one content bit inverted, at K/8
 *                      of the content plus 2048 bytes (K 1 to 7, default
 *                      4), or (K 0) at byte 2048 of every 4096
 *       csize-huge     declaring a content size of 2^40 bytes
 *       csize-short    declaring one byte less than it holds
 *       content-flipK  one content bit inverted, as above (a valid frame
 *                      of the wrong content, with its checksum)
 *       text           the text "not a database\n" x 1000 instead
 *   wsdamage wal OUT MODE ARG SEG... the last of the segments SEG... (the
 *                                    decoded segments of one WAL index,
 *                                    in order, from offset 0) damaged as
 *                                    a WAL and encoded again, MODE being
 *       cut-frame SEED  cut inside a frame (not on a frame boundary)
 *       cut-txn -       cut after the first frame of its last
 *                       transaction that has more than one frame
 *                       (inside the transaction), or at its first frame
 *       cut-commit -    cut after its second-to-last commit frame
 *       pgno N          the first frame's page number set to N
 *       commit N        the last commit frame's database size set to N
 *                       (both with the checksum chain recomputed from
 *                       that frame on, so only the claim is wrong)
 *
 * Objects are read whole; errors are one line on stderr, exit 1.
 */
#include "ws/lz4f.h"
#include "ws/wal.h"

#include <errno.h>
#include <lz4frame.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bytes {
    uint8_t *p;
    size_t n;
};

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "wsdamage: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static struct bytes slurp(const char *path)
{
    struct bytes b = {NULL, 0};
    size_t cap = 0, got;
    FILE *f = fopen(path, "rb");

    if (f == NULL)
        die("cannot open %s", path);
    do {
        if (b.n == cap) {
            cap = cap ? cap * 2 : 65536;
            b.p = realloc(b.p, cap);
            if (b.p == NULL)
                die("out of memory reading %s", path);
        }
        got = fread(b.p + b.n, 1, cap - b.n, f);
        b.n += got;
    } while (got > 0);
    if (ferror(f))
        die("cannot read %s", path);
    fclose(f);
    return b;
}

static void spill(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");

    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        die("cannot write %s", path);
}

/* splitmix64: the positions and cut points of a damage. */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static struct bytes decode(const char *path)
{
    struct bytes z = slurp(path), d = {NULL, 0};
    struct ws_err err;

    if (ws_lz4_decompress_mem(z.p, z.n, 0, &d.p, &d.n, &err) != WS_OK)
        die("%s is not a valid LZ4 frame", path);
    free(z.p);
    return d;
}

/* Encode d as one LZ4 frame with liblz4, 64 KiB blocks. */
static struct bytes encode(struct bytes d, int checksum, int csize)
{
    LZ4F_preferences_t prefs;
    struct bytes z;

    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    prefs.frameInfo.contentChecksumFlag =
        checksum ? LZ4F_contentChecksumEnabled : LZ4F_noContentChecksum;
    prefs.frameInfo.contentSize = csize ? d.n : 0;
    z.n = LZ4F_compressFrameBound(d.n, &prefs);
    z.p = malloc(z.n);
    if (z.p == NULL)
        die("%s", "out of memory");
    z.n = LZ4F_compressFrame(z.p, z.n, d.p, d.n, &prefs);
    if (LZ4F_isError(z.n))
        die("liblz4: %s", LZ4F_getErrorName(z.n));
    return z;
}

/* Set the declared content size of frame z (FLG has it) to v, and its
 * descriptor checksum byte to match. */
static void set_csize(struct bytes z, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        z.p[6 + i] = (uint8_t)(v >> (8 * i));
    z.p[14] = (uint8_t)(ws_xxh32(z.p + 4, 10, 0) >> 8);
}

static int cmd_flip(const char *out, long n, uint64_t seed, const char *in)
{
    struct bytes b = slurp(in);
    uint8_t *done;

    if (b.n == 0 || (size_t)n > b.n * 8)
        die("%s is too small to flip that many bits", in);
    done = calloc(b.n * 8, 1);
    for (long k = 0; k < n;) {
        uint64_t bit = next(&seed) % (b.n * 8);
        if (done[bit])
            continue;
        done[bit] = 1;
        b.p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        k++;
    }
    spill(out, b.p, b.n);
    free(done);
    free(b.p);
    return 0;
}

static int cmd_cut(const char *out, uint64_t seed, const char *in)
{
    struct bytes b = slurp(in);
    size_t hdr = 7, lo, hi, at;

    if (b.n < 12)
        die("%s is too small to cut", in);
    if (b.p[4] & 0x08)
        hdr += 8;
    lo = hdr + 4 + 1; /* past the first block's size field */
    hi = b.n - 1;
    if (!(seed & 1)) { /* inside the first block */
        uint32_t bs = (uint32_t)b.p[hdr] | (uint32_t)b.p[hdr + 1] << 8 |
                      (uint32_t)b.p[hdr + 2] << 16 |
                      (uint32_t)(b.p[hdr + 3] & 0x7f) << 24;
        if (hdr + 4 + bs < hi)
            hi = hdr + 4 + bs;
    }
    if (hi <= lo)
        die("%s has no block to cut into", in);
    at = lo + next(&seed) % (hi - lo);
    spill(out, b.p, at);
    free(b.p);
    return 0;
}

/* Invert one bit of d: at K/8 of it plus 2048 bytes (inside a page,
 * past its header, for a database), K the digit in k ("": 4); K 0: at
 * byte 2048 of every 4096, so that some page nothing rewrites is hit. */
static void flip_at(struct bytes d, const char *k)
{
    size_t at = d.n / 8 * (size_t)(*k >= '1' && *k <= '7' ? *k - '0' : 4);

    if (*k == '0') {
        for (at = 2048; at < d.n; at += 4096)
            d.p[at] ^= 0x10;
        return;
    }
    if (at + 2048 < d.n)
        at += 2048;
    if (d.n > 0)
        d.p[at < d.n ? at : d.n - 1] ^= 0x10;
}

static int cmd_lz4(const char *out, const char *mode, const char *in)
{
    struct bytes d = decode(in), z;
    static const char text[] = "not a database\n";

    if (strcmp(mode, "nocksum") == 0) {
        z = encode(d, 0, 0);
    } else if (strncmp(mode, "nocksum-flip", 12) == 0) {
        flip_at(d, mode + 12);
        z = encode(d, 0, 0);
    } else if (strcmp(mode, "csize-huge") == 0 ||
               strcmp(mode, "csize-short") == 0) {
        z = encode(d, 1, 1);
        set_csize(z, mode[6] == 'h' ? (uint64_t)1 << 40 : d.n - 1);
    } else if (strncmp(mode, "content-flip", 12) == 0) {
        flip_at(d, mode + 12);
        z = encode(d, 1, 0);
    } else if (strcmp(mode, "text") == 0) {
        free(d.p);
        d.n = 1000 * (sizeof(text) - 1);
        d.p = malloc(d.n);
        for (size_t i = 0; i < 1000; i++)
            memcpy(d.p + i * (sizeof(text) - 1), text, sizeof(text) - 1);
        z = encode(d, 1, 0);
    } else {
        die("unknown lz4 mode %s", mode);
    }
    spill(out, z.p, z.n);
    free(z.p);
    free(d.p);
    return 0;
}

/* The decoded index: segments concatenated; [start, end) is the last. */
struct walx {
    struct bytes w;
    size_t start;
    struct ws_wal_hdr h;
    uint64_t fs;
};

static void wal_load(struct walx *x, int nseg, char **segs)
{
    struct ws_err err;

    memset(x, 0, sizeof(*x));
    for (int i = 0; i < nseg; i++) {
        struct bytes d = decode(segs[i]);
        x->w.p = realloc(x->w.p, x->w.n + d.n);
        if (x->w.p == NULL)
            die("%s", "out of memory");
        if (i == nseg - 1)
            x->start = x->w.n;
        memcpy(x->w.p + x->w.n, d.p, d.n);
        x->w.n += d.n;
        free(d.p);
    }
    if (x->w.n < WS_WAL_HDR_SIZE ||
        ws_wal_decode_hdr(x->w.p, &x->h, &err) != WS_OK)
        die("%s does not start with a WAL header", segs[0]);
    x->fs = ws_wal_frame_size(x->h.page_size);
    if ((x->w.n - WS_WAL_HDR_SIZE) % x->fs != 0 || x->w.n <= x->start ||
        (x->start > 0 && (x->start - WS_WAL_HDR_SIZE) % x->fs != 0))
        die("%s: the segments do not hold whole frames", segs[0]);
}

/* Offsets of the last segment's frames (the first one past the header
 * when it starts the index). */
static size_t first_frame(const struct walx *x)
{
    return x->start == 0 ? WS_WAL_HDR_SIZE : x->start;
}

/* Recompute the checksum chain from the frame at off to the end. */
static void rechain(struct walx *x, size_t off)
{
    uint32_t s[2];
    int big = x->h.magic == WS_WAL_MAGIC_BE;

    if (off == WS_WAL_HDR_SIZE) {
        s[0] = x->h.cksum[0];
        s[1] = x->h.cksum[1];
    } else {
        s[0] = ws_get_be32(x->w.p + off - x->fs + 16);
        s[1] = ws_get_be32(x->w.p + off - x->fs + 20);
    }
    for (; off + x->fs <= x->w.n; off += x->fs) {
        ws_wal_checksum(big, x->w.p + off, 8, s);
        ws_wal_checksum(big, x->w.p + off + 24, x->h.page_size, s);
        ws_put_be32(x->w.p + off + 16, s[0]);
        ws_put_be32(x->w.p + off + 20, s[1]);
    }
}

/* The last commit frame's offset at or after from and before end, or 0. */
static size_t last_commit(const struct walx *x, size_t from, size_t end)
{
    size_t found = 0;

    for (size_t off = from; off + x->fs <= end; off += x->fs)
        if (ws_get_be32(x->w.p + off + 4) != 0)
            found = off;
    return found;
}

static void wal_emit(const char *out, struct walx *x, size_t end)
{
    struct bytes last = {x->w.p + x->start, end - x->start};
    struct bytes z = encode(last, 1, 0);

    spill(out, z.p, z.n);
    free(z.p);
}

static int cmd_wal(const char *out, const char *mode, const char *arg, int nseg,
                   char **segs)
{
    struct walx x;
    size_t f0, end, c;
    uint64_t seed = strtoull(arg, NULL, 0);

    wal_load(&x, nseg, segs);
    f0 = first_frame(&x);
    end = x.w.n;
    if (f0 + x.fs > end)
        die("%s holds no frame", segs[nseg - 1]);
    if (strcmp(mode, "cut-frame") == 0) {
        size_t k = (end - f0) / x.fs;
        size_t at = f0 + next(&seed) % k * x.fs + 1 + next(&seed) % (x.fs - 1);
        wal_emit(out, &x, at);
    } else if (strcmp(mode, "cut-txn") == 0) {
        /* After the first frame of a transaction of several frames. */
        size_t prev = f0, at = f0 + x.fs;
        for (size_t off = f0; off + x.fs <= end; off += x.fs) {
            if (ws_get_be32(x.w.p + off + 4) == 0)
                continue;
            if (off > prev)
                at = prev + x.fs;
            prev = off + x.fs;
        }
        wal_emit(out, &x, at);
    } else if (strcmp(mode, "cut-commit") == 0) {
        c = last_commit(&x, f0, end);
        c = c > 0 ? last_commit(&x, f0, c) : 0;
        if (c == 0)
            die("%s has fewer than two commits", segs[nseg - 1]);
        wal_emit(out, &x, c + x.fs);
    } else if (strcmp(mode, "pgno") == 0 || strcmp(mode, "commit") == 0) {
        size_t at = mode[0] == 'p' ? f0 : last_commit(&x, f0, end);
        if (at == 0)
            die("%s has no commit frame", segs[nseg - 1]);
        ws_put_be32(x.w.p + at + (mode[0] == 'p' ? 0 : 4), (uint32_t)seed);
        rechain(&x, at);
        wal_emit(out, &x, end);
    } else {
        die("unknown wal mode %s", mode);
    }
    free(x.w.p);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "flip") == 0)
        return cmd_flip(argv[2], strtol(argv[3], NULL, 10),
                        strtoull(argv[4], NULL, 0), argv[5]);
    if (argc == 5 && strcmp(argv[1], "cut") == 0)
        return cmd_cut(argv[2], strtoull(argv[3], NULL, 0), argv[4]);
    if (argc == 5 && strcmp(argv[1], "lz4") == 0)
        return cmd_lz4(argv[2], argv[3], argv[4]);
    if (argc >= 6 && strcmp(argv[1], "wal") == 0)
        return cmd_wal(argv[2], argv[3], argv[4], argc - 5, argv + 5);
    fputs("usage: wsdamage flip OUT N SEED IN | cut OUT SEED IN |\n"
          "       lz4 OUT MODE IN | wal OUT MODE ARG SEG...\n",
          stderr);
    return 2;
}
