/*
 * curl_dl.h: libcurl, loaded with dlopen when an HTTP client is made.
 *
 * walship does not link libcurl.  libcurl.so.4 and the libraries it
 * pulls in (GnuTLS, Kerberos, LDAP, libssh2, nghttp2, ... on Debian)
 * are about 4 MiB of resident memory in every process that maps them,
 * used or not, and only an S3 replica needs HTTP.  So http.c loads the
 * library when it makes a client (ws_http_new), and a walship with only
 * directory replicas never maps it.
 *
 * A struct ws_curl is the loaded library: the handle and one pointer per
 * function walship calls, each of the type <curl/curl.h> declares, so
 * calls are type-checked as direct calls would be (except the variadic
 * setopt/getinfo arguments, which libcurl's macros check only on direct
 * calls).  It belongs to its struct ws_http; there is no process-wide
 * table.  Loading again is cheap: the dynamic loader counts the opens
 * and maps the library once.  It is opened with RTLD_NODELETE, so it
 * stays mapped after the last ws_curl_unload: libcurl and its
 * dependencies register exit handlers and may leave a resolver thread
 * behind, whose code must still be there.
 */
#ifndef WS_CURL_DL_H
#define WS_CURL_DL_H

#include <curl/curl.h>

#include "ws/err.h"

#define WS_CURL_SONAME "libcurl.so.4"

/* The libcurl functions walship calls, without their curl_ prefix. */
#define WS_CURL_FUNCS(X)                                                    \
    X(easy_init)                                                            \
    X(easy_setopt)                                                          \
    X(easy_getinfo)                                                         \
    X(easy_cleanup)                                                         \
    X(easy_strerror)                                                        \
    X(multi_init)                                                           \
    X(multi_setopt)                                                         \
    X(multi_add_handle)                                                     \
    X(multi_remove_handle)                                                  \
    X(multi_assign)                                                         \
    X(multi_socket_action)                                                  \
    X(multi_info_read)                                                      \
    X(multi_cleanup)                                                        \
    X(slist_append)                                                         \
    X(slist_free_all)

struct ws_curl {
    void *lib; /* dlopen's handle; NULL when not loaded */
#define WS_CURL_PTR(name) __typeof__(curl_##name) *name;
    WS_CURL_FUNCS(WS_CURL_PTR)
#undef WS_CURL_PTR
};

/* Load libcurl into c.  WS_ECONFIG, naming the library and what the
 * loader said ("cannot load libcurl.so.4: ..."), when it cannot be
 * opened or lacks a function; c is then as after ws_curl_unload. */
int ws_curl_load(struct ws_curl *c, struct ws_err *err);

/* Drop c's reference to the library (which stays mapped, see above);
 * c must not be used afterwards.  Accepts a c that is not loaded. */
void ws_curl_unload(struct ws_curl *c);

#endif
