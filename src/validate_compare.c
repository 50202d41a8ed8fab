/*
 * validate_compare.c: a drill's restores and their comparison with the
 * database (validate.h has the drill; validate_int.h the rooms).
 *
 * Once every replica of the drill has shipped P, the restore thread
 * restores each to exactly P (restore.h's exact target: the generation,
 * index and offset) into the drill's directory, and compares it with the
 * live copy that validate_probe.c made at P, page by page.  Facts it
 * relies on:
 *
 *   - restore.h verifies every object on the way (the LZ4 frames, the
 *     WAL checksum chain, the records that bind the generation's
 *     objects, the snapshot's digest) and runs PRAGMA integrity_check;
 *     it fails with WS_ECORRUPT when the replica is corrupt, and with
 *     another code when it could not be read.  The first is a failed
 *     drill, the second a drill not completed: a replica out of reach
 *     is not a replica that lies.
 *   - The restore writes the newest frame of each page up to P over the
 *     snapshot and cuts the file to the database size of P's commit
 *     frame, the page images the probe's read saw (validate_probe.c).
 *     So a sound replica gives the copy byte for byte; any page that
 *     differs, or is on one side only, is a failure, and nothing is
 *     masked.  The restored position is checked too: a restore that
 *     stops short of P, which the replica said it had shipped, is
 *     corrupt.
 *   - The restore runs on this thread with a loop and replica clients
 *     of its own (ws_cli_replicas_open), no signal handlers (no_signals:
 *     the daemon's loop has them) and no position carried over
 *     (no_carry); the loop touches nothing the thread writes until the
 *     thread has sent `async` and been joined.
 *
 * ws_vali_pages_of serves `walship verify` too (verify.c), with no live
 * copy: it then only hashes and checks that the file is whole pages.
 */
#include "ws/validate_int.h"

#include "ws/cli.h"
#include "ws/log.h"
#include "ws/plan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the pages of two files ------------------------------------------- */

/* Hash fd's pages (page size ps) into p and, when live >= 0, compare
 * them with live's. */
int ws_vali_pages_of(int fd, int live, uint32_t ps, const char *name,
                     struct ws_vali_pages *p, struct ws_err *err)
{
    uint8_t *a = malloc(ps), *b = malloc(ps);
    struct ws_sha256 h;
    uint64_t off = 0;
    int rc = WS_OK;

    memset(p, 0, sizeof(*p));
    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    }
    ws_sha256_init(&h);
    for (uint32_t pg = 1;; pg++, off += ps) {
        size_t got = 0, got2 = 0;
        rc = ws_fs_pread(fd, a, ps, off, &got, err);
        if (rc == WS_OK && live >= 0)
            rc = ws_fs_pread(live, b, ps, off, &got2, err);
        if (rc != WS_OK)
            break;
        if (got == 0 && got2 == 0)
            break;
        if (got > 0 && got < ps) {
            rc = ws_err_set(err, WS_ECORRUPT, "%s: %llu bytes, not a whole "
                            "number of %u-byte pages", name,
                            (unsigned long long)(off + got), ps);
            break;
        }
        ws_sha256_update(&h, a, got);
        p->size += got;
        if (live >= 0 && (got != got2 || memcmp(a, b, got) != 0)) {
            if (p->first == 0)
                p->first = pg;
            p->ndiff++;
        }
    }
    ws_sha256_final(&h, p->sha);
    free(a);
    free(b);
    return rc;
}

void ws_vali_sha_hex(const uint8_t *sha, char out[2 * WS_SHA256_LEN + 1])
{
    ws_hex(sha, WS_SHA256_LEN, out);
}

void ws_vali_pos_str(uint32_t index, uint64_t offset, char *buf, size_t n)
{
    snprintf(buf, n, "%08x:%llu", index, (unsigned long long)offset);
}

/* ---- the restores, compared --------------------------------------------- */

/* The restore thread: each replica of the drill restored to exactly P
 * and compared with the live copy. */
