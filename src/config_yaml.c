/*
 * config_yaml.c: pass 1 of reading walship.yml (config_int.h): the YAML
 * text -> the fields of struct ws_config, each checked on its own.
 *
 * libyaml's document API loads the text into a node tree, which is
 * walked by schema: top level -> dbs[] -> replicas[] -> age.  Every
 * mapping goes through each_pair(), which rejects non-scalar keys,
 * duplicate keys and (through the level's handler) unknown keys, each
 * with the key's 1-based line.  Scalar fields are described by tables of
 * {key, kind, offset}, so one function converts and stores all the
 * strings, durations and sizes (units.h), integers and booleans.  Each
 * value is read through scalar(), which expands environment variables in
 * it (unless turned off; env.h has the rules).  Expanding values rather
 * than the raw text leaves comments alone (the example file names
 * variables in them) and gives an unset variable's error the line of its
 * key.
 *
 * A YAML null (an empty value, "~", "null") leaves the default in place.
 * Booleans are YAML 1.1's words (true/false, yes/no, on/off, y/n, in any
 * case); integers are decimal with an optional sign.
 *
 * Messages are one line, "<name>:<line>: <what>", and never quote the
 * value of secret-access-key: only keys and the values of non-secret
 * fields are quoted.
 */
#include "ws/child.h"
#include "ws/config_int.h"
#include "ws/env.h"
#include "ws/heartbeat.h"
#include "ws/httpd.h"
#include "ws/inspect.h"
#include "ws/str.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#define UNKNOWN_KEY (-1) /* pair handler: not one of ours */
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int oom(struct ws_err *err)
{
    return ws_err_set(err, WS_ENOMEM, "out of memory");
}

static int is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

struct ctx {
    const char *name; /* for messages */
    yaml_document_t *doc;
    struct ws_err *err;
    int expand_env;   /* expand $VAR in values (env.h) */
    struct ws_sbuf val; /* the last expanded value (scalar()) */
    struct ws_env_name empty; /* ...the first variable in it that is set
                               * but empty (p NULL when none) */
    int dbs_line;     /* line of the "dbs" key, 0 if absent */
};

enum kind { K_STR, K_DUR, K_INT, K_BOOL, K_SIZE };

/* A scalar key stored at offset off of the level's struct.  A K_INT is
 * at least min; a K_STR with path set names a place, which a value
 * that expands to nothing (`path: ${EMPTY}`) cannot be. */
struct field {
    const char *key;
    enum kind kind;
    size_t off;
    int64_t min;
    int path;
};

/* clang-format off */
#define F(type, key, kind, member) {key, kind, offsetof(type, member), 0, 0}
#define F_PATH(type, key, member) \
    {key, K_STR, offsetof(type, member), 0, 1}
#define F_INT(type, key, member, min) \
    {key, K_INT, offsetof(type, member), min, 0}
/* clang-format on */
#define TOP(key, kind, m) F(struct ws_config, key, kind, m)
#define DB(key, kind, m) F(struct ws_db_config, key, kind, m)
#define REP(key, kind, m) F(struct ws_replica_config, key, kind, m)

static const struct field top_fields[] = {
    TOP("access-key-id", K_STR, access_key_id),
    TOP("secret-access-key", K_STR, secret_access_key),
    TOP("addr", K_STR, addr),
    {"health-sync-timeout", K_DUR,
     offsetof(struct ws_config, health_sync_timeout_ms), 1000, 0},
    TOP("heartbeat-url", K_STR, heartbeat_url),
    {"heartbeat-interval", K_DUR,
     offsetof(struct ws_config, heartbeat_interval_ms), WS_HEARTBEAT_MIN_MS,
     0},
    TOP("restore-if-db-not-exists", K_BOOL, restore_if_missing),
    TOP("exec", K_STR, exec),
    TOP("shutdown-sync-timeout", K_DUR, shutdown_sync_timeout_ms),
    {NULL, K_STR, 0, 0, 0},
};

