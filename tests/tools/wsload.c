/*
 * wsload: the test workload, acting as "the application" that walship
 * replicates.
 *
 * Transaction i is a pure function of (seed, i) and of the rows already
 * in the database: it inserts -rows rows of -size pseudo-random bytes,
 * sometimes updates or deletes an earlier row, and ends with
 *
 *     INSERT INTO txlog(seq, t_ns, digest) VALUES (i, <begin ns>, D_i)
 *
 * where D_i is a 128-bit multiset hash of every live row of t: the sum
 * mod 2^128 of the first 16 bytes (big-endian) of
 * SHA-256(be64(id) || be64(k) || v), kept incrementally.  wscheck
 * recomputes it from a restored database, which proves that the restore
 * is exactly the prefix 1..n of the transactions.  A run continues from
 * max(seq) + 1, after checking the stored digest against the rows.
 *
 * One wsload per database: two writers would interleave their seqs.
 *
 * Only <sqlite3.h>, OpenSSL, libc and mhash.h (the multiset hash, shared
 * with wscheck.c): no project headers.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "mhash.h"

static const char usage[] =
    "usage: wsload DB [options]\n"
    "  -rate TX_PER_S        target rate, absolute deadlines (100; 0 = max)\n"
    "  -gap MS               at least MS ms from a COMMIT's return to the\n"
    "                        next BEGIN, whatever the rate (0)\n"
    "  -duration SECS        stop after SECS seconds (0 = no limit)\n"
    "  -count N              stop after N commits by this run (0 = no limit)\n"
    "  -seed S               workload seed (1)\n"
    "  -size BYTES           blob size of each row (1024)\n"
    "  -rows N               rows inserted per transaction (1)\n"
    "  -checkpoint MODE      passive|full|restart|truncate, run periodically\n"
    "  -checkpoint-every MS  checkpoint period (1000)\n"
    "  -busy-timeout MS      busy_timeout of the connection (5000)\n"
    "  -checkpoint-busy-timeout MS  busy_timeout while -checkpoint runs\n"
    "                        (-busy-timeout)\n"
    "  -autocheckpoint N     wal_autocheckpoint (SQLite's default)\n"
    "  -checkpoint-on-close 0|1  0: the last close leaves the -wal as it\n"
    "                        is, no checkpoint (1)\n"
    "  -log CSV              append i,t_begin_ns,t_end_ns,digest per commit\n"
    "  -delete-every N       the run's first transaction deletes every row\n"
    "                        of t whose id is a multiple of N, and does\n"
    "                        nothing else (0: none)\n"
    "Stops on SIGTERM or SIGINT after finishing the current transaction.\n";

#define NS_PER_S 1000000000LL

/* Blob sizes are capped so that -rows * -size stays a sane transaction. */
#define MAX_SIZE (256LL * 1024 * 1024)

/* k is drawn from [0, K_RANGE) so that the index on k sees duplicates. */
#define K_RANGE 1000000

/* Out of 16: update an earlier row on 0..1, delete one on 2. */
#define OP_UPDATE_BELOW 2
#define OP_DELETE 2

struct opts {
    const char *db;
    double rate;
    double duration;
    int64_t count;
    uint64_t seed;
    int64_t size;
    int64_t rows;
    const char *ckpt_mode;
    int64_t ckpt_every_ms;
    int64_t busy_ms;
    int64_t ckpt_busy_ms;    /* -1: busy_ms */
    int64_t autockpt; /* -1: leave SQLite's default */
    int64_t ckpt_on_close;
    int64_t gap_ms;   /* -gap: the least pause after each commit */
    int64_t delete_every; /* -delete-every: the first transaction's */
    const char *log;
};

struct load {
    const struct opts *o;
    sqlite3 *db;
    sqlite3_stmt *ins, *maxid, *pick, *upd, *del, *txlog, *ckpt;
    EVP_MD_CTX *md;
    FILE *csv;
    unsigned char *blob;
    struct mhash digest; /* D of the last committed transaction */
    int64_t seq;         /* the last committed seq */
    int64_t committed;   /* transactions committed by this run */
    int64_t busy;        /* checkpoints that reported SQLITE_BUSY */
    int in_tx;           /* inside run_tx(), for error messages */
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;

