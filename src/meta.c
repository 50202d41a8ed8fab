/*
 * meta.c: the meta directory (meta.h): its lock, the names of the
 * generation and shadow directories in it, and the restored and stopped
 * markers with their installation (meta.h has the argument for why
 * continuing from one is safe).
 */
#include "ws/meta.h"
#include "ws/db_int.h"
#include "ws/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define HASH_CHUNK (1024 * 1024)
/* The marker of each kind: its file name in the meta dir, its magic. */
static const char *const NAMES[] = {"restored", "stopped"};
static const char *const MAGICS[] = {"walship-restored 1",
                                     "walship-stopped 1"};
static const char *const WHAT[] = {"restore", "stop"};

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

int ws_resume_read(const struct ws_fs_dir *meta, enum ws_resume_kind kind,
                   struct ws_resume *r, struct ws_err *err)
{
    char gen[WS_GEN_LEN + 2], sum[WS_SHA256_HEX + 1], *text = NULL, tail;
    size_t ml = strlen(MAGICS[kind]);
    unsigned int index;
    uint64_t ws, ds;
    size_t len;
    int rc;

    rc = ws_fs_read_all_at(meta, NAMES[kind], 256, &text, &len, err);
    if (rc == WS_OK &&
        (len <= ml || memcmp(text, MAGICS[kind], ml) != 0 ||
         sscanf(text + ml, " %17s %8x %" SCNu64 " %" SCNu64 " %65s%c", gen,
                &index, &ws, &ds, sum, &tail) != 6 ||
         tail != '\n' || !ws_gen_valid(gen) ||
         strspn(sum, "0123456789abcdef") != 64 || sum[64] != '\0'))
        rc = ws_err_set(err, WS_ECORRUPT, "%s/%s: not a %s marker",
                        meta->path, NAMES[kind], WHAT[kind]);
    if (rc == WS_OK) {
        memcpy(r->gen, gen, WS_GEN_LEN + 1);
        r->index = index;
        r->wal_size = ws;
        r->db_size = ds;
        memcpy(r->sha256, sum, WS_SHA256_HEX);
    }
    free(text);
    return rc;
}

int ws_resume_remove(const struct ws_fs_dir *meta, enum ws_resume_kind kind,
                     struct ws_err *err)
{
    if (unlinkat(meta->fd, NAMES[kind], 0) == 0)
        return ws_fs_dir_fsync(meta, err);
    if (errno != ENOENT)
        return ws_err_set(err, WS_EIO, "remove %s/%s: %s", meta->path,
                          NAMES[kind], strerror(errno));
    return WS_OK;
}

int ws_resume_mark(const struct ws_fs_dir *meta, enum ws_resume_kind kind,
                   const struct ws_resume *r, struct ws_err *err)
{
    char line[256];
    int n = snprintf(line, sizeof(line),
                     "%s %s %08x %" PRIu64 " %" PRIu64 " %s\n", MAGICS[kind],
                     r->gen, r->index, r->wal_size, r->db_size, r->sha256);

    return ws_fs_write_atomic_at(meta, NAMES[kind], line, (size_t)n, 0600,
                                 NULL, err);
}

