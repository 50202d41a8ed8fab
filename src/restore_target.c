/*
 * restore_target.c: the local side of a restore, where it writes
 * (struct target, restore_int.h; the rules are in its comment there).
 *
 * ws_rtarget_check() refuses an output that exists or has a stale -wal
 * or -shm beside it, opens and checks the output's directory and sweeps
 * temporary files left there by a restore that was killed (those not
 * flock()ed by a live one).  ws_rtarget_tmp() makes the file the
 * database is built in: unnamed (O_TMPFILE) where the filesystem can,
 * else ".<name>.tmp-XXXXXX", flock()ed.  ws_rtarget_unlink() removes
 * that named file after a failure, when it is still ours.
 *
 * Signals: SIGINT and SIGTERM are held by every thread
 * (ws_restore_hold_signals) and taken from a signalfd on the loop
 * (ws_rtarget_signals_start), so that one cannot land on a pool thread
 * and be lost.  Until the point of no return a signal removes the file
 * being built and fails the restore naming the signal;
 * ws_rtarget_signals_hold() marks that point (just before the publish):
 * it takes a signal already pending, then stops watching, and
 * ws_rtarget_signals_stop() says any signal that came later, and gives
 * it to the caller when asked (late_signal_to_caller).
 *
 * Called by restore.c only.
 */
#include "ws/restore_int.h"
#include "ws/log.h"
#include "ws/str.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the target side ---------------------------------------------------- */


/* Refuse an output that exists, or a stale -wal or -shm beside it (the
 * first open of the restored file would apply them). */
static int check_target(const struct target *t, struct ws_err *err)
{
    static const char *const sfx[] = {"", "-wal", "-shm"};
    char p[NAME_MAX + 8];
    struct stat sb;

    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", t->name, sfx[i]);
        if (fstatat(t->dir.fd, p, &sb, AT_SYMLINK_NOFOLLOW) == 0)
            return ws_err_set(err, WS_EEXIST,
                              i == 0 ? "cannot restore, output path "
                                       "already exists: %s%s"
                                     : "cannot restore, a stale %s%s exists "
                                       "next to the output path",
                              t->out, sfx[i]);
    }
    return WS_OK;
}

/*
 * Everything about the output that can be refused, before anything is
 * created or fetched: an empty path or one that names a directory, a
 * directory that does not exist or fails fs.h's rule, an output (or a
 * -wal or -shm) that exists, and a meta dir that exists and fails the
 * rule (another user's, one others can write to, a link).
 */
int ws_rtarget_check(struct target *t, const struct ws_restore_opts *o,
                     struct ws_err *err)
{
    struct ws_fs_dir md;
    char *dir;
    int rc;