    fputs("wsload: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void die_db(struct load *L, const char *what)
{
    if (L->in_tx)
        die("seq %" PRId64 ": %s: %s (%d)", L->seq + 1, what,
            sqlite3_errmsg(L->db), sqlite3_extended_errcode(L->db));
    die("%s: %s: %s (%d)", L->o->db, what, sqlite3_errmsg(L->db),
        sqlite3_extended_errcode(L->db));
}

/* ---- the multiset hash (mhash.h) ---- */

/* row_hash(), dying if OpenSSL fails. */
static struct mhash row_hash_or_die(EVP_MD_CTX *md, int64_t id, int64_t k,
                                    const void *v, size_t n)
{
    struct mhash h;

    if (row_hash(md, id, k, v, n, &h) != 0)
        die("SHA-256 failed");
    return h;
}

/* ---- the deterministic generator ---- */

static uint64_t sm64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The generator state of transaction i. */
static uint64_t tx_rng(uint64_t seed, int64_t i)
{
    uint64_t s = seed, base = sm64(&s);
    uint64_t t = base ^ ((uint64_t)i * 0xd6e8feb86659fd93ULL);

    sm64(&t);
    return t;
}

static void fill(uint64_t *rng, unsigned char *p, size_t n)
{
    for (size_t off = 0; off < n; off += 8) {
        unsigned char w[8];

        put_be64(w, sm64(rng));
        memcpy(p + off, w, n - off < 8 ? n - off : 8);
    }
}

/* ---- time and signals ---- */

static int64_t clock_ns(clockid_t c)
{
    struct timespec ts;

    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/*
 * SIGTERM and SIGINT stay blocked; the main loop collects them with
 * sigtimedwait(), both while it sleeps and between transactions, so a
 * signal never interrupts a transaction and is never lost.
 */
static void signals_block(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    sigprocmask(SIG_BLOCK, set, NULL);
}

/* Wait until the monotonic time `until` or a signal; 1 on a signal. */
static int wait_signal(const sigset_t *set, int64_t until)
{
    int64_t d = until - clock_ns(CLOCK_MONOTONIC);
    struct timespec ts;

    if (d < 0)
        d = 0;
    ts.tv_sec = d / NS_PER_S;
    ts.tv_nsec = d % NS_PER_S;
    for (;;) {
        int sig = sigtimedwait(set, NULL, &ts);

        if (sig > 0)
            return 1;
        if (errno == EAGAIN)
            return 0;
        if (errno != EINTR)
            die("sigtimedwait: %s", strerror(errno));
        d = until - clock_ns(CLOCK_MONOTONIC);
        if (d <= 0)
            return 0;
        ts.tv_sec = d / NS_PER_S;
        ts.tv_nsec = d % NS_PER_S;
    }
}

/* ---- arguments ---- */

static int64_t arg_i64(const char *flag, const char *s, int64_t min,
                       int64_t max)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        die("%s: invalid value \"%s\" (%" PRId64 "..%" PRId64 ")", flag, s, min,
            max);
    return v;
}

static double arg_double(const char *flag, const char *s, double max)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0 && v <= max))
        die("%s: invalid value \"%s\"", flag, s);
    return v;
}

static uint64_t arg_u64(const char *flag, const char *s)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0' || *s == '-')
        die("%s: invalid value \"%s\"", flag, s);
    return v;
}

static int ckpt_mode_ok(const char *m)
{
    static const char *const modes[] = {"passive", "full", "restart",
                                        "truncate"};

    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (strcmp(m, modes[i]) == 0)
            return 1;
    return 0;
}

