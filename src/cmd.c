/*
 * cmd.c: what walship's commands share: Go's flag syntax, generation
 * names, the exit status and the one line of a failure (cmd_int.h).
 */
#include "ws/cmd_int.h"

#include <stdio.h>
#include <string.h>

/* Go's strconv.ParseBool, which its flag package uses. */
static int parse_bool(const char *s, int *v)
{
    static const char *const t[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const f[] = {"0", "f", "F", "false", "FALSE", "False"};

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (strcmp(s, t[i]) == 0 || strcmp(s, f[i]) == 0) {
            *v = strcmp(s, t[i]) == 0;
            return WS_OK;
        }
    }
    return WS_EUSAGE;
}

/* Parse leading flags; returns the index of the first positional
 * argument, -1 after printing usage for -h, or -2 on error. */
int ws_cmd_parse_flags(int argc, char **argv, const struct ws_cmd_flag *flags,
                       const char *usage, struct ws_err *err)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *eq;
        const struct ws_cmd_flag *f = NULL;
        size_t n;

        if (a[0] != '-' || a[1] == '\0')
            break;
        if (strcmp(a, "--") == 0)
            return i + 1;
        a += a[1] == '-' ? 2 : 1;
        if (strcmp(a, "h") == 0 || strcmp(a, "help") == 0) {
            fputs(usage, stdout);
            return -1;
        }
        eq = strchr(a, '=');
        n = eq ? (size_t)(eq - a) : strlen(a);
        for (const struct ws_cmd_flag *g = flags; g->name; g++)
            if (strlen(g->name) == n && strncmp(g->name, a, n) == 0)
                f = g;
        if (f == NULL) {
            ws_err_set(err, WS_EUSAGE, "flag provided but not defined: -%.*s",
                       (int)n, a);
            return -2;
        }
        if (f->boolean) {
            if (parse_bool(eq ? eq + 1 : "true", f->boolean) != WS_OK) {
                ws_err_set(err, WS_EUSAGE, "invalid boolean value \"%s\" "
                           "for -%s: want true or false", eq + 1, f->name);
                return -2;
            }
        } else if (eq) {
            *f->str = eq + 1;
        } else if (i + 1 < argc) {
            *f->str = argv[++i];
        } else {
            ws_err_set(err, WS_EUSAGE, "flag needs an argument: -%s",
                       f->name);
            return -2;
        }
    }
    return i;
}

/* 1 when s is a generation name: 16 lowercase hexadecimal digits. */
int ws_cmd_is_generation(const char *s)
{
    return strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16;
}

/* The exit status for a command's result (err.h). */
int ws_cmd_exit_status(int rc, const struct ws_err *err)
{
    return rc == WS_OK ? 0 : ws_exit_status(rc, err);
}

/* A failed command's one line on stderr. */
void ws_cmd_print_failure(int rc, const struct ws_err *err)
{
    fprintf(stderr, "walship: %s\n", err->msg[0] ? err->msg : ws_strerror(rc));
}
