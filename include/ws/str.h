/*
 * str.h: malloc'd strings, for the modules that build text from parts
 * (config.h and the syntaxes it reads: url.h, path.h, env.h).
 *
 * Three small tools, each with one ownership rule, and one test:
 *
 *   - ws_strf() prints into a new string the caller frees;
 *   - ws_str_set() replaces a string field (freeing the old one).  An
 *     empty string stores NULL, "unset": a config value of "" means the
 *     same as no value, as Litestream's `!= ""` tests treat it;
 *   - struct ws_sbuf is a growing NUL-terminated string: zero it to start,
 *     free its p when done.  Its p moves on every ws_sbuf_add(), so a
 *     pointer into it is stale after the next add.
 *
 * None of them prints or logs; failure is WS_ENOMEM (or NULL).
 */
#ifndef WS_STR_H
#define WS_STR_H

#include <stddef.h>

/* A malloc'd string made from fmt, or NULL when out of memory. */
__attribute__((format(printf, 1, 2))) char *ws_strf(const char *fmt, ...);

/* Replace *dst by a copy of s; NULL or "" store NULL.  WS_OK or
 * WS_ENOMEM (then *dst is unchanged). */
int ws_str_set(char **dst, const char *s);

/* 1 when s is empty or white space only: as a path, a mistake (a file
 * named " " in the working directory is never what was meant). */
int ws_str_blank(const char *s);

/* A growing NUL-terminated string: p[0..len) is its text, p[len] a NUL
 * once anything (even "") has been added. */
struct ws_sbuf {
    char *p;
    size_t len, cap;
};

/* Append s[0..n).  WS_OK or WS_ENOMEM (b unchanged). */
int ws_sbuf_add(struct ws_sbuf *b, const char *s, size_t n);

/* A growing list of malloc'd strings, v[n] NULL once anything has been
 * added (an argv). */
struct ws_strv {
    char **v;
    size_t n, cap;
};

/* Append s, which the list then owns.  WS_OK or WS_ENOMEM (the list
 * unchanged, s not taken). */
int ws_strv_push(struct ws_strv *l, char *s);

/* Free the strings and the list (a list of nothing is fine). */
void ws_strv_free(struct ws_strv *l);

/* strcmp of two `char *` that a and b point at: for qsort and bsearch
 * over arrays of strings. */
int ws_str_cmp_p(const void *a, const void *b);

#endif
