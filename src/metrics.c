/*
 * metrics.c: counting and the text format (see metrics.h).
 */
#include "ws/metrics.h"
#include "ws/json.h"

#include <string.h>

static const char *const ckpt_names[WS_CKPT_MODES] = {"PASSIVE", "TRUNCATE",
                                                      "RESTART"};
static const char *const op_names[WS_REQ_DEL + 1] = {"list", "put", "get",
                                                     "delete"};
static const char *const res_names[WS_MRES_N] = {"ok", "not_found", "error"};

void ws_metrics_sync(struct ws_dbmetrics *m, int ok, const char *ckpt,
                     int64_t ckpt_us, int64_t held_us)
{
    m->syncs++;
    if (!ok)
        m->sync_errors++;
    for (int i = 0; ckpt != NULL && i < WS_CKPT_MODES; i++)
        if (strcmp(ckpt, ckpt_names[i]) == 0) {
            m->ckpts[i]++;
            m->ckpt_us[i] += ckpt_us > 0 ? ckpt_us : 0;
        }
    m->held_us += held_us > 0 ? held_us : 0;
}

void ws_metrics_req(struct ws_repmetrics *m, const struct ws_req *req)
{
    enum ws_mres res = req->rc == WS_OK          ? WS_MRES_OK
                       : req->rc == WS_ENOTFOUND ? WS_MRES_NOTFOUND
                                                 : WS_MRES_ERROR;

    if ((unsigned)req->type <= WS_REQ_DEL)
        m->reqs[req->type][res]++;
    if (req->retries > 0)
        m->retries += (uint64_t)req->retries;
    if (req->type == WS_REQ_PUT && req->rc == WS_OK)
        m->up_bytes += req->put_size;
    if (req->type == WS_REQ_GET)
        m->down_bytes += req->got;
}

int64_t ws_metrics_oldest(const struct ws_tpoint *v, size_t n, uint32_t index,
                          uint64_t offset)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].index < index ||
            (v[mid].index == index && v[mid].offset <= offset))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n ? v[lo].time_us : -1;
}

/* ---- the text format --------------------------------------------------- */

