#!/bin/sh
# A disk that fills up, on a small tmpfs (needs root to mount it; a
# skip otherwise, which CI's WS_NO_SKIP turns into a failure):
#   replica  the replica directory's disk fills while the application
#            writes on: walship says so ("stalled: wal segment error",
#            or another request's, naming the replica and "No space
#            left on device"), uses no CPU, logs at most two lines in
#            3 s, the application commits every transaction, and once
#            the disk has room walship says the state ended and catches
#            up: an exact restore, no temporary file left in the
#            replica;
#   meta     the database and its meta directory (beside it) on one
#            disk, filled while walship has frames to copy (held with
#            SIGSTOP, so that they are only in the -wal): the shadow
#            write fails, named; the application's own commits on the
#            full disk may fail (its errors are its own); none it made
#            is lost: with room again, a SIGTERM before the next try
#            ships it all in the last sync, which says the stall ended
#            (on f8a08ee it did not), and the replica restores exactly
#            the last commit;
#   restore  `walship restore -o` into a disk too small: a plan whose
#            listed objects do not fit is refused before any download,
#            naming the directory; one whose objects fit but whose WAL
#            (carried over, decoded) or database does not fails on
#            ENOSPC naming the output; each exits 4 with one error
#            line and leaves nothing in the directory; with room,
#            the same restore is exact.
# The directory backend: a full local disk under a directory replica or
# a restore is the same code for every backend's restore (the output and
# its spool are local files); S3's side of a full replica is the store's
# refusal, which 92 covers.  CASES picks some (default "replica meta
# restore").
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-stall.sh"
need_walship
need_tools

# small NAME SIZE: a tmpfs of SIZE at $T/NAME, or skip the whole test.
small() {
	mount_small_meta "$T/$1" "$2" ||
		skip_test "a full disk needs a small tmpfs: mount -t tmpfs failed (root: $([ "$(id -u)" -eq 0 ] && echo yes || echo no))"
}

# fill DIR: a file that takes every free block of DIR's file system.
fill() {
	dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null || true
	[ "$(df --output=avail "$1" | tail -n 1 | tr -d ' ')" -eq 0 ] ||
		fail "$1 still has room after the filler: $(df "$1" | tail -n 1)"
	rel_count disk_full
}

case_replica() {
	small rdisk 2m
	db=$T/a.db
	url=file://$T/rdisk/replica
	"$TOOLS/wsload" "$db" -count 10 -rate 0 -log "$T/a.csv" 2>>"$T/wa.log"
	start_bg a "$WALSHIP" replicate "$db" "$url"
	wait_for 'log_has a "snapshot written"' 10
	fill "$T/rdisk"
	start_writer wa "$db" "$T/a.csv" -count 150 -rate 50
	# The first request to fail: a segment's, most likely (or a record's).
	stall_begins a "[a-z ]+ error db=$db replica=file error=\"$T/rdisk/replica/generations/[^\"]*: No space left on device\"" 10
	stall_quiet a 3 2
	wait_bg wa 30 || fail "the application exited $? while the replica's disk was full"
	[ "$(csv_last_seq "$T/a.csv")" -eq 160 ] ||
		fail "the application committed $(csv_last_seq "$T/a.csv") of 160"
	rm "$T/rdisk/filler"
	stall_ends a "[a-z ]+ error db=$db replica=file "
	restored_at a "$url" "$T/a.csv"
	left=$(find "$T/rdisk/replica" -name '*.tmp-*')
	[ -z "$left" ] || fail "temporary files left in the replica: $left"
}

