/*
 * lz4f.h: streaming LZ4 frames in exactly the shape Litestream v0.3 reads
 * and writes.
 *
 * Every replica object is one LZ4 frame (official frame format, magic
 * 0x184D2204).  The writer emits FLG 0x64 (version 01, independent
 * blocks, content checksum, no block checksum, no content size), BD 0x70
 * (4 MiB maximum block size) and the header checksum byte, then blocks of
 * at most WS_LZ4_BLOCK uncompressed bytes (a block that does not shrink is
 * stored raw with bit 31 set), the end mark and the xxh32 (seed 0) of all
 * uncompressed bytes.  Smaller blocks than the declared maximum are legal
 * and keep walship's memory small.
 *
 * The reader is push-driven (bytes arrive from a file or a network body
 * in arbitrary pieces) and strict: it checks the magic, version, reserved
 * bits, header checksum, every block size against the declared maximum,
 * block checksums when flagged, the content size when flagged and the
 * content checksum, which it requires: a frame whose FLG lacks it (bit
 * 2) is refused at its descriptor.  The content checksum is what proves
 * a snapshot's bytes (nothing else covers them), and walship and
 * Litestream v0.3 (pierrec/lz4 with its default options) always write
 * one; liblz4's own default (LZ4F_preferences_t zeroed) does not, and
 * such a frame is refused too.  It accepts zero-length blocks
 * (Litestream writes one when a snapshot is a multiple of 4 MiB) and
 * skippable frames (0x184D2A50..5F) before or after the data frame.
 * Anything else -- a second data frame, trailing garbage, a truncated
 * input, output past the caller's limit -- is WS_ECORRUPT with a message
 * giving the byte offset in the compressed stream and the failed check.
 *
 * Neither side does I/O itself: output goes to a ws_sink_fn.
 */
#ifndef WS_LZ4F_H
#define WS_LZ4F_H

#include <stddef.h>
#include <stdint.h>

#include "ws/err.h"

#define WS_LZ4_BLOCK (256 * 1024) /* uncompressed bytes per written block */

/* Receives output bytes.  Returns WS_OK, or an error (filled into err)
 * that aborts the current call and is returned by it. */
typedef int (*ws_sink_fn)(void *ctx, const void *buf, size_t len,
                          struct ws_err *err);

/* xxHash32 of buf with the given seed (exposed for tests). */
uint32_t ws_xxh32(const void *buf, size_t len, uint32_t seed);

struct ws_lz4w;

#define WS_LZ4_MAX_THREADS 3 /* compressing threads besides the caller */

/* A new frame writer that sends compressed bytes to sink(ctx, ...).
 * Returns NULL when out of memory.  The frame header is emitted by the
 * first ws_lz4w_write() or by ws_lz4w_finish(), whichever comes first.
 * The sink is called only from inside ws_lz4w_write/finish, on the
 * caller's thread. */
struct ws_lz4w *ws_lz4w_new(ws_sink_fn sink, void *ctx);

/* The same, with nthreads threads of its own (at most
 * WS_LZ4_MAX_THREADS; < 0: one per online CPU besides the caller's)
 * compressing blocks while the caller hashes, fills and emits; for large
 * objects (snapshots).  The blocks are independent, so the output is the
 * same bytes whatever nthreads, and the sink is still called only on the
 * caller's thread, in order.  Holds 2 * (nthreads + 1) blocks of input
 * and output (about 1 MiB per thread); the threads start with the second
 * block (a one-block object costs none) and ws_lz4w_free() stops them. */
struct ws_lz4w *ws_lz4w_new_mt(ws_sink_fn sink, void *ctx, int nthreads);

/* Compress len bytes.  Input is buffered up to WS_LZ4_BLOCK bytes; full
 * blocks go to the sink as they fill. */
int ws_lz4w_write(struct ws_lz4w *w, const void *buf, size_t len,
                  struct ws_err *err);

/* Flush the last partial block, the end mark and the content checksum.
 * After this only ws_lz4w_free() may be called. */
int ws_lz4w_finish(struct ws_lz4w *w, struct ws_err *err);

/* Uncompressed bytes accepted so far. */
uint64_t ws_lz4w_total_in(const struct ws_lz4w *w);

/* Compressed bytes emitted so far. */
uint64_t ws_lz4w_total_out(const struct ws_lz4w *w);

void ws_lz4w_free(struct ws_lz4w *w);

struct ws_lz4r;

/* The most an LZ4 frame of `compressed` bytes can decode to: 255 bytes
 * for each, the densest encoding being a match whose length goes on in
 * bytes of 255 (literals and raw blocks are 1:1, headers decode to
 * nothing).  The bound a reader of an object of known size takes for
 * max_out, so that a decompression bomb costs at most that. */
uint64_t ws_lz4_max_output(uint64_t compressed);

/* A new frame reader that sends decompressed bytes to sink(ctx, ...).
 * max_out bounds the decompressed size (0 = no bound); exceeding it is
 * WS_ECORRUPT (decompression bomb guard).  NULL when out of memory. */
struct ws_lz4r *ws_lz4r_new(ws_sink_fn sink, void *ctx, uint64_t max_out);

/* A reader that checks only the frame's structure (magic, descriptor,
 * block sizes, end mark, nothing after the frame but skippable frames)
 * without decoding or checking the content: for a download that is
 * decoded later, so that bytes past the frame's end stop it at once
 * instead of filling a disk.  It allocates nothing more.  NULL when out
 * of memory. */
struct ws_lz4r *ws_lz4r_new_scan(void);

/* Feed len compressed bytes, in pieces of any size. */
int ws_lz4r_write(struct ws_lz4r *r, const void *buf, size_t len,
                  struct ws_err *err);

/* Declare the end of input.  WS_OK only when exactly one complete data
 * frame (with a good content checksum) was seen. */
int ws_lz4r_finish(struct ws_lz4r *r, struct ws_err *err);

/* Decompressed bytes emitted so far. */
uint64_t ws_lz4r_total_out(const struct ws_lz4r *r);

/* 1 when ws_lz4r_finish failed because the input ended inside the
 * frame (every byte before was good): a frame cut short, as opposed to
 * a damaged one. */
int ws_lz4r_cut_short(const struct ws_lz4r *r);

void ws_lz4r_free(struct ws_lz4r *r);

/* One-shot helpers over memory, for tests and small objects.  *out is
 * malloc'd and owned by the caller; written only on success. */
int ws_lz4_compress_mem(const void *in, size_t len, uint8_t **out,
                        size_t *outlen, struct ws_err *err);
int ws_lz4_decompress_mem(const void *in, size_t len, uint64_t max_out,
                          uint8_t **out, size_t *outlen, struct ws_err *err);

#endif
