/*
 * path.c: see path.h.
 */
#include "ws/path.h"

#include "ws/str.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One pass over s, writing at w: `dotdot` is where the part that a ".."
 * may remove begins (after the root, or after the leading ".."s that a
 * relative path keeps). */
char *ws_path_clean(const char *s)
{
    size_t n = strlen(s), w = 0, r = 0, dotdot;
    int rooted = s[0] == '/';
    char *p = malloc(n + 2);

    if (p == NULL)
        return NULL;
    if (rooted) {
        p[w++] = '/';
        r = 1;
    }
    dotdot = w;
    while (r < n) {
        if (s[r] == '/') {
            r++;
        } else if (s[r] == '.' && (r + 1 == n || s[r + 1] == '/')) {
            r++;
        } else if (s[r] == '.' && s[r + 1] == '.' &&
                   (r + 2 == n || s[r + 2] == '/')) {
            r += 2;
            if (w > dotdot) {
                for (w--; w > dotdot && p[w] != '/'; w--)
                    ;
            } else if (!rooted) {
                if (w > 0)
                    p[w++] = '/';
                p[w++] = '.';
                p[w++] = '.';
                dotdot = w;
            }
        } else {
            if ((rooted && w != 1) || (!rooted && w != 0))
                p[w++] = '/';
            for (; r < n && s[r] != '/'; r++)
                p[w++] = s[r];
        }
    }
    if (w == 0)
        p[w++] = '.';
    p[w] = '\0';
    return p;
}

char *ws_path_abs(const char *path)
{
    char *cwd, *joined, *res;

    if (path == NULL || path[0] == '/')
        return path ? ws_path_clean(path) : NULL;
    cwd = getcwd(NULL, 0);
    joined = cwd ? ws_strf("%s/%s", cwd, path) : NULL;
    res = joined ? ws_path_clean(joined) : NULL;
    free(cwd);
    free(joined);
    return res;
}

int ws_path_expand(const char *path, char **out, struct ws_err *err)
{
    int tilde = strcmp(path, "~") == 0 || strncmp(path, "~/", 2) == 0, e;
    const char *home = getenv("HOME");
    struct passwd pw, *res = NULL;
    char buf[4096], *joined = NULL;

    *out = NULL;
    if (tilde && (home == NULL || *home == '\0') &&
        getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res)
        home = pw.pw_dir;
    if (tilde && (home == NULL || *home == '\0'))
        return ws_err_set(err, WS_ECONFIG,
                          "cannot expand %s: no home directory", path);
    if (tilde)
        joined = ws_strf("%s/%s", home, path + 1);
    if (tilde && joined == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    *out = ws_path_abs(joined ? joined : path);
    e = errno;
    free(joined);
    if (*out == NULL && e == ENOMEM)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if (*out == NULL)
        return ws_err_set(err, WS_ECONFIG, "cannot make %s absolute: %s", path,
                          strerror(e));
    return WS_OK;
}

char *ws_path_join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 2);

    if (s == NULL)
        return NULL;
    memcpy(s, a, na);
    s[na] = '/';
    memcpy(s + na + 1, b, nb + 1);
    return s;
}

char *ws_path_dir(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

const char *ws_path_base(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}
