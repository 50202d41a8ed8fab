/*
 * inspect.c: the inspection commands (see inspect.h).
 *
 * Every command is the same three steps: find the database (cli.h) and
 * open its replicas; list each replica once into a catalog (layout.h),
 * which keeps only snapshots and WAL segments, sorted; turn the catalog
 * into rows of one table and print it.  The rows are built completely
 * before anything is printed, so a failure prints nothing on stdout.
 *
 * Text output follows Go's text/tabwriter with minwidth 0, padding 2 and
 * spaces, as Litestream uses it: a column is as wide as its widest cell
 * (counted in UTF-8 characters) plus 2, and the last column is not
 * padded.  JSON output is one array of objects, one object a line, with
 * strings escaped (and invalid UTF-8 replaced by U+FFFD) so that any JSON
 * parser accepts it.
 *
 * Times are object times from the listing (a file's mtime, S3's
 * LastModified), printed in
 * RFC 3339 UTC: whole seconds in text, as Litestream does, milliseconds in
 * JSON.  The generations lag is (config mode) the later of the database's
 * and its -wal's mtimes, or (URL mode) now, minus the generation's last
 * object time; it is "-" (JSON null) when the database file is missing.
 */
#include "ws/inspect.h"
#include "ws/cli.h"
#include "ws/config.h"
#include "ws/json.h"
#include "ws/layout.h"
#include "ws/log.h"
#include "ws/replica.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define NS_US INT64_C(1000)
#define NS_MS INT64_C(1000000)
#define NS_S INT64_C(1000000000)

/* ---- durations ---------------------------------------------------------- */

int64_t ws_lag_truncate(int64_t ns)
{
    static const struct {
        int64_t above, unit;
    } bands[] = {{10 * NS_S, NS_S}, {NS_S, NS_S / 10}, {NS_MS, NS_MS},
                 {NS_US, NS_US}};

    for (size_t i = 0; i < sizeof(bands) / sizeof(bands[0]); i++)
        if (ns > bands[i].above || ns < -bands[i].above)
            return ns - ns % bands[i].unit; /* % truncates towards 0 */
    return ns;
}

/* v / 10^prec in decimal, without trailing zeros or a bare point. */
static void fixed(char *buf, size_t n, uint64_t v, int prec)
{
    uint64_t p = 1;
    size_t len;

    for (int i = 0; i < prec; i++)
        p *= 10;
    snprintf(buf, n, "%" PRIu64 ".%0*" PRIu64, v / p, prec, v % p);
    len = strlen(buf);
    while (len > 0 && buf[len - 1] == '0')
        buf[--len] = '\0';
    if (len > 0 && buf[len - 1] == '.')
        buf[--len] = '\0';
}

void ws_duration_format(int64_t ns, char *buf, size_t n)
{
    const char *sign = ns < 0 ? "-" : "";
    uint64_t u = ns < 0 ? -(uint64_t)ns : (uint64_t)ns;
    uint64_t m = u / (60 * NS_S), h = m / 60;
    char num[32];

    if (u == 0) {
        snprintf(buf, n, "0s");
    } else if (u < (uint64_t)NS_US) {
        snprintf(buf, n, "%s%" PRIu64 "ns", sign, u);
    } else if (u < (uint64_t)NS_MS) {
        fixed(num, sizeof(num), u, 3);
        snprintf(buf, n, "%s%s\u00b5s", sign, num);
    } else if (u < (uint64_t)NS_S) {
        fixed(num, sizeof(num), u, 6);
        snprintf(buf, n, "%s%sms", sign, num);
    } else {
        fixed(num, sizeof(num), u % (60 * NS_S), 9);
        if (h > 0)
            snprintf(buf, n, "%s%" PRIu64 "h%" PRIu64 "m%ss", sign, h,
                     m % 60, num);
        else if (m > 0)
            snprintf(buf, n, "%s%" PRIu64 "m%ss", sign, m, num);
        else
            snprintf(buf, n, "%s%ss", sign, num);
    }
}

