/*
 * restore_plan.c: which generation a restore uses, and to which point.
 *
 * It lists every replica's generations and reads their catalogs
 * (ws_rplan_list_all: a replica that has none is passed over, and said,
 * unless none has; entries a listing passed over are said), reads the
 * commit-time records a -timestamp needs, and ws_rplan_choose() tries
 * the generations newest first (on a tie, the replica listed first):
 * the first one for which plan.h gives a plan that reaches the target
 * (-index, -timestamp, or the newest data) is the choice (struct
 * choice: the plan and its commit records); one that cannot be restored
 * (no snapshot, a broken catalog) is passed over, naming why.  A
 * -timestamp before the oldest restorable moment is an error that names
 * that moment; no generation at all, one that names every
 * replica.  ws_rplan_log() says the choice in one line.
 *
 * The rule for -timestamp T: the latest moment M <= T that any
 * generation can restore to, and only if the database was still in
 * that generation at T.  A generation's objects and commit records show
 * when it began (a new generation starts a new lineage of the database,
 * from the state the shadow WAL held then); when another one began in
 * (M, T] but cannot restore to a moment <= T (its first snapshot was
 * written late, after its replica came back; retention deleted its early
 * history), the state at T cannot be built and the restore fails,
 * naming that generation (gone_at), instead of handing back M's state
 * as T's.  -generation pins the lineage and leaves the others out of
 * this.  (Litestream v0.3 takes, among the generations whose object
 * times span T, the newest, and fails when none spans it.)
 *
 * `walship restore -list` (ws_rplan_list_windows) prints each
 * generation's restorable window by the same rules, through the
 * inspection commands' table (inspect.h).
 *
 * Called by restore.c only; it writes nothing locally.
 */
#include "ws/restore_int.h"
#include "ws/inspect.h"
#include "ws/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TIMES (256ULL << 20)   /* ... per commit-time object */
#define BARE "it has WAL segments but no snapshot" /* a generation so */

/* ---- planning ----------------------------------------------------------- */

struct membuf {
    uint8_t *p;
    size_t n;
};

static int mem_sink(void *ctx, const void *buf, size_t len,
                    struct ws_err *err)
{
    struct membuf *m = ctx;
    uint8_t *p;

    if (m->n + len > MAX_TIMES)
        return ws_err_set(err, WS_ECORRUPT, "too large");
    p = realloc(m->p, m->n + len);
    if (p == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    memcpy(p + m->n, buf, len);
    m->p = p;
    m->n += len;
    return WS_OK;
}

/* Download and decode one commit-time object into out. */
static int get_times(const char *db, struct ws_replica *r,
                     const struct ws_geninfo *g, const struct ws_timesinfo *t,
                     struct ws_tlist *out, struct ws_err *err)
{
    struct membuf m = {0};
    struct ws_req req;
    uint8_t *raw = NULL;
    size_t rawn;
    int rc;

    memset(&req, 0, sizeof(req));
    req.type = WS_REQ_GET;
    ws_key_times_of(req.key, sizeof(req.key), g->name, t);
    req.sink = mem_sink;
    req.sink_ctx = &m;
    req.sized = 1;
    req.size = t->size;
    rc = ws_rfetch_run_watched(db, r, &req);
    if (rc != WS_OK)
        *err = req.err, err->code = rc;
    if (rc == WS_OK)
        rc = ws_lz4_decompress_mem(m.p, m.n, MAX_TIMES, &raw, &rawn, err);
    if (rc == WS_OK)
        rc = ws_times_decode(raw, rawn, out, err);
    free(m.p);
    free(raw);
    if (rc != WS_OK)
        return ws_err_wrap(err, "%s", req.key);
    ws_tlist_sort(out);
    return WS_OK;
}

/*
 * The records of g that a plan for q needs: those of the commit-time
 * object for its time, or the newest one without a time (whose last
 * commit the newest state must reach, plan.h); none for -index.  A
 * commit-time object that cannot be read (corrupt, gone since the
 * listing) costs only precision: that generation falls back to object
 * times, and says so.
 */
static int recs_for(const char *db, struct ws_replica *r,
                    const struct ws_geninfo *g, const struct ws_plan_req *q,
                    struct ws_tlist *recs, struct ws_err *err)
{
    const struct ws_timesinfo *t = q->has_index ? NULL
                                                : ws_plan_times_obj(g, q);
    struct ws_err e = {0};
    int rc;

