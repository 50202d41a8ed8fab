/*
 * secret.c: see secret.h.
 */
#include "ws/secret.h"

#include <string.h>
#include <sys/prctl.h>

int ws_secret_hide_process(void)
{
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

void ws_mask(char *s, const char *secret, size_t len, const char *mark)
{
    size_t put = strlen(mark);
    char *p = s;

    if (len == 0)
        return;
    if (put > len)
        put = len;
    while ((p = memmem(p, strlen(p), secret, len)) != NULL) {
        memcpy(p, mark, put);
        memmove(p + put, p + len, strlen(p + len) + 1);
        p += put;
    }
}
