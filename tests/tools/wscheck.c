/*
 * wscheck: the restore oracle.  It proves that a database is exactly what
 * wsload (wsload.c) had committed after some transaction n, and that two
 * databases hold the same rows.
 *
 *   wscheck [-csv CSV] [-want N | -min N | -allow-empty] DB
 *           integrity_check is ok and foreign_key_check empty; the schema
 *           is wsload's (tables t and txlog, index t_k) and nothing more
 *           (but Litestream's _litestream_seq and _litestream_lock);
 *           txlog.seq is exactly 1..n, each row with an integer t_ns and
 *           a 32-hex-digit digest; and the multiset hash of every row of
 *           t equals the digest stored with seq n.  With -csv, every
 *           txlog row must also be the line wsload logged for its seq
 *           (begin time and digest), so the whole history is checked, not
 *           only its end; n may be one past the CSV's last line (wsload
 *           logs after COMMIT returns).  n must be at least 1 (an empty
 *           database is not a restore of anything) unless -allow-empty
 *           or -min 0; -min N asks for at least N, -want N for exactly N.
 *           Prints "ok seq=N digest=HEX".
 *   wscheck -eq A B
 *           the same schema and the same rows, value by value with
 *           types, in every table (except sqlite_*), and integrity_check
 *           ok on both.  Prints "equal tables=N rows=M".
 *   wscheck -seq DB
 *           prints max(seq) of txlog (0 when empty), checking nothing
 *           else: for polling, never as a verdict.
 *
 * What the digest proves: wsload's transaction i rewrites t and then
 * stores D_i, the hash of all of t, in txlog row i.  A database that
 * lost or reordered a transaction, holds half of one, or has any row of
 * t changed (a page corrupted under a valid b-tree, which integrity_check
 * does not see) fails the comparison of D_n with the rows; a txlog row
 * changed is caught by -csv.  tests/e2e/10-tools.sh plants each of these.
 *
 * Databases are opened read-only ("file:PATH?mode=ro"), each check in one
 * read transaction, so DB may be checked while wsload writes it.  Results
 * go to stdout; a failure prints one line "wscheck: <what failed>" to
 * stderr and exits 1; a usage error exits 2.
 *
 * The multiset hash is mhash.h, shared with wsload.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "mhash.h"

static const char usage[] =
    "usage: wscheck [-csv CSV] [-want N | -min N | -allow-empty] DB\n"
    "       wscheck -eq A B\n"
    "       wscheck -seq DB\n";

static int failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int failf(const char *fmt, ...)
{
    va_list ap;

    fputs("wscheck: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static int fail_db(sqlite3 *db, const char *path, const char *what)
{
    return failf("%s: %s: %s (%d)", path, what, sqlite3_errmsg(db),
                 sqlite3_extended_errcode(db));
}

/* ---- opening and small queries ---- */

/* "file:" + PATH with %, ? and # escaped + "?mode=ro". */
static char *ro_uri(const char *path)
{
    size_t n = strlen(path), o = 0;
    char *u = malloc(3 * n + 32);

    if (u == NULL)
        return NULL;
    memcpy(u, "file:", 5);
    o = 5;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];

        if (c == '%' || c == '?' || c == '#' || c <= ' ' || c >= 0x7f) {
            snprintf(u + o, 4, "%%%02X", c);
            o += 3;
        } else {
            u[o++] = (char)c;
        }
    }
    memcpy(u + o, "?mode=ro", 9);
    return u;
}

