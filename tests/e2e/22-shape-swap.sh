#!/bin/sh
# The database changing shape under replication, continued, on the
# backend WS_REPLICA picks (tests/lib.sh):
#   1. VACUUM INTO a new file, moved over the database while walship
#      runs (the application closed first): walship follows the new file
#      in a new generation, and empties the old file's -wal before
#      anything opens the new one.  (It kept that -wal alive, and SQLite
#      applies the -wal it finds at the path to the file it opens: the
#      application's next open saw the old pages over the new file, a
#      corrupt database, and walship shipped it.)
#   2. The same while a connection of the application's stays open on
#      the old file: walship cannot empty the -wal, says so as a stall
#      naming it, opens nothing, and carries on once the connection
#      closes.  2b: with the -shm removed by hand as well, nothing proves
#      the -wal unused: it is never emptied, and walship carries on once
#      it is gone.
#   3. VACUUM INTO and the move while walship is stopped: a new
#      generation with its reason.  3b: another database moved in while
#      the -wal walship's last connection left is still there: walship
#      opens nothing (SQLite would apply that -wal to the new file),
#      stalls saying what to do, and follows the new file in a new
#      generation once the -wal is removed.  3c: a copy of the same
#      database put back: the same stall, and the generation goes on
#      once the record of the file is removed, as it says.
#   4. 512-byte and 65536-byte pages from the start, under a writer.
#   5. auto_vacuum=INCREMENTAL, half the rows deleted, and PRAGMA
#      incremental_vacuum run by the application under a writer: the
#      file shrinks, and the restore with it.
# After each, exactness: wscheck against the writer's log at its last
# commit, `.sha3sum` and page size equal to the source's, and once
# walship has stopped and the source is checkpointed (TRUNCATE), the
# restored file byte for byte the source file (SHA-256).
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-shape.sh"
. "$ROOT/tests/lib-stall.sh"
need_replica
command -v sqlite3 >/dev/null || fail "sqlite3 CLI missing (make deps)"

# use NAME: the database, writer's log and replica of one case.
use() {
	mkdir -p "$T/$1"
	db=$T/$1/db
	csv=$T/$1/tx.csv
	url=$(replica_url "$1/replica")
}

