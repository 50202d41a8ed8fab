/*
 * benchw: the benchmark writer ("the application" of bench/).
 *
 *   benchw DB [options]
 *     -rate TX_PER_S     target rate with absolute deadlines (0 = as fast
 *                        as possible; the default)
 *     -gap MIN_MS:MAX_MS sparse writer: sleep a uniform random gap in
 *                        [MIN, MAX] ms before each transaction
 *     -rows N            rows per transaction (1)
 *     -size BYTES        random blob bytes per row (1024)
 *     -duration SECS     stop after SECS (0 = no limit)
 *     -count N           stop after N transactions (0 = no limit)
 *     -busy-timeout MS   the connection's busy_timeout (5000)
 *     -wal-sample MS     sample the size of DB-wal every MS (0 = off) in a
 *                        second thread and report the peak
 *     -log CSV           append "seq,t_commit_end_ns" (CLOCK_REALTIME) per
 *                        commit, flushed at once
 *     -seed S            random seed (1)
 *     -watch DIR         after each commit, poll DIR every 0.2 ms until a
 *                        new "*.wal.lz4" file appears anywhere under it (a
 *                        directory replica's segments are renamed into
 *                        place when complete) and log the lag as a third
 *                        CSV column, lag_ns (-1 after 30 s): file
 *                        timestamps are too coarse (a 4 ms tick) for this
 *     -checkpoint        only open DB, run wal_checkpoint(TRUNCATE), close
 *
 *   benchw -cpu PID      print the CPU time (user + system) of process PID
 *                        in ns and exit: its CPU-time clock
 *                        (clock_getcpuclockid), which counts every thread
 *                        it ever had, those that have exited too (the
 *                        figure of utime+stime in /proc/PID/stat, to the
 *                        ns instead of 10 ms ticks; a sum over the live
 *                        threads of /proc/PID/task/ misses the exited ones)
 *
 * Table: b(id INTEGER PRIMARY KEY, v BLOB).  A statement that fails with
 * SQLITE_BUSY (after the busy timeout) is counted, its transaction rolled
 * back and retried: that count is the application's SQLITE_BUSY count.
 * Stops after the current transaction on SIGTERM or SIGINT.  At the end
 * prints one line to stdout:
 *
 *   benchw tx=N rows=N secs=S rows_per_s=R busy=N wal_peak=BYTES
 *          tx_max_ms=MS (the longest transaction, BEGIN to COMMIT done)
 *
 * Only <sqlite3.h> and libc: no project headers.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#define NS 1000000000LL

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t now_ns(clockid_t c)
{
    struct timespec ts;

    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static void sleep_until(int64_t mono)
{
    struct timespec ts = {(time_t)(mono / NS), (long)(mono % NS)};

    while (!stop &&
           clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void die(const char *what, sqlite3 *db)
{
    fprintf(stderr, "benchw: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
    exit(1);
}

/* ---- the WAL sampler ---- */

struct sampler {
    char path[4096];
    int64_t every_ns;
    int64_t peak;
    volatile int done;
};

static void *sample(void *arg)
{
    struct sampler *s = arg;
    int64_t next = now_ns(CLOCK_MONOTONIC);

    while (!s->done) {
        struct stat st;

        if (stat(s->path, &st) == 0 && st.st_size > s->peak)
            s->peak = st.st_size;
        next += s->every_ns;
        struct timespec ts = {(time_t)(next / NS), (long)(next % NS)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
    return NULL;
}

/* ---- the replica watcher ---- */

static long nsegs;

static int count_seg(const char *p, const struct stat *st, int type,
                     struct FTW *f)
{
    size_t n = strlen(p);

    (void)st;
    (void)f;
    if (type == FTW_F && n > 8 && strcmp(p + n - 8, ".wal.lz4") == 0)
        nsegs++;
    return 0;
}

static long segments(const char *dir)
{
    nsegs = 0;
    nftw(dir, count_seg, 16, FTW_PHYS);
    return nsegs;
}

/* ---- one transaction ---- */

static int is_busy(int rc)
{
    return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* 0: committed; 1: busy (rolled back). */
static int one_tx(sqlite3 *db, sqlite3_stmt *ins, unsigned char *blob,
                  int64_t rows, int64_t size, uint64_t *rng)
{
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

    if (is_busy(rc))
        return 1;
    if (rc != SQLITE_OK)
        die("BEGIN IMMEDIATE", db);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < size; i += 8) {
            uint64_t x = rng_next(rng);
            memcpy(blob + i, &x, size - i < 8 ? (size_t)(size - i) : 8);
        }
        sqlite3_bind_blob(ins, 1, blob, (int)size, SQLITE_STATIC);
        rc = sqlite3_step(ins);
        sqlite3_reset(ins);
        if (is_busy(rc)) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return 1;
        }
        if (rc != SQLITE_DONE)
            die("INSERT", db);
    }
    rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (is_busy(rc)) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return 1;
    }
    if (rc != SQLITE_OK)
        die("COMMIT", db);
    return 0;
}

