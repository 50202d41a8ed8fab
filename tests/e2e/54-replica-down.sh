#!/bin/sh
# A replica that is down (s3rver stopped behind the proxy: every request
# is reset) while the application writes: the replication lag is the age
# of the first commit the replica lacks, checked against the writer's own
# commit times, and grows with wall time; /healthz turns 503 within
# health-sync-timeout, naming the database and replica, and back to 200
# once the replica has caught up.  While nothing is written, a replica
# that is down has nothing to lag behind: lag 0, healthy.
# S3 only: the fault is the proxy's.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-metrics.sh"
need_s3

db=$T/app.db
url=$(replica_url d)
port=$(free_port)
db_config "$T/walship.yml" "$db" d -- sync-interval=200ms
printf 'addr: "127.0.0.1:%s"\nhealth-sync-timeout: 5s\n' "$port" >>"$T/walship.yml"
start_writer w "$db" "$T/tx.csv" -rate 20 -count 40
start_bg walship "$WALSHIP" replicate -config "$T/walship.yml"
wait_bg w 30 || fail "writer exited $?"
last=$(csv_last_seq "$T/tx.csv")
wait_restores "$url" "$last" "$T/tx.csv" 30
wait_for '[ "$(scrape "$port" /healthz "$T/h0")" = "200 text/plain; charset=utf-8" ]' 10
lag() {
	scrape "$port" /metrics "$T/m" >/dev/null
	metric "$T/m" walship_replication_lag_seconds 'replica="s3"'
}

# 1. Down while idle: nothing to ship, so nothing lags.
s3_stop_server
sleep 2 # idle time passes with the replica down
[ "$(lag)" = 0 ] || fail "lag $(lag) s while idle with the replica down, want 0"
[ "$(scrape "$port" /healthz "$T/h1")" = "200 text/plain; charset=utf-8" ] ||
	fail "/healthz idle with the replica down: $(cat "$T/h1")"

# 2. Writes while it is down: the lag is the age of commit last+1.
first=$((last + 1))
start_writer w2 "$db" "$T/tx.csv" -rate 20
wait_for '[ "$(csv_last_seq "$T/tx.csv")" -ge $first ]' 10
t_end=$(csv_time "$first" "$T/tx.csv")
t_begin=$(csv_begin "$first" "$T/tx.csv")
prev=-1
for i in 1 2 3; do
	tb=$(now_s)
	l=$(lag)
	ta=$(now_s)
	lo=$(awk -v a="$tb" -v b="$t_end" 'BEGIN { print a - b - 3 }')
	hi=$(awk -v a="$ta" -v b="$t_begin" 'BEGIN { print a - b }')
	fcmp "$l" ">=" "$lo" && fcmp "$l" "<=" "$hi" ||
		fail "scrape $i: lag $l s, want $lo to $hi s (the age of commit $first, with 3 s for walship to see it)"
	fcmp "$l" ">" "$prev" || fail "lag did not grow: $prev s, then $l s"
	prev=$l
	sleep 2 # wall time passes; the lag must follow
done
wait_for '[ "$(scrape "$port" /healthz "$T/h2")" = "503 text/plain; charset=utf-8" ]' 30
grep -q -F "db=$db replica=s3" "$T/h2" || fail "/healthz body: $(cat "$T/h2")"
t_fail=$(now_s)
fcmp "$t_fail" "<=" "$(awk -v a="$t_end" 'BEGIN { printf "%.6f", a + 5 + 25 }')" ||
	fail "/healthz turned 503 only $(awk -v a="$t_fail" -v b="$t_end" 'BEGIN { print a - b }') s after the first commit it lacks (bound 5 s)"

# 3. Back: caught up, healthy, lag 0 once the writer stops.
s3_start_server
wait_for '[ "$(scrape "$port" /healthz "$T/h3")" = "200 text/plain; charset=utf-8" ]' 90
stop_bg w2 || fail "writer exited $?"
last=$(csv_last_seq "$T/tx.csv")
wait_restores "$url" "$last" "$T/tx.csv" 60
wait_for '[ "$(lag)" = 0 ]' 10
scrape "$port" /metrics "$T/m3" >/dev/null
[ "$(metric "$T/m3" walship_replica_failures_total)" -gt 0 ] ||
	fail "no failure counted during the outage"
stop_bg walship || fail "walship exited $?"
