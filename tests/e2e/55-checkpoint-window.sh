#!/bin/sh
# The copy -> checkpoint -> reset window.  walship
# checkpoints every 20 pages (and every 100 ms) with its window widened by a test hook
# (WALSHIP_TEST_WINDOW_MS), while a writer bursts ~500-frame transactions
# with its own autocheckpoint on and PASSIVE checkpoints of its own every
# 50 ms.  If any commit could slip between walship's last copy and the
# WAL reset, it would be lost from the replica or force a new generation.
# Required: at least 10 checkpoints of walship's under the writer (it
# writes until there are, however long the CPU walship gets makes that),
# one generation, and an exact restore.  On
# the replica backend WS_REPLICA picks (tests/lib.sh).
# shellcheck disable=SC2016 # wait_for conditions are evaluated later
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
url=$(replica_url replica)
"$TOOLS/wsload" "$db" -count 1 -log "$T/tx.csv" 2>/dev/null
db_config "$T/walship.yml" "$db" replica min-checkpoint-page-count=20 \
	checkpoint-interval=100ms -- sync-interval=100ms
WALSHIP_TEST_WINDOW_MS=15 start_bg walship "$WALSHIP" replicate -v \
	-config "$T/walship.yml"
wait_for "log_has walship 'snapshot written'" 10
# The writer runs until walship has checkpointed 10 times under it (how
# long that takes depends on the CPU walship gets), and at least 6 s.
start_writer burst "$db" "$T/tx.csv" -rate 0 -duration 120 -rows 80 \
	-size 3500 -checkpoint passive -checkpoint-every 50
sleep 6
wait_for '[ "$(grep -c "checkpoint db=.* mode=PASSIVE" "$T/walship.log")" -ge 10 ]' 110
stop_bg burst || fail "writer exited $?"
n=$(csv_last_seq "$T/tx.csv")
# SIGTERM ships everything committed; no need to poll the replica.
stop_bg walship || fail "walship exited $?"

c=$(grep -c 'checkpoint db=.* mode=PASSIVE' "$T/walship.log" || true)
[ "$c" -ge 10 ] || fail "only $c walship checkpoints"
log_has walship 'continuity lost' && fail "continuity lost during the run"
[ "$(grep -c 'sync: new generation' "$T/walship.log")" -eq 1 ] ||
	fail "more than one generation"
idx=$(replica_files "$url" generations/ | sed -n 's|^[^/]*/wal/||p' |
	cut -c1-8 | sort -u | wc -l)
[ "$idx" -ge 5 ] || fail "only $idx WAL indexes"
"$WALSHIP" restore -o "$T/restored.db" "$url"
assert_restored "$T/restored.db" "$n" "$T/tx.csv"
assert_equal "$db" "$T/restored.db"
echo "checkpoints=$c indexes=$idx transactions=$n"