case_meta() {
	small mdisk 8m
	db=$T/mdisk/b.db
	url=file://$T/b-replica
	"$TOOLS/wsload" "$db" -count 10 -rate 0 -log "$T/b.csv" 2>>"$T/wb.log"
	start_bg b "$WALSHIP" replicate "$db" "$url"
	wait_for 'log_has b "snapshot written"' 10
	# Commits walship has not copied yet: only in the -wal.
	kill -s STOP "$(bg_pid b)"
	"$TOOLS/wsload" "$db" -count 100 -rate 0 -log "$T/b.csv" 2>>"$T/wb.log" ||
		fail "the application failed before the disk was full"
	fill "$T/mdisk"
	kill -s CONT "$(bg_pid b)"
	stall_begins b "sync error db=$db error=\"$T/mdisk/\\.b\\.db-walship/[^\"]*: No space left on device\"" 10
	stall_quiet b 3 1
	# The application on the full disk: what it commits (maybe nothing)
	# is logged, and must reach the replica.
	"$TOOLS/wsload" "$db" -count 5 -rate 0 -log "$T/b.csv" 2>>"$T/wb.log" || true
	# Room again, and SIGTERM before the next try (the reminder comes
	# at a try, 15 s in, the next 16 s later): the last sync ships it
	# all and says the stall ended.
	wait_for "log_has b 'still stalled after [^ ]*: sync error db=$db '" 40
	rm "$T/mdisk/filler"
	stop_bg b || fail "walship exited $? on SIGTERM with room again"
	log_has b "no longer stalled after [^ ]*: sync error db=$db " ||
		fail "the stall ended at the last sync, unsaid: $(tail -n 3 "$T/b.log")"
	start_bg b "$WALSHIP" replicate "$db" "$url"
	restored_at b "$url" "$T/b.csv"
}

# refused NAME DIR URL ERE: restore URL to DIR/NAME fails (not a crash)
# with one error line that matches ERE, and leaves nothing in DIR.
refused() {
	_rf_st=0
	"$WALSHIP" restore -o "$2/$1" "$3" >"$T/$1.out" 2>&1 || _rf_st=$?
	[ "$_rf_st" -eq 4 ] ||
		fail "restore to a full $2: exit $_rf_st, want 4 (the database's side)"
	_rf_err=$(grep -v '^[0-9-]*T[0-9:.]*Z [A-Z]* ' "$T/$1.out" || true)
	[ "$(printf '%s\n' "$_rf_err" | grep -c .)" -eq 1 ] ||
		fail "restore to a full $2: want one error line, got: $(cat "$T/$1.out")"
	printf '%s\n' "$_rf_err" | grep -q -E -e "$4" ||
		fail "restore to a full $2: the error does not match $4: $_rf_err"
	_rf_left=$(ls -A "$2")
	[ -z "$_rf_left" ] || fail "restore to a full $2 left: $_rf_left"
	echo "refused: $_rf_err"
	rel_count disk_full
}

case_restore() {
	# A replica whose WAL (1.6 MB) compresses well (250 KB): its listed
	# sizes fit in 1 MiB, the WAL carried over does not.
	db=$T/c.db
	url=file://$T/c-replica
	"$TOOLS/wsload" "$db" -count 10 -rate 0 -log "$T/c.csv" 2>>"$T/wc.log"
	start_bg c "$WALSHIP" replicate "$db" "$url"
	wait_for 'log_has c "snapshot written"' 10
	"$TOOLS/wsload" "$db" -count 100 -rate 0 -log "$T/c.csv" 2>>"$T/wc.log"
	restored_at c "$url" "$T/c.csv"
	small tdisk1 64k
	refused x.db "$T/tdisk1" "$url" "cannot restore from replica .*: the plan needs at least [0-9]+ bytes in $T/tdisk1 .* and it has [0-9]+ free"
	small tdisk2 1m
	refused x.db "$T/tdisk2" "$url" "$T/tdisk2/x\\.db.*: No space left on device"
	# A database of 2 MB of zeros: a snapshot of a few KB that decodes
	# past the room.
	python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA journal_mode=WAL")
c.execute("CREATE TABLE z(b)")
c.executemany("INSERT INTO z VALUES (zeroblob(10000))", [()] * 200)
c.commit()
' "$T/z.db"
	"$WALSHIP" replicate -once "$T/z.db" "file://$T/z-replica" >"$T/z.log" 2>&1 ||
		fail "replicate -once of z.db failed: $(tail -n 2 "$T/z.log")"
	small tdisk3 512k
	refused z.db "$T/tdisk3" "file://$T/z-replica" "$T/tdisk3/z\\.db.*: No space left on device"
	# With room: exact.
	small troom 8m
	"$WALSHIP" restore -o "$T/troom/x.db" "$url" >"$T/troom.log" 2>&1 ||
		fail "restore with room failed: $(tail -n 2 "$T/troom.log")"
	assert_restored "$T/troom/x.db" "$(csv_last_seq "$T/c.csv")" "$T/c.csv"
}

for c in ${CASES:-replica meta restore}; do
	echo "case $c"
	"case_$c"
done