static int open_ro(const char *path, sqlite3 **db)
{
    char *uri = ro_uri(path);
    int rc;

    *db = NULL;
    if (uri == NULL)
        return failf("out of memory");
    rc = sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    free(uri);
    if (rc != SQLITE_OK)
        return failf("%s: cannot open: %s", path,
                     *db ? sqlite3_errmsg(*db) : "out of memory");
    sqlite3_busy_timeout(*db, 5000);
    if (sqlite3_exec(*db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return fail_db(*db, path, "BEGIN");
    return 0;
}

/* The first column of the one-row query sql, as an int64 (NULL = 0). */
static int query_i64(sqlite3 *db, const char *path, const char *sql,
                     int64_t *out)
{
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail_db(db, path, sql);
    rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail_db(db, path, sql);
    return 0;
}

/* A one-row "ok" from integrity_check, and no rows from foreign_key_check. */
static int check_integrity(sqlite3 *db, const char *path)
{
    sqlite3_stmt *st;
    int rc, rows = 0, bad = 0;
    char first[256] = "";

    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) !=
        SQLITE_OK)
        return fail_db(db, path, "PRAGMA integrity_check");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);

        if (rows++ == 0)
            snprintf(first, sizeof(first), "%s", t ? (const char *)t : "");
        if (t == NULL || strcmp((const char *)t, "ok") != 0)
            bad = 1;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fail_db(db, path, "PRAGMA integrity_check");
    if (bad || rows != 1)
        return failf("%s: integrity_check: %s", path, first);
    if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL) !=
        SQLITE_OK)
        return fail_db(db, path, "PRAGMA foreign_key_check");
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        bad = failf("%s: foreign_key_check: table %s violates its foreign "
                    "keys",
                    path, (const char *)sqlite3_column_text(st, 0));
    else if (rc != SQLITE_DONE)
        bad = fail_db(db, path, "PRAGMA foreign_key_check");
    sqlite3_finalize(st);
    return bad;
}

/* ---- wscheck DB ---- */

/* Every object but SQLite's own, in (type, name) order (BINARY). */
static const char schema_sql[] =
    "SELECT type, name, tbl_name, sql FROM sqlite_schema "
    "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name";


/* The schema wsload creates, and nothing else (type, name), in
 * schema_sql's order. */
static const char *const wsload_schema[][2] = {
    {"index", "t_k"}, {"table", "t"}, {"table", "txlog"}};

/* Tables Litestream creates in a database it replicates (and so in what
 * it restores), which are no part of wsload's. */
static int litestream_table(const char *type, const char *name)
{
    return strcmp(type, "table") == 0 &&
           (strcmp(name, "_litestream_seq") == 0 ||
            strcmp(name, "_litestream_lock") == 0);
}

static int check_tables(sqlite3 *db, const char *path)
{
    sqlite3_stmt *st;
    size_t i = 0, n = sizeof(wsload_schema) / sizeof(wsload_schema[0]);
    int rc, bad = 0;

    if (sqlite3_prepare_v2(db, schema_sql, -1, &st, NULL) != SQLITE_OK)
        return fail_db(db, path, "SELECT FROM sqlite_schema");
    while (!bad && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(st, 0);
        const char *name = (const char *)sqlite3_column_text(st, 1);

        if (i < n && strcmp(type, wsload_schema[i][0]) == 0 &&
            strcmp(name, wsload_schema[i][1]) == 0)
            i++;
        else if (!litestream_table(type, name))
            bad = failf("%s: unexpected %s %s (not a wsload database, or not "
                        "only one)",
                        path, type, name);
    }
    if (!bad && rc != SQLITE_DONE)
        bad = fail_db(db, path, "SELECT FROM sqlite_schema");
    sqlite3_finalize(st);
    if (!bad && i != n)
        bad = failf("%s: no %s %s (not a wsload database)", path,
                    wsload_schema[i][0], wsload_schema[i][1]);
    return bad;
}

/* wsload's -log CSV: one "seq,t_begin_ns,t_end_ns,digest" line per
 * commit, seqs consecutive from first to last (v[seq - first]). */
struct csv_row {
    int64_t t_begin;
    char digest[33];
};

struct csv_log {
    const char *path;
    int64_t first, last; /* last = first - 1 when empty */
    struct csv_row *v;
    size_t cap;
};

