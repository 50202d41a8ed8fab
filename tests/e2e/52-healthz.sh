#!/bin/sh
# /healthz: 200 "ok" while every database replicates and every replica
# holds what was committed; 503, with one line per problem naming the
# database, while a database is awaited (it does not exist yet) or its
# syncs fail (the disk of its meta directory is full: a small tmpfs, so
# root only, else that check is skipped); 200 again once that is over.
# Unknown paths are 404 and other methods 405.  (A replica that stops answering: 54-replica-down.)
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-metrics.sh"
. "$ROOT/tests/lib-stall.sh"
need_replica

db=$T/app.db
url=$(replica_url h)
port=$(free_port)
db_config "$T/walship.yml" "$db" h -- sync-interval=200ms
printf 'addr: "127.0.0.1:%s"\nhealth-sync-timeout: 20s\n' "$port" >>"$T/walship.yml"
start_bg walship "$WALSHIP" replicate -config "$T/walship.yml"

# 1. The database does not exist yet: 503, naming it.
wait_for '[ "$(scrape "$port" /healthz "$T/h1")" = "503 text/plain; charset=utf-8" ] &&
	grep -q -F "waiting for the database db=$db" "$T/h1"' 10
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

# 4. Syncs fail: the disk of the meta directory is full (a small tmpfs,
# as in 36-stall-db): 503 naming the sync error; space again, 200.
stop_bg w || fail "writer exited $?"
wait_restores "$url" "$(csv_last_seq "$T/tx.csv")" "$T/tx.csv" 30
stop_bg walship || fail "walship exited $?"
if ! mount_small_meta "$T/meta"; then
	skip "a full disk: needs root to mount a small tmpfs"
	exit 0
fi
full=$T/full.db
"$TOOLS/wsload" "$full" -count 10 -rate 0 -log "$T/full.csv" 2>/dev/null
db_config "$T/full.yml" "$full" full meta-path="$T/meta/m" -- sync-interval=200ms
printf 'addr: "127.0.0.1:%s"\n' "$port" >>"$T/full.yml"
start_bg walship2 "$WALSHIP" replicate -config "$T/full.yml"
wait_for '[ "$(scrape "$port" /healthz "$T/h3")" = "200 text/plain; charset=utf-8" ]' 20
dd if=/dev/zero of="$T/meta/filler" bs=64k 2>/dev/null || true
start_writer wf "$full" "$T/full.csv" -count 40 -rate 40
wait_for '[ "$(scrape "$port" /healthz "$T/h4")" = "503 text/plain; charset=utf-8" ] &&
	grep -q -F "sync error db=$full" "$T/h4"' 20
grep -q "No space left on device" "$T/h4" || fail "/healthz body: $(cat "$T/h4")"
wait_bg wf 30 || fail "writer exited $? while the meta disk was full"
rm "$T/meta/filler"
wait_for '[ "$(scrape "$port" /healthz "$T/h5")" = "200 text/plain; charset=utf-8" ]' 60
scrape "$port" /metrics "$T/m5" >/dev/null
[ "$(metric "$T/m5" walship_sync_errors_total)" -gt 0 ] || fail "sync errors not counted"
wait_restores "$(replica_url full)" "$(csv_last_seq "$T/full.csv")" "$T/full.csv" 60
stop_bg walship2 || fail "walship exited $?"