    recs->n = 0;
    if (t == NULL)
        return WS_OK;
    rc = get_times(db, r, g, t, recs, &e);
    if (rc == WS_ENOMEM) {
        *err = e;
        return rc;
    }
    if (rc != WS_OK) {
        recs->n = 0;
        ws_warn("restore: commit times of generation %s cannot be read, "
                "using object times for it db=%s replica=%s: %s", g->name,
                db, r->cfg->name, e.msg);
    }
    return WS_OK;
}

/*
 * The oldest moment g restores to (plan.h): dated by the commit record
 * at its oldest snapshot's position, from the commit-time object that
 * holds it.  recs are g's records read already, from object `have`
 * (NULL: none); another object is read when that is the one.  Without
 * it, the snapshot record's time (a few ms late, but restorable).
 */
static int oldest_of(const char *db, struct ws_replica *r,
                     const struct ws_geninfo *g,
                     const struct ws_timesinfo *have,
                     const struct ws_tlist *recs, int64_t *out,
                     struct ws_err *err)
{
    const struct ws_timesinfo *t = ws_plan_oldest_obj(g);
    struct ws_tlist own = {0};
    struct ws_err e = {0};
    int rc;

    if (t == NULL || t == have) {
        *out = ws_plan_oldest(g, recs);
        return WS_OK;
    }
    rc = get_times(db, r, g, t, &own, &e);
    if (rc == WS_ENOMEM) {
        *err = e;
        return rc;
    }
    if (rc != WS_OK)
        ws_warn("restore: commit times of generation %s cannot be read, "
                "its oldest moment is dated by its snapshot's record db=%s "
                "replica=%s: %s", g->name, db, r->cfg->name, e.msg);
    *out = ws_plan_oldest(g, rc == WS_OK ? &own : NULL);
    ws_tlist_free(&own);
    return WS_OK;
}

/* One generation of one replica, as ws_rplan_choose() tries them. */
struct gref {
    size_t ri;
    const struct ws_geninfo *g;
    int broken;               /* passed over: no state it can prove */
    char why[WS_ERR_MSG];
};

/* Newest generation first (ws_gen_cmp); on a tie, the replica listed
 * first. */
static int cmp_gref(const void *a, const void *b)
{
    const struct gref *x = a, *y = b;
    int k = ws_gen_cmp(y->g, x->g);

    if (k != 0)
        return k;
    return (x->ri > y->ri) - (x->ri < y->ri);
}

/* List every replica (cats[i]: an empty catalog for one whose directory
 * does not exist, replica.h).  When every replica is missing, that is
 * the error (WS_ENOTFOUND: nothing to restore); when some are, each is
 * said in a WARN line and the others are used. */
static int catalogs(const char *db, struct ws_replica *const *reps,
                    size_t n, struct ws_catalog *cats, struct ws_err *err)
{
    struct ws_err *miss = calloc(n, sizeof(*miss));
    size_t nmiss = 0;
    int rc = miss ? WS_OK : ws_err_set(err, WS_ENOMEM, "out of memory");

    for (size_t i = 0; rc == WS_OK && i < n; i++) {
        struct watch w;
        ws_rfetch_watch_begin(&w, db, reps[i], WS_REQ_LIST, "generations/");
        rc = ws_replica_catalog(reps[i], &cats[i], &miss[i]);
        ws_rfetch_watch_end(&w);
        if (rc == WS_ENOTFOUND) {
            memset(&cats[i], 0, sizeof(cats[i]));
            nmiss++;
            rc = WS_OK;
        } else if (rc != WS_OK) {
            *err = miss[i];
        } else {
            miss[i].code = WS_OK;
        }
    }
    for (size_t i = 0; rc == WS_OK && nmiss > 0 && i < n; i++) {
        if (miss[i].code == WS_OK)
            continue;
        if (nmiss == n) {
            *err = miss[i];
            rc = WS_ENOTFOUND;
        } else {
            ws_warn("restore: passing over a replica db=%s replica=%s: %s",
                    db, reps[i]->cfg->name, miss[i].msg);
        }
    }
    free(miss);
    return rc;
}

/* List every replica (catalogs), and say what each listing passed
 * over. */
int ws_rplan_list_all(struct ws_replica *const *reps, size_t n,
                      const char *db, struct ws_catalog *cats,
                      struct ws_err *err)
{
    int rc = catalogs(db, reps, n, cats, err);

