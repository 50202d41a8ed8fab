/*
 * fs.h: the local filesystem, done durably.
 *
 * Durable writes follow one recipe everywhere: write a temporary file in
 * the target's directory, fsync it, rename it over the target, fsync the
 * directory.  A failed fsync is never retried-and-ignored: the caller
 * gets WS_EIO and must treat the file as lost (RELIABILITY.md section 5,
 * "fsyncgate").  Short reads and writes and EINTR are handled here so
 * that callers see whole buffers or an error.
 */
#ifndef WS_FS_H
#define WS_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/* mkdir -p with the given mode for created directories. */
int ws_fs_mkdir_p(const char *path, mode_t mode, struct ws_err *err);

/* Replace path with buf durably (tmp, fsync, rename, fsync dir). */
int ws_fs_write_atomic(const char *path, const void *buf, size_t len,
                       mode_t mode, struct ws_err *err);

/* Read a whole file of at most max bytes into a malloc'd, NUL-terminated
 * buffer.  Missing file: WS_ENOTFOUND. */
int ws_fs_read_all(const char *path, size_t max, char **out, size_t *len,
                   struct ws_err *err);

/* rm -rf; a missing path is not an error. */
int ws_fs_rm_rf(const char *path, struct ws_err *err);

/* Size of the file, or WS_ENOTFOUND. */
int ws_fs_size(const char *path, uint64_t *size, struct ws_err *err);

/* "a" + "/" + "b" as a malloc'd string (NULL on ENOMEM). */
char *ws_path_join(const char *a, const char *b);

/* Directory part of path (malloc'd): "/a/b" -> "/a", "b" -> ".". */
char *ws_path_dir(const char *path);

/* Monotonic and wall clocks in milliseconds. */
int64_t ws_now_ms(void);
int64_t ws_wall_ms(void);

#endif