/* benchw -cpu PID: the CPU time of process PID in ns. */
static int print_cpu(const char *arg)
{
    char *end;
    long pid = strtol(arg, &end, 10);
    clockid_t clk;
    struct timespec ts;
    int rc;

    if (*arg == '\0' || *end != '\0' || pid <= 0) {
        fprintf(stderr, "benchw: -cpu %s: not a process id\n", arg);
        return 2;
    }
    if ((rc = clock_getcpuclockid((pid_t)pid, &clk)) != 0 ||
        (rc = clock_gettime(clk, &ts) != 0 ? errno : 0) != 0) {
        fprintf(stderr, "benchw: -cpu %ld: %s\n", pid, strerror(rc));
        return 1;
    }
    printf("%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *logpath = NULL, *watch = NULL;
    double rate = 0, duration = 0;
    int64_t gap_min = -1, gap_max = -1, rows = 1, size = 1024, count = 0;
    int64_t busy_ms = 5000, sample_ms = 0, busy = 0, tx = 0, tx_max = 0;
    uint64_t seed = 1;
    int ckpt_only = 0;
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    FILE *log = NULL;
    struct sampler smp = {.peak = 0};
    pthread_t th;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (a[0] != '-') {
            path = a;
            continue;
        }
        if (strcmp(a, "-checkpoint") == 0) {
            ckpt_only = 1;
            continue;
        }
        if (strcmp(a, "-cpu") == 0 && v != NULL && i == 1 && argc == 3)
            return print_cpu(v);
        if (v == NULL) {
            fprintf(stderr, "benchw: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "-rate") == 0)
            rate = atof(v);
        else if (strcmp(a, "-gap") == 0) {
            if (sscanf(v, "%" SCNd64 ":%" SCNd64, &gap_min, &gap_max) != 2 ||
                gap_min < 0 || gap_max < gap_min) {
                fprintf(stderr, "benchw: -gap MIN_MS:MAX_MS\n");
                return 2;
            }
        } else if (strcmp(a, "-rows") == 0)
            rows = strtoll(v, NULL, 10);
        else if (strcmp(a, "-size") == 0)
            size = strtoll(v, NULL, 10);
        else if (strcmp(a, "-duration") == 0)
            duration = atof(v);
        else if (strcmp(a, "-count") == 0)
            count = strtoll(v, NULL, 10);
        else if (strcmp(a, "-busy-timeout") == 0)
            busy_ms = strtoll(v, NULL, 10);
        else if (strcmp(a, "-wal-sample") == 0)
            sample_ms = strtoll(v, NULL, 10);
        else if (strcmp(a, "-log") == 0)
            logpath = v;
        else if (strcmp(a, "-watch") == 0)
            watch = v;
        else if (strcmp(a, "-seed") == 0)
            seed = strtoull(v, NULL, 10);
        else {
            fprintf(stderr, "benchw: unknown flag %s (see bench/tools/benchw.c)\n", a);
            return 2;
        }
    }
    if (path == NULL || rows < 1 || size < 1 || size > (1 << 30)) {
        fprintf(stderr, "usage: benchw DB [options] (see bench/tools/benchw.c)\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK)
        die(path, db);
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, (int)busy_ms);
    if (sqlite3_exec(db, "PRAGMA journal_mode=wal", NULL, NULL, NULL) != SQLITE_OK)
        die("journal_mode=wal", db);
    if (ckpt_only) {
        if (sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL,
                         NULL) != SQLITE_OK)
            die("wal_checkpoint(TRUNCATE)", db);
        sqlite3_close(db);
        return 0;
    }
    while (sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS b(id INTEGER PRIMARY "
                            "KEY, v BLOB)", NULL, NULL, NULL) != SQLITE_OK) {
        if (!is_busy(sqlite3_errcode(db)))
            die("CREATE TABLE", db);
        busy++;
    }
    if (sqlite3_prepare_v2(db, "INSERT INTO b(v) VALUES (?)", -1, &ins,
                           NULL) != SQLITE_OK)
        die("prepare", db);
    if (logpath != NULL && (log = fopen(logpath, "a")) == NULL) {
        fprintf(stderr, "benchw: %s: %s\n", logpath, strerror(errno));
        return 1;
    }
    if (sample_ms > 0) {
        snprintf(smp.path, sizeof(smp.path), "%s-wal", path);
        smp.every_ns = sample_ms * 1000000;
        pthread_create(&th, NULL, sample, &smp);
    }

    unsigned char *blob = malloc((size_t)size + 8);
    uint64_t rng = seed * 0x2545f4914f6cdd1dULL + (uint64_t)now_ns(CLOCK_REALTIME);
    int64_t t0 = now_ns(CLOCK_MONOTONIC), end = INT64_MAX;

    if (blob == NULL)
        die("out of memory", NULL);
    if (duration > 0)
        end = t0 + (int64_t)(duration * NS);
    while (!stop && (count == 0 || tx < count)) {
        if (gap_min >= 0) {
            int64_t g = gap_min + (int64_t)(rng_next(&rng) %
                                            (uint64_t)(gap_max - gap_min + 1));
            int64_t at = now_ns(CLOCK_MONOTONIC) + g * 1000000;
            if (at >= end)
                break;
            sleep_until(at);
        } else if (rate > 0) {
            int64_t at = t0 + (int64_t)((double)tx * NS / rate);
            if (at >= end)
                break;
            sleep_until(at);
        }
        if (stop || now_ns(CLOCK_MONOTONIC) >= end)
            break;
        long before = watch != NULL ? segments(watch) : 0;
        int64_t lag = -1, t_begin = now_ns(CLOCK_MONOTONIC);

        if (one_tx(db, ins, blob, rows, size, &rng)) {
            busy++;
            continue;
        }
        int64_t t_real = now_ns(CLOCK_REALTIME), t_mono = now_ns(CLOCK_MONOTONIC);

        tx++;
        if (t_mono - t_begin > tx_max)
            tx_max = t_mono - t_begin;
        if (watch != NULL) {
            struct timespec d = {0, 200000};

            while (now_ns(CLOCK_MONOTONIC) - t_mono < 30 * NS) {
                if (segments(watch) > before) {
                    lag = now_ns(CLOCK_MONOTONIC) - t_mono;
                    break;
                }
                nanosleep(&d, NULL);
            }
        }
        if (log != NULL) {
            if (watch != NULL)
                fprintf(log, "%" PRId64 ",%" PRId64 ",%" PRId64 "\n", tx,
                        t_real, lag);
            else
                fprintf(log, "%" PRId64 ",%" PRId64 "\n", tx, t_real);
            fflush(log);
        }
    }
    double secs = (double)(now_ns(CLOCK_MONOTONIC) - t0) / NS;

    if (sample_ms > 0) {
        smp.done = 1;
        pthread_join(th, NULL);
    }
    sqlite3_finalize(ins);
    if (sqlite3_close(db) != SQLITE_OK)
        die("close", db);
    if (log != NULL)
        fclose(log);
    free(blob);
    printf("benchw tx=%" PRId64 " rows=%" PRId64 " secs=%.3f rows_per_s=%.1f"
           " busy=%" PRId64 " wal_peak=%" PRId64 " tx_max_ms=%.1f\n",
           tx, tx * rows, secs, secs > 0 ? (double)(tx * rows) / secs : 0.0,
           busy, smp.peak, (double)tx_max / 1e6);
    return 0;
}