    for (size_t i = 0; rc == WS_OK && i < n; i++)
        if (cats[i].nskipped > 0)
            ws_warn("restore: the listing of replica %s passed over %zu "
                    "entr%s that %s not a regular file or a directory db=%s: "
                    "%s%s", reps[i]->cfg->name, cats[i].nskipped,
                    cats[i].nskipped == 1 ? "y" : "ies",
                    cats[i].nskipped == 1 ? "is" : "are", db,
                    cats[i].skipped,
                    cats[i].nskipped == 1 ? "" : ", ...");
    return rc;
}

/* Gather the generations of the listed replicas, newest first; those of
 * a replica whose out_of[i] is set are left out (NULL: none is). */
static int gather(size_t n, const struct ws_restore_opts *o,
                  const struct ws_catalog *cats, const char *out_of,
                  struct gref **out, size_t *nout, struct ws_err *err)
{
    size_t total = 0, k = 0;
    struct gref *v;

    for (size_t i = 0; i < n; i++)
        total += cats[i].ngens;
    v = calloc(total ? total : 1, sizeof(*v));
    if (v == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (out_of != NULL && out_of[i])
            continue;
        for (size_t j = 0; j < cats[i].ngens; j++)
            if (o->generation == NULL ||
                strcmp(cats[i].gens[j].name, o->generation) == 0)
                v[k++] = (struct gref){i, &cats[i].gens[j], 0, ""};
    }
    qsort(v, k, sizeof(*v), cmp_gref);
    *out = v;
    *nout = k;
    return WS_OK;
}

/* Say what was passed over for the plan chosen (c NULL: none was): each
 * generation newer than it that could not be restored, and a target
 * older than what was asked for.  Generations newer than `said` were
 * named already, for an earlier choice (NULL: none was made). */
static void log_skips(struct ws_replica *const *reps, const char *db,
                      const struct gref *v, size_t n, const struct choice *c,
                      const struct ws_geninfo *said)
{
    for (size_t i = 0; i < n; i++) {
        if (c != NULL && ws_gen_cmp(v[i].g, c->plan.g) <= 0)
            continue;
        if (said != NULL && ws_gen_cmp(v[i].g, said) > 0)
            continue;
        if (v[i].broken)
            ws_warn("restore: skipping generation %s db=%s replica=%s: %s",
                    v[i].g->name, db, reps[v[i].ri]->cfg->name, v[i].why);
        else if (v[i].g->nsnaps == 0 && v[i].g->nsegs > 0)
            ws_warn("restore: skipping generation %s db=%s replica=%s: %s",
                    v[i].g->name, db, reps[v[i].ri]->cfg->name, BARE);
    }
    if (c != NULL && c->plan.skipped[0])
        ws_warn("restore: generation %s db=%s replica=%s: %s",
                c->plan.g->name, db, reps[c->ri]->cfg->name,
                c->plan.skipped);
}

/* "no matching backups found", naming each replica looked in and what
 * its listing passed over, if anything (a generation replaced by a
 * symbolic link, say). */
static int not_found(struct ws_replica *const *reps, size_t n,
                     const struct ws_catalog *cats, struct ws_err *err)
{
    char msg[WS_ERR_MSG], where[256];
    size_t k = 0;

    for (size_t i = 0; i < n && k < sizeof(msg); i++) {
        reps[i]->ops->describe(reps[i], where, sizeof(where));
        k += (size_t)snprintf(msg + k, sizeof(msg) - k, "%s%s (%s)",
                              i ? ", " : "", reps[i]->cfg->name, where);
        if (k < sizeof(msg) && cats[i].nskipped > 0)
            k += (size_t)snprintf(msg + k, sizeof(msg) - k,
                                  ", whose listing passed over %zu "
                                  "entr%s: %s%s", cats[i].nskipped,
                                  cats[i].nskipped == 1 ? "y" : "ies",
                                  cats[i].skipped,
                                  cats[i].nskipped == 1 ? "" : ", ...");
    }
    return ws_err_set(err, WS_ENOTFOUND, "no matching backups found in "
                      "replica %s", msg);
}

/* A time before the oldest moment of every generation: name that moment
 * (of generation x, NULL when none has one). */
static int too_early(const char *db, struct ws_replica *const *reps,
                     const struct gref *x, int64_t time_us,
                     struct ws_err *err)
{
    char a[40], b[40];
    int64_t oldest = 0;
    int rc = WS_OK;

