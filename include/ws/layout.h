/*
 * layout.h: the names of replica objects and the catalog built from a
 * listing (Litestream v0.3's names, and walship's own).  Pure: no I/O.
 *
 * Keys are relative to the replica root:
 *     generations/<gen>/snapshots/<index hex8>.snapshot.lz4
 *     generations/<gen>/wal/<index hex8>_<offset hex8>.wal.lz4
 *     generations/<gen>/walship/times/<index hex8>_<offset hex8>_
 *         <time hex16>-<last index hex8>_<count hex8>.times.lz4
 *     generations/<gen>/walship/snapshots/<index hex8>_<offset hex8>_
 *         <time hex16>.image.lz4          (walship's own, see times.h)
 *     generations/<gen>/walship/snapshots/<index hex8>_<offset hex8>_
 *         <time hex16>.times.lz4          (the same, earlier kind)
 *     generations/<gen>/walship/index/<index hex8>_<size hex16>_
 *         <cksum hex16>_<salts hex16>.index.lz4   (an index record)
 *     generations/<gen>/walship/snapshots/<index hex8>_<offset hex8>_
 *         <time hex16>-<sha256 hex64>.digest.lz4  (a digest record)
 * A generation name is exactly 16 lowercase hex digits.  Index and offset
 * are written with %08x and parsed from exactly 8 hex digits; other names
 * (temporary files, walship's future extra objects) are not data objects
 * and the catalog counts them as "other" rather than dropping them
 * silently.
 *
 * The two records bind a generation's objects together; what they say,
 * when they are written and why a crash between uploads leaves nothing a
 * reader misreads is in daemon.h.  An index record of WAL index I (I >=
 * 1) gives the final size in bytes of index I - 1 (`size`), its final
 * cumulative checksum (`cksum`: the last frame's checksum pair, or the
 * WAL header's when it has no frame, the first word in the high 32 bits)
 * and the salts of index I's WAL header (`salts`: salt-1 in the high 32
 * bits).  A digest record gives the SHA-256 of the stored bytes of the
 * snapshot of `index`, and names the image record (times.h) of that
 * snapshot by its position and time.  Their bodies are empty LZ4 frames:
 * the name is the record, so a restore reads them from the listing.
 *
 * A catalog groups a listing by generation, with snapshots sorted by
 * index and segments by (index, offset), and each generation's first and
 * last object times.
 */
#ifndef WS_LAYOUT_H
#define WS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "ws/err.h"

#define WS_GEN_LEN 16
#define WS_KEY_MAX 512
#define WS_MAX_INDEX 0x7fffffffu
#define WS_POS_END UINT64_MAX /* "every frame of the index" */

enum ws_objkind {
    WS_OBJ_OTHER,
    WS_OBJ_SNAPSHOT,
    WS_OBJ_WAL,
    WS_OBJ_TIMES,
    WS_OBJ_INDEX,  /* an index record */
    WS_OBJ_DIGEST  /* a snapshot digest record */
};

/* One listed object. */
struct ws_obj {
    char *key;         /* relative to the replica root; owned */
    uint64_t size;     /* stored (compressed) bytes */
    int64_t mtime_ms;  /* object time, ms since the epoch (UTC) */
};

/* A growable list of objects, of at most WS_LIST_MAX_KEYS: about 110
 * bytes each, so 1.1 GB at the bound.  That is about 115 days of one WAL
 * segment a second under one replica; a listing beyond it is refused
 * rather than let memory grow with whatever a store sends. */
struct ws_objlist {
    struct ws_obj *v;
    size_t n, cap;
    size_t max; /* the bound; 0: WS_LIST_MAX_KEYS (tests set less) */
    /* Entries the listing passed over that could hide objects (a
     * directory replica's symbolic links, FIFOs, ...): how many, and
     * the first, with what it is ("generations/x (a symbolic link)"). */
    size_t nskipped;
    char skipped[WS_KEY_MAX + 32];
};

#define WS_LIST_MAX_KEYS 10000000

/* Append a copy of key.  WS_ERANGE when l is at its bound, WS_ENOMEM;
 * l is unchanged on failure. */
int ws_objlist_add(struct ws_objlist *l, const char *key, uint64_t size,
                   int64_t mtime_ms);
void ws_objlist_free(struct ws_objlist *l);

