/*
 * wsobj: drive a replica through walship's replica-client API, for
 * tests of the backends themselves (listing pagination, DeleteObjects
 * batches, GET resume) without a database around them.
 *
 *   wsobj URL put KEY        stdin -> object
 *   wsobj URL get KEY        object -> stdout
 *   wsobj URL list PREFIX    "key size" lines, sorted
 *   wsobj URL times PREFIX   "key size mtime_ms" lines, sorted
 *   wsobj URL del PREFIX     delete everything under PREFIX
 *   wsobj URL fill PREFIX N  N small objects PREFIX00000..., 8 at a time
 *
 * URL is any replica URL walship accepts.  Errors: one line, exit 1.
 */
#include "ws/config.h"
#include "ws/replica.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int from_stdin(void *ctx, ws_sink_fn sink, void *sctx,
                      struct ws_err *err)
{
    char buf[65536];
    size_t n;
    int rc = WS_OK;

    (void)ctx;
    while (rc == WS_OK && (n = fread(buf, 1, sizeof(buf), stdin)) > 0)
        rc = sink(sctx, buf, n, err);
    return rc;
}

static int from_name(void *ctx, ws_sink_fn sink, void *sctx,
                     struct ws_err *err)
{
    return sink(sctx, ctx, strlen(ctx), err);
}

static int to_stdout(void *ctx, const void *buf, size_t len,
                     struct ws_err *err)
{
    (void)ctx;
    if (fwrite(buf, 1, len, stdout) != len)
        return ws_err_set(err, WS_EIO, "write to stdout failed");
    return WS_OK;
}

static int cmp_obj(const void *a, const void *b)
{
    return strcmp(((const struct ws_obj *)a)->key,
                  ((const struct ws_obj *)b)->key);
}

static void on_fill(struct ws_req *r)
{
    if (r->rc != WS_OK) {
        fprintf(stderr, "wsobj: %s\n", r->err.msg);
        exit(1);
    }
    *(int *)r->data = 0; /* the slot is free again */
}

/* N PUTs, eight in flight at a time. */
static int fill(struct ws_replica *rep, uv_loop_t *loop, const char *prefix,
                long n)
{
    static struct ws_req reqs[8];
    static char names[8][64];
    int busy[8] = {0}, any;
    long next = 0;

    do {
        any = 0;
        for (int i = 0; i < 8; i++) {
            if (!busy[i] && next < n) {
                struct ws_req *r = &reqs[i];
                memset(r, 0, sizeof(*r));
                snprintf(names[i], sizeof(names[i]), "object %ld", next);
                snprintf(r->key, sizeof(r->key), "%s%05ld", prefix, next);
                r->type = WS_REQ_PUT;
                r->produce = from_name;
                r->produce_ctx = names[i];
                r->cb = on_fill;
                r->data = &busy[i];
                busy[i] = 1;
                next++;
                ws_replica_submit(rep, r);
            }
            any |= busy[i];
        }
        if (any)
            uv_run(loop, UV_RUN_ONCE);
    } while (any || next < n);
    return WS_OK;
}

int main(int argc, char **argv)
{
    struct ws_config *cfg = NULL;
    struct ws_replica *rep = NULL;
    struct ws_err err = {0};
    struct ws_req req;
    uv_loop_t loop;
    int rc;

    if (argc < 4) {
        fputs("usage: wsobj URL put|get|list|times|del|fill ARG [N]\n", stderr);
        return 2;
    }
    uv_loop_init(&loop);
    rc = ws_config_from_urls(NULL, argv + 1, 1, &cfg, &err);
    if (rc == WS_OK)
        rc = ws_replica_open(&loop, &cfg->dbs[0].replicas[0], &rep, &err);
    memset(&req, 0, sizeof(req));
    snprintf(req.key, sizeof(req.key), "%s", argv[3]);
    if (rc != WS_OK) {
        /* reported below */
    } else if (strcmp(argv[2], "fill") == 0 && argc == 5) {
        rc = fill(rep, &loop, argv[3], strtol(argv[4], NULL, 10));
    } else if (strcmp(argv[2], "put") == 0) {
        req.type = WS_REQ_PUT;
        req.produce = from_stdin;
        rc = ws_replica_run(rep, &req);
    } else if (strcmp(argv[2], "get") == 0) {
        req.type = WS_REQ_GET;
        req.sink = to_stdout;
        rc = ws_replica_run(rep, &req);
    } else if (strcmp(argv[2], "list") == 0 || strcmp(argv[2], "del") == 0 ||
               strcmp(argv[2], "times") == 0) {
        int times = argv[2][0] == 't';
        req.type = argv[2][0] == 'd' ? WS_REQ_DEL : WS_REQ_LIST;
        rc = ws_replica_run(rep, &req);
        if (rc == WS_OK && req.list.n > 1)
            qsort(req.list.v, req.list.n, sizeof(*req.list.v), cmp_obj);
        for (size_t i = 0; rc == WS_OK && i < req.list.n; i++) {
            printf("%s %llu", req.list.v[i].key,
                   (unsigned long long)req.list.v[i].size);
            if (times)
                printf(" %lld", (long long)req.list.v[i].mtime_ms);
            putchar('\n');
        }
        ws_objlist_free(&req.list);
    } else {
        fputs("usage: wsobj URL put|get|list|times|del|fill ARG [N]\n", stderr);
        rc = WS_EUSAGE;
    }
    if (rc != WS_OK && req.err.msg[0])
        err = req.err;
    if (rc != WS_OK)
        fprintf(stderr, "wsobj: %s\n", err.msg[0] ? err.msg : ws_strerror(rc));
    fflush(stdout);
    ws_replica_free(rep);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    ws_config_free(cfg);
    return rc == WS_OK ? 0 : 1;
}
