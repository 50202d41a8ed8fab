/*
 * inspect.h: the inspection commands `databases`, `generations`,
 * `snapshots` and `wal` (Litestream v0.3's, with its columns), and the
 * table they print.
 *
 * Each command builds one table and prints it either as text, the way Go's
 * text/tabwriter does for Litestream (a header row, then one row a line,
 * every column but the last padded with spaces to its widest cell plus
 * two), or with -json as one JSON array of objects.  Only data objects
 * (snapshots and WAL segments, layout.h) are shown; any other key under
 * generations/ is ignored.  A replica that cannot be listed is logged and
 * skipped; the command fails only when every replica failed.
 */
#ifndef WS_INSPECT_H
#define WS_INSPECT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ws/err.h"

enum ws_inspect_cmd {
    WS_INSPECT_DATABASES,
    WS_INSPECT_GENERATIONS,
    WS_INSPECT_SNAPSHOTS,
    WS_INSPECT_WAL
};

struct ws_inspect_opts {
    enum ws_inspect_cmd cmd;
    const char *config;     /* config file, or NULL for the default */
    int expand_env;         /* expand $VAR in the config file */
    const char *target;     /* DB_PATH or REPLICA_URL (not for databases) */
    const char *replica;    /* only this replica, or NULL */
    const char *generation; /* wal: only this generation, or NULL */
    int json;               /* print JSON instead of a text table */
};

/* Run the command and print its table on out.  Returns WS_OK or an error
 * in err (nothing is printed then). */
int ws_inspect_run(const struct ws_inspect_opts *o, FILE *out,
                   struct ws_err *err);

/* ---- the lag column ---------------------------------------------------- */

/* Litestream's truncation of a lag in nanoseconds: beyond 10 s to whole
 * seconds, beyond 1 s to 0.1 s, beyond 1 ms to ms, beyond 1 µs to µs,
 * towards zero; the same bands for negative values. */
int64_t ws_lag_truncate(int64_t ns);

/* Format ns as Go's time.Duration.String does ("1m2s", "8.8s", "-36ms",
 * "150µs", "0s") into buf, truncating to n bytes. */
void ws_duration_format(int64_t ns, char *buf, size_t n);

/* ---- tables ------------------------------------------------------------ */

enum ws_coltype {
    WS_COL_STR,  /* a JSON string */
    WS_COL_NUM,  /* a JSON number or literal (true, false): the cell's
                    text, as it is */
    WS_COL_LIST  /* items separated by '\n': text joins them with ",",
                    JSON makes an array of strings */
};

/* A column.  A column with a head is printed in text mode, one with a
 * key in JSON mode, so a value can take a different form in each. */
struct ws_col {
    const char *head;     /* text header, or NULL: JSON only */
    const char *key;      /* JSON field name, or NULL: text only */
    enum ws_coltype type;
};

struct ws_table {
    const struct ws_col *cols; /* borrowed */
    size_t ncols;
    char **cells;              /* row-major; each owned, NULL allowed */
    size_t nrows, cap;
};

void ws_table_init(struct ws_table *t, const struct ws_col *cols,
                   size_t ncols);

/* Append a row of ncols cells (copied).  A NULL cell prints as "-" in
 * text and null in JSON.  Returns WS_OK or WS_ENOMEM. */
int ws_table_add(struct ws_table *t, const char *const *cells);

/* Print the table as text or as JSON.  Returns WS_OK, or WS_EIO when
 * writing to f failed. */
int ws_table_write(const struct ws_table *t, int json, FILE *f,
                   struct ws_err *err);

void ws_table_free(struct ws_table *t);

#endif
