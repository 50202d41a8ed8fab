/*
 * barrier.c: the durability barrier's bookkeeping (barrier.h).
 */
#include "ws/barrier.h"
#include "ws/err.h"
#include "ws/slow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ws_barrier_wait *ws_barrier_add(struct ws_barrier *b, void *req,
                                       void *owner, uint64_t next_seq,
                                       int64_t now_ms, int64_t timeout_ms)
{
    struct ws_barrier_wait *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->req = req;
    w->owner = owner;
    w->need = next_seq;
    w->t0_ms = now_ms;
    w->deadline_ms = timeout_ms > 0 ? now_ms + timeout_ms : 0;
    w->next = b->head;
    b->head = w;
    return w;
}

void ws_barrier_remove(struct ws_barrier *b, struct ws_barrier_wait *w)
{
    struct ws_barrier_wait **p = &b->head;

    while (*p != NULL && *p != w)
        p = &(*p)->next;
    if (*p == w)
        *p = w->next;
    free(w);
}

static void target(struct ws_barrier_wait *w, const struct ws_barrier_db *db)
{
    snprintf(w->gen, sizeof(w->gen), "%s", db->gen);
    w->index = db->index;
    w->offset = db->end;
}

int ws_barrier_synced(struct ws_barrier *b, uint64_t seq, int ok,
                      const struct ws_barrier_db *db)
{
    int again = 0;

    for (struct ws_barrier_wait *w = b->head; w; w = w->next) {
        if (w->have)
            continue;
        if (seq < w->need) {
            again = 1; /* it started before the request */
        } else if (ok && db->ready) {
            w->have = 1;
            target(w, db);
        } else {
            w->need = seq + 1; /* the next one, at its own pace */
        }
    }
    return again;
}

static int reached(const struct ws_barrier_rep *r,
                   const struct ws_barrier_wait *w)
{
    return r->known && strcmp(r->gen, w->gen) == 0 &&
           (r->index > w->index ||
            (r->index == w->index && r->offset >= w->offset));
}

/* "; replica NAME holds ..., not ...: why" for each replica short. */
static void missing(const struct ws_barrier_wait *w,
                    const struct ws_barrier_rep *reps, size_t n, char *text,
                    size_t len)
{
    size_t k = strlen(text);

    for (size_t i = 0; i < n && k < len; i++) {
        const struct ws_barrier_rep *r = &reps[i];
        const char *sep = r->why[0] ? ": " : "";
        if (reached(r, w))
            continue;
        if (!r->seen || strcmp(r->gen, w->gen) != 0)
            k += (size_t)snprintf(text + k, len - k, "; replica %s has no "
                                  "snapshot of generation %s yet%s%s",
                                  r->name, w->gen, sep, r->why);
        else
            k += (size_t)snprintf(text + k, len - k, "; replica %s holds "
                                  "%s/%08x:%llu, not %s/%08x:%llu%s%s",
                                  r->name, r->gen, r->index,
                                  (unsigned long long)r->offset, w->gen,
                                  w->index, (unsigned long long)w->offset,
                                  sep, r->why);
    }
}

/* The answer to w, if it is done: 1 with *code and text. */
static int done(const struct ws_barrier_wait *w, const char *path,
                const struct ws_barrier_db *db,
                const struct ws_barrier_rep *reps, size_t n, int64_t now_ms,
                int *code, char *text, size_t len)
{
    char dur[32];
    size_t i, k;

    for (i = 0; w->have && i < n; i++)
        if (reps[i].failed) {
            *code = WS_EREMOTE;
            snprintf(text, len, "replica %s gave up at shutdown%s%s",
                     reps[i].name, reps[i].why[0] ? ": " : "", reps[i].why);
            return 1;
        }
    for (i = 0; w->have && i < n && reached(&reps[i], w); i++)
        ;
    if (w->have && i == n) {
        *code = WS_OK;
        k = (size_t)snprintf(text, len, "db=%s position=%s/%08x:%llu "
                             "replicas=", path, w->gen, w->index,
                             (unsigned long long)w->offset);
        for (i = 0; i < n && k < len; i++)
            k += (size_t)snprintf(text + k, len - k, "%s%s", i ? "," : "",
                                  reps[i].name);
        if (k < len)
            snprintf(text + k, len - k, " elapsed=%lldms",
                     (long long)(now_ms - w->t0_ms));
        return 1;
    }
    if (w->deadline_ms == 0 || now_ms < w->deadline_ms)
        return 0;
    ws_slow_fmt(now_ms - w->t0_ms, dur, sizeof(dur));
    if (!w->have) {
        *code = WS_EIO;
        snprintf(text, len, "not synced after %s: no copy of the database "
                 "has succeeded since the request%s%s", dur,
                 db->why[0] ? ": " : "", db->why);
        return 1;
    }
    *code = WS_EREMOTE;
    snprintf(text, len, "not in every replica after %s", dur);
    missing(w, reps, n, text, len);
    return 1;
}

struct ws_barrier_wait *ws_barrier_done(struct ws_barrier *b,
                                        const char *path,
                                        const struct ws_barrier_db *db,
                                        const struct ws_barrier_rep *reps,
                                        size_t n, int64_t now_ms, int *code,
                                        char *text, size_t len)
{
    for (struct ws_barrier_wait *w = b->head; w; w = w->next) {
        if (w->have && db->ready && strcmp(db->gen, w->gen) != 0)
            target(w, db); /* a new generation: its snapshot holds all */
        if (done(w, path, db, reps, n, now_ms, code, text, len))
            return w;
    }
    return NULL;
}

int64_t ws_barrier_deadline(const struct ws_barrier *b)
{
    int64_t first = 0;

    for (const struct ws_barrier_wait *w = b->head; w; w = w->next)
        if (w->deadline_ms > 0 && (first == 0 || w->deadline_ms < first))
            first = w->deadline_ms;
    return first;
}