/* RFC 3339 in UTC: whole seconds, or with milliseconds. */
static void fmt_time(char *buf, size_t n, int64_t ms, int with_ms)
{
    int64_t s = ms / 1000, r = ms % 1000;
    struct tm tm;
    time_t t;
    size_t len;

    if (r < 0) {
        r += 1000;
        s--;
    }
    t = (time_t)s;
    if (gmtime_r(&t, &tm) == NULL) { /* past year 2^31 */
        snprintf(buf, n, "-");
        return;
    }
    len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    if (with_ms)
        snprintf(buf + len, n - len, ".%03dZ", (int)r);
    else
        snprintf(buf + len, n - len, "Z");
}

/* ---- tables ------------------------------------------------------------- */

void ws_table_init(struct ws_table *t, const struct ws_col *cols,
                   size_t ncols)
{
    memset(t, 0, sizeof(*t));
    t->cols = cols;
    t->ncols = ncols;
}

int ws_table_add(struct ws_table *t, const char *const *cells)
{
    char **row;

    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **v = realloc(t->cells, cap * t->ncols * sizeof(*v));
        if (v == NULL)
            return WS_ENOMEM;
        t->cells = v;
        t->cap = cap;
    }
    row = t->cells + t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        row[c] = cells[c] ? strdup(cells[c]) : NULL;
        if (cells[c] && row[c] == NULL) {
            while (c-- > 0)
                free(row[c]);
            return WS_ENOMEM;
        }
    }
    t->nrows++;
    return WS_OK;
}

void ws_table_free(struct ws_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

/* Row 0 is the header; row r > 0 is data row r - 1. */
static const char *text_cell(const struct ws_table *t, size_t r, size_t c)
{
    const char *s;

    if (r == 0)
        return t->cols[c].head;
    s = t->cells[(r - 1) * t->ncols + c];
    return s ? s : "-";
}

/* Width in UTF-8 characters, as tabwriter counts runes. */
static size_t text_width(const char *s)
{
    size_t w = 0;

    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

static void write_text(const struct ws_table *t, FILE *f, size_t *w)
{
    size_t last = 0;

    for (size_t c = 0; c < t->ncols; c++) {
        if (t->cols[c].head == NULL)
            continue;
        last = c;
        for (size_t r = 0; r <= t->nrows; r++) {
            size_t x = text_width(text_cell(t, r, c));
            w[c] = x > w[c] ? x : w[c];
        }
    }
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t c = 0; c <= last; c++) {
            const char *s = text_cell(t, r, c);
            if (t->cols[c].head == NULL)
                continue;
            /* A list's items are joined with ','; any other control byte
             * (a file name may hold a newline or an escape sequence) is
             * shown as '?', so a name cannot break the table or drive
             * the terminal (-json has the name itself). */
            for (const char *p = s; *p; p++) {
                unsigned char ch = (unsigned char)*p;
                if (ch == '\n' && t->cols[c].type == WS_COL_LIST)
                    fputc(',', f);
                else
                    fputc(ch < 0x20 || ch == 0x7f ? '?' : ch, f);
            }
            if (c < last)
                fprintf(f, "%*s", (int)(w[c] + 2 - text_width(s)), "");
        }
        fputc('\n', f);
    }
}

static void json_str(FILE *f, const char *s, size_t n)
{
    char enc[WS_JSON_SEQ_MAX];

    fputc('"', f);
    while (n > 0) {
        size_t used, len = ws_json_seq(s, n, enc, &used);
        fwrite(enc, 1, len, f);
        s += used;
        n -= used;
    }
    fputc('"', f);
}

static void json_value(FILE *f, const char *s, enum ws_coltype type)
{
    if (s == NULL) {
        fputs("null", f);
    } else if (type == WS_COL_NUM) {
        fputs(s, f);
    } else if (type == WS_COL_LIST) {
        fputc('[', f);
        for (const char *p = s; *s != '\0'; p++) { /* "" is [] */
            if (*p != '\n' && *p != '\0')
                continue;
            json_str(f, s, (size_t)(p - s));
            if (*p == '\0')
                break;
            fputs(", ", f);
            s = p + 1;
            if (*s == '\0') /* a trailing separator: one more "" */
                json_str(f, s, 0);
        }
        fputc(']', f);
    } else {
        json_str(f, s, strlen(s));
    }
}

