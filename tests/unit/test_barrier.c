/*
 * test_barrier.c: the durability barrier's bookkeeping (barrier.h):
 * which sync sets a request's target, when replicas have reached it
 * (across an index, into a new generation), and what a deadline says.
 */
#include "check.h"
#include "ws/barrier.h"
#include "ws/err.h"

static const char G1[] = "1111111111111111", G2[] = "2222222222222222";

static struct ws_barrier_db db_at(const char *gen, uint32_t index,
                                  uint64_t end)
{
    struct ws_barrier_db db = {1, gen, index, end, ""};
    return db;
}

static struct ws_barrier_rep rep_at(const char *name, const char *gen,
                                    uint32_t index, uint64_t offset)
{
    struct ws_barrier_rep r = {name, 1, 1, gen, index, offset, 0, ""};
    return r;
}

/* The next done request, its code and text; NULL when none. */
static struct ws_barrier_wait *next(struct ws_barrier *b,
                                    const struct ws_barrier_db *db,
                                    const struct ws_barrier_rep *r, size_t n,
                                    int64_t now, int *code, char *text)
{
    return ws_barrier_done(b, "/x/app.db", db, r, n, now, code, text, 2048);
}

TEST(target_from_a_sync_that_starts_later)
{
    struct ws_barrier b = {NULL};
    struct ws_barrier_db db = db_at(G1, 0, 4152);
    struct ws_barrier_rep r[2] = {rep_at("a", G1, 0, 4152),
                                  rep_at("b", G1, 0, 4152)};
    struct ws_barrier_wait *w;
    char text[2048];
    int code;

    /* Sync 7 is in flight when the request comes: it needs sync 8. */
    w = ws_barrier_add(&b, "req", NULL, 8, 1000, 0);
    ASSERT(w != NULL);
    ASSERT(next(&b, &db, r, 2, 1000, &code, text) == NULL);
    ASSERT_EQ(ws_barrier_synced(&b, 7, 1, &db), 1); /* start one now */
    ASSERT_EQ(w->have, 0);
    /* Sync 8 fails, or is held: sync 9 then. */
    ASSERT_EQ(ws_barrier_synced(&b, 8, 0, &db), 0);
    ASSERT_EQ(w->have, 0);
    ASSERT_EQ(w->need, 9);
    db = db_at(G1, 0, 8272);
    ASSERT_EQ(ws_barrier_synced(&b, 9, 1, &db), 0);
    ASSERT_EQ(w->have, 1);
    ASSERT_STR_EQ(w->gen, G1);
    ASSERT_UEQ(w->offset, 8272);
    /* One replica there, one short: not done. */
    r[0].offset = 8272;
    ASSERT(next(&b, &db, r, 2, 1100, &code, text) == NULL);
    /* The other moved to the next index: it holds index 0 whole. */
    r[1] = rep_at("b", G1, 1, 0);
    ASSERT(next(&b, &db, r, 2, 1150, &code, text) == w);
    ASSERT_EQ(code, WS_OK);
    ASSERT_STR_EQ(text, "db=/x/app.db position=1111111111111111/00000000:"
                        "8272 replicas=a,b elapsed=150ms");
    ws_barrier_remove(&b, w);
    ASSERT(b.head == NULL);
}

TEST(position_not_known)
{
    struct ws_barrier b = {NULL};
    struct ws_barrier_db db = db_at(G1, 2, 100);
    struct ws_barrier_rep r = rep_at("s3", G1, 3, 0);
    char text[2048];
    int code;

    ws_barrier_add(&b, "req", NULL, 1, 0, 0);
    ws_barrier_synced(&b, 1, 1, &db);
    r.known = 0; /* listed again after a failure: not trusted */
    ASSERT(next(&b, &db, &r, 1, 10, &code, text) == NULL);
    r.known = 1;
    ASSERT(next(&b, &db, &r, 1, 10, &code, text) != NULL);
    ws_barrier_remove(&b, b.head);
}

