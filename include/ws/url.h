/*
 * url.h: replica URLs: what is a URL, and what a file:// or s3:// URL
 * means.
 *
 * What is a URL.  Litestream v0.3 takes a string for a URL when it
 * matches `^\w+://` (\w being [A-Za-z0-9_]), and for a path otherwise;
 * walship uses the same rule, ws_url_form(), everywhere.  It sorts a
 * string into one of five forms, tested in this order:
 *
 *   WS_URL             `^\w+://`: a URL ("s3://b", "File:///a", "x_1://");
 *   WS_URL_NO_SCHEME   "://..." (nothing before the "://");
 *   WS_URL_BAD_SCHEME  "://" after a scheme that is not \w+ and holds
 *                      no '/' ("s3+x://b", "s3:://b"): meant as a URL;
 *   WS_URL_NO_SLASHES  a scheme Litestream knows (file, s3, gcs, gs,
 *                      abs, sftp; any case) and ':' without "//"
 *                      ("file:/tmp/a", "s3:bucket/x"): a mistyped URL.
 *                      Taken as a path it would name a directory
 *                      "file:" under the working directory.  Another
 *                      "word:" ("c:/x", "my:dir") is a path;
 *   WS_URL_PATH        anything else, "/tmp/file:/x" and "a/b://c" too.
 *
 * Which callers see which forms:
 *
 *   - a command-line argument that may be a URL or a path (the database
 *     argument of restore and the inspection commands, replicate's and
 *     sync's database paths) is a URL only in the form WS_URL
 *     (ws_is_url); every other form is a path there, as in Litestream;
 *   - a replica (a `url:` key, or a replica argument of `walship
 *     replicate DB URL...`) goes through ws_url_parse(), which parses
 *     WS_URL and WS_URL_PATH and refuses the three other forms;
 *   - a replica's `path:` key goes through ws_url_check_path(), which
 *     refuses WS_URL (Litestream's "use the 'url' field" error) and any
 *     path that starts as WS_URL_NO_SLASHES does, a known scheme and a
 *     ':' without "//" (so "file:://x" too, though its form is
 *     WS_URL_BAD_SCHEME); any other WS_URL_NO_SCHEME or
 *     WS_URL_BAD_SCHEME is a directory name there, as in Litestream.
 *
 * HTTP addresses are not replica URLs and are read where they are used:
 * the metrics address (httpd.h), heartbeat-url (heartbeat.h) and an S3
 * endpoint (s3.h).
 *
 * Schemes.  walship stores to file and s3 (the scheme in any case);
 * gcs, abs, sftp and others are refused by name.
 *
 * file.  "file:///abs/path", or a plain path.  A path of a file URL is
 * cleaned as Go's path.Clean (path.h).  Where Litestream reads more,
 * walship refuses, so that no URL quietly names a place the user did
 * not mean: a host ("file://a/rep", which Litestream makes /a/rep;
 * "file://localhost/p" too, which Litestream makes /localhost/p where
 * RFC 8089 means /p), a query or a fragment (which would end up in a
 * directory's name, "rep?x=1"), and no path at all ("file://").  A
 * plain path has "~" expanded and is made absolute and clean (path.h).
 *
 * s3.  "s3://[userinfo@]host[:port][/prefix][?query][#fragment]".  The
 * userinfo and the fragment are ignored.  The host is the bucket,
 * unless it is one of these S3-compatible hosts, which Litestream v0.3's
 * s3.ParseHost also knows and which imply path-style requests:
 *
 *   [BUCKET.]localhost                 region us-east-1, http
 *   [BUCKET.]s3.REGION.backblazeb2.com
 *   [BUCKET.]s3.filebase.com
 *   [BUCKET.]REGION.digitaloceanspaces.com
 *   [BUCKET.]s3.REGION.scw.cloud
 *   [BUCKET.]REGION.linodeobjects.com
 *
 * REGION being one label (no dots).  The endpoint is the host without
 * "BUCKET." (and with its port), over https except for localhost; the
 * region is REGION where the form has one.  Any other host,
 * "foo.s3.amazonaws.com" included, is the bucket's name as written.  The prefix is percent-decoded, cleaned as
 * Go's path.Clean, and loses its leading '/'; "" and "/" mean none.  The
 * query holds up to three parameters, percent-decoded with '+' as a
 * space: endpoint and region (an empty value is unset), and
 * force-path-style (true, false, 1 or 0); any other parameter is
 * refused (Litestream ignores it).  A bad escape, or %00, is refused.
 * An endpoint implies path style unless force-path-style says
 * otherwise.  A URL without a bucket is refused.
 */
#ifndef WS_URL_H
#define WS_URL_H

#include <stddef.h>

#include "ws/err.h"

enum ws_url_form {
    WS_URL_PATH,       /* a path */
    WS_URL,            /* ^\w+:// */
    WS_URL_NO_SLASHES, /* "file:/x", "s3:b/x": a known scheme, no "//" */
    WS_URL_NO_SCHEME,  /* "://x" */
    WS_URL_BAD_SCHEME, /* "s3+x://b": not \w+ before "://" */
};

/* The form of s (NULL is a path).  *scheme_len (may be NULL) is the
 * length of what stands for the scheme: the \w+ of WS_URL, the word
 * before ':' of WS_URL_NO_SLASHES, what precedes "://" for
 * WS_URL_BAD_SCHEME; 0 otherwise. */
enum ws_url_form ws_url_form(const char *s, size_t *scheme_len);

/* 1 if s has the form WS_URL, else 0 (also for NULL). */
int ws_is_url(const char *s);

/* A replica URL, parsed.  Every string is owned by the struct (free
 * with ws_url_free); a field that the URL does not give is NULL. */
struct ws_url {
    char *url;      /* as written */
    char *type;     /* "file" or "s3" */
    char *path;     /* file: absolute and clean; s3: key prefix, or NULL */
    char *bucket;   /* s3 only, from here on */
    char *region;
    char *endpoint; /* "scheme://host[:port]" */
    int force_path_style; /* -1 not said, 0, 1 */
};

/* Parse the replica url (a URL or a plain path, rules above) into *u,
 * which the caller zeroes first and frees with ws_url_free() whatever
 * the result.  WS_OK, WS_ECONFIG (err says what is wrong with the URL,
 * "unsupported replica url scheme: \"gcs\"") or WS_ENOMEM. */
int ws_url_parse(const char *url, struct ws_url *u, struct ws_err *err);

void ws_url_free(struct ws_url *u);

/* Check the value of a replica's `path:` key (rules above): WS_OK, or
 * WS_ECONFIG with err set. */
int ws_url_check_path(const char *path, struct ws_err *err);

#endif