static void write_json(const struct ws_table *t, FILE *f)
{
    fputc('[', f);
    for (size_t r = 0; r < t->nrows; r++) {
        const char *sep = "";
        fputs(r ? ",\n  {" : "\n  {", f);
        for (size_t c = 0; c < t->ncols; c++) {
            if (t->cols[c].key == NULL)
                continue;
            fprintf(f, "%s\"%s\": ", sep, t->cols[c].key);
            json_value(f, t->cells[r * t->ncols + c], t->cols[c].type);
            sep = ", ";
        }
        fputc('}', f);
    }
    fputs(t->nrows ? "\n]\n" : "]\n", f);
}

int ws_table_write(const struct ws_table *t, int json, FILE *f,
                   struct ws_err *err)
{
    size_t *w = calloc(t->ncols + 1, sizeof(*w));

    if (w == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if (json)
        write_json(t, f);
    else
        write_text(t, f, w);
    free(w);
    if (fflush(f) != 0 || ferror(f))
        return ws_err_set(err, WS_EIO, "write output: %s", strerror(errno));
    return WS_OK;
}

/* ---- the commands ------------------------------------------------------- */

static const struct ws_col cols_databases[] = {
    {"path", "path", WS_COL_STR},
    {"replicas", "replicas", WS_COL_LIST},
};

static const struct ws_col cols_generations[] = {
    {"name", "replica", WS_COL_STR},
    {"generation", "generation", WS_COL_STR},
    {"lag", "lag", WS_COL_STR},
    {NULL, "lag_ms", WS_COL_NUM},
    {"start", NULL, WS_COL_STR},
    {NULL, "start", WS_COL_STR},
    {"end", NULL, WS_COL_STR},
    {NULL, "end", WS_COL_STR},
};

static const struct ws_col cols_snapshots[] = {
    {"replica", "replica", WS_COL_STR},
    {"generation", "generation", WS_COL_STR},
    {"index", "index", WS_COL_NUM},
    {"size", "size", WS_COL_NUM},
    {"created", NULL, WS_COL_STR},
    {NULL, "created", WS_COL_STR},
};

static const struct ws_col cols_wal[] = {
    {"replica", "replica", WS_COL_STR},
    {"generation", "generation", WS_COL_STR},
    {"index", "index", WS_COL_NUM},
    {"offset", "offset", WS_COL_NUM},
    {"size", "size", WS_COL_NUM},
    {"created", NULL, WS_COL_STR},
    {NULL, "created", WS_COL_STR},
};

#define COLS(a) a, sizeof(a) / sizeof(a[0])

/* One command's run over the replicas of one database. */
struct run {
    const struct ws_inspect_opts *o;
    struct ws_table t;
    int have_base;   /* generations: base_ns is known */
    int64_t base_ns; /* generations: the time the lag is measured from */
};

static int add_databases(struct ws_table *t, const struct ws_config *cfg)
{
    int rc = WS_OK;

    for (size_t i = 0; rc == WS_OK && i < cfg->ndbs; i++) {
        const struct ws_db_config *db = &cfg->dbs[i];
        size_t len = 1, off = 0;
        char *names;
        for (size_t k = 0; k < db->nreplicas; k++)
            len += strlen(db->replicas[k].name) + 1;
        names = calloc(1, len);
        if (names == NULL)
            return WS_ENOMEM;
        for (size_t k = 0; k < db->nreplicas; k++) {
            size_t n = strlen(db->replicas[k].name);
            if (k > 0)
                names[off++] = '\n';
            memcpy(names + off, db->replicas[k].name, n);
            off += n;
        }
        rc = ws_table_add(t, (const char *const[]){db->path, names});
        free(names);
    }
    return rc;
}

/* A snapshot (offset NULL) or WAL segment row. */
static int add_object(struct ws_table *t, const char *replica,
                      const char *gen, uint32_t index, const uint64_t *offset,
                      uint64_t size, int64_t mtime_ms)
{
    char idx[16], off[24], sz[24], created[32], created_ms[40];
    const char *row[7];
    size_t n = 0;

    snprintf(idx, sizeof(idx), "%" PRIu32, index);
    snprintf(off, sizeof(off), "%" PRIu64, offset ? *offset : 0);
    snprintf(sz, sizeof(sz), "%" PRIu64, size);
    fmt_time(created, sizeof(created), mtime_ms, 0);
    fmt_time(created_ms, sizeof(created_ms), mtime_ms, 1);
    row[n++] = replica;
    row[n++] = gen;
    row[n++] = idx;
    if (offset)
        row[n++] = off;
    row[n++] = sz;
    row[n++] = created;
    row[n++] = created_ms;
    return ws_table_add(t, row);
}

/* The lag from base_ns back to an object time of ms, in ns and in *d_ms;
 * past 292 years (an object time comes from the replica: a file's mtime
 * may be in 2446) the ns saturate and *d_ms is still exact. */
static int64_t lag_ns(int64_t base_ns, int64_t ms, int64_t *d_ms)
{
    int64_t end, d;

    if (!__builtin_mul_overflow(ms, NS_MS, &end) &&
        !__builtin_sub_overflow(base_ns, end, &d)) {
        *d_ms = d / NS_MS;
        return d;
    }
    *d_ms = base_ns / NS_MS - ms;
    return *d_ms < 0 ? INT64_MIN : INT64_MAX;
}

static int add_generation(struct run *x, const char *replica,
                          const struct ws_geninfo *g)
{
    char lag[40], lag_ms[24], start[32], start_ms[40], end[32], end_ms[40];
    int64_t d_ms, d = lag_ns(x->base_ns, g->updated_ms, &d_ms);

    ws_duration_format(ws_lag_truncate(d), lag, sizeof(lag));
    snprintf(lag_ms, sizeof(lag_ms), "%" PRId64, d_ms);
    fmt_time(start, sizeof(start), g->created_ms, 0);
    fmt_time(start_ms, sizeof(start_ms), g->created_ms, 1);
    fmt_time(end, sizeof(end), g->updated_ms, 0);
    fmt_time(end_ms, sizeof(end_ms), g->updated_ms, 1);
    return ws_table_add(&x->t, (const char *const[]){
                                   replica, g->name,
                                   x->have_base ? lag : NULL,
                                   x->have_base ? lag_ms : NULL, start,
                                   start_ms, end, end_ms});
}

static int add_catalog(struct run *x, const char *replica,
                       const struct ws_catalog *cat)
{
    int rc = WS_OK;

    for (size_t i = 0; rc == WS_OK && i < cat->ngens; i++) {
        const struct ws_geninfo *g = &cat->gens[i];
        switch (x->o->cmd) {
        case WS_INSPECT_GENERATIONS:
            rc = add_generation(x, replica, g);
            break;
        case WS_INSPECT_SNAPSHOTS:
            for (size_t k = 0; rc == WS_OK && k < g->nsnaps; k++)
                rc = add_object(&x->t, replica, g->name, g->snaps[k].index,
                                NULL, g->snaps[k].size, g->snaps[k].mtime_ms);
            break;
        case WS_INSPECT_WAL:
            if (x->o->generation && strcmp(x->o->generation, g->name) != 0)
                break;
            for (size_t k = 0; rc == WS_OK && k < g->nsegs; k++)
                rc = add_object(&x->t, replica, g->name, g->segs[k].index,
                                &g->segs[k].offset, g->segs[k].size,
                                g->segs[k].mtime_ms);
            break;
        case WS_INSPECT_DATABASES:
            break;
        }
    }
    return rc;
}

/* The mtime of path in ns into *ns, and whether it exists into *exists
 * (a missing file is not an error). */
static int mtime_ns(const char *path, int64_t *ns, int *exists,
                    struct ws_err *err)
{
    struct stat sb;

