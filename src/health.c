/*
 * health.c: a list of problems (see health.h).
 */
#include "ws/health.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ws_health_init(struct ws_health *h)
{
    memset(h, 0, sizeof(*h));
}

void ws_health_fail(struct ws_health *h, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One line each: a newline inside (a path, a server's message) would
     * read as two problems. */
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    ws_httpd_printf(&h->text, "%s\n", line);
    h->problems++;
}

const char *ws_health_first(const struct ws_health *h, char *buf, size_t n)
{
    const char *p = h->text.p ? h->text.p : "";
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);

    snprintf(buf, n, "%.*s", (int)len, p);
    return buf;
}

void ws_health_free(struct ws_health *h)
{
    free(h->text.p);
    memset(h, 0, sizeof(*h));
}