/* Count an entry the listing passed over: key, and what it is. */
void ws_objlist_skip(struct ws_objlist *l, const char *key,
                     const char *what);

struct ws_snapinfo {
    uint32_t index;
    uint64_t size;
    int64_t mtime_ms;
};

struct ws_seginfo {
    uint32_t index;
    uint64_t offset;
    uint64_t size;
    int64_t mtime_ms;
};

/* A times object (times.h), described by its name alone: the first
 * record's position and time, the last record's index and the number of
 * records; or, for a snapshot's record, that record. */
struct ws_timesinfo {
    int snapshot;           /* 1: a snapshot's record (count 1) */
    int image;              /* 1: ...of the consistent-image kind */
    uint32_t index;
    uint64_t offset;
    int64_t time_us;
    uint32_t last_index;
    uint32_t count;
    uint64_t size;
    int64_t mtime_ms;
};

/* An index record, described by its name alone: WAL index `index` (>= 1)
 * follows index - 1 whole. */
struct ws_idxinfo {
    uint32_t index;
    uint64_t prev_size;       /* index - 1 ends at this offset, */
    uint32_t prev_cksum[2];   /* with this cumulative checksum */
    uint32_t salt1, salt2;    /* index's WAL header salts */
    uint64_t size;
    int64_t mtime_ms;
};

#define WS_DIGEST_LEN 32 /* a SHA-256 (digest.h) */

/* A snapshot digest record, described by its name alone. */
struct ws_diginfo {
    uint32_t index;           /* the snapshot's index */
    uint64_t offset;          /* its image record's position */
    int64_t time_us;          /* ...and time */
    uint8_t sha256[WS_DIGEST_LEN]; /* of the snapshot's stored bytes */
    uint64_t size;
    int64_t mtime_ms;
};

struct ws_geninfo {
    char name[WS_GEN_LEN + 1];
    struct ws_snapinfo *snaps;  /* sorted by index */
    size_t nsnaps;
    struct ws_seginfo *segs;    /* sorted by (index, offset) */
    size_t nsegs;
    struct ws_timesinfo *times; /* sorted by (time, index, offset) */
    size_t ntimes;
    struct ws_idxinfo *idx;     /* index records, sorted by index */
    size_t nidx;
    struct ws_diginfo *digs;    /* digest records, sorted by index */
    size_t ndigs;
    int64_t created_ms;         /* min time of snapshots and segments */
    int64_t updated_ms;         /* max time of snapshots and segments */
};

struct ws_catalog {
    struct ws_geninfo *gens;    /* sorted by name */
    size_t ngens;
    size_t nother;              /* keys under generations/ not understood */
    size_t nskipped;            /* the listing's (struct ws_objlist) */
    char skipped[WS_KEY_MAX + 32];
};

/* 1 if s is a valid generation name. */
int ws_gen_valid(const char *s);

/* Key builders; return WS_OK or WS_EUSAGE when gen is empty. */
int ws_key_snapshot(char *buf, size_t n, const char *gen, uint32_t index);
int ws_key_wal(char *buf, size_t n, const char *gen, uint32_t index,
               uint64_t offset);
int ws_key_gen(char *buf, size_t n, const char *gen);
int ws_key_times_of(char *buf, size_t n, const char *gen,
                    const struct ws_timesinfo *t);
int ws_key_index_of(char *buf, size_t n, const char *gen,
                    const struct ws_idxinfo *x);
int ws_key_digest_of(char *buf, size_t n, const char *gen,
                     const struct ws_diginfo *x);

/* Parse a relative key.  Returns the kind and fills gen/index/offset for
 * snapshots, WAL segments and times objects (their first position),
 * index records (offset 0) and digest records (their image record's
 * position). */
enum ws_objkind ws_key_parse(const char *key, char gen[WS_GEN_LEN + 1],
                             uint32_t *index, uint64_t *offset);

/* 1 if key names a times object; fills gen and every field of t but size
 * and mtime_ms. */
int ws_key_parse_times(const char *key, char gen[WS_GEN_LEN + 1],
                       struct ws_timesinfo *t);

/* 1 if key names an index record (index >= 1, a size of at least a WAL
 * header); fills gen and every field of x but size and mtime_ms. */