TEST(new_generation_moves_the_target)
{
    struct ws_barrier b = {NULL};
    struct ws_barrier_db db = db_at(G1, 5, 9000);
    struct ws_barrier_rep r = rep_at("s3", G1, 5, 100);
    struct ws_barrier_wait *w;
    char text[2048];
    int code;

    w = ws_barrier_add(&b, "req", NULL, 3, 0, 0);
    ws_barrier_synced(&b, 3, 1, &db);
    ASSERT(next(&b, &db, &r, 1, 10, &code, text) == NULL);
    /* The replica lost its history: a new generation, at its start. */
    db = db_at(G2, 0, 4152);
    r = rep_at("s3", G2, 0, 0);
    ASSERT(next(&b, &db, &r, 1, 20, &code, text) == NULL);
    ASSERT_STR_EQ(w->gen, G2);
    ASSERT_UEQ(w->offset, 4152);
    /* Far past the old offset in the new one is not enough: 4152 is. */
    r.offset = 4152;
    ASSERT(next(&b, &db, &r, 1, 30, &code, text) == w);
    ASSERT_EQ(code, WS_OK);
    ws_barrier_remove(&b, w);
}

TEST(deadlines)
{
    struct ws_barrier b = {NULL};
    struct ws_barrier_db db = db_at(G1, 2, 8272);
    struct ws_barrier_rep r[2] = {rep_at("file", G1, 2, 8272),
                                  rep_at("s3", G1, 2, 4152)};
    struct ws_barrier_wait *w1, *w2;
    char text[2048];
    int code;

    r[1].why = "503 SlowDown";
    w1 = ws_barrier_add(&b, "r1", NULL, 1, 0, 3000);
    w2 = ws_barrier_add(&b, "r2", NULL, 1, 0, 5000);
    ws_barrier_add(&b, "r3", NULL, 1, 0, 0);
    ASSERT_EQ(ws_barrier_deadline(&b), 3000);
    ASSERT(next(&b, &db, r, 2, 2999, &code, text) == NULL);
    /* No sync yet at the deadline. */
    db.why = "database /x/app.db does not exist";
    ASSERT(next(&b, &db, r, 2, 3000, &code, text) == w1);
    ASSERT_EQ(code, WS_EIO);
    ASSERT_STR_EQ(text, "not synced after 3s: no copy of the database has "
                        "succeeded since the request: database /x/app.db "
                        "does not exist");
    ws_barrier_remove(&b, w1);
    ASSERT_EQ(ws_barrier_deadline(&b), 5000);
    db.why = "";
    ws_barrier_synced(&b, 1, 1, &db);
    ASSERT(next(&b, &db, r, 2, 4000, &code, text) == NULL);
    ASSERT(next(&b, &db, r, 2, 5000, &code, text) == w2);
    ASSERT_EQ(code, WS_EREMOTE);
    ASSERT_STR_EQ(text, "not in every replica after 5s; replica s3 holds "
                        "1111111111111111/00000002:4152, not "
                        "1111111111111111/00000002:8272: 503 SlowDown");
    ws_barrier_remove(&b, w2);
    ASSERT_EQ(ws_barrier_deadline(&b), 0); /* r3 has none */
    /* A replica without a snapshot of the generation yet. */
    r[1] = rep_at("s3", G2, 0, 0);
    r[1].seen = 0;
    r[1].known = 0;
    b.head->deadline_ms = 6000;
    ASSERT(next(&b, &db, r, 2, 6000, &code, text) == b.head);
    ASSERT_STR_EQ(text, "not in every replica after 6s; replica s3 has no "
                        "snapshot of generation 1111111111111111 yet");
    /* A replica that gave up fails the request at once. */
    r[1] = rep_at("s3", G1, 2, 0);
    r[1].failed = 1;
    r[1].why = "403 AccessDenied";
    b.head->deadline_ms = 0;
    ASSERT(next(&b, &db, r, 2, 7000, &code, text) == b.head);
    ASSERT_EQ(code, WS_EREMOTE);
    ASSERT_STR_EQ(text, "replica s3 gave up at shutdown: 403 AccessDenied");
    ws_barrier_remove(&b, b.head);
    ASSERT(b.head == NULL);
}

#define LIST(X)                                                             \
    X(target_from_a_sync_that_starts_later)                                 \
    X(position_not_known)                                                   \
    X(new_generation_moves_the_target)                                      \
    X(deadlines)

TEST_MAIN("barrier", LIST)