static const struct field logging_fields[] = {
    TOP("stderr", K_BOOL, log_stderr),
    {NULL, K_STR, 0, 0, 0},
};

static const struct field db_fields[] = {
    F_PATH(struct ws_db_config, "path", path),
    F_PATH(struct ws_db_config, "meta-path", meta_path),
    F_PATH(struct ws_db_config, "dir", dir),
    DB("pattern", K_STR, pattern),
    DB("recursive", K_BOOL, recursive),
    DB("watch", K_BOOL, watch),
    DB("monitor-interval", K_DUR, monitor_interval_ms),
    DB("checkpoint-interval", K_DUR, checkpoint_interval_ms),
    F_INT(struct ws_db_config, "min-checkpoint-page-count",
          min_checkpoint_page_count, 1),
    F_INT(struct ws_db_config, "max-checkpoint-page-count",
          max_checkpoint_page_count, 0),
    DB("max-spool-size", K_SIZE, max_spool_bytes),
    DB("restore-if-db-not-exists", K_BOOL, restore_if_missing),
    {NULL, K_STR, 0, 0, 0},
};

static const struct field replica_fields[] = {
    REP("type", K_STR, type),
    REP("name", K_STR, name),
    F_PATH(struct ws_replica_config, "url", url),
    F_PATH(struct ws_replica_config, "path", path),
    REP("sync-interval", K_DUR, sync_interval_ms),
    REP("snapshot-interval", K_DUR, snapshot_interval_ms),
    REP("retention", K_DUR, retention_ms),
    REP("retention-check-interval", K_DUR, retention_check_interval_ms),
    REP("validation-interval", K_DUR, validation_interval_ms),
    REP("bucket", K_STR, bucket),
    REP("region", K_STR, region),
    REP("endpoint", K_STR, endpoint),
    REP("force-path-style", K_BOOL, force_path_style),
    REP("skip-verify", K_BOOL, skip_verify),
    REP("access-key-id", K_STR, access_key_id),
    REP("secret-access-key", K_STR, secret_access_key),
    {NULL, K_STR, 0, 0, 0},
};

static int line_of(const yaml_node_t *n)
{
    return n->start_mark.line >= INT_MAX - 1 ? INT_MAX
                                             : (int)n->start_mark.line + 1;
}

/* Fail with "<name>:<line of n>: <message>". */
__attribute__((format(printf, 3, 4))) static int
bad(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[WS_ERR_MSG];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return ws_err_set(c->err, WS_ECONFIG, "%s:%d: %s", c->name, line_of(n),
                      msg);
}

static const char *key_of(const yaml_node_t *k)
{
    return (const char *)k->data.scalar.value;
}

static int is_null_word(const char *s)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

    for (size_t i = 0; i < NELEM(nulls); i++)
        if (strcmp(s, nulls[i]) == 0)
            return 1;
    return 0;
}

static int is_null(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE &&
           n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           is_null_word(key_of(n));
}

static const char *type_name(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE    ? "a mapping"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a scalar";
}

/* The text of the scalar v under key k, with environment variables
 * expanded; NULL for a YAML null (also when a plain value expands to
 * one, as if the variable's text had been in the file).  The text lives
 * until the next call. */
static int scalar(struct ctx *c, const yaml_node_t *k, const yaml_node_t *v,
                  const char **out)
{
    const char *s = key_of(v);
    struct ws_env_name unset = {NULL, 0};
    int rc;

    c->empty.p = NULL;

    if (v->type != YAML_SCALAR_NODE)
        return bad(c, k, "\"%s\" must be a scalar, not %s", key_of(k),
                   type_name(v));
    if (strlen(s) != v->data.scalar.length)
        return bad(c, k, "\"%s\" contains a NUL character", key_of(k));
    *out = is_null(v) ? NULL : s;
    if (*out == NULL || !c->expand_env || strchr(s, '$') == NULL)
        return WS_OK;
    rc = ws_env_expand(s, strlen(s), &c->val, &unset, &c->empty);
    if (rc == WS_ENOMEM)
        return oom(c->err);
    if (rc != WS_OK)
        return bad(c, k,
                   "\"%s\": environment variable %.*s is not set (set it, "
                   "give a default with ${%.*s:-default}, or keep the text "
                   "with -no-expand-env)",
                   key_of(k), (int)unset.len, unset.p, (int)unset.len,
                   unset.p);
    *out = c->val.p;
    if (v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        is_null_word(c->val.p))
        *out = NULL;
    return WS_OK;
}

