/*
 * s3put.h: one PUT to S3, as a pipeline of parts in memory (s3put.c).
 *
 * The object's bytes are produced on a thread of the PUT's own (the
 * producer may wait for uploads, and waiting on the libuv pool could
 * starve the database syncs) into part buffers.  An object that fits in
 * one part is one PutObject; a larger one is a multipart upload whose
 * parts are hashed on the pool and go up side by side, each retried on
 * its own, while the next ones are produced.  A failure for good aborts
 * the upload (AbortMultipartUpload), so the store keeps no orphan parts.
 * Memory is bounded by the part buffers: 5 of 8 MiB for any object up to
 * 40 GB (size_hint), fewer and larger beyond, 128 MiB at most; objects
 * may reach 625 GiB.
 */
#ifndef WS_S3PUT_H
#define WS_S3PUT_H

#include <uv.h>

#include "ws/replica.h"
#include "ws/s3.h"

/* Upload req->key with the bytes req->produce writes (req->size_hint
 * sizes the parts).  Calls ws_replica_done(req) exactly once, on the
 * loop thread, with req->rc, req->err, req->retries and req->put_size
 * set; then frees everything of its own. */
void ws_s3put_start(struct ws_s3 *s3, uv_loop_t *loop, struct ws_req *req);

#endif