    if (x != NULL)
        rc = oldest_of(db, reps[x->ri], x->g, NULL, NULL, &oldest, err);
    if (rc != WS_OK)
        return rc;
    ws_time_fmt(time_us, a, sizeof(a));
    ws_time_fmt(oldest, b, sizeof(b));
    return ws_err_set(err, WS_ERANGE, "no backup at or before %s: the "
                      "oldest restorable time is %s", a, b);
}

/* When g began, as far as its replica shows (us; 0: nothing shows it):
 * its earliest commit-time record or object (as the latest moment that
 * object time may stand for: ws_plan_obj_us), whichever is older.  A
 * generation whose first snapshot was written late (its replica was
 * unreachable when it began) or whose early history retention deleted
 * still has its commit records from the start, while they last. */
static int64_t began_us(const struct ws_geninfo *g)
{
    int64_t t = 0;

    if (g->nsnaps + g->nsegs > 0 && g->created_ms > 0)
        t = ws_plan_obj_us(g->created_ms);
    if (g->ntimes > 0 && g->times[0].time_us > 0 &&
        (t == 0 || g->times[0].time_us < t))
        t = g->times[0].time_us;
    return t;
}

/*
 * A -timestamp restore returns the state at T or fails: the state c
 * chose (at time M <= T) is T's only if the database did not move on
 * to another generation by T.  Another generation that began in (M, T]
 * (began_us) proves it did, and as it was not chosen its history at T
 * is gone or was never shipped: the restore is refused, naming that
 * generation, when it began and its oldest restorable moment, rather
 * than handing back an older state as T's.  A generation that began
 * after T, or before M, says nothing about T.
 */
static int gone_at(const char *db, struct ws_replica *const *reps,
                   const struct gref *v, size_t n, const struct choice *c,
                   int64_t time_us, struct ws_err *err)
{
    for (size_t i = 0; i < n; i++) {
        const struct ws_geninfo *g = v[i].g;
        int64_t b = began_us(g), oldest = 0;
        char t[40], bt[40], m[40], o[48];
        int rc;
        if (strcmp(g->name, c->plan.g->name) == 0 || b == 0 ||
            b <= c->plan.time_us || b > time_us)
            continue;
        rc = oldest_of(db, reps[v[i].ri], g, NULL, NULL, &oldest, err);
        if (rc != WS_OK)
            return rc;
        ws_time_fmt(time_us, t, sizeof(t));
        ws_time_fmt(b, bt, sizeof(bt));
        ws_time_fmt(c->plan.time_us, m, sizeof(m));
        if (oldest != 0)
            ws_time_fmt(oldest, o, sizeof(o));
        else
            snprintf(o, sizeof(o), "none (it cannot be restored)");
        return ws_err_set(err, WS_ERANGE, "no backup of the state at %s: "
                          "generation %s of replica %s had begun by then "
                          "(at %s), but its oldest restorable moment is %s; "
                          "the newest state before %s is generation %s's at "
                          "%s (-generation pins one)",
                          t, g->name, reps[v[i].ri]->cfg->name, bt, o, bt,
                          c->plan.g->name, m);
    }
    return WS_OK;
}

/*
 * Pick the replica, generation and plan: the newest state the objects
 * prove.  Without a time, the newest generation that can be restored;
 * with one, the latest moment at or before it in any generation (a tie:
 * the newer generation).  Generations that cannot be restored are
 * passed over and named in the log (those newer than `said` were
 * already).  The replicas whose out_of[i] is set are left out (NULL:
 * none is): they failed their restore (restore_any).  A generation that
 * is damaged (its plan fails with WS_ECORRUPT: a hole in its WAL, a
 * record past its segments) fails the choice, and *bad names its
 * replica (else it is n).
 */
int ws_rplan_choose(struct ws_replica *const *reps, size_t n,
                    const struct ws_restore_opts *o,
                    const struct ws_catalog *cats, const char *out_of,
                    const struct ws_geninfo *said, struct choice *best,
                    size_t *bad, struct ws_err *err)
{
    struct ws_plan_req q = {o->has_time, o->time_us, o->has_index, o->index,
                            o->has_offset, o->offset};
    struct ws_tlist recs = {0};
    const struct gref *bare = NULL, *broken = NULL, *oldest_g = NULL;
    struct gref *v = NULL;
    size_t nv = 0;
    int64_t oldest = 0;
    int rc, prc, any = 0;

    *bad = n;
    rc = gather(n, o, cats, out_of, &v, &nv, err);
    for (size_t i = 0; rc == WS_OK && i < nv; i++) {
        const struct ws_geninfo *g = v[i].g;
        struct ws_plan p;
        struct ws_err e = {0};
        if (g->nsnaps == 0) {
            if (g->nsegs > 0 && bare == NULL)
                bare = &v[i];
            continue;
        }
        any = 1;
        /* Without a time, the first that can be restored wins. */
        if (!o->has_time && best->ok)
            continue;
        rc = recs_for(o->db, reps[v[i].ri], g, &q, &recs, err);
        if (rc != WS_OK)
            break;
        if (o->has_time && ws_plan_oldest(g, &recs) != 0 &&
            (oldest == 0 || ws_plan_oldest(g, &recs) < oldest)) {
            oldest = ws_plan_oldest(g, &recs);
            oldest_g = &v[i];
        }
        prc = ws_plan_make(g, &recs, &q, &p, &e);
        if (prc == WS_ENOTFOUND) {
            /* Nothing there, or a crash's leftovers: pass over it. */
            v[i].broken = p.skipped[0] != '\0';
            snprintf(v[i].why, sizeof(v[i].why), "%s", e.msg);
            if (v[i].broken && broken == NULL)
                broken = &v[i];
            continue;
        }
        if (prc != WS_OK) {
            *err = e;
            rc = prc;
            if (rc == WS_ECORRUPT)
                *bad = v[i].ri;
            break;
        }
        if (best->ok && p.time_us <= best->plan.time_us)
            continue; /* newest first: on a tie the newer one stays */
        best->plan = p;
        best->ri = v[i].ri;
        best->ok = 1;
        ws_tlist_free(&best->recs);
        best->recs = recs;
        memset(&recs, 0, sizeof(recs));
    }
    ws_tlist_free(&recs);
    if (rc == WS_OK && best->ok && o->has_time)
        rc = gone_at(o->db, reps, v, nv, best, o->time_us, err);
    if (rc == WS_OK)
        log_skips(reps, o->db, v, nv, best->ok ? best : NULL, said);
    if (rc == WS_OK && !best->ok) {
        if (broken != NULL && !(o->has_time && o->time_us < oldest))
            rc = ws_err_set(err, WS_ECORRUPT, "%s", broken->why);
        else if (bare != NULL && !(o->has_time && o->time_us < oldest))
            rc = ws_err_set(err, WS_ECORRUPT,
                            "generation %s has WAL segments but no snapshot "
                            "(generations/%s/snapshots/ is empty or "
                            "missing)",
                            bare->g->name, bare->g->name);
        else if (any && o->has_time)
            rc = too_early(o->db, reps, oldest_g, o->time_us, err);
        else
            rc = not_found(reps, n, cats, err);
    }
    free(v);
    return rc;
}

/* ---- restore -list ------------------------------------------------------ */

static const struct ws_col window_cols[] = {
    {"replica", "replica", WS_COL_STR},
    {"generation", "generation", WS_COL_STR},
    {"oldest", "oldest", WS_COL_STR},
    {"newest", "newest", WS_COL_STR},
    {NULL, "oldest_us", WS_COL_NUM},
    {NULL, "newest_us", WS_COL_NUM},
    {NULL, "newest_precise", WS_COL_NUM},
    {"transactions", "transactions", WS_COL_NUM},
    {"snapshots", "snapshots", WS_COL_NUM},
    {"segments", "segments", WS_COL_NUM},
};
#define NWINDOW (sizeof(window_cols) / sizeof(window_cols[0]))

/* restore -list: each generation's restorable window, through the
 * inspection commands' table (inspect.h): the oldest and the newest
 * moment a -timestamp restore of it gives (the same rules), and a
 * warning instead of a row for a generation that cannot be restored. */
int ws_rplan_list_windows(struct ws_replica *const *reps, size_t n,
                          const struct ws_restore_opts *o,
                          struct ws_catalog *cats, struct ws_err *err)
{
    struct ws_plan_req q = {1, INT64_MAX, 0, 0, 0, 0};
    struct ws_tlist recs = {0};
    struct ws_table tab;
    struct gref *v = NULL;
    size_t nv = 0;
    int rc;

