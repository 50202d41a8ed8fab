/*
 * env.h: environment variables in config values.
 *
 * Litestream v0.3 passes its whole config file through Go's os.ExpandEnv
 * before it reads the YAML: "$NAME" and "${NAME}" become the variable's
 * value, an unset variable becomes "".  walship expands each value
 * instead (config.h says why: comments stay as written, and an error
 * has the line of its key), and differs where Go's rule loses data
 * quietly:
 *
 *   - a reference is "$NAME", "${NAME}" or "${NAME:-default}", NAME being
 *     [A-Za-z_][A-Za-z0-9_]*.  Go also takes "${anything}" and "$1";
 *     walship leaves any '$' that starts none of the three as text
 *     ("$5", "${a b}", "${x" and a lone '$' are copied);
 *   - an unset variable without a default is an error (Go makes it "");
 *   - "${NAME:-default}" (the shell's form, which Go does not know) gives
 *     the default, unescaped and unexpanded, when NAME is unset or set
 *     to "";
 *   - a variable set to "" without a default expands to "", and the
 *     first such one is reported to the caller, which may refuse an
 *     empty result (a path of "" names no place).
 *
 * Nothing else is special: no escapes, no nesting, no other operators.
 */
#ifndef WS_ENV_H
#define WS_ENV_H

#include <stddef.h>

#include "ws/str.h"

/* A variable's name, pointing into the text being expanded. */
struct ws_env_name {
    const char *p; /* NULL: none */
    size_t len;
};

/* Copy s[0..n) into b (emptied first, then always NUL-terminated) with
 * every reference replaced (rules above).  Returns WS_OK, WS_ENOMEM, or
 * WS_ENOTFOUND for an unset variable without a default, whose name
 * *unset then holds.  *empty names the first variable that was set but
 * empty and had no default (p NULL when none). */
int ws_env_expand(const char *s, size_t n, struct ws_sbuf *b,
                  struct ws_env_name *unset, struct ws_env_name *empty);

#endif