static int is_hex32(const char *s)
{
    for (int i = 0; i < 32; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[32] == '\0' || s[32] == '\n';
}

/* Read CSV; an unfinished last line (a writer still logging) is ignored. */
static int csv_load(const char *path, struct csv_log *log)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int bad = 0;

    *log = (struct csv_log){.path = path, .first = 1, .last = 0};
    if (f == NULL)
        return failf("%s: %s", path, strerror(errno));
    while (!bad && (len = getline(&line, &cap, f)) > 0) {
        long long s, t0, t1;
        int used = 0;

        if (line[len - 1] != '\n')
            break;
        if (sscanf(line, "%lld,%lld,%lld,%n", &s, &t0, &t1, &used) != 3 ||
            used == 0 || !is_hex32(line + used) || s < 1) {
            bad = failf("%s: malformed line \"%.60s\"", path, line);
            break;
        }
        if (log->last < log->first)
            log->first = log->last = s;
        else if (s != log->last + 1) {
            bad = failf("%s: seq %lld follows seq %" PRId64 " (one writer, "
                        "one CSV)",
                        path, s, log->last);
            break;
        } else
            log->last = s;
        if ((size_t)(log->last - log->first) >= log->cap) {
            size_t nc = log->cap ? 2 * log->cap : 1024;
            struct csv_row *nv = realloc(log->v, nc * sizeof(*nv));

            if (nv == NULL) {
                bad = failf("out of memory");
                break;
            }
            log->v = nv;
            log->cap = nc;
        }
        log->v[log->last - log->first].t_begin = t0;
        memcpy(log->v[log->last - log->first].digest, line + used, 32);
        log->v[log->last - log->first].digest[32] = '\0';
    }
    free(line);
    fclose(f);
    return bad;
}

/*
 * txlog must be exactly seq 1..n, each row's t_ns an integer and digest
 * 32 hex digits; with a CSV, every row must be the line wsload logged for
 * that seq (its begin time and digest), except that n may be one past the
 * CSV's last line (wsload logs after COMMIT returns).  Sets *n and the
 * digest stored with seq n ("0...0" for n = 0).
 */
static int check_txlog(sqlite3 *db, const char *path,
                       const struct csv_log *log, int64_t *n, char last[33])
{
    sqlite3_stmt *st;
    int64_t want = 1;
    int rc, bad = 0;

    mh_hex((struct mhash){0, 0}, last);
    if (sqlite3_prepare_v2(db, "SELECT seq, t_ns, digest FROM txlog ORDER BY "
                               "seq",
                           -1, &st, NULL) != SQLITE_OK)
        return fail_db(db, path, "SELECT FROM txlog");
    while (!bad && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t s = sqlite3_column_int64(st, 0);
        int64_t t = sqlite3_column_int64(st, 1);
        const char *d = (const char *)sqlite3_column_text(st, 2);

        if (s != want) {
            bad = failf("%s: txlog is not 1..n: expected seq %" PRId64
                        ", found %" PRId64,
                        path, want, s);
        } else if (sqlite3_column_type(st, 1) != SQLITE_INTEGER ||
                   d == NULL || sqlite3_column_bytes(st, 2) != 32 ||
                   !is_hex32(d)) {
            bad = failf("%s: txlog row %" PRId64 ": t_ns is not an integer "
                        "or digest not 32 hex digits",
                        path, s);
        } else if (log != NULL && s < log->first) {
            bad = failf("%s: seq %" PRId64 " is not logged (it starts at "
                        "seq %" PRId64 ")",
                        log->path, s, log->first);
        } else if (log != NULL && s > log->last + 1) {
            bad = failf("%s: seq %" PRId64 " is beyond the last logged seq "
                        "%" PRId64 " + 1",
                        log->path, s, log->last);
        } else if (log != NULL && s <= log->last &&
                   strcmp(log->v[s - log->first].digest, d) != 0) {
            bad = failf("%s: digest of seq %" PRId64 " is %s, the database "
                        "has %s",
                        log->path, s, log->v[s - log->first].digest, d);
        } else if (log != NULL && s <= log->last &&
                   log->v[s - log->first].t_begin != t) {
            bad = failf("%s: t_ns of seq %" PRId64 " is %" PRId64 ", the "
                        "database has %" PRId64,
                        log->path, s, log->v[s - log->first].t_begin, t);
        } else {
            memcpy(last, d, 33);
            want++;
        }
    }
    if (!bad && rc != SQLITE_DONE)
        bad = fail_db(db, path, "SELECT FROM txlog");
    sqlite3_finalize(st);
    *n = want - 1;
    return bad;
}

