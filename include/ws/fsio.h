/*
 * fsio.h: plain file I/O on descriptors and paths, whole or failed.
 *
 * Short reads and writes and EINTR are handled here so that callers see
 * whole buffers or an error.  A failed fsync is never retried-and-
 * ignored: the caller gets WS_EIO and must treat the file as lost (after
 * a failed writeback Linux may drop the dirty pages, and a second fsync
 * then "succeeds" over data that never reached the disk).  Nothing here
 * creates a file or checks a directory: fs.h does that.
 */
#ifndef WS_FSIO_H
#define WS_FSIO_H

#include <stddef.h>
#include <stdint.h>

#include "ws/err.h"

/* Read up to len bytes at off; *got is less than len only at EOF. */
int ws_fs_pread(int fd, void *buf, size_t len, uint64_t off, size_t *got,
                struct ws_err *err);

/* Write all len bytes at off. */
int ws_fs_pwrite(int fd, const void *buf, size_t len, uint64_t off,
                 struct ws_err *err);

/* fsync(fd); path is only used in the message. */
int ws_fs_fsync(int fd, const char *path, struct ws_err *err);

/* Open dir and fsync it. */
int ws_fs_fsync_dir(const char *dir, struct ws_err *err);

/* fsync the directory that contains path. */
int ws_fs_fsync_parent(const char *path, struct ws_err *err);

/* Copy len bytes from in (at offset 0) to out (at offset 0); a short
 * source is WS_EIO.  inpath and outpath are only used in messages. */
int ws_fs_copy(int in, const char *inpath, int out, const char *outpath,
               uint64_t len, struct ws_err *err);

/* Size of the file, or WS_ENOTFOUND. */
int ws_fs_size(const char *path, uint64_t *size, struct ws_err *err);

#endif
