/*
 * restore.c: see restore.h.  The whole restore: it takes the plan
 * (restore_plan.c), builds it in a temporary file (restore_target.c,
 * restore_fetch.c, restore_apply.c), checks it (restore_finish.c) and
 * publishes it; when a replica's objects are corrupt or gone, it tries
 * the other replicas, and says what the one used has less.  The
 * rooms and their state: restore_int.h.  What follows is what every
 * room holds to:
 *
 * What a replica says is checked before it is used, and every size it
 * gives is bounded by something already known:
 *
 *   Object bodies.  Every GET is bounded by the size the listing gave
 *   (replica.h): a longer body is stopped at that size, a shorter one
 *   fails, both naming the object.  The spool (compressed segments) thus
 *   holds at most the sum of the listed sizes; none may be over 1 TiB.
 *   Before any download, the output's directory must have room for the
 *   least the plan takes there (check_room); a plan that lists more
 *   than that is refused in one line naming the replica and both sizes.
 *   A segment's first decoded bytes are checked as soon as they arrive
 *   (a WAL header at offset 0, else a frame header, with the salts of
 *   the index's records): an object that is no segment (a sparse file
 *   of gigabytes of zeros behind a valid LZ4 frame header) is refused
 *   after its first LZ4 block, not after its listed size is spooled.
 *   An LZ4 frame decodes to at most 255 times its size
 *   (ws_lz4_max_output): the bound on each snapshot and segment, so a
 *   decompression bomb costs at most that much CPU.  Every frame must
 *   carry a content checksum (lz4f.h).
 *
 *   The snapshot.  It is a copy of the database file, whose page 1 gives
 *   the page size (a power of two from 512 to 65536, else the snapshot is
 *   not a database) and, when valid (non-zero, and its change counter
 *   equal to its version-valid-for number, SQLite's own rule), the
 *   database's size in pages N.  Bytes past N pages are decoded and
 *   checked but never written: SQLite writes page 1 whenever the size
 *   changes, and a checkpoint copies pages in ascending order, so a page
 *   past N in the file is either gone from the database or was written
 *   again after the page 1 it sees, by a frame of the snapshot's index,
 *   which the restore replays from offset 0.  The disk a snapshot takes
 *   is therefore at most N pages, whatever its body claims.
 *
 *   Frames.  Each WAL segment is verified (wal.h: header, salts, the
 *   checksum chain) before any of it is used.  A frame's page number is
 *   never used to size anything: the page map (pagemap.h) has an entry
 *   per page written.  A transaction may write a page past its commit's
 *   database size only when that page existed before it (SQLite writes a
 *   page out early when its cache spills, and a transaction that then
 *   shrinks the database, under auto_vacuum, cuts it off; SQLite ignores
 *   such a frame, and so does the restore); any other page past the
 *   commit's size is corruption naming the object and the frame.  For the
 *   first transaction replayed, the size before it is the snapshot's.
 *
 *   The database size of the last commit.  Every page of the restored
 *   database must come from the snapshot (its first min(N, file) pages)
 *   or from a frame, except the lock-byte page at 1 GiB, which SQLite
 *   never writes.  A commit that claims more pages than that is
 *   corruption naming it; the file is never extended over pages nothing
 *   wrote.
 *
 *   Records that bind the objects (layout.h, daemon.h).  Where the
 *   replica has them, walship's index records say where each index
 *   ended, with which checksum, and with which salts the next began;
 *   once an index is verified, its salts must be those of its records,
 *   and when the restore goes on past its end (into the next index, or
 *   to the end of it), its end and checksum those of the next index's
 *   records: a segment cut at an earlier commit, or an index taken from
 *   another database, would otherwise pass every other check.  Digest
 *   records give the SHA-256 of a walship snapshot's stored bytes, which
 *   are hashed as they arrive: a snapshot that matches none of its
 *   digest records is refused.  Without records (Litestream's replicas,
 *   older walships, a crash between an upload and its record) nothing
 *   is checked, as before.
 *
 *   Local writes.  A write to the target's directory that fails (ENOSPC,
 *   EDQUOT, EFBIG, EIO) fails the restore at once, naming the file; only
 *   downloads are retried.
 */
#include "ws/restore_int.h"
#include "ws/crashpt.h"
#include "ws/log.h"
#include "ws/rlock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- one replica after the other ---------------------------------------- */

/* The offset in its last index that a built plan reached (a commit's
 * end; for the end of an index, the last commit the WAL holds): the
 * position restored to. */
