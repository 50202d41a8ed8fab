/*
 * crashpt.c: deterministic crash points (crashpt.h).  The names and the
 * parser are in every build (the unit test checks them); the counter and
 * the crash only in a build with -DWS_CRASHPOINTS.
 */
#include "ws/crashpt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CRASHPT_MAX_N 1000000000L

/* Every WS_CRASHPOINT name in src/, in the README's order. */
static const char *const NAMES[] = {
    "shadow-before-fsync",       /* shadow.c: frames written, not synced */
    "shadow-new-index",          /* shadow.c: a WAL restart, next index */
    "generation-switch",         /* shadow.c: new generation recorded */
    "meta-before-rename",        /* fs_file.c: meta written, not renamed */
    "ckpt-before-checkpoint",    /* ckpt.c: shadow synced, locked */
    "ckpt-after-checkpoint",     /* ckpt.c: PASSIVE done, before counts */
    "ckpt-after-truncate",       /* ckpt.c: TRUNCATE done */
    "file-put-before-rename",    /* replica_file.c: object written */
    "file-between-deletes",      /* replica_file.c: one key deleted */
    "s3-between-parts",          /* s3put.c: a multipart part done */
    "segment-before-position",   /* ship_job.c: segment PUT acknowledged */
    "snapshot-after-record",     /* ship_job.c: record shipped */
    "snapshot-mid",              /* snapshot.c: half the pages read */
    "retention-between-deletes", /* retain.c: one delete request done */
    "stop-marker",               /* db.c: stop proof hashed, not written */
    "restore-download",          /* restore.c: one object downloaded */
    "restore-before-publish",    /* restore.c: built and checked */
    NULL,
};

const char *const *ws_crashpt_names(void)
{
    return NAMES;
}

int ws_crashpt_parse(const char *spec, char *name, size_t nname, long *n,
                     struct ws_err *err)
{
    const char *colon = strrchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : 0;
    char *end = NULL;
    long v;

    if (colon == NULL || len == 0 || colon[1] == '\0')
        return ws_err_set(err, WS_EUSAGE, "WALSHIP_CRASHPOINT=\"%.80s\": "
                          "want <name>:<n>, e.g. shadow-before-fsync:3",
                          spec);
    errno = 0;
    v = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || colon[1] < '0' || colon[1] > '9' ||
        v < 1 || v > CRASHPT_MAX_N)
        return ws_err_set(err, WS_EUSAGE, "WALSHIP_CRASHPOINT=\"%.80s\": "
                          "the crossing \"%.20s\" is not a number from 1 "
                          "to %ld", spec, colon + 1, CRASHPT_MAX_N);
    for (size_t i = 0; NAMES[i] != NULL; i++) {
        if (strlen(NAMES[i]) == len && memcmp(NAMES[i], spec, len) == 0 &&
            len < nname) {
            memcpy(name, spec, len);
            name[len] = '\0';
            *n = v;
            return WS_OK;
        }
    }
    return ws_err_set(err, WS_EUSAGE, "WALSHIP_CRASHPOINT=\"%.80s\": no "
                      "crash point is named \"%.*s\" (README.md lists "
                      "them)", spec, (int)(len < 64 ? len : 64), spec);
}

#ifdef WS_CRASHPOINTS

/* The armed point (set once, before any thread) and its crossings. */
static struct {
    char name[64];
    long n;
    long crossed;
} armed;

int ws_crashpt_arm(struct ws_err *err)
{
    const char *spec = getenv("WALSHIP_CRASHPOINT");
    int rc;

    if (spec == NULL || spec[0] == '\0')
        return WS_OK;
    rc = ws_crashpt_parse(spec, armed.name, sizeof(armed.name), &armed.n,
                          err);
    if (rc != WS_OK) {
        armed.name[0] = '\0';
        return rc;
    }
    fprintf(stderr, "walship: crash point %s armed: exit %d at crossing "
            "%ld\n", armed.name, WS_CRASHPT_STATUS, armed.n);
    return WS_OK;
}

void ws_crashpt_cross(const char *name)
{
    char line[160];
    long k;
    int len;

    if (armed.name[0] == '\0' || strcmp(name, armed.name) != 0)
        return;
    k = __atomic_add_fetch(&armed.crossed, 1, __ATOMIC_SEQ_CST);
    if (k != armed.n)
        return;
    len = snprintf(line, sizeof(line),
                   "crash point %s reached (crossing %ld): exit %d\n", name,
                   k, WS_CRASHPT_STATUS);
    if (len > 0 && write(STDERR_FILENO, line, (size_t)len) < 0)
        len = 0;
    _exit(WS_CRASHPT_STATUS);
}

#endif
