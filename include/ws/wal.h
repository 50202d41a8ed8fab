/*
 * wal.h: SQLite's write-ahead log format, decoded.  Pure: no I/O.
 *
 * A WAL file is a 32-byte header followed by frames of 24 + page_size
 * bytes (as SQLite's src/wal.c describes them).  All integers are
 * big-endian.  The header holds the magic (0x377f0682: checksum words
 * read little-endian; 0x377f0683: big-endian), the format version
 * 3007000, the page size, a checkpoint sequence number, two salts and a
 * checksum over its first 24 bytes.  Each frame header holds the page
 * number, the database size in pages after commit (non-zero only on a
 * commit frame), the two salts copied from the WAL header, and a
 * cumulative checksum over the header, every earlier frame's first 8
 * header bytes and page, and its own.  A frame is valid only when its
 * salts match and its checksum continues the chain; a page is visible
 * only when its frame is a commit frame or is followed by one.
 *
 * struct ws_wal_scan walks a chain of frames from a known position (an
 * offset and the running checksum there) to the first frame that breaks
 * it, over bytes handed to it in pieces, and keeps where the last commit
 * frame ended: what the shadow WAL copies from the -wal, and what is kept
 * of a shadow file or a -wal that may end in a torn or stale frame.
 *
 * struct ws_walv checks a byte stream (a WAL file, or the concatenated
 * segments of one index) against those rules incrementally and reports
 * the frames it accepted; it is what restore uses to prove a replica's
 * segments continue each other exactly.
 */
#ifndef WS_WAL_H
#define WS_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "ws/err.h"

#define WS_WAL_HDR_SIZE 32
#define WS_WAL_FRAME_HDR_SIZE 24
#define WS_WAL_MAGIC_LE 0x377f0682u
#define WS_WAL_MAGIC_BE 0x377f0683u
#define WS_WAL_VERSION 3007000u
#define WS_WAL_MAX_PAGE 65536u

struct ws_wal_hdr {
    uint32_t magic;
    uint32_t version;
    uint32_t page_size;  /* decoded: 65536 stays 65536 */
    uint32_t ckpt_seq;   /* checkpoint sequence number */
    uint32_t salt1;
    uint32_t salt2;
    uint32_t cksum[2];   /* over bytes 0..23 */
};

struct ws_wal_frame {
    uint32_t pgno;
    uint32_t commit;     /* database size in pages after commit, or 0 */
    uint32_t salt1;
    uint32_t salt2;
    uint32_t cksum[2];
};

/* Big-endian helpers. */
uint32_t ws_get_be32(const uint8_t *p);
void ws_put_be32(uint8_t *p, uint32_t v);

/* The WAL checksum: update s[0], s[1] over n bytes (n a multiple of 8);
 * big selects big-endian words (magic 0x377f0683). */
void ws_wal_checksum(int big, const uint8_t *b, size_t n, uint32_t s[2]);

/* Decode and validate a 32-byte header: magic, version, page size (a
 * power of two from 512 to 65536) and header checksum. */
int ws_wal_decode_hdr(const uint8_t *b, struct ws_wal_hdr *h,
                      struct ws_err *err);

/* Encode h (computing its checksum) into b[32]; h->cksum is updated. */
void ws_wal_encode_hdr(struct ws_wal_hdr *h, uint8_t *b);

/* Decode a 24-byte frame header (no checks). */
void ws_wal_decode_frame(const uint8_t *b, struct ws_wal_frame *f);

/* 24 + page_size. */
static inline uint64_t ws_wal_frame_size(uint32_t page_size)
{
    return WS_WAL_FRAME_HDR_SIZE + (uint64_t)page_size;
}

/* Round off down to a frame boundary: 0 below 32, else
 * 32 + k * frame_size. */
uint64_t ws_wal_align(uint64_t off, uint32_t page_size);

/* Whether the frame header fh (24 bytes) carries the salts of h, that
 * is, belongs to h's index (its checksum is not checked: that needs the
 * frame before it).  When it does and s is not NULL, s gets the running
 * checksum stored in it (bytes 16 to 23), from which a walk of the
 * frames after it can go on. */
int ws_wal_frame_of(const struct ws_wal_hdr *h, const uint8_t *fh,
                    uint32_t s[2]);

/* Check that frame (24 + page_size bytes) continues the chain whose last
 * checksum is s[] under header h.  Returns 1 and advances s when valid,
 * 0 (leaving s alone) when the salts differ or the checksum breaks. */