static uint64_t built_reach(const struct rs *rs)
{
    const struct ws_plan *p = rs->p;

    return p->offset != WS_POS_END ? p->offset
           : p->nsegs              ? rs->db_off
                                   : p->snap_safe;
}

/* What was restored, for the caller (ws_restore_result). */
static void result_fill(struct ws_restore_result *res, const struct rs *rs,
                        const struct ws_replica *r)
{
    const struct ws_plan *p = rs->p;

    memset(res, 0, sizeof(*res));
    snprintf(res->replica, sizeof(res->replica), "%s", r->cfg->name);
    memcpy(res->generation, p->g->name, sizeof(res->generation));
    res->index = p->index;
    res->offset = built_reach(rs);
    res->time_us = p->time_us;
    res->precise = p->precise;
    res->page_size = rs->page_size;
    res->pages = rs->final_pages;
}

/* Free what a build of rs allocated (its own fd, the file built, stays
 * open), and make rs ready for another build in the same file. */
static void rs_reset(struct rs *rs)
{
    struct rs keep = *rs;

    if (rs->spool >= 0)
        close(rs->spool);
    if (rs->carry_fd >= 0)
        close(rs->carry_fd);
    for (size_t k = 0; k < rs->n; k++) {
        free(rs->segs[k].wins);
        free(rs->segs[k].chunks);
        ws_lz4r_free(rs->segs[k].scan);
        ws_lz4r_free(rs->segs[k].peek);
    }
    free(rs->segs);
    ws_pagemap_free(&rs->map);
    ws_walv_free(&rs->v); /* an index left half-checked by an error */
    ws_lz4r_free(rs->slz);
    memset(rs, 0, sizeof(*rs));
    rs->fd = keep.fd;
    rs->dir = keep.dir;
    rs->base = keep.base;
    memcpy(rs->tmp, keep.tmp, sizeof(rs->tmp));
    rs->spool = rs->carry_fd = -1;
}

/* Build c's plan into rs->fd and check the result (everything but
 * publishing it).  A fallback (see below) carries no position over. */
static int attempt(struct rs *rs, const struct target *t,
                   const struct choice *c, struct ws_replica *const *reps,
                   size_t n, const struct ws_catalog *cats,
                   const struct ws_restore_opts *o, const char *fell_from,
                   struct finish *h, struct ws_err *err)
{
    int rc;

    ws_rplan_log(c, reps[c->ri], o);
    if (fell_from == NULL && ws_rfinish_carry_wanted(c, cats, n, o))
        ws_rfinish_carry_open(rs, t);
    else if (fell_from != NULL && !o->has_index && !o->no_carry &&
             c->plan.newest)
        ws_info("restore: position not carried over db=%s: replica %s "
                "failed its restore, and replicate must not continue a "
                "generation that holds a bad object; the next replicate "
                "starts a new generation", o->db, fell_from);
    rs->loop = reps[c->ri]->loop;
    rs->r = reps[c->ri];
    rs->p = &c->plan;
    rs->recs = &c->recs;
    rs->par = o->parallelism > 0 ? o->parallelism : 8;
    rc = ws_rapply_build(rs, err);
    if (rs->spool >= 0)
        close(rs->spool);
    rs->spool = -1;
    if (rc == WS_OK) {
        ws_rfinish_start(rs, h);
        rc = ws_rfinish_wait(rs, h, err);
    }
    return rc;
}

/* Where the plan of a replica that failed its restore reaches, by its
 * listing: its target, or for the end of an index (the listing gives
 * compressed sizes only), just past the start of its last WAL segment
 * there (*past set). */
static uint64_t listed_reach(const struct ws_plan *p, int *past)
{
    const struct ws_seginfo *ls;

    *past = 0;
    if (p->offset != WS_POS_END)
        return p->offset;
    if (p->nsegs == 0)
        return p->snap_safe;
    ls = &p->g->segs[p->seg0 + p->nsegs - 1];
    *past = 1;
    return ls->index == p->index ? ls->offset : 0;
}

/* "generation G position I:O (time, kind)", past O when past is set. */
static void pos_say(const struct ws_plan *p, uint64_t off, int past,
                    char *buf, size_t n)
{
    char t[40];

    ws_time_fmt(p->time_us, t, sizeof(t));
    snprintf(buf, n, "generation %s position %s%08x:%llu (%s, %s)",
             p->g->name, past ? "past " : "", p->index,
             (unsigned long long)off, t,
             p->precise ? "commit time" : "object time");
}

