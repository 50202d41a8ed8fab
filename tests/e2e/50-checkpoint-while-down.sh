#!/bin/sh
# The application checkpoints while walship is down (Litestream #752):
# PASSIVE, FULL, RESTART and TRUNCATE between writes, and "close", where
# every connection closes and SQLite deletes the WAL.  walship must notice
# that it cannot prove continuity, start a new generation with a reason,
# and lose nothing: the restore equals the source.  On the replica
# backend WS_REPLICA picks (tests/lib.sh).
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica
command -v sqlite3 >/dev/null || fail "sqlite3 CLI missing (make deps)"

for mode in passive full restart truncate close; do
	d=$T/$mode
	mkdir "$d"
	db=$d/db
	url=$(replica_url "$mode/replica")
	csv=$d/tx.csv
	"$TOOLS/wsload" "$db" -count 50 -log "$csv" 2>/dev/null
	# A connection held open through the downtime keeps SQLite from
	# deleting the WAL when the writers close (except in "close").
	if [ "$mode" != close ]; then
		mkfifo "$d/fifo"
		start_bg "hold-$mode" sh -c "sqlite3 '$db' <'$d/fifo'"
		exec 3>"$d/fifo"
		# A busy timeout, as any application has: the read may meet
		# another connection's recovery of the wal-index.
		echo ".timeout 5000" >&3
		echo "SELECT count(*) FROM txlog;" >&3
	fi
	start_bg "a-$mode" "$WALSHIP" replicate "$db" "$url"
	"$TOOLS/wsload" "$db" -count 200 -rate 200 -autocheckpoint 0 \
		-log "$csv" 2>/dev/null
	n=$(csv_last_seq "$csv")
	wait_restores "$url" "$n" "$csv"
	stop_bg "a-$mode" || fail "$mode: walship exited $?"

	# Down: write, checkpoint, write again, several times.
	if [ "$mode" = close ]; then
		"$TOOLS/wsload" "$db" -count 300 -rate 300 -log "$csv" 2>/dev/null
		[ -e "$db-wal" ] && [ -s "$db-wal" ] &&
			fail "close: the WAL survived the last connection"
	else
		"$TOOLS/wsload" "$db" -count 300 -rate 300 -autocheckpoint 0 \
			-checkpoint "$mode" -checkpoint-every 150 -busy-timeout 200 \
			-log "$csv" 2>"$d/down.log"
	fi

	start_bg "b-$mode" "$WALSHIP" replicate "$db" "$url"
	wait_for "log_has b-$mode 'sync: new generation'" 10
	"$TOOLS/wsload" "$db" -count 100 -rate 200 -log "$csv" 2>/dev/null
	n=$(csv_last_seq "$csv")
	wait_restores "$url" "$n" "$csv"
	stop_bg "b-$mode" || fail "$mode: walship exited $?"
	if [ "$mode" != close ]; then
		exec 3>&-
		wait_bg "hold-$mode" 10 || fail "$mode: the held connection exited $?"
	fi

	log_has "b-$mode" 'sync: new generation .*reason="[^"]+"' ||
		fail "$mode: new generation without a reason"
	gens=$(replica_gens "$url")
	[ "$(echo "$gens" | grep -c .)" -eq 2 ] ||
		fail "$mode: expected 2 generations, have $(echo "$gens" | tr "\n" " ")"
	"$WALSHIP" restore -o "$d/restored.db" "$url" 2>"$d/restore.log" ||
		fail "$mode: restore failed: $(cat "$d/restore.log")"
	assert_restored "$d/restored.db" "$n" "$csv"
	assert_equal "$db" "$d/restored.db"
	echo "$mode: $(grep -o 'reason="[^"]*"' "$T/b-$mode.log" | head -1), $n transactions restored"
done
