#!/bin/sh
# SIGTERM while a sync is in flight that started before the last commit:
# that sync is not the last one.  A widened checkpoint window
# (WALSHIP_TEST_WINDOW_MS=400: walship sleeps at each step, holding
# SQLite's write lock for the first three) makes the sync of commit A
# take 1.6 s; commit B waits for the write lock, commits in the last
# step, and the signal comes as soon as B has returned, while that sync
# is still running.  B must be in the replica when walship exits 0.  On
# the replica backend WS_REPLICA picks (tests/lib.sh).
set -eu
. "$(dirname "$0")/../lib.sh"
need_replica

db=$T/db
url=$(replica_url replica)
"$TOOLS/wsload" "$db" -count 5 -log "$T/tx.csv" 2>/dev/null
db_config "$T/walship.yml" "$db" replica min-checkpoint-page-count=1 \
	checkpoint-interval=100ms -- sync-interval=100ms
WALSHIP_TEST_WINDOW_MS=400 start_bg walship "$WALSHIP" replicate -v \
	-config "$T/walship.yml"
wait_for "log_has walship 'snapshot written'" 20
n0=$(grep -c 'checkpoint db=' "$T/walship.log" || true)
# A: its copy starts a checkpoint (one page is over the threshold).
"$TOOLS/wsload" "$db" -count 1 -log "$T/tx.csv" 2>/dev/null
sleep 0.3
# B: blocks on the write lock, commits once walship releases it.
"$TOOLS/wsload" "$db" -count 1 -busy-timeout 10000 -log "$T/tx.csv" \
	2>/dev/null
stop_bg walship || fail "walship exited $? after SIGTERM"
n=$(csv_last_seq "$T/tx.csv")
[ "$(grep -c 'checkpoint db=' "$T/walship.log" || true)" -gt "$n0" ] ||
	fail "no checkpoint ran: the test did not test anything"
"$WALSHIP" restore -o "$T/restored.db" "$url" 2>"$T/restore.log" ||
	fail "restore failed: $(cat "$T/restore.log")"
assert_restored "$T/restored.db" "$n" "$T/tx.csv"
