/*
 * cmd_replicate.c: the replicate command: flags and config, then the
 * daemon (daemon.h) until it stops.
 */
#include "ws/boot.h"
#include "ws/child.h"
#include "ws/cli.h"
#include "ws/cmd_int.h"
#include "ws/config.h"
#include "ws/daemon.h"
#include "ws/db.h"
#include "ws/httpd.h"
#include "ws/log.h"
#include "ws/str.h"
#include "ws/units.h"
#include "ws/url.h"
#include "ws/version.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char usage_replicate[] =
    "The replicate command starts a server to monitor & replicate\n"
    "databases. You can specify your database & replicas in a\n"
    "configuration file or you can replicate a single database file\n"
    "by specifying its path and its replicas in the command line\n"
    "arguments.\n"
    "\n"
    "Usage:\n"
    "\n"
    "\twalship replicate [arguments]\n"
    "\n"
    "\twalship replicate [arguments] DB_PATH REPLICA_URL [REPLICA_URL...]\n"
    "\n"
    "Arguments:\n"
    "\n"
    CONFIG_FLAGS
    "\t-addr BIND_ADDR\n"
    "\t    Serve /metrics (Prometheus) and /healthz over HTTP on this\n"
    "\t    address: :9090 (every interface), 127.0.0.1:9090 or\n"
    "\t    [::1]:9090.  Overrides the config's addr.\n"
    "\n"
    "\t-restore-if-db-not-exists\n"
    "\t    Before replicating, restore every database that does not\n"
    "\t    exist from the newest generation of its replicas; a database\n"
    "\t    that exists is never touched.  With no backup in any replica\n"
    "\t    the database is awaited as usual (said in the log).  A restore\n"
    "\t    that fails stops walship before it replicates anything.  Also\n"
    "\t    the restore-if-db-not-exists key (top level or per database).\n"
    "\n"
    "\t-restore-if-replica-exists\n"
    "\t    Litestream's restore -if-replica-exists: no backup found is\n"
    "\t    not an error.  The restore on boot never fails for that, so\n"
    "\t    this flag only turns it on, like -restore-if-db-not-exists.\n"
    "\n"
    "\t-once\n"
    "\t    Sync every database once, ship it to every replica (with a\n"
    "\t    snapshot when the generation needs one), then exit: 0 only\n"
    "\t    when everything committed before the start is in every\n"
    "\t    replica.  A missing database is an error.  Ignores\n"
    "\t    snapshot-interval and retention unless asked below.\n"
    "\n"
    "\t-force-snapshot\n"
    "\t    With -once: take a snapshot in every replica (unless its\n"
    "\t    newest snapshot is of exactly the current state).\n"
    "\n"
    "\t-enforce-retention\n"
    "\t    With -once: apply each replica's retention before exiting.\n"
    "\n"
    "\t-exec CMD\n"
    "\t    Runs CMD (the application) once replication is ready, forwards\n"
    "\t    SIGINT, SIGTERM and SIGHUP to it, and stops when it exits:\n"
    "\t    after a final sync, walship exits with its status (128+N for\n"
    "\t    signal N), or non-zero if the final sync failed. CMD is split\n"
    "\t    into words like a shell would for quotes ('' \"\") and\n"
    "\t    backslashes, but no shell runs it: no $VARS, globs, pipes or\n"
    "\t    redirections (an unquoted | & ; < > ( ) or ` is an error; use\n"
    "\t    sh -c '...'). Overrides the config's exec key.\n"
    "\n"
    "\t-shutdown-sync-timeout DURATION\n"
    "\t    Bounds the final sync at shutdown (after a signal, or when the\n"
    "\t    -exec application exits); past it, walship exits non-zero,\n"
    "\t    naming what was not shipped. 0: no bound, and a failed upload\n"
    "\t    is not retried. Defaults to 30s, or the config's\n"
    "\t    shutdown-sync-timeout key.\n"
    "\n"
    "\t-v\n"
    "\t    Verbose (debug) logging.\n"
    "\n"
    "A REPLICA_URL is file:///path/to/dir, s3://bucket/path or a plain\n"
    "directory path.\n"
    "\n"
    "While it replicates a database, it serves walship sync on the\n"
    "control socket in that database's meta directory.\n";

/* -addr overrides the config's addr: (httpd.h). */
static int replicate_addr(struct ws_config *cfg, const char *addr,
                          struct ws_err *err)
{
    struct ws_err e = {0};
    char host[256], *copy;
    int port;