/* The locked part of ws_resume_write. */
static int install(const struct ws_fs_dir *meta, const struct ws_resume *r,
                   int shadow_fd, struct ws_err *err)
{
    struct ws_fs_dir wal = {-1, NULL};
    char rel[64], name[32], tmp[64], line[256];
    int fd = -1, rc, n;

    snprintf(rel, sizeof(rel), "generations/%s/wal", r->gen);
    snprintf(name, sizeof(name), "%08x.wal", r->index);
    /* Whatever an earlier life left here is not this database's. */
    rc = ws_resume_remove(meta, WS_RESUME_RESTORED, err);
    if (rc == WS_OK)
        rc = ws_resume_remove(meta, WS_RESUME_STOPPED, err);
    if (rc == WS_OK)
        rc = ws_fs_rm_rf_at(meta, "generations", err);
    if (rc == WS_OK)
        rc = ws_fs_dir_sub(&wal, meta, rel, WS_FS_CREATE, 0700, err);
    if (rc == WS_OK)
        rc = ws_fs_tmp_create(&wal, name, 0600, tmp, sizeof(tmp), &fd, err);
    if (rc == WS_OK) {
        rc = ws_fs_copy(shadow_fd, "the restored wal", fd, wal.path,
                        r->wal_size, err);
        if (rc != WS_OK)
            unlinkat(wal.fd, tmp, 0);
    }
    if (rc == WS_OK)
        rc = ws_fs_tmp_commit(&wal, tmp, fd, name, err);
    if (fd >= 0)
        close(fd);
    ws_fs_dir_close(&wal);
    if (rc == WS_OK)
        rc = ws_resume_mark(meta, WS_RESUME_RESTORED, r, err);
    n = snprintf(line, sizeof(line), "%s\n", r->gen);
    if (rc == WS_OK)
        rc = ws_fs_write_atomic_at(meta, "generation", line, (size_t)n, 0600,
                                   NULL, err);
    return rc;
}

int ws_resume_write(const struct ws_fs_dir *meta, const struct ws_resume *r,
                    int shadow_fd, struct ws_err *err)
{
    int fd = -1, rc;

    rc = ws_fs_lock_open(meta, "lock", &fd, err);
    /* The same lock a running replicate holds (ws_dbi_take_meta_lock). */
    if (rc == WS_OK && flock(fd, LOCK_EX | LOCK_NB) != 0)
        rc = ws_err_set(err, WS_EBUSY, "%s/lock is held: a walship is "
                        "replicating this path", meta->path);
    if (rc == WS_OK)
        rc = install(meta, r, shadow_fd, err);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* ---- the replicating database's meta dir ---------------------------- */

char *ws_db_shadow_path(const struct ws_db *db, const char *gen,
                        uint32_t index)
{
    char rel[128];

    snprintf(rel, sizeof(rel), "generations/%s/wal/%08x.wal", gen, index);
    return ws_path_join(db->meta, rel);
}

/* Open gen's shadow directory, generations/<gen>/wal under the meta dir
 * (fs.h: one component at a time, no links). */
int ws_dbi_wal_dir(struct ws_db *db, const char *gen, int flags,
                   struct ws_fs_dir *d, struct ws_err *err)
{
    char rel[64];

    snprintf(rel, sizeof(rel), "generations/%s/wal", gen);
    return ws_fs_dir_sub(d, &db->meta_dir, rel, flags, 0700, err);
}

void ws_dbi_shadow_name(uint32_t index, char name[16])
{
    snprintf(name, 16, "%08x.wal", index);
}

int ws_db_shadow_open(const struct ws_db *db, const char *gen,
                      uint32_t index, int *fd, struct ws_err *err)
{
    struct ws_fs_dir wal;
    char rel[64], name[16];
    int f, rc;

    snprintf(rel, sizeof(rel), "generations/%s/wal", gen);
    ws_dbi_shadow_name(index, name);
    rc = ws_fs_dir_sub(&wal, &db->meta_dir, rel, 0, 0, err);
    if (rc == WS_OK) {
        f = openat(wal.fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (f >= 0)
            *fd = f;
        else if (errno == ENOENT)
            rc = ws_err_set(err, WS_ENOTFOUND, "%s/%s: not found", wal.path,
                            name);
        else
            rc = ws_err_set(err, WS_EIO, "open %s/%s: %s", wal.path, name,
                            strerror(errno));
    }
    ws_fs_dir_close(&wal);
    return rc;
}

/* opendir of d's own descriptor (a duplicate); NULL on failure. */
static DIR *dir_list(const struct ws_fs_dir *d)
{
    int fd = fcntl(d->fd, F_DUPFD_CLOEXEC, 0);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;

    if (dir == NULL && fd >= 0)
        close(fd);
    return dir;
}

int ws_dbi_remove_other_gens(struct ws_db *db, struct ws_err *err)
{
    struct ws_fs_dir gens;
    struct dirent *de;
    DIR *d;
    int rc = ws_fs_dir_sub(&gens, &db->meta_dir, "generations", 0, 0, err);

    if (rc == WS_ENOTFOUND)
        return WS_OK;
    d = rc == WS_OK ? dir_list(&gens) : NULL;
    while (d && rc == WS_OK && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, db->gen) == 0)
            continue;
        rc = ws_fs_rm_rf_at(&gens, de->d_name, err);
    }
    if (d)
        closedir(d);
    ws_fs_dir_close(&gens);
    return rc;
}

