#!/bin/sh
# The start-up check of the replica's last segment (S3 only): its GET
# hangs while the application writes on and the WAL restarts more than
# the 64 indexes walship keeps, so that when the answer comes the index
# the replica ends in is gone here.
#   1. The segment is whole.  Nothing can prove the replica's history
#      then: walship starts a new generation and says exactly that (not
#      "ahead of or different", which claims a fork it never saw).
#   2. The segment is cut short (the nightly soak's outage found it): a
#      store that does not check Content-MD5 keeps what reached it of an
#      upload whose body was cut on the way; walship, which checks the
#      answer's ETag, never counts it as shipped, but when it stops
#      before a retry lands (here SIGKILL) the cut object stays the
#      replica's last.  It cannot be shipped again (its index is gone
#      here) and asking again gets the same object: walship must start a
#      new generation and say why, not stall on it for ever (which it
#      did).
# After each, a restore is exact.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
need_s3

# check NAME CUT REASON: a database replicated to NAME; with CUT=1 its
# next segments are cut in half on the way and walship is killed, else
# it stops cleanly; then the hanging check, and the new generation must
# give REASON (a pattern).
check() {
	db=$T/$1.db
	csv=$T/$1.csv
	url=$(replica_url "$1")
	db_config "$T/$1.yml" "$db" "$1" min-checkpoint-page-count=4 \
		checkpoint-interval=0
	"$TOOLS/wsload" "$db" -count 5 -log "$csv" 2>>"$T/writer.log"
	start_bg "$1-1" "$WALSHIP" replicate -config "$T/$1.yml"
	wait_for "log_has $1-1 'snapshot written'" 30
	if [ "$2" = 1 ]; then
		timeout 60 "$WALSHIP" sync -config "$T/$1.yml" -timeout 30s "$db" \
			>"$T/$1-sync1.log" 2>&1 || fail "$1: sync: $(cat "$T/$1-sync1.log")"
		s3_faults '{"rate":1,"kinds":["truncate-request"],"ops":["PutObject"],"match":"/wal/"}'
		"$TOOLS/wsload" "$db" -count 10 -rate 50 -log "$csv" 2>>"$T/writer.log"
		wait_for 'grep -q "fault truncate-request on PutObject .*/wal/" "$T/s3/proxy.log"' 20
		stop_bg "$1-1" KILL || :
		s3_faults '{}'
	else
		"$TOOLS/wsload" "$db" -count 20 -rate 50 -log "$csv" 2>>"$T/writer.log"
		timeout 60 "$WALSHIP" sync -config "$T/$1.yml" -timeout 30s "$db" \
			>"$T/$1-sync1.log" 2>&1 || fail "$1: sync: $(cat "$T/$1-sync1.log")"
		stop_bg "$1-1" || fail "$1: walship exited $? on SIGTERM"
	fi
	# The first GET hangs for 25 s: the tail check's.  4-frame indexes,
	# each sealed and restarted: far more than 64 of them before it is
	# answered.
	s3_faults '{"rate":1,"kinds":["hang"],"hang_s":25,"ops":["GetObject"],"count":1}'
	start_bg "$1-2" "$WALSHIP" replicate -v -config "$T/$1.yml"
	"$TOOLS/wsload" "$db" -duration 15 -rate 100 -log "$csv" 2>>"$T/writer.log"
	wait_for "log_has $1-2 'sync: new generation'" 60
	log_has "$1-2" "sync: new generation .*reason=\"$3\"" ||
		fail "$1: the new generation does not say why: $(grep -m1 -E 'new generation|position error' "$T/$1-2.log")"
	timeout 60 "$WALSHIP" sync -config "$T/$1.yml" -timeout 30s "$db" >"$T/$1-sync2.log" 2>&1 ||
		fail "$1: sync: $(cat "$T/$1-sync2.log")"
	stop_bg "$1-2" || fail "$1: walship exited $? on SIGTERM"
	"$WALSHIP" restore -o "$T/$1-r.db" "$url" >"$T/$1-r.log" 2>&1 ||
		fail "$1: restore: $(tail -2 "$T/$1-r.log")"
	assert_restored "$T/$1-r.db" "$(csv_last_seq "$csv")" "$csv"
	echo "$1: $(grep -m1 'new generation' "$T/$1-2.log" | sed 's/.*reason=//')"
}

check whole 0 "replica s3 ends in wal index [0-9a-f]*, which is no longer kept here: its history cannot be checked"
check cut 1 "replica s3's last segment is cut short, and its wal index [0-9a-f]* is no longer kept here to ship it again"
