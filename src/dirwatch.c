/*
 * dirwatch.c: databases that appear while walship runs, under a
 * directory entry with `watch: true` (config_dir.c has the entry's
 * rules: the pattern, the SQLite header, no links followed).
 *
 * Each directory of the entry (its dir, and with recursive every
 * directory below it, as the walk finds them) has a file event handle
 * (inotify).  An event that may bring a database, a name created, moved
 * in or removed that the pattern matches or, with recursive, a new
 * directory, starts the rescan timer (RESCAN_SOON_MS: a burst of
 * creations is one rescan).  Writes to the databases (UV_CHANGE) and
 * names the pattern does not match (-wal, -shm, journals) start
 * nothing, so the busy databases of a directory do not make it rescan.
 *
 * The rescan walks the entry again (ws_config_dir_scan), watches the
 * directories it had not, and adds each database it had not
 * (ws_daemon_add_db): its entry is made as if it had been there at
 * start-up, and it starts as they did, with a new generation unless
 * its replica already has one it continues.  A database removed stays:
 * its sync reports it missing, when that begins, while it lasts and
 * when it ends, like any database that disappears (db.h).
 *
 * When a directory cannot be watched (the inotify limit,
 * fs.inotify.max_user_watches, reached; or an error), walship says so
 * once, naming it, and rescans the entry every RESCAN_POLL_MS instead,
 * for as long as the run lasts.  A walk that fails part-way (a
 * directory made unreadable) is said when it begins and when it ends.
 * Nothing is rescanned while walship stops.
 */
#include "ws/daemon_int.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RESCAN_SOON_MS 200    /* after an event, for a burst to settle */
#define RESCAN_POLL_MS 30000  /* when a directory could not be watched */

struct dwdir {
    uv_fs_event_t ev;
    struct dirwatch *w;
    char *path;
};

struct dirwatch {
    struct daemon *dm;
    const struct ws_db_config *t; /* the entry */
    uv_timer_t timer;             /* the next rescan */
    struct dwdir **dirs;          /* the directories watched */
    size_t ndirs;
    int polling;                  /* a directory could not be watched */
    int walk_err;                 /* the last walk failed part-way */
};

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void rescan(uv_timer_t *t);

static void rescan_soon(struct dirwatch *w, uint64_t ms)
{
    if (w->dm->phase == DM_RUNNING)
        uv_timer_start(&w->timer, rescan, ms, 0);
}

