/*
 * fs.h: the local filesystem, done durably and safely: trusted
 * directories (fs.c) and the files walship makes in them (fs_file.c).
 * Plain I/O is fsio.h's, string paths path.h's, the clocks clock.h's;
 * this header includes all three, which its callers use with it.
 *
 * Durable writes follow one recipe everywhere: write a temporary file in
 * the target's directory, fsync it, rename it over the target, fsync the
 * directory (fsio.h says what a failed fsync means).
 *
 * Safe creation.  walship often runs as root, beside directories that
 * other users can write to, so no name it writes to may be one that
 * someone else planted (a symbolic link to a file of root's, a hard
 * link, another user's file):
 *
 *   - Every file walship creates is new.  It is opened with
 *     O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC under a name nobody can guess,
 *     "<base>.tmp-XXXXXX" (six random letters and digits), filled,
 *     synced and renamed into place; rename replaces a link that sits at
 *     the final name instead of following it.  A lock file, which must
 *     keep its name, is opened with O_NOFOLLOW and must then be a
 *     regular file with one link, owned by walship's user.
 *   - Files are created, renamed and removed relative to a directory
 *     descriptor (struct ws_fs_dir), opened once and checked through
 *     that descriptor, never through a path resolved again later, so a
 *     directory renamed or replaced by a link after the check redirects
 *     nothing.  The directories walship names itself under such a
 *     directory ("generations/<gen>/wal") are opened one component at a
 *     time with O_NOFOLLOW.
 *   - A path the user gives (a meta dir, a directory replica) is walked
 *     from "/" (or the working directory) one component at a time,
 *     each opened O_PATH|O_NOFOLLOW relative to the one before, the
 *     missing ones made with mkdirat; never resolved as a whole string,
 *     where a link anywhere in it would be followed.  A component that
 *     is a symbolic link is followed (its target walked in its place)
 *     only when nobody but root or walship's user can have put it there
 *     or can swap it: the link is owned by one of them, and so is the
 *     directory it sits in, which nobody else can write to (or which is
 *     sticky, where nobody else can remove or rename it).  So
 *     /var/run -> /run is followed, and a link another user planted in
 *     a shared directory (/tmp/mp/shared -> elsewhere) is refused,
 *     naming it, before anything is made behind it.  A restore's output
 *     directory (WS_FS_ANY) follows any link: see below.
 *   - The rule for a directory walship writes in: it is a directory,
 *     owned by walship's effective user or by root, and not writable by
 *     group or others.  A directory walship creates is checked the same
 *     way right after its mkdir, since a race can put someone else's
 *     there first.  One caller may skip the rule (WS_FS_ANY): a
 *     restore's output directory, which the user names and which is
 *     often the application's (another user's, or group-writable on a
 *     shared volume).  Restore creates only an unnamed file there
 *     (O_TMPFILE), or where the filesystem has none an unguessable name
 *     with O_EXCL|O_NOFOLLOW, and publishes it as the output without
 *     ever replacing a file, checking that what it publishes is its own
 *     file (ws_fs_tmp_publish), so a planted or swapped name redirects
 *     nothing and is never published; whoever can write in that
 *     directory can replace the output afterwards anyway, so refusing
 *     it would protect nothing.
 *
 * A refused directory or file is WS_ECONFIG (it does not go away by
 * itself) with one line naming it and the reason (its owner's uid, its
 * mode, "a symbolic link").
 */
#ifndef WS_FS_H
#define WS_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ws/clock.h"
#include "ws/err.h"
#include "ws/fsio.h"
#include "ws/path.h"

/* ---- trusted directories -------------------------------------------- */

/* Flags for ws_fs_dir_open and ws_fs_dir_sub. */
#define WS_FS_CREATE 1   /* mkdir it (and, for a path, its parents) */
#define WS_FS_NOFOLLOW 2 /* a path whose last component must not be a link */
#define WS_FS_ANY 4      /* any owner and mode: the caller only creates
                          * unguessable names and never replaces */

/* A directory open for writing in, checked by the rule above. */
struct ws_fs_dir {
    int fd;     /* O_DIRECTORY descriptor, -1 when closed */
    char *path; /* its path, for messages (owned) */
};

/* Open the directory at path, walked as above (links in it followed only
 * when trusted, any under WS_FS_ANY, a last one never under
 * WS_FS_NOFOLLOW), and check it.  With WS_FS_CREATE a missing
 * directory and its missing parents are made with mode, each creation
 * fsynced in its directory; *created (may be NULL) is then 1 when this
 * call made the directory itself.  A missing
 * directory without WS_FS_CREATE is WS_ENOTFOUND.  On failure d is closed
 * (fd -1, path NULL). */
int ws_fs_dir_open(struct ws_fs_dir *d, const char *path, int flags,
                   mode_t mode, int *created, struct ws_err *err);

/* Open rel ("a/b/c", walship's own names) under parent, one component at
 * a time with O_NOFOLLOW, each checked; WS_FS_CREATE makes the missing
 * ones with mode and fsyncs the directory each was made in.  WS_ENOTFOUND
 * when one is missing without it.  On failure d is closed. */