/* The multiset hash over the rows of t. */
static int recompute(sqlite3 *db, const char *path, char out[33])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    struct mhash sum = {0, 0}, h;
    sqlite3_stmt *st = NULL;
    int rc, bad = 0;

    if (md == NULL)
        return failf("out of memory");
    if (sqlite3_prepare_v2(db, "SELECT id, k, v FROM t", -1, &st, NULL) !=
        SQLITE_OK) {
        EVP_MD_CTX_free(md);
        return fail_db(db, path, "SELECT id, k, v FROM t");
    }
    while (!bad && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);

        if (sqlite3_column_type(st, 1) != SQLITE_INTEGER ||
            sqlite3_column_type(st, 2) != SQLITE_BLOB)
            bad = failf("%s: t row %" PRId64 ": k is not an integer or v "
                        "not a blob",
                        path, id);
        else if (row_hash(md, id, sqlite3_column_int64(st, 1),
                          sqlite3_column_blob(st, 2),
                          (size_t)sqlite3_column_bytes(st, 2), &h) != 0)
            bad = failf("SHA-256 failed");
        else
            mh_add(&sum, h);
    }
    if (!bad && rc != SQLITE_DONE)
        bad = fail_db(db, path, "SELECT id, k, v FROM t");
    sqlite3_finalize(st);
    EVP_MD_CTX_free(md);
    mh_hex(sum, out);
    return bad;
}

/* What `wscheck DB` requires of seq n besides the checks themselves. */
struct want_seq {
    int64_t exact; /* -want N; -1: any */
    int64_t min;   /* -min N; 1 by default, 0 with -allow-empty */
};

static int cmd_check(const char *path, const char *csv, struct want_seq w)
{
    struct csv_log log = {0};
    sqlite3 *db = NULL;
    int64_t n = 0;
    char want[33] = "", have[33] = "";
    int bad = 0;

    if (csv != NULL)
        bad = csv_load(csv, &log);
    if (!bad)
        bad = open_ro(path, &db);
    if (!bad)
        bad = check_integrity(db, path);
    if (!bad)
        bad = check_tables(db, path);
    if (!bad)
        bad = check_txlog(db, path, csv ? &log : NULL, &n, want);
    if (!bad)
        bad = recompute(db, path, have);
    if (!bad && strcmp(want, have) != 0)
        bad = failf("%s: digest mismatch at seq %" PRId64 ": txlog %s, rows "
                    "%s",
                    path, n, want, have);
    sqlite3_close(db);
    free(log.v);
    if (!bad && w.exact >= 0 && n != w.exact)
        bad = failf("%s: seq %" PRId64 ", want %" PRId64 "%s", path, n,
                    w.exact, n < w.exact ? " (transactions missing)" : "");
    if (!bad && w.exact < 0 && n < w.min)
        bad = failf("%s: seq %" PRId64 ", want at least %" PRId64 "%s", path,
                    n, w.min,
                    n == 0 ? " (an empty txlog passes only with -allow-empty)"
                           : "");
    if (bad)
        return 1;
    printf("ok seq=%" PRId64 " digest=%s\n", n, have);
    return 0;
}

static int cmd_seq(const char *path)
{
    sqlite3 *db;
    int64_t n = 0;
    int bad;

    bad = open_ro(path, &db);
    if (!bad)
        bad = check_tables(db, path);
    if (!bad)
        bad =
            query_i64(db, path, "SELECT coalesce(max(seq), 0) FROM txlog", &n);
    sqlite3_close(db);
    if (bad)
        return 1;
    printf("%" PRId64 "\n", n);
    return 0;
}

/* ---- wscheck -eq A B ---- */

struct side {
    const char *path;
    sqlite3 *db;
    sqlite3_stmt *st;
};

static int same_value(sqlite3_stmt *a, sqlite3_stmt *b, int i)
{
    int t = sqlite3_column_type(a, i);

    if (t != sqlite3_column_type(b, i))
        return 0;
    switch (t) {
    case SQLITE_NULL:
        return 1;
    case SQLITE_INTEGER:
        return sqlite3_column_int64(a, i) == sqlite3_column_int64(b, i);
    case SQLITE_FLOAT: {
        double x = sqlite3_column_double(a, i);
        double y = sqlite3_column_double(b, i);

        return memcmp(&x, &y, sizeof(x)) == 0;
    }
    default: { /* TEXT or BLOB: the bytes as stored */
        const void *x = sqlite3_column_blob(a, i);
        const void *y = sqlite3_column_blob(b, i);
        int n = sqlite3_column_bytes(a, i);

        return n == sqlite3_column_bytes(b, i) &&
               (n == 0 || memcmp(x, y, (size_t)n) == 0);
    }
    }
}

