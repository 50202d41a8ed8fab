/*
 * verify.c: `walship verify` (validate.h; validate_int.h has the rooms
 * of the restore drills, whose page hashing it shares).
 *
 * verify proves that a replica restores to a sound database.  For each
 * replica of the database (or the one -replica names, or the replica a
 * URL names) it runs a restore (restore.h) into a temporary directory of
 * its own, and prints what it verified.  Facts it relies on:
 *
 *   - The restore verifies every object on the way (the LZ4 frames, the
 *     WAL checksum chain, the records that bind the generation's
 *     objects, the snapshot's digest) and runs PRAGMA integrity_check on
 *     the result; it fails with WS_ECORRUPT when the replica is corrupt.
 *     verify's exit code is the worst replica's, a corrupt one winning
 *     over one that could not be read, so a script tells "the replica
 *     lies" from "the replica is out of reach".
 *   - The directory is made by mkdtemp under $TMPDIR (or /tmp), 0700 and
 *     with a name nobody can guess, and checked as any directory walship
 *     writes in (fs.h); never next to or over the database, which verify
 *     does not touch.  It is removed at the end, whatever the outcome.
 *   - A restore alone cannot say whether the replica is the database: a
 *     database that is written to has moved on by the time the restore
 *     ends.  A running `walship replicate` can: it reads the database at
 *     a position under SQLite's write lock and compares a restore to
 *     that position (the drills: validate.c).  So verify of a live
 *     database in its newest state, of every replica, asks the running
 *     replicate for a drill over its control endpoint (control.h) and
 *     prints its result; only when no replicate serves the database does
 *     it restore here, and then it says that no live comparison was made
 *     and why (likewise with -timestamp, -replica, or a URL).
 */
#include "ws/validate_int.h"

