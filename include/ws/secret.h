/*
 * secret.h: keeping credentials out of everything walship shows.
 *
 * walship holds secrets: an S3 access key ID, secret access key and
 * session token (from the environment or the config file), a heartbeat
 * URL that carries a token, an `-exec` command made from the environment.
 * None of them may reach a log line at any level, an error message, the
 * metrics or /healthz, the replica's objects, or a core file.  Most of
 * that is by construction: the modules that hold a secret never put it in
 * a message (config errors name the key, never a secret's value; the
 * signer's errors say what is wrong, not what the key is; the application
 * is named by its program and argument count).  Two things are not, and
 * this module handles them.
 *
 * Text a server sends back.  An error's text comes partly from the other
 * side: an S3 error document's Message, libcurl's error text about a
 * URL.  A server, a proxy in front of it or a misconfigured gateway may
 * echo what it was sent (an access key, a token, a header) in that text,
 * and walship logs it, serves it on /healthz and makes it an exit
 * reason.  ws_mask() replaces every occurrence of a secret in such text,
 * in place, before it goes into an error: the S3 client masks its access
 * key ID, secret key and session token (s3.c), the heartbeat the secret
 * parts of its URL (heartbeat.c).  It works on the whole text before any
 * cut to fit a buffer, so no part of a secret is left behind by a cut
 * through it.
 *
 * The process's memory.  A core file of walship holds whatever walship
 * holds: its environment, its configuration, the keys.  So does what
 * another process can read of it through /proc/PID/environ,
 * /proc/PID/mem and ptrace.  ws_secret_hide_process() makes walship
 * non-dumpable (Linux's prctl PR_SET_DUMPABLE 0) as the first thing
 * main() does: a crash then writes no core file (with the default
 * fs.suid_dumpable 0), /proc/PID/environ, mem, maps and fd become
 * root's, and a process of walship's own user can no longer attach to
 * it with ptrace (gdb, gcore) or read its environment.  The cost: no
 * core dumps for debugging walship, and /proc/PID/fd and environ are
 * closed to tools of walship's own user.  root keeps CAP_SYS_PTRACE: to
 * debug a live walship, or to take a core of it, run `gdb -p PID` or
 * `gcore PID` as root, which is explicit and needs root.  The flag is
 * the process's and is reset by execve, so the application walship
 * runs with `-exec` is dumpable again (unless its program is setuid or
 * unreadable, the kernel's own rules).
 */
#ifndef WS_SECRET_H
#define WS_SECRET_H

#include <stddef.h>

/* Make this process non-dumpable (above).  0, or -1 with errno set. */
int ws_secret_hide_process(void);

/* Replace, in the NUL-terminated text s, every occurrence of
 * secret[0..len) by mark, cut to len bytes (never longer than what it
 * replaces, so s never grows).  Nothing is done when len is 0. */
void ws_mask(char *s, const char *secret, size_t len, const char *mark);

#endif
