/*
 * path.h: file paths as the config reads them: Go's path.Clean, made
 * absolute, with a leading "~" expanded.
 *
 * Litestream is written in Go and cleans every path it is given with
 * path.Clean (via filepath.Abs); walship cleans the same way, so that a
 * config names the same directory under both and two spellings of one
 * place ("/a//b/", "/a/./b") compare equal.  The rules, applied
 * lexically (no symbolic link is followed, nothing is looked at on disk):
 *
 *   1. a run of slashes is one slash;
 *   2. each "." segment is dropped;
 *   3. each ".." segment removes the segment before it, unless that one
 *      is itself a ".." that could not be removed;
 *   4. a ".." right after the root is dropped ("/.." is "/");
 *   5. no trailing slash, except for the root itself;
 *   6. an empty result is ".".
 *
 * So "a//b" is "a/b", "/../a" is "/a", "a/../.." is "..", "" is ".".
 * The result is never longer than the input.
 *
 * A path made absolute is joined to the working directory first, then
 * cleaned.  "~" and "~/..." (only those, as Litestream's expandHomeDir:
 * "~user" is a plain name) stand for $HOME, or for the user's home
 * directory in the password database when $HOME is unset or empty.
 *
 * It also splits and joins paths as plain strings ("a" + "/" + "b", the
 * part before the last slash, the part after it), with no cleaning.
 *
 * This module owns the lexical rules only; fs.h checks and creates what
 * is on disk.
 */
#ifndef WS_PATH_H
#define WS_PATH_H

#include "ws/err.h"

/* Go's path.Clean of s (rules above).  A malloc'd string, or NULL when
 * out of memory. */
char *ws_path_clean(const char *s);

/* path joined to the working directory unless absolute, then cleaned.
 * A malloc'd string, or NULL (path NULL, or errno: ENOMEM, or what
 * getcwd failed with). */
char *ws_path_abs(const char *path);

/* ws_path_abs of path with a leading "~" or "~/" expanded first.  On
 * success *out is the caller's; on failure it is NULL and err (which
 * may be NULL) says why: "cannot expand ~/x: no home directory",
 * "cannot make x absolute: <errno>", or out of memory. */
int ws_path_expand(const char *path, char **out, struct ws_err *err);

/* "a" + "/" + "b" as a malloc'd string (NULL on ENOMEM). */
char *ws_path_join(const char *a, const char *b);

/* Directory part of path (malloc'd): "/a/b" -> "/a", "b" -> ".". */
char *ws_path_dir(const char *path);

/* The last component of path, inside path: "/a/b" -> "b", "/a/" -> "". */
const char *ws_path_base(const char *path);

#endif
