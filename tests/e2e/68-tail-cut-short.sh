#!/bin/sh
# The replica's last segment cut short, in an index no longer kept here
# (S3 only; the soak's outage found it).  A store that does not check
# Content-MD5 keeps what reached it of an upload whose body was cut on
# the way; walship, which checks the answer's ETag, never counts it as
# shipped, but when it stops before a retry lands (here SIGKILL) the cut
# object stays the replica's last.  The next start checks that segment;
# its GET hangs while the application writes on and the WAL restarts
# far more than the 64 indexes walship keeps.  When the cut object
# comes, it cannot be shipped again (its index is gone here) and asking
# again gets the same object: walship must start a new generation and
# say why, not stall on it for ever (which it did), and a restore is
# exact.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
need_s3

db=$T/db
csv=$T/tx.csv
url=$(replica_url cut)
db_config "$T/cfg.yml" "$db" cut min-checkpoint-page-count=4 \
	checkpoint-interval=0
"$TOOLS/wsload" "$db" -count 5 -log "$csv" 2>>"$T/writer.log"
start_bg ws1 "$WALSHIP" replicate -config "$T/cfg.yml"
wait_for "log_has ws1 'snapshot written'" 30
timeout 60 "$WALSHIP" sync -config "$T/cfg.yml" -timeout 30s "$db" >"$T/sync1.log" 2>&1 ||
	fail "sync: $(cat "$T/sync1.log")"

# Every WAL segment's body cut in half on its way to the store; walship
# retries (the ETag is not that of what it sent), and is killed.
s3_faults '{"rate":1,"kinds":["truncate-request"],"ops":["PutObject"],"match":"/wal/"}'
"$TOOLS/wsload" "$db" -count 10 -rate 50 -log "$csv" 2>>"$T/writer.log"
wait_for 'grep -q "fault truncate-request on PutObject .*/wal/" "$T/s3/proxy.log"' 20
stop_bg ws1 KILL || :
s3_faults '{}'

# The next start's check of that segment: its GET hangs for 25 s while
# 4-frame indexes are sealed and restarted, far more than 64.
s3_faults '{"rate":1,"kinds":["hang"],"hang_s":25,"ops":["GetObject"],"count":1}'
start_bg ws2 "$WALSHIP" replicate -v -config "$T/cfg.yml"
"$TOOLS/wsload" "$db" -duration 15 -rate 100 -log "$csv" 2>>"$T/writer.log"
wait_for "log_has ws2 'sync: new generation'" 60
log_has ws2 "sync: new generation .*reason=\"replica s3's last segment is cut short, and its wal index [0-9a-f]* is no longer kept here to ship it again\"" ||
	fail "the new generation does not say why: $(grep -m1 -E 'new generation|position error' "$T/ws2.log")"
timeout 60 "$WALSHIP" sync -config "$T/cfg.yml" -timeout 30s "$db" >"$T/sync2.log" 2>&1 ||
	fail "sync: $(cat "$T/sync2.log")"
stop_bg ws2 || fail "walship exited $? on SIGTERM"
"$WALSHIP" restore -o "$T/r.db" "$url" >"$T/r.log" 2>&1 ||
	fail "restore: $(tail -2 "$T/r.log")"
assert_restored "$T/r.db" "$(csv_last_seq "$csv")" "$csv"
echo "cut-short last segment in a lost index: $(grep -m1 'new generation' "$T/ws2.log" | sed 's/.*reason=//')"
