/*
 * validate_keep.c: a drill's directory, and the copies of a failed
 * drill kept for diagnosis (validate.h has the drill; validate_int.h the
 * rooms).
 *
 * A drill works in <meta>/validation/run (RUN_DIR): the live copy
 * (LIVE_FILE, live.db) and each replica's restore (restored-N.db, with
 * its restore's meta directory).  The meta directory is walship's own and
 * checked (fs.h); the validation directory is made there 0700, or opened
 * without following a link and checked as any directory walship writes
 * in, since walship often runs as root.  The run directory is removed and
 * made anew at each drill, so a drill cut short by a crash leaves nothing
 * the next one reads, and the live copy is created O_EXCL|O_NOFOLLOW.
 *
 * A drill that passed or did not complete leaves nothing: the run
 * directory is removed.  A failed one keeps it, renamed (one atomic
 * rename within the validation directory, then an fsync of that
 * directory, so the kept name survives a crash) to failed-<UTC time>-N,
 * with the copy fsynced first: both sides of the difference are what an
 * operator needs to see which pages differ and why.  They are a
 * database's size each, so at most WS_VALIDATE_KEEP are kept: past the
 * bound a failed drill's copies are removed and the log says so and
 * where the kept ones are (the operator removes them to keep more); the
 * failure itself is reported all the same (validate_compare.c).  The N
 * (1 to WS_VALIDATE_KEEP) makes the name unique when drills fail within
 * the same second; a rename that fails is logged with its reason.
 */
#include "ws/validate_int.h"

#include "ws/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RUN_DIR "run"
#define LIVE_FILE "live.db"

/* The drill's directory, empty: <meta>/validation/run. */
int ws_vali_run_open(struct ws_validator *v, struct ws_err *err)
{
    int rc;

    if (v->vdir.fd < 0) {
        char *p = ws_path_join(v->cfg->meta_path, "validation");
        if (p == NULL)
            return ws_err_set(err, WS_ENOMEM, "out of memory");
        rc = ws_fs_dir_open(&v->vdir, p, WS_FS_CREATE | WS_FS_NOFOLLOW,
                            0700, NULL, err);
        free(p);
        if (rc != WS_OK)
            return rc;
    }
    ws_fs_dir_close(&v->run);
    rc = ws_fs_rm_rf_at(&v->vdir, RUN_DIR, err);
    if (rc == WS_OK)
        rc = ws_fs_dir_sub(&v->run, &v->vdir, RUN_DIR, WS_FS_CREATE, 0700,
                           err);
    if (rc != WS_OK)
        return rc;
    v->live_fd = openat(v->run.fd, LIVE_FILE,
                        O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0600);
    if (v->live_fd < 0)
        return ws_err_set(err, WS_EIO, "create %s/%s: %s", v->run.path,
                          LIVE_FILE, strerror(errno));
    return WS_OK;
}

/* Failed drills' directories in the validation directory. */
static int count_failed(const struct ws_validator *v)
{
    int fd = fcntl(v->vdir.fd, F_DUPFD_CLOEXEC, 0), n = 0;
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;

    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    while ((de = readdir(d)) != NULL)
        n += strncmp(de->d_name, "failed-", 7) == 0;
    closedir(d);
    return n;
}

void ws_vali_run_close(struct ws_validator *v, int keep)
{
    char name[64], at[32];
    struct tm tm;
    time_t now = time(NULL);
    int kept = 0, full = 0, e = 0;

    if (v->live_fd >= 0) {
        if (keep)
            fsync(v->live_fd);
        close(v->live_fd);
        v->live_fd = -1;
    }
    ws_fs_dir_close(&v->run);
    if (v->vdir.fd < 0)
        return;
    if (keep)
        full = count_failed(v) >= WS_VALIDATE_KEEP;
    if (keep && !full) {
        gmtime_r(&now, &tm);
        strftime(at, sizeof(at), "%Y%m%dT%H%M%SZ", &tm);
        for (int i = 1; i <= WS_VALIDATE_KEEP && !kept; i++) {
            snprintf(name, sizeof(name), "failed-%s-%d", at, i);
            kept = renameat(v->vdir.fd, RUN_DIR, v->vdir.fd, name) == 0;
            e = errno;
        }
        if (kept) {
            fsync(v->vdir.fd);
            ws_error("validation: both copies kept for diagnosis db=%s "
                     "dir=%s/%s (%s: the database at the position; "
                     "restored-N.db: replica N restored to it)",
                     v->cfg->path, v->vdir.path, name, LIVE_FILE);
            return;
        }
    }
    if (full)
        ws_error("validation: copies not kept db=%s: %d failed drills' "
                 "directories are kept already in %s (remove them to keep "
                 "more)", v->cfg->path, WS_VALIDATE_KEEP, v->vdir.path);
    else if (keep)
        ws_error("validation: copies not kept db=%s: rename %s/%s: %s",
                 v->cfg->path, v->vdir.path, RUN_DIR, strerror(e));
    ws_fs_rm_rf_at(&v->vdir, RUN_DIR, NULL);
}
