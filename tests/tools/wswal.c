/*
 * wswal: forge SQLite WAL bytes whose checksums are right, for tests
 * that show restore refuses what a valid chain can still claim.
 *
 *   wswal FILE info                  "frames N page_size P"
 *   wswal FILE set N FIELD VALUE...  set FIELD (pgno or commit) of frame
 *                                    N (0 is the first; -1 the last) to
 *                                    VALUE, then recompute the checksum
 *                                    of every frame, in place
 *
 * FILE is a WAL from offset 0: its 32-byte header, then whole frames (a
 * whole index of a replica, decompressed and concatenated).  Errors: one
 * line, exit 1.
 */
#include "ws/err.h"
#include "ws/fs.h"
#include "ws/wal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *what)
{
    fprintf(stderr, "wswal: %s\n", what);
    return 1;
}

/* Recompute every frame's checksum from the header's on. */
static void rechain(uint8_t *b, const struct ws_wal_hdr *h, size_t nframes)
{
    int big = h->magic == WS_WAL_MAGIC_BE;
    uint64_t fs = ws_wal_frame_size(h->page_size);
    uint32_t s[2] = {h->cksum[0], h->cksum[1]};

    for (size_t i = 0; i < nframes; i++) {
        uint8_t *f = b + WS_WAL_HDR_SIZE + i * fs;
        ws_wal_checksum(big, f, 8, s);
        ws_wal_checksum(big, f + WS_WAL_FRAME_HDR_SIZE, h->page_size, s);
        ws_put_be32(f + 16, s[0]);
        ws_put_be32(f + 20, s[1]);
    }
}

int main(int argc, char **argv)
{
    struct ws_err err = {0};
    struct ws_wal_hdr h;
    char *buf = NULL;
    size_t len, nframes;
    uint64_t fs;

    if (argc < 3)
        return die("usage: wswal FILE info | set N pgno|commit VALUE...");
    if (ws_fs_read_all(argv[1], (size_t)1 << 31, &buf, &len, &err) != WS_OK)
        return die(err.msg);
    if (len < WS_WAL_HDR_SIZE ||
        ws_wal_decode_hdr((uint8_t *)buf, &h, &err) != WS_OK)
        return die(err.msg[0] ? err.msg : "no WAL header");
    fs = ws_wal_frame_size(h.page_size);
    if ((len - WS_WAL_HDR_SIZE) % fs != 0)
        return die("not whole frames");
    nframes = (len - WS_WAL_HDR_SIZE) / fs;
    if (strcmp(argv[2], "info") == 0) {
        printf("frames %zu page_size %u\n", nframes, h.page_size);
        return 0;
    }
    for (int i = 2; i < argc; i += 4) {
        long n;
        if (i + 3 >= argc || strcmp(argv[i], "set") != 0)
            return die("expected: set N pgno|commit VALUE");
        n = strtol(argv[i + 1], NULL, 10);
        if (n < 0)
            n += (long)nframes;
        if (n < 0 || (size_t)n >= nframes)
            return die("no such frame");
        ws_put_be32((uint8_t *)buf + WS_WAL_HDR_SIZE + (size_t)n * fs +
                        (strcmp(argv[i + 2], "commit") == 0 ? 4 : 0),
                    (uint32_t)strtoul(argv[i + 3], NULL, 0));
    }
    rechain((uint8_t *)buf, &h, nframes);
    if (ws_fs_write_atomic(argv[1], buf, len, 0600, &err) != WS_OK)
        return die(err.msg);
    free(buf);
    return 0;
}