int ws_wal_frame_valid(const struct ws_wal_hdr *h, const uint8_t *frame,
                       uint32_t s[2]);

/* A walk along the frame chain of one index. */
struct ws_wal_scan {
    struct ws_wal_hdr hdr;  /* the index's header: salts, byte order */
    uint64_t fsize;         /* bytes per frame */
    uint64_t off;           /* WAL offset of the next frame */
    uint32_t s[2];          /* running checksum at off */
    uint64_t commit;        /* offset just past the last commit frame
                             * walked (the start offset until one) */
    uint32_t cs[2];         /* running checksum at commit */
    int broken;             /* a frame broke the chain or had other salts:
                             * the walk ended before it, for good */
};

/* Start a walk of the index with header h at offset off (32: the first
 * frame), where the running checksum is s (h->cksum at 32). */
void ws_wal_scan_init(struct ws_wal_scan *w, const struct ws_wal_hdr *h,
                      uint64_t off, const uint32_t s[2]);

/* Walk the frames of b, n bytes of the WAL from offset w->off, in order:
 * a frame that continues the chain (ws_wal_frame_valid) advances off and
 * s, and a commit frame among them then advances commit and cs and calls
 * on_commit(ctx, commit) when on_commit is not NULL.  The walk ends at
 * the first frame that breaks the chain (broken is set, and no later
 * call walks on), at the end of the whole frames in b (a partial frame
 * at the end is left for a later call, from w->off), or after a commit
 * frame for which on_commit returned non-zero: that value is returned.
 * *used: the bytes of b walked.  Returns 0 otherwise. */
int ws_wal_scan(struct ws_wal_scan *w, const uint8_t *b, size_t n,
                size_t *used, int (*on_commit)(void *ctx, uint64_t commit),
                void *ctx);

/*
 * The wal-index header: the -shm file (SQLite's "wal-index header")
 * begins with two copies of a 48-byte header, in
 * the host's byte order.  A writer updates it only after a commit's
 * frames are in the -wal (and synced, when synchronous asks for it):
 * copy 2 first, then copy 1, so a reader that reads copy 1, then copy 2,
 * and finds them equal, initialised and with a valid checksum over their
 * first 40 bytes has a consistent header.  mx_frame then counts the
 * committed frames of the WAL whose header holds the same salts (a
 * restart changes the salts here before writing the new WAL header).
 */
#define WS_WALIDX_HDR_SIZE 96 /* both copies */

struct ws_walidx {
    uint32_t change;     /* iChange: bumped by every transaction */
    uint32_t page_size;  /* decoded: 65536 stays 65536 */
    uint32_t mx_frame;   /* committed frames in the WAL */
    uint32_t salt1;      /* the WAL header's salts, as ws_wal_hdr has */
    uint32_t salt2;      /* them */
};

/* Decode b[0..WS_WALIDX_HDR_SIZE).  WS_EBUSY when the copies differ (a
 * writer was between them: read again later); WS_ECORRUPT when the
 * header is uninitialised or fails its checksum.  *out is written only
 * on WS_OK. */
int ws_walidx_decode(const uint8_t *b, struct ws_walidx *out);

/* Incremental verifier for one WAL index. */
struct ws_walv {
    struct ws_wal_hdr hdr;
    int have_hdr;
    uint32_t s[2];          /* running checksum */
    uint64_t off;           /* bytes consumed == offset in the WAL */
    uint64_t commit_off;    /* offset just past the last commit frame */
    uint32_t commit_pages;  /* database size at the last commit */
    uint64_t frames;        /* frames accepted */
    uint8_t *buf;           /* partial frame or header */
    size_t nbuf;
    /* Called for every valid frame, in order (may be NULL). */
    int (*on_frame)(void *ctx, const struct ws_wal_frame *f,
                    const uint8_t *page, uint64_t off, struct ws_err *err);
    void *ctx;
};

/* Start verifying an index from offset 0 (expects the header first). */
void ws_walv_init(struct ws_walv *v);

/* Feed bytes.  Every frame must be valid (salts and chain); a broken
 * frame is WS_ECORRUPT naming its offset and page. */
int ws_walv_feed(struct ws_walv *v, const void *buf, size_t len,
                 struct ws_err *err);

/* End of input: WS_OK only if the stream holds a whole header, whole
 * frames and ends exactly on a commit frame (or holds no frames). */
int ws_walv_end(struct ws_walv *v, struct ws_err *err);

void ws_walv_free(struct ws_walv *v);

#endif
