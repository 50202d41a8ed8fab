/*
 * json.c: see json.h.
 */
#include "ws/json.h"

#include <stdio.h>
#include <string.h>

size_t ws_utf8_seq(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80                   ? 1
                 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2
                 : s[0] >= 0xe0 && s[0] < 0xf0 ? 3
                 : s[0] >= 0xf0 && s[0] < 0xf5 ? 4
                                               : 0;

    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    /* No overlong forms, surrogates or code points past U+10FFFF. */
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0;
    return len;
}

size_t ws_json_seq(const char *s, size_t n, char out[WS_JSON_SEQ_MAX],
                   size_t *used)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = ws_utf8_seq(p, n);

    *used = len ? len : 1;
    if (len == 0) {
        memcpy(out, "\\ufffd", 6);
        return 6;
    }
    if (*p == '"' || *p == '\\') {
        out[0] = '\\';
        out[1] = (char)*p;
        return 2;
    }
    if (*p == '\n' || *p == '\t') {
        out[0] = '\\';
        out[1] = *p == '\n' ? 'n' : 't';
        return 2;
    }
    if (*p < 0x20 || *p == 0x7f || (len == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
        char hex[7]; /* C0, DEL, C1 (U+0080 to U+009F, C2 80 to C2 9F) */
        snprintf(hex, sizeof(hex), "\\u%04x", len == 2 ? p[1] : *p);
        memcpy(out, hex, 6);
        return 6;
    }
    memcpy(out, p, len);
    return len;
}
