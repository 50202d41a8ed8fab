/*
 * barrier.h: the durability barrier behind `walship sync`: when has
 * every replica everything that was committed before a request?
 *
 * A request waits in two steps:
 *   1. Its target.  The first sync (a copy of the -wal into the shadow)
 *      that *starts* after the request reads the -wal as it is then,
 *      under the same rules as every copy, so the shadow's end after it
 *      (generation, index, offset) covers every transaction committed
 *      before the request.  A sync that was already running may have
 *      read the -wal before the request, and does not count: the caller
 *      numbers its syncs as they start, and a request needs the next
 *      number.  A sync that fails, or that the spool limit held back
 *      (it copied nothing), sets no target: the next one that works
 *      does.
 *   2. Every replica at the target.  A replica's shipped position
 *      (generation, index, offset: the next byte to ship) has reached it
 *      when it is in the same generation and at a later index, or at the
 *      target's index and at least its offset (a replica moves to the
 *      next index once the one before is shipped whole).  A new
 *      generation (the database replaced, a replica that lost its
 *      history, continuity lost) starts with a snapshot of the database
 *      as it is then, which holds every earlier commit: the target moves
 *      to the shadow's end in that generation.  A replica that gave up
 *      (at shutdown) fails the request.
 * A request may have a deadline; when it passes first, the answer names
 * each replica that has not reached the target, where it stands and why
 * it is behind (the caller's text: its last error).
 *
 * Pure bookkeeping: no I/O, no clock, no logging.  The caller (serve.c)
 * tells it when syncs start and end and what the replicas hold, and
 * answers the requests it hands back.
 */
#ifndef WS_BARRIER_H
#define WS_BARRIER_H

#include <stddef.h>
#include <stdint.h>

#include "ws/layout.h"

/* The shadow as the last sync left it. */
struct ws_barrier_db {
    int ready;            /* replicating (the fields below are valid) */
    const char *gen;      /* its generation */
    uint32_t index;       /* its current index */
    uint64_t end;         /* committed bytes in that index */
    const char *why;      /* why its syncs fail ("" when they do not) */
};

/* One replica, as the caller knows it. */
struct ws_barrier_rep {
    const char *name;
    int known;            /* its position is known and it has a snapshot
                           * of gen: it may have reached a target */
    int seen;             /* the position was known (it is listed again
                           * after a failure): said in a timeout's text */
    const char *gen;      /* its position: generation, */
    uint32_t index;       /* index and offset of the next byte to ship */
    uint64_t offset;
    int failed;           /* it gave up: nothing more is shipped to it */
    const char *why;      /* why it is behind ("" when nothing is known) */
};

/* One waiting request. */
struct ws_barrier_wait {
    struct ws_barrier_wait *next;
    void *req;            /* the caller's (borrowed) */
    void *owner;          /* the caller's */
    uint64_t need;        /* the first sync number that counts */
    int have;             /* the target is known: */
    char gen[WS_GEN_LEN + 1];
    uint32_t index;
    uint64_t offset;
    int64_t t0_ms;        /* when it came, on the caller's clock */
    int64_t deadline_ms;  /* when it gives up; 0: never */
};

struct ws_barrier {
    struct ws_barrier_wait *head;
};

/* A request came at now_ms, waiting at most timeout_ms (0: no limit);
 * next_seq is the number the next sync to start will have.  Returns the
 * new wait (owned by b), or NULL when out of memory. */
struct ws_barrier_wait *ws_barrier_add(struct ws_barrier *b, void *req,
                                       void *owner, uint64_t next_seq,
                                       int64_t now_ms, int64_t timeout_ms);

/* Forget w (it is freed). */
void ws_barrier_remove(struct ws_barrier *b, struct ws_barrier_wait *w);

/* Sync number seq ended; ok when it worked and copied everything
 * committed (not held back), db the shadow after it.  Sets the targets
 * it counts for.  Returns 1 when a waiting request needs a sync that
 * starts later (seq started before it came): the caller starts one now. */
int ws_barrier_synced(struct ws_barrier *b, uint64_t seq, int ok,
                      const struct ws_barrier_db *db);

/* The next request that is done, now_ms: every replica of reps[0..n)
 * holds its target (*code WS_OK; text: the position and the replicas,
 * "db=PATH position=GEN/INDEX:OFFSET replicas=a,b"), a replica failed,
 * or its deadline passed (*code WS_EREMOTE, or WS_EIO when no sync
 * worked since it came; text names each replica short of the target).
 * The caller answers it and removes it.  NULL when none is done.  A new
 * generation in db moves every target there first. */
struct ws_barrier_wait *ws_barrier_done(struct ws_barrier *b,
                                        const char *path,
                                        const struct ws_barrier_db *db,
                                        const struct ws_barrier_rep *reps,
                                        size_t n, int64_t now_ms, int *code,
                                        char *text, size_t len);

/* The earliest deadline of the waiting requests, 0 when none has one. */
int64_t ws_barrier_deadline(const struct ws_barrier *b);

#endif