/* Highest shadow index present for gen; WS_ENOTFOUND when none. */
int ws_dbi_highest_index(struct ws_db *db, uint32_t *out, struct ws_err *err)
{
    struct ws_fs_dir wal;
    struct dirent *de;
    int found = 0;
    DIR *d = NULL;

    if (ws_dbi_wal_dir(db, db->gen, 0, &wal, err) == WS_OK) {
        ws_fs_sweep_tmp(&wal); /* a shadow file never published */
        d = dir_list(&wal);
    }
    ws_fs_dir_close(&wal);
    while (d && (de = readdir(d)) != NULL) {
        unsigned int v;
        char tail[8];
        if (strlen(de->d_name) != 12 ||
            sscanf(de->d_name, "%8x%7s", &v, tail) != 2 ||
            strcmp(tail, ".wal") != 0)
            continue;
        if (!found || v > *out)
            *out = v;
        found = 1;
    }
    if (d)
        closedir(d);
    return found ? WS_OK : WS_ENOTFOUND;
}

int ws_dbi_take_meta_lock(struct ws_db *db, struct ws_err *err)
{
    int rc;

    if (db->lock_fd >= 0)
        return WS_OK;
    /* The meta dir is checked once and then only used through its
     * descriptor (fs.h). */
    if (db->meta_dir.fd < 0) {
        rc = ws_fs_dir_open(&db->meta_dir, db->meta,
                            WS_FS_CREATE | WS_FS_NOFOLLOW, 0700,
                            &db->meta_made, err);
        if (rc != WS_OK)
            return rc == WS_ENOTFOUND ? WS_EIO : rc;
    }
    rc = ws_fs_lock_open(&db->meta_dir, "lock", &db->lock_fd, err);
    if (rc != WS_OK)
        return rc == WS_ENOTFOUND ? WS_EIO : rc;
    if (flock(db->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        close(db->lock_fd);
        db->lock_fd = -1;
        return ws_err_set(err, WS_ECONFIG,
                          "%s: another walship is replicating this database "
                          "(lock %s/lock is held)",
                          db->cfg->path, db->meta);
    }
    /* A walship killed while it wrote a marker (a second signal exits
     * at once) left its temporary file; nothing else writes here now. */
    ws_fs_sweep_tmp(&db->meta_dir);
    return WS_OK;
}

/* The database could not be opened (not a database, unreadable) by the
 * init that made the meta dir: remove the dir and its lock, so that a
 * file walship never replicated is left as it was found.  Its parents,
 * if made too, stay. */
void ws_dbi_undo_meta(struct ws_db *db)
{
    if (!db->meta_made)
        return;
    db->meta_made = 0;
    if (db->meta_dir.fd >= 0)
        (void)unlinkat(db->meta_dir.fd, "lock", 0);
    if (db->lock_fd >= 0)
        close(db->lock_fd);
    db->lock_fd = -1;
    ws_fs_dir_close(&db->meta_dir);
    (void)rmdir(db->meta);
}

/* ---- the database file's identity ------------------------------------ */

/*
 * `database` in the meta dir: "<st_dev> <st_ino>\n" of the database file
 * walship last replicated; only the inode is compared (a device number
 * may change across a reboot or a remount, the inode of a file does not
 * while it stays on its filesystem, and the file moved over another was
 * made beside it, so it has its own).  A file moved over the database while
 * walship was stopped meets the -wal walship's last connection left
 * (PERSIST_WAL keeps it), and SQLite applies the -wal it finds beside a
 * database to that database: the old file's pages over the new one.  A
 * -wal of the current shadow index (the same salts) beside a file that
 * is not the one recorded is that case; walship then opens nothing and
 * says what to do, since emptying it would lose the frames of a copy of
 * the same file moved into place.  A restore's marker vouches for its
 * own file.
 */
#define ID_NAME "database"

/* The -wal beside the database holds the header of shadow index
 * `index` of generation gen: 1, else 0. */
static int wal_is_shadows(struct ws_db *db, const char *gen, uint32_t index)
{
    uint8_t a[WS_WAL_HDR_SIZE], b[WS_WAL_HDR_SIZE];
    size_t ga = 0, gb = 0;
    int wal, fd = -1, same;

    wal = ws_db_wal_open(db);
    if (wal < 0)
        return 0;
    same = ws_fs_pread(wal, a, sizeof(a), 0, &ga, NULL) == WS_OK &&
           ga == sizeof(a) &&
           ws_db_shadow_open(db, gen, index, &fd, NULL) == WS_OK &&
           ws_fs_pread(fd, b, sizeof(b), 0, &gb, NULL) == WS_OK &&
           gb == sizeof(b) && memcmp(a + 16, b + 16, 8) == 0;
    close(wal);
    if (fd >= 0)
        close(fd);
    return same;
}

/* Another file than the one recorded, which may be opened: the next
 * generation says so. */
static int replaced(struct ws_db *db)
{
    if (!db->pending[0])
        snprintf(db->pending, sizeof(db->pending),
                 "database replaced while walship was stopped");
    return WS_OK;
}

int ws_dbi_check_identity(struct ws_db *db, struct ws_err *err)
{
    unsigned long long dev, ino;
    char *text = NULL, gen[WS_GEN_LEN + 1];
    struct ws_resume r;
    struct stat sb;
    size_t len;
    uint32_t index;
    int rc, n;

    rc = ws_fs_read_all_at(&db->meta_dir, ID_NAME, 64, &text, &len, NULL);
    n = rc == WS_OK ? sscanf(text, "%llu %llu", &dev, &ino) : 0;
    free(text);
    (void)dev;
    if (n != 2 || lstat(db->cfg->path, &sb) != 0 ||
        (unsigned long long)sb.st_ino == ino)
        return WS_OK;
    if (ws_resume_read(&db->meta_dir, WS_RESUME_RESTORED, &r, NULL) == WS_OK)
        return WS_OK; /* the restore's proof is about this file */
    /* Which shadow index the last run ended in. */
    rc = ws_fs_read_all_at(&db->meta_dir, "generation", 64, &text, &len,
                           NULL);
    if (rc != WS_OK || len < WS_GEN_LEN) {
        free(text);
        return replaced(db);
    }
    memcpy(gen, text, WS_GEN_LEN);
    gen[WS_GEN_LEN] = '\0';
    free(text);
    memcpy(db->gen, gen, sizeof(gen));
    rc = ws_gen_valid(gen) ? ws_dbi_highest_index(db, &index, NULL)
                           : WS_ENOTFOUND;
    db->gen[0] = '\0';
    if (rc != WS_OK || !wal_is_shadows(db, gen, index))
        return replaced(db);
    return ws_err_set(err, WS_EBUSY,
                      "the database file is not the one walship last "
                      "replicated, and its -wal is the WAL walship last "
                      "shipped: SQLite would apply it to this file.  If "
                      "another database was moved there, remove its -wal "
                      "and -shm with every connection closed; if it is the "
                      "same database (a copy put back with its -wal), "
                      "remove %s/" ID_NAME, db->meta);
}

void ws_dbi_record_identity(struct ws_db *db)
{
    char line[64], *text = NULL;
    struct stat sb;
    size_t len = 0;
    int n;

    if (db->db_fd < 0 || fstat(db->db_fd, &sb) != 0)
        return;
    n = snprintf(line, sizeof(line), "%llu %llu\n",
                 (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino);
    if (ws_fs_read_all_at(&db->meta_dir, ID_NAME, 64, &text, &len, NULL) ==
            WS_OK &&
        len == (size_t)n && memcmp(text, line, len) == 0) {
        free(text);
        return;
    }
    free(text);
    (void)ws_fs_write_atomic_at(&db->meta_dir, ID_NAME, line, (size_t)n,
                                0600, NULL, NULL);
}