static void family(struct ws_httpd_body *b, const char *name, const char *type,
                   const char *help)
{
    ws_httpd_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the format wants (\\, \", \n), and valid
 * UTF-8: each byte that does not start a valid sequence becomes U+FFFD. */
static void label(struct ws_httpd_body *b, const char *name, const char *v)
{
    const unsigned char *p = (const unsigned char *)v;
    size_t n = strlen(v), len;

    ws_httpd_printf(b, "%s=\"", name);
    for (; n > 0; p += len, n -= len) {
        len = ws_utf8_seq(p, n);
        if (len == 0) {
            ws_httpd_printf(b, "\xef\xbf\xbd");
            len = 1;
        } else if (*p == '\\' || *p == '"') {
            ws_httpd_printf(b, "\\%c", *p);
        } else if (*p == '\n') {
            ws_httpd_printf(b, "\\n");
        } else {
            ws_httpd_printf(b, "%.*s", (int)len, (const char *)p);
        }
    }
    ws_httpd_printf(b, "\"");
}

static void db_labels(struct ws_httpd_body *b, const struct ws_metrics_db *d)
{
    label(b, "db", d->path);
}

static void rep_labels(struct ws_httpd_body *b, const struct ws_metrics_db *d,
                       const struct ws_metrics_rep *r)
{
    label(b, "db", d->path);
    ws_httpd_printf(b, ",");
    label(b, "replica", r->name);
    ws_httpd_printf(b, ",");
    label(b, "type", r->type);
}

enum dbval {
    V_READY,
    V_DBSIZE,
    V_WALSIZE,
    V_INDEX,
    V_OFFSET,
    V_SYNCS,
    V_SYNCERR,
    V_HELD
};

static const struct dbfam {
    const char *name, *type, *help;
    enum dbval v;
} db_fams[] = {
    {"walship_db_ready", "gauge",
     "1 while the database replicates; 0 while it is awaited or its syncs "
     "fail.",
     V_READY},
    {"walship_db_size_bytes", "gauge", "Size of the database file.", V_DBSIZE},
    {"walship_wal_size_bytes", "gauge", "Size of the database's -wal file.",
     V_WALSIZE},
    {"walship_position_index", "gauge",
     "WAL index of the local shadow position.", V_INDEX},
    {"walship_position_offset_bytes", "gauge",
     "Offset in that WAL index of the local shadow position.", V_OFFSET},
    {"walship_syncs_total", "counter",
     "Syncs (copies of new commits to the shadow WAL) done.", V_SYNCS},
    {"walship_sync_errors_total", "counter", "Syncs that failed.", V_SYNCERR},
    {"walship_writers_held_seconds_total", "counter",
     "Time the application's writers were held off by walship (its write "
     "lock and TRUNCATE checkpoints).",
     V_HELD},
};

static double db_value(const struct ws_metrics_db *d, enum dbval v)
{
    switch (v) {
    case V_READY:
        return d->ready;
    case V_DBSIZE:
        return (double)d->db_bytes;
    case V_WALSIZE:
        return (double)d->wal_bytes;
    case V_INDEX:
        return d->index;
    case V_OFFSET:
        return (double)d->offset;
    case V_SYNCS:
        return (double)d->m->syncs;
    case V_SYNCERR:
        return (double)d->m->sync_errors;
    case V_HELD:
        return (double)d->m->held_us / 1e6;
    }
    return 0;
}

enum repval {
    R_LAG,
    R_SPOOL,
    R_UP,
    R_DOWN,
    R_RETRIES,
    R_FAILS,
    R_RUNS,
    R_DELETED,
    R_DELGENS
};

static const struct repfam {
    const char *name, *type, *help;
    enum repval v;
} rep_fams[] = {
    {"walship_replication_lag_seconds", "gauge",
     "Age of the oldest commit the replica does not hold yet; 0 when it "
     "holds everything committed.",
     R_LAG},
    {"walship_replica_spool_bytes", "gauge",
     "Local shadow WAL bytes the replica has not shipped yet.", R_SPOOL},
    {"walship_replica_uploaded_bytes_total", "counter",
     "Bytes stored by successful uploads.", R_UP},
    {"walship_replica_downloaded_bytes_total", "counter",
     "Bytes received by downloads.", R_DOWN},
    {"walship_replica_retries_total", "counter",
     "Request attempts the replica client retried.", R_RETRIES},
    {"walship_replica_failures_total", "counter",
     "Replication jobs that failed (walship backs off and retries).", R_FAILS},
    {"walship_replica_retention_runs_total", "counter",
     "Retention passes started.", R_RUNS},
    {"walship_replica_deleted_objects_total", "counter",
     "Objects retention deleted one by one (snapshots, WAL segments, "
     "records).",
     R_DELETED},
    {"walship_replica_deleted_generations_total", "counter",
     "Whole generations retention deleted.", R_DELGENS},
};

static double rep_value(const struct ws_metrics_rep *r, enum repval v)
{
    switch (v) {
    case R_LAG:
        return r->lag_s;
    case R_SPOOL:
        return (double)r->spool_bytes;
    case R_UP:
        return (double)r->m->up_bytes;
    case R_DOWN:
        return (double)r->m->down_bytes;
    case R_RETRIES:
        return (double)r->m->retries;
    case R_FAILS:
        return (double)r->m->failures;
    case R_RUNS:
        return (double)r->m->retention_runs;
    case R_DELETED:
        return (double)r->m->deleted;
    case R_DELGENS:
        return (double)r->m->deleted_gens;
    }
    return 0;
}

static void render_db(const struct ws_metrics_db *dbs, size_t n,
                      struct ws_httpd_body *b)
{
    for (size_t f = 0; f < sizeof(db_fams) / sizeof(db_fams[0]); f++) {
        family(b, db_fams[f].name, db_fams[f].type, db_fams[f].help);
        for (size_t i = 0; i < n; i++) {
            double v = db_value(&dbs[i], db_fams[f].v);
            if (v < 0)
                continue; /* a size not known (no file): no sample */
            ws_httpd_printf(b, "%s{", db_fams[f].name);
            db_labels(b, &dbs[i]);
            ws_httpd_printf(b, "} %.15g\n", v);
        }
    }
    family(b, "walship_generation_info", "gauge",
           "The current generation, as a label (value 1).");
    for (size_t i = 0; i < n; i++) {
        if (dbs[i].gen[0] == '\0')
            continue;
        ws_httpd_printf(b, "walship_generation_info{");
        db_labels(b, &dbs[i]);
        ws_httpd_printf(b, ",");
        label(b, "generation", dbs[i].gen);
        ws_httpd_printf(b, "} 1\n");
    }
    family(b, "walship_checkpoints_total", "counter",
           "Checkpoints walship ran, by mode.");
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < WS_CKPT_MODES; k++) {
            ws_httpd_printf(b, "walship_checkpoints_total{");
            db_labels(b, &dbs[i]);
            ws_httpd_printf(b, ",mode=\"%s\"} %llu\n", ckpt_names[k],
                            (unsigned long long)dbs[i].m->ckpts[k]);
        }
    family(b, "walship_checkpoint_duration_seconds", "summary",
           "Time walship's checkpoints took, by mode.");
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < WS_CKPT_MODES; k++) {
            ws_httpd_printf(b, "walship_checkpoint_duration_seconds_sum{");
            db_labels(b, &dbs[i]);
            ws_httpd_printf(b, ",mode=\"%s\"} %.6f\n", ckpt_names[k],
                            (double)dbs[i].m->ckpt_us[k] / 1e6);
            ws_httpd_printf(b, "walship_checkpoint_duration_seconds_count{");
            db_labels(b, &dbs[i]);
            ws_httpd_printf(b, ",mode=\"%s\"} %llu\n", ckpt_names[k],
                            (unsigned long long)dbs[i].m->ckpts[k]);
        }
}