static void parse_value(struct opts *o, const char *f, const char *v)
{
    if (strcmp(f, "rate") == 0)
        o->rate = arg_double(f, v, 1e9);
    else if (strcmp(f, "duration") == 0)
        o->duration = arg_double(f, v, 1e7);
    else if (strcmp(f, "count") == 0)
        o->count = arg_i64(f, v, 0, INT64_MAX);
    else if (strcmp(f, "seed") == 0)
        o->seed = arg_u64(f, v);
    else if (strcmp(f, "size") == 0)
        o->size = arg_i64(f, v, 0, MAX_SIZE);
    else if (strcmp(f, "rows") == 0)
        o->rows = arg_i64(f, v, 0, 1000000);
    else if (strcmp(f, "checkpoint") == 0)
        o->ckpt_mode = v;
    else if (strcmp(f, "checkpoint-every") == 0)
        o->ckpt_every_ms = arg_i64(f, v, 1, INT32_MAX);
    else if (strcmp(f, "busy-timeout") == 0)
        o->busy_ms = arg_i64(f, v, 0, INT32_MAX);
    else if (strcmp(f, "checkpoint-busy-timeout") == 0)
        o->ckpt_busy_ms = arg_i64(f, v, 0, INT32_MAX);
    else if (strcmp(f, "checkpoint-on-close") == 0)
        o->ckpt_on_close = arg_i64(f, v, 0, 1);
    else if (strcmp(f, "autocheckpoint") == 0)
        o->autockpt = arg_i64(f, v, 0, INT32_MAX);
    else if (strcmp(f, "log") == 0)
        o->log = v;
    else if (strcmp(f, "delete-every") == 0)
        o->delete_every = arg_i64(f, v, 0, INT64_MAX);
    else if (strcmp(f, "gap") == 0)
        o->gap_ms = arg_i64(f, v, 0, INT32_MAX);
    else
        die("unknown flag -%s\n%s", f, usage);
}

static void parse_args(struct opts *o, int argc, char **argv)
{
    *o = (struct opts){.rate = 100,
                       .seed = 1,
                       .size = 1024,
                       .rows = 1,
                       .ckpt_every_ms = 0,
                       .busy_ms = 5000,
                       .ckpt_busy_ms = -1,
                       .autockpt = -1,
                       .ckpt_on_close = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (a[0] != '-') {
            if (o->db != NULL)
                die("more than one database given\n%s", usage);
            o->db = a;
            continue;
        }
        a += a[1] == '-' ? 2 : 1;
        if (strcmp(a, "h") == 0 || strcmp(a, "help") == 0) {
            fputs(usage, stdout);
            exit(0);
        }
        if (i + 1 >= argc)
            die("-%s needs a value\n%s", a, usage);
        parse_value(o, a, argv[++i]);
    }
    if (o->db == NULL)
        die("no database given\n%s", usage);
    if (o->ckpt_mode == NULL && o->ckpt_every_ms > 0)
        o->ckpt_mode = "passive";
    if (o->ckpt_mode != NULL && !ckpt_mode_ok(o->ckpt_mode))
        die("-checkpoint: unknown mode \"%s\"", o->ckpt_mode);
    if (o->ckpt_mode != NULL && o->ckpt_every_ms == 0)
        o->ckpt_every_ms = 1000;
}

/* ---- the database ---- */

static void exec(struct load *L, const char *sql)
{
    if (sqlite3_exec(L->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        die_db(L, sql);
}

static sqlite3_stmt *prepare(struct load *L, const char *sql)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(L->db, sql, -1, &st, NULL) != SQLITE_OK)
        die_db(L, sql);
    return st;
}

static void step_done(struct load *L, sqlite3_stmt *st)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        die_db(L, sqlite3_sql(st));
    sqlite3_reset(st);
}

