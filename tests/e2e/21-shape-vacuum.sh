#!/bin/sh
# The database changing shape under replication, on the backend
# WS_REPLICA picks (tests/lib.sh); the application is wsload and the
# sqlite3 CLI, each a process of its own.
#   1. VACUUM while walship runs and a writer commits.
#   2. Half the rows deleted, then VACUUM: the database shrinks by about
#      half in one commit, and the restore must shrink with it.
#   3. While walship runs, journal_mode=DELETE, and the page size change
#      (journal_mode=DELETE, page_size, VACUUM, journal_mode=WAL) fail
#      in the application with "database is locked"; nothing changes.
#   4. While walship is stopped: journal_mode=DELETE and back to WAL,
#      with writes before (left in the -wal) and after: a new generation
#      with its reason.
#   5. While walship is stopped: the page size changed to 8192
#      (DELETE, page_size, VACUUM) and left in DELETE mode: walship
#      switches it back to WAL and says so, in a new generation.
#   6. The same to 1024, the application going back to WAL itself.
# After each, exactness: wscheck against the writer's log at its last
# commit, `.sha3sum` equal to the source's, and once walship has
# stopped and the source is checkpointed (TRUNCATE), the restored file
# byte for byte the source file (SHA-256).
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/lib-shape.sh"
need_replica
command -v sqlite3 >/dev/null || fail "sqlite3 CLI missing (make deps)"

db=$T/db
csv=$T/tx.csv
url=$(replica_url replica)

"$TOOLS/wsload" "$db" -rate 0 -count 300 -size 2048 -log "$csv" \
	2>>"$T/writer.log" || fail "wsload failed"
start_ws ws1

# ---- 1. VACUUM under a writer ----
start_writer w1 "$db" "$csv" -rate 50
wait_for '[ "$(csv_last_seq "$csv")" -ge 320 ]' 30
app VACUUM >"$T/vacuum1.out" 2>&1 || fail "VACUUM failed: $(cat "$T/vacuum1.out")"
wait_for '[ "$(csv_last_seq "$csv")" -ge 340 ]' 30
stop_bg w1 || fail "wsload exited $?"
wait_restores "$url" "$(csv_last_seq "$csv")" "$csv" 30
restore_check r1

# ---- 2. half the rows deleted, VACUUM: the file shrinks by half ----
before=$(sqlite3 "$db" 'PRAGMA page_count')
"$TOOLS/wsload" "$db" -rate 0 -count 1 -delete-every 2 -log "$csv" \
	2>>"$T/writer.log" || fail "wsload -delete-every failed"
app VACUUM >"$T/vacuum2.out" 2>&1 || fail "VACUUM failed: $(cat "$T/vacuum2.out")"
after=$(sqlite3 "$db" 'PRAGMA page_count')
if [ $((after * 10)) -gt $((before * 6)) ] || [ $((after * 10)) -lt $((before * 4)) ]; then
	fail "setup: VACUUM took $before pages to $after, not about half"
fi
"$TOOLS/wsload" "$db" -rate 0 -count 5 -log "$csv" 2>>"$T/writer.log"
wait_restores "$url" "$(csv_last_seq "$csv")" "$csv" 30
restore_check r2
[ "$(sqlite3 "$T/r2.db" 'PRAGMA page_count')" -le $((after + 5)) ] ||
	fail "the restore did not shrink: $(sqlite3 "$T/r2.db" 'PRAGMA page_count') pages, the source $after"
echo "VACUUM shrank $before pages to $after; restored exactly"

# ---- 3. mode and page size changes refused while walship runs ----
app 'PRAGMA journal_mode=DELETE' >"$T/mode3.out" 2>&1 &&
	fail "journal_mode=DELETE succeeded while walship runs: $(cat "$T/mode3.out")"
grep -q 'database is locked' "$T/mode3.out" ||
	fail "journal_mode=DELETE failed otherwise: $(cat "$T/mode3.out")"
app 'PRAGMA journal_mode=DELETE' 'PRAGMA page_size=8192' VACUUM \
	'PRAGMA journal_mode=WAL' >"$T/ps3.out" 2>&1 &&
	fail "the page size change succeeded while walship runs: $(cat "$T/ps3.out")"
[ "$(sqlite3 "$db" 'PRAGMA journal_mode')" = wal ] ||
	fail "the journal mode changed: $(sqlite3 "$db" 'PRAGMA journal_mode')"
