#!/bin/sh
# The start-up check of the replica's last segment (S3 only): its GET
# hangs while the application writes on and the WAL restarts more than
# the 64 indexes walship keeps, so that when the answer comes the index
# the replica ends in is gone here.  Nothing can prove the replica's
# history then: walship starts a new generation and says exactly that
# (not "ahead of or different", which claims a fork it never saw), and
# a restore is exact.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
need_s3

db=$T/db
csv=$T/tx.csv
url=$(replica_url tail)
db_config "$T/cfg.yml" "$db" tail min-checkpoint-page-count=4 \
	checkpoint-interval=0
"$TOOLS/wsload" "$db" -count 5 -log "$csv" 2>>"$T/writer.log"
start_bg ws1 "$WALSHIP" replicate -config "$T/cfg.yml"
wait_for "log_has ws1 'snapshot written'" 30
"$TOOLS/wsload" "$db" -count 20 -rate 50 -log "$csv" 2>>"$T/writer.log"
timeout 60 "$WALSHIP" sync -config "$T/cfg.yml" -timeout 30s "$db" >"$T/sync1.log" 2>&1 ||
	fail "sync: $(cat "$T/sync1.log")"
stop_bg ws1 || fail "walship exited $? on SIGTERM"

# Every GET hangs for 25 s: the tail check's first.
s3_faults '{"rate":1,"kinds":["hang"],"hang_s":25,"ops":["GetObject"],"count":1}'
start_bg ws2 "$WALSHIP" replicate -v -config "$T/cfg.yml"
wait_for "log_has ws2 'continuing the generation'" 30
# 4-frame indexes, each sealed and restarted: far more than 64 of them
# before the GET is answered.
"$TOOLS/wsload" "$db" -duration 15 -rate 100 -log "$csv" 2>>"$T/writer.log"
n=$(grep -c 'wal segment\|new index\|checkpoint db=' "$T/ws2.log" || true)
wait_for "log_has ws2 'sync: new generation'" 60
log_has ws2 "sync: new generation .*reason=\"replica s3 ends in wal index [0-9a-f]*, which is no longer kept here: its history cannot be checked\"" ||
	fail "the new generation does not say why: $(grep -m1 'new generation' "$T/ws2.log") ($n lines of progress)"
timeout 60 "$WALSHIP" sync -config "$T/cfg.yml" -timeout 30s "$db" >"$T/sync2.log" 2>&1 ||
	fail "sync: $(cat "$T/sync2.log")"
stop_bg ws2 || fail "walship exited $? on SIGTERM"
"$WALSHIP" restore -o "$T/r.db" "$url" >"$T/r.log" 2>&1 ||
	fail "restore: $(tail -2 "$T/r.log")"
assert_restored "$T/r.db" "$(csv_last_seq "$csv")" "$csv"