int ws_fs_dir_sub(struct ws_fs_dir *d, const struct ws_fs_dir *parent,
                  const char *rel, int flags, mode_t mode,
                  struct ws_err *err);

/* Close d (a closed d is fine). */
void ws_fs_dir_close(struct ws_fs_dir *d);

/* fsync the directory. */
int ws_fs_dir_fsync(const struct ws_fs_dir *d, struct ws_err *err);

/* Create a new file "<base>.tmp-XXXXXX" in d (O_CREAT|O_EXCL|O_NOFOLLOW,
 * read-write, with mode).  Its name goes to name (n bytes; base must
 * leave room for the 12-byte suffix) and its descriptor to *fd.
 * WS_ENOTFOUND when d has been removed. */
int ws_fs_tmp_create(const struct ws_fs_dir *d, const char *base,
                     mode_t mode, char *name, size_t n, int *fd,
                     struct ws_err *err);

/* A new file in d that has no name (O_TMPFILE), read-write with mode;
 * name is then "".  Where d's filesystem cannot make one, a named one as
 * ws_fs_tmp_create makes it, whose name goes to name. */
int ws_fs_tmp_anon(const struct ws_fs_dir *d, const char *base,
                   mode_t mode, char *name, size_t n, int *fd,
                   struct ws_err *err);

/* 1 when name in d (not followed if a link) is the file fd is open on. */
int ws_fs_is_ours(const struct ws_fs_dir *d, const char *name, int fd);

/* Give the file fd, made by ws_fs_tmp_anon with name tmp, the name
 * `name` in d, never replacing anything there (WS_EEXIST).  An unnamed
 * file is linked there, through /proc/self/fd, so what appears at name
 * is that file and nothing else.  A named one is renamed, after checking
 * that tmp is still fd's file and that name is after the rename; when
 * either is not (someone who can write in d swapped them), what the
 * rename put at name is removed and this is WS_ECONFIG naming d.  fd
 * stays open.  The caller fsyncs d. */
int ws_fs_tmp_publish(const struct ws_fs_dir *d, const char *tmp, int fd,
                      const char *name, struct ws_err *err);

/* 1 if name is one of walship's temporary names ("*.tmp-XXXXXX") or
 * Litestream's ("*.tmp"). */
int ws_fs_is_tmp_name(const char *name);

/* Remove what a temporary name holds in d (ws_fs_is_tmp_name; not a
 * directory; a link is removed, never followed): what a process killed
 * between creating and publishing a file left.  Only for a directory no
 * other process writes in while this runs (one whose lock the caller
 * holds).  Best effort: nothing is said. */
void ws_fs_sweep_tmp(const struct ws_fs_dir *d);

/* Finish a file made by ws_fs_tmp_create: fsync fd, rename tmp over name
 * in d, fsync d.  On failure tmp is removed.  fd stays open (the
 * caller's), and refers to name on success. */
int ws_fs_tmp_commit(const struct ws_fs_dir *d, const char *tmp, int fd,
                     const char *name, struct ws_err *err);

/* Replace name in d with buf durably (a temporary file, fsync, rename,
 * fsync of d).  With fd_out the new file stays open, read-write, as
 * *fd_out; else it is closed. */
int ws_fs_write_atomic_at(const struct ws_fs_dir *d, const char *name,
                          const void *buf, size_t len, mode_t mode,
                          int *fd_out, struct ws_err *err);

/* The same for a path: its directory is opened with ws_fs_dir_open. */
int ws_fs_write_atomic(const char *path, const void *buf, size_t len,
                       mode_t mode, struct ws_err *err);

/* Open (creating it with mode 0600 if missing) the lock file name in d,
 * read-write; it must be a regular file with one link, owned by
 * walship's user.  Nothing is written to it. */
int ws_fs_lock_open(const struct ws_fs_dir *d, const char *name, int *fd,
                    struct ws_err *err);

/* Open name in d read-write (O_NOFOLLOW; no creation).  WS_ENOTFOUND when
 * it does not exist. */
int ws_fs_open_at(const struct ws_fs_dir *d, const char *name, int *fd,
                  struct ws_err *err);

/* Read a whole file of at most max bytes into a malloc'd, NUL-terminated
 * buffer, never through a final symbolic link (that is WS_EIO).  Missing
 * file: WS_ENOTFOUND. */
int ws_fs_read_all(const char *path, size_t max, char **out, size_t *len,
                   struct ws_err *err);

/* The same for name in d. */
int ws_fs_read_all_at(const struct ws_fs_dir *d, const char *name,
                      size_t max, char **out, size_t *len,
                      struct ws_err *err);

/* Remove name in d, and everything under it if it is a directory,
 * following no link; a missing name is not an error. */
int ws_fs_rm_rf_at(const struct ws_fs_dir *d, const char *name,
                   struct ws_err *err);

/* The same for a path (its directory is not checked). */
int ws_fs_rm_rf(const char *path, struct ws_err *err);

/* mkdir -p with the given mode for created directories: ws_fs_dir_open
 * with WS_FS_CREATE, closed again (tests use it). */
int ws_fs_mkdir_p(const char *path, mode_t mode, struct ws_err *err);

#endif
