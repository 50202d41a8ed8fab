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
 * A generation name is exactly 16 lowercase hex digits.  Index and offset
 * are written with %08x and parsed from exactly 8 hex digits; other names
 * (temporary files, walship's future extra objects) are not data objects
 * and the catalog counts them as "other" rather than dropping them
 * silently.
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

enum ws_objkind { WS_OBJ_OTHER, WS_OBJ_SNAPSHOT, WS_OBJ_WAL, WS_OBJ_TIMES };

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
};

#define WS_LIST_MAX_KEYS 10000000

/* Append a copy of key.  WS_ERANGE when l is at its bound, WS_ENOMEM;
 * l is unchanged on failure. */
int ws_objlist_add(struct ws_objlist *l, const char *key, uint64_t size,
                   int64_t mtime_ms);
void ws_objlist_free(struct ws_objlist *l);

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

struct ws_geninfo {
    char name[WS_GEN_LEN + 1];
    struct ws_snapinfo *snaps;  /* sorted by index */
    size_t nsnaps;
    struct ws_seginfo *segs;    /* sorted by (index, offset) */
    size_t nsegs;
    struct ws_timesinfo *times; /* sorted by (time, index, offset) */
    size_t ntimes;
    int64_t created_ms;         /* min time of snapshots and segments */
    int64_t updated_ms;         /* max time of snapshots and segments */
};

struct ws_catalog {
    struct ws_geninfo *gens;    /* sorted by name */
    size_t ngens;
    size_t nother;              /* keys under generations/ not understood */
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

/* Parse a relative key.  Returns the kind and fills gen/index/offset for
 * snapshots, WAL segments and times objects (their first position). */
enum ws_objkind ws_key_parse(const char *key, char gen[WS_GEN_LEN + 1],
                             uint32_t *index, uint64_t *offset);

/* 1 if key names a times object; fills gen and every field of t but size
 * and mtime_ms. */
int ws_key_parse_times(const char *key, char gen[WS_GEN_LEN + 1],
                       struct ws_timesinfo *t);

/* Build a catalog from a listing.  On success *cat is filled (free with
 * ws_catalog_free). */
int ws_catalog_build(const struct ws_objlist *l, struct ws_catalog *cat,
                     struct ws_err *err);

/* The generation with that name, or NULL. */
const struct ws_geninfo *ws_catalog_find(const struct ws_catalog *cat,
                                         const char *gen);

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