int ws_key_parse_index(const char *key, char gen[WS_GEN_LEN + 1],
                       struct ws_idxinfo *x);

/* 1 if key names a digest record; fills gen and every field of x but
 * size and mtime_ms. */
int ws_key_parse_digest(const char *key, char gen[WS_GEN_LEN + 1],
                        struct ws_diginfo *x);

/* Build a catalog from a listing.  On success *cat is filled (free with
 * ws_catalog_free). */
int ws_catalog_build(const struct ws_objlist *l, struct ws_catalog *cat,
                     struct ws_err *err);

/* The generation with that name, or NULL. */
const struct ws_geninfo *ws_catalog_find(const struct ws_catalog *cat,
                                         const char *gen);

/* g's index records of WAL index i: *n of them from the one returned
 * (none: *n is 0).  More than one means the listing contradicts itself,
 * unless they agree. */
const struct ws_idxinfo *ws_catalog_index_recs(const struct ws_geninfo *g,
                                               uint32_t i, size_t *n);

/* g's digest records of the snapshot of index i, likewise. */
const struct ws_diginfo *ws_catalog_digests(const struct ws_geninfo *g,
                                            uint32_t i, size_t *n);

/*
 * The checks the records allow, against what a restore read.  Each
 * returns WS_OK when g has no such record (Litestream's replicas, older
 * walships, a crash between two uploads: nothing to check), and
 * WS_ECORRUPT with err naming the record and what did not match when any
 * record disagrees (the caller prefixes the object it read).
 *   start:  index i's WAL header has salts salt1, salt2 (its records);
 *   end:    index i ends at byte `end` with cumulative checksum ck (the
 *           records of i + 1);
 *   digest: the snapshot of index i has SHA-256 sha (its digest records:
 *           one must match).
 */
int ws_catalog_check_start(const struct ws_geninfo *g, uint32_t i,
                           uint32_t salt1, uint32_t salt2,
                           struct ws_err *err);
int ws_catalog_check_end(const struct ws_geninfo *g, uint32_t i,
                         uint64_t end, const uint32_t ck[2],
                         struct ws_err *err);
int ws_catalog_check_digest(const struct ws_geninfo *g, uint32_t i,
                            const uint8_t sha[WS_DIGEST_LEN],
                            struct ws_err *err);

/*
 * The one check that a generation's WAL segments can replay the database
 * from the start of index `from` (a snapshot's index) to the position
 * (to, to_off), used by restore planning and by retention alike.
 * Selects g->segs[*seg0, *seg0 + *nsegs): the segments of indexes `from`
 * to `to`, in `to` only those starting below to_off (WS_POS_END: all of
 * it).  They must form an unbroken chain: every index from `from` on is
 * there from offset 0, none is skipped, except that index `to` itself
 * may be missing when to_off is WS_POS_END or at most the WAL header's
 * size (a WAL restarted but not written yet).  Offsets inside an index are not
 * compared, since a listing has only compressed sizes; restore checks
 * them while reading.  Requires from <= to.  Returns
 * WS_OK, or WS_ECORRUPT with err naming the generation and the missing
 * index or segment; *seg0 and *nsegs are set either way.
 */
int ws_catalog_chain(const struct ws_geninfo *g, uint32_t from, uint32_t to,
                     uint64_t to_off, size_t *seg0, size_t *nsegs,
                     struct ws_err *err);

/*
 * Which of two generations is the newer: > 0 when a is, < 0 when b is, 0
 * for the same history.  The newer data wins (updated_ms).  Object times
 * on S3 have whole seconds, so two generations written one after the
 * other, the first ending in the second the other started, often tie:
 * then the one that started later is the live one, by its first object
 * and, within a second, by walship's microsecond records (times).  Only
 * then the later name, Litestream's order.
 */
int ws_gen_cmp(const struct ws_geninfo *a, const struct ws_geninfo *b);

/* The newest generation by ws_gen_cmp, or NULL when the catalog is
 * empty.  Only generations that have at least one
 * snapshot count: without one nothing can be restored. */
const struct ws_geninfo *ws_catalog_latest(const struct ws_catalog *cat);

void ws_catalog_free(struct ws_catalog *cat);

/* A fresh random generation name from the OS's CSPRNG. */
int ws_gen_new(char out[WS_GEN_LEN + 1], struct ws_err *err);

#endif