/* Check that v is a collection of the given type; *present is 0 for a
 * YAML null. */
static int collection(struct ctx *c, const yaml_node_t *k, const yaml_node_t *v,
                      yaml_node_type_t type, int *present)
{
    *present = !is_null(v);
    if (*present && v->type != type)
        return bad(c, k, "\"%s\" must be %s, not %s", key_of(k),
                   type == YAML_MAPPING_NODE ? "a mapping" : "a list",
                   type_name(v));
    return WS_OK;
}

static int parse_bool(const char *s, int *v)
{
    static const char *const t[] = {"true", "yes", "on", "y"};
    static const char *const f[] = {"false", "no", "off", "n"};

    for (size_t i = 0; i < NELEM(t); i++) {
        if (strcasecmp(s, t[i]) == 0 || strcasecmp(s, f[i]) == 0) {
            *v = strcasecmp(s, t[i]) == 0;
            return WS_OK;
        }
    }
    return WS_ECONFIG;
}

static int parse_int(const char *s, int64_t *v)
{
    long long x;
    char *end;

    if (!is_digit(s[0]) && !((s[0] == '-' || s[0] == '+') && is_digit(s[1])))
        return WS_ECONFIG;
    errno = 0;
    x = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return WS_ECONFIG;
    *v = x;
    return WS_OK;
}

/* Convert and store the scalar v for field f of the struct at base. */
static int set_field(struct ctx *c, const struct field *f, const yaml_node_t *k,
                     const yaml_node_t *v, void *base)
{
    static const char *const what[] = {"string", "duration", "integer",
                                       "boolean", "size"};
    void *p = (char *)base + f->off;
    const char *s = NULL;
    int rc = scalar(c, k, v, &s);

    if (rc == WS_OK && f->path && (s == NULL || *s == '\0') &&
        c->empty.p != NULL)
        return bad(c, k,
                   "\"%s\" is empty: environment variable %.*s is set to "
                   "\"\" (\"%s\")",
                   f->key, (int)c->empty.len, c->empty.p, key_of(v));
    if (rc != WS_OK || s == NULL)
        return rc;
    switch (f->kind) {
    case K_STR:
        return ws_str_set(p, s) == WS_OK ? WS_OK : oom(c->err);
    case K_DUR:
        rc = ws_duration_parse(s, p);
        break;
    case K_INT:
        rc = parse_int(s, p);
        break;
    case K_BOOL:
        rc = parse_bool(s, p);
        break;
    case K_SIZE:
        rc = ws_size_parse(s, p);
        break;
    }
    if (rc != WS_OK)
        return bad(c, k, "invalid %s for \"%s\": \"%s\"%s", what[f->kind],
                   f->key, s,
                   f->kind == K_DUR    ? ws_duration_hint(s)
                   : f->kind == K_SIZE ? WS_SIZE_HINT
                                       : "");
    if (f->kind == K_INT && *(int64_t *)p < f->min)
        return bad(c, k, "\"%s\" must be at least %lld, not %s", f->key,
                   (long long)f->min, s);
    if (f->kind == K_DUR && *(int64_t *)p < f->min) {
        char min[32];
        ws_duration_format(f->min * 1000000, min, sizeof(min));
        return bad(c, k, "\"%s\" must be at least %s, not %s", f->key, min,
                   s);
    }
    return WS_OK;
}

