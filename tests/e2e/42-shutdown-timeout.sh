#!/bin/sh
# shutdown-sync-timeout bounds the final sync of a plain SIGTERM
# shutdown (no -exec): with S3 holding every upload without an answer
# (the proxy's hang fault), walship exits non-zero once the bound has
# passed, with one line naming the database and the replica, instead of
# waiting for minutes (before, only a second signal got it out).  The
# config key sets it, and the -shutdown-sync-timeout flag overrides the
# key.  What was not shipped is shipped by the next start: the replica
# restores exactly.
# And with -exec, a store that does not answer at start does not hold
# the application back: it starts once the held request has been said,
# and once the store answers again walship ships everything and exits
# with the application's status.  With `shutdown-sync-timeout: 0`
# (Litestream's "no retry") the last upload is tried once.  And when the
# store refuses the credentials while the application runs, walship
# keeps the application running, says so (/healthz 503) and catches up
# once the store accepts again; a refusal left at the application's exit
# is the exit status.
# S3 only: a directory replica has no server to hang.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-metrics.sh"
need_s3

db=$T/db
url=$(replica_url held)
db_config "$T/walship.yml" "$db" held
printf 'shutdown-sync-timeout: 3s\n' >>"$T/walship.yml"
sed 's/^shutdown-sync-timeout: 3s$/shutdown-sync-timeout: 1h/' \
	"$T/walship.yml" >"$T/long.yml"
"$TOOLS/wsload" "$db" -count 20 -rate 0 -log "$T/tx.csv" 2>/dev/null

# hung NAME ARGS...: replicate with ARGS until caught up, then hold
# every upload, write, SIGTERM once an upload is held: the exit status, the time the shutdown
# took in $ms, the exit line in $last.
hung() {
	_h_name=$1
	shift
	start_bg "$_h_name" "$WALSHIP" replicate "$@"
	n=$(csv_last_seq "$T/tx.csv")
	wait_for '[ "$(probe_seq "$WALSHIP" "'"$url"'")" -eq '"$n"' ]' 30
	_h_hung=$(s3_stat faults.hang)
	s3_faults '{"rate":1,"kinds":["hang"],"hang_s":300,"ops":["PutObject"]}'
	"$TOOLS/wsload" "$db" -count 5 -rate 0 -log "$T/tx.csv" 2>/dev/null
	wait_for '[ "$(s3_stat faults.hang)" -gt '"${_h_hung:-0}"' ]' 20
	t0=$(_ws_now_ms)
	kill -TERM "$(bg_pid "$_h_name")"
	_h_st=0
	wait_bg "$_h_name" 60 || _h_st=$?
	ms=$(($(_ws_now_ms) - t0))
	last=$(tail -n 1 "$T/$_h_name.log")
	s3_faults '{"clear":true}'
	return $_h_st
}

# 1. The key: 3 s.
st=0
hung key -config "$T/walship.yml" || st=$?
[ "$st" -ne 0 ] || fail "walship exited 0 with its last upload unanswered"
case $last in
"walship: shut down with unshipped changes: db=$db replica=s3: the final sync did not finish within shutdown-sync-timeout=3s") ;;
*) fail "the exit line is \"$last\"" ;;
esac
log_has key "ERROR final sync timed out db=$db replica=s3 shutdown-sync-timeout=3s" ||
	fail "no error line naming the database and replica"
echo "1: shutdown-sync-timeout: 3s: exit $st after ${ms} ms: $last"

# 2. The flag overrides the key (1h).
st=0
hung flag -shutdown-sync-timeout 2s -config "$T/long.yml" || st=$?
[ "$st" -ne 0 ] || fail "walship exited 0 with its last upload unanswered"
case $last in
"walship: shut down with unshipped changes: db=$db replica=s3: the final sync did not finish within shutdown-sync-timeout=2s") ;;
*) fail "the exit line is \"$last\"" ;;
esac
echo "2: -shutdown-sync-timeout 2s over a key of 1h: exit $st after ${ms} ms"

# 3. The next start ships everything.
start_bg walship "$WALSHIP" replicate -config "$T/walship.yml"
wait_restores "$url" "$(csv_last_seq "$T/tx.csv")" "$T/tx.csv" 60
stop_bg walship || fail "walship exited $?"
echo "3: the next start shipped it all: replica at $(csv_last_seq "$T/tx.csv")"

# 4. -exec against a store that holds every upload from the start.
"$TOOLS/wsload" "$T/db4" -count 10 -rate 0 -log "$T/tx4.csv" 2>/dev/null
url4=$(replica_url held4)
cat >"$T/app4.sh" <<EOF
#!/bin/sh
echo started >"$T/app4.state"
while [ ! -f "$T/go4" ]; do sleep 0.1; done
"$TOOLS/wsload" "$T/db4" -count 5 -rate 0 -log "$T/tx4.csv" 2>/dev/null
exit 4
EOF
chmod +x "$T/app4.sh"
s3_faults '{"rate":1,"kinds":["hang"],"hang_s":15,"ops":["PutObject"]}'
start_bg app4 "$WALSHIP" replicate -exec "$T/app4.sh" \
	-shutdown-sync-timeout 2m "$T/db4" "$url4"
wait_for '[ -f "$T/app4.state" ]' 60
grep -E "replica not answering|application started" "$T/app4.log" |
	head -n 1 | grep -q "replica not answering db=$T/db4 replica=s3" ||
	fail "the application started before the held request was said"