    *exists = stat(path, &sb) == 0;
    if (!*exists && errno != ENOENT) {
        ws_err_set(err, WS_EIO, "stat %s: %s", path, strerror(errno));
        return ws_err_at(err, WS_AT_DB);
    }
    if (*exists)
        *ns = (int64_t)sb.st_mtim.tv_sec * NS_S + sb.st_mtim.tv_nsec;
    return WS_OK;
}

/* The lag's reference time: now for a URL, else the later of the
 * database's and its -wal's mtimes (unknown when the database is
 * missing). */
static int lag_base(struct run *x, const struct ws_db_config *db,
                    struct ws_err *err)
{
    char wal[4200];
    struct timespec ts;
    int64_t w = 0;
    int rc, has_wal = 0;

    if (db->path == NULL) { /* URL mode */
        clock_gettime(CLOCK_REALTIME, &ts);
        x->base_ns = (int64_t)ts.tv_sec * NS_S + ts.tv_nsec;
        x->have_base = 1;
        return WS_OK;
    }
    snprintf(wal, sizeof(wal), "%s-wal", db->path);
    rc = mtime_ns(db->path, &x->base_ns, &x->have_base, err);
    if (rc == WS_OK && x->have_base)
        rc = mtime_ns(wal, &w, &has_wal, err);
    if (has_wal && w > x->base_ns)
        x->base_ns = w;
    return rc;
}

/* List every replica into the table.  A replica that fails is logged
 * (naming db, the database or the replica URL given) and skipped, unless
 * all of them fail: then the last error is returned. */
static int add_replicas(struct run *x, const char *db,
                        const struct ws_cli_replicas *reps,
                        struct ws_err *err)
{
    size_t failed = 0;
    int rc = WS_OK;