/* p's target, likewise ("I:end" for the end of an index). */
static void plan_say(const struct ws_plan *p, char *buf, size_t n)
{
    char t[40];

    if (p->offset != WS_POS_END) {
        pos_say(p, p->offset, 0, buf, n);
        return;
    }
    ws_time_fmt(p->time_us, t, sizeof(t));
    snprintf(buf, n, "generation %s position %08x:end (%s, %s)", p->g->name,
             p->index, t, p->precise ? "commit time" : "object time");
}

/* After a fallback's plan was built (rs), from another replica than the
 * one that failed first (plan a): say so when it restores an older
 * state than a listed (another generation, an earlier position, an
 * earlier recorded commit), with both.  It is then restored only
 * because nothing better is left. */
static void say_behind(const struct rs *rs, const struct ws_plan *a,
                       const char *aname)
{
    const struct ws_plan *b = rs->p;
    uint64_t eb = built_reach(rs), ea;
    int past, less;
    char x[200], y[200];

    ea = listed_reach(a, &past);
    if (strcmp(b->g->name, a->g->name) != 0)
        less = 1;
    else if (b->precise && a->precise && b->time_us < a->time_us)
        less = 1;
    else if (b->index != a->index)
        less = b->index < a->index;
    else
        less = past ? eb <= ea : eb < ea;
    if (!less)
        return;
    pos_say(b, eb, 0, x, sizeof(x));
    pos_say(a, ea, past, y, sizeof(y));
    ws_warn("restore: replica %s holds less than replica %s did db=%s: "
            "restoring %s, an older state than %s that replica %s listed, "
            "because no replica with more restores", rs->r->cfg->name,
            aname, rs->db, x, y, aname);
}

/* The error after every replica that had a plan failed it (fails[i],
 * code set, for the replicas whose out_of[i] is set), and `rest`, when
 * not NULL, why none of the others could be planned: one line naming
 * each, at most an even share of the line each; CORRUPT when any was. */
static int all_failed(struct ws_replica *const *reps, size_t n,
                      const char *out_of, const struct ws_err *fails,
                      size_t nfail, const struct ws_err *rest,
                      struct ws_err *err)
{
    char msg[WS_ERR_MSG];
    size_t k = 0, share = (WS_ERR_MSG - 64) / (nfail + (rest != NULL));
    int code = WS_EREMOTE;

    for (size_t i = 0; i < n; i++) {
        if (!out_of[i])
            continue;
        if (fails[i].code == WS_ECORRUPT)
            code = WS_ECORRUPT;
        if (k < sizeof(msg))
            k += (size_t)snprintf(msg + k, sizeof(msg) - k, "%sreplica %s: "
                                  "%.*s", k ? "; " : "", reps[i]->cfg->name,
                                  (int)share, fails[i].msg);
    }
    if (rest != NULL && k < sizeof(msg)) {
        if (rest->code == WS_ECORRUPT)
            code = WS_ECORRUPT;
        k += (size_t)snprintf(msg + k, sizeof(msg) - k, "; the other "
                              "replicas: %.*s", (int)share, rest->msg);
    }
    ws_err_set(err, code, "restore failed from every replica: %s", msg);
    return ws_err_at(err, WS_AT_REPLICA);
}

/*
 * Choose a plan (c) and restore it, falling back on the other replicas.
 * A replica whose objects fail their checks (CORRUPT: a bad LZ4 frame,
 * checksum, chain, record or integrity_check) or go missing (NOTFOUND)
 * while its plan is built, or whose generation cannot be planned for
 * damage (a hole in its WAL), does not end the restore when there are
 * other replicas: its failure is said in a WARN line naming it and the
 * object, the file built so far is emptied, and the best plan of the
 * other replicas for the same target is tried (choose, without the
 * replicas that failed), said in a WARN line with both positions; one
 * more WARN when that plan restored less than the first one listed (an
 * older generation, an earlier commit or position), since that older
 * state is restored only because nothing better is left.  A fallback
 * carries no position over (see attempt).  Any other failure (the
 * output's disk, the network after the retries, memory) ends the
 * restore as before: another replica would not help with it, or would
 * hide it.  When every replica with a plan failed, the error names each
 * (all_failed); when only one had a plan, its own error stands, and a
 * WARN says why no other could help.  With one replica (`-replica
 * NAME`, a URL) nothing changes.  WS_ENOTFOUND only when there is
 * nothing to restore (ws_restore).
 */