s3_faults '{"clear":true}'
touch "$T/go4"
st=0
wait_bg app4 150 || st=$?
[ "$st" -eq 4 ] || fail "walship exited $st after the application exited 4"
wait_restores "$url4" 15 "$T/tx4.csv"
echo "4: started beside a store that did not answer; exit 4; replica at 15"

# 5. shutdown-sync-timeout: 0, as in Litestream: no bound and no retry.
# With the store down, the last upload fails once, is not retried (no
# back-off after the signal), and walship exits non-zero naming the
# database and replica.
sed 's/^shutdown-sync-timeout: 3s$/shutdown-sync-timeout: 0/' \
	"$T/walship.yml" >"$T/zero.yml"
start_bg zero "$WALSHIP" replicate -config "$T/zero.yml"
n=$(csv_last_seq "$T/tx.csv")
wait_for '[ "$(probe_seq "$WALSHIP" "'"$url"'")" -eq '"$n"' ]' 30
s3_stop_server
"$TOOLS/wsload" "$db" -count 5 -rate 0 -log "$T/tx.csv" 2>/dev/null
kill -TERM "$(bg_pid zero)"
st=0
wait_bg zero 120 || st=$?
s3_start_server
[ "$st" -ne 0 ] || fail "walship exited 0 with the store down"
log_has zero "error db=$db replica=s3 .*giving up" ||
	fail "no line giving up the replica's last upload"
last=$(tail -n 1 "$T/zero.log")
case $last in
"walship: shut down with unshipped changes: db=$db replica=s3: "*) ;;
*) fail "the exit line is \"$last\"" ;;
esac
! sed -n '/signal received/,$p' "$T/zero.log" | grep -q "backing off" ||
	fail "the last upload was retried: $(grep "backing off" "$T/zero.log")"
echo "5: shutdown-sync-timeout: 0 with the store down: exit $st, $last"

# 6. The store refuses the credentials while the application runs (an
# expired token): a backup problem must not break the application, so
# walship keeps it running, says the refusal, /healthz is 503, and once
# the store accepts again the replica catches up, exactly, with no
# restart.  Refused again when the application exits, the final sync's
# failure is the exit status (5, naming the database and replica).
refuse='{"next":"respond","n":100000,"response":{"status":403,"headers":{"content-type":"application/xml"},"body":"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"}}'
port=$(free_port)
cat >"$T/app6.sh" <<EOF
#!/bin/sh
echo \$\$ >"$T/app6.pid"
while [ ! -f "$T/go6" ]; do sleep 0.1; done
exit 0
EOF
chmod +x "$T/app6.sh"
start_bg app6 "$WALSHIP" replicate -addr "127.0.0.1:$port" -exec "$T/app6.sh" \
	-config "$T/walship.yml"
wait_for '[ -s "$T/app6.pid" ]' 30
apid=$(cat "$T/app6.pid")
wait_restores "$url" "$(csv_last_seq "$T/tx.csv")" "$T/tx.csv" 60
s3_faults "$refuse"
"$TOOLS/wsload" "$db" -count 5 -rate 0 -log "$T/tx.csv" 2>/dev/null
keeps="ERROR .* error db=$db replica=s3 error=.*403 AccessDenied.*: the replica keeps refusing; the application keeps running"
wait_for 'log_has app6 "'"$keeps"'" || ! bg_running app6' 120
bg_running app6 || fail "walship exited when the store refused its credentials: $(tail -n 1 "$T/app6.log")"
log_has app6 "$keeps" || fail "no line saying the replica keeps refusing"
kill -0 "$apid" 2>/dev/null ||
	fail "the application was stopped when the store refused the credentials"
! log_has app6 "stopping the application" ||
	fail "walship stopped the application: $(grep "stopping the application" "$T/app6.log")"
hz=$(scrape "$port" /healthz "$T/h6")
[ "$hz" = "503 text/plain; charset=utf-8" ] || fail "/healthz while refused: $hz $(cat "$T/h6")"
grep -q "403 AccessDenied" "$T/h6" || fail "/healthz body: $(cat "$T/h6")"
s3_faults '{"clear":true}'
n=$(csv_last_seq "$T/tx.csv")
wait_restores "$url" "$n" "$T/tx.csv" 120
wait_for 'log_has app6 "no longer stalled after .* error db=$db replica=s3 "' 30
wait_for '[ "$(scrape "$port" /healthz "$T/h6b")" = "200 text/plain; charset=utf-8" ]' 60
kill -0 "$apid" 2>/dev/null || fail "the application is not running after the store healed"
echo "6: credentials refused: the application kept running, /healthz 503; healed: replica at $n, exact"
s3_faults "$refuse"
"$TOOLS/wsload" "$db" -count 5 -rate 0 -log "$T/tx.csv" 2>/dev/null
wait_for 'sed -n "/no longer stalled/,\$p" "$T/app6.log" | grep -q "stalled: .*403 AccessDenied"' 90
touch "$T/go6"
st=0
wait_bg app6 120 || st=$?
s3_faults '{"clear":true}'
[ "$st" -eq 5 ] || fail "walship exited $st after the application exited 0 with the store refusing, want 5"
log_has app6 "application exited pid=$apid status=0" || fail "the application did not exit by itself"
last=$(tail -n 1 "$T/app6.log")
case $last in
"walship: shut down with unshipped changes: db=$db replica=s3: "*) ;;
*) fail "the exit line is \"$last\"" ;;
esac
echo "6: refused again at the application's exit: exit $st, $last"