/* Look key up in a field table and store it; UNKNOWN_KEY if absent. */
static int table_field(struct ctx *c, const struct field *t, const char *key,
                       const yaml_node_t *k, const yaml_node_t *v, void *base)
{
    for (; t->key != NULL; t++)
        if (strcmp(t->key, key) == 0)
            return set_field(c, t, k, v, base);
    return UNKNOWN_KEY;
}

static int same_scalar(const yaml_node_t *a, const yaml_node_t *b)
{
    return a->type == YAML_SCALAR_NODE && b->type == YAML_SCALAR_NODE &&
           a->data.scalar.length == b->data.scalar.length &&
           memcmp(a->data.scalar.value, b->data.scalar.value,
                  a->data.scalar.length) == 0;
}

/* Call fn for each pair of map after checking that keys are scalars and
 * unique; fn returns UNKNOWN_KEY for a key it does not know. */
static int each_pair(struct ctx *c, const yaml_node_t *map, const char *where,
                     int (*fn)(struct ctx *, const char *, const yaml_node_t *,
                               const yaml_node_t *, void *),
                     void *arg)
{
    const yaml_node_pair_t *start = map->data.mapping.pairs.start;
    const yaml_node_pair_t *top = map->data.mapping.pairs.top;

    for (const yaml_node_pair_t *p = start; p < top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        int rc;

        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE)
            return bad(c, map, "keys in %s must be scalars", where);
        for (const yaml_node_pair_t *q = start; q < p; q++)
            if (same_scalar(yaml_document_get_node(c->doc, q->key), k))
                return bad(c, k, "duplicate key \"%s\" in %s", key_of(k),
                           where);
        rc = fn(c, key_of(k), k, v, arg);
        if (rc == UNKNOWN_KEY)
            return bad(c, k, "unknown key \"%s\" in %s", key_of(k), where);
        if (rc != WS_OK)
            return rc;
    }
    return WS_OK;
}

/* The items of the list v, each a mapping: *n = 0 for a YAML null. */
static int mapping_items(struct ctx *c, const yaml_node_t *k,
                         const yaml_node_t *v, const char *what,
                         yaml_node_item_t **items, size_t *n)
{
    int present, rc = collection(c, k, v, YAML_SEQUENCE_NODE, &present);

    *n = 0;
    if (rc != WS_OK || !present)
        return rc;
    *items = v->data.sequence.items.start;
    *n = (size_t)(v->data.sequence.items.top - *items);
    for (size_t i = 0; i < *n; i++) {
        yaml_node_t *item = yaml_document_get_node(c->doc, (*items)[i]);

        if (item == NULL || item->type != YAML_MAPPING_NODE)
            return bad(c, item ? item : v, "each %s must be a mapping", what);
    }
    return WS_OK;
}

static int age_pair(struct ctx *c, const char *key, const yaml_node_t *k,
                    const yaml_node_t *v, void *arg)
{
    int present, rc, *any = arg;

    if (strcmp(key, "identities") != 0 && strcmp(key, "recipients") != 0)
        return UNKNOWN_KEY;
    rc = collection(c, k, v, YAML_SEQUENCE_NODE, &present);
    if (rc == WS_OK && present &&
        v->data.sequence.items.top > v->data.sequence.items.start)
        *any = 1;
    return rc;
}

static int replica_pair(struct ctx *c, const char *key, const yaml_node_t *k,
                        const yaml_node_t *v, void *arg)
{
    static const char *const s3_only[] = {
        "bucket",     "region",        "endpoint",         "force-path-style",
        "skip-verify", "access-key-id", "secret-access-key"};
    struct ws_replica_config *r = arg;
    int present, any = 0, rc;

    for (size_t i = 0; i < NELEM(s3_only) && r->s3_key == NULL; i++)
        if (strcmp(key, s3_only[i]) == 0 && !is_null(v) &&
            !(v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0)) {
            r->s3_key = s3_only[i];
            r->s3_key_line = line_of(k);
        }
    if (strcmp(key, "age") != 0)
        return table_field(c, replica_fields, key, k, v, arg);
    rc = collection(c, k, v, YAML_MAPPING_NODE, &present);
    if (rc == WS_OK && present)
        rc = each_pair(c, v, "age", age_pair, &any);
    if (rc == WS_OK && any)
        rc = bad(c, k, "age encryption is not supported");
    return rc;
}

