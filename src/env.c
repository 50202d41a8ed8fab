/*
 * env.c: see env.h.
 */
#include "ws/env.h"

#include "ws/err.h"

#include <stdlib.h>
#include <string.h>

static int is_name_char(int ch, int first)
{
    return ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (!first && ch >= '0' && ch <= '9');
}

static size_t name_len(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && is_name_char(s[i], i == 0))
        i++;
    return i;
}

/* A reference at s[0..n) (s[0] == '$'): $NAME, ${NAME} or
 * ${NAME:-default}.  Returns its length, or 0 when s starts none (the
 * '$' is then text); sets the name's and the default's offsets. */
static size_t env_ref(const char *s, size_t n, size_t *name, size_t *namelen,
                      size_t *def, size_t *deflen)
{
    int brace = n > 1 && s[1] == '{';
    size_t off = 1 + (size_t)brace, k = name_len(s + off, n - off), e;

    *name = off;
    *namelen = k;
    *def = *deflen = 0;
    if (k == 0)
        return 0;
    if (!brace)
        return off + k;
    e = off + k;
    if (e + 1 < n && s[e] == ':' && s[e + 1] == '-') {
        const char *close = memchr(s + e + 2, '}', n - e - 2);
        if (close == NULL)
            return 0;
        *def = e + 2;
        *deflen = (size_t)(close - s) - *def;
        return (size_t)(close - s) + 1;
    }
    return e < n && s[e] == '}' ? e + 1 : 0;
}

int ws_env_expand(const char *s, size_t n, struct ws_sbuf *b,
                  struct ws_env_name *unset, struct ws_env_name *empty)
{
    size_t i = 0, done = 0;
    int rc;

    b->len = 0;
    empty->p = NULL;
    empty->len = 0;
    rc = ws_sbuf_add(b, "", 0);
    while (rc == WS_OK && i < n) {
        size_t name, nl, def, dl, len;
        const char *val;
        char *var;

        len = s[i] == '$' ? env_ref(s + i, n - i, &name, &nl, &def, &dl) : 0;
        if (len == 0) {
            i++;
            continue;
        }
        var = ws_strf("%.*s", (int)nl, s + i + name);
        if (var == NULL)
            return WS_ENOMEM;
        val = getenv(var);
        free(var);
        if (def > 0 && (val == NULL || *val == '\0')) {
            rc = ws_sbuf_add(b, s + done, i - done);
            if (rc == WS_OK)
                rc = ws_sbuf_add(b, s + i + def, dl);
        } else if (val == NULL) {
            unset->p = s + i + name;
            unset->len = nl;
            return WS_ENOTFOUND;
        } else {
            if (*val == '\0' && empty->p == NULL) {
                empty->p = s + i + name;
                empty->len = nl;
            }
            rc = ws_sbuf_add(b, s + done, i - done);
            if (rc == WS_OK)
                rc = ws_sbuf_add(b, val, strlen(val));
        }
        i += len;
        done = i;
    }
    return rc == WS_OK ? ws_sbuf_add(b, s + done, n - done) : rc;
}
