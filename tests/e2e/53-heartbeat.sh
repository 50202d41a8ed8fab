#!/bin/sh
# heartbeat-url: a GET to a dead man's switch, sent while replication
# works and withheld while it does not.  With the minimum interval (1m;
# the test takes about two minutes of real time, no test-only knob):
#  0. A heartbeat-url that is not an absolute http:// or https:// URL with
#     a host is refused at start: exit 3, one line naming the key's line,
#     none of the URL quoted.
#  1. The listener is down at the start: the failed ping is logged (its
#     scheme, host and port only, never the URL's user, password, path
#     or query, all secrets) and retried; once the listener is up the
#     first ping arrives, as soon as every database has synced.
#     Meanwhile a second walship, whose database does not exist yet and
#     whose URL has a query but no path, logs its withheld heartbeat
#     with the host and port only.
#  2. S3 goes down while the application writes: no ping comes when the
#     next one is due (a minute after the first), the withheld heartbeat
#     is logged then, naming the problem, and replication goes on.
#  3. S3 back: the replica catches up and the pings resume.
# S3 only: the outage is the fault proxy's.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-metrics.sh"
need_s3

db=$T/app.db
url=$(replica_url hb)
hport=$(free_port)
db_config "$T/walship.yml" "$db" hb -- sync-interval=200ms

# 0. Unusable URLs: refused at start, without quoting them.
for u in 'ftp://x/SECRET-A' 'not a url SECRET-B' 'http:///SECRET-C' \
	'http://user:SECRET-D@/x' 'http://h:99999/SECRET-E'; do
	{ printf 'heartbeat-url: "%s"\n' "$u"; cat "$T/walship.yml"; } >"$T/bad.yml"
	st=0
	timeout 20 "$WALSHIP" replicate -config "$T/bad.yml" >"$T/bad.out" 2>&1 || st=$?
	[ "$st" -eq 3 ] && [ "$(grep -c . "$T/bad.out")" -eq 1 ] &&
		grep -qF "walship: $T/bad.yml:1: invalid heartbeat-url: " "$T/bad.out" ||
		fail "heartbeat-url $u: exit $st, want 3 and one line: $(cat "$T/bad.out")"
	! grep -q SECRET "$T/bad.out" || fail "heartbeat-url $u was quoted: $(cat "$T/bad.out")"
done

printf 'heartbeat-url: http://hbuser:PASSWORD-SECRET@127.0.0.1:%s/ping/SECRET-TOKEN?key=QUERY-SECRET\nheartbeat-interval: 1m\n' \
	"$hport" >>"$T/walship.yml"
pings() {
	[ -f "$T/pings.log" ] || { echo 0; return; }
	grep -c '^ping /ping/SECRET-TOKEN?key=QUERY-SECRET ' "$T/pings.log" || true
}
start_writer w "$db" "$T/tx.csv" -rate 10
start_bg walship "$WALSHIP" replicate -config "$T/walship.yml"
qport=$(free_port)
db_config "$T/query.yml" "$T/none.db" hbq
printf 'heartbeat-url: http://127.0.0.1:%s?token=SECRET-QUERY\nheartbeat-interval: 1m\n' \
	"$qport" >>"$T/query.yml"
start_bg wq "$WALSHIP" replicate -config "$T/query.yml"

# 1. No listener yet.
wait_for 'log_has walship "heartbeat ping failed url=http://127.0.0.1:$hport error="' 20
log_has walship SECRET && fail "a secret of the heartbeat URL was logged: $(grep SECRET "$T/walship.log")"
wait_for 'log_has wq "heartbeat withheld url=http://127.0.0.1:$qport problems=[0-9]+ "' 20
log_has wq SECRET && fail "the heartbeat URL's query was logged: $(grep SECRET "$T/wq.log")"
stop_bg wq || fail "the walship awaiting none.db exited $?"
start_bg pings python3 "$ROOT/tests/e2e/heartbeat-listener.py" "$hport"
wait_for '[ "$(pings)" -ge 1 ]' 30
t1=$(date +%s)
wait_for 'log_has walship "heartbeat pings work again"' 5

# 2. S3 down, writes go on: the ping due at t1 + 60 s is withheld.
s3_stop_server
while [ "$(date +%s)" -lt $((t1 + 75)) ]; do
	[ "$(pings)" -eq 1 ] || fail "a ping came while S3 was down: $(cat "$T/pings.log")"
	sleep 1
done
bg_running walship || fail "walship exited during the outage"
log_has walship "heartbeat withheld url=http://127.0.0.1:$hport problems=[0-9]+ first=\".*db=$db" ||
	fail "the withheld heartbeat was not said"
# The first problem's own quotes are escaped inside first="..." (one
# value for a log parser): no unescaped error=" inside it.
grep 'heartbeat withheld' "$T/walship.log" | grep -q 'first=".* error="' &&
	fail "quotes inside first=\"...\" not escaped: $(grep 'heartbeat withheld' "$T/walship.log" | head -n 1)"
log_has walship SECRET && fail "a secret of the heartbeat URL was logged: $(grep SECRET "$T/walship.log")"

# 3. S3 back: the pings resume.
s3_start_server
wait_for '[ "$(pings)" -ge 2 ]' 90
log_has walship "heartbeat resumed: replication is healthy again" ||
	fail "the end of the withheld heartbeat was not said"
stop_bg w || fail "writer exited $?"
wait_restores "$url" "$(csv_last_seq "$T/tx.csv")" "$T/tx.csv" 60
stop_bg walship || fail "walship exited $?"
