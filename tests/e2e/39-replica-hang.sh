#!/bin/sh
# A replica server that stops answering (S3 requests held without an
# answer: the proxy's hang fault).  The S3 client gives up on a silent
# connection only after a minute, and retries four times, so before,
# walship said nothing for minutes while nothing was shipped, and a
# SIGTERM then waited for all of it (a second one was ignored).  Now:
# - the request in flight is said within seconds ("replica not
#   answering", naming the request), and said answered when it is;
# - a second SIGTERM during the shutdown's last uploads exits at once,
#   non-zero, saying so; what was not shipped is shipped by the next
#   start, and the replica restores exactly.
# S3 only: a directory replica has no server to hang.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
need_s3

db=$T/app.db
url=$(replica_url hang)
db_config "$T/walship.yml" "$db" hang -- sync-interval=200ms
"$TOOLS/wsload" "$db" -count 20 -rate 0 -log "$T/tx.csv" 2>/dev/null
start_bg walship "$WALSHIP" replicate -config "$T/walship.yml"
wait_for 'log_has walship "snapshot written"' 10
wait_for '[ "$(probe_seq "$WALSHIP" "'"$url"'")" -eq 20 ]' 20

# 1. Every request held 25 s, then reset; a commit's segment waits.
s3_faults '{"rate":1,"kinds":["hang"],"hang_s":25,"ops":["PutObject"]}'
"$TOOLS/wsload" "$db" -count 5 -log "$T/tx.csv" 2>/dev/null
wait_for 'log_has walship "replica not answering db=$db replica=s3 request=\"PUT generations/[^\"]*\" waiting=1[0-9]"' 20
s3_faults '{"clear":true}'
wait_for 'log_has walship "replica answered db=$db replica=s3 request=\"PUT generations/"' 60
wait_for '[ "$(probe_seq "$WALSHIP" "'"$url"'")" -eq 25 ]' 60

# 2. Held again, SIGTERM: walship waits for its last uploads; a second
# SIGTERM exits at once.
s3_faults '{"rate":1,"kinds":["hang"],"hang_s":300,"ops":["PutObject"]}'
"$TOOLS/wsload" "$db" -count 5 -log "$T/tx.csv" 2>/dev/null
sleep 1
pid=$(bg_pid walship)
kill -TERM "$pid"
wait_for 'log_has walship "signal received, walship shutting down signal=15 \(a second signal exits at once\)"' 5
sleep 1
bg_running walship || fail "walship exited before its last uploads were done: $(tail -n 3 "$T/walship.log")"
kill -TERM "$pid"
t0=$(_ws_now_ms)
st=0
wait_bg walship 10 || st=$?
[ "$st" -eq 1 ] || fail "walship exited $st on the second SIGTERM, want 1"
[ $(($(_ws_now_ms) - t0)) -lt 5000 ] ||
	fail "the second SIGTERM took over 5 s"
log_has walship "second signal, exiting at once signal=15" ||
	fail "no line about the second signal: $(tail -n 3 "$T/walship.log")"
s3_faults '{"clear":true}'

# 3. The next start ships what was left; the replica restores exactly.
start_bg walship2 "$WALSHIP" replicate -config "$T/walship.yml"
wait_for '[ "$(probe_seq "$WALSHIP" "'"$url"'")" -eq 30 ]' 30
stop_bg walship2 || fail "walship exited $?"
"$WALSHIP" restore -o "$T/r.db" "$url" >"$T/restore.log" 2>&1 ||
	fail "restore: $(tail -n 2 "$T/restore.log")"
assert_restored "$T/r.db" 30 "$T/tx.csv"