/* Step both statements; 1 = row, 0 = done, -1 = error (reported). */
static int step_side(struct side *s, const char *what)
{
    int rc = sqlite3_step(s->st);

    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    fail_db(s->db, s->path, what);
    return -1;
}

/* Ordered by rowid, or by every column for a WITHOUT ROWID table. */
static int prepare_rows(struct side *s, const char *table)
{
    char *sql = sqlite3_mprintf("SELECT * FROM \"%w\" ORDER BY rowid", table);
    int rc, ncol;

    if (sql == NULL)
        return failf("out of memory");
    rc = sqlite3_prepare_v2(s->db, sql, -1, &s->st, NULL);
    sqlite3_free(sql);
    if (rc == SQLITE_OK)
        return 0;
    sql = sqlite3_mprintf("SELECT * FROM \"%w\"", table);
    rc = sql ? sqlite3_prepare_v2(s->db, sql, -1, &s->st, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc != SQLITE_OK)
        return fail_db(s->db, s->path, table);
    ncol = sqlite3_column_count(s->st);
    sqlite3_finalize(s->st);
    s->st = NULL;
    sql = sqlite3_mprintf("SELECT * FROM \"%w\" ORDER BY 1", table);
    for (int i = 2; sql != NULL && i <= ncol; i++) {
        char *more = sqlite3_mprintf("%s, %d", sql, i);

        sqlite3_free(sql);
        sql = more;
    }
    rc = sql ? sqlite3_prepare_v2(s->db, sql, -1, &s->st, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc != SQLITE_OK)
        return fail_db(s->db, s->path, table);
    return 0;
}

static int compare_rows(struct side *a, struct side *b, const char *table,
                        int64_t *rows)
{
    int64_t r = 0;
    int bad = prepare_rows(a, table);

    if (!bad)
        bad = prepare_rows(b, table);
    while (!bad) {
        int ra = step_side(a, table), rb = step_side(b, table), ncol;

        if (ra < 0 || rb < 0) {
            bad = 1;
        } else if (ra != rb) {
            bad = failf("table %s differs: %s has more rows (%" PRId64
                        " in common)",
                        table, ra ? a->path : b->path, r);
        } else if (ra == 0) {
            break;
        } else {
            ncol = sqlite3_column_count(a->st);
            for (int i = 0; !bad && i < ncol; i++)
                if (!same_value(a->st, b->st, i))
                    bad = failf("table %s differs: row %" PRId64
                                " (in rowid order), column %s",
                                table, r + 1, sqlite3_column_name(a->st, i));
            r++;
        }
    }
    sqlite3_finalize(a->st);
    sqlite3_finalize(b->st);
    a->st = b->st = NULL;
    *rows += r;
    return bad;
}

/* (type, name) order, as in schema_sql's ORDER BY (BINARY collation). */
static int schema_key_cmp(sqlite3_stmt *a, sqlite3_stmt *b)
{
    for (int i = 0; i < 2; i++) {
        const char *x = (const char *)sqlite3_column_text(a, i);
        const char *y = (const char *)sqlite3_column_text(b, i);
        int c = strcmp(x ? x : "", y ? y : "");

        if (c != 0)
            return c;
    }
    return 0;
}

