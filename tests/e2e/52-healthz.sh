#!/bin/sh
# /healthz: 200 "ok" while every database replicates and every replica
# holds what was committed; 503, with one line per problem naming the
# database, while a database is awaited (it does not exist yet) or its
# syncs fail; 200 again once that is over.  Unknown paths are 404 and
# other methods 405.  (A replica that stops answering: 54-replica-down.)
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-metrics.sh"
need_replica

db=$T/app.db
url=$(replica_url h)
port=$(free_port)
db_config "$T/walship.yml" "$db" h -- sync-interval=200ms
printf 'addr: "127.0.0.1:%s"\nhealth-sync-timeout: 20s\n' "$port" >>"$T/walship.yml"
start_bg walship "$WALSHIP" replicate -config "$T/walship.yml"

# 1. The database does not exist yet: 503, naming it.
wait_for '[ "$(scrape "$port" /healthz "$T/h1")" = "503 text/plain; charset=utf-8" ]' 10
grep -q -F "waiting for the database db=$db" "$T/h1" ||
	fail "/healthz while the database is missing: $(cat "$T/h1")"
[ "$(grep -c . "$T/h1")" -eq 1 ] || fail "want one problem line: $(cat "$T/h1")"
scrape "$port" /metrics "$T/m1" >/dev/null
[ "$(metric "$T/m1" walship_db_ready)" = 0 ] || fail "db_ready while missing"

# 2. It appears and replicates: 200 "ok".
start_writer w "$db" "$T/tx.csv" -rate 20
wait_for '[ "$(scrape "$port" /healthz "$T/h2")" = "200 text/plain; charset=utf-8" ]' 20
[ "$(cat "$T/h2")" = ok ] || fail "/healthz body: $(cat "$T/h2")"

# 3. Other paths and methods.
[ "$(scrape "$port" /nope "$T/x")" = "404 text/plain; charset=utf-8" ] ||
	fail "GET /nope: not 404"
[ "$(scrape "$port" '/healthz?verbose=1' "$T/x")" = "200 text/plain; charset=utf-8" ] ||
	fail "a query string changed the answer"
st=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$port/healthz")
[ "$st" = 405 ] || fail "DELETE /healthz: $st, want 405"

# 4. Syncs fail (the database is replaced by a file that is not a
# database, its -wal and -shm removed): 503 naming the sync error; the database back, 200 again.
stop_bg w || fail "writer exited $?"
last=$(csv_last_seq "$T/tx.csv")
wait_restores "$url" "$last" "$T/tx.csv" 30
ln "$db" "$T/keep.db"
ln "$db-wal" "$T/keep.db-wal"
head -c 8192 /dev/urandom >"$T/junk"
mv "$T/junk" "$db"
rm "$db-wal" "$db-shm"
wait_for '[ "$(scrape "$port" /healthz "$T/h4")" = "503 text/plain; charset=utf-8" ] &&
	grep -q -F "sync error db=$db" "$T/h4"' 20
mv "$T/keep.db-wal" "$db-wal"
mv "$T/keep.db" "$db"
wait_for '[ "$(scrape "$port" /healthz "$T/h5")" = "200 text/plain; charset=utf-8" ]' 60
scrape "$port" /metrics "$T/m5" >/dev/null
[ "$(metric "$T/m5" walship_sync_errors_total)" -gt 0 ] || fail "sync errors not counted"
wait_restores "$url" "$last" "$T/tx.csv" 30
stop_bg walship || fail "walship exited $?"
