#!/bin/sh
# A byte of the -wal changed while walship was down, in frames it had
# already shipped.  SQLite's recovery drops every frame from the broken
# one on, so the database loses transactions the replica holds.
# walship must see
# the broken checksum chain at start-up and begin a new generation with
# a reason naming it, so that the latest restore equals the database.
# (It checked only the last shipped frame, continued the generation, and
# the restore held 190 rows the database no longer had.)  On the
# replica backend WS_REPLICA picks (tests/lib.sh).
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
url=$(replica_url replica)
# No checkpoints: every frame stays in the -wal.
db_config "$T/walship.yml" "$db" replica checkpoint-interval=0 \
	min-checkpoint-page-count=1000000 max-checkpoint-page-count=0
"$TOOLS/wsload" "$db" -rate 0 -count 20 -log "$T/tx.csv" \
	-autocheckpoint 0 2>"$T/wsload0.log" || fail "wsload failed"
start_bg ws1 "$WALSHIP" replicate -config "$T/walship.yml"
wait_for "log_has ws1 'snapshot written'" 20
# Its close leaves the -wal alone: no page of a later frame reaches the
# database file, so SQLite's view after the break is a committed prefix.
"$TOOLS/wsload" "$db" -rate 0 -count 150 -log "$T/tx.csv" \
	-autocheckpoint 0 -checkpoint-on-close 0 2>"$T/wsload1.log" ||
	fail "wsload failed"
n=$(csv_last_seq "$T/tx.csv")
wait_restores "$url" "$n" "$T/tx.csv" 30
# Killed: a clean stop would backfill the shipped frames into the
# database file, and a break in the -wal would then leave SQLite a mix
# of old and new pages, a corrupt database whatever walship does.
stop_bg ws1 KILL || :
gen1=$(replica_gens "$url")

# Flip a byte inside the page of frame 100 (4096-byte pages).
frame=100
off=$((32 + (frame - 1) * 4120 + 24 + 100))
size=$(stat -c %s "$db-wal")
[ "$size" -gt $((off + 4096)) ] || fail "the -wal holds fewer than $frame frames ($size bytes)"
b=$(od -An -tu1 -j "$off" -N1 "$db-wal" | tr -d ' ')
printf "\\$(printf '%03o' $(((b + 1) % 256)))" |
	dd of="$db-wal" bs=1 seek="$off" conv=notrunc 2>/dev/null

start_bg ws2 "$WALSHIP" replicate -config "$T/walship.yml"
wait_for "log_has ws2 'sync: new generation'" 20
log_has ws2 "sync: new generation .*reason=\"wal checksum chain broken at frame $frame, before the shipped position" ||
	fail "the new generation does not name the broken chain: $(grep -m1 'new generation\|replica position' "$T/ws2.log")"
# The application writes on from what SQLite kept, over the dropped
# frames (its own check of the rows against its log passes: a prefix).
"$TOOLS/wsload" "$db" -rate 0 -count 5 -log "$T/after.csv" \
	-autocheckpoint 0 2>"$T/wsload2.log" || fail "wsload failed"
wait_for "log_has ws2 'wal segment written'" 20
sqlite3 "$db" 'SELECT max(seq) FROM txlog' >"$T/seq" 2>&1 ||
	fail "sqlite3: $(cat "$T/seq")"
# The log of what the database holds: the kept prefix, then the new.
kept=$(awk -F, 'NR == 1 { print $1 - 1 }' "$T/after.csv")
awk -F, -v k="$kept" '$1 <= k' "$T/tx.csv" >"$T/now.csv"
cat "$T/after.csv" >>"$T/now.csv"
wait_restores "$url" "$(cat "$T/seq")" "$T/now.csv" 20
stop_bg ws2 || fail "walship exited $? on SIGTERM"
"$WALSHIP" restore -o "$T/r.db" "$url" 2>"$T/restore.log" ||
	fail "restore failed: $(cat "$T/restore.log")"
"$TOOLS/wscheck" -eq "$T/r.db" "$db" >"$T/eq.log" 2>&1 ||
	fail "the latest restore differs from the database: $(cat "$T/eq.log")"
gen2=$(replica_gens "$url" | grep -vx "$gen1")
echo "frame $frame broken: generation $gen1 -> $gen2, the database at seq $(cat "$T/seq") restored equal"