    ws_table_init(&tab, window_cols, NWINDOW);
    rc = ws_rplan_list_all(reps, n, o->db, cats, err);
    if (rc == WS_OK)
        rc = gather(n, o, cats, NULL, &v, &nv, err);
    /* Oldest generation first, as a timeline. */
    for (size_t k = nv; rc == WS_OK && k-- > 0;) {
        const struct ws_geninfo *g = v[k].g;
        struct ws_plan p;
        struct ws_err e = {0};
        char c[NWINDOW][40];
        const char *row[NWINDOW];
        int64_t oldest;
        int prc;
        if (g->nsnaps == 0) {
            if (g->nsegs > 0)
                ws_warn("restore -list: generation %s of replica %s cannot "
                        "be restored db=%s: %s", g->name,
                        reps[v[k].ri]->cfg->name, o->db, BARE);
            continue;
        }
        rc = recs_for(o->db, reps[v[k].ri], g, &q, &recs, err);
        if (rc != WS_OK)
            break;
        prc = ws_plan_make(g, &recs, &q, &p, &e);
        if (prc == WS_ENOMEM) {
            *err = e;
            rc = prc;
            break;
        }
        if (prc != WS_OK) {
            ws_warn("restore -list: generation %s of replica %s cannot be "
                    "restored db=%s: %s", g->name, reps[v[k].ri]->cfg->name,
                    o->db, e.msg);
            continue;
        }
        if (p.skipped[0])
            ws_warn("restore -list: generation %s of replica %s db=%s: %s",
                    g->name, reps[v[k].ri]->cfg->name, o->db, p.skipped);
        rc = oldest_of(o->db, reps[v[k].ri], g, ws_plan_times_obj(g, &q),
                       &recs, &oldest, err);
        if (rc != WS_OK)
            break;
        ws_time_fmt(oldest, c[2], sizeof(c[2]));
        ws_time_fmt(p.time_us, c[3], sizeof(c[3]));
        snprintf(c[4], sizeof(c[4]), "%lld", (long long)oldest);
        snprintf(c[5], sizeof(c[5]), "%lld", (long long)p.time_us);
        snprintf(c[6], sizeof(c[6]), "%s", p.precise ? "true" : "false");
        snprintf(c[7], sizeof(c[7]), "%llu",
                 (unsigned long long)ws_plan_ntx(g));
        snprintf(c[8], sizeof(c[8]), "%zu", g->nsnaps);
        snprintf(c[9], sizeof(c[9]), "%zu", g->nsegs);
        row[0] = reps[v[k].ri]->cfg->name;
        row[1] = g->name;
        for (size_t j = 2; j < NWINDOW; j++)
            row[j] = c[j];
        if (ws_table_add(&tab, row) != WS_OK)
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    if (rc == WS_OK)
        rc = ws_table_write(&tab, o->json, stdout, err);
    ws_table_free(&tab);
    ws_tlist_free(&recs);
    free(v);
    return rc;
}


void ws_rplan_log(const struct choice *c, struct ws_replica *r,
                  const struct ws_restore_opts *o)
{
    const struct ws_plan *p = &c->plan;
    char t[40], at[64];

    ws_time_fmt(p->time_us, t, sizeof(t));
    if (p->offset == WS_POS_END)
        snprintf(at, sizeof(at), "%08x:end", p->index);
    else
        snprintf(at, sizeof(at), "%08x:%llu", p->index,
                 (unsigned long long)p->offset);
    ws_info("restoring from replica=%s generation=%s db=%s snapshot=%08x "
            "snapshot_size=%llu segments=%zu fetch_bytes=%llu target=%s "
            "time=%s (%s)%s",
            r->cfg->name, p->g->name, o->db, p->snap->index,
            (unsigned long long)p->snap->size, p->nsegs,
            (unsigned long long)p->bytes, at, t,
            p->precise ? "commit time" : "object time",
            p->newest ? " newest" : "");
    if (o->has_time && p->newest) {
        char want[40];
        ws_time_fmt(o->time_us, want, sizeof(want));
        ws_info("the -timestamp %s is after the newest data (%s): restoring "
                "the newest data db=%s", want, t, o->db);
    }
    if (o->has_index && p->newest && o->index > p->index)
        ws_info("the -index %08x is after the newest index of generation %s "
                "(%08x): restoring the newest data db=%s", o->index,
                p->g->name, p->index, o->db);
}
