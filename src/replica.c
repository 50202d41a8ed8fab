/*
 * replica.c: backend selection and the synchronous runner.
 */
#include "ws/replica.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int ws_replica_open(uv_loop_t *loop, const struct ws_replica_config *cfg,
                    struct ws_replica **out, struct ws_err *err)
{
    struct ws_replica *r;
    const struct ws_replica_ops *ops = NULL;

    if (cfg->type == NULL || strcmp(cfg->type, "file") == 0)
        ops = &ws_replica_file_ops;
    else if (strcmp(cfg->type, "s3") == 0)
        ops = &ws_replica_s3_ops;
    if (ops == NULL)
        return ws_err_set(err, WS_ECONFIG,
                          "replica %s: type \"%s\" is not supported yet",
                          cfg->name, cfg->type);
    if (ops == &ws_replica_file_ops &&
        (cfg->path == NULL || cfg->path[0] == '\0'))
        return ws_err_set(err, WS_ECONFIG, "%s replica path required",
                          ops->type);
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    r->ops = ops;
    r->cfg = cfg;
    r->loop = loop;
    if (ops->open) {
        int rc = ops->open(r, err);
        if (rc != WS_OK) {
            ws_replica_free(r);
            return rc;
        }
    }
    *out = r;
    return WS_OK;
}

const char *ws_req_type_name(enum ws_reqtype type)
{
    static const char *const names[] = {"LIST", "PUT", "GET", "DELETE"};

    return (size_t)type < sizeof(names) / sizeof(names[0]) ? names[type]
                                                           : "?";
}

void ws_replica_free(struct ws_replica *r)
{
    if (r == NULL)
        return;
    if (r->ops->free)
        r->ops->free(r);
    free(r);
}

void ws_replica_submit(struct ws_replica *r, struct ws_req *req)
{
    req->r = r;
    req->rc = WS_OK;
    req->got = 0;
    ws_err_clear(&req->err);
    r->ops->submit(r, req);
}

int ws_replica_deliver(struct ws_req *req, const void *buf, size_t len,
                       struct ws_err *err)
{
    if (req->sized && len > req->size - req->got)
        return ws_err_set(err, WS_ECORRUPT,
                          "object %s: longer than its listed size of %llu "
                          "bytes (did it change since it was listed?)",
                          req->key, (unsigned long long)req->size);
    req->got += len;
    return req->sink(req->sink_ctx, buf, len, err);
}

void ws_replica_done(struct ws_req *req)
{
    if (req->rc == WS_OK && req->type == WS_REQ_GET && req->sized &&
        req->got != req->size)
        req->rc = ws_err_set(&req->err, WS_ECORRUPT,
                             "object %s: %llu bytes, listed as %llu (did "
                             "it change since it was listed?)",
                             req->key, (unsigned long long)req->got,
                             (unsigned long long)req->size);
    if (req->rc != WS_OK && req->err.code == WS_OK)
        ws_err_set(&req->err, req->rc, "%s", ws_strerror(req->rc));
    req->cb(req);
}

int ws_req_delerr_add(struct ws_req *req, const char *key, const char *msg)
{
    struct ws_delerr *v =
        realloc(req->delerrs, (req->ndelerrs + 1) * sizeof(*v));

    if (v == NULL)
        return WS_ENOMEM;
    req->delerrs = v;
    v[req->ndelerrs].key = strdup(key);
    v[req->ndelerrs].msg = strdup(msg);
    if (v[req->ndelerrs].key == NULL || v[req->ndelerrs].msg == NULL) {
        free(v[req->ndelerrs].key);
        free(v[req->ndelerrs].msg);
        return WS_ENOMEM;
    }
    req->ndelerrs++;
    return WS_OK;
}

void ws_req_delerrs_free(struct ws_req *req)
{
    for (size_t i = 0; i < req->ndelerrs; i++) {
        free(req->delerrs[i].key);
        free(req->delerrs[i].msg);
    }
    free(req->delerrs);
    req->delerrs = NULL;
    req->ndelerrs = 0;
}

static void run_cb(struct ws_req *req)
{
    *(int *)req->data = 1;
}

int ws_replica_run(struct ws_replica *r, struct ws_req *req)
{
    int done = 0;
    void (*cb)(struct ws_req *) = req->cb;
    void *data = req->data;

    req->cb = run_cb;
    req->data = &done;
    ws_replica_submit(r, req);
    while (!done)
        uv_run(r->loop, UV_RUN_ONCE);
    req->cb = cb;
    req->data = data;
    return req->rc;
}

/* A directory replica whose root is missing: WS_ENOTFOUND naming it (a
 * listing would find nothing, as in an empty replica). */
static int root_exists(const struct ws_replica *r, struct ws_err *err)
{
    struct stat sb;

    if (r->ops != &ws_replica_file_ops || stat(r->cfg->path, &sb) == 0 ||
        errno != ENOENT)
        return WS_OK;
    ws_err_set(err, WS_ENOTFOUND, "replica %s: %s does not exist",
               r->cfg->url ? r->cfg->url : r->cfg->name, r->cfg->path);
    return ws_err_at(err, WS_AT_REPLICA);
}

int ws_replica_catalog(struct ws_replica *r, struct ws_catalog *cat,
                       struct ws_err *err)
{
    struct ws_req req;
    int rc = root_exists(r, err);

    if (rc != WS_OK)
        return rc;
    memset(&req, 0, sizeof(req));
    req.type = WS_REQ_LIST;
    snprintf(req.key, sizeof(req.key), "generations/");
    rc = ws_replica_run(r, &req);
    if (rc != WS_OK) {
        *err = req.err;
        err->code = rc;
        ws_objlist_free(&req.list);
        return ws_err_wrap(err, "replica %s", r->cfg->name);
    }
    rc = ws_catalog_build(&req.list, cat, err);
    ws_objlist_free(&req.list);
    return rc;
}