/* Compare the schemas in lockstep, then the rows of each table. */
static int compare_all(struct side *a, struct side *b, int64_t *tables,
                       int64_t *rows)
{
    sqlite3_stmt *sa = NULL, *sb = NULL;
    int bad = 0;

    if (sqlite3_prepare_v2(a->db, schema_sql, -1, &sa, NULL) != SQLITE_OK)
        bad = fail_db(a->db, a->path, "SELECT FROM sqlite_schema");
    else if (sqlite3_prepare_v2(b->db, schema_sql, -1, &sb, NULL) != SQLITE_OK)
        bad = fail_db(b->db, b->path, "SELECT FROM sqlite_schema");
    while (!bad) {
        struct side xa = {a->path, a->db, sa}, xb = {b->path, b->db, sb};
        int ra = step_side(&xa, "sqlite_schema");
        int rb = step_side(&xb, "sqlite_schema");
        const char *type, *name, *sql;

        if (ra < 0 || rb < 0) {
            bad = 1;
            break;
        }
        if (ra == 0 && rb == 0)
            break;
        if (ra != rb || !same_value(sa, sb, 0) || !same_value(sa, sb, 1)) {
            /* Both are sorted: the smaller entry is missing on the other
             * side. */
            int first_a = rb == 0 || (ra != 0 && schema_key_cmp(sa, sb) < 0);
            sqlite3_stmt *f = first_a ? sa : sb;

            bad = failf("schema differs: %s %s only in %s",
                        (const char *)sqlite3_column_text(f, 0),
                        (const char *)sqlite3_column_text(f, 1),
                        first_a ? a->path : b->path);
            break;
        }
        name = (const char *)sqlite3_column_text(sa, 1);
        if (!same_value(sa, sb, 2) || !same_value(sa, sb, 3)) {
            bad = failf("schema differs: %s", name);
            break;
        }
        type = (const char *)sqlite3_column_text(sa, 0);
        sql = (const char *)sqlite3_column_text(sa, 3);
        if (strcmp(type, "table") != 0 || sql == NULL ||
            strncmp(sql, "CREATE VIRTUAL", 14) == 0)
            continue;
        (*tables)++;
        bad = compare_rows(a, b, name, rows);
    }
    sqlite3_finalize(sa);
    sqlite3_finalize(sb);
    return bad;
}

static int cmd_eq(const char *pa, const char *pb)
{
    struct side a = {pa, NULL, NULL}, b = {pb, NULL, NULL};
    int64_t tables = 0, rows = 0;
    int bad;

    bad = open_ro(pa, &a.db);
    if (!bad)
        bad = open_ro(pb, &b.db);
    if (!bad)
        bad = check_integrity(a.db, pa);
    if (!bad)
        bad = check_integrity(b.db, pb);
    if (!bad)
        bad = compare_all(&a, &b, &tables, &rows);
    sqlite3_close(a.db);
    sqlite3_close(b.db);
    if (bad)
        return 1;
    printf("equal tables=%" PRId64 " rows=%" PRId64 "\n", tables, rows);
    return 0;
}

static int arg_seq(const char *flag, const char *v, int64_t *out)
{
    char *end;
    long long x;

    errno = 0;
    x = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < 0) {
        fprintf(stderr, "wscheck: %s: invalid value \"%s\"\n%s", flag, v,
                usage);
        return 2;
    }
    *out = x;
    return 0;
}

int main(int argc, char **argv)
{
    struct want_seq w = {.exact = -1, .min = 1};
    const char *csv = NULL;
    int i, bounds = 0;

    if (argc == 4 && strcmp(argv[1], "-eq") == 0)
        return cmd_eq(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "-seq") == 0)
        return cmd_seq(argv[2]);
    /* Flags, then DB last; -want, -min and -allow-empty exclude each
     * other. */
    for (i = 1; i < argc - 1; i++) {
        const char *a = argv[i];
        int rc = 0;

        if (strcmp(a, "-allow-empty") == 0) {
            w.min = 0;
            bounds++;
        } else if (i + 2 >= argc) {
            break;
        } else if (strcmp(a, "-csv") == 0) {
            csv = argv[++i];
        } else if (strcmp(a, "-want") == 0) {
            rc = arg_seq(a, argv[++i], &w.exact);
            bounds++;
        } else if (strcmp(a, "-min") == 0) {
            rc = arg_seq(a, argv[++i], &w.min);
            bounds++;
        } else {
            break;
        }
        if (rc != 0)
            return rc;
    }
    if (i != argc - 1 || argv[i][0] == '-' || bounds > 1) {
        fputs(usage, stderr);
        return 2;
    }
    return cmd_check(argv[i], csv, w);
}
