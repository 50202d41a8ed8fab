/*
 * resume.c: the restored-position marker and its installation (resume.h
 * has the argument for why continuing is safe).
 */
#include "ws/resume.h"
#include "ws/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define HASH_CHUNK (1024 * 1024)
#define MARKER "restored"
#define MAGIC "walship-restored 1"

char *ws_meta_path(const char *db_path)
{
    const char *slash = strrchr(db_path, '/');
    size_t dl = slash ? (size_t)(slash - db_path) + 1 : 0;
    const char *base = db_path + dl;
    size_t n = dl + 1 + strlen(base) + sizeof("-walship");
    char *p = malloc(n);

    if (p != NULL)
        snprintf(p, n, "%.*s.%s-walship", (int)dl, db_path, base);
    return p;
}

int ws_resume_hash(int fd, uint64_t *size, char out[WS_SHA256_HEX],
                   struct ws_err *err)
{
    struct ws_sha256 md;
    uint8_t d[WS_SHA256_LEN];
    uint8_t *buf = malloc(HASH_CHUNK);
    uint64_t off = 0;
    int rc = WS_OK;

    if (buf == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    ws_sha256_init(&md);
    while (rc == WS_OK) {
        size_t got = 0;
        rc = ws_fs_pread(fd, buf, HASH_CHUNK, off, &got, err);
        if (rc == WS_OK)
            ws_sha256_update(&md, buf, got);
        off += got;
        if (rc == WS_OK && got < HASH_CHUNK)
            break;
    }
    ws_sha256_final(&md, d);
    if (rc == WS_OK) {
        ws_hex(d, sizeof(d), out);
        *size = off;
    }
    free(buf);
    return rc;
}

int ws_resume_read(const char *meta, struct ws_resume *r, struct ws_err *err)
{
    char *path = ws_path_join(meta, MARKER), *text = NULL, tail;
    char gen[WS_GEN_LEN + 2], sum[WS_SHA256_HEX + 1];
    unsigned int index;
    uint64_t ws, ds;
    size_t len;
    int rc;

    if (path == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = ws_fs_read_all(path, 256, &text, &len, err);
    if (rc == WS_OK &&
        (sscanf(text, MAGIC " %17s %8x %" SCNu64 " %" SCNu64 " %65s%c", gen,
                &index, &ws, &ds, sum, &tail) != 6 ||
         tail != '\n' || !ws_gen_valid(gen) ||
         strspn(sum, "0123456789abcdef") != 64 || sum[64] != '\0'))
        rc = ws_err_set(err, WS_ECORRUPT, "%s: not a restore marker", path);
    if (rc == WS_OK) {
        memcpy(r->gen, gen, WS_GEN_LEN + 1);
        r->index = index;
        r->wal_size = ws;
        r->db_size = ds;
        memcpy(r->sha256, sum, WS_SHA256_HEX);
    }
    free(text);
    free(path);
    return rc;
}

int ws_resume_remove(const char *meta, struct ws_err *err)
{
    char *path = ws_path_join(meta, MARKER);
    int rc = WS_OK;

    if (path == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    if (unlink(path) == 0)
        rc = ws_fs_fsync_dir(meta, err);
    else if (errno != ENOENT)
        rc = ws_err_set(err, WS_EIO, "remove %s: %s", path, strerror(errno));
    free(path);
    return rc;
}

/* The locked part of ws_resume_write. */
static int install(const char *meta, const struct ws_resume *r,
                   const char *shadow_tmp, struct ws_err *err)
{
    char rel[128], line[256];
    char *gens = ws_path_join(meta, "generations"), *dir = NULL,
         *shadow = NULL, *marker = ws_path_join(meta, MARKER),
         *genfile = ws_path_join(meta, "generation");
    int rc = WS_OK, n;

    snprintf(rel, sizeof(rel), "generations/%s/wal", r->gen);
    dir = ws_path_join(meta, rel);
    snprintf(rel, sizeof(rel), "generations/%s/wal/%08x.wal", r->gen,
             r->index);
    shadow = ws_path_join(meta, rel);
    if (gens == NULL || dir == NULL || shadow == NULL || marker == NULL ||
        genfile == NULL)
        rc = ws_err_set(err, WS_ENOMEM, "out of memory");
    /* Whatever an earlier life left here is not this database's. */
    if (rc == WS_OK)
        rc = ws_resume_remove(meta, err);
    if (rc == WS_OK)
        rc = ws_fs_rm_rf(gens, err);
    if (rc == WS_OK)
        rc = ws_fs_mkdir_p(dir, 0700, err);
    if (rc == WS_OK && rename(shadow_tmp, shadow) != 0)
        rc = ws_err_set(err, WS_EIO, "rename %s: %s", shadow,
                        strerror(errno));
    if (rc == WS_OK)
        rc = ws_fs_fsync_dir(dir, err);
    n = snprintf(line, sizeof(line),
                 MAGIC " %s %08x %" PRIu64 " %" PRIu64 " %s\n", r->gen,
                 r->index, r->wal_size, r->db_size, r->sha256);
    if (rc == WS_OK)
        rc = ws_fs_write_atomic(marker, line, (size_t)n, 0600, err);
    n = snprintf(line, sizeof(line), "%s\n", r->gen);
    if (rc == WS_OK)
        rc = ws_fs_write_atomic(genfile, line, (size_t)n, 0600, err);
    free(gens);
    free(dir);
    free(shadow);
    free(marker);
    free(genfile);
    return rc;
}

int ws_resume_write(const char *meta, const struct ws_resume *r,
                    const char *shadow_tmp, struct ws_err *err)
{
    char *lock = ws_path_join(meta, "lock");
    int fd = -1, rc;

    if (lock == NULL)
        return ws_err_set(err, WS_ENOMEM, "out of memory");
    rc = ws_fs_mkdir_p(meta, 0700, err);
    if (rc == WS_OK) {
        fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            rc = ws_err_set(err, WS_EIO, "open %s: %s", lock,
                            strerror(errno));
    }
    /* The same lock a running replicate holds (db.c take_meta_lock). */
    if (rc == WS_OK && flock(fd, LOCK_EX | LOCK_NB) != 0)
        rc = ws_err_set(err, WS_EBUSY, "%s is held: a walship is "
                        "replicating this path", lock);
    if (rc == WS_OK)
        rc = install(meta, r, shadow_tmp, err);
    if (fd >= 0)
        close(fd);
    free(lock);
    return rc;
}