static void render_reps(const struct ws_metrics_db *dbs, size_t n,
                        struct ws_httpd_body *b)
{
    for (size_t f = 0; f < sizeof(rep_fams) / sizeof(rep_fams[0]); f++) {
        family(b, rep_fams[f].name, rep_fams[f].type, rep_fams[f].help);
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < dbs[i].nreps; k++) {
                ws_httpd_printf(b, "%s{", rep_fams[f].name);
                rep_labels(b, &dbs[i], &dbs[i].reps[k]);
                ws_httpd_printf(b, "} %.15g\n",
                                rep_value(&dbs[i].reps[k], rep_fams[f].v));
            }
    }
    family(b, "walship_replica_requests_total", "counter",
           "Replica requests, by operation and outcome (ok, not_found, "
           "error).");
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < dbs[i].nreps; k++)
            for (int op = 0; op <= WS_REQ_DEL; op++)
                for (int res = 0; res < WS_MRES_N; res++) {
                    ws_httpd_printf(b, "walship_replica_requests_total{");
                    rep_labels(b, &dbs[i], &dbs[i].reps[k]);
                    ws_httpd_printf(
                        b, ",op=\"%s\",result=\"%s\"} %llu\n", op_names[op],
                        res_names[res],
                        (unsigned long long)dbs[i].reps[k].m->reqs[op][res]);
                }
}

/* Restore drills (validate.h). */
static void render_validation(const struct ws_metrics_db *dbs, size_t n,
                              struct ws_httpd_body *b)
{
    family(b, "walship_validations_total", "counter",
           "Restore drills (validation-interval) completed, by result: ok, "
           "failed (a replica differs from the database or is corrupt), "
           "incomplete (a replica could not be compared).");
    for (size_t i = 0; i < n; i++) {
        const struct ws_validation_stats *s = &dbs[i].val;
        const char *res[] = {"ok", "failed", "incomplete"};
        uint64_t v[] = {s->runs - s->failed - s->incomplete, s->failed,
                        s->incomplete};
        for (int k = 0; k < 3; k++) {
            ws_httpd_printf(b, "walship_validations_total{");
            db_labels(b, &dbs[i]);
            ws_httpd_printf(b, ",result=\"%s\"} %llu\n", res[k],
                            (unsigned long long)v[k]);
        }
    }
    family(b, "walship_validation_failing", "gauge",
           "1 when the last restore drill found a replica different from "
           "the database or corrupt.");
    for (size_t i = 0; i < n; i++) {
        ws_httpd_printf(b, "walship_validation_failing{");
        db_labels(b, &dbs[i]);
        ws_httpd_printf(b, "} %d\n", dbs[i].val.last == WS_VALID_FAILED);
    }
    family(b, "walship_validation_last_timestamp_seconds", "gauge",
           "When the last restore drill completed (0: none yet).");
    for (size_t i = 0; i < n; i++) {
        ws_httpd_printf(b, "walship_validation_last_timestamp_seconds{");
        db_labels(b, &dbs[i]);
        ws_httpd_printf(b, "} %.3f\n", (double)dbs[i].val.last_ms / 1e3);
    }
}

/* The whole process at a glance, however many databases: how many
 * replicate, how many lag past the bound /healthz uses, and the oldest
 * commit some replica lacks. */
static void render_summary(const struct ws_metrics_db *dbs, size_t n,
                           double lag_limit_s, struct ws_httpd_body *b)
{
    size_t ready = 0, lagging = 0;
    double worst = 0;

    for (size_t i = 0; i < n; i++) {
        double lag = 0;
        ready += dbs[i].ready != 0;
        for (size_t k = 0; k < dbs[i].nreps; k++)
            if (dbs[i].reps[k].lag_s > lag)
                lag = dbs[i].reps[k].lag_s;
        lagging += lag > lag_limit_s;
        if (lag > worst)
            worst = lag;
    }
    family(b, "walship_databases", "gauge",
           "Databases, by state: replicating, or not (awaited, failing).");
    ws_httpd_printf(b, "walship_databases{state=\"replicating\"} %zu\n", ready);
    ws_httpd_printf(b, "walship_databases{state=\"not_replicating\"} %zu\n",
                    n - ready);
    family(b, "walship_databases_lagging", "gauge",
           "Databases with a replica that lacks a commit older than "
           "health-sync-timeout (the bound /healthz uses).");
    ws_httpd_printf(b, "walship_databases_lagging %zu\n", lagging);
    family(b, "walship_oldest_unreplicated_commit_seconds", "gauge",
           "Age of the oldest commit that some replica of some database "
           "lacks; 0 when every replica holds everything.");
    ws_httpd_printf(b, "walship_oldest_unreplicated_commit_seconds %.6f\n",
                    worst);
}

void ws_metrics_render(const struct ws_metrics_db *dbs, size_t n,
                       double lag_limit_s, struct ws_httpd_body *out)
{
    render_summary(dbs, n, lag_limit_s, out);
    render_db(dbs, n, out);
    render_reps(dbs, n, out);
    render_validation(dbs, n, out);
}
