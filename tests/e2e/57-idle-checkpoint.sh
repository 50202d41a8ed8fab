#!/bin/sh
# Checkpoints an idle database still gets.  Nothing is written, so no
# file event wakes walship; it must come back on its own, once, and then
# cost nothing.
#
# 1. A -wal file left large by an earlier index (SQLite reuses the file
#    from its start after a restart) while the current index holds a
#    few frames: once writes pause, walship seals the index and
#    truncates the file to 0 bytes.  Seen under load in
#    56-checkpoint-batched: the writer's last index was small, and the
#    -wal stayed at 58 MB for good.
# 2. checkpoint-interval: a few frames written, then nothing: walship
#    seals the index once the interval has passed, and the next write
#    starts the next WAL index.
# Both restore exactly.  Directory replica only: the backend plays no
# part here.
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
need_walship
need_tools

db=$T/db
csv=$T/tx.csv
url=$(replica_url replica)

# -- 1. a large -wal file, a small index ---------------------------------
"$TOOLS/wsload" "$db" -count 1 -log "$csv" 2>>"$T/writer.log"
# A connection that stays open keeps the -wal from being checkpointed
# and removed when each writer below closes.
start_holder holder "$db"
# About 50 MB of frames in one index, the application checkpoints them
# all (PASSIVE), and one more commit restarts the WAL at its start.
"$TOOLS/wsload" "$db" -count 12 -rows 1000 -size 4000 -autocheckpoint 0 \
	-log "$csv" 2>>"$T/writer.log"
sqlite3 "$db" 'PRAGMA wal_checkpoint(PASSIVE)' >"$T/ckpt.out"
"$TOOLS/wsload" "$db" -count 1 -autocheckpoint 0 -log "$csv" 2>>"$T/writer.log"
big=$(stat -c %s "$db-wal")
[ "$big" -gt 40000000 ] || fail "setup: the -wal is only $big bytes"
db_config "$T/walship.yml" "$db" replica
start_bg walship "$WALSHIP" replicate -v -config "$T/walship.yml"
wait_for 'log_has walship "snapshot written"' 20
wait_for '[ "$(stat -c %s "$db-wal")" -eq 0 ]' 20
# (The line is logged once the sync that truncated has ended.)
wait_for 'log_has walship "checkpoint db=.* mode=TRUNCATE"' 10
stop_bg holder || true
stop_bg walship || fail "walship exited $?"
"$WALSHIP" restore -o "$T/r1.db" "$url" >"$T/restore.log" 2>&1 ||
	fail "restore: $(tail -n 2 "$T/restore.log")"
assert_restored "$T/r1.db" 14 "$csv"

# -- 2. checkpoint-interval on an idle database ----------------------------
db=$T/db2
csv=$T/tx2.csv
url=$(replica_url replica2)
db_config "$T/walship2.yml" "$db" replica2 checkpoint-interval=2s
"$TOOLS/wsload" "$db" -count 1 -log "$csv" 2>>"$T/writer.log"
start_bg walship2 "$WALSHIP" replicate -v -config "$T/walship2.yml"
wait_for 'log_has walship2 "snapshot written"' 20
# Let the first sync's own checkpoint pass, then write a few commits
# (far fewer frames than min-checkpoint-page-count) and nothing more.
sleep 1
n0=$(grep -c 'checkpoint db=' "$T/walship2.log" || true)
"$TOOLS/wsload" "$db" -count 3 -log "$csv" 2>>"$T/writer.log"
wait_for '[ "$(grep -c "checkpoint db=" "$T/walship2.log")" -gt '"$n0"' ]' 15
# Sealed: nothing more is due, and nothing runs.
n1=$(grep -c 'checkpoint db=' "$T/walship2.log")
sleep 3
n2=$(grep -c 'checkpoint db=' "$T/walship2.log")
[ "$n2" -eq "$n1" ] ||
	fail "an idle, sealed database was checkpointed again ($n1, then $n2)"
gen=$(replica_gens "$url")
# The next write starts WAL index 1.
"$TOOLS/wsload" "$db" -count 1 -log "$csv" 2>>"$T/writer.log"
wait_for 'replica_files "$url" "generations/$gen/wal/" | grep -q "^00000001_"' 15
stop_bg walship2 || fail "walship exited $?"
"$WALSHIP" restore -o "$T/r.db" "$url" >"$T/restore.log" 2>&1 ||
	fail "restore: $(tail -n 2 "$T/restore.log")"
assert_restored "$T/r.db" "$(csv_last_seq "$csv")" "$csv"
