/*
 * replica.h: the replica-client interface, one vtable per backend.
 *
 * A replica is an object store addressed by keys relative to its root
 * (see layout.h).  Every operation is asynchronous: the caller fills a
 * struct ws_req, submits it on the loop thread, and gets req->cb on the
 * loop thread when it is done, with req->rc and req->err set.  Backends
 * decide where the work happens: the directory backend runs it on the
 * libuv thread pool, the S3 backend on libcurl's multi interface driven
 * by the same loop.  The engine never knows which.
 *
 * Operations:
 *   LIST  all objects whose key starts with req->key, into req->list.
 *   PUT   create or replace req->key with the bytes that req->produce
 *         writes into the sink it is given.  produce runs once, off the
 *         loop thread, and the sink may block it (while earlier bytes are
 *         uploaded).  The object appears whole or not at all.  With
 *         req->gen_must_exist, a directory replica refuses to recreate a
 *         generation that is gone (WS_ENOTFOUND).
 *   GET   stream the bytes of req->key into req->sink (called on any
 *         thread, in order).  A missing object is WS_ENOTFOUND.  With
 *         req->sized, the object must be exactly req->size bytes, the
 *         size its listing gave: a body that goes past it is stopped
 *         there, and one that ends short of it fails once the backend
 *         has given up resuming it; both are WS_ECORRUPT naming the key
 *         ("did it change since it was listed?").  A reader of replica
 *         objects always knows their listed size, so a store (or
 *         anything between) that sends an endless body costs at most
 *         that many bytes.  Backends hand every byte to the sink through
 *         ws_replica_deliver(), which keeps that count.
 *   LIST  is bounded: at most WS_LIST_MAX_KEYS keys (layout.h), or
 *         WS_ERANGE naming the replica.
 *   DEL   with req->keys: remove exactly those objects, in as few
 *         requests as the backend can (S3: DeleteObjects, 1000 keys a
 *         request); without: req->key and everything under it (listed
 *         first).  A missing object is not an error.  Every key that
 *         could not be removed comes back in req->delerrs with its own
 *         reason, req->rc then being the first failure's code; only a
 *         failure before any key is known (the listing) leaves delerrs
 *         empty.
 *
 * A req must stay valid until its callback runs; the callback may free
 * it or submit it again.
 */
#ifndef WS_REPLICA_H
#define WS_REPLICA_H

#include <uv.h>

#include "ws/config.h"
#include "ws/err.h"
#include "ws/layout.h"
#include "ws/lz4f.h"

enum ws_reqtype { WS_REQ_LIST, WS_REQ_PUT, WS_REQ_GET, WS_REQ_DEL };

struct ws_replica;

/* DEL: one key that could not be deleted, and why. */
struct ws_delerr {
    char *key; /* relative to the replica root; owned */
    char *msg; /* one line; owned */
};

struct ws_req {
    enum ws_reqtype type;
    char key[WS_KEY_MAX];

    /* PUT: write the object's bytes into sink(sink_ctx, ...). */
    int (*produce)(void *ctx, ws_sink_fn sink, void *sink_ctx,
                   struct ws_err *err);
    void *produce_ctx;
    uint64_t size_hint;     /* about the bytes produce writes (0: small
                             * or unknown); sizes S3 parts */
    uint64_t put_size;      /* OUT: stored bytes after a PUT */
    int gen_must_exist;     /* PUT of generations/<gen>/...: the
                             * generation must exist already; when it
                             * does not, WS_ENOTFOUND and nothing is
                             * written (directory backend; S3 has no
                             * directories and ignores it) */

    /* GET: receives the object's bytes. */
    ws_sink_fn sink;
    void *sink_ctx;
    int sized;              /* GET: size below is the listed size */
    uint64_t size;
    uint64_t got;           /* GET: bytes delivered (ws_replica_deliver) */

    struct ws_objlist list; /* OUT: LIST results (caller frees) */

    /* DEL: the exact keys (borrowed; NULL: req->key is a prefix). */
    char *const *keys;
    size_t nkeys;
    struct ws_delerr *delerrs; /* OUT: keys not deleted (caller frees,
                                * ws_req_delerrs_free) */
    size_t ndelerrs;

    int rc;                 /* OUT: WS_OK or a WS_E* code */
    int retries;            /* OUT: attempts the backend retried */
    struct ws_err err;      /* OUT: message on failure */
    void (*cb)(struct ws_req *req);
    void *data;             /* the caller's */

    struct ws_replica *r;   /* set by ws_replica_submit */
    uv_work_t work;         /* backend private */
};

struct ws_replica_ops {
    const char *type;
    /* Set up r->ctx from r->cfg (NULL when nothing to do).  On failure
     * the replica is freed with ops->free. */
    int (*open)(struct ws_replica *r, struct ws_err *err);
    /* Start req; the backend calls ws_replica_done(req) exactly once. */
    void (*submit)(struct ws_replica *r, struct ws_req *req);
    /* A one-line description for the start-up log ("path=/x"). */
    void (*describe)(const struct ws_replica *r, char *buf, size_t n);
    void (*free)(struct ws_replica *r);
};

struct ws_replica {
    const struct ws_replica_ops *ops;
    const struct ws_replica_config *cfg; /* borrowed from the config */
    uv_loop_t *loop;
    void *ctx;                           /* backend state */
};

/* "LIST", "PUT", "GET", "DELETE": a request's type in log lines. */
const char *ws_req_type_name(enum ws_reqtype type);

/* Create the client for cfg (its type picks the backend). */
int ws_replica_open(uv_loop_t *loop, const struct ws_replica_config *cfg,
                    struct ws_replica **out, struct ws_err *err);

void ws_replica_free(struct ws_replica *r);

/* Submit req (on the loop thread). */
void ws_replica_submit(struct ws_replica *r, struct ws_req *req);

/* For backends: finish req and run its callback on the loop thread.
 * A GET that reports success with fewer bytes than req->size (when
 * sized) becomes WS_ECORRUPT here. */
void ws_replica_done(struct ws_req *req);

/* For backends: hand len bytes of a GET's body to req->sink, in order
 * and once each.  Counts them in req->got; past req->size (when sized)
 * nothing more is delivered and the result is WS_ECORRUPT naming the key.
 * Returns the sink's result otherwise. */
int ws_replica_deliver(struct ws_req *req, const void *buf, size_t len,
                       struct ws_err *err);

/* For backends: record that key could not be deleted, for msg. */
int ws_req_delerr_add(struct ws_req *req, const char *key, const char *msg);

/* Free req->delerrs and zero the count; accepts none. */
void ws_req_delerrs_free(struct ws_req *req);

/* Run req to completion on r's loop (which must not be running), for
 * commands that work synchronously (restore, listings).  Returns
 * req->rc. */
int ws_replica_run(struct ws_replica *r, struct ws_req *req);

/* List everything under generations/ on r (run synchronously, as
 * ws_replica_run) and build its catalog (layout.h).  On success *cat is
 * the caller's (free with ws_catalog_free); on failure err names the
 * replica ("replica NAME: ...").  For the commands that read a replica:
 * a directory replica whose root does not exist is WS_ENOTFOUND ("replica
 * URL: PATH does not exist"), where an existing empty one has an empty
 * catalog (replicate creates the root; a reader must not take a typo
 * for a replica without backups). */
int ws_replica_catalog(struct ws_replica *r, struct ws_catalog *cat,
                       struct ws_err *err);

/* The backends. */
extern const struct ws_replica_ops ws_replica_file_ops;
extern const struct ws_replica_ops ws_replica_s3_ops;

#endif
