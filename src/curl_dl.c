/*
 * curl_dl.c: load libcurl with dlopen (see curl_dl.h).
 *
 * RTLD_NOW resolves libcurl's own dependencies at once, so a broken
 * installation fails here with the loader's message, not at the first
 * request; RTLD_LOCAL keeps curl's symbols out of the global namespace.
 */
#include "ws/curl_dl.h"

#include <dlfcn.h>
#include <string.h>

/* The loader's message is copied before dlclose can replace it. */
static int fail(struct ws_curl *c, struct ws_err *err)
{
    const char *why = dlerror();
    int rc = ws_err_set(err, WS_ECONFIG, "cannot load %s: %s",
                        WS_CURL_SONAME, why ? why : "unknown error");

    ws_curl_unload(c);
    return rc;
}

int ws_curl_load(struct ws_curl *c, struct ws_err *err)
{
    memset(c, 0, sizeof(*c));
    c->lib = dlopen(WS_CURL_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (c->lib == NULL)
        return fail(c, err);
    /* A data pointer to a function pointer: what POSIX promises dlsym's
     * result can be converted to. */
#define WS_CURL_SYM(name)                                                   \
    c->name = (__typeof__(c->name))dlsym(c->lib, "curl_" #name);            \
    if (c->name == NULL)                                                    \
        return fail(c, err);
    WS_CURL_FUNCS(WS_CURL_SYM)
#undef WS_CURL_SYM
    return WS_OK;
}

void ws_curl_unload(struct ws_curl *c)
{
    if (c->lib != NULL)
        dlclose(c->lib);
    memset(c, 0, sizeof(*c));
}