static void on_event(uv_fs_event_t *h, const char *name, int events,
                     int status)
{
    struct dwdir *dd = h->data;
    struct dirwatch *w = dd->w;
    struct stat sb;
    char *p;

    if (status < 0) {
        ws_warn("directory watch error dir=%s error=\"%s\": rescanning it",
                dd->path, uv_strerror(status));
        rescan_soon(w, RESCAN_SOON_MS);
        return;
    }
    if (!(events & UV_RENAME) || name == NULL)
        return;
    if (fnmatch(w->t->pattern, name, FNM_PERIOD) == 0) {
        rescan_soon(w, RESCAN_SOON_MS);
        return;
    }
    if (w->t->recursive <= 0 || name[0] == '.')
        return;
    p = ws_path_join(dd->path, name);
    if (p != NULL && lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
        rescan_soon(w, RESCAN_SOON_MS);
    free(p);
}

/* Watch directory path, unless it is already: 1 when it was not. */
static int watch_dir(struct dirwatch *w, const char *path)
{
    struct dwdir **v, *dd;
    int e;

    for (size_t i = 0; i < w->ndirs; i++)
        if (strcmp(w->dirs[i]->path, path) == 0)
            return 0;
    v = realloc(w->dirs, (w->ndirs + 1) * sizeof(*v));
    if (v == NULL)
        return 0;
    w->dirs = v;
    dd = calloc(1, sizeof(*dd));
    if (dd == NULL || (dd->path = strdup(path)) == NULL) {
        free(dd);
        return 0;
    }
    dd->w = w;
    uv_fs_event_init(&w->dm->loop, &dd->ev);
    dd->ev.data = dd;
    w->dirs[w->ndirs++] = dd;
    e = uv_fs_event_start(&dd->ev, on_event, path, 0);
    if (e != 0 && !w->polling) {
        w->polling = 1;
        ws_warn("cannot watch directory dir=%s error=\"%s\"%s: databases "
                "created under %s are found by a rescan every %ds instead",
                path, uv_strerror(e),
                e == UV_ENOSPC ? " (the inotify watch limit, "
                                 "fs.inotify.max_user_watches, is reached)"
                               : "",
                w->t->dir, RESCAN_POLL_MS / 1000);
    }
    return 1;
}

/* Whether path is a database the daemon has (found at start-up, or since;
 * or one whose set-up failed).  have: their paths, sorted. */
static int known(char *const *have, size_t n, const char *path)
{
    return bsearch(&path, have, n, sizeof(*have), ws_str_cmp_p) != NULL;
}

static void rescan(uv_timer_t *t)
{
    struct dirwatch *w = t->data;
    struct daemon *dm = w->dm;
    struct ws_dir_scan s;
    const char **have;
    size_t n = 0;
    int added = 0;

    if (dm->phase != DM_RUNNING)
        return;
    if (ws_config_dir_scan(w->t, &s) != WS_OK) {
        ws_config_dir_scan_free(&s);
        ws_error("cannot look for databases dir=%s error=\"out of memory\"",
                 w->t->dir);
        rescan_soon(w, RESCAN_POLL_MS);
        return;
    }
    if (s.err_no != 0 && !w->walk_err)
        ws_error("cannot look for databases dir=%s error=\"%s: %s\": "
                 "databases there are not found while this lasts",
                 w->t->dir, s.err_path, ws_config_dir_why(s.err_no));
    else if (s.err_no == 0 && w->walk_err)
        ws_info("looking for databases works again dir=%s", w->t->dir);
    w->walk_err = s.err_no != 0;
    /* A database made in a new directory after the walk passed it and
     * before its watch began has no event: the walk is done once more
     * after a directory is first watched. */
    for (size_t i = 0; i < s.dirs.n; i++)
        added |= watch_dir(w, s.dirs.v[i]);
    have = malloc((dm->ndbs + dm->ndead + 1) * sizeof(*have));
    if (have != NULL) {
        for (size_t i = 0; i < dm->ndbs; i++)
            have[n++] = dm->dbs[i]->cfg->path;
        for (size_t i = 0; i < dm->ndead; i++)
            have[n++] = dm->dead[i]->cfg->path;
        qsort(have, n, sizeof(*have), ws_str_cmp_p);
    }
    for (size_t i = 0; have != NULL && i < s.dbs.n; i++) {
        struct ws_db_config *c = NULL;
        struct ws_err e = {0};

        if (known((char *const *)have, n, s.dbs.v[i]))
            continue;
        ws_info("database found while running db=%s dir=%s", s.dbs.v[i],
                w->t->dir);
        if (ws_config_dir_db_new(dm->cfg, w->t, s.dbs.v[i], &c, &e) != WS_OK ||
            ws_daemon_add_db(dm, c, &e) != WS_OK)
            ws_error("cannot replicate database db=%s error=\"%s\"",
                     s.dbs.v[i], e.msg);
    }
    free(have);
    ws_config_dir_scan_free(&s);
    if (added)
        rescan_soon(w, RESCAN_SOON_MS);
    else if (w->polling || w->walk_err)
        rescan_soon(w, RESCAN_POLL_MS);
}

int ws_dirwatch_start(struct daemon *dm, struct ws_err *err)
{
    const struct ws_config *cfg = dm->cfg;
    size_t n = 0;

    for (size_t i = 0; i < cfg->ndirs; i++)
        n += cfg->dirs[i].watch > 0;
    if (n == 0 || dm->opts.once)
        return WS_OK;
    dm->dirw = calloc(n, sizeof(*dm->dirw));
    if (dm->dirw == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    for (size_t i = 0; i < cfg->ndirs; i++) {
        struct dirwatch *w;
        if (cfg->dirs[i].watch <= 0)
            continue;
        w = &dm->dirw[dm->ndirw++];
        w->dm = dm;
        w->t = &cfg->dirs[i];
        uv_timer_init(&dm->loop, &w->timer);
        w->timer.data = w;
        uv_timer_start(&w->timer, rescan, 0, 0); /* watches, and what
                                                  * came meanwhile */
    }
    return WS_OK;
}

void ws_dirwatch_close(struct daemon *dm)
{
    for (size_t i = 0; i < dm->ndirw; i++) {
        struct dirwatch *w = &dm->dirw[i];
        uv_close((uv_handle_t *)&w->timer, close_cb);
        for (size_t k = 0; k < w->ndirs; k++)
            uv_close((uv_handle_t *)&w->dirs[k]->ev, close_cb);
    }
}

void ws_dirwatch_free(struct daemon *dm)
{
    for (size_t i = 0; i < dm->ndirw; i++) {
        struct dirwatch *w = &dm->dirw[i];
        for (size_t k = 0; k < w->ndirs; k++) {
            free(w->dirs[k]->path);
            free(w->dirs[k]);
        }
        free(w->dirs);
    }
    free(dm->dirw);
}