void ws_vali_restore_thread(void *arg)
{
    struct ws_validator *v = arg;

    for (size_t k = 0; k < v->cfg->nreplicas; k++) {
        struct vrep *r = &v->reps[k];
        struct ws_restore_opts ro;
        struct ws_cli_replicas reps;
        char out[4300], meta[4300];
        int fd;

        if (!r->sel || r->res != WS_VALID_NONE)
            continue;
        snprintf(r->file, sizeof(r->file), "restored-%zu.db", k);
        if ((size_t)snprintf(out, sizeof(out), "%s/%s", v->run.path,
                             r->file) >= sizeof(out) ||
            (size_t)snprintf(meta, sizeof(meta), "%s/restored-%zu.meta",
                             v->run.path, k) >= sizeof(meta)) {
            r->rc = ws_err_set(&r->err, WS_EUSAGE, "meta dir path too "
                               "long: %s", v->run.path);
            r->res = WS_VALID_INCOMPLETE;
            continue;
        }
        memset(&ro, 0, sizeof(ro));
        ro.output = out;
        ro.db = v->cfg->path;
        ro.meta = meta;
        ro.generation = v->gen;
        ro.has_index = ro.has_offset = 1;
        ro.index = v->index;
        ro.offset = v->offset;
        ro.parallelism = 2;
        ro.no_signals = 1;
        ro.no_carry = 1;
        ro.result = &r->rr;
        r->rc = ws_cli_replicas_open(&reps, v->cfg, v->cfg->replicas[k].name,
                                     &r->err);
        if (r->rc == WS_OK)
            r->rc = ws_restore(reps.v, reps.n, &ro, &r->err);
        ws_cli_replicas_close(&reps);
        if (r->rc == WS_OK &&
            (strcmp(r->rr.generation, v->gen) != 0 ||
             r->rr.index != v->index || r->rr.offset != v->offset)) {
            char a[40], b[40];
            ws_vali_pos_str(r->rr.index, r->rr.offset, a, sizeof(a));
            ws_vali_pos_str(v->index, v->offset, b, sizeof(b));
            r->rc = ws_err_set(&r->err, WS_ECORRUPT, "the replica restores "
                               "generation %s to %s only, short of %s, "
                               "which it has shipped", r->rr.generation, a,
                               b);
        }
        if (r->rc == WS_OK) {
            fd = openat(v->run.fd, r->file, O_RDONLY | O_NOFOLLOW |
                                            O_CLOEXEC);
            if (fd < 0)
                r->rc = ws_err_set(&r->err, WS_EIO, "open %s: %s", out,
                                   strerror(errno));
            else
                r->rc = ws_vali_pages_of(fd, v->live_fd, v->page_size, out,
                                         &r->pg, &r->err);
            if (fd >= 0)
                close(fd);
        }
        if (r->rc == WS_OK && (r->pg.ndiff > 0 ||
                               memcmp(r->pg.sha, v->live_sha,
                                      WS_SHA256_LEN) != 0))
            r->res = WS_VALID_FAILED;
        else if (r->rc == WS_OK)
            r->res = WS_VALID_OK;
        else
            r->res = r->rc == WS_ECORRUPT ? WS_VALID_FAILED
                                          : WS_VALID_INCOMPLETE;
    }
    uv_async_send(&v->async);
}

/* Log each replica's outcome; the drill's result and a summary. */
enum ws_valid_result ws_vali_report(struct ws_validator *v, char *sum,
                                    size_t n)
{
    enum ws_valid_result all = WS_VALID_OK;
    char at[40], t[40], hex[2 * WS_SHA256_LEN + 1];
    char rh[2 * WS_SHA256_LEN + 1];
    size_t used = 0;

    if (v->gen[0] == '\0')
        snprintf(at, sizeof(at), "none (not read yet)");
    else
        ws_vali_pos_str(v->index, v->offset, at, sizeof(at));
    ws_time_fmt(v->probe_wall_ms * 1000, t, sizeof(t));
    ws_vali_sha_hex(v->live_sha, hex);
    sum[0] = '\0';
    for (size_t k = 0; k < v->cfg->nreplicas; k++) {
        struct vrep *r = &v->reps[k];
        const char *name = v->cfg->replicas[k].name;
        char line[WS_ERR_MSG + 256];
        if (!r->sel)
            continue;
        if (r->res == WS_VALID_OK) {
            snprintf(line, sizeof(line), "replica=%s ok", name);
            ws_info("validation ok db=%s replica=%s generation=%s "
                    "position=%s read_at=%s pages=%u sha256=%s: the "
                    "restored database equals the database at that "
                    "transaction",
                    v->cfg->path, name, v->gen, at, t, v->live_pages, hex);
        } else if (r->res == WS_VALID_FAILED && r->rc == WS_OK) {
            ws_vali_sha_hex(r->pg.sha, rh);
            snprintf(line, sizeof(line), "replica=%s FAILED: %u pages "
                     "differ, the first page %u", name, r->pg.ndiff,
                     r->pg.first);
            ws_error("validation FAILED db=%s replica=%s generation=%s "
                     "position=%s: the restored database differs from the "
                     "database at that transaction (read at %s): %u pages "
                     "differ, the first page %u (live: %u pages sha256=%s; "
                     "restored: %llu bytes sha256=%s)",
                     v->cfg->path, name, v->gen, at, t, r->pg.ndiff,
                     r->pg.first, v->live_pages, hex,
                     (unsigned long long)r->pg.size, rh);
        } else if (r->res == WS_VALID_FAILED) {
            snprintf(line, sizeof(line), "replica=%s FAILED: %s", name,
                     r->err.msg);
            ws_error("validation FAILED db=%s replica=%s generation=%s "
                     "position=%s: the replica does not restore: %s",
                     v->cfg->path, name, v->gen, at, r->err.msg);
        } else {
            snprintf(line, sizeof(line), "replica=%s not compared: %s",
                     name, r->err.msg);
            ws_warn("validation not completed db=%s replica=%s "
                    "generation=%s position=%s: %s", v->cfg->path, name,
                    v->gen, at, r->err.msg);
        }
        if (r->res == WS_VALID_FAILED)
            all = WS_VALID_FAILED;
        else if (r->res != WS_VALID_OK && all == WS_VALID_OK)
            all = WS_VALID_INCOMPLETE;
        if (used < n)
            used += (size_t)snprintf(sum + used, n - used, "%s%s",
                                     used ? "; " : "", line);
    }
    return all;
}