#include "ws/cli.h"
#include "ws/control.h"
#include "ws/log.h"
#include "ws/plan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Restore replica k of db into dir (a directory of ours) and report. */
static int verify_one(const struct ws_verify_opts *o,
                      const struct ws_db_config *db, size_t k,
                      const char *dir, FILE *out, struct ws_err *err)
{
    const struct ws_replica_config *rcfg = &db->replicas[k];
    struct ws_restore_result res;
    struct ws_restore_opts ro;
    struct ws_cli_replicas reps;
    struct ws_vali_pages pg;
    char out_path[4200], meta[4200], t[40], hex[2 * WS_SHA256_LEN + 1];
    char at[40];
    int fd, rc;

    if ((size_t)snprintf(out_path, sizeof(out_path), "%s/%zu.db", dir, k) >=
            sizeof(out_path) ||
        (size_t)snprintf(meta, sizeof(meta), "%s/%zu.meta", dir, k) >=
            sizeof(meta))
        return ws_err_set(err, WS_EUSAGE, "temporary directory name too "
                          "long: %s", dir);
    memset(&ro, 0, sizeof(ro));
    ro.output = out_path;
    ro.db = db->path != NULL ? db->path : o->target;
    ro.meta = meta;
    ro.has_time = o->has_time;
    ro.time_us = o->time_us;
    ro.parallelism = 8;
    ro.no_carry = 1;
    ro.result = &res;
    rc = ws_cli_replicas_open(&reps, db, rcfg->name, err);
    if (rc == WS_OK)
        rc = ws_restore(reps.v, reps.n, &ro, err);
    ws_cli_replicas_close(&reps);
    if (rc != WS_OK) {
        fprintf(out, "replica=%s FAILED: %s\n", rcfg->name, err->msg);
        return ws_err_wrap(err, "verify replica=%s", rcfg->name);
    }
    fd = open(out_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return ws_err_set(err, WS_EIO, "open %s: %s", out_path,
                          strerror(errno));
    rc = ws_vali_pages_of(fd, -1, res.page_size, out_path, &pg, err);
    close(fd);
    unlink(out_path);
    if (rc != WS_OK)
        return rc;
    if (res.time_us > 0)
        ws_time_fmt(res.time_us, t, sizeof(t));
    else
        snprintf(t, sizeof(t), "unknown");
    ws_vali_sha_hex(pg.sha, hex);
    ws_vali_pos_str(res.index, res.offset, at, sizeof(at));
    fprintf(out,
            "replica=%s verified: generation=%s position=%s time=%s (%s) "
            "size=%llu pages=%u page_size=%u sha256=%s chain=ok "
            "integrity_check=ok\n",
            res.replica, res.generation, at, t,
            res.precise ? "commit time" : "object time",
            (unsigned long long)pg.size, res.pages, res.page_size, hex);
    return WS_OK;
}

/* A directory of our own under $TMPDIR (or /tmp), checked; its path in
 * buf. */
static int verify_tmpdir(char *buf, size_t n, struct ws_err *err)
{
    const char *tmp = getenv("TMPDIR");
    struct ws_fs_dir d;
    int rc;

    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    if ((size_t)snprintf(buf, n, "%s/walship-verify-XXXXXX", tmp) >= n)
        return ws_err_set(err, WS_EUSAGE, "TMPDIR too long: %s", tmp);
    if (mkdtemp(buf) == NULL)
        return ws_err_set(err, WS_EIO, "cannot make a temporary directory "
                          "in %s: %s", tmp, strerror(errno));
    rc = ws_fs_dir_open(&d, buf, WS_FS_NOFOLLOW, 0, NULL, err);
    ws_fs_dir_close(&d);
    if (rc != WS_OK) {
        rmdir(buf);
        return ws_err_wrap(err, "temporary directory");
    }
    return WS_OK;
}

/* Ask the running replicate of db for a drill (its control endpoint);
 * WS_ENOTFOUND when none serves db. */
static int verify_live(const struct ws_db_config *db, FILE *out,
                       struct ws_err *err)
{
    struct ws_ctl_call call;
    int rc;

    memset(&call, 0, sizeof(call));
    call.meta = db->meta_path;
    call.db = db->path;
    ws_info("verify: asking the running replicate of %s for a restore "
            "drill", db->path);
    rc = ws_ctl_call_all(&call, 1, "verify", -1, NULL, NULL);
    if (rc == WS_ENOTFOUND) {
        *err = call.err;
        return rc;
    }
    if (rc == WS_OK) {
        fprintf(out, "live comparison: made by the running replicate of "
                "%s: %s\n", db->path, call.text);
        return WS_OK;
    }
    fprintf(out, "live comparison: FAILED: %s\n", call.err.msg);
    *err = call.err;
    return rc;
}

int ws_verify_run(const struct ws_verify_opts *o, FILE *out,
                  struct ws_err *err)
{
    struct ws_config *cfg = NULL;
    const struct ws_db_config *db = NULL;
    struct ws_err first = {0}, e;
    char dir[4200];
    size_t nrep = 0;
    int rc, worst = WS_OK;

    rc = ws_cli_find_db(o->target, o->config, o->expand_env, &cfg, &db, err);
    if (rc != WS_OK)
        return rc;
    ws_cli_log_init(cfg, o->verbose, 0);
    if (o->replica) {
        for (nrep = 0; nrep < db->nreplicas; nrep++)
            if (strcmp(db->replicas[nrep].name, o->replica) == 0)
                break;
        if (nrep == db->nreplicas) {
            rc = ws_err_set(err, WS_EUSAGE, "replica \"%s\" not found for "
                            "database \"%s\"", o->replica,
                            db->path ? db->path : o->target);
            ws_config_free(cfg);
            return rc;
        }
    }
    /* A live database, in its newest state, of every replica: the
     * running replicate compares (validate.h). */
    if (db->path && !o->has_time && !o->replica) {
        struct ws_err le = {0};
        rc = verify_live(db, out, &le);
        if (rc != WS_ENOTFOUND) {
            ws_config_free(cfg);
            if (rc != WS_OK)
                *err = le;
            return rc;
        }
        ws_info("verify: %s; restoring the replicas here", le.msg);
    }
    rc = verify_tmpdir(dir, sizeof(dir), err);
    if (rc != WS_OK) {
        ws_config_free(cfg);
        return rc;
    }
    for (size_t k = 0; k < db->nreplicas; k++) {
        if (o->replica && k != nrep)
            continue;
        memset(&e, 0, sizeof(e));
        rc = verify_one(o, db, k, dir, out, &e);
        if (rc != WS_OK && (worst == WS_OK ||
                            (rc == WS_ECORRUPT && worst != WS_ECORRUPT))) {
            worst = rc;
            first = e;
        }
    }
    ws_fs_rm_rf(dir, NULL);
    if (db->path && (o->has_time || o->replica))
        fprintf(out, "live comparison: not made: with %s, verify restores "
                "on its own (a running replicate compares every replica's "
                "newest state: walship verify %s)\n",
                o->has_time ? "-timestamp" : "-replica", db->path);
    else if (db->path)
        fprintf(out, "live comparison: not made: no running walship "
                "replicate serves %s (it compares a restore with the "
                "database at the same transaction)\n", db->path);
    else
        fprintf(out, "live comparison: not made: a replica URL names no "
                "database\n");
    ws_config_free(cfg);
    if (worst != WS_OK)
        *err = first;
    return worst;
}