    t->db = o->db;
    t->out = o->output;
    if (t->out == NULL || ws_str_blank(t->out))
        return ws_err_set(err, WS_EUSAGE,
                          "cannot restore: the output path \"%s\" is "
                          "blank", t->out ? t->out : "");
    t->name = ws_path_base(t->out);
    if (t->name[0] == '\0' || strcmp(t->name, ".") == 0 ||
        strcmp(t->name, "..") == 0)
        return ws_err_set(err, WS_EUSAGE, "cannot restore to %s: not a "
                          "file name", t->out);
    if ((size_t)snprintf(t->base, sizeof(t->base), ".%s", t->name) >=
        sizeof(t->base))
        return ws_err_set(err, WS_EUSAGE, "cannot restore to %s: name too "
                          "long", t->out);
    dir = ws_path_dir(t->out);
    if (dir == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = ws_fs_dir_open(&t->dir, dir, WS_FS_ANY, 0, NULL, err);
    if (rc == WS_ENOTFOUND)
        rc = ws_err_set(err, WS_EIO, "cannot restore to %s: directory %s "
                        "does not exist", t->out, dir);
    else if (rc != WS_OK)
        ws_err_wrap(err, "cannot restore to %s", t->out);
    free(dir);
    if (rc == WS_OK)
        rc = check_target(t, err);
    if (rc != WS_OK)
        ws_err_at(err, WS_AT_DB); /* the output path is the database's */
    if (rc == WS_OK) {
        t->meta = o->meta ? strdup(o->meta) : ws_meta_path(t->out);
        if (t->meta == NULL)
            rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    if (rc == WS_OK) {
        rc = ws_fs_dir_open(&md, t->meta, WS_FS_NOFOLLOW, 0, NULL, err);
        ws_fs_dir_close(&md);
        if (rc == WS_ENOTFOUND)
            rc = WS_OK;
        else if (rc != WS_OK)
            ws_err_wrap(err, "cannot restore to %s", t->out);
    }
    if (rc != WS_OK)
        ws_err_at(err, WS_AT_DB);
    return rc;
}

/* Remove what restores to this output that were killed left: files named
 * ".<name>.tmp-*", ours, unchanged for a minute and not locked by a live
 * restore.  Best effort. */
static void sweep_stale(const struct target *t)
{
    int fd = fcntl(t->dir.fd, F_DUPFD_CLOEXEC, 0);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    size_t bl = strlen(t->base);
    time_t now = time(NULL);
    struct dirent *de;

    if (d == NULL && fd >= 0)
        close(fd);
    while (d && (de = readdir(d)) != NULL) {
        struct stat st;
        int f;
        if (strncmp(de->d_name, t->base, bl) != 0 ||
            strncmp(de->d_name + bl, ".tmp-", 5) != 0)
            continue;
        f = openat(t->dir.fd, de->d_name,
                   O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (f < 0)
            continue;
        if (fstat(f, &st) == 0 && S_ISREG(st.st_mode) &&
            st.st_uid == geteuid() && st.st_mtime + 60 < now &&
            flock(f, LOCK_EX | LOCK_NB) == 0 &&
            unlinkat(t->dir.fd, de->d_name, 0) == 0)
            ws_info("restore: removed %s/%s, left by an interrupted "
                    "restore db=%s", t->dir.path, de->d_name, t->db);
        close(f);
    }
    if (d)
        closedir(d);
}

/* Create the file the database is built in (rs->fd; rs->tmp names it
 * in messages): unnamed, or else a temporary file locked for as long as
 * this process lives. */
int ws_rtarget_tmp(struct target *t, struct rs *rs, struct ws_err *err)
{
    int rc;

    sweep_stale(t);
    rc = ws_fs_tmp_anon(&t->dir, t->base, 0600, t->tmp, sizeof(t->tmp),
                        &rs->fd, err);
    if (rc != WS_OK) {
        t->tmp[0] = '\0';
        ws_err_wrap(err, "cannot restore to %s", t->out);
        return ws_err_at(err, WS_AT_DB);
    }
    t->fd = rs->fd;
    rs->dir = &t->dir;
    rs->base = t->base;
    if (t->tmp[0] == '\0') {
        snprintf(rs->tmp, sizeof(rs->tmp), "%s (not yet linked)", t->out);
        return WS_OK;
    }
    if (flock(rs->fd, LOCK_EX | LOCK_NB) != 0)
        ws_warn("restore: flock %s/%s db=%s: %s", t->dir.path, t->tmp,
                t->db, strerror(errno));
    snprintf(rs->tmp, sizeof(rs->tmp), "%s/%s", t->dir.path, t->tmp);
    return WS_OK;
}

/* Remove the temporary file if it has a name and that name is still
 * ours; 1 when removed. */
int ws_rtarget_unlink(const struct target *t)
{
    return t->tmp[0] != '\0' && t->fd >= 0 &&
           ws_fs_is_ours(&t->dir, t->tmp, t->fd) &&
           unlinkat(t->dir.fd, t->tmp, 0) == 0;
}

/*
 * SIGINT or SIGTERM while the restore runs (the loop runs through every
 * download, check and the final integrity_check): remove the temporary
 * file if it has a name and exit at once, with one line.  Downloads in
 * flight cannot be cancelled, and nothing else needs cleaning: an
 * unnamed file goes with the process, the spool files are unnamed or
 * unlinked, the meta dir does not exist yet, the locks go with the
 * process.
 *
 * The caller holds both signals (ws_restore_hold_signals) before any
 * thread exists, so every thread holds them and one sent to the process
 * stays pending until the restore reads it from its signalfd, on the
 * loop.  A handler would not do: the kernel gives a process's signal to
 * any thread that does not block it, a pool thread's included, where a
 * mask set later on the loop thread alone cannot keep it out.  From the
 * point of no return (the database being published) the descriptor is
 * no longer watched: a signal that comes then waits, and the restore
 * completes.  It is then said and dropped, or, inside replicate (a
 * restore on boot), left pending for replicate's loop, which shuts down
 * cleanly once it starts.
 */
static void interrupted(struct target *t, int signum)
{
    const char *sig = signum == SIGINT ? "SIGINT" : "SIGTERM";

    if (ws_rtarget_unlink(t))
        ws_error("restore interrupted by %s: removed %s/%s, nothing "
                 "restored to %s db=%s", sig, t->dir.path, t->tmp, t->out,
                 t->db);
    else
        ws_error("restore interrupted by %s: nothing restored to %s db=%s",
                 sig, t->out, t->db);
    _exit(1);
}

/* The signal read from t->sfd, or 0 when none is pending. */
static int signal_take(const struct target *t)
{
    struct signalfd_siginfo si;

    if (read(t->sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
        return 0;
    return (int)si.ssi_signo;
}

static void on_sigfd(uv_poll_t *h, int status, int events)
{
    struct target *t = h->data;
    int sig = signal_take(t);

    (void)status;
    (void)events;
    if (sig != 0)
        interrupted(t, sig);
}

static void on_sigfd_close(uv_handle_t *h)
{
    struct target *t = h->data;

    t->sigs = 0;
}

static void signal_pair(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

void ws_restore_hold_signals(void)
{
    sigset_t set;

    signal_pair(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

void ws_rtarget_signals_start(struct target *t, uv_loop_t *loop)
{
    sigset_t set;

    signal_pair(&set);
    pthread_sigmask(SIG_BLOCK, &set, &t->mask); /* this thread at least */
    t->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (t->sfd < 0) {
        ws_warn("restore: no signalfd (%s): SIGINT and SIGTERM are not "
                "taken by the restore db=%s", strerror(errno), t->db);
        pthread_sigmask(SIG_SETMASK, &t->mask, NULL);
        return;
    }
    uv_poll_init(loop, &t->sigpoll, t->sfd);
    t->sigpoll.data = t;
    uv_poll_start(&t->sigpoll, UV_READABLE, on_sigfd);
    t->sigs = 1;
}

/* The point of no return, just before the database is published: a
 * signal already pending interrupts the restore now; one that comes
 * later waits, and the restore completes (signals_stop). */
void ws_rtarget_signals_hold(struct target *t)
{
    int sig;

    if (t->sigs == 0)
        return;
    sig = signal_take(t);
    if (sig != 0)
        interrupted(t, sig);
    uv_poll_stop(&t->sigpoll);
}

/* Close the watch and the descriptor.  A signal that came past the
 * point of no return is left pending for the caller (to_caller), or
 * taken here, and said when the restore completed. */
void ws_rtarget_signals_stop(struct target *t, uv_loop_t *loop, int done,
                             int to_caller)
{
    int sig;

    if (t->sigs == 0)
        return;
    uv_close((uv_handle_t *)&t->sigpoll, on_sigfd_close);
    while (t->sigs > 0)
        uv_run(loop, UV_RUN_NOWAIT);
    while (!to_caller && (sig = signal_take(t)) != 0)
        if (done)
            ws_warn("restore: %s came as the restore completed: %s is "
                    "complete db=%s", sig == SIGINT ? "SIGINT" : "SIGTERM",
                    t->out, t->db);
    close(t->sfd);
    t->sfd = -1;
    if (!to_caller)
        pthread_sigmask(SIG_SETMASK, &t->mask, NULL);
}