static int db_pair(struct ctx *c, const char *key, const yaml_node_t *k,
                   const yaml_node_t *v, void *arg)
{
    struct ws_db_config *db = arg;
    yaml_node_item_t *items;
    size_t n;
    int rc;

    if (strcmp(key, "replicas") != 0)
        return table_field(c, db_fields, key, k, v, db);
    rc = mapping_items(c, k, v, "replica", &items, &n);
    if (rc != WS_OK || n == 0)
        return rc;
    db->replicas = calloc(n, sizeof(*db->replicas));
    if (db->replicas == NULL)
        return oom(c->err);
    for (size_t i = 0; rc == WS_OK && i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(c->doc, items[i]);
        struct ws_replica_config *r = &db->replicas[db->nreplicas++];

        ws_config_replica_defaults(r, line_of(item));
        rc = each_pair(c, item, "replica", replica_pair, r);
    }
    return rc;
}

/* logging.level and logging.type are checked here, where the line is. */
static int logging_pair(struct ctx *c, const char *key, const yaml_node_t *k,
                        const yaml_node_t *v, void *arg)
{
    static const char *const levels[] = {"debug", "info", "warn", "warning",
                                         "error"};
    struct ws_config *cfg = arg;
    const char *s = NULL, *val = NULL;
    int is_type = strcmp(key, "type") == 0, rc;

    if (strcmp(key, "level") != 0 && !is_type)
        return table_field(c, logging_fields, key, k, v, cfg);
    rc = scalar(c, k, v, &s);
    if (rc != WS_OK || s == NULL || *s == '\0')
        return rc;
    if (is_type && (strcmp(s, "text") == 0 || strcmp(s, "json") == 0))
        val = s;
    for (size_t i = 0; !is_type && i < NELEM(levels); i++)
        if (strcasecmp(s, levels[i]) == 0)
            val = i == 3 ? "warn" : levels[i];
    if (val == NULL)
        return bad(c, k, "unsupported logging %s: \"%s\"", key, s);
    if (ws_str_set(is_type ? &cfg->log_type : &cfg->log_level, val) != WS_OK)
        return oom(c->err);
    return WS_OK;
}

/* `exec`: the application's command, split here so that one that cannot
 * be is an error of the file (child.h); empty is none. */
static int exec_field(struct ctx *c, const yaml_node_t *k,
                      const yaml_node_t *v, struct ws_config *cfg)
{
    struct ws_err e = {0};
    char **argv = NULL;
    int rc = table_field(c, top_fields, "exec", k, v, cfg);

    if (rc != WS_OK || cfg->exec == NULL)
        return rc;
    if (cfg->exec[0] == '\0') {
        free(cfg->exec);
        cfg->exec = NULL;
        return WS_OK;
    }
    if (ws_child_split(cfg->exec, &argv, &e) != WS_OK)
        return bad(c, k, "invalid \"exec\": %s", e.msg);
    ws_child_argv_free(argv);
    return WS_OK;
}

