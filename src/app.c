/*
 * app.c: the application under -exec (child.h): when it starts, what
 * happens to signals while it runs, and what its exit does.
 *
 * It starts once replication is ready (ws_app_on_ready, after each turn
 * of the loop until then; db_ready says when).  While it runs,
 * SIGINT, SIGTERM and SIGHUP are forwarded to it, and a stop for
 * another cause (a fatal error) sends it SIGTERM, once
 * (ws_app_signal); walship stops when it exits (ws_app_on_exit).  Its
 * state is in struct daemon: has_child, child_stopping, child_status,
 * child_err.
 */
#include "ws/daemon_int.h"
#include "ws/fs.h"

#include <signal.h>
#include <string.h>

/* Under -exec, signals are the application's while it runs: walship
 * forwards them and stops when it exits.  Another cause of a stop
 * (signum 0, from ws_daemon_shutdown: a fatal error, such as another
 * walship holding a database; a replica's refusals are not fatal under
 * -exec, ws_ship_fail) stops it with SIGTERM, once.  1 when the stop
 * was handled so. */
int ws_app_signal(struct daemon *dm, int signum)
{
    if (!dm->has_child || !dm->child.running)
        return 0;
    if (signum != 0) {
        ws_info("signal forwarded to the application signal=%d pid=%d",
                signum, dm->child.proc.pid);
        ws_child_signal(&dm->child, signum);
    } else if (!dm->child_stopping) {
        dm->child_stopping = 1;
        ws_error("replication cannot go on: stopping the application "
                 "pid=%d signal=%d; walship exits when it has",
                 dm->child.proc.pid, SIGTERM);
        ws_child_signal(&dm->child, SIGTERM);
    }
    return 1;
}

/* Replication is ready for the application once every database has
 * synced and each of its replicas holds a snapshot of its generation, or
 * a stall is said of it (the database is awaited, its syncs fail, a
 * replica's uploads fail, or its request is said not answered): an
 * outage is waited out loudly, beside the application, never in front
 * of it. */
static int db_ready(const struct dbrep *d)
{
    if (d->stall.on)
        return 1;
    if (d->syncs == 0 || !d->st.ready)
        return 0;
    for (size_t i = 0; i < d->nreps; i++) {
        const struct rep *r = &d->reps[i];
        if (r->state == R_FAILED || r->stall.on || r->slow.said > 0)
            continue;
        if (!r->inited || !r->has_snapshot || strcmp(r->gen, d->st.gen) != 0)
            return 0;
    }
    return 1;
}

void ws_app_on_exit(struct ws_child *c)
{
    struct daemon *dm = c->data;

    dm->child_status = c->status;
    ws_daemon_shutdown(dm, STOP_APP_EXIT, 0);
}

/* After each turn of the loop until the application is started: start
 * it once replication is ready.  One that cannot be started stops
 * walship (after the final sync), as a fatal error. */
void ws_app_on_ready(uv_check_t *h)
{
    struct daemon *dm = h->data;
    int rc;

    if (dm->phase != DM_RUNNING) {
        uv_check_stop(h);
        return;
    }
    for (size_t i = 0; i < dm->ndbs; i++)
        if (!db_ready(dm->dbs[i]))
            return;
    uv_check_stop(h);
    rc = ws_child_start(&dm->child, &dm->child_err);
    if (rc != WS_OK) {
        ws_daemon_shutdown(dm, STOP_APP_START, 0);
        return;
    }
    ws_info("replication ready, application started pid=%d exec=%s "
            "args=%d", dm->child.proc.pid, dm->child.argv[0],
            dm->child.argc);
}