# write NAME N: N commits at 100/s by writer NAME (its own process).
write() {
	_w0=$(csv_last_seq "$csv")
	start_writer "$1" "$db" "$csv" -rate 100
	wait_for "bg_running $1 || fail \"wsload $1 died: \$(tail -1 \"\$T/$1.log\")\"
		[ \"\$(csv_last_seq \"\$csv\")\" -ge $((_w0 + $2)) ]" 60
	stop_bg "$1" || fail "wsload $1 exited $?"
}

# ---- 1. VACUUM INTO, moved over the database while walship runs ----
use swap
"$TOOLS/wsload" "$db" -rate 0 -count 200 -log "$csv" 2>>"$T/writer.log"
start_ws ws1
write w1 30
wait_restores "$url" "$(csv_last_seq "$csv")" "$csv" 30
app "VACUUM INTO '$T/swap/new.db'" >"$T/vi.out" 2>&1 ||
	fail "VACUUM INTO failed: $(cat "$T/vi.out")"
[ -s "$db-wal" ] || fail "setup: no -wal (walship keeps it)"
mv "$T/swap/new.db" "$db"
# The application opens the new file once walship has followed it.
wait_for 'log_has ws1 "sync: new generation .*reason=\"database replaced\""' 30
log_has ws1 "WARN database replaced db=$db" ||
	fail "no WARN line saying the database was replaced"
write w1b 30
sqlite3 "$db" 'PRAGMA integrity_check' >"$T/ic1.out" 2>&1
[ "$(cat "$T/ic1.out")" = ok ] ||
	fail "the application's database is corrupt after the move: $(head -3 "$T/ic1.out")"
log_has ws1 "INFO database replaced db=$db: emptied $db-wal, the replaced database's" ||
	fail "no line saying the old file's -wal was emptied"
settle_check ws1 r1

# ---- 2. the same with a connection still open on the old file ----
start_ws ws2
start_holder holder "$db"
write w2a 20
[ -s "$db-wal" ] || fail "setup: no -wal"
app "VACUUM INTO '$T/swap/new2.db'" >"$T/vi.out" 2>&1 ||
	fail "VACUUM INTO failed: $(cat "$T/vi.out")"
mv "$T/swap/new2.db" "$db"
wait_for "log_has ws2 'ERROR stalled: sync error db=$db error=\"cannot empty $db-wal, the -wal of the database that was replaced: a connection still uses it'" 30
# Waiting costs no CPU and floods no log.
stall_quiet ws2 3 2
! log_has ws2 'reason="database replaced"' ||
	fail "walship opened the new file while the old -wal was in use"
stop_bg holder || :
wait_for 'log_has ws2 "sync: new generation .*reason=\"database replaced\""' 60
log_has ws2 "INFO no longer stalled after .*: sync error db=$db" ||
	fail "the stall's end was not said"
log_has ws2 "emptied $db-wal" || fail "no line saying the -wal was emptied"
write w2 20
settle_check ws2 r2

# ---- 2b. the same with the -shm removed by hand: nothing proves the
# -wal unused (the connection still maps the removed -shm), so it is not
# emptied until an operator removes it ----
start_ws ws2b
start_holder holder2 "$db"
write w2ba 20
[ -s "$db-wal" ] && [ -e "$db-shm" ] || fail "setup: no -wal or -shm"
app "VACUUM INTO '$T/swap/new2b.db'" >"$T/vi.out" 2>&1 ||
	fail "VACUUM INTO failed: $(cat "$T/vi.out")"
rm "$db-shm"
mv "$T/swap/new2b.db" "$db"
wait_for "log_has ws2b 'ERROR stalled: sync error db=$db error=\"cannot empty $db-wal, the -wal of the database that was replaced: there is no -shm to prove'" 30
! log_has ws2b "emptied $db-wal" ||
	fail "walship emptied a -wal with no -shm to prove it unused"
[ -s "$db-wal" ] || fail "the old -wal was emptied"
stop_bg holder2 || :
rm -f "$db-wal" # (the holder's close may have removed it by its name)
wait_for 'log_has ws2b "sync: new generation .*reason=\"database replaced\""' 60
write w2b 20
settle_check ws2b r2b

# ---- 3. VACUUM INTO and the move while walship is stopped ----
"$TOOLS/wsload" "$db" -rate 0 -count 5 -log "$csv" 2>>"$T/writer.log"
app "VACUUM INTO '$T/swap/new3.db'" >"$T/vi.out" 2>&1 ||
	fail "VACUUM INTO failed: $(cat "$T/vi.out")"
mv "$T/swap/new3.db" "$db"
start_ws ws3
wait_for 'log_has ws3 "sync: new generation .*reason=\"[^\"]+\""' 30
write w3 20
settle_check ws3 r3
echo "moved while stopped: $(grep -o 'reason=.*' "$T/ws3.log" | head -1)"

# ---- 3b. another database moved over it while walship is stopped, with
# the -wal walship's last connection left: SQLite would apply it to the
# new file, so walship opens nothing and says what to do ----
start_ws ws3b
write w3b 20
stop_bg ws3b || fail "walship exited $? on SIGTERM"
[ -s "$db-wal" ] || fail "setup: walship's stop left no -wal"
csv=$T/swap/tx3b.csv
"$TOOLS/wsload" "$T/swap/other.db" -rate 0 -count 40 -log "$csv" \
	2>>"$T/writer.log" || fail "wsload other.db failed"
[ ! -e "$T/swap/other.db-wal" ] || fail "setup: other.db kept a -wal"
sum=$(sha256sum <"$T/swap/other.db")
mv "$T/swap/other.db" "$db"
start_bg ws3c "$WALSHIP" replicate -v "$db" "$url"
wait_for "log_has ws3c 'ERROR stalled: sync error db=$db error=\"the database file is not the one walship last replicated, and its -wal is the WAL walship last shipped: SQLite would apply it to this file.  If another database was moved there, remove its -wal and -shm with every connection closed; if it is the same database \\(a copy put back with its -wal\\), remove $T/swap/.db-walship/database\"'" 30
stall_quiet ws3c 3 2
[ "$(sha256sum <"$db")" = "$sum" ] ||
	fail "the moved-in database was changed (the old -wal applied to it?)"
rm -f "$db-wal" "$db-shm"
wait_for 'log_has ws3c "sync: new generation .*reason=\"database replaced while walship was stopped\""' 60
app 'PRAGMA integrity_check' >"$T/ic3b.out" 2>&1
[ "$(cat "$T/ic3b.out")" = ok ] || fail "integrity_check: $(head -3 "$T/ic3b.out")"
write w3c 20
settle_check ws3c r3b

# ---- 3c. a copy of the same database put back beside that -wal: the
# same stall, and removing the record of the file (as it says) lets the
# generation go on, the -wal's frames kept ----
start_ws ws3d
write w3d 20
stop_bg ws3d || fail "walship exited $? on SIGTERM"
[ -s "$db-wal" ] || fail "setup: walship's stop left no -wal"
gen3=$(sed -n 1p "$T/swap/.db-walship/generation")
cp "$db" "$T/swap/copy.db"
mv "$T/swap/copy.db" "$db"
start_bg ws3e "$WALSHIP" replicate -v "$db" "$url"
wait_for "log_has ws3e 'is not the one walship last replicated'" 30
rm "$T/swap/.db-walship/database"
wait_for "log_has ws3e 'sync: continuing the generation db=$db generation=$gen3 '" 60
write w3e 20
settle_check ws3e r3c

# ---- 4. 512 and 65536-byte pages from the start ----
for ps in 512 65536; do
	use "p$ps"
	sqlite3 "$db" "PRAGMA page_size=$ps" 'PRAGMA journal_mode=WAL' \
		'CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v BLOB)' \
		'CREATE INDEX t_k ON t(k)' \
		'CREATE TABLE txlog(seq INTEGER PRIMARY KEY, t_ns INTEGER, digest TEXT)' \
		>/dev/null
	start_ws "ws$ps"
	write "w$ps" 150
	wait_restores "$url" "$(csv_last_seq "$csv")" "$csv" 30
	stop_bg "ws$ps" || fail "walship exited $? on SIGTERM"
	[ "$(sqlite3 "$db" 'PRAGMA page_size')" = "$ps" ] || fail "setup: page size not $ps"
	restore_check "r$ps"
	byte_exact "r$ps"
done

# ---- 5. auto_vacuum=INCREMENTAL and incremental_vacuum under a writer ----
use autovac
sqlite3 "$db" 'PRAGMA auto_vacuum=INCREMENTAL' 'PRAGMA journal_mode=WAL' \
	'CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v BLOB)' \
	'CREATE INDEX t_k ON t(k)' \
	'CREATE TABLE txlog(seq INTEGER PRIMARY KEY, t_ns INTEGER, digest TEXT)' \
	>/dev/null
"$TOOLS/wsload" "$db" -rate 0 -count 300 -size 2048 -log "$csv" 2>>"$T/writer.log"
start_ws ws5
"$TOOLS/wsload" "$db" -rate 0 -count 1 -delete-every 2 -log "$csv" 2>>"$T/writer.log"
free0=$(sqlite3 "$db" 'PRAGMA freelist_count')
[ "$free0" -gt 100 ] || fail "setup: only $free0 free pages after deleting half the rows"
pages0=$(sqlite3 "$db" 'PRAGMA page_count')
# shellcheck disable=SC2034 # s5 and i: read by wait_for's condition
s5=$(csv_last_seq "$csv")
start_writer w5 "$db" "$csv" -rate 50
# shellcheck disable=SC2034
for i in 1 2 3 4; do
	app "PRAGMA incremental_vacuum($((free0 / 4)))" >"$T/iv.out" 2>&1 ||
		fail "incremental_vacuum failed: $(cat "$T/iv.out")"
	wait_for '[ "$(csv_last_seq "$csv")" -ge $((s5 + i * 5)) ]' 30
done
stop_bg w5 || fail "wsload exited $?"
pages1=$(sqlite3 "$db" 'PRAGMA page_count')
[ "$pages1" -lt $((pages0 - free0 / 2)) ] ||
	fail "setup: incremental_vacuum did not shrink the database ($pages0 -> $pages1 pages, $free0 free)"
wait_restores "$url" "$(csv_last_seq "$csv")" "$csv" 30
stop_bg ws5 || fail "walship exited $? on SIGTERM"
restore_check r5
[ "$(sqlite3 "$T/r5.db" 'PRAGMA auto_vacuum')" = 2 ] || fail "the restore is not auto_vacuum=INCREMENTAL"
byte_exact r5
echo "incremental_vacuum: $pages0 -> $pages1 pages under a writer; restored exactly"