static int restore_any(struct rs *rs, const struct target *t,
                       struct choice *c, struct ws_replica *const *reps,
                       size_t n, const struct ws_catalog *cats,
                       const struct ws_restore_opts *o, struct finish *h,
                       struct ws_err *err)
{
    char *out_of = calloc(n, 1);
    struct ws_err *fails = calloc(n, sizeof(*fails));
    struct ws_plan first = {0};
    size_t first_ri = n, last = n, nfail = 0;
    const struct ws_geninfo *said = NULL; /* the oldest chosen */
    const char *fell_from = NULL;
    int rc = WS_OK, built = 0;

    if (out_of == NULL || fails == NULL)
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    while (rc == WS_OK) {
        struct ws_err e = {0};
        char a[200], b[200];
        size_t bad;
        int crc, past = 0;
        ws_tlist_free(&c->recs);
        memset(c, 0, sizeof(*c));
        crc = ws_rplan_choose(reps, n, o, cats, out_of, said, c, &bad, &e);
        if (crc == WS_ECORRUPT && bad < n && n > 1) {
            fails[bad] = e;
            out_of[bad] = 1;
            last = bad;
            nfail++;
            fell_from = reps[bad]->cfg->name;
            ws_warn("restore: replica %s cannot be restored, trying the "
                    "other replicas db=%s: %s", fell_from, o->db, e.msg);
            continue;
        }
        if (crc != WS_OK && (nfail == 0 || crc == WS_ENOMEM)) {
            *err = e;
            rc = crc;
        } else if (crc != WS_OK && nfail == 1) {
            ws_warn("restore: no other replica to fall back on db=%s: %s",
                    o->db,
                    crc == WS_ENOTFOUND ? "none holds a copy to restore"
                                        : e.msg);
            *err = fails[last];
            rc = err->code;
        } else if (crc != WS_OK) {
            rc = all_failed(reps, n, out_of, fails, nfail,
                            crc == WS_ENOTFOUND ? NULL : &e, err);
        }
        if (rc != WS_OK)
            break;
        if (said == NULL || ws_gen_cmp(c->plan.g, said) < 0)
            said = c->plan.g;
        if (first_ri == n) {
            first = c->plan;
            first_ri = c->ri;
        } else {
            pos_say(&first, listed_reach(&first, &past), past, a,
                    sizeof(a));
            plan_say(&c->plan, b, sizeof(b));
            ws_warn("restore: falling back to replica %s db=%s: %s; "
                    "replica %s listed %s", reps[c->ri]->cfg->name, o->db,
                    b, reps[first_ri]->cfg->name, a);
        }
        built = 1;
        rc = attempt(rs, t, c, reps, n, cats, o, fell_from, h, err);
        if (rc == WS_OK && first_ri != c->ri)
            say_behind(rs, &first, reps[first_ri]->cfg->name);
        if (n == 1 || (rc != WS_ECORRUPT && rc != WS_ENOTFOUND))
            break;
        fails[c->ri] = *err;
        fails[c->ri].code = rc;
        out_of[c->ri] = 1;
        last = c->ri;
        nfail++;
        fell_from = reps[c->ri]->cfg->name;
        ws_warn("restore: replica %s failed its restore, trying the other "
                "replicas db=%s: %s", fell_from, o->db, err->msg);
        rs_reset(rs);
        rc = WS_OK;
        if (ftruncate(rs->fd, 0) != 0)
            rc = ws_err_set(err, WS_EIO, "truncate %s: %s", rs->tmp,
                            strerror(errno));
    }
    /* From here "not found" is an object the listing showed and that
     * went away (retention, a hand): never "nothing to restore", which
     * a caller may answer with an empty start (boot.h). */
    if (rc == WS_ENOTFOUND && built)
        rc = err->code = WS_EREMOTE;
    free(out_of);
    free(fails);
    return rc;
}

