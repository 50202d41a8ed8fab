#!/bin/sh
# The metrics server (addr:, -addr): /metrics in Prometheus' text format,
# scraped over HTTP while a writer commits and once it is idle, beside
# hostile clients.
#  1. Under load (50 tx/s, checkpoints every 100 pages): every scrape is
#     well formed (# HELP and # TYPE for every family, numbers); syncs,
#     uploads and checkpoints grow; checkpoints have durations; the time
#     walship held the writers off is counted; the lag is at least 0 and
#     at most the age of the first commit.  Meanwhile hostile clients
#     (40 silent connections, a byte-a-second one, a 100 KiB header,
#     garbage, pipelining, a POST) get 431/400/405/404 or a close, and
#     every concurrent scrape still answers; so does one behind 150
#     silent connections (more than the server's 64 slots), and each of
#     20 scrapes while about 200 new silent connections a second arrive.
#  2. Idle, once the replica restores the writer's last commit: the lag
#     is 0, and still 0 seconds later (it must not grow while nothing is
#     written); the database size is the file's; the generation label is
#     the replica's generation.  HEAD /healthz and /metrics get GET's
#     headers without a body; a request whose lines end with a bare LF is
#     answered.
#  3. -addr: a second walship on the same address fails at start with one
#     line naming the address; "[::1]:PORT" serves over IPv6; a database
#     path that is not UTF-8 comes out in /metrics as UTF-8 (U+FFFD for
#     the bad byte), which Prometheus needs to take the scrape.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-metrics.sh"
need_replica

db=$T/app.db
url=$(replica_url m)
port=$(free_port)
db_config "$T/walship.yml" "$db" m min-checkpoint-page-count=100 -- \
	sync-interval=200ms
printf 'addr: "127.0.0.1:%s"\n' "$port" >>"$T/walship.yml"
start_writer w "$db" "$T/tx.csv" -rate 50 -size 2048
t_first=$(now_s)
start_bg walship "$WALSHIP" replicate -config "$T/walship.yml"
wait_for 'log_has walship "serving metrics addr=127.0.0.1:$port"' 10
wait_for '[ "$(scrape "$port" /metrics "$T/m0")" = "200 text/plain; version=0.0.4; charset=utf-8" ]' 10

# 1. Under load, with hostile clients beside.
start_bg hostile python3 "$ROOT/tests/e2e/httpd-hostile.py" "$port" 8
prev_syncs=0 prev_up=0 n=0
while bg_running hostile || [ $n -lt 4 ]; do
	n=$((n + 1))
	res=$(scrape "$port" /metrics "$T/m$n")
	[ "$res" = "200 text/plain; version=0.0.4; charset=utf-8" ] ||
		fail "scrape $n under load and hostile clients: \"$res\""
	check_exposition "$T/m$n"
	syncs=$(metric "$T/m$n" walship_syncs_total)
	up=$(metric "$T/m$n" walship_replica_uploaded_bytes_total)
	lag=$(metric "$T/m$n" walship_replication_lag_seconds "replica=\"$WS_REPLICA\"")
	age=$(awk -v a="$(now_s)" -v b="$t_first" 'BEGIN { print a - b }')
	fcmp "$lag" ">=" 0 && fcmp "$lag" "<=" "$age" ||
		fail "scrape $n: lag $lag s, want 0 to $age s (the first commit's age)"
	# The summary over every database (here one) agrees with it.
	old=$(awk '$1 == "walship_oldest_unreplicated_commit_seconds" { print $2 }' "$T/m$n")
	awk -v a="$old" -v b="$lag" 'BEGIN { d = a - b; exit !(a != "" && d < 1e-5 && d > -1e-5) }' ||
		fail "scrape $n: oldest unreplicated commit \"$old\" s, the lag $lag s"
	[ "$(metric "$T/m$n" walship_databases 'state="replicating"')" -eq 1 ] ||
		fail "scrape $n: walship_databases: $(grep '^walship_databases' "$T/m$n")"
	[ "$(awk '$1 == "walship_databases_lagging" { print $2 }' "$T/m$n")" = 0 ] ||
		fail "scrape $n: a database lagging: $(grep '^walship_databases_lagging' "$T/m$n")"
	[ "$syncs" -ge "$prev_syncs" ] && [ "$up" -ge "$prev_up" ] ||
		fail "scrape $n: counters went back: syncs $prev_syncs -> $syncs, uploaded $prev_up -> $up"
	prev_syncs=$syncs prev_up=$up
	sleep 0.5
done
st=0
wait_bg hostile 30 || st=$?
[ "$st" -eq 0 ] || fail "hostile clients got wrong answers: $(tail -n 5 "$T/hostile.log")"
log_has hostile "^hostile ok" || fail "hostile clients: $(tail -n 3 "$T/hostile.log")"
out=$(python3 "$ROOT/tests/e2e/httpd-hostile.py" "$port" flood 2>&1) ||
	fail "a flood of silent connections: $out"
out=$(python3 "$ROOT/tests/e2e/httpd-hostile.py" "$port" churn 2>&1) ||
	fail "scrapes amid a stream of new silent connections: $out"