static void open_db(struct load *L)
{
    const struct opts *o = L->o;
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_open_v2(o->db, &L->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK)
        die("%s: %s", o->db, L->db ? sqlite3_errmsg(L->db) : "out of memory");
    sqlite3_extended_result_codes(L->db, 1);
    sqlite3_busy_timeout(L->db, (int)o->busy_ms);
    st = prepare(L, "PRAGMA journal_mode=wal");
    if (sqlite3_step(st) != SQLITE_ROW)
        die_db(L, "PRAGMA journal_mode=wal");
    if (strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0)
        die("%s: journal_mode is %s, not wal", o->db,
            (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (o->autockpt >= 0)
        sqlite3_wal_autocheckpoint(L->db, (int)o->autockpt);
    if (!o->ckpt_on_close)
        sqlite3_db_config(L->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    /* Only a new database takes the write lock here: with the tables in
     * place, the first wait for the write lock is inside the first
     * transaction, between its logged begin and end (62-sigterm-mid-sync
     * relies on that). */
    st = prepare(L, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                    "AND name IN ('t', 'txlog')");
    if (sqlite3_step(st) != SQLITE_ROW)
        die_db(L, "SELECT FROM sqlite_schema");
    rc = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (rc != 2 &&
        sqlite3_exec(L->db,
                     "BEGIN IMMEDIATE;"
                     "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY,"
                     " k INTEGER, v BLOB);"
                     "CREATE INDEX IF NOT EXISTS t_k ON t(k);"
                     "CREATE TABLE IF NOT EXISTS txlog(seq INTEGER PRIMARY KEY,"
                     " t_ns INTEGER, digest TEXT);"
                     "COMMIT",
                     NULL, NULL, NULL) != SQLITE_OK)
        die_db(L, "creating the tables");
}

/* Recompute D over t and check it against the last txlog row. */
static void resume(struct load *L)
{
    sqlite3_stmt *st;
    char have[33], want[33] = "";
    int rc;

    exec(L, "BEGIN");
    st = prepare(L, "SELECT id, k, v FROM t");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        mh_add(&L->digest,
               row_hash_or_die(L->md, sqlite3_column_int64(st, 0),
                               sqlite3_column_int64(st, 1),
                               sqlite3_column_blob(st, 2),
                               (size_t)sqlite3_column_bytes(st, 2)));
    if (rc != SQLITE_DONE)
        die_db(L, "SELECT id, k, v FROM t");
    sqlite3_finalize(st);
    st = prepare(L, "SELECT seq, digest FROM txlog ORDER BY seq DESC LIMIT 1");
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *d = sqlite3_column_text(st, 1);

        L->seq = sqlite3_column_int64(st, 0);
        snprintf(want, sizeof(want), "%s", d ? (const char *)d : "NULL");
    } else if (rc != SQLITE_DONE) {
        die_db(L, "SELECT seq FROM txlog");
    }
    sqlite3_finalize(st);
    exec(L, "COMMIT");
    mh_hex(L->digest, have);
    if (L->seq == 0)
        mh_hex((struct mhash){0, 0}, want);
    if (strcmp(have, want) != 0)
        die("%s: rows do not match txlog at seq %" PRId64 ": txlog %s, rows %s",
            L->o->db, L->seq, want, have);
}

static void prepare_all(struct load *L)
{
    L->ins = prepare(L, "INSERT INTO t(k, v) VALUES (?, ?)");
    L->maxid = prepare(L, "SELECT max(id) FROM t");
    L->pick = prepare(L, "SELECT id, k, v FROM t WHERE id >= ? ORDER BY id "
                         "LIMIT 1");
    L->upd = prepare(L, "UPDATE t SET k = ?, v = ? WHERE id = ?");
    L->del = prepare(L, "DELETE FROM t WHERE id = ?");
    L->txlog = prepare(L, "INSERT INTO txlog(seq, t_ns, digest) "
                          "VALUES (?, ?, ?)");
    if (L->o->ckpt_mode != NULL) {
        char sql[64];

        snprintf(sql, sizeof(sql), "PRAGMA wal_checkpoint(%s)",
                 L->o->ckpt_mode);
        L->ckpt = prepare(L, sql);
    }
}

static void finalize_all(struct load *L)
{
    sqlite3_stmt *all[] = {L->ins, L->maxid, L->pick, L->upd,
                           L->del, L->txlog, L->ckpt};

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        sqlite3_finalize(all[i]);
}

/* ---- one transaction ---- */

static void insert_row(struct load *L, uint64_t *rng, struct mhash *d)
{
    size_t n = (size_t)L->o->size;
    int64_t k = (int64_t)(sm64(rng) % K_RANGE);

    fill(rng, L->blob, n);
    sqlite3_bind_int64(L->ins, 1, k);
    sqlite3_bind_blob(L->ins, 2, L->blob, (int)n, SQLITE_STATIC);
    step_done(L, L->ins);
    mh_add(d, row_hash_or_die(L->md, sqlite3_last_insert_rowid(L->db), k,
                              L->blob, n));
}

/* Update or delete the first live row at or after a random id. */
static void touch_row(struct load *L, uint64_t *rng, int update,
                      struct mhash *d)
{
    int64_t maxid, id, k;
    size_t n = (size_t)L->o->size;

    if (sqlite3_step(L->maxid) != SQLITE_ROW)
        die_db(L, "SELECT max(id) FROM t");
    maxid = sqlite3_column_int64(L->maxid, 0);
    sqlite3_reset(L->maxid);
    if (maxid <= 0)
        return;
    sqlite3_bind_int64(L->pick, 1, 1 + (int64_t)(sm64(rng) % (uint64_t)maxid));
    if (sqlite3_step(L->pick) != SQLITE_ROW)
        die_db(L, "SELECT id, k, v FROM t WHERE id >= ?");
    id = sqlite3_column_int64(L->pick, 0);
    mh_sub(d, row_hash_or_die(L->md, id, sqlite3_column_int64(L->pick, 1),
                              sqlite3_column_blob(L->pick, 2),
                              (size_t)sqlite3_column_bytes(L->pick, 2)));
    sqlite3_reset(L->pick);
    if (!update) {
        sqlite3_bind_int64(L->del, 1, id);
        step_done(L, L->del);
        return;
    }
    k = (int64_t)(sm64(rng) % K_RANGE);
    fill(rng, L->blob, n);
    sqlite3_bind_int64(L->upd, 1, k);
    sqlite3_bind_blob(L->upd, 2, L->blob, (int)n, SQLITE_STATIC);
    sqlite3_bind_int64(L->upd, 3, id);
    step_done(L, L->upd);
    mh_add(d, row_hash_or_die(L->md, id, k, L->blob, n));
}

/* Delete every row whose id is a multiple of n (-delete-every). */
static void delete_every(struct load *L, int64_t n, struct mhash *d)
{
    sqlite3_stmt *st = prepare(L, "SELECT id, k, v FROM t WHERE id % ? = 0");
    int rc;

    sqlite3_bind_int64(st, 1, n);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        mh_sub(d, row_hash_or_die(L->md, sqlite3_column_int64(st, 0),
                                  sqlite3_column_int64(st, 1),
                                  sqlite3_column_blob(st, 2),
                                  (size_t)sqlite3_column_bytes(st, 2)));
    if (rc != SQLITE_DONE)
        die_db(L, "SELECT id, k, v FROM t WHERE id % ? = 0");
    sqlite3_finalize(st);
    st = prepare(L, "DELETE FROM t WHERE id % ? = 0");
    sqlite3_bind_int64(st, 1, n);
    step_done(L, st);
    sqlite3_finalize(st);
}

static void log_commit(struct load *L, int64_t seq, int64_t t0, int64_t t1,
                       const char *hex)
{
    if (L->csv == NULL)
        return;
    if (fprintf(L->csv, "%" PRId64 ",%" PRId64 ",%" PRId64 ",%s\n", seq, t0, t1,
                hex) < 0 ||
        fflush(L->csv) != 0)
        die("%s: %s", L->o->log, strerror(errno));
}

static void run_tx(struct load *L)
{
    int64_t seq = L->seq + 1, t0, t1;
    uint64_t rng = tx_rng(L->o->seed, seq), op;
    struct mhash d = L->digest;
    char hex[33];

    t0 = clock_ns(CLOCK_REALTIME);
    L->in_tx = 1;
    exec(L, "BEGIN IMMEDIATE");
    if (L->committed == 0 && L->o->delete_every > 0) {
        delete_every(L, L->o->delete_every, &d);
    } else {
        for (int64_t r = 0; r < L->o->rows; r++)
            insert_row(L, &rng, &d);
        op = sm64(&rng) % 16;
        if (op < OP_UPDATE_BELOW || op == OP_DELETE)
            touch_row(L, &rng, op < OP_UPDATE_BELOW, &d);
    }
    mh_hex(d, hex);
    sqlite3_bind_int64(L->txlog, 1, seq);
    sqlite3_bind_int64(L->txlog, 2, t0);
    sqlite3_bind_text(L->txlog, 3, hex, -1, SQLITE_STATIC);
    step_done(L, L->txlog);
    exec(L, "COMMIT");
    t1 = clock_ns(CLOCK_REALTIME);
    L->in_tx = 0;
    L->seq = seq;
    L->digest = d;
    L->committed++;
    log_commit(L, seq, t0, t1, hex);
}

static void checkpoint(struct load *L)
{
    int rc;

    if (L->o->ckpt_busy_ms >= 0)
        sqlite3_busy_timeout(L->db, (int)L->o->ckpt_busy_ms);
    rc = sqlite3_step(L->ckpt);

    if (rc == SQLITE_ROW) {
        if (sqlite3_column_int(L->ckpt, 0) != 0)
            L->busy++;
        while ((rc = sqlite3_step(L->ckpt)) == SQLITE_ROW)
            ;
    }
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        L->busy++;
    else if (rc != SQLITE_DONE)
        die_db(L, sqlite3_sql(L->ckpt));
    sqlite3_reset(L->ckpt);
    if (L->o->ckpt_busy_ms >= 0)
        sqlite3_busy_timeout(L->db, (int)L->o->busy_ms);
}

/* ---- the main loop ---- */

static void run(struct load *L, const sigset_t *sigs)
{
    const struct opts *o = L->o;
    int64_t t0 = clock_ns(CLOCK_MONOTONIC), n = 0;
    int64_t end = INT64_MAX, next_tx = t0, next_ck = INT64_MAX;
    int64_t every = o->ckpt_every_ms * 1000000;

    if (o->duration > 0)
        end = t0 + (int64_t)(o->duration * NS_PER_S);
    if (L->ckpt != NULL)
        next_ck = t0 + every;
    while (o->count == 0 || n < o->count) {
        int64_t now = clock_ns(CLOCK_MONOTONIC);

        if (now >= end)
            break;
        if (now >= next_ck) {
            checkpoint(L);
            next_ck += every;
            if (next_ck <= now)
                next_ck = now + every;
            continue;
        }
        if (now < next_tx) {
            int64_t until = next_tx < next_ck ? next_tx : next_ck;

            if (wait_signal(sigs, until < end ? until : end))
                break;
            continue;
        }
        if (wait_signal(sigs, 0))
            break;
        run_tx(L);
        n++;
        if (o->rate > 0)
            next_tx = t0 + (int64_t)((double)n * NS_PER_S / o->rate);
        if (next_tx < clock_ns(CLOCK_MONOTONIC) + o->gap_ms * 1000000)
            next_tx = clock_ns(CLOCK_MONOTONIC) + o->gap_ms * 1000000;
    }
}

int main(int argc, char **argv)
{
    struct opts o;
    struct load L = {0};
    sigset_t sigs;

    parse_args(&o, argc, argv);
    signals_block(&sigs);
    L.o = &o;
    L.md = EVP_MD_CTX_new();
    L.blob = malloc(o.size > 0 ? (size_t)o.size : 1);
    if (L.md == NULL || L.blob == NULL)
        die("out of memory");
    if (o.log != NULL && (L.csv = fopen(o.log, "a")) == NULL)
        die("%s: %s", o.log, strerror(errno));
    open_db(&L);
    resume(&L);
    prepare_all(&L);
    run(&L, &sigs);
    finalize_all(&L);
    if (sqlite3_close(L.db) != SQLITE_OK)
        die_db(&L, "close");
    if (L.csv != NULL && fclose(L.csv) != 0)
        die("%s: %s", o.log, strerror(errno));
    EVP_MD_CTX_free(L.md);
    free(L.blob);
    fprintf(stderr,
            "wsload: committed %" PRId64 " (last seq %" PRId64 ") busy %" PRId64
            "\n",
            L.committed, L.seq, L.busy);
    return 0;
}