int ws_restore(struct ws_replica *const *reps, size_t n,
               const struct ws_restore_opts *opts, struct ws_err *err)
{
    struct ws_catalog *cats = calloc(n ? n : 1, sizeof(*cats));
    struct ws_restore_opts oo = *opts;
    const struct ws_restore_opts *o = &oo;
    struct target t;
    struct choice c;
    struct rs rs;
    struct finish h;
    int rc = WS_OK;

    int *locks = calloc(n ? n : 1, sizeof(*locks));

    memset(&c, 0, sizeof(c));
    memset(&rs, 0, sizeof(rs));
    memset(&t, 0, sizeof(t));
    memset(&h, 0, sizeof(h));
    t.dir.fd = t.fd = t.sfd = -1;
    rs.fd = rs.spool = rs.carry_fd = -1;
    if (oo.db == NULL) /* the output; "-" for a -list without one */
        oo.db = oo.output != NULL ? oo.output : "-";
    rs.db = oo.db;
    if (cats == NULL || locks == NULL || n == 0) {
        free(cats);
        free(locks);
        return n == 0 ? ws_err_set(err, WS_EUSAGE, "no replica")
                      : ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        locks[i] = -1;
    /* The output is checked before any lock or request (target_check). */
    if (!o->list)
        rc = ws_rtarget_check(&t, o, err);
    if (rc != WS_OK)
        goto out;
    /* Retention by a walship on this machine deletes nothing while the
     * restore holds these (rlock.h). */
    for (size_t i = 0; i < n; i++) {
        struct ws_err e = {0};
        if (ws_rlock_acquire(reps[i]->cfg, 0, 1, &locks[i], &e) != WS_OK)
            ws_warn("restore: no local lock for db=%s replica=%s: %s",
                    o->db, reps[i]->cfg->name, e.msg);
    }
    if (o->list) {
        rc = ws_rplan_list_windows(reps, n, o, cats, err);
        goto out;
    }
    rc = ws_rtarget_tmp(&t, &rs, err);
    if (rc == WS_OK && !o->no_signals)
        ws_rtarget_signals_start(&t, reps[0]->loop);
    if (rc == WS_OK)
        rc = ws_rplan_list_all(reps, n, o->db, cats, err);
    if (rc == WS_OK)
        rc = restore_any(&rs, &t, &c, reps, n, cats, o, &h, err);
    if (rc == WS_OK) {
        ws_rtarget_signals_hold(&t);
        WS_CRASHPOINT("restore-before-publish");
        rc = ws_fs_tmp_publish(&t.dir, t.tmp, rs.fd, t.name, err);
        if (rc == WS_EEXIST)
            ws_err_set(err, rc, "cannot restore, output path already "
                       "exists: %s (made while restoring)", o->output);
        else if (rc != WS_OK)
            ws_err_wrap(err, "cannot restore to %s", o->output);
        if (rc != WS_OK)
            ws_err_at(err, WS_AT_DB);
        if (rc == WS_ECONFIG && ftruncate(rs.fd, 0) != 0)
            ws_warn("restore: truncate %s db=%s: %s", rs.tmp, o->db,
                    strerror(errno));
    }
    if (rc == WS_OK) {
        t.tmp[0] = '\0';
        rc = ws_fs_dir_fsync(&t.dir, err);
        /* Published, but a crash may lose the name: a restore that
         * fails leaves no output, so take it away again. */
        if (rc != WS_OK && ws_fs_is_ours(&t.dir, t.name, rs.fd) &&
            unlinkat(t.dir.fd, t.name, 0) == 0)
            ws_err_wrap(err, "cannot restore to %s (removed again)",
                        o->output);
        else if (rc != WS_OK)
            ws_err_wrap(err, "cannot restore to %s", o->output);
        if (rc != WS_OK)
            ws_err_at(err, WS_AT_DB);
    }
    if (rc == WS_OK && rs.carry)
        ws_rfinish_carry_install(&rs, &h, t.meta);
    if (rc == WS_OK)
        ws_info("restored in %lldms db=%s replica=%s generation=%s "
                "position=%08x:%llu", (long long)(ws_now_ms() - rs.t0),
                o->db, rs.r->cfg->name, c.plan.g->name, c.plan.index,
                (unsigned long long)built_reach(&rs));
    if (rc == WS_OK && o->result)
        result_fill(o->result, &rs, reps[c.ri]);
    ws_rtarget_unlink(&t);
    ws_rtarget_signals_stop(&t, reps[0]->loop, rc == WS_OK,
                            o->late_signal_to_caller);
    rs_reset(&rs);
    if (rs.fd >= 0)
        close(rs.fd);
out:
    for (size_t i = 0; i < n; i++)
        ws_rlock_release(locks[i]);
    free(locks);
    ws_tlist_free(&c.recs);
    for (size_t i = 0; i < n; i++)
        ws_catalog_free(&cats[i]);
    free(cats);
    ws_fs_dir_close(&t.dir);
    free(t.meta);
    return rc;
}