    for (size_t i = 0; rc == WS_OK && i < reps->n; i++) {
        struct ws_catalog cat;
        rc = ws_replica_catalog(reps->v[i], &cat, err);
        if (rc == WS_OK) {
            rc = add_catalog(x, reps->v[i]->cfg->name, &cat);
            ws_catalog_free(&cat);
            if (rc != WS_OK)
                return ws_err_set(err, rc, "out of memory");
        } else if (++failed < reps->n) {
            ws_error("listing failed, skipping the replica db=%s "
                     "replica=%s error=\"%s\"", db, reps->v[i]->cfg->name,
                     err->msg);
            rc = WS_OK;
        }
    }
    return rc;
}

static int run_replicas(struct run *x, struct ws_err *err)
{
    const struct ws_inspect_opts *o = x->o;
    struct ws_config *cfg = NULL;
    const struct ws_db_config *db = NULL;
    struct ws_cli_replicas reps;
    int rc;

    rc = ws_cli_find_db(o->target, o->config, o->expand_env, &cfg, &db, err);
    if (rc != WS_OK)
        return rc;
    ws_cli_log_init(cfg, 0, 0);
    rc = ws_cli_replicas_open(&reps, db, o->replica, err);
    if (rc == WS_OK && o->cmd == WS_INSPECT_GENERATIONS)
        rc = lag_base(x, db, err);
    if (rc == WS_OK)
        rc = add_replicas(x, db->path != NULL ? db->path : o->target, &reps,
                          err);
    ws_cli_replicas_close(&reps);
    ws_config_free(cfg);
    return rc;
}

static int run_databases(struct ws_table *t,
                         const struct ws_inspect_opts *o,
                         struct ws_err *err)
{
    struct ws_config *cfg = NULL;
    int rc = ws_config_load(o->config, o->expand_env, &cfg, err);

    /* A directory entry that could not be walked whole lists too few:
     * an error, as replicate would refuse to start. */
    if (rc == WS_OK)
        rc = ws_config_dirs_check(cfg, err);
    if (rc == WS_OK && add_databases(t, cfg) != WS_OK)
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    ws_config_free(cfg);
    return rc;
}

int ws_inspect_run(const struct ws_inspect_opts *o, FILE *out,
                   struct ws_err *err)
{
    static const struct {
        const struct ws_col *cols;
        size_t ncols;
    } tables[] = {
        [WS_INSPECT_DATABASES] = {COLS(cols_databases)},
        [WS_INSPECT_GENERATIONS] = {COLS(cols_generations)},
        [WS_INSPECT_SNAPSHOTS] = {COLS(cols_snapshots)},
        [WS_INSPECT_WAL] = {COLS(cols_wal)},
    };
    struct run x = {.o = o};
    int rc;

    ws_table_init(&x.t, tables[o->cmd].cols, tables[o->cmd].ncols);
    if (o->cmd == WS_INSPECT_DATABASES)
        rc = run_databases(&x.t, o, err);
    else
        rc = run_replicas(&x, err);
    if (rc == WS_OK)
        rc = ws_table_write(&x.t, o->json, out, err);
    ws_table_free(&x.t);
    return rc;
}
