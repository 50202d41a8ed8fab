/*
 * err.c: the error table and the helpers that fill a struct ws_err.
 */
#include "ws/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const texts[] = {
#define X(name, text) text,
    WS_ERRORS(X)
#undef X
};

const char *ws_strerror(int code)
{
    if (code < 0 || code >= WS__MAX)
        return "unknown error";
    return texts[code];
}

void ws_strip_controls(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        unsigned char d = i + 1 < n ? (unsigned char)s[i + 1] : 0;
        if (c == '\n' || c == '\r') {
            s[i] = ' ';
        } else if (c < 0x20 || c == 0x7f) {
            s[i] = '?';
        } else if (c == 0xc2 && d >= 0x80 && d <= 0x9f) {
            s[i] = s[i + 1] = '?';
            i++;
        }
    }
}

int ws_err_set(struct ws_err *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    err->code = code;
    err->at = WS_AT_NONE;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    ws_strip_controls(err->msg, strlen(err->msg));
    return code;
}

int ws_err_wrap(struct ws_err *err, const char *fmt, ...)
{
    char prefix[WS_ERR_MSG], old[WS_ERR_MSG];
    size_t n;
    va_list ap;

    if (err == NULL)
        return WS_EIO;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    n = strlen(prefix);
    if (n > sizeof(err->msg) - 3)
        n = sizeof(err->msg) - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    n += 2;
    snprintf(err->msg + n, sizeof(err->msg) - n, "%.*s",
             (int)(sizeof(err->msg) - n - 1), old);
    ws_strip_controls(err->msg, strlen(err->msg));
    return err->code;
}

int ws_err_at(struct ws_err *err, int at)
{
    if (err == NULL)
        return WS_EIO;
    if (err->at == WS_AT_NONE)
        err->at = at;
    return err->code;
}

int ws_exit_status(int rc, const struct ws_err *err)
{
    int at = err != NULL && err->code == rc ? err->at : WS_AT_NONE;

    if (rc == WS_OK)
        return WS_EXIT_OK;
    if (rc == WS_EUSAGE)
        return WS_EXIT_USAGE;
    if (rc == WS_ECORRUPT)
        return at == WS_AT_DB ? WS_EXIT_DB : WS_EXIT_VERIFY;
    if (rc == WS_EREMOTE || at == WS_AT_REPLICA)
        return WS_EXIT_REPLICA;
    if (rc == WS_ESQLITE || at == WS_AT_DB)
        return WS_EXIT_DB;
    if (rc == WS_ECONFIG || at == WS_AT_CONFIG)
        return WS_EXIT_CONFIG;
    return WS_EXIT_FAIL;
}

void ws_err_clear(struct ws_err *err)
{
    if (err == NULL)
        return;
    err->code = WS_OK;
    err->at = WS_AT_NONE;
    err->msg[0] = '\0';
}

int ws_is_retryable(int code)
{
    return code == WS_EBUSY || code == WS_EREMOTE;
}
