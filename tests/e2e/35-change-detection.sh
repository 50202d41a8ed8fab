#!/bin/sh
# Change detection (watch.c), each way alone: file events, the timer
# that follows a busy writer on SQLite's wal-index, and the poll
# fallback.  A database created after walship started is picked up by
# the poll, and an empty one once its application has written its
# header; with file events unavailable (the WALSHIP_TEST_NO_EVENTS
# hook) the poll alone ships every commit; with monitor-interval 0 the
# events and the timer alone do, for a writer slow enough (8 tx/s) that
# around every commit the watches go off, the timer runs and goes quiet
# (60 ms) and the watches come back.  Each time the replica must reach
# the writer's last commit while walship runs, with no later write to
# help.
# On the replica backend WS_REPLICA picks (tests/lib.sh).
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

# config NAME MONITOR_INTERVAL [SYNC_INTERVAL]: a config replicating
# $T/NAME.db.
config() {
	db_config "$T/$1.yml" "$T/$1.db" "$1" monitor-interval="$2" -- \
		sync-interval="${3:-200ms}"
}

# shipped NAME: the writer's last commit reaches the replica, walship
# still running; then a clean stop.
shipped() {
	wait_bg "w$1" 30 || fail "$1: writer exited $?"
	_n=$(csv_last_seq "$T/$1.csv")
	[ "$_n" -ge 20 ] || fail "$1: the writer committed only $_n"
	_u=$(replica_url "$1")
	wait_restores "$_u" "$_n" "$T/$1.csv" 10
	bg_running "$1" || fail "$1: walship exited"
	stop_bg "$1" || fail "$1: walship exited $? on SIGTERM"
}

# started_on_data NAME: five commits, then walship, up to its snapshot.
started_on_data() {
	start_writer "w$1" "$T/$1.db" "$T/$1.csv" -count 5 -rate 0
	wait_bg "w$1" 10 || fail "$1: first writer exited $?"
	start_bg "$1" "$WALSHIP" replicate -config "$T/$1.yml"
	wait_for 'log_has '"$1"' "snapshot written"' 10
}

# The database does not exist yet: only the poll can notice it.
config late 1s
start_bg late "$WALSHIP" replicate -config "$T/late.yml"
wait_for 'log_has late "initialized db"' 10
sleep 1.5
[ ! -e "$T/late.db" ] || fail "late.db exists too early"
start_writer wlate "$T/late.db" "$T/late.csv" -rate 50 -duration 2
shipped late

# An empty file is a database its application is still creating:
# walship leaves it alone (switching it to WAL at the moment the
# application does fails the application's open with SQLITE_BUSY) and
# starts once it has a header.
config empty 200ms
: >"$T/empty.db"
start_bg empty "$WALSHIP" replicate -config "$T/empty.yml"
wait_for 'log_has empty "initialized db"' 10
sleep 1
[ ! -s "$T/empty.db" ] && [ ! -e "$T/empty.db-wal" ] ||
	fail "walship changed the empty database: $(ls -l "$T"/empty.db*)"
gens=$(replica_gens "$(replica_url empty)") ||
	fail "empty: cannot list the replica"
[ -z "$gens" ] || fail "walship replicated the empty database"
start_writer wempty "$T/empty.db" "$T/empty.csv" -rate 50 -duration 2
shipped empty

# No file events: the poll alone.
config poll 200ms
WALSHIP_TEST_NO_EVENTS=1 start_bg poll "$WALSHIP" replicate \
	-config "$T/poll.yml"
start_writer wpoll "$T/poll.db" "$T/poll.csv" -rate 50 -duration 2
shipped poll

# No poll: events and the wal-index timer alone, in and out of "active".
config events 0s
started_on_data events
start_writer wevents "$T/events.db" "$T/events.csv" -rate 8 -duration 3
shipped events

# A sync-interval shorter than the copy spacing (250 ms) is honoured:
# copies follow it, so commits 25 ms apart ship about one segment each,
# not ten to a segment.
config short 1s 10ms
started_on_data short
start_writer wshort "$T/short.db" "$T/short.csv" -rate 40 -count 120
shipped short
objs=$(replica_ls "$(replica_url short)") || fail "short: cannot list the replica"
nseg=$(echo "$objs" | cut -d" " -f1 | grep -c '\.wal\.lz4$' || :)
[ "$nseg" -ge 60 ] ||
	fail "short: 120 commits 25 ms apart made $nseg segments at sync-interval 10ms"
echo "short: $nseg segments for 120 commits"