bg_running walship || fail "walship died under hostile clients"
[ "$n" -ge 4 ] || fail "only $n scrapes"
wait_for '[ "$(scrape "$port" /metrics "$T/mc")" != "" ] &&
	[ "$(metric "$T/mc" walship_checkpoints_total "mode=\"PASSIVE\"")" -gt 0 ]' 30
m=$T/mc
ck=$(($(metric "$m" walship_checkpoints_total 'mode="PASSIVE"') +
	$(metric "$m" walship_checkpoints_total 'mode="TRUNCATE"')))
ckn=$(($(metric "$m" walship_checkpoint_duration_seconds_count 'mode="PASSIVE"') +
	$(metric "$m" walship_checkpoint_duration_seconds_count 'mode="TRUNCATE"')))
[ "$ck" -eq "$ckn" ] || fail "checkpoints $ck, durations counted $ckn"
fcmp "$(metric "$m" walship_checkpoint_duration_seconds_sum 'mode="PASSIVE"')" ">" 0 ||
	fail "PASSIVE checkpoints took no time"
fcmp "$(metric "$m" walship_writers_held_seconds_total)" ">" 0 ||
	fail "no time holding the writers off after $ck checkpoints"
[ "$(metric "$m" walship_replica_requests_total 'op="put",result="ok"')" -gt 0 ] ||
	fail "no successful PUT counted"
[ "$(metric "$m" walship_sync_errors_total)" -eq 0 ] || fail "sync errors counted"
[ "$(metric "$m" walship_db_ready)" -eq 1 ] || fail "db not ready"

# 2. Idle.
stop_bg w || fail "writer exited $?"
last=$(csv_last_seq "$T/tx.csv")
wait_restores "$url" "$last" "$T/tx.csv" 30
wait_for '[ "$(scrape "$port" /metrics "$T/mi")" != "" ] &&
	[ "$(metric "$T/mi" walship_replication_lag_seconds)" = 0 ]' 10
sleep 3 # idle time passes; the lag must stay 0
scrape "$port" /metrics "$T/mi2" >/dev/null
check_exposition "$T/mi2"
[ "$(metric "$T/mi2" walship_replication_lag_seconds)" = 0 ] ||
	fail "lag $(metric "$T/mi2" walship_replication_lag_seconds) s while idle and caught up, want 0"
[ "$(metric "$T/mi2" walship_replica_spool_bytes)" = 0 ] ||
	fail "spool bytes while caught up: $(metric "$T/mi2" walship_replica_spool_bytes)"
[ "$(metric "$T/mi2" walship_db_size_bytes)" = "$(stat -c %s "$db")" ] ||
	fail "db size $(metric "$T/mi2" walship_db_size_bytes), file $(stat -c %s "$db")"
gen=$(replica_gens "$url" | tail -n 1)
metric "$T/mi2" walship_generation_info "generation=\"$gen\"" >/dev/null
[ "$(scrape "$port" /healthz "$T/h")" = "200 text/plain; charset=utf-8" ] &&
	[ "$(cat "$T/h")" = ok ] || fail "/healthz while caught up: $(cat "$T/h")"
out=$(python3 "$ROOT/tests/e2e/httpd-hostile.py" "$port" conform 2>&1) ||
	fail "HEAD and bare-LF requests: $out"

# 3. The same address again, from -addr: one line, non-zero.
st=0
"$WALSHIP" replicate -addr "127.0.0.1:$port" "$T/other.db" "$(replica_url other)" \
	>"$T/busy.out" 2>&1 || st=$?
[ "$st" -ne 0 ] || fail "a second walship on a busy address exited 0"
grep -q -F "walship: cannot listen on addr 127.0.0.1:$port: address already in use" "$T/busy.out" ||
	fail "busy address: $(cat "$T/busy.out")"
if python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
	p6=$(free_port)
	start_bg w6 "$WALSHIP" replicate -addr "[::1]:$p6" "$T/six.db" "$(replica_url six)"
	wait_for 'curl -s -g -m 5 "http://[::1]:$p6/metrics" | grep -q "^# TYPE walship_syncs_total counter"' 10
	stop_bg w6 || fail "walship on [::1] exited $?"
else
	skip "no IPv6 loopback here: [::1]:PORT not checked"
fi
# A database path that is not UTF-8 (Latin-1 e-acute): awaited, it is
# labelled with U+FFFD in its place.
pl=$(free_port)
lat=$T/lat$(printf '\351')in.db
start_bg wl "$WALSHIP" replicate -addr "127.0.0.1:$pl" "$lat" "$(replica_url lat)"
wait_for '[ "$(scrape "$pl" /metrics "$T/ml")" = "200 text/plain; version=0.0.4; charset=utf-8" ]' 10
check_exposition "$T/ml"
out=$(python3 -c 'import sys
t = open(sys.argv[1], "rb").read().decode("utf-8")
want = "walship_db_ready{db=\"%s\ufffdin.db\"} 0" % sys.argv[2]
sys.exit(0 if want in t.splitlines() else "no line " + repr(want))' "$T/ml" "$T/lat" 2>&1) ||
	fail "/metrics with a database path that is not UTF-8: $out"
stop_bg wl || fail "walship on $lat exited $?"
stop_bg walship || fail "walship exited $?"