static int top_pair(struct ctx *c, const char *key, const yaml_node_t *k,
                    const yaml_node_t *v, void *arg)
{
    struct ws_config *cfg = arg;
    yaml_node_item_t *items;
    size_t n;
    int present, rc;

    if (strcmp(key, "logging") == 0) {
        rc = collection(c, k, v, YAML_MAPPING_NODE, &present);
        if (rc == WS_OK && present)
            rc = each_pair(c, v, "logging", logging_pair, cfg);
        return rc;
    }
    if (strcmp(key, "exec") == 0)
        return exec_field(c, k, v, cfg);
    if (strcmp(key, "dbs") != 0) {
        rc = table_field(c, top_fields, key, k, v, cfg);
        if (rc == WS_OK && strcmp(key, "addr") == 0 && cfg->addr != NULL &&
            cfg->addr[0] != '\0') {
            struct ws_err e = {0};
            char host[256];
            int port;
            if (ws_httpd_addr_parse(cfg->addr, host, sizeof(host), &port,
                                    &e) != WS_OK)
                return bad(c, k, "%s", e.msg);
        }
        if (rc == WS_OK && strcmp(key, "heartbeat-url") == 0 &&
            cfg->heartbeat_url != NULL && cfg->heartbeat_url[0] != '\0') {
            struct ws_err e = {0};
            char origin[300];
            if (ws_heartbeat_url_origin(cfg->heartbeat_url, origin,
                                        sizeof(origin), &e) != WS_OK)
                return bad(c, k, "%s", e.msg);
        }
        return rc;
    }
    c->dbs_line = line_of(k);
    rc = mapping_items(c, k, v, "database", &items, &n);
    if (rc != WS_OK || n == 0)
        return rc;
    cfg->dbs = calloc(n, sizeof(*cfg->dbs));
    if (cfg->dbs == NULL)
        return oom(c->err);
    for (size_t i = 0; rc == WS_OK && i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(c->doc, items[i]);
        struct ws_db_config *db = &cfg->dbs[cfg->ndbs++];

        ws_config_db_defaults(db, line_of(item));
        rc = each_pair(c, item, "database", db_pair, db);
    }
    return rc;
}

/* "<name>:<line>: <libyaml problem> (<context>)" */
static int yaml_error(const yaml_parser_t *p, const char *name,
                      const char *text, size_t len, struct ws_err *err)
{
    size_t line = p->problem_mark.line + 1;

    if (p->error == YAML_MEMORY_ERROR)
        return oom(err);
    if (p->error == YAML_READER_ERROR) { /* only an offset is known */
        line = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++)
            line += text[i] == '\n';
    }
    return ws_err_set(err, WS_ECONFIG, "%s:%zu: %s%s%s%s", name, line,
                      p->problem ? p->problem : "syntax error",
                      p->context ? " (" : "", p->context ? p->context : "",
                      p->context ? ")" : "");
}

int ws_config_yaml_load(const char *name, const char *text, size_t len,
                        int expand_env, struct ws_config *cfg,
                        struct ws_err *err)
{
    yaml_parser_t p;
    yaml_document_t doc, more;
    struct ctx c = {name, &doc, err, expand_env, {0}, {NULL, 0}, 0};
    yaml_node_t *root;
    int rc = WS_OK;

    if (!yaml_parser_initialize(&p))
        return oom(err);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &doc)) {
        rc = yaml_error(&p, name, text, len, err);
        yaml_parser_delete(&p);
        return rc;
    }
    root = yaml_document_get_root_node(&doc);
    if (root != NULL && !is_null(root) && root->type != YAML_MAPPING_NODE)
        rc = bad(&c, root, "the top level must be a mapping");
    else if (root != NULL && !is_null(root))
        rc = each_pair(&c, root, "config", top_pair, cfg);
    if (rc == WS_OK && !yaml_parser_load(&p, &more)) {
        rc = yaml_error(&p, name, text, len, err);
    } else if (rc == WS_OK) {
        root = yaml_document_get_root_node(&more);
        if (root != NULL)
            rc = bad(&c, root, "only one YAML document is allowed");
        yaml_document_delete(&more);
    }
    if (rc == WS_OK && cfg->ndbs == 0 && c.dbs_line > 0)
        rc = ws_err_set(err, WS_ECONFIG, "%s:%d: \"dbs\" is empty: list at "
                        "least one database, with its path and replicas",
                        name, c.dbs_line);
    else if (rc == WS_OK && cfg->ndbs == 0)
        rc = ws_err_set(err, WS_ECONFIG, "%s: no \"dbs\": list at least one "
                        "database, with its path and replicas", name);
    free(c.val.p);
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    return rc;
}