[ "$(sqlite3 "$db" 'PRAGMA page_size')" = 4096 ] ||
	fail "the page size changed: $(sqlite3 "$db" 'PRAGMA page_size')"
"$TOOLS/wsload" "$db" -rate 0 -count 5 -log "$csv" 2>>"$T/writer.log"
wait_restores "$url" "$(csv_last_seq "$csv")" "$csv" 30
! log_has ws1 'new generation.*reason="(database|wal)' ||
	fail "a refused change started a generation: $(grep 'new generation' "$T/ws1.log")"
stop_bg ws1 || fail "walship exited $? on SIGTERM"
restore_check r3
byte_exact r3

# ---- 4. DELETE and back to WAL while stopped ----
"$TOOLS/wsload" "$db" -rate 0 -count 10 -autocheckpoint 0 \
	-checkpoint-on-close 0 -log "$csv" 2>>"$T/writer.log"
[ -s "$db-wal" ] || fail "setup: the writes left no -wal"
app 'PRAGMA journal_mode=DELETE' >"$T/mode4.out" 2>&1
[ "$(cat "$T/mode4.out")" = delete ] || fail "setup: journal_mode=DELETE: $(cat "$T/mode4.out")"
app 'PRAGMA journal_mode=WAL' >"$T/mode4.out" 2>&1
[ "$(cat "$T/mode4.out")" = wal ] || fail "setup: journal_mode=WAL: $(cat "$T/mode4.out")"
"$TOOLS/wsload" "$db" -rate 0 -count 5 -autocheckpoint 0 \
	-checkpoint-on-close 0 -log "$csv" 2>>"$T/writer.log"
start_ws ws4
log_has ws4 'sync: new generation .*reason="[^"]+"' ||
	fail "journal mode switched while walship was stopped: no new generation: $(grep -E 'generation|position' "$T/ws4.log" | head -3)"
"$TOOLS/wsload" "$db" -rate 0 -count 5 -log "$csv" 2>>"$T/writer.log"
settle_check ws4 r4

# ---- 5. page size 8192 while stopped, left in DELETE mode ----
app 'PRAGMA journal_mode=DELETE' 'PRAGMA page_size=8192' VACUUM >"$T/ps5.out" 2>&1 ||
	fail "setup: the page size change failed: $(cat "$T/ps5.out")"
[ "$(sqlite3 "$db" 'PRAGMA page_size')" = 8192 ] || fail "setup: the page size did not change"
start_ws ws5
log_has ws5 "INFO switched the database back to WAL mode db=$db journal_mode=delete" ||
	fail "no line saying the database was switched back to WAL: $(grep -v DEBUG "$T/ws5.log" | head -5)"
log_has ws5 'sync: new generation .*reason="page size changed from 4096 to 8192"' ||
	fail "page size changed while walship was stopped: no new generation naming it: $(grep -E 'generation|position' "$T/ws5.log" | head -3)"
# shellcheck disable=SC2034 # read by wait_for's condition
s5=$(csv_last_seq "$csv")
start_writer w5 "$db" "$csv" -rate 50
wait_for '[ "$(csv_last_seq "$csv")" -ge $((s5 + 20)) ]' 30
stop_bg w5 || fail "wsload exited $?"
settle_check ws5 r5

# ---- 6. page size 1024 while stopped, back to WAL by the application ----
app 'PRAGMA journal_mode=DELETE' 'PRAGMA page_size=1024' VACUUM \
	'PRAGMA journal_mode=WAL' >"$T/ps6.out" 2>&1 ||
	fail "setup: the page size change failed: $(cat "$T/ps6.out")"
[ "$(sqlite3 "$db" 'PRAGMA page_size')" = 1024 ] || fail "setup: the page size did not change"
start_ws ws6
log_has ws6 'sync: new generation .*reason="page size changed from 8192 to 1024"' ||
	fail "page size changed while walship was stopped: no new generation: $(grep -E 'generation|position' "$T/ws6.log" | head -3)"
"$TOOLS/wsload" "$db" -rate 0 -count 20 -log "$csv" 2>>"$T/writer.log"
settle_check ws6 r6
for w in ws4 ws5 ws6; do
	echo "$w: $(grep -o 'new generation .*' "$T/$w.log" | head -1)"
done
echo "6 restores exact (rows, .sha3sum, page size); 4 byte for byte after TRUNCATE"