    if (addr[0] != '\0' &&
        ws_httpd_addr_parse(addr, host, sizeof(host), &port, &e) != WS_OK)
        return ws_err_set(err, WS_EUSAGE, "-addr: %s", e.msg);
    copy = strdup(addr);
    if (copy == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    free(cfg->addr);
    cfg->addr = copy;
    return WS_OK;
}

/* -exec and -shutdown-sync-timeout override the file's keys.  -once
 * never runs the application, so the file's exec key is refused with it,
 * as the -exec flag is (a key that is accepted works). */
static int replicate_flags(struct ws_config *cfg, int once,
                           const char *exec_cmd, const char *timeout,
                           struct ws_err *err)
{
    char **words = NULL;

    if (once && cfg->exec != NULL)
        return ws_err_set(err, WS_ECONFIG, "cannot specify -once flag with "
                          "the exec key (%s): -once does not run the "
                          "application; use a config without exec",
                          cfg->source);

    if (timeout && ws_duration_parse(timeout, &cfg->shutdown_sync_timeout_ms)
                       != WS_OK)
        return ws_err_set(err, WS_EUSAGE, "invalid value \"%s\" for flag "
                          "-shutdown-sync-timeout: want a duration such as "
                          "30s or 1m", timeout);
    if (exec_cmd == NULL)
        return WS_OK;
    if (ws_child_split(exec_cmd, &words, err) != WS_OK)
        return ws_err_wrap(err, "invalid value for flag -exec");
    ws_child_argv_free(words);
    free(cfg->exec);
    cfg->exec = strdup(exec_cmd);
    if (cfg->exec == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    return WS_OK;
}

/* Each database holds about 15 descriptors (SQLite's connections with
 * their -wal and -shm, the shadow, the meta directory's lock, file
 * events): the usual soft limit of 1024 runs out at some 65 databases.
 * When the databases need more (or a directory entry may add some while
 * running), the soft limit is raised, up to the hard one, as a Go
 * program's runtime does for Litestream; it is left alone otherwise,
 * since -exec's application inherits it.  What is left short is said at
 * start. */
static void raise_fd_limit(const struct ws_config *cfg)
{
    uint64_t need = (uint64_t)cfg->ndbs * 16 + 64;
    struct rlimit rl;

    for (size_t i = 0; i < cfg->ndirs; i++)
        if (cfg->dirs[i].watch > 0)
            need = UINT64_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    /* RLIM_INFINITY is the largest rlim_t: as far as allowed, at most
     * what is needed (UINT64_MAX: all of it). */
    if (need > (uint64_t)rl.rlim_cur && rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = need < (uint64_t)rl.rlim_max ? (rlim_t)need : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            ws_debug("descriptor limit raised from %llu to %llu",
                     (unsigned long long)was,
                     (unsigned long long)rl.rlim_cur);
        else
            rl.rlim_cur = was;
    }
    if (rl.rlim_cur != RLIM_INFINITY && need != UINT64_MAX &&
        need > (uint64_t)rl.rlim_cur)
        ws_warn("descriptor limit %llu is low for %zu databases (each "
                "holds about 15): raise it (ulimit -n, or LimitNOFILE= "
                "under systemd) or some will fail with \"Too many open "
                "files\"",
                (unsigned long long)rl.rlim_cur, cfg->ndbs);
}

/* A directory entry whose directory cannot be read would leave its
 * databases unreplicated: refused, as is a config whose entries found
 * no database at all and watch for none (nothing to do). */
static int replicate_dirs(const struct ws_config *cfg, struct ws_err *err)
{
    int rc = ws_config_dirs_check(cfg, err), watch = 0;

    for (size_t i = 0; i < cfg->ndirs; i++)
        watch |= cfg->dirs[i].watch > 0;
    if (rc == WS_OK && cfg->ndbs == 0 && cfg->ndirs > 0 && !watch)
        rc = ws_err_set(err, WS_ECONFIG,
                        "%s: no database to replicate: no SQLite database "
                        "under %s matches \"%s\"%s",
                        cfg->source, cfg->dirs[0].dir, cfg->dirs[0].pattern,
                        cfg->ndirs > 1 ? " (nor under the other dirs)" : "");
    return rc;
}

int ws_cmd_replicate(int argc, char **argv, struct ws_err *err)
{
    const char *config = NULL, *exec_cmd = NULL, *addr = NULL;
    const char *timeout = NULL;
    int no_expand = 0, verbose = 0, if_db = 0, if_replica = 0, i, rc;
    struct ws_daemon_opts o = {0};
    struct ws_daemon_end end = {-1, 0};
    struct ws_cmd_flag flags[] = {{"config", &config, NULL},
                           {"addr", &addr, NULL},
                           {"no-expand-env", NULL, &no_expand},
                           {"exec", &exec_cmd, NULL},
                           {"restore-if-db-not-exists", NULL, &if_db},
                           {"restore-if-replica-exists", NULL, &if_replica},
                           {"once", NULL, &o.once},
                           {"force-snapshot", NULL, &o.force_snapshot},
                           {"enforce-retention", NULL, &o.enforce_retention},
                           {"shutdown-sync-timeout", &timeout, NULL},
                           {"v", NULL, &verbose},
                           {NULL, NULL, NULL}};
    struct ws_config *cfg = NULL;

    ws_daemon_hold_signals();
    i = ws_cmd_parse_flags(argc, argv, flags, usage_replicate, err);
    if (i < 0)
        return i == -1 ? WS_OK : WS_EUSAGE;
    /* As Litestream v0.5. */
    if (o.force_snapshot && !o.once)
        return ws_err_set(err, WS_EUSAGE, "cannot specify -force-snapshot "
                          "flag without -once");
    if (o.enforce_retention && !o.once)
        return ws_err_set(err, WS_EUSAGE, "cannot specify "
                          "-enforce-retention flag without -once");
    if (o.once && exec_cmd)
        return ws_err_set(err, WS_EUSAGE, "cannot specify -once flag with "
                          "-exec");
    if (i < argc) {
        if (config)
            return ws_err_set(err, WS_EUSAGE, "cannot specify a replica URL "
                              "and the -config flag");
        if (no_expand)
            return ws_err_set(err, WS_EUSAGE, "-no-expand-env applies to a "
                              "config file, and DB_PATH REPLICA_URL reads "
                              "none");
        if (ws_str_blank(argv[i]))
            return ws_err_set(err, WS_EUSAGE, "the database path \"%s\" "
                              "is blank", argv[i]);
        if (argc - i < 2)
            return ws_err_set(err, WS_EUSAGE, "must specify at least one "
                              "replica URL for %s", argv[i]);
        if (ws_is_url(argv[i]))
            return ws_err_set(err, WS_EUSAGE, "the database path comes "
                              "first, then its replicas: %s is a URL",
                              argv[i]);
        rc = ws_config_from_urls(argv[i], argv + i + 1, (size_t)(argc - i - 1),
                                 &cfg, err);
    } else {
        rc = ws_config_load(config, !no_expand, &cfg, err);
        if (rc == WS_OK)
            rc = replicate_dirs(cfg, err);
    }
    if (rc == WS_OK && addr != NULL)
        rc = replicate_addr(cfg, addr, err);
    if (rc == WS_OK)
        rc = replicate_flags(cfg, o.once, exec_cmd, timeout, err);
    if (rc != WS_OK) {
        ws_config_free(cfg);
        return rc;
    }
    ws_cli_log_init(cfg, verbose, 1);
    raise_fd_limit(cfg);
    for (size_t k = 0; k < cfg->ndirs; k++)
        ws_info("databases found dir=%s pattern=\"%s\" recursive=%s "
                "count=%zu (%s)",
                cfg->dirs[k].dir, cfg->dirs[k].pattern,
                cfg->dirs[k].recursive > 0 ? "true" : "false",
                cfg->dirs[k].found,
                cfg->dirs[k].watch > 0
                    ? "watch: those created later are added as they appear"
                    : "those created later are found at the next start");
    rc = ws_sqlite_check(err);
    if (rc == WS_OK) {
        ws_info("walship version=%s sqlite=%s", WS_VERSION,
                sqlite3_libversion());
        rc = ws_boot_restore(cfg, if_db || if_replica, err);
    }
    if (rc == WS_OK)
        rc = ws_daemon_run(cfg, &o, &end, err);
    if (end.abandoned) {
        /* Jobs may still run on the thread pool, using cfg: leave now,
         * freeing nothing (daemon.h). */
        ws_cmd_print_failure(rc, err);
        fflush(NULL);
        _exit(ws_cmd_exit_status(rc, err));
    }
    ws_config_free(cfg);
    /* Under -exec, a clean shutdown exits with the application's status
     * (a failed final sync is an error above instead). */
    if (rc == WS_OK && end.app_status > 0)
        exit(end.app_status);
    return rc;
}
